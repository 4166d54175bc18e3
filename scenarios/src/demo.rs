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
use sim::trace::TraceEvent;
use sim::world::{NodeCtx, Phase, RunReport, RunSpec, WorldConfig};
use sim::{emit, Envelope, FaultKind, Mutant, Scenario, WorkFaultMode, WorkFaultResponse};
use std::collections::BTreeMap;
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

#[derive(Clone, Debug)]
pub enum DemoMsg {
    Request { id: u64 },
    Reply { id: u64 },
}

/// What the main thread's inbox receives.
enum Input {
    Net(Envelope<DemoMsg>),
    Tick,
    /// The work thread finished a request.
    Done,
    /// The work thread ended: "panic", "error".
    WorkerExit(&'static str),
}

/// The client half as a plain state machine: requests out, answers and losses in.
#[derive(Default)]
pub struct Client {
    /// Node and incarnation in the high bits keep ids unique across restarts.
    id_prefix: u64,
    next_seq: u64,
    outstanding: BTreeMap<u64, u64>,
    double_answer_bug: bool,
    answered: Vec<u64>,
}

/// An effect the client asks its shell to perform.
#[derive(Debug, PartialEq)]
pub enum ClientEffect {
    Send { to: usize, id: u64 },
}

impl Client {
    fn on_tick(&mut self, me: usize, now_ns: u64, to: usize, out: &mut Vec<ClientEffect>) {
        let expired: Vec<u64> = self
            .outstanding
            .iter()
            .filter(|(_, &sent)| now_ns.saturating_sub(sent) >= TIMEOUT_MS * 1_000_000)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.outstanding.remove(&id);
            emit!(me, "demo", "lost", id = id);
        }
        self.next_seq += 1;
        let id = self.id_prefix | self.next_seq;
        self.outstanding.insert(id, now_ns);
        emit!(me, "demo", "request", id = id, to = to as u64);
        out.push(ClientEffect::Send { to, id });
    }

    fn on_reply(&mut self, me: usize, now_ns: u64, id: u64) {
        if let Some(sent) = self.outstanding.remove(&id) {
            self.answered.push(id);
            if self.answered.len() > 64 {
                self.answered.remove(0);
            }
            emit!(me, "demo", "answered", id = id, latency_ns = now_ns - sent);
        } else if self.double_answer_bug && self.answered.contains(&id) {
            emit!(me, "demo", "answered", id = id, latency_ns = 0u64);
        }
    }
}

/// The work thread: serves requests one by one, misbehaving as the hook says.
async fn work_thread(
    ctx: NodeCtx<DemoMsg>,
    mut jobs: chan::UnboundedReceiver<(usize, u64)>,
    main: chan::UnboundedSender<Input>,
    busy_hang: bool,
) -> Result<(), &'static str> {
    let mut faults = WorkFaultResponse::default();
    while let Some((from, id)) = jobs.recv().await {
        ctx.process_message().await;
        let fault = ctx.hook().take_for(0, 1);
        if let Some(f) = &fault {
            emit!(ctx.id, "demo", "work_fault", mode = f.mode.name());
            if busy_hang && f.mode == WorkFaultMode::Hang {
                // The planted bug: spin on the thread instead of awaiting, which never
                // hands control back to the simulator.
                loop {
                    std::hint::spin_loop();
                }
            }
        }
        faults.apply(fault).await?;
        emit!(ctx.id, "demo", "served", id = id, from = from as u64);
        ctx.send(from, DemoMsg::Reply { id });
        let _ = main.send(Input::Done);
    }
    Ok(())
}

/// Starts a work thread; a panic is caught at the task boundary and becomes an exit.
fn spawn_worker(
    ctx: &NodeCtx<DemoMsg>,
    inbox: &chan::UnboundedSender<Input>,
    mutant: Option<&'static str>,
) -> (
    chan::UnboundedSender<(usize, u64)>,
    madsim::task::JoinHandle<()>,
) {
    let (tx, rx) = chan::unbounded_channel();
    let main = inbox.clone();
    let busy_hang = mutant == Some(MUTANT_BUSY_HANG);
    let fut = work_thread(ctx.clone(), rx, main.clone(), busy_hang);
    let handle = madsim::task::spawn_local(async move {
        if let Some(reason) = sim::run_work_thread(fut).await {
            let _ = main.send(Input::WorkerExit(reason));
        }
    });
    (tx, handle)
}

