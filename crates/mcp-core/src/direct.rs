//! The direct stateless dispatch: a `POST /mcp` whose answer is one JSON message goes
//! straight to the handler's `Service::handle_request`, with rmcp's model types parsing the
//! request and serializing the answer; everything else goes to rmcp's stateless service.
//!
//! rmcp's stateless path builds, for every request, a service around the handler, a
//! one-shot transport with its channels, cancellation tokens and a spawned task
//! (`serve_directly`), and the profile was dominated by what that allocates and moves. Here
//! a request that rmcp would answer with one JSON message costs a parse, the handler call
//! and a serialization.
//!
//! What is written here rather than taken from rmcp, and why: a handler needs a
//! `RequestContext`, whose `Peer` rmcp only builds inside a running service (`Peer::new` is
//! crate-private). So one detached service per protocol revision is started once and its
//! peer shared by the requests of that revision: its peer info (the revision, default
//! capabilities and client info) is what rmcp's stateless path gives each request, and what
//! a handler sends through it (nothing was asked for: no progress token) is dropped with a
//! warning. A public way to build a `Peer` over a caller's sink would make this exact and
//! remove the detached services.

use std::{
    convert::Infallible,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::FutureExt;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, Service,
    model::{
        CallToolRequest, CallToolRequestMethod, CallToolRequestParams, ClientCapabilities,
        ClientRequest, GetExtensions, GetMeta, Implementation, InitializeRequestParams,
        JsonRpcRequest, JsonRpcVersion2_0, ProtocolVersion, RequestId, ServerJsonRpcMessage,
    },
    service::{Peer, RequestContext, RxJsonRpcMessage, TxJsonRpcMessage, serve_directly_with_ct},
    transport::{Transport, streamable_http_server::SessionManager},
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::{
    http::{SESSION_ID_HEADER, Shared},
    jsonrpc::{Envelope, Present},
};

/// The revisions served directly: those with `initialize`, named by a request's
/// `MCP-Protocol-Version` header (none means 2025-03-26, as in rmcp).
const REVISIONS: [ProtocolVersion; 4] = [
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2024_11_05,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
];

const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// `POST /mcp` on a stateless server: served directly when it can be, else by rmcp.
pub(crate) struct Direct<H, F, M> {
    rmcp: Shared<H, M>,
    inner: Arc<Inner<F>>,
}

struct Inner<F> {
    factory: Arc<F>,
    /// One peer per entry of [`REVISIONS`], started on the first direct request (it needs
    /// the runtime).
    peers: OnceLock<Vec<Peer<RoleServer>>>,
    cancellation: CancellationToken,
}

impl<H, F, M> Clone for Direct<H, F, M> {
    fn clone(&self) -> Self {
        Self {
            rmcp: self.rmcp.clone(),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H, F, M> Direct<H, F, M>
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    /// Direct dispatch in front of `rmcp`, calling `factory` for a handler per request as
    /// rmcp does; its detached services end with `cancellation`.
    pub(crate) fn new(
        rmcp: Shared<H, M>,
        factory: Arc<F>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            rmcp,
            inner: Arc::new(Inner {
                factory,
                peers: OnceLock::new(),
                cancellation,
            }),
        }
    }
}

impl<F, H> Inner<F>
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    /// `message`, of `revision` (an index into [`REVISIONS`]), served by a new handler as
    /// rmcp's stateless path serves it.
    async fn serve(
        &self,
        revision: usize,
        message: JsonRpcRequest<ClientRequest>,
        parts: axum::http::request::Parts,
    ) -> Response {
        let handler = (self.factory)();
        dispatch(&handler, message, parts, self.peer(revision)).await
    }

    /// The peer for `revision` (an index into [`REVISIONS`]).
    fn peer(&self, revision: usize) -> Peer<RoleServer> {
        let peers = self.peers.get_or_init(|| {
            REVISIONS
                .iter()
                .map(|version| {
                    let info = InitializeRequestParams::new(
                        ClientCapabilities::default(),
                        Implementation::default(),
                    )
                    .with_protocol_version(version.clone());
                    let running = serve_directly_with_ct(
                        (self.factory)(),
                        Detached,
                        Some(info),
                        self.cancellation.child_token(),
                    );
                    let peer = running.peer().clone();
                    tokio::spawn(async move {
                        let _ = running.waiting().await;
                    });
                    peer
                })
                .collect()
        });
        peers[revision].clone()
    }
}

impl<H, F, M> tower::Service<Request> for Direct<H, F, M>
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
    M: SessionManager,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // A `tools/call` the pre-check read already: the body is not needed again.
        if let Some(call) = request.extensions_mut().remove::<TypedCall>() {
            let inner = Arc::clone(&self.inner);
            let (parts, _) = request.into_parts();
            return Box::pin(async move {
                let message = JsonRpcRequest::new(
                    call.id,
                    ClientRequest::CallToolRequest(CallToolRequest::new(call.params)),
                );
                Ok(inner.serve(call.revision, message, parts).await)
            });
        }
        let mut rmcp = self.rmcp.clone();
        let revision = (request.method() == Method::POST)
            .then(|| direct_revision(request.headers()))
            .flatten();
        let Some(revision) = revision else {
            return tower::Service::call(&mut rmcp, request);
        };
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // The JSON-RPC pre-check has read the body already: this takes its bytes.
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return Ok(crate::refusal::Refusal::UnreadableBody.into_response());
            };
            // Only a message with a request's shape is parsed here, and as a request at
            // once: rmcp's message parse tries each shape through serde's buffers.
            let message = parts
                .extensions
                .get::<Envelope>()
                .filter(|envelope| envelope.is_request)
                .and_then(|envelope| parse_request(&bytes, envelope.method.as_deref()))
                .filter(|message| served_directly(&message.request));
            match message {
                Some(message) => Ok(inner.serve(revision, message, parts).await),
                // Whatever else (and what rmcp refuses) is rmcp's to answer.
                None => {
                    let request = Request::from_parts(parts, Body::from(bytes));
                    tower::Service::call(&mut rmcp, request).await
                }
            }
        })
    }
}

