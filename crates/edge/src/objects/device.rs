//! The device object (one per device): idempotent session creation and the device's current
//! session.
//!
//! Creation is idempotent in two layers:
//! 1. Every create carries a key (the client's `Idempotency-Key` or one derived from token id +
//!    body). The record `Pending → Done(session)` is written durably before and after the one
//!    upstream POST, so a retry with the same key returns the first session.
//! 2. When the POST's outcome is unknown (timeout, connection drop, 5xx), the record turns
//!    *ambiguous* and the object reconciles instead of blindly re-creating: it re-sends the
//!    POST, which is safe because Kustom lets a device hold only one open session: if the first
//!    attempt did create a session, the retry answers 409 `device_busy` and cannot create a
//!    second. The first session is then *adopted* when its `ipp.session.created` webhook
//!    arrives (the worker fetches unknown sessions only while some device has an ambiguous
//!    create), and returned to the retrying client.

use core::cell::RefCell;
use core::time::Duration;
use std::collections::HashSet;

use kipp_core::api::sessions::decode_session;
use kipp_core::api::sessions::{CreateSession, CreateSessionRequest, Session};
use kipp_core::api::{build_request, Operation};
use kipp_core::ids::{DeviceId, LocationId};
use kipp_core::problem::Problem;
use worker::{durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{internal, json, now_ms, store_get, store_get_str};
use crate::idem::{CartFingerprint, CreateRecord, PENDING_MAX_AGE_MS};
use crate::objects::{registry, session, REGISTRY, REGISTRY_NAME, SESSIONS};
use crate::upstream::{self, Stats};

/// `POST /create`: the body is the validated cart (`CreateSessionRequest` JSON), the rest
/// travels in headers (no wrapper type to encode and decode on both sides).
#[derive(Debug)]
pub struct Create {
    /// Storage key (see `idem::storage_key`).
    pub key: String,
    /// Body fingerprint.
    pub body_hash: String,
    /// The validated cart.
    pub body: CreateSessionRequest,
    /// `location_id` query parameter to send.
    pub query_location: Option<LocationId>,
    /// The device's location (for scope checks on later reads).
    pub device_location: Option<LocationId>,
}

/// `x-kipp-key` of `POST /create`: the storage key.
pub const H_KEY: &str = "x-kipp-key";
/// `x-kipp-body-hash` of `POST /create`: the body fingerprint.
pub const H_BODY_HASH: &str = "x-kipp-body-hash";
/// `x-kipp-query-location` of `POST /create` (absent when none).
pub const H_QUERY_LOCATION: &str = "x-kipp-query-location";
/// `x-kipp-device-location` of `POST /create` (absent when unknown).
pub const H_DEVICE_LOCATION: &str = "x-kipp-device-location";
/// The answer's kind: `session` (the body is the session JSON) or `problem` (problem JSON).
pub const H_OUTCOME: &str = "x-kipp-outcome";
/// `1` when an earlier attempt's session was returned.
pub const H_REPLAYED: &str = "x-kipp-replayed";
/// Seconds the client should wait before retrying (absent when none).
pub const H_RETRY_AFTER: &str = "x-kipp-retry-after";
/// Upstream attempts made.
pub const H_ATTEMPTS: &str = "x-kipp-attempts";
/// Upstream time, ms.
pub const H_UPSTREAM_MS: &str = "x-kipp-upstream-ms";

/// The answer to `POST /create`, sent as a status-200 response: the session or problem JSON as
/// the body, the rest in headers (see [`Outcome::response`], [`Outcome::read`]).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The session, on success.
    pub session: Option<Session>,
    /// True when an earlier attempt's session was returned.
    pub replayed: bool,
    /// The problem, on failure.
    pub problem: Option<Problem>,
    /// Seconds the client should wait before retrying.
    pub retry_after: Option<u32>,
    /// Upstream attempts.
    pub attempts: u32,
    /// Upstream time, ms.
    pub upstream_ms: u64,
}

/// [`Outcome`] as the worker reads it: the session JSON is passed on to the client unread.
#[derive(Debug, Default)]
pub struct OutcomeReply {
    /// The session JSON, on success.
    pub session_json: Option<Vec<u8>>,
    /// True when an earlier attempt's session was returned.
    pub replayed: bool,
    /// The problem, on failure.
    pub problem: Option<Problem>,
    /// Seconds the client should wait before retrying.
    pub retry_after: Option<u32>,
    /// Upstream attempts.
    pub attempts: u32,
    /// Upstream time, ms.
    pub upstream_ms: u64,
}

