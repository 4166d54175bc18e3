//! Each fault kind takes effect, and only where it should: scripted worlds with a given
//! fault plan, checked against the recorded trace.

use sim::fault::{Fault, FaultPlan, PartitionSymmetry, WorkFaultMode};
use sim::world::{NodeCtx, PlanSource, RunReport, RunSpec, WorldConfig, WorldEvent};
use sim::{emit, NetConfig, NodeId, Recorded, SimDuration, SimTime};
use std::time::Duration;

const SEND_EVERY_MS: u64 = 10;

sim::trace_events! {
    /// What the test nodes do.
    enum T in "t" {
        /// A node started.
        Boot as "boot" {
            /// Its restarts so far.
            incarnation: u64,
        },
        /// A message arrived.
        Recv as "recv" {
            /// Its sender.
            from: NodeId,
            /// Its number.
            seq: u64,
            /// When it was sent.
            sent: SimTime,
            /// The latency the network model gave it.
            latency: SimDuration,
        },
        /// The node took a work-thread fault from its hook.
        WorkFault as "work_fault" {
            /// The work thread named.
            thread: u32,
            /// What it is told to do.
            mode: &'static str,
            /// How long a slow window lasts (0 for other modes).
            window: SimDuration,
        },
        /// A message left.
        Send as "send" {
            /// Its receiver.
            to: NodeId,
            /// Its number.
            seq: u64,
        },
        /// The node looked for work faults.
        Looked as "looked",
        /// A step of the work thread was no longer slowed.
        FastAgain as "fast_again",
    }
}

/// Every node sends a numbered message to every other node each 10 ms and records each
/// send and each delivery; it also polls its work-fault hook.
async fn chatter(ctx: NodeCtx<u64>) {
    let me = ctx.id;
    emit!(
        me,
        T::Boot {
            incarnation: ctx.incarnation
        }
    );
    let rx = ctx.clone();
    madsim::task::spawn_local(async move {
        loop {
            let env = rx.recv().await;
            emit!(
                rx.id,
                T::Recv {
                    from: env.from.into(),
                    seq: env.msg,
                    sent: SimTime(env.sent_ns),
                    latency: SimDuration(env.latency_ns),
                }
            );
        }
    });
    let mut seq = 0u64;
    loop {
        if let Some(f) = ctx.hook().take_for(0, 1) {
            let window_ms = match f.mode {
                WorkFaultMode::Slow { duration_ms, .. } => duration_ms,
                _ => 0,
            };
            emit!(
                me,
                T::WorkFault {
                    thread: f.thread,
                    mode: f.mode.name(),
                    window: SimDuration::from_ms(window_ms),
                }
            );
        }
        for to in 0..ctx.nodes() {
            if to != me {
                seq += 1;
                emit!(me, T::Send { to: to.into(), seq });
                ctx.send(to, seq);
            }
        }
        madsim::time::sleep(Duration::from_millis(SEND_EVERY_MS)).await;
    }
}

/// Seed 7 with exactly these faults, keeping its events.
fn given(faults: Vec<Fault>) -> RunSpec {
    RunSpec {
        seed: 7,
        plan: PlanSource::Given(FaultPlan {
            faults,
            enabled: vec![],
        }),
        keep_events: true,
        detail: sim::Detail::Protocol,
    }
}

fn run(nodes: usize, faults: Vec<Fault>, net: NetConfig) -> RunReport {
    let mut cfg = WorldConfig::new(nodes, 3_000, 1_000);
    cfg.net = net;
    sim::run_world(&cfg, &given(faults), vec![], chatter).expect("valid plan")
}

/// The test nodes' events, each with its record.
fn t_events(r: &RunReport) -> impl Iterator<Item = (&Recorded, &T)> {
    r.trace
        .events
        .iter()
        .filter_map(|e| Some((e, e.get::<T>()?)))
}

/// Each delivery: where and when it arrived, its sender, when it was sent, its latency.
struct Delivery {
    node: NodeId,
    t_ns: u64,
    from: NodeId,
    sent_ns: u64,
    latency_ns: u64,
}

fn recvs(r: &RunReport) -> impl Iterator<Item = Delivery> + '_ {
    t_events(r).filter_map(|(e, t)| match t {
        T::Recv {
            from,
            sent,
            latency,
            ..
        } => Some(Delivery {
            node: e.node,
            t_ns: e.t_ns,
            from: *from,
            sent_ns: sent.ns(),
            latency_ns: latency.ns(),
        }),
        _ => None,
    })
}

fn ms(e: &Recorded) -> u64 {
    e.t_ns / 1_000_000
}

