//! Session bounds: [`SessionBudget`], the cap shared by every transport, and
//! [`CappedSessionManager`], rmcp's in-memory session manager drawing on it.
//!
//! rmcp's `LocalSessionManager` expires idle sessions (its `keep_alive`) but has no upper
//! bound, so a client looping on `initialize` could grow memory without limit. The wrapper
//! takes a permit from the budget per session, refuses a session when none is left, and
//! gives the permit back when rmcp closes the session (DELETE, idle expiry, shutdown).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use futures::Stream;
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

/// The cap on open sessions, shared by every transport of a server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionBudget {
    permits: Arc<Semaphore>,
    max: usize,
}

/// One open session's share of the budget; dropping it frees the place.
pub type SessionPermit = OwnedSemaphorePermit;

impl SessionBudget {
    /// A budget of `max` sessions.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Takes a place for a new session, or says the cap is reached.
    pub fn try_open(&self) -> Result<SessionPermit, SessionError> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| SessionError::Full { max: self.max })
    }

    /// Whether one more session may be opened now.
    pub fn has_room(&self) -> bool {
        self.permits.available_permits() > 0
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// rmcp's [`LocalSessionManager`] whose sessions each hold a place in a [`SessionBudget`].
#[derive(Debug)]
pub struct CappedSessionManager {
    inner: LocalSessionManager,
    budget: SessionBudget,
    permits: Mutex<HashMap<SessionId, SessionPermit>>,
}

impl CappedSessionManager {
    /// Wraps a local session manager whose sessions close after `idle_timeout` unused.
    pub fn new(budget: SessionBudget, idle_timeout: std::time::Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(idle_timeout);
        Self {
            inner,
            budget,
            permits: Mutex::new(HashMap::new()),
        }
    }

    /// The budget the sessions draw on.
    pub fn budget(&self) -> &SessionBudget {
        &self.budget
    }

    fn permits(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionPermit>> {
        // The map holds no invariant a panic could break half-way: keep using it.
        self.permits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionManager for CappedSessionManager {
    type Error = SessionError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // The HTTP pre-check answers 503 early; this is the hard limit racing requests meet.
        let permit = self.budget.try_open()?;
        let (id, transport) = self.inner.create_session().await?;
        self.permits().insert(id.clone(), permit);
        Ok((id, transport))
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
        let result = self.inner.close_session(id).await;
        self.permits().remove(id);
        Ok(result?)
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
