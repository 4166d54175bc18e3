//! The guarantees of docs/ARCHITECTURE.md §B, one checker each, observing only the trace.
//!
//! Events they read: `task.raise`, `task.ask`, `task.answer` from the tasks; `cm.store`
//! and `cm.evict` from every replica; `cm.push`, `cm.ack`, `cm.resume`, `cm.serve`,
//! `cm.timeout` from the master; `client.receive`, `client.deliver`, `client.reply`,
//! `client.list`, `client.top`, `client.remove` from the clients; the engine's
//! `job.unregister` and the world's `node.crash` and `node.restart`.

use super::events::{ClientEvent, CmEvent, TaskEvent};
use super::manager::{ClientId, EventId, TaskAddr};
pub use crate::service::checkers::SingleMaster;
use crate::service::checkers::{owed_before, JobDeaths};
use sim::check::{Checker, RunEnd};
use sim::event::NodeId;
use sim::time::SimTime;
use sim::trace::EventRef;
use std::collections::{BTreeMap, BTreeSet};

/// (client, context, seq): one message slot.
type Slot = (ClientId, u32, u64);

fn fmt_slot((c, x, s): Slot) -> String {
    format!("client {c} context {x} seq {s}")
}

/// A list of sequence numbers as the trace prints it: `[5,3,2]`.
fn fmt_seqs(seqs: &[u64]) -> String {
    let items: Vec<String> = seqs.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(","))
}

/// What a master learned a client received of a context, everything up to a seq, from
/// an acknowledgement or from a reconnecting client's hello: (client, context, seq).
fn learned_ack(ev: &CmEvent) -> Option<(ClientId, u32, u64)> {
    match ev {
        CmEvent::Ack {
            client,
            context,
            upto,
        }
        | CmEvent::Resume {
            client,
            context,
            after: upto,
        } => Some((*client, *context, *upto)),
        _ => None,
    }
}

/// `single_master` over the client service's master actions: serving a request, pushing
/// a message, timing a dialogue out.
pub fn single_master() -> SingleMaster {
    SingleMaster::new(
        &[("cm", "serve"), ("cm", "push"), ("cm", "timeout")],
        |ev| match ev.get::<CmEvent>()? {
            CmEvent::Serve { view, .. }
            | CmEvent::Push { view, .. }
            | CmEvent::Timeout { view, .. } => Some(*view),
            _ => None,
        },
    )
}

/// Every checker of the client system, for a world whose first `engine_nodes` nodes run
/// the engine. `settle_ms`: how long before the run's end a message or question may still
/// be on its way (a failover, a dialogue timeout).
pub fn all(engine_nodes: usize, settle_ms: u64) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(ExactlyOnceToClient::new(engine_nodes, settle_ms)),
        Box::new(ClientStream::default()),
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
    /// Slot -> (the event stored there, when first stored).
    stored: BTreeMap<Slot, (EventId, u64)>,
    delivered: BTreeSet<Slot>,
    /// (node, client, context) -> what the client told that node it received.
    known_ack: BTreeMap<(NodeId, ClientId, u32), u64>,
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

    fn on_client(&mut self, ev: &ClientEvent) -> Result<(), String> {
        let ClientEvent::Deliver {
            client,
            context,
            seq,
            event,
            ..
        } = ev
        else {
            return Ok(());
        };
        let sl = (*client, *context, *seq);
        if !self.delivered.insert(sl) {
            return Err(format!("{} reached its client twice", fmt_slot(sl)));
        }
        match self.stored.get(&sl) {
            None => Err(format!(
                "{} reached its client but was never stored",
                fmt_slot(sl)
            )),
            Some((e, _)) if e != event => Err(format!(
                "the client received event {event} as {}, which holds event {e}",
                fmt_slot(sl)
            )),
            _ => Ok(()),
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

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if let Some(c) = ev.get::<ClientEvent>() {
            return self.on_client(c);
        }
        if let Some((client, context, upto)) = ev.get::<CmEvent>().and_then(learned_ack) {
            let e = self
                .known_ack
                .entry((ev.node, client, context))
                .or_insert(0);
            *e = (*e).max(upto);
            return Ok(());
        }
        match ev.get::<CmEvent>() {
            Some(CmEvent::Store {
                client,
                context,
                seq,
                event,
                ..
            }) => {
                self.stored
                    .entry((*client, *context, *seq))
                    .or_insert((*event, ev.t_ns));
            }
            Some(CmEvent::Push {
                client,
                context,
                seq,
                ..
            }) => {
                let acked = self
                    .known_ack
                    .get(&(ev.node, *client, *context))
                    .copied()
                    .unwrap_or(0);
                if *seq <= acked {
                    return Err(format!(
                        "{} sent {} again after the client told it it received everything up to {acked}",
                        ev.node,
                        fmt_slot((*client, *context, *seq))
                    ));
                }
            }
            _ => {}
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
                "{} (event {e}, stored at {}) never reached its client",
                fmt_slot(*sl),
                SimTime(*t)
            )),
            None => Ok(()),
        }
    }
}

