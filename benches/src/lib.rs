//! Benchmarks of the simulator and its protocols: baselines to compare against, and the
//! ACK-round report generator.

pub mod baselines;
pub mod report;
