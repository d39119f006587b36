//! From an incoming `/ipp/v1/...` request to the upstream request the worker will send.
//!
//! The route table of kipp-core is the allow-list: a method and path it does not know is a
//! 404/405 here, and the upstream request is rebuilt from validated, typed values (never the
//! client's raw path, query or headers), so the worker cannot be used as an open proxy.
//! Location scope is applied where it can be decided from the request alone; the checks that
//! need the device or session are returned as [`ScopeCheck`] for the async shell.

use kipp_core::api::devices::{
    DeleteDevice, GetDevice, ListDevices, RegisterDevice, UpdateDevice, UpdateDeviceRequest,
};
use kipp_core::api::enrollments::{CreateEnrollment, CreateEnrollmentRequest, DeleteEnrollment, ListEnrollments};
use kipp_core::api::locations::{
    CreateLocation, DeleteLocation, GetLocation, ListLocations, LocationRequest, UpdateLocation,
};
use kipp_core::api::page::{Page, PageRequest};
use kipp_core::api::sessions::{CancelSession, CreateSession, CreateSessionRequest, GetSession};
use kipp_core::api::testing::{CreateSimulatedDevice, CreateSimulatedDeviceRequest, SimulateTap};
use kipp_core::api::{
    build_request, decode_and_validate, parse_query, route, HttpRequest, Method, Operation, OperationId, RouteMiss,
    Validate,
};
use kipp_core::ids::{DeviceId, EnrollmentId, LocationId, MerchantId, SessionId};
use kipp_core::problem::Problem;
use kipp_core::token::Claims;
use kipp_core::validate::FieldError;
use kipp_core::CoreError;

use crate::auth;

/// Largest request body the worker accepts (a 1000-line cart fits comfortably).
pub const MAX_BODY: usize = 512 * 1024;

/// A request body as received: its bytes, and whether its `Content-Type` says JSON.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    /// The bytes (at most [`MAX_BODY`]).
    pub bytes: &'a [u8],
    /// [`kipp_core::api::is_json`] of the request's `Content-Type`.
    pub json: bool,
}

/// 415 for a body that is not JSON, with the emulator's code and detail: it is refused before
/// anything is forwarded, instead of being read as JSON whatever its type says.
#[must_use]
fn not_json() -> Problem {
    Problem::new(
        415,
        "unsupported_media_type",
        "Unsupported Media Type",
        "send the body as JSON with Content-Type: application/json",
    )
}

/// 413 naming the limit (as the emulator words it), so a client knows how far to cut.
#[must_use]
pub fn too_large(limit: usize) -> Problem {
    Problem::new(413, "payload_too_large", "Payload Too Large", format!("request bodies are limited to {limit} bytes"))
}

/// True when `body` is blank: an operation that takes a body then answers 400 `required`.
fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// The body of an operation that takes one: a blank body is left to the required-body check
/// (400), any other must be sent as JSON (415).
fn json_bytes(body: Body<'_>) -> Result<&[u8], Problem> {
    if body.json || is_blank(body.bytes) {
        Ok(body.bytes)
    } else {
        Err(not_json())
    }
}

/// What must still be checked against a location-scoped token before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeCheck {
    /// Nothing (no `loc` in the token, or already checked).
    None,
    /// The device must belong to the token's location.
    Device(DeviceId),
    /// The session's device must belong to the token's location.
    Session(SessionId),
}

/// A validated request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The operation.
    pub op: OperationId,
    /// What to send upstream.
    pub request: HttpRequest,
    /// The scope check left to do.
    pub check: ScopeCheck,
    /// The session the operation is about (get/cancel/simulate-tap).
    pub session_id: Option<SessionId>,
    /// The device the operation changes (update/delete: its cached location is dropped).
    pub device_id: Option<DeviceId>,
    /// The cart, for session creation.
    pub create: Option<CreateSession>,
    /// A location-scoped `ListLocations`: `request` reads the scope's own location, and the
    /// answer is that location as a page of this size and number (filtering one page of the whole
    /// list would miss a location on a later page, and report the page as the whole list).
    pub scoped_locations: Option<PageRequest>,
}

