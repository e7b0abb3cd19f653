//! rmcp's own client against dice-mcp, for every protocol revision and both transports.

use mcp_core::SessionMode;
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
        ProtocolVersion,
    },
    service::{RoleClient, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::support::TestServer;

type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's transport on the shared client, which does not follow redirects (nor does
/// OpenAI's), so a redirect fails these tests instead of passing them unseen.
fn transport(url: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::with_client(
        test_support::http(),
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    )
}

async fn connect(url: &str, version: ProtocolVersion) -> Client {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("it", "0.0.0"),
    )
    .with_protocol_version(version)
    .serve(transport(url))
    .await
    .unwrap()
}

async fn connect_discover(url: &str) -> Client {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("it", "0.0.0"),
    )
    .serve_with_lifecycle(
        transport(url),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .unwrap()
}

async fn call(client: &Client, name: &'static str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result.content[0].as_text().unwrap().text.clone()
}

/// The whole tool surface, as any client sees it.
async fn exercise_tools(client: &Client) {
    let tools = client.list_all_tools().await.unwrap();
    let roll_dice = tools.iter().find(|t| t.name == "roll_dice").unwrap();
    assert_eq!(
        roll_dice.description.as_deref(),
        Some("Roll `n_dice` 6-sided dice and return the results.")
    );
    assert_eq!(
        Value::Object((*roll_dice.input_schema).clone()),
        json!({"type":"object","properties":{"n_dice":{"type":"integer"}},"required":["n_dice"]})
    );
    assert!(tools.iter().any(|t| t.name == "roll"));

    let result = call(client, "roll_dice", json!({"n_dice": 5})).await;
    assert_ne!(result.is_error, Some(true));
    let rolls: Vec<i64> = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(rolls.len(), 5);
    assert!(rolls.iter().all(|r| (1..=6).contains(r)), "{rolls:?}");
    assert_eq!(result.structured_content, Some(json!({ "result": rolls })));

    let result = call(client, "roll", json!({"expression": "4d6kh3+2"})).await;
    assert_ne!(result.is_error, Some(true));
    let total = result.structured_content.as_ref().unwrap()["total"]
        .as_i64()
        .unwrap();
    assert!((5..=20).contains(&total), "{total}");

    for (name, bad) in [
        ("roll_dice", json!({"n_dice": 0})),
        ("roll_dice", json!({"n_dice": -1})),
        ("roll_dice", json!({"n_dice": 1001})),
        ("roll_dice", json!({"n_dice": "five"})),
        ("roll", json!({"expression": "4d6+"})),
        ("roll", json!({"expression": "1000000d6"})),
    ] {
        let result = call(client, name, bad.clone()).await;
        assert_eq!(result.is_error, Some(true), "{name} {bad}");
    }

    let unknown = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await;
    assert!(unknown.is_err(), "an unknown tool is a JSON-RPC error");
}

async fn every_initialize_revision_works(transport: SessionMode) {
    let server = TestServer::start(transport).await;
    for version in [
        ProtocolVersion::V_2025_03_26,
        ProtocolVersion::V_2025_06_18,
        ProtocolVersion::V_2025_11_25,
    ] {
        let client = connect(&server.mcp_url, version.clone()).await;
        let negotiated = client.peer_info().unwrap().protocol_version.clone();
        assert_eq!(negotiated, version);
        exercise_tools(&client).await;
        client.cancel().await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn stateful_server_serves_2025_03_26_06_18_and_11_25_clients() {
    every_initialize_revision_works(SessionMode::Stateful).await;
}

#[tokio::test]
async fn stateless_server_serves_2025_03_26_06_18_and_11_25_clients() {
    every_initialize_revision_works(SessionMode::Stateless).await;
}

#[tokio::test]
async fn stateless_2026_07_28_discover_clients_work_on_both_transports() {
    for transport in [SessionMode::Stateless, SessionMode::Stateful] {
        let server = TestServer::start(transport).await;
        let client = connect_discover(&server.mcp_url).await;
        exercise_tools(&client).await;
        client.cancel().await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn trailing_slash_url_works_without_redirect() {
    let server = TestServer::start(SessionMode::Stateless).await;
    // Answered in place: a client that does not follow redirects gets 200, not a 3xx.
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let direct = test_support::post_rpc(&format!("{}/", server.mcp_url), None, &list).await;
    assert_eq!(direct.status(), reqwest::StatusCode::OK);
    let client = connect(
        &format!("{}/", server.mcp_url),
        ProtocolVersion::V_2025_06_18,
    )
    .await;
    exercise_tools(&client).await;
    client.cancel().await.unwrap();
    server.stop().await;
}
