//! The `clustersim` binary end to end: every bad input of the issue exits 2 with one line on
//! stderr; list, run, sweep, replay, shrink and check-determinism do what they promise, with
//! the documented exit codes and JSON shapes.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` (artifacts land there).
fn clustersim(dir: &Path, args: &[&str]) -> Out {
    clustersim_with_timeout(dir, args, None)
}

/// Runs the binary with `CLUSTERSIM_SEED_TIMEOUT_S` set, or unset.
fn clustersim_with_timeout(dir: &Path, args: &[&str], seed_timeout_s: Option<&str>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clustersim"));
    cmd.args(args).current_dir(dir);
    match seed_timeout_s {
        Some(t) => cmd.env("CLUSTERSIM_SEED_TIMEOUT_S", t),
        None => cmd.env_remove("CLUSTERSIM_SEED_TIMEOUT_S"),
    };
    let out = cmd.output().expect("run clustersim");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn line_with<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

fn assert_usage_error(dir: &Path, args: &[&str], want: &str) {
    let o = clustersim(dir, args);
    assert_eq!(o.code, 2, "{args:?} should exit 2\nstderr: {}", o.stderr);
    let err = o.stderr.trim_end();
    assert_eq!(
        err.lines().count(),
        1,
        "{args:?}: the error is not one line:\n{err}"
    );
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(
        err.contains(want),
        "{args:?}: {err:?} does not say {want:?}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?} printed: {}", o.stdout);
}

const GOOD_ARTIFACT: &str = r#"{
  "version": 1,
  "scenario": "demo",
  "seed": 3,
  "mutant": null,
  "fault_plan": {"faults": [{"kind": "pause", "at_ms": 5000, "duration_ms": 800, "node": 1}]},
  "checker": "answered_once",
  "violation": {"checker": "answered_once", "event_index": 1, "t_ns": 2, "explanation": "x"},
  "trace_hash": "0123456789abcdef"
}"#;

