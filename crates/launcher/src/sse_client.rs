//! Reading `text/event-stream` responses (the legacy HTTP+SSE transport, and Streamable
//! HTTP answers sent as a stream), for `dice-mcp check` and the tests. The decoding is
//! `sse-stream`'s, the parser rmcp itself uses; this adds a bound on event size, a wait
//! limit, and finding the reply to a JSON-RPC request.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{Stream, StreamExt};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` when the server named none).
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
}

/// Most bytes read without an event completing; more end the stream (a server sending one
/// endless line cannot make the reader grow without bound).
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// Why the body stopped giving bytes.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("could not read the event stream")]
    Read(#[source] reqwest::Error),
    #[error("the event stream sent more than {MAX_EVENT_BYTES} bytes without finishing an event")]
    TooLarge,
}

type Events = Pin<Box<dyn Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>>;

/// An open event stream.
pub struct SseStream {
    events: Events,
    /// Bytes read since the last event came out.
    unread: Arc<AtomicUsize>,
}

impl SseStream {
    /// Reads events from a response body.
    pub fn new(response: reqwest::Response) -> Self {
        let unread = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&unread);
        let body = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(BodyError::Read)?;
            if counted.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > MAX_EVENT_BYTES {
                return Err(BodyError::TooLarge);
            }
            Ok(chunk)
        });
        Self {
            events: Box::pin(sse_stream::SseStream::from_bytes_stream(body)),
            unread,
        }
    }

    /// The next event, or `None` when the stream ends, breaks, or sends nothing for 10 s.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// The next event, or `None` when the stream ends or breaks, or `wait` passes without
    /// one. Comments (keep-alives) are skipped; each restarts the wait only by arriving.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        loop {
            let sse = tokio::time::timeout(wait, self.events.next())
                .await
                .ok()??
                .ok()?;
            self.unread.store(0, Ordering::Relaxed);
            // A block with only `id:` or `retry:` dispatches nothing (no data).
            if let Some(data) = sse.data {
                return Some(Event {
                    event: sse.event.unwrap_or_else(|| "message".into()),
                    data,
                });
            }
        }
    }

    /// Reads events until one carries the JSON-RPC message with `id`; `None` when the stream
    /// ends or goes silent for 10 s first.
    pub async fn reply_to(&mut self, id: &serde_json::Value) -> Option<serde_json::Value> {
        while let Some(event) = self.next_event().await {
            if let Ok(message) = serde_json::from_str::<serde_json::Value>(&event.data)
                && message["id"] == *id
            {
                return Some(message);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: &[&'static str]) -> SseStream {
        let body = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from_static(c.as_bytes())))
                .collect::<Vec<_>>(),
        );
        let response = http::Response::new(reqwest::Body::wrap_stream(body));
        SseStream::new(reqwest::Response::from(response))
    }

    async fn all(mut stream: SseStream) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        while let Some(event) = stream.next_within(Duration::from_secs(1)).await {
            seen.push((event.event, event.data));
        }
        seen
    }

    #[tokio::test]
    async fn events_follow_the_spec_across_chunks_and_line_ends() {
        let stream = stream_of(&[
            "event: endpoint\r\ndata: /messages/?session_id=1\r\n\r\n",
            // A comment first, then data split over chunks, CR-only line ends.
            ": keep-alive\n\ndata: a\rdata: b\r\r",
            "data:\ndata: c\n\n",
            // A comment line inside a block does not end it.
            ": ping\ndata: after a comment\n\n",
            "data: {\"id\"",
            ":1}\n\n",
        ]);
        assert_eq!(
            all(stream).await,
            [
                ("endpoint".into(), "/messages/?session_id=1".into()),
                ("message".into(), "a\nb".into()),
                ("message".into(), "\nc".into()),
                ("message".into(), "after a comment".into()),
                ("message".into(), "{\"id\":1}".into()),
            ]
        );
    }

    #[tokio::test]
    async fn an_endless_event_ends_the_stream() {
        let big: &'static str = Box::leak("x".repeat(1024 * 1024).into_boxed_str());
        let mut chunks = vec!["data: "];
        chunks.extend(std::iter::repeat_n(big, 5));
        let stream = stream_of(&chunks);
        assert!(all(stream).await.is_empty());
    }
}
