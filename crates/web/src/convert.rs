//! kipp-core values → JS through serde-wasm-bindgen's serializer: maps become
//! plain objects, 64-bit integers become plain numbers (kipp-core keeps every
//! amount ≤ 2^53 − 1, so no BigInt ever appears). The other direction is
//! [`crate::decode`].

use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::Failure;

/// Serializes to a plain JS value (objects, not `Map`s; numbers, not BigInts).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value.serialize(&ser).map_err(|e| Failure::new("invalid_response", e.to_string()))
}

/// Serializes a request body to JSON text with the JS engine's `JSON.stringify`.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    let js = to_js(value)?;
    js_sys::JSON::stringify(&js)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| Failure::new("invalid_response", "could not serialize the request"))
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