/// Deliveries from `from` to `to` whose *send* happened inside [lo, hi) ms.
fn delivered_sent_between(r: &RunReport, from: u64, to: u64, lo: u64, hi: u64) -> usize {
    recvs(r)
        .filter(|d| d.node == NodeId(to) && d.from == NodeId(from))
        .filter(|d| {
            let sent = d.sent_ns / 1_000_000;
            sent >= lo && sent < hi
        })
        .count()
}

#[test]
fn partition_blocks_delivery_across_it_and_only_across_it() {
    let r = run(
        4,
        vec![Fault::Partition {
            at_ms: 1_000,
            duration_ms: 1_000,
            side_a: vec![0, 1],
            symmetry: PartitionSymmetry::Symmetric,
        }],
        NetConfig::default(),
    );
    // Nothing crosses while the partition is up (messages sent during it, or in flight
    // into it, are dropped)...
    for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
        assert_eq!(
            delivered_sent_between(&r, a, b, 1_000, 2_000),
            0,
            "{a}->{b}"
        );
        assert_eq!(
            delivered_sent_between(&r, b, a, 1_000, 2_000),
            0,
            "{b}->{a}"
        );
    }
    // ...while each side keeps talking among itself...
    for (a, b) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
        assert!(
            delivered_sent_between(&r, a, b, 1_000, 2_000) >= 95,
            "{a}->{b}"
        );
    }
    // ...and traffic crosses again once it heals.
    assert!(delivered_sent_between(&r, 0, 2, 2_010, 3_000) >= 95);
    assert!(r.net.dropped_partition > 0);
}

#[test]
fn one_way_partition_blocks_one_direction() {
    let r = run(
        3,
        vec![Fault::Partition {
            at_ms: 1_000,
            duration_ms: 1_000,
            side_a: vec![0],
            symmetry: PartitionSymmetry::OneWay,
        }],
        NetConfig::default(),
    );
    assert_eq!(delivered_sent_between(&r, 0, 1, 1_000, 2_000), 0);
    assert_eq!(delivered_sent_between(&r, 0, 2, 1_000, 2_000), 0);
    assert!(delivered_sent_between(&r, 1, 0, 1_000, 1_990) >= 95);
    assert!(delivered_sent_between(&r, 2, 0, 1_000, 1_990) >= 95);
}

#[test]
fn clog_blocks_one_link_both_ways() {
    let r = run(
        3,
        vec![Fault::Clog {
            at_ms: 1_000,
            duration_ms: 1_000,
            a: 0,
            b: 1,
        }],
        NetConfig::default(),
    );
    assert_eq!(delivered_sent_between(&r, 0, 1, 1_000, 2_000), 0);
    assert_eq!(delivered_sent_between(&r, 1, 0, 1_000, 2_000), 0);
    assert!(delivered_sent_between(&r, 0, 2, 1_000, 1_990) >= 95);
    assert!(delivered_sent_between(&r, 2, 1, 1_000, 1_990) >= 95);
}

#[test]
fn crash_stops_a_nodes_events_until_its_restart() {
    let r = run(
        3,
        vec![Fault::Crash {
            at_ms: 1_000,
            node: 1,
            restart_after_ms: Some(1_000),
        }],
        NetConfig::default(),
    );
    let n1: Vec<(&Recorded, &T)> = t_events(&r).filter(|(e, _)| e.node == NodeId(1)).collect();
    assert!(n1.iter().any(|(e, _)| ms(e) < 1_000));
    assert!(
        n1.iter().all(|(e, _)| ms(e) < 1_000 || ms(e) >= 2_000),
        "n1 emitted while down"
    );
    let (reboot, _) = n1
        .iter()
        .find(|(_, t)| **t == T::Boot { incarnation: 1 })
        .expect("n1 restarted");
    assert_eq!(ms(reboot), 2_000);
    // Messages to the down node are lost, not queued for its next life.
    assert_eq!(delivered_sent_between(&r, 0, 1, 1_000, 2_000), 0);
    assert!(r.net.dropped_down > 0);
    assert!(delivered_sent_between(&r, 0, 1, 2_010, 3_000) >= 95);
}

#[test]
fn a_permanent_crash_stays_down_through_the_liveness_phase() {
    let r = run(
        3,
        vec![Fault::Crash {
            at_ms: 500,
            node: 2,
            restart_after_ms: None,
        }],
        NetConfig::default(),
    );
    assert!(!t_events(&r).any(|(e, _)| e.node == NodeId(2) && ms(e) >= 500));
    let live = r
        .trace
        .events
        .iter()
        .find_map(|e| match e.get::<WorldEvent>() {
            Some(WorldEvent::End { live, .. }) => Some(*live),
            _ => None,
        })
        .unwrap();
    assert_eq!(live, 2);
}

