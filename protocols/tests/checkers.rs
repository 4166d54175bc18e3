//! The engine's checkers on hand-written traces: each accepts a correct history and
//! rejects the one broken history it exists for, so its teeth do not depend on a
//! simulation happening to produce the bug.

use protocols::engine::ack_round::{AckEvent, RoundPhase};
use protocols::engine::checkers::{
    AckRoundProgress, AgreedOrder, FifoPerSender, Identity, MainThreadResponsive, NoDuplicates,
    NoGhosts, NotifiedOnce, NotifyWithin, PrimaryComponent, ViewAgreement, VirtualSynchrony,
};
use protocols::engine::job::JobEvent;
use protocols::engine::membership::CeEvent;
use protocols::engine::{CeConfig, Departure, Member, NodeInc, Reason, RoundId};
mod common;
use common::{at, violations};
use sim::check::check_events;
use sim::event::NodeId;
use sim::time::SimTime;
use sim::world::{FaultEvent, NodeEvent, WorldEvent};
use sim::{FaultKind, Recorded};

/// Member `node.0.0` of the first group.
fn m(node: usize) -> Member {
    mg(node, 0)
}

/// Member `node.0.0` of `group`.
fn mg(node: usize, group: u32) -> Member {
    Member {
        node,
        inc: 0,
        job: 0,
        group,
    }
}

fn install(t: u64, node: usize, view: u64, nodes: &[usize], members: &[Member]) -> Recorded {
    at(
        t,
        node,
        CeEvent::Install {
            view,
            coord: NodeId(0),
            nodes: nodes.iter().map(|&node| NodeInc { node, inc: 0 }).collect(),
            members: members.iter().copied().collect(),
        },
    )
}

fn job_view(
    t: u64,
    member: Member,
    view: u64,
    members: &[Member],
    left: &[(Member, Reason)],
    joined: &[Member],
) -> Recorded {
    at(
        t,
        member.node,
        JobEvent::View {
            member,
            view,
            members: members.iter().copied().collect(),
            left: left
                .iter()
                .map(|&(member, reason)| Departure { member, reason })
                .collect(),
            joined: joined.to_vec(),
        },
    )
}

fn deliver(t: u64, member: Member, view: u64, seq: u64, sender: Member, fifo: u64) -> Recorded {
    at(
        t,
        member.node,
        JobEvent::Deliver {
            member,
            view,
            seq,
            sender,
            fifo,
        },
    )
}

/// Three members in view 1, with deliveries `d0`, `d1` (seq, sender node, fifo) at 0.0.0
/// and 1.0.0, then view 2 without n2.
fn history(d0: &[(u64, usize, u64)], d1: &[(u64, usize, u64)]) -> Vec<Recorded> {
    let m3 = [m(0), m(1), m(2)];
    let mut e = vec![
        at(
            0,
            NodeId::WORLD,
            WorldEvent::Start {
                nodes: 3,
                faults: 0,
            },
        ),
        install(1, 0, 1, &[0, 1, 2], &m3),
        job_view(1, m(0), 1, &m3, &[], &[m(1), m(2)]),
        job_view(1, m(1), 1, &m3, &[], &[m(0), m(2)]),
    ];
    for (seq, snd, f) in d0 {
        e.push(deliver(2, m(0), 1, *seq, m(*snd), *f));
    }
    for (seq, snd, f) in d1 {
        e.push(deliver(2, m(1), 1, *seq, m(*snd), *f));
    }
    let m2 = [m(0), m(1)];
    let gone = [(m(2), Reason::NodeDown)];
    e.push(install(3, 0, 2, &[0, 1], &m2));
    e.push(job_view(3, m(0), 2, &m2, &gone, &[]));
    e.push(job_view(3, m(1), 2, &m2, &gone, &[]));
    e
}

#[test]
fn virtual_synchrony_rejects_different_deliveries_between_the_same_views() {
    let same = history(&[(1, 2, 1)], &[(1, 2, 1)]);
    assert!(violations(Box::new(VirtualSynchrony::default()), &same).is_empty());
    let diff = history(&[(1, 2, 1), (2, 2, 2)], &[(1, 2, 1)]);
    let v = violations(Box::new(VirtualSynchrony::default()), &diff);
    assert_eq!(
        v,
        [
            "1.0.0 and 0.0.0 both went from view 1 to view 2, but delivered different \
          messages in 1 (1 vs 2 messages)"
        ]
    );
}

