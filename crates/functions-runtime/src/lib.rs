//! Azure Functions *custom handler* runtime, in the style of `lambda_runtime`.
//!
//! The Functions host starts the handler process with `FUNCTIONS_CUSTOMHANDLER_PORT`, probes
//! `GET /` until it answers, then POSTs one JSON envelope per invocation to `/<FunctionName>`.
//! This crate speaks that protocol as the host really sends it (see
//! `reference/functions/NOTES.md`): double-encoded `Data`, quoted `Metadata` strings, numbers as
//! strings, message-body keys promoted into `Metadata`.
//!
//! ```no_run
//! use functions_runtime::{Error, Functions, Invocation, InvocationResult, ServiceBusMessage, service_fn};
//!
//! async fn handle(inv: Invocation<ServiceBusMessage<serde_json::Value>>) -> Result<InvocationResult, Error> {
//!     tracing::info!(body = %inv.event.raw_body, "received");
//!     Ok(InvocationResult::default())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     functions_runtime::run(Functions::new().service_bus("deployment-requested", service_fn(handle))).await
//! }
//! ```
//!
//! Handlers are Tower [`Service`](tower::Service)s, so layers (timeouts, tracing, concurrency
//! limits) compose with `tower::ServiceBuilder`. A handler error becomes a `500` answer, which makes
//! the host fail the invocation and abandon the message, so Service Bus redelivers it.
//!
//! Panics: in debug builds a panicking handler is caught and answered with `500`; the workspace
//! release profile uses `panic = "abort"`, where a panic ends the process. Handlers must return
//! errors, never panic.

pub mod decode;
mod envelope;
mod functions;
pub mod host_wire;
mod invocation;
mod invoke;
mod message;
mod metadata;
mod promotion;
mod raw;
mod response;
mod server;
pub mod telemetry;
mod trace;
mod trigger;

pub use functions::{DEFAULT_BODY_LIMIT, FunctionService, Functions};
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
