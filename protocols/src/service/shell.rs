//! The async shell of a replicated service: on each engine node, the CE and one job whose
//! main thread runs a [`Replica`] of the service's state machine and the service's own
//! logic (an [`App`]), with work threads for the service's local processing.
//!
//! The main thread owns one unbounded inbox (CE events, work-thread results) and its tick,
//! waited on together, and never awaits anything else, like every job of the engine. On a work-thread fault it
//! unregisters (the group is told `Left`) and registers again later as the next job
//! incarnation, which catches up from a snapshot like any newcomer.
//!
//! **The master.** The master of a primary view is its lowest member node
//! ([`master_of`]). It serves (talks to nodes outside the engine on the group's behalf)
//! only while all of these hold: its replica is synced; it holds the CE's lease for the
//! view (a majority backed it within the lease); and, if it was not already serving in the
//! view before, a full lease has passed since it installed the view, so the previous
//! master's lease has surely run out. Two masters therefore never serve at once, whatever
//! partitions, pauses or clock-free races happen.
//!
//! Trace events: [`SvcEvent`] (`svc.synced`, `svc.master_up`, `svc.master_down`; a
//! replica's `svc.step_down`), besides the engine's `job.*` (which the engine's checkers
//! read).

use super::events::{ServeStop, SvcEvent};
use super::replica::{Pos, Replica, ReplicaDisk, ReplicaMsg, ReplicaOut, StateMachine, Stored};
use crate::engine::job::{
    emit_deliver, emit_view, run_ce, start_ce, CeHandle, CeSetup, Disk, JobEvent, WorkThreads,
};
use crate::engine::membership::{CeToJob, JobToCe, Wire};
use crate::engine::{master_of, CeConfig, Member, Mutants};
use madsim::rand::Rng;
use sim::chan;
use sim::clock::Ticker;
use sim::shell;
use sim::{emit, NodeCtx, WorkFaultResponse};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// [`master_of`] a view's member set, without walking it: members order by node first,
/// so the set's first member is on the lowest node. The role is checked at every step of
/// the job, with the view in hand.
fn view_master(members: &BTreeSet<Member>) -> Option<usize> {
    let master = members.first().map(|m| m.node);
    debug_assert_eq!(master, master_of(members));
    master
}

/// What a service's jobs send through the engine: replica traffic (multicast), unicasts
/// between members, and datagrams with nodes outside the engine.
#[derive(Clone, Debug)]
pub enum SvcMsg<S: StateMachine, P, E> {
    Replica(ReplicaMsg<S>),
    Peer(P),
    Ext(E),
}

/// The wire type of a service's world.
pub type SvcWire<A> = Wire<SvcMsg<<A as App>::Sm, <A as App>::Peer, <A as App>::Ext>>;

/// A command applied by the local replica (every replica applies it at the same point of
/// the agreed order).
#[derive(Debug)]
pub struct Applied<S: StateMachine> {
    pub cmd: S::Command,
    pub effects: Vec<S::Effect>,
    pub pos: Pos,
}