async fn node_main(ctx: NodeCtx<DemoMsg>, mutant: Option<&'static str>) {
    let me = ctx.id;
    let n = ctx.nodes();
    emit!(me, "demo", "boot", incarnation = ctx.incarnation);
    sim::report_phase(me, "serving");
    let (inbox, mut rx) = chan::unbounded_channel::<Input>();
    // Thin shell: the network and the clock feed the main thread's one inbox.
    let net_ctx = ctx.clone();
    let net_tx = inbox.clone();
    madsim::task::spawn_local(async move {
        loop {
            let env = net_ctx.recv().await;
            if net_tx.send(Input::Net(env)).is_err() {
                return;
            }
        }
    });
    let tick_tx = inbox.clone();
    let offset_ms = madsim::rand::thread_rng().gen_range(0..TICK_MS);
    sim::clock::spawn_ticks(
        Some(Duration::from_millis(offset_ms)),
        Duration::from_millis(TICK_MS),
        move || tick_tx.send(Input::Tick).is_ok(),
    );

    let mut client = Client {
        id_prefix: ((me as u64) << 48) | (ctx.incarnation << 32),
        double_answer_bug: mutant == Some(MUTANT_DOUBLE_ANSWER),
        ..Client::default()
    };
    let (mut worker, mut worker_task) = spawn_worker(&ctx, &inbox, mutant);
    let mut in_flight = 0u64;
    let mut last_progress_ns = 0u64;
    let mut effects = Vec::new();
    while let Some(input) = rx.recv().await {
        let now = ctx.now_ns();
        match input {
            Input::Net(env) => match env.msg {
                DemoMsg::Request { id } => {
                    if in_flight == 0 {
                        last_progress_ns = now;
                    }
                    in_flight += 1;
                    let _ = worker.send((env.from, id));
                }
                DemoMsg::Reply { id } => client.on_reply(me, now, id),
            },
            Input::Done => {
                in_flight = in_flight.saturating_sub(1);
                last_progress_ns = now;
            }
            Input::WorkerExit(reason) => {
                emit!(me, "demo", "worker_restart", reason = reason);
                (worker, worker_task) = spawn_worker(&ctx, &inbox, mutant);
                in_flight = 0;
            }
            Input::Tick => {
                if ctx.phase() == Phase::Ended {
                    continue;
                }
                let mut to = madsim::rand::thread_rng().gen_range(0..n - 1);
                if to >= me {
                    to += 1;
                }
                client.on_tick(me, now, to, &mut effects);
                for e in effects.drain(..) {
                    let ClientEffect::Send { to, id } = e;
                    ctx.send(to, DemoMsg::Request { id });
                }
                let hung = in_flight > 0 && now - last_progress_ns > WATCHDOG_MS * 1_000_000;
                if hung && mutant != Some(MUTANT_NO_WATCHDOG) {
                    worker_task.abort();
                    emit!(me, "demo", "worker_restart", reason = "hang");
                    (worker, worker_task) = spawn_worker(&ctx, &inbox, mutant);
                    in_flight = 0;
                }
            }
        }
    }
}

/// Always: a request is resolved (answered or lost) at most once. Eventually: every
/// request from a node that stayed up is resolved by the end of the run.
#[derive(Default)]
pub struct AnsweredOnce {
    /// Request id -> (client node, sent at).
    open: BTreeMap<u64, (u64, u64)>,
    resolved: BTreeMap<u64, &'static str>,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.component == "node" && ev.event == "crash" {
            // A crashed client forgets its requests; they are neither answered nor lost.
            self.open.retain(|_, (node, _)| *node != ev.node);
            return Ok(());
        }
        if ev.component != "demo" {
            return Ok(());
        }
        let outcome = match ev.event.as_str() {
            "request" => {
                let id = ev.u64("id").unwrap_or(0);
                self.open.insert(id, (ev.node, ev.t_ns));
                return Ok(());
            }
            "answered" => "answered",
            "lost" => "lost",
            _ => return Ok(()),
        };
        let id = ev.u64("id").unwrap_or(0);
        if let Some(prev) = self.resolved.get(&id) {
            return Err(format!(
                "request {id:#x} was {prev} and then {outcome} again"
            ));
        }
        if self.open.remove(&id).is_none() {
            return Err(format!("request {id:#x} was {outcome} but never sent"));
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
                "request {id:#x} from n{node} sent at {:.3}ms was never answered nor reported lost",
                *sent as f64 / 1e6
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
    watched: BTreeMap<u64, (u64, u64)>,
    lost: Vec<(u64, u64, u64, u64)>,
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

    fn on_event(&mut self, ev: &TraceEvent) -> Result<(), String> {
        if ev.is("world", "phase") && ev.str("phase") == Some("liveness") {
            self.liveness_start_ns = Some(ev.t_ns);
        }
        let Some(start) = self.liveness_start_ns else {
            return Ok(());
        };
        if ev.component != "demo" {
            return Ok(());
        }
        match ev.event.as_str() {
            "request" if ev.t_ns >= start + SETTLE_MS * 1_000_000 => {
                let to = ev.u64("to").unwrap_or(0);
                self.watched
                    .insert(ev.u64("id").unwrap_or(0), (ev.node, to));
            }
            "lost" => {
                let id = ev.u64("id").unwrap_or(0);
                if let Some((from, to)) = self.watched.remove(&id) {
                    self.lost.push((id, from, to, ev.t_ns));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let live = |n: u64| end.live_nodes.contains(&(n as usize));
        match self.lost.iter().find(|(_, f, t, _)| live(*f) && live(*t)) {
            Some((id, from, to, t)) => Err(format!(
                "request {id:#x} n{from}->n{to} was lost at {:.3}ms, after the faults healed",
                *t as f64 / 1e6
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
        sim::check_mutant(self, mutant)?;
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
