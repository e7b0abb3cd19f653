//! The JSON-RPC pre-check on `POST /mcp`: reads the body (bounded), and answers what a client
//! got wrong with the JSON-RPC error the spec names, before rmcp sees the request.
//!
//! Written here because rmcp answers these with the wrong status: malformed JSON and
//! batches get `415 Unsupported Media Type` in text, a body that fails mid-read (a broken
//! chunk) gets `500`, and `tools/call` with non-object `arguments` gets `-32601`.
//! What passes is handed on untouched (as bytes already read) with its [`Envelope`] in the
//! request's extensions, so later layers know the method without parsing again.

use std::{
    borrow::Cow,
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::Value;

use crate::refusal::{JsonRpcError, Refusal};

/// JSON-RPC: the body is not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: JSON, but not a request, notification or response.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: the method's parameters are wrong.
pub(crate) const INVALID_PARAMS: i64 = -32602;

/// What the pre-check learned of a message: its method (absent for responses), and whether
/// it has a request's shape as rmcp classifies messages (`method` and a non-null `id`, no
/// `result` or `error` key), so the direct dispatch can parse it as a request at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Envelope {
    pub(crate) method: Option<String>,
    pub(crate) is_request: bool,
}

/// The fields read from a message; every other field is skipped (but still checked to be
/// valid JSON).
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    result: Present,
    #[serde(default)]
    error: Present,
}

/// Whether a key was there, whatever its value (`null` too).
#[derive(Default)]
pub(crate) struct Present(pub(crate) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Self(true))
    }
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    arguments: Option<JsonKind>,
}

/// The kind of a JSON value, read without keeping it.
#[derive(Debug, PartialEq, Eq)]
enum JsonKind {
    Object,
    Other,
}

impl<'de> Deserialize<'de> for JsonKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl<'de> Visitor<'de> for KindVisitor {
            type Value = JsonKind;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonKind, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonKind, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
        }
        deserializer.deserialize_any(KindVisitor)
    }
}

/// A JSON-RPC error object to answer with `status`.
pub(crate) fn jsonrpc_error(
    status: StatusCode,
    id: Option<Value>,
    code: i64,
    message: String,
) -> Refusal {
    Refusal::JsonRpc(JsonRpcError {
        status,
        id,
        code,
        message,
    })
}

/// What is wrong with a body, or the envelope of a body that is fine.
pub(crate) fn check_message(body: &[u8]) -> Result<Envelope, Refusal> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    // Batches were allowed in 2025-03-26 and removed in 2025-06-18; rmcp serves single
    // messages only, so a batch gets a JSON-RPC error rather than a partial answer.
    let not_one_message = match first {
        Some(b'{') => None,
        Some(b'[') => Some(
            "Invalid Request: JSON-RPC batches are not supported; send one message per request",
        ),
        _ => Some("Invalid Request: the body must be one JSON-RPC message (a JSON object)"),
    };
    if let Some(reason) = not_one_message {
        if serde_json::from_slice::<IgnoredAny>(body).is_err() {
            return Err(parse_error());
        }
        return Err(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            reason.into(),
        ));
    }
    let message: Message<'_> = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(error) if error.is_syntax() || error.is_eof() => return Err(parse_error()),
        Err(error) => {
            return Err(jsonrpc_error(
                StatusCode::BAD_REQUEST,
                None,
                INVALID_REQUEST,
                format!("Invalid Request: {error}"),
            ));
        }
    };
    if message.method.as_deref() == Some("tools/call")
        && message
            .params
            .as_ref()
            .and_then(|params| params.arguments.as_ref())
            .is_some_and(|kind| *kind != JsonKind::Object)
    {
        return Err(jsonrpc_error(
            StatusCode::OK,
            message.id,
            INVALID_PARAMS,
            "Invalid params: tools/call arguments must be a JSON object".into(),
        ));
    }
    let is_request =
        message.method.is_some() && message.id.is_some() && !message.result.0 && !message.error.0;
    Ok(Envelope {
        method: message.method.map(Cow::into_owned),
        is_request,
    })
}

