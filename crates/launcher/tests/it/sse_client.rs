//! A minimal legacy HTTP+SSE client for tests: reqwest streaming plus an event parser, and
//! an rmcp transport built on it so rmcp's own client can talk over `/sse`.

use std::time::Duration;

use futures::{SinkExt, StreamExt, channel::mpsc};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

/// One server-sent event (comments are reported as `event == ":"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub data: String,
}

/// An open `/sse` stream.
pub struct SseStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseStream {
    pub async fn open(http: &reqwest::Client, url: &str) -> reqwest::Response {
        http.get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap()
    }

    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event or comment, or `None` when the stream ends (or 10 s pass).
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    event: "message".into(),
                    data: String::new(),
                };
                let mut lines = 0;
                for line in block.lines() {
                    lines += 1;
                    if let Some(comment) = line.strip_prefix(':') {
                        return Some(Event {
                            event: ":".into(),
                            data: comment.trim().into(),
                        });
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim().into();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event
                            .data
                            .push_str(value.strip_prefix(' ').unwrap_or(value));
                    }
                }
                if lines > 0 {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                _ => return None,
            }
        }
    }

    /// The next event that is not a keep-alive comment.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let event = self.next().await?;
            if event.event != ":" {
                return Some(event);
            }
        }
    }
}

/// Opens `/sse`, reads the endpoint event, and returns an rmcp transport (sink, stream)
/// that posts to that endpoint and yields the stream's messages.
pub async fn rmcp_transport(
    base: &str,
    sse_url: &str,
) -> (
    mpsc::Sender<ClientJsonRpcMessage>,
    mpsc::Receiver<ServerJsonRpcMessage>,
) {
    let http = crate::support::http();
    let response = SseStream::open(&http, sse_url).await;
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
