//! Signing and verification of webhook deliveries with the
//! [Standard Webhooks](https://www.standardwebhooks.com/) scheme (cargo feature `webhook`).
//!
//! Kustom's deliveries carry the headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (API.md §6.2), which is the symmetric scheme of the
//! [Standard Webhooks spec](https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
//!
//! - the signing secret is `whsec_` followed by the base64 of random key bytes;
//! - the signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, the timestamp being
//!   unix seconds in decimal;
//! - a signature is `v1,` followed by the base64 of HMAC-SHA256(key, content);
//! - `webhook-signature` is a space-separated list of signatures, one per secret while a
//!   secret is being rotated (Kustom signs with the old and the new one for up to 10 minutes);
//! - the receiver rejects timestamps outside a tolerance window (default
//!   [`DEFAULT_TOLERANCE_SECS`], in both directions) and compares signatures in constant time.
//!
//! Everything here is pure: the clock is an argument (`now_unix_secs`, `timestamp`), nothing
//! does I/O, and no input can make it panic. [`sign`] is what the emulator uses to send,
//! [`verify`] is what the edge worker calls on the raw body before parsing any JSON.
//!
//! ```
//! use kipp_core::webhook::{sign, verify, WebhookSecrets, DEFAULT_TOLERANCE_SECS};
//!
//! let secrets: WebhookSecrets = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
//! let body = br#"{"type":"ipp.session.finalized"}"#;
//! let signed = sign(&secrets, "kevt_62EvxyMEaAaHSGeoDTza47", 1_780_684_419, body)?;
//!
//! let delivery = verify(&signed.as_headers(), body, &secrets, 1_780_684_420, DEFAULT_TOLERANCE_SECS)?;
//! assert_eq!(delivery.id(), "kevt_62EvxyMEaAaHSGeoDTza47");
//! # Ok::<(), kipp_core::webhook::WebhookError>(())
//! ```

use core::fmt;
use core::ops::Deref;
use core::str::FromStr;

use crate::base64::{self, Alphabet, Padding};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Name of the header holding the delivery's unique id (stable across retries).
pub const HEADER_ID: &str = "webhook-id";
/// Name of the header holding the attempt's unix timestamp in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Name of the header holding the space-separated signature list.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Prefix of a serialized symmetric signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Default replay window: a timestamp may be this many seconds in the past or the future.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Shortest accepted key, in bytes (the spec asks for at least 24 random bytes).
pub const MIN_SECRET_LEN: usize = 24;
/// Longest accepted `webhook-id` value, in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest accepted `webhook-timestamp` value, in bytes (the digits of `i64::MAX`).
pub const MAX_TIMESTAMP_LEN: usize = 19;
/// Longest accepted `webhook-signature` value, in bytes.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 4096;
/// Number of signature entries [`verify`] examines (the rest are ignored), and the most
/// secrets [`sign`] and [`WebhookSecrets::parse`] accept.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;

/// Version tag of HMAC-SHA256 signatures; other versions (e.g. `v1a`, ed25519) are skipped.
const SIGNATURE_VERSION: &str = "v1";
/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;
/// Length of a padded standard-base64 HMAC-SHA256 tag.
const ENCODED_TAG_LEN: usize = 44;

/// Why a webhook secret, header set or delivery was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent.
    #[error("missing webhook header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but malformed (empty, too long, not UTF-8, not a canonical number…).
    #[error("invalid webhook header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name, e.g. [`HEADER_TIMESTAMP`].
        name: &'static str,
        /// What is wrong with its value.
        reason: &'static str,
    },
    /// The timestamp is further in the past than the tolerance allows (possible replay).
    #[error("webhook timestamp is older than the tolerance window")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("webhook timestamp is further in the future than the tolerance window")]
    TimestampTooNew,
    /// No `v1` signature in the header matches any configured secret.
    #[error("no webhook signature matched")]
    NoMatchingSignature,
    /// A configured secret could not be parsed.
    #[error("invalid webhook secret at position {index}: {reason}")]
    InvalidSecret {
        /// Zero-based position in the comma-separated list (0 for a single secret).
        index: usize,
        /// What is wrong with it (never the secret itself).
        reason: &'static str,
    },
    /// No secret was given to sign or verify with.
    #[error("no webhook secret configured")]
    NoSecrets,
}

impl WebhookError {
    /// A stable, machine-readable code for this error, e.g. `"webhook_signature_invalid"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "webhook_header_missing",
            Self::InvalidHeader { .. } => "webhook_header_invalid",
            Self::TimestampTooOld => "webhook_timestamp_too_old",
            Self::TimestampTooNew => "webhook_timestamp_too_new",
            Self::NoMatchingSignature => "webhook_signature_invalid",
            Self::InvalidSecret { .. } => "webhook_secret_invalid",
            Self::NoSecrets => "webhook_secret_missing",
        }
    }
}

