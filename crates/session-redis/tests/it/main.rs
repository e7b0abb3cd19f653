//! Two servers sharing a real Redis (a `redis-server` these tests start on a free port):
//! a session opened on one calls tools on the other, stays its owner's there, ends on
//! both at one `DELETE`, and while Redis is down new sessions get `503`.
//!
//! `redis-server` must be installed (`apt-get install redis-server`; `cargo xtask ci`
//! does it): without it these tests fail, they do not skip.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{extract::Request, middleware::Next, response::Response};
use dice_tools::DiceTools;
use mcp_core::{HttpConfig, McpServer, Principal, SessionLimits, SessionMode};
use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_redis::{KEY_PREFIX, RedisSessionStore};
use test_support::{
    ACCEPT_BOTH, PROTOCOL_VERSION_HEADER, RedisServer, SESSION_HEADER, http, initialize_body,
    mcp_post, rpc_message,
};
use tokio::sync::oneshot;

const VERSION: &str = "2025-06-18";

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

/// One dice server on its own port; stopped on drop.
struct Replica {
    url: String,
    _stop: oneshot::Sender<()>,
}

const IDLE: Duration = Duration::from_secs(120);

fn config(mode: SessionMode) -> HttpConfig {
    HttpConfig::builder()
        .session_mode(mode)
        .session_limits(SessionLimits {
            idle_timeout: IDLE,
            ..SessionLimits::default()
        })
        .build()
        .unwrap()
}

/// A stateful replica sharing the Redis at `redis` (or, with `None`, keeping its sessions
/// to itself); principals come from an `x-principal` header.
async fn replica(redis: Option<&str>) -> Replica {
    let config = config(SessionMode::Stateful);
    let server = match redis {
        Some(url) => {
            let store = Arc::new(RedisSessionStore::open(url).unwrap());
            McpServer::with_session_store(config, DiceTools::default, store).unwrap()
        }
        None => McpServer::new(config, DiceTools::default),
    };
    serve(server).await
}

async fn serve(server: McpServer) -> Replica {
    let app = server
        .router()
        .layer(axum::middleware::from_fn(principal_from_header));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve(listener, app, async move {
                let _ = stopped.await;
            })
            .await
    });
    Replica { url, _stop: stop }
}

async fn open_as(replica: &Replica, who: &str) -> String {
    test_support::open_session(&replica.url, VERSION, |request| {
        request.header("x-principal", who)
    })
    .await
}

fn in_session(
    replica: &Replica,
    who: &str,
    session: &str,
    method: Method,
) -> reqwest::RequestBuilder {
    http()
        .request(method, &replica.url)
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", who)
        .header(SESSION_HEADER, session)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
}

/// `roll_dice` for two dice in `session` on `replica` as `who`: the status, and the JSON-RPC
/// answer when it is `200`.
async fn roll_as(replica: &Replica, who: &str, session: &str) -> (StatusCode, Option<Value>) {
    let response = in_session(replica, who, session, Method::POST)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        return (status, None);
    }
    (status, Some(rpc_message(response, 7).await))
}

/// Asserts `answer` is a successful `roll_dice` of two dice.
fn assert_rolled_two(answer: &Value) {
    let rolls = &answer["result"]["structuredContent"]["result"];
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    assert_eq!(rolls.as_array().map(Vec::len), Some(2), "{answer}");
}

async fn delete_as(replica: &Replica, who: &str, session: &str) -> StatusCode {
    in_session(replica, who, session, Method::DELETE)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_session_opened_on_one_server_calls_tools_on_another_sharing_redis() {
    let redis = RedisServer::start();
    let (a, b) = (
        replica(Some(&redis.url())).await,
        replica(Some(&redis.url())).await,
    );
    let id = open_as(&a, "alice").await;

    let (status, answer) = roll_as(&b, "alice", &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_rolled_two(&answer.unwrap());
    let (status, answer) = roll_as(&a, "alice", &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_rolled_two(&answer.unwrap());

    // The entry is JSON under dice-mcp:session:{id}, expiring with the idle timeout.
    let mut redis_client = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{KEY_PREFIX}{id}");
    let entry: String = redis_client.get(&key).await.unwrap();
    let entry: Value = serde_json::from_str(&entry).unwrap();
    assert_eq!(entry["owner"], "alice");
    assert_eq!(
        entry["state"]["initialize_params"]["protocolVersion"],
        VERSION
    );
    let ttl: i64 = redis_client.ttl(&key).await.unwrap();
    assert!((1..=120).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn without_the_store_the_other_server_answers_404() {
    let (a, b) = (replica(None).await, replica(None).await);
    let id = open_as(&a, "alice").await;
    assert_eq!(roll_as(&b, "alice", &id).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_principal_gets_404_for_the_session_on_the_other_server() {
    let redis = RedisServer::start();
    let (a, b) = (
        replica(Some(&redis.url())).await,
        replica(Some(&redis.url())).await,
    );
    let id = open_as(&a, "alice").await;

    // Before B holds the session (it would restore it) and after.
    assert_eq!(roll_as(&b, "mallory", &id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(roll_as(&b, "alice", &id).await.0, StatusCode::OK);
    assert_eq!(roll_as(&b, "mallory", &id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(delete_as(&b, "mallory", &id).await, StatusCode::NOT_FOUND);
    assert_eq!(roll_as(&a, "alice", &id).await.0, StatusCode::OK);
}

#[tokio::test]
async fn delete_on_one_server_ends_the_session_on_the_other() {
    let redis = RedisServer::start();
    let (a, b) = (
        replica(Some(&redis.url())).await,
        replica(Some(&redis.url())).await,
    );
    let id = open_as(&a, "alice").await;
    assert_eq!(roll_as(&b, "alice", &id).await.0, StatusCode::OK);

    assert_eq!(delete_as(&a, "alice", &id).await, StatusCode::NO_CONTENT);
    assert_eq!(roll_as(&b, "alice", &id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(roll_as(&a, "alice", &id).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_redis_down_new_sessions_get_503_and_stateless_still_serves() {
    let redis = RedisServer::start();
    let (a, b) = (
        replica(Some(&redis.url())).await,
        replica(Some(&redis.url())).await,
    );
    let stateless = serve(McpServer::new(
        config(SessionMode::Stateless),
        DiceTools::default,
    ))
    .await;
    let id = open_as(&a, "alice").await;
    let port = redis.stop();

    let started = Instant::now();
    let response = mcp_post(&a.url)
        .header("x-principal", "alice")
        .json(&initialize_body(1, VERSION, "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(response.headers().get(SESSION_HEADER).is_none());
    let text = response.text().await.unwrap();
    assert!(
        text.contains("store that keeps sessions is unreachable"),
        "{text}"
    );
    // B cannot take the session over; A, which holds it, serves it on.
    assert_eq!(
        roll_as(&b, "alice", &id).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(roll_as(&a, "alice", &id).await.0, StatusCode::OK);
    // Stateless traffic has no sessions and no store.
    let response = mcp_post(&stateless.url)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_rolled_two(&rpc_message(response, 7).await);

    // Redis back (empty: no persistence), the connection comes back by itself.
    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = mcp_post(&a.url)
            .header("x-principal", "alice")
            .json(&initialize_body(1, VERSION, "test"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new session after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
