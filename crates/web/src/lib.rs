//! # kipp-web
//!
//! The browser package of kipp (npm `kipp-web`): a typed client for the kipp
//! edge worker, offline validation and money formatting, built with
//! wasm-bindgen. This file holds only the `#[wasm_bindgen]` exports, each a
//! few lines; the work is done in plain Rust:
//!
//! | module | what it holds |
//! |---|---|
//! | [`api`] | each client operation: decode + validate with kipp-core, then call |
//! | [`client`] | the [`client::Call`] of an operation, the client's options, idempotency keys |
//! | [`decode`], [`json`] | JS request objects → kipp-core types, every field error with its path |
//! | [`convert`] | kipp-core values → JSON text (serde_json) → JS |
//! | [`error`] | the failure type and its stable codes (`KippError` in JS) |
//! | `alloc` | the wasm allocator (size classes; the one module with `unsafe`) |
//!
//! Carrying calls out (`fetch`, token refresh, retries with backoff) and
//! following a session live (WebSocket, polling with jittered backoff, abort,
//! deadline) is JavaScript plumbing in the package's snippet `js/kipp.js`:
//! no wasm async runtime and no closures ship. An error answer comes back to
//! Rust ([`Runtime::failure`]) to become a `KippError`.
//!
//! No cargo features: kipp-core is used without `webhook`, so no HMAC code
//! ships to browsers.
// `unsafe` only in `alloc` (the allocator), which allows it for itself.
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
pub mod alloc;
pub mod api;
pub mod client;
pub mod convert;
pub mod decode;
pub mod error;
mod js;
pub mod json;

use js_sys::{Function, Promise};
use kipp_core::ids::{escape_segment, SessionId};
use wasm_bindgen::prelude::*;

use crate::convert::{opt_f64, prop};
use crate::error::Failure;

/// Power-of-two size classes instead of std's dlmalloc: ~7 KB less wasm.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: alloc::Classes = alloc::Classes::new();

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// Default `timeoutMs` of `waitForOutcome`: the session lifetime.
const DEFAULT_WAIT_MS: f64 = 900_000.0;

fn rejected(f: Failure) -> Promise {
    Promise::reject(&f.into_js())
}

/// A client of the kipp edge worker.
#[wasm_bindgen]
#[derive(Debug)]
pub struct KippClient {
    /// The JS side's state (`conn` in `js/kipp.js`).
    conn: JsValue,
}

impl KippClient {
    /// The one path of every plain call: checked in Rust, carried out by `call` in the snippet.
    fn run(&self, call: Result<client::Call, Failure>) -> Promise {
        match call {
            Ok(c) => js::call(
                &self.conn,
                c.method,
                &c.path,
                c.body.as_deref(),
                c.idempotency_key.as_deref(),
                c.retry,
                c.nullable,
            ),
            Err(f) => rejected(f),
        }
    }
}

/// What the snippet asks of Rust while it carries calls out: the `KippError` of
/// an error answer (problem details decoded here) and which statuses are
/// terminal (kipp-core's). Internal: not in the `.d.ts`.
#[wasm_bindgen(skip_typescript, js_name = __KippRuntime)]
#[derive(Debug, Clone, Copy)]
pub struct Runtime;

#[wasm_bindgen(js_class = __KippRuntime)]
impl Runtime {
    /// The `KippError` for an error answer (`status`, body `text`, `x-request-id`,
    /// `Retry-After` in ms).
    pub fn failure(&self, status: u16, text: &str, request_id: Option<String>, retry_after_ms: Option<u32>) -> JsValue {
        error::Failure::from_response(status, text, request_id, retry_after_ms).into_js()
    }

    /// True for FINALIZED, CANCELLED, EXPIRED and FAILED.
    #[wasm_bindgen(js_name = isTerminal)]
    pub fn is_terminal(&self, status: &str) -> bool {
        kipp_core::api::sessions::SessionStatus::from_wire(status).is_terminal()
    }
}

