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
/// metadata. Returns the base URL.
#[cfg(feature = "layer")]
pub async fn serve_protected(
    keys: impl Into<bearer_auth::KeySource>,
    config: VerifierConfig,
) -> String {
    use axum::{Extension, Json, Router, routing::get};
    use bearer_auth::{BearerAuth, ResourceMetadata, VerifiedClaims, Verifier};

    let metadata = ResourceMetadata::new(RESOURCE)
        .unwrap()
        .with_scopes([SCOPE.to_owned()]);
    let auth = BearerAuth::new(Verifier::new(keys, config).unwrap(), "dice-mcp")
        .with_resource_metadata(metadata.metadata_url());
    let app = Router::new()
        .route(
            "/whoami",
            get(|Extension(claims): Extension<VerifiedClaims>| async move {
                Json(json!({"sub": claims.subject, "scopes": claims.scopes}))
            }),
        )
        .layer(auth.layer())
        .merge(metadata.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}
