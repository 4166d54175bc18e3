//! The scenario catalog: every scenario clustersim can run, each with its planted bugs.

pub mod ack_rounds;
pub mod bench;
pub mod cli;
pub mod demo;
mod engine_common;
pub mod groups;
pub mod membership;

use sim::Scenario;

/// Every scenario, in the order `clustersim list` shows them.
pub fn catalog() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(demo::Demo),
        Box::new(membership::Membership::default()),
        Box::new(ack_rounds::AckRounds::default()),
        Box::new(groups::Groups::default()),
    ]
}

/// Looks a scenario up by name.
pub fn find(name: &str) -> Result<Box<dyn Scenario>, String> {
    catalog()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = catalog().iter().map(|s| s.name()).collect();
            format!("unknown scenario '{name}' (known: {})", names.join(", "))
        })
}
