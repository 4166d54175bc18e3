//! The interface between the harness and a scenario: what a catalog entry must provide so
//! that run, sweep, replay and shrink can drive it without knowing its message types.

use crate::world::{RunReport, RunSpec, WorldConfig};
use std::collections::BTreeMap;

/// Named counts one run reports beside its verdict, e.g. how many work-thread faults met
/// a non-empty queue (`RunReport::counters`). The harness knows no names: a scenario fills
/// them in from its own observers, and a sweep sums each name over the scenario's seeds
/// and counts the seeds where it was above zero. Names are dotted paths, lowest level
/// last (`work_fault.hang.queued`).
pub type Counters = BTreeMap<String, u64>;

/// A deliberately broken variant of a protocol, switched on per run, so that a sweep can
/// show the checkers catch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutant {
    pub name: &'static str,
    pub description: &'static str,
}

/// One entry of the scenario catalog.
pub trait Scenario: Send + Sync {
    fn name(&self) -> &'static str;

    /// One line for `clustersim list`.
    fn description(&self) -> &'static str;

    /// The world this scenario runs in (nodes, phases, network, admissible faults).
    fn world(&self) -> WorldConfig;

    /// The names of the checkers a run of this scenario applies: the guarantees a failure
    /// can name (an artifact naming any other is refused).
    fn checkers(&self) -> Vec<&'static str>;

    /// The planted bugs this scenario knows.
    fn mutants(&self) -> Vec<Mutant> {
        vec![]
    }

    /// Runs one seed, with `mutant` switched on if given. `Err` is bad input (a plan that
    /// does not fit the world), never a checker failure.
    ///
    /// `mutant` is already validated: every caller in the harness (run, sweep, replay,
    /// shrink, check-determinism) goes through [`run_checked`], so it is `None` or the name
    /// of one of [`Scenario::mutants`]. A test calling `run` directly should do the same.
    ///
    /// Per-seed set-up and tear-down are the harness's: each call builds a fresh madsim
    /// runtime seeded with `spec.seed`, starts the nodes from their init task, applies the
    /// fault plan, and at the end kills every node and drops the runtime, with every task,
    /// channel and message of the run (see [`crate::run_world`]). Anything the scenario
    /// keeps between seeds must therefore live outside the run, and must not change what a
    /// later seed does: a run is a pure function of `spec` and `mutant`. State a scenario
    /// builds per run (checkers, shared cells read by checkers, the node main's captures)
    /// is built inside `run`, so each seed starts from nothing.
    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String>;
}

/// Runs one seed of `scenario` with its mutant checked first: what every command does, so
/// that [`Scenario::run`] only ever sees a mutant it declared.
pub fn run_checked(
    scenario: &dyn Scenario,
    spec: &RunSpec,
    mutant: Option<&str>,
) -> Result<RunReport, String> {
    check_mutant(scenario, mutant)?;
    scenario.run(spec, mutant)
}

