//! The engine's checkers on hand-written traces: each accepts a correct history and
//! rejects the one broken history it exists for, so its teeth do not depend on a
//! simulation happening to produce the bug.

use protocols::engine::checkers::{
    AckRoundProgress, AgreedOrder, FifoPerSender, MainThreadResponsive, NoDuplicates, NoGhosts,
    NotifiedOnce, PrimaryComponent, ViewAgreement, VirtualSynchrony,
};
use protocols::engine::CeConfig;
mod common;
use common::{ev, s, u, violations};
use sim::{Recorded, WORLD_NODE};

fn install(t: u64, node: u64, view: u64, nodes: &str, members: &str) -> Recorded {
    ev(
        t,
        node,
        "ce",
        "install",
        &[
            ("view", u(view)),
            ("coord", u(0)),
            ("nodes", s(nodes)),
            ("members", s(members)),
        ],
    )
}

fn job_view(t: u64, member: &str, view: u64, members: &str, left: &str, joined: &str) -> Recorded {
    let node = member.split('.').next().unwrap().parse().unwrap();
    ev(
        t,
        node,
        "job",
        "view",
        &[
            ("member", s(member)),
            ("view", u(view)),
            ("members", s(members)),
            ("left", s(left)),
            ("joined", s(joined)),
        ],
    )
}

fn deliver(t: u64, member: &str, view: u64, seq: u64, sender: &str, fifo: u64) -> Recorded {
    let node = member.split('.').next().unwrap().parse().unwrap();
    ev(
        t,
        node,
        "job",
        "deliver",
        &[
            ("member", s(member)),
            ("view", u(view)),
            ("seq", u(seq)),
            ("sender", s(sender)),
            ("fifo", u(fifo)),
        ],
    )
}

const N3: &str = "0:0,1:0,2:0";
const M3: &str = "0.0.0,1.0.0,2.0.0";

/// Three members in view 1, with deliveries `d0`, `d1` at 0.0.0 and 1.0.0, then view 2.
fn history(d0: &[(u64, &str, u64)], d1: &[(u64, &str, u64)]) -> Vec<Recorded> {
    let mut e = vec![
        ev(0, u64::MAX, "world", "start", &[("nodes", u(3))]),
        install(1, 0, 1, N3, M3),
        job_view(1, "0.0.0", 1, M3, "", "1.0.0,2.0.0"),
        job_view(1, "1.0.0", 1, M3, "", "0.0.0,2.0.0"),
    ];
    for (seq, snd, f) in d0 {
        e.push(deliver(2, "0.0.0", 1, *seq, snd, *f));
    }
    for (seq, snd, f) in d1 {
        e.push(deliver(2, "1.0.0", 1, *seq, snd, *f));
    }
    e.push(install(3, 0, 2, "0:0,1:0", "0.0.0,1.0.0"));
    e.push(job_view(3, "0.0.0", 2, "0.0.0,1.0.0", "2.0.0:NodeDown", ""));
    e.push(job_view(3, "1.0.0", 2, "0.0.0,1.0.0", "2.0.0:NodeDown", ""));
    e
}

#[test]
fn virtual_synchrony_rejects_different_deliveries_between_the_same_views() {
    let same = history(&[(1, "2.0.0", 1)], &[(1, "2.0.0", 1)]);
    assert!(violations(Box::new(VirtualSynchrony::default()), &same).is_empty());
    let diff = history(&[(1, "2.0.0", 1), (2, "2.0.0", 2)], &[(1, "2.0.0", 1)]);
    let v = violations(Box::new(VirtualSynchrony::default()), &diff);
    assert!(v[0].contains("delivered different messages"), "{v:?}");
}

#[test]
fn agreed_order_rejects_a_different_message_at_one_sequence_number_and_gaps() {
    let ok = history(
        &[(1, "2.0.0", 1), (2, "1.0.0", 1)],
        &[(1, "2.0.0", 1), (2, "1.0.0", 1)],
    );
    assert!(violations(Box::new(AgreedOrder::default()), &ok).is_empty());
    let swapped = history(
        &[(1, "2.0.0", 1), (2, "1.0.0", 1)],
        &[(1, "1.0.0", 1), (2, "2.0.0", 1)],
    );
    assert!(!violations(Box::new(AgreedOrder::default()), &swapped).is_empty());
    let gap = history(&[(1, "2.0.0", 1), (3, "1.0.0", 1)], &[]);
    assert!(violations(Box::new(AgreedOrder::default()), &gap)[0].contains("expected seq 2"));
}

