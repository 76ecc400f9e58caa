//! The typed Service Bus message a handler receives.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A Service Bus message as delivered by the `serviceBusTrigger` (cardinality one).
///
/// System properties come from `Metadata`; a property whose value may have been overwritten by a
/// same-named top-level field of the message body (the host promotes body fields into `Metadata`,
/// NOTES §0.3) is treated as absent rather than trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBusMessage<T> {
    /// `MessageId` (storage-queue triggers: `Id`).
    pub message_id: Option<String>,
    /// `DeliveryCount` (storage-queue triggers: `DequeueCount`); `1` when the host sent none.
    pub delivery_count: u32,
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
    /// Body text as received, after unwrapping the host's encoding (base64 for `binary`).
    pub raw_body: String,
    /// The body decoded into `T`, or why it could not be; the handler decides what a bad body means.
    pub body: Result<T, BodyDecodeError>,
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
