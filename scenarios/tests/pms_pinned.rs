//! Pinned failing seeds of the `process-status` scenario, kept passing. Each test says
//! what went wrong before the fix. Reproduce one with `clustersim run process-status --seed N`.

fn passes(seed: u64) {
    scenarios::assert_seed_passes("process-status", seed);
}

/// A one-way partition cut n0 off from the others' hearing; its proposals went unanswered
/// and it shut every silent node out for four failure timeouts. Healed, it was the lowest
/// live node, so the others waited for it to coordinate, but it stood alone and could not
/// propose: a partition of n2 went unnoticed for 1.1 s. A coordinator now shuts silent
/// nodes out only when the rest still form a majority (scripted in `tests/engine.rs`).
#[test]
fn seed_201_a_coordinator_left_alone_does_not_shut_everyone_out() {
    passes(201);
}
