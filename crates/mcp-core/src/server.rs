//! [`McpServer`]: the value that owns a server's state (the session budget, the
//! cancellation of its sessions and streams) and gives its routes and its serve loop.

use std::{future::Future, sync::Arc};

use axum::Router;
use rmcp::ServerHandler;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Error, HttpConfig, SessionMode, SessionStore, sessions::SessionBudget};

/// One MCP server: built from an [`HttpConfig`] (plain data) and a handler factory, it owns
/// what is live: the session budget shared by `/mcp` and `/sse`, the count of open
/// sessions, and the cancellation that ends them. Cheap to clone; clones are the same
/// server.
///
/// ```no_run
/// # async fn demo<H: rmcp::ServerHandler + Clone + Send + Sync + 'static>(handler: H) -> Result<(), mcp_core::Error> {
/// use mcp_core::{HttpConfig, McpServer, SessionMode};
/// let config = HttpConfig::builder().session_mode(SessionMode::Stateless).build()?;
/// let server = McpServer::new(config, move || handler.clone());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// server.serve(listener, server.router(), mcp_core::shutdown_signal()).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HttpConfig,
    budget: SessionBudget,
    cancellation: CancellationToken,
    mcp_routes: Router,
}

impl McpServer {
    /// A server for `config` whose sessions are served by handlers from `factory`.
    ///
    /// The factory is called once per session (stateful `/mcp`, `/sse`) or per request
    /// (stateless), so make it cheap: clone a prepared handler.
    pub fn new<S, F>(config: HttpConfig, factory: F) -> Self
    where
        S: ServerHandler + Send + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        Self::build(config, factory, None)
    }

    /// A stateful server like [`Self::new`] whose `/mcp` sessions live in `store` too, so
    /// every replica sharing the store serves them: a session opened on one is restored on
    /// another when a request names it (rmcp replays its `initialize` there), stays its
    /// owner's ([`Principal`](crate::Principal)) everywhere, ends everywhere on `DELETE`,
    /// and expires after the session idle timeout unused on all of them. While the store
    /// is unreachable, opening a session, or taking one over from another replica, is
    /// refused with `503`; sessions open on this replica go on.
    ///
    /// Legacy `/sse` sessions are not shared: their stream is one connection to one
    /// replica.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the config is stateless: it has no sessions to share.
    pub fn with_session_store<S, F>(
        config: HttpConfig,
        factory: F,
        store: Arc<dyn SessionStore>,
    ) -> Result<Self, Error>
    where
        S: ServerHandler + Send + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        if config.session_mode == SessionMode::Stateless {
            return Err(Error::InvalidConfig(
                "a session store needs stateful sessions; a stateless server has none to share"
                    .to_owned(),
            ));
        }
        Ok(Self::build(config, factory, Some(store)))
    }

    fn build<S, F>(config: HttpConfig, factory: F, store: Option<Arc<dyn SessionStore>>) -> Self
    where
        S: ServerHandler + Send + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let budget =
            SessionBudget::new(config.limits.max_sessions, config.limits.max_per_principal);
        let cancellation = CancellationToken::new();
        let mcp_routes = crate::http::mcp_routes(&config, &budget, &cancellation, store, factory);
        Self {
            inner: Arc::new(Inner {
                config,
                budget,
                cancellation,
                mcp_routes,
            }),
        }
    }

    /// The settings it was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// The MCP routes alone, behind the Host/Origin guard and the request limits: `/mcp`
    /// (Streamable HTTP), `/sse` and `/messages/` (legacy HTTP+SSE), as
    /// [`HttpConfig::transports`] says. Layer what must apply to MCP traffic only
    /// (authentication) on this, then merge the public routes ([`health_routes`], metadata).
    /// Every call gives the same routes over the same sessions.
    ///
    /// [`health_routes`]: crate::health_routes
    pub fn mcp_routes(&self) -> Router {
        self.inner.mcp_routes.clone()
    }

    /// [`Self::mcp_routes`] with [`health_routes`](crate::health_routes): the whole router
    /// of a server without authentication.
    pub fn router(&self) -> Router {
        self.mcp_routes().merge(crate::health_routes())
    }

    /// Sessions open right now, across `/mcp` and `/sse` (resting ones included).
    pub fn open_sessions(&self) -> usize {
        self.inner.budget.open()
    }

    /// Of [`Self::open_sessions`], the stateful sessions resting right now (see
    /// [`SessionLimits::rest_after`](crate::SessionLimits::rest_after)).
    pub fn resting_sessions(&self) -> usize {
        self.inner.budget.resting()
    }

    /// Ends every session and stream of this server and stops [`Self::serve`] (which then
    /// shuts down as it does at its signal).
    pub fn close(&self) {
        self.inner.cancellation.cancel();
    }

    /// Serves `app` (this server's routes, with whatever the program layered on them) on
    /// `listener` under the config's connection limits, until `signal` resolves or
    /// [`Self::close`] is called; then shuts down within the config's shutdown grace plus
    /// one second, whatever clients do:
    ///
    /// 1. stops accepting; responses from then on say `Connection: close`;
    /// 2. after a short settle (so requests already on the wire are read and answered),
    ///    tells every connection to close: idle ones at once, busy ones after their current
    ///    request (HTTP/2: `GOAWAY`);
    /// 3. at the grace, ends every session and stream, and half a second later drops
    ///    whatever connection is still open.
    ///
    /// A path with a trailing slash is answered as the path without it (`/mcp/` as `/mcp`):
    /// tower-http's `NormalizePath` rewrites it before routing, never a redirect. Serving the
    /// routes with another loop, wrap them in `NormalizePathLayer::trim_trailing_slash()`
    /// for the same.
    pub async fn serve(
        &self,
        listener: TcpListener,
        app: Router,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let config = &self.inner.config;
        crate::listen::serve(
            listener,
            app,
            config.connections,
            config.shutdown_grace,
            self.inner.cancellation.clone(),
            signal,
        )
        .await
    }
}
