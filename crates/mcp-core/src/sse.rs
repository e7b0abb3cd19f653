//! The legacy HTTP+SSE transport (MCP 2024-11-05) at `GET /sse` + `POST /messages/`.
//!
//! rmcp 3 no longer ships an SSE server, so this module provides one on rmcp's primitives:
//! each `GET /sse` opens a session whose handler runs under rmcp's `serve_server_with_ct`
//! over a channel pair (rmcp's sink/stream transport); `POST /messages/?session_id=…` feeds
//! the inbound channel, and everything the handler sends goes out on the stream as
//! `event: message`. axum's `Sse` does the framing and the keep-alive comments.

use std::{
    collections::{HashMap, hash_map::Entry},
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Extension, Query, State},
    http::{StatusCode, header, request::Parts},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{SinkExt, Stream, StreamExt, channel::mpsc};
use rmcp::{
    ServerHandler,
    model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage},
    service::serve_server_with_ct,
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::{
    HttpConfig,
    idle::{IdleClock, quiet_for},
    jsonrpc::{INVALID_REQUEST, PARSE_ERROR, jsonrpc_error, read_body},
    refusal::Refusal,
    sessions::{Principal, SessionBudget, SessionPermit},
};

/// Where a legacy SSE client opens its stream.
pub const SSE_PATH: &str = "/sse";
/// Where a legacy SSE client posts its messages (`?session_id=…`). The endpoint event
/// names it with the trailing slash other servers use; the route is the path without it
/// (the server's path normalization answers both).
pub const MESSAGES_PATH: &str = "/messages/";
const MESSAGES_ROUTE: &str = "/messages";

/// Messages buffered per direction before the sender waits.
const CHANNEL_CAPACITY: usize = 64;
/// Requests one session may have whose answers the client has not taken off its stream yet.
/// rmcp answers every request it reads, and a client that posts but never reads its stream
/// would otherwise make those answers pile up in memory without bound; beyond this the post
/// gets `429`.
pub const MAX_PENDING_ANSWERS: usize = 16;
/// Bytes of encoded messages one session may have waiting for its client to read them
/// before a post gets `429`. Messages wait encoded (an answer's JSON text is a fraction of
/// the size of rmcp's message value it came from).
pub const MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// Bytes waiting at which the session is closed: only messages the client did not ask for
/// (notifications a handler sends on its own) can take it past [`MAX_QUEUED_BYTES`].
const CLOSE_AT_QUEUED_BYTES: usize = 4 * MAX_QUEUED_BYTES;

/// What the message route needs of an open session.
#[derive(Clone)]
struct Inbound {
    sender: mpsc::Sender<ClientJsonRpcMessage>,
    activity: Arc<SessionActivity>,
    /// Who opened the session; only they may post to it.
    owner: Option<Principal>,
}

/// A session's unanswered requests, its encoded messages waiting to be read, and when the
/// client last posted.
#[derive(Debug)]
struct SessionActivity {
    pending: AtomicUsize,
    queued_bytes: AtomicUsize,
    last_post: IdleClock,
    /// Whether a refusal was logged already (one warning per session, not per post).
    warned: AtomicBool,
}

impl SessionActivity {
    /// Counts one more request whose answer will wait on the stream, unless
    /// [`MAX_QUEUED_BYTES`] already wait or [`MAX_PENDING_ANSWERS`] are unanswered; then
    /// `false`, and nothing is counted.
    fn reserve_answer(&self) -> bool {
        self.queued_bytes.load(Ordering::Acquire) < MAX_QUEUED_BYTES
            && self
                .pending
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < MAX_PENDING_ANSWERS).then_some(n + 1)
                })
                .is_ok()
    }
}

type SessionMap = Arc<Mutex<HashMap<String, Inbound>>>;
type Spawner = Arc<
    dyn Fn(
            mpsc::Sender<ServerJsonRpcMessage>,
            mpsc::Receiver<ClientJsonRpcMessage>,
            CancellationToken,
        ) + Send
        + Sync,
>;

#[derive(Clone)]
struct SseState {
    sessions: SessionMap,
    budget: SessionBudget,
    spawn: Spawner,
    keep_alive: Option<Duration>,
    idle_timeout: Duration,
    cancellation: CancellationToken,
    max_body_bytes: usize,
    session_redirect: bool,
}

