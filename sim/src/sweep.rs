//! The sweep, replay and shrink engine: runs many seeds of many scenarios in parallel, each
//! seed isolated on its own OS thread under a limit on its CPU time, and turns failures and
//! timeouts into replayable artifacts.
//!
//! Results never depend on thread timing or on the machine's load: jobs are numbered
//! before they start, results are put back in that order, a sweep that stops at its first
//! finding stops at the lowest one (every job before it runs to the end, every job after it
//! is discarded), and the per-seed limit counts the seed thread's own CPU time (see
//! [`crate::isolate`]), so the same command line reports the same seeds, failures,
//! timeouts and hashes on any machine, with any number of workers. Only the time figures
//! of the summary vary. A seed over its limit is retried once with no other seed running
//! before it is reported as a timeout, its own outcome, never a checker's failure.
//!
//! An interrupt (the `cancel` flag) stops a sweep cleanly: no seed starts after it, seeds
//! in flight are dropped whole, and the result holds exactly the whole seeds below the
//! first one that did not finish, with that seed as the place to resume from.

pub mod artifact;
pub mod shrink;

pub use artifact::Artifact;
pub use shrink::{shrink, ShrinkError, ShrinkOutcome};

use crate::check::Violation;
use crate::fault::{FaultKind, FaultPlan};
use crate::isolate::{run_isolated, Isolated, Timeout};
use crate::scenario::Counters;
use crate::trace::{Detail, Trace};
use crate::world::{Coverage, PlanSource, RunReport, RunSpec};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A scenario shared between the worker threads and the seed threads.
pub use crate::scenario::ScenarioRef;

/// The name a timeout goes by where a checker's name would stand (artifacts, summaries). It
/// is no checker: a timeout is its own outcome.
pub const TIMEOUT_CHECKER: &str = "timeout";
/// The checker name of a seed whose thread panicked outside the simulation's own handling.
pub const PANIC_CHECKER: &str = "no_panic";

/// The default limit on one seed's CPU time. A seed takes milliseconds to a few seconds;
/// the limit only has to catch one that spins for ever.
pub const DEFAULT_SEED_CPU_LIMIT: Duration = Duration::from_secs(60);

/// Parses a per-seed limit in seconds (`--seed-timeout-s`, `CLUSTERSIM_SEED_TIMEOUT_S`).
pub fn parse_seed_limit(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a positive number of seconds");
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 || v > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v))
}

/// The most seeds one sweep or determinism check runs (seeds times scenarios). A sweep keeps
/// about half a kilobyte per seed for its ordered summary; split larger ranges with
/// `--shard` or into several runs.
pub const MAX_SEEDS_PER_RUN: u64 = 10_000_000;

/// Rejects a run of more than [`MAX_SEEDS_PER_RUN`] seeds.
pub fn check_run_size(seeds: u128, scenarios: usize) -> Result<(), String> {
    let total = seeds.saturating_mul(scenarios as u128);
    if total > u128::from(MAX_SEEDS_PER_RUN) {
        return Err(format!(
            "{total} seeds in one run is more than the {MAX_SEEDS_PER_RUN} a run holds: \
             split the range, or use --shard"
        ));
    }
    Ok(())
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The default number of sweep workers: one per core, and no more than there are seeds.
pub fn default_jobs(seeds: usize) -> usize {
    cores().min(seeds).max(1)
}

/// A half-open range of seeds `A..B`, never empty. The end may be 2^64, so that seed
/// `u64::MAX` can be swept like any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u128,
}

impl SeedRange {
    /// The largest end a range can have: one past `u64::MAX`.
    pub const MAX_END: u128 = 1 << 64;

    /// Parses `A..B`; an empty, reversed or unparsable range is an error.
    pub fn parse(s: &str) -> Result<SeedRange, String> {
        let bad = || format!("unparsable seed range '{s}': expected A..B, e.g. 0..1000");
        let (a, b) = s.trim().split_once("..").ok_or_else(bad)?;
        if b.starts_with('=') {
            return Err(bad());
        }
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        let (a, b) = (a.trim(), b.trim());
        if !digits(a) || !digits(b) {
            return Err(bad());
        }
        let too_big = |x: &str| {
            format!(
                "seed range '{s}': {x} is past the last seed, {} (the end may be {})",
                u64::MAX,
                Self::MAX_END
            )
        };
        let start: u64 = a.parse().map_err(|_| too_big(a))?;
        let end: u128 = b
            .parse()
            .ok()
            .filter(|e| *e <= Self::MAX_END)
            .ok_or_else(|| too_big(b))?;
        if u128::from(start) == end {
            return Err(format!("empty seed range {start}..{end}: it holds no seed"));
        }
        if u128::from(start) > end {
            return Err(format!(
                "reversed seed range {start}..{end}: the start must be below the end"
            ));
        }
        Ok(SeedRange { start, end })
    }

