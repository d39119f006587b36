//! What a session's Durable Object stores, and the message it pushes (pure).
//!
//! The record holds the session as last read from Kustom, the core [`SessionState`], the
//! applied-change history, and the webhook ids already processed (deduplication with a TTL).
//! Every change goes through [`SessionState`], so late, duplicate and out-of-order hints change
//! nothing and terminal states absorb.

use std::collections::{HashMap, VecDeque};

use kipp_core::api::sessions::Session;
use kipp_core::event::{EventType, IppEvent};
use kipp_core::ids::{DeviceId, LocationId, OrderId, SessionId};
use kipp_core::session::{Applied, SessionState, SessionStatus};
use kipp_derive::MapDeserialize;
use serde::Serialize;

/// How long a processed webhook id is remembered (ms): longer than Kustom's retry horizon of a
/// single delivery attempt series is not needed, because states only move forward anyway.
pub const WEBHOOK_DEDUPE_TTL_MS: i64 = 24 * 3600 * 1000;
/// Most webhook ids remembered per session.
pub const MAX_REMEMBERED_WEBHOOKS: usize = 256;
/// Most history entries kept per session.
pub const MAX_HISTORY: usize = 64;

/// One applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct HistoryEntry {
    /// When it was applied (ms since epoch).
    pub at_ms: i64,
    /// `webhook`, `observed`, `reconcile`, `create`.
    pub source: String,
    /// The event id, for webhook changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// What happened.
    pub applied: Change,
}

/// A change as stored: the JSON of core's [`Applied`] for the variants that change something
/// (`{"result":"transition","from":…,"to":…}`, `{"result":"payment_failed","reason":…}`), read
/// back as a plain struct, so the internally tagged enum's buffering decoder is not in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Change {
    /// `transition` or `payment_failed`.
    pub result: String,
    /// Status before (transitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<SessionStatus>,
    /// Status after (transitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<SessionStatus>,
    /// Failure reason (payment failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Change {
    /// The stored form of a change (`None` for `Ignored`, which is never stored).
    #[must_use]
    pub fn from_applied(a: &Applied) -> Option<Self> {
        let c = |result: &str| Self { result: result.to_owned(), from: None, to: None, reason: None };
        match a {
            Applied::Transition { from, to } => {
                Some(Self { from: Some(from.clone()), to: Some(to.clone()), ..c("transition") })
            }
            Applied::PaymentFailed { reason } => Some(Self { reason: reason.clone(), ..c("payment_failed") }),
            _ => None,
        }
    }

    /// True for a status transition.
    #[must_use]
    pub fn is_transition(&self) -> bool {
        self.result == "transition"
    }
}

/// The stored record of one session created through this worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct SessionRecord {
    /// The session as last read (status and order id kept in step with `state`).
    pub session: Session,
    /// The state machine.
    pub state: SessionState,
    /// The device.
    pub device_id: DeviceId,
    /// The device's location when the session was created.
    #[serde(default)]
    pub location_id: Option<LocationId>,
    /// Created at (ms).
    pub created_ms: i64,
    /// Last re-read from Kustom (ms).
    #[serde(default)]
    pub checked_ms: i64,
    /// Applied changes, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Processed webhook ids with the time they were processed: only in records written before
    /// the ids moved to their own keys (read once into a [`WebhookMemory`], then written empty).
    #[serde(default)]
    pub webhooks: Vec<(String, i64)>,
}

/// The webhook ids a session object processed within [`WEBHOOK_DEDUPE_TTL_MS`], at most
/// [`MAX_REMEMBERED_WEBHOOKS`], kept beside the record rather than in it: a delivery asks a set
/// whether its id was seen, and neither copies nor scans up to 256 ids.
#[derive(Debug, Default, Clone)]
pub struct WebhookMemory {
    /// Oldest first.
    order: VecDeque<(String, i64)>,
    /// Each id's latest time.
    latest: HashMap<String, i64>,
}

impl WebhookMemory {
    /// A memory holding these ids, given oldest first.
    #[must_use]
    pub fn from_oldest_first(ids: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut m = Self::default();
        for (id, at) in ids {
            m.remember(&id, at);
        }
        m
    }

    /// True if this id was processed within the TTL.
    #[must_use]
    pub fn seen(&self, id: &str, now_ms: i64) -> bool {
        self.latest.get(id).is_some_and(|at| now_ms - at < WEBHOOK_DEDUPE_TTL_MS)
    }

