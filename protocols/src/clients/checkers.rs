//! The guarantees of DESIGN.md §B, one checker each, observing only the trace.
//!
//! Events they read: `task.raise`, `task.ask`, `task.answer` from the tasks; `cm.store`
//! and `cm.evict` from every replica; `cm.push`, `cm.ack`, `cm.resume`, `cm.serve`,
//! `cm.timeout` from the master; `client.deliver`, `client.reply`, `client.list`,
//! `client.top`, `client.remove` from the clients; the engine's `job.unregister` and the
//! world's `node.crash` and `node.restart`.

pub use crate::service::checkers::SingleMaster;
use crate::service::checkers::{owed_before, JobDeaths};
use sim::check::{Checker, RunEnd};
use sim::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

/// (client, context, seq): one message slot.
type Slot = (u64, u64, u64);

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn slot(ev: &TraceEvent) -> Slot {
    (
        ev.u64("client").unwrap_or(0),
        ev.u64("context").unwrap_or(0),
        ev.u64("seq").unwrap_or(0),
    )
}

fn fmt_slot((c, x, s): Slot) -> String {
    format!("client {c} context {x} seq {s}")
}

/// `single_master` over the client service's master actions: serving a request, pushing
/// a message, timing a dialogue out.
pub fn single_master() -> SingleMaster {
    SingleMaster::new(&[("cm", "serve"), ("cm", "push"), ("cm", "timeout")])
}

/// Every checker of the client system, for a world whose first `engine_nodes` nodes run
/// the engine. `settle_ms`: how long before the run's end a message or question may still
/// be on its way (a failover, a dialogue timeout).
pub fn all(engine_nodes: usize, settle_ms: u64) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(ExactlyOnceToClient::new(engine_nodes, settle_ms)),
        Box::new(ReplicasAgree::default()),
        Box::new(NoCrossTalk::default()),
        Box::new(StackOrder::default()),
        Box::new(single_master()),
        Box::new(DialogueAnswered::new(engine_nodes, settle_ms)),
    ]
}

// ------------------------------------------------------------------ exactly_once_to_client

/// Always: a client receives each stored message at most once, as the event stored in that
/// slot, and no master sends a message again once the client told it that it received it.
/// Eventually (if a majority of the engine is alive at the end): every message stored
/// `settle_ms` before the end or earlier reached its client.
pub struct ExactlyOnceToClient {
    engine_nodes: usize,
    settle_ns: u64,
    stored: BTreeMap<Slot, (u64, u64)>,
    delivered: BTreeSet<Slot>,
    /// (node, client, context) -> what the client told that node it received.
    known_ack: BTreeMap<(u64, u64, u64), u64>,
}

impl ExactlyOnceToClient {
    pub fn new(engine_nodes: usize, settle_ms: u64) -> Self {
        ExactlyOnceToClient {
            engine_nodes,
            settle_ns: settle_ms * 1_000_000,
            stored: BTreeMap::new(),
            delivered: BTreeSet::new(),
            known_ack: BTreeMap::new(),
        }
    }
}

