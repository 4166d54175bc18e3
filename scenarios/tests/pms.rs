//! Scripted tests of the process management system on the harness: each action (start,
//! cancel, pause, resume), each denial (no credential, unknown user, wrong secret, a
//! viewer doing an operator's action), a script error, a runaway script, status freshness
//! under a partition, primary failover, and every planted bug caught by the checker named
//! after the guarantee it breaks.

use protocols::pms::checkers::StatusFresh;
use protocols::pms::events::{PmsEvent, StateName, UiEvent};
use protocols::pms::service::PmsConfig;
use protocols::pms::status::Action;
use protocols::pms::ui::ScriptSpec;
use protocols::pms::wire::Op;
use scenarios::process_status::{
    scripts, ProcessStatus, User, MUTANT_LOST_STAY_RUNNING, MUTANT_PRIVATE_LEAK,
    MUTANT_STATUS_REWIND, MUTANT_VIEWER_CANCELS,
};
use sim::{Checker, Fault, PartitionSymmetry, Recorded, RunReport, RunSpec, Scenario};

/// The node of the first UI client (five engine nodes come first).
const UI: usize = 5;

fn script(name: &str) -> ScriptSpec {
    scripts()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no script {name}"))
}

fn start(name: &str) -> Op {
    let s = script(name);
    Op::Start {
        name: s.name.to_string(),
        script: s.source,
        threads: s.threads,
        retry: s.retry,
    }
}

fn act(process: u64, action: Action) -> Op {
    Op::Act { process, action }
}

/// Status polls of `process` every `every_ms` over `[from_ms, to_ms)`.
fn polls(process: u64, from_ms: u64, to_ms: u64, every_ms: u64) -> Vec<(u64, Op)> {
    (from_ms..to_ms)
        .step_by(every_ms as usize)
        .map(|t| (t, Op::Status { process }))
        .collect()
}

/// One scripted operator (client node 5) following `plan`, and `others` scripted too.
fn scenario(plan: Vec<(u64, Op)>, others: Vec<(User, Vec<(u64, Op)>)>) -> ProcessStatus {
    let mut clients = vec![User::Operator(0)];
    let mut plans = vec![plan];
    for (u, p) in others {
        clients.push(u);
        plans.push(p);
    }
    ProcessStatus {
        clients,
        plans,
        safety_ms: 12_000,
        liveness_ms: 6_000,
        ..ProcessStatus::default()
    }
}

fn run(s: &ProcessStatus, seed: u64, faults: Vec<Fault>) -> RunReport {
    let r = s
        .run(&RunSpec::scripted(seed, faults), None)
        .expect("the plan fits the world");
    assert!(r.passed(), "{}", r.violations[0]);
    r
}

fn events<'a>(r: &'a RunReport, component: &'a str, event: &'a str) -> Vec<&'a Recorded> {
    r.trace
        .events
        .iter()
        .filter(|e| e.is(component, event))
        .collect()
}

/// A `pms.status` event's process, thread, state and detail.
fn status(e: &Recorded) -> Option<(u64, u64, StateName, &str)> {
    match e.get::<PmsEvent>()? {
        PmsEvent::Status {
            thread,
            state,
            detail,
            ..
        } => Some((thread.process, u64::from(thread.thread), *state, detail)),
        _ => None,
    }
}

/// The replicated records of one thread, as the primary of the moment applied them.
fn recorded(r: &RunReport, process: u64, thread: u64) -> Vec<(String, u64, String)> {
    let mut v: Vec<(String, u64, String)> = Vec::new();
    for e in &r.trace.events {
        let Some(PmsEvent::Status {
            thread: t,
            attempt,
            state,
            host,
            ..
        }) = e.get::<PmsEvent>()
        else {
            continue;
        };
        if (t.process, u64::from(t.thread)) != (process, thread) {
            continue;
        }
        let rec = (state.to_string(), u64::from(*attempt), host.to_string());
        // Every replica records it; keep one copy of each change.
        if v.last() != Some(&rec) {
            v.push(rec);
        }
    }
    v
}

/// What the scripted client was answered, by request number: (outcome, data, threads, text).
fn replies(r: &RunReport, node: usize) -> Vec<(u64, String, bool, String, String)> {
    r.trace
        .events
        .iter()
        .filter(|e| e.node.0 == node as u64)
        .filter_map(|e| match e.get::<UiEvent>()? {
            UiEvent::Reply {
                req,
                outcome,
                data,
                threads,
                text,
                ..
            } => {
                let threads: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
                Some((
                    req.req,
                    outcome.to_string(),
                    *data,
                    threads.join(","),
                    text.clone(),
                ))
            }
            _ => None,
        })
        .collect()
}

fn first_process() -> u64 {
    PmsConfig::process_id(UI, 1)
}

