//! Property tests of the host envelope decoder: whatever the request body, decoding returns a
//! message or an error, never panics. Bounded so they run in seconds in CI.

use functions_runtime::decode::service_bus_invocation;
use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use functions_runtime::{DataType, TraceContext, TriggerOptions};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn options() -> impl Strategy<Value = TriggerOptions> {
    (any::<bool>(), proptest::option::of("[a-zA-Z]{1,6}")).prop_map(|(binary, name)| {
        TriggerOptions {
            data_type: if binary {
                DataType::Binary
            } else {
                DataType::String
            },
            binding_name: name,
        }
    })
}

/// JSON values up to a few levels deep, with strings that look like what the host sends.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "\"[0-9T:.Z-]{0,30}\"".prop_map(Value::from),
        Just(json!("9999-12-31T23:59:59.9999999Z")),
        Just(json!("\"9999-12-31T23:59:59.9999999+00:00\"")),
        Just(json!("-99999999999999999999")),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(system_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys the decoder reads, in several cases, plus arbitrary ones.
fn system_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Data",
            "Metadata",
            "MessageId",
            "messageId",
            "DeliveryCount",
            "deliveryCount",
            "EnqueuedTime",
            "EnqueuedTimeUtc",
            "InsertionTime",
            "SequenceNumber",
            "sys",
            "RandGuid",
            "ApplicationProperties",
            "UserProperties",
            "Label",
            "Subject",
            "m",
            "Diagnostic-Id",
            "CorrelationId",
            "ContentType",
            "DequeueCount",
            "Id",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..256), options in options()) {
        let _ = service_bus_invocation::<Value>("f", None, &bytes, &options);
    }

    #[test]
    fn arbitrary_envelopes_decode_or_fail(data in json_value(), metadata in json_value(), options in options()) {
        let body = json!({"Data": data, "Metadata": metadata}).to_string();
        let _ = service_bus_invocation::<Value>("f", Some("i"), body.as_bytes(), &options);
    }

    #[test]
    fn host_encoded_messages_with_arbitrary_bodies_and_properties_decode(
        body in json_value(),
        properties in prop::collection::btree_map(system_key(), json_value(), 0..4),
        delivery in any::<u32>(),
        sequence in any::<i64>(),
    ) {
        let mut message = HostMessage::new(body.to_string());
        message.delivery_count = delivery;
        message.sequence_number = sequence;
        message.application_properties = properties.into_iter().collect();
        let wire = request_body(&message, &HostInvocation::new("f", "message"));
        let decoded = service_bus_invocation::<Value>("f", None, wire.as_bytes(), &TriggerOptions::default());
        let decoded = decoded.expect("the host's own encoding always decodes");
        prop_assert_eq!(decoded.event.raw_body, body.to_string());
    }

    #[test]
    fn traceparent_parsing_never_panics(text in "\\PC{0,70}", hexish in "[0-9a-f-]{50,60}") {
        let _ = TraceContext::parse(&text);
        if let Some(t) = TraceContext::parse(&hexish) {
            prop_assert_eq!(TraceContext::parse(&t.traceparent()).map(|p| p.traceparent()), Some(t.traceparent()));
        }
    }
}
