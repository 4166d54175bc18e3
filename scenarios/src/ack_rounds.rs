//! The `ack-rounds` scenario: five nodes run continuous two-phase ACK rounds (prepare,
//! commit) coordinated by the view's lowest member, under every fault kind. Rounds must
//! complete or be handed over across view changes, never wait on a departed member, and
//! resume once the faults heal; every engine guarantee is checked as well.

use crate::engine_common;
use protocols::engine::job::EngineConfig;
use protocols::engine::CeConfig;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};

/// The catalog entry.
pub struct AckRounds {
    pub nodes: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    /// Failure detection timing (a preset of [`CeConfig`]).
    pub ce: CeConfig,
}

impl Default for AckRounds {
    fn default() -> Self {
        AckRounds {
            nodes: 5,
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
        }
    }
}

impl AckRounds {
    pub fn config(&self) -> EngineConfig {
        let mut cfg = EngineConfig::new(self.ce.clone());
        cfg.rounds = true;
        cfg.round_gap_ms = 100;
        cfg
    }
}

impl Scenario for AckRounds {
    fn name(&self) -> &'static str {
        "ack-rounds"
    }

    fn description(&self) -> &'static str {
        "continuous two-phase ACK rounds over the cluster engine under faults; rounds never wait on departed members"
    }

    fn world(&self) -> WorldConfig {
        // Slow failure detectors need a longer liveness phase to converge in.
        let liveness_ms = self.liveness_ms.max(4 * self.ce.failure_timeout_ms);
        engine_common::world(self.nodes, self.safety_ms, liveness_ms)
    }

    fn mutants(&self) -> Vec<Mutant> {
        engine_common::mutants()
    }

    fn checkers(&self) -> Vec<&'static str> {
        engine_common::checker_names(self.nodes, &self.config())
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        engine_common::run(&self.world(), self.config(), spec, mutant)
    }
}
