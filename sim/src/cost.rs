//! The processing-cost model: how long a work thread's handling of one message takes in
//! simulated time, and the simulated cores a node's work threads share.
//!
//! A world has no cost model unless its [`WorldConfig`](crate::WorldConfig) sets one, and
//! then [`Cores::process`] returns at once without touching the RNG, the clock or the
//! trace: a run without the model is exactly what it was before the model existed. With
//! it, each call waits for one of the node's cores (first come, first served), holds it
//! for a service time drawn from madsim's seeded RNG, and gives it back. Only work threads
//! call it; a job's main thread never waits for a core, so it stays responsive however
//! loaded its node is. A crashed node's cores go with it: a restarted node gets new ones.
//!
//! The model is a multi-server FIFO queue per node (an M/G/c station when arrivals are
//! Poisson), which is what `sim/tests/cost.rs` checks it against: M/M/1 and M/D/1 mean
//! sojourn times from queueing theory.

use rand::Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The distribution a message's service time is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum ServiceTime {
    /// Every message takes the same time.
    Constant { service_time_us: u64 },
    /// Uniform between the two, inclusive, at nanosecond resolution.
    Uniform {
        min_service_time_us: u64,
        max_service_time_us: u64,
    },
    /// Exponential with this mean (memoryless, as an M/M/c server).
    Exponential { mean_service_time_us: u64 },
}

impl ServiceTime {
    /// The mean service time, in simulated ns.
    pub fn mean_ns(&self) -> f64 {
        match *self {
            ServiceTime::Constant { service_time_us } => service_time_us as f64 * 1e3,
            ServiceTime::Uniform {
                min_service_time_us,
                max_service_time_us,
            } => (min_service_time_us + max_service_time_us) as f64 * 1e3 / 2.0,
            ServiceTime::Exponential {
                mean_service_time_us,
            } => mean_service_time_us as f64 * 1e3,
        }
    }

    /// Draws one service time in ns; a constant draws nothing from `rng`.
    pub fn draw_ns(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            ServiceTime::Constant { service_time_us } => service_time_us * 1_000,
            ServiceTime::Uniform {
                min_service_time_us,
                max_service_time_us,
            } => rng.gen_range(min_service_time_us * 1_000..=max_service_time_us * 1_000),
            ServiceTime::Exponential {
                mean_service_time_us,
            } => {
                let mean_ns = mean_service_time_us as f64 * 1e3;
                match Exp::new(1.0 / mean_ns) {
                    Ok(exp) => exp.sample(rng).round() as u64,
                    // A zero mean: every message is free.
                    Err(_) => 0,
                }
            }
        }
    }

    /// A short description for reports: `constant 200 us`, `uniform 100..300 us`,
    /// `exponential, mean 200 us`.
    pub fn describe(&self) -> String {
        match *self {
            ServiceTime::Constant { service_time_us } => format!("constant {service_time_us} us"),
            ServiceTime::Uniform {
                min_service_time_us,
                max_service_time_us,
            } => format!("uniform {min_service_time_us}..{max_service_time_us} us"),
            ServiceTime::Exponential {
                mean_service_time_us,
            } => format!("exponential, mean {mean_service_time_us} us"),
        }
    }
}

/// A world's processing-cost model: the service time of one message and the cores each
/// node has.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    pub service: ServiceTime,
    /// Simulated cores per node, shared by all its work threads.
    pub cores_per_node: u32,
}

impl CostModel {
    /// Messages per simulated second one node can handle when its work threads keep every
    /// core they can use busy: at most one core per thread.
    pub fn node_capacity_per_s(&self, work_threads: u32) -> f64 {
        let servers = self.cores_per_node.min(work_threads).max(1);
        f64::from(servers) * 1e9 / self.mean_ns_at_least_1()
    }

    fn mean_ns_at_least_1(&self) -> f64 {
        self.service.mean_ns().max(1.0)
    }

    /// `cores, service` for reports: `2 cores, constant 200 us`.
    pub fn describe(&self) -> String {
        format!(
            "{} core{}, {}",
            self.cores_per_node,
            if self.cores_per_node == 1 { "" } else { "s" },
            self.service.describe()
        )
    }
}

/// One node incarnation's cores, and the model that charges them; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Cores {
    charged: Option<(ServiceTime, Arc<Semaphore>)>,
}

impl Cores {
    /// The cores of a fresh node incarnation; without a model, handling is free.
    pub fn new(model: Option<&CostModel>) -> Self {
        Cores {
            charged: model.map(|m| {
                assert!(m.cores_per_node > 0, "a node needs at least one core");
                (
                    m.service,
                    Arc::new(Semaphore::new(m.cores_per_node as usize)),
                )
            }),
        }
    }

    /// Whether handling costs anything here.
    pub fn is_charged(&self) -> bool {
        self.charged.is_some()
    }

    /// The handling of one message: waits for a core, holds it for a drawn service time,
    /// and gives it back (also when the waiting task is dropped, e.g. by a crash). Without
    /// a model it returns at once and draws nothing.
    pub async fn process(&self) {
        let Some((service, cores)) = &self.charged else {
            return;
        };
        // Tokio's semaphore hands out permits in the order they were asked for: the
        // cores serve waiting threads first come, first served.
        let _core = cores.acquire().await.expect("the cores are never closed");
        let ns = service.draw_ns(&mut madsim::rand::thread_rng());
        if ns > 0 {
            crate::clock::sleep_exact(Duration::from_nanos(ns)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_have_the_stated_means() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for s in [
            ServiceTime::Constant {
                service_time_us: 200,
            },
            ServiceTime::Uniform {
                min_service_time_us: 100,
                max_service_time_us: 300,
            },
            ServiceTime::Exponential {
                mean_service_time_us: 200,
            },
        ] {
            let n = 200_000;
            let sum: u64 = (0..n).map(|_| s.draw_ns(&mut rng)).sum();
            let mean = sum as f64 / n as f64;
            assert!((mean / s.mean_ns() - 1.0).abs() < 0.01, "{s:?}: {mean}");
        }
        let u = ServiceTime::Uniform {
            min_service_time_us: 1,
            max_service_time_us: 2,
        };
        assert!((0..1000)
            .map(|_| u.draw_ns(&mut rng))
            .all(|x| (1_000..=2_000).contains(&x)));
        let zero = ServiceTime::Exponential {
            mean_service_time_us: 0,
        };
        assert_eq!(zero.draw_ns(&mut rng), 0);
    }

    #[test]
    fn capacity_counts_the_cores_a_node_can_keep_busy() {
        let m = CostModel {
            service: ServiceTime::Constant {
                service_time_us: 200,
            },
            cores_per_node: 2,
        };
        assert_eq!(m.node_capacity_per_s(2), 10_000.0);
        assert_eq!(
            m.node_capacity_per_s(1),
            5_000.0,
            "one thread uses one core"
        );
        assert_eq!(m.node_capacity_per_s(8), 10_000.0);
        assert_eq!(m.describe(), "2 cores, constant 200 us");
        let json = serde_json::to_value(m).unwrap();
        assert_eq!(json["service"]["distribution"], "constant");
        assert_eq!(json["service"]["service_time_us"], 200);
        assert_eq!(serde_json::from_value::<CostModel>(json).unwrap(), m);
    }
}