#[test]
fn duplication_delivers_twice() {
    let r = run(
        2,
        vec![Fault::Duplicate {
            at_ms: 1_000,
            duration_ms: 1_000,
            probability: 1.0,
        }],
        NetConfig::default(),
    );
    let sends = |r: &RunReport, lo: u64, hi: u64| {
        t_events(r)
            .filter(|(e, t)| {
                matches!(t, T::Send { .. }) && e.node == NodeId(0) && (lo..hi).contains(&ms(e))
            })
            .count()
    };
    let sent = sends(&r, 1_000, 2_000);
    assert!(sent >= 95);
    assert_eq!(delivered_sent_between(&r, 0, 1, 1_000, 2_000), 2 * sent);
    // Outside the window, exactly once.
    let before = sends(&r, 0, 990);
    assert_eq!(delivered_sent_between(&r, 0, 1, 0, 990), before);
}

#[test]
fn packet_loss_drops_messages() {
    let r = run(
        2,
        vec![Fault::PacketLoss {
            at_ms: 1_000,
            duration_ms: 1_000,
            probability: 1.0,
        }],
        NetConfig::default(),
    );
    assert_eq!(delivered_sent_between(&r, 0, 1, 1_000, 2_000), 0);
    assert!(delivered_sent_between(&r, 0, 1, 2_000, 2_990) >= 95);
    assert!(r.net.dropped_loss >= 190);
}

#[test]
fn latency_comes_from_the_model_and_spikes_add_to_it() {
    let net = NetConfig {
        latency: sim::LinkLatency {
            min_us: 2_000,
            max_us: 4_000,
        },
        overrides: vec![],
    };
    let r = run(
        2,
        vec![Fault::LatencySpike {
            at_ms: 1_000,
            duration_ms: 1_000,
            node: 1,
            extra_latency_ms: 50,
        }],
        net,
    );
    for d in recvs(&r) {
        let (sent, modelled) = (d.sent_ns, d.latency_ns);
        let observed = d.t_ns - sent;
        // Delivery happens at the modelled time, up to madsim's per-poll scheduling steps.
        assert!(
            observed >= modelled && observed - modelled < 20_000,
            "{sent} {modelled} {observed}"
        );
        let spiked = (1_000..2_000).contains(&(sent / 1_000_000));
        let (lo, hi) = if spiked {
            (52_000_000, 54_000_000)
        } else {
            (2_000_000, 4_000_000)
        };
        assert!(modelled >= lo && modelled <= hi, "{sent} {modelled}");
    }
}

#[test]
fn pause_delays_a_nodes_work_and_its_deliveries() {
    let r = run(
        2,
        vec![Fault::Pause {
            at_ms: 1_000,
            duration_ms: 500,
            node: 1,
        }],
        NetConfig::default(),
    );
    let n1 = |lo, hi| {
        t_events(&r)
            .filter(|(e, _)| e.node == NodeId(1) && (lo..hi).contains(&ms(e)))
            .count()
    };
    assert_eq!(n1(1_001, 1_500), 0, "a paused node does nothing");
    assert!(n1(1_500, 1_510) > 0, "it resumes");
    // What was sent to it while paused arrives late, not never.
    let late = recvs(&r)
        .filter(|d| d.node == NodeId(1))
        .filter(|d| (1_010..1_490).contains(&(d.sent_ns / 1_000_000)))
        .collect::<Vec<_>>();
    assert!(late.len() >= 45);
    assert!(late.iter().all(|d| d.t_ns >= 1_500_000_000));
}

#[test]
fn a_work_thread_fault_reaches_the_hook() {
    let r = run(
        2,
        vec![
            Fault::WorkThread {
                at_ms: 1_234,
                node: 1,
                thread: 0,
                mode: WorkFaultMode::Hang,
            },
            Fault::WorkThread {
                at_ms: 1_500,
                node: 0,
                thread: 0,
                mode: WorkFaultMode::Slow {
                    delay_ms: 5,
                    duration_ms: 100,
                },
            },
        ],
        NetConfig::default(),
    );
    let got: Vec<(NodeId, u64, &str)> = t_events(&r)
        .filter_map(|(e, t)| match t {
            T::WorkFault { mode, .. } => Some((e.node, ms(e), *mode)),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].2), (NodeId(1), "hang"));
    assert!((1_234..1_245).contains(&got[0].1));
    assert_eq!((got[1].0, got[1].2), (NodeId(0), "slow"));
}

