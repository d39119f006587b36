//! Every call to Kustom goes through here: Basic auth with the key, `x-merchant-id` (from
//! `build_request`), a timeout enforced with an `AbortSignal.timeout`, and retries of idempotent
//! calls per [`crate::retry`]. Failures become 502/504 problem details; the key never leaves
//! this module (and `js/upstream.js`, which sends the request) except in the `Authorization`
//! header to the configured base.

use core::time::Duration;

use kipp_core::api::{decode_problem, HttpRequest, OperationId};
use kipp_core::problem::Problem;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Delay;

use crate::config::Config;
use crate::http::now_ms;
use crate::retry::{parse_retry_after, Decision, Outcome, RetryPolicy};

/// A response from Kustom.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Retry-After`, parsed (ms); read only for a reply that is not 2xx.
    pub retry_after_ms: Option<u32>,
}

impl Reply {
    /// True for 2xx.
    #[must_use]
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why no response could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The timeout fired on the last attempt.
    Timeout,
    /// The connection failed on the last attempt.
    Network,
}

impl Failure {
    /// The problem details for the browser.
    #[must_use]
    pub fn problem(self) -> Problem {
        match self {
            Self::Timeout => Problem::new(504, "upstream_timeout", "Gateway Timeout", "Kustom did not answer in time"),
            Self::Network => Problem::new(502, "upstream_unreachable", "Bad Gateway", "Kustom could not be reached"),
        }
    }
}

/// Timing of the calls made for one request (for the log line).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Attempts this request made.
    pub attempts: u32,
    /// Time spent, ms.
    pub ms: u64,
    /// The request waited on a call that another request made (a webhook re-read shared by
    /// deliveries of one session): `ms` is that call's time, and its attempts are counted on the
    /// log line of the request that made it, so that summing `upstream_attempts` counts calls.
    pub shared: bool,
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/js/upstream.js")]
extern "C" {
    /// One attempt in one call (see `js/upstream.js`): resolves to `[status, Retry-After or
    /// undefined, body bytes]`, rejects with `'timeout'` or `'network'`.
    #[wasm_bindgen(js_name = upstreamFetch)]
    fn upstream_fetch(url: &str, method: &str, head: &str, body: Option<&str>, timeout_ms: u32) -> js_sys::Promise;
}

/// Appends one `name\nvalue\n` pair (the value in parts, so the key is never copied twice).
/// Every name and value is the worker's own, a validated id or the API key (visible ASCII, checked
/// by `Config`): none has a newline.
fn push_header(head: &mut String, name: &str, value: &[&str]) {
    head.push_str(name);
    head.push('\n');
    for part in value {
        head.push_str(part);
    }
    head.push('\n');
}

/// One attempt. The request goes out through one JS call (`js/upstream.js`): the URL, the
/// method, the headers as `name\nvalue\n` pairs, the body and the timeout, which covers the
/// answer and the body read (an `AbortSignal.timeout` given to `fetch`).
async fn once(cfg: &Config, req: &HttpRequest, with_key: bool) -> Result<Reply, Outcome> {
    let mut head = String::with_capacity(96 + cfg.api_key.expose().len());
    for (k, v) in &req.headers {
        push_header(&mut head, k, &[v]);
    }
    if with_key {
        push_header(&mut head, "authorization", &["Basic ", cfg.api_key.expose()]);
    }
    push_header(&mut head, "user-agent", &["kipp-edge/0.1"]);
    let mut url = String::with_capacity(cfg.api_base.len() + req.path_and_query.len());
    url.push_str(&cfg.api_base);
    url.push_str(&req.path_and_query);
    let promise = upstream_fetch(&url, req.method.as_str(), &head, req.body.as_deref(), cfg.upstream_timeout_ms);
    let reply = JsFuture::from(promise).await.map_err(|e| {
        if e.as_string().as_deref() == Some("timeout") {
            Outcome::Timeout
        } else {
            Outcome::Network
        }
    })?;
    let reply: js_sys::Array = reply.unchecked_into();
    let status = reply.get(0).as_f64().and_then(|s| u16::try_from(s as i64).ok()).ok_or(Outcome::Network)?;
    let retry_after_ms = parse_retry_after(reply.get(1).as_string().as_deref());
    let body = js_sys::Uint8Array::unchecked_from_js(reply.get(2)).to_vec();
    Ok(Reply { status, body, retry_after_ms })
}

/// Sends a request, retrying per the policy when `op` is idempotent. A non-2xx status is a
/// `Reply` (the caller maps it); only a missing answer is a `Failure`.
pub async fn call(cfg: &Config, op: OperationId, req: &HttpRequest, stats: &mut Stats) -> Result<Reply, Failure> {
    call_with(cfg, op, req, op.is_idempotent(), stats).await
}

/// Like [`call`] with the retry switch explicit (session creation passes `false`).
pub async fn call_with(
    cfg: &Config,
    op: OperationId,
    req: &HttpRequest,
    retry: bool,
    stats: &mut Stats,
) -> Result<Reply, Failure> {
    let policy = RetryPolicy::default();
    let t0 = now_ms();
    let mut waited = 0u32;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        stats.attempts += 1;
        let r = once(cfg, req, !op.is_unauthenticated()).await;
        let (outcome, retry_after) = match &r {
            Ok(reply) if reply.ok() || !crate::retry::retryable(Outcome::Status(reply.status)) => {
                stats.ms += u64::try_from(now_ms() - t0).unwrap_or(0);
                return r.map_err(|_| Failure::Network);
            }
            Ok(reply) => (Outcome::Status(reply.status), reply.retry_after_ms),
            Err(o) => (*o, None),
        };
        match policy.decide(retry, attempt, outcome, retry_after, waited, js_sys::Math::random()) {
            Decision::RetryAfterMs(ms) => {
                waited = waited.saturating_add(ms);
                if ms > 0 {
                    Delay::from(Duration::from_millis(u64::from(ms))).await;
                }
            }
            Decision::GiveUp => {
                stats.ms += u64::try_from(now_ms() - t0).unwrap_or(0);
                return match (r, outcome) {
                    (Ok(reply), _) => Ok(reply),
                    (Err(_), Outcome::Timeout) => Err(Failure::Timeout),
                    (Err(_), _) => Err(Failure::Network),
                };
            }
        }
    }
}

/// The problem for a non-2xx reply: Kustom's 4xx pass through (with its field errors), 5xx
/// (and any 1xx or 3xx) become 502, 429 stays 429, and 401/403 become 502
/// `upstream_auth_failed`: they mean the worker's API key is wrong, not the POS token, so the
/// browser must not sign the clerk out.
#[must_use]
pub fn reply_problem(reply: &Reply) -> Problem {
    let mut p = decode_problem(reply.status, &reply.body);
    p.request_id = None;
    if matches!(reply.status, 401 | 403) {
        return Problem::new(
            502,
            "upstream_auth_failed",
            "Bad Gateway",
            format!(
                "Kustom refused the worker's credentials ({}): check KUSTOM_API_KEY and KUSTOM_MERCHANT_ID",
                reply.status
            ),
        );
    }
    // 5xx, and the 1xx/3xx that are no answer the API defines (a 304 problem could not even be
    // sent: a 304 has no body).
    if !(400..500).contains(&reply.status) {
        let mut g = Problem::new(502, "upstream_error", "Bad Gateway", format!("Kustom answered {}", reply.status));
        g.detail = Some(format!("Kustom answered {}: {}", reply.status, p.title));
        return g;
    }
    p.status = Some(reply.status);
    p
}
