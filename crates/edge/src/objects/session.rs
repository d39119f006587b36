//! The session object (one per session created through this worker): latest state, history,
//! webhook dedupe, WebSocket subscribers (hibernation API), long-poll waiters, and the
//! reconciliation alarm.
//!
//! Called by the worker only, never reachable from outside: the RPC methods `kippGet` and
//! `kippWebhook` (the hot paths, [`SessionRpc`]) and the internal routes `POST /init`,
//! `POST /observe`, `GET /events`. Answers other than `/events` carry only an
//! `x-kipp-result` header.

use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::rc::Rc;

use futures_channel::oneshot;
use futures_util::future::select;
use kipp_core::api::sessions::decode_session;
use kipp_core::api::sessions::{GetSession, Session};
use kipp_core::api::{build_request, Operation};
use kipp_core::event::{parse_event, EventType, ParsedEvent};
use kipp_core::ids::{LocationId, SessionId};
use kipp_core::session::SessionStatus;
use kipp_derive::MapDeserialize;
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{
    durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::coalesce::Coalescer;
use crate::http::{json, now_ms, query_param, raw_json, store_get};
use crate::objects::device::list;
use crate::record::{
    next_reconcile_ms, purge_at_ms, SessionRecord, WebhookMemory, MAX_REMEMBERED_WEBHOOKS, WEBHOOK_DEDUPE_TTL_MS,
};
use crate::upstream::{self, Stats};

/// Most subscribers per session.
pub const MAX_SUBSCRIBERS: usize = 64;
/// Most subscribers per token on one session.
pub const MAX_SUBSCRIBERS_PER_TOKEN: usize = 8;
/// Longest long-poll wait, s.
pub const MAX_WAIT_SECS: u64 = 25;

/// `POST /init`.
#[derive(Debug, Serialize, MapDeserialize)]
pub struct Init {
    /// The session as created.
    pub session: Session,
    /// The device's location.
    pub location_id: Option<LocationId>,
}

/// The session Durable Object.
#[allow(missing_debug_implementations)] // State and Env have no Debug
#[durable_object]
pub struct SessionObject {
    state: State,
    env: Env,
    /// Long-poll waiters, each with its token's id (for the per-token cap).
    waiters: RefCell<Vec<(String, oneshot::Sender<()>)>>,
    record: RefCell<Option<SessionRecord>>,
    /// The record's session as JSON, encoded once per change (GET session sends it as is).
    session_json: RefCell<String>,
    /// The processed webhook ids (dedupe), read from the ring once per object lifetime.
    seen: RefCell<WebhookMemory>,
    /// Sequence number of the next remembered webhook id (see [`WH_PREFIX`]).
    wh_seq: Cell<u64>,
    /// The ids in `seen` came from a record written before the ring existed (inside `rec`):
    /// the next save writes them all to the ring.
    wh_legacy: Cell<bool>,
    /// Deliveries' re-reads from Kustom: those arriving during one share the next
    /// ([`Coalescer`]), so a burst of deliveries does not become a burst of reads.
    rereads: Coalescer<Reread>,
}

/// A delivery's re-read: the body of Kustom's answer (None when the call failed or was refused)
/// and the call's time and attempts.
type Reread = (Option<Rc<Vec<u8>>>, Stats);

/// Processed webhook ids are not stored inside `rec` (whose JSON would then be re-encoded and
/// rewritten with up to 256 ids for every delivery) but one per key in a ring of
/// [`MAX_REMEMBERED_WEBHOOKS`] slots: `wh:<seq % 256>` = `<seq> <ms> <id>`. A delivery writes its
/// one slot, overwriting the oldest id once the ring is full; `rec` is written in the same
/// `put` (atomic) only when the delivery changed it. Read back once per object lifetime.
pub const WH_PREFIX: &str = "wh:";

/// The record minus what a delivery that changed nothing touches (`checked_ms`).
fn same_durable(a: &SessionRecord, b: &SessionRecord) -> bool {
    a.session == b.session
        && a.state == b.state
        && a.history == b.history
        && a.device_id == b.device_id
        && a.location_id == b.location_id
        && a.created_ms == b.created_ms
}

/// The ring slot of remembered webhook id number `seq`: its key and `<seq> <ms> <id>`.
fn slot_entry(seq: u64, ms: i64, id: &str) -> (String, String) {
    (format!("{WH_PREFIX}{}", seq % MAX_REMEMBERED_WEBHOOKS as u64), format!("{seq} {ms} {id}"))
}

/// `<seq> <ms> <id>` → parts.
fn parse_slot(v: &str) -> Option<(u64, i64, String)> {
    let mut it = v.splitn(3, ' ');
    let seq = it.next()?.parse().ok()?;
    let ms = it.next()?.parse().ok()?;
    Some((seq, ms, it.next()?.to_owned()))
}

/// The part of a re-read session that decides whether a delivery changes anything.
#[derive(MapDeserialize)]
struct SessionHead {
    session_id: SessionId,
    status: SessionStatus,
}

/// The facts the worker needs for scope checks, sent beside the session JSON by `kippGet` as
/// one string (one conversion per side instead of three): `<device id> <status> [<location id>]`
/// (ids and statuses never contain spaces).
#[derive(Debug)]
pub struct Facts {
    /// The session's device.
    pub device_id: String,
    /// The session's status.
    pub status: String,
    /// The device's location when the session was created (absent when unknown).
    pub location_id: Option<String>,
}

impl Facts {
    /// Reads the facts string.
    #[must_use]
    pub fn parse(v: &str) -> Self {
        let mut it = v.split(' ');
        let device_id = it.next().unwrap_or_default().to_owned();
        let status = it.next().unwrap_or_default().to_owned();
        let location_id = it.next().filter(|l| !l.is_empty()).map(str::to_owned);
        Self { device_id, status, location_id }
    }
}
/// The result of an internal call (`applied`, `unchanged`, `duplicate`, …).
pub const H_RESULT: &str = "x-kipp-result";
/// `GET /events`: the subscriber's token id.
pub const H_JTI: &str = "x-kipp-jti";
/// `GET /events`: the ids of the tokens that minted the subscriber's, space-separated (may be absent).
pub const H_BY: &str = "x-kipp-by";
/// `GET /events`: the subscriber's token expiry (unix seconds).
pub const H_EXP: &str = "x-kipp-exp";
/// Close code of a WebSocket whose token expired or was revoked (4000–4999: application codes;
/// 4401 reads as HTTP 401). The browser reconnects, and the new upgrade answers 401.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

/// A socket's tag value (`jti:…`, `exp:…`).
fn tag<'a>(tags: &'a [String], prefix: &str) -> Option<&'a str> {
    tags.iter().find_map(|t| t.strip_prefix(prefix))
}

