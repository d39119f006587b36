//! The worker's fetch handler: static assets, kipp's own routes, the IPP allow-list and the
//! webhook endpoint. Every answer carries `x-request-id` and ends in one JSON log line.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use kipp_core::api::devices::GetDevice;
use kipp_core::api::sessions::decode_session;
use kipp_core::api::sessions::{GetSession, Session};
use kipp_core::api::{build_request, Operation, OperationId};
use kipp_core::ids::{DeviceId, LocationId, SessionId};
use kipp_core::problem::Problem;
use kipp_core::session::SessionStatus;
use kipp_core::token::{self, Claims, Role};
use kipp_derive::MapDeserialize;
use serde::Serialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Response, Result};

use crate::config::Config;
use crate::env::stub;
use crate::http::{self, internal, json, now_ms, problem, problem_retry, request_id, Incoming};
use crate::log::RequestLog;
use crate::objects::{device, key, registry, session, DEVICES, KEYS, REGISTRY, REGISTRY_NAME, SESSIONS};
use crate::plan::{self, Body, ScopeCheck};
use crate::retry::{self, AfterRetry};
use crate::upstream::{self, Stats};
use crate::{auth, idem};

/// Per-request context for the log line.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub rid: String,
    pub route: &'static str,
    pub role: Option<Role>,
    pub stats: Stats,
    pub code: Option<String>,
}

thread_local! {
    static REVOKED: RefCell<Option<(i64, HashSet<String>)>> = const { RefCell::new(None) };
    static DEVICE_LOC: RefCell<HashMap<String, (i64, Option<LocationId>)>> = RefCell::new(HashMap::new());
}

const DEVICE_CACHE_MS: i64 = 60_000;

fn cors(resp: &Response, cfg: Option<&Config>, origin: Option<&str>) {
    if let (Some(cfg), Some(o)) = (cfg, origin) {
        if let Some(allowed) = cfg.cors_origin(o) {
            let h = resp.headers();
            let _ = h.set("access-control-allow-origin", &allowed);
            let _ = h.set("vary", "origin");
            let _ = h.set("access-control-expose-headers", "x-request-id, retry-after, idempotent-replayed");
        }
    }
}

/// The worker's fetch handler, exported as `fetch` (worker-build's entrypoint calls it with
/// the request, `env` and `ctx`). Not `#[event(fetch)]`: that glue converts every request to
/// workers-rs' `Request`, which parses the request's `cf` object (see [`Incoming`]).
#[wasm_bindgen]
pub async fn fetch(req: web_sys::Request, env: Env, _ctx: JsValue) -> core::result::Result<web_sys::Response, JsValue> {
    match handle(Incoming::new(req), env).await {
        Ok(resp) => Ok(resp.into()),
        Err(e) => {
            // Like every answer of the worker: problem details and an `x-request-id`.
            let rid = request_id();
            let resp = internal_error(&e, &rid);
            let _ = resp.headers().set("x-request-id", &rid);
            Ok(resp.into())
        }
    }
}

async fn handle(req: Incoming, env: Env) -> Result<Response> {
    let path = req.path().to_owned();
    if !(path.starts_with("/ipp/") || path.starts_with("/kipp/") || path.starts_with("/webhooks/")) {
        return env.assets("ASSETS")?.fetch_request(req.to_request()).await;
    }
    let t0 = now_ms();
    let mut ctx = Ctx { rid: request_id(), route: "", ..Ctx::default() };
    let origin = req.header("origin")?;
    let method = req.method();
    let cfg = match crate::env::config(&env) {
        Ok(c) => c,
        Err(e) => {
            ctx.route = "config";
            let p = Problem::new(500, "config_missing", "Worker Misconfigured", e.to_string());
            return Ok(finish(problem(p, &ctx.rid), &ctx, method.as_ref(), t0, None, None));
        }
    };
    let resp = if method == Method::Options {
        ctx.route = "preflight";
        preflight(&cfg, origin.as_deref())
    } else {
        match dispatch(&req, &env, &cfg, &path, &mut ctx).await {
            Ok(r) => r,
            Err(e) => internal_error(&e, &ctx.rid),
        }
    };
    Ok(finish(resp, &ctx, method.as_ref(), t0, Some(&cfg), origin.as_deref()))
}

