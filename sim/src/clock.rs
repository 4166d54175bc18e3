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
//! outside a world the clock is looked up as before. Even so a read takes madsim's clock
//! lock, and a task poll reads the clock several times; madsim moves its clock only between
//! polls (each poll is followed by a step of 50–100 ns, and the executor jumps to the next
//! timer when no task is ready), so the time a poll first reads is kept for the rest of it
//! (`PollClock`, entered by every task [`crate::task::counted`] wraps).
//!
//! A madsim timer cannot be cancelled: every poll of a pending `Sleep` registers a boxed
//! timer that fires (and wakes its task) whether or not anyone still waits for it. A task
//! that waits for several things at once (its inbox, the network, its next tick) would
//! register a timer on every poll. [`Alarm`] keeps, per task, the times its registered
//! timers will fire, and registers a new one only when a deadline comes before all of
//! them; [`Ticker`] is a task's periodic deadline on an alarm of its own. A registration
//! goes through one `Sleep` the world keeps for the purpose, reset to each deadline, rather
//! than a new one (and its handle's reference counts) each time.

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The world's clock, as the harness reads it.
struct WorldClock {
    handle: madsim::time::TimeHandle,
    /// The instant madsim counts its time from: `handle.now_instant() - handle.elapsed()`.
    base: Instant,
    /// The `Sleep` each [`Alarm`] registration resets and polls once.
    sleep: madsim::time::Sleep,
}

/// [`POLL_NOW`] outside a task poll: the clock is read each time.
const NOT_IN_POLL: u64 = u64::MAX;
/// [`POLL_NOW`] in a poll that has not read the clock yet.
const UNREAD: u64 = u64::MAX - 1;

thread_local! {
    /// The clock of the world running on this thread, if any.
    static CLOCK: RefCell<Option<WorldClock>> = const { RefCell::new(None) };
    /// During a task poll, the simulated time the poll read first (madsim does not move
    /// its clock within a poll); [`UNREAD`] before the poll's first read, [`NOT_IN_POLL`]
    /// between polls. A `Cell<u64>` without a destructor: its reads are a plain load.
    static POLL_NOW: Cell<u64> = const { Cell::new(NOT_IN_POLL) };
    /// madsim timers registered on this thread through [`Alarm`]s and [`sleep_exact`].
    static TIMERS: Cell<u64> = const { Cell::new(0) };
}

/// How many madsim timers this thread's tasks registered so far through [`Alarm`]s (and
/// so [`Ticker`]s and the network's deliveries) and [`sleep_exact`]: with task polls, what
/// a run costs madsim (each timer is a boxed callback in its timer heap). A seed runs on
/// one thread, so the difference across a run is that run's count; madsim's own `sleep`,
/// which the world's fault steps use a few times a run, is not counted.
pub fn timers() -> u64 {
    TIMERS.with(Cell::get)
}

fn count_timer() {
    TIMERS.with(|t| t.set(t.get() + 1));
}

/// Simulated time since the runtime started, or 0 outside a runtime.
#[inline]
pub fn now_ns() -> u64 {
    let cached = POLL_NOW.with(Cell::get);
    if cached < UNREAD {
        return cached;
    }
    let now = read_clock();
    if cached == UNREAD {
        POLL_NOW.with(|c| c.set(now));
    }
    now
}

/// The simulated time, for the report of a panic: `None` when it cannot be read safely
/// (a panic can come from anywhere, the clock's own borrow included).
pub(crate) fn now_ns_at_panic() -> Option<u64> {
    let cached = POLL_NOW.try_with(Cell::get).ok()?;
    if cached < UNREAD {
        return Some(cached);
    }
    CLOCK
        .try_with(|c| {
            let w = c.try_borrow().ok()?;
            w.as_ref().map(|w| w.handle.elapsed().as_nanos() as u64)
        })
        .ok()
        .flatten()
}

