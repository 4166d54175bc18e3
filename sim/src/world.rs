//! The world: N named nodes on one madsim runtime, driven through a safety phase (the fault
//! plan) and a liveness phase (every fault healed), then torn down cleanly.
//!
//! A run is a pure function of its [`RunSpec`]: the seed seeds madsim (task order, network
//! sampling) and, on a separate ChaCha stream, the fault plan. Every node is killed before
//! the runtime is dropped, so one process can run thousands of seeds without leaking the
//! tasks madsim would otherwise keep.

use crate::check::{Checker, CheckerSet, RunEnd, Violation};
use crate::cost::{Cores, CostModel};
use crate::emit;
use crate::event::{ComponentSchema, EventRef, NodeId};
use crate::fault::{Fault, FaultKind, FaultPlan, PartitionSymmetry, PlanConfig, WorkFaultMode};
use crate::net::{Envelope, Net, NetConfig, NetStats};
use crate::time::SimDuration;
use crate::trace::{Detail, Recording, Trace};
use serde::Serialize;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The shape of a world: its nodes, phases, network and the faults it admits.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub nodes: usize,
    /// Faults happen in `[0, safety_ms)`.
    pub safety_ms: u64,
    /// After the safety phase every fault heals and the system has this long to converge.
    pub liveness_ms: u64,
    pub net: NetConfig,
    pub plan: PlanConfig,
    /// Lets code inside the run end it early (see [`StopSignal`]).
    pub stop: Option<StopSignal>,
    /// What a work thread's handling of a message costs; `None`: nothing.
    pub cost: Option<CostModel>,
}

impl WorldConfig {
    pub fn new(nodes: usize, safety_ms: u64, liveness_ms: u64) -> Self {
        WorldConfig {
            nodes,
            safety_ms,
            liveness_ms,
            net: NetConfig::default(),
            plan: PlanConfig::new(nodes, safety_ms),
            stop: None,
            cost: None,
        }
    }

    pub fn total_ms(&self) -> u64 {
        self.safety_ms + self.liveness_ms
    }
}

/// Ends a run from inside it, e.g. a benchmark's observer once it has measured enough:
/// the world stops at once, where it is, with no liveness phase. A run cut short has no
/// end to judge, so end-of-run (eventually) checks are skipped; checks of every event
/// still apply.
#[derive(Clone, Debug, Default)]
pub struct StopSignal(Arc<StopState>);

#[derive(Debug, Default)]
struct StopState {
    stopped: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl StopSignal {
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
        // `notify_one` keeps a permit, so a stop before the world waits is not lost.
        self.0.notify.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Relaxed)
    }

    async fn wait(&self) {
        while !self.is_stopped() {
            self.0.notify.notified().await;
        }
    }
}

/// Where a run's fault plan comes from.
#[derive(Clone, Debug)]
pub enum PlanSource {
    /// Generated from the seed; `swarm` lets the seed pick the enabled kinds.
    Generate { swarm: bool },
    /// Applied exactly as given (a replayed or shrunk artifact, a scripted test).
    Given(FaultPlan),
}

/// Everything that determines a run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub seed: u64,
    pub plan: PlanSource,
    /// Keep the full event list (for printing); a sweep keeps only hashes.
    pub keep_events: bool,
    /// What the trace records beyond the protocol-level events (which alone are hashed
    /// and checked, so the run is the same at every level).
    pub detail: Detail,
}

impl RunSpec {
    pub fn swarm(seed: u64) -> Self {
        RunSpec {
            seed,
            plan: PlanSource::Generate { swarm: true },
            keep_events: false,
            detail: Detail::Protocol,
        }
    }

    /// A scripted run: exactly these faults, and the full trace kept for inspection.
    pub fn scripted(seed: u64, faults: Vec<Fault>) -> Self {
        RunSpec {
            seed,
            plan: PlanSource::Given(FaultPlan {
                faults,
                enabled: vec![],
            }),
            keep_events: true,
            detail: Detail::Protocol,
        }
    }
}

/// The phase of the run, readable by node code ([`NodeCtx::phase`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `[0, safety_ms)`: the fault plan runs. Checkers of "always" properties hold here.
    Safety,
    /// `[safety_ms, safety_ms + liveness_ms)`: every fault has healed (windows closed,
    /// paused nodes resumed, nodes due to restart restarted; nodes crashed for good stay
    /// down) and no new one starts: the system has this long to converge, and end-of-run
    /// ("eventually") checks judge what it reached.
    Liveness,
    /// The run is over and being judged; the nodes are killed right after. Node loops
    /// should start no new work (no new requests, no new timeouts): work begun now cannot
    /// finish, and an end-of-run check would count it as unanswered. Messages may still be
    /// delivered. [`crate::shell`] stops ticks here by itself.
    Ended,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Safety => "safety",
            Phase::Liveness => "liveness",
            Phase::Ended => "ended",
        }
    }
}

