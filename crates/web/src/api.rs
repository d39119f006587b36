//! The client's operations in plain Rust: decode and validate the caller's
//! input with kipp-core and build the [`Call`]. [`crate::Runtime::run`] hands
//! the call to the snippet's `call` (`js/kipp.js`), which carries it out.

use kipp_core::api::devices::{DeleteDevice, ListDevices, UpdateDevice};
use kipp_core::api::enrollments::{CreateEnrollment, CreateEnrollmentRequest, DeleteEnrollment, ListEnrollments};
use kipp_core::api::locations::{CreateLocation, ListLocations};
use kipp_core::api::page::PageRequest;
use kipp_core::api::sessions::{CancelSession, CreateSession, GetSession};
use kipp_core::api::testing::{CreateSimulatedDevice, CreateSimulatedDeviceRequest, SimulateTap, TapOutcome};
use kipp_core::api::Validate;
use kipp_core::ids::{escape_segment, DeviceId, EnrollmentId, InvalidId, LocationId, SessionId};
use kipp_core::money::{format_amount, Currency, MAX_AMOUNT};
use kipp_core::validate::FieldError;
use wasm_bindgen::JsValue;

use crate::client::{idempotency_key, Call};
use crate::convert::{opt_string, wrong_type};
use crate::decode;
use crate::error::Failure;
use crate::write::JsonWriter;

fn invalid(path: &str, code: &str, message: &str) -> Failure {
    Failure::validation(vec![FieldError::new(path, code, message)])
}

/// Parses an id argument; a bad one is a `validation_failed` at `path`.
pub fn parse_id<T>(value: &str, path: &str, parse: fn(&str) -> Result<T, InvalidId>) -> Result<T, Failure> {
    parse(value).map_err(|e| invalid(path, "invalid", e.reason))
}

/// Reads a JS request object with `decode` and runs kipp-core's rules on it.
fn decode_with<T: Validate>(
    value: &JsValue,
    decode: fn(&crate::json::Json) -> Result<T, Vec<FieldError>>,
) -> Result<T, Failure> {
    decode::valid(decode::read_with(value, decode)).map_err(Failure::validation)
}

