//! One invocation: decode the request, call the handler inside a span, answer the host.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::response::Response;
use bytes::Bytes;
use futures::FutureExt as _;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;

use crate::Error;
use crate::decode::{INVOCATION_ID_HEADER, service_bus_invocation};
use crate::invocation::{Invocation, InvocationResult};
use crate::message::ServiceBusMessage;
use crate::response::{ErrorBody, result_response};
use crate::trigger::TriggerOptions;

/// Runs one Service Bus invocation end to end and always produces an answer for the host.
pub(crate) async fn service_bus<T, S>(
    service: S,
    options: &TriggerOptions,
    function_name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response
where
    T: DeserializeOwned + Send + 'static,
    S: Service<Invocation<ServiceBusMessage<T>>, Response = InvocationResult> + Send + 'static,
    S::Error: Into<Error>,
    S::Future: Send,
{
    let started = Instant::now();
    let header_id = headers
        .get(INVOCATION_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let invocation = match service_bus_invocation::<T>(function_name, header_id, &body, options) {
        Ok(invocation) => invocation,
        Err(e) => {
            tracing::error!(
                function = function_name,
                invocation_id = header_id,
                error = %e,
                "malformed invocation request; answering 400 so the host fails the invocation"
            );
            let mut answer = ErrorBody::new("bad_request", e.to_string()).function(function_name);
            if let Some(id) = header_id {
                answer = answer.invocation(id);
            }
            return answer.into_response(StatusCode::BAD_REQUEST);
        }
    };

    let invocation_id = invocation.context.invocation_id.clone();
    let span = tracing::info_span!(
        "invocation",
        function = function_name,
        invocation_id = %invocation_id,
        message_id = invocation.event.message_id.as_deref(),
        delivery_count = invocation.event.delivery_count,
    );
    async move {
        if let Err(e) = &invocation.event.body {
            tracing::warn!(error = %e, "message body does not decode into the handler's type; passing it on as is");
        }
        let outcome = AssertUnwindSafe(service.oneshot(invocation))
            .catch_unwind()
            .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(Ok(result)) => {
                tracing::debug!(elapsed_ms, "invocation succeeded");
                result_response(&result)
            }
            Ok(Err(e)) => {
                let e: Error = e.into();
                let message = error_chain(e.as_ref());
                tracing::error!(elapsed_ms, error = %message, "invocation failed; answering 500 so the host abandons the message");
                ErrorBody::new("handler_error", message)
                    .function(function_name)
                    .invocation(&invocation_id)
                    .into_response(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(elapsed_ms, panic = %message, "handler panicked; answering 500 so the host abandons the message");
                ErrorBody::new("handler_panic", message)
                    .function(function_name)
                    .invocation(&invocation_id)
                    .into_response(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
    .instrument(span)
    .await
}

/// `error: source: source…` on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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
