//! kipp-web in headless Chromium, against tests/web/test-server.mjs (started by
//! the `test-wasm-web` stage of scripts/test.sh; URL from `KIPP_TEST_SERVER` at
//! build time). Covers conversions, error codes, abort, the polling fallback
//! when WebSockets are refused, and watch reconnecting after a dropped socket.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use kipp_web::{format_amount, validate_session, KippClient};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const BASE: &str = match option_env!("KIPP_TEST_SERVER") {
    Some(b) => b,
    None => "http://127.0.0.1:18790",
};
const fn sid(n: u32) -> &'static str {
    match n {
        1 => "00000000-0000-4000-8000-000000000001",
        2 => "00000000-0000-4000-8000-000000000002",
        3 => "00000000-0000-4000-8000-000000000003",
        4 => "00000000-0000-4000-8000-000000000004",
        5 => "00000000-0000-4000-8000-000000000005",
        6 => "00000000-0000-4000-8000-000000000006",
        7 => "00000000-0000-4000-8000-000000000007",
        8 => "00000000-0000-4000-8000-000000000008",
        9 => "00000000-0000-4000-8000-000000000009",
        10 => "00000000-0000-4000-8000-000000000010",
        11 => "00000000-0000-4000-8000-000000000011",
        12 => "00000000-0000-4000-8000-000000000012",
        13 => "00000000-0000-4000-8000-000000000013",
        14 => "00000000-0000-4000-8000-000000000014",
        _ => "00000000-0000-4000-8000-000000000404",
    }
}
const DEVICE: &str = "00000000-0000-4000-8000-000000000900";
/// A device whose first DELETE is answered late (after the client gave up) and the next 404.
const LOST_DEVICE: &str = "00000000-0000-4000-8000-000000000901";

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}
fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap()
}
fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}
fn n(v: f64) -> JsValue {
    JsValue::from_f64(v)
}
/// A client whose token comes from `get_token` (a JS function).
fn with_get_token(get_token: impl Into<JsValue>) -> KippClient {
    KippClient::new(obj(&[("baseUrl", s(BASE)), ("getToken", get_token.into())])).unwrap()
}
/// A client whose `getToken` is the JS function body `body`.
fn get_token_js(body: &str) -> KippClient {
    with_get_token(Function::new_no_args(body))
}
fn client(token: &str, extra: &[(&str, JsValue)]) -> KippClient {
    let mut o = vec![("baseUrl", s(BASE)), ("token", s(token)), ("retries", n(0.0))];
    o.extend(extra.iter().cloned());
    KippClient::new(obj(&o)).unwrap()
}

/// A promise and the function that resolves it (the first call counts; later calls do nothing).
fn signal() -> (Promise, impl Fn()) {
    let resolve: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
    let slot = resolve.clone();
    let promise = Promise::new(&mut |res, _| *slot.borrow_mut() = Some(res));
    (promise, move || {
        if let Some(f) = resolve.borrow_mut().take() {
            f.call0(&JsValue::NULL).unwrap();
        }
    })
}

/// `client.watch(id, onUpdate, { onError })` with the two callbacks of a test.
fn watch_reporting(
    c: &KippClient,
    id: &str,
    on_update: &Closure<dyn FnMut(JsValue, JsValue)>,
    on_error: &Closure<dyn FnMut(JsValue)>,
) -> kipp_web::WatchHandle {
    let options = obj(&[("onError", on_error.as_ref().clone())]);
    c.watch(id, on_update.as_ref().clone().unchecked_into(), Some(options)).unwrap()
}
async fn ok(p: Promise) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => v,
        Err(e) => panic!("rejected: {:?} {:?}", get(&e, "code"), get(&e, "message")),
    }
}
async fn err(p: Promise) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => panic!("resolved: {v:?}"),
        Err(e) => e,
    }
}
fn code(e: &JsValue) -> String {
    get(e, "code").as_string().unwrap_or_default()
}
async fn test_log() -> JsValue {
    let w: web_sys::Response = JsFuture::from(fetch(&format!("{BASE}/_test/log"))).await.unwrap().unchecked_into();
    JsFuture::from(w.json().unwrap()).await.unwrap()
}
async fn reset() {
    JsFuture::from(fetch(&format!("{BASE}/_test/reset"))).await.unwrap();
}
#[wasm_bindgen]
extern "C" {
    fn fetch(url: &str) -> Promise;
}

/// `body` with its `merchant_reference1` naming a fault of the test server
/// (tests/web/test-server.mjs: `busy`, `rate-limited-once`, …).
fn with_fault(body: JsValue, fault: &str) -> JsValue {
    Reflect::set(&body, &s("merchant_reference1"), &s(fault)).unwrap();
    body
}

fn cart(lines: usize) -> JsValue {
    let items = Array::new();
    for i in 0..lines {
        items.push(&obj(&[
            ("name", s(&format!("Item {i}"))),
            ("quantity", n(2.0)),
            ("unit_price", n(12500.0)),
            ("total_amount", n(25000.0)),
            ("tax_rate", n(2500.0)),
            ("total_tax_amount", n(5000.0)),
        ]));
    }
    obj(&[
        ("device_id", s(DEVICE)),
        ("order_amount", n(25000.0 * lines as f64)),
        ("purchase_currency", s("SEK")),
        ("order_tax_amount", n(5000.0 * lines as f64)),
        ("order_items", items.into()),
    ])
}

// ---- conversions and offline functions -------------------------------------------------------

#[wasm_bindgen_test]
fn validate_session_accepts_a_good_cart_and_reports_paths() {
    let good = cart(3);
    assert_eq!(Array::from(&validate_session(good.clone())).length(), 0);
    let items = Array::from(&get(&good, "order_items"));
    Reflect::set(&items.get(1), &s("unit_price"), &s("12500")).unwrap();
    Reflect::set(&items.get(2), &s("total_tax_amount"), &n(4999.5)).unwrap();
    Reflect::set(&good, &s("purchase_currency"), &s("ABC")).unwrap();
    let errs = Array::from(&validate_session(good));
    let paths: Vec<String> = errs.iter().map(|e| get(&e, "path").as_string().unwrap()).collect();
    assert_eq!(paths, ["purchase_currency", "order_items[1].unit_price", "order_items[2].total_tax_amount"]);
    assert_eq!(get(&errs.get(0), "code").as_string().unwrap(), "invalid");
    assert!(get(&errs.get(1), "message").as_string().unwrap().contains("integer"));
}

