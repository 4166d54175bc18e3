//! Linearizability checking of a finished client history against a sequential model.
//!
//! A *history* lists operations as clients saw them: who invoked what and when, and when
//! it completed with which output, or that its outcome is unknown (a timed-out request, a
//! client that crashed while waiting). The history is *linearizable* when every operation
//! can be given one instant between its invocation and its completion such that, taken in
//! the order of those instants, the operations are a run of the [`Model`]'s sequential
//! specification that produces the outputs the clients saw. An operation with an unknown
//! outcome may take effect at any instant after its invocation, or never.
//!
//! The search is Wing & Gong's, as Lowe refined it (and as Knossos and Porcupine run it):
//! walk the time-ordered list of invocations and completions, place ("linearize") an
//! invoked operation whenever the model accepts it, and backtrack when a completion is
//! reached whose operation is not placed yet. What keeps it tractable:
//! - **memoisation**: a configuration (the operations placed, the model state) reached once
//!   is never searched again. With unknown outcomes, a configuration is also skipped when
//!   one with the same state, the same operations of known outcome and fewer of unknown
//!   outcome placed has failed: it could do all this one can.
//! - **P-compositionality**: a model may split the history into independent parts (a
//!   key-value store per key, see [`Model::partition`]); each part is checked alone, and a
//!   history is linearizable exactly when each part is. The parts are searched side by
//!   side under a doubling step budget, so a part that fails fast decides the history even
//!   beside a part that is very costly to search, as a parallel checker would, but
//!   deterministically.
//! - **search order**: in each configuration, a read-only operation that can take effect
//!   is placed first and alone (placing it later gains nothing, see
//!   [`Model::is_read_only`]); then the operations of known outcome are tried in
//!   invocation order, and those of unknown outcome last, as they need never take effect.
//!
//! Without memoisation and P-compositionality, a history that is *not* linearizable costs
//! far more than one that is: the search must refute every interleaving before it can say
//! no. With them, a bad history is decided about as fast as a good one (the test
//! `bad_history_costs_about_as_much_as_a_good_one` measures it in search steps).
//!
//! On failure the checker explains itself ([`Explanation`]): the longest prefix of the
//! history it could linearize, the model state after it, and the operation whose completion
//! it could not reach, with the operations pending beside it.
//!
//! This module runs no simulation: it checks a finished history, from a scenario's run (see
//! [`HistoryRecorder`]) or from a file ([`parse_jepsen_cas`], [`parse_kv`]).
//!
//! ```
//! use sim::linearizability::{check, CasInput, CasOutput, CasRegister, Clock, HistoryRecorder};
//!
//! let mut h = HistoryRecorder::new(Clock::SimNanos);
//! let w = h.invoke(1, 1_000, CasInput::Write(7));
//! let r = h.invoke(2, 1_500, CasInput::Read);
//! h.complete(w, 2_000, CasOutput::Ok);
//! h.complete(r, 2_500, CasOutput::Read(Some(7)));
//! // A timed-out write: it may have taken effect after its invocation, or never.
//! h.invoke(3, 3_000, CasInput::Write(9));
//! let r = h.invoke(2, 4_000, CasInput::Read);
//! h.complete(r, 5_000, CasOutput::Read(None)); // nil: the register was never written
//! let err = h.check(&CasRegister).unwrap_err();
//! assert!(err.contains("read() -> nil"), "{err}");
//! ```

mod formats;
mod models;
mod recorder;

pub use formats::{parse_jepsen_cas, parse_kv, ParseError};
pub use models::{CasInput, CasOutput, CasRegister, KvInput, KvOutput, KvStore};
pub use recorder::{HistoryRecorder, OpId};

use fnv::{FnvHashMap, FnvHashSet};
use serde::Serialize;
use std::fmt;
use std::hash::Hash;

/// What a history's instants count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Simulated nanoseconds since the run started, printed as seconds with six decimals
    /// (`12.345678s`), as traces print them.
    SimNanos,
    /// Line numbers in a history file (Jepsen's logs carry no times: the order of the lines
    /// is the order in which the operations were seen), printed as `line 12`.
    LogLine,
}

