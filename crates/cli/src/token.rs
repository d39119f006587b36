//! `kipp token`: mints a POS token (`kipp1.…`) the edge worker accepts, signed with
//! `KIPP_TOKEN_KEY` from the environment or `.dev.vars`. The format and the signing live in
//! `kipp_core::token`; this only reads the key, draws the random token id and prints the token.
//!
//! ```text
//! kipp token --role clerk --location 550e8400-e29b-41d4-a716-446655440000 --ttl 12h
//! ```

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use kipp_cli::emulator::config::read_dev_vars;
use kipp_cli::Error;
use kipp_core::ids::LocationId;
use kipp_core::token::{mint, parse_ttl, Claims, Role, TokenKey};
use rand::RngCore;

/// Arguments of `kipp token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// `clerk` or `admin`.
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// Limit the token to this location (UUID).
    #[arg(long, value_name = "UUID")]
    pub location: Option<String>,
    /// Lifetime, e.g. `12h`, `30m`, `7d` (at most 31 days).
    #[arg(long, value_name = "DURATION", default_value = "12h")]
    pub ttl: String,
    /// Read KIPP_TOKEN_KEY from this file when it is not in the environment [default: ./.dev.vars].
    #[arg(long, value_name = "PATH")]
    pub dev_vars: Option<PathBuf>,
    /// Print the claims (JSON) to stderr as well.
    #[arg(long)]
    pub verbose: bool,
}

fn key(args: &TokenArgs) -> Result<TokenKey, Error> {
    let text = match std::env::var("KIPP_TOKEN_KEY") {
        Ok(k) if !k.trim().is_empty() => k,
        _ => {
            let path = args.dev_vars.clone().unwrap_or_else(|| PathBuf::from(".dev.vars"));
            // Say where the key may come from, not only that the file is missing (run outside
            // the checkout, `./.dev.vars` is not there).
            let mut vars = read_dev_vars(&path).map_err(|_| {
                // The way out depends on whether a file was named: a wrong --dev-vars path is
                // fixed there, the default's absence by naming one or setting the variable.
                let fix = if args.dev_vars.is_some() {
                    "check the --dev-vars path, or set KIPP_TOKEN_KEY"
                } else {
                    "set KIPP_TOKEN_KEY or pass --dev-vars <file>"
                };
                Error::Config(format!(
                    "KIPP_TOKEN_KEY is not in the environment and {} cannot be read: {fix}",
                    path.display()
                ))
            })?;
            vars.remove("KIPP_TOKEN_KEY").ok_or_else(|| {
                Error::Config(format!("KIPP_TOKEN_KEY is neither in the environment nor in {}", path.display()))
            })?
        }
    };
    TokenKey::parse(&text).map_err(|e| Error::Config(format!("KIPP_TOKEN_KEY: {e}")))
}

/// Runs `kipp token`.
pub fn run(args: TokenArgs) -> Result<(), Error> {
    let role = Role::parse(&args.role).ok_or_else(|| Error::Config("--role must be clerk or admin".into()))?;
    let loc = args
        .location
        .as_deref()
        .map(LocationId::parse)
        .transpose()
        .map_err(|e| Error::Config(format!("--location: {}", e.reason)))?;
    let ttl =
        parse_ttl(&args.ttl).map_err(|_| Error::Config("--ttl must be like 12h, 30m, 90s or 7d (≤ 31 days)".into()))?;
    let key = key(&args)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let claims = Claims::new(role, loc, i64::try_from(now).unwrap_or(i64::MAX), ttl, random);
    let token = mint(&key, &claims).map_err(|e| Error::Message(format!("minting failed: {e}")))?;
    if args.verbose {
        eprintln!("{}", serde_json::to_string(&claims).unwrap_or_default());
    }
    println!("{token}");
    Ok(())
}
