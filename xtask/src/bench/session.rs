//! The MCP the bench speaks by hand to set its rows up: a stateful session to reuse, and
//! many sessions opened and closed to see what they cost in memory. (The `/sse` row's
//! sessions are `sse_load.rs`'s.)

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderMap};
use serde_json::{Value, json};

/// The Accept header Streamable HTTP requires on a POST.
const ACCEPT_MCP: &str = "application/json, text/event-stream";

/// An `initialize` request for `protocol_version`.
fn initialize(protocol_version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": protocol_version, "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"}}})
}

fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

fn session_id(headers: &HeaderMap) -> anyhow::Result<String> {
    Ok(headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .context("no Mcp-Session-Id from initialize")?
        .to_owned())
}

/// Initializes a stateful session on `url` (`…/mcp`) with `token` and returns its id.
pub async fn open(url: &str, token: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let response = http
        .post(url)
        .bearer_auth(token)
        .header(ACCEPT, ACCEPT_MCP)
        .json(&initialize("2025-06-18"))
        .send()
        .await
        .context("initialize failed")?;
    let session = session_id(response.headers())?;
    let _ = response.bytes().await;
    http.post(url)
        .bearer_auth(token)
        .header(ACCEPT, ACCEPT_MCP)
        .header("mcp-session-id", &session)
        .json(&initialized())
        .send()
        .await
        .context("notifications/initialized failed")?;
    Ok(session)
}

/// Initializes a stateful session on `url` without a token and returns its id.
async fn initialize_one(http: &reqwest::Client, url: &str, init: &Value) -> anyhow::Result<String> {
    let response = http
        .post(url)
        .header(ACCEPT, ACCEPT_MCP)
        .json(init)
        .send()
        .await?;
    let session = session_id(response.headers())?;
    let _ = response.bytes().await;
    Ok(session)
}

/// `GET` an `/sse` URL (with `token`, if any) and the response, once its headers are in.
pub async fn get_sse(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let mut request = http.get(url).header(ACCEPT, "text/event-stream");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .context("GET /sse failed")?
        .error_for_status()
        .context("GET /sse was refused")
}

/// Opens and closes (DELETE) `count` stateful sessions on `url`, without a token, 8 at a
/// time.
pub async fn open_and_close(url: &str, count: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let init = initialize("2025-06-18");
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..count)
        .map(|_| {
            let (http, init) = (http.clone(), &init);
            async move {
                let session = initialize_one(&http, url, init).await?;
                http.delete(url)
                    .header("mcp-session-id", session)
                    .send()
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Something held open for the memory points: a stateful session (it lives in the server
/// without a connection) or an `/sse` stream (its response, whose connection stays open).
#[derive(Debug)]
pub enum Held {
    Session(#[allow(dead_code, reason = "held, not read")] String),
    Stream(#[allow(dead_code, reason = "held, not read")] reqwest::Response),
    Connection(#[allow(dead_code, reason = "held, not read")] tokio::net::TcpStream),
}

/// Opens `count` HTTP/1.1 connections to the server of `url`, 8 at a time, each after
/// one `GET /healthz` answered (any status), and keeps them open and idle: what a
/// connection alone costs the server.
pub async fn hold_connections(url: &str, count: usize) -> anyhow::Result<Vec<Held>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(url).context("not a URL")?;
    let host = url.host_str().context("no host")?.to_owned();
    let port = url.port_or_known_default().context("no port")?;
    let opened: Vec<anyhow::Result<Held>> = futures_util::stream::iter(0..count)
        .map(|_| {
            let host = host.clone();
            async move {
                let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .context("could not connect")?;
                let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
                stream.write_all(request.as_bytes()).await?;
                let mut answer = [0_u8; 1024];
                let read = stream.read(&mut answer).await?;
                anyhow::ensure!(answer[..read].starts_with(b"HTTP/1.1 "), "no HTTP answer");
                Ok(Held::Connection(stream))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    opened.into_iter().collect()
}

/// Opens `count` stateful sessions on `url` (`…/mcp`, no token), 8 at a time, and keeps
/// them.
pub async fn hold_stateful(url: &str, count: usize) -> anyhow::Result<Vec<Held>> {
    let http = reqwest::Client::new();
    let init = initialize("2025-06-18");
    let opened: Vec<anyhow::Result<Held>> = futures_util::stream::iter(0..count)
        .map(|_| {
            let (http, init) = (http.clone(), &init);
            async move { Ok(Held::Session(initialize_one(&http, url, init).await?)) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    opened.into_iter().collect()
}

/// Opens `count` `/sse` streams beside `mcp_url` (no token), 8 at a time, and keeps them
/// open without reading past their headers.
pub async fn hold_sse(mcp_url: &str, count: usize) -> anyhow::Result<Vec<Held>> {
    let url = mcp_url.replace("/mcp", "/sse");
    // One connection per stream, none pooled for reuse.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .context("could not build an HTTP client")?;
    let opened: Vec<anyhow::Result<Held>> = futures_util::stream::iter(0..count)
        .map(|_| {
            let (http, url) = (http.clone(), &url);
            async move { Ok(Held::Stream(get_sse(&http, url, None).await?)) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    opened.into_iter().collect()
}
