//! Every Service Bus and queue request file in `reference/functions` goes through the router and
//! reaches the handler decoded; `docs-custom-handlers-response.json` and the PR 5028 response have
//! the shape the runtime answers with.

mod common;

use common::{Seen, brace_block, js_literal_to_json, post, read_reference, send};
use functions_runtime::{
    BodyDecodeError, Context, Invocation, InvocationResult, ServiceBusMessage, TriggerOptions,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use time::macros::datetime;

/// A router with one function `name` that records what it receives.
fn recording<T>(name: &str) -> (axum::Router, Seen<T>)
where
    T: serde::de::DeserializeOwned + Send + Sync + Clone + 'static,
{
    common::recording(name, TriggerOptions::default())
}

/// The system properties of the queue message in the custom-handler docs and host PR 5028 samples.
#[track_caller]
fn assert_queue_sample_system_properties<T>(msg: &ServiceBusMessage<T>, context: &Context) {
    assert_eq!(
        msg.message_id.as_deref(),
        Some("800ae4b3-bdd2-4c08-badd-f08e5a34b865")
    );
    assert_eq!(msg.delivery_count, Some(1));
    assert_eq!(msg.enqueued_time, Some(datetime!(2019-10-09 17:58:31 UTC)));
    assert_eq!(
        context.rand_guid.as_deref(),
        Some("24ad4c06-24ad-4e5b-8294-3da9714877e9")
    );
}

fn only<T: Clone>(seen: &Seen<T>) -> Invocation<ServiceBusMessage<Result<T, BodyDecodeError>>> {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "handler called once");
    seen[0].clone()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Hello {
    message: String,
    number: i32,
}

#[tokio::test]
async fn karlgw_servicebus_request_single_encoded_data() {
    let (router, seen) = recording::<Hello>("helloQueue");
    let body = read_reference("karlgw-azfunc-servicebus-request.json");
    let answer = send(router, post("helloQueue", body, None)).await;
    assert_eq!(answer.status, StatusCode::OK);

    let inv = only(&seen);
    let msg = inv.event;
    assert_eq!(
        msg.body,
        Ok(Hello {
            message: "hello".into(),
            number: 2
        })
    );
    assert_eq!(msg.raw_body, r#"{"message":"hello","number":2}"#);
    assert_eq!(
        msg.message_id.as_deref(),
        Some("4e773554-f6b7-4ea2-b07d-4c5fd5aba741")
    );
    assert_eq!(msg.delivery_count, Some(1));
    assert_eq!(msg.enqueued_time, Some(datetime!(2023-10-12 20:13:49 UTC)));
    assert_eq!(msg.content_type.as_deref(), Some("application/json"));
    assert_eq!(msg.sequence_number, Some(1));
    assert_eq!(msg.correlation_id, None);
    assert!(msg.application_properties.is_empty());
    // No header: the invocation id falls back to sys.RandGuid.
    assert_eq!(
        inv.context.invocation_id,
        "4e773554-f6b7-4ea2-b07d-4c5fd5aba741"
    );
    assert_eq!(inv.context.function_name, "helloQueue");
}

#[tokio::test]
async fn docs_storage_queue_sample_with_unquoted_values_still_decodes() {
    // The doc sample's Data is not JSON (`{ message: "Message sent" }`): a JSON-typed handler gets
    // the raw text and the error, a string-typed one gets the text.
    let body = read_reference("docs-custom-handlers-queue-request.json");

    let (router, seen) = recording::<Value>("QueueTrigger");
    let answer = send(router, post("QueueTrigger", body.clone(), None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let inv = only(&seen);
    let msg = inv.event;
    assert_eq!(msg.raw_body, r#"{ message: "Message sent" }"#);
    assert!(msg.body.is_err());
    assert_queue_sample_system_properties(&msg, &inv.context);

    let (router, seen) = recording::<String>("QueueTrigger");
    send(router, post("QueueTrigger", body, Some("inv-1"))).await;
    let inv = only(&seen);
    assert_eq!(
        inv.event.body,
        Ok(r#"{ message: "Message sent" }"#.to_owned())
    );
    assert_eq!(inv.context.invocation_id, "inv-1");
}

#[tokio::test]
async fn host_pr5028_queue_request_js_literal() {
    let text = read_reference("host-pr5028-queue-request.txt");
    // The file is JavaScript-literal notation; convert it to the JSON the host put on the wire.
    let request = js_literal_to_json(brace_block(&text, 0));
    let parsed: Value = serde_json::from_str(&request).expect("converted literal is JSON");
    assert_eq!(parsed["Data"]["myQueueItem"], json!("\"hello\""));

    let (router, seen) = recording::<String>("QueueTrigger");
    let answer = send(router, post("QueueTrigger", request, None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let inv = only(&seen);
    let msg = inv.event;
    assert_eq!(msg.body, Ok("hello".to_owned()));
    assert_eq!(msg.raw_body, "hello");
    // `sys` was a string holding a JSON object in this early host version.
    assert_queue_sample_system_properties(&msg, &inv.context);

    // Its response payload has the shape InvocationResult serializes to.
    let response: Value = serde_json::from_str(brace_block(&text, 1)).unwrap();
    let ours = InvocationResult::default()
        .output("output1", json!("hello queue out1"))
        .log("invocation log1")
        .log("invocation log2")
        .log("invocation log3")
        .return_value(json!("hello queue out"));
    assert_eq!(serde_json::to_value(&ours).unwrap(), response);
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: String,
    amount: f64,
    customer: Value,
    lines: Vec<i32>,
}

#[tokio::test]
async fn notes_complete_example_with_headers() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/notes-3.4-servicebus-request.json")).unwrap();
    let mut request = http::Request::post(fixture["path"].as_str().unwrap());
    for (name, value) in fixture["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let request = request
        .body(axum::body::Body::from(fixture["body"].to_string()))
        .unwrap();

    let (router, seen) = recording::<Order>("ProcessOrder");
    let answer = send(router, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let inv = only(&seen);
    assert_eq!(
        inv.context.invocation_id,
        "3b0b7f0e-5d6b-4b0e-9b0a-1f2d3c4b5a69"
    );
    assert_eq!(
        inv.context.rand_guid.as_deref(),
        Some("0c7e4f52-2d55-4a8a-9f0e-5b7a3e1d9c22")
    );
    let msg = inv.event;
    assert_eq!(
        msg.body,
        Ok(Order {
            order_id: "1001".into(),
            amount: 25.5,
            customer: json!({"id": "c-9"}),
            lines: vec![1, 2],
        })
    );
    assert_eq!(msg.message_id.as_deref(), Some("order-1001"));
    assert_eq!(msg.delivery_count, Some(1));
    assert_eq!(msg.enqueued_time, Some(datetime!(2024-05-01 12:00:00 UTC)));
    assert_eq!(msg.correlation_id.as_deref(), Some("corr-77"));
    assert_eq!(msg.content_type.as_deref(), Some("application/json"));
    assert_eq!(msg.subject.as_deref(), Some("order.created"));
    assert_eq!(msg.sequence_number, Some(42));
    assert_eq!(
        Value::Object(msg.application_properties),
        json!({"tenant": "contoso", "attempt": 1})
    );
}

#[test]
fn docs_response_sample_has_the_result_shape() {
    let sample: Value =
        serde_json::from_str(&read_reference("docs-custom-handlers-response.json")).unwrap();
    let ours = InvocationResult::default()
        .output("res", json!({"body": "Message enqueued"}))
        .output(
            "myQueueOutput",
            json!(["queue message 1", "queue message 2"]),
        )
        .log("Log message 1")
        .log("Log message 2")
        .return_value(json!("{\"hello\":\"world\"}"));
    assert_eq!(serde_json::to_value(&ours).unwrap(), sample);
}
