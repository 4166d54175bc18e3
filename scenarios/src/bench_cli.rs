//! `clustersim bench`: the ACK-round benchmark as a subcommand of the built-in binary,
//! added beside the library's commands with [`clustersim::main_with_extension`].

use crate::bench::{self as bench_mod, AckBench, Baselines};
use clap::{Args, Subcommand, ValueEnum};
use clustersim::{out_str, shell_quote, Failure, EXIT_FAIL, EXIT_PASS};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Writes a line to standard output, as the library's commands do.
macro_rules! outln {
    ($($arg:tt)*) => {
        out_str(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// The built-in binary's commands beyond the library's.
#[derive(Subcommand, Debug)]
pub enum Extra {
    /// Benchmark ACK rounds: latency in simulated time beside its two floors, and the
    /// simulator's own speed beside its baselines.
    Bench(BenchArgs),
}

/// Runs one of [`Extra`]'s commands.
pub fn run(x: Extra) -> Result<u8, Failure> {
    match x {
        Extra::Bench(a) => bench_cmd(a),
    }
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
    pub faults: bench_mod::BenchFaults,
    /// Link latency in ms, drawn uniformly per message: LO..HI (inclusive).
    #[arg(long, value_name = "LO..HI", default_value = "1..5", value_parser = parse_latency_ms)]
    pub latency_ms: sim::LinkLatency,
    /// The seed (network sampling, task order, fault plan).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// How round messages reach the members.
    #[arg(long, value_enum, value_name = "VARIANT", default_value = "ordered")]
    pub variant: bench_mod::BenchVariant,
    /// Transactions each coordinator keeps in flight.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// How many of the view's lowest members coordinate rounds (at most --nodes).
    #[arg(long, value_name = "C", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub coordinators: u32,
    /// A work thread's handling of a message takes this long in simulated time: US, or
    /// LO..HI (µs). Without it, processing costs nothing.
    #[arg(long, value_name = "US", value_parser = bench_mod::parse_service_us)]
    pub service_us: Option<bench_mod::ServiceUs>,
    /// The service time's distribution (default: constant for US, uniform for LO..HI).
    #[arg(long, value_enum, value_name = "DIST")]
    pub service_dist: Option<bench_mod::ServiceDist>,
    /// Simulated cores per node, shared by its work threads (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_024))]
    pub cores: Option<u32>,
    /// Also write report.md, report.json, latency.hlog and SVG charts to DIR, with both
    /// variants side by side, the throughput–latency curve (with --service-us) and a
    /// sweep over 3, 5, 9, 17, 33 and 65 nodes.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Print the report as JSON (the shape of report.json) instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also count the instructions the measured run executes: runs it once more under
    /// valgrind's callgrind, counting only the run itself, and reports instructions per
    /// delivered message. Needs valgrind; a callgrind run is some 50 times slower.
    #[arg(long)]
    pub instructions: bool,
    /// Run only the measured run and print the messages it delivered: what
    /// `--instructions` runs under callgrind.
    #[arg(long, hide = true)]
    pub measured_run_only: bool,
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

/// The command that reproduces a benchmark run's simulated figures.
fn bench_command(b: &bench_mod::AckBench, a: &BenchArgs) -> String {
    let mut s = b.command();
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
fn bench_violations(run: &bench_mod::AckRun, b: &bench_mod::AckBench) -> Option<u8> {
    let v = run.violations.first()?;
    outln!("FAIL bench ack-rounds at {} nodes: {v}", b.nodes);
    outln!("reproduce: {}", b.command());
    Some(EXIT_FAIL)
}

fn bench_cmd(a: BenchArgs) -> Result<u8, Failure> {
    let BenchKind::AckRounds = a.which;
    if a.coordinators as usize > a.nodes {
        return Err(Failure::usage(format!(
            "--coordinators {} exceeds --nodes {}: coordinators are members",
            a.coordinators, a.nodes
        )));
    }
    let cost =
        bench_mod::cost_model(a.service_us, a.service_dist, a.cores).map_err(Failure::usage)?;
    if let Some(dir) = &a.report {
        check_report_dir(dir)?;
    }
    if a.instructions {
        check_valgrind()?;
    }
    let b = AckBench {
        variant: a.variant.into(),
        load: protocols::engine::ack_round::RoundLoad {
            concurrency: a.concurrency,
            coordinators: a.coordinators,
        },
        cost,
        ..AckBench::new(a.nodes, a.rounds, a.faults, a.latency_ms, a.seed)
    };
    let cmd = bench_command(&b, &a);
    if a.measured_run_only {
        let run = callgrind_measured_run(&b).map_err(Failure::usage)?;
        outln!("delivered {}", run.net.delivered);
        return Ok(EXIT_PASS);
    }
    eprintln!("bench: {} rounds at {} nodes", b.rounds, b.nodes);
    let run = callgrind_measured_run(&b).map_err(Failure::usage)?;
    if let Some(code) = bench_violations(&run, &b) {
        return Ok(code);
    }
    let instructions = if a.instructions {
        eprintln!("bench: the same run under callgrind");
        Some(count_instructions(&b, run.net.delivered)?)
    } else {
        None
    };
    eprintln!("bench: baselines");
    let base = Baselines::measure(&b).map_err(Failure::usage)?;
    let extras = if a.report.is_some() {
        match bench_mod::extras(&b, &run, |step| eprintln!("bench: {step}"))
            .map_err(Failure::usage)?
        {
            Ok(x) => x,
            Err((at, r)) => return Ok(bench_violations(&r, &at).unwrap_or(EXIT_FAIL)),
        }
    } else {
        bench_mod::Extras::default()
    };
    let report = bench_mod::report(&cmd, &b, &run, &base, extras, instructions);
    if a.json {
        let json = serde_json::to_string(&report)
            .map_err(|e| Failure::usage(format!("cannot encode the report: {e}")))?;
        outln!("{json}");
    } else {
        out_str(&report.summary());
    }
    if run.stats.floor_above_measured > 0 {
        eprintln!(
            "warning: {} rounds measured faster than their floors: the floor replay is wrong",
            run.stats.floor_above_measured
        );
    }
    if let Some(dir) = &a.report {
        let h = benches::report::RunHistograms {
            latency: &run.stats.latency,
            critical: &run.stats.critical,
            independent: &run.stats.independent,
        };
        benches::report::write_report_dir(dir, &report, &h, Duration::from_nanos(run.sim_ns))
            .map_err(|e| {
                Failure::usage(format!("cannot write the report to {}: {e}", dir.display()))
            })?;
        if !a.json {
            outln!("report: {}", dir.join("report.md").display());
        }
    }
    Ok(EXIT_PASS)
}

/// Runs valgrind with `args` and waits for it; a valgrind that cannot be started is a
/// usage error of `--instructions`.
fn run_valgrind<I, S>(args: I) -> Result<std::process::Output, Failure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new("valgrind")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Failure::usage(
                "--instructions needs valgrind on PATH (e.g. apt-get install valgrind)".to_string(),
            ),
            _ => Failure::usage(format!("cannot run valgrind: {e}")),
        })
}

/// Fails early, before a long run, when `--instructions` cannot run callgrind.
fn check_valgrind() -> Result<(), Failure> {
    let o = run_valgrind(["--version"])?;
    if o.status.success() {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "--instructions needs valgrind, and `valgrind --version` failed ({})",
            o.status
        )))
    }
}

