//! The ACK-round protocol: a two-phase group commit driven by the view's coordinator job.
//!
//! A transaction is a prepare round then a commit round. A round is one multicast from the
//! coordinator plus an ACK from the work thread of every member of the current view. The
//! coordinator is the lowest member of the view. On a view change mid-round the coordinator
//! drops the departed members from the set it waits for: if everyone left has ACKed, the
//! round completes with the new view; otherwise it restarts (a new attempt, multicast again
//! so that joiners see it). A new coordinator adopts a prepare round its predecessor left
//! open; a commit it has seen delivered is decided and needs no second round.
//!
//! This module is a plain state machine: inputs are views, deliveries, ACKs and ticks;
//! the effects are the multicasts to send. Round events carry simulated-time latencies for
//! the ACK-round benchmark.

use super::Member;
use sim::emit;
use std::collections::BTreeSet;

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

/// The coordinator's multicast for one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundMsg {
    pub round: u64,
    pub phase: RoundPhase,
    pub attempt: u32,
    /// When the transaction's prepare round started (simulated ns).
    pub txn_start_ns: u64,
    /// When this phase's round started.
    pub phase_start_ns: u64,
    /// The highest transaction the coordinator knows committed.
    pub last_done: u64,
}

/// A member's ACK of a round message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundAck {
    pub round: u64,
    pub phase: RoundPhase,
    pub from: Member,
}

struct Active {
    msg: RoundMsg,
    /// Who must ACK: the members of the current view.
    expected: BTreeSet<Member>,
    acked: BTreeSet<Member>,
}

/// One job's side of the ACK-round protocol: coordinator when it is the lowest member.
pub struct AckRounds {
    me: Member,
    round_gap_ms: u64,
    enabled: bool,
    waits_departed: bool,
    view: Option<(u64, BTreeSet<Member>)>,
    current: Option<Active>,
    next_start_ns: u64,
    counter: u64,
    last_seen: Option<RoundMsg>,
    last_done: u64,
}

impl AckRounds {
    /// `enabled`: whether this job starts rounds when it coordinates.
    pub fn new(me: Member, enabled: bool, round_gap_ms: u64, waits_departed: bool) -> Self {
        AckRounds {
            me,
            round_gap_ms,
            enabled,
            waits_departed,
            view: None,
            current: None,
            next_start_ns: 0,
            counter: 0,
            last_seen: None,
            last_done: 0,
        }
    }

