//! The emulator's data: every location, enrollment, device and session of the one
//! merchant, held in memory behind one mutex (operations take microseconds, so one lock is
//! simpler than sharding and makes every operation atomic: no lost updates). The same
//! struct is the state file's content; the indexes are rebuilt after loading.

use std::collections::HashMap;

use kipp_core::api::devices::Device;
use kipp_core::api::enrollments::{Enrollment, EnrollmentStatus};
use kipp_core::api::locations::Location;
use kipp_core::api::sessions::{Session, SessionStatus};
use kipp_core::event::{EventType, IppEvent, IppEventData, WebhookEvent};
use kipp_core::ids::{DeviceId, EnrollmentId, LocationId, MerchantId, OrderId, SessionId};
use kipp_core::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::ids::Ids;

/// Id of the location every fresh emulator has (fixed, so tokens and `.dev.vars` that
/// name it survive restarts and resets).
pub const DEFAULT_LOCATION_ID: &str = "00000000-0000-4000-8000-000000000001";

/// A location and its creation order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocationRec {
    /// Creation order (lists are sorted by it).
    pub seq: u64,
    /// The location.
    pub location: Location,
}

/// An enrollment, its creation order and its deadline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentRec {
    /// Creation order.
    pub seq: u64,
    /// The enrollment as returned.
    pub enrollment: Enrollment,
    /// `expires_at` in Unix milliseconds.
    pub expires_ms: i64,
}

/// A device (stored without its one-time credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRec {
    /// Creation order.
    pub seq: u64,
    /// The device.
    pub device: Device,
    /// Created by `POST /ipp/v1/dev/devices`: its metadata always holds `simulated=true`, an
    /// update included (API.md §3.5).
    #[serde(default)]
    pub simulated: bool,
}

/// A session with what the emulator tracks beyond Kustom's fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRec {
    /// The session as returned.
    pub session: Session,
    /// Deadline (creation + session lifetime) in Unix milliseconds.
    pub expires_ms: i64,
    /// Declined taps so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
    /// `failure_reason` of the latest declined tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// All state of one emulator.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct World {
    /// Last creation sequence number handed out.
    pub seq: u64,
    /// Locations by id.
    pub locations: HashMap<LocationId, LocationRec>,
    /// Enrollments by id (CANCELLED ones are kept but never listed).
    pub enrollments: HashMap<EnrollmentId, EnrollmentRec>,
    /// Devices by id.
    pub devices: HashMap<DeviceId, DeviceRec>,
    /// Sessions by id (boxed: the table stays small and grows cheaply at 100k sessions).
    pub sessions: HashMap<SessionId, Box<SessionRec>>,
    /// PENDING enrollment codes → enrollment (rebuilt on load).
    #[serde(skip)]
    pub pending_codes: HashMap<String, EnrollmentId>,
    /// Device → its open (CREATED/ACTIVE) session (rebuilt on load).
    #[serde(skip)]
    pub open_by_device: HashMap<DeviceId, SessionId>,
}

/// What one operation needs besides the world: the time, randomness, the merchant, and
/// where to put the webhook events it emits.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Emulated now, Unix nanoseconds.
    pub now_nanos: i128,
    /// Emulated now, Unix milliseconds.
    pub now_ms: i64,
    /// Random source.
    pub ids: &'a Ids,
    /// The merchant.
    pub merchant: &'a MerchantId,
    /// Session lifetime in milliseconds.
    pub session_ttl_ms: i64,
    /// Events emitted, in order.
    pub events: Vec<IppEvent>,
    /// True once the operation changed something worth persisting.
    pub changed: bool,
}

impl<'a> Ctx<'a> {
    /// A context at `now_nanos`.
    #[must_use]
    pub fn new(now_nanos: i128, ids: &'a Ids, merchant: &'a MerchantId, session_ttl_ms: i64) -> Self {
        let now_ms = i64::try_from(now_nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX);
        Self { now_nanos, now_ms, ids, merchant, session_ttl_ms, events: Vec::new(), changed: false }
    }

