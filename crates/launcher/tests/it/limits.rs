//! The guard rails: Host/Origin checks, body limit, session cap, health.

use std::time::Duration;

use dice_tools::DiceConfig;
use mcp_core::{HttpConfig, SessionLimits, SessionMode};
use reqwest::{StatusCode, header};
use serde_json::json;

use crate::support::{TestServer, initialize_body, mcp_post};

fn list_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string()
}

#[tokio::test]
async fn healthz_answers_200() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let response = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    server.stop().await;
}

#[tokio::test]
async fn foreign_host_is_refused_and_configured_host_is_accepted() {
    let builder = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .allowed_host("abc.ngrok.app");
    let server = TestServer::start_with(builder, DiceConfig::default()).await;
    let response = mcp_post(&server.mcp_url)
        .header(header::HOST, "evil.example")
        .body(list_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()[header::CONNECTION], "close");
    let response = mcp_post(&server.mcp_url)
        .header(header::HOST, "abc.ngrok.app")
        .body(list_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn foreign_origin_is_refused_and_local_origin_is_accepted() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let response = mcp_post(&server.mcp_url)
        .header(header::ORIGIN, "https://evil.example")
        .body(list_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = mcp_post(&server.mcp_url)
        .header(header::ORIGIN, "http://localhost:6274")
        .body(list_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn two_mebibyte_body_gets_413_on_both_transports() {
    for transport in [SessionMode::Stateless, SessionMode::Stateful] {
        let server = TestServer::start(transport).await;
        let padding = "x".repeat(2 * 1024 * 1024);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"pad": padding}}});
        let response = mcp_post(&server.mcp_url)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        server.stop().await;
    }
}

#[tokio::test]
async fn chunked_oversized_body_gets_413_too() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = mcp_post(&server.mcp_url).body(body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await;
}

#[tokio::test]
async fn session_cap_answers_503_and_frees_up_after_delete() {
    let limits = SessionLimits {
        max_sessions: 2,
        idle_timeout: Duration::from_secs(60),
        ..SessionLimits::default()
    };
    let builder = HttpConfig::builder()
        .session_mode(SessionMode::Stateful)
        .session_limits(limits);
    let server = TestServer::start_with(builder, DiceConfig::default()).await;
    let http = crate::support::http();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let response = mcp_post(&server.mcp_url)
            .json(&initialize_body(1, "2025-06-18", "it"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        sessions.push(
            response.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let response = mcp_post(&server.mcp_url)
        .json(&initialize_body(1, "2025-06-18", "it"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));

    let deleted = http
        .delete(&server.mcp_url)
        .header("mcp-session-id", &sessions[0])
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let response = mcp_post(&server.mcp_url)
        .json(&initialize_body(1, "2025-06-18", "it"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn max_dice_setting_reaches_the_tool() {
    let server = TestServer::start_with(
        HttpConfig::builder().session_mode(SessionMode::Stateless),
        DiceConfig::default().with_max_dice(4).unwrap(),
    )
    .await;
    let call = |n: u32| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "roll_dice", "arguments": {"n_dice": n}}})
    };
    let ok: serde_json::Value = mcp_post(&server.mcp_url)
        .json(&call(4))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["result"]["isError"], false);
    let refused: serde_json::Value = mcp_post(&server.mcp_url)
        .json(&call(5))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["result"]["isError"], true);
    assert!(
        refused["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("1 to 4")
    );
    server.stop().await;
}
