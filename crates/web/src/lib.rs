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
//! | [`write`], [`convert`] | kipp-core values → JSON text (written by hand, checked against serde_json) → JS |
//! | [`error`] | a failure found in Rust (bad input or options) → `KippError` |
//!
//! The `KippClient` class itself is JavaScript (`js/kipp.js`): each method is
//! one line that hands its arguments to [`Runtime::run`], the one dispatching
//! export, which decodes and validates them with kipp-core and returns the
//! promise of the call. Carrying calls out (`fetch`, token refresh, retries
//! with backoff) and following a session live (WebSocket, polling with
//! jittered backoff, abort, deadline) is JavaScript plumbing in the same
//! snippet: no wasm async runtime and no closures ship. An error answer
//! becomes a `KippError` there too, with kipp-core's code and title for its
//! status ([`Runtime::status_code`]). The snippet gets the [`Runtime`] when the
//! module starts (`install`).
//!
//! No cargo features: kipp-core is used without `webhook`, so no HMAC code
//! ships to browsers.
#![deny(missing_docs)]

pub mod api;
pub mod client;
pub mod convert;
pub mod decode;
pub mod error;
mod js;
pub mod json;
pub mod write;

pub use js::{KippClient, WatchHandle};

use js_sys::Promise;
use kipp_core::ids::{escape_segment, SessionId};
use wasm_bindgen::prelude::*;

use crate::convert::{opt_f64, prop};
use crate::error::Failure;

/// Power-of-two size classes instead of std's dlmalloc: ~7 KB less wasm (crate kipp-alloc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: kipp_alloc::Classes = kipp_alloc::Classes::new();

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// Default `timeoutMs` of `waitForOutcome`: 17 min, the session lifetime (15 min, the worker's
/// `KIPP_SESSION_TTL_SECS` default) plus the worker's re-reads after it (a second after, then
/// every 10 s for a minute) and some slack. A wait that ended at the lifetime itself would reject
/// with `timeout` a moment before an unpaid sale is seen EXPIRED.
const DEFAULT_WAIT_MS: f64 = 1_020_000.0;

/// Hands the [`Runtime`] to the snippet, whose `KippClient` calls it.
#[wasm_bindgen(start, skip_typescript, js_name = __kippStart)]
fn start() {
    js::install(Runtime.into());
}

impl KippClient {
    /// `new KippClient({ baseUrl, token, getToken?, timeoutMs?, retries? })` from Rust. Hands the
    /// snippet the [`Runtime`] first: a module instantiated without running its start function
    /// (wasm-bindgen-test does that) has not done so yet.
    pub fn new(options: JsValue) -> Result<KippClient, JsValue> {
        js::install(Runtime.into());
        KippClient::construct(options)
    }
}

fn rejected(f: Failure) -> Promise {
    Promise::reject(&f.into_js())
}

/// A string argument; anything else reads as `""` (which no id parser accepts).
fn text(v: &JsValue) -> String {
    v.as_string().unwrap_or_default()
}

