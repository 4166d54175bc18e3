//! The cluster systems that run inside the simulator (docs/ARCHITECTURE.md, systems A-C), one
//! module each: `engine` is the cluster engine with virtual-synchrony membership, jobs with main
//! and work threads, and the ACK-round protocol; `clients` the client message lists; `pms` process
//! management.

pub mod clients;
pub mod engine;
pub mod pms;
pub mod service;