impl Outcome {
    fn response(&self) -> Result<Response> {
        let (kind, body) = match (&self.session, &self.problem) {
            (Some(s), _) => ("session", serde_json::to_vec(s)?),
            (None, Some(p)) => ("problem", serde_json::to_vec(p)?),
            (None, None) => ("none", Vec::new()),
        };
        let r = crate::http::raw_json(200, body);
        let h = r.headers();
        h.set(H_OUTCOME, kind)?;
        if self.replayed {
            h.set(H_REPLAYED, "1")?;
        }
        if let Some(ra) = self.retry_after {
            h.set(H_RETRY_AFTER, &ra.to_string())?;
        }
        h.set(H_ATTEMPTS, &self.attempts.to_string())?;
        h.set(H_UPSTREAM_MS, &self.upstream_ms.to_string())?;
        Ok(r)
    }

    /// Reads the object's answer to `POST /create`.
    pub async fn read(resp: &mut Response) -> Result<OutcomeReply> {
        let h = resp.headers();
        let num = |name: &str| -> Result<Option<u64>> { Ok(h.get(name)?.and_then(|v| v.parse::<u64>().ok())) };
        let kind = h.get(H_OUTCOME)?.unwrap_or_default();
        let mut out = OutcomeReply {
            replayed: h.get(H_REPLAYED)?.is_some(),
            retry_after: num(H_RETRY_AFTER)?.and_then(|v| u32::try_from(v).ok()),
            attempts: num(H_ATTEMPTS)?.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            upstream_ms: num(H_UPSTREAM_MS)?.unwrap_or(0),
            ..OutcomeReply::default()
        };
        let body = crate::http::resp_bytes(resp).await?;
        match kind.as_str() {
            "session" => out.session_json = Some(body),
            "problem" => out.problem = Some(crate::http::from_json(&body)?),
            _ => {}
        }
        Ok(out)
    }
}

impl Create {
    /// The internal request for this create.
    pub fn request(
        key: &str,
        body_hash: &str,
        body: &CreateSessionRequest,
        query_location: Option<&LocationId>,
        device_location: Option<&LocationId>,
    ) -> Result<Request> {
        let mut extra = vec![(H_KEY, key), (H_BODY_HASH, body_hash)];
        if let Some(l) = query_location {
            extra.push((H_QUERY_LOCATION, l.as_str()));
        }
        if let Some(l) = device_location {
            extra.push((H_DEVICE_LOCATION, l.as_str()));
        }
        internal(Method::Post, "/create", Some(serde_json::to_string(body)?), &extra)
    }

    async fn read(req: &mut Request) -> Result<Self> {
        let h = req.headers();
        let loc = |name: &str| -> Result<Option<LocationId>> {
            match h.get(name)? {
                None => Ok(None),
                Some(v) => LocationId::parse(&v).map(Some).map_err(|e| worker::Error::RustError(e.reason.to_owned())),
            }
        };
        let key = super::required_header(req, H_KEY)?;
        let body_hash = super::required_header(req, H_BODY_HASH)?;
        let query_location = loc(H_QUERY_LOCATION)?;
        let device_location = loc(H_DEVICE_LOCATION)?;
        let body = crate::http::req_json(req).await?;
        Ok(Self { key, body_hash, body, query_location, device_location })
    }
}

/// How long an ambiguous create waits for its first call's session (adopted from the created
/// webhook) before re-sending: covers a call that reaches Kustom up to this long after the
/// worker's own upstream timeout gave up on it.
const LATE_ANSWER_GRACE_MS: u64 = 4_000;

/// The device Durable Object (`fetch` only: no alarm, WebSocket or socket handlers are exported).
#[allow(missing_debug_implementations)] // State and Env have no Debug
#[durable_object(fetch)]
pub struct DeviceObject {
    state: State,
    env: Env,
    inflight: RefCell<HashSet<String>>,
    /// Keys whose create is on its way to Kustom right now (see `idem::adoption_rank`).
    posting: RefCell<HashSet<String>>,
}

fn fingerprint(b: &CreateSessionRequest) -> CartFingerprint {
    CartFingerprint {
        order_amount: b.order_amount.minor(),
        currency: b.purchase_currency.code().to_owned(),
        reference: b.merchant_reference1.clone(),
    }
}