/// An optional argument: `undefined` and `null` are absent.
fn given(v: JsValue) -> Option<JsValue> {
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

/// Which client method [`Runtime::run`] carries out (the numbers are `js/kipp.js`'s).
mod op {
    pub const CREATE_SESSION: u8 = 0;
    pub const GET_SESSION: u8 = 1;
    pub const CANCEL_SESSION: u8 = 2;
    pub const LIST_DEVICES: u8 = 3;
    pub const LIST_LOCATIONS: u8 = 4;
    pub const CREATE_LOCATION: u8 = 5;
    pub const CREATE_ENROLLMENT: u8 = 6;
    pub const LIST_ENROLLMENTS: u8 = 7;
    pub const DELETE_ENROLLMENT: u8 = 8;
    pub const UPDATE_DEVICE: u8 = 9;
    pub const DELETE_DEVICE: u8 = 10;
    pub const CREATE_SIMULATED_DEVICE: u8 = 11;
    pub const SIMULATE_TAP: u8 = 12;
    pub const ME: u8 = 13;
    pub const ISSUE_TOKEN: u8 = 14;
    pub const DEVICE_SESSION: u8 = 15;
    pub const REVOKE_TOKEN: u8 = 16;
}

/// What the snippet asks of Rust: the client's options checked, each method's
/// arguments decoded and validated into a call, and kipp-core's knowledge of
/// statuses (the code and title of an HTTP status; which session statuses are
/// terminal). Internal: not in the `.d.ts`.
#[wasm_bindgen(skip_typescript, js_name = __KippRuntime)]
#[derive(Debug, Clone, Copy)]
pub struct Runtime;

#[wasm_bindgen(js_class = __KippRuntime)]
impl Runtime {
    /// `new KippClient(options)`: the checked options as the JS side's state.
    pub fn connect(&self, options: JsValue) -> Result<JsValue, JsValue> {
        Ok(client::connect(&options)?)
    }

    /// Client method `op` with its arguments `a`, `b` as the caller gave them: the
    /// promise of the call, or a rejected one when they are invalid.
    pub fn run(&self, conn: &JsValue, op: u8, a: JsValue, b: JsValue) -> Promise {
        let call = match op {
            op::CREATE_SESSION => api::create_session(a, b),
            op::GET_SESSION => api::get_session(&text(&a)),
            op::CANCEL_SESSION => api::cancel_session(&text(&a)),
            op::LIST_DEVICES => api::list_devices(a),
            op::LIST_LOCATIONS => api::list_locations(a),
            op::CREATE_LOCATION => api::create_location(a),
            op::CREATE_ENROLLMENT => api::create_enrollment(a),
            op::LIST_ENROLLMENTS => api::list_enrollments(a),
            op::DELETE_ENROLLMENT => api::delete_enrollment(&text(&a)),
            op::UPDATE_DEVICE => api::update_device(&text(&a), b),
            op::DELETE_DEVICE => api::delete_device(&text(&a)),
            op::CREATE_SIMULATED_DEVICE => api::create_simulated_device(text(&a), b),
            op::SIMULATE_TAP => api::simulate_tap(&text(&a), given(b).map(|o| text(&o))),
            op::ME => api::me(),
            op::ISSUE_TOKEN => api::issue_token(a),
            op::DEVICE_SESSION => api::device_session(&text(&a)),
            op::REVOKE_TOKEN => api::revoke_token(&text(&a)),
            _ => Err(Failure::new("http_error", "unknown operation")),
        };
        match call {
            Ok(c) => {
                js::call(conn, c.method, &c.path, c.body.as_deref(), c.idempotency_key.as_deref(), c.retry, c.nullable)
            }
            Err(f) => rejected(f),
        }
    }

    /// `waitForOutcome(id, options)`: resolves with the session once it is FINALIZED,
    /// CANCELLED, EXPIRED or FAILED; rejects with `timeout` at the deadline or `aborted`
    /// on the signal.
    pub fn wait(&self, conn: &JsValue, id: JsValue, options: JsValue) -> Promise {
        let id = text(&id);
        if let Err(f) = api::parse_id(&id, "id", SessionId::parse) {
            return rejected(f);
        }
        let timeout = match opt_f64(&options, "timeoutMs") {
            Ok(Some(t)) if t.is_finite() && t >= 0.0 => t,
            Err(f) => return rejected(f),
            Ok(Some(_)) => {
                return rejected(Failure::validation(vec![kipp_core::validate::FieldError::new(
                    "timeoutMs",
                    "out_of_range",
                    "must be a number of milliseconds ≥ 0",
                )]))
            }
            Ok(None) => DEFAULT_WAIT_MS,
        };
        js::wait_for(
            conn,
            &escape_segment(&id),
            timeout,
            prop(&options, "signal"),
            prop(&options, "onUpdate"),
            prop(&options, "onError"),
        )
    }

    /// `watch(id, onUpdate, options)`: follows the session until a terminal status or
    /// `close()`; returns the follow's `AbortController`.
    pub fn watch(&self, conn: &JsValue, id: JsValue, on_update: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
        let id = text(&id);
        api::parse_id(&id, "id", SessionId::parse)?;
        js::watch(conn, &escape_segment(&id), &on_update, prop(&options, "onError"))
    }

    /// kipp-core's stable code and title for an HTTP status, as `"code Title"`
    /// (for an error answer without problem details).
    #[wasm_bindgen(js_name = statusCode)]
    pub fn status_code(&self, status: u16) -> String {
        let (code, title) = kipp_core::problem::status_code_title(status);
        [code, " ", title].concat()
    }

    /// True for FINALIZED, CANCELLED, EXPIRED and FAILED.
    #[wasm_bindgen(js_name = isTerminal)]
    pub fn is_terminal(&self, status: &str) -> bool {
        kipp_core::api::sessions::SessionStatus::from_wire(status).is_terminal()
    }
}

/// Every broken rule of a create-session request, without the network: `[]` when valid.
#[wasm_bindgen(js_name = validateSession, unchecked_return_type = "FieldError[]")]
pub fn validate_session(#[wasm_bindgen(unchecked_param_type = "CreateSessionRequest")] request: JsValue) -> JsValue {
    let errors = api::validate_session(&request);
    if errors.is_empty() {
        return js_sys::Array::new().into();
    }
    convert::to_js(errors.as_slice()).unwrap_or_else(|_| js_sys::Array::new().into())
}

/// Formats minor units for display: `formatAmount(12900, "SEK", "sv-SE")` → `129,00 kr` (with
/// a no-break space, as `Intl.NumberFormat` writes it).
#[wasm_bindgen(js_name = formatAmount)]
pub fn format_amount(
    #[wasm_bindgen(unchecked_param_type = "MinorUnits")] minor: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] currency: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "string")] locale: Option<JsValue>,
) -> Result<String, JsValue> {
    Ok(api::format(&minor, &currency, &locale.unwrap_or(JsValue::UNDEFINED))?)
}
