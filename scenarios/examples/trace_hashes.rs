//! Prints the trace hash, event count and verdict of swarm seeds `A..B` of catalog
//! scenarios, one `scenario seed hash events verdict` line each, to compare two builds' traces: a change that should move no trace passes when
//! `diff` finds nothing. `cargo run --release -p scenarios --example trace_hashes -- 0..100`
//! covers the whole catalog; scenario names after the range restrict it, and `MUTANT=BUG`
//! switches a planted bug on.

fn main() {
    let mut args = std::env::args().skip(1);
    let range = args.next().unwrap_or_else(|| "0..100".into());
    let seeds = match sim::sweep::SeedRange::parse(&range) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let names: Vec<String> = args.collect();
    let mutant = std::env::var("MUTANT").ok();
    let catalog = scenarios::catalog();
    for s in &catalog {
        if !names.is_empty() && !names.iter().any(|n| n == s.name()) {
            continue;
        }
        for k in 0..seeds.len() as u64 {
            let seed = seeds.seed(k);
            let name = s.name().to_string();
            let mutant = mutant.clone();
            let hash = std::thread::spawn(move || {
                let s = scenarios::find(&name).expect("a catalog scenario");
                s.run(&sim::RunSpec::swarm(seed), mutant.as_deref())
                    .map(|r| {
                        let verdict = r
                            .violations
                            .first()
                            .map_or("PASS".to_string(), |v| format!("FAIL:{}", v.checker));
                        (r.trace.hash, r.trace.event_count, verdict)
                    })
            })
            .join()
            .expect("seed thread");
            match hash {
                Ok((h, events, verdict)) => println!(
                    "{} {seed} {} {events} {verdict}",
                    s.name(),
                    sim::hash_hex(h)
                ),
                Err(e) => {
                    eprintln!("error: {} seed {seed}: {e}", s.name());
                    std::process::exit(2);
                }
            }
        }
    }
}
