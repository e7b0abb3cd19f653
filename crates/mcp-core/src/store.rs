//! Stateful sessions shared by replicas: [`SessionStore`], the key-value store a program
//! plugs in (Redis, say), and what mcp-core keeps there for each `/mcp` session: rmcp's
//! [`SessionState`] (the `initialize` parameters rmcp replays to restore a session on
//! another replica) and the session's owner, so the [`Principal`] check holds on every
//! replica.
//!
//! rmcp has its own `SessionStore` (`load`, `store`, `delete`), but it cannot expire an
//! entry, refresh one on use or carry the owner, and it ignores a failed `store` after
//! `initialize` (the client gets a session no other replica knows). mcp-core gives rmcp an
//! adapter ([`RmcpStore`]) over this trait, and its own middleware does the rest.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore as RmcpSessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};

use crate::sessions::{Principal, current_opener};

/// What a [`SessionStore`] implementation fails with: its own error, boxed.
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where stateful `/mcp` sessions live so that any replica of a server can serve them.
///
/// A key-value store keyed by session id, holding one opaque text per session (JSON that
/// mcp-core writes and reads; an implementation stores it as it is). Each entry expires
/// `ttl` after it was last saved or touched: mcp-core passes the session idle timeout.
///
/// An implementation should answer quickly when its backend is unreachable (a bounded
/// timeout): a failure refuses the request with `503`, it never hangs it.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// The entry of session `id`, `None` if there is none (never was, ended, expired).
    async fn load(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Writes the entry of session `id`, expiring `ttl` from now.
    async fn save(&self, id: &str, entry: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Makes the entry of session `id` expire `ttl` from now; `false` if there is no entry
    /// (the session was ended on another replica, or expired).
    async fn touch(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Removes the entry of session `id`, if there is one.
    async fn delete(&self, id: &str) -> Result<(), StoreError>;
}

/// Why the session store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SharedSessionError {
    /// The store failed (unreachable, timed out, refused).
    #[error("the shared session store failed")]
    Store(#[source] StoreError),
    /// An entry in the store is not one mcp-core wrote.
    #[error("a session entry in the shared store is not valid")]
    Corrupt(#[source] serde_json::Error),
}

/// One session as the store keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct SessionEntry {
    /// The principal that opened the session, `None` for a server without principals.
    owner: Option<String>,
    /// rmcp's part: the `initialize` parameters it replays to restore the session.
    state: SessionState,
}

/// A [`SessionStore`] and the TTL of its entries (the session idle timeout). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub(crate) struct SharedSessions {
    store: Arc<dyn SessionStore>,
    ttl: Duration,
}

/// What the store says about a session this replica does not hold.
#[derive(Debug)]
pub(crate) enum Stored {
    /// No such session (or it ended, or expired).
    Missing,
    /// The session exists and was opened by this owner.
    OwnedBy(Option<Principal>),
}

impl SharedSessions {
    pub(crate) fn new(store: Arc<dyn SessionStore>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// Who owns session `id`, as the store says.
    pub(crate) async fn owner(&self, id: &str) -> Result<Stored, SharedSessionError> {
        Ok(match self.load(id).await? {
            Some(entry) => Stored::OwnedBy(entry.owner.map(Principal::new)),
            None => Stored::Missing,
        })
    }

    /// Refreshes session `id`'s expiry; `false` if the store no longer has it.
    pub(crate) async fn touch(&self, id: &str) -> Result<bool, SharedSessionError> {
        self.store
            .touch(id, self.ttl)
            .await
            .map_err(SharedSessionError::Store)
    }

    async fn load(&self, id: &str) -> Result<Option<SessionEntry>, SharedSessionError> {
        let Some(text) = self
            .store
            .load(id)
            .await
            .map_err(SharedSessionError::Store)?
        else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(SharedSessionError::Corrupt)
    }

    async fn save(&self, id: &str, entry: &SessionEntry) -> Result<(), SharedSessionError> {
        let text = serde_json::to_string(entry).map_err(SharedSessionError::Corrupt)?;
        self.store
            .save(id, &text, self.ttl)
            .await
            .map_err(SharedSessionError::Store)
    }
}

tokio::task_local! {
    /// Where the adapter puts a store failure during a request (a new session's save, a
    /// restore's load, a `DELETE`'s delete), for the middleware around rmcp, which logs
    /// the failure and answers as if it had worked (or `500` for a load).
    static STORE_FAILURE: Mutex<Option<SharedSessionError>>;
}

/// Runs `future` (one request through rmcp), then says whether the store failed during
/// it, and why.
pub(crate) async fn noting_store_failure<F: Future>(
    future: F,
) -> (F::Output, Option<SharedSessionError>) {
    STORE_FAILURE
        .scope(Mutex::new(None), async move {
            let output = future.await;
            let failure = STORE_FAILURE
                .try_with(|slot| {
                    slot.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take()
                })
                .ok()
                .flatten();
            (output, failure)
        })
        .await
}

/// Hands `error` to [`noting_store_failure`] (or logs it, outside one); rmcp's error for
/// it.
fn note_failure(error: SharedSessionError, what: &str) -> SessionStoreError {
    let message = error.to_string();
    let noted = STORE_FAILURE.try_with(|slot| {
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    });
    if noted.is_err() {
        tracing::error!(%message, "{what}");
    }
    message.into()
}

/// rmcp's `SessionStore` over [`SharedSessions`]: saves the opener with rmcp's state, and
/// reports a failure to [`noting_store_failure`].
#[derive(Debug)]
pub(crate) struct RmcpStore(pub(crate) SharedSessions);

#[async_trait::async_trait]
impl RmcpSessionStore for RmcpStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        match self.0.load(session_id).await {
            Ok(entry) => Ok(entry.map(|entry| entry.state)),
            Err(error) => Err(note_failure(
                error,
                "could not load a session from the shared store",
            )),
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let entry = SessionEntry {
            owner: current_opener().map(|owner| owner.as_str().to_owned()),
            state: state.clone(),
        };
        match self.0.save(session_id, &entry).await {
            Ok(()) => Ok(()),
            Err(error) => Err(note_failure(
                error,
                "could not save a new session to the shared store",
            )),
        }
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        match self.0.store.delete(session_id).await {
            Ok(()) => Ok(()),
            Err(error) => Err(note_failure(
                SharedSessionError::Store(error),
                "could not delete a session from the shared store",
            )),
        }
    }
}

/// The session store of a server that shares its sessions with no other: entries in this
/// process, so that a resting session (see `SessionLimits::rest_after`) can be restored
/// the way a shared one is. Entries expire as a shared store's do; expired ones are purged
/// whenever the map has doubled since the last purge, so it holds at most about twice the
/// sessions alive (which the session cap bounds).
#[derive(Debug, Default)]
pub(crate) struct LocalStore {
    entries: Mutex<LocalEntries>,
}

#[derive(Debug, Default)]
struct LocalEntries {
    map: std::collections::HashMap<String, (String, std::time::Instant)>,
    /// The size at which the next save purges expired entries.
    purge_at: usize,
}

impl LocalStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, LocalEntries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SessionStore for LocalStore {
    async fn load(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut entries = self.entries();
        match entries.map.get(id) {
            Some((text, expires)) if *expires > std::time::Instant::now() => Ok(Some(text.clone())),
            Some(_) => {
                entries.map.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(&self, id: &str, entry: &str, ttl: Duration) -> Result<(), StoreError> {
        let now = std::time::Instant::now();
        let mut entries = self.entries();
        entries
            .map
            .insert(id.to_owned(), (entry.to_owned(), now + ttl));
        if entries.map.len() >= entries.purge_at {
            entries.map.retain(|_, (_, expires)| *expires > now);
            entries.purge_at = (entries.map.len() * 2).max(64);
        }
        Ok(())
    }

    async fn touch(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = std::time::Instant::now();
        let mut entries = self.entries();
        match entries.map.get_mut(id) {
            Some((_, expires)) if *expires > now => {
                *expires = now + ttl;
                Ok(true)
            }
            Some(_) => {
                entries.map.remove(id);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.entries().map.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_entry_expires_and_a_touch_extends_it() {
        let store = LocalStore::default();
        let ttl = Duration::from_millis(150);
        store.save("a", "entry", ttl).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(store.touch("a", ttl).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.load("a").await.unwrap().as_deref(), Some("entry"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.load("a").await.unwrap(), None);
        assert!(!store.touch("a", ttl).await.unwrap());
    }

    #[tokio::test]
    async fn expired_local_entries_are_purged_as_the_map_grows() {
        let store = LocalStore::default();
        for n in 0..100 {
            store
                .save(&n.to_string(), "old", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for n in 0..100 {
            store
                .save(&format!("new{n}"), "new", Duration::from_secs(60))
                .await
                .unwrap();
        }
        // Without the purge all 200 would be kept.
        assert!(
            store.entries().map.len() <= 100 + 64,
            "{}",
            store.entries().map.len()
        );
        store.delete("new0").await.unwrap();
        assert_eq!(store.load("new0").await.unwrap(), None);
    }
}
