//! `GET|POST /ipp/v1/enrollments`, `DELETE /ipp/v1/enrollments/{enrollment_id}`.

use kipp_core::api::enrollments::{
    CreateEnrollmentRequest, Enrollment, EnrollmentStatus, ListEnrollments, DEFAULT_EXPIRES_IN_MS,
};
use kipp_core::api::Page;
use kipp_core::ids::{EnrollmentCode, EnrollmentId, LocationId};
use kipp_core::metadata::Metadata;
use kipp_core::time::Timestamp;

use super::{body, json_reply, known_location, path_id, query, Reply};
use crate::emulator::problem::Reject;
use crate::emulator::state::{Ctx, EnrollmentRec, World};

/// Lists enrollments: never CANCELLED ones; CONSUMED only with `include_consumed`.
pub(super) fn list(w: &mut World, cx: &mut Ctx<'_>, q: &[(String, String)]) -> Result<Reply, Reject> {
    let q = query(ListEnrollments::from_query(q))?;
    let ids: Vec<EnrollmentId> = w.enrollments.keys().cloned().collect();
    for id in &ids {
        cx.changed |= w.refresh_enrollment(id, cx.now_ms);
    }
    let mut recs: Vec<&EnrollmentRec> = w
        .enrollments
        .values()
        .filter(|r| {
            let e = &r.enrollment;
            e.status != EnrollmentStatus::Cancelled
                && (q.include_consumed || e.status != EnrollmentStatus::Consumed)
                && q.location_id.as_ref().is_none_or(|l| e.location_id.as_ref() == Some(l))
                && (q.metadata.is_empty() || e.metadata.as_ref().is_some_and(|m| m.matches(&q.metadata)))
        })
        .collect();
    recs.sort_by_key(|r| r.seq);
    let all: Vec<Enrollment> = recs.into_iter().map(|r| r.enrollment.clone()).collect();
    json_reply(200, &Page::slice(all, q.page))
}

/// Creates a PENDING enrollment with a fresh code.
pub(super) fn create(w: &mut World, cx: &mut Ctx<'_>, b: &[u8]) -> Result<Reply, Reject> {
    let req: CreateEnrollmentRequest = body(b)?;
    known_location(w, req.location_id.as_ref(), "location_id")?;
    let location = req.location_id.clone().or_else(|| w.default_location());
    let lifetime = req.lifetime_ms();
    let enrollment = new_enrollment(w, cx, req.metadata, location, lifetime, EnrollmentStatus::Pending);
    json_reply(201, &enrollment)
}

/// Creates and stores an enrollment (also used by simulated devices, already CONSUMED).
pub(crate) fn new_enrollment(
    w: &mut World,
    cx: &mut Ctx<'_>,
    metadata: Option<Metadata>,
    location_id: Option<LocationId>,
    lifetime_ms: u64,
    status: EnrollmentStatus,
) -> Enrollment {
    let long = lifetime_ms > DEFAULT_EXPIRES_IN_MS;
    let code: EnrollmentCode = loop {
        let c = cx.ids.enrollment_code(long);
        if !w.pending_codes.contains_key(c.as_str()) {
            break c;
        }
    };
    let expires_ms = cx.now_ms.saturating_add(i64::try_from(lifetime_ms).unwrap_or(i64::MAX));
    let id = EnrollmentId::from_random(cx.ids.bytes16());
    let enrollment = Enrollment {
        enrollment_id: id.clone(),
        enrollment_code: code.clone(),
        expires_at: Timestamp::from_unix_millis(expires_ms),
        status: status.clone(),
        metadata,
        location_id,
    };
    let seq = w.next_seq();
    if status == EnrollmentStatus::Pending {
        w.pending_codes.insert(code.as_str().to_owned(), id.clone());
    }
    w.enrollments.insert(id, EnrollmentRec { seq, enrollment: enrollment.clone(), expires_ms });
    cx.changed = true;
    enrollment
}

/// Soft-deletes: the enrollment becomes CANCELLED and disappears from lists.
pub(super) fn delete(w: &mut World, cx: &mut Ctx<'_>, p: Option<&str>) -> Result<Reply, Reject> {
    let id = path_id(p, "enrollment_id", EnrollmentId::parse)?;
    let rec = w
        .enrollments
        .get_mut(&id)
        .filter(|r| r.enrollment.status != EnrollmentStatus::Cancelled)
        .ok_or_else(|| Reject::not_found("enrollment", id.as_str()))?;
    rec.enrollment.status = EnrollmentStatus::Cancelled;
    w.pending_codes.remove(rec.enrollment.enrollment_code.as_str());
    cx.changed = true;
    Ok(Reply::NoContent)
}
