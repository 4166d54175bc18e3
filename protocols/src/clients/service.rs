//! The client service on an engine node: a replica of the [`ClientManager`], the tasks
//! placed on this node, and, while this node is master, the sessions of the clients it
//! serves.
//!
//! **Tasks.** Each open context has `tasks_per_context` tasks, placed on nodes by a fixed
//! rule; a node runs the tasks placed on it on its job's work threads. A task step is local
//! processing that may detect an error event or a dialogue event; the main thread turns it
//! into an `Accept` or `Inquire` command with a cluster-unique event id and submits it
//! until its local replica shows the outcome (stored or refused), so an event survives
//! view changes and master failover and is stored once. A task that asked a question waits
//! for the answer, which reaches it through the replicated `RouteReply` effect (or, after
//! catching up, through the state's record of answers).
//!
//! **The master** pushes each message when it stores it, answers client requests
//! (mutating ones through the group, answered once applied), resends what a client has not
//! acknowledged when the client polls, records acknowledgements in the group, and times
//! out dialogues. A reconnecting client names what it received; the master resends only
//! what follows.
//!
//! Trace events: [`TaskEvent`] (`task.*`, the tasks' events and dialogues) and
//! [`CmEvent`] (`cm.*`: `store` and `evict` on every replica, the rest on the master;
//! `forgot` is a planted bug's).

use super::catalog::{params, Params};
use super::events::{CmEvent, TaskEvent};
use super::manager::{
    event_id, ClientId, ClientManager, Command, Delivery, Effect, Event, EventId, FormatMode,
    Inquiry, Outcome, TaskAddr,
};
use super::wire::{ClientWire, Request, Response};
use crate::service::shell::{App, Applied, Env, ServiceConfig};
use madsim::rand::Rng;
use sim::emit;
use sim::time::SimTime;
use std::collections::BTreeMap;

/// The planted bugs of the client service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientMutants {
    /// A new master loses the newest accepted message.
    pub lose_last: bool,
    /// A reconnecting client is sent what it acknowledged, from the group's lagging record.
    pub resend_acked: bool,
    /// A new master resends every client's unacknowledged messages as it takes over,
    /// before the client's hello says what it received: what the client acknowledged to
    /// the old master and the group has not recorded yet goes again.
    pub resend_on_takeover: bool,
    /// A message lands in another client's list.
    pub cross_talk: bool,
    /// A dialogue reply reaches another waiting task of the asking node.
    pub wrong_task: bool,
}

/// How the client service behaves.
#[derive(Clone, Debug)]
pub struct ClientsConfig {
    pub service: ServiceConfig,
    pub format: FormatMode,
    /// Messages per context list.
    pub list_bound: usize,
    pub tasks_per_context: u32,
    /// How often each task steps (and may raise an event).
    pub task_step_ms: u64,
    /// The chance that a task step raises an event.
    pub event_probability: f64,
    /// The chance that a raised event is a dialogue question.
    pub question_probability: f64,
    /// The chance that an error event is malformed (unknown code or missing parameter).
    pub malformed_probability: f64,
    pub dialogue_timeout_ms: u64,
    /// An event whose outcome is unknown is submitted again after this long.
    pub event_retry_ms: u64,
    /// A message the client has not acknowledged is resent (on its poll) after this long.
    pub resend_after_ms: u64,
    /// The master records a client's acknowledgements in the group at most this often.
    pub ack_record_ms: u64,
    pub mutants: ClientMutants,
}

impl ClientsConfig {
    pub fn new(service: ServiceConfig) -> Self {
        ClientsConfig {
            service,
            format: FormatMode::AtDelivery,
            list_bound: 32,
            tasks_per_context: 2,
            task_step_ms: 250,
            event_probability: 0.15,
            question_probability: 0.3,
            malformed_probability: 0.05,
            dialogue_timeout_ms: 1_500,
            event_retry_ms: 1_000,
            resend_after_ms: 400,
            ack_record_ms: 300,
            mutants: ClientMutants::default(),
        }
    }

