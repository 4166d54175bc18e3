//! The ACK-round benchmark measures what it claims: with constant link latency every ordered
//! round's critical path is exactly its four one-way trips and a direct round's two, which
//! is also any round's protocol-independent floor; processing cost shows as excess over
//! the floors; the floors never exceed the measured latency, with or without faults; and
//! the simulated figures of a run are a function of its flags.

use protocols::engine::direct::RoundVariant;
use scenarios::bench::{AckBench, AckRun, BenchFaults};
use sim::{CostModel, LinkLatency, ServiceTime};

fn bench(nodes: usize, rounds: u64, faults: BenchFaults, min_us: u64, max_us: u64) -> AckBench {
    AckBench::new(nodes, rounds, faults, LinkLatency { min_us, max_us }, 11)
}

fn run(b: &AckBench) -> AckRun {
    let r = b.run().expect("bench run");
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.stats.floor_above_measured, 0, "a floor above its round");
    r
}

/// Whether every value of histogram `$h` is `$ns`, to the histogram's precision.
macro_rules! all_at {
    ($h:expr, $ns:expr) => {{
        let h = &$h;
        !h.is_empty() && h.equivalent(h.min(), $ns) && h.equivalent(h.max(), $ns)
    }};
}

#[test]
fn with_constant_latency_every_floor_is_four_trips() {
    // Order, report, stability announcement, ACK: 4 x 2 ms, in every round; any ACK
    // round needs only out and back, 2 x 2 ms.
    let r = run(&bench(5, 40, BenchFaults::None, 2_000, 2_000));
    assert_eq!(r.stats.rounds, 40);
    assert_eq!(r.stats.without_floor, 0);
    assert!(all_at!(r.stats.critical, 8_000_000));
    assert!(all_at!(r.stats.independent, 4_000_000));
    assert!(all_at!(r.stats.beyond_independent, 4_000_000));
    // Zero-processing means only madsim's 50-100 ns per task poll on top.
    assert!(r.stats.excess.max() < 20_000, "{}", r.stats.excess.max());
}

#[test]
fn a_direct_round_is_two_trips_and_both_floors_agree() {
    let b = AckBench {
        variant: RoundVariant::Direct,
        ..bench(5, 40, BenchFaults::None, 2_000, 2_000)
    };
    let r = run(&b);
    assert_eq!((r.stats.rounds, r.stats.without_floor), (40, 0));
    assert!(all_at!(r.stats.critical, 4_000_000));
    assert!(all_at!(r.stats.independent, 4_000_000));
    assert!(r.stats.excess.max() < 20_000, "{}", r.stats.excess.max());
}

#[test]
fn processing_cost_adds_its_service_time_to_every_round() {
    // One message per member per round, handled in parallel on every node: 300 us more
    // than the floor, whatever the floors are.
    let b = AckBench {
        cost: Some(CostModel {
            service: ServiceTime::Constant {
                service_time_us: 300,
            },
            cores_per_node: 1,
        }),
        ..bench(5, 40, BenchFaults::None, 2_000, 2_000)
    };
    let r = run(&b);
    assert!(
        r.stats.excess.min() >= 300_000 && r.stats.excess.max() < 320_000,
        "{}..{}",
        r.stats.excess.min(),
        r.stats.excess.max()
    );
}

#[test]
fn the_floor_is_a_lower_bound_under_faults() {
    for faults in [
        BenchFaults::Swarm,
        BenchFaults::Crash,
        BenchFaults::Partition,
    ] {
        let r = run(&bench(5, 60, faults, 1_000, 5_000));
        assert!(r.stats.rounds > 0, "{faults:?}");
        assert!(!r.stats.critical.is_empty(), "{faults:?}");
    }
}

/// Pinned runs whose floors once came out above their rounds: a round restarted on a view
/// change is multicast twice and each member ACKs twice (seed 11, swarm: the ACK must
/// count from the first delivery); a new coordinator runs an adopted round's commit again
/// under the same id (seed 191, partitions: the old coordinator's commit is not this one).
#[test]
fn pinned_floor_replays() {
    for (seed, faults, rounds) in [
        (11, BenchFaults::Swarm, 60),
        (191, BenchFaults::Partition, 400),
    ] {
        let b = AckBench {
            seed,
            ..bench(5, rounds, faults, 1_000, 5_000)
        };
        run(&b);
    }
}

#[test]
fn the_simulated_figures_repeat_bit_for_bit() {
    let b = bench(5, 80, BenchFaults::Swarm, 1_000, 5_000);
    let (a, c) = (run(&b), run(&b));
    assert_eq!(a.stats.latency, c.stats.latency);
    assert_eq!(a.stats.critical, c.stats.critical);
    assert_eq!(a.stats.independent, c.stats.independent);
    assert_eq!(a.stats.rounds, c.stats.rounds);
    assert_eq!(
        a.stats.rounds_per_sim_s().to_bits(),
        c.stats.rounds_per_sim_s().to_bits()
    );
    assert_eq!((a.sim_ns, a.net, a.events), (c.sim_ns, c.net, c.events));
    assert_eq!(a.plan, c.plan);
}

#[test]
fn fewer_nodes_than_a_round_needs_is_bad_input() {
    assert!(bench(1, 10, BenchFaults::None, 1_000, 5_000).run().is_err());
}
