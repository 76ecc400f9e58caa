//! The Functions host copies top-level body fields into the trigger metadata, where a field named
//! like a Service Bus system property would shadow it (reference/functions/NOTES.md §0.3, §3.2).
//! No published message may have such a top-level field.

use imageferry_contract::schema;
use serde_json::Value;

/// Metadata keys of a Service Bus trigger (extension 5.x) plus `sys` and `RetryContext`.
const SYSTEM_KEYS: &[&str] = &[
    "MessageReceiver",
    "MessageSession",
    "MessageActions",
    "SessionActions",
    "ReceiveActions",
    "Client",
    "DeliveryCount",
    "DeadLetterSource",
    "LockToken",
    "ExpiresAtUtc",
    "ExpiresAt",
    "EnqueuedTimeUtc",
    "EnqueuedTime",
    "MessageId",
    "ContentType",
    "ReplyTo",
    "SequenceNumber",
    "To",
    "Subject",
    "Label",
    "CorrelationId",
    "ApplicationProperties",
    "UserProperties",
    "SessionId",
    "ReplyToSessionId",
    "PartitionKey",
    "TransactionPartitionKey",
    "sys",
    "RetryContext",
];

/// Top-level property names of a schema, following `anyOf`/`oneOf` variants through `$defs`.
fn top_level_properties(root: &Value, schema: &Value, out: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        top_level_properties(root, &root["$defs"][name], out);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    for key in ["anyOf", "oneOf"] {
        for variant in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            top_level_properties(root, variant, out);
        }
    }
}

#[test]
fn no_message_has_a_top_level_field_named_like_a_system_property() {
    for file in schema::all() {
        let root = serde_json::to_value(&file.schema).unwrap();
        let mut names = Vec::new();
        top_level_properties(&root, &root, &mut names);
        assert!(names.len() >= 4, "{}: {names:?}", file.file_name);
        for name in &names {
            assert!(
                !SYSTEM_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name)),
                "{}: top-level field {name:?} collides with a Service Bus system property",
                file.file_name
            );
        }
    }
}
