//! OpenAI's Responses API MCP client, replayed request by request with raw HTTP: initialize
//! (id 0, 2025-03-26, `openai-mcp/1.0.0`), `notifications/initialized`, `tools/list`, DELETE
//! of the session, then `tools/call`.

use mcp_core::SessionMode;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use test_support::{
    SESSION_HEADER, http, initialize_body, initialized_notification, mcp_post, rpc_message,
    session_id,
};

use crate::support::TestServer;

async fn post(url: &str, session: Option<&str>, body: &Value) -> Response {
    let mut request = mcp_post(url).json(body);
    if let Some(session) = session {
        request = request.header(SESSION_HEADER, session);
    }
    request.send().await.unwrap()
}

async fn rpc(response: Response, id: i64) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    rpc_message(response, id).await
}

struct Flow {
    url: String,
    session: Option<String>,
}

impl Flow {
    /// Steps 1 to 4: initialize, initialized, tools/list, DELETE. Returns the DELETE status.
    async fn up_to_delete(url: &str) -> (Self, StatusCode) {
        let response = post(url, None, &initialize_body(0, "2025-03-26", "openai-mcp")).await;
        let session = session_id(&response);
        let init = rpc(response, 0).await;
        assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
        assert!(init["result"]["capabilities"]["tools"].is_object());

        let response = post(url, session.as_deref(), &initialized_notification()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);

        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        let tools = rpc(post(url, session.as_deref(), &list).await, 1).await;
        let names: Vec<&str> = tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, ["roll_dice", "roll"]);

        let mut delete = http().delete(url);
        if let Some(session) = &session {
            delete = delete.header(SESSION_HEADER, session);
        }
        let status = delete.send().await.unwrap().status();
        (
            Self {
                url: url.to_owned(),
                session,
            },
            status,
        )
    }

    async fn call_roll_dice(&self) -> Response {
        let call = json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "roll_dice", "arguments": {"n_dice": 3}}
        });
        post(&self.url, self.session.as_deref(), &call).await
    }
}

#[tokio::test]
async fn stateless_server_answers_every_step_of_openais_flow() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let (flow, delete_status) = Flow::up_to_delete(&server.mcp_url).await;
    assert!(
        flow.session.is_none(),
        "stateless mode hands out no session"
    );
    assert_eq!(delete_status, StatusCode::NO_CONTENT);
    let result = rpc(flow.call_roll_dice().await, 2).await;
    let rolls = result["result"]["structuredContent"]["result"]
        .as_array()
        .unwrap();
    assert_eq!(rolls.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn stateless_server_answers_the_flow_on_the_trailing_slash_url() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let (flow, _) = Flow::up_to_delete(&format!("{}/", server.mcp_url)).await;
    let response = flow.call_roll_dice().await;
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn stateful_server_forgets_a_deleted_session() {
    let server = TestServer::start(SessionMode::Stateful).await;
    let (flow, delete_status) = Flow::up_to_delete(&server.mcp_url).await;
    assert!(flow.session.is_some(), "stateful mode hands out a session");
    assert_eq!(
        delete_status,
        StatusCode::NO_CONTENT,
        "strict clients expect 200 or 204"
    );
    let response = flow.call_roll_dice().await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}
