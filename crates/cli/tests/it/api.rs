//! Every operation's success and error paths.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use kipp_cli::emulator::state::DEFAULT_LOCATION_ID;
use kipp_cli::emulator::Config;
use serde_json::{json, Value};

use crate::support::{session_body, Emu};

const UNKNOWN: &str = "11111111-2222-4333-8444-555555555555";

#[tokio::test]
async fn authentication_forms() {
    let emu = Emu::start().await;
    let key = emu.config.api_key.clone();
    let mid = emu.config.merchant_id.to_string();
    let get = |auth: String| {
        let emu = &emu;
        async move { emu.raw("GET", "/ipp/v1/devices", &[("authorization", auth.as_str())], None).await.status }
    };
    assert_eq!(get(format!("Basic {key}")).await, 200, "raw key");
    assert_eq!(get(format!("basic {key}")).await, 200, "scheme is case-insensitive");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!(":{key}")))).await, 200, "RFC 7617, no username");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!("{mid}-a1b2:{key}")))).await, 200, "MID-suffix");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!("{mid}:{key}")))).await, 200, "MID");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!("DMOTHER-1:{key}")))).await, 401, "wrong user");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!("{mid}-:{key}")))).await, 401, "empty suffix");
    assert_eq!(get(format!("Basic {}", STANDARD.encode(format!("{mid}-x:nope")))).await, 401, "wrong key");
    assert_eq!(get("Basic kco_test_api_wrong".to_owned()).await, 401);
    assert_eq!(get(format!("Bearer {key}")).await, 401);
    assert_eq!(get("Basic".to_owned()).await, 401);
    let none = emu.raw("GET", "/ipp/v1/sessions/00000000-0000-4000-8000-000000000009", &[], None).await.expect(401);
    assert_eq!(none.header("www-authenticate"), Some("Basic realm=\"Kustom\""));
    assert_eq!(none.json["title"], "Unauthorized");
    assert_eq!(none.json["detail"], "Access Denied");
    assert_eq!(none.code(), "unauthorized");
    crate::support::spec().check_component("Problem", &none.json);
}

#[tokio::test]
async fn merchant_header_required_where_documented_and_checked_everywhere() {
    let emu = Emu::start().await;
    let auth = crate::support::auth_header(&emu.config);
    let a = ("authorization", auth.as_str());
    let r = emu.raw("GET", "/ipp/v1/enrollments", &[a], None).await.expect(400);
    assert_eq!(r.field_paths(), ["x-merchant-id"]);
    emu.raw("GET", &format!("/ipp/v1/locations/{DEFAULT_LOCATION_ID}"), &[a, ("x-merchant-id", "")], None)
        .await
        .expect(400);
    emu.raw("GET", "/ipp/v1/devices", &[a], None).await.expect(200);
    emu.raw("GET", "/ipp/v1/locations", &[a], None).await.expect(200);
    let wrong = emu.raw("GET", "/ipp/v1/devices", &[a, ("x-merchant-id", "DMOTHER")], None).await.expect(403);
    assert_eq!(wrong.code(), "merchant_mismatch");
    emu.raw("GET", "/ipp/v1/enrollments", &[a, ("x-merchant-id", "DMOTHER")], None).await.expect(403);
}

