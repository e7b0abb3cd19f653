//! Where verification keys come from: a static set (a PEM or a JWKS file), or (feature
//! `remote-jwks`) a JWKS URL fetched with reqwest, cached with a TTL, refreshed on an unknown
//! `kid` at most once per interval (concurrent refreshes share one fetch), read with a size
//! limit, and keeping the last good set whenever a fetch fails.

#[cfg(feature = "remote-jwks")]
use std::time::{Duration, Instant};
use std::{collections::HashMap, path::Path, sync::Arc};

use jsonwebtoken::jwk::JwkSet;
#[cfg(feature = "remote-jwks")]
use tokio::sync::{Mutex, RwLock};

use crate::{AuthError, Error, InvalidTokenReason, PublicKey};

/// Default time a fetched JWKS is used before it is fetched again.
#[cfg(feature = "remote-jwks")]
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);
/// Default shortest interval between fetches (unknown-`kid` refreshes included).
#[cfg(feature = "remote-jwks")]
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Largest JWKS document accepted, in bytes; a longer one is refused as it streams in.
#[cfg(feature = "remote-jwks")]
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Public keys by `kid`. Cloning is cheap: clones share the keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Arc<HashMap<String, PublicKey>>,
}

impl KeySet {
    /// A set of one key.
    pub fn single(key: PublicKey) -> Self {
        let mut keys = HashMap::new();
        keys.insert(key.kid().to_owned(), key);
        Self {
            keys: Arc::new(keys),
        }
    }

    /// The RSA keys of a JWKS (others are skipped); an empty result is an error.
    pub fn from_jwks(jwks: &JwkSet) -> Result<Self, Error> {
        let keys: HashMap<String, PublicKey> = jwks
            .keys
            .iter()
            .filter_map(|jwk| PublicKey::from_jwk(jwk).ok())
            .map(|key| (key.kid().to_owned(), key))
            .collect();
        if keys.is_empty() {
            return Err(Error::NoUsableKey);
        }
        Ok(Self {
            keys: Arc::new(keys),
        })
    }

    /// Parses a JWKS document.
    pub fn from_jwks_json(json: &str) -> Result<Self, Error> {
        Self::from_jwks_bytes(json.as_bytes())
    }

    /// Parses a JWKS document given as bytes (UTF-8 JSON).
    fn from_jwks_bytes(json: &[u8]) -> Result<Self, Error> {
        let jwks: JwkSet = serde_json::from_slice(json).map_err(Error::NotJwks)?;
        Self::from_jwks(&jwks)
    }

    /// Reads a JWKS file.
    pub fn load_jwks(path: &Path) -> Result<Self, Error> {
        let json = crate::keys::read(path)?;
        Self::from_jwks_json(&json).map_err(|e| e.in_file(path))
    }

    /// The key for `kid`; a token without `kid` is matched when the set holds one key.
    fn find(&self, kid: Option<&str>) -> Option<&PublicKey> {
        match kid {
            Some(kid) => self.keys.get(kid),
            None if self.keys.len() == 1 => self.keys.values().next(),
            None => None,
        }
    }

    /// This set and `key`: for a verifier that trusts the keys it was given and one of its
    /// own (e.g. the key of a built-in authorization server).
    pub fn with_key(self, key: PublicKey) -> Self {
        let mut keys = Arc::unwrap_or_clone(self.keys);
        keys.insert(key.kid().to_owned(), key);
        Self {
            keys: Arc::new(keys),
        }
    }

    /// Key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl From<PublicKey> for KeySet {
    fn from(key: PublicKey) -> Self {
        Self::single(key)
    }
}

/// Where a [`crate::Verifier`] gets its keys. Cloning is cheap: clones share the keys (and a
/// remote set's cache).
///
/// Build one with `From`: a [`PublicKey`], a [`KeySet`] or a `RemoteJwks` all convert, and
/// [`crate::Verifier::new`] takes any of them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A fixed set: a public key PEM or a JWKS file.
    Static(KeySet),
    /// A JWKS URL, cached and refreshed.
    #[cfg(feature = "remote-jwks")]
    Remote(RemoteJwks),
}

impl KeySource {
    /// From one public key.
    pub fn public_key(key: PublicKey) -> Self {
        Self::Static(KeySet::single(key))
    }

    pub(crate) async fn key_for(&self, kid: Option<&str>) -> Result<PublicKey, AuthError> {
        match self {
            Self::Static(set) => set.find(kid).cloned().ok_or_else(unknown_kid),
            #[cfg(feature = "remote-jwks")]
            Self::Remote(remote) => remote.key_for(kid).await,
        }
    }
}

impl From<PublicKey> for KeySource {
    fn from(key: PublicKey) -> Self {
        Self::public_key(key)
    }
}

impl From<KeySet> for KeySource {
    fn from(set: KeySet) -> Self {
        Self::Static(set)
    }
}

#[cfg(feature = "remote-jwks")]
impl From<RemoteJwks> for KeySource {
    fn from(remote: RemoteJwks) -> Self {
        Self::Remote(remote)
    }
}

fn unknown_kid() -> AuthError {
    InvalidTokenReason::UnknownKey.into()
}

