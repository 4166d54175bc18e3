//! Replicated services on the cluster engine: a state machine every member of a group
//! applies in agreed order ([`replica`]), served to nodes outside the engine by the group's
//! master under a lease ([`shell`]). The client manager (DESIGN.md §B) and the process
//! manager (§C) are such services.

pub mod checkers;
pub mod external;
pub mod replica;
pub mod shell;