    /// Now as a resource timestamp (millisecond precision).
    #[must_use]
    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.now_ms)
    }

    /// Emits an IPP event (nanosecond timestamp; events of one operation are 1 ns apart so
    /// their timestamps keep their order).
    pub fn emit(
        &mut self,
        event_type: EventType,
        session_id: &SessionId,
        order_id: Option<OrderId>,
        failure_reason: Option<String>,
    ) {
        let nanos = self.now_nanos + i128::try_from(self.events.len()).unwrap_or(0);
        self.events.push(WebhookEvent {
            id: self.ids.event_id(),
            merchant_id: self.merchant.clone(),
            timestamp: Timestamp::from_unix_nanos(nanos),
            event_type,
            data: IppEventData { session_id: session_id.clone(), order_id, failure_reason },
        });
    }
}

impl World {
    /// A fresh world holding only the seeded default location.
    #[must_use]
    pub fn seeded(merchant: &MerchantId, now: &Timestamp) -> Self {
        let mut w = Self::default();
        let id = LocationId::parse(DEFAULT_LOCATION_ID).unwrap_or_else(|_| unreachable!("valid constant"));
        let location = Location {
            id: id.clone(),
            merchant_id: Some(merchant.clone()),
            name: Some("Default location".to_owned()),
            street_address: Some("Drottninggatan 1".to_owned()),
            street_address2: None,
            postal_code: Some("111 51".to_owned()),
            city: Some("Stockholm".to_owned()),
            country: Some("SE".to_owned()),
            created_at: Some(now.clone()),
            updated_at: Some(now.clone()),
        };
        let seq = w.next_seq();
        w.locations.insert(id, LocationRec { seq, location });
        w
    }

    /// The next creation sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Rebuilds the indexes after loading from a state file.
    pub fn reindex(&mut self) {
        self.pending_codes = self
            .enrollments
            .iter()
            .filter(|(_, r)| r.enrollment.status == EnrollmentStatus::Pending)
            .map(|(id, r)| (r.enrollment.enrollment_code.as_str().to_owned(), id.clone()))
            .collect();
        self.open_by_device = self
            .sessions
            .iter()
            .filter(|(_, r)| !r.session.status.is_terminal())
            .map(|(id, r)| (r.session.device_id.clone(), id.clone()))
            .collect();
    }

    /// The location used when a request names none: the oldest one, if any.
    #[must_use]
    pub fn default_location(&self) -> Option<LocationId> {
        self.locations.values().min_by_key(|r| r.seq).map(|r| r.location.id.clone())
    }

    /// Expires the session if its lifetime is over. Returns true if it changed.
    pub fn refresh_session(&mut self, id: &SessionId, now_ms: i64) -> bool {
        let Some(rec) = self.sessions.get_mut(id) else { return false };
        if rec.session.status.is_terminal() || now_ms < rec.expires_ms {
            return false;
        }
        rec.session.status = SessionStatus::Expired;
        let device = rec.session.device_id.clone();
        if self.open_by_device.get(&device) == Some(id) {
            self.open_by_device.remove(&device);
        }
        true
    }

    /// Expires the enrollment if its code is past `expires_at`. Returns true if it changed.
    pub fn refresh_enrollment(&mut self, id: &EnrollmentId, now_ms: i64) -> bool {
        let Some(rec) = self.enrollments.get_mut(id) else { return false };
        if rec.enrollment.status != EnrollmentStatus::Pending || now_ms < rec.expires_ms {
            return false;
        }
        rec.enrollment.status = EnrollmentStatus::Expired;
        self.pending_codes.remove(rec.enrollment.enrollment_code.as_str());
        true
    }

    /// Expires every open session and pending enrollment whose time is up. Returns how
    /// many changed.
    pub fn sweep(&mut self, now_ms: i64) -> usize {
        let sessions: Vec<SessionId> = self.open_by_device.values().cloned().collect();
        let enrollments: Vec<EnrollmentId> = self.pending_codes.values().cloned().collect();
        sessions.iter().filter(|id| self.refresh_session(id, now_ms)).count()
            + enrollments.iter().filter(|id| self.refresh_enrollment(id, now_ms)).count()
    }
}