    /// The node that runs task `task` of a context. Spreads a context's tasks over
    /// different nodes.
    pub fn task_node(&self, client: ClientId, context: u32, task: u32) -> usize {
        let n = self.service.engine_nodes as u64;
        ((client * 3 + u64::from(context) * 2 + u64::from(task)) % n) as usize
    }
}

/// A task, by what it works for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskKey {
    pub client: ClientId,
    pub context: u32,
    pub task: u32,
}

impl TaskKey {
    fn number(self) -> u64 {
        (self.client << 32) | (u64::from(self.context) << 8) | u64::from(self.task)
    }
}

/// A step of a task, on its work thread.
pub struct Step {
    key: TaskKey,
    node: usize,
    event_probability: f64,
    question_probability: f64,
    malformed_probability: f64,
}

/// What a task step detected.
pub struct Detected {
    key: TaskKey,
    event: Option<(String, Params, Option<String>)>,
}

#[derive(Default)]
struct TaskRun {
    busy: bool,
    waiting: Option<u64>,
    next_step_ns: u64,
}

/// An event not yet known to be stored or refused.
struct Unsettled {
    cmd: Command,
    sent_ns: u64,
}

/// What the master knows of a client it serves.
#[derive(Default)]
struct Session {
    node: usize,
    /// Per context: what the client said it received everything up to.
    acked: BTreeMap<u32, u64>,
    /// When each (context, seq) was last sent.
    sent_ns: BTreeMap<(u32, u64), u64>,
    /// When an acknowledgement was last recorded in the group, per context.
    recorded_ns: BTreeMap<u32, u64>,
}

/// The client service of one engine node.
pub struct ClientService {
    cfg: ClientsConfig,
    tasks: BTreeMap<TaskKey, TaskRun>,
    unsettled: BTreeMap<u64, Unsettled>,
    next_event: u64,
    sessions: BTreeMap<ClientId, Session>,
    /// Timeouts submitted, and when.
    timeouts: BTreeMap<u64, u64>,
    /// The contexts [`Self::step_tasks`] walks, kept between ticks so that a tick, which
    /// lists every context, allocates nothing.
    contexts: Vec<(ClientId, u32)>,
}

impl ClientService {
    pub fn new(cfg: ClientsConfig) -> Self {
        ClientService {
            cfg,
            tasks: BTreeMap::new(),
            unsettled: BTreeMap::new(),
            next_event: 0,
            sessions: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            contexts: Vec::new(),
        }
    }

    fn task_addr(env: &Env<'_, Self>, key: TaskKey) -> Option<TaskAddr> {
        let m = env.member()?;
        Some(TaskAddr {
            node: m.node,
            inc: m.inc,
            job: m.job,
            task: key.number(),
        })
    }

    /// Runs the tasks placed here; a context's tasks start once the replica knows it.
    fn step_tasks(&mut self, env: &mut Env<'_, Self>) {
        let node = env.node();
        let mut contexts = std::mem::take(&mut self.contexts);
        contexts.clear();
        if env.state(|s| s.extend_contexts(&mut contexts)).is_none() {
            self.contexts = contexts;
            return;
        }
        let now = env.now();
        for &(client, context) in &contexts {
            for task in 0..self.cfg.tasks_per_context {
                if self.cfg.task_node(client, context, task) != node {
                    continue;
                }
                let key = TaskKey {
                    client,
                    context,
                    task,
                };
                let run = self.tasks.entry(key).or_default();
                if run.busy || run.waiting.is_some() || now < run.next_step_ns {
                    continue;
                }
                run.busy = true;
                run.next_step_ns = now + self.cfg.task_step_ms * 1_000_000;
                let step = Step {
                    key,
                    node,
                    event_probability: self.cfg.event_probability,
                    question_probability: self.cfg.question_probability,
                    malformed_probability: self.cfg.malformed_probability,
                };
                env.dispatch(task + context, step);
            }
        }
        self.contexts = contexts;
    }

