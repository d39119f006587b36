//! The webhook envelope Kustom POSTs (`kevt_` id, merchant, nanosecond
//! timestamp, type, data) and the IPP event types. Signatures are in `webhook`.
//! Docs: <https://docs.kustom.co/contents/checkout/in-person-payments/callbacks>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use crate::api::sessions::SessionStatus;
use crate::api::wire_enum;
use crate::ids::{EventId, MerchantId, OrderId, SessionId};
use crate::time::Timestamp;
use crate::CoreError;

wire_enum!(
    /// A webhook event type. IPP events share the endpoint with other Kustom events.
    EventType {
        /// Session created and pushed to the device.
        SessionCreated = "ipp.session.created",
        /// The clerk chose a payment method.
        SessionActivated = "ipp.session.activated",
        /// Paid; `order_id` is set. Terminal.
        SessionFinalized = "ipp.session.finalized",
        /// Cancelled. Terminal.
        SessionCancelled = "ipp.session.cancelled",
        /// A payment attempt failed; the session stays open.
        PaymentFailed = "ipp.payment.failed",
        /// Order Management: order created.
        OrderCreated = "order.created",
        /// Order Management: capture created.
        CaptureCreated = "capture.created",
        /// Order Management: refund created.
        RefundCreated = "refund.created",
        /// Dispute created.
        DisputeCreated = "dispute.created",
        /// Dispute updated.
        DisputeUpdated = "dispute.updated",
    }
);

impl EventType {
    /// True for the `ipp.` events (kipp treats any of them that names a session as a hint to
    /// re-read it).
    #[must_use]
    pub fn is_ipp(&self) -> bool {
        self.as_str().starts_with("ipp.")
    }

    /// True for the IPP events kipp knows: their envelope and `data` must be readable.
    #[must_use]
    pub fn acted_on(&self) -> bool {
        self.is_ipp() && self.is_known()
    }

    /// The session status an event announces (`None` for payment failures and
    /// non-session events).
    #[must_use]
    pub fn session_status(&self) -> Option<SessionStatus> {
        match self {
            Self::SessionCreated => Some(SessionStatus::Created),
            Self::SessionActivated => Some(SessionStatus::Active),
            Self::SessionFinalized => Some(SessionStatus::Finalized),
            Self::SessionCancelled => Some(SessionStatus::Cancelled),
            _ => None,
        }
    }
}

/// The `data` block of IPP events. `order_id` and `failure_reason` are sent as
/// `null` when unset, as in Kustom's samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct IppEventData {
    /// The session.
    pub session_id: SessionId,
    /// The order, once finalized.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// Why a payment attempt failed.
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A webhook envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct WebhookEvent<D> {
    /// Event id (`kevt_…`).
    pub id: EventId,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// When the event happened (nanosecond precision).
    pub timestamp: Timestamp,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Payload.
    pub data: D,
}

/// An IPP session event.
pub type IppEvent = WebhookEvent<IppEventData>;

/// A delivery after decoding: an IPP event, or another Kustom event kipp ignores.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParsedEvent {
    /// An `ipp.*` event.
    Ipp(IppEvent),
    /// Any other event type (its envelope kept so it can be logged and acknowledged; its `data`
    /// is skipped, not decoded).
    Other(WebhookEvent<serde::de::IgnoredAny>),
    /// An event kipp does not act on whose envelope it cannot read either (an id, merchant or
    /// timestamp in a form kipp does not know): only its type. It is acknowledged all the same:
    /// refusing it would only make Kustom redeliver it, again and again.
    Foreign(EventType),
}

/// Just the `type` of a delivery (everything else skipped).
#[derive(MapDeserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    event_type: EventType,
}

/// Decodes a (verified) delivery body.
///
/// The usual delivery, an `ipp.*` event, is read in one pass with its typed `data`. Only when
/// that pass fails or finds another type is the envelope read alone, with `data` skipped: other
/// Kustom events are acknowledged whatever their `data`, and the error of a malformed delivery
/// is the envelope's when the envelope is at fault. No `serde_json::Value` tree is built (nor
/// its decoder compiled in).
pub fn parse_event(body: &[u8]) -> Result<ParsedEvent, CoreError> {
    let full = serde_json::from_slice::<IppEvent>(body);
    if let Ok(e) = full {
        if e.event_type.is_ipp() {
            return Ok(ParsedEvent::Ipp(e));
        }
        return Ok(ParsedEvent::Other(WebhookEvent {
            id: e.id,
            merchant_id: e.merchant_id,
            timestamp: e.timestamp,
            event_type: e.event_type,
            data: serde::de::IgnoredAny,
        }));
    }
    let head = match serde_json::from_slice::<WebhookEvent<serde::de::IgnoredAny>>(body) {
        Ok(head) => head,
        Err(e) => {
            // An envelope kipp cannot read: an error only for the events kipp acts on.
            return match serde_json::from_slice::<TypeOnly>(body) {
                Ok(t) if !t.event_type.acted_on() => Ok(ParsedEvent::Foreign(t.event_type)),
                _ => Err(e.into()),
            };
        }
    };
    if !head.event_type.is_ipp() {
        return Ok(ParsedEvent::Other(head));
    }
    match full {
        Ok(e) => Ok(ParsedEvent::Ipp(e)),
        // A future `ipp.*` event whose data kipp cannot read (a device event without a session,
        // say) is not one kipp acts on; one that names a session readably is a hint to re-read it.
        Err(_) if !head.event_type.acted_on() => Ok(ParsedEvent::Other(head)),
        Err(e) => Err(e.into()),
    }
}

/// Formats 16 random bytes as a `kevt_` id (22 base62 characters, like Kustom's).
#[must_use]
pub fn event_id_from_random(bytes: [u8; 16]) -> EventId {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = u128::from_be_bytes(bytes);
    let mut s = String::with_capacity(27);
    s.push_str("kevt_");
    for _ in 0..22 {
        s.push(char::from(ALPHABET[(n % 62) as usize]));
        n /= 62;
    }
    EventId::parse(&s).unwrap_or_else(|_| unreachable!("base62 id is always valid"))
}
