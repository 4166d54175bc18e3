//! Client message lists: the message catalog, per-context message stacks, and the client
//! manager whose replicated state survives a master failover (DESIGN.md §B).
//!
//! These are transport-free state machines; the distributed shell that runs them on the
//! cluster engine (clients, tasks raising events, failover) builds on them.

pub mod catalog;
pub mod manager;
pub mod stack;
