//! The ACK-round protocol: a two-phase group commit driven by the view's coordinator job.
//!
//! A transaction is a prepare round then a commit round. A round is one message from the
//! coordinator to every member of the current view (an ordered multicast, or one direct
//! send per member: see [`super::direct`]) plus an ACK from the work thread of every
//! member. The coordinator is the lowest member of the view. On a view change mid-round
//! the coordinator drops the departed members from the set it waits for: if everyone left
//! has ACKed, the round completes with the new view; otherwise it restarts (a new attempt,
//! sent again so that joiners see it). A new coordinator adopts the prepare rounds its
//! predecessor left open; a commit it has seen is decided and needs no second round.
//!
//! Under load ([`RoundLoad`]) each coordinator keeps several transactions in flight, and
//! the view's lowest few members each coordinate their own: round ids stay unique because
//! coordinator `r` of `c` numbers its rounds `r mod c`. With one transaction and one
//! coordinator (the default) the protocol is the plain one above.
//!
//! This module is a plain state machine: inputs are views, deliveries, ACKs and ticks;
//! the effects are the round messages to send. Round events ([`AckEvent`]) carry
//! simulated-time latencies for the ACK-round benchmark.

use super::{Member, RoundId};
use sim::emit;
use sim::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

sim::trace_events! {
    /// The ACK rounds, as their coordinators run them. A round is one phase (prepare or
    /// commit) of a transaction; the commit round keeps its prepare round's id.
    pub enum AckEvent in "ack" {
        /// A coordinator started a round: a new transaction's prepare, or the commit of
        /// one whose prepare completed.
        RoundStart as "round_start" {
            /// The round.
            round: RoundId,
            /// Its phase.
            phase: RoundPhase,
            /// The coordinator's view.
            view: u64,
            /// The attempt, from 0.
            attempt: u32,
        },
        /// A view change left members of the round's view un-ACKed: the coordinator sent
        /// the round again to the new view.
        RoundRestart as "round_restart" {
            /// The round.
            round: RoundId,
            /// Its phase.
            phase: RoundPhase,
            /// The new view.
            view: u64,
            /// The new attempt.
            attempt: u32,
        },
        /// A new coordinator took over a prepare round its departed predecessor left open.
        RoundAdopt as "round_adopt" {
            /// The round.
            round: RoundId,
            /// Its phase.
            phase: RoundPhase,
            /// The view it took over in.
            view: u64,
            /// The new attempt.
            attempt: u32,
        },
        /// Every member of the coordinator's current view ACKed the round.
        RoundDone as "round_done" {
            /// The round.
            round: RoundId,
            /// Its phase.
            phase: RoundPhase,
            /// From the phase's start to its last ACK.
            latency: SimDuration,
            /// The view it completed in.
            view: u64,
            /// How many attempts it took.
            attempts: u32,
            /// How many members ACKed it.
            members: u64,
        },
        /// The coordinator stopped coordinating (it left the primary view or is no longer
        /// among the lowest members) with the round open.
        RoundAbandon as "round_abandon" {
            /// The round.
            round: RoundId,
            /// Its phase.
            phase: RoundPhase,
        },
        /// A transaction's commit round completed.
        TxnDone as "txn_done" {
            /// The transaction's round.
            round: RoundId,
            /// From its prepare round's start to its commit's last ACK.
            latency: SimDuration,
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoundPhase {
    Prepare,
    Commit,
}

impl RoundPhase {
    pub fn name(self) -> &'static str {
        match self {
            RoundPhase::Prepare => "prepare",
            RoundPhase::Commit => "commit",
        }
    }
}

sim::trace_field_by_name!(RoundPhase);

/// The coordinator's multicast for one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundMsg {
    pub round: RoundId,
    pub phase: RoundPhase,
    pub attempt: u32,
    /// When the transaction's prepare round started (simulated ns).
    pub txn_start_ns: u64,
    /// When this phase's round started.
    pub phase_start_ns: u64,
}

/// A member's ACK of a round message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundAck {
    pub round: RoundId,
    pub phase: RoundPhase,
    pub from: Member,
}

