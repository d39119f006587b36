//! `kipp bench-emulator` (hidden): a bounded loopback load generator for the emulator.
//! It starts `kipp emulator` as a child process on a free loopback port (so the memory
//! figure is the emulator's alone), drives it with N concurrent keep-alive clients and
//! prints `BENCH <name> <value> <unit>` lines:
//!
//! - create-session + get-session throughput and p50/p99 latency;
//! - peak resident memory of a fresh emulator holding `--sessions` sessions on
//!   `--memory-devices` devices;
//! - webhook deliveries per second to a local sink (events queued while paused, then
//!   released at once).
//!
//! Every loop is bounded by a request count and stops by itself; each phase is also bounded
//! in time (`--phase-limit-secs`, default 30; each takes a few seconds) and fails with its name when over it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Uri};
use serde_json::{json, Value};

use crate::emulator::config::DEV_API_KEY;
use crate::http_client::HttpClient;
use crate::Error;

/// Flags of `kipp bench-emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Requests in the throughput phase (half creates, half gets).
    #[arg(long, default_value_t = 40_000)]
    pub requests: usize,
    /// Sessions held when memory is measured.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// Webhook deliveries in the delivery phase.
    #[arg(long, default_value_t = 10_000)]
    pub deliveries: usize,
    /// Devices the sessions of the memory phase are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub memory_devices: usize,
    /// Threads of the load generator (the emulator child uses one per core).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Time limit of each phase, in seconds; a phase over it fails the run with its name.
    #[arg(long, default_value_t = 30)]
    pub phase_limit_secs: u64,
}

/// Kills the child emulator when dropped.
struct ChildEmulator {
    child: Child,
    base: String,
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildEmulator {
    fn spawn(extra: &[&str]) -> Result<Self, Error> {
        let exe = std::env::current_exe().map_err(|e| Error::io("locating the kipp binary", e))?;
        let mut child = Command::new(exe)
            .args(["emulator", "--listen", "127.0.0.1:0", "--seed", "1", "--dev-vars", "/dev/null"])
            .args(extra)
            .env_remove("KUSTOM_API_KEY")
            .env_remove("KUSTOM_WEBHOOK_URL")
            .env_remove("KIPP_STATE_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("starting the emulator", e))?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Message("no stdout".to_owned()))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| Error::io("reading the emulator's address", e))?;
        let base = line
            .trim()
            .strip_prefix("kipp emulator listening on ")
            .ok_or_else(|| Error::Message(format!("unexpected emulator output {line:?}")))?
            .to_owned();
        Ok(Self { child, base })
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

#[derive(Debug, Clone)]
struct Api {
    client: HttpClient,
    base: String,
    auth: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value), Error> {
        let uri: Uri = format!("{}{path}", self.base).parse().map_err(|_| Error::Http(format!("bad uri {path}")))?;
        let mut headers = vec![("authorization", self.auth.as_str())];
        let body = match body {
            Some(b) => {
                headers.push(("content-type", "application/json"));
                Some(Bytes::from(serde_json::to_vec(b).map_err(|e| Error::Message(e.to_string()))?))
            }
            None => None,
        };
        let r = self.client.send(method, &uri, &headers, body, Duration::from_secs(30)).await?;
        let v = if r.body.is_empty() { Value::Null } else { serde_json::from_slice(&r.body).unwrap_or(Value::Null) };
        Ok((r.status.as_u16(), v))
    }

    async fn expect(&self, method: Method, path: &str, body: Option<&Value>, status: u16) -> Result<Value, Error> {
        let (s, v) = self.call(method, path, body).await?;
        if s != status {
            return Err(Error::Http(format!("{path}: expected {status}, got {s}: {v}")));
        }
        Ok(v)
    }
}

/// One dedicated keep-alive connection (the hot loops use it: no pool, no JSON trees).
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
    auth: String,
}

#[derive(serde::Deserialize)]
struct CreatedSession {
    session_id: String,
}

impl Conn {
    async fn open(base: &str, auth: &str) -> Result<Self, Error> {
        let host = base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| Error::io("connecting", e))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        tokio::spawn(conn);
        Ok(Self { sender, host, auth: auth.to_owned() })
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>, want: u16) -> Result<Bytes, Error> {
        use http_body_util::BodyExt as _;
        self.sender.ready().await.map_err(|e| Error::Http(e.to_string()))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", &self.auth);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default())).map_err(|e| Error::Http(e.to_string()))?;
        let resp = self.sender.send_request(req).await.map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| Error::Http(e.to_string()))?.to_bytes();
        if status != want {
            return Err(Error::Http(format!(
                "{path}: expected {want}, got {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(body)
    }

    async fn create_session(&mut self, body: Bytes) -> Result<String, Error> {
        let b = self.send(Method::POST, "/ipp/v1/sessions", Some(body), 200).await?;
        serde_json::from_slice::<CreatedSession>(&b).map(|c| c.session_id).map_err(|e| Error::Message(e.to_string()))
    }
}

/// The cart as bytes, built once per device.
fn cart_bytes(device: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&cart(device)).unwrap_or_default())
}

fn cart(device: &str) -> Value {
    json!({
        "device_id": device, "order_amount": 240000, "purchase_currency": "SEK", "order_tax_amount": 48000,
        "merchant_reference1": "ORDER-12345",
        "order_items": [
            {"type": "physical", "reference": "SKU-001", "name": "T-Shirt", "quantity": 2, "unit_price": 100000, "total_amount": 200000, "tax_rate": 2500, "total_tax_amount": 40000},
            {"type": "physical", "reference": "SKU-002", "name": "Socks", "quantity": 1, "unit_price": 40000, "total_amount": 40000, "tax_rate": 2500, "total_tax_amount": 8000}
        ]
    })
}

fn id_of(v: &Value, key: &str) -> Result<String, Error> {
    v[key].as_str().map(str::to_owned).ok_or_else(|| Error::Message(format!("no {key} in {v}")))
}

/// Runs `f(client_index)` on `clients` tasks and collects their results.
async fn fan_out<T, F, Fut>(clients: usize, f: F) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let tasks: Vec<_> = (0..clients).map(|c| tokio::spawn(f(c))).collect();
    let mut out = Vec::with_capacity(clients);
    for t in tasks {
        out.push(t.await.map_err(|e| Error::Message(e.to_string()))??);
    }
    Ok(out)
}

/// Creates `n` simulated devices with `clients` concurrent clients.
async fn devices(api: &Api, clients: usize, n: usize) -> Result<Vec<String>, Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let parts = fan_out(clients, |_| {
        let (api, next) = (api.clone(), next.clone());
        async move {
            let mut mine = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let d = api.expect(Method::POST, "/ipp/v1/dev/devices", Some(&json!({"name": "bench"})), 201).await?;
                mine.push(id_of(&d, "id")?);
            }
            Ok(mine)
        }
    })
    .await?;
    Ok(parts.into_iter().flatten().collect())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

