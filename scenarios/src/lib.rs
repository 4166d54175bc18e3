//! The scenario catalog: every scenario clustersim can run, each with its planted bugs.

pub mod ack_rounds;
pub mod bench;
pub mod bench_cli;
pub mod client_failover;
pub mod demo;
pub mod engine_common;
pub mod groups;
pub mod kv_register;
pub mod membership;
pub mod process_status;

/// The command line, a library any catalog can use (the `clustersim` crate).
pub use clustersim as cli;
pub use clustersim::history_cmd;

use sim::{Catalog, Entry, ScenarioRef};

/// The seeds whose traces the built-in scenarios pin as golden snapshots.
pub const GOLDEN_SEEDS: [u64; 2] = [7, 42];

/// Every scenario, in the order `clustersim list` shows them; each gating, with golden
/// snapshots at [`GOLDEN_SEEDS`].
pub fn catalog() -> Catalog {
    let golden = |e: Entry| e.golden(&GOLDEN_SEEDS);
    Catalog::new()
        .with(golden(Entry::new(demo::Demo)))
        .with(golden(Entry::new(membership::Membership::default())))
        .with(golden(Entry::new(ack_rounds::AckRounds::default())))
        .with(golden(Entry::new(ack_rounds::AckRounds::direct())))
        .with(golden(Entry::new(groups::Groups::default())))
        .with(golden(Entry::new(
            client_failover::ClientFailover::default(),
        )))
        .with(golden(Entry::new(process_status::ProcessStatus::default())))
        .with(golden(Entry::new(kv_register::KvRegister::default())))
}

/// Runs swarm seed `seed` of the catalog scenario `name` and panics, naming the command
/// that reproduces it, if a checker fails: what pinned-seed tests assert.
pub fn assert_seed_passes(name: &str, seed: u64) {
    let s = find(name).unwrap_or_else(|e| panic!("{e}"));
    let r = s
        .run(&sim::RunSpec::swarm(seed), None)
        .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"));
    assert!(
        r.passed(),
        "{name} seed {seed}: {}\nreproduce: clustersim run {name} --seed {seed}",
        r.violations[0]
    );
}

/// Runs swarm seed `seed` of the catalog scenario `name` with planted bug `bug` and panics,
/// naming the command that reproduces it, unless `checker` is the first to fail; the same
/// seed without the bug must pass. What planted-bug tests assert.
pub fn assert_mutant_caught(name: &str, bug: &str, checker: &str, seed: u64) {
    let s = find(name).unwrap_or_else(|e| panic!("{e}"));
    let r = sim::scenario::run_checked(s.as_ref(), &sim::RunSpec::swarm(seed), Some(bug))
        .unwrap_or_else(|e| panic!("{name} seed {seed} --mutant {bug}: {e}"));
    assert_eq!(
        r.violations.first().map(|v| v.checker.as_str()),
        Some(checker),
        "{bug} at seed {seed}: {:?}; reproduce: clustersim run {name} --seed {seed} --mutant {bug}",
        r.violations.first()
    );
    assert_seed_passes(name, seed);
}

/// Runs `spec` of the catalog scenario `name` (with planted bug `mutant`) on an OS thread
/// of its own, as a sweep runs a seed, and hands back its report: what tests that read a
/// run's trace call.
pub fn run_alone(name: &str, spec: sim::RunSpec, mutant: Option<&'static str>) -> sim::RunReport {
    let s = find(name).unwrap_or_else(|e| panic!("{e}"));
    let what = format!("{name} seed {}", spec.seed);
    std::thread::spawn(move || sim::scenario::run_checked(s.as_ref(), &spec, mutant))
        .join()
        .unwrap_or_else(|_| panic!("{what}: the run panicked"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Looks a scenario up by name.
pub fn find(name: &str) -> Result<ScenarioRef, String> {
    catalog().find(name)
}

/// Every component's trace events that the built-in scenarios can record: the world's,
/// the network's (at `--detail net`), the demo's and the protocols'.
pub fn event_schemas() -> Vec<&'static sim::event::ComponentSchema> {
    let mut all: Vec<&'static sim::event::ComponentSchema> = vec![];
    all.extend(sim::world::event_schemas());
    all.push(sim::net::NetEvent::schema());
    all.push(demo::DemoEvent::schema());
    all.extend(protocols::engine::event_schemas());
    all.extend(protocols::service::event_schemas());
    all.extend(protocols::clients::event_schemas());
    all.extend(protocols::pms::event_schemas());
    all.push(kv_register::KvEvent::schema());
    all
}

/// `docs/trace-events.md`: every event name with its fields, from the schemas the events
/// are declared with, so the list cannot drift from the code.
pub fn trace_events_markdown() -> String {
    use std::fmt::Write as _;
    let one_line = |doc: &str| doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = String::new();
    s.push_str(
        "# Trace events\n\n\
         Every event a built-in scenario records, by component, with its fields. A trace \
         line prints `#index time node component.event field=value ...`; JSON lines carry \
         the same fields under `fields`. The `net` events are recorded only at \
         `--detail net`, beside the trace: never hashed, never seen by checkers.\n\n\
         This file is generated from the events' declarations (`sim::trace_events!`); \
         `cargo test -p scenarios --test trace_events` fails when it is out of date, and \
         `CLUSTERSIM_UPDATE_DOCS=1` with the same command rewrites it.\n",
    );
    for c in event_schemas() {
        let _ = write!(s, "\n## `{}`\n\n{}\n\n", c.component, one_line(c.doc));
        s.push_str("| event | fields | what it records |\n|---|---|---|\n");
        for e in c.events {
            let fields: Vec<String> = e
                .fields
                .iter()
                .map(|f| format!("`{}`: {}", f.name, one_line(f.doc)))
                .collect();
            let _ = writeln!(
                s,
                "| `{}.{}` | {} | {} |",
                c.component,
                e.name,
                if fields.is_empty() {
                    "-".to_string()
                } else {
                    fields.join("<br>")
                },
                one_line(e.doc)
            );
        }
    }
    s
}
