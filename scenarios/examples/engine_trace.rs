//! Prints the trace of one seed: `engine_trace <scenario> <seed> [mutant] [grep]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let s = scenarios::find(&args[1]).unwrap();
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
