//! The optional per-principal rate limit ([`RateLimit`]): governor's keyed GCRA limiter,
//! keyed by the request's [`Principal`] or, for requests without one, the client's IP
//! address. Beyond the rate: `429 Too Many Requests` with `Retry-After`.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::Request,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use tower_http::validate_request::ValidateRequest;

use crate::{Principal, RateLimit, refusal::Refusal};

/// Whom a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RateKey {
    Principal(Principal),
    Peer(IpAddr),
}

/// How many checks pass between two sweeps of keys that are back to a full burst, so
/// the map holds only clients seen recently, however many there were.
const SWEEP_EVERY: u32 = 4096;

/// The limiter of one router.
pub(crate) struct RateLimiterState {
    limiter: DefaultKeyedRateLimiter<RateKey>,
    checks: AtomicU32,
}

impl RateLimiterState {
    pub(crate) fn new(rate: RateLimit) -> Arc<Self> {
        // GCRA: one request every `per / requests`, bursts of up to `requests`.
        let interval = (rate.per / rate.requests.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(rate.requests);
        Arc::new(Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU32::new(0),
        })
    }

    /// `Ok` if the request may go on, or the whole seconds to wait before the next one.
    fn check(&self, key: &RateKey) -> Result<(), u32> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Round up: a client that waits what it is told must get through.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            u32::try_from(seconds.max(1)).unwrap_or(u32::MAX)
        })
    }
}

/// The limit as tower-http request validation: counts the request against its principal
/// (or client address) and answers `429` with `Retry-After` beyond the rate. A request with
/// neither passes uncounted.
#[derive(Clone)]
pub(crate) struct LimitRate(pub(crate) Arc<RateLimiterState>);

impl<B> ValidateRequest<B> for LimitRate {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        let key = match request.extensions().get::<Principal>() {
            Some(principal) => Some(RateKey::Principal(principal.clone())),
            None => request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| RateKey::Peer(peer.ip())),
        };
        if let Some(key) = key
            && let Err(seconds) = self.0.check(&key)
        {
            tracing::debug!(?key, "rate limit reached");
            return Err(Refusal::RateLimited {
                retry_after_secs: seconds,
            }
            .into_response());
        }
        Ok(())
    }
}