#[wasm_bindgen]
impl KippClient {
    /// `new KippClient({ baseUrl, token, getToken? })`.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "KippClientOptions")] options: JsValue) -> Result<Self, JsValue> {
        Ok(Self { conn: client::connect(&options)? })
    }

    /// Validates locally, then creates a session (`POST /ipp/v1/sessions`).
    #[wasm_bindgen(js_name = createSession, unchecked_return_type = "Promise<Session>")]
    pub fn create_session(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CreateSessionRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "CreateSessionOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.run(api::create_session(request, options.unwrap_or_default()))
    }

    /// `GET /ipp/v1/sessions/{id}`.
    #[wasm_bindgen(js_name = getSession, unchecked_return_type = "Promise<Session>")]
    pub fn get_session(&self, id: String) -> Promise {
        self.run(api::get_session(&id))
    }

    /// `PUT /ipp/v1/sessions/{id}/cancel`.
    #[wasm_bindgen(js_name = cancelSession, unchecked_return_type = "Promise<Session>")]
    pub fn cancel_session(&self, id: String) -> Promise {
        self.run(api::cancel_session(&id))
    }

    /// `GET /ipp/v1/devices`.
    #[wasm_bindgen(js_name = listDevices, unchecked_return_type = "Promise<Page<Device>>")]
    pub fn list_devices(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DeviceFilter")] filter: Option<JsValue>,
    ) -> Promise {
        self.run(api::list_devices(filter.unwrap_or_default()))
    }

    /// `GET /ipp/v1/locations`.
    #[wasm_bindgen(js_name = listLocations, unchecked_return_type = "Promise<Page<Location>>")]
    pub fn list_locations(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PageOptions")] page: Option<JsValue>,
    ) -> Promise {
        self.run(api::list_locations(page.unwrap_or_default()))
    }

    /// `POST /ipp/v1/locations` (admin).
    #[wasm_bindgen(js_name = createLocation, unchecked_return_type = "Promise<Location>")]
    pub fn create_location(
        &self,
        #[wasm_bindgen(unchecked_param_type = "LocationRequest")] request: JsValue,
    ) -> Promise {
        self.run(api::create_location(request))
    }

    /// `POST /ipp/v1/enrollments` (admin).
    #[wasm_bindgen(js_name = createEnrollment, unchecked_return_type = "Promise<Enrollment>")]
    pub fn create_enrollment(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CreateEnrollmentRequest")] request: Option<JsValue>,
    ) -> Promise {
        self.run(api::create_enrollment(request.unwrap_or_default()))
    }

    /// `GET /ipp/v1/enrollments` (admin).
    #[wasm_bindgen(js_name = listEnrollments, unchecked_return_type = "Promise<Page<Enrollment>>")]
    pub fn list_enrollments(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EnrollmentFilter")] filter: Option<JsValue>,
    ) -> Promise {
        self.run(api::list_enrollments(filter.unwrap_or_default()))
    }

    /// `DELETE /ipp/v1/enrollments/{id}` (admin).
    #[wasm_bindgen(js_name = deleteEnrollment, unchecked_return_type = "Promise<void>")]
    pub fn delete_enrollment(&self, id: String) -> Promise {
        self.run(api::delete_enrollment(&id))
    }

    /// `PUT /ipp/v1/devices/{id}` (admin): rename or move.
    #[wasm_bindgen(js_name = updateDevice, unchecked_return_type = "Promise<Device>")]
    pub fn update_device(
        &self,
        id: String,
        #[wasm_bindgen(unchecked_param_type = "UpdateDeviceRequest")] update: JsValue,
    ) -> Promise {
        self.run(api::update_device(&id, update))
    }

    /// `DELETE /ipp/v1/devices/{id}` (admin).
    #[wasm_bindgen(js_name = deleteDevice, unchecked_return_type = "Promise<void>")]
    pub fn delete_device(&self, id: String) -> Promise {
        self.run(api::delete_device(&id))
    }

    /// `POST /ipp/v1/dev/devices` (playground only).
    #[wasm_bindgen(js_name = createSimulatedDevice, unchecked_return_type = "Promise<Device>")]
    pub fn create_simulated_device(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_param_type = "SimulatedDeviceOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.run(api::create_simulated_device(name, options.unwrap_or_default()))
    }

    /// `POST /ipp/v1/dev/sessions/{id}/simulate-tap` (playground only); default outcome SUCCESS.
    #[wasm_bindgen(js_name = simulateTap, unchecked_return_type = "Promise<Session>")]
    pub fn simulate_tap(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        #[wasm_bindgen(unchecked_param_type = "TapOutcome | undefined")] outcome: Option<String>,
    ) -> Promise {
        self.run(api::simulate_tap(&session_id, outcome))
    }

    /// `GET /kipp/v1/me`: the token's role, location and expiry.
    #[wasm_bindgen(unchecked_return_type = "Promise<Me>")]
    pub fn me(&self) -> Promise {
        self.run(api::me())
    }

    /// `POST /kipp/v1/tokens` (admin): a token for a clerk or admin.
    #[wasm_bindgen(js_name = issueToken, unchecked_return_type = "Promise<IssuedToken>")]
    pub fn issue_token(&self, #[wasm_bindgen(unchecked_param_type = "IssueTokenRequest")] request: JsValue) -> Promise {
        self.run(api::issue_token(request))
    }

    /// `GET /kipp/v1/devices/{id}/current-session`: the device's open session or `null`.
    #[wasm_bindgen(js_name = deviceSession, unchecked_return_type = "Promise<Session | null>")]
    pub fn device_session(&self, #[wasm_bindgen(js_name = deviceId)] device_id: String) -> Promise {
        self.run(api::device_session(&device_id))
    }

    /// Resolves with the session once it is FINALIZED, CANCELLED, EXPIRED or
    /// FAILED; rejects with `timeout` at the deadline or `aborted` on the signal.
    #[wasm_bindgen(js_name = waitForOutcome, unchecked_return_type = "Promise<Session>")]
    pub fn wait_for_outcome(
        &self,
        id: String,
        #[wasm_bindgen(unchecked_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        if let Err(f) = api::parse_id(&id, "id", SessionId::parse) {
            return rejected(f);
        }
        let timeout = match opt_f64(&options, "timeoutMs") {
            Some(t) if t.is_finite() && t >= 0.0 => t,
            Some(_) => {
                return rejected(Failure::validation(vec![kipp_core::validate::FieldError::new(
                    "timeoutMs",
                    "out_of_range",
                    "must be a number of milliseconds ≥ 0",
                )]))
            }
            None => DEFAULT_WAIT_MS,
        };
        js::wait_for(&self.conn, &escape_segment(&id), timeout, prop(&options, "signal"), prop(&options, "onUpdate"))
    }

    /// Calls `onUpdate(session, state)` on every change until a terminal
    /// status; reconnects with backoff. Returns a handle whose `close()` stops it.
    pub fn watch(
        &self,
        id: String,
        #[wasm_bindgen(js_name = onUpdate, unchecked_param_type = "(session: Session, state: SessionState) => void")]
        on_update: Function,
        #[wasm_bindgen(unchecked_param_type = "WatchOptions")] options: Option<JsValue>,
    ) -> Result<WatchHandle, JsValue> {
        api::parse_id(&id, "id", SessionId::parse)?;
        let on_error = prop(&options.unwrap_or_default(), "onError");
        Ok(WatchHandle { ctl: js::watch(&self.conn, &escape_segment(&id), &on_update, on_error) })
    }
}

/// What `watch` returns.
#[wasm_bindgen]
#[derive(Debug)]
pub struct WatchHandle {
    /// The follow's `AbortController`.
    ctl: JsValue,
}

#[wasm_bindgen]
impl WatchHandle {
    /// Stops watching (closes the WebSocket or the polling).
    pub fn close(&self) {
        js::close_watch(&self.ctl);
    }
}

/// Every broken rule of a create-session request, without the network: `[]` when valid.
#[wasm_bindgen(js_name = validateSession, unchecked_return_type = "FieldError[]")]
pub fn validate_session(#[wasm_bindgen(unchecked_param_type = "CreateSessionRequest")] request: JsValue) -> JsValue {
    let errors = api::validate_session(&request);
    convert::to_js(&errors).unwrap_or_else(|_| js_sys::Array::new().into())
}

/// Formats minor units for display: `formatAmount(12900, "SEK", "sv-SE")` → `129,00 kr`.
#[wasm_bindgen(js_name = formatAmount)]
pub fn format_amount(minor: f64, currency: &str, locale: Option<String>) -> Result<String, JsValue> {
    Ok(api::format(minor, currency, locale)?)
}
