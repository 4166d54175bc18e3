//! The ACK-round benchmark behind `clustersim bench ack-rounds`: the `ack-rounds` scenario's
//! engine running transactions back to back (one at a time, or several in flight from one
//! or more coordinators), in either round variant, optionally under a processing-cost
//! model; each round's latency in simulated time beside its two floors (`benches::floor`),
//! the simulator's own speed beside its baselines (`benches::baselines`), and for a report
//! both variants side by side, the throughput–latency curve and a sweep over cluster
//! sizes, assembled into a `benches::report::Report`.
//!
//! A run stops as soon as it has measured the rounds asked for. Every simulated figure
//! (latencies, floors, rounds per simulated second) is a function of the flags alone, bit
//! for bit; only wall-clock figures vary between runs.

use crate::ack_rounds::AckRounds;
use crate::engine_common;
use crate::membership::Membership;
use benches::baselines;
use benches::floor::{RoundLatencies, RoundStats};
use benches::report::{
    Curve, CurvePoint, LatencyStats, Report, RoundFigures, SizePoint, Speed, REPORT_VERSION,
};
use protocols::engine::ack_round::RoundLoad;
use protocols::engine::direct::RoundVariant;
use sim::world::{PlanSource, RunReport, RunSpec};
use sim::{CostModel, FaultKind, FaultPlan, LinkLatency, NetStats, StopSignal, Violation};
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

/// Each point of the throughput–latency curve measures at least this many rounds per
/// transaction in flight: the pipeline refills many times over.
pub const CURVE_ROUNDS_PER_SLOT: u64 = 20;

/// The curve stops doubling the concurrency once throughput grows by less than this.
pub const CURVE_MIN_GROWTH: f64 = 0.05;

/// The largest concurrency the curve tries.
pub const CURVE_MAX_CONCURRENCY: u32 = 4_096;

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

/// The round variant, as `--variant` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchVariant {
    /// Each round through the engine's ordered multicast (safe delivery).
    Ordered,
    /// Each round from the coordinator straight to every member.
    Direct,
}

impl From<BenchVariant> for RoundVariant {
    fn from(v: BenchVariant) -> RoundVariant {
        match v {
            BenchVariant::Ordered => RoundVariant::Ordered,
            BenchVariant::Direct => RoundVariant::Direct,
        }
    }
}

/// The service-time distribution, as `--service-dist` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceDist {
    /// Every message takes `--service-us US`.
    Constant,
    /// Uniform over `--service-us LO..HI`.
    Uniform,
    /// Exponential with mean `--service-us US`.
    Exponential,
}

/// `--service-us`: one time in µs, or a range `LO..HI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceUs {
    pub lo: u64,
    pub hi: u64,
}

/// The longest service time `--service-us` takes: 10 s.
pub const MAX_SERVICE_US: u64 = 10_000_000;

