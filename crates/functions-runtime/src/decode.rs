//! Decoding an invocation request body (`{"Data": {..}, "Metadata": {..}}`) into a typed
//! [`Invocation`]`<`[`ServiceBusMessage`]`<T>>`.
//!
//! `Data.<binding>` is accepted as the host sends it (a double-encoded JSON string, NOTES §0.1), as
//! a single-encoded string (doc samples, other hosts), as a raw JSON value, or as base64 for
//! `dataType: binary`.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelope::{DataValue, Envelope};
use crate::invocation::{Context, Invocation};
use crate::message::{BodyDecodeError, Direct, MessageBody, ServiceBusMessage};
use crate::metadata::Metadata;
use crate::promotion::unquote;
use crate::raw::RawObject;
use crate::trace::TraceContext;
use crate::trigger::{DataType, TriggerOptions};

/// Header carrying the host's invocation id.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";

/// Why an invocation request cannot be handled at all (answered with `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The request body is not JSON.
    #[error("invocation request is not JSON: {0}")]
    NotJson(String),
    /// The request body is JSON but not an object with a `Data` object.
    #[error("invocation request has no `Data` object")]
    MissingData,
    /// `Metadata` is present but not an object.
    #[error("invocation request `Metadata` is not an object")]
    BadMetadata,
    /// `Data` has no entry for the trigger.
    #[error("invocation request `Data` has no trigger value (expected binding {expected:?})")]
    NoTriggerValue {
        /// The configured binding name, if any.
        expected: Option<String>,
    },
    /// `Data` has several entries and none is the configured binding.
    #[error(
        "invocation request `Data` has several entries {found:?}; set TriggerOptions::binding_name"
    )]
    AmbiguousData {
        /// The keys present in `Data`.
        found: Vec<String>,
    },
}

/// Decodes a whole invocation request for a Service Bus (or storage queue) trigger. A broken
/// envelope is an error; a body that does not decode into `B` is an `Err` body.
///
/// `invocation_id` is the `X-Azure-Functions-InvocationId` header value, if any. The trace
/// context continues the message's `Diagnostic-Id` (see [`TraceContext::for_invocation`]
/// for the `traceparent` header, which the runtime also considers).
pub fn service_bus_invocation<T: DeserializeOwned + Send + 'static>(
    function_name: &str,
    invocation_id: Option<&str>,
    body: &[u8],
    options: &TriggerOptions,
) -> Result<Invocation<ServiceBusMessage<Result<T, BodyDecodeError>>>, EnvelopeError> {
    invocation::<T, Direct>(function_name, invocation_id, body, options)
}

/// [`service_bus_invocation`] for any [`MessageBody`].
pub(crate) fn invocation<B: MessageBody<M>, M>(
    function_name: &str,
    invocation_id: Option<&str>,
    body: &[u8],
    options: &TriggerOptions,
) -> Result<Invocation<ServiceBusMessage<Result<B, BodyDecodeError>>>, EnvelopeError> {
    let envelope = Envelope::parse(body)?;
    let (message, rand_guid) = service_bus_message::<B, M>(&envelope, options)?;
    let invocation_id = invocation_id
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| rand_guid.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let trace = TraceContext::for_invocation(message.diagnostic_id(), None);
    Ok(Invocation {
        event: message,
        context: Context {
            function_name: function_name.to_owned(),
            invocation_id,
            rand_guid,
            trace,
        },
    })
}

/// A decoded message and `Metadata.sys.RandGuid`.
type WithRandGuid<B> = (
    ServiceBusMessage<Result<B, BodyDecodeError>>,
    Option<String>,
);

/// Decodes the message of a parsed envelope; also returns `Metadata.sys.RandGuid`.
fn service_bus_message<B: MessageBody<M>, M>(
    envelope: &Envelope<'_>,
    options: &TriggerOptions,
) -> Result<WithRandGuid<B>, EnvelopeError> {
    let (raw_body, encoding_error) = raw_body(envelope.trigger_value(options)?, options.data_type);
    // The host promotes body fields only from string triggers whose text looks like an object;
    // only the top-level keys are needed to spot them.
    let body_keys = match (options.data_type, &encoding_error) {
        (DataType::String, None) if looks_like_object(&raw_body) => {
            RawObject::parse(&raw_body).ok()
        }
        _ => None,
    };
    let meta = Metadata::new(&envelope.metadata, body_keys.as_ref());
    if !meta.shadowed().is_empty() {
        tracing::warn!(
            keys = ?meta.shadowed(),
            "message body fields share names with Service Bus system properties; those properties are ignored (an unknown delivery count is None)"
        );
    }
    let rand_guid = meta.sys_string("RandGuid");
    let message = ServiceBusMessage {
        message_id: meta.string(&["MessageId", "Id"]),
        delivery_count: meta
            .integer(&["DeliveryCount", "DequeueCount"])
            .and_then(|n| u32::try_from(n).ok()),
        enqueued_time: meta.time(&["EnqueuedTime", "EnqueuedTimeUtc", "InsertionTime"]),
        correlation_id: meta.string(&["CorrelationId"]),
        content_type: meta.string(&["ContentType"]),
        subject: meta.string(&["Subject", "Label"]),
        sequence_number: meta.integer(&["SequenceNumber"]),
        application_properties: meta
            .object(&["ApplicationProperties", "UserProperties"])
            .unwrap_or_default(),
        shadowed: meta.shadowed().iter().map(|k| (*k).to_owned()).collect(),
        body: B::decode(match encoding_error {
            Some(error) => Err(error),
            None => Ok(&raw_body),
        }),
        raw_body,
    };
    Ok((message, rand_guid))
}

