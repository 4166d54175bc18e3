//! A client process on a node outside the engine: it finds the master, connects (or
//! reconnects, naming what it received), opens its contexts, receives pushed messages
//! exactly once, acknowledges them, answers dialogue questions, and reads and prunes its
//! message lists.
//!
//! Finding the master: the client knows the engine's node list. It says `Hello` to the
//! node it believes is master; a node that is not answers with a redirect (to the master
//! of its view, if it has one), the master of a view that does not serve yet with
//! `NotReady`. Silence is met with the next node, with exponential backoff. A master that
//! stays silent past the session timeout is given up on the same way.
//!
//! Exactly once, in order: pushes and resends may arrive twice or out of order; the client
//! keeps the sequence numbers it received per context, holds a message back until every
//! one below it arrived, and hands each to its user once, in the list's order.
//! Acknowledgements are cumulative: "everything up to n". Every copy that arrives is
//! reported (`client.receive`, duplicates included), so the checkers judge the stream the
//! client received and not only what it kept.
//!
//! Trace events: [`ClientEvent`] (`client.*`).

use super::events::ClientEvent;
use super::manager::{ClientId, EventId, Question};
use super::wire::{ClientWire, Request, Response};
use crate::service::external::{run_external, External, MasterGuess};
use madsim::rand::Rng;
use sim::emit;
use sim::time::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub engine_nodes: usize,
    pub contexts: u32,
    pub tick_ms: u64,
    pub poll_ms: u64,
    /// A master silent for this long is given up on.
    pub session_timeout_ms: u64,
    /// An unanswered request is sent again after this long.
    pub request_retry_ms: u64,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// The chance that the user answers a question at all.
    pub reply_probability: f64,
    /// How long the user thinks before answering (uniform up to this).
    pub think_max_ms: u64,
    /// The mean time between the user's list, top and remove operations.
    pub op_every_ms: u64,
}

impl ClientConfig {
    pub fn new(engine_nodes: usize) -> Self {
        ClientConfig {
            engine_nodes,
            contexts: 2,
            tick_ms: 50,
            poll_ms: 300,
            session_timeout_ms: 1_200,
            request_retry_ms: 500,
            backoff_min_ms: 100,
            backoff_max_ms: 1_600,
            reply_probability: 0.75,
            think_max_ms: 2_000,
            op_every_ms: 800,
        }
    }
}

/// A message received above a gap, waiting for the messages below it.
struct Held {
    event_id: u64,
    question: Option<Question>,
    text: String,
}

#[derive(Default)]
struct Ctx {
    opened: bool,
    /// Everything up to here was received and handed to the user.
    contiguous: u64,
    /// Messages received above `contiguous`, held back until the gap below them fills.
    ahead: BTreeMap<u64, Held>,
    removed: BTreeSet<u64>,
}

impl Ctx {
    fn received(&self, seq: u64) -> bool {
        seq <= self.contiguous || self.ahead.contains_key(&seq)
    }

    /// Takes `seq`; returns the messages now handed over, in order.
    fn receive(&mut self, seq: u64, held: Held) -> Vec<(u64, Held)> {
        self.ahead.insert(seq, held);
        let mut ready = Vec::new();
        while let Some(m) = self.ahead.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
            ready.push((self.contiguous, m));
        }
        ready
    }
}

/// A request waiting for its answer.
struct Pending {
    req: Request,
    /// When it was first sent: an answer reflects the master's state after that.
    asked_ns: u64,
    sent_ns: u64,
}

/// One client.
pub struct Client {
    cfg: ClientConfig,
    me: usize,
    name: String,
    id: Option<ClientId>,
    contexts: BTreeMap<u32, Ctx>,
    /// The node believed to be master.
    master: MasterGuess,
    connected: bool,
    last_heard_ns: u64,
    next_hello_ns: u64,
    next_poll_ns: u64,
    op: Option<Pending>,
    next_req: u64,
    next_op_ns: u64,
    /// Answers the user decided on: dialogue -> (when, reply).
    replies: BTreeMap<u64, (u64, String)>,
}

impl Client {
    pub fn new(cfg: ClientConfig, me: usize) -> Self {
        let contexts = (1..=cfg.contexts).map(|c| (c, Ctx::default())).collect();
        Client {
            master: MasterGuess::new(cfg.engine_nodes, cfg.backoff_min_ms, cfg.backoff_max_ms),
            cfg,
            me,
            name: format!("client-n{me}"),
            id: None,
            contexts,
            connected: false,
            last_heard_ns: 0,
            next_hello_ns: 0,
            next_poll_ns: 0,
            op: None,
            next_req: 0,
            next_op_ns: 0,
            replies: BTreeMap::new(),
        }
    }

    fn acked(&self) -> Vec<(u32, u64)> {
        self.contexts
            .iter()
            .map(|(c, x)| (*c, x.contiguous))
            .collect()
    }

