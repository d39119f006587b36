//! The `/_emulator/` controls: clock and expiry, faults, reset, health.

use kipp_cli::emulator::state::DEFAULT_LOCATION_ID;
use serde_json::json;

use crate::support::{session_body, Emu};

#[tokio::test]
async fn clock_advance_expires_sessions_and_enrollments() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Till").await;
    let session = emu.session(&device).await;
    let active = emu.session(&emu.sim_device("Till 2").await).await;
    emu.tap(&active, "DECLINED_GENERIC").await.expect(200);
    let code = emu.post("/ipp/v1/enrollments", json!({"expires_in": 600_000})).await.expect(201).json
        ["enrollment_code"]
        .clone();

    let c = emu.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 599}))).await.expect(200);
    assert_eq!(c.json["offset_seconds"], 599.0);
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{session}")).await.expect(200).json["status"], "CREATED");

    let c = emu.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 301}))).await.expect(200);
    assert_eq!(c.json["expired"], 3, "two sessions and one enrollment expire at 15 min");
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{session}")).await.expect(200).json["status"], "EXPIRED");
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{active}")).await.expect(200).json["status"], "EXPIRED");
    assert_eq!(emu.tap(&session, "SUCCESS").await.expect(409).code(), "session_terminal");
    emu.call("PUT", &format!("/ipp/v1/sessions/{session}/cancel"), None).await.expect(409);
    emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(200);

    let list = emu.get("/ipp/v1/enrollments?include_consumed=false").await.expect(200);
    let statuses: Vec<&str> =
        list.json["content"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["EXPIRED"]);
    let r = emu
        .post("/ipp/v1/devices/register", json!({"enrollment_code": code, "hardware_id": "h", "platform": "IOS"}))
        .await;
    assert_eq!(r.expect(409).code(), "enrollment_expired");

    assert!(emu.control("GET", "/_emulator/clock", None).await.expect(200).json["now"].is_string());
    emu.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": -5}))).await.expect(400);
    emu.control("POST", "/_emulator/clock/advance", Some(json!({}))).await.expect(400);
}

/// Body errors over HTTP: an unknown field is named once (it read `foo.foo`), and type errors
/// are in JSON's words, not serde's (`invalid type: string "x", expected f64`).
#[tokio::test]
async fn body_errors_name_the_field_once_in_plain_words() {
    let emu = Emu::start().await;
    let errors = |r: crate::support::Resp| {
        let e = &r.expect(400).json["field_errors"][0];
        [&e["path"], &e["code"], &e["message"]].map(|v| v.as_str().unwrap().to_owned())
    };
    let advance = |body| emu.control("POST", "/_emulator/clock/advance", Some(body));
    assert_eq!(
        errors(advance(json!({"seconds": 1, "foo": 1})).await),
        ["foo", "unknown_field", "is not a known field"]
    );
    assert_eq!(errors(advance(json!({"seconds": "x"})).await), ["seconds", "invalid", "must be a number"]);
    assert_eq!(errors(advance(json!("x")).await), ["", "invalid", "must be an object"]);
    let device = emu.sim_device("Till").await;
    let mut body = session_body(&device);
    body["order_amount"] = json!(10.5);
    assert_eq!(
        errors(emu.post("/ipp/v1/sessions", body).await),
        ["order_amount", "invalid", "must be a whole number, not 10.5"]
    );
    let mut body = session_body(&device);
    body["order_items"][0]["quantity"] = json!("2");
    assert_eq!(
        errors(emu.post("/ipp/v1/sessions", body).await),
        ["order_items[0].quantity", "invalid", "must be an integer"]
    );
    let r = emu.post("/ipp/v1/enrollments", json!({"expires_in": -1})).await;
    assert_eq!(errors(r), ["expires_in", "out_of_range", "is out of range"]);
}

#[tokio::test]
async fn lazy_expiry_on_access_without_the_sweep() {
    let mut config = kipp_cli::emulator::Config::for_tests();
    config.sweep_interval = std::time::Duration::from_secs(3600);
    config.session_ttl = std::time::Duration::from_millis(50);
    let emu = Emu::with(config).await;
    let device = emu.sim_device("Till").await;
    let session = emu.session(&device).await;
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(200);
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{session}")).await.expect(200).json["status"], "EXPIRED");
}

