//! The guarantees of DESIGN.md §A, one checker each, observing only the trace.
//!
//! Events they read: `ce.install` (view, nodes, members) and `ce.quorum_lost` from the CEs;
//! `job.register`, `job.unregister`, `job.view` (members, left with reasons, joined),
//! `job.quorum_lost` and `job.deliver` (view, seq, sender, fifo) from the jobs' main
//! threads; `ce.job_unresponsive` from the CE's probe of its main thread; `ack.*` from the
//! round coordinator; and the world's `node.crash`, `node.restart` and `fault.*` events.

use super::{parse_members, parse_nodes, CeConfig, Member, Reason};
use sim::check::{Checker, RunEnd};
use sim::trace::TraceEvent;
use sim::world::FaultEvent;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

fn member(ev: &TraceEvent, key: &str) -> Result<Member, String> {
    ev.str(key).and_then(Member::parse).ok_or_else(|| {
        format!(
            "event {}.{} has no member field '{key}'",
            ev.component(),
            ev.name()
        )
    })
}

/// The side a `fault.start` of a partition cuts off, by node index.
fn partition_side(ev: &TraceEvent) -> Vec<usize> {
    match ev.get::<FaultEvent>() {
        Some(FaultEvent::Start {
            side_a: Some(side), ..
        }) => side.iter().map(|n| n.index()).collect(),
        _ => vec![],
    }
}

fn fmt_side(side: &[usize]) -> String {
    let v: Vec<String> = side.iter().map(|n| format!("n{n}")).collect();
    v.join(",")
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Parses `job.view`'s `left` field: `member:Reason,...`.
fn parse_left(s: &str) -> Result<Vec<(Member, Reason)>, String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            let (m, r) = x
                .split_once(':')
                .ok_or_else(|| format!("bad departure '{x}'"))?;
            Ok((
                Member::parse(m).ok_or_else(|| format!("bad member '{m}'"))?,
                Reason::parse(r).ok_or_else(|| format!("bad reason '{r}'"))?,
            ))
        })
        .collect()
}

/// Which node incarnations ever crashed, and each node's current incarnation.
#[derive(Default)]
struct Incarnations {
    current: BTreeMap<u64, u64>,
    crashed: BTreeSet<(usize, u64)>,
}

impl Incarnations {
    fn observe(&mut self, ev: &TraceEvent) {
        if ev.is("node", "crash") {
            let inc = self.current.get(&ev.node.0).copied().unwrap_or(0);
            self.crashed.insert((ev.node.0 as usize, inc));
        } else if ev.is("node", "restart") {
            self.current
                .insert(ev.node.0, ev.u64("incarnation").unwrap_or(0));
        }
    }
}

// ------------------------------------------------------------------ view_agreement

/// Always: every node that installs view v installs the same nodes and members, each node's
/// view ids only grow, and a job's view is the view its CE installed.
#[derive(Default)]
pub struct ViewAgreement {
    views: BTreeMap<u64, (String, String, u64)>,
    last: BTreeMap<u64, u64>,
}

