//! Configuration: flags, then the environment, then a `.dev.vars` file, then dev defaults
//! (first one set wins). One `.dev.vars` configures both the edge worker and the emulator.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Uri;
use kipp_core::ids::MerchantId;
use kipp_core::webhook::{WebhookSecret, WebhookSecrets};

use crate::Error;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";
/// Dev default API key (accepted when no key is configured).
pub const DEV_API_KEY: &str = "kco_test_api_kippdev00000000000000000000";
/// Dev default merchant id.
pub const DEV_MERCHANT_ID: &str = "DM00000001";
/// Dev default webhook destination: the edge worker under `wrangler dev`.
pub const DEV_WEBHOOK_URL: &str = "http://127.0.0.1:8787/webhooks/kustom";
/// Raw key bytes of the dev default webhook secret (`whsec_` + base64 of these 32 bytes,
/// i.e. `whsec_a2lwcC1lbXVsYXRvci1kZXYtd2ViaG9vay1zZWNyZXQ=`).
pub const DEV_WEBHOOK_KEY: &[u8; 32] = b"kipp-emulator-dev-webhook-secret";
/// Dev default session lifetime.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// Dev default webhook retry schedule (delays before the 2nd, 3rd, … attempt).
pub const DEFAULT_RETRY: &str = "1s,2s,4s,8s,16s,30s";
/// Default timeout of one webhook attempt.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body accepted (larger bodies get 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Flags of `kipp emulator`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_long_help = ENV_HELP)]
pub struct EmulatorArgs {
    /// Address to listen on [default: 127.0.0.1:8788; env KIPP_EMULATOR_LISTEN]. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The API key the emulator accepts [env KUSTOM_API_KEY].
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The merchant id (MID) [env KUSTOM_MERCHANT_ID].
    #[arg(long, value_name = "MID")]
    pub merchant_id: Option<String>,
    /// Webhook destination(s), comma-separated or repeated [env KUSTOM_WEBHOOK_URL].
    #[arg(long = "webhook-url", value_name = "URL")]
    pub webhook_urls: Vec<String>,
    /// Signing secret(s) `whsec_…`, comma-separated or repeated; every delivery is signed with each [env KUSTOM_WEBHOOK_SECRETS].
    #[arg(long = "webhook-secret", value_name = "SECRET")]
    pub webhook_secrets: Vec<String>,
    /// Send no webhooks at all, whatever destinations are configured.
    #[arg(long)]
    pub no_webhooks: bool,
    /// Session lifetime, e.g. `15m`, `90s` [default: 15m; env KIPP_SESSION_TTL].
    #[arg(long, value_name = "DURATION")]
    pub session_ttl: Option<String>,
    /// Webhook retry delays, e.g. `1s,2s,4s,8s,30s` (one more attempt per entry) [default: 1s,2s,4s,8s,16s,30s; env KIPP_WEBHOOK_RETRY].
    #[arg(long, value_name = "SCHEDULE")]
    pub webhook_retry: Option<String>,
    /// Timeout of one webhook attempt [default: 10s; env KIPP_WEBHOOK_TIMEOUT].
    #[arg(long, value_name = "DURATION")]
    pub webhook_timeout: Option<String>,
    /// Seed for deterministic ids, codes and device credentials (request ids, fault rolls and retry jitter stay random) [env KIPP_EMULATOR_SEED].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Keep state in this JSON file across restarts (written shortly after each change) [env KIPP_STATE_FILE].
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// Read configuration from this `.dev.vars` file [default: ./.dev.vars if present].
    #[arg(long, value_name = "PATH")]
    pub dev_vars: Option<PathBuf>,
    /// Behave like production: `/ipp/v1/dev/*` answers 404.
    #[arg(long)]
    pub production: bool,
    /// Listen on an address that is not loopback. The controls (`/_emulator/*`: reset, faults,
    /// clock) have no authentication, so anyone who reaches the port can use them.
    #[arg(long)]
    pub allow_remote: bool,
    /// Log every request to stderr.
    #[arg(long, short)]
    pub verbose: bool,
}

