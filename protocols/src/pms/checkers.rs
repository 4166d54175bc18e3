//! The guarantees of DESIGN.md §C, one checker each, observing only the trace.
//!
//! Events they read: `pms.status` (every replica's record of a thread) and `pms.local` (a
//! host running a thread) from the nodes; `pms.serve`, `pms.poll` and `pms.down` from the
//! primary; `ui.request` and `ui.reply` from the UI clients; the service's
//! `svc.master_up` and `svc.master_down`; the engine's `ce.install` and `job.unregister`;
//! the world's `node.crash`, `node.restart`, `fault.start`, `fault.end` and
//! `fault.heal_all`.

use super::authz::{AuthDb, Credential, Permission};
use super::status::ThreadState;
use crate::service::checkers::{owed_before, JobDeaths, SingleMaster};
use sim::check::{Checker, RunEnd};
use sim::trace::TraceEvent;
use sim::world::FaultEvent;
use std::collections::{BTreeMap, BTreeSet};

/// Every private value the scenario's scripts write starts with this mark, so that a
/// checker can recognise private data wherever it turns up.
pub const PRIVATE_MARK: &str = "PRIVATE:";

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// (process, thread).
type ThreadId = (u64, u64);

fn thread_id(ev: &TraceEvent) -> ThreadId {
    (
        ev.u64("process").unwrap_or(0),
        ev.u64("thread").unwrap_or(0),
    )
}

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
    SingleMaster::new(&[("pms", "serve"), ("pms", "poll"), ("pms", "down")])
}

// ------------------------------------------------------------------ status_monotonic

/// What one observer last saw of a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    state: String,
    attempt: u64,
    progress: u64,
}

/// Always: a thread's status, as each replica records it and as each UI client is shown
/// it, never goes backward: its rank (pending, running or paused, final) and its attempt
/// never decrease, its progress never drops, and a final state never changes.
#[derive(Default)]
pub struct StatusMonotonic {
    /// (observer node, process, thread) -> what it saw last.
    seen: BTreeMap<(u64, u64, u64), Seen>,
}

