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

    /// The client state the JS side works with (the checked options).
    pub fn conn(base: &str, token: Option<&str>, get_token: &JsValue, timeout_ms: f64, retries: u32) -> JsValue;

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
    pub fn wait_for(
        conn: &JsValue,
        id: &str,
        timeout_ms: f64,
        signal: JsValue,
        on_update: JsValue,
        on_error: JsValue,
    ) -> js_sys::Promise;

    /// Follows session `id` (already escaped) without a deadline; returns its `AbortController`,
    /// or throws a `KippError` for a callback that is not a function.
    #[wasm_bindgen(catch)]
    pub fn watch(conn: &JsValue, id: &str, on_update: &JsValue, on_error: JsValue) -> Result<JsValue, JsValue>;

    /// `location.origin` when it is a string.
    pub fn origin() -> Option<String>;

    /// Gives the snippet the [`crate::Runtime`] its `KippClient` calls.
    pub fn install(rt: JsValue);
}

// The snippet's public classes, for Rust callers (and the browser tests): the same methods
// as in JavaScript.
#[wasm_bindgen(module = "/src/js/kipp.js")]
extern "C" {
    /// A client of the kipp edge worker (`KippClient` of `js/kipp.js`).
    #[derive(Debug, Clone)]
    pub type KippClient;

    /// `new KippClient(options)`; Rust callers use [`KippClient::new`].
    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn construct(options: JsValue) -> Result<KippClient, JsValue>;
    /// Validates locally, then creates a session (`POST /ipp/v1/sessions`).
    #[wasm_bindgen(method, js_name = createSession)]
    pub fn create_session(this: &KippClient, request: JsValue, options: Option<JsValue>) -> js_sys::Promise;
    /// `GET /ipp/v1/sessions/{id}`.
    #[wasm_bindgen(method, js_name = getSession)]
    pub fn get_session(this: &KippClient, id: &str) -> js_sys::Promise;
    /// `PUT /ipp/v1/sessions/{id}/cancel`.
    #[wasm_bindgen(method, js_name = cancelSession)]
    pub fn cancel_session(this: &KippClient, id: &str) -> js_sys::Promise;
    /// `GET /ipp/v1/devices`.
    #[wasm_bindgen(method, js_name = listDevices)]
    pub fn list_devices(this: &KippClient, filter: Option<JsValue>) -> js_sys::Promise;
    /// `DELETE /ipp/v1/devices/{id}` (admin).
    #[wasm_bindgen(method, js_name = deleteDevice)]
    pub fn delete_device(this: &KippClient, id: &str) -> js_sys::Promise;
    /// `GET /kipp/v1/devices/{id}/current-session`: the device's open session or `null`.
    #[wasm_bindgen(method, js_name = deviceSession)]
    pub fn device_session(this: &KippClient, device_id: &str) -> js_sys::Promise;
    /// `GET /kipp/v1/me`.
    #[wasm_bindgen(method)]
    pub fn me(this: &KippClient) -> js_sys::Promise;
    /// Resolves with the session once it reaches a terminal status.
    #[wasm_bindgen(method, js_name = waitForOutcome)]
    pub fn wait_for_outcome(this: &KippClient, id: &str, options: Option<JsValue>) -> js_sys::Promise;
    /// Calls `onUpdate(session, state)` on every change until a terminal status.
    #[wasm_bindgen(method, catch)]
    pub fn watch(
        this: &KippClient,
        id: &str,
        on_update: js_sys::Function,
        options: Option<JsValue>,
    ) -> Result<WatchHandle, JsValue>;

    /// What `watch` returns.
    #[derive(Debug, Clone)]
    pub type WatchHandle;

    /// Stops watching (closes the WebSocket or the polling).
    #[wasm_bindgen(method)]
    pub fn close(this: &WatchHandle);
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` (window, worker or Node ≥ 19).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}
