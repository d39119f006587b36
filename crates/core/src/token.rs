//! POS tokens: what a browser sends the edge worker as `Authorization: Bearer …`
//! (cargo feature `token`).
//!
//! ```text
//! kipp1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "kipp1." + claims part))>
//! claims: {"jti":"…","role":"clerk"|"admin","loc":"<location uuid>"?,"iat":<unix s>,"exp":<unix s>}
//! ```
//!
//! Base64url is unpadded. The key is `KIPP_TOKEN_KEY`: standard or url-safe base64 of at
//! least [`MIN_KEY_LEN`] random bytes. Everything here is pure: the clock and the randomness
//! are arguments, the MAC is compared in constant time before any JSON is parsed, and no
//! input can make it panic.
//!
//! ```
//! use kipp_core::token::{mint, verify, Claims, Role, TokenKey};
//!
//! let key = TokenKey::parse("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")?;
//! let claims = Claims::new(Role::Clerk, None, 1_700_000_000, 3600, [7; 16]);
//! let token = mint(&key, &claims)?;
//! assert_eq!(verify(&key, &token, 1_700_000_100)?, claims);
//! # Ok::<(), kipp_core::token::TokenError>(())
//! ```

use core::fmt;

use crate::base64::{self, Alphabet, Padding};
use hmac::{Hmac, Mac};
use kipp_derive::MapDeserialize;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ids::LocationId;

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of every token.
pub const PREFIX: &str = "kipp1";
/// Shortest accepted key, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Longest token text accepted (anything longer is refused before decoding).
pub const MAX_TOKEN_LEN: usize = 1024;
/// Longest accepted lifetime: 31 days.
pub const MAX_TTL_SECS: u64 = 31 * 24 * 3600;
/// Seconds a token's `iat` may lie in the future (clock skew between minting hosts).
pub const IAT_SKEW_SECS: i64 = 60;

const MAC_LEN: usize = 32;

/// Why a token or key was refused. Codes are stable; messages never contain key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three dot-separated parts starting with `kipp1`, too long, or bad base64.
    #[error("malformed token")]
    Malformed,
    /// The MAC does not match (tampered, or signed with another key).
    #[error("token signature does not match")]
    BadSignature,
    /// The claims are not the expected JSON.
    #[error("token claims are invalid")]
    BadClaims,
    /// `exp` is not after now.
    #[error("token expired")]
    Expired,
    /// `iat` lies in the future beyond the allowed skew.
    #[error("token not yet valid")]
    NotYetValid,
    /// The key is not base64 of at least 32 bytes.
    #[error("invalid token key: {0}")]
    InvalidKey(&'static str),
    /// A lifetime of 0 or above 31 days was asked for.
    #[error("token lifetime must be 1 s to 31 days")]
    InvalidTtl,
}

impl TokenError {
    /// A stable, machine-readable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::BadSignature => "token_signature_invalid",
            Self::BadClaims => "token_claims_invalid",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::InvalidKey(_) => "token_key_invalid",
            Self::InvalidTtl => "token_ttl_invalid",
        }
    }
}

/// The signing key; `Debug` is redacted and there is no `Display`.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// Parses base64 (standard or url-safe, padding optional; surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::InvalidKey("empty"));
        }
        let bytes = base64::decode(t, Alphabet::Standard, Padding::Optional)
            .or_else(|| base64::decode(t, Alphabet::UrlSafe, Padding::Optional))
            .ok_or(TokenError::InvalidKey("not base64"))?;
        Self::from_bytes(&bytes)
    }

    /// A key from raw bytes (at least [`MIN_KEY_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(TokenError::InvalidKey("shorter than 32 bytes"));
        }
        Ok(Self(bytes.to_vec()))
    }

    fn mac(&self, signed: &[u8]) -> [u8; MAC_LEN] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        m.update(signed);
        m.finalize().into_bytes().into()
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Create/get/cancel sessions, read devices and locations.
    Clerk,
    /// Everything a clerk can, plus enrollments, device and location changes, minting tokens.
    Admin,
}