#[allow(clippy::cast_precision_loss)]
async fn throughput(args: &BenchArgs) -> Result<(), Error> {
    let emu = ChildEmulator::spawn(&["--no-webhooks"])?;
    let api = Api { client: HttpClient::new(), base: emu.base.clone(), auth: format!("Basic {DEV_API_KEY}") };
    let clients = args.clients.max(1);
    let pairs = (args.requests / 2).max(clients);
    let devs = Arc::new(devices(&api, clients, pairs).await?);

    // Phase 1: create + get, one fresh device per pair, one connection per client.
    let bodies: Arc<Vec<Bytes>> = Arc::new(devs.iter().map(|d| cart_bytes(d)).collect());
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(Conn::open(&api.base, &api.auth).await?);
    }
    let conns: Arc<Vec<tokio::sync::Mutex<Conn>>> = Arc::new(conns.into_iter().map(tokio::sync::Mutex::new).collect());
    let started = Instant::now();
    let results = fan_out(clients, |c| {
        let (bodies, conns) = (bodies.clone(), conns.clone());
        async move {
            let mut conn = conns[c].lock().await;
            let mut lat = Vec::new();
            let mut open = Vec::new();
            for body in bodies.iter().skip(c).step_by(clients) {
                let t = Instant::now();
                let id = conn.create_session(body.clone()).await?;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                let t = Instant::now();
                conn.send(Method::GET, &format!("/ipp/v1/sessions/{id}"), None, 200).await?;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                open.push(id);
            }
            Ok((lat, open))
        }
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat: Vec<u32> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    lat.sort_unstable();
    println!("BENCH emulator_create_get_rps {:.0} req/s", lat.len() as f64 / elapsed);
    println!("BENCH emulator_create_get_p50 {:.3} ms", percentile(&lat, 0.50));
    println!("BENCH emulator_create_get_p99 {:.3} ms", percentile(&lat, 0.99));

    Ok(())
}

/// A fresh emulator holding `sessions` sessions on `memory_devices` devices (all but each
/// device's last one finalized); prints its peak resident memory.
#[allow(clippy::cast_precision_loss)]
async fn memory(args: &BenchArgs) -> Result<(), Error> {
    let emu = ChildEmulator::spawn(&["--no-webhooks"])?;
    let api = Api { client: HttpClient::new(), base: emu.base.clone(), auth: format!("Basic {DEV_API_KEY}") };
    let clients = args.clients.max(1);
    let devs = devices(&api, clients, args.memory_devices.max(clients)).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(devs.iter().map(|d| cart_bytes(d)).collect());
    let remaining = Arc::new(AtomicUsize::new(args.sessions));
    let (base, auth) = (api.base.clone(), api.auth.clone());
    fan_out(clients, |c| {
        let (bodies, remaining, base, auth) = (bodies.clone(), remaining.clone(), base.clone(), auth.clone());
        async move {
            let mut conn = Conn::open(&base, &auth).await?;
            let mine: Vec<&Bytes> = bodies.iter().skip(c).step_by(clients).collect();
            let mut open: Vec<Option<String>> = vec![None; mine.len()];
            let mut i = 0;
            while !mine.is_empty()
                && remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
            {
                let k = i % mine.len();
                if let Some(id) = open[k].take() {
                    let path = format!("/ipp/v1/dev/sessions/{id}/simulate-tap?outcome=SUCCESS");
                    conn.send(Method::POST, &path, None, 200).await?;
                }
                open[k] = Some(conn.create_session(mine[k].clone()).await?);
                i += 1;
            }
            Ok(())
        }
    })
    .await?;
    let kib = emu.peak_rss_kib().unwrap_or(0);
    println!("BENCH emulator_peak_rss_{}_sessions {:.1} MB", args.sessions, kib as f64 / 1024.0);
    Ok(())
}

/// A webhook sink counting 2xx answers.
async fn sink() -> Result<(String, Arc<AtomicUsize>), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::io("binding the sink", e))?;
    let addr = listener.local_addr().map_err(|e| Error::io("sink address", e))?;
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    c.fetch_add(1, Ordering::Relaxed);
                    async { Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new()))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((format!("http://{addr}/webhooks/kustom"), count))
}