/// The answer to a request the worker failed on, logged as `internal_error`.
fn internal_error(e: &worker::Error, rid: &str) -> Response {
    log_error(e, rid);
    problem(Problem::new(500, "internal", "Internal Server Error", "the worker failed"), rid)
}

/// Logs a failure of the worker as `internal_error` (its category only, see [`short`]).
pub(crate) fn log_error(e: &worker::Error, rid: &str) {
    worker::console_error!("{}", crate::log::event("internal_error", &[("request_id", rid), ("error", &short(e))]));
}

/// A worker error's category only (its text may quote inputs).
fn short(e: &worker::Error) -> String {
    let s = e.to_string();
    s.chars().take(120).collect()
}

fn finish(resp: Response, ctx: &Ctx, method: &str, t0: i64, cfg: Option<&Config>, origin: Option<&str>) -> Response {
    let _ = resp.headers().set("x-request-id", &ctx.rid);
    cors(&resp, cfg, origin);
    let line = RequestLog {
        msg: "request",
        request_id: &ctx.rid,
        method,
        route: ctx.route,
        status: resp.status_code(),
        duration_ms: u64::try_from(now_ms() - t0).unwrap_or(0),
        upstream_ms: (ctx.stats.attempts > 0 || ctx.stats.shared).then_some(ctx.stats.ms),
        upstream_attempts: (ctx.stats.attempts > 0).then_some(ctx.stats.attempts),
        upstream_shared: ctx.stats.shared,
        code: ctx.code.as_deref(),
        role: ctx.role.map(Role::as_str),
    }
    .line();
    // The line as built: one string handed to the console (no `format!` copy).
    web_sys::console::log_1(&wasm_bindgen::JsValue::from_str(&line));
    resp
}

fn preflight(cfg: &Config, origin: Option<&str>) -> Response {
    let r = Response::builder().with_status(204).empty();
    if let Some(allowed) = origin.and_then(|o| cfg.cors_origin(o)) {
        let h = r.headers();
        let _ = h.set("access-control-allow-origin", &allowed);
        let _ = h.set("access-control-allow-methods", "GET, POST, PUT, DELETE");
        let _ = h.set("access-control-allow-headers", "authorization, content-type, idempotency-key");
        let _ = h.set("access-control-max-age", "600");
        let _ = h.set("vary", "origin");
    }
    r
}

fn fail(ctx: &mut Ctx, p: Problem) -> Response {
    ctx.code.clone_from(&p.code);
    problem(p, &ctx.rid)
}

/// The response with one more header (`Allow` on a 405, `WWW-Authenticate` on a 401).
fn with_header(resp: Response, name: &str, value: &str) -> Response {
    let _ = resp.headers().set(name, value);
    resp
}

async fn dispatch(req: &Incoming, env: &Env, cfg: &Rc<Config>, path: &str, ctx: &mut Ctx) -> Result<Response> {
    let method = req.method();
    if path == "/webhooks/kustom" {
        ctx.route = "/webhooks/kustom";
        if method != Method::Post {
            return Ok(with_header(fail(ctx, Problem::from_status(405)), "allow", "POST"));
        }
        return crate::webhook::handle(req, env, cfg, ctx).await;
    }
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // Routes of kipp itself.
    if path.starts_with("/kipp/") {
        return match (method.clone(), segs.as_slice()) {
            (Method::Get, ["", "kipp", "v1", "me"]) => {
                ctx.route = "/kipp/v1/me";
                let claims = match authenticate(req, env, cfg, ctx, false).await? {
                    Ok(c) => c,
                    Err(r) => return Ok(r),
                };
                Ok(json(200, &Me::from_claims(&claims, cfg.playground())))
            }
            (Method::Post, ["", "kipp", "v1", "tokens"]) => {
                ctx.route = "/kipp/v1/tokens";
                mint(req, env, cfg, ctx).await
            }
            (Method::Post, ["", "kipp", "v1", "tokens", "revoke"]) => {
                ctx.route = "/kipp/v1/tokens/revoke";
                revoke(req, env, cfg, ctx).await
            }
            (Method::Get, ["", "kipp", "v1", "devices", id, "current-session"]) => {
                ctx.route = "/kipp/v1/devices/{device_id}/current-session";
                current_session(req, env, cfg, ctx, id).await
            }
            _ => {
                ctx.route = "/kipp/*";
                Ok(fail(ctx, Problem::new(404, "not_found", "Not Found", "no such route")))
            }
        };
    }
    if let (Method::Get, ["", "ipp", "v1", "sessions", id, "events"]) = (method.clone(), segs.as_slice()) {
        ctx.route = "/ipp/v1/sessions/{session_id}/events";
        return events(req, env, cfg, ctx, id).await;
    }
    ipp(req, env, cfg, path, ctx).await
}

