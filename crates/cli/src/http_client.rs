//! A small HTTP/1.1 client over hyper (plain `http://` only: webhook destinations and
//! benchmark targets are on loopback in development). Connections are pooled.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Error;

/// A pooled HTTP/1 client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with keep-alive connections and `TCP_NODELAY`.
    #[must_use]
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let inner = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(connector);
        Self { inner }
    }

    /// Sends one request and reads the whole response, failing after `timeout`.
    pub async fn send(
        &self,
        method: Method,
        uri: &Uri,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        let mut req = Request::builder().method(method).uri(uri.clone());
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| Error::Http(e.to_string()))?;
            let value = HeaderValue::from_str(v).map_err(|e| Error::Http(e.to_string()))?;
            req = req.header(name, value);
        }
        let req = req.body(Full::new(body.unwrap_or_default())).map_err(|e| Error::Http(e.to_string()))?;
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|e| Error::Http(format!("request failed: {e}")))?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| Error::Http(format!("reading body: {e}")))?.to_bytes();
            Ok(HttpResponse { status: parts.status, headers: parts.headers, body })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| Error::Http("timed out".to_owned()))?
    }
}
