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

/// Reads an optional string property (`undefined`/`null` → `None`).
#[must_use]
pub fn opt_string(obj: &JsValue, key: &str) -> Option<String> {
    if !obj.is_object() {
        return None;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).ok().and_then(|v| v.as_string())
}

/// Reads an optional number property.
#[must_use]
pub fn opt_f64(obj: &JsValue, key: &str) -> Option<f64> {
    if !obj.is_object() {
        return None;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).ok().and_then(|v| v.as_f64())
}

/// Reads an optional property of any type (`undefined` when missing).
#[must_use]
pub fn prop(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
