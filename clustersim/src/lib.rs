//! The clustersim command line as a library: list, run, sweep, replay, shrink,
//! check-determinism and check-history over any scenario catalog ([`Catalog`]).
//!
//! A program of its own runs the whole command line over its own scenarios with one call,
//! [`main`], and gets every subcommand, flag, JSON shape ([`json`]), exit code and artifact
//! format; it names itself (its file name) in `--help` and in every command it prints to
//! reproduce a finding:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let catalog = sim::Catalog::new(); // .with(MyScenario) ...
//!     clustersim::main(catalog)
//! }
//! ```
//!
//! [`main_with_args`] takes the arguments explicitly and returns the exit code;
//! [`main_with_extension`] adds a program's own subcommands (the built-in `clustersim`
//! binary adds `bench` this way). Scenarios marked experimental ([`Entry::experimental`])
//! are left out of `--all`.
//!
//! [`transcripts`] checks that a document's console transcripts still print the trace
//! hashes the runs they show make (a guide's test calls it).
//!
//! Exit codes are one table for every command, [`EXIT_CODES`] (printed by `--help`). Bad
//! input is one line on stderr. Every failure and timeout prints the one command that
//! reproduces it.
//!
//! Streams: results go to standard output. When standard output carries machine output
//! (`--json`, or a JSON or Chrome trace not sent to a file) it carries nothing else, and
//! every human line goes to standard error; progress always goes to standard error.
//!
//! SIGINT and SIGTERM stop the commands that run seeds cleanly: no seed starts after them,
//! seeds in flight are dropped whole, what finished is reported (with the seed to resume
//! from), and the exit code is 130. A second signal ends the process at once.

pub mod history_cmd;
pub mod json;
pub mod transcripts;

pub use sim::{Catalog, Entry};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use json::{
    CounterJson, FindingJson, ListJson, MutantJson, ScenarioJson, ScenarioRunJson, SweepJson,
};
use sim::sweep::{
    self, Artifact, ScenarioRef, SeedJob, SeedOutcome, SeedRange, Shard, ShrinkError, SweepConfig,
    SweepStats, SweepTarget, Verdict,
};
use sim::{hash_hex, FaultPlan, PlanSource, Trace};
use std::fmt::{self, Display};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every seed passed (replay `--expect-pass`: the failure is gone; shrink: it wrote the
/// smaller artifact).
pub const EXIT_PASS: u8 = 0;
/// A checker failed, or determinism broke; replay: the failure reproduced exactly.
pub const EXIT_FAIL: u8 = 1;
/// Bad usage or input.
pub const EXIT_USAGE: u8 = 2;
/// Replay or shrink: the failure did not reproduce, or its trace hash differs.
pub const EXIT_NOT_REPRODUCED: u8 = 3;
/// A seed timed out (over its CPU-time limit, also when retried alone).
pub const EXIT_TIMEOUT: u8 = 4;
/// An interrupt (SIGINT, SIGTERM) stopped the command.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes of every command, as `--help` and README show them.
pub const EXIT_CODES: &str = "\
Exit codes (the same for every command):
  0    passed: every seed passed; shrink wrote the smaller artifact;
       replay --expect-pass: the failure is gone
  1    a checker failed, or determinism broke; replay: the failure reproduced exactly
  2    bad usage or input, explained in one line on stderr
  3    replay or shrink: the failure did not reproduce, or its trace hash differs
  4    a seed timed out: it used more CPU time than --seed-timeout-s, also when retried
       alone (replay of a timeout: it timed out again)
  130  interrupted by SIGINT or SIGTERM: what finished is reported, with where to resume
A run with both failures and timeouts exits 1.";

/// How many reruns `shrink` may spend.
pub const SHRINK_MAX_RUNS: usize = 200;

/// Deterministic simulation testbed for cluster protocols.
#[derive(Parser, Debug)]
#[command(
    name = "clustersim",
    version,
    max_term_width = 100,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The most CPU time one seed may use, in seconds. A seed over it, or blocked for that
    /// long, is retried alone and then reported as a timeout. CPU time, not wall time: a
    /// busy machine or more jobs than cores do not change a verdict.
    #[arg(
        long,
        global = true,
        value_name = "S",
        env = "CLUSTERSIM_SEED_TIMEOUT_S",
        default_value = "60",
        value_parser = sweep::parse_seed_limit
    )]
    pub seed_timeout_s: Duration,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every scenario and every planted bug.
    List {
        /// Print one JSON object (shape: docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Run one seed: print the fault plan, the verdict and the trace hash.
    Run(RunArgs),
    /// Run many seeds in parallel, each isolated; write an artifact per failure or timeout.
    Sweep(SweepArgs),
    /// Rerun a failure artifact exactly, with its own fault plan.
    Replay(ReplayArgs),
    /// Rerun a failure artifact and print the causal slice of its violation: the events
    /// that led to it, through each node's order and message send -> delivery, with the
    /// faults active at each.
    Explain(ExplainArgs),
    /// Shrink a failure artifact's fault plan while the same checker still fails.
    Shrink(ShrinkArgs),
    /// Run each seed twice and compare the traces event by event.
    CheckDeterminism(CheckArgs),
    /// Internal: run one seed as `check-determinism --child-process` asks a child process
    /// to, and print its trace hash and event count as one JSON line (then, with
    /// `--lines`, the trace's lines).
    #[command(name = CHILD_COMMAND, hide = true)]
    SeedCopy(SeedCopyArgs),
    /// Check a client history file for linearizability (exit 0 linearizable, 1 not).
    CheckHistory(history_cmd::CheckHistoryArgs),
}

/// How a trace is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// One line per event: `#index time node component.event key=value ...`.
    Text,
    /// One JSON object per event, one per line.
    Json,
    /// Chrome trace-event JSON (Perfetto, chrome://tracing): spans for faults, nodes
    /// down and phases, flow arrows for messages (with `--detail net`), the violation
    /// marked.
    Chrome,
    /// A self-contained HTML page with a space-time diagram: lanes per node, messages
    /// as arrows (with `--detail net`), fault windows, the violation and its causal slice.
    Html,
    /// No trace: the verdict and the trace hash only.
    None,
}

/// What a printed trace records beyond the protocol-level events (`--detail`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DetailLevel {
    /// The protocol-level events: what the checkers see and the trace hash covers.
    #[default]
    Protocol,
    /// Also every network send, delivery, drop (with its cause), duplicate and extra
    /// delay, each naming its message (`m17`); the run and its hash do not change.
    Net,
}

impl From<DetailLevel> for sim::Detail {
    fn from(d: DetailLevel) -> Self {
        match d {
            DetailLevel::Protocol => sim::Detail::Protocol,
            DetailLevel::Net => sim::Detail::Net,
        }
    }
}

