//! Golden traces: the pinned seeds of every catalog scenario that opts in
//! ([`sim::Entry::golden`]), their text traces snapshotted under the top-level `snapshots/`. Any change to a trace (protocol behaviour, fault plan
//! generation, network model, trace format) fails here; review the diff with
//! `cargo insta review`, or regenerate deliberately with
//! `INSTA_UPDATE=always cargo test -p scenarios --test golden` and read the result.
//!
//! A trace longer than [`FULL_TRACE_LIMIT`] bytes is snapshotted as a digest instead: the
//! fault plan, the hash (which covers every byte), the event count, and the first and last
//! lines, so the snapshot stays reviewable.

use sim::world::RunSpec;

/// Traces up to this size are snapshotted whole.
const FULL_TRACE_LIMIT: usize = 300 * 1024;
const DIGEST_HEAD_LINES: usize = 200;
const DIGEST_TAIL_LINES: usize = 50;

fn golden_text(scenario: &dyn sim::Scenario, seed: u64) -> String {
    let mut spec = RunSpec::swarm(seed);
    spec.keep_events = true;
    let r = scenario
        .run(&spec, None)
        .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", scenario.name()));
    let text = r.trace.text();
    let verdict = match r.violations.first() {
        None => "PASS".to_string(),
        Some(v) => format!("FAIL {v}"),
    };
    let mut out = format!(
        "scenario: {}\nseed: {seed}\n{}\nverdict: {verdict}\ntrace-hash: {}\nevents: {}\n",
        scenario.name(),
        r.plan.summary(),
        sim::hash_hex(r.trace.hash),
        r.trace.event_count
    );
    if text.len() <= FULL_TRACE_LIMIT {
        out.push_str("--- trace ---\n");
        out.push_str(&text);
    } else {
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!(
            "--- trace digest: {} bytes; first {DIGEST_HEAD_LINES} lines ---\n",
            text.len()
        ));
        for l in lines.iter().take(DIGEST_HEAD_LINES) {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&format!("--- last {DIGEST_TAIL_LINES} lines ---\n"));
        for l in &lines[lines.len().saturating_sub(DIGEST_TAIL_LINES)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[test]
fn golden_traces() {
    for entry in scenarios::catalog().entries() {
        let scenario = entry.scenario();
        for &seed in entry.golden_seeds() {
            let text = golden_text(scenario.as_ref(), seed);
            insta::with_settings!({
                snapshot_path => "../../snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("{}-seed{seed}", scenario.name()), text);
            });
        }
    }
}

/// Golden snapshots are opt-in: every file in `snapshots/` is the snapshot of a seed its
/// scenario pins, so a scenario that drops out (or was never in) leaves none behind.
#[test]
fn every_snapshot_belongs_to_a_pinned_seed() {
    let catalog = scenarios::catalog();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
    let mut pinned = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".snap") else {
            continue;
        };
        let (scenario, seed) = stem
            .rsplit_once("-seed")
            .unwrap_or_else(|| panic!("{name} is not NAME-seedN.snap"));
        let seed: u64 = seed.parse().unwrap();
        let e = catalog
            .entry(scenario)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            e.golden_seeds().contains(&seed),
            "{name}: {scenario} does not pin seed {seed}"
        );
        pinned += 1;
    }
    let expected: usize = catalog
        .entries()
        .iter()
        .map(|e| e.golden_seeds().len())
        .sum();
    assert_eq!(pinned, expected, "a pinned seed has no snapshot");
}
