//! A user's own protocol on clustersim, in a crate of its own: a replicated register
//! (ABD-style quorum reads and writes over three replicas, two clients), its linearizability
//! checker, two planted bugs, and the catalog its binary hands to [`clustersim::main`].
//!
//! - **Protocol**: [`Replica`] and [`Client`] are state machines ([`sim::shell::Machine`]);
//!   the shell runs their inbox, ticker and phase guard.
//! - **Durable state**: a replica's `(tag, value)` lives in a [`Disk`], a per-run cell
//!   outside the nodes that a crash does not wipe; a replica reloads it when it restarts.
//! - **Checker**: [`Linearizable`] records the clients' operations and checks the history
//!   with [`sim::linearizability`] at the end of the run.
//! - **Planted bugs**: [`MUTANT_ACK_ONE`] completes a write on one replica's
//!   acknowledgement instead of a majority's, so a read quorum can miss it;
//!   [`MUTANT_VOLATILE`]: replicas keep their state in memory only, so a crash forgets
//!   acknowledged writes and a later read can return an older value.
//! - **Catalog** ([`catalog`]): `register` gates `sweep --all`; `register-fast-reads` (reads
//!   skip their write-back step, which is not linearizable: a sweep finds stale reads in
//!   about one seed in twenty) is experimental, so it runs only when named.

use sim::check::{Checker, RunEnd};
use sim::event::EventRef;
use sim::linearizability::{CasInput, CasOutput, CasRegister, HistoryRecorder};
use sim::shell::{self, Machine, Node, Ticks};
use sim::world::{NodeCtx, RunReport, RunSpec, WorldConfig};
use sim::{emit, Catalog, Entry, Envelope, FaultKind, Mutant, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replicas are nodes `0..REPLICAS`; clients are the nodes after them.
pub const REPLICAS: usize = 3;
/// A client starts an operation, or resends the current step, every tick.
const TICK_MS: u64 = 50;
/// A client gives up on an operation after this long: its outcome is then unknown.
const OP_TIMEOUT_MS: u64 = 1_000;
/// An idle client starts an operation at a tick with this probability (a busy one always).
const START_PROBABILITY: f64 = 0.3;
/// The share of operations that are writes.
const WRITE_PROBABILITY: f64 = 0.3;

/// Planted bug: a write completes on the first replica's acknowledgement, not a
/// majority's (an off-by-one in the quorum size).
pub const MUTANT_ACK_ONE: &str = "register-write-ack-one";
/// Planted bug: replicas keep their state in memory only.
pub const MUTANT_VOLATILE: &str = "register-volatile";

/// A write's version: (counter, writing client). Two writers never make the same tag.
pub type Tag = (u64, u64);

/// What the nodes send each other. `op` is the client's operation number.
#[derive(Clone, Debug)]
pub enum Msg {
    /// Client -> replica: what do you hold?
    Query {
        op: u64,
    },
    QueryReply {
        op: u64,
        tag: Tag,
        value: Option<i64>,
    },
    /// Client -> replica: hold this, unless you hold something newer.
    Store {
        op: u64,
        tag: Tag,
        value: Option<i64>,
    },
    StoreAck {
        op: u64,
    },
}

sim::trace_events! {
    /// The register's replicas and clients.
    pub enum RegisterEvent in "register" {
        /// A replica started, with the state it recovered.
        Boot as "boot" {
            /// The tag of the value it holds: counter, then writer.
            ts: u64,
            /// The tag's writer.
            writer: u64,
        },
        /// A replica adopted a newer value.
        Stored as "stored" {
            /// The value's tag: counter.
            ts: u64,
            /// The tag's writer.
            writer: u64,
            /// The value.
            value: Option<i64>,
        },
        /// A client invoked an operation.
        Invoke as "invoke" {
            /// The client's operation number.
            op: u64,
            /// The value written; `None` for a read.
            write: Option<i64>,
        },
        /// A read returned.
        ReadOk as "read_ok" {
            /// The operation.
            op: u64,
            /// The value read; `None`: never written.
            value: Option<i64>,
        },
        /// A write was acknowledged by a majority.
        WriteOk as "write_ok" {
            /// The operation.
            op: u64,
        },
        /// A client gave up on an operation; it may or may not take effect.
        TimedOut as "timed_out" {
            /// The operation.
            op: u64,
        },
    }
}

/// A replica's state, as it is kept on its disk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stored {
    pub tag: Tag,
    pub value: Option<i64>,
}