/// `GET /kipp/v1/me`.
#[derive(Debug, Serialize)]
struct Me {
    role: Role,
    location_id: Option<LocationId>,
    expires_at: i64,
    jti: String,
    playground: bool,
}

impl Me {
    fn from_claims(c: &Claims, playground: bool) -> Self {
        Self { role: c.role, location_id: c.loc.clone(), expires_at: c.exp, jti: c.jti.clone(), playground }
    }
}

/// Makes sure this isolate's copy of the revocation list is fresh (one registry read per
/// `revocation_cache_secs`).
pub(crate) async fn refresh_revoked(env: &Env, cfg: &Config) -> Result<()> {
    let now = now_ms();
    let ttl = i64::from(cfg.revocation_cache_secs) * 1000;
    if REVOKED.with(|r| r.borrow().as_ref().is_some_and(|(at, _)| now - at < ttl)) {
        return Ok(());
    }
    let mut resp =
        stub(env, REGISTRY, REGISTRY_NAME)?.fetch_with_request(internal(Method::Get, "/revoked", None, &[])?).await?;
    let list: Vec<String> = crate::http::resp_json(&mut resp).await?;
    let set: HashSet<String> = list.into_iter().collect();
    REVOKED.with(|r| *r.borrow_mut() = Some((now, set)));
    Ok(())
}

pub(crate) fn is_revoked(jti: &str) -> bool {
    REVOKED.with(|r| r.borrow().as_ref().is_some_and(|(_, s)| s.contains(jti)))
}

/// Authenticates from `Authorization: Bearer` (or `?token=` when `allow_query`).
async fn authenticate(
    req: &Incoming,
    env: &Env,
    cfg: &Config,
    ctx: &mut Ctx,
    allow_query: bool,
) -> Result<core::result::Result<Claims, Response>> {
    let header = req.header("authorization")?;
    let mut token = auth::bearer(header.as_deref()).map(str::to_owned);
    if token.is_none() && allow_query {
        token = req.query_param("token");
    }
    if token.is_some() {
        refresh_revoked(env, cfg).await?;
    }
    match auth::authenticate(&cfg.token_key, token.as_deref(), now_ms() / 1000, is_revoked) {
        Ok(c) => {
            ctx.role = Some(c.role);
            Ok(Ok(c))
        }
        // RFC 6750 §3: a 401 names the scheme the client must use.
        Err(p) => Ok(Err(with_header(fail(ctx, p), "www-authenticate", "Bearer realm=\"kipp\""))),
    }
}

/// The device's location (cached per isolate for a minute). `Err` carries the problem.
async fn device_location(
    cfg: &Config,
    ctx: &mut Ctx,
    id: &DeviceId,
) -> core::result::Result<Option<LocationId>, Problem> {
    let now = now_ms();
    if let Some(loc) = DEVICE_LOC
        .with(|m| m.borrow().get(id.as_str()).filter(|(at, _)| now - at < DEVICE_CACHE_MS).map(|(_, l)| l.clone()))
    {
        return Ok(loc);
    }
    let op = GetDevice(id.clone());
    let req = build_request(&op, Some(&cfg.merchant_id)).map_err(|_| Problem::from_status(500))?;
    let reply = upstream::call(cfg, GetDevice::ID, &req, &mut ctx.stats).await.map_err(upstream::Failure::problem)?;
    if !reply.ok() {
        return Err(upstream::reply_problem(&reply));
    }
    // Only the location is needed: the rest of Kustom's device JSON is not decoded.
    let d: DeviceLocation = serde_json::from_slice(&reply.body)
        .map_err(|_| Problem::new(502, "upstream_invalid", "Bad Gateway", "unreadable device"))?;
    DEVICE_LOC.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(id.as_str().to_owned(), (now, d.location_id.clone()));
    });
    Ok(d.location_id)
}

