//! Operations as data and the route table.

use kipp_core::api::enrollments::{DeleteEnrollment, ListEnrollments};
use kipp_core::api::sessions::{CancelSession, GetSession, Session};
use kipp_core::api::testing::{SimulateTap, TapOutcome};
use kipp_core::api::{
    build_request, decode_response, route, Method, Operation, OperationId, RouteMiss, MERCHANT_HEADER,
};
use kipp_core::ids::{MerchantId, SessionId};
use kipp_core::metadata::MetadataFilter;
use kipp_core::CoreError;

fn sid() -> SessionId {
    SessionId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap()
}

#[test]
fn requests_know_method_path_query_and_headers() {
    let mid = MerchantId::parse("DM11917000").unwrap();
    let r = build_request(&CancelSession(sid()), Some(&mid)).unwrap();
    assert_eq!(r.method, Method::Put);
    assert_eq!(r.path_and_query, "/ipp/v1/sessions/550e8400-e29b-41d4-a716-446655440000/cancel");
    assert!(r.headers.iter().any(|(k, v)| *k == MERCHANT_HEADER && v == "DM11917000"));
    assert!(r.body.is_none());

    let list = ListEnrollments {
        metadata: vec![MetadataFilter::parse("store_id:123").unwrap()],
        include_consumed: false,
        ..Default::default()
    };
    assert_eq!(list.path_and_query(), "/ipp/v1/enrollments?metadata=store_id%3A123&include_consumed=false");
    let tap = SimulateTap { session_id: sid(), outcome: Some(TapOutcome::InsufficientFunds) };
    assert_eq!(
        tap.path_and_query(),
        "/ipp/v1/dev/sessions/550e8400-e29b-41d4-a716-446655440000/simulate-tap?outcome=INSUFFICIENT_FUNDS"
    );
    assert!(OperationId::ListEnrollments.requires_merchant_header());
    assert!(OperationId::GetLocation.requires_merchant_header());
    assert!(!OperationId::CreateSession.requires_merchant_header());
}

#[test]
fn every_operation_routes_back_to_itself() {
    for &op in OperationId::ALL {
        let path = op
            .path_template()
            .replace("{id}", "550e8400-e29b-41d4-a716-446655440000")
            .replace("{session_id}", "550e8400-e29b-41d4-a716-446655440000")
            .replace("{sessionId}", "550e8400-e29b-41d4-a716-446655440000")
            .replace("{enrollment_id}", "550e8400-e29b-41d4-a716-446655440000");
        let r = route(op.method(), &path).unwrap();
        assert_eq!(r.op, op, "{path}");
    }
    assert_eq!(route(Method::Post, "/ipp/v1/sessions/x"), Err(RouteMiss::MethodNotAllowed));
    assert_eq!(route(Method::Get, "/ipp/v1/secret"), Err(RouteMiss::NotFound));
    assert_eq!(route(Method::Get, "/ipp/v1/sessions//cancel"), Err(RouteMiss::NotFound));
    assert_eq!(route(Method::Get, "/ipp/v1/sessions/a%2Fb").unwrap().param.as_deref(), Some("a/b"));
    assert_eq!(
        DeleteEnrollment(sid().to_string().parse().unwrap()).path(),
        "/ipp/v1/enrollments/550e8400-e29b-41d4-a716-446655440000"
    );
}

#[test]
fn responses_decode_into_types_or_problems() {
    let body = crate::example("get-session.response.composed.json");
    let s: Session = decode_response::<GetSession>(200, body.as_bytes()).unwrap();
    assert_eq!(s.session_id.as_str(), "550e8400-e29b-41d4-a716-446655440000");
    match decode_response::<GetSession>(400, br#"{"title":"Validation Failed","errors":{"ttl":"must not be null"}}"#) {
        Err(CoreError::Api(p)) => {
            assert_eq!(p.status, Some(400));
            assert_eq!(p.all_field_errors()[0].path, "ttl");
        }
        other => panic!("{other:?}"),
    }
    match decode_response::<GetSession>(502, b"<html>bad gateway</html>") {
        Err(CoreError::Api(p)) => assert_eq!(p.code.as_deref(), Some("upstream_unavailable")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(decode_response::<GetSession>(200, b"{"), Err(CoreError::Json(_))));
    assert!(decode_response::<DeleteEnrollment>(204, b"").is_ok());
}

#[test]
fn metadata_filter_errors_name_the_value_sent() {
    // Paths count every `metadata` value, the malformed ones too: the duplicate is the third.
    let pairs = |vals: &[&str]| vals.iter().map(|v| ("metadata".to_owned(), (*v).to_owned())).collect::<Vec<_>>();
    let errors = ListEnrollments::from_query(&pairs(&["bad", "a:1", "a:2"])).unwrap_err();
    let paths: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.code.as_str())).collect();
    assert_eq!(paths, [("metadata[0]", "invalid"), ("metadata[2]", "duplicate_key")]);
    let errors = kipp_core::api::devices::ListDevices::from_query(&pairs(&["x", "y", "k:1", "k:2"])).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["metadata[0]", "metadata[1]", "metadata[3]"]);
}

#[test]
fn percent_escapes_are_two_hex_digits_and_plus_is_a_space_only_in_queries() {
    use kipp_core::api::{parse_query, percent_decode, percent_decode_segment};
    assert_eq!(percent_decode("a%3Ab+c").as_deref(), Some("a:b c"));
    assert_eq!(percent_decode_segment("a+b%2B").as_deref(), Some("a+b+"));
    for bad in ["%+9", "%-1", "% 9", "%9", "%zz"] {
        assert_eq!(percent_decode(bad), None, "{bad}");
        assert_eq!(percent_decode_segment(bad), None, "{bad}");
    }
    assert!(parse_query("metadata=%+9").is_err());
}

#[test]
fn query_booleans_read_in_any_case_and_an_empty_outcome_is_the_default() {
    let q = |v: &str| vec![("include_consumed".to_owned(), v.to_owned())];
    assert!(!ListEnrollments::from_query(&q("FALSE")).unwrap().include_consumed);
    assert!(ListEnrollments::from_query(&q("True")).unwrap().include_consumed);
    assert_eq!(ListEnrollments::from_query(&q("yes")).unwrap_err()[0].path, "include_consumed");
    let empty = [("outcome".to_owned(), String::new())];
    assert_eq!(SimulateTap::outcome_from_query(&empty).unwrap(), TapOutcome::Success);
}
