//! The sweep, replay and shrink engine: runs many seeds of many scenarios in parallel, each
//! seed isolated on its own OS thread with a wall-clock limit, and turns failures into
//! replayable artifacts.
//!
//! Results never depend on thread timing: jobs are numbered before they start, results are
//! put back in that order, and a sweep that stops at its first failure stops at the lowest
//! failing job (every job before it runs to the end, every job after it is discarded), so
//! the same command line reports the same seeds, failures and hashes on any machine. Only
//! the wall-clock figures of the summary vary.

pub mod artifact;
pub mod shrink;

pub use artifact::Artifact;
pub use shrink::{shrink, ShrinkOutcome};

use crate::check::Violation;
use crate::fault::{FaultKind, FaultPlan};
use crate::isolate::{run_isolated, Isolated};
use crate::scenario::Scenario;
use crate::trace::Trace;
use crate::world::{Coverage, PlanSource, RunReport, RunSpec};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A scenario shared between the worker threads and the seed threads.
pub type ScenarioRef = Arc<dyn Scenario>;

/// The checker name of a seed that outlived its wall-clock limit.
pub const WALL_CLOCK_CHECKER: &str = "wall_clock_limit";
/// The checker name of a seed whose thread panicked outside the simulation's own handling.
pub const PANIC_CHECKER: &str = "no_panic";

/// The default wall-clock limit of one seed. A demo seed takes a few milliseconds; the limit
/// only has to catch a seed that spins for ever. `CLUSTERSIM_SEED_TIMEOUT_S` overrides it.
pub const DEFAULT_SEED_WALL_LIMIT: Duration = Duration::from_secs(60);

/// The per-seed wall-clock limit: `CLUSTERSIM_SEED_TIMEOUT_S` if set to a positive number
/// of seconds, else [`DEFAULT_SEED_WALL_LIMIT`].
pub fn seed_wall_limit_from_env() -> Duration {
    std::env::var("CLUSTERSIM_SEED_TIMEOUT_S")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_SEED_WALL_LIMIT)
}

/// The most seeds one sweep or determinism check runs (seeds times scenarios). A sweep keeps
/// about half a kilobyte per seed for its ordered summary; split larger ranges with
/// `--shard` or into several runs.
pub const MAX_SEEDS_PER_RUN: u64 = 10_000_000;

/// Rejects a run of more than [`MAX_SEEDS_PER_RUN`] seeds.
pub fn check_run_size(seeds: u64, scenarios: usize) -> Result<(), String> {
    let total = u128::from(seeds) * scenarios as u128;
    if total > u128::from(MAX_SEEDS_PER_RUN) {
        return Err(format!(
            "{total} seeds in one run is more than the {MAX_SEEDS_PER_RUN} a run holds: \
             split the range, or use --shard"
        ));
    }
    Ok(())
}

