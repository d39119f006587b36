//! Small response helpers for the worker shell (wasm only).

use kipp_core::problem::{Problem, PROBLEM_CONTENT_TYPE};
use serde::Serialize;
use worker::{Headers, Request, RequestInit, Response, Result};

/// A problem details response (`application/problem+json`) carrying the request id.
pub fn problem(p: Problem, request_id: &str) -> Response {
    let status = p.status.unwrap_or(500);
    let p = p.with_request_id(request_id);
    let body = serde_json::to_vec(&p).unwrap_or_default();
    let headers = Headers::new();
    let _ = headers.set("content-type", PROBLEM_CONTENT_TYPE);
    Response::from_bytes(body).map_or_else(|_| fallback(status), |r| r.with_status(status).with_headers(headers))
}

/// A problem response with `Retry-After`.
pub fn problem_retry(p: Problem, request_id: &str, retry_after_secs: Option<u32>) -> Response {
    let r = problem(p, request_id);
    if let Some(s) = retry_after_secs {
        let _ = r.headers().set("retry-after", &s.to_string());
    }
    r
}

fn fallback(status: u16) -> Response {
    Response::empty().map(|r| r.with_status(status)).unwrap_or_else(|_| Response::builder().with_status(status).empty())
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    raw_json(status, body)
}

/// A JSON response from bytes already encoded.
pub fn raw_json(status: u16, body: Vec<u8>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    if status == 204 {
        return Response::builder().with_status(204).with_headers(headers).empty();
    }
    Response::from_bytes(body).map_or_else(|_| fallback(status), |r| r.with_status(status).with_headers(headers))
}

/// Reads a body up to `max` bytes (`None` when larger).
pub async fn body(req: &mut Request, max: usize) -> Result<Option<Vec<u8>>> {
    if let Some(len) = req.headers().get("content-length")?.and_then(|l| l.parse::<usize>().ok()) {
        if len > max {
            return Ok(None);
        }
    }
    let b = req.bytes().await.unwrap_or_default();
    Ok((b.len() <= max).then_some(b))
}

/// An internal request to a Durable Object.
pub fn internal(method: worker::Method, path: &str, body: Option<String>, extra: &[(&str, &str)]) -> Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    for (k, v) in extra {
        headers.set(k, v)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    Request::new_with_init(&format!("https://do.internal{path}"), &init)
}

/// Milliseconds since the epoch.
#[must_use]
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// 16 random bytes from the runtime's CSPRNG.
#[must_use]
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    b
}

/// A fresh request id (32 hex characters).
#[must_use]
pub fn request_id() -> String {
    random16().iter().map(|b| format!("{b:02x}")).collect()
}
