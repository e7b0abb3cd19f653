//! How `check` talks to the server: Streamable HTTP (with the session the server may give)
//! or the legacy SSE transport (a stream and the endpoint it named), and what can go wrong.

use reqwest::{Client, Response, StatusCode, header};
use rmcp::model::{ErrorData, JsonRpcError, JsonRpcResponse};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::sse_client::SseStream;

pub(super) const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// The transport in use, with its state.
pub(super) enum Transport {
    /// POSTs to the URL; the session id once `initialize` gave one.
    Streamable { session: Option<String> },
    /// POSTs to the endpoint the stream named; replies arrive on the stream.
    Sse {
        stream: SseStream,
        endpoint: reqwest::Url,
    },
}

/// The server as `check` reaches it: where, with which token, over which transport.
pub(super) struct Link {
    pub(super) http: Client,
    pub(super) url: reqwest::Url,
    pub(super) token: Option<String>,
    pub(super) transport: Transport,
}

/// Why a JSON-RPC exchange gave no reply.
#[derive(Debug, thiserror::Error)]
pub(super) enum RpcError {
    /// The request did not get an HTTP answer.
    #[error("request failed: {0}")]
    Send(#[source] reqwest::Error),
    /// An HTTP status other than the one expected; for a refused token, what the server's
    /// challenge said about why.
    #[error("HTTP {status}{}", refusal.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Status {
        status: StatusCode,
        refusal: Option<String>,
    },
    /// An answer, but not the reply.
    #[error("{0}")]
    NoReply(String),
    /// The server answered with a JSON-RPC error.
    #[error("the server answered error {}: {}", .0.code.0, .0.message)]
    Server(ErrorData),
    /// A reply that is not what the request asks for (parsed with rmcp's model types).
    #[error("the reply is not a valid {method} result: {source}")]
    Malformed {
        method: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl RpcError {
    pub(super) fn from_response(response: &Response) -> Self {
        let refusal = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(refusal_reason);
        Self::Status {
            status: response.status(),
            refusal,
        }
    }

    pub(super) fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::UNAUTHORIZED)
    }
}

/// The `error` and `error_description` of an RFC 6750 challenge, as one phrase:
/// `invalid_token: the token has expired`.
pub(super) fn refusal_reason(challenge: &str) -> Option<String> {
    let param = |name: &str| {
        let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
        let end = challenge[start..].find('"')?;
        Some(challenge[start..start + end].to_owned())
    };
    match (param("error"), param("error_description")) {
        (Some(error), Some(description)) => Some(format!("{error}: {description}")),
        (error, description) => error.or(description),
    }
}

impl Link {
    /// Whether this is the legacy SSE transport.
    pub(super) fn is_sse(&self) -> bool {
        matches!(self.transport, Transport::Sse { .. })
    }

    /// The session id, when Streamable HTTP has one.
    pub(super) fn session(&self) -> Option<&str> {
        match &self.transport {
            Transport::Streamable { session } => session.as_deref(),
            Transport::Sse { .. } => None,
        }
    }

    /// A POST of `body` where this transport takes messages.
    pub(super) fn post(&self, body: &Value, with_token: bool) -> reqwest::RequestBuilder {
        let target = match &self.transport {
            Transport::Sse { endpoint, .. } => endpoint.clone(),
            Transport::Streamable { .. } => self.url.clone(),
        };
        let mut request = self
            .http
            .post(target)
            .header(header::ACCEPT, ACCEPT_BOTH)
            .json(body);
        if let (true, Some(token)) = (with_token, &self.token) {
            request = request.bearer_auth(token);
        }
        if let Some(session) = self.session() {
            request = request.header("mcp-session-id", session);
        }
        request
    }

    /// Sends a `method` request with `params` and returns its result, parsed as rmcp's model
    /// type for it (`InitializeResult`, `ListToolsResult`, `CallToolResult`), or the
    /// server's JSON-RPC error.
    pub(super) async fn call<T: DeserializeOwned>(
        &mut self,
        id: i64,
        method: &'static str,
        params: Value,
    ) -> Result<T, RpcError> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = self.rpc(&body).await?;
        parse_reply(reply, method)
    }

    /// Sends a request and returns its JSON-RPC reply (from JSON, an SSE body, or the
    /// legacy SSE stream).
    async fn rpc(&mut self, body: &Value) -> Result<Value, RpcError> {
        let response = self.post(body, true).send().await.map_err(RpcError::Send)?;
        let status = response.status();
        match &mut self.transport {
            Transport::Sse { stream, .. } => {
                if status != StatusCode::ACCEPTED {
                    return Err(RpcError::from_response(&response));
                }
                stream.reply_to(&body["id"]).await.ok_or_else(|| {
                    RpcError::NoReply(
                        "the stream ended (or was silent for 10 s) before the reply".into(),
                    )
                })
            }
            Transport::Streamable { session } => {
                if !status.is_success() {
                    return Err(RpcError::from_response(&response));
                }
                if let Some(id) = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                {
                    *session = Some(id.to_owned());
                }
                reply_from(response, &body["id"])
                    .await
                    .map_err(RpcError::NoReply)
            }
        }
    }
}

/// The result of a `method` reply as rmcp's model type `T`, or the error it carries.
fn parse_reply<T: DeserializeOwned>(reply: Value, method: &'static str) -> Result<T, RpcError> {
    if reply.get("error").is_some() {
        let error: JsonRpcError = serde_json::from_value(reply)
            .map_err(|source| RpcError::Malformed { method, source })?;
        return Err(RpcError::Server(error.error));
    }
    let response: JsonRpcResponse<T> =
        serde_json::from_value(reply).map_err(|source| RpcError::Malformed { method, source })?;
    Ok(response.result)
}

async fn reply_from(response: Response, id: &Value) -> Result<Value, String> {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if is_sse {
        return SseStream::new(response)
            .reply_to(id)
            .await
            .ok_or_else(|| "the event stream ended before the reply".into());
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("the reply is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_as_the_requests_result_or_its_error() {
        use rmcp::model::ListToolsResult;
        let listed: ListToolsResult = parse_reply(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
                {"name": "roll_dice", "inputSchema": {"type": "object"}}]}}),
            "tools/list",
        )
        .unwrap();
        assert_eq!(listed.tools[0].name, "roll_dice");
        let error = parse_reply::<ListToolsResult>(
            serde_json::json!({"jsonrpc": "2.0", "id": 1,
                               "error": {"code": -32601, "message": "Method not found"}}),
            "tools/list",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the server answered error -32601: Method not found"
        );
        let malformed = parse_reply::<ListToolsResult>(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": 7}]}}),
            "tools/list",
        )
        .unwrap_err();
        assert!(
            matches!(
                malformed,
                RpcError::Malformed {
                    method: "tools/list",
                    ..
                }
            ),
            "{malformed}"
        );
    }

    #[test]
    fn a_challenge_gives_its_error_and_description() {
        assert_eq!(
            refusal_reason(
                r#"Bearer realm="dice-mcp", error="invalid_token", error_description="the token has expired""#
            )
            .as_deref(),
            Some("invalid_token: the token has expired")
        );
        assert_eq!(
            refusal_reason(r#"Bearer error="insufficient_scope""#).as_deref(),
            Some("insufficient_scope")
        );
        assert_eq!(refusal_reason(r#"Bearer realm="x""#), None);
    }
}
