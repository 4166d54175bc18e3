//! criterion benches of the simulator's hot paths: fault-plan generation, trace hashing,
//! the network (ours beside madsim's `Endpoint`), one simulated second of the `membership`
//! scenario at 5 and 33 nodes, and ACK rounds of the engine.
//! Run with `cargo bench -p benches` (or `cargo bench -p benches -- membership` for one).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use scenarios::bench::{membership_run, AckBench, BenchFaults};
use scenarios::demo::{DemoEvent, RequestId};
use sim::event::{event_hash, NodeId};
use sim::fault::{FaultPlan, PlanConfig};

fn plan_generation(c: &mut Criterion) {
    let cfg = PlanConfig::new(5, 20_000);
    let mut seed = 0u64;
    c.bench_function("fault_plan/generate_5_nodes_swarm", |b| {
        b.iter(|| {
            seed += 1;
            black_box(FaultPlan::generate(seed, &cfg, true))
        })
    });
}

fn trace_hashing(c: &mut Criterion) {
    // A typical event, hashed as the recorder hashes every event it records.
    let ev = DemoEvent::Request {
        id: RequestId::new(2, 0, 1),
        to: NodeId(3),
    };
    let mut g = c.benchmark_group("trace_hash");
    g.throughput(Throughput::Elements(1));
    g.bench_function("demo_request_event", |b| {
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            black_box(event_hash(t, NodeId(3), black_box(&ev)))
        })
    });
    g.finish();
}

fn network(c: &mut Criterion) {
    let mut g = c.benchmark_group("network");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_function("net_fan_out_5_nodes_10k_msgs", |b| {
        b.iter(|| black_box(benches::baselines::net_fan_out(5, 10_000)))
    });
    g.bench_function("madsim_endpoint_fan_out_5_nodes_10k_msgs", |b| {
        b.iter(|| black_box(benches::baselines::endpoint_fan_out(5, 10_000)))
    });
    g.finish();
}

fn membership(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership");
    g.sample_size(10);
    for nodes in [5, 33] {
        g.bench_function(format!("one_simulated_second_{nodes}_nodes"), |b| {
            b.iter(|| black_box(membership_run(nodes, 1_000, 1)))
        });
    }
    g.finish();
}

fn ack_round(c: &mut Criterion) {
    // A run pays for view formation once; over 200 rounds that is a few percent.
    const ROUNDS: u64 = 200;
    let bench = AckBench::new(
        5,
        ROUNDS,
        BenchFaults::None,
        sim::LinkLatency {
            min_us: 1_000,
            max_us: 5_000,
        },
        1,
    );
    let mut g = c.benchmark_group("ack_round");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROUNDS));
    g.bench_function("5_nodes_per_round", |b| {
        b.iter(|| black_box(bench.run().expect("bench run")))
    });
    g.finish();
}

criterion_group!(
    hot,
    plan_generation,
    trace_hashing,
    network,
    membership,
    ack_round
);
criterion_main!(hot);
