//! The `membership` scenario: five nodes, one job each with two work threads, background
//! multicast from every job, under crashes, restarts, partitions, message faults, pauses
//! and work-thread faults (which make jobs leave and join again). Every guarantee of the
//! engine is checked: notification, views, virtual synchrony, order, liveness.

use crate::engine_common;
use protocols::engine::job::EngineConfig;
use protocols::engine::CeConfig;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};

/// The catalog entry; `nodes` and `safety_ms` are parameters so tests can scale it.
pub struct Membership {
    pub nodes: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    /// Failure detection timing (a preset of [`CeConfig`]).
    pub ce: CeConfig,
}

impl Default for Membership {
    fn default() -> Self {
        Membership {
            nodes: 5,
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
        }
    }
}

impl Membership {
    pub fn config(&self) -> EngineConfig {
        let mut cfg = EngineConfig::new(self.ce.clone());
        cfg.rounds = false;
        cfg.app_interval_ms = Some(300);
        cfg
    }
}

impl Scenario for Membership {
    fn name(&self) -> &'static str {
        "membership"
    }

    fn description(&self) -> &'static str {
        "cluster engine views under crashes, partitions and work-thread faults; notification, virtual synchrony, order"
    }

    fn world(&self) -> WorldConfig {
        // Slow failure detectors need a longer liveness phase to converge in.
        let liveness_ms = self.liveness_ms.max(4 * self.ce.failure_timeout_ms);
        engine_common::world(self.nodes, self.safety_ms, liveness_ms)
    }

    fn mutants(&self) -> Vec<Mutant> {
        // This scenario runs no ACK rounds, so a round that waits for a departed member
        // cannot happen here; `ack-rounds` and `groups` carry that bug.
        engine_common::mutants()
            .into_iter()
            .filter(|m| m.name != protocols::engine::MUTANT_ROUND_WAITS_DEPARTED)
            .collect()
    }

    fn checkers(&self) -> Vec<&'static str> {
        engine_common::checker_names(self.nodes, &self.config())
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        engine_common::run_loaded(&self.world(), self.config(), spec, mutant)
    }
}
