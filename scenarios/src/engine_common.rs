//! What the engine scenarios share: building the world and running one seed of it.

use protocols::engine::checkers;
use protocols::engine::job::{node_main, Bursts, EngineConfig, JobEvent};
use protocols::engine::membership::Wire;
use protocols::engine::{Mutants, Payload};
use rand::Rng;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Checker, Counters, DeliveryObserver, EventRef, FaultKind, Mutant};
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

/// How much background traffic a run of an engine scenario carries, as its seed picks it
/// (as swarm testing picks fault kinds): some seeds stay idle, so the scenario's own
/// traffic alone is tested too; others trickle; the rest multicast in bursts large enough
/// to queue work behind a slow or hung work thread before its watchdog fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    Idle,
    Steady(Bursts),
    Bursty(Bursts),
}

/// The seed's stream for its background load (see [`sim::seed_stream`]).
const LOAD_STREAM: u64 = 0x10ad;

impl Load {
    /// The load of `seed`: a quarter idle, a quarter steady (one message every 100 to
    /// 300 ms from every job), half bursty (4 to 24 messages at once from every job, every
    /// 0.4 to 2 s).
    pub fn of_seed(seed: u64) -> Load {
        let mut rng = sim::seed_stream(seed, LOAD_STREAM);
        match rng.gen_range(0..4) {
            0 => Load::Idle,
            1 => Load::Steady(Bursts {
                every_ms: rng.gen_range(100..=300),
                size: 1,
            }),
            _ => Load::Bursty(Bursts {
                every_ms: rng.gen_range(400..=2_000),
                size: rng.gen_range(4..=24),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Load::Idle => "idle",
            Load::Steady(_) => "steady",
            Load::Bursty(_) => "bursty",
        }
    }

    pub fn bursts(self) -> Option<Bursts> {
        match self {
            Load::Idle => None,
            Load::Steady(b) | Load::Bursty(b) => Some(b),
        }
    }
}

/// Counts the work-thread faults of a run by mode, and those that met a non-empty queue
/// (`job.work_fault` with `queued` above zero); and the hangs the watchdogs found, and
/// those with work queued behind them by then (`job.hang_detected`): how often a fault
/// held work up.
struct WorkFaultQueues(Arc<Mutex<Counters>>);

impl Checker for WorkFaultQueues {
    fn name(&self) -> &'static str {
        "work_fault_queues"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!((component, event), ("job", "work_fault" | "hang_detected"))
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let (name, queued) = match ev.event.get::<JobEvent>() {
            Some(JobEvent::WorkFault { mode, queued, .. }) => {
                (format!("work_fault.{mode}"), *queued)
            }
            Some(JobEvent::HangDetected { queued, .. }) => ("hang_detected".to_string(), *queued),
            _ => return Ok(()),
        };
        let mut c = self.0.lock().expect("counters");
        if queued > 0 {
            *c.entry(format!("{name}.queued")).or_insert(0) += 1;
        }
        *c.entry(name).or_insert(0) += 1;
        Ok(())
    }
}

/// Runs one seed as the catalog does: [`run`] with the background load the seed picks,
/// reporting the load (`load.<name>`) and the work-thread faults that met a non-empty
/// queue (`work_fault.<mode>` and `work_fault.<mode>.queued`) as the run's counters.
pub fn run_loaded(
    world: &WorldConfig,
    mut cfg: EngineConfig,
    spec: &RunSpec,
    mutant: Option<&str>,
) -> Result<RunReport, String> {
    let load = Load::of_seed(spec.seed);
    cfg.bursts = load.bursts();
    let counters = Arc::new(Mutex::new(Counters::new()));
    let observer = Box::new(WorkFaultQueues(counters.clone()));
    let mut report = run_observed(world, cfg, spec, mutant, vec![observer], None)?;
    let mut counters = std::mem::take(&mut *counters.lock().expect("counters"));
    counters.insert(format!("load.{}", load.name()), 1);
    report.counters = counters;
    Ok(report)
}

/// Runs one seed of `world` with `cfg` (the mutant is applied on top), with no
/// background load beyond what `cfg` says.
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
    let mut checkers =
        checkers::all_with_cost(world.nodes, &cfg.ce, cfg.rounds, world.cost.is_some());
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
