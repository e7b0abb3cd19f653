//! The routes: the MCP routes behind the guard and request limits, and health. The state
//! they share is [`McpServer`](crate::McpServer)'s; the serve loop is in `listen.rs`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    error_handling::HandleErrorLayer,
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        SessionManager, StreamableHttpServerConfig, StreamableHttpService,
        session::never::NeverSessionManager,
    },
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::{
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
    validate_request::{ValidateRequest, ValidateRequestHeaderLayer},
};

use crate::{
    HttpConfig, SessionMode,
    guard::{CheckHostAndOrigin, HostGuard},
    jsonrpc::{Envelope, PrecheckLayer},
    rate::{LimitRate, RateLimiterState},
    refusal::Refusal,
    sessions::{CappedSessionManager, Principal, SessionBudget, SessionError, opened_by},
    store::{
        LocalStore, RmcpStore, SessionStore, SharedSessionError, SharedSessions, Stored,
        noting_store_failure,
    },
};

/// Where MCP Streamable HTTP is served (`/mcp/` too, through [`McpServer::serve`]'s path
/// normalization, never a redirect).
///
/// [`McpServer::serve`]: crate::McpServer::serve
pub const MCP_PATH: &str = "/mcp";
/// The liveness endpoint: `200` while the server is serving.
pub const HEALTH_PATH: &str = "/healthz";

/// The MCP routes, behind the Host/Origin guard, the rate limit, the body limit, load
/// shedding and the request timeout; see [`McpServer::mcp_routes`](crate::McpServer::mcp_routes).
pub(crate) fn mcp_routes<S, F>(
    config: &HttpConfig,
    budget: &SessionBudget,
    cancellation: &CancellationToken,
    store: Option<Arc<dyn SessionStore>>,
    factory: F,
) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    let mut mcp = Router::new();
    if config.transports.streamable_http() {
        mcp = mcp.merge(streamable_routes(
            config,
            budget,
            cancellation,
            store,
            Arc::clone(&factory),
        ));
    }
    if config.transports.sse() {
        mcp = mcp.merge(crate::sse::routes(
            config,
            budget.clone(),
            cancellation.clone(),
            factory,
        ));
    }
    let guard = CheckHostAndOrigin(Arc::new(HostGuard::new(
        &config.allowed_hosts,
        &config.allowed_origins,
    )));
    // Outermost first: the Host/Origin guard; the rate limit, if any (just inside the
    // guard: a refused request costs a map lookup); the body limit (a declared
    // Content-Length over it gets 413 before anything is read, so no `100 Continue`
    // either; a body that grows past it fails its read, and that is 413 too); load
    // shedding at the in-flight cap; the request timeout. One tower stack, layered on the
    // routes once: each `Router::layer` boxes the routes anew, and each request pays for
    // every box.
    let requests = config.requests;
    let limits =
        ServiceBuilder::new()
            .layer(ValidateRequestHeaderLayer::custom(guard))
            .option_layer(requests.rate.map(|rate| {
                ValidateRequestHeaderLayer::custom(LimitRate(RateLimiterState::new(rate)))
            }))
            // The body limit's own response body (its 413) back to axum's.
            .map_response(
                |response: Response<tower_http::limit::ResponseBody<axum::body::Body>>| {
                    response.map(axum::body::Body::new)
                },
            )
            .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(requests.max_in_flight))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                requests.timeout,
            ));
    mcp.layer(limits)
}

/// `GET /healthz`: `200 {"status":"ok"}` while serving. Public.
pub fn health_routes() -> Router {
    Router::new().route(HEALTH_PATH, get(health))
}