#[tokio::test]
async fn faults_by_count_ratio_latency_and_drop() {
    let emu = Emu::start().await;
    let f = emu
        .control(
            "POST",
            "/_emulator/faults",
            Some(json!({"status": 503, "count": 2, "path_prefix": "/ipp/v1/sessions"})),
        )
        .await;
    assert_eq!(f.expect(201).json["faults"][0]["count"], 2);
    emu.get("/ipp/v1/devices").await.expect(200);
    let device = emu.sim_device("Till").await;
    for _ in 0..2 {
        let r = emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(503);
        assert_eq!(r.json["detail"], "injected fault (kipp emulator)");
    }
    let s = emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(200);
    assert_eq!(emu.control("GET", "/_emulator/faults", None).await.json["faults"], json!([]));
    assert!(s.json["session_id"].is_string(), "state untouched by the faulted attempts: exactly one session");

    emu.control("POST", "/_emulator/faults", Some(json!({"status": 429, "retry_after": 1, "ratio": 1.0})))
        .await
        .expect(201);
    let r = emu.get("/ipp/v1/locations").await.expect(429);
    assert_eq!((r.header("retry-after"), r.code()), (Some("1"), "rate_limited"));
    emu.control("GET", "/_emulator/health", None).await.expect(200);
    emu.control("DELETE", "/_emulator/faults", None).await.expect(204);
    emu.get("/ipp/v1/locations").await.expect(200);

    emu.control("POST", "/_emulator/faults", Some(json!({"latency_ms": 30, "count": 1}))).await.expect(201);
    emu.get("/ipp/v1/locations").await.expect(200);

    // An answer outside the API's contract, still within HTTP: a 205 has no content.
    emu.control("POST", "/_emulator/faults", Some(json!({"status": 205, "count": 1}))).await.expect(201);
    let reset_content = emu.get("/ipp/v1/locations").await.expect(205);
    assert!(reset_content.body.is_empty() && reset_content.headers.get("content-type").is_none());

    emu.control("POST", "/_emulator/faults", Some(json!({"drop": true, "count": 1}))).await.expect(201);
    let uri: hyper::Uri = format!("{}/ipp/v1/locations", emu.base).parse().unwrap();
    let auth = crate::support::auth_header(&emu.config);
    let dropped =
        emu.client.send(hyper::Method::GET, &uri, &[("authorization", &auth)], None, crate::support::TIMEOUT).await;
    assert!(dropped.is_err(), "connection closed without an answer");
    emu.get("/ipp/v1/locations").await.expect(200);

    for bad in [
        json!({}),
        json!({"answer_delay_ms": 10, "status": 503}),
        json!({"answer_patch": {"x": 1}, "drop": true}),
        json!({"answer_patch": 5}),
        json!({"status": 200}),
        json!({"status": 500, "ratio": 0}),
        json!({"drop": true, "path_prefix": "/_emulator"}),
        json!({"status": 500, "nope": 1}),
    ] {
        emu.control("POST", "/_emulator/faults", Some(bad)).await.expect(400);
    }
}

#[tokio::test]
async fn reset_keeps_only_the_default_location() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Till").await;
    emu.session(&device).await;
    emu.post("/ipp/v1/locations", json!({"name": "x"})).await.expect(201);
    emu.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 10}))).await.expect(200);
    emu.control("POST", "/_emulator/reset", None).await.expect(200);
    assert_eq!(emu.get("/ipp/v1/devices").await.expect(200).json["total_elements"], 0);
    let l = emu.get("/ipp/v1/locations").await.expect(200);
    assert_eq!(
        (l.json["total_elements"].as_u64(), l.json["content"][0]["id"].as_str()),
        (Some(1), Some(DEFAULT_LOCATION_ID))
    );
    assert_eq!(emu.get("/ipp/v1/enrollments").await.expect(200).json["total_elements"], 0);
    assert_eq!(emu.control("GET", "/_emulator/clock", None).await.json["offset_seconds"], 0.0);
}