/// The replicas' disks for one run: created in [`Scenario::run`], so each seed starts with
/// empty disks, and captured by the node main, so a restarted replica finds what it wrote.
pub type Disk = Arc<Mutex<Vec<Stored>>>;

/// A replica: answers queries, adopts newer values, and persists before acknowledging.
pub struct Replica {
    state: Stored,
    /// `None` under [`MUTANT_VOLATILE`].
    disk: Option<Disk>,
}

impl Machine for Replica {
    type Msg = Msg;
    type Local = ();

    fn on_message(&mut self, node: &mut Node<Msg>, env: Envelope<Msg>) {
        match env.msg {
            Msg::Query { op } => node.send(
                env.from,
                Msg::QueryReply {
                    op,
                    tag: self.state.tag,
                    value: self.state.value,
                },
            ),
            Msg::Store { op, tag, value } => {
                if tag > self.state.tag {
                    self.state = Stored { tag, value };
                    if let Some(disk) = &self.disk {
                        disk.lock().expect("disk")[node.id()] = self.state;
                    }
                    let (ts, writer) = tag;
                    emit!(node.id(), RegisterEvent::Stored { ts, writer, value });
                }
                node.send(env.from, Msg::StoreAck { op });
            }
            Msg::QueryReply { .. } | Msg::StoreAck { .. } => {}
        }
    }

    fn on_tick(&mut self, _node: &mut Node<Msg>) {}
}

/// The two steps of every operation: learn the newest tag from a majority, then store a
/// value under a tag at a majority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Query,
    Store,
}

/// The operation a client has in flight.
struct Pending {
    op: u64,
    /// `None`: a read.
    write: Option<i64>,
    step: Step,
    started_ns: u64,
    /// Query replies by replica.
    replies: BTreeMap<usize, Stored>,
    /// What the store step stores.
    store: Stored,
    acks: BTreeSet<usize>,
}

/// A client: one operation at a time, a read or a write of a fresh value, each a query
/// step and a store step (a read writes back what it read, so that no later read returns
/// anything older).
pub struct Client {
    next_op: u64,
    pending: Option<Pending>,
    fast_reads: bool,
    /// Starts an operation at every tick it is idle.
    busy: bool,
    /// Store acknowledgements a write waits for: a majority (1 under [`MUTANT_ACK_ONE`]).
    write_quorum: usize,
}

const MAJORITY: usize = REPLICAS / 2 + 1;

impl Client {
    /// Sends the current step to the replicas that have not answered it. A store goes
    /// first to the majority whose query replies it used (the others need not hear of it),
    /// and to every replica when it is resent (`widen`).
    fn send_step(&self, node: &Node<Msg>, p: &Pending, widen: bool) {
        for r in 0..REPLICAS {
            let in_quorum = widen || p.replies.contains_key(&r);
            let msg = match p.step {
                Step::Query if !p.replies.contains_key(&r) => Msg::Query { op: p.op },
                Step::Store if in_quorum && !p.acks.contains(&r) => Msg::Store {
                    op: p.op,
                    tag: p.store.tag,
                    value: p.store.value,
                },
                _ => continue,
            };
            node.send(r, msg);
        }
    }

    fn finish(&mut self, node: &Node<Msg>) {
        let p = self.pending.take().expect("an operation in flight");
        let ev = match p.write {
            Some(_) => RegisterEvent::WriteOk { op: p.op },
            None => RegisterEvent::ReadOk {
                op: p.op,
                value: p.store.value,
            },
        };
        emit!(node.id(), ev);
    }
}

