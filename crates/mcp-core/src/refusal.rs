//! [`Refusal`]: every answer mcp-core gives a request it will not serve, as one type that
//! knows its status, its text and its headers (axum's rejections are the model).
//!
//! The texts are what clients show their users, so each says what went wrong and, where
//! there is something to do, what to do.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::sessions::SessionError;

/// Why a request was refused. Each becomes one HTTP answer through [`IntoResponse`].
#[derive(Debug)]
pub(crate) enum Refusal {
    /// More than one `Host` header: `400`.
    MultipleHosts,
    /// A `Host` (or absolute-form authority) that is not allowed: `403`.
    ForeignHost,
    /// A browser `Origin` that is not allowed: `403`.
    ForeignOrigin,
    /// The body is larger than the limit: `413`.
    PayloadTooLarge { max_bytes: usize },
    /// The body broke off or could not be read: `400`.
    UnreadableBody,
    /// The in-flight cap is reached: `503` with `Retry-After`.
    Overloaded,
    /// The principal's (or address's) rate is used up: `429` with `Retry-After`.
    RateLimited { retry_after_secs: u32 },
    /// No room for a new session: `503` (cap) or `429` (quota) with `Retry-After`.
    NoSessionRoom(SessionError),
    /// A `Mcp-Session-Id` that names no session this principal may use: `404`, the same
    /// answer as for an unknown session, so a foreign session's existence does not leak.
    UnknownSession,
    /// The store that shares sessions between replicas failed: `503` with `Retry-After`.
    SessionStoreUnavailable,
    /// `GET /sse?session_id=…` (with the session redirect on) naming an id the server would
    /// not have made: `400`.
    MalformedSseSessionId,
    /// `GET /sse?session_id=…` (with the session redirect on) for a stream already open:
    /// `409`.
    SseSessionIdInUse,
    /// `POST /messages/` without `session_id`: `400`.
    MissingSseSession,
    /// `POST /messages/` for a session that does not exist (or is not the caller's): `404`.
    UnknownSseSession,
    /// `POST /messages/` for a session whose stream has ended: `404`.
    EndedSseSession,
    /// `POST /messages/` while answers wait unread on the stream: `429` with `Retry-After`.
    UnreadSseAnswers,
    /// A body that is not one valid JSON-RPC message: a JSON-RPC error object.
    JsonRpc(JsonRpcError),
}

/// A JSON-RPC error object, and the HTTP status it is sent with.
#[derive(Debug)]
pub(crate) struct JsonRpcError {
    pub(crate) status: StatusCode,
    pub(crate) id: Option<Value>,
    pub(crate) code: i64,
    pub(crate) message: String,
}

impl Refusal {
    /// The HTTP status of the answer.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MultipleHosts
            | Self::UnreadableBody
            | Self::MissingSseSession
            | Self::MalformedSseSessionId => StatusCode::BAD_REQUEST,
            Self::ForeignHost | Self::ForeignOrigin => StatusCode::FORBIDDEN,
            Self::SseSessionIdInUse => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } | Self::UnreadSseAnswers => StatusCode::TOO_MANY_REQUESTS,
            Self::NoSessionRoom(SessionError::QuotaReached { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Self::NoSessionRoom(_) | Self::SessionStoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UnknownSession | Self::UnknownSseSession | Self::EndedSseSession => {
                StatusCode::NOT_FOUND
            }
            Self::JsonRpc(error) => error.status,
        }
    }

    /// Seconds the client should wait before trying again, for refusals that pass.
    fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::Overloaded | Self::UnreadSseAnswers => Some(1),
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::NoSessionRoom(_) | Self::SessionStoreUnavailable => Some(5),
            _ => None,
        }
    }

    /// Whether the answer is sent before the request body was read. It then says
    /// `Connection: close`: the unread body makes the connection unusable, and a client
    /// that tried to reuse it would see the server hang up without an answer.
    fn before_body(&self) -> bool {
        matches!(
            self,
            Self::MultipleHosts
                | Self::ForeignHost
                | Self::ForeignOrigin
                | Self::PayloadTooLarge { .. }
                | Self::UnreadableBody
                | Self::Overloaded
                | Self::NoSessionRoom(_)
        )
    }

    /// The plain-text body: the status's reason, then what to do.
    fn text(&self) -> String {
        let detail = match self {
            Self::MultipleHosts => "more than one Host header".to_owned(),
            Self::ForeignHost => {
                "Host header is not allowed; the server must be told to accept this host".to_owned()
            }
            Self::ForeignOrigin => "Origin header is not allowed".to_owned(),
            Self::PayloadTooLarge { max_bytes } => format!("the body is over {max_bytes} bytes"),
            Self::UnreadableBody => "the request body could not be read".to_owned(),
            Self::Overloaded => "too many requests in flight; retry shortly".to_owned(),
            Self::RateLimited { retry_after_secs } => {
                format!("rate limit reached; retry in {retry_after_secs} s")
            }
            Self::NoSessionRoom(error) => error.to_string(),
            Self::UnknownSession => "Session not found".to_owned(),
            Self::SessionStoreUnavailable => "the store that keeps sessions is unreachable, so \
                 sessions cannot be opened or resumed now; retry later"
                .to_owned(),
            Self::MalformedSseSessionId => "session_id must be 32 lowercase hex digits, as in \
                 the redirect from /sse; open /sse without it for a new session"
                .to_owned(),
            Self::SseSessionIdInUse => "a stream with this session_id is open already; open \
                 /sse without it for a new session"
                .to_owned(),
            Self::MissingSseSession => {
                "session_id is required; use the URL from the stream's endpoint event".to_owned()
            }
            Self::UnknownSseSession => "no such session; open a new stream at /sse".to_owned(),
            Self::EndedSseSession => "the session has ended; open a new stream at /sse".to_owned(),
            Self::UnreadSseAnswers => "answers are waiting on this session's stream; read the \
                 stream, then retry"
                .to_owned(),
            Self::JsonRpc(error) => error.message.clone(),
        };
        let status = self.status();
        format!(
            "{}: {detail}",
            status.canonical_reason().unwrap_or("Refused")
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = match &self {
            Self::JsonRpc(error) => {
                let body = json!({
                    "jsonrpc": "2.0",
                    "id": error.id.clone().unwrap_or(Value::Null),
                    "error": {"code": error.code, "message": error.message},
                });
                (error.status, axum::Json(body)).into_response()
            }
            _ => (self.status(), self.text()).into_response(),
        };
        let headers = response.headers_mut();
        if self.before_body() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(seconds) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_ask_for_patience_say_how_long() {
        let quota = Refusal::NoSessionRoom(SessionError::QuotaReached { max: 2 }).into_response();
        assert_eq!(quota.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(quota.headers()[header::RETRY_AFTER], "5");
        let full = Refusal::NoSessionRoom(SessionError::Full { max: 2 }).into_response();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        let rate = Refusal::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(rate.headers()[header::RETRY_AFTER], "7");
        assert!(rate.headers().get(header::CONNECTION).is_none());
    }

    #[test]
    fn refusals_before_the_body_close_the_connection() {
        let response = Refusal::PayloadTooLarge { max_bytes: 10 }.into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        let found = Refusal::UnknownSession.into_response();
        assert!(found.headers().get(header::CONNECTION).is_none());
    }
}
