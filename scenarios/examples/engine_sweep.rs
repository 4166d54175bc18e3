//! Sweeps seeds of one scenario: `engine_sweep <scenario> <from> <to> [mutant]`.
//! Prints each failure, the count, and wall time per seed (median and mean).
//! `NODES=<n>` and `PRESET=fast|raft-like|corosync-like` resize an engine scenario.
use protocols::engine::CeConfig;
use sim::Scenario;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: Option<usize> = std::env::var("NODES").ok().map(|n| n.parse().unwrap());
    let preset = std::env::var("PRESET").ok();
    let s: std::sync::Arc<dyn Scenario> = if nodes.is_some() || preset.is_some() {
        let n = nodes.unwrap_or(5);
        let ce = CeConfig::preset(preset.as_deref().unwrap_or("fast"), n).expect("known preset");
        match args[1].as_str() {
            "membership" => std::sync::Arc::new(scenarios::membership::Membership {
                nodes: n,
                ce,
                ..Default::default()
            }),
            "ack-rounds" => std::sync::Arc::new(scenarios::ack_rounds::AckRounds {
                nodes: n,
                ce,
                ..Default::default()
            }),
            other => panic!("NODES/PRESET apply to engine scenarios, not {other}"),
        }
    } else {
        scenarios::find(&args[1]).unwrap()
    };
    let from: u64 = args[2].parse().unwrap();
    let to: u64 = args[3].parse().unwrap();
    let mutant = args.get(4).map(|s| s.as_str()).filter(|s| !s.is_empty());
    let verbose = std::env::var_os("VERBOSE").is_some();
    let stop_first = std::env::var_os("STOP_FIRST").is_some();
    let t0 = std::time::Instant::now();
    let mut fails = 0;
    let mut times = vec![];
    let mut events = 0u64;
    let mut sent = 0u64;
    for seed in from..to {
        let t = std::time::Instant::now();
        let r = s.run(&sim::RunSpec::swarm(seed), mutant).unwrap();
        times.push(t.elapsed());
        events += r.trace.event_count;
        sent += r.net.sent;
        if !r.passed() {
            fails += 1;
            if fails <= 10 || verbose {
                println!("seed {seed}: {}", r.violations[0]);
                if verbose {
                    println!("{}", r.plan.summary());
                }
            }
            if stop_first {
                println!("first failure at seed {seed} ({} seeds)", seed - from + 1);
                break;
            }
        }
    }
    let n = times.len() as u32;
    times.sort();
    println!(
        "{} seeds, {fails} failures, wall {:?}, median {:?}/seed, mean {:?}/seed, {} events/seed, {} msgs/seed",
        n,
        t0.elapsed(),
        times[times.len() / 2],
        t0.elapsed() / n,
        events / n as u64,
        sent / n as u64
    );
}
