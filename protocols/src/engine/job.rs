//! The async shell of a node: the CE task that runs the [`Ce`] state machine, and one job
//! made of a main thread and N work threads, all separate madsim tasks.
//!
//! The CE task is the node's receiving task: it waits on its jobs' requests, its tick and
//! the network at once ([`sim::shell::Inbox`]), so a message from the network reaches the
//! CE in one task poll. The main thread owns one unbounded inbox and its tick, waited on
//! together on one timer. Everything reaches it there: CE events (membership changes,
//! deliveries, unicasts, probes), work-thread results and exits. It routes protocol messages to work threads over unbounded channels and
//! never awaits anything but its inbox, so a CE message is always taken promptly (the CE
//! probes this and the `main_thread_responsive` checker holds it to it). On a work-thread
//! fault (a panic caught at the task boundary, an error, or a hang its watchdog notices)
//! it unregisters, which makes the CE announce `Left`, and later registers again as the
//! next job incarnation.

use super::ack_round::{AckRounds, RoundAck, RoundLoad, RoundMsg};
use super::direct::{self, RoundVariant};
use super::membership::{Ce, CeInput, CeToJob, Change, Effect, JobToCe, Ordered, Wire};
use super::{AppPayload, CeConfig, Departure, Member, Mutants, Payload};
use madsim::rand::Rng;
use sim::chan;
use sim::clock::Ticker;
use sim::shell::{self, Inbox, Input, Ticks};
use sim::{emit, NodeCtx, Phase, WorkFaultResponse};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

sim::trace_events! {
    /// Each node's job, as its main thread sees it: what it registers and unregisters,
    /// and what its CE tells it (views, quorum losses, deliveries). The jobs of the
    /// systems built on the engine (`protocols::service`) record the same events.
    pub enum JobEvent in "job" {
        /// The job registered with its CE as a new member.
        Register as "register" {
            /// The member it registered as.
            member: Member,
            /// The name of the group it joined.
            group: &'static str,
        },
        /// The job unregistered (a work thread failed); it comes back later as the next
        /// job incarnation.
        Unregister as "unregister" {
            /// The member that left.
            member: Member,
            /// Why: the work thread's `panic`, `error` or `hang`.
            why: &'static str,
        },
        /// A work thread took a fault from the plan.
        WorkFault as "work_fault" {
            /// The job's member.
            member: Member,
            /// Which work thread.
            thread: u32,
            /// What it does: panic, error, hang or slow.
            mode: &'static str,
            /// How many items waited in the thread's queue behind the one it took the
            /// fault on: work that a hung or slow thread holds up.
            queued: u64,
        },
        /// The job was given a view: the membership-change message.
        View as "view" {
            /// The member told.
            member: Member,
            /// The view's id.
            view: u64,
            /// The view's members of the job's group.
            members: BTreeSet<Member>,
            /// The members of its previous view that left, each with its reason.
            left: Vec<Departure>,
            /// The members that joined since its previous view.
            joined: Vec<Member>,
        },
        /// The job was told its node left the primary component.
        QuorumLost as "quorum_lost" {
            /// The member told.
            member: Member,
            /// The view it lost.
            view: u64,
        },
        /// The job asked its CE to multicast, and the CE numbered the message `fifo`: the
        /// record of who really sent what, which deliveries are checked against.
        Multicast as "multicast" {
            /// The member that multicast.
            member: Member,
            /// The number the CE gave it among the member's messages, from 1.
            fifo: u64,
        },
        /// The CE delivered a multicast to the job, in agreed order.
        Deliver as "deliver" {
            /// The member it was delivered to.
            member: Member,
            /// The view it was delivered in.
            view: u64,
            /// Its sequence number in the view's agreed order, from 1.
            seq: u64,
            /// The member that multicast it.
            sender: Member,
            /// The sender's own number for it, from 1.
            fifo: u64,
        },
        /// The main thread's watchdog found a work thread holding work without progress.
        HangDetected as "hang_detected" {
            /// Which work thread.
            thread: u32,
            /// How many items waited behind the one it hangs on.
            queued: u64,
        },
    }
}

