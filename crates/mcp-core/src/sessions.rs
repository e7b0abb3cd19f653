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
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

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
    /// How many of the open sessions are asleep (resting).
    asleep: Arc<AtomicUsize>,
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
            asleep: Arc::default(),
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

    /// How many of the open sessions are resting.
    pub fn resting(&self) -> usize {
        self.asleep.load(Ordering::Relaxed)
    }
}

/// rmcp's [`LocalSessionManager`] whose sessions each hold a place in a [`SessionBudget`],
/// and, when sessions rest (`SessionLimits::rest_after`), put idle ones to rest.
///
/// Resting: a pass every half rest period picks the sessions that have nothing in flight
/// (no request, no stream open) and have not been used for the rest period, and closes
/// their rmcp workers. The place in the budget stays; the session stays in the store
/// (there is always one when sessions rest), so its next request makes rmcp restore it.
#[derive(Debug)]
pub(crate) struct CappedSessionManager {
    inner: LocalSessionManager,
    budget: SessionBudget,
    permits: Mutex<HashMap<SessionId, Held>>,
    /// Unused for this long (and not in use), a session rests; `None`: never.
    rest_after: Option<Duration>,
    idle_timeout: Duration,
    /// Whether the resting pass has been started (at the first session).
    resting_started: AtomicBool,
    cancellation: CancellationToken,
    me: Weak<Self>,
}

/// A session open here: its place in the budget, and whether the shared store is known to
/// have it (restored from it, or saved to it by a request that has finished).
#[derive(Debug)]
struct Held {
    permit: SessionPermit,
    stored: bool,
    /// When its last request began or ended.
    last_used: Instant,
    /// Its requests (and streams) not finished yet.
    in_flight: usize,
    rest: Rest,
}

/// Where a session is in resting.
#[derive(Debug)]
enum Rest {
    /// Its worker runs.
    Awake,
    /// Its worker is being closed; `true` is sent when it has ended.
    FallingAsleep(watch::Sender<bool>),
    /// No worker: the next request restores it.
    Asleep {
        /// Counts it while it sleeps.
        _counted: Sleeper,
    },
}

/// One session asleep, counted in its budget while this lives.
#[derive(Debug)]
struct Sleeper(Arc<AtomicUsize>);

impl Sleeper {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a request waits for a session's worker to end before it is restored anyway,
/// should rmcp never report the end.
const FALL_ASLEEP_WAIT: Duration = Duration::from_secs(5);

/// A request (or stream) of a session, in flight while this lives: the session does not
/// rest meanwhile.
#[derive(Debug)]
pub(crate) struct InFlight {
    manager: Arc<CappedSessionManager>,
    id: SessionId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(held) = self.manager.permits().get_mut(&self.id) {
            held.in_flight = held.in_flight.saturating_sub(1);
            held.last_used = Instant::now();
        }
    }
}

impl CappedSessionManager {
    /// Wraps a local session manager whose sessions close after `idle_timeout` unused and,
    /// with `rest_after`, rest after that long unused (shorter than `idle_timeout`; the
    /// caller gives rmcp a store to restore them from). `cancellation` stops the resting.
    pub fn new(
        budget: SessionBudget,
        idle_timeout: Duration,
        rest_after: Option<Duration>,
        cancellation: CancellationToken,
    ) -> Arc<Self> {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(idle_timeout);
        Arc::new_cyclic(|me| Self {
            inner,
            budget,
            permits: Mutex::new(HashMap::new()),
            rest_after: rest_after.filter(|rest| *rest < idle_timeout),
            idle_timeout,
            resting_started: AtomicBool::new(false),
            cancellation,
            me: me.clone(),
        })
    }

