//! Fault plans: the explicit, serializable list of timed faults a run injects.
//!
//! A plan is generated from the seed on its own `rand_chacha` stream, apart from madsim's
//! RNG, so it is fixed and printable before the run starts, and it can be edited, shrunk
//! and replayed as given. Swarm mode lets the seed also choose which fault kinds a run
//! enables, so that different seeds stress different combinations.

use crate::time::{SimDuration, SimTime};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The ChaCha stream reserved for fault-plan generation; madsim never touches it.
const PLAN_STREAM: u64 = 0x0fa1_7b1a;

/// A random stream of `seed` for a scenario's own per-run choices (how much background
/// load a run carries, say), known before the run starts. `stream` names the choice; each
/// is a ChaCha stream apart from the fault plan's and from madsim's, so drawing from it
/// moves neither the plan nor the run's schedule.
pub fn seed_stream(seed: u64, stream: u64) -> ChaCha8Rng {
    assert_ne!(stream, PLAN_STREAM, "the fault plan's stream is taken");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Every kind of fault the simulator can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Crash,
    Partition,
    Clog,
    PacketLoss,
    Duplicate,
    LatencySpike,
    Pause,
    WorkThread,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::PacketLoss,
        FaultKind::Duplicate,
        FaultKind::LatencySpike,
        FaultKind::Pause,
        FaultKind::WorkThread,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
            FaultKind::Clog => "clog",
            FaultKind::PacketLoss => "packet_loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::LatencySpike => "latency_spike",
            FaultKind::Pause => "pause",
            FaultKind::WorkThread => "work_thread",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

crate::trace_field_by_name!(FaultKind);

/// What a work thread is told to do by an injected work-thread fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum WorkFaultMode {
    /// Panic inside the work thread; the job must catch it at the task boundary.
    Panic,
    /// Return an error from the work thread's current step.
    Error,
    /// Stop making progress for ever; only a watchdog notices.
    Hang,
    /// Take `delay_ms` longer over each step while the fault lasts.
    Slow { delay_ms: u64, duration_ms: u64 },
}

impl WorkFaultMode {
    pub fn name(&self) -> &'static str {
        match self {
            WorkFaultMode::Panic => "panic",
            WorkFaultMode::Error => "error",
            WorkFaultMode::Hang => "hang",
            WorkFaultMode::Slow { .. } => "slow",
        }
    }
}

/// How a partition splits the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionSymmetry {
    /// Neither side hears the other.
    Symmetric,
    /// Messages from `side_a` to the rest are dropped; the other direction still flows.
    OneWay,
}