impl Checker for ExactlyOnceToClient {
    fn name(&self) -> &'static str {
        "exactly_once_to_client"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("cm", "store" | "ack" | "resume" | "push") | ("client", "deliver")
        )
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("cm", "store") {
            self.stored
                .entry(slot(ev))
                .or_insert((ev.u64("event").unwrap_or(0), ev.t_ns));
        } else if ev.is("cm", "ack") || ev.is("cm", "resume") {
            let key = (
                ev.node.0,
                ev.u64("client").unwrap_or(0),
                ev.u64("context").unwrap_or(0),
            );
            let upto = ev.u64("upto").or(ev.u64("after")).unwrap_or(0);
            let e = self.known_ack.entry(key).or_insert(0);
            *e = (*e).max(upto);
        } else if ev.is("cm", "push") {
            let (c, x, s) = slot(ev);
            let acked = self.known_ack.get(&(ev.node.0, c, x)).copied().unwrap_or(0);
            if s <= acked {
                return Err(format!(
                    "n{} sent {} again after the client told it it received everything up to {acked}",
                    ev.node.0,
                    fmt_slot((c, x, s))
                ));
            }
        } else if ev.is("client", "deliver") {
            let sl = slot(ev);
            let event = ev.u64("event").unwrap_or(0);
            if !self.delivered.insert(sl) {
                return Err(format!("{} reached its client twice", fmt_slot(sl)));
            }
            match self.stored.get(&sl) {
                None => {
                    return Err(format!(
                        "{} reached its client but was never stored",
                        fmt_slot(sl)
                    ))
                }
                Some((e, _)) if *e != event => {
                    return Err(format!(
                        "the client received event {event:#x} as {}, which holds event {e:#x}",
                        fmt_slot(sl)
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let Some(cutoff) = owed_before(self.engine_nodes, self.settle_ns, end) else {
            return Ok(());
        };
        match self
            .stored
            .iter()
            .find(|(sl, (_, t))| *t < cutoff && !self.delivered.contains(sl))
        {
            Some((sl, (e, t))) => Err(format!(
                "{} (event {e:#x}, stored at {:.3}ms) never reached its client",
                fmt_slot(*sl),
                ms(*t)
            )),
            None => Ok(()),
        }
    }
}

// ------------------------------------------------------------------ replicas_agree

/// Always: every replica stores an event in the same slot, and a slot holds one event.
#[derive(Default)]
pub struct ReplicasAgree {
    by_event: BTreeMap<u64, (Slot, u64)>,
    by_slot: BTreeMap<Slot, (u64, u64)>,
}

impl Checker for ReplicasAgree {
    fn name(&self) -> &'static str {
        "replicas_agree"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("cm", "store")
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if !ev.is("cm", "store") {
            return Ok(());
        }
        let sl = slot(ev);
        let event = ev.u64("event").unwrap_or(0);
        let (first, by) = *self.by_event.entry(event).or_insert((sl, ev.node.0));
        if first != sl {
            return Err(format!(
                "n{} stored event {event:#x} as {}, n{by} as {}",
                ev.node.0,
                fmt_slot(sl),
                fmt_slot(first)
            ));
        }
        let (held, by) = *self.by_slot.entry(sl).or_insert((event, ev.node.0));
        if held != event {
            return Err(format!(
                "n{} stored event {event:#x} as {}, where n{by} stored event {held:#x}",
                ev.node.0,
                fmt_slot(sl)
            ));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ no_cross_talk

/// Always: a message is stored for, and reaches, only the client and context its event was
/// raised for.
#[derive(Default)]
pub struct NoCrossTalk {
    raised: BTreeMap<u64, (u64, u64)>,
}

impl Checker for NoCrossTalk {
    fn name(&self) -> &'static str {
        "no_cross_talk"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("task", "raise") | ("cm", "store") | ("client", "deliver")
        )
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("task", "raise") {
            self.raised.insert(
                ev.u64("event").unwrap_or(0),
                (
                    ev.u64("client").unwrap_or(0),
                    ev.u64("context").unwrap_or(0),
                ),
            );
        } else if ev.is("cm", "store") || ev.is("client", "deliver") {
            let event = ev.u64("event").unwrap_or(0);
            let (c, x, _) = slot(ev);
            if let Some((rc, rx)) = self.raised.get(&event) {
                if (*rc, *rx) != (c, x) {
                    let what = if ev.component() == "cm" {
                        format!("n{} stored it for", ev.node.0)
                    } else {
                        "it reached".to_string()
                    };
                    return Err(format!(
                        "event {event:#x} was raised for client {rc} context {rx}, but {what} client {c} context {x}"
                    ));
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ stack_order

/// Always: a context's list, as its client reads it, is a stack: newest first, holding
/// every message the client received before asking that it did not remove and the list
/// did not evict, and never a removed one; its top is the newest of them.
#[derive(Default)]
pub struct StackOrder {
    /// Per (client, context): received seq -> when.
    received: BTreeMap<(u64, u64), BTreeMap<u64, u64>>,
    removed: BTreeMap<(u64, u64), BTreeSet<u64>>,
    evicted: BTreeSet<Slot>,
}

impl StackOrder {
    /// What must be in the list answered to a request made at `asked_ns`.
    fn required(&self, key: (u64, u64), asked_ns: u64) -> Vec<u64> {
        let removed = self.removed.get(&key);
        self.received
            .get(&key)
            .map(|r| {
                r.iter()
                    .filter(|(s, t)| {
                        **t < asked_ns
                            && !removed.is_some_and(|x| x.contains(s))
                            && !self.evicted.contains(&(key.0, key.1, **s))
                    })
                    .map(|(s, _)| *s)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Checker for StackOrder {
    fn name(&self) -> &'static str {
        "stack_order"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("client", "deliver" | "remove" | "list" | "top") | ("cm", "evict")
        )
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        let key = (
            ev.u64("client").unwrap_or(0),
            ev.u64("context").unwrap_or(0),
        );
        if ev.is("client", "deliver") {
            self.received
                .entry(key)
                .or_default()
                .insert(ev.u64("seq").unwrap_or(0), ev.t_ns);
        } else if ev.is("client", "remove") {
            self.removed
                .entry(key)
                .or_default()
                .insert(ev.u64("seq").unwrap_or(0));
        } else if ev.is("cm", "evict") {
            self.evicted.insert(slot(ev));
        } else if ev.is("client", "list") {
            let seqs: Vec<u64> = ev
                .str("seqs")
                .unwrap_or("")
                .split(',')
                .filter_map(|s| s.parse().ok())
                .collect();
            let (c, x) = key;
            if seqs.windows(2).any(|w| w[0] <= w[1]) {
                return Err(format!(
                    "client {c} context {x} listed [{}]: not newest first",
                    ev.str("seqs").unwrap_or("")
                ));
            }
            if let Some(s) = seqs
                .iter()
                .find(|s| self.removed.get(&key).is_some_and(|r| r.contains(s)))
            {
                return Err(format!(
                    "client {c} context {x} listed seq {s}, which it removed"
                ));
            }
            let asked = ev.u64("asked_ns").unwrap_or(0);
            if let Some(s) = self
                .required(key, asked)
                .into_iter()
                .find(|s| !seqs.contains(s))
            {
                return Err(format!(
                    "client {c} context {x} listed [{}] without seq {s}, which it received before asking",
                    ev.str("seqs").unwrap_or("")
                ));
            }
        } else if ev.is("client", "top") {
            let (c, x) = key;
            let top = ev.u64("seq").unwrap_or(0);
            let asked = ev.u64("asked_ns").unwrap_or(0);
            let newest = self.required(key, asked).into_iter().max().unwrap_or(0);
            let removed = self.removed.get(&key).is_some_and(|r| r.contains(&top));
            if top < newest || removed {
                return Err(format!(
                    "client {c} context {x} read top seq {top}; the newest it holds is {newest}"
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ dialogue_answered

struct Ask {
    task: String,
    default: String,
    deadline_ns: u64,
    t_ns: u64,
}

/// Always: a dialogue's answer reaches the task that asked, once: the client's reply, or
/// its default once the deadline passed (at once if the question could not be stored).
/// Eventually (if a majority of the engine is alive at the end): every question of a task
/// still alive is answered.
pub struct DialogueAnswered {
    engine_nodes: usize,
    settle_ns: u64,
    asks: BTreeMap<u64, Ask>,
    replies: BTreeMap<u64, String>,
    stored: BTreeSet<u64>,
    answered: BTreeSet<u64>,
    deaths: JobDeaths,
}

impl DialogueAnswered {
    pub fn new(engine_nodes: usize, settle_ms: u64) -> Self {
        DialogueAnswered {
            engine_nodes,
            settle_ns: settle_ms * 1_000_000,
            asks: BTreeMap::new(),
            replies: BTreeMap::new(),
            stored: BTreeSet::new(),
            answered: BTreeSet::new(),
            deaths: JobDeaths::default(),
        }
    }

    /// A task `node.inc.job/tN` dies with its job or its node.
    fn alive(&self, task: &str) -> bool {
        let job = task.split('/').next().unwrap_or("");
        self.deaths.died(job).is_none()
    }
}

impl Checker for DialogueAnswered {
    fn name(&self) -> &'static str {
        "dialogue_answered"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        JobDeaths::wants(component, event)
            || matches!(
                (component, event),
                ("task", "ask" | "answer") | ("cm", "store") | ("client", "reply")
            )
    }

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        self.deaths.observe(ev);
        if ev.is("task", "ask") {
            self.asks.insert(
                ev.u64("dialogue").unwrap_or(0),
                Ask {
                    task: ev.str("task").unwrap_or("").to_string(),
                    default: ev.str("default").unwrap_or("").to_string(),
                    deadline_ns: ev.u64("deadline_ns").unwrap_or(0),
                    t_ns: ev.t_ns,
                },
            );
        } else if ev.is("cm", "store") {
            self.stored.insert(ev.u64("event").unwrap_or(0));
        } else if ev.is("client", "reply") {
            self.replies
                .entry(ev.u64("dialogue").unwrap_or(0))
                .or_insert_with(|| ev.str("reply").unwrap_or("").to_string());
        } else if ev.is("task", "answer") {
            let d = ev.u64("dialogue").unwrap_or(0);
            let task = ev.str("task").unwrap_or("");
            let reply = ev.str("reply").unwrap_or("");
            let Some(ask) = self.asks.get(&d) else {
                return Err(format!(
                    "task {task} got an answer to dialogue {d:#x}, which nobody asked"
                ));
            };
            if ask.task != task {
                return Err(format!(
                    "the answer to dialogue {d:#x}, asked by task {}, reached task {task}",
                    ask.task
                ));
            }
            if !self.answered.insert(d) {
                return Err(format!(
                    "task {task} got a second answer to dialogue {d:#x}"
                ));
            }
            if ev.bool("defaulted") == Some(true) {
                if reply != ask.default {
                    return Err(format!(
                        "dialogue {d:#x} defaulted to '{reply}', its default is '{}'",
                        ask.default
                    ));
                }
                if self.stored.contains(&d) && ev.t_ns < ask.deadline_ns {
                    return Err(format!(
                        "dialogue {d:#x} defaulted at {:.3}ms, before its deadline {:.3}ms",
                        ms(ev.t_ns),
                        ms(ask.deadline_ns)
                    ));
                }
            } else if self.replies.get(&d).map(String::as_str) != Some(reply) {
                return Err(format!(
                    "dialogue {d:#x} was answered '{reply}', which its client never replied"
                ));
            }
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let Some(cutoff) = owed_before(self.engine_nodes, self.settle_ns, end) else {
            return Ok(());
        };
        match self
            .asks
            .iter()
            .find(|(d, a)| a.t_ns < cutoff && !self.answered.contains(d) && self.alive(&a.task))
        {
            Some((d, a)) => Err(format!(
                "dialogue {d:#x} asked by task {} at {:.3}ms was never answered",
                a.task,
                ms(a.t_ns)
            )),
            None => Ok(()),
        }
    }
}