const ENV_HELP: &str = "\
Environment (also read from .dev.vars; flags win over the environment, which wins over .dev.vars):
  KUSTOM_API_KEY          the API key accepted (dev default: kco_test_api_kippdev…)
  KUSTOM_MERCHANT_ID      the MID (dev default: DM00000001)
  KUSTOM_WEBHOOK_URL      comma-separated destinations (dev default: http://127.0.0.1:8787/webhooks/kustom)
  KUSTOM_WEBHOOK_SECRETS  comma-separated whsec_ secrets (dev default: see docs/emulator.md)
  KIPP_SESSION_TTL, KIPP_WEBHOOK_RETRY, KIPP_WEBHOOK_TIMEOUT, KIPP_EMULATOR_SEED, KIPP_STATE_FILE,
  KIPP_EMULATOR_LISTEN
  KIPP_SESSION_TTL_SECS   the edge worker's session lifetime (whole seconds): the emulator's too
                          when neither --session-ttl nor KIPP_SESSION_TTL is set

Test controls (no auth: keep --listen on a loopback address): POST /_emulator/reset, POST|GET|DELETE /_emulator/faults,
GET /_emulator/clock, POST /_emulator/clock/advance, GET /_emulator/deliveries, POST|GET /_emulator/webhooks,
GET /_emulator/health. See docs/emulator.md.";

/// Where a configured value came from (for the start-up summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// The process environment.
    Env,
    /// The `.dev.vars` file.
    DevVars,
    /// The built-in dev default.
    Default,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::Env => "env",
            Self::DevVars => ".dev.vars",
            Self::Default => "dev default",
        }
    }
}

/// The resolved configuration of one emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// The accepted API key.
    pub api_key: String,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// Webhook destinations (`http://` only).
    pub webhook_urls: Vec<Uri>,
    /// Signing secrets.
    pub webhook_secrets: WebhookSecrets,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Delays before each retry; attempts = `len + 1`.
    pub webhook_retry: Vec<Duration>,
    /// Timeout of one attempt.
    pub webhook_timeout: Duration,
    /// Random jitter applied to each retry delay, as a fraction (0.2 = ±20 %).
    pub webhook_jitter: f64,
    /// Most entries kept in the delivery log (oldest dropped first).
    pub delivery_log_limit: usize,
    /// Seed for ids.
    pub seed: Option<u64>,
    /// State file.
    pub state_file: Option<PathBuf>,
    /// Delay between a change and the state file write.
    pub persist_debounce: Duration,
    /// How often the background sweep expires sessions and enrollments.
    pub sweep_interval: Duration,
    /// How long a connection may take to send a request's headers (also the limit on an idle
    /// keep-alive connection, and on reading a request's body, 408 beyond): a client that sends
    /// them slowly or never is dropped.
    pub header_read_timeout: Duration,
    /// Most connections open at once; more are closed at once.
    pub max_connections: usize,
    /// Production mode (`/ipp/v1/dev/*` → 404).
    pub production: bool,
    /// Log requests to stderr.
    pub verbose: bool,
    /// Where each setting came from, for the summary: (name, source).
    pub sources: Vec<(&'static str, Source)>,
}

impl Config {
    /// The dev defaults, listening on `127.0.0.1:0` and sending no webhooks (for tests).
    #[must_use]
    pub fn for_tests() -> Self {
        let mut c = Self::dev_defaults();
        c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        c.webhook_urls.clear();
        c
    }