/// One thread per core, the default number of sweep workers.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A half-open range of seeds `A..B`, never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl SeedRange {
    /// Parses `A..B`; an empty, reversed or unparsable range is an error.
    pub fn parse(s: &str) -> Result<SeedRange, String> {
        let bad = || format!("unparsable seed range '{s}': expected A..B, e.g. 0..1000");
        let (a, b) = s.trim().split_once("..").ok_or_else(bad)?;
        if b.starts_with('=') {
            return Err(bad());
        }
        let start: u64 = a.trim().parse().map_err(|_| bad())?;
        let end: u64 = b.trim().parse().map_err(|_| bad())?;
        if start == end {
            return Err(format!("empty seed range {start}..{end}: it holds no seed"));
        }
        if start > end {
            return Err(format!(
                "reversed seed range {start}..{end}: the start must be below the end"
            ));
        }
        Ok(SeedRange { start, end })
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The seeds of `shard` (all of them without one).
    pub fn shard(&self, shard: Option<Shard>) -> std::ops::Range<u64> {
        match shard {
            None => self.start..self.end,
            Some(sh) => {
                let len = u128::from(self.len());
                let at = |k: u64| self.start + (len * u128::from(k) / u128::from(sh.count)) as u64;
                at(sh.index - 1)..at(sh.index)
            }
        }
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// `I/N`: the I-th (from 1) of N disjoint, contiguous slices of a seed range. The slices of
/// 1/N .. N/N together hold every seed of the range exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("bad shard '{s}': expected I/N with 1 <= I <= N, e.g. 1/4");
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "bad shard '{s}': the shard count must be at least 1"
            ));
        }
        if index == 0 || index > count {
            return Err(format!("bad shard '{s}': shards are numbered 1 to {count}"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One seed of one scenario, ready to run.
#[derive(Clone)]
pub struct SeedJob {
    pub scenario: ScenarioRef,
    pub seed: u64,
    pub mutant: Option<String>,
    pub plan: PlanSource,
    /// Keep every event (for printing); otherwise only hashes are kept.
    pub keep_events: bool,
    /// Hand the whole [`RunReport`] back in the outcome (a sweep drops it to save memory).
    pub keep_report: bool,
}

impl SeedJob {
    /// A seed with the plan generated from it, as a sweep runs it.
    pub fn generated(
        scenario: ScenarioRef,
        seed: u64,
        mutant: Option<String>,
        swarm: bool,
    ) -> Self {
        SeedJob {
            scenario,
            seed,
            mutant,
            plan: PlanSource::Generate { swarm },
            keep_events: false,
            keep_report: false,
        }
    }

    /// The plan this job runs, known before it runs.
    pub fn plan(&self) -> FaultPlan {
        match &self.plan {
            PlanSource::Generate { swarm } => {
                FaultPlan::generate(self.seed, &self.scenario.world().plan, *swarm)
            }
            PlanSource::Given(p) => p.clone(),
        }
    }
}

/// How one seed ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    /// Every broken guarantee, in the order they broke; never empty.
    Failed(Vec<Violation>),
    /// The scenario rejected the input (a plan that does not fit its world, an unknown
    /// mutant): an operating error, not a finding.
    BadInput(String),
}

impl Verdict {
    /// The violation that names the failure: the first one.
    pub fn first_violation(&self) -> Option<&Violation> {
        match self {
            Verdict::Failed(v) => v.first(),
            _ => None,
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Failed(_))
    }

    /// Whether `checker` is among the broken guarantees.
    pub fn broke(&self, checker: &str) -> bool {
        match self {
            Verdict::Failed(v) => v.iter().any(|v| v.checker == checker),
            _ => false,
        }
    }
}

/// The outcome of one seed.
#[derive(Debug)]
pub struct SeedOutcome {
    pub scenario: String,
    pub seed: u64,
    pub mutant: Option<String>,
    /// The plan the seed ran (or would have run, if it never finished).
    pub plan: FaultPlan,
    pub verdict: Verdict,
    /// `None` when the run never finished (a wall-clock hang, a panic outside the sim).
    pub trace_hash: Option<u64>,
    pub event_count: u64,
    pub sim_ns: u64,
    /// Wall time of the run itself, measured on the seed's thread.
    pub wall: Duration,
    pub coverage: Coverage,
    /// The full report, if the job asked to keep it and the run finished.
    pub report: Option<Box<RunReport>>,
    /// Where the failure artifact was written, once it was.
    pub artifact: Option<PathBuf>,
}

impl SeedOutcome {
    pub fn trace(&self) -> Option<&Trace> {
        self.report.as_ref().map(|r| &r.trace)
    }
}

/// Runs one seed on its own OS thread, at most `wall_limit` of wall time.
pub fn run_seed(job: &SeedJob, wall_limit: Duration) -> SeedOutcome {
    let scenario = job.scenario.clone();
    let spec = RunSpec {
        seed: job.seed,
        plan: job.plan.clone(),
        keep_events: job.keep_events,
    };
    let mutant = job.mutant.clone();
    let isolated = run_isolated(wall_limit, move || {
        let t0 = Instant::now();
        let r = scenario.run(&spec, mutant.as_deref());
        (r, t0.elapsed())
    });
    let mut out = SeedOutcome {
        scenario: job.scenario.name().to_string(),
        seed: job.seed,
        mutant: job.mutant.clone(),
        plan: FaultPlan::empty(),
        verdict: Verdict::Passed,
        trace_hash: None,
        event_count: 0,
        sim_ns: 0,
        wall: wall_limit,
        coverage: Coverage::new(),
        report: None,
        artifact: None,
    };
    match isolated {
        Isolated::Done((Ok(report), wall)) => {
            out.plan = report.plan.clone();
            out.verdict = if report.passed() {
                Verdict::Passed
            } else {
                Verdict::Failed(report.violations.clone())
            };
            out.trace_hash = Some(report.trace.hash);
            out.event_count = report.trace.event_count;
            out.sim_ns = report.sim_ns;
            out.wall = wall;
            if job.keep_report {
                out.coverage = report.coverage.clone();
                out.report = Some(Box::new(report));
            } else {
                out.coverage = report.coverage;
            }
        }
        Isolated::Done((Err(e), wall)) => {
            out.plan = job.plan();
            out.verdict = Verdict::BadInput(e);
            out.wall = wall;
        }
        Isolated::Panicked(msg) => {
            out.plan = job.plan();
            out.verdict = Verdict::Failed(vec![Violation {
                checker: PANIC_CHECKER.to_string(),
                event_index: 0,
                t_ns: 0,
                explanation: format!("the seed's thread panicked: {msg}"),
            }]);
        }
        Isolated::TimedOut(limit) => {
            out.plan = job.plan();
            out.verdict = Verdict::Failed(vec![Violation {
                checker: WALL_CLOCK_CHECKER.to_string(),
                event_index: 0,
                t_ns: 0,
                explanation: format!(
                    "the seed ran longer than {:.1}s of wall time and was abandoned",
                    limit.as_secs_f64()
                ),
            }]);
        }
    }
    out
}

/// Runs `count` numbered jobs on `workers` threads and returns their results in job order.
///
/// `work(i)` returns the result and whether it is a failure. Unless `keep_going`, the pool
/// stops at the lowest failing job: every job numbered below it still runs, and results
/// numbered above it are dropped, so the returned list does not depend on thread timing.
/// `on_result` sees each result as it arrives (in arrival order), on the calling thread.
pub fn run_pool<T, W, R>(
    count: usize,
    workers: usize,
    keep_going: bool,
    work: W,
    mut on_result: R,
) -> Vec<(usize, T)>
where
    T: Send,
    W: Fn(usize) -> (T, bool) + Sync,
    R: FnMut(usize, &mut T),
{
    let next = AtomicUsize::new(0);
    let stop_at = AtomicUsize::new(usize::MAX);
    let mut results: Vec<(usize, T)> = Vec::with_capacity(count);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, T)>();
        for w in 0..workers.clamp(1, count.max(1)) {
            let tx = tx.clone();
            let (next, stop_at, work) = (&next, &stop_at, &work);
            std::thread::Builder::new()
                .name(format!("clustersim-worker-{w}"))
                .spawn_scoped(scope, move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || i > stop_at.load(Ordering::SeqCst) {
                        return;
                    }
                    let (result, failed) = work(i);
                    if failed && !keep_going {
                        stop_at.fetch_min(i, Ordering::SeqCst);
                    }
                    if tx.send((i, result)).is_err() {
                        return;
                    }
                })
                .expect("spawn a sweep worker thread");
        }
        drop(tx);
        for (i, mut result) in rx {
            on_result(i, &mut result);
            results.push((i, result));
        }
    });
    let stop = stop_at.load(Ordering::SeqCst);
    results.retain(|(i, _)| *i <= stop);
    results.sort_by_key(|(i, _)| *i);
    results
}

