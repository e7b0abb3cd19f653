//! The MCP the bench speaks by hand to set its rows up: a stateful session to reuse, an
//! `/sse` session whose stream is drained in the background, and many sessions opened and
//! closed to see what they cost in memory.

use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderMap};
use serde_json::{Value, json};
use sse_stream::SseStream;

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

/// Opens `/sse` beside `mcp_url`, initializes the session, leaves a task draining the
/// stream (the answers to the posts arrive there), and returns the session's message URL.
pub async fn open_sse(mcp_url: &str, token: &str) -> anyhow::Result<String> {
    let base = mcp_url
        .trim_end_matches("/mcp")
        .trim_end_matches("/sse")
        .to_owned();
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}/sse"))
        .bearer_auth(token)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .context("GET /sse failed")?
        .error_for_status()
        .context("GET /sse was refused")?;
    // The endpoint event is decoded; the answers after it are only drained, as raw bytes, so
    // that reading them costs the bench as little as it can.
    let mut body = Box::pin(response.bytes_stream());
    let path = {
        let mut events = SseStream::from_bytes_stream(body.as_mut());
        loop {
            let event = events
                .next()
                .await
                .context("the /sse stream ended before its endpoint event")?
                .context("could not read the /sse stream")?;
            if event.event.as_deref() == Some("endpoint") {
                break event.data.context("an endpoint event without data")?;
            }
        }
    };
    let endpoint = format!("{base}{path}");
    tokio::spawn(async move { while body.next().await.is_some() {} });
    http.post(&endpoint)
        .bearer_auth(token)
        .json(&initialize("2024-11-05"))
        .send()
        .await
        .context("initialize on /sse failed")?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    http.post(&endpoint)
        .bearer_auth(token)
        .json(&initialized())
        .send()
        .await
        .context("notifications/initialized on /sse failed")?;
    Ok(endpoint)
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
                let response = http
                    .post(url)
                    .header(ACCEPT, ACCEPT_MCP)
                    .json(init)
                    .send()
                    .await?;
                let session = session_id(response.headers())?;
                let _ = response.bytes().await;
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
