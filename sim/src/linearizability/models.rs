//! Two sequential models: a compare-and-set register (Jepsen's etcd test) and a key-value
//! store checked one key at a time.

use super::{Model, Operation, Part};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An operation on a compare-and-set register.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CasInput {
    Read,
    Write(i64),
    /// Sets the register to `to` if it holds `from`.
    Cas {
        from: i64,
        to: i64,
    },
}

/// What a register operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CasOutput {
    /// A read's value; `None` is the initial value (Jepsen's `nil`).
    Read(Option<i64>),
    /// A write, or a compare-and-set that took effect.
    Ok,
    /// A compare-and-set that did not take effect: the register did not hold `from`.
    Failed,
}

/// A single register with read, write and compare-and-set, initially `nil`; what Jepsen's
/// etcd test drives. A failed compare-and-set is an observation (the register did not hold
/// `from`), not an operation that never happened.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

impl Model for CasRegister {
    type Input = CasInput;
    type Output = CasOutput;
    type State = Option<i64>;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &CasInput,
        output: Option<&CasOutput>,
    ) -> Option<Option<i64>> {
        match (input, output) {
            (CasInput::Read, None) => Some(*state),
            (CasInput::Read, Some(CasOutput::Read(v))) => (v == state).then_some(*state),
            (CasInput::Write(v), None | Some(CasOutput::Ok)) => Some(Some(*v)),
            (CasInput::Cas { from, to }, None) => Some(if *state == Some(*from) {
                Some(*to)
            } else {
                *state
            }),
            (CasInput::Cas { from, to }, Some(CasOutput::Ok)) => {
                (*state == Some(*from)).then_some(Some(*to))
            }
            (CasInput::Cas { from, .. }, Some(CasOutput::Failed)) => {
                (*state != Some(*from)).then_some(*state)
            }
            // An output of another operation's kind: no state of the register produces it.
            _ => None,
        }
    }

    fn is_read_only(&self, input: &CasInput, output: &CasOutput) -> bool {
        matches!(
            (input, output),
            (CasInput::Read, _) | (CasInput::Cas { .. }, CasOutput::Failed)
        )
    }

    fn describe_operation(&self, input: &CasInput, output: Option<&CasOutput>) -> String {
        let out = match output {
            None => "?".to_string(),
            Some(CasOutput::Read(v)) => show_register(v),
            Some(CasOutput::Ok) => "ok".to_string(),
            Some(CasOutput::Failed) => "fail".to_string(),
        };
        match input {
            CasInput::Read => format!("read() -> {out}"),
            CasInput::Write(v) => format!("write({v}) -> {out}"),
            CasInput::Cas { from, to } => format!("cas({from}, {to}) -> {out}"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        show_register(state)
    }
}

fn show_register(v: &Option<i64>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "nil".to_string(),
    }
}

/// An operation on a key-value store. Keys and values are shared strings: an operation is
/// cloned into every message and replica that carries it, and into the checker's
/// history, and a clone then copies no bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Get {
        key: Arc<str>,
    },
    Put {
        key: Arc<str>,
        value: Arc<str>,
    },
    /// Appends `value` to the key's value.
    Append {
        key: Arc<str>,
        value: Arc<str>,
    },
    /// Sets the key to `to` if it holds `from` (the empty string: a key never written).
    Cas {
        key: Arc<str>,
        from: Arc<str>,
        to: Arc<str>,
    },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Cas { key, .. } => key,
        }
    }
}

/// What a key-value operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A get's value.
    Value(Arc<str>),
    /// A put, an append or a compare-and-set took effect.
    Ok,
    /// A compare-and-set did not take effect: the key did not hold `from`.
    Failed,
}

/// A key-value store of strings with get, put, append and compare-and-set, where a key
/// never written reads as the empty string. A failed compare-and-set is an observation
/// (the key did not hold `from`), not an operation that never happened. Keys are independent, so the history is checked one key at a time,
/// and the state of a part is the value of its key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvStore;

impl Model for KvStore {
    type Input = KvInput;
    type Output = KvOutput;
    type State = Arc<str>;

    fn init(&self) -> Arc<str> {
        Arc::from("")
    }

    fn step(
        &self,
        state: &Arc<str>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Arc<str>> {
        match (input, output) {
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(KvOutput::Value(v))) => (v == state).then(|| v.clone()),
            (KvInput::Put { value, .. }, None | Some(KvOutput::Ok)) => Some(value.clone()),
            (KvInput::Append { value, .. }, None | Some(KvOutput::Ok)) => {
                let mut s = String::with_capacity(state.len() + value.len());
                s.push_str(state);
                s.push_str(value);
                Some(s.into())
            }
            (KvInput::Cas { from, to, .. }, None) => {
                Some(if state == from { to } else { state }.clone())
            }
            (KvInput::Cas { from, to, .. }, Some(KvOutput::Ok)) => {
                (state == from).then(|| to.clone())
            }
            (KvInput::Cas { from, .. }, Some(KvOutput::Failed)) => {
                (state != from).then(|| state.clone())
            }
            _ => None,
        }
    }

    /// One part per key, in key order.
    fn partition(&self, ops: &[Operation<KvInput, KvOutput>]) -> Vec<Part> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key
            .into_iter()
            .map(|(key, ops)| Part {
                label: format!("key {key:?}"),
                ops,
            })
            .collect()
    }

    fn is_read_only(&self, input: &KvInput, output: &KvOutput) -> bool {
        matches!(
            (input, output),
            (KvInput::Get { .. }, _) | (KvInput::Cas { .. }, KvOutput::Failed)
        )
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let out = match output {
            None => "?".to_string(),
            Some(KvOutput::Value(v)) => format!("{v:?}"),
            Some(KvOutput::Ok) => "ok".to_string(),
            Some(KvOutput::Failed) => "fail".to_string(),
        };
        match input {
            KvInput::Get { key } => format!("get({key:?}) -> {out}"),
            KvInput::Put { key, value } => format!("put({key:?}, {value:?}) -> {out}"),
            KvInput::Append { key, value } => format!("append({key:?}, {value:?}) -> {out}"),
            KvInput::Cas { key, from, to } => format!("cas({key:?}, {from:?}, {to:?}) -> {out}"),
        }
    }

    fn describe_state(&self, state: &Arc<str>) -> String {
        format!("{state:?}")
    }
}