impl TraceFormat {
    /// Whether the format is for programs: printed to standard output, it is alone there.
    pub fn is_machine(self) -> bool {
        matches!(
            self,
            TraceFormat::Json | TraceFormat::Chrome | TraceFormat::Html
        )
    }
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
    /// What the trace records beyond the protocol-level events.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "protocol")]
    pub detail: DetailLevel,
    /// Switch on a planted bug.
    #[arg(long, value_name = "BUG")]
    pub mutant: Option<String>,
    /// Enable every fault kind the scenario admits, instead of a seed-chosen subset.
    #[arg(long)]
    pub no_swarm: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The scenarios to sweep (or --all).
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<String>,
    /// Sweep every scenario of the catalog.
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// The seeds, half-open: A..B (B may be 18446744073709551616, one past the last seed).
    #[arg(long, value_name = "A..B", value_parser = SeedRange::parse)]
    pub seeds: SeedRange,
    /// Worker threads (default: one per core). More than the cores is allowed, with a
    /// warning: it does not change a verdict, only makes each seed wait for a core.
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Run only the I-th of N disjoint slices of the range.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Switch on a planted bug (in the scenarios that have it).
    #[arg(long, value_name = "BUG")]
    pub mutant: Option<String>,
    /// Run every seed even after a failure or timeout (default: stop at the first).
    #[arg(long)]
    pub keep_going: bool,
    /// Where artifacts of failures and timeouts are written.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Print one JSON object at the end instead of the human summary (shape:
    /// docs/cli-json.md); the summary goes to standard error.
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
    /// What the trace records beyond the protocol-level events.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "protocol")]
    pub detail: DetailLevel,
    /// The failure should be gone (after a fix): exit 0 if the run passes, 1 if a checker
    /// still fails, whatever the trace hash.
    #[arg(long)]
    pub expect_pass: bool,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A failure artifact written by `sweep` or `shrink`.
    pub artifact: PathBuf,
    /// Print at most N lines.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub events: usize,
    /// Also print the run's trace in this format (html: the space-time diagram with the
    /// slice emphasised).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub trace: Option<TraceFormat>,
    /// Write the trace to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// A failure artifact written by `sweep`.
    pub artifact: PathBuf,
    /// Where to write the shrunk artifact (default: beside it, NAME.shrunk.json; never the
    /// artifact itself).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The scenarios to check (or --all).
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<String>,
    /// Check every scenario of the catalog.
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// The seeds, half-open: A..B.
    #[arg(long, value_name = "A..B", value_parser = SeedRange::parse)]
    pub seeds: SeedRange,
    /// Also run a third copy of each seed in a child process (this program, started
    /// again) and compare it: catches what one process hides, such as hashing by address
    /// or a dependence on the allocator's state. Costs a process start per seed.
    #[arg(long)]
    pub child_process: bool,
}

/// The hidden command a child process of `check-determinism --child-process` runs.
const CHILD_COMMAND: &str = "seed-copy";

#[derive(Args, Debug)]
pub struct SeedCopyArgs {
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Print the trace's lines after the summary.
    #[arg(long)]
    pub lines: bool,
}

/// What a child process says of its copy of a seed.
#[derive(serde::Serialize, serde::Deserialize)]
struct SeedCopyJson {
    /// Hex, as every command prints it; absent when the run never finished.
    trace_hash: Option<String>,
    events: u64,
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
    /// Bad input: exit 2, with this line on standard error.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: Some(message.into()),
        }
    }
}

type CmdResult = Result<u8, Failure>;

/// What every command gets besides its own arguments.
struct Ctx<'a> {
    catalog: &'a Catalog,
    /// What the program calls itself in the commands it prints.
    program: &'a str,
    seed_limit: Duration,
    /// Set by SIGINT or SIGTERM, for the commands that run seeds.
    cancel: Option<Arc<AtomicBool>>,
}

impl Ctx<'_> {
    fn cancel(&self) -> Option<&AtomicBool> {
        self.cancel.as_deref()
    }

    fn find(&self, name: &str) -> Result<ScenarioRef, Failure> {
        self.catalog.find(name).map_err(Failure::usage)
    }
}

/// Runs the whole command line over `catalog` with this process's arguments: what a
/// program's `main` returns. The program calls itself by its own file name (argv\[0\]) in
/// `--help` and in the commands it prints to reproduce a finding.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     let catalog = sim::Catalog::new(); // .with(MyScenario) ...
///     clustersim::main(catalog)
/// }
/// ```
pub fn main(catalog: Catalog) -> std::process::ExitCode {
    std::process::ExitCode::from(main_with_args(std::env::args_os(), &catalog))
}

/// Parses `args` (the program name first) and runs the command over `catalog`; returns the
/// exit code.
pub fn main_with_args<I, T>(args: I, catalog: &Catalog) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    main_with_extension::<NoExtension, _, _>(args, catalog, |x| match x {})
}

/// No subcommands beyond the built-in ones.
#[derive(Subcommand, Debug)]
pub enum NoExtension {}

/// [`main_with_args`] with a program's own subcommands `X` beside the built-in ones (they
/// appear in `--help`); `run_extension` runs one and returns its exit code or [`Failure`].
/// The `clustersim` binary adds `bench` this way.
pub fn main_with_extension<X, I, T>(
    args: I,
    catalog: &Catalog,
    run_extension: impl FnOnce(X) -> Result<u8, Failure>,
) -> u8
where
    X: Subcommand,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let program = program_name(args.first());
    let parsed = parse_args::<X>(&program, args);
    let (cli, extension) = match parsed {
        Ok(p) => p,
        Err(e) => return clap_exit(&program, &command_names::<X>(), e),
    };
    sim::install_panic_filter();
    let Some(cli) = cli else {
        let x = extension.expect("an extension command");
        return finish(run_extension(x));
    };
    let runs_seeds = !matches!(cli.command, Command::List { .. } | Command::CheckHistory(_));
    let cancel = if runs_seeds {
        match interrupt_flag() {
            Ok(flag) => Some(flag),
            Err(e) => {
                eprintln!("error: cannot handle SIGINT and SIGTERM: {e}");
                return EXIT_USAGE;
            }
        }
    } else {
        None
    };
    let ctx = Ctx {
        catalog,
        program: &program,
        seed_limit: cli.seed_timeout_s,
        cancel,
    };
    finish(run_command(cli.command, &ctx))
}

/// The name a program goes by: its file name without directory or extension.
fn program_name(argv0: Option<&std::ffi::OsString>) -> String {
    argv0
        .and_then(|a| Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "clustersim".to_string())
}

