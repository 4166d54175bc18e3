//! Each ACK round's latency beside two **floors** on the same sampled link delays: what the
//! round would have taken with zero processing, timers and scheduling.
//!
//! - The protocol's **critical-path floor** replays the round's own path. [`FloorTracker`]
//!   sees every message the network delivers, with the latency the network sampled for it,
//!   and replays the round in *floor time*: a message arrives at the floor time of the
//!   step that sent it plus its sampled latency, and a step happens as soon as the last
//!   message it needs has arrived. The steps of an ordered round (see `protocols::engine`):
//!   the coordinator submits its round message to the sequencer (a local step when it is
//!   the sequencer); the sequencer orders it to every node of the view; each node reports
//!   how far it received; once every node has it the sequencer announces it stable; each
//!   member then delivers it, processes it and ACKs to the coordinator; the last ACK
//!   completes the round. A direct round (`protocols::engine::direct`) is the coordinator's
//!   send to each member and each member's ACK.
//! - The **protocol-independent floor** is the least any ACK round could take on those
//!   delays: the coordinator reaching every member and every member's ACK reaching the
//!   coordinator, the maximum over members of `d(c→m) + d(m→c)`. `d(c→m)` is the sampled
//!   latency of the first of the round's messages to reach the member (the round itself
//!   when sent directly, the sequencer's copy when ordered, the submit when the member's
//!   node sequences for a remote coordinator) and `d(m→c)` that of its ACK. For a direct
//!   round the two floors coincide; an ordered round's critical path is longer by the two
//!   one-way trips of safe delivery (the report and the stability announcement).
//!
//! Timers, ticks, task scheduling, work-thread processing and retransmission timeouts cost
//! nothing in floor time, and a lost message counts with the latency of the copy that
//! arrived, so both floors are lower bounds of the measured latency. Where the replay
//! cannot tell exactly, it takes the earlier possibility, so the floor stays a lower bound:
//! a step it cannot see (a message delivered by a view change's flush rather than by the
//! stability announcement) contributes nothing; an ACK counts from the member's first
//! delivery of the round (a restarted round is sent again, and an ACK does not say which
//! copy it answers); a message that overtook its predecessor on a FIFO link counts from
//! its own arrival, though the link holds it back (without faults, no message of a round
//! overtakes another).
//!
//! [`RoundLatencies`] is the checker half: it reads `ack.round_done` (and the restart,
//! adopt and abandon events) from the trace, asks the tracker for that round's floors, and
//! records them in histograms; it can stop the run once it has measured enough rounds.

use crate::report::new_histogram;
use hdrhistogram::Histogram;
use protocols::engine::ack_round::{AckEvent, RoundMsg, RoundPhase};
use protocols::engine::membership::{CeMsg, Wire};
use protocols::engine::{Member, Payload, RoundId};
use sim::check::Checker;
use sim::event::EventRef;
use sim::{Envelope, StopSignal};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One round of one phase: (round id, phase).
type RoundKey = (RoundId, RoundPhase);
/// One ordered message: (view, sequence number).
type SeqKey = (u64, u64);

/// One ordered round message, in floor time.
struct Multicast {
    round: RoundKey,
    /// The node that ordered it.
    sequencer: usize,
    /// When the sequencer ordered it.
    ordered: u64,
    /// When it reached each node, in arrival order: a list, as a view has few nodes and
    /// every round message would otherwise allocate a map node.
    arrived: NodeTimes,
    /// When the sequencer knew every node had it (grows with each report).
    stable: u64,
}

/// What the tracker keeps of one round's phase. One entry per round rather than a map per
/// fact: a delivered message costs one lookup of its round, not one per fact it adds.
#[derive(Default)]
struct RoundFloor {
    /// When the phase started, and whether it is sent directly (from its first message
    /// seen).
    start: Option<(u64, bool)>,
    /// Per node: the sampled latency of the first round message to reach it.
    out_ns: NodeTimes,
    /// Per member node: the sampled latency of its first ACK since the round (re)started.
    ack_ns: NodeTimes,
    /// The round's multicasts (a restarted round is multicast again).
    seqs: Vec<SeqKey>,
    /// When each node first delivered a multicast of the round.
    delivered: NodeTimes,
    /// When each member's ACK reached the coordinator.
    acks: NodeTimes,
}