#[tokio::test]
async fn health_and_unknown_controls() {
    let emu = Emu::start().await;
    assert_eq!(emu.control("GET", "/_emulator/health", None).await.expect(200).json, json!({"ok": true}));
    emu.control("GET", "/_emulator/nothing", None).await.expect(404);
    emu.control("DELETE", "/_emulator/health", None).await.expect(405);
    emu.control("POST", "/_emulator/faults", None).await.expect(400);
}

/// `answer_patch` runs the operation and merges fields into its 2xx answer only: the state, and
/// an error answer, are as without it.
#[tokio::test]
async fn answer_patch_changes_only_the_answer() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Patched answers").await;
    let rule = json!({"answer_patch": {"purchase_currency": "XXZ", "extra": [1]}, "ratio": 1.0, "path_prefix": "/ipp/v1/sessions"});
    emu.control("POST", "/_emulator/faults", Some(rule)).await.expect(201);
    let created = emu.post("/ipp/v1/sessions", session_body(&device)).await.expect(200);
    assert_eq!((&created.json["purchase_currency"], &created.json["extra"]), (&json!("XXZ"), &json!([1])));
    let id = created.json["session_id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["status"], "CREATED", "the rest of the answer is the operation's");
    emu.get("/ipp/v1/sessions/00000000-0000-4000-8000-000000000404").await.expect(404);
    emu.control("DELETE", "/_emulator/faults", None).await.expect(204);
    assert_eq!(emu.get(&format!("/ipp/v1/sessions/{id}")).await.expect(200).json["purchase_currency"], "SEK");
}

/// `answer_delay_ms` runs the operation when the request arrives and holds only its answer: a
/// read answered late shows the state from before a change made meanwhile (what a client that
/// must not trust a read started before a change has to cope with).
#[tokio::test]
async fn answer_delay_answers_the_state_at_arrival() {
    let emu = Emu::start().await;
    let device = emu.sim_device("Slow answers").await;
    let id = emu.session(&device).await;
    let before = emu.get(&format!("/ipp/v1/sessions/{id}")).await.expect(200).json["status"].clone();
    assert_ne!(before, "FINALIZED");
    let prefix = format!("/ipp/v1/sessions/{id}");
    emu.control("POST", "/_emulator/faults", Some(json!({"answer_delay_ms": 1500, "path_prefix": prefix})))
        .await
        .expect(201);
    let started = std::time::Instant::now();
    let read = emu.get(&prefix);
    let tap = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        emu.tap(&id, "SUCCESS").await
    };
    let (read, tap) = tokio::join!(read, tap);
    tap.expect(200);
    assert_eq!(read.expect(200).json["status"], before, "the read ran when it arrived");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500), "its answer was held");
    assert_eq!(emu.get(&prefix).await.expect(200).json["status"], "FINALIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_delayed_across_a_reset_does_not_reach_the_new_state() {
    let emu = std::sync::Arc::new(Emu::start().await);
    let seeded = emu.get("/ipp/v1/locations").await.expect(200).json["total_elements"].clone();
    emu.control(
        "POST",
        "/_emulator/faults",
        Some(json!({"latency_ms": 600, "count": 1, "path_prefix": "/ipp/v1/locations"})),
    )
    .await
    .expect(201);
    let delayed = {
        let emu = emu.clone();
        tokio::spawn(async move { emu.post("/ipp/v1/locations", json!({"name": "Left over"})).await })
    };
    // The next test starts while the location is still on its way: the fault has been drawn
    // (a count-1 fault leaves the list) and the request is waiting out its latency.
    while emu.control("GET", "/_emulator/faults", None).await.json["faults"] != json!([]) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    emu.control("POST", "/_emulator/reset", None).await.expect(200);
    let r = delayed.await.unwrap().expect(503);
    assert_eq!(r.json["detail"], "the emulator was reset while this request waited");
    let after = emu.get("/ipp/v1/locations").await.expect(200);
    assert_eq!(after.json["total_elements"], seeded, "{}", after.json);
}
