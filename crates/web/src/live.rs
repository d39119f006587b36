//! Following a session to its outcome: the live WebSocket of the worker
//! (`/ipp/v1/sessions/{id}/events`) when it opens, else polling with jittered
//! backoff (floor 1 s). Network loss is survived (reconnect / keep polling with
//! a growing delay), an abort ends everything at once, and nothing is sent
//! after the deadline.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use kipp_core::api::sessions::SessionStatus;
use kipp_core::ids::escape_segment;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, MessageEvent, WebSocket};

use crate::client::{backoff_ms, jitter, Call, Client};
use crate::convert::{opt_f64, opt_string, prop};
use crate::error::Failure;
use crate::js;

/// Floor of the polling interval.
pub const POLL_FLOOR_MS: f64 = 1_000.0;
/// Ceiling of the polling interval while nothing changes.
pub const POLL_IDLE_CAP_MS: f64 = 5_000.0;
/// Ceiling of the delay after repeated failures (network loss).
pub const FAILURE_CAP_MS: f64 = 15_000.0;
/// How long a WebSocket may take to open before polling takes over.
pub const WS_OPEN_TIMEOUT_MS: f64 = 5_000.0;
/// After this long polling, a WebSocket that once worked is tried again.
pub const WS_RETRY_AFTER_MS: f64 = 30_000.0;

/// What to follow and whom to tell.
#[derive(Debug)]
pub struct Follow {
    /// The session id.
    pub session_id: String,
    /// `onUpdate(session, state)`.
    pub on_update: Option<Function>,
    /// `onError(error)` for failures that are retried (watch).
    pub on_error: Option<Function>,
    /// Internal controller: aborted by the caller's signal, the deadline or `close()`.
    pub ctl: AbortController,
    /// The caller's signal (`undefined` when none).
    pub user_signal: JsValue,
    /// True when a deadline was set on `ctl`.
    pub has_deadline: bool,
}

#[derive(Debug, Default)]
struct Tracker {
    last: Option<(String, u32)>,
    changed: bool,
    events_poll: bool,
}

impl Tracker {
    /// Hands a `{session, state}` message to `onUpdate` when it differs from
    /// the last one; returns the session when its status is terminal.
    fn deliver(&mut self, msg: &JsValue, on_update: Option<&Function>) -> Option<JsValue> {
        let session = prop(msg, "session");
        if !session.is_object() {
            return None;
        }
        let mut state = prop(msg, "state");
        let status = opt_string(&state, "status").or_else(|| opt_string(&session, "status"))?;
        if !state.is_object() {
            state = synth_state(&session, &status);
        }
        let attempts = opt_f64(&state, "failed_attempts").unwrap_or(0.0) as u32;
        let key = (status, attempts);
        self.changed = self.last.as_ref() != Some(&key);
        if self.changed {
            if let Some(f) = on_update {
                // A throwing callback must not stop the follow.
                let _ = f.call2(&JsValue::UNDEFINED, &session, &state);
            }
        }
        let terminal = SessionStatus::from_wire(&key.0).is_terminal();
        self.last = Some(key);
        terminal.then_some(session)
    }
}

fn synth_state(session: &JsValue, status: &str) -> JsValue {
    let o = Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    };
    set("status", &JsValue::from_str(status));
    let order = prop(session, "order_id");
    set("order_id", &if order.is_string() { order } else { JsValue::NULL });
    set("failure_reason", &JsValue::NULL);
    set("failed_attempts", &JsValue::from_f64(0.0));
    o.into()
}

/// Follows a session until a terminal status, an abort, the deadline or a
/// failure that retrying cannot fix.
pub async fn follow(client: &Client, f: &Follow) -> Result<JsValue, Failure> {
    let mut t = Tracker { events_poll: true, ..Tracker::default() };
    let ws_exists = !prop(&js_sys::global(), "WebSocket").is_undefined();
    let mut use_ws = ws_exists;
    let mut ws_worked = false;
    let mut ws_drops = 0u32;
    let mut polling_since = 0.0;
    let mut delay = POLL_FLOOR_MS;
    let mut errors = 0u32;
    loop {
        if f.ctl.signal().aborted() {
            return Err(interrupted(f));
        }
        if use_ws {
            match ws_once(client, f, &mut t).await? {
                WsEnd::Terminal(s) => return Ok(s),
                WsEnd::Interrupted => return Err(interrupted(f)),
                WsEnd::NeverOpened => {
                    use_ws = false;
                    polling_since = js_sys::Date::now();
                }
                WsEnd::Dropped { got_message } => {
                    ws_worked = true;
                    ws_drops = if got_message { 1 } else { ws_drops + 1 };
                    report(f, Failure::new("network", "the live connection dropped; reconnecting"));
                    if ws_drops >= 3 {
                        use_ws = false;
                        polling_since = js_sys::Date::now();
                    } else {
                        pause(f, backoff_ms(ws_drops, POLL_FLOOR_MS, FAILURE_CAP_MS)).await?;
                    }
                }
            }
            continue;
        }
        match poll_once(client, f, &mut t).await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {
                errors = 0;
                delay = if t.changed { POLL_FLOOR_MS } else { (delay * 1.5).min(POLL_IDLE_CAP_MS) };
            }
            Err(_) if f.ctl.signal().aborted() => return Err(interrupted(f)),
            Err(e) if e.retryable => {
                errors += 1;
                delay = e.retry_after_ms.map_or_else(|| backoff_ms(errors, POLL_FLOOR_MS, FAILURE_CAP_MS), f64::from);
                report(f, e);
            }
            Err(e) => return Err(e),
        }
        pause(f, jitter(delay)).await?;
        if ws_worked && js_sys::Date::now() - polling_since > WS_RETRY_AFTER_MS {
            use_ws = true;
            ws_drops = 0;
        }
    }
}