#[test]
fn agreed_order_rejects_a_different_message_at_one_sequence_number_and_gaps() {
    let ok = history(&[(1, 2, 1), (2, 1, 1)], &[(1, 2, 1), (2, 1, 1)]);
    assert!(violations(Box::new(AgreedOrder::default()), &ok).is_empty());
    let swapped = history(&[(1, 2, 1), (2, 1, 1)], &[(1, 1, 1), (2, 2, 1)]);
    assert_eq!(
        violations(Box::new(AgreedOrder::default()), &swapped),
        ["view 1 seq 1: 1.0.0 delivered 1.0.0#1, another member delivered 2.0.0#1"]
    );
    let gap = history(&[(1, 2, 1), (3, 1, 1)], &[]);
    assert_eq!(
        violations(Box::new(AgreedOrder::default()), &gap),
        ["0.0.0 delivered seq 3 of view 1, expected seq 2"]
    );
}

#[test]
fn fifo_rejects_reordering_and_gaps_and_no_duplicates_rejects_repeats() {
    let ok = history(&[(1, 2, 1), (2, 2, 2)], &[]);
    assert!(violations(Box::new(FifoPerSender::default()), &ok).is_empty());
    let reordered = history(&[(1, 2, 2), (2, 2, 1)], &[]);
    assert_eq!(
        violations(Box::new(FifoPerSender::default()), &reordered),
        ["0.0.0 delivered 2.0.0#1 after 2.0.0#2"]
    );
    let gap = history(&[(1, 2, 1), (2, 2, 3)], &[]);
    assert!(violations(Box::new(FifoPerSender::default()), &gap)[0].contains("gap"));
    let twice = history(&[(1, 2, 1), (2, 2, 1)], &[]);
    assert_eq!(
        violations(Box::new(NoDuplicates::default()), &twice),
        ["0.0.0 delivered 2.0.0#1 twice"]
    );
}

#[test]
fn no_ghosts_rejects_delivery_to_a_job_that_left_or_from_a_non_member() {
    let mut e = history(&[(1, 2, 1)], &[]);
    assert!(violations(Box::new(NoGhosts::default()), &e).is_empty());
    e.push(at(
        4,
        1,
        JobEvent::Unregister {
            member: m(1),
            why: "panic",
        },
    ));
    e.push(deliver(5, m(1), 2, 1, m(0), 1));
    assert_eq!(
        violations(Box::new(NoGhosts::default()), &e),
        ["1.0.0 got 0.0.0#1 in view 2 after it unregistered"]
    );
    let from_outsider = history(&[(1, 3, 1)], &[]);
    assert_eq!(
        violations(Box::new(NoGhosts::default()), &from_outsider),
        ["0.0.0 got a message from 3.0.0 in view 1, which 3.0.0 is not a member of"]
    );
}

#[test]
fn notified_once_rejects_a_missing_or_wrong_departure() {
    let ok = history(&[], &[]);
    assert!(violations(Box::new(NotifiedOnce::default()), &ok).is_empty());
    let m2 = [m(0), m(1)];
    let mut missing = history(&[], &[]);
    let last = missing.len() - 1;
    missing[last] = job_view(3, m(1), 2, &m2, &[], &[]);
    assert_eq!(
        violations(Box::new(NotifiedOnce::default()), &missing),
        ["1.0.0 went to view 2 without being told that 2.0.0 left"]
    );
    let mut wrong = history(&[], &[]);
    wrong[last] = job_view(3, m(1), 2, &m2, &[(m(2), Reason::Left)], &[]);
    assert_eq!(
        violations(Box::new(NotifiedOnce::default()), &wrong),
        ["1.0.0 was told in view 2 that 2.0.0 left with the wrong reason Left"]
    );
}

#[test]
fn view_agreement_and_primary_component_reject_split_brain() {
    let mut e = history(&[], &[]);
    assert!(violations(Box::new(ViewAgreement::default()), &e).is_empty());
    assert!(violations(Box::new(PrimaryComponent::default()), &e).is_empty());
    e.push(install(4, 2, 2, &[2], &[m(2)]));
    assert_eq!(
        violations(Box::new(ViewAgreement::default()), &e),
        [
            "view 2: n0 installed nodes [0:0,1:0] members [0.0.0,1.0.0], \
          n2 installed nodes [2:0] members [2.0.0]"
        ]
    );
    assert_eq!(
        violations(Box::new(PrimaryComponent::default()), &e),
        ["n2 installed view 2 with 1 of 3 nodes [2:0]: not a majority (split brain)"]
    );
}

