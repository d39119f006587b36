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

    /// One `fetch` with kipp's headers: resolves `{ status, text, requestId, retryAfter }`,
    /// rejects like `fetch` (network, abort); `None` when `url` cannot make a `Request`.
    pub fn send(
        url: &str,
        method: &str,
        auth: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&str>,
        signal: &web_sys::AbortSignal,
    ) -> Option<js_sys::Promise>;

    /// Resolves after `ms`; rejects with the signal's reason when it aborts.
    pub fn sleep(ms: f64, signal: &web_sys::AbortSignal) -> js_sys::Promise;

    /// Aborts `controller` with `reason` after `ms`; returns the timer id.
    #[wasm_bindgen(js_name = abortAfter)]
    pub fn abort_after(controller: &web_sys::AbortController, ms: f64, reason: &str) -> JsValue;

    /// Forwards an abort of `from` (may be `undefined`) to `controller`.
    #[wasm_bindgen(js_name = linkSignal)]
    pub fn link_signal(from: &JsValue, controller: &web_sys::AbortController);
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` (window, worker or Node ≥ 19).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(f: &js_sys::Function, ms: f64) -> JsValue;

    /// The global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
}