impl Clock {
    /// `instant` as this clock prints it.
    pub fn format(self, instant: u64) -> String {
        match self {
            Clock::SimNanos => format!(
                "{}.{:06}s",
                instant / 1_000_000_000,
                instant % 1_000_000_000 / 1_000
            ),
            Clock::LogLine => format!("line {instant}"),
        }
    }
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client (Jepsen's process) that invoked it.
    pub client: u64,
    /// When it was invoked.
    pub invoked: u64,
    pub input: I,
    /// How it completed; `None` when the outcome is unknown (timed out, or never answered):
    /// then it may have taken effect at any instant after `invoked`, or never.
    pub completed: Option<Completion<O>>,
}

/// The completion of an operation whose outcome is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion<O> {
    /// When the client saw it complete; not before the invocation.
    pub at: u64,
    pub output: O,
}

/// A client history: operations in any order, their instants on one clock.
///
/// Two instants that are equal count as concurrent: an operation invoked at the very
/// instant another completes may be ordered before it. That can only hide a violation,
/// never invent one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    pub clock: Clock,
    pub ops: Vec<Operation<I, O>>,
}

/// A sequential specification: the object the clients should see, as a deterministic state
/// machine. (A nondeterministic specification becomes one by taking as its state the set of
/// states it may be in.)
pub trait Model {
    type Input;
    type Output;
    /// States are compared and hashed to memoise the search: two equal states must behave
    /// the same from then on.
    type State: Clone + Eq + Hash;

    /// The state every part of the history starts from.
    fn init(&self) -> Self::State;

    /// Applies one operation: the state after it, or `None` if the specification cannot
    /// produce `output` for `input` in `state`. `output` is `None` when the outcome is
    /// unknown: then any output is allowed, and the result is the state the operation leads
    /// to if it takes effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Splits a history into parts that do not interact (P-compositionality): each part is
    /// checked alone from [`init`](Model::init), and the history is linearizable exactly
    /// when every part is. Each operation must be in exactly one part. By default the
    /// history is one part.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Part> {
        vec![Part {
            label: String::new(),
            ops: (0..ops.len()).collect(),
        }]
    }

    /// Whether `input`, completed with `output`, leaves unchanged every state in which it
    /// can take effect (a read; a failed compare-and-set). The search places such an
    /// operation as soon as it can and never tries it later, which prunes the orders of
    /// concurrent reads; saying `false` is always correct, only slower.
    fn is_read_only(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// One operation as an explanation prints it, e.g. `cas(1, 2) -> fail`.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// One state as an explanation prints it.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// One independent part of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// What the part is, as an explanation names it (e.g. `key "3"`); empty for a history
    /// that is not split.
    pub label: String,
    /// Indices into the history's operations.
    pub ops: Vec<usize>,
}

/// What the search did: a measure of its work that does not depend on the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Operations in the history.
    pub operations: usize,
    /// Parts the model split the history into.
    pub parts: usize,
    /// Parts searched to their verdict: all of them for a linearizable history; for one
    /// that is not, those decided by the time one fails.
    pub parts_decided: usize,
    /// Model steps tried.
    pub steps: u64,
    /// Distinct configurations (set of placed operations, state) reached.
    pub configurations: u64,
    /// Placements undone.
    pub backtracks: u64,
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Explanation>),
}

/// A verdict with the work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub verdict: Verdict,
    pub stats: SearchStats,
}

impl CheckReport {
    pub fn is_linearizable(&self) -> bool {
        matches!(self.verdict, Verdict::Linearizable)
    }

    /// The explanation, if the history is not linearizable.
    pub fn explanation(&self) -> Option<&Explanation> {
        match &self.verdict {
            Verdict::Linearizable => None,
            Verdict::NotLinearizable(e) => Some(e),
        }
    }
}

/// One operation as an explanation shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpSummary {
    /// Its index in the history's operations.
    pub index: usize,
    pub client: u64,
    pub invoked: u64,
    /// `None` when its outcome is unknown.
    pub completed: Option<u64>,
    /// The operation and its output, as the model describes them.
    pub text: String,
}

