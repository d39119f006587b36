//! `kipp bench-emulator` (hidden): bounded loopback load generator.

use crate::Error;

/// Flags of `kipp bench-emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {}

/// Runs the benchmark.
pub fn run(_args: BenchArgs) -> Result<(), Error> {
    Err(Error::NotImplemented("bench-emulator"))
}
