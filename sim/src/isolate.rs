//! Runs one seed on its own OS thread with a wall-clock limit, so that a seed that panics
//! or hangs is that seed's failure and never takes the caller down.
//!
//! madsim's runtime is single-threaded and keeps thread-local state, and the trace
//! recorder is a thread-local `tracing` dispatcher: one thread per seed keeps seeds apart.

use std::sync::mpsc;
use std::time::Duration;

/// The name of every seed thread, so a panic hook can tell a seed's panic from others.
pub const SEED_THREAD_NAME: &str = "clustersim-seed";

/// How an isolated run ended.
#[derive(Debug)]
pub enum Isolated<T> {
    Done(T),
    /// The closure panicked outside the simulation's own panic handling.
    Panicked(String),
    /// The wall-clock limit passed; the thread is abandoned (it cannot be killed).
    TimedOut(Duration),
}

/// Runs `f` on a fresh thread and waits at most `wall_limit` for it.
pub fn run_isolated<T, F>(wall_limit: Duration, f: F) -> Isolated<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(SEED_THREAD_NAME.into())
        .stack_size(16 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => return Isolated::Panicked(format!("could not spawn a seed thread: {e}")),
    };
    match rx.recv_timeout(wall_limit) {
        Ok(Ok(v)) => {
            let _ = handle.join();
            Isolated::Done(v)
        }
        Ok(Err(payload)) => {
            let _ = handle.join();
            Isolated::Panicked(crate::world::panic_text(&payload))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Isolated::TimedOut(wall_limit),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            Isolated::Panicked("the seed thread ended without a result".into())
        }
    }
}
