//! The invocation request envelope `{"Data": {..}, "Metadata": {..}}`, parsed in one pass:
//! `Data` values are unescaped once (they are the escape-heavy part), `Metadata` values are kept
//! raw so only the keys the runtime reads are ever decoded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::decode::EnvelopeError;
use crate::raw::{Key, RawObject};
use crate::trigger::TriggerOptions;

/// One `Data` entry: a JSON string (the normal case), or any other JSON value (lenient).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DataValue<'a> {
    /// The string's content, unescaped once.
    Text(Cow<'a, str>),
    /// Not a string.
    Json(Value),
}

/// The parsed envelope.
#[derive(Debug, Default)]
pub(crate) struct Envelope<'a> {
    pub(crate) data: BTreeMap<Key<'a>, DataValue<'a>>,
    pub(crate) metadata: RawObject<'a>,
}

impl<'a> Envelope<'a> {
    /// Parses a request body. Key names `Data`/`Metadata` are the host's; lowercase is tolerated.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, EnvelopeError> {
        let wire: Wire<'a> = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                EnvelopeError::MissingData
            } else {
                EnvelopeError::NotJson(e.to_string())
            }
        })?;
        let data = match wire.data {
            Some(Field::Object(data)) => data,
            _ => return Err(EnvelopeError::MissingData),
        };
        let metadata = match wire.metadata {
            None | Some(Field::Null) => RawObject::default(),
            Some(Field::Object(metadata)) => RawObject(metadata),
            Some(Field::Other) => return Err(EnvelopeError::BadMetadata),
        };
        Ok(Self { data, metadata })
    }

    /// The trigger's `Data` entry: the configured binding, else the only entry.
    pub(crate) fn trigger_value(
        &self,
        options: &TriggerOptions,
    ) -> Result<&DataValue<'a>, EnvelopeError> {
        if let Some(value) = options
            .binding_name
            .as_deref()
            .and_then(|name| self.data.get(name))
        {
            return Ok(value);
        }
        let mut values = self.data.values();
        match (values.next(), values.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(EnvelopeError::NoTriggerValue {
                expected: options.binding_name.clone(),
            }),
            (Some(_), Some(_)) => Err(EnvelopeError::AmbiguousData {
                found: self.data.keys().map(|k| k.0.to_string()).collect(),
            }),
        }
    }
}

#[derive(serde::Deserialize)]
struct Wire<'a> {
    #[serde(rename = "Data", alias = "data", borrow, default)]
    data: Option<Field<BTreeMap<Key<'a>, DataValue<'a>>>>,
    #[serde(rename = "Metadata", alias = "metadata", borrow, default)]
    metadata: Option<Field<BTreeMap<Key<'a>, &'a RawValue>>>,
}

/// A top-level member that should be an object; anything else is recorded, not an error, so the
/// caller can say which member was wrong.
enum Field<M> {
    Object(M),
    Null,
    Other,
}

impl<'de, K, V> Deserialize<'de> for Field<BTreeMap<K, V>>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor<K, V>(std::marker::PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for FieldVisitor<K, V>
        where
            K: Deserialize<'de> + Ord,
            V: Deserialize<'de>,
        {
            type Value = Field<BTreeMap<K, V>>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<K, V>()? {
                    entries.insert(key, value);
                }
                Ok(Field::Object(entries))
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Field::Null)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }

            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }
        }

        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for DataValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;

        impl<'de> Visitor<'de> for DataVisitor {
            type Value = DataValue<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Owned(v)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(DataValue::Json)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(DataValue::Json)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(DataValue::Json(Value::Null))
            }

            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(DataValue::Json(Value::Bool(v)))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DataValue::Json(Value::from(v)))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DataValue::Json(Value::from(v)))
            }

            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(DataValue::Json(Value::from(v)))
            }
        }

        deserializer.deserialize_any(DataVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_data_strings_and_raw_values_in_one_pass() {
        let body =
            br#"{"Data":{"a":"\"x\"","b":{"k":[1]},"c":7},"Metadata":{"M":"\"m\"","N":{"z":1}}}"#;
        let env = Envelope::parse(body).unwrap();
        assert_eq!(env.data.get("a"), Some(&DataValue::Text("\"x\"".into())));
        assert_eq!(env.data.get("b"), Some(&DataValue::Json(json!({"k": [1]}))));
        assert_eq!(env.data.get("c"), Some(&DataValue::Json(json!(7))));
        assert_eq!(env.metadata.get("M").unwrap().get(), r#""\"m\"""#);
        assert_eq!(env.metadata.get("N").unwrap().get(), r#"{"z":1}"#);
    }

    #[test]
    fn errors_name_the_wrong_member() {
        for missing in [
            &b"{}"[..],
            b"[1]",
            b"5",
            br#"{"Data":[1]}"#,
            br#"{"Data":"x"}"#,
        ] {
            assert!(
                matches!(Envelope::parse(missing), Err(EnvelopeError::MissingData)),
                "{}",
                String::from_utf8_lossy(missing)
            );
        }
        assert!(matches!(
            Envelope::parse(b"nope"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"{\"Data\":{}"),
            Err(EnvelopeError::NotJson(_))
        ));
        for bad in [
            &br#"{"Data":{},"Metadata":3}"#[..],
            br#"{"Data":{},"Metadata":[1,{}]}"#,
        ] {
            assert!(matches!(
                Envelope::parse(bad),
                Err(EnvelopeError::BadMetadata)
            ));
        }
        assert!(Envelope::parse(br#"{"data":{"m":"1"},"metadata":null}"#).is_ok());
    }

    #[test]
    fn picks_the_trigger_entry() {
        let empty = Envelope::parse(br#"{"Data":{}}"#).unwrap();
        assert!(matches!(
            empty.trigger_value(&TriggerOptions::default()),
            Err(EnvelopeError::NoTriggerValue { .. })
        ));
        let two = Envelope::parse(br#"{"Data":{"a":"1","b":"2"}}"#).unwrap();
        assert!(matches!(
            two.trigger_value(&TriggerOptions::default()),
            Err(EnvelopeError::AmbiguousData { .. })
        ));
        let named = TriggerOptions {
            binding_name: Some("b".into()),
            ..TriggerOptions::default()
        };
        assert_eq!(two.trigger_value(&named), Ok(&DataValue::Text("2".into())));
    }
}