impl Checker for ViewAgreement {
    fn name(&self) -> &'static str {
        "view_agreement"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!((component, event), ("ce", "install") | ("job", "view"))
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("ce", "install") {
            let v = ev.u64("view").unwrap_or(0);
            let nodes = ev.str("nodes").unwrap_or("").to_string();
            let members = ev.str("members").unwrap_or("").to_string();
            if let Some(prev) = self.last.get(&ev.node.0) {
                if v <= *prev {
                    return Err(format!(
                        "n{} installed view {v} after view {prev}",
                        ev.node.0
                    ));
                }
            }
            self.last.insert(ev.node.0, v);
            match self.views.get(&v) {
                Some((n, m, first)) if *n != nodes || *m != members => {
                    return Err(format!(
                        "view {v}: n{first} installed nodes [{n}] members [{m}], n{} installed nodes [{nodes}] members [{members}]",
                        ev.node.0
                    ))
                }
                Some(_) => {}
                None => {
                    self.views.insert(v, (nodes, members, ev.node.0));
                }
            }
        } else if ev.is("job", "view") {
            let v = ev.u64("view").unwrap_or(0);
            let members = ev.str("members").unwrap_or("");
            let group = member(ev, "member")?.group;
            match self.views.get(&v) {
                Some((_, m, _))
                    if parse_members(m)
                        .into_iter()
                        .filter(|x| x.group == group)
                        .eq(parse_members(members)) => {}
                Some((_, m, _)) => {
                    return Err(format!(
                    "job {} was given view {v} with members [{members}], the CEs installed [{m}]",
                    ev.str("member").unwrap_or("?")
                ))
                }
                None => {
                    return Err(format!(
                        "job {} was given view {v}, which no CE installed",
                        ev.str("member").unwrap_or("?")
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("world", "start") {
            if self.n == 0 {
                self.n = ev.u64("nodes").unwrap_or(0);
            }
        } else if ev.is("ce", "install") {
            let nodes = parse_nodes(ev.str("nodes").unwrap_or(""));
            if 2 * nodes.len() as u64 <= self.n {
                return Err(format!(
                    "n{} installed view {} with {} of {} nodes [{}]: not a majority (split brain)",
                    ev.node.0,
                    ev.u64("view").unwrap_or(0),
                    nodes.len(),
                    self.n,
                    ev.str("nodes").unwrap_or("")
                ));
            }
        } else if ev.is("job", "quorum_lost") {
            self.out
                .insert(member(ev, "member")?, ev.u64("view").unwrap_or(0));
        } else if ev.is("job", "view") {
            self.out.remove(&member(ev, "member")?);
        } else if ev.is("job", "deliver") {
            let m = member(ev, "member")?;
            let v = ev.u64("view").unwrap_or(0);
            if let Some(lost) = self.out.get(&m).filter(|lost| **lost != v) {
                return Err(format!(
                    "{m} delivered seq {} of view {v} after it was told QuorumLost in view {lost}",
                    ev.u64("seq").unwrap_or(0),
                ));
            }
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("job", "deliver") {
            let m = member(ev, "member")?;
            let v = ev.u64("view").unwrap_or(0);
            if let Some((cv, h, c)) = self.cur.get_mut(&m) {
                if *cv == v {
                    let s = member(ev, "sender")?;
                    *h = fnv(
                        fnv(
                            fnv(*h, ev.u64("seq").unwrap_or(0)),
                            s.node as u64 ^ (s.job << 32),
                        ),
                        ev.u64("fifo").unwrap_or(0),
                    );
                    *c += 1;
                }
            }
        } else if ev.is("job", "view") {
            let m = member(ev, "member")?;
            let v = ev.u64("view").unwrap_or(0);
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
        } else if ev.is("job", "unregister") {
            self.cur.remove(&member(ev, "member")?);
        } else if ev.is("node", "crash") {
            self.cur.retain(|m, _| m.node as u64 != ev.node.0);
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

impl Checker for AgreedOrder {
    fn name(&self) -> &'static str {
        "agreed_order"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("job", "deliver")
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if !ev.is("job", "deliver") {
            return Ok(());
        }
        let m = member(ev, "member")?;
        let s = member(ev, "sender")?;
        let (v, seq, fifo) = (
            ev.u64("view").unwrap_or(0),
            ev.u64("seq").unwrap_or(0),
            ev.u64("fifo").unwrap_or(0),
        );
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if !ev.is("job", "deliver") {
            return Ok(());
        }
        let m = member(ev, "member")?;
        let s = member(ev, "sender")?;
        let (v, fifo) = (ev.u64("view").unwrap_or(0), ev.u64("fifo").unwrap_or(0));
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if !ev.is("job", "deliver") {
            return Ok(());
        }
        let m = member(ev, "member")?;
        let s = member(ev, "sender")?;
        let fifo = ev.u64("fifo").unwrap_or(0);
        if !insert_in_ranges(self.seen.entry((m, s)).or_default(), fifo) {
            return Err(format!("{m} delivered {s}#{fifo} twice"));
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("ce", "install") {
            let v = ev.u64("view").unwrap_or(0);
            self.views
                .entry(v)
                .or_insert_with(|| parse_members(ev.str("members").unwrap_or("")));
        } else if ev.is("job", "unregister") {
            self.left.insert(member(ev, "member")?);
        } else if ev.is("job", "deliver") {
            let m = member(ev, "member")?;
            let s = member(ev, "sender")?;
            let v = ev.u64("view").unwrap_or(0);
            if self.left.contains(&m) {
                return Err(format!(
                    "{m} got {s}#{} in view {v} after it unregistered",
                    ev.u64("fifo").unwrap_or(0)
                ));
            }
            let Some(members) = self.views.get(&v) else {
                return Err(format!(
                    "{m} got a message of view {v}, which no CE installed"
                ));
            };
            if !members.contains(&m) {
                return Err(format!(
                    "{m} got {s}#{} in view {v}, which it is not a member of",
                    ev.u64("fifo").unwrap_or(0)
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
    nodes: BTreeMap<u64, BTreeSet<(usize, u64)>>,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        self.incs.observe(ev);
        if ev.is("ce", "install") {
            let v = ev.u64("view").unwrap_or(0);
            self.nodes
                .entry(v)
                .or_insert_with(|| parse_nodes(ev.str("nodes").unwrap_or("")));
        } else if ev.is("job", "unregister") {
            let m = member(ev, "member")?;
            self.unregistered.insert(m);
            self.prev.remove(&m);
        } else if ev.is("job", "quorum_lost") {
            self.prev.remove(&member(ev, "member")?);
        } else if ev.is("node", "crash") {
            self.prev.retain(|m, _| m.node as u64 != ev.node.0);
        } else if ev.is("job", "view") {
            let me = member(ev, "member")?;
            let v = ev.u64("view").unwrap_or(0);
            let new = parse_members(ev.str("members").unwrap_or(""));
            let left = parse_left(ev.str("left").unwrap_or(""))?;
            let joined: Vec<Member> = ev
                .str("joined")
                .unwrap_or("")
                .split(',')
                .filter_map(Member::parse)
                .collect();
            let prev = self.prev.remove(&me).unwrap_or_default();
            let nodes = self.nodes.get(&v).cloned().unwrap_or_default();
            let mut told = BTreeSet::new();
            for (d, r) in &left {
                if !told.insert(*d) {
                    return Err(format!("{me} was told twice in view {v} that {d} left"));
                }
                if !prev.contains(d) || new.contains(d) {
                    return Err(format!(
                        "{me} was told in view {v} that {d} left ({}), but it was not in its previous view or is still a member",
                        r.name()
                    ));
                }
                let node_in = nodes.contains(&(d.node, d.inc));
                let ok = match r {
                    Reason::Left => self.unregistered.contains(d) && node_in,
                    Reason::ProcessDown => self.incs.crashed.contains(&(d.node, d.inc)),
                    Reason::NodeDown => !node_in,
                };
                if !ok {
                    return Err(format!(
                        "{me} was told in view {v} that {d} left with the wrong reason {}",
                        r.name()
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
                    "{me} was told in view {v} that [{}] joined, expected [{}]",
                    super::fmt_members(&joined),
                    super::fmt_members(&expected_joined)
                ));
            }
            self.prev.insert(me, new);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ notify_within

struct Obligation {
    departed: Member,
    survivor: Member,
    cause_ns: u64,
    deadline_ns: u64,
    cause: String,
    fault: Option<u64>,
}

/// Always: after a departure with a single clear cause (a job unregistering, a node crash,
/// a symmetric partition cutting off a minority) and no other disruption around it, every
/// survivor of the last view is notified within the detection bound (failure timeout plus
/// the stated margin, `CeConfig::notify_bound_ms`).
pub struct NotifyWithin {
    n: usize,
    bound_ns: u64,
    timeout_ns: u64,
    latest: Option<(u64, BTreeSet<Member>)>,
    /// The view each job is in now.
    job_view: BTreeMap<Member, u64>,
    /// Open disruptive fault windows by id.
    active: BTreeSet<u64>,
    quiet_after_ns: u64,
    obligations: Vec<Obligation>,
    /// Measured delays of discharged obligations: (cause, delay ns).
    pub delays: Vec<(String, u64)>,
}

impl NotifyWithin {
    pub fn new(n: usize, cfg: &CeConfig) -> Self {
        NotifyWithin {
            n,
            bound_ns: cfg.notify_bound_ms() * 1_000_000,
            timeout_ns: cfg.failure_timeout_ms * 1_000_000,
            latest: None,
            job_view: BTreeMap::new(),
            active: BTreeSet::new(),
            quiet_after_ns: 0,
            obligations: Vec::new(),
            delays: Vec::new(),
        }
    }

    fn quiet(&self, t: u64) -> bool {
        self.active.is_empty() && t >= self.quiet_after_ns
    }

    fn disrupt(&mut self, until_ns: u64) {
        self.obligations.clear();
        self.quiet_after_ns = self.quiet_after_ns.max(until_ns);
    }

    fn oblige(&mut self, t: u64, departed: &[Member], cause: String, fault: Option<u64>) {
        let Some((v, members)) = &self.latest else {
            return;
        };
        // Survivors: the members of the latest view whose jobs are in it now.
        let survivors: Vec<Member> = members
            .iter()
            .filter(|s| !departed.contains(s) && self.job_view.get(s) == Some(v))
            .copied()
            .collect();
        for d in departed {
            for s in survivors.iter().copied().filter(|s| s.group == d.group) {
                self.obligations.push(Obligation {
                    departed: *d,
                    survivor: s,
                    cause_ns: t,
                    deadline_ns: t + self.bound_ns,
                    cause: cause.clone(),
                    fault,
                });
            }
        }
    }
}

const DISRUPTIVE: [&str; 5] = ["partition", "clog", "packet_loss", "latency_spike", "pause"];

impl Checker for NotifyWithin {
    fn name(&self) -> &'static str {
        "notify_within"
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some(o) = self.obligations.iter().find(|o| o.deadline_ns < t) {
            return Err(format!(
                "{} was not told within {:.0}ms that {} left ({} at {:.3}ms)",
                o.survivor,
                ms(self.bound_ns),
                o.departed,
                o.cause,
                ms(o.cause_ns)
            ));
        }
        if ev.is("ce", "install") {
            let v = ev.u64("view").unwrap_or(0);
            if self.latest.as_ref().map(|(l, _)| v > *l).unwrap_or(true) {
                self.latest = Some((v, parse_members(ev.str("members").unwrap_or(""))));
            }
        } else if ev.is("job", "view") {
            let s = member(ev, "member")?;
            self.job_view.insert(s, ev.u64("view").unwrap_or(0));
            let left = parse_left(ev.str("left").unwrap_or(""))?;
            let mut delays = Vec::new();
            self.obligations.retain(|o| {
                let done = o.survivor == s && left.iter().any(|(d, _)| *d == o.departed);
                if done {
                    delays.push((o.cause.clone(), t - o.cause_ns));
                }
                !done
            });
            self.delays.extend(delays);
        } else if ev.is("job", "quorum_lost") || ev.is("job", "unregister") {
            let m = member(ev, "member")?;
            self.job_view.remove(&m);
            self.obligations.retain(|o| o.survivor != m);
            if ev.is("job", "unregister") && self.quiet(t) {
                self.oblige(t, &[m], format!("{m} unregistered"), None);
            }
        } else if ev.is("node", "crash") {
            let node = ev.node.0 as usize;
            self.job_view.retain(|m, _| m.node != node);
            self.obligations.retain(|o| o.survivor.node != node);
            let quiet = self.quiet(t);
            self.disrupt(t + self.bound_ns);
            if quiet {
                let departed: Vec<Member> = self
                    .latest
                    .as_ref()
                    .map(|(_, m)| m.iter().filter(|m| m.node == node).copied().collect())
                    .unwrap_or_default();
                self.oblige(t, &departed, format!("n{node} crashed"), None);
            }
        } else if ev.is("fault", "start") {
            let kind = ev.str("kind").unwrap_or("");
            let id = ev.u64("fault").unwrap_or(u64::MAX);
            if DISRUPTIVE.contains(&kind) {
                let quiet = self.quiet(t);
                self.disrupt(t);
                self.active.insert(id);
                if kind == "partition" && quiet && ev.bool("one_way") == Some(false) {
                    let side: BTreeSet<usize> = partition_side(ev)
                        .into_iter()
                        .filter(|x| *x < self.n)
                        .collect();
                    let minority: BTreeSet<usize> = if 2 * side.len() < self.n {
                        side
                    } else if 2 * (self.n - side.len()) < self.n {
                        (0..self.n).filter(|x| !side.contains(x)).collect()
                    } else {
                        BTreeSet::new()
                    };
                    let departed: Vec<Member> = self
                        .latest
                        .as_ref()
                        .map(|(_, m)| {
                            m.iter()
                                .filter(|m| minority.contains(&m.node))
                                .copied()
                                .collect()
                        })
                        .unwrap_or_default();
                    self.oblige(
                        t,
                        &departed,
                        format!("partition {}", fmt_side(&partition_side(ev))),
                        Some(id),
                    );
                }
            }
        } else if ev.is("fault", "end") {
            let id = ev.u64("fault").unwrap_or(u64::MAX);
            if self.active.remove(&id) {
                // A window that closes before its departures were announced voids them;
                // stale suspicions linger a failure timeout after any window.
                self.obligations.retain(|o| o.fault != Some(id));
                self.quiet_after_ns = self.quiet_after_ns.max(t + self.timeout_ns);
            }
        } else if ev.is("fault", "heal_all") {
            self.active.clear();
            self.obligations.clear();
            self.quiet_after_ns = self.quiet_after_ns.max(t + self.timeout_ns);
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        match self.obligations.iter().find(|o| o.deadline_ns < end.t_ns) {
            Some(o) => Err(format!(
                "{} was never told that {} left ({} at {:.3}ms)",
                o.survivor,
                o.departed,
                o.cause,
                ms(o.cause_ns)
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
    open_pauses: BTreeMap<u64, (u64, u64)>,
    pauses: Vec<(u64, u64, u64)>,
}

impl MainThreadResponsive {
    /// Closes at `t` the open pauses `ends(fault id, node)` picks.
    fn end_pauses(&mut self, t: u64, ends: impl Fn(u64, u64) -> bool) {
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("fault", "start") && ev.str("kind") == Some("pause") {
            let id = ev.u64("fault").unwrap_or(0);
            self.open_pauses
                .insert(id, (ev.u64("target").unwrap_or(0), ev.t_ns));
        } else if ev.is("fault", "end") {
            let id = ev.u64("fault");
            self.end_pauses(ev.t_ns, |fault, _| Some(fault) == id);
        } else if ev.is("fault", "heal_all") {
            self.end_pauses(ev.t_ns, |_, _| true);
        } else if ev.is("node", "crash") {
            // A crash ends the node's pauses without a fault end: the node restarts running.
            self.end_pauses(ev.t_ns, |_, node| node == ev.node.0);
        } else if ev.is("ce", "job_unresponsive") {
            let since = ev.u64("since_ns").unwrap_or(0);
            let paused = self.open_pauses.values().any(|(n, _)| *n == ev.node.0)
                || self
                    .pauses
                    .iter()
                    .any(|(n, s, e)| *n == ev.node.0 && *s <= ev.t_ns && *e >= since);
            if !paused {
                return Err(format!(
                    "the main thread of job {} on n{} has not answered a CE probe for {:.0}ms",
                    ev.str("member").unwrap_or("?"),
                    ev.node.0,
                    ms(ev.t_ns - since)
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ ack_round_progress

/// An open round: who coordinates it, for which group, when it is due, and since when its
/// bound has been stopped (while nothing the protocol does could bring it to an end).
struct OpenRound {
    node: u64,
    group: u32,
    deadline_ns: u64,
    stopped_since_ns: Option<u64>,
}

/// Always: every ACK round started (or restarted, or adopted) completes or is abandoned
/// by its coordinator within the round bound. The bound stops while no latency bound can
/// hold: under a packet-loss window (half the messages vanish), while the coordinator is
/// paused (a frozen node can neither finish a round nor give it up), and while a clog cuts
/// the coordinator from a member of its view (a clogged pair stays in the view, since the
/// others still hear both, and the link keeps the ACK until the clog heals). Eventually:
/// after the faults heal, rounds complete again.
pub struct AckRoundProgress {
    bound_ns: u64,
    require_after_heal: bool,
    settle_ns: u64,
    /// Open rounds by (round, phase).
    open: BTreeMap<(u64, String), OpenRound>,
    /// Open packet-loss windows by fault id.
    loss: BTreeSet<u64>,
    /// Open pauses by fault id, with their node (pauses of one node may overlap).
    pauses: BTreeMap<u64, u64>,
    /// Open clogs by fault id, with the two nodes they cut apart.
    clogs: BTreeMap<u64, (u64, u64)>,
    /// Per (node, group): the nodes of the members in that node's job's latest view.
    views: BTreeMap<(u64, u32), BTreeSet<u64>>,
    liveness_start_ns: Option<u64>,
    done_after_heal: u64,
    n: usize,
}

impl AckRoundProgress {
    /// `n` is the engine's configured nodes (0: the world's node count).
    pub fn new(n: usize, cfg: &CeConfig, require_after_heal: bool) -> Self {
        AckRoundProgress {
            // A phase under a 400 ms latency spike takes four one-way trips (submit, order,
            // stability, ACK) and a view change two proposal timeouts: allow that twice.
            bound_ns: (6 * cfg.failure_timeout_ms + 4_000) * 1_000_000,
            require_after_heal,
            settle_ns: (4 * cfg.failure_timeout_ms + 2_000) * 1_000_000,
            open: BTreeMap::new(),
            loss: BTreeSet::new(),
            pauses: BTreeMap::new(),
            clogs: BTreeMap::new(),
            views: BTreeMap::new(),
            liveness_start_ns: None,
            done_after_heal: 0,
            n,
        }
    }

    /// Whether a round of `group` coordinated by `node` is held up by a fault right now.
    fn stopped(&self, node: u64, group: u32) -> bool {
        if !self.loss.is_empty() || self.pauses.values().any(|n| *n == node) {
            return true;
        }
        let Some(members) = self.views.get(&(node, group)) else {
            return false;
        };
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
                (true, None) => r.stopped_since_ns = Some(t),
                (false, Some(since)) => {
                    r.deadline_ns += t - since;
                    r.stopped_since_ns = None;
                }
                _ => {}
            }
        }
    }

    fn overdue(round: &(u64, String), r: &OpenRound) -> String {
        let (id, phase) = round;
        format!(
            "{phase} round {id:#x} coordinated by n{} neither completed nor was abandoned by {:.3}ms",
            r.node,
            ms(r.deadline_ns)
        )
    }

    /// The bound check at this event's time, then what the event says about rounds, views
    /// and crashes.
    fn check_and_observe(&mut self, ev: &TraceEvent) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some((round, r)) = self
            .open
            .iter()
            .find(|(_, r)| r.deadline_ns < t && r.stopped_since_ns.is_none())
        {
            return Err(Self::overdue(round, r));
        }
        if ev.is("world", "start") {
            if self.n == 0 {
                self.n = ev.u64("nodes").unwrap_or(0) as usize;
            }
        } else if ev.is("world", "phase") && ev.str("phase") == Some("liveness") {
            self.liveness_start_ns = Some(t);
        }
        if ev.component() == "ack" {
            let round = ev.u64("round").unwrap_or(0);
            let key = (round, ev.str("phase").unwrap_or("").to_string());
            match ev.name() {
                "round_start" | "round_restart" | "round_adopt" => {
                    // A round id carries its group in bits 24..32 (see `ack_round`).
                    let group = ((round >> 24) & 0xff) as u32;
                    let stopped_since_ns = self.stopped(ev.node.0, group).then_some(t);
                    let r = OpenRound {
                        node: ev.node.0,
                        group,
                        deadline_ns: t + self.bound_ns,
                        stopped_since_ns,
                    };
                    self.open.insert(key, r);
                }
                "round_done" | "round_abandon" => {
                    self.open.remove(&key);
                }
                "txn_done"
                    if self
                        .liveness_start_ns
                        .map(|l| t >= l + self.settle_ns)
                        .unwrap_or(false) =>
                {
                    self.done_after_heal += 1;
                }
                _ => {}
            }
        } else if ev.is("job", "view") {
            if let Some(me) = ev.str("member").and_then(Member::parse) {
                let nodes = parse_members(ev.str("members").unwrap_or(""))
                    .into_iter()
                    .map(|m| m.node as u64)
                    .collect();
                self.views.insert((ev.node.0, me.group), nodes);
                self.restamp(t);
            }
        } else if ev.is("node", "crash") {
            // A crash ends the node's rounds, its view and its pauses too (the world emits
            // no end for them): the node restarts running.
            self.open.retain(|_, r| r.node != ev.node.0);
            self.pauses.retain(|_, n| *n != ev.node.0);
            self.views.retain(|(n, _), _| *n != ev.node.0);
            self.restamp(t);
        }
        Ok(())
    }
}

impl Checker for AckRoundProgress {
    fn name(&self) -> &'static str {
        "ack_round_progress"
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        let t = ev.t_ns;
        if ev.is("fault", "start") {
            let id = ev.u64("fault").unwrap_or(0);
            match ev.str("kind") {
                Some("packet_loss") => {
                    self.loss.insert(id);
                }
                Some("pause") => {
                    self.pauses.insert(id, ev.u64("target").unwrap_or(u64::MAX));
                }
                Some("clog") => {
                    let a = ev.u64("a").unwrap_or(u64::MAX);
                    let b = ev.u64("b").unwrap_or(u64::MAX);
                    self.clogs.insert(id, (a, b));
                }
                // Other faults hold no round up; restamping then changes nothing.
                _ => {}
            }
            self.restamp(t);
        } else if ev.is("fault", "end") {
            let id = ev.u64("fault").unwrap_or(u64::MAX);
            self.loss.remove(&id);
            self.pauses.remove(&id);
            self.clogs.remove(&id);
            self.restamp(t);
        } else if ev.is("fault", "heal_all") {
            self.loss.clear();
            self.pauses.clear();
            self.clogs.clear();
            self.restamp(t);
        }
        self.check_and_observe(ev)
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        // A round still held up at the end has had its bound stopped since then.
        if let Some((round, r)) = self.open.iter().find(|(_, r)| {
            let held = r
                .stopped_since_ns
                .map_or(0, |since| end.t_ns.saturating_sub(since));
            r.deadline_ns + held < end.t_ns
        }) {
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
type ViewShape = (BTreeSet<(usize, u64)>, BTreeSet<Member>);

/// Eventually: once the faults heal, all live nodes form one view that holds every live
/// job, and every live job has been given that view, before the run ends.
#[derive(Default)]
pub struct Liveness {
    view_of: BTreeMap<u64, u64>,
    views: BTreeMap<u64, ViewShape>,
    job: BTreeMap<u64, Member>,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        self.incs.observe(ev);
        if ev.is("world", "start") {
            if self.n == 0 {
                self.n = ev.u64("nodes").unwrap_or(0) as usize;
            }
        } else if ev.is("ce", "install") {
            let v = ev.u64("view").unwrap_or(0);
            self.view_of.insert(ev.node.0, v);
            self.views.entry(v).or_insert_with(|| {
                (
                    parse_nodes(ev.str("nodes").unwrap_or("")),
                    parse_members(ev.str("members").unwrap_or("")),
                )
            });
        } else if ev.is("ce", "quorum_lost") {
            self.view_of.remove(&ev.node.0);
        } else if ev.is("node", "crash") {
            self.view_of.remove(&ev.node.0);
            self.job.remove(&ev.node.0);
        } else if ev.is("job", "register") {
            self.job.insert(ev.node.0, member(ev, "member")?);
        } else if ev.is("job", "unregister") {
            self.job.remove(&ev.node.0);
        } else if ev.is("job", "view") {
            self.job_view
                .insert(member(ev, "member")?, ev.u64("view").unwrap_or(0));
        } else if ev.is("job", "quorum_lost") {
            self.job_view.remove(&member(ev, "member")?);
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        // Nodes outside the engine (clients) hold no views.
        let live: Vec<u64> = end
            .live_nodes
            .iter()
            .filter(|n| **n < self.n)
            .map(|n| *n as u64)
            .collect();
        if 2 * live.len() <= self.n {
            // No majority is left: no live node may still think it is in the group.
            return match live.iter().find(|n| self.view_of.contains_key(n)) {
                Some(n) => Err(format!(
                    "only {} of {} nodes are live, yet n{n} ended in view {}",
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
                None => return Err(format!("live node n{n} ended outside any view")),
            }
        }
        if ids.len() > 1 {
            return Err(format!("live nodes ended in different views {ids:?}"));
        }
        let Some(v) = ids.into_iter().next() else {
            return Ok(());
        };
        let (nodes, members) = &self.views[&v];
        let want_nodes: BTreeSet<(usize, u64)> = live
            .iter()
            .map(|n| (*n as usize, self.incs.current.get(n).copied().unwrap_or(0)))
            .collect();
        if *nodes != want_nodes {
            return Err(format!(
                "the final view {v} has nodes {nodes:?}, the live nodes are {want_nodes:?}"
            ));
        }
        let jobs: BTreeSet<Member> = live
            .iter()
            .filter_map(|n| self.job.get(n).copied())
            .collect();
        if *members != jobs {
            return Err(format!(
                "the final view {v} has members [{}], the live jobs are [{}]",
                super::fmt_members(members),
                super::fmt_members(&jobs)
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
    vec![
        Box::new(ViewAgreement::default()),
        Box::new(PrimaryComponent::new(n)),
        Box::new(VirtualSynchrony::default()),
        Box::new(AgreedOrder::default()),
        Box::new(FifoPerSender::default()),
        Box::new(NoDuplicates::default()),
        Box::new(NoGhosts::default()),
        Box::new(NotifiedOnce::default()),
        Box::new(NotifyWithin::new(n, cfg)),
        Box::new(MainThreadResponsive::default()),
        Box::new(AckRoundProgress::new(n, cfg, rounds)),
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