#[wasm_bindgen_test]
fn validate_session_names_nan_and_infinity_and_null_in_a_required_field() {
    // `JSON.stringify` writes NaN and Infinity as null: an amount computed from an empty input
    // read as "is required", and an optional one was dropped unseen.
    let c = cart(2);
    Reflect::set(&c, &s("order_amount"), &n(f64::NAN)).unwrap();
    let items = Array::from(&get(&c, "order_items"));
    Reflect::set(&items.get(1), &s("total_discount_amount"), &n(f64::INFINITY)).unwrap();
    Reflect::set(&items.get(0), &s("name"), &JsValue::NULL).unwrap();
    let errs = Array::from(&validate_session(c));
    let seen: Vec<(String, String, String)> = errs
        .iter()
        .map(|e| {
            let f = |k: &str| get(&e, k).as_string().unwrap();
            (f("path"), f("code"), f("message"))
        })
        .collect();
    let want = [
        ("order_amount", "invalid", "must be an integer, not NaN"),
        ("order_items[0].name", "invalid", "must be a string, not null"),
        ("order_items[1].total_discount_amount", "invalid", "must be an integer, not Infinity"),
    ];
    assert_eq!(seen, want.map(|(p, c, m)| (p.to_owned(), c.to_owned(), m.to_owned())));
}

#[wasm_bindgen_test]
fn validate_session_runs_core_rules() {
    let c = cart(2);
    Reflect::set(&c, &s("order_amount"), &n(1.0)).unwrap();
    let errs = Array::from(&validate_session(c));
    assert_eq!(errs.length(), 1);
    assert_eq!(get(&errs.get(0), "code").as_string().unwrap(), "mismatch");
    assert_eq!(get(&errs.get(0), "path").as_string().unwrap(), "order_amount");
    let missing = Array::from(&validate_session(obj(&[])));
    assert_eq!(missing.length(), 5, "every missing field is reported");
    assert_eq!(Array::from(&validate_session(JsValue::NULL)).length(), 1);
}

#[wasm_bindgen_test]
fn format_amount_formats_and_throws_kipp_error() {
    assert_eq!(format_amount(n(12900.0), s("SEK"), Some(s("sv-SE"))).unwrap(), "129,00\u{a0}kr");
    assert_eq!(format_amount(n(123_456_789.0), s("USD"), None).unwrap(), "$1,234,567.89");
    assert_eq!(format_amount(n(500.0), s("JPY"), Some(s("ja"))).unwrap(), "¥500");
    let e = format_amount(n(1.5), s("SEK"), None).unwrap_err();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name").as_string().unwrap(), "KippError");
    assert_eq!(code(&e), "validation_failed");
    assert_eq!(get(&e, "retryable"), JsValue::FALSE);
    let e = format_amount(n(1.0), s("XYZ"), None).unwrap_err();
    assert_eq!(get(&Array::from(&get(&e, "fieldErrors")).get(0), "path").as_string().unwrap(), "currency");
}

#[wasm_bindgen_test]
fn constructor_rejects_bad_options() {
    for opts in [
        obj(&[("baseUrl", s("ftp://x"))]),
        obj(&[("baseUrl", s("//pos.example.com"))]),
        obj(&[("baseUrl", s(BASE)), ("getToken", n(1.0))]),
    ] {
        let e = KippClient::new(opts).unwrap_err();
        assert_eq!(code(&e), "validation_failed");
    }
}

#[wasm_bindgen_test]
async fn large_amounts_stay_numbers() {
    let c = client("t", &[]);
    let sess = ok(c.get_session(sid(6))).await;
    let amount = get(&sess, "order_amount");
    assert_eq!(amount.as_f64(), Some(9_007_199_254_740_991.0));
    assert!(amount.as_f64().is_some(), "a number, not a BigInt");
    assert!(get(&sess, "metadata_like").is_object());
}

#[wasm_bindgen_test]
fn the_allocator_keeps_blocks_apart_and_reuses_them() {
    // Sizes across many classes, over-aligned values, growth by realloc, and frees in between.
    let mut live: Vec<Vec<u8>> = Vec::new();
    for round in 0..4u32 {
        for i in 0..300u32 {
            let n = ((i * 37 + round * 11) % 5000) as usize + (i as usize % 3) * 70_000;
            let mut v = vec![(i % 251) as u8; n];
            v.push(round as u8);
            live.push(v);
            if i % 3 == 0 {
                live.swap_remove((i as usize * 7) % live.len());
            }
        }
        for v in &live {
            let (body, last) = v.split_at(v.len() - 1);
            assert!(body.iter().all(|b| *b == body.first().copied().unwrap_or(0)), "a block was overwritten");
            assert!(last[0] <= round as u8);
        }
        let big: Vec<u128> = (0..1000u32).map(u128::from).collect();
        assert_eq!(big.as_ptr() as usize % std::mem::align_of::<u128>(), 0);
        assert_eq!(big.iter().sum::<u128>(), 499_500);
        let mut grown = String::new();
        for k in 0..2000 {
            grown.push_str(if k % 2 == 0 { "ab" } else { "c" });
        }
        assert_eq!(grown.len(), 3000);
    }
}

// ---- HTTP: success, errors, retries ----------------------------------------------------------

#[wasm_bindgen_test]
async fn create_session_validates_before_the_network() {
    reset().await;
    let c = client("t", &[]);
    let bad = cart(1);
    Reflect::set(&bad, &s("order_tax_amount"), &n(1.0)).unwrap();
    let e = err(c.create_session(bad, None)).await;
    assert_eq!(code(&e), "validation_failed");
    assert_eq!(get(&e, "status"), JsValue::NULL);
    let log = test_log().await;
    assert_eq!(Array::from(&get(&log, "idempotencyKeys")).length(), 0, "nothing was sent");
}

/// Creates a session whose first attempt the test server refuses as `fault` says (by its
/// `merchant_reference1`), with 2 retries allowed; returns the client and the idempotency key,
/// after checking that the create succeeded on the second and last attempt with the same key.
async fn create_refused_once(fault: &str) -> (KippClient, String) {
    reset().await;
    let c = client("t", &[("retries", n(2.0))]);
    let body = with_fault(cart(2), fault);
    let sess = ok(c.create_session(body, None)).await;
    assert_eq!(get(&sess, "status").as_string().unwrap(), "CREATED");
    let keys = Array::from(&get(&test_log().await, "idempotencyKeys"));
    assert_eq!(keys.length(), 2, "{fault}: one refusal, one retry");
    let key = keys.get(0).as_string().unwrap();
    assert_eq!(keys.get(1).as_string().unwrap(), key, "{fault}: the retry reuses the key");
    (c, key)
}

#[wasm_bindgen_test]
async fn create_in_progress_at_the_worker_is_retried_with_the_same_key() {
    // The server answers 409 idempotency_in_progress once.
    create_refused_once("in-progress-once").await;
}

#[wasm_bindgen_test]
async fn create_session_reuses_its_idempotency_key_on_retry() {
    // The server answers 503 once.
    let (c, key) = create_refused_once("fail-once").await;
    assert_eq!(key.len(), 36);

    reset().await;
    let body = cart(1);
    ok(c.create_session(body, Some(obj(&[("idempotencyKey", s("my-key-1"))])))).await;
    let keys = Array::from(&get(&test_log().await, "idempotencyKeys"));
    assert_eq!(keys.get(0).as_string().unwrap(), "my-key-1");
    assert_eq!(
        get(&test_log().await, "authHeaders").dyn_into::<Array>().unwrap().get(0).as_string().unwrap(),
        "Bearer t"
    );
}

