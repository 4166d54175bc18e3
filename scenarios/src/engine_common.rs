//! What the engine scenarios share: building the world and running one seed of it.

use protocols::engine::checkers;
use protocols::engine::job::{node_main, EngineConfig};
use protocols::engine::Mutants;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{FaultKind, Mutant};
use std::sync::Arc;

/// The world of an engine scenario: `nodes` nodes, every fault kind, two work threads.
pub fn world(nodes: usize, safety_ms: u64, liveness_ms: u64) -> WorldConfig {
    let mut w = WorldConfig::new(nodes, safety_ms, liveness_ms);
    w.plan.allowed = FaultKind::ALL.to_vec();
    w.plan.work_threads = 2;
    w.plan.max_faults = 8;
    w
}

/// The planted bugs every engine scenario offers.
pub fn mutants() -> Vec<Mutant> {
    Mutants::catalog()
        .into_iter()
        .map(|(name, description)| Mutant { name, description })
        .collect()
}

/// Runs one seed of `world` with `cfg` (the mutant is applied on top).
pub fn run(
    world: &WorldConfig,
    mut cfg: EngineConfig,
    spec: &RunSpec,
    mutant: Option<&str>,
) -> Result<RunReport, String> {
    cfg.mutants = Mutants::from_name(mutant)?;
    cfg.disk = Default::default();
    let checkers = checkers::all(world.nodes, &cfg.ce, cfg.rounds);
    let cfg = Arc::new(cfg);
    sim::run_world(world, spec, checkers, move |ctx| {
        node_main(ctx, cfg.clone())
    })
}
