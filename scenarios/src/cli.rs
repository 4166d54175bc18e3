//! The `clustersim` command line: list, run, sweep, replay, shrink and check-determinism over
//! the scenario catalog, and bench (the ACK-round benchmark, see [`crate::bench`]). The binary is a thin `main` around [`main_with_args`].
//!
//! Exit codes: 0 everything passed; 1 a checker failed or determinism broke; 2 bad usage or
//! input, reported as one line on stderr. Every failure prints the one command that
//! reproduces it. Standard output carries results (deterministic for a given command line,
//! apart from wall-clock figures); progress goes to standard error.

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sim::sweep::{
    self, Artifact, ScenarioRef, SeedJob, SeedRange, Shard, SweepConfig, SweepStats, SweepTarget,
    Verdict,
};
use sim::{hash_hex, FaultPlan, PlanSource, Trace};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything passed.
pub const EXIT_PASS: u8 = 0;
/// A checker failed, or determinism broke.
pub const EXIT_FAIL: u8 = 1;
/// Bad usage or input.
pub const EXIT_USAGE: u8 = 2;

/// How many reruns `shrink` may spend.
pub const SHRINK_MAX_RUNS: usize = 200;

/// Deterministic simulation testbed for cluster protocols.
#[derive(Parser, Debug)]
#[command(
    name = "clustersim",
    version,
    max_term_width = 100,
    after_help = "Exit codes: 0 all passed; 1 a checker failed or determinism broke; 2 bad usage or input.\n\
                  Each seed runs on its own thread with a wall-clock limit of 60 s \
                  (CLUSTERSIM_SEED_TIMEOUT_S=SECONDS changes it)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every scenario and every planted bug.
    List {
        /// Print `{"scenarios": [...], "mutants": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Run one seed: print the fault plan, the verdict and the trace hash.
    Run(RunArgs),
    /// Run many seeds in parallel, each isolated; write an artifact per failure.
    Sweep(SweepArgs),
    /// Rerun a failure artifact exactly, with its own fault plan.
    Replay(ReplayArgs),
    /// Shrink a failure artifact's fault plan while the same checker still fails.
    Shrink(ShrinkArgs),
    /// Run each seed twice and compare the traces event by event.
    CheckDeterminism(CheckArgs),
    /// Benchmark ACK rounds: latency in simulated time beside the network floor, and the
    /// simulator's own speed beside its baselines.
    Bench(BenchArgs),
    /// Check a client history file for linearizability (exit 0 linearizable, 1 not).
    CheckHistory(crate::history_cmd::CheckHistoryArgs),
}

/// How a trace is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// One line per event, the form the trace hash is computed over.
    Text,
    /// One JSON object per event, one per line.
    Json,
    /// Chrome trace-event JSON (Perfetto, chrome://tracing).
    Chrome,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario to run (see `clustersim list`).
    pub scenario: String,
    /// The seed.
    #[arg(long, value_name = "N")]
    pub seed: u64,
    /// Print the trace in this format (text when only --out is given).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub trace: Option<TraceFormat>,
    /// Write the trace to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Switch on a planted bug.
    #[arg(long, value_name = "BUG")]
    pub mutant: Option<String>,
    /// Enable every fault kind the scenario admits, instead of a seed-chosen subset.
    #[arg(long)]
    pub no_swarm: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The scenarios to sweep.
    #[arg(value_name = "SCENARIO", required_unless_present = "all")]
    pub scenarios: Vec<String>,
    /// Sweep every scenario of the catalog.
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// The seeds, half-open: A..B.
    #[arg(long, value_name = "A..B", value_parser = SeedRange::parse)]
    pub seeds: SeedRange,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Run only the I-th of N disjoint slices of the range.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Switch on a planted bug (in the scenarios that have it).
    #[arg(long, value_name = "BUG")]
    pub mutant: Option<String>,
    /// Run every seed even after a failure (default: stop at the first).
    #[arg(long)]
    pub keep_going: bool,
    /// Where failure artifacts are written.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Print one JSON object at the end instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A failure artifact written by `sweep` or `shrink`.
    pub artifact: PathBuf,
    /// Print the trace in this format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub trace: TraceFormat,
    /// Write the trace to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// A failure artifact written by `sweep`.
    pub artifact: PathBuf,
    /// Where to write the shrunk artifact (default: beside it, `NAME.shrunk.json`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The scenarios to check.
    #[arg(value_name = "SCENARIO", required_unless_present = "all")]
    pub scenarios: Vec<String>,
    /// Check every scenario of the catalog.
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// The seeds, half-open: A..B.
    #[arg(long, value_name = "A..B", value_parser = SeedRange::parse)]
    pub seeds: SeedRange,
}

