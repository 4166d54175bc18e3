//! The Chrome trace of a run (Trace Event Format JSON, for Perfetto or chrome://tracing):
//! one lane per node and one for the world, every protocol-level event an instant, and
//! what has a duration drawn as a span: each fault's window, each node's time down after a
//! crash, the run's phases, each node's views (from one `*.install` event with a `view`
//! field to the next) and ACK rounds (from a `*.round_start` to the `*.round_done` or
//! `*.round_abandon` of the same `round` on the same node). With net detail, each delivered message is a flow arrow from
//! its send to its delivery and each drop an instant naming its cause. A violation is a
//! global instant at its time, named after its checker.

use crate::check::Violation;
use crate::event::{EventRef, NodeId};
use crate::net::NetEvent;
use crate::trace::Trace;
use crate::world::{FaultEvent, NodeEvent, WorldEvent};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The lane (thread id) of a node; the world's lane is 0.
pub(crate) fn lane_tid(node: NodeId) -> u64 {
    if node.is_world() {
        0
    } else {
        node.0 + 1
    }
}

fn us(t_ns: u64) -> f64 {
    t_ns as f64 / 1000.0
}

/// An event's fields as Chrome args, with its index and formatted time.
fn args_of(e: &EventRef<'_>, sub: Option<u64>) -> Map<String, Value> {
    let mut args = Map::new();
    args.insert("index".into(), e.index.into());
    if let Some(k) = sub {
        args.insert("detail".into(), k.into());
    }
    args.insert("time".into(), e.time().to_string().into());
    e.visit_fields(&mut |k, v| {
        args.insert(k.to_string(), v.to_json());
    });
    args
}

fn span(name: String, cat: &str, tid: u64, from_ns: u64, to_ns: u64, args: Value) -> Value {
    json!({"name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
        "ts": us(from_ns), "dur": us(to_ns.saturating_sub(from_ns)), "args": args})
}

/// A fault window open since `from` on `lane`, titled, with its start event's args.
type OpenFault = (u64, u64, String, Map<String, Value>);

/// The span of a fault window that closes at `to_ns`; none for a crash, which is drawn as
/// its node's time down.
fn fault_span((from, lane, title, args): OpenFault, to_ns: u64) -> Option<Value> {
    (!title.ends_with(" crash"))
        .then(|| span(title, "fault", lane, from, to_ns, Value::Object(args)))
}