impl StatusMonotonic {
    fn observe(&mut self, who: String, key: (u64, u64, u64), now: Seen) -> Result<(), String> {
        let Some(before) = self.seen.insert(key, now.clone()) else {
            return Ok(());
        };
        let (rb, rn) = (
            ThreadState::rank_of(&before.state),
            ThreadState::rank_of(&now.state),
        );
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
            "{who} thread {}/{}: {went} went from {}/{}/{}% to {}/{}/{}%",
            key.1,
            key.2,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("pms", "status") {
            let (p, t) = thread_id(ev);
            let seen = Seen {
                state: ev.str("state").unwrap_or("").to_string(),
                attempt: ev.u64("attempt").unwrap_or(0),
                progress: 0,
            };
            let who = format!("n{}'s replica records", ev.node.0);
            self.observe(who, (ev.node.0, p, t), seen)?;
        } else if ev.is("ui", "reply")
            && ev.str("op") == Some("status")
            && ev.str("outcome") == Some("ok")
        {
            let p = ev.u64("process").unwrap_or(0);
            for (i, t) in ev.str("threads").unwrap_or("").split(',').enumerate() {
                let mut parts = t.split('/');
                let (Some(state), Some(a), Some(pr)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let seen = Seen {
                    state: state.to_string(),
                    attempt: a.parse().unwrap_or(0),
                    progress: pr.parse().unwrap_or(0),
                };
                let who = format!("client n{} was shown", ev.node.0);
                self.observe(who, (ev.node.0, p, i as u64), seen)?;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ every_thread_accounted

struct Record {
    state: String,
    attempt: u64,
    host: String,
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
    threads: BTreeMap<ThreadId, Record>,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        self.deaths.observe(ev);
        if ev.is("pms", "status") {
            let state = ev.str("state").unwrap_or("").to_string();
            let attempt = ev.u64("attempt").unwrap_or(0);
            let host = ev.str("host").unwrap_or("").to_string();
            let rec = self.threads.entry(thread_id(ev)).or_insert(Record {
                state: String::new(),
                attempt,
                host: host.clone(),
                placed_ns: ev.t_ns,
            });
            // Replicas apply at slightly different times: keep the most advanced record.
            let newer = (attempt, ThreadState::rank_of(&state))
                >= (rec.attempt, ThreadState::rank_of(&rec.state));
            if newer {
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
        for ((p, t), r) in &self.threads {
            if ThreadState::rank_of(&r.state) == 2 {
                continue;
            }
            if let Some(died) = self.deaths.died(&r.host).filter(|d| *d < cutoff) {
                return Err(format!(
                    "thread {p}/{t} is still {} (attempt {}) on host {}, which died at {:.3}ms",
                    r.state,
                    r.attempt,
                    r.host,
                    ms(died)
                ));
            }
            if r.state == "pending" && r.placed_ns < cutoff {
                return Err(format!(
                    "thread {p}/{t}, placed on live host {} at {:.3}ms, never started",
                    r.host,
                    ms(r.placed_ns)
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ status_fresh

struct Obligation {
    thread: ThreadId,
    attempt: u64,
    rank: u8,
    state: String,
    node: u64,
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
    master: Option<u64>,
    quiet_after_ns: u64,
    /// Open symmetric partitions: one side each.
    partitions: BTreeMap<u64, BTreeSet<u64>>,
    /// Open fault windows of any other kind.
    other: BTreeSet<u64>,
    /// The most advanced recorded (attempt, rank) of each thread.
    recorded: BTreeMap<ThreadId, (u64, u8)>,
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
    fn pollable(&self, t: u64, node: u64) -> bool {
        let Some(master) = self.master else {
            return false;
        };
        if t < self.quiet_after_ns || !self.other.is_empty() {
            return false;
        }
        self.partitions.values().all(|side| {
            let master_side = side.contains(&master);
            let majority = if master_side {
                2 * side
                    .iter()
                    .filter(|n| **n < self.engine_nodes as u64)
                    .count()
                    > self.engine_nodes
            } else {
                2 * (0..self.engine_nodes as u64)
                    .filter(|n| !side.contains(n))
                    .count()
                    > self.engine_nodes
            };
            majority && side.contains(&node) == master_side
        })
    }

    fn satisfied(recorded: Option<&(u64, u8)>, attempt: u64, rank: u8) -> bool {
        recorded.is_some_and(|(a, r)| *a > attempt || (*a == attempt && *r >= rank))
    }
}

impl Checker for StatusFresh {
    fn name(&self) -> &'static str {
        "status_fresh"
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        let t = ev.t_ns;
        if let Some(o) = self
            .obligations
            .iter()
            .find(|o| o.since_ns + self.bound_ns < t)
        {
            return Err(format!(
                "thread {}/{} (attempt {}) was {} on n{} at {:.3}ms, and the status recorded {:.0}ms later still lags it (bound {:.0}ms)",
                o.thread.0,
                o.thread.1,
                o.attempt,
                o.state,
                o.node,
                ms(o.since_ns),
                ms(t - o.since_ns),
                ms(self.bound_ns)
            ));
        }
        let bound = self.bound_ns;
        if ev.is("svc", "master_up") {
            self.master = Some(ev.node.0);
            self.disrupt(t, bound);
        } else if ev.is("svc", "master_down") {
            if self.master == Some(ev.node.0) {
                self.master = None;
            }
            self.disrupt(t, bound);
        } else if ev.is("ce", "install")
            || ev.is("job", "unregister")
            || ev.is("node", "crash")
            || ev.is("node", "restart")
        {
            self.disrupt(t, bound);
        } else if ev.is("fault", "start") {
            let id = ev.u64("fault").unwrap_or(u64::MAX);
            if ev.str("kind") == Some("partition") && ev.bool("one_way") == Some(false) {
                let side = match ev.get::<FaultEvent>() {
                    Some(FaultEvent::Start {
                        side_a: Some(side), ..
                    }) => side.iter().map(|n| n.0).collect(),
                    _ => Default::default(),
                };
                self.partitions.insert(id, side);
            } else if ev.str("kind") != Some("crash") {
                // A crash is over when its node is down; windows last until they end.
                self.other.insert(id);
            }
            self.disrupt(t, bound);
        } else if ev.is("fault", "end") {
            let id = ev.u64("fault").unwrap_or(u64::MAX);
            self.partitions.remove(&id);
            self.other.remove(&id);
            self.disrupt(t, self.settle_ns);
        } else if ev.is("fault", "heal_all") {
            self.partitions.clear();
            self.other.clear();
            self.disrupt(t, self.settle_ns);
        } else if ev.is("pms", "status") {
            let id = thread_id(ev);
            let now = (
                ev.u64("attempt").unwrap_or(0),
                ThreadState::rank_of(ev.str("state").unwrap_or("")),
            );
            let r = self.recorded.entry(id).or_insert(now);
            *r = (*r).max(now);
            let r = *r;
            let mut delays = Vec::new();
            self.obligations.retain(|o| {
                let done = o.thread == id && Self::satisfied(Some(&r), o.attempt, o.rank);
                if done {
                    delays.push((o.since_ns, t - o.since_ns));
                }
                !done
            });
            self.delays.extend(delays);
        } else if ev.is("pms", "local") {
            let state = ev.str("state").unwrap_or("");
            let rank = ThreadState::rank_of(state);
            if rank == 0 || !self.pollable(t, ev.node.0) {
                return Ok(());
            }
            let id = thread_id(ev);
            let attempt = ev.u64("attempt").unwrap_or(0);
            if !Self::satisfied(self.recorded.get(&id), attempt, rank) {
                self.obligations.push(Obligation {
                    thread: id,
                    attempt,
                    rank,
                    state: state.to_string(),
                    node: ev.node.0,
                    since_ns: t,
                });
            }
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
                "thread {}/{} (attempt {}) was {} on n{} at {:.3}ms, and the status never showed it",
                o.thread.0,
                o.thread.1,
                o.attempt,
                o.state,
                o.node,
                ms(o.since_ns)
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
    /// (client node, request) -> (operation, the table's verdict).
    expected: BTreeMap<(u64, u64), (String, Result<(), String>)>,
}

impl Authz {
    pub fn new(db: AuthDb) -> Self {
        Authz {
            db,
            expected: BTreeMap::new(),
        }
    }

    fn expected(&self, client: u64, req: u64) -> Result<&(String, Result<(), String>), String> {
        self.expected
            .get(&(client, req))
            .ok_or_else(|| format!("request {req} of client n{client} was answered but never made"))
    }
}

impl Checker for Authz {
    fn name(&self) -> &'static str {
        "authz"
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("ui", "request") {
            let (user, secret) = (ev.str("user").unwrap_or(""), ev.str("secret").unwrap_or(""));
            let cred = (!user.is_empty() || !secret.is_empty()).then(|| Credential {
                user: user.to_string(),
                secret: secret.to_string(),
            });
            let op = ev.str("op").unwrap_or("").to_string();
            let verdict = self
                .db
                .authorize(cred.as_ref(), permission(&op))
                .map(|_| ())
                .map_err(|d| d.to_string());
            self.expected
                .insert((ev.node.0, ev.u64("req").unwrap_or(0)), (op, verdict));
        } else if ev.is("pms", "serve") {
            let (client, req) = (ev.u64("client").unwrap_or(0), ev.u64("req").unwrap_or(0));
            let (op, verdict) = self.expected(client, req)?;
            match (ev.str("verdict"), verdict) {
                (Some("allowed"), Err(why)) => {
                    return Err(format!(
                        "n{} granted {op} request {req} of client n{client}, which the user table refuses ({why})",
                        ev.node.0
                    ))
                }
                (Some("denied"), Ok(())) => {
                    return Err(format!(
                        "n{} refused {op} request {req} of client n{client}, which the user table allows",
                        ev.node.0
                    ))
                }
                _ => {}
            }
        } else if ev.is("ui", "reply") {
            let req = ev.u64("req").unwrap_or(0);
            let (op, verdict) = self.expected(ev.node.0, req)?;
            let outcome = ev.str("outcome").unwrap_or("");
            let data = ev.bool("data") == Some(true);
            match verdict {
                Err(why) if outcome != "denied" || data => {
                    return Err(format!(
                        "client n{} got '{outcome}'{} for {op} request {req}, which the user table refuses ({why})",
                        ev.node.0,
                        if data { " with data" } else { "" }
                    ))
                }
                Ok(()) if outcome == "denied" => {
                    return Err(format!(
                        "client n{} was denied {op} request {req}, which the user table allows",
                        ev.node.0
                    ))
                }
                _ => {}
            }
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.component() != "ui" {
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
                "client n{} received private data in ui.{} {key}: '{snippet}'",
                ev.node.0,
                ev.name()
            )),
            None => Ok(()),
        }
    }
}
