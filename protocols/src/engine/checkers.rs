//! The guarantees of docs/ARCHITECTURE.md §A, one checker each, observing only the trace.
//!
//! Events they read: [`CeEvent`]s `ce.install` (view, nodes, members), `ce.quorum_lost`
//! and `ce.job_unresponsive` (the CE's probe of its job's main thread); [`JobEvent`]s
//! `job.register`, `job.unregister`, `job.view` (members, departures with reasons,
//! joiners), `job.quorum_lost` and `job.deliver` (view, seq, sender, fifo) from the jobs'
//! main threads; [`AckEvent`]s from the round coordinators; and the world's `world.*`,
//! `node.*` and `fault.*` events.

use super::ack_round::{AckEvent, RoundPhase};
use super::job::JobEvent;
use super::membership::CeEvent;
use super::{CeConfig, Member, NodeInc, Reason, RoundId};
use sim::check::{Checker, RunEnd};
use sim::event::{EventRef, NodeId, Text};
use sim::time::{SimDuration, SimTime};
use sim::world::{FaultEvent, NodeEvent, Phase, WorldEvent};
use sim::FaultKind;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// The side a `fault.start` of a partition cuts off.
fn partition_side<'a>(ev: &EventRef<'a>) -> &'a [NodeId] {
    match ev.event.get::<FaultEvent>() {
        Some(FaultEvent::Start {
            side_a: Some(side), ..
        }) => side,
        _ => &[],
    }
}

fn fmt_side(side: &[NodeId]) -> String {
    let v: Vec<String> = side.iter().map(|n| n.to_string()).collect();
    v.join(",")
}

/// Which node incarnations ever crashed, and each node's current incarnation.
#[derive(Default)]
struct Incarnations {
    current: BTreeMap<NodeId, u64>,
    crashed: BTreeSet<NodeInc>,
}

impl Incarnations {
    fn observe(&mut self, ev: &EventRef<'_>) {
        match ev.event.get::<NodeEvent>() {
            Some(NodeEvent::Crash) => {
                let inc = self.current.get(&ev.node).copied().unwrap_or(0);
                self.crashed.insert(NodeInc {
                    node: ev.node.index(),
                    inc,
                });
            }
            Some(NodeEvent::Restart { incarnation }) => {
                self.current.insert(ev.node, *incarnation);
            }
            None => {}
        }
    }

    /// The node's incarnation now.
    fn of(&self, node: NodeId) -> NodeInc {
        NodeInc {
            node: node.index(),
            inc: self.current.get(&node).copied().unwrap_or(0),
        }
    }
}

// ------------------------------------------------------------------ view_agreement

/// What a CE installed as view v: its nodes and members, and which node installed it first.
struct Installed {
    nodes: Vec<NodeInc>,
    members: BTreeSet<Member>,
    first: NodeId,
}

/// Always: every node that installs view v installs the same nodes and members, each node's
/// view ids only grow, and a job's view is the view its CE installed.
#[derive(Default)]
pub struct ViewAgreement {
    views: BTreeMap<u64, Installed>,
    last: BTreeMap<NodeId, u64>,
}