/// Parses the built-in commands and `X`'s together: one of the two comes back.
fn parse_args<X: Subcommand>(
    program: &str,
    args: Vec<std::ffi::OsString>,
) -> Result<(Option<Cli>, Option<X>), clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    // clap names a command with a `&'static str` (without its `string` feature); a
    // process parses its command line once.
    let name: &'static str = Box::leak(program.to_string().into_boxed_str());
    let base = Cli::command().name(name).bin_name(name);
    let about = base.get_about().cloned();
    // Augmenting with a derived enum also sets its doc comment as the program's about.
    let mut cmd = X::augment_subcommands(base);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    let mut matches = cmd.clone().try_get_matches_from(args)?;
    let extension = matches.subcommand_name().is_some_and(X::has_subcommand);
    let fix = |e: clap::Error| e.format(&mut cmd.clone());
    if extension {
        Ok((
            None,
            Some(X::from_arg_matches_mut(&mut matches).map_err(fix)?),
        ))
    } else {
        Ok((
            Some(Cli::from_arg_matches_mut(&mut matches).map_err(fix)?),
            None,
        ))
    }
}

/// The names of every command, built-in and `X`'s, as `--help` lists them.
fn command_names<X: Subcommand>() -> Vec<String> {
    use clap::CommandFactory;
    X::augment_subcommands(Cli::command())
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

/// Help and version go to standard output with exit 0; any other parse error is one line.
fn clap_exit(program: &str, commands: &[String], e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            EXIT_PASS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!(
                "error: no command given: one of {} (see {program} --help)",
                commands.join(", ")
            );
            EXIT_USAGE
        }
        _ => {
            eprintln!("{}", one_line_clap_error(&e.to_string()));
            EXIT_USAGE
        }
    }
}

fn finish(r: CmdResult) -> u8 {
    match r {
        Ok(code) => code,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("error: {m}");
            }
            f.code
        }
    }
}

/// A flag that the first SIGINT or SIGTERM sets; a second one ends the process at once
/// with [`EXIT_INTERRUPTED`].
fn interrupt_flag() -> std::io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // The shutdown goes first: it only acts once the flag below is already set.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(EXIT_INTERRUPTED),
            flag.clone(),
        )?;
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(flag)
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