/// What a sweep runs.
#[derive(Clone)]
pub struct SweepTarget {
    pub scenario: ScenarioRef,
    pub mutant: Option<String>,
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    pub workers: usize,
    pub seed_wall_limit: Duration,
    /// Run every seed even after a failure; otherwise stop at the first one.
    pub keep_going: bool,
    /// Where failure artifacts go; `None` writes none.
    pub artifacts: Option<PathBuf>,
    pub swarm: bool,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            workers: default_jobs(),
            seed_wall_limit: DEFAULT_SEED_WALL_LIMIT,
            keep_going: false,
            artifacts: None,
            swarm: true,
        }
    }
}

/// A sweep's progress, reported after each seed.
pub struct Progress<'a> {
    pub done: usize,
    pub total: usize,
    pub failures: usize,
    /// The seed that just finished.
    pub outcome: &'a SeedOutcome,
    /// Set when writing this seed's artifact failed.
    pub artifact_error: Option<String>,
}

/// Everything a sweep found, in (scenario, seed) order.
pub struct SweepResult {
    pub outcomes: Vec<SeedOutcome>,
    /// The seeds the sweep was asked to run (more than it ran if it stopped early).
    pub planned: usize,
    pub wall: Duration,
    pub stopped_early: bool,
    /// How many of the seeds run had each (fault kind, protocol phase) pair.
    pub coverage: BTreeMap<(String, String), u64>,
}

