//! Resting sessions (`SessionLimits::rest_after`): a stateful session unused for the rest
//! period gives up its worker and handler, keeps its place, its owner and its id, and its
//! next request restores it. A session with a request in flight or a stream open does not
//! rest, and a resting one still ends after the idle timeout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mcp_core::{HttpConfig, McpServer, SessionLimits};
use reqwest::{Method, StatusCode};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{CallToolRequestParams, CallToolResponse, ServerConfig as InitResult},
    service::RequestContext,
};
use serde_json::json;
use test_support::{ACCEPT_BOTH, PROTOCOL_VERSION_HEADER, SESSION_HEADER, http, rpc_message};

use crate::{
    Running, Sleeper,
    owners::{VERSION, in_session, open_session_as, principal_from_header},
    start_app,
};

/// [`Sleeper`], counting the handlers alive (one per awake session).
struct Counted {
    alive: Arc<AtomicUsize>,
}

impl Counted {
    fn new(alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Self {
            alive: Arc::clone(alive),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ServerHandler for Counted {
    fn get_info(&self) -> InitResult {
        Sleeper.get_info()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Sleeper.call_tool(request, context).await
    }
}

struct Resting {
    server: McpServer,
    running: Running,
    /// Handlers alive.
    alive: Arc<AtomicUsize>,
}

/// A stateful server whose sessions rest after `rest` (`None`: never) and end after
/// `idle`, at most `max` of them, principals from `x-principal`.
async fn start(rest: Option<Duration>, idle: Duration, max: usize) -> Resting {
    let config = HttpConfig::builder()
        .session_limits(SessionLimits {
            max_sessions: max,
            idle_timeout: idle,
            rest_after: rest,
            ..SessionLimits::default()
        })
        .build()
        .unwrap();
    let alive = Arc::new(AtomicUsize::new(0));
    let server = McpServer::new(config, {
        let alive = Arc::clone(&alive);
        move || Counted::new(&alive)
    });
    let app = server
        .mcp_routes()
        .layer(axum::middleware::from_fn(principal_from_header));
    let running = start_app(server.clone(), app).await;
    Resting {
        server,
        running,
        alive,
    }
}

/// Waits up to three seconds for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// A `tools/call` of `sleep {ms}` in session `id` as `who`: status and reply text.
async fn sleep_in(base: &str, who: &str, id: &str, ms: u64) -> (StatusCode, String) {
    let response = http()
        .post(format!("{base}/mcp"))
        .header("accept", ACCEPT_BOTH)
        .header("x-principal", who)
        .header(SESSION_HEADER, id)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "sleep", "arguments": {"ms": ms}}}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let reply = rpc_message(response, 7).await;
    (status, reply["result"]["content"][0]["text"].to_string())
}

const REST: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_unused_session_rests_and_its_next_request_restores_it() {
    let resting = start(Some(REST), IDLE, 10).await;
    let id = open_session_as(&resting.running, "alice").await;
    assert_eq!(resting.alive.load(Ordering::SeqCst), 1);

    eventually("the session rests", || {
        resting.server.resting_sessions() == 1
    })
    .await;
    // Its worker and handler are gone; its place is kept.
    eventually("the handler is dropped", || {
        resting.alive.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(resting.server.open_sessions(), 1);

    // The same id works, restored with a new handler.
    let (status, text) = sleep_in(&resting.running.url, "alice", &id, 0).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "\"slept\""));
    assert_eq!(resting.server.resting_sessions(), 0);
    assert_eq!(resting.alive.load(Ordering::SeqCst), 1);
    assert_eq!(resting.server.open_sessions(), 1);

    // And it rests again.
    eventually("the session rests again", || {
        resting.server.resting_sessions() == 1
    })
    .await;
}

#[tokio::test]
async fn without_a_rest_period_a_session_keeps_its_handler() {
    let resting = start(None, IDLE, 10).await;
    let id = open_session_as(&resting.running, "alice").await;
    tokio::time::sleep(REST * 3).await;
    assert_eq!(resting.server.resting_sessions(), 0);
    assert_eq!(resting.alive.load(Ordering::SeqCst), 1);
    assert_eq!(
        in_session(&resting.running, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    assert_eq!(resting.alive.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_session_does_not_rest_while_a_request_is_in_flight() {
    let resting = start(Some(REST), IDLE, 10).await;
    let id = open_session_as(&resting.running, "alice").await;
    let call = tokio::spawn({
        let url = resting.running.url.clone();
        let id = id.clone();
        async move { sleep_in(&url, "alice", &id, 1000).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(resting.server.resting_sessions(), 0, "rested mid-call");
    let (status, text) = call.await.unwrap();
    assert_eq!((status, text.as_str()), (StatusCode::OK, "\"slept\""));
    eventually("the session rests once the call is done", || {
        resting.server.resting_sessions() == 1
    })
    .await;
}

#[tokio::test]
async fn a_session_does_not_rest_while_its_stream_is_open() {
    let resting = start(Some(REST), IDLE, 10).await;
    let id = open_session_as(&resting.running, "alice").await;
    let stream = http()
        .get(format!("{}/mcp", resting.running.url))
        .header("accept", "text/event-stream")
        .header("x-principal", "alice")
        .header(SESSION_HEADER, &id)
        .header(PROTOCOL_VERSION_HEADER, VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    tokio::time::sleep(REST * 3).await;
    assert_eq!(
        resting.server.resting_sessions(),
        0,
        "rested with a stream open"
    );
    assert_eq!(resting.alive.load(Ordering::SeqCst), 1);
    drop(stream);
    eventually("the session rests once its stream is closed", || {
        resting.server.resting_sessions() == 1
    })
    .await;
}

#[tokio::test]
async fn a_resting_session_keeps_its_owner_and_its_place() {
    let resting = start(Some(REST), IDLE, 1).await;
    let id = open_session_as(&resting.running, "alice").await;
    eventually("the session rests", || {
        resting.server.resting_sessions() == 1
    })
    .await;

    // Another principal learns nothing of it.
    for method in [Method::POST, Method::GET, Method::DELETE] {
        assert_eq!(
            in_session(&resting.running, "mallory", &id, method).await,
            StatusCode::NOT_FOUND
        );
    }
    // It still holds the one place.
    let refused = test_support::mcp_post(&format!("{}/mcp", resting.running.url))
        .header("x-principal", "bob")
        .json(&test_support::initialize_body(1, VERSION, "bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);

    // At the cap, it wakes in its own place.
    let (status, _) = sleep_in(&resting.running.url, "alice", &id, 0).await;
    assert_eq!(status, StatusCode::OK);

    // Ended by its owner, it frees the place.
    eventually("the session rests", || {
        resting.server.resting_sessions() == 1
    })
    .await;
    assert_eq!(
        in_session(&resting.running, "alice", &id, Method::DELETE).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(resting.server.open_sessions(), 0);
    assert_eq!(resting.server.resting_sessions(), 0);
    assert_eq!(
        in_session(&resting.running, "alice", &id, Method::POST).await,
        StatusCode::NOT_FOUND
    );
    open_session_as(&resting.running, "bob").await;
}

#[tokio::test]
async fn a_resting_session_still_ends_after_the_idle_timeout() {
    let resting = start(Some(REST), Duration::from_millis(800), 10).await;
    let id = open_session_as(&resting.running, "alice").await;
    eventually("the session rests", || {
        resting.server.resting_sessions() == 1
    })
    .await;
    eventually("the session ends", || resting.server.open_sessions() == 0).await;
    assert_eq!(resting.server.resting_sessions(), 0);
    assert_eq!(
        in_session(&resting.running, "alice", &id, Method::POST).await,
        StatusCode::NOT_FOUND
    );
}
