//! The catalog keeps its promises: every planted bug `clustersim list` shows under a
//! scenario is caught within the first 1,000 swarm seeds, by that scenario's checkers or
//! (a bug that hangs the simulation) as a timeout, and the same seeds pass without it.

use sim::sweep::{run_seed, SeedJob, Verdict};
use std::time::Duration;

/// Far above any seed's CPU time here; a seed that spins for ever is given up after it.
const SEED_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn every_listed_planted_bug_is_caught_within_1000_seeds() {
    for scenario in scenarios::catalog() {
        let names = scenario.checkers();
        for mutant in scenario.mutants() {
            let caught = (0..1_000u64).find_map(|seed| {
                let job =
                    SeedJob::generated(scenario.clone(), seed, Some(mutant.name.into()), true);
                let o = run_seed(&job, SEED_LIMIT, None);
                assert!(
                    !matches!(o.verdict, Verdict::BadInput(_) | Verdict::Interrupted),
                    "{:?}",
                    o.verdict
                );
                o.verdict.finding().map(|v| (seed, v.checker))
            });
            let (seed, checker) = caught.unwrap_or_else(|| {
                panic!(
                    "{} lists planted bug {} but seeds 0..1000 never catch it; \
                     reproduce: clustersim sweep {} --mutant {} --seeds 0..1000",
                    scenario.name(),
                    mutant.name,
                    scenario.name(),
                    mutant.name
                )
            });
            assert!(
                names.contains(&checker.as_str()) || checker == sim::sweep::TIMEOUT_CHECKER,
                "{}: {checker} is not among the checkers the scenario lists: {names:?}",
                scenario.name()
            );
            // Without the bug the same seed must pass: the catch is the bug's doing.
            let clean = scenario.run(&sim::RunSpec::swarm(seed), None).unwrap();
            assert!(
                clean.passed(),
                "{} seed {seed} fails without {}: {}",
                scenario.name(),
                mutant.name,
                clean.violations[0]
            );
            eprintln!(
                "{}: {} caught at seed {seed} by {checker}",
                scenario.name(),
                mutant.name
            );
        }
    }
}