fn fail(p: Problem, retry_after: Option<u32>, stats: Stats) -> Outcome {
    Outcome { problem: Some(p), retry_after, attempts: stats.attempts, upstream_ms: stats.ms, ..Outcome::default() }
}

enum Attempt {
    Created(Session),
    /// Refused, with Kustom's `Retry-After` (s) if it sent one.
    Definite(Problem, Option<u32>),
    Busy(Problem),
    /// Kustom answered 500 or 503 (or unreadably): done with the call, outcome unknown.
    Unknown(Problem),
    /// No answer (timeout, dropped connection), or a gateway's 502 or 504 (Kustom's own
    /// gateway answers 504 at its timeout while the call may still run behind it): the call may
    /// still open a session later.
    Lost(Problem),
}

impl DeviceObject {
    async fn attempt(&self, c: &Create, stats: &mut Stats) -> Attempt {
        let Ok(cfg) = crate::env::config(&self.env) else {
            return Attempt::Definite(Problem::new(500, "config", "Internal Server Error", "configuration"), None);
        };
        let op = CreateSession { body: c.body.clone(), location_id: c.query_location.clone() };
        let Ok(req) = build_request(&op, Some(&cfg.merchant_id)) else {
            return Attempt::Definite(Problem::new(500, "encode", "Internal Server Error", "could not encode"), None);
        };
        self.posting.borrow_mut().insert(c.key.clone());
        let reply = upstream::call_with(&cfg, CreateSession::ID, &req, false, stats).await;
        self.posting.borrow_mut().remove(&c.key);
        match reply {
            Err(f) => Attempt::Lost(f.problem()),
            Ok(reply) if reply.ok() => match decode_session(reply.status, &reply.body) {
                Ok(s) => Attempt::Created(s),
                Err(_) => Attempt::Unknown(Problem::new(502, "upstream_invalid", "Bad Gateway", "unreadable session")),
            },
            Ok(reply) if reply.status == 409 => Attempt::Busy(upstream::reply_problem(&reply)),
            Ok(reply) if matches!(reply.status, 502 | 504) => Attempt::Lost(upstream::reply_problem(&reply)),
            Ok(reply) if reply.status >= 500 => Attempt::Unknown(upstream::reply_problem(&reply)),
            Ok(reply) => {
                let retry_after = reply.retry_after_ms.map(|ms| ms.div_ceil(1000));
                Attempt::Definite(upstream::reply_problem(&reply), retry_after)
            }
        }
    }

    /// Stores a `Pending` record; an ambiguous one is also listed under `amb:` for [`Self::adopt`].
    async fn record_pending(&self, key: &str, rec: &CreateRecord) -> Result<()> {
        let index = matches!(rec, CreateRecord::Pending { ambiguous: true, .. }).then(|| ambiguous_index(key));
        self.put_with_index(key, rec, index.as_deref()).await
    }

    /// Stores a `Done` record, listed under `done:<time>` so that it is removed once the
    /// retention has passed, and no longer ambiguous.
    async fn record_done(&self, key: &str, body_hash: String, session: &Session) -> Result<()> {
        let now = now_ms();
        let rec = CreateRecord::Done { body_hash, session: Box::new(session.clone()), done_ms: Some(now) };
        self.put_with_index(key, &rec, Some(&done_index(now, key))).await?;
        // A stale `amb:` entry left by a crash here is harmless: `adopt` drops it.
        self.state.storage().delete(&ambiguous_index(key)).await?;
        Ok(())
    }

    /// Writes a record and its index entry in one `put`, so neither exists without the other
    /// (a `Pending` without its `amb:` entry could not be adopted; a `Done` without its
    /// `done:` entry would never be purged).
    async fn put_with_index(&self, key: &str, rec: &CreateRecord, index: Option<&str>) -> Result<()> {
        let values = js_sys::Object::new();
        js_sys::Reflect::set(&values, &key.into(), &serde_json::to_string(rec)?.into())?;
        if let Some(index) = index {
            js_sys::Reflect::set(&values, &index.into(), &"".into())?;
        }
        self.state.storage().put_multiple_raw(values).await
    }

    /// Forgets a create that definitely failed.
    async fn forget(&self, key: &str) -> Result<()> {
        self.state.storage().delete_multiple(vec![key.to_owned(), ambiguous_index(key)]).await?;
        Ok(())
    }