#[wasm_bindgen_test]
async fn a_token_or_key_no_header_can_carry_is_a_kipp_error_and_sends_nothing() {
    reset().await;
    // A token pasted from a wrapped terminal, a zero-width space: `Headers` would throw a bare
    // TypeError (no `code`), which no caller expects.
    for bad in ["kipp1.abc\ndef", "kipp1.abc\u{200b}def", "kipp1 abc"] {
        let e = err(client(bad, &[]).get_session(sid(1))).await;
        assert_eq!(code(&e), "unauthorized", "{bad:?}");
        assert!(e.is_instance_of::<js_sys::Error>());
        assert_eq!(get(&e, "retryable"), JsValue::FALSE);
    }
    let from_get_token = Function::new_no_args("return 'kipp1.a\\u00e9b'");
    let c = with_get_token(from_get_token);
    assert_eq!(code(&err(c.get_session(sid(1))).await), "unauthorized");
    let e = err(client("t", &[]).create_session(cart(1), Some(obj(&[("idempotencyKey", s("sale €1"))])))).await;
    assert_eq!(code(&e), "validation_failed");
    assert_eq!(get(&Array::from(&get(&e, "fieldErrors")).get(0), "path").as_string().unwrap(), "idempotencyKey");
    let log = test_log().await;
    assert_eq!(Array::from(&get(&log, "authHeaders")).length(), 1, "only the log read itself reached the server");
}

#[wasm_bindgen_test]
async fn error_codes_are_stable() {
    let c = client("t", &[]);
    let e = err(c.get_session(sid(404))).await;
    assert_eq!((code(&e).as_str(), get(&e, "status").as_f64()), ("not_found", Some(404.0)));
    assert!(get(&e, "requestId").as_string().unwrap().starts_with("prob-"));
    assert_eq!(get(&e, "retryable"), JsValue::FALSE);

    let e = err(client("expired", &[]).get_session(sid(1))).await;
    assert_eq!(code(&e), "unauthorized");
    let e = err(client("clerk-elsewhere", &[]).get_session(sid(1))).await;
    assert_eq!(code(&e), "forbidden");
    assert!(get(&e, "message").as_string().unwrap().contains("own location"));

    let body = with_fault(cart(1), "busy");
    let e = err(c.create_session(body, None)).await;
    assert_eq!(code(&e), "conflict", "a server code outside the set maps by status");
    assert!(get(&e, "message").as_string().unwrap().contains("busy"));
    assert_eq!(get(&e, "reason").as_string().as_deref(), Some("device_busy"), "the server's own code is kept");

    let e = err(c.get_session("not-a-uuid")).await;
    assert_eq!(code(&e), "validation_failed");
    assert!(get(&e, "reason").is_null(), "a local failure has no server code");

    let dead = KippClient::new(obj(&[("baseUrl", s("http://127.0.0.1:9")), ("retries", n(0.0))])).unwrap();
    let e = err(dead.get_session(sid(1))).await;
    assert_eq!(code(&e), "network");
    assert_eq!(get(&e, "retryable"), JsValue::TRUE);
    assert!(get(&e, "reason").is_null());
    assert!(e.is_instance_of::<js_sys::Error>());
}

#[wasm_bindgen_test]
async fn status_codes_map_to_codes() {
    // The test server answers /_status/<code>; reach it through `deviceSession`-style raw calls
    // by pointing the client's base at the probe path.
    for (status, want, retryable) in [
        (429, "rate_limited", true),
        (502, "upstream_unavailable", true),
        (503, "upstream_unavailable", true),
        (504, "timeout", true),
        (413, "payload_too_large", false),
        (418, "http_error", false),
    ] {
        let c = KippClient::new(obj(&[("baseUrl", s(&format!("{BASE}/_status/{status}#"))), ("retries", n(0.0))]));
        // "#" makes the appended path a fragment, so the request goes to /_status/<code>.
        let e = err(c.unwrap().me()).await;
        assert_eq!(code(&e), want, "status {status}");
        assert_eq!(get(&e, "status").as_f64(), Some(f64::from(status)));
        assert_eq!(get(&e, "retryable").as_bool(), Some(retryable), "status {status}");
    }
    let c = KippClient::new(obj(&[("baseUrl", s(&format!("{BASE}/_status/200#"))), ("retries", n(0.0))])).unwrap();
    assert_eq!(code(&err(c.me()).await), "invalid_response");
}

/// `client.createLocation({ name: "Store" })`, called as JavaScript calls it.
fn create_location(client: &KippClient) -> Promise {
    let f: Function = Reflect::get(client, &s("createLocation")).unwrap().unchecked_into();
    f.call1(client, &obj(&[("name", s("Store"))])).unwrap().unchecked_into()
}

#[wasm_bindgen_test]
async fn a_call_not_safe_to_repeat_is_not_retryable_when_it_may_have_taken_effect() {
    // No answer, or a 500/502/504: the store may exist. A 429 or 503 refused it before any effect.
    for (status, want, retryable) in [
        ("500", "upstream_unavailable", false),
        ("502", "upstream_unavailable", false),
        ("504", "timeout", false),
        ("503", "upstream_unavailable", true),
        ("429", "rate_limited", true),
    ] {
        let c = KippClient::new(obj(&[("baseUrl", s(&format!("{BASE}/_status/{status}#"))), ("retries", n(0.0))]));
        let e = err(create_location(&c.unwrap())).await;
        assert_eq!(code(&e), want, "status {status}");
        assert_eq!(get(&e, "retryable").as_bool(), Some(retryable), "status {status}");
        if !retryable {
            assert!(get(&e, "message").as_string().unwrap().contains("may have taken effect"), "status {status}");
        }
    }
    // Nothing listens on port 1: no answer, so a repeatable call stays retryable and this one not.
    let c = || KippClient::new(obj(&[("baseUrl", s("http://127.0.0.1:1")), ("retries", n(0.0))])).unwrap();
    let e = err(create_location(&c())).await;
    assert_eq!((code(&e).as_str(), get(&e, "retryable").as_bool()), ("network", Some(false)));
    let e = err(c().me()).await;
    assert_eq!((code(&e).as_str(), get(&e, "retryable").as_bool()), ("network", Some(true)));
    // The worker's own configuration is missing: not a busy payment service, and not retried.
    let q = format!("{BASE}/_status/500?code=config_missing&detail=KIPP_TOKEN_KEY%20is%20not%20set#");
    let e = err(KippClient::new(obj(&[("baseUrl", s(&q)), ("retries", n(0.0))])).unwrap().me()).await;
    assert_eq!((code(&e).as_str(), get(&e, "retryable").as_bool()), ("http_error", Some(false)));
    assert!(get(&e, "message").as_string().unwrap().contains("KIPP_TOKEN_KEY"));
    // Kustom refuses the worker's API key (the worker's 502 `upstream_auth_failed`): no retry
    // mends that either, so `waitForOutcome` and `watch` must not retry it until their deadline.
    let q = format!("{BASE}/_status/502?code=upstream_auth_failed&detail=check%20KUSTOM_API_KEY#");
    let e = err(KippClient::new(obj(&[("baseUrl", s(&q)), ("retries", n(0.0))])).unwrap().me()).await;
    assert_eq!((code(&e).as_str(), get(&e, "retryable").as_bool()), ("http_error", Some(false)));
    assert_eq!(get(&e, "reason").as_string().as_deref(), Some("upstream_auth_failed"));
    assert!(get(&e, "message").as_string().unwrap().contains("KUSTOM_API_KEY"));
}

