//! The cluster engine (CE): one per node, it keeps group views by heartbeat failure
//! detection and a coordinator-driven flush, orders group multicast through the view's
//! coordinator (the sequencer), and hands every event to the jobs registered on its node.
//! A job joins one named group: the engine's view spans every group, and each job is
//! shown, delivered and notified only what concerns its own group (its members, their
//! multicasts in a per-group sequence, their departures).
//!
//! Module map: [`link`] makes node-to-node channels reliable and FIFO over the lossy network;
//! [`membership`] is the CE state machine (failure detection, views, flush, primary component,
//! ordering); [`ack_round`] is the two-phase ACK-round protocol as a pure state machine, and
//! [`direct`] how its messages travel (ordered or direct); [`job`] is the thin async shell: the CE
//! task, the job's main thread and its work threads; [`checkers`] are the guarantees of
//! docs/ARCHITECTURE.md §A as trace observers.
//!
//! The engine is generic over what its jobs multicast ([`AppPayload`]): the ACK-round jobs
//! use [`Payload`], and each system built on the engine brings its own. Such a system
//! starts a node's CE with [`job::start_ce`] and [`job::run_ce`] and runs its own jobs on
//! it; nodes outside the engine (clients, numbered from `CeSetup::engine_nodes` up) reach
//! those jobs through unreliable `External` datagrams that the CE passes through.
//!
//! Trace events: [`membership::CeEvent`] (`ce.*`, the CEs' views and failure detection),
//! [`job::JobEvent`] (`job.*`, what each job registers and is told) and
//! [`ack_round::AckEvent`] (`ack.*`, the rounds of the coordinators), listed with their
//! fields by [`event_schemas`]. Their ids print one way everywhere, in trace fields and in
//! checker messages: a [`Member`] as `node.inc.job` (with `@group` for groups other than
//! the first), a node incarnation ([`NodeInc`]) as `node:inc`, a departure ([`Departure`])
//! as `member:Reason`, a view as its number and an ACK round ([`RoundId`]) as
//! `view/round` (with `@group` likewise). Latencies are simulated time from the modelled
//! network; delivery is safe (one extra round trip to the sequencer).

pub mod ack_round;
pub mod checkers;
pub mod direct;
pub mod job;
pub mod link;
pub mod membership;

use std::fmt;

/// A group member: a job incarnation on a node incarnation, in one named group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub node: usize,
    /// The node's incarnation (how many times it restarted).
    pub inc: u64,
    /// The job's incarnation on that node (how many times it re-registered).
    pub job: u64,
    /// The group it joined, as an index into the configured group names.
    pub group: u32,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.node, self.inc, self.job)?;
        if self.group != 0 {
            write!(f, "@{}", self.group)?;
        }
        Ok(())
    }
}

sim::trace_field_by_display!(Member => |m| [m.node as u64, m.inc, m.job, u64::from(m.group)]);

/// A node incarnation: a node, and how many times it restarted. Prints `node:inc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeInc {
    pub node: usize,
    pub inc: u64,
}

impl NodeInc {
    /// The node incarnations of a view, as the CE keeps them: `(node, incarnation)` pairs.
    pub fn list(nodes: &[(usize, u64)]) -> Vec<NodeInc> {
        nodes
            .iter()
            .map(|&(node, inc)| NodeInc { node, inc })
            .collect()
    }
}

impl fmt::Display for NodeInc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.inc)
    }
}

sim::trace_field_by_display!(NodeInc => |n| [n.node as u64, n.inc]);

/// Why a member left a view (Corosync CPG: LEAVE, PROCDOWN, NODEDOWN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The job unregistered (e.g. after a work-thread fault).
    Left,
    /// The job's process died while its node stayed up (the node restarted under it).
    ProcessDown,
    /// The node failed or became unreachable.
    NodeDown,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Left => "Left",
            Reason::ProcessDown => "ProcessDown",
            Reason::NodeDown => "NodeDown",
        }
    }
}

sim::trace_field_by_name!(Reason);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A member that left a view, and why: one entry of a membership-change message. Prints
/// `member:Reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Departure {
    pub member: Member,
    pub reason: Reason,
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.member, self.reason)
    }
}

sim::trace_field_by_display!(Departure => |d| [
    d.member.node as u64,
    d.member.inc,
    d.member.job,
    u64::from(d.member.group),
    d.reason as u64,
]);

