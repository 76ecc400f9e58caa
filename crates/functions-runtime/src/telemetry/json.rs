//! JSON text for log lines: field objects, string literals and timestamps.

use std::fmt;
use std::fmt::Write as _;

use tracing::field::{Field, Visit};

/// A visitor writing `{"name":value,...}`.
pub(super) struct JsonObject<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: fmt::Write> JsonObject<'a, W> {
    pub(super) fn new(out: &'a mut W) -> Self {
        let result = out.write_char('{');
        Self {
            out,
            first: true,
            result,
        }
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.out.write_char(',')?;
        }
        self.first = false;
        write_json_string(self.out, field.name())?;
        self.out.write_char(':')
    }

    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }

    pub(super) fn finish(self) -> fmt::Result {
        self.result?;
        self.out.write_char('}')
    }
}

impl<W: fmt::Write> Visit for JsonObject<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| write_json_string(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.entry(field, |out| write!(out, "{value}"));
        } else {
            self.entry(field, |out| write_json_string(out, &value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.entry(field, |out| write_json_string(out, &text));
    }
}

/// Writes `s` as a JSON string literal.
pub(super) fn write_json_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escape)?;
        }
        start = i + c.len_utf8();
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// Writes `at` as RFC 3339 UTC with microseconds, e.g. `2026-11-22T08:36:05.713210Z`.
pub(super) fn write_timestamp(out: &mut String, at: time::OffsetDateTime) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    );
}

/// Appends the fields of `extra` (an object, `{..}`) to `object` (an object, or empty).
pub(super) fn merge_object(object: &mut String, extra: &str) {
    if extra.len() <= 2 {
        return;
    }
    if object.len() <= 2 {
        object.clear();
        object.push_str(extra);
    } else {
        object.pop(); // '}'
        object.push(',');
        object.push_str(&extra[1..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_string(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = time::macros::datetime!(2026-11-02 08:03:05.0712109 UTC);
        let mut out = String::new();
        write_timestamp(&mut out, at);
        assert_eq!(out, "2026-11-02T08:03:05.071210Z");
    }

    #[test]
    fn objects_merge_without_duplicating_braces() {
        let mut object = String::new();
        merge_object(&mut object, "{}");
        assert_eq!(object, "");
        merge_object(&mut object, r#"{"a":1}"#);
        merge_object(&mut object, r#"{"b":"x"}"#);
        assert_eq!(object, r#"{"a":1,"b":"x"}"#);
    }

    #[test]
    fn visitor_writes_every_value_kind() {
        struct Probe;
        let mut out = String::new();
        let mut object = JsonObject::new(&mut out);
        let fields = tracing::field::FieldSet::new(
            &["s", "i", "u", "b", "f", "nan", "d"],
            tracing::callsite::Identifier(&Probe),
        );
        impl tracing::callsite::Callsite for Probe {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                unreachable!()
            }
        }
        let f = |name| fields.field(name).unwrap();
        object.record_str(&f("s"), "x");
        object.record_i64(&f("i"), -1);
        object.record_u64(&f("u"), 2);
        object.record_bool(&f("b"), true);
        object.record_f64(&f("f"), 0.5);
        object.record_f64(&f("nan"), f64::NAN);
        object.record_debug(&f("d"), &Some("q"));
        object.finish().unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"s":"x","i":-1,"u":2,"b":true,"f":0.5,"nan":"NaN","d":"Some(\"q\")"})
        );
    }
}
