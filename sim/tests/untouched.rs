//! `PlanConfig::untouched_nodes`: the network exempts an untouched node's links from every
//! network fault, while the same faults still reach the other nodes' links.

use sim::shell::{self, Machine, Node, Ticks};
use sim::{Envelope, Fault, NetConfig, PartitionSymmetry, RunSpec, WorldConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Node 0 sends one message to every other node each tick; the others count what arrives.
struct Sender;

impl Machine for Sender {
    type Msg = u64;
    type Local = ();
    fn on_message(&mut self, _: &mut Node<u64>, _: Envelope<u64>) {}
    fn on_tick(&mut self, node: &mut Node<u64>) {
        for to in 1..node.ctx().nodes() {
            node.send(to, node.now_ns());
        }
    }
}

struct Counter(Arc<Vec<AtomicU64>>);

impl Machine for Counter {
    type Msg = u64;
    type Local = ();
    fn on_message(&mut self, node: &mut Node<u64>, env: Envelope<u64>) {
        // Only what was sent during the faults, all of which last the whole safety phase.
        if env.msg < 1_000_000_000 {
            self.0[node.id()].fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(
            env.latency_ns,
            1_000_000,
            "a latency spike reached n{}",
            node.id()
        );
    }
    fn on_tick(&mut self, _: &mut Node<u64>) {}
}

#[test]
fn untouched_nodes_escape_network_faults() {
    let mut w = WorldConfig::new(3, 1_000, 100);
    w.net = NetConfig {
        latency: sim::LinkLatency {
            min_us: 1_000,
            max_us: 1_000,
        },
        ..NetConfig::default()
    };
    w.plan.untouched_nodes = vec![2];
    // Every network fault at once, over the whole safety phase, on every link.
    let all = |at_ms| {
        vec![
            Fault::PacketLoss {
                at_ms,
                duration_ms: 2_000,
                probability: 1.0,
            },
            Fault::Duplicate {
                at_ms,
                duration_ms: 2_000,
                probability: 1.0,
            },
            Fault::LatencySpike {
                at_ms,
                duration_ms: 2_000,
                node: 0,
                extra_latency_ms: 50,
            },
            Fault::Partition {
                at_ms,
                duration_ms: 2_000,
                side_a: vec![0],
                symmetry: PartitionSymmetry::Symmetric,
            },
        ]
    };
    let got = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
    let counts = got.clone();
    let r = sim::run_world(&w, &RunSpec::scripted(1, all(0)), vec![], move |ctx| {
        let counts = counts.clone();
        async move {
            let ticks = Ticks::every(Duration::from_millis(10));
            if ctx.id == 0 {
                shell::run(ctx, ticks, |_| Sender).await
            } else {
                shell::run(ctx, ticks, |_| Counter(counts)).await
            }
        }
    })
    .unwrap();
    assert!(r.passed(), "{:?}", r.violations);
    // n1 is cut off by the partition and the loss; n2 hears every tick once, undelayed.
    assert_eq!(got[1].load(Ordering::Relaxed), 0);
    let n2 = got[2].load(Ordering::Relaxed);
    assert!((95..=101).contains(&n2), "n2 got {n2} of about 100");
    // A given plan may not aim a clog at the untouched node.
    let clog = Fault::Clog {
        at_ms: 0,
        duration_ms: 10,
        a: 0,
        b: 2,
    };
    let e = sim::run_world(&w, &RunSpec::scripted(1, vec![clog]), vec![], |ctx| {
        shell::run(ctx, Ticks::none(), |_| Counter(Arc::new(vec![])))
    })
    .unwrap_err();
    assert!(e.contains("n2"), "{e}");
}
