//! `kipp`: the native command of the kipp kit. Subcommands:
//! `kipp emulator` (a local, stateful Kustom IPP API) and `kipp token` (POS tokens).
#![forbid(unsafe_code)]

mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kipp_cli::{bench, emulator};

/// kipp: Kustom In-Person Payments kit, native command.
#[derive(Debug, Parser)]
#[command(name = "kipp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local, stateful emulator of the Kustom IPP API (signed webhooks, fault injection).
    ///
    /// Serves Kustom's paths (`/ipp/v1/...`, including the playground's `/ipp/v1/dev/...`) and
    /// test controls under `/_emulator/`. Configure it with flags, with the environment
    /// (KUSTOM_API_KEY, KUSTOM_MERCHANT_ID, KUSTOM_WEBHOOK_URL, KUSTOM_WEBHOOK_SECRETS, …) or
    /// with a `.dev.vars` file; with nothing set it prints and uses dev defaults.
    Emulator(Box<emulator::EmulatorArgs>),
    /// Mint a POS token (`kipp1.…`) that the edge worker accepts.
    Token(token::TokenArgs),
    /// Load-test an emulator on loopback and print `BENCH <name> <value> <unit>` lines.
    #[command(hide = true)]
    BenchEmulator(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Emulator(args) => emulator::run(*args),
        Command::Token(args) => token::run(args),
        Command::BenchEmulator(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("kipp: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
