//! Cross-checks `kipp_core::webhook` against vectors signed by an independent implementation,
//! the `standardwebhooks` reference library from PyPI (see `scripts/gen-webhook-vectors.py`).
//! The fixture is committed, so these tests need no Python.
#![cfg(not(target_arch = "wasm32"))]
#![cfg(feature = "webhook")]

use std::path::Path;

use kipp_core::webhook::{sign, verify, WebhookHeaders, WebhookSecret, WebhookSecrets, DEFAULT_TOLERANCE_SECS};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Fixture {
    tolerance_secs: u64,
    vectors: Vec<Vector>,
}

/// A delivery as the reference library signed it, and what a receiver then checks.
#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    secrets: Vec<String>,
    msg_id: String,
    timestamp: i64,
    body: String,
    signature: String,
    verify: Check,
    /// Where the body was read from, relative to the crate, for the example payloads.
    body_file: Option<String>,
}

/// What the receiver sees and holds, and the verdict expected (`"valid"` or an error code).
#[derive(Debug, Deserialize)]
struct Check {
    secrets: Vec<String>,
    msg_id: String,
    timestamp: String,
    body: String,
    signature: String,
    now: i64,
    expect: String,
    python_verdict: String,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/webhook/vectors.json"))
        .expect("tests/fixtures/webhook/vectors.json is valid")
}

fn secrets(name: &str, list: &[String]) -> WebhookSecrets {
    let parsed = WebhookSecrets::parse(&list.join(",")).unwrap_or_else(|e| panic!("{name}: secrets do not parse: {e}"));
    assert_eq!(parsed.len(), list.len(), "{name}");
    parsed
}

#[test]
fn fixture_covers_the_cases() {
    let fixture = fixture();
    assert_eq!(fixture.tolerance_secs, DEFAULT_TOLERANCE_SECS);
    assert!(fixture.vectors.len() >= 12);
    let count = |expect: &str| fixture.vectors.iter().filter(|v| v.verify.expect == expect).count();
    assert!(count("valid") >= 12);
    assert!(count("webhook_signature_invalid") >= 4);
    assert_eq!(count("webhook_timestamp_too_old"), 1);
    assert_eq!(count("webhook_timestamp_too_new"), 1);
    let names: Vec<&str> = fixture.vectors.iter().map(|v| v.name.as_str()).collect();
    for required in [
        "spec-known-answer",
        "empty-body",
        "unicode-body",
        "kustom-example-activated",
        "kustom-example-finalized",
        "rotation-two-secrets",
        "wrong-secret",
        "tampered-body",
    ] {
        assert!(names.contains(&required), "missing vector {required}");
    }
}

#[test]
fn our_signatures_match_the_reference_library() {
    for v in fixture().vectors {
        let secrets = secrets(&v.name, &v.secrets);
        let signed = sign(&secrets, &v.msg_id, v.timestamp, v.body.as_bytes())
            .unwrap_or_else(|e| panic!("{}: sign failed: {e}", v.name));
        assert_eq!(signed.signature(), v.signature, "{}", v.name);
        assert_eq!(signed.id(), v.msg_id, "{}", v.name);
        assert_eq!(signed.timestamp(), v.timestamp.to_string(), "{}", v.name);

        // Each secret alone yields the matching entry of a multi-secret header.
        let entries: Vec<&str> = v.signature.split(' ').collect();
        assert_eq!(entries.len(), v.secrets.len(), "{}", v.name);
        for (secret, entry) in v.secrets.iter().zip(entries) {
            let one = [WebhookSecret::parse(secret).expect("parsed above")];
            let signed = sign(&one, &v.msg_id, v.timestamp, v.body.as_bytes()).expect("signs");
            assert_eq!(signed.signature(), entry, "{}", v.name);
        }
    }
}

#[test]
fn our_verdicts_match_the_reference_library() {
    let fixture = fixture();
    for v in &fixture.vectors {
        let c = &v.verify;
        assert_eq!(
            c.python_verdict == "valid",
            c.expect == "valid",
            "{}: fixture disagrees with its own reference verdict",
            v.name
        );
        let secrets = secrets(&v.name, &c.secrets);
        let headers = WebhookHeaders::from_bytes(
            Some(c.msg_id.as_bytes()),
            Some(c.timestamp.as_bytes()),
            Some(c.signature.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{}: headers rejected: {e}", v.name));
        let result = verify(&headers, c.body.as_bytes(), &secrets, c.now, fixture.tolerance_secs);
        match (c.expect.as_str(), result) {
            ("valid", Ok(delivery)) => {
                assert_eq!(delivery.id(), c.msg_id, "{}", v.name);
                assert_eq!(delivery.timestamp().to_string(), c.timestamp, "{}", v.name);
            }
            ("valid", Err(e)) => panic!("{}: expected valid, got {e:?}", v.name),
            (code, Ok(_)) => panic!("{}: expected {code}, got valid", v.name),
            (code, Err(e)) => assert_eq!(e.code(), code, "{}: {e:?}", v.name),
        }
    }
}

#[test]
fn example_bodies_are_byte_exact() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for v in fixture().vectors {
        let Some(file) = v.body_file else { continue };
        let bytes =
            std::fs::read(crate_dir.join(&file)).unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", v.name));
        assert_eq!(v.body.as_bytes(), bytes, "{}: body differs from {file}", v.name);
        seen += 1;
    }
    assert_eq!(seen, 2);
}
