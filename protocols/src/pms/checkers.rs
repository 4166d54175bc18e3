//! The guarantees of docs/ARCHITECTURE.md §C, one checker each, observing only the trace.
//!
//! Events they read: `pms.status` (every replica's record of a thread) and `pms.local` (a
//! host running a thread) from the nodes; `pms.serve`, `pms.poll` and `pms.down` from the
//! primary; `ui.request` and `ui.reply` from the UI clients; the service's
//! `svc.master_up` and `svc.master_down`; the engine's `ce.install` and `job.unregister`;
//! the world's `node.crash`, `node.restart`, `fault.start`, `fault.end` and
//! `fault.heal_all`.

use super::authz::{AuthDb, Credential, Permission};
use super::events::{PmsEvent, RequestId, StateName, ThreadRef, UiEvent, UiOutcome, Verdict};
use super::status::Host;
use crate::engine::job::JobEvent;
use crate::engine::membership::CeEvent;
use crate::service::checkers::{owed_before, JobDeaths, SingleMaster};
use crate::service::events::SvcEvent;
use sim::check::{Checker, RunEnd};
use sim::event::NodeId;
use sim::time::{SimDuration, SimTime};
use sim::trace::EventRef;
use sim::world::{FaultEvent, NodeEvent};
use sim::FaultKind;
use std::collections::{BTreeMap, BTreeSet};

/// Every private value the scenario's scripts write starts with this mark, so that a
/// checker can recognise private data wherever it turns up.
pub const PRIVATE_MARK: &str = "PRIVATE:";

/// How the freshness of polled status is judged; see [`StatusFresh`].
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    /// The poll interval plus the latency bound: the most a recorded status may lag.
    pub bound_ms: u64,
    /// How long after a fault window closes before freshness is owed again (stale
    /// suspicions and the view changes they cause settle).
    pub settle_ms: u64,
}

/// Every checker of the PMS, for a world whose first `engine_nodes` nodes run the engine.
/// `settle_ms`: how long before the run's end a thread's fate may still be on its way.
pub fn all(
    engine_nodes: usize,
    settle_ms: u64,
    auth: &AuthDb,
    fresh: Freshness,
) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(StatusMonotonic::default()),
        Box::new(EveryThreadAccounted::new(engine_nodes, settle_ms)),
        Box::new(StatusFresh::new(engine_nodes, fresh)),
        Box::new(Authz::new(auth.clone())),
        Box::new(PrivateIsolation),
        Box::new(single_master()),
    ]
}

/// `single_master` over the PMS's primary actions: answering a request, polling a host,
/// burying a dead one.
pub fn single_master() -> SingleMaster {
    SingleMaster::new(
        &[("pms", "serve"), ("pms", "poll"), ("pms", "down")],
        |ev| match ev.get::<PmsEvent>()? {
            PmsEvent::Serve { view, .. }
            | PmsEvent::Poll { view, .. }
            | PmsEvent::Down { view, .. } => Some(*view),
            _ => None,
        },
    )
}

// ------------------------------------------------------------------ status_monotonic

/// What one observer last saw of a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    state: StateName,
    attempt: u32,
    progress: u8,
}

/// Always: a thread's status, as each replica records it and as each UI client is shown
/// it, never goes backward: its rank (pending, running or paused, final) and its attempt
/// never decrease, its progress never drops, and a final state never changes.
#[derive(Default)]
pub struct StatusMonotonic {
    /// (observer node, thread) -> what it saw last.
    seen: BTreeMap<(NodeId, ThreadRef), Seen>,
}

impl StatusMonotonic {
    /// `who` names the observer, for a violation only (it is not built otherwise).
    fn observe(
        &mut self,
        who: impl FnOnce() -> String,
        key: (NodeId, ThreadRef),
        now: Seen,
    ) -> Result<(), String> {
        let Some(before) = self.seen.insert(key, now.clone()) else {
            return Ok(());
        };
        let (rb, rn) = (before.state.rank(), now.state.rank());
        let went = if rn < rb || (rb == 2 && now.state != before.state) {
            "its state"
        } else if now.attempt < before.attempt {
            "its attempt"
        } else if now.progress < before.progress {
            "its progress"
        } else {
            return Ok(());
        };
        Err(format!(
            "{} thread {}: {went} went from {}/{}/{}% to {}/{}/{}%",
            who(),
            key.1,
            before.state,
            before.attempt,
            before.progress,
            now.state,
            now.attempt,
            now.progress
        ))
    }
}

