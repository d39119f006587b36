//! JS values ↔ kipp-core types through serde-wasm-bindgen: maps become plain
//! objects, 64-bit integers become plain numbers (kipp-core keeps every amount
//! ≤ 2^53 − 1, so no BigInt ever appears), and a decoding failure is reported
//! as a field error at its JSON path, like the worker does.

use kipp_core::api::field_error_from_serde;
use kipp_core::validate::FieldError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::Failure;

/// Serializes to a plain JS value (objects, not `Map`s; numbers, not BigInts).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value.serialize(&ser).map_err(|e| Failure::new("invalid_response", e.to_string()))
}

/// Deserializes a JS value; a failure is one field error at its path
/// (`order_items[1].unit_price`).
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, FieldError> {
    let de = serde_wasm_bindgen::Deserializer::from(value);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        field_error_from_serde(if path == "." { "" } else { &path }, &msg, false)
    })
}

/// Deserializes and runs kipp-core's rules: every broken rule, or the value.
pub fn decode_valid<T: DeserializeOwned + kipp_core::api::Validate>(value: JsValue) -> Result<T, Vec<FieldError>> {
    if value.is_undefined() || value.is_null() {
        return Err(vec![FieldError::new("", "required", "a request object is required")]);
    }
    let v: T = from_js(value).map_err(|e| vec![e])?;
    let errors = v.validate();
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(errors)
    }
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
