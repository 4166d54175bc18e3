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
    let spec = RunSpec {
        seed,
        plan: PlanSource::Generate { swarm: true },
        keep_events: true,
        detail,
    };
    scenarios::run_alone(scenario, spec, None)
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
    let catalog = scenarios::catalog();
    let names: Vec<&str> = catalog.scenarios().map(|s| s.name()).collect();
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

/// Checks `doc` against the Trace Event Format: the fields each phase needs, durations
/// that are not negative, and flow starts and finishes that pair up, forward in time.
fn assert_valid_trace_event_format(doc: &serde_json::Value) {
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    let mut flows: BTreeMap<u64, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap_or_else(|| panic!("no ph: {e}"));
        assert!(e["name"].is_string(), "no name: {e}");
        assert!(e["pid"].is_u64(), "no pid: {e}");
        if ph == "M" {
            assert!(e["args"].is_object(), "{e}");
            continue;
        }
        let ts = e["ts"].as_f64().unwrap_or_else(|| panic!("no ts: {e}"));
        assert!(ts >= 0.0, "{e}");
        assert!(e["tid"].is_u64(), "no tid: {e}");
        match ph {
            "X" => assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}"),
            "i" => assert!(matches!(e["s"].as_str(), Some("t" | "p" | "g")), "{e}"),
            "s" | "f" => {
                let id = e["id"].as_u64().unwrap_or_else(|| panic!("no id: {e}"));
                let slot = flows.entry(id).or_default();
                if ph == "s" {
                    assert!(slot.0.replace(ts).is_none(), "two starts of flow {id}");
                } else {
                    assert_eq!(e["bp"], "e", "{e}");
                    assert!(slot.1.replace(ts).is_none(), "two ends of flow {id}");
                }
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for (id, (s, f)) in flows {
        let (s, f) = (s.expect("a flow start"), f.expect("a flow end"));
        assert!(s <= f, "flow {id} goes back in time");
    }
}

#[test]
fn the_chrome_trace_has_spans_flows_and_the_violation_and_is_valid() {
    let spec = RunSpec {
        seed: 1,
        plan: PlanSource::Generate { swarm: true },
        keep_events: true,
        detail: Detail::Net,
    };
    let r = scenarios::run_alone("demo", spec, Some("demo-double-answer"));
    assert!(!r.violations.is_empty(), "demo-double-answer seed 1 fails");
    let doc: serde_json::Value = serde_json::from_str(&r.trace.chrome_with(&r.violations)).unwrap();
    assert_valid_trace_event_format(&doc);
    let events = doc["traceEvents"].as_array().unwrap();
    let of = |cat: &str, ph: &str| {
        events
            .iter()
            .filter(|e| e["cat"] == cat && e["ph"] == ph)
            .count()
    };
    // Every fault of the plan that has a window is a span; phases are spans.
    let windows = r.plan.faults.len();
    assert_eq!(of("fault", "X"), windows, "{:?}", r.plan);
    assert_eq!(of("phase", "X"), 2);
    // Every delivery is a flow from its send.
    let deliveries = r
        .trace
        .detail
        .iter()
        .filter(|d| {
            matches!(
                d.event.view(0).get::<NetEvent>(),
                Some(NetEvent::Deliver { .. })
            )
        })
        .count();
    assert!(deliveries > 0);
    assert_eq!(events.iter().filter(|e| e["ph"] == "f").count(), deliveries);
    // The violation is marked, global, at its time.
    let v = &r.violations[0];
    let mark = events
        .iter()
        .find(|e| e["cat"] == "violation")
        .expect("the violation is marked");
    assert_eq!(mark["s"], "g");
    assert_eq!(mark["args"]["checker"], v.checker.as_str());
    assert_eq!(mark["ts"].as_f64().unwrap(), v.t_ns as f64 / 1000.0);
}
