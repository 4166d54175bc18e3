//! Seeds that once failed, pinned so the bug they found stays fixed. Each entry says what
//! the bug was. Reproduce one with `clustersim run SCENARIO --seed N`.

/// (scenario, seed, what went wrong)
const PINNED: &[(&str, u64, &str)] = &[
    // A `slow` work-thread fault whose window outlived the safety phase kept the work
    // thread slow into the liveness phase, so requests were lost after the heal. The
    // world now clips the window to the end of the safety phase.
    ("demo", 379, "slow work thread outlived the heal"),
    ("demo", 1770, "slow work thread outlived the heal"),
    ("demo", 2143, "slow work thread outlived the heal"),
    ("demo", 9414, "slow work thread outlived the heal"),
];

#[test]
fn pinned_seeds_pass() {
    for (name, seed, _why) in PINNED {
        scenarios::assert_seed_passes(name, *seed);
    }
}