crate::trace_field_by_name!(Phase);

crate::trace_events! {
    /// The run itself: its start, its phases and its end.
    pub enum WorldEvent in "world" {
        /// The run started.
        Start as "start" {
            /// Nodes in the world.
            nodes: u64,
            /// Faults in the plan.
            faults: u64,
        },
        /// The run entered a phase: `safety` (the fault plan) or `liveness` (every fault
        /// healed, the system must converge).
        Phase as "phase" {
            /// The phase entered.
            phase: Phase,
        },
        /// Code inside the run stopped it early: no liveness phase, no end-of-run checks.
        Stop as "stop",
        /// The run ended, with the network's counts.
        End as "end" {
            /// Messages sent.
            sent: u64,
            /// Messages delivered (duplicates included).
            delivered: u64,
            /// Extra copies the network made.
            duplicated: u64,
            /// Messages a partition or clog dropped.
            dropped_partition: u64,
            /// Messages packet loss dropped.
            dropped_loss: u64,
            /// Messages dropped because their sender or receiver was down.
            dropped_down: u64,
            /// Nodes up at the end.
            live: u64,
        },
    }
}

crate::trace_events! {
    /// The fault plan as the world applies it. A fault's number is its index in the plan;
    /// `fault.start` names what it hits with the fields of its kind (the others are left
    /// off).
    pub enum FaultEvent in "fault" {
        /// A fault took effect.
        Start as "start" {
            /// The fault's index in the plan.
            fault: u64,
            /// Its kind.
            kind: FaultKind,
            /// The node it hits (crash, latency spike, pause, work thread).
            target: Option<NodeId>,
            /// The side a partition cuts off.
            side_a: Option<Vec<NodeId>>,
            /// Whether a partition drops only the messages leaving `side_a`.
            one_way: Option<bool>,
            /// One end of a clogged link.
            a: Option<NodeId>,
            /// The other end of a clogged link.
            b: Option<NodeId>,
            /// The chance a message is dropped (packet loss) or doubled (duplication).
            probability: Option<f64>,
            /// The latency a spike adds to the target's messages.
            extra_latency: Option<SimDuration>,
            /// The work thread told to misbehave.
            thread: Option<u32>,
            /// How the work thread misbehaves: panic, error, hang, slow.
            mode: Option<&'static str>,
        },
        /// A fault did nothing: its node was already down.
        Skip as "skip" {
            /// The fault's index in the plan.
            fault: u64,
            /// Its kind.
            kind: FaultKind,
            /// Why it was skipped.
            why: &'static str,
        },
        /// A fault's window closed.
        End as "end" {
            /// The fault's index in the plan.
            fault: u64,
            /// Its kind.
            kind: FaultKind,
        },
        /// The safety phase ended: every open window closed, paused nodes resumed, crashed
        /// nodes due to restart came back.
        HealAll as "heal_all",
    }
}

crate::trace_events! {
    /// A node going down and coming back, as the fault plan makes it.
    pub enum NodeEvent in "node" {
        /// The node crashed: every task on it is gone.
        Crash as "crash",
        /// The node started again.
        Restart as "restart" {
            /// How many times it has restarted, this time included.
            incarnation: u64,
        },
    }
}

crate::trace_events! {
    /// What a node's protocol is doing, for the sweep's coverage table (which fault kinds
    /// hit which protocol phases).
    pub enum ProtoEvent in "proto" {
        /// The node's protocol entered a phase.
        Phase as "phase" {
            /// The phase's name, the protocol's own.
            phase: &'static str,
        },
    }
}

/// The schemas of the world's own events (`world.*`, `fault.*`, `node.*`, `proto.*`), for
/// generated documentation and listings.
pub fn event_schemas() -> [&'static ComponentSchema; 4] {
    [
        WorldEvent::schema(),
        FaultEvent::schema(),
        NodeEvent::schema(),
        ProtoEvent::schema(),
    ]
}

impl FaultEvent {
    /// A `fault.start` of fault `fault` with no kind-specific field set yet.
    pub fn start(fault: usize, kind: FaultKind) -> FaultEvent {
        FaultEvent::Start {
            fault: fault as u64,
            kind,
            target: None,
            side_a: None,
            one_way: None,
            a: None,
            b: None,
            probability: None,
            extra_latency: None,
            thread: None,
            mode: None,
        }
    }
}

