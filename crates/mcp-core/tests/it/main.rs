//! mcp-core on its own, with a tiny handler (no dice): graceful shutdown drains in-flight
//! requests, idle sessions expire, and the router answers without the launcher.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_core::{HttpConfig, McpServer, SessionLimits, SessionMode};
use reqwest::StatusCode;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities,
        ServerConfig as InitResult,
    },
    service::RequestContext,
};
use serde_json::{Value, json};
use test_support::{PROTOCOL_VERSION_HEADER, SESSION_HEADER, http, mcp_post, open_session};
use tokio::sync::oneshot;

mod direct;
mod limits;
mod owners;
mod rest;
mod router;
mod shared;
mod sse_redirect;

/// One tool, `sleep {ms}`, that answers "slept" after waiting (or, given `bytes`, that many
/// bytes of text).
#[derive(Clone)]
struct Sleeper;

impl ServerHandler for Sleeper {
    fn get_info(&self) -> InitResult {
        InitResult::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ms = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("ms"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let bytes = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("bytes"))
            .and_then(Value::as_u64);
        let text = match bytes {
            Some(n) => "x".repeat(usize::try_from(n).unwrap()),
            None => "slept".to_owned(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

struct Running {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mcp_core::Error>>,
}

async fn start(config: HttpConfig) -> Running {
    let server = McpServer::new(config, || Sleeper);
    let app = server.router();
    start_app(server, app).await
}

/// Serves `app` (`server`'s routes, perhaps with layers around them).
async fn start_app(server: McpServer, app: axum::Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, app, async move {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        url,
        stop: Some(stop),
        task,
    }
}

fn sleep_call(ms: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "sleep", "arguments": {"ms": ms}}})
}

#[tokio::test]
async fn shutdown_signal_lets_in_flight_requests_finish() {
    let config = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .build()
        .unwrap();
    let mut server = start(config).await;
    let in_flight = tokio::spawn({
        let url = format!("{}/mcp", server.url);
        async move { mcp_post(&url).json(&sleep_call(600)).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let signalled = Instant::now();
    server.stop.take().unwrap().send(()).unwrap();

    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "slept");

    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returned after draining")
        .unwrap()
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let after = http().get(format!("{}/healthz", server.url)).send().await;
    assert!(after.is_err(), "no new connections after shutdown");
}

#[tokio::test]
async fn open_streams_are_cut_after_the_grace_period() {
    let config = HttpConfig::builder()
        .shutdown_grace(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut server = start(config).await;
    let url = format!("{}/mcp", server.url);
    let session = open_session(&url, "2025-06-18", |request| request).await;
    // A standalone GET stream stays open until the server ends it.
    let stream = open_standalone_stream(&url, &session).await;
    assert_eq!(stream.status(), StatusCode::OK);

    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("an open stream must not hold shutdown past the grace period")
        .unwrap()
        .unwrap();
    drop(stream);
}

/// `GET /mcp` in `session`: the stream on which the server may send unprompted messages.
async fn open_standalone_stream(url: &str, session: &str) -> reqwest::Response {
    http()
        .get(url)
        .header("accept", "text/event-stream")
        .header(SESSION_HEADER, session)
        .header(PROTOCOL_VERSION_HEADER, "2025-06-18")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idle_sessions_expire() {
    let limits = SessionLimits {
        max_sessions: 10,
        idle_timeout: Duration::from_millis(200),
        ..SessionLimits::default()
    };
    let config = HttpConfig::builder()
        .session_mode(SessionMode::Stateful)
        .session_limits(limits)
        .build()
        .unwrap();
    let server = start(config).await;
    let url = format!("{}/mcp", server.url);
    let session = open_session(&url, "2025-06-18", |request| request).await;
    let call = || {
        mcp_post(&url)
            .header(SESSION_HEADER, &session)
            .header(PROTOCOL_VERSION_HEADER, "2025-06-18")
            .json(&sleep_call(0))
            .send()
    };
    // The session works while it is in use, so a 404 below is its expiry and nothing else.
    assert_eq!(call().await.unwrap().status(), StatusCode::OK);

    // Each request counts as activity, so wait well past the idle timeout before asking.
    let mut status = StatusCode::OK;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        status = call().await.unwrap().status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
    }
    assert_eq!(status, StatusCode::NOT_FOUND, "an idle session is closed");
}

#[tokio::test]
async fn unknown_session_gets_404_and_healthz_200() {
    let server = start(HttpConfig::default()).await;
    let status = mcp_post(&format!("{}/mcp", server.url))
        .header(SESSION_HEADER, "no-such-session")
        .json(&sleep_call(0))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let health = http()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
