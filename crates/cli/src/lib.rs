//! # kipp-cli
//!
//! The native `kipp` command. The binary (`src/main.rs`) is a thin clap front end over
//! this library, so tests and the benchmark can start the emulator in-process.
//!
//! | module | what it holds |
//! |---|---|
//! | [`emulator`] | `kipp emulator`: a stateful local Kustom IPP API with signed webhooks, fault injection and test controls |
//! | [`bench`] | `kipp bench-emulator` (hidden): a bounded loopback load generator that prints `BENCH` lines |
//! | [`http_client`] | the small HTTP/1 client used for webhook delivery and the benchmark |
//! | [`Error`] | the crate's one error type |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod emulator;
pub mod http_client;

mod error;
pub use error::Error;
