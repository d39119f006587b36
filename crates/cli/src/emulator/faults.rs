//! Fault injection on `/ipp/v1` routes, set through `POST /_emulator/faults`: an error
//! status (optionally with `Retry-After`), added latency, or a dropped connection, on the
//! next N matching requests or on a fraction of them.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::problem::Reject;
use kipp_core::api::API_PREFIX;

/// Longest latency a fault may add.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// One fault rule as posted (and as listed by `GET /_emulator/faults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Answer with this status instead of running the operation: an error (400–599), or an
    /// answer outside the API's contract that a proxy in front of Kustom might send (205 or
    /// 300–399), to test what clients make of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds to send with `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Delay before answering (or before dropping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Run the operation at once and hold its answer this long: the state the answer shows is
    /// the state when the request arrived, as with a slow network on the way back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_delay_ms: Option<u64>,
    /// Run the operation and merge these fields into its JSON object answer (a 2xx): values
    /// Kustom might send that kipp's types do not model, to test what clients make of them.
    /// State and webhooks are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_patch: Option<serde_json::Map<String, serde_json::Value>>,
    /// Close the connection without answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<bool>,
    /// Apply to the next `count` matching requests (default 1 when `ratio` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Apply to this fraction (0–1] of matching requests, until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Only requests whose path starts with this (must start with `/ipp/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

impl FaultSpec {
    /// Checks the rule; the errors name the offending field.
    pub fn validate(&self) -> Result<(), Reject> {
        if self.status.is_none()
            && self.latency_ms.is_none()
            && self.answer_delay_ms.is_none()
            && self.answer_patch.is_none()
            && self.drop != Some(true)
        {
            return Err(Reject::field(
                "status",
                "required",
                "give at least one of status, latency_ms, answer_delay_ms, answer_patch or drop:true",
            ));
        }
        if self.answer_patch.is_some() && (self.status.is_some() || self.drop == Some(true)) {
            return Err(Reject::field(
                "answer_patch",
                "conflict",
                "answer_patch changes the operation's own answer: not with status or drop",
            ));
        }
        if self.answer_delay_ms.is_some() && (self.status.is_some() || self.drop == Some(true)) {
            return Err(Reject::field(
                "answer_delay_ms",
                "conflict",
                "answer_delay_ms delays the operation's own answer: not with status or drop",
            ));
        }
        if self.answer_delay_ms.is_some_and(|l| l > MAX_LATENCY_MS) {
            return Err(Reject::field("answer_delay_ms", "out_of_range", format!("at most {MAX_LATENCY_MS}")));
        }
        if let Some(s) = self.status {
            if !(s == 205 || (300..=599).contains(&s)) {
                return Err(Reject::field("status", "out_of_range", "must be 205 or from 300 to 599"));
            }
        }
        if self.retry_after.is_some() && self.status.is_none() {
            return Err(Reject::field("retry_after", "conflict", "retry_after needs a status"));
        }
        if self.latency_ms.is_some_and(|l| l > MAX_LATENCY_MS) {
            return Err(Reject::field("latency_ms", "out_of_range", format!("at most {MAX_LATENCY_MS}")));
        }
        match (self.count, self.ratio) {
            (Some(_), Some(_)) => return Err(Reject::field("ratio", "conflict", "give count or ratio, not both")),
            (Some(0), None) => return Err(Reject::field("count", "out_of_range", "must be at least 1")),
            (None, Some(r)) if !(r > 0.0 && r <= 1.0) => {
                return Err(Reject::field("ratio", "out_of_range", "must be greater than 0 and at most 1"))
            }
            _ => {}
        }
        if let Some(p) = &self.path_prefix {
            if !p.starts_with(API_PREFIX) {
                return Err(Reject::field(
                    "path_prefix",
                    "invalid",
                    "must start with /ipp/v1 (faults apply to the API only)",
                ));
            }
        }
        Ok(())
    }
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAction {
    /// Sleep this long first.
    pub latency_ms: u64,
    /// Run the operation, then sleep this long before answering.
    pub answer_delay_ms: u64,
    /// Then answer with this status and optional `Retry-After`.
    pub status: Option<(u16, Option<u64>)>,
    /// Or close the connection.
    pub drop: bool,
    /// Fields merged into the operation's 2xx JSON object answer.
    pub answer_patch: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug)]