/// A `fault.start` with no kind-specific field set.
fn fault_start(fault: u64, kind: FaultKind) -> FaultEvent {
    FaultEvent::start(fault as usize, kind)
}

fn pause(t: u64, fault: u64, node: u64) -> Recorded {
    let mut f = fault_start(fault, FaultKind::Pause);
    if let FaultEvent::Start { target, .. } = &mut f {
        *target = Some(NodeId(node));
    }
    at(t, NodeId::WORLD, f)
}

fn fault_end(t: u64, fault: u64) -> Recorded {
    at(
        t,
        NodeId::WORLD,
        FaultEvent::End {
            fault,
            kind: FaultKind::Pause,
        },
    )
}

/// Round 1/1 of view 1 in the first group: `event` is `start`, `done` or `abandon`.
fn round_of(t: u64, node: u64, round: RoundId, phase: RoundPhase, event: &str) -> Recorded {
    let ev = match event {
        "start" => AckEvent::RoundStart {
            round,
            phase,
            view: round.view(),
            attempt: 0,
        },
        "done" => AckEvent::RoundDone {
            round,
            phase,
            latency: sim::time::SimDuration(0),
            view: round.view(),
            attempts: 1,
            members: 3,
        },
        "abandon" => AckEvent::RoundAbandon { round, phase },
        other => panic!("no round event {other}"),
    };
    at(t, node, ev)
}

fn round(t: u64, node: u64, event: &str) -> Recorded {
    round_of(t, node, RoundId::new(1, 0, 1), RoundPhase::Prepare, event)
}

/// With the `fast` preset a round phase has 200 ms from its start, 3.04 s from a
/// disruptive fault event and 1.04 s from a job's unregistering (`CeConfig::bounds`).
fn progress_violations(events: &[Recorded]) -> Vec<String> {
    violations(
        Box::new(AckRoundProgress::new(5, &CeConfig::fast(), false)),
        events,
    )
}

/// `history`, then `on_time`, passes `ack_round_progress`; `history`, then `too_late`,
/// fails it, blaming the round's coordinator `node`.
fn assert_round_due(history: &[Recorded], on_time: Recorded, too_late: Recorded, node: u64) {
    let mut in_time = history.to_vec();
    in_time.push(on_time);
    assert!(progress_violations(&in_time).is_empty());
    let mut late = history.to_vec();
    late.push(too_late);
    assert!(progress_violations(&late)[0].contains(&format!("coordinated by {}", NodeId(node))));
}

#[test]
fn ack_round_progress_stops_the_bound_while_the_coordinator_is_paused() {
    // n0 is frozen from 1.5 s to 7 s by two overlapping pauses: its clock stops, and the
    // end of the second, a disruptive event, leaves the round 3.04 s: due at 10.04 s.
    let paused = [
        round(1_000, 0, "start"),
        pause(1_500, 0, 0),
        pause(4_000, 1, 0),
        fault_end(4_500, 0),
        fault_end(7_000, 1),
    ];
    assert_round_due(
        &paused,
        round(10_000, 0, "abandon"),
        round(10_100, 0, "abandon"),
        0,
    );
    // Another node's pause does not stop the bound of n0's round, though its start and
    // end restart it; the verdict names the round as the trace prints it.
    let mut other = paused.to_vec();
    other[1] = pause(1_500, 0, 1);
    other[2] = pause(4_000, 1, 1);
    other.truncate(4);
    other.push(round(7_600, 0, "abandon"));
    assert_eq!(
        progress_violations(&other),
        [
            "prepare round 1/1 coordinated by n0 neither completed nor was abandoned by \
          7.540000s"
        ]
    );
    // Without a disruption, a phase has 200 ms.
    let quiet = [round(1_000, 0, "start")];
    assert_round_due(&quiet, round(1_200, 0, "done"), round(1_300, 0, "done"), 0);
    assert_eq!(
        other[0].view(0).to_string(),
        "#0 1.000000s n0 ack.round_start round=1/1 phase=prepare view=1 attempt=0"
    );
    // A run that ends with the coordinator still paused does not blame it.
    let frozen = [round(1_000, 0, "start"), pause(2_000, 0, 0)];
    assert!(progress_violations(&frozen).is_empty());
}

