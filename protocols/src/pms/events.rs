//! The process management system's trace events: the PMS nodes' (`pms.*`) and the UI
//! clients' (`ui.*`). Ids print one way everywhere, in trace fields and checker messages:
//! a script thread as its [`ThreadRef`] (`process/thread`), a host as its [`Host`]
//! (`node.inc.job`, like the engine's members), a UI request as its [`RequestId`]
//! (`n5/r3`: the client's node and its request number).

use super::status::{Host, ThreadState};
use sim::event::NodeId;
use std::fmt;

/// A script thread: its process and its index within it. Prints `process/thread`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThreadRef {
    pub process: u64,
    pub thread: u32,
}

impl fmt::Display for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.process, self.thread)
    }
}

sim::trace_field_by_display!(ThreadRef => |t| [t.process, u64::from(t.thread)]);

/// A UI client's request: the client's node and the request's number there (a retried
/// request keeps it). Prints `n5/r3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId {
    pub client: NodeId,
    pub req: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/r{}", self.client, self.req)
    }
}

sim::trace_field_by_display!(RequestId => |r| [r.client.0, r.req]);

sim::trace_field_by_display!(Host => |h| [h.node as u64, h.inc, h.job]);

/// A thread's state by name, as the table records it ([`ThreadState`] without its
/// detail) or as its host sees it (which adds `stopped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateName {
    Pending,
    Running,
    Paused,
    Done,
    Failed,
    Lost,
    Cancelled,
    /// The host dropped a thread it was running: the table ended it or moved it.
    Stopped,
}

impl StateName {
    pub fn name(self) -> &'static str {
        match self {
            StateName::Pending => "pending",
            StateName::Running => "running",
            StateName::Paused => "paused",
            StateName::Done => "done",
            StateName::Failed => "failed",
            StateName::Lost => "lost",
            StateName::Cancelled => "cancelled",
            StateName::Stopped => "stopped",
        }
    }

    /// Pending (and stopped) 0, running or paused 1, final 2: a recorded thread's rank
    /// never decreases.
    pub fn rank(self) -> u8 {
        match self {
            StateName::Pending | StateName::Stopped => 0,
            StateName::Running | StateName::Paused => 1,
            StateName::Done | StateName::Failed | StateName::Lost | StateName::Cancelled => 2,
        }
    }
}

impl From<&ThreadState> for StateName {
    fn from(s: &ThreadState) -> StateName {
        match s {
            ThreadState::Pending => StateName::Pending,
            ThreadState::Running => StateName::Running,
            ThreadState::Paused => StateName::Paused,
            ThreadState::Done => StateName::Done,
            ThreadState::Failed(_) => StateName::Failed,
            ThreadState::Lost => StateName::Lost,
            ThreadState::Cancelled => StateName::Cancelled,
        }
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

sim::trace_field_by_name!(StateName);

/// One thread as a status answer shows it to a UI client. Prints
/// `state/attempt/progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadView {
    pub state: StateName,
    pub attempt: u32,
    /// Percent.
    pub progress: u8,
}

impl fmt::Display for ThreadView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.state, self.attempt, self.progress)
    }
}

sim::trace_field_by_display!(ThreadView => |t| [
    t.state as u64,
    u64::from(t.attempt),
    u64::from(t.progress)
]);

/// What the primary decided of a request, by the user table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
        }
    }
}

sim::trace_field_by_name!(Verdict);

/// What a UI client got for its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiOutcome {
    Ok,
    Denied,
    Error,
}

impl UiOutcome {
    pub fn name(self) -> &'static str {
        match self {
            UiOutcome::Ok => "ok",
            UiOutcome::Denied => "denied",
            UiOutcome::Error => "error",
        }
    }
}

impl fmt::Display for UiOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

sim::trace_field_by_name!(UiOutcome);

sim::trace_events! {
    /// The PMS on the engine nodes: every replica's record of each thread, each host's
    /// view of the threads it runs, and the primary's duties.
    pub enum PmsEvent in "pms" {
        /// A replica's record of a thread changed (its state, host or attempt).
        Status as "status" {
            /// The thread.
            thread: ThreadRef,
            /// Which dispatch of the thread (a retry after its host died is the next).
            attempt: u32,
            /// Its recorded state.
            state: StateName,
            /// Where it runs.
            host: Host,
            /// A failed thread's error text (empty otherwise).
            detail: String,
        },
        /// A host saw a thread it runs start, finish, fail, or stop.
        Local as "local" {
            /// The thread.
            thread: ThreadRef,
            /// The dispatch the host runs.
            attempt: u32,
            /// What the host saw: running, done, failed or stopped.
            state: StateName,
            /// A failed thread's error text (empty otherwise).
            detail: String,
        },
        /// The primary polled a host for the threads it runs.
        Poll as "poll" {
            /// The view the primary serves.
            view: u64,
            /// The host polled.
            host: Host,
            /// The poll round.
            round: u64,
            /// How many of its threads the poll names.
            threads: u64,
        },
        /// The primary declared a host dead (outside its view).
        Down as "down" {
            /// The host.
            host: Host,
            /// Where threads that retry go (absent when no member is left).
            spare: Option<Host>,
            /// The view the primary serves.
            view: u64,
        },
        /// The primary took a UI client's request, after checking it against the user
        /// table.
        Serve as "serve" {
            /// The request.
            req: RequestId,
            /// What it asks: start, cancel, pause, resume, status or list.
            op: &'static str,
            /// The process it is about (absent for start and list).
            process: Option<u64>,
            /// Whether the user table allows it.
            verdict: Verdict,
            /// The view the primary serves (0 when it serves none).
            view: u64,
        },
        /// Planted bug: a new primary set a finished thread back to running.
        Rewound as "rewound" {
            /// The thread.
            thread: ThreadRef,
        },
    }
}

sim::trace_events! {
    /// A UI client: the requests its user makes and the answers it takes.
    pub enum UiEvent in "ui" {
        /// The client made a request (once, as first sent).
        Request as "request" {
            /// The request.
            req: RequestId,
            /// What it asks: start, cancel, pause, resume, status or list.
            op: &'static str,
            /// The process it is about (absent for start and list).
            process: Option<u64>,
            /// The credential's user (empty without a credential).
            user: String,
            /// The credential's secret (empty without a credential).
            secret: String,
        },
        /// The client took the answer to its request.
        Reply as "reply" {
            /// The request.
            req: RequestId,
            /// What it asked.
            op: &'static str,
            /// The process it is about (absent for start and list).
            process: Option<u64>,
            /// ok, denied or error.
            outcome: UiOutcome,
            /// Whether the answer carried process data.
            data: bool,
            /// Each thread as a status answer showed it (empty for other answers).
            threads: Vec<ThreadView>,
            /// Everything else the answer carried, as received.
            text: String,
        },
    }
}
