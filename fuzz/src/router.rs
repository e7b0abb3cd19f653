//! The `jsonrpc_router` and `sse_messages` targets: bodies posted to mcp-core's router with
//! the dice tools behind it, wired as the launcher wires them, in process (no sockets).

use std::sync::LazyLock;

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use dice_tools::DiceTools;
use futures::StreamExt;
use http_body_util::{BodyExt, Limited};
use mcp_core::{HttpConfig, McpServer, SessionMode, Transports};
use serde_json::{Value, json};
use sse_stream::SseStream;
use test_support::{ACCEPT_BOTH, initialize_body, initialized_notification};
use tower::ServiceExt;
use tower_http::normalize_path::NormalizePath;

use crate::harness::{self, ANSWER_WITHIN};

/// Largest answer accepted from the server: a `roll` of the most dice the notation allows
/// comes to a few hundred KiB.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Most bodies one `sse_messages` input posts.
const MAX_POSTS: usize = 8;
/// The `MCP-Protocol-Version` header a `jsonrpc_router` input asks for, by bits 1..=3 of
/// its first byte: none, each revision rmcp knows, one it does not, and an empty value.
const VERSIONS: [Option<&str>; 8] = [
    None,
    Some("2024-11-05"),
    Some("2025-03-26"),
    Some("2025-06-18"),
    Some("2025-11-25"),
    Some("2026-07-28"),
    Some("2099-01-01"),
    Some(""),
];
/// Revisions with an `initialize` handshake, which a stateful session is opened with.
const INITIALIZE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// A server (whose session count the targets watch) and its router, behind the path
/// normalization `McpServer::serve` puts in front of it.
struct Server {
    server: McpServer,
    router: NormalizePath<Router>,
}

impl Server {
    #[allow(
        clippy::expect_used,
        reason = "a fixed, valid config; the harness has nothing to fuzz without it"
    )]
    fn build(mode: SessionMode, transports: Transports) -> Self {
        let _context = harness::runtime().enter();
        // No keep-alive comments: an input then produces the same events every time.
        let config = HttpConfig::builder()
            .session_mode(mode)
            .transports(transports)
            .sse_keep_alive(None)
            .build()
            .expect("the fuzz server config is valid");
        let tools = DiceTools::default();
        let server = McpServer::new(config, move || tools.clone());
        let router = NormalizePath::trim_trailing_slash(server.router());
        Self { server, router }
    }

    /// Sends `request` and reads the whole answer, failing on a hang or an unbounded body.
    async fn answer(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let read = async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .unwrap_or_else(|error| {
                    panic!("the {} answer's body failed: {error}", parts.status)
                })
                .to_bytes();
            (parts.status, parts.headers, body)
        };
        tokio::time::timeout(ANSWER_WITHIN, read)
            .await
            .unwrap_or_else(|_| panic!("no complete answer within {ANSWER_WITHIN:?}"))
    }

    /// Waits until every session this input opened has been closed and its permit returned.
    async fn all_sessions_closed(&self) {
        harness::eventually("the sessions this input opened were not all closed", || {
            self.server.open_sessions() == 0
        })
        .await;
    }
}

static STATELESS: LazyLock<Server> =
    LazyLock::new(|| Server::build(SessionMode::Stateless, Transports::StreamableHttp));
static STATEFUL: LazyLock<Server> =
    LazyLock::new(|| Server::build(SessionMode::Stateful, Transports::StreamableHttp));
static SSE: LazyLock<Server> =
    LazyLock::new(|| Server::build(SessionMode::Stateful, Transports::Sse));

/// A request to the router from a loopback client, as hyper would hand it over.
fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|error| panic!("could not build a request for {uri}: {error}"))
}

