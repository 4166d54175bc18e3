//! Helpers for checker tests: hand-written trace events and a one-call check.

#![allow(dead_code)]

use sim::check::{check_events, Checker, RunEnd};
use sim::event::{AsNode, Event};
use sim::Recorded;

/// A typed event at `t_ms` on `node`.
pub fn at(t_ms: u64, node: impl AsNode, event: impl Event) -> Recorded {
    Recorded::new(t_ms * 1_000_000, node, event)
}

/// The engine's `job.unregister` of `member` (`node.inc.job`) at `t_ms` on its node.
pub fn unregister(t_ms: u64, member: &str) -> Recorded {
    let n: Vec<u64> = member.split('.').map(|x| x.parse().unwrap()).collect();
    let member = protocols::engine::Member {
        node: n[0] as usize,
        inc: n[1],
        job: n[2],
        group: 0,
    };
    at(
        t_ms,
        n[0],
        protocols::engine::job::JobEvent::Unregister {
            member,
            why: "hang",
        },
    )
}

pub fn end() -> RunEnd {
    RunEnd {
        t_ns: 100_000_000_000,
        liveness_start_ns: 0,
        live_nodes: (0..5).collect(),
    }
}

pub fn violations(c: Box<dyn Checker>, events: &[Recorded]) -> Vec<String> {
    check_events(vec![c], events, &end())
        .into_iter()
        .map(|v| v.explanation)
        .collect()
}
