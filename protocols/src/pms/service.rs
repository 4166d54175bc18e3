//! The PMS on an engine node: a replica of the [`ProcessTable`], the script threads placed
//! on this node's job, and, while this node is the primary (the service's master), the
//! duties of the PMS: answering UI clients, placing threads, polling hosts, and noticing
//! hosts that died.
//!
//! **Placement.** The primary divides a process into threads and places them round-robin
//! on the members of its view (the offset turns with the process id), as a replicated
//! `Start` command. A host is a job incarnation, not just a node: a thread dies with the
//! job that ran it.
//!
//! **Running threads.** Each node runs the threads its replica places on its own job,
//! without being told: it starts one (compiling its script and running its top level on a
//! work thread) once the table shows it, steps it every `step_ms` on a work thread while
//! the table says it runs, holds it while paused, and drops it once the table shows it
//! final (cancelled, lost) or placed elsewhere. A script moves to its work thread with each
//! step and back with the result, so the main thread owns every thread's state and never
//! waits. A stale replica steps nothing: it does not know what the table says.
//!
//! **Polling.** Every `poll_interval_ms` the primary unicasts a poll to each member whose
//! job hosts live threads (itself included, without the network), naming each thread's
//! attempt and the output pieces the table holds, with the private data of their
//! processes. A host answers with each thread's state and the output pieces not yet in
//! the table (it keeps them until a poll shows them applied), and the primary submits
//! what is new as a `Report` command. Lost polls and answers cost a round, nothing else.
//!
//! **Hosts that die.** Each tick the primary compares the hosts of live threads with its
//! view; a host outside it (its node crashed or was cut off, its job unregistered) gets a
//! `NodeDown` command: its threads end `Lost`, or move to the least loaded member where
//! the process allows retry. The check is on the table, not on view-change messages, so a
//! new primary after a failover finds and finishes what the old one left, and resumes
//! polling from the replicated placement.
//!
//! **Authorization.** Every request is checked against the [`AuthDb`] before anything else
//! (even whether the process exists): reads need a viewer, starting and actions an
//! operator; a denied request gets an error and no data.
//!
//! Trace events: [`PmsEvent`]: `pms.status` (every replica, when a thread's state, host or
//! attempt changes); `pms.local` (a host, when a thread it runs starts, finishes, fails or
//! is stopped); `pms.poll`, `pms.serve` and `pms.down` (the primary); `pms.rewound` (a
//! planted bug).

use super::authz::{AuthDb, Permission};
use super::events::{PmsEvent, RequestId, StateName, ThreadRef, Verdict};
use super::script::{ScriptThread, StepOutcome, ThreadIdentity, ThreadOutput, Val};
use super::status::{Action, Command, Effect, Host, ProcessTable, Reported, ThreadReport};
use super::wire::{Op, PeerMsg, PmsWire, PollItem, UiRequest, UiResponse};
use crate::engine::Member;
use crate::service::shell::{App, Applied, Env, ServiceConfig};
use sim::emit;
use std::collections::{BTreeMap, BTreeSet};

/// The planted bugs of the PMS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmsMutants {
    /// Cancelling is checked as a read, so a viewer may cancel.
    pub viewer_can_cancel: bool,
    /// A status answer carries the process's private data in its public structure.
    pub leak_private: bool,
    /// The primary never notices dead hosts: their threads stay running for ever.
    pub ignore_dead_hosts: bool,
    /// A new primary sets finished threads back to running.
    pub rewind_on_failover: bool,
}

/// How the PMS behaves.
#[derive(Clone, Debug)]
pub struct PmsConfig {
    pub service: ServiceConfig,
    pub auth: AuthDb,
    /// How often the primary polls every host.
    pub poll_interval_ms: u64,
    /// How often a running script thread steps.
    pub step_ms: u64,
    /// The operation limit of one step: a script that exceeds it is runaway.
    pub max_operations: u64,
    /// A dead host's `NodeDown` is submitted again after this long until it applies.
    pub down_retry_ms: u64,
    /// At most this many threads per process.
    pub max_threads: u32,
    pub mutants: PmsMutants,
}