    fn hello(&self) -> Request {
        Request::Hello {
            name: self.name.clone(),
            client: self.id,
            acked: if self.id.is_some() {
                self.acked()
            } else {
                Vec::new()
            },
        }
    }

    /// Time passes: reconnect, poll, retry, and do what the user wants.
    fn tick(&mut self, now: u64, out: &mut Vec<(usize, Request)>) {
        let mut rng = madsim::rand::thread_rng();
        if self.connected && now > self.last_heard_ns + self.cfg.session_timeout_ms * 1_000_000 {
            emit!(
                self.me,
                ClientEvent::Lost {
                    master: self.master.target().into()
                }
            );
            self.connected = false;
            self.master.skip();
            self.next_hello_ns = now;
        }
        if !self.connected {
            if now >= self.next_hello_ns {
                out.push((self.master.target(), self.hello()));
                // Silence until the next attempt moves on to the next node, backing off.
                self.next_hello_ns = now + self.master.move_on() * 1_000_000;
            }
            return;
        }
        let Some(client) = self.id else {
            return;
        };
        if now >= self.next_poll_ns {
            self.next_poll_ns = now + self.cfg.poll_ms * 1_000_000;
            out.push((
                self.master.target(),
                Request::Poll {
                    client,
                    acked: self.acked(),
                },
            ));
        }
        if let Some(p) = &mut self.op {
            if now >= p.sent_ns + self.cfg.request_retry_ms * 1_000_000 {
                p.sent_ns = now;
                out.push((self.master.target(), p.req.clone()));
            }
            return;
        }
        let req = self.next_op(client, now, &mut rng);
        if let Some(req) = req {
            self.op = Some(Pending {
                req: req.clone(),
                asked_ns: now,
                sent_ns: now,
            });
            out.push((self.master.target(), req));
        }
    }

    fn next_op(&mut self, client: ClientId, now: u64, rng: &mut impl Rng) -> Option<Request> {
        if let Some((context, _)) = self.contexts.iter().find(|(_, x)| !x.opened) {
            return Some(Request::Open {
                client,
                context: *context,
            });
        }
        if let Some((&dialogue, (_, reply))) = self.replies.iter().find(|(_, (t, _))| *t <= now) {
            let reply = reply.clone();
            self.replies.remove(&dialogue);
            emit!(
                self.me,
                ClientEvent::Reply {
                    client,
                    dialogue: EventId(dialogue),
                    reply: reply.clone(),
                }
            );
            self.next_req += 1;
            return Some(Request::Reply {
                client,
                dialogue,
                reply,
                req: self.next_req,
            });
        }
        if now < self.next_op_ns {
            return None;
        }
        self.next_op_ns = now + rng.gen_range(1..=2 * self.cfg.op_every_ms) * 1_000_000;
        let context = rng.gen_range(1..=self.cfg.contexts);
        self.next_req += 1;
        let req = self.next_req;
        match rng.gen_range(0..10) {
            0..=3 => Some(Request::List {
                client,
                context,
                req,
            }),
            4..=6 => Some(Request::Top {
                client,
                context,
                req,
            }),
            _ => {
                // Prune the oldest message it has seen and not removed yet.
                let x = &self.contexts[&context];
                let seq = (1..=x.contiguous).find(|s| !x.removed.contains(s))?;
                Some(Request::Remove {
                    client,
                    context,
                    seq,
                    req,
                })
            }
        }
    }

