//! The interface between the harness and a scenario: what a catalog entry must provide so
//! that run, sweep, replay and shrink can drive it without knowing its message types.

use crate::world::{RunReport, RunSpec, WorldConfig};

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
    /// does not fit the world, an unknown mutant), never a checker failure.
    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String>;
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
