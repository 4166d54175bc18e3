//! Same seed, same binary: same trace, bit for bit — within one process, across two
//! processes, and when a run's fault plan is written to JSON, parsed and replayed.

use sim::world::{PlanSource, RunSpec};
use sim::FaultKind;
use std::collections::BTreeSet;
use std::process::Command;

const SEEDS: u64 = 200;
/// Set in the child process that recomputes the hashes.
const CHILD_ENV: &str = "CLUSTERSIM_DETERMINISM_CHILD";

/// Every fault kind enabled (no swarm), so each seed mixes them all.
fn all_kinds(seed: u64) -> RunSpec {
    RunSpec {
        seed,
        plan: PlanSource::Generate { swarm: false },
        keep_events: false,
        detail: sim::Detail::Protocol,
    }
}

fn hashes(seeds: std::ops::Range<u64>) -> Vec<u64> {
    seeds
        .map(|seed| {
            // One OS thread per seed, as the sweep runs them.
            std::thread::spawn(move || {
                let demo = scenarios::find("demo").unwrap();
                demo.run(&all_kinds(seed), None).unwrap().trace.hash
            })
            .join()
            .unwrap()
        })
        .collect()
}

#[test]
fn every_fault_kind_is_exercised_by_the_seeds() {
    let world = scenarios::find("demo").unwrap().world();
    let kinds: BTreeSet<FaultKind> = (0..SEEDS)
        .flat_map(|s| sim::FaultPlan::generate(s, &world.plan, false).kinds())
        .collect();
    assert_eq!(kinds.len(), FaultKind::ALL.len(), "{kinds:?}");
}

#[test]
fn same_seed_same_hash_in_one_process_and_different_seeds_differ() {
    let a = hashes(0..SEEDS);
    let b = hashes(0..SEEDS);
    assert_eq!(a, b);
    let distinct: BTreeSet<u64> = a.iter().copied().collect();
    assert_eq!(distinct.len(), a.len(), "two seeds produced the same trace");
}

#[test]
fn same_seed_same_hash_across_processes() {
    let ours = hashes(0..SEEDS);
    if std::env::var_os(CHILD_ENV).is_some() {
        // In the child: print the hashes for the parent to compare.
        for h in &ours {
            println!("child-hash {h:016x}");
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "same_seed_same_hash_across_processes",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        // libtest may print its own "test ... " prefix on the first line.
        .filter_map(|l| l.split("child-hash ").nth(1))
        .map(|h| u64::from_str_radix(&h.trim()[..16], 16).unwrap())
        .collect();
    assert_eq!(theirs.len(), SEEDS as usize);
    assert_eq!(ours, theirs);
}

#[test]
fn a_plan_round_trips_through_json_and_replays_to_the_same_hash() {
    let demo = scenarios::find("demo").unwrap();
    for seed in 0..40 {
        let first = demo.run(&RunSpec::swarm(seed), None).unwrap();
        let json = serde_json::to_string_pretty(&first.plan).unwrap();
        let parsed: sim::FaultPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, first.plan);
        let replay = RunSpec {
            seed,
            plan: PlanSource::Given(parsed),
            keep_events: false,
            detail: sim::Detail::Protocol,
        };
        let again = demo.run(&replay, None).unwrap();
        assert_eq!(first.trace.hash, again.trace.hash, "seed {seed}");
    }
}

#[test]
fn an_edited_plan_is_applied_as_given() {
    let demo = scenarios::find("demo").unwrap();
    let original = demo.run(&RunSpec::swarm(3), None).unwrap();
    let mut plan = original.plan.clone();
    plan.faults.clear();
    plan.faults.push(sim::Fault::Crash {
        at_ms: 5_000,
        node: 2,
        restart_after_ms: Some(1_000),
    });
    let spec = RunSpec {
        seed: 3,
        plan: PlanSource::Given(plan.clone()),
        keep_events: true,
        detail: sim::Detail::Protocol,
    };
    let r = demo.run(&spec, None).unwrap();
    assert_eq!(r.plan.faults, plan.faults);
    let crashes: Vec<u64> = r
        .trace
        .events
        .iter()
        .filter(|e| e.is("node", "crash"))
        .map(|e| e.t_ns / 1_000_000)
        .collect();
    assert_eq!(crashes, vec![5_000]);
    assert_ne!(r.trace.hash, original.trace.hash);
}

#[test]
fn the_demo_passes_its_checkers_across_a_swarm_sweep() {
    for seed in 0..150 {
        scenarios::assert_seed_passes("demo", seed);
    }
}

#[test]
fn the_demo_checkers_catch_its_planted_bugs() {
    let demo = scenarios::find("demo").unwrap();
    for (mutant, checker) in [
        ("demo-double-answer", "answered_once"),
        ("demo-no-watchdog", "answered_after_heal"),
    ] {
        let caught = (0..300).find_map(|seed| {
            let r = demo.run(&RunSpec::swarm(seed), Some(mutant)).unwrap();
            r.violations.first().map(|v| (seed, v.checker.clone()))
        });
        let (seed, got) = caught.unwrap_or_else(|| panic!("{mutant} not caught in 300 seeds"));
        assert_eq!(
            got, checker,
            "{mutant} caught by the wrong checker at seed {seed}"
        );
    }
}
