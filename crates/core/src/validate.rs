//! Field-path validation errors.
//!
//! Every rule reports where it failed as a path in the wire JSON, e.g.
//! `order_items[1].total_tax_amount`, with a stable code and a human message.

use kipp_derive::MapDeserialize;
use serde::Serialize;

/// Re-exported from [`crate::text`], where it lives since session 3.
pub use crate::text::push_decimal;

/// One broken rule at one place in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct FieldError {
    /// Path of the field in the wire JSON (`order_items[1].total_tax_amount`).
    pub path: String,
    /// Stable machine-readable code (`required`, `too_long`, `mismatch`, …).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self { path: path.into(), code: code.to_owned(), message: message.into() }
    }
}

/// Collects field errors while walking a request, tracking the current path.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// A validator with no errors yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `path`.
    pub fn push(&mut self, path: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, code, message));
    }

    /// Records every error of `errs`, prefixing their paths with `prefix`.
    pub fn extend_prefixed(&mut self, prefix: &str, errs: Vec<FieldError>) {
        for mut e in errs {
            e.path = join(prefix, &e.path);
            self.errors.push(e);
        }
    }

    /// Checks a string's length in characters.
    pub fn text(&mut self, path: &str, value: &str, min: usize, max: usize) {
        self.text_at(|| path.to_owned(), value, min, max);
    }

    /// Like [`Validator::text`], but the path is only built when the check fails
    /// (validation of a valid request then allocates no path at all).
    pub fn text_at(&mut self, path: impl FnOnce() -> String, value: &str, min: usize, max: usize) {
        // A string has at most as many characters as bytes, and at least a quarter.
        let len = value.len();
        if len >= min.saturating_mul(4) && len <= max {
            return;
        }
        let n = value.chars().count();
        if n < min {
            if min == 1 {
                self.push(path(), "required", "must not be empty");
            } else {
                self.push(path(), "too_short", format!("must be at least {min} characters"));
            }
        } else if n > max {
            self.push(path(), "too_long", format!("must be at most {max} characters"));
        }
    }

    /// True when no error was recorded.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors found, or `Ok(())`.
    pub fn finish(self) -> Result<(), crate::CoreError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(crate::CoreError::Validation(self.errors))
        }
    }

    /// The errors found (possibly none).
    #[must_use]
    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }
}

/// Joins a parent path and a child path (`a` + `b` → `a.b`, `a` + `[1]` → `a[1]`).
#[must_use]
pub fn join(prefix: &str, child: &str) -> String {
    if prefix.is_empty() {
        child.to_owned()
    } else if child.is_empty() {
        prefix.to_owned()
    } else if child.starts_with('[') {
        [prefix, child].concat()
    } else {
        [prefix, ".", child].concat()
    }
}
