//! Guarantees every replicated service owes, whatever its state machine: one master
//! serving at a time, and what an eventually-property may demand when the run ends.

use sim::check::{Checker, RunEnd};
use sim::trace::TraceEvent;
use std::collections::BTreeMap;

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What an eventually-property may demand at the end of a run: whatever was due
/// `settle_ns` before the end, and only while a primary component remains (a majority of
/// the engine's nodes alive); `None` when nothing can be demanded.
pub fn owed_before(engine_nodes: usize, settle_ns: u64, end: &RunEnd) -> Option<u64> {
    let live = end.live_nodes.iter().filter(|n| **n < engine_nodes).count();
    (2 * live > engine_nodes).then(|| end.t_ns.saturating_sub(settle_ns))
}

/// When each job (`node.inc.job`) and node incarnation (`node.inc`) died, from the
/// trace's `node.crash`, `node.restart` and `job.unregister` events: checkers whose
/// demands end with the job or node that owes them.
#[derive(Default)]
pub struct JobDeaths {
    incarnation: BTreeMap<u64, u64>,
    dead: BTreeMap<String, u64>,
}

impl JobDeaths {
    /// Whether a checker fed through [`JobDeaths::observe`] must see this event.
    pub fn wants(component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("node", "restart" | "crash") | ("job", "unregister")
        )
    }

    pub fn observe(&mut self, ev: &TraceEvent) {
        if ev.is("node", "restart") {
            self.incarnation
                .insert(ev.node.0, ev.u64("incarnation").unwrap_or(0));
        } else if ev.is("node", "crash") {
            let inc = self.incarnation.get(&ev.node.0).copied().unwrap_or(0);
            self.dead
                .entry(format!("{}.{inc}", ev.node.0))
                .or_insert(ev.t_ns);
        } else if ev.is("job", "unregister") {
            self.dead
                .entry(ev.str("member").unwrap_or("").to_string())
                .or_insert(ev.t_ns);
        }
    }

    /// When the job `node.inc.job` died, with itself or its node, if it did.
    pub fn died(&self, job: &str) -> Option<u64> {
        let node_inc = job.rsplit_once('.').map(|x| x.0).unwrap_or("");
        let a = self.dead.get(job).copied();
        let b = self.dead.get(node_inc).copied();
        a.into_iter().chain(b).min()
    }
}

/// Always: no two nodes serve clients at once: the spans between a node's first and last
/// master action in a view never overlap another node's. A service names its master
/// actions (`component`, `event`), each with a `view` field.
pub struct SingleMaster {
    actions: &'static [(&'static str, &'static str)],
    /// (node, view) -> (first action, last action).
    spans: BTreeMap<(u64, u64), (u64, u64)>,
}

impl SingleMaster {
    pub fn new(actions: &'static [(&'static str, &'static str)]) -> Self {
        SingleMaster {
            actions,
            spans: BTreeMap::new(),
        }
    }
}

impl Checker for SingleMaster {
    fn name(&self) -> &'static str {
        "single_master"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        self.actions
            .iter()
            .any(|(c, e)| *c == component && *e == event)
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if !self.actions.iter().any(|(c, e)| ev.is(c, e)) {
            return Ok(());
        }
        let key = (ev.node.0, ev.u64("view").unwrap_or(0));
        let t = ev.t_ns;
        let span = self.spans.entry(key).or_insert((t, t));
        span.1 = t;
        let first = span.0;
        if let Some(((n, v), (f, l))) = self
            .spans
            .iter()
            .find(|((n, _), (_, l))| *n != key.0 && *l >= first)
        {
            return Err(format!(
                "n{} (master of view {}) served from {:.3}ms to {:.3}ms while n{n} (view {v}) served from {:.3}ms to {:.3}ms",
                key.0,
                key.1,
                ms(first),
                ms(t),
                ms(*f),
                ms(*l)
            ));
        }
        Ok(())
    }
}
