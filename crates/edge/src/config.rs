//! The worker's configuration, read once per isolate from its bindings.
//!
//! Values come through a lookup function so the parsing is plain Rust with native tests; the
//! worker shell passes `env.var(name)`/`env.secret(name)`. `Debug` never prints a secret, and an
//! error names the binding, never its value.

use core::fmt;

use kipp_core::ids::MerchantId;
use kipp_core::token::TokenKey;
use kipp_core::webhook::{WebhookSecrets, DEFAULT_TOLERANCE_SECS};

/// The production API base: `/ipp/v1/dev/*` is refused when the worker points there.
pub const PRODUCTION_API_BASE: &str = "https://api.kustom.co";

/// Binding names.
pub mod names {
    /// Kustom API base URL (var).
    pub const API_BASE: &str = "KUSTOM_API_BASE";
    /// Merchant id (var or secret).
    pub const MERCHANT_ID: &str = "KUSTOM_MERCHANT_ID";
    /// API key (secret).
    pub const API_KEY: &str = "KUSTOM_API_KEY";
    /// Comma-separated `whsec_` secrets (secret).
    pub const WEBHOOK_SECRETS: &str = "KUSTOM_WEBHOOK_SECRETS";
    /// POS token key (secret).
    pub const TOKEN_KEY: &str = "KIPP_TOKEN_KEY";
    /// Comma-separated allowed CORS origins (var, optional).
    pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
    /// Upstream timeout in ms (var, optional, default 10000).
    pub const UPSTREAM_TIMEOUT_MS: &str = "KIPP_UPSTREAM_TIMEOUT_MS";
    /// Seconds before a non-terminal session is re-read (var, optional, default 30).
    pub const RECONCILE_AFTER_SECS: &str = "KIPP_RECONCILE_AFTER_SECS";
    /// Kustom's session lifetime in seconds, for a re-read as it runs out (var, optional, default 900).
    pub const SESSION_TTL_SECS: &str = "KIPP_SESSION_TTL_SECS";
    /// Webhook timestamp tolerance in seconds (var, optional, default 300).
    pub const WEBHOOK_TOLERANCE_SECS: &str = "KIPP_WEBHOOK_TOLERANCE_SECS";
    /// Seconds an isolate caches the revocation list (var, optional, default 5).
    pub const REVOCATION_CACHE_SECS: &str = "KIPP_REVOCATION_CACHE_SECS";
    /// Seconds a finished create's idempotency record is kept (var, optional, default 86400).
    pub const IDEMPOTENCY_RETENTION_SECS: &str = "KIPP_IDEMPOTENCY_RETENTION_SECS";
    /// Seconds after its creation a finished session's object is emptied (var, optional, default 2592000).
    pub const SESSION_RETENTION_SECS: &str = "KIPP_SESSION_RETENTION_SECS";
}

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// The secret value, for the one place that sends it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A binding that is missing or malformed (never carries the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The binding's name.
    pub binding: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "binding `{}` {}", self.binding, self.reason)
    }
}

/// Everything the worker and its Durable Objects read from the environment.
#[derive(Clone)]
pub struct Config {
    /// Kustom API base, without trailing slash.
    pub api_base: String,
    /// Merchant id sent as `x-merchant-id`.
    pub merchant_id: MerchantId,
    /// The API key.
    pub api_key: Redacted,
    /// Webhook secrets (any may match).
    pub webhook_secrets: WebhookSecrets,
    /// POS token key.
    pub token_key: TokenKey,
    /// Allowed CORS origins (exact match; `*` allows any).
    pub allowed_origins: Vec<String>,
    /// Upstream timeout, ms.
    pub upstream_timeout_ms: u32,
    /// Reconciliation threshold, s.
    pub reconcile_after_secs: u32,
    /// Kustom's session lifetime as the worker assumes it, s (0: none). Kustom sends no webhook
    /// when a session expires, so the session's object re-reads it just after this.
    pub session_ttl_secs: u32,
    /// Webhook tolerance, s.
    pub webhook_tolerance_secs: u64,
    /// Revocation cache lifetime, s.
    pub revocation_cache_secs: u32,
    /// Seconds a finished create's idempotency record is kept: a retry with the same key within
    /// that time gets the same session, later it creates a new one (Stripe keeps keys 24 h).
    pub idempotency_retention_secs: u32,
    /// Seconds after its creation a session's object drops everything it stored, once the
    /// session is over (30 days by default): one object per sale would otherwise grow storage
    /// for ever. Kustom still has the session, and the worker reads it from there afterwards.
    pub session_retention_secs: u32,
    /// Whether `api_base` is Kustom's playground or a loopback emulator (see
    /// [`Config::playground`]): decided once, since every API request asks.
    playground: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_base", &self.api_base)
            .field("merchant_id", &self.merchant_id.as_str())
            .field("api_key", &self.api_key)
            .field("webhook_secrets", &format_args!("<{} redacted>", self.webhook_secrets.len()))
            .field("token_key", &self.token_key)
            .field("allowed_origins", &self.allowed_origins)
            .field("upstream_timeout_ms", &self.upstream_timeout_ms)
            .field("reconcile_after_secs", &self.reconcile_after_secs)
            .finish_non_exhaustive()
    }
}

