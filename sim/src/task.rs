//! Spawning a node's tasks, with a count of task polls: the simulator's cost is mostly
//! madsim's, paid per poll, so the benchmark reports polls per delivered message.

use std::cell::Cell;
use std::future::Future;

thread_local! {
    /// Polls of tasks spawned through [`spawn_local`] (and of nodes' init tasks) on this
    /// thread so far.
    static POLLS: Cell<u64> = const { Cell::new(0) };
}

/// How many times this thread polled the tasks of its worlds so far (every node's init
/// task and every task spawned with [`spawn_local`]). A seed runs on one thread, so the
/// difference across a run is that run's count.
pub fn polls() -> u64 {
    POLLS.with(Cell::get)
}

/// `fut`, counting each of its polls in [`polls`]. Each poll reads the clock once
/// ([`crate::clock::now_ns`] keeps the poll's first reading).
pub async fn counted<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        POLLS.with(|p| p.set(p.get() + 1));
        let _clock = crate::clock::PollClock::enter();
        fut.as_mut().poll(cx)
    })
    .await
}

/// madsim's `spawn_local` on the current node, with the task's polls counted.
pub fn spawn_local<F>(fut: F) -> madsim::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    madsim::task::spawn_local(counted(fut))
}