/// Why a history is not linearizable, as briefly as the search can say it.
///
/// The search got furthest in the history along [`prefix`](Explanation::prefix): every
/// operation that completed before [`blocked`](Explanation::blocked) completed is placed in
/// it, and no order of the operations then [pending](Explanation::pending) lets `blocked`
/// take effect before it completes. Of the prefixes that got that far, this is the
/// shortest the search met: the fewest operations placed by choice rather than by
/// necessity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub clock: Clock,
    /// The part that failed (its [label](Part::label); empty when the history is one part).
    pub part: String,
    /// Operations in that part.
    pub part_operations: usize,
    /// The longest linearizable prefix found, in linearization order.
    pub prefix: Vec<OpSummary>,
    /// The model state after the prefix.
    pub state: String,
    /// The operation that could not be placed before it completed.
    pub blocked: OpSummary,
    /// The other operations invoked before `blocked` completed that are not in the prefix:
    /// the candidates the search tried to place before it, in invocation order.
    pub pending: Vec<OpSummary>,
}

/// How many operations of the prefix the multi-line form shows (the last ones).
const PREFIX_SHOWN: usize = 10;
/// How many pending operations the one-line form names.
const PENDING_NAMED: usize = 3;

impl Explanation {
    fn op_line(&self, op: &OpSummary) -> String {
        let done = match op.completed {
            Some(t) => self.clock.format(t),
            None => "never (outcome unknown)".to_string(),
        };
        format!(
            "client {} {} [{} to {}]",
            op.client,
            op.text,
            self.clock.format(op.invoked),
            done
        )
    }

    fn part_prefix(&self) -> String {
        if self.part.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.part)
        }
    }

    /// The explanation on one line, for a checker's violation.
    pub fn one_line(&self) -> String {
        let upto = self
            .blocked
            .completed
            .map(|t| self.clock.format(t))
            .unwrap_or_default();
        let mut s = format!(
            "{}not linearizable: {} of {} operations linearize up to {}, leaving the state {}; \
             {} cannot take effect before it completes",
            self.part_prefix(),
            self.prefix.len(),
            self.part_operations,
            upto,
            self.state,
            self.op_line(&self.blocked),
        );
        if !self.pending.is_empty() {
            let named: Vec<String> = self
                .pending
                .iter()
                .take(PENDING_NAMED)
                .map(|o| self.op_line(o))
                .collect();
            s.push_str(&format!(
                ", whichever of the {} operations pending with it go first: {}",
                self.pending.len(),
                named.join("; ")
            ));
            if self.pending.len() > PENDING_NAMED {
                s.push_str(&format!(
                    "; and {} more",
                    self.pending.len() - PENDING_NAMED
                ));
            }
        }
        s
    }
}

/// The multi-line form: the last operations of the prefix, the state, the operation that
/// could not be placed and those pending with it.
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.part.is_empty() {
            writeln!(
                f,
                "part: {} ({} operations)",
                self.part, self.part_operations
            )?;
        }
        let upto = self
            .blocked
            .completed
            .map(|t| self.clock.format(t))
            .unwrap_or_default();
        writeln!(
            f,
            "longest linearizable prefix: {} operations, every one that completed before {upto}",
            self.prefix.len()
        )?;
        let hidden = self.prefix.len().saturating_sub(PREFIX_SHOWN);
        if hidden > 0 {
            writeln!(f, "  ... {hidden} earlier operations")?;
        }
        for op in &self.prefix[hidden..] {
            writeln!(f, "  {}", self.op_line(op))?;
        }
        writeln!(f, "state after the prefix: {}", self.state)?;
        writeln!(
            f,
            "cannot be placed before it completes: {}",
            self.op_line(&self.blocked)
        )?;
        if !self.pending.is_empty() {
            writeln!(
                f,
                "pending with it (tried before it, in every order): {}",
                self.pending.len()
            )?;
            for op in &self.pending {
                writeln!(f, "  {}", self.op_line(op))?;
            }
        }
        Ok(())
    }
}

/// The step budget each unfinished part gets in the first round of [`check`]; it doubles
/// each round.
const FIRST_ROUND_STEPS: u64 = 1 << 12;

