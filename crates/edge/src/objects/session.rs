//! The session object (one per session created through this worker): latest state, history,
//! webhook dedupe, WebSocket subscribers (hibernation API), long-poll waiters, and the
//! reconciliation alarm.
//!
//! Internal routes (called by the worker only, never reachable from outside):
//! `POST /init`, `GET /get`, `POST /observe`, `POST /webhook`, `GET /events`.

use core::cell::RefCell;
use core::time::Duration;

use futures_channel::oneshot;
use futures_util::future::select;
use kipp_core::api::sessions::{GetSession, Session};
use kipp_core::api::{build_request, decode_response, Operation};
use kipp_core::event::IppEvent;
use kipp_core::ids::LocationId;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::http::{json, now_ms};
use crate::record::{next_reconcile_ms, SessionRecord};
use crate::upstream::{self, Stats};

/// Most subscribers per session.
pub const MAX_SUBSCRIBERS: usize = 64;
/// Most subscribers per token on one session.
pub const MAX_SUBSCRIBERS_PER_TOKEN: usize = 8;
/// Longest long-poll wait, s.
pub const MAX_WAIT_SECS: u64 = 25;

/// `POST /init`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Init {
    /// The session as created.
    pub session: Session,
    /// The device's location.
    pub location_id: Option<LocationId>,
}

/// `POST /webhook`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hint {
    /// `webhook-id`.
    pub webhook_id: String,
    /// The verified event.
    pub event: IppEvent,
}

/// `GET /get` and friends answer this.
#[derive(Debug, Serialize, Deserialize)]
pub struct View {
    /// The pushed message (session + state).
    pub message: crate::record::Message,
    /// The device's location.
    pub location_id: Option<LocationId>,
    /// Transitions applied so far.
    pub transitions: usize,
    /// Result of the call (`applied`, `unchanged`, `duplicate`, …).
    #[serde(default)]
    pub result: String,
}

/// The session Durable Object.
#[allow(missing_debug_implementations)] // State and Env have no Debug
#[durable_object]
pub struct SessionObject {
    state: State,
    env: Env,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    record: RefCell<Option<SessionRecord>>,
}

fn view(r: &SessionRecord, result: &str) -> View {
    View {
        message: r.message(),
        location_id: r.location_id.clone(),
        transitions: r.transitions(),
        result: result.to_owned(),
    }
}

impl SessionObject {
    async fn load(&self) -> Result<Option<SessionRecord>> {
        if let Some(r) = self.record.borrow().clone() {
            return Ok(Some(r));
        }
        let r: Option<SessionRecord> = self.state.storage().get("rec").await?;
        if r.is_some() {
            self.record.borrow_mut().clone_from(&r);
        }
        Ok(r)
    }

    /// Writes the record (durably: the output gate holds replies until the write is confirmed).
    async fn save(&self, r: &SessionRecord) -> Result<()> {
        self.state.storage().put("rec", r).await?;
        *self.record.borrow_mut() = Some(r.clone());
        Ok(())
    }

    async fn schedule(&self, r: &SessionRecord) -> Result<()> {
        let cfg = crate::env::config(&self.env).map_err(|e| worker::Error::RustError(e.to_string()))?;
        match next_reconcile_ms(r, now_ms(), cfg.reconcile_after_secs) {
            Some(at) => self.state.storage().set_alarm((at - now_ms()).max(0)).await, // i64 = offset in ms
            None => self.state.storage().delete_alarm().await,
        }
    }