impl PmsConfig {
    pub fn new(service: ServiceConfig, auth: AuthDb) -> Self {
        PmsConfig {
            service,
            auth,
            poll_interval_ms: 500,
            step_ms: 200,
            max_operations: super::script::DEFAULT_MAX_OPERATIONS,
            down_retry_ms: 500,
            max_threads: 8,
            mutants: PmsMutants::default(),
        }
    }

    /// The cluster-unique id of the process that request `req` of client `client` starts:
    /// a retried request names the same process.
    pub fn process_id(client: usize, req: u64) -> u64 {
        assert!(req < 1_000_000, "request numbers stay below a million");
        client as u64 * 1_000_000 + req
    }
}

/// A thread by process, index and attempt.
pub type ThreadKey = (u64, u32, u32);

/// What a work thread is handed.
pub enum Work {
    /// Compile the script and run its top level.
    Start {
        key: ThreadKey,
        source: String,
        who: ThreadIdentity,
        private: BTreeMap<String, Val>,
        max_operations: u64,
    },
    /// Run one step, after refreshing the thread's view of the private data.
    Step {
        key: ThreadKey,
        script: Box<ScriptThread>,
        refresh: Option<BTreeMap<String, Val>>,
    },
}

/// What a work thread hands back: the script (unless it ended), the outcome, the output.
pub struct Done {
    key: ThreadKey,
    script: Option<Box<ScriptThread>>,
    outcome: StepOutcome,
    output: ThreadOutput,
}

/// A thread as its host runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Run {
    /// Its top level has not finished yet.
    Starting,
    Running,
    Done,
    Failed(String),
}

struct LocalThread {
    /// `None` while on a work thread, and once ended.
    script: Option<Box<ScriptThread>>,
    busy: bool,
    run: Run,
    /// Output pieces numbered so far, and those the table may not hold yet.
    pieces: u64,
    unapplied: BTreeMap<u64, ThreadOutput>,
    next_step_ns: u64,
    /// The private data to hand the script before its next step.
    refresh: Option<BTreeMap<String, Val>>,
}

/// The PMS of one engine node.
pub struct PmsService {
    cfg: PmsConfig,
    threads: BTreeMap<ThreadKey, LocalThread>,
    // The primary's own bookkeeping (nothing here is needed by a successor).
    round: u64,
    next_poll_ns: u64,
    down_sent: BTreeMap<Host, u64>,
}

impl PmsService {
    pub fn new(cfg: PmsConfig) -> Self {
        PmsService {
            cfg,
            threads: BTreeMap::new(),
            round: 0,
            next_poll_ns: 0,
            down_sent: BTreeMap::new(),
        }
    }

    fn local_event(env: &Env<'_, Self>, key: ThreadKey, state: StateName, detail: String) {
        emit!(
            env.node(),
            PmsEvent::Local {
                thread: ThreadRef {
                    process: key.0,
                    thread: key.1,
                },
                attempt: key.2,
                state,
                detail,
            }
        );
    }

    // ------------------------------------------------------------------ threads here