/// Checks `history` against `model`.
///
/// The parts are searched side by side, as if in parallel: in rounds, each part not yet
/// decided gets a step budget that doubles from round to round, and the first part found
/// not linearizable (the first in the model's order within that round) decides the
/// history. A history with one part that is very costly to search and another that fails
/// fast is then decided fast; and the verdict and explanation depend on step counts only,
/// never on the machine.
///
/// Panics if an operation completes before it is invoked, or if the model's partition does
/// not put each operation in exactly one part: both are bugs of the caller.
pub fn check<M: Model>(model: &M, history: &History<M::Input, M::Output>) -> CheckReport {
    for op in &history.ops {
        if let Some(c) = &op.completed {
            assert!(
                c.at >= op.invoked,
                "an operation of client {} completes at {} before its invocation at {}",
                op.client,
                c.at,
                op.invoked
            );
        }
    }
    let parts = model.partition(&history.ops);
    let mut seen = vec![false; history.ops.len()];
    for &i in parts.iter().flat_map(|p| &p.ops) {
        assert!(
            !std::mem::replace(&mut seen[i], true),
            "the model puts operation {i} in two parts"
        );
    }
    assert!(
        seen.iter().all(|&s| s),
        "the model's partition leaves operations out"
    );
    let mut stats = SearchStats {
        operations: history.ops.len(),
        parts: parts.len(),
        ..SearchStats::default()
    };
    let mut open: Vec<(usize, Search<M>)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i, Search::new(model, history, &p.ops)))
        .collect();
    let mut limit = FIRST_ROUND_STEPS;
    while !open.is_empty() {
        let mut still_open = Vec::with_capacity(open.len());
        for (i, mut search) in open {
            let before = (search.steps, search.configurations, search.backtracks);
            let progress = search.advance(limit);
            stats.steps += search.steps - before.0;
            stats.configurations += search.configurations - before.1;
            stats.backtracks += search.backtracks - before.2;
            match progress {
                Progress::Paused => still_open.push((i, search)),
                Progress::Linearizable => stats.parts_decided += 1,
                Progress::NotLinearizable(failure) => {
                    stats.parts_decided += 1;
                    let explanation = explain(model, history, &parts[i], failure);
                    return CheckReport {
                        verdict: Verdict::NotLinearizable(Box::new(explanation)),
                        stats,
                    };
                }
            }
        }
        open = still_open;
        limit = limit.saturating_mul(2);
    }
    CheckReport {
        verdict: Verdict::Linearizable,
        stats,
    }
}

/// Turns a part's failure into an explanation in terms of the whole history.
fn explain<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    part: &Part,
    failure: Failure<M::State>,
) -> Explanation {
    let summary = |local: usize| {
        let index = part.ops[local];
        let op = &history.ops[index];
        OpSummary {
            index,
            client: op.client,
            invoked: op.invoked,
            completed: op.completed.as_ref().map(|c| c.at),
            text: model.describe_operation(&op.input, op.completed.as_ref().map(|c| &c.output)),
        }
    };
    Explanation {
        clock: history.clock,
        part: part.label.clone(),
        part_operations: part.ops.len(),
        prefix: failure.prefix.iter().map(|&l| summary(l)).collect(),
        state: model.describe_state(&failure.state),
        blocked: summary(failure.blocked),
        pending: failure.pending.iter().map(|&l| summary(l)).collect(),
    }
}

/// The end of the entry list.
const NIL: u32 = u32::MAX;
/// The list's head: a sentinel before the first entry.
const HEAD: u32 = 0;

/// An invocation or a completion, in the time-ordered list the search walks.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The operation, as an index into the part.
    op: u32,
    /// For an invocation, the entry of its completion (`NIL` if its outcome is unknown);
    /// for a completion, `NIL`.
    completion: u32,
    is_call: bool,
}

/// How the search failed: what [`Explanation`] is built from, in part-local indices.
struct Failure<S> {
    prefix: Vec<usize>,
    state: S,
    blocked: usize,
    pending: Vec<usize>,
}

/// Where a search stands after a slice of work.
enum Progress<S> {
    Linearizable,
    NotLinearizable(Failure<S>),
    /// The step budget ran out first.
    Paused,
}

/// One placed operation, on the search's stack.
struct Placement<S> {
    /// Its invocation entry.
    call: u32,
    /// The state before it.
    before: S,
    /// What is left to try in the configuration before it, once it is undone.
    resume: Resume,
}

/// What is left to try in a configuration once a placement made there is undone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Nothing: the placement was a read-only operation that could take effect there, the
    /// only move worth making (see [`Model::is_read_only`]).
    Nothing,
    /// The candidates after the placed one, in the same pass.
    After(Pass),
}

/// The candidates of a configuration are tried in two passes, each in invocation order:
/// those of known outcome first, since one of them must take effect before the first
/// completion, then those of unknown outcome, which need never take effect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Known,
    Unknown,
}