impl RoundFloor {
    /// Empties the entry, keeping its lists' room for the next round.
    fn clear(&mut self) {
        self.start = None;
        self.out_ns.clear();
        self.ack_ns.clear();
        self.seqs.clear();
        self.delivered.clear();
        self.acks.clear();
    }
}

/// Replays each ACK round's critical path over the sampled latencies of its messages, and
/// keeps what its protocol-independent floor needs.
#[derive(Default)]
pub struct FloorTracker {
    /// Each round's phase, so that a round is forgotten with one removal.
    rounds: Rounds,
    /// Submits that crossed the network: (view, sender, fifo) -> arrival at the sequencer.
    submits: BTreeMap<(u64, Member, u64), u64>,
    multicasts: BTreeMap<SeqKey, Multicast>,
    /// Per (node, view): how far it reported receiving, and the floor time of that report.
    reported: BTreeMap<(usize, u64), (u64, u64)>,
    /// Per (node, view): how far it was told the view is stable, and when it could
    /// deliver up to there.
    stable_at: BTreeMap<(usize, u64), (u64, u64)>,
    /// Arrival lists of forgotten multicasts, emptied, for the next multicasts to refill
    /// (see [`Rounds`]).
    spare_times: Vec<NodeTimes>,
}

/// The rounds the tracker follows, and the emptied entries of forgotten ones: the next
/// rounds refill those rather than allocate a round's lists and free them again (a dozen
/// allocations per round, otherwise).
#[derive(Default)]
struct Rounds {
    live: BTreeMap<RoundKey, RoundFloor>,
    spare: Vec<RoundFloor>,
}

impl Rounds {
    /// Round `k`'s entry, made from a spare one if it is new.
    fn entry(&mut self, k: RoundKey) -> &mut RoundFloor {
        let spare = &mut self.spare;
        self.live
            .entry(k)
            .or_insert_with(|| spare.pop().unwrap_or_default())
    }

    /// A message of round `rm` reached `node`, `lat` after it was sent: the round's entry.
    fn reached(&mut self, rm: &RoundMsg, node: usize, lat: u64, direct: bool) -> &mut RoundFloor {
        let r = self.entry((rm.round, rm.phase));
        r.start.get_or_insert((rm.phase_start_ns, direct));
        first_at(&mut r.out_ns, node, lat);
        r
    }

    fn get(&self, k: &RoundKey) -> Option<&RoundFloor> {
        self.live.get(k)
    }

    fn get_mut(&mut self, k: &RoundKey) -> Option<&mut RoundFloor> {
        self.live.get_mut(k)
    }

    fn remove(&mut self, k: &RoundKey) -> Option<RoundFloor> {
        self.live.remove(k)
    }

