//! Refusals: every non-2xx answer of the emulator is an RFC 7807 problem details body
//! (`kipp_core::problem::Problem`, `application/problem+json`) plus optional headers.

use kipp_core::problem::{status_code_title, Problem};
use kipp_core::validate::FieldError;

/// A refused request: the problem to send and extra response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The body (boxed: refusals travel through every `Result`).
    pub problem: Box<Problem>,
    /// Extra headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl Reject {
    /// A problem with kipp's title for `status` and a specific code.
    #[must_use]
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        let (_, title) = status_code_title(status);
        let title = match status {
            422 => "Unprocessable Entity",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            502 => "Bad Gateway",
            _ => title,
        };
        Self { problem: Box::new(Problem::new(status, code, title, detail)), headers: Vec::new() }
    }

    /// 400 with every field error (Kustom's `errors` map plus kipp's `field_errors`).
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self { problem: Box::new(Problem::validation(errors)), headers: Vec::new() }
    }

    /// 400 for one field.
    #[must_use]
    pub fn field(path: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(path, code, message)])
    }

    /// 422: the request is well-formed but refers to something that does not exist
    /// (`unknown_device`, `unknown_location`, …), reported at the field's path.
    #[must_use]
    pub fn unprocessable(code: &str, path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut r = Self::new(422, code, message.clone());
        r.problem.errors = Some([(path.to_owned(), message.clone())].into());
        r.problem.field_errors = Some(vec![FieldError::new(path, code, message)]);
        r
    }

    /// 404 for a resource kind and id.
    #[must_use]
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(404, "not_found", format!("{kind} {id} does not exist"))
    }

    /// 409 with a specific code.
    #[must_use]
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(409, code, detail)
    }

    /// Adds a response header.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.problem.status.unwrap_or(500)
    }
}