/// A service: its state machine, its messages, and its logic on the main thread. Every
/// handler runs on the main thread and must only do local processing.
pub trait App: Sized + 'static {
    type Sm: StateMachine;
    /// Datagrams with nodes outside the engine.
    type Ext: Clone + fmt::Debug + Send + Sync + 'static;
    /// Unicasts between members.
    type Peer: Clone + fmt::Debug + Send + Sync + 'static;
    /// What the main thread hands a work thread, and what it gets back.
    type Work: Send + 'static;
    type Done: Send + 'static;
    /// A work thread's own state.
    type Worker: 'static;

    /// The state a new cluster starts from.
    fn initial_state(&self) -> Self::Sm;
    /// The state of work thread `index` of a new job incarnation.
    fn new_worker(&self, index: u32) -> Self::Worker;
    /// One unit of local processing on a work thread.
    fn work(worker: &mut Self::Worker, item: Self::Work) -> Self::Done;

    /// The local replica applied a command.
    fn on_applied(&mut self, env: &mut Env<'_, Self>, applied: Applied<Self::Sm>);
    /// The local replica caught up and is synced.
    fn on_synced(&mut self, _env: &mut Env<'_, Self>) {}
    fn on_external(&mut self, env: &mut Env<'_, Self>, from: usize, msg: Self::Ext);
    fn on_peer(&mut self, _env: &mut Env<'_, Self>, _from: Member, _msg: Self::Peer) {}
    fn on_tick(&mut self, env: &mut Env<'_, Self>);
    fn on_work_done(&mut self, env: &mut Env<'_, Self>, thread: u32, done: Self::Done);
    /// This node started (`true`) or stopped serving as master.
    fn on_role(&mut self, _env: &mut Env<'_, Self>, _serving: bool) {}
    /// The job unregistered: drop what belonged to its incarnation (work in flight).
    fn on_reset(&mut self) {}
}

/// How a service's nodes behave.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub ce: CeConfig,
    /// The master lease.
    pub lease_ms: u64,
    pub work_threads: u32,
    /// A work thread with work and no progress for this long is hung.
    pub watchdog_ms: u64,
    pub job_tick_ms: u64,
    /// Re-registration after a fault happens uniformly within this many ms.
    pub rejoin_max_ms: u64,
    /// The group's name, for the trace.
    pub group: &'static str,
    /// Nodes `0..engine_nodes` run the service; the rest are its clients.
    pub engine_nodes: usize,
    /// The CE's stable storage (view ids).
    pub disk: Disk,
    pub engine_mutants: Mutants,
    /// Planted bug: a master that loses its lease or quorum keeps serving its stale state.
    pub stale_master: bool,
}

impl ServiceConfig {
    pub fn new(ce: CeConfig, engine_nodes: usize, group: &'static str) -> Self {
        // Twice the failure timeout: heartbeats delayed by less than the timeout (which
        // do not make anyone suspect the master) must not make its lease lapse either.
        let lease_ms = 2 * ce.failure_timeout_ms;
        ServiceConfig {
            ce,
            lease_ms,
            work_threads: 2,
            watchdog_ms: 600,
            job_tick_ms: 50,
            rejoin_max_ms: 1_000,
            group,
            engine_nodes,
            disk: Disk::default(),
            engine_mutants: Mutants::default(),
            stale_master: false,
        }
    }
}

type Payload<A> = SvcMsg<<A as App>::Sm, <A as App>::Peer, <A as App>::Ext>;

/// The main thread's inbox.
enum Input<A: App> {
    Ce(CeToJob<Payload<A>>),
    Worker {
        gen: u64,
        idx: u32,
        ev: WorkerEvent<A>,
    },
    Tick,
}

enum WorkerEvent<A: App> {
    Done(A::Done),
    Exit(&'static str),
}

/// Everything of the main thread but the app: what [`Env`] gives the app access to.
pub struct Core<A: App> {
    ctx: NodeCtx<SvcWire<A>>,
    cfg: Arc<ServiceConfig>,
    ce: CeHandle<Payload<A>>,
    inbox: chan::UnboundedSender<Input<A>>,
    store: Arc<Mutex<Stored<A::Sm>>>,
    next_job_inc: u64,
    member: Option<Member>,
    view: Option<(u64, BTreeSet<Member>)>,
    replica: Option<Replica<A::Sm>>,
    workers: WorkThreads<A::Work>,
    gen: u64,
    rejoin_at_ns: Option<u64>,
    /// The CE's lease: (view, until).
    lease: (u64, u64),
    /// When this node may start serving the current view, if it is its master.
    serve_from_ns: Option<u64>,
    /// The view this node is serving, if any.
    serving: Option<u64>,
    /// Replica outputs not yet handed to the app.
    pending: Vec<ReplicaOut<A::Sm>>,
    /// The buffer `pending` is drained from, kept empty between inputs so that neither
    /// is allocated anew for each delivery.
    draining: Vec<ReplicaOut<A::Sm>>,
    /// The protocol phase last reported for the coverage table.
    phase: &'static str,
    /// Members this job unregistered that the CE has not confirmed yet.
    leaving: BTreeSet<Member>,
}

/// The app's access to its node: identity, view, role, state, and the ways to act.
pub struct Env<'a, A: App> {
    core: &'a mut Core<A>,
}

impl<A: App> Env<'_, A> {
    pub fn now(&self) -> u64 {
        self.core.ctx.now_ns()
    }

    pub fn node(&self) -> usize {
        self.core.ctx.id
    }

    pub fn incarnation(&self) -> u64 {
        self.core.ctx.incarnation
    }

    pub fn phase(&self) -> sim::Phase {
        self.core.ctx.phase()
    }

    pub fn engine_nodes(&self) -> usize {
        self.core.cfg.engine_nodes
    }

    /// This job's membership, while registered.
    pub fn member(&self) -> Option<Member> {
        self.core.member
    }

    /// The primary view this job is in, if any.
    pub fn view(&self) -> Option<(u64, &BTreeSet<Member>)> {
        self.core.view.as_ref().map(|(v, m)| (*v, m))
    }

    /// The master of the current view.
    pub fn master(&self) -> Option<usize> {
        self.core.view.as_ref().and_then(|(_, m)| view_master(m))
    }

    /// Whether this node serves as master now.
    pub fn serving(&self) -> bool {
        self.core.serving.is_some()
    }

    /// The view being served, for trace events of master actions.
    pub fn serving_view(&self) -> Option<u64> {
        self.core.serving
    }

    pub fn is_synced(&self) -> bool {
        self.core.replica.as_ref().is_some_and(|r| r.is_synced())
    }

    /// Reads the replicated state: only a synced replica has it (a master of the planted
    /// stale-master bug reads its stored state regardless).
    pub fn state<R>(&self, f: impl FnOnce(&A::Sm) -> R) -> Option<R> {
        let r = self.core.replica.as_ref()?;
        if self.core.cfg.stale_master && self.core.serving.is_some() && !r.is_synced() {
            return Some(r.read_stored(f));
        }
        r.read(f)
    }

    /// Changes this node's copy of the state without telling the group: only planted bugs
    /// do this, to model a replica that diverged.
    pub fn corrupt_state_for_planted_bug(&mut self, f: impl FnOnce(&mut A::Sm)) {
        if let Some(r) = self.core.replica.as_mut() {
            r.corrupt_for_planted_bug(f);
        }
    }

    /// Multicasts a command to the group; false if this job is in no primary view (the
    /// engine would drop it).
    pub fn propose(&mut self, cmd: <A::Sm as StateMachine>::Command) -> bool {
        let (Some(member), Some(_)) = (self.core.member, &self.core.view) else {
            return false;
        };
        self.core.ce.send(JobToCe::Multicast {
            member,
            payload: SvcMsg::Replica(ReplicaMsg::Cmd(cmd)),
        });
        true
    }

    /// Sends a datagram to a node outside the engine.
    pub fn send_external(&mut self, to: usize, msg: A::Ext) {
        self.core.ce.send(JobToCe::External {
            to,
            payload: SvcMsg::Ext(msg),
        });
    }

    /// Sends a unicast to another member of the view.
    pub fn send_peer(&mut self, to: Member, msg: A::Peer) {
        if let Some(from) = self.core.member {
            self.core.ce.send(JobToCe::Unicast {
                from,
                to,
                payload: SvcMsg::Peer(msg),
            });
        }
    }

    /// Hands work to work thread `thread` (modulo the count); false if there is none.
    pub fn dispatch(&mut self, thread: u32, work: A::Work) -> bool {
        let now = self.now();
        self.core.workers.dispatch(thread, work, now)
    }

    pub fn work_threads(&self) -> u32 {
        self.core.workers.count()
    }
}

/// One node of a service: the CE, with the job's main thread spawned beside it.
pub async fn run_node<A: App>(
    ctx: NodeCtx<SvcWire<A>>,
    cfg: Arc<ServiceConfig>,
    disk: ReplicaDisk<A::Sm>,
    app: A,
) {
    let setup = CeSetup {
        ce: cfg.ce.clone(),
        mutants: cfg.engine_mutants,
        disk: cfg.disk.clone(),
        engine_nodes: cfg.engine_nodes,
        lease_ms: Some(cfg.lease_ms),
        hold_unicasts: false,
    };
    let (ce, ce_inbox) = start_ce(&ctx, &setup);
    let (tx, rx) = chan::unbounded_channel::<Input<A>>();
    let store = disk.open(ctx.id, &app.initial_state());
    let core = Core {
        ctx: ctx.clone(),
        cfg,
        ce,
        inbox: tx.clone(),
        store,
        next_job_inc: 0,
        member: None,
        view: None,
        replica: None,
        workers: WorkThreads::default(),
        gen: 0,
        rejoin_at_ns: Some(0),
        lease: (0, 0),
        serve_from_ns: None,
        serving: None,
        pending: Vec::new(),
        draining: Vec::new(),
        phase: "",
        leaving: BTreeSet::new(),
    };
    sim::task::spawn_local(main_thread(core, app, rx));
    run_ce(ce_inbox, move |ev| {
        let _ = tx.send(Input::Ce(ev));
    })
    .await;
}

async fn main_thread<A: App>(
    mut core: Core<A>,
    mut app: A,
    mut rx: chan::UnboundedReceiver<Input<A>>,
) {
    let tick = Duration::from_millis(core.cfg.job_tick_ms);
    let mut ticker = Ticker::new(tick, tick);
    while let Some(input) = shell::recv_or_tick(&mut rx, &mut ticker, || Input::Tick).await {
        core.step(&mut app, input);
    }
}

impl<A: App> Core<A> {
    fn step(&mut self, app: &mut A, input: Input<A>) {
        let now = self.ctx.now_ns();
        // First: a node resuming from a pause must not act on a lease that ran out.
        self.update_role(app);
        match input {
            Input::Ce(ev) => self.on_ce(app, ev),
            Input::Worker { gen, idx, ev } => {
                if gen != self.gen {
                    return;
                }
                match ev {
                    WorkerEvent::Done(done) => {
                        self.workers.done(idx, now);
                        app.on_work_done(&mut Env { core: self }, idx, done);
                    }
                    WorkerEvent::Exit(why) => self.fault(app, why, now),
                }
            }
            Input::Tick => self.on_tick(app, now),
        }
        self.drain(app);
        self.update_role(app);
    }

    /// Hands the replica's outputs to the network and the app, in order.
    fn drain(&mut self, app: &mut A) {
        while !self.pending.is_empty() {
            // What the app does with these may add more: they wait for the next round.
            let mut outs = std::mem::replace(&mut self.pending, std::mem::take(&mut self.draining));
            for o in outs.drain(..) {
                match o {
                    ReplicaOut::Multicast(msg) => {
                        if let Some(member) = self.member {
                            self.ce.send(JobToCe::Multicast {
                                member,
                                payload: SvcMsg::Replica(msg),
                            });
                        }
                    }
                    ReplicaOut::Applied { cmd, effects, pos } => {
                        app.on_applied(&mut Env { core: self }, Applied { cmd, effects, pos })
                    }
                    ReplicaOut::Synced { at, from_election } => {
                        if let Some(member) = self.member {
                            emit!(
                                self.ctx.id,
                                SvcEvent::Synced {
                                    member,
                                    at,
                                    from_election,
                                }
                            );
                        }
                        app.on_synced(&mut Env { core: self });
                    }
                }
            }
            self.draining = outs;
        }
    }

    fn on_ce(&mut self, app: &mut A, ev: CeToJob<Payload<A>>) {
        let node = self.ctx.id;
        match ev {
            CeToJob::Probe { t_ns } => self.ce.send(JobToCe::ProbeReply { t_ns }),
            CeToJob::Lease { view, until_ns } => self.lease = (view, until_ns),
            CeToJob::Membership(c) => {
                if self.member != Some(c.to) {
                    return;
                }
                emit_view(node, &c);
                let now = self.ctx.now_ns();
                // A master that served the previous view and moved on with it keeps
                // serving; any other new master first waits out the old master's lease.
                let is_master = master_of(&c.members) == Some(node);
                let keeps = is_master && c.continuous && self.serving.is_some();
                self.serve_from_ns = is_master.then(|| {
                    if keeps {
                        now
                    } else {
                        now + self.cfg.lease_ms * 1_000_000
                    }
                });
                if keeps {
                    // What backed the lease (no node had seen an id above the old view)
                    // backs the new view too.
                    self.lease = (c.view, self.lease.1);
                    self.serving = Some(c.view);
                    emit!(node, SvcEvent::MasterUp { view: c.view });
                } else {
                    self.stop_serving(app, ServeStop::ViewChange);
                }
                self.view = Some((c.view, c.members.clone()));
                if let Some(r) = self.replica.as_mut() {
                    r.on_view(c.view, &c.members, &c.continuing, &mut self.pending);
                }
                if !self.replica.as_ref().is_some_and(|r| r.is_synced()) {
                    self.report_phase("syncing");
                }
            }
            CeToJob::QuorumLost { to, view } => {
                if self.member != Some(to) {
                    return;
                }
                emit!(node, JobEvent::QuorumLost { member: to, view });
                if let Some(r) = self.replica.as_mut() {
                    r.on_quorum_lost();
                }
                if !self.cfg.stale_master {
                    self.view = None;
                    self.serve_from_ns = None;
                    self.stop_serving(app, ServeStop::QuorumLost);
                }
            }
            CeToJob::Unregistered { member } => {
                self.leaving.remove(&member);
            }
            // Made while the member was still registered, queued behind its unregistration.
            CeToJob::Deliver { to, .. } if self.leaving.contains(&to) => {}
            CeToJob::Deliver { to, msg, flush } => {
                emit_deliver(node, &to, &msg);
                if self.member != Some(to) {
                    return;
                }
                if let (SvcMsg::Replica(rm), Some(r)) = (&msg.payload, self.replica.as_mut()) {
                    let pos = Pos {
                        view: msg.view,
                        seq: msg.gseq,
                    };
                    r.on_deliver(pos, rm.clone(), flush, &mut self.pending);
                }
            }
            CeToJob::Unicast { to, from, payload } => {
                if self.member != Some(to) {
                    return;
                }
                if let SvcMsg::Peer(p) = payload {
                    app.on_peer(&mut Env { core: self }, from, p);
                }
            }
            CeToJob::External { from, payload } => {
                if let SvcMsg::Ext(e) = payload {
                    app.on_external(&mut Env { core: self }, from, e);
                }
            }
        }
    }

    fn on_tick(&mut self, app: &mut A, now: u64) {
        if let Some(t) = self.rejoin_at_ns {
            if now >= t {
                self.register(app, now);
            }
        }
        if self
            .workers
            .watchdog(self.ctx.id, now, self.cfg.watchdog_ms)
        {
            self.fault(app, "hang", now);
            return;
        }
        self.update_role(app);
        app.on_tick(&mut Env { core: self });
    }

    /// Serving starts and stops here, and nowhere else.
    fn update_role(&mut self, app: &mut A) {
        let now = self.ctx.now_ns();
        let synced = self.replica.as_ref().is_some_and(|r| r.is_synced());
        let view = self.view.as_ref().map(|(v, _)| *v);
        let holds_lease = view.is_some_and(|v| self.lease.0 == v && now < self.lease.1);
        let is_master = self.view.as_ref().and_then(|(_, m)| view_master(m)) == Some(self.ctx.id);
        let may = self.member.is_some()
            && is_master
            && synced
            && self.serve_from_ns.is_some_and(|t| now >= t)
            && holds_lease;
        // A new master starts from a state that holds every command delivered to it: a
        // command still waiting may have been applied, and served, by the old master.
        let current = self.replica.as_ref().is_some_and(|r| !r.has_held());
        match (self.serving, may) {
            (None, true) if current => {
                let v = view.expect("a view");
                self.serving = Some(v);
                emit!(self.ctx.id, SvcEvent::MasterUp { view: v });
                self.report_phase("master");
                app.on_role(&mut Env { core: self }, true);
            }
            (Some(_), false) if !self.cfg.stale_master => {
                let why = if !synced {
                    ServeStop::NotSynced
                } else if !holds_lease {
                    ServeStop::LeaseExpired
                } else {
                    ServeStop::NotMaster
                };
                self.stop_serving(app, why);
            }
            _ => {}
        }
        if self.serving.is_none() && synced {
            self.report_phase("replica");
        }
    }

    /// Records the phase for the sweep's coverage table, when it changes.
    fn report_phase(&mut self, phase: &'static str) {
        if self.phase != phase {
            self.phase = phase;
            sim::report_phase(self.ctx.id, phase);
        }
    }

    fn stop_serving(&mut self, app: &mut A, why: ServeStop) {
        if let Some(v) = self.serving.take() {
            emit!(self.ctx.id, SvcEvent::MasterDown { view: v, why });
            app.on_role(&mut Env { core: self }, false);
        }
    }

    fn register(&mut self, app: &A, now: u64) {
        let member = Member {
            node: self.ctx.id,
            inc: self.ctx.incarnation,
            job: self.next_job_inc,
            group: 0,
        };
        self.next_job_inc += 1;
        self.rejoin_at_ns = None;
        self.gen += 1;
        let (main, gen, ctx, count) = (
            self.inbox.clone(),
            self.gen,
            self.ctx.clone(),
            self.cfg.work_threads,
        );
        self.workers = WorkThreads::start(count, now, |idx, rx| {
            let fut = work_thread::<A>(
                ctx.clone(),
                member,
                idx,
                count,
                app.new_worker(idx),
                rx,
                main.clone(),
                gen,
            );
            let main = main.clone();
            sim::task::spawn_local(async move {
                if let Some(why) = sim::run_work_thread(fut).await {
                    let _ = main.send(Input::Worker {
                        gen,
                        idx,
                        ev: WorkerEvent::Exit(why),
                    });
                }
            })
        });
        self.member = Some(member);
        self.view = None;
        self.replica = Some(Replica::new(
            member,
            self.store.clone(),
            self.cfg.engine_nodes,
        ));
        emit!(
            self.ctx.id,
            JobEvent::Register {
                member,
                group: self.cfg.group,
            }
        );
        self.ce.send(JobToCe::Register(member));
    }

    /// A work thread failed: unregister (the CE announces `Left`), stop every work thread,
    /// and come back later as the next incarnation.
    fn fault(&mut self, app: &mut A, why: &'static str, now: u64) {
        let Some(member) = self.member.take() else {
            return;
        };
        emit!(self.ctx.id, JobEvent::Unregister { member, why });
        self.ce.send(JobToCe::Unregister(member));
        self.leaving.insert(member);
        self.workers.stop();
        self.gen += 1;
        self.view = None;
        self.replica = None;
        self.pending.clear();
        self.serve_from_ns = None;
        self.stop_serving(app, ServeStop::Unregistered);
        app.on_reset();
        let delay_ms = madsim::rand::thread_rng().gen_range(100..=self.cfg.rejoin_max_ms.max(100));
        self.rejoin_at_ns = Some(now + delay_ms * 1_000_000);
    }
}

/// A work thread: the app's local processing, misbehaving as the fault hook says.
#[allow(clippy::too_many_arguments)] // the thread's whole world, passed once at its start
async fn work_thread<A: App>(
    ctx: NodeCtx<SvcWire<A>>,
    member: Member,
    idx: u32,
    count: u32,
    mut worker: A::Worker,
    mut rx: chan::UnboundedReceiver<A::Work>,
    main: chan::UnboundedSender<Input<A>>,
    gen: u64,
) -> Result<(), &'static str> {
    let mut faults = WorkFaultResponse::default();
    while let Some(item) = rx.recv().await {
        ctx.process_message().await;
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
        let done = A::work(&mut worker, item);
        let _ = main.send(Input::Worker {
            gen,
            idx,
            ev: WorkerEvent::Done(done),
        });
    }
    Ok(())
}