fn required(get: &dyn Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    match get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        Some(_) => Err(ConfigError { binding: name, reason: "is empty" }),
        None => Err(ConfigError { binding: name, reason: "is not set" }),
    }
}

fn number<T: core::str::FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError { binding: name, reason: "is not a number" }),
    }
}

impl Config {
    /// Reads and checks every binding.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let api_base = required(get, names::API_BASE)?.trim_end_matches('/').to_owned();
        // Plain http only on loopback (the emulator): elsewhere the API key would cross the
        // network in clear text.
        let host = api_host(&api_base);
        let loopback = api_base.starts_with("http://") && is_loopback(&host);
        if !(api_base.starts_with("https://") || loopback) {
            return Err(ConfigError { binding: names::API_BASE, reason: "must be an https URL" });
        }
        let merchant_id = MerchantId::parse(&required(get, names::MERCHANT_ID)?)
            .map_err(|_| ConfigError { binding: names::MERCHANT_ID, reason: "is not a merchant id" })?;
        let api_key = required(get, names::API_KEY)?;
        // It goes out in a header (`Authorization: Basic <key>`), as the emulator requires too.
        if !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError { binding: names::API_KEY, reason: "must be visible ASCII characters" });
        }
        let api_key = Redacted(api_key);
        let webhook_secrets = WebhookSecrets::parse(&required(get, names::WEBHOOK_SECRETS)?)
            .map_err(|_| ConfigError { binding: names::WEBHOOK_SECRETS, reason: "is not a list of whsec_ secrets" })?;
        let token_key = TokenKey::parse(&required(get, names::TOKEN_KEY)?)
            .map_err(|_| ConfigError { binding: names::TOKEN_KEY, reason: "is not base64 of at least 32 bytes" })?;
        let allowed_origins = get(names::ALLOWED_ORIGINS)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let playground = host == "api.playground.kustom.co" || is_loopback(&host);
        Ok(Self {
            playground,
            api_base,
            merchant_id,
            api_key,
            webhook_secrets,
            token_key,
            allowed_origins,
            upstream_timeout_ms: number(get, names::UPSTREAM_TIMEOUT_MS, 10_000)?,
            reconcile_after_secs: number(get, names::RECONCILE_AFTER_SECS, 30)?,
            session_ttl_secs: number(get, names::SESSION_TTL_SECS, 900)?,
            webhook_tolerance_secs: number(get, names::WEBHOOK_TOLERANCE_SECS, DEFAULT_TOLERANCE_SECS)?,
            revocation_cache_secs: number(get, names::REVOCATION_CACHE_SECS, 5)?,
            idempotency_retention_secs: number(get, names::IDEMPOTENCY_RETENTION_SECS, 86_400)?,
            session_retention_secs: number(get, names::SESSION_RETENTION_SECS, 2_592_000)?,
        })
    }

    /// True when `/ipp/v1/dev/*` may pass: only for Kustom's playground host or a loopback
    /// emulator. Fails closed, so a production base written another way (`:443`, upper case,
    /// a path) never opens the testing routes.
    #[must_use]
    pub fn playground(&self) -> bool {
        self.playground
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if allowed.
    #[must_use]
    pub fn cors_origin(&self, origin: &str) -> Option<String> {
        let origin = origin.trim_end_matches('/');
        if self.allowed_origins.iter().any(|o| o == "*") {
            return Some("*".to_owned());
        }
        self.allowed_origins.iter().any(|o| o == origin).then(|| origin.to_owned())
    }
}

/// The lower-case host of a base URL, without scheme, credentials, port or path.
/// `localhost`, `[::1]` or `127.x.y.z`: a host whose traffic never leaves the machine.
fn is_loopback(host: &str) -> bool {
    // 127.x.y.z, not a name that starts so (127.0.0.1.example.com).
    let ipv4_loopback = host.starts_with("127.") && host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    host == "localhost" || host == "[::1]" || ipv4_loopback
}