    /// Every setting at its dev default.
    #[must_use]
    pub fn dev_defaults() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8788)),
            api_key: DEV_API_KEY.to_owned(),
            merchant_id: MerchantId::parse(DEV_MERCHANT_ID).unwrap_or_else(|_| unreachable!("valid constant")),
            webhook_urls: vec![Uri::from_static(DEV_WEBHOOK_URL)],
            webhook_secrets: dev_secret().into(),
            session_ttl: DEFAULT_SESSION_TTL,
            webhook_retry: parse_schedule(DEFAULT_RETRY).unwrap_or_default(),
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            webhook_jitter: 0.2,
            delivery_log_limit: 10_000,
            seed: None,
            state_file: None,
            persist_debounce: Duration::from_millis(200),
            sweep_interval: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            production: false,
            verbose: false,
            sources: Vec::new(),
        }
    }

    /// Resolves flags, the process environment and a `.dev.vars` file.
    pub fn resolve(args: &EmulatorArgs) -> Result<Self, Error> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let dev_vars = match &args.dev_vars {
            Some(p) => read_dev_vars(p)?,
            None if Path::new(".dev.vars").is_file() => read_dev_vars(Path::new(".dev.vars"))?,
            None => HashMap::new(),
        };
        Self::resolve_from(args, &env, &dev_vars)
    }

    /// [`Config::resolve`] with the environment and `.dev.vars` passed in.
    pub fn resolve_from(
        args: &EmulatorArgs,
        env: &HashMap<String, String>,
        dev_vars: &HashMap<String, String>,
    ) -> Result<Self, Error> {
        let mut c = Self::dev_defaults();
        let mut sources = Vec::new();
        let pick = |flag: Option<String>, name: &str| -> Option<(String, Source)> {
            flag.map(|v| (v, Source::Flag))
                .or_else(|| env.get(name).filter(|v| !v.trim().is_empty()).map(|v| (v.clone(), Source::Env)))
                .or_else(|| dev_vars.get(name).filter(|v| !v.trim().is_empty()).map(|v| (v.clone(), Source::DevVars)))
        };
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(","));

        if let Some((v, s)) = pick(args.listen.clone(), "KIPP_EMULATOR_LISTEN") {
            c.listen = v.trim().parse().map_err(|_| Error::Config(format!("listen address {v:?} is not host:port")))?;
            sources.push(("listen", s));
        }
        if !c.listen.ip().is_loopback() && !args.allow_remote {
            return Err(Error::Config(format!(
                "listen address {} is not loopback: the emulator's controls (/_emulator/*) have no \
                 authentication; pass --allow-remote to listen there anyway",
                c.listen
            )));
        }
        if let Some((v, s)) = pick(args.api_key.clone(), "KUSTOM_API_KEY") {
            let v = v.trim();
            if v.is_empty() || v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::Config("KUSTOM_API_KEY must be 1-256 visible ASCII characters".to_owned()));
            }
            c.api_key = v.to_owned();
            sources.push(("api key", s));
        }
        if let Some((v, s)) = pick(args.merchant_id.clone(), "KUSTOM_MERCHANT_ID") {
            c.merchant_id =
                MerchantId::parse(v.trim()).map_err(|e| Error::Config(format!("KUSTOM_MERCHANT_ID: {e}")))?;
            sources.push(("merchant id", s));
        }
        if let Some((v, s)) = pick(joined(&args.webhook_urls), "KUSTOM_WEBHOOK_URL") {
            c.webhook_urls = parse_urls(&v)?;
            sources.push(("webhook urls", s));
        }
        if args.no_webhooks {
            c.webhook_urls.clear();
        }
        if let Some((v, s)) = pick(joined(&args.webhook_secrets), "KUSTOM_WEBHOOK_SECRETS") {
            c.webhook_secrets =
                WebhookSecrets::parse(&v).map_err(|e| Error::Config(format!("KUSTOM_WEBHOOK_SECRETS: {e}")))?;
            sources.push(("webhook secrets", s));
        }
        // KIPP_SESSION_TTL_SECS is the edge worker's setting, read here exactly as the worker
        // reads it (a `u32` of seconds; 0 turns its re-read at expiry off and leaves the
        // emulator at its default), so one `.dev.vars` line sets the lifetime for both and a
        // value one of them refuses is refused by the other too. The emulator's own setting wins.
        let ttl = match pick(args.session_ttl.clone(), "KIPP_SESSION_TTL") {
            Some((v, s)) => {
                let ttl = parse_duration(&v).ok_or_else(|| Error::Config(format!("session ttl {v:?}")))?;
                if ttl.is_zero() {
                    return Err(Error::Config("session ttl must be positive".to_owned()));
                }
                Some((ttl, s))
            }
            None => match pick(None, "KIPP_SESSION_TTL_SECS") {
                Some((v, s)) => {
                    let secs: u32 = v.trim().parse().map_err(|_| {
                        Error::Config(format!("KIPP_SESSION_TTL_SECS {v:?} is not a whole number of seconds"))
                    })?;
                    (secs > 0).then(|| (Duration::from_secs(secs.into()), s))
                }
                None => None,
            },
        };
        if let Some((ttl, s)) = ttl {
            c.session_ttl = ttl;
            sources.push(("session ttl", s));
        }
        if let Some((v, s)) = pick(args.webhook_retry.clone(), "KIPP_WEBHOOK_RETRY") {
            c.webhook_retry = parse_schedule(&v)
                .ok_or_else(|| Error::Config(format!("webhook retry schedule {v:?} (e.g. 1s,2s,4s)")))?;
            sources.push(("webhook retry", s));
        }
        if let Some((v, s)) = pick(args.webhook_timeout.clone(), "KIPP_WEBHOOK_TIMEOUT") {
            c.webhook_timeout = parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| Error::Config(format!("webhook timeout {v:?}")))?;
            sources.push(("webhook timeout", s));
        }
        if let Some((v, s)) = pick(args.seed.map(|n| n.to_string()), "KIPP_EMULATOR_SEED") {
            c.seed = Some(v.trim().parse().map_err(|_| Error::Config(format!("seed {v:?} is not a number")))?);
            sources.push(("seed", s));
        }
        if let Some((v, s)) =
            pick(args.state_file.as_ref().map(|p| p.to_string_lossy().into_owned()), "KIPP_STATE_FILE")
        {
            c.state_file = Some(PathBuf::from(v));
            sources.push(("state file", s));
        }
        c.production = args.production;
        c.verbose = args.verbose;
        c.sources = sources;
        Ok(c)
    }

    fn source(&self, name: &str) -> Source {
        self.sources.iter().find(|(n, _)| *n == name).map_or(Source::Default, |(_, s)| *s)
    }

    /// The start-up summary: every setting and where it came from. The API key is shown
    /// partially and webhook secrets only by their first characters.
    #[must_use]
    pub fn summary(&self, addr: SocketAddr) -> String {
        let key: String = self.api_key.chars().take(12).collect();
        let secrets: Vec<String> = self
            .webhook_secrets
            .iter()
            .map(|s| format!("{}…", s.expose_whsec().chars().take(10).collect::<String>()))
            .collect();
        let urls = if self.webhook_urls.is_empty() {
            "(none: webhooks off)".to_owned()
        } else {
            self.webhook_urls.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        };
        let retry: Vec<String> = self.webhook_retry.iter().map(|d| format_duration(*d)).collect();
        let mut out = format!("kipp emulator listening on http://{addr}\n");
        let mut line = |name: &str, value: String, key: &str| {
            out.push_str(&format!("  {name:<16} {value}  ({})\n", self.source(key).label()));
        };
        line("merchant id", self.merchant_id.to_string(), "merchant id");
        line("api key", format!("{key}…"), "api key");
        line("webhook urls", urls, "webhook urls");
        line("webhook secrets", format!("{} ({})", secrets.len(), secrets.join(", ")), "webhook secrets");
        line("session ttl", format_duration(self.session_ttl), "session ttl");
        line("webhook retry", retry.join(","), "webhook retry");
        line(
            "state file",
            self.state_file.as_ref().map_or("(memory only)".to_owned(), |p| p.display().to_string()),
            "state file",
        );
        line("seed", self.seed.map_or("(random)".to_owned(), |s| s.to_string()), "seed");
        out.push_str(&format!(
            "  {:<16} {}\n  controls         http://{addr}/_emulator/…\n",
            "mode",
            if self.production { "production (/ipp/v1/dev/* → 404)" } else { "playground" }
        ));
        out
    }
}