#[allow(clippy::cast_precision_loss)]
async fn deliveries(args: &BenchArgs) -> Result<(), Error> {
    let (url, count) = sink().await?;
    let emu = ChildEmulator::spawn(&["--webhook-url", &url])?;
    let api = Api { client: HttpClient::new(), base: emu.base.clone(), auth: format!("Basic {DEV_API_KEY}") };
    let clients = args.clients.max(1);
    let devs = Arc::new(devices(&api, clients, clients).await?);
    api.expect(Method::POST, "/_emulator/webhooks", Some(&json!({"paused": true})), 200).await?;
    // Each session: created + cancelled = 2 events.
    let sessions = args.deliveries.div_ceil(2);
    let remaining = Arc::new(AtomicUsize::new(sessions));
    fan_out(clients, |c| {
        let (api, devs, remaining) = (api.clone(), devs.clone(), remaining.clone());
        async move {
            let d = &devs[c % devs.len()];
            while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                let s = api.expect(Method::POST, "/ipp/v1/sessions", Some(&cart(d)), 200).await?;
                let path = format!("/ipp/v1/sessions/{}/cancel", id_of(&s, "session_id")?);
                api.expect(Method::PUT, &path, None, 200).await?;
            }
            Ok(())
        }
    })
    .await?;
    let total = sessions * 2;
    let started = Instant::now();
    api.expect(Method::POST, "/_emulator/webhooks", Some(&json!({"paused": false})), 200).await?;
    // Half the phase's time limit for the deliveries themselves (the rest is for the setup).
    let wait = Duration::from_secs((args.phase_limit_secs / 2).max(1));
    let deadline = started + wait;
    while count.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = count.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    println!("BENCH emulator_webhook_deliveries_per_s {:.0} deliveries/s", got as f64 / secs);
    if got < total {
        return Err(Error::Message(format!("only {got} of {total} deliveries arrived within {} s", wait.as_secs())));
    }
    Ok(())
}

/// Runs every phase.
pub fn run(args: BenchArgs) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    let limit = Duration::from_secs(args.phase_limit_secs.max(1));
    runtime.block_on(async {
        bounded("create+get throughput", limit, throughput(&args)).await?;
        bounded("memory", limit, memory(&args)).await?;
        bounded("webhook deliveries", limit, deliveries(&args)).await
    })
}

/// Runs one phase with a time limit; a phase over it fails with its name (its emulator child is
/// killed when the phase's future is dropped).
async fn bounded(
    name: &str,
    limit: Duration,
    phase: impl std::future::Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    let started = Instant::now();
    match tokio::time::timeout(limit, phase).await {
        Ok(Ok(())) => {
            eprintln!("bench-emulator: {name} phase took {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Ok(Err(e)) => Err(Error::Message(format!("the {name} phase failed: {e}"))),
        Err(_) => Err(Error::Message(format!(
            "the {name} phase did not finish within {} s (--phase-limit-secs)",
            limit.as_secs()
        ))),
    }
}