fn result(status: u16, result: &str) -> Response {
    let r = raw_json(status, Vec::new());
    let _ = r.headers().set(H_RESULT, result);
    r
}

impl SessionObject {
    /// Loads the record into memory (once per object lifetime); false when the session is unknown.
    async fn load(&self) -> Result<bool> {
        if self.record.borrow().is_some() {
            return Ok(true);
        }
        let r: Option<SessionRecord> = store_get(&self.state.storage(), "rec").await?;
        let Some(mut r) = r else { return Ok(false) };
        // The ring, oldest first: slot `seq % N` holds the latest id of its residue class, so the
        // slot after the newest one holds the oldest (no sort needed).
        let values = js_sys::Array::from(&list(&self.state, WH_PREFIX, None, None).await?.values());
        if self.record.borrow().is_some() {
            return Ok(true);
        }
        let n = MAX_REMEMBERED_WEBHOOKS;
        let mut slots: Vec<Option<(u64, i64, String)>> = vec![None; n];
        for v in values.iter() {
            if let Some(e) = v.as_string().as_deref().and_then(parse_slot) {
                let i = (e.0 % n as u64) as usize;
                slots[i] = Some(e);
            }
        }
        if let Some(newest) = slots.iter().flatten().map(|e| e.0).max() {
            let now = now_ms();
            let start = ((newest + 1) % n as u64) as usize;
            self.wh_seq.set(newest + 1);
            self.wh_legacy.set(false);
            *self.seen.borrow_mut() = WebhookMemory::from_oldest_first(
                (0..n)
                    .filter_map(|i| slots[(start + i) % n].take())
                    .filter(|(_, ms, _)| now - ms < WEBHOOK_DEDUPE_TTL_MS)
                    .map(|(_, ms, id)| (id, ms)),
            );
        } else {
            self.wh_seq.set(0);
            self.wh_legacy.set(!r.webhooks.is_empty());
            *self.seen.borrow_mut() = WebhookMemory::from_oldest_first(r.webhooks.drain(..));
        }
        if self.record.borrow().is_none() {
            *self.session_json.borrow_mut() = serde_json::to_string(&r.session)?;
            *self.record.borrow_mut() = Some(r);
        }
        Ok(true)
    }

