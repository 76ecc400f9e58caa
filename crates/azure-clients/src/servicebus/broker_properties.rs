//! The `BrokerProperties` header of the Service Bus REST protocol, and its RFC 1123 dates.
//!
//! Source: learn.microsoft.com/rest/api/servicebus/message-headers-and-properties (example in
//! `reference/functions/servicebus-rest-brokerproperties-example.json`): a JSON object; dates are
//! RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), `TimeToLive` is in seconds. A sender sets the first
//! group of properties; the broker adds the second on receive (`DeliveryCount`, `LockToken`, ...).
//! Senders, the receiver and the local Service Bus stand-in all read and write it here.

use std::time::SystemTime;

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Formats a time as RFC 1123 in GMT, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (whole seconds;
/// times outside 1970–9999 are clamped to that range, which HTTP dates cannot leave).
pub fn rfc1123(t: OffsetDateTime) -> String {
    let lowest = OffsetDateTime::UNIX_EPOCH;
    let highest = time::macros::datetime!(9999-12-31 23:59:59 UTC);
    httpdate::fmt_http_date(SystemTime::from(t.clamp(lowest, highest)))
}

/// Parses an RFC 1123 date such as `Sun, 06 Nov 1994 08:49:37 GMT` (surrounding spaces allowed).
pub fn parse_rfc1123(text: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(text.trim())
        .ok()
        .map(OffsetDateTime::from)
}

/// The properties of a message's `BrokerProperties` header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerProperties {
    /// `MessageId`
    pub message_id: Option<String>,
    /// `CorrelationId`
    pub correlation_id: Option<String>,
    /// `Label` (the subject)
    pub label: Option<String>,
    /// `SessionId`
    pub session_id: Option<String>,
    /// `TimeToLive`, seconds.
    pub time_to_live: Option<f64>,
    /// `ScheduledEnqueueTimeUtc`
    pub scheduled_enqueue_time_utc: Option<OffsetDateTime>,
    /// `To`
    pub to: Option<String>,
    /// `ReplyTo`
    pub reply_to: Option<String>,
    /// `DeliveryCount` (set by the broker on receive).
    pub delivery_count: Option<u32>,
    /// `SequenceNumber` (broker).
    pub sequence_number: Option<i64>,
    /// `EnqueuedSequenceNumber` (broker).
    pub enqueued_sequence_number: Option<i64>,
    /// `EnqueuedTimeUtc` (broker).
    pub enqueued_time_utc: Option<OffsetDateTime>,
    /// `LockToken` (broker, peek-lock only).
    pub lock_token: Option<String>,
    /// `LockedUntilUtc` (broker, peek-lock only).
    pub locked_until_utc: Option<OffsetDateTime>,
    /// `State`: `Active`, `Scheduled`, `Deferred` or `DeadLettered` (broker).
    pub state: Option<String>,
}