/// How a node's engine and job behave.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub ce: CeConfig,
    pub work_threads: u32,
    /// Whether the coordinator job runs ACK rounds.
    pub rounds: bool,
    /// Pause between two transactions (0: the next starts as soon as one commits).
    pub round_gap_ms: u64,
    /// Transactions in flight per coordinator, and how many members coordinate.
    pub load: RoundLoad,
    /// How round messages reach the members.
    pub variant: RoundVariant,
    /// Background multicast from every job, if any.
    pub app_interval_ms: Option<u64>,
    /// Background multicast in bursts from every job, if any.
    pub bursts: Option<Bursts>,
    /// A work thread with work and no progress for this long is hung.
    pub watchdog_ms: u64,
    pub job_tick_ms: u64,
    /// Re-registration after a fault happens uniformly within this many ms.
    pub rejoin_max_ms: u64,
    pub mutants: Mutants,
    /// Each node's stable storage, which survives its crashes.
    pub disk: Disk,
    /// The named groups; the job on node n joins `groups[n % len]`.
    pub groups: Vec<&'static str>,
}

/// Background traffic in bursts: every job in a view multicasts `size` messages at once,
/// a burst every `every_ms` plus up to half that again (jitter). Each message is work for
/// one work thread, so a burst queues work behind a slow or hung one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bursts {
    pub every_ms: u64,
    pub size: u32,
}

/// The capacity of a work queue in the planted bug `main-blocks-on-full-queue`.
pub const WORK_QUEUE_BOUND: usize = 8;

/// Stable storage of every node of one run: the highest view id each CE saw.
#[derive(Clone, Debug, Default)]
pub struct Disk(Arc<std::sync::Mutex<std::collections::BTreeMap<usize, u64>>>);

impl Disk {
    pub fn read(&self, node: usize) -> u64 {
        self.0
            .lock()
            .expect("disk")
            .get(&node)
            .copied()
            .unwrap_or(0)
    }

    pub fn write(&self, node: usize, id: u64) {
        self.0.lock().expect("disk").insert(node, id);
    }
}

impl EngineConfig {
    pub fn new(ce: CeConfig) -> Self {
        EngineConfig {
            ce,
            work_threads: 2,
            rounds: true,
            round_gap_ms: 100,
            load: RoundLoad::default(),
            variant: RoundVariant::Ordered,
            app_interval_ms: None,
            bursts: None,
            watchdog_ms: 600,
            job_tick_ms: 50,
            rejoin_max_ms: 1_000,
            mutants: Mutants::default(),
            disk: Disk::default(),
            groups: vec!["cluster"],
        }
    }
}

/// The main thread's inbox.
enum JobInput {
    Ce(CeToJob<Payload>),
    Worker { gen: u64, idx: u32, ev: WorkerEvent },
    Tick,
}

