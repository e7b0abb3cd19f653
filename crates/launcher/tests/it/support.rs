//! A dice-mcp server on 127.0.0.1:0 for one test, and rmcp's client over legacy SSE. What
//! mcp-core's tests need too (bodies, the client, event streams) is in `test-support`.

use dice_tools::{DiceConfig, DiceTools};
use mcp_core::{HttpConfig, HttpConfigBuilder, McpServer, SessionMode};
use test_support::{EventStream, http, open_sse};

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
    use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

    let response = open_sse(sse_url).await;
    assert_eq!(response.status(), 200);
    let mut stream = EventStream::from_response(response);
    let post_url = format!("{base}{}", stream.endpoint().await);

    let (to_server, mut outgoing) = mpsc::channel::<ClientJsonRpcMessage>(16);
    let (mut incoming, from_server) = mpsc::channel::<ServerJsonRpcMessage>(16);
    tokio::spawn(async move {
        let http = http();
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
