//! `clustersim check-history`: checks a client history recorded elsewhere for
//! linearizability (see [`sim::linearizability`]): a Jepsen log of a compare-and-set
//! register, or a key-value history of EDN maps.
//!
//! Exit codes: 0 linearizable; 1 not linearizable; 2 bad usage or input (an unreadable
//! file, a malformed line), reported as one line on standard error. The verdict and its
//! explanation go to standard output, or with `--json` one JSON object alone.

use crate::{out_str, shell_quote, EXIT_FAIL, EXIT_PASS};
use clap::{Args, ValueEnum};
use serde::Serialize;
use sim::linearizability::{
    check, parse_jepsen_cas, parse_kv, CasRegister, CheckReport, Explanation, KvStore, ParseError,
};
use std::path::PathBuf;

/// The version of `check-history --json`'s object.
pub const JSON_VERSION: u64 = 1;

/// A sequential model, with the file format its histories come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HistoryModel {
    /// A compare-and-set register (read, write, cas), from Jepsen log lines
    /// (`jepsen.util - PROCESS :TYPE :F VALUE`, as Jepsen's etcd test writes them).
    CasRegister,
    /// A key-value store (get, put, append), one EDN map a line
    /// (`{:process P, :type :invoke, :f :get, :key "K", :value nil}`); checked key by key.
    Kv,
}

impl HistoryModel {
    fn name(self) -> &'static str {
        match self {
            HistoryModel::CasRegister => "cas-register",
            HistoryModel::Kv => "kv",
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckHistoryArgs {
    /// The history's model and format.
    #[arg(long, value_enum, value_name = "MODEL")]
    pub model: HistoryModel,
    /// The history file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
}

/// Runs `check-history`: the exit code, or the one-line message of bad input.
/// Checks the history file; `program` is what the reproducing command calls the tool.
pub fn check_history(program: &str, args: &CheckHistoryArgs) -> Result<u8, String> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| format!("cannot read {name}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name} is not UTF-8 text (byte {} is not)",
            e.utf8_error().valid_up_to()
        )
    })?;
    let bad = |e: ParseError| e.to_string();
    let report = match args.model {
        HistoryModel::CasRegister => {
            check(&CasRegister, &parse_jepsen_cas(&name, &text).map_err(bad)?)
        }
        HistoryModel::Kv => check(&KvStore, &parse_kv(&name, &text).map_err(bad)?),
    };
    if args.json {
        out_str(&format!("{}\n", json_report(args, &report)));
    } else {
        out_str(&human_report(program, args, &report));
    }
    Ok(if report.is_linearizable() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    })
}

/// The command that checks this history again.
fn reproduce(program: &str, args: &CheckHistoryArgs) -> String {
    format!(
        "{program} check-history --model {} {}",
        args.model.name(),
        shell_quote(&args.file)
    )
}

fn human_report(program: &str, args: &CheckHistoryArgs, r: &CheckReport) -> String {
    let s = &r.stats;
    let mut out = format!(
        "history: {} ({} operations, {} part{}, model {})\n",
        args.file.display(),
        s.operations,
        s.parts,
        if s.parts == 1 { "" } else { "s" },
        args.model.name()
    );
    match r.explanation() {
        None => out.push_str("verdict: linearizable\n"),
        Some(e) => {
            out.push_str("verdict: NOT linearizable\n");
            out.push_str(&e.to_string());
        }
    }
    out.push_str(&format!(
        "search: {} steps, {} configurations, {} of {} parts decided\n",
        s.steps, s.configurations, s.parts_decided, s.parts
    ));
    if !r.is_linearizable() {
        out.push_str(&format!("reproduce: {}\n", reproduce(program, args)));
    }
    out
}

/// `check-history --json`'s object.
#[derive(Serialize)]
struct JsonReport<'a> {
    version: u64,
    file: String,
    model: &'static str,
    /// `linearizable` or `not-linearizable`, as Jepsen's and Porcupine's verdicts read.
    verdict: &'static str,
    operations: usize,
    parts: usize,
    explanation: Option<JsonExplanation<'a>>,
    search: JsonSearch,
}

#[derive(Serialize)]
struct JsonExplanation<'a> {
    /// The explanation on one line.
    summary: String,
    #[serde(flatten)]
    detail: &'a Explanation,
}

#[derive(Serialize)]
struct JsonSearch {
    steps: u64,
    configurations: u64,
    backtracks: u64,
    parts_decided: usize,
}

fn json_report(args: &CheckHistoryArgs, r: &CheckReport) -> String {
    let s = &r.stats;
    let report = JsonReport {
        version: JSON_VERSION,
        file: args.file.display().to_string(),
        model: args.model.name(),
        verdict: if r.is_linearizable() {
            "linearizable"
        } else {
            "not-linearizable"
        },
        operations: s.operations,
        parts: s.parts,
        explanation: r.explanation().map(|e| JsonExplanation {
            summary: e.one_line(),
            detail: e,
        }),
        search: JsonSearch {
            steps: s.steps,
            configurations: s.configurations,
            backtracks: s.backtracks,
            parts_decided: s.parts_decided,
        },
    };
    serde_json::to_string(&report).expect("a report serializes")
}