/// The body text inside the trigger value, plus an error when its encoding is broken (the message
/// still reaches the handler).
fn raw_body(value: &DataValue<'_>, data_type: DataType) -> (String, Option<BodyDecodeError>) {
    match (value, data_type) {
        (DataValue::Text(text), DataType::String) => {
            (unquote(text).unwrap_or_else(|| text.to_string()), None)
        }
        (DataValue::Text(text), DataType::Binary) => {
            let text = unquote(text).unwrap_or_else(|| text.to_string());
            match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(body) => (body, None),
                    Err(e) => {
                        let body = String::from_utf8_lossy(e.as_bytes()).into_owned();
                        (body, Some(BodyDecodeError::new("binary body is not UTF-8")))
                    }
                },
                Err(e) => (
                    text,
                    Some(BodyDecodeError::new(format!(
                        "binary body is not base64: {e}"
                    ))),
                ),
            }
        }
        (DataValue::Json(Value::Null), _) => (String::new(), None),
        // Lenient: a raw JSON value instead of a string.
        (DataValue::Json(value), _) => (value.to_string(), None),
    }
}

/// Newtonsoft-side test in `Utility.IsJson`: trimmed text starts with `{` and ends with `}`.
fn looks_like_object(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('{') && t.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(
        v: Value,
        options: &TriggerOptions,
    ) -> ServiceBusMessage<Result<Value, BodyDecodeError>> {
        let text = v.to_string();
        let env = Envelope::parse(text.as_bytes()).unwrap();
        service_bus_message::<Value, Direct>(&env, options)
            .unwrap()
            .0
    }

    #[test]
    fn data_double_single_raw_and_binary() {
        let opts = TriggerOptions::default();
        let double = decode(json!({"Data": {"m": "\"{\\\"a\\\":1}\""}}), &opts);
        assert_eq!(double.raw_body, r#"{"a":1}"#);
        assert_eq!(double.body, Ok(json!({"a": 1})));

        let single = decode(json!({"Data": {"m": "{\"a\":1}"}}), &opts);
        assert_eq!(single.body, Ok(json!({"a": 1})));

        let raw = decode(json!({"Data": {"m": {"a": 1}}}), &opts);
        assert_eq!(raw.body, Ok(json!({"a": 1})));

        let binary = TriggerOptions {
            data_type: DataType::Binary,
            binding_name: None,
        };
        let b = decode(json!({"Data": {"m": "eyJhIjoxfQ=="}}), &binary);
        assert_eq!(b.raw_body, r#"{"a":1}"#);
        assert_eq!(b.body, Ok(json!({"a": 1})));

        let bad = decode(json!({"Data": {"m": "not base64!"}}), &binary);
        assert!(bad.body.unwrap_err().message.contains("base64"));
    }

    #[test]
    fn text_bodies_decode_into_strings_only() {
        let env = Envelope::parse(br#"{"Data":{"m":"plain text"}}"#).unwrap();
        let (msg, _) =
            service_bus_message::<String, Direct>(&env, &TriggerOptions::default()).unwrap();
        assert_eq!(msg.body, Ok("plain text".to_owned()));
        let (msg, _) =
            service_bus_message::<Value, Direct>(&env, &TriggerOptions::default()).unwrap();
        assert!(msg.body.unwrap_err().message.contains("expected value"));
        assert_eq!(msg.raw_body, "plain text");
    }

    #[test]
    fn invocation_id_prefers_header_then_rand_guid() {
        let body = br#"{"Data":{"m":"1"},"Metadata":{"sys":{"RandGuid":"g-1"}}}"#;
        let opts = TriggerOptions::default();
        let with_header = service_bus_invocation::<Value>("f", Some("h-1"), body, &opts).unwrap();
        assert_eq!(with_header.context.invocation_id, "h-1");
        assert_eq!(with_header.context.rand_guid.as_deref(), Some("g-1"));
        let without = service_bus_invocation::<Value>("f", None, body, &opts).unwrap();
        assert_eq!(without.context.invocation_id, "g-1");
        let bare =
            service_bus_invocation::<Value>("f", None, br#"{"Data":{"m":"1"}}"#, &opts).unwrap();
        assert_eq!(bare.context.invocation_id.len(), 36);
        assert_eq!(bare.context.function_name, "f");
    }
}
