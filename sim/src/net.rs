//! The network model every message between nodes goes through.
//!
//! Each link has a latency distribution (uniform between a minimum and maximum, with
//! per-link overrides); on top of it the fault plan opens windows of packet loss,
//! duplication, latency spikes, partitions (symmetric or one-way) and link clogs. Because
//! every message samples its own latency, messages on one link can overtake each other:
//! the network reorders, and FIFO is the protocol's job.
//!
//! The model is built on madsim's timers rather than on its `Endpoint`, which adds at least
//! 1 ms of simulated time to every send and every receive. Each node has one inbox, a heap
//! ordered by delivery time, and a single receiving task; a send arms that task's timer
//! for the message's delivery time (`sim::clock::Alarm`), so the task is polled once, when
//! the message is due; so a delivery happens exactly at `sent + sampled latency` (plus madsim's
//! 50-100 ns of scheduling per task poll), and the latency a protocol measures is the
//! modelled one. Messages are checked against partitions both when sent and when
//! delivered, so a partition that starts while a message is in flight drops it.
//!
//! At `--detail net` ([`Detail::Net`](crate::trace::Detail)) the model records a
//! [`NetEvent`] for every send, extra delay, duplicate, delivery and drop, each naming the
//! message by a [`MsgId`] that links its send to its delivery. These events are kept beside
//! the trace, never hashed and never shown to checkers, and recording them draws nothing
//! from the RNG and wakes no task: a run is the same run at every detail level.

use crate::clock::Alarm;
use crate::event::NodeId;
use crate::local::SeedCell;
use crate::time::SimDuration;
use crate::trace::record_detail;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cell::RefMut;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Latency of one directed link, in simulated microseconds, drawn uniformly per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkLatency {
    pub min_us: u64,
    pub max_us: u64,
}

/// A latency that differs from the default for one directed link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOverride {
    pub from: usize,
    pub to: usize,
    pub latency: LinkLatency,
}

/// The network's standing configuration (faults come and go on top of it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub latency: LinkLatency,
    pub overrides: Vec<LinkOverride>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: LinkLatency {
                min_us: 1_000,
                max_us: 5_000,
            },
            overrides: vec![],
        }
    }
}

/// Counters a run reports at its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub duplicated: u64,
    pub dropped_partition: u64,
    pub dropped_loss: u64,
    pub dropped_down: u64,
}

/// A message as the network saw it at `--detail net`: `m17` is the 17th send of the run.
/// A duplicate's two copies share their message's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MsgId(pub u64);

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

crate::trace_field_by_display!(MsgId => |m| [m.0]);

/// Why the network dropped a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// A partition cut the link, at the send or while the message was in flight.
    Partition,
    /// A clog blocked the link.
    Clog,
    /// A packet-loss window took it.
    Loss,
    /// Its receiver was down when it was sent, or crashed while it was in flight.
    Crash,
}

impl DropCause {
    pub fn name(self) -> &'static str {
        match self {
            DropCause::Partition => "partition",
            DropCause::Clog => "clog",
            DropCause::Loss => "loss",
            DropCause::Crash => "crash",
        }
    }
}

crate::trace_field_by_name!(DropCause);

crate::trace_events! {
    /// Every message the network model handles, recorded only at `--detail net`: beside
    /// the trace, without an index of their own, never hashed, never seen by checkers.
    pub enum NetEvent in "net" {
        /// A node sent a message (recorded at the sender).
        Send as "send" {
            /// The message.
            msg: MsgId,
            /// Its receiver.
            to: NodeId,
            /// What it is: the message's variant names, outermost first.
            kind: String,
        },
        /// A latency spike delayed a copy beyond its link's own latency (at the sender).
        Delay as "delay" {
            /// The message.
            msg: MsgId,
            /// The delay added to the sampled latency.
            extra: SimDuration,
        },
        /// The network made a second copy of a message (at the sender).
        Duplicate as "duplicate" {
            /// The message.
            msg: MsgId,
        },
        /// A copy reached its receiver (recorded at the receiver).
        Deliver as "deliver" {
            /// The message.
            msg: MsgId,
            /// Its sender.
            from: NodeId,
            /// What it is.
            kind: String,
            /// From its send to now.
            latency: SimDuration,
        },
        /// The network dropped a copy: at the send (recorded at the sender) or in flight
        /// (at the receiver).
        Drop as "drop" {
            /// The message.
            msg: MsgId,
            /// Its sender.
            from: NodeId,
            /// Its receiver.
            to: NodeId,
            /// Why.
            cause: DropCause,
        },
    }
}

