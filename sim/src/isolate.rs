//! Runs one seed on its own OS thread under a limit on the thread's own CPU time, so that a
//! seed that panics or hangs is that seed's outcome and never takes the caller down, and so
//! that a busy machine never decides whether a seed passes.
//!
//! madsim's runtime is single-threaded and keeps thread-local state, and the trace
//! recorder is a thread-local of its own: one thread per seed keeps seeds apart.
//!
//! The limit counts the CPU time of the seed's thread, not wall time: a sweep with more
//! workers than cores, or a machine busy with other work, stretches a seed's wall time but
//! not the CPU time it needs, so the verdict does not depend on the load. A thread that
//! uses no CPU at all for as long as the limit, and is not waiting for a core all that
//! while, is blocked (no simulated run ever waits on the operating system) and times out
//! too: a runnable thread the scheduler has not reached is never counted as blocked. A timed-out thread cannot be killed: it is
//! left to end with the process, moved to the idle scheduling class so that it only takes
//! CPU time no other thread wants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The name of every seed thread, so a panic hook can tell a seed's panic from others.
pub const SEED_THREAD_NAME: &str = "clustersim-seed";

/// Why a seed thread was given up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// The thread used more than `limit` of CPU time.
    Cpu { limit: Duration },
    /// The thread used no CPU time for `limit` of wall time: it was blocked, not computing.
    Stalled { limit: Duration },
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Timeout::Cpu { limit } => write!(
                f,
                "the seed used more than {:.1}s of CPU time without finishing",
                limit.as_secs_f64()
            ),
            Timeout::Stalled { limit } => write!(
                f,
                "the seed's thread used no CPU time for {:.1}s: it is blocked",
                limit.as_secs_f64()
            ),
        }
    }
}

/// How an isolated run ended.
#[derive(Debug)]
pub enum Isolated<T> {
    /// The run finished within its limit; `cpu` is the CPU time its thread used.
    Done { value: T, cpu: Duration },
    /// The closure panicked outside the simulation's own panic handling.
    Panicked(String),
    /// The run went over its limit; its thread is abandoned.
    TimedOut(Timeout),
    /// `cancel` was set before the run finished; its thread is abandoned.
    Interrupted,
}

/// Runs `f` on a fresh thread and waits until it finishes, uses more than `cpu_limit` of
/// CPU time, stays blocked for `cpu_limit` of wall time, or `cancel` is set.
///
/// A run that finished but used more than its limit is timed out all the same, so the
/// verdict depends on the CPU time the run took and not on when the caller looked.
pub fn run_isolated<T, F>(cpu_limit: Duration, cancel: Option<&AtomicBool>, f: F) -> Isolated<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    run_isolated_after(cpu_limit, cancel, || {}, f)
}

/// [`run_isolated`], with `before_wait` run on the calling thread between the spawn and
/// the wait (a test stands in for a descheduled caller with it).
fn run_isolated_after<T, F>(
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
    before_wait: impl FnOnce(),
    f: F,
) -> Isolated<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
        return Isolated::Interrupted;
    }
    let (tx, rx) = mpsc::channel();
    let tid = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let tid_in = tid.clone();
    let spawned = std::thread::Builder::new()
        .name(SEED_THREAD_NAME.into())
        .stack_size(16 << 20)
        .spawn(move || {
            tid_in.store(cpu::this_thread_id(), Ordering::SeqCst);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send((r, cpu::this_thread()));
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => return Isolated::Panicked(format!("could not spawn a seed thread: {e}")),
    };
    let clock = cpu::ThreadClock::of(&handle);
    before_wait();
    // Short polls: a sweep's seeds take milliseconds, and an interrupt should stop the
    // wait at once; the limit itself is checked to within a poll.
    let poll = (cpu_limit / 20).clamp(Duration::from_millis(1), Duration::from_millis(50));
    let started = Instant::now();
    let (mut last_cpu, mut last_progress) = (Duration::ZERO, started);
    let abandon = |handle: std::thread::JoinHandle<()>| {
        cpu::make_idle(&handle);
        drop(handle);
    };
    loop {
        match rx.recv_timeout(poll) {
            Ok((result, used)) => {
                let _ = handle.join();
                // Without a thread clock, wall time since the spawn stands in for it.
                let used = used.unwrap_or_else(|| started.elapsed());
                if used > cpu_limit {
                    return Isolated::TimedOut(Timeout::Cpu { limit: cpu_limit });
                }
                return match result {
                    Ok(value) => Isolated::Done { value, cpu: used },
                    Err(payload) => Isolated::Panicked(crate::world::panic_text(&payload)),
                };
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                return Isolated::Panicked("the seed thread ended without a result".into());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                    abandon(handle);
                    return Isolated::Interrupted;
                }
                let now = Instant::now();
                // The clock cannot be read once the thread has ended; its result is then
                // on its way.
                let used = match &clock {
                    Some(c) => match c.read() {
                        Some(used) => used,
                        None => continue,
                    },
                    None => now - started,
                };
                if used > cpu_limit {
                    abandon(handle);
                    return Isolated::TimedOut(Timeout::Cpu { limit: cpu_limit });
                }
                // A thread that waits for a core is not blocked, however long the
                // machine keeps it waiting: only a sleeping thread stalls.
                if used > last_cpu || cpu::is_runnable(tid.load(Ordering::SeqCst)) {
                    (last_cpu, last_progress) = (used, now);
                } else if now - last_progress > cpu_limit {
                    abandon(handle);
                    return Isolated::TimedOut(Timeout::Stalled { limit: cpu_limit });
                }
            }
        }
    }
}

