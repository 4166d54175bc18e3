//! The process-management checkers on hand-written traces: each accepts a correct history
//! and rejects the broken histories it exists for.

mod common;
use common::{unregister, violations};
use protocols::pms::checkers::EveryThreadAccounted;
use protocols::pms::events::{PmsEvent, StateName, ThreadRef};
use protocols::pms::status::Host;
use sim::Recorded;

/// The run of `common::end` lasts 100 s; with this settle time, what was placed before
/// 90 s must have started by the end.
const SETTLE_MS: u64 = 10_000;

/// Thread 7/1 recorded on the host `0.0.job`.
fn status(t_ms: u64, attempt: u32, state: StateName, job: u64) -> Recorded {
    Recorded::new(
        t_ms * 1_000_000,
        1u64,
        PmsEvent::Status {
            thread: ThreadRef {
                process: 7,
                thread: 1,
            },
            attempt,
            state,
            host: Host {
                node: 0,
                inc: 0,
                job,
            },
            detail: String::new(),
        },
    )
}

fn accounted(events: &[Recorded]) -> Vec<String> {
    violations(Box::new(EveryThreadAccounted::new(5, SETTLE_MS)), events)
}

#[test]
fn every_thread_accounted_owes_a_start_from_the_current_attempts_placement() {
    // Placed early on a host whose job died, placed again after the cutoff: owes nothing.
    let late = [
        status(50_000, 0, StateName::Pending, 0),
        unregister(60_000, "0.0.0"),
        status(95_000, 1, StateName::Pending, 1),
    ];
    assert_eq!(accounted(&late), Vec::<String>::new());
    // Placed again before the cutoff and still pending at the end: never started.
    let early = [
        status(50_000, 0, StateName::Pending, 0),
        unregister(60_000, "0.0.0"),
        status(80_000, 1, StateName::Pending, 1),
    ];
    let v = accounted(&early);
    assert!(
        v.len() == 1 && v[0].contains("placed on live host 0.0.1 at 80.000000s"),
        "{v:?}"
    );
    // Left pending on the host that died before the cutoff: forgotten on a dead host.
    let forgotten = [
        status(50_000, 0, StateName::Pending, 0),
        unregister(60_000, "0.0.0"),
    ];
    let v = accounted(&forgotten);
    assert!(v.len() == 1 && v[0].contains("which died at"), "{v:?}");
    // A later record of the same attempt (another replica applying it) keeps its date.
    let same_attempt = [
        status(50_000, 0, StateName::Pending, 0),
        status(95_000, 0, StateName::Pending, 0),
    ];
    let v = accounted(&same_attempt);
    assert!(v.len() == 1 && v[0].contains("at 50.000000s"), "{v:?}");
}
