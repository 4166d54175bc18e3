//! The replicated services' own trace events (`svc.*`): a replica catching up, stepping
//! down, and the master starting and stopping to serve. Positions in the agreed order
//! print as [`Pos`] (`view:seq`), members as `node.inc.job`.

use super::replica::Pos;
use crate::engine::Member;

/// Why a master stopped serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeStop {
    /// A new view came in that this master did not carry on serving.
    ViewChange,
    /// The CE lost the quorum of the view.
    QuorumLost,
    /// The replica is no longer synced (it stepped down).
    NotSynced,
    /// The lease for the view ran out.
    LeaseExpired,
    /// This node is no longer the master of its view.
    NotMaster,
    /// Its job unregistered after a work-thread fault.
    Unregistered,
}

impl ServeStop {
    pub fn name(self) -> &'static str {
        match self {
            ServeStop::ViewChange => "view_change",
            ServeStop::QuorumLost => "quorum_lost",
            ServeStop::NotSynced => "not_synced",
            ServeStop::LeaseExpired => "lease_expired",
            ServeStop::NotMaster => "not_master",
            ServeStop::Unregistered => "unregistered",
        }
    }
}

sim::trace_field_by_name!(ServeStop);

sim::trace_events! {
    /// A replicated service's replicas and master.
    pub enum SvcEvent in "svc" {
        /// A replica holds the group's state: it may apply commands and, as master, serve.
        Synced as "synced" {
            /// The replica's member.
            member: Member,
            /// Where in the agreed order its state stands.
            at: Pos,
            /// Whether it got there by the election among the view's members (rather than
            /// from a snapshot).
            from_election: bool,
        },
        /// A replica found a member ahead of its frontier, and steps down to catch up.
        StepDown as "step_down" {
            /// The replica's member.
            member: Member,
            /// Its frontier.
            at: Pos,
            /// The member that asked for state.
            behind: Member,
            /// What that member holds.
            has: Pos,
        },
        /// The master started serving nodes outside the engine.
        MasterUp as "master_up" {
            /// The view it serves.
            view: u64,
        },
        /// The master stopped serving.
        MasterDown as "master_down" {
            /// The view it served.
            view: u64,
            /// Why it stopped.
            why: ServeStop,
        },
    }
}