#[test]
fn ack_round_progress_blames_an_overdue_round_at_the_first_delivery_past_its_deadline() {
    // Deliveries change nothing the checker keeps, but they date its bound check (which
    // compares them with its earliest running deadline alone): n0's round, due at 1.2 s,
    // passes the deliveries up to then and fails at the first one after.
    let d = |t| deliver(t, m(1), 1, 1, m(0), 1);
    let start = round(1_000, 0, "start");
    let late = [start.clone(), d(1_100), d(1_200), d(1_250), d(1_300)];
    let checker = Box::new(AckRoundProgress::new(5, &CeConfig::fast(), false));
    let found = check_events(vec![checker], &late, &common::end());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].event_index, found[0].t_ns), (3, 1_250_000_000));
    let on_time = [start.clone(), d(1_100), d(1_200), round(1_200, 0, "done")];
    assert!(progress_violations(&on_time).is_empty());
    // A round that completed leaves no deadline behind: later deliveries pass.
    let done = [start, round(1_100, 0, "done"), d(5_000)];
    assert!(progress_violations(&done).is_empty());
}

fn clog(t: u64, fault: u64, x: u64, y: u64) -> Recorded {
    let mut f = fault_start(fault, FaultKind::Clog);
    if let FaultEvent::Start { a, b, .. } = &mut f {
        *a = Some(NodeId(x));
        *b = Some(NodeId(y));
    }
    at(t, NodeId::WORLD, f)
}

/// Round 1/5 of group 1 in view 1.
fn group_round(t: u64, node: u64, event: &str) -> Recorded {
    round_of(t, node, RoundId::new(1, 1, 5), RoundPhase::Commit, event)
}

#[test]
fn ack_round_progress_stops_the_bound_while_a_clog_cuts_the_coordinator_from_a_member() {
    // n1 coordinates group 1 with n3. Two overlapping clogs cut them apart from 2 s to
    // 12 s, the clock stopped; the last end leaves 3.04 s: due at 15.04 s.
    let (g1, g3) = (mg(1, 1), mg(3, 1));
    let cut = [
        job_view(500, g1, 1, &[g1, g3], &[], &[g3]),
        group_round(1_000, 1, "start"),
        clog(2_000, 0, 3, 1),
        clog(5_000, 1, 1, 3),
        fault_end(6_000, 0),
        fault_end(12_000, 1),
    ];
    assert_round_due(
        &cut,
        group_round(15_000, 1, "done"),
        group_round(15_100, 1, "done"),
        1,
    );
    // A clog between the coordinator and a node outside its view does not stop the bound:
    // 3.04 s from the second clog's start.
    let mut outside = cut[..4].to_vec();
    outside[2] = clog(2_000, 0, 1, 2);
    outside[3] = clog(5_000, 1, 2, 1);
    outside.push(group_round(8_100, 1, "done"));
    assert_eq!(
        progress_violations(&outside),
        [
            "commit round 1/5@1 coordinated by n1 neither completed nor was abandoned by \
          8.040000s"
        ]
    );
    // Nor does a clog between two other members: the ACKs still reach the coordinator.
    let g2 = mg(2, 1);
    let wide = job_view(500, g1, 1, &[g1, g2, g3], &[], &[]);
    let others = [
        wide,
        group_round(1_000, 1, "start"),
        clog(2_000, 0, 2, 3),
        group_round(5_100, 1, "done"),
    ];
    assert!(progress_violations(&others)[0].contains("coordinated by n1"));
    // A view without n3 ends the hold-up: cut from 2 s to 4 s, the round is due at
    // 5.04 + 2 s.
    let mut dropped = cut[..3].to_vec();
    dropped.push(job_view(
        4_000,
        g1,
        2,
        &[g1],
        &[(g3, Reason::NodeDown)],
        &[],
    ));
    dropped.push(group_round(7_100, 1, "done"));
    assert!(progress_violations(&dropped)[0].contains("coordinated by n1"));
    let mut in_time = dropped.clone();
    in_time[4] = group_round(7_000, 1, "done");
    assert!(progress_violations(&in_time).is_empty());
    // A run that ends with the pair still cut does not blame the coordinator.
    assert!(progress_violations(&cut[..4]).is_empty());
}