/// What must hold of any answer to a fuzzed body: not a server error, and JSON when it
/// says it is JSON.
fn check_answer(status: StatusCode, headers: &HeaderMap, body: &[u8]) {
    assert!(
        !status.is_server_error(),
        "answered {status}: {}",
        String::from_utf8_lossy(body)
    );
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        assert!(
            serde_json::from_slice::<Value>(body).is_ok(),
            "a {status} answer labelled JSON is not JSON: {}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Posts a JSON-RPC body to `/mcp`, as a stateless or stateful server sees it.
///
/// The first byte chooses: bit 0 the transport (0 stateless, 1 stateful, on a session
/// opened with `initialize` for this input and closed with `DELETE` after it), bits 1..=3
/// the `MCP-Protocol-Version` header (none, 2024-11-05, 2025-03-26, 2025-06-18,
/// 2025-11-25, 2026-07-28, an unknown one, empty). The rest is the body. Checks: no answer
/// is a `5xx`, every answer comes within 10 s and is at most 4 MiB, JSON answers are JSON,
/// nothing panics (in any task), and no session outlives the input.
pub fn jsonrpc_router(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[usize::from((selector >> 1) & 7)];
    if selector & 1 == 0 {
        let server = &*STATELESS;
        harness::block_on(async {
            let mut headers = vec![
                (header::CONTENT_TYPE.as_str(), "application/json"),
                (header::ACCEPT.as_str(), ACCEPT_BOTH),
            ];
            headers.extend(version.map(|version| (VERSION_HEADER, version)));
            let (status, headers, answer) = server
                .answer(request(Method::POST, "/mcp", &headers, body.to_vec()))
                .await;
            check_answer(status, &headers, &answer);
            server.all_sessions_closed().await;
        });
    } else {
        let server = &*STATEFUL;
        harness::block_on(async {
            let session = open_session(server, version).await;
            let mut headers = vec![
                (header::CONTENT_TYPE.as_str(), "application/json"),
                (header::ACCEPT.as_str(), ACCEPT_BOTH),
                (SESSION_HEADER, session.as_str()),
            ];
            headers.extend(version.map(|version| (VERSION_HEADER, version)));
            let (status, headers, answer) = server
                .answer(request(Method::POST, "/mcp", &headers, body.to_vec()))
                .await;
            check_answer(status, &headers, &answer);
            let (status, headers, answer) = server
                .answer(request(
                    Method::DELETE,
                    "/mcp",
                    &[(SESSION_HEADER, session.as_str())],
                    Vec::new(),
                ))
                .await;
            check_answer(status, &headers, &answer);
            server.all_sessions_closed().await;
        });
    }
}

/// Opens a stateful `/mcp` session the way a client does (`initialize`, then
/// `notifications/initialized`) and returns its id.
async fn open_session(server: &Server, version: Option<&str>) -> String {
    let protocol = version
        .filter(|version| INITIALIZE_VERSIONS.contains(version))
        .unwrap_or("2025-11-25");
    let initialize = initialize_body("fuzz-init", protocol, "dice-mcp-fuzz");
    let (status, headers, answer) = server
        .answer(request(
            Method::POST,
            "/mcp",
            &[
                (header::CONTENT_TYPE.as_str(), "application/json"),
                (header::ACCEPT.as_str(), ACCEPT_BOTH),
            ],
            initialize.to_string().into_bytes(),
        ))
        .await;
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| {
            panic!(
                "initialize answered {status} without a session: {}",
                String::from_utf8_lossy(&answer)
            )
        })
        .to_owned();
    let initialized = initialized_notification();
    let (status, _, _) = server
        .answer(request(
            Method::POST,
            "/mcp",
            &[
                (header::CONTENT_TYPE.as_str(), "application/json"),
                (header::ACCEPT.as_str(), ACCEPT_BOTH),
                (SESSION_HEADER, session.as_str()),
                (VERSION_HEADER, protocol),
            ],
            initialized.to_string().into_bytes(),
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "notifications/initialized");
    session
}

/// The event stream of one `/sse` session.
type Events = SseStream<Body>;

/// Posts bodies to `/messages/` of a legacy SSE session.
///
/// Each input gets its own session: `GET /sse`, its `endpoint` event, `initialize` (answer
/// read off the stream) and `notifications/initialized`. The input is then split at
/// newlines (a JSON-RPC message needs none) and each of the first eight lines is posted as
/// one body. Checks: no post is answered `5xx`, nothing panics (in any task), every event
/// on the stream is JSON, the session still answers a `ping` afterwards (within 10 s), and
/// closing the stream closes the session.
pub fn sse_messages(data: &[u8]) {
    let server = &*SSE;
    harness::block_on(async {
        let (status, response) = {
            let response = tokio::time::timeout(
                ANSWER_WITHIN,
                server.router.clone().oneshot(request(
                    Method::GET,
                    mcp_core::SSE_PATH,
                    &[(header::ACCEPT.as_str(), "text/event-stream")],
                    Vec::new(),
                )),
            )
            .await
            .unwrap_or_else(|_| panic!("GET /sse did not answer within {ANSWER_WITHIN:?}"))
            .unwrap_or_else(|never| match never {});
            (response.status(), response)
        };
        assert_eq!(status, StatusCode::OK, "GET /sse");
        let mut events = SseStream::new(response.into_body());
        let endpoint = next_event(&mut events).await;
        assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
        let endpoint = endpoint.data.unwrap_or_default();

        let initialize = initialize_body("fuzz-init", "2024-11-05", "dice-mcp-fuzz");
        post_accepted(server, &endpoint, initialize).await;
        read_until_answer(&mut events, "fuzz-init").await;
        post_accepted(server, &endpoint, initialized_notification()).await;

        for body in data.split(|byte| *byte == b'\n').take(MAX_POSTS) {
            let (status, headers, answer) = server
                .answer(request(
                    Method::POST,
                    &endpoint,
                    &[(header::CONTENT_TYPE.as_str(), "application/json")],
                    body.to_vec(),
                ))
                .await;
            check_answer(status, &headers, &answer);
        }

        let ping = json!({"jsonrpc": "2.0", "id": "fuzz-final-ping", "method": "ping"});
        post_accepted(server, &endpoint, ping).await;
        read_until_answer(&mut events, "fuzz-final-ping").await;
        drop(events);
        server.all_sessions_closed().await;
    });
}

/// Posts one of the harness's own messages, which the session must accept.
async fn post_accepted(server: &Server, endpoint: &str, message: Value) {
    let (status, _, answer) = server
        .answer(request(
            Method::POST,
            endpoint,
            &[(header::CONTENT_TYPE.as_str(), "application/json")],
            message.to_string().into_bytes(),
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the session refused {message}: {}",
        String::from_utf8_lossy(&answer)
    );
}

/// The next event on the stream, which must come within [`ANSWER_WITHIN`].
async fn next_event(events: &mut Events) -> sse_stream::Sse {
    match tokio::time::timeout(ANSWER_WITHIN, events.next()).await {
        Err(_) => panic!("no event on the SSE stream within {ANSWER_WITHIN:?}"),
        Ok(None) => panic!("the SSE stream ended"),
        Ok(Some(Err(error))) => panic!("the SSE stream failed: {error}"),
        Ok(Some(Ok(event))) => event,
    }
}

/// Reads `message` events until the answer to request `id`; every one must be JSON.
async fn read_until_answer(events: &mut Events, id: &str) {
    loop {
        let event = next_event(events).await;
        assert_eq!(event.event.as_deref(), Some("message"), "{event:?}");
        let data = event.data.unwrap_or_default();
        assert!(
            data.len() <= MAX_ANSWER_BYTES,
            "an event of {} bytes",
            data.len()
        );
        let message: Value = serde_json::from_str(&data)
            .unwrap_or_else(|error| panic!("an event that is not JSON ({error}): {data}"));
        if message.get("id").and_then(Value::as_str) == Some(id) {
            return;
        }
    }
}
