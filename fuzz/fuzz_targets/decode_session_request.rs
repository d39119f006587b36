//! Create-session decoding and validation: never panics, and what validates re-encodes and validates again.
#![no_main]
use kipp_core::api::sessions::CreateSessionRequest;
use kipp_core::api::{decode_and_validate, Validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode_and_validate::<CreateSessionRequest>(data) {
        let again = serde_json::to_vec(&req).expect("valid request encodes");
        let back: CreateSessionRequest = serde_json::from_slice(&again).expect("round trip");
        assert!(back.validate().is_empty());
    }
});
