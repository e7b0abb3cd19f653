//! [`Verifier`]: checks a bearer token's signature, algorithm, time window, issuer, audience
//! and scopes, with a cache of verified tokens so reuse costs no RSA operation.
//!
//! jsonwebtoken checks the algorithm against the allow-list, the signature and `exp`, `nbf`,
//! `iss` and `aud` (required when configured). The claims are read into [`TokenClaims`], and
//! this file adds what jsonwebtoken lacks: `iat` (type, not in the future), `iss` a single
//! string, and the types of `scope` and `scp`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, Validation, decode, decode_header, errors::ErrorKind,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Audience, AuthError, ConfigError, Error, InvalidTokenReason, jwks::KeySource};

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
#[non_exhaustive]
pub struct VerifiedClaims {
    /// `sub`, if present as a string.
    pub subject: Option<String>,
    /// `iss`, if present as a string.
    pub issuer: Option<String>,
    /// `aud`, if present as a string or an array of strings.
    pub audience: Option<Audience>,
    /// Scopes from `scope` (space-separated) and `scp` (array or string), sorted, no repeats.
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
    /// `nbf`, seconds since the epoch, if present.
    pub not_before: Option<u64>,
    /// `iat`, seconds since the epoch, if present.
    pub issued_at: Option<u64>,
    /// `jti`, if present as a string.
    pub token_id: Option<String>,
    /// Every other claim, as sent.
    pub extra: Map<String, Value>,
}

impl VerifiedClaims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A token's payload, each registered claim read into its type. A claim of the wrong type is
/// kept as such (not an error here), so the refusal can name it.
#[derive(Debug, Deserialize)]
struct TokenClaims {
    #[serde(default)]
    sub: Claim<String>,
    #[serde(default)]
    iss: Claim<String>,
    #[serde(default)]
    aud: Claim<Audience>,
    #[serde(default)]
    exp: Claim<NumericDate>,
    #[serde(default)]
    nbf: Claim<NumericDate>,
    #[serde(default)]
    iat: Claim<NumericDate>,
    #[serde(default)]
    jti: Claim<String>,
    /// RFC 8693 `scope`: one space-separated string.
    #[serde(default)]
    scope: Claim<String>,
    /// `scp` (Okta, Entra ID): a space-separated string, or an array of strings.
    #[serde(default)]
    scp: Claim<ScopeList>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// One claim as the token has it.
#[derive(Debug, Default)]
enum Claim<T> {
    #[default]
    Absent,
    Valid(T),
    /// Present, but not a `T` (`null` included).
    WrongType,
}

impl<T> Claim<T> {
    fn valid(self) -> Option<T> {
        match self {
            Self::Valid(value) => Some(value),
            Self::Absent | Self::WrongType => None,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Claim<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The value is read whole first, so a claim of the wrong type leaves the rest of the
        // payload readable.
        let value = Value::deserialize(deserializer)?;
        Ok(T::deserialize(value).map_or(Self::WrongType, Self::Valid))
    }
}

/// RFC 7519 NumericDate: non-negative seconds since the epoch, fractions allowed (dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seconds;
        impl serde::de::Visitor<'_> for Seconds {
            type Value = NumericDate;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative number of seconds since the epoch")
            }

            fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(seconds))
            }

            fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<NumericDate, E> {
                u64::try_from(seconds)
                    .map(NumericDate)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(seconds), &self))
            }

            fn visit_f64<E: serde::de::Error>(self, seconds: f64) -> Result<NumericDate, E> {
                // In range, so `as` only drops the fraction.
                if seconds.is_finite() && (0.0..u64::MAX as f64).contains(&seconds) {
                    Ok(NumericDate(seconds as u64))
                } else {
                    Err(E::invalid_value(
                        serde::de::Unexpected::Float(seconds),
                        &self,
                    ))
                }
            }
        }
        deserializer.deserialize_any(Seconds)
    }
}

/// `scp`'s two shapes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopeList {
    Text(String),
    List(Vec<String>),
}

