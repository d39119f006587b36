//! The HTTP side of the client in Rust: a [`Call`] per kipp-core operation (and
//! kipp's own `/kipp/v1` routes), the client's options checked, idempotency keys.
//! Carrying a call out (`fetch`, token, retries, backoff) is JavaScript plumbing
//! and lives in the package's snippet (`js/kipp.js`, `call`).

use kipp_core::api::{Operation, OperationId};
use kipp_core::validate::FieldError;
use wasm_bindgen::JsValue;

use crate::convert::{opt_f64, opt_string, prop};
use crate::error::Failure;
use crate::js;
use crate::write::{JsonWriter, ToJson};

/// Per-attempt time limit when the caller sets none.
pub const DEFAULT_TIMEOUT_MS: f64 = 15_000.0;
/// Extra attempts for a call that is safe to repeat, when the caller sets none.
pub const DEFAULT_RETRIES: u32 = 2;

/// One HTTP call to the worker.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method name.
    pub method: &'static str,
    /// Path and query, appended to the base URL.
    pub path: String,
    /// JSON body.
    pub body: Option<String>,
    /// `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// True when repeating the call cannot do anything twice.
    pub retry: bool,
    /// A 404 (or an empty answer) resolves to `null` instead of failing.
    pub nullable: bool,
}

impl Call {
    /// A GET of `path`.
    #[must_use]
    pub fn get(path: String) -> Self {
        Self { method: "GET", path, body: None, idempotency_key: None, retry: true, nullable: false }
    }

    /// The call for a kipp-core operation. Only the path and body need the
    /// operation's type; the rest is `Call::of`, once for all of them.
    pub fn op<O: Operation>(op: &O, idempotency_key: Option<String>) -> Result<Self, Failure>
    where
        O::Body: ToJson,
    {
        Ok(Self::of(O::ID, op.path_and_query(), op.body().map(JsonWriter::text), idempotency_key))
    }

    #[inline(never)]
    fn of(id: OperationId, path: String, body: Option<String>, idempotency_key: Option<String>) -> Self {
        Self {
            method: id.method().as_str(),
            path,
            body,
            retry: id.is_idempotent() || idempotency_key.is_some(),
            idempotency_key,
            nullable: false,
        }
    }
}

/// The checked options of a client, handed to the JS side (`conn` in `js/kipp.js`), which
/// carries calls out: token (`getToken`), `fetch`, time limit per attempt, retries with
/// jittered backoff honouring `Retry-After`, one more `getToken` after a 401, error answers
/// into `KippError`s.
pub fn connect(options: &JsValue) -> Result<JsValue, Failure> {
    let base = match opt_string(options, "baseUrl")? {
        Some(b) => b,
        None => location_origin().ok_or_else(|| field("baseUrl", "required", "is required outside a browser page"))?,
    };
    let base = resolve_base(&base)?;
    let get_token = prop(options, "getToken");
    if !(get_token.is_undefined() || get_token.is_null() || get_token.is_function()) {
        return Err(field("getToken", "invalid", "must be a function"));
    }
    let token = opt_string(options, "token")?.filter(|t| !t.is_empty());
    let timeout_ms = match opt_f64(options, "timeoutMs")? {
        Some(t) if t.is_finite() && t >= 1.0 => t,
        Some(_) => return Err(field("timeoutMs", "out_of_range", "must be a number of milliseconds ≥ 1")),
        None => DEFAULT_TIMEOUT_MS,
    };
    let retries = match opt_f64(options, "retries")? {
        Some(r) if (0.0..=10.0).contains(&r) && r.fract() == 0.0 => r as u32,
        Some(_) => return Err(field("retries", "out_of_range", "must be an integer from 0 to 10")),
        None => DEFAULT_RETRIES,
    };
    let get_token = if get_token.is_function() { get_token } else { JsValue::UNDEFINED };
    Ok(js::conn(&base, token.as_deref(), &get_token, timeout_ms, retries))
}

/// A fresh idempotency key (UUID v4 from `crypto.getRandomValues`).
pub fn idempotency_key() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    js::get_random_values(&mut b).map_err(|_| Failure::new("network", "crypto.getRandomValues is not available"))?;
    Ok(kipp_core::ids::uuid_v4_from_bytes(b))
}

fn field(path: &str, code: &str, message: &str) -> Failure {
    Failure::validation(vec![FieldError::new(path, code, message)])
}

fn location_origin() -> Option<String> {
    js::origin().filter(|o| o.starts_with("http"))
}

/// Makes a base URL absolute (relative to the page) and drops a trailing slash.
fn resolve_base(base: &str) -> Result<String, Failure> {
    let abs = if base.starts_with("http://") || base.starts_with("https://") {
        base.to_owned()
    // `//host` is another host without a scheme, not a path of this one: refused below, since
    // taken as a path it sent every call to the page's own host.
    } else if base.is_empty() || (base.starts_with('/') && !base.starts_with("//")) {
        let origin =
            location_origin().ok_or_else(|| field("baseUrl", "invalid", "must be an absolute http(s) URL here"))?;
        [origin.as_str(), base].concat()
    } else {
        return Err(field("baseUrl", "invalid", "must be an http(s) URL such as https://pos.example.com"));
    };
    Ok(abs.trim_end_matches('/').to_owned())
}
