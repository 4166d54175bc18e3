//! A UI client on a node outside the engine: a user with a credential (or none) who starts
//! processes, invokes actions on them, lists them and polls their status, one request at a
//! time, at the primary.
//!
//! Finding the primary: the client sends its request to the node it believes is the
//! primary; a node that is not answers with a redirect (to the master of its view, if it
//! has one), the master of a view that does not serve yet with `NotReady`; both are tried
//! again shortly. Silence past `request_retry_ms` moves on to the next node, backing off.
//! A retried request keeps its number, so the answer to any copy ends it.
//!
//! The client does what its user would whatever the credential, so users without the
//! right to do something try it anyway (a viewer cancels, an unknown user polls a process
//! id it guessed): the PMS must refuse them.
//!
//! Trace events: [`UiEvent`] (`ui.request` once per request, as first sent; `ui.reply`
//! for the answer it took).

use super::authz::Credential;
use super::events::{RequestId, ThreadView, UiEvent, UiOutcome};
use super::status::Action;
use super::wire::{Op, UiRequest, UiResponse};
use crate::service::external::{External, MasterGuess};
use madsim::rand::seq::SliceRandom;
use madsim::rand::Rng;
use sim::emit;
use std::collections::{BTreeSet, VecDeque};

/// A script a user may start: its text, how many threads, and whether they retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptSpec {
    pub name: &'static str,
    pub source: String,
    pub threads: u32,
    pub retry: bool,
}

/// How a UI client behaves.
#[derive(Clone, Debug)]
pub struct UiConfig {
    pub engine_nodes: usize,
    pub cred: Option<Credential>,
    /// What the user starts, chosen at random.
    pub scripts: Vec<ScriptSpec>,
    /// At most this many processes per user.
    pub max_starts: u32,
    /// Process ids the user acts on without having listed them (guesses).
    pub guesses: Vec<u64>,
    pub tick_ms: u64,
    /// The mean time between the user's requests.
    pub op_every_ms: u64,
    /// An unanswered request goes to the next node after this long.
    pub request_retry_ms: u64,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// A scripted user: these requests, each once its time (ms) has come and the previous
    /// one was answered, and nothing else. Empty: the user chooses at random.
    pub plan: Vec<(u64, Op)>,
}

impl UiConfig {
    pub fn new(engine_nodes: usize, cred: Option<Credential>) -> Self {
        UiConfig {
            engine_nodes,
            cred,
            scripts: Vec::new(),
            max_starts: 3,
            guesses: Vec::new(),
            tick_ms: 50,
            op_every_ms: 500,
            request_retry_ms: 400,
            backoff_min_ms: 100,
            backoff_max_ms: 1_600,
            plan: Vec::new(),
        }
    }
}

struct Pending {
    req: UiRequest,
    resend_at_ns: u64,
    /// Sent again because a node answered with a redirection, not because of silence.
    redirected: bool,
}

/// One UI client.
pub struct Ui {
    cfg: UiConfig,
    me: usize,
    /// The node believed to be the primary.
    master: MasterGuess,
    pending: Option<Pending>,
    next_req: u64,
    next_op_ns: u64,
    known: BTreeSet<u64>,
    starts: u32,
    /// Round-robin over known processes for status polls.
    cursor: u64,
    /// What is left of a scripted user's plan.
    plan: VecDeque<(u64, Op)>,
}

impl Ui {
    pub fn new(cfg: UiConfig, me: usize) -> Self {
        let known = cfg.guesses.iter().copied().collect();
        let plan = cfg.plan.iter().cloned().collect();
        Ui {
            plan,
            master: MasterGuess::new(cfg.engine_nodes, cfg.backoff_min_ms, cfg.backoff_max_ms),
            cfg,
            me,
            pending: None,
            next_req: 0,
            next_op_ns: 0,
            known,
            starts: 0,
            cursor: 0,
        }
    }

    /// The next known process after the cursor, round-robin.
    fn next_known(&mut self) -> Option<u64> {
        let p = self
            .known
            .range(self.cursor + 1..)
            .next()
            .or_else(|| self.known.iter().next())
            .copied()?;
        self.cursor = p;
        Some(p)
    }

    fn choose(&mut self, rng: &mut impl Rng) -> Op {
        let roll = rng.gen_range(0..100);
        let can_start = self.starts < self.cfg.max_starts && !self.cfg.scripts.is_empty();
        if can_start && (self.known.is_empty() || roll < 15) {
            self.starts += 1;
            let s = self.cfg.scripts.choose(rng).expect("scripts").clone();
            return Op::Start {
                name: format!("{}-{}", s.name, self.next_req + 1),
                script: s.source,
                threads: s.threads,
                retry: s.retry,
            };
        }
        let known: Vec<u64> = self.known.iter().copied().collect();
        let Some(&any) = known.choose(rng) else {
            return Op::List;
        };
        // Cancels are rare: a cancelled process has nothing left to watch.
        match roll {
            0..=59 => Op::Status {
                process: self.next_known().unwrap_or(any),
            },
            60..=69 => Op::List,
            70..=79 => Op::Act {
                process: any,
                action: Action::Pause,
            },
            80..=93 => Op::Act {
                process: any,
                action: Action::Resume,
            },
            _ => Op::Act {
                process: any,
                action: Action::Cancel,
            },
        }
    }

