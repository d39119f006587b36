//! The one failure type of the package and its stable codes. Plain Rust; only
//! [`Failure::into_js`] knows about JavaScript (it builds a `KippError`).

use kipp_core::problem::{status_code_title, Problem};
use kipp_core::validate::FieldError;
use wasm_bindgen::prelude::*;

/// Every `code` a thrown `KippError` can carry. Documented in the README and
/// the `.d.ts` (`KippErrorCode`); adding one is a minor release, renaming one is
/// a major release.
pub const CODES: &[&str] = &[
    "validation_failed",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "upstream_unavailable",
    "timeout",
    "aborted",
    "network",
    "invalid_response",
    "http_error",
];

/// A failure on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of [`CODES`].
    pub code: &'static str,
    /// What happened and, where it helps, what to do.
    pub message: String,
    /// The HTTP status, when a response was received.
    pub status: Option<u16>,
    /// Field errors (validation).
    pub field_errors: Vec<FieldError>,
    /// True when the same call may succeed if repeated later.
    pub retryable: bool,
    /// The `x-request-id` to quote in a support request.
    pub request_id: Option<String>,
    /// `Retry-After`, in milliseconds, when the server sent one.
    pub retry_after_ms: Option<u32>,
}

impl Failure {
    /// A failure with no HTTP response behind it.
    #[must_use]
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
            field_errors: Vec::new(),
            retryable: matches!(code, "network" | "timeout" | "upstream_unavailable" | "rate_limited"),
            request_id: None,
            retry_after_ms: None,
        }
    }

    /// Local validation refused the input.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.first() {
            Some(e) if errors.len() == 1 => describe(e),
            Some(e) => format_many(e, errors.len()),
            None => "the request is invalid".to_owned(),
        };
        Self { field_errors: errors, ..Self::new("validation_failed", message) }
    }

    /// The failure for an HTTP error response, from its problem details.
    #[must_use]
    pub fn from_problem(status: u16, problem: Problem, header_request_id: Option<String>) -> Self {
        let code = stable_code(status, problem.code.as_deref());
        let field_errors = problem.all_field_errors();
        let detail = problem.detail.clone().filter(|d| !d.is_empty() && !d.starts_with("HTTP "));
        let title = if problem.title.is_empty() { status_code_title(status).1.to_owned() } else { problem.title };
        let message = match (detail, field_errors.first()) {
            (_, Some(e)) if code == "validation_failed" => {
                if field_errors.len() == 1 {
                    describe(e)
                } else {
                    format_many(e, field_errors.len())
                }
            }
            (Some(d), _) => d,
            (None, _) => advice(code, &title),
        };
        // A 409 `idempotency_in_progress` means the first attempt of this very create is still
        // running at the worker: retrying with the same key joins it (never a second session).
        let retryable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            || (status == 409 && problem.code.as_deref() == Some("idempotency_in_progress"));
        Self {
            code,
            message,
            status: Some(status),
            field_errors,
            retryable,
            request_id: problem.request_id.or(header_request_id),
            retry_after_ms: None,
        }
    }

    /// The failure for an error answer: its problem details when the body has
    /// them (else the status's), the `x-request-id` header, `Retry-After` (ms).
    #[must_use]
    pub fn from_response(status: u16, text: &str, request_id: Option<String>, retry_after_ms: Option<u32>) -> Self {
        let problem = crate::json::parse(text)
            .ok()
            .map(|v| crate::decode::problem(&v))
            .filter(|p| !p.title.is_empty() || p.errors.is_some() || p.detail.is_some() || p.code.is_some())
            .unwrap_or_else(|| Problem::from_status(status));
        let mut f = Self::from_problem(status, problem, request_id);
        f.retry_after_ms = retry_after_ms;
        // A conflict the worker expects to clear (it says when with Retry-After, e.g. a create
        // whose first attempt is still being reconciled) is worth a retry with the same key.
        if status == 409 && f.retry_after_ms.is_some() {
            f.retryable = true;
        }
        f
    }

    /// Builds the JavaScript `KippError`.
    #[must_use]
    pub fn into_js(self) -> JsValue {
        let fields = crate::convert::to_js(&self.field_errors).unwrap_or_else(|_| js_sys::Array::new().into());
        crate::js::make_kipp_error(
            self.code,
            &self.message,
            self.status,
            fields,
            self.retryable,
            self.request_id.as_deref(),
        )
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> Self {
        f.into_js()
    }
}

/// The stable code for a response: the server's own when it is one of
/// [`CODES`], else the one kipp uses for the status.
#[must_use]
pub fn stable_code(status: u16, server: Option<&str>) -> &'static str {
    if let Some(c) = server.and_then(|s| CODES.iter().find(|c| **c == s)) {
        return c;
    }
    // status_code_title's table is a subset of CODES.
    let c = status_code_title(status).0;
    CODES.iter().find(|k| **k == c).copied().unwrap_or("http_error")
}

fn describe(e: &FieldError) -> String {
    if e.path.is_empty() {
        e.message.clone()
    } else {
        let mut s = String::with_capacity(e.path.len() + e.message.len() + 1);
        s.push_str(&e.path);
        s.push(' ');
        s.push_str(&e.message);
        s
    }
}

fn format_many(first: &FieldError, n: usize) -> String {
    let mut s = describe(first);
    s.push_str(" (and ");
    s.push_str(&(n - 1).to_string());
    s.push_str(" more)");
    s
}

fn advice(code: &str, title: &str) -> String {
    let hint = match code {
        "unauthorized" => "sign in again: the token is missing, expired or revoked",
        "forbidden" => "this token may not do that (ask an admin for a token with the right role or location)",
        "not_found" => "it does not exist (or not at this token's location)",
        "conflict" => "it is busy or changed meanwhile; reload and try again",
        "rate_limited" => "too many requests; wait a moment and try again",
        "upstream_unavailable" => "the payment service is unavailable; try again shortly",
        "timeout" => "the payment service did not answer in time; try again",
        _ => "",
    };
    if hint.is_empty() {
        title.to_owned()
    } else {
        let mut s = title.to_owned();
        s.push_str(": ");
        s.push_str(hint);
        s
    }
}
