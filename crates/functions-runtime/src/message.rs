//! The typed Service Bus message a handler receives, and how its body is decoded.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::trace::DIAGNOSTIC_ID;

/// A Service Bus message as delivered by the `serviceBusTrigger` (cardinality one).
///
/// `B` is the body: any `DeserializeOwned` type, decoded before the handler runs (a body that
/// does not decode never reaches the handler, see [`Functions::undecodable`](crate::Functions::undecodable)),
/// or `Result<T, BodyDecodeError>` for a handler that records undecodable bodies itself.
///
/// System properties come from `Metadata`. The host copies top-level fields of a JSON body into
/// `Metadata` under the same names (NOTES §0.3), so a property that a same-named body field may
/// have overwritten is treated as absent and listed in [`shadowed`](Self::shadowed).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBusMessage<B> {
    /// `MessageId` (storage-queue triggers: `Id`).
    pub message_id: Option<String>,
    /// `DeliveryCount` (storage-queue triggers: `DequeueCount`), 1 on the first delivery.
    /// `None` when the host sent none, or when a body field named like it may have overwritten
    /// it: then the count is unknown and a handler must not assume a first delivery (the
    /// imageferry steps treat it as the last one).
    pub delivery_count: Option<u32>,
    /// `EnqueuedTime` (falls back to `EnqueuedTimeUtc`, then storage-queue `InsertionTime`).
    pub enqueued_time: Option<OffsetDateTime>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `Subject` (falls back to its back-compat twin `Label`).
    pub subject: Option<String>,
    /// `SequenceNumber`.
    pub sequence_number: Option<i64>,
    /// `ApplicationProperties` (falls back to its back-compat twin `UserProperties`).
    pub application_properties: Map<String, Value>,
    /// System properties (`Metadata` keys) ignored because a top-level body field of the same
    /// name (case-insensitively) may have overwritten them.
    pub shadowed: Vec<String>,
    /// Body text as received, after unwrapping the host's encoding (base64 for `binary`).
    pub raw_body: String,
    /// The decoded body.
    pub body: B,
}

impl<B> ServiceBusMessage<B> {
    /// The same message with its body replaced by `f(body)`.
    pub fn map_body<U>(self, f: impl FnOnce(B) -> U) -> ServiceBusMessage<U> {
        let (message, body) = self.replace_body(());
        message.replace_body(f(body)).0
    }

    /// The same message with `body`, and the body it had.
    pub fn replace_body<U>(self, body: U) -> (ServiceBusMessage<U>, B) {
        let message = ServiceBusMessage {
            message_id: self.message_id,
            delivery_count: self.delivery_count,
            enqueued_time: self.enqueued_time,
            correlation_id: self.correlation_id,
            content_type: self.content_type,
            subject: self.subject,
            sequence_number: self.sequence_number,
            application_properties: self.application_properties,
            shadowed: self.shadowed,
            raw_body: self.raw_body,
            body,
        };
        (message, self.body)
    }

    /// The `Diagnostic-Id` application property (a W3C `traceparent` set by the sender's SDK).
    pub fn diagnostic_id(&self) -> Option<&str> {
        self.application_properties
            .get(DIAGNOSTIC_ID)
            .and_then(Value::as_str)
    }
}

/// Why a message body could not be decoded into the handler's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BodyDecodeError {
    /// Human-readable reason (serde error with line/column, or an encoding problem).
    pub message: String,
}

impl BodyDecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A message body type: how the body text becomes `Self`.
///
/// Implemented for every `DeserializeOwned` type (JSON; a string type that cannot take the body
/// as JSON receives the text itself) and for `Result<T, BodyDecodeError>`, which never fails.
///
/// `M` only tells the two implementations apart ([`Direct`] and [`Fallible`]); it is inferred.
pub trait MessageBody<M>: Sized + Send + 'static {
    /// Decodes the body `text`, or the reason the text itself could not be read (e.g. broken
    /// base64 for `dataType: binary`).
    fn decode(text: Result<&str, BodyDecodeError>) -> Result<Self, BodyDecodeError>;
}

/// Marks the [`MessageBody`] implementation of a body decoded before the handler runs.
#[derive(Debug)]
pub enum Direct {}

/// Marks the [`MessageBody`] implementation of `Result<T, BodyDecodeError>`.
#[derive(Debug)]
pub enum Fallible {}

impl<T: DeserializeOwned + Send + 'static> MessageBody<Direct> for T {
    fn decode(text: Result<&str, BodyDecodeError>) -> Result<Self, BodyDecodeError> {
        decode_json(text?)
    }
}

impl<T: DeserializeOwned + Send + 'static> MessageBody<Fallible> for Result<T, BodyDecodeError> {
    fn decode(text: Result<&str, BodyDecodeError>) -> Result<Self, BodyDecodeError> {
        Ok(text.and_then(decode_json))
    }
}

/// `T` from the body text: JSON first. A string type (`String`, `Box<str>`, …) that cannot take
/// the body as JSON (not a JSON string, or not JSON at all) receives the text itself;
/// `serde_json::Value` and structs never do.
fn decode_json<T: DeserializeOwned>(raw: &str) -> Result<T, BodyDecodeError> {
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
