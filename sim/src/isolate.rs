//! Runs one seed on its own OS thread with a wall-clock limit, so that a seed that panics
//! or hangs is that seed's failure and never takes the caller down.
//!
//! madsim's runtime is single-threaded and keeps thread-local state, and the trace
//! recorder is a thread-local of its own: one thread per seed keeps seeds apart.

use std::sync::mpsc;
use std::time::{Duration, Instant};

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
///
/// The limit is on the run itself, timed on its own thread: a run that took longer is
/// timed out even when its result is already waiting, as it is when the calling thread
/// was descheduled for longer than the run took. Otherwise a busy machine would decide
/// whether a slow seed passes.
pub fn run_isolated<T, F>(wall_limit: Duration, f: F) -> Isolated<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    run_isolated_after(wall_limit, || {}, f)
}

/// [`run_isolated`], with `before_wait` run on the calling thread between the spawn and
/// the wait (a test stands in for a descheduled caller with it).
fn run_isolated_after<T, F>(wall_limit: Duration, before_wait: impl FnOnce(), f: F) -> Isolated<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(SEED_THREAD_NAME.into())
        .stack_size(16 << 20)
        .spawn(move || {
            let started = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send((r, started.elapsed()));
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => return Isolated::Panicked(format!("could not spawn a seed thread: {e}")),
    };
    before_wait();
    match rx.recv_timeout(wall_limit) {
        Ok((_, took)) if took > wall_limit => {
            let _ = handle.join();
            Isolated::TimedOut(wall_limit)
        }
        Ok((Ok(v), _)) => {
            let _ = handle.join();
            Isolated::Done(v)
        }
        Ok((Err(payload), _)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_over_its_limit_times_out_even_if_the_caller_looks_late() {
        let limit = Duration::from_millis(1);
        let run = || std::thread::sleep(Duration::from_millis(5));
        // The caller waits as usual: the limit passes while the run still sleeps.
        assert!(matches!(run_isolated(limit, run), Isolated::TimedOut(_)));
        // The caller is held up until the run has finished: its result is there, but the
        // run itself took longer than its limit.
        let late = || std::thread::sleep(Duration::from_millis(50));
        assert!(matches!(
            run_isolated_after(limit, late, run),
            Isolated::TimedOut(_)
        ));
    }

    #[test]
    fn a_run_within_its_limit_hands_back_its_result_or_its_panic() {
        let limit = Duration::from_secs(60);
        assert!(matches!(run_isolated(limit, || 7), Isolated::Done(7)));
        let late = || std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(
            run_isolated_after(limit, late, || 7),
            Isolated::Done(7)
        ));
        match run_isolated(limit, || -> u32 { panic!("boom") }) {
            Isolated::Panicked(msg) => assert!(msg.contains("boom"), "{msg}"),
            other => panic!("expected a panic, got {other:?}"),
        }
    }
}
