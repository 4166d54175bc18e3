//! The HTML trace of a run: one self-contained file (no network, no external script or
//! font) that draws a space-time diagram. One lane per node, time flowing down; messages
//! as arrows from send to delivery (at `--detail net`), drops as arrows that end in a
//! cross; fault windows as shaded bands over the lanes they touch; view installs and ACK
//! round boundaries as bars across their lane; the violating event highlighted and its
//! causal slice emphasised. Hovering shows an event's line, clicking pins its fields;
//! the time window, the nodes shown and an event-name filter are controls at the top.
//!
//! The events go into the page as JSON; the page's script draws only the window shown, so
//! a 30-second run with tens of thousands of messages stays usable.

use crate::check::Violation;
use crate::event::{EventRef, NodeId};
use crate::fault::{Fault, FaultPlan};
use crate::net::NetEvent;
use crate::trace::{event_label, write_fields, Trace};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn lane_of(node: NodeId, lanes: &BTreeMap<NodeId, usize>) -> usize {
    lanes.get(&node).copied().unwrap_or(0)
}

fn fields_text(e: &EventRef<'_>) -> String {
    let mut s = String::new();
    write_fields(&mut s, e.event).expect("a String takes any text");
    s
}

/// The page for `trace`. `slice` holds the labels (`#12`, `#12.3`) of the violation's
/// causal slice, emphasised in the diagram.
pub fn render(
    trace: &Trace,
    plan: &FaultPlan,
    violations: &[Violation],
    slice: &BTreeSet<String>,
    title: &str,
) -> String {
    let mut nodes: Vec<NodeId> = trace
        .events
        .iter()
        .map(|e| e.node)
        .filter(|n| !n.is_world())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let lanes: BTreeMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();

    let mut events: Vec<Value> = vec![];
    let mut arrows: Vec<Value> = vec![];
    let mut sends: BTreeMap<u64, (u64, usize)> = BTreeMap::new();
    let mut end_ns = 0;
    for (e, sub) in trace.iter_all() {
        end_ns = end_ns.max(e.t_ns);
        let label = event_label(e.index, sub);
        let name = format!("{}.{}", e.component(), e.name());
        if let Some(net) = e.get::<NetEvent>() {
            match net {
                NetEvent::Send { msg, .. } => {
                    sends.insert(msg.0, (e.t_ns, lane_of(e.node, &lanes)));
                }
                NetEvent::Deliver { msg, kind, .. } => {
                    if let Some(&(t0, from)) = sends.get(&msg.0) {
                        arrows.push(json!([
                            t0,
                            from,
                            e.t_ns,
                            lane_of(e.node, &lanes),
                            format!("{msg} {kind}"),
                            0,
                            label
                        ]));
                    }
                }
                NetEvent::Drop { msg, to, cause, .. } => {
                    if let Some(&(t0, from)) = sends.get(&msg.0) {
                        arrows.push(json!([
                            t0,
                            from,
                            e.t_ns,
                            lane_of(*to, &lanes),
                            format!("{msg} dropped ({})", cause.name()),
                            1,
                            label
                        ]));
                    }
                }
                NetEvent::Duplicate { .. } | NetEvent::Delay { .. } => {}
            }
            continue;
        }
        // Bars across the lane: a view installed, an ACK round started or done.
        let bar = matches!(
            (e.component(), e.name()),
            ("ce", "install") | ("ack", "round_start") | ("ack", "round_done")
        );
        events.push(json!({
            "l": label,
            "t": e.t_ns,
            "n": if e.node.is_world() { Value::Null } else { lane_of(e.node, &lanes).into() },
            "c": name,
            "f": fields_text(&e),
            "b": bar,
            "s": slice.contains(&label),
        }));
    }
    let faults: Vec<Value> = plan
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let from = f.at_ms() * 1_000_000;
            let to = match f {
                Fault::Crash {
                    restart_after_ms, ..
                } => restart_after_ms.map_or(end_ns, |r| from + r * 1_000_000),
                Fault::WorkThread { .. } => from + 50_000_000,
                _ => f.duration_ms().map_or(end_ns, |d| from + d * 1_000_000),
            };
            let what = f.to_string();
            let what = what
                .split_once(' ')
                .map_or(what.clone(), |(_, w)| w.to_string());
            json!({"from": from, "to": to, "lanes": f.nodes(), "what": format!("#{i} {what}")})
        })
        .collect();
    let violation = violations.first().map(|v| {
        json!({"t": v.t_ns, "l": event_label(v.event_index, None), "checker": v.checker,
            "text": v.to_string()})
    });
    let data = json!({
        "title": title,
        "lanes": nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "end": end_ns,
        "events": events,
        "arrows": arrows,
        "faults": faults,
        "violation": violation,
    });
    // `</` cannot end the script early: JSON allows `<\/`.
    let data = data.to_string().replace("</", "<\\/");
    PAGE.replace("__TITLE__", &html_escape(title))
        .replace("__DATA__", &data)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PAGE: &str = include_str!("html_page.html");
