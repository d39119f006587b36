//! `POST /ipp/v1/sessions`, `GET /ipp/v1/sessions/{session_id}`,
//! `PUT /ipp/v1/sessions/{session_id}/cancel`.

use kipp_core::api::sessions::{CreateSessionRequest, Session, SessionStatus};
use kipp_core::event::EventType;
use kipp_core::ids::{LocationId, SessionId};

use super::{body, json_reply, known_location, path_id, Reply};
use crate::emulator::problem::Reject;
use crate::emulator::state::{Ctx, SessionRec, World};

/// Creates a CREATED session on a device that has no open session.
pub(super) fn create(w: &mut World, cx: &mut Ctx<'_>, q: &[(String, String)], b: &[u8]) -> Result<Reply, Reject> {
    let location = match q.iter().rev().find(|(k, _)| k == "location_id") {
        Some((_, v)) => Some(LocationId::parse(v).map_err(|e| Reject::field("location_id", "invalid", e.reason))?),
        None => None,
    };
    let req: CreateSessionRequest = body(b)?;
    let Some(device) = w.devices.get(&req.device_id) else {
        return Err(Reject::unprocessable(
            "unknown_device",
            "device_id",
            format!("device {} does not exist (create one with POST /ipp/v1/dev/devices)", req.device_id),
        ));
    };
    known_location(w, location.as_ref(), "location_id")?;
    if let Some(l) = &location {
        if device.device.location_id.as_ref() != Some(l) {
            return Err(Reject::unprocessable(
                "device_location_mismatch",
                "location_id",
                format!("device {} does not belong to location {l}", req.device_id),
            ));
        }
    }
    if let Some(open) = w.open_by_device.get(&req.device_id).cloned() {
        cx.changed |= w.refresh_session(&open, cx.now_ms);
        if w.open_by_device.contains_key(&req.device_id) {
            return Err(Reject::conflict(
                "device_busy",
                format!("device {} already has an open session {open}; cancel it or wait until it ends", req.device_id),
            ));
        }
    }
    let id = SessionId::from_random(cx.ids.bytes16());
    let session = Session {
        session_id: id.clone(),
        status: SessionStatus::Created,
        device_id: req.device_id.clone(),
        order_id: None,
        order_amount: Some(req.order_amount),
        purchase_currency: Some(req.purchase_currency),
        // Stored and answered in UTC, as every timestamp the API returns (any RFC 3339 form in).
        purchase_started_at: Some(req.purchase_started_at.map_or_else(|| cx.now(), |t| t.to_utc())),
        purchase_completed_at: None,
        order_tax_amount: Some(req.order_tax_amount),
        order_items: Some(req.order_items),
        merchant_reference1: req.merchant_reference1,
        merchant_reference2: req.merchant_reference2,
        merchant_data: req.merchant_data,
    };
    let expires_ms = cx.now_ms.saturating_add(cx.session_ttl_ms);
    w.open_by_device.insert(req.device_id, id.clone());
    let reply = json_reply(200, &session);
    w.sessions
        .insert(id.clone(), Box::new(SessionRec { session, expires_ms, failed_attempts: 0, failure_reason: None }));
    cx.emit(EventType::SessionCreated, &id, None, None);
    cx.changed = true;
    reply
}

/// Looks a session up after applying expiry.
pub(crate) fn open<'w>(w: &'w mut World, cx: &mut Ctx<'_>, id: &SessionId) -> Result<&'w mut SessionRec, Reject> {
    cx.changed |= w.refresh_session(id, cx.now_ms);
    w.sessions.get_mut(id).map(|b| &mut **b).ok_or_else(|| Reject::not_found("session", id.as_str()))
}

pub(super) fn get(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "session_id", SessionId::parse)?;
    let rec = open(w, cx, &id)?;
    json_reply(200, &rec.session)
}

/// A terminal session answers 409 `session_terminal`.
pub(crate) fn refuse_terminal(rec: &SessionRec) -> Result<(), Reject> {
    if rec.session.status.is_terminal() {
        return Err(Reject::conflict(
            "session_terminal",
            format!("session {} is {} and cannot change any more", rec.session.session_id, rec.session.status),
        ));
    }
    Ok(())
}

/// Cancels an open session.
pub(super) fn cancel(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "session_id", SessionId::parse)?;
    let rec = open(w, cx, &id)?;
    refuse_terminal(rec)?;
    rec.session.status = SessionStatus::Cancelled;
    let device = rec.session.device_id.clone();
    let reply = json_reply(200, &rec.session);
    w.open_by_device.remove(&device);
    cx.emit(EventType::SessionCancelled, &id, None, None);
    cx.changed = true;
    reply
}
