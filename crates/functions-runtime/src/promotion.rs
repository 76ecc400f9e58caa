//! How the Functions host promotes message-body fields into `Metadata`, and how to recognise it.
//!
//! Source: azure-functions-host `src/WebJobs.Script/Utility.cs` `ApplyBindingData` (NOTES §0.3):
//! when the trigger value is a string that looks like JSON (`{..}`), every top-level property whose
//! value is neither null nor an array is written into the binding data, overwriting a system
//! property of the same name. Objects stay objects; everything else becomes `(string)JToken`, which
//! `GetHttpScriptInvocationContextValue` then JSON-serializes again (a quoted string).
//! Newtonsoft parses ISO-looking strings as dates (`DateParseHandling.DateTime`), so their
//! `(string)` form is the invariant-culture `MM/dd/yyyy HH:mm:ss`.

use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::well_known::Rfc3339};

/// The `Metadata` value the host emits for a promoted body property, or `None` when the property
/// is not promoted (null or array).
pub(crate) fn promoted_value(body_value: &Value) -> Option<Value> {
    match body_value {
        Value::Null | Value::Array(_) => None,
        Value::Object(map) => Some(Value::Object(map.clone())),
        scalar => {
            let text = dotnet_string(scalar)?;
            Some(Value::String(serde_json::to_string(&text).ok()?))
        }
    }
}

/// Whether `meta` may be the promoted form of `body_value`, i.e. a body field could have
/// overwritten the system property. Errs on the side of "yes" where the exact .NET rendering is not
/// certain (dates, floats).
pub(crate) fn could_be_promoted(meta: &Value, body_value: &Value) -> bool {
    match body_value {
        Value::Null | Value::Array(_) => false,
        Value::Object(map) => meta.as_object() == Some(map),
        scalar => {
            let Some(inner) = meta.as_str().and_then(unquote) else {
                // Promoted scalars are always quoted strings; anything else is the system's own.
                return false;
            };
            match scalar {
                Value::String(s) if looks_like_date(s) => true,
                Value::String(s) => inner == *s,
                Value::Bool(b) => inner.eq_ignore_ascii_case(if *b { "True" } else { "False" }),
                Value::Number(n) if n.is_f64() => match (inner.parse::<f64>(), n.as_f64()) {
                    (Ok(a), Some(b)) => a == b,
                    _ => true,
                },
                Value::Number(n) => inner == n.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => false,
            }
        }
    }
}

/// Top-level body fields the host would promote, as `(key, promoted value)`, in body order.
/// Keys ending in `trigger` are skipped: the host drops them from `Metadata`.
pub(crate) fn promoted_fields(body: &Map<String, Value>) -> Vec<(String, Value)> {
    body.iter()
        .filter(|(key, _)| !key.to_ascii_lowercase().ends_with("trigger"))
        .filter_map(|(key, value)| promoted_value(value).map(|v| (key.clone(), v)))
        .collect()
}

/// A JSON string literal's content (`"\"abc\""` → `abc`), if `text` is one.
pub(crate) fn unquote(text: &str) -> Option<String> {
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else {
        None
    }
}

/// `(string)JToken` for a scalar, as .NET renders it with the invariant culture.
fn dotnet_string(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => match parse_newtonsoft_date(s) {
            Some(date) => date,
            None => s.clone(),
        },
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => dotnet_double(f),
            (None, None, None) => n.to_string(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    })
}

/// `double.ToString(InvariantCulture)` on .NET Core 3.0+: shortest round-trip digits, scientific
/// notation (`1E+15`, `1E-05`) outside `[1e-5, 1e15)`.
fn dotnet_double(f: f64) -> String {
    let magnitude = f.abs();
    if f == 0.0 || (1e-5..1e15).contains(&magnitude) {
        return format!("{f}");
    }
    let sci = format!("{f:e}"); // e.g. "1.5e17", "-2e-7"
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}E{sign}{:02}", exponent.abs())
}

/// Newtonsoft's ISO date shape: `yyyy-MM-ddTHH:mm:ss` followed by an optional fraction and zone.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        || s.starts_with("/Date(")
}

/// A promoted ISO date string as `(string)JValue(DateTime)` renders it: `MM/dd/yyyy HH:mm:ss`.
/// Offsets other than `Z` are converted to local time by Newtonsoft; the host runs in UTC.
fn parse_newtonsoft_date(s: &str) -> Option<String> {
    if !looks_like_date(s) || s.starts_with("/Date(") {
        return None;
    }
    let format = time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
    let instant = match OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => t.to_offset(UtcOffset::UTC),
        Err(_) => {
            let local = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
            );
            PrimitiveDateTime::parse(s, &local).ok()?.assume_utc()
        }
    };
    instant.format(&format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_promote_to_quoted_dotnet_strings() {
        assert_eq!(promoted_value(&json!("1001")), Some(json!("\"1001\"")));
        assert_eq!(promoted_value(&json!(25.5)), Some(json!("\"25.5\"")));
        assert_eq!(promoted_value(&json!(7)), Some(json!("\"7\"")));
        assert_eq!(promoted_value(&json!(true)), Some(json!("\"True\"")));
        assert_eq!(promoted_value(&json!(1e21)), Some(json!("\"1E+21\"")));
        assert_eq!(promoted_value(&json!(0.000001)), Some(json!("\"1E-06\"")));
        assert_eq!(
            promoted_value(&json!("2024-05-01T12:00:00Z")),
            Some(json!("\"05/01/2024 12:00:00\""))
        );
    }

    #[test]
    fn objects_stay_objects_and_arrays_and_nulls_are_dropped() {
        assert_eq!(
            promoted_value(&json!({"id": "c-9"})),
            Some(json!({"id": "c-9"}))
        );
        assert_eq!(promoted_value(&json!([1, 2])), None);
        assert_eq!(promoted_value(&Value::Null), None);
    }

    #[test]
    fn recognises_promoted_values_only() {
        assert!(could_be_promoted(&json!("\"abc\""), &json!("abc")));
        assert!(!could_be_promoted(&json!("\"real-id\""), &json!("body-id")));
        // System numbers are unquoted; a promoted number is quoted.
        assert!(!could_be_promoted(&json!("1"), &json!(5)));
        assert!(could_be_promoted(&json!("\"5\""), &json!(5)));
        assert!(could_be_promoted(&json!("\"True\""), &json!(true)));
        assert!(could_be_promoted(&json!({"a": 1}), &json!({"a": 1})));
        assert!(!could_be_promoted(&json!({"a": 2}), &json!({"a": 1})));
        // Unquoted system dates can never be a promoted date.
        assert!(!could_be_promoted(
            &json!("2024-05-01T12:00:00+00:00"),
            &json!("2024-05-01T12:00:00Z")
        ));
        assert!(could_be_promoted(
            &json!("\"whatever\""),
            &json!("2024-05-01T12:00:00Z")
        ));
    }

    #[test]
    fn trigger_suffixed_keys_are_not_promoted() {
        let body = json!({"queueTrigger": "x", "a": 1, "list": [1]});
        let fields = promoted_fields(body.as_object().unwrap());
        assert_eq!(fields, vec![("a".to_owned(), json!("\"1\""))]);
    }

    #[test]
    fn unquote_only_accepts_string_literals() {
        assert_eq!(unquote("\"a\\\"b\""), Some("a\"b".to_owned()));
        assert_eq!(unquote("abc"), None);
        assert_eq!(unquote("\""), None);
    }
}
