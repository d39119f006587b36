//! Signed webhook deliveries: envelope, signatures (kipp-core and an independent HMAC),
//! order, retries, giving up, duplicates, reordering and pausing.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use kipp_core::time::Timestamp;
use kipp_core::webhook::{verify, WebhookHeaders, WebhookSecrets, DEFAULT_TOLERANCE_SECS};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{secret, spec, webhook_config, Emu, Listener, Received};

/// Verifies one delivery with kipp-core and with an HMAC computed here from the raw keys.
fn check_signature(r: &Received, secrets: &[(String, [u8; 32])]) {
    let h = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
    let (id, ts, sig) = (h("webhook-id").unwrap(), h("webhook-timestamp").unwrap(), h("webhook-signature").unwrap());
    assert_eq!(h("content-type"), Some("application/json"));
    let list: Vec<&str> = secrets.iter().map(|(s, _)| s.as_str()).collect();
    let parsed = WebhookSecrets::parse(&list.join(",")).unwrap();
    let now = i64::try_from(kipp_cli::emulator::clock::real_now_nanos() / 1_000_000_000).unwrap();
    let delivery = verify(&WebhookHeaders::new(id, ts, sig), &r.body, &parsed, now, DEFAULT_TOLERANCE_SECS)
        .expect("kipp-core verifies");
    assert_eq!(delivery.id(), id);
    // Independent: base64(HMAC-SHA256(key, "{id}.{ts}.{body}")) for every secret, in order.
    let expected: Vec<String> = secrets
        .iter()
        .map(|(_, key)| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(&r.body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect();
    assert_eq!(sig, expected.join(" "));
    assert_eq!(id, r.json["id"].as_str().unwrap(), "webhook-id is the event id");
    // A tampered body fails.
    let mut tampered = r.body.to_vec();
    tampered.push(b' ');
    assert!(verify(&WebhookHeaders::new(id, ts, sig), &tampered, &parsed, now, DEFAULT_TOLERANCE_SECS).is_err());
}

/// Same keys, same kinds of values as a docs example.
fn same_shape(example: &Value, actual: &Value) {
    let ex = example.as_object().unwrap();
    for (k, v) in ex {
        let a = actual.get(k).unwrap_or_else(|| panic!("missing {k} in {actual}"));
        let kind = |v: &Value| match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !v.is_null() && !a.is_null() {
            assert_eq!(kind(v), kind(a), "{k}");
        }
        if v.is_object() {
            same_shape(v, a);
        }
    }
}

#[tokio::test]
async fn lifecycle_events_are_signed_ordered_and_shaped_like_the_docs() {
    let (s1, s2) = (secret(1), secret(2));
    let mut a = Listener::start(0).await;
    let mut b = Listener::start(0).await;
    let emu = Emu::with(webhook_config(&[&a.url, &b.url], &[&s1.0, &s2.0])).await;
    let device = emu.sim_device("Till").await;
    let session = emu.session(&device).await;
    emu.tap(&session, "INSUFFICIENT_FUNDS").await.expect(200);
    emu.tap(&session, "SUCCESS").await.expect(200);
    let order_id = emu.get(&format!("/ipp/v1/sessions/{session}")).await.expect(200).json["order_id"].clone();

    for listener in [&mut a, &mut b] {
        let got = listener.take(4).await;
        let types: Vec<&str> = got.iter().map(|r| r.json["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["ipp.session.created", "ipp.session.activated", "ipp.payment.failed", "ipp.session.finalized"]
        );
        let mut last = 0i128;
        for r in &got {
            check_signature(r, &[s1.clone(), s2.clone()]);
            spec().check_component("IppSessionEvent", &r.json);
            let e = &r.json;
            assert!(e["id"].as_str().unwrap().starts_with("kevt_"));
            assert_eq!(e["merchant_id"], emu.config.merchant_id.as_str());
            assert_eq!(e["data"]["session_id"], session.as_str());
            let ts = e["timestamp"].as_str().unwrap();
            assert_eq!(ts.split('.').nth(1).map(str::len), Some(10), "nanosecond precision: {ts}");
            let t = Timestamp::parse(ts).unwrap().unix_nanos();
            assert!(t > last, "timestamps increase");
            last = t;
        }
        assert_eq!(got[2].json["data"]["failure_reason"], "insufficient_funds");
        assert_eq!(got[2].json["data"]["order_id"], Value::Null);
        assert_eq!(got[3].json["data"]["order_id"], order_id);
        assert_eq!(got[3].json["data"]["failure_reason"], Value::Null);
        let activated: Value = serde_json::from_str(include_str!(
            "../../../core/tests/fixtures/examples/webhook.ipp.session.activated.json"
        ))
        .unwrap();
        let finalized: Value = serde_json::from_str(include_str!(
            "../../../core/tests/fixtures/examples/webhook.ipp.session.finalized.json"
        ))
        .unwrap();
        same_shape(&activated, &got[1].json);
        same_shape(&finalized, &got[3].json);
        // Core's own parser reads them as IPP events.
        assert!(matches!(kipp_core::event::parse_event(&got[3].body).unwrap(), kipp_core::event::ParsedEvent::Ipp(_)));
    }
    // Cancel emits ipp.session.cancelled.
    let s2id = emu.session(&device).await;
    emu.call("PUT", &format!("/ipp/v1/sessions/{s2id}/cancel"), None).await.expect(200);
    let got = a.take(2).await;
    assert_eq!(got[1].json["type"], "ipp.session.cancelled");
    let log = emu.settle_deliveries(12).await;
    let entries = log["deliveries"].as_array().unwrap();
    assert_eq!(entries.len(), 12, "6 events × 2 destinations");
    assert!(entries.iter().all(|e| e["delivered"] == true && e["attempts"] == 1 && e["last_status"] == 200));
    let filtered =
        emu.control("GET", &format!("/_emulator/deliveries?session_id={s2id}&type=ipp.session.cancelled"), None).await;
    assert_eq!(filtered.json["deliveries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_delivery_log_reads_the_emulator_clock() {
    // After the clock moved on, a delivery is not logged as delivered before it was queued.
    let s = secret(1);
    let mut l = Listener::start(0).await;
    let emu = Emu::with(webhook_config(&[&l.url], &[&s.0])).await;
    emu.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 900}))).await.expect(200);
    let device = emu.sim_device("Till").await;
    emu.session(&device).await;
    l.next().await;
    let log = emu.settle_deliveries(1).await;
    let e = &log["deliveries"][0];
    let at = |k: &str| Timestamp::parse(e[k].as_str().unwrap()).unwrap().unix_millis();
    assert!(at("delivered_at") >= at("created_at"), "{e}");
}

#[tokio::test]
async fn failing_destination_is_retried_until_it_answers_2xx() {
    let s = secret(3);
    let mut l = Listener::start(2).await;
    let emu = Emu::with(webhook_config(&[&l.url], &[&s.0])).await;
    let device = emu.sim_device("Till").await;
    let session = emu.session(&device).await;
    let r = l.next().await;
    check_signature(&r, std::slice::from_ref(&s));
    assert_eq!(r.json["data"]["session_id"], session.as_str());
    let log = emu.settle_deliveries(1).await;
    let e = &log["deliveries"][0];
    assert_eq!(
        (e["attempts"].as_u64(), e["delivered"].as_bool(), e["last_status"].as_u64()),
        (Some(3), Some(true), Some(200))
    );
    assert_eq!(l.attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_the_schedule_and_keeps_the_next_event_in_order() {
    let s = secret(4);
    let mut l = Listener::start(4).await; // 1 + 3 retries all fail for the first event
    let emu = Emu::with(webhook_config(&[&l.url], &[&s.0])).await;
    let device = emu.sim_device("Till").await;
    let session = emu.session(&device).await;
    emu.call("PUT", &format!("/ipp/v1/sessions/{session}/cancel"), None).await.expect(200);
    let r = l.next().await;
    assert_eq!(r.json["type"], "ipp.session.cancelled", "created was given up, cancelled comes after it");
    let log = emu.settle_deliveries(2).await;
    let first = &log["deliveries"][0];
    assert_eq!(
        (first["attempts"].as_u64(), first["gave_up"].as_bool(), first["delivered"].as_bool()),
        (Some(4), Some(true), Some(false))
    );
    assert_eq!(first["last_status"], 500);
    assert_eq!(log["deliveries"][1]["delivered"], true);
}

#[tokio::test]
async fn unreachable_destination_records_the_error() {
    let s = secret(5);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let emu = Emu::with(webhook_config(&[&url], &[&s.0])).await;
    let device = emu.sim_device("Till").await;
    emu.session(&device).await;
    let log = emu.settle_deliveries(1).await;
    let e = &log["deliveries"][0];
    assert_eq!((e["gave_up"].as_bool(), e["last_status"].is_null()), (Some(true), true));
    assert!(e["last_error"].is_string());
}

#[tokio::test]
async fn duplicate_reorder_and_pause() {
    let s = secret(6);
    let mut l = Listener::start(0).await;
    let emu = Emu::with(webhook_config(&[&l.url], &[&s.0])).await;
    let device = emu.sim_device("Till").await;

    // Duplicates: each event twice with the same webhook-id.
    let b = emu.control("POST", "/_emulator/webhooks", Some(json!({"duplicate": 2}))).await.expect(200);
    assert_eq!(b.json, json!({"duplicate": 2, "reorder": false, "paused": false}));
    let first = emu.session(&device).await;
    let got = l.take(2).await;
    assert_eq!(got[0].json["id"], got[1].json["id"]);
    assert_eq!(got[0].headers.get("webhook-id"), got[1].headers.get("webhook-id"));
    emu.control("POST", "/_emulator/webhooks", Some(json!({"duplicate": 1}))).await.expect(200);

    // Pause: nothing goes out; reorder: a session's pending events go newest first.
    emu.control("POST", "/_emulator/webhooks", Some(json!({"paused": true, "reorder": true}))).await.expect(200);
    emu.tap(&first, "DECLINED_GENERIC").await.expect(200);
    emu.tap(&first, "SUCCESS").await.expect(200);
    l.assert_quiet().await;
    let pending = emu.control("GET", "/_emulator/deliveries", None).await.expect(200);
    assert_eq!(pending.json["pending"], 3);
    assert_eq!(emu.control("GET", "/_emulator/webhooks", None).await.json["paused"], true);
    emu.control("POST", "/_emulator/webhooks", Some(json!({"paused": false}))).await.expect(200);
    let got = l.take(3).await;
    let types: Vec<&str> = got.iter().map(|r| r.json["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ipp.session.finalized", "ipp.payment.failed", "ipp.session.activated"]);

    // Consumers still reach the true final state with kipp-core's state machine.
    let mut state = kipp_core::session::SessionState::new();
    for r in &got {
        if let kipp_core::event::ParsedEvent::Ipp(e) = kipp_core::event::parse_event(&r.body).unwrap() {
            state.apply_event(&e);
        }
    }
    assert_eq!(state.status, kipp_core::session::SessionStatus::Finalized);

    emu.control("POST", "/_emulator/webhooks", Some(json!({"duplicate": 0}))).await.expect(400);
    emu.control("POST", "/_emulator/webhooks", Some(json!({"bogus": true}))).await.expect(400);
}

#[tokio::test]
async fn slow_destination_times_out_and_is_retried() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A destination that answers the first request only after the emulator gave up on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let h = h.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n == 0 {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let s = secret(7);
    let mut config = webhook_config(&[&url], &[&s.0]);
    config.webhook_timeout = Duration::from_millis(200);
    let emu = Emu::with(config).await;
    let device = emu.sim_device("Till").await;
    emu.session(&device).await;
    let log = emu.settle_deliveries(1).await;
    let e = &log["deliveries"][0];
    assert_eq!((e["attempts"].as_u64(), e["delivered"].as_bool()), (Some(2), Some(true)));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutting_down_stops_the_retries() {
    let s = secret(9);
    let l = Listener::start(usize::MAX).await; // every attempt fails: the delivery keeps retrying
    let mut config = webhook_config(&[&l.url], &[&s.0]);
    config.webhook_retry = vec![Duration::from_millis(100); 20];
    let mut emu = Emu::with(config).await;
    let device = emu.sim_device("Till").await;
    emu.session(&device).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while l.attempts.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the first attempts never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.shutdown().await;
    // An attempt already on the wire when the emulator stopped may still land; none after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_stop = l.attempts.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(l.attempts.load(std::sync::atomic::Ordering::SeqCst), at_stop, "retries went on after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_waiting_to_retry_do_not_hold_the_send_slots() {
    // Two destinations: one always failing (its deliveries wait a minute between attempts), one
    // healthy. More failing deliveries than send slots must not stop the healthy destination's.
    let s = secret(10);
    let dead = Listener::start(usize::MAX).await;
    let mut good = Listener::start(0).await;
    let mut config = webhook_config(&[&dead.url, &good.url], &[&s.0]);
    config.webhook_retry = vec![Duration::from_secs(60); 3];
    let emu = Emu::with(config).await;
    let n = kipp_cli::emulator::webhooks::MAX_IN_FLIGHT + 36;
    for i in 0..n {
        let device = emu.sim_device(&format!("Till {i}")).await;
        emu.session(&device).await;
    }
    let got = good.take(n).await;
    assert_eq!(got.len(), n);
    assert!(dead.attempts.load(std::sync::atomic::Ordering::SeqCst) >= kipp_cli::emulator::webhooks::MAX_IN_FLIGHT);
}