    /// Keeps a removed entry, emptied, for a later round.
    fn recycle(&mut self, mut r: RoundFloor) {
        r.clear();
        self.spare.push(r);
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

impl FloorTracker {
    /// One message as the network delivers it.
    pub fn on_delivery(&mut self, env: &Envelope<Wire<Payload>>) {
        let Wire::Data { msg, .. } = &env.msg else {
            return;
        };
        let lat = env.latency_ns;
        match msg {
            CeMsg::Submit(s) => {
                if let Payload::Round(rm) = &s.payload {
                    self.submits
                        .entry((s.view, s.member, s.fifo))
                        .or_insert(rm.phase_start_ns + lat);
                    self.rounds.reached(rm, env.to, lat, false);
                }
            }
            CeMsg::Ordered(o) => {
                let Payload::Round(rm) = &o.payload else {
                    return;
                };
                let r = self.rounds.reached(rm, env.to, lat, false);
                let key = (o.view, o.seq);
                let round = (rm.round, rm.phase);
                let submits = &mut self.submits;
                let spare_times = &mut self.spare_times;
                let m = self.multicasts.entry(key).or_insert_with(|| {
                    // Ordered on arrival of a remote submit, or at once by a coordinator
                    // that is its own sequencer.
                    let ordered = submits
                        .remove(&(o.view, o.sender, o.fifo))
                        .unwrap_or(rm.phase_start_ns);
                    r.seqs.push(key);
                    Multicast {
                        round,
                        sequencer: env.from,
                        ordered,
                        arrived: spare_times.pop().unwrap_or_default(),
                        stable: ordered,
                    }
                });
                first_at(&mut m.arrived, env.to, m.ordered + lat);
            }
            CeMsg::Received { view, upto } => {
                let r = self.reported.entry((env.from, *view)).or_insert((0, 0));
                if *upto <= r.0 {
                    return;
                }
                // Links are FIFO: the report leaves once everything up to `upto` arrived.
                for (_, m) in self.multicasts.range_mut((*view, r.0 + 1)..=(*view, *upto)) {
                    if let Some((_, a)) = m.arrived.iter().find(|(n, _)| *n == env.from) {
                        r.1 = r.1.max(*a);
                    }
                    m.stable = m.stable.max(r.1 + lat);
                }
                r.0 = *upto;
            }
            CeMsg::Stable { view, upto } => {
                let d = self.stable_at.entry((env.to, *view)).or_insert((0, 0));
                if *upto <= d.0 {
                    return;
                }
                // Delivery is in sequence order: nothing is delivered before its predecessors.
                for (_, m) in self.multicasts.range((*view, d.0 + 1)..=(*view, *upto)) {
                    d.1 = d.1.max(m.stable + lat);
                    let r = self.rounds.entry(m.round);
                    first_at(&mut r.delivered, env.to, d.1);
                }
                d.0 = *upto;
            }
            CeMsg::Unicast(u) => match &u.payload {
                Payload::Ack(a) => {
                    let round = (a.round, a.phase);
                    if let Some(d) = self.delivery(round, env.from) {
                        let r = self.rounds.entry(round);
                        first_at(&mut r.acks, env.from, d + lat);
                        first_at(&mut r.ack_ns, env.from, lat);
                    }
                }
                // A direct round: the member has it on arrival.
                Payload::Round(rm) => {
                    let r = self.rounds.reached(rm, env.to, lat, true);
                    first_at(&mut r.delivered, env.to, rm.phase_start_ns + lat);
                }
                Payload::App { .. } => {}
            },
            _ => {}
        }
    }

    /// When `node` first delivered a multicast of `round`: on a stability announcement's
    /// arrival, or at once on the sequencer. A restarted round is multicast again, and an
    /// ACK does not say which copy it answers, so the earliest delivery keeps the floor a
    /// lower bound.
    fn delivery(&self, round: RoundKey, node: usize) -> Option<u64> {
        let r = self.rounds.get(&round)?;
        let at_sequencer = r
            .seqs
            .iter()
            .filter_map(|k| self.multicasts.get(k))
            .filter(|m| m.sequencer == node)
            .map(|m| m.stable);
        r.delivered
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| *t)
            .into_iter()
            .chain(at_sequencer)
            .min()
    }

    /// The round restarted (or a new coordinator adopted it): ACKs start over.
    pub fn on_restart(&mut self, round: RoundId, phase: RoundPhase) {
        if let Some(r) = self.rounds.get_mut(&(round, phase)) {
            r.acks.clear();
            r.ack_ns.clear();
        }
    }

    /// The round completed at `coordinator`: its floors, if its messages were seen. The
    /// round is forgotten either way.
    pub fn on_done(
        &mut self,
        round: RoundId,
        phase: RoundPhase,
        coordinator: usize,
    ) -> Option<Floors> {
        let k = (round, phase);
        let floors = self.rounds.get(&k).and_then(|r| {
            let (start, direct) = r.start?;
            let acks = r.acks.iter().map(|(_, t)| *t);
            // The coordinator's own ACK is local: it counts from its own delivery, which
            // for a direct round is its own send.
            let own = match self.delivery(k, coordinator) {
                None if direct => Some(start),
                own => own,
            };
            let done = acks.chain(own).max()?;
            // Its own round trip costs nothing; every other member's, out and back.
            let independent = r
                .ack_ns
                .iter()
                .map(|&(node, back)| {
                    let there = r
                        .out_ns
                        .iter()
                        .find(|(n, _)| *n == node)
                        .map_or(0, |(_, t)| *t);
                    there + back
                })
                .max()
                .unwrap_or(0);
            Some(Floors {
                critical_path_ns: done.saturating_sub(start),
                independent_ns: independent,
            })
        });
        self.forget(k);
        floors
    }

    /// Drops everything kept about one round.
    pub fn forget(&mut self, k: RoundKey) {
        if let Some(mut r) = self.rounds.remove(&k) {
            for key in r.seqs.drain(..) {
                if let Some(mut m) = self.multicasts.remove(&key) {
                    m.arrived.clear();
                    self.spare_times.push(m.arrived);
                }
            }
            self.rounds.recycle(r);
        }
    }
}

/// One round's two floors, in simulated ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Floors {
    /// The replay of the protocol's own critical path.
    pub critical_path_ns: u64,
    /// The most any member's round trip with the coordinator took.
    pub independent_ns: u64,
}