enum WorkerEvent {
    Done(WorkItem),
    Exit(&'static str),
}

/// What a work thread processes.
#[derive(Clone, Debug)]
enum WorkItem {
    Round {
        msg: RoundMsg,
        coord: Member,
        member: Member,
    },
    App,
}

/// How a node's CE is set up, whatever system runs on top of it.
#[derive(Clone, Debug)]
pub struct CeSetup {
    pub ce: CeConfig,
    pub mutants: Mutants,
    /// Each node's stable storage, which survives its crashes.
    pub disk: Disk,
    /// Nodes `0..engine_nodes` run an engine; the rest are outside it (clients). Only
    /// engine nodes count towards a majority.
    pub engine_nodes: usize,
    /// Master leases of this many ms (see `Ce::with_lease`), for systems with a master.
    pub lease_ms: Option<u64>,
    /// Keep unicasts that arrive ahead of their view (see `Ce::with_held_unicasts`), for
    /// systems whose unicasts nothing resends.
    pub hold_unicasts: bool,
}

/// The local side of a node's CE: what its jobs send requests through.
///
/// A request is handled at once, in the calling job's task: for the CE, a job's request is
/// a local call, not a message, so it costs no hop through a queue and no poll of the CE's
/// task. What the CE has for jobs still goes through their inboxes, and the CE's own task
/// takes the network and the ticks, so a job whose main thread blocks holds up nothing
/// but itself.
pub struct CeHandle<P> {
    core: Rc<RefCell<CeCore<P>>>,
}

impl<P> Clone for CeHandle<P> {
    fn clone(&self) -> Self {
        CeHandle {
            core: self.core.clone(),
        }
    }
}

impl<P: AppPayload> CeHandle<P> {
    pub fn send(&self, req: JobToCe<P>) {
        let mut core = self.core.borrow_mut();
        // A multicast is recorded here, at the job's call, rather than by the CE: the
        // `identity` checker holds every delivery to a call some job really made, so the
        // record must not come from the code it checks.
        let multicast = match &req {
            JobToCe::Multicast { member, .. } => Some((*member, core.ce.fifo_of(member))),
            _ => None,
        };
        core.handle(CeInput::Job(req));
        if let Some((member, before)) = multicast {
            let fifo = core.ce.fifo_of(&member);
            if fifo != before {
                emit!(core.ctx.id, JobEvent::Multicast { member, fifo });
            }
        }
    }
}

/// A node's CE state machine with what acting on its effects needs.
struct CeCore<P> {
    ctx: NodeCtx<Wire<P>>,
    ce: Ce<P>,
    disk: Disk,
    durable: u64,
    effects: Vec<Effect<P>>,
    /// Where events for jobs go, once [`run_ce`] says; until then they wait in `early`.
    to_job: Option<Box<dyn FnMut(CeToJob<P>)>>,
    early: Vec<CeToJob<P>>,
}

impl<P: AppPayload> CeCore<P> {
    /// Hands `input` to the state machine, writes the highest view id it saw to stable
    /// storage before acting on it, then sends and hands on what it produced.
    fn handle(&mut self, input: CeInput<P>) {
        self.ce.handle(input, self.ctx.now_ns(), &mut self.effects);
        if self.ce.durable_id() != self.durable {
            self.durable = self.ce.durable_id();
            self.disk.write(self.ctx.id, self.durable);
        }
        for e in self.effects.drain(..) {
            match e {
                Effect::Send { to, wire } => self.ctx.send(to, wire),
                Effect::ToJob(ev) => match self.to_job.as_mut() {
                    Some(to_job) => to_job(ev),
                    None => self.early.push(ev),
                },
            }
        }
    }
}

/// What the CE task waits on: its tick and the node's network, in the one task (see
/// [`sim::shell::Inbox`]).
pub struct CeInbox<P> {
    inbox: Inbox<Wire<P>, ()>,
    core: Rc<RefCell<CeCore<P>>>,
}

/// Boots a node's CE: returns the handle jobs talk to it through and the inbox [`run_ce`]
/// consumes. Jobs are spawned between the two calls, so they exist before the CE produces
/// its first event.
pub fn start_ce<P: AppPayload>(
    ctx: &NodeCtx<Wire<P>>,
    setup: &CeSetup,
) -> (CeHandle<P>, CeInbox<P>) {
    let (_, inbox) = shell::open(
        ctx.clone(),
        Ticks::every(Duration::from_millis(setup.ce.tick_ms)),
    );
    let durable = setup.disk.read(ctx.id);
    // The planted bug: a restarted node boots as its first life.
    let incarnation = if setup.mutants.reuse_identity {
        0
    } else {
        ctx.incarnation
    };
    let mut ce = Ce::new(
        ctx.id,
        incarnation,
        setup.engine_nodes,
        setup.ce.clone(),
        setup.mutants,
        durable,
        ctx.now_ns(),
    );
    if let Some(ms) = setup.lease_ms {
        ce = ce.with_lease(ms);
    }
    if setup.hold_unicasts {
        ce = ce.with_held_unicasts();
    }
    let core = Rc::new(RefCell::new(CeCore {
        ctx: ctx.clone(),
        ce,
        disk: setup.disk.clone(),
        durable,
        effects: Vec::new(),
        to_job: None,
        early: Vec::new(),
    }));
    (CeHandle { core: core.clone() }, CeInbox { inbox, core })
}

/// Runs a node's CE until the node dies, handing every event for jobs to `to_job`.
pub async fn run_ce<P: AppPayload>(
    inbox: CeInbox<P>,
    mut to_job: impl FnMut(CeToJob<P>) + 'static,
) {
    let CeInbox { mut inbox, core } = inbox;
    {
        let mut c = core.borrow_mut();
        for ev in std::mem::take(&mut c.early) {
            to_job(ev);
        }
        c.to_job = Some(Box::new(to_job));
    }
    while let Some(input) = inbox.next().await {
        let input = match input {
            Input::Message(env) => CeInput::Net(env),
            Input::Tick => CeInput::Tick,
            Input::Local(()) => continue,
        };
        core.borrow_mut().handle(input);
    }
}

/// One node of the ACK-round system: the CE, with the job's main thread spawned beside it.
pub async fn node_main(ctx: NodeCtx<Wire<Payload>>, cfg: Arc<EngineConfig>) {
    let setup = CeSetup {
        ce: cfg.ce.clone(),
        mutants: cfg.mutants,
        disk: cfg.disk.clone(),
        engine_nodes: ctx.nodes(),
        lease_ms: None,
        // A direct round message dropped for arriving before its view would leave the
        // round waiting.
        hold_unicasts: cfg.variant == RoundVariant::Direct,
    };
    let (ce, inbox) = start_ce(&ctx, &setup);
    let (job_tx, job_rx) = chan::unbounded_channel::<JobInput>();
    let main = JobMain::new(ctx.clone(), cfg.clone(), ce, job_tx.clone());
    sim::task::spawn_local(main.run(job_rx));
    run_ce(inbox, move |ev| {
        let _ = job_tx.send(JobInput::Ce(ev));
    })
    .await;
}

/// A job's work threads as its main thread sees them: where each one's work goes, and,
/// for the watchdog, how much it holds and when it last made progress.
pub struct WorkThreads<T> {
    threads: Vec<WorkThread<T>>,
}

struct WorkThread<T> {
    tx: chan::UnboundedSender<T>,
    handle: madsim::task::JoinHandle<()>,
    outstanding: u64,
    last_progress_ns: u64,
}

impl<T> Default for WorkThreads<T> {
    fn default() -> Self {
        WorkThreads {
            threads: Vec::new(),
        }
    }
}

impl<T> WorkThreads<T> {
    /// Starts `count` threads: `spawn(idx, inbox)` spawns thread `idx` reading `inbox`.
    pub fn start(
        count: u32,
        now: u64,
        mut spawn: impl FnMut(u32, chan::UnboundedReceiver<T>) -> madsim::task::JoinHandle<()>,
    ) -> Self {
        let threads = (0..count)
            .map(|idx| {
                let (tx, rx) = chan::unbounded_channel();
                WorkThread {
                    tx,
                    handle: spawn(idx, rx),
                    outstanding: 0,
                    last_progress_ns: now,
                }
            })
            .collect();
        WorkThreads { threads }
    }

