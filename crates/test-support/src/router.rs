//! Sending requests to a router in process with tower's `oneshot`, for router-level tests
//! where the socket is not the point: no listener, no client, the answer as axum gives it.

use std::{convert::Infallible, time::Duration};

use axum::body::{Body, Bytes};
use http::{Method, Request, Response, header, request::Builder};
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

/// How long a router may take to answer, body included, before the test fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A request as hyper hands it to the router from a loopback client: `method` on `uri`
/// with `Host: 127.0.0.1` (the Host/Origin guard refuses a request without one). Add
/// headers and a body, then pass it to [`oneshot`] or [`oneshot_collect`].
pub fn loopback_request(method: Method, uri: &str) -> Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1")
}

/// Sends `request` to `router` (an axum `Router`, or one wrapped in a layer such as
/// tower-http's `NormalizePath`) and returns the answer with its body unread: for streams.
pub async fn oneshot<S>(router: S, request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let uri = request.uri().clone();
    tokio::time::timeout(ANSWER_WITHIN, router.oneshot(request))
        .await
        .unwrap_or_else(|_| panic!("{uri} was not answered within {ANSWER_WITHIN:?}"))
        .unwrap_or_else(|never| match never {})
}

/// Sends `request` to `router` like [`oneshot`] and reads the whole answer.
pub async fn oneshot_collect<S>(router: S, request: Request<Body>) -> Response<Bytes>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let uri = request.uri().clone();
    let (parts, body) = oneshot(router, request).await.into_parts();
    let body = tokio::time::timeout(ANSWER_WITHIN, body.collect())
        .await
        .unwrap_or_else(|_| {
            panic!("the body of {uri}'s answer did not end within {ANSWER_WITHIN:?}")
        })
        .unwrap_or_else(|error| panic!("the body of {uri}'s answer failed: {error}"))
        .to_bytes();
    Response::from_parts(parts, body)
}