/// What the walk does next.
#[derive(Clone, Copy)]
enum Cursor {
    /// At a new configuration: first look for a read-only operation to place.
    Fresh,
    /// Try the candidates of this pass from this entry on.
    At(u32, Pass),
}

/// The configurations reached. A configuration is the operations of known and of unknown
/// outcome placed, and the state; each reached is searched to the end, and none is
/// searched twice.
enum Memo<S> {
    /// For a part whose outcomes are all known: the configurations reached.
    Exact(FnvHashSet<(Bits, S)>),
    /// For a part with unknown outcomes: per (known operations placed, state), the sets of
    /// unknown ones placed, each with whether its search has ended. A configuration is
    /// *covered* by one searched to the end, and so failed, with the same known operations
    /// and state and a subset of its unknown ones: an operation of unknown outcome may take
    /// effect later or never, so whatever the larger configuration could still do, the
    /// smaller one could, and the larger needs no search of its own. (The configurations
    /// whose search has not ended are those on the search's path, which are not refuted.)
    Covering(FnvHashMap<(Bits, S), Vec<(Bits, bool)>>),
}

/// A set of operations, one bit each.
type Bits = Box<[u64]>;

impl<S: Clone + Eq + Hash> Memo<S> {
    /// Records a configuration; false if it was reached, or is covered.
    fn insert(&mut self, known: &[u64], unknown: &[u64], state: &S) -> bool {
        match self {
            Memo::Exact(set) => set.insert((known.into(), state.clone())),
            Memo::Covering(map) => {
                let sets = map.entry((known.into(), state.clone())).or_default();
                let covered = sets
                    .iter()
                    .any(|(u, ended)| **u == *unknown || (*ended && is_subset(u, unknown)));
                if !covered {
                    sets.push((unknown.into(), false));
                }
                !covered
            }
        }
    }

    /// Records that the search of a configuration has ended (without success).
    fn ended(&mut self, known: &[u64], unknown: &[u64], state: &S) {
        if let Memo::Covering(map) = self {
            let sets = map
                .get_mut(&(known.into(), state.clone()))
                .expect("a configuration reached");
            // Those it covers now need no record of their own.
            sets.retain(|(u, ended)| !*ended || !is_subset(unknown, u));
            let me = sets
                .iter_mut()
                .find(|(u, _)| **u == *unknown)
                .expect("a configuration reached");
            me.1 = true;
        }
    }
}

