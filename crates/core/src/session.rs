//! The session state machine.
//!
//! ```text
//! CREATED ──► ACTIVE ──► FINALIZED            (terminal)
//!    │           │  ╰──► payment failed: stays ACTIVE, reason kept
//!    ╰───────────┴─────► CANCELLED | EXPIRED | FAILED   (terminal)
//! ```
//!
//! Webhooks are hints that may arrive twice, late or out of order, so a state
//! only moves forward: an event or observed status whose rank is not above the
//! current one changes nothing, terminal states absorb everything, and an event
//! id already applied is a no-op.

use kipp_derive::MapDeserialize;
use serde::{Deserialize, Serialize};

use crate::api::sessions::Session;
pub use crate::api::sessions::SessionStatus;
use crate::event::{EventType, IppEvent};
use crate::ids::{EventId, OrderId};
use crate::time::Timestamp;

/// How many event ids a state remembers for duplicate detection. Duplicates
/// older than this are still harmless: states only move forward.
pub const REMEMBERED_EVENTS: usize = 32;

impl SessionStatus {
    /// True for FINALIZED, CANCELLED, EXPIRED and FAILED.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Finalized | Self::Cancelled | Self::Expired | Self::Failed)
    }

    /// Position in the lifecycle: CREATED 0, ACTIVE 1, terminal 2; `None` for unknown values.
    #[must_use]
    pub fn rank(&self) -> Option<u8> {
        match self {
            Self::Created => Some(0),
            Self::Active => Some(1),
            Self::Finalized | Self::Cancelled | Self::Expired | Self::Failed => Some(2),
            Self::Unknown(_) => None,
        }
    }

    /// Whether the lifecycle has an edge from `self` to `to`.
    #[must_use]
    pub fn can_transition_to(&self, to: &Self) -> bool {
        match (self.rank(), to.rank()) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        }
    }
}

/// Why applying something changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ignored {
    /// This event id was applied before.
    Duplicate,
    /// The session is already in a terminal state.
    Terminal,
    /// The status is not ahead of the current one (late or repeated).
    Stale,
    /// An event type or status this version does not know.
    Unknown,
    /// Not a session event (e.g. `order.created`).
    NotSessionEvent,
}

/// What applying an event or an observation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Applied {
    /// The status moved.
    Transition {
        /// Status before.
        from: SessionStatus,
        /// Status after.
        to: SessionStatus,
    },
    /// A payment attempt failed; the status stayed open (or moved CREATED → ACTIVE).
    PaymentFailed {
        /// The reason reported.
        reason: Option<String>,
    },
    /// Nothing changed.
    Ignored {
        /// Why.
        reason: Ignored,
    },
}

impl Applied {
    /// True if the state changed.
    #[must_use]
    pub fn changed(&self) -> bool {
        !matches!(self, Self::Ignored { .. })
    }
}

/// What kipp knows about one session's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct SessionState {
    /// Current status.
    pub status: SessionStatus,
    /// Order id once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// Reason of the latest failed payment attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Failed attempts seen.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Timestamp of the latest failure applied (to order failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<Timestamp>,
    /// Recently applied event ids.
    #[serde(default)]
    pub seen_events: Vec<EventId>,
}

impl Default for SessionState {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionState {
    /// A freshly created session.
    #[must_use]
    pub fn new() -> Self {
        Self {
            status: SessionStatus::Created,
            order_id: None,
            failure_reason: None,
            failed_attempts: 0,
            last_failure_at: None,
            seen_events: Vec::new(),
        }
    }

    fn remember(&mut self, id: &EventId) -> bool {
        if self.seen_events.contains(id) {
            return false;
        }
        if self.seen_events.len() >= REMEMBERED_EVENTS {
            self.seen_events.remove(0);
        }
        self.seen_events.push(id.clone());
        true
    }

    /// True when a move to `to` would be applied (the checks of [`Self::apply_observed`], without
    /// changing anything): not terminal yet, `to` known and further along.
    #[must_use]
    pub fn would_advance(&self, to: &SessionStatus) -> bool {
        !self.status.is_terminal() && self.status.can_transition_to(to)
    }

