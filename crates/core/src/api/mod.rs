//! Every Kustom IPP operation as data: what to send (method, path with escaped
//! parameters, query, headers, body) and how to read the answer. Runtimes (the
//! browser package, the edge worker, the emulator's tests) only carry requests
//! out. The route table maps an incoming method and path back to an operation,
//! so the emulator and the edge's allow-list share one definition.
//!
//! Base URLs: production `https://api.kustom.co`, playground
//! `https://api.playground.kustom.co`; every path starts with `/ipp/v1`.

mod wire_enum;
pub(crate) use wire_enum::wire_enum;

pub mod devices;
pub mod enrollments;
pub mod locations;
pub mod page;
pub mod sessions;
pub mod testing;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ids::MerchantId;
use crate::problem::Problem;
use crate::validate::FieldError;
use crate::CoreError;

/// Path prefix of the API.
pub const API_PREFIX: &str = "/ipp/v1";
/// Header carrying the merchant id on the operations that declare it.
pub const MERCHANT_HEADER: &str = "x-merchant-id";

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// Upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
    /// Parses an upper-case method name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Every operation of the API (and the few kipp decided, marked in their docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationId {
    /// `GET /ipp/v1/enrollments`
    ListEnrollments,
    /// `POST /ipp/v1/enrollments`
    CreateEnrollment,
    /// `DELETE /ipp/v1/enrollments/{enrollment_id}`
    DeleteEnrollment,
    /// `GET /ipp/v1/locations`
    ListLocations,
    /// `POST /ipp/v1/locations` (kipp decision: undocumented by Kustom)
    CreateLocation,
    /// `GET /ipp/v1/locations/{id}`
    GetLocation,
    /// `PUT /ipp/v1/locations/{id}` (kipp decision)
    UpdateLocation,
    /// `DELETE /ipp/v1/locations/{id}` (kipp decision)
    DeleteLocation,
    /// `GET /ipp/v1/devices`
    ListDevices,
    /// `POST /ipp/v1/devices/register` (path is a kipp decision; what the POS app does)
    RegisterDevice,
    /// `GET /ipp/v1/devices/{id}` (kipp decision)
    GetDevice,
    /// `PUT /ipp/v1/devices/{id}`
    UpdateDevice,
    /// `DELETE /ipp/v1/devices/{id}`
    DeleteDevice,
    /// `POST /ipp/v1/sessions`
    CreateSession,
    /// `GET /ipp/v1/sessions/{session_id}`
    GetSession,
    /// `PUT /ipp/v1/sessions/{session_id}/cancel`
    CancelSession,
    /// `POST /ipp/v1/dev/devices` (playground only)
    CreateSimulatedDevice,
    /// `POST /ipp/v1/dev/sessions/{sessionId}/simulate-tap` (playground only)
    SimulateTap,
}

