//! The thin async shell around a node's state machine: one inbox fed by the network, a
//! ticker and the node's own tasks, handed to [`Machine`]'s handlers one input at a time.
//!
//! A protocol written as a [`Machine`] needs no task of its own: [`run`] waits, in the
//! node's init task, on the node's [`Inbox`] (the network, the ticker and the node's own
//! tasks at once, so an input costs one task poll and no hop through a queue), and applies
//! the phase guard (no tick is handed on once the run has [`Phase::Ended`], so a node
//! stops starting new work while the world judges the run). Handlers act through [`Node`]: [`Node::send`] sends at once, in the
//! order called; other tasks of the node (a work thread, a timer) post to the machine
//! through [`Node::local`].
//!
//! A crash kills the shell's tasks with every other task of the node, and drops the machine
//! with its memory; a restart runs the node's init task again, which builds a new machine
//! (see [`NodeCtx`] on what survives).
//!
//! ```
//! use sim::shell::{self, Machine, Node, Ticks};
//! use sim::{Envelope, NodeCtx};
//! use std::time::Duration;
//!
//! /// Counts the pings it gets and pings the next node each tick.
//! struct Pinger { got: u64 }
//!
//! impl Machine for Pinger {
//!     type Msg = u64;
//!     type Local = ();
//!     fn on_message(&mut self, _node: &mut Node<u64>, env: Envelope<u64>) {
//!         self.got += env.msg;
//!     }
//!     fn on_tick(&mut self, node: &mut Node<u64>) {
//!         let to = (node.id() + 1) % node.ctx().nodes();
//!         node.send(to, 1);
//!     }
//! }
//!
//! // A node's init task, as `run_world` takes it.
//! async fn node_main(ctx: NodeCtx<u64>) {
//!     shell::run(ctx, Ticks::every(Duration::from_millis(100)), |_| Pinger { got: 0 }).await
//! }
//! ```

use crate::chan::{self, UnboundedReceiver, UnboundedSender};
use crate::clock::Ticker;
use crate::net::Envelope;
use crate::world::{NodeCtx, Phase};
use madsim::rand::Rng;
use std::task::{Context, Poll};
use std::time::Duration;

/// One input of a node's inbox.
pub enum Input<M, L> {
    /// A message from the network.
    Message(Envelope<M>),
    /// The ticker fired.
    Tick,
    /// Something the node's own tasks posted through [`Node::local`].
    Local(L),
}

/// When a node's ticker fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticks {
    /// The period; `None`: no ticker.
    every: Option<Duration>,
    /// The first tick comes at once rather than after a random offset.
    at_once: bool,
}

impl Ticks {
    /// A tick every `every` (at least 1 ms), the first one after a random offset in whole
    /// milliseconds below `every`, drawn from the seed: nodes that boot together do not
    /// tick in lockstep.
    pub fn every(every: Duration) -> Ticks {
        Ticks {
            every: Some(every),
            at_once: false,
        }
    }

    /// A tick at once, when the node starts, then every `every` (at least 1 ms).
    pub fn at_once_then_every(every: Duration) -> Ticks {
        Ticks {
            every: Some(every),
            at_once: true,
        }
    }

    /// No ticker: the machine acts only on messages and local inputs.
    pub fn none() -> Ticks {
        Ticks {
            every: None,
            at_once: false,
        }
    }
}

/// What a [`Machine`]'s handlers act through: the node's identity and clock, the network,
/// and a way for the node's other tasks to post to the machine.
pub struct Node<M, L = ()> {
    ctx: NodeCtx<M>,
    inbox: UnboundedSender<L>,
}

impl<M: Clone + Send + std::fmt::Debug + 'static, L: 'static> Node<M, L> {
    /// This node's index.
    pub fn id(&self) -> usize {
        self.ctx.id
    }

    /// The node's context: incarnation, fault hook, phase, cores.
    pub fn ctx(&self) -> &NodeCtx<M> {
        &self.ctx
    }

    /// Simulated ns since the run started.
    pub fn now_ns(&self) -> u64 {
        self.ctx.now_ns()
    }

    /// Sends `msg` to node `to` through the network model, at once.
    pub fn send(&self, to: usize, msg: M) {
        self.ctx.send(to, msg);
    }

    /// A handle the node's other tasks use to post inputs to the machine.
    pub fn local(&self) -> Local<M, L> {
        Local(self.inbox.clone(), std::marker::PhantomData)
    }
}

/// Posts [`Input::Local`] inputs to a node's machine from another task of the node.
pub struct Local<M, L>(UnboundedSender<L>, std::marker::PhantomData<fn() -> M>);

impl<M, L> Clone for Local<M, L> {
    fn clone(&self) -> Self {
        Local(self.0.clone(), std::marker::PhantomData)
    }
}

impl<M, L> Local<M, L> {
    /// Posts `input`; false once the machine is gone (its node crashed or the run ended).
    pub fn send(&self, input: L) -> bool {
        self.0.send(input).is_ok()
    }
}

