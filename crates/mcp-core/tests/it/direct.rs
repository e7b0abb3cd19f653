//! The direct stateless dispatch answers exactly as rmcp's stateless service does: the same
//! requests, sent to one server with it and one without, get the same status, content type
//! and body; a request that asks for progress still gets rmcp's stream.

use mcp_core::{HttpConfig, McpServer, SessionMode};
use reqwest::StatusCode;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
        PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
        ServerConfig as InitResult, Tool,
    },
    service::RequestContext,
};
use serde_json::{Value, json};
use test_support::{ACCEPT_BOTH, PROTOCOL_VERSION_HEADER, http};

use crate::{Running, start_app};

/// Tools that show what a handler sees: `echo` answers its context (protocol revision,
/// `_meta`, whether the HTTP request parts are there), `fail` a protocol error, `panic`
/// panics, `progress`
/// reports progress when asked, `chatty` notifies the client unasked.
#[derive(Clone)]
struct Probe;

impl ServerHandler for Probe {
    fn get_info(&self) -> InitResult {
        InitResult::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object", "properties": {"x": {"type": "integer"}}});
        let Value::Object(schema) = schema else {
            unreachable!()
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "Echoes what the handler sees",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "fail" => Err(ErrorData::invalid_params("fail always fails", None)),
            "panic" => panic!("a handler bug"),
            "progress" => {
                if let Some(token) = context.meta.get_progress_token() {
                    context
                        .peer
                        .notify_progress(ProgressNotificationParam::new(token, 1.0))
                        .await
                        .unwrap();
                }
                Ok(CallToolResult::success(vec![ContentBlock::text("done")]).into())
            }
            "chatty" => {
                let _ = context.peer.notify_tool_list_changed().await;
                Ok(CallToolResult::success(vec![ContentBlock::text("said")]).into())
            }
            _ => {
                let seen = json!({
                    "protocol": context.protocol_version().map(|v| v.to_string()),
                    "meta": context.meta.0.0,
                    "http_parts": context.extensions.get::<axum::http::request::Parts>().is_some(),
                    "arguments": request.arguments,
                });
                Ok(CallToolResult::success(vec![ContentBlock::text(seen.to_string())]).into())
            }
        }
    }
}

async fn start(direct: bool) -> Running {
    let config = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .direct_dispatch(direct)
        .build()
        .unwrap();
    let server = McpServer::new(config, || Probe);
    let app = server.router();
    start_app(server, app).await
}

/// Status, content type and body (JSON when it is JSON) of one POST to `/mcp`.
async fn answer(base: &str, headers: &[(&str, &str)], body: &Value) -> (StatusCode, String, Value) {
    answer_text(base, headers, &body.to_string()).await
}