impl TokenClaims {
    /// What jsonwebtoken leaves unchecked, in this order: `iat` (a NumericDate, not beyond
    /// `now` + `leeway`), `iss` one string when `issuers_required`, `exp` a NumericDate, the
    /// types of `scope` and `scp`. A scope claim of the wrong type is refused, not skipped.
    fn into_verified(
        self,
        issuers_required: bool,
        leeway: u64,
        now: u64,
    ) -> Result<VerifiedClaims, InvalidTokenReason> {
        use InvalidTokenReason::{IssuedInFuture, WrongClaimType};
        let issued_at = match self.iat {
            Claim::Absent => None,
            Claim::Valid(NumericDate(iat)) if iat > now.saturating_add(leeway) => {
                return Err(IssuedInFuture);
            }
            Claim::Valid(NumericDate(iat)) => Some(iat),
            Claim::WrongType => return Err(WrongClaimType("iat")),
        };
        // jsonwebtoken also takes an array of issuers.
        let issuer = match self.iss {
            Claim::Valid(iss) => Some(iss),
            Claim::Absent | Claim::WrongType if issuers_required => {
                return Err(WrongClaimType("iss"));
            }
            Claim::Absent | Claim::WrongType => None,
        };
        let Claim::Valid(NumericDate(expires_at)) = self.exp else {
            return Err(WrongClaimType("exp"));
        };
        let mut scopes: Vec<String> = Vec::new();
        match self.scope {
            Claim::Absent => {}
            Claim::Valid(text) => scopes.extend(text.split_whitespace().map(str::to_owned)),
            Claim::WrongType => return Err(WrongClaimType("scope")),
        }
        match self.scp {
            Claim::Absent => {}
            Claim::Valid(ScopeList::Text(text)) => {
                scopes.extend(text.split_whitespace().map(str::to_owned));
            }
            Claim::Valid(ScopeList::List(list)) => scopes.extend(list),
            Claim::WrongType => return Err(WrongClaimType("scp")),
        }
        scopes.sort();
        scopes.dedup();
        Ok(VerifiedClaims {
            subject: self.sub.valid(),
            issuer,
            audience: self.aud.valid(),
            scopes,
            expires_at,
            not_before: self.nbf.valid().map(|NumericDate(nbf)| nbf),
            issued_at,
            token_id: self.jti.valid(),
            extra: self.extra,
        })
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
    /// Accepted algorithms. Only RSA ones (RS256/384/512, PS256/384/512) are allowed, as the
    /// keys are RSA; HMAC and others are refused when the verifier is built, and `none` is
    /// never accepted, whatever a token's header says.
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
    /// Builds a verifier checking tokens with `keys`: a [`KeySource`], or anything that
    /// converts into one (a [`crate::PublicKey`], a [`crate::KeySet`], a `RemoteJwks`).
    /// Refuses an empty algorithm list and algorithms other than RSA ones.
    pub fn new(keys: impl Into<KeySource>, config: VerifierConfig) -> Result<Self, Error> {
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm.into());
        }
        for &alg in &config.algorithms {
            match alg.family() {
                AlgorithmFamily::Rsa => {}
                AlgorithmFamily::Hmac => return Err(ConfigError::SymmetricAlgorithm(alg).into()),
                _ => return Err(ConfigError::NotRsaAlgorithm(alg).into()),
            }
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
            keys: keys.into(),
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

    /// The full check, with no cache: header, key, algorithm and signature, claims.
    async fn verify_signature(&self, token: &str, now: u64) -> Result<VerifiedClaims, AuthError> {
        let header = decode_header(token).map_err(|source| AuthError::InvalidToken {
            reason: InvalidTokenReason::Malformed,
            source: Some(source),
        })?;
        let key = self.keys.key_for(header.kid.as_deref()).await?;
        // `self.validation.algorithms` refuses any other algorithm than the configured ones.
        let data = decode::<TokenClaims>(token, key.decoding_key(), &self.validation).map_err(
            |source| AuthError::InvalidToken {
                reason: refusal_reason(source.kind(), header.alg),
                source: Some(source),
            },
        )?;
        let verified = data.claims.into_verified(
            !self.config.issuers.is_empty(),
            self.config.leeway.as_secs(),
            now,
        )?;
        Ok(verified)
    }
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
        // The accepted algorithms are all RSA, like the keys, so this is the header's
        // algorithm not being one of them.
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
            audience: None,
            scopes: vec![],
            expires_at: exp,
            not_before: None,
            issued_at: None,
            token_id: None,
            extra: Map::new(),
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

    /// `claims` read as a token's payload and checked as a verifier with `issuers_required`
    /// and a 30 s leeway would at unix time `now`.
    fn check(claims: Value, issuers_required: bool, now: u64) -> Result<VerifiedClaims, String> {
        let claims: TokenClaims = serde_json::from_value(claims).unwrap();
        claims
            .into_verified(issuers_required, 30, now)
            .map_err(|reason| reason.to_string())
    }

    #[test]
    fn iat_beyond_the_leeway_is_refused_and_within_it_passes() {
        // now = 1000, leeway 30 s: the last acceptable iat is 1030.
        assert!(check(json!({"exp": 2000, "iat": 1030}), false, 1000).is_ok());
        assert_eq!(
            check(json!({"exp": 2000, "iat": 1030.9}), false, 1000)
                .unwrap()
                .issued_at,
            Some(1030)
        );
        assert!(
            check(json!({"exp": 2000}), false, 1000).is_ok(),
            "iat is optional"
        );
        assert_eq!(
            check(json!({"exp": 2000, "iat": 1031}), false, 1000).unwrap_err(),
            "the token's iat is in the future: it claims to be issued later than now"
        );
        for wrong in [json!("1000"), json!(-1), json!(null), json!([1000])] {
            assert_eq!(
                check(json!({"exp": 2000, "iat": wrong}), false, 1000).unwrap_err(),
                "the token's iat claim must be a number of seconds since the epoch"
            );
        }
    }

    #[test]
    fn iss_must_be_one_string_when_issuers_are_configured() {
        let verified = check(json!({"exp": 10, "iss": "dice-mcp"}), true, 0).unwrap();
        assert_eq!(verified.issuer.as_deref(), Some("dice-mcp"));
        for wrong in [
            json!({"exp": 10, "iss": ["dice-mcp"]}),
            json!({"exp": 10, "iss": 5}),
            json!({"exp": 10}),
        ] {
            assert_eq!(
                check(wrong, true, 0).unwrap_err(),
                "the token's iss claim must be a string"
            );
        }
        assert!(check(json!({"exp": 10}), false, 0).is_ok());
        assert_eq!(
            check(json!({"exp": 10, "iss": 5}), false, 0)
                .unwrap()
                .issuer,
            None,
            "unchecked, a mistyped iss is no issuer"
        );
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
            let why = check(claims, false, 0).unwrap_err();
            assert!(
                why.starts_with(&format!("the token's {named} claim must be")),
                "{why}"
            );
        }
        let claims = check(json!({"exp": 10}), false, 0).unwrap();
        assert!(claims.scopes.is_empty(), "no scope claim is no scopes");
    }