    /// Removes up to [`PURGE_BATCH`] `Done` records older than the retention (oldest first).
    /// Spread over creates, so there is no alarm to run and no unbounded pass.
    async fn purge_expired(&self) -> Result<()> {
        let retention_ms = match crate::env::config(&self.env) {
            Ok(cfg) => i64::from(cfg.idempotency_retention_secs) * 1000,
            Err(_) => return Ok(()),
        };
        let end = done_index(now_ms() - retention_ms, "");
        let expired = list(&self.state, DONE_PREFIX, Some(&end), Some(PURGE_BATCH)).await?;
        let mut doomed = Vec::new();
        for entry in expired.keys() {
            let Some(index) = entry.ok().and_then(|k| k.as_string()) else { continue };
            // `done:<13 digits>:<key>`
            if let Some(key) = index.get(DONE_PREFIX.len() + 14..) {
                // A derived key starts a new sale once its create is done (never replayed), so the
                // key may hold a newer sale's record now (its `Pending`, or its `Done` written
                // after this entry): only this old entry goes then, or the newer sale's record,
                // and with it its adoption or its answer, would be lost. A record that cannot be
                // read goes as before.
                let newer = match store_get::<CreateRecord>(&self.state.storage(), key).await {
                    Ok(Some(CreateRecord::Pending { .. })) => true,
                    // Its own entry, written with it, names it (same width: they sort by time).
                    Ok(Some(CreateRecord::Done { done_ms: Some(at), .. })) => done_index(at, key) > index,
                    _ => false,
                };
                if !newer {
                    doomed.push(key.to_owned());
                    doomed.push(ambiguous_index(key));
                }
            }
            doomed.push(index);
        }
        if !doomed.is_empty() {
            self.state.storage().delete_multiple(doomed).await?;
        }
        Ok(())
    }

    /// Records the create's session and clears the device's pending mark in the registry.
    /// The session's object first (`/init` is idempotent): a key recorded as done must never
    /// replay a session that no object follows (its webhooks would be unknown, its screen blind).
    async fn finish(&self, c: &Create, session: &Session) -> Result<()> {
        self.init_session(session, c.device_location.clone()).await?;
        self.record_done(&c.key, c.body_hash.clone(), session).await?;
        self.state.storage().put_raw("current", session.session_id.as_str()).await?;
        self.set_pending(&c.body.device_id, &c.key, false).await
    }

    async fn init_session(&self, session: &Session, location_id: Option<LocationId>) -> Result<()> {
        let stub = crate::env::stub(&self.env, SESSIONS, session.session_id.as_str())?;
        let body = serde_json::to_string(&session::Init { session: session.clone(), location_id })?;
        let resp = stub.fetch_with_request(internal(Method::Post, "/init", Some(body), &[])?).await?;
        if resp.status_code() != 200 {
            return Err(worker::Error::RustError("session init failed".into()));
        }
        Ok(())
    }

    /// Marks one create of the device as ambiguous in the registry (`add`), so that webhooks
    /// of the device's unknown sessions are read for adoption, or unmarks it. A mark per key,
    /// not per device: calls for one key are made one after the other (each awaited), and calls
    /// for different keys, which may cross in flight (each gets its own stub, and calls over
    /// different stubs have no order), touch different marks. One key's outcome then never
    /// unmarks another's ambiguous create. A mark left by a crash expires with the create
    /// ([`crate::idem::PENDING_MAX_AGE_MS`]), which costs reads, never a session.
    async fn set_pending(&self, device_id: &DeviceId, key: &str, add: bool) -> Result<()> {
        crate::env::stub(&self.env, REGISTRY, REGISTRY_NAME)?
            .fetch_with_request(registry::pending_request(device_id.as_str(), key, add)?)
            .await?;
        Ok(())
    }

    async fn done_for(&self, key: &str) -> Result<Option<Session>> {
        Ok(match store_get::<CreateRecord>(&self.state.storage(), key).await? {
            Some(CreateRecord::Done { session, .. }) => Some(*session),
            _ => None,
        })
    }

    /// Waits up to [`LATE_ANSWER_GRACE_MS`] for the key's session to be adopted from its webhook.
    async fn adopted_within_grace(&self, key: &str) -> Result<Option<Session>> {
        for _ in 0..LATE_ANSWER_GRACE_MS / 200 {
            if let Some(s) = self.done_for(key).await? {
                return Ok(Some(s));
            }
            Delay::from(Duration::from_millis(200)).await;
        }
        self.done_for(key).await
    }

