//! What the engine scenarios share: building the world and running one seed of it.

use protocols::engine::checkers;
use protocols::engine::job::{node_main, EngineConfig};
use protocols::engine::membership::Wire;
use protocols::engine::{Mutants, Payload};
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Checker, DeliveryObserver, FaultKind, Mutant};
use std::sync::{Arc, Mutex};

/// The world of an engine scenario: `nodes` nodes, every fault kind, two work threads.
pub fn world(nodes: usize, safety_ms: u64, liveness_ms: u64) -> WorldConfig {
    let mut w = WorldConfig::new(nodes, safety_ms, liveness_ms);
    w.plan.allowed = FaultKind::ALL.to_vec();
    w.plan.work_threads = 2;
    w.plan.max_faults = 8;
    w
}

/// The world of a service scenario: `engine_nodes` nodes running the service and
/// `clients` client nodes after them, which are never crashed or paused (partitions and
/// clogs may cut them off). The master is the lowest member, so node faults aim at node 0
/// half the time: failovers, and failbacks when it returns, are common.
pub fn service_world(
    engine_nodes: usize,
    clients: usize,
    safety_ms: u64,
    liveness_ms: u64,
) -> WorldConfig {
    let n = engine_nodes + clients;
    let mut w = world(n, safety_ms, liveness_ms);
    w.plan.never_down_nodes = (engine_nodes..n).collect();
    w.plan.focus_node = Some(0);
    w.plan.focus_probability = 0.5;
    w
}

/// The planted bugs every engine scenario offers.
pub fn mutants() -> Vec<Mutant> {
    Mutants::catalog()
        .into_iter()
        .map(|(name, description)| Mutant { name, description })
        .collect()
}

/// The names of the checkers an engine scenario of `nodes` nodes applies with `cfg`.
pub fn checker_names(nodes: usize, cfg: &EngineConfig) -> Vec<&'static str> {
    checkers::all(nodes, &cfg.ce, cfg.rounds)
        .iter()
        .map(|c| c.name())
        .collect()
}

/// Runs one seed of `world` with `cfg` (the mutant is applied on top).
pub fn run(
    world: &WorldConfig,
    cfg: EngineConfig,
    spec: &RunSpec,
    mutant: Option<&str>,
) -> Result<RunReport, String> {
    run_observed(world, cfg, spec, mutant, Vec::new(), None)
}

/// [`run`], with `extra` checkers beside the engine's and an observer of every message
/// the network delivers (what the ACK-round benchmark measures with).
pub fn run_observed(
    world: &WorldConfig,
    mut cfg: EngineConfig,
    spec: &RunSpec,
    mutant: Option<&str>,
    extra: Vec<Box<dyn Checker>>,
    observer: Option<DeliveryObserver<Wire<Payload>>>,
) -> Result<RunReport, String> {
    cfg.mutants = Mutants::from_name(mutant)?;
    cfg.disk = Default::default();
    let mut checkers = checkers::all(world.nodes, &cfg.ce, cfg.rounds);
    checkers.extend(extra);
    let cfg = Arc::new(cfg);
    // The network exists once the world runs: the first node to boot installs the observer.
    let observer = Mutex::new(observer);
    sim::run_world(world, spec, checkers, move |ctx| {
        if let Some(o) = observer.lock().expect("observer lock").take() {
            ctx.net().observe_deliveries(o);
        }
        node_main(ctx, cfg.clone())
    })
}