#[wasm_bindgen_test]
async fn problem_details_become_field_errors() {
    let probe = |q: &str| KippClient::new(obj(&[("baseUrl", s(&format!("{BASE}/_status/{q}#"))), ("retries", n(0.0))]));
    // Kustom's `errors` map: every string entry, in path order, code `invalid`.
    let e = err(probe("400?kustom=1").unwrap().me()).await;
    assert_eq!(code(&e), "validation_failed");
    let fields = Array::from(&get(&e, "fieldErrors"));
    let paths: Vec<String> = fields.iter().map(|f| get(&f, "path").as_string().unwrap()).collect();
    assert_eq!(paths, ["amount", "order_items[0].name"]);
    assert_eq!(get(&fields.get(0), "code").as_string().unwrap(), "invalid");
    assert_eq!(get(&e, "message").as_string().unwrap(), "amount must be positive (and 1 more)");
    assert_eq!(get(&e, "retryable"), JsValue::FALSE);
    // kipp's field_errors: kept in order (malformed ones left out); the message names the first.
    let e = err(probe("422?fields=1").unwrap().me()).await;
    assert_eq!(Array::from(&get(&e, "fieldErrors")).length(), 1);
    assert_eq!(get(&e, "message").as_string().unwrap(), "body is not valid");
    assert!(get(&e, "requestId").as_string().unwrap().starts_with("prob-"));
    // No problem details at all: the status's code and kipp's advice.
    let e = err(probe("502").unwrap().me()).await;
    assert_eq!(
        get(&e, "message").as_string().unwrap(),
        "Upstream Unavailable: the payment service is unavailable; try again shortly"
    );
    assert!(get(&e, "requestId").as_string().unwrap().starts_with("req-"));
    assert!(get(&e, "reason").is_null(), "no problem details, no server code (not the status's code)");
}

#[wasm_bindgen_test]
async fn get_token_is_called_per_request() {
    let calls = Rc::new(RefCell::new(0));
    let c2 = calls.clone();
    let f = Closure::<dyn FnMut() -> JsValue>::new(move || {
        *c2.borrow_mut() += 1;
        Promise::resolve(&s("from-callback")).into()
    });
    let c = with_get_token(f.as_ref().clone());
    reset().await;
    ok(c.get_session(sid(2))).await;
    assert_eq!(*calls.borrow(), 1);
    let auth = Array::from(&get(&test_log().await, "authHeaders"));
    assert_eq!(auth.get(0).as_string().unwrap(), "Bearer from-callback");
}

#[wasm_bindgen_test]
async fn timeout_per_attempt() {
    let c = client("t", &[("timeoutMs", n(300.0))]);
    let e = err(c.get_session(sid(5))).await;
    assert_eq!(code(&e), "timeout");
}

#[wasm_bindgen_test]
async fn list_devices_sends_the_filter() {
    let c = client("t", &[]);
    let page =
        ok(c.list_devices(Some(obj(&[("metadata", Array::of1(&s("simulated:true")).into()), ("page_size", n(50.0))]))))
            .await;
    assert_eq!(get(&page, "query").as_string().unwrap(), "?metadata=simulated%3Atrue&page_size=50");
    assert_eq!(
        get(&get(&Array::from(&get(&page, "content")).get(0), "metadata"), "simulated").as_string().unwrap(),
        "true"
    );
    let e = err(c.list_devices(Some(obj(&[("page_size", n(500.0))])))).await;
    assert_eq!(code(&e), "validation_failed");
    assert!(ok(c.delete_device(DEVICE)).await.is_undefined());
    assert!(ok(c.device_session(DEVICE)).await.is_null());
}

// ---- live: WebSocket, polling fallback, abort, deadline, watch reconnect ----------------------

#[wasm_bindgen_test]
async fn wait_for_outcome_polls_when_websockets_are_refused() {
    reset().await;
    let c = client("t", &[]);
    let updates = Rc::new(RefCell::new(Vec::<String>::new()));
    let u2 = updates.clone();
    let on_update = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_s: JsValue, st: JsValue| {
        u2.borrow_mut().push(get(&st, "status").as_string().unwrap());
    });
    let t0 = js_sys::Date::now();
    let sess = ok(
        c.wait_for_outcome(sid(1), Some(obj(&[("timeoutMs", n(20_000.0)), ("onUpdate", on_update.as_ref().clone())])))
    )
    .await;
    assert_eq!(get(&sess, "status").as_string().unwrap(), "FINALIZED");
    assert_eq!(*updates.borrow(), ["CREATED", "FINALIZED"]);
    let log = test_log().await;
    let polls = Array::from(&get(&log, "polls"));
    assert_eq!(polls.length(), 3);
    let at = |i| get(&polls.get(i), "at").as_f64().unwrap();
    assert!(at(1) - at(0) >= 950.0 && at(2) - at(1) >= 950.0, "polls at least ~1 s apart");
    assert!(js_sys::Date::now() - t0 >= 1_900.0);
    // Long-polls: the first asks for the state at once; the next ones name the state seen, for the
    // worker to hold them until it changes (10 s here: the 15 s attempt limit less 5).
    let query = |i| get(&polls.get(i), "query").as_string().unwrap();
    assert_eq!(query(0), "?wait=10");
    assert_eq!(query(1), "?after=CREATED%3A0&wait=10");
    assert_eq!(get(&get(&log, "wsConnections"), sid(1)).as_f64(), Some(1.0), "WebSocket tried once");
}

#[wasm_bindgen_test]
async fn wait_for_outcome_uses_the_websocket() {
    let c = client("t", &[]);
    let updates = Rc::new(RefCell::new(Vec::<(String, f64)>::new()));
    let u2 = updates.clone();
    let on_update = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_s: JsValue, st: JsValue| {
        u2.borrow_mut()
            .push((get(&st, "status").as_string().unwrap(), get(&st, "failed_attempts").as_f64().unwrap_or(-1.0)));
    });
    let t0 = js_sys::Date::now();
    let sess = ok(c.wait_for_outcome(sid(4), Some(obj(&[("onUpdate", on_update.as_ref().clone())])))).await;
    assert_eq!(get(&sess, "order_id").as_string().unwrap(), "00000000-0000-4000-8000-000000000777");
    assert_eq!(
        *updates.borrow(),
        [("CREATED".to_owned(), 0.0), ("ACTIVE".to_owned(), 1.0), ("FINALIZED".to_owned(), 0.0)]
    );
    assert!(js_sys::Date::now() - t0 < 1_500.0, "live, not polled");
}