/// An ACK round: the view its coordinator started it in, the coordinator's group, and the
/// coordinator's count of rounds. Unique across views and groups (coordinators of one
/// group number their rounds apart, see [`ack_round`]). Prints `view/round`, with `@group`
/// for groups other than the first, as members do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoundId(u64);

impl RoundId {
    /// The most rounds one coordinator starts in one view.
    pub const MAX_ROUND: u64 = 0xff_ffff;

    /// Round `round` (at most [`RoundId::MAX_ROUND`], taken modulo it past that) of a
    /// coordinator of `group` in `view`.
    pub const fn new(view: u64, group: u32, round: u64) -> RoundId {
        RoundId((view << 32) | (((group & 0xff) as u64) << 24) | (round & Self::MAX_ROUND))
    }

    pub fn view(self) -> u64 {
        self.0 >> 32
    }

    pub fn group(self) -> u32 {
        ((self.0 >> 24) & 0xff) as u32
    }

    /// The coordinator's count.
    pub fn round(self) -> u64 {
        self.0 & Self::MAX_ROUND
    }

    /// The id as one number: what picks the work thread that processes the round.
    pub fn bits(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RoundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.view(), self.round())?;
        if self.group() != 0 {
            write!(f, "@{}", self.group())?;
        }
        Ok(())
    }
}

sim::trace_field_by_display!(RoundId => |r| [r.0]);

/// The engine's events (`ce.*`, `job.*`, `ack.*`): names, fields and docs.
pub fn event_schemas() -> [&'static sim::event::ComponentSchema; 3] {
    [
        membership::CeEvent::schema(),
        job::JobEvent::schema(),
        ack_round::AckEvent::schema(),
    ]
}

/// Failure-detection and protocol timing of the CE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeConfig {
    pub heartbeat_interval_ms: u64,
    pub failure_timeout_ms: u64,
    /// How often the CE wakes up for retransmission and detection.
    pub tick_ms: u64,
}

impl CeConfig {
    /// Fast detection: 100 ms heartbeats, 500 ms timeout.
    pub fn fast() -> Self {
        CeConfig {
            heartbeat_interval_ms: 100,
            failure_timeout_ms: 500,
            tick_ms: 25,
        }
    }

    /// Raft-like: 100 ms heartbeats, 1000 ms timeout.
    pub fn raft_like() -> Self {
        CeConfig {
            heartbeat_interval_ms: 100,
            failure_timeout_ms: 1_000,
            tick_ms: 25,
        }
    }

    /// Corosync-like: token timeout 3000 ms plus 650 ms per node beyond two; heartbeats
    /// every quarter of it (Corosync retransmits the token about four times per timeout).
    pub fn corosync_like(nodes: usize) -> Self {
        let timeout = 3_000 + 650 * nodes.saturating_sub(2) as u64;
        CeConfig {
            heartbeat_interval_ms: timeout / 4,
            failure_timeout_ms: timeout,
            tick_ms: 50,
        }
    }

    pub fn preset(name: &str, nodes: usize) -> Option<Self> {
        match name {
            "fast" => Some(Self::fast()),
            "raft-like" => Some(Self::raft_like()),
            "corosync-like" => Some(Self::corosync_like(nodes)),
            _ => None,
        }
    }

    /// The detection bound: how long after a departure's cause every survivor must be told
    /// when no disruptive fault event happened since (`notify_within`; see
    /// [`CeConfig::bounds`] for the derivation and the bound after a disruption).
    pub fn notify_bound_ms(&self) -> u64 {
        self.bounds(0, false).notify_ns / 1_000_000
    }