#[test]
fn start_places_threads_on_several_nodes_and_polls_them_to_done() {
    let p = first_process();
    let mut plan = vec![(1_500, start("shared-total"))];
    plan.extend(polls(p, 2_000, 7_000, 500));
    let r = run(&scenario(plan, vec![]), 1, vec![]);
    let hosts: Vec<String> = (0..3).map(|t| recorded(&r, p, t)[0].2.clone()).collect();
    assert_eq!(hosts.len(), 3);
    assert!(
        hosts[0] != hosts[1] && hosts[1] != hosts[2] && hosts[0] != hosts[2],
        "{hosts:?}"
    );
    for t in 0..3 {
        let states: Vec<String> = recorded(&r, p, t).into_iter().map(|x| x.0).collect();
        assert_eq!(states, ["pending", "running", "done"], "thread {t}");
    }
    let answers = replies(&r, UI);
    assert_eq!(answers[0].4, p.to_string(), "the start names the process");
    let last = answers.last().unwrap();
    assert_eq!(last.3, "done/0/100,done/0/100,done/0/100");
    // Public data and status values reach the client; the private total does not.
    assert!(last.4.contains("\"done_by_2\": Int(10)"), "{}", last.4);
    assert!(last.4.contains("finished its share"), "{}", last.4);
    assert!(!last.4.contains("total"), "{}", last.4);
}

#[test]
fn cancel_ends_every_thread_and_their_hosts_stop_them() {
    let p = first_process();
    let mut plan = vec![(1_500, start("long"))];
    plan.extend(polls(p, 2_000, 3_000, 500));
    plan.push((3_000, act(p, Action::Cancel)));
    plan.extend(polls(p, 3_500, 5_000, 500));
    let r = run(&scenario(plan, vec![]), 2, vec![]);
    for t in 0..3 {
        let states: Vec<String> = recorded(&r, p, t).into_iter().map(|x| x.0).collect();
        assert_eq!(states, ["pending", "running", "cancelled"], "thread {t}");
    }
    let stopped = events(&r, "pms", "local")
        .into_iter()
        .filter(|e| {
            matches!(
                e.get::<PmsEvent>(),
                Some(PmsEvent::Local { thread, state: StateName::Stopped, .. }) if thread.process == p
            )
        })
        .count();
    assert_eq!(stopped, 3, "each host stopped its thread");
    let answers = replies(&r, UI);
    let cancel = answers.iter().find(|a| a.0 == 4).unwrap();
    assert_eq!((cancel.1.as_str(), cancel.2), ("ok", false));
    assert!(answers.last().unwrap().3.starts_with("cancelled/0/"));
}

#[test]
fn pause_holds_the_threads_and_resume_lets_them_finish() {
    let p = first_process();
    let mut plan = vec![(1_500, start("long"))];
    plan.push((2_500, act(p, Action::Pause)));
    plan.extend(polls(p, 3_000, 6_000, 500));
    plan.push((6_000, act(p, Action::Resume)));
    plan.extend(polls(p, 6_500, 14_000, 500));
    let r = run(&scenario(plan, vec![]), 3, vec![]);
    let answers = replies(&r, UI);
    // While paused (polls from 3 s to 6 s) every thread shows paused and, once the last
    // steps before the pause are recorded, makes no progress.
    let paused: Vec<&String> = answers[2..8].iter().map(|a| &a.3).collect();
    assert!(
        paused.iter().all(|t| t.starts_with("paused/")),
        "{paused:?}"
    );
    assert!(paused[1..].windows(2).all(|w| w[0] == w[1]), "{paused:?}");
    assert!(answers[9].3.starts_with("running/"), "{}", answers[9].3);
    assert_eq!(
        answers.last().unwrap().3,
        "done/0/100,done/0/100,done/0/100"
    );
}

#[test]
fn each_denial_gets_its_reason_and_no_data() {
    let p = first_process();
    let tries = |process| {
        vec![
            (2_500, Op::Status { process }),
            (3_000, act(process, Action::Cancel)),
            (3_500, Op::List),
        ]
    };
    let s = scenario(
        vec![(1_500, start("long"))],
        vec![
            (User::Viewer, tries(p)),
            (User::BadSecret, tries(p)),
            (User::UnknownUser, tries(p)),
            (User::NoCredential, tries(p)),
        ],
    );
    let r = run(&s, 4, vec![]);
    let viewer = replies(&r, UI + 1);
    assert_eq!(viewer[0].1, "ok", "a viewer reads");
    assert!(viewer[0].2 && viewer[0].3.len() > 10);
    assert_eq!(
        (viewer[1].1.as_str(), viewer[1].4.as_str()),
        (
            "denied",
            "denied: 'vic' is Viewer, the request needs Operator"
        )
    );
    assert_eq!(viewer[2].1, "ok", "a viewer lists");
    for (node, reason) in [
        (UI + 2, "denied: wrong secret for 'ann'"),
        (UI + 3, "denied: unknown user 'eve'"),
        (UI + 4, "denied: no credential"),
    ] {
        let got = replies(&r, node);
        assert_eq!(got.len(), 3);
        for g in got {
            assert_eq!((g.1.as_str(), g.2, g.4.as_str()), ("denied", false, reason));
        }
    }
    let cancelled = recorded(&r, p, 0).iter().any(|x| x.0 == "cancelled");
    assert!(!cancelled, "no denied cancel took effect");
}