/// [`answer`] to a body written out (one that `json!` cannot make: a duplicate key).
async fn answer_text(
    base: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String, Value) {
    let mut request = http()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if !headers.iter().any(|(name, _)| *name == "accept") {
        request = request.header("accept", ACCEPT_BOTH);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

fn call(id: Value, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

#[tokio::test]
async fn direct_dispatch_answers_as_rmcp_does() {
    let direct = start(true).await;
    let rmcp = start(false).await;
    let bodies = [
        call(json!(1), "echo", json!({"x": 1})),
        call(json!("string-id"), "echo", json!({})),
        call(json!(3), "fail", json!({})),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo"}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": 7, "method": "resources/list"}),
        json!({"jsonrpc": "2.0", "id": 8, "method": "no/such/method", "params": {}}),
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"arguments": {}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 10, "result": {}}),
        test_support::initialize_body(11, "2025-06-18", "equivalence"),
        call(json!(12), "echo", json!({"x": 2})),
        // Not a request's shape, though it has `method` and `id`: rmcp refuses these.
        json!({"jsonrpc": "2.0", "id": 13, "method": "tools/list", "result": {}}),
        json!({"jsonrpc": "2.0", "id": 14, "method": "tools/list", "error": null}),
        json!({"jsonrpc": "2.0", "id": null, "method": "tools/list"}),
        json!({"jsonrpc": "1.0", "id": 15, "method": "tools/list"}),
        // A tools/call whose params are not a call's.
        json!({"jsonrpc": "2.0", "id": 16, "method": "tools/call", "params": {"name": 5}}),
        json!({"jsonrpc": "2.0", "id": 17, "method": "tools/call", "params": []}),
        // A tools/call that is not a request's shape, or not a valid one, or asks for
        // what only rmcp serves (`_meta`): the direct path reads calls itself.
        json!({"jsonrpc": "2.0", "id": 18, "method": "tools/call",
               "params": {"name": "echo"}, "result": {}}),
        json!({"jsonrpc": "2.0", "id": 19, "method": "tools/call",
               "params": {"name": "echo"}, "error": null}),
        json!({"jsonrpc": "1.0", "id": 20, "method": "tools/call", "params": {"name": "echo"}}),
        json!({"jsonrpc": "2.0", "id": null, "method": "tools/call", "params": {"name": "echo"}}),
        json!({"jsonrpc": "2.0", "id": 2.5, "method": "tools/call", "params": {"name": "echo"}}),
        json!({"jsonrpc": "2.0", "id": 21, "method": "tools/call",
               "params": {"name": "echo", "arguments": 5}}),
        json!({"jsonrpc": "2.0", "id": 22, "method": "tools/call",
               "params": {"name": "echo", "_meta": {"note": "kept"}}}),
        json!({"jsonrpc": "2.0", "id": 23, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"x": 3}, "unknown": true},
               "extra": [1, 2]}),
    ];
    // Duplicate keys, which serde reads differently in a struct and through a buffer.
    let texts = [
        r#"{"jsonrpc":"2.0","id":24,"id":25,"method":"tools/call","params":{"name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"name":"echo","name":"fail"}}"#,
    ];
    let header_sets: [&[(&str, &str)]; 6] = [
        &[],
        &[(PROTOCOL_VERSION_HEADER, "2025-06-18")],
        &[(PROTOCOL_VERSION_HEADER, "2025-11-25")],
        &[(PROTOCOL_VERSION_HEADER, "2024-11-05")],
        &[(PROTOCOL_VERSION_HEADER, "1999-01-01")],
        &[("accept", "application/json")],
    ];
    let texts: Vec<String> = bodies
        .iter()
        .map(Value::to_string)
        .chain(texts.map(String::from))
        .collect();
    let mut compared = 0;
    for headers in header_sets {
        for text in &texts {
            let from_direct = answer_text(&direct.url, headers, text).await;
            let from_rmcp = answer_text(&rmcp.url, headers, text).await;
            assert_eq!(
                from_direct, from_rmcp,
                "direct and rmcp answer {text} with headers {headers:?} differently"
            );
            compared += 1;
        }
    }
    // The handler saw the revision the header named, and the HTTP request parts.
    let (status, _, reply) = answer(
        &direct.url,
        &[(PROTOCOL_VERSION_HEADER, "2025-06-18")],
        &call(json!(1), "echo", json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen: Value =
        serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(seen["protocol"], "2025-06-18", "{seen}");
    assert_eq!(seen["http_parts"], true, "{seen}");
    assert_eq!(compared, 174);
}

#[tokio::test]
async fn a_request_asking_for_progress_gets_rmcps_stream_with_the_progress() {
    let direct = start(true).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "progress", "arguments": {},
                                 "_meta": {"progressToken": "p1"}}});
    let (status, content_type, reply) = answer(&direct.url, &[], &body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let text = reply.as_str().unwrap();
    assert!(text.contains("notifications/progress"), "{text}");
    assert!(text.contains("\"done\""), "{text}");
}

#[tokio::test]
async fn a_handler_that_notifies_unasked_is_answered_and_its_notification_dropped() {
    let direct = start(true).await;
    let (status, content_type, reply) =
        answer(&direct.url, &[], &call(json!(1), "chatty", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(reply["result"]["content"][0]["text"], "said", "{reply}");
}

/// Where the direct path answers differently on purpose: a handler that panics. rmcp runs
/// it in a task of its own, which dies, and its one-shot transport waits for an answer
/// until the request timeout (`408` after 30 s). Served directly, the panic would take the
/// connection down; it gets a JSON-RPC internal error at once, and the connection serves
/// the next request.
#[tokio::test]
async fn a_handler_that_panics_gets_an_internal_error_and_the_connection_lives_on() {
    let direct = start(true).await;
    let (status, content_type, reply) =
        answer(&direct.url, &[], &call(json!(1), "panic", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(reply["error"]["code"], -32603, "{reply}");
    assert_eq!(reply["id"], 1, "{reply}");
    let (status, _, reply) = answer(&direct.url, &[], &call(json!(2), "echo", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply["result"]["content"][0]["text"].is_string(), "{reply}");
}
