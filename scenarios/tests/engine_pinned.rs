//! Pinned failing seeds: every seed a sweep of an engine scenario once failed on, kept
//! passing. Each line names the scenario, the seed and what went wrong before the fix.

use scenarios::assert_seed_passes as passes;
use sim::RunSpec;

/// Every node of a majority restarted and, knowing no past view id, formed view 1 again.
#[test]
fn membership_115_view_ids_survive_restarts() {
    passes("membership", 115);
}

/// The checker expected notifications from survivors that had already lost quorum.
#[test]
fn membership_211_no_survivors_without_quorum() {
    passes("membership", 211);
    passes("ack-rounds", 211);
}

/// A node excluded by a colliding proposal id never noticed, kept its pending multicasts
/// and submitted them again after the merge: delivered twice.
#[test]
fn membership_261_excluded_node_notices() {
    passes("membership", 261);
}

/// A proposal made at the first suspicion included a node suspected a heartbeat later,
/// and waited a whole proposal timeout for it: the notification came too late.
#[test]
fn membership_399_proposal_aborts_on_suspicion() {
    passes("membership", 399);
}

/// The old sequencer, cut off with a minority of the old view, went on delivering a
/// message the others never received; its sender submitted it again after the merge:
/// delivered twice. Fixed by safe delivery (only what every node of the view received).
#[test]
fn membership_676_minority_of_old_view_delivers_only_stable() {
    passes("membership", 676);
}

/// A sequencer left behind in an old view rejoined two views later and delivered an
/// unstable message of that old view, which its sender (in the newer view) submitted
/// again: delivered twice. The install now carries each sender's delivered high-water
/// mark, and the sender drops what the new view has already seen.
#[test]
fn membership_962_no_resubmission_of_delivered_messages() {
    passes("membership", 962);
}

/// A 387 ms latency spike at the coordinator made every flush round trip longer than the
/// proposal timeout: no view change could complete and a round waited on a crashed node.
#[test]
fn ack_rounds_786_proposal_timeout_outlasts_latency_spikes() {
    passes("ack-rounds", 786);
}

/// Two members went from view 3 to view 5 together, but a third reporter came from a
/// newer view 4, and only the newest old view was carried over: one of the two had
/// delivered a message of view 3 the other never got. All old views are carried over
/// again; duplicates are prevented by the delivered high-water marks in the install.
#[test]
fn membership_1865_every_old_view_is_flushed() {
    passes("membership", 1865);
    passes("ack-rounds", 1123);
    passes("ack-rounds", 1178);
}

/// After a one-way partition healed, a link ACK made the coordinator trust a node again
/// before a fresh heartbeat came: it proposed the node's job list from before the
/// partition, re-adding a job that had left and calling its successor `Left`.
#[test]
fn membership_619_no_view_from_a_stale_heartbeat() {
    passes("membership", 619);
}

/// Corosync-like timing on 7 nodes: a proposal named the old incarnations of two nodes
/// that had restarted, waited out its 12.5 s timeout, then kept the new incarnations out
/// for 25 s: they never rejoined. Proposals now abort when a proposed node restarts, and
/// a new incarnation starts with a clean record.
#[test]
fn corosync_like_7_nodes_194_restarted_nodes_rejoin() {
    use protocols::engine::CeConfig;
    use sim::Scenario;
    let s = scenarios::membership::Membership {
        nodes: 7,
        ce: CeConfig::corosync_like(7),
        ..Default::default()
    };
    let r = s.run(&RunSpec::swarm(194), None).unwrap();
    assert!(r.passed(), "{}", r.violations[0]);
}

/// Two named groups: the only two members of `beta` were clogged from each other while
/// both still reached the engine's coordinator. The link gave up on the ACK after three
/// failure timeouts and the round waited for it until the next view change. Links to
/// nodes of the current view are no longer abandoned.
#[test]
fn groups_298_links_inside_the_view_keep_their_messages() {
    passes("groups", 298);
    passes("groups", 29);
}

/// A restarted member ACKed a round to a node it had not heard from yet (its incarnation
/// unknown), and the engine silently dropped the message: the round waited for ever.
/// Such messages now wait until the peer's first message arrives.
#[test]
fn groups_710_messages_wait_for_an_unknown_incarnation() {
    passes("groups", 710);
}

/// Nine seconds of 45-49 % packet loss made a prepare round of the `beta` group take
/// 8.9 s; the round bound no longer counts time under packet-loss windows.
#[test]
fn groups_1205_round_bound_pauses_under_packet_loss() {
    passes("groups", 1205);
}

/// A clog had made a node's proposals bounce four times, doubling its retry pause to
/// 800 ms, and nothing reset it since the node never installed a view. Three seconds
/// later, its first proposal after a partition was rejected by a node that had not yet
/// suspected the old coordinator, and the retry came 800 ms later: notification missed its
/// bound. The retry pause now starts over when the last rejection is long past.
#[test]
fn membership_20338_retry_backoff_starts_over_after_quiet() {
    passes("membership", 20338);
    passes("groups", 20338);
}

/// A node restarted while clogged from a peer. The peer, not yet having heard the new
/// incarnation, sent its ACK to the old one (dropped there as stale), and when it did hear
/// the new incarnation it reset the link and forgot the ACK: the round waited for ever. A
/// unicast to a member of a newer incarnation than the one known now waits for that
/// incarnation's first message.
#[test]
fn groups_20627_unicast_waits_for_the_members_incarnation() {
    passes("groups", 20627);
}

/// Three overlapping pauses froze a round's coordinator from 10.8 s to 17.1 s, 6.3 s in
/// all, 0.8 s into a prepare round. The node abandoned the round 0.3 ms after it woke, but
/// the round bound had run out at 17.0 s while it was still frozen. The bound no longer
/// counts time during which the round's coordinator is paused.
#[test]
fn ack_rounds_900951_round_bound_waits_while_its_coordinator_is_paused() {
    passes("ack-rounds", 900951);
}

/// n0, cut off one way, kept proposing a view whose members it had taken from heartbeats
/// before n3's job 3.0.0 unregistered and 3.0.1 registered. When the cut healed the others
/// accepted it, and view 5 held the dead job 3.0.0 and not 3.0.1: survivors were told 3.0.1
/// left. A new view's jobs are now the ones each node reports with its flush.
#[test]
fn membership_951798_a_views_jobs_are_the_ones_its_nodes_report() {
    passes("membership", 951798);
    passes("ack-rounds", 951798);
}

/// Two overlapping clogs cut n1 from n3, the only two members of group `beta`, for 10 s
/// without a break (8.08 s to 18.10 s). The engine keeps a clogged pair in the view, since
/// the others still hear both, and n3's ACK to n1's commit round waits in its link's resend
/// queue (links inside a view keep their messages by design, see seed 298). The round
/// outlived its 7 s bound at 15.08 s. The bound now stops while a clog cuts a round's
/// coordinator from a member of its view, as it stops under packet loss and pauses.
#[test]
fn groups_953277_round_bound_waits_while_a_clog_cuts_the_coordinator_from_a_member() {
    passes("groups", 953277);
}
