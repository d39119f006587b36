//! The emulator's clock: wall-clock time plus an offset that `POST /_emulator/clock/advance`
//! moves forward. kipp-core never reads a clock; everything it needs gets time from here.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kipp_core::time::Timestamp;

/// Real time plus an offset in milliseconds.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

/// Nanoseconds since the Unix epoch by the wall clock (0 if the clock is before 1970).
#[must_use]
pub fn real_now_nanos() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

impl Clock {
    /// A clock starting at real time, moved by `offset_ms`.
    #[must_use]
    pub fn with_offset(offset_ms: i64) -> Self {
        Self { offset_ms: AtomicI64::new(offset_ms) }
    }

    /// Emulated now, nanoseconds since the epoch.
    #[must_use]
    pub fn now_nanos(&self) -> i128 {
        real_now_nanos() + i128::from(self.offset_ms()) * 1_000_000
    }

    /// Emulated now, milliseconds since the epoch.
    #[must_use]
    pub fn now_millis(&self) -> i64 {
        i64::try_from(self.now_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    /// Emulated now as an RFC 3339 timestamp with millisecond precision.
    #[must_use]
    pub fn now_timestamp(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.now_millis())
    }

    /// The offset from real time, in milliseconds.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_forward_only() {
        let c = Clock::default();
        let before = c.now_millis();
        c.advance_ms(900_000);
        c.advance_ms(-5);
        assert!(c.now_millis() >= before + 900_000);
        assert_eq!(c.offset_ms(), 900_000);
        c.reset();
        assert_eq!(c.offset_ms(), 0);
    }
}
