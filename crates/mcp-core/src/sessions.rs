//! Session bounds: [`SessionBudget`], the cap shared by every transport, and
//! [`CappedSessionManager`], rmcp's in-memory session manager drawing on it.
//!
//! rmcp's `LocalSessionManager` expires idle sessions (its `keep_alive`) but has no upper
//! bound, so a client looping on `initialize` could grow memory without limit. The wrapper
//! takes a permit from the budget per session, refuses a session when none is left, and
//! gives the permit back when rmcp closes the session (DELETE, idle expiry, shutdown).
//!
//! A session also remembers the [`Principal`] that opened it, when requests carry one: only
//! that principal may use it, and each principal may hold only its quota of sessions.

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
            RestoreOutcome, SessionId, SessionManager,
            session::{
                ServerSseMessage,
                local::{LocalSessionManager, LocalSessionManagerError, LocalSessionWorker},
            },
        },
    },
};

/// Who a request comes from, as something outside this crate verified it: for a bearer
/// token, its issuer and subject. mcp-core never looks inside; it only compares principals.
/// A layer in front of the MCP routes puts one in the request's extensions, and then a
/// session belongs to the principal that opened it (any other gets `404` on it), each
/// principal has its own session quota, and a rate limit is kept per principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Arc<str>);

impl Principal {
    /// A principal named by `id` (any stable, unique text, e.g. issuer and subject joined).
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The text it was made from.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

tokio::task_local! {
    /// The request being handled, for rmcp's session manager, which is called inside the
    /// request but is not handed it.
    static OPENING: Opening;
}

/// Who opens any session the request creates, and why the manager refused one if it did.
struct Opening {
    principal: Option<Principal>,
    refused: Mutex<Option<SessionError>>,
}

/// Runs `future` (the handling of one request) with `principal` as the one who opens any
/// session it creates; also returns why the session manager refused to open or restore a
/// session during it, if it did. rmcp answers such a refusal `500`; the middleware that
/// called this answers it as the refusal it is (`503`/`429` with `Retry-After`).
pub(crate) async fn opened_by<F: std::future::Future>(
    principal: Option<Principal>,
    future: F,
) -> (F::Output, Option<SessionError>) {
    let opening = Opening {
        principal,
        refused: Mutex::new(None),
    };
    OPENING
        .scope(opening, async move {
            let output = future.await;
            let refused = OPENING
                .try_with(|opening| lock(&opening.refused).take())
                .ok()
                .flatten();
            (output, refused)
        })
        .await
}

/// The principal of the request being handled (see [`opened_by`]), if it has one.
pub(crate) fn current_opener() -> Option<Principal> {
    OPENING
        .try_with(|opening| opening.principal.clone())
        .ok()
        .flatten()
}

/// Hands a refusal for want of room to [`opened_by`], and returns it for rmcp.
fn noting_refusal(error: SessionError) -> SessionError {
    let copy = match &error {
        SessionError::Full { max } => SessionError::Full { max: *max },
        SessionError::QuotaReached { max } => SessionError::QuotaReached { max: *max },
        SessionError::Local(_) => return error,
    };
    let _ = OPENING.try_with(|opening| *lock(&opening.refused) = Some(copy));
    error
}

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
    /// The principal already holds its quota of sessions.
    #[error(
        "this client already holds {max} open sessions, its quota; end one (DELETE) or \
         let one expire, then retry"
    )]
    QuotaReached {
        /// The per-principal quota.
        max: usize,
    },
    /// rmcp's local session manager failed.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// The cap on open sessions, shared by every transport of a server, and each principal's
/// quota within it. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct SessionBudget {
    permits: Arc<Semaphore>,
    max: usize,
    per_principal: usize,
    held: Arc<Mutex<HashMap<Principal, usize>>>,
}

/// One open session's share of the budget (and of its principal's quota); dropping it
/// frees the place.
#[derive(Debug)]
pub(crate) struct SessionPermit {
    _slot: OwnedSemaphorePermit,
    owner: Option<Principal>,
    held: Arc<Mutex<HashMap<Principal, usize>>>,
}

impl SessionPermit {
    /// Whether `principal` may use this session: the one that opened it, and only it.
    pub fn belongs_to(&self, principal: Option<&Principal>) -> bool {
        self.owner.as_ref() == principal
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            let mut held = lock(&self.held);
            if let Some(count) = held.get_mut(owner) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    held.remove(owner);
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counts and permits hold no invariant a panic could break half-way: keep using them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionBudget {
    /// A budget of `max` sessions, at most `per_principal` of them held by one principal.
    pub fn new(max: usize, per_principal: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
            per_principal,
            held: Arc::default(),
        }
    }

    /// Takes a place for a new session opened by `owner`, or says why there is none.
    pub fn try_open(&self, owner: Option<&Principal>) -> Result<SessionPermit, SessionError> {
        let mut held = lock(&self.held);
        self.check_quota(&held, owner)?;
        let slot = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| SessionError::Full { max: self.max })?;
        if let Some(owner) = owner {
            *held.entry(owner.clone()).or_insert(0) += 1;
        }
        Ok(SessionPermit {
            _slot: slot,
            owner: owner.cloned(),
            held: Arc::clone(&self.held),
        })
    }

