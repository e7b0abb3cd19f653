//! MCP over HTTP for any rmcp [`ServerHandler`]: Streamable HTTP at `/mcp` (stateful or
//! stateless), the legacy HTTP+SSE transport at `/sse` + `/messages/`, `/healthz`,
//! Host/Origin checks, body and session limits, and graceful shutdown.
//!
//! This crate knows nothing about dice or keys. [`router`] turns a handler factory into an
//! [`axum::Router`] that a program mounts and wraps in its own layers (auth, tracing);
//! [`serve`] runs it until a shutdown signal and lets in-flight requests finish.
//!
//! ```no_run
//! # async fn demo<H: rmcp::ServerHandler + Clone + Send + Sync + 'static>(handler: H) -> Result<(), mcp_core::Error> {
//! use mcp_core::{ServerConfig, Transport};
//! let config = ServerConfig::builder().transport(Transport::Stateless).build()?;
//! let app = mcp_core::router(&config, move || handler.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! mcp_core::serve(listener, app, &config, mcp_core::shutdown_signal()).await
//! # }
//! ```

mod config;
mod guard;
mod http;
mod idle;
mod jsonrpc;
mod listen;
mod rate;
mod sessions;
mod sse;

pub use config::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SESSIONS_PER_PRINCIPAL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SESSION_IDLE,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_SSE_KEEP_ALIVE, Endpoints, RateLimit, RequestLimits,
    ServerConfig, ServerConfigBuilder, SessionLimits, Transport,
};
pub use http::{HEALTH_PATH, MCP_PATH, health_routes, mcp_routes, router, shutdown_signal};
pub use listen::{
    ConnectionLimits, DEFAULT_H2_KEEP_ALIVE, DEFAULT_H2_MAX_STREAMS, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, OVERFLOW_ANSWERS,
    serve,
};
pub use rmcp::ServerHandler;
pub use sessions::{CappedSessionManager, Principal, SessionBudget, SessionError, SessionPermit};
pub use sse::{MAX_PENDING_ANSWERS, MAX_QUEUED_BYTES, MESSAGES_PATH, SSE_PATH};

/// Errors from configuring or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting makes no sense; the message says which and what is allowed.
    #[error("invalid server configuration: {0}")]
    InvalidConfig(String),
    /// Binding or serving failed.
    #[error("server I/O failed: {0}")]
    Io(#[from] std::io::Error),
}
