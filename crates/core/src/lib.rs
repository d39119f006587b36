//! # kipp-core
//!
//! The one crate that knows the Kustom In-Person Payments (IPP) API, with no I/O:
//! it builds for the host and for `wasm32-unknown-unknown` and is shared by the
//! browser package, the edge worker and the emulator.
//!
//! | module | what it holds |
//! |---|---|
//! | [`base64`] | base64 in both alphabets, strict about padding and trailing bits |
//! | [`ids`] | validated identifiers (session, device, enrollment, location, order, event, merchant) |
//! | [`money`] | [`money::Amount`], [`money::Currency`], [`money::TaxRate`] and display formatting |
//! | [`metadata`] | string→string metadata and `key:value` filters |
//! | [`time`] | RFC 3339 timestamps built from time passed in, never read from a clock |
//! | [`validate`] | field-path validation errors |
//! | [`problem`] | RFC 7807 problem details as sent by Kustom and by kipp |
//! | [`api`] | every operation as data (method, path, query, headers, body, response type) and the route table |
//! | [`session`] | the session state machine |
//! | [`event`] | the webhook envelope and IPP event types |
//! | `webhook` | Standard Webhooks signing and verification (cargo feature `webhook`, on by default) |
//!
//! ## Cargo features
//! - `webhook` (default): HMAC-SHA256 signing/verification of webhook deliveries. The browser
//!   package turns it off so it does not carry hmac/sha2.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// `#[derive(kipp_derive::MapDeserialize)]` names `::kipp_core`, also inside this crate.
extern crate self as kipp_core;

pub mod api;
pub mod base64;
pub mod event;
pub mod ids;
pub mod metadata;
pub mod money;
pub mod problem;
pub mod session;
pub mod text;
pub mod time;
#[cfg(feature = "token")]
pub mod token;
pub mod validate;
#[cfg(feature = "webhook")]
pub mod webhook;

#[doc(hidden)]
pub mod __de;
mod error;
pub use error::CoreError;
