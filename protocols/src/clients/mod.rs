//! Client message lists (docs/ARCHITECTURE.md §B): clients outside the engine connect to the
//! master, which keeps per-client contexts whose message lists are stacks; error and dialogue
//! events detected by tasks on any node become coded, formatted messages delivered through the
//! client object; the master fails over without losing a message.
//!
//! Module map: [`catalog`] formats codes into messages from a data table; [`stack`] is one
//! context's message list; [`manager`] is the replicated client-manager state machine;
//! [`service`] runs it on every engine node (tasks, and the master's duties); [`client`]
//! is a client process; [`wire`] what they say to each other; [`events`] what they
//! trace; [`checkers`] the guarantees.

pub mod catalog;
pub mod checkers;
pub mod client;
pub mod events;
pub mod manager;
pub mod service;
pub mod stack;
pub mod wire;

/// The client system's events (`client.*`, `task.*`, `cm.*`): names, fields and docs.
pub fn event_schemas() -> [&'static sim::event::ComponentSchema; 3] {
    [
        events::ClientEvent::schema(),
        events::TaskEvent::schema(),
        events::CmEvent::schema(),
    ]
}
