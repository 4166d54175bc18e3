//! `docs/trace-events.md` lists every event the built-in scenarios record: it is generated
//! from the events' declarations and must be up to date, and no scenario records an event
//! it does not list.

use sim::world::{PlanSource, RunSpec};
use sim::Detail;
use std::collections::BTreeSet;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/trace-events.md");

#[test]
fn the_trace_events_document_is_up_to_date() {
    let want = scenarios::trace_events_markdown();
    if std::env::var_os("CLUSTERSIM_UPDATE_DOCS").is_some() {
        std::fs::write(DOC, &want).unwrap();
    }
    let have = std::fs::read_to_string(DOC).unwrap_or_default();
    assert!(
        have == want,
        "docs/trace-events.md is out of date: rerun with CLUSTERSIM_UPDATE_DOCS=1 \
         cargo test -p scenarios --test trace_events"
    );
}

#[test]
fn every_recorded_event_is_listed() {
    let listed: BTreeSet<(String, String)> = scenarios::event_schemas()
        .iter()
        .flat_map(|c| {
            c.events
                .iter()
                .map(|e| (c.component.to_string(), e.name.to_string()))
        })
        .collect();
    let catalog = scenarios::catalog();
    let mut seen = BTreeSet::new();
    for s in catalog.scenarios() {
        // Each scenario's seeds, with every fault kind, and each of its planted bugs.
        let mut runs: Vec<(u64, Option<&'static str>, bool)> =
            (0..4).map(|seed| (seed, None, seed % 2 == 0)).collect();
        runs.extend(s.mutants().into_iter().map(|m| (1, Some(m.name), true)));
        for (seed, mutant, swarm) in runs {
            let spec = RunSpec {
                seed,
                plan: PlanSource::Generate { swarm },
                keep_events: true,
                detail: Detail::Net,
            };
            let r = scenarios::run_alone(s.name(), spec, mutant);
            for (e, _) in r.trace.iter_all() {
                let name = (e.component().to_string(), e.name().to_string());
                assert!(
                    listed.contains(&name),
                    "{}.{} is recorded but not listed in docs/trace-events.md: add its \
                     component's schemas to scenarios::event_schemas()",
                    name.0,
                    name.1
                );
                seen.insert(name);
            }
        }
    }
    assert!(seen.len() > 40, "only {} event names recorded", seen.len());
}