#[wasm_bindgen_test]
async fn sockets_that_drop_soon_after_opening_end_in_polling() {
    // Every socket gets the current state first, then the path cuts it: three short-lived
    // sockets, then polling (not a reconnect a second, forever).
    reset().await;
    let c = client("t", &[]);
    let ctl = abort_after(7_000);
    let e = err(c.wait_for_outcome(sid(8), Some(obj(&[("signal", ctl.signal().into())])))).await;
    assert_eq!(code(&e), "aborted");
    let log = test_log().await;
    assert_eq!(get(&get(&log, "wsConnections"), sid(8)).as_f64(), Some(3.0), "three sockets, then none");
    let polls = Array::from(&get(&log, "polls"));
    assert!(polls.iter().any(|p| get(&p, "id").as_string().as_deref() == Some(sid(8))), "it went on by polling");
}

/// An `AbortController` that aborts itself after `ms`.
fn abort_after(ms: i32) -> web_sys::AbortController {
    let ctl = web_sys::AbortController::new().unwrap();
    let ctl2 = ctl.clone();
    let abort = Closure::once_into_js(move || ctl2.abort());
    web_sys::window()
        .unwrap()
        .set_timeout_with_callback_and_timeout_and_arguments_0(abort.unchecked_ref(), ms)
        .unwrap();
    ctl
}

#[wasm_bindgen_test]
async fn wait_for_outcome_honours_abort_signal() {
    let c = client("t", &[]);
    let ctl = abort_after(1_500);
    let t0 = js_sys::Date::now();
    let e = err(c.wait_for_outcome(sid(2), Some(obj(&[("signal", ctl.signal().into())])))).await;
    assert_eq!(code(&e), "aborted");
    let dt = js_sys::Date::now() - t0;
    assert!((1_400.0..3_000.0).contains(&dt), "stopped right at the abort ({dt} ms)");

    let done = web_sys::AbortController::new().unwrap();
    done.abort();
    let e = err(c.wait_for_outcome(sid(2), Some(obj(&[("signal", done.signal().into())])))).await;
    assert_eq!(code(&e), "aborted");
}

#[wasm_bindgen_test]
async fn a_deadline_beyond_the_timer_limit_is_kept() {
    // `setTimeout` fires at once for delays over 2^31 - 1 ms: a deadline of ~25 days or more
    // must still be a deadline that has not passed. The abort ends this wait instead.
    let c = client("t", &[]);
    let ctl = abort_after(1_500);
    let far = 2f64.powi(31) + 1_000.0;
    let e = err(c.wait_for_outcome(sid(2), Some(obj(&[("timeoutMs", n(far)), ("signal", ctl.signal().into())])))).await;
    assert_eq!(code(&e), "aborted", "a far deadline fired at once");
}

#[wasm_bindgen_test]
async fn a_callers_signal_keeps_no_listener_after_a_wait() {
    // One signal for many waits (an app's page-wide AbortController): each wait's listener goes
    // when the wait ends, instead of keeping every wait's controller alive.
    let c = client("t", &[]);
    let ctl = web_sys::AbortController::new().unwrap();
    let signal: JsValue = ctl.signal().into();
    let listeners: Function = js_sys::eval(
        "(s) => { let n = 0; const add = s.addEventListener.bind(s), remove = s.removeEventListener.bind(s);
           s.addEventListener = (...a) => { n++; add(...a); }; s.removeEventListener = (...a) => { n--; remove(...a); };
           return () => n; }",
    )
    .unwrap()
    .unchecked_into::<Function>()
    .call1(&JsValue::NULL, &signal)
    .unwrap()
    .unchecked_into();
    for _ in 0..3 {
        let s = ok(c.wait_for_outcome(sid(4), Some(obj(&[("signal", signal.clone())])))).await;
        assert_eq!(get(&s, "status").as_string().unwrap(), "FINALIZED");
    }
    assert_eq!(listeners.call0(&JsValue::NULL).unwrap().as_f64(), Some(0.0), "listeners left on the caller's signal");
}

#[wasm_bindgen_test]
async fn wait_for_outcome_never_polls_past_the_deadline() {
    reset().await;
    let c = client("t", &[]);
    let t0 = js_sys::Date::now();
    let e = err(c.wait_for_outcome(sid(2), Some(obj(&[("timeoutMs", n(2_500.0))])))).await;
    let end = js_sys::Date::now();
    assert_eq!(code(&e), "timeout");
    assert_eq!(get(&e, "retryable"), JsValue::TRUE);
    assert!(end - t0 < 3_200.0, "gave up at the deadline ({} ms)", end - t0);
    let polls = Array::from(&get(&test_log().await, "polls"));
    assert!(polls.length() >= 2);
    for p in polls.iter() {
        assert!(get(&p, "at").as_f64().unwrap() <= t0 + 2_500.0, "a poll after the deadline");
    }
    let e = err(c.wait_for_outcome(sid(404), Some(obj(&[("timeoutMs", n(5_000.0))])))).await;
    assert_eq!(code(&e), "not_found", "a failure retrying cannot fix ends the wait");
}

#[wasm_bindgen_test]
async fn watch_reconnects_after_a_dropped_socket() {
    reset().await;
    let c = client("t", &[]);
    let statuses = Rc::new(RefCell::new(Vec::<String>::new()));
    let errors = Rc::new(RefCell::new(Vec::<(String, bool)>::new()));
    let (s2, e2) = (statuses.clone(), errors.clone());
    let (finished, finish) = signal();
    let on_update = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_s: JsValue, st: JsValue| {
        let status = get(&st, "status").as_string().unwrap();
        if status == "FINALIZED" {
            finish();
        }
        s2.borrow_mut().push(status);
    });
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        assert!(e.is_instance_of::<js_sys::Error>());
        e2.borrow_mut().push((code(&e), get(&e, "retryable").as_bool().unwrap()));
    });
    let handle = watch_reporting(&c, sid(3), &on_update, &on_error);
    JsFuture::from(finished).await.unwrap();
    handle.close();
    assert_eq!(*statuses.borrow(), ["CREATED", "ACTIVE", "FINALIZED"]);
    assert_eq!(*errors.borrow(), [("network".to_owned(), true)]);
    assert_eq!(get(&get(&test_log().await, "wsConnections"), sid(3)).as_f64(), Some(2.0));
}

