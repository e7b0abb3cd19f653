//! [`CappedSessionManager`]: rmcp's in-memory session manager with a cap on open sessions.
//!
//! rmcp's `LocalSessionManager` expires idle sessions (its `keep_alive`) but has no upper
//! bound, so a client looping on `initialize` could grow memory without limit. This wrapper
//! refuses to create a session past the cap and delegates everything else.

use std::sync::Arc;

use futures_core::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        WorkerTransport,
        streamable_http_server::{
            SessionId, SessionManager,
            session::{
                ServerSseMessage,
                local::{LocalSessionManager, LocalSessionManagerError, LocalSessionWorker},
            },
        },
    },
};

/// Why the session manager refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The cap on open sessions is reached.
    #[error("session limit reached ({max} open sessions); retry later or raise the cap")]
    Full {
        /// The cap.
        max: usize,
    },
    /// rmcp's local session manager failed.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// rmcp's [`LocalSessionManager`] with at most `max_sessions` sessions open at once.
#[derive(Debug)]
pub struct CappedSessionManager {
    inner: LocalSessionManager,
    max_sessions: usize,
}

impl CappedSessionManager {
    /// Wraps a local session manager whose sessions close after `idle_timeout` unused.
    pub fn new(max_sessions: usize, idle_timeout: std::time::Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(idle_timeout);
        Self {
            inner,
            max_sessions,
        }
    }

    /// Sessions open now.
    pub async fn session_count(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    /// The cap on open sessions.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Whether one more session may be opened now.
    pub async fn has_room(&self) -> bool {
        self.session_count().await < self.max_sessions
    }
}

impl SessionManager for CappedSessionManager {
    type Error = SessionError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // Checked again here, not only in the HTTP pre-check, so racing initializes
        // cannot overshoot the cap by more than the requests already past this line.
        if !self.has_room().await {
            return Err(SessionError::Full {
                max: self.max_sessions,
            });
        }
        Ok(self.inner.create_session().await?)
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}

/// Shared handle, so the router's pre-check and rmcp's service see the same sessions.
pub(crate) type SharedSessions = Arc<CappedSessionManager>;
