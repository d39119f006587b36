//! `GET /ipp/v1/devices`, `GET|PUT|DELETE /ipp/v1/devices/{id}`, and
//! `POST /ipp/v1/devices/register` (what the POS app does with an enrollment code).

use kipp_core::api::devices::{Device, DeviceCredentials, ListDevices, RegisterDeviceRequest, UpdateDeviceRequest};
use kipp_core::api::enrollments::EnrollmentStatus;
use kipp_core::api::sessions::SessionStatus;
use kipp_core::api::Page;
use kipp_core::event::EventType;
use kipp_core::ids::DeviceId;
use kipp_core::validate::FieldError;

use super::{body, json_reply, known_location, path_id, query, Reply};
use crate::emulator::problem::Reject;
use crate::emulator::state::{Ctx, DeviceRec, World};

pub(super) fn list(w: &World, q: &[(String, String)]) -> Result<Reply, Reject> {
    let q = query(ListDevices::from_query(q))?;
    let mut recs: Vec<&DeviceRec> = w
        .devices
        .values()
        .filter(|r| {
            let d = &r.device;
            q.location_id.as_ref().is_none_or(|l| d.location_id.as_ref() == Some(l))
                && (q.metadata.is_empty() || d.metadata.as_ref().is_some_and(|m| m.matches(&q.metadata)))
        })
        .collect();
    recs.sort_by_key(|r| r.seq);
    let all: Vec<Device> = recs.into_iter().map(|r| r.device.clone()).collect();
    json_reply(200, &Page::slice(all, q.page))
}

pub(super) fn get(w: &World, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "id", DeviceId::parse)?;
    let rec = w.devices.get(&id).ok_or_else(|| Reject::not_found("device", id.as_str()))?;
    json_reply(200, &rec.device)
}

/// Consumes a PENDING code: the device gets the enrollment's metadata and location and,
/// once, its credentials.
pub(super) fn register(w: &mut World, cx: &mut Ctx<'_>, b: &[u8]) -> Result<Reply, Reject> {
    let req: RegisterDeviceRequest = body(b)?;
    // Codes match whatever their case: a UUID-shaped code is case-insensitive text, and a clerk
    // may type a short one in lower case. The code as the enrollment holds it is looked up.
    let typed = req.enrollment_code.as_str();
    let code = w
        .enrollments
        .values()
        .map(|r| r.enrollment.enrollment_code.as_str())
        .find(|c| c.eq_ignore_ascii_case(typed))
        .unwrap_or(typed)
        .to_owned();
    let code = code.as_str();
    if let Some(id) = w.pending_codes.get(code).cloned() {
        cx.changed |= w.refresh_enrollment(&id, cx.now_ms);
    }
    let Some(enrollment_id) = w.pending_codes.get(code).cloned() else {
        let status = w
            .enrollments
            .values()
            .find(|r| r.enrollment.enrollment_code.as_str() == code)
            .map(|r| r.enrollment.status.clone());
        return Err(match status {
            Some(EnrollmentStatus::Consumed) => {
                Reject::conflict("enrollment_consumed", "this enrollment code was already used by a device")
            }
            Some(EnrollmentStatus::Expired) => {
                Reject::conflict("enrollment_expired", "this enrollment code has expired")
            }
            _ => Reject::unprocessable(
                "unknown_enrollment_code",
                "enrollment_code",
                "no pending enrollment has this code",
            ),
        });
    };
    let Some(rec) = w.enrollments.get_mut(&enrollment_id) else {
        return Err(Reject::unprocessable(
            "unknown_enrollment_code",
            "enrollment_code",
            "no pending enrollment has this code",
        ));
    };
    rec.enrollment.status = EnrollmentStatus::Consumed;
    let metadata = rec.enrollment.metadata.clone();
    let location = rec.enrollment.location_id.clone();
    w.pending_codes.remove(code);
    let location = location.filter(|l| w.locations.contains_key(l));
    let mut device = new_device(w, cx, req.name, location, metadata, req.platform, req.hardware_id);
    let issued = cx.now();
    device.credentials = Some(DeviceCredentials {
        bearer_token: cx.ids.bearer_token(device.id.as_str(), cx.now_ms / 1000),
        issued_at: issued,
    });
    json_reply(201, &device)
}

/// Stores a new device (without credentials) and returns it.
pub(crate) fn new_device(
    w: &mut World,
    cx: &mut Ctx<'_>,
    name: Option<String>,
    location_id: Option<kipp_core::ids::LocationId>,
    metadata: Option<kipp_core::metadata::Metadata>,
    platform: kipp_core::api::devices::DevicePlatform,
    hardware_id: kipp_core::ids::HardwareId,
) -> Device {
    let device = Device {
        id: DeviceId::from_random(cx.ids.bytes16()),
        hardware_id: Some(hardware_id),
        merchant_id: Some(cx.merchant.clone()),
        location_id,
        name,
        platform: Some(platform),
        metadata,
        created_at: Some(cx.now()),
        open_cash_register_id: None,
        credentials: None,
        unique_id: None,
    };
    let seq = w.next_seq();
    w.devices.insert(device.id.clone(), DeviceRec { seq, device: device.clone(), simulated: false });
    cx.changed = true;
    device
}

/// Replaces name, metadata and location (fields left out are cleared, as observed).
pub(super) fn update(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>, b: &[u8]) -> Result<Reply, Reject> {
    let id = path_id(p, "id", DeviceId::parse)?;
    if !w.devices.contains_key(&id) {
        return Err(Reject::not_found("device", id.as_str()));
    }
    let req: UpdateDeviceRequest = body(b)?;
    known_location(w, req.location_id.as_ref(), "location_id")?;
    let rec = w.devices.get_mut(&id).ok_or_else(|| Reject::not_found("device", id.as_str()))?;
    let mut metadata = req.metadata;
    // State files written before `simulated` was stored: a device made by `/ipp/v1/dev/devices`
    // has a `SIM-` hardware id and the mark.
    let simulated = rec.simulated
        || (rec.device.hardware_id.as_ref().is_some_and(|h| h.as_str().starts_with("SIM-"))
            && rec.device.metadata.as_ref().is_some_and(|m| m.get("simulated") == Some("true")));
    if simulated {
        rec.simulated = true;
        // A simulated device stays marked as one (API.md §3.5), whatever metadata replaces its own.
        metadata
            .get_or_insert_with(Default::default)
            .insert("simulated", "true")
            .map_err(|e| Reject::validation(vec![FieldError::new("metadata", "invalid", e.0)]))?;
    }
    rec.device.name = req.name;
    rec.device.metadata = metadata;
    rec.device.location_id = req.location_id;
    cx.changed = true;
    json_reply(200, &rec.device)
}

/// Deletes a device; its open session, if any, is cancelled first (with its webhook).
pub(super) fn delete(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "id", DeviceId::parse)?;
    if w.devices.remove(&id).is_none() {
        return Err(Reject::not_found("device", id.as_str()));
    }
    if let Some(sid) = w.open_by_device.get(&id).cloned() {
        cx.changed |= w.refresh_session(&sid, cx.now_ms);
    }
    if let Some(sid) = w.open_by_device.remove(&id) {
        if let Some(rec) = w.sessions.get_mut(&sid) {
            if !rec.session.status.is_terminal() {
                rec.session.status = SessionStatus::Cancelled;
                cx.emit(EventType::SessionCancelled, &sid, None, None);
            }
        }
    }
    cx.changed = true;
    Ok(Reply::NoContent)
}
