//! A run that ends in a panic reports it as a `no_panic` violation at the simulated time
//! it happened, also when the run keeps no events to date it by.

use sim::shell::{self, Machine, Node, Ticks};
use sim::{Envelope, RunSpec, WorldConfig};
use std::time::Duration;

/// Panics at its first tick at or after 1.5 s of simulated time, saying when.
struct PanicsLate;

impl Machine for PanicsLate {
    type Msg = ();
    type Local = ();
    fn on_message(&mut self, _: &mut Node<()>, _: Envelope<()>) {}
    fn on_tick(&mut self, node: &mut Node<()>) {
        if node.now_ns() >= 1_500_000_000 {
            panic!("a protocol invariant broke at {} ns", node.now_ns());
        }
    }
}

fn run(keep_events: bool) -> sim::RunReport {
    let w = WorldConfig::new(2, 2_000, 1_000);
    let mut spec = RunSpec::scripted(3, vec![]);
    spec.keep_events = keep_events;
    sim::run_world(&w, &spec, vec![], |ctx| {
        let ticks = Ticks::every(Duration::from_millis(500));
        shell::run(ctx, ticks, |_| PanicsLate)
    })
    .expect("a valid world")
}

#[test]
fn a_panic_is_reported_at_the_simulated_time_it_happened() {
    for keep_events in [true, false] {
        let r = run(keep_events);
        let v = &r.violations[0];
        assert_eq!(v.checker, "no_panic", "{:?}", r.violations);
        assert!(
            v.explanation.contains("a protocol invariant broke"),
            "{v:?}"
        );
        // The time the machine read when it panicked, which its message states.
        let said: u64 = v
            .explanation
            .split("broke at ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("the panic states its time");
        assert!(said >= 1_500_000_000);
        assert_eq!(v.t_ns, said, "keep_events: {keep_events}");
    }
}
