//! One large `membership` run: `engine_big <nodes> <simulated seconds> [seed]`. Prints wall
//! time, messages sent and messages per wall second.
use sim::Scenario;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).map(|x| x.parse().unwrap()).unwrap_or(64);
    let secs: u64 = args.get(2).map(|x| x.parse().unwrap()).unwrap_or(60);
    let seed: u64 = args.get(3).map(|x| x.parse().unwrap()).unwrap_or(1);
    let s = scenarios::membership::Membership {
        nodes,
        safety_ms: secs * 1000 * 2 / 3,
        liveness_ms: secs * 1000 / 3,
        ce: protocols::engine::CeConfig::fast(),
    };
    let t0 = std::time::Instant::now();
    let r = s.run(&sim::RunSpec::swarm(seed), None).unwrap();
    let wall = t0.elapsed();
    println!("{}", r.plan.summary());
    println!(
        "{nodes} nodes, {secs} simulated s, seed {seed}: wall {wall:?}, {} events, net {:?}, {:.0} messages per wall second, passed={}",
        r.trace.event_count,
        r.net,
        r.net.sent as f64 / wall.as_secs_f64(),
        r.passed()
    );
    for v in &r.violations {
        println!("VIOLATION {v}");
    }
}
