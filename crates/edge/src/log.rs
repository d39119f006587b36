//! Structured JSON log lines (one object per line): request id, route, status, latencies.
//! Only values built here go in: never headers, bodies, tokens or secrets.

use kipp_core::text::{push_decimal, push_json_str};
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
    /// Upstream attempts made (by this request: see `upstream_shared`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_attempts: Option<u32>,
    /// The request waited on an upstream call another request made (a shared webhook re-read):
    /// `upstream_ms` is that call's time, its attempts are on the other request's line.
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub upstream_shared: bool,
    /// Stable error code, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    /// Token role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
}

impl RequestLog<'_> {
    /// The JSON line: the same text as serializing the struct with serde_json, written into one
    /// pre-sized string (the line is emitted for every request).
    #[must_use]
    pub fn line(&self) -> String {
        let mut o =
            String::with_capacity(160 + self.request_id.len() + self.route.len() + self.code.map_or(0, str::len));
        o.push_str("{\"msg\":");
        push_json_str(&mut o, self.msg);
        o.push_str(",\"request_id\":");
        push_json_str(&mut o, self.request_id);
        o.push_str(",\"method\":");
        push_json_str(&mut o, self.method);
        o.push_str(",\"route\":");
        push_json_str(&mut o, self.route);
        o.push_str(",\"status\":");
        push_decimal(&mut o, u64::from(self.status));
        o.push_str(",\"duration_ms\":");
        push_decimal(&mut o, self.duration_ms);
        if let Some(ms) = self.upstream_ms {
            o.push_str(",\"upstream_ms\":");
            push_decimal(&mut o, ms);
        }
        if let Some(n) = self.upstream_attempts {
            o.push_str(",\"upstream_attempts\":");
            push_decimal(&mut o, u64::from(n));
        }
        if self.upstream_shared {
            o.push_str(",\"upstream_shared\":true");
        }
        if let Some(c) = self.code {
            o.push_str(",\"code\":");
            push_json_str(&mut o, c);
        }
        if let Some(r) = self.role {
            o.push_str(",\"role\":");
            push_json_str(&mut o, r);
        }
        o.push('}');
        o
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
        // The hand-written line is byte for byte what serde_json writes, escapes included.
        let full = RequestLog {
            msg: "request",
            request_id: "0123456789abcdef0123456789abcdef",
            method: "POST",
            route: "/webhooks/kustom",
            status: 503,
            duration_ms: 18_446_744_073_709_551_615,
            upstream_ms: Some(0),
            upstream_attempts: Some(4),
            upstream_shared: true,
            code: Some("we\"ird\\ \n\r\t\u{8}\u{c}\u{1}\u{1f} é ☃ 😀"),
            role: Some("clerk"),
        };
        assert_eq!(full.line(), serde_json::to_string(&full).unwrap());
        assert_eq!(l.line(), serde_json::to_string(&l).unwrap());
        let shared = RequestLog { upstream_ms: Some(12), upstream_shared: true, ..l.clone() };
        assert_eq!(shared.line(), serde_json::to_string(&shared).unwrap());
        assert!(shared.line().ends_with(r#""upstream_ms":12,"upstream_shared":true}"#), "{}", shared.line());
        let e: serde_json::Value = serde_json::from_str(&event("webhook", &[("result", "applied")])).unwrap();
        assert_eq!(e["result"], "applied");
    }
}
