//! Enrollments (pairing codes): `GET|POST /ipp/v1/enrollments`,
//! `DELETE /ipp/v1/enrollments/{enrollment_id}`.
//! Docs: <https://docs.kustom.co/contents/api/in-person-payments/enrollments>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use super::page::{Page, PageRequest};
use super::{wire_enum, Empty, Operation, OperationId, Validate};
use crate::ids::{escape_segment, EnrollmentCode, EnrollmentId, LocationId};
use crate::metadata::{validate_filters, Metadata, MetadataFilter, QueryFilters};
use crate::time::Timestamp;
use crate::validate::{FieldError, Validator};

/// Default code lifetime: 2 hours (documented).
pub const DEFAULT_EXPIRES_IN_MS: u64 = 7_200_000;
/// Shortest accepted `expires_in` (the docs' sample uses 36 000 ms).
pub const MIN_EXPIRES_IN_MS: u64 = 10_000;
/// Longest accepted `expires_in`: 72 hours, the longest observed `ttl`.
pub const MAX_EXPIRES_IN_MS: u64 = 259_200_000;

wire_enum!(
    /// An enrollment's status.
    EnrollmentStatus {
        /// Waiting for a device to use the code.
        Pending = "PENDING",
        /// A device registered with the code.
        Consumed = "CONSUMED",
        /// Not used in time.
        Expired = "EXPIRED",
        /// Deleted (soft): never listed.
        Cancelled = "CANCELLED",
    }
);

wire_enum!(
    /// The observed (undocumented) `ttl` form of an enrollment's lifetime.
    EnrollmentTtl {
        /// 2 hours.
        TwoHours = "TWO_HOURS",
        /// 24 hours.
        TwentyFourHours = "TWENTY_FOUR_HOURS",
        /// 48 hours.
        FortyEightHours = "FORTY_EIGHT_HOURS",
        /// 72 hours.
        SeventyTwoHours = "SEVENTY_TWO_HOURS",
    }
);

impl EnrollmentTtl {
    /// The lifetime in milliseconds (`None` for unknown values).
    #[must_use]
    pub fn millis(&self) -> Option<u64> {
        match self {
            Self::TwoHours => Some(7_200_000),
            Self::TwentyFourHours => Some(86_400_000),
            Self::FortyEightHours => Some(172_800_000),
            Self::SeventyTwoHours => Some(259_200_000),
            Self::Unknown(_) => None,
        }
    }
}

/// The body of `POST /ipp/v1/enrollments`. Give `expires_in` (documented, ms) or
/// `ttl` (observed enum), not both; neither means 2 hours.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, MapDeserialize)]
pub struct CreateEnrollmentRequest {
    /// Copied to the device on pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Milliseconds until the code expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Lifetime as the observed enum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<EnrollmentTtl>,
    /// Location the enrolled device will belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
}

impl CreateEnrollmentRequest {
    /// The code's lifetime in ms (after validation this is always in range).
    #[must_use]
    pub fn lifetime_ms(&self) -> u64 {
        self.expires_in.or_else(|| self.ttl.as_ref().and_then(EnrollmentTtl::millis)).unwrap_or(DEFAULT_EXPIRES_IN_MS)
    }
}

impl Validate for CreateEnrollmentRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        if self.expires_in.is_some() && self.ttl.is_some() {
            v.push("ttl", "conflict", "give expires_in or ttl, not both");
        }
        if let Some(ms) = self.expires_in {
            if !(MIN_EXPIRES_IN_MS..=MAX_EXPIRES_IN_MS).contains(&ms) {
                v.push(
                    "expires_in",
                    "out_of_range",
                    format!("must be from {MIN_EXPIRES_IN_MS} to {MAX_EXPIRES_IN_MS} milliseconds"),
                );
            }
        }
        if let Some(t @ EnrollmentTtl::Unknown(_)) = &self.ttl {
            v.push(
                "ttl",
                "unsupported",
                format!("{t} is not one of TWO_HOURS, TWENTY_FOUR_HOURS, FORTY_EIGHT_HOURS, SEVENTY_TWO_HOURS"),
            );
        }
        v.into_errors()
    }
}

