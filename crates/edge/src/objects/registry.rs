//! The registry object (one instance): the token revocation list and the devices with an
//! ambiguous (timed-out) session creation awaiting reconciliation.

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{internal, json, now_ms, store_get, store_put};

/// `POST /revoke`: the token id (`x-kipp-jti`) and its expiry in unix seconds (`x-kipp-exp`),
/// after which it need not be kept.
pub fn revoke_request(jti: &str, exp: i64) -> Result<Request> {
    internal(Method::Post, "/revoke", None, &[(H_JTI, jti), (H_EXP, &exp.to_string())])
}

/// `POST /pending`: adds (`x-kipp-add: 1`) or removes a device (`x-kipp-device`) with an
/// ambiguous create.
pub fn pending_request(device_id: &str, add: bool) -> Result<Request> {
    internal(Method::Post, "/pending", None, &[(H_DEVICE, device_id), (H_ADD, if add { "1" } else { "0" })])
}

const H_JTI: &str = "x-kipp-jti";
const H_EXP: &str = "x-kipp-exp";
const H_DEVICE: &str = "x-kipp-device";
const H_ADD: &str = "x-kipp-add";

const MAX_REVOKED: usize = 10_000;

/// The registry Durable Object (`fetch` only: no alarm, WebSocket or socket handlers are exported).
#[allow(missing_debug_implementations)] // State and Env have no Debug
#[durable_object(fetch)]
pub struct Registry {
    state: State,
}

impl DurableObject for Registry {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let now_s = now_ms() / 1000;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/revoked") => {
                let list: Vec<(String, i64)> = store_get(&storage, "revoked").await?.unwrap_or_default();
                let live: Vec<String> = list.into_iter().filter(|(_, exp)| *exp > now_s).map(|(j, _)| j).collect();
                Ok(json(200, &live))
            }
            (Method::Post, "/revoke") => {
                let jti = super::required_header(&req, H_JTI)?;
                let exp = super::required_header(&req, H_EXP)?
                    .parse::<i64>()
                    .map_err(|_| worker::Error::RustError("bad x-kipp-exp".into()))?;
                let mut list: Vec<(String, i64)> = store_get(&storage, "revoked").await?.unwrap_or_default();
                list.retain(|(j, e)| *e > now_s && *j != jti);
                if list.len() >= MAX_REVOKED {
                    return Ok(json(507, &"revocation list full"));
                }
                list.push((jti, exp));
                store_put(&storage, "revoked", &list).await?;
                Ok(json(200, &true))
            }
            (Method::Get, "/pending") => {
                let list: Vec<(String, i64)> = store_get(&storage, "pending").await?.unwrap_or_default();
                let cutoff = now_ms() - crate::idem::PENDING_MAX_AGE_MS;
                Ok(json(200, &list.into_iter().filter(|(_, at)| *at > cutoff).map(|(d, _)| d).collect::<Vec<_>>()))
            }
            (Method::Post, "/pending") => {
                let device_id = super::required_header(&req, H_DEVICE)?;
                let add = super::required_header(&req, H_ADD)? == "1";
                let mut list: Vec<(String, i64)> = store_get(&storage, "pending").await?.unwrap_or_default();
                let cutoff = now_ms() - crate::idem::PENDING_MAX_AGE_MS;
                list.retain(|(d, at)| *at > cutoff && *d != device_id);
                if add {
                    list.push((device_id, now_ms()));
                }
                store_put(&storage, "pending", &list).await?;
                Ok(json(200, &true))
            }
            _ => Ok(json(404, &"no such registry route")),
        }
    }
}