struct Active {
    msg: RoundMsg,
    /// Who must ACK: the members of the current view.
    expected: BTreeSet<Member>,
    acked: BTreeSet<Member>,
}

/// How much load the coordinators generate: both 1 is one transaction at a time from the
/// view's lowest member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundLoad {
    /// Transactions each coordinator keeps in flight (each has one round open at a time).
    pub concurrency: u32,
    /// How many of the view's lowest members coordinate rounds of their own.
    pub coordinators: u32,
}

impl Default for RoundLoad {
    fn default() -> Self {
        RoundLoad {
            concurrency: 1,
            coordinators: 1,
        }
    }
}

/// A round message as this job last saw it, and the coordinator that sent it.
#[derive(Clone)]
struct Seen {
    msg: RoundMsg,
    from: Member,
}

/// One job's side of the ACK-round protocol: coordinator when it is among the lowest
/// members.
pub struct AckRounds {
    me: Member,
    round_gap_ms: u64,
    enabled: bool,
    waits_departed: bool,
    concurrency: usize,
    coordinators: usize,
    view: Option<(u64, BTreeSet<Member>)>,
    /// The rounds this job coordinates, by round id.
    open: BTreeMap<RoundId, Active>,
    next_start_ns: u64,
    counter: u64,
    /// The newest rounds delivered to this job, as many as can be open at once, each in
    /// the latest phase seen: what it adopts if it becomes the coordinator.
    seen: BTreeMap<RoundId, Seen>,
}

impl AckRounds {
    /// `enabled`: whether this job starts rounds when it coordinates.
    pub fn new(me: Member, enabled: bool, round_gap_ms: u64, waits_departed: bool) -> Self {
        AckRounds {
            me,
            round_gap_ms,
            enabled,
            waits_departed,
            concurrency: 1,
            coordinators: 1,
            view: None,
            open: BTreeMap::new(),
            next_start_ns: 0,
            counter: 0,
            seen: BTreeMap::new(),
        }
    }

    /// Runs under `load` rather than one transaction at a time from one coordinator.
    pub fn with_load(mut self, load: RoundLoad) -> Self {
        assert!(
            load.concurrency > 0 && load.coordinators > 0,
            "a load of {load:?} starts no rounds"
        );
        self.concurrency = load.concurrency as usize;
        self.coordinators = load.coordinators as usize;
        self
    }

    /// Whether `m` is one of the coordinators of a view with these members.
    fn coordinates(&self, members: &BTreeSet<Member>, m: &Member) -> bool {
        members.iter().take(self.coordinators).any(|x| x == m)
    }

    pub fn is_coordinator(&self) -> bool {
        matches!(&self.view, Some((_, m)) if self.coordinates(m, &self.me))
    }

    fn view_id(&self) -> u64 {
        self.view.as_ref().map(|v| v.0).unwrap_or(0)
    }

    fn node(&self) -> usize {
        self.me.node
    }

    /// A new view was installed for this job.
    pub fn on_view(
        &mut self,
        view: u64,
        members: &BTreeSet<Member>,
        now: u64,
        out: &mut Vec<RoundMsg>,
    ) {
        let was_coord = self.is_coordinator();
        self.view = Some((view, members.clone()));
        let coord = self.is_coordinator();
        if was_coord && !coord {
            self.abandon();
            return;
        }
        if !coord || !self.enabled {
            return;
        }
        if !self.open.is_empty() {
            if self.waits_departed {
                // Planted bug: the rounds keep waiting for the view they started in.
                return;
            }
            let ids: Vec<RoundId> = self.open.keys().copied().collect();
            for id in ids {
                let Some(a) = self.open.get_mut(&id) else {
                    continue;
                };
                a.expected = members.clone();
                a.acked.retain(|m| members.contains(m));
                if a.expected.is_subset(&a.acked) {
                    self.complete(id, now, out);
                } else {
                    a.msg.attempt += 1;
                    a.acked.clear();
                    emit!(
                        self.me.node,
                        AckEvent::RoundRestart {
                            round: a.msg.round,
                            phase: a.msg.phase,
                            view,
                            attempt: a.msg.attempt,
                        }
                    );
                    out.push(a.msg.clone());
                }
            }
        }
        // The lowest member takes over what departed coordinators left open: as soon as
        // it becomes the coordinator, and, when several coordinate, on every view change.
        let lowest = members.first() == Some(&self.me);
        if lowest && (!was_coord || self.coordinators > 1) {
            self.adopt(view, members, now, out);
        }
    }