/// Why a `BrokerProperties` header was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BrokerPropertiesError {
    /// Not a JSON object.
    #[error("BrokerProperties is not a JSON object: {0}")]
    NotJson(String),
    /// A property has the wrong JSON type.
    #[error("BrokerProperties.{0} has the wrong type")]
    WrongType(&'static str),
    /// A date property is not an RFC 1123 date.
    #[error("BrokerProperties.{0} is not an RFC 1123 date: {1:?}")]
    BadDate(&'static str, String),
}

impl BrokerProperties {
    /// Parses the header value.
    pub fn parse(header: &str) -> Result<Self, BrokerPropertiesError> {
        let value: Value = serde_json::from_str(header)
            .map_err(|e| BrokerPropertiesError::NotJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| BrokerPropertiesError::NotJson("not an object".into()))?;
        Self::from_object(obj)
    }

    /// Reads the properties from the header's JSON object (the batch form's `BrokerProperties`).
    pub fn from_object(obj: &Map<String, Value>) -> Result<Self, BrokerPropertiesError> {
        let present = |key: &'static str| obj.get(key).filter(|v| !v.is_null());
        let text = |key: &'static str| -> Result<Option<String>, BrokerPropertiesError> {
            match present(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(BrokerPropertiesError::WrongType(key)),
            }
        };
        let integer = |key: &'static str| -> Result<Option<i64>, BrokerPropertiesError> {
            present(key)
                .map(|v| v.as_i64().ok_or(BrokerPropertiesError::WrongType(key)))
                .transpose()
        };
        let date = |key: &'static str| -> Result<Option<OffsetDateTime>, BrokerPropertiesError> {
            text(key)?
                .map(|s| parse_rfc1123(&s).ok_or(BrokerPropertiesError::BadDate(key, s)))
                .transpose()
        };
        let time_to_live = present("TimeToLive")
            .map(|v| {
                v.as_f64()
                    .ok_or(BrokerPropertiesError::WrongType("TimeToLive"))
            })
            .transpose()?;
        let delivery_count = integer("DeliveryCount")?
            .map(|n| {
                u32::try_from(n).map_err(|_| BrokerPropertiesError::WrongType("DeliveryCount"))
            })
            .transpose()?;
        Ok(Self {
            message_id: text("MessageId")?,
            correlation_id: text("CorrelationId")?,
            label: text("Label")?,
            session_id: text("SessionId")?,
            time_to_live,
            scheduled_enqueue_time_utc: date("ScheduledEnqueueTimeUtc")?,
            to: text("To")?,
            reply_to: text("ReplyTo")?,
            delivery_count,
            sequence_number: integer("SequenceNumber")?,
            enqueued_sequence_number: integer("EnqueuedSequenceNumber")?,
            enqueued_time_utc: date("EnqueuedTimeUtc")?,
            lock_token: text("LockToken")?,
            locked_until_utc: date("LockedUntilUtc")?,
            state: text("State")?,
        })
    }

    /// The header's JSON object: only the properties that are set; dates RFC 1123, a whole
    /// `TimeToLive` as an integer.
    pub fn to_object(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                out.insert(key.to_string(), v);
            }
        };
        let text = |v: &Option<String>| v.clone().map(Value::from);
        let date = |v: &Option<OffsetDateTime>| v.map(|t| Value::from(rfc1123(t)));
        put("MessageId", text(&self.message_id));
        put("CorrelationId", text(&self.correlation_id));
        put("Label", text(&self.label));
        put("SessionId", text(&self.session_id));
        put(
            "TimeToLive",
            self.time_to_live.map(|t| {
                if t.fract() == 0.0 && t.abs() < 9.0e15 {
                    Value::from(t as i64)
                } else {
                    Value::from(t)
                }
            }),
        );
        put(
            "ScheduledEnqueueTimeUtc",
            date(&self.scheduled_enqueue_time_utc),
        );
        put("To", text(&self.to));
        put("ReplyTo", text(&self.reply_to));
        put("DeliveryCount", self.delivery_count.map(Value::from));
        put("SequenceNumber", self.sequence_number.map(Value::from));
        put(
            "EnqueuedSequenceNumber",
            self.enqueued_sequence_number.map(Value::from),
        );
        put("EnqueuedTimeUtc", date(&self.enqueued_time_utc));
        put("LockToken", text(&self.lock_token));
        put("LockedUntilUtc", date(&self.locked_until_utc));
        put("State", text(&self.state));
        out
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        Value::Object(self.to_object()).to_string()
    }
}

