//! Raw bindings: the package's own JS snippet (`js/kipp.js`) and the few
//! globals used directly. Nothing here has logic.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/kipp.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeKippError)]
    pub fn make_kipp_error(
        code: &str,
        message: &str,
        status: Option<u16>,
        field_errors: JsValue,
        retryable: bool,
        request_id: Option<&str>,
    ) -> JsValue;

    /// `JSON.stringify(value)` when it gives a string, else `undefined`.
    #[wasm_bindgen(js_name = jsonText)]
    pub fn json_text(value: &JsValue) -> JsValue;

    /// UTF-8 of `text` written straight into `buf` (one native `encodeInto`,
    /// not wasm-bindgen's per-character copy); returns the bytes written, or
    /// -1 when `buf` is too small.
    #[wasm_bindgen(js_name = utf8Into)]
    pub fn utf8_into(text: &js_sys::JsString, buf: &mut [u8]) -> i32;

    /// The client state the JS side works with (checked options and the [`crate::Runtime`]).
    pub fn conn(
        base: &str,
        token: Option<&str>,
        get_token: &JsValue,
        timeout_ms: f64,
        retries: u32,
        rt: JsValue,
    ) -> JsValue;

    /// Carries out one call (token, `fetch`, time limit, retries); resolves with the parsed
    /// answer, rejects with a `KippError`.
    pub fn call(
        conn: &JsValue,
        method: &str,
        path: &str,
        body: Option<&str>,
        idempotency_key: Option<&str>,
        retry: bool,
        nullable: bool,
    ) -> js_sys::Promise;

    /// Follows session `id` (already escaped) until a terminal status, the deadline or the signal.
    #[wasm_bindgen(js_name = waitFor)]
    pub fn wait_for(conn: &JsValue, id: &str, timeout_ms: f64, signal: JsValue, on_update: JsValue) -> js_sys::Promise;

    /// Follows session `id` (already escaped) without a deadline; returns its `AbortController`.
    pub fn watch(conn: &JsValue, id: &str, on_update: &js_sys::Function, on_error: JsValue) -> JsValue;

    /// Aborts a `watch` (its controller) with the reason `"closed"`.
    #[wasm_bindgen(js_name = closeWatch)]
    pub fn close_watch(ctl: &JsValue);
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` (window, worker or Node ≥ 19).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}
