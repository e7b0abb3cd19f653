//! What a hostile client can send over a real socket: slow or huge heads, bodies that never
//! end, more connections than the cap, idle HTTP/2, malformed JSON-RPC. Each gets a bounded,
//! 4xx (or 503) answer, and the server keeps serving.

use std::time::{Duration, Instant};

use mcp_core::{ConnectionLimits, HttpConfig, RequestLimits, SessionLimits, SessionMode};
use serde_json::{Value, json};
use test_support::{
    ACCEPT_BOTH, PROTOCOL_VERSION_HEADER, UnreadSse, http, initialize_body,
    initialized_notification, mcp_post, rpc_message,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{Running, sleep_call, start};

fn addr(server: &Running) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_close(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&seen).into_owned(), closed)
}

/// The first response's status line and everything until the connection closes.
async fn raw_exchange(server: &Running, request: &[u8], limit: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr(server)).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_close(&mut stream, limit).await
}

fn stateless() -> mcp_core::HttpConfigBuilder {
    HttpConfig::builder().session_mode(SessionMode::Stateless)
}

/// A stateless server with the default connection limits, as `edit` changes them.
async fn start_stateless_with(edit: impl FnOnce(&mut ConnectionLimits)) -> Running {
    let mut limits = ConnectionLimits::default();
    edit(&mut limits);
    start(stateless().connection_limits(limits).build().unwrap()).await
}

/// Sends `request` to a server whose header-read timeout is 500 ms; whether the server
/// closed the connection within 5 s, and how long it took.
async fn cut_off_after(request: &[u8]) -> (bool, Duration) {
    let server = start_stateless_with(|l| l.header_read_timeout = Duration::from_millis(500)).await;
    let started = Instant::now();
    let (_, closed) = raw_exchange(&server, request, Duration::from_secs(5)).await;
    (closed, started.elapsed())
}

