//! The `BrokerProperties` header of the Service Bus REST protocol.
//!
//! Source: learn.microsoft.com/rest/api/servicebus/message-headers-and-properties (example in
//! `reference/functions/servicebus-rest-brokerproperties-example.json`): a JSON object; dates are
//! RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), `TimeToLive` is in seconds.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const RFC1123: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Parses an RFC 1123 date such as `Sun, 06 Nov 1994 08:49:37 GMT` (surrounding spaces allowed).
pub fn parse_rfc1123(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(text.trim(), RFC1123)
        .ok()
        .map(|t| t.assume_utc())
}

/// Formats a time as RFC 1123 in GMT.
pub fn format_rfc1123(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(RFC1123)
        .unwrap_or_default()
}

/// The broker properties a sender may set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BrokerProperties {
    /// `MessageId`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `CorrelationId`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `Label` (the subject)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `SessionId`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `TimeToLive`, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_live: Option<f64>,
    /// `ScheduledEnqueueTimeUtc`, parsed from RFC 1123.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    pub scheduled_enqueue_time_utc: Option<OffsetDateTime>,
    /// `To`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `ReplyTo`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
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
    /// `ScheduledEnqueueTimeUtc` is not an RFC 1123 date.
    #[error("BrokerProperties.ScheduledEnqueueTimeUtc is not an RFC 1123 date: {0:?}")]
    BadDate(String),
}

impl BrokerProperties {
    /// Parses the header value.
    pub fn parse(header: &str) -> Result<Self, BrokerPropertiesError> {
        let value: serde_json::Value = serde_json::from_str(header)
            .map_err(|e| BrokerPropertiesError::NotJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| BrokerPropertiesError::NotJson("not an object".into()))?;
        let text = |key: &'static str| -> Result<Option<String>, BrokerPropertiesError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(BrokerPropertiesError::WrongType(key)),
            }
        };
        let time_to_live = match obj.get("TimeToLive") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .ok_or(BrokerPropertiesError::WrongType("TimeToLive"))?,
            ),
        };
        let scheduled_enqueue_time_utc = match text("ScheduledEnqueueTimeUtc")? {
            None => None,
            Some(s) => Some(parse_rfc1123(&s).ok_or(BrokerPropertiesError::BadDate(s))?),
        };
        Ok(Self {
            message_id: text("MessageId")?,
            correlation_id: text("CorrelationId")?,
            label: text("Label")?,
            session_id: text("SessionId")?,
            time_to_live,
            scheduled_enqueue_time_utc,
            to: text("To")?,
            reply_to: text("ReplyTo")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rfc1123_round_trip() {
        let t = parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(format_rfc1123(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn refuses_bad_dates_and_types() {
        assert!(matches!(
            BrokerProperties::parse(r#"{"ScheduledEnqueueTimeUtc":"2024-01-01T00:00:00Z"}"#),
            Err(BrokerPropertiesError::BadDate(_))
        ));
        assert_eq!(
            BrokerProperties::parse(r#"{"MessageId":5}"#),
            Err(BrokerPropertiesError::WrongType("MessageId"))
        );
        assert!(BrokerProperties::parse("nope").is_err());
    }
}
