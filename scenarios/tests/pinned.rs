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
    // The same, for a window taken late: n1's work thread, partitioned off when the fault
    // was armed (16.04 s), took it at 19.91 s, when the first request came after the
    // heal, and its window, clipped from the time it was armed, ran from there to 23.87 s.
    // A slow window now ends when every fault heals, whenever it was taken.
    ("demo", 1051426, "slow window taken late outlived the heal"),
];

#[test]
fn pinned_seeds_pass() {
    for (name, seed, _why) in PINNED {
        scenarios::assert_seed_passes(name, *seed);
    }
}