#[test]
fn every_bad_input_exits_2_with_one_line() {
    let dir = scratch("bad");
    let cases: &[(&[&str], &str)] = &[
        // Missing arguments and commands.
        (&[], "no command given"),
        (&["bogus"], "unrecognized subcommand 'bogus'"),
        (&["run", "demo"], "--seed"),
        (&["run", "--seed", "1"], "<SCENARIO>"),
        (&["sweep", "demo"], "--seeds"),
        (&["sweep", "--seeds", "0..10"], "<SCENARIO>"),
        (
            &["sweep", "demo", "--all", "--seeds", "0..3"],
            "cannot be used with '--all'",
        ),
        (&["replay"], "<ARTIFACT>"),
        (&["shrink"], "<ARTIFACT>"),
        (&["check-determinism", "demo"], "--seeds"),
        (&["check-determinism", "--seeds", "0..3"], "<SCENARIO>"),
        // Unknown scenarios and planted bugs.
        (&["run", "nope", "--seed", "1"], "unknown scenario 'nope'"),
        (
            &["sweep", "nope", "--seeds", "0..10"],
            "unknown scenario 'nope'",
        ),
        (
            &["check-determinism", "nope", "--seeds", "0..3"],
            "unknown scenario 'nope'",
        ),
        (
            &["run", "demo", "--seed", "1", "--mutant", "nope"],
            "unknown planted bug 'nope'",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--mutant", "nope"],
            "unknown planted bug 'nope'",
        ),
        (
            &["sweep", "--all", "--seeds", "0..10", "--mutant", "nope"],
            "unknown planted bug 'nope'",
        ),
        // Bad values.
        (
            &["run", "demo", "--seed", "x"],
            "invalid value 'x' for '--seed <N>'",
        ),
        (
            &["run", "demo", "--seed", "1", "--trace", "xml"],
            "possible values: text, json, chrome",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--jobs", "0"],
            "at least 1",
        ),
        // Empty, reversed and unparsable ranges.
        (
            &["sweep", "demo", "--seeds", "5..5"],
            "empty seed range 5..5",
        ),
        (
            &["sweep", "demo", "--seeds", "9..3"],
            "reversed seed range 9..3",
        ),
        (
            &["sweep", "demo", "--seeds", "abc"],
            "unparsable seed range 'abc'",
        ),
        (
            &["sweep", "demo", "--seeds", "1.."],
            "unparsable seed range '1..'",
        ),
        (
            &["sweep", "demo", "--seeds", "..5"],
            "unparsable seed range '..5'",
        ),
        (
            &["sweep", "demo", "--seeds", "1..=5"],
            "unparsable seed range '1..=5'",
        ),
        (
            &["check-determinism", "demo", "--seeds", "3..1"],
            "reversed seed range 3..1",
        ),
        (
            &["check-determinism", "demo", "--seeds", "4..4"],
            "empty seed range 4..4",
        ),
        (
            &["sweep", "demo", "--seeds", "0..18446744073709551615"],
            "split the range",
        ),
        (
            &["check-determinism", "--all", "--seeds", "0..100000000"],
            "split the range",
        ),
        (
            &["run", "demo", "--seed", "18446744073709551616"],
            "number too large",
        ),
        // Bad shards.
        (
            &["sweep", "demo", "--seeds", "0..10", "--shard", "0/3"],
            "shards are numbered 1 to 3",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--shard", "4/3"],
            "shards are numbered 1 to 3",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--shard", "x/y"],
            "bad shard 'x/y'",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--shard", "1/0"],
            "at least 1",
        ),
        (
            &["sweep", "demo", "--seeds", "0..10", "--shard", "2"],
            "bad shard '2'",
        ),
        // Unreadable artifacts.
        (
            &["replay", "no-such-file.json"],
            "cannot read artifact no-such-file.json",
        ),
        (
            &["shrink", "no-such-file.json"],
            "cannot read artifact no-such-file.json",
        ),
        (&["replay", "."], "cannot read artifact ."),
    ];
    for (args, want) in cases {
        assert_usage_error(&dir, args, want);
    }

    // Malformed artifacts: not JSON, a missing field, a wrong version, an unknown
    // scenario or bug, a plan that does not fit the world, a bad hash.
    let malformed: &[(&str, String, &str)] = &[
        (
            "garbage.json",
            "this is not json".into(),
            "malformed artifact",
        ),
        ("empty.json", String::new(), "malformed artifact"),
        (
            "partial.json",
            r#"{"version": 1, "scenario": "demo"}"#.into(),
            "missing field",
        ),
        (
            "version.json",
            GOOD_ARTIFACT.replace(r#""version": 1"#, r#""version": 7"#),
            "version 7",
        ),
        (
            "scenario.json",
            GOOD_ARTIFACT.replace(r#""scenario": "demo""#, r#""scenario": "zzz""#),
            "unknown scenario 'zzz'",
        ),
        (
            "mutant.json",
            GOOD_ARTIFACT.replace(r#""mutant": null"#, r#""mutant": "zzz""#),
            "unknown planted bug 'zzz'",
        ),
        (
            "node.json",
            GOOD_ARTIFACT.replace(r#""node": 1"#, r#""node": 9"#),
            "names node n9",
        ),
        (
            "kind.json",
            GOOD_ARTIFACT.replace(r#""kind": "pause""#, r#""kind": "meteor""#),
            "malformed artifact",
        ),
        (
            "time.json",
            GOOD_ARTIFACT.replace(r#""at_ms": 5000"#, r#""at_ms": 18446744073709551000"#),
            "past the end of simulated time",
        ),
        (
            "hash.json",
            GOOD_ARTIFACT.replace("0123456789abcdef", "xyz"),
            "trace_hash",
        ),
    ];
    for (name, text, want) in malformed {
        std::fs::write(dir.join(name), text).unwrap();
        assert_usage_error(&dir, &["replay", name], want);
        assert_usage_error(&dir, &["shrink", name], want);
    }

    // Places that cannot be written: an artifact directory or a trace file under a file.
    assert_usage_error(
        &dir,
        &[
            "sweep",
            "demo",
            "--seeds",
            "0..2",
            "--artifacts",
            "garbage.json/sub",
        ],
        "cannot create the artifact directory garbage.json/sub",
    );
    let o = clustersim(
        &dir,
        &["run", "demo", "--seed", "1", "--out", "garbage.json/t.txt"],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("cannot write the trace to garbage.json/t.txt"),
        "{}",
        o.stderr
    );
}

#[test]
fn list_shows_scenarios_and_planted_bugs() {
    let dir = scratch("list");
    let o = clustersim(&dir, &["list"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("demo"), "{}", o.stdout);
    assert!(o.stdout.contains("demo-double-answer"), "{}", o.stdout);

    let o = clustersim(&dir, &["list", "--json"]);
    assert_eq!(o.code, 0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), scenarios::catalog().len());
    for s in scenarios {
        assert!(s["name"].is_string() && s["description"].is_string(), "{s}");
    }
    let mutants = v["mutants"].as_array().unwrap();
    assert!(mutants.iter().any(|m| m["name"] == "demo-no-watchdog"));
    for m in mutants {
        assert!(m["name"].is_string() && m["scenario"].is_string() && m["description"].is_string());
        let scenario = m["scenario"].as_str().unwrap();
        assert!(scenarios.iter().any(|s| s["name"] == scenario), "{m}");
    }
}

#[test]
fn run_prints_plan_verdict_and_hash_in_every_format() {
    let dir = scratch("run");
    let o = clustersim(&dir, &["run", "demo", "--seed", "3"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("fault plan:"), "{}", o.stdout);
    assert!(o.stdout.contains("verdict: PASS"), "{}", o.stdout);
    let hash = line_with(&o.stdout, "trace-hash: ").to_string();
    assert_eq!(hash.len(), "trace-hash: ".len() + 16, "{hash}");

    // The same seed prints the same hash, and the text trace printed is the one hashed.
    let o = clustersim(&dir, &["run", "demo", "--seed", "3", "--trace", "text"]);
    assert_eq!(line_with(&o.stdout, "trace-hash: "), hash);
    assert!(o.stdout.contains("world.start"), "{}", o.stdout);

    let o = clustersim(
        &dir,
        &[
            "run", "demo", "--seed", "3", "--trace", "json", "--out", "t.jsonl",
        ],
    );
    assert_eq!(o.code, 0);
    assert_eq!(line_with(&o.stdout, "trace-hash: "), hash);
    let jsonl = std::fs::read_to_string(dir.join("t.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "start");

    let o = clustersim(
        &dir,
        &[
            "run", "demo", "--seed", "3", "--trace", "chrome", "--out", "t.json",
        ],
    );
    assert_eq!(o.code, 0);
    let chrome: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("t.json")).unwrap()).unwrap();
    assert!(chrome["traceEvents"].as_array().unwrap().len() > 100);

    // --no-swarm enables every fault kind: a different plan, so (almost surely) another hash.
    let o = clustersim(&dir, &["run", "demo", "--seed", "3", "--no-swarm"]);
    assert!(
        o.stdout.contains("enabled: crash, partition, clog"),
        "{}",
        o.stdout
    );

    // A failing seed exits 1 and prints the command that reproduces it.
    let o = clustersim(
        &dir,
        &[
            "run",
            "demo",
            "--seed",
            "1",
            "--mutant",
            "demo-double-answer",
        ],
    );
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout.contains("verdict: FAIL answered_once"),
        "{}",
        o.stdout
    );
    assert!(o
        .stdout
        .contains("reproduce: clustersim run demo --seed 1 --mutant demo-double-answer"));
}

#[test]
fn sweep_passes_shards_partition_the_range_and_json_has_the_documented_shape() {
    let dir = scratch("sweep");
    let o = clustersim(&dir, &["sweep", "demo", "--seeds", "0..24", "--jobs", "2"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("seeds run: 24 of 24, failures: 0"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("seeds/s"), "{}", o.stdout);
    assert!(o.stdout.contains("simulated time: 720.0s"), "{}", o.stdout);
    assert!(o.stdout.contains("fault kind"), "{}", o.stdout);
    assert!(line_with(&o.stdout, "work_thread").len() > "work_thread".len());

    let o = clustersim(&dir, &["sweep", "--all", "--seeds", "0..6", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["failures", "seeds_run", "sim_s", "wall_s"]);
    assert_eq!(v["seeds_run"], 6 * scenarios::catalog().len() as u64);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0);

    // Three shards hold every seed once: 10 seeds as 3 + 3 + 4.
    let mut total = 0;
    for (i, want) in [(1, 3), (2, 3), (3, 4)] {
        let shard = format!("{i}/3");
        let o = clustersim(
            &dir,
            &[
                "sweep", "demo", "--seeds", "0..10", "--shard", &shard, "--json",
            ],
        );
        assert_eq!(o.code, 0);
        let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
        assert_eq!(v["seeds_run"], want, "shard {shard}");
        total += want;
    }
    assert_eq!(total, 10);
}

#[test]
fn a_planted_bug_is_found_replayed_and_shrunk() {
    let dir = scratch("mutant");
    let o = clustersim(
        &dir,
        &[
            "sweep",
            "demo",
            "--mutant",
            "demo-double-answer",
            "--seeds",
            "0..200",
            "--json",
        ],
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "stops at the first failure: {v}");
    let f = &failures[0];
    assert_eq!(f["scenario"], "demo");
    assert_eq!(f["checker"], "answered_once");
    let seed = f["seed"].as_u64().unwrap();
    assert_eq!(v["seeds_run"], seed + 1, "every seed below the failure ran");
    let artifact = f["artifact"].as_str().unwrap().to_string();
    assert!(
        o.stderr
            .contains(&format!("replay: clustersim replay {artifact}")),
        "{}",
        o.stderr
    );

    // The artifact has the documented shape and replays to the same hash, exiting 1.
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(&artifact)).unwrap()).unwrap();
    for key in [
        "version",
        "scenario",
        "seed",
        "mutant",
        "fault_plan",
        "checker",
        "violation",
        "trace_hash",
    ] {
        assert!(a.get(key).is_some(), "artifact lacks {key}: {a}");
    }
    assert_eq!(a["seed"], seed);
    assert_eq!(a["mutant"], "demo-double-answer");
    let faults = a["fault_plan"]["faults"].as_array().unwrap().len();
    let o = clustersim(&dir, &["replay", &artifact]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let hash = a["trace_hash"].as_str().unwrap();
    assert_eq!(
        line_with(&o.stdout, "trace-hash: "),
        format!("trace-hash: {hash}")
    );
    assert!(
        o.stdout.contains("trace hash matches the artifact's"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("reproduced: answered_once failed again"));
    assert!(
        o.stdout.contains("demo.request"),
        "the replay prints the trace"
    );
    let at = line_with(&o.stdout, "  at event #");
    assert!(
        at.contains("demo.answered"),
        "the violating event is shown: {at}"
    );

    // The human summary of the same sweep names the failure and its replay command.
    let o = clustersim(
        &dir,
        &[
            "sweep",
            "demo",
            "--mutant",
            "demo-double-answer",
            "--seeds",
            "0..200",
        ],
    );
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains(&format!(
        "FAIL demo seed {seed} [demo-double-answer]: answered_once"
    )));
    assert!(
        o.stdout
            .contains(&format!("replay: clustersim replay {artifact}")),
        "{}",
        o.stdout
    );

    // Shrink: no more faults than before, the same checker, and it replays.
    let o = clustersim(&dir, &["shrink", &artifact, "--out", "small.json"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let remaining: usize = line_with(&o.stdout, "faults remaining: ")["faults remaining: ".len()..]
        .parse()
        .unwrap();
    assert!(remaining <= faults, "{remaining} > {faults}");
    let small: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("small.json")).unwrap()).unwrap();
    assert_eq!(
        small["fault_plan"]["faults"].as_array().unwrap().len(),
        remaining
    );
    assert_eq!(small["checker"], "answered_once");
    let o = clustersim(&dir, &["replay", "small.json"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("trace hash matches the artifact's"),
        "{}",
        o.stdout
    );
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let dir = scratch("jobs");
    let run = |jobs: &str| {
        let o = clustersim(
            &dir,
            &[
                "sweep",
                "demo",
                "--mutant",
                "demo-double-answer",
                "--seeds",
                "0..40",
                "--keep-going",
                "--json",
                "--jobs",
                jobs,
            ],
        );
        assert_eq!(o.code, 1);
        let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
        (
            v["seeds_run"].clone(),
            v["failures"].clone(),
            v["sim_s"].clone(),
        )
    };
    let one = run("1");
    assert!(one.1.as_array().unwrap().len() > 2, "{one:?}");
    assert_eq!(one, run("3"));
}

#[test]
fn check_determinism_passes() {
    let dir = scratch("determinism");
    let o = clustersim(&dir, &["check-determinism", "--all", "--seeds", "0..8"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("every trace identical"), "{}", o.stdout);
}

#[test]
fn a_seed_over_its_wall_clock_limit_is_that_seeds_failure() {
    let dir = scratch("timeout");
    // A limit far below one seed's run time makes every seed a "hang".
    let o = clustersim_with_timeout(
        &dir,
        &["sweep", "demo", "--seeds", "0..3", "--keep-going", "--json"],
        Some("0.0001"),
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["seeds_run"], 3);
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{v}");
    assert!(
        failures.iter().all(|f| f["checker"] == "wall_clock_limit"),
        "{v}"
    );
    let artifact = failures[0]["artifact"].as_str().unwrap();
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(artifact)).unwrap()).unwrap();
    assert!(a["trace_hash"].is_null(), "{a}");

    // With the usual limit the seed finishes: the hang does not reproduce.
    let o = clustersim(&dir, &["replay", artifact]);
    assert_eq!(o.code, 1);
    assert!(o
        .stdout
        .contains("the original run never finished, but the replay did"));
    assert!(
        o.stdout.contains("NOT reproduced: wall_clock_limit"),
        "{}",
        o.stdout
    );
    // And a hang is not shrunk.
    let o = clustersim(&dir, &["shrink", artifact]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("is not shrunk"), "{}", o.stderr);
}

#[test]
fn bench_rejects_bad_input_with_one_line() {
    let dir = scratch("bench-bad");
    let b = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["bench", "ack-rounds"];
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bench"], "<WHICH>"),
        (vec!["bench", "nope"], "invalid value 'nope'"),
        (b(&["--nodes", "0"]), "an ACK round needs at least 2 nodes"),
        (b(&["--nodes", "1"]), "an ACK round needs at least 2 nodes"),
        (b(&["--nodes", "x"]), "'x' is not a number of nodes"),
        (b(&["--nodes", "5000"]), "at most 1000 nodes"),
        (b(&["--rounds", "0"]), "at least 1"),
        (b(&["--latency-ms", "5..1"]), "reversed latency range 5..1"),
        (b(&["--latency-ms", "1-5"]), "not a latency range LO..HI"),
        (b(&["--latency-ms", "0..5"]), "outside 0.001..60000 ms"),
        (b(&["--latency-ms", "1..x"]), "'x' is not a latency in ms"),
        (b(&["--faults", "bogus"]), "invalid value 'bogus'"),
        (b(&["--seed", "x"]), "invalid value 'x' for '--seed <S>'"),
    ];
    for (args, want) in &cases {
        assert_usage_error(&dir, args, want);
    }
}

#[test]
fn bench_fails_early_on_an_unwritable_report_dir_and_loses_nothing() {
    let dir = scratch("bench-unwritable");
    // A file where the report's parent directory would be: no directory can be made.
    std::fs::write(dir.join("taken"), "keep me").unwrap();
    assert_usage_error(
        &dir,
        &[
            "bench",
            "ack-rounds",
            "--rounds",
            "5",
            "--report",
            "taken/out",
        ],
        "cannot write the report to taken/out",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("taken")).unwrap(),
        "keep me"
    );
}

#[test]
fn bench_json_has_the_documented_shape() {
    let dir = scratch("bench-json");
    let o = clustersim(
        &dir,
        &[
            "bench",
            "ack-rounds",
            "--rounds",
            "20",
            "--latency-ms",
            "2..2",
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "capacity_rounds_per_sim_s",
            "command",
            "concurrency",
            "coordinators",
            "cost_model",
            "curves",
            "faults",
            "latency_ms",
            "nodes",
            "rounds_requested",
            "run",
            "seed",
            "sizes",
            "speed",
            "targets",
            "variant",
            "variants",
            "version",
            "without_cost",
            "work_threads"
        ]
    );
    assert_eq!(v["version"], 2);
    assert_eq!(
        keys(&v["run"]),
        [
            "beyond_independent",
            "critical_path_floor",
            "excess",
            "independent_floor",
            "latency",
            "latency_over_critical_path_floor",
            "latency_over_independent_floor",
            "rounds",
            "rounds_per_sim_s",
            "variant"
        ]
    );
    assert_eq!(
        keys(&v["run"]["latency"]),
        ["count", "max", "mean", "p50", "p90", "p99", "p999"]
    );
    assert_eq!(
        keys(&v["run"]["latency_over_independent_floor"]),
        ["max", "p50", "p90", "p99", "p999"]
    );
    assert_eq!(
        (v["nodes"].as_u64(), v["run"]["rounds"].as_u64()),
        (Some(5), Some(20))
    );
    assert_eq!(v["variant"], "ordered");
    assert!(v["cost_model"].is_null());
    // Constant 2 ms links: four trips a round on the critical path, two on any path (to
    // the histogram's precision).
    let run = &v["run"];
    let p50 = run["critical_path_floor"]["p50"].as_u64().unwrap();
    assert!((8_000_000..8_010_000).contains(&p50), "{p50}");
    let p50 = run["independent_floor"]["p50"].as_u64().unwrap();
    assert!((4_000_000..4_005_000).contains(&p50), "{p50}");
    assert!(
        run["latency"]["p99"].as_u64().unwrap()
            >= run["critical_path_floor"]["p99"].as_u64().unwrap()
    );
    assert!(run["rounds_per_sim_s"].as_f64().unwrap() > 0.0);
    for k in [
        "sim_per_wall",
        "msgs_per_wall_s",
        "endpoint_msgs_per_wall_s",
    ] {
        assert!(v["speed"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    let targets = v["targets"].as_array().unwrap();
    assert!(targets.iter().any(|t| t["what"]
        .as_str()
        .unwrap()
        .starts_with("ordered p99 / protocol-independent floor")
        && t["measured"].as_f64().unwrap() > 1.9));
}

#[test]
fn bench_runs_the_direct_variant_under_load_and_cost() {
    let dir = scratch("bench-direct");
    let o = clustersim(
        &dir,
        &[
            "bench",
            "ack-rounds",
            "--rounds",
            "200",
            "--variant",
            "direct",
            "--concurrency",
            "4",
            "--coordinators",
            "2",
            "--service-us",
            "500",
            "--service-dist",
            "exponential",
            "--cores",
            "2",
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["variant"], "direct");
    assert_eq!(
        (v["concurrency"].as_u64(), v["coordinators"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(v["cost_model"]["cores_per_node"], 2);
    assert_eq!(v["cost_model"]["service"]["distribution"], "exponential");
    assert_eq!(v["cost_model"]["service"]["mean_service_time_us"], 500);
    // Two cores of 500 us each: 4000 rounds per simulated second at most.
    assert_eq!(v["capacity_rounds_per_sim_s"].as_f64(), Some(4000.0));
    let x = v["run"]["rounds_per_sim_s"].as_f64().unwrap();
    assert!(x > 0.0 && x <= 4000.0 * 1.05, "{x}");
    // Processing shows as excess over the floors.
    assert!(v["run"]["excess"]["p50"].as_u64().unwrap() >= 500_000);
    assert!(v["command"]
        .as_str()
        .unwrap()
        .contains("--variant direct --concurrency 4 --coordinators 2 --service-us 500 --service-dist exponential --cores 2"));
}

#[test]
fn bench_rejects_a_cost_model_it_cannot_build() {
    let dir = scratch("bench-bad-cost");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--cores", "2"],
            "--cores and --service-dist need --service-us",
        ),
        (vec!["--service-us", "0"], "at least 1 us"),
        (vec!["--service-us", "x"], "'x' is not a service time in us"),
        (
            vec!["--service-us", "300..100"],
            "reversed service-time range",
        ),
        (
            vec!["--service-us", "100..300", "--service-dist", "constant"],
            "a constant service time takes one value",
        ),
        (vec!["--service-us", "200", "--cores", "0"], "--cores"),
        (vec!["--concurrency", "0"], "--concurrency"),
        (
            vec!["--coordinators", "6"],
            "--coordinators 6 exceeds --nodes 5",
        ),
        (vec!["--variant", "sideways"], "invalid value 'sideways'"),
    ];
    for (extra, want) in &cases {
        let mut args = vec!["bench", "ack-rounds"];
        args.extend_from_slice(extra);
        assert_usage_error(&dir, &args, want);
    }
}

#[test]
fn bench_report_writes_every_file() {
    let dir = scratch("bench-report");
    std::fs::create_dir_all(dir.join("rep")).unwrap();
    std::fs::write(dir.join("rep/notes.txt"), "mine").unwrap();
    let o = clustersim(
        &dir,
        &["bench", "ack-rounds", "--rounds", "5", "--report", "rep"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("report: rep/report.md"), "{}", o.stdout);
    let read = |f: &str| std::fs::read_to_string(dir.join("rep").join(f)).unwrap();
    let md = read("report.md");
    assert!(md.contains("| measured / critical-path floor |"), "{md}");
    assert!(md.contains("| measured / independent floor |"), "{md}");
    assert!(md.contains("## Variants side by side"), "{md}");
    assert!(
        md.contains("## Where the ordered variant's extra hops go"),
        "{md}"
    );
    for n in ["| 3 |", "| 5 |", "| 9 |", "| 17 |", "| 33 |", "| 65 |"] {
        assert!(md.contains(n), "no {n} row in:\n{md}");
    }
    assert!(md.contains("clustersim bench ack-rounds --nodes 5 --rounds 5"));
    let json: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    assert_eq!(json["sizes"].as_array().unwrap().len(), 6);
    let variants: Vec<&str> = json["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["ordered", "direct"]);
    assert!(read("latency.hlog").starts_with("#clustersim"));
    for svg in ["latency-percentiles.svg", "scaling.svg"] {
        assert!(read(svg).trim_end().ends_with("</svg>"), "{svg}");
    }
    assert_eq!(read("notes.txt"), "mine", "other files are left alone");
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("rep"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bench_report_with_a_cost_model_draws_the_throughput_latency_curve() {
    let dir = scratch("bench-curve");
    let o = clustersim(
        &dir,
        &[
            "bench",
            "ack-rounds",
            "--rounds",
            "20",
            "--service-us",
            "2000",
            "--cores",
            "1",
            "--report",
            "rep",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let read = |f: &str| std::fs::read_to_string(dir.join("rep").join(f)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    // One core of 2 ms: 500 rounds per simulated second.
    assert_eq!(json["capacity_rounds_per_sim_s"].as_f64(), Some(500.0));
    let curves = json["curves"].as_array().unwrap();
    assert_eq!(curves.len(), 2);
    for c in curves {
        assert_eq!(c["saturated"], true, "{c}");
        let points = c["points"].as_array().unwrap();
        let ks: Vec<u64> = points
            .iter()
            .map(|p| p["concurrency"].as_u64().unwrap())
            .collect();
        assert_eq!(ks[..3], [1, 2, 4], "{c}");
        let best = points
            .iter()
            .map(|p| p["rounds_per_sim_s"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!((400.0..=505.0).contains(&best), "{c}");
    }
    // The protocols alone, beside the run with its cost.
    assert_eq!(json["without_cost"].as_array().unwrap().len(), 2);
    let md = read("report.md");
    assert!(md.contains("## Throughput and latency under load"), "{md}");
    assert!(
        md.contains("saturation throughput / analytical capacity"),
        "{md}"
    );
    let svg = read("throughput-latency.svg");
    assert!(svg.contains("analytical capacity, 500/s"), "{svg}");
}
