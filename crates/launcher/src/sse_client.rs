//! A minimal reader for `text/event-stream` responses (the legacy HTTP+SSE transport), used
//! by `dice-mcp check` and the tests.

use std::{pin::Pin, time::Duration};

use futures::{Stream, StreamExt};

/// One server-sent event (comments are reported as `event == ":"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` when the server named none).
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
}

/// Longest event accepted; a longer one ends the stream.
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// An open event stream.
pub struct SseStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl SseStream {
    /// Reads events from a response body.
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The next event or comment, or `None` when the stream ends (or 10 s pass).
    pub async fn next(&mut self) -> Option<Event> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// The next event or comment, or `None` when the stream ends or `wait` passes.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&String::from_utf8_lossy(&block)) {
                    return Some(event);
                }
                continue;
            }
            if self.buffer.len() > MAX_EVENT_BYTES {
                return None;
            }
            match tokio::time::timeout(wait, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self
                    .buffer
                    .extend(bytes.iter().copied().filter(|b| *b != b'\r')),
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

impl SseStream {
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

fn parse_block(block: &str) -> Option<Event> {
    let mut event = Event {
        event: "message".into(),
        data: String::new(),
    };
    let mut fields = 0;
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Event {
                event: ":".into(),
                data: comment.trim().into(),
            });
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => event.event = value.into(),
            "data" => {
                if fields > 0 && !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(value);
            }
            _ => {}
        }
        fields += 1;
    }
    (fields > 0).then_some(event)
}

#[cfg(test)]
mod tests {
    use super::parse_block;

    #[test]
    fn blocks_parse_into_events_and_comments() {
        let event = parse_block("event: endpoint\ndata: /messages/?session_id=1\n").unwrap();
        assert_eq!(
            (event.event.as_str(), event.data.as_str()),
            ("endpoint", "/messages/?session_id=1")
        );
        let joined = parse_block("data: a\ndata: b\n").unwrap();
        assert_eq!(
            (joined.event.as_str(), joined.data.as_str()),
            ("message", "a\nb")
        );
        assert_eq!(parse_block(":\n").unwrap().event, ":");
        assert!(parse_block("").is_none());
    }
}