#[test]
fn a_plan_that_does_not_fit_the_world_is_rejected() {
    let cfg = WorldConfig::new(3, 1_000, 100);
    let spec = given(vec![Fault::Pause {
        at_ms: 1,
        duration_ms: 1,
        node: 3,
    }]);
    let err = sim::run_world(&cfg, &spec, vec![], chatter).unwrap_err();
    assert!(err.contains("n3"), "{err}");
}

#[test]
fn a_slow_window_is_clipped_to_the_safety_phase() {
    // The safety phase of `run` ends at 3 000 ms: a window from 2 500 ms lasts 500 ms.
    let r = run(
        2,
        vec![Fault::WorkThread {
            at_ms: 2_500,
            node: 0,
            thread: 0,
            mode: WorkFaultMode::Slow {
                delay_ms: 5,
                duration_ms: 10_000,
            },
        }],
        NetConfig::default(),
    );
    let window = t_events(&r)
        .find_map(|(_, t)| match t {
            T::WorkFault { window, .. } => Some(*window),
            _ => None,
        })
        .unwrap();
    assert_eq!(window, SimDuration::from_ms(500));
}

/// A node whose work thread first looks for faults at `MS`, then takes all it finds.
async fn takes_work_faults_at<const MS: u64>(ctx: NodeCtx<u64>) {
    madsim::time::sleep(Duration::from_millis(MS)).await;
    while let Some(f) = ctx.hook().take() {
        emit!(
            ctx.id,
            T::WorkFault {
                thread: f.thread,
                mode: f.mode.name(),
                window: SimDuration(0),
            }
        );
    }
    emit!(ctx.id, T::Looked);
}

#[test]
fn a_work_thread_fault_not_taken_in_the_safety_phase_never_fires() {
    // The safety phase of `run` ends at 3 000 ms; the fault is armed at 1 000 ms.
    let hang_at_1s = || {
        vec![Fault::WorkThread {
            at_ms: 1_000,
            node: 0,
            thread: 0,
            mode: WorkFaultMode::Hang,
        }]
    };
    let taken = |node_main_late: bool| {
        let cfg = WorldConfig::new(1, 3_000, 1_000);
        let spec = given(hang_at_1s());
        let r = if node_main_late {
            sim::run_world(&cfg, &spec, vec![], takes_work_faults_at::<3_500>)
        } else {
            sim::run_world(&cfg, &spec, vec![], takes_work_faults_at::<2_500>)
        }
        .expect("valid plan");
        assert!(t_events(&r).any(|(_, t)| *t == T::Looked));
        t_events(&r)
            .filter(|(_, t)| matches!(t, T::WorkFault { .. }))
            .count()
    };
    assert_eq!(taken(false), 1, "taken in the safety phase, it fires");
    assert_eq!(
        taken(true),
        0,
        "still waiting when every fault heals, it is dropped"
    );
}

/// A node whose work thread first looks for faults at 2 500 ms, applies what it takes,
/// then steps until a step is no longer slowed, and records when that was.
async fn slowed_from_2_5s(ctx: NodeCtx<u64>) {
    madsim::time::sleep(Duration::from_millis(2_500)).await;
    let mut faults = sim::WorkFaultResponse::default();
    faults.apply(ctx.hook().take()).await.expect("a slow fault");
    loop {
        let before = sim::clock::now_ns();
        faults.apply(None).await.expect("no fault");
        if sim::clock::now_ns() == before {
            emit!(ctx.id, T::FastAgain);
            return;
        }
    }
}

#[test]
fn a_slow_window_taken_late_still_ends_when_every_fault_heals() {
    // Armed at 1 000 ms for 10 s, the window is clipped to 2 000 ms; taken at 2 500 ms,
    // it must still end at the heal (3 000 ms), not at 4 500 ms.
    let cfg = WorldConfig::new(1, 3_000, 3_000);
    let spec = given(vec![Fault::WorkThread {
        at_ms: 1_000,
        node: 0,
        thread: 0,
        mode: WorkFaultMode::Slow {
            delay_ms: 50,
            duration_ms: 10_000,
        },
    }]);
    let r = sim::run_world(&cfg, &spec, vec![], slowed_from_2_5s).expect("valid plan");
    let (fast, _) = t_events(&r)
        .find(|(_, t)| **t == T::FastAgain)
        .expect("the window ends within the run");
    assert!(
        (3_000..3_060).contains(&ms(fast)),
        "slowed until {} ms",
        ms(fast)
    );
}
