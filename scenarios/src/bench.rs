//! The ACK-round benchmark behind `clustersim bench ack-rounds`: the `ack-rounds` scenario's
//! engine running transactions back to back, each round's latency in simulated time beside
//! its network floor (`benches::floor`), the simulator's own speed beside its baselines
//! (`benches::baselines`), and a sweep over cluster sizes, assembled into a
//! `benches::report::Report`.
//!
//! A run stops as soon as it has measured the rounds asked for. Every simulated figure
//! (latencies, floors, rounds per simulated second) is a function of the flags alone, bit
//! for bit; only wall-clock figures vary between runs.

use crate::ack_rounds::AckRounds;
use crate::engine_common;
use crate::membership::Membership;
use benches::baselines;
use benches::floor::{RoundLatencies, RoundStats};
use benches::report::{LatencyStats, Report, SizePoint};
use sim::world::{PlanSource, RunReport, RunSpec};
use sim::{FaultKind, FaultPlan, LinkLatency, NetStats, StopSignal, Violation};
use std::time::{Duration, Instant};

/// The cluster sizes of the scaling sweep.
pub const SWEEP_SIZES: [usize; 6] = [3, 5, 9, 17, 33, 65];

/// Rounds each size of the sweep measures, at most: enough for a p99, and the 65-node
/// point stays within seconds of wall time.
pub const SWEEP_ROUNDS: u64 = 300;

/// Each size of the sweep runs this many times for its wall-clock figures: the growth
/// figures divide the cost at 65 nodes by the cost at 5, and one short run at 5 nodes
/// is easily disturbed on a shared machine.
pub const SWEEP_REPEATS: usize = 3;

/// Which faults a benchmark run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFaults {
    /// No faults: the protocol against the bare network.
    None,
    /// A seed-chosen subset of every fault kind, as in a sweep.
    Swarm,
    /// Node crashes (and restarts) only.
    Crash,
    /// Network partitions only.
    Partition,
}

impl BenchFaults {
    pub fn name(self) -> &'static str {
        match self {
            BenchFaults::None => "none",
            BenchFaults::Swarm => "swarm",
            BenchFaults::Crash => "crash",
            BenchFaults::Partition => "partition",
        }
    }
}

/// One benchmark run's parameters.
#[derive(Clone, Debug)]
pub struct AckBench {
    pub nodes: usize,
    pub rounds: u64,
    pub faults: BenchFaults,
    /// Every link's latency (uniform between the two, per message).
    pub latency: LinkLatency,
    pub seed: u64,
}

/// What one run measured.
pub struct AckRun {
    pub stats: RoundStats,
    pub sim_ns: u64,
    pub wall: Duration,
    pub net: NetStats,
    /// Trace events recorded (and checked).
    pub events: u64,
    pub plan: FaultPlan,
    /// Broken guarantees: a benchmark of a run that broke one measures nothing.
    pub violations: Vec<Violation>,
}

