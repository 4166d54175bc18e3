//! One ACK-round benchmark run and nothing else, for a profiler:
//! `cargo build --release -p benches --example profile_ack` then
//! `valgrind --tool=callgrind target/release/examples/profile_ack [NODES] [ROUNDS]`, or
//! `... profile_ack catalog [NODES] [TIMES]` for the `ack-rounds` scenario at the catalog's
//! pace (the run behind `catalog_pace_sim_per_wall`), `TIMES` runs in a row.
fn main() {
    let catalog = std::env::args().nth(1).as_deref() == Some("catalog");
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i + usize::from(catalog))
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let b = scenarios::bench::AckBench::new(
        arg(1, 5) as usize,
        arg(2, 2_000),
        scenarios::bench::BenchFaults::None,
        sim::LinkLatency {
            min_us: 1_000,
            max_us: 5_000,
        },
        1,
    );
    if catalog {
        for _ in 0..arg(2, 1) {
            let x = b.catalog_pace_sim_per_wall().expect("run");
            println!("catalog pace: {x:.0}x");
        }
        return;
    }
    let polls = sim::task::polls();
    let r = b.run().expect("run");
    let polls = sim::task::polls() - polls;
    println!(
        "{} rounds, {} events, {:.3} sim s, {:.3} wall s, {:.0}x, {} delivered, {:.0} msgs/wall-s, {:.2} polls/msg",
        r.stats.rounds,
        r.events,
        r.sim_ns as f64 / 1e9,
        r.wall.as_secs_f64(),
        r.sim_per_wall(),
        r.net.delivered,
        r.msgs_per_wall_s(),
        polls as f64 / r.net.delivered.max(1) as f64
    );
}