fn lock(sessions: &SessionMap) -> std::sync::MutexGuard<'_, HashMap<String, Inbound>> {
    // A map of senders has no invariant a panic could break half-way: keep using it.
    sessions.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `/sse` and `/messages` routes for a handler factory, drawing on `budget` and ended
/// by `cancellation`.
pub(crate) fn routes<S, F>(
    config: &HttpConfig,
    budget: SessionBudget,
    cancellation: CancellationToken,
    factory: Arc<F>,
) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let spawn: Spawner = Arc::new(move |outbound, inbound, cancellation| {
        let handler = factory();
        tokio::spawn(async move {
            match serve_server_with_ct(handler, (outbound, inbound), cancellation).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(error) => tracing::debug!(%error, "SSE session ended before initialize"),
            }
        });
    });
    let state = SseState {
        sessions: Arc::default(),
        budget,
        spawn,
        keep_alive: config.sse_keep_alive,
        idle_timeout: config.limits.idle_timeout,
        cancellation,
        max_body_bytes: config.max_body_bytes,
        session_redirect: config.sse_session_redirect,
    };
    Router::new()
        .route(SSE_PATH, get(open_stream))
        .route(MESSAGES_ROUTE, post(post_message))
        // The body limit is the router's `RequestBodyLimitLayer`, not axum's default.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// One message of the handler's, encoded for the stream.
struct Encoded {
    data: String,
    /// A response or error: it answers a request the client posted.
    is_answer: bool,
}

/// Encodes everything the handler sends as soon as it is sent, so that what waits for a
/// slow or absent reader is JSON text counted in bytes, not rmcp's message values. Past
/// [`CLOSE_AT_QUEUED_BYTES`] the session is closed. Once the stream is gone the task keeps
/// taking (and dropping) what the handler sends until it stops, so rmcp never finds its
/// channel closed mid-answer (it logs that as an error).
fn spawn_encoder(
    mut outbound: mpsc::Receiver<ServerJsonRpcMessage>,
    activity: Arc<SessionActivity>,
    cancellation: CancellationToken,
    id: String,
) -> mpsc::UnboundedReceiver<Encoded> {
    let (encoded_tx, encoded_rx) = mpsc::unbounded();
    tokio::spawn(async move {
        while let Some(message) = outbound.next().await {
            if encoded_tx.is_closed() {
                continue;
            }
            let is_answer = matches!(
                message,
                ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
            );
            let data = match serde_json::to_string(&message) {
                Ok(data) => data,
                Err(error) => {
                    tracing::error!(%error, "could not encode a message for the SSE stream");
                    continue;
                }
            };
            drop(message);
            let queued = activity
                .queued_bytes
                .fetch_add(data.len(), Ordering::AcqRel)
                + data.len();
            if queued > CLOSE_AT_QUEUED_BYTES {
                tracing::warn!(session = %id, queued, "closed an SSE session whose client does not read its stream");
                encoded_tx.close_channel();
                cancellation.cancel();
                continue;
            }
            let _ = encoded_tx.unbounded_send(Encoded { data, is_answer });
        }
    });
    encoded_rx
}

/// Removes the session when its stream is dropped (client gone, or server shutting down).
struct SessionGuard {
    id: String,
    sessions: SessionMap,
    cancellation: CancellationToken,
    _permit: SessionPermit,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        lock(&self.sessions).remove(&self.id);
        self.cancellation.cancel();
        tracing::debug!(session = %self.id, "SSE session closed");
    }
}

/// The event stream of one session, holding its guard.
struct SessionStream {
    events: Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>,
    _guard: SessionGuard,
}

impl Stream for SessionStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// A new session id: 32 lowercase hex digits.
fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `id` looks like one [`new_session_id`] makes.
fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