/// A time per node, for one round: a list, as a view has few nodes.
type NodeTimes = Vec<(usize, u64)>;

/// Records `t` for `node` unless it has a time already (the first one counts).
fn first_at(list: &mut NodeTimes, node: usize, t: u64) {
    if !list.iter().any(|(n, _)| *n == node) {
        list.push((node, t));
    }
}

/// What a run measured of its ACK rounds, in simulated ns.
pub struct RoundStats {
    pub latency: Histogram<u64>,
    /// The protocol's critical-path floor of each round.
    pub critical: Histogram<u64>,
    /// The protocol-independent floor of each round.
    pub independent: Histogram<u64>,
    /// Per round, measured minus critical-path floor: what processing, queueing, timers
    /// and scheduling added (the percentile ratios alone hide a small excess below the
    /// histograms' 0.1% precision).
    pub excess: Histogram<u64>,
    /// Per round, critical-path minus protocol-independent floor: what the protocol's own
    /// path costs beyond one round trip per member.
    pub beyond_independent: Histogram<u64>,
    /// Rounds completed (and recorded in `latency`).
    pub rounds: u64,
    /// Rounds whose floors could not be replayed (none of their messages were seen).
    pub without_floor: u64,
    /// Rounds whose replayed floor exceeded the measured latency, or whose independent
    /// floor exceeded the critical path; the floors are lower bounds, so anything but 0 is
    /// a bug in the replay.
    pub floor_above_measured: u64,
    /// When the first round started and the last one completed.
    pub first_start_ns: Option<u64>,
    pub last_done_ns: u64,
    /// Completions that fill the pipeline before throughput is counted.
    pub warmup_rounds: u64,
    /// When the last of those completed.
    pub warm_ns: Option<u64>,
}

impl Default for RoundStats {
    fn default() -> Self {
        RoundStats::with_histograms(new_histogram)
    }
}

impl RoundStats {
    fn with_histograms(new: impl Fn() -> Histogram<u64>) -> Self {
        RoundStats {
            latency: new(),
            critical: new(),
            independent: new(),
            excess: new(),
            beyond_independent: new(),
            rounds: 0,
            without_floor: 0,
            floor_above_measured: 0,
            first_start_ns: None,
            last_done_ns: 0,
            warmup_rounds: 0,
            warm_ns: None,
        }
    }
}

impl RoundStats {
    /// Completed rounds per simulated second in steady state: from the completion that
    /// ended the warm-up to the last, so a pipeline of many rounds started at once does
    /// not count its filling. Without a warm-up, from the first start.
    pub fn rounds_per_sim_s(&self) -> f64 {
        let (t0, counted) = match self.warm_ns {
            Some(t) => (t, self.rounds.saturating_sub(self.warmup_rounds)),
            None => match self.first_start_ns {
                Some(t) => (t, self.rounds),
                None => return 0.0,
            },
        };
        if self.last_done_ns > t0 {
            counted as f64 / ((self.last_done_ns - t0) as f64 / 1e9)
        } else {
            0.0
        }
    }

