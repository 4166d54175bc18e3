//! Prints the baseline rates side by side: `cargo run --release -p benches --example baselines`.
use benches::baselines::*;

fn main() {
    let ep = endpoint_ping_pong(200_000);
    let net = net_ping_pong(200_000);
    let heap = bare_heap_events(5_000_000, 64);
    println!(
        "madsim Endpoint ping-pong : {:>12.0} msgs/wall-s",
        ep.per_wall_s()
    );
    println!(
        "clustersim net ping-pong  : {:>12.0} msgs/wall-s ({:.2}x Endpoint)",
        net.per_wall_s(),
        net.per_wall_s() / ep.per_wall_s()
    );
    println!(
        "bare heap event loop      : {:>12.0} events/wall-s",
        heap.per_wall_s()
    );
}
