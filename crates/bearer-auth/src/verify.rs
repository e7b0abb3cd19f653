//! [`Verifier`]: checks a bearer token's signature, algorithm, time window, issuer, audience
//! and scopes, with a cache of verified tokens so reuse costs no RSA operation.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{AuthError, Error, jwks::KeySource};

/// Longest token accepted, in bytes; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default number of verified tokens remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Default longest time a verified token is trusted without checking its signature again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// What a verified token says, put in the request's extensions by the layer.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    /// `sub`, if present.
    pub subject: Option<String>,
    /// `iss`, if present.
    pub issuer: Option<String>,
    /// Scopes from `scope` (space-separated) or `scp` (array or string).
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
    /// Every claim, as sent.
    pub claims: Map<String, Value>,
}

impl VerifiedClaims {
    fn from_claims(claims: Map<String, Value>) -> Result<Self, AuthError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| AuthError::InvalidToken("the token has no valid exp claim".into()))?;
        let mut scopes: Vec<String> = Vec::new();
        for name in ["scope", "scp"] {
            match claims.get(name) {
                Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
                Some(Value::Array(items)) => {
                    scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                _ => {}
            }
        }
        scopes.sort();
        scopes.dedup();
        Ok(Self {
            subject: text("sub"),
            issuer: text("iss"),
            scopes,
            expires_at,
            claims,
        })
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// What a [`Verifier`] accepts. Start from [`VerifierConfig::default`]: RS256 only, `exp`
/// required, 30 s leeway, any issuer and audience, no required scope.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Accepted `iss` values; empty = any.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (one match suffices); empty = `aud` not checked.
    pub audiences: Vec<String>,
    /// Scopes every token must carry (else `403 insufficient_scope`).
    pub required_scopes: Vec<String>,
    /// Clock-skew allowance for `exp` and `nbf`.
    pub leeway: Duration,
    /// Accepted algorithms. Only asymmetric ones are allowed here; HMAC and `none` are refused
    /// when the verifier is built, whatever a token's header says.
    pub algorithms: Vec<Algorithm>,
    /// Verified tokens remembered (0 turns the cache off).
    pub cache_capacity: usize,
    /// Longest a verified token is trusted before its signature is checked again.
    pub cache_ttl: Duration,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Vec::new(),
            required_scopes: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            algorithms: vec![Algorithm::RS256],
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            cache_ttl: DEFAULT_CACHE_TTL,
        }
    }
}

