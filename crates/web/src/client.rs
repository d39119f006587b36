//! The HTTP side of the client: carries kipp-core operations (and kipp's own
//! `/kipp/v1` routes) to the edge worker with the global `fetch`, adds the
//! bearer token, retries what is safe to retry, and turns every answer that is
//! not a success into a [`Failure`].

use js_sys::Function;
use kipp_core::api::Operation;
use kipp_core::ids::escape_segment;
use kipp_core::problem::Problem;
use kipp_core::validate::FieldError;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal};

use crate::convert::{opt_f64, opt_string, prop, to_json};
use crate::error::Failure;
use crate::js;

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

    /// The call for a kipp-core operation.
    pub fn op<O: Operation>(op: &O, idempotency_key: Option<String>) -> Result<Self, Failure> {
        let body = op.body().map(to_json).transpose()?;
        Ok(Self {
            method: O::ID.method().as_str(),
            path: op.path_and_query(),
            body,
            retry: O::ID.is_idempotent() || idempotency_key.is_some(),
            idempotency_key,
            nullable: false,
        })
    }
}

/// The configured client.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: Option<String>,
    get_token: Option<Function>,
    timeout_ms: f64,
    retries: u32,
}

impl Client {
    /// Reads `{ baseUrl, token?, getToken?, timeoutMs?, retries? }`.
    pub fn new(options: &JsValue) -> Result<Self, Failure> {
        let base = match opt_string(options, "baseUrl") {
            Some(b) => b,
            None => {
                location_origin().ok_or_else(|| field("baseUrl", "required", "is required outside a browser page"))?
            }
        };
        let base = resolve_base(&base)?;
        let get_token = prop(options, "getToken");
        let get_token = if get_token.is_undefined() || get_token.is_null() {
            None
        } else {
            Some(get_token.dyn_into::<Function>().map_err(|_| field("getToken", "invalid", "must be a function"))?)
        };
        let token = opt_string(options, "token").filter(|t| !t.is_empty());
        let timeout_ms = match opt_f64(options, "timeoutMs") {
            Some(t) if t.is_finite() && t >= 1.0 => t,
            Some(_) => return Err(field("timeoutMs", "out_of_range", "must be a number of milliseconds ≥ 1")),
            None => DEFAULT_TIMEOUT_MS,
        };
        let retries = match opt_f64(options, "retries") {
            Some(r) if (0.0..=10.0).contains(&r) && r.fract() == 0.0 => r as u32,
            Some(_) => return Err(field("retries", "out_of_range", "must be an integer from 0 to 10")),
            None => DEFAULT_RETRIES,
        };
        Ok(Self { base, token, get_token, timeout_ms, retries })
    }