    /// Whether `owner` may open one more session now, and if not, why.
    pub fn check_room(&self, owner: Option<&Principal>) -> Result<(), SessionError> {
        self.check_quota(&lock(&self.held), owner)?;
        if self.permits.available_permits() == 0 {
            return Err(SessionError::Full { max: self.max });
        }
        Ok(())
    }

    /// Whether `owner` (given the sessions each principal holds) is below its quota.
    fn check_quota(
        &self,
        held: &HashMap<Principal, usize>,
        owner: Option<&Principal>,
    ) -> Result<(), SessionError> {
        match owner {
            Some(owner) if held.get(owner).copied().unwrap_or(0) >= self.per_principal => {
                Err(SessionError::QuotaReached {
                    max: self.per_principal,
                })
            }
            _ => Ok(()),
        }
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// rmcp's [`LocalSessionManager`] whose sessions each hold a place in a [`SessionBudget`].
#[derive(Debug)]
pub(crate) struct CappedSessionManager {
    inner: LocalSessionManager,
    budget: SessionBudget,
    permits: Mutex<HashMap<SessionId, Held>>,
}

/// A session open here: its place in the budget, and whether the shared store is known to
/// have it (restored from it, or saved to it by a request that has finished).
#[derive(Debug)]
struct Held {
    permit: SessionPermit,
    stored: bool,
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

    fn permits(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Held>> {
        lock(&self.permits)
    }

    /// Whether `principal` may use session `id`: `false` only for a session that exists
    /// and was opened by someone else (an unknown session is left to rmcp, which answers
    /// `404` for it).
    pub(crate) fn usable_by(&self, id: &str, principal: Option<&Principal>) -> bool {
        self.permits()
            .get(id)
            .is_none_or(|held| held.permit.belongs_to(principal))
    }

    /// The budget its sessions draw on.
    pub(crate) fn budget(&self) -> &SessionBudget {
        &self.budget
    }

    /// Whether session `id` is open on this replica.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.permits().contains_key(id)
    }

    /// The sessions open here that the shared store is known to have: `owner`'s alone, or
    /// with `None` every one. A session still being created (its save not finished) is
    /// not among them.
    pub(crate) fn stored_sessions_of(&self, owner: Option<Option<&Principal>>) -> Vec<SessionId> {
        self.permits()
            .iter()
            .filter(|(_, held)| {
                held.stored && owner.is_none_or(|owner| held.permit.belongs_to(owner))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Notes that the shared store has session `id` (its creating request has finished
    /// without a store failure).
    pub(crate) fn mark_stored(&self, id: &str) {
        if let Some(held) = self.permits().get_mut(id) {
            held.stored = true;
        }
    }
}

impl SessionManager for CappedSessionManager {
    type Error = SessionError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // The HTTP pre-check answers 503 early; this is the hard limit racing requests meet.
        let permit = self
            .budget
            .try_open(current_opener().as_ref())
            .map_err(noting_refusal)?;
        let (id, transport) = self.inner.create_session().await?;
        self.permits().insert(
            id.clone(),
            Held {
                permit,
                stored: false,
            },
        );
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

    /// A session another replica opened, found in the shared store: rmcp replays its
    /// `initialize` on a new local worker. It takes a place in the budget like a new
    /// session, for the requesting principal, which the middleware has checked is the
    /// session's owner.
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let permit = self
            .budget
            .try_open(current_opener().as_ref())
            .map_err(noting_refusal)?;
        let outcome = self.inner.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            self.permits().insert(
                id,
                Held {
                    permit,
                    stored: true,
                },
            );
        }
        Ok(outcome)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that meets a full budget inside rmcp (past the early check, racing
    /// others) leaves the refusal for the middleware, which answers it instead of rmcp's
    /// `500`.
    #[tokio::test]
    async fn a_refusal_inside_the_session_manager_is_handed_to_the_middleware() {
        let budget = SessionBudget::new(1, 1);
        let manager = CappedSessionManager::new(budget, std::time::Duration::from_secs(60));
        let alice = Principal::new("alice");
        let (first, refused) = opened_by(Some(alice.clone()), manager.create_session()).await;
        assert!(first.is_ok() && refused.is_none());

        let (second, refused) = opened_by(Some(alice.clone()), manager.create_session()).await;
        assert!(matches!(second, Err(SessionError::QuotaReached { max: 1 })));
        assert!(matches!(
            refused,
            Some(SessionError::QuotaReached { max: 1 })
        ));

        let (restored, refused) = opened_by(
            Some(Principal::new("bob")),
            manager.restore_session(SessionId::from("elsewhere")),
        )
        .await;
        assert!(matches!(restored, Err(SessionError::Full { max: 1 })));
        assert!(matches!(refused, Some(SessionError::Full { max: 1 })));
    }
}
