//! The `demo` scenario: request/reply between nodes, small enough to read in one sitting,
//! that exercises every part of the harness before the real protocols.
//!
//! Every node is both a client and a server. Each tick the client sends a request to a
//! random peer and gives up on requests older than the timeout ("lost"). The server's main
//! thread hands requests to a work thread, which replies; work-thread faults from the plan
//! make that thread panic, fail, hang or slow down, and the main thread restarts it (a
//! watchdog catches a hang). Checkers: every request is answered exactly once or reported
//! lost, never both; after the faults heal, requests between live nodes are answered.

use madsim::rand::Rng;
use sim::chan;
use sim::check::{Checker, RunEnd};
use sim::event::{EventRef, NodeId};
use sim::shell::{self, Local, Machine, Node, Ticks};
use sim::time::{SimDuration, SimTime};
use sim::world::{NodeCtx, NodeEvent, Phase, RunReport, RunSpec, WorldConfig, WorldEvent};
use sim::{emit, Envelope, FaultKind, Mutant, Scenario, WorkFaultMode, WorkFaultResponse};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

const TICK_MS: u64 = 100;
const TIMEOUT_MS: u64 = 1_500;
const WATCHDOG_MS: u64 = 1_000;
/// After the heal, restarted nodes and watchdogs need this long before every request must
/// be answered.
const SETTLE_MS: u64 = 2_000;

/// Planted bug: the client counts a duplicated reply as a second answer.
pub const MUTANT_DOUBLE_ANSWER: &str = "demo-double-answer";
/// Planted bug: the main thread has no watchdog, so a hung work thread stays hung.
pub const MUTANT_NO_WATCHDOG: &str = "demo-no-watchdog";
/// Planted bug: a work thread told to hang waits in a busy loop that never yields, so the
/// whole simulation stops with it (simulated time no longer moves) and the seed never ends.
/// No checker can see it; a sweep reports the seed as a timeout.
pub const MUTANT_BUSY_HANG: &str = "demo-busy-hang";

/// A request's id: the client's node and incarnation and the client's sequence number,
/// unique across restarts. Printed `node.incarnation.seq` (`4.0.119`), in the trace and
/// in verdicts alike.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    pub fn new(node: usize, incarnation: u64, seq: u64) -> RequestId {
        RequestId(((node as u64) << 48) | (incarnation << 32) | seq)
    }

    pub fn node(self) -> usize {
        (self.0 >> 48) as usize
    }

    pub fn incarnation(self) -> u64 {
        (self.0 >> 32) & 0xffff
    }

    pub fn seq(self) -> u64 {
        self.0 & 0xffff_ffff
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.node(), self.incarnation(), self.seq())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

sim::trace_field_by_display!(RequestId => |id| [id.0]);

sim::trace_events! {
    /// The demo's requests and replies, and its work thread's faults and restarts.
    pub enum DemoEvent in "demo" {
        /// A node's protocol started.
        Boot as "boot" {
            /// How many times the node restarted before.
            incarnation: u64,
        },
        /// The client sent a request.
        Request as "request" {
            /// The request.
            id: RequestId,
            /// The node asked.
            to: NodeId,
        },
        /// The client got the reply to an outstanding request.
        Answered as "answered" {
            /// The request.
            id: RequestId,
            /// From the request to its reply.
            latency: SimDuration,
        },
        /// The client gave up on a request after its timeout.
        Lost as "lost" {
            /// The request.
            id: RequestId,
        },
        /// The work thread took a fault from the plan.
        WorkFault as "work_fault" {
            /// What it does: panic, error, hang or slow.
            mode: &'static str,
        },
        /// The work thread served a request.
        Served as "served" {
            /// The request.
            id: RequestId,
            /// The client that sent it.
            from: NodeId,
        },
        /// The main thread started a new work thread.
        WorkerRestart as "worker_restart" {
            /// Why the old one ended: panic, error, or hang (caught by the watchdog).
            reason: &'static str,
        },
    }
}

