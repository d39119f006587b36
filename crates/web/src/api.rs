//! The client's operations in plain Rust: decode and validate the caller's
//! input with kipp-core, build the operation, carry it out. `lib.rs` only
//! wraps these in promises.

use kipp_core::api::devices::{DeleteDevice, ListDevices, UpdateDevice, UpdateDeviceRequest};
use kipp_core::api::enrollments::{CreateEnrollment, CreateEnrollmentRequest, DeleteEnrollment, ListEnrollments};
use kipp_core::api::locations::{CreateLocation, ListLocations, LocationRequest};
use kipp_core::api::page::PageRequest;
use kipp_core::api::sessions::{CancelSession, CreateSession, CreateSessionRequest, GetSession};
use kipp_core::api::testing::{CreateSimulatedDevice, CreateSimulatedDeviceRequest, SimulateTap, TapOutcome};
use kipp_core::api::Validate;
use kipp_core::ids::{escape_segment, DeviceId, EnrollmentId, InvalidId, LocationId, SessionId};
use kipp_core::metadata::MetadataFilter;
use kipp_core::money::{format_amount, Currency, MAX_AMOUNT};
use kipp_core::validate::FieldError;
use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::client::{idempotency_key, Call, Client};
use crate::convert::{decode_valid, from_js, opt_string, to_json};
use crate::error::Failure;

fn invalid(path: &str, code: &str, message: &str) -> Failure {
    Failure::validation(vec![FieldError::new(path, code, message)])
}

/// Parses an id argument; a bad one is a `validation_failed` at `path`.
pub fn parse_id<T>(value: &str, path: &str, parse: fn(&str) -> Result<T, InvalidId>) -> Result<T, Failure> {
    parse(value).map_err(|e| invalid(path, "invalid", e.reason))
}

/// `validateSession`: every broken rule of a create-session body, offline.
#[must_use]
pub fn validate_session(request: JsValue) -> Vec<FieldError> {
    match decode_valid::<CreateSessionRequest>(request) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

/// `formatAmount`.
pub fn format(minor: f64, currency: &str, locale: Option<String>) -> Result<String, Failure> {
    let max = MAX_AMOUNT as f64;
    if !minor.is_finite() || minor.fract() != 0.0 || minor.abs() > max {
        return Err(invalid("minor", "invalid", "must be an integer number of minor units within ±2^53"));
    }
    let cur = Currency::parse(currency)
        .map_err(|_| invalid("currency", "invalid", "must be an ISO 4217 currency code such as SEK"))?;
    Ok(format_amount(minor as i64, &cur, locale.as_deref().unwrap_or("en")))
}

/// `createSession`: validate locally, then POST with an idempotency key that
/// every retry reuses.
pub async fn create_session(c: &Client, request: JsValue, options: JsValue) -> Result<JsValue, Failure> {
    let body: CreateSessionRequest = decode_valid(request).map_err(Failure::validation)?;
    let key = match opt_string(&options, "idempotencyKey") {
        Some(k) if !k.is_empty() && k.len() <= 255 => k,
        Some(_) => return Err(invalid("idempotencyKey", "invalid", "must be 1-255 characters")),
        None => idempotency_key()?,
    };
    let location_id =
        opt_string(&options, "location_id").map(|l| parse_id(&l, "location_id", LocationId::parse)).transpose()?;
    c.op(&CreateSession { body, location_id }, Some(key)).await
}

/// `getSession`.
pub async fn get_session(c: &Client, id: &str) -> Result<JsValue, Failure> {
    c.op(&GetSession(parse_id(id, "id", SessionId::parse)?), None).await
}

/// `cancelSession`.
pub async fn cancel_session(c: &Client, id: &str) -> Result<JsValue, Failure> {
    c.op(&CancelSession(parse_id(id, "id", SessionId::parse)?), None).await
}

#[derive(Deserialize, Default)]
struct Filter {
    #[serde(default)]
    location_id: Option<LocationId>,
    #[serde(default)]
    metadata: Option<Vec<MetadataFilter>>,
    #[serde(default)]
    page_number: Option<u32>,
    #[serde(default)]
    page_size: Option<u32>,
    #[serde(default)]
    include_consumed: Option<bool>,
}

impl Filter {
    fn read(v: JsValue) -> Result<Self, Failure> {
        if v.is_undefined() || v.is_null() {
            return Ok(Self::default());
        }
        from_js(v).map_err(|e| Failure::validation(vec![e]))
    }
    fn page(&self) -> PageRequest {
        let d = PageRequest::default();
        PageRequest { page_number: self.page_number.unwrap_or(d.page_number), page_size: self.page_size.unwrap_or(d.page_size) }
    }
}

fn checked<T: Validate>(v: T) -> Result<T, Failure> {
    let errors = v.validate();
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(Failure::validation(errors))
    }
}

/// `listDevices(filter)`.
pub async fn list_devices(c: &Client, filter: JsValue) -> Result<JsValue, Failure> {
    let f = Filter::read(filter)?;
    let op = checked(ListDevices { page: f.page(), location_id: f.location_id, metadata: f.metadata.unwrap_or_default() })?;
    c.op(&op, None).await
}

/// `listLocations(page)`.
pub async fn list_locations(c: &Client, page: JsValue) -> Result<JsValue, Failure> {
    let page = Filter::read(page)?.page();
    let mut v = kipp_core::validate::Validator::new();
    page.validate(&mut v);
    if !v.is_ok() {
        return Err(Failure::validation(v.into_errors()));
    }
    c.op(&ListLocations { page }, None).await
}