    fn submit(&mut self, env: &mut Env<'_, Self>, key: TaskKey, detected: Detected) {
        let Some((code, params, default)) = detected.event else {
            return;
        };
        let (Some(m), Some(addr)) = (env.member(), Self::task_addr(env, key)) else {
            return;
        };
        self.next_event += 1;
        let id = event_id(m.node, m.inc, m.job, self.next_event);
        let now = env.now();
        emit!(
            env.node(),
            TaskEvent::Raise {
                event: EventId(id),
                client: key.client,
                context: key.context,
                code: code.clone(),
                task: addr,
                question: default.is_some(),
            }
        );
        let event = Event {
            event_id: id,
            code,
            params,
        };
        let cmd = match default {
            None => Command::Accept {
                client: key.client,
                context: key.context,
                event,
            },
            Some(default_reply) => {
                let deadline_ns = now + self.cfg.dialogue_timeout_ms * 1_000_000;
                emit!(
                    env.node(),
                    TaskEvent::Ask {
                        dialogue: EventId(id),
                        task: addr,
                        default: default_reply.clone(),
                        deadline: SimTime(deadline_ns),
                    }
                );
                if let Some(run) = self.tasks.get_mut(&key) {
                    run.waiting = Some(id);
                }
                Command::Inquire(Box::new(Inquiry {
                    client: key.client,
                    context: key.context,
                    event,
                    asking: addr,
                    default_reply,
                    deadline_ns,
                }))
            }
        };
        env.propose(cmd.clone());
        self.unsettled.insert(id, Unsettled { cmd, sent_ns: now });
    }

    /// Hands a dialogue's answer to the task waiting for it on this node.
    fn answer(&mut self, env: &Env<'_, Self>, dialogue: u64, reply: &str, defaulted: bool) {
        let asking = self
            .tasks
            .iter()
            .find(|(_, r)| r.waiting == Some(dialogue))
            .map(|(k, _)| *k);
        let Some(mut key) = asking else {
            return;
        };
        if self.cfg.mutants.wrong_task {
            // Planted bug: the reply goes to the first task of the node that waits.
            key = self
                .tasks
                .iter()
                .find(|(_, r)| r.waiting.is_some())
                .map(|(k, _)| *k)
                .expect("one waits");
            self.tasks
                .get_mut(&asking.expect("found"))
                .expect("task")
                .waiting = None;
        }
        let Some(addr) = Self::task_addr(env, key) else {
            return;
        };
        emit!(
            env.node(),
            TaskEvent::Answer {
                dialogue: EventId(dialogue),
                task: addr,
                reply: reply.to_string(),
                defaulted,
            }
        );
        if let Some(run) = self.tasks.get_mut(&key) {
            run.waiting = None;
        }
    }

    /// Catching up can skip the routing of an answer: look answers up in the state.
    fn collect_answers(&mut self, env: &Env<'_, Self>) {
        let waiting: Vec<u64> = self.tasks.values().filter_map(|r| r.waiting).collect();
        for d in waiting {
            if let Some(Some((reply, defaulted))) = env.state(|s| s.answer(d).cloned()) {
                self.answer(env, d, &reply, defaulted);
            }
        }
        let settled: Vec<u64> = self
            .unsettled
            .keys()
            .copied()
            .filter(|id| env.state(|s| s.outcome(*id).is_some()) == Some(true))
            .collect();
        for id in settled {
            self.settled(env, id);
        }
    }

    fn settled(&mut self, env: &Env<'_, Self>, id: u64) {
        if self.unsettled.remove(&id).is_none() {
            return;
        }
        if let Some(Some(Outcome::Refused(reason))) = env.state(|s| s.outcome(id).cloned()) {
            emit!(
                env.node(),
                TaskEvent::Refused {
                    event: EventId(id),
                    reason,
                }
            );
            // A question that was refused is answered by its default through the group.
            if let Some(Some((reply, defaulted))) = env.state(|s| s.answer(id).cloned()) {
                self.answer(env, id, &reply, defaulted);
            }
        }
    }