    pub fn count(&self) -> u32 {
        self.threads.len() as u32
    }

    /// Hands `item` to thread `idx` (modulo the count); false if there is none.
    pub fn dispatch(&mut self, idx: u32, item: T, now: u64) -> bool {
        let count = self.count();
        if count == 0 {
            return false;
        }
        let w = &mut self.threads[(idx % count) as usize];
        if w.outstanding == 0 {
            w.last_progress_ns = now;
        }
        w.outstanding += 1;
        w.tx.send(item).is_ok()
    }

    /// Thread `idx` finished an item.
    pub fn done(&mut self, idx: u32, now: u64) {
        if let Some(w) = self.threads.get_mut(idx as usize) {
            w.outstanding = w.outstanding.saturating_sub(1);
            w.last_progress_ns = now;
        }
    }

    /// The watchdog: whether a thread holds work and made no progress for longer than
    /// `watchdog_ms`; the first such thread is recorded (`job.hang_detected` on `node`,
    /// with the items it holds beyond the one it hangs on).
    pub fn watchdog(&self, node: usize, now: u64, watchdog_ms: u64) -> bool {
        let Some(idx) = self.hung(now, watchdog_ms * 1_000_000) else {
            return false;
        };
        let queued = self.threads[idx as usize].outstanding.saturating_sub(1);
        emit!(
            node,
            JobEvent::HangDetected {
                thread: idx,
                queued
            }
        );
        true
    }

    /// The first thread that holds work and made no progress for longer than `watchdog_ns`.
    pub fn hung(&self, now: u64, watchdog_ns: u64) -> Option<u32> {
        self.threads
            .iter()
            .position(|w| w.outstanding > 0 && now - w.last_progress_ns > watchdog_ns)
            .map(|i| i as u32)
    }

    /// The most items queued for one thread, not yet taken.
    pub fn longest_queue(&self) -> usize {
        self.threads.iter().map(|w| w.tx.len()).max().unwrap_or(0)
    }