impl OperationId {
    /// Every operation.
    pub const ALL: &'static [Self] = &[
        Self::ListEnrollments,
        Self::CreateEnrollment,
        Self::DeleteEnrollment,
        Self::ListLocations,
        Self::CreateLocation,
        Self::GetLocation,
        Self::UpdateLocation,
        Self::DeleteLocation,
        Self::ListDevices,
        Self::RegisterDevice,
        Self::GetDevice,
        Self::UpdateDevice,
        Self::DeleteDevice,
        Self::CreateSession,
        Self::GetSession,
        Self::CancelSession,
        Self::CreateSimulatedDevice,
        Self::SimulateTap,
    ];

    /// The HTTP method.
    #[must_use]
    pub fn method(self) -> Method {
        use OperationId as O;
        match self {
            O::ListEnrollments | O::ListLocations | O::GetLocation | O::ListDevices | O::GetDevice | O::GetSession => {
                Method::Get
            }
            O::CreateEnrollment
            | O::CreateLocation
            | O::RegisterDevice
            | O::CreateSession
            | O::CreateSimulatedDevice
            | O::SimulateTap => Method::Post,
            O::UpdateLocation | O::UpdateDevice | O::CancelSession => Method::Put,
            O::DeleteEnrollment | O::DeleteLocation | O::DeleteDevice => Method::Delete,
        }
    }

    /// The path template, parameters in braces.
    #[must_use]
    pub fn path_template(self) -> &'static str {
        use OperationId as O;
        match self {
            O::ListEnrollments | O::CreateEnrollment => "/ipp/v1/enrollments",
            O::DeleteEnrollment => "/ipp/v1/enrollments/{enrollment_id}",
            O::ListLocations | O::CreateLocation => "/ipp/v1/locations",
            O::GetLocation | O::UpdateLocation | O::DeleteLocation => "/ipp/v1/locations/{id}",
            O::ListDevices => "/ipp/v1/devices",
            O::RegisterDevice => "/ipp/v1/devices/register",
            O::GetDevice | O::UpdateDevice | O::DeleteDevice => "/ipp/v1/devices/{id}",
            O::CreateSession => "/ipp/v1/sessions",
            O::GetSession => "/ipp/v1/sessions/{session_id}",
            O::CancelSession => "/ipp/v1/sessions/{session_id}/cancel",
            O::CreateSimulatedDevice => "/ipp/v1/dev/devices",
            O::SimulateTap => "/ipp/v1/dev/sessions/{sessionId}/simulate-tap",
        }
    }

    /// The operationId as in Kustom's OpenAPI document.
    #[must_use]
    pub fn name(self) -> &'static str {
        use OperationId as O;
        match self {
            O::ListEnrollments => "listEnrollments",
            O::CreateEnrollment => "createEnrollment",
            O::DeleteEnrollment => "deleteEnrollment",
            O::ListLocations => "listLocations",
            O::CreateLocation => "createLocation",
            O::GetLocation => "getLocation",
            O::UpdateLocation => "updateLocation",
            O::DeleteLocation => "deleteLocation",
            O::ListDevices => "listDevices",
            O::RegisterDevice => "registerDevice",
            O::GetDevice => "getDevice",
            O::UpdateDevice => "updateDevice",
            O::DeleteDevice => "deleteDevice",
            O::CreateSession => "createSession",
            O::GetSession => "getSession",
            O::CancelSession => "cancelSession",
            O::CreateSimulatedDevice => "createSimulatedDevice",
            O::SimulateTap => "simulateCardTap",
        }
    }

    /// The status code of success.
    #[must_use]
    pub fn success_status(self) -> u16 {
        use OperationId as O;
        match self {
            O::CreateEnrollment | O::CreateLocation | O::RegisterDevice | O::CreateSimulatedDevice => 201,
            O::DeleteEnrollment | O::DeleteLocation | O::DeleteDevice => 204,
            _ => 200,
        }
    }

    /// True where Kustom documents `x-merchant-id` as required.
    #[must_use]
    pub fn requires_merchant_header(self) -> bool {
        matches!(self, Self::ListEnrollments | Self::GetLocation)
    }

    /// True when repeating the request cannot create a second effect, so a
    /// runtime may retry it after a timeout or a 5xx.
    #[must_use]
    pub fn is_idempotent(self) -> bool {
        matches!(self.method(), Method::Get | Method::Put | Method::Delete)
    }

    /// True for the playground-only testing endpoints under `/ipp/v1/dev`.
    #[must_use]
    pub fn is_testing(self) -> bool {
        matches!(self, Self::CreateSimulatedDevice | Self::SimulateTap)
    }

    /// True for the device-side registration call, which carries no API key.
    #[must_use]
    pub fn is_unauthenticated(self) -> bool {
        matches!(self, Self::RegisterDevice)
    }
}

/// The result of matching a method and path against the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: OperationId,
    /// The path parameter, percent-decoded, if the template has one.
    pub param: Option<String>,
}

/// Why a method and path matched no operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// No operation has this path.
    NotFound,
    /// The path exists but not with this method.
    MethodNotAllowed,
}

/// Finds the operation for a method and a path (without query string).
pub fn route(method: Method, path: &str) -> Result<Route, RouteMiss> {
    let mut path_exists = false;
    for &op in OperationId::ALL {
        if let Some(param) = match_template(op.path_template(), path) {
            path_exists = true;
            if op.method() == method {
                return Ok(Route { op, param });
            }
        }
    }
    Err(if path_exists { RouteMiss::MethodNotAllowed } else { RouteMiss::NotFound })
}

/// True for a JSON media type: `application/json` or `application/*+json`, any parameters, any
/// case. One rule for the emulator's 415 and the edge worker's, so a body the worker forwards is
/// one Kustom's stand-in reads as JSON.
#[must_use]
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let media = ct.split(';').next().unwrap_or_default().trim().as_bytes();
    let is = |part: Option<&[u8]>, what: &str| part.is_some_and(|p| p.eq_ignore_ascii_case(what.as_bytes()));
    is(Some(media), "application/json")
        || (media.len() > 17 && is(media.get(..12), "application/") && is(media.get(media.len() - 5..), "+json"))
}

