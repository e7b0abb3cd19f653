//! [`Store`]: registered clients and refresh tokens, in memory or in a JSON file written
//! atomically (a temporary file with mode 0600, then a rename). Refresh tokens and client
//! secrets are kept only as their SHA-256: the file alone lets nobody call the server.
//!
//! With a file, every change reads it first, so what another process did meanwhile (the
//! owner revoking a client from the command line) is seen; and a change holds a lock on a
//! file beside it (`*.lock`) from that read to its write, so two processes changing the
//! store at once take turns rather than one undoing the other.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Most refresh tokens kept (live and rotated); beyond it the ones closest to expiry go.
const MAX_REFRESH_TOKENS: usize = 10_000;

/// A registered client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Client {
    pub(crate) client_name: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) token_endpoint_auth_method: String,
    /// SHA-256 (hex) of the secret, for clients that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret_sha256: Option<String>,
    pub(crate) registered_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_used_at: Option<u64>,
}

/// A refresh token, by the SHA-256 of its value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Refresh {
    pub(crate) client_id: String,
    /// Every token rotated from one authorization shares it; reuse revokes them all.
    pub(crate) family: String,
    pub(crate) scope: String,
    pub(crate) expires_at: u64,
    /// Already exchanged for a newer one: presenting it again is reuse.
    pub(crate) rotated: bool,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct StoreData {
    #[serde(default)]
    pub(crate) clients: BTreeMap<String, Client>,
    #[serde(default)]
    pub(crate) refresh_tokens: BTreeMap<String, Refresh>,
}

impl StoreData {
    /// Drops expired refresh tokens, and the oldest beyond the bound.
    fn prune(&mut self, now: u64) {
        self.refresh_tokens
            .retain(|_, token| token.expires_at > now);
        if self.refresh_tokens.len() > MAX_REFRESH_TOKENS {
            let mut by_expiry: Vec<(u64, String)> = self
                .refresh_tokens
                .iter()
                .map(|(hash, token)| (token.expires_at, hash.clone()))
                .collect();
            by_expiry.sort();
            let excess = self.refresh_tokens.len() - MAX_REFRESH_TOKENS;
            for (_, hash) in by_expiry.into_iter().take(excess) {
                self.refresh_tokens.remove(&hash);
            }
        }
    }
}

/// A registered client as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    /// Its `client_id`.
    pub client_id: String,
    /// The name it registered with, if any.
    pub name: Option<String>,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// When it registered (seconds since the epoch).
    pub registered_at: u64,
    /// When it last obtained a token (seconds since the epoch), if ever.
    pub last_used_at: Option<u64>,
    /// Refresh tokens it holds that can still be used.
    pub live_refresh_tokens: usize,
}

/// Where clients and refresh tokens are kept.
#[derive(Debug)]
pub struct Store {
    path: Option<PathBuf>,
    data: Mutex<StoreData>,
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// SHA-256 of `value`, hex.
pub(crate) fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Store {
    /// A store that lasts as long as the process.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            data: Mutex::default(),
        }
    }

    /// A store in the file at `path`, read now if it exists (created on the first change,
    /// with its directory).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let data = read(&path)?;
        Ok(Self {
            path: Some(path),
            data: Mutex::new(data),
        })
    }

    /// The file, if the store has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads (the file, if any), applies `change`, and writes back.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut StoreData) -> R) -> Result<R, Error> {
        let mut data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        let _turn = self.path.as_deref().map(lock).transpose()?;
        if let Some(path) = &self.path {
            *data = read(path)?;
        }
        data.prune(now());
        let result = change(&mut data);
        if let Some(path) = &self.path {
            write(path, &data)?;
        }
        Ok(result)
    }

    /// Reads without changing anything.
    pub(crate) fn view<R>(&self, look: impl FnOnce(&StoreData) -> R) -> Result<R, Error> {
        let mut data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            *data = read(path)?;
        }
        Ok(look(&data))
    }

    /// The registered clients.
    pub fn clients(&self) -> Result<Vec<ClientSummary>, Error> {
        let now = now();
        self.view(|data| {
            data.clients
                .iter()
                .map(|(id, client)| ClientSummary {
                    client_id: id.clone(),
                    name: client.client_name.clone(),
                    redirect_uris: client.redirect_uris.clone(),
                    registered_at: client.registered_at,
                    last_used_at: client.last_used_at,
                    live_refresh_tokens: data
                        .refresh_tokens
                        .values()
                        .filter(|t| &t.client_id == id && !t.rotated && t.expires_at > now)
                        .count(),
                })
                .collect()
        })
    }

    /// Removes a client and every refresh token it holds; `false` if there was none. Access
    /// tokens already issued stay valid until they expire.
    pub fn revoke(&self, client_id: &str) -> Result<bool, Error> {
        self.update(|data| {
            data.refresh_tokens.retain(|_, t| t.client_id != client_id);
            data.clients.remove(client_id).is_some()
        })
    }
}

