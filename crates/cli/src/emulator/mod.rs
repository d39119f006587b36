//! `kipp emulator`: a local, stateful emulator of the Kustom In-Person Payments API.
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | flags, environment, `.dev.vars`, dev defaults, the start-up summary |
//! | [`server`] | the HTTP server: request ids, auth, `x-merchant-id`, limits, routing, problem details |
//! | [`routes`] | one function per Kustom operation, on top of kipp-core's types and rules |
//! | [`state`] | the in-memory world (locations, enrollments, devices, sessions) and expiry |
//! | [`controls`] | the test controls under `/_emulator/` |
//! | [`webhooks`] | signed webhook delivery with retries, ordering and the delivery log |
//! | [`faults`] | fault injection on `/ipp/v1` routes |
//! | [`clock`] | real time plus an offset that tests advance |
//! | [`ids`] | randomness: ids, codes, credentials (seedable) |
//! | [`persist`] | the optional JSON state file |
//! | [`problem`] | refusals as RFC 7807 problem details |

pub mod clock;
pub mod config;
pub mod controls;
pub mod faults;
pub mod ids;
pub mod persist;
pub mod problem;
pub mod routes;
pub mod server;
pub mod state;
pub mod webhooks;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, EmulatorArgs};

use self::clock::Clock;
use self::faults::Faults;
use self::ids::Ids;
use self::persist::Persister;
use self::state::{Ctx, World};
use self::webhooks::Dispatcher;
use crate::Error;

/// One emulator's shared state.
#[derive(Debug)]
pub struct Emulator {
    /// Configuration.
    pub config: Config,
    /// The emulated clock (shared with the webhook sender, which stamps deliveries with it).
    pub clock: Arc<Clock>,
    /// Randomness.
    pub ids: Ids,
    world: Mutex<World>,
    /// Fault rules.
    pub faults: Faults,
    /// Webhook sender.
    pub webhooks: Dispatcher,
    persist: Option<Persister>,
    /// How many times the state was reset (a request delayed by a fault across a reset is not run).
    resets: AtomicU64,
}