/// The methods of the operations at `path`, for the `Allow` header of a 405 (RFC 9110 §15.5.6
/// requires it): `GET, POST`; empty when no operation has the path. One definition for the
/// emulator and the edge worker, so their 405s say the same.
#[must_use]
pub fn allowed_methods(path: &str) -> String {
    let mut out = String::new();
    for m in [Method::Get, Method::Post, Method::Put, Method::Delete] {
        if OperationId::ALL.iter().any(|op| op.method() == m && match_template(op.path_template(), path).is_some()) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(m.as_str());
        }
    }
    out
}

fn match_template(template: &str, path: &str) -> Option<Option<String>> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut param = None;
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(param),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                // A malformed escape still names this route: the id, kept as sent, is then
                // refused by its parser (400 at the parameter, as any other malformed id).
                param = Some(percent_decode_segment(ps).unwrap_or_else(|| ps.to_owned()));
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

/// Decodes a query component: `%XX` escapes, and `+` as a space (form encoding); `None` for
/// malformed escapes or non-UTF-8 results.
#[must_use]
pub fn percent_decode(s: &str) -> Option<String> {
    decode_escapes(s, true)
}

/// Decodes a path segment: `%XX` escapes only (a `+` in a path is a `+`, RFC 3986).
#[must_use]
pub fn percent_decode_segment(s: &str) -> Option<String> {
    decode_escapes(s, false)
}

fn decode_escapes(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Two hex digits exactly (`from_str_radix` alone would take `%+9`).
            let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let v = u8::from_str_radix(core::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else if plus_is_space && b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a query string into decoded pairs (malformed pairs are kept as
/// errors so the caller can report them).
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, FieldError> {
    let mut out = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k).ok_or_else(|| FieldError::new("query", "invalid", "malformed percent-encoding"))?;
        let v = percent_decode(v).ok_or_else(|| FieldError::new(k.clone(), "invalid", "malformed percent-encoding"))?;
        out.push((k, v));
    }
    Ok(out)
}

/// Encodes query pairs (`a=1&b=x%3Ay`).
#[must_use]
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", crate::ids::escape_segment(k), crate::ids::escape_segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A response body that is empty (204).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty {}

/// One API operation, described as data.
pub trait Operation {
    /// The request body type (`()` when there is none).
    type Body: Serialize;
    /// The decoded success response.
    type Response: DeserializeOwned + Serialize;
    /// Which operation this is.
    const ID: OperationId;

    /// The path with its parameter escaped.
    fn path(&self) -> String;
    /// Query pairs, unencoded.
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The body, if the operation has one.
    fn body(&self) -> Option<&Self::Body> {
        None
    }
    /// Path plus encoded query string.
    fn path_and_query(&self) -> String {
        with_query(self.path(), &self.query())
    }
}

/// `path?query` (the query encoded), or the path alone without query pairs. Not generic, so the
/// wasm builds carry one copy rather than one per operation.
#[must_use]
pub fn with_query(path: String, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", encode_query(query))
    }
}

/// A transport-neutral HTTP request ready to be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Path and query, to append to the base URL.
    pub path_and_query: String,
    /// Headers the operation needs (not authentication, which the runtime adds).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Option<String>,
}

/// Builds the HTTP request for an operation. `merchant_id` is sent as
/// `x-merchant-id` on every operation except device registration: Kustom requires
/// it on some and tolerates it elsewhere.
pub fn build_request<O: Operation>(op: &O, merchant_id: Option<&MerchantId>) -> Result<HttpRequest, CoreError> {
    let body = match op.body() {
        Some(b) => Some(serde_json::to_string(b)?),
        None => None,
    };
    Ok(assemble(O::ID, op.path_and_query(), body, merchant_id))
}

/// The part of [`build_request`] that does not depend on the operation's types: one copy in the
/// wasm builds instead of one per operation (~13 in the worker).
#[inline(never)]
fn assemble(
    id: OperationId,
    path_and_query: String,
    body: Option<String>,
    merchant_id: Option<&MerchantId>,
) -> HttpRequest {
    let mut headers = vec![("accept", "application/json".to_owned())];
    if let Some(m) = merchant_id.filter(|_| !id.is_unauthenticated()) {
        headers.push((MERCHANT_HEADER, m.as_str().to_owned()));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json".to_owned()));
    }
    HttpRequest { method: id.method(), path_and_query, headers, body }
}