    fn record(&mut self, latency: u64, floors: Option<Floors>) {
        self.latency.saturating_record(latency);
        let Some(f) = floors else {
            self.without_floor += 1;
            return;
        };
        let (c, i) = (f.critical_path_ns, f.independent_ns);
        self.critical.saturating_record(c);
        self.independent.saturating_record(i);
        self.excess.saturating_record(latency.saturating_sub(c));
        self.beyond_independent
            .saturating_record(c.saturating_sub(i));
        if c > latency || i > c {
            self.floor_above_measured += 1;
        }
    }
}

#[derive(Default)]
struct Shared {
    tracker: FloorTracker,
    stats: RoundStats,
}

/// Measures the ACK rounds of one run: install [`RoundLatencies::observer`] on the world's
/// network and [`RoundLatencies::checker`] among its checkers, then read
/// [`RoundLatencies::take`] after the run.
#[derive(Clone, Default)]
pub struct RoundLatencies {
    shared: Arc<Mutex<Shared>>,
}

impl RoundLatencies {
    /// The delivery observer for the world's network.
    pub fn observer(&self) -> sim::DeliveryObserver<Wire<Payload>> {
        let shared = self.shared.clone();
        Box::new(move |env| shared.lock().expect("floor lock").tracker.on_delivery(env))
    }

    /// The checker that records each completed round; it fires `stop` once `rounds`
    /// rounds are recorded. Throughput is counted from the `warmup`-th completion (0:
    /// from the first start).
    pub fn checker(&self, rounds: u64, warmup: u64, stop: Option<StopSignal>) -> Box<dyn Checker> {
        self.shared.lock().expect("floor lock").stats.warmup_rounds = warmup.min(rounds / 2);
        Box::new(RoundChecker {
            shared: self.shared.clone(),
            target: rounds,
            stop,
        })
    }

    /// What was measured.
    pub fn take(&self) -> RoundStats {
        // What stays behind is never read: it gets small histograms that grow on demand,
        // rather than another five of the full range (half a megabyte each, zeroed).
        let spent = RoundStats::with_histograms(|| Histogram::new(3).expect("valid precision"));
        std::mem::replace(&mut self.shared.lock().expect("floor lock").stats, spent)
    }
}

struct RoundChecker {
    shared: Arc<Mutex<Shared>>,
    target: u64,
    stop: Option<StopSignal>,
}

