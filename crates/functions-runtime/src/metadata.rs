//! Reading trigger `Metadata` the way the host encodes it (NOTES §3.1–3.2), leniently enough for
//! the hand-written doc samples, and without trusting values a body field may have overwritten.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

use crate::promotion::{could_be_promoted, unquote};
use crate::raw::{self, Kind, RawObject};

/// Every `Metadata` key the runtime reads (Service Bus and storage-queue trigger properties).
pub(crate) const SYSTEM_KEYS: &[&str] = &[
    "MessageId",
    "Id",
    "DeliveryCount",
    "DequeueCount",
    "EnqueuedTime",
    "EnqueuedTimeUtc",
    "InsertionTime",
    "CorrelationId",
    "ContentType",
    "Subject",
    "Label",
    "SequenceNumber",
    "ApplicationProperties",
    "UserProperties",
    "sys",
];

/// `Metadata` plus the knowledge of which of its keys a body field may have overwritten.
pub(crate) struct Metadata<'a> {
    map: &'a RawObject<'a>,
    shadowed: Vec<&'a str>,
}

impl<'a> Metadata<'a> {
    /// `body` is the message body's top level when it is a JSON object (the only case the host
    /// promotes from).
    pub(crate) fn new(map: &'a RawObject<'a>, body: Option<&RawObject<'_>>) -> Self {
        // Only the system keys the runtime reads matter; promoted body fields are in `Metadata`
        // too and trivially "collide" with themselves.
        let shadowed = match body {
            Some(body) if body.len() > 0 => map
                .iter()
                .filter(|(key, _)| SYSTEM_KEYS.contains(key))
                .filter(|(key, meta)| {
                    body.iter().any(|(body_key, body_value)| {
                        body_key.eq_ignore_ascii_case(key)
                            && raw_could_be_promoted(meta, body_value)
                    })
                })
                .map(|(key, _)| key)
                .collect(),
            _ => Vec::new(),
        };
        Self { map, shadowed }
    }

    /// Keys whose value may come from the message body and are therefore ignored.
    pub(crate) fn shadowed(&self) -> &[&'a str] {
        &self.shadowed
    }

