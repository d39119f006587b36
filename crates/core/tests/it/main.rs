//! Integration tests of kipp-core: the docs' examples, validation with field
//! paths, operations as data, routing, and hostile input.
#![cfg(not(target_arch = "wasm32"))]

mod examples;
mod operations;
mod validation;

/// Reads a fixture copied from `shared/kustom-ipp/examples/`.
pub fn example(name: &str) -> &'static str {
    match name {
        "cancel-session.response.composed.json" => {
            include_str!("../fixtures/examples/cancel-session.response.composed.json")
        }
        "create-enrollment.request.api-reference.composed.json" => {
            include_str!("../fixtures/examples/create-enrollment.request.api-reference.composed.json")
        }
        "create-enrollment.request.json" => include_str!("../fixtures/examples/create-enrollment.request.json"),
        "create-enrollment.response.json" => include_str!("../fixtures/examples/create-enrollment.response.json"),
        "create-session.request.json" => include_str!("../fixtures/examples/create-session.request.json"),
        "create-session.request.query.json" => include_str!("../fixtures/examples/create-session.request.query.json"),
        "create-simulated-device.request.json" => {
            include_str!("../fixtures/examples/create-simulated-device.request.json")
        }
        "get-location.response.composed.json" => {
            include_str!("../fixtures/examples/get-location.response.composed.json")
        }
        "get-session.response.composed.json" => include_str!("../fixtures/examples/get-session.response.composed.json"),
        "list-enrollments.request.query.json" => {
            include_str!("../fixtures/examples/list-enrollments.request.query.json")
        }
        "list-enrollments.response.composed.json" => {
            include_str!("../fixtures/examples/list-enrollments.response.composed.json")
        }
        "simulate-tap.request.query.json" => include_str!("../fixtures/examples/simulate-tap.request.query.json"),
        "update-device.request.json" => include_str!("../fixtures/examples/update-device.request.json"),
        "update-device.response.json" => include_str!("../fixtures/examples/update-device.response.json"),
        "webhook.ipp.session.activated.json" => include_str!("../fixtures/examples/webhook.ipp.session.activated.json"),
        "webhook.ipp.session.finalized.json" => include_str!("../fixtures/examples/webhook.ipp.session.finalized.json"),
        other => panic!("no fixture {other}"),
    }
}
