//! The process table the primary keeps: for each process, the public status structure,
//! the private structure and the status-value structure, and the placement of its
//! threads on nodes.
//!
//! Like the client manager it is a deterministic state machine driven by [`Command`]s, so
//! it can be replicated through the engine's agreed-order multicast and a new primary
//! resumes from the same state. Status only moves forward: a thread goes
//! `Pending -> Running <-> Paused -> (Done | Failed | Lost | Cancelled)`, reports from an
//! older dispatch attempt are ignored, and a final state is never left.

use super::script::{ThreadOutput, Val};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thread's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum ThreadState {
    Pending,
    Running,
    Paused,
    Done,
    /// The script's error text.
    Failed(String),
    /// Its node crashed and the process does not retry.
    Lost,
    Cancelled,
}

impl ThreadState {
    /// Pending 0, Running/Paused 1, final 2: a thread's rank never decreases.
    pub fn rank(&self) -> u8 {
        match self {
            ThreadState::Pending => 0,
            ThreadState::Running | ThreadState::Paused => 1,
            _ => 2,
        }
    }

    pub fn is_final(&self) -> bool {
        self.rank() == 2
    }

    pub fn name(&self) -> &'static str {
        match self {
            ThreadState::Pending => "pending",
            ThreadState::Running => "running",
            ThreadState::Paused => "paused",
            ThreadState::Done => "done",
            ThreadState::Failed(_) => "failed",
            ThreadState::Lost => "lost",
            ThreadState::Cancelled => "cancelled",
        }
    }
}

/// A thread as the public status shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadStatus {
    pub state: ThreadState,
    pub node: usize,
    /// Which dispatch this is (a retry after a crash is the next attempt).
    pub attempt: u32,
    pub progress: u8,
    /// Simulated ns of the poll that last changed or confirmed this status.
    pub as_of_ns: u64,
}

/// The public status structure: readable by any authorized client. It holds no private
/// data by construction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicStatus {
    pub process: u64,
    pub name: String,
    pub owner: String,
    pub threads: Vec<ThreadStatus>,
    pub public: BTreeMap<String, Val>,
}

/// One event indication in the status-value structure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indication {
    pub thread: u32,
    pub code: String,
    pub text: String,
    pub at_ns: u64,
}

/// The status-value structure: the latest value per (thread, key) and the event log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusValues {
    pub values: BTreeMap<(u32, String), Val>,
    pub events: Vec<Indication>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Process {
    public: PublicStatus,
    /// Readable only by the process's own script threads.
    private: BTreeMap<String, Val>,
    values: StatusValues,
    script: String,
    retry: bool,
    /// Threads the PMS has paused (a poll report must not flip them back to running).
    paused: bool,
}

/// An action a client invokes on a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Cancel,
    Pause,
    Resume,
}

/// What a node reports for one thread when polled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reported {
    Running,
    Done,
    Failed(String),
}

/// Everything that changes the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Start {
        process: u64,
        name: String,
        owner: String,
        script: String,
        /// One node per thread.
        placement: Vec<usize>,
        retry: bool,
    },
    Act {
        process: u64,
        action: Action,
    },
    Report {
        process: u64,
        thread: u32,
        attempt: u32,
        node: usize,
        reported: Reported,
        output: ThreadOutput,
        at_ns: u64,
    },
    /// The engine reported the node gone; `spare` is where retried threads go.
    NodeDown {
        node: usize,
        spare: Option<usize>,
    },
}

/// What the primary must do after applying a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Dispatch {
        node: usize,
        process: u64,
        thread: u32,
        threads: u32,
        attempt: u32,
        script: String,
        private: BTreeMap<String, Val>,
    },
    /// Tell a node to stop, pause or resume a thread.
    Control {
        node: usize,
        process: u64,
        thread: u32,
        attempt: u32,
        action: Action,
    },
    /// A thread changed state (for the trace).
    Changed {
        process: u64,
        thread: u32,
        state: ThreadState,
    },
    Rejected {
        reason: String,
    },
}

/// The PMS's replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessTable {
    processes: BTreeMap<u64, Process>,
}

impl ProcessTable {
    pub fn new() -> Self {
        ProcessTable::default()
    }

