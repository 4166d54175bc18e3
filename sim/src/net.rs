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
//! ordered by delivery time, and a single receiving future that sleeps until the earliest
//! delivery; so a delivery happens exactly at `sent + sampled latency` (plus madsim's
//! 50-100 ns of scheduling per task poll), and the latency a protocol measures is the
//! modelled one. Messages are checked against partitions both when sent and when
//! delivered, so a partition that starts while a message is in flight drops it.

use crate::chan::Wakeup;
use crate::local::SeedCell;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cell::RefMut;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

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

    fn push(&mut self, at_ns: u64, seq: u64, env: Envelope<M>) {
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
        self.heap.push(Pending { at_ns, seq, slot });
    }

    /// When the earliest message is due.
    fn next_due(&self) -> Option<u64> {
        self.heap.peek().map(|p| p.at_ns)
    }

    /// Takes the earliest message.
    fn pop(&mut self) -> Option<Envelope<M>> {
        let p = self.heap.pop()?;
        self.free.push(p.slot);
        Some(
            self.slots[p.slot]
                .take()
                .expect("a pending message has its slot"),
        )
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    fn clear(&mut self) {
        self.heap.clear();
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
    /// Active loss windows, by fault id.
    loss: Vec<(usize, f64)>,
    dup: Vec<(usize, f64)>,
    /// Active latency spikes per node, by fault id.
    spikes: Vec<(usize, usize, u64)>,
    inboxes: Vec<Inbox<M>>,
    /// When each node's receiver will next wake by itself (`u64::MAX`: only when
    /// notified), or `None` while it is not waiting. A send needs to wake the receiver
    /// only if its message is due earlier; skipping the rest halves the polls per message.
    waiting_until: Vec<Option<u64>>,
    seq: u64,
    stats: NetStats,
    observer: Option<DeliveryObserver<M>>,
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
}

/// The shared network of one world; cheap to clone.
pub struct Net<M> {
    state: Arc<SeedCell<NetState<M>>>,
    notify: Arc<Vec<Wakeup>>,
}

impl<M> Clone for Net<M> {
    fn clone(&self) -> Self {
        Net {
            state: self.state.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<M: Clone + Send + 'static> Net<M> {
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
                loss: vec![],
                dup: vec![],
                spikes: vec![],
                inboxes: (0..n).map(|_| Inbox::new()).collect(),
                waiting_until: vec![None; n],
                seq: 0,
                stats: NetStats::default(),
                observer: None,
            })),
            notify: Arc::new((0..n).map(|_| Wakeup::new()).collect()),
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
        if !st.up[to] {
            st.stats.dropped_down += 1;
            return;
        }
        if st.is_blocked(from, to) {
            st.stats.dropped_partition += 1;
            return;
        }
        // A message to or from an untouched node escapes every network fault (and draws
        // nothing for them).
        let exempt = st.untouched[from] || st.untouched[to];
        let loss = NetState::<M>::combined(&st.loss);
        if !exempt && loss > 0.0 && rng.gen_bool(loss.min(1.0)) {
            st.stats.dropped_loss += 1;
            return;
        }
        let dup = NetState::<M>::combined(&st.dup);
        let copies = if !exempt && dup > 0.0 && rng.gen_bool(dup.min(1.0)) {
            st.stats.duplicated += 1;
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
            st.seq += 1;
            let seq = st.seq;
            st.inboxes[to].push(
                now + latency_ns,
                seq,
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
        let due = st.inboxes[to].next_due().unwrap_or(u64::MAX);
        let wake = matches!(st.waiting_until[to], Some(w) if due < w);
        if wake {
            st.waiting_until[to] = Some(due);
        }
        drop(st);
        if wake {
            self.notify[to].notify_one();
        }
    }

    /// Waits for the next message to `me`. Only one task per node should call this.
    pub async fn recv(&self, me: usize) -> Envelope<M> {
        loop {
            let now = crate::clock::now_ns();
            let wait_ns = {
                let mut st = self.lock();
                st.waiting_until[me] = None;
                loop {
                    match st.inboxes[me].next_due() {
                        Some(at) if at <= now => {
                            let env = st.inboxes[me].pop().expect("one is due");
                            if st.is_blocked(env.from, me) {
                                st.stats.dropped_partition += 1;
                                continue;
                            }
                            st.stats.delivered += 1;
                            if let Some(observe) = st.observer.as_mut() {
                                observe(&env);
                            }
                            return env;
                        }
                        Some(at) => {
                            st.waiting_until[me] = Some(at);
                            break Some(at - now);
                        }
                        None => {
                            st.waiting_until[me] = Some(u64::MAX);
                            break None;
                        }
                    }
                }
            };
            let notified = self.notify[me].notified();
            match wait_ns {
                Some(ns) => {
                    // Pinned in place: a receiver waits once per message, and boxing both
                    // futures cost two allocations each time.
                    let sleep = std::pin::pin!(crate::clock::sleep_exact(Duration::from_nanos(ns)));
                    futures::future::select(sleep, std::pin::pin!(notified)).await;
                }
                None => notified.await,
            }
        }
    }

    /// Takes a node down (crash) or up (restart). A down node's inbox is emptied and
    /// messages sent to it are lost.
    pub fn set_up(&self, node: usize, up: bool) {
        let mut st = self.lock();
        st.up[node] = up;
        if !up {
            let dropped = st.inboxes[node].len() as u64;
            st.stats.dropped_down += dropped;
            st.inboxes[node].clear();
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

    /// Blocks (or unblocks) the directed link `from -> to`; calls nest. A link with an
    /// untouched end is never blocked.
    pub fn block(&self, from: usize, to: usize, on: bool) {
        let mut st = self.lock();
        if st.untouched[from] || st.untouched[to] {
            return;
        }
        let i = from * st.n + to;
        if on {
            st.blocked[i] += 1;
        } else {
            st.blocked[i] = st.blocked[i].saturating_sub(1);
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
