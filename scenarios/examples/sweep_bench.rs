//! Measures the sweep engine: the CPU time of one seed, and how seeds per second scale
//! from one worker to two. A measurement, not a test: nothing here asserts a time.
//!
//! `cargo run --release -p scenarios --example sweep_bench -- [SCENARIO] [SEEDS] [ROUNDS]`
//! (defaults: demo, 2000, 3). Rounds alternate `--jobs 1` and `--jobs 2` over the same
//! seeds so that load from other processes hits both alike; the report gives each round
//! and the median ratio, with the cores each sweep actually got (CPU time over wall time),
//! since on a shared machine `--jobs 2` may not get two.

use sim::sweep::{self, SeedRange, SweepConfig, SweepTarget};

/// This process's CPU time (user + system) so far, from `/proc/self/stat` (Linux; 0
/// elsewhere). Compared with wall time it shows how many cores a sweep actually got, which
/// on a shared machine can be fewer than `--jobs`.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "demo".into());
    let seeds: u64 = args.next().and_then(|x| x.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.next().and_then(|x| x.parse().ok()).unwrap_or(3);
    let scenario: sweep::ScenarioRef = match scenarios::find(&name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let w = scenario.world();
    println!(
        "{name}: {} nodes, {:.0}s simulated per seed, {seeds} seeds per sweep, {rounds} rounds",
        w.nodes,
        w.total_ms() as f64 / 1e3
    );
    let targets = [SweepTarget {
        scenario,
        mutant: None,
    }];
    let run = |workers: usize| {
        let cfg = SweepConfig {
            workers,
            keep_going: true,
            ..SweepConfig::default()
        };
        let c0 = cpu_s();
        let range = SeedRange {
            start: 0,
            end: u128::from(seeds),
        };
        let stats = sweep::sweep(&targets, range, &cfg, |_| {}).stats();
        let cores = (cpu_s() - c0) / stats.wall.as_secs_f64();
        (stats, cores)
    };
    let (mut one, mut two, mut ratios, mut medians) = (vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        let (a, a_cores) = run(1);
        let (b, b_cores) = run(2);
        println!(
            "round {round}: --jobs 1 {:6.1} seeds/s on {a_cores:.2} cores (one seed: median {:.2}ms, p99 {:.2}ms) | --jobs 2 {:6.1} seeds/s on {b_cores:.2} cores (median {:.2}ms) | ratio {:.2}",
            a.seeds_per_s(),
            a.cpu_median.as_secs_f64() * 1e3,
            a.cpu_p99.as_secs_f64() * 1e3,
            b.seeds_per_s(),
            b.cpu_median.as_secs_f64() * 1e3,
            b.seeds_per_s() / a.seeds_per_s()
        );
        medians.push(a.cpu_median.as_secs_f64() * 1e3);
        ratios.push(b.seeds_per_s() / a.seeds_per_s());
        one.push(a.seeds_per_s());
        two.push(b.seeds_per_s());
    }
    println!(
        "median over rounds: one seed {:.2}ms CPU; --jobs 1 {:.1} seeds/s; --jobs 2 {:.1} seeds/s; ratio {:.2}",
        median(&mut medians),
        median(&mut one),
        median(&mut two),
        median(&mut ratios)
    );
}
