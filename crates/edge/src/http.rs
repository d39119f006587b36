//! Small response helpers for the worker shell (wasm only).

use kipp_core::problem::{Problem, PROBLEM_CONTENT_TYPE};
use serde::Serialize;
use worker::{Method, Request, Response, Result};

/// A request as the runtime hands it to the worker's `fetch`, with the few reads the routes
/// make. workers-rs' `Request` conversion also reads the request's `cf` object, which the
/// runtime builds from JSON on first access, for every request; the routes never use it
/// (docs/decisions.md § Edge worker, speed).
#[derive(Debug)]
pub struct Incoming {
    raw: web_sys::Request,
    headers: web_sys::Headers,
    method: Method,
    path: String,
    query: String,
}

impl Incoming {
    /// Wraps the runtime's request (reads its method, URL and headers object once).
    #[must_use]
    pub fn new(raw: web_sys::Request) -> Self {
        let method = Method::from(raw.method());
        let url = raw.url();
        let path = path_of(&url);
        let query = query_of(&url).to_owned();
        let headers = raw.headers();
        Self { raw, headers, method, path, query }
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> Method {
        self.method.clone()
    }

    /// The path (percent-encoded as sent, without query or fragment).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string (without `?`).
    #[must_use]
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The decoded value of query parameter `name` (see [`query_param_of`]).
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param_of(&self.query, name)
    }

    /// A header's value (the headers object is fetched once per request).
    pub fn header(&self, name: &str) -> Result<Option<String>> {
        Ok(self.headers.get(name)?)
    }

    /// The runtime's request.
    #[must_use]
    pub fn inner(&self) -> &web_sys::Request {
        &self.raw
    }

    /// The whole body with one `arrayBuffer()`.
    pub async fn bytes(&self) -> Result<Vec<u8>> {
        Ok(array_buffer_bytes(self.raw.array_buffer()?).await?)
    }

    /// The request as workers-rs' type (for the assets binding and streamed bodies).
    #[must_use]
    pub fn to_request(&self) -> Request {
        // `Clone::clone`: the same JS object (the method `clone()` would tee the body).
        Request::from(Clone::clone(&self.raw))
    }
}

/// The path of a URL the runtime serialized (`scheme://host/path?query#fragment`): the part
/// from the first `/` after the host up to `?` or `#`.
fn path_of(url: &str) -> String {
    let after_scheme = kipp_core::text::find(url, "://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let Some(start) = rest.find('/') else { return "/".to_owned() };
    let path = &rest[start..];
    path[..path.find(['?', '#']).unwrap_or(path.len())].to_owned()
}

/// A problem details response (`application/problem+json`) carrying the request id.
pub fn problem(p: Problem, request_id: &str) -> Response {
    let status = p.status.unwrap_or(500);
    let p = p.with_request_id(request_id);
    let body = serde_json::to_vec(&p).unwrap_or_default();
    with_body(status, PROBLEM_CONTENT_TYPE, body)
}

/// A response with a body of `content_type`: one headers object and one `set` (workers-rs'
/// `Response::from_bytes` makes a headers object and sets a content type that the caller then
/// replaces with a second one).
///
/// 204, 205 and 304 are answered without a body: the Fetch standard forbids one for them (even an
/// empty one), the runtime's `Response` constructor throws, and workers-rs unwraps that throw
/// into a panic. A 205 from Kustom is passed through, so this is reachable from the network.
fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    match Response::builder().with_status(status).with_header("content-type", content_type) {
        Ok(builder) if is_null_body_status(status) => builder.empty(),
        Ok(builder) => builder.fixed(body),
        Err(_) => fallback(status),
    }
}

/// The statuses the Fetch standard gives no body (101 and 103 never reach a response here).
const fn is_null_body_status(status: u16) -> bool {
    matches!(status, 204 | 205 | 304)
}

/// A problem response with `Retry-After`.
pub fn problem_retry(p: Problem, request_id: &str, retry_after_secs: Option<u32>) -> Response {
    let r = problem(p, request_id);
    if let Some(s) = retry_after_secs {
        let _ = r.headers().set("retry-after", &s.to_string());
    }
    r
}

fn fallback(status: u16) -> Response {
    Response::empty().map(|r| r.with_status(status)).unwrap_or_else(|_| Response::builder().with_status(status).empty())
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    raw_json(status, body)
}

/// A JSON response from bytes already encoded.
pub fn raw_json(status: u16, body: Vec<u8>) -> Response {
    with_body(status, "application/json", body)
}

/// Reads a body up to `max` bytes (`None` when larger). A request without a body (the usual
/// GET) costs no read.
pub async fn body(req: &Incoming, max: usize) -> Result<Option<Vec<u8>>> {
    let declared = req.header("content-length")?.and_then(|l| l.parse::<usize>().ok());
    if declared.is_none() && req.inner().body().is_none() {
        return Ok(Some(Vec::new()));
    }
    if let Some(len) = declared {
        if len > max {
            return Ok(None);
        }
        // A declared length within bounds: one `arrayBuffer()` instead of a stream read with a
        // promise per chunk (the runtime enforces the declared length, so the body cannot be
        // longer). A body cut off mid-read is treated as empty, as below.
        return Ok(Some(req.bytes().await.unwrap_or_default()));
    }
    // Read chunk by chunk and keep at most `max` bytes: a chunked body has no Content-Length,
    // and buffering it whole would let anyone fill the isolate's memory. The rest of an
    // oversized body is read and dropped rather than left unread: answering while the client
    // is still sending breaks the connection in front of the worker (seen with wrangler dev).
    let mut stream = req.to_request().stream()?;
    let mut out = Vec::new();
    let mut too_big = false;
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        // A body cut off mid-read is treated as empty, as before: validation then refuses it.
        let Ok(chunk) = chunk else { return Ok(Some(Vec::new())) };
        if too_big || out.len().saturating_add(chunk.len()) > max {
            too_big = true;
            out = Vec::new();
            continue;
        }
        out.extend_from_slice(&chunk);
    }
    Ok((!too_big).then_some(out))
}