    // ------------------------------------------------------------------ master

    fn send(&self, env: &mut Env<'_, Self>, to: usize, r: Response) {
        env.send_external(to, ClientWire::Resp(r));
    }

    fn serve(&self, env: &mut Env<'_, Self>, client: ClientId, to: usize, r: Response) {
        let what = match &r {
            Response::Welcome { .. } => "welcome",
            Response::Opened { .. } => "opened",
            Response::Polled => "polled",
            Response::Listed { .. } => "listed",
            Response::Topped { .. } => "topped",
            Response::Removed { .. } => "removed",
            Response::Replied { .. } => "replied",
            Response::Push { .. } | Response::Redirect { .. } | Response::NotReady => "other",
        };
        emit!(
            env.node(),
            CmEvent::Serve {
                client,
                what,
                view: env.serving_view().unwrap_or(0),
            }
        );
        self.send(env, to, r);
    }

    fn push(&mut self, env: &mut Env<'_, Self>, d: &Delivery, resend: bool) {
        let Some(to) = self
            .sessions
            .get(&d.client)
            .map(|s| s.node)
            .or_else(|| env.state(|s| s.client_node(d.client)).flatten())
        else {
            return;
        };
        emit!(
            env.node(),
            CmEvent::Push {
                client: d.client,
                context: d.context,
                seq: d.seq,
                event: EventId(d.event_id),
                view: env.serving_view().unwrap_or(0),
                resend,
            }
        );
        let now = env.now();
        if let Some(s) = self.sessions.get_mut(&d.client) {
            s.sent_ns.insert((d.context, d.seq), now);
        }
        self.send(
            env,
            to,
            Response::Push {
                context: d.context,
                seq: d.seq,
                event_id: d.event_id,
                severity: d.severity,
                text: d.text.clone(),
                question: d.question.clone(),
            },
        );
    }

    /// Takes what a client says it received; records when it advanced.
    fn learn_acks(
        &mut self,
        env: &Env<'_, Self>,
        client: ClientId,
        acked: &[(u32, u64)],
        resume: bool,
    ) {
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        for (context, upto) in acked {
            let known = s.acked.entry(*context).or_insert(0);
            if resume {
                emit!(
                    env.node(),
                    CmEvent::Resume {
                        client,
                        context: *context,
                        after: *upto,
                    }
                );
            } else if *upto > *known {
                emit!(
                    env.node(),
                    CmEvent::Ack {
                        client,
                        context: *context,
                        upto: *upto,
                    }
                );
            }
            *known = (*known).max(*upto);
        }
    }

    /// Resends what the client has not acknowledged and was not sent recently. After a
    /// reconnection everything unacknowledged goes at once.
    fn resend(&mut self, env: &mut Env<'_, Self>, client: ClientId, all: bool) {
        let Some(s) = self.sessions.get(&client) else {
            return;
        };
        let now = env.now();
        let recent = self.cfg.resend_after_ms * 1_000_000;
        let Some(contexts) = env.state(|st| st.contexts(client)) else {
            return;
        };
        let mut due = Vec::new();
        for context in contexts {
            let recorded = env
                .state(|st| st.acked_upto(client, context))
                .flatten()
                .unwrap_or(0);
            let told = s.acked.get(&context).copied().unwrap_or(0);
            let after = if all && self.cfg.mutants.resend_acked {
                // Planted bug: trust the group's record, which lags the client.
                recorded
            } else {
                told.max(recorded)
            };
            let pending = env
                .state(|st| st.unacked_after(client, context, after))
                .unwrap_or_default();
            for d in pending {
                let last = s.sent_ns.get(&(context, d.seq)).copied();
                if all || last.is_none_or(|t| now >= t + recent) {
                    due.push(d);
                }
            }
        }
        for d in due {
            self.push(env, &d, true);
        }
    }

