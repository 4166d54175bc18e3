//! The checker framework: invariants as named observers of the event stream.
//!
//! A checker sees every trace event as it is recorded (an *always* property fails on the
//! event that breaks it) and gets a last look when the run ends (an *eventually* property
//! fails there if what it waited for never came). A violation names the checker, the event
//! index, the simulated time and a one-line explanation.
//!
//! A checker reads typed events: `ev.get::<MyEvents>()` is its component's enum (see
//! [`crate::event`]). Events reach only the checkers that [want](Checker::wants) their
//! name; the recorder keeps each run's routes in a table indexed by component and
//! variant, so routing costs no string comparison once a name has been seen.

use crate::event::{Event, EventRef, Recorded};
use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a checker is told when the run ends.
#[derive(Clone, Debug)]
pub struct RunEnd {
    /// Simulated time at the end of the run.
    pub t_ns: u64,
    /// When the safety phase ended and every fault healed.
    pub liveness_start_ns: u64,
    /// Nodes up at the end.
    pub live_nodes: Vec<usize>,
}

/// An observer of the event stream that checks one guarantee.
pub trait Checker: Send {
    /// The guarantee's name, e.g. `notified_once`.
    fn name(&self) -> &'static str;

    /// Whether this checker reads events named `component.event`. A checker is shown only
    /// the events it wants, and most events of a run (deliveries, round steps) concern a
    /// few checkers, so one that reads some events only should say which. Asked once per
    /// name and run: the answer must not depend on the checker's state. By default a
    /// checker sees every event, as one that checks a deadline on each event must.
    fn wants(&self, _component: &str, _event: &str) -> bool {
        true
    }

    /// Sees each event it [wants](Checker::wants) in order; `Err` is a violation at this
    /// event.
    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String>;

    /// Sees the end of the run; `Err` is a violation of an eventually property.
    fn on_end(&mut self, _end: &RunEnd) -> Result<(), String> {
        Ok(())
    }
}

/// One broken guarantee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub checker: String,
    /// The index of the event that broke it (the event count for end-of-run checks).
    pub event_index: u64,
    pub t_ns: u64,
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated at event #{} (t={}): {}",
            self.checker,
            self.event_index,
            SimTime(self.t_ns),
            self.explanation
        )
    }
}

/// The checkers of one run. A checker that fails once is not asked again, so each reports
/// its first violation only.
#[derive(Default)]
pub struct CheckerSet {
    checkers: Vec<(Box<dyn Checker>, bool)>,
    violations: Vec<Violation>,
    routes: Vec<Route>,
    /// Route numbers by event [slot](crate::event::Slot) and kind, plus one; 0 where the
    /// route is not known yet.
    by_slot: Vec<Vec<u32>>,
}

/// The checkers that want events of one name, in the set's order.
struct Route {
    component: &'static str,
    event: &'static str,
    checkers: Vec<usize>,
}

impl CheckerSet {
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Self {
        CheckerSet {
            checkers: checkers.into_iter().map(|c| (c, false)).collect(),
            violations: vec![],
            routes: vec![],
            by_slot: vec![],
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.checkers.iter().map(|(c, _)| c.name()).collect()
    }

    /// The route of events named `component.event`, made on first sight of the name.
    fn route(&mut self, component: &'static str, event: &'static str) -> usize {
        if let Some(i) = self
            .routes
            .iter()
            .position(|r| r.component == component && r.event == event)
        {
            return i;
        }
        let checkers = self
            .checkers
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| c.wants(component, event))
            .map(|(i, _)| i)
            .collect();
        self.routes.push(Route {
            component,
            event,
            checkers,
        });
        self.routes.len() - 1
    }

    /// The route of `ev`: from the slot table once the run has seen its kind, by its names
    /// before that (and always for an event without a slot).
    #[inline]
    pub(crate) fn route_of<E: Event + ?Sized>(&mut self, ev: &E) -> usize {
        let Some(slot) = ev.slot() else {
            return self.route(ev.component(), ev.name());
        };
        let kind = ev.kind();
        if let Some(&r) = self.by_slot.get(slot).and_then(|k| k.get(kind)) {
            if r != 0 {
                return r as usize - 1;
            }
        }
        let r = self.route(ev.component(), ev.name());
        if self.by_slot.len() <= slot {
            self.by_slot.resize_with(slot + 1, Vec::new);
        }
        let kinds = &mut self.by_slot[slot];
        if kinds.len() <= kind {
            kinds.resize(kind + 1, 0);
        }
        kinds[kind] = u32::try_from(r + 1).expect("fewer than 2^32 event names");
        r
    }

    /// Shows `ev` to every checker that wants it.
    pub(crate) fn observe(&mut self, ev: &EventRef<'_>) {
        let route = self.route_of(ev.event);
        self.observe_route(route, ev);
    }

    /// Shows `ev` to the checkers of `route`, which must be the route of its name.
    pub(crate) fn observe_route(&mut self, route: usize, ev: &EventRef<'_>) {
        for &i in &self.routes[route].checkers {
            let (c, failed) = &mut self.checkers[i];
            if *failed {
                continue;
            }
            if let Err(explanation) = c.on_event(ev) {
                *failed = true;
                self.violations.push(Violation {
                    checker: c.name().to_string(),
                    event_index: ev.index,
                    t_ns: ev.t_ns,
                    explanation,
                });
            }
        }
    }

    pub(crate) fn finish(&mut self, index: u64, end: &RunEnd) {
        for (c, failed) in &mut self.checkers {
            if *failed {
                continue;
            }
            if let Err(explanation) = c.on_end(end) {
                *failed = true;
                self.violations.push(Violation {
                    checker: c.name().to_string(),
                    event_index: index,
                    t_ns: end.t_ns,
                    explanation,
                });
            }
        }
    }

    pub(crate) fn take_violations(&mut self) -> Vec<Violation> {
        std::mem::take(&mut self.violations)
    }
}

/// Runs checkers over a finished list of events, outside any simulation; used by tests
/// that feed hand-written traces to a checker to show it has teeth. An event's index is
/// its position in `events`.
pub fn check_events(
    checkers: Vec<Box<dyn Checker>>,
    events: &[Recorded],
    end: &RunEnd,
) -> Vec<Violation> {
    let mut set = CheckerSet::new(checkers);
    for (i, ev) in events.iter().enumerate() {
        set.observe(&ev.view(i as u64));
    }
    set.finish(events.len() as u64, end);
    set.take_violations()
}