    /// Aborts every thread.
    pub fn stop(&mut self) {
        for w in self.threads.drain(..) {
            w.handle.abort();
        }
    }
}

/// Records a membership change as a job received it (`job.view`, which the engine's
/// checkers read).
pub fn emit_view(node: usize, c: &Change) {
    emit!(
        node,
        JobEvent::View {
            member: c.to,
            view: c.view,
            members: c.members.clone(),
            left: c
                .left
                .iter()
                .map(|&(member, reason)| Departure { member, reason })
                .collect(),
            joined: c.joined.clone(),
        }
    );
}

/// Records a delivery as a job received it (`job.deliver`), for whichever member the CE
/// addressed: a delivery to a member that left is exactly what `no_ghosts` must see.
pub fn emit_deliver<P>(node: usize, to: &Member, msg: &Ordered<P>) {
    emit!(
        node,
        JobEvent::Deliver {
            member: *to,
            view: msg.view,
            seq: msg.gseq,
            sender: msg.sender,
            fifo: msg.fifo,
        }
    );
}

/// The job's main thread.
struct JobMain {
    ctx: NodeCtx<Wire<Payload>>,
    cfg: Arc<EngineConfig>,
    ce: CeHandle<Payload>,
    inbox: chan::UnboundedSender<JobInput>,
    next_job_inc: u64,
    member: Option<Member>,
    view: Option<(u64, BTreeSet<Member>)>,
    rounds: Option<AckRounds>,
    workers: WorkThreads<WorkItem>,
    gen: u64,
    rejoin_at_ns: Option<u64>,
    next_app_ns: u64,
    next_burst_ns: u64,
    app_n: u64,
    /// The work threads' local store; the main thread never touches it (unless planted).
    store: Arc<Mutex<u64>>,
    /// Members this job unregistered that the CE has not confirmed yet.
    leaving: BTreeSet<Member>,
}

impl JobMain {
    fn new(
        ctx: NodeCtx<Wire<Payload>>,
        cfg: Arc<EngineConfig>,
        ce: CeHandle<Payload>,
        inbox: chan::UnboundedSender<JobInput>,
    ) -> Self {
        JobMain {
            ctx,
            cfg,
            ce,
            inbox,
            next_job_inc: 0,
            member: None,
            view: None,
            rounds: None,
            workers: WorkThreads::default(),
            gen: 0,
            rejoin_at_ns: Some(0),
            next_app_ns: 0,
            next_burst_ns: 0,
            app_n: 0,
            store: Arc::new(Mutex::new(0)),
            leaving: BTreeSet::new(),
        }
    }

    fn to_ce(&self, req: JobToCe<Payload>) {
        self.ce.send(req);
    }

