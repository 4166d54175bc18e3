//! The process table the primary keeps: for each process, the public status structure,
//! the private structure and the status-value structure, and the placement of its
//! threads on nodes.
//!
//! It is a deterministic [`StateMachine`] driven by [`Command`]s, replicated through the
//! engine's agreed-order multicast (see [`crate::service`]), so a new primary resumes from
//! the same state. Status only moves forward: a thread goes
//! `Pending -> Running <-> Paused -> (Done | Failed | Lost | Cancelled)`, reports from an
//! older dispatch attempt or another host are ignored, and a final state is never left.
//!
//! Every command is idempotent, because the primary submits reports again after a lost
//! poll and clients retry their requests: a start names its process (a retry finds it
//! there), an action carries its client's request number (a replayed one is ignored), and
//! a thread's script output travels as numbered pieces (a piece applies once, in order).

use super::events::StateName;
use super::script::{ThreadOutput, Val};
use crate::service::replica::StateMachine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a thread runs: one job incarnation on one node incarnation. A thread dies with
/// its job, so a node that restarts (or a job that registers again) does not inherit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Host {
    pub node: usize,
    pub inc: u64,
    pub job: u64,
}

/// The same `node.inc.job` form as the engine's members, so trace readers can match them.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.node, self.inc, self.job)
    }
}

impl From<crate::engine::Member> for Host {
    fn from(m: crate::engine::Member) -> Host {
        Host {
            node: m.node,
            inc: m.inc,
            job: m.job,
        }
    }
}

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
    /// Its host died and the process does not retry.
    Lost,
    Cancelled,
}

impl ThreadState {
    /// Pending 0, Running/Paused 1, final 2: a thread's rank never decreases.
    pub fn rank(&self) -> u8 {
        StateName::from(self).rank()
    }

    pub fn is_final(&self) -> bool {
        self.rank() == 2
    }

    pub fn name(&self) -> &'static str {
        StateName::from(self).name()
    }

    /// The error text of a failed thread, empty otherwise.
    pub fn detail(&self) -> &str {
        match self {
            ThreadState::Failed(msg) => msg,
            _ => "",
        }
    }
}

/// A thread as the public status shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadStatus {
    pub state: ThreadState,
    pub host: Host,
    /// Which dispatch this is (a retry after its host died is the next attempt).
    pub attempt: u32,
    pub progress: u8,
    /// Simulated ns of the poll whose report last changed this status.
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
    /// Per thread: the output pieces of its current attempt applied so far.
    applied: Vec<u64>,
    /// Per client node: the last request whose action was applied (replays are ignored).
    last_act: BTreeMap<usize, u64>,
}

/// An action a client invokes on a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Cancel,
    Pause,
    Resume,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Cancel => "cancel",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }
}

/// What a host says of one of its threads when polled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reported {
    Running,
    Done,
    Failed(String),
}

/// One thread's report: its state on its host, and the output pieces not yet applied
/// (numbered from 1 within the attempt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadReport {
    pub process: u64,
    pub thread: u32,
    pub attempt: u32,
    pub reported: Reported,
    pub outputs: Vec<(u64, ThreadOutput)>,
}

/// Everything that changes the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client (node `client`, its request `req`) starts a process.
    Start {
        process: u64,
        name: String,
        owner: String,
        script: String,
        /// One host per thread.
        placement: Vec<Host>,
        retry: bool,
        client: usize,
        req: u64,
    },
    Act {
        process: u64,
        action: Action,
        client: usize,
        req: u64,
    },
    /// What `host` reported when polled at `at_ns`.
    Report {
        host: Host,
        at_ns: u64,
        threads: Vec<ThreadReport>,
    },
    /// The host left the primary component (its node crashed or was cut off, or its job
    /// unregistered); `spare` is where retried threads go.
    NodeDown { host: Host, spare: Option<Host> },
}