/// The one field of a Kustom device the worker reads.
#[derive(MapDeserialize)]
struct DeviceLocation {
    #[serde(default)]
    location_id: Option<LocationId>,
}

fn forget_device(id: &DeviceId) {
    DEVICE_LOC.with(|m| m.borrow_mut().remove(id.as_str()));
}

async fn check_device(
    cfg: &Config,
    ctx: &mut Ctx,
    claims: &Claims,
    id: &DeviceId,
) -> core::result::Result<(), Problem> {
    let Some(scope) = &claims.loc else { return Ok(()) };
    match device_location(cfg, ctx, id).await? {
        Some(l) if &l == scope => Ok(()),
        _ => Err(auth::wrong_location()),
    }
}

/// A session the worker created, as its object answered `GET /get`: the session JSON (not
/// read into the worker) and the facts for scope checks.
struct Known {
    json: String,
    device_id: String,
    location_id: Option<String>,
    status: String,
}

impl Known {
    /// The session JSON as the object encoded it.
    fn into_response(self) -> Response {
        http::raw_json(200, self.json.into_bytes())
    }
}

/// The session's object answer, if the worker knows the session (one RPC round trip).
async fn session_known(env: &Env, id: &SessionId) -> Result<Option<Known>> {
    let rpc: session::SessionRpc = crate::env::rpc_stub(env, SESSIONS, id.as_str())?;
    Ok(rpc.get().await?.map(|(json, f)| Known {
        json,
        device_id: f.device_id,
        location_id: f.location_id,
        status: f.status,
    }))
}

async fn check_session(
    env: &Env,
    cfg: &Config,
    ctx: &mut Ctx,
    claims: &Claims,
    id: &SessionId,
    known: Option<&Known>,
) -> Result<core::result::Result<(), Problem>> {
    let Some(scope) = &claims.loc else { return Ok(Ok(())) };
    let _ = env;
    let device_id = match known {
        Some(v) => {
            if let Some(l) = &v.location_id {
                return Ok(if l == scope.as_str() { Ok(()) } else { Err(auth::wrong_location()) });
            }
            let Ok(device_id) = DeviceId::parse(&v.device_id) else { return Ok(Err(auth::wrong_location())) };
            device_id
        }
        None => match read_session(cfg, ctx, id).await {
            Ok((s, _)) => s.device_id,
            Err(p) => return Ok(Err(p)),
        },
    };
    // A device Kustom no longer has is in no location, so the session is out of scope: the
    // device lookup's 404 would say that the session does not exist.
    Ok(match check_device(cfg, ctx, claims, &device_id).await {
        Err(p) if p.status == Some(404) => Err(auth::wrong_location()),
        other => other,
    })
}

/// The session read from Kustom, with the reply it came in.
async fn read_session(
    cfg: &Config,
    ctx: &mut Ctx,
    id: &SessionId,
) -> core::result::Result<(Session, upstream::Reply), Problem> {
    let req = build_request(&GetSession(id.clone()), Some(&cfg.merchant_id)).map_err(|_| Problem::from_status(500))?;
    let reply = upstream::call(cfg, GetSession::ID, &req, &mut ctx.stats).await.map_err(|f| f.problem())?;
    if !reply.ok() {
        return Err(upstream::reply_problem(&reply));
    }
    match decode_session(reply.status, &reply.body) {
        Ok(s) => Ok((s, reply)),
        Err(_) => Err(Problem::new(502, "upstream_invalid", "Bad Gateway", "unreadable session")),
    }
}

