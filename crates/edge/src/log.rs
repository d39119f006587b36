//! Structured JSON log lines (one object per line): request id, route, status, latencies.
//! Only values built here go in: never headers, bodies, tokens or secrets.

use serde::Serialize;

/// One request's log line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestLog<'a> {
    /// Always `request`.
    pub msg: &'a str,
    /// The request id (also in `x-request-id`).
    pub request_id: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// The route template or kipp route name (never the raw path with ids or query).
    pub route: &'a str,
    /// Status answered.
    pub status: u16,
    /// Total time in the worker, ms.
    pub duration_ms: u64,
    /// Time spent waiting for Kustom, ms (0 when not called).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<u64>,
    /// Upstream attempts made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_attempts: Option<u32>,
    /// Stable error code, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    /// Token role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
}

impl RequestLog<'_> {
    /// The JSON line.
    #[must_use]
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A free-form event line with a fixed message and a few safe fields.
#[must_use]
pub fn event(msg: &str, fields: &[(&str, &str)]) -> String {
    // Strings only, so no `serde_json::Value` (and its code) is needed.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!("{{\"msg\":{}", q(msg));
    for (k, v) in fields {
        if *k != "msg" {
            out.push(',');
            out.push_str(&q(k));
            out.push(':');
            out.push_str(&q(v));
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json() {
        let l = RequestLog {
            msg: "request",
            request_id: "r1",
            route: "/ipp/v1/sessions/{session_id}",
            status: 200,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&l.line()).unwrap();
        assert_eq!(v["status"], 200);
        assert!(v.get("upstream_ms").is_none());
        let e: serde_json::Value = serde_json::from_str(&event("webhook", &[("result", "applied")])).unwrap();
        assert_eq!(e["result"], "applied");
    }
}
