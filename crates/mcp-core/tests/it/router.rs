//! The router on its own, through `Router::oneshot` (no socket, no serve loop), where what
//! counts is what the router answers: the Host/Origin guard on every MCP route, the body
//! limit on `/mcp` and `/messages/`, and `/messages/`'s refusals. What needs the wire (the
//! serve loop, hyper's parsing, timeouts, `Connection: close`) is in `limits.rs`.

use axum::{
    Router,
    body::{Body, Bytes},
    http::{Method, Request, StatusCode, header},
};
use mcp_core::{HttpConfig, McpServer, SessionMode};
use serde_json::{Value, json};
use test_support::{
    ACCEPT_BOTH, EventStream, initialize_body, loopback_request, oneshot, oneshot_collect,
};
use tower_http::normalize_path::NormalizePath;

use crate::Sleeper;

/// The routes of a server with the tiny handler, as `McpServer::serve` hands requests to
/// them: a trailing slash trimmed, with no redirect.
fn router(config: HttpConfig) -> NormalizePath<Router> {
    let server = McpServer::new(config, || Sleeper);
    NormalizePath::trim_trailing_slash(server.router())
}

fn stateless() -> mcp_core::HttpConfigBuilder {
    HttpConfig::builder().session_mode(SessionMode::Stateless)
}

fn list_body() -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        .to_string()
        .into_bytes()
}

/// One request on each MCP route, and what the route answers when the guard lets it by.
fn each_route() -> [(Method, &'static str, &'static str, Vec<u8>, StatusCode); 4] {
    [
        (
            Method::POST,
            "/mcp",
            ACCEPT_BOTH,
            list_body(),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/mcp/",
            ACCEPT_BOTH,
            list_body(),
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/sse",
            "text/event-stream",
            Vec::new(),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/messages/?session_id=nope",
            ACCEPT_BOTH,
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
        ),
    ]
}