    /// The time bounds `notify_within` and `ack_round_progress` hold the CE to, with `spike_ns`
    /// the extra latency the latency spikes open at the time add to a message (their sum),
    /// and `clogged` whether a clog is open.
    ///
    /// Writing `T` for the failure timeout, `hb` for the heartbeat interval, `tick` for the
    /// CE's tick and `trip` for one message's way (`TRIP_NS`: the network's 1-5 ms and
    /// madsim's 1 ms at each end, with room, plus `spike_ns`):
    ///
    /// **`notify_ns`**, from a departure's cause when no disruptive fault event follows it
    /// (`T + hb + 2 tick + 150 ms + 4 trips`: 840 ms for `fast`, 1.84 s with a clog open):
    /// - *detection*, `T + tick + trip`: the departed node's last heartbeat arrives at most a
    ///   trip after the cause, and it is suspected at the first tick more than `T` later (an
    ///   unregistering job's CE sends its job list at once instead);
    /// - *skew*, `tick + hb`: survivors' ticks are not aligned, and the departed node's last
    ///   heartbeat reaches them at different times; one that has not suspected it yet
    ///   rejects a new coordinator's proposal when the departed node was the coordinator. A
    ///   heartbeat interval covers the spread with room;
    /// - *retries*, `RETRY_NS + 2 RETRY_NS` (150 ms): the coordinator's first two pauses
    ///   after such rejections (an install resets the backoff, and the last disruption is
    ///   long past);
    /// - *flush*, three trips (propose, report, install); the job is told at once;
    /// - *a clog*, while one is open, `MAX_RETRY_NS` (1 s) more: a node a clog cuts from
    ///   the coordinator still sees a majority, so it proposes as a rival and is rejected
    ///   again and again, and its pause before the next proposal grows to that cap. When
    ///   the coordinator departs, it is the next coordinator, and its first proposal may
    ///   be rejected by a survivor that has not suspected the departed one yet: it tries
    ///   again only after that pause.
    ///
    /// **`notify_settle_ns`**, from a disruptive fault event (a fault window's start or end,
    /// a crash or a restart): every departure still owed is told within this after the last
    /// such event (2.84 s for `fast`). Terms, in the order they can follow one another:
    /// - `PROPOSAL_TIMEOUT_FACTOR × T + tick`: a proposal begun before the event ends by
    ///   then: it completes, is given up when a node the event cut off is suspected (`T +
    ///   tick`), or times out. A node that failed to report is excluded for
    ///   `EXCLUSION_FACTOR × T`, which delays no survivor: the rest of the proposal forms
    ///   the next view (else the excluded are proposed again at once), and an excluded node
    ///   learns from the others' heartbeats that it is out (`QuorumLost`);
    /// - `hb + tick`: each node heard again after the event has sent a fresh heartbeat (a
    ///   coordinator proposes only nodes whose last heartbeat says they see a majority);
    /// - `2 hb + tick`: a coordinator's grace for a node whose view differs from its own
    ///   (after a merge), or a restarted node's listening period before it proposes;
    /// - `MAX_RETRY_NS` (1 s): a proposal rejected by a node that had not caught up yet (a
    ///   rival coordinator, or a promise to one) is retried at most that much later;
    /// - `MAX_RTO_NS + tick` (400 ms): a message sent into a window the event closed is
    ///   resent within the link's longest retransmission timeout;
    /// - the four trips of `notify_ns`.
    ///
    /// **`round_ns`**, an ACK-round phase from its start with no disruption since
    /// (`2 tick + 100 ms + 5 trips`: 200 ms for `fast`): the ordered multicast's submit,
    /// order, receipt report and stability announcement, and the member's ACK, five trips;
    /// the sequencer and the members act on arrival, the work thread at once (the engine
    /// scenarios give work no service time; a slow thread stops the clock), and the
    /// coordinator's job counts ACKs on arrival. Two ticks and 100 ms are room.
    ///
    /// **`round_settle_ns`**, a phase from a disruptive event: `notify_settle_ns + round_ns`
    /// (a member the event takes away is announced to the coordinator, which completes the
    /// round with the new view or restarts it; a restart is a new phase). After a job
    /// unregisters, `notify_ns + round_ns`.
    ///
    /// Packet loss and one-way partitions bound nothing: while one is open the checkers stop
    /// their clocks (a message is lost any number of times in a row; a one-way cut's
    /// effect on who suspects whom depends on timing), and its end restarts them. So does
    /// a split majority (a clog inside the majority a node hears, so that no view may form
    /// with it) for the nodes it holds, a pause for the paused node, and a hung or slow
    /// work thread for the rounds of its view (the watchdog's time is the job's, not the
    /// CE's; the unregistering that follows restarts the round's clock).
    pub fn bounds(&self, spike_ns: u64, clogged: bool) -> Bounds {
        let ms = 1_000_000;
        let t = self.failure_timeout_ms * ms;
        let hb = self.heartbeat_interval_ms * ms;
        let tick = self.tick_ms * ms;
        let trip = TRIP_NS + spike_ns;
        let retries = membership::RETRY_NS + 2 * membership::RETRY_NS;
        let rival = if clogged { membership::MAX_RETRY_NS } else { 0 };
        let notify_ns = (t + tick + trip) + (tick + hb) + retries + 3 * trip + rival;
        let notify_settle_ns = membership::PROPOSAL_TIMEOUT_FACTOR * t
            + tick
            + (hb + tick)
            + (2 * hb + tick)
            + membership::MAX_RETRY_NS
            + (link::MAX_RTO_NS + tick)
            + 4 * trip;
        let round_ns = 5 * trip + 2 * tick + 100 * ms;
        Bounds {
            notify_ns,
            notify_settle_ns,
            round_ns,
            round_settle_ns: notify_settle_ns + round_ns,
            round_after_unregister_ns: notify_ns + round_ns,
        }
    }
}

