//! The Durable Objects: one per session (state, history, subscribers, reconciliation), one per
//! device (idempotent creation, current session), one per client idempotency key (the device it
//! was used with) and one registry (revocations, pending ambiguous creates).

pub mod device;
pub mod key;
pub mod registry;
pub mod session;

/// A header the worker always sets on its calls to an object; its absence is a bug (a 500).
fn required_header(req: &worker::Request, name: &str) -> worker::Result<String> {
    req.headers().get(name)?.ok_or_else(|| worker::Error::RustError("missing internal header".into()))
}

/// Binding names (see wrangler.toml).
pub const SESSIONS: &str = "SESSIONS";
/// Device objects.
pub const DEVICES: &str = "DEVICES";
/// Key objects.
pub const KEYS: &str = "KEYS";
/// The registry.
pub const REGISTRY: &str = "REGISTRY";
/// The registry's one instance.
pub const REGISTRY_NAME: &str = "global";
