//! What the integration tests of mcp-core and the launcher (and the fuzz harness) share, so
//! each is written once: the JSON-RPC bodies a client starts with, an HTTP client that does
//! not follow redirects, opening a Streamable HTTP session by hand, reading event streams
//! (with `sse-stream`, the decoder rmcp uses), sending requests to a router in process,
//! the PKCE pair an OAuth client makes, and a `redis-server` of a test's own.
//!
//! It knows no server: a test passes its URL, its address or its router. It never depends on
//! the crates it tests, so mcp-core's tests can use it without the launcher or the tools.

// A test helper that meets something unexpected has nothing better to do than fail the test
// that called it, with a message saying what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod oauth;
mod redis;
mod router;
mod rpc;
mod sse;

pub use client::{client_builder, http, mcp_post, open_session, post_rpc, session_id};
pub use oauth::pkce;
pub use redis::RedisServer;
pub use router::{loopback_request, oneshot, oneshot_collect};
pub use rpc::{initialize_body, initialized_notification};
pub use sse::{Event, EventStream, UnreadSse, open_sse, rpc_message};

/// The `Accept` header a Streamable HTTP client sends on a POST: it takes a JSON answer or
/// an event stream, whichever the server chooses.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// The header that carries a Streamable HTTP session's id, both ways.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The header that names the protocol revision on every request after `initialize`.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
