//! Test controls under `/_emulator/` (no authentication: the emulator is a loopback dev
//! tool). Never under `/ipp/v1`, so fault injection and auth never touch them.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `GET /_emulator/health` | | `{"ok":true}` |
//! | `POST /_emulator/reset` | | drop all state except the default location; reset clock, faults, webhook behaviour and log |
//! | `GET\|POST\|DELETE /_emulator/faults` | `FaultSpec` | list, add, clear fault rules |
//! | `GET /_emulator/clock`, `POST /_emulator/clock/advance` | `{"seconds":900}` | read or move the clock (expiry runs at once) |
//! | `GET /_emulator/deliveries[?session_id=&type=]` | | the webhook delivery log |
//! | `GET\|POST /_emulator/webhooks` | `{"duplicate":2,"reorder":true,"paused":false}` | delivery behaviour |

use hyper::body::Incoming;
use hyper::Request;
use kipp_core::api::{decode_with_path, parse_query};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::faults::FaultSpec;
use super::problem::Reject;
use super::routes::Reply;
use super::server::read_body;
use super::webhooks::{BehaviourPatch, DeliveryRecord};
use super::Emulator;
use kipp_core::time::Timestamp;

/// Longest single clock advance: ten years.
pub const MAX_ADVANCE_SECONDS: f64 = 10.0 * 366.0 * 86_400.0;
/// 9999-01-01T00:00:00Z in unix ms: the clock goes no further, which leaves a year for real
/// time to pass and for the expiries set from it (72 h at most) to stay within four-digit years.
const CLOCK_END_MS: i64 = 253_370_764_800_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct ClockView {
    now: Timestamp,
    offset_seconds: f64,
    expired: usize,
}

#[derive(Debug, Serialize)]
struct Deliveries {
    deliveries: Vec<DeliveryRecord>,
    pending: usize,
}

#[derive(Debug, Serialize)]
struct FaultList {
    faults: Vec<FaultSpec>,
}

fn ok_json<T: Serialize>(status: u16, v: &T) -> Result<Reply, Reject> {
    super::routes::json_reply(status, v)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reject> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    decode_with_path(body).map_err(|e| Reject::validation(vec![e]))
}

fn clock_view(emulator: &Emulator, expired: usize) -> ClockView {
    let offset_ms = emulator.clock.offset_ms();
    #[allow(clippy::cast_precision_loss)]
    let offset_seconds = offset_ms as f64 / 1000.0;
    ClockView { now: Timestamp::from_unix_nanos(emulator.clock.now_nanos()), offset_seconds, expired }
}

/// Handles one control request.
pub async fn handle(emulator: &Emulator, req: Request<Incoming>) -> Result<Reply, Reject> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = parse_query(req.uri().query().unwrap_or("")).map_err(|e| Reject::validation(vec![e]))?;
    let body = read_body(req.into_body(), emulator.config.header_read_timeout).await?;
    match (method.as_str(), path.as_str()) {
        ("GET", "/_emulator/health") => ok_json(200, &serde_json::json!({"ok": true})),
        ("POST", "/_emulator/reset") => {
            emulator.reset();
            ok_json(200, &serde_json::json!({"ok": true}))
        }
        ("GET", "/_emulator/faults") => ok_json(200, &FaultList { faults: emulator.faults.list() }),
        ("POST", "/_emulator/faults") => {
            let spec: FaultSpec = decode(&body)?;
            spec.validate()?;
            if !emulator.faults.add(spec) {
                return Err(Reject::new(
                    409,
                    "too_many_faults",
                    "at most 256 fault rules; DELETE /_emulator/faults first",
                ));
            }
            ok_json(201, &FaultList { faults: emulator.faults.list() })
        }
        ("DELETE", "/_emulator/faults") => {
            emulator.faults.clear();
            Ok(Reply::NoContent)
        }
        ("GET", "/_emulator/clock") => ok_json(200, &clock_view(emulator, 0)),
        ("POST", "/_emulator/clock/advance") => {
            let a: Advance = decode(&body)?;
            if !(a.seconds.is_finite() && (0.0..=MAX_ADVANCE_SECONDS).contains(&a.seconds)) {
                return Err(Reject::field(
                    "seconds",
                    "out_of_range",
                    "must be from 0 to ten years (the clock only moves forward)",
                ));
            }
            #[allow(clippy::cast_possible_truncation)]
            let ms = (a.seconds * 1000.0).round() as i64;
            // RFC 3339 has four-digit years: a clock past 9999 would write timestamps no client
            // (nor the emulator's own state file) can read back.
            if emulator.clock.now_millis().saturating_add(ms) > CLOCK_END_MS {
                return Err(Reject::field("seconds", "out_of_range", "would move the clock into the year 9999"));
            }
            emulator.advance_clock(ms);
            let expired = emulator.sweep();
            ok_json(200, &clock_view(emulator, expired))
        }
        ("GET", "/_emulator/deliveries") => {
            let get = |k: &str| query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
            let deliveries = emulator.webhooks.log(get("session_id"), get("type"));
            ok_json(200, &Deliveries { deliveries, pending: emulator.webhooks.pending() })
        }
        ("GET", "/_emulator/webhooks") => ok_json(200, &emulator.webhooks.behaviour()),
        ("POST", "/_emulator/webhooks") => {
            let patch: BehaviourPatch = decode(&body)?;
            if patch.duplicate.is_some_and(|d| !(1..=10).contains(&d)) {
                return Err(Reject::field("duplicate", "out_of_range", "must be from 1 to 10 copies"));
            }
            ok_json(200, &emulator.webhooks.set_behaviour(patch))
        }
        (
            _,
            "/_emulator/health"
            | "/_emulator/reset"
            | "/_emulator/faults"
            | "/_emulator/clock"
            | "/_emulator/clock/advance"
            | "/_emulator/deliveries"
            | "/_emulator/webhooks",
        ) => Err(Reject::new(405, "method_not_allowed", format!("{method} is not allowed on {path}"))),
        _ => Err(Reject::new(404, "not_found", format!("no control at {path}"))),
    }
}
