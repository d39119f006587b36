//! Test harness: an emulator on 127.0.0.1:0, an HTTP client that checks every API answer
//! against the OpenAPI document, and a webhook listener.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use kipp_cli::emulator::{self, Config, Running};
use kipp_cli::http_client::HttpClient;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The OpenAPI document as JSON, with compiled validators cached by schema pointer.
pub struct Spec {
    doc: Value,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/kustom-ipp.openapi.yaml");
        let text = std::fs::read_to_string(path).expect("read openapi");
        let doc: Value = serde_yaml::from_str(&text).expect("parse openapi yaml");
        Spec { doc, cache: Mutex::new(HashMap::new()) }
    })
}

impl Spec {
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.cache.lock().unwrap();
        if let Some(v) = cache.get(key) {
            return v.clone();
        }
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let v = Arc::new(
            jsonschema::draft202012::options().should_validate_formats(true).build(&root).expect("compile schema"),
        );
        cache.insert(key.to_owned(), v.clone());
        v
    }

    /// Validates `instance` against a named component schema.
    pub fn check_component(&self, name: &str, instance: &Value) {
        let schema = json!({"$ref": format!("#/components/schemas/{name}")});
        self.check_schema(&format!("component:{name}"), &schema, instance);
    }

    fn check_schema(&self, key: &str, schema: &Value, instance: &Value) {
        let v = self.validator(key, schema);
        let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "response does not match {key}: {errors:?}\n{instance:#}");
    }

    /// Validates an API response: the operation's declared response schema for `status`
    /// (or `2XX`), and the Problem schema for every error.
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &Value) {
        let m = kipp_core::api::Method::parse(method).expect("method");
        let Ok(route) = kipp_core::api::route(m, path) else {
            if status >= 400 {
                self.check_component("Problem", body);
            }
            return;
        };
        let template = route.op.path_template();
        let responses = &self.doc["paths"][template][method.to_ascii_lowercase()]["responses"];
        if !responses.is_object() {
            // Operations kipp decided (Kustom documents none): their bodies are the
            // documented resource schemas.
            use kipp_core::api::OperationId as O;
            let component = match route.op {
                O::CreateLocation | O::UpdateLocation => Some("Location"),
                O::RegisterDevice | O::GetDevice => Some("Device"),
                O::DeleteLocation => None,
                other => {
                    panic!("{other:?} ({method} {template}) is neither in the OpenAPI document nor a kipp decision")
                }
            };
            match (status, component) {
                (400.., _) => self.check_component("Problem", body),
                (_, Some(c)) => self.check_component(c, body),
                _ => {}
            }
            return;
        }
        let declared = responses.get(status.to_string()).or_else(|| {
            if (200..300).contains(&status) {
                responses.get("2XX")
            } else {
                None
            }
        });
        let schema = declared.and_then(|r| {
            let r = if let Some(reference) = r.get("$ref").and_then(Value::as_str) {
                let name = reference.rsplit('/').next().unwrap_or_default();
                &self.doc["components"]["responses"][name]
            } else {
                r
            };
            r.pointer("/content/application~1json/schema")
        });
        match schema {
            Some(s) => self.check_schema(&format!("{method} {template} {status}"), s, body),
            None if status >= 400 => self.check_component("Problem", body),
            None => {}
        }
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
    pub fn field_paths(&self) -> Vec<String> {
        self.json["field_errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["path"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", String::from_utf8_lossy(&self.body));
        self
    }
}

/// An emulator under test and a client for it.
pub struct Emu {
    pub running: Option<Running>,
    pub base: String,
    pub client: HttpClient,
    pub config: Config,
}

pub fn auth_header(config: &Config) -> String {
    format!("Basic {}", config.api_key)
}

impl Emu {
    pub async fn start() -> Self {
        Self::with(Config::for_tests()).await
    }

    pub async fn with(mut config: Config) -> Self {
        config.seed.get_or_insert(42);
        let running = emulator::start(config.clone()).await.expect("start emulator");
        Self { base: running.base_url(), running: Some(running), client: HttpClient::new(), config }
    }

