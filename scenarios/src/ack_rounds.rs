//! The `ack-rounds` scenario: five nodes run continuous two-phase ACK rounds (prepare,
//! commit) coordinated by the view's lowest member, under every fault kind. Rounds must
//! complete or be handed over across view changes, never wait on a departed member, and
//! resume once the faults heal; every engine guarantee is checked as well.
//!
//! `ack-rounds-direct` is the same scenario, world and faults with the direct variant of
//! the rounds (`protocols::engine::direct`): the coordinator sends each round to every
//! member of its view itself rather than through the engine's ordered multicast.

use crate::engine_common;
use protocols::engine::direct::RoundVariant;
use protocols::engine::job::EngineConfig;
use protocols::engine::{CeConfig, MUTANT_DELIVER_TO_LEFT};
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};

/// The catalog entry.
pub struct AckRounds {
    pub nodes: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    /// Failure detection timing (a preset of [`CeConfig`]).
    pub ce: CeConfig,
    /// How round messages reach the members.
    pub variant: RoundVariant,
}

impl Default for AckRounds {
    fn default() -> Self {
        AckRounds {
            nodes: 5,
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
            variant: RoundVariant::Ordered,
        }
    }
}

impl AckRounds {
    /// The catalog's `ack-rounds-direct`.
    pub fn direct() -> Self {
        AckRounds {
            variant: RoundVariant::Direct,
            ..AckRounds::default()
        }
    }

    pub fn config(&self) -> EngineConfig {
        let mut cfg = EngineConfig::new(self.ce.clone());
        cfg.rounds = true;
        cfg.round_gap_ms = 100;
        cfg.variant = self.variant;
        cfg
    }
}

impl Scenario for AckRounds {
    fn name(&self) -> &'static str {
        match self.variant {
            RoundVariant::Ordered => "ack-rounds",
            RoundVariant::Direct => "ack-rounds-direct",
        }
    }

    fn description(&self) -> &'static str {
        match self.variant {
            RoundVariant::Ordered => {
                "continuous two-phase ACK rounds over the cluster engine under faults; rounds never wait on departed members"
            }
            RoundVariant::Direct => {
                "ack-rounds with the coordinator sending each round to every member directly, not by ordered multicast"
            }
        }
    }

    fn world(&self) -> WorldConfig {
        // Slow failure detectors need a longer liveness phase to converge in.
        let liveness_ms = self.liveness_ms.max(4 * self.ce.failure_timeout_ms);
        engine_common::world(self.nodes, self.safety_ms, liveness_ms)
    }

    fn mutants(&self) -> Vec<Mutant> {
        let mut all = engine_common::mutants();
        if self.variant == RoundVariant::Direct {
            // Its jobs deliver no multicast, so a delivery to a job that left cannot happen.
            all.retain(|m| m.name != MUTANT_DELIVER_TO_LEFT);
        }
        all
    }

    fn checkers(&self) -> Vec<&'static str> {
        engine_common::checker_names(self.nodes, &self.config())
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        engine_common::run_loaded(&self.world(), self.config(), spec, mutant)
    }
}