    fn broadcast(&self, r: &SessionRecord) {
        let text = serde_json::to_string(&r.message()).unwrap_or_default();
        let terminal = r.is_terminal();
        for ws in self.state.get_websockets() {
            let _ = ws.send_with_str(&text);
            if terminal {
                let _ = ws.close(Some(1000), Some("session ended"));
            }
        }
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    async fn fetch_upstream(&self, r: &SessionRecord) -> Option<Session> {
        let cfg = crate::env::config(&self.env).ok()?;
        let op = GetSession(r.session.session_id.clone());
        let req = build_request(&op, Some(&cfg.merchant_id)).ok()?;
        let reply = upstream::call(&cfg, GetSession::ID, &req, &mut Stats::default()).await.ok()?;
        decode_response::<GetSession>(reply.status, &reply.body).ok()
    }

    async fn events(&self, req: &Request) -> Result<Response> {
        let Some(r) = self.load().await? else { return Ok(json(404, &"unknown")) };
        let url = req.url()?;
        let q = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        let jti = req.headers().get("x-kipp-jti")?.unwrap_or_default();
        let upgrade = req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade {
            let tag = format!("jti:{jti}");
            if self.state.get_websockets().len() >= MAX_SUBSCRIBERS
                || self.state.get_websockets_with_tag(&tag).len() >= MAX_SUBSCRIBERS_PER_TOKEN
            {
                return Ok(json(429, &"too many subscribers"));
            }
            let pair = WebSocketPair::new()?;
            self.state.accept_websocket_with_tags(&pair.server, &[tag.as_str()]);
            pair.server.send_with_str(serde_json::to_string(&r.message())?)?;
            if r.is_terminal() {
                pair.server.close(Some(1000), Some("session ended"))?;
            }
            return Response::from_websocket(pair.client);
        }
        // Long-poll: answer when the status differs from `after`, or after `wait` seconds.
        let after = q("after");
        let wait = q("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS);
        let differs = |r: &SessionRecord| after.as_deref() != Some(r.state.status.as_str());
        if differs(&r) || wait == 0 || r.is_terminal() {
            return Ok(json(200, &r.message()));
        }
        if self.waiters.borrow().len() >= MAX_SUBSCRIBERS {
            return Ok(json(429, &"too many subscribers"));
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        let _ = select(rx, Delay::from(Duration::from_secs(wait))).await;
        let r = self.load().await?.unwrap_or(r);
        Ok(json(200, &r.message()))
    }
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, waiters: RefCell::new(Vec::new()), record: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/init") => {
                let init: Init = req.json().await?;
                if let Some(r) = self.load().await? {
                    return Ok(json(200, &view(&r, "existing")));
                }
                let r = SessionRecord::new(init.session, init.location_id, now_ms());
                self.save(&r).await?;
                self.schedule(&r).await?;
                Ok(json(200, &view(&r, "created")))
            }
            (Method::Get, "/get") => match self.load().await? {
                Some(r) => Ok(json(200, &view(&r, "known"))),
                None => Ok(json(404, &"unknown")),
            },
            (Method::Post, "/observe") => {
                let s: Session = req.json().await?;
                let Some(mut r) = self.load().await? else { return Ok(json(404, &"unknown")) };
                let changed = r.apply_observed(&s, now_ms(), "observed");
                if changed {
                    self.save(&r).await?;
                    self.broadcast(&r);
                    self.schedule(&r).await?;
                }
                Ok(json(200, &view(&r, if changed { "applied" } else { "unchanged" })))
            }
            (Method::Post, "/webhook") => {
                let hint: Hint = req.json().await?;
                let Some(r) = self.load().await? else { return Ok(json(404, &"unknown")) };
                if r.seen_webhook(&hint.webhook_id, now_ms()) {
                    return Ok(json(200, &view(&r, "duplicate")));
                }
                // The event is a hint: re-read the session, unless it is already terminal.
                let observed = if r.is_terminal() { None } else { self.fetch_upstream(&r).await };
                if observed.is_none() && !r.is_terminal() {
                    // Not durable yet: let Kustom retry (and the alarm will re-read anyway).
                    return Ok(json(503, &"upstream unavailable"));
                }
                // Re-load: another request may have changed the record while we waited.
                let mut r = self.load().await?.unwrap_or(r);
                if r.seen_webhook(&hint.webhook_id, now_ms()) {
                    return Ok(json(200, &view(&r, "duplicate")));
                }
                let changed = r.apply_webhook(&hint.webhook_id, &hint.event, observed.as_ref(), now_ms());
                self.save(&r).await?;
                if changed {
                    self.broadcast(&r);
                    self.schedule(&r).await?;
                }
                Ok(json(200, &view(&r, if changed { "applied" } else { "unchanged" })))
            }
            (Method::Get, "/events") => self.events(&req).await,
            _ => Ok(json(404, &"no such session route")),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let Some(r) = self.load().await? else { return Response::ok("") };
        if r.is_terminal() {
            return Response::ok("");
        }
        if let Some(s) = self.fetch_upstream(&r).await {
            let mut r = self.load().await?.unwrap_or(r);
            if r.apply_observed(&s, now_ms(), "reconcile") {
                self.save(&r).await?;
                self.broadcast(&r);
            } else {
                r.checked_ms = now_ms();
                self.save(&r).await?;
            }
            self.schedule(&r).await?;
        } else {
            self.schedule(&r).await?;
        }
        Response::ok("")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        // Any text asks for the current state again (a client-side "ping").
        if let WebSocketIncomingMessage::String(_) = message {
            if let Some(r) = self.load().await? {
                let _ = ws.send_with_str(serde_json::to_string(&r.message())?);
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