#[tokio::test]
async fn partial_headers_are_cut_off_at_the_header_read_timeout() {
    let (closed, took) =
        cut_off_after(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await;
    assert!(closed, "the server kept a half-sent head open for 5 s");
    assert!(took < Duration::from_secs(3));
}

#[tokio::test]
async fn connections_beyond_the_cap_get_a_fast_503_and_the_rest_are_served() {
    let server = start_stateless_with(|l| l.max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let started = Instant::now();
    let (answer, closed) = raw_exchange(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(closed && started.elapsed() < Duration::from_secs(1));
    // The held connections are still served.
    let mut first = held.remove(0);
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Closing one frees its place.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, _) = raw_exchange(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_oversized_head_gets_431() {
    let server = start_stateless_with(|l| l.max_header_bytes = 16 * 1024).await;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let (answer, _) = raw_exchange(&server, request.as_bytes(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn a_declared_oversize_body_gets_413_without_100_continue() {
    let server = start(stateless().build().unwrap()).await;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\nExpect: 100-continue\r\nContent-Length: 2000000000\r\n\r\n"
    );
    let started = Instant::now();
    let (answer, _) = raw_exchange(&server, request.as_bytes(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408_at_the_request_timeout() {
    let server = start(
        stateless()
            .request_limits(RequestLimits {
                timeout: Duration::from_millis(500),
                ..RequestLimits::default()
            })
            .build()
            .unwrap(),
    )
    .await;
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed);
}

#[tokio::test]
async fn requests_beyond_the_in_flight_cap_are_shed_with_503() {
    let server = start(
        stateless()
            .request_limits(RequestLimits {
                max_in_flight: 1,
                ..RequestLimits::default()
            })
            .build()
            .unwrap(),
    )
    .await;
    let url = format!("{}/mcp", server.url);
    let slow = tokio::spawn({
        let url = url.clone();
        async move {
            mcp_post(&url)
                .json(&sleep_call(1500))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let shed = mcp_post(&url).json(&sleep_call(0)).send().await.unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed, not queued"
    );
    assert_eq!(slow.await.unwrap(), 200);
    // /healthz is not shed.
    assert_eq!(
        http()
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn idle_http2_connections_are_closed() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = start_stateless_with(|l| l.idle_timeout = Duration::from_millis(500)).await;
    let tcp = TcpStream::connect(addr(&server)).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(format!("{}/healthz", server.url))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    drop(response);
    let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(
        ended.is_ok(),
        "an idle HTTP/2 connection was kept open for 5 s"
    );
}

/// POSTs `body` to `/mcp` as it is, with `headers` besides a Streamable HTTP client's.
async fn post_raw(server: &Running, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = mcp_post(&format!("{}/mcp", server.url)).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The status of `response` and the JSON-RPC error code of the message with `id` in it.
async fn status_and_error(response: reqwest::Response, id: Value) -> (u16, Option<i64>) {
    let status = response.status().as_u16();
    let message = rpc_message(response, id).await;
    (status, message["error"]["code"].as_i64())
}

#[tokio::test]
async fn client_mistakes_get_the_json_rpc_errors_the_spec_names() {
    for transport in [SessionMode::Stateless, SessionMode::Stateful] {
        let server = start(
            HttpConfig::builder()
                .session_mode(transport)
                .build()
                .unwrap(),
        )
        .await;
        let malformed = post_raw(&server, "{\"jsonrpc\": \"2.0\", ", &[]).await;
        assert_eq!(
            status_and_error(malformed, Value::Null).await,
            (400, Some(-32700)),
            "{transport:?}"
        );
        let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
        let batch = post_raw(&server, batch, &[]).await;
        assert_eq!(
            status_and_error(batch, Value::Null).await,
            (400, Some(-32600)),
            "{transport:?}"
        );
        let call = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"sleep","arguments":[]}}"#;
        let call = post_raw(&server, call, &[(PROTOCOL_VERSION_HEADER, "2026-07-28")]).await;
        assert_eq!(
            status_and_error(call, json!(4)).await,
            (200, Some(-32602)),
            "{transport:?}"
        );
    }
}

#[tokio::test]
async fn a_broken_chunked_body_gets_400_not_500() {
    let server = start(stateless().build().unwrap()).await;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    );
    let (answer, _) = raw_exchange(&server, request.as_bytes(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn initialize_at_any_revision_gets_503_when_the_session_cap_is_full() {
    let config = HttpConfig::builder()
        .session_limits(SessionLimits {
            max_sessions: 1,
            ..SessionLimits::default()
        })
        .build()
        .unwrap();
    let server = start(config).await;
    let init = |version: &str| initialize_body(1, version, "it").to_string();
    let first = post_raw(&server, &init("2025-06-18"), &[]).await;
    assert_eq!(first.status(), 200);
    for version in ["2025-03-26", "2025-11-25", "2026-07-28"] {
        let refused = post_raw(
            &server,
            &init(version),
            &[(PROTOCOL_VERSION_HEADER, version)],
        )
        .await;
        assert_eq!(
            refused.status(),
            503,
            "initialize at {version} with the cap full"
        );
    }
}

/// Over the wire because it is hyper that turns an absolute-form target into the URI's
/// authority; the guard's other refusals are tested on the router (`router.rs`).
#[tokio::test]
async fn an_absolute_form_target_must_name_an_allowed_host() {
    let server = start(stateless().build().unwrap()).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let request = |target: &str, hosts: &str| {
        format!(
            "POST {target} HTTP/1.1\r\n{hosts}Content-Type: application/json\r\n\
             Accept: {ACCEPT_BOTH}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        (
            "http://evil.example/mcp",
            "Host: 127.0.0.1\r\n",
            "HTTP/1.1 403",
        ),
        (
            "http://127.0.0.1/mcp",
            "Host: 127.0.0.1\r\n",
            "HTTP/1.1 200",
        ),
    ];
    for (target, hosts, expected) in cases {
        let (answer, _) = raw_exchange(
            &server,
            request(target, hosts).as_bytes(),
            Duration::from_secs(3),
        )
        .await;
        assert!(answer.starts_with(expected), "{target} {hosts:?}: {answer}");
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_read_timeout() {
    let (closed, took) = cut_off_after(b"").await;
    assert!(closed, "a silent connection was kept open for 5 s");
    assert!(took < Duration::from_secs(3));
}

/// Posts `count` calls whose answers are `bytes` long to an `/sse` session whose client
/// never reads past the endpoint event; how many were accepted before the first `429`.
async fn accepted_on_an_unread_stream(server: &Running, bytes: u64, count: u64) -> u64 {
    let stream = UnreadSse::open(&server.url).await;
    let url = &stream.messages_url;
    let post = |message: Value| http().post(url).json(&message).send();
    let opened = post(initialize_body(0, "2024-11-05", "it")).await.unwrap();
    assert_eq!(opened.status(), 202);
    post(initialized_notification()).await.unwrap();
    let mut accepted = 0;
    for id in 1..=count {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"bytes": bytes}}});
        match post(call).await.unwrap().status().as_u16() {
            202 => accepted += 1,
            429 => return accepted,
            other => panic!("unexpected {other} after {accepted} accepted posts"),
        }
        // Let the answer reach the queue before the next post is weighed.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{count} posts were all accepted while the stream was never read");
}

#[tokio::test]
async fn an_unread_sse_stream_holds_at_most_a_mebibyte_of_big_answers() {
    let server = start(HttpConfig::default()).await;
    let accepted = accepted_on_an_unread_stream(&server, 600_000, 200).await;
    // Worked out: 1 MiB waiting is under two answers of 600 kB; the socket buffers (the
    // client's 4 KiB, the server's send buffer) absorb a few more, 7 in all here. The cap
    // on the count of unread answers, 16, would let through 16 plus those few (or close
    // the session at 4 MiB, ~12 answers): the bytes waiting must refuse (429) before.
    assert!(accepted < 16, "{accepted} answers of 600 kB accepted");
}
