//! Playground-only testing endpoints under `/ipp/v1/dev` (404 in production):
//! `POST /ipp/v1/dev/devices` and `POST /ipp/v1/dev/sessions/{sessionId}/simulate-tap`.
//! Docs: <https://docs.kustom.co/contents/api/in-person-payments/testing>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use super::devices::{Device, MAX_DEVICE_NAME_LEN};
use super::sessions::Session;
use super::{wire_enum, Operation, OperationId, Validate};
use crate::ids::{escape_segment, LocationId, SessionId};
use crate::metadata::Metadata;
use crate::validate::{FieldError, Validator};

/// The body of `POST /ipp/v1/dev/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct CreateSimulatedDeviceRequest {
    /// Display name (required, non-empty).
    pub name: String,
    /// Location of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
    /// Metadata; `simulated=true` is always added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl Validate for CreateSimulatedDeviceRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        v.text("name", &self.name, 1, MAX_DEVICE_NAME_LEN);
        if let Some(m) = &self.metadata {
            if m.len() >= crate::metadata::MAX_METADATA_KEYS && m.get("simulated").is_none() {
                v.push("metadata", "too_many", "leave room for the simulated=true entry");
            }
        }
        v.into_errors()
    }
}

wire_enum!(
    /// The outcome of a simulated card tap.
    TapOutcome {
        /// Approved: the session is finalized.
        Success = "SUCCESS",
        /// Generic decline.
        DeclinedGeneric = "DECLINED_GENERIC",
        /// Insufficient funds.
        InsufficientFunds = "INSUFFICIENT_FUNDS",
        /// Card reported lost.
        LostCard = "LOST_CARD",
        /// Card reported stolen.
        StolenCard = "STOLEN_CARD",
        /// Card expired.
        ExpiredCard = "EXPIRED_CARD",
        /// Wrong CVC.
        IncorrectCvc = "INCORRECT_CVC",
        /// Terminal processing error.
        ProcessingError = "PROCESSING_ERROR",
        /// Invalid card number.
        IncorrectNumber = "INCORRECT_NUMBER",
        /// Too many attempts.
        CardVelocityExceeded = "CARD_VELOCITY_EXCEEDED",
    }
);

impl TapOutcome {
    /// True for the approving outcome.
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
    /// The `failure_reason` reported for a declined tap (lower-case outcome).
    #[must_use]
    pub fn failure_reason(&self) -> Option<String> {
        (!self.is_success()).then(|| self.as_str().to_ascii_lowercase())
    }
}

/// `POST /ipp/v1/dev/devices` → 201 [`Device`] (its metadata has `simulated=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSimulatedDevice(pub CreateSimulatedDeviceRequest);

impl Operation for CreateSimulatedDevice {
    type Body = CreateSimulatedDeviceRequest;
    type Response = Device;
    const ID: OperationId = OperationId::CreateSimulatedDevice;
    fn path(&self) -> String {
        "/ipp/v1/dev/devices".to_owned()
    }
    fn body(&self) -> Option<&CreateSimulatedDeviceRequest> {
        Some(&self.0)
    }
}

/// `POST /ipp/v1/dev/sessions/{sessionId}/simulate-tap?outcome=` → 200 [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateTap {
    /// The session to tap.
    pub session_id: SessionId,
    /// The outcome (SUCCESS when absent).
    pub outcome: Option<TapOutcome>,
}

impl SimulateTap {
    /// Parses the `outcome` query parameter; unknown outcomes are a field error.
    pub fn outcome_from_query(pairs: &[(String, String)]) -> Result<TapOutcome, FieldError> {
        match pairs.iter().rev().find(|(k, _)| k == "outcome") {
            // `outcome=` with no value is the documented default, as an absent one is.
            None => Ok(TapOutcome::Success),
            Some((_, v)) if v.is_empty() => Ok(TapOutcome::Success),
            Some((_, v)) => {
                let o = TapOutcome::from_wire(v);
                if o.is_known() {
                    Ok(o)
                } else {
                    Err(FieldError::new("outcome", "unsupported", "must be one of the 10 documented outcomes"))
                }
            }
        }
    }
}

impl Operation for SimulateTap {
    type Body = ();
    type Response = Session;
    const ID: OperationId = OperationId::SimulateTap;
    fn path(&self) -> String {
        format!("/ipp/v1/dev/sessions/{}/simulate-tap", escape_segment(self.session_id.as_str()))
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        self.outcome.iter().map(|o| ("outcome", o.as_str().to_owned())).collect()
    }
}