/// One symmetric signing key; its `Debug` output is redacted and it has no `Display`.
///
/// Parsed from `whsec_<base64>`. The prefix is optional (a bare base64 key is accepted, as
/// the Standard Webhooks reference libraries do), base64 padding is optional, surrounding
/// whitespace is ignored, and the decoded key must be at least [`MIN_SECRET_LEN`] bytes.
/// Asymmetric keys (`whsk_`, `whpk_`) are rejected.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    mac: HmacSha256,
}

impl WebhookSecret {
    /// Parses one secret, `whsec_<base64>` or bare `<base64>`.
    pub fn parse(secret: &str) -> Result<Self, WebhookError> {
        Self::parse_at(secret, 0)
    }

    /// Builds a secret from raw key bytes (at least [`MIN_SECRET_LEN`] of them).
    pub fn from_bytes(key: &[u8]) -> Result<Self, WebhookError> {
        Self::from_bytes_at(key, 0)
    }

    /// Serializes the secret back to `whsec_<base64>`, for showing it to its owner once.
    #[must_use]
    pub fn expose_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", base64::encode(&self.key, Alphabet::Standard, true))
    }

    fn parse_at(secret: &str, index: usize) -> Result<Self, WebhookError> {
        let invalid = |reason| WebhookError::InvalidSecret { index, reason };
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(invalid("empty entry"));
        }
        if secret.starts_with("whsk_") || secret.starts_with("whpk_") {
            return Err(invalid("asymmetric (ed25519) keys are not supported, expected `whsec_`"));
        }
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        if encoded.is_empty() {
            return Err(invalid("nothing after `whsec_`"));
        }
        // Padding optional: the form secrets come in from the reference libraries.
        let key = base64::decode(encoded, Alphabet::Standard, Padding::Optional)
            .ok_or_else(|| invalid("not valid standard base64"))?;
        Self::from_bytes_at(&key, index)
    }

    fn from_bytes_at(key: &[u8], index: usize) -> Result<Self, WebhookError> {
        let invalid = |reason| WebhookError::InvalidSecret { index, reason };
        if key.len() < MIN_SECRET_LEN {
            return Err(invalid("key shorter than 24 bytes"));
        }
        let mac = HmacSha256::new_from_slice(key).map_err(|_| invalid("unusable HMAC key"))?;
        Ok(Self { key: key.to_vec(), mac })
    }

    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`, fed in pieces so nothing is copied.
    fn tag(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl FromStr for WebhookSecret {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A non-empty list of secrets, as in `KUSTOM_WEBHOOK_SECRETS=whsec_a,whsec_b`.
///
/// Entries are separated by `,` and trimmed; an empty entry (including a trailing comma) is an
/// error naming its position, and at most [`MAX_SIGNATURE_ENTRIES`] entries are accepted.
/// Derefs to `[WebhookSecret]`, so `&secrets` can be passed to [`sign`] and [`verify`].
#[derive(Clone, Debug)]
pub struct WebhookSecrets(Vec<WebhookSecret>);

impl WebhookSecrets {
    /// Parses a comma-separated list of secrets.
    pub fn parse(list: &str) -> Result<Self, WebhookError> {
        let mut secrets = Vec::new();
        for (index, entry) in list.split(',').enumerate() {
            if index >= MAX_SIGNATURE_ENTRIES {
                return Err(WebhookError::InvalidSecret { index, reason: "more than 16 secrets" });
            }
            secrets.push(WebhookSecret::parse_at(entry, index)?);
        }
        Ok(Self(secrets))
    }

    /// The secrets, in the order they were listed.
    #[must_use]
    pub fn as_slice(&self) -> &[WebhookSecret] {
        &self.0
    }
}

impl FromStr for WebhookSecrets {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<WebhookSecret> for WebhookSecrets {
    fn from(secret: WebhookSecret) -> Self {
        Self(vec![secret])
    }
}

impl Deref for WebhookSecrets {
    type Target = [WebhookSecret];

    fn deref(&self) -> &[WebhookSecret] {
        &self.0
    }
}

impl AsRef<[WebhookSecret]> for WebhookSecrets {
    fn as_ref(&self) -> &[WebhookSecret] {
        &self.0
    }
}

/// The three webhook header values of one delivery, borrowed and not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookHeaders<'a> {
    id: Option<&'a str>,
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
}

impl<'a> WebhookHeaders<'a> {
    /// All three headers present.
    #[must_use]
    pub const fn new(id: &'a str, timestamp: &'a str, signature: &'a str) -> Self {
        Self { id: Some(id), timestamp: Some(timestamp), signature: Some(signature) }
    }

    /// Headers as looked up from a header map; `None` means the header is absent.
    #[must_use]
    pub const fn from_options(id: Option<&'a str>, timestamp: Option<&'a str>, signature: Option<&'a str>) -> Self {
        Self { id, timestamp, signature }
    }

    /// Headers as raw bytes; rejects over-long and non-UTF-8 values with [`WebhookError::InvalidHeader`].
    pub fn from_bytes(
        id: Option<&'a [u8]>,
        timestamp: Option<&'a [u8]>,
        signature: Option<&'a [u8]>,
    ) -> Result<Self, WebhookError> {
        Ok(Self {
            id: utf8_header(HEADER_ID, MAX_ID_LEN, id)?,
            timestamp: utf8_header(HEADER_TIMESTAMP, MAX_TIMESTAMP_LEN, timestamp)?,
            signature: utf8_header(HEADER_SIGNATURE, MAX_SIGNATURE_HEADER_LEN, signature)?,
        })
    }
}

/// What [`verify`] vouches for: the delivery's id (for deduplication) and its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedDelivery<'a> {
    id: &'a str,
    timestamp: i64,
}

impl<'a> VerifiedDelivery<'a> {
    /// The `webhook-id`, the same on every retry of one event.
    #[must_use]
    pub const fn id(&self) -> &'a str {
        self.id
    }

    /// The `webhook-timestamp` of this attempt, in unix seconds.
    #[must_use]
    pub const fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

/// The three header values [`sign`] produces for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    id: String,
    timestamp: String,
    signature: String,
}

impl SignedHeaders {
    /// Value of the `webhook-id` header.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Value of the `webhook-timestamp` header.
    #[must_use]
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// Value of the `webhook-signature` header.
    #[must_use]
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// `(name, value)` pairs, ready to set on an outgoing request.
    #[must_use]
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [(HEADER_ID, &self.id), (HEADER_TIMESTAMP, &self.timestamp), (HEADER_SIGNATURE, &self.signature)]
    }

    /// The same values as a [`WebhookHeaders`], e.g. to [`verify`] them.
    #[must_use]
    pub fn as_headers(&self) -> WebhookHeaders<'_> {
        WebhookHeaders::new(&self.id, &self.timestamp, &self.signature)
    }
}

/// Signs a delivery: one `v1` signature per secret, space-separated, in the secrets' order.
///
/// `msg_id` must be a valid `webhook-id` (1 to [`MAX_ID_LEN`] visible ASCII characters, no
/// `.`), `timestamp` must not be negative, and there must be 1 to [`MAX_SIGNATURE_ENTRIES`]
/// secrets.
pub fn sign(
    secrets: &[WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<SignedHeaders, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    if secrets.len() > MAX_SIGNATURE_ENTRIES {
        return Err(WebhookError::InvalidSecret { index: MAX_SIGNATURE_ENTRIES, reason: "more than 16 secrets" });
    }
    check_id(msg_id)?;
    if timestamp < 0 {
        return Err(WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason: "negative" });
    }
    let timestamp = timestamp.to_string();
    let mut signature = String::with_capacity(secrets.len() * (ENCODED_TAG_LEN + 4));
    for (i, secret) in secrets.iter().enumerate() {
        if i > 0 {
            signature.push(' ');
        }
        signature.push_str(SIGNATURE_VERSION);
        signature.push(',');
        base64::encode_into(&secret.tag(msg_id, &timestamp, body), Alphabet::Standard, true, &mut signature);
    }
    Ok(SignedHeaders { id: msg_id.to_owned(), timestamp, signature })
}

/// Verifies a delivery against its raw body; call it before parsing the body.
///
/// In order: the headers are validated (each present, non-empty, bounded in length; the id
/// visible ASCII without `.`; the timestamp a canonical non-negative decimal), the timestamp
/// must lie within `tolerance_secs` of `now_unix_secs` in both directions (the edges pass),
/// then the HMAC of every secret is compared in constant time with each `v1` entry among the
/// first [`MAX_SIGNATURE_ENTRIES`] space-separated entries; entries with another version or a
/// malformed value are skipped, later entries are ignored. Succeeds on the first match. The
/// body's length is the caller's to bound (the work is one HMAC over it per secret).
pub fn verify<'a>(
    headers: &WebhookHeaders<'a>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now_unix_secs: i64,
    tolerance_secs: u64,
) -> Result<VerifiedDelivery<'a>, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    let id = present(HEADER_ID, MAX_ID_LEN, headers.id)?;
    check_id(id)?;
    let timestamp_header = present(HEADER_TIMESTAMP, MAX_TIMESTAMP_LEN, headers.timestamp)?;
    let timestamp = parse_timestamp(timestamp_header)?;
    let signature = present(HEADER_SIGNATURE, MAX_SIGNATURE_HEADER_LEN, headers.signature)?;

    check_tolerance(timestamp, now_unix_secs, tolerance_secs)?;

    for secret in secrets {
        let expected = secret.tag(id, timestamp_header, body);
        if v1_signatures(signature).any(|given| bool::from(expected.ct_eq(&given))) {
            return Ok(VerifiedDelivery { id, timestamp });
        }
    }
    Err(WebhookError::NoMatchingSignature)
}

/// Checks a raw header for length (before looking at its bytes) and UTF-8.
fn utf8_header<'a>(
    name: &'static str,
    max_len: usize,
    value: Option<&'a [u8]>,
) -> Result<Option<&'a str>, WebhookError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.len() > max_len {
        return Err(WebhookError::InvalidHeader { name, reason: "too long" });
    }
    core::str::from_utf8(value).map(Some).map_err(|_| WebhookError::InvalidHeader { name, reason: "not valid UTF-8" })
}

/// Requires a header to be present, non-empty and at most `max_len` bytes long.
fn present<'a>(name: &'static str, max_len: usize, value: Option<&'a str>) -> Result<&'a str, WebhookError> {
    let value = value.ok_or(WebhookError::MissingHeader(name))?;
    let reason = if value.is_empty() {
        "empty"
    } else if value.len() > max_len {
        "too long"
    } else {
        return Ok(value);
    };
    Err(WebhookError::InvalidHeader { name, reason })
}

/// A `webhook-id` is 1..=[`MAX_ID_LEN`] visible ASCII characters without `.`, so the signed
/// content `{id}.{timestamp}.{body}` splits in exactly one way.
fn check_id(id: &str) -> Result<(), WebhookError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > MAX_ID_LEN {
        "too long"
    } else if id.contains('.') {
        "contains `.`"
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        "not visible ASCII"
    } else {
        return Ok(());
    };
    Err(WebhookError::InvalidHeader { name: HEADER_ID, reason })
}

/// Parses a canonical non-negative decimal (no sign, no leading zero) into unix seconds.
fn parse_timestamp(value: &str) -> Result<i64, WebhookError> {
    let reason = if value.is_empty() {
        "empty"
    } else if value.len() > MAX_TIMESTAMP_LEN {
        "too long"
    } else if !value.bytes().all(|b| b.is_ascii_digit()) {
        "not a decimal number of seconds"
    } else if value.len() > 1 && value.starts_with('0') {
        "leading zero"
    } else if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    } else {
        "out of range"
    };
    Err(WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason })
}

/// Accepts `timestamp` iff `|timestamp - now| <= tolerance`; i128 cannot overflow here.
fn check_tolerance(timestamp: i64, now: i64, tolerance: u64) -> Result<(), WebhookError> {
    let skew = i128::from(timestamp) - i128::from(now);
    let tolerance = i128::from(tolerance);
    if skew < -tolerance {
        Err(WebhookError::TimestampTooOld)
    } else if skew > tolerance {
        Err(WebhookError::TimestampTooNew)
    } else {
        Ok(())
    }
}

/// Decoded `v1` tags among the first [`MAX_SIGNATURE_ENTRIES`] space-separated entries.
fn v1_signatures(header: &str) -> impl Iterator<Item = [u8; TAG_LEN]> + '_ {
    header.split(' ').filter(|entry| !entry.is_empty()).take(MAX_SIGNATURE_ENTRIES).filter_map(|entry| {
        let (version, encoded) = entry.split_once(',')?;
        if version != SIGNATURE_VERSION || encoded.len() != ENCODED_TAG_LEN {
            return None;
        }
        base64::decode(encoded, Alphabet::Standard, Padding::Required)?.try_into().ok()
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SECRET_B: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM=";
    const ID: &str = "kevt_62EvxyMEaAaHSGeoDTza47";
    const TS: i64 = 1_780_684_419;
    const BODY: &[u8] = br#"{"id":"kevt_62EvxyMEaAaHSGeoDTza47","type":"ipp.session.finalized"}"#;

    fn secrets(list: &str) -> WebhookSecrets {
        WebhookSecrets::parse(list).unwrap()
    }

    fn check(headers: &WebhookHeaders<'_>, body: &[u8], secrets: &[WebhookSecret]) -> Result<i64, WebhookError> {
        verify(headers, body, secrets, TS, DEFAULT_TOLERANCE_SECS).map(|d| d.timestamp())
    }

    #[test]
    fn known_answer_from_the_spec_libraries() {
        // The vector the Standard Webhooks reference libraries test against.
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#).unwrap();
        assert_eq!(signed.signature(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(signed.timestamp(), "1614265330");
    }

    #[test]
    fn round_trip() {
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, ID, TS, BODY).unwrap();
        assert_eq!(signed.id(), ID);
        assert_eq!(signed.timestamp(), "1780684419");
        assert!(signed.signature().starts_with("v1,"));
        assert_eq!(signed.signature().len(), 3 + ENCODED_TAG_LEN);
        let delivery = verify(&signed.as_headers(), BODY, &secrets, TS, 0).unwrap();
        assert_eq!(delivery.id(), ID);
        assert_eq!(delivery.timestamp(), TS);
        assert_eq!(
            signed.pairs(),
            [("webhook-id", ID), ("webhook-timestamp", "1780684419"), ("webhook-signature", signed.signature()),]
        );
    }

    #[test]
    fn empty_body_round_trips() {
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, ID, TS, b"").unwrap();
        assert_eq!(check(&signed.as_headers(), b"", &secrets), Ok(TS));
        assert_eq!(check(&signed.as_headers(), b" ", &secrets), Err(WebhookError::NoMatchingSignature));
    }

    #[test]
    fn tampering_is_detected() {
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, ID, TS, BODY).unwrap();
        let sig = signed.signature();
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        let bad = Err(WebhookError::NoMatchingSignature);
        assert_eq!(check(&signed.as_headers(), &body, &secrets), bad);
        assert_eq!(check(&signed.as_headers(), &BODY[1..], &secrets), bad);
        let other_id = WebhookHeaders::new("kevt_62EvxyMEaAaHSGeoDTza48", "1780684419", sig);
        assert_eq!(check(&other_id, BODY, &secrets), bad);
        let other_ts = WebhookHeaders::new(ID, "1780684420", sig);
        assert_eq!(check(&other_ts, BODY, &secrets), bad);
        assert_eq!(check(&signed.as_headers(), BODY, &self::secrets(SECRET_B)), bad);
    }

    #[test]
    fn rotation_signs_with_every_secret_and_each_verifies() {
        let both = secrets(&format!("{SECRET_A}, {SECRET_B}"));
        assert_eq!(both.len(), 2);
        let signed = sign(&both, ID, TS, BODY).unwrap();
        let entries: Vec<&str> = signed.signature().split(' ').collect();
        assert_eq!(entries.len(), 2);
        for (list, entry) in [(SECRET_A, entries[0]), (SECRET_B, entries[1])] {
            let one = secrets(list);
            assert_eq!(sign(&one, ID, TS, BODY).unwrap().signature(), entry);
            assert_eq!(check(&signed.as_headers(), BODY, &one), Ok(TS));
        }
        // A receiver holding both secrets accepts a delivery signed with either one.
        for list in [SECRET_A, SECRET_B] {
            let signed = sign(&secrets(list), ID, TS, BODY).unwrap();
            assert_eq!(check(&signed.as_headers(), BODY, &both), Ok(TS));
        }
    }

    #[test]
    fn one_matching_entry_among_others_is_enough() {
        let secrets = secrets(SECRET_A);
        let good = sign(&secrets, ID, TS, BODY).unwrap();
        let wrong = sign(&self::secrets(SECRET_B), ID, TS, BODY).unwrap();
        let header = format!(
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== \
             {}  v2,abc garbage v1,not-base64 v1, {} ",
            wrong.signature(),
            good.signature()
        );
        let headers = WebhookHeaders::new(ID, "1780684419", &header);
        assert_eq!(check(&headers, BODY, &secrets), Ok(TS));
    }

    #[test]
    fn other_versions_are_ignored() {
        let secrets = secrets(SECRET_A);
        let good = sign(&secrets, ID, TS, BODY).unwrap();
        let v2 = good.signature().replacen("v1,", "v2,", 1);
        let headers = WebhookHeaders::new(ID, "1780684419", &v2);
        assert_eq!(check(&headers, BODY, &secrets), Err(WebhookError::NoMatchingSignature));
    }

    #[test]
    fn only_the_first_entries_are_examined() {
        let secrets = secrets(SECRET_A);
        let good = sign(&secrets, ID, TS, BODY).unwrap();
        let filler = format!("v1,{}= ", "A".repeat(ENCODED_TAG_LEN - 1));
        let late = format!("{}{}", filler.repeat(MAX_SIGNATURE_ENTRIES), good.signature());
        let headers = WebhookHeaders::new(ID, "1780684419", &late);
        assert_eq!(check(&headers, BODY, &secrets), Err(WebhookError::NoMatchingSignature));
        let just_in = format!("{}{}", filler.repeat(MAX_SIGNATURE_ENTRIES - 1), good.signature());
        let headers = WebhookHeaders::new(ID, "1780684419", &just_in);
        assert_eq!(check(&headers, BODY, &secrets), Ok(TS));
    }

    #[test]
    fn tolerance_edges() {
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, ID, TS, BODY).unwrap();
        let h = signed.as_headers();
        let at = |now, tol| verify(&h, BODY, &secrets, now, tol).map(|d| d.timestamp());
        assert_eq!(at(TS + 300, 300), Ok(TS));
        assert_eq!(at(TS + 301, 300), Err(WebhookError::TimestampTooOld));
        assert_eq!(at(TS - 300, 300), Ok(TS));
        assert_eq!(at(TS - 301, 300), Err(WebhookError::TimestampTooNew));
        assert_eq!(at(TS, 0), Ok(TS));
        assert_eq!(at(TS + 1, 0), Err(WebhookError::TimestampTooOld));
        assert_eq!(at(TS - 1, 0), Err(WebhookError::TimestampTooNew));
        assert_eq!(at(i64::MAX, u64::MAX), Ok(TS));
        assert_eq!(at(i64::MIN, u64::MAX), Ok(TS));
        assert_eq!(at(i64::MAX, 0), Err(WebhookError::TimestampTooOld));
        assert_eq!(at(i64::MIN, 0), Err(WebhookError::TimestampTooNew));
    }

    #[test]
    fn timestamp_is_checked_before_the_signature() {
        let secrets = secrets(SECRET_A);
        let stale = WebhookHeaders::new(ID, "1000", "v1,garbage");
        assert_eq!(check(&stale, BODY, &secrets), Err(WebhookError::TimestampTooOld));
    }

    #[test]
    fn huge_and_odd_timestamps() {
        let secrets = secrets(SECRET_A);
        let invalid = |reason| Err(WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason });
        let cases = [
            ("9223372036854775807", Err(WebhookError::TimestampTooNew)),
            ("9223372036854775808", invalid("out of range")),
            ("9999999999999999999", invalid("out of range")),
            ("99999999999999999999", invalid("too long")),
            ("0", Err(WebhookError::TimestampTooOld)),
            ("01780684419", invalid("leading zero")),
            ("-1", invalid("not a decimal number of seconds")),
            ("+1780684419", invalid("not a decimal number of seconds")),
            ("1780684419.0", invalid("not a decimal number of seconds")),
            (" 1780684419", invalid("not a decimal number of seconds")),
            ("1e9", invalid("not a decimal number of seconds")),
            ("１７８０６８４４１９", invalid("too long")),
            ("", invalid("empty")),
        ];
        for (ts, expected) in cases {
            let headers = WebhookHeaders::new(ID, ts, "v1,x");
            assert_eq!(check(&headers, BODY, &secrets), expected, "timestamp {ts:?}");
            let lenient = verify(&headers, BODY, &secrets, i64::MAX, u64::MAX);
            assert!(lenient.is_err(), "timestamp {ts:?}");
        }
    }

    #[test]
    fn garbage_headers() {
        let secrets = secrets(SECRET_A);
        let long_id = "k".repeat(MAX_ID_LEN + 1);
        let long_sig = "v1,x ".repeat(MAX_SIGNATURE_HEADER_LEN);
        let id_err = |reason| Err(WebhookError::InvalidHeader { name: HEADER_ID, reason });
        let cases: [(WebhookHeaders<'_>, Result<i64, WebhookError>); 11] = [
            (WebhookHeaders::from_options(None, Some("1"), Some("v1,x")), Err(WebhookError::MissingHeader(HEADER_ID))),
            (
                WebhookHeaders::from_options(Some(ID), None, Some("v1,x")),
                Err(WebhookError::MissingHeader(HEADER_TIMESTAMP)),
            ),
            (
                WebhookHeaders::from_options(Some(ID), Some("1780684419"), None),
                Err(WebhookError::MissingHeader(HEADER_SIGNATURE)),
            ),
            (WebhookHeaders::new("", "1780684419", "v1,x"), id_err("empty")),
            (WebhookHeaders::new(&long_id, "1780684419", "v1,x"), id_err("too long")),
            (WebhookHeaders::new("kevt.1", "1780684419", "v1,x"), id_err("contains `.`")),
            (WebhookHeaders::new("kevt 1", "1780684419", "v1,x"), id_err("not visible ASCII")),
            (WebhookHeaders::new("kévt", "1780684419", "v1,x"), id_err("not visible ASCII")),
            (
                WebhookHeaders::new(ID, "1780684419", ""),
                Err(WebhookError::InvalidHeader { name: HEADER_SIGNATURE, reason: "empty" }),
            ),
            (
                WebhookHeaders::new(ID, "1780684419", &long_sig),
                Err(WebhookError::InvalidHeader { name: HEADER_SIGNATURE, reason: "too long" }),
            ),
            (WebhookHeaders::new(ID, "1780684419", ", , v1 v1,,,, ,v1,=,"), Err(WebhookError::NoMatchingSignature)),
        ];
        for (headers, expected) in cases {
            assert_eq!(check(&headers, BODY, &secrets), expected, "{headers:?}");
        }
    }

    #[test]
    fn no_secrets_is_a_configuration_error() {
        let signed = sign(&secrets(SECRET_A), ID, TS, BODY).unwrap();
        assert_eq!(check(&signed.as_headers(), BODY, &[]), Err(WebhookError::NoSecrets));
        assert_eq!(sign(&[], ID, TS, BODY), Err(WebhookError::NoSecrets));
    }

    #[test]
    fn non_utf8_header_bytes() {
        let bad = b"kevt_\xff\xfe";
        assert_eq!(
            WebhookHeaders::from_bytes(Some(bad), Some(b"1"), Some(b"v1,x")),
            Err(WebhookError::InvalidHeader { name: HEADER_ID, reason: "not valid UTF-8" })
        );
        assert_eq!(
            WebhookHeaders::from_bytes(Some(b"kevt_1"), Some(b"17\xc3"), Some(b"v1,x")),
            Err(WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason: "not valid UTF-8" })
        );
        assert_eq!(
            WebhookHeaders::from_bytes(Some(b"kevt_1"), Some(b"1"), Some(b"v1,\x80")),
            Err(WebhookError::InvalidHeader { name: HEADER_SIGNATURE, reason: "not valid UTF-8" })
        );
        let long = vec![0xff_u8; MAX_SIGNATURE_HEADER_LEN + 1];
        assert_eq!(
            WebhookHeaders::from_bytes(None, None, Some(&long)),
            Err(WebhookError::InvalidHeader { name: HEADER_SIGNATURE, reason: "too long" })
        );
        let secrets = secrets(SECRET_A);
        let signed = sign(&secrets, ID, TS, BODY).unwrap();
        let headers = WebhookHeaders::from_bytes(
            Some(signed.id().as_bytes()),
            Some(signed.timestamp().as_bytes()),
            Some(signed.signature().as_bytes()),
        )
        .unwrap();
        assert_eq!(headers, signed.as_headers());
        assert_eq!(check(&headers, BODY, &secrets), Ok(TS));
        assert_eq!(
            WebhookHeaders::from_bytes(None, None, None).unwrap(),
            WebhookHeaders::from_options(None, None, None)
        );
    }

    #[test]
    fn secret_forms() {
        let with_prefix = WebhookSecret::parse(SECRET_A).unwrap();
        let bare = WebhookSecret::parse(&SECRET_A[SECRET_PREFIX.len()..]).unwrap();
        let padded = WebhookSecret::parse(SECRET_B).unwrap();
        let unpadded = WebhookSecret::parse(SECRET_B.trim_end_matches('=')).unwrap();
        let spaced: WebhookSecret = format!("  {SECRET_A}\n").parse().unwrap();
        assert_eq!(with_prefix.key, bare.key);
        assert_eq!(with_prefix.key, spaced.key);
        assert_eq!(padded.key, unpadded.key);
        assert_eq!(with_prefix.expose_whsec(), SECRET_A);
        assert_eq!(padded.expose_whsec(), SECRET_B);
        let from_bytes = WebhookSecret::from_bytes(&with_prefix.key).unwrap();
        assert_eq!(from_bytes.expose_whsec(), SECRET_A);
    }

    #[test]
    fn bad_secrets() {
        let invalid = |index, reason| Err(WebhookError::InvalidSecret { index, reason });
        let one = |s: &str| WebhookSecret::parse(s).map(|s| s.key.len());
        assert_eq!(one(""), invalid(0, "empty entry"));
        assert_eq!(one("   "), invalid(0, "empty entry"));
        assert_eq!(one("whsec_"), invalid(0, "nothing after `whsec_`"));
        assert_eq!(one("whsec_!!!!"), invalid(0, "not valid standard base64"));
        assert_eq!(one("whsec_dGVzdA=="), invalid(0, "key shorter than 24 bytes"));
        assert_eq!(
            one("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            invalid(0, "asymmetric (ed25519) keys are not supported, expected `whsec_`")
        );
        assert_eq!(WebhookSecret::from_bytes(&[7; 23]).map(|s| s.key.len()), invalid(0, "key shorter than 24 bytes"));
        assert_eq!(one(SECRET_A), Ok(24));

        let list = |s: &str| WebhookSecrets::parse(s).map(|s| s.len());
        assert_eq!(list(""), invalid(0, "empty entry"));
        assert_eq!(list(&format!("{SECRET_A},")), invalid(1, "empty entry"));
        assert_eq!(list(&format!("{SECRET_A},,{SECRET_B}")), invalid(1, "empty entry"));
        assert_eq!(list(&format!(",{SECRET_A}")), invalid(0, "empty entry"));
        assert_eq!(list(&format!("{SECRET_A}, whsec_x")), invalid(1, "not valid standard base64"));
        assert_eq!(list(&format!("{SECRET_A},{SECRET_B}")), Ok(2));
        let sixteen = vec![SECRET_A; MAX_SIGNATURE_ENTRIES].join(",");
        assert_eq!(list(&sixteen), Ok(MAX_SIGNATURE_ENTRIES));
        assert_eq!(list(&format!("{sixteen},{SECRET_A}")), invalid(MAX_SIGNATURE_ENTRIES, "more than 16 secrets"));
    }

    #[test]
    fn secrets_never_print() {
        let secrets = secrets(&format!("{SECRET_A},{SECRET_B}"));
        let debug = format!("{secrets:?} {:?}", secrets[0]);
        assert_eq!(
            debug,
            "WebhookSecrets([WebhookSecret(<redacted>), WebhookSecret(<redacted>)]) WebhookSecret(<redacted>)"
        );
        let err = WebhookSecret::parse("whsec_c2VjcmV0!").unwrap_err().to_string();
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn sign_rejects_what_verify_would() {
        let secrets = secrets(SECRET_A);
        let id_err = |reason| Err(WebhookError::InvalidHeader { name: HEADER_ID, reason });
        assert_eq!(sign(&secrets, "", TS, BODY), id_err("empty"));
        assert_eq!(sign(&secrets, "a.b", TS, BODY), id_err("contains `.`"));
        assert_eq!(sign(&secrets, "a\nb", TS, BODY), id_err("not visible ASCII"));
        assert_eq!(
            sign(&secrets, ID, -1, BODY),
            Err(WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason: "negative" })
        );
        let many = vec![secrets[0].clone(); MAX_SIGNATURE_ENTRIES + 1];
        assert_eq!(
            sign(&many, ID, TS, BODY),
            Err(WebhookError::InvalidSecret { index: MAX_SIGNATURE_ENTRIES, reason: "more than 16 secrets" })
        );
        let max = sign(&many[1..], ID, i64::MAX, BODY).unwrap();
        assert_eq!(max.signature().split(' ').count(), MAX_SIGNATURE_ENTRIES);
        assert_eq!(verify(&max.as_headers(), BODY, &many[..1], i64::MAX, 0).map(|d| d.timestamp()), Ok(i64::MAX));
        assert_eq!(sign(&secrets, ID, 0, BODY).unwrap().timestamp(), "0");
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (WebhookError::MissingHeader(HEADER_ID), "webhook_header_missing"),
            (WebhookError::InvalidHeader { name: HEADER_ID, reason: "empty" }, "webhook_header_invalid"),
            (WebhookError::TimestampTooOld, "webhook_timestamp_too_old"),
            (WebhookError::TimestampTooNew, "webhook_timestamp_too_new"),
            (WebhookError::NoMatchingSignature, "webhook_signature_invalid"),
            (WebhookError::InvalidSecret { index: 0, reason: "empty entry" }, "webhook_secret_invalid"),
            (WebhookError::NoSecrets, "webhook_secret_missing"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            WebhookError::InvalidHeader { name: HEADER_TIMESTAMP, reason: "leading zero" }.to_string(),
            "invalid webhook header `webhook-timestamp`: leading zero"
        );
    }

    fn arb_signature_header() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "(v1[a-z0-9]?,[A-Za-z0-9+/=]{0,50} ?){0,20}", "[ ,v1]{0,64}",]
    }

    fn arb_secret() -> impl Strategy<Value = WebhookSecret> {
        proptest::collection::vec(any::<u8>(), MIN_SECRET_LEN..=64)
            .prop_map(|key| WebhookSecret::from_bytes(&key).unwrap())
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            id in prop_oneof![any::<String>(), "[!-~]{0,300}"],
            timestamp in prop_oneof![any::<String>(), "[0-9]{0,22}", "-?[0-9]{1,20}"],
            signature in arb_signature_header(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            now in any::<i64>(),
            tolerance in any::<u64>(),
        ) {
            let secrets = secrets(SECRET_A);
            let headers = WebhookHeaders::new(&id, &timestamp, &signature);
            // Random headers never carry a valid HMAC, so this must fail, and never panic.
            prop_assert!(verify(&headers, &body, &secrets, now, tolerance).is_err());
        }

        #[test]
        fn from_bytes_never_panics(
            id in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            timestamp in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)),
            signature in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Ok(headers) =
                WebhookHeaders::from_bytes(id.as_deref(), timestamp.as_deref(), signature.as_deref())
            {
                let _ = verify(&headers, &body, &secrets(SECRET_A), TS, DEFAULT_TOLERANCE_SECS);
            }
        }

        #[test]
        fn secret_parsing_never_panics(list in any::<String>()) {
            let _ = WebhookSecrets::parse(&list);
        }

        #[test]
        fn sign_then_verify_round_trips(
            id in "[!-\\-/-~]{1,256}",
            timestamp in 0..=i64::MAX,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            keys in proptest::collection::vec(arb_secret(), 1..=3),
            skew in -300_i64..=300,
        ) {
            let signed = sign(&keys, &id, timestamp, &body).unwrap();
            let now = timestamp.saturating_add(skew);
            for key in &keys {
                let delivery = verify(&signed.as_headers(), &body, core::slice::from_ref(key), now, 300);
                prop_assert_eq!(delivery, Ok(VerifiedDelivery { id: id.as_str(), timestamp }));
            }
            let mut tampered = body.clone();
            tampered.push(b' ');
            prop_assert_eq!(
                verify(&signed.as_headers(), &tampered, &keys, now, 300),
                Err(WebhookError::NoMatchingSignature)
            );
        }
    }
}
