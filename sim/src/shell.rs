//! The thin async shell around a node's state machine: one inbox fed by the network, a
//! ticker and the node's own tasks, handed to [`Machine`]'s handlers one input at a time.
//!
//! A protocol written as a [`Machine`] needs no task of its own: [`run`] spawns the task
//! that moves the node's network messages into the inbox (the one task of the node that
//! calls [`NodeCtx::recv`]), the ticker, and applies the phase guard (no tick is handed on
//! once the run has [`Phase::Ended`], so a node stops starting new work while the world
//! judges the run). Handlers act through [`Node`]: [`Node::send`] sends at once, in the
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
use crate::net::Envelope;
use crate::world::{NodeCtx, Phase};
use madsim::rand::Rng;
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
}

impl Ticks {
    /// A tick every `every` (at least 1 ms), the first one after a random offset in whole
    /// milliseconds below `every`, drawn from the seed: nodes that boot together do not
    /// tick in lockstep.
    pub fn every(every: Duration) -> Ticks {
        Ticks { every: Some(every) }
    }

    /// No ticker: the machine acts only on messages and local inputs.
    pub fn none() -> Ticks {
        Ticks { every: None }
    }
}

/// What a [`Machine`]'s handlers act through: the node's identity and clock, the network,
/// and a way for the node's other tasks to post to the machine.
pub struct Node<M, L = ()> {
    ctx: NodeCtx<M>,
    inbox: UnboundedSender<Input<M, L>>,
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
        Local(self.inbox.clone())
    }
}

/// Posts [`Input::Local`] inputs to a node's machine from another task of the node.
pub struct Local<M, L>(UnboundedSender<Input<M, L>>);

impl<M, L> Clone for Local<M, L> {
    fn clone(&self) -> Self {
        Local(self.0.clone())
    }
}

impl<M, L> Local<M, L> {
    /// Posts `input`; false once the machine is gone (its node crashed or the run ended).
    pub fn send(&self, input: L) -> bool {
        self.0.send(Input::Local(input)).is_ok()
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

/// Runs a node's machine until the node crashes or the run ends: starts the inbox (the
/// network receiver, then the ticker), builds the machine with `init` (which may spawn the
/// node's other tasks with [`Node::local`]) and hands it every input. Call it from the
/// node's init task, once per incarnation.
pub async fn run<P, F>(ctx: NodeCtx<P::Msg>, ticks: Ticks, init: F)
where
    P: Machine,
    F: FnOnce(&mut Node<P::Msg, P::Local>) -> P,
{
    let (mut node, mut rx) = start(ctx, ticks);
    let mut machine = init(&mut node);
    while let Some(input) = next(&node.ctx, &mut rx).await {
        match input {
            Input::Message(env) => machine.on_message(&mut node, env),
            Input::Tick => machine.on_tick(&mut node),
            Input::Local(l) => machine.on_local(&mut node, l),
        }
    }
}

type Inbox<M, L> = UnboundedReceiver<Input<M, L>>;

/// Spawns the network receiver and the ticker, both feeding one inbox.
fn start<M: Clone + Send + std::fmt::Debug + 'static, L: 'static>(
    ctx: NodeCtx<M>,
    ticks: Ticks,
) -> (Node<M, L>, Inbox<M, L>) {
    let (inbox, rx) = chan::unbounded_channel::<Input<M, L>>();
    let net_ctx = ctx.clone();
    let net_tx = inbox.clone();
    madsim::task::spawn_local(async move {
        loop {
            let env = net_ctx.recv().await;
            if net_tx.send(Input::Message(env)).is_err() {
                return;
            }
        }
    });
    if let Some(every) = ticks.every {
        let every_ms = (every.as_millis() as u64).max(1);
        let offset_ms = madsim::rand::thread_rng().gen_range(0..every_ms);
        let tick_tx = inbox.clone();
        crate::clock::spawn_ticks(Some(Duration::from_millis(offset_ms)), every, move || {
            tick_tx.send(Input::Tick).is_ok()
        });
    }
    (Node { ctx, inbox }, rx)
}

/// The next input for the machine; the phase guard drops ticks once the run has ended.
async fn next<M: Clone + Send + std::fmt::Debug + 'static, L>(
    ctx: &NodeCtx<M>,
    rx: &mut Inbox<M, L>,
) -> Option<Input<M, L>> {
    loop {
        match rx.recv().await? {
            Input::Tick if ctx.phase() == Phase::Ended => continue,
            input => return Some(input),
        }
    }
}
