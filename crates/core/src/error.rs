//! The crate's error type.

use crate::validate::FieldError;

/// Everything kipp-core can refuse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// One or more fields broke a rule; each error carries its field path.
    #[error("validation failed ({} field error(s))", .0.len())]
    Validation(Vec<FieldError>),
    /// A body could not be decoded as the expected JSON shape.
    #[error("malformed JSON")]
    Json(#[source] serde_json::Error),
    /// An HTTP response carried an error status; the problem details are attached.
    #[error("API error {}: {}", .0.status.unwrap_or(0), .0.title)]
    Api(Box<crate::problem::Problem>),
    /// A webhook delivery failed verification.
    #[cfg(feature = "webhook")]
    #[error("webhook rejected")]
    Webhook(#[source] crate::webhook::WebhookError),
}

impl CoreError {
    /// A stable, machine-readable code for this error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::Json(_) => "malformed_json",
            Self::Api(_) => "api_error",
            #[cfg(feature = "webhook")]
            Self::Webhook(e) => e.code(),
        }
    }
}

impl From<serde_json::Error> for CoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

#[cfg(feature = "webhook")]
impl From<crate::webhook::WebhookError> for CoreError {
    fn from(e: crate::webhook::WebhookError) -> Self {
        Self::Webhook(e)
    }
}