/// Rejects a mutant name the scenario does not know.
pub fn check_mutant(scenario: &dyn Scenario, mutant: Option<&str>) -> Result<(), String> {
    match mutant {
        None => Ok(()),
        Some(m) if scenario.mutants().iter().any(|x| x.name == m) => Ok(()),
        Some(m) => {
            let known: Vec<&str> = scenario.mutants().iter().map(|x| x.name).collect();
            Err(format!(
                "unknown planted bug '{m}' for scenario '{}' (known: {})",
                scenario.name(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        }
    }
}

/// How a catalog holds a scenario: shared, so that many seeds run it at once.
pub type ScenarioRef = std::sync::Arc<dyn Scenario>;

/// One scenario of a [`Catalog`] and what the catalog promises about it.
///
/// By default a scenario is *gating*: `sweep --all` and `check-determinism --all` run it, so
/// a failure of it fails CI. [`Entry::experimental`] leaves it out of `--all` (it still runs
/// when named), for a protocol still being debugged or broken on purpose. Golden snapshots
/// are opt-in: [`Entry::golden`] names the seeds whose traces a golden-trace test pins.
#[derive(Clone)]
pub struct Entry {
    scenario: ScenarioRef,
    experimental: bool,
    golden_seeds: Vec<u64>,
}

impl Entry {
    /// A gating scenario with no golden snapshot.
    pub fn new(scenario: impl Scenario + 'static) -> Entry {
        Entry::shared(std::sync::Arc::new(scenario))
    }

    /// [`Entry::new`] for a scenario already shared.
    pub fn shared(scenario: ScenarioRef) -> Entry {
        Entry {
            scenario,
            experimental: false,
            golden_seeds: vec![],
        }
    }

    /// Leaves the scenario out of `--all`: it runs only when named.
    pub fn experimental(mut self) -> Entry {
        self.experimental = true;
        self
    }

    /// Pins the traces of these swarm seeds as golden snapshots.
    pub fn golden(mut self, seeds: &[u64]) -> Entry {
        self.golden_seeds = seeds.to_vec();
        self
    }

    pub fn scenario(&self) -> &ScenarioRef {
        &self.scenario
    }

    /// Whether `--all` leaves this scenario out.
    pub fn is_experimental(&self) -> bool {
        self.experimental
    }

    /// The seeds pinned as golden snapshots (none unless [`Entry::golden`] named some).
    pub fn golden_seeds(&self) -> &[u64] {
        &self.golden_seeds
    }
}

impl<S: Scenario + 'static> From<S> for Entry {
    fn from(s: S) -> Entry {
        Entry::new(s)
    }
}

/// The scenarios a command line works on, each with its [`Entry`] flags, in the order
/// `list` shows them; the one place commands look a scenario up by name.
///
/// ```
/// use sim::scenario::{Catalog, Entry, Scenario};
/// use sim::{RunReport, RunSpec, WorldConfig};
///
/// struct Register { name: &'static str }
/// impl Scenario for Register {
///     fn name(&self) -> &'static str { self.name }
///     fn description(&self) -> &'static str { "a replicated register" }
///     fn world(&self) -> WorldConfig { unimplemented!() }
///     fn checkers(&self) -> Vec<&'static str> { vec!["linearizable"] }
///     fn run(&self, _: &RunSpec, _: Option<&str>) -> Result<RunReport, String> { unimplemented!() }
/// }
///
/// let catalog = Catalog::new()
///     .with(Entry::new(Register { name: "register" }).golden(&[7, 42]))
///     .with(Entry::new(Register { name: "register-v2" }).experimental());
/// let all: Vec<&str> = catalog.gating().map(|s| s.name()).collect();
/// assert_eq!(all, ["register"]);
/// assert!(catalog.find("register-v2").is_ok());
/// ```
#[derive(Clone, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds a scenario (a [`Scenario`] value is a gating entry without golden snapshots).
    /// Panics if the catalog already has a scenario of that name: a catalog is built by
    /// code, and two scenarios of one name would make artifacts ambiguous.
    pub fn with(mut self, entry: impl Into<Entry>) -> Catalog {
        self.push(entry.into());
        self
    }

    /// [`Catalog::with`] in place.
    pub fn push(&mut self, entry: Entry) {
        let name = entry.scenario.name();
        assert!(
            self.entries.iter().all(|e| e.scenario.name() != name),
            "two scenarios are called '{name}'"
        );
        self.entries.push(entry);
    }

    /// Every entry, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every scenario, in order, experimental ones included.
    pub fn scenarios(&self) -> impl Iterator<Item = &ScenarioRef> {
        self.entries.iter().map(|e| &e.scenario)
    }

    /// The scenarios `--all` runs: every one not marked experimental.
    pub fn gating(&self) -> impl Iterator<Item = &ScenarioRef> {
        self.entries
            .iter()
            .filter(|e| !e.experimental)
            .map(|e| &e.scenario)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of the scenario called `name`; the error names the known ones.
    pub fn entry(&self, name: &str) -> Result<&Entry, String> {
        self.entries
            .iter()
            .find(|e| e.scenario.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.scenarios().map(|s| s.name()).collect();
                format!("unknown scenario '{name}' (known: {})", names.join(", "))
            })
    }

    /// The scenario called `name`; the error names the known ones.
    pub fn find(&self, name: &str) -> Result<ScenarioRef, String> {
        self.entry(name).map(|e| e.scenario.clone())
    }
}

impl IntoIterator for Catalog {
    type Item = ScenarioRef;
    type IntoIter = std::vec::IntoIter<ScenarioRef>;

    /// Every scenario, in order, experimental ones included.
    fn into_iter(self) -> Self::IntoIter {
        self.entries
            .into_iter()
            .map(|e| e.scenario)
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl<'a> IntoIterator for &'a Catalog {
    type Item = &'a ScenarioRef;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Entry>, fn(&'a Entry) -> &'a ScenarioRef>;

    /// Every scenario, in order, experimental ones included.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(Entry::scenario)
    }
}
