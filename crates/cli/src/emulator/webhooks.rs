//! Webhook delivery: every event is signed with each configured secret
//! (`kipp_core::webhook::sign`, Standard Webhooks headers) and POSTed to every destination
//! in background tasks. Non-2xx answers and timeouts are retried on the configured
//! schedule with jitter (at-least-once); each (event, destination, copy) has an entry in
//! the delivery log. Events of one session reach one destination in order: one worker
//! task per (session, destination) drains that queue, so a retried event holds back the
//! session's later events. `POST /_emulator/webhooks` can pause delivery, send duplicates
//! and reverse the order of a session's pending events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Uri};
use kipp_core::event::IppEvent;
use kipp_core::ids::SessionId;
use kipp_core::time::Timestamp;
use kipp_core::webhook::{sign, WebhookSecrets};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

use super::clock::{real_now_nanos, Clock};
use super::config::Config;
use crate::http_client::HttpClient;

/// Delivery behaviour set by `POST /_emulator/webhooks` (absent fields stay as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Copies sent of every event (1 = normal, 2 = each event twice, same `webhook-id`).
    pub duplicate: u32,
    /// Send each session's pending events newest first.
    pub reorder: bool,
    /// Hold every delivery until unpaused.
    pub paused: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self { duplicate: 1, reorder: false, paused: false }
    }
}

/// A partial update of [`Behaviour`].
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourPatch {
    /// New `duplicate` (1–10).
    pub duplicate: Option<u32>,
    /// New `reorder`.
    pub reorder: Option<bool>,
    /// New `paused`.
    pub paused: Option<bool>,
}

/// One entry of the delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// Log sequence number.
    pub id: u64,
    /// The event (and `webhook-id`).
    pub event_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The session.
    pub session_id: String,
    /// Destination URL.
    pub destination: String,
    /// Which copy (1-based; >1 only with `duplicate`).
    pub copy: u32,
    /// Attempts made so far.
    pub attempts: u32,
    /// Status of the latest attempt, if it got an answer.
    pub last_status: Option<u16>,
    /// Error of the latest attempt (`timeout`, connection refused, …).
    pub last_error: Option<String>,
    /// A 2xx was received.
    pub delivered: bool,
    /// Every attempt failed; no more retries.
    pub gave_up: bool,
    /// When the event was queued (emulator clock).
    pub created_at: String,
    /// When the 2xx was received (emulator clock).
    pub delivered_at: Option<String>,
}

#[derive(Debug)]
struct Job {
    log_id: u64,
    event_id: String,
    body: Bytes,
    destination: usize,
}

type QueueKey = (SessionId, usize);

#[derive(Debug, Default)]
struct Queues {
    queues: HashMap<QueueKey, VecDeque<Job>>,
    log: VecDeque<DeliveryRecord>,
    next_log_id: u64,
    behaviour: Behaviour,
    generation: u64,
}

impl Queues {
    fn entry(&mut self, id: u64) -> Option<&mut DeliveryRecord> {
        let first = self.log.front()?.id;
        let i = usize::try_from(id.checked_sub(first)?).ok()?;
        self.log.get_mut(i)
    }
}

#[derive(Debug)]
struct Inner {
    clock: Arc<Clock>,
    urls: Vec<Uri>,
    secrets: WebhookSecrets,
    retry: Vec<Duration>,
    timeout: Duration,
    jitter: f64,
    log_limit: usize,
    client: HttpClient,
    state: Mutex<Queues>,
    paused: watch::Sender<bool>,
    /// Bounds the attempts in flight (so thousands of queued sessions reuse a few
    /// keep-alive connections instead of opening one each).
    in_flight: Semaphore,
}

/// Most delivery attempts in flight at once, across destinations.
pub const MAX_IN_FLIGHT: usize = 64;

/// The webhook sender. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

fn real_now_secs() -> i64 {
    i64::try_from(real_now_nanos().div_euclid(1_000_000_000)).unwrap_or(0)
}