    async fn run(mut self, mut rx: chan::UnboundedReceiver<JobInput>) {
        let tick = Duration::from_millis(self.cfg.job_tick_ms);
        let mut ticker = Ticker::new(tick, tick);
        while let Some(input) = shell::recv_or_tick(&mut rx, &mut ticker, || JobInput::Tick).await {
            if self.cfg.mutants.main_awaits_lock {
                // Planted bug: the main thread reads the work threads' store under their lock.
                let store = self.store.clone();
                let _guard = store.lock().await;
                self.step(input);
            } else {
                self.step(input);
            }
            if self.cfg.mutants.main_blocks_on_full_queue {
                // Planted bug: work goes over bounded queues, and the main thread waits for
                // room in a full one as a bounded send would.
                while self.workers.longest_queue() >= WORK_QUEUE_BOUND {
                    madsim::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }

    fn step(&mut self, input: JobInput) {
        let now = self.ctx.now_ns();
        let mut mcast: Vec<RoundMsg> = Vec::new();
        match input {
            JobInput::Ce(ev) => self.on_ce(ev, now, &mut mcast),
            JobInput::Worker { gen, idx, ev } => {
                if gen != self.gen {
                    return;
                }
                match ev {
                    WorkerEvent::Done(item) => {
                        self.workers.done(idx, now);
                        if let WorkItem::Round { msg, coord, member } = item {
                            if self.member == Some(member) {
                                self.to_ce(JobToCe::Unicast {
                                    from: member,
                                    to: coord,
                                    payload: Payload::Ack(RoundAck {
                                        round: msg.round,
                                        phase: msg.phase,
                                        from: member,
                                    }),
                                });
                            }
                        }
                    }
                    WorkerEvent::Exit(why) => self.fault(why, now),
                }
            }
            JobInput::Tick => self.on_tick(now, &mut mcast),
        }
        if let Some(member) = self.member {
            let view = self.view.as_ref().map(|(_, m)| m);
            direct::send_rounds(self.cfg.variant, &self.ce, member, view, mcast);
        }
    }

    fn on_ce(&mut self, ev: CeToJob<Payload>, now: u64, mcast: &mut Vec<RoundMsg>) {
        let node = self.ctx.id;
        match ev {
            CeToJob::Probe { t_ns } => self.to_ce(JobToCe::ProbeReply { t_ns }),
            CeToJob::Membership(c) => {
                if self.member != Some(c.to) {
                    return;
                }
                emit_view(node, &c);
                self.view = Some((c.view, c.members.clone()));
                if let Some(r) = self.rounds.as_mut() {
                    r.on_view(c.view, &c.members, now, mcast);
                }
            }
            CeToJob::QuorumLost { to, view } => {
                if self.member != Some(to) {
                    return;
                }
                emit!(node, JobEvent::QuorumLost { member: to, view });
                self.view = None;
                if let Some(r) = self.rounds.as_mut() {
                    r.on_lost();
                }
            }
            CeToJob::Unregistered { member } => {
                self.leaving.remove(&member);
            }
            // Made while the member was still registered, queued behind its unregistration.
            CeToJob::Deliver { to, .. } if self.leaving.contains(&to) => {}
            CeToJob::Deliver { to, msg, .. } => {
                emit_deliver(node, &to, &msg);
                if self.member != Some(to) {
                    return;
                }
                match &msg.payload {
                    Payload::Round(rm) => self.on_round(rm, msg.sender, to, now),
                    Payload::App { n } => {
                        let idx = (n % u64::from(self.cfg.work_threads)) as u32;
                        self.workers.dispatch(idx, WorkItem::App, now);
                    }
                    Payload::Ack(_) => {}
                }
            }
            CeToJob::Unicast { to, from, payload } => {
                if self.member != Some(to) {
                    return;
                }
                match (&payload, self.rounds.as_mut()) {
                    (Payload::Ack(a), Some(r)) => r.on_ack(a, now, mcast),
                    // The direct variant's round messages come this way.
                    (Payload::Round(rm), _) => self.on_round(rm, from, to, now),
                    _ => {}
                }
            }
            // The ACK-round system has no nodes outside the engine, and no master.
            CeToJob::External { .. } | CeToJob::Lease { .. } => {}
        }
    }

    /// A round message from coordinator `coord` for member `to` (this job's): the work
    /// thread that owns the round processes it, then the member ACKs.
    fn on_round(&mut self, rm: &RoundMsg, coord: Member, to: Member, now: u64) {
        if let Some(r) = self.rounds.as_mut() {
            r.on_deliver(rm, coord);
        }
        let idx = (rm.round.bits() % u64::from(self.cfg.work_threads)) as u32;
        self.workers.dispatch(
            idx,
            WorkItem::Round {
                msg: rm.clone(),
                coord,
                member: to,
            },
            now,
        );
    }

    fn on_tick(&mut self, now: u64, mcast: &mut Vec<RoundMsg>) {
        if let Some(t) = self.rejoin_at_ns {
            if now >= t {
                self.register(now);
            }
        }
        if self
            .workers
            .watchdog(self.ctx.id, now, self.cfg.watchdog_ms)
        {
            self.fault("hang", now);
            return;
        }
        if let Some(r) = self.rounds.as_mut() {
            r.on_tick(now, mcast);
        }
        if let (Some(interval), Some(member), Some((_, members))) =
            (self.cfg.app_interval_ms, self.member, &self.view)
        {
            if now >= self.next_app_ns
                && members.contains(&member)
                && self.ctx.phase() != Phase::Ended
            {
                self.app_n += 1;
                self.to_ce(JobToCe::Multicast {
                    member,
                    payload: Payload::App { n: self.app_n },
                });
                let jitter = madsim::rand::thread_rng().gen_range(0..=interval / 2);
                self.next_app_ns = now + (interval + jitter) * 1_000_000;
            }
        }
        if let (Some(b), Some(member), Some((_, members))) =
            (self.cfg.bursts, self.member, &self.view)
        {
            if now >= self.next_burst_ns
                && members.contains(&member)
                && self.ctx.phase() != Phase::Ended
            {
                for _ in 0..b.size {
                    self.app_n += 1;
                    self.to_ce(JobToCe::Multicast {
                        member,
                        payload: Payload::App { n: self.app_n },
                    });
                }
                let jitter = madsim::rand::thread_rng().gen_range(0..=b.every_ms / 2);
                self.next_burst_ns = now + (b.every_ms + jitter) * 1_000_000;
            }
        }
    }

    fn register(&mut self, now: u64) {
        let group = self.ctx.id % self.cfg.groups.len().max(1);
        let reuse = self.cfg.mutants.reuse_identity;
        let member = Member {
            node: self.ctx.id,
            inc: if reuse { 0 } else { self.ctx.incarnation },
            job: self.next_job_inc,
            group: group as u32,
        };
        self.next_job_inc += 1;
        self.rejoin_at_ns = None;
        self.gen += 1;
        let (main, gen, ctx, store) = (
            self.inbox.clone(),
            self.gen,
            self.ctx.clone(),
            self.store.clone(),
        );
        let count = self.cfg.work_threads;
        self.workers = WorkThreads::start(count, now, |idx, rx| {
            let fut = work_thread(
                ctx.clone(),
                member,
                idx,
                count,
                rx,
                main.clone(),
                gen,
                store.clone(),
            );
            let main = main.clone();
            sim::task::spawn_local(async move {
                if let Some(why) = sim::run_work_thread(fut).await {
                    let _ = main.send(JobInput::Worker {
                        gen,
                        idx,
                        ev: WorkerEvent::Exit(why),
                    });
                }
            })
        });
        self.member = Some(member);
        self.view = None;
        self.rounds = Some(
            AckRounds::new(
                member,
                self.cfg.rounds,
                self.cfg.round_gap_ms,
                self.cfg.mutants.round_waits_departed,
            )
            .with_load(self.cfg.load),
        );
        emit!(
            self.ctx.id,
            JobEvent::Register {
                member,
                group: self.cfg.groups.get(group).copied().unwrap_or("cluster"),
            }
        );
        self.to_ce(JobToCe::Register(member));
    }

    /// A work thread failed: unregister (the CE announces `Left`), stop every work thread,
    /// and come back later as the next incarnation.
    fn fault(&mut self, why: &'static str, now: u64) {
        let Some(member) = self.member.take() else {
            return;
        };
        emit!(self.ctx.id, JobEvent::Unregister { member, why });
        self.to_ce(JobToCe::Unregister(member));
        self.leaving.insert(member);
        self.workers.stop();
        self.gen += 1;
        self.view = None;
        if let Some(r) = self.rounds.as_mut() {
            r.on_lost();
        }
        self.rounds = None;
        let delay_ms = madsim::rand::thread_rng().gen_range(100..=self.cfg.rejoin_max_ms.max(100));
        self.rejoin_at_ns = Some(now + delay_ms * 1_000_000);
    }
}

/// A work thread: local processing only, misbehaving as the fault hook says.
#[allow(clippy::too_many_arguments)]
async fn work_thread(
    ctx: NodeCtx<Wire<Payload>>,
    member: Member,
    idx: u32,
    count: u32,
    mut rx: chan::UnboundedReceiver<WorkItem>,
    main: chan::UnboundedSender<JobInput>,
    gen: u64,
    store: Arc<Mutex<u64>>,
) -> Result<(), &'static str> {
    let mut faults = WorkFaultResponse::default();
    while let Some(item) = rx.recv().await {
        // Outside the store lock, which every work thread of the job shares: the job's
        // threads process on as many cores as the node gives them.
        ctx.process_message().await;
        // A hang keeps holding the store lock: the planted main-awaits-lock bug relies on it.
        let mut guard = store.lock().await;
        let fault = ctx.hook().take_for(idx, count);
        if let Some(f) = &fault {
            emit!(
                ctx.id,
                JobEvent::WorkFault {
                    member,
                    thread: idx,
                    mode: f.mode.name(),
                    queued: rx.len() as u64,
                }
            );
        }
        faults.apply(fault).await?;
        *guard += 1;
        drop(guard);
        let _ = main.send(JobInput::Worker {
            gen,
            idx,
            ev: WorkerEvent::Done(item),
        });
    }
    Ok(())
}
