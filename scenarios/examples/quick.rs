fn main() {
    let s = scenarios::find("demo").unwrap();
    let mutant = std::env::args().nth(2);
    let n: u64 = std::env::args().nth(1).map(|x| x.parse().unwrap()).unwrap_or(20);
    let t0 = std::time::Instant::now();
    let mut fails = 0;
    for seed in 0..n {
        let mut spec = sim::RunSpec::swarm(seed);
        spec.keep_events = seed == 0;
        let r = s.run(&spec, mutant.as_deref()).unwrap();
        if seed == 0 { print!("{}", &r.trace.text()[..2000.min(r.trace.text().len())]); println!("{}", r.plan.summary()); }
        if !r.passed() { fails += 1; if fails < 5 { println!("seed {seed}: {}", r.violations[0]); } }
        if seed < 3 { println!("seed {seed} hash {} events {} net {:?}", sim::hash_hex(r.trace.hash), r.trace.event_count, r.net); }
    }
    println!("{n} seeds, {fails} failures, {:?} per seed", t0.elapsed() / n as u32);
}