    pub fn len(&self) -> u128 {
        self.end - u128::from(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th seed of the range.
    pub fn seed(&self, k: u64) -> u64 {
        debug_assert!(u128::from(k) < self.len());
        self.start + k
    }

    /// The seeds of `shard` (all of them without one).
    pub fn shard(&self, shard: Option<Shard>) -> SeedRange {
        match shard {
            None => *self,
            Some(sh) => {
                let len = self.len();
                let at =
                    |k: u64| u128::from(self.start) + len * u128::from(k) / u128::from(sh.count);
                SeedRange {
                    // Below the end, so within u64.
                    start: at(sh.index - 1) as u64,
                    end: at(sh.index),
                }
            }
        }
    }

    /// The range from `seed` (within it) to the end: where a stopped run resumes.
    pub fn from_seed(&self, seed: u64) -> SeedRange {
        SeedRange {
            start: seed,
            end: self.end,
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
    /// What the trace records beyond the protocol-level events (see [`Detail`]).
    pub detail: Detail,
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
            detail: Detail::Protocol,
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
    /// The seed went over its limit, also when retried alone: it never finished, so no
    /// checker judged it.
    TimedOut(Timeout),
    /// The scenario rejected the input (a plan that does not fit its world, an unknown
    /// mutant): an operating error, not a finding.
    BadInput(String),
    /// An interrupt stopped the wait before the seed finished: no result at all.
    Interrupted,
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

    pub fn is_timeout(&self) -> bool {
        matches!(self, Verdict::TimedOut(_))
    }

    /// A checker failure or a timeout: what a sweep reports and writes an artifact for.
    pub fn is_finding(&self) -> bool {
        self.is_failure() || self.is_timeout()
    }

    /// What an artifact records of a finding: the first violation, or for a timeout a
    /// violation named [`TIMEOUT_CHECKER`] that says which limit it passed.
    pub fn finding(&self) -> Option<Violation> {
        match self {
            Verdict::Failed(v) => v.first().cloned(),
            Verdict::TimedOut(t) => Some(Violation {
                checker: TIMEOUT_CHECKER.to_string(),
                event_index: 0,
                t_ns: 0,
                explanation: t.to_string(),
            }),
            _ => None,
        }
    }

    /// Whether `checker` is among the broken guarantees ([`TIMEOUT_CHECKER`]: whether the
    /// seed timed out).
    pub fn broke(&self, checker: &str) -> bool {
        match self {
            Verdict::Failed(v) => v.iter().any(|v| v.checker == checker),
            Verdict::TimedOut(_) => checker == TIMEOUT_CHECKER,
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
    /// `None` when the run never finished (a timeout, a panic outside the sim).
    pub trace_hash: Option<u64>,
    pub event_count: u64,
    pub sim_ns: u64,
    /// CPU time of the seed's thread (the limit when it timed out).
    pub cpu: Duration,
    pub coverage: Coverage,
    /// The counters the scenario reported for the run (see [`crate::scenario::Counters`]).
    pub counters: Counters,
    /// The full report, if the job asked to keep it and the run finished.
    pub report: Option<Box<RunReport>>,
    /// Where the artifact of a failure or timeout was written, once it was.
    pub artifact: Option<PathBuf>,
}

impl SeedOutcome {
    pub fn trace(&self) -> Option<&Trace> {
        self.report.as_ref().map(|r| &r.trace)
    }
}

/// Runs one seed on its own OS thread, with at most `cpu_limit` of CPU time; an interrupt
/// through `cancel` gives [`Verdict::Interrupted`].
pub fn run_seed(job: &SeedJob, cpu_limit: Duration, cancel: Option<&AtomicBool>) -> SeedOutcome {
    run_seed_on(job, cpu_limit, cancel, SeedThread::Fresh)
}

/// The OS thread a seed runs on, as std's hash maps see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedThread {
    /// A thread that has run nothing: madsim hands the seed itself to std as the thread's
    /// hash keys, so a std `HashMap`'s order is a function of the seed.
    Fresh,
    /// A thread whose std hash keys were already taken (from the operating system) before
    /// the seed's runtime started, as on a thread that ran another seed before. A run whose
    /// trace depends on a std `HashMap`/`HashSet` iteration order differs here from its run
    /// on a fresh thread; a sound run does not.
    Used,
}

/// Takes this thread's std hash keys, so that every later `RandomState` on the thread
/// derives from them rather than from a madsim seed (see [`SeedThread::Used`]).
#[allow(clippy::disallowed_types)] // the one place that asks for std's random keys, on purpose
fn use_up_std_hash_keys() {
    std::hint::black_box(std::hash::RandomState::new());
}

/// [`run_seed`] on a thread of the given kind.
pub fn run_seed_on(
    job: &SeedJob,
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
    thread: SeedThread,
) -> SeedOutcome {
    let scenario = job.scenario.clone();
    let spec = RunSpec {
        seed: job.seed,
        plan: job.plan.clone(),
        keep_events: job.keep_events,
        detail: job.detail,
    };
    let mutant = job.mutant.clone();
    let isolated = run_isolated(cpu_limit, cancel, move || {
        if thread == SeedThread::Used {
            use_up_std_hash_keys();
        }
        crate::scenario::run_checked(scenario.as_ref(), &spec, mutant.as_deref())
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
        cpu: cpu_limit,
        coverage: Coverage::new(),
        counters: Counters::new(),
        report: None,
        artifact: None,
    };
    match isolated {
        Isolated::Done {
            value: Ok(report),
            cpu,
        } => {
            out.plan = report.plan.clone();
            out.verdict = if report.passed() {
                Verdict::Passed
            } else {
                Verdict::Failed(report.violations.clone())
            };
            out.trace_hash = Some(report.trace.hash);
            out.event_count = report.trace.event_count;
            out.sim_ns = report.sim_ns;
            out.cpu = cpu;
            out.counters = report.counters.clone();
            if job.keep_report {
                out.coverage = report.coverage.clone();
                out.report = Some(Box::new(report));
            } else {
                out.coverage = report.coverage;
            }
        }
        Isolated::Done { value: Err(e), cpu } => {
            out.plan = job.plan();
            out.verdict = Verdict::BadInput(e);
            out.cpu = cpu;
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
        Isolated::TimedOut(t) => {
            out.plan = job.plan();
            out.verdict = Verdict::TimedOut(t);
        }
        Isolated::Interrupted => {
            out.plan = job.plan();
            out.verdict = Verdict::Interrupted;
        }
    }
    out
}

/// Lets one job of a pool run with no other job running: every job holds a shared place
/// while it runs, and [`Gate::alone`] waits until it holds the only one. New jobs wait
/// while a job waits to be alone.
#[derive(Default)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    running: usize,
    waiting_alone: usize,
    alone: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        g: std::sync::MutexGuard<'a, GateState>,
    ) -> std::sync::MutexGuard<'a, GateState> {
        self.changed.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    fn enter(&self) {
        let mut g = self.lock();
        while g.alone || g.waiting_alone > 0 {
            g = self.wait(g);
        }
        g.running += 1;
    }

    fn leave(&self) {
        self.lock().running -= 1;
        self.changed.notify_all();
    }

    /// Runs `f` (from inside a job) once no other job runs, then lets the others go on.
    pub fn alone<R>(&self, f: impl FnOnce() -> R) -> R {
        {
            let mut g = self.lock();
            g.running -= 1;
            g.waiting_alone += 1;
            self.changed.notify_all();
            while g.running > 0 || g.alone {
                g = self.wait(g);
            }
            g.waiting_alone -= 1;
            g.alone = true;
        }
        // Released also if `f` panics, so the other workers are not left waiting.
        struct Release<'a>(&'a Gate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.lock().alone = false;
                self.0.changed.notify_all();
                self.0.enter();
            }
        }
        let _release = Release(self);
        f()
    }
}

/// What [`run_pool`] ran.
pub struct PoolRun<T> {
    /// The results of jobs `0..complete`, in job order.
    pub results: Vec<(usize, T)>,
    /// Every job below this one ran to the end; it is the first that did not (`count` if
    /// every job ran, or one past the finding the pool stopped at).
    pub complete: usize,
    /// The pool stopped at a finding before running every job.
    pub stopped_early: bool,
    /// An interrupt stopped the pool before every job it owed had finished.
    pub interrupted: bool,
}

/// Runs `count` numbered jobs on `workers` threads and returns their results in job order.
///
/// `work(i, gate)` returns the result and whether it is a finding, or `None` when an
/// interrupt stopped it; it may use `gate` to rerun something with no other job running.
/// Unless `keep_going`, the pool stops at the lowest finding: every job numbered below it
/// still runs, and results numbered above it are dropped, so the returned list does not
/// depend on thread timing. Once `cancel` is set no job starts; the results are those of
/// the jobs below the first one that did not finish. `on_result` sees each result as it
/// arrives (in arrival order), on the calling thread.
pub fn run_pool<T, W, R>(
    count: usize,
    workers: usize,
    keep_going: bool,
    cancel: Option<&AtomicBool>,
    work: W,
    mut on_result: R,
) -> PoolRun<T>
where
    T: Send,
    W: Fn(usize, &Gate) -> Option<(T, bool)> + Sync,
    R: FnMut(usize, &mut T),
{
    let next = AtomicUsize::new(0);
    let stop_at = AtomicUsize::new(usize::MAX);
    let gate = Gate::default();
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::SeqCst));
    let mut results: Vec<(usize, T)> = Vec::with_capacity(count.min(1 << 20));
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, T)>();
        for w in 0..workers.clamp(1, count.max(1)) {
            let tx = tx.clone();
            let (next, stop_at, work, gate) = (&next, &stop_at, &work, &gate);
            std::thread::Builder::new()
                .name(format!("clustersim-worker-{w}"))
                .spawn_scoped(scope, move || loop {
                    if cancelled() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || i > stop_at.load(Ordering::SeqCst) {
                        return;
                    }
                    gate.enter();
                    let done = work(i, gate);
                    gate.leave();
                    let Some((result, finding)) = done else {
                        return;
                    };
                    if finding && !keep_going {
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
    results.sort_by_key(|(i, _)| *i);
    let stop = stop_at.load(Ordering::SeqCst);
    let owed = if stop == usize::MAX { count } else { stop + 1 };
    let complete = results
        .iter()
        .enumerate()
        .take_while(|(k, (i, _))| k == i)
        .count()
        .min(owed);
    results.truncate(complete);
    PoolRun {
        results,
        complete,
        stopped_early: complete == owed && owed < count,
        interrupted: complete < owed,
    }
}

/// The results of a pool over `per_seed` scenarios per seed, cut to whole seeds when an
/// interrupt stopped it (a resumed run starts at a seed, with every scenario), and the
/// seed to resume from.
fn whole_seeds<T>(
    pool: PoolRun<T>,
    per_seed: usize,
    seeds: SeedRange,
) -> (Vec<(usize, T)>, Option<u64>) {
    let mut results = pool.results;
    if !pool.interrupted {
        return (results, None);
    }
    let per_seed = per_seed.max(1);
    let whole = pool.complete - pool.complete % per_seed;
    results.truncate(whole);
    (results, Some(seeds.seed((whole / per_seed) as u64)))
}

/// Runs `job`; if it timed out, runs it again with no other job of the pool running, so
/// that a seed is never reported as a timeout only because it shared the machine.
fn run_seed_retrying_on(
    job: &SeedJob,
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
    gate: &Gate,
    thread: SeedThread,
) -> SeedOutcome {
    let o = run_seed_on(job, cpu_limit, cancel, thread);
    if o.verdict.is_timeout() {
        gate.alone(|| run_seed_on(job, cpu_limit, cancel, thread))
    } else {
        o
    }
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
    /// The most CPU time one seed may use (see [`crate::isolate`]).
    pub seed_cpu_limit: Duration,
    /// Run every seed even after a finding; otherwise stop at the first one.
    pub keep_going: bool,
    /// Where artifacts of failures and timeouts go; `None` writes none.
    pub artifacts: Option<PathBuf>,
    pub swarm: bool,
    /// Set (by a signal handler) to stop the sweep.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            workers: cores(),
            seed_cpu_limit: DEFAULT_SEED_CPU_LIMIT,
            keep_going: false,
            artifacts: None,
            swarm: true,
            cancel: None,
        }
    }
}

/// A sweep's progress, reported after each seed.
pub struct Progress<'a> {
    pub done: usize,
    pub total: usize,
    pub failures: usize,
    pub timeouts: usize,
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
    /// It stopped at its first finding.
    pub stopped_early: bool,
    /// An interrupt stopped it; it ran every scenario of the seeds below `next_seed`.
    pub interrupted: bool,
    /// Where an interrupted sweep resumes: the first seed it did not finish.
    pub next_seed: Option<u64>,
    /// How many of the seeds run had each (fault kind, protocol phase) pair.
    pub coverage: BTreeMap<(String, String), u64>,
    /// Per scenario, each counter its seeds reported, summed.
    pub counters: BTreeMap<String, BTreeMap<String, CounterTotal>>,
}

impl SweepResult {
    pub fn failures(&self) -> impl Iterator<Item = &SeedOutcome> {
        self.outcomes.iter().filter(|o| o.verdict.is_failure())
    }

