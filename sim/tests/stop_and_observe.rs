//! Two hooks for benchmarks: a delivery observer sees every message the network delivers,
//! with its sampled latency, and a stop signal ends a run early without judging its end.

use sim::check::{Checker, RunEnd};
use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use sim::{emit, EventRef, StopSignal};
use std::sync::{Arc, Mutex};
use std::time::Duration;

sim::trace_events! {
    /// The ponging node.
    enum T in "t" {
        /// A ping arrived.
        Pong as "pong" {
            /// The ping's number.
            i: u64,
        },
    }
}

async fn ping_pong(ctx: NodeCtx<u64>, seen: Arc<Mutex<Vec<u64>>>) {
    if ctx.id == 0 {
        ctx.net().observe_deliveries(Box::new(move |env| {
            seen.lock().unwrap().push(env.latency_ns);
        }));
        for i in 0.. {
            ctx.send(1, i);
            madsim::time::sleep(Duration::from_millis(10)).await;
        }
    } else {
        loop {
            let env = ctx.recv().await;
            emit!(ctx.id, T::Pong { i: env.msg });
        }
    }
}

/// Stops the run at the fifth pong, and would fail every run that reaches its end.
struct StopAtFive {
    stop: StopSignal,
    pongs: u64,
}

impl Checker for StopAtFive {
    fn name(&self) -> &'static str {
        "stop_at_five"
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(T::Pong { .. }) = ev.get() {
            self.pongs += 1;
            if self.pongs == 5 {
                self.stop.stop();
            }
        }
        Ok(())
    }

    fn on_end(&mut self, _end: &RunEnd) -> Result<(), String> {
        Err("the run reached its end".to_string())
    }
}

#[test]
fn a_stopped_run_ends_early_and_the_observer_saw_every_delivery() {
    let stop = StopSignal::default();
    let mut cfg = WorldConfig::new(2, 10_000, 1_000);
    cfg.stop = Some(stop.clone());
    let spec = RunSpec {
        seed: 3,
        plan: PlanSource::Given(sim::FaultPlan::empty()),
        keep_events: true,
        detail: sim::Detail::Protocol,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let checker = StopAtFive { stop, pongs: 0 };
    let r = sim::run_world(&cfg, &spec, vec![Box::new(checker)], move |ctx| {
        ping_pong(ctx, seen2.clone())
    })
    .unwrap();
    assert!(
        r.passed(),
        "end-of-run checks are skipped: {:?}",
        r.violations
    );
    assert!(r.sim_ns < 100_000_000, "stopped at {} ns", r.sim_ns);
    assert!(r.trace.text().contains("world.stop"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, r.net.delivered);
    assert!(seen.len() >= 5);
    assert!(seen.iter().all(|l| (1_000_000..=5_000_000).contains(l)));
}
