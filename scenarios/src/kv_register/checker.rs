//! The key-value register's checkers: the clients' history is linearizable, and once the
//! faults heal every client gets answers again.

use super::events::KvEvent;
use protocols::service::checkers::owed_before;
use sim::check::{Checker, RunEnd};
use sim::linearizability::{HistoryRecorder, KvInput, KvOutput, KvStore};
use sim::time::SimTime;
use sim::trace::EventRef;
use std::collections::BTreeMap;

/// Always: the clients' gets, puts and compare-and-sets, as they saw them, are
/// linearizable against a key-value store (an operation a client gave up on may have
/// taken effect at any point after its invocation, or never).
#[derive(Debug, Default)]
pub struct Linearizable {
    history: HistoryRecorder<KvInput, KvOutput>,
}

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        component == "kv" && matches!(event, "invoke" | "ok" | "failed" | "rejected")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let client = ev.node.0;
        let (req, output) = match ev.get::<KvEvent>() {
            Some(KvEvent::Invoke {
                req,
                op,
                key,
                value,
                from,
            }) => {
                let key = key.clone();
                let input = match (*op, value.clone(), from.clone()) {
                    ("get", _, _) => KvInput::Get { key },
                    ("put", Some(value), _) => KvInput::Put { key, value },
                    ("append", Some(value), _) => KvInput::Append { key, value },
                    ("cas", Some(to), Some(from)) => KvInput::Cas { key, from, to },
                    _ => return Err(format!("client n{client} invoked a malformed {op}")),
                };
                self.history.invoke_request(client, *req, ev.t_ns, input);
                return Ok(());
            }
            Some(KvEvent::Ok { req, value }) => (
                *req,
                Some(value.clone().map_or(KvOutput::Ok, KvOutput::Value)),
            ),
            Some(KvEvent::Failed { req }) => (*req, Some(KvOutput::Failed)),
            // Rejected before it reached the replicated state: it never took effect.
            Some(KvEvent::Rejected { req, .. }) => (*req, None),
            _ => return Ok(()),
        };
        self.history.complete_request(client, req, ev.t_ns, output)
    }

    fn on_end(&mut self, _end: &RunEnd) -> Result<(), String> {
        self.history.check(&KvStore)
    }
}

/// Eventually: once every fault has healed, while a majority of the engine is up, each
/// client completes an operation after the heal.
pub struct Progress {
    engine_nodes: usize,
    settle_ns: u64,
    /// Client node -> when it last invoked, and when it last completed, an operation.
    invoked: BTreeMap<u64, u64>,
    completed: BTreeMap<u64, u64>,
}

impl Progress {
    pub fn new(engine_nodes: usize, settle_ms: u64) -> Self {
        Progress {
            engine_nodes,
            settle_ns: settle_ms * 1_000_000,
            invoked: BTreeMap::new(),
            completed: BTreeMap::new(),
        }
    }
}

impl Checker for Progress {
    fn name(&self) -> &'static str {
        "kv_progress"
    }

    fn wants(&self, component: &str, event: &str) -> bool {
        component == "kv" && matches!(event, "invoke" | "ok" | "failed" | "rejected")
    }

    fn on_event(&mut self, ev: &EventRef<'_>) -> Result<(), String> {
        let at = match ev.get::<KvEvent>() {
            Some(KvEvent::Invoke { .. }) => &mut self.invoked,
            Some(_) => &mut self.completed,
            None => return Ok(()),
        };
        at.insert(ev.node.0, ev.t_ns);
        Ok(())
    }

    fn on_end(&mut self, end: &RunEnd) -> Result<(), String> {
        let Some(owed) = owed_before(self.engine_nodes, self.settle_ns, end) else {
            return Ok(());
        };
        let healed = end.liveness_start_ns;
        if owed <= healed {
            return Ok(());
        }
        for client in self.invoked.keys() {
            let last = self.completed.get(client).copied().unwrap_or(0);
            if last < healed {
                return Err(format!(
                    "client n{client} completed no operation after the faults healed at {} \
                     (its last completion: {}; the run ended at {})",
                    SimTime(healed),
                    SimTime(last),
                    SimTime(end.t_ns)
                ));
            }
        }
        Ok(())
    }
}