struct Rule {
    spec: FaultSpec,
    remaining: Option<u32>,
}

/// Most fault rules active at once.
pub const MAX_RULES: usize = 256;

/// The active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a (validated) rule; false when [`MAX_RULES`] are already active (every request
    /// scans the rules, so their number is bounded).
    pub fn add(&self, spec: FaultSpec) -> bool {
        let remaining = match (spec.count, spec.ratio) {
            (_, Some(_)) => None,
            (c, None) => Some(c.unwrap_or(1)),
        };
        let mut rules = self.lock();
        if rules.len() >= MAX_RULES {
            return false;
        }
        rules.push(Rule { spec, remaining });
        true
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The active rules, with `count` showing what is left.
    pub fn list(&self) -> Vec<FaultSpec> {
        self.lock().iter().map(|r| FaultSpec { count: r.remaining.or(r.spec.count), ..r.spec.clone() }).collect()
    }

    /// The first rule that fires for `path` (using `roll` for ratio rules), consuming one
    /// of its counts.
    pub fn pick(&self, path: &str, mut roll: impl FnMut() -> f64) -> Option<FaultAction> {
        let mut rules = self.lock();
        let mut hit = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if !rule.spec.path_prefix.as_deref().is_none_or(|p| path.starts_with(p)) {
                continue;
            }
            let fires = match (rule.remaining.as_mut(), rule.spec.ratio) {
                (Some(n), _) => {
                    *n = n.saturating_sub(1);
                    true
                }
                (None, Some(r)) => roll() < r,
                (None, None) => false,
            };
            if fires {
                hit = Some(i);
                break;
            }
        }
        let i = hit?;
        let spec = rules[i].spec.clone();
        if rules[i].remaining == Some(0) {
            rules.remove(i);
        }
        Some(FaultAction {
            latency_ms: spec.latency_ms.unwrap_or(0),
            answer_delay_ms: spec.answer_delay_ms.unwrap_or(0),
            status: spec.status.map(|s| (s, spec.retry_after)),
            drop: spec.drop == Some(true),
            answer_patch: spec.answer_patch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        let s: FaultSpec = serde_json::from_str(json).unwrap();
        s.validate().unwrap();
        s
    }

    #[test]
    fn counts_down_and_matches_prefix() {
        let f = Faults::default();
        assert!(f.add(spec(r#"{"status":503,"count":2,"path_prefix":"/ipp/v1/sessions"}"#)));
        assert_eq!(f.pick("/ipp/v1/devices", || 0.0), None);
        assert_eq!(f.pick("/ipp/v1/sessions", || 0.0).unwrap().status, Some((503, None)));
        assert!(f.pick("/ipp/v1/sessions/x", || 0.0).is_some());
        assert_eq!(f.pick("/ipp/v1/sessions", || 0.0), None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn ratio_rules_roll() {
        let f = Faults::default();
        assert!(f.add(spec(r#"{"status":429,"retry_after":1,"ratio":0.5}"#)));
        assert!(f.pick("/ipp/v1/x", || 0.9).is_none());
        assert_eq!(f.pick("/ipp/v1/x", || 0.1).unwrap().status, Some((429, Some(1))));
        assert_eq!(f.list().len(), 1);
    }

    #[test]
    fn the_number_of_rules_is_bounded() {
        let f = Faults::default();
        for _ in 0..MAX_RULES {
            assert!(f.add(spec(r#"{"status":500}"#)));
        }
        assert!(!f.add(spec(r#"{"status":500}"#)));
        f.clear();
        assert!(f.add(spec(r#"{"status":500}"#)));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            r#"{}"#,
            r#"{"status":200}"#,
            r#"{"status":204}"#,
            r#"{"status":600}"#,
            r#"{"status":500,"count":1,"ratio":0.1}"#,
            r#"{"drop":true,"path_prefix":"/_emulator"}"#,
            r#"{"status":500,"ratio":1.5}"#,
            r#"{"status":503,"answer_delay_ms":100}"#,
            r#"{"drop":true,"answer_delay_ms":100}"#,
            r#"{"answer_delay_ms":60001}"#,
        ] {
            let s: FaultSpec = serde_json::from_str(bad).unwrap();
            assert!(s.validate().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<FaultSpec>(r#"{"status":500,"bogus":1}"#).is_err());
    }
}
