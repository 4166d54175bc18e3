//! Helpers for checker tests: hand-written trace events and a one-call check.

#![allow(dead_code)]

use sim::check::{check_events, Checker, RunEnd};
use sim::event::{AsNode, Event, LegacyEvent};
use sim::{Recorded, Value};

/// A typed event at `t_ms` on `node`.
pub fn at(t_ms: u64, node: impl AsNode, event: impl Event) -> Recorded {
    Recorded::new(t_ms * 1_000_000, node, event)
}

pub fn ev(
    t_ms: u64,
    node: u64,
    component: &'static str,
    event: &'static str,
    fields: &[(&'static str, Value)],
) -> Recorded {
    Recorded::new(
        t_ms * 1_000_000,
        node,
        LegacyEvent::new(component, event, fields.to_vec()),
    )
}

pub fn s(x: &str) -> Value {
    Value::Str(x.into())
}

pub fn u(x: u64) -> Value {
    Value::U64(x)
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