fn streamable_routes<S, F>(
    config: &HttpConfig,
    budget: &SessionBudget,
    cancellation: &CancellationToken,
    store: Option<Arc<dyn SessionStore>>,
    factory: Arc<F>,
) -> Router
where
    S: ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let handler = Arc::clone(&factory);
    let factory = move || Ok(factory());
    let mut rmcp_config = rmcp_config(config, cancellation);
    let precheck = PrecheckLayer {
        max_body_bytes: config.max_body_bytes,
        direct: false,
    };
    match config.session_mode {
        SessionMode::Stateful => {
            let sessions = CappedSessionManager::new(
                budget.clone(),
                config.limits.idle_timeout,
                config.limits.rest_after,
                cancellation.clone(),
            );
            // A resting session is restored from a store: without a shared one, from one
            // in this process.
            let store = store.or_else(|| {
                sessions
                    .rests()
                    .then(|| Arc::new(LocalStore::default()) as Arc<dyn SessionStore>)
            });
            let shared = store.map(|store| SharedSessions::new(store, config.limits.idle_timeout));
            if let Some(shared) = &shared {
                rmcp_config.session_store = Some(Arc::new(RmcpStore(shared.clone())));
            }
            let service = Shared::new(StreamableHttpService::new(
                factory,
                Arc::clone(&sessions),
                rmcp_config,
            ));
            let owners = SessionOwners {
                sessions,
                shared,
                last_sweep: Arc::default(),
            };
            // Outermost last: the DELETE answer, the JSON-RPC pre-check, the session cap,
            // the session owner.
            Router::new()
                .route_service(MCP_PATH, service)
                .layer(middleware::from_fn_with_state(
                    owners.clone(),
                    keep_to_owner,
                ))
                .layer(middleware::from_fn_with_state(owners, refuse_when_full))
                .layer(precheck)
                .layer(middleware::from_fn(normalize_delete))
        }
        SessionMode::Stateless => {
            let sessions = Arc::new(NeverSessionManager::default());
            let service = Shared::new(StreamableHttpService::new(factory, sessions, rmcp_config));
            // The DELETE answer, then the JSON-RPC pre-check, as one stack on the route (no
            // per-request boxing between them).
            let stack = ServiceBuilder::new()
                .layer(ValidateRequestHeaderLayer::custom(StatelessDelete))
                .layer(PrecheckLayer {
                    direct: config.direct_dispatch,
                    ..precheck
                });
            if config.direct_dispatch {
                let direct = crate::direct::Direct::new(service, handler, cancellation.clone());
                Router::new().route_service(MCP_PATH, stack.service(direct))
            } else {
                Router::new().route_service(MCP_PATH, stack.service(service))
            }
        }
    }
}

/// rmcp's service behind an `Arc`. axum clones a route's service for every request, and
/// cloning `StreamableHttpService` copies its whole config (the allowed-host and -origin
/// lists, a dozen strings, allocated and freed per request; under 1 % of the profile).
/// `handle` takes `&self`, so one shared instance serves every request.
pub(crate) struct Shared<S, M>(Arc<StreamableHttpService<S, M>>);

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