    /// The base URL (no trailing slash).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of a session's live events, token in the query.
    pub async fn events_url(&self, session_id: &str) -> Result<String, Failure> {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            ["wss://", rest].concat()
        } else {
            ["ws://", self.base.strip_prefix("http://").unwrap_or(&self.base)].concat()
        };
        let mut url = [ws.as_str(), "/ipp/v1/sessions/", &escape_segment(session_id), "/events"].concat();
        if let Some(t) = self.token().await? {
            url.push_str("?token=");
            url.push_str(&escape_segment(&t));
        }
        Ok(url)
    }

    /// The token for the next request: `getToken()` when given, else `token`.
    pub async fn token(&self) -> Result<Option<String>, Failure> {
        let Some(f) = &self.get_token else {
            return Ok(self.token.clone());
        };
        let unauthorized = |m: &str| Failure { status: None, ..Failure::new("unauthorized", m) };
        let mut v = f.call0(&JsValue::UNDEFINED).map_err(|_| unauthorized("getToken() threw; sign in again"))?;
        if let Some(p) = v.dyn_ref::<js_sys::Promise>() {
            v = JsFuture::from(p.clone()).await.map_err(|_| unauthorized("getToken() rejected; sign in again"))?;
        }
        match v.as_string() {
            Some(t) if !t.is_empty() => Ok(Some(t)),
            _ if v.is_null() || v.is_undefined() => Ok(self.token.clone()),
            _ => Err(unauthorized("getToken() must return a token string")),
        }
    }

    /// Carries out a call: retries a repeatable call on network failures,
    /// timeouts, 429 and 5xx with backoff (honouring `Retry-After`), and asks
    /// `getToken` once more after a 401.
    pub async fn call(&self, call: &Call, signal: Option<&AbortSignal>) -> Result<JsValue, Failure> {
        match self.call_inner(call, signal).await {
            Err(f) if call.nullable && f.code == "not_found" => Ok(JsValue::NULL),
            Ok(v) if call.nullable && v.is_undefined() => Ok(JsValue::NULL),
            other => other,
        }
    }

    async fn call_inner(&self, call: &Call, signal: Option<&AbortSignal>) -> Result<JsValue, Failure> {
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            let token = self.token().await?;
            match self.attempt(call, token.as_deref(), signal).await {
                Ok(v) => return Ok(v),
                Err(f) if f.code == "unauthorized" && f.status.is_some() && self.get_token.is_some() && !refreshed => {
                    refreshed = true;
                }
                Err(f) if f.retryable && call.retry && attempt < self.retries => {
                    attempt += 1;
                    let delay = f.retry_after_ms.map_or_else(|| backoff_ms(attempt, 250.0, 4_000.0), f64::from);
                    let never;
                    let s = match signal {
                        Some(s) => s,
                        None => {
                            never = new_controller()?.signal();
                            &never
                        }
                    };
                    if JsFuture::from(js::sleep(delay, s)).await.is_err() {
                        return Err(Failure::new("aborted", "the call was aborted"));
                    }
                }
                Err(f) => return Err(f),
            }
        }
    }

    async fn attempt(
        &self,
        call: &Call,
        token: Option<&str>,
        signal: Option<&AbortSignal>,
    ) -> Result<JsValue, Failure> {
        let ctl = new_controller()?;
        js::link_signal(signal.map_or(&JsValue::UNDEFINED, |s| s.as_ref()), &ctl);
        let timer = js::abort_after(&ctl, self.timeout_ms, "timeout");
        let result = self.exchange(call, token, &ctl).await;
        js::clear_timeout(&timer);
        result.map_err(|e| match e {
            Exchange::Failed(f) => f,
            Exchange::Rejected => {
                if signal.is_some_and(AbortSignal::aborted) {
                    Failure::new("aborted", "the call was aborted")
                } else if ctl.signal().aborted() {
                    let mut m = "no answer within ".to_owned();
                    m.push_str(&(self.timeout_ms as u64).to_string());
                    m.push_str(" ms; check the connection and try again");
                    Failure::new("timeout", m)
                } else {
                    let mut m = "could not reach ".to_owned();
                    m.push_str(&self.base);
                    m.push_str("; check the network connection and try again");
                    Failure::new("network", m)
                }
            }
        })
    }

    async fn exchange(&self, call: &Call, token: Option<&str>, ctl: &AbortController) -> Result<JsValue, Exchange> {
        let auth = token.map(|t| ["Bearer ", t].concat());
        let url = [self.base.as_str(), &call.path].concat();
        let sent = js::send(
            &url,
            call.method,
            auth.as_deref(),
            call.idempotency_key.as_deref(),
            call.body.as_deref(),
            &ctl.signal(),
        )
        .ok_or_else(|| Exchange::Failed(field("baseUrl", "invalid", "is not a usable URL")))?;
        let res = JsFuture::from(sent).await.map_err(|_| Exchange::Rejected)?;
        let text = opt_string(&res, "text").unwrap_or_default();
        let status = opt_f64(&res, "status").map_or(0, |s| s as u16);
        let rid = opt_string(&res, "requestId");
        if (200..300).contains(&status) {
            let parsed = if text.trim().is_empty() { None } else { js_sys::JSON::parse(&text).ok() };
            return match parsed {
                Some(v) => Ok(v),
                None if text.trim().is_empty() => Ok(JsValue::UNDEFINED),
                None => Err(Exchange::Failed(Failure {
                    status: Some(status),
                    request_id: rid,
                    ..Failure::new("invalid_response", "the server's answer was not JSON")
                })),
            };
        }
        let problem = crate::json::parse(&text)
            .ok()
            .map(|v| crate::decode::problem(&v))
            .filter(|p| !p.title.is_empty() || p.errors.is_some() || p.detail.is_some() || p.code.is_some())
            .unwrap_or_else(|| Problem::from_status(status));
        let mut f = Failure::from_problem(status, problem, rid);
        f.retry_after_ms = opt_string(&res, "retryAfter")
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(|s| s.saturating_mul(1000).min(60_000));
        // A conflict the worker expects to clear (it says when with Retry-After, e.g. a create
        // whose first attempt is still being reconciled) is worth a retry with the same key.
        if status == 409 && f.retry_after_ms.is_some() {
            f.retryable = true;
        }
        Err(Exchange::Failed(f))
    }
}

enum Exchange {
    /// The server answered with an error.
    Failed(Failure),
    /// `fetch` (or reading the body) rejected: network, timeout or abort.
    Rejected,
}

/// A new `AbortController`.
pub fn new_controller() -> Result<AbortController, Failure> {
    AbortController::new().map_err(|_| Failure::new("network", "AbortController is not available"))
}

/// Exponential backoff with ±20 % jitter: `base × 2^(attempt−1)`, capped.
#[must_use]
pub fn backoff_ms(attempt: u32, base: f64, cap: f64) -> f64 {
    let exp = base * f64::from(1u32 << attempt.saturating_sub(1).min(16));
    jitter(exp.min(cap))
}

/// ±20 % random jitter.
#[must_use]
pub fn jitter(ms: f64) -> f64 {
    ms * (0.8 + 0.4 * js_sys::Math::random())
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
    let loc = prop(&js_sys::global(), "location");
    opt_string(&loc, "origin").filter(|o| o.starts_with("http"))
}

/// Makes a base URL absolute (relative to the page) and drops a trailing slash.
fn resolve_base(base: &str) -> Result<String, Failure> {
    let abs = if base.starts_with("http://") || base.starts_with("https://") {
        base.to_owned()
    } else if base.is_empty() || base.starts_with('/') {
        let origin =
            location_origin().ok_or_else(|| field("baseUrl", "invalid", "must be an absolute http(s) URL here"))?;
        [origin.as_str(), base].concat()
    } else {
        return Err(field("baseUrl", "invalid", "must be an http(s) URL such as https://pos.example.com"));
    };
    Ok(abs.trim_end_matches('/').to_owned())
}