#[test]
fn a_script_error_fails_its_thread_with_the_scripts_message() {
    let p = first_process();
    let mut plan = vec![(1_500, start("failing")), (1_600, start("broken"))];
    plan.extend(polls(p, 2_000, 5_000, 500));
    let r = run(&scenario(plan, vec![]), 5, vec![]);
    for t in 0..2 {
        let (_, _, state, detail) = r
            .trace
            .events
            .iter()
            .filter_map(status)
            .rfind(|(process, thread, _, _)| (*process, *thread) == (p, t))
            .unwrap();
        assert_eq!(state, StateName::Failed);
        assert!(
            detail.starts_with("script error at line ")
                && detail.ends_with(&format!("disk full on thread {t}")),
            "{detail}"
        );
    }
    let broken = r
        .trace
        .events
        .iter()
        .filter_map(status)
        .rfind(|(process, ..)| *process == PmsConfig::process_id(UI, 2))
        .unwrap();
    assert!(broken.3.starts_with("script does not compile"));
    assert_eq!(replies(&r, UI).last().unwrap().3, "failed/0/30,failed/0/40");
}

#[test]
fn a_runaway_script_is_stopped_by_the_operation_limit() {
    let p = first_process();
    let mut plan = vec![(1_500, start("runaway"))];
    plan.extend(polls(p, 2_000, 4_000, 500));
    let r = run(&scenario(plan, vec![]), 6, vec![]);
    let states = recorded(&r, p, 0);
    assert_eq!(states.last().unwrap().0, "failed");
    let detail = r
        .trace
        .events
        .iter()
        .filter_map(status)
        .rfind(|(process, ..)| *process == p)
        .unwrap()
        .3;
    assert!(
        detail.starts_with("runaway script stopped: operation limit reached"),
        "{detail}"
    );
    // It ran two steps, then the third ran away; the node went on serving the others.
    assert_eq!(replies(&r, UI).last().unwrap().3, "failed/0/40");
}

/// Runs the freshness checker over a kept trace: (when the host saw it, lag) per check.
fn fresh_delays(s: &ProcessStatus, r: &RunReport) -> Vec<(u64, u64)> {
    let mut c = StatusFresh::new(s.engine_nodes, s.freshness());
    for e in r.trace.iter() {
        c.on_event(&e).unwrap();
    }
    c.delays
}

#[test]
fn status_stays_fresh_on_the_primarys_side_of_a_partition() {
    // Two processes with retry: six threads over five nodes, so the isolated node hosts
    // some, and the majority side hosts the rest.
    // Five seconds of work, so that threads finish while the partition lasts.
    let mut medium = script("long");
    medium.source = medium.source.replace("n < 39", "n < 24");
    let medium = Op::Start {
        name: "medium".into(),
        script: medium.source,
        threads: medium.threads,
        retry: medium.retry,
    };
    let (p1, p2) = (first_process(), PmsConfig::process_id(UI, 2));
    let mut plan = vec![(1_500, medium.clone()), (1_600, medium)];
    plan.extend(polls(p1, 2_000, 12_000, 500));
    let s = scenario(plan, vec![]);
    let (cut_ms, heal_ms) = (3_000, 7_000);
    let r = run(
        &s,
        7,
        vec![Fault::Partition {
            at_ms: cut_ms,
            duration_ms: heal_ms - cut_ms,
            side_a: vec![2],
            symmetry: PartitionSymmetry::Symmetric,
        }],
    );
    // The isolated host's threads moved to the majority as their next attempt and ran
    // there to the end; the host stopped its own copies when it came back.
    let moved: Vec<(u64, u64)> = [p1, p2]
        .iter()
        .flat_map(|p| (0..3).map(move |t| (*p, t)))
        .filter(|(p, t)| recorded(&r, *p, *t)[0].2 == "2.0.0")
        .collect();
    assert!(!moved.is_empty(), "n2 hosted a thread");
    for (p, t) in &moved {
        let last = recorded(&r, *p, *t).pop().unwrap();
        assert_eq!((last.0.as_str(), last.1), ("done", 1), "{p}/{t}");
        assert_ne!(last.2, "2.0.0");
    }
    // Freshness was checked while the partition lasted, for threads on the primary's side,
    // and every check held within the bound.
    let bound_ns = s.freshness().bound_ms * 1_000_000;
    let d = fresh_delays(&s, &r);
    let during = d
        .iter()
        .filter(|(t, _)| (cut_ms * 1_000_000..heal_ms * 1_000_000).contains(t))
        .count();
    assert!(during >= 4, "{during} checks during the partition: {d:?}");
    assert!(d.iter().all(|(_, lag)| *lag <= bound_ns));
    let worst = d.iter().map(|x| x.1).max().unwrap();
    eprintln!(
        "{} freshness checks, worst lag {} ms (bound {} ms)",
        d.len(),
        worst / 1_000_000,
        bound_ns / 1_000_000
    );
}

