//! The HTTP side: accepts connections, gives every response an `x-request-id`, injects
//! faults on `/ipp/v1`, authenticates, checks `x-merchant-id`, size and content type,
//! routes with `kipp_core::api::route`, and turns refusals into problem details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use kipp_core::api::{
    allowed_methods, is_json, parse_query, route, Method, OperationId, RouteMiss, API_PREFIX, MERCHANT_HEADER,
};
use kipp_core::base64::{Alphabet, Padding};
use kipp_core::problem::PROBLEM_CONTENT_TYPE;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::config::{Config, MAX_BODY_BYTES};
use super::problem::Reject;
use super::routes::{self, ApiRequest, Reply};
use super::{controls, Emulator};
use crate::Error;

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Accepts connections until `stop` turns true, then drops them all.
pub async fn accept_loop(listener: TcpListener, emulator: Arc<Emulator>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(emulator.config.max_connections));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                // Over the limit the connection is closed at once (dropped), so that the process
                // keeps file handles for its own work (webhooks, the state file).
                Ok((stream, _)) => if let Ok(slot) = slots.clone().try_acquire_owned() {
                    let emulator = emulator.clone();
                    conns.spawn(async move {
                        serve_connection(emulator, stream).await;
                        drop(slot);
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn serve_connection(emulator: Arc<Emulator>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let header_read_timeout = emulator.config.header_read_timeout;
    // Each request runs in its own task, so it completes even when the client goes away
    // mid-request, as a real API server that has received a request does: a create whose caller
    // timed out (the latency fault) or died still takes effect, and the caller cannot know.
    let service = service_fn(move |req| {
        let task = tokio::spawn(handle(emulator.clone(), req));
        async move { task.await.unwrap_or_else(|e| Err(Error::Message(format!("request handler failed: {e}")))) }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        // Without a timer hyper applies no header timeout at all.
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Handles one request. An `Err` closes the connection without an answer (the `drop` fault).
pub async fn handle(emulator: Arc<Emulator>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| emulator.ids.request_id(), str::to_owned);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let outcome = if path == "/_emulator" || path.starts_with("/_emulator/") {
        controls::handle(&emulator, req).await
    } else if path == API_PREFIX || path.starts_with("/ipp/v1/") {
        match emulator.faults.pick(&path, || emulator.ids.unit()) {
            Some(fault) => {
                let resets = emulator.resets();
                if fault.latency_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
                }
                if fault.drop {
                    log(&emulator.config, &method, &path, "dropped (fault)", started);
                    return Err(Error::Message("fault injection: connection dropped".to_owned()));
                }
                match fault.status {
                    // Reset while it waited: run against the new state, it would leave a location
                    // or an enrollment of the previous test in the next one's.
                    _ if emulator.resets() != resets => Err(Reject::new(
                        503,
                        kipp_core::problem::status_code_title(503).0,
                        "the emulator was reset while this request waited",
                    )),
                    Some((status, retry_after)) => {
                        let mut r = Reject::new(
                            status,
                            kipp_core::problem::status_code_title(status).0,
                            "injected fault (kipp emulator)",
                        );
                        if let Some(s) = retry_after {
                            r = r.with_header("retry-after", s.to_string());
                        }
                        Err(r)
                    }
                    None => {
                        let mut outcome = api(&emulator, req).await;
                        if let (Some(patch), Ok(Reply::Json { status: 200..=299, body })) =
                            (fault.answer_patch, &mut outcome)
                        {
                            if let Ok(serde_json::Value::Object(mut answer)) = serde_json::from_slice(body) {
                                answer.extend(patch);
                                *body = serde_json::to_vec(&answer).unwrap_or_default();
                            }
                        }
                        if fault.answer_delay_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(fault.answer_delay_ms)).await;
                        }
                        outcome
                    }
                }
            }
            None => api(&emulator, req).await,
        }
    } else {
        Err(Reject::new(404, "not_found", format!("no route for {path}; the Kustom API lives under {API_PREFIX}")))
    };
    let response = respond(outcome, &request_id, &path);
    log(&emulator.config, &method, &path, response.status().as_str(), started);
    Ok(response)
}

fn log(config: &Config, method: &hyper::Method, path: &str, status: &str, started: Instant) {
    if config.verbose {
        eprintln!("{method} {path} → {status} ({} µs)", started.elapsed().as_micros());
    }
}

/// Builds the response for an outcome, with `x-request-id` on every answer.
#[must_use]
pub fn respond(outcome: Result<Reply, Reject>, request_id: &str, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body, extra) = match outcome {
        Ok(Reply::Json { status, body }) => (status, Some("application/json"), body, Vec::new()),
        Ok(Reply::NoContent) => (204, None, Vec::new(), Vec::new()),
        Err(reject) => {
            let status = reject.status();
            let mut problem = reject.problem;
            problem.request_id = Some(request_id.to_owned());
            problem.instance.get_or_insert_with(|| path.to_owned());
            let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{\"title\":\"Error\"}".to_vec());
            (status, Some(PROBLEM_CONTENT_TYPE), body, reject.headers)
        }
    };
    // 204, 205 and 304 carry no content (RFC 9110); a fault with such a status is answered bare.
    let (content_type, body) =
        if matches!(status, 204 | 205 | 304) { (None, Vec::new()) } else { (content_type, body) };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    resp
}

async fn api(emulator: &Emulator, req: Request<Incoming>) -> Result<Reply, Reject> {
    let path = req.uri().path().to_owned();
    let not_found = || Reject::new(404, "not_found", format!("no operation at {path}"));
    // In production the testing endpoints do not exist, for any method: a 405 with `Allow`
    // would say they do.
    if emulator.config.production && path.starts_with("/ipp/v1/dev/") {
        return Err(not_found());
    }
    let method = Method::parse(req.method().as_str());
    let routed = match method.map(|m| route(m, &path)) {
        Some(Ok(r)) => r,
        Some(Err(RouteMiss::NotFound)) => return Err(not_found()),
        None | Some(Err(RouteMiss::MethodNotAllowed)) => {
            let allow = allowed_methods(&path);
            if allow.is_empty() {
                return Err(not_found());
            }
            return Err(Reject::new(405, "method_not_allowed", format!("{} is not allowed here", req.method()))
                .with_header("allow", allow));
        }
    };
    let op = routed.op;
    if op.is_testing() && emulator.config.production {
        return Err(not_found());
    }
    if !op.is_unauthenticated() {
        authorize(&emulator.config, req.headers())?;
        check_merchant(&emulator.config, op, req.headers())?;
    }
    if let Some(len) =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY_BYTES as u64 {
            return Err(too_large());
        }
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let query = parse_query(req.uri().query().unwrap_or("")).map_err(|e| Reject::validation(vec![e]))?;
    let body = read_body(req.into_body(), emulator.config.header_read_timeout).await?;
    if routes::has_body(op) && !body.iter().all(u8::is_ascii_whitespace) && !is_json(content_type.as_deref()) {
        return Err(Reject::new(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let request = ApiRequest { op, param: routed.param.as_deref(), query: &query, body: &body };
    emulator.transact(|w, cx| routes::dispatch(w, cx, &request))
}

fn too_large() -> Reject {
    Reject::new(413, "payload_too_large", format!("request bodies are limited to {MAX_BODY_BYTES} bytes"))
}

/// Reads a body of at most [`MAX_BODY_BYTES`] (413 beyond), within `limit` (408 beyond: a
/// client that stops sending mid-body would otherwise hold its connection, one of a bounded
/// number, for ever; the header timeout covers the headers only).
pub async fn read_body(body: Incoming, limit: Duration) -> Result<Bytes, Reject> {
    match tokio::time::timeout(limit, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(Reject::new(400, "bad_request", format!("could not read the body: {e}"))),
        Err(_) => {
            Err(Reject::new(408, "request_timeout", format!("the body did not arrive within {} s", limit.as_secs()))
                .with_header("connection", "close"))
        }
    }
}

fn unauthorized() -> Reject {
    Reject::new(401, "unauthorized", "Access Denied").with_header("www-authenticate", "Basic realm=\"Kustom\"")
}

/// Constant-time string comparison (lengths may leak; the key's length is no secret).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Accepts `Authorization: Basic <key>` (raw key) or RFC 7617 `Basic base64(user:key)`
/// where `user` is empty, the MID, or `<MID>-<suffix>`.
pub fn authorize(config: &Config, headers: &HeaderMap) -> Result<(), Reject> {
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized());
    }
    let credentials = credentials.trim();
    if same(credentials, &config.api_key) {
        return Ok(());
    }
    let decoded = kipp_core::base64::decode(credentials, Alphabet::Standard, Padding::Required)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (user, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    let mid = config.merchant_id.as_str();
    let user_ok = user.is_empty()
        || user == mid
        || user.strip_prefix(mid).and_then(|rest| rest.strip_prefix('-')).is_some_and(|suffix| !suffix.is_empty());
    if same(password, &config.api_key) && user_ok {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// `x-merchant-id`: required (non-empty) where Kustom documents it; wherever it is sent
/// it must be the emulator's MID (403 otherwise).
pub fn check_merchant(config: &Config, op: OperationId, headers: &HeaderMap) -> Result<(), Reject> {
    let value = headers.get(MERCHANT_HEADER).map(|v| v.to_str().unwrap_or("\u{fffd}").trim());
    match value {
        None | Some("") if op.requires_merchant_header() => {
            Err(Reject::field(MERCHANT_HEADER, "required", "the x-merchant-id header is required on this operation"))
        }
        Some(v) if !v.is_empty() && v != config.merchant_id.as_str() => {
            Err(Reject::new(403, "merchant_mismatch", "x-merchant-id does not match the merchant of the API key"))
        }
        _ => Ok(()),
    }
}
