//! The process of a node outside the engine that talks to a service (a client of the
//! client manager, a UI client of the PMS): its state machine driven by the datagrams it
//! receives and by a tick, on the node's own madsim tasks.

use crate::engine::membership::Wire;
use crate::engine::AppPayload;
use sim::shell::{self, Input, Ticks};
use sim::NodeCtx;
use std::time::Duration;

/// A client's logic as a state machine: what it sends is returned in `out` as
/// `(node, request)` pairs.
pub trait External {
    type Req;
    type Resp;

    /// Time passes (every tick).
    fn on_tick(&mut self, now: u64, out: &mut Vec<(usize, Self::Req)>);

    /// When the next tick should come, in ns since the run started, given `periodic_ns`,
    /// when the period would bring it; asked after every input. The default keeps the
    /// period. A client that knows its deadlines (its next operation, a resend, giving
    /// up) names the earliest, and is not polled in between for nothing: a tick every few
    /// milliseconds costs a task poll and a timer each. A tick it is given early or late
    /// must still be handled: `on_tick` checks the clock, not the count of ticks. A time
    /// already past brings a tick at once, so the tick at a deadline must move the
    /// deadline on (act on it, or push it later), or the client ticks at the same instant
    /// until the seed's CPU limit.
    fn next_tick_ns(&self, periodic_ns: u64) -> u64 {
        periodic_ns
    }

    /// Node `from` answered, or pushed.
    fn on_response(
        &mut self,
        from: usize,
        r: Self::Resp,
        now: u64,
        out: &mut Vec<(usize, Self::Req)>,
    );
}

/// Which engine node a client outside the engine takes for the master, and how long it
/// waits before trying the next one when the current one stays silent.
#[derive(Clone, Debug)]
pub struct MasterGuess {
    target: usize,
    nodes: usize,
    backoff_ms: u64,
    min_ms: u64,
    max_ms: u64,
}

impl MasterGuess {
    /// Starts at node 0 of `nodes` engine nodes, backing off from `min_ms` to `max_ms`.
    pub fn new(nodes: usize, min_ms: u64, max_ms: u64) -> Self {
        MasterGuess {
            target: 0,
            nodes,
            backoff_ms: min_ms,
            min_ms,
            max_ms,
        }
    }

    /// The node believed to be master.
    pub fn target(&self) -> usize {
        self.target
    }

    /// The current pause before moving on from a silent node.
    pub fn backoff_ms(&self) -> u64 {
        self.backoff_ms
    }

    fn after(&self, node: usize) -> usize {
        (node + 1) % self.nodes
    }

    /// Gives up on the target without backing off (its session was lost).
    pub fn skip(&mut self) {
        self.target = self.after(self.target);
    }

    /// The target stayed silent: move on to the next node and double the pause; returns
    /// the pause as it was before doubling.
    pub fn move_on(&mut self) -> u64 {
        self.skip();
        let pause = self.backoff_ms;
        self.backoff_ms = (pause * 2).min(self.max_ms);
        pause
    }

    /// The request to the target is due to be sent again: unless the target answered
    /// without serving since the last send (`redirected`), its silence gives it up for the
    /// next node, backing off. Returns how long to wait for an answer to the next send:
    /// `retry_ms`, or the backoff if that is longer.
    pub fn resend(&mut self, redirected: bool, retry_ms: u64) -> u64 {
        if !redirected {
            self.move_on();
        }
        retry_ms.max(self.backoff_ms)
    }

    /// `from` says it is not master and names `master`, if it knows one (never itself):
    /// that one, or else the node after `from`.
    pub fn redirected(&mut self, from: usize, master: Option<usize>) {
        self.target = master.filter(|m| *m != from).unwrap_or(self.after(from));
    }

    /// `from` is the master, or will be once ready: keep asking it.
    pub fn point_at(&mut self, from: usize) {
        self.target = from;
    }

    /// `from` answered as master: it is the target, and the pause starts over.
    pub fn found(&mut self, from: usize) {
        self.target = from;
        self.backoff_ms = self.min_ms;
    }
}

/// Runs `client` on its node: one task that waits on the node's datagrams and a tick every
/// `tick_ms` (the first at once) or when [`External::next_tick_ns`] says, with the client's
/// state machine between them. `send` wraps a request in the engine's external payload;
/// `recv` unwraps a response, `None` for anything else.
pub async fn run_external<P: AppPayload, C: External>(
    ctx: NodeCtx<Wire<P>>,
    tick_ms: u64,
    mut client: C,
    send: impl Fn(C::Req) -> P,
    recv: impl Fn(P) -> Option<C::Resp>,
) {
    let ticks = Ticks::at_once_then_every(Duration::from_millis(tick_ms));
    let (_node, mut inbox) = shell::open::<_, ()>(ctx.clone(), ticks);
    let mut out = Vec::new();
    while let Some(input) = inbox.next().await {
        let now = ctx.now_ns();
        match input {
            Input::Tick => client.on_tick(now, &mut out),
            Input::Message(env) => {
                if let Wire::External { payload } = env.msg {
                    if let Some(r) = recv(*payload) {
                        client.on_response(env.from, r, now, &mut out);
                    }
                }
            }
            Input::Local(()) => {}
        }
        for (to, req) in out.drain(..) {
            ctx.send(
                to,
                Wire::External {
                    payload: Box::new(send(req)),
                },
            );
        }
        if let Some(periodic_ns) = inbox.next_tick_ns() {
            inbox.tick_at_ns(client.next_tick_ns(periodic_ns));
        }
    }
}
