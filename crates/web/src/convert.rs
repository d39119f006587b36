//! kipp-core values → JS. Values handed to JavaScript (`FieldError[]`) go
//! through their JSON text ([`crate::write`]) and one `JSON.parse`. Integers
//! stay plain numbers (kipp-core keeps every amount ≤ 2^53 − 1). The other
//! direction is [`crate::decode`].

use wasm_bindgen::JsValue;

use crate::error::Failure;
use crate::write::{JsonWriter, ToJson};

/// A plain JS value (objects, arrays, numbers; never a `Map` or `BigInt`).
pub fn to_js<T: ToJson + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    js_sys::JSON::parse(&JsonWriter::text(value))
        .map_err(|_| Failure::new("invalid_response", "could not serialize the value"))
}

/// Reads an optional string property: `undefined`/`null` (or no object) → `None`; a value of
/// any other type is a `validation_failed` at `key`, never silently dropped (a number given as an
/// `idempotencyKey` must not become a fresh random key).
pub fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, Failure> {
    let v = prop(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| wrong_type(key, "must be a string"))
}

/// Reads an optional number property, as [`opt_string`] does.
pub fn opt_f64(obj: &JsValue, key: &str) -> Result<Option<f64>, Failure> {
    let v = prop(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64().map(Some).ok_or_else(|| wrong_type(key, "must be a number"))
}

/// `validation_failed` at `path` with code `invalid` (a wrong type, as in a request body).
#[must_use]
pub fn wrong_type(path: &str, message: &str) -> Failure {
    Failure::validation(vec![kipp_core::validate::FieldError::new(path, "invalid", message)])
}

/// Reads an optional property of any type (`undefined` when missing).
#[must_use]
pub fn prop(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