/// The CPU time of threads, from the operating system's per-thread clocks (Linux). Where
/// there is none, the callers fall back to wall time.
mod cpu {
    use std::time::Duration;

    /// The CPU clock of another thread, readable while the thread lives.
    pub struct ThreadClock {
        #[cfg(target_os = "linux")]
        id: libc::clockid_t,
    }

    impl ThreadClock {
        #[cfg(target_os = "linux")]
        pub fn of<T>(handle: &std::thread::JoinHandle<T>) -> Option<ThreadClock> {
            use std::os::unix::thread::JoinHandleExt;
            let mut id: libc::clockid_t = 0;
            // SAFETY: the pthread_t comes from a live, unjoined JoinHandle, and `id` is a
            // valid place for the result.
            let rc = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut id) };
            (rc == 0).then_some(ThreadClock { id })
        }

        #[cfg(not(target_os = "linux"))]
        pub fn of<T>(_handle: &std::thread::JoinHandle<T>) -> Option<ThreadClock> {
            None
        }

        /// The thread's CPU time so far; `None` once the thread has ended.
        #[cfg(target_os = "linux")]
        pub fn read(&self) -> Option<Duration> {
            read_clock(self.id)
        }

        #[cfg(not(target_os = "linux"))]
        pub fn read(&self) -> Option<Duration> {
            None
        }
    }

    /// The calling thread's CPU time so far, to the nanosecond (the kernel's per-thread
    /// clock). Not `getrusage(RUSAGE_THREAD)`, which leaves out the slice the thread is
    /// running in, so that a seed finished within its first slice read 0.
    #[cfg(target_os = "linux")]
    pub fn this_thread() -> Option<Duration> {
        read_clock(libc::CLOCK_THREAD_CPUTIME_ID)
    }

    /// Reads clock `id` with the `clock_gettime` system call itself, not through libc's
    /// `clock_gettime`: madsim replaces that one, and refuses CPU clocks inside a
    /// simulation (where the seed thread reads its own).
    #[cfg(target_os = "linux")]
    fn read_clock(id: libc::clockid_t) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid place for the result; an id the kernel does not know
        // (a thread that has ended) fails with a return code.
        let rc =
            unsafe { libc::syscall(libc::SYS_clock_gettime, id, &mut ts as *mut libc::timespec) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn this_thread() -> Option<Duration> {
        None
    }

    /// The calling thread's kernel id (0 where there is none).
    #[cfg(target_os = "linux")]
    pub fn this_thread_id() -> i64 {
        // SAFETY: gettid has no preconditions.
        i64::from(unsafe { libc::gettid() })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn this_thread_id() -> i64 {
        0
    }

    /// Whether thread `tid` of this process is running or waiting for a core (state `R`
    /// in `/proc/self/task/TID/stat`), rather than sleeping. Unknown (no id yet, no
    /// `/proc`) counts as runnable: a thread is only called blocked when it is seen to be.
    pub fn is_runnable(tid: i64) -> bool {
        if tid <= 0 {
            return true;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
            return !cfg!(target_os = "linux");
        };
        // The state follows the command name, which is in parentheses and may hold any
        // byte: read it after the last ')'.
        match stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
        {
            Some(state) => state == "R",
            None => true,
        }
    }

    /// Moves an abandoned thread to the idle scheduling class, so that it spins on only
    /// the CPU time no other thread wants.
    #[cfg(target_os = "linux")]
    pub fn make_idle<T>(handle: &std::thread::JoinHandle<T>) {
        use std::os::unix::thread::JoinHandleExt;
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: the pthread_t comes from a live, unjoined JoinHandle. Lowering a
        // thread's own process's priority needs no privilege; a failure only leaves the
        // thread at its priority.
        unsafe {
            libc::pthread_setschedparam(handle.as_pthread_t(), libc::SCHED_IDLE, &param);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn make_idle<T>(_handle: &std::thread::JoinHandle<T>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns CPU time on the calling thread for `d` of its own CPU time.
    fn spin_cpu(d: Duration) {
        let start = cpu::this_thread().unwrap();
        while cpu::this_thread().unwrap() - start < d {
            std::hint::spin_loop();
        }
    }

    /// What a thread reports of its own CPU time is what the kernel's clock of it says
    /// from outside once the thread has stopped: the running slice included, so a seed
    /// that finishes within one slice does not read 0.
    #[test]
    fn a_threads_own_cpu_time_includes_the_slice_it_is_running_in() {
        let (report_tx, report_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let child = std::thread::spawn(move || {
            // About 2 ms of work without a system call: shorter than a scheduler tick
            // (4 ms at 250 Hz), so it may all fall in one slice.
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(2) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            report_tx.send(cpu::this_thread().unwrap()).unwrap();
            // Blocked from here on: its clock stands still while the parent reads it.
            let _ = go_rx.recv();
        });
        let reported = report_rx.recv().unwrap();
        let clock = cpu::ThreadClock::of(&child).expect("a thread clock on Linux");
        let outside = clock.read().unwrap();
        go_tx.send(()).unwrap();
        child.join().unwrap();
        assert!(
            outside >= reported && outside - reported < Duration::from_micros(500),
            "the thread reported {reported:?}, its clock read {outside:?} from outside"
        );
    }

    #[test]
    fn a_run_over_its_cpu_limit_times_out_whether_or_not_it_finished() {
        let limit = Duration::from_millis(50);
        // A loop that never ends is given up on.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let never = move || {
            while !s.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        };
        assert!(matches!(
            run_isolated(limit, None, never),
            Isolated::TimedOut(Timeout::Cpu { .. })
        ));
        stop.store(true, Ordering::Relaxed);
        // A run that used more than its limit is timed out even when its result is
        // already there when the caller first looks.
        let late = || std::thread::sleep(Duration::from_millis(400));
        assert!(matches!(
            run_isolated_after(limit, None, late, || spin_cpu(Duration::from_millis(100))),
            Isolated::TimedOut(Timeout::Cpu { .. })
        ));
    }

    #[test]
    fn a_late_caller_or_a_slow_wall_clock_does_not_time_a_run_out() {
        // The caller is held up for ten times the limit, as a caller on an overloaded
        // machine would be: the run used little CPU time, so it is done.
        let limit = Duration::from_millis(40);
        let late = || std::thread::sleep(Duration::from_millis(400));
        match run_isolated_after(limit, None, late, || {
            spin_cpu(Duration::from_millis(5));
            7
        }) {
            Isolated::Done { value, cpu } => {
                assert_eq!(value, 7);
                assert!(cpu >= Duration::from_millis(5) && cpu <= limit, "{cpu:?}");
            }
            other => panic!("expected the run's result, got {other:?}"),
        }
    }

    #[test]
    fn a_blocked_run_stalls_out() {
        let limit = Duration::from_millis(100);
        assert!(matches!(
            run_isolated(limit, None, || std::thread::sleep(Duration::from_secs(5))),
            Isolated::TimedOut(Timeout::Stalled { .. })
        ));
    }

    /// What keeps a loaded machine from stalling a seed out: a thread that computes (and
    /// may be waiting for a core) reads as runnable, a sleeping one does not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_spinning_thread_is_runnable_and_a_sleeping_one_is_not() {
        use std::sync::atomic::AtomicI64;
        use std::sync::Arc;
        let watch = |work: fn(&AtomicBool)| {
            let (tid, stop) = (
                Arc::new(AtomicI64::new(0)),
                Arc::new(AtomicBool::new(false)),
            );
            let (t, s) = (tid.clone(), stop.clone());
            let h = std::thread::spawn(move || {
                t.store(cpu::this_thread_id(), Ordering::SeqCst);
                work(&s);
            });
            while tid.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            let runnable = cpu::is_runnable(tid.load(Ordering::SeqCst));
            stop.store(true, Ordering::SeqCst);
            h.join().unwrap();
            runnable
        };
        assert!(watch(|stop| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }));
        // One long sleep, sampled in its middle: a short sleep in a loop could be seen
        // just as it wakes.
        assert!(!watch(|_| std::thread::sleep(Duration::from_millis(300))));
    }

    #[test]
    fn a_run_hands_back_its_panic_and_an_interrupt_stops_the_wait() {
        let limit = Duration::from_secs(60);
        match run_isolated(limit, None, || -> u32 { panic!("boom") }) {
            Isolated::Panicked(msg) => assert!(msg.contains("boom"), "{msg}"),
            other => panic!("expected a panic, got {other:?}"),
        }
        let cancel = AtomicBool::new(true);
        let t0 = Instant::now();
        assert!(matches!(
            run_isolated(limit, Some(&cancel), || std::thread::sleep(
                Duration::from_secs(5)
            )),
            Isolated::Interrupted
        ));
        assert!(t0.elapsed() < Duration::from_secs(4));
    }
}
