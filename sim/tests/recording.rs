//! How a run records events: each shown only to the checkers that want its name, kept in
//! order with its index, and nothing recorded (or built) outside a run.

use sim::check::{check_events, Checker, RunEnd};
use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use sim::{emit, EventRef, NodeId, Recorded};
use std::sync::{Arc, Mutex};

sim::trace_events! {
    /// A component with three events.
    enum T in "t" {
        /// Wanted by the checker below.
        Wanted as "wanted" {
            /// A number.
            n: u64,
        },
        /// Not wanted by it.
        Other as "other",
        /// Fields of several kinds, for the printed line.
        Mixed as "mixed" {
            /// A signed number.
            delta: i64,
            /// A flag.
            flag: bool,
            /// A text.
            why: &'static str,
            /// A node.
            peer: NodeId,
        },
    }
}

async fn node(ctx: NodeCtx<()>) {
    if ctx.id != 0 {
        return;
    }
    for n in 0..3u64 {
        emit!(ctx.id, T::Wanted { n });
        emit!(ctx.id, T::Other);
        emit!(
            ctx.id,
            T::Mixed {
                delta: -2,
                flag: true,
                why: "because",
                peer: NodeId(1),
            }
        );
    }
}

/// Writes down the name of every event it is shown.
struct Seen {
    names: Arc<Mutex<Vec<String>>>,
}

impl Checker for Seen {
    fn name(&self) -> &'static str {
        "seen"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!((component, event), ("t", "wanted") | ("t", "mixed"))
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let name = match ev.get::<T>() {
            Some(T::Wanted { n }) => format!("t.wanted {n}"),
            Some(T::Other) => "t.other".to_string(),
            Some(T::Mixed { .. }) => "t.mixed".to_string(),
            None => format!("{}.{}", ev.component(), ev.name()),
        };
        self.names.lock().unwrap().push(name);
        Ok(())
    }
}

#[test]
fn events_reach_only_the_checkers_that_want_them() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let spec = RunSpec {
        seed: 1,
        plan: PlanSource::Given(sim::FaultPlan::empty()),
        keep_events: true,
        detail: sim::Detail::Protocol,
    };
    let checker = Seen {
        names: names.clone(),
    };
    let r = sim::run_world(
        &WorldConfig::new(2, 100, 100),
        &spec,
        vec![Box::new(checker)],
        node,
    )
    .unwrap();
    assert_eq!(
        *names.lock().unwrap(),
        [
            "t.wanted 0",
            "t.mixed",
            "t.wanted 1",
            "t.mixed",
            "t.wanted 2",
            "t.mixed"
        ]
    );
    let mixed = r.trace.iter().find(|e| e.is("t", "mixed")).unwrap();
    assert_eq!(mixed.node, NodeId(0));
    assert!(
        mixed
            .to_string()
            .ends_with("t.mixed delta=-2 flag=true why=because peer=n1"),
        "{mixed}"
    );
    assert_eq!(
        r.trace.iter().filter(|e| e.is("t", "other")).count(),
        3,
        "unwanted events are recorded all the same"
    );
}

#[test]
fn outside_a_run_nothing_is_recorded_or_built() {
    let evaluated = std::cell::Cell::new(false);
    let touch = || {
        evaluated.set(true);
        1u64
    };
    emit!(0, T::Wanted { n: touch() });
    assert!(!evaluated.get());
}

/// Fails on the first `t.wanted` with an odd number, and at the end if it saw none.
struct NoOdd {
    seen: bool,
}

impl Checker for NoOdd {
    fn name(&self) -> &'static str {
        "no_odd"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("t", "wanted")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let Some(T::Wanted { n }) = ev.get::<T>() else {
            return Ok(());
        };
        self.seen = true;
        if n % 2 == 1 {
            return Err(format!("{} at {} is odd", n, ev.node));
        }
        Ok(())
    }

    fn on_end(&mut self, _end: &RunEnd) -> Result<(), String> {
        if self.seen {
            Ok(())
        } else {
            Err("saw nothing".into())
        }
    }
}

#[test]
fn check_events_runs_checkers_over_hand_written_traces() {
    let end = RunEnd {
        t_ns: 10_000_000,
        liveness_start_ns: 0,
        live_nodes: vec![0, 1],
    };
    let run =
        |events: &[Recorded]| check_events(vec![Box::new(NoOdd { seen: false })], events, &end);
    let typed = [
        Recorded::new(1_000, 0usize, T::Other),
        Recorded::new(2_000, 1usize, T::Wanted { n: 2 }),
        Recorded::new(3_000_000, 1usize, T::Wanted { n: 3 }),
    ];
    let v = run(&typed);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].event_index, 2);
    assert_eq!(
        v[0].to_string(),
        "no_odd violated at event #2 (t=0.003000s): 3 at n1 is odd"
    );
    let world = [Recorded::new(5_000, NodeId::WORLD, T::Wanted { n: 5 })];
    assert_eq!(run(&world)[0].explanation, "5 at world is odd");
    assert_eq!(run(&typed[..1])[0].explanation, "saw nothing");
}