/// `method path` with `accept`, `body`, the `Host`s given (in order, none for an empty
/// list) and an `Origin` when given.
fn guarded_request(
    (method, path, accept, body): (&Method, &str, &str, &[u8]),
    hosts: &[&str],
    origin: Option<&str>,
) -> Request<Body> {
    let mut request = loopback_request(method.clone(), path)
        .header(header::ACCEPT, accept)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let map = request.headers_mut();
    map.remove(header::HOST);
    for host in hosts {
        map.append(header::HOST, host.parse().unwrap());
    }
    if let Some(origin) = origin {
        map.insert(header::ORIGIN, origin.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn the_host_and_origin_guard_holds_on_every_mcp_route() {
    let router = router(stateless().allowed_host("abc.ngrok.app").build().unwrap());
    for (method, path, accept, body, through) in each_route() {
        let route = (&method, path, accept, body.as_slice());
        let status = |hosts: &[&str], origin: Option<&str>| {
            let router = router.clone();
            let request = guarded_request(route, hosts, origin);
            async move {
                let response = oneshot(router, request).await;
                let close = response.headers().get(header::CONNECTION).cloned();
                (response.status(), close)
            }
        };
        // Let by: loopback in any spelling, the configured host, a local Origin.
        for hosts in [
            &["127.0.0.1"][..],
            &["localhost:8000"],
            &["[::1]:8000"],
            &["ABC.ngrok.app"],
        ] {
            assert_eq!(
                status(hosts, None).await.0,
                through,
                "{path} Host {hosts:?}"
            );
        }
        assert_eq!(
            status(&["127.0.0.1"], Some("http://localhost:6274"))
                .await
                .0,
            through,
            "{path} local Origin"
        );

        // Refused: a foreign or missing Host, a foreign Origin, two Hosts (even two good ones).
        for hosts in [&["evil.example"][..], &["127.0.0.1.evil.example:80"], &[]] {
            let (refused, close) = status(hosts, None).await;
            assert_eq!(refused, StatusCode::FORBIDDEN, "{path} Host {hosts:?}");
            assert_eq!(
                close.as_ref().and_then(|v| v.to_str().ok()),
                Some("close"),
                "{path}: a refusal before the body closes the connection"
            );
        }
        for origin in ["https://evil.example", "null"] {
            assert_eq!(
                status(&["127.0.0.1"], Some(origin)).await.0,
                StatusCode::FORBIDDEN,
                "{path} Origin {origin}"
            );
        }
        for hosts in [
            &["127.0.0.1", "evil.example"][..],
            &["127.0.0.1", "127.0.0.1"],
        ] {
            assert_eq!(
                status(hosts, None).await.0,
                StatusCode::BAD_REQUEST,
                "{path} Hosts {hosts:?}"
            );
        }
    }
}

/// The configured body limit of the servers below.
const LIMIT: usize = 16 * 1024;

/// A JSON-RPC `method` request with id `id`, padded with spaces to exactly `len` bytes.
fn padded(method: &str, id: i64, len: usize) -> Vec<u8> {
    let mut body = json!({"jsonrpc": "2.0", "id": id, "method": method})
        .to_string()
        .into_bytes();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

/// `body` POSTed to `uri` with its length declared.
fn declared(uri: &str, body: Vec<u8>) -> Request<Body> {
    loopback_request(Method::POST, uri)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap()
}

/// `body` POSTed to `uri` in 1 KiB chunks with no declared length, as a chunked upload.
fn streamed(uri: &str, body: Vec<u8>) -> Request<Body> {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(1024)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    loopback_request(Method::POST, uri)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap()
}

/// Opens `/sse` on `router`: the stream and its message path.
async fn open_sse(router: &NormalizePath<Router>) -> (EventStream, String) {
    let request = loopback_request(Method::GET, "/sse")
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let response = oneshot(router.clone(), request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = EventStream::from_body(response.into_body());
    let path = events.endpoint().await;
    (events, path)
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_declared_or_streamed_on_mcp_and_messages() {
    let router = router(stateless().max_body_bytes(LIMIT).build().unwrap());
    let (mut events, messages) = open_sse(&router).await;
    let post = |request: Request<Body>| oneshot_collect(router.clone(), request);

    for (uri, method, through) in [
        ("/mcp", "tools/list", StatusCode::OK),
        (messages.as_str(), "ping", StatusCode::ACCEPTED),
    ] {
        for (how, request) in [
            ("declared", declared(uri, padded(method, 1, LIMIT + 1))),
            ("streamed", streamed(uri, padded(method, 1, LIMIT + 1))),
        ] {
            let status = post(request).await.status();
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}, {how}");
        }
        // The same request at the limit is served: it was the size that was refused.
        for (how, request) in [
            ("declared", declared(uri, padded(method, 2, LIMIT))),
            ("streamed", streamed(uri, padded(method, 3, LIMIT))),
        ] {
            assert_eq!(post(request).await.status(), through, "{uri}, {how}");
        }
    }
    // The `/sse` session survived the refusals and answered both pings at the limit.
    for id in [2, 3] {
        let answer = events.reply_to(&json!(id)).await;
        assert!(answer["result"].is_object(), "{answer}");
    }
}

#[tokio::test]
async fn messages_refusals_are_404_400_and_leave_the_session_open() {
    let router = router(HttpConfig::default());
    let (mut events, messages) = open_sse(&router).await;
    let post = |uri: &str, body: Vec<u8>| oneshot_collect(router.clone(), declared(uri, body));
    let error_code = |body: &Bytes| -> Value {
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["jsonrpc"], "2.0", "{body}");
        body["error"]["code"].clone()
    };
    let initialize = |id: i64| {
        initialize_body(id, "2024-11-05", "it")
            .to_string()
            .into_bytes()
    };

    let unknown = post(
        "/messages/?session_id=00000000000000000000000000000000",
        initialize(0),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let no_session = post("/messages/", b"{}".to_vec()).await;
    assert_eq!(no_session.status(), StatusCode::BAD_REQUEST);

    let malformed = post(&messages, b"{not json".to_vec()).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(malformed.body()), -32700);

    let not_rpc = post(&messages, br#"{"hello": "world"}"#.to_vec()).await;
    assert_eq!(not_rpc.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(not_rpc.body()), -32600);

    // The session survived all of that, and answers on its stream.
    let ok = post(&messages, initialize(7)).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let answer = events.reply_to(&json!(7)).await;
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");
}