/// A `tools/call` the pre-check read, for the direct dispatch: the request served most,
/// parsed once, as what the handler gets.
#[derive(Clone)]
pub(crate) struct TypedCall {
    /// Which of [`REVISIONS`] the request's headers name.
    revision: usize,
    id: RequestId,
    params: CallToolRequestParams,
}

/// A `tools/call` message, its fields read in place. rmcp reads a request through two
/// flattened layers (the JSON-RPC envelope, then `params` and its `_meta`), each buffering
/// the message in serde's `Content` first; this reads the same fields directly.
#[derive(Deserialize)]
struct CallMessage {
    /// Read to check it is `"2.0"`.
    #[serde(rename = "jsonrpc")]
    _jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    /// Read to check it is `"tools/call"`.
    #[serde(rename = "method")]
    _method: CallToolRequestMethod,
    params: CallToolRequestParams,
    #[serde(default)]
    result: Present,
    #[serde(default)]
    error: Present,
}

/// `bytes` as a `tools/call` to serve directly, when the request (by its `headers`) may be
/// served directly, the body is one, and rmcp would read it as a request without `_meta`.
/// Anything else (another method, bad params, a `result` or `error` key rmcp refuses, a
/// duplicate key, `_meta`) is `None`, and is checked and parsed as any other message.
pub(crate) fn typed_call(headers: &HeaderMap, bytes: &[u8]) -> Option<TypedCall> {
    let revision = direct_revision(headers)?;
    let message: CallMessage = serde_json::from_slice(bytes).ok()?;
    if message.result.0 || message.error.0 || message.params.meta.is_some() {
        return None;
    }
    Some(TypedCall {
        revision,
        id: message.id,
        params: message.params,
    })
}

/// `bytes` (a message with a request's shape, whose method is `method`) as rmcp's model
/// reads it. `ClientRequest` is an untagged enum of 22 request types, which serde tries in
/// turn, building an error message for each that does not fit; a `tools/call` (the call
/// worth serving fast) is read as its own type at once. What that does not read (bad
/// params) is read as `ClientRequest`, as rmcp would, to the same outcome.
fn parse_request(bytes: &[u8], method: Option<&str>) -> Option<JsonRpcRequest<ClientRequest>> {
    if method == Some("tools/call")
        && let Ok(call) = serde_json::from_slice::<JsonRpcRequest<CallToolRequest>>(bytes)
    {
        return Some(JsonRpcRequest::new(
            call.id,
            ClientRequest::CallToolRequest(call.request),
        ));
    }
    serde_json::from_slice(bytes).ok()
}

/// Which of [`REVISIONS`] a request's headers name, if it may be served directly: it
/// accepts both JSON and SSE and sends JSON (plainly: without parameters, quotes or
/// weights, which rmcp weighs), names a revision with `initialize` or none, and carries no
/// other `Mcp-*` header (SEP-2243's belong to 2026-07-28).
fn direct_revision(headers: &HeaderMap) -> Option<usize> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(e, _)| e);
    if !essence.trim().eq_ignore_ascii_case(JSON) {
        return None;
    }
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let value = value.to_str().ok()?;
        if value.contains([';', '"']) {
            return None;
        }
        for entry in value.split(',').map(str::trim) {
            json |= entry.eq_ignore_ascii_case(JSON);
            sse |= entry.eq_ignore_ascii_case(EVENT_STREAM);
        }
    }
    if !(json && sse) {
        return None;
    }
    let mut revision = 0;
    for (name, value) in headers {
        let name = name.as_str();
        if name == PROTOCOL_VERSION_HEADER {
            revision = revision_of(value)?;
        } else if name.starts_with("mcp-") && name != SESSION_ID_HEADER {
            return None;
        }
    }
    Some(revision)
}