fn api_host(base: &str) -> String {
    let rest = kipp_core::text::find(base, "://").map_or(base, |i| &base[i + 3..]);
    // `\` ends the authority too, as URL parsers (fetch's included) read it in http(s) URLs.
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_once(']').map_or(host_port.to_owned(), |(h, _)| format!("{h}]"))
    } else {
        host_port.split(':').next().unwrap_or("").to_owned()
    };
    host.to_ascii_lowercase()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) const KEY: &str = "kco_test_api_SECRETSECRET";
    pub(crate) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    pub(crate) const TOKEN_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    pub(crate) fn vars() -> HashMap<&'static str, String> {
        HashMap::from([
            (names::API_BASE, "http://127.0.0.1:8788/".to_owned()),
            (names::MERCHANT_ID, "DM11917000".to_owned()),
            (names::API_KEY, KEY.to_owned()),
            (names::WEBHOOK_SECRETS, WHSEC.to_owned()),
            (names::TOKEN_KEY, TOKEN_KEY.to_owned()),
            (names::ALLOWED_ORIGINS, "http://127.0.0.1:8787, https://pos.example".to_owned()),
        ])
    }

    pub(crate) fn config() -> Config {
        let v = vars();
        Config::from_lookup(&|n| v.get(n).cloned()).unwrap()
    }

    #[test]
    fn reads_and_redacts() {
        let c = config();
        assert_eq!(c.api_base, "http://127.0.0.1:8788");
        assert!(c.playground());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(!dbg.contains("MfKQ9r8"), "{dbg}");
        assert!(!dbg.contains("MDEyMzQ1"), "{dbg}");
        assert_eq!(c.cors_origin("https://pos.example"), Some("https://pos.example".to_owned()));
        assert_eq!(c.cors_origin("https://evil.example"), None);
        assert_eq!(c.upstream_timeout_ms, 10_000);
    }

    #[test]
    fn missing_binding_is_named_without_value() {
        for name in [names::API_KEY, names::WEBHOOK_SECRETS, names::TOKEN_KEY, names::API_BASE, names::MERCHANT_ID] {
            let mut v = vars();
            v.remove(name);
            let e = Config::from_lookup(&|n| v.get(n).cloned()).unwrap_err();
            assert_eq!(e.binding, name);
            assert!(e.to_string().contains(name));
        }
        let mut v = vars();
        v.insert(names::WEBHOOK_SECRETS, "whsec_short".to_owned());
        let e = Config::from_lookup(&|n| v.get(n).cloned()).unwrap_err();
        assert!(!e.to_string().contains("short"));
        // The key goes out in a header: a space, line break or non-ASCII character in it is a
        // configuration error naming the binding, not its value.
        for key in ["kco SECRET", "kco_SECRET\nx-other: 1", "kco_SECRÉT"] {
            v = vars();
            v.insert(names::API_KEY, key.to_owned());
            let e = Config::from_lookup(&|n| v.get(n).cloned()).unwrap_err();
            assert_eq!(e.binding, names::API_KEY);
            assert!(!e.to_string().contains("SECR"), "{e}");
        }
    }

    #[test]
    fn production_refuses_dev_routes() {
        let mut v = vars();
        for base in [
            PRODUCTION_API_BASE,
            "https://api.kustom.co:443",
            "https://API.kustom.co/",
            "https://x@api.kustom.co",
            "https://mock.example",
        ] {
            v.insert(names::API_BASE, base.to_owned());
            assert!(!Config::from_lookup(&|n| v.get(n).cloned()).unwrap().playground(), "{base}");
        }
        for base in
            ["https://api.playground.kustom.co", "http://127.0.0.1:8788", "http://localhost:8788", "http://[::1]:8788"]
        {
            v.insert(names::API_BASE, base.to_owned());
            assert!(Config::from_lookup(&|n| v.get(n).cloned()).unwrap().playground(), "{base}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let mut v = vars();
        // The API key would cross the network in clear text.
        for base in [
            "http://api.kustom.co",
            "http://10.0.0.5:8788",
            "http://127.0.0.1.example.com",
            "ftp://127.0.0.1",
            "http://evil.example\\@127.0.0.1",
        ] {
            v.insert(names::API_BASE, base.to_owned());
            let e = Config::from_lookup(&|n| v.get(n).cloned()).unwrap_err();
            assert_eq!(e.binding, names::API_BASE, "{base}");
        }
        for base in ["https://api.kustom.co", "http://127.0.0.1:8788", "http://127.1.2.3", "http://localhost:8788"] {
            v.insert(names::API_BASE, base.to_owned());
            assert!(Config::from_lookup(&|n| v.get(n).cloned()).is_ok(), "{base}");
        }
    }
}