    /// The value of `key`, unless absent or shadowed.
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        debug_assert!(SYSTEM_KEYS.contains(&key), "{key} must be in SYSTEM_KEYS");
        if self.shadowed.contains(&key) {
            return None;
        }
        self.map.get(key)
    }

    /// A string property: `"\"abc\""` (host), `"abc"` (doc samples), or a bare number.
    pub(crate) fn string(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| {
            let value = self.get(key)?;
            match raw::kind(value) {
                Kind::String => {
                    let s = raw::string(value)?;
                    Some(unquote(&s).unwrap_or_else(|| s.into_owned()))
                }
                Kind::Scalar => Some(value.get().trim().to_owned()),
                Kind::Object | Kind::Array | Kind::Null => None,
            }
        })
    }

    /// An integer property: `"1"` (host), `1` (doc samples) or `"\"1\""` (early host, PR 5028).
    pub(crate) fn integer(&self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|key| {
            let value = self.get(key)?;
            match raw::kind(value) {
                Kind::Scalar => value.get().trim().parse().ok(),
                Kind::String => {
                    let s = raw::string(value)?;
                    let s = s.trim();
                    s.parse()
                        .ok()
                        .or_else(|| unquote(s).and_then(|inner| inner.trim().parse().ok()))
                }
                Kind::Object | Kind::Array | Kind::Null => None,
            }
        })
    }

    /// A point in time: RFC 3339 with offset (`EnqueuedTime`), or ISO without offset, taken as UTC
    /// (`EnqueuedTimeUtc`); quoted or not.
    pub(crate) fn time(&self, keys: &[&str]) -> Option<OffsetDateTime> {
        keys.iter().find_map(|key| {
            let s = raw::string(self.get(key)?)?;
            match unquote(&s) {
                Some(inner) => parse_time(inner.trim()),
                None => parse_time(s.trim()),
            }
        })
    }

    /// A string member of `sys` (an object; a JSON-object-in-a-string in PR 5028's host).
    pub(crate) fn sys_string(&self, member: &str) -> Option<String> {
        let sys = self.get("sys")?;
        match raw::kind(sys) {
            Kind::Object => {
                let object = RawObject::parse(sys.get()).ok()?;
                raw::string(object.get(member)?).map(Cow::into_owned)
            }
            _ => object_value(sys)?
                .get(member)
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    /// An object property (`ApplicationProperties`), also accepted as a JSON-object-in-a-string.
    pub(crate) fn object(&self, keys: &[&str]) -> Option<Map<String, Value>> {
        keys.iter().find_map(|key| object_value(self.get(key)?))
    }
}

/// An object, or a string holding a JSON object (how PR 5028 sent `sys`).
fn object_value(value: &RawValue) -> Option<Map<String, Value>> {
    match raw::kind(value) {
        Kind::Object => serde_json::from_str(value.get()).ok(),
        Kind::String => {
            let s = raw::string(value)?;
            serde_json::from_str::<Map<String, Value>>(&s)
                .ok()
                .or_else(|| {
                    unquote(&s)
                        .and_then(|inner| serde_json::from_str::<Map<String, Value>>(&inner).ok())
                })
        }
        Kind::Array | Kind::Null | Kind::Scalar => None,
    }
}

/// [`could_be_promoted`] on raw values; only called for keys that collide with body keys.
fn raw_could_be_promoted(meta: &RawValue, body_value: &RawValue) -> bool {
    match (
        serde_json::from_str::<Value>(meta.get()),
        serde_json::from_str::<Value>(body_value.get()),
    ) {
        (Ok(meta), Ok(body_value)) => could_be_promoted(&meta, &body_value),
        _ => false,
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let no_offset = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(text, &no_offset)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn text(v: Value) -> String {
        v.to_string()
    }

    #[test]
    fn reads_host_encodings() {
        let m = text(json!({
            "MessageId": "\"m-1\"",
            "DeliveryCount": "3",
            "EnqueuedTimeUtc": "2024-05-01T12:00:00",
            "EnqueuedTime": "2024-05-01T12:00:00+00:00",
            "ApplicationProperties": {"a": 1},
        }));
        let m = RawObject::parse(&m).unwrap();
        let meta = Metadata::new(&m, None);
        assert_eq!(meta.string(&["MessageId"]).as_deref(), Some("m-1"));
        assert_eq!(meta.integer(&["DeliveryCount"]), Some(3));
        assert_eq!(
            meta.time(&["EnqueuedTime"]),
            Some(datetime!(2024-05-01 12:00:00 UTC))
        );
        assert_eq!(
            meta.time(&["EnqueuedTimeUtc"]),
            Some(datetime!(2024-05-01 12:00:00 UTC))
        );
        assert_eq!(
            meta.object(&["ApplicationProperties"]),
            Some(map(json!({"a": 1})))
        );
    }

    #[test]
    fn reads_doc_sample_and_early_host_encodings() {
        let m = text(json!({
            "DequeueCount": 1,
            "Id": "800ae4b3",
            "SequenceNumber": "\"7\"",
            "InsertionTime": "\"2019-10-09T17:58:31+00:00\"",
            "sys": "{\"RandGuid\": \"g\"}",
        }));
        let m = RawObject::parse(&m).unwrap();
        let meta = Metadata::new(&m, None);
        assert_eq!(meta.integer(&["DeliveryCount", "DequeueCount"]), Some(1));
        assert_eq!(meta.integer(&["SequenceNumber"]), Some(7));
        assert_eq!(
            meta.string(&["MessageId", "Id"]).as_deref(),
            Some("800ae4b3")
        );
        assert_eq!(
            meta.time(&["InsertionTime"]),
            Some(datetime!(2019-10-09 17:58:31 UTC))
        );
        assert_eq!(meta.object(&["sys"]), Some(map(json!({"RandGuid": "g"}))));
        assert_eq!(meta.sys_string("RandGuid").as_deref(), Some("g"));
    }

    #[test]
    fn shadowed_keys_are_ignored_and_twins_used() {
        let m = text(json!({
            "MessageId": "\"from-body\"",
            "Subject": "\"from-body\"",
            "Label": "\"real-subject\"",
            "DeliveryCount": "2",
        }));
        let body =
            text(json!({"messageId": "from-body", "subject": "from-body", "deliveryCount": 9}));
        let body = RawObject::parse(&body).unwrap();
        let m = RawObject::parse(&m).unwrap();
        let meta = Metadata::new(&m, Some(&body));
        assert_eq!(meta.shadowed(), &["MessageId", "Subject"]);
        let promoted =
            text(json!({"MessageId": "\"real\"", "orderId": "\"1\"", "customer": {"id": 1}}));
        let promoted = RawObject::parse(&promoted).unwrap();
        let body = text(json!({"orderId": "1", "customer": {"id": 1}}));
        let body = RawObject::parse(&body).unwrap();
        assert!(
            Metadata::new(&promoted, Some(&body)).shadowed().is_empty(),
            "ordinary promoted fields are not system properties"
        );
        assert_eq!(meta.string(&["MessageId"]), None);
        assert_eq!(
            meta.string(&["Subject", "Label"]).as_deref(),
            Some("real-subject")
        );
        assert_eq!(meta.integer(&["DeliveryCount"]), Some(2));
    }
}