    /// Starts the threads the table places on this job, steps those that run, and drops
    /// those the table ended or moved.
    fn run_threads(&mut self, env: &mut Env<'_, Self>) {
        let Some(me) = env.member().map(Host::from) else {
            return;
        };
        let Some(mine) = env.state(|s| s.threads_on(me)) else {
            return;
        };
        // Drop what the table no longer wants here.
        let ended: Vec<ThreadKey> = self
            .threads
            .keys()
            .copied()
            .filter(|&(p, th, att)| {
                env.state(|s| {
                    s.thread(p, th)
                        .is_none_or(|(t, _)| t.host != me || t.attempt != att || t.state.is_final())
                }) == Some(true)
            })
            .collect();
        for key in ended {
            let t = self.threads.remove(&key).expect("listed");
            if matches!(t.run, Run::Starting | Run::Running) {
                Self::local_event(env, key, StateName::Stopped, String::new());
            }
        }
        let now = env.now();
        for (process, thread, attempt, _) in mine {
            let key = (process, thread, attempt);
            if self.threads.contains_key(&key) {
                continue;
            }
            let Some((source, private, count)) = env.state(|s| {
                (
                    s.script(process).unwrap_or_default().to_string(),
                    s.private_for_threads(process).cloned().unwrap_or_default(),
                    s.public(process).map_or(0, |p| p.threads.len() as u32),
                )
            }) else {
                return;
            };
            self.threads.insert(
                key,
                LocalThread {
                    script: None,
                    busy: true,
                    run: Run::Starting,
                    pieces: 0,
                    unapplied: BTreeMap::new(),
                    next_step_ns: now,
                    refresh: None,
                },
            );
            let who = ThreadIdentity {
                process,
                index: thread,
                count,
            };
            env.dispatch(
                Self::work_thread(key),
                Work::Start {
                    key,
                    source,
                    who,
                    private,
                    max_operations: self.cfg.max_operations,
                },
            );
        }
        let step_ns = self.cfg.step_ms * 1_000_000;
        for (key, t) in self.threads.iter_mut() {
            if t.busy || t.run != Run::Running || now < t.next_step_ns {
                continue;
            }
            if env.state(|s| s.is_paused(key.0)) != Some(false) {
                continue;
            }
            let Some(script) = t.script.take() else {
                continue;
            };
            t.busy = true;
            t.next_step_ns = now + step_ns;
            env.dispatch(
                Self::work_thread(*key),
                Work::Step {
                    key: *key,
                    script,
                    refresh: t.refresh.take(),
                },
            );
        }
    }

    /// A thread's steps all go to one work thread, spreading threads over them.
    fn work_thread(key: ThreadKey) -> u32 {
        (key.0 as u32).wrapping_add(key.1)
    }

    /// A host's answer to a poll: the state of each thread asked about that it runs, with
    /// the output pieces the table lacks; it forgets the pieces the table holds.
    fn answer_poll(
        &mut self,
        env: &Env<'_, Self>,
        round: u64,
        items: Vec<PollItem>,
        private: BTreeMap<u64, BTreeMap<String, Val>>,
    ) -> PeerMsg {
        let mut reports = Vec::new();
        for item in items {
            let key = (item.process, item.thread, item.attempt);
            let Some(t) = self.threads.get_mut(&key) else {
                continue;
            };
            t.unapplied.retain(|v, _| *v > item.applied);
            if let Some(p) = private.get(&item.process) {
                // The table's copy lags this thread's own writes: those win.
                let mut view = p.clone();
                for out in t.unapplied.values() {
                    view.extend(out.private_writes.clone());
                }
                t.refresh = Some(view);
            }
            let reported = match &t.run {
                Run::Starting => continue,
                Run::Running => Reported::Running,
                Run::Done => Reported::Done,
                Run::Failed(msg) => Reported::Failed(msg.clone()),
            };
            reports.push(ThreadReport {
                process: item.process,
                thread: item.thread,
                attempt: item.attempt,
                reported,
                outputs: t.unapplied.iter().map(|(v, o)| (*v, o.clone())).collect(),
            });
        }
        PeerMsg::Status {
            round,
            at_ns: env.now(),
            reports,
        }
    }

    // ------------------------------------------------------------------ the primary

    fn send(env: &mut Env<'_, Self>, to: usize, r: UiResponse) {
        env.send_external(to, PmsWire::Resp(r));
    }