/// The benchmarks `clustersim bench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    /// Two-phase ACK rounds over the cluster engine.
    AckRounds,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The benchmark.
    #[arg(value_enum)]
    pub which: BenchKind,
    /// Cluster size.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = parse_bench_nodes)]
    pub nodes: usize,
    /// How many rounds to measure (a transaction is a prepare and a commit round).
    #[arg(long, value_name = "R", default_value_t = 1_000, value_parser = parse_bench_rounds)]
    pub rounds: u64,
    /// Which faults to inject.
    #[arg(long, value_enum, value_name = "FAULTS", default_value = "none")]
    pub faults: crate::bench::BenchFaults,
    /// Link latency in ms, drawn uniformly per message: LO..HI (inclusive).
    #[arg(long, value_name = "LO..HI", default_value = "1..5", value_parser = parse_latency_ms)]
    pub latency_ms: sim::LinkLatency,
    /// The seed (network sampling, task order, fault plan).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Also write report.md, report.json, latency.hlog and two SVG charts to DIR, with a
    /// sweep over 3, 5, 9, 17, 33 and 65 nodes.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// The largest cluster `bench` accepts.
pub const BENCH_MAX_NODES: usize = 1_000;

fn parse_bench_nodes(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n < 2 => Err("an ACK round needs at least 2 nodes".to_string()),
        Ok(n) if n > BENCH_MAX_NODES => Err(format!("at most {BENCH_MAX_NODES} nodes")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of nodes")),
    }
}

fn parse_bench_rounds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("the number of rounds must be at least 1".to_string()),
        Ok(n) if n > 10_000_000 => Err("at most 10000000 rounds".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of rounds")),
    }
}

/// `LO..HI` in milliseconds (fractions allowed down to the model's microsecond).
pub fn parse_latency_ms(s: &str) -> Result<sim::LinkLatency, String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not a latency range LO..HI in ms"))?;
    let ms = |x: &str| -> Result<u64, String> {
        let v: f64 = x
            .trim()
            .parse()
            .map_err(|_| format!("'{x}' is not a latency in ms"))?;
        if !(0.001..=60_000.0).contains(&v) {
            return Err(format!("latency {x} ms is outside 0.001..60000 ms"));
        }
        Ok((v * 1_000.0).round() as u64)
    };
    let (min_us, max_us) = (ms(lo)?, ms(hi)?);
    if min_us > max_us {
        return Err(format!("reversed latency range {s}: LO must not exceed HI"));
    }
    Ok(sim::LinkLatency { min_us, max_us })
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("the number of jobs must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of jobs")),
    }
}

/// A command's failure: an exit code and, for bad input, the one line that explains it.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: Option<String>,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: Some(message.into()),
        }
    }
}

type CmdResult = Result<u8, Failure>;

/// Parses `args` (the program name first) and runs the command; returns the exit code.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    EXIT_PASS
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    eprintln!(
                        "error: no command given: one of list, run, sweep, replay, shrink, \
                         check-determinism, bench, check-history (see clustersim --help)"
                    );
                    EXIT_USAGE
                }
                _ => {
                    eprintln!("{}", one_line_clap_error(&e.to_string()));
                    EXIT_USAGE
                }
            };
        }
    };
    sim::install_panic_filter();
    match run_command(cli.command) {
        Ok(code) => code,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("error: {m}");
            }
            f.code
        }
    }
}

/// Clap's errors span several lines (the error, a tip, the usage); keep the first
/// paragraph, on one line.
pub fn one_line_clap_error(rendered: &str) -> String {
    let first = rendered.split("\n\n").next().unwrap_or(rendered);
    let words: Vec<&str> = first.split_whitespace().collect();
    let line = words.join(" ");
    if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    }
}

/// Silences the panic hook on seed threads. In a sweep, a shrink or a determinism check a
/// panicking seed is a finding reported through its violation (with the panic message) and
/// its artifact; a backtrace per seed would bury the summary. `run` and `replay` keep the
/// full report, and panics on any other thread (the tool's own bugs) are reported as usual.
fn quiet_seed_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(sim::isolate::SEED_THREAD_NAME) {
            previous(info);
        }
    }));
}