    pub fn timeouts(&self) -> impl Iterator<Item = &SeedOutcome> {
        self.outcomes.iter().filter(|o| o.verdict.is_timeout())
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
        for (scenario, counters) in &self.counters {
            let into = &mut stats
                .per_scenario
                .entry(scenario.clone())
                .or_default()
                .counters;
            for (name, c) in counters {
                into.entry(name.clone()).or_default().add(c);
            }
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
/// counters (after the stop point is known, so discarded seeds do not count); so are the
/// scenarios' own counters.
pub fn sweep(
    targets: &[SweepTarget],
    seeds: SeedRange,
    cfg: &SweepConfig,
    mut on_progress: impl FnMut(&Progress<'_>),
) -> SweepResult {
    let per_seed = targets.len();
    let total = if per_seed == 0 {
        0
    } else {
        usize::try_from(seeds.len())
            .ok()
            .and_then(|n| n.checked_mul(per_seed))
            .expect("a seed range that fits in memory")
    };
    let job = |i: usize| {
        let t = &targets[i % per_seed];
        let seed = seeds.seed((i / per_seed) as u64);
        SeedJob::generated(t.scenario.clone(), seed, t.mutant.clone(), cfg.swarm)
    };
    let cancel = cfg.cancel.as_deref();
    let t0 = Instant::now();
    let (mut done, mut failures, mut timeouts) = (0, 0, 0);
    let mut pairs = CoverageIndex::default();
    let mut counter_names = NameIndex::default();
    let mut covered: Vec<SeedTally> = Vec::new();
    let pool = run_pool(
        total,
        cfg.workers,
        cfg.keep_going,
        cancel,
        |i, gate| {
            let o =
                run_seed_retrying_on(&job(i), cfg.seed_cpu_limit, cancel, gate, SeedThread::Fresh);
            if o.verdict == Verdict::Interrupted {
                return None;
            }
            let finding = o.verdict.is_finding();
            Some((o, finding))
        },
        |i, o| {
            done += 1;
            let mut artifact_error = None;
            if o.verdict.is_finding() {
                if o.verdict.is_timeout() {
                    timeouts += 1;
                } else {
                    failures += 1;
                }
                // With --keep-going every finding is reported, so its artifact is written
                // at once; otherwise only the lowest one is, once it is known.
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
                timeouts,
                outcome: o,
                artifact_error,
            });
            let interned = std::mem::take(&mut o.coverage)
                .into_iter()
                .map(|pair| pairs.intern(pair))
                .collect();
            let counted = std::mem::take(&mut o.counters)
                .into_iter()
                .map(|(name, n)| (counter_names.intern(name), n))
                .collect();
            covered.push(SeedTally {
                job: i,
                coverage: interned,
                counters: counted,
            });
            if !o.verdict.is_finding() {
                o.plan = FaultPlan::empty();
            }
        },
    );
    let wall = t0.elapsed();
    let (stopped_early, interrupted) = (pool.stopped_early, pool.interrupted);
    let (results, next_seed) = whole_seeds(pool, per_seed, seeds);
    let kept = results.len();
    let mut coverage = BTreeMap::new();
    let mut counters: BTreeMap<String, BTreeMap<String, CounterTotal>> = BTreeMap::new();
    for SeedTally {
        job: i,
        coverage: interned,
        counters: counted,
    } in covered
    {
        if i < kept {
            for p in interned {
                *coverage.entry(pairs.pairs[p as usize].clone()).or_insert(0) += 1;
            }
            let scenario = targets[i % per_seed].scenario.name();
            let into = counters.entry(scenario.to_string()).or_default();
            for (name, n) in counted {
                into.entry(counter_names.names[name as usize].clone())
                    .or_default()
                    .count(n);
            }
        }
    }
    let mut outcomes: Vec<SeedOutcome> = results.into_iter().map(|(_, o)| o).collect();
    if !cfg.keep_going {
        if let Some(dir) = &cfg.artifacts {
            for o in outcomes.iter_mut().filter(|o| o.verdict.is_finding()) {
                match Artifact::from_outcome(o).and_then(|a| a.write_in(dir)) {
                    Ok(p) => o.artifact = Some(p),
                    Err(e) => {
                        on_progress(&Progress {
                            done,
                            total,
                            failures,
                            timeouts,
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
        interrupted,
        next_seed,
        coverage,
        counters,
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

/// What a sweep keeps of one seed's run until it knows whether the seed counts: its
/// coverage pairs and its counters, by their numbers.
struct SeedTally {
    job: usize,
    coverage: Vec<u16>,
    counters: Vec<(u16, u64)>,
}

/// Numbers the counter names a sweep meets, as [`CoverageIndex`] numbers coverage pairs.
#[derive(Default)]
struct NameIndex {
    names: Vec<String>,
    index: BTreeMap<String, u16>,
}

impl NameIndex {
    fn intern(&mut self, name: String) -> u16 {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = u16::try_from(self.names.len()).expect("fewer than 65536 counter names");
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }
}

/// One counter over a sweep's seeds of one scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterTotal {
    /// The sum over the seeds.
    pub total: u64,
    /// How many seeds reported it above zero.
    pub seeds: u64,
}

impl CounterTotal {
    /// Adds one seed's count.
    pub fn count(&mut self, n: u64) {
        self.total += n;
        self.seeds += u64::from(n > 0);
    }

    /// Adds another total.
    pub fn add(&mut self, other: &CounterTotal) {
        self.total += other.total;
        self.seeds += other.seeds;
    }
}

/// The median and 99th percentile of `v` (sorted in place); zero when empty.
fn median_p99(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    let pick = |q: f64| {
        if v.is_empty() {
            Duration::ZERO
        } else {
            v[((v.len() - 1) as f64 * q).round() as usize]
        }
    };
    (pick(0.5), pick(0.99))
}

/// The figures of one scenario's seeds in a sweep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScenarioStats {
    pub seeds_run: usize,
    pub failures: usize,
    pub timeouts: usize,
    /// Median and 99th percentile of one seed's CPU time.
    pub cpu_median: Duration,
    pub cpu_p99: Duration,
    /// The counters the scenario reported (see [`crate::scenario::Counters`]), by name.
    pub counters: BTreeMap<String, CounterTotal>,
}

/// The summary figures of a set of seeds.
#[derive(Clone, Debug)]
pub struct SweepStats {
    pub seeds_run: usize,
    pub failures: usize,
    pub timeouts: usize,
    pub wall: Duration,
    pub sim_ns: u128,
    /// Median and 99th percentile of one seed's CPU time.
    pub cpu_median: Duration,
    pub cpu_p99: Duration,
    pub per_scenario: BTreeMap<String, ScenarioStats>,
    /// How many seeds had each (fault kind, protocol phase) pair.
    pub coverage: BTreeMap<(String, String), u64>,
}

impl SweepStats {
    pub fn of(outcomes: &[SeedOutcome], wall: Duration) -> SweepStats {
        let mut all: Vec<Duration> = outcomes.iter().map(|o| o.cpu).collect();
        let (cpu_median, cpu_p99) = median_p99(&mut all);
        let mut by_scenario: BTreeMap<&str, Vec<&SeedOutcome>> = BTreeMap::new();
        for o in outcomes {
            by_scenario.entry(&o.scenario).or_default().push(o);
        }
        let per_scenario = by_scenario
            .into_iter()
            .map(|(name, os)| {
                let mut cpu: Vec<Duration> = os.iter().map(|o| o.cpu).collect();
                let (cpu_median, cpu_p99) = median_p99(&mut cpu);
                let mut counters: BTreeMap<String, CounterTotal> = BTreeMap::new();
                for (name, n) in os.iter().flat_map(|o| &o.counters) {
                    counters.entry(name.clone()).or_default().count(*n);
                }
                let stats = ScenarioStats {
                    seeds_run: os.len(),
                    failures: os.iter().filter(|o| o.verdict.is_failure()).count(),
                    timeouts: os.iter().filter(|o| o.verdict.is_timeout()).count(),
                    cpu_median,
                    cpu_p99,
                    counters,
                };
                (name.to_string(), stats)
            })
            .collect();
        let mut coverage = BTreeMap::new();
        for o in outcomes {
            for pair in &o.coverage {
                *coverage.entry(pair.clone()).or_insert(0) += 1;
            }
        }
        SweepStats {
            seeds_run: outcomes.len(),
            failures: outcomes.iter().filter(|o| o.verdict.is_failure()).count(),
            timeouts: outcomes.iter().filter(|o| o.verdict.is_timeout()).count(),
            wall,
            sim_ns: outcomes.iter().map(|o| u128::from(o.sim_ns)).sum(),
            cpu_median,
            cpu_p99,
            per_scenario,
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

    /// Every fault kind (also those never injected) and the phases seen, in table order.
    fn coverage_axes(&self) -> (Vec<String>, Vec<String>) {
        let mut phases: Vec<String> = self.coverage.keys().map(|(_, p)| p.clone()).collect();
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
        (kinds, phases)
    }

    /// The coverage as fault kind -> protocol phase -> seeds, with every fault kind (an
    /// empty map for a kind never injected).
    pub fn coverage_by_kind(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let (kinds, _) = self.coverage_axes();
        let mut out: BTreeMap<String, BTreeMap<String, u64>> =
            kinds.into_iter().map(|k| (k, BTreeMap::new())).collect();
        for ((k, p), n) in &self.coverage {
            out.entry(k.clone()).or_default().insert(p.clone(), *n);
        }
        out
    }

    /// The fault-kind × protocol-phase table: one row per fault kind (every kind, so the
    /// kinds a sweep never injected show too), one column per phase seen, each cell the
    /// number of seeds in which a fault of that kind started while a node was in that phase.
    pub fn coverage_table(&self) -> String {
        let (kinds, phases) = self.coverage_axes();
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
    /// A run that went over its limit (also when retried alone): nothing to compare.
    pub timeout: Option<Timeout>,
    pub sim_ns: u64,
    /// CPU time of both runs.
    pub cpu: Duration,
    /// The third copy, in a child process, when the check runs one.
    pub child: Option<ChildOutcome>,
}

impl DeterminismOutcome {
    /// Whether the seed broke determinism: its copies differ, or its child copy could not
    /// be compared.
    pub fn diverged(&self) -> bool {
        self.divergence.is_some()
            || self
                .child
                .as_ref()
                .is_some_and(|c| c.divergence.is_some() || c.error.is_some())
    }
}

/// A seed's copy run in another process, as that process reports it (see
/// [`ChildRunner`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChildCopy {
    pub trace_hash: Option<u64>,
    pub event_count: u64,
    /// The trace's lines, when they were asked for.
    pub lines: Option<Vec<String>>,
}

/// Runs a seed's copy in a child process (`true`: with its trace's lines). A program's
/// command line provides it, since only the program knows how to re-invoke itself.
pub type ChildRunner<'a> = &'a (dyn Fn(&SeedJob, bool) -> Result<ChildCopy, String> + Sync);

/// How a seed's copy in a child process compared with its first copy.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildOutcome {
    pub trace_hash: Option<u64>,
    pub event_count: u64,
    /// Where the child's trace first differs from the first copy's: the first copy's line,
    /// then the child's.
    pub divergence: Option<Divergence>,
    /// The child could not be run, or said something unreadable.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    pub event_index: usize,
    /// The two runs' lines at that index (`None` past the end of a trace, or when a run
    /// never finished).
    pub lines: [Option<String>; 2],
}

/// Runs `job` twice, each on its own thread, and compares the traces event by event: once
/// on a fresh thread, as every sweep runs a seed, and once on a [used](SeedThread::Used)
/// one, so that a trace that depends on a std hash map's order diverges too, not only one
/// that depends on time, threads or I/O.
pub fn check_seed_determinism(job: &SeedJob, cpu_limit: Duration) -> DeterminismOutcome {
    check_seed_determinism_with(job, cpu_limit, None)
}

/// [`check_seed_determinism`], and with `child` a third copy in a child process, whose
/// trace must match the first copy's too: that catches what one process hides, such as
/// hashing by address or a dependence on the allocator's state.
pub fn check_seed_determinism_with(
    job: &SeedJob,
    cpu_limit: Duration,
    child: Option<ChildRunner<'_>>,
) -> DeterminismOutcome {
    // Alone from the start: the gate holds this one job.
    let gate = Gate::default();
    gate.enter();
    check_seed_determinism_in(job, cpu_limit, None, &gate, child)
        .expect("no interrupt without a cancel flag")
}

/// Runs `job`'s copy in a child process and compares it with `first`'s trace.
fn compare_child(job: &SeedJob, first: &Trace, child: ChildRunner<'_>) -> ChildOutcome {
    let failed = |e: String| ChildOutcome {
        trace_hash: None,
        event_count: 0,
        divergence: None,
        error: Some(e),
    };
    let c = match child(job, false) {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let mut out = ChildOutcome {
        trace_hash: c.trace_hash,
        event_count: c.event_count,
        divergence: None,
        error: None,
    };
    if c.trace_hash == Some(first.hash) && c.event_count == first.events.len() as u64 {
        return out;
    }
    // The hashes differ: ask again for the lines to name the first event that differs.
    let lines = match child(job, true).map(|c| c.lines) {
        Ok(Some(lines)) => lines,
        Ok(None) => return failed("the child printed no trace lines".to_string()),
        Err(e) => return failed(e),
    };
    let n = first.events.len().max(lines.len());
    let i = (0..n)
        .find(|&i| first.line(i) != lines.get(i).cloned())
        .unwrap_or(n.min(lines.len()));
    out.divergence = Some(Divergence {
        event_index: i,
        lines: [first.line(i), lines.get(i).cloned()],
    });
    out
}

/// [`check_seed_determinism`] inside a pool: a run that timed out is retried alone, and
/// `None` means an interrupt stopped it.
fn check_seed_determinism_in(
    job: &SeedJob,
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
    gate: &Gate,
    child: Option<ChildRunner<'_>>,
) -> Option<DeterminismOutcome> {
    let mut job = job.clone();
    job.keep_events = true;
    job.keep_report = true;
    let a = run_seed_retrying_on(&job, cpu_limit, cancel, gate, SeedThread::Fresh);
    let b = run_seed_retrying_on(&job, cpu_limit, cancel, gate, SeedThread::Used);
    if a.verdict == Verdict::Interrupted || b.verdict == Verdict::Interrupted {
        return None;
    }
    let timeout = [&a.verdict, &b.verdict].into_iter().find_map(|v| match v {
        Verdict::TimedOut(t) => Some(*t),
        _ => None,
    });
    let divergence = match (a.trace(), b.trace()) {
        (Some(ta), Some(tb)) => ta.first_divergence(tb).map(|i| Divergence {
            event_index: i,
            lines: [ta.line(i), tb.line(i)],
        }),
        // A run that never finished has no trace to compare: a timeout is reported as
        // such, and two panics outside the simulation that ended alike are consistent.
        _ if timeout.is_some() => None,
        (None, None) if a.verdict == b.verdict => None,
        (ta, tb) => Some(Divergence {
            event_index: 0,
            lines: [ta.and_then(|t| t.line(0)), tb.and_then(|t| t.line(0))],
        }),
    };
    let child = match (child, a.trace()) {
        (Some(run), Some(first)) if timeout.is_none() => Some(compare_child(&job, first, run)),
        _ => None,
    };
    Some(DeterminismOutcome {
        scenario: a.scenario.clone(),
        seed: a.seed,
        hashes: [a.trace_hash, b.trace_hash],
        event_counts: [a.event_count, b.event_count],
        divergence,
        timeout,
        sim_ns: a.sim_ns,
        cpu: a.cpu + b.cpu,
        child,
    })
}

/// What a determinism check found, in (scenario, seed) order.
pub struct DeterminismRun {
    pub outcomes: Vec<DeterminismOutcome>,
    pub planned: usize,
    pub interrupted: bool,
    /// Where an interrupted check resumes.
    pub next_seed: Option<u64>,
}

/// Checks every seed of every scenario twice, in parallel (and a third time in a child
/// process, with `child`); results in (scenario, seed) order. Every seed is checked even
/// after a divergence.
pub fn check_determinism(
    scenarios: &[ScenarioRef],
    seeds: SeedRange,
    workers: usize,
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
    child: Option<ChildRunner<'_>>,
    mut on_progress: impl FnMut(usize, usize, &DeterminismOutcome),
) -> DeterminismRun {
    let per_seed = scenarios.len();
    let total = if per_seed == 0 {
        0
    } else {
        usize::try_from(seeds.len())
            .ok()
            .and_then(|n| n.checked_mul(per_seed))
            .expect("a seed range that fits in memory")
    };
    let job = |i: usize| {
        let seed = seeds.seed((i / per_seed) as u64);
        SeedJob::generated(scenarios[i % per_seed].clone(), seed, None, true)
    };
    let mut done = 0;
    let pool = run_pool(
        total,
        workers,
        true,
        cancel,
        |i, gate| {
            let o = check_seed_determinism_in(&job(i), cpu_limit, cancel, gate, child)?;
            let finding = o.diverged() || o.timeout.is_some();
            Some((o, finding))
        },
        |_, o| {
            done += 1;
            on_progress(done, total, o);
        },
    );
    let interrupted = pool.interrupted;
    let (results, next_seed) = whole_seeds(pool, per_seed, seeds);
    let mut outcomes: Vec<DeterminismOutcome> = results.into_iter().map(|(_, o)| o).collect();
    outcomes.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
    DeterminismRun {
        outcomes,
        planned: total,
        interrupted,
        next_seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    #[test]
    fn ranges_parse_and_reject_bad_input() {
        assert_eq!(
            SeedRange::parse("0..10").unwrap(),
            SeedRange { start: 0, end: 10 }
        );
        assert!(SeedRange::parse("5..5").unwrap_err().contains("empty"));
        assert!(SeedRange::parse("9..3").unwrap_err().contains("reversed"));
        for bad in [
            "", "x", "1..", "..5", "a..b", "1..=5", "-1..5", "1...5", "1..2..3", "+1..5",
        ] {
            assert!(
                SeedRange::parse(bad).unwrap_err().contains("unparsable"),
                "{bad}"
            );
        }
        // The last seed can be swept: the end may be one past it, and no further.
        let last = SeedRange::parse("18446744073709551615..18446744073709551616").unwrap();
        assert_eq!((last.start, last.len()), (u64::MAX, 1));
        assert_eq!(last.seed(0), u64::MAX);
        for past in [
            "18446744073709551615..18446744073709551617",
            "18446744073709551616..18446744073709551617",
            "0..99999999999999999999999999999999999999999",
        ] {
            let e = SeedRange::parse(past).unwrap_err();
            assert!(e.contains("past the last seed"), "{past}: {e}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_range() {
        let max = SeedRange::MAX_END;
        for (a, b) in [
            (0u64, 10u128),
            (7, 1007),
            (0, 3),
            (5, 6),
            (u64::MAX - 9, max),
        ] {
            let r = SeedRange { start: a, end: b };
            for n in 1..=7u64 {
                let mut all = Vec::new();
                for i in 1..=n {
                    let s = r.shard(Some(Shard { index: i, count: n }));
                    all.extend((0..s.len() as u64).map(|k| s.seed(k)));
                }
                let want: Vec<u64> = (0..r.len() as u64).map(|k| r.seed(k)).collect();
                assert_eq!(all, want, "{r} in {n} shards");
            }
        }
        assert!(Shard::parse("0/3").unwrap_err().contains("numbered 1 to 3"));
        assert!(Shard::parse("4/3").unwrap_err().contains("numbered 1 to 3"));
        assert!(Shard::parse("x/y").unwrap_err().contains("expected I/N"));
        assert!(Shard::parse("1/0").unwrap_err().contains("at least 1"));
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
    }

    #[test]
    fn pool_results_are_ordered_and_stop_at_the_lowest_finding() {
        for workers in [1, 2, 4] {
            let all = run_pool(
                50,
                workers,
                true,
                None,
                |i, _| Some((i * 10, i % 7 == 3)),
                |_, _| {},
            );
            assert_eq!(
                all.results
                    .iter()
                    .map(|(i, v)| (*i, *v))
                    .collect::<Vec<_>>(),
                (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>()
            );
            assert!(!all.stopped_early && !all.interrupted);
            let stopped = run_pool(
                50,
                workers,
                false,
                None,
                |i, _| {
                    // Later jobs finish first, to show timing does not decide the result.
                    std::thread::sleep(Duration::from_micros(((50 - i) * 30) as u64));
                    Some((i, i == 17 || i == 31))
                },
                |_, _| {},
            );
            assert_eq!(
                stopped.results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                (0..=17).collect::<Vec<_>>()
            );
            assert!(stopped.stopped_early && !stopped.interrupted);
        }
    }

    #[test]
    fn a_job_alone_runs_with_no_other_job_running() {
        static ACTIVE: AtomicUsize = AtomicUsize::new(0);
        let alone_runs = AtomicUsize::new(0);
        let run = run_pool(
            60,
            8,
            true,
            None,
            |i, gate| {
                ACTIVE.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                ACTIVE.fetch_sub(1, Ordering::SeqCst);
                if i % 5 == 0 {
                    gate.alone(|| {
                        assert_eq!(ACTIVE.load(Ordering::SeqCst), 0, "job {i} not alone");
                        std::thread::sleep(Duration::from_millis(2));
                        assert_eq!(ACTIVE.load(Ordering::SeqCst), 0, "job {i} not alone");
                        alone_runs.fetch_add(1, Ordering::SeqCst);
                    });
                }
                Some(((), false))
            },
            |_, _| {},
        );
        assert_eq!(run.results.len(), 60);
        assert_eq!(alone_runs.load(Ordering::SeqCst), 12);
    }

    #[test]
    fn an_interrupted_pool_keeps_the_jobs_below_the_first_unfinished_one() {
        let cancel = AtomicBool::new(false);
        let run = run_pool(
            200,
            4,
            true,
            Some(&cancel),
            |i, _| {
                if cancel.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
                Some((i, false))
            },
            |i, _| {
                if i == 10 {
                    cancel.store(true, Ordering::SeqCst);
                }
            },
        );
        assert!(run.interrupted && !run.stopped_early);
        assert!((11..200).contains(&run.complete), "{}", run.complete);
        assert_eq!(
            run.results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..run.complete).collect::<Vec<_>>()
        );
    }

    fn report(spec: &RunSpec, sim_ns: u64) -> RunReport {
        RunReport {
            seed: spec.seed,
            plan: FaultPlan::empty(),
            trace: Trace::default(),
            violations: vec![],
            net: Default::default(),
            sim_ns,
            coverage: Default::default(),
            counters: Default::default(),
        }
    }

    /// A scenario whose seeds panic outside the simulation (seed % 4 == 0), block in an
    /// OS sleep (seed % 4 == 1), spin for ever (seed % 4 == 2) or pass, to show a sweep
    /// survives all three.
    struct Unruly;

    impl Scenario for Unruly {
        fn name(&self) -> &'static str {
            "unruly"
        }
        fn description(&self) -> &'static str {
            "panics, blocks, spins or passes by seed"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(3, 1_000, 1_000)
        }
        fn checkers(&self) -> Vec<&'static str> {
            vec![]
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            match spec.seed % 4 {
                0 => std::panic::panic_any(format!("seed {} blew up", spec.seed)),
                1 => std::thread::sleep(Duration::from_secs(60)),
                2 => loop {
                    std::hint::spin_loop();
                },
                _ => {}
            }
            Ok(report(spec, 1_000))
        }
    }

    #[test]
    fn a_panicking_blocked_or_spinning_seed_is_that_seeds_outcome_and_the_sweep_goes_on() {
        let cfg = SweepConfig {
            workers: 2,
            seed_cpu_limit: Duration::from_millis(300),
            keep_going: true,
            ..SweepConfig::default()
        };
        let targets = [SweepTarget {
            scenario: Arc::new(Unruly),
            mutant: None,
        }];
        let r = sweep(&targets, SeedRange { start: 0, end: 8 }, &cfg, |_| {});
        let got: Vec<(u64, &str)> = r
            .outcomes
            .iter()
            .map(|o| {
                let v = match &o.verdict {
                    Verdict::Failed(v) if v[0].checker == PANIC_CHECKER => "panic",
                    Verdict::TimedOut(Timeout::Stalled { .. }) => "stalled",
                    Verdict::TimedOut(Timeout::Cpu { .. }) => "cpu",
                    Verdict::Passed => "pass",
                    other => panic!("{other:?}"),
                };
                (o.seed, v)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "panic"),
                (1, "stalled"),
                (2, "cpu"),
                (3, "pass"),
                (4, "panic"),
                (5, "stalled"),
                (6, "cpu"),
                (7, "pass")
            ]
        );
        assert!(r.outcomes[0]
            .verdict
            .first_violation()
            .unwrap()
            .explanation
            .contains("seed 0 blew up"));
        let stats = r.stats();
        assert_eq!((stats.seeds_run, stats.failures, stats.timeouts), (8, 2, 4));
        assert_eq!(stats.per_scenario["unruly"].timeouts, 4);
        // A timeout is no checker's failure, but it has an artifact that names it.
        let v = r.outcomes[2].verdict.finding().unwrap();
        assert_eq!(v.checker, TIMEOUT_CHECKER);
        assert!(v.explanation.contains("CPU time"), "{}", v.explanation);
        assert!(r.outcomes[2].verdict.first_violation().is_none());
    }

    /// Passes every seed, reporting the seed as its simulated time.
    struct Quick(&'static str);

    impl Scenario for Quick {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            "passes at once"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(3, 1_000, 1_000)
        }
        fn checkers(&self) -> Vec<&'static str> {
            vec![]
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            std::thread::sleep(Duration::from_millis(1));
            Ok(report(spec, spec.seed))
        }
    }

    /// Passes every seed, reporting two counters of the seed.
    struct Counting(&'static str);

    impl Scenario for Counting {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            "counts"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(3, 1_000, 1_000)
        }
        fn checkers(&self) -> Vec<&'static str> {
            vec![]
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            let mut r = report(spec, 1);
            r.counters
                .insert("even".into(), u64::from(spec.seed.is_multiple_of(2)));
            r.counters.insert("mod3".into(), spec.seed % 3);
            Ok(r)
        }
    }

    #[test]
    fn a_sweep_sums_each_scenarios_counters_and_counts_the_seeds_that_had_them() {
        let targets: Vec<SweepTarget> = ["count-a", "count-b"]
            .into_iter()
            .map(|name| SweepTarget {
                scenario: Arc::new(Counting(name)),
                mutant: None,
            })
            .collect();
        let cfg = SweepConfig {
            workers: 3,
            keep_going: true,
            ..SweepConfig::default()
        };
        let r = sweep(&targets, SeedRange { start: 0, end: 12 }, &cfg, |_| {});
        let stats = r.stats();
        for name in ["count-a", "count-b"] {
            let c = &stats.per_scenario[name].counters;
            assert_eq!(c["even"], CounterTotal { total: 6, seeds: 6 }, "{name}");
            // 0..12 % 3 sums to 12 over the 8 seeds not divisible by 3.
            assert_eq!(
                c["mod3"],
                CounterTotal {
                    total: 12,
                    seeds: 8
                },
                "{name}"
            );
        }
        // Counted once: the sweep took the counters off the outcomes it folded them from.
        assert!(r.outcomes.iter().all(|o| o.counters.is_empty()));
        let alone = SweepStats::of(&r.outcomes, r.wall);
        assert!(alone.per_scenario["count-a"].counters.is_empty());
    }

    #[test]
    fn an_interrupted_sweep_resumes_where_it_stopped_and_together_they_make_the_whole() {
        let targets: Vec<SweepTarget> = ["quick-a", "quick-b"]
            .into_iter()
            .map(|name| SweepTarget {
                scenario: Arc::new(Quick(name)),
                mutant: None,
            })
            .collect();
        let seeds = SeedRange {
            start: 100,
            end: 160,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let cfg = SweepConfig {
            workers: 3,
            keep_going: true,
            cancel: Some(cancel.clone()),
            ..SweepConfig::default()
        };
        let first = sweep(&targets, seeds, &cfg, |p| {
            // An odd count: the interrupt falls inside a seed, between its two scenarios.
            if p.done == 41 {
                cancel.store(true, Ordering::SeqCst);
            }
        });
        assert!(first.interrupted);
        let next = first.next_seed.unwrap();
        assert!((120..160).contains(&next), "{next}");
        // Every scenario of every seed below the resume point, and nothing else.
        let seen: Vec<(String, u64)> = first
            .outcomes
            .iter()
            .map(|o| (o.scenario.clone(), o.seed))
            .collect();
        let want: Vec<(String, u64)> = ["quick-a", "quick-b"]
            .iter()
            .flat_map(|s| (100..next).map(move |seed| (s.to_string(), seed)))
            .collect();
        assert_eq!(seen, want);
        cancel.store(false, Ordering::SeqCst);
        let rest = sweep(&targets, seeds.from_seed(next), &cfg, |_| {});
        assert!(!rest.interrupted && rest.next_seed.is_none());
        let whole = sweep(&targets, seeds, &cfg, |_| {});
        let key = |os: &[SeedOutcome]| -> Vec<(String, u64, u64)> {
            os.iter()
                .map(|o| (o.scenario.clone(), o.seed, o.sim_ns))
                .collect()
        };
        let mut joined = key(&first.outcomes);
        joined.extend(key(&rest.outcomes));
        joined.sort();
        assert_eq!(joined, key(&whole.outcomes));
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
        fn checkers(&self) -> Vec<&'static str> {
            vec![]
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

    /// A protocol with a planted std `HashSet` dependence: a node picks the order in which
    /// it greets its peers by iterating a `HashSet`, so its trace follows std's hash keys.
    struct HashOrder;

    crate::trace_events! {
        /// The hash-order scenario's node.
        enum HashOrderEvent in "hash_order" {
            /// A peer greeted, in the order the set gave.
            Greet as "greet" {
                /// The peer.
                peer: u64,
            },
        }
    }

    impl Scenario for HashOrder {
        fn name(&self) -> &'static str {
            "hash-order"
        }
        fn description(&self) -> &'static str {
            "iterates a std HashSet on purpose"
        }
        fn world(&self) -> crate::world::WorldConfig {
            crate::world::WorldConfig::new(1, 100, 100)
        }
        fn checkers(&self) -> Vec<&'static str> {
            vec![]
        }
        #[allow(clippy::disallowed_types)] // the planted bug
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            let mut world = self.world();
            world.plan.allowed.clear();
            crate::run_world::<(), _, _>(&world, spec, vec![], |ctx| async move {
                let peers: std::collections::HashSet<u64> = (0..16).collect();
                for peer in peers {
                    crate::emit!(ctx.id, HashOrderEvent::Greet { peer });
                }
            })
        }
    }

    #[test]
    fn a_hash_set_order_dependence_passes_on_fresh_threads_and_diverges_on_a_used_one() {
        let mut job = SeedJob::generated(Arc::new(HashOrder), 11, None, true);
        job.keep_events = true;
        job.keep_report = true;
        let limit = Duration::from_secs(30);
        let hash = |thread| run_seed_on(&job, limit, None, thread).trace_hash.unwrap();
        // On fresh threads madsim keys std's hashers from the seed: the dependence hides.
        assert_eq!(hash(SeedThread::Fresh), hash(SeedThread::Fresh));
        // The determinism check runs its second copy on a used thread, and sees it.
        let o = check_seed_determinism(&job, limit);
        let d = o.divergence.expect("the hash-order dependence diverges");
        let [a, b] = d.lines;
        assert!(a.unwrap().contains("hash_order.greet"));
        assert!(b.unwrap().contains("hash_order.greet"));
        // A sound scenario passes the same check.
        let sound = SeedJob::generated(Arc::new(Unruly), 3, None, true);
        assert!(check_seed_determinism(&sound, limit).divergence.is_none());
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
        let sound = SeedJob::generated(Arc::new(Unruly), 3, None, true);
        assert!(check_seed_determinism(&sound, Duration::from_secs(30))
            .divergence
            .is_none());
        // A seed that spins for ever is a timeout, not a divergence.
        let spins = SeedJob::generated(Arc::new(Unruly), 2, None, true);
        let o = check_seed_determinism(&spins, Duration::from_millis(100));
        assert!(o.divergence.is_none() && o.timeout.is_some(), "{o:?}");
    }
}