#[test]
fn a_crash_ends_a_pause_for_the_round_bound_and_the_probe_limit() {
    // The world emits no end for a pause a crash cut short: after the restart n0 runs,
    // so its new round has its whole bound and no more, and its main thread must answer.
    let mut e = vec![
        pause(1_000, 0, 0),
        at(2_000, 0, NodeEvent::Crash),
        at(3_000, 0, NodeEvent::Restart { incarnation: 1 }),
        round(4_000, 0, "start"),
    ];
    e.push(round(11_500, 0, "abandon"));
    assert!(progress_violations(&e)[0].contains("coordinated by n0"));
    let unresponsive = at(
        9_000,
        0,
        CeEvent::JobUnresponsive {
            member: Member {
                node: 0,
                inc: 1,
                job: 0,
                group: 0,
            },
            since: SimTime(8_000_000_000),
        },
    );
    let probe = [e[0].clone(), e[1].clone(), e[2].clone(), unresponsive];
    let v = violations(Box::new(MainThreadResponsive::default()), &probe);
    assert_eq!(
        v,
        ["the main thread of job 0.1.0 on n0 has not answered a CE probe for 1.000000s"]
    );
    // Without the crash the node is still paused: the missed probe is excused.
    let still_paused = [probe[0].clone(), probe[3].clone()];
    assert!(violations(Box::new(MainThreadResponsive::default()), &still_paused).is_empty());
}

fn register(t: u64, member: Member) -> Recorded {
    at(t, member.node, JobEvent::Register { member, group: "g" })
}

fn multicast(t: u64, member: Member, fifo: u64) -> Recorded {
    at(t, member.node, JobEvent::Multicast { member, fifo })
}

fn boot(t: u64, node: usize, incarnation: u64) -> Recorded {
    at(
        t,
        node,
        CeEvent::Boot {
            incarnation,
            heartbeat_interval: sim::SimDuration::from_ms(100),
            failure_timeout: sim::SimDuration::from_ms(500),
        },
    )
}

#[test]
fn identity_holds_when_every_life_takes_a_new_identity() {
    let second_life = Member { inc: 1, ..m(1) };
    let e = vec![
        boot(0, 1, 0),
        register(1, m(1)),
        register(1, m(2)),
        multicast(3, m(1), 1),
        deliver(5, m(2), 1, 1, m(1), 1),
        at(10, 1usize, NodeEvent::Crash),
        at(20, 1usize, NodeEvent::Restart { incarnation: 1 }),
        boot(20, 1, 1),
        register(21, second_life),
        multicast(22, second_life, 1),
        deliver(25, m(2), 2, 1, second_life, 1),
        // The first life's message, delivered late under its own name, is no violation.
        deliver(26, m(2), 2, 2, m(1), 1),
    ];
    assert!(violations(Box::new(Identity::default()), &e).is_empty());
}

#[test]
fn identity_catches_a_reused_incarnation_a_reused_member_and_an_unknown_sender() {
    let restarted = vec![
        boot(0, 1, 0),
        at(20, 1usize, NodeEvent::Restart { incarnation: 1 }),
        boot(20, 1, 0),
    ];
    assert_eq!(
        violations(Box::new(Identity::default()), &restarted),
        ["n1's engine booted as incarnation 0 in the node's life 1"]
    );
    let twice = vec![register(1, m(1)), register(9, m(1))];
    assert_eq!(
        violations(Box::new(Identity::default()), &twice),
        ["1.0.0 registered again: two lives share one identity"]
    );
    let old_life = vec![
        at(20, 1usize, NodeEvent::Restart { incarnation: 1 }),
        register(21, m(1)),
    ];
    assert_eq!(
        violations(Box::new(Identity::default()), &old_life),
        ["a job registered as 1.0.0 in life 1 of n1"]
    );
    let forged = vec![register(1, m(2)), deliver(5, m(2), 1, 1, m(3), 1)];
    assert_eq!(
        violations(Box::new(Identity::default()), &forged),
        ["2.0.0 was delivered a message from 3.0.0, which never registered"]
    );
}

