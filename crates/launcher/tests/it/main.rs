//! End-to-end tests of dice-mcp over real loopback HTTP: rmcp's client (Streamable HTTP and,
//! through a small adapter, legacy SSE), OpenAI's request flow replayed with reqwest, limits,
//! and the `dice-mcp` binary itself.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod abuse;
#[cfg(feature = "tunnel")]
mod ask;
mod auth;
mod binary;
mod check;
mod deploy;
mod dev;
mod docs;
mod hardening;
mod health;
mod limits;
mod metrics;
mod oauth;
mod openai_flow;
mod rmcp_client;
mod shared_sessions;
mod sse;
mod support;
