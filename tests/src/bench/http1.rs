//! A bare HTTP/1.1 client for the closed-loop phases: one kept-alive connection per
//! simulated client, requests written by hyper with nothing around them.
//!
//! The general client (`reqwest`) runs every request through a connection pool, a
//! redirect policy, a timeout layer and header maps built per request. On a two-core
//! machine that shares its CPU with the services it measures, that was a tenth of the
//! machine in the append phase: the benchmark measured its own load generator. The
//! raw baseline's clients are likewise one plain connection each.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// One client's connection to one HTTP service, opened on first use and again after
/// any failure.
pub struct Connection {
    addr: String,
    host: HeaderValue,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection to `base` (`http://host:port`), not opened yet.
    pub fn new(base: &str) -> anyhow::Result<Connection> {
        let addr = base
            .strip_prefix("http://")
            .context("the bench's HTTP client speaks plain http:// only")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Connection {
            host: HeaderValue::from_str(&addr)?,
            addr,
            send: None,
        })
    }

    /// Sends one request and reads the whole response, within `timeout`.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        authorization: &HeaderValue,
        body: Bytes,
        timeout: Duration,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let outcome =
            tokio::time::timeout(timeout, self.exchange(method, path, authorization, body))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no response within {timeout:?}")));
        if outcome.is_err() {
            self.send = None;
        }
        outcome
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        authorization: &HeaderValue,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let send = match &mut self.send {
            Some(send) => send,
            None => self.send.insert(self.open().await?),
        };
        send.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, authorization.clone());
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body))?;
        let response = send.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(send)
    }
}

/// The connections of a closed loop's clients, one each, with the `Authorization` header
/// they all send (made once, as the raw baseline prepares its statement once).
pub struct Clients {
    connections: Vec<tokio::sync::Mutex<Connection>>,
    authorization: HeaderValue,
}

impl Clients {
    /// `clients` connections to `base`, none opened yet.
    pub fn new(base: &str, clients: usize, authorization: HeaderValue) -> anyhow::Result<Clients> {
        Ok(Clients {
            connections: (0..clients)
                .map(|_| Connection::new(base).map(tokio::sync::Mutex::new))
                .collect::<anyhow::Result<_>>()?,
            authorization,
        })
    }

    /// How many clients (connections) there are.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Sends one request on client `client`'s connection and reads the whole response.
    pub async fn send(
        &self,
        client: usize,
        method: Method,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let Some(connection) = self.connections.get(client) else {
            bail!("no connection for client {client}");
        };
        connection
            .lock()
            .await
            .send(method, path, &self.authorization, body, timeout)
            .await
    }
}

/// A response whose status is not `expected`, as an error naming the request.
pub fn expect(
    what: &str,
    (status, body): (StatusCode, Bytes),
    expected: StatusCode,
) -> anyhow::Result<Bytes> {
    if status != expected {
        bail!("{what}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}
