//! Shrinking: delta-debugs a failing fault plan into a smaller one that still breaks the
//! same checker, so that the replay a developer reads has as little noise as possible.
//!
//! Three passes, each keeping a change only if the same checker still fails: drop faults
//! (ddmin over the fault list, after trying the empty plan), shorten every window by
//! halving its duration, and move every fault earlier by halving its start time. Every
//! candidate is a full rerun with the plan given (`PlanSource::Given`), on its own thread,
//! in a fixed order, so shrinking is itself deterministic. The number of reruns is bounded.

use super::{run_seed, ScenarioRef, SeedJob, SeedOutcome};
use crate::fault::{Fault, FaultPlan};
use crate::world::PlanSource;
use std::time::Duration;

/// What a shrink produced.
#[derive(Debug)]
pub struct ShrinkOutcome {
    pub original_faults: usize,
    /// The smallest failing plan found and its run (which broke the same checker).
    pub smallest: SeedOutcome,
    /// Reruns spent, including the first one that checks the failure reproduces.
    pub runs: usize,
    /// Whether the bound on reruns stopped the search before it was done.
    pub exhausted: bool,
}

struct Shrinker<'a> {
    scenario: ScenarioRef,
    seed: u64,
    mutant: Option<String>,
    checker: &'a str,
    wall_limit: Duration,
    max_runs: usize,
    runs: usize,
    best: SeedOutcome,
}

impl Shrinker<'_> {
    /// Runs `faults`; if the checker still breaks, they become the best plan.
    fn try_plan(&mut self, faults: Vec<Fault>) -> bool {
        if self.runs >= self.max_runs {
            return false;
        }
        self.runs += 1;
        let mut enabled: Vec<_> = faults.iter().map(|f| f.kind()).collect();
        enabled.sort();
        enabled.dedup();
        let job = SeedJob {
            scenario: self.scenario.clone(),
            seed: self.seed,
            mutant: self.mutant.clone(),
            plan: PlanSource::Given(FaultPlan { faults, enabled }),
            keep_events: false,
            keep_report: false,
        };
        let o = run_seed(&job, self.wall_limit);
        if o.verdict.broke(self.checker) {
            self.best = o;
            true
        } else {
            false
        }
    }

    fn faults(&self) -> Vec<Fault> {
        self.best.plan.faults.clone()
    }

    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// ddmin: remove ever smaller chunks of the fault list while the failure persists.
    fn drop_faults(&mut self) {
        if self.faults().is_empty() || self.try_plan(vec![]) {
            return;
        }
        let mut parts = 2usize;
        while !self.out_of_runs() {
            let faults = self.faults();
            let len = faults.len();
            if len == 0 {
                return;
            }
            let parts_now = parts.min(len);
            let chunk = len.div_ceil(parts_now);
            let mut reduced = false;
            for start in (0..len).step_by(chunk) {
                let mut candidate = faults.clone();
                candidate.drain(start..(start + chunk).min(len));
                if self.try_plan(candidate) {
                    reduced = true;
                    parts = (parts_now - 1).max(2);
                    break;
                }
                if self.out_of_runs() {
                    return;
                }
            }
            if !reduced {
                if parts_now >= len {
                    return;
                }
                parts = (parts_now * 2).min(len);
            }
        }
    }

    /// Halves each fault's window while the failure persists.
    fn shorten_windows(&mut self) {
        for i in 0..self.faults().len() {
            while !self.out_of_runs() {
                let mut candidate = self.faults();
                let Some(d) = candidate[i].duration_ms() else {
                    break;
                };
                if d < 2 {
                    break;
                }
                candidate[i].set_duration_ms(d / 2);
                if !self.try_plan(candidate) {
                    break;
                }
            }
        }
    }

    /// Halves each fault's start time while the failure persists. The run sorts a given
    /// plan by start time, so the fault is followed by its content, not its position.
    fn move_earlier(&mut self) {
        let mut i = 0;
        while i < self.faults().len() {
            let target = self.faults()[i].clone();
            let mut current = target.clone();
            while !self.out_of_runs() && current.at_ms() > 0 {
                let mut candidate = self.faults();
                let Some(pos) = candidate.iter().position(|f| *f == current) else {
                    break;
                };
                let mut moved = current.clone();
                moved.set_at_ms(current.at_ms() / 2);
                candidate[pos] = moved.clone();
                if !self.try_plan(candidate) {
                    break;
                }
                current = moved;
            }
            i += 1;
        }
    }
}