/// `validateSession`: every broken rule of a create-session body, offline.
#[must_use]
pub fn validate_session(request: &JsValue) -> Vec<FieldError> {
    match decode::valid(decode::read_with(request, decode::create_session)) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

/// `formatAmount(minor, currency, locale?)` with the arguments as the caller gave them: a
/// number (not a numeric string, `null` or a BigInt), a currency string and an optional locale
/// string; anything else is a `validation_failed` at its name.
pub fn format(minor: &JsValue, currency: &JsValue, locale: &JsValue) -> Result<String, Failure> {
    let max = MAX_AMOUNT as f64;
    let minor = minor.as_f64().ok_or_else(|| wrong_type("minor", "must be a number of minor units"))?;
    if !minor.is_finite() || minor.fract() != 0.0 || minor.abs() > max {
        return Err(invalid("minor", "invalid", "must be an integer number of minor units within ±2^53"));
    }
    let cur = currency
        .as_string()
        .and_then(|c| Currency::parse(&c).ok())
        .ok_or_else(|| invalid("currency", "invalid", "must be an ISO 4217 currency code such as SEK"))?;
    let locale = if locale.is_undefined() || locale.is_null() {
        None
    } else {
        Some(locale.as_string().ok_or_else(|| wrong_type("locale", "must be a BCP 47 language tag string"))?)
    };
    Ok(format_amount(minor as i64, &cur, locale.as_deref().unwrap_or("en")))
}

/// `createSession`: validate locally, then POST with an idempotency key that
/// every retry reuses.
pub fn create_session(request: JsValue, options: JsValue) -> Result<Call, Failure> {
    let body = decode_with(&request, decode::create_session)?;
    let key = match opt_string(&options, "idempotencyKey")? {
        // The worker's rule (crates/edge idem): the key goes out in a header.
        Some(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k,
        Some(_) => return Err(invalid("idempotencyKey", "invalid", "must be 1-255 visible ASCII characters")),
        None => idempotency_key()?,
    };
    let location_id =
        opt_string(&options, "location_id")?.map(|l| parse_id(&l, "location_id", LocationId::parse)).transpose()?;
    Call::op(&CreateSession { body, location_id }, Some(key))
}

/// `getSession`.
pub fn get_session(id: &str) -> Result<Call, Failure> {
    Call::op(&GetSession(parse_id(id, "id", SessionId::parse)?), None)
}

/// `cancelSession`.
pub fn cancel_session(id: &str) -> Result<Call, Failure> {
    Call::op(&CancelSession(parse_id(id, "id", SessionId::parse)?), None)
}

fn read_filter(v: &JsValue) -> Result<decode::Filter, Failure> {
    if v.is_undefined() || v.is_null() {
        return Ok(decode::Filter::default());
    }
    decode::read_with(v, decode::filter).map_err(Failure::validation)
}

fn page_of(f: &decode::Filter) -> PageRequest {
    let d = PageRequest::default();
    PageRequest { page_number: f.page_number.unwrap_or(d.page_number), page_size: f.page_size.unwrap_or(d.page_size) }
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
pub fn list_devices(filter: JsValue) -> Result<Call, Failure> {
    let f = read_filter(&filter)?;
    let op = checked(ListDevices { page: page_of(&f), location_id: f.location_id, metadata: f.metadata })?;
    Call::op(&op, None)
}

/// `listLocations(page)`.
pub fn list_locations(page: JsValue) -> Result<Call, Failure> {
    let page = page_of(&read_filter(&page)?);
    let mut v = kipp_core::validate::Validator::new();
    page.validate(&mut v);
    if !v.is_ok() {
        return Err(Failure::validation(v.into_errors()));
    }
    Call::op(&ListLocations { page }, None)
}

/// `createLocation(request)` (admin).
pub fn create_location(request: JsValue) -> Result<Call, Failure> {
    let body = decode_with(&request, decode::location)?;
    Call::op(&CreateLocation(body), None)
}

/// `createEnrollment(request)` (admin).
pub fn create_enrollment(request: JsValue) -> Result<Call, Failure> {
    let body: CreateEnrollmentRequest = if request.is_undefined() || request.is_null() {
        CreateEnrollmentRequest::default()
    } else {
        decode_with(&request, decode::create_enrollment)?
    };
    Call::op(&CreateEnrollment(body), None)
}

/// `listEnrollments(filter)` (admin).
pub fn list_enrollments(filter: JsValue) -> Result<Call, Failure> {
    let f = read_filter(&filter)?;
    let op = checked(ListEnrollments {
        page: page_of(&f),
        include_consumed: f.include_consumed.unwrap_or(true),
        location_id: f.location_id,
        metadata: f.metadata,
    })?;
    Call::op(&op, None)
}

/// `deleteEnrollment(id)` (admin).
pub fn delete_enrollment(id: &str) -> Result<Call, Failure> {
    Call::op(&DeleteEnrollment(parse_id(id, "id", EnrollmentId::parse)?), None)
}

/// `updateDevice(id, update)` (admin).
pub fn update_device(id: &str, update: JsValue) -> Result<Call, Failure> {
    let id = parse_id(id, "id", DeviceId::parse)?;
    let body = decode_with(&update, decode::update_device)?;
    Call::op(&UpdateDevice { id, body }, None)
}

/// `deleteDevice(id)` (admin).
pub fn delete_device(id: &str) -> Result<Call, Failure> {
    Call::op(&DeleteDevice(parse_id(id, "id", DeviceId::parse)?), None)
}

/// `createSimulatedDevice(name, options)` (playground).
pub fn create_simulated_device(name: String, options: JsValue) -> Result<Call, Failure> {
    let (location_id, metadata) = if options.is_undefined() || options.is_null() {
        (None, None)
    } else {
        decode::read_with(&options, decode::simulated_device_options).map_err(Failure::validation)?
    };
    let body = checked(CreateSimulatedDeviceRequest { name, location_id, metadata })?;
    Call::op(&CreateSimulatedDevice(body), None)
}

/// `simulateTap(sessionId, outcome)` (playground).
pub fn simulate_tap(session_id: &str, outcome: Option<String>) -> Result<Call, Failure> {
    let session_id = parse_id(session_id, "sessionId", SessionId::parse)?;
    let outcome = match outcome {
        None => None,
        Some(o) => {
            let t = TapOutcome::from_wire(&o);
            if !t.is_known() {
                return Err(invalid(
                    "outcome",
                    "unsupported",
                    "must be one of the 10 documented outcomes, e.g. SUCCESS",
                ));
            }
            Some(t)
        }
    };
    Call::op(&SimulateTap { session_id, outcome }, None)
}

/// `me()`: `GET /kipp/v1/me`.
pub fn me() -> Result<Call, Failure> {
    Ok(Call::get("/kipp/v1/me".to_owned()))
}

/// `issueToken(request)` (admin): `POST /kipp/v1/tokens`.
pub fn issue_token(request: JsValue) -> Result<Call, Failure> {
    let (role, location_id, ttl_seconds) =
        decode::read_with(&request, decode::issue_token).map_err(Failure::validation)?;
    let mut body = JsonWriter::default();
    body.object(|o| {
        o.str("role", &role);
        o.opt_str("location_id", location_id.as_ref().map(LocationId::as_str));
        o.opt_uint("ttl_seconds", ttl_seconds.map(u64::from));
    });
    Ok(Call {
        method: "POST",
        path: "/kipp/v1/tokens".to_owned(),
        body: Some(body.into_text()),
        idempotency_key: None,
        retry: false,
        nullable: false,
    })
}

/// `revokeToken(jti)` (an admin token without a location): `POST /kipp/v1/tokens/revoke`. The
/// token, and every token minted with it, is refused from then on.
pub fn revoke_token(jti: &str) -> Result<Call, Failure> {
    if !kipp_core::ids::is_jti(jti) {
        return Err(invalid("jti", "invalid", "must be a token id (1-64 of A-Z a-z 0-9 - _)"));
    }
    let mut body = JsonWriter::default();
    body.object(|o| o.str("jti", jti));
    Ok(Call {
        method: "POST",
        path: "/kipp/v1/tokens/revoke".to_owned(),
        body: Some(body.into_text()),
        idempotency_key: None,
        // Revoking twice is revoking once.
        retry: true,
        nullable: false,
    })
}

/// `deviceSession(deviceId)`: the device's open session, or `null`
/// (`GET /kipp/v1/devices/{id}/current-session`).
pub fn device_session(device_id: &str) -> Result<Call, Failure> {
    let id = parse_id(device_id, "deviceId", DeviceId::parse)?;
    let path = ["/kipp/v1/devices/", &escape_segment(id.as_str()), "/current-session"].concat();
    Ok(Call { nullable: true, ..Call::get(path) })
}
