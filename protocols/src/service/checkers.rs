//! Guarantees every replicated service owes, whatever its state machine: one master
//! serving at a time, and what an eventually-property may demand when the run ends.

use crate::engine::job::JobEvent;
use sim::check::{Checker, RunEnd};
use sim::event::NodeId;
use sim::time::SimTime;
use sim::trace::EventRef;
use sim::world::NodeEvent;
use std::collections::BTreeMap;

/// What an eventually-property may demand at the end of a run: whatever was due
/// `settle_ns` before the end, and only while a primary component remains (a majority of
/// the engine's nodes alive); `None` when nothing can be demanded.
pub fn owed_before(engine_nodes: usize, settle_ns: u64, end: &RunEnd) -> Option<u64> {
    let live = end.live_nodes.iter().filter(|n| **n < engine_nodes).count();
    (2 * live > engine_nodes).then(|| end.t_ns.saturating_sub(settle_ns))
}

/// When each job (`node.inc.job`) and node incarnation died, from the trace's
/// `node.crash`, `node.restart` and `job.unregister` events: checkers whose demands end
/// with the job or node that owes them.
#[derive(Default)]
pub struct JobDeaths {
    incarnation: BTreeMap<NodeId, u64>,
    /// (node, incarnation) -> when it crashed.
    nodes: BTreeMap<(u64, u64), u64>,
    /// The member unregistered (node, incarnation, job) -> when.
    jobs: BTreeMap<(u64, u64, u64), u64>,
}

impl JobDeaths {
    /// Whether a checker fed through [`JobDeaths::observe`] must see this event.
    pub fn wants(component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("node", "restart" | "crash") | ("job", "unregister")
        )
    }

    pub fn observe(&mut self, ev: &EventRef) {
        match ev.get::<NodeEvent>() {
            Some(NodeEvent::Restart { incarnation }) => {
                self.incarnation.insert(ev.node, *incarnation);
            }
            Some(NodeEvent::Crash) => {
                let inc = self.incarnation.get(&ev.node).copied().unwrap_or(0);
                self.nodes.entry((ev.node.0, inc)).or_insert(ev.t_ns);
            }
            None => {
                if let Some(JobEvent::Unregister { member, .. }) = ev.get::<JobEvent>() {
                    self.jobs
                        .entry((member.node as u64, member.inc, member.job))
                        .or_insert(ev.t_ns);
                }
            }
        }
    }

    /// When the job `job` of incarnation `inc` of `node` died, with itself or its node, if
    /// it did.
    pub fn died(&self, node: u64, inc: u64, job: u64) -> Option<u64> {
        let a = self.jobs.get(&(node, inc, job)).copied();
        let b = self.nodes.get(&(node, inc)).copied();
        a.into_iter().chain(b).min()
    }
}

/// Always: no two nodes serve clients at once: the spans between a node's first and last
/// master action in a view never overlap another node's. A service names its master
/// actions (`component`, `event`) and reads the view each was taken in.
pub struct SingleMaster {
    actions: &'static [(&'static str, &'static str)],
    /// The view of a master action, `None` for any other event.
    view_of: fn(&EventRef) -> Option<u64>,
    /// (node, view) -> (first action, last action).
    spans: BTreeMap<(NodeId, u64), (u64, u64)>,
}

impl SingleMaster {
    pub fn new(
        actions: &'static [(&'static str, &'static str)],
        view_of: fn(&EventRef) -> Option<u64>,
    ) -> Self {
        SingleMaster {
            actions,
            view_of,
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

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        let Some(view) = (self.view_of)(ev) else {
            return Ok(());
        };
        let key = (ev.node, view);
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
                "{} (master of view {view}) served from {} to {} while {n} (view {v}) served from {} to {}",
                ev.node,
                SimTime(first),
                SimTime(t),
                SimTime(*f),
                SimTime(*l)
            ));
        }
        Ok(())
    }
}
