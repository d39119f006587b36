//! `POST /webhooks/kustom`: verify the raw body (every secret, tolerance window), then hand the
//! event to the session's object as a hint. 2xx only once the object has written durably;
//! 5xx when it could not (Kustom retries). Events for sessions this worker did not create are
//! acknowledged without any upstream call — unless some device has an ambiguous create
//! pending, in which case one read decides whether the session is that create's.

use std::rc::Rc;

use kipp_core::api::sessions::decode_session;
use kipp_core::api::sessions::GetSession;
use kipp_core::api::{build_request, Operation};
use kipp_core::event::{parse_event, ParsedEvent};
use kipp_core::problem::Problem;
use kipp_core::webhook::{verify, WebhookError, WebhookHeaders, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use serde::Serialize;
use worker::{Env, Method, Response, Result};

use crate::config::Config;
use crate::http::{self, internal, json, now_ms, problem, Incoming};
use crate::objects::{session, DEVICES, REGISTRY, REGISTRY_NAME, SESSIONS};
use crate::routes::Ctx;
use crate::upstream;

/// Largest delivery accepted.
pub const MAX_WEBHOOK_BODY: usize = 256 * 1024;

#[derive(Debug, Serialize)]
struct Ack<'a> {
    result: &'a str,
}

fn reject(ctx: &mut Ctx, e: WebhookError) -> Response {
    let (status, title) = match e {
        WebhookError::NoMatchingSignature => (401, "Unauthorized"),
        WebhookError::NoSecrets | WebhookError::InvalidSecret { .. } => (500, "Worker Misconfigured"),
        _ => (400, "Bad Request"),
    };
    let p = Problem::new(status, e.code(), title, e.to_string());
    ctx.code.clone_from(&p.code);
    problem(p, &ctx.rid)
}

fn ack(ctx: &mut Ctx, result: &str) -> Response {
    ctx.code = Some(result.to_owned());
    json(200, &Ack { result })
}

/// The `result` of a delivery the session's object took (answered 200): `applied` (the session
/// changed), `unchanged` (a hint that Kustom's session, re-read, did not bear out, or an older
/// event) or `duplicate` (an id already processed). Anything else the object may say later reads
/// as `applied`, the answer before `unchanged` was passed on.
fn acknowledged(result: &str) -> &'static str {
    match result {
        "duplicate" => "duplicate",
        "unchanged" => "unchanged",
        _ => "applied",
    }
}

