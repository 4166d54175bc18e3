//! The trace's three outputs: readable text, JSON lines, and Chrome Trace Event JSON with
//! one lane per node; and the trace hash, a function of the typed events alone.

use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use sim::{emit, NodeId, SimDuration, Trace};
use std::collections::BTreeSet;
use std::time::Duration;

sim::trace_events! {
    /// A ticking node.
    enum T in "t" {
        /// One tick.
        Tick as "tick" {
            /// The tick's number.
            i: u64,
            /// A label with a space in it.
            label: &'static str,
            /// Always true.
            flag: bool,
            /// The nodes it names: none on the first tick.
            peers: Vec<NodeId>,
            /// Absent on the first tick.
            gap: Option<SimDuration>,
        },
    }
}

async fn ticker(ctx: NodeCtx<()>) {
    for i in 0..3u64 {
        emit!(
            ctx.id,
            T::Tick {
                i,
                label: "x y",
                flag: true,
                peers: (0..i as usize).map(NodeId::from).collect(),
                gap: (i > 0).then_some(SimDuration::from_ms(100)),
            }
        );
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

fn report() -> sim::RunReport {
    let cfg = WorldConfig::new(3, 500, 100);
    let spec = RunSpec {
        seed: 1,
        plan: PlanSource::Given(sim::FaultPlan::empty()),
        keep_events: true,
        detail: sim::Detail::Protocol,
    };
    sim::run_world(&cfg, &spec, vec![], ticker).unwrap()
}

#[test]
fn text_has_one_aligned_line_per_event_with_its_index() {
    let r = report();
    let text = r.trace.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, r.trace.event_count);
    // Index, time and node columns line up: every line's event name starts at one column.
    let name_at: BTreeSet<usize> = lines
        .iter()
        .map(|l| {
            [" t.", " world.", " fault."]
                .iter()
                .find_map(|c| l.find(c))
                .unwrap()
        })
        .collect();
    assert_eq!(name_at.len(), 1, "{text}");
    let first_tick = lines.iter().find(|l| l.contains("t.tick i=0")).unwrap();
    assert!(
        first_tick.trim_start().starts_with('#'),
        "the line opens with its index: {first_tick}"
    );
    assert!(
        first_tick.ends_with("t.tick i=0 label=x y flag=true peers=[]"),
        "an empty list prints as [], an absent value not at all: {first_tick}"
    );
    assert!(
        text.contains("t.tick i=2 label=x y flag=true peers=[n0,n1] gap=0.100000s"),
        "{text}"
    );
    assert!(text.contains(" 0.200000s n"), "times in seconds: {text}");
    let line = r.trace.line(1).unwrap();
    assert!(
        line.starts_with("#1 0.000000s world world.phase phase=safety"),
        "{line}"
    );
}

#[test]
fn the_trace_hash_is_a_function_of_the_events() {
    let r = report();
    let (hashes, hash) = Trace::hashes_of(&r.trace.events);
    assert_eq!(hashes, r.trace.event_hashes);
    assert_eq!(hash, r.trace.hash);
    // Keeping the events or not records the same hashes.
    let cfg = WorldConfig::new(3, 500, 100);
    let spec = RunSpec {
        seed: 1,
        plan: PlanSource::Given(sim::FaultPlan::empty()),
        keep_events: false,
        detail: sim::Detail::Protocol,
    };
    let lean = sim::run_world(&cfg, &spec, vec![], ticker).unwrap();
    assert!(lean.trace.events.is_empty());
    assert_eq!(lean.trace.event_hashes, r.trace.event_hashes);
    assert_eq!(lean.trace.hash, r.trace.hash);
}

#[test]
fn json_lines_parse_with_index_time_node_name_and_typed_fields() {
    let r = report();
    let lines: Vec<serde_json::Value> = r
        .trace
        .json_lines()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, r.trace.event_count);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i as u64);
    }
    let tick = lines.iter().find(|v| v["event"] == "t.tick").unwrap();
    assert_eq!(tick["fields"]["i"], 0);
    assert_eq!(tick["fields"]["flag"], true);
    assert_eq!(tick["fields"]["peers"], serde_json::json!([]));
    assert!(tick["fields"]["gap"].is_null());
    assert!(tick["t_ns"].is_u64());
    assert!(tick["time"].as_str().unwrap().ends_with('s'));
    assert!(tick["node"].as_str().unwrap().starts_with('n'));
    let last = lines.iter().rfind(|v| v["event"] == "t.tick").unwrap();
    assert_eq!(last["fields"]["peers"], serde_json::json!(["n0", "n1"]));
    assert_eq!(last["fields"]["gap"], 100_000_000);
}

#[test]
fn chrome_trace_has_a_named_lane_per_node() {
    let r = report();
    let v: serde_json::Value = serde_json::from_str(&r.trace.chrome()).unwrap();
    let evs = v["traceEvents"].as_array().unwrap();
    let lanes: BTreeSet<String> = evs
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = ["world", "n0", "n1", "n2"].map(String::from).into();
    assert_eq!(lanes, want);
    let instants = evs.iter().filter(|e| e["ph"] == "i").count() as u64;
    assert_eq!(instants, r.trace.event_count);
    assert!(evs
        .iter()
        .any(|e| e["name"] == "t.tick" && e["ts"].is_f64() && e["args"]["index"].is_u64()));
}