/// One timed fault. Times are simulated milliseconds since the start of the run; windows
/// last `duration_ms` and heal by themselves (every open window also heals when the safety
/// phase ends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Kill `node`; restart it `restart_after_ms` later, or never when `None`.
    Crash {
        at_ms: u64,
        node: usize,
        restart_after_ms: Option<u64>,
    },
    /// Split the nodes into `side_a` and the rest.
    Partition {
        at_ms: u64,
        duration_ms: u64,
        side_a: Vec<usize>,
        symmetry: PartitionSymmetry,
    },
    /// Block the link between two nodes in both directions.
    Clog {
        at_ms: u64,
        duration_ms: u64,
        a: usize,
        b: usize,
    },
    /// Drop each message with `probability` on every link.
    PacketLoss {
        at_ms: u64,
        duration_ms: u64,
        probability: f64,
    },
    /// Deliver each message twice with `probability`, on every link.
    Duplicate {
        at_ms: u64,
        duration_ms: u64,
        probability: f64,
    },
    /// Add `extra_latency_ms` to every message sent to or from `node`.
    LatencySpike {
        at_ms: u64,
        duration_ms: u64,
        node: usize,
        extra_latency_ms: u64,
    },
    /// Freeze every task of `node` (a long GC pause, a stopped VM).
    Pause {
        at_ms: u64,
        duration_ms: u64,
        node: usize,
    },
    /// Tell work thread `thread` (modulo the job's count) of `node` to misbehave.
    WorkThread {
        at_ms: u64,
        node: usize,
        thread: u32,
        #[serde(flatten)]
        mode: WorkFaultMode,
    },
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Crash { .. } => FaultKind::Crash,
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Clog { .. } => FaultKind::Clog,
            Fault::PacketLoss { .. } => FaultKind::PacketLoss,
            Fault::Duplicate { .. } => FaultKind::Duplicate,
            Fault::LatencySpike { .. } => FaultKind::LatencySpike,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::WorkThread { .. } => FaultKind::WorkThread,
        }
    }

    pub fn at_ms(&self) -> u64 {
        match self {
            Fault::Crash { at_ms, .. }
            | Fault::Partition { at_ms, .. }
            | Fault::Clog { at_ms, .. }
            | Fault::PacketLoss { at_ms, .. }
            | Fault::Duplicate { at_ms, .. }
            | Fault::LatencySpike { at_ms, .. }
            | Fault::Pause { at_ms, .. }
            | Fault::WorkThread { at_ms, .. } => *at_ms,
        }
    }

    pub fn set_at_ms(&mut self, t: u64) {
        match self {
            Fault::Crash { at_ms, .. }
            | Fault::Partition { at_ms, .. }
            | Fault::Clog { at_ms, .. }
            | Fault::PacketLoss { at_ms, .. }
            | Fault::Duplicate { at_ms, .. }
            | Fault::LatencySpike { at_ms, .. }
            | Fault::Pause { at_ms, .. }
            | Fault::WorkThread { at_ms, .. } => *at_ms = t,
        }
    }

    /// How long the fault lasts, if it is a window (a crash's window is its downtime).
    pub fn duration_ms(&self) -> Option<u64> {
        match self {
            Fault::Crash {
                restart_after_ms, ..
            } => *restart_after_ms,
            Fault::Partition { duration_ms, .. }
            | Fault::Clog { duration_ms, .. }
            | Fault::PacketLoss { duration_ms, .. }
            | Fault::Duplicate { duration_ms, .. }
            | Fault::LatencySpike { duration_ms, .. }
            | Fault::Pause { duration_ms, .. } => Some(*duration_ms),
            Fault::WorkThread {
                mode: WorkFaultMode::Slow { duration_ms, .. },
                ..
            } => Some(*duration_ms),
            Fault::WorkThread { .. } => None,
        }
    }

    pub fn set_duration_ms(&mut self, d: u64) {
        match self {
            Fault::Crash {
                restart_after_ms: Some(r),
                ..
            } => *r = d,
            Fault::Crash { .. } => {}
            Fault::Partition { duration_ms, .. }
            | Fault::Clog { duration_ms, .. }
            | Fault::PacketLoss { duration_ms, .. }
            | Fault::Duplicate { duration_ms, .. }
            | Fault::LatencySpike { duration_ms, .. }
            | Fault::Pause { duration_ms, .. } => *duration_ms = d,
            Fault::WorkThread {
                mode: WorkFaultMode::Slow { duration_ms, .. },
                ..
            } => *duration_ms = d,
            Fault::WorkThread { .. } => {}
        }
    }

    /// Every node index the fault names (none: it reaches every node).
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Fault::Crash { node, .. }
            | Fault::LatencySpike { node, .. }
            | Fault::Pause { node, .. }
            | Fault::WorkThread { node, .. } => vec![*node],
            Fault::Partition { side_a, .. } => side_a.clone(),
            Fault::Clog { a, b, .. } => vec![*a, *b],
            Fault::PacketLoss { .. } | Fault::Duplicate { .. } => vec![],
        }
    }

    fn probability(&self) -> Option<f64> {
        match self {
            Fault::PacketLoss { probability, .. } | Fault::Duplicate { probability, .. } => {
                Some(*probability)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    /// `{at} {what}`, times and durations as every output prints them (`5.754000s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = SimTime::from_ms(self.at_ms());
        let dur = SimDuration::from_ms;
        match self {
            Fault::Crash {
                node,
                restart_after_ms,
                ..
            } => match restart_after_ms {
                Some(r) => write!(f, "{at} crash n{node}, restart after {}", dur(*r)),
                None => write!(f, "{at} crash n{node} for good"),
            },
            Fault::Partition {
                duration_ms,
                side_a,
                symmetry,
                ..
            } => {
                let side: Vec<String> = side_a.iter().map(|n| format!("n{n}")).collect();
                let how = match symmetry {
                    PartitionSymmetry::Symmetric => "symmetric",
                    PartitionSymmetry::OneWay => "one-way out of",
                };
                write!(
                    f,
                    "{at} partition {how} [{}] for {}",
                    side.join(","),
                    dur(*duration_ms)
                )
            }
            Fault::Clog {
                duration_ms, a, b, ..
            } => write!(f, "{at} clog n{a}<->n{b} for {}", dur(*duration_ms)),
            Fault::PacketLoss {
                duration_ms,
                probability,
                ..
            } => write!(
                f,
                "{at} packet loss p={probability:.2} for {}",
                dur(*duration_ms)
            ),
            Fault::Duplicate {
                duration_ms,
                probability,
                ..
            } => write!(
                f,
                "{at} duplication p={probability:.2} for {}",
                dur(*duration_ms)
            ),
            Fault::LatencySpike {
                duration_ms,
                node,
                extra_latency_ms,
                ..
            } => write!(
                f,
                "{at} latency +{} at n{node} for {}",
                dur(*extra_latency_ms),
                dur(*duration_ms)
            ),
            Fault::Pause {
                duration_ms, node, ..
            } => write!(f, "{at} pause n{node} for {}", dur(*duration_ms)),
            Fault::WorkThread {
                node, thread, mode, ..
            } => match mode {
                WorkFaultMode::Slow {
                    delay_ms,
                    duration_ms,
                } => write!(
                    f,
                    "{at} work thread n{node}/w{thread} slow +{} per step for {}",
                    dur(*delay_ms),
                    dur(*duration_ms)
                ),
                m => write!(f, "{at} work thread n{node}/w{thread} {}", m.name()),
            },
        }
    }
}

/// A run's faults, sorted by start time, and the kinds that were enabled to make them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub faults: Vec<Fault>,
    /// The fault kinds swarm mode enabled (informational once the plan exists).
    #[serde(default)]
    pub enabled: Vec<FaultKind>,
}