/// A work-thread fault as the job sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkFault {
    /// Which work thread, to be taken modulo the job's thread count.
    pub thread: u32,
    pub mode: WorkFaultMode,
    /// When every fault heals (the end of the safety phase): a slow window ends by then,
    /// however late its thread takes the fault.
    pub heal_ns: u64,
}

/// The injection point for work-thread faults: the world pushes, the job takes.
#[derive(Clone, Default)]
pub struct WorkFaultHook {
    queue: Arc<Mutex<VecDeque<WorkFault>>>,
    notify: Arc<Notify>,
}

impl WorkFaultHook {
    fn push(&self, f: WorkFault) {
        self.queue.lock().expect("hook lock").push_back(f);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    fn clear(&self) {
        self.queue.lock().expect("hook lock").clear();
    }

    /// Takes the oldest pending fault, for any thread.
    pub fn take(&self) -> Option<WorkFault> {
        self.queue.lock().expect("hook lock").pop_front()
    }

    /// Takes the oldest pending fault meant for work thread `index` of `count`.
    pub fn take_for(&self, index: u32, count: u32) -> Option<WorkFault> {
        let mut q = self.queue.lock().expect("hook lock");
        let pos = q.iter().position(|f| f.thread % count.max(1) == index)?;
        q.remove(pos)
    }

    /// Waits until a fault is pending (it is not taken).
    pub async fn pending(&self) {
        loop {
            let notified = self.notify.notified();
            if !self.queue.lock().expect("hook lock").is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// How a work thread carries out the faults its hook hands it, so every job misbehaves
/// the same way: a panic, an error return, a hang, or a window of slow steps.
#[derive(Debug, Default)]
pub struct WorkFaultResponse {
    slow_until_ns: u64,
    slow_delay_ms: u64,
}

impl WorkFaultResponse {
    /// Carries out `fault`, if any: panics (with [`crate::INJECTED_PANIC`]), returns
    /// `Err("error")`, hangs for ever, or opens a slow window; then, while a slow window
    /// is open, takes its delay. Call once per step of the work thread.
    pub async fn apply(&mut self, fault: Option<WorkFault>) -> Result<(), &'static str> {
        if let Some(f) = fault {
            match f.mode {
                WorkFaultMode::Panic => panic!("{}", crate::INJECTED_PANIC),
                WorkFaultMode::Error => return Err("error"),
                WorkFaultMode::Hang => futures::future::pending::<()>().await,
                WorkFaultMode::Slow {
                    delay_ms,
                    duration_ms,
                } => {
                    self.slow_delay_ms = delay_ms;
                    self.slow_until_ns =
                        (crate::clock::now_ns() + duration_ms * 1_000_000).min(f.heal_ns);
                }
            }
        }
        if crate::clock::now_ns() < self.slow_until_ns {
            madsim::time::sleep(Duration::from_millis(self.slow_delay_ms)).await;
        }
        Ok(())
    }
}

/// Runs a work thread to its end at the task boundary, where a panic must be caught (an
/// uncaught one aborts the seed): `None` if it finished, otherwise why it died, `"panic"`
/// or the error it returned.
pub async fn run_work_thread<F>(work: F) -> Option<&'static str>
where
    F: Future<Output = Result<(), &'static str>>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some("panic"),
    }
}

struct Shared<M> {
    net: Net<M>,
    hooks: Vec<WorkFaultHook>,
    incarnation: Mutex<Vec<u64>>,
    phase: AtomicU8,
    n: usize,
}

/// What node code gets: its identity, the network, its fault hook, the run's phase.
///
/// # Node lifecycle
///
/// [`run_world`] calls the node's init function (`node_main`) with a fresh `NodeCtx` when
/// the run starts, and again after every restart. Everything the node's tasks own, its
/// memory, lives only as long as that incarnation:
///
/// - **Crash**: every task of the node is killed at once (futures dropped mid-await, no
///   clean-up code runs), so its in-memory state is gone. Its inbox is emptied and messages
///   sent to it while it is down are dropped; messages it sent before the crash are still
///   delivered. Pending work-thread faults for it are forgotten. Nothing is recorded for
///   the dead incarnation after the `node.crash` event.
/// - **Restart**: the node comes back with [`incarnation`](Self::incarnation) one higher
///   and runs its init function from scratch, with fresh cores; it must rebuild its state
///   (from its durable state, see below, or from its peers). A crash whose window outlives
///   the safety phase restarts when the phase ends; a permanent one never does.
/// - **Pause**: every task of the node freezes (not polled) for the window, then resumes
///   where it was, with its memory intact: timers that came due fire at once, and the
///   messages that arrived meanwhile wait in its inbox and are delivered after (the network
///   does not drop them). Peers see a node that stops answering, then answers late. A crash
///   during a pause ends the pause.
/// - **Network faults** (partition, clog, loss, duplication, latency spike) act on
///   messages in the network model, not on the node: a partition drops messages on a cut
///   link when sent and again when due for delivery.
///
/// **Durable state** (a disk, a write-ahead log) is modelled by keeping it outside the
/// nodes, per run: create it in [`crate::Scenario::run`] (so each seed starts with empty
/// disks), capture it in the `node_main` closure given to [`run_world`], index it by
/// [`id`](Self::id), and have the node read it when it boots and write it *before* it
/// acknowledges anything that depends on it. A crash then loses exactly what a real
/// crash loses: what was not yet written. Use `std::sync::Mutex` or a `BTreeMap`, never
/// anything that iterates in a random order. `examples/register` does this with a
/// replica's `(tag, value)`.
pub struct NodeCtx<M> {
    pub id: usize,
    /// How many times this node has started (0 for the first boot).
    pub incarnation: u64,
    shared: Arc<Shared<M>>,
    cores: Cores,
}

impl<M> Clone for NodeCtx<M> {
    fn clone(&self) -> Self {
        NodeCtx {
            id: self.id,
            incarnation: self.incarnation,
            shared: self.shared.clone(),
            cores: self.cores.clone(),
        }
    }
}

impl<M: Clone + Send + std::fmt::Debug + 'static> NodeCtx<M> {
    pub fn nodes(&self) -> usize {
        self.shared.n
    }

