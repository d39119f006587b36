//! RFC 7807 problem details: the error body of the Kustom IPP API (as observed:
//! `title`, `detail`, and `errors` mapping field → message) and of kipp, which
//! adds `status`, a stable `code`, ordered `field_errors` with codes, and the
//! `request_id` to quote in support requests.

use std::collections::BTreeMap;

use kipp_derive::MapDeserialize;
use serde::Serialize;

use crate::validate::FieldError;

/// The media type of problem details bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, MapDeserialize)]
pub struct Problem {
    /// URI identifying the problem type (`about:blank` when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// Short summary (`Validation Failed`, `Unauthorized`).
    #[serde(default)]
    pub title: String,
    /// The HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// URI of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Field path → message, as Kustom sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
    /// kipp: stable machine-readable code (`validation_failed`, `not_found`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// kipp: every field error in order, with its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<Vec<FieldError>>,
    /// kipp: the id of the request that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// A problem with a status, stable code, title and detail.
    #[must_use]
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            title: title.to_owned(),
            status: Some(status),
            detail: Some(detail.into()),
            code: Some(code.to_owned()),
            ..Self::default()
        }
    }

    /// 400 Validation Failed with every field error.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let map = errors.iter().fold(BTreeMap::new(), |mut m, e| {
            m.entry(e.path.clone()).or_insert_with(|| e.message.clone());
            m
        });
        Self {
            title: "Validation Failed".to_owned(),
            status: Some(400),
            detail: Some(format!("{} field(s) failed validation", errors.len())),
            errors: Some(map),
            code: Some("validation_failed".to_owned()),
            field_errors: Some(errors),
            ..Self::default()
        }
    }

    /// The problem for an HTTP status whose body was not problem details.
    #[must_use]
    pub fn from_status(status: u16) -> Self {
        let (code, title) = status_code_title(status);
        Self::new(status, code, title, format!("HTTP {status}"))
    }

    /// The field errors, from `field_errors` or else from Kustom's `errors` map.
    #[must_use]
    pub fn all_field_errors(&self) -> Vec<FieldError> {
        if let Some(f) = &self.field_errors {
            return f.clone();
        }
        self.errors.iter().flatten().map(|(p, m)| FieldError::new(p.clone(), "invalid", m.clone())).collect()
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// The stable code and title kipp uses for an HTTP status.
#[must_use]
pub fn status_code_title(status: u16) -> (&'static str, &'static str) {
    match status {
        400 | 422 => ("validation_failed", "Validation Failed"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not_found", "Not Found"),
        405 => ("method_not_allowed", "Method Not Allowed"),
        409 => ("conflict", "Conflict"),
        413 => ("payload_too_large", "Payload Too Large"),
        415 => ("unsupported_media_type", "Unsupported Media Type"),
        429 => ("rate_limited", "Too Many Requests"),
        502 | 500 | 503 => ("upstream_unavailable", "Upstream Unavailable"),
        504 => ("timeout", "Gateway Timeout"),
        _ => ("http_error", "HTTP Error"),
    }
}