/// A message's kind for a net event: the type and variant names its `Debug` form opens
/// with, outermost first (`Data.Submit.SubmitMsg`, `External.Client.Hello`), at most three,
/// read from at most its first 160 bytes so a large message costs no more than a small one.
fn kind_of<M: fmt::Debug>(msg: &M) -> String {
    const PREFIX_BYTES: usize = 160;
    struct Prefix(String);
    impl fmt::Write for Prefix {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = PREFIX_BYTES.saturating_sub(self.0.len());
            let take = s.char_indices().nth(room).map_or(s.len(), |(i, _)| i);
            self.0.push_str(&s[..take]);
            if take < s.len() {
                Err(fmt::Error)
            } else {
                Ok(())
            }
        }
    }
    let mut text = Prefix(String::new());
    let _ = fmt::write(&mut text, format_args!("{msg:?}"));
    // Follow the message's envelope: a tuple variant's content, or a struct variant's
    // `msg` or `payload` field; anything else ends the kind.
    let mut names: Vec<&str> = vec![];
    let mut rest = text.0.as_str();
    while names.len() < 3 {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        if names.last() != Some(&name) {
            names.push(name);
        }
        rest = &rest[end..];
        if let Some(inner) = rest.strip_prefix('(') {
            rest = inner;
        } else if let Some(at) = ["msg: ", "payload: "]
            .iter()
            .filter_map(|f| rest.find(f).map(|i| i + f.len()))
            .min()
        {
            rest = &rest[at..];
        } else {
            break;
        }
    }
    if names.is_empty() {
        "message".to_string()
    } else {
        names.join(".")
    }
}

/// Sees every message as the network delivers it: a benchmark reconstructs from the
/// sampled latencies what the network alone contributed to a protocol's latency.
pub type DeliveryObserver<M> = Box<dyn FnMut(&Envelope<M>) + Send>;

/// A delivered message.
#[derive(Clone, Debug)]
pub struct Envelope<M> {
    pub from: usize,
    pub to: usize,
    /// Simulated time of the send, in ns since the run started.
    pub sent_ns: u64,
    /// The latency the model sampled for this copy, in ns.
    pub latency_ns: u64,
    pub msg: M,
}

/// A message in flight, as its receiver's heap orders it: by delivery time, then by send
/// order. The envelope itself waits in the inbox's slots, so the heap moves a few words
/// per step rather than a whole message.
struct Pending {
    at_ns: u64,
    seq: u64,
    slot: usize,
    msg: MsgId,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: `BinaryHeap` is a max-heap and the earliest delivery must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

/// One node's messages in flight.
struct Inbox<M> {
    heap: BinaryHeap<Pending>,
    slots: Vec<Option<Envelope<M>>>,
    free: Vec<usize>,
}

impl<M> Inbox<M> {
    fn new() -> Self {
        Inbox {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn push(&mut self, at_ns: u64, seq: u64, msg: MsgId, env: Envelope<M>) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(env);
                slot
            }
            None => {
                self.slots.push(Some(env));
                self.slots.len() - 1
            }
        };
        self.heap.push(Pending {
            at_ns,
            seq,
            slot,
            msg,
        });
    }

    /// When the earliest message is due.
    fn next_due(&self) -> Option<u64> {
        self.heap.peek().map(|p| p.at_ns)
    }