impl SweepResult {
    pub fn failures(&self) -> impl Iterator<Item = &SeedOutcome> {
        self.outcomes.iter().filter(|o| o.verdict.is_failure())
    }

    /// Seeds whose scenario rejected its input (should never happen for generated plans).
    pub fn bad_inputs(&self) -> impl Iterator<Item = &SeedOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::BadInput(_)))
    }

    pub fn stats(&self) -> SweepStats {
        // The outcomes' own coverage was folded into `self.coverage` as they arrived.
        let mut stats = SweepStats::of(&self.outcomes, self.wall);
        for (pair, n) in &self.coverage {
            *stats.coverage.entry(pair.clone()).or_insert(0) += n;
        }
        stats
    }
}

/// Runs every seed of `seeds` for every target. Jobs run in (seed, scenario) order, so a
/// sweep that stops early has explored the same seeds of every scenario; results come back
/// sorted by (scenario, seed).
///
/// A sweep may cover millions of seeds, so it keeps little per seed: jobs are made when
/// they start, a passing seed's plan is dropped, and coverage is folded into shared
/// counters (after the stop point is known, so discarded seeds do not count).
pub fn sweep(
    targets: &[SweepTarget],
    seeds: std::ops::Range<u64>,
    cfg: &SweepConfig,
    mut on_progress: impl FnMut(&Progress<'_>),
) -> SweepResult {
    let per_seed = targets.len();
    let total = if per_seed == 0 {
        0
    } else {
        usize::try_from(seeds.end.saturating_sub(seeds.start))
            .expect("a seed range that fits in memory")
            * per_seed
    };
    let job = |i: usize| {
        let t = &targets[i % per_seed];
        let seed = seeds.start + (i / per_seed) as u64;
        SeedJob::generated(t.scenario.clone(), seed, t.mutant.clone(), cfg.swarm)
    };
    let t0 = Instant::now();
    let mut done = 0;
    let mut failures = 0;
    let mut pairs = CoverageIndex::default();
    let mut covered: Vec<(usize, Vec<u16>)> = Vec::new();
    let results = run_pool(
        total,
        cfg.workers,
        cfg.keep_going,
        |i| {
            let o = run_seed(&job(i), cfg.seed_wall_limit);
            let failed = o.verdict.is_failure();
            (o, failed)
        },
        |i, o| {
            done += 1;
            let mut artifact_error = None;
            if o.verdict.is_failure() {
                failures += 1;
                // With --keep-going every failure is reported, so its artifact is written
                // at once; otherwise only the lowest failure is, once it is known.
                if cfg.keep_going {
                    if let Some(dir) = &cfg.artifacts {
                        match Artifact::from_outcome(o).and_then(|a| a.write_in(dir)) {
                            Ok(p) => o.artifact = Some(p),
                            Err(e) => artifact_error = Some(e),
                        }
                    }
                }
            }
            on_progress(&Progress {
                done,
                total,
                failures,
                outcome: o,
                artifact_error,
            });
            let interned = std::mem::take(&mut o.coverage)
                .into_iter()
                .map(|pair| pairs.intern(pair))
                .collect();
            covered.push((i, interned));
            if !o.verdict.is_failure() {
                o.plan = FaultPlan::empty();
            }
        },
    );
    let wall = t0.elapsed();
    let stopped_early = results.len() < total;
    // The pool keeps exactly the results up to its stop point.
    let kept_up_to = results.last().map(|(i, _)| *i);
    let mut coverage = BTreeMap::new();
    for (i, interned) in covered {
        if Some(i) <= kept_up_to {
            for p in interned {
                *coverage.entry(pairs.pairs[p as usize].clone()).or_insert(0) += 1;
            }
        }
    }
    let mut outcomes: Vec<SeedOutcome> = results.into_iter().map(|(_, o)| o).collect();
    if !cfg.keep_going {
        if let Some(dir) = &cfg.artifacts {
            for o in outcomes.iter_mut().filter(|o| o.verdict.is_failure()) {
                match Artifact::from_outcome(o).and_then(|a| a.write_in(dir)) {
                    Ok(p) => o.artifact = Some(p),
                    Err(e) => {
                        on_progress(&Progress {
                            done,
                            total,
                            failures,
                            outcome: o,
                            artifact_error: Some(e),
                        });
                    }
                }
            }
        }
    }
    outcomes.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
    SweepResult {
        outcomes,
        planned: total,
        wall,
        stopped_early,
        coverage,
    }
}

/// Numbers the (fault kind, phase) pairs a sweep meets, so each seed keeps small indices
/// rather than strings.
#[derive(Default)]
struct CoverageIndex {
    pairs: Vec<(String, String)>,
    index: BTreeMap<(String, String), u16>,
}

impl CoverageIndex {
    fn intern(&mut self, pair: (String, String)) -> u16 {
        if let Some(&i) = self.index.get(&pair) {
            return i;
        }
        let i = u16::try_from(self.pairs.len()).expect("fewer than 65536 coverage pairs");
        self.pairs.push(pair.clone());
        self.index.insert(pair, i);
        i
    }
}

/// The summary figures of a set of seeds.
#[derive(Clone, Debug)]
pub struct SweepStats {
    pub seeds_run: usize,
    pub failures: usize,
    pub wall: Duration,
    pub sim_ns: u128,
    /// Median and 99th percentile of one seed's own wall time.
    pub seed_wall_median: Duration,
    pub seed_wall_p99: Duration,
    /// How many seeds had each (fault kind, protocol phase) pair.
    pub coverage: BTreeMap<(String, String), u64>,
}

impl SweepStats {
    pub fn of(outcomes: &[SeedOutcome], wall: Duration) -> SweepStats {
        let mut walls: Vec<Duration> = outcomes.iter().map(|o| o.wall).collect();
        walls.sort();
        let pick = |q: f64| {
            if walls.is_empty() {
                Duration::ZERO
            } else {
                walls[((walls.len() - 1) as f64 * q).round() as usize]
            }
        };
        let mut coverage = BTreeMap::new();
        for o in outcomes {
            for pair in &o.coverage {
                *coverage.entry(pair.clone()).or_insert(0) += 1;
            }
        }
        SweepStats {
            seeds_run: outcomes.len(),
            failures: outcomes.iter().filter(|o| o.verdict.is_failure()).count(),
            wall,
            sim_ns: outcomes.iter().map(|o| u128::from(o.sim_ns)).sum(),
            seed_wall_median: pick(0.5),
            seed_wall_p99: pick(0.99),
            coverage,
        }
    }

    pub fn sim_s(&self) -> f64 {
        self.sim_ns as f64 / 1e9
    }

    pub fn seeds_per_s(&self) -> f64 {
        let w = self.wall.as_secs_f64();
        if w > 0.0 {
            self.seeds_run as f64 / w
        } else {
            0.0
        }
    }

    /// The fault-kind × protocol-phase table: one row per fault kind (every kind, so the
    /// kinds a sweep never injected show too), one column per phase seen, each cell the
    /// number of seeds in which a fault of that kind started while a node was in that phase.
    pub fn coverage_table(&self) -> String {
        let mut phases: Vec<&str> = self.coverage.keys().map(|(_, p)| p.as_str()).collect();
        phases.sort_unstable();
        phases.dedup();
        let mut kinds: Vec<String> = FaultKind::ALL
            .iter()
            .map(|k| k.name().to_string())
            .collect();
        for (k, _) in self.coverage.keys() {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
        if phases.is_empty() {
            return "coverage: no fault started during the run(s)\n".to_string();
        }
        let kw = kinds
            .iter()
            .map(|k| k.len())
            .max()
            .unwrap_or(0)
            .max("fault kind".len());
        let widths: Vec<usize> = phases
            .iter()
            .map(|p| {
                let cells = kinds
                    .iter()
                    .map(|k| self.cell(k, p).len())
                    .max()
                    .unwrap_or(1);
                p.len().max(cells)
            })
            .collect();
        let mut s = format!("{:<kw$}", "fault kind");
        for (p, w) in phases.iter().zip(&widths) {
            s.push_str(&format!("  {p:>w$}"));
        }
        s.push('\n');
        for k in &kinds {
            s.push_str(&format!("{k:<kw$}"));
            for (p, w) in phases.iter().zip(&widths) {
                s.push_str(&format!("  {:>w$}", self.cell(k, p)));
            }
            s.push('\n');
        }
        s
    }

    fn cell(&self, kind: &str, phase: &str) -> String {
        match self.coverage.get(&(kind.to_string(), phase.to_string())) {
            Some(n) => n.to_string(),
            None => "-".to_string(),
        }
    }
}

/// The result of running one seed twice.
#[derive(Debug)]
pub struct DeterminismOutcome {
    pub scenario: String,
    pub seed: u64,
    pub hashes: [Option<u64>; 2],
    pub event_counts: [u64; 2],
    /// The first event index where the two traces differ, with each run's line there.
    pub divergence: Option<Divergence>,
    pub sim_ns: u64,
    pub wall: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    pub event_index: usize,
    /// The two runs' lines at that index (`None` past the end of a trace, or when a run
    /// never finished).
    pub lines: [Option<String>; 2],
}

/// Runs `job` twice (each on its own thread) and compares the traces event by event.
pub fn check_seed_determinism(job: &SeedJob, wall_limit: Duration) -> DeterminismOutcome {
    let mut job = job.clone();
    job.keep_events = true;
    job.keep_report = true;
    let a = run_seed(&job, wall_limit);
    let b = run_seed(&job, wall_limit);
    let divergence = match (a.trace(), b.trace()) {
        (Some(ta), Some(tb)) => ta.first_divergence(tb).map(|i| Divergence {
            event_index: i,
            lines: [ta.line(i), tb.line(i)],
        }),
        // Two runs that both never finished (both hung, or both panicked outside the
        // simulation) cannot be compared event by event; if they ended alike, that is
        // consistent. One finishing and the other not is itself nondeterminism.
        (None, None) if a.verdict == b.verdict => None,
        (ta, tb) => Some(Divergence {
            event_index: 0,
            lines: [ta.and_then(|t| t.line(0)), tb.and_then(|t| t.line(0))],
        }),
    };
    DeterminismOutcome {
        scenario: a.scenario.clone(),
        seed: a.seed,
        hashes: [a.trace_hash, b.trace_hash],
        event_counts: [a.event_count, b.event_count],
        divergence,
        sim_ns: a.sim_ns,
        wall: a.wall + b.wall,
    }
}

/// Checks every seed of every scenario twice, in parallel; results in (scenario, seed)
/// order. Every seed is checked even after a divergence.
pub fn check_determinism(
    scenarios: &[ScenarioRef],
    seeds: std::ops::Range<u64>,
    workers: usize,
    wall_limit: Duration,
    mut on_progress: impl FnMut(usize, usize, &DeterminismOutcome),
) -> Vec<DeterminismOutcome> {
    let per_seed = scenarios.len();
    let total = if per_seed == 0 {
        0
    } else {
        usize::try_from(seeds.end.saturating_sub(seeds.start))
            .expect("a seed range that fits in memory")
            * per_seed
    };
    let job = |i: usize| {
        let seed = seeds.start + (i / per_seed) as u64;
        SeedJob::generated(scenarios[i % per_seed].clone(), seed, None, true)
    };
    let mut done = 0;
    let results = run_pool(
        total,
        workers,
        true,
        |i| {
            let o = check_seed_determinism(&job(i), wall_limit);
            let failed = o.divergence.is_some();
            (o, failed)
        },
        |_, o| {
            done += 1;
            on_progress(done, total, o);
        },
    );
    let mut out: Vec<DeterminismOutcome> = results.into_iter().map(|(_, o)| o).collect();
    out.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_reject_bad_input() {
        assert_eq!(
            SeedRange::parse("0..10").unwrap(),
            SeedRange { start: 0, end: 10 }
        );
        assert!(SeedRange::parse("5..5").unwrap_err().contains("empty"));
        assert!(SeedRange::parse("9..3").unwrap_err().contains("reversed"));
        for bad in [
            "", "x", "1..", "..5", "a..b", "1..=5", "-1..5", "1...5", "1..2..3",
        ] {
            assert!(
                SeedRange::parse(bad).unwrap_err().contains("unparsable"),
                "{bad}"
            );
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_range() {
        for (a, b) in [(0u64, 10u64), (7, 1007), (0, 3), (5, 6)] {
            let r = SeedRange { start: a, end: b };
            for n in 1..=7u64 {
                let mut all = Vec::new();
                for i in 1..=n {
                    all.extend(r.shard(Some(Shard { index: i, count: n })));
                }
                assert_eq!(all, (a..b).collect::<Vec<_>>(), "{r} in {n} shards");
            }
        }
        assert!(Shard::parse("0/3").unwrap_err().contains("numbered 1 to 3"));
        assert!(Shard::parse("4/3").unwrap_err().contains("numbered 1 to 3"));
        assert!(Shard::parse("x/y").unwrap_err().contains("expected I/N"));
        assert!(Shard::parse("1/0").unwrap_err().contains("at least 1"));
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
    }

    #[test]
    fn pool_results_are_ordered_and_stop_at_the_lowest_failure() {
        for workers in [1, 2, 4] {
            let all = run_pool(50, workers, true, |i| (i * 10, i % 7 == 3), |_, _| {});
            assert_eq!(
                all.iter().map(|(i, v)| (*i, *v)).collect::<Vec<_>>(),
                (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>()
            );
            let stopped = run_pool(
                50,
                workers,
                false,
                |i| {
                    // Later jobs finish first, to show timing does not decide the result.
                    std::thread::sleep(Duration::from_micros(((50 - i) * 30) as u64));
                    (i, i == 17 || i == 31)
                },
                |_, _| {},
            );
            assert_eq!(
                stopped.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                (0..=17).collect::<Vec<_>>()
            );
        }
    }

    /// A scenario whose seeds panic outside the simulation (seed % 3 == 0), hang in wall
    /// time (seed % 3 == 1) or pass, to show a sweep survives both.
    struct Unruly;

    impl Scenario for Unruly {
        fn name(&self) -> &'static str {
            "unruly"
        }
        fn description(&self) -> &'static str {
            "panics, hangs or passes by seed"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(3, 1_000, 1_000)
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            match spec.seed % 3 {
                0 => std::panic::panic_any(format!("seed {} blew up", spec.seed)),
                1 => std::thread::sleep(Duration::from_secs(60)),
                _ => {}
            }
            Ok(RunReport {
                seed: spec.seed,
                plan: FaultPlan::empty(),
                trace: Trace::default(),
                violations: vec![],
                net: Default::default(),
                sim_ns: 1_000,
                coverage: Default::default(),
            })
        }
    }

    #[test]
    fn a_panicking_or_hung_seed_fails_alone_and_the_sweep_goes_on() {
        // The limit leaves the quick seeds ample time on a loaded machine; the hung ones
        // sleep far past it and are abandoned.
        let cfg = SweepConfig {
            workers: 2,
            seed_wall_limit: Duration::from_millis(1_500),
            keep_going: true,
            artifacts: None,
            swarm: true,
        };
        let targets = [SweepTarget {
            scenario: Arc::new(Unruly),
            mutant: None,
        }];
        let r = sweep(&targets, 0..6, &cfg, |_| {});
        let got: Vec<(u64, Option<String>)> = r
            .outcomes
            .iter()
            .map(|o| {
                (
                    o.seed,
                    o.verdict.first_violation().map(|v| v.checker.clone()),
                )
            })
            .collect();
        let panic = Some(PANIC_CHECKER.to_string());
        let hang = Some(WALL_CLOCK_CHECKER.to_string());
        assert_eq!(
            got,
            vec![
                (0, panic.clone()),
                (1, hang.clone()),
                (2, None),
                (3, panic),
                (4, hang),
                (5, None)
            ]
        );
        assert!(r.outcomes[0]
            .verdict
            .first_violation()
            .unwrap()
            .explanation
            .contains("seed 0 blew up"));
        let stats = r.stats();
        assert_eq!((stats.seeds_run, stats.failures), (6, 4));
    }

    /// A scenario that leaks state between runs: a process-wide counter ends up in the
    /// trace, so the second run of a seed differs from the first at a known event.
    struct Leaky;

    static LEAK: AtomicUsize = AtomicUsize::new(0);

    crate::trace_events! {
        /// The leaky scenario's node.
        enum LeakyEvent in "leaky" {
            /// The same in every run.
            Same as "same" {
                /// Always 1.
                x: u64,
            },
            /// A process-wide counter: different in every run.
            Counter as "counter" {
                /// The counter's value.
                n: u64,
            },
        }
    }

    impl Scenario for Leaky {
        fn name(&self) -> &'static str {
            "leaky"
        }
        fn description(&self) -> &'static str {
            "nondeterministic on purpose"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(1, 100, 100)
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            let mut world = self.world();
            world.plan.allowed.clear();
            crate::run_world::<(), _, _>(&world, spec, vec![], |ctx| async move {
                crate::emit!(ctx.id, LeakyEvent::Same { x: 1 });
                let n = LEAK.fetch_add(1, Ordering::SeqCst) as u64;
                crate::emit!(ctx.id, LeakyEvent::Counter { n });
            })
        }
    }

    #[test]
    fn check_determinism_names_the_first_diverging_event() {
        let job = SeedJob::generated(Arc::new(Leaky), 5, None, true);
        let o = check_seed_determinism(&job, Duration::from_secs(30));
        let d = o.divergence.expect("the leaky scenario diverges");
        assert_ne!(o.hashes[0], o.hashes[1]);
        let [a, b] = d.lines.clone();
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.contains("leaky.counter n="), "{a}");
        assert!(b.contains("leaky.counter n="), "{b}");
        assert_ne!(a, b);
        // Everything before the counter event is the same in both runs.
        assert!(d.event_index >= 3, "{d:?}");
        let sound = SeedJob::generated(Arc::new(Unruly), 2, None, true);
        assert!(check_seed_determinism(&sound, Duration::from_secs(30))
            .divergence
            .is_none());
    }
}
