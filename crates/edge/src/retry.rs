//! The retry policy for upstream calls, as a pure decision function.
//!
//! Only idempotent operations (GET/PUT/DELETE) are retried; session creation is made
//! idempotent separately (see `objects::device`). Retryable outcomes: a timeout, a network
//! error, 429, 502, 503, 504 (and 500 for idempotent calls). The delay is "full jitter"
//! exponential backoff, but never shorter than a `Retry-After` the server asked for, and the
//! whole budget is capped so a caller never waits longer than `max_total_ms`.

use kipp_core::api::OperationId;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status.
    Status(u16),
    /// The timeout fired.
    Timeout,
    /// The request failed before a response (connection refused, reset…).
    Network,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this many ms, then try again.
    RetryAfterMs(u32),
    /// Stop and report the outcome.
    GiveUp,
}

/// Retry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Base delay, ms.
    pub base_ms: u32,
    /// Longest single delay, ms.
    pub max_delay_ms: u32,
    /// Longest total time spent waiting between attempts, ms.
    pub max_total_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base_ms: 100, max_delay_ms: 2_000, max_total_ms: 4_000 }
    }
}

/// Parses `Retry-After` as delay-seconds (HTTP dates are ignored: the worker has no reason to
/// trust the origin's clock), capped at one hour.
#[must_use]
pub fn parse_retry_after(value: Option<&str>) -> Option<u32> {
    let secs: u32 = value?.trim().parse().ok()?;
    Some(secs.min(3600).saturating_mul(1000))
}

/// True if the outcome may succeed on a later attempt.
#[must_use]
pub fn retryable(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Timeout | Outcome::Network => true,
        Outcome::Status(s) => matches!(s, 429 | 500 | 502 | 503 | 504),
    }
}

/// What a final answer means when the call was retried: an earlier attempt may have taken effect
/// at Kustom although its answer never arrived (a timeout, a 5xx after the work was done). Kustom
/// then refuses the repeat for the very reason that the first one worked, and the client must
/// hear that its call succeeded, not that it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRetry {
    /// The answer stands.
    Stands,
    /// A cancel refused with 409 (the session is terminal): re-read the session; if it is
    /// CANCELLED, the cancel took effect and is answered with it.
    CheckCancelled,
    /// A delete that finds nothing (404): an earlier attempt deleted it; answered 204.
    Deleted,
}

/// [`AfterRetry`] for the final answer `status` of `op`, called only when the call was retried.
#[must_use]
pub fn after_retry(op: OperationId, status: u16) -> AfterRetry {
    use OperationId as O;
    match (op, status) {
        (O::CancelSession, 409) => AfterRetry::CheckCancelled,
        (O::DeleteDevice | O::DeleteEnrollment | O::DeleteLocation, 404) => AfterRetry::Deleted,
        _ => AfterRetry::Stands,
    }
}

impl RetryPolicy {
    /// Decides after attempt number `attempt` (1-based) ended with `outcome`.
    ///
    /// `waited_ms` is the time already spent waiting, `retry_after_ms` the parsed header, and
    /// `random` a uniform value in `[0, 1)` supplied by the caller (the jitter).
    #[must_use]
    pub fn decide(
        &self,
        idempotent: bool,
        attempt: u32,
        outcome: Outcome,
        retry_after_ms: Option<u32>,
        waited_ms: u32,
        random: f64,
    ) -> Decision {
        if !idempotent || !retryable(outcome) || attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let exp = self.base_ms.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.max_delay_ms);
        let jitter = (f64::from(exp) * random.clamp(0.0, 1.0)) as u32;
        let delay = retry_after_ms.map_or(jitter, |ra| ra.max(jitter));
        if delay > self.max_delay_ms.max(retry_after_ms.unwrap_or(0))
            || waited_ms.saturating_add(delay) > self.max_total_ms
        {
            return Decision::GiveUp;
        }
        Decision::RetryAfterMs(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy { max_attempts: 4, base_ms: 100, max_delay_ms: 2000, max_total_ms: 4000 };

    #[test]
    fn only_idempotent_and_retryable() {
        assert_eq!(P.decide(false, 1, Outcome::Timeout, None, 0, 0.5), Decision::GiveUp);
        assert_eq!(P.decide(true, 1, Outcome::Status(400), None, 0, 0.5), Decision::GiveUp);
        assert_eq!(P.decide(true, 1, Outcome::Status(404), None, 0, 0.5), Decision::GiveUp);
        assert!(matches!(P.decide(true, 1, Outcome::Status(503), None, 0, 0.5), Decision::RetryAfterMs(50)));
        assert!(matches!(P.decide(true, 1, Outcome::Network, None, 0, 0.0), Decision::RetryAfterMs(0)));
        assert_eq!(P.decide(true, 4, Outcome::Timeout, None, 0, 0.5), Decision::GiveUp);
    }

    #[test]
    fn a_repeat_refused_because_the_first_attempt_worked_is_success() {
        use OperationId as O;
        assert_eq!(after_retry(O::CancelSession, 409), AfterRetry::CheckCancelled);
        assert_eq!(after_retry(O::CancelSession, 404), AfterRetry::Stands);
        for op in [O::DeleteDevice, O::DeleteEnrollment, O::DeleteLocation] {
            assert_eq!(after_retry(op, 404), AfterRetry::Deleted);
            assert_eq!(after_retry(op, 409), AfterRetry::Stands);
        }
        // Not a repeat of an effect: a read, an update (the same body twice is harmless and
        // answered as such by Kustom), a dev tap (whose outcome may differ from the one asked).
        for op in [O::GetSession, O::UpdateDevice, O::SimulateTap, O::GetDevice] {
            assert_eq!(after_retry(op, 404), AfterRetry::Stands);
            assert_eq!(after_retry(op, 409), AfterRetry::Stands);
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..4 {
            for r in [0.0, 0.3, 0.999] {
                if let Decision::RetryAfterMs(d) = P.decide(true, attempt, Outcome::Status(502), None, 0, r) {
                    assert!(d <= 100 * (1 << (attempt - 1)));
                } else {
                    panic!("expected a retry");
                }
            }
        }
    }

    #[test]
    fn honours_retry_after_within_budget() {
        assert_eq!(parse_retry_after(Some("1")), Some(1000));
        assert_eq!(parse_retry_after(Some("soon")), None);
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(P.decide(true, 1, Outcome::Status(429), Some(1000), 0, 0.1), Decision::RetryAfterMs(1000));
        // A Retry-After beyond the remaining budget ends the retries.
        assert_eq!(P.decide(true, 2, Outcome::Status(429), Some(3000), 1500, 0.1), Decision::GiveUp);
        assert_eq!(P.decide(true, 1, Outcome::Status(429), Some(3_600_000), 0, 0.1), Decision::GiveUp);
    }
}
