#![doc = include_str!("../README.md")]

pub mod decode;
mod envelope;
mod functions;
pub mod host_wire;
mod invocation;
mod invoke;
mod message;
mod metadata;
#[cfg(feature = "otel")]
mod otel;
mod promotion;
mod raw;
mod response;
mod server;
pub mod telemetry;
mod trace;
mod trigger;

pub use functions::{
    DEFAULT_BODY_LIMIT, FunctionService, Functions, SpanFields, SpanFn, default_invocation_span,
};
pub use invocation::{Context, IntoInvocationResult, Invocation, InvocationResult};
pub use message::{BodyDecodeError, Direct, Fallible, MessageBody, ServiceBusMessage};
pub use response::ErrorBody;
pub use server::{PORT_ENV, RunError, port_from_env, run, serve};
pub use telemetry::init_tracing;
pub use tower::service_fn;
pub use trace::{DIAGNOSTIC_ID, TRACEPARENT, TraceContext};
pub use trigger::{DataType, TriggerOptions};

/// The error type handlers return; anything `Into<Error>` works.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