impl Checker for StatusMonotonic {
    fn name(&self) -> &'static str {
        "status_monotonic"
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if let Some(PmsEvent::Status {
            thread,
            attempt,
            state,
            ..
        }) = ev.get::<PmsEvent>()
        {
            let seen = Seen {
                state: *state,
                attempt: *attempt,
                progress: 0,
            };
            let who = || format!("{}'s replica records", ev.node);
            self.observe(who, (ev.node, *thread), seen)?;
        } else if let Some(UiEvent::Reply {
            op: "status",
            outcome: UiOutcome::Ok,
            process,
            threads,
            ..
        }) = ev.get::<UiEvent>()
        {
            let process = process.unwrap_or(0);
            for (i, t) in threads.iter().enumerate() {
                let seen = Seen {
                    state: t.state,
                    attempt: t.attempt,
                    progress: t.progress,
                };
                let who = || format!("client {} was shown", ev.node);
                let thread = ThreadRef {
                    process,
                    thread: i as u32,
                };
                self.observe(who, (ev.node, thread), seen)?;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ every_thread_accounted

struct Record {
    state: StateName,
    attempt: u32,
    host: Host,
    /// When the current attempt was first recorded: a thread placed again owes its start
    /// from then, not from its first placement.
    placed_ns: u64,
}

/// Eventually (if a majority of the engine is alive at the end): every thread of every
/// started process is in a final state, or is still legitimately running: placed on a
/// host whose job and node are alive, and no longer pending once it had time to start.
/// None is forgotten on a dead host, or never started.
pub struct EveryThreadAccounted {
    engine_nodes: usize,
    settle_ns: u64,
    /// The most advanced record of each thread, over every replica.
    threads: BTreeMap<ThreadRef, Record>,
    deaths: JobDeaths,
}

impl EveryThreadAccounted {
    pub fn new(engine_nodes: usize, settle_ms: u64) -> Self {
        EveryThreadAccounted {
            engine_nodes,
            settle_ns: settle_ms * 1_000_000,
            threads: BTreeMap::new(),
            deaths: JobDeaths::default(),
        }
    }
}

impl Checker for EveryThreadAccounted {
    fn name(&self) -> &'static str {
        "every_thread_accounted"
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        self.deaths.observe(ev);
        if let Some(PmsEvent::Status {
            thread,
            attempt,
            state,
            host,
            ..
        }) = ev.get::<PmsEvent>()
        {
            let (state, attempt, host) = (*state, *attempt, *host);
            let rec = self.threads.entry(*thread).or_insert(Record {
                state: StateName::Pending,
                attempt,
                host,
                placed_ns: ev.t_ns,
            });
            // Replicas apply at slightly different times: keep the most advanced record.
            // (A new record's state ranks as pending until this event sets it.)
            if (attempt, state.rank()) >= (rec.attempt, rec.state.rank()) {
                if attempt > rec.attempt {
                    rec.placed_ns = ev.t_ns;
                }
                (rec.state, rec.attempt, rec.host) = (state, attempt, host);
            }
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let Some(cutoff) = owed_before(self.engine_nodes, self.settle_ns, end) else {
            return Ok(());
        };
        for (thread, r) in &self.threads {
            if r.state.rank() == 2 {
                continue;
            }
            let h = r.host;
            if let Some(died) = self
                .deaths
                .died(h.node as u64, h.inc, h.job)
                .filter(|d| *d < cutoff)
            {
                return Err(format!(
                    "thread {thread} is still {} (attempt {}) on host {h}, which died at {}",
                    r.state,
                    r.attempt,
                    SimTime(died)
                ));
            }
            if r.state == StateName::Pending && r.placed_ns < cutoff {
                return Err(format!(
                    "thread {thread}, placed on live host {h} at {}, never started",
                    SimTime(r.placed_ns)
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ status_fresh

struct Obligation {
    thread: ThreadRef,
    attempt: u32,
    rank: u8,
    state: StateName,
    node: NodeId,
    since_ns: u64,
}

/// Always: when a thread's host sees it start, finish or fail at a quiet time (a primary
/// serving, no fault window open or recently closed, no view change under way), the
/// replicated status shows that state (or a later one) within `bound_ms`: the poll
/// interval plus the latency bound. A symmetric partition leaves the primary's side under
/// the promise once the view has changed; the side cut off from it is excused.
///
/// `delays` holds every discharged obligation, as (when the host saw the state, how long
/// the record took), for tests that measure it.
pub struct StatusFresh {
    engine_nodes: usize,
    bound_ns: u64,
    settle_ns: u64,
    master: Option<NodeId>,
    quiet_after_ns: u64,
    /// Open symmetric partitions: one side each.
    partitions: BTreeMap<u64, BTreeSet<NodeId>>,
    /// Open fault windows of any other kind.
    other: BTreeSet<u64>,
    /// The most advanced recorded (attempt, rank) of each thread.
    recorded: BTreeMap<ThreadRef, (u32, u8)>,
    obligations: Vec<Obligation>,
    pub delays: Vec<(u64, u64)>,
}

impl StatusFresh {
    pub fn new(engine_nodes: usize, f: Freshness) -> Self {
        StatusFresh {
            engine_nodes,
            bound_ns: f.bound_ms * 1_000_000,
            settle_ns: f.settle_ms * 1_000_000,
            master: None,
            quiet_after_ns: 0,
            partitions: BTreeMap::new(),
            other: BTreeSet::new(),
            recorded: BTreeMap::new(),
            obligations: Vec::new(),
            delays: Vec::new(),
        }
    }

    /// Nothing in flight is owed across a disruption, nor until `quiet_ns` after it.
    fn disrupt(&mut self, t: u64, quiet_ns: u64) {
        self.obligations.clear();
        self.quiet_after_ns = self.quiet_after_ns.max(t + quiet_ns);
    }

    /// Whether a host on `node` can be polled by the primary now.
    fn pollable(&self, t: u64, node: NodeId) -> bool {
        let Some(master) = self.master else {
            return false;
        };
        if t < self.quiet_after_ns || !self.other.is_empty() {
            return false;
        }
        let engine = |n: &NodeId| n.index() < self.engine_nodes;
        self.partitions.values().all(|side| {
            let master_side = side.contains(&master);
            let majority = if master_side {
                2 * side.iter().filter(|n| engine(n)).count() > self.engine_nodes
            } else {
                2 * (0..self.engine_nodes)
                    .filter(|n| !side.contains(&NodeId::from(*n)))
                    .count()
                    > self.engine_nodes
            };
            majority && side.contains(&node) == master_side
        })
    }

    fn satisfied(recorded: Option<&(u32, u8)>, attempt: u32, rank: u8) -> bool {
        recorded.is_some_and(|(a, r)| *a > attempt || (*a == attempt && *r >= rank))
    }

    /// The world's events and the service's: who is master, which fault windows are open,
    /// when the system is quiet again.
    fn on_disruption(&mut self, ev: &EventRef) {
        let (t, bound) = (ev.t_ns, self.bound_ns);
        if let Some(e) = ev.get::<SvcEvent>() {
            match e {
                SvcEvent::MasterUp { .. } => {
                    self.master = Some(ev.node);
                    self.disrupt(t, bound);
                }
                SvcEvent::MasterDown { .. } => {
                    if self.master == Some(ev.node) {
                        self.master = None;
                    }
                    self.disrupt(t, bound);
                }
                _ => {}
            }
        } else if ev.get::<NodeEvent>().is_some()
            || matches!(ev.get::<CeEvent>(), Some(CeEvent::Install { .. }))
            || matches!(ev.get::<JobEvent>(), Some(JobEvent::Unregister { .. }))
        {
            self.disrupt(t, bound);
        } else if let Some(f) = ev.get::<FaultEvent>() {
            match f {
                FaultEvent::Start {
                    fault,
                    kind,
                    side_a,
                    one_way,
                    ..
                } => {
                    if *kind == FaultKind::Partition && *one_way == Some(false) {
                        let side = side_a.iter().flatten().copied().collect();
                        self.partitions.insert(*fault, side);
                    } else if *kind != FaultKind::Crash {
                        // A crash is over when its node is down; windows last until they end.
                        self.other.insert(*fault);
                    }
                    self.disrupt(t, bound);
                }
                FaultEvent::End { fault, .. } => {
                    self.partitions.remove(fault);
                    self.other.remove(fault);
                    self.disrupt(t, self.settle_ns);
                }
                FaultEvent::HealAll => {
                    self.partitions.clear();
                    self.other.clear();
                    self.disrupt(t, self.settle_ns);
                }
                FaultEvent::Skip { .. } => {}
            }
        }
    }
}

impl Checker for StatusFresh {
    fn name(&self) -> &'static str {
        "status_fresh"
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some(o) = self
            .obligations
            .iter()
            .find(|o| o.since_ns + self.bound_ns < t)
        {
            return Err(format!(
                "thread {} (attempt {}) was {} on {} at {}, and the status recorded {} later still lags it (bound {})",
                o.thread,
                o.attempt,
                o.state,
                o.node,
                SimTime(o.since_ns),
                SimDuration(t - o.since_ns),
                SimDuration(self.bound_ns)
            ));
        }
        match ev.get::<PmsEvent>() {
            Some(PmsEvent::Status {
                thread,
                attempt,
                state,
                ..
            }) => {
                let now = (*attempt, state.rank());
                let r = self.recorded.entry(*thread).or_insert(now);
                *r = (*r).max(now);
                let r = *r;
                let mut delays = Vec::new();
                self.obligations.retain(|o| {
                    let done = o.thread == *thread && Self::satisfied(Some(&r), o.attempt, o.rank);
                    if done {
                        delays.push((o.since_ns, t - o.since_ns));
                    }
                    !done
                });
                self.delays.extend(delays);
            }
            Some(PmsEvent::Local {
                thread,
                attempt,
                state,
                ..
            }) => {
                let rank = state.rank();
                if rank == 0 || !self.pollable(t, ev.node) {
                    return Ok(());
                }
                if !Self::satisfied(self.recorded.get(thread), *attempt, rank) {
                    self.obligations.push(Obligation {
                        thread: *thread,
                        attempt: *attempt,
                        rank,
                        state: *state,
                        node: ev.node,
                        since_ns: t,
                    });
                }
            }
            Some(_) => {}
            None => self.on_disruption(ev),
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        match self
            .obligations
            .iter()
            .find(|o| o.since_ns + self.bound_ns < end.t_ns)
        {
            Some(o) => Err(format!(
                "thread {} (attempt {}) was {} on {} at {}, and the status never showed it",
                o.thread,
                o.attempt,
                o.state,
                o.node,
                SimTime(o.since_ns)
            )),
            None => Ok(()),
        }
    }
}

// ------------------------------------------------------------------ authz

/// The permission a request needs, by its trace name.
fn permission(op: &str) -> Permission {
    match op {
        "status" | "list" => Permission::Read,
        _ => Permission::Control,
    }
}

/// Always: a request the user table does not authorize (no credential, an unknown user, a
/// wrong secret, or a role below what the request needs) is refused by the primary and
/// answered with an error and no data; one it authorizes is not refused.
pub struct Authz {
    db: AuthDb,
    /// Request -> (operation, the table's verdict).
    expected: BTreeMap<RequestId, (&'static str, Result<(), String>)>,
}

impl Authz {
    pub fn new(db: AuthDb) -> Self {
        Authz {
            db,
            expected: BTreeMap::new(),
        }
    }

    fn expected(&self, req: RequestId) -> Result<&(&'static str, Result<(), String>), String> {
        self.expected
            .get(&req)
            .ok_or_else(|| format!("request {req} was answered but never made"))
    }
}

impl Checker for Authz {
    fn name(&self) -> &'static str {
        "authz"
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if let Some(PmsEvent::Serve { req, verdict, .. }) = ev.get::<PmsEvent>() {
            let (op, expected) = self.expected(*req)?;
            match (verdict, expected) {
                (Verdict::Allowed, Err(why)) => {
                    return Err(format!(
                        "{} granted {op} request {req}, which the user table refuses ({why})",
                        ev.node
                    ))
                }
                (Verdict::Denied, Ok(())) => {
                    return Err(format!(
                        "{} refused {op} request {req}, which the user table allows",
                        ev.node
                    ))
                }
                _ => {}
            }
            return Ok(());
        }
        match ev.get::<UiEvent>() {
            Some(UiEvent::Request {
                req,
                op,
                user,
                secret,
                ..
            }) => {
                let cred = (!user.is_empty() || !secret.is_empty()).then(|| Credential {
                    user: user.clone(),
                    secret: secret.clone(),
                });
                let verdict = self
                    .db
                    .authorize(cred.as_ref(), permission(op))
                    .map(|_| ())
                    .map_err(|d| d.to_string());
                self.expected.insert(*req, (op, verdict));
            }
            Some(UiEvent::Reply {
                req, outcome, data, ..
            }) => {
                let (op, verdict) = self.expected(*req)?;
                let denied = *outcome == UiOutcome::Denied;
                match verdict {
                    Err(why) if !denied || *data => {
                        return Err(format!(
                            "request {req} got '{outcome}'{} for {op}, which the user table refuses ({why})",
                            if *data { " with data" } else { "" }
                        ))
                    }
                    Ok(()) if denied => {
                        return Err(format!(
                            "request {req} was denied {op}, which the user table allows"
                        ))
                    }
                    _ => {}
                }
            }
            None => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ private_isolation

/// Always: private data (a value marked [`PRIVATE_MARK`]) never reaches a UI client: no
/// event of a client carries it.
pub struct PrivateIsolation;

impl Checker for PrivateIsolation {
    fn name(&self) -> &'static str {
        "private_isolation"
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if ev.get::<UiEvent>().is_none() {
            return Ok(());
        }
        let mut leak = None;
        ev.visit_fields(&mut |key, v| {
            if let (None, Some(s)) = (&leak, v.as_str()) {
                if let Some(at) = s.find(PRIVATE_MARK) {
                    leak = Some((key, s[at..].chars().take(40).collect::<String>()));
                }
            }
        });
        match leak {
            Some((key, snippet)) => Err(format!(
                "client {} received private data in ui.{} {key}: '{snippet}'",
                ev.node,
                ev.name()
            )),
            None => Ok(()),
        }
    }
}
