//! Every file of the docs' examples decodes into the core types and encodes
//! back to equal JSON.

use kipp_core::api::devices::{Device, UpdateDeviceRequest};
use kipp_core::api::enrollments::{CreateEnrollmentRequest, Enrollment, ListEnrollments};
use kipp_core::api::locations::Location;
use kipp_core::api::sessions::{CreateSessionRequest, GetSession, Session, SessionStatus};
use kipp_core::api::testing::{CreateSimulatedDeviceRequest, SimulateTap, TapOutcome};
use kipp_core::api::{decode_response, Page, Validate};
use kipp_core::event::{parse_event, EventType, ParsedEvent, WebhookEvent};
use kipp_core::ids::OrderId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::example;

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let text = example(name);
    let value: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&value).unwrap();
    let orig: Value = serde_json::from_str(text).unwrap();
    assert_eq!(back, orig, "{name} did not round-trip");
    value
}

#[test]
fn every_example_round_trips() {
    let s: CreateSessionRequest = round_trip("create-session.request.json");
    assert!(s.validate().is_empty(), "docs' session sample must validate: {:?}", s.validate());
    let c: Session = round_trip("cancel-session.response.composed.json");
    assert_eq!(c.status, SessionStatus::Cancelled);
    let g: Session = round_trip("get-session.response.composed.json");
    assert_eq!(g.status, SessionStatus::Finalized);
    for f in ["create-enrollment.request.json", "create-enrollment.request.api-reference.composed.json"] {
        let e: CreateEnrollmentRequest = round_trip(f);
        assert!(e.validate().is_empty());
    }
    let _: Enrollment = round_trip("create-enrollment.response.json");
    let page: Page<Enrollment> = round_trip("list-enrollments.response.composed.json");
    assert_eq!(page.content.len(), 2);
    let _: Location = round_trip("get-location.response.composed.json");
    let u: UpdateDeviceRequest = round_trip("update-device.request.json");
    assert!(u.validate().is_empty());
    let _: Device = round_trip("update-device.response.json");
    let sim: CreateSimulatedDeviceRequest = round_trip("create-simulated-device.request.json");
    assert!(sim.validate().is_empty());
    for f in ["webhook.ipp.session.activated.json", "webhook.ipp.session.finalized.json"] {
        let _: WebhookEvent<kipp_core::event::IppEventData> = round_trip(f);
        match parse_event(example(f).as_bytes()).unwrap() {
            ParsedEvent::Ipp(e) => assert!(e.event_type.is_ipp()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn query_examples_parse() {
    let q: Value = serde_json::from_str(example("list-enrollments.request.query.json")).unwrap();
    let mut pairs = Vec::new();
    for (k, v) in q.as_object().unwrap() {
        match v {
            Value::Array(items) => pairs.extend(items.iter().map(|i| (k.clone(), i.as_str().unwrap().to_owned()))),
            Value::String(s) => pairs.push((k.clone(), s.clone())),
            other => pairs.push((k.clone(), other.to_string())),
        }
    }
    let list = ListEnrollments::from_query(&pairs).unwrap();
    assert_eq!(list.metadata[0].key, "store_id");
    assert!(list.include_consumed);
    let tap = SimulateTap::outcome_from_query(&[("outcome".into(), "SUCCESS".into())]).unwrap();
    assert_eq!(tap, TapOutcome::Success);
    assert_eq!(SimulateTap::outcome_from_query(&[]).unwrap(), TapOutcome::Success);
    assert!(SimulateTap::outcome_from_query(&[("outcome".into(), "MAYBE".into())]).is_err());
    assert_eq!(TapOutcome::ALL.len(), 10);
}

#[test]
fn unknown_enum_values_are_kept() {
    let text = example("get-session.response.composed.json").replace("FINALIZED", "ON_HOLD");
    let s: Session = serde_json::from_str(&text).unwrap();
    assert_eq!(s.status, SessionStatus::Unknown("ON_HOLD".into()));
    assert_eq!(serde_json::to_value(&s).unwrap()["status"], "ON_HOLD");
    let other = br#"{"id":"kevt_1","merchant_id":"DM1","timestamp":"2026-01-01T00:00:00Z","type":"order.created","data":{"order_id":"x"}}"#;
    match parse_event(other).unwrap() {
        ParsedEvent::Other(e) => assert_eq!(e.event_type, EventType::OrderCreated),
        p => panic!("{p:?}"),
    }
    let future = br#"{"id":"kevt_2","merchant_id":"DM1","timestamp":"2026-01-01T00:00:00Z","type":"ipp.session.paused","data":{"session_id":"550e8400-e29b-41d4-a716-446655440000"}}"#;
    match parse_event(future).unwrap() {
        ParsedEvent::Ipp(e) => assert!(!e.event_type.is_known()),
        p => panic!("{p:?}"),
    }
}

#[test]
fn parse_event_reads_ipp_events_whole_and_skips_other_data() {
    let ipp = example("webhook.ipp.session.finalized.json");
    let ParsedEvent::Ipp(e) = parse_event(ipp.as_bytes()).unwrap() else { panic!("not ipp") };
    assert_eq!(e.event_type, EventType::SessionFinalized);
    // Another Kustom event is acknowledged whatever its data: IPP-shaped, other, or none that
    // an IPP event could hold.
    let mut v: Value = serde_json::from_str(ipp).unwrap();
    v["type"] = "order.created".into();
    let ParsedEvent::Other(o) = parse_event(v.to_string().as_bytes()).unwrap() else { panic!("not other") };
    assert_eq!(o.id, e.id);
    assert_eq!(o.event_type.as_str(), "order.created");
    v["data"] = serde_json::json!({ "order_id": 7, "lines": [1, 2] });
    assert!(matches!(parse_event(v.to_string().as_bytes()).unwrap(), ParsedEvent::Other(_)));
    // An IPP event with unreadable data, or a broken envelope, is an error.
    v["type"] = "ipp.session.finalized".into();
    assert!(parse_event(v.to_string().as_bytes()).is_err());
    let mut broken: Value = serde_json::from_str(ipp).unwrap();
    broken["merchant_id"] = 5.into();
    assert!(parse_event(broken.to_string().as_bytes()).is_err());
}

#[test]
fn an_order_id_that_is_no_uuid_is_kept_as_sent() {
    // The session schema types `order_id` as a plain string: a paid session must reach the till
    // whatever its form.
    let text = example("get-session.response.composed.json");
    let mut v: Value = serde_json::from_str(text).unwrap();
    v["order_id"] = "ORD-2026-0001".into();
    let s = decode_response::<GetSession>(200, v.to_string().as_bytes()).unwrap();
    assert_eq!(s.order_id.as_ref().map(OrderId::as_str), Some("ORD-2026-0001"));
    let upper = "880E8400-E29B-41D4-A716-446655440003";
    assert_eq!(OrderId::parse(upper).unwrap().as_str(), upper, "kept as sent, case and all");
    for bad in ["", "has space", "\u{e9}"] {
        assert!(OrderId::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn events_kipp_does_not_act_on_are_acknowledged_whatever_their_envelope() {
    // Another Kustom event whose id, merchant or timestamp kipp cannot read: only its type.
    let other = br#"{"id":"evt_1","merchant_id":"M-1","timestamp":"yesterday","type":"order.created","data":{}}"#;
    assert_eq!(parse_event(other).unwrap(), ParsedEvent::Foreign(EventType::OrderCreated));
    let future = br#"{"id":"x","type":"payout.sent"}"#;
    assert!(matches!(parse_event(future).unwrap(), ParsedEvent::Foreign(t) if t.as_str() == "payout.sent"));
    // A future IPP event without a session (a device event, say): ignored too.
    let device = br#"{"id":"kevt_3","merchant_id":"DM1","timestamp":"2026-01-01T00:00:00Z","type":"ipp.device.registered","data":{"device_id":"d"}}"#;
    assert!(
        matches!(parse_event(device).unwrap(), ParsedEvent::Other(e) if e.event_type.as_str() == "ipp.device.registered")
    );
    // The events kipp acts on still need a readable envelope and data.
    let known = br#"{"id":"evt_1","merchant_id":"DM1","timestamp":"2026-01-01T00:00:00Z","type":"ipp.session.created","data":{"session_id":"550e8400-e29b-41d4-a716-446655440000"}}"#;
    assert!(parse_event(known).is_err());
    let no_session = br#"{"id":"kevt_4","merchant_id":"DM1","timestamp":"2026-01-01T00:00:00Z","type":"ipp.session.created","data":{}}"#;
    assert!(parse_event(no_session).is_err());
    assert!(parse_event(b"[]").is_err(), "no type at all");
}

/// The fixtures are plain copies of `../shared/kustom-ipp/examples/` (beside the repository),
/// checked byte for byte when that directory exists; a clean clone may not have it. Every
/// fixture is a regular file: a symlink (one to an absolute path was committed once) dangles
/// in another checkout.
#[test]
fn fixtures_are_copies_of_the_shared_examples() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("tests/fixtures/examples");
    let shared = root.join("../../../shared/kustom-ipp/examples");
    let have_shared = shared.is_dir();
    if !have_shared {
        println!("note: {} is missing; fixtures not compared with it", shared.display());
    }
    let mut count = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        assert!(entry.file_type().unwrap().is_file(), "{name:?} in {} is not a regular file", fixtures.display());
        count += 1;
        if have_shared {
            let theirs =
                std::fs::read(shared.join(&name)).unwrap_or_else(|e| panic!("{name:?} in the shared examples: {e}"));
            assert!(std::fs::read(entry.path()).unwrap() == theirs, "{name:?} differs from the shared example");
        }
    }
    assert!(count >= 16, "{count} fixtures");
}

#[test]
fn a_session_kipp_cannot_read_whole_is_read_for_what_a_worker_needs() {
    use kipp_core::api::sessions::{decode_session, SessionStatus};
    let session = |extra: &str| {
        format!(
            r#"{{"session_id":"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c","status":"ACTIVE",
            "device_id":"550e8400-e29b-41d4-a716-446655440000","order_amount":1000{extra}}}"#
        )
    };
    for extra in ["", r#","purchase_currency":"SEK","order_items":[]"#] {
        let whole = decode_session(200, session(extra).as_bytes()).unwrap();
        assert_eq!(whole.order_amount.map(|a| a.minor()), Some(1000), "{extra}");
    }
    // A currency added to ISO 4217 after kipp's list, a negative discount, a timestamp in
    // another form: the session is still the sale on the reader, only the cart is left out.
    for extra in [
        r#","purchase_currency":"XXZ""#,
        r#","order_items":[{"name":"x","total_discount_amount":-5}]"#,
        r#","purchase_started_at":"yesterday","order_id":"ord-1""#,
    ] {
        let s = decode_session(200, session(extra).as_bytes()).unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert_eq!((s.session_id.as_str(), s.status), ("6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c", SessionStatus::Active));
        assert_eq!(s.device_id.as_str(), "550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(s.order_items, None, "{extra}");
        // What tells a worker which cart it is, when readable: the amount (the reference too).
        assert_eq!(s.order_amount.map(|a| a.minor()), Some(1000), "{extra}");
    }
    let s = decode_session(200, session(r#","purchase_currency":"XXZ","merchant_reference1":"cart-7""#).as_bytes())
        .unwrap();
    assert_eq!((s.purchase_currency, s.merchant_reference1.as_deref()), (None, Some("cart-7")));
    let s =
        decode_session(200, session(r#","purchase_started_at":"yesterday","order_id":"ord-1""#).as_bytes()).unwrap();
    assert_eq!(s.order_id.map(|o| o.as_str().to_owned()).as_deref(), Some("ord-1"));
    // Without what a worker needs, or not a success, it is the error it was.
    assert!(decode_session(200, br#"{"session_id":"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c","status":"ACTIVE"}"#).is_err());
    assert!(decode_session(404, session("").as_bytes()).is_err());
}
