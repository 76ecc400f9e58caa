//! Reading trigger `Metadata` the way the host encodes it (NOTES §3.1–3.2), leniently enough for
//! the hand-written doc samples, and without trusting values a body field may have overwritten.

use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

use crate::promotion::{could_be_promoted, unquote};

/// `Metadata` plus the knowledge of which of its keys a body field may have overwritten.
pub(crate) struct Metadata<'a> {
    map: &'a Map<String, Value>,
    shadowed: Vec<&'a str>,
}

impl<'a> Metadata<'a> {
    /// `body` is the decoded message body when it is a JSON object (the only case the host
    /// promotes from).
    pub(crate) fn new(map: &'a Map<String, Value>, body: Option<&Map<String, Value>>) -> Self {
        let shadowed = match body {
            Some(body) => map
                .iter()
                .filter(|(key, meta)| {
                    body.iter().any(|(body_key, body_value)| {
                        body_key.eq_ignore_ascii_case(key) && could_be_promoted(meta, body_value)
                    })
                })
                .map(|(key, _)| key.as_str())
                .collect(),
            None => Vec::new(),
        };
        Self { map, shadowed }
    }

    /// Keys whose value may come from the message body and are therefore ignored.
    pub(crate) fn shadowed(&self) -> &[&'a str] {
        &self.shadowed
    }

    /// The first of `keys` present and not shadowed.
    fn get(&self, keys: &[&str]) -> Option<&'a Value> {
        keys.iter()
            .filter(|key| !self.shadowed.contains(key))
            .find_map(|key| self.map.get(*key))
    }

    /// A string property: `"\"abc\""` (host), `"abc"` (doc samples), or a bare number.
    pub(crate) fn string(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| match self.get(&[key])? {
            Value::String(s) => Some(unquote(s).unwrap_or_else(|| s.clone())),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        })
    }

    /// An integer property: `"1"` (host), `1` (doc samples) or `"\"1\""` (early host, PR 5028).
    pub(crate) fn integer(&self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|key| match self.get(&[key])? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => {
                let s = s.trim();
                s.parse()
                    .ok()
                    .or_else(|| unquote(s).and_then(|inner| inner.trim().parse().ok()))
            }
            _ => None,
        })
    }

    /// A point in time: RFC 3339 with offset (`EnqueuedTime`), or ISO without offset, taken as UTC
    /// (`EnqueuedTimeUtc`); quoted or not.
    pub(crate) fn time(&self, keys: &[&str]) -> Option<OffsetDateTime> {
        keys.iter().find_map(|key| {
            let raw = self.get(&[key])?.as_str()?;
            let text = unquote(raw).unwrap_or_else(|| raw.to_owned());
            parse_time(text.trim())
        })
    }

    /// An object property (`ApplicationProperties`), also accepted as a JSON-object-in-a-string.
    pub(crate) fn object(&self, keys: &[&str]) -> Option<Map<String, Value>> {
        keys.iter().find_map(|key| object_value(self.get(&[key])?))
    }
}

/// An object, or a string holding a JSON object (how PR 5028 sent `sys`).
pub(crate) fn object_value(value: &Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map.clone()),
        Value::String(s) => serde_json::from_str::<Map<String, Value>>(s)
            .ok()
            .or_else(|| {
                unquote(s).and_then(|inner| serde_json::from_str::<Map<String, Value>>(&inner).ok())
            }),
        _ => None,
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

    #[test]
    fn reads_host_encodings() {
        let m = map(json!({
            "MessageId": "\"m-1\"",
            "DeliveryCount": "3",
            "EnqueuedTimeUtc": "2024-05-01T12:00:00",
            "EnqueuedTime": "2024-05-01T12:00:00+00:00",
            "ApplicationProperties": {"a": 1},
        }));
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
        let m = map(json!({
            "DequeueCount": 1,
            "Id": "800ae4b3",
            "QuotedCount": "\"7\"",
            "InsertionTime": "\"2019-10-09T17:58:31+00:00\"",
            "sys": "{\"RandGuid\": \"g\"}",
        }));
        let meta = Metadata::new(&m, None);
        assert_eq!(meta.integer(&["DeliveryCount", "DequeueCount"]), Some(1));
        assert_eq!(meta.integer(&["QuotedCount"]), Some(7));
        assert_eq!(
            meta.string(&["MessageId", "Id"]).as_deref(),
            Some("800ae4b3")
        );
        assert_eq!(
            meta.time(&["InsertionTime"]),
            Some(datetime!(2019-10-09 17:58:31 UTC))
        );
        assert_eq!(meta.object(&["sys"]), Some(map(json!({"RandGuid": "g"}))));
    }

    #[test]
    fn shadowed_keys_are_ignored_and_twins_used() {
        let m = map(json!({
            "MessageId": "\"from-body\"",
            "Subject": "\"from-body\"",
            "Label": "\"real-subject\"",
            "DeliveryCount": "2",
        }));
        let body =
            map(json!({"messageId": "from-body", "subject": "from-body", "deliveryCount": 9}));
        let meta = Metadata::new(&m, Some(&body));
        assert_eq!(meta.shadowed(), &["MessageId", "Subject"]);
        assert_eq!(meta.string(&["MessageId"]), None);
        assert_eq!(
            meta.string(&["Subject", "Label"]).as_deref(),
            Some("real-subject")
        );
        assert_eq!(meta.integer(&["DeliveryCount"]), Some(2));
    }
}
