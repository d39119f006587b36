//! `kipp token`: mints the POS tokens the edge worker accepts (placeholder until the
//! edge-worker issue lands; the token format lives in `kipp_core::token`).

use kipp_cli::Error;

/// Arguments of `kipp token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {}

/// Runs `kipp token`.
pub fn run(_args: TokenArgs) -> Result<(), Error> {
    Err(Error::NotImplemented("kipp token"))
}
