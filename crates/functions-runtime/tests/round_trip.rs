//! `host_wire` encode → runtime decode gives back the same message.

use functions_runtime::decode::service_bus_invocation;
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{BodyDecodeError, DataType, ServiceBusMessage, TriggerOptions};
use serde_json::{Map, Value, json};
use time::macros::datetime;

/// A decoded message in the Result form.
type Decoded = ServiceBusMessage<Result<Value, BodyDecodeError>>;

fn round_trip(
    message: &HostMessage,
    invocation: &HostInvocation,
) -> (Decoded, String, Option<String>) {
    let options = TriggerOptions {
        data_type: invocation.data_type,
        binding_name: Some(invocation.binding_name.clone()),
    };
    let body = request_body(message, invocation);
    let inv = service_bus_invocation::<Value>(
        &invocation.function_name,
        Some(&invocation.invocation_id),
        body.as_bytes(),
        &options,
    )
    .expect("host_wire output decodes");
    (inv.event, inv.context.invocation_id, inv.context.rand_guid)
}

fn assert_same(message: &HostMessage, decoded: &Decoded) {
    assert_eq!(decoded.message_id, message.message_id);
    assert_eq!(decoded.delivery_count, Some(message.delivery_count));
    // The host drops fractional seconds.
    assert_eq!(
        decoded.enqueued_time,
        Some(message.enqueued_time.replace_nanosecond(0).unwrap())
    );
    assert_eq!(decoded.correlation_id, message.correlation_id);
    assert_eq!(decoded.content_type, message.content_type);
    assert_eq!(decoded.subject, message.subject);
    assert_eq!(decoded.sequence_number, Some(message.sequence_number));
    assert_eq!(
        decoded.application_properties,
        message.application_properties
    );
    assert_eq!(decoded.raw_body.as_bytes(), message.body.as_slice());
}

fn full_message(body: &str) -> HostMessage {
    let mut props = Map::new();
    props.insert("source".into(), json!("image-pipeline"));
    props.insert("attempt".into(), json!(2));
    props.insert("urgent".into(), json!(true));
    HostMessage {
        body: body.as_bytes().to_vec(),
        message_id: Some("deploy-42".into()),
        delivery_count: 4,
        enqueued_time: datetime!(2026-11-22 06:30:15.123456 UTC),
        sequence_number: 9_007_199_254_740_993,
        correlation_id: Some("corr-\"quoted\"".into()),
        content_type: Some("application/json".into()),
        subject: Some("deployment.requested".into()),
        time_to_live: Some(time::Duration::minutes(10)),
        lock_token: "7e0c6c1c-9f0e-4b8a-8d51-3c2b1a0f9e8d".into(),
        application_properties: props,
    }
}

#[test]
fn string_trigger_round_trips_json_bodies() {
    let message = full_message(
        r#"{"requestId":"r-1","image":{"gallery":"myGallery","version":"1.0.0"},"tags":["a","b"],"note":"line\nbreak \u00e9 \"q\""}"#,
    );
    let invocation = HostInvocation::new("deployment-requested", "message");
    let (decoded, invocation_id, rand_guid) = round_trip(&message, &invocation);
    assert_same(&message, &decoded);
    assert_eq!(decoded.body.as_ref().unwrap()["image"]["version"], "1.0.0");
    assert_eq!(invocation_id, invocation.invocation_id);
    assert_eq!(rand_guid.as_deref(), Some(invocation.rand_guid.as_str()));
}

#[test]
fn string_trigger_round_trips_text_and_edge_bodies() {
    for body in [
        "plain text",
        "",
        "\"a JSON string\"",
        "[1,2,3]",
        "42",
        "{}",
        "{ not json }",
    ] {
        let message = full_message(body);
        let (decoded, _, _) = round_trip(&message, &HostInvocation::new("f", "m"));
        assert_same(&message, &decoded);
    }
}

#[test]
fn minimal_message_round_trips() {
    let mut message = HostMessage::new(r#"{"a":1}"#);
    message.message_id = None;
    message.time_to_live = None;
    let (decoded, _, _) = round_trip(&message, &HostInvocation::new("f", "m"));
    assert_same(&message, &decoded);
    assert_eq!(decoded.body, Ok(json!({"a": 1})));
}

#[test]
fn binary_trigger_round_trips() {
    let message = full_message(r#"{"binary":true}"#);
    let mut invocation = HostInvocation::new("f", "m");
    invocation.data_type = DataType::Binary;
    let (decoded, _, _) = round_trip(&message, &invocation);
    assert_same(&message, &decoded);
    assert_eq!(decoded.body, Ok(json!({"binary": true})));
}

#[test]
fn a_body_id_equal_to_the_message_id_is_still_not_trusted() {
    // Indistinguishable on the wire from an overwrite, so the id is reported unknown.
    let mut message = full_message(r#"{"messageId":"deploy-42"}"#);
    message.message_id = Some("deploy-42".into());
    let (decoded, _, _) = round_trip(&message, &HostInvocation::new("f", "m"));
    assert_eq!(decoded.message_id, None);
    assert_eq!(
        decoded.delivery_count,
        Some(4),
        "other properties are unaffected"
    );
    assert_eq!(decoded.shadowed, ["MessageId"]);
}
