//! `serve --session-store`: two real `dice-mcp serve` processes sharing a `redis-server`
//! of the test's own serve one session between them; with `--stateless` it is refused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use test_support::{
    PROTOCOL_VERSION_HEADER, RedisServer, SESSION_HEADER, mcp_post, open_session, rpc_message,
};
use tokio::process::Command;

use crate::binary::{BIN, start};

const VERSION: &str = "2025-06-18";

#[tokio::test]
async fn two_servers_sharing_redis_serve_one_session() {
    let redis = RedisServer::start();
    let url = redis.url();
    let args = ["--addr", "127.0.0.1:0", "--session-store", url.as_str()];
    let (_a, a, _) = start(&args).await;
    let (_b, b, _) = start(&args).await;
    let id = open_session(&a, VERSION, |request| request).await;

    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "roll", "arguments": {"expression": "2d20kh1+3"}}});
    let response = mcp_post(&b)
        .header(SESSION_HEADER, &id)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let reply = rpc_message(response, 7).await;
    let total = reply["result"]["structuredContent"]["total"]
        .as_i64()
        .unwrap();
    assert!((4..=23).contains(&total), "{reply}");
}

#[tokio::test]
async fn a_session_store_with_stateless_is_refused_naming_both_flags() {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--stateless"])
            .args(["--session-store", "redis://127.0.0.1:1/0"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--session-store") && stderr.contains("--stateless"),
        "{stderr}"
    );
}
