//! The `groups` scenario: five nodes whose jobs join two named groups (`alpha` on even
//! nodes, `beta` on odd ones) over one cluster engine per node. Each group has its own
//! view of its members, its own agreed order, its own notifications and its own ACK-round
//! coordinator; nothing of one group reaches the other. Every fault kind applies.

use crate::engine_common;
use protocols::engine::job::EngineConfig;
use protocols::engine::CeConfig;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};

/// The catalog entry.
pub struct Groups {
    pub nodes: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    pub ce: CeConfig,
}

impl Default for Groups {
    fn default() -> Self {
        Groups {
            nodes: 5,
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
        }
    }
}

impl Groups {
    pub fn config(&self) -> EngineConfig {
        let mut cfg = EngineConfig::new(self.ce.clone());
        cfg.groups = vec!["alpha", "beta"];
        cfg.rounds = true;
        cfg.app_interval_ms = Some(400);
        cfg
    }
}

impl Scenario for Groups {
    fn name(&self) -> &'static str {
        "groups"
    }

    fn description(&self) -> &'static str {
        "two named groups over one cluster engine: per-group views, order, notifications and ACK rounds"
    }

    fn world(&self) -> WorldConfig {
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
        engine_common::run_loaded(&self.world(), self.config(), spec, mutant)
    }
}
