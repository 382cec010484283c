//! JSON read strictly: a document that names the same key twice in one
//! object is refused, at any depth. `serde_json` keeps the last value, so
//! `{"effect":"deny","effect":"permit"}` would be stored as a permit while a
//! proxy, a log or a reviewer that keeps the first reads a deny. Every JSON
//! document Steward takes from a caller (HTTP bodies, and the JSON texts
//! gRPC messages carry) is read here.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::Error;

/// Parses `bytes` as one JSON document; a repeated key, trailing data or
/// malformed JSON is `invalid_request` saying what and where.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| Error::invalid_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Parses `text` as one JSON document (see [`parse`]).
pub fn parse_str(text: &str) -> Result<Value, Error> {
    parse(text.as_bytes())
}

/// Builds a [`Value`] like `serde_json`'s own, refusing repeated keys.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key `{}` is repeated",
                    key.chars()
                        .take(64)
                        .map(|c| if c.is_control() { '?' } else { c })
                        .collect::<String>()
                )));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_read_as_serde_json_reads_them() {
        for text in [
            r#"{"a":1,"b":[1,-2,3.5,true,null,"x"],"c":{"d":{}}}"#,
            "[]",
            "\"s\"",
            "18446744073709551615",
            "-9223372036854775808",
            " {\"unicode\":\"caf\\u00e9\"} ",
        ] {
            let strict = parse_str(text).unwrap();
            let loose: Value = serde_json::from_str(text).unwrap();
            assert_eq!(strict, loose, "{text}");
        }
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        for text in [
            r#"{"effect":"deny","effect":"permit"}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"[{"x":1},{"y":2,"y":3}]"#,
            r#"{"requested_permission":{"resource_set_id":"a","scopes":[],"resource_set_id":"b"}}"#,
        ] {
            let Err(Error::InvalidRequest(why)) = parse_str(text) else {
                panic!("{text} must be refused");
            };
            assert!(why.contains("is repeated"), "{why}");
        }
        let Err(Error::InvalidRequest(why)) = parse_str(r#"{"effect":"deny","effect":"permit"}"#)
        else {
            panic!("refused");
        };
        assert!(why.contains("`effect`"), "{why}");
        // The same key in sibling objects is fine.
        assert_eq!(
            parse_str(r#"[{"a":1},{"a":2}]"#).unwrap(),
            json!([{"a": 1}, {"a": 2}])
        );
    }

    #[test]
    fn malformed_documents_and_trailing_data_are_refused() {
        for text in ["", "{", "{}{}", "{} x", "[1,]", "{\"a\"}", "nul"] {
            assert!(
                matches!(parse_str(text), Err(Error::InvalidRequest(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_str(&deep).is_err());
    }
}