async fn ipp(req: &Incoming, env: &Env, cfg: &Rc<Config>, path: &str, ctx: &mut Ctx) -> Result<Response> {
    let method = req.method();
    let route = match plan::find(method.as_ref(), path) {
        Ok(r) => r,
        Err(p) => {
            ctx.route = "/ipp/*";
            let r = fail(ctx, p);
            if r.status_code() == 405 {
                return Ok(with_header(r, "allow", &kipp_core::api::allowed_methods(path)));
            }
            return Ok(r);
        }
    };
    ctx.route = route.op.path_template();
    let claims = match authenticate(req, env, cfg, ctx, false).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Some(body) = http::body(req, plan::MAX_BODY).await? else {
        return Ok(fail(ctx, plan::too_large(plan::MAX_BODY)));
    };
    let query = req.query();
    // The type matters only for a body (a GET, the hot path, reads no header for it).
    let json = body.is_empty() || kipp_core::api::is_json(req.header("content-type")?.as_deref());
    let given = Body { bytes: &body, json };
    let pl = match plan::prepare(&route, query, given, &claims, cfg.playground(), &cfg.merchant_id) {
        Ok(p) => p,
        Err(p) => return Ok(fail(ctx, p)),
    };
    // Sessions the worker knows are answered from their object.
    let known = match &pl.session_id {
        Some(id) => session_known(env, id).await?,
        None => None,
    };
    let scope = match &pl.check {
        ScopeCheck::None => Ok(()),
        ScopeCheck::Device(id) => check_device(cfg, ctx, &claims, id).await,
        ScopeCheck::Session(id) => check_session(env, cfg, ctx, &claims, id, known.as_ref()).await?,
    };
    if let Err(p) = scope {
        // A create naming a device Kustom does not have: the create's answer, not the lookup's 404.
        let p = match &pl.create {
            Some(c) if p.status == Some(404) => unknown_device(&c.body.device_id),
            _ => p,
        };
        return Ok(fail(ctx, p));
    }
    if pl.op == OperationId::GetSession {
        if let Some(v) = known {
            return Ok(v.into_response());
        }
    }
    if let Some(create) = &pl.create {
        return create_session(req, env, cfg, ctx, &claims, create, &body).await;
    }
    let attempts_before = ctx.stats.attempts;
    let mut reply = match upstream::call(cfg, pl.op, &pl.request, &mut ctx.stats).await {
        Ok(r) => r,
        Err(f) => return Ok(fail(ctx, f.problem())),
    };
    if ctx.stats.attempts - attempts_before > 1 {
        match retry::after_retry(pl.op, reply.status) {
            AfterRetry::Stands => {}
            AfterRetry::Deleted => reply = upstream::Reply { status: 204, body: Vec::new(), retry_after_ms: None },
            AfterRetry::CheckCancelled => {
                // The session as Kustom has it now: CANCELLED means the cancel took effect, and
                // it is the answer; anything else (or a failed read) leaves the 409.
                if let Some(id) = &pl.session_id {
                    if let Ok((s, r)) = read_session(cfg, ctx, id).await {
                        if s.status == SessionStatus::Cancelled {
                            reply = r;
                        }
                    }
                }
            }
        }
    }
    if let Some(page) = pl.scoped_locations {
        // The scope's own location as the whole list (none when Kustom no longer has it).
        let location = if reply.status == 404 {
            None
        } else if reply.ok() {
            Some(reply.body.as_slice())
        } else {
            let p = upstream::reply_problem(&reply);
            ctx.code.clone_from(&p.code);
            return Ok(problem_retry(p, &ctx.rid, reply.retry_after_ms.map(|ms| ms / 1000)));
        };
        return Ok(match plan::scoped_location_page(location, page) {
            Some(list) => http::raw_json(200, list.into_bytes()),
            None => fail(ctx, Problem::new(502, "upstream_invalid", "Bad Gateway", "unreadable location")),
        });
    }
    if !reply.ok() {
        let p = upstream::reply_problem(&reply);
        let ra = reply.retry_after_ms.map(|ms| ms / 1000);
        ctx.code.clone_from(&p.code);
        return Ok(problem_retry(p, &ctx.rid, ra));
    }
    if let Some(id) = &pl.device_id {
        forget_device(id);
    }
    // Keep the session's object in step with what the operation returned.
    if matches!(pl.op, OperationId::CancelSession | OperationId::SimulateTap) && known.is_some() {
        // The object decodes the session itself (and ignores a body it cannot read).
        // Best effort: the operation has taken effect at Kustom, so its answer must reach the
        // client even if the object cannot be told now; its webhook (or the reconcile alarm)
        // brings the object in step.
        if let (Some(id), Ok(body)) = (&pl.session_id, core::str::from_utf8(&reply.body)) {
            let observe = async {
                stub(env, SESSIONS, id.as_str())?
                    .fetch_with_request(internal(Method::Post, "/observe", Some(body.to_owned()), &[])?)
                    .await
            };
            let _ = observe.await;
        }
    }
    Ok(http::raw_json(reply.status, reply.body))
}