    /// Adopts the prepare rounds this job saw whose coordinator no longer runs them.
    fn adopt(&mut self, view: u64, members: &BTreeSet<Member>, now: u64, out: &mut Vec<RoundMsg>) {
        let mut adopted = false;
        let seen: Vec<Seen> = self.seen.values().cloned().collect();
        for s in seen {
            // A commit it saw means the transaction was decided (with ordered delivery,
            // every member of the view delivered it): running its commit round again
            // would only count it twice.
            if s.msg.phase == RoundPhase::Commit || self.open.contains_key(&s.msg.round) {
                continue;
            }
            if s.from != self.me && self.coordinates(members, &s.from) {
                // Its coordinator still coordinates, and carries on with it.
                continue;
            }
            let mut msg = s.msg;
            msg.attempt += 1;
            emit!(
                self.me.node,
                AckEvent::RoundAdopt {
                    round: msg.round,
                    phase: msg.phase,
                    view,
                    attempt: msg.attempt,
                }
            );
            sim::report_phase(self.node(), msg.phase.name());
            out.push(msg.clone());
            self.open.insert(
                msg.round,
                Active {
                    msg,
                    expected: members.clone(),
                    acked: BTreeSet::new(),
                },
            );
            adopted = true;
        }
        if !adopted {
            self.next_start_ns = now;
        }
    }

    /// The job is no longer in a primary view (quorum lost, unregistered).
    pub fn on_lost(&mut self) {
        if self.is_coordinator() {
            self.abandon();
        }
        self.view = None;
    }

    fn abandon(&mut self) {
        if self.open.is_empty() {
            return;
        }
        for a in std::mem::take(&mut self.open).into_values() {
            emit!(
                self.me.node,
                AckEvent::RoundAbandon {
                    round: a.msg.round,
                    phase: a.msg.phase,
                }
            );
        }
        sim::report_phase(self.node(), "idle");
    }

    /// A round message from coordinator `from` reached this job (delivered by the CE in
    /// view order, or sent to it directly).
    pub fn on_deliver(&mut self, msg: &RoundMsg, from: Member) {
        let seen = Seen {
            msg: msg.clone(),
            from,
        };
        match self.seen.get_mut(&msg.round) {
            Some(s) if s.msg.phase <= msg.phase => *s = seen,
            Some(_) => {}
            None => {
                self.seen.insert(msg.round, seen);
                // Only the newest rounds can still be open: as many as every coordinator
                // keeps in flight.
                while self.seen.len() > self.concurrency * self.coordinators {
                    self.seen.pop_first();
                }
            }
        }
    }

    /// An ACK arrived at this (coordinator) job.
    pub fn on_ack(&mut self, ack: &RoundAck, now: u64, out: &mut Vec<RoundMsg>) {
        let Some(a) = self.open.get_mut(&ack.round) else {
            return;
        };
        if a.msg.phase != ack.phase || !a.expected.contains(&ack.from) {
            return;
        }
        a.acked.insert(ack.from);
        if a.expected.is_subset(&a.acked) {
            self.complete(ack.round, now, out);
        }
    }