impl Machine for Client {
    type Msg = Msg;
    type Local = ();

    fn on_message(&mut self, node: &mut Node<Msg>, env: Envelope<Msg>) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        match env.msg {
            Msg::QueryReply { op, tag, value } if op == p.op && p.step == Step::Query => {
                p.replies.insert(env.from, Stored { tag, value });
                if p.replies.len() < MAJORITY {
                    return;
                }
                let newest = *p.replies.values().max_by_key(|s| s.tag).expect("replies");
                p.store = match p.write {
                    Some(v) => Stored {
                        tag: (newest.tag.0 + 1, node.id() as u64),
                        value: Some(v),
                    },
                    None => newest,
                };
                if p.write.is_none() && self.fast_reads {
                    return self.finish(node);
                }
                p.step = Step::Store;
                let p = self.pending.as_ref().expect("in flight");
                self.send_step(node, p, false);
            }
            Msg::StoreAck { op } if op == p.op && p.step == Step::Store => {
                p.acks.insert(env.from);
                let need = match p.write {
                    Some(_) => self.write_quorum,
                    None => MAJORITY,
                };
                if p.acks.len() >= need {
                    self.finish(node);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, node: &mut Node<Msg>) {
        use madsim::rand::Rng;
        let now = node.now_ns();
        if let Some(p) = &self.pending {
            if now - p.started_ns >= OP_TIMEOUT_MS * 1_000_000 {
                emit!(node.id(), RegisterEvent::TimedOut { op: p.op });
                self.pending = None;
            } else {
                // Lost messages are resent, to the replicas that have not answered.
                self.send_step(node, p, true);
            }
            return;
        }
        // A client thinks between operations; most of them are reads.
        let mut rng = madsim::rand::thread_rng();
        if !self.busy && !rng.gen_bool(START_PROBABILITY) {
            return;
        }
        self.next_op += 1;
        let op = self.next_op;
        // Every value written is unique, so a stale read names the write it missed.
        let write = rng
            .gen_bool(WRITE_PROBABILITY)
            .then(|| (node.id() as i64) * 1_000_000 + op as i64);
        emit!(node.id(), RegisterEvent::Invoke { op, write });
        let p = Pending {
            op,
            write,
            step: Step::Query,
            started_ns: now,
            replies: BTreeMap::new(),
            store: Stored::default(),
            acks: BTreeSet::new(),
        };
        self.send_step(node, &p, false);
        self.pending = Some(p);
    }
}

/// What a run switches on: the scenario's variant and the planted bug.
#[derive(Clone, Copy)]
struct Options {
    fast_reads: bool,
    volatile: bool,
    ack_one: bool,
}

async fn node_main(ctx: NodeCtx<Msg>, disk: Disk, o: Options) {
    if ctx.id < REPLICAS {
        let disk = (!o.volatile).then_some(disk);
        let state = match &disk {
            Some(d) => d.lock().expect("disk")[ctx.id],
            None => Stored::default(),
        };
        let (ts, writer) = state.tag;
        emit!(ctx.id, RegisterEvent::Boot { ts, writer });
        shell::run(ctx, Ticks::none(), move |_| Replica { state, disk }).await
    } else {
        let ticks = Ticks::every(Duration::from_millis(TICK_MS));
        shell::run(ctx, ticks, move |_| Client {
            next_op: 0,
            pending: None,
            fast_reads: o.fast_reads,
            busy: o.fast_reads,
            write_quorum: if o.ack_one { 1 } else { MAJORITY },
        })
        .await
    }
}

/// Always: the clients' reads and writes, as they saw them, are linearizable (an operation
/// that timed out may have taken effect at any point after its invocation, or never).
#[derive(Default)]
pub struct Linearizable {
    history: HistoryRecorder<CasInput, CasOutput>,
}

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        component == "register" && matches!(event, "invoke" | "read_ok" | "write_ok")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let client = ev.node.0;
        let (op, output) = match ev.get::<RegisterEvent>() {
            Some(RegisterEvent::Invoke { op, write }) => {
                let input = match write {
                    Some(v) => CasInput::Write(*v),
                    None => CasInput::Read,
                };
                self.history.invoke_request(client, *op, ev.t_ns, input);
                return Ok(());
            }
            Some(RegisterEvent::ReadOk { op, value }) => (*op, CasOutput::Read(*value)),
            Some(RegisterEvent::WriteOk { op }) => (*op, CasOutput::Ok),
            _ => return Ok(()),
        };
        self.history
            .complete_request(client, op, ev.t_ns, Some(output))
    }

