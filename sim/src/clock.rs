//! Simulated time as the harness uses it: nanoseconds since the run started, and a sleep
//! that honours sub-millisecond deadlines.
//!
//! madsim's `sleep` and `sleep_until` round every wait up to at least 1 ms (to mimic
//! tokio). A network whose links take microseconds would then report latencies that are
//! the simulator's, not the model's; `sleep_exact` resets the deadline after construction,
//! which madsim honours exactly.
//!
//! The clock is read several times for every message (each trace event, each send and
//! receive), and finding it through madsim's runtime context costs a thread-local lookup
//! and two reference-count round trips each time. So a world keeps its runtime's time
//! handle in a thread-local of its own for the length of the run (`use_runtime_clock`);
//! outside a world the clock is looked up as before.

use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    /// The time handle of the world running on this thread, if any.
    static CLOCK: RefCell<Option<madsim::time::TimeHandle>> = const { RefCell::new(None) };
}

/// Simulated time since the runtime started, or 0 outside a runtime.
pub fn now_ns() -> u64 {
    CLOCK.with(|c| match &*c.borrow() {
        Some(t) => t.elapsed().as_nanos() as u64,
        None => madsim::time::TimeHandle::try_current()
            .map(|t| t.elapsed().as_nanos() as u64)
            .unwrap_or(0),
    })
}

/// Makes [`now_ns`] and [`sleep_exact`] read the current runtime's clock directly, until
/// [`forget_runtime_clock`]. Called by a world inside its runtime; a world forgets the
/// handle once its runtime is done, so no later run on the thread can read a dead clock.
pub(crate) fn use_runtime_clock() {
    let handle = madsim::time::TimeHandle::current();
    CLOCK.with(|c| *c.borrow_mut() = Some(handle));
}

/// Undoes [`use_runtime_clock`].
pub(crate) fn forget_runtime_clock() {
    CLOCK.with(|c| c.borrow_mut().take());
}

/// madsim's `sleep(d)` (at least 1 ms, as tokio), on the world's clock: periodic tasks
/// sleep once per tick, and finding the runtime's clock through its context costs a
/// thread-local lookup and four reference-count updates each time.
pub fn sleep(d: Duration) -> madsim::time::Sleep {
    on_clock(|th| th.sleep(d))
}

/// Calls `f` with the world's time handle, or outside a world with the current runtime's.
fn on_clock<R>(f: impl FnOnce(&madsim::time::TimeHandle) -> R) -> R {
    CLOCK.with(|c| match &*c.borrow() {
        Some(th) => f(th),
        None => f(&madsim::time::TimeHandle::current()),
    })
}

/// Spawns a node's ticker: a task that calls `tick` after `first` (at once if `None`), then
/// every `every`, until `tick` returns false (its receiver is gone). The sleeps are
/// [`sleep`]'s, so each waits at least 1 ms.
pub fn spawn_ticks(
    first: Option<Duration>,
    every: Duration,
    mut tick: impl FnMut() -> bool + 'static,
) {
    madsim::task::spawn_local(async move {
        if let Some(first) = first {
            sleep(first).await;
        }
        while tick() {
            sleep(every).await;
        }
    });
}

/// Sleeps for exactly `d` of simulated time (madsim's `sleep` waits at least 1 ms).
pub fn sleep_exact(d: Duration) -> madsim::time::Sleep {
    on_clock(|th| {
        let deadline = th.now_instant() + d;
        let mut s = th.sleep_until(deadline);
        // `reset` keeps the deadline as given, without madsim's 1 ms floor.
        std::pin::Pin::new(&mut s).reset(deadline);
        s
    })
}
