//! The properties each fuzz target checks, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`crates/core/tests/fuzz_corpus.rs`), so a corpus input is checked the same way in
//! both places.
// Each target uses one of these functions.
#![allow(dead_code)]

use kipp_core::api::devices::{Device, ListDevices, UpdateDeviceRequest};
use kipp_core::api::enrollments::{CreateEnrollmentRequest, Enrollment, ListEnrollments};
use kipp_core::api::locations::Location;
use kipp_core::api::sessions::{CreateSessionRequest, GetSession, Session};
use kipp_core::api::testing::CreateSimulatedDeviceRequest;
use kipp_core::api::{
    decode_and_validate, decode_problem, decode_response, parse_query, route, Method, Page, Validate,
};
use kipp_core::webhook::{verify, WebhookHeaders, WebhookSecret};

/// Create-session decoding and validation never panic, and what validates re-encodes and validates again.
pub fn decode_session_request(data: &[u8]) {
    if let Ok(req) = decode_and_validate::<CreateSessionRequest>(data) {
        let again = serde_json::to_vec(&req).expect("valid request encodes");
        let back: CreateSessionRequest = serde_json::from_slice(&again).expect("round trip");
        assert!(back.validate().is_empty());
    }
}

/// Every response and event decoder never panics on any bytes.
pub fn decode_responses(data: &[u8]) {
    let _ = serde_json::from_slice::<Session>(data);
    let _ = serde_json::from_slice::<Page<Enrollment>>(data);
    let _ = serde_json::from_slice::<Page<Device>>(data);
    let _ = serde_json::from_slice::<Location>(data);
    let _ = decode_and_validate::<CreateEnrollmentRequest>(data);
    let _ = decode_and_validate::<UpdateDeviceRequest>(data);
    let _ = decode_and_validate::<CreateSimulatedDeviceRequest>(data);
    let _ = kipp_core::event::parse_event(data);
    let status = data.first().map_or(500, |b| 200 + u16::from(*b));
    let _ = decode_response::<GetSession>(status, data);
    let _ = decode_problem(status, data);
}

/// The webhook verifier on random headers (the input's thirds) and body never panics and never
/// accepts a random signature.
pub fn webhook_verify(data: &[u8]) {
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("fixed secret");
    let third = data.len() / 3;
    let (id, rest) = data.split_at(third);
    let (timestamp, signature) = rest.split_at(third);
    if let Ok(headers) = WebhookHeaders::from_bytes(Some(id), Some(timestamp), Some(signature)) {
        let now = std::str::from_utf8(timestamp).ok().and_then(|t| t.parse().ok()).unwrap_or(0);
        assert!(verify(&headers, data, std::slice::from_ref(&secret), now, 300).is_err());
    }
}

/// Routing and query parsing of incoming requests never panic.
pub fn query_and_route(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    for m in [Method::Get, Method::Post, Method::Put, Method::Delete] {
        let _ = route(m, path);
    }
    if let Ok(pairs) = parse_query(query) {
        let _ = ListEnrollments::from_query(&pairs);
        let _ = ListDevices::from_query(&pairs);
    }
}
