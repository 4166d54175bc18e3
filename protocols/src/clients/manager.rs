//! The client manager: the cluster's client objects, each with one or more contexts whose
//! message lists are stacks, and the open dialogues.
//!
//! It is a deterministic state machine driven by [`Command`]s: every member of the
//! client-service group applies them in the engine's agreed order (see
//! [`crate::service`]), so a new master holds exactly what the old one had for every
//! command both delivered. Applying a command yields [`Effect`]s: the master acts on those
//! that talk to clients (pushing messages, answering requests); the node of a task acts on
//! those that answer it (dialogue replies). Every command is idempotent, because tasks and
//! clients retry until they see their command's outcome: an event is stored once whatever
//! number of times it is submitted, a context is opened once, a dialogue is answered once.

use super::catalog::{MessageCatalog, Params, Severity};
use super::stack::{MessageStack, PushError, StoredMessage};
use crate::service::replica::StateMachine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client object's cluster-unique id, assigned by the replicated state, so it is the
/// same on every node and survives failover.
pub type ClientId = u64;

/// When the catalog turns a code into text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatMode {
    /// Format when the message is accepted; the stored text travels with it.
    AtStore,
    /// Store code and parameters; format when the message is communicated to the client.
    AtDelivery,
}

/// An error or dialogue event detected on some node, as it reaches the manager.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Cluster-unique: see [`event_id`].
    pub event_id: u64,
    pub code: String,
    pub params: Params,
}

/// Packs a cluster-unique event id from where the event was raised: node, node
/// incarnation, job incarnation, and a counter within that job.
pub fn event_id(node: usize, inc: u64, job: u64, counter: u64) -> u64 {
    assert!(
        node < 256 && counter < (1 << 24),
        "event id fields out of range"
    );
    ((node as u64) << 56) | ((inc & 0xffff) << 40) | ((job & 0xffff) << 24) | counter
}

/// An event id (see [`event_id`]) as the trace and the checkers show it: the job that
/// raised it and its counter there, `node.inc.job/eN` (`2.1.0/e17`), beside the
/// `node.inc.job/tC.X.I` of the task that raised it. A dialogue is named by its event's id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub u64);

impl EventId {
    pub fn node(self) -> u64 {
        self.0 >> 56
    }

    /// The node's incarnation, modulo 2^16.
    pub fn inc(self) -> u64 {
        (self.0 >> 40) & 0xffff
    }

    /// The job's incarnation, modulo 2^16.
    pub fn job(self) -> u64 {
        (self.0 >> 24) & 0xffff
    }

    pub fn counter(self) -> u64 {
        self.0 & 0xff_ffff
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}/e{}",
            self.node(),
            self.inc(),
            self.job(),
            self.counter()
        )
    }
}

impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

sim::trace_field_by_display!(EventId => |id| [id.0]);

/// Where a dialogue reply must go: the asking task, wherever it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskAddr {
    pub node: usize,
    /// The node's incarnation and the job's: a task dies with either.
    pub inc: u64,
    pub job: u64,
    /// The task's number: the client and context it works for and its index among that
    /// context's tasks, packed `client << 32 | context << 8 | index`.
    pub task: u64,
}

/// `node.inc.job/tC.X.I`: the job it runs on, then the client, context and index of the
/// task (`2.1.0/t3.1.0`).
impl std::fmt::Display for TaskAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}/t{}.{}.{}",
            self.node,
            self.inc,
            self.job,
            self.task >> 32,
            (self.task >> 8) & 0xff_ffff,
            self.task & 0xff
        )
    }
}

sim::trace_field_by_display!(TaskAddr => |a| [a.node as u64, a.inc, a.job, a.task]);

/// A question a message asks its client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub dialogue: u64,
    pub default_reply: String,
}

/// A dialogue: the event is the question; the reply goes to `asking`, and after
/// `deadline_ns` (simulated time) the default does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inquiry {
    pub client: ClientId,
    pub context: u32,
    pub event: Event,
    pub asking: TaskAddr,
    pub default_reply: String,
    pub deadline_ns: u64,
}

