//! Prints the baseline rates side by side:
//! `cargo run --release -p benches --example baselines [NODES]`.
use benches::baselines::*;

fn main() {
    let nodes = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let ep = endpoint_fan_out(nodes, 200_000);
    let net = net_fan_out(nodes, 200_000);
    let heap = bare_heap_events(5_000_000, nodes);
    println!("{nodes}-node fan-out (a coordinator and its members):");
    println!(
        "madsim Endpoint           : {:>12.0} msgs/wall-s",
        ep.per_wall_s()
    );
    println!(
        "clustersim network model  : {:>12.0} msgs/wall-s ({:.2}x Endpoint)",
        net.per_wall_s(),
        net.per_wall_s() / ep.per_wall_s()
    );
    println!(
        "bare heap event loop      : {:>12.0} events/wall-s",
        heap.per_wall_s()
    );
}
