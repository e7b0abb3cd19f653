//! [`Verifier`]: checks a bearer token's signature, algorithm, time window, issuer, audience
//! and scopes, with a cache of verified tokens so reuse costs no RSA operation.
//!
//! jsonwebtoken checks the signature and `exp`, `nbf`, `iss` and `aud` (required when
//! configured); this file adds what it lacks: `iat` (type, not in the future), `iss` a single
//! string, and the types of `scope` and `scp`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{AuthError, ConfigError, Error, InvalidTokenReason, jwks::KeySource};

/// Longest token accepted, in bytes; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
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
    /// Reads `exp` and the scopes; a scope claim of the wrong type is refused, not skipped.
    fn from_claims(claims: Map<String, Value>) -> Result<Self, InvalidTokenReason> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let expires_at = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or_else(|| wrong_type("exp"))?;
        let mut scopes: Vec<String> = Vec::new();
        // RFC 8693 `scope`: one space-separated string. `scp` (Okta, Entra ID): that, or an
        // array of strings.
        match claims.get("scope") {
            None => {}
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
            Some(_) => return Err(wrong_type("scope")),
        }
        match claims.get("scp") {
            None => {}
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) => {
                for item in items {
                    let scope = item.as_str().ok_or_else(|| wrong_type("scp"))?;
                    scopes.push(scope.to_owned());
                }
            }
            Some(_) => return Err(wrong_type("scp")),
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
    /// Accepted `iss` values; empty = any. When set, `iss` is required and must be a string.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (one match suffices); empty = `aud` not checked. When set, `aud`
    /// is required (a string or an array of strings).
    pub audiences: Vec<String>,
    /// Scopes every token must carry in `scope` or `scp` (else `403 insufficient_scope`).
    pub required_scopes: Vec<String>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`.
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
            return Err(ConfigError::NoAlgorithm.into());
        }
        if let Some(&alg) = config
            .algorithms
            .iter()
            .find(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::SymmetricAlgorithm(alg).into());
        }
        let mut validation = Validation::new(config.algorithms[0]);
        validation.algorithms = config.algorithms.clone();
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // jsonwebtoken counts a required claim as present only when it parses: `exp` a
        // NumericDate, `iss` and `aud` a string or an array of strings.
        let mut required = vec!["exp"];
        if config.issuers.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&config.issuers);
            required.push("iss");
        }
        if config.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
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
            return Err(InvalidTokenReason::TooLong.into());
        }
        let now = unix_now();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.cache.get(&digest, now) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signature(token, now).await?);
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
    async fn verify_signature(&self, token: &str, now: u64) -> Result<VerifiedClaims, AuthError> {
        let header = decode_header(token).map_err(|source| AuthError::InvalidToken {
            reason: InvalidTokenReason::Malformed,
            source: Some(source),
        })?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(InvalidTokenReason::WrongAlgorithm(header.alg).into());
        }
        let key = self.keys.key_for(header.kid.as_deref()).await?;
        let data = decode::<Map<String, Value>>(token, key.decoding_key(), &self.validation)
            .map_err(|source| AuthError::InvalidToken {
                reason: refusal_reason(source.kind(), header.alg),
                source: Some(source),
            })?;
        self.check_claims(&data.claims, now)?;
        Ok(VerifiedClaims::from_claims(data.claims)?)
    }

    /// What jsonwebtoken leaves unchecked: `iat` and, when issuers are configured, that `iss`
    /// is one string (jsonwebtoken also takes an array).
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<(), InvalidTokenReason> {
        if let Some(iat) = claims.get("iat") {
            let iat = numeric_date(iat).ok_or_else(|| wrong_type("iat"))?;
            if iat > now.saturating_add(self.config.leeway.as_secs()) {
                return Err(InvalidTokenReason::IssuedInFuture);
            }
        }
        if !self.config.issuers.is_empty() && !claims.get("iss").is_some_and(Value::is_string) {
            return Err(wrong_type("iss"));
        }
        Ok(())
    }
}

/// RFC 7519 NumericDate: non-negative seconds since the epoch, fractions allowed (dropped).
fn numeric_date(value: &Value) -> Option<u64> {
    if let Some(seconds) = value.as_u64() {
        return Some(seconds);
    }
    let seconds = value.as_f64()?;
    // In range, so `as` only drops the fraction.
    (seconds.is_finite() && (0.0..u64::MAX as f64).contains(&seconds)).then_some(seconds as u64)
}

/// Refusal of a claim that is present but of the wrong type.
fn wrong_type(claim: &'static str) -> InvalidTokenReason {
    InvalidTokenReason::WrongClaimType(claim)
}

/// The reason for jsonwebtoken's refusal of a token whose header names `alg`.
fn refusal_reason(kind: &ErrorKind, alg: Algorithm) -> InvalidTokenReason {
    use InvalidTokenReason as R;
    match kind {
        ErrorKind::ExpiredSignature => R::Expired,
        ErrorKind::ImmatureSignature => R::NotYetValid,
        ErrorKind::InvalidIssuer => R::WrongIssuer,
        ErrorKind::InvalidAudience => R::WrongAudience,
        ErrorKind::InvalidSignature => R::BadSignature,
        ErrorKind::InvalidAlgorithm => R::WrongAlgorithm(alg),
        // jsonwebtoken reports a required claim of the wrong type as missing.
        ErrorKind::MissingRequiredClaim(claim) => {
            registered_claim(claim).map_or(R::Unverifiable, R::MissingClaim)
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            registered_claim(claim).map_or(R::Unverifiable, R::WrongClaimType)
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => R::Malformed,
        _ => R::Unverifiable,
    }
}

/// The registered claim named `name`, as a `'static` name for [`InvalidTokenReason`].
fn registered_claim(name: &str) -> Option<&'static str> {
    [
        "exp", "nbf", "iat", "iss", "sub", "aud", "jti", "scope", "scp",
    ]
    .into_iter()
    .find(|claim| *claim == name)
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
    use serde_json::json;

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

    fn verifier(issuers: &[&str]) -> Verifier {
        let config = VerifierConfig {
            issuers: issuers.iter().map(|&i| i.to_owned()).collect(),
            leeway: Duration::from_secs(30),
            ..VerifierConfig::default()
        };
        let keys = KeySource::Static(Arc::new(crate::KeySet::default()));
        Verifier::new(keys, config).unwrap()
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn reason(result: Result<impl std::fmt::Debug, InvalidTokenReason>) -> String {
        match result {
            Err(reason) => reason.to_string(),
            other => panic!("expected invalid_token, got {other:?}"),
        }
    }

    #[test]
    fn iat_beyond_the_leeway_is_refused_and_within_it_passes() {
        let verifier = verifier(&[]);
        // now = 1000, leeway 30 s: the last acceptable iat is 1030.
        assert!(
            verifier
                .check_claims(&map(json!({"iat": 1030})), 1000)
                .is_ok()
        );
        assert!(
            verifier
                .check_claims(&map(json!({"iat": 1030.9})), 1000)
                .is_ok()
        );
        assert!(
            verifier.check_claims(&map(json!({})), 1000).is_ok(),
            "iat is optional"
        );
        assert_eq!(
            reason(verifier.check_claims(&map(json!({"iat": 1031})), 1000)),
            "the token's iat is in the future: it claims to be issued later than now"
        );
        for wrong in [json!("1000"), json!(-1), json!(null), json!([1000])] {
            assert_eq!(
                reason(verifier.check_claims(&map(json!({"iat": wrong})), 1000)),
                "the token's iat claim must be a number of seconds since the epoch"
            );
        }
    }

    #[test]
    fn iss_must_be_one_string_when_issuers_are_configured() {
        let strict = verifier(&["dice-mcp"]);
        assert!(
            strict
                .check_claims(&map(json!({"iss": "dice-mcp"})), 0)
                .is_ok()
        );
        for wrong in [json!({"iss": ["dice-mcp"]}), json!({"iss": 5}), json!({})] {
            assert_eq!(
                reason(strict.check_claims(&map(wrong), 0)),
                "the token's iss claim must be a string"
            );
        }
        let any = verifier(&[]);
        assert!(any.check_claims(&map(json!({})), 0).is_ok());
    }

    #[test]
    fn scope_claims_of_the_wrong_type_are_refused() {
        for (claims, named) in [
            (json!({"exp": 10, "scope": 7}), "scope"),
            (json!({"exp": 10, "scope": ["read"]}), "scope"),
            (json!({"exp": 10, "scp": 7}), "scp"),
            (json!({"exp": 10, "scp": ["read", 7]}), "scp"),
            (json!({"exp": 10, "scp": {"read": true}}), "scp"),
        ] {
            let why = reason(VerifiedClaims::from_claims(map(claims)));
            assert!(
                why.starts_with(&format!("the token's {named} claim must be")),
                "{why}"
            );
        }
        let claims = VerifiedClaims::from_claims(map(json!({"exp": 10}))).unwrap();
        assert!(claims.scopes.is_empty(), "no scope claim is no scopes");
    }

    #[test]
    fn exp_must_be_a_numeric_date() {
        for exp in [json!("10"), json!(-10), json!(true)] {
            assert_eq!(
                reason(VerifiedClaims::from_claims(map(json!({"exp": exp})))),
                "the token's exp claim must be a number of seconds since the epoch"
            );
        }
        let claims = VerifiedClaims::from_claims(map(json!({"exp": 10.7}))).unwrap();
        assert_eq!(claims.expires_at, 10, "fractions are dropped");
    }

    #[test]
    fn jsonwebtoken_refusals_name_the_claim() {
        assert_eq!(
            refusal_reason(
                &ErrorKind::MissingRequiredClaim("aud".into()),
                Algorithm::RS256
            ),
            InvalidTokenReason::MissingClaim("aud")
        );
        assert_eq!(
            refusal_reason(
                &ErrorKind::InvalidClaimFormat("nbf".into()),
                Algorithm::RS256
            ),
            InvalidTokenReason::WrongClaimType("nbf")
        );
        assert_eq!(
            refusal_reason(&ErrorKind::InvalidAlgorithm, Algorithm::HS256),
            InvalidTokenReason::WrongAlgorithm(Algorithm::HS256)
        );
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