    fn advance(&mut self, to: SessionStatus, order_id: Option<&OrderId>) -> Applied {
        if self.status.is_terminal() {
            return Applied::Ignored { reason: Ignored::Terminal };
        }
        if to.rank().is_none() {
            return Applied::Ignored { reason: Ignored::Unknown };
        }
        if !self.status.can_transition_to(&to) {
            return Applied::Ignored { reason: Ignored::Stale };
        }
        if to == SessionStatus::Finalized {
            self.order_id = order_id.cloned();
        }
        let from = core::mem::replace(&mut self.status, to.clone());
        Applied::Transition { from, to }
    }

    /// Applies a webhook event.
    pub fn apply_event(&mut self, event: &IppEvent) -> Applied {
        if !event.event_type.is_ipp() {
            return Applied::Ignored { reason: Ignored::NotSessionEvent };
        }
        if !self.remember(&event.id) {
            return Applied::Ignored { reason: Ignored::Duplicate };
        }
        if let Some(to) = event.event_type.session_status() {
            return self.advance(to, event.data.order_id.as_ref());
        }
        if event.event_type != EventType::PaymentFailed {
            return Applied::Ignored { reason: Ignored::Unknown };
        }
        if self.status.is_terminal() {
            return Applied::Ignored { reason: Ignored::Terminal };
        }
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        if self.last_failure_at.as_ref().is_none_or(|t| *t <= event.timestamp) {
            self.last_failure_at = Some(event.timestamp.clone());
            self.failure_reason.clone_from(&event.data.failure_reason);
        }
        if self.status == SessionStatus::Created {
            self.status = SessionStatus::Active;
        }
        // The reason the state holds: an older failure arriving late counts as an attempt but
        // does not replace the newer reason, and says so.
        Applied::PaymentFailed { reason: self.failure_reason.clone() }
    }