fn problem_from(e: CoreError) -> Problem {
    match e {
        CoreError::Validation(errs) => Problem::validation(errs),
        other => Problem::new(400, other.code(), "Bad Request", "the request could not be read"),
    }
}

/// The operation's body, decoded and validated. Every operation that takes a body requires one
/// (openapi.yaml: `requestBody.required: true`): a missing or blank body is a 400 at `""`, as
/// the emulator answers, never read as `{}` (on `PUT /ipp/v1/devices/{id}` that clears the device).
/// A body that is not JSON is 415, as the emulator answers; only the operations that take a body
/// come here, so one sent with any other operation is ignored, as the emulator does.
fn body_of<T: serde::de::DeserializeOwned + Validate>(body: Body<'_>) -> Result<T, Problem> {
    decode_and_validate(required(body)?).map_err(problem_from)
}

/// The checks of [`body_of`] that do not depend on the type (one copy, not one per type).
fn required(body: Body<'_>) -> Result<&[u8], Problem> {
    let bytes = json_bytes(body)?;
    if is_blank(bytes) {
        return Err(Problem::validation(vec![FieldError::new(
            "",
            "required",
            "the request body is required (send {} for no fields)",
        )]));
    }
    Ok(bytes)
}

fn param<T>(
    p: Option<&String>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, kipp_core::ids::InvalidId>,
) -> Result<T, Problem> {
    let p = p.map(String::as_str).unwrap_or_default();
    // A malformed id cannot exist upstream: answer 404, as Kustom does.
    parse(p).map_err(|e| Problem::new(404, "not_found", "Not Found", format!("{name}: {}", e.reason)))
}

fn same_loc(scope: Option<&LocationId>, loc: Option<&LocationId>) -> Result<(), Problem> {
    match (scope, loc) {
        (Some(s), Some(l)) if s != l => Err(auth::wrong_location()),
        _ => Ok(()),
    }
}

fn req<O: Operation>(op: &O, mid: &MerchantId) -> Result<HttpRequest, Problem> {
    build_request(op, Some(mid)).map_err(problem_from)
}

fn plan(op: OperationId, request: HttpRequest) -> Plan {
    Plan {
        op,
        request,
        check: ScopeCheck::None,
        session_id: None,
        device_id: None,
        create: None,
        scoped_locations: None,
    }
}

/// Maps a method and path to an operation, or the 404/405 problem.
pub fn find(method: &str, path: &str) -> Result<kipp_core::api::Route, Problem> {
    let m = Method::parse(method).ok_or_else(|| {
        Problem::new(405, "method_not_allowed", "Method Not Allowed", format!("{method} is not used"))
    })?;
    route(m, path).map_err(|miss| match miss {
        RouteMiss::NotFound => Problem::new(404, "not_found", "Not Found", "no such operation"),
        RouteMiss::MethodNotAllowed => {
            Problem::new(405, "method_not_allowed", "Method Not Allowed", format!("{method} is not allowed here"))
        }
    })
}

/// The location list of a location-scoped token: the scope's own location (`None` when Kustom
/// no longer has it) as a one-item list, paged as asked. The location is Kustom's JSON passed on
/// as it came, not decoded into kipp's type and encoded again, so a field kipp does not model is
/// kept and a value outside kipp's own rules does not make the list unreadable. `None` when the
/// answer is not a JSON object.
#[must_use]
pub fn scoped_location_page(location: Option<&[u8]>, page: PageRequest) -> Option<String> {
    let item = match location {
        Some(body) => {
            let text = core::str::from_utf8(body).ok()?.trim();
            if !text.starts_with('{') || serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                return None;
            }
            Some(text)
        }
        None => None,
    };
    // The envelope as `Page` writes it, with a stand-in item where the location goes (`content`
    // is its first field).
    let envelope = serde_json::to_string(&Page::slice(item.iter().map(|_| 0u8).collect(), page)).ok()?;
    Some(match (item, envelope.strip_prefix("{\"content\":[0]")) {
        (Some(text), Some(rest)) => format!("{{\"content\":[{text}]{rest}"),
        _ => envelope,
    })
}