/// The measured run, under a name of its own: `--instructions` has callgrind count this
/// function and what it calls, not the program's start, argument parsing or baselines.
#[inline(never)]
fn callgrind_measured_run(b: &AckBench) -> Result<bench_mod::AckRun, String> {
    b.run()
}

/// Runs the benchmark's measured run again, in a child process under callgrind that counts
/// only [`callgrind_measured_run`], and returns the instructions it executed. The child
/// must deliver the same `delivered` messages: the run is deterministic, and a count of
/// another run would be no count of this one.
fn count_instructions(b: &AckBench, delivered: u64) -> Result<u64, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::usage(format!("cannot find this program to rerun it: {e}")))?;
    let out_file =
        std::env::temp_dir().join(format!("clustersim-callgrind-{}.out", std::process::id()));
    let command = b.command();
    let mut vg_args: Vec<std::ffi::OsString> = vec![
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out_file.display()).into(),
        "--collect-atstart=no".into(),
        "--toggle-collect=*callgrind_measured_run*".into(),
        exe.into(),
    ];
    vg_args.extend(command.split_whitespace().skip(1).map(Into::into));
    vg_args.push("--measured-run-only".into());
    let output = run_valgrind(vg_args)?;
    let counted = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Failure::usage(format!(
            "the run under callgrind failed ({}): {last}",
            output.status
        )));
    }
    let child_delivered = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("delivered ")?.trim().parse::<u64>().ok());
    if child_delivered != Some(delivered) {
        return Err(Failure::usage(format!(
            "the run under callgrind delivered {} messages, the measured run {delivered}: \
             not the same run",
            child_delivered.map_or("no count of".to_string(), |d| d.to_string())
        )));
    }
    let counted = counted.map_err(|e| {
        Failure::usage(format!(
            "cannot read callgrind's output {}: {e}",
            out_file.display()
        ))
    })?;
    callgrind_total(&counted).ok_or_else(|| {
        Failure::usage(format!(
            "callgrind's output {} holds no instruction total",
            out_file.display()
        ))
    })
}

/// The instructions a callgrind output file counts: its `totals:` line (or, from older
/// versions, `summary:`), whose first figure is the instructions executed (`Ir`).
fn callgrind_total(out: &str) -> Option<u64> {
    let line = out
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| out.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::callgrind_total;

    #[test]
    fn the_instruction_total_is_read_from_callgrind_output() {
        let out = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfl=(1) a.rs\n\
                   fn=(1) f\n3 120\ntotals: 161460000\n";
        assert_eq!(callgrind_total(out), Some(161_460_000));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
        assert_eq!(callgrind_total("totals: many\n"), None);
    }
}
