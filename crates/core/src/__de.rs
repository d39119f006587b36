//! Run-time support of `#[derive(kipp_derive::MapDeserialize)]` (not a public API): the field
//! key, decoded once for every struct (not one key decoder per struct, as serde's derive
//! has), and serde's rule for a field that is absent.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::forward_to_deserialize_any;

/// A struct's field key: its index in `fields`, or `usize::MAX` for a key the struct does not
/// have (refused with serde's `unknown field` message when `deny`).
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The struct's field names as they appear on the wire.
    pub fields: &'static [&'static str],
    /// True for `#[serde(deny_unknown_fields)]`.
    pub deny: bool,
}

impl<'de> DeserializeSeed<'de> for Key {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        match self.fields.iter().position(|f| *f == v) {
            Some(i) => Ok(i),
            None if self.deny => Err(E::unknown_field(v, self.fields)),
            None => Ok(usize::MAX),
        }
    }
}

/// The value of an absent field that has no `#[serde(default)]`: serde's rule (an error
/// naming the field, unless the type accepts "no value", as `Option` does).
pub fn missing<'de, T: de::Deserialize<'de>, E: de::Error>(field: &'static str) -> Result<T, E> {
    T::deserialize(Missing(field, PhantomData))
}

struct Missing<E>(&'static str, PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for Missing<E> {
    type Error = E;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
        Err(E::missing_field(self.0))
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use crate::api::sessions::OrderItem;
    use crate::validate::FieldError;

    fn err<T: serde::de::DeserializeOwned + core::fmt::Debug>(json: &str) -> String {
        serde_json::from_str::<T>(json).unwrap_err().to_string()
    }

    #[test]
    fn reads_objects_with_serde_messages() {
        let e: FieldError = serde_json::from_str(r#"{"path":"a","code":"b","message":"c","x":1}"#).unwrap();
        assert_eq!((e.path.as_str(), e.code.as_str(), e.message.as_str()), ("a", "b", "c"));
        assert_eq!(err::<FieldError>(r#"{"path":"a","code":"b"}"#), "missing field `message` at line 1 column 23");
        assert_eq!(err::<FieldError>(r#"{"path":"a","path":"b"}"#), "duplicate field `path` at line 1 column 18");
        assert_eq!(
            err::<FieldError>(r#""x""#),
            r#"invalid type: string "x", expected struct FieldError at line 1 column 3"#
        );
        // No array form (serde's derive would read the fields in order).
        assert_eq!(
            err::<FieldError>(r#"["a","b","c"]"#),
            "invalid type: sequence, expected struct FieldError at line 1 column 0"
        );
        // A missing `Option` is `None`; `rename` is the wire name.
        let item: OrderItem = serde_json::from_str(
            r#"{"type":"discount","name":"n","unit_price":1,"total_amount":1,"tax_rate":0,"total_tax_amount":0}"#,
        )
        .unwrap();
        assert!(item.item_type.is_some() && item.quantity.is_none());
    }

    /// serde's text for each kind of unexpected value (third_party/serde_json/KIPP.md).
    #[test]
    fn unexpected_values_keep_serde_text() {
        for (json, kind) in [
            ("1.5", "floating point `1.5`"),
            ("-2", "integer `-2`"),
            ("true", "boolean `true`"),
            (r#""a\"b""#, r#"string "a\"b""#),
            ("[]", "sequence"),
            ("{}", "map"),
            ("null", "null"),
        ] {
            let msg = err::<u8>(json);
            assert!(
                msg.starts_with(&format!(
                    "invalid {}: {kind}, expected u8",
                    if json == "-2" { "value" } else { "type" }
                )),
                "{json}: {msg}"
            );
        }
        assert!(err::<bool>("7").starts_with("invalid type: integer `7`, expected a boolean"));
    }

    #[cfg(feature = "token")]
    #[test]
    fn deny_unknown_fields_names_the_known_ones() {
        let msg = err::<crate::token::Claims>(r#"{"jti":"a","nope":1}"#);
        assert!(msg.starts_with("unknown field `nope`, expected one of `jti`, "), "{msg}");
    }
}