/// Validates an authorized request and builds its upstream form.
pub fn prepare(
    route: &kipp_core::api::Route,
    query: &str,
    body: Body<'_>,
    claims: &Claims,
    playground: bool,
    mid: &MerchantId,
) -> Result<Plan, Problem> {
    use OperationId as O;
    let op = route.op;
    auth::authorize(op, claims.role, playground)?;
    if body.bytes.len() > MAX_BODY {
        return Err(too_large(MAX_BODY));
    }
    let pairs = parse_query(query).map_err(|e| Problem::validation(vec![e]))?;
    let scope = claims.loc.as_ref();
    let p = route.param.as_ref();
    let scoped = |check: ScopeCheck| if scope.is_some() { check } else { ScopeCheck::None };
    let out = match op {
        O::ListEnrollments => {
            let mut l = ListEnrollments::from_query(&pairs).map_err(Problem::validation)?;
            errors(l.validate())?;
            same_loc(scope, l.location_id.as_ref())?;
            if let Some(s) = scope {
                l.location_id = Some(s.clone());
            }
            plan(op, req(&l, mid)?)
        }
        O::CreateEnrollment => {
            let mut b: CreateEnrollmentRequest = body_of(body)?;
            same_loc(scope, b.location_id.as_ref())?;
            if let Some(s) = scope {
                b.location_id = Some(s.clone());
            }
            plan(op, req(&CreateEnrollment(b), mid)?)
        }
        O::DeleteEnrollment => {
            if scope.is_some() {
                return Err(auth::forbidden("a location-scoped token cannot delete enrollments"));
            }
            plan(op, req(&DeleteEnrollment(param(p, "enrollment_id", EnrollmentId::parse)?), mid)?)
        }
        O::ListLocations => {
            let l = ListLocations::from_query(&pairs).map_err(Problem::validation)?;
            match scope {
                Some(s) => {
                    let mut pl = plan(op, req(&GetLocation(s.clone()), mid)?);
                    pl.scoped_locations = Some(l.page);
                    pl
                }
                None => plan(op, req(&l, mid)?),
            }
        }
        O::CreateLocation => {
            if scope.is_some() {
                return Err(auth::forbidden("a location-scoped token cannot create locations"));
            }
            plan(op, req(&CreateLocation(body_of::<LocationRequest>(body)?), mid)?)
        }
        O::GetLocation | O::UpdateLocation | O::DeleteLocation => {
            let id = param(p, "id", LocationId::parse)?;
            same_loc(scope, Some(&id))?;
            let r = match op {
                O::GetLocation => req(&GetLocation(id), mid)?,
                O::UpdateLocation => req(&UpdateLocation { id, body: body_of(body)? }, mid)?,
                _ => req(&DeleteLocation(id), mid)?,
            };
            plan(op, r)
        }
        O::ListDevices => {
            let mut l = ListDevices::from_query(&pairs).map_err(Problem::validation)?;
            errors(l.validate())?;
            same_loc(scope, l.location_id.as_ref())?;
            if let Some(s) = scope {
                l.location_id = Some(s.clone());
            }
            plan(op, req(&l, mid)?)
        }
        O::RegisterDevice => plan(op, req(&RegisterDevice(body_of(body)?), mid)?),
        O::GetDevice | O::UpdateDevice | O::DeleteDevice => {
            let id = param(p, "id", DeviceId::parse)?;
            let r = match op {
                O::GetDevice => req(&GetDevice(id.clone()), mid)?,
                O::UpdateDevice => {
                    let mut b: UpdateDeviceRequest = body_of(body)?;
                    // A scoped admin may not move a device to another location, nor out of every
                    // location: the PUT replaces the whole device, so a body without
                    // `location_id` would leave it in none, out of reach of every scoped token.
                    same_loc(scope, b.location_id.as_ref())?;
                    if let Some(s) = scope {
                        b.location_id = Some(s.clone());
                    }
                    req(&UpdateDevice { id: id.clone(), body: b }, mid)?
                }
                _ => req(&DeleteDevice(id.clone()), mid)?,
            };
            let mut pl = plan(op, r);
            pl.check = scoped(ScopeCheck::Device(id.clone()));
            pl.device_id = (op != O::GetDevice).then_some(id);
            pl
        }
        O::CreateSession => {
            let b: CreateSessionRequest = body_of(body)?;
            let location_id = match pairs.iter().rev().find(|(k, _)| k == "location_id") {
                Some((_, v)) => Some(
                    LocationId::parse(v)
                        .map_err(|e| Problem::validation(vec![FieldError::new("location_id", "invalid", e.reason)]))?,
                ),
                None => None,
            };
            same_loc(scope, location_id.as_ref())?;
            let c = CreateSession { body: b, location_id: location_id.or_else(|| scope.cloned()) };
            let mut pl = plan(op, req(&c, mid)?);
            pl.check = scoped(ScopeCheck::Device(c.body.device_id.clone()));
            pl.create = Some(c);
            pl
        }
        O::GetSession | O::CancelSession | O::SimulateTap => {
            let id = param(p, "session_id", SessionId::parse)?;
            let r = match op {
                O::GetSession => req(&GetSession(id.clone()), mid)?,
                O::CancelSession => req(&CancelSession(id.clone()), mid)?,
                _ => {
                    let outcome = SimulateTap::outcome_from_query(&pairs).map_err(|e| Problem::validation(vec![e]))?;
                    req(&SimulateTap { session_id: id.clone(), outcome: Some(outcome) }, mid)?
                }
            };
            let mut pl = plan(op, r);
            pl.check = scoped(ScopeCheck::Session(id.clone()));
            pl.session_id = Some(id);
            pl
        }
        O::CreateSimulatedDevice => {
            let mut b: CreateSimulatedDeviceRequest = body_of(body)?;
            same_loc(scope, b.location_id.as_ref())?;
            if let Some(s) = scope {
                b.location_id = Some(s.clone());
            }
            plan(op, req(&CreateSimulatedDevice(b), mid)?)
        }
        _ => return Err(Problem::new(404, "not_found", "Not Found", "no such operation")),
    };
    Ok(out)
}

