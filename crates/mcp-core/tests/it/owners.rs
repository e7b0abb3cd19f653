//! Sessions belong to the principal that opened them; each principal has a session quota
//! and, when configured, a rate limit. The principal comes from an `x-principal` header
//! here, put into the extensions by a layer, as the launcher does from a verified token.

use std::time::Duration;

use axum::{extract::Request, middleware::Next, response::Response};
use mcp_core::{
    HttpConfig, McpServer, Principal, RateLimit, RequestLimits, SessionLimits, SessionMode,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use test_support::{
    EventStream, PROTOCOL_VERSION_HEADER, SESSION_HEADER, http, initialize_body, mcp_post,
    open_session,
};

use crate::{Running, Sleeper, start_app};

pub(crate) const VERSION: &str = "2025-06-18";

/// Names the request's principal after its `x-principal` header (the tests' stand-in for a
/// verified token).
pub(crate) async fn principal_from_header(mut request: Request, next: Next) -> Response {
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

/// Opens a `/mcp` session as `who`; its id.
pub(crate) async fn open_session_as(server: &Running, who: &str) -> String {
    let url = format!("{}/mcp", server.url);
    open_session(&url, VERSION, |request| request.header("x-principal", who)).await
}

/// The status of a `method` request in `session` as `who` (POST: `tools/list`).
pub(crate) async fn in_session(
    server: &Running,
    who: &str,
    session: &str,
    method: Method,
) -> StatusCode {
    let mut request = http()
        .request(method.clone(), format!("{}/mcp", server.url))
        .header("accept", test_support::ACCEPT_BOTH)
        .header("x-principal", who)
        .header(SESSION_HEADER, session)
        .header(PROTOCOL_VERSION_HEADER, VERSION);
    if method == Method::POST {
        request = request.json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn another_principal_gets_404_on_a_stateful_session_and_cannot_delete_it() {
    let server = start_with_principals(HttpConfig::default()).await;
    let id = open_session_as(&server, "alice").await;

    for method in [Method::POST, Method::GET, Method::DELETE] {
        let status = in_session(&server, "mallory", &id, method.clone()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} by another principal"
        );
    }
    // Nor may a request without a principal use it.
    let anonymous = mcp_post(&format!("{}/mcp", server.url))
        .header(SESSION_HEADER, &id)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
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

/// `GET /sse` as `who`.
async fn get_sse_as(server: &Running, who: &str) -> reqwest::Response {
    http()
        .get(format!("{}/sse", server.url))
        .header("x-principal", who)
        .send()
        .await
        .unwrap()
}

/// Opens `/sse` as `who`; the stream (kept open) and the message URL.
async fn open_sse_as(server: &Running, who: &str) -> (EventStream, String) {
    let response = get_sse_as(server, who).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = EventStream::from_response(response);
    let path = events.endpoint().await;
    (events, format!("{}{path}", server.url))
}

#[tokio::test]
async fn another_principal_cannot_post_into_an_sse_session() {
    let server = start_with_principals(HttpConfig::default()).await;
    let (mut events, messages) = open_sse_as(&server, "alice").await;
    let post = |who: &str, id: i64| {
        http()
            .post(&messages)
            .header("x-principal", who)
            .json(&initialize_body(id, "2024-11-05", who))
            .send()
    };
    assert_eq!(
        post("mallory", 66).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("alice", 1).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    // The first message on alice's stream answers alice: mallory's request never reached
    // her session (had it, its answer, id 66, would have come first).
    let first = events
        .next_event()
        .await
        .expect("an answer on alice's stream");
    let message: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(message["id"], 1, "{message}");
    assert!(message["result"].is_object(), "{message}");
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
    let first_id = open_session_as(&server, "alice").await;
    let _stream = open_sse_as(&server, "alice").await;

    let over = mcp_post(&format!("{}/mcp", server.url))
        .header("x-principal", "alice")
        .json(&initialize_body(1, VERSION, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers().contains_key("retry-after"));
    let sse_over = get_sse_as(&server, "alice").await;
    assert_eq!(sse_over.status(), StatusCode::TOO_MANY_REQUESTS);

    open_session_as(&server, "bob").await;
    // Ending a session gives the place back.
    let ended = in_session(&server, "alice", &first_id, Method::DELETE).await;
    assert_eq!(ended, StatusCode::NO_CONTENT);
    open_session_as(&server, "alice").await;
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
            let mut request =
                mcp_post(&url).json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
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