/// Verifies bearer tokens against a [`KeySource`].
///
/// Revocation: a verified token is remembered (by SHA-256 of the token) until the earlier of
/// its `exp` and [`VerifierConfig::cache_ttl`] (5 minutes by default). Removing its key from
/// a JWKS therefore stops it within that time, not at once; restart the server, or set
/// `cache_capacity` to 0, for immediate effect. Scopes are checked on every request.
pub struct Verifier {
    keys: KeySource,
    config: VerifierConfig,
    validation: Validation,
    cache: TokenCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier; refuses symmetric or empty algorithm lists.
    pub fn new(keys: KeySource, config: VerifierConfig) -> Result<Self, Error> {
        if config.algorithms.is_empty() {
            return Err(Error::Config(
                "at least one algorithm must be accepted".into(),
            ));
        }
        if let Some(alg) = config
            .algorithms
            .iter()
            .find(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(Error::Config(format!(
                "{alg:?} is symmetric: a public key must never be usable as an HMAC secret"
            )));
        }
        let mut validation = Validation::new(config.algorithms[0]);
        validation.algorithms = config.algorithms.clone();
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if config.issuers.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&config.issuers);
        }
        if config.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audiences);
        }
        Ok(Self {
            cache: TokenCache::new(config.cache_capacity),
            keys,
            config,
            validation,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedClaims>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken(format!(
                "the token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let now = unix_now();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.cache.get(&digest, now) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signature(token).await?);
                let until = claims
                    .expires_at
                    .min(now.saturating_add(self.config.cache_ttl.as_secs()));
                self.cache.insert(digest, Arc::clone(&claims), until, now);
                claims
            }
        };
        let missing: Vec<String> = self
            .config
            .required_scopes
            .iter()
            .filter(|scope| !claims.has_scope(scope))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(AuthError::InsufficientScope {
                required: self.config.required_scopes.clone(),
            });
        }
        Ok(claims)
    }

    /// The full check, with no cache: header, key, signature, claims.
    async fn verify_signature(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let header = decode_header(token)
            .map_err(|_| AuthError::InvalidToken("the token is not a well-formed JWT".into()))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(AuthError::InvalidToken(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let key = self.keys.key_for(header.kid.as_deref()).await?;
        let data = decode::<Map<String, Value>>(token, key.decoding_key(), &self.validation)
            .map_err(|error| AuthError::InvalidToken(describe(error.kind()).into()))?;
        VerifiedClaims::from_claims(data.claims)
    }
}

/// A person-readable reason; never includes the token.
fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired",
        K::ImmatureSignature => "the token is not valid yet (nbf is in the future)",
        K::InvalidIssuer => "the token's issuer is not accepted",
        K::InvalidAudience => "the token's audience is not accepted",
        K::InvalidSignature => "the token's signature does not verify",
        K::InvalidAlgorithm => "the token's algorithm is not accepted",
        K::MissingRequiredClaim(_) => "the token lacks a required claim (exp)",
        _ => "the token could not be verified",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Token digest → (claims, trusted until this unix second).
type CacheEntries = HashMap<[u8; 32], (Arc<VerifiedClaims>, u64)>;

/// Verified tokens by SHA-256, bounded; an entry is dropped at its `until` (unix seconds).
struct TokenCache {
    capacity: usize,
    entries: Mutex<CacheEntries>,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        // Entries are independent: a panic elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, digest: &[u8; 32], now: u64) -> Option<Arc<VerifiedClaims>> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.lock();
        match entries.get(digest) {
            Some((claims, until)) if now < *until => Some(Arc::clone(claims)),
            Some(_) => {
                entries.remove(digest);
                None
            }
            None => None,
        }
    }

    fn insert(&self, digest: [u8; 32], claims: Arc<VerifiedClaims>, until: u64, now: u64) {
        if self.capacity == 0 || until <= now {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until)| now < *until);
        }
        if entries.len() >= self.capacity {
            // Still full of live entries: drop an arbitrary tenth rather than grow.
            let drop: Vec<[u8; 32]> = entries
                .keys()
                .take(self.capacity.div_ceil(10))
                .copied()
                .collect();
            for key in drop {
                entries.remove(&key);
            }
        }
        entries.insert(digest, (claims, until));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Arc<VerifiedClaims> {
        Arc::new(VerifiedClaims {
            subject: None,
            issuer: None,
            scopes: vec![],
            expires_at: exp,
            claims: Map::new(),
        })
    }

    #[test]
    fn cache_entries_expire_and_capacity_is_bounded() {
        let cache = TokenCache::new(20);
        cache.insert([1; 32], claims(100), 100, 50);
        assert!(cache.get(&[1; 32], 99).is_some());
        assert!(cache.get(&[1; 32], 100).is_none(), "gone at its expiry");
        for i in 0..100u8 {
            cache.insert([i; 32], claims(1000), 1000, 50);
            assert!(cache.len() <= 20);
        }
        assert!(
            cache.get(&[99; 32], 60).is_some(),
            "the newest entry is kept"
        );
    }

    #[test]
    fn zero_capacity_turns_the_cache_off() {
        let cache = TokenCache::new(0);
        cache.insert([1; 32], claims(100), 100, 50);
        assert!(cache.get(&[1; 32], 60).is_none());
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let mut map = Map::new();
        map.insert("exp".into(), 10.into());
        map.insert("scope".into(), "read write".into());
        map.insert("scp".into(), serde_json::json!(["admin", "read"]));
        let claims = VerifiedClaims::from_claims(map).unwrap();
        assert_eq!(claims.scopes, ["admin", "read", "write"]);
    }
}
