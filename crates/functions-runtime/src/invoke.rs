//! One invocation: read and decode the request, call the handler inside a span, answer the host.

use std::any::Any;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http::{StatusCode, header};
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;

use crate::Error;
use crate::decode::{INVOCATION_ID_HEADER, invocation};
use crate::functions::{Handler, Shared};
use crate::invocation::{Invocation, InvocationResult};
use crate::message::{BodyDecodeError, MessageBody, ServiceBusMessage};
use crate::response::{ErrorBody, result_response};
use crate::trace::{TRACEPARENT, TraceContext};
use crate::trigger::TriggerOptions;

/// A `serviceBusTrigger` function as a service over the host's HTTP request.
pub(crate) struct ServiceBusFunction<B, M> {
    pub(crate) marker: PhantomData<fn() -> M>,
    pub(crate) function: Arc<str>,
    pub(crate) options: Arc<TriggerOptions>,
    pub(crate) handler: Handler<B>,
    pub(crate) shared: Shared,
}

impl<B, M> Clone for ServiceBusFunction<B, M> {
    fn clone(&self) -> Self {
        Self {
            marker: PhantomData,
            function: Arc::clone(&self.function),
            options: Arc::clone(&self.options),
            handler: self.handler.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<B: MessageBody<M>, M: 'static> Service<Request> for ServiceBusFunction<B, M> {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        // Each call runs a clone of the handler (`oneshot`), which waits for its own readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.invoke(request).await) })
    }
}

impl<B: MessageBody<M>, M: 'static> ServiceBusFunction<B, M> {
    /// Runs one invocation end to end and always produces an answer for the host.
    async fn invoke(self, request: Request) -> Response {
        let started = Instant::now();
        let name = &*self.function;
        let (parts, body) = request.into_parts();
        let limit = self.shared.body_limit;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let body = match declared {
            Some(length) if length > limit => return too_large(name, limit),
            _ => match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(function = %name, error = %e, "could not read the invocation request body");
                    return too_large(name, limit);
                }
            },
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let header_id = header(INVOCATION_ID_HEADER);
        let mut invocation = match invocation::<B, M>(name, header_id, &body, &self.options) {
            Ok(invocation) => invocation,
            Err(e) => {
                tracing::error!(
                    function = name,
                    invocation_id = header_id,
                    error = %e,
                    "malformed invocation request; answering 400 so the host fails the invocation"
                );
                let mut answer = ErrorBody::new("bad_request", e.to_string()).function(name);
                if let Some(id) = header_id {
                    answer = answer.invocation(id);
                }
                return answer.into_response(StatusCode::BAD_REQUEST);
            }
        };
        let trace =
            TraceContext::for_invocation(invocation.event.diagnostic_id(), header(TRACEPARENT));
        let invocation_id = invocation.context.invocation_id.clone();
        // Every line of the invocation carries the span's fields.
        let trace_id = trace.trace_id().to_string();
        let span = (self.shared.span)(&crate::functions::SpanFields {
            function: name,
            invocation_id: &invocation_id,
            message_id: invocation.event.message_id.as_deref(),
            delivery_count: invocation.event.delivery_count,
            trace_id: &trace_id,
        });
        #[cfg(feature = "otel")]
        let trace = crate::otel::continue_trace(&span, trace);
        span.record("span_id", trace.span_id());
        invocation.context.trace = trace;
        let answer = async {
            let outcome = match split(invocation) {
                Split::Decoded(invocation) => run(self.handler, invocation).await,
                Split::Undecodable(undecodable) => match self.shared.undecodable {
                    Some(handler) => {
                        tracing::warn!(error = %undecodable.event.body, "message body does not decode into the function's type; passing it to the undecodable handler");
                        run(handler, undecodable).await
                    }
                    None => {
                        tracing::error!(error = %undecodable.event.body, "message body does not decode into the function's type; answering 422 so the host abandons the message (Service Bus dead-letters it after the max delivery count)");
                        return ErrorBody::new("undecodable_body", undecodable.event.body.message)
                            .function(name)
                            .invocation(&invocation_id)
                            .into_response(StatusCode::UNPROCESSABLE_ENTITY);
                    }
                },
            };
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            match outcome {
                Ok(Ok(result)) => {
                    tracing::debug!(elapsed_ms, "invocation succeeded");
                    result_response(&result)
                }
                Ok(Err(e)) => {
                    let message = error_chain(e.as_ref());
                    tracing::error!(elapsed_ms, error = %message, "invocation failed; answering 500 so the host abandons the message");
                    ErrorBody::new("handler_error", message)
                        .function(name)
                        .invocation(&invocation_id)
                        .into_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
                Err(panic) => {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(elapsed_ms, panic = %message, "handler panicked; answering 500 so the host abandons the message");
                    ErrorBody::new("handler_panic", message)
                        .function(name)
                        .invocation(&invocation_id)
                        .into_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        };
        trace.scope(answer.instrument(span)).await
    }
}

/// Calls `handler`, catching a panic so that only this invocation fails.
async fn run<B>(
    handler: Handler<B>,
    invocation: Invocation<ServiceBusMessage<B>>,
) -> Result<Result<InvocationResult, Error>, Box<dyn Any + Send>> {
    AssertUnwindSafe(handler.oneshot(invocation))
        .catch_unwind()
        .await
}

/// An invocation whose body decoded, or one whose body did not.
enum Split<B> {
    Decoded(Invocation<ServiceBusMessage<B>>),
    Undecodable(Invocation<ServiceBusMessage<BodyDecodeError>>),
}

/// The invocation with its decoded body, or with the reason it did not decode.
fn split<B>(invocation: Invocation<ServiceBusMessage<Result<B, BodyDecodeError>>>) -> Split<B> {
    let Invocation { event, context } = invocation;
    let (event, body) = event.replace_body(());
    match body {
        Ok(body) => Split::Decoded(Invocation {
            event: event.replace_body(body).0,
            context,
        }),
        Err(error) => Split::Undecodable(Invocation {
            event: event.replace_body(error).0,
            context,
        }),
    }
}

fn too_large(name: &str, limit: usize) -> Response {
    ErrorBody::new(
        "bad_request",
        format!("invocation request body unreadable or larger than {limit} bytes"),
    )
    .function(name)
    .into_response(StatusCode::PAYLOAD_TOO_LARGE)
}

/// `error: source: source…` on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "handler panicked".to_owned()
    }
}
