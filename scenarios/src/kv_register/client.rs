//! A client of the key-value register, on a node outside the engine: one operation at a
//! time, a seeded mix of get, put and compare-and-set over a few keys, sent to the node it
//! takes for the master and following redirects and silences across failovers. It records
//! each invocation and completion as a `kv.*` trace event: the history the
//! linearizability checker reads.

use super::events::KvEvent;
use super::service::{KvRequest, KvResponse};
use madsim::rand::Rng;
use protocols::service::external::{External, MasterGuess};
use sim::emit;
use sim::linearizability::{KvInput, KvOutput};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct KvClientConfig {
    /// Nodes `0..engine_nodes` run the service.
    pub engine_nodes: usize,
    /// The keys it reads and writes.
    pub keys: Vec<Arc<str>>,
    /// The mean pause between one operation's completion and the next invocation.
    pub think_ms: u64,
    /// A node silent this long is given up for the next one, and the request sent again.
    pub retry_ms: u64,
    /// An operation unanswered this long is abandoned: its outcome stays unknown.
    pub give_up_ms: u64,
    /// The chances of a get and of a put; the rest are compare-and-sets.
    pub get_probability: f64,
    pub put_probability: f64,
    /// How soon a request redirected to another node is sent to it.
    pub redirect_ms: u64,
}

impl KvClientConfig {
    pub fn new(engine_nodes: usize) -> Self {
        KvClientConfig {
            engine_nodes,
            keys: ["x", "y", "z"].map(Arc::from).to_vec(),
            think_ms: 40,
            retry_ms: 150,
            give_up_ms: 1_000,
            get_probability: 0.4,
            put_probability: 0.3,
            redirect_ms: 10,
        }
    }
}

struct Pending {
    request: KvRequest,
    invoked_ns: u64,
    resend_at_ns: u64,
    /// The last node asked answered without serving: the next send is not a silence.
    redirected: bool,
}

/// One client's state machine.
pub struct KvClient {
    cfg: KvClientConfig,
    me: usize,
    master: MasterGuess,
    pending: Option<Pending>,
    next_req: u64,
    next_op_ns: u64,
    /// The last value this client saw under each key: what its compare-and-sets expect.
    seen: BTreeMap<Arc<str>, Arc<str>>,
}

impl KvClient {
    pub fn new(cfg: KvClientConfig, me: usize) -> Self {
        let master = MasterGuess::new(cfg.engine_nodes, cfg.retry_ms, 4 * cfg.retry_ms);
        KvClient {
            cfg,
            me,
            master,
            pending: None,
            next_req: 0,
            next_op_ns: 0,
            seen: BTreeMap::new(),
        }
    }

    /// The next operation, from the run's seeded randomness. Written values are unique
    /// (`node.request`), so a read names the write it saw.
    fn choose(&mut self, req: u64) -> KvInput {
        let mut rng = madsim::rand::thread_rng();
        let key = self.cfg.keys[rng.gen_range(0..self.cfg.keys.len())].clone();
        let unique: Arc<str> = format!("{}.{req}", self.me).into();
        let p: f64 = rng.gen();
        if p < self.cfg.get_probability {
            KvInput::Get { key }
        } else if p < self.cfg.get_probability + self.cfg.put_probability {
            KvInput::Put { key, value: unique }
        } else {
            let from = self.seen.get(&key).cloned().unwrap_or_default();
            KvInput::Cas {
                key,
                from,
                to: unique,
            }
        }
    }

    fn invoke(&mut self, now: u64, out: &mut Vec<(usize, KvRequest)>) {
        self.next_req += 1;
        let req = self.next_req;
        let op = self.choose(req);
        let (name, key, value, from) = match &op {
            KvInput::Get { key } => ("get", key, None, None),
            KvInput::Put { key, value } => ("put", key, Some(value.clone()), None),
            KvInput::Append { key, value } => ("append", key, Some(value.clone()), None),
            KvInput::Cas { key, from, to } => ("cas", key, Some(to.clone()), Some(from.clone())),
        };
        let key = key.clone();
        emit!(
            self.me,
            KvEvent::Invoke {
                req,
                op: name,
                key,
                value,
                from,
            }
        );
        let request = KvRequest { req, op };
        out.push((self.master.target(), request.clone()));
        self.pending = Some(Pending {
            request,
            invoked_ns: now,
            resend_at_ns: now + self.cfg.retry_ms * 1_000_000,
            redirected: false,
        });
    }

