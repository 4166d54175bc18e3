//! Replicated services on the cluster engine: a state machine every member of a group
//! applies in agreed order ([`replica`]), served to nodes outside the engine by the group's
//! master under a lease ([`shell`]). The client manager (docs/ARCHITECTURE.md §B) and the process
//! manager (§C) are such services.

pub mod checkers;
pub mod events;
pub mod external;
pub mod replica;
pub mod shell;

/// The replicated services' own events (`svc.*`): names, fields and docs.
pub fn event_schemas() -> [&'static sim::event::ComponentSchema; 1] {
    [events::SvcEvent::schema()]
}