async fn open_stream(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    principal: Option<Extension<Principal>>,
) -> Response {
    let id = match (state.session_redirect, query.session_id) {
        (false, _) => new_session_id(),
        // Name the session before opening it, so a balancer hashing on session_id sends
        // the stream where the posts will go.
        (true, None) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [
                    (
                        header::LOCATION,
                        format!("{SSE_PATH}?session_id={}", new_session_id()),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response();
        }
        (true, Some(id)) if is_session_id(&id) => id,
        (true, Some(_)) => return Refusal::MalformedSseSessionId.into_response(),
    };
    let owner = principal.map(|Extension(principal)| principal);
    let permit = match state.budget.try_open(owner.as_ref()) {
        Ok(permit) => permit,
        Err(error) => {
            tracing::warn!(%error, "refused a new SSE session");
            return Refusal::NoSessionRoom(error).into_response();
        }
    };
    let (inbound_tx, inbound_rx) = mpsc::channel(CHANNEL_CAPACITY);
    let activity = Arc::new(SessionActivity {
        pending: AtomicUsize::new(0),
        queued_bytes: AtomicUsize::new(0),
        last_post: IdleClock::start(),
        warned: AtomicBool::new(false),
    });
    match lock(&state.sessions).entry(id.clone()) {
        Entry::Occupied(_) => return Refusal::SseSessionIdInUse.into_response(),
        Entry::Vacant(slot) => {
            slot.insert(Inbound {
                sender: inbound_tx,
                activity: Arc::clone(&activity),
                owner,
            });
        }
    }
    let (outbound_tx, outbound_rx) = mpsc::channel::<ServerJsonRpcMessage>(CHANNEL_CAPACITY);
    let session_cancel = state.cancellation.child_token();
    (state.spawn)(outbound_tx, inbound_rx, session_cancel.clone());
    let encoded = spawn_encoder(
        outbound_rx,
        Arc::clone(&activity),
        session_cancel.clone(),
        id.clone(),
    );
    tracing::debug!(session = %id, "SSE session opened");

    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES_PATH}?session_id={id}"));
    let taken = Arc::clone(&activity);
    let messages = encoded.map(move |Encoded { data, is_answer }| {
        taken.queued_bytes.fetch_sub(data.len(), Ordering::AcqRel);
        if is_answer {
            // Saturating: an error answer to a message that was not a request (a bad
            // notification) was never counted.
            let _ = taken
                .pending
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
        Ok(Event::default().event("message").data(data))
    });
    let events = futures::stream::once(async move { Ok(endpoint) })
        .chain(messages)
        .take_until(state.cancellation.clone().cancelled_owned())
        .take_until(Box::pin(async move {
            quiet_for(state.idle_timeout, || activity.last_post.since_touch()).await
        }));
    let stream = SessionStream {
        events: Box::pin(events),
        _guard: SessionGuard {
            id,
            sessions: state.sessions.clone(),
            cancellation: session_cancel,
            _permit: permit,
        },
    };
    let sse = Sse::new(stream);
    match state.keep_alive {
        Some(interval) => sse
            .keep_alive(KeepAlive::new().interval(interval))
            .into_response(),
        None => sse.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct SessionQuery {
    session_id: Option<String>,
}

async fn post_message(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    parts: Parts,
    body: Body,
) -> Response {
    let body = match read_body(body, state.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(session_id) = query.session_id else {
        return Refusal::MissingSseSession.into_response();
    };
    // A session another principal opened is answered as if it did not exist.
    let principal = parts.extensions.get::<Principal>();
    let Some(Inbound {
        sender: mut inbound,
        activity,
        ..
    }) = lock(&state.sessions)
        .get(&session_id)
        .filter(|session| session.owner.as_ref() == principal)
        .cloned()
    else {
        return Refusal::UnknownSseSession.into_response();
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                None,
                PARSE_ERROR,
                format!("Parse error: {error}"),
            )
            .into_response();
        }
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_value(value) {
        Ok(message) => message,
        Err(error) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                None,
                INVALID_REQUEST,
                format!(
                    "Invalid Request: not a JSON-RPC request, notification or response: {error}"
                ),
            )
            .into_response();
        }
    };
    // As rmcp does for /mcp: a handler can read the HTTP request (and what layers put in it).
    match &mut message {
        ClientJsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        _ => {}
    }
    activity.last_post.touch();
    let is_request = matches!(message, ClientJsonRpcMessage::Request(_));
    if is_request && !activity.reserve_answer() {
        if !activity.warned.swap(true, Ordering::AcqRel) {
            tracing::warn!(session = %session_id, "refusing posts until the client reads its stream");
        }
        return Refusal::UnreadSseAnswers.into_response();
    }
    if inbound.send(message).await.is_err() {
        return Refusal::EndedSseSession.into_response();
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
