//! criterion benches of the simulator's hot paths: fault-plan generation, trace hashing,
//! one network hop, and a whole seed of the demo scenario.
//! Run with `cargo bench -p benches`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sim::fault::{FaultPlan, PlanConfig};
use sim::trace::StableHash;

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
    // A typical trace line, repeated: hashing cost per byte is what matters.
    let line = "      1234.567us n3    demo.request id=562949953421313 to=3\n";
    let buf: Vec<u8> = line.bytes().cycle().take(1 << 20).collect();
    let mut g = c.benchmark_group("trace_hash");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("fnv1a_1MiB", |b| b.iter(|| black_box(StableHash::of(&buf))));
    g.finish();
}

fn network(c: &mut Criterion) {
    let mut g = c.benchmark_group("network");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_function("net_ping_pong_10k_msgs", |b| {
        b.iter(|| black_box(benches::baselines::net_ping_pong(10_000)))
    });
    g.bench_function("madsim_endpoint_ping_pong_10k_msgs", |b| {
        b.iter(|| black_box(benches::baselines::endpoint_ping_pong(10_000)))
    });
    g.finish();
}

criterion_group!(hot, plan_generation, trace_hashing, network);
criterion_main!(hot);