fn parse_error() -> Refusal {
    jsonrpc_error(
        StatusCode::BAD_REQUEST,
        None,
        PARSE_ERROR,
        "Parse error: the body is not valid JSON".into(),
    )
}

/// The pre-check on `POST /mcp` as a tower layer: reads the body (the body limit layer
/// outside bounds it: past `max_body_bytes` the read fails and the answer is `413`),
/// refuses a body that breaks off or is malformed (`400`, never `500`), and hands the rest
/// on as bytes already read, with its [`Envelope`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrecheckLayer {
    pub(crate) max_body_bytes: usize,
    /// Whether the direct dispatch is behind it: then a `tools/call` it may serve is read
    /// here, once, as what the handler needs (see `direct::typed_call`).
    pub(crate) direct: bool,
}

impl<S> tower::Layer<S> for PrecheckLayer {
    type Service = Precheck<S>;

    fn layer(&self, inner: S) -> Precheck<S> {
        Precheck {
            inner,
            max_body_bytes: self.max_body_bytes,
            direct: self.direct,
        }
    }
}

/// The service [`PrecheckLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct Precheck<S> {
    inner: S,
    max_body_bytes: usize,
    direct: bool,
}

impl<S> tower::Service<Request> for Precheck<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() != Method::POST {
            return Box::pin(self.inner.call(request));
        }
        // The service made ready goes with this request; a clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_body_bytes = self.max_body_bytes;
        let direct = self.direct;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes: Bytes = match read_body(body, max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            // A `tools/call` that reads as one passes every check below.
            if direct && let Some(call) = crate::direct::typed_call(&parts.headers, &bytes) {
                parts.extensions.insert(call);
                return inner.call(Request::from_parts(parts, Body::empty())).await;
            }
            let envelope = match check_message(&bytes) {
                Ok(envelope) => envelope,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            parts.extensions.insert(envelope);
            inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await
        })
    }
}

/// Reads a whole request body. The limit itself is `RequestBodyLimitLayer`'s, the one body
/// limit of every MCP route; this only tells its error (`413`, naming `max_body_bytes`)
/// from a body that could not be read (a broken chunk, a connection that ended mid-body:
/// `400`).
pub(crate) async fn read_body(body: Body, max_body_bytes: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| {
            let too_large =
                std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                Refusal::PayloadTooLarge {
                    max_bytes: max_body_bytes,
                }
            } else {
                Refusal::UnreadableBody
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_code(refusal: Refusal) -> (StatusCode, i64) {
        let response = refusal.into_response();
        let status = response.status();
        let body =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 4096)).unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        (status, value["error"]["code"].as_i64().unwrap())
    }

    #[test]
    fn malformed_json_is_a_parse_error_with_400() {
        for body in [
            &b"{"[..],
            b"{\"jsonrpc\":",
            b"nonsense",
            b"[1,",
            b"",
            b"{\"a\":1}}",
        ] {
            let refusal = check_message(body).unwrap_err();
            assert_eq!(
                error_code(refusal),
                (StatusCode::BAD_REQUEST, PARSE_ERROR),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn batches_and_non_objects_are_invalid_requests() {
        for body in [
            &br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#[..],
            b"42",
            b"\"x\"",
            br#"{"method":7}"#,
        ] {
            let refusal = check_message(body).unwrap_err();
            assert_eq!(
                error_code(refusal),
                (StatusCode::BAD_REQUEST, INVALID_REQUEST),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn tool_arguments_that_are_not_an_object_are_invalid_params() {
        for arguments in ["[]", "3", "\"x\"", "true"] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"roll_dice","arguments":{arguments}}}}}"#
            );
            let refusal = check_message(body.as_bytes()).unwrap_err();
            assert_eq!(
                error_code(refusal),
                (StatusCode::OK, INVALID_PARAMS),
                "{arguments}"
            );
        }
        let fine = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":[1,{}]}}}"#;
        assert_eq!(
            check_message(fine).unwrap().method.as_deref(),
            Some("tools/call")
        );
    }

    #[test]
    fn a_response_has_no_method() {
        let envelope = check_message(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
        assert_eq!(envelope.method, None);
    }
}
