//! `--state-file`: a restart keeps locations, enrollments, devices, sessions and the clock.

use kipp_cli::emulator::Config;
use serde_json::json;

use crate::support::{session_body, Emu};

/// A fresh temporary folder and a test config whose state file lives in it.
fn with_state_dir(tag: &str) -> (std::path::PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!(
        "kipp-{tag}-{}-{}",
        std::process::id(),
        kipp_cli::emulator::clock::real_now_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_tests();
    config.state_file = Some(dir.join("state.json"));
    (dir, config)
}

#[tokio::test]
async fn restart_with_a_state_file_keeps_everything() {
    let (dir, config) = with_state_dir("state");
    let path = dir.join("state.json");

    let mut first = Emu::with(config.clone()).await;
    let loc = first.post("/ipp/v1/locations", json!({"name": "Kept"})).await.expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending =
        first.post("/ipp/v1/enrollments", json!({"location_id": loc, "metadata": {"k": "v"}})).await.expect(201);
    let device = first.sim_device("Till").await;
    let open = first.session(&device).await;
    let other = first.sim_device("Till 2").await;
    let done = first.session(&other).await;
    let finalized = first.tap(&done, "SUCCESS").await.expect(200);
    first.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 60}))).await.expect(200);
    first.shutdown().await;
    assert!(path.is_file());

    let second = Emu::with(config).await;
    assert_eq!(second.get(&format!("/ipp/v1/locations/{loc}")).await.expect(200).json["name"], "Kept");
    assert_eq!(second.get("/ipp/v1/devices").await.expect(200).json["total_elements"], 2);
    assert_eq!(second.get(&format!("/ipp/v1/sessions/{open}")).await.expect(200).json["status"], "CREATED");
    assert_eq!(second.get(&format!("/ipp/v1/sessions/{done}")).await.expect(200).json, finalized.json);
    assert_eq!(second.post("/ipp/v1/sessions", session_body(&device)).await.expect(409).code(), "device_busy");
    assert!(second.control("GET", "/_emulator/clock", None).await.json["offset_seconds"].as_f64().unwrap() >= 60.0);
    let reg = second
        .post(
            "/ipp/v1/devices/register",
            json!({"enrollment_code": pending.json["enrollment_code"], "hardware_id": "HW", "platform": "IOS"}),
        )
        .await
        .expect(201);
    assert_eq!(reg.json["location_id"], loc.as_str());
    assert_eq!(reg.json["metadata"], json!({"k": "v"}));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_seeded_restart_from_a_state_file_draws_new_ids() {
    // `Emu::with` always seeds 42: the restored run must not hand out the ids it restored.
    let (dir, config) = with_state_dir("state-seed");
    let mut first = Emu::with(config.clone()).await;
    let a = first.post("/ipp/v1/locations", json!({"name": "A"})).await.expect(201).json["id"].clone();
    let device = first.sim_device("Till").await;
    let sale = first.session(&device).await;
    first.tap(&sale, "SUCCESS").await.expect(200);
    first.shutdown().await;

    let second = Emu::with(config).await;
    let b = second.post("/ipp/v1/locations", json!({"name": "B"})).await.expect(201).json["id"].clone();
    assert_ne!(a, b);
    assert_eq!(second.get(&format!("/ipp/v1/locations/{}", a.as_str().unwrap())).await.expect(200).json["name"], "A");
    let other = second.sim_device("Till 2").await;
    assert_ne!(other, device);
    let next = second.session(&other).await;
    assert_ne!(next, sale);
    assert_eq!(second.get(&format!("/ipp/v1/sessions/{sale}")).await.expect(200).json["status"], "FINALIZED");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_at_start() {
    let path = std::env::temp_dir().join(format!(
        "kipp-bad-{}-{}.json",
        std::process::id(),
        kipp_cli::emulator::clock::real_now_nanos()
    ));
    std::fs::write(&path, b"{not json").unwrap();
    let mut config = Config::for_tests();
    config.state_file = Some(path.clone());
    let err = kipp_cli::emulator::start(config).await.expect_err("refused");
    assert!(err.to_string().contains("state file"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_state_file_write_that_failed_is_made_at_shutdown() {
    let (dir, config) = with_state_dir("state-retry");
    let mut first = Emu::with(config.clone()).await;
    first.post("/ipp/v1/locations", json!({"name": "A"})).await.expect(201);
    first.running.as_ref().unwrap().emulator().flush().unwrap();
    // The temporary file cannot be written while a folder holds its name.
    let tmp = dir.join("state.tmp");
    std::fs::create_dir(&tmp).unwrap();
    let b = first.post("/ipp/v1/locations", json!({"name": "B"})).await.expect(201).json["id"].clone();
    assert!(first.running.as_ref().unwrap().emulator().flush().is_err());
    std::fs::remove_dir(&tmp).unwrap();
    first.shutdown().await;

    let second = Emu::with(config).await;
    assert_eq!(second.get(&format!("/ipp/v1/locations/{}", b.as_str().unwrap())).await.expect(200).json["name"], "B");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_clock_advance_alone_is_saved() {
    let (dir, config) = with_state_dir("state-clock");
    let mut first = Emu::with(config.clone()).await;
    let device = first.sim_device("Till").await;
    let sale = first.session(&device).await;
    first.running.as_ref().unwrap().emulator().flush().unwrap();
    // Ten of the session's fifteen minutes, and nothing else changes before the restart.
    first.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 600}))).await.expect(200);
    first.shutdown().await;

    let second = Emu::with(config).await;
    assert!(second.control("GET", "/_emulator/clock", None).await.json["offset_seconds"].as_f64().unwrap() >= 600.0);
    second.control("POST", "/_emulator/clock/advance", Some(json!({"seconds": 301}))).await.expect(200);
    assert_eq!(second.get(&format!("/ipp/v1/sessions/{sale}")).await.expect(200).json["status"], "EXPIRED");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_clock_stops_before_the_year_9999_and_its_state_file_reads_back() {
    let (dir, config) = with_state_dir("state-9999");
    let mut emu = Emu::with(config.clone()).await;
    let ten_years = json!({"seconds": 10.0 * 366.0 * 86_400.0});
    let mut refused = None;
    for i in 0..1000 {
        let r = emu.control("POST", "/_emulator/clock/advance", Some(ten_years.clone())).await;
        if r.status != 200 {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("refused before the year 9999");
    assert!(i > 700, "refused after {i} advances");
    assert_eq!(r.expect(400).json["field_errors"][0]["path"], "seconds");
    let at = emu.control("GET", "/_emulator/clock", None).await.json["now"].as_str().unwrap().to_owned();
    assert!(at.starts_with("99"), "{at}");
    // The longest expiry set from that clock still has a four-digit year, and the state file
    // holding it reads back.
    emu.post("/ipp/v1/enrollments", json!({"ttl": "SEVENTY_TWO_HOURS"})).await.expect(201);
    emu.shutdown().await;
    let again = Emu::with(config).await;
    assert_eq!(again.get("/ipp/v1/enrollments").await.expect(200).json["total_elements"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
