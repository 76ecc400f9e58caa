//! With the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, invocation spans are exported
//! over OTLP/HTTP in the message's trace, with the span id the handler's `TraceContext` (and so
//! every outgoing `Diagnostic-Id`) carries. Run with `cargo test -p functions-runtime --features otel`.
#![cfg(feature = "otel")]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use common::{post, send};
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{
    Error, Functions, Invocation, InvocationResult, ServiceBusMessage, TraceContext, service_fn,
};
use serde_json::json;

const SENDER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_spans_are_exported_in_the_messages_trace() {
    let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let sink = Arc::clone(&received);
    let collector = axum::Router::new().fallback(move |uri: axum::http::Uri, body: Bytes| {
        let sink = Arc::clone(&sink);
        async move {
            sink.lock().unwrap().push((uri.path().to_owned(), body));
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });
    // SAFETY: this test binary has one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    }
    functions_runtime::init_tracing();

    let router = Functions::new()
        .service_bus(
            "f",
            service_fn(|_: Invocation<ServiceBusMessage<String>>| async {
                let trace = TraceContext::current().unwrap();
                Ok::<_, Error>(InvocationResult::default().log(trace.traceparent()))
            }),
        )
        .into_router();
    let mut message = HostMessage::new("x");
    message
        .application_properties
        .insert("Diagnostic-Id".into(), json!(SENDER));
    let answer = send(
        router,
        post(
            "f",
            request_body(&message, &HostInvocation::new("f", "m")),
            None,
        ),
    )
    .await;
    let handler_trace = TraceContext::parse(answer.body["Logs"][0].as_str().unwrap()).unwrap();
    assert_eq!(handler_trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");

    tokio::task::spawn_blocking(functions_runtime::telemetry::shutdown)
        .await
        .unwrap();
    let received = received.lock().unwrap();
    let (path, body) = received.first().expect("the exporter posted spans");
    assert_eq!(path, "/v1/traces");
    assert!(
        contains(body, &hex_bytes("4bf92f3577b34da6a3ce929d0e0e4736")),
        "trace id"
    );
    assert!(
        contains(body, &hex_bytes(&handler_trace.span_id())),
        "the handler's span id"
    );
    assert!(
        contains(body, &hex_bytes("00f067aa0ba902b7")),
        "the sender's span as parent"
    );
}
