//! The client manager: per client, one or more contexts, each with a message list kept as
//! a stack; and the open dialogues.
//!
//! It is a deterministic state machine driven by [`Command`]s. The master puts every
//! command through the cluster engine's agreed-order multicast and every replica applies
//! them in that order, so after a failover the new master holds exactly the state the old
//! one had for every command both delivered. Only the master acts on the [`Effect`]s
//! (pushing to clients, routing dialogue replies); replicas apply and discard them.

use super::catalog::{MessageCatalog, Severity};
use super::stack::{MessageStack, PushError, StoredMessage};
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

/// An error or dialogue event detected on some node, as it reaches the master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Cluster-unique (node, task, counter packed by the source).
    pub event_id: u64,
    pub code: String,
    pub params: BTreeMap<String, String>,
}

/// Where a dialogue reply must go: the asking task, wherever it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskAddr {
    pub node: usize,
    pub task: u64,
}

/// Everything that changes the manager's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Connect {
        name: String,
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
    /// A dialogue: the event is the question; the reply goes to `asking`.
    Inquire {
        client: ClientId,
        context: u32,
        event: Event,
        dialogue: u64,
        asking: TaskAddr,
        default_reply: String,
    },
    Reply {
        dialogue: u64,
        reply: String,
    },
    /// The master's clock passed the dialogue's deadline.
    Timeout {
        dialogue: u64,
    },
    Ack {
        client: ClientId,
        context: u32,
        upto: u64,
    },
    Remove {
        client: ClientId,
        context: u32,
        seq: u64,
    },
}

/// What applying a command asks the master to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Connected {
        client: ClientId,
        name: String,
    },
    ContextOpened {
        client: ClientId,
        context: u32,
    },
    /// Push this message to the client; `text` is formatted.
    Deliver {
        client: ClientId,
        context: u32,
        seq: u64,
        event_id: u64,
        severity: Severity,
        text: String,
    },
    /// The event could not be stored; tell its source.
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
    /// A command that names something that does not exist.
    Rejected {
        reason: String,
    },
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
    contexts: BTreeMap<u32, ContextState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OpenDialogue {
    asking: TaskAddr,
    default_reply: String,
}

/// The replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientManager {
    mode: FormatMode,
    bound: usize,
    next_client: ClientId,
    clients: BTreeMap<ClientId, ClientState>,
    dialogues: BTreeMap<u64, OpenDialogue>,
}

impl ClientManager {
    /// `bound` is each context's message-list size (see `stack` for the overflow policy).
    pub fn new(mode: FormatMode, bound: usize) -> Self {
        ClientManager {
            mode,
            bound,
            next_client: 1,
            clients: BTreeMap::new(),
            dialogues: BTreeMap::new(),
        }
    }