    pub fn apply(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        match cmd {
            Command::Start {
                process,
                name,
                owner,
                script,
                placement,
                retry,
            } => {
                if self.processes.contains_key(process) || placement.is_empty() {
                    out.push(Effect::Rejected {
                        reason: format!("process {process} exists or has no threads"),
                    });
                    return;
                }
                let threads: Vec<ThreadStatus> = placement
                    .iter()
                    .map(|&node| ThreadStatus {
                        state: ThreadState::Pending,
                        node,
                        attempt: 0,
                        progress: 0,
                        as_of_ns: 0,
                    })
                    .collect();
                for (i, &node) in placement.iter().enumerate() {
                    out.push(Effect::Dispatch {
                        node,
                        process: *process,
                        thread: i as u32,
                        threads: placement.len() as u32,
                        attempt: 0,
                        script: script.clone(),
                        private: BTreeMap::new(),
                    });
                }
                self.processes.insert(
                    *process,
                    Process {
                        public: PublicStatus {
                            process: *process,
                            name: name.clone(),
                            owner: owner.clone(),
                            threads,
                            public: BTreeMap::new(),
                        },
                        private: BTreeMap::new(),
                        values: StatusValues::default(),
                        script: script.clone(),
                        retry: *retry,
                        paused: false,
                    },
                );
            }
            Command::Act { process, action } => {
                let Some(p) = self.processes.get_mut(process) else {
                    out.push(Effect::Rejected {
                        reason: format!("no process {process}"),
                    });
                    return;
                };
                match action {
                    Action::Pause => p.paused = true,
                    Action::Resume => p.paused = false,
                    Action::Cancel => {}
                }
                for (i, t) in p.public.threads.iter_mut().enumerate() {
                    if t.state.is_final() {
                        continue;
                    }
                    out.push(Effect::Control {
                        node: t.node,
                        process: *process,
                        thread: i as u32,
                        attempt: t.attempt,
                        action: *action,
                    });
                    let next = match (action, &t.state) {
                        (Action::Cancel, _) => ThreadState::Cancelled,
                        (Action::Pause, ThreadState::Running) => ThreadState::Paused,
                        (Action::Resume, ThreadState::Paused) => ThreadState::Running,
                        _ => continue,
                    };
                    t.state = next.clone();
                    out.push(Effect::Changed {
                        process: *process,
                        thread: i as u32,
                        state: next,
                    });
                }
            }
            Command::Report {
                process,
                thread,
                attempt,
                node,
                reported,
                output,
                at_ns,
            } => {
                let Some(p) = self.processes.get_mut(process) else {
                    return;
                };
                let Some(t) = p.public.threads.get_mut(*thread as usize) else {
                    return;
                };
                // A report from an earlier dispatch, or from another node, is stale.
                if *attempt != t.attempt || *node != t.node || t.state.is_final() {
                    return;
                }
                t.as_of_ns = t.as_of_ns.max(*at_ns);
                if let Some(pct) = output.progress {
                    t.progress = t.progress.max(pct);
                }
                p.public
                    .public
                    .extend(output.public.iter().map(|(k, v)| (k.clone(), v.clone())));
                p.private.extend(
                    output
                        .private_writes
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                for (k, v) in &output.values {
                    p.values.values.insert((*thread, k.clone()), v.clone());
                }
                for (code, text) in &output.events {
                    p.values.events.push(Indication {
                        thread: *thread,
                        code: code.clone(),
                        text: text.clone(),
                        at_ns: *at_ns,
                    });
                }
                let next = match reported {
                    Reported::Running if p.paused => ThreadState::Paused,
                    Reported::Running => ThreadState::Running,
                    Reported::Done => ThreadState::Done,
                    Reported::Failed(msg) => ThreadState::Failed(msg.clone()),
                };
                if next != t.state && next.rank() >= t.state.rank() {
                    t.state = next.clone();
                    out.push(Effect::Changed {
                        process: *process,
                        thread: *thread,
                        state: next,
                    });
                }
            }
            Command::NodeDown { node, spare } => {
                for (pid, p) in self.processes.iter_mut() {
                    let count = p.public.threads.len() as u32;
                    for (i, t) in p.public.threads.iter_mut().enumerate() {
                        if t.node != *node || t.state.is_final() {
                            continue;
                        }
                        match (p.retry, spare) {
                            (true, Some(spare)) => {
                                // Re-dispatch elsewhere as the next attempt; the status
                                // stays where it was until the new node reports.
                                t.node = *spare;
                                t.attempt += 1;
                                out.push(Effect::Dispatch {
                                    node: *spare,
                                    process: *pid,
                                    thread: i as u32,
                                    threads: count,
                                    attempt: t.attempt,
                                    script: p.script.clone(),
                                    private: p.private.clone(),
                                });
                            }
                            _ => {
                                t.state = ThreadState::Lost;
                                out.push(Effect::Changed {
                                    process: *pid,
                                    thread: i as u32,
                                    state: ThreadState::Lost,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// The public status of a process: what a client may read.
    pub fn public(&self, process: u64) -> Option<&PublicStatus> {
        self.processes.get(&process).map(|p| &p.public)
    }

    /// The status-value structure of a process.
    pub fn values(&self, process: u64) -> Option<&StatusValues> {
        self.processes.get(&process).map(|p| &p.values)
    }

    /// The private structure: for the process's own script threads only (the PMS sends
    /// it with dispatches and poll requests, never in a client response).
    pub fn private_for_threads(&self, process: u64) -> Option<&BTreeMap<String, Val>> {
        self.processes.get(&process).map(|p| &p.private)
    }

    pub fn processes(&self) -> impl Iterator<Item = u64> + '_ {
        self.processes.keys().copied()
    }

    /// Every live (non-final) thread placed on `node`: what a poll of that node asks about.
    pub fn threads_on(&self, node: usize) -> Vec<(u64, u32, u32)> {
        let mut v = vec![];
        for (pid, p) in &self.processes {
            for (i, t) in p.public.threads.iter().enumerate() {
                if t.node == node && !t.state.is_final() {
                    v.push((*pid, i as u32, t.attempt));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(retry: bool) -> (ProcessTable, Vec<Effect>) {
        let mut t = ProcessTable::new();
        let mut out = vec![];
        t.apply(
            &Command::Start {
                process: 1,
                name: "etl".into(),
                owner: "ann".into(),
                script: "fn step(n) { n < 3 }".into(),
                placement: vec![0, 1, 2],
                retry,
            },
            &mut out,
        );
        (t, out)
    }

    fn report(thread: u32, node: usize, attempt: u32, r: Reported, at: u64) -> Command {
        Command::Report {
            process: 1,
            thread,
            attempt,
            node,
            reported: r,
            output: ThreadOutput {
                progress: Some(50),
                public: [("rows".to_string(), Val::Int(7))].into(),
                private_writes: [("cursor".to_string(), Val::Int(3))].into(),
                ..Default::default()
            },
            at_ns: at,
        }
    }

    fn states(t: &ProcessTable) -> Vec<&'static str> {
        t.public(1)
            .unwrap()
            .threads
            .iter()
            .map(|t| t.state.name())
            .collect()
    }

    #[test]
    fn start_dispatches_one_thread_per_placement() {
        let (t, out) = start(false);
        let nodes: Vec<usize> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Dispatch { node, .. } => Some(*node),
                _ => None,
            })
            .collect();
        assert_eq!(nodes, vec![0, 1, 2]);
        assert_eq!(states(&t), vec!["pending"; 3]);
    }

    #[test]
    fn reports_fill_public_private_and_values_and_never_go_backward() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        t.apply(&report(0, 0, 0, Reported::Running, 10), &mut out);
        t.apply(&report(0, 0, 0, Reported::Done, 20), &mut out);
        // A late Running report must not undo Done.
        t.apply(&report(0, 0, 0, Reported::Running, 15), &mut out);
        assert_eq!(states(&t)[0], "done");
        assert_eq!(t.public(1).unwrap().public["rows"], Val::Int(7));
        assert_eq!(t.private_for_threads(1).unwrap()["cursor"], Val::Int(3));
        assert_eq!(t.public(1).unwrap().threads[0].as_of_ns, 20);
        let json = serde_json::to_string(t.public(1).unwrap()).unwrap();
        assert!(
            !json.contains("cursor"),
            "private data in the public status: {json}"
        );
    }

    #[test]
    fn a_script_error_fails_the_thread_with_its_text() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        t.apply(
            &report(1, 1, 0, Reported::Failed("disk full".into()), 5),
            &mut out,
        );
        assert_eq!(
            t.public(1).unwrap().threads[1].state,
            ThreadState::Failed("disk full".into())
        );
    }

    #[test]
    fn a_crashed_node_loses_its_threads_or_retries_them_elsewhere() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        t.apply(
            &Command::NodeDown {
                node: 1,
                spare: Some(0),
            },
            &mut out,
        );
        assert_eq!(states(&t), vec!["pending", "lost", "pending"]);

        let (mut t, _) = start(true);
        let mut out = vec![];
        t.apply(
            &Command::NodeDown {
                node: 1,
                spare: Some(2),
            },
            &mut out,
        );
        assert!(matches!(
            out[0],
            Effect::Dispatch {
                node: 2,
                thread: 1,
                attempt: 1,
                ..
            }
        ));
        // The old attempt's late report is ignored; the new one counts.
        t.apply(&report(1, 1, 0, Reported::Done, 9), &mut out);
        assert_eq!(states(&t)[1], "pending");
        t.apply(&report(1, 2, 1, Reported::Done, 9), &mut out);
        assert_eq!(states(&t)[1], "done");
    }

    #[test]
    fn cancel_pause_and_resume() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        for th in 0..3 {
            t.apply(&report(th, th as usize, 0, Reported::Running, 1), &mut out);
        }
        t.apply(
            &Command::Act {
                process: 1,
                action: Action::Pause,
            },
            &mut out,
        );
        assert_eq!(states(&t), vec!["paused"; 3]);
        // A poll while paused keeps it paused.
        t.apply(&report(0, 0, 0, Reported::Running, 2), &mut out);
        assert_eq!(states(&t)[0], "paused");
        t.apply(
            &Command::Act {
                process: 1,
                action: Action::Resume,
            },
            &mut out,
        );
        assert_eq!(states(&t), vec!["running"; 3]);
        t.apply(&report(2, 2, 0, Reported::Done, 3), &mut out);
        out.clear();
        t.apply(
            &Command::Act {
                process: 1,
                action: Action::Cancel,
            },
            &mut out,
        );
        assert_eq!(states(&t), vec!["cancelled", "cancelled", "done"]);
        let controls = out
            .iter()
            .filter(|e| matches!(e, Effect::Control { .. }))
            .count();
        assert_eq!(controls, 2, "a finished thread gets no cancel");
        assert!(t.threads_on(0).is_empty());
    }
}