/// The lock beside the store at `path`, held (exclusively, across processes) until the
/// returned file is dropped. The store file itself is replaced by each write, so the lock
/// is on a file of its own, which stays. Every change takes it first, so this is where the
/// store's directory is made.
fn lock(path: &Path) -> Result<std::fs::File, Error> {
    let failed = |source| Error::Store {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let file = open_private(&path.with_extension("lock"), false).map_err(failed)?;
    file.lock().map_err(failed)?;
    Ok(file)
}

/// `file` opened for writing, created with mode 0600 if it is not there.
fn open_private(file: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)
}

fn read(path: &Path) -> Result<StoreData, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::DamagedStore {
            path: path.to_owned(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(StoreData::default()),
        Err(source) => Err(Error::Store {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `data` to a temporary file beside `path` (mode 0600), then renames it over
/// `path`: a reader sees the old file or the new one, never half of one. Called under the
/// change's [`lock`], which made the directory.
fn write(path: &Path, data: &StoreData) -> Result<(), Error> {
    use std::io::Write;
    let failed = |source| Error::Store {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(data).map_err(|source| Error::DamagedStore {
        path: path.to_owned(),
        source,
    })?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = open_private(&temporary, true).map_err(failed)?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str) -> Client {
        Client {
            client_name: Some(name.to_owned()),
            redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
            token_endpoint_auth_method: "none".to_owned(),
            secret_sha256: None,
            registered_at: now(),
            last_used_at: None,
        }
    }

    #[test]
    fn a_file_store_survives_reopening_is_private_and_sees_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/oauth.json");
        let store = Store::open(&path).unwrap();
        store
            .update(|data| data.clients.insert("c1".into(), client("one")))
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = Store::open(&path).unwrap();
        assert_eq!(other.clients().unwrap()[0].name.as_deref(), Some("one"));
        assert!(other.revoke("c1").unwrap());
        assert!(
            store.clients().unwrap().is_empty(),
            "the first store sees the revocation"
        );
        assert!(!store.revoke("c1").unwrap());
    }

    #[test]
    fn two_processes_changing_the_file_at_once_lose_nothing() {
        // Two stores on one file stand for `dev` and `dice-mcp oauth revoke`: each change
        // reads the file, changes it and writes it back, and without the lock a write made
        // between another's read and write was undone by it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth.json");
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let store = Store::open(&path).unwrap();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        store
                            .update(|data| data.clients.insert(format!("{name}{i}"), client(name)))
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(Store::open(&path).unwrap().clients().unwrap().len(), 200);
    }

    #[test]
    fn a_damaged_file_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(error.to_string().contains("damaged"), "{error}");
    }

    #[test]
    fn expired_refresh_tokens_are_dropped() {
        let store = Store::in_memory();
        store
            .update(|data| {
                for (hash, expires_at) in [("old", 1), ("new", now() + 60)] {
                    data.refresh_tokens.insert(
                        hash.into(),
                        Refresh {
                            client_id: "c".into(),
                            family: "f".into(),
                            scope: String::new(),
                            expires_at,
                            rotated: false,
                        },
                    );
                }
            })
            .unwrap();
        let kept = store.view(|data| data.refresh_tokens.len()).unwrap();
        assert_eq!(kept, 2, "pruned on the next change, not on a read");
        store.update(|_| ()).unwrap();
        let kept: Vec<String> = store
            .view(|data| data.refresh_tokens.keys().cloned().collect())
            .unwrap();
        assert_eq!(kept, ["new"]);
    }
}