/// Parses `--service-us`: `200` or `100..300`, in µs.
pub fn parse_service_us(s: &str) -> Result<ServiceUs, String> {
    let us = |x: &str| -> Result<u64, String> {
        match x.trim().parse::<u64>() {
            Ok(0) => Err("a service time must be at least 1 us".to_string()),
            Ok(v) if v > MAX_SERVICE_US => Err(format!("at most {MAX_SERVICE_US} us")),
            Ok(v) => Ok(v),
            Err(_) => Err(format!("'{x}' is not a service time in us")),
        }
    };
    let (lo, hi) = match s.split_once("..") {
        Some((lo, hi)) => (us(lo)?, us(hi)?),
        None => {
            let v = us(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!(
            "reversed service-time range {s}: LO must not exceed HI"
        ));
    }
    Ok(ServiceUs { lo, hi })
}

/// The cost model `--service-us`, `--service-dist` and `--cores` describe, if any. The
/// distribution defaults to constant for one time and uniform for a range.
pub fn cost_model(
    service: Option<ServiceUs>,
    dist: Option<ServiceDist>,
    cores: Option<u32>,
) -> Result<Option<CostModel>, String> {
    use sim::ServiceTime;
    let Some(ServiceUs { lo, hi }) = service else {
        if cores.is_some() || dist.is_some() {
            return Err("--cores and --service-dist need --service-us".to_string());
        }
        return Ok(None);
    };
    let dist = dist.unwrap_or(if lo == hi {
        ServiceDist::Constant
    } else {
        ServiceDist::Uniform
    });
    let service = match dist {
        ServiceDist::Constant | ServiceDist::Exponential if lo != hi => {
            return Err(format!(
                "a {} service time takes one value (its {}), not a range",
                if dist == ServiceDist::Constant {
                    "constant"
                } else {
                    "exponential"
                },
                if dist == ServiceDist::Constant {
                    "time"
                } else {
                    "mean"
                }
            ))
        }
        ServiceDist::Constant => ServiceTime::Constant {
            service_time_us: lo,
        },
        ServiceDist::Exponential => ServiceTime::Exponential {
            mean_service_time_us: lo,
        },
        ServiceDist::Uniform => ServiceTime::Uniform {
            min_service_time_us: lo,
            max_service_time_us: hi,
        },
    };
    Ok(Some(CostModel {
        service,
        cores_per_node: cores.unwrap_or(1),
    }))
}

/// Both variants of `bench` at its settings, and (when those have processing cost or
/// faults) without them; the curve of each variant when there is a cost model; and the
/// scaling sweep. A run that broke a guarantee stops it, returned with its violations.
/// `progress` hears of each step.
pub fn extras(
    bench: &AckBench,
    main: &AckRun,
    mut progress: impl FnMut(&str),
) -> Result<Result<Extras, (AckBench, AckRun)>, String> {
    let mut x = Extras::default();
    let mut settings = vec![(false, bench.clone())];
    if !bench.is_protocol_alone() {
        settings.push((true, bench.protocol_alone()));
    }
    for (alone, b) in settings {
        for v in RoundVariant::ALL {
            let f = if !alone && v == bench.variant {
                figures(v, &main.stats)
            } else {
                let at = b.in_variant(v);
                progress(&format!(
                    "{} rounds, {}{}",
                    at.rounds,
                    v.name(),
                    if alone { ", no cost, no faults" } else { "" }
                ));
                let r = at.run()?;
                if !r.violations.is_empty() {
                    return Ok(Err((at, r)));
                }
                figures(v, &r.stats)
            };
            if alone {
                x.without_cost.push(f);
            } else {
                x.variants.push(f);
            }
        }
    }
    if bench.cost.is_some() {
        for v in RoundVariant::ALL {
            let c = bench.in_variant(v).curve(|at| {
                progress(&format!(
                    "curve, {} rounds, {}, concurrency {}",
                    at.rounds,
                    v.name(),
                    at.load.concurrency
                ))
            })?;
            match c {
                Ok(c) => x.curves.push(c),
                Err(failed) => return Ok(Err(failed)),
            }
        }
    }
    for n in SWEEP_SIZES {
        let at = bench.at_size(n, SWEEP_ROUNDS);
        progress(&format!("scaling sweep, {} rounds at {n} nodes", at.rounds));
        let r = at.run_best_of(SWEEP_REPEATS)?;
        if !r.violations.is_empty() {
            return Ok(Err((at, r)));
        }
        x.sizes.push(size_point(&r, n));
    }
    Ok(Ok(x))
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
    /// How round messages reach the members.
    pub variant: RoundVariant,
    /// Transactions in flight per coordinator, and how many coordinate.
    pub load: RoundLoad,
    /// What a work thread's handling of a message costs, if anything.
    pub cost: Option<CostModel>,
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
    /// Task polls during the run ([`sim::task::polls`]).
    pub polls: u64,
    /// madsim timers the run's tasks registered ([`sim::clock::timers`]).
    pub timers: u64,
    /// Allocations during the run, 0 unless the program counts them
    /// ([`benches::alloc::Counting`]).
    pub allocations: u64,
}

impl AckRun {
    /// Task polls per delivered message.
    pub fn polls_per_msg(&self) -> f64 {
        self.polls as f64 / self.net.delivered.max(1) as f64
    }

    /// madsim timers per delivered message.
    pub fn timers_per_msg(&self) -> f64 {
        self.timers as f64 / self.net.delivered.max(1) as f64
    }

    /// Allocations per delivered message, when the program counts them.
    pub fn allocations_per_msg(&self) -> Option<f64> {
        (self.allocations > 0).then(|| self.allocations as f64 / self.net.delivered.max(1) as f64)
    }

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
    /// The benchmark's defaults: one ordered transaction at a time, no processing cost.
    pub fn new(
        nodes: usize,
        rounds: u64,
        faults: BenchFaults,
        latency: LinkLatency,
        seed: u64,
    ) -> Self {
        AckBench {
            nodes,
            rounds,
            faults,
            latency,
            seed,
            variant: RoundVariant::Ordered,
            load: RoundLoad::default(),
            cost: None,
        }
    }

    /// Work threads per job: two, as in the catalog, or one per core if there are more,
    /// so that the cores bound throughput.
    pub fn work_threads(&self) -> u32 {
        self.cost.map_or(2, |c| c.cores_per_node.max(2))
    }

    /// The cost model's analytical capacity in rounds per simulated second: every node
    /// handles every round once, so the cluster completes rounds as fast as one node's
    /// cores (at most one per work thread) get through them.
    pub fn capacity_rounds_per_sim_s(&self) -> Option<f64> {
        self.cost
            .map(|c| c.node_capacity_per_s(self.work_threads()))
    }

    /// The scenario this run is an instance of: failure detection, phases and faults.
    fn scenario(&self) -> AckRounds {
        let hi_ms = self.latency.max_us.div_ceil(1_000).max(1);
        let service_ms = self.cost.map_or(0.0, |c| c.service.mean_ns() / 1e6);
        let defaults = AckRounds::default();
        match self.faults {
            // Without faults the run ends at its last round; this is only a bound: a
            // round's trips, and its handling several times over.
            BenchFaults::None => AckRounds {
                nodes: self.nodes,
                safety_ms: 5_000 + self.rounds * (16 * hi_ms + (8.0 * service_ms).ceil() as u64),
                liveness_ms: 0,
                variant: self.variant,
                ..defaults
            },
            // Faults are planned over the time the rounds take without faults (a round's
            // trips and handling, as many rounds at once as are in flight, but no faster
            // than the cost model's capacity); then every fault heals and the liveness
            // phase gives the remaining rounds time to run.
            _ => {
                let in_flight = f64::from(self.load.concurrency * self.load.coordinators);
                let per_round_ms = ((3 * hi_ms) as f64 + service_ms) / in_flight.max(1.0);
                let per_round_ms = self
                    .capacity_rounds_per_sim_s()
                    .map_or(per_round_ms, |cap| per_round_ms.max(1e3 / cap));
                AckRounds {
                    nodes: self.nodes,
                    safety_ms: 1_000 + (self.rounds as f64 * per_round_ms).ceil() as u64,
                    variant: self.variant,
                    ..defaults
                }
            }
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
        world.cost = self.cost;
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
            detail: sim::Detail::Protocol,
        };
        let mut cfg = scenario.config();
        cfg.round_gap_ms = 0;
        cfg.load = self.load;
        cfg.work_threads = self.work_threads();
        let measure = RoundLatencies::default();
        // Throughput counts from the completion that ends the pipeline's first filling.
        let warmup = u64::from(self.load.concurrency * self.load.coordinators);
        let checker = measure.checker(self.rounds, warmup, Some(stop));
        let (polls, timers, allocations) = (
            sim::task::polls(),
            sim::clock::timers(),
            benches::alloc::allocations(),
        );
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
        let (polls, timers, allocations) = (
            sim::task::polls() - polls,
            sim::clock::timers() - timers,
            benches::alloc::allocations() - allocations,
        );
        Ok(AckRun {
            polls,
            timers,
            allocations,
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
            detail: sim::Detail::Protocol,
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

    /// The command that reproduces this benchmark's simulated figures.
    pub fn command(&self) -> String {
        let mut s = format!(
            "clustersim bench ack-rounds --nodes {} --rounds {} --faults {} --latency-ms {} --seed {} \
             --variant {} --concurrency {} --coordinators {}",
            self.nodes,
            self.rounds,
            self.faults.name(),
            fmt_latency_ms(self.latency),
            self.seed,
            self.variant.name(),
            self.load.concurrency,
            self.load.coordinators
        );
        if let Some(c) = &self.cost {
            use sim::ServiceTime;
            let service = match c.service {
                ServiceTime::Constant { service_time_us } => format!("{service_time_us}"),
                ServiceTime::Uniform {
                    min_service_time_us,
                    max_service_time_us,
                } => format!("{min_service_time_us}..{max_service_time_us} --service-dist uniform"),
                ServiceTime::Exponential {
                    mean_service_time_us,
                } => format!("{mean_service_time_us} --service-dist exponential"),
            };
            s.push_str(&format!(
                " --service-us {service} --cores {}",
                c.cores_per_node
            ));
        }
        s
    }

    /// The same benchmark in another variant.
    pub fn in_variant(&self, variant: RoundVariant) -> AckBench {
        AckBench {
            variant,
            ..self.clone()
        }
    }

    /// The same benchmark without processing cost or faults: the protocol alone.
    pub fn protocol_alone(&self) -> AckBench {
        AckBench {
            cost: None,
            faults: BenchFaults::None,
            ..self.clone()
        }
    }

    /// Whether this is already the protocol alone.
    pub fn is_protocol_alone(&self) -> bool {
        self.cost.is_none() && self.faults == BenchFaults::None
    }

    /// The throughput–latency curve: the concurrency doubles from 1 until throughput grows
    /// by less than [`CURVE_MIN_GROWTH`] (or reaches [`CURVE_MAX_CONCURRENCY`]). Each point
    /// measures at least [`CURVE_ROUNDS_PER_SLOT`] rounds per transaction in flight.
    /// `progress` hears of each point before it runs; a run that breaks a guarantee ends
    /// the curve with its violations.
    pub fn curve(
        &self,
        mut progress: impl FnMut(&AckBench),
    ) -> Result<Result<Curve, (AckBench, AckRun)>, String> {
        let mut points: Vec<CurvePoint> = Vec::new();
        let mut best = 0.0f64;
        let mut saturated = false;
        let mut k = 1u32;
        while k <= CURVE_MAX_CONCURRENCY {
            let slots = u64::from(k * self.load.coordinators);
            let at = AckBench {
                load: RoundLoad {
                    concurrency: k,
                    ..self.load
                },
                rounds: self.rounds.max(CURVE_ROUNDS_PER_SLOT * slots),
                ..self.clone()
            };
            progress(&at);
            let r = at.run()?;
            if !r.violations.is_empty() {
                return Ok(Err((at, r)));
            }
            let x = r.stats.rounds_per_sim_s();
            points.push(CurvePoint {
                concurrency: k,
                rounds: r.stats.rounds,
                rounds_per_sim_s: x,
                p50_ns: LatencyStats::of(&r.stats.latency).p50,
                p99_ns: LatencyStats::of(&r.stats.latency).p99,
            });
            if best > 0.0 && x < best * (1.0 + CURVE_MIN_GROWTH) {
                saturated = true;
                break;
            }
            best = best.max(x);
            k *= 2;
        }
        Ok(Ok(Curve {
            variant: self.variant.name().to_string(),
            points,
            saturated,
        }))
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
        critical_path_floor: LatencyStats::of(&run.stats.critical),
        wall_ns_per_sim_s: run.wall_ns_per_sim_s(),
        msgs_per_sim_s: run.msgs_per_sim_s(),
    }
}

/// The round figures of one run of `variant`.
pub fn figures(variant: RoundVariant, stats: &RoundStats) -> RoundFigures {
    RoundFigures::of(
        variant.name(),
        stats.rounds,
        &stats.latency,
        &stats.critical,
        &stats.independent,
        &stats.excess,
        &stats.beyond_independent,
        stats.rounds_per_sim_s(),
    )
}

/// What a report adds to the main run; all empty for `--json` or the summary alone.
#[derive(Default)]
pub struct Extras {
    pub variants: Vec<RoundFigures>,
    pub without_cost: Vec<RoundFigures>,
    pub curves: Vec<Curve>,
    pub sizes: Vec<SizePoint>,
}

/// Assembles the report of `run`, its targets included. `instructions`: the run's count
/// under callgrind, when it was counted (`--instructions`).
pub fn report(
    command: &str,
    bench: &AckBench,
    run: &AckRun,
    base: &Baselines,
    extras: Extras,
    instructions: Option<u64>,
) -> Report {
    let mut r = Report {
        version: REPORT_VERSION,
        command: command.to_string(),
        nodes: bench.nodes,
        variant: bench.variant.name().to_string(),
        concurrency: bench.load.concurrency,
        coordinators: bench.load.coordinators,
        work_threads: bench.work_threads(),
        cost_model: bench.cost,
        capacity_rounds_per_sim_s: bench.capacity_rounds_per_sim_s(),
        faults: bench.faults.name().to_string(),
        latency_ms: fmt_latency_ms(bench.latency),
        seed: bench.seed,
        rounds_requested: bench.rounds,
        run: figures(bench.variant, &run.stats),
        variants: extras.variants,
        without_cost: extras.without_cost,
        curves: extras.curves,
        speed: Speed {
            sim_per_wall: run.sim_per_wall(),
            catalog_sim_per_wall: base.catalog_sim_per_wall,
            msgs_per_wall_s: run.msgs_per_wall_s(),
            endpoint_msgs_per_wall_s: base.endpoint_msgs_per_wall_s,
            net_model_msgs_per_wall_s: base.net_model_msgs_per_wall_s,
            bare_heap_events_per_wall_s: base.bare_heap_events_per_wall_s,
            polls_per_msg: run.polls_per_msg(),
            timers_per_msg: run.timers_per_msg(),
            allocations_per_msg: run.allocations_per_msg(),
            instructions_per_msg: instructions.map(|i| i as f64 / run.net.delivered.max(1) as f64),
        },
        sizes: extras.sizes,
        targets: Vec::new(),
    };
    r.targets = r.compute_targets();
    r
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
        detail: sim::Detail::Protocol,
    };
    engine_common::run(&world, scenario.config(), &spec, None)
}