    /// Reconciles an ambiguous create: first give a call that may still land upstream time to
    /// show up as an adopted webhook, then re-send (safe: one open session per device) and, if the
    /// device is busy, wait a little for the first session to be adopted from its webhook.
    async fn reconcile(&self, c: &Create, stats: &mut Stats, lost: bool) -> Result<Outcome> {
        // A re-send that succeeds while a lost call is still on its way to Kustom leaves that
        // call to open a second session as soon as the first one ends (a quick tap): wait first.
        if lost {
            if let Some(s) = self.adopted_within_grace(&c.key).await? {
                return Ok(Outcome { session: Some(s), replayed: true, ..Outcome::default() });
            }
        }
        for round in 0..3u32 {
            if let Some(s) = self.done_for(&c.key).await? {
                return Ok(Outcome { session: Some(s), replayed: true, ..Outcome::default() });
            }
            match self.attempt(c, stats).await {
                Attempt::Created(s) => {
                    self.finish(c, &s).await?;
                    return Ok(Outcome {
                        session: Some(s),
                        attempts: stats.attempts,
                        upstream_ms: stats.ms,
                        ..Outcome::default()
                    });
                }
                // Kustom refused the cart itself: so it did the first time, and nothing was opened.
                Attempt::Definite(p, _) if matches!(p.status, Some(400 | 422)) => {
                    self.forget(&c.key).await?;
                    self.set_pending(&c.body.device_id, &c.key, false).await?;
                    return Ok(fail(p, None, *stats));
                }
                // Any other refusal (429, an auth failure, …) is about this re-send only: the first
                // call may still have opened a session, so the key stays ambiguous (adoptable) and
                // the client is told to try again.
                Attempt::Definite(p, retry_after) => return Ok(fail(p, Some(retry_after.unwrap_or(2).max(2)), *stats)),
                Attempt::Busy(p) => {
                    // Probably our own first session: wait for its webhook to adopt it.
                    for _ in 0..15 {
                        Delay::from(Duration::from_millis(200)).await;
                        if let Some(s) = self.done_for(&c.key).await? {
                            return Ok(Outcome {
                                session: Some(s),
                                replayed: true,
                                attempts: stats.attempts,
                                upstream_ms: stats.ms,
                                ..Outcome::default()
                            });
                        }
                    }
                    return Ok(fail(p, Some(2), *stats));
                }
                Attempt::Unknown(p) => {
                    if round == 2 {
                        return Ok(fail(p, Some(2), *stats));
                    }
                    Delay::from(Duration::from_millis(300 * u64::from(round + 1))).await;
                }
                Attempt::Lost(p) => {
                    if let Some(s) = self.adopted_within_grace(&c.key).await? {
                        return Ok(Outcome { session: Some(s), replayed: true, ..Outcome::default() });
                    }
                    if round == 2 {
                        return Ok(fail(p, Some(2), *stats));
                    }
                }
            }
        }
        Ok(fail(Problem::new(504, "upstream_timeout", "Gateway Timeout", "outcome unknown"), Some(2), *stats))
    }

