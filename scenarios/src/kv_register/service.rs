//! The key-value register as a replicated service: its state machine (a map from keys to
//! values, and each client's last applied request) and its [`App`], the logic of each
//! engine node's main thread.
//!
//! **Writes** (put and compare-and-set) are commands: the master multicasts them, every
//! replica applies them at the same point of the group's agreed order, and the master
//! that applies one answers its client. A client that hears nothing asks again, maybe
//! another node; the state machine remembers each client's last applied request and its
//! result, so a command proposed twice takes effect once and both copies answer the same.
//!
//! **Reads** are served by the master from its own replica, under the master lease, and
//! not ordered through the group. That is linearizable because of what the service layer
//! guarantees the master ([`protocols::service::shell`]): it serves only while it holds
//! the lease and its replica is synced, a new master waits out the old one's lease before
//! it serves, so two nodes never serve at once; and a new master's replica holds every
//! command the old one applied. Only the serving master answers writes, after it applied
//! them, so every write a client saw acknowledged is in the state the master reads, and a
//! read returns the state after every write acknowledged before it. Ordering reads through
//! the group as commands would be correct too, without the lease, at the price of a
//! multicast and a stable delivery per read.

use super::events::KvEvent;
use protocols::service::replica::StateMachine;
use protocols::service::shell::{App, Applied, Env};
use sim::emit;
use sim::linearizability::{KvInput, KvOutput};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A client's request: its number (each client numbers its own), and the operation.
#[derive(Clone, Debug)]
pub struct KvRequest {
    pub req: u64,
    pub op: KvInput,
}

/// What a node answers a client.
#[derive(Clone, Debug)]
pub enum KvResponse {
    /// The request `req` completed with `output`.
    Done { req: u64, output: KvOutput },
    /// This node does not serve; `master` is the one it believes does, if any.
    NotMaster { master: Option<usize> },
    /// This node is the master but does not serve yet (it waits out the old master's
    /// lease, or catches up): ask again soon.
    NotReady,
    /// The request is malformed; it never took effect.
    Rejected { req: u64, why: String },
}

/// The datagrams between clients and the service.
#[derive(Clone, Debug)]
pub enum KvWire {
    Req(KvRequest),
    Resp(KvResponse),
}

/// A write, as the group orders it: who asked, and what.
#[derive(Clone, Debug)]
pub struct KvCommand {
    pub client: usize,
    pub req: u64,
    pub op: KvInput,
}

/// A command the state machine applied, and the answer its client gets.
#[derive(Clone, Debug)]
pub struct KvApplied {
    pub client: usize,
    pub req: u64,
    pub output: KvOutput,
}

/// The replicated state: the map, and each client's last applied request with its result.
#[derive(Clone, Debug, Default)]
pub struct KvState {
    map: BTreeMap<Arc<str>, Arc<str>>,
    sessions: BTreeMap<usize, (u64, KvOutput)>,
}

impl KvState {
    /// The key's value; a key never written reads as the empty string.
    pub fn get(&self, key: &str) -> Arc<str> {
        self.map.get(key).cloned().unwrap_or_default()
    }
}

impl StateMachine for KvState {
    type Command = KvCommand;
    type Effect = KvApplied;

    fn apply(&mut self, cmd: &KvCommand, out: &mut Vec<KvApplied>) {
        let answer = |output| KvApplied {
            client: cmd.client,
            req: cmd.req,
            output,
        };
        match self.sessions.get(&cmd.client) {
            // A copy of the request applied last: it takes effect once, and answers alike.
            Some((req, output)) if *req == cmd.req => return out.push(answer(output.clone())),
            // An older request of a client that has moved on: nobody waits for it.
            Some((req, _)) if *req > cmd.req => return,
            _ => {}
        }
        let output = match &cmd.op {
            KvInput::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
                KvOutput::Ok
            }
            KvInput::Append { key, value } => {
                let appended = format!("{}{value}", self.get(key));
                self.map.insert(key.clone(), appended.into());
                KvOutput::Ok
            }
            KvInput::Cas { key, from, to } if self.get(key) == *from => {
                self.map.insert(key.clone(), to.clone());
                KvOutput::Ok
            }
            KvInput::Cas { .. } => KvOutput::Failed,
            // Reads are not commands; one proposed anyway reads the state in order.
            KvInput::Get { key } => KvOutput::Value(self.get(key)),
        };
        self.sessions.insert(cmd.client, (cmd.req, output.clone()));
        out.push(answer(output));
    }
}

/// The longest key and value the service accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 64;
pub const MAX_VALUE_BYTES: usize = 1024;

/// A request on its way through a work thread: who sent it.
pub struct Incoming {
    pub from: usize,
    pub request: KvRequest,
}

/// The planted bugs of the service's own logic.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvBugs {
    /// The master answers a compare-and-set from its own replica as soon as it proposes
    /// it, before the group applies it.
    pub cas_ack_early: bool,
}

/// The service's logic on one engine node.
pub struct KvService {
    pub bugs: KvBugs,
}

impl KvService {
    fn answer(env: &mut Env<'_, Self>, to: usize, response: KvResponse) {
        env.send_external(to, KvWire::Resp(response));
    }