#[test]
fn fifo_rejects_reordering_and_gaps_and_no_duplicates_rejects_repeats() {
    let ok = history(&[(1, "2.0.0", 1), (2, "2.0.0", 2)], &[]);
    assert!(violations(Box::new(FifoPerSender::default()), &ok).is_empty());
    let reordered = history(&[(1, "2.0.0", 2), (2, "2.0.0", 1)], &[]);
    assert!(!violations(Box::new(FifoPerSender::default()), &reordered).is_empty());
    let gap = history(&[(1, "2.0.0", 1), (2, "2.0.0", 3)], &[]);
    assert!(violations(Box::new(FifoPerSender::default()), &gap)[0].contains("gap"));
    let twice = history(&[(1, "2.0.0", 1), (2, "2.0.0", 1)], &[]);
    assert!(!violations(Box::new(NoDuplicates::default()), &twice).is_empty());
}

#[test]
fn no_ghosts_rejects_delivery_to_a_job_that_left_or_from_a_non_member() {
    let mut e = history(&[(1, "2.0.0", 1)], &[]);
    assert!(violations(Box::new(NoGhosts::default()), &e).is_empty());
    e.push(ev(
        4,
        1,
        "job",
        "unregister",
        &[("member", s("1.0.0")), ("why", s("panic"))],
    ));
    e.push(deliver(5, "1.0.0", 2, 1, "0.0.0", 1));
    assert!(violations(Box::new(NoGhosts::default()), &e)[0].contains("after it unregistered"));
    let from_outsider = history(&[(1, "3.0.0", 1)], &[]);
    assert!(!violations(Box::new(NoGhosts::default()), &from_outsider).is_empty());
}

#[test]
fn notified_once_rejects_a_missing_or_wrong_departure() {
    let ok = history(&[], &[]);
    assert!(violations(Box::new(NotifiedOnce::default()), &ok).is_empty());
    let mut missing = history(&[], &[]);
    let last = missing.len() - 1;
    missing[last] = job_view(3, "1.0.0", 2, "0.0.0,1.0.0", "", "");
    assert!(
        violations(Box::new(NotifiedOnce::default()), &missing)[0].contains("without being told")
    );
    let mut wrong = history(&[], &[]);
    wrong[last] = job_view(3, "1.0.0", 2, "0.0.0,1.0.0", "2.0.0:Left", "");
    assert!(violations(Box::new(NotifiedOnce::default()), &wrong)[0].contains("wrong reason"));
}

#[test]
fn view_agreement_and_primary_component_reject_split_brain() {
    let mut e = history(&[], &[]);
    assert!(violations(Box::new(ViewAgreement::default()), &e).is_empty());
    assert!(violations(Box::new(PrimaryComponent::default()), &e).is_empty());
    e.push(install(4, 2, 2, "2:0", "2.0.0"));
    assert!(!violations(Box::new(ViewAgreement::default()), &e).is_empty());
    assert!(violations(Box::new(PrimaryComponent::default()), &e)[0].contains("not a majority"));
}

fn pause(t: u64, fault: u64, node: u64) -> Recorded {
    let fields = [
        ("fault", u(fault)),
        ("kind", s("pause")),
        ("target", u(node)),
    ];
    ev(t, WORLD_NODE, "fault", "start", &fields)
}

fn fault_end(t: u64, fault: u64) -> Recorded {
    ev(
        t,
        WORLD_NODE,
        "fault",
        "end",
        &[("fault", u(fault)), ("kind", s("pause"))],
    )
}

fn round(t: u64, node: u64, event: &'static str) -> Recorded {
    ev(
        t,
        node,
        "ack",
        event,
        &[("round", u(1)), ("phase", s("prepare"))],
    )
}

/// With the `fast` preset a round has 7 s (6 failure timeouts and 4 s).
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
    assert!(progress_violations(&late)[0].contains(&format!("coordinated by n{node}")));
}

#[test]
fn ack_round_progress_stops_the_bound_while_the_coordinator_is_paused() {
    // n0 is frozen from 1.5 s to 7 s by two overlapping pauses: 5.5 s off the clock, so
    // the round started at 1 s is due at 13.5 s.
    let paused = [
        round(1_000, 0, "round_start"),
        pause(1_500, 0, 0),
        pause(4_000, 1, 0),
        fault_end(4_500, 0),
        fault_end(7_000, 1),
    ];
    assert_round_due(
        &paused,
        round(13_400, 0, "round_abandon"),
        round(13_600, 0, "round_abandon"),
        0,
    );
    // Another node's pause does not stop the bound of n0's round.
    let mut other = paused.to_vec();
    other[1] = pause(1_500, 0, 1);
    other[2] = pause(4_000, 1, 1);
    other.push(round(8_500, 0, "round_abandon"));
    assert!(progress_violations(&other)[0].contains("coordinated by n0"));
    // A run that ends with the coordinator still paused does not blame it.
    let frozen = [round(1_000, 0, "round_start"), pause(2_000, 0, 0)];
    assert!(progress_violations(&frozen).is_empty());
}