// ------------------------------------------------------------------ client_stream

/// What a client received of one context, as the checker follows it.
#[derive(Default)]
struct Stream {
    /// Seq -> the event first received in that place.
    received: BTreeMap<u64, EventId>,
    /// The last seq handed to the user.
    delivered: u64,
}

/// The newest acknowledgement a master learned for one context.
#[derive(Clone, Copy)]
struct Acked {
    upto: u64,
    by: NodeId,
    t_ns: u64,
}

/// Always: what each client receives of a context, across masters and failovers, is the
/// stored stack: every copy of a place carries the event stored there, the client drops
/// exactly the copies of places it already received and hands each message to its user
/// once, in the list's order, and no copy reaches it from a master that sent it after the
/// client had told a master (itself or another) that it received it.
#[derive(Default)]
pub struct ClientStream {
    /// Slot -> the event stored there.
    stored: BTreeMap<Slot, EventId>,
    streams: BTreeMap<(ClientId, u32), Stream>,
    /// (client, context) -> the newest acknowledgement any master learned.
    acked: BTreeMap<(ClientId, u32), Acked>,
    /// (sending node, slot) -> when that node first sent the slot after a master had
    /// learned that the client received it, and that acknowledgement.
    sent_after_ack: BTreeMap<(NodeId, Slot), (u64, Acked)>,
}

impl ClientStream {
    fn on_receive(
        &mut self,
        sl: Slot,
        event: EventId,
        master: NodeId,
        duplicate: bool,
    ) -> Result<(), String> {
        let (c, x, s) = sl;
        if let Some((sent_ns, a)) = self.sent_after_ack.get(&(master, sl)) {
            return Err(format!(
                "{} reached its client again from {master}, which sent it at {} after the client told {} at {} it received everything up to {}",
                fmt_slot(sl),
                SimTime(*sent_ns),
                a.by,
                SimTime(a.t_ns),
                a.upto
            ));
        }
        match self.stored.get(&sl) {
            None => {
                return Err(format!(
                    "{} reached its client from {master} but was never stored",
                    fmt_slot(sl)
                ))
            }
            Some(e) if *e != event => {
                return Err(format!(
                "{} reached its client from {master} as event {event}; the slot holds event {e}",
                fmt_slot(sl)
            ))
            }
            _ => {}
        }
        let st = self.streams.entry((c, x)).or_default();
        match (st.received.get(&s), duplicate) {
            (Some(first), _) if *first != event => Err(format!(
                "{} reached its client from {master} as event {event}, after it received event {first} there",
                fmt_slot(sl)
            )),
            (Some(_), false) => Err(format!(
                "{} reached its client again from {master} and was taken as new",
                fmt_slot(sl)
            )),
            (None, true) => Err(format!(
                "{} reached its client from {master} the first time and was dropped as a duplicate",
                fmt_slot(sl)
            )),
            (None, false) => {
                st.received.insert(s, event);
                Ok(())
            }
            (Some(_), true) => Ok(()),
        }
    }

    fn on_deliver(&mut self, sl: Slot, event: EventId) -> Result<(), String> {
        let (c, x, s) = sl;
        let st = self.streams.entry((c, x)).or_default();
        if s != st.delivered + 1 {
            return Err(format!(
                "{} reached its client's user after seq {}: out of the list's order",
                fmt_slot(sl),
                st.delivered
            ));
        }
        match st.received.get(&s) {
            None => Err(format!(
                "{} reached its client's user but never arrived",
                fmt_slot(sl)
            )),
            Some(e) if *e != event => Err(format!(
                "{} reached its client's user as event {event}; it arrived as event {e}",
                fmt_slot(sl)
            )),
            _ => {
                st.delivered = s;
                Ok(())
            }
        }
    }
}