impl Role {
    /// `clerk` or `admin`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Clerk => "clerk",
            Self::Admin => "admin",
        }
    }

    /// Parses `clerk` or `admin`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clerk" => Some(Self::Clerk),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The signed claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Token id (for revocation), 1–64 characters of `[A-Za-z0-9_-]`.
    pub jti: String,
    /// Role.
    pub role: Role,
    /// The only location this token may see and act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<LocationId>,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// The ids of the tokens that minted this one through the worker's admin route, the
    /// direct minter last (at most [`MAX_MINT_DEPTH`]): revoking any of them revokes this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<String>,
}

/// Most ancestors a minted token records (`Claims::by`); a token with that many mints no more.
pub const MAX_MINT_DEPTH: usize = 4;

pub use crate::ids::is_jti;

impl Claims {
    /// Claims issued `now` for `ttl_secs`, with a jti made from 16 random bytes the caller supplies.
    #[must_use]
    pub fn new(role: Role, loc: Option<LocationId>, now: i64, ttl_secs: u64, random: [u8; 16]) -> Self {
        let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
        Self {
            jti: base64::encode(&random, Alphabet::UrlSafe, false),
            role,
            loc,
            iat: now,
            exp: now.saturating_add(ttl),
            by: Vec::new(),
        }
    }

    /// Claims for a token minted by the holder of `minter`: it records the minter and the
    /// minter's own ancestors, so that revoking any of them revokes it. `None` when `minter`
    /// already has [`MAX_MINT_DEPTH`] ancestors.
    #[must_use]
    pub fn minted_by(mut self, minter: &Claims) -> Option<Self> {
        if minter.by.len() >= MAX_MINT_DEPTH {
            return None;
        }
        self.by = minter.by.iter().cloned().chain([minter.jti.clone()]).collect();
        Some(self)
    }

    /// True when `is_revoked` names this token's id or the id of a token it was minted by.
    pub fn is_revoked(&self, is_revoked: impl Fn(&str) -> bool) -> bool {
        is_revoked(&self.jti) || self.by.iter().any(|j| is_revoked(j))
    }

    /// A lifetime (`exp − iat`) of 1 s to [`MAX_TTL_SECS`].
    fn lifetime_ok(&self) -> bool {
        self.exp.checked_sub(self.iat).is_some_and(|t| t > 0 && t.unsigned_abs() <= MAX_TTL_SECS)
    }

    fn jti_ok(&self) -> bool {
        is_jti(&self.jti) && self.by.len() <= MAX_MINT_DEPTH && self.by.iter().all(|j| is_jti(j))
    }
}

/// Signs claims into token text. Refuses a lifetime of 0 or above [`MAX_TTL_SECS`] and a malformed jti.
pub fn mint(key: &TokenKey, claims: &Claims) -> Result<String, TokenError> {
    if !claims.lifetime_ok() {
        return Err(TokenError::InvalidTtl);
    }
    if !claims.jti_ok() {
        return Err(TokenError::BadClaims);
    }
    let json = serde_json::to_vec(claims).map_err(|_| TokenError::BadClaims)?;
    let mut out = String::with_capacity(PREFIX.len() + 2 + json.len() * 4 / 3 + 44);
    out.push_str(PREFIX);
    out.push('.');
    base64::encode_into(&json, Alphabet::UrlSafe, false, &mut out);
    let mac = key.mac(out.as_bytes());
    out.push('.');
    base64::encode_into(&mac, Alphabet::UrlSafe, false, &mut out);
    Ok(out)
}

