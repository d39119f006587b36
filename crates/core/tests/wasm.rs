//! kipp-core's main behaviours, run under wasm32 (Node, through
//! wasm-bindgen-test-runner) as well as natively: the browser package and the
//! edge worker run this code as wasm, so it is tested as wasm.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use kipp_core::api::sessions::{CreateSessionRequest, Session, SessionStatus};
use kipp_core::api::{decode_and_validate, route, Method, OperationId};
use kipp_core::event::{parse_event, ParsedEvent};
use kipp_core::money::{format_amount, Currency};
use kipp_core::session::SessionState;
use kipp_core::time::Timestamp;
use kipp_core::CoreError;

const SESSION_REQUEST: &str = include_str!("fixtures/examples/create-session.request.json");
const SESSION: &str = include_str!("fixtures/examples/get-session.response.composed.json");
const FINALIZED: &str = include_str!("fixtures/examples/webhook.ipp.session.finalized.json");

#[test]
fn docs_sample_validates_and_errors_carry_paths() {
    assert!(decode_and_validate::<CreateSessionRequest>(SESSION_REQUEST.as_bytes()).is_ok());
    let bad = SESSION_REQUEST.replace("\"total_tax_amount\": 8000", "\"total_tax_amount\": 8001");
    match decode_and_validate::<CreateSessionRequest>(bad.as_bytes()) {
        Err(CoreError::Validation(errs)) => assert_eq!(errs[0].path, "order_items[1].total_tax_amount"),
        other => panic!("{other:?}"),
    }
    let neg = SESSION_REQUEST.replace("\"unit_price\": 40000", "\"unit_price\": -1");
    match decode_and_validate::<CreateSessionRequest>(neg.as_bytes()) {
        Err(CoreError::Validation(errs)) => assert_eq!(errs[0].path, "order_items[1].unit_price"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_amounts_survive_as_wasm() {
    let big = SESSION.replace("\"order_amount\": 2000", "\"order_amount\": 9007199254740991");
    let s: Session = serde_json::from_str(&big).unwrap();
    assert_eq!(s.order_amount.unwrap().minor(), 9_007_199_254_740_991);
}

#[test]
fn state_machine_and_events() {
    let ParsedEvent::Ipp(ev) = parse_event(FINALIZED.as_bytes()).unwrap() else { panic!("not ipp") };
    let mut st = SessionState::new();
    assert!(st.apply_event(&ev).changed());
    assert_eq!(st.status, SessionStatus::Finalized);
    assert!(!st.apply_event(&ev).changed());
}

#[test]
fn money_time_and_routes() {
    let sek = Currency::parse("SEK").unwrap();
    assert_eq!(format_amount(240_000, &sek, "sv-SE"), "2\u{a0}400,00\u{a0}kr");
    let t = Timestamp::parse("2026-06-05T18:37:41.232733416Z").unwrap();
    assert_eq!(Timestamp::from_unix_nanos(t.unix_nanos()).as_str(), t.as_str());
    assert_eq!(
        route(Method::Put, "/ipp/v1/sessions/550e8400-e29b-41d4-a716-446655440000/cancel").unwrap().op,
        OperationId::CancelSession
    );
}

#[cfg(feature = "webhook")]
#[test]
fn webhook_round_trip_as_wasm() {
    use kipp_core::webhook::{sign, verify, WebhookSecret, DEFAULT_TOLERANCE_SECS};
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let signed = sign(std::slice::from_ref(&secret), "kevt_1", 1_780_000_000, FINALIZED.as_bytes()).unwrap();
    let ok = verify(
        &signed.as_headers(),
        FINALIZED.as_bytes(),
        std::slice::from_ref(&secret),
        1_780_000_100,
        DEFAULT_TOLERANCE_SECS,
    );
    assert!(ok.is_ok());
    let tampered = verify(&signed.as_headers(), b"{}", &[secret], 1_780_000_100, DEFAULT_TOLERANCE_SECS);
    assert!(tampered.is_err());
}
