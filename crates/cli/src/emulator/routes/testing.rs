//! Playground-only: `POST /ipp/v1/dev/devices` and
//! `POST /ipp/v1/dev/sessions/{sessionId}/simulate-tap` (404 with `--production`).

use kipp_core::api::devices::DevicePlatform;
use kipp_core::api::enrollments::EnrollmentStatus;
use kipp_core::api::sessions::SessionStatus;
use kipp_core::api::testing::{CreateSimulatedDeviceRequest, SimulateTap};
use kipp_core::event::EventType;
use kipp_core::ids::{HardwareId, OrderId, SessionId};
use kipp_core::validate::FieldError;

use super::devices::new_device;
use super::enrollments::new_enrollment;
use super::sessions::{open, refuse_terminal};
use super::{body, json_reply, known_location, path_id, Reply};
use crate::emulator::problem::Reject;
use crate::emulator::state::{Ctx, World};

/// Enrollment + registration in one step; metadata always gets `simulated=true`.
pub(super) fn create_device(w: &mut World, cx: &mut Ctx<'_>, b: &[u8]) -> Result<Reply, Reject> {
    let req: CreateSimulatedDeviceRequest = body(b)?;
    known_location(w, req.location_id.as_ref(), "location_id")?;
    let mut metadata = req.metadata.unwrap_or_default();
    metadata
        .insert("simulated", "true")
        .map_err(|e| Reject::validation(vec![FieldError::new("metadata", "invalid", e.0)]))?;
    let location = req.location_id.or_else(|| w.default_location());
    let enrollment =
        new_enrollment(w, cx, Some(metadata.clone()), location.clone(), 60_000, EnrollmentStatus::Consumed);
    let hardware = HardwareId::parse(&format!("SIM-{}", enrollment.enrollment_code))
        .map_err(|e| Reject::new(500, "internal", e.to_string()))?;
    let device = new_device(w, cx, Some(req.name), location, Some(metadata), DevicePlatform::Terminal, hardware);
    if let Some(rec) = w.devices.get_mut(&device.id) {
        rec.simulated = true;
    }
    json_reply(201, &device)
}

/// A card tap: CREATED → ACTIVE (activated event), then SUCCESS → FINALIZED with an
/// `order_id` (finalized event), or a decline → `ipp.payment.failed`, session stays ACTIVE.
pub(super) fn simulate_tap(
    w: &mut World,
    cx: &mut Ctx<'_>,
    p: Option<&str>,
    q: &[(String, String)],
) -> Result<Reply, Reject> {
    let id = path_id(p, "sessionId", SessionId::parse)?;
    let outcome = SimulateTap::outcome_from_query(q).map_err(|e| Reject::validation(vec![e]))?;
    let now = cx.now();
    let rec = open(w, cx, &id)?;
    refuse_terminal(rec)?;
    let mut events = Vec::new();
    if rec.session.status == SessionStatus::Created {
        rec.session.status = SessionStatus::Active;
        events.push((EventType::SessionActivated, None, None));
    }
    if outcome.is_success() {
        let order = OrderId::from_random(cx.ids.bytes16());
        rec.session.status = SessionStatus::Finalized;
        rec.session.order_id = Some(order.clone());
        rec.session.purchase_completed_at = Some(now);
        events.push((EventType::SessionFinalized, Some(order), None));
    } else {
        rec.failed_attempts = rec.failed_attempts.saturating_add(1);
        rec.failure_reason = outcome.failure_reason();
        events.push((EventType::PaymentFailed, None, outcome.failure_reason()));
    }
    let reply = json_reply(200, &rec.session);
    let device = rec.session.device_id.clone();
    if outcome.is_success() {
        w.open_by_device.remove(&device);
    }
    for (t, order, reason) in events {
        cx.emit(t, &id, order, reason);
    }
    cx.changed = true;
    reply
}