    fn complete(&mut self, id: RoundId, now: u64, out: &mut Vec<RoundMsg>) {
        let view = self.view_id();
        let a = self.open.get_mut(&id).expect("an open round");
        emit!(
            self.me.node,
            AckEvent::RoundDone {
                round: a.msg.round,
                phase: a.msg.phase,
                latency: SimDuration(now - a.msg.phase_start_ns),
                view,
                attempts: a.msg.attempt + 1,
                members: a.expected.len() as u64,
            }
        );
        match a.msg.phase {
            RoundPhase::Prepare => {
                a.msg.phase = RoundPhase::Commit;
                a.msg.attempt = 0;
                a.msg.phase_start_ns = now;
                a.acked.clear();
                if !self.waits_departed {
                    if let Some((_, m)) = &self.view {
                        a.expected = m.clone();
                    }
                }
                emit!(
                    self.me.node,
                    AckEvent::RoundStart {
                        round: a.msg.round,
                        phase: RoundPhase::Commit,
                        view,
                        attempt: 0,
                    }
                );
                sim::report_phase(self.me.node, "commit");
                out.push(a.msg.clone());
            }
            RoundPhase::Commit => {
                emit!(
                    self.me.node,
                    AckEvent::TxnDone {
                        round: a.msg.round,
                        latency: SimDuration(now - a.msg.txn_start_ns),
                    }
                );
                self.open.remove(&id);
                self.next_start_ns = now + self.round_gap_ms * 1_000_000;
                if self.open.is_empty() {
                    sim::report_phase(self.me.node, "idle");
                }
                // Without a gap the next transaction starts now, not at the job's next
                // tick: back-to-back rounds are what the ACK-round benchmark measures.
                if self.round_gap_ms == 0 {
                    self.on_tick(now, out);
                }
            }
        }
    }

    /// Starts transactions, up to the load's concurrency, when this job coordinates.
    pub fn on_tick(&mut self, now: u64, out: &mut Vec<RoundMsg>) {
        if !self.enabled || !self.is_coordinator() || now < self.next_start_ns {
            return;
        }
        while self.open.len() < self.concurrency {
            self.start(now, out);
        }
    }

