//! `dice-mcp ask` against a local mock of OpenAI's `/v1/responses`.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::binary::BIN;

#[derive(Clone, Default)]
struct Seen {
    body: Arc<Mutex<Option<Value>>>,
    authorization: Arc<Mutex<Option<String>>>,
}

async fn mock_openai(status: StatusCode, reply: Value) -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/v1/responses",
            post(
                move |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| {
                    let reply = reply.clone();
                    async move {
                        *seen.body.lock().unwrap() = Some(body);
                        *seen.authorization.lock().unwrap() = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        (status, Json(reply))
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

async fn ask(base: &str, api_key: Option<&str>) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args([
        "ask",
        "--url",
        "https://dice.example/mcp",
        "--token",
        "tok123",
        "--openai-base-url",
        base,
        "Roll three dice",
    ]);
    command
        .env_remove("OPENAI_API_KEY")
        .env_remove("DICE_MCP_TOKEN");
    if let Some(key) = api_key {
        command.env("OPENAI_API_KEY", key);
    }
    command.output().await.unwrap()
}

#[tokio::test]
async fn ask_sends_the_guides_exact_request_and_prints_calls_and_answer() {
    let reply = json!({"id": "resp_1", "output": [
        {"type": "mcp_list_tools", "server_label": "dice", "tools": [{"name": "roll_dice"}, {"name": "roll"}]},
        {"type": "mcp_call", "server_label": "dice", "name": "roll_dice", "arguments": "{\"n_dice\":3}", "output": "[4, 2, 6]", "error": null},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "You rolled 4, 2 and 6."}]}
    ]});
    let (base, seen) = mock_openai(StatusCode::OK, reply).await;
    let output = ask(&base, Some("sk-test")).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("[mcp] listed tools from dice: roll_dice, roll"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[mcp] called roll_dice({\"n_dice\":3}) -> [4, 2, 6]"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("You rolled 4, 2 and 6."),
        "{stdout}"
    );

    assert_eq!(
        seen.body.lock().unwrap().clone().unwrap(),
        json!({
            "model": "gpt-4.1",
            "tools": [{
                "type": "mcp",
                "server_label": "dice",
                "server_url": "https://dice.example/mcp",
                "require_approval": "never",
                "headers": {"Authorization": "Bearer tok123"}
            }],
            "input": "Roll three dice"
        })
    );
    assert_eq!(
        seen.authorization.lock().unwrap().as_deref(),
        Some("Bearer sk-test")
    );
}

#[tokio::test]
async fn a_424_from_openai_becomes_advice_to_run_check() {
    let reply = json!({"error": {"message": "Error retrieving tool list from MCP server: 'dice'. Http status code: 401 (Unauthorized)", "type": "external_connector_error"}});
    let (base, _) = mock_openai(StatusCode::FAILED_DEPENDENCY, reply).await;
    let output = ask(&base, Some("sk-test")).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dice-mcp check --url https://dice.example/mcp"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Http status code: 401"),
        "OpenAI's own message is kept: {stderr}"
    );
}

#[tokio::test]
async fn a_missing_api_key_is_named() {
    let (base, seen) = mock_openai(StatusCode::OK, json!({})).await;
    let output = ask(&base, None).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("OPENAI_API_KEY"));
    assert!(seen.body.lock().unwrap().is_none(), "nothing was sent");
}