#[wasm_bindgen_test]
async fn watch_ends_unauthorized_when_the_worker_closes_for_the_token() {
    reset().await;
    let c = client("t", &[]);
    let errors = Rc::new(RefCell::new(Vec::<(String, bool, Option<String>)>::new()));
    let e2 = errors.clone();
    let (failed, fail) = signal();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let c = code(&e);
        e2.borrow_mut().push((c.clone(), get(&e, "retryable").as_bool().unwrap(), get(&e, "reason").as_string()));
        if c == "unauthorized" {
            fail();
        }
    });
    let on_update = Closure::<dyn FnMut(JsValue, JsValue)>::new(|_: JsValue, _: JsValue| {});
    let handle = watch_reporting(&c, sid(7), &on_update, &on_error);
    JsFuture::from(failed).await.unwrap();
    handle.close();
    // Close code 4401 is the token, not the network: no "reconnecting" report, no second socket
    // with the same token; the poll's 401 ends it.
    // The server's reason reaches the caller, so a screen can say "expired" rather than guess.
    assert_eq!(*errors.borrow(), [("unauthorized".to_owned(), false, Some("token_expired".to_owned()))]);
    assert_eq!(get(&get(&test_log().await, "wsConnections"), sid(7)).as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn watch_close_stops_polling() {
    reset().await;
    let c = client("t", &[]);
    let count = Rc::new(RefCell::new(0));
    let c2 = count.clone();
    let on_update = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_: JsValue, _: JsValue| *c2.borrow_mut() += 1);
    let handle = c.watch(sid(2), on_update.as_ref().clone().unchecked_into(), None).unwrap();
    JsFuture::from(sleep(1_500)).await.unwrap();
    handle.close();
    let before = Array::from(&get(&test_log().await, "polls")).length();
    JsFuture::from(sleep(2_500)).await.unwrap();
    let after = Array::from(&get(&test_log().await, "polls")).length();
    assert!(before >= 1);
    assert_eq!(before, after, "no polls after close()");
    assert_eq!(*count.borrow(), 1, "CREATED once, unchanged polls are not repeated");
}

#[wasm_bindgen_test]
async fn with_signal_stops_the_calls_and_waits_made_through_it() {
    let c = client("t", &[]);
    let seen = run_js(
        &c,
        "const code = async (p) => { try { await p; return 'resolved'; } catch (e) { return e.code; } };
         const slow = '00000000-0000-4000-8000-000000000005'; // answered after 3 s
         const ctl = new AbortController();
         const screen = c.withSignal(ctl.signal);
         const call = code(screen.getSession(slow));
         const wait = code(screen.waitForOutcome('00000000-0000-4000-8000-000000000002', { timeoutMs: 60000 }));
         // Its sockets send CREATED and drop, so a watch reconnects again and again.
         const flaky = '00000000-0000-4000-8000-000000000008';
         const sockets = async () => (await (await fetch(`${base}/_test/log`)).json()).wsConnections[flaky] ?? 0;
         screen.watch(flaky, () => {});
         await sleep(300);
         ctl.abort();
         const results = [await call, await wait];
         const after = await sockets();
         await sleep(1500);
         let bad;
         try { c.withSignal({}); } catch (e) { bad = `${e.code} ${e.fieldErrors[0].path}`; }
         // A view of a view stops on either signal.
         const outer = new AbortController();
         const both = c.withSignal(outer.signal).withSignal(new AbortController().signal);
         const nested = code(both.getSession(slow));
         await sleep(100);
         outer.abort();
         return [
           ...results,
           after > 0 && (await sockets()) === after ? 'watch stopped' : `watch: ${after} sockets, then ${await sockets()}`,
           await code(screen.me()),
           (await c.getSession('00000000-0000-4000-8000-000000000001')).status,
           bad,
           await nested,
         ];",
    )
    .await;
    let seen: Vec<String> = Array::from(&seen).iter().map(|v| v.as_string().unwrap()).collect();
    assert_eq!(
        seen,
        ["aborted", "aborted", "watch stopped", "aborted", "CREATED", "validation_failed signal", "aborted"]
    );
}

#[wasm_bindgen_test]
async fn a_watch_without_on_error_that_stops_says_so_on_the_console() {
    let c = client("t", &[]);
    let seen = run_js(
        &c,
        "const seen = [];
         const original = console.error;
         console.error = (...args) => seen.push(args);
         try {
           c.watch('00000000-0000-4000-8000-000000000404', () => {});
           for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(100);
         } finally {
           console.error = original;
         }
         return seen.map((args) => `${args[0]} ${args[1]?.code}`);",
    )
    .await;
    let seen: Vec<String> = Array::from(&seen).iter().map(|v| v.as_string().unwrap()).collect();
    assert_eq!(seen, ["kipp-web: watch(00000000-0000-4000-8000-000000000404) stopped: not_found"]);
}

/// Runs `body` as the body of an async JS function of `(c, base, sleep)`, as a JavaScript caller
/// of kipp-web would write it; resolves with its result (panics when it throws).
async fn run_js(c: &KippClient, body: &str) -> JsValue {
    let f = Function::new_with_args(
        "c, base",
        &format!("const sleep = (ms) => new Promise((r) => setTimeout(r, ms)); return (async () => {{ {body} }})();"),
    );
    ok(f.call2(&JsValue::NULL, c.as_ref(), &s(BASE)).unwrap().unchecked_into()).await
}

// ---- review fixes (session 11) ---------------------------------------------------------------

#[wasm_bindgen_test]
fn format_amount_refuses_arguments_that_are_not_a_number_and_strings() {
    let undefined = JsValue::UNDEFINED;
    for (minor, currency, locale, path) in [
        (JsValue::NULL, s("SEK"), undefined.clone(), "minor"),
        (s("12900"), s("SEK"), undefined.clone(), "minor"),
        (JsValue::TRUE, s("SEK"), undefined.clone(), "minor"),
        (js_sys::BigInt::from(12900).into(), s("SEK"), undefined.clone(), "minor"),
        (n(100.0), undefined.clone(), undefined.clone(), "currency"),
        (n(100.0), n(752.0), undefined.clone(), "currency"),
        (n(100.0), s("SEK"), n(123.0), "locale"),
    ] {
        let e = format_amount(minor.clone(), currency, Some(locale)).unwrap_err();
        assert_eq!(code(&e), "validation_failed", "{minor:?}");
        assert_eq!(get(&Array::from(&get(&e, "fieldErrors")).get(0), "path").as_string().unwrap(), path);
    }
    assert_eq!(format_amount(n(100.0), s("SEK"), Some(JsValue::NULL)).unwrap(), "SEK 1.00");
}

