//! Prints the trace of one seed: `engine_trace <scenario> <seed> [mutant] [grep]`.
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
    let seed: u64 = args[2].parse().unwrap();
    let mutant = args.get(3).map(|s| s.as_str()).filter(|s| !s.is_empty());
    let grep = args.get(4).cloned();
    let mut spec = sim::RunSpec::swarm(seed);
    spec.keep_events = true;
    let r = s.run(&spec, mutant).unwrap();
    println!("{}", r.plan.summary());
    for line in r.trace.text().lines() {
        if grep
            .as_ref()
            .map(|g| g.split('|').any(|g| line.contains(g)))
            .unwrap_or(true)
        {
            println!("{line}");
        }
    }
    for v in &r.violations {
        println!("VIOLATION {v}");
    }
    println!("net {:?}", r.net);
}