/// An enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Enrollment {
    /// Enrollment id.
    pub enrollment_id: EnrollmentId,
    /// The code the clerk types into the POS app.
    pub enrollment_code: EnrollmentCode,
    /// When the code stops working.
    pub expires_at: Timestamp,
    /// Status.
    pub status: EnrollmentStatus,
    /// Metadata to copy to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Location the device will belong to (kipp's emulator returns it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
}

/// `GET /ipp/v1/enrollments` → 200 page of [`Enrollment`]. Requires `x-merchant-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEnrollments {
    /// Only this location's enrollments.
    pub location_id: Option<LocationId>,
    /// `key:value` filters, AND-ed, at most 5, keys unique.
    pub metadata: Vec<MetadataFilter>,
    /// Include CONSUMED enrollments (default true).
    pub include_consumed: bool,
    /// Which page.
    pub page: PageRequest,
}

impl Default for ListEnrollments {
    fn default() -> Self {
        Self { location_id: None, metadata: Vec::new(), include_consumed: true, page: PageRequest::default() }
    }
}

impl ListEnrollments {
    /// Parses the query of an incoming request.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, Vec<FieldError>> {
        let mut v = Validator::new();
        let mut out = Self::default();
        let mut metadata = QueryFilters::default();
        for (k, val) in pairs {
            if out.page.take_pair(&mut v, k, val) {
                continue;
            }
            match k.as_str() {
                "location_id" => match LocationId::parse(val) {
                    Ok(l) => out.location_id = Some(l),
                    Err(e) => v.push("location_id", "invalid", e.reason),
                },
                "metadata" => metadata.push(&mut v, val),
                // In any case (`TRUE`, `False`), as servers commonly read a boolean parameter.
                "include_consumed" => match val {
                    _ if val.eq_ignore_ascii_case("true") => out.include_consumed = true,
                    _ if val.eq_ignore_ascii_case("false") => out.include_consumed = false,
                    _ => v.push("include_consumed", "invalid", "must be true or false"),
                },
                _ => {}
            }
        }
        out.metadata = metadata.finish(&mut v);
        if v.is_ok() {
            Ok(out)
        } else {
            Err(v.into_errors())
        }
    }
}

impl Validate for ListEnrollments {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        validate_filters(&mut v, "metadata", &self.metadata);
        self.page.validate(&mut v);
        v.into_errors()
    }
}

impl Operation for ListEnrollments {
    type Body = ();
    type Response = Page<Enrollment>;
    const ID: OperationId = OperationId::ListEnrollments;
    fn path(&self) -> String {
        "/ipp/v1/enrollments".to_owned()
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = &self.location_id {
            q.push(("location_id", l.to_string()));
        }
        for f in &self.metadata {
            q.push(("metadata", String::from(f.clone())));
        }
        if !self.include_consumed {
            q.push(("include_consumed", "false".to_owned()));
        }
        q.extend(self.page.query());
        q
    }
}

/// `POST /ipp/v1/enrollments` → 201 [`Enrollment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEnrollment(pub CreateEnrollmentRequest);

impl Operation for CreateEnrollment {
    type Body = CreateEnrollmentRequest;
    type Response = Enrollment;
    const ID: OperationId = OperationId::CreateEnrollment;
    fn path(&self) -> String {
        "/ipp/v1/enrollments".to_owned()
    }
    fn body(&self) -> Option<&CreateEnrollmentRequest> {
        Some(&self.0)
    }
}

/// `DELETE /ipp/v1/enrollments/{enrollment_id}` → 204 (status becomes CANCELLED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEnrollment(pub EnrollmentId);

impl Operation for DeleteEnrollment {
    type Body = ();
    type Response = Empty;
    const ID: OperationId = OperationId::DeleteEnrollment;
    fn path(&self) -> String {
        format!("/ipp/v1/enrollments/{}", escape_segment(self.0.as_str()))
    }
}