#[wasm_bindgen_test]
async fn options_of_the_wrong_type_are_refused_not_dropped() {
    reset().await;
    // A number as the key would have been replaced by a random one: a retry by the caller with
    // the same number would then have been a second sale.
    let e = err(client("t", &[]).create_session(cart(1), Some(obj(&[("idempotencyKey", n(42.0))])))).await;
    assert_eq!(code(&e), "validation_failed");
    assert_eq!(get(&Array::from(&get(&e, "fieldErrors")).get(0), "path").as_string().unwrap(), "idempotencyKey");
    assert_eq!(Array::from(&get(&test_log().await, "idempotencyKeys")).length(), 0, "nothing was sent");
    for (key, value) in [("timeoutMs", s("5000")), ("retries", s("2")), ("token", n(1.0)), ("baseUrl", n(1.0))] {
        let e = KippClient::new(obj(&[("baseUrl", s(BASE)), (key, value)])).unwrap_err();
        assert_eq!(code(&e), "validation_failed", "{key}");
    }
    let e = err(client("t", &[]).wait_for_outcome(sid(2), Some(obj(&[("timeoutMs", s("100"))])))).await;
    assert_eq!(code(&e), "validation_failed");
}

#[wasm_bindgen_test]
async fn a_failed_create_carries_its_idempotency_key_for_the_callers_retry() {
    reset().await;
    let c = client("t", &[]);
    let body = with_fault(cart(1), "busy");
    let e = err(c.create_session(body.clone(), None)).await;
    assert_eq!(code(&e), "conflict");
    let key = get(&e, "idempotencyKey").as_string().expect("the key the create sent");
    assert_eq!(Array::from(&get(&test_log().await, "idempotencyKeys")).get(0).as_string().unwrap(), key);
    assert_eq!(get(&err(c.get_session(sid(404))).await, "idempotencyKey"), JsValue::UNDEFINED, "calls without a key");
}

#[wasm_bindgen_test]
async fn a_retry_after_is_never_cut_short() {
    reset().await;
    let c = client("t", &[("retries", n(1.0))]);
    let body = with_fault(cart(1), "rate-limited-once");
    ok(c.create_session(body, None)).await;
    let times = Array::from(&get(&test_log().await, "createTimes"));
    assert_eq!(times.length(), 2);
    let gap = times.get(1).as_f64().unwrap() - times.get(0).as_f64().unwrap();
    assert!(gap >= 1000.0, "the retry came {gap} ms after a Retry-After of 1 s");
}

#[wasm_bindgen_test]
async fn a_retry_after_longer_than_a_call_waits_fails_the_call_at_once_and_says_how_long() {
    reset().await;
    let c = client("t", &[("retries", n(3.0))]);
    let body = with_fault(cart(1), "rate-limited-long");
    let e = err(c.create_session(body, None)).await;
    assert_eq!(code(&e), "rate_limited");
    assert_eq!(get(&e, "retryable"), JsValue::TRUE, "the app may try again, later");
    assert_eq!(get(&e, "retryAfterMs").as_f64(), Some(120_000.0), "as asked, not capped");
    let times = Array::from(&get(&test_log().await, "createTimes"));
    assert_eq!(times.length(), 1, "no retry before the two minutes asked for");
    // A Retry-After a call does wait out is there too; none at all is null.
    let body = with_fault(cart(1), "rate-limited-once");
    let e = err(client("t", &[]).create_session(body, None)).await;
    assert_eq!(get(&e, "retryAfterMs").as_f64(), Some(1000.0));
    assert_eq!(get(&err(c.get_session(sid(404))).await, "retryAfterMs"), JsValue::NULL);
}

#[wasm_bindgen_test]
async fn a_polls_retry_after_is_never_cut_short() {
    reset().await;
    // WebSockets refused: the first poll answers 429 with Retry-After: 1 (jitter could take up to
    // 20 % off it before), the next one FINALIZED.
    let done = ok(client("t", &[]).wait_for_outcome(sid(12), None)).await;
    assert_eq!(get(&done, "status").as_string().unwrap(), "FINALIZED");
    let polls = Array::from(&get(&test_log().await, "polls"));
    assert_eq!(polls.length(), 2);
    let at = |i| get(&polls.get(i), "at").as_f64().unwrap();
    assert!(at(1) - at(0) >= 1000.0, "the next poll came {} ms after a Retry-After of 1 s", at(1) - at(0));
}

#[wasm_bindgen_test]
async fn a_wait_rides_out_a_poll_answered_by_a_captive_portal() {
    reset().await;
    // WebSockets refused: the first poll is answered 200 with a Wi-Fi sign-in page, the next
    // FINALIZED. The page is reported (`invalid_response`), and the wait goes on.
    let errors = Rc::new(RefCell::new(Vec::<String>::new()));
    let e2 = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| e2.borrow_mut().push(code(&e)));
    let done =
        ok(client("t", &[]).wait_for_outcome(sid(13), Some(obj(&[("onError", on_error.as_ref().clone())])))).await;
    assert_eq!(get(&done, "status").as_string().unwrap(), "FINALIZED");
    assert_eq!(*errors.borrow(), ["invalid_response"]);
}

#[wasm_bindgen_test]
async fn a_wait_rides_out_a_poll_whose_connection_is_cut() {
    reset().await;
    // WebSockets refused: the first polls' connections are cut without an answer (`network`),
    // then one answers FINALIZED. A poll is a read: its failure is ridden out, not the wait's end
    // (the rule that a create without a key is not retryable after no answer is for POSTs).
    let errors = Rc::new(RefCell::new(Vec::<(String, bool)>::new()));
    let e2 = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        e2.borrow_mut().push((code(&e), get(&e, "retryable").as_bool().unwrap_or(false)));
    });
    let done =
        ok(client("t", &[]).wait_for_outcome(sid(14), Some(obj(&[("onError", on_error.as_ref().clone())])))).await;
    assert_eq!(get(&done, "status").as_string().unwrap(), "FINALIZED");
    let errors = errors.borrow();
    assert!(!errors.is_empty(), "the cut connections were reported");
    assert!(errors.iter().all(|(c, retryable)| c == "network" && *retryable), "{errors:?}");
}

#[wasm_bindgen_test]
async fn wait_and_watch_refuse_callbacks_and_signals_of_the_wrong_type() {
    let c = client("t", &[]);
    let codes = run_js(
        &c,
        "const id = '00000000-0000-4000-8000-000000000002';
         const code = async (p) => { try { await p; return 'resolved'; } catch (e) { return e.code + ' ' + e.fieldErrors[0]?.path; } };
         let watched;
         try { c.watch(id, 'not a function'); watched = 'no throw'; } catch (e) { watched = e.code + ' ' + e.fieldErrors[0]?.path; }
         return [
           await code(c.waitForOutcome(id, { onUpdate: 'x', timeoutMs: 100 })),
           await code(c.waitForOutcome(id, { onError: 1, timeoutMs: 100 })),
           await code(c.waitForOutcome(id, { signal: {}, timeoutMs: 100 })),
           watched,
         ];",
    )
    .await;
    let codes: Vec<String> = Array::from(&codes).iter().map(|v| v.as_string().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "validation_failed onUpdate",
            "validation_failed onError",
            "validation_failed signal",
            "validation_failed onUpdate"
        ]
    );
}