#[test]
fn without_faults_status_lags_by_less_than_the_poll_interval_plus_the_latency_bound() {
    let s = ProcessStatus {
        safety_ms: 12_000,
        liveness_ms: 6_000,
        ..ProcessStatus::default()
    };
    let r = run(&s, 10, vec![]);
    let d = fresh_delays(&s, &r);
    assert!(d.len() > 10, "{} checks", d.len());
    let worst = d.iter().map(|x| x.1).max().unwrap() / 1_000_000;
    let interval = s.poll_interval_ms;
    eprintln!("{} checks, worst lag {worst} ms", d.len());
    assert!(worst <= s.freshness().bound_ms, "{worst} ms");
    // Lags spread over the whole interval: the checker measures what it claims to.
    assert!(worst > interval / 2, "{worst} ms");
}

#[test]
fn a_new_primary_resumes_polling_and_ends_the_old_primarys_threads() {
    // Requests 3 and 4 start processes whose threads go to nodes 3, 4, 0 and 4, 0, 1.
    let (lost, retried) = (PmsConfig::process_id(UI, 3), PmsConfig::process_id(UI, 4));
    let mut plan = vec![
        (1_400, Op::List),
        (1_450, Op::List),
        (1_500, start("shared-total")),
        (1_600, start("long")),
    ];
    plan.extend(polls(lost, 2_000, 12_000, 500));
    let crash_ms = 3_000;
    let r = run(
        &scenario(plan, vec![]),
        8,
        vec![Fault::Crash {
            at_ms: crash_ms,
            node: 0,
            restart_after_ms: None,
        }],
    );
    let crash_ns = crash_ms * 1_000_000;
    let polls_after: Vec<u64> = events(&r, "pms", "poll")
        .into_iter()
        .filter(|e| e.t_ns > crash_ns)
        .map(|e| e.node.0)
        .collect();
    assert!(polls_after.len() > 10 && polls_after.iter().all(|n| *n == 1));
    // Each process had one thread on n0: the one without retry is lost, the other moved.
    let on_n0 = |p: u64| {
        (0..3)
            .find(|t| recorded(&r, p, *t)[0].2 == "0.0.0")
            .expect("a thread on n0")
    };
    let l = recorded(&r, lost, on_n0(lost)).pop().unwrap();
    assert_eq!((l.0.as_str(), l.1), ("lost", 0));
    let m = recorded(&r, retried, on_n0(retried)).pop().unwrap();
    assert_eq!((m.0.as_str(), m.1), ("done", 1));
    let down: Vec<(u64, String)> = r
        .trace
        .events
        .iter()
        .filter_map(|e| match e.get::<PmsEvent>()? {
            PmsEvent::Down { host, .. } => Some((e.node.0, host.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        down,
        [(1, "0.0.0".to_string())],
        "the new primary buried the old one's host"
    );
}

#[test]
fn every_planted_bug_is_caught_by_its_checker() {
    for (bug, checker, seed) in [
        (MUTANT_VIEWER_CANCELS, "authz", 1),
        (MUTANT_PRIVATE_LEAK, "private_isolation", 0),
        (MUTANT_LOST_STAY_RUNNING, "every_thread_accounted", 4),
        (MUTANT_STATUS_REWIND, "status_monotonic", 1),
    ] {
        scenarios::assert_mutant_caught("process-status", bug, checker, seed);
    }
}

/// Script threads must not draw on the seed's randomness behind its back: the first seed
/// a process runs and the same seed run again trace the same (each nextest test is its
/// own process, so here the first run is the process's first use of the script engine).
#[test]
fn a_seed_traces_the_same_as_the_first_run_of_its_process_and_later() {
    let s = ProcessStatus::default();
    let first = s.run(&RunSpec::swarm(3), None).unwrap().trace.hash;
    let again = s.run(&RunSpec::swarm(3), None).unwrap().trace.hash;
    assert_eq!(first, again);
}
