//! Runs seeds `0..N` of one scenario in this process, one OS thread per seed, and prints
//! failures and the wall time per seed. For measuring memory growth across many seeds:
//! `/usr/bin/time -v cargo run --release -p scenarios --example seeds -- demo 10000`.

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "demo".into());
    let n: u64 = args.next().and_then(|x| x.parse().ok()).unwrap_or(100);
    let mutant = args.next();
    if let Err(e) = scenarios::find(&name) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let t0 = std::time::Instant::now();
    let mut failures = 0;
    for seed in 0..n {
        let (name, mutant) = (name.clone(), mutant.clone());
        let report = std::thread::spawn(move || {
            let s = scenarios::find(&name).expect("checked above");
            s.run(&sim::RunSpec::swarm(seed), mutant.as_deref())
        })
        .join()
        .expect("seed thread");
        match report {
            Ok(r) if r.passed() => {}
            Ok(r) => {
                failures += 1;
                println!("seed {seed}: {}", r.violations[0]);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
    let per_seed = t0.elapsed() / n.max(1) as u32;
    println!("{n} seeds, {failures} failures, {per_seed:?} wall per seed");
}