/// The emulator's answer to a create naming a device it does not have
/// (crates/cli/src/emulator/routes/sessions.rs, `Reject::unprocessable`), which kipp-web relies
/// on: 422 at `device_id`, since the request is well-formed (no 404 of the route).
fn unknown_device(id: &DeviceId) -> Problem {
    let message = format!("device {id} does not exist (create one with POST /ipp/v1/dev/devices)");
    let mut p = field("device_id", "unknown_device", &message);
    p.status = Some(422);
    "Unprocessable Entity".clone_into(&mut p.title);
    p.code = Some("unknown_device".to_owned());
    p.detail = Some(message);
    p.instance = Some("/ipp/v1/sessions".to_owned());
    p
}

async fn create_session(
    req: &Incoming,
    env: &Env,
    cfg: &Config,
    ctx: &mut Ctx,
    claims: &Claims,
    create: &kipp_core::api::sessions::CreateSession,
    body: &[u8],
) -> Result<Response> {
    let client_key = req.header("idempotency-key")?;
    let key = match idem::storage_key(
        client_key.as_deref(),
        claims.loc.as_ref().map(LocationId::as_str),
        &claims.jti,
        body,
    ) {
        Ok(k) => k,
        Err(p) => return Ok(fail(ctx, p)),
    };
    let device_id = create.body.device_id.clone();
    // The device's location is stored with the session for later scope checks.
    let device_location = match device_location(cfg, ctx, &device_id).await {
        Ok(l) => l,
        Err(p) if p.status == Some(404) => return Ok(fail(ctx, unknown_device(&device_id))),
        Err(_) => None,
    };
    // A client key belongs to the first device it was used with (objects::key): the same key
    // on another device is another cart, refused like one, never a second sale. Claimed once
    // the device is known to exist (a mistyped device must not hold the key).
    if client_key.is_some() {
        let until = now_ms() + i64::from(cfg.idempotency_retention_secs) * 1000;
        let call = key::claim_request(&key, device_id.as_str(), until)?;
        let claim = stub(env, KEYS, &key::shard_of(&key))?.fetch_with_request(call).await?;
        match claim.status_code() {
            200 => {}
            // The cart names another device: another body for this key.
            409 => return Ok(fail(ctx, device::key_reused())),
            s => return Err(worker::Error::RustError(format!("key object answered {s}"))),
        }
    }
    let body_hash = idem::body_hash(body);
    let call =
        device::Create::request(&key, &body_hash, &create.body, create.location_id.as_ref(), device_location.as_ref())?;
    let mut r = stub(env, DEVICES, device_id.as_str())?.fetch_with_request(call).await?;
    let out = device::Outcome::read(&mut r).await?;
    ctx.stats.attempts += out.attempts;
    ctx.stats.ms += out.upstream_ms;
    match (out.session_json, out.problem) {
        (Some(s), _) => {
            // The session JSON as the object encoded it: the same bytes as encoding the session here.
            let resp = http::raw_json(200, s);
            if out.replayed {
                let _ = resp.headers().set("idempotent-replayed", "true");
            }
            Ok(resp)
        }
        (None, Some(p)) => {
            ctx.code.clone_from(&p.code);
            Ok(problem_retry(p, &ctx.rid, out.retry_after))
        }
        (None, None) => Ok(fail(ctx, Problem::from_status(502))),
    }
}