    pub fn send(&self, to: usize, msg: M) {
        self.shared.net.send(self.id, to, msg);
    }

    /// Waits for the next message the network delivers to this node, in delivery order
    /// (due time, then send order). Call it from exactly one task of the node, the one
    /// that feeds the protocol: two receivers would split the messages between them in an
    /// order that depends on the scheduler. A crash kills the receiving task with the rest;
    /// the next incarnation calls it afresh. [`crate::shell::run`] owns this task for a
    /// protocol written as a [`crate::shell::Machine`].
    pub async fn recv(&self) -> Envelope<M> {
        self.shared.net.recv(self.id).await
    }

    /// [`recv`](Self::recv) as a poll, for the node's receiving task when it waits on
    /// more than the network (see [`crate::shell::Inbox`]); the same rules apply.
    pub fn poll_recv(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Envelope<M>> {
        self.shared.net.poll_recv(self.id, cx)
    }

    pub fn net(&self) -> &Net<M> {
        &self.shared.net
    }

    pub fn hook(&self) -> &WorkFaultHook {
        &self.shared.hooks[self.id]
    }

    pub fn phase(&self) -> Phase {
        match self.shared.phase.load(Ordering::Relaxed) {
            0 => Phase::Safety,
            1 => Phase::Liveness,
            _ => Phase::Ended,
        }
    }

    /// Simulated ns since the run started.
    pub fn now_ns(&self) -> u64 {
        crate::clock::now_ns()
    }

    /// A work thread's handling of one message under the world's cost model: waits for
    /// one of this node's cores and holds it for a drawn service time; free (and
    /// immediate) when the world has no model. See [`crate::cost`].
    pub async fn process_message(&self) {
        self.cores.process().await;
    }
}

/// Which fault kinds were active during which protocol phases: the sweep's coverage table.
pub type Coverage = BTreeSet<(String, String)>;

/// The result of one run.
#[derive(Debug)]
pub struct RunReport {
    pub seed: u64,
    pub plan: FaultPlan,
    pub trace: Trace,
    pub violations: Vec<Violation>,
    pub net: NetStats,
    pub sim_ns: u64,
    pub coverage: Coverage,
    /// Named counts the scenario reports for this run (see [`crate::scenario::Counters`]);
    /// empty unless the scenario's `run` fills them in.
    pub counters: crate::scenario::Counters,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Observes `proto.phase` and `fault.start` events to fill the coverage table.
struct CoverageObserver {
    node_phase: BTreeMap<NodeId, &'static str>,
    out: Arc<Mutex<Coverage>>,
}

impl Checker for CoverageObserver {
    fn name(&self) -> &'static str {
        "coverage"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        matches!((component, event), ("proto", "phase") | ("fault", "start"))
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        if let Some(ProtoEvent::Phase { phase }) = ev.get() {
            self.node_phase.insert(ev.node, phase);
        } else if let Some(FaultEvent::Start { kind, target, .. }) = ev.get() {
            let kind = kind.name().to_string();
            let mut out = self.out.lock().expect("coverage lock");
            // A fault on one node hits that node's phase; a network-wide one hits all.
            let phases: Vec<&str> = match target {
                Some(n) => self.node_phase.get(n).copied().into_iter().collect(),
                None => self.node_phase.values().copied().collect(),
            };
            if phases.is_empty() {
                out.insert((kind.clone(), "idle".to_string()));
            }
            for p in phases {
                out.insert((kind.clone(), p.to_string()));
            }
        }
        Ok(())
    }
}

/// Records which phase a node's protocol is in, for the coverage table.
pub fn report_phase(node: usize, phase: &'static str) {
    emit!(node, ProtoEvent::Phase { phase });
}

enum Action {
    Start(usize),
    End(usize),
}

/// Runs one seed of a world. `node_main` is each node's init task; it runs again, with a
/// higher incarnation, whenever a crashed node restarts (see [`NodeCtx`] for what a crash,
/// a restart and a pause do to a node).
///
/// Per seed, everything is set up and torn down here: the plan is generated from
/// `spec.seed` (or validated against the world, when given), a fresh madsim runtime is
/// seeded with `spec.seed`, and the nodes boot at time 0 in index order. The safety phase
/// applies the plan on the simulated clock; at `safety_ms` every fault heals and the
/// liveness phase runs for `liveness_ms` (a [`StopSignal`] can end the run earlier).
/// Then the phase becomes [`Phase::Ended`], `world.end` is recorded, every node is
/// killed, and the runtime is dropped with every task, channel and queued message, so
/// nothing of one seed reaches the next. The checkers see every event as it is recorded,
/// and their end-of-run checks run once the world has ended; a panic anywhere in the run
/// becomes a `no_panic` violation rather than unwinding into the caller.
///
/// `Err` is bad input only: a given plan that names nodes outside the world, or aims a
/// fault at a node the plan config spares.
pub fn run_world<M, F, Fut>(
    cfg: &WorldConfig,
    spec: &RunSpec,
    checkers: Vec<Box<dyn Checker>>,
    node_main: F,
) -> Result<RunReport, String>
where
    M: Clone + Send + std::fmt::Debug + 'static,
    F: Fn(NodeCtx<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let plan = match &spec.plan {
        PlanSource::Generate { swarm } => FaultPlan::generate(spec.seed, &cfg.plan, *swarm),
        PlanSource::Given(p) => {
            p.validate(cfg.nodes)?;
            p.check_spared(&cfg.plan)?;
            let mut p = p.clone();
            p.sort();
            p
        }
    };
    crate::install_panic_filter();
    PANIC_AT_NS.set(None);

    let coverage = Arc::new(Mutex::new(Coverage::new()));
    let mut all: Vec<Box<dyn Checker>> = vec![Box::new(CoverageObserver {
        node_phase: BTreeMap::new(),
        out: coverage.clone(),
    })];
    all.extend(checkers);
    let recording = Recording::start(spec.keep_events, spec.detail, CheckerSet::new(all));

    let mut rt = madsim::runtime::Runtime::with_seed_and_config(spec.seed, Default::default());
    // A task that spins without ever letting time reach the end is a hang: madsim panics
    // past this limit and the caller reports it as the seed's failure.
    rt.set_time_limit(Duration::from_millis(cfg.total_ms() + 60_000));

    let shared = Arc::new(Shared {
        net: Net::<M>::new(cfg.nodes, cfg.net.clone()),
        hooks: (0..cfg.nodes).map(|_| WorkFaultHook::default()).collect(),
        incarnation: Mutex::new(vec![0; cfg.nodes]),
        phase: AtomicU8::new(0),
        n: cfg.nodes,
    });
    for &n in cfg.plan.untouched_nodes.iter().filter(|&&n| n < cfg.nodes) {
        shared.net.set_untouched(n);
    }
    let node_main = Arc::new(node_main);
    let cfg2 = cfg.clone();
    let plan2 = plan.clone();
    let shared2 = shared.clone();

    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let out = rt.block_on(async move {
            crate::clock::use_runtime_clock();
            let handle = madsim::runtime::Handle::current();
            emit!(
                NodeId::WORLD,
                WorldEvent::Start {
                    nodes: cfg2.nodes as u64,
                    faults: plan2.faults.len() as u64,
                }
            );
            emit!(
                NodeId::WORLD,
                WorldEvent::Phase {
                    phase: Phase::Safety
                }
            );
            let mut ids = Vec::with_capacity(cfg2.nodes);
            for i in 0..cfg2.nodes {
                let shared = shared2.clone();
                let f = node_main.clone();
                let cost = cfg2.cost;
                let node = handle
                    .create_node()
                    .name(format!("n{i}"))
                    .init(move || {
                        let incarnation = shared.incarnation.lock().expect("lock")[i];
                        crate::task::counted(f(NodeCtx {
                            id: i,
                            incarnation,
                            shared: shared.clone(),
                            // Each incarnation gets fresh cores: a crash takes the old
                            // ones, and whatever held them, down with it.
                            cores: Cores::new(cost.as_ref()),
                        }))
                    })
                    .build();
                ids.push(node.id());
            }
            let mut driver = Driver {
                handle: handle.clone(),
                ids: ids.clone(),
                shared: shared2.clone(),
                plan: plan2.clone(),
                down_by: vec![None; cfg2.nodes],
                paused: vec![0; cfg2.nodes],
                safety_ms: cfg2.safety_ms,
            };
            let phases = async {
                driver.run_safety(cfg2.safety_ms).await;
                driver.heal_all();
                shared2.phase.store(1, Ordering::Relaxed);
                emit!(
                    NodeId::WORLD,
                    WorldEvent::Phase {
                        phase: Phase::Liveness
                    }
                );
                madsim::time::sleep(Duration::from_millis(cfg2.liveness_ms)).await;
            };
            let stopped = async {
                match &cfg2.stop {
                    Some(s) => s.wait().await,
                    None => futures::future::pending().await,
                }
            };
            let stopped_early = matches!(
                futures::future::select(Box::pin(phases), Box::pin(stopped)).await,
                futures::future::Either::Right(_)
            );
            if stopped_early {
                emit!(NodeId::WORLD, WorldEvent::Stop);
            }
            shared2.phase.store(2, Ordering::Relaxed);
            let live: Vec<usize> = (0..cfg2.nodes).filter(|&i| shared2.net.is_up(i)).collect();
            let stats = shared2.net.stats();
            emit!(
                NodeId::WORLD,
                WorldEvent::End {
                    sent: stats.sent,
                    delivered: stats.delivered,
                    duplicated: stats.duplicated,
                    dropped_partition: stats.dropped_partition,
                    dropped_loss: stats.dropped_loss,
                    dropped_down: stats.dropped_down,
                    live: live.len() as u64,
                }
            );
            let end_ns = crate::clock::now_ns();
            // Teardown: kill every node and give the executor one turn to drop their tasks.
            for id in &ids {
                handle.kill(*id);
            }
            madsim::time::sleep(Duration::from_micros(1)).await;
            (end_ns, live, stats, stopped_early)
        });
        crate::clock::forget_runtime_clock();
        out
    }));
    // Also when the run panicked: the runtime's clock must not outlive it.
    crate::clock::forget_runtime_clock();
    drop(rt);

    let (end_ns, live, stats, stopped_early) = match outcome {
        Ok(v) => v,
        Err(payload) => {
            let msg = panic_text(&payload);
            let end = RunEnd {
                t_ns: 0,
                liveness_start_ns: cfg.safety_ms * 1_000_000,
                live_nodes: vec![],
            };
            let (trace, mut violations) = recording.finish(&end, true);
            violations.retain(|v| v.checker != "panic");
            // The clock when it panicked; when it could not be read then, the last kept
            // event's time.
            let t_ns = PANIC_AT_NS
                .take()
                .unwrap_or_else(|| trace.events.last().map(|e| e.t_ns).unwrap_or(0));
            violations.insert(
                0,
                Violation {
                    checker: "no_panic".to_string(),
                    event_index: trace.event_count,
                    t_ns,
                    explanation: format!("the simulation panicked: {msg}"),
                },
            );
            let cov = coverage.lock().expect("coverage").clone();
            return Ok(RunReport {
                seed: spec.seed,
                plan,
                trace,
                violations,
                net: shared.net.stats(),
                sim_ns: 0,
                coverage: cov,
                counters: Default::default(),
            });
        }
    };
    let end = RunEnd {
        t_ns: end_ns,
        liveness_start_ns: cfg.safety_ms * 1_000_000,
        live_nodes: live,
    };
    let (trace, violations) = recording.finish(&end, !stopped_early);
    let cov = coverage.lock().expect("coverage").clone();
    Ok(RunReport {
        seed: spec.seed,
        plan,
        trace,
        violations,
        net: stats,
        sim_ns: end_ns,
        coverage: cov,
        counters: Default::default(),
    })
}

