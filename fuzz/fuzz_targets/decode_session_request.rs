//! Fuzz target: see `checks::decode_session_request` in fuzz/checks.rs for the property.
#![no_main]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode_session_request(data));
