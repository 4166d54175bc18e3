//! The catalog keeps its promises: every planted bug `clustersim list` shows under a
//! scenario is caught by that scenario's checkers within the first 1,000 swarm seeds, and
//! the same seeds pass without it.

use sim::world::RunSpec;

#[test]
fn every_listed_planted_bug_is_caught_within_1000_seeds() {
    for scenario in scenarios::catalog() {
        for mutant in scenario.mutants() {
            let caught = (0..1_000u64).find_map(|seed| {
                let r = scenario
                    .run(&RunSpec::swarm(seed), Some(mutant.name))
                    .unwrap();
                r.violations.first().map(|v| (seed, v.checker.clone()))
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
            // Without the bug the same seed must pass: the catch is the bug's doing.
            let clean = scenario.run(&RunSpec::swarm(seed), None).unwrap();
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