    /// The pending operation is over; the next one starts after a pause.
    fn finish(&mut self, now: u64) {
        self.pending = None;
        let think = self.cfg.think_ms;
        let pause_ms = madsim::rand::thread_rng().gen_range(think / 2..=think * 3 / 2);
        self.next_op_ns = now + pause_ms * 1_000_000;
    }
}

impl External for KvClient {
    type Req = KvRequest;
    type Resp = KvResponse;

    fn on_tick(&mut self, now: u64, out: &mut Vec<(usize, KvRequest)>) {
        let Some(p) = &mut self.pending else {
            if now >= self.next_op_ns {
                self.invoke(now, out);
            }
            return;
        };
        if now >= p.invoked_ns + self.cfg.give_up_ms * 1_000_000 {
            let req = p.request.req;
            emit!(self.me, KvEvent::GaveUp { req });
            return self.finish(now);
        }
        if now < p.resend_at_ns {
            return;
        }
        // Silence (the node may be down or cut off) moves on to the next node.
        let wait_ms = self.master.resend(p.redirected, self.cfg.retry_ms);
        p.redirected = false;
        p.resend_at_ns = now + wait_ms * 1_000_000;
        out.push((self.master.target(), p.request.clone()));
    }

    /// Ticked only at its deadlines: the next invocation, or the pending operation's resend
    /// or give-up time, whichever comes first.
    fn next_tick_ns(&self, _periodic_ns: u64) -> u64 {
        match &self.pending {
            None => self.next_op_ns,
            Some(p) => p
                .resend_at_ns
                .min(p.invoked_ns + self.cfg.give_up_ms * 1_000_000),
        }
    }

    fn on_response(
        &mut self,
        from: usize,
        r: KvResponse,
        now: u64,
        _out: &mut Vec<(usize, KvRequest)>,
    ) {
        let Some(p) = &mut self.pending else {
            return;
        };
        let soon = now + self.cfg.redirect_ms * 1_000_000;
        let (req, event) = match r {
            KvResponse::NotMaster { master } => {
                if from == self.master.target() {
                    self.master.redirected(from, master);
                    p.redirected = true;
                    p.resend_at_ns = soon;
                }
                return;
            }
            KvResponse::NotReady => {
                if from == self.master.target() {
                    self.master.point_at(from);
                    p.redirected = true;
                    p.resend_at_ns = now + self.cfg.retry_ms * 1_000_000 / 2;
                }
                return;
            }
            KvResponse::Rejected { req, why } => (req, KvEvent::Rejected { req, why }),
            KvResponse::Done { req, output } => {
                let event = match output {
                    KvOutput::Value(v) => KvEvent::Ok {
                        req,
                        value: Some(v),
                    },
                    KvOutput::Ok => KvEvent::Ok { req, value: None },
                    KvOutput::Failed => KvEvent::Failed { req },
                };
                (req, event)
            }
        };
        // An answer to an operation this client gave up on, or a second copy.
        if req != p.request.req {
            return;
        }
        self.master.found(from);
        match (&p.request.op, &event) {
            (KvInput::Get { key }, KvEvent::Ok { value: Some(v), .. }) => {
                self.seen.insert(key.clone(), v.clone());
            }
            (
                KvInput::Put { key, value } | KvInput::Cas { key, to: value, .. },
                KvEvent::Ok { .. },
            ) => {
                self.seen.insert(key.clone(), value.clone());
            }
            _ => {}
        }
        emit!(self.me, event);
        self.finish(now);
    }
}
