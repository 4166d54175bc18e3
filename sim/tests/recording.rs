//! How a run records events: typed and legacy events side by side, each shown only to
//! the checkers that want its name, and nothing recorded (or evaluated) outside a run.

use sim::check::{check_events, Checker, RunEnd};
use sim::event::LegacyEvent;
use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use sim::{emit, EventRef, NodeId, Recorded, Value};
use std::sync::{Arc, Mutex};

sim::trace_events! {
    /// A component with two events.
    enum T in "t" {
        /// Wanted by the checker below.
        Wanted as "wanted" {
            /// A number.
            n: u64,
        },
        /// Not wanted by it.
        Other as "other",
    }
}

#[derive(Debug)]
struct Member(u64);

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m{}", self.0)
    }
}

async fn node(ctx: NodeCtx<()>) {
    if ctx.id != 0 {
        return;
    }
    let member = Member(4);
    let why = "because";
    let count = 3u32;
    for n in 0..3u64 {
        emit!(ctx.id, T::Wanted { n });
        emit!(ctx.id, T::Other);
        emit!(
            ctx.id,
            "old",
            "thing",
            n = n,
            delta = -2i64,
            flag = true,
            why = why,
            member = %member,
            dbg = ?member,
            count
        );
        emit!(ctx.id, "old", "bare");
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
        matches!((component, event), ("t", "wanted") | ("old", "thing"))
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let name = match ev.get::<T>() {
            Some(T::Wanted { n }) => format!("t.wanted {n}"),
            Some(T::Other) => "t.other".to_string(),
            None => format!("{}.{} {}", ev.component(), ev.name(), ev.u64("n").unwrap()),
        };
        self.names.lock().unwrap().push(name);
        Ok(())
    }
}

#[test]
fn typed_and_legacy_events_reach_the_checkers_that_want_them() {
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
            "old.thing 0",
            "t.wanted 1",
            "old.thing 1",
            "t.wanted 2",
            "old.thing 2"
        ]
    );
    let old = r.trace.iter().find(|e| e.is("old", "thing")).unwrap();
    assert_eq!(old.node, NodeId(0));
    assert!(
        old.to_string().ends_with(
            "old.thing n=0 delta=-2 flag=true why=because member=m4 dbg=Member(4) count=3"
        ),
        "{old}"
    );
    assert_eq!(old.u64("delta"), None);
    assert_eq!(old.bool("flag"), Some(true));
    assert_eq!(old.str("member"), Some("m4"));
    assert!(r.trace.iter().any(|e| e.is("old", "bare")));
}

#[test]
fn outside_a_run_nothing_is_recorded_or_evaluated() {
    let evaluated = std::cell::Cell::new(false);
    let touch = || {
        evaluated.set(true);
        1u64
    };
    emit!(0, "old", "thing", n = touch());
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
        (component, event) == ("t", "wanted") || component == "old"
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let n = match ev.get::<T>() {
            Some(T::Wanted { n }) => *n,
            _ => ev.u64("n").unwrap_or(0),
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
fn check_events_runs_checkers_over_hand_written_traces_of_both_kinds() {
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
    let legacy = [Recorded::new(
        5_000,
        NodeId::WORLD,
        LegacyEvent::new("old", "thing", vec![("n", Value::U64(5))]),
    )];
    assert_eq!(run(&legacy)[0].explanation, "5 at world is odd");
    assert_eq!(run(&typed[..1])[0].explanation, "saw nothing");
}
