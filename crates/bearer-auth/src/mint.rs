//! Minting RS256 tokens: [`TokenRequest`] → a signed JWT (FastMCP's `create_token`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Header, encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, RsaKeyPair, keys::base64url};

/// `aud`: one audience or several, as RFC 7519 allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Every audience named.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }

    /// The claim's JSON value: a string, or an array of strings.
    fn to_json(&self) -> Value {
        match self {
            Self::One(one) => Value::String(one.clone()),
            Self::Many(many) => Value::from(many.clone()),
        }
    }
}

/// What to put in a token. Build with [`TokenRequest::new`] and the `with_` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    /// `sub`.
    pub subject: String,
    /// `iss`.
    pub issuer: String,
    /// `aud`, if any.
    pub audience: Option<Audience>,
    /// Scopes, written space-separated into `scope` (as FastMCP does).
    pub scopes: Vec<String>,
    /// Lifetime: `exp = iat + ttl`.
    pub ttl: Duration,
    /// Extra claims; they cannot replace the registered ones above.
    pub extra: Map<String, Value>,
}

impl TokenRequest {
    /// A token for `subject` from `issuer`, valid for `ttl`.
    pub fn new(subject: impl Into<String>, issuer: impl Into<String>, ttl: Duration) -> Self {
        Self {
            subject: subject.into(),
            issuer: issuer.into(),
            audience: None,
            scopes: Vec::new(),
            ttl,
            extra: Map::new(),
        }
    }

    /// Sets `aud`.
    pub fn with_audience(mut self, audience: Audience) -> Self {
        self.audience = Some(audience);
        self
    }

    /// Adds scopes.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds an extra claim.
    pub fn with_claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }
}

/// Registered claims the minter sets; extra claims may not override them.
const REGISTERED: [&str; 8] = ["sub", "iss", "aud", "scope", "iat", "nbf", "exp", "jti"];

/// Longest token lifetime [`mint_token`] accepts: one year.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Signs a token with `key` (RS256, `kid` in the header, a random `jti`).
///
/// ```
/// use std::time::Duration;
/// use bearer_auth::{RsaKeyPair, TokenRequest, mint_token};
/// let pair = RsaKeyPair::generate(2048).unwrap();
/// let token = mint_token(&pair, &TokenRequest::new("dev", "dice-mcp", Duration::from_secs(60))).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
pub fn mint_token(key: &RsaKeyPair, request: &TokenRequest) -> Result<String, Error> {
    if request.ttl.is_zero() || request.ttl > MAX_TTL {
        return Err(Error::TokenLifetime(request.ttl));
    }
    if let Some(name) = request
        .extra
        .keys()
        .find(|k| REGISTERED.contains(&k.as_str()))
    {
        return Err(Error::ReservedClaim(name.clone()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(Error::ClockBeforeEpoch)?
        .as_secs();
    let mut claims = request.extra.clone();
    claims.insert("sub".into(), Value::String(request.subject.clone()));
    claims.insert("iss".into(), Value::String(request.issuer.clone()));
    if let Some(audience) = &request.audience {
        claims.insert("aud".into(), audience.to_json());
    }
    if !request.scopes.is_empty() {
        claims.insert("scope".into(), Value::String(request.scopes.join(" ")));
    }
    claims.insert("iat".into(), now.into());
    claims.insert("nbf".into(), now.into());
    claims.insert("exp".into(), (now + request.ttl.as_secs()).into());
    let jti: [u8; 16] = rand::random();
    claims.insert("jti".into(), Value::String(base64url(&jti)));

    let mut header = Header::new(key.algorithm());
    header.kid = Some(key.public().kid().to_owned());
    encode(&header, &claims, key.encoding_key()).map_err(Error::Sign)
}