/// Verifies token text at `now` (unix seconds): format, MAC (constant time, before any JSON is
/// read), claims (a lifetime `exp − iat` of 1 s to 31 days), `exp > now`, `iat ≤ now + 60`.
/// Revocation is the caller's (a list of jtis).
pub fn verify(key: &TokenKey, token: &str, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (signed, mac_part) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (prefix, claims_part) = signed.split_once('.').ok_or(TokenError::Malformed)?;
    if prefix != PREFIX || claims_part.is_empty() || claims_part.contains('.') {
        return Err(TokenError::Malformed);
    }
    let given = base64::decode(mac_part, Alphabet::UrlSafe, Padding::Forbidden).ok_or(TokenError::Malformed)?;
    if given.len() != MAC_LEN {
        return Err(TokenError::Malformed);
    }
    let expected = key.mac(signed.as_bytes());
    if !bool::from(expected.ct_eq(&given)) {
        return Err(TokenError::BadSignature);
    }
    let json = base64::decode(claims_part, Alphabet::UrlSafe, Padding::Forbidden).ok_or(TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::BadClaims)?;
    // A lifetime `mint` would refuse is refused here too: a token signed outside `mint` (with a
    // leaked or hand-used key) cannot outlive the 31 days every minted token is held to.
    if !claims.jti_ok() || !claims.lifetime_ok() {
        return Err(TokenError::BadClaims);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat > now.saturating_add(IAT_SKEW_SECS) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// Parses a lifetime such as `12h`, `30m`, `45s`, `7d` or a bare number of seconds.
pub fn parse_ttl(text: &str) -> Result<u64, TokenError> {
    let t = text.trim();
    let (num, mult) = match t.as_bytes().last() {
        Some(b's') => (&t[..t.len() - 1], 1),
        Some(b'm') => (&t[..t.len() - 1], 60),
        Some(b'h') => (&t[..t.len() - 1], 3600),
        Some(b'd') => (&t[..t.len() - 1], 86_400),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| TokenError::InvalidTtl)?;
    let secs = n.checked_mul(mult).ok_or(TokenError::InvalidTtl)?;
    if secs == 0 || secs > MAX_TTL_SECS {
        return Err(TokenError::InvalidTtl);
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const NOW: i64 = 1_700_000_000;

    fn key() -> TokenKey {
        TokenKey::parse(KEY).unwrap()
    }

    fn loc() -> LocationId {
        LocationId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap()
    }

    #[test]
    fn round_trip_with_location() {
        let c = Claims::new(Role::Admin, Some(loc()), NOW, 43_200, [1; 16]);
        let t = mint(&key(), &c).unwrap();
        assert!(t.starts_with("kipp1."));
        assert_eq!(t.split('.').count(), 3);
        assert!(!t.contains('='));
        assert_eq!(verify(&key(), &t, NOW + 43_199).unwrap(), c);
    }

    #[test]
    fn expiry_and_future_iat() {
        let c = Claims::new(Role::Clerk, None, NOW, 10, [2; 16]);
        let t = mint(&key(), &c).unwrap();
        assert_eq!(verify(&key(), &t, NOW + 10), Err(TokenError::Expired));
        assert_eq!(verify(&key(), &t, NOW - 61), Err(TokenError::NotYetValid));
        assert!(verify(&key(), &t, NOW - 60).is_ok());
    }

    #[test]
    fn tampering_and_other_keys_fail() {
        let c = Claims::new(Role::Clerk, None, NOW, 3600, [3; 16]);
        let t = mint(&key(), &c).unwrap();
        let other = TokenKey::from_bytes(&[9; 32]).unwrap();
        assert_eq!(verify(&other, &t, NOW), Err(TokenError::BadSignature));
        // Promote the role without re-signing.
        let parts: Vec<&str> = t.split('.').collect();
        let claims = base64::decode(parts[1], Alphabet::UrlSafe, Padding::Forbidden).unwrap();
        let promoted = String::from_utf8(claims).unwrap().replace("clerk", "admin");
        let forged_claims = base64::encode(promoted.as_bytes(), Alphabet::UrlSafe, false);
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(verify(&key(), &forged, NOW), Err(TokenError::BadSignature));
        assert_eq!(verify(&key(), "kipp1.abc", NOW), Err(TokenError::Malformed));
        assert_eq!(verify(&key(), "kipp2.abc.def", NOW), Err(TokenError::Malformed));
        assert_eq!(verify(&key(), "", NOW), Err(TokenError::Malformed));
        assert_eq!(verify(&key(), &"a".repeat(5000), NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn a_minted_token_records_its_minters_and_is_revoked_with_any_of_them() {
        let root = Claims::new(Role::Admin, None, NOW, 3600, [1; 16]);
        let child = Claims::new(Role::Admin, None, NOW, 60, [2; 16]).minted_by(&root).unwrap();
        let grandchild = Claims::new(Role::Clerk, None, NOW, 60, [3; 16]).minted_by(&child).unwrap();
        assert_eq!(grandchild.by, vec![root.jti.clone(), child.jti.clone()]);
        let t = mint(&key(), &grandchild).unwrap();
        let back = verify(&key(), &t, NOW).unwrap();
        assert_eq!(back, grandchild, "the chain survives signing");
        for revoked in [&root.jti, &child.jti, &grandchild.jti] {
            assert!(back.is_revoked(|j| j == revoked.as_str()), "{revoked}");
        }
        assert!(!back.is_revoked(|j| j == "someone-else"));
        // Tokens minted before this field (no `by`) still verify.
        assert!(verify(&key(), &mint(&key(), &root).unwrap(), NOW).unwrap().by.is_empty());
        let mut deep = root;
        for i in 0..MAX_MINT_DEPTH {
            deep = Claims::new(Role::Admin, None, NOW, 60, [10 + i as u8; 16]).minted_by(&deep).unwrap();
        }
        assert!(Claims::new(Role::Admin, None, NOW, 60, [99; 16]).minted_by(&deep).is_none(), "no deeper");
        let mut bad = Claims::new(Role::Clerk, None, NOW, 60, [4; 16]);
        bad.by = vec!["not a jti".into()];
        assert_eq!(mint(&key(), &bad), Err(TokenError::BadClaims));
    }

    /// Signs claims as `mint` does, without its checks.
    fn sign_unchecked(claims: &Claims) -> String {
        let mut out = format!("{PREFIX}.");
        base64::encode_into(&serde_json::to_vec(claims).unwrap(), Alphabet::UrlSafe, false, &mut out);
        let mac = key().mac(out.as_bytes());
        out.push('.');
        base64::encode_into(&mac, Alphabet::UrlSafe, false, &mut out);
        out
    }

    #[test]
    fn a_signed_lifetime_mint_would_refuse_is_refused() {
        let longest = Claims::new(Role::Admin, None, NOW, MAX_TTL_SECS, [5; 16]);
        assert_eq!(sign_unchecked(&longest), mint(&key(), &longest).unwrap(), "signed as mint signs");
        assert!(verify(&key(), &sign_unchecked(&longest), NOW).is_ok());
        let too_long = Claims::new(Role::Admin, None, NOW, MAX_TTL_SECS + 1, [5; 16]);
        assert_eq!(verify(&key(), &sign_unchecked(&too_long), NOW), Err(TokenError::BadClaims));
        let mut wrapped = Claims::new(Role::Admin, None, NOW, 60, [5; 16]);
        (wrapped.iat, wrapped.exp) = (i64::MIN, i64::MAX);
        assert_eq!(verify(&key(), &sign_unchecked(&wrapped), NOW), Err(TokenError::BadClaims));
        let mut backwards = Claims::new(Role::Admin, None, NOW, 60, [5; 16]);
        backwards.exp = backwards.iat;
        assert_eq!(verify(&key(), &sign_unchecked(&backwards), NOW), Err(TokenError::BadClaims));
    }

    #[test]
    fn keys_and_ttls() {
        assert!(TokenKey::parse("c2hvcnQ=").is_err());
        assert!(TokenKey::parse("not base64!!").is_err());
        assert!(TokenKey::parse(&base64::encode(&[0xfb; 32], Alphabet::UrlSafe, false)).is_ok());
        assert_eq!(format!("{:?}", key()), "TokenKey(<redacted>)");
        assert_eq!(parse_ttl("12h"), Ok(43_200));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("32d").is_err());
        assert!(parse_ttl("h").is_err());
        let c = Claims::new(Role::Clerk, None, NOW, 0, [4; 16]);
        assert_eq!(mint(&key(), &c), Err(TokenError::InvalidTtl));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics_nor_verifies(s in ".{0,300}") {
            prop_assert!(verify(&key(), &s, NOW).is_err());
        }

        #[test]
        fn any_single_byte_change_is_rejected(i in 0usize..200, b in any::<u8>()) {
            let t = mint(&key(), &Claims::new(Role::Clerk, Some(loc()), NOW, 60, [5; 16])).unwrap();
            let mut bytes = t.clone().into_bytes();
            let i = i % bytes.len();
            prop_assume!(bytes[i] != b);
            bytes[i] = b;
            if let Ok(s) = String::from_utf8(bytes) {
                prop_assert!(verify(&key(), &s, NOW).is_err());
            }
        }
    }
}