    /// Polls every member whose job hosts live threads.
    fn poll(&mut self, env: &mut Env<'_, Self>) {
        let now = env.now();
        if now < self.next_poll_ns {
            return;
        }
        self.next_poll_ns = now + self.cfg.poll_interval_ms * 1_000_000;
        self.round += 1;
        let (Some((view, members)), Some(me)) = (env.view(), env.member()) else {
            return;
        };
        let members: Vec<Member> = members.iter().copied().collect();
        for m in members {
            let host = Host::from(m);
            let Some((items, private)) = env.state(|s| {
                let items: Vec<PollItem> = s
                    .threads_on(host)
                    .into_iter()
                    .map(|(process, thread, attempt, applied)| PollItem {
                        process,
                        thread,
                        attempt,
                        applied,
                    })
                    .collect();
                let processes: BTreeSet<u64> = items.iter().map(|i| i.process).collect();
                let private: BTreeMap<u64, BTreeMap<String, Val>> = processes
                    .into_iter()
                    .filter_map(|p| Some((p, s.private_for_threads(p)?.clone())))
                    .filter(|(_, m)| !m.is_empty())
                    .collect();
                (items, private)
            }) else {
                return;
            };
            if items.is_empty() {
                continue;
            }
            emit!(
                env.node(),
                PmsEvent::Poll {
                    view,
                    host,
                    round: self.round,
                    threads: items.len() as u64,
                }
            );
            if m == me {
                let answer = self.answer_poll(env, self.round, items, private);
                self.on_peer_msg(env, m, answer);
            } else {
                env.send_peer(
                    m,
                    PeerMsg::Poll {
                        round: self.round,
                        items,
                        private,
                    },
                );
            }
        }
    }

    /// Submits what a host's answer adds to the table.
    fn record(
        &mut self,
        env: &mut Env<'_, Self>,
        host: Host,
        at_ns: u64,
        reports: Vec<ThreadReport>,
    ) {
        let Some(news) = env.state(|s| {
            reports
                .into_iter()
                .filter_map(|mut r| {
                    let (t, applied) = s.thread(r.process, r.thread)?;
                    if t.host != host || t.attempt != r.attempt || t.state.is_final() {
                        return None;
                    }
                    r.outputs.retain(|(v, _)| *v > applied);
                    let rank = match r.reported {
                        Reported::Running => 1,
                        Reported::Done | Reported::Failed(_) => 2,
                    };
                    (!r.outputs.is_empty() || rank > t.state.rank()).then_some(r)
                })
                .collect::<Vec<_>>()
        }) else {
            return;
        };
        if !news.is_empty() {
            env.propose(Command::Report {
                host,
                at_ns,
                threads: news,
            });
        }
    }

    /// Ends or moves the threads of hosts that left the view.
    fn bury_dead_hosts(&mut self, env: &mut Env<'_, Self>) {
        if self.cfg.mutants.ignore_dead_hosts {
            return;
        }
        let Some((view, members)) = env.view() else {
            return;
        };
        let members: BTreeSet<Host> = members.iter().copied().map(Host::from).collect();
        let Some((live, load)) = env.state(|s| (s.live_hosts(), s.load())) else {
            return;
        };
        let now = env.now();
        let retry = self.cfg.down_retry_ms * 1_000_000;
        for host in live.difference(&members) {
            if self.down_sent.get(host).is_some_and(|t| now < t + retry) {
                continue;
            }
            self.down_sent.insert(*host, now);
            let spare = members
                .iter()
                .min_by_key(|m| (load.get(m).copied().unwrap_or(0), **m))
                .copied();
            emit!(
                env.node(),
                PmsEvent::Down {
                    host: *host,
                    spare,
                    view,
                }
            );
            env.propose(Command::NodeDown { host: *host, spare });
        }
    }

    fn serve(&mut self, env: &mut Env<'_, Self>, from: usize, req: &UiRequest, verdict: Verdict) {
        emit!(
            env.node(),
            PmsEvent::Serve {
                req: RequestId {
                    client: from.into(),
                    req: req.req,
                },
                op: req.op.name(),
                process: req.op.process(),
                verdict,
                view: env.serving_view().unwrap_or(0),
            }
        );
    }