/// Whether the set of bits `a` is a subset of `b` (of the same length).
fn is_subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// The search over one part, resumable so that parts can be searched side by side.
struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a History<M::Input, M::Output>,
    part: &'a [usize],
    /// Entry 0 is the head sentinel; entries 1.. are in time order.
    entries: Vec<Entry>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per operation: its outcome is known and it changes no state.
    read_only: Vec<bool>,
    /// Per operation: its bit in `known` or in `unknown`, as its outcome is.
    rank: Vec<u32>,
    /// The operations of known outcome placed so far, one bit each.
    known: Vec<u64>,
    /// The operations of unknown outcome placed so far.
    unknown: Vec<u64>,
    memo: Memo<M::State>,
    stack: Vec<Placement<M::State>>,
    state: M::State,
    /// Operations with a known outcome not placed yet: the search succeeds at zero.
    unplaced_known: usize,
    cursor: Cursor,
    /// The furthest completion the search could not reach, with the shortest prefix and
    /// its state seen there.
    furthest: Option<(u32, Vec<usize>, M::State)>,
    steps: u64,
    configurations: u64,
    backtracks: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, history: &'a History<M::Input, M::Output>, part: &'a [usize]) -> Self {
        assert!(
            part.len() < (u32::MAX / 2) as usize,
            "a part of more than 2^31 operations"
        );
        // (instant, completion after invocation at the same instant, op): equal instants
        // count as concurrent, and the order is total, so the search is deterministic.
        let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * part.len());
        for (local, &i) in part.iter().enumerate() {
            let op = &history.ops[i];
            events.push((op.invoked, false, local as u32));
            if let Some(c) = &op.completed {
                events.push((c.at, true, local as u32));
            }
        }
        events.sort_unstable();
        let mut entries = Vec::with_capacity(events.len() + 1);
        entries.push(Entry {
            op: u32::MAX,
            completion: NIL,
            is_call: false,
        });
        let mut call_entry = vec![NIL; part.len()];
        for &(_, is_completion, op) in &events {
            let e = entries.len() as u32;
            if is_completion {
                entries[call_entry[op as usize] as usize].completion = e;
            } else {
                call_entry[op as usize] = e;
            }
            entries.push(Entry {
                op,
                completion: NIL,
                is_call: !is_completion,
            });
        }
        let n = entries.len() as u32;
        let ops = || part.iter().map(|&i| &history.ops[i]);
        let mut counts = [0u32; 2];
        let rank = ops()
            .map(|op| {
                let class = &mut counts[usize::from(op.completed.is_none())];
                *class += 1;
                *class - 1
            })
            .collect();
        let n_known = counts[0] as usize;
        Search {
            model,
            history,
            part,
            entries,
            next: (0..n)
                .map(|e| if e + 1 < n { e + 1 } else { NIL })
                .collect(),
            prev: (0..n).map(|e| e.wrapping_sub(1)).collect(),
            read_only: ops()
                .map(|op| {
                    op.completed
                        .as_ref()
                        .is_some_and(|c| model.is_read_only(&op.input, &c.output))
                })
                .collect(),
            rank,
            known: vec![0; n_known.div_ceil(64)],
            unknown: vec![0; (part.len() - n_known).div_ceil(64)],
            memo: if n_known == part.len() {
                Memo::Exact(FnvHashSet::default())
            } else {
                Memo::Covering(FnvHashMap::default())
            },
            stack: Vec::new(),
            state: model.init(),
            unplaced_known: n_known,
            cursor: Cursor::Fresh,
            furthest: None,
            steps: 0,
            configurations: 0,
            backtracks: 0,
        }
    }

    fn op(&self, local: u32) -> &'a Operation<M::Input, M::Output> {
        &self.history.ops[self.part[local as usize]]
    }

    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    /// Undoes [`unlink`](Self::unlink); entries must be relinked in the reverse order of
    /// their unlinking, which the search's stack guarantees.
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }

    fn flip(&mut self, op: u32) {
        let r = self.rank[op as usize];
        let bits = if self.op(op).completed.is_some() {
            &mut self.known
        } else {
            &mut self.unknown
        };
        bits[r as usize / 64] ^= 1u64 << (r % 64);
    }

    /// Tries the operation of invocation entry `call` in the current configuration: the
    /// state after it, if the model accepts it and the configuration it leads to is new
    /// (then it is recorded as seen). `Err(())` if the model accepts it but the
    /// configuration was seen before.
    fn try_step(&mut self, call: u32) -> Result<Option<M::State>, ()> {
        let local = self.entries[call as usize].op;
        let op = self.op(local);
        let output = op.completed.as_ref().map(|c| &c.output);
        self.steps += 1;
        let Some(after) = self.model.step(&self.state, &op.input, output) else {
            return Ok(None);
        };
        // Placing an operation of unknown outcome that leaves the state as it was leads
        // nowhere that leaving it out does not.
        if output.is_none() && after == self.state {
            return Ok(None);
        }
        self.flip(local);
        if self.memo.insert(&self.known, &self.unknown, &after) {
            self.flip(local);
            self.configurations += 1;
            Ok(Some(after))
        } else {
            self.flip(local);
            Err(())
        }
    }

    /// Places the operation of invocation entry `call`, whose state after is `after`;
    /// true when every operation of known outcome is placed.
    fn place(&mut self, call: u32, after: M::State, resume: Resume) -> bool {
        let local = self.entries[call as usize].op;
        self.flip(local);
        let before = std::mem::replace(&mut self.state, after);
        self.stack.push(Placement {
            call,
            before,
            resume,
        });
        self.unlink(call);
        let c = self.entries[call as usize].completion;
        if c != NIL {
            self.unlink(c);
            self.unplaced_known -= 1;
        }
        self.cursor = Cursor::Fresh;
        self.unplaced_known == 0
    }

    /// Undoes placements until one leaves an alternative to try; `false` when none does.
    fn backtrack(&mut self) -> bool {
        while let Some(p) = self.stack.pop() {
            self.backtracks += 1;
            self.memo.ended(&self.known, &self.unknown, &self.state);
            self.state = p.before;
            self.flip(self.entries[p.call as usize].op);
            let c = self.entries[p.call as usize].completion;
            if c != NIL {
                self.relink(c);
                self.unplaced_known += 1;
            }
            self.relink(p.call);
            // A forced placement was the only move worth making where it was made: that
            // configuration is refuted too.
            if let Resume::After(pass) = p.resume {
                self.cursor = Cursor::At(self.next[p.call as usize], pass);
                return true;
            }
        }
        false
    }

    /// Searches until the verdict, or until `limit` steps in all.
    fn advance(&mut self, limit: u64) -> Progress<M::State> {
        if self.unplaced_known == 0 {
            return Progress::Linearizable;
        }
        while self.steps < limit {
            match self.cursor {
                Cursor::Fresh => {
                    // A read-only operation that can take effect now is placed now: any
                    // order placing it later can place it here instead, changing nothing
                    // for the others. If that configuration was seen, this one is refuted.
                    let mut e = self.next[HEAD as usize];
                    let mut found = None;
                    while e != NIL && self.entries[e as usize].is_call {
                        if self.read_only[self.entries[e as usize].op as usize] {
                            match self.try_step(e) {
                                Ok(None) => {}
                                Ok(Some(after)) => {
                                    found = Some(Some((e, after)));
                                    break;
                                }
                                Err(()) => {
                                    found = Some(None);
                                    break;
                                }
                            }
                        }
                        e = self.next[e as usize];
                    }
                    match found {
                        Some(Some((e, after))) => {
                            if self.place(e, after, Resume::Nothing) {
                                return Progress::Linearizable;
                            }
                        }
                        Some(None) => {
                            if !self.backtrack() {
                                return Progress::NotLinearizable(self.failure());
                            }
                        }
                        None => self.cursor = Cursor::At(self.next[HEAD as usize], Pass::Known),
                    }
                }
                Cursor::At(e, pass) => {
                    // A known operation's completion follows its invocation in the list,
                    // so while one is unplaced the walk meets a completion before the end.
                    debug_assert_ne!(e, NIL);
                    let entry = self.entries[e as usize];
                    let known = entry.completion != NIL;
                    if !entry.is_call {
                        if pass == Pass::Known {
                            self.cursor = Cursor::At(self.next[HEAD as usize], Pass::Unknown);
                            continue;
                        }
                        // This operation completed before the search could place it.
                        self.note_blocked(e);
                        if !self.backtrack() {
                            return Progress::NotLinearizable(self.failure());
                        }
                    } else if self.read_only[entry.op as usize] || known != (pass == Pass::Known) {
                        // Read-only operations were tried when this configuration was fresh;
                        // the others belong to the other pass.
                        self.cursor = Cursor::At(self.next[e as usize], pass);
                    } else if let Ok(Some(after)) = self.try_step(e) {
                        if self.place(e, after, Resume::After(pass)) {
                            return Progress::Linearizable;
                        }
                    } else {
                        self.cursor = Cursor::At(self.next[e as usize], pass);
                    }
                }
            }
        }
        Progress::Paused
    }

    /// Keeps the furthest completion the search could not reach, and the shortest prefix
    /// seen there: the fewest operations placed by choice rather than by necessity.
    fn note_blocked(&mut self, e: u32) {
        let better = self
            .furthest
            .as_ref()
            .is_none_or(|(f, p, _)| e > *f || (e == *f && self.stack.len() < p.len()));
        if better {
            let prefix = self
                .stack
                .iter()
                .map(|p| self.entries[p.call as usize].op as usize)
                .collect();
            self.furthest = Some((e, prefix, self.state.clone()));
        }
    }

    /// The failure, seen from the furthest completion the search could not reach.
    fn failure(&mut self) -> Failure<M::State> {
        let (at, prefix, state) = self
            .furthest
            .take()
            .expect("a search fails only at a completion");
        let blocked = self.entries[at as usize].op as usize;
        let mut in_prefix = vec![false; self.part.len()];
        for &p in &prefix {
            in_prefix[p] = true;
        }
        in_prefix[blocked] = true;
        let pending = (1..at)
            .map(|e| self.entries[e as usize])
            .filter(|en| en.is_call && !in_prefix[en.op as usize])
            .map(|en| en.op as usize)
            .collect();
        Failure {
            prefix,
            state,
            blocked,
            pending,
        }
    }
}

#[cfg(test)]
mod tests;
