//! The JSON-RPC messages every MCP conversation starts with.

use serde_json::{Value, json};

/// An `initialize` request with id `id`, asking for protocol revision `version`, from a
/// client called `client` with no capabilities.
///
/// ```
/// let body = test_support::initialize_body(0, "2025-03-26", "openai-mcp");
/// assert_eq!(body["params"]["clientInfo"]["name"], "openai-mcp");
/// ```
pub fn initialize_body(id: impl Into<Value>, version: &str, client: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id.into(), "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": client, "version": "1.0.0" }
        }
    })
}

/// The `notifications/initialized` a client sends once it has the `initialize` answer.
pub fn initialized_notification() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}
