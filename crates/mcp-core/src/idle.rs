//! [`IdleClock`]: when something last happened, readable from any thread without a lock, and
//! [`quiet_for`], the future that ends once nothing has happened for a while. Connections
//! (`listen.rs`) and `/sse` sessions (`sse.rs`) are closed by it.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The time of the last event, as milliseconds after the clock was started.
#[derive(Debug)]
pub(crate) struct IdleClock {
    started: Instant,
    last_ms: AtomicU64,
}

impl IdleClock {
    /// A clock whose last event is now.
    pub(crate) fn start() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records an event now.
    pub(crate) fn touch(&self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(millis, Ordering::Release);
    }

    /// Time since the last event.
    pub(crate) fn since_touch(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Ends once `quiet()` (how long nothing has happened) reaches `limit`. It sleeps exactly
/// until the earliest moment that can be true, then looks again.
pub(crate) async fn quiet_for(limit: Duration, quiet: impl Fn() -> Duration) {
    loop {
        let so_far = quiet();
        if so_far >= limit {
            return;
        }
        tokio::time::sleep(limit - so_far).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touch_restarts_the_quiet_time() {
        let clock = IdleClock::start();
        std::thread::sleep(Duration::from_millis(30));
        assert!(clock.since_touch() >= Duration::from_millis(30));
        clock.touch();
        assert!(clock.since_touch() < Duration::from_millis(20));
    }

    #[tokio::test]
    async fn quiet_for_waits_out_activity_then_ends() {
        let clock = std::sync::Arc::new(IdleClock::start());
        let waiting = tokio::spawn({
            let clock = std::sync::Arc::clone(&clock);
            async move { quiet_for(Duration::from_millis(400), || clock.since_touch()).await }
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
        clock.touch();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "a touch at 250 ms must push the end past 650 ms"
        );
        tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .expect("quiet_for never ended")
            .unwrap();
        assert!(clock.since_touch() >= Duration::from_millis(400));
    }
}