fn errors(errs: Vec<FieldError>) -> Result<(), Problem> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kipp_core::token::Role;

    const LOC: &str = "550e8400-e29b-41d4-a716-446655440000";
    const OTHER: &str = "660e8400-e29b-41d4-a716-446655440001";
    const DEV: &str = "770e8400-e29b-41d4-a716-446655440002";

    fn mid() -> MerchantId {
        MerchantId::parse("DM1").unwrap()
    }
    fn claims(role: Role, loc: Option<&str>) -> Claims {
        Claims::new(role, loc.map(|l| LocationId::parse(l).unwrap()), 0, 60, [0; 16])
    }
    fn go(method: &str, path: &str, query: &str, body: &str, c: &Claims) -> Result<Plan, Problem> {
        let r = find(method, path)?;
        prepare(&r, query, Body { bytes: body.as_bytes(), json: true }, c, true, &mid())
    }
    fn cart() -> String {
        format!(
            r#"{{"device_id":"{DEV}","order_amount":1000,"purchase_currency":"SEK","order_tax_amount":200,
            "order_items":[{{"name":"Tea","quantity":1,"unit_price":1000,"total_amount":1000,"tax_rate":2500,"total_tax_amount":200}}]}}"#
        )
    }

    #[test]
    fn unknown_routes_and_methods() {
        let c = claims(Role::Admin, None);
        assert_eq!(go("GET", "/ipp/v1/nope", "", "", &c).unwrap_err().status, Some(404));
        assert_eq!(go("PATCH", "/ipp/v1/sessions", "", "", &c).unwrap_err().status, Some(405));
        assert_eq!(go("GET", "/ipp/v1/sessions", "", "", &c).unwrap_err().status, Some(405));
        assert_eq!(go("GET", "/ipp/v1/sessions/..%2F..%2Fadmin", "", "", &c).unwrap_err().status, Some(404));
    }

    #[test]
    fn a_scoped_location_list_passes_kustoms_location_on_as_it_came() {
        let loc = br#" {"id":"l1","name":"Store","merchant_id":"merchant.1","opening_hours":{"mon":"9-17"}} "#;
        let first = PageRequest { page_number: 0, page_size: 20 };
        let page: serde_json::Value = serde_json::from_str(&scoped_location_page(Some(loc), first).unwrap()).unwrap();
        assert_eq!(page["content"][0]["opening_hours"]["mon"], "9-17", "a field kipp does not model is kept");
        assert_eq!(page["content"][0]["merchant_id"], "merchant.1");
        assert_eq!(
            (page["total_elements"].as_u64(), page["first"].as_bool(), page["last"].as_bool()),
            (Some(1), Some(true), Some(true))
        );
        let second: serde_json::Value = serde_json::from_str(
            &scoped_location_page(Some(loc), PageRequest { page_number: 1, page_size: 20 }).unwrap(),
        )
        .unwrap();
        assert_eq!((second["content"].as_array().map(Vec::len), second["total_elements"].as_u64()), (Some(0), Some(1)));
        let none: serde_json::Value = serde_json::from_str(&scoped_location_page(None, first).unwrap()).unwrap();
        assert_eq!((none["content"].as_array().map(Vec::len), none["total_elements"].as_u64()), (Some(0), Some(0)));
        for bad in [&b"[1]"[..], b"{\"id\":", b"<html>", b"\xff{}"] {
            assert_eq!(scoped_location_page(Some(bad), first), None, "{bad:?}");
        }
    }

    #[test]
    fn allow_lists_the_methods_of_the_path() {
        use kipp_core::api::allowed_methods;
        assert_eq!(allowed_methods("/ipp/v1/sessions"), "POST");
        assert_eq!(allowed_methods("/ipp/v1/locations"), "GET, POST");
        assert_eq!(allowed_methods(&format!("/ipp/v1/locations/{LOC}")), "GET, PUT, DELETE");
        assert_eq!(allowed_methods(&format!("/ipp/v1/sessions/{DEV}/cancel")), "PUT");
        assert_eq!(allowed_methods("/ipp/v1/nope"), "");
    }

    #[test]
    fn bodies_must_be_json_where_an_operation_reads_one() {
        use kipp_core::api::is_json;
        for ct in ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"] {
            assert!(is_json(Some(ct)), "{ct}");
        }
        for ct in [None, Some("text/plain"), Some("application/jsonx"), Some("text/json"), Some("")] {
            assert!(!is_json(ct), "{ct:?}");
        }
        let c = claims(Role::Admin, None);
        let text = |method: &str, path: &str, body: &str| {
            let r = find(method, path).unwrap();
            prepare(&r, "", Body { bytes: body.as_bytes(), json: false }, &c, true, &mid())
        };
        let e = text("POST", "/ipp/v1/sessions", &cart()).unwrap_err();
        assert_eq!((e.status, e.code.as_deref()), (Some(415), Some("unsupported_media_type")));
        assert_eq!(text("PUT", &format!("/ipp/v1/devices/{DEV}"), "{}").unwrap_err().status, Some(415));
        // A blank body is missing, whatever its type; an operation without a body ignores one.
        assert_eq!(text("POST", "/ipp/v1/locations", " ").unwrap_err().status, Some(400));
        assert!(text("PUT", &format!("/ipp/v1/sessions/{DEV}/cancel"), "hello").is_ok());
        assert_eq!(json_bytes(Body { bytes: b"", json: false }), Ok(&b""[..]));
        assert_eq!(too_large(4096).detail.as_deref(), Some("request bodies are limited to 4096 bytes"));
    }

    #[test]
    fn rebuilds_requests_from_typed_values() {
        let c = claims(Role::Clerk, None);
        let p = go("GET", "/ipp/v1/devices", "page_size=5&evil=1", "", &c).unwrap();
        assert_eq!(p.request.path_and_query, "/ipp/v1/devices?page_size=5");
        assert!(p.request.headers.iter().any(|(k, v)| *k == "x-merchant-id" && v == "DM1"));
        let p = go("POST", "/ipp/v1/sessions", "", &cart(), &c).unwrap();
        assert!(p.create.is_some());
        assert_eq!(p.check, ScopeCheck::None);
    }

    #[test]
    fn validation_errors_match_offline() {
        let c = claims(Role::Clerk, None);
        let bad = cart().replace("\"order_amount\":1000", "\"order_amount\":999");
        let e = go("POST", "/ipp/v1/sessions", "", &bad, &c).unwrap_err();
        assert_eq!(e.status, Some(400));
        let expected = kipp_core::api::decode_and_validate::<CreateSessionRequest>(bad.as_bytes()).unwrap_err();
        let CoreError::Validation(errs) = expected else { panic!() };
        assert_eq!(e.field_errors, Some(errs));
        let e = go("POST", "/ipp/v1/sessions", "", "{", &c).unwrap_err();
        assert_eq!(e.status, Some(400));
    }

    #[test]
    fn location_scope() {
        let c = claims(Role::Clerk, Some(LOC));
        let p = go("GET", "/ipp/v1/devices", "", "", &c).unwrap();
        assert_eq!(p.request.path_and_query, format!("/ipp/v1/devices?location_id={LOC}"));
        assert_eq!(
            go("GET", "/ipp/v1/devices", &format!("location_id={OTHER}"), "", &c).unwrap_err().status,
            Some(403)
        );
        assert_eq!(go("GET", &format!("/ipp/v1/locations/{OTHER}"), "", "", &c).unwrap_err().status, Some(403));
        assert!(go("GET", &format!("/ipp/v1/locations/{LOC}"), "", "", &c).is_ok());
        let p = go("POST", "/ipp/v1/sessions", "", &cart(), &c).unwrap();
        assert_eq!(p.check, ScopeCheck::Device(DeviceId::parse(DEV).unwrap()));
        assert!(p.request.path_and_query.ends_with(LOC));
        let p = go("GET", &format!("/ipp/v1/sessions/{DEV}"), "", "", &c).unwrap();
        assert_eq!(p.check, ScopeCheck::Session(SessionId::parse(DEV).unwrap()));
        let p = go("GET", "/ipp/v1/locations", "page_number=2&page_size=5", "", &c).unwrap();
        assert_eq!(p.scoped_locations, Some(PageRequest { page_number: 2, page_size: 5 }));
        assert!(
            p.request.path_and_query.ends_with(&format!("/ipp/v1/locations/{LOC}")),
            "{}",
            p.request.path_and_query
        );
        let a = claims(Role::Admin, Some(LOC));
        assert_eq!(go("POST", "/ipp/v1/locations", "", r#"{"name":"x"}"#, &a).unwrap_err().status, Some(403));
        let blank = go("POST", "/ipp/v1/enrollments", "", " ", &a).unwrap_err();
        assert_eq!((blank.status, blank.field_errors.unwrap()[0].path.as_str()), (Some(400), ""));
        let p = go("POST", "/ipp/v1/enrollments", "", "{}", &a).unwrap();
        assert!(p.request.body.unwrap().contains(LOC));
    }

    #[test]
    fn roles() {
        let c = claims(Role::Clerk, None);
        assert_eq!(go("GET", "/ipp/v1/enrollments", "", "", &c).unwrap_err().status, Some(403));
        assert_eq!(go("DELETE", &format!("/ipp/v1/devices/{DEV}"), "", "", &c).unwrap_err().status, Some(403));
        let p = go("POST", &format!("/ipp/v1/dev/sessions/{DEV}/simulate-tap"), "outcome=INSUFFICIENT_FUNDS", "", &c);
        assert!(p.unwrap().request.path_and_query.ends_with("outcome=INSUFFICIENT_FUNDS"));
    }
}