    fn catalog() -> &'static MessageCatalog {
        MessageCatalog::builtin()
    }

    /// Applies one command; deterministic, so every replica reaches the same state.
    pub fn apply(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        match cmd {
            Command::Connect { name } => {
                let client = self.next_client;
                self.next_client += 1;
                self.clients.insert(
                    client,
                    ClientState {
                        name: name.clone(),
                        contexts: BTreeMap::new(),
                    },
                );
                out.push(Effect::Connected {
                    client,
                    name: name.clone(),
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
                self.store(*client, *context, event, out);
            }
            Command::Inquire {
                client,
                context,
                event,
                dialogue,
                asking,
                default_reply,
            } => {
                if self.store(*client, *context, event, out) {
                    self.dialogues.insert(
                        *dialogue,
                        OpenDialogue {
                            asking: *asking,
                            default_reply: default_reply.clone(),
                        },
                    );
                } else {
                    // A question nobody can see is answered by its default at once.
                    out.push(Effect::RouteReply {
                        dialogue: *dialogue,
                        to: *asking,
                        reply: default_reply.clone(),
                        defaulted: true,
                    });
                }
            }
            Command::Reply { dialogue, reply } => {
                // A reply after the timeout (or a duplicate) finds the dialogue closed.
                if let Some(d) = self.dialogues.remove(dialogue) {
                    out.push(Effect::RouteReply {
                        dialogue: *dialogue,
                        to: d.asking,
                        reply: reply.clone(),
                        defaulted: false,
                    });
                }
            }
            Command::Timeout { dialogue } => {
                if let Some(d) = self.dialogues.remove(dialogue) {
                    out.push(Effect::RouteReply {
                        dialogue: *dialogue,
                        to: d.asking,
                        reply: d.default_reply,
                        defaulted: true,
                    });
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
            } => {
                if let Some(ctx) = self.context_mut(*client, *context) {
                    ctx.stack.remove(*seq);
                }
            }
        }
    }

    /// Stores an event as a message on top of the context's stack; true if stored.
    fn store(
        &mut self,
        client: ClientId,
        context: u32,
        event: &Event,
        out: &mut Vec<Effect>,
    ) -> bool {
        let mode = self.mode;
        let Some(ctx) = self.context_mut(client, context) else {
            out.push(Effect::Refused {
                event_id: event.event_id,
                reason: format!("no context {context} for client {client}"),
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
        };
        match ctx.stack.push(msg.clone()) {
            Ok(_) => {
                ctx.next_seq += 1;
                out.push(Self::deliver(client, context, &msg));
                true
            }
            Err(PushError::Full { bound }) => {
                out.push(Effect::Refused {
                    event_id: event.event_id,
                    reason: catalog.format_or_fallback(
                        "CLU0900",
                        &[
                            ("context".to_string(), context.to_string()),
                            ("bound".to_string(), bound.to_string()),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                });
                false
            }
        }
    }

    fn deliver(client: ClientId, context: u32, m: &StoredMessage) -> Effect {
        Effect::Deliver {
            client,
            context,
            seq: m.seq,
            event_id: m.event_id,
            severity: m.severity,
            text: m
                .text
                .clone()
                .unwrap_or_else(|| Self::catalog().format_or_fallback(&m.code, &m.params)),
        }
    }

    fn context_mut(&mut self, client: ClientId, context: u32) -> Option<&mut ContextState> {
        self.clients.get_mut(&client)?.contexts.get_mut(&context)
    }

    fn context(&self, client: ClientId, context: u32) -> Option<&ContextState> {
        self.clients.get(&client)?.contexts.get(&context)
    }

    /// What a (re)connecting client that has seen up to `after` must be sent: every
    /// unacknowledged message above it, oldest first.
    pub fn resend(&self, client: ClientId, context: u32, after: u64) -> Vec<Effect> {
        self.context(client, context)
            .map(|c| {
                c.stack
                    .unacked_after(after)
                    .map(|m| Self::deliver(client, context, m))
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
                        let Effect::Deliver { seq, text, .. } = Self::deliver(client, context, m)
                        else {
                            unreachable!("deliver builds a Deliver")
                        };
                        (seq, text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest message's sequence number and text.
    pub fn top(&self, client: ClientId, context: u32) -> Option<(u64, String)> {
        self.list(client, context).into_iter().next()
    }

    pub fn acked_upto(&self, client: ClientId, context: u32) -> Option<u64> {
        self.context(client, context).map(|c| c.acked_upto)
    }

    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &str)> {
        self.clients.iter().map(|(id, c)| (*id, c.name.as_str()))
    }

    pub fn contexts(&self, client: ClientId) -> Vec<u32> {
        self.clients
            .get(&client)
            .map(|c| c.contexts.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn open_dialogues(&self) -> Vec<u64> {
        self.dialogues.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::catalog::params;

    fn ev(id: u64, code: &str, p: BTreeMap<String, String>) -> Event {
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

    fn setup(mode: FormatMode, bound: usize) -> (ClientManager, ClientId) {
        let mut m = ClientManager::new(mode, bound);
        let mut out = vec![];
        m.apply(&Command::Connect { name: "ui".into() }, &mut out);
        let Effect::Connected { client, .. } = out[0] else {
            panic!("{out:?}")
        };
        m.apply(&Command::OpenContext { client, context: 1 }, &mut out);
        m.apply(&Command::OpenContext { client, context: 2 }, &mut out);
        (m, client)
    }

    #[test]
    fn messages_stack_newest_first_and_ack_then_remove() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        for i in 1..=3 {
            m.apply(
                &Command::Accept {
                    client: c,
                    context: 1,
                    event: failed(i, &format!("t{i}")),
                },
                &mut out,
            );
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
            },
            &mut out,
        );
        assert_eq!(m.top(c, 1).unwrap().0, 2);
    }

    #[test]
    fn contexts_keep_their_own_lists() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let mut out = vec![];
        m.apply(
            &Command::Accept {
                client: c,
                context: 1,
                event: failed(1, "a"),
            },
            &mut out,
        );
        m.apply(
            &Command::Accept {
                client: c,
                context: 2,
                event: failed(2, "b"),
            },
            &mut out,
        );
        assert_eq!(m.list(c, 1).len(), 1);
        assert_eq!(m.list(c, 2).len(), 1);
        assert!(m.list(c, 2)[0].1.contains("Task b"));
        // Each context numbers its own stream.
        assert_eq!(m.list(c, 2)[0].0, 1);
    }

    #[test]
    fn both_format_modes_give_the_same_text_and_differ_in_what_is_stored() {
        for mode in [FormatMode::AtStore, FormatMode::AtDelivery] {
            let (mut m, c) = setup(mode, 16);
            let mut out = vec![];
            m.apply(
                &Command::Accept {
                    client: c,
                    context: 1,
                    event: failed(9, "load"),
                },
                &mut out,
            );
            let text = out
                .iter()
                .find_map(|e| match e {
                    Effect::Deliver { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(text, "CLU0101 Task load on node n2 failed: exit 3");
            let stored = &m.clients[&c].contexts[&1].stack.top().unwrap().text;
            assert_eq!(stored.is_some(), mode == FormatMode::AtStore, "{mode:?}");
        }
    }

    #[test]
    fn unknown_codes_and_missing_parameters_still_reach_the_client() {
        let (mut m, c) = setup(FormatMode::AtDelivery, 16);
        let mut out = vec![];
        m.apply(
            &Command::Accept {
                client: c,
                context: 1,
                event: ev(1, "CLU7777", params([("x", "1")])),
            },
            &mut out,
        );
        m.apply(
            &Command::Accept {
                client: c,
                context: 1,
                event: ev(2, "CLU0101", params([("task", "t")])),
            },
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
            m.apply(
                &Command::Accept {
                    client: c,
                    context: 1,
                    event: failed(i, "t"),
                },
                &mut out,
            );
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
    }

    #[test]
    fn a_dialogue_reply_goes_to_the_asking_task_and_a_timeout_gives_the_default() {
        let (mut m, c) = setup(FormatMode::AtStore, 16);
        let asking = TaskAddr { node: 3, task: 77 };
        let q = |d: u64| Command::Inquire {
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
            dialogue: d,
            asking,
            default_reply: "no".into(),
        };
        let mut out = vec![];
        m.apply(&q(1), &mut out);
        m.apply(&q(2), &mut out);
        assert_eq!(m.open_dialogues(), vec![1, 2]);
        out.clear();
        m.apply(
            &Command::Reply {
                dialogue: 1,
                reply: "yes".into(),
            },
            &mut out,
        );
        m.apply(&Command::Timeout { dialogue: 2 }, &mut out);
        // Late and duplicate answers find the dialogue closed.
        m.apply(
            &Command::Reply {
                dialogue: 2,
                reply: "yes".into(),
            },
            &mut out,
        );
        m.apply(&Command::Timeout { dialogue: 1 }, &mut out);
        assert_eq!(
            out,
            vec![
                Effect::RouteReply {
                    dialogue: 1,
                    to: asking,
                    reply: "yes".into(),
                    defaulted: false
                },
                Effect::RouteReply {
                    dialogue: 2,
                    to: asking,
                    reply: "no".into(),
                    defaulted: true
                },
            ]
        );
    }

    #[test]
    fn replicas_applying_the_same_commands_agree_and_resend_what_is_unacked() {
        let (mut a, c) = setup(FormatMode::AtDelivery, 8);
        let mut b = a.clone();
        let mut cmds = vec![];
        for i in 1..=5 {
            cmds.push(Command::Accept {
                client: c,
                context: 1,
                event: failed(i, "t"),
            });
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
        let seqs: Vec<u64> = b
            .resend(c, 1, 3)
            .iter()
            .map(|e| match e {
                Effect::Deliver { seq, .. } => *seq,
                _ => 0,
            })
            .collect();
        assert_eq!(seqs, vec![4, 5]);
    }
}
