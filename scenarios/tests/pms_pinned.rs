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

/// Thread 5000044/1 was placed on job 0.0.0 at 25.01 s, whose work thread hung (a fault
/// armed at 2.8 s fired only then); the restarted job 0.0.1 got it again at 27.61 s as
/// attempt 1 and hung too at 28.25 s, so at the end (30 s) it was still pending. Placed on its
/// last host after the settle cutoff, it owed nothing, but `every_thread_accounted` dated
/// a thread from its first record, attempt 0's, and blamed it. A record now dates from
/// its current attempt, and a work-thread fault still waiting when every fault heals is
/// dropped, so the liveness phase is fault-free (neither hang fires in this run now).
#[test]
fn seed_1012273_a_thread_placed_again_late_owes_nothing_from_its_first_placement() {
    passes(1012273);
}