    /// Takes the earliest message.
    fn pop(&mut self) -> Option<(MsgId, Envelope<M>)> {
        let p = self.heap.pop()?;
        self.free.push(p.slot);
        let env = self.slots[p.slot]
            .take()
            .expect("a pending message has its slot");
        Some((p.msg, env))
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    /// Empties the inbox, handing each message that was in flight to `dropped`.
    fn clear(&mut self, mut dropped: impl FnMut(MsgId, &Envelope<M>)) {
        for p in self.heap.drain() {
            if let Some(env) = &self.slots[p.slot] {
                dropped(p.msg, env);
            }
        }
        self.slots.clear();
        self.free.clear();
    }
}

struct NetState<M> {
    n: usize,
    cfg: NetConfig,
    link_latency: Vec<LinkLatency>,
    up: Vec<bool>,
    /// Nodes whose links no fault reaches ([`crate::PlanConfig::untouched_nodes`]).
    untouched: Vec<bool>,
    /// How many active partitions or clogs block each directed link (`from * n + to`);
    /// counts, so overlapping faults heal independently.
    blocked: Vec<u32>,
    /// How many of those blocks are clogs (the rest are partitions).
    clogged: Vec<u32>,
    /// Active loss windows, by fault id.
    loss: Vec<(usize, f64)>,
    dup: Vec<(usize, f64)>,
    /// Active latency spikes per node, by fault id.
    spikes: Vec<(usize, usize, u64)>,
    inboxes: Vec<Inbox<M>>,
    /// Each node's receiving task, as the senders wake it.
    receivers: Vec<Receiver>,
    seq: u64,
    /// The ids given to messages so far (every send, delivered or not).
    msgs: u64,
    stats: NetStats,
    observer: Option<DeliveryObserver<M>>,
}

impl Receiver {
    fn register(&mut self, waker: &Waker) {
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}

impl<M> NetState<M> {
    fn combined(windows: &[(usize, f64)]) -> f64 {
        1.0 - windows.iter().map(|(_, p)| 1.0 - p).product::<f64>()
    }

    fn extra_latency_ns(&self, node: usize) -> u64 {
        self.spikes
            .iter()
            .filter(|(_, n, _)| *n == node)
            .map(|(_, _, ms)| ms * 1_000_000)
            .sum()
    }

    fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked[from * self.n + to] > 0
    }

    /// What blocks the link `from -> to` (a partition, when one does).
    fn block_cause(&self, from: usize, to: usize) -> DropCause {
        let i = from * self.n + to;
        if self.blocked[i] > self.clogged[i] {
            DropCause::Partition
        } else {
            DropCause::Clog
        }
    }
}

/// A node's receiving task as the network sees it: a send arms the task's own timer for
/// the message's delivery time, so the task is polled once, when the message is due,
/// rather than woken at the send only to go back to sleep.
#[derive(Default)]
struct Receiver {
    /// The task's waker, from its first wait; `None` until then and after a crash.
    waker: Option<Waker>,
    /// The timers that will wake it.
    alarm: Alarm,
}

/// The shared network of one world; cheap to clone.
pub struct Net<M> {
    state: Arc<SeedCell<NetState<M>>>,
}

impl<M> Clone for Net<M> {
    fn clone(&self) -> Self {
        Net {
            state: self.state.clone(),
        }
    }
}

impl<M: Clone + Send + fmt::Debug + 'static> Net<M> {
    pub fn new(n: usize, cfg: NetConfig) -> Self {
        let mut link_latency = vec![cfg.latency; n * n];
        for o in &cfg.overrides {
            if o.from < n && o.to < n {
                link_latency[o.from * n + o.to] = o.latency;
            }
        }
        Net {
            state: Arc::new(SeedCell::new(NetState {
                n,
                cfg,
                link_latency,
                up: vec![true; n],
                untouched: vec![false; n],
                blocked: vec![0; n * n],
                clogged: vec![0; n * n],
                loss: vec![],
                dup: vec![],
                spikes: vec![],
                inboxes: (0..n).map(|_| Inbox::new()).collect(),
                receivers: (0..n).map(|_| Receiver::default()).collect(),
                seq: 0,
                msgs: 0,
                stats: NetStats::default(),
                observer: None,
            })),
        }
    }

    pub fn nodes(&self) -> usize {
        self.lock().n
    }

    pub fn config(&self) -> NetConfig {
        self.lock().cfg.clone()
    }