/// The Chrome trace of `trace`, with `violations` marked.
pub fn render(trace: &Trace, violations: &[Violation]) -> String {
    let end_ns = trace
        .events
        .iter()
        .map(|e| e.t_ns)
        .chain(trace.detail.iter().map(|d| d.event.t_ns))
        .max()
        .unwrap_or(0);
    let mut lanes: Vec<NodeId> = trace.events.iter().map(|e| e.node).collect();
    lanes.push(NodeId::WORLD);
    lanes.sort_unstable();
    lanes.dedup();
    let mut out: Vec<Value> = lanes
        .iter()
        .flat_map(|&n| {
            [
                json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": lane_tid(n),
                    "args": {"name": n.to_string()}}),
                json!({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": lane_tid(n),
                    "args": {"sort_index": lane_tid(n)}}),
            ]
        })
        .collect();
    out.push(json!({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "run"}}));

    // Open spans: fault windows by fault index, nodes down, the current phase.
    let mut faults: BTreeMap<u64, OpenFault> = BTreeMap::new();
    let mut down: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut phase: Option<(u64, String)> = None;
    // Views by node, rounds by (node, round, phase): where and since when each is open.
    let mut views: BTreeMap<NodeId, (u64, String)> = BTreeMap::new();
    let mut rounds: BTreeMap<(NodeId, String), u64> = BTreeMap::new();
    // Sends by message id, for the flows of their deliveries.
    let mut sends: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut flow_id: u64 = 0;

    for (e, sub) in trace.iter_all() {
        let tid = lane_tid(e.node);
        let name = format!("{}.{}", e.component(), e.name());
        if let Some(net) = e.get::<NetEvent>() {
            match net {
                NetEvent::Send { msg, to, kind } => {
                    sends.insert(msg.0, (e.t_ns, tid));
                    out.push(
                        json!({"name": format!("send {msg} {kind} to {to}"), "cat": "net",
                        "ph": "X", "dur": 0.001, "pid": 1, "tid": tid, "ts": us(e.t_ns),
                        "args": args_of(&e, sub)}),
                    );
                }
                NetEvent::Deliver {
                    msg, from, kind, ..
                } => {
                    out.push(json!({"name": format!("deliver {msg} {kind} from {from}"),
                        "cat": "net", "ph": "X", "dur": 0.001, "pid": 1, "tid": tid,
                        "ts": us(e.t_ns), "args": args_of(&e, sub)}));
                    if let Some(&(sent_ns, from_tid)) = sends.get(&msg.0) {
                        flow_id += 1;
                        out.push(json!({"name": msg.to_string(), "cat": "net", "ph": "s",
                            "id": flow_id, "pid": 1, "tid": from_tid, "ts": us(sent_ns)}));
                        out.push(json!({"name": msg.to_string(), "cat": "net", "ph": "f",
                            "bp": "e", "id": flow_id, "pid": 1, "tid": tid, "ts": us(e.t_ns)}));
                    }
                }
                NetEvent::Drop { msg, cause, .. } => {
                    out.push(json!({"name": format!("drop {msg} ({})", cause.name()),
                        "cat": "net", "ph": "i", "s": "t", "pid": 1, "tid": tid,
                        "ts": us(e.t_ns), "args": args_of(&e, sub)}));
                }
                NetEvent::Duplicate { msg } | NetEvent::Delay { msg, .. } => {
                    out.push(json!({"name": format!("{} {msg}", e.name()), "cat": "net",
                        "ph": "i", "s": "t", "pid": 1, "tid": tid, "ts": us(e.t_ns),
                        "args": args_of(&e, sub)}));
                }
            }
            continue;
        }
        match e.get::<FaultEvent>() {
            Some(FaultEvent::Start {
                fault,
                kind,
                target,
                a,
                ..
            }) => {
                let lane = target.or(*a).map_or(0, lane_tid);
                let title = format!("fault #{fault} {}", kind.name());
                faults.insert(*fault, (e.t_ns, lane, title, args_of(&e, sub)));
            }
            Some(FaultEvent::End { fault, .. }) => {
                if let Some(open) = faults.remove(fault) {
                    out.extend(fault_span(open, e.t_ns));
                }
            }
            Some(FaultEvent::HealAll) => {
                // Every window closes here.
                for (_, open) in std::mem::take(&mut faults) {
                    out.extend(fault_span(open, e.t_ns));
                }
            }
            _ => {}
        }
        match e.get::<NodeEvent>() {
            Some(NodeEvent::Crash) => {
                down.insert(e.node, e.t_ns);
            }
            Some(NodeEvent::Restart { .. }) => {
                if let Some(from) = down.remove(&e.node) {
                    out.push(span("down".into(), "node", tid, from, e.t_ns, json!({})));
                }
            }
            None => {}
        }
        // Views and rounds, by the engine's event names and fields.
        let field = |k: &str| e.field(k).map(|v| crate::event::Text(v).to_string());
        match e.name() {
            "install" => {
                if let Some(view) = field("view") {
                    if let Some((from, title)) =
                        views.insert(e.node, (e.t_ns, format!("view {view}")))
                    {
                        out.push(span(title, "view", tid, from, e.t_ns, json!({})));
                    }
                }
            }
            "round_start" => {
                if let (Some(round), Some(ph)) = (field("round"), field("phase")) {
                    rounds.insert((e.node, format!("{ph} {round}")), e.t_ns);
                }
            }
            "round_done" | "round_abandon" => {
                if let (Some(round), Some(ph)) = (field("round"), field("phase")) {
                    let key = (e.node, format!("{ph} {round}"));
                    if let Some(from) = rounds.remove(&key) {
                        let title = format!("round {}", key.1);
                        out.push(span(
                            title,
                            "round",
                            tid,
                            from,
                            e.t_ns,
                            json!({"end": e.name()}),
                        ));
                    }
                }
            }
            _ => {}
        }
        match e.get::<WorldEvent>() {
            Some(WorldEvent::Phase { phase: p }) => {
                if let Some((from, name)) = phase.take() {
                    out.push(span(name, "phase", 0, from, e.t_ns, json!({})));
                }
                phase = Some((e.t_ns, format!("{} phase", p.name())));
            }
            Some(WorldEvent::End { .. }) => {
                if let Some((from, name)) = phase.take() {
                    out.push(span(name, "phase", 0, from, e.t_ns, json!({})));
                }
            }
            _ => {}
        }
        out.push(
            json!({"name": name, "cat": e.component(), "ph": "i", "s": "t", "pid": 1,
            "tid": tid, "ts": us(e.t_ns), "args": args_of(&e, sub)}),
        );
    }
    // What was still open when the trace ended: faults that never closed (a crash is
    // drawn as its node's time down), nodes that never came back, the last phase.
    for (_, open) in faults {
        out.extend(fault_span(open, end_ns));
    }
    for (node, from) in down {
        out.push(span(
            "down".into(),
            "node",
            lane_tid(node),
            from,
            end_ns,
            json!({}),
        ));
    }
    if let Some((from, name)) = phase {
        out.push(span(name, "phase", 0, from, end_ns, json!({})));
    }
    for (node, (from, title)) in views {
        out.push(span(title, "view", lane_tid(node), from, end_ns, json!({})));
    }
    for v in violations {
        out.push(
            json!({"name": format!("VIOLATION {}", v.checker), "cat": "violation",
            "ph": "i", "s": "g", "pid": 1, "tid": 0, "ts": us(v.t_ns),
            "args": {"checker": v.checker, "event_index": v.event_index,
                "explanation": v.explanation}}),
        );
    }
    json!({"traceEvents": out, "displayTimeUnit": "ms"}).to_string()
}
