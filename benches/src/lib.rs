//! Benchmarks of the simulator and its protocols: baselines to compare against, the
//! two floors of ACK rounds, and the ACK-round report generator.

pub mod alloc;
pub mod baselines;
pub mod floor;
pub mod report;
