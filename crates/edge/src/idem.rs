//! Idempotency of session creation (pure parts).
//!
//! The key is the client's `Idempotency-Key` (1–255 visible ASCII characters) or, when absent,
//! derived from the token id and the exact body. A derived key only joins a resent request to a
//! create that is still in flight or whose outcome is unknown; once that create finished, the
//! same cart again is a new sale (see `is_derived`). A client's key is scoped by the token's
//! location scope (what the token may read anyway), a derived key by the token id (see
//! `storage_key`). Records live in the
//! device's Durable Object (the cart names the device, and Kustom lets a device hold one open
//! session, which is what makes a retried create safe: see docs/decisions.md).

use kipp_core::api::sessions::Session;
use kipp_core::base64::{self, Alphabet};
use kipp_core::problem::Problem;
use kipp_derive::MapDeserialize;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest accepted `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 255;

fn h(parts: &[&[u8]]) -> String {
    let mut d = Sha256::new();
    for p in parts {
        d.update((p.len() as u64).to_be_bytes());
        d.update(p);
    }
    base64::encode(&d.finalize(), Alphabet::UrlSafe, false)
}

/// The storage key for a create: from the client's key or derived from the body.
///
/// A client's key is scoped by what the token may see (its location, or `*` for none), not by
/// the token itself: a retry sent with a refreshed token (a `getToken` that mints, a clerk who
/// signed in again) is still the same create, and must not become a second sale. Any token of
/// that scope may read the session anyway. A derived key stays scoped by the token id: two
/// tokens sending the same cart are two sales.
pub fn storage_key(client_key: Option<&str>, scope: Option<&str>, jti: &str, body: &[u8]) -> Result<String, Problem> {
    match client_key {
        Some(k) => {
            if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Problem::validation(vec![kipp_core::validate::FieldError::new(
                    "Idempotency-Key",
                    "invalid",
                    "must be 1-255 visible ASCII characters",
                )]));
            }
            Ok(format!("idem:k:{}", h(&[b"scope", scope.unwrap_or("*").as_bytes(), k.as_bytes()])))
        }
        None => Ok(format!("idem:d:{}", h(&[jti.as_bytes(), body]))),
    }
}

/// True for a key derived from the body (the client sent no `Idempotency-Key`). Such keys
/// protect only a create still in flight or of unknown outcome; a finished one is not replayed.
#[must_use]
pub fn is_derived(storage_key: &str) -> bool {
    storage_key.starts_with("idem:d:")
}

/// A fingerprint of the body, to refuse a key reused with a different cart.
#[must_use]
pub fn body_hash(body: &[u8]) -> String {
    h(&[body])
}

/// The stored progress of one create.
///
/// Stored as `{"state":"pending"|"done", …fields}` (the JSON of an internally tagged enum), but
/// encoded through the flat [`StoredCreate`]: serde's tagged-enum decoder would buffer the whole
/// session and carry a second copy of its decoder (~45 KB of wasm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredCreate", into = "StoredCreate")]
pub enum CreateRecord {
    /// An attempt started and its outcome is not known (in flight, timed out, or lost).
    Pending {
        /// Body fingerprint.
        body_hash: String,
        /// When the first attempt started (ms).
        started_ms: i64,
        /// True once an attempt ended without a definite answer.
        ambiguous: bool,
        /// Order amount, currency and reference, to recognise the session when adopting.
        fingerprint: CartFingerprint,
    },
    /// The session exists.
    Done {
        /// Body fingerprint.
        body_hash: String,
        /// The session as first created.
        session: Box<Session>,
        /// When the record was written (ms; absent in records written before session 17): the
        /// purge of an older `done:` entry of the same key leaves a newer sale's record alone.
        done_ms: Option<i64>,
    },
}

/// The flat stored form of a [`CreateRecord`].
#[derive(Debug, Clone, Serialize, MapDeserialize)]
pub struct StoredCreate {
    /// `pending` or `done`.
    state: String,
    body_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ambiguous: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<CartFingerprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<Box<Session>>,
}

impl From<CreateRecord> for StoredCreate {
    fn from(r: CreateRecord) -> Self {
        match r {
            CreateRecord::Pending { body_hash, started_ms, ambiguous, fingerprint } => Self {
                state: "pending".into(),
                body_hash,
                started_ms: Some(started_ms),
                ambiguous: Some(ambiguous),
                fingerprint: Some(fingerprint),
                session: None,
            },
            CreateRecord::Done { body_hash, session, done_ms } => Self {
                state: "done".into(),
                body_hash,
                // The time the record was written, in the same field as a `Pending`'s start.
                started_ms: done_ms,
                ambiguous: None,
                fingerprint: None,
                session: Some(session),
            },
        }
    }
}

impl TryFrom<StoredCreate> for CreateRecord {
    type Error = &'static str;
    fn try_from(s: StoredCreate) -> Result<Self, Self::Error> {
        match (s.state.as_str(), s.session, s.started_ms, s.ambiguous, s.fingerprint) {
            ("done", Some(session), done_ms, ..) => Ok(Self::Done { body_hash: s.body_hash, session, done_ms }),
            ("pending", _, Some(started_ms), Some(ambiguous), Some(fingerprint)) => {
                Ok(Self::Pending { body_hash: s.body_hash, started_ms, ambiguous, fingerprint })
            }
            _ => Err("not a create record"),
        }
    }
}

/// What identifies a cart among sessions on the same device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct CartFingerprint {
    /// Order amount (minor units).
    pub order_amount: i64,
    /// Currency.
    pub currency: String,
    /// Merchant reference.
    pub reference: Option<String>,
}

impl CartFingerprint {
    /// True if a session read from Kustom matches this cart: the same amount and reference, and
    /// the same currency unless the session's could not be read (`decode_session`: a code kipp
    /// does not know is still this cart's).
    #[must_use]
    pub fn matches(&self, s: &Session) -> bool {
        s.order_amount.map(|a| a.minor()) == Some(self.order_amount)
            && s.purchase_currency.as_ref().is_none_or(|c| c.code() == self.currency)
            && s.merchant_reference1 == self.reference
    }
}

/// The order in which a session seen in a webhook is given to one of the ambiguous creates whose
/// cart it matches (the highest wins): a create not waiting for Kustom's answer right now (its
/// answer was lost) before one whose call is on its way, then the newest. A create still
/// waiting gets its session from that answer; taking the session for it would leave the create
/// whose answer was lost without it (its retries would then open a second session), and its own
/// answer (`device_busy`, if the session was the other create's) would forget the adoption.
#[must_use]
pub fn adoption_rank(in_flight: bool, started_ms: i64) -> (bool, i64) {
    (!in_flight, started_ms)
}

/// A pending ambiguous create older than this is given up (the session would have expired).
pub const PENDING_MAX_AGE_MS: i64 = 20 * 60 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adoption_prefers_a_create_whose_answer_was_lost_then_the_newest() {
        let lost_earlier = adoption_rank(false, 1_000);
        let waiting_newer = adoption_rank(true, 2_000);
        let lost_later = adoption_rank(false, 1_500);
        assert!(lost_earlier > waiting_newer, "a create still waiting for its answer comes last");
        assert!(lost_later > lost_earlier, "among ended ones, the newest");
        assert!(adoption_rank(true, 3_000) > waiting_newer, "among waiting ones too (the only match wins)");
    }

    #[test]
    fn a_cart_matches_a_session_by_amount_reference_and_a_readable_currency() {
        let fp = CartFingerprint { order_amount: 1000, currency: "SEK".into(), reference: Some("cart-7".into()) };
        let session = |extra: &str| {
            let body = format!(
                r#"{{"session_id":"550e8400-e29b-41d4-a716-446655440000","status":"CREATED",
                "device_id":"770e8400-e29b-41d4-a716-446655440002","order_amount":1000,"merchant_reference1":"cart-7"{extra}}}"#
            );
            kipp_core::api::sessions::decode_session(200, body.as_bytes()).unwrap()
        };
        assert!(fp.matches(&session(r#","purchase_currency":"SEK""#)));
        assert!(!fp.matches(&session(r#","purchase_currency":"NOK""#)));
        // A currency kipp cannot read (read in part, `decode_session`) is still this cart's.
        assert!(fp.matches(&session(r#","purchase_currency":"XXZ""#)));
        let mut other_amount = session(r#","purchase_currency":"SEK""#);
        other_amount.order_amount = kipp_core::money::Amount::new(999).ok();
        assert!(!fp.matches(&other_amount));
        let mut other_reference = session(r#","purchase_currency":"XXZ""#);
        other_reference.merchant_reference1 = None;
        assert!(!fp.matches(&other_reference));
    }

    #[test]
    fn keys() {
        let a = storage_key(Some("abc-1"), None, "j1", b"{}").unwrap();
        assert_eq!(a, storage_key(Some("abc-1"), None, "j1", b"{\"other\":1}").unwrap());
        // The same key from another token of the same scope (a refreshed token) is the same create.
        assert_eq!(a, storage_key(Some("abc-1"), None, "j2", b"{}").unwrap());
        let at_l = storage_key(Some("abc-1"), Some("loc-1"), "j1", b"{}").unwrap();
        assert_eq!(at_l, storage_key(Some("abc-1"), Some("loc-1"), "j2", b"{}").unwrap());
        assert_ne!(a, at_l, "another scope is another create");
        assert_ne!(at_l, storage_key(Some("abc-1"), Some("loc-2"), "j1", b"{}").unwrap());
        // A derived key stays the token's own.
        assert_ne!(storage_key(None, None, "j1", b"{}").unwrap(), storage_key(None, None, "j2", b"{}").unwrap());
        assert_ne!(storage_key(None, None, "j1", b"{}").unwrap(), storage_key(None, None, "j1", b"{ }").unwrap());
        assert_eq!(storage_key(Some("has space"), None, "j", b"").unwrap_err().status, Some(400));
        assert!(storage_key(Some(&"x".repeat(256)), None, "j", b"").is_err());
        assert_eq!(body_hash(b"a"), body_hash(b"a"));
        assert!(is_derived(&storage_key(None, None, "j1", b"{}").unwrap()));
        assert!(!is_derived(&a));
    }

    #[test]
    fn record_json_is_the_tagged_shape() {
        let fp = CartFingerprint { order_amount: 1000, currency: "SEK".into(), reference: None };
        let p = CreateRecord::Pending { body_hash: "h".into(), started_ms: 5, ambiguous: true, fingerprint: fp };
        let v: serde_json::Value = serde_json::to_value(&p).unwrap();
        assert_eq!(v["state"], "pending");
        assert_eq!(v["ambiguous"], true);
        assert_eq!(v["fingerprint"]["order_amount"], 1000);
        assert!(v.get("session").is_none());
        assert_eq!(serde_json::from_value::<CreateRecord>(v).unwrap(), p);
        let s: Session = serde_json::from_value(serde_json::json!({
            "session_id": "550e8400-e29b-41d4-a716-446655440000", "status": "CREATED",
            "device_id": "770e8400-e29b-41d4-a716-446655440002"
        }))
        .unwrap();
        let d = CreateRecord::Done { body_hash: "h".into(), session: Box::new(s), done_ms: Some(7) };
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.starts_with(r#"{"state":"done","body_hash":"h","started_ms":7,"session":{"#), "{text}");
        assert_eq!(serde_json::from_str::<CreateRecord>(&text).unwrap(), d);
        // A record written before the time was kept reads as one without it.
        let old = text.replace(r#""started_ms":7,"#, "");
        let CreateRecord::Done { done_ms, .. } = serde_json::from_str::<CreateRecord>(&old).unwrap() else { panic!() };
        assert_eq!(done_ms, None);
        assert!(serde_json::from_str::<CreateRecord>(r#"{"state":"done","body_hash":"h"}"#).is_err());
    }
}
