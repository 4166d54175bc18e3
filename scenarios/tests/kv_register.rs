//! Tests of the `kv-register` scenario: swarm seeds pass; a crashed master fails over and
//! every client's get, put and compare-and-set goes on; a minority partition with the
//! master in it; each planted bug is caught by the linearizability checker, whose verdict
//! explains the violation.

use scenarios::kv_register::{KvEvent, KvRegister, MUTANT_CAS_ACK_EARLY, MUTANT_STALE_READ};
use sim::{Fault, PartitionSymmetry, RunReport, RunSpec, Scenario};

fn run(spec: &RunSpec, mutant: Option<&str>) -> RunReport {
    KvRegister::default()
        .run(spec, mutant)
        .expect("the plan fits the world")
}

fn assert_passes(r: &RunReport) {
    assert!(r.passed(), "{}", r.violations[0]);
}

/// (client node, completion time) of every completed operation of a run.
fn completions(r: &RunReport) -> Vec<(u64, u64)> {
    r.trace
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.get::<KvEvent>(),
                Some(KvEvent::Ok { .. } | KvEvent::Failed { .. })
            )
        })
        .map(|e| (e.node.0, e.t_ns))
        .collect()
}

#[test]
fn swarm_seeds_pass() {
    for seed in 0..6 {
        scenarios::assert_seed_passes("kv-register", seed);
    }
}

const CRASH_MS: u64 = 5_000;

#[test]
fn a_crashed_master_fails_over_and_every_client_goes_on() {
    let crash = Fault::Crash {
        at_ms: CRASH_MS,
        node: 0,
        restart_after_ms: None,
    };
    let r = run(&RunSpec::scripted(1, vec![crash]), None);
    assert_passes(&r);
    let crash_ns = CRASH_MS * 1_000_000;
    let s = KvRegister::default();
    let done = completions(&r);
    for client in s.engine_nodes..s.engine_nodes + s.clients {
        let client = client as u64;
        let before = done
            .iter()
            .filter(|(c, t)| *c == client && *t < crash_ns)
            .count();
        let after = done
            .iter()
            .filter(|(c, t)| *c == client && *t > crash_ns)
            .count();
        assert!(
            before > 10 && after > 10,
            "client n{client}: {before} before, {after} after"
        );
    }
    let reads_after: Vec<u64> = (r.trace.events.iter())
        .filter(|e| e.t_ns > crash_ns && e.is("kv", "read"))
        .map(|e| e.node.0)
        .collect();
    assert!(
        !reads_after.is_empty() && reads_after.iter().all(|n| *n == 1),
        "node 1 serves"
    );
}

fn minority_partition() -> Vec<Fault> {
    vec![Fault::Partition {
        at_ms: CRASH_MS,
        duration_ms: 4_000,
        side_a: vec![0, 5],
        symmetry: PartitionSymmetry::Symmetric,
    }]
}

/// The master and one client cut off from everyone else: the old master stops serving
/// before the majority's new master starts, and the cut-off client's operations in the
/// meantime are left unknown, never answered wrong.
#[test]
fn a_master_in_a_minority_stops_serving_before_the_new_one_starts() {
    let cut = minority_partition();
    let r = run(&RunSpec::scripted(2, cut.clone()), None);
    assert_passes(&r);
    let cut_ns = CRASH_MS * 1_000_000;
    let served = |old: bool| {
        (r.trace.events.iter())
            .filter(|e| e.t_ns > cut_ns && (e.is("kv", "read") || e.is("kv", "answer")))
            .filter(move |e| (e.node.0 == 0) == old)
            .map(|e| e.t_ns)
    };
    let old_last = served(true).filter(|t| *t < cut_ns + 4_000_000_000).max();
    let new_first = served(false).min().expect("a new master serves");
    assert!(
        old_last.is_none_or(|t| t < new_first),
        "{old_last:?} {new_first}"
    );
    // The same cut with a master that keeps serving its stale state is a violation, once
    // the cut-off client happens to read during the cut: the first such seed is caught
    // by `linearizable`, and the correct code passes it.
    let caught = (1..40u64).find_map(|seed| {
        let bad = run(
            &RunSpec::scripted(seed, cut.clone()),
            Some(MUTANT_STALE_READ),
        );
        bad.violations.first().map(|v| (seed, v.checker.clone()))
    });
    let (seed, checker) = caught.expect("the stale read is caught at some seed of 1..40");
    assert_eq!(checker, "linearizable", "seed {seed}");
    assert_passes(&run(&RunSpec::scripted(seed, cut), None));
}

#[test]
fn every_planted_bug_is_caught_by_the_linearizability_checker() {
    // 386 is the stale read the guide follows (one partition); a sweep from seed 0 first
    // catches it at 250, through eight faults. Seed 0 is the first for cas-ack-early.
    for (bug, seed) in [(MUTANT_STALE_READ, 386), (MUTANT_CAS_ACK_EARLY, 0)] {
        scenarios::assert_mutant_caught("kv-register", bug, "linearizable", seed);
    }
}

/// The verdict carries the checker's explanation: the longest linearizable prefix, the
/// operation that could not be placed and those pending with it, in the trace's time
/// format.
#[test]
fn the_verdict_explains_a_stale_read() {
    let r = run(&RunSpec::swarm(386), Some(MUTANT_STALE_READ));
    let v = &r.violations[0];
    assert_eq!(v.checker, "linearizable");
    let e = &v.explanation;
    for part in [
        "not linearizable: ",
        " operations linearize up to ",
        "cannot take effect before it completes",
        "get(\"",
    ] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
    // Times print as traces print them: seconds with six decimals.
    let time = e
        .split(['[', ' '])
        .find(|w| w.ends_with('s') && w.contains('.') && w[..w.len() - 1].parse::<f64>().is_ok());
    assert!(
        time.is_some_and(|t| t.split('.').nth(1).unwrap().len() == 7),
        "{e}"
    );
}