impl Dispatcher {
    /// A dispatcher for the configured destinations and secrets.
    #[must_use]
    pub fn new(config: &Config, clock: Arc<Clock>) -> Self {
        let (paused, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                clock,
                urls: config.webhook_urls.clone(),
                secrets: config.webhook_secrets.clone(),
                retry: config.webhook_retry.clone(),
                timeout: config.webhook_timeout,
                jitter: config.webhook_jitter.clamp(0.0, 1.0),
                log_limit: config.delivery_log_limit.max(1),
                client: HttpClient::new(),
                state: Mutex::new(Queues::default()),
                paused,
                in_flight: Semaphore::new(MAX_IN_FLIGHT),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues events for delivery (call it while holding the world lock, so the queue
    /// order is the order in which the events happened). Must run inside a Tokio runtime.
    pub fn enqueue(&self, events: &[IppEvent], now: &Timestamp) {
        if self.inner.urls.is_empty() || events.is_empty() {
            return;
        }
        let mut q = self.lock();
        let copies = q.behaviour.duplicate.max(1);
        let generation = q.generation;
        for event in events {
            let Ok(body) = serde_json::to_vec(event) else { continue };
            let body = Bytes::from(body);
            for (destination, url) in self.inner.urls.iter().enumerate() {
                for copy in 1..=copies {
                    let log_id = q.next_log_id;
                    q.next_log_id += 1;
                    q.log.push_back(DeliveryRecord {
                        id: log_id,
                        event_id: event.id.to_string(),
                        event_type: event.event_type.to_string(),
                        session_id: event.data.session_id.to_string(),
                        destination: url.to_string(),
                        copy,
                        attempts: 0,
                        last_status: None,
                        last_error: None,
                        delivered: false,
                        gave_up: false,
                        created_at: now.to_string(),
                        delivered_at: None,
                    });
                    while q.log.len() > self.inner.log_limit {
                        q.log.pop_front();
                    }
                    let key = (event.data.session_id.clone(), destination);
                    let job = Job { log_id, event_id: event.id.to_string(), body: body.clone(), destination };
                    let queue = q.queues.entry(key.clone()).or_default();
                    queue.push_back(job);
                    if queue.len() == 1 {
                        tokio::spawn(worker(self.clone(), key, generation));
                    }
                }
            }
        }
    }

    /// The delivery log, oldest first, optionally filtered.
    #[must_use]
    pub fn log(&self, session_id: Option<&str>, event_type: Option<&str>) -> Vec<DeliveryRecord> {
        self.lock()
            .log
            .iter()
            // Session ids are UUIDs: one id whatever its case.
            .filter(|r| {
                session_id.is_none_or(|s| r.session_id.eq_ignore_ascii_case(s))
                    && event_type.is_none_or(|t| r.event_type == t)
            })
            .cloned()
            .collect()
    }

    /// Entries neither delivered nor given up.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.lock().log.iter().filter(|r| !r.delivered && !r.gave_up).count()
    }

    /// Current behaviour.
    #[must_use]
    pub fn behaviour(&self) -> Behaviour {
        self.lock().behaviour
    }

    /// Applies a behaviour patch and returns the result.
    pub fn set_behaviour(&self, patch: BehaviourPatch) -> Behaviour {
        let b = {
            let mut q = self.lock();
            if let Some(d) = patch.duplicate {
                q.behaviour.duplicate = d.clamp(1, 10);
            }
            if let Some(r) = patch.reorder {
                q.behaviour.reorder = r;
            }
            if let Some(p) = patch.paused {
                q.behaviour.paused = p;
            }
            // Under the queue's lock, so that two patches at once leave the flag workers wait
            // on as the stored behaviour says.
            self.inner.paused.send_replace(q.behaviour.paused);
            q.behaviour
        };
        b
    }

    /// Forgets every queued delivery and the log; in-flight workers stop at their next step.
    pub fn reset(&self) {
        {
            let mut q = self.lock();
            q.generation += 1;
            q.queues.clear();
            q.log.clear();
            q.behaviour = Behaviour::default();
            self.inner.paused.send_replace(false);
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.lock().generation == generation
    }

    fn record(&self, job: &Job, f: impl FnOnce(&mut DeliveryRecord)) {
        if let Some(e) = self.lock().entry(job.log_id) {
            f(e);
        }
    }

    async fn wait_unpaused(&self) {
        let mut rx = self.inner.paused.subscribe();
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Delivers one job with retries. Returns when delivered, given up or reset.
    async fn deliver(&self, job: &Job, generation: u64) {
        let Some(url) = self.inner.urls.get(job.destination) else { return };
        let attempts = self.inner.retry.len() + 1;
        for attempt in 0..attempts {
            // A send slot first (the wait can be long with many deliveries queued), then the
            // checks and the signature: a delivery is not sent after a pause or reset that came
            // while it waited, and its timestamp is the time it is sent.
            let permit = loop {
                self.wait_unpaused().await;
                let permit = self.inner.in_flight.acquire().await;
                if !*self.inner.paused.borrow() {
                    break permit;
                }
            };
            if !self.current(generation) {
                return;
            }
            let outcome = match sign(&self.inner.secrets, &job.event_id, real_now_secs(), &job.body) {
                Ok(signed) => {
                    let mut headers: Vec<(&str, &str)> =
                        vec![("content-type", "application/json"), ("user-agent", "kipp-emulator")];
                    headers.extend(signed.pairs());
                    self.inner
                        .client
                        .send(Method::POST, url, &headers, Some(job.body.clone()), self.inner.timeout)
                        .await
                        .map(|r| r.status.as_u16())
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("signing failed: {e}")),
            };
            let ok = matches!(outcome, Ok(s) if (200..300).contains(&s));
            let last = attempt + 1 == attempts;
            // The emulator's clock, as `created_at` (the signature's timestamp stays real time:
            // receivers check it against their own clock).
            let delivered_at = ok.then(|| self.inner.clock.now_timestamp().to_string());
            self.record(job, |e| {
                e.attempts += 1;
                match &outcome {
                    Ok(s) => {
                        e.last_status = Some(*s);
                        e.last_error = None;
                    }
                    Err(err) => e.last_error = Some(err.clone()),
                }
                e.delivered = ok;
                e.delivered_at.clone_from(&delivered_at);
                e.gave_up = !ok && last;
            });
            if ok || last {
                return;
            }
            // The slot is for sending: a delivery waiting to retry (up to a minute and more) does
            // not hold one, or 64 failing deliveries would stall every other session's.
            drop(permit);
            let base = self.inner.retry.get(attempt).copied().unwrap_or_default();
            let factor = 1.0 + self.inner.jitter * (rand::thread_rng().gen::<f64>() * 2.0 - 1.0);
            tokio::time::sleep(base.mul_f64(factor.max(0.0))).await;
        }
    }
}

/// Drains one (session, destination) queue, one job at a time.
async fn worker(d: Dispatcher, key: QueueKey, generation: u64) {
    loop {
        d.wait_unpaused().await;
        let job = {
            let mut q = d.lock();
            if q.generation != generation {
                return;
            }
            let reorder = q.behaviour.reorder;
            let Some(queue) = q.queues.get_mut(&key) else { return };
            // The job being delivered stays at the front until done, so `enqueue` knows a
            // worker is running: take it by peeking, pop after delivery.
            let job = if reorder { queue.back() } else { queue.front() };
            match job {
                Some(j) => Job {
                    log_id: j.log_id,
                    event_id: j.event_id.clone(),
                    body: j.body.clone(),
                    destination: j.destination,
                },
                None => {
                    q.queues.remove(&key);
                    return;
                }
            }
        };
        d.deliver(&job, generation).await;
        let mut q = d.lock();
        if q.generation != generation {
            return;
        }
        if let Some(queue) = q.queues.get_mut(&key) {
            queue.retain(|j| j.log_id != job.log_id);
            if queue.is_empty() {
                q.queues.remove(&key);
                return;
            }
        }
    }
}
