//! The cluster systems that run inside the simulator (DESIGN.md §A-§C).

pub mod clients;
pub mod pms;
