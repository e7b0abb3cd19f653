//! A dice-mcp server on 127.0.0.1:0 for one test, and raw JSON-RPC over HTTP helpers.

use dice_tools::{DiceConfig, DiceTools};
use mcp_core::{HttpConfig, HttpConfigBuilder, McpServer, SessionMode};
use serde_json::{Value, json};

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// One HTTP client for all tests: building one loads the TLS roots, which takes ~20 ms.
/// It does not follow redirects, so a server that redirected (which OpenAI's client does
/// not follow) fails the tests instead of passing them unseen.
pub fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
        })
        .clone()
}

pub struct TestServer {
    pub base: String,
    pub server: McpServer,
    pub mcp_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(mode: SessionMode) -> Self {
        Self::start_with(
            HttpConfig::builder().session_mode(mode),
            DiceConfig::default(),
        )
        .await
    }

    pub async fn start_with(builder: HttpConfigBuilder, dice: DiceConfig) -> Self {
        let config = builder.build().unwrap();
        let tools = DiceTools::new(dice);
        let server = McpServer::new(config, move || tools.clone());
        let app = server.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let running = server.clone();
        let task = tokio::spawn(async move {
            running
                .serve(listener, app, std::future::pending())
                .await
                .unwrap();
        });
        Self {
            server,
            base: format!("http://{addr}"),
            mcp_url: format!("http://{addr}/mcp"),
            task,
        }
    }

    pub async fn stop(self) {
        self.server.close();
        self.task.await.unwrap();
    }
}

/// The JSON-RPC message with `id` from a JSON or SSE response.
pub async fn rpc_message(content_type: &str, response: reqwest::Response, id: i64) -> Value {
    if content_type.starts_with("text/event-stream") {
        return launcher::sse_client::SseStream::new(response)
            .reply_to(&json!(id))
            .await
            .unwrap_or_else(|| panic!("no message with id {id} on the stream"));
    }
    let body = response.text().await.unwrap();
    let message: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(message["id"], json!(id), "{body}");
    message
}

pub fn initialize_body(id: i64, version: &str, client: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": client, "version": "1.0.0" }
        }
    })
}

/// `GET url` asking for an event stream.
pub async fn open_sse(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap()
}

/// Opens `/sse`, reads the endpoint event, and returns an rmcp transport (sink, stream)
/// that posts to that endpoint and yields the stream's messages, so rmcp's own client can
/// talk over the legacy transport.
pub async fn rmcp_sse_transport(
    base: &str,
    sse_url: &str,
) -> (
    futures::channel::mpsc::Sender<rmcp::model::ClientJsonRpcMessage>,
    futures::channel::mpsc::Receiver<rmcp::model::ServerJsonRpcMessage>,
) {
    use futures::{SinkExt, StreamExt, channel::mpsc};
    use launcher::sse_client::SseStream;
    use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

    let http = http();
    let response = open_sse(&http, sse_url).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseStream::new(response);
    let endpoint = stream.next_event().await.expect("an endpoint event");
    assert_eq!(endpoint.event, "endpoint");
    let post_url = format!("{base}{}", endpoint.data);

    let (to_server, mut outgoing) = mpsc::channel::<ClientJsonRpcMessage>(16);
    let (mut incoming, from_server) = mpsc::channel::<ServerJsonRpcMessage>(16);
    tokio::spawn(async move {
        while let Some(message) = outgoing.next().await {
            let status = http
                .post(&post_url)
                .json(&message)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 202, "POST {post_url}");
        }
    });
    tokio::spawn(async move {
        while let Some(event) = stream.next_event().await {
            assert_eq!(event.event, "message");
            let message: ServerJsonRpcMessage = serde_json::from_str(&event.data).unwrap();
            if incoming.send(message).await.is_err() {
                break;
            }
        }
    });
    (to_server, from_server)
}

/// A POST to an MCP URL with the headers Streamable HTTP clients send, to finish by hand
/// (other headers, a raw or streamed body).
pub fn mcp_post(url: &str) -> reqwest::RequestBuilder {
    http()
        .post(url)
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
}

/// POSTs a JSON-RPC body to an MCP URL the way Streamable HTTP clients do, with a bearer
/// token when given.
pub async fn post_rpc(
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut request = mcp_post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}
