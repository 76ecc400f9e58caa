//! Decoding an invocation request body (`{"Data": {..}, "Metadata": {..}}`) into a typed
//! [`Invocation`]`<`[`ServiceBusMessage`]`<T>>`.
//!
//! `Data.<binding>` is accepted as the host sends it (a double-encoded JSON string, NOTES §0.1), as
//! a single-encoded string (doc samples, other hosts), as a raw JSON value, or as base64 for
//! `dataType: binary`.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::invocation::{Context, Invocation};
use crate::message::{BodyDecodeError, ServiceBusMessage};
use crate::metadata::Metadata;
use crate::promotion::unquote;
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

/// The parsed envelope: `Data` and `Metadata` objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `Data`: binding name → value.
    pub data: Map<String, Value>,
    /// `Metadata`: trigger metadata, `sys`, promoted body fields.
    pub metadata: Map<String, Value>,
}

impl Envelope {
    /// Parses a request body. Key names `Data`/`Metadata` are the host's; lowercase is tolerated.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let Value::Object(mut root) = value else {
            return Err(EnvelopeError::MissingData);
        };
        let data = match take(&mut root, "Data", "data") {
            Some(Value::Object(data)) => data,
            _ => return Err(EnvelopeError::MissingData),
        };
        let metadata = match take(&mut root, "Metadata", "metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(EnvelopeError::BadMetadata),
        };
        Ok(Self { data, metadata })
    }

    /// The trigger's `Data` entry: the configured binding, else the only entry.
    pub fn trigger_value(&self, options: &TriggerOptions) -> Result<&Value, EnvelopeError> {
        if let Some(value) = options
            .binding_name
            .as_deref()
            .and_then(|name| self.data.get(name))
        {
            return Ok(value);
        }
        let mut values = self.data.values();
        match (values.next(), values.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(EnvelopeError::NoTriggerValue {
                expected: options.binding_name.clone(),
            }),
            (Some(_), Some(_)) => Err(EnvelopeError::AmbiguousData {
                found: self.data.keys().cloned().collect(),
            }),
        }
    }
}

fn take(root: &mut Map<String, Value>, key: &str, alt: &str) -> Option<Value> {
    root.remove(key).or_else(|| root.remove(alt))
}

/// Decodes a whole invocation request for a Service Bus (or storage queue) trigger.
///
/// `invocation_id` is the `X-Azure-Functions-InvocationId` header value, if any.
pub fn service_bus_invocation<T: DeserializeOwned>(
    function_name: &str,
    invocation_id: Option<&str>,
    body: &[u8],
    options: &TriggerOptions,
) -> Result<Invocation<ServiceBusMessage<T>>, EnvelopeError> {
    let envelope = Envelope::parse(body)?;
    let (message, rand_guid) = service_bus_message(&envelope, options)?;
    let invocation_id = invocation_id
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| rand_guid.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Ok(Invocation {
        event: message,
        context: Context {
            function_name: function_name.to_owned(),
            invocation_id,
            rand_guid,
        },
    })
}

