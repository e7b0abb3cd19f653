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

/// `dice-mcp dev` running locally (no ngrok) with its data in a temporary directory, and
/// what it prints on stdout, read line by line.
pub struct DevProcess {
    pub child: tokio::process::Child,
    pub data: tempfile::TempDir,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl DevProcess {
    /// Starts `dice-mcp dev --addr 127.0.0.1:0` with `extra` flags (its log is dropped).
    pub async fn start(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra).await
    }

    /// [`Self::start`] with the data directory of an earlier run (a restart).
    pub async fn start_in(data: tempfile::TempDir, extra: &[&str]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(crate::binary::BIN)
            .args(["dev", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env("XDG_DATA_HOME", data.path())
            .env_remove("NGROK_AUTHTOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            data,
            stdout,
        }
    }

    /// Reads on until a line starts with `prefix`; the rest of that line, trimmed.
    pub async fn value_after(&mut self, prefix: &str) -> String {
        next_value(&mut self.stdout, prefix).await
    }

    /// Every line it prints (within 30 s) up to and with the first that is `last`.
    pub async fn lines_until(&mut self, last: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut lines = Vec::new();
        loop {
            let line = tokio::time::timeout_at(deadline.into(), self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line {last:?} within 30 s: {lines:#?}"))
                .unwrap()
                .unwrap_or_else(|| panic!("the output ended before {last:?}: {lines:#?}"));
            let done = line == last;
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// Reads `lines` on until one starts with `prefix` (within 30 s); the rest of it, trimmed.
pub async fn next_value<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    prefix: &str,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line starting {prefix:?} within 30 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the output ended before a line starting {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}
