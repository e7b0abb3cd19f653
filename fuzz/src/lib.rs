//! Fuzz targets for everything dice-mcp reads from the network: dice notation, a JSON-RPC
//! body through the whole router, `/messages/` bodies of the legacy SSE transport, the
//! `Authorization` header with the JWT in it, and JWKS documents.
//!
//! Each target is a plain function of the input bytes that panics when an invariant breaks
//! (a panic anywhere, a `5xx`, an unbounded or missing answer, a leaked session, a token
//! accepted that should not be). libFuzzer drives them through `fuzz_targets/` (`cargo
//! xtask fuzz`, nightly); `tests/replay.rs` runs them on every committed seed and crash
//! input on stable, so CI covers what fuzzing found.

mod auth;
mod harness;
mod notation;
mod router;

pub use auth::{authorization_header, jwks_document};
pub use notation::dice_notation;
pub use router::{jsonrpc_router, sse_messages};

/// A fuzz target: panics when the input breaks an invariant.
pub type Target = fn(&[u8]);

/// Every target by the name of its binary in `fuzz_targets/` and of its directories under
/// `corpus/` and `artifacts/`.
pub const TARGETS: [(&str, Target); 5] = [
    ("dice_notation", dice_notation),
    ("jsonrpc_router", jsonrpc_router),
    ("sse_messages", sse_messages),
    ("authorization_header", authorization_header),
    ("jwks_document", jwks_document),
];