/// Decodes the message of a parsed envelope; also returns `Metadata.sys.RandGuid`.
pub fn service_bus_message<T: DeserializeOwned>(
    envelope: &Envelope,
    options: &TriggerOptions,
) -> Result<(ServiceBusMessage<T>, Option<String>), EnvelopeError> {
    let (raw_body, encoding_error) = raw_body(envelope.trigger_value(options)?, options.data_type);
    // Parse an object body once: for spotting promoted fields and for `T`.
    let parsed = match encoding_error {
        None if looks_like_object(&raw_body) => serde_json::from_str::<Value>(&raw_body).ok(),
        _ => None,
    };
    // The host promotes body fields only from string triggers whose text looks like an object.
    let body_object = match (options.data_type, &parsed) {
        (DataType::String, Some(Value::Object(object))) => Some(object),
        _ => None,
    };
    let meta = Metadata::new(&envelope.metadata, body_object);
    if !meta.shadowed().is_empty() {
        tracing::warn!(
            keys = ?meta.shadowed(),
            "message body fields share names with Service Bus system properties; those properties are ignored"
        );
    }
    let rand_guid = meta.object(&["sys"]).and_then(|sys| {
        sys.get("RandGuid")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let body = match (encoding_error, &parsed) {
        (Some(error), _) => Err(error),
        // On failure, decode the text again for an error with line and column.
        (None, Some(value)) => T::deserialize(value).or_else(|_| decode_body(&raw_body)),
        (None, None) => decode_body(&raw_body),
    };
    let message = ServiceBusMessage {
        message_id: meta.string(&["MessageId", "Id"]),
        delivery_count: meta
            .integer(&["DeliveryCount", "DequeueCount"])
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        enqueued_time: meta.time(&["EnqueuedTime", "EnqueuedTimeUtc", "InsertionTime"]),
        correlation_id: meta.string(&["CorrelationId"]),
        content_type: meta.string(&["ContentType"]),
        subject: meta.string(&["Subject", "Label"]),
        sequence_number: meta.integer(&["SequenceNumber"]),
        application_properties: meta
            .object(&["ApplicationProperties", "UserProperties"])
            .unwrap_or_default(),
        raw_body,
        body,
    };
    Ok((message, rand_guid))
}

/// The body text inside the trigger value, plus an error when its encoding is broken (the message
/// still reaches the handler).
fn raw_body(value: &Value, data_type: DataType) -> (String, Option<BodyDecodeError>) {
    match (value, data_type) {
        (Value::String(s), DataType::String) => (unquote(s).unwrap_or_else(|| s.clone()), None),
        (Value::String(s), DataType::Binary) => {
            let text = unquote(s).unwrap_or_else(|| s.clone());
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
        (Value::Null, _) => (String::new(), None),
        (other, _) => (other.to_string(), None),
    }
}

/// `T` from the body text: JSON first. A string type (`String`, `Box<str>`, …) that cannot take
/// the body as JSON (not a JSON string, or not JSON at all) receives the text itself;
/// `serde_json::Value` and structs never do.
fn decode_body<T: DeserializeOwned>(raw: &str) -> Result<T, BodyDecodeError> {
    serde_json::from_str::<T>(raw).or_else(|json_error| {
        T::deserialize(TextOnly(raw)).map_err(|_| BodyDecodeError::new(json_error.to_string()))
    })
}

/// A deserializer that only yields a string to types that ask for one.
struct TextOnly<'a>(&'a str);

impl<'de> serde::Deserializer<'de> for TextOnly<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("body is not JSON"))
    }

    fn deserialize_str<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_str(self.0)
    }

    fn deserialize_string<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
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

    fn decode(v: Value, options: &TriggerOptions) -> ServiceBusMessage<Value> {
        let env = Envelope::parse(v.to_string().as_bytes()).unwrap();
        service_bus_message::<Value>(&env, options).unwrap().0
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
        let (msg, _) = service_bus_message::<String>(&env, &TriggerOptions::default()).unwrap();
        assert_eq!(msg.body, Ok("plain text".to_owned()));
        let (msg, _) = service_bus_message::<Value>(&env, &TriggerOptions::default()).unwrap();
        assert!(msg.body.unwrap_err().message.contains("expected value"));
        assert_eq!(msg.raw_body, "plain text");
    }

    #[test]
    fn envelope_errors() {
        assert!(matches!(
            Envelope::parse(b"nope"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(Envelope::parse(b"{}"), Err(EnvelopeError::MissingData));
        assert_eq!(Envelope::parse(b"[1]"), Err(EnvelopeError::MissingData));
        assert_eq!(
            Envelope::parse(br#"{"Data":{},"Metadata":3}"#),
            Err(EnvelopeError::BadMetadata)
        );
        let empty = Envelope::parse(br#"{"Data":{}}"#).unwrap();
        assert!(matches!(
            empty.trigger_value(&TriggerOptions::default()),
            Err(EnvelopeError::NoTriggerValue { .. })
        ));
        let two = Envelope::parse(br#"{"Data":{"a":"1","b":"2"}}"#).unwrap();
        assert!(matches!(
            two.trigger_value(&TriggerOptions::default()),
            Err(EnvelopeError::AmbiguousData { .. })
        ));
        let named = TriggerOptions {
            binding_name: Some("b".into()),
            ..TriggerOptions::default()
        };
        assert_eq!(two.trigger_value(&named), Ok(&json!("2")));
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
