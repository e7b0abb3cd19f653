//! Bearer-token authentication for any axum/tower service, the way FastMCP's
//! `RSAKeyPair` + `BearerAuthProvider` do it, as an OAuth 2.1 resource server.
//!
//! - [`RsaKeyPair`]: generate RSA keys, save them as PEM (private key mode 0600) and JWKS.
//! - [`mint_token`]: sign RS256 tokens (`sub`, `iss`, `aud`, `scope`, `iat`, `nbf`, `exp`,
//!   `jti`, `kid` in the header).
//! - [`Verifier`]: RS256-only by default, `exp` required, `nbf` honoured, leeway, issuers,
//!   audiences, required scopes; keys from a PEM, a JWKS file or a JWKS URL ([`KeySource`]);
//!   a bounded cache of verified tokens.
//! - [`BearerAuth`]: the tower layer answering per RFC 6750; [`ResourceMetadata`]: RFC 9728.
//!
//! It knows nothing about MCP.
//!
//! ```
//! # async fn demo() -> Result<(), bearer_auth::Error> {
//! use std::time::Duration;
//! use bearer_auth::*;
//! let pair = RsaKeyPair::generate(2048)?;
//! let token = mint_token(&pair, &TokenRequest::new("dev", "dice-mcp", Duration::from_secs(3600)))?;
//! let config = VerifierConfig { issuers: vec!["dice-mcp".into()], ..VerifierConfig::default() };
//! let verifier = Verifier::new(KeySource::public_key(pair.public().clone()), config)?;
//! let claims = verifier.verify(&token).await.unwrap();
//! assert_eq!(claims.subject.as_deref(), Some("dev"));
//! # Ok(()) }
//! ```

mod jwks;
mod keys;
mod layer;
mod metadata;
mod mint;
mod verify;

use std::path::{Path, PathBuf};

pub use jsonwebtoken::{Algorithm, jwk::JwkSet};
pub use jwks::{
    DEFAULT_JWKS_MIN_REFRESH, DEFAULT_JWKS_TTL, KeySet, KeySource, MAX_JWKS_BYTES, RemoteJwks,
};
pub use keys::{
    ALLOWED_BITS, DEFAULT_BITS, JWKS_FILE, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, PublicKey,
    RsaKeyPair, SavedKeys,
};
pub use layer::{BearerAuth, BearerAuthLayer, BearerAuthService, ResponseFuture, bearer_token};
pub use metadata::{METADATA_PATH, ResourceMetadata};
pub use mint::{Audience, MAX_TTL, TokenRequest, mint_token};
pub use verify::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, DEFAULT_LEEWAY, MAX_TOKEN_BYTES, VerifiedClaims,
    Verifier, VerifierConfig,
};

/// Errors from keys, minting and configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key could not be generated, parsed or encoded.
    #[error("{0}")]
    Key(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists and would be replaced.
    #[error("{0} already exists; refusing to replace it without being told to overwrite")]
    Exists(PathBuf),
    /// A token could not be minted.
    #[error("could not mint the token: {0}")]
    Mint(String),
    /// A JWKS could not be fetched or parsed.
    #[error("{0}")]
    Jwks(String),
    /// A JWKS URL sent (or announced) a document longer than the limit; the rest was not read.
    #[error("{url} sent more than {limit} bytes")]
    JwksTooLarge {
        /// The JWKS URL.
        url: String,
        /// The limit, in bytes ([`MAX_JWKS_BYTES`]).
        limit: usize,
    },
    /// A setting makes no sense.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// Names the file a parse error came from.
    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Key(why) => Self::Key(format!("{}: {why}", path.display())),
            Self::Jwks(why) => Self::Jwks(format!("{}: {why}", path.display())),
            other => other,
        }
    }
}

/// Why a request was refused; [`BearerAuth::reject`] turns it into an RFC 6750 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token (no header, another scheme, or a token elsewhere than the header).
    #[error("no bearer token")]
    Missing,
    /// The Authorization header is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The token is not acceptable; the reason never includes the token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token lacks a required scope.
    #[error("insufficient scope; required: {}", required.join(" "))]
    InsufficientScope {
        /// The scopes required.
        required: Vec<String>,
    },
    /// No keys to verify with (a JWKS URL that never answered).
    #[error("keys unavailable: {0}")]
    KeysUnavailable(String),
}