/// Extracts the message of a panic payload.
pub fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

thread_local! {
    /// The simulated time of this thread's latest panic that was not an injected fault.
    static PANIC_AT_NS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Called by the panic hook: a run that ends in a panic reports the time it happened.
pub(crate) fn note_panic_time(t_ns: Option<u64>) {
    let _ = PANIC_AT_NS.try_with(|c| c.set(t_ns));
}

/// Applies the fault plan on madsim's clock.
struct Driver<M> {
    handle: madsim::runtime::Handle,
    ids: Vec<madsim::task::NodeId>,
    shared: Arc<Shared<M>>,
    plan: FaultPlan,
    /// The crash fault that holds each node down, if any.
    down_by: Vec<Option<usize>>,
    /// Active pauses per node; the node resumes when the count returns to zero.
    paused: Vec<u32>,
    safety_ms: u64,
}

impl<M: Clone + Send + std::fmt::Debug + 'static> Driver<M> {
    async fn run_safety(&mut self, safety_ms: u64) {
        let mut timeline: Vec<(u64, usize, Action)> = Vec::new();
        for (i, f) in self.plan.faults.iter().enumerate() {
            timeline.push((f.at_ms(), 2 * i + 1, Action::Start(i)));
            if let Some(d) = f.duration_ms() {
                timeline.push((f.at_ms() + d, 2 * i, Action::End(i)));
            }
        }
        // At equal times, ends (even sequence numbers) are applied before starts.
        timeline.sort_by_key(|(t, seq, _)| (*t, *seq));
        for (t_ms, _, action) in timeline {
            if t_ms >= safety_ms {
                break;
            }
            let now = crate::clock::now_ns();
            let at = t_ms * 1_000_000;
            if at > now {
                crate::clock::sleep_exact(Duration::from_nanos(at - now)).await;
            }
            match action {
                Action::Start(i) => self.start(i),
                Action::End(i) => self.end(i),
            }
        }
        let now = crate::clock::now_ns();
        let end = safety_ms * 1_000_000;
        if end > now {
            crate::clock::sleep_exact(Duration::from_nanos(end - now)).await;
        }
    }

    fn start(&mut self, i: usize) {
        let f = self.plan.faults[i].clone();
        let net = &self.shared.net;
        let kind = f.kind();
        let mut ev = FaultEvent::start(i, kind);
        let FaultEvent::Start {
            target,
            side_a: side,
            one_way,
            a: end_a,
            b: end_b,
            probability: p,
            extra_latency,
            thread: thread_field,
            mode: mode_field,
            ..
        } = &mut ev
        else {
            unreachable!("FaultEvent::start makes a start event")
        };
        match &f {
            Fault::Crash { node, .. } => {
                if self.down_by[*node].is_some() {
                    self.skip(i, kind, "node already down");
                    return;
                }
                *target = Some(NodeId::from(*node));
                emit!(NodeId::WORLD, ev);
                self.crash(*node, i);
            }
            Fault::Partition {
                side_a, symmetry, ..
            } => {
                *side = Some(side_a.iter().map(|&n| NodeId::from(n)).collect());
                *one_way = Some(*symmetry == PartitionSymmetry::OneWay);
                emit!(NodeId::WORLD, ev);
                self.block_links(&f, true);
            }
            Fault::Clog { a, b, .. } => {
                *end_a = Some(NodeId::from(*a));
                *end_b = Some(NodeId::from(*b));
                emit!(NodeId::WORLD, ev);
                self.block_links(&f, true);
            }
            Fault::PacketLoss { probability, .. } => {
                *p = Some(*probability);
                emit!(NodeId::WORLD, ev);
                net.set_loss(i, Some(*probability));
            }
            Fault::Duplicate { probability, .. } => {
                *p = Some(*probability);
                emit!(NodeId::WORLD, ev);
                net.set_duplication(i, Some(*probability));
            }
            Fault::LatencySpike {
                node,
                extra_latency_ms,
                ..
            } => {
                *target = Some(NodeId::from(*node));
                *extra_latency = Some(SimDuration::from_ms(*extra_latency_ms));
                emit!(NodeId::WORLD, ev);
                net.set_spike(i, *node, Some(*extra_latency_ms));
            }
            Fault::Pause { node, .. } => {
                if self.skip_if_down(i, kind, *node) {
                    return;
                }
                *target = Some(NodeId::from(*node));
                emit!(NodeId::WORLD, ev);
                self.paused[*node] += 1;
                if self.paused[*node] == 1 {
                    self.handle.pause(self.ids[*node]);
                }
            }
            Fault::WorkThread {
                node, thread, mode, ..
            } => {
                if self.skip_if_down(i, kind, *node) {
                    return;
                }
                *target = Some(NodeId::from(*node));
                *thread_field = Some(*thread);
                *mode_field = Some(mode.name());
                emit!(NodeId::WORLD, ev);
                // The work thread times a slow window itself, from when it takes the fault,
                // so it must not be told a window that outlives the safety phase, and it
                // ends the window at the heal if it took the fault late.
                let mode = match *mode {
                    WorkFaultMode::Slow {
                        delay_ms,
                        duration_ms,
                    } => WorkFaultMode::Slow {
                        delay_ms,
                        duration_ms: duration_ms.min(self.safety_ms.saturating_sub(f.at_ms())),
                    },
                    m => m,
                };
                self.shared.hooks[*node].push(WorkFault {
                    thread: *thread,
                    mode,
                    heal_ns: self.safety_ms * 1_000_000,
                });
            }
        }
    }

    /// Blocks (or unblocks) the directed links a partition or clog cuts; the network
    /// counts blocks per link, so overlapping faults heal independently.
    fn block_links(&self, f: &Fault, on: bool) {
        let net = &self.shared.net;
        match f {
            Fault::Partition {
                side_a, symmetry, ..
            } => {
                for a in side_a {
                    for b in (0..self.shared.n).filter(|b| !side_a.contains(b)) {
                        net.block(*a, b, on);
                        if *symmetry == PartitionSymmetry::Symmetric {
                            net.block(b, *a, on);
                        }
                    }
                }
            }
            Fault::Clog { a, b, .. } => {
                net.clog(*a, *b, on);
                net.clog(*b, *a, on);
            }
            _ => {}
        }
    }

    /// A node fault on a node that is down does nothing; the trace says so.
    fn skip_if_down(&self, i: usize, kind: FaultKind, node: usize) -> bool {
        let down = self.down_by[node].is_some();
        if down {
            self.skip(i, kind, "node down");
        }
        down
    }

    fn skip(&self, i: usize, kind: FaultKind, why: &'static str) {
        emit!(
            NodeId::WORLD,
            FaultEvent::Skip {
                fault: i as u64,
                kind,
                why
            }
        );
    }

    fn end(&mut self, i: usize) {
        let f = self.plan.faults[i].clone();
        let net = &self.shared.net;
        let kind = f.kind();
        match &f {
            Fault::Crash { node, .. } => {
                if self.down_by[*node] != Some(i) {
                    return;
                }
                self.restart(*node);
            }
            Fault::Partition { .. } | Fault::Clog { .. } => self.block_links(&f, false),
            Fault::PacketLoss { .. } => net.set_loss(i, None),
            Fault::Duplicate { .. } => net.set_duplication(i, None),
            Fault::LatencySpike { node, .. } => net.set_spike(i, *node, None),
            Fault::Pause { node, .. } => {
                if self.paused[*node] == 0 {
                    return;
                }
                self.paused[*node] -= 1;
                if self.paused[*node] == 0 {
                    self.handle.resume(self.ids[*node]);
                }
            }
            // A slow work thread times its own slowness; nothing to undo here.
            Fault::WorkThread { .. } => return,
        }
        emit!(
            NodeId::WORLD,
            FaultEvent::End {
                fault: i as u64,
                kind
            }
        );
    }

    fn crash(&mut self, node: usize, fault: usize) {
        self.down_by[node] = Some(fault);
        self.paused[node] = 0;
        self.shared.net.set_up(node, false);
        self.shared.hooks[node].clear();
        self.handle.kill(self.ids[node]);
        emit!(node, NodeEvent::Crash);
    }

    fn restart(&mut self, node: usize) {
        self.down_by[node] = None;
        self.shared.incarnation.lock().expect("lock")[node] += 1;
        let inc = self.shared.incarnation.lock().expect("lock")[node];
        self.shared.net.set_up(node, true);
        emit!(node, NodeEvent::Restart { incarnation: inc });
        self.handle.restart(self.ids[node]);
    }

    /// The end of the safety phase: every window closes, paused nodes resume, crashed
    /// nodes due to restart come back; nodes crashed for good stay down.
    fn heal_all(&mut self) {
        self.shared.net.heal_all();
        for node in 0..self.shared.n {
            // A work-thread fault waits in its hook until the thread takes work; one still
            // waiting never fired in the safety phase, and must not fire in the liveness
            // phase, which the checkers hold to be fault-free.
            self.shared.hooks[node].clear();
            if self.paused[node] > 0 {
                self.paused[node] = 0;
                self.handle.resume(self.ids[node]);
            }
            if let Some(i) = self.down_by[node] {
                if let Fault::Crash {
                    restart_after_ms: Some(_),
                    ..
                } = self.plan.faults[i]
                {
                    self.restart(node);
                }
            }
        }
        emit!(NodeId::WORLD, FaultEvent::HealAll);
    }
}
