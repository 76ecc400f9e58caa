//! Log lines: every line inside an invocation keeps the invocation's fields and trace ids,
//! however deep the handler nests spans; `RUST_LOG` span filters work.

mod common;

use common::{capture_logs, post, send};
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{Error, Functions, Invocation, ServiceBusMessage, service_fn};
use http::StatusCode;
use serde_json::{Value, json};
use tracing::Instrument as _;

const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn message(body: &str, id: &str, delivery: u32) -> String {
    let mut m = HostMessage::new(body);
    m.message_id = Some(id.into());
    m.delivery_count = delivery;
    m.application_properties
        .insert("Diagnostic-Id".into(), json!(PARENT));
    request_body(&m, &HostInvocation::new("deep", "message"))
}

async fn nested(inv: Invocation<ServiceBusMessage<Value>>) -> Result<(), Error> {
    tracing::info!("top");
    let deployment = inv.event.body["deploymentId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    async {
        tracing::info!(step = 1, "in step");
        async {
            tracing::warn!("two spans deep");
            let span = tracing::info_span!("inner", attempt = tracing::field::Empty);
            span.record("attempt", 2);
            span.in_scope(|| tracing::error!("three spans deep"));
        }
        .instrument(tracing::info_span!("arm", op = "put"))
        .await;
    }
    .instrument(tracing::info_span!("step", deploymentId = %deployment))
    .await;
    Ok(())
}

