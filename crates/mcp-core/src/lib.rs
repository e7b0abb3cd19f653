//! MCP over HTTP for any rmcp [`ServerHandler`](rmcp::ServerHandler): Streamable HTTP at `/mcp` (stateful or
//! stateless), the legacy HTTP+SSE transport at `/sse` + `/messages/`, `/healthz`,
//! Host/Origin checks, body and session limits, and graceful shutdown.
//!
//! This crate knows nothing about dice or keys. An [`McpServer`] is built from an
//! [`HttpConfig`] (plain data) and a handler factory; it owns the live state (sessions,
//! cancellation), gives the [`axum::Router`] a program mounts and wraps in its own layers
//! (auth, tracing), and serves it until a shutdown signal, letting in-flight requests finish.
//!
//! ```
//! use mcp_core::{HttpConfig, McpServer, SessionMode};
//! use tower::ServiceExt;
//!
//! // Any rmcp handler; this one has no tools.
//! #[derive(Clone)]
//! struct Nothing;
//! impl rmcp::ServerHandler for Nothing {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = HttpConfig::builder().session_mode(SessionMode::Stateless).build()?;
//! let server = McpServer::new(config, || Nothing);
//! let app = server.router();
//! let request = http::Request::get("/healthz")
//!     .header("host", "127.0.0.1:8000")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(request).await?.status(), 200);
//!
//! // Or serve it until Ctrl-C, letting in-flight requests finish:
//! // let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // server.serve(listener, app, mcp_core::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

mod config;
mod direct;
mod guard;
mod http;
mod idle;
mod jsonrpc;
mod listen;
mod rate;
mod refusal;
mod server;
mod sessions;
mod sse;
mod store;

pub use config::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SESSIONS_PER_PRINCIPAL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SESSION_IDLE,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_SSE_KEEP_ALIVE, HttpConfig, HttpConfigBuilder, RateLimit,
    RequestLimits, SessionLimits, SessionMode, Transports,
};
pub use http::{HEALTH_PATH, MCP_PATH, health_routes, shutdown_signal};
pub use listen::{
    ConnectionLimits, DEFAULT_H2_KEEP_ALIVE, DEFAULT_H2_MAX_STREAMS, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, OVERFLOW_ANSWERS,
};
pub use server::McpServer;
pub use sessions::{Principal, SessionError};
pub use sse::{MAX_PENDING_ANSWERS, MAX_QUEUED_BYTES, MESSAGES_PATH, SSE_PATH};
pub use store::{SessionStore, StoreError};

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