    fn on_request(&mut self, env: &mut Env<'_, Self>, from: usize, r: UiRequest) {
        if !env.serving() {
            let me = env.node();
            let resp = match env.master() {
                Some(m) if m == me => UiResponse::NotReady,
                m => UiResponse::Redirect { master: m },
            };
            Self::send(env, from, resp);
            return;
        }
        let need = match &r.op {
            Op::Act {
                action: Action::Cancel,
                ..
            } if self.cfg.mutants.viewer_can_cancel => Permission::Read,
            Op::Start { .. } | Op::Act { .. } => Permission::Control,
            Op::Status { .. } | Op::List => Permission::Read,
        };
        if let Err(denied) = self.cfg.auth.authorize(r.cred.as_ref(), need) {
            self.serve(env, from, &r, Verdict::Denied);
            let req = r.req;
            Self::send(
                env,
                from,
                UiResponse::Denied {
                    req,
                    reason: denied.to_string(),
                },
            );
            return;
        }
        self.serve(env, from, &r, Verdict::Allowed);
        let req = r.req;
        let user = r.cred.map(|c| c.user).unwrap_or_default();
        let missing = |process: u64| UiResponse::Error {
            req,
            reason: format!("no process {process}"),
        };
        match r.op {
            Op::Start {
                name,
                script,
                threads,
                retry,
            } => {
                let process = PmsConfig::process_id(from, req);
                if env.state(|s| s.public(process).is_some()) == Some(true) {
                    Self::send(env, from, UiResponse::Started { req, process });
                    return;
                }
                let Some((_, members)) = env.view() else {
                    return;
                };
                let hosts: Vec<Host> = members.iter().copied().map(Host::from).collect();
                let n = threads.clamp(1, self.cfg.max_threads) as u64;
                let placement = (0..n)
                    .map(|i| hosts[((process + i) % hosts.len() as u64) as usize])
                    .collect();
                env.propose(Command::Start {
                    process,
                    name,
                    owner: user,
                    script,
                    placement,
                    retry,
                    client: from,
                    req,
                });
            }
            Op::Act { process, action } => {
                if env.state(|s| s.public(process).is_none()) == Some(true) {
                    Self::send(env, from, missing(process));
                    return;
                }
                env.propose(Command::Act {
                    process,
                    action,
                    client: from,
                    req,
                });
            }
            Op::Status { process } => {
                let leak = self.cfg.mutants.leak_private;
                let answer = env.state(|s| {
                    let mut status = s.public(process)?.clone();
                    if leak {
                        s.leak_private_for_planted_bug(&mut status);
                    }
                    Some(UiResponse::Status {
                        req,
                        status,
                        values: s.values(process)?.clone(),
                    })
                });
                Self::send(
                    env,
                    from,
                    answer.flatten().unwrap_or_else(|| missing(process)),
                );
            }
            Op::List => {
                let processes = env.state(|s| s.list()).unwrap_or_default();
                Self::send(env, from, UiResponse::Listed { req, processes });
            }
        }
    }

    fn on_peer_msg(&mut self, env: &mut Env<'_, Self>, from: Member, msg: PeerMsg) {
        match msg {
            PeerMsg::Poll {
                round,
                items,
                private,
            } => {
                let answer = self.answer_poll(env, round, items, private);
                env.send_peer(from, answer);
            }
            PeerMsg::Status { at_ns, reports, .. } => {
                if env.serving() {
                    self.record(env, Host::from(from), at_ns, reports);
                }
            }
        }
    }
}

impl App for PmsService {
    type Sm = ProcessTable;
    type Ext = PmsWire;
    type Peer = PeerMsg;
    type Work = Work;
    type Done = Done;
    type Worker = ();

    fn initial_state(&self) -> ProcessTable {
        ProcessTable::new()
    }

    fn new_worker(&self, _index: u32) {}

