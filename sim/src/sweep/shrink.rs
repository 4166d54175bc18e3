//! Shrinking: delta-debugs a failing fault plan into a smaller one that still breaks the
//! same checker, so that the replay a developer reads has as little noise as possible.
//!
//! Three passes, each keeping a change only if the same checker still fails: drop faults
//! (ddmin over the fault list, after trying the empty plan), shorten every window by
//! halving its duration, and move every fault earlier by halving its start time. Every
//! candidate is a full rerun with the plan given (`PlanSource::Given`), on its own thread,
//! in a fixed order, so shrinking is itself deterministic. The number of reruns is bounded.
//! A candidate that times out does not count as failing; an interrupt ends the search with
//! the smallest plan found so far.

use super::{run_seed, ScenarioRef, SeedJob, SeedOutcome, Verdict};
use crate::fault::{Fault, FaultPlan};
use crate::isolate::Timeout;
use crate::trace::Detail;
use crate::world::PlanSource;
use std::fmt;
use std::sync::atomic::AtomicBool;
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
    /// Whether an interrupt stopped the search before it was done.
    pub interrupted: bool,
}

/// Why a plan could not be shrunk.
#[derive(Debug, Clone, PartialEq)]
pub enum ShrinkError {
    /// The input cannot be shrunk: the scenario rejects it, or it records a timeout.
    BadInput(String),
    /// The first rerun did not break the checker.
    NotReproduced(String),
    /// The first rerun went over its limit.
    TimedOut(Timeout),
    /// An interrupt stopped the first rerun.
    Interrupted,
}

impl fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShrinkError::BadInput(e) | ShrinkError::NotReproduced(e) => f.write_str(e),
            ShrinkError::TimedOut(t) => write!(f, "the first rerun timed out: {t}"),
            ShrinkError::Interrupted => f.write_str("interrupted before the first rerun ended"),
        }
    }
}

struct Shrinker<'a> {
    scenario: ScenarioRef,
    seed: u64,
    mutant: Option<String>,
    checker: &'a str,
    cpu_limit: Duration,
    cancel: Option<&'a AtomicBool>,
    max_runs: usize,
    runs: usize,
    interrupted: bool,
    best: SeedOutcome,
}

impl Shrinker<'_> {
    /// Runs `faults`; if the checker still breaks, they become the best plan.
    fn try_plan(&mut self, faults: Vec<Fault>) -> bool {
        if self.out_of_runs() {
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
            detail: Detail::Protocol,
        };
        let o = run_seed(&job, self.cpu_limit, self.cancel);
        if o.verdict == Verdict::Interrupted {
            self.interrupted = true;
            return false;
        }
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
        self.runs >= self.max_runs || self.interrupted
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

/// Shrinks the plan of `job`, which made `checker` fail, within `max_runs` reruns of at
/// most `cpu_limit` of CPU time each. `Err` if the plan does not make the checker fail to
/// begin with.
pub fn shrink(
    job: &SeedJob,
    checker: &str,
    max_runs: usize,
    cpu_limit: Duration,
    cancel: Option<&AtomicBool>,
) -> Result<ShrinkOutcome, ShrinkError> {
    if checker == super::TIMEOUT_CHECKER {
        // Each rerun of a hang costs the whole limit and leaves a thread spinning until the
        // process ends; a search over dozens of them is not worth it.
        return Err(ShrinkError::BadInput(
            "a seed that timed out is not shrunk: replay it with a larger \
             --seed-timeout-s to see whether it ends, or run it under a profiler to see \
             where it spins"
                .to_string(),
        ));
    }
    let plan = job.plan();
    let original_faults = plan.faults.len();
    let job = SeedJob {
        plan: PlanSource::Given(plan),
        keep_events: false,
        keep_report: false,
        detail: Detail::Protocol,
        ..job.clone()
    };
    let first = run_seed(&job, cpu_limit, cancel);
    match &first.verdict {
        Verdict::BadInput(e) => return Err(ShrinkError::BadInput(e.clone())),
        Verdict::TimedOut(t) => return Err(ShrinkError::TimedOut(*t)),
        Verdict::Interrupted => return Err(ShrinkError::Interrupted),
        _ => {}
    }
    if !first.verdict.broke(checker) {
        let got = match first.verdict.first_violation() {
            Some(v) => format!("it broke {} instead", v.checker),
            None => "it passed".to_string(),
        };
        return Err(ShrinkError::NotReproduced(format!(
            "the failure does not reproduce: {checker} did not fail when rerun ({got})"
        )));
    }
    let mut s = Shrinker {
        scenario: job.scenario.clone(),
        seed: job.seed,
        mutant: job.mutant.clone(),
        checker,
        cpu_limit,
        cancel,
        max_runs: max_runs.max(1),
        runs: 1,
        interrupted: false,
        best: first,
    };
    s.drop_faults();
    s.shorten_windows();
    s.move_earlier();
    let exhausted = s.runs >= s.max_runs;
    let interrupted = s.interrupted;
    let mut smallest = s.best;
    smallest.plan.sort();
    Ok(ShrinkOutcome {
        original_faults,
        smallest,
        runs: s.runs,
        exhausted,
        interrupted,
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
        fn checkers(&self) -> Vec<&'static str> {
            vec!["pause_seen", "crash_seen"]
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
                counters: Default::default(),
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
        let job = |faults| SeedJob {
            scenario: Arc::new(NeedsPause),
            seed: 1,
            mutant: None,
            plan: PlanSource::Given(FaultPlan {
                faults,
                enabled: vec![],
            }),
            keep_events: false,
            keep_report: false,
            detail: Detail::Protocol,
        };
        let limit = Duration::from_secs(10);
        let s = shrink(&job(faults), "pause_seen", 200, limit, None).unwrap();
        assert_eq!(s.original_faults, 5);
        assert!(!s.exhausted && !s.interrupted);
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

        // A plan that does not break the checker is refused, and so is a timeout.
        match shrink(&job(vec![]), "pause_seen", 200, limit, None) {
            Err(ShrinkError::NotReproduced(e)) => assert!(e.contains("does not reproduce")),
            other => panic!("{other:?}"),
        }
        match shrink(
            &job(vec![]),
            super::super::TIMEOUT_CHECKER,
            200,
            limit,
            None,
        ) {
            Err(ShrinkError::BadInput(e)) => assert!(e.contains("not shrunk"), "{e}"),
            other => panic!("{other:?}"),
        }
        // An interrupt before the first rerun ends leaves nothing to shrink.
        let cancel = AtomicBool::new(true);
        let plan = job(vec![Fault::Pause {
            at_ms: 3_000,
            duration_ms: 1_600,
            node: 2,
        }]);
        assert_eq!(
            shrink(&plan, "pause_seen", 200, limit, Some(&cancel)).unwrap_err(),
            ShrinkError::Interrupted
        );
    }
}