    /// Remembers an id, forgetting expired ones and, when full, the oldest.
    pub fn remember(&mut self, id: &str, now_ms: i64) {
        while let Some((old, at)) = self.order.front() {
            if now_ms - at < WEBHOOK_DEDUPE_TTL_MS && self.order.len() < MAX_REMEMBERED_WEBHOOKS {
                break;
            }
            if self.latest.get(old) == Some(at) {
                self.latest.remove(old);
            }
            self.order.pop_front();
        }
        self.order.push_back((id.to_owned(), now_ms));
        self.latest.insert(id.to_owned(), now_ms);
    }

    /// The ids, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(String, i64)> {
        self.order.iter()
    }

    /// How many ids are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no id is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The `state` part of a pushed message (nulls written out, as in docs/contracts.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct StateView {
    /// Status.
    pub status: SessionStatus,
    /// Order id once finalized.
    pub order_id: Option<OrderId>,
    /// Latest failure reason.
    pub failure_reason: Option<String>,
    /// Failed attempts.
    pub failed_attempts: u32,
}

/// A message to subscribers: `{"type":"session","session":…,"state":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Message {
    /// Always `session`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The session JSON.
    pub session: Session,
    /// The state.
    pub state: StateView,
}

impl SessionRecord {
    /// A record for a session just created.
    #[must_use]
    pub fn new(session: Session, location_id: Option<LocationId>, now_ms: i64) -> Self {
        let mut state = SessionState::new();
        let mut history = Vec::new();
        let applied = state.apply_observed(&session);
        if let Some(applied) = Change::from_applied(&applied) {
            history.push(HistoryEntry { at_ms: now_ms, source: "create".into(), event_id: None, applied });
        }
        let device_id = session.device_id.clone();
        let mut r = Self {
            session,
            state,
            device_id,
            location_id,
            created_ms: now_ms,
            checked_ms: now_ms,
            history,
            webhooks: Vec::new(),
        };
        r.sync();
        r
    }

    fn sync(&mut self) {
        self.session.status = self.state.status.clone();
        if self.state.order_id.is_some() {
            self.session.order_id.clone_from(&self.state.order_id);
        }
    }

    fn push(&mut self, at_ms: i64, source: &str, event_id: Option<String>, applied: Applied) -> bool {
        let Some(applied) = Change::from_applied(&applied) else { return false };
        if self.history.len() >= MAX_HISTORY {
            self.history.remove(0);
        }
        self.history.push(HistoryEntry { at_ms, source: source.into(), event_id, applied });
        true
    }

    /// Applies a verified webhook and the session re-read because of it. Returns true if
    /// anything subscribers see changed. (Its id is remembered by the object's
    /// [`WebhookMemory`].)
    pub fn apply_webhook(&mut self, event: &IppEvent, observed: Option<&Session>, now_ms: i64) -> bool {
        // The event is a hint: the status comes from the session re-read from Kustom. Only a
        // payment failure carries facts a read does not (the reason, the attempt count).
        let mut changed = false;
        if event.event_type == kipp_core::event::EventType::PaymentFailed {
            let a = self.state.apply_event(event);
            changed = self.push(now_ms, "webhook", Some(event.id.as_str().to_owned()), a);
        }
        if let Some(s) = observed {
            changed |= self.apply_observed(s, now_ms, "observed");
        }
        // A read without the order id leaves the finalized event's (verified, from Kustom).
        if self.awaits_order_id() && event.event_type == EventType::SessionFinalized {
            if let Some(order_id) = &event.data.order_id {
                self.state.order_id = Some(order_id.clone());
                changed = true;
            }
        }
        self.sync();
        changed
    }

    /// True when [`Self::apply_webhook`] with an event of this type and a re-read session of this
    /// id and status would change nothing but `checked_ms`: the event carries no facts of its own
    /// (not a payment failure) and the re-read session is another session's, or its status does
    /// not move this one forward. The object then writes the delivery's id alone, without copying
    /// the record.
    #[must_use]
    pub fn unchanged_by(&self, event_type: &EventType, observed: Option<(&SessionId, &SessionStatus)>) -> bool {
        *event_type != EventType::PaymentFailed
            && !self.awaits_order_id()
            && observed.is_none_or(|(id, status)| id != &self.session.session_id || !self.state.would_advance(status))
    }

