//! Pinned failing seeds of the `client-failover` scenario, kept passing. Each test says
//! what went wrong before the fix. Reproduce one with `clustersim run client-failover --seed N`.

fn passes(seed: u64) {
    scenarios::assert_seed_passes("client-failover", seed);
}

/// Two of three surviving nodes lost quorum while the third was paused; on the merge the
/// paused node still counted them as synced (they were not `joined` from where it stood),
/// so nobody answered the master's request for state and no message was served again.
/// The engine now tells every member the transitional set (who delivered all of the
/// newest prior view), and replicas keep only those as synced.
#[test]
fn seed_151_a_merge_after_quorum_loss_resyncs_every_member() {
    passes(151);
}

/// A 400 ms latency spike at the master made its 500 ms lease lapse between heartbeats;
/// every lapse cleared the master's client sessions, and a poll delayed by the spike then
/// made it resend a message the client had told it it received. Sessions now outlive role
/// changes, the group's record of acknowledgements is a floor, and the lease is twice the
/// failure timeout.
#[test]
fn seed_462_a_lease_lapse_does_not_forget_acknowledgements() {
    passes(462);
}

/// Three of five engine nodes crashed for good, so no primary component was left to answer
/// an open question; the checkers owed it an answer anyway. Eventually-properties now
/// hold only while a majority of the engine is alive at the end.
#[test]
fn seed_211_nothing_is_owed_without_a_majority() {
    passes(211);
}

/// The master was the only synced member of a view (the others waited for its snapshots)
/// and applied and pushed messages; it crashed before the snapshots arrived, the next view
/// elected an older state, and the replicas forked (two events in one slot). Replicas now
/// apply a view's commands only once every member of the view holds the state, all at
/// the same point of the agreed order. Seed 826 then showed an engine flaw: a node that
/// accepted a proposal reporting from view 1, then lost quorum, still installed view 2;
/// the transitional set counted it as continuing though it never delivered view 1's end.
/// Such a node then refused the install; it now keeps the view it lost and delivers its
/// end at the install (see the quorum-loss seeds below).
#[test]
fn seeds_826_1643_no_commands_applied_by_a_lone_holder() {
    for seed in [826, 1643] {
        passes(seed);
    }
}

/// The only node continuing from an old view applied that view's final messages (some of
/// which no other node ever delivered) and was excluded before passing its state on: the
/// replicas forked. What a flush delivers now waits under the next view's rule, and
/// snapshots carry the commands still waiting.
#[test]
fn seed_1104_flush_deliveries_wait_for_the_next_view() {
    passes(1104);
}

/// A node resumed from a pause, its watchdog caught a hung work thread, and the job
/// unregistered while the CE still had deliveries queued for it (produced while it was
/// registered). The job recorded them and `no_ghosts` saw deliveries after unregistering.
/// The CE now acknowledges an unregistration; deliveries queued before the
/// acknowledgement are dropped unrecorded, and any after it is a real ghost.
#[test]
fn seed_335_deliveries_queued_before_an_unregistration_are_not_ghosts() {
    passes(335);
}

/// The master and one node installed a view whose third node refused it (it had lost the
/// view it reported from); the two applied the commands of the old view's flush at once,
/// and the master pushed one. The third node formed the next primary view with two others
/// and never had them: another message took the same place in the client's list. Commands
/// waiting at an install now apply only at the new view's first stable delivery (a barrier
/// the lowest member multicasts), which proves every node of the view installed it.
#[test]
fn seeds_30061_30175_flush_commands_wait_for_a_stable_delivery() {
    passes(30175);
    passes(30061);
    // The same sweep: a client's remove that the old master applied was missing at the
    // new one, which listed the removed message again; and another replicas_agree.
    passes(30959);
    passes(31237);
}

/// View 2 was {n0, n1, n3}; n0, its sequencer and the master, delivered 2:15 as stable
/// (all three had received it), applied it and served it. A partition then cut n0 off
/// before n1 and n3 learnt that 2:15 was stable; they lost quorum and dropped what they had
/// received but not delivered, and the next primary view elected a state at 2:14: another
/// message took seq 5 of client 2's context 1. In 776996324 the master and one node of a
/// four-node view applied a message and were paused; the other two lost quorum before
/// learning it was stable. A node now keeps what it received of a view it lost to a quorum
/// loss and reports that view in its next flush; the install delivers its end before the
/// new view, and the replica, kept through the loss, continues from it.
#[test]
fn seeds_461544325_776996324_quorum_loss_keeps_what_the_last_primary_view_received() {
    passes(461544325);
    passes(776996324);
}

