//! How tight the engine's time bounds (`CeConfig::bounds`) are: runs seeds of every catalog
//! scenario that runs the engine, replays each trace into `notify_within` and
//! `ack_round_progress`, and prints per scenario the largest notification delay and
//! ACK-round phase, the bound each had, and the least slack any had left (of those whose
//! clock never stopped). Ignored by default: it measures, and asserts only that the seeds
//! pass. `BOUNDS_SEEDS=0..500 cargo test -p scenarios --test bounds -- --ignored --nocapture`.

use protocols::engine::checkers::{AckRoundProgress, NotifyWithin};
use protocols::engine::CeConfig;
use sim::{Checker, RunSpec};

const ENGINE: [(&str, usize); 7] = [
    ("membership", 5),
    ("ack-rounds", 5),
    ("ack-rounds-direct", 5),
    ("groups", 5),
    ("client-failover", 5),
    ("process-status", 5),
    ("kv-register", 5),
];

fn seeds() -> std::ops::Range<u64> {
    let s = std::env::var("BOUNDS_SEEDS").unwrap_or_else(|_| "0..50".to_string());
    let (a, b) = s.split_once("..").expect("BOUNDS_SEEDS=A..B");
    a.parse().expect("A")..b.parse().expect("B")
}

#[test]
#[ignore]
fn delays_against_their_bounds() {
    let cfg = CeConfig::fast();
    for (name, n) in ENGINE {
        let (mut count, mut max_delay, mut max_allowed_at, mut min_slack) = (0, 0, 0, i64::MAX);
        let mut slack_seed = 0;
        // The largest delay of a departure due by the detection bound alone (no disruption
        // settling, no clog): what the previous 1 s bound judged.
        let (quiet_ns, mut quiet_max) = (cfg.bounds(0, false).notify_ns, 0);
        let (mut rounds, mut round_max, mut round_slack) = (0, (0, 0), (i64::MAX, 0));
        for seed in seeds() {
            let mut spec = RunSpec::swarm(seed);
            spec.keep_events = true;
            let r = scenarios::run_alone(name, spec, None);
            assert!(r.passed(), "{name} seed {seed}: {}", r.violations[0]);
            let mut c = NotifyWithin::new(n, &cfg);
            let mut a = AckRoundProgress::new(n, &cfg, false);
            for (i, ev) in r.trace.events.iter().enumerate() {
                c.on_event(&ev.view(i as u64)).unwrap();
                a.on_event(&ev.view(i as u64)).unwrap();
            }
            for &(took, allowed) in &a.allowed {
                rounds += 1;
                if took > round_max.0 {
                    round_max = (took, allowed);
                }
                let slack = allowed as i64 - took as i64;
                if slack < round_slack.0 {
                    round_slack = (slack, seed);
                }
            }
            for (cause, delay, allowed) in &c.allowed {
                let (delay, allowed) = (*delay, *allowed);
                if allowed == quiet_ns {
                    quiet_max = quiet_max.max(delay);
                }
                if (allowed as i64 - delay as i64) < 150_000_000 {
                    println!(
                        "  {name} seed {seed}: {cause}: {:.0} of {:.0} ms",
                        delay as f64 / 1e6,
                        allowed as f64 / 1e6
                    );
                }
                count += 1;
                if delay > max_delay {
                    max_delay = delay;
                    max_allowed_at = allowed;
                }
                let slack = allowed as i64 - delay as i64;
                if slack < min_slack {
                    min_slack = slack;
                    slack_seed = seed;
                }
            }
        }
        println!(
            "{name:18} {count:6} timed; largest delay {:.0} ms (allowed {:.0} ms); least slack {:.0} ms (seed {slack_seed}); largest due by the detection bound alone {:.0} ms",
            max_delay as f64 / 1e6,
            max_allowed_at as f64 / 1e6,
            min_slack as f64 / 1e6,
            quiet_max as f64 / 1e6,
        );
        if rounds > 0 {
            println!(
                "{:18} {rounds:6} rounds; longest {:.0} ms (allowed {:.0} ms); least slack {:.0} ms (seed {})",
                "",
                round_max.0 as f64 / 1e6,
                round_max.1 as f64 / 1e6,
                round_slack.0 as f64 / 1e6,
                round_slack.1,
            );
        }
    }
}