    /// Applies a session read from Kustom (after a create, get, cancel, tap, or by the alarm).
    pub fn apply_observed(&mut self, observed: &Session, now_ms: i64, source: &str) -> bool {
        if observed.session_id != self.session.session_id {
            return false;
        }
        self.checked_ms = now_ms;
        let a = self.state.apply_observed(observed);
        let mut changed = self.push(now_ms, source, None, a);
        if self.awaits_order_id() && observed.status == SessionStatus::Finalized && observed.order_id.is_some() {
            self.state.order_id.clone_from(&observed.order_id);
            changed = true;
        }
        if changed {
            // Take the fields that change (status, order id, completion time); the cart does not
            // change, and a read kipp could take only in part (`decode_session`) lacks it.
            self.session.status = observed.status.clone();
            if observed.order_id.is_some() {
                self.session.order_id.clone_from(&observed.order_id);
            }
            if observed.purchase_completed_at.is_some() {
                self.session.purchase_completed_at.clone_from(&observed.purchase_completed_at);
            }
        }
        self.sync();
        changed
    }

    /// True when `seen` (a long-poll's `after`: `<status>` or `<status>:<failed attempts>`) is
    /// this record's state; a poll that saw anything else is answered at once.
    #[must_use]
    pub fn seen_as(&self, seen: Option<&str>) -> bool {
        let Some(seen) = seen else { return false };
        let (status, attempts) = seen.split_once(':').map_or((seen, None), |(s, n)| (s, Some(n)));
        status == self.state.status.as_str()
            && attempts.is_none_or(|n| n.parse::<u32>().ok() == Some(self.state.failed_attempts))
    }

    /// True once the session can no longer change.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        self.state.status.is_terminal()
    }

    /// Over for good: terminal, and with its order id if it was paid. Nothing more is read for it.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        self.is_terminal() && !self.awaits_order_id()
    }

    /// FINALIZED without its order id: Kustom may report the order after the status (API.md
    /// only infers that both come together), and the merchant needs the id to capture. Such a
    /// record still takes the id from a later read or a finalized event.
    #[must_use]
    pub fn awaits_order_id(&self) -> bool {
        self.state.status == SessionStatus::Finalized && self.state.order_id.is_none()
    }

    /// The message subscribers receive.
    #[must_use]
    pub fn message(&self) -> Message {
        Message { kind: "session".into(), session: self.session.clone(), state: self.state_view() }
    }

    /// The message as JSON, around the session JSON already encoded (`session_json` must be
    /// `serde_json::to_string(&self.session)`): the same bytes as encoding [`Self::message`].
    #[must_use]
    pub fn message_json(&self, session_json: &str) -> String {
        let state = serde_json::to_string(&self.state_view()).unwrap_or_default();
        format!("{{\"type\":\"session\",\"session\":{session_json},\"state\":{state}}}")
    }

    /// The `state` part of the message.
    #[must_use]
    pub fn state_view(&self) -> StateView {
        StateView {
            status: self.state.status.clone(),
            order_id: self.state.order_id.clone(),
            failure_reason: self.state.failure_reason.clone(),
            failed_attempts: self.state.failed_attempts,
        }
    }

    /// Transitions in the history (for tests and the admin view).
    #[must_use]
    pub fn transitions(&self) -> usize {
        self.history.iter().filter(|h| h.applied.is_transition()).count()
    }
}

/// How long after creation an unsettled session is still re-read: a day.
const RECONCILE_SPAN_MS: i64 = 24 * 3600 * 1000;

/// How long after the session's lifetime runs out it is re-read: Kustom expires a session once
/// its time is up (the emulator within a second), and the worker counts from its own record,
/// made after Kustom's creation, so a second is enough.
const EXPIRY_GRACE_MS: i64 = 1_000;

/// For this long after the expiry read, a session still open is re-read at most
/// [`EXPIRY_FOLLOW_UP_MS`] apart: that read may have failed, or come a little before Kustom
/// expired the session (its clock, or a periodic sweep), and the next usual gap is 5 min.
const EXPIRY_WINDOW_MS: i64 = 60_000;
/// The gap between re-reads within [`EXPIRY_WINDOW_MS`].
const EXPIRY_FOLLOW_UP_MS: i64 = 10_000;