    /// A copy of the record to change (None when unknown).
    async fn load_owned(&self) -> Result<Option<SessionRecord>> {
        if !self.load().await? {
            return Ok(None);
        }
        Ok(self.record.borrow().clone())
    }

    /// Writes the record and waits for the write (the routes `/init` and `/observe` and the
    /// alarm, where a failed write must fail the call or the alarm, which is then retried).
    async fn save(&self, r: SessionRecord) -> Result<()> {
        JsFuture::from(self.save_with(r, None)?).await?;
        Ok(())
    }

    /// Writes the record and, for a delivery, its webhook id (see [`WH_PREFIX`]), in one `put`,
    /// and returns the `put`'s promise. A delivery that changed nothing else writes its id only.
    ///
    /// A delivery does not await the promise: the runtime's output gate holds every reply and
    /// message the object sends until the write is confirmed, and replaces them with an error
    /// (and resets the object) if it fails. So the reply to the worker still leaves only after the
    /// write is durable — a failed write reaches the worker as a failed call, which answers 5xx —
    /// and the object skips a resumption per delivery (docs/decisions.md § Edge worker, "Speed
    /// pass (session 6)").
    fn save_with(&self, r: SessionRecord, webhook: Option<(&str, i64)>) -> Result<js_sys::Promise> {
        let values = js_sys::Object::new();
        let set = |k: &str, v: &str| js_sys::Reflect::set(&values, &k.into(), &v.into()).map(|_| ());
        let legacy = self.wh_legacy.get();
        let rec_changed =
            webhook.is_none() || legacy || !self.record.borrow().as_ref().is_some_and(|old| same_durable(old, &r));
        if rec_changed {
            set("rec", &serde_json::to_string(&r)?)?;
        }
        let slot = |seq: u64, ms: i64, id: &str| -> Result<()> {
            let (key, value) = slot_entry(seq, ms, id);
            Ok(set(&key, &value)?)
        };
        let mut seq = self.wh_seq.get();
        if let Some((id, ms)) = webhook {
            self.seen.borrow_mut().remember(id, ms);
        }
        if legacy {
            for (id, ms) in self.seen.borrow().iter() {
                slot(seq, *ms, id)?;
                seq += 1;
            }
        } else if let Some((id, ms)) = webhook {
            slot(seq, ms, id)?;
            seq += 1;
        }
        // Claimed before the write: a second delivery saving meanwhile takes the next slot (and
        // finds its id already remembered).
        self.wh_seq.set(seq);
        self.wh_legacy.set(false);
        let written = self.state.storage().as_raw().put_multiple(values.into())?;
        // Most writes only remember a webhook id: the session JSON is re-encoded only when the
        // session itself changed.
        let same = self.record.borrow().as_ref().is_some_and(|old| old.session == r.session);
        if !same || self.session_json.borrow().is_empty() {
            *self.session_json.borrow_mut() = serde_json::to_string(&r.session)?;
        }
        *self.record.borrow_mut() = Some(r);
        Ok(written)
    }