/// The dev default webhook secret.
#[must_use]
pub fn dev_secret() -> WebhookSecret {
    WebhookSecret::from_bytes(DEV_WEBHOOK_KEY).unwrap_or_else(|_| unreachable!("32-byte key"))
}

fn parse_urls(list: &str) -> Result<Vec<Uri>, Error> {
    let mut out = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let uri: Uri = raw.parse().map_err(|_| Error::Config(format!("webhook url {raw:?} is not a URL")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(Error::Config(format!(
                "webhook url {raw:?}: only http:// destinations are supported (use a loopback address in development)"
            )));
        }
        out.push(uri);
    }
    Ok(out)
}

/// Parses `250ms`, `1s`, `1.5s`, `15m`, `2h` or a bare number of seconds.
#[must_use]
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..=86_400.0 * 30.0).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Parses a comma-separated retry schedule (may be empty: no retries).
#[must_use]
pub fn parse_schedule(s: &str) -> Option<Vec<Duration>> {
    let s = s.trim();
    if s.is_empty() || s == "none" {
        return Some(Vec::new());
    }
    let v: Option<Vec<Duration>> = s.split(',').map(parse_duration).collect();
    v.filter(|v| v.len() <= 32)
}

/// Formats a duration compactly (`15m`, `1.5s`, `250ms`).
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// Reads a `.dev.vars` (dotenv) file: `NAME=value` lines, `#` comments, optional quotes
/// and an optional `export ` prefix.
pub fn read_dev_vars(path: &Path) -> Result<HashMap<String, String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(parse_dev_vars(&text))
}