/// When the reconciliation alarm should next run, or `None` when the session is settled.
/// The first re-read comes `after_secs` after creation, then with doubling gaps up to 5 min
/// (from the first one on when `after_secs` is longer), and it stops a day after creation.
/// One more comes just after the session's lifetime (`ttl_secs` after creation; 0: none), since
/// Kustom sends no webhook when a session expires: without it a screen would learn of the expiry
/// only at the next gap, up to 5 min later. A session still open after that read is read again
/// every 10 s for a minute, then at the usual gaps.
#[must_use]
pub fn next_reconcile_ms(r: &SessionRecord, now_ms: i64, after_secs: u32, ttl_secs: u32) -> Option<i64> {
    const MAX_GAP_MS: i64 = 300_000;
    if r.is_settled() || now_ms - r.created_ms > RECONCILE_SPAN_MS {
        return None;
    }
    let base = i64::from(after_secs.max(1)) * 1000;
    let age = (now_ms - r.created_ms).max(0);
    // `clamp` panics when its minimum is above its maximum: a base over 5 min starts at the cap.
    let gap = if age < base { base - age } else { (age / 2).clamp(base.min(MAX_GAP_MS), MAX_GAP_MS) };
    let expiry_read = r.created_ms + i64::from(ttl_secs) * 1000 + EXPIRY_GRACE_MS;
    if ttl_secs > 0 && now_ms < expiry_read && expiry_read < now_ms + gap {
        return Some(expiry_read);
    }
    if ttl_secs > 0 && (expiry_read..expiry_read + EXPIRY_WINDOW_MS).contains(&now_ms) {
        return Some(now_ms + gap.min(EXPIRY_FOLLOW_UP_MS));
    }
    Some(now_ms + gap)
}

