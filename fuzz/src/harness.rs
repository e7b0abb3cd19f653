//! What the in-process targets share: one current-thread tokio runtime (one thread, as
//! libFuzzer runs, so an input replays the same way), and a watch on panics in spawned
//! tasks, which tokio would otherwise catch and drop.

use std::{
    future::Future,
    sync::{
        LazyLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::runtime::Runtime;

/// Longest an answer may take before the target reports the input as a hang.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Set by the panic hook; read (and cleared) after each input.
static PANICKED: AtomicBool = AtomicBool::new(false);

#[allow(
    clippy::expect_used,
    reason = "a harness that cannot start a runtime has nothing to fuzz"
)]
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    // Chained, not replaced: under libFuzzer the previous hook aborts, which is how a
    // panic in a task becomes a crash there too.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the fuzz harness could not build a tokio runtime")
});

/// The shared runtime, for building servers inside its context.
pub(crate) fn runtime() -> &'static Runtime {
    &RUNTIME
}

/// Runs one input's work to completion, then fails if anything panicked meanwhile, in this
/// future or in a task it spawned.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let output = RUNTIME.block_on(future);
    assert!(
        !PANICKED.swap(false, Ordering::SeqCst),
        "a task panicked while this input was handled (its message is above)"
    );
    output
}

/// Waits until `condition` holds, failing with `what` after [`ANSWER_WITHIN`].
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {ANSWER_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