/// Sleeps `ms` (at least the floor), cut short by the internal controller.
async fn pause(f: &Follow, ms: f64) -> Result<(), Failure> {
    JsFuture::from(js::sleep(ms.max(POLL_FLOOR_MS), &f.ctl.signal())).await.map(|_| ()).map_err(|_| interrupted(f))
}

fn report(f: &Follow, e: Failure) {
    if let Some(cb) = &f.on_error {
        let _ = cb.call1(&JsValue::UNDEFINED, &e.into_js());
    }
}

/// Why the internal controller fired: the caller's abort, else the deadline.
fn interrupted(f: &Follow) -> Failure {
    let user_aborted = prop(&f.user_signal, "aborted").as_bool().unwrap_or(false);
    if f.has_deadline && !user_aborted && f.ctl.signal().reason().as_string().as_deref() == Some("deadline") {
        Failure::new("timeout", "the session did not reach an outcome before the deadline; check it again or cancel it")
    } else {
        Failure { retryable: false, ..Failure::new("aborted", "stopped waiting for the session (aborted)") }
    }
}

async fn poll_once(client: &Client, f: &Follow, t: &mut Tracker) -> Result<Option<JsValue>, Failure> {
    let id = escape_segment(&f.session_id);
    let signal = f.ctl.signal();
    if t.events_poll {
        let call = Call { retry: false, ..Call::get(["/ipp/v1/sessions/", &id, "/events?wait=0"].concat()) };
        match client.call(&call, Some(&signal)).await {
            Ok(msg) => return Ok(t.deliver(&msg, f.on_update.as_ref())),
            Err(e) if matches!(e.status, Some(404 | 405 | 426 | 501)) => t.events_poll = false,
            Err(e) => return Err(e),
        }
    }
    let call = Call { retry: false, ..Call::get(["/ipp/v1/sessions/", &id].concat()) };
    let session = client.call(&call, Some(&signal)).await?;
    let msg = Object::new();
    let _ = Reflect::set(&msg, &JsValue::from_str("session"), &session);
    Ok(t.deliver(&msg, f.on_update.as_ref()))
}

enum WsEnd {
    Terminal(JsValue),
    NeverOpened,
    Dropped { got_message: bool },
    Interrupted,
}

enum Ev {
    Open,
    Message(Option<String>),
    Closed,
    OpenTimeout,
    Abort,
}

/// A queue that callbacks push into and one async reader drains.
#[derive(Default)]
struct Mailbox {
    queue: RefCell<VecDeque<Ev>>,
    wake: RefCell<Option<Function>>,
}

impl Mailbox {
    fn push(&self, ev: Ev) {
        self.queue.borrow_mut().push_back(ev);
        if let Some(w) = self.wake.borrow_mut().take() {
            let _ = w.call0(&JsValue::UNDEFINED);
        }
    }

    async fn recv(&self) -> Ev {
        loop {
            if let Some(ev) = self.queue.borrow_mut().pop_front() {
                return ev;
            }
            let p = Promise::new(&mut |resolve, _| {
                *self.wake.borrow_mut() = Some(resolve);
            });
            let _ = JsFuture::from(p).await;
        }
    }
}

async fn ws_once(client: &Client, f: &Follow, t: &mut Tracker) -> Result<WsEnd, Failure> {
    let url = client.events_url(&f.session_id).await?;
    let Ok(ws) = WebSocket::new(&url) else {
        return Ok(WsEnd::NeverOpened);
    };
    let mb = Rc::new(Mailbox::default());
    let cb = |ev: fn() -> Ev| {
        let mb = mb.clone();
        Closure::<dyn FnMut()>::new(move || mb.push(ev()))
    };
    let on_open = cb(|| Ev::Open);
    let on_close = cb(|| Ev::Closed);
    let on_abort = cb(|| Ev::Abort);
    let on_timeout = cb(|| Ev::OpenTimeout);
    let on_message = {
        let mb = mb.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| mb.push(Ev::Message(e.data().as_string())))
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let signal = f.ctl.signal();
    signal.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
    if signal.aborted() {
        mb.push(Ev::Abort);
    }
    let timer = js::set_timeout(on_timeout.as_ref().unchecked_ref(), WS_OPEN_TIMEOUT_MS);

    let mut opened = false;
    let mut got_message = false;
    let end = loop {
        match mb.recv().await {
            Ev::Open => opened = true,
            Ev::Message(Some(text)) => {
                got_message = true;
                if let Ok(msg) = js_sys::JSON::parse(&text) {
                    if let Some(done) = t.deliver(&msg, f.on_update.as_ref()) {
                        break WsEnd::Terminal(done);
                    }
                }
            }
            Ev::Message(None) => {}
            Ev::OpenTimeout if !opened => break WsEnd::NeverOpened,
            Ev::OpenTimeout => {}
            Ev::Closed if !opened => break WsEnd::NeverOpened,
            Ev::Closed => break WsEnd::Dropped { got_message },
            Ev::Abort => break WsEnd::Interrupted,
        }
    };
    js::clear_timeout(&timer);
    ws.set_onopen(None);
    ws.set_onclose(None);
    ws.set_onmessage(None);
    signal.set_onabort(None);
    if ws.ready_state() <= WebSocket::OPEN {
        let _ = ws.close_with_code(1000);
    }
    // A close event still on its way is harmless: the handlers are gone.
    Ok(end)
}
