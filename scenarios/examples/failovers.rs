//! Counts the seeds of `client-failover` in which the serving master moved to another node
//! (a failover, or a failback when a lower node returns), over seeds `A..B`, on two
//! threads: `cargo run --release -p scenarios --example failovers -- 0 2000`.

use scenarios::client_failover::{master_moves, ClientFailover};
use sim::{RunSpec, Scenario};

fn main() {
    let mut args = std::env::args().skip(1);
    let from: u64 = args.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let to: u64 = args.next().and_then(|x| x.parse().ok()).unwrap_or(200);
    if to <= from {
        eprintln!("error: the range {from}..{to} is empty");
        std::process::exit(2);
    }
    let workers: Vec<_> = (0..2u64)
        .map(|w| {
            std::thread::Builder::new()
                .stack_size(16 << 20)
                .spawn(move || {
                    let mut out = Vec::new();
                    for seed in (from + w..to).step_by(2) {
                        let mut spec = RunSpec::swarm(seed);
                        spec.keep_events = true;
                        let r = ClientFailover::default()
                            .run(&spec, None)
                            .expect("a generated plan fits");
                        out.push((seed, master_moves(&r.trace), r.passed()));
                    }
                    out
                })
                .expect("spawn")
        })
        .collect();
    let results: Vec<(u64, usize, bool)> = workers
        .into_iter()
        .flat_map(|h| h.join().expect("worker"))
        .collect();
    let n = results.len();
    let with = results.iter().filter(|(_, m, _)| *m > 0).count();
    let moves: usize = results.iter().map(|(_, m, _)| m).sum();
    let failed = results.iter().filter(|(_, _, ok)| !ok).count();
    println!(
        "seeds {from}..{to}: {with} of {n} ({:.1}%) had a master failover; {moves} master moves in all; {failed} failed",
        100.0 * with as f64 / n as f64
    );
}