/// One message's way in [`CeConfig::bounds`] without spikes: the network's 1-5 ms and
/// madsim's 1 ms at each end, with room.
const TRIP_NS: u64 = 10_000_000;

/// The time bounds of the engine's checkers, from [`CeConfig::bounds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// `notify_within`: from a departure's cause, with no disruptive fault event since.
    pub notify_ns: u64,
    /// `notify_within`: from the last disruptive fault event.
    pub notify_settle_ns: u64,
    /// `ack_round_progress`: a phase from its start, with no disruption since.
    pub round_ns: u64,
    /// `ack_round_progress`: a phase from the last disruptive fault event.
    pub round_settle_ns: u64,
    /// `ack_round_progress`: a phase from a job's unregistering.
    pub round_after_unregister_ns: u64,
}

/// The planted bugs of the engine, switched on per run; none is on by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutants {
    /// The main thread takes a lock that work threads hold while they process.
    pub main_awaits_lock: bool,
    /// One survivor's CE drops the departures from its membership-change message.
    pub skip_notify_one: bool,
    /// A round keeps waiting for the members of the view it started in.
    pub round_waits_departed: bool,
    /// The CE keeps delivering to a job that unregistered.
    pub deliver_to_left: bool,
    /// A minority component keeps the group (no majority check).
    pub minority_keeps_group: bool,
    /// A restarted node's engine and job take their first life's identity again
    /// (incarnation 0, job 0) instead of new ones.
    pub reuse_identity: bool,
    /// The main thread hands work over bounded queues and waits for room in a full one.
    pub main_blocks_on_full_queue: bool,
    /// A job that re-registers inherits the multicasts its predecessor on the node had
    /// not seen delivered, numbered as its own.
    pub inherit_pending: bool,
    /// After suspecting a node, the CE waits four more heartbeat intervals (to ride out a
    /// flapping link) before it proposes a view: every departure a suspicion reveals is
    /// announced that much late, past the detection bound when detection was slow too.
    pub confirm_suspicion: bool,
}

pub const MUTANT_MAIN_AWAITS_LOCK: &str = "main-awaits-lock";
pub const MUTANT_SKIP_NOTIFY_ONE: &str = "skip-notify-one";
pub const MUTANT_ROUND_WAITS_DEPARTED: &str = "round-waits-departed";
pub const MUTANT_DELIVER_TO_LEFT: &str = "deliver-to-left";
pub const MUTANT_MINORITY_KEEPS_GROUP: &str = "minority-keeps-group";
pub const MUTANT_REUSE_IDENTITY: &str = "reuse-identity";
pub const MUTANT_MAIN_BLOCKS_ON_FULL_QUEUE: &str = "main-blocks-on-full-queue";
pub const MUTANT_INHERIT_PENDING: &str = "inherit-pending";
pub const MUTANT_CONFIRM_SUSPICION: &str = "confirm-suspicion";

impl Mutants {
    pub fn from_name(name: Option<&str>) -> Result<Mutants, String> {
        let mut m = Mutants::default();
        match name {
            None => {}
            Some(MUTANT_MAIN_AWAITS_LOCK) => m.main_awaits_lock = true,
            Some(MUTANT_SKIP_NOTIFY_ONE) => m.skip_notify_one = true,
            Some(MUTANT_ROUND_WAITS_DEPARTED) => m.round_waits_departed = true,
            Some(MUTANT_DELIVER_TO_LEFT) => m.deliver_to_left = true,
            Some(MUTANT_MINORITY_KEEPS_GROUP) => m.minority_keeps_group = true,
            Some(MUTANT_REUSE_IDENTITY) => m.reuse_identity = true,
            Some(MUTANT_MAIN_BLOCKS_ON_FULL_QUEUE) => m.main_blocks_on_full_queue = true,
            Some(MUTANT_INHERIT_PENDING) => m.inherit_pending = true,
            Some(MUTANT_CONFIRM_SUSPICION) => m.confirm_suspicion = true,
            Some(other) => return Err(format!("unknown engine planted bug '{other}'")),
        }
        Ok(m)
    }