/// Decodes a response: success bodies into `O::Response`, anything else into
/// [`CoreError::Api`] with the problem details (or one made from the status).
pub fn decode_response<O: Operation>(status: u16, body: &[u8]) -> Result<O::Response, CoreError> {
    if (200..300).contains(&status) {
        let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
        return serde_json::from_slice(body).map_err(CoreError::Json);
    }
    Err(CoreError::Api(Box::new(decode_problem(status, body))))
}

/// Reads an error body as problem details, or makes one from the status.
#[must_use]
pub fn decode_problem(status: u16, body: &[u8]) -> Problem {
    match serde_json::from_slice::<Problem>(body) {
        Ok(mut p) if !p.title.is_empty() || p.errors.is_some() || p.detail.is_some() => {
            p.status.get_or_insert(status);
            if p.code.is_none() {
                p.code = Some(crate::problem::status_code_title(status).0.to_owned());
            }
            if p.title.is_empty() {
                p.title = crate::problem::status_code_title(status).1.to_owned();
            }
            p
        }
        _ => Problem::from_status(status),
    }
}

/// Decodes a JSON request body into `T`, reporting a type error as a field
/// error at its path (`order_items[1].unit_price`), then runs `T`'s rules.
pub fn decode_and_validate<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, CoreError> {
    let value: T = decode_with_path(body).map_err(|e| CoreError::Validation(vec![e]))?;
    let errors = value.validate();
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(CoreError::Validation(errors))
    }
}

/// Decodes JSON into `T`; a failure becomes one field error with its path.
pub fn decode_with_path<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    serde_json::from_slice(body).map_err(|e| field_error_at(body, &e))
}

/// The field error of a failed decode of `body` (not generic: one copy in the wasm builds, not
/// one per decoded type).
#[inline(never)]
fn field_error_at(body: &[u8], e: &serde_json::Error) -> FieldError {
    let syntax = e.is_syntax() || e.is_eof();
    let msg = e.to_string();
    // A missing field is reported at its object's closing brace: step past it so the
    // path is the object's own (the field name is appended from the message).
    let column = if msg.starts_with("missing field") { e.column() + 1 } else { e.column() };
    let path = if syntax { String::new() } else { json_path_at(body, e.line(), column) };
    field_error_from_serde(&path, &msg, syntax)
}

