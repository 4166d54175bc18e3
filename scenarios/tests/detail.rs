//! Recording detail never changes a run: with `--detail net` every scenario's seeds give
//! the same protocol-level events, verdicts and trace hashes as without it, and the net
//! events they add are consistent (every delivery and in-flight drop follows its send).
//!
//! `CLUSTERSIM_DETAIL_SEEDS=N` checks N seeds per scenario (default 25; the full check
//! before a change to the network model or the recorder is 200).

use sim::event::NodeId;
use sim::net::NetEvent;
use sim::world::{PlanSource, RunReport, RunSpec};
use sim::Detail;
use std::collections::BTreeMap;

fn seeds() -> u64 {
    std::env::var("CLUSTERSIM_DETAIL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25)
}

fn run(scenario: &str, seed: u64, detail: Detail) -> RunReport {
    let scenario = scenario.to_string();
    // One OS thread per run, as a sweep runs seeds.
    std::thread::spawn(move || {
        let s = scenarios::find(&scenario).unwrap();
        let spec = RunSpec {
            seed,
            plan: PlanSource::Generate { swarm: true },
            keep_events: true,
            detail,
        };
        s.run(&spec, None).unwrap()
    })
    .join()
    .unwrap()
}

/// The run with net detail is the run without it, and its net events hang together.
fn check_seed(scenario: &str, seed: u64) -> usize {
    let plain = run(scenario, seed, Detail::Protocol);
    let net = run(scenario, seed, Detail::Net);
    let what = format!("{scenario} seed {seed} (clustersim run {scenario} --seed {seed})");
    assert!(
        plain.trace.detail.is_empty(),
        "{what}: detail without asking"
    );
    assert_eq!(plain.trace.hash, net.trace.hash, "{what}: the hash moved");
    assert_eq!(plain.trace.event_count, net.trace.event_count, "{what}");
    assert_eq!(plain.trace.events, net.trace.events, "{what}: events moved");
    assert_eq!(
        plain.violations, net.violations,
        "{what}: the verdict moved"
    );
    assert!(!net.trace.detail.is_empty(), "{what}: no net events");

    // Every delivery and every drop at the receiver follows the send of its message, to
    // that receiver, from that sender.
    let mut sent: BTreeMap<u64, (NodeId, NodeId)> = BTreeMap::new();
    let mut last_after = 0;
    for d in &net.trace.detail {
        assert!(d.after >= last_after, "{what}: detail events out of order");
        assert!(d.after <= net.trace.event_count, "{what}");
        last_after = d.after;
        let ev = d.event.view(0);
        match ev
            .get::<NetEvent>()
            .unwrap_or_else(|| panic!("{what}: {ev} is no net event"))
        {
            NetEvent::Send { msg, to, .. } => {
                assert!(
                    sent.insert(msg.0, (d.event.node, *to)).is_none(),
                    "{what}: {ev}"
                );
            }
            NetEvent::Deliver { msg, from, .. } => {
                let (s, r) = sent[&msg.0];
                assert_eq!((s, r), (*from, d.event.node), "{what}: {ev}");
            }
            NetEvent::Drop { msg, from, to, .. } => {
                assert_eq!(sent[&msg.0], (*from, *to), "{what}: {ev}");
            }
            NetEvent::Duplicate { msg } | NetEvent::Delay { msg, .. } => {
                assert!(sent.contains_key(&msg.0), "{what}: {ev}");
            }
        }
    }
    net.trace.detail.len()
}

#[test]
fn net_detail_changes_no_run_of_any_scenario() {
    let n = seeds();
    let names: Vec<&str> = scenarios::catalog().iter().map(|s| s.name()).collect();
    let jobs: Vec<(&str, u64)> = names
        .iter()
        .flat_map(|&s| (0..n).map(move |seed| (s, seed)))
        .collect();
    // Two workers: the seeds are independent, and the test suite shares two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let events: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut total = 0;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(s, seed)) = jobs.get(i) else {
                            return total;
                        };
                        total += check_seed(s, seed);
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert!(events > 0);
}

#[test]
fn net_events_print_after_the_protocol_event_they_follow() {
    let r = run("demo", 42, Detail::Net);
    let text = r.trace.text();
    let first_detail = text
        .lines()
        .find(|l| l.contains(" net."))
        .expect("demo sends messages");
    // `#i.k`: the k-th net event after protocol event #i, with the message's id and kind.
    let index = first_detail.split_whitespace().next().unwrap();
    let (i, k) = index.trim_start_matches('#').split_once('.').unwrap();
    assert!(i.parse::<u64>().is_ok() && k == "1", "{first_detail}");
    assert!(first_detail.contains("net.send msg=m1 "), "{first_detail}");
    assert!(first_detail.contains("kind=Request"), "{first_detail}");
    // JSON lines: a net event carries its protocol event's index and its place after it.
    let json = r.trace.json_lines();
    let line = json.lines().find(|l| l.contains("\"net.send\"")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["detail"], 1, "{line}");
    assert_eq!(v["fields"]["msg"], "m1", "{line}");
    // Every protocol event still prints once, in index order.
    let protocol: Vec<&str> = text.lines().filter(|l| !l.contains(" net.")).collect();
    assert_eq!(protocol.len() as u64, r.trace.event_count);
}