fn run_command(cmd: Command) -> CmdResult {
    if matches!(
        cmd,
        Command::Sweep(_) | Command::Shrink(_) | Command::CheckDeterminism(_)
    ) {
        quiet_seed_panics();
    }
    match cmd {
        Command::List { json } => list(json),
        Command::Run(a) => run(a),
        Command::Sweep(a) => sweep_cmd(a),
        Command::Replay(a) => replay(a),
        Command::Shrink(a) => shrink_cmd(a),
        Command::CheckDeterminism(a) => check_determinism(a),
        Command::Bench(a) => bench_cmd(a),
        Command::CheckHistory(a) => crate::history_cmd::check_history(&a).map_err(Failure::usage),
    }
}

/// Writes a line to stdout; a closed pipe (`clustersim ... | head`) ends quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        if writeln!(out, $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

pub(crate) fn out_str(s: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn find_scenario(name: &str) -> Result<ScenarioRef, Failure> {
    crate::find(name).map(Arc::from).map_err(Failure::usage)
}

/// The scenarios a sweep or determinism check covers, sorted by name, without repeats.
fn select_scenarios(names: &[String], all: bool) -> Result<Vec<ScenarioRef>, Failure> {
    let mut out: Vec<ScenarioRef> = if all {
        crate::catalog().into_iter().map(Arc::from).collect()
    } else {
        names
            .iter()
            .map(|n| find_scenario(n))
            .collect::<Result<_, _>>()?
    };
    if out.is_empty() {
        return Err(Failure::usage("no scenario given: name one or pass --all"));
    }
    out.sort_by_key(|s| s.name());
    out.dedup_by_key(|s| s.name());
    Ok(out)
}

fn list(json: bool) -> CmdResult {
    let cat = crate::catalog();
    if json {
        let scenarios: Vec<serde_json::Value> = cat
            .iter()
            .map(|s| serde_json::json!({"name": s.name(), "description": s.description()}))
            .collect();
        let mutants: Vec<serde_json::Value> = cat
            .iter()
            .flat_map(|s| {
                s.mutants().into_iter().map(move |m| {
                    serde_json::json!({"name": m.name, "scenario": s.name(),
                        "description": m.description})
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({"scenarios": scenarios, "mutants": mutants})
        );
        return Ok(EXIT_PASS);
    }
    let w = cat.iter().map(|s| s.name().len()).max().unwrap_or(0);
    outln!("scenarios:");
    for s in &cat {
        outln!("  {:<w$}  {}", s.name(), s.description());
    }
    let bugs: Vec<(String, &'static str, String)> = cat
        .iter()
        .flat_map(|s| {
            s.mutants()
                .into_iter()
                .map(move |m| (m.name.to_string(), s.name(), m.description.to_string()))
        })
        .collect();
    outln!("planted bugs (--mutant BUG):");
    if bugs.is_empty() {
        outln!("  none");
    }
    let bw = bugs.iter().map(|b| b.0.len()).max().unwrap_or(0);
    let sw = bugs.iter().map(|b| b.1.len() + 2).max().unwrap_or(0);
    for (name, scenario, description) in &bugs {
        outln!(
            "  {name:<bw$}  {:<sw$}  {description}",
            format!("[{scenario}]")
        );
    }
    Ok(EXIT_PASS)
}

/// A shell-safe rendering of a path, for the commands a failure prints.
pub(crate) fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./+:=@,".contains(c));
    if safe {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that replays an artifact.
pub fn replay_command(path: &Path) -> String {
    format!("clustersim replay {}", shell_quote(path))
}

fn render_trace(trace: &Trace, format: TraceFormat) -> String {
    match format {
        TraceFormat::Text => trace.text(),
        TraceFormat::Json => trace.json_lines(),
        TraceFormat::Chrome => {
            let mut s = trace.chrome();
            s.push('\n');
            s
        }
    }
}

/// Prints or writes a finished run's trace.
fn emit_trace(trace: &Trace, format: TraceFormat, out: Option<&Path>) -> Result<(), Failure> {
    let text = render_trace(trace, format);
    match out {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| {
                Failure::usage(format!("cannot write the trace to {}: {e}", path.display()))
            })?;
            outln!(
                "trace: {} events written to {}",
                trace.event_count,
                path.display()
            );
        }
        None => out_str(&text),
    }
    Ok(())
}

fn verdict_line(v: &Verdict) -> String {
    match v {
        Verdict::Passed => "verdict: PASS".to_string(),
        Verdict::Failed(vs) => {
            let mut s = format!("verdict: FAIL {}", vs[0]);
            if vs.len() > 1 {
                let others: Vec<&str> = vs[1..].iter().map(|v| v.checker.as_str()).collect();
                s.push_str(&format!(" (also broke: {})", others.join(", ")));
            }
            s
        }
        Verdict::BadInput(e) => format!("verdict: bad input: {e}"),
    }
}

/// When the events were kept, shows the event the first violation points at, so the reader
/// can find it in the trace.
fn print_violating_event(o: &sim::sweep::SeedOutcome) {
    let (Some(v), Some(trace)) = (o.verdict.first_violation(), o.trace()) else {
        return;
    };
    if let Some(ev) = trace.events.get(v.event_index as usize) {
        let mut line = String::new();
        ev.write_line(&mut line);
        outln!("  at event #{}: {}", v.event_index, line.trim());
    }
}

fn hash_line(h: Option<u64>) -> String {
    match h {
        Some(h) => format!("trace-hash: {}", hash_hex(h)),
        None => "trace-hash: none (the run never finished)".to_string(),
    }
}

fn run(a: RunArgs) -> CmdResult {
    let scenario = find_scenario(&a.scenario)?;
    sim::check_mutant(scenario.as_ref(), a.mutant.as_deref()).map_err(Failure::usage)?;
    let format = a.trace.or(a.out.as_ref().map(|_| TraceFormat::Text));
    let job = SeedJob {
        scenario: scenario.clone(),
        seed: a.seed,
        mutant: a.mutant.clone(),
        plan: PlanSource::Generate { swarm: !a.no_swarm },
        keep_events: format.is_some(),
        keep_report: true,
    };
    let o = sweep::run_seed(&job, sweep::seed_wall_limit_from_env());
    if let Verdict::BadInput(e) = &o.verdict {
        return Err(Failure::usage(e.clone()));
    }
    outln!(
        "run: {} seed {}{}{}",
        o.scenario,
        o.seed,
        if a.no_swarm { " (no swarm)" } else { "" },
        a.mutant
            .as_ref()
            .map(|m| format!(", mutant {m}"))
            .unwrap_or_default()
    );
    outln!("{}", o.plan.summary());
    if let (Some(format), Some(trace)) = (format, o.trace()) {
        emit_trace(trace, format, a.out.as_deref())?;
    }
    outln!("{}", verdict_line(&o.verdict));
    print_violating_event(&o);
    outln!(
        "events: {}, simulated time: {:.3}s",
        o.event_count,
        o.sim_ns as f64 / 1e9
    );
    outln!("{}", hash_line(o.trace_hash));
    if o.verdict.is_failure() {
        let mut cmd = format!("clustersim run {} --seed {}", o.scenario, o.seed);
        if let Some(m) = &a.mutant {
            cmd.push_str(&format!(" --mutant {m}"));
        }
        if a.no_swarm {
            cmd.push_str(" --no-swarm");
        }
        outln!("reproduce: {cmd} --trace text");
        return Ok(EXIT_FAIL);
    }
    Ok(EXIT_PASS)
}

/// Progress on standard error: a bar on a terminal, a plain line every few seconds
/// otherwise (CI logs).
struct ProgressSink {
    bar: Option<ProgressBar>,
    what: &'static str,
    started: Instant,
    last_line: Instant,
}

impl ProgressSink {
    const PLAIN_EVERY: Duration = Duration::from_secs(5);

    fn new(what: &'static str, total: usize) -> ProgressSink {
        let bar = std::io::stderr().is_terminal().then(|| {
            let pb = ProgressBar::new(total as u64);
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds ({per_sec}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb.set_prefix(what);
            pb
        });
        let now = Instant::now();
        ProgressSink {
            bar,
            what,
            started: now,
            last_line: now,
        }
    }

    fn update(&mut self, done: usize, total: usize, failures: usize, label: &str) {
        match &self.bar {
            Some(pb) => {
                pb.set_position(done as u64);
                if failures > 0 {
                    pb.set_message(format!("{failures} {label}"));
                }
            }
            None => {
                if self.last_line.elapsed() >= Self::PLAIN_EVERY
                    || (done == total && done > 0 && self.started.elapsed() >= Self::PLAIN_EVERY)
                {
                    self.last_line = Instant::now();
                    let el = self.started.elapsed().as_secs_f64();
                    eprintln!(
                        "{}: {done}/{total} seeds, {failures} {label}, {el:.1}s, {:.0} seeds/s",
                        self.what,
                        done as f64 / el.max(1e-9)
                    );
                }
            }
        }
    }

    fn note(&self, line: &str) {
        match &self.bar {
            Some(pb) => pb.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

fn mutant_suffix(m: &Option<String>) -> String {
    m.as_ref().map(|m| format!(" [{m}]")).unwrap_or_default()
}

fn sweep_cmd(a: SweepArgs) -> CmdResult {
    let mut scenarios = select_scenarios(&a.scenarios, a.all)?;
    if let Some(m) = &a.mutant {
        if a.all {
            // With --all a planted bug applies to the scenarios that have it.
            scenarios.retain(|s| sim::check_mutant(s.as_ref(), Some(m)).is_ok());
            if scenarios.is_empty() {
                return Err(Failure::usage(format!(
                    "unknown planted bug '{m}': no scenario has it (see clustersim list)"
                )));
            }
        } else {
            for s in &scenarios {
                sim::check_mutant(s.as_ref(), Some(m)).map_err(Failure::usage)?;
            }
        }
    }
    std::fs::create_dir_all(&a.artifacts).map_err(|e| {
        Failure::usage(format!(
            "cannot create the artifact directory {}: {e}",
            a.artifacts.display()
        ))
    })?;
    let seeds = a.seeds.shard(a.shard);
    sweep::check_run_size(seeds.end - seeds.start, scenarios.len()).map_err(Failure::usage)?;
    let workers = a.jobs.unwrap_or_else(sweep::default_jobs);
    let cfg = SweepConfig {
        workers,
        seed_wall_limit: sweep::seed_wall_limit_from_env(),
        keep_going: a.keep_going,
        artifacts: Some(a.artifacts.clone()),
        swarm: true,
    };
    let targets: Vec<SweepTarget> = scenarios
        .iter()
        .map(|s| SweepTarget {
            scenario: s.clone(),
            mutant: a.mutant.clone(),
        })
        .collect();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
    let header = format!(
        "sweep: {}{}, seeds {}..{}{} ({} seeds), {} jobs",
        names.join(", "),
        mutant_suffix(&a.mutant),
        seeds.start,
        seeds.end,
        a.shard
            .map(|s| format!(" (shard {s} of {})", a.seeds))
            .unwrap_or_default(),
        (seeds.end - seeds.start) as usize * targets.len(),
        workers
    );
    if !a.json {
        outln!("{header}");
    }
    let total = (seeds.end - seeds.start) as usize * targets.len();
    let mut progress = ProgressSink::new("sweep", total);
    let result = sweep::sweep(&targets, seeds, &cfg, |p| {
        // Without --keep-going the sweep ends at its first failure and lists it below.
        if a.keep_going && p.outcome.verdict.is_failure() && p.artifact_error.is_none() {
            if let Some(v) = p.outcome.verdict.first_violation() {
                progress.note(&format!(
                    "failed: {} seed {}{}: {v}{}",
                    p.outcome.scenario,
                    p.outcome.seed,
                    mutant_suffix(&p.outcome.mutant),
                    p.outcome
                        .artifact
                        .as_ref()
                        .map(|path| format!(" -> {}", replay_command(path)))
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(e) = &p.artifact_error {
            progress.note(&format!("warning: {e}"));
        }
        progress.update(p.done, p.total, p.failures, "failed");
    });
    progress.finish();
    if let Some(bad) = result.bad_inputs().next() {
        if let Verdict::BadInput(e) = &bad.verdict {
            return Err(Failure::usage(format!(
                "{} seed {}: {e}",
                bad.scenario, bad.seed
            )));
        }
    }
    let stats = result.stats();
    if a.json {
        let failures: Vec<serde_json::Value> = result
            .failures()
            .map(|o| {
                serde_json::json!({
                    "scenario": o.scenario,
                    "seed": o.seed,
                    "checker": o.verdict.first_violation().map(|v| v.checker.clone()),
                    "artifact": o.artifact.as_ref().map(|p| p.display().to_string()),
                })
            })
            .collect();
        for o in result.failures() {
            if let Some(p) = &o.artifact {
                eprintln!("replay: {}", replay_command(p));
            }
        }
        outln!(
            "{}",
            serde_json::json!({
                "seeds_run": stats.seeds_run,
                "failures": failures,
                "wall_s": stats.wall.as_secs_f64(),
                "sim_s": stats.sim_s(),
            })
        );
    } else {
        for o in result.failures() {
            let v = o
                .verdict
                .first_violation()
                .expect("a failure has a violation");
            outln!(
                "FAIL {} seed {}{}: {v}",
                o.scenario,
                o.seed,
                mutant_suffix(&o.mutant)
            );
            match &o.artifact {
                Some(p) => outln!("  replay: {}", replay_command(p)),
                None => outln!("  (no artifact was written)"),
            }
        }
        print_summary(&stats, result.planned, result.stopped_early);
    }
    Ok(if stats.failures > 0 {
        EXIT_FAIL
    } else {
        EXIT_PASS
    })
}

fn print_summary(stats: &SweepStats, planned: usize, stopped_early: bool) {
    if stopped_early {
        outln!("stopped at the first failure (pass --keep-going to run every seed)");
    }
    outln!(
        "seeds run: {} of {planned}, failures: {}",
        stats.seeds_run,
        stats.failures
    );
    outln!(
        "wall time: {:.2}s, simulated time: {:.1}s, {:.1} seeds/s (one seed: median {:.2}ms, p99 {:.2}ms)",
        stats.wall.as_secs_f64(),
        stats.sim_s(),
        stats.seeds_per_s(),
        stats.seed_wall_median.as_secs_f64() * 1e3,
        stats.seed_wall_p99.as_secs_f64() * 1e3
    );
    outln!("coverage (seeds in which a fault of each kind started during each protocol phase):");
    out_str(&stats.coverage_table());
}

/// Loads an artifact and checks it against the catalog: its scenario and mutant exist and
/// its plan fits the scenario's world.
fn load_artifact(path: &Path) -> Result<(Artifact, ScenarioRef, FaultPlan), Failure> {
    let art = Artifact::load(path).map_err(Failure::usage)?;
    let bad = |e: String| Failure::usage(format!("artifact {}: {e}", path.display()));
    let scenario = crate::find(&art.scenario)
        .map(ScenarioRef::from)
        .map_err(bad)?;
    sim::check_mutant(scenario.as_ref(), art.mutant.as_deref()).map_err(bad)?;
    let plan = art.plan();
    plan.validate(scenario.world().nodes).map_err(bad)?;
    // Times are simulated milliseconds; a window whose end does not fit in nanoseconds is
    // a corrupted file, not a plan.
    const MAX_MS: u64 = u64::MAX / 1_000_000;
    if let Some((i, f)) = plan.faults.iter().enumerate().find(|(_, f)| {
        f.at_ms()
            .checked_add(f.duration_ms().unwrap_or(0))
            .is_none_or(|end| end > MAX_MS)
    }) {
        return Err(bad(format!(
            "fault {i} ({f}) ends past the end of simulated time"
        )));
    }
    Ok((art, scenario, plan))
}

fn replay(a: ReplayArgs) -> CmdResult {
    let (art, scenario, plan) = load_artifact(&a.artifact)?;
    let job = SeedJob {
        scenario,
        seed: art.seed,
        mutant: art.mutant.clone(),
        plan: PlanSource::Given(plan),
        keep_events: true,
        keep_report: true,
    };
    let o = sweep::run_seed(&job, sweep::seed_wall_limit_from_env());
    if let Verdict::BadInput(e) = &o.verdict {
        return Err(Failure::usage(format!(
            "artifact {}: {e}",
            a.artifact.display()
        )));
    }
    outln!(
        "replay: {} seed {}{} from {}",
        art.scenario,
        art.seed,
        mutant_suffix(&art.mutant),
        a.artifact.display()
    );
    outln!("{}", o.plan.summary());
    if let Some(trace) = o.trace() {
        emit_trace(trace, a.trace, a.out.as_deref())?;
    }
    outln!("{}", verdict_line(&o.verdict));
    print_violating_event(&o);
    outln!("{}", hash_line(o.trace_hash));
    let got = o.trace_hash.map(hash_hex);
    let same_hash = got == art.trace_hash;
    match (&art.trace_hash, same_hash) {
        (Some(h), true) => outln!("trace hash matches the artifact's ({h})"),
        (Some(h), false) => {
            outln!("trace hash DIFFERS from the artifact's ({h}): the replay is not exact")
        }
        (None, true) => outln!("neither the original run nor the replay finished"),
        (None, false) => outln!("the original run never finished, but the replay did"),
    }
    let same_checker = o.verdict.broke(&art.checker);
    if same_checker {
        outln!("reproduced: {} failed again", art.checker);
    } else {
        outln!("NOT reproduced: {} did not fail this time", art.checker);
    }
    Ok(if o.verdict.is_failure() || !same_hash {
        EXIT_FAIL
    } else {
        EXIT_PASS
    })
}

/// `NAME.json` -> `NAME.shrunk.json`, beside the original.
fn default_shrunk_path(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "artifact".to_string());
    let stem = stem.strip_suffix(".shrunk").unwrap_or(&stem).to_string();
    p.with_file_name(format!("{stem}.shrunk.json"))
}

fn shrink_cmd(a: ShrinkArgs) -> CmdResult {
    let (art, scenario, plan) = load_artifact(&a.artifact)?;
    let out_path = a
        .out
        .clone()
        .unwrap_or_else(|| default_shrunk_path(&a.artifact));
    outln!(
        "shrink: {} seed {}{}, {} faults, checker {} (at most {SHRINK_MAX_RUNS} reruns)",
        art.scenario,
        art.seed,
        mutant_suffix(&art.mutant),
        plan.faults.len(),
        art.checker
    );
    let t0 = Instant::now();
    let s = sweep::shrink(
        scenario,
        art.seed,
        art.mutant.clone(),
        plan,
        &art.checker,
        SHRINK_MAX_RUNS,
        sweep::seed_wall_limit_from_env(),
    )
    .map_err(|e| Failure {
        code: EXIT_FAIL,
        message: Some(format!("cannot shrink {}: {e}", a.artifact.display())),
    })?;
    let violation = match &s.smallest.verdict {
        Verdict::Failed(vs) => vs
            .iter()
            .find(|v| v.checker == art.checker)
            .cloned()
            .expect("the shrunk plan breaks the same checker"),
        _ => unreachable!("shrink keeps only failing plans"),
    };
    let shrunk = Artifact::new(&s.smallest, violation);
    shrunk.write_to(&out_path).map_err(Failure::usage)?;
    outln!("{}", s.smallest.plan.summary());
    outln!(
        "shrunk {} faults to {} in {} reruns ({:.1}s){}",
        s.original_faults,
        s.smallest.plan.faults.len(),
        s.runs,
        t0.elapsed().as_secs_f64(),
        if s.exhausted {
            "; the rerun bound stopped the search"
        } else {
            ""
        }
    );
    outln!("faults remaining: {}", s.smallest.plan.faults.len());
    outln!("wrote {}", out_path.display());
    outln!("replay: {}", replay_command(&out_path));
    Ok(EXIT_PASS)
}

fn check_determinism(a: CheckArgs) -> CmdResult {
    let scenarios = select_scenarios(&a.scenarios, a.all)?;
    let seeds = a.seeds.start..a.seeds.end;
    sweep::check_run_size(a.seeds.len(), scenarios.len()).map_err(Failure::usage)?;
    let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
    let total = a.seeds.len() as usize * scenarios.len();
    outln!(
        "check-determinism: {}, seeds {}, each run twice",
        names.join(", "),
        a.seeds
    );
    let mut progress = ProgressSink::new("check-determinism", total);
    let mut diverged = 0;
    let t0 = Instant::now();
    let outcomes = sweep::check_determinism(
        &scenarios,
        seeds,
        sweep::default_jobs(),
        sweep::seed_wall_limit_from_env(),
        |done, total, o| {
            if o.divergence.is_some() {
                diverged += 1;
            }
            progress.update(done, total, diverged, "diverged");
        },
    );
    progress.finish();
    let mut bad = 0;
    for o in &outcomes {
        if let Some(d) = &o.divergence {
            bad += 1;
            outln!(
                "DIVERGED {} seed {}: the traces first differ at event #{} (hashes {} vs {}, {} vs {} events)",
                o.scenario,
                o.seed,
                d.event_index,
                o.hashes[0].map(hash_hex).unwrap_or_else(|| "none".into()),
                o.hashes[1].map(hash_hex).unwrap_or_else(|| "none".into()),
                o.event_counts[0],
                o.event_counts[1]
            );
            for (i, line) in d.lines.iter().enumerate() {
                outln!(
                    "  run {}: {}",
                    i + 1,
                    line.as_deref().unwrap_or("(no event)")
                );
            }
            outln!(
                "  reproduce: clustersim check-determinism {} --seeds {}..{}",
                o.scenario,
                o.seed,
                o.seed + 1
            );
        }
    }
    let sim_s: f64 = outcomes.iter().map(|o| o.sim_ns as f64 / 1e9).sum();
    outln!(
        "checked {} seeds twice in {:.2}s ({sim_s:.1}s simulated each time): {}",
        outcomes.len(),
        t0.elapsed().as_secs_f64(),
        if bad == 0 {
            "every trace identical".to_string()
        } else {
            format!("{bad} diverged")
        }
    );
    Ok(if bad == 0 { EXIT_PASS } else { EXIT_FAIL })
}

/// The command that reproduces a benchmark run's simulated figures.
fn bench_command(a: &BenchArgs) -> String {
    let mut s = format!(
        "clustersim bench ack-rounds --nodes {} --rounds {} --faults {} --latency-ms {} --seed {}",
        a.nodes,
        a.rounds,
        a.faults.name(),
        crate::bench::fmt_latency_ms(a.latency_ms),
        a.seed
    );
    if let Some(d) = &a.report {
        s.push_str(&format!(" --report {}", shell_quote(d)));
    }
    s
}

/// Fails early, before a long run, when the report directory cannot be written.
fn check_report_dir(dir: &Path) -> Result<(), Failure> {
    let bad = |e: std::io::Error| {
        Failure::usage(format!("cannot write the report to {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(bad)?;
    let probe = dir.join(".clustersim-write-probe");
    std::fs::write(&probe, b"").map_err(bad)?;
    std::fs::remove_file(&probe).map_err(bad)
}

/// A benchmark run that broke a guarantee measured nothing worth reporting.
fn bench_violations(run: &crate::bench::AckRun, nodes: usize, cmd: &str) -> Option<u8> {
    let v = run.violations.first()?;
    outln!("FAIL bench ack-rounds at {nodes} nodes: {v}");
    outln!("reproduce: {cmd}");
    Some(EXIT_FAIL)
}

fn bench_cmd(a: BenchArgs) -> CmdResult {
    use crate::bench::{self, AckBench, Baselines};
    let BenchKind::AckRounds = a.which;
    if let Some(dir) = &a.report {
        check_report_dir(dir)?;
    }
    let cmd = bench_command(&a);
    let b = AckBench {
        nodes: a.nodes,
        rounds: a.rounds,
        faults: a.faults,
        latency: a.latency_ms,
        seed: a.seed,
    };
    eprintln!("bench: {} rounds at {} nodes", b.rounds, b.nodes);
    let run = b.run().map_err(Failure::usage)?;
    if let Some(code) = bench_violations(&run, b.nodes, &cmd) {
        return Ok(code);
    }
    eprintln!("bench: baselines");
    let base = Baselines::measure(&b).map_err(Failure::usage)?;
    let mut sizes = Vec::new();
    if a.report.is_some() {
        for n in bench::SWEEP_SIZES {
            let at = b.at_size(n, bench::SWEEP_ROUNDS);
            eprintln!("bench: scaling sweep, {} rounds at {n} nodes", at.rounds);
            let r = at
                .run_best_of(bench::SWEEP_REPEATS)
                .map_err(Failure::usage)?;
            if let Some(code) = bench_violations(&r, n, &cmd) {
                return Ok(code);
            }
            sizes.push(bench::size_point(&r, n));
        }
    }
    let report = bench::report(&cmd, &b, &run, &base, sizes);
    if a.json {
        outln!("{}", report.summary_json());
    } else {
        out_str(&report.summary());
    }
    if run.stats.floor_above_measured > 0 {
        eprintln!(
            "warning: {} rounds measured faster than their network floor: the floor replay \
             is wrong",
            run.stats.floor_above_measured
        );
    }
    if let Some(dir) = &a.report {
        benches::report::write_report_dir(
            dir,
            &report,
            &run.stats.latency,
            &run.stats.floor,
            Duration::from_nanos(run.sim_ns),
        )
        .map_err(|e| {
            Failure::usage(format!("cannot write the report to {}: {e}", dir.display()))
        })?;
        if !a.json {
            outln!("report: {}", dir.join("report.md").display());
        }
    }
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::try_parse_from(["clustersim", "run", "demo"]).unwrap_err();
        let line = one_line_clap_error(&e.to_string());
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("error:") && line.contains("--seed"),
            "{line}"
        );
        let e =
            Cli::try_parse_from(["clustersim", "sweep", "demo", "--seeds", "5..2"]).unwrap_err();
        let line = one_line_clap_error(&e.to_string());
        assert!(line.contains("reversed seed range 5..2"), "{line}");
    }

    #[test]
    fn shrunk_paths_and_replay_commands() {
        assert_eq!(
            default_shrunk_path(Path::new("artifacts/demo-6.json")),
            PathBuf::from("artifacts/demo-6.shrunk.json")
        );
        assert_eq!(
            default_shrunk_path(Path::new("a/x.shrunk.json")),
            PathBuf::from("a/x.shrunk.json")
        );
        assert_eq!(
            replay_command(Path::new("artifacts/demo-6.json")),
            "clustersim replay artifacts/demo-6.json"
        );
        assert_eq!(
            replay_command(Path::new("my dir/a'b.json")),
            r"clustersim replay 'my dir/a'\''b.json'"
        );
    }
}