/// The JSON path (`order_items[1].unit_price`) of the value that ends at a serde_json
/// error position (1-based line; 1-based byte column of the value's last byte). One small, non-generic scanner instead of a
/// second, path-tracking decoder per type keeps the wasm builds small.
#[must_use]
pub fn json_path_at(body: &[u8], line: usize, column: usize) -> String {
    enum Frame {
        Object { key: Option<String>, expect_key: bool },
        Array { index: usize },
    }
    // serde_json counts lines from 1 and columns in bytes from 1 (0 = before the line).
    let mut offset = 0;
    let mut current_line = 1;
    while current_line < line && offset < body.len() {
        if body[offset] == b'\n' {
            current_line += 1;
        }
        offset += 1;
    }
    let end = offset.saturating_add(column.saturating_sub(1)).min(body.len());
    let mut frames: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match body[i] {
            b'{' => frames.push(Frame::Object { key: None, expect_key: true }),
            b'[' => frames.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                frames.pop();
            }
            b',' => match frames.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key, expect_key }) => {
                    *key = None;
                    *expect_key = true;
                }
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, expect_key }) = frames.last_mut() {
                    if *expect_key {
                        let raw = body.get(start..i.min(body.len())).unwrap_or_default();
                        *key = Some(
                            serde_json::from_slice::<String>(&[b"\"", raw, b"\""].concat())
                                .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned()),
                        );
                        *expect_key = false;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for f in &frames {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

/// Turns a serde message at `path` into a field error with a stable code and a message in
/// words for a JSON user. `path` is [`json_path_at`]'s for the error: the field's own path,
/// except for `missing field`, which serde reports at the field's object (the name is appended).
#[must_use]
pub fn field_error_from_serde(path: &str, msg: &str, syntax: bool) -> FieldError {
    // serde_json ends its messages with the position (the last " at line ": a string value
    // quoted in the message may hold the same words).
    let msg = &msg[..crate::text::rfind(msg, " at line ").unwrap_or(msg.len())];
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = &rest[..crate::text::find(rest, "`").unwrap_or(rest.len())];
        return FieldError::new(crate::validate::join(path, name), "required", "is required");
    }
    if syntax {
        return FieldError::new("", "malformed_json", format!("body is not valid JSON: {msg}"));
    }
    // serde reports an unknown (or a duplicate) key once it has read it, so the path ends with it.
    if msg.starts_with("unknown field") {
        return FieldError::new(path, "unknown_field", "is not a known field");
    }
    // serde's `invalid type: <got>, expected <want>` (or `invalid value: …`) names Rust's types:
    // said in JSON's words instead, matching a few of serde's texts (the worker's wasm carries
    // this: no table, no regex). Messages without `, expected ` are kipp's own (its types'
    // checks, already in words) or serde's for a type kipp's requests do not use: kept.
    let (got, want) = match crate::text::rfind(msg, ", expected ") {
        Some(i) => (&msg[..i], &msg[i + ", expected ".len()..]),
        None => (msg, ""),
    };
    // A number of the right kind outside its type's range is `out_of_range`, as kipp's own
    // range rules (and kipp-web's offline checks) say it: serde's `invalid value: integer …`
    // for Rust's integer types, and the range messages of kipp's amount and tax rate types.
    if got.starts_with("invalid value: integer") || got.starts_with("must be an integer from ") {
        let message = if want.is_empty() { got } else { "is out of range" };
        return FieldError::new(path, "out_of_range", message);
    }
    let plain = match want {
        "a string" => "must be a string",
        "a boolean" => "must be true or false",
        "a sequence" => "must be an array",
        "a map" => "must be an object",
        "f64" => "must be a number",
        "i64" | "u64" | "u32" | "u16" | "u8" => match got.strip_prefix("invalid type: floating point `") {
            // serde_json reads an integer beyond 64 bits as a float: `1e+20`.
            Some(n) if crate::text::find(n, "e+").is_none() => {
                return FieldError::new(
                    path,
                    "invalid",
                    ["must be a whole number, not ", n.trim_end_matches('`')].concat(),
                );
            }
            Some(_) => "is out of range",
            None => "must be an integer",
        },
        _ if want.starts_with("struct ") => "must be an object",
        _ if msg.starts_with("duplicate field") => "is given more than once",
        _ => msg,
    };
    FieldError::new(path, "invalid", plain)
}

/// Request rules beyond the types: sums, limits, cross-field checks.
pub trait Validate {
    /// Every broken rule, each with its field path; empty when valid.
    fn validate(&self) -> Vec<FieldError>;
}

pub use page::{Page, PageRequest};

#[cfg(test)]
mod tests {
    use super::decode_with_path;
    use crate::api::enrollments::CreateEnrollmentRequest;
    use crate::api::sessions::CreateSessionRequest;
    use crate::validate::FieldError;
    use kipp_derive::MapDeserialize;

    /// A body read with `deny_unknown_fields`, as the worker's `POST /kipp/v1/tokens` is.
    #[derive(Debug, MapDeserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        #[allow(dead_code)]
        role: String,
        #[allow(dead_code)]
        inner: Option<Vec<Strict>>,
    }

    fn err<T: serde::de::DeserializeOwned + core::fmt::Debug>(body: &str) -> (String, String, String) {
        let FieldError { path, code, message } = decode_with_path::<T>(body.as_bytes()).unwrap_err();
        (path, code, message)
    }

    fn of(path: &str, code: &str, message: &str) -> (String, String, String) {
        (path.to_owned(), code.to_owned(), message.to_owned())
    }

    #[test]
    fn an_unknown_field_is_named_once() {
        assert_eq!(err::<Strict>(r#"{"role":"clerk","foo":1}"#), of("foo", "unknown_field", "is not a known field"));
        assert_eq!(err::<Strict>(r#"{"ttl":1,"role":"clerk"}"#).0, "ttl");
        assert_eq!(err::<Strict>(r#"{"role":"x","inner":[{"role":"y"},{"location":"z"}]}"#).0, "inner[1].location");
        // The sibling cases keep their paths: a missing field at its object, a duplicate at its key.
        assert_eq!(err::<Strict>(r#"{"inner":[{}]}"#).0, "inner[0].role");
        assert_eq!(err::<Strict>(r#"{"role":"x","role":"y"}"#).0, "role");
    }

    #[test]
    fn type_errors_are_in_words_for_a_json_user() {
        let session = |field: &str, value: &str| {
            let mut body: serde_json::Value = serde_json::from_str(
                r#"{"device_id":"550e8400-e29b-41d4-a716-446655440000","order_amount":1,"purchase_currency":"SEK",
                "order_tax_amount":0,"order_items":[{"name":"a","unit_price":1,"total_amount":1,"tax_rate":0,
                "total_tax_amount":0,"quantity":1}]}"#,
            )
            .unwrap();
            body[field] = serde_json::from_str(value).unwrap();
            let (path, code, message) = err::<CreateSessionRequest>(&body.to_string());
            assert_eq!((path.as_str(), code.as_str()), (field, "invalid"), "{field}: {value}");
            message
        };
        for (field, value, message) in [
            ("order_amount", r#""x""#, "must be an integer"),
            ("order_amount", "true", "must be an integer"),
            ("order_amount", r#""x, expected u8 at line 9 column 9""#, "must be an integer"),
            ("order_amount", "null", "must be an integer"),
            ("order_amount", "{}", "must be an integer"),
            ("order_amount", "10.5", "must be a whole number, not 10.5"),
            ("order_amount", "1e300", "is out of range"),
            ("order_amount", "99999999999999999999", "is out of range"),
            ("order_tax_amount", "-1e30", "is out of range"),
            ("order_items", "{}", "must be an array"),
            ("device_id", "5", "must be a string"),
            ("purchase_started_at", "[]", "must be a string"),
            ("merchant_reference1", "false", "must be a string"),
            // kipp's own messages are kept.
            (
                "purchase_currency",
                r#""sek""#,
                "not an active ISO 4217 currency code (three upper-case letters, e.g. SEK)",
            ),
            ("device_id", r#""x""#, "invalid device id: must be a UUID (8-4-4-4-12 hex digits)"),
        ] {
            assert_eq!(session(field, value), message, "{field}: {value}");
        }
        // A number of the right kind beyond its type's range: `out_of_range`, as kipp-web says
        // it offline (crates/web/src/decode.rs tests).
        for (field, value, message) in [
            ("order_amount", "-5", crate::money::AMOUNT_RANGE),
            ("order_amount", "9007199254740992", crate::money::AMOUNT_RANGE),
            ("order_items", r#"[{"tax_rate":10001}]"#, crate::money::TAX_RATE_RANGE),
            ("order_items", r#"[{"quantity":-1}]"#, "is out of range"),
        ] {
            let mut body: serde_json::Value = serde_json::from_str(
                r#"{"device_id":"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c","order_amount":0,
                "purchase_currency":"SEK","order_tax_amount":0,"order_items":[]}"#,
            )
            .unwrap();
            body[field] = serde_json::from_str(value).unwrap();
            let (path, code, got) = err::<CreateSessionRequest>(&body.to_string());
            assert!(path.starts_with(field), "{path}");
            assert_eq!((code.as_str(), got.as_str()), ("out_of_range", message), "{field}: {value}");
        }
        assert_eq!(
            err::<CreateEnrollmentRequest>(r#"{"expires_in":-1}"#),
            of("expires_in", "out_of_range", "is out of range")
        );
        for (body, path, message) in [
            ("[]", "", "must be an object"),
            (r#""x""#, "", "must be an object"),
            (r#"{"expires_in":"x"}"#, "expires_in", "must be an integer"),
            (r#"{"expires_in":1.5}"#, "expires_in", "must be a whole number, not 1.5"),
            (r#"{"expires_in":18446744073709551616}"#, "expires_in", "is out of range"),
            (r#"{"ttl":5}"#, "ttl", "must be a string"),
            (r#"{"ttl":"TWO_HOURS","ttl":"TWO_HOURS"}"#, "ttl", "is given more than once"),
        ] {
            assert_eq!(err::<CreateEnrollmentRequest>(body), of(path, "invalid", message), "{body}");
        }
        assert_eq!(
            err::<CreateSessionRequest>(r#"{"device_id":"#),
            of("", "malformed_json", "body is not valid JSON: EOF while parsing a value")
        );
        assert_eq!(
            super::field_error_from_serde("a", "invalid type: boolean `true`, expected a boolean", false).message,
            "must be true or false"
        );
        assert_eq!(
            super::field_error_from_serde("a", "invalid type: string \"x\", expected f64", false).message,
            "must be a number"
        );
    }
}