#[test]
fn identity_catches_an_earlier_lifes_message_delivered_as_the_current_ones() {
    // The job's first incarnation multicast #1 and #2 and then failed; its successor
    // multicast only #1, yet #2 is delivered as the successor's.
    let successor = Member { job: 1, ..m(1) };
    let relabelled = vec![
        register(1, m(1)),
        register(1, m(2)),
        multicast(2, m(1), 1),
        multicast(3, m(1), 2),
        register(10, successor),
        multicast(11, successor, 1),
        deliver(12, m(2), 2, 1, successor, 1),
        deliver(13, m(2), 2, 2, successor, 2),
    ];
    assert_eq!(
        violations(Box::new(Identity::default()), &relabelled),
        [
            "2.0.0 was delivered 1.0.1#2, a number 1.0.1 never gave a multicast of its own (its \
          latest is #1)"
        ]
    );
    // A multicast recorded on another node, or by a life that is over, is forged.
    let elsewhere = vec![
        register(1, m(1)),
        at(
            2,
            2usize,
            JobEvent::Multicast {
                member: m(1),
                fifo: 1,
            },
        ),
    ];
    assert_eq!(
        violations(Box::new(Identity::default()), &elsewhere),
        ["1.0.0 multicast #1 from n2, whose current life is 0"]
    );
    let dead = vec![
        register(1, m(1)),
        at(20, 1usize, NodeEvent::Restart { incarnation: 1 }),
        multicast(21, m(1), 1),
    ];
    assert_eq!(
        violations(Box::new(Identity::default()), &dead),
        ["1.0.0 multicast #1 from n1, whose current life is 1"]
    );
}

fn slow(t: u64, fault: u64, node: u64) -> Recorded {
    let mut f = fault_start(fault, FaultKind::WorkThread);
    if let FaultEvent::Start {
        target,
        mode,
        thread,
        ..
    } = &mut f
    {
        *target = Some(NodeId(node));
        *thread = Some(0);
        *mode = Some("slow");
    }
    at(t, NodeId::WORLD, f)
}

#[test]
fn ack_round_progress_stops_the_bound_while_a_node_of_the_view_may_be_slow() {
    // n1, in n0's view, gets a slow work thread at 2 s; the thread times its window from
    // when it takes the fault, so the end of the fault's window does not end the hold-up:
    // only the heal at 10 s does, which leaves the round 3.04 s: due at 13.04 s.
    let (m0, m1) = (m(0), m(1));
    let slowed = [
        job_view(500, m0, 1, &[m0, m1], &[], &[m1]),
        round(1_000, 0, "start"),
        slow(2_000, 0, 1),
        fault_end(3_000, 0),
        at(10_000, NodeId::WORLD, FaultEvent::HealAll),
    ];
    assert_round_due(
        &slowed,
        round(13_000, 0, "done"),
        round(13_100, 0, "done"),
        0,
    );
    // A crash of the slow node ends its window: due 3.04 s after it.
    let mut crashed = slowed[..4].to_vec();
    crashed.push(at(5_000, 1, NodeEvent::Crash));
    assert_round_due(
        &crashed,
        round(8_000, 0, "done"),
        round(8_100, 0, "done"),
        0,
    );
    // A slow thread on a node outside the view holds nothing up: due 3.04 s after the
    // window's end.
    let mut outside = slowed[..4].to_vec();
    outside[2] = slow(2_000, 0, 3);
    outside.push(round(6_100, 0, "done"));
    assert!(progress_violations(&outside)[0].contains("coordinated by n0"));
    // Nor does the start of a hang: the thread may take it much later.
    let mut hang = slowed[..4].to_vec();
    hang[2] = {
        let mut f = fault_start(0, FaultKind::WorkThread);
        if let FaultEvent::Start { target, mode, .. } = &mut f {
            *target = Some(NodeId(1));
            *mode = Some("hang");
        }
        at(2_000, NodeId::WORLD, f)
    };
    hang.push(round(6_100, 0, "done"));
    assert!(progress_violations(&hang)[0].contains("coordinated by n0"));
}

