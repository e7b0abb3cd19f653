//! [`Error`]: what can fail while handling keys, minting tokens or building a verifier, each
//! variant with its cause as its `source`; [`ConfigError`]: settings that make no sense.

use std::{path::PathBuf, time::Duration};

use jsonwebtoken::Algorithm;

/// Errors from keys, minting and configuration.
///
/// A variant's message says what failed; the underlying error, when there is one, is its
/// [`source`](std::error::Error::source) (print the chain, e.g. with `{:#}` in anyhow, to
/// see both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`RsaKeyPair::generate`](crate::RsaKeyPair::generate) was asked for a size outside
    /// [`ALLOWED_BITS`](crate::ALLOWED_BITS).
    #[error("key size {0} is not allowed; use 2048, 3072 or 4096")]
    KeySize(usize),
    /// The RSA key could not be generated.
    #[error("could not generate an RSA key")]
    Generate(#[source] rsa::Error),
    /// The text is neither a PKCS#8 nor a PKCS#1 RSA private key PEM; the cause is the PKCS#8
    /// parser's.
    #[error("not an RSA private key PEM (expected -----BEGIN PRIVATE KEY-----)")]
    NotPrivateKeyPem(#[source] rsa::pkcs8::Error),
    /// The text is neither an SPKI nor a PKCS#1 RSA public key PEM; the cause is the SPKI
    /// parser's.
    #[error("not an RSA public key PEM (expected -----BEGIN PUBLIC KEY-----)")]
    NotPublicKeyPem(#[source] rsa::pkcs8::spki::Error),
    /// The private key could not be encoded as PKCS#8 PEM.
    #[error("could not encode the private key as PEM")]
    EncodePrivateKey(#[source] rsa::pkcs8::Error),
    /// The public key could not be encoded as SPKI PEM.
    #[error("could not encode the public key as PEM")]
    EncodePublicKey(#[source] rsa::pkcs8::spki::Error),
    /// A JWK holds another kind of key than RSA.
    #[error("only RSA keys are supported")]
    NotRsaKey,
    /// A JWK's modulus (`n`) or exponent (`e`) is not base64url.
    #[error("the JWK's {component} is not base64url")]
    JwkComponent {
        /// `"n"` or `"e"`.
        component: &'static str,
        /// The cause.
        #[source]
        source: base64::DecodeError,
    },
    /// A modulus and exponent do not make an RSA public key.
    #[error("not a usable RSA public key")]
    InvalidRsaKey(#[source] rsa::Error),
    /// jsonwebtoken refused the key for signing or verifying.
    #[error("the RSA key is not usable for signing or verifying tokens")]
    UnusableKey(#[source] jsonwebtoken::errors::Error),
    /// The RFC 7638 thumbprint (the `kid`) could not be computed.
    #[error("could not compute the key thumbprint")]
    Thumbprint(#[source] jsonwebtoken::errors::Error),
    /// A file could not be read.
    #[error("could not read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be created or written.
    #[error("could not write {}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are not what was expected; the cause says how.
    #[error("{}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        #[source]
        source: Box<Error>,
    },
    /// A file exists and would be replaced.
    #[error("{} already exists; refusing to replace it without being told to overwrite", .0.display())]
    Exists(PathBuf),
    /// A JWKS could not be encoded as JSON.
    #[error("could not encode the JWKS")]
    EncodeJwks(#[source] serde_json::Error),
    /// A document is not a JWKS.
    #[error("not a JWKS document")]
    NotJwks(#[source] serde_json::Error),
    /// A JWKS holds no RSA key that can be used.
    #[error("the JWKS holds no usable RSA key")]
    NoUsableKey,
    /// A token's lifetime is zero or longer than [`MAX_TTL`](crate::MAX_TTL).
    #[error(
        "a token lifetime of {0:?} is not allowed: it must be more than 0 s and at most 366 days"
    )]
    TokenLifetime(Duration),
    /// An extra claim has the name of a claim the minter sets itself.
    #[error("the extra claim {0:?} would replace a registered claim")]
    ReservedClaim(String),
    /// The system clock is before 1970, so no `iat` can be written.
    #[error("the system clock is before 1970")]
    ClockBeforeEpoch(#[source] std::time::SystemTimeError),
    /// The token could not be signed.
    #[error("could not sign the token")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// A URL setting does not parse.
    #[cfg(any(feature = "layer", feature = "remote-jwks"))]
    #[error("{url:?} is not a URL")]
    InvalidUrl {
        /// The text given.
        url: String,
        /// The cause.
        #[source]
        source: url::ParseError,
    },
    /// The HTTP client for a JWKS URL could not be built.
    #[cfg(feature = "remote-jwks")]
    #[error("could not build an HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A JWKS URL could not be fetched, or its body not read.
    #[cfg(feature = "remote-jwks")]
    #[error("could not fetch {url}")]
    JwksFetch {
        /// The JWKS URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A JWKS URL answered with a status other than success.
    #[cfg(feature = "remote-jwks")]
    #[error("{url} answered {status}")]
    JwksStatus {
        /// The JWKS URL.
        url: String,
        /// The status it answered.
        status: reqwest::StatusCode,
    },
    /// A JWKS URL sent (or announced) a document longer than the limit; the rest was not read.
    #[cfg(feature = "remote-jwks")]
    #[error("{url} sent more than {limit} bytes")]
    JwksTooLarge {
        /// The JWKS URL.
        url: String,
        /// The limit, in bytes ([`MAX_JWKS_BYTES`](crate::MAX_JWKS_BYTES)).
        limit: usize,
    },
    /// A setting makes no sense.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
}

impl Error {
    /// Names the file a parse error came from.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        Self::InFile {
            path: path.to_path_buf(),
            source: Box::new(self),
        }
    }
}

/// A setting that makes no sense on its own (no underlying error to carry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`VerifierConfig::algorithms`](crate::VerifierConfig::algorithms) is empty.
    #[error("at least one algorithm must be accepted")]
    NoAlgorithm,
    /// An HMAC algorithm is in the accepted list.
    #[error("{0:?} is symmetric: a public key must never be usable as an HMAC secret")]
    SymmetricAlgorithm(Algorithm),
    /// An algorithm of another family than RSA is in the accepted list; the keys are RSA, so
    /// no token signed with it could ever verify.
    #[error(
        "{0:?} is not an RSA algorithm; the keys are RSA: accept RS256, RS384, RS512, PS256, PS384 or PS512"
    )]
    NotRsaAlgorithm(Algorithm),
    /// A resource URL is not http(s), or has a query or a fragment.
    #[cfg(feature = "layer")]
    #[error("resource URL {0:?} must be http(s) without query or fragment")]
    ResourceUrl(String),
    /// A JWKS URL is not http(s).
    #[cfg(feature = "remote-jwks")]
    #[error("{0:?} is not an http(s) URL")]
    JwksUrlScheme(String),
}