    pub fn is_coordinator(&self) -> bool {
        matches!(&self.view, Some((_, m)) if m.first() == Some(&self.me))
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
        if let Some(a) = self.current.as_mut() {
            if self.waits_departed {
                // Planted bug: the round keeps waiting for the view it started in.
                return;
            }
            a.expected = members.clone();
            a.acked.retain(|m| members.contains(m));
            if a.expected.is_subset(&a.acked) {
                self.complete(now, out);
            } else {
                let a = self.current.as_mut().expect("active");
                a.msg.attempt += 1;
                a.acked.clear();
                emit!(
                    self.me.node,
                    "ack",
                    "round_restart",
                    round = a.msg.round,
                    phase = a.msg.phase.name(),
                    view = view,
                    attempt = a.msg.attempt
                );
                out.push(a.msg.clone());
            }
        } else if !was_coord {
            match self.last_seen.clone() {
                // A delivered commit means every member of the view delivered it (virtual
                // synchrony): the transaction is decided, and running its commit round
                // again would only count it twice. An open prepare round is adopted.
                Some(seen) if seen.phase == RoundPhase::Commit => {
                    self.last_done = self.last_done.max(seen.round);
                    self.next_start_ns = now;
                }
                Some(seen) if seen.round > self.last_done => {
                    // Adopt the round the previous coordinator left open.
                    let mut msg = seen;
                    msg.attempt += 1;
                    emit!(
                        self.me.node,
                        "ack",
                        "round_adopt",
                        round = msg.round,
                        phase = msg.phase.name(),
                        view = view,
                        attempt = msg.attempt
                    );
                    sim::report_phase(self.node(), msg.phase.name());
                    out.push(msg.clone());
                    self.current = Some(Active {
                        msg,
                        expected: members.clone(),
                        acked: BTreeSet::new(),
                    });
                }
                _ => self.next_start_ns = now,
            }
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
        if let Some(a) = self.current.take() {
            emit!(
                self.me.node,
                "ack",
                "round_abandon",
                round = a.msg.round,
                phase = a.msg.phase.name()
            );
            sim::report_phase(self.node(), "idle");
        }
    }

    /// A round message was delivered to this job (by the CE, in view order).
    pub fn on_deliver(&mut self, msg: &RoundMsg) {
        self.last_done = self.last_done.max(msg.last_done);
        if self
            .last_seen
            .as_ref()
            .map(|s| (s.round, s.phase) <= (msg.round, msg.phase))
            .unwrap_or(true)
        {
            self.last_seen = Some(msg.clone());
        }
    }

    /// An ACK arrived at this (coordinator) job.
    pub fn on_ack(&mut self, ack: &RoundAck, now: u64, out: &mut Vec<RoundMsg>) {
        let Some(a) = self.current.as_mut() else {
            return;
        };
        if a.msg.round != ack.round || a.msg.phase != ack.phase || !a.expected.contains(&ack.from) {
            return;
        }
        a.acked.insert(ack.from);
        if a.expected.is_subset(&a.acked) {
            self.complete(now, out);
        }
    }

    fn complete(&mut self, now: u64, out: &mut Vec<RoundMsg>) {
        let view = self.view_id();
        let a = self.current.as_mut().expect("active");
        emit!(
            self.me.node,
            "ack",
            "round_done",
            round = a.msg.round,
            phase = a.msg.phase.name(),
            latency_ns = now - a.msg.phase_start_ns,
            view = view,
            attempts = u64::from(a.msg.attempt) + 1,
            members = a.expected.len() as u64
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
                    "ack",
                    "round_start",
                    round = a.msg.round,
                    phase = "commit",
                    view = view,
                    attempt = 0u64
                );
                sim::report_phase(self.me.node, "commit");
                out.push(a.msg.clone());
            }
            RoundPhase::Commit => {
                emit!(
                    self.me.node,
                    "ack",
                    "txn_done",
                    round = a.msg.round,
                    latency_ns = now - a.msg.txn_start_ns
                );
                self.last_done = self.last_done.max(a.msg.round);
                self.current = None;
                self.next_start_ns = now + self.round_gap_ms * 1_000_000;
                sim::report_phase(self.me.node, "idle");
                // Without a gap the next transaction starts now, not at the job's next
                // tick: back-to-back rounds are what the ACK-round benchmark measures.
                if self.round_gap_ms == 0 {
                    self.on_tick(now, out);
                }
            }
        }
    }

    /// Starts the next transaction when this job coordinates and none is open.
    pub fn on_tick(&mut self, now: u64, out: &mut Vec<RoundMsg>) {
        if !self.enabled
            || !self.is_coordinator()
            || self.current.is_some()
            || now < self.next_start_ns
        {
            return;
        }
        let (view, members) = self.view.clone().expect("coordinator has a view");
        self.counter += 1;
        // Unique across views and groups: view, group, then a counter.
        let round = (view << 32) | (u64::from(self.me.group) << 24) | (self.counter & 0xff_ffff);
        let msg = RoundMsg {
            round,
            phase: RoundPhase::Prepare,
            attempt: 0,
            txn_start_ns: now,
            phase_start_ns: now,
            last_done: self.last_done,
        };
        emit!(
            self.me.node,
            "ack",
            "round_start",
            round = round,
            phase = "prepare",
            view = view,
            attempt = 0u64
        );
        sim::report_phase(self.me.node, "prepare");
        out.push(msg.clone());
        self.current = Some(Active {
            msg,
            expected: members,
            acked: BTreeSet::new(),
        });
    }
}
