//! Every response and event decoder: never panics on any bytes.
#![no_main]
use kipp_core::api::devices::{Device, UpdateDeviceRequest};
use kipp_core::api::enrollments::{CreateEnrollmentRequest, Enrollment};
use kipp_core::api::locations::Location;
use kipp_core::api::sessions::{GetSession, Session};
use kipp_core::api::testing::CreateSimulatedDeviceRequest;
use kipp_core::api::{decode_and_validate, decode_problem, decode_response, Page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