    /// Why this node does not serve a request now.
    fn not_serving(env: &Env<'_, Self>) -> KvResponse {
        match env.master() {
            Some(m) if m == env.node() => KvResponse::NotReady,
            master => KvResponse::NotMaster { master },
        }
    }
}

impl App for KvService {
    type Sm = KvState;
    type Ext = KvWire;
    type Peer = ();
    type Work = Incoming;
    type Done = Result<Incoming, (Incoming, String)>;
    type Worker = ();

    fn initial_state(&self) -> KvState {
        KvState::default()
    }

    fn new_worker(&self, _index: u32) {}

    /// A work thread checks a request before the main thread acts on it.
    fn work(_: &mut (), item: Incoming) -> Self::Done {
        let (key, value) = match &item.request.op {
            KvInput::Get { key } => (key, ""),
            KvInput::Put { key, value } | KvInput::Append { key, value } => (key, &**value),
            KvInput::Cas { key, to, .. } => (key, &**to),
        };
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err((item, format!("a key takes 1 to {MAX_KEY_BYTES} bytes")));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err((
                item,
                format!("a value takes at most {MAX_VALUE_BYTES} bytes"),
            ));
        }
        Ok(item)
    }

    fn on_external(&mut self, env: &mut Env<'_, Self>, from: usize, msg: KvWire) {
        let KvWire::Req(request) = msg else { return };
        if !env.serving() {
            return Self::answer(env, from, Self::not_serving(env));
        }
        let thread = request.req as u32 % env.work_threads().max(1);
        // No work thread (the job is between incarnations): the client asks again.
        env.dispatch(thread, Incoming { from, request });
    }

    fn on_work_done(&mut self, env: &mut Env<'_, Self>, _thread: u32, done: Self::Done) {
        let Incoming { from, request } = match done {
            Ok(incoming) => incoming,
            Err((incoming, why)) => {
                let req = incoming.request.req;
                return Self::answer(env, incoming.from, KvResponse::Rejected { req, why });
            }
        };
        // The role may have changed while the request was on the work thread.
        let Some(view) = env.serving_view() else {
            return Self::answer(env, from, Self::not_serving(env));
        };
        let req = request.req;
        if let KvInput::Get { key } = &request.op {
            // A read under the lease: the master's replica holds every acknowledged write.
            let Some(value) = env.state(|s| s.get(key)) else {
                return Self::answer(env, from, Self::not_serving(env));
            };
            emit!(
                env.node(),
                KvEvent::Read {
                    view,
                    client: from as u64,
                    req,
                    key: key.clone(),
                    value: value.clone(),
                }
            );
            let output = KvOutput::Value(value);
            return Self::answer(env, from, KvResponse::Done { req, output });
        }
        if self.bugs.cas_ack_early {
            if let KvInput::Cas {
                key, from: expect, ..
            } = &request.op
            {
                if env.state(|s| s.get(key) == *expect) == Some(true) {
                    let output = KvOutput::Ok;
                    Self::answer(env, from, KvResponse::Done { req, output });
                }
            }
        }
        let op = request.op;
        emit!(
            env.node(),
            KvEvent::Propose {
                view,
                client: from as u64,
                req,
            }
        );
        let cmd = KvCommand {
            client: from,
            req,
            op,
        };
        if !env.propose(cmd) {
            Self::answer(env, from, Self::not_serving(env));
        }
    }

    /// The serving master answers each write when its replica applies it.
    fn on_applied(&mut self, env: &mut Env<'_, Self>, applied: Applied<KvState>) {
        let Some(view) = env.serving_view() else {
            return;
        };
        for KvApplied {
            client,
            req,
            output,
        } in applied.effects
        {
            emit!(
                env.node(),
                KvEvent::Answer {
                    view,
                    client: client as u64,
                    req,
                    at: applied.pos,
                }
            );
            Self::answer(env, client, KvResponse::Done { req, output });
        }
    }

    fn on_tick(&mut self, _env: &mut Env<'_, Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: usize, req: u64, op: KvInput) -> KvCommand {
        KvCommand { client, req, op }
    }

    fn cas(from: &str, to: &str) -> KvInput {
        KvInput::Cas {
            key: "k".into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn a_command_proposed_twice_takes_effect_once_and_answers_alike() {
        let mut s = KvState::default();
        let mut out = vec![];
        s.apply(&cmd(7, 1, cas("", "a")), &mut out);
        // Another client writes in between; then the retried copy arrives.
        s.apply(&cmd(8, 1, cas("a", "b")), &mut out);
        s.apply(&cmd(7, 1, cas("", "a")), &mut out);
        let outputs: Vec<_> = out.iter().map(|a| (a.client, a.output.clone())).collect();
        assert_eq!(
            outputs,
            [(7, KvOutput::Ok), (8, KvOutput::Ok), (7, KvOutput::Ok)]
        );
        assert_eq!(&*s.get("k"), "b");
        // An older request of a client that moved on is dropped without an answer.
        out.clear();
        s.apply(&cmd(7, 2, cas("b", "c")), &mut out);
        s.apply(&cmd(7, 1, cas("", "a")), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&*s.get("k"), "c");
        s.apply(&cmd(8, 2, cas("b", "d")), &mut out);
        assert_eq!(out[1].output, KvOutput::Failed);
    }
}
