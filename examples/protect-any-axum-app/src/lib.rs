//! An ordinary axum app protected by bearer-auth: `/hello` behind the bearer layer, and the
//! RFC 9728 metadata document its challenges point to. No MCP anywhere.

use axum::{Extension, Router, routing::get};
use bearer_auth::{BearerAuth, ResourceMetadata, VerifiedClaims, Verifier};

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "protect-any-axum-app";

/// The app: `GET /hello` requires a token `verifier` accepts; the metadata routes, which
/// describe `resource` (this app's base URL, e.g. `http://127.0.0.1:3000`), are public.
///
/// Fails if `resource` is not an http(s) URL without query or fragment.
pub fn app(verifier: Verifier, resource: &str) -> Result<Router, bearer_auth::Error> {
    let metadata = ResourceMetadata::new(resource)?.with_name(REALM);
    let auth = BearerAuth::new(verifier, REALM).with_resource_metadata(metadata.metadata_url());
    let protected = Router::new()
        .route("/hello", get(hello))
        .layer(auth.layer());
    Ok(protected.merge(metadata.router()))
}

/// Greets the token's subject, which the layer put in the request's extensions.
async fn hello(Extension(claims): Extension<VerifiedClaims>) -> String {
    format!(
        "hello, {}",
        claims.subject.as_deref().unwrap_or("(no subject)")
    )
}
