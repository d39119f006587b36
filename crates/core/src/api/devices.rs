//! Devices: `GET /ipp/v1/devices`, `GET|PUT|DELETE /ipp/v1/devices/{id}`, and
//! device registration with an enrollment code (what the POS app does).
//! Docs: <https://docs.kustom.co/contents/api/in-person-payments/devices/updatedevice>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use super::page::{Page, PageRequest};
use super::{wire_enum, Empty, Operation, OperationId, Validate};
use crate::ids::{escape_segment, DeviceId, EnrollmentCode, HardwareId, LocationId, MerchantId};
use crate::metadata::{validate_filters, Metadata, MetadataFilter, QueryFilters};
use crate::time::Timestamp;
use crate::validate::{FieldError, Validator};

/// Longest device name.
pub const MAX_DEVICE_NAME_LEN: usize = 255;

wire_enum!(
    /// The device's platform.
    DevicePlatform {
        /// iPhone / iPad running Kustom POS.
        Ios = "IOS",
        /// Android phone running Kustom POS.
        Android = "ANDROID",
        /// A dedicated terminal (kipp's virtual terminal registers as this).
        Terminal = "TERMINAL",
    }
);

/// Credentials a device receives once, when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct DeviceCredentials {
    /// The device's bearer token.
    pub bearer_token: String,
    /// When it was issued (camelCase on the wire, as Kustom documents).
    #[serde(rename = "issuedAt")]
    pub issued_at: Timestamp,
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Device {
    /// Device id.
    pub id: DeviceId,
    /// Hardware id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_id: Option<HardwareId>,
    /// Owning merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<MerchantId>,
    /// Location the device belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DevicePlatform>,
    /// Metadata copied from the enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// When the device registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Cash register currently open on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_cash_register_id: Option<i64>,
    /// Only in the registration response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<DeviceCredentials>,
    /// Deprecated alias of `hardware_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// The body of `PUT /ipp/v1/devices/{id}`: replaces all three mutable fields
/// (a field left out is cleared, as observed on the live API).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, MapDeserialize)]
pub struct UpdateDeviceRequest {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// New location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
}

impl Validate for UpdateDeviceRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        if let Some(n) = &self.name {
            v.text("name", n, 1, MAX_DEVICE_NAME_LEN);
        }
        v.into_errors()
    }
}

/// The body of device registration (kipp decision; the POS app's call is undocumented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct RegisterDeviceRequest {
    /// The code from an enrollment.
    pub enrollment_code: EnrollmentCode,
    /// The device's hardware id.
    pub hardware_id: HardwareId,
    /// Platform.
    pub platform: DevicePlatform,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Validate for RegisterDeviceRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        if let Some(n) = &self.name {
            v.text("name", n, 1, MAX_DEVICE_NAME_LEN);
        }
        if !self.platform.is_known() {
            v.push("platform", "unsupported", "must be one of IOS, ANDROID, TERMINAL");
        }
        v.into_errors()
    }
}

/// `GET /ipp/v1/devices` → 200 page of [`Device`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListDevices {
    /// Only this location's devices.
    pub location_id: Option<LocationId>,
    /// `key:value` filters, AND-ed, at most 5.
    pub metadata: Vec<MetadataFilter>,
    /// Which page.
    pub page: PageRequest,
}

impl ListDevices {
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

impl Validate for ListDevices {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        validate_filters(&mut v, "metadata", &self.metadata);
        self.page.validate(&mut v);
        v.into_errors()
    }
}

impl Operation for ListDevices {
    type Body = ();
    type Response = Page<Device>;
    const ID: OperationId = OperationId::ListDevices;
    fn path(&self) -> String {
        "/ipp/v1/devices".to_owned()
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = &self.location_id {
            q.push(("location_id", l.to_string()));
        }
        for f in &self.metadata {
            q.push(("metadata", String::from(f.clone())));
        }
        q.extend(self.page.query());
        q
    }
}

/// `GET /ipp/v1/devices/{id}` → 200 [`Device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetDevice(pub DeviceId);

impl Operation for GetDevice {
    type Body = ();
    type Response = Device;
    const ID: OperationId = OperationId::GetDevice;
    fn path(&self) -> String {
        format!("/ipp/v1/devices/{}", escape_segment(self.0.as_str()))
    }
}

/// `PUT /ipp/v1/devices/{id}` → 200 [`Device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDevice {
    /// Which device.
    pub id: DeviceId,
    /// The new mutable fields.
    pub body: UpdateDeviceRequest,
}

impl Operation for UpdateDevice {
    type Body = UpdateDeviceRequest;
    type Response = Device;
    const ID: OperationId = OperationId::UpdateDevice;
    fn path(&self) -> String {
        format!("/ipp/v1/devices/{}", escape_segment(self.id.as_str()))
    }
    fn body(&self) -> Option<&UpdateDeviceRequest> {
        Some(&self.body)
    }
}

/// `DELETE /ipp/v1/devices/{id}` → 204.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteDevice(pub DeviceId);

impl Operation for DeleteDevice {
    type Body = ();
    type Response = Empty;
    const ID: OperationId = OperationId::DeleteDevice;
    fn path(&self) -> String {
        format!("/ipp/v1/devices/{}", escape_segment(self.0.as_str()))
    }
}

/// `POST /ipp/v1/devices/register` → 201 [`Device`] with `credentials`. No API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterDevice(pub RegisterDeviceRequest);

impl Operation for RegisterDevice {
    type Body = RegisterDeviceRequest;
    type Response = Device;
    const ID: OperationId = OperationId::RegisterDevice;
    fn path(&self) -> String {
        "/ipp/v1/devices/register".to_owned()
    }
    fn body(&self) -> Option<&RegisterDeviceRequest> {
        Some(&self.0)
    }
}
