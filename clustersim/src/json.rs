//! The JSON the command line prints (`list --json`, `sweep --json`), as typed values: what
//! the commands serialize and what a program reading them can deserialize. Each shape is
//! described field by field in `docs/cli-json.md`; tests parse the commands' output and the
//! document's examples into these types, which refuse unknown fields, so the three agree.
//!
//! Every object carries `version`, [`JSON_VERSION`]: a field added keeps it, a field
//! removed, renamed or changed in meaning raises it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of every JSON shape below.
pub const JSON_VERSION: u32 = 1;

/// `clustersim list --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListJson {
    pub version: u32,
    pub scenarios: Vec<ScenarioJson>,
    pub mutants: Vec<MutantJson>,
}

/// One scenario of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioJson {
    pub name: String,
    pub description: String,
    /// The checkers a run applies: the names a failure can carry.
    pub checkers: Vec<String>,
    /// Left out of `--all` (it runs only when named); absent means false.
    #[serde(default)]
    pub experimental: bool,
}

/// One planted bug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutantJson {
    pub name: String,
    /// The scenario that has it.
    pub scenario: String,
    pub description: String,
}

/// `clustersim sweep --json`: one object, printed when the sweep ends (also when an
/// interrupt ended it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepJson {
    pub version: u32,
    /// The scenarios swept, sorted by name.
    pub scenarios: Vec<String>,
    /// The planted bug switched on, if any.
    pub mutant: Option<String>,
    /// The seed range swept, `A..B` (the shard's slice when `--shard` was given).
    pub seeds: String,
    /// `I/N` when `--shard` was given.
    pub shard: Option<String>,
    /// Seed runs asked for: seeds times scenarios.
    pub seeds_requested: u64,
    /// Seed runs that finished and are reported here.
    pub seeds_run: u64,
    /// Worker threads.
    pub jobs: u64,
    /// The per-seed limit on CPU time, in seconds.
    pub seed_timeout_s: f64,
    /// The sweep stopped at its first failure or timeout (no `--keep-going`).
    pub stopped_early: bool,
    /// An interrupt (SIGINT, SIGTERM) stopped the sweep.
    pub interrupted: bool,
    /// When interrupted: the first seed not run for every scenario, where to resume.
    pub next_seed: Option<u64>,
    /// When interrupted: the command that runs the rest.
    pub resume: Option<String>,
    /// Seeds where a checker failed, in (scenario, seed) order.
    pub failures: Vec<FindingJson>,
    /// Seeds that went over the per-seed limit, also when retried alone.
    pub timeouts: Vec<FindingJson>,
    /// The figures of each scenario, by name.
    pub per_scenario: BTreeMap<String, ScenarioRunJson>,
    /// Fault kind -> protocol phase -> the number of seeds in which a fault of that kind
    /// started while a node was in that phase. Every fault kind is present.
    pub coverage: BTreeMap<String, BTreeMap<String, u64>>,
    /// Wall time of the whole sweep, in seconds.
    pub wall_s: f64,
    /// Simulated time of all seeds run, in seconds.
    pub sim_s: f64,
    pub seeds_per_s: f64,
}

/// A failing or timed-out seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingJson {
    pub scenario: String,
    pub seed: u64,
    /// The checker that failed first, or `timeout`.
    pub checker: String,
    pub explanation: String,
    /// The artifact written, if one was.
    pub artifact: Option<String>,
    /// The command that replays it.
    pub replay: Option<String>,
}

/// One scenario's figures in a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRunJson {
    pub seeds_run: u64,
    pub failures: u64,
    pub timeouts: u64,
    /// Median of one seed's CPU time, in milliseconds.
    pub median_ms: f64,
    /// 99th percentile of one seed's CPU time, in milliseconds.
    pub p99_ms: f64,
    /// The scenario's own per-run counters (`sim::Counters`), by name: each summed over
    /// the seeds run, with how many seeds reported it above zero. Empty for a scenario
    /// that reports none; absent from documents written before it existed.
    #[serde(default)]
    pub counters: BTreeMap<String, CounterJson>,
}

/// One counter over a scenario's seeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterJson {
    /// The sum over the seeds run.
    pub total: u64,
    /// How many seeds counted it at least once.
    pub seeds: u64,
}