impl Checker for RoundChecker {
    fn name(&self) -> &'static str {
        "round_latencies"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        let _ = event;
        component == "ack"
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let Some(a) = ev.event.get::<AckEvent>() else {
            return Ok(());
        };
        let mut sh = self.shared.lock().expect("floor lock");
        let sh = &mut *sh;
        match a {
            AckEvent::RoundStart { round, phase, .. } => {
                sh.stats.first_start_ns.get_or_insert(ev.t_ns);
                // A fresh start of this phase (the commit of an adopted round runs again
                // under the same id): what the old one left is not this round's.
                sh.tracker.forget((*round, *phase));
            }
            AckEvent::RoundRestart { round, phase, .. }
            | AckEvent::RoundAdopt { round, phase, .. } => sh.tracker.on_restart(*round, *phase),
            AckEvent::RoundAbandon { round, phase } => sh.tracker.forget((*round, *phase)),
            AckEvent::RoundDone {
                round,
                phase,
                latency,
                ..
            } => {
                let floors = sh.tracker.on_done(*round, *phase, ev.node.index());
                let st = &mut sh.stats;
                if st.rounds >= self.target {
                    return Ok(());
                }
                st.record(latency.0, floors);
                st.rounds += 1;
                st.last_done_ns = ev.t_ns;
                if st.warmup_rounds > 0 && st.rounds == st.warmup_rounds {
                    st.warm_ns = Some(ev.t_ns);
                }
                if st.rounds == self.target {
                    if let Some(s) = &self.stop {
                        s.stop();
                    }
                }
            }
            AckEvent::TxnDone { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::engine::ack_round::RoundAck;
    use protocols::engine::membership::{Ordered, SubmitMsg, UnicastMsg};

    const MS: u64 = 1_000_000;
    const ROUND: RoundId = RoundId::new(0, 0, 9);

    fn member(node: usize) -> Member {
        Member {
            node,
            inc: 0,
            job: 0,
            group: 0,
        }
    }

    fn round_msg(phase_start_ns: u64) -> RoundMsg {
        RoundMsg {
            round: ROUND,
            phase: RoundPhase::Prepare,
            attempt: 0,
            txn_start_ns: phase_start_ns,
            phase_start_ns,
        }
    }

    fn deliver(t: &mut FloorTracker, from: usize, to: usize, latency_ms: u64, msg: CeMsg<Payload>) {
        t.on_delivery(&Envelope {
            from,
            to,
            sent_ns: 0,
            latency_ns: latency_ms * MS,
            msg: Wire::Data {
                from_inc: 0,
                to_inc: 0,
                epoch: 0,
                seq: 0,
                ack_epoch: 0,
                ack_upto: 0,
                msg,
            },
        });
    }

    fn ordered(sender: usize, seq: u64, phase_start_ns: u64) -> CeMsg<Payload> {
        CeMsg::Ordered(Arc::new(Ordered {
            view: 1,
            seq,
            gseq: seq,
            sender: member(sender),
            fifo: seq,
            payload: Payload::Round(round_msg(phase_start_ns)),
        }))
    }

    fn ack(from: usize) -> CeMsg<Payload> {
        CeMsg::Unicast(Arc::new(UnicastMsg {
            view: 1,
            from: member(from),
            to: member(0),
            payload: Payload::Ack(RoundAck {
                round: ROUND,
                phase: RoundPhase::Prepare,
                from: member(from),
            }),
        }))
    }

    fn floors(critical_path_ms: u64, independent_ms: u64) -> Option<Floors> {
        Some(Floors {
            critical_path_ns: critical_path_ms * MS,
            independent_ns: independent_ms * MS,
        })
    }

    /// Node 0 coordinates and sequences; nodes 1 and 2 are members. The stability point is
    /// the slower report (3 + 4 ms), then node 1's announcement and ACK (5 + 1 ms) are the
    /// longer tail: the critical path is 13 ms whatever the timers did. The members' round
    /// trips are 2 + 1 and 3 + 2 ms: the protocol-independent floor is 5 ms.
    fn three_node_round(t: &mut FloorTracker, start: u64) {
        deliver(t, 0, 1, 2, ordered(0, 1, start));
        deliver(t, 0, 2, 3, ordered(0, 1, start));
        deliver(t, 1, 0, 1, CeMsg::Received { view: 1, upto: 1 });
        deliver(t, 2, 0, 4, CeMsg::Received { view: 1, upto: 1 });
        deliver(t, 0, 1, 5, CeMsg::Stable { view: 1, upto: 1 });
        deliver(t, 0, 2, 1, CeMsg::Stable { view: 1, upto: 1 });
        deliver(t, 1, 0, 1, ack(1));
        deliver(t, 2, 0, 2, ack(2));
    }

    #[test]
    fn the_floor_is_the_critical_path_through_the_rounds_messages() {
        let mut t = FloorTracker::default();
        three_node_round(&mut t, 100 * MS);
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(13, 5));
        assert!(t.multicasts.is_empty() && t.rounds.is_empty());
    }

    #[test]
    fn a_reused_entry_carries_nothing_of_the_round_before() {
        let mut t = FloorTracker::default();
        three_node_round(&mut t, 0);
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(13, 5));
        // The round again in the next view, from the spare entries the first one left:
        // what the first one recorded (its arrivals, ACKs and deliveries, all earlier)
        // would shorten this one's path.
        let start = 100 * MS;
        let in_view_2 = |mut m: CeMsg<Payload>| {
            if let CeMsg::Ordered(o) = &mut m {
                Arc::make_mut(o).view = 2;
            }
            m
        };
        // Stability at max(3 + 1, 4 + 4) = 8 ms; node 1 delivers at 13 and ACKs at 15, node
        // 2 at 9 and 12. Round trips: 3 + 2 and 4 + 3 ms.
        deliver(&mut t, 0, 1, 3, in_view_2(ordered(0, 1, start)));
        deliver(&mut t, 0, 2, 4, in_view_2(ordered(0, 1, start)));
        deliver(&mut t, 1, 0, 1, CeMsg::Received { view: 2, upto: 1 });
        deliver(&mut t, 2, 0, 4, CeMsg::Received { view: 2, upto: 1 });
        deliver(&mut t, 0, 1, 5, CeMsg::Stable { view: 2, upto: 1 });
        deliver(&mut t, 0, 2, 1, CeMsg::Stable { view: 2, upto: 1 });
        deliver(&mut t, 1, 0, 2, ack(1));
        deliver(&mut t, 2, 0, 3, ack(2));
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(15, 7));
        assert!(t.multicasts.is_empty() && t.rounds.is_empty());
    }

    #[test]
    fn duplicates_and_retransmissions_count_once() {
        let mut t = FloorTracker::default();
        three_node_round(&mut t, 0);
        // Late copies with other latencies change nothing.
        deliver(&mut t, 0, 1, 50, ordered(0, 1, 0));
        deliver(&mut t, 2, 0, 50, CeMsg::Received { view: 1, upto: 1 });
        deliver(&mut t, 1, 0, 50, ack(1));
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(13, 5));
    }

    #[test]
    fn a_remote_coordinator_pays_for_its_submit_and_its_own_delivery() {
        // Node 1 coordinates, node 0 sequences: submit 2 ms, then the round as above,
        // and node 1's own ACK is local, counted from its delivery.
        let mut t = FloorTracker::default();
        deliver(
            &mut t,
            1,
            0,
            2,
            CeMsg::Submit(Arc::new(SubmitMsg {
                view: 1,
                member: member(1),
                fifo: 1,
                payload: Payload::Round(round_msg(0)),
            })),
        );
        let mut o = ordered(1, 1, 0);
        if let CeMsg::Ordered(x) = &mut o {
            Arc::make_mut(x).fifo = 1;
        }
        deliver(&mut t, 0, 1, 3, o);
        deliver(&mut t, 1, 0, 1, CeMsg::Received { view: 1, upto: 1 });
        deliver(&mut t, 0, 1, 4, CeMsg::Stable { view: 1, upto: 1 });
        // Sequencer node 0's member ACKs at once on stability (2 + 3 + 1 = 6) + 1 ms.
        let mut a = ack(0);
        if let CeMsg::Unicast(u) = &mut a {
            Arc::make_mut(u).to = member(1);
        }
        deliver(&mut t, 0, 1, 1, a);
        // Node 1 delivers at 6 + 4 = 10 ms; its own ACK is local. Node 0 is reached by
        // the submit (2 ms) and ACKs in 1 ms: that is the only round trip.
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 1), floors(10, 3));
    }

    #[test]
    fn a_restart_forgets_the_acks_of_the_attempt_before() {
        let mut t = FloorTracker::default();
        three_node_round(&mut t, 0);
        t.on_restart(ROUND, RoundPhase::Prepare);
        // Only the coordinator's own delivery is left: the stability point, 7 ms; and no
        // member has ACKed since.
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(7, 0));
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), None, "forgotten");
    }

    fn direct(to: usize) -> CeMsg<Payload> {
        CeMsg::Unicast(Arc::new(UnicastMsg {
            view: 1,
            from: member(0),
            to: member(to),
            payload: Payload::Round(round_msg(0)),
        }))
    }

    #[test]
    fn a_direct_rounds_floors_are_its_members_round_trips() {
        // Node 0 coordinates: out 2 and 4 ms, ACKs back 3 and 1 ms. Both paths take 5 ms,
        // and so do both floors.
        let mut t = FloorTracker::default();
        deliver(&mut t, 0, 1, 2, direct(1));
        deliver(&mut t, 0, 2, 4, direct(2));
        deliver(&mut t, 1, 0, 3, ack(1));
        deliver(&mut t, 2, 0, 1, ack(2));
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(5, 5));
        // Alone in its view, the coordinator's round costs nothing.
        deliver(&mut t, 0, 1, 2, direct(1));
        t.on_restart(ROUND, RoundPhase::Prepare);
        assert_eq!(t.on_done(ROUND, RoundPhase::Prepare, 0), floors(0, 0));
    }
}