    async fn create(&self, c: Create) -> Result<Outcome> {
        self.purge_expired().await?;
        let storage = self.state.storage();
        let mut stats = Stats::default();
        match store_get::<CreateRecord>(&storage, &c.key).await? {
            // A key derived from the body (the client sent none) is never replayed once the
            // create finished: two identical carts are two sales, and replaying the first
            // (maybe already paid) session would show "paid" for a customer who did not pay.
            // Kustom's one-open-session-per-device rule still stops a resent create from
            // opening a second session while the first is open (409 device_busy).
            Some(CreateRecord::Done { body_hash, session, .. }) if !crate::idem::is_derived(&c.key) => {
                if body_hash != c.body_hash {
                    return Ok(fail(key_reused(), None, stats));
                }
                return Ok(Outcome { session: Some(*session), replayed: true, ..Outcome::default() });
            }
            Some(CreateRecord::Pending { body_hash, started_ms, ambiguous, fingerprint }) => {
                if body_hash != c.body_hash {
                    return Ok(fail(key_reused(), None, stats));
                }
                if self.inflight.borrow().contains(&c.key) {
                    return Ok(fail(
                        Problem::new(
                            409,
                            "idempotency_in_progress",
                            "Conflict",
                            "a create with this key is in progress",
                        ),
                        Some(1),
                        stats,
                    ));
                }
                if now_ms() - started_ms < PENDING_MAX_AGE_MS {
                    // Not in flight in this instance: the attempt that wrote the record ended
                    // without recording an outcome (the object was reset, or its process died
                    // mid-call), so its create may have reached Kustom. Mark it ambiguous, so the
                    // first session's `created` webhook is adopted instead of a second session
                    // being opened once the first one ends. In flight from here, before any
                    // await: a repeat arriving meanwhile must get 409, not a second attempt.
                    self.inflight.borrow_mut().insert(c.key.clone());
                    let r = async {
                        if !ambiguous {
                            let amb = CreateRecord::Pending { body_hash, started_ms, ambiguous: true, fingerprint };
                            self.record_pending(&c.key, &amb).await?;
                            self.set_pending(&c.body.device_id, &c.key, true).await?;
                        }
                        // No attempt in flight here: the one that wrote the record may be lost.
                        self.reconcile(&c, &mut stats, true).await
                    }
                    .await;
                    self.inflight.borrow_mut().remove(&c.key);
                    return r;
                }
                // Too old to matter: start afresh.
            }
            Some(CreateRecord::Done { .. }) | None => {}
        }
        // Adoptable (ambiguous) from the start, with the registry told before the call: under
        // load the session's `created` webhook can reach the worker before this call's answer
        // (or instead of it, when the answer is lost), and it must find this key to join.
        let pending = CreateRecord::Pending {
            body_hash: c.body_hash.clone(),
            started_ms: now_ms(),
            ambiguous: true,
            fingerprint: fingerprint(&c.body),
        };
        // In flight before the first await (the registry call lets other requests in): a repeat
        // with the same key meanwhile gets 409 `idempotency_in_progress`, never a second attempt.
        self.inflight.borrow_mut().insert(c.key.clone());
        let result = async {
            self.record_pending(&c.key, &pending).await?;
            self.set_pending(&c.body.device_id, &c.key, true).await?;
            match self.attempt(&c, &mut stats).await {
                Attempt::Created(s) => {
                    // The webhook may have adopted it already: the same session either way.
                    self.finish(&c, &s).await?;
                    Ok(Outcome {
                        session: Some(s),
                        attempts: stats.attempts,
                        upstream_ms: stats.ms,
                        ..Outcome::default()
                    })
                }
                Attempt::Definite(p, retry_after) => {
                    self.forget(&c.key).await?;
                    self.set_pending(&c.body.device_id, &c.key, false).await?;
                    Ok(fail(p, retry_after, stats))
                }
                Attempt::Busy(p) => {
                    self.forget(&c.key).await?;
                    self.set_pending(&c.body.device_id, &c.key, false).await?;
                    Ok(fail(p, None, stats))
                }
                Attempt::Unknown(_) => self.reconcile(&c, &mut stats, false).await,
                Attempt::Lost(_) => self.reconcile(&c, &mut stats, true).await,
            }
        }
        .await;
        self.inflight.borrow_mut().remove(&c.key);
        result
    }

    /// Adopts a session seen in a webhook into the ambiguous create it belongs to. Only the
    /// keys listed under `amb:` are read (a handful at most), not every record of the device.
    /// The device's current session never comes here: `/adopt` refuses it first.
    async fn adopt(&self, s: Session, location_id: Option<LocationId>) -> Result<bool> {
        let storage = self.state.storage();
        let ambiguous = list(&self.state, AMBIGUOUS_PREFIX, None, None).await?;
        // The matching create by `idem::adoption_rank`: one whose answer was lost before one
        // still waiting for its answer, then the newest (an older one may have been given up).
        let mut found: Option<((bool, i64), String, String)> = None;
        for entry in ambiguous.keys() {
            let Some(index) = entry.ok().and_then(|k| k.as_string()) else { continue };
            let Some(key) = index.get(AMBIGUOUS_PREFIX.len()..) else { continue };
            match store_get::<CreateRecord>(&storage, key).await? {
                Some(CreateRecord::Pending { body_hash, started_ms, ambiguous: true, fingerprint })
                    if now_ms() - started_ms < PENDING_MAX_AGE_MS =>
                {
                    let rank = crate::idem::adoption_rank(self.posting.borrow().contains(key), started_ms);
                    if fingerprint.matches(&s) && found.as_ref().is_none_or(|(r, ..)| rank > *r) {
                        found = Some((rank, key.to_owned(), body_hash));
                    }
                }
                // A create given up long ago (its client stopped asking; its session would have
                // expired), or a stale index entry (its record finished or was removed). Its mark
                // in the registry, if a crash left one, expires with it.
                Some(CreateRecord::Pending { ambiguous: true, .. }) => self.forget(key).await?,
                _ => {
                    storage.delete(&index).await?;
                }
            }
        }
        if let Some((_, key, body_hash)) = &found {
            self.init_session(&s, location_id).await?;
            self.record_done(key, body_hash.clone(), &s).await?;
            // An adoption can come minutes late (Kustom redelivering while it could not be read):
            // a session that has ended by then must not take the place of one opened since.
            if !s.status.is_terminal() {
                storage.put_raw("current", s.session_id.as_str()).await?;
            }
            self.set_pending(&s.device_id, key, false).await?;
        }
        Ok(found.is_some())
    }
}

