//! The cluster systems of clustersim, one module each. `engine` is the cluster engine with
//! virtual-synchrony membership, jobs with main and work threads, and the ACK-round protocol.

pub mod engine;