impl Checker for ViewAgreement {
    fn name(&self) -> &'static str {
        "view_agreement"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!((component, event), ("ce", "install") | ("job", "view"))
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(CeEvent::Install {
            view: v,
            nodes,
            members,
            ..
        }) = ev.event.get::<CeEvent>()
        {
            let v = *v;
            if let Some(prev) = self.last.get(&ev.node) {
                if v <= *prev {
                    return Err(format!("{} installed view {v} after view {prev}", ev.node));
                }
            }
            self.last.insert(ev.node, v);
            match self.views.get(&v) {
                Some(i) if i.nodes != *nodes || i.members != *members => {
                    return Err(format!(
                    "view {v}: {} installed nodes {} members {}, {} installed nodes {} members {}",
                    i.first,
                    Text(&i.nodes),
                    Text(&i.members),
                    ev.node,
                    Text(nodes),
                    Text(members)
                ))
                }
                Some(_) => {}
                None => {
                    self.views.insert(
                        v,
                        Installed {
                            nodes: nodes.clone(),
                            members: members.clone(),
                            first: ev.node,
                        },
                    );
                }
            }
        } else if let Some(JobEvent::View {
            member,
            view: v,
            members,
            ..
        }) = ev.event.get::<JobEvent>()
        {
            match self.views.get(v) {
                Some(i)
                    if i.members
                        .iter()
                        .filter(|x| x.group == member.group)
                        .eq(members.iter()) => {}
                Some(i) => {
                    return Err(format!(
                        "job {member} was given view {v} with members {}, the CEs installed {}",
                        Text(members),
                        Text(&i.members)
                    ))
                }
                None => {
                    return Err(format!(
                        "job {member} was given view {v}, which no CE installed"
                    ))
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ primary_component

/// Always: every installed view holds a strict majority of the configured nodes, and a job
/// told `QuorumLost` delivers nothing until it is given a view again but the end of the
/// view it lost (which its node delivers right before that next view).
#[derive(Default)]
pub struct PrimaryComponent {
    /// The engine's configured nodes; 0 until known (then the world's node count is used).
    n: u64,
    /// Jobs told `QuorumLost` and not given a view since, with the view they lost.
    out: BTreeMap<Member, u64>,
}

impl PrimaryComponent {
    /// For a world whose first `n` nodes run the engine (the rest are its clients).
    pub fn new(n: usize) -> Self {
        PrimaryComponent {
            n: n as u64,
            out: BTreeMap::new(),
        }
    }
}

impl Checker for PrimaryComponent {
    fn name(&self) -> &'static str {
        "primary_component"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("world", "start") | ("ce", "install") | ("job", "quorum_lost" | "view" | "deliver")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(WorldEvent::Start { nodes, .. }) = ev.event.get::<WorldEvent>() {
            if self.n == 0 {
                self.n = *nodes;
            }
            return Ok(());
        }
        if let Some(CeEvent::Install { view, nodes, .. }) = ev.event.get::<CeEvent>() {
            let distinct = nodes.iter().collect::<BTreeSet<_>>().len();
            if 2 * distinct as u64 <= self.n {
                return Err(format!(
                    "{} installed view {view} with {distinct} of {} nodes {}: not a majority (split brain)",
                    ev.node,
                    self.n,
                    Text(nodes)
                ));
            }
            return Ok(());
        }
        match ev.event.get::<JobEvent>() {
            Some(JobEvent::QuorumLost { member, view }) => {
                self.out.insert(*member, *view);
            }
            Some(JobEvent::View { member, .. }) => {
                self.out.remove(member);
            }
            Some(JobEvent::Deliver {
                member, view, seq, ..
            }) => {
                if let Some(lost) = self.out.get(member).filter(|lost| **lost != *view) {
                    return Err(format!(
                        "{member} delivered seq {seq} of view {view} after it was told QuorumLost in view {lost}"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ virtual_synchrony

/// Always: members of a group that install view v and then view v' together delivered
/// the same messages in v, in the same order (a member told `QuorumLost` in v in between
/// delivers the end of v right before v', so it counts as going from v to v').
#[derive(Default)]
pub struct VirtualSynchrony {
    /// Member -> (view, digest of its deliveries in it, count).
    cur: BTreeMap<Member, (u64, u64, u64)>,
    /// (v, v', group) -> (first member seen, digest, count).
    seen: BTreeMap<(u64, u64, u32), (Member, u64, u64)>,
}

fn fnv(h: u64, x: u64) -> u64 {
    let mut h = h;
    for b in x.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Checker for VirtualSynchrony {
    fn name(&self) -> &'static str {
        "virtual_synchrony"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("job", "deliver" | "view" | "unregister") | ("node", "crash")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(NodeEvent::Crash) = ev.event.get::<NodeEvent>() {
            self.cur.retain(|m, _| m.node != ev.node.index());
            return Ok(());
        }
        match ev.event.get::<JobEvent>() {
            Some(JobEvent::Deliver {
                member,
                view,
                seq,
                sender,
                fifo,
            }) => {
                if let Some((cv, h, c)) = self.cur.get_mut(member) {
                    if cv == view {
                        *h = fnv(
                            fnv(fnv(*h, *seq), sender.node as u64 ^ (sender.job << 32)),
                            *fifo,
                        );
                        *c += 1;
                    }
                }
            }
            Some(JobEvent::View { member, view, .. }) => {
                let (m, v) = (*member, *view);
                if let Some((w, h, c)) = self.cur.remove(&m) {
                    match self.seen.get(&(w, v, m.group)) {
                        Some((other, h2, c2)) if (*h2, *c2) != (h, c) => {
                            return Err(format!(
                                "{m} and {other} both went from view {w} to view {v}, but delivered different messages in {w} ({c} vs {c2} messages)"
                            ))
                        }
                        Some(_) => {}
                        None => {
                            self.seen.insert((w, v, m.group), (m, h, c));
                        }
                    }
                }
                self.cur.insert(m, (v, 0xcbf2_9ce4_8422_2325, 0));
            }
            Some(JobEvent::Unregister { member, .. }) => {
                self.cur.remove(member);
            }
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ agreed_order

/// Always: within a view every member delivers the same message at each sequence number,
/// and delivers the sequence numbers in order, from 1, without gaps.
#[derive(Default)]
pub struct AgreedOrder {
    /// Per (view, group), the message first delivered at each sequence number.
    msgs: BTreeMap<(u64, u32), SeqSlots>,
    last: BTreeMap<Member, (u64, u64)>,
}

/// What was delivered at each sequence number of one view and group: numbers from 1 on
/// in a vector (members deliver them in order, without gaps), any others in a map.
#[derive(Default)]
struct SeqSlots {
    dense: Vec<(Member, u64)>,
    sparse: BTreeMap<u64, (Member, u64)>,
}

impl SeqSlots {
    fn get(&self, seq: u64) -> Option<&(Member, u64)> {
        if let Some(x) = self.sparse.get(&seq) {
            return Some(x);
        }
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.dense.get(i)
    }

    /// Records what was delivered at `seq`, which holds nothing yet.
    fn insert(&mut self, seq: u64, msg: (Member, u64)) {
        if seq == self.dense.len() as u64 + 1 {
            self.dense.push(msg);
        } else {
            self.sparse.insert(seq, msg);
        }
    }
}

/// A delivery's fields, if the event is one.
fn delivery(ev: &EventRef<'_>) -> Option<(Member, u64, u64, Member, u64)> {
    match ev.event.get::<JobEvent>()? {
        JobEvent::Deliver {
            member,
            view,
            seq,
            sender,
            fifo,
        } => Some((*member, *view, *seq, *sender, *fifo)),
        _ => None,
    }
}

impl Checker for AgreedOrder {
    fn name(&self) -> &'static str {
        "agreed_order"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("job", "deliver")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let Some((m, v, seq, s, fifo)) = delivery(ev) else {
            return Ok(());
        };
        let slots = self.msgs.entry((v, m.group)).or_default();
        match slots.get(seq) {
            Some((s2, f2)) if (*s2, *f2) != (s, fifo) => {
                return Err(format!(
                "view {v} seq {seq}: {m} delivered {s}#{fifo}, another member delivered {s2}#{f2}"
            ))
            }
            Some(_) => {}
            None => slots.insert(seq, (s, fifo)),
        }
        // One lookup for the check and the update: every delivery passes here.
        let last = self.last.entry(m);
        let expected = match &last {
            Entry::Occupied(e) if e.get().0 == v => e.get().1 + 1,
            _ => 1,
        };
        if seq != expected {
            return Err(format!(
                "{m} delivered seq {seq} of view {v}, expected seq {expected}"
            ));
        }
        match last {
            Entry::Occupied(mut e) => *e.get_mut() = (v, seq),
            Entry::Vacant(e) => {
                e.insert((v, seq));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ fifo_per_sender

/// Always: each member delivers each sender's messages in the order they were sent: the
/// sender's numbers strictly increase, without a gap inside one view.
#[derive(Default)]
pub struct FifoPerSender {
    last: BTreeMap<(Member, Member), (u64, u64)>,
}

impl Checker for FifoPerSender {
    fn name(&self) -> &'static str {
        "fifo_per_sender"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("job", "deliver")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let Some((m, v, _, s, fifo)) = delivery(ev) else {
            return Ok(());
        };
        // One lookup for the check and the update: every delivery passes here.
        match self.last.entry((m, s)) {
            Entry::Occupied(mut e) => {
                let (lf, lv) = *e.get();
                if fifo <= lf {
                    return Err(format!("{m} delivered {s}#{fifo} after {s}#{lf}"));
                }
                if lv == v && fifo != lf + 1 {
                    return Err(format!(
                        "{m} delivered {s}#{fifo} right after {s}#{lf} in view {v}: a gap"
                    ));
                }
                *e.get_mut() = (fifo, v);
            }
            Entry::Vacant(e) => {
                e.insert((fifo, v));
            }
        }
        Ok(())
    }
}
// ------------------------------------------------------------------ no_duplicates

/// Always: no member delivers the same message (sender, number) twice.
#[derive(Default)]
pub struct NoDuplicates {
    /// Per (member, sender), the numbers delivered, as disjoint ranges in order: a sender's
    /// numbers mostly arrive in order, so this stays a range or two however long the run.
    seen: BTreeMap<(Member, Member), Vec<(u64, u64)>>,
}

/// Adds `x` to `ranges` (sorted, disjoint, inclusive); false if it was there already.
fn insert_in_ranges(ranges: &mut Vec<(u64, u64)>, x: u64) -> bool {
    // The first range that ends at or after x - 1 (it may hold x or adjoin it from below).
    let i = ranges.partition_point(|&(_, hi)| hi.saturating_add(1) < x);
    match ranges.get(i).copied() {
        Some((lo, hi)) if lo <= x && x <= hi => false,
        Some((lo, hi)) if hi.saturating_add(1) == x => {
            // Extends range i upwards; it may now touch range i + 1.
            match ranges.get(i + 1).copied() {
                Some((next_lo, next_hi)) if next_lo == x.saturating_add(1) => {
                    ranges[i] = (lo, next_hi);
                    ranges.remove(i + 1);
                }
                _ => ranges[i] = (lo, x),
            }
            true
        }
        Some((lo, hi)) if lo == x.saturating_add(1) => {
            ranges[i] = (x, hi);
            true
        }
        _ => {
            ranges.insert(i, (x, x));
            true
        }
    }
}

impl Checker for NoDuplicates {
    fn name(&self) -> &'static str {
        "no_duplicates"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("job", "deliver")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let Some((m, _, _, s, fifo)) = delivery(ev) else {
            return Ok(());
        };
        if !insert_in_ranges(self.seen.entry((m, s)).or_default(), fifo) {
            return Err(format!("{m} delivered {s}#{fifo} twice"));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ identity

/// Always: every life has an identity of its own. A node's engine boots with the
/// incarnation the world gave that life (0, then one more per restart), so incarnations on
/// a node strictly increase; a job registers as a member (node, incarnation, job) that no
/// earlier life used, with its node's current incarnation; a member multicasts only from
/// its own node in its own life; and a delivery names as its sender only a member that
/// registered and as its number only one that member's own call was given
/// (`job.multicast`), so a message an earlier life (of the node or of the job) sent is never
/// delivered as the current life's.
///
/// `no_ghosts`, `notified_once` and `virtual_synchrony` tell lives apart by these
/// identities and rely on this one: with an identity reused, a dead life's messages and
/// departures would pass as the new life's.
#[derive(Default)]
pub struct Identity {
    /// The incarnation of each node's current life, as the world numbers them.
    life: BTreeMap<NodeId, u64>,
    /// The incarnation each node's engine last booted with.
    booted: BTreeMap<NodeId, u64>,
    /// Every member that ever registered.
    registered: BTreeSet<Member>,
    /// Per member, the number of its latest multicast (they are numbered 1, 2, ...).
    multicast: BTreeMap<Member, u64>,
}

impl Checker for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("node", "restart") | ("ce", "boot") | ("job", "register" | "multicast" | "deliver")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(NodeEvent::Restart { incarnation }) = ev.get::<NodeEvent>() {
            self.life.insert(ev.node, *incarnation);
            return Ok(());
        }
        let life = self.life.get(&ev.node).copied().unwrap_or(0);
        if let Some(CeEvent::Boot { incarnation, .. }) = ev.get::<CeEvent>() {
            if *incarnation != life {
                return Err(format!(
                    "{}'s engine booted as incarnation {incarnation} in the node's life {life}",
                    ev.node
                ));
            }
            if let Some(before) = self.booted.insert(ev.node, *incarnation) {
                if *incarnation <= before {
                    return Err(format!(
                        "{}'s engine booted as incarnation {incarnation} after {before}",
                        ev.node
                    ));
                }
            }
            return Ok(());
        }
        match ev.get::<JobEvent>() {
            Some(JobEvent::Register { member, .. }) => {
                if member.inc != life {
                    return Err(format!(
                        "a job registered as {member} in life {life} of {}",
                        ev.node
                    ));
                }
                if !self.registered.insert(*member) {
                    return Err(format!(
                        "{member} registered again: two lives share one identity"
                    ));
                }
            }
            Some(JobEvent::Multicast { member, fifo }) => {
                if member.node != ev.node.index() || member.inc != life {
                    return Err(format!(
                        "{member} multicast #{fifo} from {}, whose current life is {life}",
                        ev.node
                    ));
                }
                self.multicast.insert(*member, *fifo);
            }
            Some(JobEvent::Deliver {
                member,
                sender,
                fifo,
                ..
            }) => {
                if !self.registered.contains(sender) {
                    return Err(format!(
                        "{member} was delivered a message from {sender}, which never registered"
                    ));
                }
                let sent = self.multicast.get(sender).copied().unwrap_or(0);
                if *fifo > sent {
                    return Err(format!(
                        "{member} was delivered {sender}#{fifo}, a number {sender} never gave a \
                         multicast of its own (its latest is #{sent})"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ no_ghosts

/// Always: a message is delivered only to a member of the view it is delivered in, only
/// from a member of that view, and never to a job that has unregistered.
#[derive(Default)]
pub struct NoGhosts {
    views: BTreeMap<u64, BTreeSet<Member>>,
    left: BTreeSet<Member>,
}

impl Checker for NoGhosts {
    fn name(&self) -> &'static str {
        "no_ghosts"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("ce", "install") | ("job", "unregister" | "deliver")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(CeEvent::Install { view, members, .. }) = ev.event.get::<CeEvent>() {
            self.views.entry(*view).or_insert_with(|| members.clone());
            return Ok(());
        }
        if let Some((m, v, _, s, fifo)) = delivery(ev) {
            if self.left.contains(&m) {
                return Err(format!(
                    "{m} got {s}#{fifo} in view {v} after it unregistered"
                ));
            }
            let Some(members) = self.views.get(&v) else {
                return Err(format!(
                    "{m} got a message of view {v}, which no CE installed"
                ));
            };
            if !members.contains(&m) {
                return Err(format!(
                    "{m} got {s}#{fifo} in view {v}, which it is not a member of"
                ));
            }
            if s.group != m.group {
                return Err(format!(
                    "{m} got a message from {s}, a member of another group"
                ));
            }
            if !members.contains(&s) {
                return Err(format!(
                    "{m} got a message from {s} in view {v}, which {s} is not a member of"
                ));
            }
        } else if let Some(JobEvent::Unregister { member, .. }) = ev.event.get::<JobEvent>() {
            self.left.insert(*member);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ notified_once

/// Always: a member given a new view is told, exactly once and with the right reason, of
/// each member that left since the view it was last given (Left only after that job
/// unregistered on a node still in the view, ProcessDown only when its node incarnation
/// died, NodeDown only when its node incarnation is not in the view), and of each joiner.
#[derive(Default)]
pub struct NotifiedOnce {
    prev: BTreeMap<Member, BTreeSet<Member>>,
    nodes: BTreeMap<u64, BTreeSet<NodeInc>>,
    unregistered: BTreeSet<Member>,
    incs: Incarnations,
}

impl Checker for NotifiedOnce {
    fn name(&self) -> &'static str {
        "notified_once"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("node", "crash" | "restart")
                | ("ce", "install")
                | ("job", "unregister" | "quorum_lost" | "view")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        self.incs.observe(ev);
        if let Some(NodeEvent::Crash) = ev.event.get::<NodeEvent>() {
            self.prev.retain(|m, _| m.node != ev.node.index());
            return Ok(());
        }
        if let Some(CeEvent::Install { view, nodes, .. }) = ev.event.get::<CeEvent>() {
            self.nodes
                .entry(*view)
                .or_insert_with(|| nodes.iter().copied().collect());
            return Ok(());
        }
        let (me, v, new, left, joined) = match ev.event.get::<JobEvent>() {
            Some(JobEvent::Unregister { member, .. }) => {
                self.unregistered.insert(*member);
                self.prev.remove(member);
                return Ok(());
            }
            Some(JobEvent::QuorumLost { member, .. }) => {
                self.prev.remove(member);
                return Ok(());
            }
            _ => match ev.event.get::<JobEvent>() {
                Some(JobEvent::View {
                    member,
                    view,
                    members,
                    left,
                    joined,
                }) => (*member, *view, members, left, joined),
                _ => return Ok(()),
            },
        };
        let prev = self.prev.remove(&me).unwrap_or_default();
        let no_nodes = BTreeSet::new();
        let nodes = self.nodes.get(&v).unwrap_or(&no_nodes);
        let mut told = BTreeSet::new();
        for d in left {
            let (d, r) = (d.member, d.reason);
            if !told.insert(d) {
                return Err(format!("{me} was told twice in view {v} that {d} left"));
            }
            if !prev.contains(&d) || new.contains(&d) {
                return Err(format!(
                    "{me} was told in view {v} that {d} left ({r}), but it was not in its previous view or is still a member"
                ));
            }
            let node_in = nodes.contains(&NodeInc {
                node: d.node,
                inc: d.inc,
            });
            let ok = match r {
                Reason::Left => self.unregistered.contains(&d) && node_in,
                Reason::ProcessDown => self.incs.crashed.contains(&NodeInc {
                    node: d.node,
                    inc: d.inc,
                }),
                Reason::NodeDown => !node_in,
            };
            if !ok {
                return Err(format!(
                    "{me} was told in view {v} that {d} left with the wrong reason {r}"
                ));
            }
        }
        for d in prev.iter().filter(|d| !new.contains(d) && **d != me) {
            if !told.contains(d) {
                return Err(format!(
                    "{me} went to view {v} without being told that {d} left"
                ));
            }
        }
        let expected_joined: BTreeSet<Member> = new
            .iter()
            .filter(|x| !prev.contains(x) && **x != me)
            .copied()
            .collect();
        let joined_set: BTreeSet<Member> = joined.iter().copied().collect();
        if joined_set.len() != joined.len() || joined_set != expected_joined {
            return Err(format!(
                "{me} was told in view {v} that {} joined, expected {}",
                Text(joined),
                Text(&expected_joined)
            ));
        }
        self.prev.insert(me, new.clone());
        Ok(())
    }
}

// ------------------------------------------------------------------ notify_within

/// The engine nodes (a bit each) that belong to a strict majority of the `n` nodes whose
/// members are all up (not in `out`) and hear each other directly (`cut` separates no
/// two of them): only in such a group can a node be sure a view forms with it. A node
/// that hears a majority which is not such a group (a clog inside it) may wait for a view
/// that never forms, without losing quorum.
///
/// Such a group is a clique of the graph of up nodes linked when they hear each other,
/// and a node is in one of more than `n / 2` nodes exactly when it is in a maximal clique
/// that large. The maximal cliques are listed by Bron–Kerbosch with a pivot, on bit sets:
/// the graph is nearly complete (a partition splits it into a few cliques, each clog
/// takes one edge away), so they are few. Worlds of more than 64 nodes do not fit the bit
/// set; there every node counts as in one.
fn connected_majority(n: usize, out: &BTreeSet<usize>, cut: impl Fn(usize, usize) -> bool) -> u64 {
    if n > 64 {
        return u64::MAX;
    }
    let up: u64 = (0..n)
        .filter(|x| !out.contains(x))
        .fold(0, |m, x| m | 1 << x);
    // `hears[a]`: the up nodes other than `a` that `a` hears directly.
    let hears: Vec<u64> = (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| b != a && up >> b & 1 == 1 && !cut(a, b))
                .fold(0, |m, b| m | 1 << b)
        })
        .collect();
    let mut found = 0u64;
    maximal_cliques(&hears, 0, up, 0, &mut |clique| {
        if 2 * clique.count_ones() as usize > n {
            found |= clique;
        }
    });
    found
}

/// Bron–Kerbosch with a pivot: calls `each` with every maximal clique that holds all of
/// `r`, some of `p` and none of `x` (bit sets of node indices; `hears[v]` the neighbours
/// of `v`).
fn maximal_cliques(hears: &[u64], r: u64, mut p: u64, mut x: u64, each: &mut impl FnMut(u64)) {
    if p == 0 {
        if x == 0 {
            each(r);
        }
        return;
    }
    // The pivot with the most neighbours in `p` leaves the fewest branches: every maximal
    // clique holds the pivot or one of its non-neighbours.
    let pivot = bits(p | x)
        .max_by_key(|&u| (p & hears[u]).count_ones())
        .expect("p is not empty");
    for v in bits(p & !hears[pivot]) {
        let bit = 1u64 << v;
        maximal_cliques(hears, r | bit, p & hears[v], x & hears[v], each);
        p &= !bit;
        x |= bit;
    }
}

/// The indices of the set bits of `set`, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            i
        })
    })
}

/// A departure one survivor is still owed.
struct Obligation {
    departed: Member,
    survivor: Member,
    cause_ns: u64,
    deadline_ns: u64,
    cause: String,
    /// Caused by a partition (void if the departed node's side regains the majority).
    partition: bool,
    /// Whether its clock was ever stopped.
    held: bool,
}

/// Always: every departure whose cause the fault plan determines is told to every survivor
/// in time: a job unregistering, a node crashing, and the members cut off from the
/// majority by symmetric partitions, however other faults overlap them. The deadline is
/// the later of the cause plus the detection bound and the last disruptive fault event (a
/// window's start or end, a crash, a restart, the heal) plus the settling bound, both from
/// [`CeConfig::bounds`] with the latency spikes open at the time; an event after the
/// cause moves the deadline on, it does not void the obligation.
///
/// A survivor is a member of the newest view some CE installed whose job was given a view
/// that holds the departed member: it must hear of the departure in a later view. What is
/// not timed, because the plan does not decide it:
/// - the survivor departs too (its job unregisters, its node crashes or ends on the
///   minority side of a partition) or its job is told `QuorumLost` (whether it hears of the
///   departure first is a race);
/// - a partition's departures once the departed node's side is joined to the majority
///   again, or when no side holds a majority (no view forms, the survivors lose quorum);
/// - while a packet-loss window or a one-way partition is open, while the survivor's
///   node is paused, and while it is in no connected majority (a majority of nodes up,
///   unpaused and hearing each other directly, see `connected_majority`: when a clog
///   splits the majority it hears, no view may form with it and it may never lose
///   quorum): their clocks stop (a message can be lost any number of times; who
///   suspects whom behind a one-way cut depends on timing; a frozen job reads nothing),
///   and the end of the fault restarts them with the settling bound;
/// - a member a survivor's job never had in its view (the survivor joined after it left,
///   or skipped the view it was in), and departures in a view no survivor has yet.
pub struct NotifyWithin {
    n: usize,
    cfg: CeConfig,
    latest: Option<(u64, BTreeSet<Member>)>,
    /// The view each job is in now: its id and its group's members.
    job_view: BTreeMap<Member, (u64, BTreeSet<Member>)>,
    /// Open symmetric partitions: their side, of the engine's nodes.
    partitions: BTreeMap<u64, BTreeSet<usize>>,
    /// Open clogs: the two nodes they cut apart.
    clogs: BTreeMap<u64, (usize, usize)>,
    /// Nodes down now (crashed, not restarted yet).
    down: BTreeSet<usize>,
    /// The nodes in a connected majority (see `connected_majority`), a bit each.
    connected: u64,
    /// Open windows that stop every clock: packet loss, one-way partitions.
    holds: BTreeSet<u64>,
    /// Open pauses, with their node.
    pauses: BTreeMap<u64, usize>,
    /// Open latency spikes: node and extra latency in ns.
    spikes: BTreeMap<u64, (usize, u64)>,
    /// The last disruptive event's time plus the settling bound then.
    settled_ns: u64,
    obligations: Vec<Obligation>,
    /// Measured delays of discharged obligations: (cause, delay ns).
    pub delays: Vec<(String, u64)>,
    /// Per discharged obligation whose clock never stopped: its cause, its delay and the
    /// time it was allowed, both from its cause, in ns (what a report of the bounds'
    /// tightness reads).
    pub allowed: Vec<(String, u64, u64)>,
}

impl NotifyWithin {
    pub fn new(n: usize, cfg: &CeConfig) -> Self {
        NotifyWithin {
            n,
            cfg: cfg.clone(),
            latest: None,
            job_view: BTreeMap::new(),
            partitions: BTreeMap::new(),
            clogs: BTreeMap::new(),
            down: BTreeSet::new(),
            connected: u64::MAX,
            holds: BTreeSet::new(),
            pauses: BTreeMap::new(),
            spikes: BTreeMap::new(),
            settled_ns: 0,
            obligations: Vec::new(),
            delays: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// The extra latency the open spikes add to a message, at most.
    fn spike_ns(&self) -> u64 {
        self.spikes.values().map(|(_, e)| *e).sum()
    }

    /// A disruptive event at `t`: every deadline moves to at least `t` plus the settling
    /// bound, with the spikes open before or after it (`spike_before_ns`), whichever add
    /// more (a message sent under a spike that just ended is still on its way).
    fn disrupt(&mut self, t: u64, spike_before_ns: u64) {
        let spike = spike_before_ns.max(self.spike_ns());
        let until = t + self.cfg.bounds(spike, false).notify_settle_ns;
        self.settled_ns = self.settled_ns.max(until);
        for o in &mut self.obligations {
            o.deadline_ns = o.deadline_ns.max(until);
        }
    }

    /// The engine nodes joined to a strict majority by the open symmetric partitions, if
    /// some side holds one: nodes on the same side of every open partition hear each other.
    fn majority(&self) -> Option<BTreeSet<usize>> {
        let mut classes: BTreeMap<Vec<bool>, BTreeSet<usize>> = BTreeMap::new();
        for x in 0..self.n {
            let key = self.partitions.values().map(|s| s.contains(&x)).collect();
            classes.entry(key).or_default().insert(x);
        }
        classes.into_values().find(|c| 2 * c.len() > self.n)
    }

    /// Whether survivor `s` may be obliged now: it is a member of the newest view.
    fn in_latest(&self, s: &Member) -> bool {
        self.latest.as_ref().is_some_and(|(_, m)| m.contains(s))
    }

    /// Obliges every survivor `keep` accepts, in the newest view, to hear of each member
    /// `gone` picks in the survivor's own view, by the detection bound or by `settled_ns`
    /// (the settling of the disruptions before the cause, not of the cause itself).
    fn oblige(
        &mut self,
        t: u64,
        settled_ns: u64,
        keep: impl Fn(&Member) -> bool,
        gone: impl Fn(&Member) -> bool,
        cause: String,
        partition: bool,
    ) {
        let clogged = !self.clogs.is_empty();
        let deadline_ns = (t + self.cfg.bounds(self.spike_ns(), clogged).notify_ns).max(settled_ns);
        let mut new = Vec::new();
        for (s, (_, members)) in &self.job_view {
            if !keep(s) || gone(s) || !self.in_latest(s) {
                continue;
            }
            for d in members.iter().filter(|d| *d != s && gone(d)) {
                new.push(Obligation {
                    departed: *d,
                    survivor: *s,
                    cause_ns: t,
                    deadline_ns,
                    cause: cause.clone(),
                    partition,
                    held: false,
                });
            }
        }
        self.obligations.extend(new);
        self.mark_held();
    }

    /// The open symmetric partitions changed: survivors off the majority side depart too,
    /// and a partition's departures whose node is back on it are void.
    fn repartition(&mut self, t: u64, settled_ns: u64, cause: Option<String>) {
        let majority = self.majority();
        let on = |node: usize| majority.as_ref().is_some_and(|m| m.contains(&node));
        self.obligations
            .retain(|o| on(o.survivor.node) && !(o.partition && on(o.departed.node)));
        if let (Some(cause), Some(m)) = (cause, &majority) {
            let m = m.clone();
            let (keep, gone) = (
                |s: &Member| m.contains(&s.node),
                |d: &Member| !m.contains(&d.node),
            );
            self.oblige(t, settled_ns, keep, gone, cause, true);
        }
    }

    /// Recomputes which nodes are in a connected majority, after the links, crashes or
    /// pauses changed.
    fn relink(&mut self) {
        let mut out = self.down.clone();
        out.extend(self.pauses.values().copied());
        let parts = &self.partitions;
        let clogs = &self.clogs;
        self.connected = connected_majority(self.n, &out, |a, b| {
            parts.values().any(|s| s.contains(&a) != s.contains(&b))
                || clogs
                    .values()
                    .any(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a))
        });
    }

    /// Whether a survivor's clock is stopped now: packet loss or a one-way partition is
    /// open, its node is paused, or its node is in no connected majority (a view with it
    /// may never form, though it keeps seeing a majority: the plan does not say whether
    /// it is told or loses quorum first; the clock starts again, with the settling bound,
    /// when the fault that cut the majority apart ends).
    fn held_at(&self, node: usize) -> bool {
        !self.holds.is_empty()
            || self.pauses.values().any(|n| *n == node)
            || (node < 64 && self.connected >> node & 1 == 0)
    }

    fn held(&self, o: &Obligation) -> bool {
        self.held_at(o.survivor.node)
    }

    /// Marks the obligations whose clock is stopped now.
    fn mark_held(&mut self) {
        let held: Vec<bool> = self.obligations.iter().map(|o| self.held(o)).collect();
        for (o, h) in self.obligations.iter_mut().zip(held) {
            o.held |= h;
        }
    }

    fn overdue(&self, t: u64) -> Option<&Obligation> {
        self.obligations
            .iter()
            .find(|o| o.deadline_ns < t && !self.held(o))
    }

    fn on_fault(&mut self, ev: &EventRef<'_>, f: &FaultEvent) {
        let t = ev.t_ns;
        let spike_before = self.spike_ns();
        let settled_before = self.settled_ns;
        match f {
            FaultEvent::Start {
                fault,
                kind,
                one_way,
                target,
                extra_latency,
                a,
                b,
                ..
            } => {
                let node = target.map(|n| n.index()).unwrap_or(usize::MAX);
                match kind {
                    FaultKind::Partition if *one_way == Some(false) => {
                        let side = partition_side(ev)
                            .iter()
                            .map(|x| x.index())
                            .filter(|x| *x < self.n)
                            .collect();
                        self.partitions.insert(*fault, side);
                        self.disrupt(t, spike_before);
                        let cause = format!("partition {}", fmt_side(partition_side(ev)));
                        self.relink();
                        self.repartition(t, settled_before, Some(cause));
                        self.mark_held();
                        return;
                    }
                    FaultKind::Partition | FaultKind::PacketLoss => {
                        self.holds.insert(*fault);
                    }
                    FaultKind::Pause => {
                        self.pauses.insert(*fault, node);
                    }
                    FaultKind::LatencySpike => {
                        let extra = extra_latency.map(|d| d.0).unwrap_or(0);
                        self.spikes.insert(*fault, (node, extra));
                    }
                    // A crash is disruptive through its node event; a clog through its
                    // window; duplicates are dropped by the links, and a work-thread
                    // fault makes its job unregister, which is a departure of its own.
                    FaultKind::Clog => {
                        if let (Some(a), Some(b)) = (a, b) {
                            self.clogs.insert(*fault, (a.index(), b.index()));
                        }
                    }
                    FaultKind::Crash | FaultKind::Duplicate | FaultKind::WorkThread => return,
                }
                self.disrupt(t, spike_before);
            }
            FaultEvent::End { fault, kind } => {
                match kind {
                    FaultKind::Crash | FaultKind::Duplicate | FaultKind::WorkThread => return,
                    _ => {}
                }
                self.holds.remove(fault);
                self.pauses.remove(fault);
                self.spikes.remove(fault);
                self.clogs.remove(fault);
                self.disrupt(t, spike_before);
                if self.partitions.remove(fault).is_some() {
                    self.repartition(t, settled_before, None);
                }
            }
            FaultEvent::HealAll => {
                self.holds.clear();
                self.pauses.clear();
                self.spikes.clear();
                self.clogs.clear();
                self.disrupt(t, spike_before);
                self.partitions.clear();
                self.repartition(t, settled_before, None);
            }
            FaultEvent::Skip { .. } => {}
        }
        self.relink();
        self.mark_held();
    }
}

impl Checker for NotifyWithin {
    fn name(&self) -> &'static str {
        "notify_within"
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some(o) = self.overdue(t) {
            return Err(format!(
                "{} was not told within {} that {} left ({} at {})",
                o.survivor,
                SimDuration(o.deadline_ns - o.cause_ns),
                o.departed,
                o.cause,
                SimTime(o.cause_ns)
            ));
        }
        // Job events, most of a run's (every delivery), are tried first: an event is of
        // one component only, so the order of these tests changes nothing else.
        if let Some(j) = ev.event.get::<JobEvent>() {
            match j {
                JobEvent::View {
                    member,
                    view,
                    members,
                    left,
                    ..
                } => {
                    let s = *member;
                    self.job_view.insert(s, (*view, members.clone()));
                    let mut done = Vec::new();
                    self.obligations.retain(|o| {
                        let hit = o.survivor == s && left.iter().any(|d| d.member == o.departed);
                        if hit {
                            let (delay, allowed) = (t - o.cause_ns, o.deadline_ns - o.cause_ns);
                            done.push((o.cause.clone(), delay, allowed, o.held));
                        }
                        !hit
                    });
                    for (cause, delay, allowed, held) in done {
                        if !held {
                            self.allowed.push((cause.clone(), delay, allowed));
                        }
                        self.delays.push((cause, delay));
                    }
                }
                JobEvent::QuorumLost { member, .. } => {
                    self.job_view.remove(member);
                    self.obligations.retain(|o| o.survivor != *member);
                }
                JobEvent::Unregister { member, .. } => {
                    let m = *member;
                    self.job_view.remove(&m);
                    self.obligations.retain(|o| o.survivor != m);
                    let majority = self.majority();
                    let on = |x: usize| majority.as_ref().is_some_and(|g| g.contains(&x));
                    let cause = format!("{m} unregistered");
                    let settled = self.settled_ns;
                    self.oblige(t, settled, |s| on(s.node), |d| *d == m, cause, false);
                }
                _ => {}
            }
        } else if let Some(CeEvent::Install { view, members, .. }) = ev.event.get::<CeEvent>() {
            if self.latest.as_ref().map(|(l, _)| view > l).unwrap_or(true) {
                self.latest = Some((*view, members.clone()));
            }
        } else if let Some(n) = ev.event.get::<NodeEvent>() {
            let node = ev.node.index();
            let spike = self.spike_ns();
            let settled_before = self.settled_ns;
            match n {
                NodeEvent::Crash => {
                    self.job_view.retain(|m, _| m.node != node);
                    self.obligations.retain(|o| o.survivor.node != node);
                    // A crash ends the node's pauses without a window's end.
                    self.pauses.retain(|_, p| *p != node);
                    self.down.insert(node);
                }
                NodeEvent::Restart { .. } => {
                    self.down.remove(&node);
                }
            }
            self.relink();
            self.disrupt(t, spike);
            if let NodeEvent::Crash = n {
                let cause = format!("{} crashed", ev.node);
                let majority = self.majority();
                let on = |x: usize| majority.as_ref().is_some_and(|m| m.contains(&x));
                self.oblige(
                    t,
                    settled_before,
                    |s| on(s.node),
                    |d| d.node == node,
                    cause,
                    false,
                );
            }
        } else if let Some(f) = ev.event.get::<FaultEvent>() {
            self.on_fault(ev, f);
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        match self.overdue(end.t_ns) {
            Some(o) => Err(format!(
                "{} was never told that {} left ({} at {})",
                o.survivor,
                o.departed,
                o.cause,
                SimTime(o.cause_ns)
            )),
            None => Ok(()),
        }
    }
}

// ------------------------------------------------------------------ main_thread_responsive

/// Always: a job's main thread answers its CE's probes within the CE's limit, so it takes
/// every CE message promptly (a pause of the whole node excepted).
#[derive(Default)]
pub struct MainThreadResponsive {
    /// Open pauses by fault id: (node, since).
    open_pauses: BTreeMap<u64, (NodeId, u64)>,
    /// Closed pauses: (node, from, to).
    pauses: Vec<(NodeId, u64, u64)>,
}

impl MainThreadResponsive {
    /// Closes at `t` the open pauses `ends(fault id, node)` picks.
    fn end_pauses(&mut self, t: u64, ends: impl Fn(u64, NodeId) -> bool) {
        let ended: Vec<u64> = self
            .open_pauses
            .iter()
            .filter(|(id, (node, _))| ends(**id, *node))
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some((node, start)) = self.open_pauses.remove(&id) {
                self.pauses.push((node, start, t));
            }
        }
    }
}

impl Checker for MainThreadResponsive {
    fn name(&self) -> &'static str {
        "main_thread_responsive"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("fault", "start" | "end" | "heal_all")
                | ("ce", "job_unresponsive")
                | ("node", "crash")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        match ev.event.get::<FaultEvent>() {
            Some(FaultEvent::Start {
                fault,
                kind: FaultKind::Pause,
                target,
                ..
            }) => {
                self.open_pauses
                    .insert(*fault, (target.unwrap_or(NodeId(0)), ev.t_ns));
            }
            Some(FaultEvent::End { fault, .. }) => {
                self.end_pauses(ev.t_ns, |id, _| id == *fault);
            }
            Some(FaultEvent::HealAll) => self.end_pauses(ev.t_ns, |_, _| true),
            Some(_) => {}
            None => {}
        }
        if let Some(NodeEvent::Crash) = ev.event.get::<NodeEvent>() {
            // A crash ends the node's pauses without a fault end: the node restarts running.
            self.end_pauses(ev.t_ns, |_, node| node == ev.node);
        } else if let Some(CeEvent::JobUnresponsive { member, since }) = ev.event.get::<CeEvent>() {
            let since = since.0;
            let paused = self.open_pauses.values().any(|(n, _)| *n == ev.node)
                || self
                    .pauses
                    .iter()
                    .any(|(n, s, e)| *n == ev.node && *s <= ev.t_ns && *e >= since);
            if !paused {
                return Err(format!(
                    "the main thread of job {member} on {} has not answered a CE probe for {}",
                    ev.node,
                    SimDuration(ev.t_ns - since)
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ ack_round_progress

/// Whether a fault window of this kind disrupts the CEs' traffic, so that its start and its
/// end restart the settling bounds of [`CeConfig::bounds`]. Crashes and restarts are
/// disruptive through their node events; duplicates are dropped by the links, and a
/// work-thread fault acts through its job.
fn disruptive(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::Partition
            | FaultKind::Clog
            | FaultKind::PacketLoss
            | FaultKind::LatencySpike
            | FaultKind::Pause
    )
}

/// An open round: who coordinates it, for which group, when it is due, and since when its
/// bound has been stopped (while nothing the protocol does could bring it to an end).
struct OpenRound {
    node: NodeId,
    group: u32,
    start_ns: u64,
    deadline_ns: u64,
    stopped_since_ns: Option<u64>,
    /// Whether its clock was ever stopped.
    held: bool,
}

/// Always: every ACK round started (or restarted, or adopted) completes or is abandoned
/// by its coordinator in time: within the phase bound of its start, or the settling bound
/// of the last disruptive event (a fault window's start or end, a crash, a restart, the
/// heal: a member it takes away is announced, then the round completes with the new view
/// or restarts), or of the last job to unregister; all from [`CeConfig::bounds`], with
/// the latency spikes open at the time. A later disruption moves the deadline on.
///
/// The bound stops while no latency bound can hold: under a packet-loss window (a message
/// can vanish any number of times) or a one-way partition (who suspects whom depends on
/// timing), while the coordinator is paused (a frozen node can neither finish a round nor
/// give it up), while a clog cuts the coordinator from a member of its view (a clogged
/// pair stays in the view, since the others still hear both, and the link keeps the ACK
/// until the clog heals), while a node of its view has a hung work thread (the round
/// waits for its watchdog, then for its job to unregister, which restarts the bound), and
/// while a node of its view may have a slow work thread (a slow thread makes progress, so
/// no watchdog removes it, yet a round message queued behind background work waits for
/// all of it; the thread times its window from when it takes the fault, which may be well
/// after the fault starts, so the window counts as open until the faults heal or the node
/// crashes), and while the coordinator is in no connected majority (see
/// `connected_majority`: it may keep a view that can change no more, without losing
/// quorum). Eventually: after the faults heal, rounds complete again.
pub struct AckRoundProgress {
    cfg: CeConfig,
    require_after_heal: bool,
    settle_ns: u64,
    /// Open rounds by (round, phase).
    open: BTreeMap<(RoundId, RoundPhase), OpenRound>,
    /// Open packet-loss windows and one-way partitions by fault id.
    holds: BTreeSet<u64>,
    /// Open pauses by fault id, with their node (pauses of one node may overlap).
    pauses: BTreeMap<u64, NodeId>,
    /// Open clogs by fault id, with the two nodes they cut apart.
    clogs: BTreeMap<u64, (NodeId, NodeId)>,
    /// Slow work-thread faults that may still be slowing their node, by fault id.
    slow: BTreeMap<u64, NodeId>,
    /// Nodes with a hung work thread whose job has not unregistered yet.
    hung: BTreeSet<NodeId>,
    /// Open latency spikes by fault id: their extra latency in ns.
    spikes: BTreeMap<u64, u64>,
    /// Open symmetric partitions by fault id: their side.
    partitions: BTreeMap<u64, BTreeSet<usize>>,
    /// Nodes down now (crashed, not restarted yet).
    down: BTreeSet<usize>,
    /// The nodes in a connected majority (see `connected_majority`), a bit each.
    connected: u64,
    /// The latest deadline a disruption set for every open round.
    settled_ns: u64,
    /// Per (node, group): the nodes of the members in that node's job's latest view.
    views: BTreeMap<(NodeId, u32), BTreeSet<NodeId>>,
    liveness_start_ns: Option<u64>,
    done_after_heal: u64,
    n: usize,
    /// Per round that ended and whose clock never stopped: how long it took and how long
    /// it was allowed, both from its start, in ns (what a report of the bound's tightness
    /// reads).
    pub allowed: Vec<(u64, u64)>,
    /// Work threads take modelled processing time (a cost model): see
    /// [`AckRoundProgress::with_processing_cost`].
    processing_cost: bool,
    /// The earliest deadline of an open round whose clock runs (`u64::MAX` if none, or
    /// with a processing cost): no round is overdue at an event up to then.
    due_ns: u64,
}

impl AckRoundProgress {
    /// `n` is the engine's configured nodes (0: the world's node count).
    pub fn new(n: usize, cfg: &CeConfig, require_after_heal: bool) -> Self {
        AckRoundProgress {
            cfg: cfg.clone(),
            require_after_heal,
            settle_ns: (4 * cfg.failure_timeout_ms + 2_000) * 1_000_000,
            open: BTreeMap::new(),
            holds: BTreeSet::new(),
            pauses: BTreeMap::new(),
            clogs: BTreeMap::new(),
            slow: BTreeMap::new(),
            hung: BTreeSet::new(),
            spikes: BTreeMap::new(),
            partitions: BTreeMap::new(),
            down: BTreeSet::new(),
            connected: u64::MAX,
            settled_ns: 0,
            views: BTreeMap::new(),
            liveness_start_ns: None,
            done_after_heal: 0,
            n,
            allowed: Vec::new(),
            processing_cost: false,
            due_ns: u64::MAX,
        }
    }

    /// For a world whose work threads take modelled processing time: a round message
    /// waits its turn behind the work queued at the node's simulated cores, which no bound
    /// of the engine's covers (at saturation the queue, and a round's latency, grows
    /// without limit; an exponential service time has no maximum). The phase bounds are not
    /// checked then, only that rounds complete after the faults heal.
    pub fn with_processing_cost(mut self) -> Self {
        self.processing_cost = true;
        self
    }

    /// The open rounds whose bound the checker holds now: those whose clock runs, and
    /// none with a processing cost.
    fn running(&self) -> impl Iterator<Item = (&(RoundId, RoundPhase), &OpenRound)> {
        self.open
            .iter()
            .filter(|(_, r)| !self.processing_cost && r.stopped_since_ns.is_none())
    }

    /// The earliest deadline of a round whose clock runs: an event up to then finds none
    /// overdue in `check_and_observe`.
    fn earliest_due_ns(&self) -> u64 {
        self.running()
            .map(|(_, r)| r.deadline_ns)
            .min()
            .unwrap_or(u64::MAX)
    }

    fn spike_ns(&self) -> u64 {
        self.spikes.values().sum()
    }

    /// A disruptive event at `t`: every open round is due no earlier than `t` plus `after`
    /// (the settling bound for the spikes open before or after the event, whichever add
    /// more, or the bound after an unregistering).
    fn disrupt(&mut self, t: u64, spike_before_ns: u64, unregister: bool) {
        let b = self
            .cfg
            .bounds(spike_before_ns.max(self.spike_ns()), !self.clogs.is_empty());
        let until = t + if unregister {
            b.round_after_unregister_ns
        } else {
            b.round_settle_ns
        };
        self.settled_ns = self.settled_ns.max(until);
        for r in self.open.values_mut() {
            // A stopped round's deadline moves on by the time it stays stopped: what it
            // gets from the event is `until` from the event's own time.
            let held = r.stopped_since_ns.map_or(0, |since| t - since);
            r.deadline_ns = r.deadline_ns.max(until.saturating_sub(held));
        }
    }

    /// Recomputes which nodes are in a connected majority, after the links, crashes or
    /// pauses changed.
    fn relink(&mut self) {
        if self.n == 0 {
            return;
        }
        let mut out = self.down.clone();
        out.extend(self.pauses.values().map(|n| n.index()));
        let parts = &self.partitions;
        let clogs = &self.clogs;
        self.connected = connected_majority(self.n, &out, |a, b| {
            let (a, b) = (NodeId::from(a), NodeId::from(b));
            parts
                .values()
                .any(|s| s.contains(&a.index()) != s.contains(&b.index()))
                || clogs
                    .values()
                    .any(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a))
        });
    }

    /// Whether a round of `group` coordinated by `node` is held up by a fault right now.
    /// Besides the faults of the type's doc: its coordinator is in no connected majority
    /// (it may keep a view that can change no more, without losing quorum).
    fn stopped(&self, node: NodeId, group: u32) -> bool {
        if !self.holds.is_empty() || self.pauses.values().any(|n| *n == node) {
            return true;
        }
        if node.index() < 64 && self.connected >> node.index() & 1 == 0 {
            return true;
        }
        if self.slow.values().any(|n| *n == node) || self.hung.contains(&node) {
            return true;
        }
        let Some(members) = self.views.get(&(node, group)) else {
            return false;
        };
        if self.slow.values().any(|n| members.contains(n))
            || self.hung.iter().any(|n| members.contains(n))
        {
            return true;
        }
        self.clogs.values().any(|&(a, b)| {
            (a == node && b != node && members.contains(&b))
                || (b == node && a != node && members.contains(&a))
        })
    }

    /// Starts or stops each open round's clock to match the faults now open: a round whose
    /// hold-up ended gets the held time added to its deadline.
    fn restamp(&mut self, t: u64) {
        let stopped: Vec<bool> = self
            .open
            .values()
            .map(|r| self.stopped(r.node, r.group))
            .collect();
        for (r, now) in self.open.values_mut().zip(stopped) {
            match (now, r.stopped_since_ns) {
                (true, None) => {
                    r.stopped_since_ns = Some(t);
                    r.held = true;
                }
                (false, Some(since)) => {
                    r.deadline_ns += t - since;
                    r.stopped_since_ns = None;
                }
                _ => {}
            }
        }
    }

    fn overdue(round: &(RoundId, RoundPhase), r: &OpenRound) -> String {
        let (id, phase) = round;
        format!(
            "{} round {id} coordinated by {} neither completed nor was abandoned by {}",
            phase.name(),
            r.node,
            SimTime(r.deadline_ns)
        )
    }

    /// A round event: opens, closes or counts a round.
    fn on_round(&mut self, ev: &EventRef<'_>, a: &AckEvent) {
        let t = ev.t_ns;
        match a {
            AckEvent::RoundStart { round, phase, .. }
            | AckEvent::RoundRestart { round, phase, .. }
            | AckEvent::RoundAdopt { round, phase, .. } => {
                let group = round.group();
                let stopped_since_ns = self.stopped(ev.node, group).then_some(t);
                let due = t + self.cfg.bounds(self.spike_ns(), false).round_ns;
                let r = OpenRound {
                    node: ev.node,
                    group,
                    start_ns: t,
                    deadline_ns: due.max(self.settled_ns),
                    stopped_since_ns,
                    held: stopped_since_ns.is_some(),
                };
                self.open.insert((*round, *phase), r);
            }
            AckEvent::RoundDone { round, phase, .. } | AckEvent::RoundAbandon { round, phase } => {
                if let Some(r) = self.open.remove(&(*round, *phase)) {
                    if !r.held {
                        self.allowed
                            .push((t - r.start_ns, r.deadline_ns - r.start_ns));
                    }
                }
            }
            AckEvent::TxnDone { .. }
                if self
                    .liveness_start_ns
                    .map(|l| t >= l + self.settle_ns)
                    .unwrap_or(false) =>
            {
                self.done_after_heal += 1;
            }
            AckEvent::TxnDone { .. } => {}
        }
    }

    /// Everything an event says to this checker: a fault's start or end first, then
    /// `check_and_observe` (the bound check at its time, and the rest).
    fn observe(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let t = ev.t_ns;
        let spike_before = self.spike_ns();
        match ev.event.get::<FaultEvent>() {
            Some(FaultEvent::Start {
                fault,
                kind,
                target,
                a,
                b,
                mode,
                one_way,
                extra_latency,
                ..
            }) => {
                match kind {
                    FaultKind::WorkThread if *mode == Some("slow") => {
                        self.slow.insert(*fault, target.unwrap_or(NodeId::WORLD));
                    }
                    FaultKind::PacketLoss => {
                        self.holds.insert(*fault);
                    }
                    FaultKind::Partition if *one_way == Some(true) => {
                        self.holds.insert(*fault);
                    }
                    FaultKind::Partition => {
                        let side = partition_side(ev).iter().map(|x| x.index()).collect();
                        self.partitions.insert(*fault, side);
                    }
                    FaultKind::Pause => {
                        self.pauses.insert(*fault, target.unwrap_or(NodeId::WORLD));
                    }
                    FaultKind::Clog => {
                        let a = a.unwrap_or(NodeId::WORLD);
                        let b = b.unwrap_or(NodeId::WORLD);
                        self.clogs.insert(*fault, (a, b));
                    }
                    FaultKind::LatencySpike => {
                        self.spikes
                            .insert(*fault, extra_latency.map(|d| d.0).unwrap_or(0));
                    }
                    // Other faults hold no round up.
                    _ => {}
                }
                if disruptive(*kind) {
                    self.disrupt(t, spike_before, false);
                }
                self.relink();
                self.restamp(t);
            }
            Some(FaultEvent::End { fault, kind }) => {
                self.holds.remove(fault);
                self.pauses.remove(fault);
                self.clogs.remove(fault);
                self.spikes.remove(fault);
                self.partitions.remove(fault);
                self.relink();
                if disruptive(*kind) {
                    self.disrupt(t, spike_before, false);
                }
                self.restamp(t);
            }
            Some(FaultEvent::HealAll) => {
                self.holds.clear();
                self.pauses.clear();
                self.clogs.clear();
                self.slow.clear();
                self.spikes.clear();
                self.partitions.clear();
                self.relink();
                self.disrupt(t, spike_before, false);
                self.restamp(t);
            }
            _ => {}
        }
        self.check_and_observe(ev)
    }

    /// The bound check at this event's time, then what the event says about rounds, views,
    /// jobs and crashes.
    fn check_and_observe(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some((round, r)) = self.running().find(|(_, r)| r.deadline_ns < t) {
            return Err(Self::overdue(round, r));
        }
        match ev.event.get::<WorldEvent>() {
            Some(WorldEvent::Start { nodes, .. }) if self.n == 0 => {
                self.n = *nodes as usize;
                self.relink();
            }
            Some(WorldEvent::Phase {
                phase: Phase::Liveness,
            }) => self.liveness_start_ns = Some(t),
            _ => {}
        }
        if let Some(a) = ev.event.get::<AckEvent>() {
            self.on_round(ev, a);
        } else if let Some(j) = ev.event.get::<JobEvent>() {
            match j {
                JobEvent::View {
                    member, members, ..
                } => {
                    let nodes = members.iter().map(|m| NodeId::from(m.node)).collect();
                    self.views.insert((ev.node, member.group), nodes);
                }
                JobEvent::WorkFault { mode: "hang", .. } => {
                    self.hung.insert(ev.node);
                }
                JobEvent::Unregister { .. } => {
                    self.hung.remove(&ev.node);
                    self.disrupt(t, self.spike_ns(), true);
                }
                _ => return Ok(()),
            }
            self.restamp(t);
        } else if let Some(e) = ev.event.get::<NodeEvent>() {
            match e {
                NodeEvent::Crash => {
                    // A crash ends the node's rounds, its view and its pauses too (the
                    // world emits no end for them): the node restarts running.
                    self.open.retain(|_, r| r.node != ev.node);
                    self.pauses.retain(|_, n| *n != ev.node);
                    self.slow.retain(|_, n| *n != ev.node);
                    self.hung.remove(&ev.node);
                    self.views.retain(|(n, _), _| *n != ev.node);
                    self.down.insert(ev.node.index());
                }
                NodeEvent::Restart { .. } => {
                    self.down.remove(&ev.node.index());
                }
            }
            self.relink();
            self.disrupt(t, self.spike_ns(), false);
            self.restamp(t);
        }
        Ok(())
    }
}

impl Checker for AckRoundProgress {
    fn name(&self) -> &'static str {
        "ack_round_progress"
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        // Deliveries and multicasts, most of a run's events, change nothing this checker
        // keeps: they only date the bound check, and it needs the earliest running deadline
        // alone. Any other event may open, close, stop or move rounds: the earliest
        // deadline is taken again after it.
        if matches!(
            ev.event.get::<JobEvent>(),
            Some(JobEvent::Deliver { .. } | JobEvent::Multicast { .. })
        ) {
            if ev.t_ns <= self.due_ns {
                return Ok(());
            }
            return self.check_and_observe(ev);
        }
        let verdict = self.observe(ev);
        self.due_ns = self.earliest_due_ns();
        verdict
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        // A round still held up at the end has had its bound stopped since then.
        if let Some((round, r)) =
            self.open
                .iter()
                .filter(|_| !self.processing_cost)
                .find(|(_, r)| {
                    let held = r
                        .stopped_since_ns
                        .map_or(0, |since| end.t_ns.saturating_sub(since));
                    r.deadline_ns + held < end.t_ns
                })
        {
            return Err(Self::overdue(round, r));
        }
        let engine_live = end.live_nodes.iter().filter(|n| **n < self.n).count();
        let majority_live = 2 * engine_live > self.n;
        if self.require_after_heal
            && majority_live
            && self.done_after_heal == 0
            && end.t_ns > end.liveness_start_ns + self.settle_ns
        {
            return Err("no transaction completed after the faults healed".to_string());
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ liveness

/// A view's node incarnations and members.
type ViewShape = (BTreeSet<NodeInc>, BTreeSet<Member>);

/// Eventually: once the faults heal, all live nodes form one view that holds every live
/// job, and every live job has been given that view, before the run ends.
#[derive(Default)]
pub struct Liveness {
    view_of: BTreeMap<NodeId, u64>,
    views: BTreeMap<u64, ViewShape>,
    job: BTreeMap<NodeId, Member>,
    job_view: BTreeMap<Member, u64>,
    incs: Incarnations,
    /// The engine's configured nodes; 0 until known (then the world's node count is used).
    n: usize,
}

impl Liveness {
    /// For a world whose first `n` nodes run the engine (the rest are its clients).
    pub fn new(n: usize) -> Self {
        Liveness {
            n,
            ..Liveness::default()
        }
    }
}

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        "liveness"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("world", "start")
                | ("ce", "install" | "quorum_lost")
                | ("node", "crash" | "restart")
                | ("job", "register" | "unregister" | "view" | "quorum_lost")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        self.incs.observe(ev);
        if let Some(WorldEvent::Start { nodes, .. }) = ev.event.get::<WorldEvent>() {
            if self.n == 0 {
                self.n = *nodes as usize;
            }
        } else if let Some(NodeEvent::Crash) = ev.event.get::<NodeEvent>() {
            self.view_of.remove(&ev.node);
            self.job.remove(&ev.node);
        } else if let Some(ce) = ev.event.get::<CeEvent>() {
            match ce {
                CeEvent::Install {
                    view,
                    nodes,
                    members,
                    ..
                } => {
                    self.view_of.insert(ev.node, *view);
                    self.views
                        .entry(*view)
                        .or_insert_with(|| (nodes.iter().copied().collect(), members.clone()));
                }
                CeEvent::QuorumLost { .. } => {
                    self.view_of.remove(&ev.node);
                }
                _ => {}
            }
        } else {
            match ev.event.get::<JobEvent>() {
                Some(JobEvent::Register { member, .. }) => {
                    self.job.insert(ev.node, *member);
                }
                Some(JobEvent::Unregister { .. }) => {
                    self.job.remove(&ev.node);
                }
                Some(JobEvent::View { member, view, .. }) => {
                    self.job_view.insert(*member, *view);
                }
                Some(JobEvent::QuorumLost { member, .. }) => {
                    self.job_view.remove(member);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        // Nodes outside the engine (clients) hold no views.
        let live: Vec<NodeId> = end
            .live_nodes
            .iter()
            .filter(|n| **n < self.n)
            .map(|n| NodeId::from(*n))
            .collect();
        if 2 * live.len() <= self.n {
            // No majority is left: no live node may still think it is in the group.
            return match live.iter().find(|n| self.view_of.contains_key(n)) {
                Some(n) => Err(format!(
                    "only {} of {} nodes are live, yet {n} ended in view {}",
                    live.len(),
                    self.n,
                    self.view_of[n]
                )),
                None => Ok(()),
            };
        }
        let mut ids = BTreeSet::new();
        for n in &live {
            match self.view_of.get(n) {
                Some(v) => {
                    ids.insert(*v);
                }
                None => return Err(format!("live node {n} ended outside any view")),
            }
        }
        if ids.len() > 1 {
            return Err(format!(
                "live nodes ended in different views {}",
                Text(&ids)
            ));
        }
        let Some(v) = ids.into_iter().next() else {
            return Ok(());
        };
        let (nodes, members) = &self.views[&v];
        let want_nodes: BTreeSet<NodeInc> = live.iter().map(|n| self.incs.of(*n)).collect();
        if *nodes != want_nodes {
            return Err(format!(
                "the final view {v} has nodes {}, the live nodes are {}",
                Text(nodes),
                Text(&want_nodes)
            ));
        }
        let jobs: BTreeSet<Member> = live
            .iter()
            .filter_map(|n| self.job.get(n).copied())
            .collect();
        if *members != jobs {
            return Err(format!(
                "the final view {v} has members {}, the live jobs are {}",
                Text(members),
                Text(&jobs)
            ));
        }
        if let Some(j) = jobs.iter().find(|j| self.job_view.get(j) != Some(&v)) {
            return Err(format!("live job {j} was never given the final view {v}"));
        }
        Ok(())
    }
}

/// Every checker of the engine, for a world of `n` nodes.
pub fn all(n: usize, cfg: &CeConfig, rounds: bool) -> Vec<Box<dyn Checker>> {
    all_with_cost(n, cfg, rounds, false)
}

/// [`all`], for a world whose work threads take modelled processing time when
/// `processing_cost` (see [`AckRoundProgress::with_processing_cost`]).
pub fn all_with_cost(
    n: usize,
    cfg: &CeConfig,
    rounds: bool,
    processing_cost: bool,
) -> Vec<Box<dyn Checker>> {
    let progress = AckRoundProgress::new(n, cfg, rounds);
    let progress = if processing_cost {
        progress.with_processing_cost()
    } else {
        progress
    };
    vec![
        Box::new(ViewAgreement::default()),
        Box::new(PrimaryComponent::new(n)),
        Box::new(VirtualSynchrony::default()),
        Box::new(AgreedOrder::default()),
        Box::new(FifoPerSender::default()),
        Box::new(NoDuplicates::default()),
        Box::new(NoGhosts::default()),
        Box::new(Identity::default()),
        Box::new(NotifiedOnce::default()),
        Box::new(NotifyWithin::new(n, cfg)),
        Box::new(MainThreadResponsive::default()),
        Box::new(progress),
        Box::new(Liveness::new(n)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_exactly_the_numbers_inserted() {
        // A fixed pseudo-random walk of small numbers, in and out of order, with repeats.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut ranges = Vec::new();
        let mut set = BTreeSet::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = x % 300;
            assert_eq!(insert_in_ranges(&mut ranges, n), set.insert(n), "{n}");
            assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0), "{ranges:?}");
        }
        let listed: Vec<u64> = ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
        assert_eq!(listed, set.into_iter().collect::<Vec<_>>());
        let mut edge = Vec::new();
        for n in [u64::MAX, 0, u64::MAX - 1, 1] {
            assert!(insert_in_ranges(&mut edge, n));
        }
        assert_eq!(edge, vec![(0, 1), (u64::MAX - 1, u64::MAX)]);
        assert!(!insert_in_ranges(&mut edge, u64::MAX));
        assert!(!insert_in_ranges(&mut edge, 0));
    }

    /// The subsets of up to 12 nodes, tried one by one: what `connected_majority` must
    /// agree with.
    fn connected_majority_by_subsets(
        n: usize,
        out: &BTreeSet<usize>,
        cut: impl Fn(usize, usize) -> bool,
    ) -> u64 {
        let mut found = 0u64;
        for mask in 0u64..(1 << n) {
            let nodes: Vec<usize> = (0..n).filter(|x| mask >> x & 1 == 1).collect();
            if 2 * nodes.len() > n
                && nodes.iter().all(|x| !out.contains(x))
                && nodes
                    .iter()
                    .enumerate()
                    .all(|(i, a)| nodes[i + 1..].iter().all(|b| !cut(*a, *b)))
            {
                found |= mask;
            }
        }
        found
    }

    #[test]
    fn a_connected_majority_is_found_as_every_subset_would_find_it() {
        // Fixed pseudo-random worlds: crashed nodes, partitions and clogs, each link cut
        // with a chance that grows with the round.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..400u64 {
            let n = 1 + (next() % 12) as usize;
            let out: BTreeSet<usize> = (0..n).filter(|_| next() % 6 == 0).collect();
            let side = next();
            let partitioned = round % 3 == 0;
            // Each pair's cut, drawn once: (lower, higher) index.
            let mut cuts = BTreeSet::new();
            for a in 0..n {
                for b in a + 1..n {
                    let across = partitioned && (side >> a & 1) != (side >> b & 1);
                    let clog = next() % 100 < round % 40;
                    if across || clog {
                        cuts.insert((a, b));
                    }
                }
            }
            let cut = |a: usize, b: usize| cuts.contains(&(a.min(b), a.max(b)));
            assert_eq!(
                connected_majority(n, &out, cut),
                connected_majority_by_subsets(n, &out, cut),
                "round {round}: {n} nodes, out {out:?}, cuts {cuts:?}"
            );
        }
    }

    #[test]
    fn a_connected_majority_of_a_large_world_is_found_too() {
        // 40 nodes: a partition cuts off 0..15; in the majority side of 25, a clog between
        // 20 and 21, so its largest cliques leave out one end of the clog: 24 of 40 nodes.
        let n = 40;
        let cut = |a: usize, b: usize| (a < 15) != (b < 15) || (a.min(b), a.max(b)) == (20, 21);
        let side = |down: &[usize]| {
            (15..40)
                .filter(|x| !down.contains(x))
                .fold(0, |m, x| m | 1u64 << x)
        };
        assert_eq!(connected_majority(n, &BTreeSet::new(), cut), side(&[]));
        // Three of the side down: cliques of 21 of 40, still a majority.
        let three = [30, 31, 32];
        assert_eq!(connected_majority(n, &three.into(), cut), side(&three));
        // Four down: cliques of 20 of 40, no majority; nobody is in one.
        let four: BTreeSet<usize> = [30, 31, 32, 33].into();
        assert_eq!(connected_majority(n, &four, cut), 0);
    }

    #[test]
    fn seq_slots_find_what_was_put_in_any_order() {
        let m = |n| Member {
            node: n,
            inc: 0,
            job: 0,
            group: 0,
        };
        let mut slots = SeqSlots::default();
        for seq in [1, 2, 5, 3, 0, u64::MAX, 4, 6] {
            assert!(slots.get(seq).is_none());
            slots.insert(seq, (m(seq as usize % 7), seq));
        }
        for seq in [0, 1, 2, 3, 4, 5, 6, u64::MAX] {
            assert_eq!(slots.get(seq), Some(&(m(seq as usize % 7), seq)));
        }
        assert!(slots.get(7).is_none());
    }
}
