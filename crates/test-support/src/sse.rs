//! Reading event streams: `/sse` of the legacy transport and Streamable HTTP answers sent as
//! a stream, from a reqwest response or a router's body. The decoding is `sse-stream`'s,
//! the parser rmcp itself uses; nothing here parses `text/event-stream` by hand.

use std::{pin::Pin, time::Duration};

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use reqwest::{Response, header};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::http;

/// How long a reader waits for the next event before it gives up.
const EVENT_WITHIN: Duration = Duration::from_secs(10);

/// One server-sent event that carries data (comments and bare `id:`/`retry:` blocks are
/// not events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type, `message` when the server named none.
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
}

type Events = Pin<Box<dyn Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>>;

/// An open event stream, decoded by `sse-stream`.
pub struct EventStream {
    events: Events,
}

impl EventStream {
    /// Reads the events of a reqwest response's body.
    pub fn from_response(response: Response) -> Self {
        Self {
            events: Box::pin(sse_stream::SseStream::from_bytes_stream(
                response.bytes_stream(),
            )),
        }
    }

    /// Reads the events of an HTTP body: a router's answer (from [`oneshot`](crate::oneshot)) or
    /// a hyper client's.
    pub fn from_body<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        Self {
            events: Box::pin(sse_stream::SseStream::new(body)),
        }
    }

    /// The next event, or `None` when the stream ends or breaks, or 10 s pass without one.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let sse = tokio::time::timeout(EVENT_WITHIN, self.events.next())
                .await
                .ok()??
                .ok()?;
            if let Some(data) = sse.data {
                return Some(Event {
                    event: sse.event.unwrap_or_else(|| "message".to_owned()),
                    data,
                });
            }
        }
    }

    /// The `endpoint` event `/sse` starts with: the path to POST messages to. Panics when the
    /// first event is anything else.
    pub async fn endpoint(&mut self) -> String {
        let event = self
            .next_event()
            .await
            .expect("an endpoint event first on /sse");
        assert_eq!(event.event, "endpoint", "{event:?}");
        event.data
    }

    /// Reads `message` events until one carries the JSON-RPC message with `id`, and returns
    /// that message. Panics when the stream ends, breaks or goes quiet for 10 s first.
    pub async fn reply_to(&mut self, id: &Value) -> Value {
        while let Some(event) = self.next_event().await {
            if let Ok(message) = serde_json::from_str::<Value>(&event.data)
                && message["id"] == *id
            {
                return message;
            }
        }
        panic!("no message with id {id} on the stream");
    }
}

/// `GET url` asking for an event stream, with the shared client that does not follow
/// redirects.
pub async fn open_sse(url: &str) -> Response {
    http()
        .get(url)
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("GET of the event stream was sent")
}

/// The JSON-RPC message with `id` from a Streamable HTTP answer, whichever way the server
/// sent it: a JSON body (whose id must be `id`) or an event stream (read until the message
/// with `id`).
pub async fn rpc_message(response: Response, id: impl Into<Value>) -> Value {
    let id = id.into();
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if is_stream {
        return EventStream::from_response(response).reply_to(&id).await;
    }
    let body = response.text().await.expect("the answer's body");
    let message: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(message["id"], id, "{body}");
    message
}

/// An `/sse` stream whose client read the endpoint event and then never reads again, on a
/// socket with a 4 KiB receive buffer: what a stalled client looks like to the server. The
/// session lives until this is dropped.
///
/// It is a hyper client connection, not reqwest, to choose the socket's buffer; hyper
/// reads a body only as it is polled, so the server's writes back up at once.
pub struct UnreadSse {
    /// The absolute URL to POST this session's messages to.
    pub messages_url: String,
    _events: EventStream,
    connection: JoinHandle<()>,
}

impl UnreadSse {
    /// Opens `{base}/sse` (`base` as `http://127.0.0.1:PORT`) and reads its endpoint event.
    pub async fn open(base: &str) -> Self {
        let url = reqwest::Url::parse(base).expect("a base URL");
        let addr = url
            .socket_addrs(|| None)
            .expect("the base URL names an address")[0];
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("a small receive buffer");
        let stream = socket.connect(addr).await.expect("connected to the server");
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .read_buf_exact_size(Some(4096))
            .handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 connection");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = ::http::Request::get("/sse")
            .header(header::HOST, addr.to_string())
            .header(header::ACCEPT, "text/event-stream")
            .body(Empty::<Bytes>::new())
            .expect("a GET /sse request");
        let response = sender.send_request(request).await.expect("GET /sse");
        assert_eq!(response.status(), 200, "GET /sse");
        let mut events = EventStream::from_body(response.into_body());
        let path = events.endpoint().await;
        Self {
            messages_url: format!("{}{path}", base.trim_end_matches('/')),
            _events: events,
            connection,
        }
    }
}

impl Drop for UnreadSse {
    fn drop(&mut self) {
        self.connection.abort();
    }
}
