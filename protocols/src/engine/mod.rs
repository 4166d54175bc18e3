//! The cluster engine (CE): one per node, it keeps group views by heartbeat failure
//! detection and a coordinator-driven flush, orders group multicast through the view's
//! coordinator (the sequencer), and hands every event to the jobs registered on its node.
//! A job joins one named group: the engine's view spans every group, and each job is
//! shown, delivered and notified only what concerns its own group (its members, their
//! multicasts in a per-group sequence, their departures).
//!
//! Module map: [`link`] makes node-to-node channels reliable and FIFO over the lossy
//! network; [`membership`] is the CE state machine (failure detection, views, flush,
//! primary component, ordering); [`ack_round`] is the two-phase ACK-round protocol as a
//! pure state machine, and [`direct`] how its messages travel (ordered or direct); [`job`] is the thin async shell: the CE task, the job's main thread
//! and its work threads; [`checkers`] are the guarantees of DESIGN.md §A as trace observers.
//!
//! The engine is generic over what its jobs multicast ([`AppPayload`]): the ACK-round jobs
//! use [`Payload`], and each system built on the engine brings its own. Such a system
//! starts a node's CE with [`job::start_ce`] and [`job::run_ce`] and runs its own jobs on
//! it; nodes outside the engine (clients, numbered from `CeSetup::engine_nodes` up) reach
//! those jobs through unreliable `External` datagrams that the CE passes through.
//!
//! Trace events (members are written `node.incarnation.job`, with `@group` for groups other
//! than the first; node sets `node:incarnation`):
//! - `ce.install view coord nodes members`, `ce.quorum_lost view why`, `ce.propose id nodes`,
//!   `ce.suspect peer`, `ce.job_unresponsive member since_ns` (a main thread missed a probe);
//! - `job.register member group`, `job.unregister member why`, `job.work_fault member thread mode`,
//!   `job.view member view members left joined` (the membership-change message: `left` is
//!   `member:Reason,...`), `job.quorum_lost member view`,
//!   `job.deliver member view seq sender fifo`;
//! - `ack.round_start round phase view attempt`, `ack.round_restart`, `ack.round_adopt`,
//!   `ack.round_done round phase latency_ns view attempts members`, `ack.round_abandon`,
//!   `ack.txn_done round latency_ns` (prepare start to commit done). Latencies are simulated
//!   ns from the modelled network; delivery is safe (one extra round trip to the sequencer).

pub mod ack_round;
pub mod checkers;
pub mod direct;
pub mod job;
pub mod link;
pub mod membership;

use std::collections::BTreeSet;
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
        f.write_str(self.text().as_str())
    }
}

sim::trace_field_by_display!(Member => |m| [m.node as u64, m.inc, m.job, u64::from(m.group)]);

/// A member's text, `node.inc.job` and `@group` for groups other than the first, in a
/// buffer of its own: every delivery's trace event carries two members, and a `&str`
/// field is recorded without the formatting machinery a `Display` field goes through.
/// The digits are written by hand rather than through four `fmt` calls.
pub struct MemberText {
    buf: [u8; 4 * 20 + 3],
    len: usize,
}

impl MemberText {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII digits")
    }
}

/// Writes `x` in decimal into `buf` at `at`; returns where the digits end.
fn push_decimal(buf: &mut [u8], at: usize, mut x: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    let n = digits.len() - i;
    buf[at..at + n].copy_from_slice(&digits[i..]);
    at + n
}

impl Member {
    /// The text [`Display`](fmt::Display) writes.
    pub fn text(&self) -> MemberText {
        let mut buf = [0u8; 4 * 20 + 3];
        let mut len = push_decimal(&mut buf, 0, self.node as u64);
        buf[len] = b'.';
        len = push_decimal(&mut buf, len + 1, self.inc);
        buf[len] = b'.';
        len = push_decimal(&mut buf, len + 1, self.job);
        if self.group != 0 {
            buf[len] = b'@';
            len = push_decimal(&mut buf, len + 1, u64::from(self.group));
        }
        MemberText { buf, len }
    }

