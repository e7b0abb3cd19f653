//! [`BearerAuth`]: the tower layer. It takes the token from `Authorization: Bearer …` only,
//! verifies it, puts [`VerifiedClaims`] into the request's extensions, and otherwise answers
//! as RFC 6750 says, with `WWW-Authenticate` pointing at the RFC 9728 metadata.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::body::Body;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use serde_json::json;
use tower::{Layer, Service};
use tower_http::{
    auth::{AsyncAuthorizeRequest, AsyncRequireAuthorization},
    sensitive_headers::SetSensitiveRequestHeaders,
};

use crate::{AuthError, AuthErrorKind, InvalidRequestReason, VerifiedClaims, Verifier};

/// The layer [`BearerAuth::layer`] returns: marks `Authorization` sensitive (no log shows
/// it), then requires a valid bearer token, answering a refused request itself.
#[derive(Clone, Debug)]
pub struct BearerAuthLayer {
    auth: BearerAuth,
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuthService {
            inner: SetSensitiveRequestHeaders::new(
                AsyncRequireAuthorization::new(inner, self.auth.clone()),
                [header::AUTHORIZATION],
            ),
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around `S`: tower-http's
/// `SetSensitiveRequestHeaders` around its `AsyncRequireAuthorization` with [`BearerAuth`].
#[derive(Clone, Debug)]
pub struct BearerAuthService<S> {
    inner: SetSensitiveRequestHeaders<AsyncRequireAuthorization<S, BearerAuth>>,
}

/// The future [`BearerAuthService`] answers with: the verification, then `S`'s response.
pub type ResponseFuture<S, ReqBody> =
    tower_http::auth::async_require_authorization::ResponseFuture<BearerAuth, S, ReqBody>;

impl<S, ReqBody> Service<Request<ReqBody>> for BearerAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>> + Clone,
    ReqBody: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.inner.call(request)
    }
}

/// Bearer-token authorization for any tower service.
///
/// ```no_run
/// # fn demo(verifier: bearer_auth::Verifier) {
/// use bearer_auth::BearerAuth;
/// let auth = BearerAuth::new(verifier, "dice-mcp")
///     .with_resource_metadata("https://example.ngrok.app/.well-known/oauth-protected-resource/mcp");
/// let app: axum::Router = axum::Router::new().layer(auth.layer());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BearerAuth {
    verifier: Arc<Verifier>,
    realm: Arc<str>,
    resource_metadata: Option<Arc<str>>,
}

impl BearerAuth {
    /// Requires tokens that `verifier` accepts; `realm` names the protected service in
    /// challenges.
    pub fn new(verifier: Verifier, realm: impl Into<String>) -> Self {
        Self {
            verifier: Arc::new(verifier),
            realm: quote_safe(&realm.into()).into(),
            resource_metadata: None,
        }
    }

    /// Points clients at the RFC 9728 metadata (`resource_metadata=` in every challenge).
    pub fn with_resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(quote_safe(&url.into()).into());
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The tower layer: sensitive `Authorization`, then authorization.
    pub fn layer(&self) -> BearerAuthLayer {
        BearerAuthLayer { auth: self.clone() }
    }

    /// The answer to a refused request: status, `WWW-Authenticate`, JSON body.
    pub fn reject(&self, error: &AuthError) -> Response<Body> {
        let mut challenge = format!("Bearer realm=\"{}\"", self.realm);
        if let Some(url) = &self.resource_metadata {
            challenge.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        let (status, code, description) = match error {
            AuthError::Missing => (
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "a bearer token is required: send Authorization: Bearer <token>".to_owned(),
            ),
            AuthError::InvalidRequest(reason) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                reason.to_string(),
            ),
            AuthError::InvalidToken { reason, .. } => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                reason.to_string(),
            ),
            AuthError::InsufficientScope { required } => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks a required scope: {}", required.join(" ")),
            ),
            AuthError::KeysUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token signing keys could not be fetched; retry later".to_owned(),
            ),
        };
        // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
        if !matches!(
            error.kind(),
            AuthErrorKind::Missing | AuthErrorKind::KeysUnavailable
        ) {
            challenge.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quote_safe(&description)
            ));
        }
        if let AuthError::InsufficientScope { required } = error {
            challenge.push_str(&format!(", scope=\"{}\"", quote_safe(&required.join(" "))));
        }
        let body = json!({ "error": code, "error_description": description }).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // The request body is left unread, which makes the connection unusable: say so, or
        // a client reusing it (as OAuth-style clients do after a 401) sees a hang-up.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Keeps a value safe inside a quoted-string: printable ASCII, no `"` or `\`.
fn quote_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect()
}

/// The token from `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(InvalidRequestReason::SeveralHeaders.into());
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::from(InvalidRequestReason::NotAscii))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(InvalidRequestReason::NoToken.into());
    }
    Ok(token)
}

type AuthFuture<B> = Pin<Box<dyn Future<Output = Result<Request<B>, Response<Body>>> + Send>>;

impl<B: Send + 'static> AsyncAuthorizeRequest<B> for BearerAuth {
    type RequestBody = B;
    type ResponseBody = Body;
    type Future = AuthFuture<B>;

    fn authorize(&mut self, mut request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let verified = match bearer_token(request.headers()) {
                Ok(token) => this.verifier.verify(token).await,
                Err(error) => Err(error),
            };
            match verified {
                Ok(claims) => {
                    let claims: VerifiedClaims = (*claims).clone();
                    request.extensions_mut().insert(claims);
                    Ok(request)
                }
                Err(error) => {
                    // The reason only: a source (jsonwebtoken's, serde_json's) may quote the
                    // token's decoded header or payload.
                    tracing::debug!(%error, "refused a request");
                    Err(this.reject(&error))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_others_count_as_missing() {
        assert_eq!(bearer_token(&with_auth("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&with_auth("bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&with_auth("BEARER   abc ")), Ok("abc"));
        assert_eq!(
            bearer_token(&with_auth("Basic dTpw")),
            Err(AuthError::Missing)
        );
        assert_eq!(bearer_token(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(
            bearer_token(&with_auth("Bearer")),
            Err(AuthError::InvalidRequest(InvalidRequestReason::NoToken))
        );
        let mut two = with_auth("Bearer a");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(
            bearer_token(&two),
            Err(AuthError::InvalidRequest(
                InvalidRequestReason::SeveralHeaders
            ))
        );
    }

    #[test]
    fn quoted_values_cannot_break_out_of_the_challenge() {
        assert_eq!(quote_safe("a\"b\\c\nd"), "abc?d");
    }
}