impl Emulator {
    /// Builds an emulator, loading the state file if one is configured and exists.
    pub fn new(config: Config) -> Result<Self, Error> {
        let snapshot = config.state_file.as_deref().map(persist::load).transpose()?.flatten();
        // A seeded run restored from a state file must not draw the ids of the run that wrote it
        // (they are in the file: a new location or session would replace a kept one). The seed
        // and the file's contents together give a sequence that is still reproducible.
        let ids = Ids::new(config.seed.map(|seed| snapshot.as_ref().map_or(seed, |snap| seed ^ snap.fingerprint)));
        let (world, offset) = match snapshot {
            Some(snap) => (snap.world, snap.clock_offset_ms),
            None => {
                let clock = Clock::default();
                (World::seeded(&config.merchant_id, &clock.now_timestamp()), 0)
            }
        };
        let clock = Arc::new(Clock::with_offset(offset));
        Ok(Self {
            webhooks: Dispatcher::new(&config, clock.clone()),
            persist: config.state_file.clone().map(Persister::new),
            clock,
            ids,
            world: Mutex::new(world),
            faults: Faults::default(),
            config,
            resets: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` atomically on the world. Events it emits are queued for delivery before
    /// the lock is released (so they keep their order) and a change schedules a state write.
    pub fn transact<T>(&self, f: impl FnOnce(&mut World, &mut Ctx<'_>) -> T) -> T {
        let ttl_ms = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let mut world = self.lock();
        let mut cx = Ctx::new(self.clock.now_nanos(), &self.ids, &self.config.merchant_id, ttl_ms);
        let out = f(&mut world, &mut cx);
        if !cx.events.is_empty() {
            self.webhooks.enqueue(&cx.events, &cx.now());
        }
        drop(world);
        if cx.changed {
            self.mark_dirty();
        }
        out
    }

    fn mark_dirty(&self) {
        if let Some(p) = &self.persist {
            p.mark_dirty();
        }
    }

    /// Expires every session and enrollment whose time is up.
    pub fn sweep(&self) -> usize {
        self.transact(|w, cx| {
            let n = w.sweep(cx.now_ms);
            cx.changed |= n > 0;
            n
        })
    }

    /// Drops all state except the seeded default location, and resets the clock, the
    /// faults and webhook behaviour (queued deliveries and the log are forgotten).
    pub fn reset(&self) {
        // Under the world lock, which a request holds while it changes the state and queues its
        // webhooks (`transact`): no request's events land in the new queue for a session of the
        // old state.
        let mut world = self.lock();
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.clock.reset();
        self.faults.clear();
        self.webhooks.reset();
        *world = World::seeded(&self.config.merchant_id, &self.clock.now_timestamp());
        drop(world);
        self.mark_dirty();
    }

    /// How many times the state was reset so far.
    #[must_use]
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
    }

    /// Writes the state file now if anything changed since the last write. A write that fails
    /// leaves the state marked unwritten, so the next flush (the shutdown's at the latest) tries
    /// again.
    pub fn flush(&self) -> Result<(), Error> {
        let Some(p) = &self.persist else { return Ok(()) };
        let _writing = p.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !p.take_dirty() {
            return Ok(());
        }
        // The world is locked while it is encoded only, not while the file is written: a slow
        // disk must not hold up every request.
        let encoded = persist::encode(&self.lock(), self.clock.offset_ms());
        let written = encoded
            .map_err(|source| Error::StateFile { path: p.path.clone(), source })
            .and_then(|bytes| persist::write_atomic(&p.path, &bytes));
        if written.is_err() {
            p.still_dirty();
        }
        written
    }

    /// Moves the emulated clock forward by `ms` (and records it for the state file).
    pub fn advance_clock(&self, ms: i64) {
        self.clock.advance_ms(ms);
        self.mark_dirty();
    }
}

/// A running emulator.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    emulator: Arc<Emulator>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds the listener and starts serving, sweeping and persisting in the current Tokio
/// runtime.
pub async fn start(config: Config) -> Result<Running, Error> {
    let listener =
        TcpListener::bind(config.listen).await.map_err(|e| Error::io(format!("binding {}", config.listen), e))?;
    let addr = listener.local_addr().map_err(|e| Error::io("reading the bound address", e))?;
    let emulator = Arc::new(Emulator::new(config)?);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(server::accept_loop(listener, emulator.clone(), stop_rx))];
    let sweeper = emulator.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweeper.config.sweep_interval);
        loop {
            tick.tick().await;
            sweeper.sweep();
        }
    }));
    if emulator.persist.is_some() {
        let writer = emulator.clone();
        tasks.push(tokio::spawn(async move {
            let Some(p) = writer.persist.as_ref() else { return };
            loop {
                p.notify.notified().await;
                tokio::time::sleep(writer.config.persist_debounce).await;
                let w = writer.clone();
                let result = tokio::task::spawn_blocking(move || w.flush()).await;
                if let Ok(Err(e)) = result {
                    eprintln!("kipp emulator: could not write the state file: {e}");
                }
            }
        }));
    }
    Ok(Running { addr, emulator, stop, tasks })
}

impl Running {
    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulator's state.
    #[must_use]
    pub fn emulator(&self) -> &Arc<Emulator> {
        &self.emulator
    }

    /// Stops accepting, closes connections, stops background tasks (webhook deliveries stop
    /// retrying) and writes the state file.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop.send_replace(true);
        self.emulator.webhooks.reset();
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.emulator.flush()
    }
}

/// `kipp emulator`: resolves the configuration, prints it, serves until Ctrl-C/SIGTERM.
pub fn run(args: EmulatorArgs) -> Result<(), Error> {
    let config = Config::resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    runtime.block_on(async move {
        let running = start(config.clone()).await?;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(config.summary(running.addr()).as_bytes());
        let _ = out.flush();
        drop(out);
        wait_for_signal().await;
        eprintln!("kipp emulator: shutting down");
        running.shutdown().await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