/// What applying a command tells the primary and the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// A thread's state, host or attempt changed.
    Changed {
        process: u64,
        thread: u32,
        status: ThreadStatus,
    },
    Started {
        process: u64,
        client: usize,
        req: u64,
    },
    /// The action was applied (`fresh`) or had been before (a replay).
    Acted {
        process: u64,
        action: Action,
        client: usize,
        req: u64,
        fresh: bool,
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

impl StateMachine for ProcessTable {
    type Command = Command;
    type Effect = Effect;

    fn apply(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        ProcessTable::apply(self, cmd, out);
    }
}

fn changed(process: u64, thread: usize, t: &ThreadStatus) -> Effect {
    Effect::Changed {
        process,
        thread: thread as u32,
        status: t.clone(),
    }
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
                client,
                req,
            } => {
                if self.processes.contains_key(process) {
                    // A retried start: it happened.
                    out.push(Effect::Started {
                        process: *process,
                        client: *client,
                        req: *req,
                    });
                    return;
                }
                if placement.is_empty() {
                    out.push(Effect::Rejected {
                        reason: format!("process {process} has no threads"),
                    });
                    return;
                }
                let threads: Vec<ThreadStatus> = placement
                    .iter()
                    .map(|&host| ThreadStatus {
                        state: ThreadState::Pending,
                        host,
                        attempt: 0,
                        progress: 0,
                        as_of_ns: 0,
                    })
                    .collect();
                for (i, t) in threads.iter().enumerate() {
                    out.push(changed(*process, i, t));
                }
                out.push(Effect::Started {
                    process: *process,
                    client: *client,
                    req: *req,
                });
                self.processes.insert(
                    *process,
                    Process {
                        applied: vec![0; threads.len()],
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
                        last_act: BTreeMap::new(),
                    },
                );
            }
            Command::Act {
                process,
                action,
                client,
                req,
            } => {
                let Some(p) = self.processes.get_mut(process) else {
                    out.push(Effect::Rejected {
                        reason: format!("no process {process}"),
                    });
                    return;
                };
                let fresh = p.last_act.get(client).is_none_or(|last| req > last);
                out.push(Effect::Acted {
                    process: *process,
                    action: *action,
                    client: *client,
                    req: *req,
                    fresh,
                });
                if !fresh {
                    return;
                }
                p.last_act.insert(*client, *req);
                match action {
                    Action::Pause => p.paused = true,
                    Action::Resume => p.paused = false,
                    Action::Cancel => {}
                }
                for (i, t) in p.public.threads.iter_mut().enumerate() {
                    let next = match (action, &t.state) {
                        (_, s) if s.is_final() => continue,
                        (Action::Cancel, _) => ThreadState::Cancelled,
                        (Action::Pause, ThreadState::Running) => ThreadState::Paused,
                        (Action::Resume, ThreadState::Paused) => ThreadState::Running,
                        _ => continue,
                    };
                    t.state = next;
                    out.push(changed(*process, i, t));
                }
            }
            Command::Report {
                host,
                at_ns,
                threads,
            } => {
                for r in threads {
                    self.report(*host, *at_ns, r, out);
                }
            }
            Command::NodeDown { host, spare } => {
                for (pid, p) in self.processes.iter_mut() {
                    for (i, t) in p.public.threads.iter_mut().enumerate() {
                        if t.host != *host || t.state.is_final() {
                            continue;
                        }
                        match (p.retry, spare) {
                            (true, Some(spare)) => {
                                // Dispatched again elsewhere as the next attempt; the
                                // state stays where it was until the new host reports.
                                t.host = *spare;
                                t.attempt += 1;
                                p.applied[i] = 0;
                            }
                            _ => t.state = ThreadState::Lost,
                        }
                        out.push(changed(*pid, i, t));
                    }
                }
            }
        }
    }

    fn report(&mut self, host: Host, at_ns: u64, r: &ThreadReport, out: &mut Vec<Effect>) {
        let Some(p) = self.processes.get_mut(&r.process) else {
            return;
        };
        let i = r.thread as usize;
        let Some(t) = p.public.threads.get_mut(i) else {
            return;
        };
        // A report from an earlier dispatch, or from another host, is stale.
        if r.attempt != t.attempt || host != t.host || t.state.is_final() {
            return;
        }
        t.as_of_ns = t.as_of_ns.max(at_ns);
        for (version, output) in &r.outputs {
            if *version != p.applied[i] + 1 {
                continue;
            }
            p.applied[i] = *version;
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
                p.values.values.insert((r.thread, k.clone()), v.clone());
            }
            for (code, text) in &output.events {
                p.values.events.push(Indication {
                    thread: r.thread,
                    code: code.clone(),
                    text: text.clone(),
                    at_ns,
                });
            }
        }
        let next = match &r.reported {
            Reported::Running if p.paused => ThreadState::Paused,
            Reported::Running => ThreadState::Running,
            Reported::Done => ThreadState::Done,
            Reported::Failed(msg) => ThreadState::Failed(msg.clone()),
        };
        // Running and Paused share a rank: only the PMS's actions move between them.
        if next.rank() > t.state.rank() {
            t.state = next;
            out.push(changed(r.process, i, t));
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
    /// it with poll requests, never in a client response).
    pub fn private_for_threads(&self, process: u64) -> Option<&BTreeMap<String, Val>> {
        self.processes.get(&process).map(|p| &p.private)
    }

    /// The process's script, for the hosts that run its threads.
    pub fn script(&self, process: u64) -> Option<&str> {
        self.processes.get(&process).map(|p| p.script.as_str())
    }

    pub fn is_paused(&self, process: u64) -> bool {
        self.processes.get(&process).is_some_and(|p| p.paused)
    }

    /// One thread's status and the output pieces of its attempt applied so far.
    pub fn thread(&self, process: u64, thread: u32) -> Option<(&ThreadStatus, u64)> {
        let p = self.processes.get(&process)?;
        let t = p.public.threads.get(thread as usize)?;
        Some((t, p.applied[thread as usize]))
    }

    pub fn processes(&self) -> impl Iterator<Item = u64> + '_ {
        self.processes.keys().copied()
    }

    /// Every process as a list shows it: id, name, owner.
    pub fn list(&self) -> Vec<(u64, String, String)> {
        self.processes
            .values()
            .map(|p| {
                (
                    p.public.process,
                    p.public.name.clone(),
                    p.public.owner.clone(),
                )
            })
            .collect()
    }

    /// Every live (non-final) thread placed on `host`, with its attempt and the output
    /// pieces applied so far: what a poll of that host asks about.
    pub fn threads_on(&self, host: Host) -> Vec<(u64, u32, u32, u64)> {
        let mut v = vec![];
        for (pid, p) in &self.processes {
            for (i, t) in p.public.threads.iter().enumerate() {
                if t.host == host && !t.state.is_final() {
                    v.push((*pid, i as u32, t.attempt, p.applied[i]));
                }
            }
        }
        v
    }

    /// The hosts of every live thread.
    pub fn live_hosts(&self) -> BTreeSet<Host> {
        self.processes
            .values()
            .flat_map(|p| p.public.threads.iter())
            .filter(|t| !t.state.is_final())
            .map(|t| t.host)
            .collect()
    }

    /// How many live threads each host runs.
    pub fn load(&self) -> BTreeMap<Host, usize> {
        let mut m = BTreeMap::new();
        for t in self
            .processes
            .values()
            .flat_map(|p| p.public.threads.iter())
        {
            if !t.state.is_final() {
                *m.entry(t.host).or_default() += 1;
            }
        }
        m
    }

    /// Puts private data into the public structure: only the planted bug that leaks it.
    pub fn leak_private_for_planted_bug(&self, status: &mut PublicStatus) {
        if let Some(p) = self.processes.get(&status.process) {
            status
                .public
                .extend(p.private.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    /// Sets every finished thread back to running: only the planted bug that makes a
    /// status go backward. Returns the threads it rewound.
    pub fn rewind_for_planted_bug(&mut self) -> Vec<(u64, u32)> {
        let mut v = vec![];
        for (pid, p) in self.processes.iter_mut() {
            for (i, t) in p.public.threads.iter_mut().enumerate() {
                if t.state == ThreadState::Done {
                    t.state = ThreadState::Running;
                    v.push((*pid, i as u32));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(node: usize) -> Host {
        Host {
            node,
            inc: 0,
            job: 0,
        }
    }

    fn start(retry: bool) -> (ProcessTable, Vec<Effect>) {
        let mut t = ProcessTable::new();
        let mut out = vec![];
        t.apply(
            &Command::Start {
                process: 1,
                name: "etl".into(),
                owner: "ann".into(),
                script: "fn step(n) { n < 3 }".into(),
                placement: vec![h(0), h(1), h(2)],
                retry,
                client: 9,
                req: 1,
            },
            &mut out,
        );
        (t, out)
    }

    fn output(progress: u8, cursor: i64) -> ThreadOutput {
        ThreadOutput {
            progress: Some(progress),
            public: [("rows".to_string(), Val::Int(7))].into(),
            private_writes: [("cursor".to_string(), Val::Int(cursor))].into(),
            events: vec![("CLU0104".into(), "slow".into())],
            ..Default::default()
        }
    }

    fn report(thread: u32, node: usize, attempt: u32, r: Reported, at: u64) -> Command {
        Command::Report {
            host: h(node),
            at_ns: at,
            threads: vec![ThreadReport {
                process: 1,
                thread,
                attempt,
                reported: r,
                outputs: vec![(1, output(50, 3))],
            }],
        }
    }

    fn act(action: Action, req: u64) -> Command {
        Command::Act {
            process: 1,
            action,
            client: 9,
            req,
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
    fn start_places_one_pending_thread_per_host_and_a_retry_finds_it_started() {
        let (mut t, out) = start(false);
        let hosts: Vec<usize> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Changed { status, .. } => Some(status.host.node),
                _ => None,
            })
            .collect();
        assert_eq!(hosts, vec![0, 1, 2]);
        assert_eq!(states(&t), vec!["pending"; 3]);
        assert_eq!(t.threads_on(h(1)), vec![(1, 1, 0, 0)]);
        let mut again = vec![];
        let retried = Command::Start {
            process: 1,
            name: "etl".into(),
            owner: "ann".into(),
            script: String::new(),
            placement: vec![h(4)],
            retry: false,
            client: 9,
            req: 1,
        };
        t.apply(&retried, &mut again);
        assert!(matches!(again[..], [Effect::Started { process: 1, .. }]));
        assert_eq!(t.public(1).unwrap().threads.len(), 3, "unchanged");
    }

    #[test]
    fn reports_fill_public_private_and_values_once_and_never_go_backward() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        t.apply(&report(0, 0, 0, Reported::Running, 10), &mut out);
        // The same piece again (a re-sent report) applies nothing twice.
        t.apply(&report(0, 0, 0, Reported::Done, 20), &mut out);
        assert_eq!(t.values(1).unwrap().events.len(), 1);
        // A late Running report must not undo Done.
        t.apply(&report(0, 0, 0, Reported::Running, 15), &mut out);
        assert_eq!(states(&t)[0], "done");
        assert_eq!(t.public(1).unwrap().public["rows"], Val::Int(7));
        assert_eq!(t.private_for_threads(1).unwrap()["cursor"], Val::Int(3));
        assert_eq!(t.public(1).unwrap().threads[0].as_of_ns, 20);
        assert_eq!(t.thread(1, 0).unwrap().1, 1, "one piece applied");
        let json = serde_json::to_string(t.public(1).unwrap()).unwrap();
        assert!(
            !json.contains("cursor"),
            "private data in the public status: {json}"
        );
    }

    #[test]
    fn output_pieces_apply_in_order_and_skip_gaps() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        let cmd = |outputs| Command::Report {
            host: h(0),
            at_ns: 1,
            threads: vec![ThreadReport {
                process: 1,
                thread: 0,
                attempt: 0,
                reported: Reported::Running,
                outputs,
            }],
        };
        t.apply(&cmd(vec![(2, output(40, 2))]), &mut out);
        assert_eq!(t.thread(1, 0).unwrap().1, 0, "piece 1 is missing");
        t.apply(&cmd(vec![(1, output(20, 1)), (2, output(40, 2))]), &mut out);
        assert_eq!(t.thread(1, 0).unwrap().1, 2);
        assert_eq!(t.private_for_threads(1).unwrap()["cursor"], Val::Int(2));
        assert_eq!(t.public(1).unwrap().threads[0].progress, 40);
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
    fn a_dead_host_loses_its_threads_or_they_retry_elsewhere() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        t.apply(
            &Command::NodeDown {
                host: h(1),
                spare: Some(h(0)),
            },
            &mut out,
        );
        assert_eq!(states(&t), vec!["pending", "lost", "pending"]);
        assert_eq!(t.live_hosts(), [h(0), h(2)].into());

        let (mut t, _) = start(true);
        t.apply(&report(1, 1, 0, Reported::Running, 1), &mut out);
        let mut out = vec![];
        t.apply(
            &Command::NodeDown {
                host: h(1),
                spare: Some(h(2)),
            },
            &mut out,
        );
        let Effect::Changed { status, .. } = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((status.host, status.attempt), (h(2), 1));
        assert_eq!(status.state, ThreadState::Running, "stays until reported");
        // The old attempt's late report is ignored; the new one counts, from piece 1.
        t.apply(&report(1, 1, 0, Reported::Done, 9), &mut out);
        assert_eq!(states(&t)[1], "running");
        t.apply(&report(1, 2, 1, Reported::Done, 9), &mut out);
        assert_eq!(states(&t)[1], "done");
        assert_eq!(t.load(), [(h(0), 1), (h(2), 1)].into());
    }

    #[test]
    fn cancel_pause_and_resume_and_a_replayed_action_is_ignored() {
        let (mut t, _) = start(false);
        let mut out = vec![];
        for th in 0..3 {
            t.apply(&report(th, th as usize, 0, Reported::Running, 1), &mut out);
        }
        t.apply(&act(Action::Pause, 2), &mut out);
        assert_eq!(states(&t), vec!["paused"; 3]);
        assert!(t.is_paused(1));
        // A poll while paused keeps it paused.
        t.apply(&report(0, 0, 0, Reported::Running, 2), &mut out);
        assert_eq!(states(&t)[0], "paused");
        t.apply(&act(Action::Resume, 3), &mut out);
        assert_eq!(states(&t), vec!["running"; 3]);
        // The pause, duplicated by the network, arrives again: it must not re-pause.
        out.clear();
        t.apply(&act(Action::Pause, 2), &mut out);
        assert!(matches!(out[..], [Effect::Acted { fresh: false, .. }]));
        assert_eq!(states(&t), vec!["running"; 3]);
        t.apply(&report(2, 2, 0, Reported::Done, 3), &mut out);
        t.apply(&act(Action::Cancel, 4), &mut out);
        assert_eq!(states(&t), vec!["cancelled", "cancelled", "done"]);
        assert!(t.threads_on(h(0)).is_empty());
    }
}
