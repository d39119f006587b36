//! # kipp-edge
//!
//! The Cloudflare Worker of kipp (workers-rs). It holds the Kustom API key and webhook
//! secrets, admits POS browsers with signed kipp tokens, forwards the allow-listed IPP
//! operations after validating them with kipp-core, receives Kustom's webhooks, and pushes
//! live session state over WebSockets from one Durable Object per session.
//!
//! The decisions are plain Rust with native unit tests (`cargo test -p kipp-edge`):
//!
//! | module | what it decides |
//! |---|---|
//! | [`config`] | bindings → [`config::Config`] (secrets redacted in `Debug`, errors name the binding) |
//! | [`auth`] | bearer parsing, token checks, the role matrix |
//! | [`coalesce`] | fresh reads shared by callers that arrive while one runs (webhook re-reads) |
//! | [`plan`] | route table allow-list, validation, location scope, the upstream request |
//! | [`retry`] | which upstream failures are retried and after how long |
//! | [`idem`] | idempotency keys and create records |
//! | [`record`] | the session record, its updates through the core state machine, pushed messages |
//! | [`log`] | JSON log lines |
//!
//! The Workers glue (`shell`, `routes`, `upstream`, `webhook`, `objects`) and the allocator
//! (crate kipp-alloc) only exist on wasm32.
// `Problem` (≈200 bytes) is the error of request handling: built at most once per request and
// turned into the response, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod coalesce;
pub mod config;
pub mod idem;
pub mod log;
pub mod plan;
pub mod record;
pub mod retry;

#[cfg(target_arch = "wasm32")]
mod env;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
pub mod objects;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod upstream;
#[cfg(target_arch = "wasm32")]
mod webhook;

/// Power-of-two size classes instead of std's dlmalloc: ~3 KB gzip less (crate kipp-alloc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: kipp_alloc::Classes = kipp_alloc::Classes::new();
