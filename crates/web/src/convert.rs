//! kipp-core values → JS. Request bodies are serialized to JSON text with
//! serde_json (kipp-core's own JSON dependency, serializer half only: no float
//! formatting is reached, since no kipp-core type has a float); values handed
//! to JavaScript (`FieldError[]`) go through that text and one `JSON.parse`.
//! Integers stay plain numbers (kipp-core keeps every amount ≤ 2^53 − 1). The
//! other direction is [`crate::decode`].

use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::Failure;

/// Serializes to a plain JS value (objects, arrays, numbers; never a `Map` or `BigInt`).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    let text = to_json(value)?;
    js_sys::JSON::parse(&text).map_err(|_| Failure::new("invalid_response", "could not serialize the value"))
}

/// Serializes a request body to JSON text.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|_| Failure::new("invalid_response", "could not serialize the request"))
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
