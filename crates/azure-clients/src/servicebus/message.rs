//! An outgoing message and its REST headers.

use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

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

    /// The `BrokerProperties` header value (JSON; dates RFC 1123, `TimeToLive` in seconds).
    pub fn broker_properties(&self) -> String {
        let mut props = serde_json::Map::new();
        if let Some(id) = &self.message_id {
            props.insert("MessageId".into(), id.clone().into());
        }
        if let Some(id) = &self.correlation_id {
            props.insert("CorrelationId".into(), id.clone().into());
        }
        if let Some(t) = self.scheduled_enqueue_time {
            props.insert("ScheduledEnqueueTimeUtc".into(), rfc1123(t).into());
        }
        if let Some(ttl) = self.time_to_live {
            let value: serde_json::Value = if ttl.subsec_nanos() == 0 {
                ttl.as_secs().into()
            } else {
                ttl.as_secs_f64().into()
            };
            props.insert("TimeToLive".into(), value);
        }
        if let Some(label) = &self.label {
            props.insert("Label".into(), label.clone().into());
        }
        serde_json::Value::Object(props).to_string()
    }
}

const RFC1123: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Formats a time as RFC 1123 in GMT, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn rfc1123(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(RFC1123)
        .expect("RFC 1123 format is valid for any date with a 4-digit year")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rfc1123_matches_the_docs_example() {
        assert_eq!(
            rfc1123(datetime!(1994-11-06 08:49:37 UTC)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            rfc1123(datetime!(1994-11-06 09:49:37 +01:00)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

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
