//! Process management (DESIGN.md §C): processes divided into script threads across nodes,
//! status polling into public, private and status-value structures, and authorization.
//!
//! These are transport-free parts; the distributed shell on the cluster engine builds on
//! them.

pub mod authz;
pub mod script;
pub mod status;
