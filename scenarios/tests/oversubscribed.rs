//! A sweep with far more workers than cores reports exactly what a sweep with one worker
//! per core reports, seed for seed: the per-seed limit counts the seed thread's CPU time,
//! which the wait for a core does not stretch. Here 64 workers on a 2-core machine make
//! each seed wait about 30 times its CPU time for a core; with a limit of 0.5 s of CPU time
//! (ten times what a seed needs), a wall-clock limit of the same length would time out
//! nearly every seed.

use scenarios::cli::json::SweepJson;
use sim::sweep::{self, SeedRange, SweepConfig, SweepTarget, Verdict};
use std::process::Command;
use std::time::Duration;

const LIMIT_S: &str = "0.5";

fn sweep_json(jobs: &str) -> (SweepJson, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oversub-{jobs}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clustersim"))
        .args([
            "sweep",
            "client-failover",
            "--mutant",
            "two-masters",
            "--seeds",
            "0..64",
            "--keep-going",
            "--json",
            "--seed-timeout-s",
            LIMIT_S,
            "--jobs",
            jobs,
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// Everything a sweep reports but the times it took.
fn verdicts(mut j: SweepJson) -> SweepJson {
    j.jobs = 0;
    j.wall_s = 0.0;
    j.seeds_per_s = 0.0;
    for s in j.per_scenario.values_mut() {
        s.median_ms = 0.0;
        s.p99_ms = 0.0;
    }
    j
}

#[test]
fn a_sweep_at_64_jobs_reports_what_a_sweep_at_2_jobs_reports() {
    let (two, _) = sweep_json("2");
    let (many, stderr) = sweep_json("64");
    assert!(
        stderr.contains("warning: --jobs 64 is more than the"),
        "no warning about the cores: {stderr}"
    );
    eprintln!(
        "64 jobs: {:.2}s of wall time per seed on average, against a limit of {LIMIT_S}s of CPU time",
        many.wall_s * 64.0 / many.seeds_run as f64
    );
    assert!(two.timeouts.is_empty(), "{:?}", two.timeouts);
    assert!(
        two.failures.len() >= 3,
        "the planted bug shows: {:?}",
        two.failures
    );
    // Two masters show as an overlap of service, or first as the stale master's resend of
    // what the client acknowledged to the new one.
    assert!(
        two.failures
            .iter()
            .all(|f| ["single_master", "client_stream"].contains(&f.checker.as_str())),
        "{:?}",
        two.failures
    );
    assert_eq!(verdicts(many), verdicts(two));
}

#[test]
fn every_seed_has_the_same_verdict_and_trace_hash_at_64_workers_as_at_2() {
    let targets: Vec<SweepTarget> = scenarios::catalog()
        .into_iter()
        .map(|s| SweepTarget {
            scenario: s,
            mutant: None,
        })
        .collect();
    let run = |workers: usize| {
        let cfg = SweepConfig {
            workers,
            seed_cpu_limit: Duration::from_secs_f64(LIMIT_S.parse().unwrap()),
            keep_going: true,
            ..SweepConfig::default()
        };
        let r = sweep::sweep(&targets, SeedRange { start: 0, end: 8 }, &cfg, |_| {});
        r.outcomes
            .iter()
            .map(|o| {
                assert!(
                    !matches!(o.verdict, Verdict::TimedOut(_)),
                    "{} seed {} timed out at {workers} workers",
                    o.scenario,
                    o.seed
                );
                (o.scenario.clone(), o.seed, o.verdict.clone(), o.trace_hash)
            })
            .collect::<Vec<_>>()
    };
    let two = run(2);
    assert_eq!(two.len(), 8 * targets.len());
    assert_eq!(run(64), two);
}
