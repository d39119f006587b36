//! Fuzz target: see `checks::query_and_route` in fuzz/checks.rs for the property.
#![no_main]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::query_and_route(data));
