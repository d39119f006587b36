//! Replays the committed cargo-fuzz corpora (`fuzz/corpus/<target>/`) and any crash
//! reproducers (`fuzz/regressions/<target>/`) through the same checks the fuzz targets
//! run (`fuzz/checks.rs`), natively, so every input the fuzzer found interesting stays a
//! regression test in `make test`.
#![cfg(all(not(target_arch = "wasm32"), feature = "webhook"))]

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/checks.rs"]
mod checks;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            out.extend(entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(files.len() >= 10, "the committed corpus of {target} is missing (fuzz/corpus/{target})");
    for f in files {
        match std::fs::read(&f) {
            Ok(data) => check(&data),
            // A running fuzzer may replace corpus files while this test reads them.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", f.display()),
        }
    }
}

#[test]
fn decode_session_request_corpus() {
    replay("decode_session_request", checks::decode_session_request);
}

#[test]
fn decode_responses_corpus() {
    replay("decode_responses", checks::decode_responses);
}

#[test]
fn webhook_verify_corpus() {
    replay("webhook_verify", checks::webhook_verify);
}

#[test]
fn query_and_route_corpus() {
    replay("query_and_route", checks::query_and_route);
}