async fn events(req: &Incoming, env: &Env, cfg: &Rc<Config>, ctx: &mut Ctx, id: &str) -> Result<Response> {
    let claims = match authenticate(req, env, cfg, ctx, true).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(id) = SessionId::parse(id) else {
        return Ok(fail(ctx, Problem::new(404, "not_found", "Not Found", "no such session")));
    };
    let Some(view) = session_known(env, &id).await? else {
        return Ok(fail(ctx, Problem::new(404, "not_found", "Not Found", "this worker did not create that session")));
    };
    if let Err(p) = check_session(env, cfg, ctx, &claims, &id, Some(&view)).await? {
        return Ok(fail(ctx, p));
    }
    drop(view);
    let mut q = String::new();
    for k in ["after", "wait"] {
        if let Some(v) = req.query_param(k) {
            q.push(if q.is_empty() { '?' } else { '&' });
            q.push_str(k);
            q.push('=');
            q.push_str(&kipp_core::ids::escape_segment(&v));
        }
    }
    // The token's id and expiry go with the subscription: the object closes the socket when the
    // token expires or is revoked (a WebSocket otherwise outlives its token).
    let exp = claims.exp.to_string();
    let by = claims.by.join(" ");
    let mut extra =
        vec![(session::H_JTI, claims.jti.as_str()), (session::H_EXP, exp.as_str()), (session::H_BY, by.as_str())];
    let upgrade = req.header("upgrade")?;
    if upgrade.as_deref().is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        extra.push(("upgrade", "websocket"));
    }
    let resp = stub(env, SESSIONS, id.as_str())?
        .fetch_with_request(internal(Method::Get, &format!("/events{q}"), None, &extra)?)
        .await?;
    if resp.status_code() == 429 {
        return Ok(fail(
            ctx,
            Problem::new(429, "too_many_subscribers", "Too Many Requests", "subscriber limit reached"),
        ));
    }
    match resp.status_code() {
        101 => Ok(resp),
        200 => Ok(http::raw_json(200, http::resp_bytes(&resp).await?)),
        // The object lost its session while the poll was held (emptied after its retention):
        // problem details like every other error, not the object's bare 404.
        _ => Ok(fail(ctx, Problem::new(404, "not_found", "Not Found", "this worker no longer has that session"))),
    }
}

#[derive(Debug, MapDeserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    role: String,
    #[serde(default)]
    location_id: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Minted {
    token: String,
    jti: String,
    expires_at: i64,
}

async fn admin(
    req: &Incoming,
    env: &Env,
    cfg: &Config,
    ctx: &mut Ctx,
) -> Result<core::result::Result<Claims, Response>> {
    match authenticate(req, env, cfg, ctx, false).await? {
        Ok(c) if c.role == Role::Admin => Ok(Ok(c)),
        Ok(_) => Ok(Err(fail(ctx, auth::forbidden("this route needs an admin token")))),
        Err(r) => Ok(Err(r)),
    }
}

fn field(path: &str, code: &str, msg: &str) -> Problem {
    Problem::validation(vec![kipp_core::validate::FieldError::new(path, code, msg)])
}

async fn mint(req: &Incoming, env: &Env, cfg: &Config, ctx: &mut Ctx) -> Result<Response> {
    let minter = match admin(req, env, cfg, ctx).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Some(body) = http::body(req, 4096).await? else { return Ok(fail(ctx, plan::too_large(4096))) };
    let b: MintBody = match kipp_core::api::decode_with_path(&body) {
        Ok(b) => b,
        Err(e) => return Ok(fail(ctx, Problem::validation(vec![e]))),
    };
    let Some(role) = Role::parse(&b.role) else {
        return Ok(fail(ctx, field("role", "unsupported", "must be clerk or admin")));
    };
    let loc = match b.location_id.as_deref().map(LocationId::parse) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => return Ok(fail(ctx, field("location_id", "invalid", e.reason))),
    };
    if let Some(scope) = &minter.loc {
        if loc.as_ref() != Some(scope) {
            return Ok(fail(ctx, auth::wrong_location()));
        }
    }
    let ttl = b.ttl_seconds.unwrap_or(12 * 3600);
    if ttl == 0 || ttl > token::MAX_TTL_SECS {
        return Ok(fail(ctx, field("ttl_seconds", "out_of_range", "must be from 1 to 2678400")));
    }
    // A minted token never outlives its minter, and records it (with the minter's own
    // minters): revoking a stolen admin token revokes every token minted with it, too.
    let now = now_ms() / 1000;
    let ttl = ttl.min(u64::try_from(minter.exp.saturating_sub(now)).unwrap_or(0).max(1));
    let Some(claims) = Claims::new(role, loc, now, ttl, http::random16()).minted_by(&minter) else {
        return Ok(fail(ctx, auth::forbidden("a token minted through this route four times over mints no more")));
    };
    let Ok(t) = token::mint(&cfg.token_key, &claims) else { return Ok(fail(ctx, Problem::from_status(500))) };
    Ok(json(200, &Minted { token: t, jti: claims.jti, expires_at: claims.exp }))
}