    #[test]
    fn exp_must_be_a_numeric_date() {
        for exp in [json!("10"), json!(-10), json!(true)] {
            assert_eq!(
                check(json!({"exp": exp}), false, 0).unwrap_err(),
                "the token's exp claim must be a number of seconds since the epoch"
            );
        }
        let claims = check(json!({"exp": 10.7}), false, 0).unwrap();
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
    fn registered_claims_are_typed_and_the_rest_kept() {
        let claims = check(
            json!({"exp": 10, "nbf": 5, "iat": 4, "sub": "dev", "jti": "j1",
                   "aud": ["a", "b"], "scope": "read write", "scp": ["admin", "read"],
                   "team": "dice"}),
            false,
            0,
        )
        .unwrap();
        assert_eq!(claims.scopes, ["admin", "read", "write"]);
        assert_eq!(claims.subject.as_deref(), Some("dev"));
        assert_eq!(claims.token_id.as_deref(), Some("j1"));
        assert_eq!(
            claims.audience,
            Some(Audience::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!((claims.not_before, claims.issued_at), (Some(5), Some(4)));
        assert_eq!(Value::Object(claims.extra), json!({"team": "dice"}));
    }

    #[test]
    fn only_rsa_algorithms_are_accepted_in_the_config() {
        let config = |algorithms: Vec<Algorithm>| VerifierConfig {
            algorithms,
            ..VerifierConfig::default()
        };
        let keys = crate::KeySet::default();
        assert!(
            Verifier::new(
                keys.clone(),
                config(vec![Algorithm::RS256, Algorithm::PS512])
            )
            .is_ok()
        );
        for (algorithms, expected) in [
            (vec![], ConfigError::NoAlgorithm),
            (
                vec![Algorithm::RS256, Algorithm::HS256],
                ConfigError::SymmetricAlgorithm(Algorithm::HS256),
            ),
            (
                vec![Algorithm::ES256],
                ConfigError::NotRsaAlgorithm(Algorithm::ES256),
            ),
        ] {
            match Verifier::new(keys.clone(), config(algorithms)) {
                Err(Error::InvalidConfig(error)) => assert_eq!(error, expected),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }
}
