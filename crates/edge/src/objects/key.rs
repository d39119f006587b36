//! The key object (one per client `Idempotency-Key`, token-scoped): which device the key was first
//! used with.
//!
//! A create's record, and the check that a repeat carries the same cart, live in the object of
//! the device the cart names (`objects::device`). A repeat naming *another* device reached an
//! object that had never seen the key, and opened a second session for one sale. So before a
//! keyed create goes to its device, the worker claims the key for that device here: a key claimed
//! by another device is refused (422 `idempotency_key_reused`, as a repeat with another cart is).
//! The claim lasts as long as the device keeps the key's record (`KIPP_IDEMPOTENCY_RETENTION_SECS`),
//! and is released when the device forgets the key because its create failed for certain (the
//! key may then be used again, on any device). Keys derived from the cart need no claim: the cart
//! names the device.

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{internal, json, now_ms, store_get_str};

/// `POST /claim` (`x-kipp-device`, `x-kipp-until`): 200 when the key is now this device's, 409
/// when another device holds it.
pub fn claim_request(device_id: &str, until_ms: i64) -> Result<Request> {
    internal(Method::Post, "/claim", None, &[(H_DEVICE, device_id), (H_UNTIL, &until_ms.to_string())])
}

/// `POST /release` (`x-kipp-device`): the key is free again, if this device held it.
pub fn release_request(device_id: &str) -> Result<Request> {
    internal(Method::Post, "/release", None, &[(H_DEVICE, device_id)])
}

const H_DEVICE: &str = "x-kipp-device";
const H_UNTIL: &str = "x-kipp-until";
/// The stored claim: `<device id> <until ms>` (a device id has no space).
const CLAIM: &str = "claim";

fn header(req: &Request, name: &str) -> Result<String> {
    req.headers().get(name)?.ok_or_else(|| worker::Error::RustError("missing key header".into()))
}

/// A stored claim still in force: its device.
fn live_claim(stored: Option<&str>, now: i64) -> Option<&str> {
    let (device, until) = stored?.split_once(' ')?;
    (until.parse::<i64>().ok()? > now).then_some(device)
}

/// The key Durable Object (`fetch`, and `alarm` to remove the claim when it lapses: the macro's
/// `alarm` exports both).
#[allow(missing_debug_implementations)] // State has no Debug
#[durable_object(alarm)]
pub struct KeyObject {
    state: State,
}

impl DurableObject for KeyObject {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let device = header(&req, H_DEVICE)?;
        let stored = store_get_str(&storage, CLAIM).await?;
        let holder = live_claim(stored.as_deref(), now_ms());
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/claim") => {
                if holder.is_some_and(|d| d != device) {
                    return Ok(json(409, &false));
                }
                let until = header(&req, H_UNTIL)?
                    .parse::<i64>()
                    .map_err(|_| worker::Error::RustError("bad x-kipp-until".into()))?;
                storage.put_raw(CLAIM, wasm_bindgen::JsValue::from_str(&format!("{device} {until}"))).await?;
                storage.set_alarm((until - now_ms()).max(0)).await?;
                Response::ok("")
            }
            (Method::Post, "/release") => {
                if holder == Some(device.as_str()) {
                    storage.delete(CLAIM).await?;
                }
                Response::ok("")
            }
            _ => Ok(json(404, &"no such key route")),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // A claim renewed since the alarm was set has moved the alarm too; one still stored here
        // has lapsed.
        let storage = self.state.storage();
        let stored = store_get_str(&storage, CLAIM).await?;
        if live_claim(stored.as_deref(), now_ms()).is_none() {
            storage.delete(CLAIM).await?;
        }
        Response::ok("")
    }
}

#[cfg(test)]
mod tests {
    use super::live_claim;

    #[test]
    fn a_claim_holds_until_its_time() {
        assert_eq!(live_claim(Some("dev-1 2000"), 1999), Some("dev-1"));
        assert_eq!(live_claim(Some("dev-1 2000"), 2000), None);
        assert_eq!(live_claim(None, 0), None);
        assert_eq!(live_claim(Some("garbled"), 0), None);
    }
}
