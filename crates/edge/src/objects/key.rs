//! The key objects: which device each client `Idempotency-Key` (token-scoped) was first used with.
//!
//! A create's record, and the check that a repeat carries the same cart, live in the object of
//! the device the cart names (`objects::device`). A repeat naming *another* device reached an
//! object that had never seen the key, and opened a second session for one sale. So before a
//! keyed create goes to its device, the worker claims the key for that device here: a key claimed
//! by another device is refused (422 `idempotency_key_reused`, as a repeat with another cart is).
//! A claim lasts as long as a device keeps a key's record (`KIPP_IDEMPOTENCY_RETENTION_SECS`),
//! renewed by each use, and is never released early: a release racing a retry of the same key
//! could free a key whose session the retry has just opened. Keys derived from the cart need no
//! claim: the cart names the device.
//!
//! Claims are kept in [`SHARDS`] objects, picked by the key's hash, rather than one object per
//! key: kipp-web sends a fresh key with every sale, and an object per sale would be an object
//! (and its storage) per sale. Each claim stores `c:<key>` = `<device> <until ms>` and an index
//! entry `x:<until, 13 digits>:<key>`; every claim removes up to [`SWEEP_BATCH`] lapsed claims,
//! oldest first, so no alarm is needed and no pass is unbounded.

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::http::{internal, json, now_ms, store_get_str};
use crate::objects::device::list;

/// Number of key objects.
pub const SHARDS: u32 = 16;
/// Lapsed claims removed per claim, at most.
const SWEEP_BATCH: u32 = 16;

/// The name of the key object holding `key` (an `idem::storage_key`, which ends in hex digits
/// of a hash; any other text still maps to a shard).
#[must_use]
pub fn shard_of(key: &str) -> String {
    let last = key.bytes().last().map_or(0, u32::from);
    ["keys-", &(last % SHARDS).to_string()].concat()
}

/// `POST /claim` (`x-kipp-key`, `x-kipp-device`, `x-kipp-until`): 200 when the key is now this
/// device's (until `until_ms`), 409 when another device holds it.
pub fn claim_request(key: &str, device_id: &str, until_ms: i64) -> Result<Request> {
    internal(Method::Post, "/claim", None, &[(H_KEY, key), (H_DEVICE, device_id), (H_UNTIL, &until_ms.to_string())])
}

const H_KEY: &str = "x-kipp-key";
const H_DEVICE: &str = "x-kipp-device";
const H_UNTIL: &str = "x-kipp-until";
const CLAIM_PREFIX: &str = "c:";
const INDEX_PREFIX: &str = "x:";

/// `x:<until, 13 digits>:<key>`: zero-padded, so entries sort by time.
fn index(until_ms: i64, key: &str) -> String {
    format!("{INDEX_PREFIX}{:013}:{key}", until_ms.max(0))
}

/// A stored claim (`<device> <until ms>`): its device and end.
fn parse_claim(stored: &str) -> Option<(&str, i64)> {
    let (device, until) = stored.split_once(' ')?;
    Some((device, until.parse().ok()?))
}

/// A key object (fetch only).
#[allow(missing_debug_implementations)] // State has no Debug
#[durable_object(fetch)]
pub struct KeyObject {
    state: State,
}

impl KeyObject {
    /// Removes up to [`SWEEP_BATCH`] claims that lapsed before `now`.
    async fn sweep(&self, now: i64) -> Result<()> {
        let lapsed = list(&self.state, INDEX_PREFIX, Some(&index(now, "")), Some(SWEEP_BATCH)).await?;
        let mut doomed = Vec::new();
        for entry in lapsed.keys() {
            let Some(entry) = entry.ok().and_then(|k| k.as_string()) else { continue };
            if let Some(key) = entry.get(INDEX_PREFIX.len() + 14..) {
                doomed.push([CLAIM_PREFIX, key].concat());
            }
            doomed.push(entry);
        }
        if !doomed.is_empty() {
            self.state.storage().delete_multiple(doomed).await?;
        }
        Ok(())
    }
}

impl DurableObject for KeyObject {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if (req.method(), req.path().as_str()) != (Method::Post, "/claim") {
            return Ok(json(404, &"no such key route"));
        }
        let (key, device) = (super::required_header(&req, H_KEY)?, super::required_header(&req, H_DEVICE)?);
        let until = super::required_header(&req, H_UNTIL)?
            .parse::<i64>()
            .map_err(|_| worker::Error::RustError("bad x-kipp-until".into()))?;
        let now = now_ms();
        // Only storage is awaited between the read and the write: the object's input gate keeps
        // other claims out meanwhile, so two devices cannot both take one key.
        let storage = self.state.storage();
        let claim_key = [CLAIM_PREFIX, &key].concat();
        let stored = store_get_str(&storage, &claim_key).await?;
        let held = stored.as_deref().and_then(parse_claim);
        if let Some((holder, ends)) = held {
            if ends > now && holder != device {
                return Ok(json(409, &false));
            }
            // Renewed (or lapsed and taken anew): the old index entry goes.
            storage.delete(&index(ends, &key)).await?;
        }
        let values = js_sys::Object::new();
        js_sys::Reflect::set(&values, &claim_key.into(), &format!("{device} {until}").into())?;
        js_sys::Reflect::set(&values, &index(until, &key).into(), &"".into())?;
        wasm_bindgen_futures::JsFuture::from(storage.as_raw().put_multiple(values.into())?).await?;
        self.sweep(now).await?;
        Ok(json(200, &true))
    }
}

#[cfg(test)]
mod tests {
    use super::{index, parse_claim, shard_of, SHARDS};

    #[test]
    fn claims_and_their_index_entries() {
        assert_eq!(parse_claim("dev-1 2000"), Some(("dev-1", 2000)));
        assert_eq!(parse_claim("garbled"), None);
        assert_eq!(index(42, "idem:k:ab"), "x:0000000000042:idem:k:ab");
        // The index sorts by time.
        assert!(index(999, "k") < index(1000, "k"));
        let shards: std::collections::HashSet<String> = (0..64).map(|i| shard_of(&format!("idem:k:{i:x}"))).collect();
        assert_eq!(shards.len(), SHARDS as usize);
    }
}