    /// A node answered, or the master pushed.
    fn response(&mut self, from: usize, r: Response, now: u64, out: &mut Vec<(usize, Request)>) {
        let mut rng = madsim::rand::thread_rng();
        match r {
            Response::Redirect { master } => {
                // Our master is not (any more), or a node we asked points elsewhere.
                if !self.connected || from == self.master.target() {
                    self.connected = false;
                    self.master.redirected(from, master);
                    let soon = now + self.cfg.backoff_min_ms * 1_000_000;
                    self.next_hello_ns = self.next_hello_ns.min(soon);
                }
                return;
            }
            Response::NotReady => {
                // The master of the view, catching up or waiting out a lease: ask it again.
                if !self.connected || from == self.master.target() {
                    self.connected = false;
                    self.master.point_at(from);
                    self.next_hello_ns = now + self.cfg.backoff_min_ms * 1_000_000;
                }
                return;
            }
            Response::Welcome {
                client,
                ref contexts,
            } => {
                let resumed = self.id == Some(client);
                self.id = Some(client);
                self.master.found(from);
                self.connected = true;
                self.next_poll_ns = now;
                for c in contexts {
                    if let Some(x) = self.contexts.get_mut(c) {
                        x.opened = true;
                    }
                }
                emit!(
                    self.me,
                    ClientEvent::Welcome {
                        client,
                        master: from.into(),
                        resumed,
                    }
                );
                // A request in flight to the old master goes to the new one now.
                if let Some(p) = &mut self.op {
                    p.sent_ns = now;
                    out.push((from, p.req.clone()));
                }
            }
            _ => {}
        }
        if from == self.master.target() {
            self.last_heard_ns = now;
        }
        let Some(client) = self.id else {
            return;
        };
        match r {
            Response::Push {
                context,
                seq,
                event_id,
                question,
                text,
                ..
            } => {
                let Some(x) = self.contexts.get_mut(&context) else {
                    return;
                };
                let duplicate = x.received(seq);
                emit!(
                    self.me,
                    ClientEvent::Receive {
                        client,
                        context,
                        seq,
                        event: EventId(event_id),
                        master: from.into(),
                        duplicate,
                    }
                );
                if duplicate {
                    return;
                }
                let held = Held {
                    event_id,
                    question,
                    text,
                };
                for (seq, m) in x.receive(seq, held) {
                    emit!(
                        self.me,
                        ClientEvent::Deliver {
                            client,
                            context,
                            seq,
                            event: EventId(m.event_id),
                            question: m.question.is_some(),
                            text: m.text,
                        }
                    );
                    if let Some(q) = m.question {
                        if rng.gen_bool(self.cfg.reply_probability) {
                            let at = now + rng.gen_range(0..=self.cfg.think_max_ms) * 1_000_000;
                            let reply = if q.default_reply == "yes" {
                                "no"
                            } else {
                                "yes"
                            };
                            self.replies.insert(q.dialogue, (at, reply.to_string()));
                        }
                    }
                }
            }
            Response::Opened { context } => {
                if let Some(x) = self.contexts.get_mut(&context) {
                    x.opened = true;
                }
                self.finish(|r| matches!(r, Request::Open { context: c, .. } if *c == context));
            }
            Response::Listed {
                context,
                req,
                messages,
            } => {
                if let Some(asked) = self.finish_req(req) {
                    emit!(
                        self.me,
                        ClientEvent::List {
                            client,
                            context,
                            seqs: messages.iter().map(|(s, _)| *s).collect(),
                            asked: SimTime(asked),
                        }
                    );
                }
            }
            Response::Topped { context, req, top } => {
                if let Some(asked) = self.finish_req(req) {
                    emit!(
                        self.me,
                        ClientEvent::Top {
                            client,
                            context,
                            seq: top.map(|t| t.0),
                            asked: SimTime(asked),
                        }
                    );
                }
            }
            Response::Removed { context, seq, req } => self.removed(client, context, seq, req),
            Response::Replied { req, .. } => {
                self.finish_req(req);
            }
            _ => {}
        }
    }

    /// The master removed `seq` from the context's list, as request `req` asked.
    fn removed(&mut self, client: ClientId, context: u32, seq: u64, req: u64) {
        if self.finish_req(req).is_none() {
            return;
        }
        if let Some(x) = self.contexts.get_mut(&context) {
            x.removed.insert(seq);
        }
        emit!(
            self.me,
            ClientEvent::Remove {
                client,
                context,
                seq,
            }
        );
    }

    /// Ends the pending request numbered `req`; returns when it was first sent.
    fn finish_req(&mut self, req: u64) -> Option<u64> {
        let n = match &self.op {
            Some(Pending {
                req:
                    Request::List { req: n, .. }
                    | Request::Top { req: n, .. }
                    | Request::Remove { req: n, .. }
                    | Request::Reply { req: n, .. },
                ..
            }) => *n,
            _ => return None,
        };
        if n != req {
            return None;
        }
        let p = self.op.take().expect("pending");
        Some(p.asked_ns)
    }

    fn finish(&mut self, matches: impl Fn(&Request) -> bool) {
        if self.op.as_ref().is_some_and(|p| matches(&p.req)) {
            self.op = None;
        }
    }
}

impl External for Client {
    type Req = Request;
    type Resp = Response;

    fn on_tick(&mut self, now: u64, out: &mut Vec<(usize, Request)>) {
        self.tick(now, out);
    }

    fn on_response(&mut self, from: usize, r: Response, now: u64, out: &mut Vec<(usize, Request)>) {
        self.response(from, r, now, out);
    }
}

/// The client's process: its state machine driven by the network and a tick.
pub async fn run_client<P: crate::engine::AppPayload>(
    ctx: sim::NodeCtx<crate::engine::membership::Wire<P>>,
    cfg: ClientConfig,
    wrap: fn(ClientWire) -> P,
    unwrap: fn(P) -> Option<ClientWire>,
) {
    let tick_ms = cfg.tick_ms;
    let client = Client::new(cfg, ctx.id);
    run_external(
        ctx,
        tick_ms,
        client,
        move |req| wrap(ClientWire::Req(req)),
        move |p| match unwrap(p) {
            Some(ClientWire::Resp(r)) => Some(r),
            _ => None,
        },
    )
    .await;
}