#[derive(Clone, Debug)]
pub enum DemoMsg {
    Request { id: RequestId },
    Reply { id: RequestId },
}

/// What the work thread tells the main thread.
pub enum WorkerNote {
    /// It finished a request.
    Done,
    /// It ended: "panic", "error".
    Exit(&'static str),
}

/// The client half as a plain state machine: requests out, answers and losses in.
#[derive(Default)]
pub struct Client {
    me: usize,
    incarnation: u64,
    next_seq: u64,
    outstanding: BTreeMap<RequestId, u64>,
    double_answer_bug: bool,
    answered: Vec<RequestId>,
}

/// An effect the client asks its shell to perform.
#[derive(Debug, PartialEq)]
pub enum ClientEffect {
    Send { to: usize, id: RequestId },
}

impl Client {
    fn on_tick(&mut self, me: usize, now_ns: u64, to: usize, out: &mut Vec<ClientEffect>) {
        let expired: Vec<RequestId> = self
            .outstanding
            .iter()
            .filter(|(_, &sent)| now_ns.saturating_sub(sent) >= TIMEOUT_MS * 1_000_000)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.outstanding.remove(&id);
            emit!(me, DemoEvent::Lost { id });
        }
        self.next_seq += 1;
        let id = RequestId::new(self.me, self.incarnation, self.next_seq);
        self.outstanding.insert(id, now_ns);
        emit!(me, DemoEvent::Request { id, to: to.into() });
        out.push(ClientEffect::Send { to, id });
    }

    fn on_reply(&mut self, me: usize, now_ns: u64, id: RequestId) {
        if let Some(sent) = self.outstanding.remove(&id) {
            self.answered.push(id);
            if self.answered.len() > 64 {
                self.answered.remove(0);
            }
            let latency = SimDuration(now_ns - sent);
            emit!(me, DemoEvent::Answered { id, latency });
        } else if self.double_answer_bug && self.answered.contains(&id) {
            let latency = SimDuration(0);
            emit!(me, DemoEvent::Answered { id, latency });
        }
    }
}

/// The work thread: serves requests one by one, misbehaving as the hook says.
async fn work_thread(
    ctx: NodeCtx<DemoMsg>,
    mut jobs: chan::UnboundedReceiver<(usize, RequestId)>,
    main: Local<DemoMsg, WorkerNote>,
    busy_hang: bool,
) -> Result<(), &'static str> {
    let mut faults = WorkFaultResponse::default();
    while let Some((from, id)) = jobs.recv().await {
        ctx.process_message().await;
        let fault = ctx.hook().take_for(0, 1);
        if let Some(f) = &fault {
            emit!(
                ctx.id,
                DemoEvent::WorkFault {
                    mode: f.mode.name()
                }
            );
            if busy_hang && f.mode == WorkFaultMode::Hang {
                // The planted bug: spin on the thread instead of awaiting, which never
                // hands control back to the simulator.
                loop {
                    std::hint::spin_loop();
                }
            }
        }
        faults.apply(fault).await?;
        emit!(
            ctx.id,
            DemoEvent::Served {
                id,
                from: from.into()
            }
        );
        ctx.send(from, DemoMsg::Reply { id });
        let _ = main.send(WorkerNote::Done);
    }
    Ok(())
}

/// Starts a work thread; a panic is caught at the task boundary and becomes an exit.
fn spawn_worker(
    node: &Node<DemoMsg, WorkerNote>,
    mutant: Option<&'static str>,
) -> (
    chan::UnboundedSender<(usize, RequestId)>,
    madsim::task::JoinHandle<()>,
) {
    let (tx, rx) = chan::unbounded_channel();
    let main = node.local();
    let busy_hang = mutant == Some(MUTANT_BUSY_HANG);
    let fut = work_thread(node.ctx().clone(), rx, main.clone(), busy_hang);
    let handle = sim::task::spawn_local(async move {
        if let Some(reason) = sim::run_work_thread(fut).await {
            let _ = main.send(WorkerNote::Exit(reason));
        }
    });
    (tx, handle)
}

