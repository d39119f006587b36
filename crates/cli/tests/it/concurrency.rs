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

/// The emulator's address (`127.0.0.1:port`) from its base URL.
fn addr(emu: &Emu) -> String {
    emu.base.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// An emulator that waits 300 ms for a request's headers and body (30 s by default).
async fn impatient_emulator() -> Emu {
    let mut config = kipp_cli::emulator::Config::for_tests();
    config.header_read_timeout = std::time::Duration::from_millis(300);
    Emu::with(config).await
}

/// Reads from a raw connection until the server closes it (true), or gives up after `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let emu = impatient_emulator().await;
    // Slowloris: half a request, then nothing.
    let mut slow = tokio::net::TcpStream::connect(addr(&emu)).await.unwrap();
    slow.write_all(b"GET /ipp/v1/locations HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(closed_within(&mut slow, std::time::Duration::from_secs(10)).await, "the half-sent request was kept open");
    // A client that sends nothing at all, too.
    let mut idle = tokio::net::TcpStream::connect(addr(&emu)).await.unwrap();
    assert!(closed_within(&mut idle, std::time::Duration::from_secs(10)).await, "the idle connection was kept open");
    // Whole requests are served as before.
    emu.get("/ipp/v1/locations").await.expect(200);
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_and_the_others_served() {
    let mut config = kipp_cli::emulator::Config::for_tests();
    config.max_connections = 2;
    let emu = Emu::with(config).await;
    let held = [
        tokio::net::TcpStream::connect(addr(&emu)).await.unwrap(),
        tokio::net::TcpStream::connect(addr(&emu)).await.unwrap(),
    ];
    let mut third = tokio::net::TcpStream::connect(addr(&emu)).await.unwrap();
    assert!(closed_within(&mut third, std::time::Duration::from_secs(10)).await, "a third connection was kept");
    // Once the held ones are gone, their places are free again.
    drop(held);
    let mut served = false;
    for _ in 0..50 {
        if emu
            .client
            .send(
                hyper::Method::GET,
                &format!("{}/_emulator/health", emu.base).parse().unwrap(),
                &[],
                None,
                std::time::Duration::from_secs(2),
            )
            .await
            .is_ok_and(|r| r.status == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "no request served after the held connections closed");
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408_and_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = impatient_emulator().await;
    // Whole headers (no credentials needed), then a body that never comes.
    let mut slow = tokio::net::TcpStream::connect(addr(&emu)).await.unwrap();
    slow.write_all(b"POST /ipp/v1/devices/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was kept open waiting for the body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    emu.get("/ipp/v1/locations").await.expect(200);
}