#[tokio::test]
async fn every_line_in_an_invocation_keeps_its_fields_however_deep() {
    let (lines, _guard) = capture_logs("info");
    let router = Functions::new()
        .service_bus("deep", service_fn(nested))
        .into_router();
    let body = message(r#"{"deploymentId":"web-canary-42"}"#, "msg-1", 3);
    let answer = send(router, post("deep", body, Some("inv-7"))).await;
    assert_eq!(answer.status, StatusCode::OK);

    let lines = lines.json();
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["top", "in step", "two spans deep", "three spans deep"]
    );
    let mut span_ids = Vec::new();
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        let spans = line["spans"].as_array().expect("span list");
        let invocation = &spans[0];
        assert_eq!(invocation["name"], "invocation", "{line}");
        assert_eq!(invocation["function"], "deep");
        assert_eq!(invocation["invocation_id"], "inv-7");
        assert_eq!(invocation["message_id"], "msg-1");
        assert_eq!(invocation["delivery_count"], 3);
        assert_eq!(invocation["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        span_ids.push(invocation["span_id"].as_str().unwrap().to_owned());
        if line["message"] != "top" {
            assert_eq!(spans[1]["deploymentId"], "web-canary-42", "{line}");
        }
    }
    assert_eq!(lines[1]["step"], 1, "event fields at the top level");
    let deepest = lines[3]["spans"].as_array().unwrap();
    assert_eq!(deepest.len(), 4);
    assert_eq!(deepest[2]["op"], "put");
    assert_eq!(deepest[3]["attempt"], 2, "a recorded field appears once");
    assert_eq!(lines[3]["level"], "ERROR");
    assert!(span_ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(span_ids[0].len(), 16);
    assert_ne!(
        span_ids[0], "b7ad6b7169203331",
        "a new span under the sender's"
    );
}

#[tokio::test]
async fn lines_keep_the_invocation_fields_at_any_level_filter() {
    let (lines, _guard) = capture_logs("warn");
    let router = Functions::new()
        .service_bus("deep", service_fn(nested))
        .into_router();
    let body = message(r#"{"deploymentId":"d-1"}"#, "msg-2", 1);
    send(router, post("deep", body, Some("inv-8"))).await;
    let lines = lines.json();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["spans"][0]["invocation_id"], "inv-8", "{line}");
    }
}

#[tokio::test]
async fn span_filters_in_rust_log_select_one_function() {
    let (lines, _guard) = capture_logs("warn,[invocation{function=chatty}]=debug");
    let debug = |inv: Invocation<ServiceBusMessage<Value>>| async move {
        tracing::debug!(function = %inv.context.function_name, "detail");
        Ok::<_, Error>(())
    };
    let router = Functions::new()
        .service_bus("chatty", service_fn(debug))
        .service_bus("quiet", service_fn(debug))
        .into_router();
    for function in ["chatty", "quiet"] {
        let body = request_body(&HostMessage::new("{}"), &HostInvocation::new(function, "m"));
        assert_eq!(
            send(router.clone(), post(function, body, None))
                .await
                .status,
            StatusCode::OK
        );
    }
    let lines = lines.json();
    let details: Vec<&Value> = lines.iter().filter(|l| l["message"] == "detail").collect();
    assert_eq!(details.len(), 1, "{lines:?}");
    assert_eq!(details[0]["function"], "chatty");
}

#[tokio::test]
async fn a_panic_and_an_undecodable_body_are_error_lines_of_their_invocation() {
    let (lines, _guard) = capture_logs("info");
    let router = Functions::new()
        .service_bus(
            "boom",
            service_fn(|_: Invocation<ServiceBusMessage<String>>| async {
                if true {
                    panic!("bug");
                }
                Ok::<_, Error>(())
            }),
        )
        .service_bus(
            "typed",
            service_fn(|_: Invocation<ServiceBusMessage<u32>>| async { Ok::<_, Error>(()) }),
        )
        .into_router();
    let boom = request_body(&HostMessage::new("x"), &HostInvocation::new("boom", "m"));
    let answer = send(router.clone(), post("boom", boom, Some("p-2"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let typed = request_body(&HostMessage::new("x"), &HostInvocation::new("typed", "m"));
    let answer = send(router, post("typed", typed, Some("u-1"))).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);

    let lines = lines.json();
    let panic = lines
        .iter()
        .find(|l| l["panic"] == "bug")
        .expect("panic line");
    assert_eq!(panic["level"], "ERROR");
    assert_eq!(panic["spans"][0]["invocation_id"], "p-2");
    let undecodable = lines
        .iter()
        .find(|l| l["spans"][0]["invocation_id"] == "u-1")
        .expect("undecodable line");
    assert_eq!(undecodable["level"], "ERROR");
    assert!(
        undecodable["message"]
            .as_str()
            .unwrap()
            .contains("does not decode")
    );
}

#[test]
fn a_bad_rust_log_is_an_error_not_a_silent_default() {
    assert!(functions_runtime::telemetry::env_filter("=!!").is_err());
    assert!(functions_runtime::telemetry::env_filter("").is_ok());
    assert!(functions_runtime::telemetry::env_filter("azure_clients=debug,info").is_ok());
}

/// An app's invocation span with its own field, which the handler records: the runtime's own
/// line for the invocation (here "invocation failed") carries it as well.
fn span_with_deployment(f: &functions_runtime::SpanFields<'_>) -> tracing::Span {
    tracing::error_span!(
        "invocation",
        function = f.function,
        invocation_id = f.invocation_id,
        message_id = f.message_id,
        delivery_count = f.delivery_count,
        trace_id = f.trace_id,
        span_id = tracing::field::Empty,
        deploymentId = tracing::field::Empty,
    )
}

#[tokio::test]
async fn the_runtimes_own_lines_carry_the_fields_an_app_adds_to_the_invocation_span() {
    let (lines, _guard) = capture_logs("info");
    let failing = |inv: Invocation<ServiceBusMessage<Value>>| async move {
        let id = inv.event.body["deploymentId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        tracing::Span::current().record("deploymentId", id.as_str());
        async { tracing::warn!("about to fail") }
            .instrument(tracing::info_span!("step", deploymentId = %id))
            .await;
        Err::<(), Error>("ARM said 500".into())
    };
    let router = Functions::new()
        .invocation_span(span_with_deployment)
        .service_bus("deep", service_fn(failing))
        .into_router();
    let body = message(r#"{"deploymentId":"web-canary-43"}"#, "msg-9", 2);
    let answer = send(router, post("deep", body, Some("inv-9"))).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let lines = lines.json();
    let failed = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("invocation failed"))
        })
        .unwrap_or_else(|| panic!("no 'invocation failed' line in {lines:?}"));
    let spans = failed["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "outside the handler's own span: {failed}");
    assert_eq!(spans[0]["deploymentId"], "web-canary-43", "{failed}");
    assert_eq!(spans[0]["invocation_id"], "inv-9", "{failed}");
    assert_eq!(
        spans[0]["span_id"].as_str().map(str::len),
        Some(16),
        "{failed}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
}