/// A node's main thread: the client, and the server's hand-off to its work thread with the
/// watchdog that restarts a hung one.
struct MainThread {
    client: Client,
    mutant: Option<&'static str>,
    worker: chan::UnboundedSender<(usize, RequestId)>,
    worker_task: madsim::task::JoinHandle<()>,
    in_flight: u64,
    last_progress_ns: u64,
    effects: Vec<ClientEffect>,
}

impl MainThread {
    fn new(node: &mut Node<DemoMsg, WorkerNote>, mutant: Option<&'static str>) -> MainThread {
        let client = Client {
            me: node.id(),
            incarnation: node.ctx().incarnation,
            double_answer_bug: mutant == Some(MUTANT_DOUBLE_ANSWER),
            ..Client::default()
        };
        let (worker, worker_task) = spawn_worker(node, mutant);
        MainThread {
            client,
            mutant,
            worker,
            worker_task,
            in_flight: 0,
            last_progress_ns: 0,
            effects: Vec::new(),
        }
    }

    fn restart_worker(&mut self, node: &Node<DemoMsg, WorkerNote>) {
        (self.worker, self.worker_task) = spawn_worker(node, self.mutant);
        self.in_flight = 0;
    }
}

impl Machine for MainThread {
    type Msg = DemoMsg;
    type Local = WorkerNote;

    fn on_message(&mut self, node: &mut Node<DemoMsg, WorkerNote>, env: Envelope<DemoMsg>) {
        let now = node.now_ns();
        match env.msg {
            DemoMsg::Request { id } => {
                if self.in_flight == 0 {
                    self.last_progress_ns = now;
                }
                self.in_flight += 1;
                let _ = self.worker.send((env.from, id));
            }
            DemoMsg::Reply { id } => self.client.on_reply(node.id(), now, id),
        }
    }

    fn on_local(&mut self, node: &mut Node<DemoMsg, WorkerNote>, note: WorkerNote) {
        match note {
            WorkerNote::Done => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.last_progress_ns = node.now_ns();
            }
            WorkerNote::Exit(reason) => {
                emit!(node.id(), DemoEvent::WorkerRestart { reason });
                self.restart_worker(node);
            }
        }
    }

    fn on_tick(&mut self, node: &mut Node<DemoMsg, WorkerNote>) {
        let (me, n, now) = (node.id(), node.ctx().nodes(), node.now_ns());
        let mut to = madsim::rand::thread_rng().gen_range(0..n - 1);
        if to >= me {
            to += 1;
        }
        self.client.on_tick(me, now, to, &mut self.effects);
        for e in self.effects.drain(..) {
            let ClientEffect::Send { to, id } = e;
            node.send(to, DemoMsg::Request { id });
        }
        let hung = self.in_flight > 0 && now - self.last_progress_ns > WATCHDOG_MS * 1_000_000;
        if hung && self.mutant != Some(MUTANT_NO_WATCHDOG) {
            self.worker_task.abort();
            emit!(me, DemoEvent::WorkerRestart { reason: "hang" });
            self.restart_worker(node);
        }
    }
}

async fn node_main(ctx: NodeCtx<DemoMsg>, mutant: Option<&'static str>) {
    emit!(
        ctx.id,
        DemoEvent::Boot {
            incarnation: ctx.incarnation
        }
    );
    sim::report_phase(ctx.id, "serving");
    let ticks = Ticks::every(Duration::from_millis(TICK_MS));
    shell::run(ctx, ticks, |node| MainThread::new(node, mutant)).await;
}

/// Always: a request is resolved (answered or lost) at most once. Eventually: every
/// request from a node that stayed up is resolved by the end of the run.
#[derive(Default)]
pub struct AnsweredOnce {
    /// Request -> (client node, sent at).
    open: BTreeMap<RequestId, (NodeId, u64)>,
    resolved: BTreeMap<RequestId, &'static str>,
}

