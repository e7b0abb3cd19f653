//! The axum router ([`router`]): the MCP routes behind the guard and request limits, and
//! health. The serve loop is in `listen.rs`.

use std::sync::Arc;

use axum::{
    Json, Router,
    error_handling::HandleErrorLayer,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde_json::json;
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer};

use crate::{
    ServerConfig, Transport,
    guard::{HostGuard, check_host_and_origin},
    jsonrpc::{Envelope, precheck_jsonrpc},
    rate::{RateLimiterState, limit_rate},
    sessions::{CappedSessionManager, Principal, SessionBudget, opened_by},
};

/// Where MCP Streamable HTTP is served (also answered at `/mcp/`, without a redirect).
pub const MCP_PATH: &str = "/mcp";
/// The liveness endpoint: `200` while the server is serving.
pub const HEALTH_PATH: &str = "/healthz";

/// Builds the whole router for a handler factory: [`mcp_routes`] plus [`health_routes`].
///
/// The factory is called once per session (stateful, SSE) or per request (stateless), so
/// make it cheap: clone a prepared handler.
pub fn router<S, F>(config: &ServerConfig, factory: F) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    mcp_routes(config, factory).merge(health_routes())
}

/// The MCP routes alone, behind the Host/Origin guard: `/mcp` and `/mcp/` (Streamable HTTP),
/// `/sse` and `/messages/` (legacy HTTP+SSE), as [`ServerConfig::endpoints`] says. Layer
/// what must apply to MCP traffic only (authentication) on this, then merge the public
/// routes ([`health_routes`], metadata).
pub fn mcp_routes<S, F>(config: &ServerConfig, factory: F) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    let mut mcp = Router::new();
    if config.endpoints.streamable() {
        mcp = mcp.merge(streamable_routes(config, Arc::clone(&factory)));
    }
    if config.endpoints.sse() {
        mcp = mcp.merge(crate::sse::routes(config, factory));
    }
    let guard = Arc::new(HostGuard::new(
        &config.allowed_hosts,
        &config.allowed_origins,
    ));
    // Outermost first: the Host/Origin guard; the rate limit, if any; the body limit (a declared Content-Length
    // over it gets 413 before anything is read, so no `100 Continue` either); load
    // shedding at the in-flight cap; the request timeout.
    let requests = config.requests;
    let mcp = mcp
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            requests.timeout,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(requests.max_in_flight)),
        )
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    // The rate limit sits just inside the guard: a refused request costs a map lookup.
    let mcp = match requests.rate {
        Some(rate) => mcp.layer(middleware::from_fn_with_state(
            RateLimiterState::new(rate),
            limit_rate,
        )),
        None => mcp,
    };
    mcp.layer(middleware::from_fn_with_state(guard, check_host_and_origin))
}

/// `GET /healthz`: `200 {"status":"ok"}` while serving. Public.
pub fn health_routes() -> Router {
    Router::new().route(HEALTH_PATH, get(health))
}

fn streamable_routes<S, F>(config: &ServerConfig, factory: Arc<F>) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let factory = move || Ok(factory());
    let rmcp_config = rmcp_config(config);
    match config.transport {
        Transport::Stateful => {
            let sessions = Arc::new(CappedSessionManager::new(
                config.budget.clone(),
                config.limits.idle_timeout,
            ));
            let service = Shared::new(StreamableHttpService::new(
                factory,
                Arc::clone(&sessions),
                rmcp_config,
            ));
            Router::new()
                .route_service(MCP_PATH, service.clone())
                .route_service("/mcp/", service)
                .layer(middleware::from_fn_with_state(sessions, keep_to_owner))
                .layer(middleware::from_fn_with_state(
                    config.budget.clone(),
                    refuse_when_full,
                ))
                .layer(middleware::from_fn_with_state(
                    config.max_body_bytes,
                    precheck_jsonrpc,
                ))
                .layer(middleware::from_fn_with_state(
                    Transport::Stateful,
                    normalize_delete,
                ))
        }
        Transport::Stateless => {
            let sessions = Arc::new(NeverSessionManager::default());
            let service = Shared::new(StreamableHttpService::new(factory, sessions, rmcp_config));
            Router::new()
                .route_service(MCP_PATH, service.clone())
                .route_service("/mcp/", service)
                .layer(middleware::from_fn_with_state(
                    config.max_body_bytes,
                    precheck_jsonrpc,
                ))
                .layer(middleware::from_fn_with_state(
                    Transport::Stateless,
                    normalize_delete,
                ))
        }
    }
}