/// Handles one delivery.
pub async fn handle(req: &Incoming, env: &Env, cfg: &Rc<Config>, ctx: &mut Ctx) -> Result<Response> {
    let (id, ts, sig) = (req.header(HEADER_ID)?, req.header(HEADER_TIMESTAMP)?, req.header(HEADER_SIGNATURE)?);
    let Some(body) = http::body(req, MAX_WEBHOOK_BODY).await? else {
        return Ok(problem(crate::plan::too_large(MAX_WEBHOOK_BODY), &ctx.rid));
    };
    let headers = WebhookHeaders::from_options(id.as_deref(), ts.as_deref(), sig.as_deref());
    let delivery = match verify(&headers, &body, &cfg.webhook_secrets, now_ms() / 1000, cfg.webhook_tolerance_secs) {
        Ok(d) => d,
        Err(e) => return Ok(reject(ctx, e)),
    };
    let webhook_id = delivery.id().to_owned();
    let malformed = |ctx: &mut Ctx, detail: &str| {
        let p = Problem::new(400, "malformed_event", "Bad Request", detail);
        ctx.code.clone_from(&p.code);
        problem(p, &ctx.rid)
    };
    let event = match parse_event(&body) {
        Ok(ParsedEvent::Ipp(e)) => e,
        Ok(_) => return Ok(ack(ctx, "ignored")),
        Err(_) => return Ok(malformed(ctx, "the event body is not an IPP event")),
    };
    if event.merchant_id != cfg.merchant_id {
        return Ok(ack(ctx, "other_merchant"));
    }
    let sid = event.data.session_id.clone();
    // The object gets the verified body as is, with its type: it parses the body only to apply a
    // change (no second encoding).
    // The parser checks UTF-8 only in the strings it reads: invalid bytes in a field it skips
    // reach this point, and are as permanent a fault as a malformed event (400, not a 5xx that
    // Kustom would redeliver).
    let Ok(raw) = String::from_utf8(body) else {
        return Ok(malformed(ctx, "the event body is not UTF-8"));
    };
    for round in 0..2 {
        let rpc: session::SessionRpc = crate::env::rpc_stub(env, SESSIONS, sid.as_str())?;
        // A failed call is the object's write failing (the runtime's output gate turns it into
        // an error of the call) or the object failing: nothing was applied, so 503 like the rest.
        let outcome = match rpc.webhook(&webhook_id, &event.event_type, &raw, &mut ctx.stats).await {
            Ok(o) => o,
            Err(e) => {
                crate::routes::log_error(&e, &ctx.rid);
                break;
            }
        };
        match outcome {
            (200, result) => return Ok(ack(ctx, acknowledged(&result))),
            // Settled either way: the object is asked once more, since a create that finished
            // while this looked (its object made, its key done) leaves no ambiguous key to match;
            // only a second 404 is an unknown session.
            (404, _) if round == 0 => match adopt(env, cfg, ctx, &sid).await? {
                Adoption::Settled => {}
                // Kustom could not say whose session it is: 503, so that Kustom redelivers and
                // the ambiguous create still gets its session (a 200 would end the deliveries).
                Adoption::Undecided => break,
            },
            (404, _) => return Ok(ack(ctx, "unknown_session")),
            _ => break,
        }
    }
    let p = Problem::new(503, "not_applied", "Service Unavailable", "the event could not be applied yet; retry");
    ctx.code.clone_from(&p.code);
    Ok(problem(p, &ctx.rid))
}

/// What [`adopt`] found out about a session the worker does not know.
enum Adoption {
    /// It was a device's ambiguous create, and that create's key now has it; or it is not one of
    /// ours: no create is pending, Kustom does not know it, its device has no create pending, or
    /// the device matched none of its ambiguous keys.
    Settled,
    /// Kustom could not be read (no answer, 5xx, 429, an unreadable session) or the device could
    /// not say: the delivery must be retried.
    Undecided,
}

/// Tries to match an unknown session to a device's ambiguous create (see `objects::device`).
async fn adopt(env: &Env, cfg: &Config, ctx: &mut Ctx, sid: &kipp_core::ids::SessionId) -> Result<Adoption> {
    let mut r = crate::env::stub(env, REGISTRY, REGISTRY_NAME)?
        .fetch_with_request(internal(Method::Get, "/pending", None, &[])?)
        .await?;
    let pending: Vec<String> = crate::http::resp_json(&mut r).await?;
    if pending.is_empty() {
        return Ok(Adoption::Settled);
    }
    let op = GetSession(sid.clone());
    let req = build_request(&op, Some(&cfg.merchant_id)).map_err(|_| worker::Error::RustError("encode".into()))?;
    let Ok(reply) = upstream::call(cfg, GetSession::ID, &req, &mut ctx.stats).await else {
        return Ok(Adoption::Undecided);
    };
    if reply.status == 404 {
        return Ok(Adoption::Settled);
    }
    let Ok(s) = decode_session(reply.status, &reply.body) else { return Ok(Adoption::Undecided) };
    if !pending.iter().any(|m| crate::objects::registry::mark_device(m) == s.device_id.as_str()) {
        return Ok(Adoption::Settled);
    }
    // The object gets the session as Kustom sent it (it reads it with `decode_session` too).
    let raw = String::from_utf8(reply.body).map_err(|_| worker::Error::RustError("body".into()))?;
    let mut r = crate::env::stub(env, DEVICES, s.device_id.as_str())?
        .fetch_with_request(internal(Method::Post, "/adopt", Some(raw), &[])?)
        .await?;
    // The device answers whether it adopted the session; either answer settles it.
    Ok(match crate::http::resp_json::<bool>(&mut r).await {
        Ok(_) => Adoption::Settled,
        Err(_) => Adoption::Undecided,
    })
}