#[wasm_bindgen_test]
async fn revoke_token_posts_the_token_id() {
    reset().await;
    let c = client("t", &[]);
    let r = run_js(
        &c,
        "const ok = await c.revokeToken('jti_1-A');
         let bad;
         try { await c.revokeToken('not a jti'); } catch (e) { bad = e.code + ' ' + e.fieldErrors[0].path; }
         return [ok === undefined, bad];",
    )
    .await;
    let r = Array::from(&r);
    assert_eq!(r.get(0), JsValue::TRUE, "resolves with nothing");
    assert_eq!(r.get(1).as_string().unwrap(), "validation_failed jti");
    let revoked = Array::from(&get(&test_log().await, "revoked"));
    assert_eq!(revoked.length(), 1, "the bad id was not sent");
    assert_eq!(revoked.get(0).as_string().unwrap(), "jti_1-A");
}

#[wasm_bindgen_test]
async fn get_token_may_return_any_thenable() {
    reset().await;
    let c = get_token_js("return { then(resolve) { resolve('from-thenable'); } };");
    ok(c.get_session(sid(2))).await;
    let auth = Array::from(&get(&test_log().await, "authHeaders"));
    assert_eq!(auth.get(0).as_string().unwrap(), "Bearer from-thenable");
}

#[wasm_bindgen_test]
async fn a_get_token_that_fails_for_a_moment_is_retried_not_a_sign_out() {
    reset().await;
    // The app's refresh fails once (its own network), then works: the wait goes on, and reports
    // the blip as a retryable `network` failure carrying the app's error.
    let c = get_token_js(
        "globalThis.kippTokenCalls = (globalThis.kippTokenCalls || 0) + 1; \
         return globalThis.kippTokenCalls === 1 ? Promise.reject(new TypeError('Failed to fetch')) : 't';",
    );
    let errors = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let e2 = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| e2.borrow_mut().push(e));
    let sess = ok(c.wait_for_outcome(sid(4), Some(obj(&[("onError", on_error.as_ref().clone())])))).await;
    assert_eq!(get(&sess, "status").as_string().unwrap(), "FINALIZED");
    let first = errors.borrow().first().cloned().expect("the failure was reported");
    assert_eq!((code(&first).as_str(), get(&first, "retryable").as_bool()), ("network", Some(true)));
    assert_eq!(get(&get(&first, "cause"), "message").as_string().as_deref(), Some("Failed to fetch"));
    // A plain call retries it too, and fails as `network` (not `unauthorized`) when it persists.
    let c = get_token_js("throw new TypeError('offline');");
    let e = err(c.get_session(sid(2))).await;
    assert_eq!((code(&e).as_str(), get(&e, "retryable").as_bool()), ("network", Some(true)));
}

#[wasm_bindgen_test]
async fn a_get_token_that_hangs_does_not_outlive_the_deadline_or_the_signal() {
    reset().await;
    let c = get_token_js("return new Promise(() => {});");
    let e = err(c.wait_for_outcome(sid(3), Some(obj(&[("timeoutMs", n(300.0))])))).await;
    assert_eq!(code(&e), "timeout");
    let ctl = abort_after(300);
    let e = err(c.wait_for_outcome(sid(3), Some(obj(&[("signal", ctl.signal().into())])))).await;
    assert_eq!(code(&e), "aborted");
    // A token that comes after the deadline opens no socket.
    let c = get_token_js("return new Promise((r) => setTimeout(() => r('late'), 800));");
    let e = err(c.wait_for_outcome(sid(3), Some(obj(&[("timeoutMs", n(300.0))])))).await;
    assert_eq!(code(&e), "timeout");
    JsFuture::from(sleep(1_200)).await.unwrap();
    let log = test_log().await;
    assert_eq!(get(&get(&log, "wsConnections"), sid(3)), JsValue::UNDEFINED, "no socket after the deadline");
    assert_eq!(Array::from(&get(&log, "authHeaders")).length(), 1, "only the log read reached the server");
}

#[wasm_bindgen_test]
async fn a_retried_cancel_or_delete_whose_first_answer_was_lost_is_done() {
    reset().await;
    // The first attempt's answer comes after the client's 500 ms; Kustom had already acted, so
    // the retry is refused (409 terminal, 404 gone): the call is done all the same.
    let c = client("t", &[("timeoutMs", n(500.0)), ("retries", n(1.0))]);
    let cancelled = ok(c.cancel_session(sid(10))).await;
    assert_eq!(get(&cancelled, "status").as_string().unwrap(), "CANCELLED");
    assert_eq!(ok(c.delete_device(LOST_DEVICE)).await, JsValue::UNDEFINED);
    // Without a retry, a 409 is the answer.
    reset().await;
    let once = client("t", &[("retries", n(1.0))]);
    JsFuture::from(c.cancel_session(sid(10))).await.ok();
    assert_eq!(code(&err(once.cancel_session(sid(10))).await), "conflict");
}

#[wasm_bindgen_test]
async fn a_finalized_session_carries_the_order_id_its_state_has() {
    let c = client("t", &[]);
    let done = ok(c.wait_for_outcome(sid(9), None)).await;
    assert_eq!(get(&done, "status").as_string().unwrap(), "FINALIZED");
    assert_eq!(get(&done, "order_id").as_string().unwrap(), "00000000-0000-4000-8000-000000000777");
}

#[wasm_bindgen_test]
async fn disposing_a_watch_handle_stops_it() {
    reset().await;
    let c = client("t", &[]);
    let polls = run_js(
        &c,
        "{ using h = c.watch('00000000-0000-4000-8000-000000000002', () => {}); await sleep(1500); }
         const count = async () => (await (await fetch(base + '/_test/log')).json()).polls.length;
         const before = await count();
         await sleep(2500);
         return [before, await count()];",
    )
    .await;
    let polls = Array::from(&polls);
    assert!(polls.get(0).as_f64().unwrap() >= 1.0);
    assert_eq!(polls.get(0), polls.get(1), "no polls after the `using` block");
}

#[wasm_bindgen_test]
async fn a_socket_that_goes_silent_is_pinged_and_replaced() {
    reset().await;
    // The first socket sends CREATED and then nothing, and never closes (half-open); its ping
    // goes unanswered. The next socket brings FINALIZED.
    let c = client("t", &[]);
    let done = ok(c.wait_for_outcome(sid(11), Some(obj(&[("timeoutMs", n(60_000.0))])))).await;
    assert_eq!(get(&done, "status").as_string().unwrap(), "FINALIZED");
    let log = test_log().await;
    assert_eq!(get(&get(&log, "wsConnections"), sid(11)).as_f64(), Some(2.0));
    assert!(get(&get(&log, "wsPings"), sid(11)).as_f64().unwrap() >= 1.0, "the silent socket was pinged");
}

fn sleep(ms: i32) -> Promise {
    Promise::new(&mut |res, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&res, ms).unwrap();
    })
}