    fn reply(
        &self,
        req: &UiRequest,
        outcome: UiOutcome,
        data: bool,
        threads: Vec<ThreadView>,
        text: String,
    ) {
        emit!(
            self.me,
            UiEvent::Reply {
                req: RequestId {
                    client: self.me.into(),
                    req: req.req,
                },
                op: req.op.name(),
                process: req.op.process(),
                outcome,
                data,
                threads,
                text,
            }
        );
    }
}

impl External for Ui {
    type Req = UiRequest;
    type Resp = UiResponse;

    fn on_tick(&mut self, now: u64, out: &mut Vec<(usize, UiRequest)>) {
        if let Some(p) = &mut self.pending {
            if now < p.resend_at_ns {
                return;
            }
            // Silence (the node may be down or cut off) moves on to the next node.
            let wait_ms = self.master.resend(p.redirected, self.cfg.request_retry_ms);
            p.redirected = false;
            p.resend_at_ns = now + wait_ms * 1_000_000;
            out.push((self.master.target(), p.req.clone()));
            return;
        }
        let op = if self.cfg.plan.is_empty() {
            if now < self.next_op_ns {
                return;
            }
            let mut rng = madsim::rand::thread_rng();
            let every = self.cfg.op_every_ms;
            self.next_op_ns = now + rng.gen_range(every / 2..=every * 3 / 2) * 1_000_000;
            self.choose(&mut rng)
        } else {
            match self.plan.front() {
                Some((at_ms, _)) if *at_ms * 1_000_000 <= now => {
                    self.plan.pop_front().expect("front").1
                }
                _ => return,
            }
        };
        self.next_req += 1;
        let req = UiRequest {
            cred: self.cfg.cred.clone(),
            req: self.next_req,
            op,
        };
        let (user, secret) = req
            .cred
            .as_ref()
            .map_or(("", ""), |c| (c.user.as_str(), c.secret.as_str()));
        emit!(
            self.me,
            UiEvent::Request {
                req: RequestId {
                    client: self.me.into(),
                    req: req.req,
                },
                op: req.op.name(),
                process: req.op.process(),
                user: user.to_string(),
                secret: secret.to_string(),
            }
        );
        out.push((self.master.target(), req.clone()));
        self.pending = Some(Pending {
            req,
            resend_at_ns: now + self.cfg.request_retry_ms * 1_000_000,
            redirected: false,
        });
    }

    fn on_response(
        &mut self,
        from: usize,
        r: UiResponse,
        now: u64,
        _out: &mut Vec<(usize, UiRequest)>,
    ) {
        let Some(p) = &mut self.pending else {
            return;
        };
        let soon = now + self.cfg.backoff_min_ms * 1_000_000;
        match r {
            UiResponse::Redirect { master } => {
                if from == self.master.target() {
                    self.master.redirected(from, master);
                    p.redirected = true;
                    p.resend_at_ns = p.resend_at_ns.min(soon);
                }
                return;
            }
            UiResponse::NotReady => {
                if from == self.master.target() {
                    p.redirected = true;
                    p.resend_at_ns = soon;
                }
                return;
            }
            _ => {}
        }
        if r.req() != Some(p.req.req) {
            return;
        }
        let p = self.pending.take().expect("pending");
        self.master.found(from);
        match r {
            UiResponse::Started { process, .. } => {
                self.known.insert(process);
                self.reply(
                    &p.req,
                    UiOutcome::Ok,
                    false,
                    Vec::new(),
                    process.to_string(),
                );
            }
            UiResponse::Acted { .. } => {
                self.reply(&p.req, UiOutcome::Ok, false, Vec::new(), String::new())
            }
            UiResponse::Status { status, values, .. } => {
                let threads = status
                    .threads
                    .iter()
                    .map(|t| ThreadView {
                        state: (&t.state).into(),
                        attempt: t.attempt,
                        progress: t.progress,
                    })
                    .collect();
                let text = format!("public={:?} values={:?}", status.public, values);
                self.reply(&p.req, UiOutcome::Ok, true, threads, text);
            }
            UiResponse::Listed { processes, .. } => {
                self.known.extend(processes.iter().map(|(id, _, _)| *id));
                let text: Vec<String> = processes
                    .iter()
                    .map(|(id, name, owner)| format!("{id}:{name}:{owner}"))
                    .collect();
                self.reply(&p.req, UiOutcome::Ok, true, Vec::new(), text.join(","));
            }
            UiResponse::Denied { reason, .. } => {
                self.reply(&p.req, UiOutcome::Denied, false, Vec::new(), reason)
            }
            UiResponse::Error { reason, .. } => {
                if let Some(process) = p.req.op.process() {
                    self.known.remove(&process);
                }
                self.reply(&p.req, UiOutcome::Error, false, Vec::new(), reason);
            }
            UiResponse::Redirect { .. } | UiResponse::NotReady => unreachable!("handled above"),
        }
    }
}
