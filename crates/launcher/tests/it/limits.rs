//! The guard rails as the dice server is served: health, the session cap, the dice limit.
//! (The Host/Origin guard and the body limit are tested on mcp-core's router.)

use std::time::Duration;

use dice_tools::DiceConfig;
use mcp_core::{HttpConfig, SessionLimits, SessionMode};
use reqwest::{StatusCode, header};
use serde_json::json;
use test_support::{SESSION_HEADER, http, initialize_body, mcp_post, open_session};

use crate::support::TestServer;

#[tokio::test]
async fn healthz_answers_200() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let response = http()
        .get(format!("{}/healthz", server.base))
        .send()
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
    let mut sessions = Vec::new();
    for _ in 0..2 {
        sessions.push(open_session(&server.mcp_url, "2025-06-18", |request| request).await);
    }
    let response = mcp_post(&server.mcp_url)
        .json(&initialize_body(1, "2025-06-18", "it"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));

    let deleted = http()
        .delete(&server.mcp_url)
        .header(SESSION_HEADER, &sessions[0])
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