/// Reads the clock itself.
#[inline(never)]
fn read_clock() -> u64 {
    CLOCK.with(|c| match &*c.borrow() {
        Some(w) => w.handle.elapsed().as_nanos() as u64,
        None => madsim::time::TimeHandle::try_current()
            .map(|t| t.elapsed().as_nanos() as u64)
            .unwrap_or(0),
    })
}

/// The span of one task poll, in which [`now_ns`] reads the clock once: entered by
/// [`crate::task::counted`] around each poll of the task it wraps. Dropping it (at the
/// poll's end, or when the poll unwinds) forgets the time read, so that nothing after the
/// poll reads a time madsim has since moved past.
pub(crate) struct PollClock {
    prev: u64,
}

impl PollClock {
    #[inline]
    pub(crate) fn enter() -> PollClock {
        // A poll inside a poll (a counted future awaited by a counted task) keeps the outer
        // poll's reading: the clock has not moved in between.
        let prev = POLL_NOW.with(|c| {
            let prev = c.get();
            if prev == NOT_IN_POLL {
                c.set(UNREAD);
            }
            prev
        });
        PollClock { prev }
    }
}

impl Drop for PollClock {
    #[inline]
    fn drop(&mut self) {
        POLL_NOW.with(|c| c.set(self.prev));
    }
}

/// Makes [`now_ns`] and [`sleep_exact`] read the current runtime's clock directly, until
/// [`forget_runtime_clock`]. Called by a world inside its runtime; a world forgets the
/// handle once its runtime is done, so no later run on the thread can read a dead clock.
pub(crate) fn use_runtime_clock() {
    let handle = madsim::time::TimeHandle::current();
    let base = handle.now_instant() - handle.elapsed();
    let sleep = handle.sleep_until(base);
    CLOCK.with(|c| {
        *c.borrow_mut() = Some(WorldClock {
            handle,
            base,
            sleep,
        })
    });
}

/// Undoes [`use_runtime_clock`].
pub(crate) fn forget_runtime_clock() {
    CLOCK.with(|c| c.borrow_mut().take());
    POLL_NOW.with(|c| c.set(NOT_IN_POLL));
}

/// Calls `f` with the world's time handle, or outside a world with the current runtime's.
fn on_clock<R>(f: impl FnOnce(&madsim::time::TimeHandle) -> R) -> R {
    CLOCK.with(|c| match &*c.borrow() {
        Some(w) => f(&w.handle),
        None => f(&madsim::time::TimeHandle::current()),
    })
}

/// Registers a madsim timer that wakes `waker` at `at_ns` (after `now`, in ns since the
/// run started).
fn register_timer(waker: &Waker, at_ns: u64, now: u64) {
    count_timer();
    CLOCK.with(|c| match &mut *c.borrow_mut() {
        Some(w) => {
            // `base + at_ns` is exactly the `now_instant() + (at_ns - now)` of a fresh
            // `Sleep`: the same timer, registered without cloning the handle.
            let deadline = w.base + Duration::from_nanos(at_ns);
            let mut sleep = std::pin::Pin::new(&mut w.sleep);
            sleep.as_mut().reset(deadline);
            let _ = std::future::Future::poll(sleep, &mut Context::from_waker(waker));
        }
        None => {
            let th = madsim::time::TimeHandle::current();
            let deadline = th.now_instant() + Duration::from_nanos(at_ns - now);
            let mut sleep = std::pin::pin!(th.sleep_until(deadline));
            // `reset` keeps the deadline exact, without madsim's 1 ms floor.
            sleep.as_mut().reset(deadline);
            // Polled once: that registers the timer, which outlives the `Sleep`.
            let _ = std::future::Future::poll(sleep, &mut Context::from_waker(waker));
        }
    })
}

/// The madsim timers that will wake one task: registers a timer only for a deadline no
/// registered timer already covers (one that fires at or before it, but after now).
///
/// An alarm belongs to one task (it remembers its timers, not whom they wake): every waker
/// given to it must wake that task.
#[derive(Debug, Default)]
pub struct Alarm {
    /// When the registered timers fire, in ns since the run started, in descending order
    /// (the next at the end, where it is dropped and added without moving the rest); those
    /// at or before the clock have fired already (madsim fires a timer whenever time
    /// reaches it).
    armed: Vec<u64>,
}