impl Checker for AnsweredOnce {
    fn name(&self) -> &'static str {
        "answered_once"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("node", "crash") | ("demo", "request" | "answered" | "lost")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(NodeEvent::Crash) = ev.get() {
            // A crashed client forgets its requests; they are neither answered nor lost.
            self.open.retain(|_, (node, _)| *node != ev.node);
            return Ok(());
        }
        let (id, outcome) = match ev.get::<DemoEvent>() {
            Some(DemoEvent::Request { id, .. }) => {
                self.open.insert(*id, (ev.node, ev.t_ns));
                return Ok(());
            }
            Some(DemoEvent::Answered { id, .. }) => (*id, "answered"),
            Some(DemoEvent::Lost { id }) => (*id, "lost"),
            _ => return Ok(()),
        };
        if let Some(prev) = self.resolved.get(&id) {
            return Err(format!("request {id} was {prev} and then {outcome} again"));
        }
        if self.open.remove(&id).is_none() {
            return Err(format!("request {id} was {outcome} but never sent"));
        }
        self.resolved.insert(id, outcome);
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let cutoff = end
            .t_ns
            .saturating_sub((TIMEOUT_MS + 2 * TICK_MS) * 1_000_000);
        match self.open.iter().find(|(_, (_, sent))| *sent < cutoff) {
            Some((id, (node, sent))) => Err(format!(
                "request {id} from {node} sent at {} was never answered nor reported lost",
                SimTime(*sent)
            )),
            None => Ok(()),
        }
    }
}

/// Eventually: once faults have healed and the system settled, a request between two live
/// nodes is answered, not lost.
#[derive(Default)]
pub struct AnsweredAfterHeal {
    liveness_start_ns: Option<u64>,
    /// Requests sent after the settle time: id -> (from, to).
    watched: BTreeMap<RequestId, (NodeId, NodeId)>,
    /// Watched requests reported lost: (id, from, to, when).
    lost: Vec<(RequestId, NodeId, NodeId, u64)>,
}

impl Checker for AnsweredAfterHeal {
    fn name(&self) -> &'static str {
        "answered_after_heal"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!(
            (component, event),
            ("world", "phase") | ("demo", "request" | "lost")
        )
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(WorldEvent::Phase {
            phase: Phase::Liveness,
        }) = ev.get()
        {
            self.liveness_start_ns = Some(ev.t_ns);
        }
        let Some(start) = self.liveness_start_ns else {
            return Ok(());
        };
        match ev.get::<DemoEvent>() {
            Some(DemoEvent::Request { id, to }) if ev.t_ns >= start + SETTLE_MS * 1_000_000 => {
                self.watched.insert(*id, (ev.node, *to));
            }
            Some(DemoEvent::Lost { id }) => {
                if let Some((from, to)) = self.watched.remove(id) {
                    self.lost.push((*id, from, to, ev.t_ns));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let live = |n: NodeId| end.live_nodes.contains(&n.index());
        match self.lost.iter().find(|(_, f, t, _)| live(*f) && live(*t)) {
            Some((id, from, to, t)) => Err(format!(
                "request {id} {from}->{to} was lost at {}, after the faults healed",
                SimTime(*t)
            )),
            None => Ok(()),
        }
    }
}

/// The catalog entry.
pub struct Demo;

impl Scenario for Demo {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn description(&self) -> &'static str {
        "request/reply between 5 nodes with a faulty work thread; every request answered once or lost"
    }

    fn world(&self) -> WorldConfig {
        let mut w = WorldConfig::new(5, 20_000, 10_000);
        w.plan.allowed = FaultKind::ALL.to_vec();
        w.plan.work_threads = 1;
        w
    }

    fn mutants(&self) -> Vec<Mutant> {
        vec![
            Mutant {
                name: MUTANT_DOUBLE_ANSWER,
                description: "the client counts a duplicated reply as a second answer",
            },
            Mutant {
                name: MUTANT_NO_WATCHDOG,
                description: "no watchdog: a hung work thread is never restarted",
            },
            Mutant {
                name: MUTANT_BUSY_HANG,
                description: "a work thread told to hang spins without yielding: the seed \
                              never ends (reported as a timeout)",
            },
        ]
    }

    fn checkers(&self) -> Vec<&'static str> {
        demo_checkers().iter().map(|c| c.name()).collect()
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        let mutant: Option<&'static str> = self
            .mutants()
            .into_iter()
            .map(|m| m.name)
            .find(|m| Some(*m) == mutant);
        sim::run_world(&self.world(), spec, demo_checkers(), move |ctx| {
            node_main(ctx, mutant)
        })
    }
}

