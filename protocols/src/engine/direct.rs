//! How an ACK round's messages travel from the coordinator to the members: the **ordered**
//! variant multicasts each through the engine's agreed total order, and the **direct**
//! variant sends it to each member of the coordinator's current view over the CE's
//! reliable links (in both, members ACK straight back by unicast).
//!
//! The rounds themselves ([`super::ack_round`]) are the same state machine in both: a view
//! change restarts or completes a round exactly as in the ordered variant, and a new
//! coordinator adopts what its predecessor left open. What differs is the path. An
//! ordered round message goes to the view's sequencer, out to every node, and is delivered
//! only once the sequencer has heard that every node received it (safe delivery: a
//! report to the sequencer and a stability announcement back), so a round costs four
//! one-way trips before the last ACK arrives. A direct one costs two: out, and the ACK.
//! Without the total order and the stability round, members see round messages in each
//! coordinator's send order only, and a member cut off before it received one never sees
//! it; the coordinator's view change restarts the round for whoever is still there. Each
//! unicast names the view it was sent in, and a member's CE keeps one that arrives before
//! it has installed that view (see `Ce::with_held_unicasts`) rather than dropping it, as
//! nothing would send it again.

use super::ack_round::RoundMsg;
use super::job::CeHandle;
use super::membership::JobToCe;
use super::{Member, Payload};
use std::collections::BTreeSet;

/// How a coordinator's round messages reach the members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoundVariant {
    /// Through the engine's agreed-order multicast, delivered once stable.
    #[default]
    Ordered,
    /// Straight to each member of the coordinator's view.
    Direct,
}

impl RoundVariant {
    pub const ALL: [RoundVariant; 2] = [RoundVariant::Ordered, RoundVariant::Direct];

    pub fn name(self) -> &'static str {
        match self {
            RoundVariant::Ordered => "ordered",
            RoundVariant::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<RoundVariant> {
        RoundVariant::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// Sends coordinator `from`'s round messages `msgs`, in order: each as one multicast, or
/// as one unicast to every member of `view` (itself included: its own work thread
/// processes and ACKs the round like any member's).
pub fn send_rounds(
    variant: RoundVariant,
    ce: &CeHandle<Payload>,
    from: Member,
    view: Option<&BTreeSet<Member>>,
    msgs: Vec<RoundMsg>,
) {
    match variant {
        RoundVariant::Ordered => {
            for m in msgs {
                ce.send(JobToCe::Multicast {
                    member: from,
                    payload: Payload::Round(m),
                });
            }
        }
        RoundVariant::Direct => {
            let Some(view) = view else { return };
            for m in msgs {
                for to in view {
                    ce.send(JobToCe::Unicast {
                        from,
                        to: *to,
                        payload: Payload::Round(m.clone()),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_read_back_their_names() {
        for v in RoundVariant::ALL {
            assert_eq!(RoundVariant::parse(v.name()), Some(v));
        }
        assert_eq!(RoundVariant::parse("sideways"), None);
        assert_eq!(RoundVariant::default(), RoundVariant::Ordered);
    }
}