impl Alarm {
    pub fn new() -> Self {
        Alarm::default()
    }

    /// Makes sure `waker` is woken at `at_ns` or earlier (at once if `at_ns` has come).
    pub fn arm(&mut self, waker: &Waker, at_ns: u64) {
        self.arm_at(waker, at_ns, now_ns());
    }

    fn arm_at(&mut self, waker: &Waker, at_ns: u64, now: u64) {
        if at_ns <= now {
            waker.wake_by_ref();
            return;
        }
        // Descending, so the fired ones are at the end and the last left is the next.
        while self.armed.last().is_some_and(|&t| t <= now) {
            self.armed.pop();
        }
        if self.armed.last().is_some_and(|&t| t <= at_ns) {
            return;
        }
        // Before every timer left: the order stays descending.
        self.armed.push(at_ns);
        register_timer(waker, at_ns, now);
    }

    /// Ready once `at_ns` has come; otherwise makes sure the polling task is woken then.
    /// Inlined: every poll of a ticking task comes here, and most find nothing due.
    #[inline]
    pub fn poll_until(&mut self, cx: &mut Context<'_>, at_ns: u64) -> Poll<()> {
        let now = now_ns();
        if now >= at_ns {
            return Poll::Ready(());
        }
        self.arm_at(cx.waker(), at_ns, now);
        Poll::Pending
    }

    /// Forgets every timer (their task is gone; a new task starts without any).
    pub fn clear(&mut self) {
        self.armed.clear();
    }
}

/// A task's periodic deadline: due first after a given offset, then a period after each
/// tick is taken (as a task that sleeps a period after each tick would tick), so two ticks
/// are never less than a period apart and ticks a paused node missed are not made up.
#[derive(Debug)]
pub struct Ticker {
    every_ns: u64,
    next_ns: u64,
    alarm: Alarm,
}

impl Ticker {
    /// Due first `first` from now, then every `every` (at least 1 ms, as madsim's sleeps).
    pub fn new(first: Duration, every: Duration) -> Ticker {
        Ticker {
            every_ns: (every.as_nanos() as u64).max(1_000_000),
            next_ns: now_ns() + first.as_nanos() as u64,
            alarm: Alarm::new(),
        }
    }

    /// When the next tick is due, in ns since the run started.
    pub fn next_ns(&self) -> u64 {
        self.next_ns
    }

    /// Moves the next tick to `at_ns` (earlier or later); the period applies again after
    /// it is taken. A timer already registered for the old time still wakes the task,
    /// which then finds no tick due and waits on.
    pub fn reschedule(&mut self, at_ns: u64) {
        self.next_ns = at_ns;
    }

    /// Ready when a tick is due (and schedules the next); otherwise arms the task's wakeup.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.alarm.poll_until(cx, self.next_ns) {
            Poll::Ready(()) => {
                self.next_ns = now_ns() + self.every_ns;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Sleeps for exactly `d` of simulated time (madsim's `sleep` waits at least 1 ms).
pub fn sleep_exact(d: Duration) -> ExactSleep {
    ExactSleep(on_clock(|th| {
        let deadline = th.now_instant() + d;
        let mut s = th.sleep_until(deadline);
        // `reset` keeps the deadline as given, without madsim's 1 ms floor.
        std::pin::Pin::new(&mut s).reset(deadline);
        s
    }))
}

/// A [`sleep_exact`] under way: madsim's `Sleep`, whose every pending poll registers a
/// timer, counted in [`timers`].
#[derive(Debug)]
pub struct ExactSleep(madsim::time::Sleep);

impl std::future::Future for ExactSleep {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let poll = std::pin::Pin::new(&mut self.0).poll(cx);
        if poll.is_pending() {
            count_timer();
        }
        poll
    }
}