#[test]
fn ack_round_progress_stops_the_bound_while_a_thread_of_the_view_hangs() {
    // n1's work thread takes a hang at 1.1 s: the round waits for the watchdog, stopped,
    // until n1's job unregisters at 1.8 s, which leaves it 1.04 s: due at 2.84 s.
    let (m0, m1) = (m(0), m(1));
    let hung = [
        job_view(500, m0, 1, &[m0, m1], &[], &[m1]),
        round(1_000, 0, "start"),
        at(
            1_100,
            1,
            JobEvent::WorkFault {
                member: m1,
                thread: 0,
                mode: "hang",
                queued: 0,
            },
        ),
        at(
            1_800,
            1,
            JobEvent::Unregister {
                member: m1,
                why: "hang",
            },
        ),
    ];
    assert_round_due(&hung, round(2_800, 0, "done"), round(2_900, 0, "done"), 0);
    // A hang outside the view holds nothing up: the phase's 200 ms run out at 1.2 s.
    let mut outside = hung[..2].to_vec();
    outside.push(at(
        2_000,
        3,
        JobEvent::WorkFault {
            member: m(3),
            thread: 0,
            mode: "hang",
            queued: 0,
        },
    ));
    assert!(progress_violations(&outside)[0].contains("coordinated by n0"));
}

/// Five members in view 1, every job given it at 0.1 s.
fn five_in_a_view() -> Vec<Recorded> {
    let all: Vec<Member> = (0..5).map(m).collect();
    let mut e = vec![install(100, 0, 1, &[0, 1, 2, 3, 4], &all)];
    e.extend(all.iter().map(|x| job_view(100, *x, 2, &all, &[], &[])));
    e
}

/// `survivor`'s job is given view 2 without the members of `departed`.
fn told(t: u64, survivor: usize, departed: &[usize]) -> Recorded {
    let members: Vec<Member> = (0..5).filter(|x| !departed.contains(x)).map(m).collect();
    let left: Vec<(Member, Reason)> = departed.iter().map(|d| (m(*d), Reason::NodeDown)).collect();
    job_view(t, m(survivor), 3, &members, &left, &[])
}

/// Every one of `survivors` told at `t` that `departed` left.
fn all_told(t: u64, survivors: &[usize], departed: &[usize]) -> Vec<Recorded> {
    survivors.iter().map(|s| told(t, *s, departed)).collect()
}

/// `notify_within` with the `fast` preset: 840 ms from a cause (1.84 s with a clog open),
/// 2.84 s from a disruptive fault event (`CeConfig::bounds`), over a run that ends at 100 s.
fn notify_violations(events: &[Recorded]) -> Vec<String> {
    violations(Box::new(NotifyWithin::new(5, &CeConfig::fast())), events)
}

fn fault_at(t: u64, fault: u64, kind: FaultKind, set: impl FnOnce(&mut FaultEvent)) -> Recorded {
    let mut f = fault_start(fault, kind);
    set(&mut f);
    at(t, NodeId::WORLD, f)
}

fn end_of(t: u64, fault: u64, kind: FaultKind) -> Recorded {
    at(t, NodeId::WORLD, FaultEvent::End { fault, kind })
}

#[test]
fn notify_within_times_a_crash_while_a_clog_is_open() {
    // The clog (n1-n2) opened at 0.1 s, long settled: n3's crash at 5 s is due at 6.84 s,
    // the detection bound and the retry cap a clog allows for (a rival coordinator's
    // backoff), though a fault window is open.
    let mut e = five_in_a_view();
    e.push(clog(100, 0, 1, 2));
    e.push(at(5_000, 3, NodeEvent::Crash));
    let mut on_time = e.clone();
    on_time.extend(all_told(6_800, &[0, 1, 2, 4], &[3]));
    assert!(notify_violations(&on_time).is_empty());
    let mut late = e.clone();
    late.extend(all_told(6_800, &[0, 1, 4], &[3]));
    late.push(told(6_900, 2, &[3]));
    let v = notify_violations(&late);
    assert!(
        v[0].contains("2.0.0 was not told") && v[0].contains("n3 crashed"),
        "{v:?}"
    );
}

#[test]
fn notify_within_restarts_the_bound_at_each_disruptive_event() {
    // A 100 ms latency spike starts half a second after the crash: the departure is now
    // due 2.84 s and four spiked trips (0.4 s) after the spike's start, at 8.74 s.
    let mut e = five_in_a_view();
    e.push(at(5_000, 3, NodeEvent::Crash));
    e.push(fault_at(5_500, 0, FaultKind::LatencySpike, |f| {
        if let FaultEvent::Start {
            target,
            extra_latency,
            ..
        } = f
        {
            *target = Some(NodeId(1));
            *extra_latency = Some(sim::time::SimDuration(100_000_000));
        }
    }));
    let mut on_time = e.clone();
    on_time.extend(all_told(8_700, &[0, 1, 2, 4], &[3]));
    assert!(notify_violations(&on_time).is_empty());
    let mut late = e.clone();
    late.extend(all_told(8_800, &[0, 1, 2, 4], &[3]));
    assert!(notify_violations(&late)[0].contains("n3 crashed"));
}