    /// Writes a delivery's webhook id alone (the delivery changed nothing else): one key, one
    /// `put`, confirmed by the output gate as a delivery's write in [`Self::save_with`] is.
    fn save_webhook_id(&self, id: &str, ms: i64) -> Result<()> {
        self.seen.borrow_mut().remember(id, ms);
        let seq = self.wh_seq.get();
        self.wh_seq.set(seq + 1); // claimed before the write, as in `save_with`
        let (key, value) = slot_entry(seq, ms, id);
        let _confirmed_by_output_gate = self.state.storage().as_raw().put(&key, JsValue::from_str(&value))?;
        Ok(())
    }

    /// The pushed message for the record in memory.
    fn message(&self) -> String {
        match self.record.borrow().as_ref() {
            Some(r) => r.message_json(&self.session_json.borrow()),
            None => String::new(),
        }
    }

    fn is_terminal(&self) -> bool {
        self.record.borrow().as_ref().is_some_and(SessionRecord::is_terminal)
    }

    /// Closes the sockets whose token has expired or was revoked (code [`CLOSE_UNAUTHORIZED`]).
    /// The revocation list is the worker's per-isolate copy (refreshed at most every
    /// `KIPP_REVOCATION_CACHE_SECS`); called before every push, on a client's text message (not
    /// `ping`, which the runtime answers) and by the alarm.
    async fn close_unauthorized(&self) {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() {
            return;
        }
        if let Ok(cfg) = crate::env::config(&self.env) {
            // A registry that cannot be read leaves the revocation check to the next push.
            let _ = crate::routes::refresh_revoked(&self.env, &cfg).await;
        }
        let now_s = now_ms() / 1000;
        for ws in sockets {
            let tags = self.state.get_tags(&ws);
            let expired = tag(&tags, "exp:").and_then(|e| e.parse::<i64>().ok()).is_some_and(|exp| exp <= now_s);
            let revoked = tag(&tags, "jti:").is_some_and(crate::routes::is_revoked)
                || tag(&tags, "by:").is_some_and(|by| by.split(' ').any(crate::routes::is_revoked));
            if expired || revoked {
                let _ =
                    ws.close(Some(CLOSE_UNAUTHORIZED), Some(if expired { "token expired" } else { "token revoked" }));
            }
        }
    }

    /// The earliest token expiry still to come of the open sockets (ms), if any. One already
    /// past was handled by [`Self::close_unauthorized`]; its socket may linger while closing,
    /// and counting it would set the alarm to fire at once, again and again.
    fn earliest_socket_exp_ms(&self) -> Option<i64> {
        let now_s = now_ms() / 1000;
        self.state
            .get_websockets()
            .iter()
            .filter_map(|ws| tag(&self.state.get_tags(ws), "exp:").and_then(|e| e.parse::<i64>().ok()))
            .filter(|&exp| exp > now_s)
            .min()
            .map(|s| s.saturating_mul(1000))
    }