    /// Every planted bug with its one-line description.
    pub fn catalog() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                MUTANT_MAIN_AWAITS_LOCK,
                "the main thread awaits a lock that a hung work thread holds",
            ),
            (
                MUTANT_SKIP_NOTIFY_ONE,
                "the engine skips the departure notification to one survivor",
            ),
            (
                MUTANT_ROUND_WAITS_DEPARTED,
                "an ACK round keeps waiting for a member that departed",
            ),
            (
                MUTANT_DELIVER_TO_LEFT,
                "the engine delivers to a job that already unregistered",
            ),
            (
                MUTANT_MINORITY_KEEPS_GROUP,
                "a minority partition keeps the group (no majority check)",
            ),
            (
                MUTANT_REUSE_IDENTITY,
                "a restarted node takes its first life's identity again",
            ),
            (
                MUTANT_MAIN_BLOCKS_ON_FULL_QUEUE,
                "the main thread blocks on a full bounded work queue behind a hung work thread",
            ),
            (
                MUTANT_INHERIT_PENDING,
                "a re-registered job sends its predecessor's undelivered multicasts as its own",
            ),
            (
                MUTANT_CONFIRM_SUSPICION,
                "the engine waits four more heartbeats after a suspicion before a view change",
            ),
        ]
    }
}

/// What a job's messages must be to travel through the engine: any cloneable, printable,
/// thread-safe value. The CE never looks inside; each system on the engine brings its own.
pub trait AppPayload: Clone + fmt::Debug + Send + Sync + 'static {}

impl<T: Clone + fmt::Debug + Send + Sync + 'static> AppPayload for T {}

/// The master of a primary view: its lowest node. Every member computes the same answer
/// from the same view, so the systems built on the engine (the client manager, the process
/// manager) agree on who serves without any extra election.
pub fn master_of<'a>(members: impl IntoIterator<Item = &'a Member>) -> Option<usize> {
    members.into_iter().map(|m| m.node).min()
}

/// What the ACK-round jobs multicast or unicast through the CE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A phase message of the ACK-round protocol (multicast by the round coordinator).
    Round(ack_round::RoundMsg),
    /// A member's ACK of a round message (unicast to the coordinator).
    Ack(ack_round::RoundAck),
    /// Application traffic (the membership scenario's background multicast).
    App { n: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_print_as_the_format_says() {
        for (node, inc, job, group) in [
            (0, 0, 0, 0),
            (64, 3, 17, 2),
            (usize::MAX, u64::MAX, u64::MAX, u32::MAX),
            (10, 100, 1000, 0),
        ] {
            let m = Member {
                node,
                inc,
                job,
                group,
            };
            let want = if group == 0 {
                format!("{node}.{inc}.{job}")
            } else {
                format!("{node}.{inc}.{job}@{group}")
            };
            assert_eq!(m.to_string(), want);
        }
    }

    #[test]
    fn ids_print_as_the_trace_and_the_checkers_write_them() {
        let m = Member {
            node: 2,
            inc: 1,
            job: 3,
            group: 1,
        };
        assert_eq!(NodeInc { node: 2, inc: 1 }.to_string(), "2:1");
        let d = Departure {
            member: m,
            reason: Reason::ProcessDown,
        };
        assert_eq!(d.to_string(), "2.1.3@1:ProcessDown");
        assert_eq!(RoundId::new(4, 0, 1).to_string(), "4/1");
        assert_eq!(RoundId::new(7, 1, 12).to_string(), "7/12@1");
    }

    #[test]
    fn round_ids_keep_their_parts_and_order_by_view_first() {
        let r = RoundId::new(9, 3, RoundId::MAX_ROUND);
        assert_eq!((r.view(), r.group(), r.round()), (9, 3, RoundId::MAX_ROUND));
        assert_eq!(RoundId::new(1, 0, 1).bits(), (1 << 32) | 1);
        assert!(RoundId::new(1, 5, 99) < RoundId::new(2, 0, 1));
        assert!(RoundId::new(2, 0, 7) < RoundId::new(2, 1, 1));
    }
}