/// rmcp's settings for `/mcp`. Its Host/Origin check and body limit are turned off: the
/// guard and the body limit layer in front of it are the one check and the one limit of
/// every MCP route, so two parsers of one rule cannot disagree.
fn rmcp_config(
    config: &HttpConfig,
    cancellation: &CancellationToken,
) -> StreamableHttpServerConfig {
    let stateless = config.session_mode == SessionMode::Stateless;
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!stateless)
        .with_json_response(stateless)
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(usize::MAX)
        .with_sse_keep_alive(config.sse_keep_alive)
        .with_cancellation_token(cancellation.child_token())
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `DELETE` on `/mcp` always answers `204 No Content` when it succeeds. A stateless server
/// has no session to end, so a client that sends `DELETE` anyway (as OpenAI's does after
/// listing tools) is told it worked ([`StatelessDelete`]) rather than `405`; a stateful one
/// ends the session, and rmcp's `202` becomes `204`, which strict clients (the Python SDK)
/// expect.
async fn normalize_delete(request: Request, next: Next) -> Response {
    if request.method() != Method::DELETE {
        return next.run(request).await;
    }
    let mut response = next.run(request).await;
    if response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

/// A stateless server's `DELETE`: `204 No Content` at once (see [`normalize_delete`]).
#[derive(Debug, Clone, Copy)]
struct StatelessDelete;

impl<B> ValidateRequest<B> for StatelessDelete {
    type ResponseBody = axum::body::Body;

    fn validate(&mut self, request: &mut axum::http::Request<B>) -> Result<(), Response> {
        if request.method() == Method::DELETE {
            return Err(StatusCode::NO_CONTENT.into_response());
        }
        Ok(())
    }
}

/// `503 Service Unavailable` for a new session when the cap is reached (`429` when the
/// principal's quota is), instead of rmcp's generic `500`. Only an `initialize` without
/// `Mcp-Session-Id` opens a session, whatever revision it names; everything else passes.
async fn refuse_when_full(
    State(owners): State<SessionOwners>,
    request: Request,
    next: Next,
) -> Response {
    let opens_session = request.method() == Method::POST
        && !request.headers().contains_key(SESSION_ID_HEADER)
        && request
            .extensions()
            .get::<Envelope>()
            .is_some_and(|envelope| envelope.method.as_deref() == Some("initialize"));
    if opens_session
        && let Err(error) = owners
            .check_room(request.extensions().get::<Principal>())
            .await
    {
        tracing::warn!(%error, "refused a new session");
        return Refusal::NoSessionRoom(error).into_response();
    }
    next.run(request).await
}

/// `Mcp-Session-Id`, as `HeaderMap` names it (lowercase).
pub(crate) const SESSION_ID_HEADER: &str = "mcp-session-id";

/// What [`keep_to_owner`] needs: the local sessions (with the budget they draw on), and the
/// shared store, if the sessions are shared by replicas.
#[derive(Clone)]
struct SessionOwners {
    sessions: Arc<CappedSessionManager>,
    shared: Option<SharedSessions>,
    /// When the last sweep for sessions ended elsewhere began (one at a time).
    last_sweep: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

/// The least time between two sweeps for sessions ended elsewhere: each costs a store
/// lookup per session held, so a client refused for want of room cannot make every refusal
/// cost that.
const SWEEP_INTERVAL: Duration = Duration::from_millis(200);

impl SessionOwners {
    /// Whether `principal` may open (or restore) one more session here.
    ///
    /// A replica holds a copy of every shared session it has served; when the session is
    /// ended on another replica (`DELETE`), the copy here stays until it is used or idles
    /// out, holding a place in the budget and in its owner's quota. So before refusing for
    /// want of room, the sessions in question (the principal's, or all at the cap) are
    /// looked up in the store, and those it no longer has are ended here.
    async fn check_room(&self, principal: Option<&Principal>) -> Result<(), SessionError> {
        let error = match self.sessions.budget().check_room(principal) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let Some(shared) = &self.shared else {
            return Err(error);
        };
        let held = match &error {
            SessionError::QuotaReached { .. } => self.sessions.stored_sessions_of(Some(principal)),
            SessionError::Full { .. } => self.sessions.stored_sessions_of(None),
            SessionError::Local(_) => return Err(error),
        };
        {
            let Ok(mut last) = self.last_sweep.try_lock() else {
                return Err(error);
            };
            if last.is_some_and(|at| at.elapsed() < SWEEP_INTERVAL) {
                return Err(error);
            }
            *last = Some(Instant::now());
            let mut ended = 0_usize;
            for id in held {
                if let Ok(Stored::Missing) = shared.owner(&id).await
                    && self.sessions.close_session(&id).await.is_ok()
                {
                    ended += 1;
                }
            }
            if ended > 0 {
                tracing::info!(ended, "ended sessions that had ended on other replicas");
            }
        }
        self.sessions.budget().check_room(principal)
    }

    /// Whether `principal` may send `method` to session `id`, and if not, the refusal.
    ///
    /// A session open here is checked here, and, when sessions are shared, refreshed in the
    /// store (a session the store no longer has was ended on another replica, or expired:
    /// it ends here too; while the store fails, it is served on). A session open only on another replica is looked up in the store;
    /// its owner is checked before rmcp restores it here.
    async fn admit(
        &self,
        id: &str,
        principal: Option<&Principal>,
        method: &Method,
    ) -> Result<(), Refusal> {
        if self.sessions.holds(id) {
            if !self.sessions.usable_by(id, principal) {
                tracing::warn!("refused a request for a session another principal opened");
                return Err(Refusal::UnknownSession);
            }
            let Some(shared) = &self.shared else {
                return Ok(());
            };
            return match shared.touch(id).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    tracing::info!("a session ended on another replica (or expired) ends here");
                    if let Err(error) = self.sessions.close_session(&id.into()).await {
                        tracing::warn!(%error, "could not close a session ended elsewhere");
                    }
                    Err(Refusal::UnknownSession)
                }
                Err(error) => {
                    // Held and checked here; no other replica can end it while the store
                    // is down (that needs the store too), so it goes on.
                    tracing::warn!(
                        error = %describe(&error),
                        "could not refresh a session in the shared store; serving it anyway"
                    );
                    Ok(())
                }
            };
        }
        let Some(shared) = &self.shared else {
            // Unknown here and nowhere else: rmcp answers 404.
            return Ok(());
        };
        match shared.owner(id).await {
            Ok(Stored::Missing) => Err(Refusal::UnknownSession),
            Ok(Stored::OwnedBy(owner)) if owner.as_ref() != principal => {
                tracing::warn!("refused a request for a session another principal opened");
                Err(Refusal::UnknownSession)
            }
            Ok(Stored::OwnedBy(_)) if method == Method::DELETE => Ok(()),
            Ok(Stored::OwnedBy(_)) => self.check_room(principal).await.map_err(|error| {
                tracing::warn!(%error, "refused to restore a shared session");
                Refusal::NoSessionRoom(error)
            }),
            Err(error @ SharedSessionError::Corrupt(_)) => {
                tracing::error!(error = %describe(&error), "a shared session cannot be restored");
                Err(Refusal::UnknownSession)
            }
            Err(error) => Err(store_failed(&error)),
        }
    }
}