    /// Planted bug: pushes every client's unacknowledged messages at once, trusting the
    /// group's record and this node's sessions for what each client received, without
    /// waiting for the client's hello.
    fn resend_on_takeover(&mut self, env: &mut Env<'_, Self>) {
        let contexts = env.state(|st| st.all_contexts()).unwrap_or_default();
        let mut due = Vec::new();
        for (client, context) in contexts {
            let recorded = env
                .state(|st| st.acked_upto(client, context))
                .flatten()
                .unwrap_or(0);
            let told = self
                .sessions
                .get(&client)
                .and_then(|s| s.acked.get(&context).copied())
                .unwrap_or(0);
            due.extend(
                env.state(|st| st.unacked_after(client, context, told.max(recorded)))
                    .unwrap_or_default(),
            );
        }
        for d in due {
            self.push(env, &d, true);
        }
    }

    fn on_request(&mut self, env: &mut Env<'_, Self>, from: usize, req: Request) {
        if !env.serving() {
            let me = env.node();
            let r = match env.master() {
                Some(m) if m == me => Response::NotReady,
                m => Response::Redirect { master: m },
            };
            self.send(env, from, r);
            return;
        }
        match req {
            Request::Hello {
                name,
                client,
                acked,
            } => {
                let known = client.filter(|c| env.state(|s| s.client_node(*c)).flatten().is_some());
                match known {
                    Some(c) => {
                        let session = self.sessions.entry(c).or_default();
                        session.node = from;
                        session.sent_ns.clear();
                        self.learn_acks(env, c, &acked, true);
                        let contexts = env.state(|s| s.contexts(c)).unwrap_or_default();
                        self.serve(
                            env,
                            c,
                            from,
                            Response::Welcome {
                                client: c,
                                contexts,
                            },
                        );
                        self.resend(env, c, true);
                    }
                    None => {
                        env.propose(Command::Connect { name, node: from });
                    }
                }
            }
            Request::Open { client, context } => {
                self.sessions.entry(client).or_default().node = from;
                if env.state(|s| s.contexts(client).contains(&context)) == Some(true) {
                    self.serve(env, client, from, Response::Opened { context });
                } else {
                    env.propose(Command::OpenContext { client, context });
                }
            }
            Request::Poll { client, acked } => {
                let session = self.sessions.entry(client).or_default();
                session.node = from;
                self.learn_acks(env, client, &acked, false);
                self.serve(env, client, from, Response::Polled);
                self.resend(env, client, false);
            }
            Request::List {
                client,
                context,
                req,
            } => {
                let messages = env.state(|s| s.list(client, context)).unwrap_or_default();
                self.serve(
                    env,
                    client,
                    from,
                    Response::Listed {
                        context,
                        req,
                        messages,
                    },
                );
            }
            Request::Top {
                client,
                context,
                req,
            } => {
                let top = env.state(|s| s.top(client, context)).flatten();
                self.serve(env, client, from, Response::Topped { context, req, top });
            }
            Request::Remove {
                client,
                context,
                seq,
                req,
            } => {
                env.propose(Command::Remove {
                    client,
                    context,
                    seq,
                    req,
                });
            }
            Request::Reply {
                client,
                dialogue,
                reply,
                req,
            } => {
                env.propose(Command::Reply {
                    client,
                    dialogue,
                    reply,
                    req,
                });
            }
        }
    }