    /// Sets the alarm for the next re-read or socket expiry; `only_earlier`: never later than
    /// one already set (a subscriber connecting must not push the re-read back, or sockets that
    /// reconnect often would keep it from ever firing).
    async fn schedule(&self, only_earlier: bool) -> Result<()> {
        let cfg = crate::env::config(&self.env).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let (reconcile, purge) = match self.record.borrow().as_ref() {
            Some(r) => (
                next_reconcile_ms(r, now_ms(), cfg.reconcile_after_secs, cfg.session_ttl_secs),
                Some(purge_at_ms(r, cfg.session_retention_secs)),
            ),
            None => (None, None),
        };
        let at = if self.is_terminal() {
            reconcile
        } else {
            match (reconcile, self.earliest_socket_exp_ms()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        // Once the re-reads are over, the alarm's last job is to drop the session's storage.
        let at = at.or(purge);
        // The alarm as stored (an instance woken from hibernation knows no other).
        if only_earlier
            && (at.is_none() || self.state.storage().get_alarm().await?.zip(at).is_some_and(|(s, a)| s <= a))
        {
            return Ok(());
        }
        match at {
            Some(at) => self.state.storage().set_alarm((at - now_ms()).max(0)).await, // i64 = offset in ms
            None => self.state.storage().delete_alarm().await,
        }
    }

    /// Drops everything the object stored, past the session's retention: the worker then answers
    /// for the session from Kustom, as for one it did not create. Sockets still open are closed.
    async fn purge(&self) -> Result<()> {
        for ws in self.state.get_websockets() {
            let _ = ws.close(Some(1000), Some("session ended"));
        }
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        *self.record.borrow_mut() = None;
        self.session_json.borrow_mut().clear();
        *self.seen.borrow_mut() = WebhookMemory::default();
        self.wh_seq.set(0);
        Ok(())
    }

    fn broadcast(&self) {
        let text = self.message();
        let terminal = self.is_terminal();
        for ws in self.state.get_websockets() {
            let _ = ws.send_with_str(&text);
            if terminal {
                let _ = ws.close(Some(1000), Some("session ended"));
            }
        }
        for (_, w) in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    /// Re-reads the session from Kustom; `stats` gets the call's time and attempts.
    async fn fetch_upstream(&self, id: &SessionId, stats: &mut Stats) -> Option<Session> {
        let body = self.fetch_upstream_body(id, stats).await?;
        decode_session(200, &body).ok()
    }

    /// The body of a successful re-read from Kustom (None when the call failed or was refused).
    async fn fetch_upstream_body(&self, id: &SessionId, stats: &mut Stats) -> Option<Vec<u8>> {
        let cfg = crate::env::config(&self.env).ok()?;
        let op = GetSession(id.clone());
        let req = build_request(&op, Some(&cfg.merchant_id)).ok()?;
        let reply = upstream::call(&cfg, GetSession::ID, &req, stats).await.ok()?;
        reply.ok().then_some(reply.body)
    }

    async fn events(&self, req: &Request) -> Result<Response> {
        if !self.load().await? {
            return Ok(result(404, "unknown"));
        }
        let jti = req.headers().get(H_JTI)?.unwrap_or_default();
        let upgrade = req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade {
            let tag = format!("jti:{jti}");
            if self.state.get_websockets().len() >= MAX_SUBSCRIBERS
                || self.state.get_websockets_with_tag(&tag).len() >= MAX_SUBSCRIBERS_PER_TOKEN
            {
                return Ok(json(429, &"too many subscribers"));
            }
            let exp = req.headers().get(H_EXP)?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
            let exp_tag = format!("exp:{exp}");
            let by_tag = format!("by:{}", req.headers().get(H_BY)?.unwrap_or_default());
            let pair = WebSocketPair::new()?;
            self.state.accept_websocket_with_tags(&pair.server, &[tag.as_str(), exp_tag.as_str(), by_tag.as_str()]);
            pair.server.send_with_str(self.message())?;
            if self.is_terminal() {
                pair.server.close(Some(1000), Some("session ended"))?;
            } else {
                // The alarm also fires at the earliest subscriber token expiry.
                self.schedule(true).await?;
            }
            return Response::from_websocket(pair.client);
        }
        // Long-poll: answer when the state differs from `after` (`<status>` or
        // `<status>:<failed attempts>`, what the poller saw last), or after `wait` seconds.
        let after = query_param(req.inner(), "after");
        let wait = query_param(req.inner(), "wait")
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(MAX_WAIT_SECS)
            .min(MAX_WAIT_SECS);
        let differs = self.record.borrow().as_ref().is_none_or(|r| !r.seen_as(after.as_deref()));
        if differs || wait == 0 || self.is_terminal() {
            return Ok(raw_json(200, self.message().into_bytes()));
        }
        // Waiters whose poll ended by its timeout are gone: only live ones count against the cap.
        // One token may hold no more of them than of sockets, so that it cannot take every place.
        self.waiters.borrow_mut().retain(|(_, w)| !w.is_canceled());
        let (all, mine) = {
            let waiters = self.waiters.borrow();
            (waiters.len(), waiters.iter().filter(|(j, _)| *j == jti).count())
        };
        if all >= MAX_SUBSCRIBERS || mine >= MAX_SUBSCRIBERS_PER_TOKEN {
            return Ok(json(429, &"too many subscribers"));
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push((jti, tx));
        let _ = select(rx, Delay::from(Duration::from_secs(wait))).await;
        // Emptied meanwhile (past its retention): the session is no longer known here.
        if self.record.borrow().is_none() {
            return Ok(result(404, "unknown"));
        }
        Ok(raw_json(200, self.message().into_bytes()))
    }

    /// A verified delivery for this session: its outcome as (status, result); `stats` gets the
    /// re-read's time and attempts (for the worker's log line). `kind` is the event's type as the
    /// worker read it: the body itself is decoded only when the delivery is going to be applied.
    async fn webhook(
        &self,
        webhook_id: &str,
        kind: &EventType,
        body: &[u8],
        stats: &mut Stats,
    ) -> Result<(u16, &'static str)> {
        if !kind.is_ipp() {
            return Ok((400, "malformed_event"));
        }
        if !self.load().await? {
            return Ok((404, "unknown"));
        }
        // Checked on the record in memory (no copy until something is written).
        let (seen, terminal, sid) = match self.record.borrow().as_ref() {
            Some(r) => (self.seen.borrow().seen(webhook_id, now_ms()), r.is_settled(), r.session.session_id.clone()),
            None => return Ok((404, "unknown")),
        };
        if seen {
            return Ok((200, "duplicate"));
        }
        // The event is a hint: re-read the session, unless it is already terminal. The read
        // starts after this delivery arrived, and is shared with the deliveries that arrive
        // while one is running (docs/edge.md § Webhooks).
        let reread = if terminal {
            None
        } else {
            // Only the caller that makes the read reports its attempts; the others report its
            // time as shared, so that the log lines' attempts add up to the calls to Kustom.
            let led = Cell::new(false);
            let (body, read_stats) = self
                .rereads
                .read(|| async {
                    led.set(true);
                    let mut read_stats = Stats::default();
                    let body = self.fetch_upstream_body(&sid, &mut read_stats).await;
                    (body.map(Rc::new), read_stats)
                })
                .await;
            *stats = if led.get() { read_stats } else { Stats { attempts: 0, ms: read_stats.ms, shared: true } };
            body
        };
        // What decides whether anything changes (id and status) is read first; the whole
        // session is decoded only when it is going to be applied.
        let head = reread.as_deref().and_then(|b| serde_json::from_slice::<SessionHead>(b).ok());
        if head.is_none() && !terminal {
            // Not durable yet: let Kustom retry (and the alarm will re-read anyway).
            return Ok((503, "upstream_unavailable"));
        }
        // The record as it is now: another request may have changed it while we waited.
        if self.seen.borrow().seen(webhook_id, now_ms()) {
            return Ok((200, "duplicate"));
        }
        let now = now_ms();
        // The usual hint changes nothing (Kustom's session is as the record has it): only the
        // delivery's id is written, and the record is neither copied nor compared.
        let unchanged = self
            .record
            .borrow()
            .as_ref()
            .is_some_and(|r| r.unchanged_by(kind, head.as_ref().map(|h| (&h.session_id, &h.status))));
        if unchanged && !self.wh_legacy.get() {
            if let (Some(r), Some(h)) = (self.record.borrow_mut().as_mut(), head.as_ref()) {
                if h.session_id == r.session.session_id {
                    r.checked_ms = now; // as `apply_observed` does (not durable: see `same_durable`)
                }
            }
            self.save_webhook_id(webhook_id, now)?;
            return Ok((200, "unchanged"));
        }
        let observed = match reread.as_deref().map(|b| decode_session(200, b)) {
            Some(Ok(s)) => Some(s),
            Some(Err(_)) => return Ok((503, "upstream_unavailable")),
            None => None,
        };
        let event = match parse_event(body) {
            Ok(ParsedEvent::Ipp(e)) if &e.event_type == kind => e,
            _ => return Ok((400, "malformed_event")),
        };
        let Some(mut r) = self.load_owned().await? else { return Ok((404, "unknown")) };
        let changed = r.apply_webhook(&event, observed.as_ref(), now);
        let _confirmed_by_output_gate = self.save_with(r, Some((webhook_id, now)))?;
        if changed {
            self.close_unauthorized().await;
            self.broadcast();
            self.schedule(false).await?;
        }
        Ok((200, if changed { "applied" } else { "unchanged" }))
    }
}

/// The object's RPC methods: the two hot calls of the worker (GET session, webhook delivery)
/// skip the Request/Response pair, header objects and body streams of a fetch-style call (see
/// docs/decisions.md § Edge worker, speed). The worker's side is [`SessionRpc`].
#[wasm_bindgen::prelude::wasm_bindgen]
impl SessionObject {
    /// `[session JSON, facts]` ([`Facts`]) when the record is in memory, at once: the hot path of
    /// GET session, without the promise, task and microtask of an async method. `undefined` when
    /// the record is still to be read from storage: the worker then calls `kippLoad`.
    #[wasm_bindgen(js_name = kippGet)]
    pub fn rpc_get(&self) -> JsValue {
        let Some(facts) = self.record.borrow().as_ref().map(|r| {
            let mut facts = format!("{} {}", r.device_id.as_str(), r.state.status.as_str());
            if let Some(l) = &r.location_id {
                facts.push(' ');
                facts.push_str(l.as_str());
            }
            facts
        }) else {
            return JsValue::UNDEFINED;
        };
        js_sys::Array::of2(&self.session_json.borrow().as_str().into(), &facts.into()).into()
    }

    /// `kippGet` after reading the record from storage; `null` when the object does not know its
    /// session.
    #[wasm_bindgen(js_name = kippLoad)]
    pub async fn rpc_load(&self) -> core::result::Result<JsValue, JsValue> {
        Ok(if self.load().await.map_err(JsValue::from)? { self.rpc_get() } else { JsValue::NULL })
    }

    /// `[status, result, upstream ms, upstream attempts, shared read (1 or 0)]` for a verified delivery (see
    /// [`SessionRpc::webhook`]).
    #[wasm_bindgen(js_name = kippWebhook)]
    pub async fn rpc_webhook(
        &self,
        webhook_id: String,
        kind: String,
        body: String,
    ) -> core::result::Result<JsValue, JsValue> {
        let mut stats = Stats::default();
        let kind = EventType::from_wire(&kind);
        let (status, result) =
            self.webhook(&webhook_id, &kind, body.as_bytes(), &mut stats).await.map_err(JsValue::from)?;
        #[allow(clippy::cast_precision_loss)] // ms of one call: far below 2^53
        let ms = stats.ms as f64;
        let shared = u32::from(stats.shared);
        Ok(js_sys::Array::of5(&status.into(), &result.into(), &ms.into(), &stats.attempts.into(), &shared.into())
            .into())
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A session object's stub seen through its RPC methods (`Stub::into_rpc`).
    #[wasm_bindgen(extends = js_sys::Object)]
    pub type SessionRpc;

    #[wasm_bindgen(method, js_name = kippGet)]
    fn kipp_get(this: &SessionRpc) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = kippLoad)]
    fn kipp_load(this: &SessionRpc) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = kippWebhook)]
    fn kipp_webhook(this: &SessionRpc, webhook_id: &str, kind: &str, body: &str) -> js_sys::Promise;
}

impl SessionRpc {
    /// The session JSON and its facts, or None when the object does not know the session.
    pub async fn get(&self) -> Result<Option<(String, Facts)>> {
        let mut v = JsFuture::from(self.kipp_get()).await?;
        if v.is_undefined() {
            // The object's first call since it started: its record is read from storage first.
            v = JsFuture::from(self.kipp_load()).await?;
        }
        if v.is_null() {
            return Ok(None);
        }
        let a = js_sys::Array::from(&v);
        let (Some(json), Some(facts)) = (a.get(0).as_string(), a.get(1).as_string()) else {
            return Err(worker::Error::RustError("session object: unexpected get reply".into()));
        };
        Ok(Some((json, Facts::parse(&facts))))
    }

