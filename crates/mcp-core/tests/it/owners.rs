//! Sessions belong to the principal that opened them; each principal has a session quota
//! and, when configured, a rate limit. The principal comes from an `x-principal` header
//! here, put into the extensions by a layer, as the launcher does from a verified token.

use std::time::Duration;

use axum::{extract::Request, middleware::Next, response::Response};
use futures::StreamExt;
use mcp_core::{
    HttpConfig, McpServer, Principal, RateLimit, RequestLimits, SessionLimits, SessionMode,
};
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::{ACCEPT_BOTH, Running, Sleeper, start_app};

async fn principal_from_header(mut request: Request, next: Next) -> Response {
    if let Some(name) = request
        .headers()
        .get("x-principal")
        .and_then(|v| v.to_str().ok())
    {
        let principal = Principal::new(name);
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

async fn start_with_principals(config: HttpConfig) -> Running {
    let server = McpServer::new(config, || Sleeper);
    let app = server
        .mcp_routes()
        .layer(axum::middleware::from_fn(principal_from_header));
    start_app(server, app).await
}

fn initialize() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
}

/// `initialize` as `who`; the status and the session id.
async fn open_session(server: &Running, who: &str) -> (StatusCode, Option<String>) {
    let response = Client::new()
        .post(format!("{}/mcp", server.url))
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", who)
        .json(&initialize())
        .send()
        .await
        .unwrap();
    let id = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), id)
}

async fn in_session(
    server: &Running,
    who: &str,
    session: &str,
    method: reqwest::Method,
) -> StatusCode {
    let mut request = Client::new()
        .request(method.clone(), format!("{}/mcp", server.url))
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", who)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18");
    if method == reqwest::Method::POST {
        request = request.json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn another_principal_gets_404_on_a_stateful_session_and_cannot_delete_it() {
    let server = start_with_principals(HttpConfig::default()).await;
    let (status, id) = open_session(&server, "alice").await;
    assert_eq!(status, StatusCode::OK);
    let id = id.unwrap();
    let initialized = Client::new()
        .post(format!("{}/mcp", server.url))
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", "alice")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(initialized.status(), StatusCode::ACCEPTED);

    use reqwest::Method;
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let status = in_session(&server, "mallory", &id, method.clone()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} by another principal"
        );
    }
    // Nor may a request without a principal use it.
    let anonymous = Client::new()
        .post(format!("{}/mcp", server.url))
        .header("accept", ACCEPT_BOTH)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::NOT_FOUND);

    // The owner's session survived all of that.
    assert_eq!(
        in_session(&server, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    assert_eq!(
        in_session(&server, "alice", &id, Method::DELETE).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        in_session(&server, "alice", &id, Method::POST).await,
        StatusCode::NOT_FOUND
    );
}

/// Opens `/sse` as `who`; the stream (kept open) and the message URL.
async fn open_sse(server: &Running, who: &str) -> (reqwest::Response, String) {
    let mut stream = Client::new()
        .get(format!("{}/sse", server.url))
        .header("x-principal", who)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let path = text
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .unwrap()
        .trim()
        .to_owned();
    (stream, format!("{}{path}", server.url))
}

#[tokio::test]
async fn another_principal_cannot_post_into_an_sse_session() {
    let server = start_with_principals(HttpConfig::default()).await;
    let (stream, messages) = open_sse(&server, "alice").await;
    let post = |who: &'static str| {
        let messages = messages.clone();
        async move {
            Client::new()
                .post(messages)
                .header("x-principal", who)
                .json(&initialize())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(post("mallory").await, StatusCode::NOT_FOUND);
    assert_eq!(post("alice").await, StatusCode::ACCEPTED);
    // The answer to alice's initialize, and nothing mallory sent, is on alice's stream.
    let mut events = stream.bytes_stream();
    let mut text = String::new();
    while !text.contains("\"result\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(text.matches("\"result\"").count(), 1, "{text}");
}

#[tokio::test]
async fn a_principal_beyond_its_session_quota_gets_429_while_others_still_open_sessions() {
    let config = HttpConfig::builder()
        .session_limits(SessionLimits {
            max_sessions: 10,
            max_per_principal: 2,
            ..SessionLimits::default()
        })
        .build()
        .unwrap();
    let server = start_with_principals(config).await;
    let (first, first_id) = open_session(&server, "alice").await;
    let (_stream, _) = open_sse(&server, "alice").await;
    assert_eq!(first, StatusCode::OK);

    let over = Client::new()
        .post(format!("{}/mcp", server.url))
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", "alice")
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers().contains_key("retry-after"));
    let sse_over = Client::new()
        .get(format!("{}/sse", server.url))
        .header("x-principal", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(sse_over.status(), StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(open_session(&server, "bob").await.0, StatusCode::OK);
    // Ending a session gives the place back.
    let ended = in_session(
        &server,
        "alice",
        &first_id.unwrap(),
        reqwest::Method::DELETE,
    )
    .await;
    assert_eq!(ended, StatusCode::NO_CONTENT);
    assert_eq!(open_session(&server, "alice").await.0, StatusCode::OK);
}

#[tokio::test]
async fn beyond_the_rate_a_principal_gets_429_with_retry_after_and_others_are_not_slowed() {
    let config = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .request_limits(RequestLimits {
            rate: Some(RateLimit {
                requests: std::num::NonZeroU32::new(3).unwrap(),
                per: Duration::from_secs(60),
            }),
            ..RequestLimits::default()
        })
        .build()
        .unwrap();
    let server = start_with_principals(config).await;
    let list = |who: Option<&'static str>| {
        let url = format!("{}/mcp", server.url);
        async move {
            let mut request = Client::new()
                .post(url)
                .header("accept", ACCEPT_BOTH)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
            if let Some(who) = who {
                request = request.header("x-principal", who);
            }
            request.send().await.unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(list(Some("alice")).await.status(), StatusCode::OK);
    }
    let limited = list(Some("alice")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One request every 20 s comes back.
    assert!((1..=20).contains(&wait), "Retry-After: {wait}");
    assert_eq!(list(Some("bob")).await.status(), StatusCode::OK);
    // Without a principal, the client's address is what is counted.
    for _ in 0..3 {
        assert_eq!(list(None).await.status(), StatusCode::OK);
    }
    assert_eq!(list(None).await.status(), StatusCode::TOO_MANY_REQUESTS);
}
