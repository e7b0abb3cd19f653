//! Bearer-token authentication for any axum/tower service, the way FastMCP's
//! `RSAKeyPair` + `BearerAuthProvider` do it, as an OAuth 2.1 resource server.
//!
//! - [`RsaKeyPair`]: generate RSA keys, save them as PEM (private key mode 0600) and JWKS.
//! - [`mint_token`]: sign RS256 tokens (`sub`, `iss`, `aud`, `scope`, `iat`, `nbf`, `exp`,
//!   `jti`, `kid` in the header).
//! - [`Verifier`]: RSA algorithms only (RS256 by default), `exp` required, `nbf` honoured,
//!   leeway, issuers, audiences, required scopes; keys from a PEM, a JWKS file or a JWKS URL
//!   ([`KeySource`]); a bounded cache of verified tokens.
//! - `BearerAuth`: the tower layer answering per RFC 6750; `ResourceMetadata`: RFC 9728
//!   (feature `layer`).
//!
//! It knows nothing about MCP.
//!
//! Failures are typed: [`Error`] for keys, minting and settings (each variant keeps its
//! cause as [`std::error::Error::source`]), [`AuthError`] for a refused request, whose
//! [`AuthError::kind`] is what callers match on.
//!
//! # Features
//!
//! Keys, minting and verification need neither axum nor reqwest. Both features are on by
//! default:
//!
//! - `layer`: the tower layer (`BearerAuth`, `BearerAuthLayer`, `bearer_token`) and the
//!   RFC 9728 document with its axum route (`ResourceMetadata`). Pulls in axum, tower,
//!   tower-http, http and url.
//! - `remote-jwks`: keys fetched from a JWKS URL (`RemoteJwks`, `KeySource::Remote`). Pulls
//!   in reqwest, tokio (its locks) and url.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use bearer_auth::*;
//! let pair = RsaKeyPair::generate(2048)?;
//! let token = mint_token(&pair, &TokenRequest::new("dev", "dice-mcp", Duration::from_secs(3600)))?;
//! let config = VerifierConfig { issuers: vec!["dice-mcp".into()], ..VerifierConfig::default() };
//! let verifier = Verifier::new(pair.public().clone(), config)?;
//! let claims = verifier.verify(&token).await?;
//! assert_eq!(claims.subject.as_deref(), Some("dev"));
//! # Ok(()) }
//! ```

mod error;
mod jwks;
mod keys;
#[cfg(feature = "layer")]
mod layer;
#[cfg(feature = "layer")]
mod metadata;
mod mint;
mod refusal;
mod verify;

pub use error::{ConfigError, Error};
pub use jsonwebtoken::{Algorithm, jwk::JwkSet};
#[cfg(feature = "remote-jwks")]
pub use jwks::{DEFAULT_JWKS_MIN_REFRESH, DEFAULT_JWKS_TTL, MAX_JWKS_BYTES, RemoteJwks};
pub use jwks::{KeySet, KeySource};
pub use keys::{
    ALLOWED_BITS, DEFAULT_BITS, JWKS_FILE, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, PublicKey,
    RsaKeyPair, SavedKeys,
};
#[cfg(feature = "layer")]
pub use layer::{BearerAuth, BearerAuthLayer, BearerAuthService, ResponseFuture, bearer_token};
#[cfg(feature = "layer")]
pub use metadata::{METADATA_PATH, ResourceMetadata};
pub use mint::{Audience, MAX_TTL, TokenRequest, mint_token};
pub use refusal::{AuthError, AuthErrorKind, InvalidRequestReason, InvalidTokenReason};
pub use verify::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, DEFAULT_LEEWAY, MAX_TOKEN_BYTES, VerifiedClaims,
    Verifier, VerifierConfig,
};
