//! Routing and query parsing of incoming requests: never panics.
#![no_main]
use kipp_core::api::devices::ListDevices;
use kipp_core::api::enrollments::ListEnrollments;
use kipp_core::api::{parse_query, route, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    for m in [Method::Get, Method::Post, Method::Put, Method::Delete] {
        let _ = route(m, path);
    }
    if let Ok(pairs) = parse_query(query) {
        let _ = ListEnrollments::from_query(&pairs);
        let _ = ListDevices::from_query(&pairs);
    }
});