/// Everything that changes the manager's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client connects; its name is unique, so connecting again finds the same object.
    Connect {
        name: String,
        node: usize,
    },
    OpenContext {
        client: ClientId,
        context: u32,
    },
    /// An error (or informational) event for a client's context.
    Accept {
        client: ClientId,
        context: u32,
        event: Event,
    },
    /// A dialogue (boxed: the rarest command is also the largest, and every command is
    /// moved through the network, the CE and the job inline).
    Inquire(Box<Inquiry>),
    /// The client's answer to dialogue `dialogue` (its request `req`).
    Reply {
        client: ClientId,
        dialogue: u64,
        reply: String,
        req: u64,
    },
    /// The master saw the dialogue's deadline pass.
    Timeout {
        dialogue: u64,
    },
    /// The client received its context's messages up to `upto`.
    Ack {
        client: ClientId,
        context: u32,
        upto: u64,
    },
    Remove {
        client: ClientId,
        context: u32,
        seq: u64,
        req: u64,
    },
}

impl Command {
    /// The event a command carries, if it is one a task raised.
    pub fn event_id(&self) -> Option<u64> {
        match self {
            Command::Accept { event, .. } => Some(event.event_id),
            Command::Inquire(q) => Some(q.event.event_id),
            _ => None,
        }
    }
}

/// A stored message as it is communicated to its client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub client: ClientId,
    pub context: u32,
    pub seq: u64,
    pub event_id: u64,
    pub severity: Severity,
    /// Formatted by the catalog (at store or now, by the manager's format mode).
    pub text: String,
    pub question: Option<Question>,
}

/// What applying a command asks of the master or of a task's node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Connected {
        client: ClientId,
        name: String,
        node: usize,
    },
    ContextOpened {
        client: ClientId,
        context: u32,
    },
    /// A message was stored on top of its context's stack: push it to the client.
    Deliver(Delivery),
    /// An acknowledged message was evicted to make room (see `stack` for the policy).
    Evicted {
        client: ClientId,
        context: u32,
        seq: u64,
    },
    /// The event could not be stored; its source is told.
    Refused {
        event_id: u64,
        reason: String,
    },
    /// Send a dialogue's answer to the task that asked.
    RouteReply {
        dialogue: u64,
        to: TaskAddr,
        reply: String,
        defaulted: bool,
    },
    /// The client's reply was taken (or came after the dialogue closed).
    ReplyTaken {
        client: ClientId,
        req: u64,
        dialogue: u64,
        taken: bool,
    },
    Removed {
        client: ClientId,
        context: u32,
        seq: u64,
        req: u64,
    },
    /// A command that names something that does not exist.
    Rejected {
        reason: String,
    },
}