    fn work(_: &mut (), item: Work) -> Done {
        match item {
            Work::Start {
                key,
                source,
                who,
                private,
                max_operations,
            } => match ScriptThread::new(&source, who, private, max_operations) {
                Ok(mut script) => {
                    let outcome = script.step();
                    let output = script.collect();
                    let script = (outcome == StepOutcome::Continue).then(|| Box::new(script));
                    Done {
                        key,
                        script,
                        outcome,
                        output,
                    }
                }
                Err(e) => Done {
                    key,
                    script: None,
                    outcome: StepOutcome::Failed(e),
                    output: ThreadOutput::default(),
                },
            },
            Work::Step {
                key,
                mut script,
                refresh,
            } => {
                if let Some(p) = refresh {
                    script.refresh_private(p);
                }
                let outcome = script.step();
                let output = script.collect();
                let script = (outcome == StepOutcome::Continue).then_some(script);
                Done {
                    key,
                    script,
                    outcome,
                    output,
                }
            }
        }
    }

    fn on_applied(&mut self, env: &mut Env<'_, Self>, applied: Applied<ProcessTable>) {
        let serving = env.serving();
        for e in applied.effects {
            match e {
                Effect::Changed {
                    process,
                    thread,
                    status,
                } => {
                    emit!(
                        env.node(),
                        PmsEvent::Status {
                            thread: ThreadRef { process, thread },
                            attempt: status.attempt,
                            state: (&status.state).into(),
                            host: status.host,
                            detail: status.state.detail().to_string(),
                        }
                    );
                }
                Effect::Started {
                    process,
                    client,
                    req,
                } if serving => Self::send(env, client, UiResponse::Started { req, process }),
                Effect::Acted {
                    process,
                    client,
                    req,
                    ..
                } if serving => Self::send(env, client, UiResponse::Acted { req, process }),
                _ => {}
            }
        }
    }

    fn on_external(&mut self, env: &mut Env<'_, Self>, from: usize, msg: PmsWire) {
        if let PmsWire::Req(r) = msg {
            self.on_request(env, from, r);
        }
    }

    fn on_peer(&mut self, env: &mut Env<'_, Self>, from: Member, msg: PeerMsg) {
        self.on_peer_msg(env, from, msg);
    }

    fn on_tick(&mut self, env: &mut Env<'_, Self>) {
        if env.view().is_none() || !env.is_synced() {
            return;
        }
        self.run_threads(env);
        if env.serving() {
            self.bury_dead_hosts(env);
            self.poll(env);
        }
    }

    fn on_work_done(&mut self, env: &mut Env<'_, Self>, _thread: u32, done: Done) {
        let key = done.key;
        let Some(t) = self.threads.get_mut(&key) else {
            return;
        };
        t.busy = false;
        t.script = done.script;
        if done.output != ThreadOutput::default() {
            t.pieces += 1;
            t.unapplied.insert(t.pieces, done.output);
        }
        let before = t.run.clone();
        t.run = match done.outcome {
            StepOutcome::Continue => Run::Running,
            StepOutcome::Done => Run::Done,
            StepOutcome::Failed(msg) => Run::Failed(msg),
        };
        if t.run != before {
            let (state, detail) = match &t.run {
                Run::Running => (StateName::Running, String::new()),
                Run::Done => (StateName::Done, String::new()),
                Run::Failed(msg) => (StateName::Failed, msg.clone()),
                Run::Starting => unreachable!("a step never returns to starting"),
            };
            Self::local_event(env, key, state, detail);
        }
    }

    fn on_role(&mut self, env: &mut Env<'_, Self>, serving: bool) {
        if !serving {
            return;
        }
        // Poll at once: a new primary knows nothing fresher than the table.
        self.next_poll_ns = 0;
        self.down_sent.clear();
        if self.cfg.mutants.rewind_on_failover {
            let mut rewound = Vec::new();
            env.corrupt_state_for_planted_bug(|s| rewound = s.rewind_for_planted_bug());
            for (process, thread) in rewound {
                emit!(
                    env.node(),
                    PmsEvent::Rewound {
                        thread: ThreadRef { process, thread },
                    }
                );
            }
        }
    }

    fn on_reset(&mut self) {
        // The job's work threads are gone, and every script thread with them.
        self.threads.clear();
        self.down_sent.clear();
    }
}