/// When the session's object may drop its storage (ms): `retention_secs` after creation once
/// the session is over (terminal with its order id), and never before the re-reads of a session
/// still open have stopped (a day after creation, [`next_reconcile_ms`]).
#[must_use]
pub fn purge_at_ms(r: &SessionRecord, retention_secs: u32) -> i64 {
    let retention = r.created_ms.saturating_add(i64::from(retention_secs) * 1000);
    if r.is_settled() {
        retention
    } else {
        retention.max(r.created_ms.saturating_add(RECONCILE_SPAN_MS + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kipp_core::event::{IppEventData, WebhookEvent};
    use kipp_core::ids::{EventId, MerchantId};
    use kipp_core::time::Timestamp;

    const SID: &str = "550e8400-e29b-41d4-a716-446655440000";

    fn session(status: SessionStatus) -> Session {
        serde_json::from_value(serde_json::json!({
            "session_id": SID, "status": status.as_str(), "device_id": "770e8400-e29b-41d4-a716-446655440002",
            "order_amount": 1000, "purchase_currency": "SEK"
        }))
        .unwrap()
    }

    #[test]
    fn a_session_read_in_part_keeps_the_cart_the_record_knows() {
        let mut r = SessionRecord::new(session(SessionStatus::Created), None, 0);
        // Kustom's answer at FINALIZED in a form kipp reads only in part (`decode_session`).
        let partial = kipp_core::api::sessions::decode_session(
            200,
            format!(r#"{{"session_id":"{SID}","status":"FINALIZED","device_id":"770e8400-e29b-41d4-a716-446655440002","purchase_currency":"XXZ"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(partial.order_amount, None);
        assert!(r.apply_observed(&partial, 10, "reread"));
        assert_eq!(r.session.status, SessionStatus::Finalized);
        assert_eq!(r.session.order_amount.map(|a| a.minor()), Some(1000), "the amount stays");
        assert_eq!(r.session.purchase_currency.map(|c| c.code().to_owned()).as_deref(), Some("SEK"));
    }

    fn ev(n: u8, t: EventType) -> IppEvent {
        WebhookEvent {
            id: EventId::parse(&format!("kevt_{n}")).unwrap(),
            merchant_id: MerchantId::parse("DM1").unwrap(),
            timestamp: Timestamp::from_unix_millis(1_700_000_000_000 + i64::from(n)),
            event_type: t.clone(),
            data: IppEventData {
                session_id: SessionId::parse(SID).unwrap(),
                order_id: (t == EventType::SessionFinalized)
                    .then(|| OrderId::parse("880e8400-e29b-41d4-a716-446655440003").unwrap()),
                failure_reason: (t == EventType::PaymentFailed).then(|| "insufficient_funds".to_owned()),
            },
        }
    }

    #[test]
    fn a_finalized_record_without_its_order_id_takes_it_later() {
        let order = OrderId::parse("880e8400-e29b-41d4-a716-446655440003").unwrap();
        let mut r = SessionRecord::new(session(SessionStatus::Created), None, 0);
        // Kustom's read says FINALIZED before the order exists.
        assert!(r.apply_observed(&session(SessionStatus::Finalized), 1, "observed"));
        assert!(r.is_terminal() && r.awaits_order_id());
        assert!(next_reconcile_ms(&r, 2, 1, 0).is_some(), "the alarm keeps reading until the id comes");
        // A hint that brings nothing new is not taken for "unchanged": the id may come with it.
        let fin = ev(3, EventType::SessionFinalized);
        assert!(!r.unchanged_by(&fin.event_type, Some((&r.session.session_id.clone(), &SessionStatus::Finalized))));
        assert!(!r.apply_webhook(&ev(2, EventType::SessionCreated), Some(&session(SessionStatus::Finalized)), 2));
        // The finalized event's id, when the read still lacks it.
        let mut from_event = r.clone();
        assert!(from_event.apply_webhook(&fin, Some(&session(SessionStatus::Finalized)), 3));
        assert_eq!(
            (from_event.state.order_id.as_ref(), from_event.session.order_id.as_ref()),
            (Some(&order), Some(&order))
        );
        assert!(!from_event.awaits_order_id() && next_reconcile_ms(&from_event, 4, 1, 0).is_none());
        // A later read's id.
        let mut read = session(SessionStatus::Finalized);
        read.order_id = Some(order.clone());
        assert!(r.apply_observed(&read, 5, "reconcile"));
        assert_eq!(r.session.order_id.as_ref(), Some(&order));
        assert_eq!(serde_json::to_value(r.message()).unwrap()["state"]["order_id"], order.as_str());
        // Nothing else moves a terminal record.
        assert!(!r.apply_observed(&session(SessionStatus::Cancelled), 6, "observed"));
    }

    #[test]
    fn a_long_poll_waits_only_for_the_state_it_saw() {
        let mut r = SessionRecord::new(session(SessionStatus::Created), None, 0);
        r.apply_webhook(&ev(1, EventType::PaymentFailed), Some(&session(SessionStatus::Active)), 1);
        assert!(r.seen_as(Some("ACTIVE")));
        assert!(r.seen_as(Some("ACTIVE:1")));
        // A decline the poller has not seen yet (same status, one more failed attempt) ends it.
        assert!(!r.seen_as(Some("ACTIVE:0")));
        for other in
            [None, Some("CREATED"), Some("CREATED:1"), Some("ACTIVE:x"), Some("ACTIVE:"), Some(""), Some("ACTIVE:1:1")]
        {
            assert!(!r.seen_as(other), "{other:?}");
        }
    }

    #[test]
    fn lifecycle_and_message_shape() {
        let mut r = SessionRecord::new(session(SessionStatus::Created), None, 0);
        assert!(!r.apply_webhook(&ev(1, EventType::SessionCreated), Some(&session(SessionStatus::Created)), 1));
        assert!(r.apply_webhook(&ev(2, EventType::PaymentFailed), Some(&session(SessionStatus::Active)), 2));
        let m = serde_json::to_value(r.message()).unwrap();
        assert_eq!(m["type"], "session");
        assert_eq!(m["state"]["status"], "ACTIVE");
        assert_eq!(m["state"]["failure_reason"], "insufficient_funds");
        assert_eq!(m["state"]["failed_attempts"], 1);
        assert!(m["state"]["order_id"].is_null());
        assert_eq!(m["session"]["status"], "ACTIVE");
        let sj = serde_json::to_string(&r.session).unwrap();
        assert_eq!(r.message_json(&sj), serde_json::to_string(&r.message()).unwrap());
        let mut fin = session(SessionStatus::Finalized);
        fin.order_id = Some(OrderId::parse("880e8400-e29b-41d4-a716-446655440003").unwrap());
        assert!(r.apply_webhook(&ev(3, EventType::SessionFinalized), Some(&fin), 3));
        assert!(r.is_terminal());
        assert_eq!(r.session.order_id, fin.order_id);
        // Late events change nothing.
        assert!(!r.apply_webhook(&ev(4, EventType::SessionCancelled), Some(&session(SessionStatus::Cancelled)), 4));
        // A signed hint that Kustom does not confirm changes nothing.
        let mut open = SessionRecord::new(session(SessionStatus::Created), None, 0);
        assert!(!open.apply_webhook(&ev(5, EventType::SessionCancelled), Some(&session(SessionStatus::Created)), 5));
        assert_eq!(open.state.status, SessionStatus::Created);
        assert!(!r.apply_observed(&session(SessionStatus::Active), 5, "observed"));
        assert_eq!(r.transitions(), 1); // CREATED → ACTIVE came with the payment failure
        assert_eq!(next_reconcile_ms(&r, 10, 30, 0), None);
        // The stored change is the JSON core's `Applied` writes.
        for h in &r.history {
            let a = match h.applied.result.as_str() {
                "transition" => {
                    Applied::Transition { from: h.applied.from.clone().unwrap(), to: h.applied.to.clone().unwrap() }
                }
                _ => Applied::PaymentFailed { reason: h.applied.reason.clone() },
            };
            let back: Change = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            assert_eq!(back, h.applied);
        }
    }

    #[test]
    fn unchanged_by_predicts_apply_webhook() {
        let statuses = [
            SessionStatus::Created,
            SessionStatus::Active,
            SessionStatus::Finalized,
            SessionStatus::Cancelled,
            SessionStatus::Expired,
            SessionStatus::Unknown("PAUSED".into()),
        ];
        let types = [
            EventType::SessionCreated,
            EventType::SessionActivated,
            EventType::PaymentFailed,
            EventType::SessionFinalized,
            EventType::SessionCancelled,
        ];
        let mut other = session(SessionStatus::Active);
        other.session_id = SessionId::parse("550e8400-e29b-41d4-a716-446655440009").unwrap();
        for held in &statuses[..5] {
            for (n, t) in types.iter().enumerate() {
                let mut observations: Vec<Option<Session>> =
                    statuses.iter().map(|s| Some(session(s.clone()))).collect();
                observations.extend([None, Some(other.clone())]);
                for seen in &observations {
                    let r = SessionRecord::new(session(held.clone()), None, 0);
                    let e = ev(u8::try_from(n).unwrap(), t.clone());
                    let mut applied = r.clone();
                    let changed = applied.apply_webhook(&e, seen.as_ref(), 7);
                    if r.unchanged_by(&e.event_type, seen.as_ref().map(|s| (&s.session_id, &s.status))) {
                        assert!(!changed, "{held:?} {t:?} {seen:?}");
                        applied.checked_ms = r.checked_ms;
                        assert_eq!(applied, r, "{held:?} {t:?} {seen:?}");
                    } else {
                        // Predicted to change: a payment failure, a move forward, or a finalized
                        // record that may get its order id.
                        assert!(
                            changed || *t == EventType::PaymentFailed || r.awaits_order_id(),
                            "{held:?} {t:?} {seen:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reconcile_schedule() {
        let r = SessionRecord::new(session(SessionStatus::Created), None, 0);
        assert_eq!(next_reconcile_ms(&r, 0, 30, 0), Some(30_000));
        assert_eq!(next_reconcile_ms(&r, 30_000, 30, 0), Some(60_000));
        assert_eq!(next_reconcile_ms(&r, 1_000_000, 30, 0), Some(1_300_000));
        assert_eq!(next_reconcile_ms(&r, 90_000_000, 30, 0), None);
        // A first re-read later than the 5 min cap (KIPP_RECONCILE_AFTER_SECS > 300): then gaps
        // of at most 5 min, never a panic (`clamp` with its minimum above its maximum).
        assert_eq!(next_reconcile_ms(&r, 0, 3600, 0), Some(3_600_000));
        assert_eq!(next_reconcile_ms(&r, 3_600_000, 3600, 0), Some(3_900_000));
        assert_eq!(next_reconcile_ms(&r, 7_200_000, 600, 0), Some(7_500_000));
    }

    #[test]
    fn a_re_read_comes_just_after_the_session_lifetime() {
        let r = SessionRecord::new(session(SessionStatus::Active), None, 0);
        // 15 min lifetime: at 11:40 the next gap (5 min) would read at 16:40; the expiry read
        // comes a second after 15:00 instead.
        assert_eq!(next_reconcile_ms(&r, 700_000, 30, 900), Some(901_000));
        // A gap that ends just before the lifetime does is followed by the expiry read.
        assert_eq!(next_reconcile_ms(&r, 600_000, 30, 900), Some(900_000));
        assert_eq!(next_reconcile_ms(&r, 900_000, 30, 900), Some(901_000));
        // The usual gaps before it, when they come sooner.
        assert_eq!(next_reconcile_ms(&r, 0, 30, 900), Some(30_000));
        assert_eq!(next_reconcile_ms(&r, 400_000, 30, 900), Some(600_000));
        // Still open after it (the read failed, or Kustom had not expired it yet): every 10 s
        // for a minute, then the usual gaps again (Kustom's lifetime may be longer than assumed).
        assert_eq!(next_reconcile_ms(&r, 901_000, 30, 900), Some(911_000));
        assert_eq!(next_reconcile_ms(&r, 951_000, 30, 900), Some(961_000));
        assert_eq!(next_reconcile_ms(&r, 961_000, 30, 900), Some(1_261_000));
        // A usual gap shorter than 10 s stays as it is.
        assert_eq!(next_reconcile_ms(&r, 6_000, 5, 5), Some(11_000));
        // A short lifetime sooner than the first re-read; 0 turns it off.
        assert_eq!(next_reconcile_ms(&r, 0, 3600, 5), Some(6_000));
        assert_eq!(next_reconcile_ms(&r, 0, 3600, 0), Some(3_600_000));
        // A settled session is not read again for its lifetime.
        let done = SessionRecord::new(session(SessionStatus::Cancelled), None, 0);
        assert_eq!(next_reconcile_ms(&done, 600_000, 30, 900), None);
    }

    #[test]
    fn a_session_is_dropped_after_its_retention_once_over() {
        const DAY: i64 = 24 * 3600 * 1000;
        let open = SessionRecord::new(session(SessionStatus::Created), None, 1_000);
        // Still open: not before its re-reads stop, a day after creation.
        assert_eq!(purge_at_ms(&open, 60), 1_000 + DAY + 1);
        assert_eq!(purge_at_ms(&open, 30 * 86_400), 1_000 + 30 * DAY);
        let over = SessionRecord::new(session(SessionStatus::Cancelled), None, 1_000);
        assert_eq!(purge_at_ms(&over, 60), 61_000);
        // Paid, but its order id still to come: kept like an open one.
        let paid = SessionRecord::new(session(SessionStatus::Finalized), None, 1_000);
        assert!(paid.awaits_order_id());
        assert_eq!(purge_at_ms(&paid, 60), 1_000 + DAY + 1);
        assert!(purge_at_ms(&over, u32::MAX) > 1_000, "no overflow");
    }

    #[test]
    fn webhook_dedupe_expires() {
        let mut m = WebhookMemory::default();
        m.remember("w1", 0);
        assert!(m.seen("w1", 1000));
        assert!(!m.seen("w2", 1000));
        assert!(!m.seen("w1", WEBHOOK_DEDUPE_TTL_MS + 1));
        // An expired id is forgotten by the next remember.
        m.remember("w2", WEBHOOK_DEDUPE_TTL_MS + 1);
        assert_eq!(m.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["w2"]);
    }

    #[test]
    fn webhook_memory_keeps_the_newest_ids() {
        let n = MAX_REMEMBERED_WEBHOOKS;
        let m = WebhookMemory::from_oldest_first((0..n + 10).map(|i| (format!("w{i}"), i as i64)));
        assert_eq!(m.len(), n);
        assert!(!m.seen("w9", 1_000));
        assert!(m.seen("w10", 1_000));
        assert!(m.seen(&format!("w{}", n + 9), 1_000));
        assert_eq!(m.iter().next().map(|(id, _)| id.as_str()), Some("w10"));
        // An id seen again keeps its latest time when its older entry leaves the ring.
        let mut m = WebhookMemory::from_oldest_first([("a".to_owned(), 0), ("a".to_owned(), 5)]);
        for i in 0..n - 1 {
            m.remember(&format!("x{i}"), 6);
        }
        assert!(m.seen("a", 7));
        m.remember("y", 7);
        assert!(!m.seen("a", 7));
    }
}
