//! The handler API: return types, decoded bodies, the undecodable handler, app-wide layers,
//! panic isolation and the trace context a handler sees.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{post, send};
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{
    BodyDecodeError, Error, Functions, Invocation, InvocationResult, ServiceBusMessage,
    TraceContext, service_fn,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
}

fn encoded(body: &str, function: &str) -> String {
    request_body(&HostMessage::new(body), &HostInvocation::new(function, "m"))
}

async fn unit(_: Invocation<ServiceBusMessage<Order>>) -> Result<(), Error> {
    Ok(())
}

#[tokio::test]
async fn an_undecodable_body_is_answered_422_by_default() {
    let router = Functions::new()
        .service_bus("unit", service_fn(unit))
        .into_router();
    let answer = send(
        router,
        post("unit", encoded(r#"{"di":"x"}"#, "unit"), Some("i-1")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["error"], "undecodable_body");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("missing field `id`")
    );
}

#[tokio::test]
async fn handlers_may_return_unit_or_a_result_and_get_the_body_decoded() {
    let router = Functions::new()
        .service_bus("unit", service_fn(unit))
        .service_bus(
            "logged",
            service_fn(|inv: Invocation<ServiceBusMessage<Order>>| async move {
                Ok::<_, std::io::Error>(InvocationResult::default().log(inv.event.body.id))
            }),
        )
        .into_router();
    let a = send(
        router.clone(),
        post("unit", encoded(r#"{"id":"o-1"}"#, "unit"), None),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        json!({"Outputs": {}, "Logs": [], "ReturnValue": null})
    );
    let b = send(
        router,
        post("logged", encoded(r#"{"id":"o-2"}"#, "logged"), None),
    )
    .await;
    assert_eq!(b.body["Logs"], json!(["o-2"]));
}

#[tokio::test]
async fn an_undecodable_body_goes_to_the_undecodable_handler_when_there_is_one() {
    let router = Functions::new()
        .service_bus("unit", service_fn(unit))
        .undecodable(service_fn(
            |inv: Invocation<ServiceBusMessage<BodyDecodeError>>| async move {
                Ok::<_, Error>(InvocationResult::default().log(format!(
                    "{}: {} ({})",
                    inv.context.function_name, inv.event.raw_body, inv.event.body
                )))
            },
        ))
        .into_router();
    let answer = send(router, post("unit", encoded("not json", "unit"), None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let log = answer.body["Logs"][0].as_str().unwrap();
    assert!(log.starts_with("unit: not json (expected"), "{log}");
}

#[tokio::test]
async fn a_layer_wraps_every_function_and_its_errors_are_answered() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let router = Functions::new()
        .service_bus("fast", service_fn(unit))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            200,
        )))
        .layer(tower::layer::layer_fn(
            move |inner: functions_runtime::FunctionService| {
                let counted = Arc::clone(&counted);
                tower::service_fn(move |request| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tower::ServiceExt::oneshot(inner.clone(), request)
                })
            },
        ))
        .service_bus(
            "slow",
            service_fn(|_: Invocation<ServiceBusMessage<Order>>| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, Error>(())
            }),
        )
        .into_router();
    let fast = send(
        router.clone(),
        post("fast", encoded(r#"{"id":"1"}"#, "fast"), None),
    )
    .await;
    assert_eq!(fast.status, StatusCode::OK);
    let slow = send(
        router.clone(),
        post("Slow", encoded(r#"{"id":"1"}"#, "slow"), None),
    )
    .await;
    assert_eq!(slow.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(slow.body["error"], "layer_error");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "both functions, any name case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_only_its_own_invocation() {
    let release = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let (r, s) = (Arc::clone(&release), Arc::clone(&started));
    let router = Functions::new()
        .service_bus(
            "f",
            service_fn(move |inv: Invocation<ServiceBusMessage<String>>| {
                let (release, started) = (Arc::clone(&r), Arc::clone(&s));
                async move {
                    match inv.event.body.as_str() {
                        "panic" => panic!("year 9999 is out of range"),
                        _ => {
                            started.notify_one();
                            release.notified().await;
                            Ok::<_, Error>(InvocationResult::default().log("finished"))
                        }
                    }
                }
            }),
        )
        .into_router();
    let in_flight = tokio::spawn(send(router.clone(), post("f", encoded("wait", "f"), None)));
    started.notified().await;
    let panicked = send(
        router.clone(),
        post("f", encoded("panic", "f"), Some("p-1")),
    )
    .await;
    assert_eq!(panicked.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(panicked.body["error"], "handler_panic");
    assert_eq!(panicked.body["message"], "year 9999 is out of range");
    assert_eq!(panicked.body["invocationId"], "p-1");
    release.notify_one();
    let other = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the other invocation goes on")
        .unwrap();
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["Logs"][0], "finished");
}

#[tokio::test]
async fn the_handler_sees_its_trace_context_continuing_the_message_and_host() {
    let sender = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let host = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    let router = Functions::new()
        .service_bus(
            "f",
            service_fn(|inv: Invocation<ServiceBusMessage<String>>| async move {
                let current = TraceContext::current().expect("set while the handler runs");
                assert_eq!(current, inv.context.trace);
                Ok::<_, Error>(
                    InvocationResult::default()
                        .log(current.traceparent())
                        .log(current.parent_span_id().unwrap_or_default()),
                )
            }),
        )
        .into_router();
    let mut message = HostMessage::new("x");
    message
        .application_properties
        .insert("Diagnostic-Id".into(), json!(sender));
    let mut request = post(
        "f",
        request_body(&message, &HostInvocation::new("f", "m")),
        None,
    );
    request
        .headers_mut()
        .insert("traceparent", host.parse().unwrap());
    let answer = send(router, request).await;
    let traceparent = answer.body["Logs"][0].as_str().unwrap();
    assert!(traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    assert!(traceparent.ends_with("-01"));
    assert_eq!(
        answer.body["Logs"][1], "00f067aa0ba902b7",
        "child of the host's span"
    );
    assert_eq!(TraceContext::current(), None, "not outside the invocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_layer_runs_invocations_one_at_a_time() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most));
    let router = Functions::new()
        .service_bus(
            "f",
            service_fn(move |_: Invocation<ServiceBusMessage<String>>| {
                let (running, most) = (Arc::clone(&r), Arc::clone(&m));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                }
            }),
        )
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .into_router();
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(send(router.clone(), post("f", encoded("x", "f"), None))))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(most.load(Ordering::SeqCst), 1);
}