/// rmcp's service behind an `Arc`. axum clones a route's service for every request, and
/// cloning `StreamableHttpService` copies its whole config (the allowed-host and -origin
/// lists, a dozen strings, allocated and freed per request; under 1 % of the profile).
/// `handle` takes `&self`, so one shared instance serves every request.
struct Shared<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> Shared<S, M> {
    fn new(service: StreamableHttpService<S, M>) -> Self {
        Self(Arc::new(service))
    }
}

impl<S, M> Clone for Shared<S, M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S, M> tower::Service<Request> for Shared<S, M>
where
    S: ServerHandler + Send + 'static,
    M: rmcp::transport::streamable_http_server::SessionManager,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await.map(axum::body::Body::new)) })
    }
}

fn rmcp_config(config: &ServerConfig) -> StreamableHttpServerConfig {
    let stateless = config.transport == Transport::Stateless;
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!stateless)
        .with_json_response(stateless)
        .with_allowed_hosts(config.allowed_hosts.iter().cloned())
        .with_allowed_origins(config.allowed_origins.iter().cloned())
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_sse_keep_alive(config.sse_keep_alive)
        .with_cancellation_token(config.cancellation.child_token())
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `DELETE` on `/mcp` always answers `204 No Content` when it succeeds. A stateless server
/// has no session to end, so a client that sends `DELETE` anyway (as OpenAI's does after
/// listing tools) is told it worked rather than `405`; a stateful one ends the session, and
/// rmcp's `202` becomes `204`, which strict clients (the Python SDK) expect.
async fn normalize_delete(
    State(transport): State<Transport>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::DELETE {
        return next.run(request).await;
    }
    if transport == Transport::Stateless {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut response = next.run(request).await;
    if response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

/// A refusal sent before the request body was read. It says `Connection: close`: the
/// unread body makes the connection unusable, and a client that tried to reuse it would
/// see the server hang up without an answer.
pub(crate) fn early_refusal(status: StatusCode, message: String) -> Response {
    let mut response = (status, message).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `503 Service Unavailable` for a new session when the cap is reached (`429` when the
/// principal's quota is), instead of rmcp's generic `500`. Only an `initialize` without
/// `Mcp-Session-Id` opens a session, whatever revision it names; everything else passes.
async fn refuse_when_full(
    State(budget): State<SessionBudget>,
    request: Request,
    next: Next,
) -> Response {
    let opens_session = request.method() == Method::POST
        && !request.headers().contains_key(SESSION_ID_HEADER)
        && request
            .extensions()
            .get::<Envelope>()
            .is_some_and(|envelope| envelope.method.as_deref() == Some("initialize"));
    if opens_session && let Err(error) = budget.check_room(request.extensions().get::<Principal>())
    {
        tracing::warn!(%error, "refused a new session");
        return session_cap_refusal(&error);
    }
    next.run(request).await
}

const SESSION_ID_HEADER: &str = "mcp-session-id";

/// A stateful session is used only by the principal that opened it: a request naming a
/// session someone else opened gets the `404` an unknown session gets, so it learns
/// nothing. The request runs with its principal as the opener of any session it creates.
async fn keep_to_owner(
    State(sessions): State<Arc<CappedSessionManager>>,
    request: Request,
    next: Next,
) -> Response {
    let principal = request.extensions().get::<Principal>().cloned();
    if let Some(id) = request.headers().get(SESSION_ID_HEADER)
        && let Ok(id) = id.to_str()
        && !sessions.usable_by(id, principal.as_ref())
    {
        tracing::warn!("refused a request for a session another principal opened");
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    opened_by(principal, next.run(request)).await
}

/// `503 Service Unavailable` with `Retry-After` for a request shed at the in-flight cap.
async fn overloaded(error: tower::BoxError) -> Response {
    if !error.is::<tower::load_shed::error::Overloaded>() {
        tracing::error!(%error, "unexpected error from the request limits");
    }
    retry_after(
        early_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: too many requests in flight; retry shortly".into(),
        ),
        1,
    )
}

/// A new session refused, on either transport: `503 Service Unavailable` when the cap is
/// reached, `429 Too Many Requests` when the principal's quota is; both with `Retry-After`.
pub(crate) fn session_cap_refusal(error: &crate::SessionError) -> Response {
    let status = match error {
        crate::SessionError::QuotaReached { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let reason = status.canonical_reason().unwrap_or("Refused");
    retry_after(early_refusal(status, format!("{reason}: {error}")), 5)
}

/// `response` saying, in `Retry-After`, how many seconds to wait before trying again.
pub(crate) fn retry_after(mut response: Response, seconds: u32) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