/// `createLocation(request)` (admin).
pub async fn create_location(c: &Client, request: JsValue) -> Result<JsValue, Failure> {
    let body: LocationRequest = decode_valid(request).map_err(Failure::validation)?;
    c.op(&CreateLocation(body), None).await
}

/// `createEnrollment(request)` (admin).
pub async fn create_enrollment(c: &Client, request: JsValue) -> Result<JsValue, Failure> {
    let body: CreateEnrollmentRequest = if request.is_undefined() || request.is_null() {
        CreateEnrollmentRequest::default()
    } else {
        decode_valid(request).map_err(Failure::validation)?
    };
    c.op(&CreateEnrollment(body), None).await
}

/// `listEnrollments(filter)` (admin).
pub async fn list_enrollments(c: &Client, filter: JsValue) -> Result<JsValue, Failure> {
    let f = Filter::read(filter)?;
    let op = checked(ListEnrollments {
        page: f.page(),
        include_consumed: f.include_consumed.unwrap_or(true),
        location_id: f.location_id,
        metadata: f.metadata.unwrap_or_default(),
    })?;
    c.op(&op, None).await
}

/// `deleteEnrollment(id)` (admin).
pub async fn delete_enrollment(c: &Client, id: &str) -> Result<JsValue, Failure> {
    c.op(&DeleteEnrollment(parse_id(id, "id", EnrollmentId::parse)?), None).await.map(|_| JsValue::UNDEFINED)
}

/// `updateDevice(id, update)` (admin).
pub async fn update_device(c: &Client, id: &str, update: JsValue) -> Result<JsValue, Failure> {
    let id = parse_id(id, "id", DeviceId::parse)?;
    let body: UpdateDeviceRequest = decode_valid(update).map_err(Failure::validation)?;
    c.op(&UpdateDevice { id, body }, None).await
}

/// `deleteDevice(id)` (admin).
pub async fn delete_device(c: &Client, id: &str) -> Result<JsValue, Failure> {
    c.op(&DeleteDevice(parse_id(id, "id", DeviceId::parse)?), None).await.map(|_| JsValue::UNDEFINED)
}

/// `createSimulatedDevice(name, options)` (playground).
pub async fn create_simulated_device(c: &Client, name: String, options: JsValue) -> Result<JsValue, Failure> {
    #[derive(Deserialize, Default)]
    struct Opts {
        #[serde(default)]
        location_id: Option<LocationId>,
        #[serde(default)]
        metadata: Option<kipp_core::metadata::Metadata>,
    }
    let o: Opts = if options.is_undefined() || options.is_null() {
        Opts::default()
    } else {
        from_js(options).map_err(|e| Failure::validation(vec![e]))?
    };
    let body = checked(CreateSimulatedDeviceRequest { name, location_id: o.location_id, metadata: o.metadata })?;
    c.op(&CreateSimulatedDevice(body), None).await
}

/// `simulateTap(sessionId, outcome)` (playground).
pub async fn simulate_tap(c: &Client, session_id: &str, outcome: Option<String>) -> Result<JsValue, Failure> {
    let session_id = parse_id(session_id, "sessionId", SessionId::parse)?;
    let outcome = match outcome {
        None => None,
        Some(o) => {
            let t = TapOutcome::from_wire(&o);
            if !t.is_known() {
                return Err(invalid("outcome", "unsupported", "must be one of the 10 documented outcomes, e.g. SUCCESS"));
            }
            Some(t)
        }
    };
    c.op(&SimulateTap { session_id, outcome }, None).await
}

/// `me()`: `GET /kipp/v1/me`.
pub async fn me(c: &Client) -> Result<JsValue, Failure> {
    c.call(&Call::get("/kipp/v1/me".to_owned()), None).await
}

/// `issueToken(request)` (admin): `POST /kipp/v1/tokens`.
pub async fn issue_token(c: &Client, request: JsValue) -> Result<JsValue, Failure> {
    #[derive(Deserialize, serde::Serialize)]
    struct IssueToken {
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location_id: Option<LocationId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds: Option<u32>,
    }
    let req: IssueToken = from_js(request).map_err(|e| Failure::validation(vec![e]))?;
    if req.role != "clerk" && req.role != "admin" {
        return Err(invalid("role", "unsupported", "must be clerk or admin"));
    }
    let call = Call {
        method: "POST",
        path: "/kipp/v1/tokens".to_owned(),
        body: Some(to_json(&req)?),
        idempotency_key: None,
        retry: false,
    };
    c.call(&call, None).await
}

/// `deviceSession(deviceId)`: the device's open session, or `null`
/// (`GET /kipp/v1/devices/{id}/current-session`).
pub async fn device_session(c: &Client, device_id: &str) -> Result<JsValue, Failure> {
    let id = parse_id(device_id, "deviceId", DeviceId::parse)?;
    let path = ["/kipp/v1/devices/", &escape_segment(id.as_str()), "/current-session"].concat();
    match c.call(&Call::get(path), None).await {
        Err(f) if f.code == "not_found" => Ok(JsValue::NULL),
        Ok(v) if v.is_undefined() => Ok(JsValue::NULL),
        other => other,
    }
}