/// What became of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Stored {
        client: ClientId,
        context: u32,
        seq: u64,
    },
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ContextState {
    stack: MessageStack,
    next_seq: u64,
    acked_upto: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ClientState {
    name: String,
    /// The node the client runs on: where pushes go.
    node: usize,
    contexts: BTreeMap<u32, ContextState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OpenDialogue {
    client: ClientId,
    asking: TaskAddr,
    default_reply: String,
    deadline_ns: u64,
}

/// The replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientManager {
    mode: FormatMode,
    bound: usize,
    next_client: ClientId,
    clients: BTreeMap<ClientId, ClientState>,
    /// Every event ever submitted, and what became of it: resubmissions are no-ops.
    events: BTreeMap<u64, Outcome>,
    dialogues: BTreeMap<u64, OpenDialogue>,
    /// Answers of closed dialogues, for tasks that were away when the answer was routed.
    answers: BTreeMap<u64, (String, bool)>,
    /// The newest stored message (for the planted lost-message bug).
    newest: Option<(ClientId, u32, u64)>,
    /// Planted bug: events for the newest client are filed under the oldest one.
    cross_talk: bool,
}

impl ClientManager {
    /// `bound` is each context's message-list size (see `stack` for the overflow policy).
    pub fn new(mode: FormatMode, bound: usize) -> Self {
        ClientManager {
            mode,
            bound,
            next_client: 1,
            clients: BTreeMap::new(),
            events: BTreeMap::new(),
            dialogues: BTreeMap::new(),
            answers: BTreeMap::new(),
            newest: None,
            cross_talk: false,
        }
    }

    /// Switches on the planted cross-talk bug (a lookup that wraps around the client
    /// table files the newest client's events under the oldest client).
    pub fn with_cross_talk(mut self) -> Self {
        self.cross_talk = true;
        self
    }

    fn catalog() -> &'static MessageCatalog {
        MessageCatalog::builtin()
    }

    /// Applies one command; deterministic, so every replica reaches the same state.
    pub fn apply(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        match cmd {
            Command::Connect { name, node } => {
                let found = self
                    .clients
                    .iter()
                    .find(|(_, c)| c.name == *name)
                    .map(|(id, _)| *id);
                let client = found.unwrap_or_else(|| {
                    let id = self.next_client;
                    self.next_client += 1;
                    id
                });
                let c = self.clients.entry(client).or_insert_with(|| ClientState {
                    name: name.clone(),
                    node: *node,
                    contexts: BTreeMap::new(),
                });
                c.node = *node;
                out.push(Effect::Connected {
                    client,
                    name: name.clone(),
                    node: *node,
                });
            }
            Command::OpenContext { client, context } => {
                let bound = self.bound;
                let Some(c) = self.clients.get_mut(client) else {
                    out.push(Effect::Rejected {
                        reason: format!("no client {client}"),
                    });
                    return;
                };
                c.contexts.entry(*context).or_insert_with(|| ContextState {
                    stack: MessageStack::new(bound),
                    next_seq: 1,
                    acked_upto: 0,
                });
                out.push(Effect::ContextOpened {
                    client: *client,
                    context: *context,
                });
            }
            Command::Accept {
                client,
                context,
                event,
            } => {
                if !self.events.contains_key(&event.event_id) {
                    self.store(*client, *context, event, None, out);
                }
            }
            Command::Inquire(q) => {
                let Inquiry {
                    client,
                    context,
                    event,
                    asking,
                    default_reply,
                    deadline_ns,
                } = &**q;
                if self.events.contains_key(&event.event_id) {
                    return;
                }
                let dialogue = event.event_id;
                let question = Question {
                    dialogue,
                    default_reply: default_reply.clone(),
                };
                if self.store(*client, *context, event, Some(question), out) {
                    self.dialogues.insert(
                        dialogue,
                        OpenDialogue {
                            client: *client,
                            asking: *asking,
                            default_reply: default_reply.clone(),
                            deadline_ns: *deadline_ns,
                        },
                    );
                } else {
                    // A question nobody can see is answered by its default at once.
                    self.close(dialogue, *asking, default_reply.clone(), true, out);
                }
            }
            Command::Reply {
                client,
                dialogue,
                reply,
                req,
            } => {
                // A reply after the timeout (or a second one) finds the dialogue closed.
                let open = self
                    .dialogues
                    .get(dialogue)
                    .is_some_and(|d| d.client == *client);
                if open {
                    let d = self.dialogues.remove(dialogue).expect("open");
                    self.close(*dialogue, d.asking, reply.clone(), false, out);
                }
                out.push(Effect::ReplyTaken {
                    client: *client,
                    req: *req,
                    dialogue: *dialogue,
                    taken: open,
                });
            }
            Command::Timeout { dialogue } => {
                if let Some(d) = self.dialogues.remove(dialogue) {
                    self.close(*dialogue, d.asking, d.default_reply, true, out);
                }
            }
            Command::Ack {
                client,
                context,
                upto,
            } => {
                if let Some(ctx) = self.context_mut(*client, *context) {
                    ctx.stack.ack_upto(*upto);
                    ctx.acked_upto = ctx.acked_upto.max(*upto);
                }
            }
            Command::Remove {
                client,
                context,
                seq,
                req,
            } => {
                if let Some(ctx) = self.context_mut(*client, *context) {
                    ctx.stack.remove(*seq);
                }
                out.push(Effect::Removed {
                    client: *client,
                    context: *context,
                    seq: *seq,
                    req: *req,
                });
            }
        }
    }

    fn close(
        &mut self,
        dialogue: u64,
        to: TaskAddr,
        reply: String,
        defaulted: bool,
        out: &mut Vec<Effect>,
    ) {
        self.answers.insert(dialogue, (reply.clone(), defaulted));
        out.push(Effect::RouteReply {
            dialogue,
            to,
            reply,
            defaulted,
        });
    }

    /// Stores an event as a message on top of the context's stack; true if stored.
    fn store(
        &mut self,
        client: ClientId,
        context: u32,
        event: &Event,
        question: Option<Question>,
        out: &mut Vec<Effect>,
    ) -> bool {
        let mode = self.mode;
        let client = self.resolve(client);
        let Some(ctx) = self.context_mut(client, context) else {
            let reason = format!("no context {context} for client {client}");
            self.events
                .insert(event.event_id, Outcome::Refused(reason.clone()));
            out.push(Effect::Refused {
                event_id: event.event_id,
                reason,
            });
            return false;
        };
        let catalog = Self::catalog();
        let severity = catalog
            .get(&event.code)
            .map(|e| e.severity)
            .unwrap_or(Severity::Error);
        let text = match mode {
            FormatMode::AtStore => Some(catalog.format_or_fallback(&event.code, &event.params)),
            FormatMode::AtDelivery => None,
        };
        let msg = StoredMessage {
            seq: ctx.next_seq,
            event_id: event.event_id,
            code: event.code.clone(),
            severity,
            params: event.params.clone(),
            text,
            acked: false,
            question,
        };
        // What the client is sent is made before the message moves into the stack: the
        // stack keeps the only copy.
        let seq = msg.seq;
        let delivery = Self::delivery(client, context, &msg);
        match ctx.stack.push(msg) {
            Ok(evicted) => {
                ctx.next_seq += 1;
                if let Some(e) = evicted {
                    out.push(Effect::Evicted {
                        client,
                        context,
                        seq: e.seq,
                    });
                }
                self.events.insert(
                    event.event_id,
                    Outcome::Stored {
                        client,
                        context,
                        seq,
                    },
                );
                self.newest = Some((client, context, seq));
                out.push(Effect::Deliver(delivery));
                true
            }
            Err(PushError::Full { bound }) => {
                let reason = catalog.format_or_fallback(
                    "CLU0900",
                    &[
                        ("context".to_string(), context.to_string()),
                        ("bound".to_string(), bound.to_string()),
                    ]
                    .into_iter()
                    .collect(),
                );
                self.events
                    .insert(event.event_id, Outcome::Refused(reason.clone()));
                out.push(Effect::Refused {
                    event_id: event.event_id,
                    reason,
                });
                false
            }
        }
    }

    /// The client an event for `client` is filed under (itself, but for the planted bug).
    fn resolve(&self, client: ClientId) -> ClientId {
        if self.cross_talk && self.clients.len() >= 2 {
            let newest = self.clients.keys().next_back().copied();
            let oldest = self.clients.keys().next().copied();
            if Some(client) == newest {
                return oldest.expect("non-empty");
            }
        }
        client
    }

    fn delivery(client: ClientId, context: u32, m: &StoredMessage) -> Delivery {
        Delivery {
            client,
            context,
            seq: m.seq,
            event_id: m.event_id,
            severity: m.severity,
            text: m
                .text
                .clone()
                .unwrap_or_else(|| Self::catalog().format_or_fallback(&m.code, &m.params)),
            question: m.question.clone(),
        }
    }

    fn context_mut(&mut self, client: ClientId, context: u32) -> Option<&mut ContextState> {
        self.clients.get_mut(&client)?.contexts.get_mut(&context)
    }

    fn context(&self, client: ClientId, context: u32) -> Option<&ContextState> {
        self.clients.get(&client)?.contexts.get(&context)
    }

    /// Unacknowledged messages above `after`, oldest first: what a client that received up
    /// to `after` must still be sent.
    pub fn unacked_after(&self, client: ClientId, context: u32, after: u64) -> Vec<Delivery> {
        self.context(client, context)
            .map(|c| {
                c.stack
                    .unacked_after(after)
                    .map(|m| Self::delivery(client, context, m))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The context's messages, newest first, with their text.
    pub fn list(&self, client: ClientId, context: u32) -> Vec<(u64, String)> {
        self.context(client, context)
            .map(|c| {
                c.stack
                    .newest_first()
                    .map(|m| {
                        let d = Self::delivery(client, context, m);
                        (d.seq, d.text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest message's sequence number and text.
    pub fn top(&self, client: ClientId, context: u32) -> Option<(u64, String)> {
        let c = self.context(client, context)?;
        c.stack.top().map(|m| {
            let d = Self::delivery(client, context, m);
            (d.seq, d.text)
        })
    }

    /// What the group has recorded as acknowledged (it may lag the client).
    pub fn acked_upto(&self, client: ClientId, context: u32) -> Option<u64> {
        self.context(client, context).map(|c| c.acked_upto)
    }

    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &str)> {
        self.clients.iter().map(|(id, c)| (*id, c.name.as_str()))
    }

    /// The node client `client` runs on.
    pub fn client_node(&self, client: ClientId) -> Option<usize> {
        self.clients.get(&client).map(|c| c.node)
    }

    pub fn client_named(&self, name: &str) -> Option<ClientId> {
        self.clients
            .iter()
            .find(|(_, c)| c.name == name)
            .map(|(id, _)| *id)
    }

    pub fn contexts(&self, client: ClientId) -> Vec<u32> {
        self.clients
            .get(&client)
            .map(|c| c.contexts.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Every open context, as (client, context).
    pub fn all_contexts(&self) -> Vec<(ClientId, u32)> {
        let mut all = Vec::new();
        self.extend_contexts(&mut all);
        all
    }

    /// Appends every (client, context) to `out`, in [`Self::all_contexts`]'s order.
    pub fn extend_contexts(&self, out: &mut Vec<(ClientId, u32)>) {
        for (id, c) in &self.clients {
            out.extend(c.contexts.keys().map(|x| (*id, *x)));
        }
    }

    pub fn outcome(&self, event_id: u64) -> Option<&Outcome> {
        self.events.get(&event_id)
    }

    pub fn open_dialogues(&self) -> Vec<u64> {
        self.dialogues.keys().copied().collect()
    }

    /// Open dialogues whose deadline has passed at `now_ns`.
    pub fn overdue_dialogues(&self, now_ns: u64) -> Vec<u64> {
        self.dialogues
            .iter()
            .filter(|(_, d)| d.deadline_ns <= now_ns)
            .map(|(id, _)| *id)
            .collect()
    }

    /// A closed dialogue's answer: (reply, defaulted).
    pub fn answer(&self, dialogue: u64) -> Option<&(String, bool)> {
        self.answers.get(&dialogue)
    }

    /// Planted bug: forgets the newest stored message, as a takeover that rebuilds its
    /// state one command short would. Returns what it forgot.
    pub fn forget_newest(&mut self) -> Option<(ClientId, u32, u64)> {
        let (client, context, seq) = self.newest.take()?;
        let ctx = self.context_mut(client, context)?;
        let m = ctx.stack.remove(seq)?;
        if ctx.next_seq == seq + 1 {
            ctx.next_seq = seq;
        }
        self.events.remove(&m.event_id);
        Some((client, context, seq))
    }
}

impl StateMachine for ClientManager {
    type Command = Command;
    type Effect = Effect;

    fn apply(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        ClientManager::apply(self, cmd, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::catalog::params;

    fn ev(id: u64, code: &str, p: Params) -> Event {
        Event {
            event_id: id,
            code: code.into(),
            params: p,
        }
    }

    fn failed(id: u64, task: &str) -> Event {
        ev(
            id,
            "CLU0101",
            params([("task", task), ("node", "n2"), ("reason", "exit 3")]),
        )
    }

    fn accept(client: ClientId, context: u32, event: Event) -> Command {
        Command::Accept {
            client,
            context,
            event,
        }
    }

    fn setup(mode: FormatMode, bound: usize) -> (ClientManager, ClientId) {
        let mut m = ClientManager::new(mode, bound);
        let mut out = vec![];
        m.apply(
            &Command::Connect {
                name: "ui".into(),
                node: 7,
            },
            &mut out,
        );
        let Effect::Connected { client, .. } = out[0] else {
            panic!("{out:?}")
        };
        m.apply(&Command::OpenContext { client, context: 1 }, &mut out);
        m.apply(&Command::OpenContext { client, context: 2 }, &mut out);
        (m, client)
    }

    fn delivered(out: &[Effect]) -> Vec<&Delivery> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Deliver(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn messages_stack_newest_first_and_ack_then_remove() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        for i in 1..=3 {
            m.apply(&accept(c, 1, failed(i, &format!("t{i}"))), &mut out);
        }
        let seqs: Vec<u64> = m.list(c, 1).iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 2, 1]);
        assert_eq!(
            m.top(c, 1).unwrap().1,
            "CLU0101 Task t3 on node n2 failed: exit 3"
        );
        m.apply(
            &Command::Ack {
                client: c,
                context: 1,
                upto: 2,
            },
            &mut out,
        );
        assert_eq!(m.acked_upto(c, 1), Some(2));
        m.apply(
            &Command::Remove {
                client: c,
                context: 1,
                seq: 3,
                req: 1,
            },
            &mut out,
        );
        assert_eq!(m.top(c, 1).unwrap().0, 2);
    }

    #[test]
    fn connecting_again_finds_the_same_client_object() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        m.apply(
            &Command::Connect {
                name: "ui".into(),
                node: 7,
            },
            &mut out,
        );
        m.apply(
            &Command::Connect {
                name: "other".into(),
                node: 8,
            },
            &mut out,
        );
        let ids: Vec<ClientId> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Connected { client, .. } => Some(*client),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![c, c + 1]);
        assert_eq!(m.contexts(c), vec![1, 2], "its contexts survive");
        assert_eq!(m.client_node(c + 1), Some(8));
    }

    #[test]
    fn contexts_keep_their_own_lists() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        m.apply(&accept(c, 1, failed(1, "a")), &mut out);
        m.apply(&accept(c, 2, failed(2, "b")), &mut out);
        assert_eq!(m.list(c, 1).len(), 1);
        assert_eq!(m.list(c, 2).len(), 1);
        assert!(m.list(c, 2)[0].1.contains("Task b"));
        // Each context numbers its own stream.
        assert_eq!(m.list(c, 2)[0].0, 1);
    }

    #[test]
    fn a_resubmitted_event_is_stored_once() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        m.apply(&accept(c, 1, failed(5, "a")), &mut out);
        m.apply(&accept(c, 1, failed(5, "a")), &mut out);
        assert_eq!(delivered(&out).len(), 1);
        assert_eq!(m.list(c, 1).len(), 1);
        assert_eq!(
            m.outcome(5),
            Some(&Outcome::Stored {
                client: c,
                context: 1,
                seq: 1
            })
        );
    }

    #[test]
    fn both_format_modes_give_the_same_text_and_differ_in_what_is_stored() {
        for mode in [FormatMode::AtStore, FormatMode::AtDelivery] {
            let (mut m, c) = setup(mode, 16);
            let mut out = vec![];
            m.apply(&accept(c, 1, failed(9, "load")), &mut out);
            assert_eq!(
                delivered(&out)[0].text,
                "CLU0101 Task load on node n2 failed: exit 3"
            );
            let stored = &m.clients[&c].contexts[&1].stack.top().unwrap().text;
            assert_eq!(stored.is_some(), mode == FormatMode::AtStore, "{mode:?}");
        }
    }

    #[test]
    fn unknown_codes_and_missing_parameters_still_reach_the_client() {
        let (mut m, c) = setup(FormatMode::AtDelivery, 16);
        let mut out = vec![];
        m.apply(
            &accept(c, 1, ev(1, "CLU7777", params([("x", "1")]))),
            &mut out,
        );
        m.apply(
            &accept(c, 1, ev(2, "CLU0101", params([("task", "t")]))),
            &mut out,
        );
        let texts: Vec<String> = m.list(c, 1).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            texts,
            vec![
                "CLU0101 [unformatted: message CLU0101 is missing parameter 'node'] task=t",
                "CLU7777 [unformatted: unknown message code CLU7777] x=1",
            ]
        );
    }

    #[test]
    fn a_full_list_refuses_and_reports_it() {
        let (mut m, c) = setup(FormatMode::AtStore, 2);
        let mut out = vec![];
        for i in 1..=3 {
            m.apply(&accept(c, 1, failed(i, "t")), &mut out);
        }
        let refused: Vec<&Effect> = out
            .iter()
            .filter(|e| matches!(e, Effect::Refused { .. }))
            .collect();
        assert_eq!(refused.len(), 1);
        let Effect::Refused { event_id, reason } = refused[0] else {
            unreachable!()
        };
        assert_eq!(*event_id, 3);
        assert!(reason.starts_with("CLU0900 Message list of context 1 is full (2 messages)"));
        assert!(matches!(m.outcome(3), Some(Outcome::Refused(_))));
    }

    fn question(c: ClientId, d: u64, asking: TaskAddr) -> Command {
        Command::Inquire(Box::new(Inquiry {
            client: c,
            context: 1,
            event: ev(
                d,
                "CLU0201",
                params([
                    ("task", "copy"),
                    ("node", "n3"),
                    ("path", "/x"),
                    ("default", "no"),
                ]),
            ),
            asking,
            default_reply: "no".into(),
            deadline_ns: 1_000,
        }))
    }

    #[test]
    fn a_dialogue_reply_goes_to_the_asking_task_and_a_timeout_gives_the_default() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let asking = TaskAddr {
            node: 3,
            inc: 0,
            job: 1,
            task: 77,
        };
        let mut out = vec![];
        m.apply(&question(c, 1, asking), &mut out);
        m.apply(&question(c, 2, asking), &mut out);
        assert_eq!(m.open_dialogues(), vec![1, 2]);
        assert_eq!(
            delivered(&out)[0].question,
            Some(Question {
                dialogue: 1,
                default_reply: "no".into()
            })
        );
        assert_eq!(m.overdue_dialogues(999), Vec::<u64>::new());
        assert_eq!(m.overdue_dialogues(1_000), vec![1, 2]);
        out.clear();
        let reply = |d: u64, req: u64| Command::Reply {
            client: c,
            dialogue: d,
            reply: "yes".into(),
            req,
        };
        m.apply(&reply(1, 10), &mut out);
        m.apply(&Command::Timeout { dialogue: 2 }, &mut out);
        // Late and duplicate answers find the dialogue closed.
        m.apply(&reply(2, 11), &mut out);
        m.apply(&Command::Timeout { dialogue: 1 }, &mut out);
        let routed: Vec<&Effect> = out
            .iter()
            .filter(|e| matches!(e, Effect::RouteReply { .. }))
            .collect();
        assert_eq!(
            routed,
            vec![
                &Effect::RouteReply {
                    dialogue: 1,
                    to: asking,
                    reply: "yes".into(),
                    defaulted: false
                },
                &Effect::RouteReply {
                    dialogue: 2,
                    to: asking,
                    reply: "no".into(),
                    defaulted: true
                },
            ]
        );
        assert!(out.contains(&Effect::ReplyTaken {
            client: c,
            req: 11,
            dialogue: 2,
            taken: false
        }));
        assert_eq!(m.answer(1), Some(&("yes".to_string(), false)));
        assert_eq!(m.answer(2), Some(&("no".to_string(), true)));
    }

    #[test]
    fn replicas_applying_the_same_commands_agree_and_resend_what_is_unacked() {
        let (mut a, c) = setup(FormatMode::AtDelivery, 8);
        let mut b = a.clone();
        let mut cmds = vec![];
        for i in 1..=5 {
            cmds.push(accept(c, 1, failed(i, "t")));
        }
        cmds.push(Command::Ack {
            client: c,
            context: 1,
            upto: 3,
        });
        let mut out = vec![];
        for cmd in &cmds {
            a.apply(cmd, &mut out);
            b.apply(cmd, &mut vec![]);
        }
        assert_eq!(a, b);
        let seqs: Vec<u64> = b.unacked_after(c, 1, 3).iter().map(|d| d.seq).collect();
        assert_eq!(seqs, vec![4, 5]);
    }

    #[test]
    fn the_planted_bugs_change_what_is_stored() {
        let (m, c) = setup(FormatMode::AtStore, 8);
        let mut bugged = m.clone().with_cross_talk();
        let mut out = vec![];
        bugged.apply(
            &Command::Connect {
                name: "second".into(),
                node: 8,
            },
            &mut out,
        );
        bugged.apply(
            &Command::OpenContext {
                client: c + 1,
                context: 1,
            },
            &mut out,
        );
        bugged.apply(&accept(c + 1, 1, failed(1, "t")), &mut out);
        assert_eq!(
            delivered(&out)[0].client,
            c,
            "filed under the oldest client"
        );

        let mut m = m;
        m.apply(&accept(c, 1, failed(1, "t")), &mut out);
        m.apply(&accept(c, 1, failed(2, "t")), &mut out);
        assert_eq!(m.forget_newest(), Some((c, 1, 2)));
        m.apply(&accept(c, 1, failed(3, "t")), &mut out);
        assert_eq!(
            m.outcome(3),
            Some(&Outcome::Stored {
                client: c,
                context: 1,
                seq: 2
            }),
            "the next event reuses the forgotten number"
        );
    }
}