/// The index in [`REVISIONS`] of the revision `value` names.
fn revision_of(value: &HeaderValue) -> Option<usize> {
    let value = value.to_str().ok()?;
    REVISIONS.iter().position(|known| known.as_str() == value)
}

/// Whether rmcp would answer `request` with one JSON message from the handler alone: not
/// the handshake or discovery (rmcp negotiates those), and no `_meta` (a progress token,
/// or 2026-07-28 per-request metadata rmcp validates).
fn served_directly(request: &ClientRequest) -> bool {
    !matches!(
        request,
        ClientRequest::InitializeRequest(_) | ClientRequest::DiscoverRequest(_)
    ) && request.get_meta().is_empty()
}

/// Runs `message` on `handler` as rmcp's serve loop does (the request's extensions, with
/// the HTTP request parts rmcp adds, become the context's) and answers with the JSON
/// message rmcp's stateless JSON mode sends.
async fn dispatch<H: ServerHandler>(
    handler: &H,
    message: JsonRpcRequest<ClientRequest>,
    parts: axum::http::request::Parts,
    peer: Peer<RoleServer>,
) -> Response {
    let JsonRpcRequest {
        id, mut request, ..
    } = message;
    let mut context = RequestContext::new(id.clone(), peer);
    context.meta = std::mem::take(request.get_meta_mut());
    context.extensions = std::mem::take(request.extensions_mut());
    context.extensions.insert(parts);
    // A handler that panics would take the connection down with it here (rmcp runs it in
    // a task of its own); it gets a JSON-RPC internal error instead.
    // Boxed on its own: rmcp's `handle_request` future has room for every request kind's
    // handler future (about 4.5 KiB with the dice tools), and inline it made each future
    // around it as large, each moved whole (memmove was 6% of the profile).
    let handling = Box::pin(handler.handle_request(request, context));
    let outcome = AssertUnwindSafe(handling).catch_unwind().await;
    let reply = match outcome {
        Ok(Ok(result)) => ServerJsonRpcMessage::response(result, id),
        Ok(Err(error)) => ServerJsonRpcMessage::error(error, Some(id)),
        Err(_) => {
            tracing::error!("a handler panicked serving a request");
            ServerJsonRpcMessage::error(
                ErrorData::internal_error("the tool server failed on this request", None),
                Some(id),
            )
        }
    };
    match serde_json::to_vec(&reply) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
            Bytes::from(body),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "could not serialize a reply");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The transport of a detached service: it never receives, and drops what a handler
/// sends through the shared peer (with a warning: nothing was asked for).
struct Detached;

impl Transport<RoleServer> for Detached {
    type Error = Infallible;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Infallible>> + Send + 'static {
        let kind = match &item {
            rmcp::model::JsonRpcMessage::Notification(_) => "a notification",
            rmcp::model::JsonRpcMessage::Request(_) => "a request",
            _ => "a message",
        };
        tracing::warn!(
            "a handler served directly (stateless) sent {kind} to the client, which has no \
             stream to receive it; it was dropped (turn direct dispatch off for this handler)"
        );
        std::future::ready(Ok(()))
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        std::future::pending()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Infallible>> + Send {
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    const PLAIN: [(&str, &str); 2] = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];

    #[test]
    fn plain_requests_of_revisions_with_initialize_are_served_directly() {
        assert_eq!(direct_revision(&headers(&PLAIN)), Some(0));
        let with = |version| {
            let mut h = headers(&PLAIN);
            h.insert(PROTOCOL_VERSION_HEADER, HeaderValue::from_static(version));
            direct_revision(&h)
        };
        assert_eq!(with("2025-06-18"), Some(2));
        assert_eq!(with("2025-11-25"), Some(3));
        assert_eq!(with("2026-07-28"), None);
        assert_eq!(with("1999-01-01"), None);
    }

    #[test]
    fn anything_rmcp_weighs_goes_to_rmcp() {
        for extra in [
            ("mcp-method", "tools/call"),
            ("mcp-name", "roll_dice"),
            ("accept", "application/json;q=0"),
        ] {
            let mut h = headers(&PLAIN);
            h.append(
                header::HeaderName::from_static(extra.0),
                HeaderValue::from_static(extra.1),
            );
            assert_eq!(direct_revision(&h), None, "{extra:?}");
        }
        assert_eq!(
            direct_revision(&headers(&[
                ("content-type", "application/json"),
                ("accept", "application/json")
            ])),
            None
        );
        assert_eq!(
            direct_revision(&headers(&[
                ("content-type", "text/plain"),
                ("accept", "application/json, text/event-stream")
            ])),
            None
        );
        let mut with_session = headers(&PLAIN);
        with_session.insert(SESSION_ID_HEADER, HeaderValue::from_static("abc"));
        assert_eq!(direct_revision(&with_session), Some(0));
    }
}
