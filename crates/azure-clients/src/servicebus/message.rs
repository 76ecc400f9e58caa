//! An outgoing message and its REST headers.

use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

use super::broker_properties::BrokerProperties;

/// A message to send.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// The body.
    pub body: String,
    /// `Content-Type` of the body (becomes the message's ContentType).
    pub content_type: String,
    /// `MessageId` (set it for duplicate detection; steps derive it from their input).
    pub message_id: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ScheduledEnqueueTimeUtc`: deliver no earlier than this.
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    /// `TimeToLive`.
    pub time_to_live: Option<Duration>,
    /// `Label` (the subject).
    pub label: Option<String>,
    /// Application (custom) properties; sent in the batch format's `UserProperties` so that their
    /// names keep their case.
    pub application_properties: BTreeMap<String, String>,
}

impl Default for OutgoingMessage {
    fn default() -> Self {
        Self {
            body: String::new(),
            content_type: "application/json".into(),
            message_id: None,
            correlation_id: None,
            scheduled_enqueue_time: None,
            time_to_live: None,
            label: None,
            application_properties: BTreeMap::new(),
        }
    }
}

impl OutgoingMessage {
    /// A JSON message with `body` serialized.
    pub fn json<T: serde::Serialize>(body: &T) -> Result<Self, serde_json::Error> {
        Ok(Self {
            body: serde_json::to_string(body)?,
            ..Self::default()
        })
    }

    /// The `BrokerProperties` this message is sent with.
    pub fn broker(&self) -> BrokerProperties {
        BrokerProperties {
            message_id: self.message_id.clone(),
            correlation_id: self.correlation_id.clone(),
            scheduled_enqueue_time_utc: self.scheduled_enqueue_time,
            time_to_live: self.time_to_live.map(|t| t.as_secs_f64()),
            label: self.label.clone(),
            ..BrokerProperties::default()
        }
    }

    /// The `BrokerProperties` header value (JSON; dates RFC 1123, `TimeToLive` in seconds).
    pub fn broker_properties(&self) -> String {
        self.broker().to_header()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn broker_properties_only_has_set_fields() {
        let m = OutgoingMessage {
            message_id: Some("m1".into()),
            time_to_live: Some(Duration::from_secs(90)),
            ..OutgoingMessage::default()
        };
        let v: serde_json::Value = serde_json::from_str(&m.broker_properties()).unwrap();
        assert_eq!(v, serde_json::json!({"MessageId": "m1", "TimeToLive": 90}));
    }
}