    fn lock(&self) -> RefMut<'_, NetState<M>> {
        self.state.borrow_mut()
    }

    /// Sends `msg` from `from` to `to` through the model. Never blocks.
    pub fn send(&self, from: usize, to: usize, msg: M) {
        let now = crate::clock::now_ns();
        let mut rng = madsim::rand::thread_rng();
        let mut st = self.lock();
        assert!(
            from < st.n && to < st.n,
            "send {from}->{to} outside the world"
        );
        st.stats.sent += 1;
        st.msgs += 1;
        let id = MsgId(st.msgs);
        let (src, dst) = (NodeId::from(from), NodeId::from(to));
        record_detail(src, || NetEvent::Send {
            msg: id,
            to: dst,
            kind: kind_of(&msg),
        });
        let dropped = |cause| NetEvent::Drop {
            msg: id,
            from: src,
            to: dst,
            cause,
        };
        if !st.up[to] {
            st.stats.dropped_down += 1;
            record_detail(src, || dropped(DropCause::Crash));
            return;
        }
        if st.is_blocked(from, to) {
            st.stats.dropped_partition += 1;
            let cause = st.block_cause(from, to);
            record_detail(src, || dropped(cause));
            return;
        }
        // A message to or from an untouched node escapes every network fault (and draws
        // nothing for them).
        let exempt = st.untouched[from] || st.untouched[to];
        let loss = NetState::<M>::combined(&st.loss);
        if !exempt && loss > 0.0 && rng.gen_bool(loss.min(1.0)) {
            st.stats.dropped_loss += 1;
            record_detail(src, || dropped(DropCause::Loss));
            return;
        }
        let dup = NetState::<M>::combined(&st.dup);
        let copies = if !exempt && dup > 0.0 && rng.gen_bool(dup.min(1.0)) {
            st.stats.duplicated += 1;
            record_detail(src, || NetEvent::Duplicate { msg: id });
            2
        } else {
            1
        };
        let link = st.link_latency[from * st.n + to];
        let extra = if exempt {
            0
        } else {
            st.extra_latency_ns(from) + st.extra_latency_ns(to)
        };
        let mut enqueue = |st: &mut NetState<M>, msg: M| {
            let base_us = if link.max_us > link.min_us {
                rng.gen_range(link.min_us..=link.max_us)
            } else {
                link.min_us
            };
            let latency_ns = base_us * 1_000 + extra;
            if extra > 0 {
                record_detail(src, || NetEvent::Delay {
                    msg: id,
                    extra: SimDuration(extra),
                });
            }
            st.seq += 1;
            let seq = st.seq;
            let Receiver { waker, alarm } = &mut st.receivers[to];
            if let Some(waker) = waker {
                alarm.arm(waker, now + latency_ns);
            }
            st.inboxes[to].push(
                now + latency_ns,
                seq,
                id,
                Envelope {
                    from,
                    to,
                    sent_ns: now,
                    latency_ns,
                    msg,
                },
            );
        };
        if copies == 2 {
            // Each copy samples its own latency, so a duplicate may arrive first.
            enqueue(&mut st, msg.clone());
        }
        enqueue(&mut st, msg);
    }

    /// Waits for the next message to `me`. Only one task per node should call this.
    pub async fn recv(&self, me: usize) -> Envelope<M> {
        std::future::poll_fn(|cx| self.poll_recv(me, cx)).await
    }

    /// The next message to `me` that is due, if any; otherwise makes sure the polling
    /// task is woken when one is (the earliest in flight now, or one sent later). Only
    /// one task per node should call this, always the same one.
    pub fn poll_recv(&self, me: usize, cx: &mut Context<'_>) -> Poll<Envelope<M>> {
        let now = crate::clock::now_ns();
        let mut st = self.lock();
        loop {
            let Some(at) = st.inboxes[me].next_due() else {
                st.receivers[me].register(cx.waker());
                return Poll::Pending;
            };
            if at > now {
                let r = &mut st.receivers[me];
                r.register(cx.waker());
                r.alarm.arm(cx.waker(), at);
                return Poll::Pending;
            }
            let (id, env) = st.inboxes[me].pop().expect("one is due");
            if st.is_blocked(env.from, me) {
                st.stats.dropped_partition += 1;
                let cause = st.block_cause(env.from, me);
                record_detail(NodeId::from(me), || NetEvent::Drop {
                    msg: id,
                    from: NodeId::from(env.from),
                    to: NodeId::from(me),
                    cause,
                });
                continue;
            }
            st.stats.delivered += 1;
            record_detail(NodeId::from(me), || NetEvent::Deliver {
                msg: id,
                from: NodeId::from(env.from),
                kind: kind_of(&env.msg),
                latency: SimDuration(now - env.sent_ns),
            });
            if let Some(observe) = st.observer.as_mut() {
                observe(&env);
            }
            return Poll::Ready(env);
        }
    }

    /// Takes a node down (crash) or up (restart). A down node's inbox is emptied and
    /// messages sent to it are lost.
    pub fn set_up(&self, node: usize, up: bool) {
        let mut st = self.lock();
        st.up[node] = up;
        if !up {
            // Its receiving task died with it; the next incarnation's registers afresh.
            st.receivers[node] = Receiver::default();
            let dropped = st.inboxes[node].len() as u64;
            st.stats.dropped_down += dropped;
            st.inboxes[node].clear(|id, env| {
                record_detail(NodeId::from(node), || NetEvent::Drop {
                    msg: id,
                    from: NodeId::from(env.from),
                    to: NodeId::from(node),
                    cause: DropCause::Crash,
                })
            });
        }
    }

    pub fn is_up(&self, node: usize) -> bool {
        self.lock().up[node]
    }

    /// Exempts every link to or from `node` from network faults: partitions and clogs do
    /// not block them, and loss, duplication and latency spikes do not apply to them.
    pub fn set_untouched(&self, node: usize) {
        self.lock().untouched[node] = true;
    }

    /// Blocks (or unblocks) the directed link `from -> to` for a partition; calls nest. A
    /// link with an untouched end is never blocked.
    pub fn block(&self, from: usize, to: usize, on: bool) {
        self.block_for(from, to, on, DropCause::Partition);
    }

    /// Blocks (or unblocks) the directed link `from -> to` for a clog; calls nest.
    pub fn clog(&self, from: usize, to: usize, on: bool) {
        self.block_for(from, to, on, DropCause::Clog);
    }

    fn block_for(&self, from: usize, to: usize, on: bool, cause: DropCause) {
        let mut st = self.lock();
        if st.untouched[from] || st.untouched[to] {
            return;
        }
        let i = from * st.n + to;
        let clog = u32::from(cause == DropCause::Clog);
        if on {
            st.blocked[i] += 1;
            st.clogged[i] += clog;
        } else {
            st.blocked[i] = st.blocked[i].saturating_sub(1);
            st.clogged[i] = st.clogged[i].saturating_sub(clog);
        }
    }

    pub fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.lock().is_blocked(from, to)
    }

    pub fn set_loss(&self, id: usize, probability: Option<f64>) {
        let mut st = self.lock();
        st.loss.retain(|(i, _)| *i != id);
        if let Some(p) = probability {
            st.loss.push((id, p));
        }
    }

    pub fn set_duplication(&self, id: usize, probability: Option<f64>) {
        let mut st = self.lock();
        st.dup.retain(|(i, _)| *i != id);
        if let Some(p) = probability {
            st.dup.push((id, p));
        }
    }

    pub fn set_spike(&self, id: usize, node: usize, extra_latency_ms: Option<u64>) {
        let mut st = self.lock();
        st.spikes.retain(|(i, _, _)| *i != id);
        if let Some(ms) = extra_latency_ms {
            st.spikes.push((id, node, ms));
        }
    }

    /// Clears every fault window (the start of the liveness phase).
    pub fn heal_all(&self) {
        let mut st = self.lock();
        st.blocked.iter_mut().for_each(|b| *b = 0);
        st.clogged.iter_mut().for_each(|b| *b = 0);
        st.loss.clear();
        st.dup.clear();
        st.spikes.clear();
    }

    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }

    /// Shows every delivered message to `observer` from now on (it runs under the
    /// network's lock, so it must not call back into the network).
    pub fn observe_deliveries(&self, observer: DeliveryObserver<M>) {
        self.lock().observer = Some(observer);
    }
}
