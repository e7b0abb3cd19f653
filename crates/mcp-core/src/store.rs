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