    /// Applies a session as re-fetched from Kustom: authoritative, but still
    /// only forward (a stale read cannot undo a newer webhook).
    pub fn apply_observed(&mut self, session: &Session) -> Applied {
        self.advance(session.status.clone(), session.order_id.as_ref())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::event::IppEventData;
    use crate::ids::{MerchantId, SessionId};
    use proptest::prelude::*;

    fn ev(n: u8, t: EventType, reason: Option<&str>) -> IppEvent {
        IppEvent {
            id: EventId::parse(&format!("kevt_{n}")).unwrap(),
            merchant_id: MerchantId::parse("DM1").unwrap(),
            timestamp: Timestamp::from_unix_millis(1_700_000_000_000 + i64::from(n) * 1000),
            event_type: t.clone(),
            data: IppEventData {
                session_id: SessionId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap(),
                order_id: (t == EventType::SessionFinalized)
                    .then(|| OrderId::parse("770e8400-e29b-41d4-a716-446655440002").unwrap()),
                failure_reason: reason.map(str::to_owned),
            },
        }
    }

    #[test]
    fn would_advance_matches_apply_observed() {
        let all = [
            SessionStatus::Created,
            SessionStatus::Active,
            SessionStatus::Finalized,
            SessionStatus::Cancelled,
            SessionStatus::Expired,
            SessionStatus::Failed,
            SessionStatus::Unknown("PAUSED".into()),
        ];
        for from in &all {
            for to in &all {
                let mut s = SessionState::new();
                s.status = from.clone();
                let predicted = s.would_advance(to);
                assert_eq!(predicted, s.advance(to.clone(), None).changed(), "{from:?} → {to:?}");
            }
        }
    }

    #[test]
    fn happy_path_and_absorption() {
        let mut s = SessionState::new();
        assert!(s.apply_event(&ev(1, EventType::SessionCreated, None)) == Applied::Ignored { reason: Ignored::Stale });
        assert!(s.apply_event(&ev(2, EventType::SessionActivated, None)).changed());
        assert!(s.apply_event(&ev(3, EventType::PaymentFailed, Some("insufficient_funds"))).changed());
        assert_eq!(s.failure_reason.as_deref(), Some("insufficient_funds"));
        assert!(s.apply_event(&ev(4, EventType::SessionFinalized, None)).changed());
        assert_eq!(s.status, SessionStatus::Finalized);
        assert!(s.order_id.is_some());
        assert_eq!(
            s.apply_event(&ev(5, EventType::SessionCancelled, None)),
            Applied::Ignored { reason: Ignored::Terminal }
        );
        assert_eq!(
            s.apply_event(&ev(4, EventType::SessionFinalized, None)),
            Applied::Ignored { reason: Ignored::Duplicate }
        );
    }

    #[test]
    fn a_late_older_failure_counts_but_keeps_and_reports_the_newer_reason() {
        let mut s = SessionState::new();
        assert!(s.apply_event(&ev(5, EventType::PaymentFailed, Some("insufficient_funds"))).changed());
        // Delivered late: an earlier attempt (its timestamp is older).
        let applied = s.apply_event(&ev(2, EventType::PaymentFailed, Some("expired_card")));
        assert_eq!(applied, Applied::PaymentFailed { reason: Some("insufficient_funds".into()) });
        assert_eq!((s.failed_attempts, s.failure_reason.as_deref()), (2, Some("insufficient_funds")));
    }

    #[test]
    fn transitions_table() {
        use SessionStatus as S;
        assert!(S::Created.can_transition_to(&S::Active));
        assert!(S::Created.can_transition_to(&S::Cancelled));
        assert!(S::Active.can_transition_to(&S::Expired));
        assert!(!S::Active.can_transition_to(&S::Created));
        assert!(!S::Finalized.can_transition_to(&S::Cancelled));
        assert!(!S::Created.can_transition_to(&S::Unknown("X".into())));
    }

    fn history() -> impl Strategy<Value = (Vec<IppEvent>, SessionStatus)> {
        (
            any::<bool>(),
            0u8..4,
            prop::sample::select(vec![EventType::SessionFinalized, EventType::SessionCancelled]),
            any::<bool>(),
        )
            .prop_map(|(activated, failures, terminal, ends)| {
                let mut evs = vec![ev(1, EventType::SessionCreated, None)];
                let mut n = 2;
                if activated {
                    evs.push(ev(n, EventType::SessionActivated, None));
                    n += 1;
                }
                for i in 0..failures {
                    evs.push(ev(n, EventType::PaymentFailed, Some(&format!("r{i}"))));
                    n += 1;
                }
                let fin = if ends {
                    evs.push(ev(n, terminal.clone(), None));
                    terminal.session_status().unwrap_or(SessionStatus::Created)
                } else if activated || failures > 0 {
                    SessionStatus::Active
                } else {
                    SessionStatus::Created
                };
                (evs, fin)
            })
    }

    proptest! {
        #[test]
        fn any_order_with_duplicates_reaches_the_true_final_state(
            (evs, fin) in history(),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            // Deliver every event at least once, plus random duplicates, in a random order.
            let mut deliveries: Vec<IppEvent> = evs.clone();
            for ix in &order {
                deliveries.push(ix.get(&evs).clone());
            }
            let mut shuffled = Vec::new();
            for (i, ix) in order.iter().enumerate() {
                if !deliveries.is_empty() {
                    let k = ix.index(deliveries.len());
                    shuffled.push(deliveries.swap_remove(k));
                }
                let _ = i;
            }
            shuffled.extend(deliveries);

            let mut s = SessionState::new();
            let mut transitions = 0;
            let mut last_rank = 0;
            for e in &shuffled {
                if let Applied::Transition { to, .. } = s.apply_event(e) {
                    transitions += 1;
                    let r = to.rank().unwrap();
                    prop_assert!(r > last_rank, "went backwards or sideways");
                    last_rank = r;
                }
            }
            prop_assert_eq!(&s.status, &fin);
            prop_assert!(transitions <= 2);
            prop_assert_eq!(s.order_id.is_some(), fin == SessionStatus::Finalized);
            // Replaying everything again changes nothing.
            let before = s.clone();
            for e in &shuffled {
                prop_assert!(!s.apply_event(e).changed() || e.event_type == EventType::PaymentFailed && !before.status.is_terminal() && s.seen_events.len() == REMEMBERED_EVENTS);
            }
            prop_assert_eq!(&s.status, &before.status);
        }
    }
}