impl Checker for ClientStream {
    fn name(&self) -> &'static str {
        "client_stream"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("cm", "store" | "ack" | "resume" | "push") | ("client", "receive" | "deliver")
        )
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        match ev.get::<ClientEvent>() {
            Some(ClientEvent::Receive {
                client,
                context,
                seq,
                event,
                master,
                duplicate,
            }) => return self.on_receive((*client, *context, *seq), *event, *master, *duplicate),
            Some(ClientEvent::Deliver {
                client,
                context,
                seq,
                event,
                ..
            }) => return self.on_deliver((*client, *context, *seq), *event),
            _ => {}
        }
        if let Some((client, context, upto)) = ev.get::<CmEvent>().and_then(learned_ack) {
            let a = self.acked.entry((client, context)).or_insert(Acked {
                upto: 0,
                by: ev.node,
                t_ns: ev.t_ns,
            });
            if upto > a.upto {
                *a = Acked {
                    upto,
                    by: ev.node,
                    t_ns: ev.t_ns,
                };
            }
            return Ok(());
        }
        match ev.get::<CmEvent>() {
            Some(CmEvent::Store {
                client,
                context,
                seq,
                event,
                ..
            }) => {
                self.stored
                    .entry((*client, *context, *seq))
                    .or_insert(*event);
            }
            Some(CmEvent::Push {
                client,
                context,
                seq,
                ..
            }) => {
                if let Some(a) = self.acked.get(&(*client, *context)) {
                    if *seq <= a.upto {
                        self.sent_after_ack
                            .entry((ev.node, (*client, *context, *seq)))
                            .or_insert((ev.t_ns, *a));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ replicas_agree

/// Always: every replica stores an event in the same slot, and a slot holds one event.
#[derive(Default)]
pub struct ReplicasAgree {
    /// Event -> (its slot, the node that stored it first).
    by_event: BTreeMap<EventId, (Slot, NodeId)>,
    /// Slot -> (its event, the node that stored it first).
    by_slot: BTreeMap<Slot, (EventId, NodeId)>,
}

impl Checker for ReplicasAgree {
    fn name(&self) -> &'static str {
        "replicas_agree"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        (component, event) == ("cm", "store")
    }

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        let Some(CmEvent::Store {
            client,
            context,
            seq,
            event,
            ..
        }) = ev.get::<CmEvent>()
        else {
            return Ok(());
        };
        let (sl, event) = ((*client, *context, *seq), *event);
        let (first, by) = *self.by_event.entry(event).or_insert((sl, ev.node));
        if first != sl {
            return Err(format!(
                "{} stored event {event} as {}, {by} as {}",
                ev.node,
                fmt_slot(sl),
                fmt_slot(first)
            ));
        }
        let (held, by) = *self.by_slot.entry(sl).or_insert((event, ev.node));
        if held != event {
            return Err(format!(
                "{} stored event {event} as {}, where {by} stored event {held}",
                ev.node,
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
    /// Event -> the client and context it was raised for.
    raised: BTreeMap<EventId, (ClientId, u32)>,
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

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if let Some(TaskEvent::Raise {
            event,
            client,
            context,
            ..
        }) = ev.get::<TaskEvent>()
        {
            self.raised.insert(*event, (*client, *context));
            return Ok(());
        }
        // Which of the two it is (stored by a master, or delivered to the client) is
        // spelt out only for a violation.
        let (event, c, x, stored) = match (ev.get::<CmEvent>(), ev.get::<ClientEvent>()) {
            (
                Some(CmEvent::Store {
                    client,
                    context,
                    event,
                    ..
                }),
                _,
            ) => (event, client, context, true),
            (
                _,
                Some(ClientEvent::Deliver {
                    client,
                    context,
                    event,
                    ..
                }),
            ) => (event, client, context, false),
            _ => return Ok(()),
        };
        match self.raised.get(event) {
            Some((rc, rx)) if (rc, rx) != (c, x) => {
                let what = if stored {
                    format!("{} stored it for", ev.node)
                } else {
                    "it reached".to_string()
                };
                Err(format!(
                    "event {event} was raised for client {rc} context {rx}, but {what} client {c} context {x}"
                ))
            }
            _ => Ok(()),
        }
    }
}

// ------------------------------------------------------------------ stack_order

/// Always: a context's list, as its client reads it, is a stack: newest first, holding
/// every message the client received before asking that it did not remove and the list
/// did not evict, and never a removed one; its top is the newest of them.
#[derive(Default)]
pub struct StackOrder {
    /// Per (client, context): received seq -> when.
    received: BTreeMap<(ClientId, u32), BTreeMap<u64, u64>>,
    removed: BTreeMap<(ClientId, u32), BTreeSet<u64>>,
    evicted: BTreeSet<Slot>,
}

impl StackOrder {
    /// What must be in the list answered to a request made at `asked_ns`.
    fn required(&self, key: (ClientId, u32), asked_ns: u64) -> Vec<u64> {
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

    fn on_list(&self, key: (ClientId, u32), seqs: &[u64], asked: SimTime) -> Result<(), String> {
        let (c, x) = key;
        if seqs.windows(2).any(|w| w[0] <= w[1]) {
            return Err(format!(
                "client {c} context {x} listed {}: not newest first",
                fmt_seqs(seqs)
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
        if let Some(s) = self
            .required(key, asked.0)
            .into_iter()
            .find(|s| !seqs.contains(s))
        {
            return Err(format!(
                "client {c} context {x} listed {} without seq {s}, which it received before asking",
                fmt_seqs(seqs)
            ));
        }
        Ok(())
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

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        if let Some(CmEvent::Evict {
            client,
            context,
            seq,
        }) = ev.get::<CmEvent>()
        {
            self.evicted.insert((*client, *context, *seq));
            return Ok(());
        }
        match ev.get::<ClientEvent>() {
            Some(ClientEvent::Deliver {
                client,
                context,
                seq,
                ..
            }) => {
                self.received
                    .entry((*client, *context))
                    .or_default()
                    .insert(*seq, ev.t_ns);
            }
            Some(ClientEvent::Remove {
                client,
                context,
                seq,
            }) => {
                self.removed
                    .entry((*client, *context))
                    .or_default()
                    .insert(*seq);
            }
            Some(ClientEvent::List {
                client,
                context,
                seqs,
                asked,
            }) => return self.on_list((*client, *context), seqs, *asked),
            Some(ClientEvent::Top {
                client,
                context,
                seq,
                asked,
            }) => {
                let key = (*client, *context);
                let top = seq.unwrap_or(0);
                let newest = self.required(key, asked.0).into_iter().max().unwrap_or(0);
                let removed = self.removed.get(&key).is_some_and(|r| r.contains(&top));
                if top < newest || removed {
                    return Err(format!(
                        "client {client} context {context} read top seq {top}; the newest it holds is {newest}"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ dialogue_answered

struct Ask {
    task: TaskAddr,
    default: String,
    deadline: SimTime,
    t_ns: u64,
}

/// Always: a dialogue's answer reaches the task that asked, once: the client's reply, or
/// its default once the deadline passed (at once if the question could not be stored).
/// Eventually (if a majority of the engine is alive at the end): every question of a task
/// still alive is answered.
pub struct DialogueAnswered {
    engine_nodes: usize,
    settle_ns: u64,
    asks: BTreeMap<EventId, Ask>,
    replies: BTreeMap<EventId, String>,
    stored: BTreeSet<EventId>,
    answered: BTreeSet<EventId>,
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

    /// A task dies with its job or its node.
    fn alive(&self, task: &TaskAddr) -> bool {
        self.deaths
            .died(task.node as u64, task.inc, task.job)
            .is_none()
    }

    fn on_answer(
        &mut self,
        t_ns: u64,
        d: EventId,
        task: &TaskAddr,
        reply: &str,
        defaulted: bool,
    ) -> Result<(), String> {
        let Some(ask) = self.asks.get(&d) else {
            return Err(format!(
                "task {task} got an answer to dialogue {d}, which nobody asked"
            ));
        };
        if ask.task != *task {
            return Err(format!(
                "the answer to dialogue {d}, asked by task {}, reached task {task}",
                ask.task
            ));
        }
        if !self.answered.insert(d) {
            return Err(format!("task {task} got a second answer to dialogue {d}"));
        }
        if defaulted {
            if reply != ask.default {
                return Err(format!(
                    "dialogue {d} defaulted to '{reply}', its default is '{}'",
                    ask.default
                ));
            }
            if self.stored.contains(&d) && t_ns < ask.deadline.0 {
                return Err(format!(
                    "dialogue {d} defaulted at {}, before its deadline {}",
                    SimTime(t_ns),
                    ask.deadline
                ));
            }
        } else if self.replies.get(&d).map(String::as_str) != Some(reply) {
            return Err(format!(
                "dialogue {d} was answered '{reply}', which its client never replied"
            ));
        }
        Ok(())
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

    fn on_event(&mut self, ev: &EventRef) -> Result<(), String> {
        self.deaths.observe(ev);
        if let Some(CmEvent::Store { event, .. }) = ev.get::<CmEvent>() {
            self.stored.insert(*event);
        } else if let Some(ClientEvent::Reply {
            dialogue, reply, ..
        }) = ev.get::<ClientEvent>()
        {
            self.replies
                .entry(*dialogue)
                .or_insert_with(|| reply.clone());
        }
        match ev.get::<TaskEvent>() {
            Some(TaskEvent::Ask {
                dialogue,
                task,
                default,
                deadline,
            }) => {
                self.asks.insert(
                    *dialogue,
                    Ask {
                        task: *task,
                        default: default.clone(),
                        deadline: *deadline,
                        t_ns: ev.t_ns,
                    },
                );
                Ok(())
            }
            Some(TaskEvent::Answer {
                dialogue,
                task,
                reply,
                defaulted,
            }) => self.on_answer(ev.t_ns, *dialogue, task, reply, *defaulted),
            _ => Ok(()),
        }
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
                "dialogue {d} asked by task {} at {} was never answered",
                a.task,
                SimTime(a.t_ns)
            )),
            None => Ok(()),
        }
    }
}
