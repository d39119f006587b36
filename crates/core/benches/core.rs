//! Core micro-benchmarks (not tests): `cargo bench -p kipp-core --bench core`.
//! Prints `BENCH <name> <ns_per_op> ns/op` lines that `scripts/bench.sh` turns into
//! the table in docs/benchmarks.md. Each figure is the median of 7 timed batches.

use std::hint::black_box;
use std::time::Instant;

use kipp_core::api::sessions::{CreateSessionRequest, OrderItem, Session};
use kipp_core::api::{decode_and_validate, Validate};
use kipp_core::ids::DeviceId;
use kipp_core::money::{Amount, Currency, TaxRate};

fn median_ns_per_op(mut f: impl FnMut()) -> f64 {
    // Calibrate a batch to roughly 50 ms, then time 7 batches.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed().as_millis() >= 50 || n > 1 << 30 {
            break;
        }
        n *= 2;
    }
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[3]
}

/// A 50-line cart, as JSON.
fn cart_json() -> String {
    let items: Vec<OrderItem> = (0..50)
        .map(|i| {
            let price = Amount::new(1000 + i64::from(i) * 37).unwrap_or(Amount::ZERO);
            OrderItem::physical(
                &format!("Item {i}"),
                1 + i % 3,
                price,
                TaxRate::new(2500).unwrap_or_else(|_| unreachable!()),
            )
            .unwrap_or_else(|| unreachable!())
        })
        .collect();
    let device = DeviceId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap_or_else(|_| unreachable!());
    let req =
        CreateSessionRequest::from_items(device, Currency::parse("SEK").unwrap_or_else(|_| unreachable!()), items)
            .unwrap_or_else(|| unreachable!());
    serde_json::to_string(&req).unwrap_or_default()
}

fn main() {
    let cart = cart_json();
    let parsed: CreateSessionRequest = serde_json::from_str(&cart).unwrap_or_else(|_| unreachable!());
    println!(
        "BENCH validate_50_line_cart_rules {:.0} ns/op",
        median_ns_per_op(|| {
            black_box(black_box(&parsed).validate());
        })
    );
    println!(
        "BENCH decode_and_validate_50_line_cart {:.0} ns/op",
        median_ns_per_op(|| {
            let _ = black_box(decode_and_validate::<CreateSessionRequest>(black_box(cart.as_bytes())));
        })
    );
    let session = include_str!("../tests/fixtures/examples/get-session.response.composed.json");
    println!(
        "BENCH decode_docs_session_example {:.0} ns/op",
        median_ns_per_op(|| {
            let _ = black_box(serde_json::from_str::<Session>(black_box(session)));
        })
    );
    #[cfg(feature = "webhook")]
    {
        use kipp_core::webhook::{sign, verify, WebhookSecret, DEFAULT_TOLERANCE_SECS};
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_else(|_| unreachable!());
        let body = vec![b'x'; 1024];
        let secrets = [secret];
        let signed =
            sign(&secrets, "kevt_62EvxyMEaAaHSGeoDTza47", 1_780_000_000, &body).unwrap_or_else(|_| unreachable!());
        println!(
            "BENCH webhook_verify_1k_body {:.0} ns/op",
            median_ns_per_op(|| {
                let _ = black_box(verify(
                    &signed.as_headers(),
                    black_box(&body),
                    &secrets,
                    1_780_000_010,
                    DEFAULT_TOLERANCE_SECS,
                ));
            })
        );
    }
}