    pub async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("shutdown");
        }
    }

    /// A request with exactly the given headers; checks `x-request-id` and problem
    /// details on errors, but not the OpenAPI document.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Bytes>) -> Resp {
        let uri: Uri = format!("{}{path}", self.base).parse().expect("uri");
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = self.client.send(m, &uri, headers, body, TIMEOUT).await.expect("request");
        let json = if r.body.is_empty() { Value::Null } else { serde_json::from_slice(&r.body).unwrap_or(Value::Null) };
        let resp = Resp { status: r.status.as_u16(), headers: r.headers, body: r.body, json };
        assert!(resp.header("x-request-id").is_some_and(|v| !v.is_empty()), "no x-request-id on {method} {path}");
        if resp.status >= 400 {
            assert_eq!(resp.header("content-type"), Some("application/problem+json"), "{method} {path}");
            assert_eq!(resp.json["status"], resp.status, "problem status");
            assert!(resp.json["title"].is_string() && resp.json["code"].is_string(), "{}", resp.json);
        }
        resp
    }

    /// An authenticated API call with `x-merchant-id`, validated against the OpenAPI document.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let auth = auth_header(&self.config);
        let mid = self.config.merchant_id.to_string();
        let mut headers = vec![("authorization", auth.as_str()), ("x-merchant-id", mid.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()));
        let resp = self.raw(method, path, &headers, body).await;
        self.validate(method, path, &resp);
        resp
    }

    pub fn validate(&self, method: &str, path: &str, resp: &Resp) {
        let path_only = path.split('?').next().unwrap_or(path);
        if resp.status == 204 {
            assert!(resp.body.is_empty());
            return;
        }
        spec().check_response(method, path_only, resp.status, &resp.json);
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None).await
    }

    /// A control request (no auth).
    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()));
        self.raw(method, path, &[("content-type", "application/json")], body).await
    }

    pub async fn sim_device(&self, name: &str) -> String {
        let d = self.post("/ipp/v1/dev/devices", json!({"name": name})).await.expect(201);
        d.json["id"].as_str().unwrap().to_owned()
    }

    pub async fn session(&self, device: &str) -> String {
        let s = self.post("/ipp/v1/sessions", session_body(device)).await.expect(200);
        s.json["session_id"].as_str().unwrap().to_owned()
    }

    pub async fn tap(&self, session: &str, outcome: &str) -> Resp {
        let r =
            self.call("POST", &format!("/ipp/v1/dev/sessions/{session}/simulate-tap?outcome={outcome}"), None).await;
        if r.status == 200 {
            spec().check_component("Session", &r.json);
        }
        r
    }

    /// Waits until the delivery log has no pending entry and at least `min` entries.
    pub async fn settle_deliveries(&self, min: usize) -> Value {
        for _ in 0..500 {
            let d = self.control("GET", "/_emulator/deliveries", None).await.expect(200);
            if d.json["pending"] == 0 && d.json["deliveries"].as_array().is_some_and(|a| a.len() >= min) {
                return d.json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("deliveries did not settle");
    }
}

/// A valid create-session body (the docs' cart) for `device`.
pub fn session_body(device: &str) -> Value {
    let mut v: Value =
        serde_json::from_str(include_str!("../../../core/tests/fixtures/examples/create-session.request.json"))
            .unwrap();
    v["device_id"] = json!(device);
    v
}

/// A webhook secret from fixed key bytes.
pub fn secret(byte: u8) -> (String, [u8; 32]) {
    let key = [byte; 32];
    (format!("whsec_{}", STANDARD.encode(key)), key)
}

/// One delivery received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

/// A webhook destination that fails the first `fail_first` requests with 500.
pub struct Listener {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    pub attempts: Arc<AtomicUsize>,
}

impl Listener {
    pub async fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let tx = tx.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let tx = tx.clone();
                        let counter = counter.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                            let n = counter.fetch_add(1, Ordering::SeqCst);
                            let status = if n < fail_first { 500 } else { 200 };
                            if status == 200 {
                                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                                let _ = tx.send(Received { headers: parts.headers, body, json });
                            }
                            let mut resp = Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Self { url: format!("http://{addr}/webhooks/kustom"), rx, attempts }
    }

    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(TIMEOUT, self.rx.recv()).await.expect("webhook in time").expect("listener open")
    }

    pub async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(self.next().await);
        }
        v
    }

    /// No further delivery within a short grace period.
    pub async fn assert_quiet(&mut self) {
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(200), self.rx.recv()).await {
            panic!("unexpected delivery {}", r.json);
        }
    }
}

/// A config sending webhooks to `urls` with a compressed retry schedule.
pub fn webhook_config(urls: &[&str], secrets: &[&str]) -> Config {
    let mut c = Config::for_tests();
    c.webhook_urls = urls.iter().map(|u| u.parse().unwrap()).collect();
    c.webhook_secrets = kipp_core::webhook::WebhookSecrets::parse(&secrets.join(",")).unwrap();
    c.webhook_retry = vec![Duration::from_millis(10), Duration::from_millis(20), Duration::from_millis(40)];
    c.webhook_timeout = Duration::from_secs(2);
    c
}
