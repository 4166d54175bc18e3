//! `Inbox::tick_at_ns`: a machine that names its next deadline is ticked then, earlier or
//! later than its period, and a timer left over from an earlier deadline brings no tick.

use sim::shell::{self, Input, Ticks};
use sim::{RunSpec, WorldConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MS: u64 = 1_000_000;

#[test]
fn a_rescheduled_tick_comes_at_its_deadline_and_only_then() {
    let w = WorldConfig::new(1, 1_000, 100);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let r = sim::run_world(&w, &RunSpec::scripted(1, vec![]), vec![], move |ctx| {
        let log = log.clone();
        async move {
            let (_node, mut inbox) = shell::open::<u64, ()>(
                ctx.clone(),
                Ticks::at_once_then_every(Duration::from_millis(100)),
            );
            // After each tick, the next deadline: sooner than the period, then later than
            // it (the period's timer, armed before the move, fires first and must not
            // tick), then back to the period.
            let mut plan = [Some(7 * MS), Some(250 * MS), None].into_iter();
            while let Some(input) = inbox.next().await {
                if !matches!(input, Input::Tick) {
                    continue;
                }
                let now = ctx.now_ns();
                log.lock().unwrap().push(now);
                match plan.next() {
                    Some(Some(after)) => inbox.tick_at_ns(now + after),
                    Some(None) => {}
                    None => break,
                }
            }
        }
    })
    .unwrap();
    assert!(r.passed(), "{:?}", r.violations);
    let ticks = seen.lock().unwrap().clone();
    assert_eq!(ticks.len(), 4, "ticks at {ticks:?}");
    // Each tick comes within the poll step madsim adds (under a microsecond) of its deadline.
    let gaps: Vec<u64> = ticks.windows(2).map(|w| (w[1] - w[0]) / 1_000).collect();
    let near = |got: u64, want_ms: u64| got >= want_ms * 1_000 && got < want_ms * 1_000 + 5;
    assert!(
        near(gaps[0], 7),
        "second tick {}µs after the first, not 7 ms",
        gaps[0]
    );
    assert!(
        near(gaps[1], 250),
        "third tick {}µs after the second, not 250 ms",
        gaps[1]
    );
    assert!(
        near(gaps[2], 100),
        "fourth tick {}µs after the third, not the 100 ms period",
        gaps[2]
    );
}
