//! The registry object (one instance): the token revocation list and the marks of ambiguous
//! (timed-out) session creations awaiting reconciliation, one per device and key.

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{internal, json, now_ms, store_get, store_put};

/// `POST /revoke`: the token id (`x-kipp-jti`) and its expiry in unix seconds (`x-kipp-exp`),
/// after which it need not be kept.
pub fn revoke_request(jti: &str, exp: i64) -> Result<Request> {
    internal(Method::Post, "/revoke", None, &[(H_JTI, jti), (H_EXP, &exp.to_string())])
}

/// `PUT /pending` adds, `DELETE /pending` removes the mark (`x-kipp-mark`) of one ambiguous
/// create: `<device id> <key>`. `GET /pending` lists the marks; [`mark_device`] reads
/// a mark's device (a mark written before marks had keys is the device id alone).
pub fn pending_request(device_id: &str, key: &str, add: bool) -> Result<Request> {
    let method = if add { Method::Put } else { Method::Delete };
    internal(method, "/pending", None, &[(H_MARK, &[device_id, " ", key].concat())])
}

/// The device a mark of `GET /pending` is for.
pub fn mark_device(mark: &str) -> &str {
    mark.split(' ').next().unwrap_or_default()
}

const H_JTI: &str = "x-kipp-jti";
const H_EXP: &str = "x-kipp-exp";
const H_MARK: &str = "x-kipp-mark";

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
            (method @ (Method::Put | Method::Delete), "/pending") => {
                let mark = super::required_header(&req, H_MARK)?;
                let add = method == Method::Put;
                let mut list: Vec<(String, i64)> = store_get(&storage, "pending").await?.unwrap_or_default();
                let cutoff = now_ms() - crate::idem::PENDING_MAX_AGE_MS;
                list.retain(|(m, at)| *at > cutoff && *m != mark);
                if add {
                    list.push((mark, now_ms()));
                }
                store_put(&storage, "pending", &list).await?;
                Ok(json(200, &true))
            }
            _ => Ok(json(404, &"no such registry route")),
        }
    }
}
