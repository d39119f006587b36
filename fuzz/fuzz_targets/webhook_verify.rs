//! The webhook verifier on random headers and bodies: never panics, never accepts a forgery.
#![no_main]
use kipp_core::webhook::{verify, WebhookHeaders, WebhookSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8], &[u8], &[u8], i64)| {
    let (id, ts, sig, body, now) = input;
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("fixed secret");
    if let Ok(headers) = WebhookHeaders::from_bytes(Some(id), Some(ts), Some(sig)) {
        // Random signatures must never verify (2^-256 chance aside).
        assert!(verify(&headers, body, &[secret], now, 300).is_err());
    }
});
