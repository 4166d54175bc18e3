//! The trace's three outputs: readable text, JSON lines, and Chrome Trace Event JSON with
//! one lane per node.

use sim::emit;
use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use std::collections::BTreeSet;
use std::time::Duration;

async fn ticker(ctx: NodeCtx<()>) {
    for i in 0..3u64 {
        emit!(ctx.id, "t", "tick", i = i, label = "x y", flag = true);
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

fn report() -> sim::RunReport {
    let cfg = WorldConfig::new(3, 500, 100);
    let spec = RunSpec {
        seed: 1,
        plan: PlanSource::Given(sim::FaultPlan::empty()),
        keep_events: true,
    };
    sim::run_world(&cfg, &spec, vec![], ticker).unwrap()
}

#[test]
fn text_has_one_line_per_event_and_hashes_to_the_trace_hash() {
    let r = report();
    let text = r.trace.text();
    assert_eq!(text.lines().count() as u64, r.trace.event_count);
    assert_eq!(sim::trace::StableHash::of(text.as_bytes()), r.trace.hash);
    assert!(
        text.contains("n2    t.tick i=0 label=x y flag=true"),
        "{text}"
    );
}

#[test]
fn json_lines_parse_with_time_node_component_event_fields() {
    let r = report();
    let lines: Vec<serde_json::Value> = r
        .trace
        .json_lines()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, r.trace.event_count);
    let tick = lines.iter().find(|v| v["event"] == "tick").unwrap();
    assert_eq!(tick["component"], "t");
    assert_eq!(tick["fields"]["i"], 0);
    assert_eq!(tick["fields"]["flag"], true);
    assert!(tick["t_ns"].is_u64());
    assert!(tick["node"].as_str().unwrap().starts_with('n'));
}

#[test]
fn chrome_trace_has_a_named_lane_per_node() {
    let r = report();
    let v: serde_json::Value = serde_json::from_str(&r.trace.chrome()).unwrap();
    let evs = v["traceEvents"].as_array().unwrap();
    let lanes: BTreeSet<String> = evs
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = ["world", "n0", "n1", "n2"].map(String::from).into();
    assert_eq!(lanes, want);
    let instants = evs.iter().filter(|e| e["ph"] == "i").count() as u64;
    assert_eq!(instants, r.trace.event_count);
    assert!(evs
        .iter()
        .any(|e| e["name"] == "t.tick" && e["ts"].is_f64()));
}