/// Shrinks `plan`, which made `checker` fail for this seed, within `max_runs` reruns.
/// `Err` if the plan does not make the checker fail to begin with.
pub fn shrink(
    scenario: ScenarioRef,
    seed: u64,
    mutant: Option<String>,
    plan: FaultPlan,
    checker: &str,
    max_runs: usize,
    wall_limit: Duration,
) -> Result<ShrinkOutcome, String> {
    if checker == super::WALL_CLOCK_CHECKER {
        // Each rerun of a wall-clock hang costs the whole limit and leaves a thread spinning
        // until the process ends; a search over dozens of them is not worth it.
        return Err(format!(
            "a seed that hung in wall-clock time ({checker}) is not shrunk: replay it and \
             look at where its trace stops"
        ));
    }
    let original_faults = plan.faults.len();
    let job = SeedJob {
        scenario: scenario.clone(),
        seed,
        mutant: mutant.clone(),
        plan: PlanSource::Given(plan),
        keep_events: false,
        keep_report: false,
    };
    let first = run_seed(&job, wall_limit);
    if let super::Verdict::BadInput(e) = &first.verdict {
        return Err(e.clone());
    }
    if !first.verdict.broke(checker) {
        let got = match first.verdict.first_violation() {
            Some(v) => format!("it broke {} instead", v.checker),
            None => "it passed".to_string(),
        };
        return Err(format!(
            "the failure does not reproduce: {checker} did not fail when rerun ({got})"
        ));
    }
    let mut s = Shrinker {
        scenario,
        seed,
        mutant,
        checker,
        wall_limit,
        max_runs: max_runs.max(1),
        runs: 1,
        best: first,
    };
    s.drop_faults();
    s.shorten_windows();
    s.move_earlier();
    let exhausted = s.out_of_runs();
    let mut smallest = s.best;
    smallest.plan.sort();
    Ok(ShrinkOutcome {
        original_faults,
        smallest,
        runs: s.runs,
        exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Violation;
    use crate::fault::FaultKind;
    use crate::scenario::Scenario;
    use crate::trace::Trace;
    use crate::world::{RunReport, RunSpec, WorldConfig};
    use std::sync::Arc;

    /// Fails (checker `pause_seen`) exactly when the plan pauses n2 for at least 100 ms
    /// at or after 40 ms; any crash also breaks another checker.
    struct NeedsPause;

    impl Scenario for NeedsPause {
        fn name(&self) -> &'static str {
            "needs-pause"
        }
        fn description(&self) -> &'static str {
            "fails on a long enough pause of n2"
        }
        fn world(&self) -> WorldConfig {
            WorldConfig::new(3, 10_000, 1_000)
        }
        fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
            let plan = match &spec.plan {
                PlanSource::Given(p) => p.clone(),
                PlanSource::Generate { swarm } => {
                    FaultPlan::generate(spec.seed, &self.world().plan, *swarm)
                }
            };
            let mut violations = vec![];
            let bad = |checker: &str| Violation {
                checker: checker.to_string(),
                event_index: 0,
                t_ns: 0,
                explanation: String::new(),
            };
            if plan.faults.iter().any(|f| {
                matches!(f, Fault::Pause { node: 2, at_ms, duration_ms }
                    if *duration_ms >= 100 && *at_ms >= 40)
            }) {
                violations.push(bad("pause_seen"));
            }
            if plan.kinds().contains(&FaultKind::Crash) {
                violations.push(bad("crash_seen"));
            }
            Ok(RunReport {
                seed: spec.seed,
                plan,
                trace: Trace::default(),
                violations,
                net: Default::default(),
                sim_ns: 0,
                coverage: Default::default(),
            })
        }
    }

    #[test]
    fn shrinks_to_the_one_fault_that_matters_shorter_and_earlier() {
        let faults = vec![
            Fault::Crash {
                at_ms: 1_000,
                node: 0,
                restart_after_ms: Some(500),
            },
            Fault::Clog {
                at_ms: 2_000,
                duration_ms: 700,
                a: 0,
                b: 1,
            },
            Fault::Pause {
                at_ms: 3_000,
                duration_ms: 1_600,
                node: 2,
            },
            Fault::Pause {
                at_ms: 3_500,
                duration_ms: 50,
                node: 2,
            },
            Fault::PacketLoss {
                at_ms: 4_000,
                duration_ms: 900,
                probability: 0.2,
            },
        ];
        let plan = FaultPlan {
            faults,
            enabled: vec![],
        };
        let s = shrink(
            Arc::new(NeedsPause),
            1,
            None,
            plan,
            "pause_seen",
            200,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(s.original_faults, 5);
        assert!(!s.exhausted);
        match s.smallest.plan.faults.as_slice() {
            [Fault::Pause {
                node: 2,
                at_ms,
                duration_ms,
            }] => {
                assert!((100..200).contains(duration_ms), "{duration_ms}");
                assert!((40..80).contains(at_ms), "{at_ms}");
            }
            other => panic!("not shrunk to the pause: {other:?}"),
        }
        assert_eq!(s.smallest.plan.enabled, vec![FaultKind::Pause]);
        assert!(s.smallest.verdict.broke("pause_seen"));

        // A plan that does not break the checker is refused, and so is a wall-clock hang.
        let e = shrink(
            Arc::new(NeedsPause),
            1,
            None,
            FaultPlan::empty(),
            "pause_seen",
            200,
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(e.contains("does not reproduce"), "{e}");
        let e = shrink(
            Arc::new(NeedsPause),
            1,
            None,
            FaultPlan::empty(),
            super::super::WALL_CLOCK_CHECKER,
            200,
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(e.contains("not shrunk"), "{e}");
    }
}