#[test]
fn notify_within_stops_its_clock_while_packets_are_lost() {
    // Packet loss from 5.2 s to 9 s: nothing is due while it lasts, and the departure is
    // due 2.84 s after it ends, at 11.84 s.
    let mut e = five_in_a_view();
    e.push(at(5_000, 3, NodeEvent::Crash));
    e.push(fault_at(5_200, 0, FaultKind::PacketLoss, |_| {}));
    e.push(at(8_000, 0, CeEvent::Suspect { peer: NodeId(3) }));
    e.push(end_of(9_000, 0, FaultKind::PacketLoss));
    let mut on_time = e.clone();
    on_time.extend(all_told(11_800, &[0, 1, 2, 4], &[3]));
    assert!(notify_violations(&on_time).is_empty());
    let mut late = e.clone();
    late.extend(all_told(11_900, &[0, 1, 2, 4], &[3]));
    assert!(notify_violations(&late)[0].contains("n3 crashed"));
}

#[test]
fn notify_within_voids_a_partition_departure_once_its_side_is_back() {
    // n4 is cut off at 5 s; the partition heals at 5.5 s, before the survivors were told:
    // whether they hear of it first is a race, so nothing is owed.
    let partition = fault_at(5_000, 0, FaultKind::Partition, |f| {
        if let FaultEvent::Start {
            side_a, one_way, ..
        } = f
        {
            *side_a = Some(vec![NodeId(4)]);
            *one_way = Some(false);
        }
    });
    let mut healed = five_in_a_view();
    healed.push(partition.clone());
    healed.push(end_of(5_500, 0, FaultKind::Partition));
    assert!(notify_violations(&healed).is_empty());
    // Still cut off, the survivors are owed it.
    let mut cut = five_in_a_view();
    cut.push(partition);
    assert!(notify_violations(&cut)[0].contains("never told that 4.0.0 left"));
    // A crash on the majority side during the partition is owed to the majority, heal or
    // not (n4, on the minority side then, is not a survivor of it).
    let mut crash = healed.clone();
    crash.insert(crash.len() - 1, at(5_200, 0, NodeEvent::Crash));
    crash.extend(all_told(5_900, &[1, 2, 3], &[0]));
    assert!(notify_violations(&crash).is_empty());
    crash.truncate(crash.len() - 1);
    assert!(notify_violations(&crash)[0].contains("3.0.0 was never told that 0.0.0 left"));
}

#[test]
fn notify_within_waits_while_no_connected_majority_holds_the_survivor() {
    // n3 crashed at 1 s; from 2 s a clog cuts n0 from n1; at 5 s a partition cuts n4 off.
    // n0, n1 and n2 are a majority, but n0 and n1 do not hear each other: n2 hears a
    // majority, yet no view may form with it, and it may never lose quorum. Its clock
    // stops until the clog ends at 8 s; n4's departure is due 2.84 s later.
    let mut e = five_in_a_view();
    e.push(at(1_000, 3, NodeEvent::Crash));
    e.extend(all_told(1_500, &[0, 1, 2, 4], &[3]));
    e.push(clog(2_000, 1, 0, 1));
    e.push(fault_at(5_000, 2, FaultKind::Partition, |f| {
        if let FaultEvent::Start {
            side_a, one_way, ..
        } = f
        {
            *side_a = Some(vec![NodeId(4)]);
            *one_way = Some(false);
        }
    }));
    e.push(at(7_000, 0, CeEvent::Suspect { peer: NodeId(4) }));
    e.push(end_of(8_000, 1, FaultKind::Clog));
    let mut on_time = e.clone();
    on_time.extend(all_told(10_800, &[0, 1, 2], &[3, 4]));
    assert!(notify_violations(&on_time).is_empty());
    let mut late = e.clone();
    late.extend(all_told(10_900, &[0, 1, 2], &[3, 4]));
    assert!(notify_violations(&late)[0].contains("partition n4"));
}