/// A custom property's value as it travels in a header: a quoted string, a number or a boolean
/// is taken as JSON (the REST docs quote string values: `Priority: "High"`), anything else as
/// plain text (`Customer: 12345,ABC`).
pub fn property_value(header_value: &str) -> Value {
    match serde_json::from_str::<Value>(header_value) {
        Ok(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(header_value.to_string()),
    }
}

/// The dead-letter sub-queue of a queue or subscription path.
pub const DEAD_LETTER_QUEUE: &str = "$DeadLetterQueue";

/// The path of `entity`'s dead-letter sub-queue: `{entity}/$DeadLetterQueue`.
pub fn dead_letter_path(entity: &str) -> String {
    format!("{}/{DEAD_LETTER_QUEUE}", entity.trim_end_matches('/'))
}

/// Splits `{entity}/$DeadLetterQueue` (any case, as Service Bus takes it) into the entity and
/// `true`; any other path is itself and `false`.
pub fn split_dead_letter(path: &str) -> (&str, bool) {
    let suffix_len = DEAD_LETTER_QUEUE.len() + 1;
    if path.len() > suffix_len && path.is_char_boundary(path.len() - suffix_len) {
        let (entity, suffix) = path.split_at(path.len() - suffix_len);
        if suffix[1..].eq_ignore_ascii_case(DEAD_LETTER_QUEUE) && suffix.starts_with('/') {
            return (entity, true);
        }
    }
    (path, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DOC_EXAMPLE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/functions/servicebus-rest-brokerproperties-example.json"
    ));

    #[test]
    fn parses_the_documented_example() {
        let p = BrokerProperties::parse(DOC_EXAMPLE).unwrap();
        assert_eq!(
            p.message_id.as_deref(),
            Some("{701332E1-B37B-4D29-AA0A-E367906C206E}")
        );
        assert_eq!(p.time_to_live, Some(90.0));
        assert_eq!(p.to.as_deref(), Some("http://contoso.com"));
        let t = p.scheduled_enqueue_time_utc.unwrap();
        assert_eq!(t.unix_timestamp(), 784111777);
    }

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
    fn rfc1123_round_trip() {
        let t = parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(rfc1123(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_rfc1123("  Sun, 06 Nov 1994 08:49:37 GMT "), Some(t));
        // Out of HTTP's range: clamped, not a panic.
        assert_eq!(
            rfc1123(datetime!(1960-01-01 00:00:00 UTC)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn refuses_bad_dates_and_types() {
        assert!(matches!(
            BrokerProperties::parse(r#"{"ScheduledEnqueueTimeUtc":"2024-01-01T00:00:00Z"}"#),
            Err(BrokerPropertiesError::BadDate("ScheduledEnqueueTimeUtc", _))
        ));
        assert_eq!(
            BrokerProperties::parse(r#"{"MessageId":5}"#),
            Err(BrokerPropertiesError::WrongType("MessageId"))
        );
        assert!(BrokerProperties::parse("nope").is_err());
    }

    #[test]
    fn received_properties_round_trip() {
        let p = BrokerProperties {
            message_id: Some("m1".into()),
            time_to_live: Some(90.0),
            delivery_count: Some(2),
            sequence_number: Some(7),
            enqueued_time_utc: Some(datetime!(2024-05-01 12:00:00 UTC)),
            lock_token: Some("t".into()),
            state: Some("Active".into()),
            ..BrokerProperties::default()
        };
        let header = p.to_header();
        assert!(header.contains(r#""TimeToLive":90"#), "{header}");
        assert!(header.contains("Wed, 01 May 2024 12:00:00 GMT"), "{header}");
        assert_eq!(BrokerProperties::parse(&header).unwrap(), p);
    }

    #[test]
    fn dead_letter_paths() {
        assert_eq!(dead_letter_path("q"), "q/$DeadLetterQueue");
        assert_eq!(split_dead_letter("q/$deadletterqueue"), ("q", true));
        assert_eq!(
            split_dead_letter("t/subscriptions/s/$DeadLetterQueue"),
            ("t/subscriptions/s", true)
        );
        assert_eq!(split_dead_letter("q"), ("q", false));
        assert_eq!(
            split_dead_letter("$DeadLetterQueue"),
            ("$DeadLetterQueue", false)
        );
        assert_eq!(
            split_dead_letter("q$DeadLetterQueue"),
            ("q$DeadLetterQueue", false)
        );
    }

    #[test]
    fn property_values() {
        assert_eq!(property_value("\"High\""), "High");
        assert_eq!(property_value("3"), 3);
        assert_eq!(property_value("12345,ABC"), "12345,ABC");
    }
}