/// Knobs for generating a plan: which faults a scenario admits, where and when.
///
/// # The fault model
///
/// A run has a *safety phase* (`[0, safety_ms)`), in which the plan's faults happen, then a
/// fault-free *liveness phase* (see [`crate::Phase`]). [`FaultPlan::generate`] draws the
/// plan from the seed before the run starts (the plan is printed, stored in artifacts, and
/// can be edited, shrunk and replayed as given):
///
/// - **Which kinds**: with swarm mode (what `sweep` and `run` use) the seed enables each
///   kind of [`allowed`](Self::allowed) with probability ½ (at least one), so seeds stress
///   different mixes; without it (`--no-swarm`) every allowed kind is enabled.
/// - **How many, when, how long**: 1 to [`max_faults`](Self::max_faults) faults (default
///   6), each of an enabled kind drawn uniformly, starting uniformly in
///   `[fault_start_ms, safety_ms)` (by default from a tenth of the safety phase, so the
///   system is up first). Windows last from 200 ms to a third of that span; a pause at most
///   3 s. Every window still open when the safety phase ends heals then.
/// - **Where**: a fault aimed at one node (crash, pause, latency spike, work-thread
///   fault, one end of a clog, an isolated partition side) picks
///   [`focus_node`](Self::focus_node) with probability
///   [`focus_probability`](Self::focus_probability), otherwise a node uniformly, never one
///   of [`never_down_nodes`](Self::never_down_nodes) or
///   [`untouched_nodes`](Self::untouched_nodes). A partition isolates that node (half the
///   time) or a random side; three in four partitions are symmetric, the rest one-way.
///   Packet loss and duplication (probability 0.05 to 0.5) apply to every link.
/// - **Crashes**: a crashed node restarts after its window, or, with probability ¼ when
///   [`allow_permanent_crash`](Self::allow_permanent_crash), never.
///
/// What each fault does to a node (its memory, tasks and messages) is described on
/// [`crate::NodeCtx`].
#[derive(Clone, Debug)]
pub struct PlanConfig {
    pub nodes: usize,
    /// Faults start within `[fault_start_ms, safety_ms)`.
    pub fault_start_ms: u64,
    pub safety_ms: u64,
    /// The kinds this scenario can use; swarm mode picks a subset of these.
    pub allowed: Vec<FaultKind>,
    /// At most this many faults a plan (at least one is drawn when any kind is enabled).
    pub max_faults: usize,
    /// Nodes never crashed, paused, given a latency spike or a work-thread fault: no
    /// fault aimed at one node picks them (e.g. client nodes that record a history). Their
    /// links are not protected: a partition or a clog may cut them off, and packet loss,
    /// duplication and another node's latency spike reach their messages. See
    /// [`PlanConfig::untouched_nodes`] for nodes no fault reaches at all.
    pub never_down_nodes: Vec<usize>,
    /// Nodes no fault of any kind touches, nor any of their links: never the target of a
    /// node fault, never an end of a clog, never on a partition's listed side; and the
    /// network exempts every message to or from them from partitions, clogs, packet loss,
    /// duplication and latency spikes (a partition splits the other nodes, and these hear
    /// both sides). A given plan (a replayed or edited artifact) that aims a node fault or
    /// a clog at one is refused.
    pub untouched_nodes: Vec<usize>,
    /// A node that faults aimed at one node hit more often (e.g. where a master runs),
    /// with the chance `focus_probability`; otherwise they pick uniformly.
    pub focus_node: Option<usize>,
    pub focus_probability: f64,
    /// The number of work threads per job, so a work-thread fault names a real one.
    pub work_threads: u32,
    /// Whether a crash may be permanent.
    pub allow_permanent_crash: bool,
}

