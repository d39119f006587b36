//! Many requests at once: no lost updates, one open session per device.

use std::sync::Arc;

use crate::support::{session_body, Emu};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_create_and_tap_concurrently() {
    let emu = Arc::new(Emu::start().await);
    let mut devices = Vec::new();
    for i in 0..200 {
        devices.push(emu.sim_device(&format!("Till {i}")).await);
    }
    let mut tasks = Vec::new();
    for d in devices.clone() {
        let emu = emu.clone();
        tasks.push(tokio::spawn(async move {
            let s = emu.session(&d).await;
            emu.tap(&s, "PROCESSING_ERROR").await.expect(200);
            let done = emu.tap(&s, "SUCCESS").await.expect(200);
            (d, s, done.json["order_id"].as_str().unwrap().to_owned())
        }));
    }
    let mut sessions = std::collections::HashSet::new();
    let mut orders = std::collections::HashSet::new();
    for t in tasks {
        let (d, s, o) = t.await.unwrap();
        let got = emu.get(&format!("/ipp/v1/sessions/{s}")).await.expect(200);
        assert_eq!(
            (got.json["status"].as_str(), got.json["device_id"].as_str()),
            (Some("FINALIZED"), Some(d.as_str()))
        );
        assert!(sessions.insert(s) && orders.insert(o));
    }
    assert_eq!(sessions.len(), 200);
    assert_eq!(emu.get("/ipp/v1/devices?page_size=100&page_number=1").await.expect(200).json["total_elements"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_on_one_device_admit_exactly_one() {
    let emu = Arc::new(Emu::start().await);
    let device = emu.sim_device("Till").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let emu = emu.clone();
        let body = session_body(&device);
        tasks.push(tokio::spawn(async move { emu.post("/ipp/v1/sessions", body).await.status }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 29);
}
