//! Router behaviour: readiness, routing, answers, errors, body promotion, binary data.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{post, send};
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{
    BodyDecodeError, DataType, Error, Functions, Invocation, InvocationResult, ServiceBusMessage,
    TriggerOptions, service_fn,
};
use http::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

fn ok_router() -> axum::Router {
    Functions::new()
        .service_bus(
            "deployment-requested",
            service_fn(|inv: Invocation<ServiceBusMessage<Value>>| async move {
                Ok::<_, Error>(
                    InvocationResult::default()
                        .log(format!("got {}", inv.event.raw_body))
                        .output("out", json!({"ok": true})),
                )
            }),
        )
        .into_router()
}

fn encoded(body: &str, function: &str) -> String {
    request_body(
        &HostMessage::new(body),
        &HostInvocation::new(function, "message"),
    )
}

#[tokio::test]
async fn readiness_probe_answers() {
    let answer = send(
        ok_router(),
        Request::get("/").body(axum::body::Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn answer_is_json_with_outputs_logs_return_value() {
    let request = post(
        "deployment-requested",
        encoded(r#"{"a":1}"#, "deployment-requested"),
        None,
    );
    let answer = send(ok_router(), request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        answer.body,
        json!({"Outputs": {"out": {"ok": true}}, "Logs": [r#"got {"a":1}"#], "ReturnValue": null})
    );
}

#[tokio::test]
async fn function_names_match_case_insensitively() {
    let request = post(
        "Deployment-Requested",
        encoded("{}", "Deployment-Requested"),
        None,
    );
    assert_eq!(send(ok_router(), request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_function_is_404_json() {
    let answer = send(
        ok_router(),
        post("nope", encoded("{}", "nope"), Some("i-1")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.body["error"], "unknown_function");
    assert_eq!(answer.body["function"], "nope");

    let other = send(
        ok_router(),
        Request::get("/a/b")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.body["error"], "not_found");
}

#[tokio::test]
async fn malformed_envelopes_are_400_json() {
    for body in ["not json", "{}", r#"{"Data": 5}"#, r#"{"Data": {}}"#] {
        let answer = send(
            ok_router(),
            post("deployment-requested", body, Some("inv-9")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.body["error"], "bad_request");
        assert_eq!(answer.body["invocationId"], "inv-9");
    }
}

#[derive(Debug)]
struct StepFailed;

impl std::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ARM said no")
    }
}

impl std::error::Error for StepFailed {}

#[tokio::test]
async fn handler_error_is_500_json() {
    let router = Functions::new()
        .service_bus(
            "vm-provisioning",
            service_fn(|_: Invocation<ServiceBusMessage<Value>>| async {
                Err::<InvocationResult, _>(StepFailed)
            }),
        )
        .into_router();
    let answer = send(
        router,
        post(
            "vm-provisioning",
            encoded("{}", "vm-provisioning"),
            Some("inv-1"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.body["error"], "handler_error");
    assert_eq!(answer.body["message"], "ARM said no");
    assert_eq!(answer.body["invocationId"], "inv-1");
}

#[tokio::test]
async fn handler_panic_is_500_and_the_router_keeps_serving() {
    let router = Functions::new()
        .service_bus(
            "boom",
            service_fn(|inv: Invocation<ServiceBusMessage<String>>| async move {
                if inv.event.body == "panic" {
                    panic!("handler bug");
                }
                Ok::<_, Error>(InvocationResult::default())
            }),
        )
        .into_router();
    let answer = send(router.clone(), post("boom", encoded("panic", "boom"), None)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body["error"], "handler_panic");
    assert_eq!(answer.body["message"], "handler bug");
    let again = send(router, post("boom", encoded("{}", "boom"), None)).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
struct Request1 {
    image: String,
}

#[tokio::test]
async fn undecodable_body_reaches_a_result_form_handler_with_raw_text_and_error() {
    type Body = Result<Request1, BodyDecodeError>;
    let seen: Arc<Mutex<Option<ServiceBusMessage<Body>>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let router = Functions::new()
        .service_bus(
            "deployment-requested",
            service_fn(move |inv: Invocation<ServiceBusMessage<Body>>| {
                let sink = Arc::clone(&sink);
                async move {
                    // A real step records the rejection and completes the message (2xx).
                    *sink.lock().unwrap() = Some(inv.event);
                    Ok::<_, Error>(InvocationResult::default().log("rejected"))
                }
            }),
        )
        .into_router();
    let answer = send(
        router,
        post(
            "deployment-requested",
            encoded(r#"{"imag":"typo"}"#, "deployment-requested"),
            None,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let msg = seen.lock().unwrap().take().expect("handler was called");
    assert_eq!(msg.raw_body, r#"{"imag":"typo"}"#);
    let error = msg.body.unwrap_err();
    assert!(error.message.contains("missing field `image`"), "{error}");
}

/// Records the message function `f` receives.
fn recorder(options: TriggerOptions) -> (axum::Router, common::Seen<Value>) {
    common::recording("f", options)
}

#[tokio::test]
async fn body_fields_never_pass_for_system_properties() {
    let mut message = HostMessage::new(
        r#"{"messageId":"evil-id","DeliveryCount":7,"sys":{"RandGuid":"evil-guid"},"subject":"evil-subject","correlationId":"evil-corr","applicationProperties":{"tenant":"evil"},"enqueuedTime":"2001-01-01T00:00:00Z","sequenceNumber":99}"#,
    );
    message.message_id = Some("real-id".into());
    message.delivery_count = 3;
    message.subject = Some("real-subject".into());
    message.correlation_id = Some("real-corr".into());
    message.sequence_number = 5;
    message
        .application_properties
        .insert("tenant".into(), json!("real"));
    let invocation = HostInvocation::new("f", "message");
    let body = request_body(&message, &invocation);
    // The wire really carries the body's values in the system slots (case-insensitive overwrite).
    let wire: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(wire["Metadata"]["MessageId"], json!("\"evil-id\""));

    let (router, seen) = recorder(TriggerOptions::default());
    let answer = send(router, post("f", body, Some(&invocation.invocation_id))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let inv = seen.lock().unwrap().pop().unwrap();
    let msg = inv.event;
    assert_eq!(
        msg.message_id, None,
        "overwritten MessageId is unknown, not the body's"
    );
    assert_eq!(
        msg.delivery_count, None,
        "a shadowed delivery count is unknown, not 1 and not the body's"
    );
    assert!(msg.shadowed.iter().any(|k| k == "DeliveryCount"));
    assert_eq!(
        msg.subject.as_deref(),
        Some("real-subject"),
        "from the Label twin"
    );
    assert_eq!(msg.correlation_id, None);
    assert_eq!(msg.sequence_number, None);
    assert_ne!(
        msg.enqueued_time.map(|t| t.year()),
        Some(2001),
        "promoted dates are never taken"
    );
    assert_eq!(
        msg.application_properties.get("tenant"),
        Some(&json!("real")),
        "from the UserProperties twin"
    );
    assert_eq!(inv.context.rand_guid, None);
    assert_eq!(inv.context.invocation_id, invocation.invocation_id);
    // The body itself is intact.
    assert_eq!(msg.body.unwrap()["messageId"], "evil-id");
}

#[tokio::test]
async fn case_sensitive_promotion_keeps_the_real_values() {
    // Had the host's binding data been case-sensitive, both spellings would be present.
    let body = json!({
        "Data": {"message": "\"{\\\"messageId\\\":\\\"evil\\\",\\\"deliveryCount\\\":7}\""},
        "Metadata": {
            "DeliveryCount": "2",
            "MessageId": "\"real\"",
            "messageId": "\"evil\"",
            "deliveryCount": "\"7\"",
        }
    });
    let (router, seen) = recorder(TriggerOptions::default());
    send(router, post("f", body.to_string(), None)).await;
    let msg = seen.lock().unwrap().pop().unwrap().event;
    assert_eq!(msg.message_id.as_deref(), Some("real"));
    assert_eq!(msg.delivery_count, Some(2));
}

#[tokio::test]
async fn binary_data_type_decodes_base64() {
    let options = TriggerOptions {
        data_type: DataType::Binary,
        binding_name: Some("payload".into()),
    };
    let mut invocation = HostInvocation::new("f", "payload");
    invocation.data_type = DataType::Binary;
    let message = HostMessage::new(r#"{"image":"ubuntu","n":1}"#);
    let (router, seen) = recorder(options);
    let answer = send(router, post("f", request_body(&message, &invocation), None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let msg = seen.lock().unwrap().pop().unwrap().event;
    assert_eq!(msg.raw_body, r#"{"image":"ubuntu","n":1}"#);
    assert_eq!(msg.body, Ok(json!({"image": "ubuntu", "n": 1})));
    assert_eq!(msg.message_id, message.message_id);
}

#[tokio::test]
async fn named_binding_is_picked_among_several_data_entries() {
    let body = json!({"Data": {"other": "\"x\"", "msg": "\"{}\""}, "Metadata": {}});
    let options = TriggerOptions {
        binding_name: Some("msg".into()),
        ..TriggerOptions::default()
    };
    let (router, seen) = recorder(options);
    let answer = send(router, post("f", body.to_string(), None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(seen.lock().unwrap().pop().unwrap().event.raw_body, "{}");

    let (router, _) = recorder(TriggerOptions::default());
    let ambiguous = send(router, post("f", body.to_string(), None)).await;
    assert_eq!(ambiguous.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tower_layers_compose() {
    let slow = tower::ServiceBuilder::new()
        .timeout(Duration::from_millis(20))
        .service(service_fn(
            |_: Invocation<ServiceBusMessage<Value>>| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, Error>(InvocationResult::default())
            },
        ));
    let router = Functions::new().service_bus("slow", slow).into_router();
    let answer = send(router, post("slow", encoded("{}", "slow"), None)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
}

#[test]
#[should_panic(expected = "registered twice")]
fn registering_a_name_twice_panics() {
    let svc = service_fn(|_: Invocation<ServiceBusMessage<Value>>| async {
        Ok::<_, Error>(InvocationResult::default())
    });
    let _ = Functions::new().service_bus("a", svc).service_bus("A", svc);
}

#[tokio::test]
async fn oversized_requests_are_413_json() {
    let router = Functions::new()
        .body_limit(64)
        .service_bus(
            "f",
            service_fn(|_: Invocation<ServiceBusMessage<Value>>| async {
                Ok::<_, Error>(InvocationResult::default())
            }),
        )
        .into_router();
    let answer = send(router, post("f", encoded(&"x".repeat(100), "f"), None)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["function"], "f");
}

#[test]
#[should_panic(expected = "must be letters, digits")]
fn function_names_must_be_azure_function_names() {
    let svc = service_fn(|_: Invocation<ServiceBusMessage<Value>>| async {
        Ok::<_, Error>(InvocationResult::default())
    });
    let _ = Functions::new().service_bus("a/b", svc);
}
