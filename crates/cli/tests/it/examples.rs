//! The docs' examples (crates/core/tests/fixtures/examples) are accepted as requests and
//! the emulator's responses have their shape. Ids in the examples name things that do not
//! exist here, so they are replaced by real ones before sending.

use serde_json::{json, Value};

use crate::support::Emu;

fn example(name: &str) -> Value {
    let path = format!("{}/../core/tests/fixtures/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Every key of the example exists in `actual` with the same kind of value (recursively
/// for objects, except free-form `metadata`; arrays by their first element).
fn same_shape(example: &Value, actual: &Value, at: &str) {
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let got = a.get(k).unwrap_or_else(|| panic!("{at}.{k} missing in {actual}"));
                if k == "metadata" {
                    assert!(got.is_object(), "{at}.metadata"); // free-form: keys differ per request
                    continue;
                }
                same_shape(v, got, &format!("{at}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                same_shape(e0, a0, &format!("{at}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (e, a) => assert_eq!(std::mem::discriminant(e), std::mem::discriminant(a), "{at}: {e} vs {a}"),
    }
}

fn query_string(v: &Value) -> String {
    let mut parts = Vec::new();
    for (k, val) in v.as_object().unwrap() {
        match val {
            Value::Array(items) => parts
                .extend(items.iter().map(|i| format!("{k}={}", kipp_core::ids::escape_segment(i.as_str().unwrap())))),
            Value::String(s) => parts.push(format!("{k}={}", kipp_core::ids::escape_segment(s))),
            other => parts.push(format!("{k}={other}")),
        }
    }
    parts.join("&")
}

#[tokio::test]
async fn docs_examples_round_trip() {
    let emu = Emu::start().await;
    let loc = emu.post("/ipp/v1/locations", json!({"name": "Downtown Store"})).await.expect(201).json["id"].clone();

    // Enrollments.
    for name in ["create-enrollment.request.json", "create-enrollment.request.api-reference.composed.json"] {
        let mut req = example(name);
        req["location_id"] = loc.clone();
        let r = emu.post("/ipp/v1/enrollments", req).await.expect(201);
        same_shape(&example("create-enrollment.response.json"), &r.json, name);
    }
    let mut q = example("list-enrollments.request.query.json");
    q["location_id"] = loc.clone();
    let listed = emu.get(&format!("/ipp/v1/enrollments?{}", query_string(&q))).await.expect(200);
    assert_eq!(listed.json["total_elements"], 1, "store_id:123 matches the api-reference example only");
    same_shape(&example("list-enrollments.response.composed.json"), &listed.json, "list");

    // Devices.
    let mut sim = example("create-simulated-device.request.json");
    sim["location_id"] = loc.clone();
    let device = emu.post("/ipp/v1/dev/devices", sim).await.expect(201);
    assert_eq!(device.json["metadata"]["property1"], "string");
    assert_eq!(device.json["metadata"]["simulated"], "true");
    let id = device.json["id"].as_str().unwrap().to_owned();
    let mut upd = example("update-device.request.json");
    upd["location_id"] = loc.clone();
    let updated = emu.put(&format!("/ipp/v1/devices/{id}"), upd.clone()).await.expect(200);
    same_shape(&example("update-device.response.json"), &updated.json, "update-device");
    // The example's metadata, and the mark a simulated device keeps (API.md §3.5).
    let mut metadata = upd["metadata"].clone();
    metadata["simulated"] = json!("true");
    assert_eq!(updated.json["metadata"], metadata);

    // Locations.
    let got = emu.get(&format!("/ipp/v1/locations/{}", loc.as_str().unwrap())).await.expect(200);
    let mut expected_shape = example("get-location.response.composed.json");
    for optional in ["street_address", "street_address2", "postal_code", "city", "country"] {
        expected_shape.as_object_mut().unwrap().remove(optional); // not set on this location
    }
    same_shape(&expected_shape, &got.json, "get-location");
    let full =
        emu.get(&format!("/ipp/v1/locations/{}", kipp_cli::emulator::state::DEFAULT_LOCATION_ID)).await.expect(200);
    let mut full_shape = example("get-location.response.composed.json");
    full_shape.as_object_mut().unwrap().remove("street_address2");
    same_shape(&full_shape, &full.json, "default location");

    // Sessions.
    let mut req = example("create-session.request.json");
    req["device_id"] = json!(id);
    let query = example("create-session.request.query.json");
    let _ = query;
    let created =
        emu.post(&format!("/ipp/v1/sessions?location_id={}", loc.as_str().unwrap()), req.clone()).await.expect(200);
    same_shape(&req, &created.json, "create-session echoes the request");
    let sid = created.json["session_id"].as_str().unwrap().to_owned();
    let cancelled = emu.call("PUT", &format!("/ipp/v1/sessions/{sid}/cancel"), None).await.expect(200);
    same_shape(&example("cancel-session.response.composed.json"), &cancelled.json, "cancel-session");

    let s2 = emu.post("/ipp/v1/sessions", req).await.expect(200).json["session_id"].as_str().unwrap().to_owned();
    let outcome = example("simulate-tap.request.query.json");
    let tapped = emu.tap(&s2, outcome["outcome"].as_str().unwrap()).await.expect(200);
    let mut get_shape = example("get-session.response.composed.json");
    get_shape["order_items"][0].as_object_mut().unwrap().remove("total_discount_amount"); // the cart has no discount
    same_shape(&get_shape, &tapped.json, "get-session");
    same_shape(&get_shape, &emu.get(&format!("/ipp/v1/sessions/{s2}")).await.expect(200).json, "get-session");
}
