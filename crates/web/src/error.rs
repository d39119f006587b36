//! A failure found in Rust (bad input, bad options), on its way to JavaScript. Plain Rust; only
//! [`Failure::into_js`] knows about JavaScript (it builds a `KippError`).

use kipp_core::validate::FieldError;
use wasm_bindgen::prelude::*;

/// A failure on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of the stable codes (`KippErrorCode` in the `.d.ts`; `CODES` in `js/kipp.js`).
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

    /// Builds the JavaScript `KippError`.
    #[must_use]
    pub fn into_js(self) -> JsValue {
        let fields =
            crate::convert::to_js(self.field_errors.as_slice()).unwrap_or_else(|_| js_sys::Array::new().into());
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
    kipp_core::validate::push_decimal(&mut s, (n - 1) as u64);
    s.push_str(" more)");
    s
}