fn run_command(cmd: Command, ctx: &Ctx) -> CmdResult {
    if matches!(
        cmd,
        Command::Sweep(_)
            | Command::Shrink(_)
            | Command::CheckDeterminism(_)
            | Command::SeedCopy(_)
    ) {
        quiet_seed_panics();
    }
    match cmd {
        Command::List { json } => list(ctx, json),
        Command::Run(a) => run(ctx, a),
        Command::Sweep(a) => sweep_cmd(ctx, a),
        Command::Replay(a) => replay(ctx, a),
        Command::Explain(a) => explain(ctx, a),
        Command::Shrink(a) => shrink_cmd(ctx, a),
        Command::CheckDeterminism(a) => check_determinism(ctx, a),
        Command::SeedCopy(a) => seed_copy(ctx, a),
        Command::CheckHistory(a) => {
            history_cmd::check_history(ctx.program, &a).map_err(Failure::usage)
        }
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

pub fn out_str(s: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Where a command's human lines go: standard output, or standard error when standard
/// output carries machine output.
#[derive(Clone, Copy)]
struct Out {
    human_on_stderr: bool,
}

impl Out {
    fn new(machine_on_stdout: bool) -> Out {
        Out {
            human_on_stderr: machine_on_stdout,
        }
    }

    fn line(&self, s: impl Display) {
        if self.human_on_stderr {
            eprintln!("{s}");
        } else {
            outln!("{s}");
        }
    }

    /// Human text already ending in a newline.
    fn text(&self, s: &str) {
        if self.human_on_stderr {
            eprint!("{s}");
        } else {
            out_str(s);
        }
    }
}

/// `n` and `word`, plural unless `n` is 1: "1 seed", "2 seeds".
fn count(n: impl Into<u128>, word: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A rate for people: whole numbers from 10 up, one decimal below.
fn rate(per_s: f64) -> String {
    if per_s >= 10.0 {
        format!("{per_s:.0}")
    } else {
        format!("{per_s:.1}")
    }
}

/// Milliseconds, to the microsecond.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

/// The scenarios a sweep or determinism check covers, sorted by name, without repeats.
fn select_scenarios(ctx: &Ctx, names: &[String], all: bool) -> Result<Vec<ScenarioRef>, Failure> {
    if all && ctx.catalog.gating().next().is_none() && !ctx.catalog.is_empty() {
        return Err(Failure::usage(
            "--all runs no scenario: every scenario of the catalog is experimental (name them)",
        ));
    }
    let mut out: Vec<ScenarioRef> = if all {
        ctx.catalog.gating().cloned().collect()
    } else {
        names
            .iter()
            .map(|n| ctx.find(n))
            .collect::<Result<_, _>>()?
    };
    if out.is_empty() {
        return Err(Failure::usage(format!(
            "no scenario given: name one or more (see {} list), or pass --all",
            ctx.program
        )));
    }
    out.sort_by_key(|s| s.name());
    out.dedup_by_key(|s| s.name());
    Ok(out)
}

fn list(ctx: &Ctx, json: bool) -> CmdResult {
    let cat: Vec<ScenarioRef> = ctx.catalog.scenarios().cloned().collect();
    let experimental = |s: &ScenarioRef| {
        ctx.catalog
            .entry(s.name())
            .is_ok_and(|e| e.is_experimental())
    };
    if json {
        let doc = ListJson {
            version: json::JSON_VERSION,
            scenarios: cat
                .iter()
                .map(|s| ScenarioJson {
                    name: s.name().to_string(),
                    description: s.description().to_string(),
                    checkers: s.checkers().iter().map(|c| c.to_string()).collect(),
                    experimental: experimental(s),
                })
                .collect(),
            mutants: cat
                .iter()
                .flat_map(|s| {
                    s.mutants().into_iter().map(move |m| MutantJson {
                        name: m.name.to_string(),
                        scenario: s.name().to_string(),
                        description: m.description.to_string(),
                    })
                })
                .collect(),
        };
        outln!("{}", serde_json::to_string(&doc).expect("JSON"));
        return Ok(EXIT_PASS);
    }
    let w = cat.iter().map(|s| s.name().len()).max().unwrap_or(0);
    outln!("scenarios:");
    for s in &cat {
        let tag = if experimental(s) {
            " [experimental: not in --all]"
        } else {
            ""
        };
        outln!("  {:<w$}  {}{tag}", s.name(), s.description());
        outln!("  {:<w$}    checkers: {}", "", s.checkers().join(", "));
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

/// A shell-safe rendering of a word, for the commands a failure prints.
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./+:=@,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn shell_quote(p: &Path) -> String {
    shell_word(&p.display().to_string())
}

/// The command that replays an artifact.
pub fn replay_command(program: &str, path: &Path) -> String {
    format!("{} replay {}", shell_word(program), shell_quote(path))
}

fn render_trace(
    o: &SeedOutcome,
    trace: &Trace,
    violations: &[sim::Violation],
    format: TraceFormat,
) -> String {
    match format {
        TraceFormat::Html => {
            let slice = violations
                .first()
                .map(|v| sim::explain::slice(trace, v, 40))
                .unwrap_or_default();
            let title = format!(
                "clustersim {} seed {}{}",
                o.scenario,
                o.seed,
                mutant_suffix(&o.mutant)
            );
            sim::html::render(trace, &o.plan, violations, &slice, &title)
        }
        TraceFormat::Text => trace.text(),
        TraceFormat::Json => trace.json_lines(),
        TraceFormat::Chrome => {
            let mut s = trace.chrome_with(violations);
            s.push('\n');
            s
        }
        TraceFormat::None => String::new(),
    }
}

/// Prints (to standard output) or writes a finished run's trace, after its verdict.
fn emit_trace(o: &SeedOutcome, out: Out, format: TraceFormat, to: Option<&Path>) -> CmdResult {
    let Some(trace) = o.trace() else {
        return Ok(EXIT_PASS);
    };
    if format == TraceFormat::None {
        return Ok(EXIT_PASS);
    }
    let violations = match &o.verdict {
        Verdict::Failed(v) => v.as_slice(),
        _ => &[],
    };
    let text = render_trace(o, trace, violations, format);
    match to {
        Some(path) => {
            sweep::artifact::write_atomically(path, text.as_bytes()).map_err(Failure::usage)?;
            let detail = if trace.detail.is_empty() {
                String::new()
            } else {
                format!(" and {}", count(trace.detail.len() as u64, "net event"))
            };
            out.line(format_args!(
                "trace: {}{detail} written to {}",
                count(trace.event_count, "event"),
                path.display()
            ));
        }
        None => out_str(&text),
    }
    Ok(EXIT_PASS)
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
        Verdict::TimedOut(t) => format!("verdict: TIMEOUT {t}"),
        Verdict::BadInput(e) => format!("verdict: bad input: {e}"),
        Verdict::Interrupted => "verdict: interrupted before the seed finished".to_string(),
    }
}

/// When the events were kept, shows the event the first violation points at, so the reader
/// can find it in the trace.
fn print_violating_event(out: Out, o: &SeedOutcome) {
    let (Some(v), Some(trace)) = (o.verdict.first_violation(), o.trace()) else {
        return;
    };
    if let Some(line) = trace.line(v.event_index as usize) {
        out.line(format_args!("  at {line}"));
    }
}

fn hash_line(h: Option<u64>) -> String {
    match h {
        Some(h) => format!("trace-hash: {}", hash_hex(h)),
        None => "trace-hash: none (the run never finished)".to_string(),
    }
}

/// The exit code of one seed's verdict.
fn verdict_code(v: &Verdict) -> u8 {
    match v {
        Verdict::Passed => EXIT_PASS,
        Verdict::Failed(_) => EXIT_FAIL,
        Verdict::TimedOut(_) => EXIT_TIMEOUT,
        Verdict::BadInput(_) => EXIT_USAGE,
        Verdict::Interrupted => EXIT_INTERRUPTED,
    }
}

fn run(ctx: &Ctx, a: RunArgs) -> CmdResult {
    let scenario = ctx.find(&a.scenario)?;
    sim::check_mutant(scenario.as_ref(), a.mutant.as_deref()).map_err(Failure::usage)?;
    let format = a.trace.or(a.out.as_ref().map(|_| TraceFormat::Text));
    if let Some(path) = &a.out {
        sweep::artifact::check_writable(path).map_err(Failure::usage)?;
    }
    let out = Out::new(a.out.is_none() && format.is_some_and(TraceFormat::is_machine));
    let job = SeedJob {
        scenario: scenario.clone(),
        seed: a.seed,
        mutant: a.mutant.clone(),
        plan: PlanSource::Generate { swarm: !a.no_swarm },
        keep_events: format.is_some_and(|f| f != TraceFormat::None),
        keep_report: true,
        detail: a.detail.into(),
    };
    let o = sweep::run_seed(&job, ctx.seed_limit, ctx.cancel());
    if let Verdict::BadInput(e) = &o.verdict {
        return Err(Failure::usage(e.clone()));
    }
    out.line(format_args!(
        "run: {} seed {}{}{}",
        o.scenario,
        o.seed,
        if a.no_swarm { " (no swarm)" } else { "" },
        a.mutant
            .as_ref()
            .map(|m| format!(", mutant {m}"))
            .unwrap_or_default()
    ));
    out.line(o.plan.summary());
    out.line(verdict_line(&o.verdict));
    print_violating_event(out, &o);
    out.line(format_args!(
        "events: {}, simulated time: {}, CPU time: {:.1}ms",
        o.event_count,
        sim::SimTime(o.sim_ns),
        ms(o.cpu)
    ));
    out.line(hash_line(o.trace_hash));
    if o.verdict.is_finding() {
        let mut cmd = format!("{} run {} --seed {}", ctx.program, o.scenario, o.seed);
        if let Some(m) = &a.mutant {
            cmd.push_str(&format!(" --mutant {m}"));
        }
        if a.no_swarm {
            cmd.push_str(" --no-swarm");
        }
        if o.verdict.is_failure() {
            cmd.push_str(" --trace text");
        }
        out.line(format_args!("reproduce: {cmd}"));
    }
    if let Some(format) = format {
        emit_trace(&o, out, format, a.out.as_deref())?;
    }
    Ok(verdict_code(&o.verdict))
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
                    "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds ({rate}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |s: &ProgressState, w: &mut dyn fmt::Write| {
                    let _ = write!(w, "{} seeds/s", rate(s.per_sec()));
                }),
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

    fn update(&mut self, done: usize, total: usize, findings: &str) {
        match &self.bar {
            Some(pb) => {
                pb.set_position(done as u64);
                pb.set_message(findings.to_string());
            }
            None => {
                if self.last_line.elapsed() >= Self::PLAIN_EVERY
                    || (done == total && done > 0 && self.started.elapsed() >= Self::PLAIN_EVERY)
                {
                    self.last_line = Instant::now();
                    let el = self.started.elapsed().as_secs_f64();
                    eprintln!(
                        "{}: {done}/{total} seeds, {findings}{}{el:.1}s, {} seeds/s",
                        self.what,
                        if findings.is_empty() { "" } else { ", " },
                        rate(done as f64 / el.max(1e-9))
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

/// "2 failures, 1 timeout", leaving out the zeros.
fn findings(failures: usize, timeouts: usize, failure_word: &str) -> String {
    let mut parts = vec![];
    if failures > 0 {
        parts.push(count(failures as u128, failure_word));
    }
    if timeouts > 0 {
        parts.push(count(timeouts as u128, "timeout"));
    }
    parts.join(", ")
}

fn mutant_suffix(m: &Option<String>) -> String {
    m.as_ref().map(|m| format!(" [{m}]")).unwrap_or_default()
}

/// The sweep command that runs `seeds` with the same scenarios and options as `a` (and the
/// per-seed limit, when it is not the default): how an interrupted sweep is resumed.
fn sweep_command(ctx: &Ctx, a: &SweepArgs, names: &[&str], seeds: SeedRange) -> String {
    let mut s = format!("{} sweep", ctx.program);
    if a.all {
        s.push_str(" --all");
    } else {
        for n in names {
            s.push(' ');
            s.push_str(&shell_word(n));
        }
    }
    s.push_str(&format!(" --seeds {seeds}"));
    if let Some(m) = &a.mutant {
        s.push_str(&format!(" --mutant {}", shell_word(m)));
    }
    if a.keep_going {
        s.push_str(" --keep-going");
    }
    if let Some(j) = a.jobs {
        s.push_str(&format!(" --jobs {j}"));
    }
    if ctx.seed_limit != sweep::DEFAULT_SEED_CPU_LIMIT {
        s.push_str(&format!(
            " --seed-timeout-s {}",
            ctx.seed_limit.as_secs_f64()
        ));
    }
    if a.artifacts != Path::new("artifacts") {
        s.push_str(&format!(" --artifacts {}", shell_quote(&a.artifacts)));
    }
    if a.json {
        s.push_str(" --json");
    }
    s
}

/// The line a sweep prints for a failing or timed-out seed.
fn finding_line(o: &SeedOutcome) -> String {
    let (tag, what) = match &o.verdict {
        Verdict::TimedOut(t) => ("TIMEOUT", format!("{t} (also when retried alone)")),
        v => (
            "FAIL",
            v.first_violation()
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
    };
    format!(
        "{tag} {} seed {}{}: {what}",
        o.scenario,
        o.seed,
        mutant_suffix(&o.mutant)
    )
}

fn finding_json(program: &str, o: &SeedOutcome) -> FindingJson {
    let v = o.verdict.finding().expect("a finding");
    FindingJson {
        scenario: o.scenario.clone(),
        seed: o.seed,
        checker: v.checker,
        explanation: v.explanation,
        artifact: o.artifact.as_ref().map(|p| p.display().to_string()),
        replay: o.artifact.as_deref().map(|p| replay_command(program, p)),
    }
}

fn sweep_cmd(ctx: &Ctx, a: SweepArgs) -> CmdResult {
    let mut scenarios = select_scenarios(ctx, &a.scenarios, a.all)?;
    if let Some(m) = &a.mutant {
        if a.all {
            // With --all a planted bug applies to the scenarios that have it.
            scenarios.retain(|s| sim::check_mutant(s.as_ref(), Some(m)).is_ok());
            if scenarios.is_empty() {
                return Err(Failure::usage(format!(
                    "unknown planted bug '{m}': no scenario has it (see {} list)",
                    ctx.program
                )));
            }
        } else {
            for s in &scenarios {
                sim::check_mutant(s.as_ref(), Some(m)).map_err(Failure::usage)?;
            }
        }
    }
    let seeds = a.seeds.shard(a.shard);
    sweep::check_run_size(seeds.len(), scenarios.len()).map_err(Failure::usage)?;
    std::fs::create_dir_all(&a.artifacts).map_err(|e| {
        Failure::usage(format!(
            "cannot create the artifact directory {}: {e}",
            a.artifacts.display()
        ))
    })?;
    let total = seeds.len() as usize * scenarios.len();
    let cores = sweep::cores();
    let workers = match a.jobs {
        Some(j) => {
            if j > cores {
                eprintln!(
                    "warning: --jobs {j} is more than the {} of this machine: seeds wait for a \
                     core, so the sweep is no faster; verdicts are the same (the per-seed limit \
                     counts CPU time)",
                    count(cores as u128, "core")
                );
            }
            j
        }
        None => sweep::default_jobs(total),
    };
    let out = Out::new(a.json);
    let cfg = SweepConfig {
        workers,
        seed_cpu_limit: ctx.seed_limit,
        keep_going: a.keep_going,
        artifacts: Some(a.artifacts.clone()),
        swarm: true,
        cancel: ctx.cancel.clone(),
    };
    let targets: Vec<SweepTarget> = scenarios
        .iter()
        .map(|s| SweepTarget {
            scenario: s.clone(),
            mutant: a.mutant.clone(),
        })
        .collect();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
    out.line(format_args!(
        "sweep: {}{}, seeds {seeds}{} ({}), {}",
        names.join(", "),
        mutant_suffix(&a.mutant),
        a.shard
            .map(|s| format!(" (shard {s} of {})", a.seeds))
            .unwrap_or_default(),
        count(total as u128, "seed"),
        count(workers as u128, "job")
    ));
    let mut progress = ProgressSink::new("sweep", total);
    let result = sweep::sweep(&targets, seeds, &cfg, |p| {
        // Without --keep-going the sweep ends at its first finding and lists it below.
        if a.keep_going && p.outcome.verdict.is_finding() && p.artifact_error.is_none() {
            progress.note(&format!(
                "{}{}",
                finding_line(p.outcome),
                p.outcome
                    .artifact
                    .as_ref()
                    .map(|path| format!(" -> {}", replay_command(ctx.program, path)))
                    .unwrap_or_default()
            ));
        }
        if let Some(e) = &p.artifact_error {
            progress.note(&format!("warning: {e}"));
        }
        progress.update(
            p.done,
            p.total,
            &findings(p.failures, p.timeouts, "failure"),
        );
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
    let resume = result
        .next_seed
        .map(|next| sweep_command(ctx, &a, &names, seeds.from_seed(next)));
    for o in result.failures().chain(result.timeouts()) {
        out.line(finding_line(o));
        match &o.artifact {
            Some(p) => out.line(format_args!("  replay: {}", replay_command(ctx.program, p))),
            None => out.line("  (no artifact was written)"),
        }
    }
    print_summary(out, &stats, result.planned, result.stopped_early);
    if let Some(cmd) = &resume {
        out.line(format_args!(
            "interrupted: the seeds from {} on did not run; resume with: {cmd}",
            result.next_seed.unwrap_or_default()
        ));
    }
    if a.json {
        let doc = SweepJson {
            version: json::JSON_VERSION,
            scenarios: names.iter().map(|n| n.to_string()).collect(),
            mutant: a.mutant.clone(),
            seeds: seeds.to_string(),
            shard: a.shard.map(|s| s.to_string()),
            seeds_requested: total as u64,
            seeds_run: stats.seeds_run as u64,
            jobs: workers as u64,
            seed_timeout_s: ctx.seed_limit.as_secs_f64(),
            stopped_early: result.stopped_early,
            interrupted: result.interrupted,
            next_seed: result.next_seed,
            resume,
            failures: result
                .failures()
                .map(|o| finding_json(ctx.program, o))
                .collect(),
            timeouts: result
                .timeouts()
                .map(|o| finding_json(ctx.program, o))
                .collect(),
            per_scenario: stats
                .per_scenario
                .iter()
                .map(|(name, s)| {
                    let run = ScenarioRunJson {
                        seeds_run: s.seeds_run as u64,
                        failures: s.failures as u64,
                        timeouts: s.timeouts as u64,
                        median_ms: ms(s.cpu_median),
                        p99_ms: ms(s.cpu_p99),
                        counters: s
                            .counters
                            .iter()
                            .map(|(name, c)| {
                                let c = CounterJson {
                                    total: c.total,
                                    seeds: c.seeds,
                                };
                                (name.clone(), c)
                            })
                            .collect(),
                    };
                    (name.clone(), run)
                })
                .collect(),
            coverage: stats.coverage_by_kind(),
            wall_s: stats.wall.as_secs_f64(),
            sim_s: stats.sim_s(),
            seeds_per_s: stats.seeds_per_s(),
        };
        outln!("{}", serde_json::to_string(&doc).expect("JSON"));
    }
    Ok(if result.interrupted {
        EXIT_INTERRUPTED
    } else if stats.failures > 0 {
        EXIT_FAIL
    } else if stats.timeouts > 0 {
        EXIT_TIMEOUT
    } else {
        EXIT_PASS
    })
}

fn print_summary(out: Out, stats: &SweepStats, planned: usize, stopped_early: bool) {
    if stopped_early {
        out.line("stopped at the first failure or timeout (pass --keep-going to run every seed)");
    }
    out.line(format_args!(
        "seeds run: {} of {planned}, failures: {}, timeouts: {}",
        stats.seeds_run, stats.failures, stats.timeouts
    ));
    if stats.per_scenario.len() > 1 {
        let w = stats
            .per_scenario
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(0);
        for (name, s) in &stats.per_scenario {
            out.line(format_args!(
                "  {name:<w$}  {}, {}, {}; one seed's CPU time: median {:.1}ms, p99 {:.1}ms",
                count(s.seeds_run as u128, "seed"),
                count(s.failures as u128, "failure"),
                count(s.timeouts as u128, "timeout"),
                ms(s.cpu_median),
                ms(s.cpu_p99)
            ));
        }
    }
    out.line(format_args!(
        "wall time: {:.2}s, simulated time: {:.1}s, {} seeds/s (one seed's CPU time: median {:.1}ms, p99 {:.1}ms)",
        stats.wall.as_secs_f64(),
        stats.sim_s(),
        rate(stats.seeds_per_s()),
        ms(stats.cpu_median),
        ms(stats.cpu_p99)
    ));
    out.line("coverage (seeds in which a fault of each kind started during each protocol phase):");
    out.text(&stats.coverage_table());
    for (name, s) in stats
        .per_scenario
        .iter()
        .filter(|(_, s)| !s.counters.is_empty())
    {
        out.line(format_args!(
            "{name} counters (total over the seeds, in how many seeds):"
        ));
        let w = s.counters.keys().map(|k| k.len()).max().unwrap_or(0);
        for (counter, c) in &s.counters {
            out.line(format_args!(
                "  {counter:<w$}  {:>7}  in {}",
                c.total,
                count(u128::from(c.seeds), "seed")
            ));
        }
    }
}

/// Loads an artifact and checks it against the catalog: its scenario, mutant and checker
/// exist and its plan fits the scenario's world.
fn load_artifact(ctx: &Ctx, path: &Path) -> Result<(Artifact, ScenarioRef, FaultPlan), Failure> {
    let art = Artifact::load(path).map_err(Failure::usage)?;
    let bad = |e: String| Failure::usage(format!("artifact {}: {e}", path.display()));
    let scenario = ctx.catalog.find(&art.scenario).map_err(bad)?;
    art.check_against(scenario.as_ref()).map_err(bad)?;
    let plan = art.plan();
    Ok((art, scenario, plan))
}

fn replay(ctx: &Ctx, a: ReplayArgs) -> CmdResult {
    let (art, scenario, plan) = load_artifact(ctx, &a.artifact)?;
    if let Some(path) = &a.out {
        sweep::artifact::check_writable(path).map_err(Failure::usage)?;
    }
    let out = Out::new(a.out.is_none() && a.trace.is_machine());
    let job = SeedJob {
        scenario,
        seed: art.seed,
        mutant: art.mutant.clone(),
        plan: PlanSource::Given(plan),
        keep_events: true,
        keep_report: true,
        detail: a.detail.into(),
    };
    let o = sweep::run_seed(&job, ctx.seed_limit, ctx.cancel());
    if let Verdict::BadInput(e) = &o.verdict {
        return Err(Failure::usage(format!(
            "artifact {}: {e}",
            a.artifact.display()
        )));
    }
    out.line(format_args!(
        "replay: {} seed {}{} from {}",
        art.scenario,
        art.seed,
        mutant_suffix(&art.mutant),
        a.artifact.display()
    ));
    out.line(o.plan.summary());
    out.line(verdict_line(&o.verdict));
    print_violating_event(out, &o);
    out.line(hash_line(o.trace_hash));
    // The verdict and what it means for the artifact first, then the trace.
    let code = replay_outcome(out, &art, &o, a.expect_pass);
    emit_trace(&o, out, a.trace, a.out.as_deref())?;
    Ok(code)
}

/// `explain`: the artifact's run again, at net detail, and the causal slice of its
/// violation. Exit 1 when the failure reproduced (and is explained), 3 when it did not,
/// 4 when the seed timed out.
fn explain(ctx: &Ctx, a: ExplainArgs) -> CmdResult {
    let (art, scenario, plan) = load_artifact(ctx, &a.artifact)?;
    if let Some(path) = &a.out {
        sweep::artifact::check_writable(path).map_err(Failure::usage)?;
    }
    if a.events < 3 {
        return Err(Failure::usage(format!(
            "--events {}: a slice needs at least 3 lines",
            a.events
        )));
    }
    let job = SeedJob {
        scenario,
        seed: art.seed,
        mutant: art.mutant.clone(),
        plan: PlanSource::Given(plan),
        keep_events: true,
        keep_report: true,
        detail: sim::Detail::Net,
    };
    let o = sweep::run_seed(&job, ctx.seed_limit, ctx.cancel());
    match &o.verdict {
        Verdict::BadInput(e) => {
            return Err(Failure::usage(format!(
                "artifact {}: {e}",
                a.artifact.display()
            )))
        }
        Verdict::Interrupted => return Ok(EXIT_INTERRUPTED),
        Verdict::TimedOut(t) => {
            eprintln!("the seed timed out ({t}): no violation to explain");
            return Ok(EXIT_TIMEOUT);
        }
        Verdict::Passed => {
            eprintln!(
                "NOT reproduced: the run passed, {} did not fail: nothing to explain",
                art.checker
            );
            return Ok(EXIT_NOT_REPRODUCED);
        }
        Verdict::Failed(_) => {}
    }
    let v = o
        .verdict
        .first_violation()
        .expect("a failed verdict has a violation");
    let trace = o.trace().expect("the run kept its trace");
    let out = Out::new(a.out.is_none() && a.trace.is_some_and(TraceFormat::is_machine));
    out.line(sim::explain::explain(trace, &o.plan, v, a.events).trim_end());
    eprintln!("full trace: {}", replay_command(ctx.program, &a.artifact));
    if let Some(format) = a.trace {
        emit_trace(&o, out, format, a.out.as_deref())?;
    }
    Ok(EXIT_FAIL)
}

/// Says whether the replay reproduced the artifact's finding, and gives the exit code.
fn replay_outcome(out: Out, art: &Artifact, o: &SeedOutcome, expect_pass: bool) -> u8 {
    match &o.verdict {
        Verdict::Interrupted => return EXIT_INTERRUPTED,
        Verdict::TimedOut(_) if !art.is_timeout() => {
            out.line(format_args!(
                "NOT reproduced: the seed timed out instead of failing {}",
                art.checker
            ));
            return EXIT_TIMEOUT;
        }
        _ => {}
    }
    if expect_pass {
        return match &o.verdict {
            Verdict::Passed => {
                out.line(format_args!("the failure is gone: {} passed", art.checker));
                EXIT_PASS
            }
            v => {
                out.line(format_args!(
                    "still failing: {} (expected a pass)",
                    v.finding().map(|v| v.checker).unwrap_or_default()
                ));
                verdict_code(v)
            }
        };
    }
    if art.is_timeout() {
        return if o.verdict.is_timeout() {
            out.line("reproduced: the seed timed out again");
            EXIT_TIMEOUT
        } else {
            out.line("NOT reproduced: the seed finished this time (see the verdict above)");
            EXIT_NOT_REPRODUCED
        };
    }
    let got = o.trace_hash.map(hash_hex);
    let same_hash = got == art.trace_hash;
    match (&art.trace_hash, same_hash) {
        (Some(h), true) => out.line(format_args!("trace hash matches the artifact's ({h})")),
        (Some(h), false) => out.line(format_args!(
            "trace hash DIFFERS from the artifact's ({h}): the replay is not exact"
        )),
        (None, true) => out.line("neither the original run nor the replay finished"),
        (None, false) => out.line("the original run never finished, but the replay did"),
    }
    let same_checker = o.verdict.broke(&art.checker);
    if same_checker {
        out.line(format_args!("reproduced: {} failed again", art.checker));
    } else {
        out.line(format_args!(
            "NOT reproduced: {} did not fail this time",
            art.checker
        ));
    }
    if same_checker && same_hash {
        EXIT_FAIL
    } else {
        EXIT_NOT_REPRODUCED
    }
}

/// `NAME.json` -> `NAME.shrunk.json`, beside the original (`x.shrunk.json` ->
/// `x.shrunk.shrunk.json`: the default never names the artifact being shrunk).
fn default_shrunk_path(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "artifact".to_string());
    p.with_file_name(format!("{stem}.shrunk.json"))
}

fn shrink_cmd(ctx: &Ctx, a: ShrinkArgs) -> CmdResult {
    let (art, scenario, plan) = load_artifact(ctx, &a.artifact)?;
    let out_path = a
        .out
        .clone()
        .unwrap_or_else(|| default_shrunk_path(&a.artifact));
    // Before the search, which may take minutes: the result must have somewhere to go.
    sweep::artifact::check_writable(&out_path).map_err(Failure::usage)?;
    outln!(
        "shrink: {} seed {}{}, {}, checker {} (at most {SHRINK_MAX_RUNS} reruns)",
        art.scenario,
        art.seed,
        mutant_suffix(&art.mutant),
        count(plan.faults.len() as u128, "fault"),
        art.checker
    );
    let t0 = Instant::now();
    let job = SeedJob {
        scenario,
        seed: art.seed,
        mutant: art.mutant.clone(),
        plan: PlanSource::Given(plan),
        keep_events: false,
        keep_report: false,
        detail: sim::Detail::Protocol,
    };
    let s = sweep::shrink(
        &job,
        &art.checker,
        SHRINK_MAX_RUNS,
        ctx.seed_limit,
        ctx.cancel(),
    )
    .map_err(|e| {
        let code = match &e {
            ShrinkError::BadInput(_) => EXIT_USAGE,
            ShrinkError::NotReproduced(_) => EXIT_NOT_REPRODUCED,
            ShrinkError::TimedOut(_) => EXIT_TIMEOUT,
            ShrinkError::Interrupted => EXIT_INTERRUPTED,
        };
        Failure {
            code,
            message: Some(format!("cannot shrink {}: {e}", a.artifact.display())),
        }
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
        "shrunk {} to {} in {} ({:.1}s){}",
        count(s.original_faults as u128, "fault"),
        s.smallest.plan.faults.len(),
        count(s.runs as u128, "rerun"),
        t0.elapsed().as_secs_f64(),
        if s.interrupted {
            "; interrupted: this is the smallest plan found so far"
        } else if s.exhausted {
            "; the rerun bound stopped the search"
        } else {
            ""
        }
    );
    outln!("faults remaining: {}", s.smallest.plan.faults.len());
    outln!("wrote {}", out_path.display());
    outln!("replay: {}", replay_command(ctx.program, &out_path));
    Ok(if s.interrupted {
        EXIT_INTERRUPTED
    } else {
        EXIT_PASS
    })
}

/// The seed job a determinism check runs, in this process or in a child.
fn determinism_job(scenario: ScenarioRef, seed: u64) -> SeedJob {
    SeedJob::generated(scenario, seed, None, true)
}

/// `seed-copy`: one seed as a determinism check runs it, for a parent process to compare.
fn seed_copy(ctx: &Ctx, a: SeedCopyArgs) -> CmdResult {
    let mut job = determinism_job(ctx.find(&a.scenario)?, a.seed);
    job.keep_events = a.lines;
    job.keep_report = a.lines;
    let o = sweep::run_seed(&job, ctx.seed_limit, ctx.cancel());
    if let Verdict::BadInput(e) = &o.verdict {
        return Err(Failure::usage(e.clone()));
    }
    let doc = SeedCopyJson {
        trace_hash: o.trace_hash.map(hash_hex),
        events: o.event_count,
    };
    outln!("{}", serde_json::to_string(&doc).expect("JSON"));
    if let Some(t) = o.trace() {
        for i in 0..t.events.len() {
            outln!("{}", t.line(i).unwrap_or_default());
        }
    }
    Ok(EXIT_PASS)
}

/// Runs `job` in a child process: this program again, with the hidden `seed-copy`.
fn run_child_copy(
    program: &Path,
    seed_limit: Duration,
    job: &SeedJob,
    lines: bool,
) -> Result<sweep::ChildCopy, String> {
    let mut cmd = std::process::Command::new(program);
    cmd.arg("--seed-timeout-s")
        .arg(seed_limit.as_secs_f64().to_string())
        .arg(CHILD_COMMAND)
        .arg(job.scenario.name())
        .arg("--seed")
        .arg(job.seed.to_string());
    if lines {
        cmd.arg("--lines");
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut it = stdout.lines();
    let doc: SeedCopyJson = it
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            format!(
                "the child process ({}) printed no summary: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let trace_hash = match doc.trace_hash {
        Some(h) => Some(
            u64::from_str_radix(&h, 16)
                .map_err(|_| format!("the child process printed a bad trace hash '{h}'"))?,
        ),
        None => None,
    };
    Ok(sweep::ChildCopy {
        trace_hash,
        event_count: doc.events,
        lines: lines.then(|| it.map(str::to_string).collect()),
    })
}

fn check_determinism(ctx: &Ctx, a: CheckArgs) -> CmdResult {
    let scenarios = select_scenarios(ctx, &a.scenarios, a.all)?;
    sweep::check_run_size(a.seeds.len(), scenarios.len()).map_err(Failure::usage)?;
    let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
    let total = a.seeds.len() as usize * scenarios.len();
    let program = if a.child_process {
        Some(std::env::current_exe().map_err(|e| {
            Failure::usage(format!("cannot find this program to start it again: {e}"))
        })?)
    } else {
        None
    };
    let seed_limit = ctx.seed_limit;
    let runner = program
        .as_deref()
        .map(|p| move |job: &SeedJob, lines: bool| run_child_copy(p, seed_limit, job, lines));
    let child: Option<sweep::ChildRunner<'_>> = runner.as_ref().map(|r| r as _);
    let copies = if a.child_process {
        "three times, the third in a child process"
    } else {
        "twice"
    };
    outln!(
        "check-determinism: {}, seeds {}, each run {copies}",
        names.join(", "),
        a.seeds
    );
    let mut progress = ProgressSink::new("check-determinism", total);
    let (mut diverged, mut timeouts) = (0, 0);
    let t0 = Instant::now();
    let run = sweep::check_determinism(
        &scenarios,
        a.seeds,
        sweep::default_jobs(total),
        ctx.seed_limit,
        ctx.cancel(),
        child,
        |done, total, o| {
            diverged += usize::from(o.diverged());
            timeouts += usize::from(o.timeout.is_some());
            progress.update(done, total, &findings(diverged, timeouts, "divergence"));
        },
    );
    progress.finish();
    let outcomes = &run.outcomes;
    let (mut bad, mut slow) = (0, 0);
    for o in outcomes {
        let reproduce = format!(
            "  reproduce: {} check-determinism {} --seeds {}..{}",
            ctx.program,
            o.scenario,
            o.seed,
            u128::from(o.seed) + 1
        );
        if let Some(t) = &o.timeout {
            slow += 1;
            outln!(
                "TIMEOUT {} seed {}: {t} (also when retried alone)",
                o.scenario,
                o.seed
            );
            outln!("{reproduce}");
        }
        bad += usize::from(o.diverged());
        if let Some(d) = &o.divergence {
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
            outln!("{reproduce}");
        }
        if let Some(c) = &o.child {
            if let Some(e) = &c.error {
                outln!(
                    "DIVERGED {} seed {}: the copy in a child process failed: {e}",
                    o.scenario,
                    o.seed
                );
                outln!("{reproduce} --child-process");
            } else if let Some(d) = &c.divergence {
                outln!(
                    "DIVERGED {} seed {}: the copy in a child process first differs at event #{} (hashes {} vs {}, {} vs {} events)",
                    o.scenario,
                    o.seed,
                    d.event_index,
                    o.hashes[0].map(hash_hex).unwrap_or_else(|| "none".into()),
                    c.trace_hash.map(hash_hex).unwrap_or_else(|| "none".into()),
                    o.event_counts[0],
                    c.event_count
                );
                for (who, line) in ["this process", "child process"].iter().zip(&d.lines) {
                    outln!("  {who}: {}", line.as_deref().unwrap_or("(no event)"));
                }
                outln!("{reproduce} --child-process");
            }
        }
    }
    let sim_s: f64 = outcomes.iter().map(|o| o.sim_ns as f64 / 1e9).sum();
    let verdict = match (bad, slow) {
        (0, 0) => "every trace identical".to_string(),
        _ => findings(bad, slow, "divergence"),
    };
    outln!(
        "checked {} {} in {:.2}s ({sim_s:.1}s simulated each time): {verdict}",
        count(outcomes.len() as u128, "seed"),
        if a.child_process {
            "three times"
        } else {
            "twice"
        },
        t0.elapsed().as_secs_f64(),
    );
    if let Some(next) = run.next_seed {
        let what = if a.all {
            "--all".to_string()
        } else {
            names.join(" ")
        };
        outln!(
            "interrupted: the seeds from {next} on did not run; resume with: {} \
             check-determinism {what} --seeds {}{}",
            ctx.program,
            a.seeds.from_seed(next),
            if a.child_process {
                " --child-process"
            } else {
                ""
            }
        );
    }
    Ok(if run.interrupted {
        EXIT_INTERRUPTED
    } else if bad > 0 {
        EXIT_FAIL
    } else if slow > 0 {
        EXIT_TIMEOUT
    } else {
        EXIT_PASS
    })
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
        // Shrinking a shrunk artifact never overwrites it.
        assert_eq!(
            default_shrunk_path(Path::new("a/x.shrunk.json")),
            PathBuf::from("a/x.shrunk.shrunk.json")
        );
        assert_eq!(
            replay_command("clustersim", Path::new("artifacts/demo-6.json")),
            "clustersim replay artifacts/demo-6.json"
        );
        assert_eq!(
            replay_command("clustersim", Path::new("my dir/a'b.json")),
            r"clustersim replay 'my dir/a'\''b.json'"
        );
    }

    #[test]
    fn counts_and_rates_read_as_english() {
        assert_eq!(count(1u64, "fault"), "1 fault");
        assert_eq!(count(0u64, "fault"), "0 faults");
        assert_eq!(count(2u64, "seed"), "2 seeds");
        assert_eq!(rate(146.5804), "147");
        assert_eq!(rate(3.25), "3.2");
        assert_eq!(findings(1, 2, "failure"), "1 failure, 2 timeouts");
        assert_eq!(findings(0, 0, "failure"), "");
    }

    #[test]
    fn help_shows_the_exit_code_table() {
        let help = Cli::try_parse_from(["clustersim", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains(EXIT_CODES), "{help}");
        for code in [
            EXIT_PASS,
            EXIT_FAIL,
            EXIT_USAGE,
            EXIT_NOT_REPRODUCED,
            EXIT_TIMEOUT,
            EXIT_INTERRUPTED,
        ] {
            assert!(
                EXIT_CODES.contains(&format!("\n  {code} ")),
                "{code} is not in the table"
            );
        }
    }
}
