//! Process management (docs/ARCHITECTURE.md §C): processes divided into script threads across
//! nodes, status polling into public, private and status-value structures, and authorization.
//!
//! Module map: [`script`] runs one thread's rhai script, deterministic and bounded;
//! [`status`] is the replicated process table (public, private and status-value
//! structures, placement); [`authz`] checks credentials and roles; [`service`] runs the
//! PMS on every engine node (the threads placed there, and the primary's duties: requests,
//! placement, polling, dead hosts); [`ui`] is a UI client outside the engine; [`wire`]
//! what they say to each other; [`events`] what they trace; [`checkers`] the guarantees.

pub mod authz;
pub mod checkers;
pub mod events;
pub mod script;
pub mod service;
pub mod status;
pub mod ui;
pub mod wire;

/// The PMS's events (`pms.*`, `ui.*`): names, fields and docs.
pub fn event_schemas() -> [&'static sim::event::ComponentSchema; 2] {
    [events::PmsEvent::schema(), events::UiEvent::schema()]
}