    fn on_end(&mut self, _end: &RunEnd) -> Result<(), String> {
        self.history.check(&CasRegister)
    }
}

/// The register scenario: three replicas, its clients, every fault kind that applies.
pub struct Register {
    /// Reads skip their store step (not linearizable: a read can see a write that a later
    /// read does not).
    pub fast_reads: bool,
    /// Client nodes, after the replicas.
    pub clients: usize,
}

impl Register {
    /// Two clients that think between operations.
    pub fn new() -> Register {
        Register {
            fast_reads: false,
            clients: 2,
        }
    }

    /// One-step reads, four busy clients: enough concurrency for a read to overlap a write.
    pub fn fast_reads() -> Register {
        Register {
            fast_reads: true,
            clients: 4,
        }
    }
}

impl Default for Register {
    fn default() -> Self {
        Register::new()
    }
}

impl Scenario for Register {
    fn name(&self) -> &'static str {
        if self.fast_reads {
            "register-fast-reads"
        } else {
            "register"
        }
    }

    fn description(&self) -> &'static str {
        if self.fast_reads {
            "the register with one-step reads and 4 busy clients (not linearizable, on purpose)"
        } else {
            "a quorum-replicated register: 3 replicas, 2 clients, linearizable reads and writes"
        }
    }

    fn world(&self) -> WorldConfig {
        let n = REPLICAS + self.clients;
        let mut w = WorldConfig::new(n, 10_000, 5_000);
        // No work threads here: every other kind applies.
        w.plan.allowed = FaultKind::ALL
            .into_iter()
            .filter(|k| *k != FaultKind::WorkThread)
            .collect();
        // Clients record the history; they are never crashed or paused.
        w.plan.never_down_nodes = (REPLICAS..n).collect();
        w
    }

    fn checkers(&self) -> Vec<&'static str> {
        vec!["linearizable"]
    }

    fn mutants(&self) -> Vec<Mutant> {
        vec![
            Mutant {
                name: MUTANT_ACK_ONE,
                description: "a write completes on one replica's acknowledgement instead of \
                              a majority's",
            },
            Mutant {
                name: MUTANT_VOLATILE,
                description: "replicas keep their state in memory only: a crash forgets \
                              acknowledged writes",
            },
        ]
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        // Per seed: fresh disks, fresh checkers.
        let disk: Disk = Arc::new(Mutex::new(vec![Stored::default(); REPLICAS]));
        let o = Options {
            fast_reads: self.fast_reads,
            volatile: mutant == Some(MUTANT_VOLATILE),
            ack_one: mutant == Some(MUTANT_ACK_ONE),
        };
        let checkers: Vec<Box<dyn Checker>> = vec![Box::new(Linearizable::default())];
        sim::run_world(&self.world(), spec, checkers, move |ctx| {
            node_main(ctx, disk.clone(), o)
        })
    }
}

/// This crate's catalog: `register` gates `--all`; `register-fast-reads` is experimental.
pub fn catalog() -> Catalog {
    Catalog::new()
        .with(Register::new())
        .with(Entry::new(Register::fast_reads()).experimental())
}