    fn start(&mut self, now: u64, out: &mut Vec<RoundMsg>) {
        let (view, members) = self.view.clone().expect("coordinator has a view");
        // Coordinator `rank` of `c` takes the numbers `rank mod c`: unique within the view.
        let c = self.coordinators as u64;
        let rank = members.iter().position(|m| *m == self.me).unwrap_or(0) as u64;
        self.counter += 1;
        self.counter += (rank + c - self.counter % c) % c;
        let round = RoundId::new(view, self.me.group, self.counter);
        let msg = RoundMsg {
            round,
            phase: RoundPhase::Prepare,
            attempt: 0,
            txn_start_ns: now,
            phase_start_ns: now,
        };
        emit!(
            self.me.node,
            AckEvent::RoundStart {
                round,
                phase: RoundPhase::Prepare,
                view,
                attempt: 0,
            }
        );
        sim::report_phase(self.me.node, "prepare");
        out.push(msg.clone());
        self.open.insert(
            round,
            Active {
                msg,
                expected: members,
                acked: BTreeSet::new(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(node: usize) -> Member {
        Member {
            node,
            inc: 0,
            job: 0,
            group: 0,
        }
    }

    fn view(nodes: &[usize]) -> BTreeSet<Member> {
        nodes.iter().map(|n| m(*n)).collect()
    }

    fn rounds(me: usize, concurrency: u32, coordinators: u32) -> AckRounds {
        AckRounds::new(m(me), true, 0, false).with_load(RoundLoad {
            concurrency,
            coordinators,
        })
    }

    fn ack(msg: &RoundMsg, from: usize) -> RoundAck {
        RoundAck {
            round: msg.round,
            phase: msg.phase,
            from: m(from),
        }
    }

    #[test]
    fn a_coordinator_keeps_its_transactions_in_flight() {
        let mut r = rounds(0, 3, 1);
        let mut out = vec![];
        r.on_view(1, &view(&[0, 1]), 0, &mut out);
        r.on_tick(0, &mut out);
        assert_eq!(out.len(), 3, "three prepares at once");
        assert!(out.iter().all(|x| x.phase == RoundPhase::Prepare));
        let first = out[0].clone();
        out.clear();
        // One round's prepare completes: its commit goes out, nothing else starts.
        r.on_ack(&ack(&first, 0), 1, &mut out);
        r.on_ack(&ack(&first, 1), 2, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].round, out[0].phase),
            (first.round, RoundPhase::Commit)
        );
        let commit = out.remove(0);
        // Its commit completes: a new transaction takes its place.
        r.on_ack(&ack(&commit, 0), 3, &mut out);
        r.on_ack(&ack(&commit, 1), 4, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].phase, RoundPhase::Prepare);
        assert_eq!(r.open.len(), 3);
    }

    #[test]
    fn several_coordinators_number_their_rounds_apart() {
        let members = view(&[0, 1, 2, 3]);
        let mut ids = BTreeSet::new();
        for me in 0..4 {
            let mut r = rounds(me, 2, 3);
            let mut out = vec![];
            r.on_view(7, &members, 0, &mut out);
            r.on_tick(0, &mut out);
            // The three lowest coordinate; the fourth only takes part.
            assert_eq!(out.len(), if me < 3 { 2 } else { 0 }, "member {me}");
            for x in out {
                assert_eq!(x.round.view(), 7, "the view is in the id");
                assert!(ids.insert(x.round), "round {} twice", x.round);
            }
        }
        assert_eq!(ids.len(), 6);
    }

    #[test]
    fn the_lowest_member_adopts_what_a_departed_coordinator_left_open() {
        // Members 0 and 1 coordinate; 0 sees 1's two open prepares, and a commit.
        let mut coord1 = rounds(1, 2, 2);
        let mut out = vec![];
        coord1.on_view(1, &view(&[0, 1, 2]), 0, &mut out);
        coord1.on_tick(0, &mut out);
        assert_eq!(out.len(), 2);
        let mut r = rounds(0, 2, 2);
        let mut mine = vec![];
        r.on_view(1, &view(&[0, 1, 2]), 0, &mut mine);
        for x in &out {
            r.on_deliver(x, m(1));
        }
        let mut decided = out[1].clone();
        decided.phase = RoundPhase::Commit;
        r.on_deliver(&decided, m(1));
        // 1 is still a coordinator of view 2: nothing to adopt.
        let mut adopted = vec![];
        r.on_view(2, &view(&[0, 1, 2, 3]), 1, &mut adopted);
        assert!(adopted.is_empty(), "{adopted:?}");
        // 1 left: its open prepare is adopted, its committed transaction is not.
        r.on_view(3, &view(&[0, 2, 3]), 2, &mut adopted);
        assert_eq!(adopted.len(), 1, "{adopted:?}");
        assert_eq!(
            (adopted[0].round, adopted[0].phase, adopted[0].attempt),
            (out[0].round, RoundPhase::Prepare, 1)
        );
    }

    #[test]
    fn one_coordinator_adopts_only_when_it_takes_over() {
        let mut r = rounds(1, 1, 1);
        let mut out = vec![];
        r.on_view(1, &view(&[0, 1]), 0, &mut out);
        let open = RoundMsg {
            round: RoundId::new(1, 0, 1),
            phase: RoundPhase::Prepare,
            attempt: 0,
            txn_start_ns: 0,
            phase_start_ns: 0,
        };
        r.on_deliver(&open, m(0));
        r.on_view(2, &view(&[0, 1, 2]), 1, &mut out);
        assert!(out.is_empty(), "not the coordinator");
        r.on_view(3, &view(&[1, 2]), 2, &mut out);
        assert_eq!(out.len(), 1, "took over: adopts the open round");
        assert_eq!((out[0].round, out[0].attempt), (open.round, 1));
    }
}