    fn permits(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Held>> {
        lock(&self.permits)
    }

    /// Whether sessions rest.
    pub(crate) fn rests(&self) -> bool {
        self.rest_after.is_some()
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

    /// A request for session `id` begins: once the session is not falling asleep, it is in
    /// flight until the returned guard is dropped. `None` when sessions do not rest or
    /// `id` is not open here.
    pub(crate) async fn enter(&self, id: &str) -> Option<InFlight> {
        if !self.rests() {
            return None;
        }
        let manager = self.me.upgrade()?;
        loop {
            let mut falling = {
                let mut permits = self.permits();
                let held = permits.get_mut(id)?;
                match &held.rest {
                    Rest::FallingAsleep(done) => done.subscribe(),
                    Rest::Awake | Rest::Asleep { .. } => {
                        held.in_flight += 1;
                        held.last_used = Instant::now();
                        return Some(InFlight {
                            manager,
                            id: id.into(),
                        });
                    }
                }
            };
            let ended = tokio::time::timeout(FALL_ASLEEP_WAIT, falling.wait_for(|done| *done));
            if !matches!(ended.await, Ok(Ok(_))) {
                self.fell_asleep(id);
            }
        }
    }

    /// Session `id`'s worker has ended (or will never say so): the session is asleep.
    fn fell_asleep(&self, id: &str) {
        let sleeper = Sleeper::new(&self.budget.asleep);
        if let Some(held) = self.permits().get_mut(id)
            && let Rest::FallingAsleep(done) =
                std::mem::replace(&mut held.rest, Rest::Asleep { _counted: sleeper })
        {
            done.send_replace(true);
        }
    }

    /// Starts the resting pass, once, if sessions rest.
    fn start_resting(&self) {
        let (Some(rest), Some(me)) = (self.rest_after, self.me.upgrade()) else {
            return;
        };
        if self.resting_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::downgrade(&me);
        let cancellation = self.cancellation.clone();
        let every = (rest / 2).max(Duration::from_millis(20));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancellation.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let Some(manager) = me.upgrade() else {
                    return;
                };
                manager.rest_pass(rest).await;
            }
        });
    }

    /// Puts to sleep the sessions unused for `rest` with nothing in flight, and ends the
    /// sleeping ones unused for the idle timeout (the store has let them expire).
    async fn rest_pass(&self, rest: Duration) {
        let mut tiring = Vec::new();
        {
            let mut permits = self.permits();
            let idle_timeout = self.idle_timeout;
            permits.retain(|_, held| {
                !(matches!(held.rest, Rest::Asleep { .. })
                    && held.last_used.elapsed() >= idle_timeout)
            });
            for (id, held) in permits.iter_mut() {
                if matches!(held.rest, Rest::Awake)
                    && held.stored
                    && held.in_flight == 0
                    && held.last_used.elapsed() >= rest
                {
                    let (done, ended) = watch::channel(false);
                    held.rest = Rest::FallingAsleep(done);
                    tiring.push((id.clone(), ended));
                }
            }
        }
        if tiring.is_empty() {
            return;
        }
        let count = tiring.len();
        for (id, mut ended) in tiring {
            // rmcp's task for the worker calls `close_session` when the worker has ended,
            // which marks the session asleep.
            if let Err(error) = self.inner.close_session(&id).await {
                tracing::warn!(%error, "could not close a resting session's worker");
            }
            let waited = tokio::time::timeout(FALL_ASLEEP_WAIT, ended.wait_for(|done| *done));
            if !matches!(waited.await, Ok(Ok(_))) {
                self.fell_asleep(&id);
            }
        }
        tracing::debug!(count, "sessions went to rest");
    }
}

impl Held {
    fn new(permit: SessionPermit, stored: bool) -> Self {
        Self {
            permit,
            stored,
            last_used: Instant::now(),
            in_flight: 0,
            rest: Rest::Awake,
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
        self.permits().insert(id.clone(), Held::new(permit, false));
        self.start_resting();
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

    /// Ends session `id`: on `DELETE`, on a sweep, or when its worker has ended. A worker
    /// the resting pass closed ends here too: then the session is asleep, not ended.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        if self
            .permits()
            .get(id)
            .is_some_and(|held| matches!(held.rest, Rest::FallingAsleep(_)))
        {
            self.fell_asleep(id);
            return Ok(());
        }
        let result = self.inner.close_session(id).await;
        self.permits().remove(id);
        Ok(result?)
    }

    /// A session another replica opened, found in the shared store: rmcp replays its
    /// `initialize` on a new local worker. It takes a place in the budget like a new
    /// session, for the requesting principal, which the middleware has checked is the
    /// session's owner.
    ///
    /// A session asleep here wakes in the place it kept.
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let asleep = self
            .permits()
            .get(&id)
            .is_some_and(|held| matches!(held.rest, Rest::Asleep { .. }));
        if asleep {
            let outcome = self.inner.restore_session(id.clone()).await?;
            if matches!(outcome, RestoreOutcome::Restored(_))
                && let Some(held) = self.permits().get_mut(&id)
            {
                held.rest = Rest::Awake;
                held.last_used = Instant::now();
            }
            return Ok(outcome);
        }
        let permit = self
            .budget
            .try_open(current_opener().as_ref())
            .map_err(noting_refusal)?;
        let outcome = self.inner.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            self.permits().insert(id, Held::new(permit, true));
            self.start_resting();
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
        let manager = CappedSessionManager::new(
            budget,
            Duration::from_secs(60),
            None,
            CancellationToken::new(),
        );
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