fn clog(t: u64, fault: u64, a: u64, b: u64) -> Recorded {
    let fields = [
        ("fault", u(fault)),
        ("kind", s("clog")),
        ("a", u(a)),
        ("b", u(b)),
    ];
    ev(t, WORLD_NODE, "fault", "start", &fields)
}

/// A round of group 1 in view 1 (the group sits in bits 24..32 of a round id).
fn group_round(t: u64, node: u64, event: &'static str) -> Recorded {
    let id = (1 << 32) | (1 << 24) | 5;
    ev(
        t,
        node,
        "ack",
        event,
        &[("round", u(id)), ("phase", s("commit"))],
    )
}

#[test]
fn ack_round_progress_stops_the_bound_while_a_clog_cuts_the_coordinator_from_a_member() {
    // n1 coordinates group 1 with n3. Two overlapping clogs cut them apart from 2 s to
    // 12 s: 10 s off the clock, so the round started at 1 s is due at 18 s.
    let cut = [
        job_view(500, "1.0.0@1", 1, "1.0.0@1,3.0.0@1", "", "3.0.0@1"),
        group_round(1_000, 1, "round_start"),
        clog(2_000, 0, 3, 1),
        clog(5_000, 1, 1, 3),
        fault_end(6_000, 0),
        fault_end(12_000, 1),
    ];
    assert_round_due(
        &cut,
        group_round(17_900, 1, "round_done"),
        group_round(18_100, 1, "round_done"),
        1,
    );
    // A clog between the coordinator and a node outside its view does not stop the bound.
    let mut outside = cut.to_vec();
    outside[2] = clog(2_000, 0, 1, 2);
    outside[3] = clog(5_000, 1, 2, 1);
    outside.push(group_round(8_100, 1, "round_done"));
    assert!(progress_violations(&outside)[0].contains("coordinated by n1"));
    // Nor does a clog between two other members: the ACKs still reach the coordinator.
    let wide = job_view(500, "1.0.0@1", 1, "1.0.0@1,2.0.0@1,3.0.0@1", "", "");
    let others = [
        wide,
        group_round(1_000, 1, "round_start"),
        clog(2_000, 0, 2, 3),
        group_round(8_100, 1, "round_done"),
    ];
    assert!(progress_violations(&others)[0].contains("coordinated by n1"));
    // A view without n3 ends the hold-up: cut from 2 s to 4 s, the round is due at 10 s.
    let mut dropped = cut[..4].to_vec();
    dropped.push(job_view(
        4_000,
        "1.0.0@1",
        2,
        "1.0.0@1",
        "3.0.0@1:NodeDown",
        "",
    ));
    dropped.push(group_round(10_100, 1, "round_done"));
    assert!(progress_violations(&dropped)[0].contains("coordinated by n1"));
    // A run that ends with the pair still cut does not blame the coordinator.
    assert!(progress_violations(&cut[..4]).is_empty());
}

#[test]
fn a_crash_ends_a_pause_for_the_round_bound_and_the_probe_limit() {
    // The world emits no end for a pause a crash cut short: after the restart n0 runs,
    // so its new round has its whole bound and no more, and its main thread must answer.
    let mut e = vec![
        pause(1_000, 0, 0),
        ev(2_000, 0, "node", "crash", &[]),
        ev(3_000, 0, "node", "restart", &[("incarnation", u(1))]),
        round(4_000, 0, "round_start"),
    ];
    e.push(round(11_500, 0, "round_abandon"));
    assert!(progress_violations(&e)[0].contains("coordinated by n0"));
    let unresponsive = ev(
        9_000,
        0,
        "ce",
        "job_unresponsive",
        &[("member", s("0.1.0")), ("since_ns", u(8_000_000_000))],
    );
    let probe = [e[0].clone(), e[1].clone(), e[2].clone(), unresponsive];
    let v = violations(Box::new(MainThreadResponsive::default()), &probe);
    assert!(v[0].contains("has not answered a CE probe"), "{v:?}");
    // Without the crash the node is still paused: the missed probe is excused.
    let still_paused = [probe[0].clone(), probe[3].clone()];
    assert!(violations(Box::new(MainThreadResponsive::default()), &still_paused).is_empty());
}
