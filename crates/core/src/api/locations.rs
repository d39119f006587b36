//! Locations (physical stores): `GET /ipp/v1/locations`, `GET /ipp/v1/locations/{id}`,
//! and, as kipp decisions (Kustom documents none), create, update and delete.
//! Docs: <https://docs.kustom.co/contents/api/in-person-payments/locations/getlocation>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use super::page::{Page, PageRequest};
use super::{Empty, Operation, OperationId, Validate};
use crate::ids::{escape_segment, LocationId, MerchantId};
use crate::time::Timestamp;
use crate::validate::{FieldError, Validator};

/// A physical location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Location {
    /// Location id.
    pub id: LocationId,
    /// Owning merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<MerchantId>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// Second address line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address2: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// The body of create and update location (kipp decision): update replaces all fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, MapDeserialize)]
pub struct LocationRequest {
    /// Display name (required).
    pub name: String,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// Second address line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address2: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Validate for LocationRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        v.text("name", &self.name, 1, 255);
        for (path, val) in [
            ("street_address", &self.street_address),
            ("street_address2", &self.street_address2),
            ("postal_code", &self.postal_code),
            ("city", &self.city),
        ] {
            if let Some(s) = val {
                v.text(path, s, 0, 255);
            }
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                v.push("country", "invalid", "must be an ISO 3166-1 alpha-2 code such as SE");
            }
        }
        v.into_errors()
    }
}

/// `GET /ipp/v1/locations` → 200 page of [`Location`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListLocations {
    /// Which page.
    pub page: PageRequest,
}

/// The page bounds, for a request built in code (a parsed query is checked as it is read), as
/// `ListDevices` and `ListEnrollments` check theirs.
impl Validate for ListLocations {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        self.page.validate(&mut v);
        v.into_errors()
    }
}

impl ListLocations {
    /// Parses the query of an incoming request.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, Vec<FieldError>> {
        let mut v = Validator::new();
        let mut out = Self::default();
        for (k, val) in pairs {
            out.page.take_pair(&mut v, k, val);
        }
        if v.is_ok() {
            Ok(out)
        } else {
            Err(v.into_errors())
        }
    }
}

impl Operation for ListLocations {
    type Body = ();
    type Response = Page<Location>;
    const ID: OperationId = OperationId::ListLocations;
    fn path(&self) -> String {
        "/ipp/v1/locations".to_owned()
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        self.page.query()
    }
}

/// `GET /ipp/v1/locations/{id}` → 200 [`Location`]. Requires `x-merchant-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetLocation(pub LocationId);

impl Operation for GetLocation {
    type Body = ();
    type Response = Location;
    const ID: OperationId = OperationId::GetLocation;
    fn path(&self) -> String {
        format!("/ipp/v1/locations/{}", escape_segment(self.0.as_str()))
    }
}

/// `POST /ipp/v1/locations` → 201 [`Location`] (kipp decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLocation(pub LocationRequest);

impl Operation for CreateLocation {
    type Body = LocationRequest;
    type Response = Location;
    const ID: OperationId = OperationId::CreateLocation;
    fn path(&self) -> String {
        "/ipp/v1/locations".to_owned()
    }
    fn body(&self) -> Option<&LocationRequest> {
        Some(&self.0)
    }
}

/// `PUT /ipp/v1/locations/{id}` → 200 [`Location`] (kipp decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateLocation {
    /// Which location.
    pub id: LocationId,
    /// Its new fields.
    pub body: LocationRequest,
}

impl Operation for UpdateLocation {
    type Body = LocationRequest;
    type Response = Location;
    const ID: OperationId = OperationId::UpdateLocation;
    fn path(&self) -> String {
        format!("/ipp/v1/locations/{}", escape_segment(self.id.as_str()))
    }
    fn body(&self) -> Option<&LocationRequest> {
        Some(&self.body)
    }
}

/// `DELETE /ipp/v1/locations/{id}` → 204 (kipp decision; 409 while devices use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteLocation(pub LocationId);

impl Operation for DeleteLocation {
    type Body = ();
    type Response = Empty;
    const ID: OperationId = OperationId::DeleteLocation;
    fn path(&self) -> String {
        format!("/ipp/v1/locations/{}", escape_segment(self.0.as_str()))
    }
}