    /// The master's periodic duties: dialogue timeouts and recording acknowledgements.
    fn master_tick(&mut self, env: &mut Env<'_, Self>) {
        let now = env.now();
        let overdue = env.state(|s| s.overdue_dialogues(now)).unwrap_or_default();
        for d in overdue {
            let again = self.timeouts.get(&d).is_none_or(|t| now >= t + 500_000_000);
            if again {
                emit!(
                    env.node(),
                    CmEvent::Timeout {
                        dialogue: EventId(d),
                        view: env.serving_view().unwrap_or(0),
                    }
                );
                self.timeouts.insert(d, now);
                env.propose(Command::Timeout { dialogue: d });
            }
        }
        let record = self.cfg.ack_record_ms * 1_000_000;
        let mut acks = Vec::new();
        for (client, s) in self.sessions.iter_mut() {
            for (context, upto) in &s.acked {
                let recorded = env
                    .state(|st| st.acked_upto(*client, *context))
                    .flatten()
                    .unwrap_or(0);
                let last = s.recorded_ns.get(context).copied();
                if *upto > recorded && last.is_none_or(|t| now >= t + record) {
                    s.recorded_ns.insert(*context, now);
                    acks.push(Command::Ack {
                        client: *client,
                        context: *context,
                        upto: *upto,
                    });
                }
            }
        }
        for a in acks {
            env.propose(a);
        }
    }
}

impl App for ClientService {
    type Sm = ClientManager;
    type Ext = ClientWire;
    type Peer = ();
    type Work = Step;
    type Done = Detected;
    type Worker = ();

    fn initial_state(&self) -> ClientManager {
        let m = ClientManager::new(self.cfg.format, self.cfg.list_bound);
        if self.cfg.mutants.cross_talk {
            m.with_cross_talk()
        } else {
            m
        }
    }

    fn new_worker(&self, _index: u32) {}

    fn work(_: &mut (), step: Step) -> Detected {
        let mut rng = madsim::rand::thread_rng();
        let event = rng.gen_bool(step.event_probability).then(|| {
            let task = format!(
                "c{}x{}t{}",
                step.key.client, step.key.context, step.key.task
            );
            let node = format!("n{}", step.node);
            if rng.gen_bool(step.question_probability) {
                let default = if rng.gen_bool(0.5) { "no" } else { "yes" };
                let path = format!("/data/{}", rng.gen_range(1..100));
                (
                    "CLU0201".to_string(),
                    params([
                        ("task", &task),
                        ("node", &node),
                        ("path", &path),
                        ("default", default),
                    ]),
                    Some(default.to_string()),
                )
            } else if rng.gen_bool(step.malformed_probability) {
                // A task with a bug: a code the catalog lacks, or a parameter left out. The
                // client must still learn that something happened.
                if rng.gen_bool(0.5) {
                    (
                        "CLU0999".to_string(),
                        params([("task", &task), ("detail", "checksum mismatch")]),
                        None,
                    )
                } else {
                    (
                        "CLU0102".to_string(),
                        params([("job", &task), ("node", &node)]),
                        None,
                    )
                }
            } else {
                match rng.gen_range(0..3) {
                    0 => (
                        "CLU0101".to_string(),
                        params([("task", &task), ("node", &node), ("reason", "exit 3")]),
                        None,
                    ),
                    1 => {
                        let pct = rng.gen_range(90..100).to_string();
                        (
                            "CLU0103".to_string(),
                            params([("disk", "d0"), ("node", &node), ("percent", &pct)]),
                            None,
                        )
                    }
                    _ => {
                        let late = rng.gen_range(10..500).to_string();
                        (
                            "CLU0104".to_string(),
                            params([("task", &task), ("node", &node), ("delay_ms", &late)]),
                            None,
                        )
                    }
                }
            }
        });
        Detected {
            key: step.key,
            event,
        }
    }

