//! Shared keys (generated once), token crafting, and a protected echo server.

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use bearer_auth::{RsaKeyPair, VerifierConfig};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "dice-mcp";
pub const RESOURCE: &str = "http://resource.test/mcp";
pub const SCOPE: &str = "dice:roll";

pub fn main_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
}

/// A second key, which the verifiers do not know (the matrix and the JWKS tests).
#[cfg(feature = "layer")]
pub fn other_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims a valid token carries.
pub fn good_claims() -> Value {
    let now = now();
    json!({"sub": "tester", "iss": ISSUER, "aud": RESOURCE, "scope": SCOPE,
           "iat": now, "nbf": now, "exp": now + 600, "jti": "j1"})
}

/// Signs `claims` with `key`'s private key, naming `kid` in the header.
pub fn sign(key: &RsaKeyPair, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let encoding = EncodingKey::from_rsa_pem(key.private_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn verifier_config() -> VerifierConfig {
    VerifierConfig {
        issuers: vec![ISSUER.into()],
        audiences: vec![RESOURCE.into()],
        required_scopes: vec![SCOPE.into()],
        ..VerifierConfig::default()
    }
}

/// `GET /whoami` behind the layer (answers the verified `sub` and scopes), plus the
/// metadata: the router the tests call through `oneshot` (the socket is not the point).
#[cfg(feature = "layer")]
pub fn protected_app(
    keys: impl Into<bearer_auth::KeySource>,
    config: VerifierConfig,
) -> axum::Router {
    use axum::{Extension, Json, Router, routing::get};
    use bearer_auth::{BearerAuth, ResourceMetadata, VerifiedClaims, Verifier};

    let metadata = ResourceMetadata::new(RESOURCE)
        .unwrap()
        .with_scopes([SCOPE.to_owned()]);
    let auth = BearerAuth::new(Verifier::new(keys, config).unwrap(), "dice-mcp")
        .with_resource_metadata(metadata.metadata_url());
    Router::new()
        .route(
            "/whoami",
            get(|Extension(claims): Extension<VerifiedClaims>| async move {
                Json(json!({"sub": claims.subject, "scopes": claims.scopes}))
            }),
        )
        .layer(auth.layer())
        .merge(metadata.router())
}

/// An answer of [`protected_app`]: status, headers and the JSON body.
#[cfg(feature = "layer")]
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
}

#[cfg(feature = "layer")]
impl Answer {
    /// The `WWW-Authenticate` challenge, if there is one.
    pub fn challenge(&self) -> Option<String> {
        self.headers
            .get(http::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// `GET target` on `app`, with `authorization` as the header when given.
#[cfg(feature = "layer")]
pub async fn get(app: &axum::Router, target: &str, authorization: Option<&str>) -> Answer {
    use tower::ServiceExt;
    let mut request = http::Request::get(target).header(http::header::HOST, "resource.test");
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}
