//! The processing-cost model against queueing theory, run inside the simulator: Poisson
//! arrivals at rate λ to a node with one core whose service rate is μ, each arrival a task
//! that asks for the core the way a work thread does. The mean sojourn time (waiting plus
//! service) must match M/M/1's `1/(μ−λ)` with exponential service and the
//! Pollaczek–Khinchine formula `1/μ + ρ/(2μ(1−ρ))` with constant service, within 5%, at
//! utilisations ρ = 0.3, 0.6 and 0.9. Every draw comes from the run's seed, so each test
//! is one fixed computation: it cannot flake. The sample sizes hold the standard error of
//! the mean near 1% at each utilisation (the mean's variance grows as (1−ρ)⁻⁴ in M/M/1).

use sim::cost::{CostModel, ServiceTime};
use sim::world::{NodeCtx, PlanSource, RunSpec, WorldConfig};
use sim::{FaultPlan, StopSignal};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The mean service time, 1/μ.
const SERVICE_US: u64 = 100;

/// What the customers measured.
#[derive(Default)]
struct Sojourns {
    done: u64,
    total_ns: u128,
}

/// Sends `customers` Poisson arrivals at utilisation `rho` to node 0's one core and
/// returns their mean sojourn time in µs.
fn mean_sojourn_us(service: ServiceTime, rho: f64, customers: u64, seed: u64) -> f64 {
    let model = CostModel {
        service,
        cores_per_node: 1,
    };
    let mean_gap_ns = SERVICE_US as f64 * 1e3 / rho;
    // Room for every arrival, many times over; the run stops when the last one is served.
    let sim_ms = (customers as f64 * mean_gap_ns / 1e6 * 4.0) as u64 + 1_000;
    let mut cfg = WorldConfig::new(1, sim_ms, 0);
    cfg.cost = Some(model);
    let stop = StopSignal::default();
    cfg.stop = Some(stop.clone());
    let spec = RunSpec {
        seed,
        plan: PlanSource::Given(FaultPlan::empty()),
        keep_events: false,
        detail: sim::Detail::Protocol,
    };
    let out = Arc::new(Mutex::new(Sojourns::default()));
    let seen = out.clone();
    let report = sim::run_world(&cfg, &spec, vec![], move |ctx: NodeCtx<()>| {
        arrivals(ctx, mean_gap_ns, customers, seen.clone(), stop.clone())
    })
    .expect("the run");
    assert!(report.passed(), "{:?}", report.violations);
    let s = out.lock().unwrap();
    assert_eq!(s.done, customers, "every customer was served");
    s.total_ns as f64 / s.done as f64 / 1e3
}

async fn arrivals(
    ctx: NodeCtx<()>,
    mean_gap_ns: f64,
    customers: u64,
    out: Arc<Mutex<Sojourns>>,
    stop: StopSignal,
) {
    use rand_distr::{Distribution, Exp};
    let gap = Exp::new(1.0 / mean_gap_ns).expect("a positive rate");
    for _ in 0..customers {
        let ns = gap.sample(&mut madsim::rand::thread_rng()).round() as u64;
        sim::clock::sleep_exact(Duration::from_nanos(ns)).await;
        let (ctx, out, stop) = (ctx.clone(), out.clone(), stop.clone());
        madsim::task::spawn_local(async move {
            let arrived = ctx.now_ns();
            ctx.process_message().await;
            let mut s = out.lock().unwrap();
            s.total_ns += u128::from(ctx.now_ns() - arrived);
            s.done += 1;
            if s.done == customers {
                stop.stop();
            }
        });
    }
    // A node whose init task returns exits, and its tasks with it: wait for the stop.
    futures::future::pending::<()>().await;
}

fn check(service: ServiceTime, rho: f64, customers: u64, theory_us: f64) {
    let measured = mean_sojourn_us(service, rho, customers, 1);
    let error = measured / theory_us - 1.0;
    eprintln!(
        "{} at rho {rho}: mean sojourn {measured:.2} us, theory {theory_us:.2} us, error {:+.2}%",
        service.describe(),
        error * 100.0
    );
    assert!(
        error.abs() < 0.05,
        "{} at rho {rho}: mean sojourn {measured:.2} us against {theory_us:.2} us",
        service.describe()
    );
}

/// M/M/1: `1/(μ−λ)`.
fn mm1(rho: f64, customers: u64) {
    let s = SERVICE_US as f64;
    check(
        ServiceTime::Exponential {
            mean_service_time_us: SERVICE_US,
        },
        rho,
        customers,
        s / (1.0 - rho),
    );
}

/// M/D/1, Pollaczek–Khinchine with a constant service time: `1/μ + ρ/(2μ(1−ρ))`.
fn md1(rho: f64, customers: u64) {
    let s = SERVICE_US as f64;
    check(
        ServiceTime::Constant {
            service_time_us: SERVICE_US,
        },
        rho,
        customers,
        s + rho * s / (2.0 * (1.0 - rho)),
    );
}

#[test]
fn mm1_at_utilisation_0_3() {
    mm1(0.3, 100_000);
}

#[test]
fn mm1_at_utilisation_0_6() {
    mm1(0.6, 400_000);
}

#[test]
fn mm1_at_utilisation_0_9() {
    mm1(0.9, 2_000_000);
}

#[test]
fn md1_at_utilisation_0_3() {
    md1(0.3, 50_000);
}

#[test]
fn md1_at_utilisation_0_6() {
    md1(0.6, 200_000);
}

#[test]
fn md1_at_utilisation_0_9() {
    md1(0.9, 1_000_000);
}

/// Two cores serve two threads at once; a third waits for the first to finish.
#[test]
fn threads_wait_for_a_free_core_first_come_first_served() {
    let mut cfg = WorldConfig::new(1, 1_000, 0);
    cfg.cost = Some(CostModel {
        service: ServiceTime::Constant {
            service_time_us: 1_000,
        },
        cores_per_node: 2,
    });
    let spec = RunSpec {
        seed: 5,
        plan: PlanSource::Given(FaultPlan::empty()),
        keep_events: false,
        detail: sim::Detail::Protocol,
    };
    let finished = Arc::new(Mutex::new(Vec::new()));
    let seen = finished.clone();
    sim::run_world(&cfg, &spec, vec![], move |ctx: NodeCtx<()>| {
        let seen = seen.clone();
        async move {
            for i in 0..5u64 {
                let (ctx, seen) = (ctx.clone(), seen.clone());
                madsim::task::spawn_local(async move {
                    // Arrivals 1 us apart, in order.
                    sim::clock::sleep_exact(Duration::from_micros(i)).await;
                    ctx.process_message().await;
                    seen.lock().unwrap().push((i, ctx.now_ns() / 1_000));
                });
            }
            // The node lives on (a node whose init task returns exits).
            futures::future::pending::<()>().await;
        }
    })
    .expect("the run");
    let got = finished.lock().unwrap().clone();
    // Served in arrival order, two at a time, 1 ms each.
    assert_eq!(
        got,
        vec![(0, 1_000), (1, 1_001), (2, 2_000), (3, 2_001), (4, 3_000)]
    );
}
