//! The Kustom operations: one function per operation, grouped by resource. Each runs
//! under the world lock with a [`Ctx`], decodes its input with kipp-core's types and rules,
//! and answers a [`Reply`] or a [`Reject`].

mod devices;
mod enrollments;
mod locations;
mod sessions;
mod testing;

use kipp_core::api::{decode_and_validate, OperationId, Validate};
use kipp_core::ids::InvalidId;
use kipp_core::validate::FieldError;
use kipp_core::CoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::problem::Reject;
use super::state::{Ctx, World};

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A JSON body with a status.
    Json {
        /// Status code.
        status: u16,
        /// Serialized body.
        body: Vec<u8>,
    },
    /// 204 No Content.
    NoContent,
}

/// One routed API request.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// The operation.
    pub op: OperationId,
    /// The decoded path parameter.
    pub param: Option<&'a str>,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
}

/// True for the operations that take a JSON body.
#[must_use]
pub fn has_body(op: OperationId) -> bool {
    use OperationId as O;
    matches!(
        op,
        O::CreateEnrollment
            | O::CreateLocation
            | O::UpdateLocation
            | O::RegisterDevice
            | O::UpdateDevice
            | O::CreateSession
            | O::CreateSimulatedDevice
    )
}

/// Runs one operation.
pub fn dispatch(w: &mut World, cx: &mut Ctx<'_>, req: &ApiRequest<'_>) -> Result<Reply, Reject> {
    use OperationId as O;
    let (q, b, p) = (req.query, req.body, req.param);
    match req.op {
        O::ListEnrollments => enrollments::list(w, cx, q),
        O::CreateEnrollment => enrollments::create(w, cx, b),
        O::DeleteEnrollment => enrollments::delete(w, cx, p),
        O::ListLocations => locations::list(w, q),
        O::CreateLocation => locations::create(w, cx, b),
        O::GetLocation => locations::get(w, p),
        O::UpdateLocation => locations::update(w, cx, p, b),
        O::DeleteLocation => locations::delete(w, cx, p),
        O::ListDevices => devices::list(w, q),
        O::RegisterDevice => devices::register(w, cx, b),
        O::GetDevice => devices::get(w, p),
        O::UpdateDevice => devices::update(w, cx, p, b),
        O::DeleteDevice => devices::delete(w, cx, p),
        O::CreateSession => sessions::create(w, cx, q, b),
        O::GetSession => sessions::get(w, cx, p),
        O::CancelSession => sessions::cancel(w, cx, p),
        O::CreateSimulatedDevice => testing::create_device(w, cx, b),
        O::SimulateTap => testing::simulate_tap(w, cx, p, q),
        _ => Err(Reject::new(404, "not_found", "no such operation")),
    }
}

/// Parses the path parameter named `name` as an id; a malformed id is a 400 at `name`.
pub(crate) fn path_id<T>(
    param: Option<&str>,
    name: &str,
    parse: fn(&str) -> Result<T, InvalidId>,
) -> Result<T, Reject> {
    let raw = param.unwrap_or_default();
    parse(raw).map_err(|e| Reject::field(name, "invalid", e.reason))
}

/// Decodes and validates a JSON body with kipp-core. Every operation that takes a body requires
/// one (openapi.yaml: `requestBody.required: true`): a missing or blank body is a 400 at `""`,
/// never read as `{}` — on `PUT /ipp/v1/devices/{id}` that would clear the device.
pub(crate) fn body<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, Reject> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reject::field("", "required", "the request body is required (send {} for no fields)"));
    }
    decode_and_validate(bytes).map_err(|e| match e {
        CoreError::Validation(errors) => Reject::validation(errors),
        other => Reject::field("", "malformed_json", other.to_string()),
    })
}

/// Maps query parsing errors to a 400.
pub(crate) fn query<T>(parsed: Result<T, Vec<FieldError>>) -> Result<T, Reject> {
    parsed.map_err(Reject::validation)
}

/// Serializes a JSON reply.
pub(crate) fn json_reply<T: Serialize>(status: u16, value: &T) -> Result<Reply, Reject> {
    serde_json::to_vec(value)
        .map(|body| Reply::Json { status, body })
        .map_err(|e| Reject::new(500, "internal", format!("could not encode the response: {e}")))
}

/// Checks that a referenced location exists (422 `unknown_location` at `path` otherwise).
pub(crate) fn known_location(w: &World, id: Option<&kipp_core::ids::LocationId>, path: &str) -> Result<(), Reject> {
    match id {
        Some(l) if !w.locations.contains_key(l) => {
            Err(Reject::unprocessable("unknown_location", path, format!("location {l} does not exist")))
        }
        _ => Ok(()),
    }
}