impl AckRun {
    pub fn sim_per_wall(&self) -> f64 {
        self.sim_ns as f64 / 1e9 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn msgs_per_wall_s(&self) -> f64 {
        self.net.delivered as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn wall_ns_per_sim_s(&self) -> f64 {
        self.wall.as_nanos() as f64 / (self.sim_ns as f64 / 1e9).max(1e-9)
    }

    pub fn msgs_per_sim_s(&self) -> f64 {
        self.net.delivered as f64 / (self.sim_ns as f64 / 1e9).max(1e-9)
    }
}

impl AckBench {
    /// The scenario this run is an instance of: failure detection, phases and faults.
    fn scenario(&self) -> AckRounds {
        let hi_ms = self.latency.max_us.div_ceil(1_000).max(1);
        let defaults = AckRounds::default();
        match self.faults {
            // Without faults the run ends at its last round; this is only a bound.
            BenchFaults::None => AckRounds {
                nodes: self.nodes,
                safety_ms: 5_000 + self.rounds * 16 * hi_ms,
                liveness_ms: 0,
                ..defaults
            },
            // Faults are planned over the time the rounds take without faults; then every
            // fault heals and the liveness phase gives the remaining rounds time to run.
            _ => AckRounds {
                nodes: self.nodes,
                safety_ms: 1_000 + self.rounds * 3 * hi_ms,
                ..defaults
            },
        }
    }

    /// Runs the benchmark once.
    pub fn run(&self) -> Result<AckRun, String> {
        if self.nodes < 2 {
            return Err("an ACK round needs at least 2 nodes".to_string());
        }
        let scenario = self.scenario();
        let mut world = sim::Scenario::world(&scenario);
        world.net.latency = self.latency;
        let stop = StopSignal::default();
        world.stop = Some(stop.clone());
        let plan = match self.faults {
            BenchFaults::None => PlanSource::Given(FaultPlan::empty()),
            BenchFaults::Swarm => PlanSource::Generate { swarm: true },
            BenchFaults::Crash | BenchFaults::Partition => {
                world.plan.allowed = vec![if self.faults == BenchFaults::Crash {
                    FaultKind::Crash
                } else {
                    FaultKind::Partition
                }];
                PlanSource::Generate { swarm: false }
            }
        };
        let spec = RunSpec {
            seed: self.seed,
            plan,
            keep_events: false,
        };
        let mut cfg = scenario.config();
        cfg.round_gap_ms = 0;
        let measure = RoundLatencies::default();
        let checker = measure.checker(self.rounds, Some(stop));
        let t0 = Instant::now();
        let r = engine_common::run_observed(
            &world,
            cfg,
            &spec,
            None,
            vec![checker],
            Some(measure.observer()),
        )?;
        let wall = t0.elapsed();
        Ok(AckRun {
            stats: measure.take(),
            sim_ns: r.sim_ns,
            wall,
            net: r.net,
            events: r.trace.event_count,
            plan: r.plan,
            violations: r.violations,
        })
    }

    /// Simulated seconds per wall second of the `ack-rounds` scenario at the catalog's
    /// pace (a transaction every 100 ms rather than back to back), without faults, at this
    /// run's size, latency and seed: the speed a sweep of that scenario sees. One run takes
    /// a few tens of milliseconds of wall time, so the best of `SWEEP_REPEATS` is kept,
    /// the figure least disturbed by the rest of the machine, as for the scaling sweep.
    pub fn catalog_pace_sim_per_wall(&self) -> Result<f64, String> {
        let mut best = 0.0f64;
        for _ in 0..SWEEP_REPEATS {
            best = best.max(self.catalog_pace_run()?);
        }
        Ok(best)
    }

    /// One run of [`AckBench::catalog_pace_sim_per_wall`].
    fn catalog_pace_run(&self) -> Result<f64, String> {
        let scenario = AckRounds {
            nodes: self.nodes,
            safety_ms: 10_000,
            ..AckRounds::default()
        };
        let mut world = sim::Scenario::world(&scenario);
        world.net.latency = self.latency;
        let spec = RunSpec {
            seed: self.seed,
            plan: PlanSource::Given(FaultPlan::empty()),
            keep_events: false,
        };
        let t0 = Instant::now();
        let r = engine_common::run(&world, scenario.config(), &spec, None)?;
        Ok(r.sim_ns as f64 / 1e9 / t0.elapsed().as_secs_f64().max(1e-9))
    }

    /// Runs `times` times and keeps the run with the least wall time: the simulated
    /// figures are the same every time, and the minimum is the wall-clock figure least
    /// disturbed by whatever else the machine runs.
    pub fn run_best_of(&self, times: usize) -> Result<AckRun, String> {
        let mut best = self.run()?;
        for _ in 1..times {
            let r = self.run()?;
            assert_eq!(
                (r.sim_ns, r.net, r.events),
                (best.sim_ns, best.net, best.events),
                "a benchmark run is not deterministic"
            );
            if r.wall < best.wall {
                best = r;
            }
        }
        Ok(best)
    }

    /// The same benchmark at another cluster size, measuring at most `rounds` rounds.
    pub fn at_size(&self, nodes: usize, rounds: u64) -> AckBench {
        AckBench {
            nodes,
            rounds: self.rounds.min(rounds),
            ..self.clone()
        }
    }
}

/// The baselines measured beside a run, with the message pattern of its ACK rounds.
#[derive(Clone, Copy, Debug)]
pub struct Baselines {
    pub endpoint_msgs_per_wall_s: f64,
    /// Our network model alone on the same pattern: the simulator's share of our figure.
    pub net_model_msgs_per_wall_s: f64,
    pub bare_heap_events_per_wall_s: f64,
    /// See [`AckBench::catalog_pace_sim_per_wall`].
    pub catalog_sim_per_wall: f64,
}

impl Baselines {
    /// A fraction of a second each, with the run's nodes (and, for the catalog's pace,
    /// its latency and seed).
    pub fn measure(bench: &AckBench) -> Result<Baselines, String> {
        let nodes = bench.nodes;
        Ok(Baselines {
            catalog_sim_per_wall: bench.catalog_pace_sim_per_wall()?,
            endpoint_msgs_per_wall_s: baselines::endpoint_fan_out(nodes, 200_000).per_wall_s(),
            net_model_msgs_per_wall_s: baselines::net_fan_out(nodes, 200_000).per_wall_s(),
            bare_heap_events_per_wall_s: baselines::bare_heap_events(5_000_000, nodes).per_wall_s(),
        })
    }
}

/// `LO..HI` in ms, as `--latency-ms` takes it.
pub fn fmt_latency_ms(l: LinkLatency) -> String {
    let ms = |us: u64| (us as f64 / 1_000.0).to_string();
    format!("{}..{}", ms(l.min_us), ms(l.max_us))
}

/// One point of the scaling sweep.
pub fn size_point(run: &AckRun, nodes: usize) -> SizePoint {
    SizePoint {
        nodes,
        latency: LatencyStats::of(&run.stats.latency),
        floor: LatencyStats::of(&run.stats.floor),
        wall_ns_per_sim_s: run.wall_ns_per_sim_s(),
        msgs_per_sim_s: run.msgs_per_sim_s(),
    }
}

/// Assembles the report of `run`.
pub fn report(
    command: &str,
    bench: &AckBench,
    run: &AckRun,
    base: &Baselines,
    sizes: Vec<SizePoint>,
) -> Report {
    Report {
        command: command.to_string(),
        nodes: bench.nodes,
        rounds: run.stats.rounds,
        rounds_requested: bench.rounds,
        faults: bench.faults.name().to_string(),
        latency_ms: fmt_latency_ms(bench.latency),
        seed: bench.seed,
        latency: LatencyStats::of(&run.stats.latency),
        floor: LatencyStats::of(&run.stats.floor),
        excess: LatencyStats::of(&run.stats.excess),
        rounds_per_sim_s: run.stats.rounds_per_sim_s(),
        sim_per_wall: run.sim_per_wall(),
        catalog_sim_per_wall: base.catalog_sim_per_wall,
        msgs_per_wall_s: run.msgs_per_wall_s(),
        endpoint_msgs_per_wall_s: base.endpoint_msgs_per_wall_s,
        net_model_msgs_per_wall_s: base.net_model_msgs_per_wall_s,
        bare_heap_events_per_wall_s: base.bare_heap_events_per_wall_s,
        sizes,
    }
}

/// `sim_ms` of the `membership` scenario at `nodes` nodes, without faults: the engine's
/// steady state (heartbeats, views, background multicast), view formation included.
pub fn membership_run(nodes: usize, sim_ms: u64, seed: u64) -> Result<RunReport, String> {
    let scenario = Membership {
        nodes,
        ..Membership::default()
    };
    let mut world = sim::Scenario::world(&scenario);
    world.safety_ms = sim_ms;
    world.liveness_ms = 0;
    let spec = RunSpec {
        seed,
        plan: PlanSource::Given(FaultPlan::empty()),
        keep_events: false,
    };
    engine_common::run(&world, scenario.config(), &spec, None)
}