    /// Applies a verified delivery of an `ipp.*` event of type `kind`: (status, result) — 200
    /// applied/unchanged/duplicate, 404 unknown, 400 malformed_event, 503 upstream_unavailable.
    /// The object's re-read from Kustom is added to `stats`.
    pub async fn webhook(
        &self,
        webhook_id: &str,
        kind: &EventType,
        body: &str,
        stats: &mut Stats,
    ) -> Result<(u16, String)> {
        let a = js_sys::Array::from(&JsFuture::from(self.kipp_webhook(webhook_id, kind.as_str(), body)).await?);
        let status = a.get(0).as_f64().and_then(|s| u16::try_from(s as i64).ok());
        let (Some(status), Some(result)) = (status, a.get(1).as_string()) else {
            return Err(worker::Error::RustError("session object: unexpected webhook reply".into()));
        };
        let count = |v: JsValue| v.as_f64().filter(|n| *n >= 0.0).map_or(0, |n| n as u64);
        stats.ms += count(a.get(2));
        stats.attempts += u32::try_from(count(a.get(3))).unwrap_or(u32::MAX);
        stats.shared |= count(a.get(4)) > 0;
        Ok((status, result))
    }
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state: crate::env::auto_pong(state),
            env,
            waiters: RefCell::new(Vec::new()),
            record: RefCell::new(None),
            session_json: RefCell::new(String::new()),
            seen: RefCell::new(WebhookMemory::default()),
            wh_seq: Cell::new(0),
            wh_legacy: Cell::new(false),
            rereads: Coalescer::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/init") => {
                let init: Init = crate::http::req_json(&mut req).await?;
                if self.load().await? {
                    return Ok(result(200, "existing"));
                }
                self.save(SessionRecord::new(init.session, init.location_id, now_ms())).await?;
                self.schedule(false).await?;
                Ok(result(200, "created"))
            }
            (Method::Post, "/observe") => {
                let body = req.bytes().await?;
                let Ok(s) = decode_session(200, &body) else { return Ok(result(400, "unreadable")) };
                let Some(mut r) = self.load_owned().await? else { return Ok(result(404, "unknown")) };
                let changed = r.apply_observed(&s, now_ms(), "observed");
                if changed {
                    self.save(r).await?;
                    self.close_unauthorized().await;
                    self.broadcast();
                    self.schedule(false).await?;
                }
                Ok(result(200, if changed { "applied" } else { "unchanged" }))
            }
            (Method::Get, "/events") => self.events(&req).await,
            _ => Ok(result(404, "no_route")),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.close_unauthorized().await;
        let Some(r) = self.load_owned().await? else { return Response::ok("") };
        let retention = crate::env::config(&self.env).map_or(u32::MAX, |c| c.session_retention_secs);
        if now_ms() >= purge_at_ms(&r, retention) {
            self.purge().await?;
            return Response::ok("");
        }
        if r.is_settled() {
            self.schedule(false).await?;
            return Response::ok("");
        }
        if let Some(s) = self.fetch_upstream(&r.session.session_id, &mut Stats::default()).await {
            let mut r = self.load_owned().await?.unwrap_or(r);
            if r.apply_observed(&s, now_ms(), "reconcile") {
                self.save(r).await?;
                self.close_unauthorized().await;
                self.broadcast();
            } else {
                r.checked_ms = now_ms();
                self.save(r).await?;
            }
        }
        self.schedule(false).await?;
        Response::ok("")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        // Any text asks for the current state again. (`ping` itself is answered `pong` by the
        // runtime without reaching here: `env::auto_pong`.)
        if let WebSocketIncomingMessage::String(_) = message {
            self.close_unauthorized().await;
            if self.load().await? {
                let _ = ws.send_with_str(self.message());
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        let _ = ws.close(Some(1000), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}
