//! A client history built as a run goes, and checked when it ends.
//!
//! A scenario feeds it from a checker: an observer of the event stream that turns each
//! client's invocation and completion events into [`invoke`](HistoryRecorder::invoke) and
//! [`complete`](HistoryRecorder::complete) calls, and whose end-of-run hook returns
//! [`check`](HistoryRecorder::check)'s result, so that a history that is not linearizable
//! becomes a violation of a `linearizable` checker, with a one-line explanation:
//!
//! ```text
//! struct Linearizable { history: HistoryRecorder<KvInput, KvOutput> }
//!
//! impl Checker for Linearizable {
//!     fn name(&self) -> &'static str { "linearizable" }
//!     // on a client's request event:  history.invoke_request(client, request, t_ns, input)
//!     // on its reply event:           history.complete_request(client, request, t_ns, Some(output))
//!     // on a definite rejection:      history.complete_request(client, request, t_ns, None)
//!     // a request that times out or whose client dies stays open: its outcome is unknown
//!     fn on_end(&mut self, _: &RunEnd) -> Result<(), String> { self.history.check(&KvStore) }
//! }
//! ```
//!
//! Times are the simulated nanoseconds of the events, so explanations print them as traces
//! do. A request whose reply is lost is exactly an operation of unknown outcome: it may
//! have taken effect at any point after its invocation, or never, and the check allows
//! both.

use super::{check, Clock, Completion, History, Model, Operation, Verdict};
use std::collections::BTreeMap;

/// An operation being recorded, as [`HistoryRecorder::invoke`] numbered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(usize);

/// A history under construction: invocations and completions in the order they happen.
#[derive(Clone, Debug)]
pub struct HistoryRecorder<I, O> {
    clock: Clock,
    /// Every invocation, in order; `None` once it is known never to have happened.
    ops: Vec<Option<Operation<I, O>>>,
    /// (client, request) -> the operation [`invoke_request`](Self::invoke_request) opened.
    requests: BTreeMap<(u64, u64), OpId>,
}

/// A recorder of simulated times ([`Clock::SimNanos`]), which is what a checker of a
/// simulated run records: its events carry simulated nanoseconds.
impl<I, O> Default for HistoryRecorder<I, O> {
    fn default() -> Self {
        HistoryRecorder::new(Clock::SimNanos)
    }
}

impl<I, O> HistoryRecorder<I, O> {
    pub fn new(clock: Clock) -> Self {
        HistoryRecorder {
            clock,
            ops: Vec::new(),
            requests: BTreeMap::new(),
        }
    }

    /// Records that `client` invoked `input` at `at`. Until it is completed, the operation's
    /// outcome is unknown.
    pub fn invoke(&mut self, client: u64, at: u64, input: I) -> OpId {
        self.ops.push(Some(Operation {
            client,
            invoked: at,
            input,
            completed: None,
        }));
        OpId(self.ops.len() - 1)
    }

    /// Records that `op` completed at `at` with `output`.
    ///
    /// Panics if `op` was already completed or failed, or if `at` is before its invocation:
    /// a checker feeding the recorder has lost track of its clients.
    pub fn complete(&mut self, op: OpId, at: u64, output: O) {
        let o = self.ops[op.0]
            .as_mut()
            .expect("completing an operation that failed");
        assert!(o.completed.is_none(), "completing an operation twice");
        assert!(
            at >= o.invoked,
            "an operation completes before its invocation"
        );
        o.completed = Some(Completion { at, output });
    }

    /// Records that `op` certainly did not take effect (Jepsen's `:fail`), e.g. a request
    /// rejected before it reached the replicated state: it is left out of the history.
    pub fn fail(&mut self, op: OpId) {
        let o = self.ops[op.0].take().expect("failing an operation twice");
        assert!(o.completed.is_none(), "failing a completed operation");
    }

    /// [`invoke`](Self::invoke), for a client that numbers its requests: `request` is the
    /// number [`complete_request`](Self::complete_request) finds it by.
    pub fn invoke_request(&mut self, client: u64, request: u64, at: u64, input: I) {
        let op = self.invoke(client, at, input);
        self.requests.insert((client, request), op);
    }

    /// Completes `client`'s request `request`: at `at` with `output`, or, with `None`, as
    /// certainly never taken effect ([`fail`](Self::fail)). `Err` if the client has no
    /// such request open: what a checker reports as a client that completed a request it
    /// never invoked.
    pub fn complete_request(
        &mut self,
        client: u64,
        request: u64,
        at: u64,
        output: Option<O>,
    ) -> Result<(), String> {
        let op = self.requests.remove(&(client, request)).ok_or_else(|| {
            format!("client n{client} completed request {request}, which it never invoked")
        })?;
        match output {
            Some(output) => self.complete(op, at, output),
            None => self.fail(op),
        }
        Ok(())
    }

    /// Operations recorded so far (failed ones excepted).
    pub fn len(&self) -> usize {
        self.ops.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history so far; operations not completed have an unknown outcome.
    pub fn history(&self) -> History<I, O>
    where
        I: Clone,
        O: Clone,
    {
        History {
            clock: self.clock,
            ops: self.ops.iter().flatten().cloned().collect(),
        }
    }

    /// Checks the history so far against `model`: `Err` is the one-line explanation of a
    /// history that is not linearizable, what a checker's end-of-run hook returns.
    pub fn check<M>(&self, model: &M) -> Result<(), String>
    where
        M: Model<Input = I, Output = O>,
        I: Clone,
        O: Clone,
    {
        match check(model, &self.history()).verdict {
            Verdict::Linearizable => Ok(()),
            Verdict::NotLinearizable(e) => Err(e.one_line()),
        }
    }
}