#[derive(Debug, MapDeserialize)]
struct RevokeBody {
    jti: String,
}

async fn revoke(req: &Incoming, env: &Env, cfg: &Config, ctx: &mut Ctx) -> Result<Response> {
    let revoker = match admin(req, env, cfg, ctx).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    // Tokens do not record who minted them, so only an unscoped admin may revoke: a store's
    // admin could otherwise revoke the owner's tokens or fill the revocation list.
    if revoker.loc.is_some() {
        return Ok(fail(ctx, auth::forbidden("revoking tokens needs an admin token without a location")));
    }
    let Some(body) = http::body(req, 4096).await? else { return Ok(fail(ctx, plan::too_large(4096))) };
    let b: RevokeBody = match kipp_core::api::decode_with_path(&body) {
        Ok(b) => b,
        Err(e) => return Ok(fail(ctx, Problem::validation(vec![e]))),
    };
    if !token::is_jti(&b.jti) {
        return Ok(fail(ctx, field("jti", "invalid", "must be a token id")));
    }
    let exp = now_ms() / 1000 + i64::try_from(token::MAX_TTL_SECS).unwrap_or(0);
    let r = stub(env, REGISTRY, REGISTRY_NAME)?.fetch_with_request(registry::revoke_request(&b.jti, exp)?).await?;
    if r.status_code() != 200 {
        return Ok(fail(
            ctx,
            Problem::new(507, "revocation_list_full", "Insufficient Storage", "too many revoked tokens"),
        ));
    }
    REVOKED.with(|s| {
        if let Some((_, set)) = s.borrow_mut().as_mut() {
            set.insert(b.jti);
        }
    });
    Ok(Response::builder().with_status(204).empty())
}

async fn current_session(req: &Incoming, env: &Env, cfg: &Config, ctx: &mut Ctx, id: &str) -> Result<Response> {
    let claims = match authenticate(req, env, cfg, ctx, false).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(device_id) = DeviceId::parse(id) else { return Ok(fail(ctx, no_such_device())) };
    match check_device(cfg, ctx, &claims, &device_id).await {
        // The route's own 404, not the device lookup's (which names Kustom's device path).
        Err(p) if p.status == Some(404) => return Ok(fail(ctx, no_such_device())),
        Err(p) => return Ok(fail(ctx, p)),
        Ok(()) => {}
    }
    let mut r = stub(env, DEVICES, device_id.as_str())?
        .fetch_with_request(internal(Method::Get, "/current", None, &[])?)
        .await?;
    if r.status_code() != 200 {
        return Ok(no_open_session(ctx));
    }
    let sid: String = crate::http::resp_json(&mut r).await?;
    let Ok(sid) = SessionId::parse(&sid) else { return Ok(no_open_session(ctx)) };
    match session_known(env, &sid).await? {
        Some(v) if !SessionStatus::from_wire(&v.status).is_terminal() => Ok(v.into_response()),
        _ => Ok(no_open_session(ctx)),
    }
}

/// A device with no open session (created through this worker): 204, an answer rather than an
/// error. The virtual terminal asks every second while idle, and a 404 each time filled the
/// browser's console with failed requests. kipp-web's `deviceSession` reads it as `null`.
fn no_open_session(ctx: &mut Ctx) -> Response {
    ctx.code = Some("no_open_session".to_owned());
    Response::builder().with_status(204).empty()
}

/// The 404 of `/kipp/v1/devices/{device_id}/…` for a device that is not there.
fn no_such_device() -> Problem {
    Problem::new(404, "not_found", "Not Found", "no such device")
}