impl PlanConfig {
    pub fn new(nodes: usize, safety_ms: u64) -> Self {
        PlanConfig {
            nodes,
            fault_start_ms: safety_ms / 10,
            safety_ms,
            allowed: FaultKind::ALL.to_vec(),
            max_faults: 6,
            never_down_nodes: vec![],
            untouched_nodes: vec![],
            focus_node: None,
            focus_probability: 0.0,
            work_threads: 1,
            allow_permanent_crash: true,
        }
    }
}

impl FaultPlan {
    pub fn empty() -> Self {
        FaultPlan::default()
    }

    /// The seed's plan, drawn on its own ChaCha stream (never madsim's), so it is known
    /// before the run and the same on every machine. With `swarm`, the seed first picks a
    /// random non-empty subset of the allowed kinds; without it every allowed kind is
    /// enabled. How kinds, times, durations and nodes are drawn is described on
    /// [`PlanConfig`]; no fault is aimed at a node the config spares.
    ///
    /// ```
    /// use sim::{FaultPlan, PlanConfig};
    ///
    /// let mut cfg = PlanConfig::new(5, 20_000); // 5 nodes, 20 s of safety phase
    /// cfg.never_down_nodes = vec![4]; // say, a client recording the history
    /// let plan = FaultPlan::generate(42, &cfg, true);
    /// assert_eq!(plan, FaultPlan::generate(42, &cfg, true));
    /// assert!(plan.faults.iter().all(|f| f.at_ms() >= 2_000 && f.at_ms() < 20_000));
    /// println!("{}", plan.summary());
    /// ```
    pub fn generate(seed: u64, cfg: &PlanConfig, swarm: bool) -> FaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(PLAN_STREAM);
        let mut enabled: Vec<FaultKind> = if swarm {
            cfg.allowed
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(0.5))
                .collect()
        } else {
            cfg.allowed.clone()
        };
        if enabled.is_empty() && !cfg.allowed.is_empty() {
            enabled.push(*cfg.allowed.choose(&mut rng).expect("non-empty"));
        }
        enabled.sort();
        let targets: Vec<usize> = (0..cfg.nodes)
            .filter(|n| !cfg.never_down_nodes.contains(n) && !cfg.untouched_nodes.contains(n))
            .collect();
        // The nodes a link fault may name.
        let linkable: Vec<usize> = (0..cfg.nodes)
            .filter(|n| !cfg.untouched_nodes.contains(n))
            .collect();
        let mut faults = Vec::new();
        if enabled.is_empty() || targets.is_empty() || cfg.safety_ms <= cfg.fault_start_ms {
            return FaultPlan { faults, enabled };
        }
        let count = rng.gen_range(1..=cfg.max_faults.max(1));
        let span = cfg.safety_ms - cfg.fault_start_ms;
        for _ in 0..count {
            let kind = *enabled.choose(&mut rng).expect("non-empty");
            let at_ms = cfg.fault_start_ms + rng.gen_range(0..span);
            // Windows are long enough to outlast failure detectors but end inside the run.
            let duration_ms = rng.gen_range(200..=(span / 3).max(201));
            let focus = cfg.focus_node.filter(|f| targets.contains(f));
            let node = match focus {
                Some(f) if rng.gen_bool(cfg.focus_probability.clamp(0.0, 1.0)) => f,
                _ => *targets.choose(&mut rng).expect("non-empty"),
            };
            let fault = match kind {
                FaultKind::Crash => Fault::Crash {
                    at_ms,
                    node,
                    restart_after_ms: if cfg.allow_permanent_crash && rng.gen_bool(0.25) {
                        None
                    } else {
                        Some(duration_ms)
                    },
                },
                FaultKind::Partition => {
                    let isolate = rng.gen_bool(0.5) || targets.len() < 2 || linkable.len() < 2;
                    let side_a = if isolate {
                        vec![node]
                    } else {
                        let mut all = linkable.clone();
                        all.shuffle(&mut rng);
                        let k = rng.gen_range(1..all.len());
                        let mut side: Vec<usize> = all.into_iter().take(k).collect();
                        side.sort();
                        side
                    };
                    Fault::Partition {
                        at_ms,
                        duration_ms,
                        side_a,
                        symmetry: if rng.gen_bool(0.75) {
                            PartitionSymmetry::Symmetric
                        } else {
                            PartitionSymmetry::OneWay
                        },
                    }
                }
                FaultKind::Clog if linkable.len() < 2 => continue,
                FaultKind::Clog => {
                    // With every node linkable this is `linkable[i] == i`: the same draw.
                    let mut i = rng.gen_range(0..linkable.len());
                    if linkable[i] == node {
                        i = (i + 1) % linkable.len();
                    }
                    let b = linkable[i];
                    Fault::Clog {
                        at_ms,
                        duration_ms,
                        a: node.min(b),
                        b: node.max(b),
                    }
                }
                FaultKind::PacketLoss => Fault::PacketLoss {
                    at_ms,
                    duration_ms,
                    probability: round2(rng.gen_range(0.05..0.5)),
                },
                FaultKind::Duplicate => Fault::Duplicate {
                    at_ms,
                    duration_ms,
                    probability: round2(rng.gen_range(0.05..0.5)),
                },
                FaultKind::LatencySpike => Fault::LatencySpike {
                    at_ms,
                    duration_ms,
                    node,
                    extra_latency_ms: rng.gen_range(20..400),
                },
                FaultKind::Pause => Fault::Pause {
                    at_ms,
                    duration_ms: duration_ms.min(3_000),
                    node,
                },
                FaultKind::WorkThread => Fault::WorkThread {
                    at_ms,
                    node,
                    thread: rng.gen_range(0..cfg.work_threads.max(1)),
                    mode: match rng.gen_range(0..4) {
                        0 => WorkFaultMode::Panic,
                        1 => WorkFaultMode::Error,
                        2 => WorkFaultMode::Hang,
                        _ => WorkFaultMode::Slow {
                            delay_ms: rng.gen_range(5..200),
                            duration_ms,
                        },
                    },
                },
            };
            faults.push(fault);
        }
        let mut plan = FaultPlan { faults, enabled };
        plan.sort();
        plan
    }

    /// Orders faults by start time; ties keep their order, so sorting is stable and
    /// deterministic.
    pub fn sort(&mut self) {
        self.faults.sort_by_key(|f| f.at_ms());
    }

    pub fn kinds(&self) -> BTreeSet<FaultKind> {
        self.faults.iter().map(|f| f.kind()).collect()
    }

    /// Checks a given (possibly hand-edited) plan against the world it will run in.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        for (i, f) in self.faults.iter().enumerate() {
            if let Some(n) = f.nodes().into_iter().find(|&n| n >= nodes) {
                return Err(format!(
                    "fault {i} ({f}) names node n{n}, but the world has {nodes} nodes"
                ));
            }
            if let Some(p) = f.probability() {
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!(
                        "fault {i} ({f}) has probability {p}, outside 0..=1"
                    ));
                }
            }
            if let Fault::Partition { side_a, .. } = f {
                if side_a.is_empty() || side_a.len() >= nodes {
                    return Err(format!("fault {i} ({f}) does not split the nodes"));
                }
            }
            if let Fault::Clog { a, b, .. } = f {
                if a == b {
                    return Err(format!("fault {i} ({f}) clogs a node with itself"));
                }
            }
        }
        Ok(())
    }

    /// Refuses a plan that aims a fault at a node `cfg` spares: a node fault at one of
    /// [`PlanConfig::never_down_nodes`] or [`PlanConfig::untouched_nodes`], a clog or a
    /// partition's listed side naming an untouched node. Generated plans never do; an
    /// edited artifact might.
    pub fn check_spared(&self, cfg: &PlanConfig) -> Result<(), String> {
        for (i, f) in self.faults.iter().enumerate() {
            let named = f.nodes();
            let node_fault = matches!(
                f,
                Fault::Crash { .. }
                    | Fault::Pause { .. }
                    | Fault::LatencySpike { .. }
                    | Fault::WorkThread { .. }
            );
            let spared = named.iter().find(|n| {
                cfg.untouched_nodes.contains(n) || (node_fault && cfg.never_down_nodes.contains(n))
            });
            if let Some(n) = spared {
                return Err(format!(
                    "fault {i} ({f}) names n{n}, a node this scenario's faults never touch"
                ));
            }
        }
        Ok(())
    }

    /// One line per fault, for printing before a run.
    pub fn summary(&self) -> String {
        if self.faults.is_empty() {
            return "fault plan: no faults".to_string();
        }
        let kinds: Vec<&str> = self.enabled.iter().map(|k| k.name()).collect();
        let n = self.faults.len();
        let mut s = format!(
            "fault plan: {n} fault{} (enabled: {})",
            if n == 1 { "" } else { "s" },
            kinds.join(", ")
        );
        for f in &self.faults {
            s.push_str("\n  ");
            s.push_str(&f.to_string());
        }
        s
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_a_function_of_the_seed() {
        let cfg = PlanConfig::new(5, 20_000);
        for seed in 0..50 {
            assert_eq!(
                FaultPlan::generate(seed, &cfg, true),
                FaultPlan::generate(seed, &cfg, true)
            );
        }
        let distinct: BTreeSet<String> = (0..50)
            .map(|s| serde_json::to_string(&FaultPlan::generate(s, &cfg, true)).unwrap())
            .collect();
        assert!(distinct.len() > 45, "plans barely vary: {}", distinct.len());
    }

    #[test]
    fn plan_round_trips_through_json() {
        let cfg = PlanConfig::new(5, 20_000);
        for seed in 0..200 {
            let plan = FaultPlan::generate(seed, &cfg, false);
            let json = serde_json::to_string(&plan).unwrap();
            let back: FaultPlan = serde_json::from_str(&json).unwrap();
            assert_eq!(plan, back, "seed {seed}: {json}");
            back.validate(5).unwrap();
        }
    }

    #[test]
    fn swarm_enables_subsets_and_no_swarm_enables_all() {
        let cfg = PlanConfig::new(5, 20_000);
        let all = FaultPlan::generate(7, &cfg, false);
        assert_eq!(all.enabled, FaultKind::ALL.to_vec());
        let sizes: BTreeSet<usize> = (0..100)
            .map(|s| FaultPlan::generate(s, &cfg, true).enabled.len())
            .collect();
        assert!(
            sizes.len() > 3,
            "swarm subsets all the same size: {sizes:?}"
        );
    }

    /// Over 10,000 plans (swarm and not, focus on a spared node or not), every fault
    /// starts inside the safety phase and keeps each knob's promise: no node fault at a
    /// never-down or untouched node, no clog or partition side naming an untouched node.
    /// Every kind is seen, and spared nodes' links are still cut by some faults when only
    /// never-down (that knob's documented limit).
    #[test]
    fn spared_nodes_keep_their_promise_over_10000_plans() {
        let mut cfg = PlanConfig::new(7, 10_000);
        cfg.never_down_nodes = vec![5];
        cfg.untouched_nodes = vec![6];
        cfg.work_threads = 2;
        let mut seen: BTreeSet<FaultKind> = BTreeSet::new();
        let mut never_down_link_cut = 0;
        for seed in 0..10_000u64 {
            cfg.focus_node = (seed % 3 == 0).then_some(6).or(Some(5));
            cfg.focus_probability = if seed % 2 == 0 { 0.9 } else { 0.0 };
            let plan = FaultPlan::generate(seed, &cfg, seed % 4 != 0);
            plan.validate(cfg.nodes).unwrap();
            plan.check_spared(&cfg).unwrap();
            for f in &plan.faults {
                seen.insert(f.kind());
                assert!(f.at_ms() >= cfg.fault_start_ms && f.at_ms() < cfg.safety_ms);
                match f {
                    Fault::Crash { node, .. }
                    | Fault::Pause { node, .. }
                    | Fault::LatencySpike { node, .. }
                    | Fault::WorkThread { node, .. } => {
                        assert!(*node != 5 && *node != 6, "seed {seed}: {f}")
                    }
                    Fault::Clog { a, b, .. } => {
                        assert!(*a != 6 && *b != 6 && a != b, "seed {seed}: {f}");
                        never_down_link_cut += usize::from(*a == 5 || *b == 5);
                    }
                    Fault::Partition { side_a, .. } => {
                        assert!(!side_a.contains(&6), "seed {seed}: {f}");
                        never_down_link_cut += 1;
                    }
                    // Network-wide: the network exempts the untouched node's links
                    // (`net::tests::untouched_nodes_escape_network_faults`).
                    Fault::PacketLoss { .. } | Fault::Duplicate { .. } => {}
                }
            }
        }
        assert_eq!(seen, FaultKind::ALL.into_iter().collect());
        assert!(never_down_link_cut > 100, "{never_down_link_cut}");
    }

    #[test]
    fn check_spared_refuses_a_given_plan_that_aims_at_a_spared_node() {
        let mut cfg = PlanConfig::new(4, 10_000);
        cfg.never_down_nodes = vec![2];
        cfg.untouched_nodes = vec![3];
        let plan = |f: Fault| FaultPlan {
            faults: vec![f],
            enabled: vec![],
        };
        let crash = |node| Fault::Crash {
            at_ms: 1,
            node,
            restart_after_ms: None,
        };
        let clog = |a, b| Fault::Clog {
            at_ms: 1,
            duration_ms: 5,
            a,
            b,
        };
        assert!(plan(crash(2)).check_spared(&cfg).is_err());
        assert!(plan(crash(3)).check_spared(&cfg).is_err());
        assert!(plan(crash(1)).check_spared(&cfg).is_ok());
        // A never-down node's links may be cut; an untouched node's may not.
        assert!(plan(clog(0, 2)).check_spared(&cfg).is_ok());
        assert!(plan(clog(0, 3))
            .check_spared(&cfg)
            .unwrap_err()
            .contains("n3"));
    }

    #[test]
    fn a_focus_node_draws_node_faults() {
        let mut focused = PlanConfig::new(5, 20_000);
        focused.focus_node = Some(0);
        focused.focus_probability = 0.5;
        let (mut on_focus, mut total) = (0, 0);
        for seed in 0..300 {
            for f in FaultPlan::generate(seed, &focused, false).faults {
                if let Fault::Crash { node, .. } | Fault::Pause { node, .. } = f {
                    total += 1;
                    on_focus += usize::from(node == 0);
                }
            }
        }
        // 0.5 + 0.5 / 5 of the node faults, against 1 / 5 without the focus.
        let share = on_focus as f64 / total as f64;
        assert!((0.5..0.7).contains(&share), "{on_focus} of {total}");
    }

    #[test]
    fn validate_rejects_bad_plans() {
        let plan = FaultPlan {
            faults: vec![Fault::Crash {
                at_ms: 1,
                node: 9,
                restart_after_ms: None,
            }],
            enabled: vec![],
        };
        assert!(plan.validate(5).unwrap_err().contains("n9"));
        let plan = FaultPlan {
            faults: vec![Fault::PacketLoss {
                at_ms: 1,
                duration_ms: 5,
                probability: 1.5,
            }],
            enabled: vec![],
        };
        assert!(plan.validate(5).unwrap_err().contains("probability"));
    }
}
