//! ACK rounds under load keep every engine guarantee: several transactions in flight from
//! each coordinator, several coordinators, in both variants, under swarm faults; and
//! their floors stay lower bounds of what they measure.

use protocols::engine::ack_round::RoundLoad;
use protocols::engine::direct::RoundVariant;
use scenarios::bench::{AckBench, BenchFaults};
use sim::LinkLatency;

fn bench(variant: RoundVariant, concurrency: u32, coordinators: u32, seed: u64) -> AckBench {
    AckBench {
        variant,
        load: RoundLoad {
            concurrency,
            coordinators,
        },
        ..AckBench::new(
            5,
            300,
            BenchFaults::Swarm,
            LinkLatency {
                min_us: 1_000,
                max_us: 5_000,
            },
            seed,
        )
    }
}

#[test]
fn rounds_under_load_keep_every_guarantee_under_faults() {
    for variant in RoundVariant::ALL {
        for (k, c) in [(4, 1), (3, 2), (1, 3)] {
            for seed in [11, 12, 13] {
                let b = bench(variant, k, c, seed);
                let r = b.run().expect("bench run");
                assert!(
                    r.violations.is_empty(),
                    "{:?}\nreproduce: {}",
                    r.violations,
                    b.command()
                );
                assert!(r.stats.rounds > 0, "{}", b.command());
                assert_eq!(r.stats.floor_above_measured, 0, "{}", b.command());
            }
        }
    }
}

#[test]
fn every_coordinator_keeps_its_transactions_in_flight() {
    // Without faults or processing cost, throughput is rounds in flight over latency:
    // K transactions from each of C coordinators give about K x C times one's.
    let one = AckBench {
        faults: BenchFaults::None,
        ..bench(RoundVariant::Direct, 1, 1, 3)
    };
    let base = one.run().unwrap().stats.rounds_per_sim_s();
    for (k, c) in [(4, 1), (2, 2), (1, 4)] {
        let b = AckBench {
            load: RoundLoad {
                concurrency: k,
                coordinators: c,
            },
            ..one.clone()
        };
        let x = b.run().unwrap().stats.rounds_per_sim_s() / base;
        let want = f64::from(k * c);
        assert!(
            (x / want - 1.0).abs() < 0.15,
            "{k} in flight from {c} coordinators: {x:.2}x one's throughput"
        );
    }
}