    fn on_applied(&mut self, env: &mut Env<'_, Self>, applied: Applied<ClientManager>) {
        let node = env.node();
        if let Some(id) = applied.cmd.event_id() {
            self.settled(env, id);
        }
        let serving = env.serving();
        for e in applied.effects {
            match e {
                Effect::Deliver(d) => {
                    let code = match &applied.cmd {
                        Command::Accept { event, .. } => event.code.clone(),
                        Command::Inquire(q) => q.event.code.clone(),
                        _ => String::new(),
                    };
                    emit!(
                        node,
                        CmEvent::Store {
                            client: d.client,
                            context: d.context,
                            seq: d.seq,
                            event: EventId(d.event_id),
                            code,
                        }
                    );
                    if serving {
                        self.push(env, &d, false);
                    }
                }
                Effect::Evicted {
                    client,
                    context,
                    seq,
                } => {
                    emit!(
                        node,
                        CmEvent::Evict {
                            client,
                            context,
                            seq,
                        }
                    );
                }
                Effect::RouteReply {
                    dialogue,
                    to,
                    reply,
                    defaulted,
                } => {
                    let here = env
                        .member()
                        .is_some_and(|m| (m.node, m.inc, m.job) == (to.node, to.inc, to.job));
                    if here {
                        self.answer(env, dialogue, &reply, defaulted);
                    }
                }
                Effect::Connected { client, node, .. } if serving => {
                    let s = self.sessions.entry(client).or_default();
                    s.node = node;
                    let contexts = env.state(|s| s.contexts(client)).unwrap_or_default();
                    self.serve(env, client, node, Response::Welcome { client, contexts });
                }
                Effect::ContextOpened { client, context } if serving => {
                    if let Some(to) = env.state(|s| s.client_node(client)).flatten() {
                        self.serve(env, client, to, Response::Opened { context });
                    }
                }
                Effect::ReplyTaken {
                    client, req, taken, ..
                } if serving => {
                    if let Some(to) = env.state(|s| s.client_node(client)).flatten() {
                        self.serve(env, client, to, Response::Replied { req, taken });
                    }
                }
                Effect::Removed {
                    client,
                    context,
                    seq,
                    req,
                } if serving => {
                    if let Some(to) = env.state(|s| s.client_node(client)).flatten() {
                        self.serve(env, client, to, Response::Removed { context, seq, req });
                    }
                }
                _ => {}
            }
        }
    }

    fn on_synced(&mut self, env: &mut Env<'_, Self>) {
        self.collect_answers(env);
    }

    fn on_external(&mut self, env: &mut Env<'_, Self>, from: usize, msg: ClientWire) {
        if let ClientWire::Req(req) = msg {
            self.on_request(env, from, req);
        }
    }

    fn on_tick(&mut self, env: &mut Env<'_, Self>) {
        if env.view().is_none() || !env.is_synced() {
            return;
        }
        self.step_tasks(env);
        let now = env.now();
        let retry = self.cfg.event_retry_ms * 1_000_000;
        let mut again = Vec::new();
        for u in self.unsettled.values_mut() {
            if now >= u.sent_ns + retry {
                u.sent_ns = now;
                again.push(u.cmd.clone());
            }
        }
        for cmd in again {
            env.propose(cmd);
        }
        if env.serving() {
            self.master_tick(env);
        }
    }

    fn on_work_done(&mut self, env: &mut Env<'_, Self>, _thread: u32, done: Detected) {
        let key = done.key;
        if let Some(run) = self.tasks.get_mut(&key) {
            run.busy = false;
        }
        self.submit(env, key, done);
    }

    fn on_role(&mut self, env: &mut Env<'_, Self>, serving: bool) {
        // Sessions hold what clients told this node; that stays true whatever its role.
        if serving && self.cfg.mutants.resend_on_takeover {
            self.resend_on_takeover(env);
        }
        if serving && self.cfg.mutants.lose_last {
            let mut forgot = None;
            env.corrupt_state_for_planted_bug(|s| forgot = s.forget_newest());
            if let Some((client, context, seq)) = forgot {
                emit!(
                    env.node(),
                    CmEvent::Forgot {
                        client,
                        context,
                        seq,
                    }
                );
            }
        }
    }

    fn on_reset(&mut self) {
        self.tasks.clear();
        self.unsettled.clear();
        self.sessions.clear();
        self.timeouts.clear();
    }
}
