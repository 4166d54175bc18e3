//! The scenario catalog: every scenario clustersim can run, each with its planted bugs.

pub mod ack_rounds;
pub mod bench;
pub mod bench_cli;
pub mod client_failover;
pub mod demo;
mod engine_common;
pub mod groups;
pub mod membership;
pub mod process_status;

/// The command line, a library any catalog can use (the `clustersim` crate).
pub use clustersim as cli;
pub use clustersim::history_cmd;

use sim::{Catalog, Entry, ScenarioRef};

/// The seeds whose traces the built-in scenarios pin as golden snapshots.
pub const GOLDEN_SEEDS: [u64; 2] = [7, 42];

/// Every scenario, in the order `clustersim list` shows them; each gating, with golden
/// snapshots at [`GOLDEN_SEEDS`].
pub fn catalog() -> Catalog {
    let golden = |e: Entry| e.golden(&GOLDEN_SEEDS);
    Catalog::new()
        .with(golden(Entry::new(demo::Demo)))
        .with(golden(Entry::new(membership::Membership::default())))
        .with(golden(Entry::new(ack_rounds::AckRounds::default())))
        .with(golden(Entry::new(ack_rounds::AckRounds::direct())))
        .with(golden(Entry::new(groups::Groups::default())))
        .with(golden(Entry::new(
            client_failover::ClientFailover::default(),
        )))
        .with(golden(Entry::new(process_status::ProcessStatus::default())))
}

/// Runs swarm seed `seed` of the catalog scenario `name` and panics, naming the command
/// that reproduces it, if a checker fails: what pinned-seed tests assert.
pub fn assert_seed_passes(name: &str, seed: u64) {
    let s = find(name).unwrap_or_else(|e| panic!("{e}"));
    let r = s
        .run(&sim::RunSpec::swarm(seed), None)
        .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"));
    assert!(
        r.passed(),
        "{name} seed {seed}: {}\nreproduce: clustersim run {name} --seed {seed}",
        r.violations[0]
    );
}

/// Runs swarm seed `seed` of the catalog scenario `name` with planted bug `bug` and panics,
/// naming the command that reproduces it, unless `checker` is the first to fail; the same
/// seed without the bug must pass. What planted-bug tests assert.
pub fn assert_mutant_caught(name: &str, bug: &str, checker: &str, seed: u64) {
    let s = find(name).unwrap_or_else(|e| panic!("{e}"));
    let r = sim::scenario::run_checked(s.as_ref(), &sim::RunSpec::swarm(seed), Some(bug))
        .unwrap_or_else(|e| panic!("{name} seed {seed} --mutant {bug}: {e}"));
    assert_eq!(
        r.violations.first().map(|v| v.checker.as_str()),
        Some(checker),
        "{bug} at seed {seed}: {:?}; reproduce: clustersim run {name} --seed {seed} --mutant {bug}",
        r.violations.first()
    );
    assert_seed_passes(name, seed);
}

/// Looks a scenario up by name.
pub fn find(name: &str) -> Result<ScenarioRef, String> {
    catalog().find(name)
}