/// A JWKS URL with its cache. Cloning is cheap: clones share the cache, so one clone can be
/// given to a [`crate::Verifier`] and another kept to [`refresh`](Self::refresh) or inspect it.
#[cfg(feature = "remote-jwks")]
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    shared: Arc<Remote>,
}

#[cfg(feature = "remote-jwks")]
#[derive(Debug)]
struct Remote {
    url: String,
    client: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    state: RwLock<RemoteState>,
    /// Held for the whole of a fetch: one fetch at a time, and those who waited for it use its
    /// result instead of fetching again.
    fetching: Mutex<()>,
}

#[cfg(feature = "remote-jwks")]
#[derive(Debug, Default)]
struct RemoteState {
    keys: Option<KeySet>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    /// Fetches finished (successful or not); a task that saw this number change while it
    /// waited for [`Remote::fetching`] does not fetch again.
    completed: u64,
}

#[cfg(feature = "remote-jwks")]
impl RemoteJwks {
    /// A JWKS URL with the default TTL (5 min) and refresh interval (30 s). Nothing is fetched
    /// until [`Self::refresh`] or the first token.
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        Self::with_timing(url, DEFAULT_JWKS_TTL, DEFAULT_JWKS_MIN_REFRESH)
    }

    /// As [`Self::new`] with explicit cache TTL and shortest interval between fetches.
    pub fn with_timing(
        url: impl Into<String>,
        ttl: Duration,
        min_refresh: Duration,
    ) -> Result<Self, Error> {
        let url = url.into();
        let parsed = match url::Url::parse(&url) {
            Ok(parsed) => parsed,
            Err(source) => return Err(Error::InvalidUrl { url, source }),
        };
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(crate::ConfigError::JwksUrlScheme(url).into());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Self {
            shared: Arc::new(Remote {
                url,
                client,
                ttl,
                min_refresh,
                state: RwLock::new(RemoteState::default()),
                fetching: Mutex::new(()),
            }),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Fetches the JWKS now (after any fetch under way). On failure the keys held so far
    /// stay in use.
    pub async fn refresh(&self) -> Result<KeySet, Error> {
        let _one_at_a_time = self.shared.fetching.lock().await;
        self.shared.fetch_and_store().await
    }

    /// Kids currently held (empty before the first successful fetch).
    pub async fn kids(&self) -> Vec<String> {
        let state = self.shared.state.read().await;
        state
            .keys
            .as_ref()
            .map(|keys| keys.kids().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<PublicKey, AuthError> {
        let remote = &self.shared;
        let (keys, stale, may_fetch, completed) = {
            let state = remote.state.read().await;
            let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= remote.ttl);
            (
                state.keys.clone(),
                stale,
                remote.may_fetch(&state),
                state.completed,
            )
        };
        // Serve from the held set when it has the key and is fresh (or cannot be refreshed yet).
        if let Some(keys) = &keys
            && let Some(key) = keys.find(kid)
            && (!stale || !may_fetch)
        {
            return Ok(key.clone());
        }
        if may_fetch {
            remote.refresh_unless_done_since(completed).await;
        }
        let state = remote.state.read().await;
        match &state.keys {
            Some(keys) => keys.find(kid).cloned().ok_or_else(unknown_kid),
            None => Err(AuthError::KeysUnavailable),
        }
    }
}

#[cfg(feature = "remote-jwks")]
impl Remote {
    /// Fetches unless a fetch finished since the caller saw `completed` fetches, or the
    /// refresh interval has not passed since the last attempt. Concurrent callers that saw
    /// the same state therefore share one fetch.
    async fn refresh_unless_done_since(&self, completed: u64) {
        let _one_at_a_time = self.fetching.lock().await;
        {
            let state = self.state.read().await;
            if state.completed != completed || !self.may_fetch(&state) {
                return;
            }
        }
        // Whatever the outcome, the held set (if any) still answers; failures are logged.
        let _ = self.fetch_and_store().await;
    }

    /// One fetch, its outcome recorded. The caller holds `fetching`.
    async fn fetch_and_store(&self) -> Result<KeySet, Error> {
        self.state.write().await.attempted_at = Some(Instant::now());
        let fetched = self.fetch().await;
        let mut state = self.state.write().await;
        state.completed = state.completed.wrapping_add(1);
        match fetched {
            Ok(keys) => {
                state.keys = Some(keys.clone());
                state.fetched_at = Some(Instant::now());
                Ok(keys)
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    error = &error as &dyn std::error::Error,
                    "JWKS fetch failed; keeping the keys held so far"
                );
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, Error> {
        let fetch_failed = |source| Error::JwksFetch {
            url: self.url.clone(),
            source,
        };
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(fetch_failed)?;
        if !response.status().is_success() {
            return Err(Error::JwksStatus {
                url: self.url.clone(),
                status: response.status(),
            });
        }
        let too_large = || Error::JwksTooLarge {
            url: self.url.clone(),
            limit: MAX_JWKS_BYTES,
        };
        let announced = response.content_length();
        if announced.is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
            return Err(too_large());
        }
        // Chunk by chunk, so a long body is refused before it is all in memory.
        let mut body = Vec::with_capacity(announced.map_or(0, |length| length as usize));
        while let Some(chunk) = response.chunk().await.map_err(fetch_failed)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::from_jwks_bytes(&body)
    }

    fn may_fetch(&self, state: &RemoteState) -> bool {
        state
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh)
    }
}
