//! Borrowed JSON objects: keys and raw values point into the request body, so only the values
//! the runtime reads are ever decoded.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// An object key, borrowed unless it contains escapes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
pub(crate) struct Key<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl Borrow<str> for Key<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A JSON object whose values are left undecoded.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct RawObject<'a>(#[serde(borrow)] pub(crate) BTreeMap<Key<'a>, &'a RawValue>);

impl<'a> RawObject<'a> {
    /// Parses `text` as an object.
    pub(crate) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The raw value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.get(key).copied()
    }

    /// Entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> + '_ {
        self.0.iter().map(|(k, v)| (k.0.as_ref(), *v))
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What kind of JSON value `raw` holds, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Object,
    Array,
    Null,
    Scalar,
}

pub(crate) fn kind(raw: &RawValue) -> Kind {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'n') => Kind::Null,
        _ => Kind::Scalar,
    }
}

/// The string `raw` holds (unescaped), if it is a JSON string.
pub(crate) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    if kind(raw) != Kind::String {
        return None;
    }
    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_keys_and_keeps_values_raw() {
        let text = r#"{"a": {"x": [1, 2]}, "b\"q": "s\n", "c": null}"#;
        let object = RawObject::parse(text).unwrap();
        assert_eq!(object.len(), 3);
        assert_eq!(object.get("a").unwrap().get(), r#"{"x": [1, 2]}"#);
        assert_eq!(kind(object.get("a").unwrap()), Kind::Object);
        assert_eq!(kind(object.get("c").unwrap()), Kind::Null);
        let s = object.get("b\"q").unwrap();
        assert_eq!(string(s).as_deref(), Some("s\n"));
        assert!(matches!(
            RawObject::parse(r#"{"plain": "x"}"#)
                .unwrap()
                .0
                .keys()
                .next()
                .unwrap()
                .0,
            Cow::Borrowed(_)
        ));
    }
}