/// A request built with `web_sys` directly: workers-rs' `RequestInit` always creates a
/// `Headers` object and carries the `cf` properties' encoder, which neither internal nor
/// upstream requests use.
pub fn new_request(method: &str, url: &str, headers: Option<&web_sys::Headers>, body: Option<&str>) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(h) = headers {
        init.set_headers(h);
    }
    if let Some(b) = body {
        init.set_body(&wasm_bindgen::JsValue::from_str(b));
    }
    let r = web_sys::Request::new_with_str_and_init(url, &init)?;
    Ok(Request::from(r))
}

/// An internal request to a Durable Object.
pub fn internal(method: worker::Method, path: &str, body: Option<String>, extra: &[(&str, &str)]) -> Result<Request> {
    let headers = if body.is_some() || !extra.is_empty() {
        let h = web_sys::Headers::new()?;
        if body.is_some() {
            h.set("content-type", "application/json")?;
        }
        for (k, v) in extra {
            h.set(k, v)?;
        }
        Some(h)
    } else {
        None
    };
    let mut url = String::with_capacity(20 + path.len());
    url.push_str("https://do.internal");
    url.push_str(path);
    new_request(method.as_ref(), &url, headers.as_ref(), body.as_deref())
}

/// Milliseconds since the epoch.
#[must_use]
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues`, called directly: the getrandom crate's `js` backend also
    /// carries its Node.js detection (`require`, `process.versions`, `randomFillSync`), which a
    /// Worker never uses.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> core::result::Result<(), wasm_bindgen::JsValue>;
}

/// 16 random bytes from the runtime's CSPRNG.
#[must_use]
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    let _ = get_random_values(&mut b);
    b
}

/// A fresh request id (32 hex characters).
#[must_use]
pub fn request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in random16() {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// The raw query string of a URL the runtime serialized (without `?`): no URL parser in the
/// bundle.
fn query_of(url: &str) -> &str {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    q.split('#').next().unwrap_or_default()
}

/// The decoded value of query parameter `name` in a raw query string (first occurrence;
/// malformed encoding → `None`).
#[must_use]
pub fn query_param_of(query: &str, name: &str) -> Option<String> {
    let pairs = kipp_core::api::parse_query(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The decoded value of query parameter `name` of a request (see [`query_param_of`]).
#[must_use]
pub fn query_param(req: &web_sys::Request, name: &str) -> Option<String> {
    query_param_of(query_of(&req.url()), name)
}

/// Decodes JSON bytes. Every decode in the worker goes through `serde_json::from_slice`, so
/// each type has one deserializer instance (not one per input kind: `from_str` is a second copy).
pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(json_error)
}

/// A decode failure as a worker error (not generic: one copy, not one per decoded type).
#[inline(never)]
fn json_error(e: serde_json::Error) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// A request's JSON body.
pub async fn req_json<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T> {
    from_json(&req.bytes().await?)
}

/// A response's JSON body.
pub async fn resp_json<T: serde::de::DeserializeOwned>(resp: &mut Response) -> Result<T> {
    from_json(&resp_bytes(resp).await?)
}

/// The bytes an `arrayBuffer()` promise resolves to, copied into wasm memory.
pub async fn array_buffer_bytes(buffer: js_sys::Promise) -> core::result::Result<Vec<u8>, wasm_bindgen::JsValue> {
    let buf = wasm_bindgen_futures::JsFuture::from(buffer).await?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// A response's body with one `arrayBuffer()`: workers-rs' `Response::bytes` reads a fetched
/// body through a stream reader, with a promise, a waker and a copy per chunk.
pub async fn resp_bytes(resp: &Response) -> Result<Vec<u8>> {
    match resp.body() {
        worker::ResponseBody::Stream(s) => {
            let r = web_sys::Response::new_with_opt_readable_stream(Some(s))?;
            Ok(array_buffer_bytes(r.array_buffer()?).await?)
        }
        worker::ResponseBody::Body(v) => Ok(v.clone()),
        worker::ResponseBody::Empty => Ok(Vec::new()),
    }
}

/// Reads a stored value written by [`store_put`] (a JSON string). Values written by earlier
/// versions as structured-clone objects are read through `JSON.stringify`.
pub async fn store_get<T: serde::de::DeserializeOwned>(storage: &worker::Storage, key: &str) -> Result<Option<T>> {
    let map = storage.get_multiple(vec![key]).await?;
    let v = map.get(&wasm_bindgen::JsValue::from_str(key));
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let text = match v.as_string() {
        Some(t) => t,
        None => js_sys::JSON::stringify(&v)?.as_string().unwrap_or_default(),
    };
    from_json(text.as_bytes()).map(Some)
}

/// Stores a value as one JSON string (one FFI crossing instead of one per field).
pub async fn store_put<T: Serialize>(storage: &worker::Storage, key: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string(value)?;
    storage.put_raw(key, wasm_bindgen::JsValue::from_str(&text)).await
}

/// Reads a plain string value.
pub async fn store_get_str(storage: &worker::Storage, key: &str) -> Result<Option<String>> {
    let map = storage.get_multiple(vec![key]).await?;
    Ok(map.get(&wasm_bindgen::JsValue::from_str(key)).as_string())
}