/// n1, master of view 6, applied and pushed seq 14 of client 3's context 2; the others
/// got it only in the flush that ended view 6, so it waited. When n1 became master again
/// in view 11, from a snapshot that carried it still waiting, it served the client a list
/// without seq 14 before the command applied. A new master now starts serving only once
/// nothing delivered to it waits to apply.
#[test]
fn seed_201046_a_new_master_serves_only_once_nothing_waits_to_apply() {
    passes(201046);
}

/// View 6 was {n0, n1, n2}: n0, the master, applied seq 4 of client 1's context 2 and
/// crashed; n1 and n2 lost quorum, and n2 crashed. n0 restarted and formed view 7 with n3
/// and n4, who reported view 5 (the last they had, lost when they heard of view 6): the
/// engine counted them as continuing, they answered n0's request for state with theirs at
/// 5:37, and n0's disk, at view 6, was overwritten; another message took seq 4. Synced
/// members now step down when a member's stored state is beyond what they hold, and the
/// most advanced stored state is elected.
#[test]
fn seed_300060_synced_members_behind_a_restarted_disk_step_down() {
    passes(300060);
}

/// n1, shut out of view 6 by a clog, kept proposing ids 7 to 12, all rejected. The ids
/// still reached every member of view 6, and a member backed the master's lease only while
/// it had seen no id above the view: the lease of the healthy view lapsed for good 4 ms
/// after n0 became master, and nothing started a new view. No master served from 11.5 s to
/// the end, and seq 9 of client 1 never reached it. A member now backs the lease while it
/// has promised no id above the view.
#[test]
fn seed_953607_rejected_proposals_do_not_end_the_lease() {
    passes(953607);
}

/// Master n1 applied and served client 1's removal of seq 2 (view 2, seq 50), stable:
/// n2 and n3 had received it. They lost quorum before learning it was stable, and got it
/// in the end of the lost view at their next install, where they were not counted as
/// continuing (n0 came from the newer view 3) and dropped it. n1's job died and n4 was
/// out, so view 6 elected the stored state at 2:48 and the removed message came back at
/// 15.06 s. A stale member now keeps what it received of its last synced view, and an
/// election counts it.
#[test]
fn seed_951429_an_election_keeps_commands_the_old_master_applied() {
    passes(951429);
}

/// Found by a sweep of a first version of the fix for 951429, in which a stale member's
/// `NeedState` named its stored state plus what it kept. n3 kept view 2 up to seq 111,
/// beyond the 91 that the members continuing into view 3 had delivered (so not stable:
/// nobody applied it), and made them step down while one of them was answering another
/// stale member; two snapshots synced the view to two states. Only a stored state steps
/// synced members down; what a member kept counts in elections alone.
#[test]
fn seeds_950221_950648_and_five_more_kept_commands_do_not_step_synced_members_down() {
    for seed in [950221, 950648, 950906, 951222, 952506, 952602, 953756] {
        passes(seed);
    }
}

/// View 11 (n2, n3, n4) stored seq 16 of client 1's context 2 while n0 and n1 were
/// paused in view 9. n3 crashed and restarted; n0, n1 and n3 formed view 13, continuing
/// from view 9, and n3's disk at 11:5 should have made n0 and n1 step down. They did not:
/// a command of view 13 (13:1) was already waiting on them, and their frontier counted it,
/// so 11:5 looked behind. They synced everyone to 9:112 and stored another event as seq
/// 16. A synced member's frontier now leaves out the commands of the current view.
#[test]
fn seed_982385_a_command_of_the_new_view_does_not_hide_a_disk_that_went_further() {
    passes(982385);
}

/// n3's task asked dialogue 0x30000000000001a at 17.95 s. A partition cut n3 and n5 off
/// at 19.32 s, and master n1 timed the dialogue out in view 14 (19.78 s), of which n3 was
/// not a member. n3 joined view 15 and asked for state; it lost quorum before the answer
/// came, got the snapshot (at 14:3, the timeout included) in the end of view 15, and went
/// on from it in view 16. The service looked up the answers of its waiting tasks when the
/// snapshot installed, while the replica was still suspended and its state unreadable, so
/// it found none and never looked again. The replica now tells `Synced` when its state
/// can be read: for a snapshot installed while suspended, at the next view that counts it
/// as continuing. Passed on 257228d only because its lease rule kept n1 from serving in
/// view 14.
#[test]
fn seed_1000087_a_dialogue_timed_out_while_its_node_was_away_is_answered() {
    passes(1000087);
}