    /// Parses the `node.inc.job[@group]` form used in trace events. Checkers parse the
    /// members of every delivery event, so this is one scan over the bytes rather than
    /// split-and-parse (which was a tenth of a sweep's instructions).
    pub fn parse(s: &str) -> Option<Member> {
        // node, inc, job, group
        let mut nums = [0u64; 4];
        let mut part = 0;
        let mut digits = 0;
        for b in s.bytes() {
            match b {
                b'0'..=b'9' => {
                    nums[part] = nums[part]
                        .checked_mul(10)?
                        .checked_add(u64::from(b - b'0'))?;
                    digits += 1;
                }
                b'.' if part < 2 && digits > 0 => (part, digits) = (part + 1, 0),
                b'@' if part == 2 && digits > 0 => (part, digits) = (3, 0),
                _ => return None,
            }
        }
        if part < 2 || digits == 0 {
            return None;
        }
        Some(Member {
            node: usize::try_from(nums[0]).ok()?,
            inc: nums[1],
            job: nums[2],
            group: u32::try_from(nums[3]).ok()?,
        })
    }
}

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

    pub fn parse(s: &str) -> Option<Reason> {
        match s {
            "Left" => Some(Reason::Left),
            "ProcessDown" => Some(Reason::ProcessDown),
            "NodeDown" => Some(Reason::NodeDown),
            _ => None,
        }
    }
}

/// Formats members as `a,b,c` for trace fields.
pub fn fmt_members<'a>(members: impl IntoIterator<Item = &'a Member>) -> String {
    let v: Vec<String> = members.into_iter().map(|m| m.to_string()).collect();
    v.join(",")
}

/// Parses a `fmt_members` list; empty string is the empty set.
pub fn parse_members(s: &str) -> BTreeSet<Member> {
    s.split(',').filter_map(Member::parse).collect()
}

/// Formats `(node, incarnation)` pairs as `n:i,...`.
pub fn fmt_nodes(nodes: &[(usize, u64)]) -> String {
    let v: Vec<String> = nodes.iter().map(|(n, i)| format!("{n}:{i}")).collect();
    v.join(",")
}

/// Parses a `fmt_nodes` list.
pub fn parse_nodes(s: &str) -> BTreeSet<(usize, u64)> {
    s.split(',')
        .filter_map(|x| {
            let (n, i) = x.split_once(':')?;
            Some((n.parse().ok()?, i.parse().ok()?))
        })
        .collect()
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

    /// The stated margin on top of the failure timeout within which every survivor must be
    /// notified of a departure: a heartbeat interval of detection skew between nodes, a
    /// tick of timer granularity, one rejected proposal retry, and the flush round trips.
    pub fn notify_margin_ms(&self) -> u64 {
        2 * self.heartbeat_interval_ms + 2 * self.tick_ms + 250
    }

    /// The detection bound checked by `notify_within`.
    pub fn notify_bound_ms(&self) -> u64 {
        self.failure_timeout_ms + self.notify_margin_ms()
    }
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
}

pub const MUTANT_MAIN_AWAITS_LOCK: &str = "main-awaits-lock";
pub const MUTANT_SKIP_NOTIFY_ONE: &str = "skip-notify-one";
pub const MUTANT_ROUND_WAITS_DEPARTED: &str = "round-waits-departed";
pub const MUTANT_DELIVER_TO_LEFT: &str = "deliver-to-left";
pub const MUTANT_MINORITY_KEEPS_GROUP: &str = "minority-keeps-group";

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
    fn members_read_back_what_they_print() {
        for m in [
            Member {
                node: 0,
                inc: 0,
                job: 0,
                group: 0,
            },
            Member {
                node: 64,
                inc: 3,
                job: 17,
                group: 2,
            },
            Member {
                node: 7,
                inc: u64::MAX,
                job: 1,
                group: u32::MAX,
            },
        ] {
            assert_eq!(Member::parse(&m.to_string()), Some(m));
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.",
            ".1.2",
            "1..2",
            "1.2.3@",
            "1.2@3",
            "1.2.3@4@5",
            "1.2.3.4",
            "a.2.3",
            "1.2.3 ",
            "1.2.99999999999999999999",
        ] {
            assert_eq!(Member::parse(bad), None, "{bad:?}");
        }
    }
}