/// Logs why the shared session store failed; the refusal for it.
fn store_failed(error: &SharedSessionError) -> Refusal {
    tracing::error!(error = %describe(error), "refused a request: the shared session store failed");
    Refusal::SessionStoreUnavailable
}

/// An error and its causes, on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// A stateful session is used only by the principal that opened it: a request naming a
/// session someone else opened gets the `404` an unknown session gets, so it learns
/// nothing, on this replica and, with a shared store, on every other. The request runs
/// with its principal as the opener of any session it creates. With a shared store, a
/// request during which the store failed inside rmcp is refused `503` with `Retry-After`:
/// a new session that could not be saved is ended (rmcp would answer it as opened, and no
/// other replica would know it), a restore whose load failed would be rmcp's `500`, and a
/// `DELETE` that could not reach the store would leave the session alive on other
/// replicas (retried, it is restored here and deleted).
async fn keep_to_owner(
    State(owners): State<SessionOwners>,
    request: Request,
    next: Next,
) -> Response {
    let principal = request.extensions().get::<Principal>().cloned();
    let mut in_flight = None;
    if let Some(id) = request.headers().get(SESSION_ID_HEADER)
        && let Ok(id) = id.to_str()
    {
        if let Err(refusal) = owners.admit(id, principal.as_ref(), request.method()).await {
            return refusal.into_response();
        }
        // The session does not rest until the response (a stream, perhaps) has ended.
        in_flight = owners.sessions.enter(id).await;
    }
    // Without a store nothing is noted as a store failure, and no session is marked.
    let ((response, refused), failure) =
        noting_store_failure(opened_by(principal, next.run(request))).await;
    let response = match in_flight {
        Some(in_flight) => response.map(|body| {
            axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                let _in_flight = &in_flight;
                frame
            }))
        }),
        None => response,
    };
    if let Some(refused) = refused
        && response.status().is_server_error()
    {
        return no_room(refused);
    }
    let Some(error) = failure else {
        // A session this request created is in the store now: a sweep may look it up.
        if owners.shared.is_some()
            && let Some(id) = session_header(&response)
        {
            owners.sessions.mark_stored(id);
        }
        return response;
    };
    if let Some(id) = session_header(&response)
        && let Err(error) = owners.sessions.close_session(&id.into()).await
    {
        tracing::warn!(%error, "could not close a session the store did not take");
    }
    store_failed(&error).into_response()
}

/// The `Mcp-Session-Id` a response names, if any.
fn session_header(response: &Response) -> Option<&str> {
    response
        .headers()
        .get(SESSION_ID_HEADER)
        .and_then(|id| id.to_str().ok())
}

/// The answer to a request the session manager found no room for, racing others past
/// the early check (rmcp would answer `500`).
fn no_room(error: SessionError) -> Response {
    tracing::warn!(%error, "refused a session: no room");
    Refusal::NoSessionRoom(error).into_response()
}

/// `503 Service Unavailable` with `Retry-After` for a request shed at the in-flight cap.
async fn overloaded(error: tower::BoxError) -> Response {
    if !error.is::<tower::load_shed::error::Overloaded>() {
        tracing::error!(%error, "unexpected error from the request limits");
    }
    metrics::counter!("mcp_http_load_shed_total").increment(1);
    Refusal::Overloaded.into_response()
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