#[tokio::test]
async fn locations_crud() {
    let emu = Emu::start().await;
    let list = emu.get("/ipp/v1/locations").await.expect(200);
    assert_eq!(list.json["total_elements"], 1);
    assert_eq!(list.json["content"][0]["id"], DEFAULT_LOCATION_ID);
    let one = emu.get(&format!("/ipp/v1/locations/{DEFAULT_LOCATION_ID}")).await.expect(200);
    assert_eq!(one.json["merchant_id"], emu.config.merchant_id.as_str());

    let created = emu
        .post(
            "/ipp/v1/locations",
            json!({"name": "Downtown Store", "street_address": "123", "city": "Stockholm", "country": "SE"}),
        )
        .await
        .expect(201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let updated =
        emu.put(&format!("/ipp/v1/locations/{id}"), json!({"name": "Uptown", "country": "NO"})).await.expect(200);
    assert_eq!(updated.json["name"], "Uptown");
    assert!(updated.json.get("street_address").is_none(), "PUT replaces every field");
    assert_eq!(
        emu.get("/ipp/v1/locations?page_size=1&page_number=1").await.expect(200).json["content"][0]["id"],
        id.as_str()
    );

    let bad = emu.post("/ipp/v1/locations", json!({"name": "", "country": "se"})).await.expect(400);
    assert_eq!(bad.field_paths(), ["name", "country"]);
    emu.put(&format!("/ipp/v1/locations/{UNKNOWN}"), json!({"name": "x"})).await.expect(404);
    emu.get(&format!("/ipp/v1/locations/{UNKNOWN}")).await.expect(404);
    assert_eq!(emu.get("/ipp/v1/locations/not-a-uuid").await.expect(400).field_paths(), ["id"]);
    emu.get("/ipp/v1/locations?page_size=0").await.expect(400);

    // In use → 409; free → 204, then gone.
    let dev = emu.post("/ipp/v1/dev/devices", json!({"name": "t", "location_id": id})).await.expect(201);
    assert_eq!(emu.delete(&format!("/ipp/v1/locations/{id}")).await.expect(409).code(), "location_in_use");
    emu.delete(&format!("/ipp/v1/devices/{}", dev.json["id"].as_str().unwrap())).await.expect(204);
    emu.delete(&format!("/ipp/v1/locations/{id}")).await.expect(204);
    emu.delete(&format!("/ipp/v1/locations/{id}")).await.expect(404);
}

#[tokio::test]
async fn enrollments_create_list_delete() {
    let emu = Emu::start().await;
    let short = emu
        .post("/ipp/v1/enrollments", json!({"expires_in": 360_000, "metadata": {"store_id": "123", "kind": "a"}}))
        .await
        .expect(201);
    let code = short.json["enrollment_code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|c| kipp_cli::emulator::ids::CODE_ALPHABET.contains(&c)), "{code}");
    assert_eq!(short.json["status"], "PENDING");
    assert_eq!(short.json["location_id"], DEFAULT_LOCATION_ID, "defaults to the default location");

    let long = emu
        .post("/ipp/v1/enrollments", json!({"ttl": "SEVENTY_TWO_HOURS", "metadata": {"store_id": "123"}}))
        .await
        .expect(201);
    assert!(
        kipp_core::ids::is_uuid(long.json["enrollment_code"].as_str().unwrap()),
        "long-lived codes are UUID-shaped"
    );
    // The body is required (openapi.yaml), even though every field of it is optional.
    assert_eq!(emu.call("POST", "/ipp/v1/enrollments", None).await.expect(400).field_paths(), [""]);
    let default = emu.post("/ipp/v1/enrollments", json!({})).await.expect(201);
    let deadline = kipp_core::time::Timestamp::parse(default.json["expires_at"].as_str().unwrap()).unwrap();
    let now = kipp_cli::emulator::clock::real_now_nanos();
    assert!((deadline.unix_nanos() - now - 7_200_000_000_000).abs() < 60_000_000_000, "2 h default");

    let both = emu.post("/ipp/v1/enrollments", json!({"expires_in": 360_000, "ttl": "TWO_HOURS"})).await.expect(400);
    assert_eq!(both.field_paths(), ["ttl"]);
    assert_eq!(
        emu.post("/ipp/v1/enrollments", json!({"expires_in": 5})).await.expect(400).field_paths(),
        ["expires_in"]
    );
    assert_eq!(emu.post("/ipp/v1/enrollments", json!({"ttl": "FOREVER"})).await.expect(400).field_paths(), ["ttl"]);
    assert_eq!(
        emu.post("/ipp/v1/enrollments", json!({"expires_in": "soon"})).await.expect(400).field_paths(),
        ["expires_in"]
    );
    let unknown = emu.post("/ipp/v1/enrollments", json!({"location_id": UNKNOWN})).await.expect(422);
    assert_eq!((unknown.code(), unknown.field_paths()), ("unknown_location", vec!["location_id".to_owned()]));

    let all = emu.get("/ipp/v1/enrollments").await.expect(200);
    assert_eq!(all.json["total_elements"], 3);
    let filtered = emu.get("/ipp/v1/enrollments?metadata=store_id%3A123&metadata=kind:a").await.expect(200);
    assert_eq!(filtered.json["total_elements"], 1);
    assert_eq!(filtered.json["content"][0]["enrollment_id"], short.json["enrollment_id"]);
    let by_location =
        emu.get(&format!("/ipp/v1/enrollments?location_id={DEFAULT_LOCATION_ID}&page_size=2")).await.expect(200);
    assert_eq!((by_location.json["total_pages"].as_u64(), by_location.json["last"].as_bool()), (Some(2), Some(false)));
    assert_eq!(
        emu.get(&format!("/ipp/v1/enrollments?location_id={UNKNOWN}")).await.expect(200).json["total_elements"],
        0
    );
    let six = (0..6).map(|i| format!("metadata=k{i}:v")).collect::<Vec<_>>().join("&");
    emu.get(&format!("/ipp/v1/enrollments?{six}")).await.expect(400);
    assert_eq!(
        emu.get("/ipp/v1/enrollments?metadata=a:1&metadata=a:2").await.expect(400).field_paths(),
        ["metadata[1]"]
    );
    emu.get("/ipp/v1/enrollments?include_consumed=maybe").await.expect(400);
    emu.get("/ipp/v1/enrollments?location_id=nope").await.expect(400);

    // Consumed ones are hidden with include_consumed=false.
    emu.post("/ipp/v1/devices/register", json!({"enrollment_code": code, "hardware_id": "HW1", "platform": "IOS"}))
        .await
        .expect(201);
    assert_eq!(emu.get("/ipp/v1/enrollments?include_consumed=false").await.expect(200).json["total_elements"], 2);
    assert_eq!(emu.get("/ipp/v1/enrollments?include_consumed=true").await.expect(200).json["total_elements"], 3);

    // Delete = CANCELLED, never listed again.
    let id = long.json["enrollment_id"].as_str().unwrap();
    emu.delete(&format!("/ipp/v1/enrollments/{id}")).await.expect(204);
    emu.delete(&format!("/ipp/v1/enrollments/{id}")).await.expect(404);
    emu.delete(&format!("/ipp/v1/enrollments/{UNKNOWN}")).await.expect(404);
    emu.delete("/ipp/v1/enrollments/xyz").await.expect(400);
    let after = emu.get("/ipp/v1/enrollments").await.expect(200);
    assert!(after.json["content"].as_array().unwrap().iter().all(|e| e["enrollment_id"] != id));
    let code = long.json["enrollment_code"].as_str().unwrap();
    emu.post("/ipp/v1/devices/register", json!({"enrollment_code": code, "hardware_id": "HW", "platform": "IOS"}))
        .await
        .expect(422);
}

#[tokio::test]
async fn device_registration_consumes_the_code() {
    let emu = Emu::start().await;
    let loc = emu.post("/ipp/v1/locations", json!({"name": "Shop"})).await.expect(201).json["id"].clone();
    let e =
        emu.post("/ipp/v1/enrollments", json!({"location_id": loc, "metadata": {"store_id": "9"}})).await.expect(201);
    let code = e.json["enrollment_code"].as_str().unwrap().to_owned();

    // No API key needed: the POS app calls it.
    let body = json!({"enrollment_code": code, "hardware_id": "ABC123XYZ", "platform": "ANDROID", "name": "Till 1"});
    let r = emu
        .raw(
            "POST",
            "/ipp/v1/devices/register",
            &[("content-type", "application/json")],
            Some(Bytes::from(body.to_string())),
        )
        .await
        .expect(201);
    emu.validate("POST", "/ipp/v1/devices/register", &r);
    crate::support::spec().check_component("Device", &r.json);
    assert_eq!(r.json["location_id"], loc);
    assert_eq!(r.json["metadata"], json!({"store_id": "9"}));
    assert_eq!(r.json["platform"], "ANDROID");
    assert!(r.json["credentials"]["bearer_token"].as_str().unwrap().split('.').count() == 3);
    assert!(r.json["credentials"]["issuedAt"].is_string());
    let id = r.json["id"].as_str().unwrap();
    let fetched = emu.get(&format!("/ipp/v1/devices/{id}")).await.expect(200);
    assert!(fetched.json.get("credentials").is_none(), "credentials are returned only once");
    let listed = emu.get("/ipp/v1/enrollments").await.expect(200);
    assert_eq!(listed.json["content"][0]["status"], "CONSUMED");

    let again = emu.post("/ipp/v1/devices/register", body.clone()).await.expect(409);
    assert_eq!(again.code(), "enrollment_consumed");
    let lower = json!({"enrollment_code": code.to_lowercase(), "hardware_id": "h", "platform": "IOS"});
    assert_eq!(emu.post("/ipp/v1/devices/register", lower).await.expect(409).code(), "enrollment_consumed");

    // A code matches whatever the case it is typed in: short codes and UUID-shaped ones.
    for ttl in ["TWO_HOURS", "SEVENTY_TWO_HOURS"] {
        let e = emu.post("/ipp/v1/enrollments", json!({"ttl": ttl})).await.expect(201);
        let code = e.json["enrollment_code"].as_str().unwrap();
        let flipped: String = code
            .chars()
            .map(|c| if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
            .collect();
        assert_ne!(flipped, code);
        let body = json!({"enrollment_code": flipped, "hardware_id": format!("HW-{ttl}"), "platform": "IOS"});
        emu.post("/ipp/v1/devices/register", body).await.expect(201);
    }
    let unknown = emu
        .post("/ipp/v1/devices/register", json!({"enrollment_code": "ZZZZZZZZ", "hardware_id": "h", "platform": "IOS"}))
        .await
        .expect(422);
    assert_eq!(unknown.field_paths(), ["enrollment_code"]);
    let bad = emu
        .post("/ipp/v1/devices/register", json!({"enrollment_code": "a", "hardware_id": "h", "platform": "WATCH"}))
        .await
        .expect(400);
    assert_eq!(bad.field_paths(), ["enrollment_code"]);
    let bad = emu
        .post(
            "/ipp/v1/devices/register",
            json!({"enrollment_code": "ABCDEFGH", "hardware_id": "h", "platform": "WATCH"}),
        )
        .await
        .expect(400);
    assert_eq!(bad.field_paths(), ["platform"]);
    assert_eq!(emu.post("/ipp/v1/devices/register", json!({})).await.expect(400).field_paths()[0], "enrollment_code");
}

#[tokio::test]
async fn devices_list_get_update_delete() {
    let emu = Emu::start().await;
    let other = emu.post("/ipp/v1/locations", json!({"name": "Other"})).await.expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = emu.post("/ipp/v1/dev/devices", json!({"name": "A", "metadata": {"lane": "1"}})).await.expect(201);
    assert_eq!(a.json["metadata"], json!({"lane": "1", "simulated": "true"}));
    let b = emu
        .post("/ipp/v1/dev/devices", json!({"name": "B", "location_id": other, "metadata": {"lane": "2"}}))
        .await
        .expect(201);
    let (a, b) = (a.json["id"].as_str().unwrap().to_owned(), b.json["id"].as_str().unwrap().to_owned());

    assert_eq!(emu.get("/ipp/v1/devices").await.expect(200).json["total_elements"], 2);
    let by_loc = emu.get(&format!("/ipp/v1/devices?location_id={other}")).await.expect(200);
    assert_eq!(
        (by_loc.json["total_elements"].as_u64(), by_loc.json["content"][0]["id"].as_str()),
        (Some(1), Some(b.as_str()))
    );
    let by_meta = emu.get("/ipp/v1/devices?metadata=lane:1&metadata=simulated:true").await.expect(200);
    assert_eq!(by_meta.json["content"][0]["id"], a.as_str());
    assert_eq!(emu.get("/ipp/v1/devices?metadata=lane").await.expect(400).field_paths(), ["metadata[0]"]);

    let updated =
        emu.put(&format!("/ipp/v1/devices/{a}"), json!({"name": "A2", "location_id": other})).await.expect(200);
    assert_eq!(updated.json["name"], "A2");
    assert_eq!(updated.json["location_id"], other.as_str());
    // PUT replaces: metadata left out is cleared, but a simulated device stays marked as one.
    assert_eq!(updated.json["metadata"], json!({"simulated": "true"}));
    let relabelled = emu
        .put(&format!("/ipp/v1/devices/{a}"), json!({"name": "A3", "metadata": {"simulated": "false", "lane": "9"}}))
        .await
        .expect(200);
    assert_eq!(relabelled.json["metadata"], json!({"lane": "9", "simulated": "true"}));
    let cleared = emu.put(&format!("/ipp/v1/devices/{a}"), json!({})).await.expect(200);
    assert!(cleared.json.get("location_id").is_none() && cleared.json.get("name").is_none());
    // No body at all is refused, never read as `{}` (which clears the device).
    assert_eq!(emu.call("PUT", &format!("/ipp/v1/devices/{a}"), None).await.expect(400).field_paths(), [""]);
    assert_eq!(
        emu.put(&format!("/ipp/v1/devices/{a}"), json!({"location_id": UNKNOWN})).await.expect(422).code(),
        "unknown_location"
    );
    let long = "x".repeat(256);
    assert_eq!(
        emu.put(&format!("/ipp/v1/devices/{a}"), json!({"name": long})).await.expect(400).field_paths(),
        ["name"]
    );
    assert_eq!(
        emu.put(&format!("/ipp/v1/devices/{a}"), json!({"metadata": {"bad key": "v"}})).await.expect(400).field_paths(),
        ["metadata"]
    );
    // Ids are case-insensitive: the same device in upper case.
    let upper = emu.get(&format!("/ipp/v1/devices/{}", a.to_ascii_uppercase())).await.expect(200);
    assert_eq!(upper.json["id"], a.as_str());
    emu.put(&format!("/ipp/v1/devices/{UNKNOWN}"), json!({})).await.expect(404);
    emu.get(&format!("/ipp/v1/devices/{UNKNOWN}")).await.expect(404);
    emu.get("/ipp/v1/devices/123").await.expect(400);

    // Deleting a device cancels its open session.
    let s = emu.session(&b).await;
    emu.delete(&format!("/ipp/v1/devices/{b}")).await.expect(204);
    emu.delete(&format!("/ipp/v1/devices/{b}")).await.expect(404);
    emu.get(&format!("/ipp/v1/devices/{b}")).await.expect(404);
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{s}")).await.expect(200).json["status"], "CANCELLED");

    assert_eq!(emu.post("/ipp/v1/dev/devices", json!({"name": ""})).await.expect(400).field_paths(), ["name"]);
    assert_eq!(
        emu.post("/ipp/v1/dev/devices", json!({"name": "x", "location_id": UNKNOWN})).await.expect(422).code(),
        "unknown_location"
    );
}

#[tokio::test]
async fn sessions_create_get_cancel() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Till").await;
    let created = emu
        .post(&format!("/ipp/v1/sessions?location_id={DEFAULT_LOCATION_ID}"), session_body(&device))
        .await
        .expect(200);
    assert_eq!(created.json["status"], "CREATED");
    assert_eq!(created.json["order_amount"], 240_000);
    let id = created.json["session_id"].as_str().unwrap().to_owned();
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{id}")).await.expect(200).json, created.json);

    let busy = emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(409);
    assert_eq!(busy.code(), "device_busy");

    let cancelled = emu.call("PUT", &format!("/ipp/v1/sessions/{id}/cancel"), None).await.expect(200);
    assert_eq!(cancelled.json["status"], "CANCELLED");
    let again = emu.call("PUT", &format!("/ipp/v1/sessions/{id}/cancel"), None).await.expect(409);
    assert_eq!(again.code(), "session_terminal");
    // Any RFC 3339 form in; the API's timestamps are UTC on the way out.
    let mut body = session_body(&device);
    body["purchase_started_at"] = json!("2024-01-15t10:30:00+02:00");
    let offset = emu.post("/ipp/v1/sessions", body).await.expect(200);
    assert_eq!(offset.json["purchase_started_at"], "2024-01-15T08:30:00Z");

    emu.get(&format!("/ipp/v1/sessions/{UNKNOWN}")).await.expect(404);
    emu.call("PUT", &format!("/ipp/v1/sessions/{UNKNOWN}/cancel"), None).await.expect(404);
    assert_eq!(emu.get("/ipp/v1/sessions/nope").await.expect(400).field_paths(), ["session_id"]);
    // A malformed escape in the id is a malformed id too, not an unknown route.
    for bad in ["%ZZ", "%FF"] {
        assert_eq!(emu.get(&format!("/ipp/v1/sessions/{bad}")).await.expect(400).field_paths(), ["session_id"]);
    }

    let unknown = emu.post("/ipp/v1/sessions", session_body(UNKNOWN)).await.expect(422);
    assert_eq!((unknown.code(), unknown.field_paths()), ("unknown_device", vec!["device_id".to_owned()]));
    let other = emu.post("/ipp/v1/locations", json!({"name": "Other"})).await.expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d2 = emu.sim_device("Till 2").await;
    let mismatch = emu.post(&format!("/ipp/v1/sessions?location_id={other}"), session_body(&d2)).await.expect(422);
    assert_eq!(mismatch.code(), "device_location_mismatch");
    emu.post(&format!("/ipp/v1/sessions?location_id={UNKNOWN}"), session_body(&d2)).await.expect(422);
    emu.post("/ipp/v1/sessions?location_id=bad", session_body(&d2)).await.expect(400);

    let mut wrong = session_body(&d2);
    wrong["order_items"][1]["total_tax_amount"] = json!(7000);
    wrong["order_amount"] = json!(1);
    let r = emu.post("/ipp/v1/sessions", wrong).await.expect(400);
    assert_eq!(r.field_paths(), ["order_items[1].total_tax_amount", "order_amount", "order_tax_amount"]);
    assert!(r.json["errors"]["order_amount"].is_string(), "Kustom's errors map is filled too");
    let mut missing = session_body(&d2);
    missing.as_object_mut().unwrap().remove("purchase_currency");
    assert_eq!(emu.post("/ipp/v1/sessions", missing).await.expect(400).field_paths(), ["purchase_currency"]);
    let mut typed = session_body(&d2);
    typed["order_items"][0]["unit_price"] = json!("100");
    assert_eq!(emu.post("/ipp/v1/sessions", typed).await.expect(400).field_paths(), ["order_items[0].unit_price"]);
}

#[tokio::test]
async fn transport_errors_are_problem_details() {
    let emu = Emu::start().await;
    let auth = crate::support::auth_header(&emu.config);
    let a = ("authorization", auth.as_str());
    let json_ct = ("content-type", "application/json");
    let malformed = emu
        .raw("POST", "/ipp/v1/sessions", &[a, json_ct], Some(Bytes::from_static(b"{\"device_id\":")))
        .await
        .expect(400);
    assert_eq!(malformed.json["field_errors"][0]["code"], "malformed_json");
    let text = emu
        .raw("POST", "/ipp/v1/locations", &[a, ("content-type", "text/plain")], Some(Bytes::from_static(b"{}")))
        .await;
    assert_eq!(text.expect(415).code(), "unsupported_media_type");
    emu.raw(
        "POST",
        "/ipp/v1/locations",
        &[a, ("content-type", "application/json; charset=utf-8")],
        Some(Bytes::from(json!({"name": "x"}).to_string())),
    )
    .await
    .expect(201);
    let big = Bytes::from(vec![b' '; 1024 * 1024 + 1]);
    emu.raw("POST", "/ipp/v1/locations", &[a, json_ct], Some(big)).await.expect(413);
    let nf = emu.raw("GET", "/ipp/v1/nothing", &[a], None).await.expect(404);
    assert_eq!(nf.code(), "not_found");
    emu.raw("GET", "/elsewhere", &[], None).await.expect(404);
    let m = emu.raw("PATCH", "/ipp/v1/sessions", &[a], None).await.expect(405);
    assert_eq!(m.header("allow"), Some("POST"));
    let m = emu.raw("POST", &format!("/ipp/v1/devices/{UNKNOWN}"), &[a], None).await.expect(405);
    assert_eq!(m.header("allow"), Some("GET, PUT, DELETE"));
    let q = emu.raw("GET", "/ipp/v1/devices?page_size=%ZZ", &[a], None).await.expect(400);
    assert_eq!(q.json["field_errors"][0]["code"], "invalid");
    // A request id sent by the client is echoed; otherwise one is made.
    let r = emu.raw("GET", "/ipp/v1/devices", &[a, ("x-request-id", "trace-123")], None).await.expect(200);
    assert_eq!(r.header("x-request-id"), Some("trace-123"));
    let p = emu.raw("GET", "/ipp/v1/devices/x", &[a, ("x-request-id", "trace-9")], None).await.expect(400);
    assert_eq!(p.json["request_id"], "trace-9");
}

#[tokio::test]
async fn simulate_tap_all_outcomes() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Till").await;
    let id = emu.session(&device).await;
    let declines = [
        "DECLINED_GENERIC",
        "INSUFFICIENT_FUNDS",
        "LOST_CARD",
        "STOLEN_CARD",
        "EXPIRED_CARD",
        "INCORRECT_CVC",
        "PROCESSING_ERROR",
        "INCORRECT_NUMBER",
        "CARD_VELOCITY_EXCEEDED",
    ];
    for outcome in declines {
        let r = emu.tap(&id, outcome).await.expect(200);
        assert_eq!(r.json["status"], "ACTIVE", "{outcome} leaves the session open");
        assert!(r.json.get("order_id").is_none());
    }
    assert_eq!(emu.tap(&id, "MAYBE").await.expect(400).field_paths(), ["outcome"]);
    let done = emu.call("POST", &format!("/ipp/v1/dev/sessions/{id}/simulate-tap"), None).await.expect(200);
    assert_eq!(done.json["status"], "FINALIZED", "SUCCESS is the default");
    assert!(kipp_core::ids::is_uuid(done.json["order_id"].as_str().unwrap()));
    assert!(done.json["purchase_completed_at"].is_string());
    assert_eq!(emu.tap(&id, "SUCCESS").await.expect(409).code(), "session_terminal");
    emu.tap(UNKNOWN, "SUCCESS").await.expect(404);
    assert_eq!(emu.tap("bad", "SUCCESS").await.expect(400).field_paths(), ["sessionId"]);
    // The device is free again.
    let next = emu.session(&device).await;
    assert_eq!(emu.tap(&next, "SUCCESS").await.expect(200).json["status"], "FINALIZED");
}

#[tokio::test]
async fn production_mode_hides_testing_endpoints() {
    let mut config = Config::for_tests();
    config.production = true;
    let emu = Emu::with(config).await;
    assert_eq!(emu.post("/ipp/v1/dev/devices", json!({"name": "x"})).await.expect(404).code(), "not_found");
    emu.tap("00000000-0000-4000-8000-000000000009", "SUCCESS").await.expect(404);
    // Any method: a 405 with `Allow: POST` would tell that the route exists.
    for method in ["GET", "PUT", "DELETE"] {
        let r = emu.call(method, "/ipp/v1/dev/devices", None).await.expect(404);
        assert!(r.headers.get("allow").is_none(), "{method}: {:?}", r.headers);
    }
    emu.call("GET", "/ipp/v1/dev/sessions/00000000-0000-4000-8000-000000000009/simulate-tap", None).await.expect(404);
    emu.get("/ipp/v1/devices").await.expect(200);
}

#[tokio::test]
async fn empty_pages_and_page_bounds() {
    let emu = Emu::start().await;
    let p = emu.get("/ipp/v1/devices?page_number=5").await.expect(200);
    assert_eq!(p.json["content"], Value::Array(vec![]));
    assert_eq!((p.json["page_number"].as_u64(), p.json["first"].as_bool()), (Some(5), Some(false)));
    assert_eq!(emu.get("/ipp/v1/devices?page_size=101").await.expect(400).field_paths(), ["page_size"]);
    assert_eq!(emu.get("/ipp/v1/devices?page_number=-1").await.expect(400).field_paths(), ["page_number"]);
}
