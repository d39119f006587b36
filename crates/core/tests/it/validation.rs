//! Validation rules with field paths, on the wire form.

use kipp_core::api::enrollments::CreateEnrollmentRequest;
use kipp_core::api::sessions::{CreateSessionRequest, OrderItem};
use kipp_core::api::{decode_and_validate, Validate};
use kipp_core::ids::DeviceId;
use kipp_core::money::{Amount, Currency, TaxRate};
use kipp_core::CoreError;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::example;

fn errors_of(v: &Value) -> Vec<(String, String)> {
    match decode_and_validate::<CreateSessionRequest>(v.to_string().as_bytes()) {
        Ok(_) => vec![],
        Err(CoreError::Validation(errs)) => errs.into_iter().map(|e| (e.path, e.code)).collect(),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn sample() -> Value {
    serde_json::from_str(example("create-session.request.json")).unwrap()
}

#[test]
fn docs_sample_is_valid() {
    assert!(errors_of(&sample()).is_empty());
}

#[test]
fn wrong_line_tax_points_at_the_field() {
    let mut v = sample();
    v["order_items"][1]["total_tax_amount"] = json!(8001);
    let errs = errors_of(&v);
    assert!(errs.contains(&("order_items[1].total_tax_amount".into(), "mismatch".into())), "{errs:?}");
    assert!(errs.contains(&("order_tax_amount".into(), "mismatch".into())), "{errs:?}");
}

#[test]
fn totals_must_add_up() {
    let mut v = sample();
    v["order_amount"] = json!(240_001);
    assert_eq!(errors_of(&v), vec![("order_amount".into(), "mismatch".into())]);
    let mut v = sample();
    v["order_items"][0]["total_amount"] = json!(199_999);
    let errs = errors_of(&v);
    assert!(errs.iter().any(|(p, c)| p == "order_items[0].total_amount" && c == "mismatch"), "{errs:?}");
}

#[test]
fn discounts_subtract() {
    let mut v = sample();
    v["order_items"][0]["total_discount_amount"] = json!(20_000);
    v["order_items"][0]["total_amount"] = json!(180_000);
    v["order_items"][0]["total_tax_amount"] = json!(36_000);
    v["order_amount"] = json!(220_000);
    v["order_tax_amount"] = json!(44_000);
    assert!(errors_of(&v).is_empty(), "{:?}", errors_of(&v));
    // A discount line counts negatively.
    let mut v = sample();
    v["order_items"].as_array_mut().unwrap().push(json!({
        "type": "discount", "name": "Coupon", "quantity": 1, "unit_price": 10000,
        "total_amount": 10000, "tax_rate": 2500, "total_tax_amount": 2000
    }));
    v["order_amount"] = json!(230_000);
    v["order_tax_amount"] = json!(46_000);
    assert!(errors_of(&v).is_empty(), "{:?}", errors_of(&v));
}

#[test]
fn tax_rounding_accepts_floor_or_ceiling() {
    let line = |tax: i64| {
        json!({"device_id": "550e8400-e29b-41d4-a716-446655440000", "order_amount": 999, "purchase_currency": "SEK",
               "order_tax_amount": tax, "order_items": [{"name": "x", "quantity": 1, "unit_price": 999,
               "total_amount": 999, "tax_rate": 2500, "total_tax_amount": tax}]})
    };
    assert!(errors_of(&line(199)).is_empty());
    assert!(errors_of(&line(200)).is_empty());
    assert_eq!(errors_of(&line(201))[0].0, "order_items[0].total_tax_amount");
}

#[test]
fn type_errors_carry_paths() {
    let mut v = sample();
    v["order_items"][1]["unit_price"] = json!(-5);
    assert_eq!(errors_of(&v), vec![("order_items[1].unit_price".into(), "out_of_range".into())]);
    let mut v = sample();
    v["purchase_currency"] = json!("SEKK");
    assert_eq!(errors_of(&v)[0].0, "purchase_currency");
    let mut v = sample();
    v.as_object_mut().unwrap().remove("device_id");
    assert_eq!(errors_of(&v), vec![("device_id".into(), "required".into())]);
    let mut v = sample();
    v["order_items"][0].as_object_mut().unwrap().remove("name");
    assert_eq!(errors_of(&v), vec![("order_items[0].name".into(), "required".into())]);
    let mut v = sample();
    v["order_items"][0]["name"] = json!("");
    assert_eq!(errors_of(&v), vec![("order_items[0].name".into(), "required".into())]);
    let mut v = sample();
    v["order_amount"] = json!(1e300);
    assert_eq!(errors_of(&v)[0].0, "order_amount");
    let mut v = sample();
    v["device_id"] = json!("not-a-uuid");
    assert_eq!(errors_of(&v)[0].0, "device_id");
}

#[test]
fn hostile_bodies_are_typed_errors() {
    for body in [&b"{"[..], b"", b"null", b"[]", b"\xff\xfe", b"{\"device_id\": 1}", &[b'['; 10_000][..]] {
        match decode_and_validate::<CreateSessionRequest>(body) {
            Err(CoreError::Validation(e)) => assert!(!e.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn overflowing_sums_are_caught() {
    let big = 9_007_199_254_740_991i64;
    let v = json!({"device_id": "550e8400-e29b-41d4-a716-446655440000", "order_amount": big, "purchase_currency": "SEK",
        "order_tax_amount": 0, "order_items": [
            {"name": "a", "quantity": 1, "unit_price": big, "total_amount": big, "tax_rate": 0, "total_tax_amount": 0},
            {"name": "b", "quantity": 1, "unit_price": big, "total_amount": big, "tax_rate": 0, "total_tax_amount": 0}]});
    let errs = errors_of(&v);
    assert!(errs.iter().any(|(p, c)| p == "order_amount" && c == "mismatch"), "{errs:?}");
    let v = json!({"device_id": "550e8400-e29b-41d4-a716-446655440000", "order_amount": 1, "purchase_currency": "SEK",
        "order_tax_amount": 0, "order_items": [
            {"name": "a", "quantity": 1_000_000, "unit_price": big, "total_amount": 1, "tax_rate": 0, "total_tax_amount": 0}]});
    assert!(errors_of(&v).contains(&("order_items[0].total_amount".into(), "overflow".into())));
}

#[test]
fn list_requests_built_in_code_check_their_page_bounds() {
    use kipp_core::api::devices::ListDevices;
    use kipp_core::api::locations::ListLocations;
    use kipp_core::api::page::PageRequest;
    let zero = PageRequest { page_number: 0, page_size: 0 };
    let paths = |errs: Vec<kipp_core::validate::FieldError>| errs.into_iter().map(|e| e.path).collect::<Vec<_>>();
    assert_eq!(paths(ListLocations { page: zero }.validate()), ["page_size"]);
    assert_eq!(paths(ListDevices { page: zero, ..Default::default() }.validate()), ["page_size"]);
    assert!(ListLocations::default().validate().is_empty());
}

#[test]
fn enrollment_rules() {
    let both = CreateEnrollmentRequest {
        expires_in: Some(60_000),
        ttl: Some(kipp_core::api::enrollments::EnrollmentTtl::TwoHours),
        ..Default::default()
    };
    assert_eq!(both.validate()[0].path, "ttl");
    let short = CreateEnrollmentRequest { expires_in: Some(5), ..Default::default() };
    assert_eq!(short.validate()[0].code, "out_of_range");
    assert_eq!(CreateEnrollmentRequest::default().lifetime_ms(), 7_200_000);
    let ttl: CreateEnrollmentRequest = serde_json::from_str(r#"{"ttl":"SEVENTY_TWO_HOURS"}"#).unwrap();
    assert_eq!(ttl.lifetime_ms(), 259_200_000);
    assert!(serde_json::from_str::<CreateEnrollmentRequest>(r#"{"location_id":""}"#).is_err());
}

#[test]
fn builders_build_only_what_validates() {
    let (price, rate) = (Amount::new(100).unwrap(), TaxRate::new(2500).unwrap());
    assert!(OrderItem::physical("Coffee", 1, price, rate).is_some());
    assert!(OrderItem::physical("Coffee", 0, price, rate).is_none(), "quantity 0");
    assert!(OrderItem::physical("Coffee", 1_000_001, price, rate).is_none(), "quantity over 1,000,000");
    assert!(OrderItem::physical("", 1, price, rate).is_none(), "no name");
    assert!(OrderItem::physical(&"x".repeat(256), 1, price, rate).is_none(), "name over 255");
    let device = DeviceId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap();
    let sek = Currency::parse("SEK").unwrap();
    assert!(CreateSessionRequest::from_items(device.clone(), sek, vec![]).is_none(), "no lines");
    let line = OrderItem::physical("Coffee", 1, price, rate).unwrap();
    assert!(CreateSessionRequest::from_items(device.clone(), sek, vec![line.clone(); 1001]).is_none(), "1,001 lines");
    assert!(CreateSessionRequest::from_items(device, sek, vec![line]).is_some());
}

fn arb_cart() -> impl Strategy<Value = Vec<(u32, i64, u16)>> {
    prop::collection::vec((1u32..50, 0i64..1_000_000, prop::sample::select(vec![0u16, 600, 1200, 2500])), 1..60)
}

proptest! {
    #[test]
    fn carts_built_by_kipp_always_validate(lines in arb_cart()) {
        let items: Vec<OrderItem> = lines.iter().enumerate().map(|(i, (q, p, r))| {
            OrderItem::physical(&format!("item {i}"), *q, Amount::new(*p).unwrap(), TaxRate::new(i64::from(*r)).unwrap()).unwrap()
        }).collect();
        let req = CreateSessionRequest::from_items(
            DeviceId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap(),
            Currency::parse("SEK").unwrap(), items);
        // Built only when valid: a cart of free lines (total 0) is not a sale.
        let total: i64 = lines.iter().map(|(q, p, _)| i64::from(*q) * p).sum();
        match req {
            Some(req) => prop_assert!(req.validate().is_empty(), "{:?}", req.validate()),
            None => prop_assert_eq!(total, 0),
        }
    }

    #[test]
    fn arbitrary_json_never_panics(s in ".{0,200}") {
        let _ = decode_and_validate::<CreateSessionRequest>(s.as_bytes());
    }

    #[test]
    fn arbitrary_numbers_never_panic(q in any::<i64>(), p in any::<i64>(), t in any::<i64>(), r in any::<i64>()) {
        let v = json!({"device_id": "550e8400-e29b-41d4-a716-446655440000", "order_amount": p, "purchase_currency": "SEK",
            "order_tax_amount": t, "order_items": [{"name": "a", "quantity": q, "unit_price": p, "total_amount": p,
            "tax_rate": r, "total_tax_amount": t, "total_discount_amount": t}]});
        let _ = decode_and_validate::<CreateSessionRequest>(v.to_string().as_bytes());
    }
}

#[test]
fn paths_in_pretty_printed_and_escaped_json() {
    // The docs' sample as published (multi-line), with one bad value deep inside.
    let pretty = example("create-session.request.json").replace("\"unit_price\": 40000", "\"unit_price\": \"x\"");
    match decode_and_validate::<CreateSessionRequest>(pretty.as_bytes()) {
        Err(CoreError::Validation(e)) => assert_eq!(e[0].path, "order_items[1].unit_price"),
        other => panic!("{other:?}"),
    }
    let missing = example("create-session.request.json").replace("\"name\": \"Socks\",", "");
    match decode_and_validate::<CreateSessionRequest>(missing.as_bytes()) {
        Err(CoreError::Validation(e)) => {
            assert_eq!((e[0].path.as_str(), e[0].code.as_str()), ("order_items[1].name", "required"))
        }
        other => panic!("{other:?}"),
    }
    // Strings with brackets, commas and escaped quotes do not confuse the path scanner.
    let tricky = r#"{"merchant_reference1": "a,[{\"}]", "device_id": "550e8400-e29b-41d4-a716-446655440000",
        "order_amount": 1, "purchase_currency": "SEK", "order_tax_amount": 0,
        "order_items": [{"name": "x\",{[", "unit_price": 1, "total_amount": 1, "tax_rate": 0, "total_tax_amount": 0},
                        {"name": "y", "unit_price": 1, "total_amount": 1, "tax_rate": 99999, "total_tax_amount": 0}]}"#;
    match decode_and_validate::<CreateSessionRequest>(tricky.as_bytes()) {
        Err(CoreError::Validation(e)) => assert_eq!(e[0].path, "order_items[1].tax_rate"),
        other => panic!("{other:?}"),
    }
}