/// Parses the text of a `.dev.vars` file as `wrangler dev` does (it reads the file with the
/// `dotenv` package), so that the emulator and the worker see the same values: see
/// [`dev_vars_line`]. Values spanning several lines (a quoted value with line breaks) are not
/// supported: none of kipp's settings has one.
#[must_use]
pub fn parse_dev_vars(text: &str) -> HashMap<String, String> {
    text.lines().filter_map(dev_vars_line).collect()
}

/// One line of a `.dev.vars` file, read as dotenv 16 reads it: `[export ]KEY=value` or
/// `KEY: value` (the key of `A-Z a-z 0-9 _ . -`); a value in matching quotes (`'`, `"`, `` ` ``)
/// is taken between them, `\n` and `\r` in double quotes become line breaks; an unquoted value
/// ends at the first `#` (`KEY=v#x` is `v`, `KEY= # note` is empty); a comment may follow a
/// quoted value. Anything else (comments, blank lines, no key) is no entry.
fn dev_vars_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_start();
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => line,
    };
    let key_len =
        line.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))).unwrap_or(line.len());
    if key_len == 0 {
        return None;
    }
    let (key, rest) = line.split_at(key_len);
    let rest = match rest.trim_start().strip_prefix('=') {
        Some(r) => r,
        None => rest.strip_prefix(':').filter(|r| r.starts_with(char::is_whitespace))?,
    };
    let v = rest.trim_start();
    let quoted = v.chars().next().filter(|q| matches!(q, '\'' | '"' | '`')).and_then(|q| {
        // The first closing quote not escaped by a backslash, followed by nothing but a comment.
        let bytes = v.as_bytes();
        let end = (1..bytes.len()).find(|&i| bytes[i] == q as u8 && bytes[i - 1] != b'\\')?;
        let after = v[end + 1..].trim_start();
        (after.is_empty() || after.starts_with('#')).then(|| &v[..=end])
    });
    let raw = quoted.unwrap_or_else(|| v.split('#').next().unwrap_or_default()).trim();
    let first = raw.chars().next();
    let mut value = match first {
        Some(q @ ('\'' | '"' | '`')) if raw.len() >= 2 && raw.ends_with(q) => raw[1..raw.len() - 1].to_owned(),
        _ => raw.to_owned(),
    };
    if first == Some('"') {
        value = value.replace("\\n", "\n").replace("\\r", "\r");
    }
    Some((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_schedules() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_schedule("1s,2s,4s").map(|v| v.len()), Some(3));
        assert_eq!(parse_schedule("1s,,2s"), None);
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn dev_vars_read_as_wrangler_reads_them() {
        let dv = parse_dev_vars(concat!(
            "# a comment\r\n",
            "QUOTED=\"v\" # note\r\n",
            "HASH=v#x\n",
            "UNSET= # unset\n",
            "export SINGLE='a b'\n",
            "exported=1\n",
            "COLON: c\n",
            "SPACED = s \n",
            "ESCAPED=\"l1\\nl2\"\n",
            "INNER=\"a#b\"\n",
            "OPEN=\"abc\n",
            "TICK=`t`\n",
            "bad key=1\n",
            "=nokey\n",
        ));
        let get = |k: &str| dv.get(k).map(String::as_str);
        assert_eq!(get("QUOTED"), Some("v"));
        assert_eq!(get("HASH"), Some("v"));
        assert_eq!(get("UNSET"), Some(""));
        assert_eq!(get("SINGLE"), Some("a b"));
        assert_eq!(get("exported"), Some("1"));
        assert_eq!(get("COLON"), Some("c"));
        assert_eq!(get("SPACED"), Some("s"));
        assert_eq!(get("ESCAPED"), Some("l1\nl2"));
        assert_eq!(get("INNER"), Some("a#b"));
        assert_eq!(get("OPEN"), Some("\"abc"));
        assert_eq!(get("TICK"), Some("t"));
        assert_eq!(dv.len(), 11, "{dv:?}");
        // An empty value is as if the line were not there: the default applies.
        let c = Config::resolve_from(
            &EmulatorArgs::default(),
            &HashMap::new(),
            &parse_dev_vars("KUSTOM_API_KEY= # none\n"),
        );
        assert_eq!(c.unwrap().api_key, Config::dev_defaults().api_key);
    }

    #[test]
    fn precedence_flag_env_devvars_default() {
        let dv = parse_dev_vars(
            "# c\nKUSTOM_MERCHANT_ID=\"DMFILE\"\nexport KUSTOM_API_KEY=kco_test_api_file\nKIPP_SESSION_TTL=5m\n",
        );
        let env: HashMap<String, String> = [("KUSTOM_API_KEY".to_owned(), "kco_test_api_env".to_owned())].into();
        let args = EmulatorArgs { session_ttl: Some("90s".to_owned()), ..EmulatorArgs::default() };
        let c = Config::resolve_from(&args, &env, &dv).unwrap();
        assert_eq!(c.merchant_id.as_str(), "DMFILE");
        assert_eq!(c.api_key, "kco_test_api_env");
        assert_eq!(c.session_ttl, Duration::from_secs(90));
        let summary = c.summary("127.0.0.1:1".parse().unwrap());
        assert!(summary.contains("kco_test_api…") && !summary.contains("kco_test_api_env"));
        assert!(!summary.contains(&dev_secret().expose_whsec()));
    }

    #[test]
    fn a_listen_address_off_loopback_needs_allow_remote() {
        let env = |v: &str| HashMap::from([("KIPP_EMULATOR_LISTEN".to_owned(), v.to_owned())]);
        let resolve = |args: &EmulatorArgs, v: &str| Config::resolve_from(args, &env(v), &HashMap::new());
        let e = resolve(&EmulatorArgs::default(), "0.0.0.0:8788").unwrap_err().to_string();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(resolve(&EmulatorArgs::default(), "[::1]:8788").is_ok());
        let remote = EmulatorArgs { allow_remote: true, ..EmulatorArgs::default() };
        assert_eq!(resolve(&remote, "0.0.0.0:8788").unwrap().listen.to_string(), "0.0.0.0:8788");
    }

    #[test]
    fn the_workers_session_lifetime_sets_the_emulators() {
        let resolve = |dv: &str| Config::resolve_from(&EmulatorArgs::default(), &HashMap::new(), &parse_dev_vars(dv));
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS=4\n").unwrap().session_ttl, Duration::from_secs(4));
        // The emulator's own setting wins; a value that is not whole seconds is refused.
        let both = resolve("KIPP_SESSION_TTL=90s\nKIPP_SESSION_TTL_SECS=4\n").unwrap();
        assert_eq!(both.session_ttl, Duration::from_secs(90));
        assert!(resolve("KIPP_SESSION_TTL_SECS=4x\n").is_err());
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS=0\n").unwrap().session_ttl, DEFAULT_SESSION_TTL);
        // The worker reads the line as a u32 of seconds: what it refuses (durations with a unit,
        // fractions, negatives) the emulator refuses, and what it takes the emulator takes.
        for refused in ["15m", "2.5", "500ms", "-5", "4294967296"] {
            assert!(resolve(&format!("KIPP_SESSION_TTL_SECS={refused}\n")).is_err(), "{refused}");
        }
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS=00\n").unwrap().session_ttl, DEFAULT_SESSION_TTL);
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS=+5\n").unwrap().session_ttl, Duration::from_secs(5));
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS=2592001\n").unwrap().session_ttl, Duration::from_secs(2_592_001));
        assert_eq!(resolve("KIPP_SESSION_TTL_SECS= 7 \n").unwrap().session_ttl, Duration::from_secs(7));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |k: &str, v: &str| {
            let env: HashMap<String, String> = [(k.to_owned(), v.to_owned())].into();
            Config::resolve_from(&EmulatorArgs::default(), &env, &HashMap::new()).is_err()
        };
        assert!(bad("KUSTOM_WEBHOOK_URL", "https://example.invalid/x"));
        assert!(bad("KUSTOM_WEBHOOK_SECRETS", "whsec_short"));
        assert!(bad("KUSTOM_MERCHANT_ID", "DM 1"));
        assert!(bad("KIPP_SESSION_TTL", "0s"));
    }
}
