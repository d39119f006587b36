//! The registry object (one instance): the token revocation list and the devices with an
//! ambiguous (timed-out) session creation awaiting reconciliation.

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{json, now_ms, store_get, store_put};

/// A revocation: token id and its expiry (unix s), after which it need not be kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoke {
    /// Token id.
    pub jti: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

/// Adds or removes a device with an ambiguous create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Device id.
    pub device_id: String,
    /// Add (true) or remove (false).
    pub add: bool,
}

const MAX_REVOKED: usize = 10_000;

/// The registry Durable Object.
#[allow(missing_debug_implementations)] // State and Env have no Debug
#[durable_object]
pub struct Registry {
    state: State,
}

impl DurableObject for Registry {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let now_s = now_ms() / 1000;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/revoked") => {
                let list: Vec<(String, i64)> = store_get(&storage, "revoked").await?.unwrap_or_default();
                let live: Vec<String> = list.into_iter().filter(|(_, exp)| *exp > now_s).map(|(j, _)| j).collect();
                Ok(json(200, &live))
            }
            (Method::Post, "/revoke") => {
                let r: Revoke = crate::http::req_json(&mut req).await?;
                let mut list: Vec<(String, i64)> = store_get(&storage, "revoked").await?.unwrap_or_default();
                list.retain(|(j, exp)| *exp > now_s && *j != r.jti);
                if list.len() >= MAX_REVOKED {
                    return Ok(json(507, &"revocation list full"));
                }
                list.push((r.jti, r.exp));
                store_put(&storage, "revoked", &list).await?;
                Ok(json(200, &true))
            }
            (Method::Get, "/pending") => {
                let list: Vec<(String, i64)> = store_get(&storage, "pending").await?.unwrap_or_default();
                let cutoff = now_ms() - crate::idem::PENDING_MAX_AGE_MS;
                Ok(json(200, &list.into_iter().filter(|(_, at)| *at > cutoff).map(|(d, _)| d).collect::<Vec<_>>()))
            }
            (Method::Post, "/pending") => {
                let p: Pending = crate::http::req_json(&mut req).await?;
                let mut list: Vec<(String, i64)> = store_get(&storage, "pending").await?.unwrap_or_default();
                let cutoff = now_ms() - crate::idem::PENDING_MAX_AGE_MS;
                list.retain(|(d, at)| *at > cutoff && *d != p.device_id);
                if p.add {
                    list.push((p.device_id, now_ms()));
                }
                store_put(&storage, "pending", &list).await?;
                Ok(json(200, &true))
            }
            _ => Ok(json(404, &"no such registry route")),
        }
    }
}
