//! Randomness: ids, enrollment codes, device credentials. Seeded with `--seed` for
//! deterministic ids in tests (with one request at a time the sequence is reproducible). Request
//! ids and fault rolls come from a second, never seeded source: they are drawn by every request
//! (health checks and delivery polls included, whose number depends on timing), and would
//! otherwise shift the seeded sequence.

use std::sync::Mutex;

use kipp_core::base64::{encode, Alphabet};
use kipp_core::event::event_id_from_random;
use kipp_core::ids::{uuid_v4_from_bytes, EnrollmentCode, EventId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Alphabet of short enrollment codes: upper-case letters and digits without the easily
/// confused `0 O 1 I` (32 symbols).
pub const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a short enrollment code (the guide's "8-character code").
pub const SHORT_CODE_LEN: usize = 8;

/// The emulator's random source.
#[derive(Debug)]
pub struct Ids {
    rng: Mutex<StdRng>,
    /// Request ids and fault rolls (never seeded).
    noise: Mutex<StdRng>,
}

impl Ids {
    /// Seeded (deterministic) or from OS entropy.
    #[must_use]
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Self { rng: Mutex::new(rng), noise: Mutex::new(StdRng::from_entropy()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut guard = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    fn noise<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut guard = self.noise.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// 16 random bytes.
    pub fn bytes16(&self) -> [u8; 16] {
        self.with(|r| r.gen())
    }

    /// A v4 UUID string.
    pub fn uuid(&self) -> String {
        uuid_v4_from_bytes(self.bytes16())
    }

    /// A `kevt_` webhook event id.
    pub fn event_id(&self) -> EventId {
        event_id_from_random(self.bytes16())
    }

    /// An enrollment code: 8 characters of [`CODE_ALPHABET`] for short lifetimes, a
    /// UUID-shaped code for long ones (as observed on the live API).
    pub fn enrollment_code(&self, long: bool) -> EnrollmentCode {
        let text = if long {
            self.uuid()
        } else {
            self.with(|r| {
                (0..SHORT_CODE_LEN).map(|_| char::from(CODE_ALPHABET[r.gen_range(0..CODE_ALPHABET.len())])).collect()
            })
        };
        EnrollmentCode::parse(&text).unwrap_or_else(|_| unreachable!("generated codes are valid"))
    }

    /// A JWT-shaped bearer token for a registered device (opaque; the emulator never checks it).
    pub fn bearer_token(&self, device_id: &str, issued_at_secs: i64) -> String {
        let header = encode(br#"{"alg":"HS256","typ":"JWT"}"#, Alphabet::UrlSafe, false);
        let claims =
            encode(format!(r#"{{"sub":"{device_id}","iat":{issued_at_secs}}}"#).as_bytes(), Alphabet::UrlSafe, false);
        let sig: [u8; 32] = self.with(|r| r.gen());
        format!("{header}.{claims}.{}", encode(&sig, Alphabet::UrlSafe, false))
    }

    /// A request id (`req_` and 20 hex digits).
    pub fn request_id(&self) -> String {
        let n: u128 = self.noise(|r| r.gen());
        format!("req_{:020x}", n & ((1u128 << 80) - 1))
    }

    /// A uniform number in `[0, 1)` (fault rolls).
    pub fn unit(&self) -> f64 {
        self.noise(|r| r.gen())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic_and_codes_have_the_right_shape() {
        let (a, b) = (Ids::new(Some(7)), Ids::new(Some(7)));
        assert_eq!(a.uuid(), b.uuid());
        // Request ids and fault rolls (as many as requests came) leave the seeded ids alone.
        for _ in 0..3 {
            let _ = (a.request_id(), a.unit());
        }
        assert_eq!(a.uuid(), b.uuid());
        assert_eq!(a.enrollment_code(false), b.enrollment_code(false));
        let short = a.enrollment_code(false);
        assert_eq!(short.as_str().len(), 8);
        assert!(short.as_str().bytes().all(|c| CODE_ALPHABET.contains(&c)));
        assert!(kipp_core::ids::is_uuid(a.enrollment_code(true).as_str()));
        assert!(a.event_id().as_str().starts_with("kevt_"));
        assert_eq!(a.bearer_token("d", 1).split('.').count(), 3);
    }
}