/// A node's protocol as a state machine: the shell calls one handler per input, in the
/// order the inputs reach the inbox. Handlers must not block; they send, emit trace events
/// and spawn the node's other tasks.
pub trait Machine: 'static {
    /// What the nodes send each other.
    type Msg: Clone + Send + std::fmt::Debug + 'static;
    /// What the node's own tasks post to the machine ([`Node::local`]).
    type Local: 'static;

    /// A message from the network.
    fn on_message(&mut self, node: &mut Node<Self::Msg, Self::Local>, env: Envelope<Self::Msg>);

    /// The ticker fired (never after the run has [`Phase::Ended`]).
    fn on_tick(&mut self, node: &mut Node<Self::Msg, Self::Local>);

    /// An input from one of the node's own tasks.
    fn on_local(&mut self, node: &mut Node<Self::Msg, Self::Local>, input: Self::Local) {
        let _ = (node, input);
    }
}

/// Runs a node's machine until the node crashes or the run ends: opens the node's inbox
/// (the network, the ticker and the node's own tasks, all waited on by this one task),
/// builds the machine with `init` (which may spawn the node's other tasks with
/// [`Node::local`]) and hands it every input. Call it from the node's init task, once per
/// incarnation.
pub async fn run<P, F>(ctx: NodeCtx<P::Msg>, ticks: Ticks, init: F)
where
    P: Machine,
    F: FnOnce(&mut Node<P::Msg, P::Local>) -> P,
{
    let (mut node, mut inbox) = open(ctx, ticks);
    let mut machine = init(&mut node);
    while let Some(input) = inbox.next().await {
        match input {
            Input::Tick if node.ctx.phase() == Phase::Ended => {}
            Input::Message(env) => machine.on_message(&mut node, env),
            Input::Tick => machine.on_tick(&mut node),
            Input::Local(l) => machine.on_local(&mut node, l),
        }
    }
}

/// Opens a node's inbox: its handle for the machine, and the [`Inbox`] the node's
/// receiving task waits on. The first tick comes after a random offset below the period.
pub fn open<M: Clone + Send + std::fmt::Debug + 'static, L: 'static>(
    ctx: NodeCtx<M>,
    ticks: Ticks,
) -> (Node<M, L>, Inbox<M, L>) {
    let (tx, rx) = chan::unbounded_channel::<L>();
    let ticker = ticks.every.map(|every| {
        let first = if ticks.at_once {
            Duration::ZERO
        } else {
            let every_ms = (every.as_millis() as u64).max(1);
            Duration::from_millis(madsim::rand::thread_rng().gen_range(0..every_ms))
        };
        Ticker::new(first, every)
    });
    let inbox = Inbox {
        ctx: ctx.clone(),
        local: rx,
        ticker,
    };
    (Node { ctx, inbox: tx }, inbox)
}

/// Everything a node's receiving task waits for, in one task: the node's posts
/// ([`Node::local`]), its tick, and the network (it is the task that receives the node's
/// messages). The task is polled once per input and sleeps on one timer for its next
/// deadline (see [`crate::clock::Alarm`]); there is no task per source feeding a queue.
///
/// When several inputs are ready at once they come in a fixed order: the node's own
/// posts, then a due tick, then the network's messages in delivery order.
pub struct Inbox<M, L> {
    ctx: NodeCtx<M>,
    local: UnboundedReceiver<L>,
    ticker: Option<Ticker>,
}

impl<M: Clone + Send + std::fmt::Debug + 'static, L> Inbox<M, L> {
    /// The next input; `None` once every [`Node`] and [`Local`] handle is gone and
    /// nothing else can come (never while the network can deliver).
    #[inline]
    pub async fn next(&mut self) -> Option<Input<M, L>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// When the next tick is due, in ns since the run started; `None` without a ticker.
    pub fn next_tick_ns(&self) -> Option<u64> {
        self.ticker.as_ref().map(Ticker::next_ns)
    }

    /// Moves the next tick to `at_ns`, for a machine that knows when it next has work;
    /// the period applies again after that tick. Without a ticker, nothing happens.
    pub fn tick_at_ns(&mut self, at_ns: u64) {
        if let Some(t) = self.ticker.as_mut() {
            t.reschedule(at_ns);
        }
    }

    /// The next input if one is ready; otherwise arranges to be woken for the next.
    #[inline]
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Input<M, L>>> {
        if let Poll::Ready(Some(l)) = self.local.poll_recv(cx) {
            return Poll::Ready(Some(Input::Local(l)));
        }
        if let Some(t) = self.ticker.as_mut() {
            if t.poll_tick(cx).is_ready() {
                return Poll::Ready(Some(Input::Tick));
            }
        }
        self.ctx.poll_recv(cx).map(|env| Some(Input::Message(env)))
    }
}

/// The next input of a node's task other than its receiving one (a job's main thread):
/// the first message of its channel, or else `tick()` when its ticker is due; one wait, on
/// one timer. `None` once every sender of `rx` is gone.
pub async fn recv_or_tick<T>(
    rx: &mut UnboundedReceiver<T>,
    ticker: &mut Ticker,
    tick: impl Fn() -> T,
) -> Option<T> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(x) = rx.poll_recv(cx) {
            return Poll::Ready(x);
        }
        ticker.poll_tick(cx).map(|()| Some(tick()))
    })
    .await
}
