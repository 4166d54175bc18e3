//! Simulated time as the harness uses it: nanoseconds since the run started, and a sleep
//! that honours sub-millisecond deadlines.
//!
//! madsim's `sleep` and `sleep_until` round every wait up to at least 1 ms (to mimic
//! tokio). A network whose links take microseconds would then report latencies that are
//! the simulator's, not the model's; `sleep_exact` resets the deadline after construction,
//! which madsim honours exactly.

use std::time::Duration;

/// Simulated time since the runtime started, or 0 outside a runtime.
pub fn now_ns() -> u64 {
    madsim::time::TimeHandle::try_current()
        .map(|t| t.elapsed().as_nanos() as u64)
        .unwrap_or(0)
}

/// Sleeps for exactly `d` of simulated time (madsim's `sleep` waits at least 1 ms).
pub fn sleep_exact(d: Duration) -> madsim::time::Sleep {
    let th = madsim::time::TimeHandle::current();
    let deadline = th.now_instant() + d;
    let mut s = th.sleep(d);
    // `reset` keeps the deadline as given, without madsim's 1 ms floor.
    std::pin::Pin::new(&mut s).reset(deadline);
    s
}
