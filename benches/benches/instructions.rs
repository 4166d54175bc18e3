//! Instruction counts of the simulator's hot paths under callgrind (gungraun): exact and
//! repeatable, unlike wall time, so a change's cost shows as a number that does not move
//! with the machine. One 5-node ACK-round run, one `client-failover` seed, the network
//! model alone and madsim's `Endpoint` alone (the same fan-out pattern, so the last two
//! are the ceiling and the reference for the first).
//!
//! Run with `cargo bench -p benches --bench instructions` once `gungraun-runner` is
//! installed (CONTRIBUTING.md says how); divide by the delivered messages each prints.

use gungraun::{library_benchmark, library_benchmark_group, main};
use scenarios::bench::{AckBench, BenchFaults};
use std::hint::black_box;

/// Messages of the two fan-out baselines.
const FAN_OUT_MESSAGES: u64 = 20_000;

// 200 back-to-back ACK rounds on 5 nodes, no faults: returns the delivered messages.
#[library_benchmark]
fn ack_rounds_5_nodes() -> u64 {
    let b = AckBench::new(
        5,
        200,
        BenchFaults::None,
        sim::LinkLatency {
            min_us: 1_000,
            max_us: 5_000,
        },
        1,
    );
    black_box(b.run().expect("the benchmark runs").net.delivered)
}

// Swarm seed 1 of the `client-failover` scenario: returns the delivered messages.
#[library_benchmark]
fn client_failover_seed_1() -> u64 {
    let s = scenarios::find("client-failover").expect("a catalog scenario");
    let r = s.run(&sim::RunSpec::swarm(1), None).expect("the seed runs");
    black_box(r.net.delivered)
}

// The fan-out over clustersim's network model alone, 5 nodes.
#[library_benchmark]
fn network_model_fan_out() -> u64 {
    black_box(benches::baselines::net_fan_out(5, FAN_OUT_MESSAGES).count)
}

// The same fan-out over madsim's `Endpoint`, 5 nodes.
#[library_benchmark]
fn madsim_endpoint_fan_out() -> u64 {
    black_box(benches::baselines::endpoint_fan_out(5, FAN_OUT_MESSAGES).count)
}

// The `library_benchmark` macro takes no doc comments, hence plain comments above.
library_benchmark_group!(
    name = hot_paths,
    benchmarks = [
        ack_rounds_5_nodes,
        client_failover_seed_1,
        network_model_fan_out,
        madsim_endpoint_fan_out
    ]
);

main!(library_benchmark_groups = hot_paths);
