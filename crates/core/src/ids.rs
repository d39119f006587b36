//! Identifiers. Each is a newtype that can only hold a valid value, so a value
//! that reached a path or a store has already been checked.

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    /// Which identifier was being parsed.
    pub kind: &'static str,
    /// What was wrong.
    pub reason: &'static str,
}

/// True for the canonical 8-4-4-4-12 hexadecimal UUID text form.
#[must_use]
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// True for a POS token id (`jti`): 1–64 characters of `[A-Za-z0-9_-]`. Here rather than in
/// `token` (a cargo feature) because the browser package checks ids it revokes by the same rule.
#[must_use]
pub fn is_jti(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Formats 16 random bytes as a version-4 UUID (the caller supplies the randomness).
#[must_use]
pub fn uuid_v4_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a UUID string, in lower case: UUID text is case-insensitive (RFC 9562), and
            /// one id must name one session, device or object whichever case a client sent.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if is_uuid(s) {
                    Ok(Self(s.to_ascii_lowercase()))
                } else {
                    Err(InvalidId { kind: $kind, reason: "must be a UUID (8-4-4-4-12 hex digits)" })
                }
            }
            /// Builds a fresh v4 id from 16 random bytes supplied by the caller.
            #[must_use]
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(uuid_v4_from_bytes(bytes))
            }
            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(mut s: String) -> Result<Self, InvalidId> {
                if is_uuid(&s) {
                    s.make_ascii_lowercase();
                    Ok(Self(s))
                } else {
                    Self::parse(&s)
                }
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl core::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// A payment session (`session_id`).
    SessionId, "session id");
uuid_id!(
    /// A paired POS device (`id`, `device_id`).
    DeviceId, "device id");
uuid_id!(
    /// An enrollment (`enrollment_id`).
    EnrollmentId, "enrollment id");
uuid_id!(
    /// A physical store (`location_id`).
    LocationId, "location id");

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the value.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(s).map(|()| Self(s.to_owned())).map_err(|reason| InvalidId { kind: $kind, reason })
            }
            /// The value as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(&s).map(|()| Self(s)).map_err(|reason| InvalidId { kind: $kind, reason })
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl core::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

fn token_chars(s: &str, max: usize) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.len() > max {
        return Err("too long");
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
        return Err("may contain only letters, digits, '_' and '-'");
    }
    Ok(())
}

text_id!(
/// An order in Kustom Order Management (`order_id`): a UUID in every sample, but the session
/// schema types it as a plain string, so any 1–255 visible ASCII characters are kept as Kustom
/// sent them. A value that does not fit a stricter rule must not keep a paid session from the
/// till, and the merchant needs the id exactly as sent to capture the order.
OrderId, "order id", |s| {
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|c| c.is_ascii_graphic()) {
        return Err("must be 1-255 visible ASCII characters");
    }
    Ok(())
});

impl OrderId {
    /// Builds a fresh v4 UUID order id from 16 random bytes supplied by the caller.
    #[must_use]
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(uuid_v4_from_bytes(bytes))
    }
}

text_id!(
    /// A Kustom merchant id (MID), e.g. `DM11917000`.
    MerchantId, "merchant id", |s| token_chars(s, 64));
text_id!(
/// A webhook event id: `kevt_` followed by letters and digits.
EventId, "event id", |s| {
    let rest = s.strip_prefix("kevt_").ok_or("must start with kevt_")?;
    if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err("must be kevt_ followed by 1-64 letters or digits");
    }
    Ok(())
});
text_id!(
/// The code a clerk types into the POS app. The guide says 8 characters; the
/// docs' sample has 9 and long-lived codes are UUID-shaped, so 6–36 of
/// `A-Z`, `0-9` and `-` are accepted (see docs/decisions.md).
EnrollmentCode, "enrollment code", |s| {
    if !(6..=36).contains(&s.len()) {
        return Err("must be 6-36 characters");
    }
    if !s.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-' || c.is_ascii_lowercase()) {
        return Err("may contain only letters, digits and '-'");
    }
    Ok(())
});
text_id!(
/// A device's hardware id (`hardware_id`), e.g. `ABC123XYZ`.
HardwareId, "hardware id", |s| {
    if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
        return Err("must be 1-128 printable characters");
    }
    Ok(())
});

/// Percent-encodes a value for use as one path segment (RFC 3986 unreserved characters pass).
#[must_use]
pub fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_parse_only_uuids() {
        assert!(SessionId::parse("550e8400-e29b-41d4-a716-446655440000").is_ok());
        assert!(SessionId::parse("550e8400e29b41d4a716446655440000").is_err());
        assert!(SessionId::parse("../../admin").is_err());
        assert!(serde_json::from_str::<DeviceId>("\"nope\"").is_err());
        // Case-insensitive, kept in lower case: one id, one session.
        let upper = SessionId::parse("550E8400-E29B-41D4-A716-446655440000").unwrap();
        assert_eq!(upper, SessionId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap());
        assert_eq!(upper.as_str(), "550e8400-e29b-41d4-a716-446655440000");
        let decoded: DeviceId = serde_json::from_str("\"550E8400-E29B-41D4-A716-446655440000\"").unwrap();
        assert_eq!(decoded.as_str(), "550e8400-e29b-41d4-a716-446655440000");
    }

    #[test]
    fn generated_uuid_is_v4() {
        let id = SessionId::from_random([0xff; 16]);
        assert!(is_uuid(id.as_str()));
        assert_eq!(&id.as_str()[14..15], "4");
    }

    #[test]
    fn event_and_merchant_ids() {
        assert!(EventId::parse("kevt_62EvxyMEaAaHSGeoDTza47").is_ok());
        assert!(EventId::parse("evt_1").is_err());
        assert!(MerchantId::parse("DM11917000").is_ok());
        assert!(MerchantId::parse("DM 1").is_err());
        assert!(EnrollmentCode::parse("ABC123XYZ").is_ok());
        assert!(EnrollmentCode::parse("AB").is_err());
    }

    #[test]
    fn escapes_path_segments() {
        assert_eq!(escape_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(escape_segment("ok-1_2.3~"), "ok-1_2.3~");
    }
}