/// Storage prefix of the index of ambiguous `Pending` keys: `amb:<key>`.
const AMBIGUOUS_PREFIX: &str = "amb:";
/// Storage prefix of the index of `Done` records by time: `done:<13-digit ms>:<key>`.
const DONE_PREFIX: &str = "done:";
/// Expired `Done` records removed per create, at most.
const PURGE_BATCH: u32 = 16;

fn ambiguous_index(key: &str) -> String {
    [AMBIGUOUS_PREFIX, key].concat()
}

/// `done:<ms, 13 digits>:<key>`: zero-padded, so keys sort by time (until the year 2286).
fn done_index(at_ms: i64, key: &str) -> String {
    format!("{DONE_PREFIX}{:013}:{key}", at_ms.max(0))
}

/// `storage.list({prefix, end, limit})`, called directly: workers-rs' `list_with_options` encodes
/// its `ListOptions` through serde-wasm-bindgen, a second serializer in the bundle for one object.
pub(crate) async fn list(state: &State, prefix: &str, end: Option<&str>, limit: Option<u32>) -> Result<js_sys::Map> {
    let opts = js_sys::Object::new();
    js_sys::Reflect::set(&opts, &"prefix".into(), &prefix.into())?;
    if let Some(end) = end {
        js_sys::Reflect::set(&opts, &"end".into(), &end.into())?;
    }
    if let Some(limit) = limit {
        js_sys::Reflect::set(&opts, &"limit".into(), &limit.into())?;
    }
    let promise = state.as_raw().storage()?.list_with_options(opts)?;
    let map = wasm_bindgen_futures::JsFuture::from(promise).await?;
    Ok(wasm_bindgen::JsCast::dyn_into::<js_sys::Map>(map)?)
}

impl DurableObject for DeviceObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, inflight: RefCell::new(HashSet::new()), posting: RefCell::new(HashSet::new()) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/create") => {
                let c = Create::read(&mut req).await?;
                let out = self.create(c).await?;
                out.response()
            }
            (Method::Get, "/current") => match store_get_str(&self.state.storage(), "current").await? {
                Some(id) => Ok(json(200, &id)),
                None => Ok(json(404, &"none")),
            },
            (Method::Post, "/adopt") => {
                // The body is the session as Kustom sent it, read as every session answer is.
                let Ok(s) = decode_session(200, &req.bytes().await?) else { return Ok(json(400, &false)) };
                // The device's current session was a create's already: its object may have
                // forgotten it (past the session's retention) and a late webhook of it come here,
                // but it must not be taken for a newer sale of the same cart, whose own session
                // would then go unadopted. (Read before `adopt` lists the `amb:` entries: an
                // adoption changes `current` only after removing its key's entry.)
                let current = store_get_str(&self.state.storage(), "current").await?;
                let ok = current.as_deref() != Some(s.session_id.as_str()) && self.adopt(s, None).await?;
                Ok(json(200, &ok))
            }
            _ => Ok(json(404, &"no such device route")),
        }
    }
}

/// 422 for an `Idempotency-Key` sent again with another cart (or for another device).
pub(crate) fn key_reused() -> Problem {
    Problem::new(
        422,
        "idempotency_key_reused",
        "Unprocessable Entity",
        "this Idempotency-Key was used with another body",
    )
}