fn demo_checkers() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(AnsweredOnce::default()),
        Box::new(AnsweredAfterHeal::default()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::check::check_events;
    use sim::Recorded;

    const MS: u64 = 1_000_000;

    fn at(t_ms: u64, node: usize, ev: DemoEvent) -> Recorded {
        Recorded::new(t_ms * MS, node, ev)
    }

    fn run(checker: impl Checker + 'static, trace: &[Recorded], live: &[usize]) -> Vec<String> {
        let end = RunEnd {
            t_ns: 30_000 * MS,
            liveness_start_ns: 20_000 * MS,
            live_nodes: live.to_vec(),
        };
        check_events(vec![Box::new(checker)], trace, &end)
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn answered_once_flags_a_second_answer_by_the_requests_id() {
        let id = RequestId::new(4, 0, 119);
        let request = at(1_000, 4, DemoEvent::Request { id, to: NodeId(1) });
        let answer = |t| {
            at(
                t,
                4,
                DemoEvent::Answered {
                    id,
                    latency: SimDuration(2 * MS),
                },
            )
        };
        let all = [0, 1, 2, 3, 4];
        assert!(run(
            AnsweredOnce::default(),
            &[request.clone(), answer(1_002)],
            &all
        )
        .is_empty());
        assert_eq!(
            run(
                AnsweredOnce::default(),
                &[request.clone(), answer(1_002), answer(11_883)],
                &all
            ),
            ["answered_once violated at event #2 (t=11.883000s): \
              request 4.0.119 was answered and then answered again"]
        );
        // A request never resolved is reported at the end, unless its client crashed.
        assert_eq!(
            run(
                AnsweredOnce::default(),
                std::slice::from_ref(&request),
                &all
            ),
            ["answered_once violated at event #1 (t=30.000000s): \
              request 4.0.119 from n4 sent at 1.000000s was never answered nor reported lost"]
        );
        let crash = Recorded::new(2_000 * MS, 4usize, sim::NodeEvent::Crash);
        assert!(run(AnsweredOnce::default(), &[request, crash], &all).is_empty());
    }

    #[test]
    fn answered_after_heal_flags_a_request_between_live_nodes_lost_after_the_heal() {
        let id = RequestId::new(2, 1, 7);
        let liveness = Recorded::new(
            20_000 * MS,
            NodeId::WORLD,
            WorldEvent::Phase {
                phase: Phase::Liveness,
            },
        );
        let trace = [
            liveness,
            at(23_000, 2, DemoEvent::Request { id, to: NodeId(3) }),
            at(24_500, 2, DemoEvent::Lost { id }),
        ];
        assert_eq!(
            run(AnsweredAfterHeal::default(), &trace, &[0, 1, 2, 3, 4]),
            ["answered_after_heal violated at event #3 (t=30.000000s): \
              request 2.1.7 n2->n3 was lost at 24.500000s, after the faults healed"]
        );
        // Its server died for good: losing the request is no fault of the protocol.
        assert!(run(AnsweredAfterHeal::default(), &trace, &[0, 1, 2, 4]).is_empty());
    }
}
