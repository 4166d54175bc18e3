//! One baseline and nothing else, for a profiler, so that the instructions per message of
//! a baseline can be set beside `profile_ack`'s:
//! `cargo build --release -p benches --example profile_baseline` then
//! `valgrind --tool=callgrind target/release/examples/profile_baseline endpoint|net [NODES] [MESSAGES]`.
fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "net".to_string());
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (nodes, messages) = (arg(2, 5) as usize, arg(3, 20_000));
    let rate = match which.as_str() {
        "endpoint" => benches::baselines::endpoint_fan_out(nodes, messages),
        "net" => benches::baselines::net_fan_out(nodes, messages),
        other => panic!("unknown baseline '{other}': endpoint or net"),
    };
    println!(
        "{which}: {} messages, {:.3} wall s, {:.0} msgs/wall-s",
        rate.count,
        rate.wall.as_secs_f64(),
        rate.per_wall_s()
    );
}
