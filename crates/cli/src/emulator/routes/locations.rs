//! `GET|POST /ipp/v1/locations`, `GET|PUT|DELETE /ipp/v1/locations/{id}` (create, update
//! and delete are kipp decisions: Kustom documents none).

use kipp_core::api::locations::{ListLocations, Location, LocationRequest};
use kipp_core::api::Page;
use kipp_core::ids::LocationId;

use super::{body, json_reply, path_id, query, Reply};
use crate::emulator::problem::Reject;
use crate::emulator::state::{Ctx, LocationRec, World};

pub(super) fn list(w: &World, q: &[(String, String)]) -> Result<Reply, Reject> {
    let q = query(ListLocations::from_query(q))?;
    let mut recs: Vec<&LocationRec> = w.locations.values().collect();
    recs.sort_by_key(|r| r.seq);
    let all: Vec<Location> = recs.into_iter().map(|r| r.location.clone()).collect();
    json_reply(200, &Page::slice(all, q.page))
}

pub(super) fn get(w: &World, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "id", LocationId::parse)?;
    let rec = w.locations.get(&id).ok_or_else(|| Reject::not_found("location", id.as_str()))?;
    json_reply(200, &rec.location)
}

fn fill(location: &mut Location, req: LocationRequest) {
    location.name = Some(req.name);
    location.street_address = req.street_address;
    location.street_address2 = req.street_address2;
    location.postal_code = req.postal_code;
    location.city = req.city;
    location.country = req.country;
}

pub(super) fn create(w: &mut World, cx: &mut Ctx<'_>, b: &[u8]) -> Result<Reply, Reject> {
    let req: LocationRequest = body(b)?;
    let id = LocationId::from_random(cx.ids.bytes16());
    let mut location = Location {
        id: id.clone(),
        merchant_id: Some(cx.merchant.clone()),
        name: None,
        street_address: None,
        street_address2: None,
        postal_code: None,
        city: None,
        country: None,
        created_at: Some(cx.now()),
        updated_at: Some(cx.now()),
    };
    fill(&mut location, req);
    let seq = w.next_seq();
    w.locations.insert(id, LocationRec { seq, location: location.clone() });
    cx.changed = true;
    json_reply(201, &location)
}

/// Replaces every field of the location.
pub(super) fn update(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>, b: &[u8]) -> Result<Reply, Reject> {
    let id = path_id(p, "id", LocationId::parse)?;
    if !w.locations.contains_key(&id) {
        return Err(Reject::not_found("location", id.as_str()));
    }
    let req: LocationRequest = body(b)?;
    let now = cx.now();
    let rec = w.locations.get_mut(&id).ok_or_else(|| Reject::not_found("location", id.as_str()))?;
    fill(&mut rec.location, req);
    rec.location.updated_at = Some(now);
    cx.changed = true;
    json_reply(200, &rec.location)
}

/// Deletes a location no device uses (409 `location_in_use` otherwise).
pub(super) fn delete(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "id", LocationId::parse)?;
    if !w.locations.contains_key(&id) {
        return Err(Reject::not_found("location", id.as_str()));
    }
    let in_use = w.devices.values().filter(|d| d.device.location_id.as_ref() == Some(&id)).count();
    if in_use > 0 {
        return Err(Reject::conflict(
            "location_in_use",
            format!("{in_use} device(s) belong to location {id}; move or delete them first"),
        ));
    }
    w.locations.remove(&id);
    cx.changed = true;
    Ok(Reply::NoContent)
}
