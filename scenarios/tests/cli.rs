//! The `clustersim` binary end to end: every bad input exits 2 with one line on stderr;
//! list, run, sweep, replay, shrink and check-determinism do what they promise, with the
//! documented exit codes (one test per code), streams and JSON shapes.

use scenarios::cli::json::{ListJson, SweepJson, JSON_VERSION};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` (artifacts land there), with the default per-seed limit.
fn clustersim(dir: &Path, args: &[&str]) -> Out {
    clustersim_env(dir, args, &[])
}

/// Runs the binary with `env` set on top of a clean per-seed limit.
fn clustersim_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clustersim"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CLUSTERSIM_SEED_TIMEOUT_S");
    for (k, v) in env {
        cmd.env(k, v);
    }
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

/// Parses a sweep's `--json` output into its documented type (which refuses unknown
/// fields) and checks that the type writes back exactly what was printed: the output has
/// the documented shape, no more and no less.
fn sweep_json(o: &Out) -> SweepJson {
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{}", o.stdout));
    let typed: SweepJson = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not the documented shape ({e}):\n{v}"));
    assert_eq!(serde_json::to_value(&typed).unwrap(), v);
    assert_eq!(typed.version, JSON_VERSION);
    typed
}

fn assert_usage_error(dir: &Path, args: &[&str], want: &str) {
    assert_usage_error_env(dir, args, &[], want)
}

fn assert_usage_error_env(dir: &Path, args: &[&str], env: &[(&str, &str)], want: &str) {
    let o = clustersim_env(dir, args, env);
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
fn exit_2_every_bad_input_is_one_line() {
    let dir = scratch("bad");
    let cases: &[(&[&str], &str)] = &[
        // Missing arguments and commands.
        (&[], "no command given"),
        (&["bogus"], "unrecognized subcommand 'bogus'"),
        (&["run", "demo"], "--seed"),
        (&["run", "--seed", "1"], "<SCENARIO>"),
        (&["sweep", "demo"], "--seeds"),
        (&["sweep", "--seeds", "0..10"], "no scenario given"),
        (&["sweep", "--seeds", "0..10"], "or pass --all"),
        (
            &["sweep", "demo", "--all", "--seeds", "0..3"],
            "cannot be used with '--all'",
        ),
        (&["replay"], "<ARTIFACT>"),
        (&["shrink"], "<ARTIFACT>"),
        (&["check-determinism", "demo"], "--seeds"),
        (&["check-determinism", "--seeds", "0..3"], "or pass --all"),
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
        (
            &["run", "demo", "--seed", "1", "--seed-timeout-s", "0"],
            "'0' is not a positive number of seconds",
        ),
        (
            &[
                "sweep",
                "demo",
                "--seeds",
                "0..2",
                "--seed-timeout-s",
                "soon",
            ],
            "'soon' is not a positive number of seconds",
        ),
        // Empty, reversed, unparsable and too large ranges.
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
            &["sweep", "demo", "--seeds", "1..18446744073709551617"],
            "18446744073709551617 is past the last seed",
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
    // The per-seed limit from the environment is checked like the flag.
    assert_usage_error_env(
        &dir,
        &["run", "demo", "--seed", "1"],
        &[("CLUSTERSIM_SEED_TIMEOUT_S", "-3")],
        "'-3' is not a positive number of seconds",
    );

    // Malformed artifacts: not JSON, a missing field, a wrong version, an unknown
    // scenario, bug or checker, a plan that does not fit the world, a bad hash.
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
            "checker.json",
            GOOD_ARTIFACT.replace("answered_once", "answered_twice"),
            "unknown checker 'answered_twice' for scenario 'demo'",
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

    // Places that cannot be written: an artifact directory, a trace file or a shrunk
    // artifact under a file. The shrink is refused before its search starts.
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
    assert_usage_error(
        &dir,
        &["run", "demo", "--seed", "1", "--out", "garbage.json/t.txt"],
        "cannot write garbage.json/t.txt",
    );
    std::fs::write(dir.join("good.json"), GOOD_ARTIFACT).unwrap();
    let t0 = std::time::Instant::now();
    assert_usage_error(
        &dir,
        &["shrink", "good.json", "--out", "/proc/x/y.json"],
        "cannot write /proc/x/y.json",
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn list_shows_scenarios_and_planted_bugs_and_its_json_has_the_documented_shape() {
    let dir = scratch("list");
    let o = clustersim(&dir, &["list"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("demo"), "{}", o.stdout);
    assert!(o.stdout.contains("demo-double-answer"), "{}", o.stdout);
    assert!(o.stdout.contains("demo-busy-hang"), "{}", o.stdout);

    let o = clustersim(&dir, &["list", "--json"]);
    assert_eq!(o.code, 0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let list: ListJson = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&list).unwrap(), v);
    assert_eq!(list.version, JSON_VERSION);
    assert_eq!(list.scenarios.len(), scenarios::catalog().len());
    let demo = list.scenarios.iter().find(|s| s.name == "demo").unwrap();
    assert_eq!(demo.checkers, ["answered_once", "answered_after_heal"]);
    assert!(list.mutants.iter().any(|m| m.name == "demo-no-watchdog"));
    for m in &list.mutants {
        assert!(list.scenarios.iter().any(|s| s.name == m.scenario), "{m:?}");
    }
}

#[test]
fn run_prints_plan_verdict_and_hash_and_machine_traces_are_alone_on_stdout() {
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

    // `--trace json` on stdout: every line is one JSON object (`| jq .` works), and the
    // human lines went to stderr.
    let o = clustersim(&dir, &["run", "demo", "--seed", "3", "--trace", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let events: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.len() > 100);
    assert_eq!(events[0]["event"], "world.start");
    assert_eq!(line_with(&o.stderr, "trace-hash: "), hash);
    assert!(o.stderr.contains("verdict: PASS") && o.stderr.contains("fault plan:"));

    // `--trace chrome` on stdout: one JSON document, nothing else.
    let o = clustersim(&dir, &["run", "demo", "--seed", "3", "--trace", "chrome"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let chrome: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(chrome["traceEvents"].as_array().unwrap().len() > 100);
    assert_eq!(line_with(&o.stderr, "trace-hash: "), hash);

    // With --out the trace goes to the file and the report stays on stdout.
    let o = clustersim(
        &dir,
        &[
            "run", "demo", "--seed", "3", "--trace", "json", "--out", "t.jsonl",
        ],
    );
    assert_eq!(o.code, 0);
    assert_eq!(line_with(&o.stdout, "trace-hash: "), hash);
    let jsonl = std::fs::read_to_string(dir.join("t.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), events.len());
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "world.start");
    assert_eq!(first["index"], 0);

    // --no-swarm enables every fault kind.
    let o = clustersim(&dir, &["run", "demo", "--seed", "3", "--no-swarm"]);
    assert!(
        o.stdout.contains("enabled: crash, partition, clog"),
        "{}",
        o.stdout
    );
}

#[test]
fn exit_0_a_passing_sweep_shards_partition_the_range_and_json_has_the_documented_shape() {
    let dir = scratch("sweep");
    let o = clustersim(&dir, &["sweep", "demo", "--seeds", "0..24", "--jobs", "2"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("seeds run: 24 of 24, failures: 0, timeouts: 0"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("seeds/s"), "{}", o.stdout);
    assert!(o.stdout.contains("simulated time: 720.0s"), "{}", o.stdout);
    assert!(o.stdout.contains("fault kind"), "{}", o.stdout);
    assert!(line_with(&o.stdout, "work_thread").len() > "work_thread".len());

    let o = clustersim(&dir, &["sweep", "--all", "--seeds", "0..6", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = sweep_json(&o);
    let n = scenarios::catalog().len() as u64;
    assert_eq!((j.seeds_requested, j.seeds_run), (6 * n, 6 * n));
    assert_eq!(j.scenarios.len() as u64, n);
    assert_eq!(j.per_scenario.len() as u64, n);
    assert!(j.per_scenario.values().all(|s| s.seeds_run == 6));
    assert!(j.failures.is_empty() && j.timeouts.is_empty());
    // Every engine scenario reports the load each seed picked, one level per seed, and
    // counts work-thread faults; the others report no counters.
    for (name, s) in &j.per_scenario {
        let loads: u64 = ["load.idle", "load.steady", "load.bursty"]
            .iter()
            .filter_map(|k| s.counters.get(*k))
            .map(|c| c.total)
            .sum();
        if ["membership", "ack-rounds", "ack-rounds-direct", "groups"].contains(&name.as_str()) {
            assert_eq!(loads, 6, "{name}: {:?}", s.counters);
            assert!(s.counters.iter().all(|(_, c)| c.seeds <= c.total), "{name}");
        } else {
            assert!(s.counters.is_empty(), "{name}: {:?}", s.counters);
        }
    }
    assert!(!j.stopped_early && !j.interrupted && j.next_seed.is_none());
    assert_eq!((j.mutant, j.seeds.as_str()), (None, "0..6"));
    assert_eq!(j.coverage.len(), sim::FaultKind::ALL.len());
    // The human summary went to stderr.
    let run = format!("seeds run: {} of {}", 6 * n, 6 * n);
    assert!(o.stderr.contains(&run), "{}", o.stderr);

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
        let j = sweep_json(&o);
        assert_eq!(j.seeds_run, want, "shard {shard}");
        assert_eq!(j.shard.as_deref(), Some(shard.as_str()));
        total += want;
    }
    assert_eq!(total, 10);

    // The last seed there is can be swept.
    let o = clustersim(
        &dir,
        &[
            "sweep",
            "demo",
            "--seeds",
            "18446744073709551615..18446744073709551616",
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(sweep_json(&o).seeds_run, 1);
}

#[test]
fn exit_1_and_3_a_planted_bug_is_found_replayed_and_shrunk() {
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
    let j = sweep_json(&o);
    assert_eq!(j.failures.len(), 1, "stops at the first failure: {j:?}");
    assert!(j.stopped_early && !j.interrupted);
    assert_eq!(j.mutant.as_deref(), Some("demo-double-answer"));
    let f = &j.failures[0];
    assert_eq!(
        (f.scenario.as_str(), f.checker.as_str()),
        ("demo", "answered_once")
    );
    assert_eq!(j.seeds_run, f.seed + 1, "every seed below the failure ran");
    assert_eq!(j.seeds_requested, 200);
    let artifact = f.artifact.clone().unwrap();
    assert_eq!(
        f.replay.as_deref(),
        Some(format!("clustersim replay {artifact}").as_str())
    );
    assert!(
        o.stderr
            .contains(&format!("replay: clustersim replay {artifact}")),
        "{}",
        o.stderr
    );

    // The artifact replays to the same hash: exit 1, "reproduced".
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(&artifact)).unwrap()).unwrap();
    assert_eq!(a["seed"], f.seed);
    assert_eq!(a["mutant"], "demo-double-answer");
    let faults = a["fault_plan"]["faults"].as_array().unwrap().len();
    let o = clustersim(&dir, &["replay", &artifact]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let hash = a["trace_hash"].as_str().unwrap();
    assert_eq!(
        line_with(&o.stdout, "trace-hash: "),
        format!("trace-hash: {hash}")
    );
    assert!(o.stdout.contains("trace hash matches the artifact's"));
    assert!(o.stdout.contains("reproduced: answered_once failed again"));
    assert!(
        o.stdout.contains("demo.request"),
        "the replay prints the trace"
    );
    let at = line_with(&o.stdout, "  at #");
    assert!(at.contains("demo.answered"), "the violating event: {at}");

    // A replay whose trace hash differs from the artifact's is not exact: exit 3.
    let text = std::fs::read_to_string(dir.join(&artifact)).unwrap();
    std::fs::write(
        dir.join("other-hash.json"),
        text.replace(hash, "0000000000000000"),
    )
    .unwrap();
    let o = clustersim(&dir, &["replay", "other-hash.json"]);
    assert_eq!(o.code, 3, "{}", o.stdout);
    assert!(o.stdout.contains("trace hash DIFFERS"), "{}", o.stdout);
    // A failure that does not happen again (the bug switched off): exit 3, or 0 when the
    // pass is what was expected.
    std::fs::write(
        dir.join("fixed.json"),
        text.replace(r#""mutant": "demo-double-answer""#, r#""mutant": null"#),
    )
    .unwrap();
    let o = clustersim(&dir, &["replay", "fixed.json"]);
    assert_eq!(o.code, 3, "{}", o.stdout);
    assert!(o.stdout.contains("NOT reproduced: answered_once"));
    let o = clustersim(&dir, &["replay", "fixed.json", "--expect-pass"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("the failure is gone"), "{}", o.stdout);
    let o = clustersim(&dir, &["replay", &artifact, "--expect-pass"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    // Shrinking a failure that does not reproduce: exit 3.
    let o = clustersim(&dir, &["shrink", "fixed.json"]);
    assert_eq!(o.code, 3, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("does not reproduce"), "{}", o.stderr);

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
        "FAIL demo seed {} [demo-double-answer]: answered_once",
        f.seed
    )));
    assert!(o
        .stdout
        .contains(&format!("replay: clustersim replay {artifact}")));

    // Shrink: exit 0, no more faults than before, the same checker, and it replays; a
    // second shrink of the result writes beside it and leaves it alone.
    let o = clustersim(&dir, &["shrink", &artifact]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let shrunk = artifact.replace(".json", ".shrunk.json");
    assert!(
        o.stdout.contains(&format!("wrote {shrunk}")),
        "{}",
        o.stdout
    );
    let remaining: usize = line_with(&o.stdout, "faults remaining: ")["faults remaining: ".len()..]
        .parse()
        .unwrap();
    assert!(remaining <= faults, "{remaining} > {faults}");
    let small_text = std::fs::read_to_string(dir.join(&shrunk)).unwrap();
    let small: serde_json::Value = serde_json::from_str(&small_text).unwrap();
    assert_eq!(
        small["fault_plan"]["faults"].as_array().unwrap().len(),
        remaining
    );
    assert_eq!(small["checker"], "answered_once");
    let o = clustersim(&dir, &["replay", &shrunk]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("trace hash matches the artifact's"));
    let o = clustersim(&dir, &["shrink", &shrunk]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join(&shrunk)).unwrap(),
        small_text
    );
    assert!(dir
        .join(artifact.replace(".json", ".shrunk.shrunk.json"))
        .exists());
}

#[test]
fn exit_4_a_seed_hung_by_a_planted_infinite_loop_is_a_timeout_not_a_failure() {
    let dir = scratch("timeout");
    // Seeds 62 and 63 take a work-thread hang, which the planted bug turns into a loop
    // that never yields; 60 and 61 pass.
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "demo",
            "--mutant",
            "demo-busy-hang",
            "--seeds",
            "60..64",
            "--json",
            "--seed-timeout-s",
            "0.5",
        ];
        args.extend_from_slice(extra);
        clustersim(&dir, &args)
    };
    let o = sweep(&["--keep-going"]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    let j = sweep_json(&o);
    assert!(
        j.failures.is_empty(),
        "a timeout is no checker's failure: {j:?}"
    );
    let hung: Vec<u64> = j.timeouts.iter().map(|t| t.seed).collect();
    assert_eq!(hung, [62, 63]);
    assert_eq!((j.seeds_run, j.per_scenario["demo"].timeouts), (4, 2));
    let t = &j.timeouts[0];
    assert_eq!(t.checker, "timeout");
    assert!(
        t.explanation.contains("0.5s of CPU time"),
        "{}",
        t.explanation
    );
    assert!(o.stderr.contains("TIMEOUT demo seed 62 [demo-busy-hang]"));
    assert!(o.stderr.contains("also when retried alone"), "{}", o.stderr);

    // The artifact names the timeout and no trace hash; its replay times out again.
    let artifact = t.artifact.clone().unwrap();
    assert_eq!(artifact, "artifacts/demo-62-demo-busy-hang.json");
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(&artifact)).unwrap()).unwrap();
    assert_eq!(a["checker"], "timeout");
    assert!(a["trace_hash"].is_null(), "{a}");
    let o = clustersim(&dir, &["replay", &artifact, "--seed-timeout-s", "0.5"]);
    assert_eq!(o.code, 4, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("reproduced: the seed timed out again"));
    // `run` of the same seed says the same, with the command that reproduces it.
    let o = clustersim(
        &dir,
        &[
            "run",
            "demo",
            "--seed",
            "62",
            "--mutant",
            "demo-busy-hang",
            "--seed-timeout-s",
            "0.5",
        ],
    );
    assert_eq!(o.code, 4, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("verdict: TIMEOUT"), "{}", o.stdout);
    // A timeout is not shrunk: bad input.
    let o = clustersim(&dir, &["shrink", &artifact]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("not shrunk"), "{}", o.stderr);

    // Without --keep-going the sweep stops at the first timeout.
    let j = sweep_json(&sweep(&[]));
    assert!(j.stopped_early);
    assert_eq!((j.seeds_run, j.timeouts.len()), (3, 1));
}

#[test]
fn exit_0_check_determinism_passes() {
    let dir = scratch("determinism");
    let o = clustersim(&dir, &["check-determinism", "--all", "--seeds", "0..8"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("every trace identical"), "{}", o.stdout);
    // A third copy in a child process (the hidden `seed-copy`) matches too.
    let o = clustersim(
        &dir,
        &[
            "check-determinism",
            "client-failover",
            "demo",
            "--seeds",
            "0..3",
            "--child-process",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("checked 6 seeds three times")
            && o.stdout.contains("every trace identical"),
        "{}",
        o.stdout
    );
}

/// Sends `signal` to the child once it has run a while, and waits for it.
fn interrupt_after(
    child: std::process::Child,
    signal: i32,
    after: std::time::Duration,
) -> (i32, String, String) {
    std::thread::sleep(after);
    let pid = child.id() as i32;
    // SAFETY: `pid` is our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    (
        out.status
            .code()
            .expect("an exit code, not death by the signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_clustersim"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLUSTERSIM_SEED_TIMEOUT_S")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn exit_130_sigint_mid_sweep_gives_the_partial_summary_and_whole_artifacts() {
    let dir = scratch("sigint");
    // A planted bug that fails often, so artifacts are being written when the signal
    // comes; far more seeds than can run before it.
    let child = spawn(
        &dir,
        &[
            "sweep",
            "demo",
            "--mutant",
            "demo-double-answer",
            "--seeds",
            "0..1000000",
            "--keep-going",
            "--json",
        ],
    );
    let (code, stdout, stderr) =
        interrupt_after(child, libc::SIGINT, std::time::Duration::from_secs(3));
    assert_eq!(code, 130, "{stderr}");
    let j = sweep_json(&Out {
        code,
        stdout,
        stderr: stderr.clone(),
    });
    assert!(j.interrupted && !j.stopped_early);
    let next = j.next_seed.expect("the seed to resume from");
    assert!(next > 0 && next < 1_000_000, "{next}");
    assert_eq!(
        j.seeds_run, next,
        "every seed below the resume point, no other"
    );
    assert_eq!(j.seeds_requested, 1_000_000);
    assert_eq!(
        j.resume.as_deref(),
        Some(
            format!(
                "clustersim sweep demo --seeds {next}..1000000 --mutant demo-double-answer \
                 --keep-going --json"
            )
            .as_str()
        )
    );
    assert!(!j.failures.is_empty(), "{j:?}");
    assert!(j.failures.iter().all(|f| f.seed < next));
    assert!(stderr.contains("interrupted: the seeds from"), "{stderr}");
    // Every artifact on disk is whole (the reported ones and any written for seeds past
    // the resume point), and no temporary file is left.
    let mut names = vec![];
    for e in std::fs::read_dir(dir.join("artifacts")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a temporary file is left: {name}");
        sim::sweep::Artifact::load(&path).unwrap_or_else(|e| panic!("{e}"));
        names.push(name);
    }
    for f in &j.failures {
        let a = f.artifact.as_deref().unwrap();
        assert!(names.iter().any(|n| a.ends_with(n.as_str())), "{a}");
    }
}

#[test]
fn exit_130_sigterm_stops_a_determinism_check_with_where_to_resume() {
    let dir = scratch("sigterm");
    let child = spawn(
        &dir,
        &["check-determinism", "demo", "--seeds", "0..1000000"],
    );
    let (code, stdout, stderr) =
        interrupt_after(child, libc::SIGTERM, std::time::Duration::from_secs(2));
    assert_eq!(code, 130, "{stdout}{stderr}");
    let resume = line_with(&stdout, "interrupted: the seeds from");
    assert!(
        resume.contains("resume with: clustersim check-determinism demo --seeds "),
        "{resume}"
    );
    assert!(stdout.contains("every trace identical"), "{stdout}");
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
    // Every delivered message wakes its receiver, which polls, and needs a timer for its
    // delivery time unless one already pending covers it (heartbeats, ticks and the work
    // threads add to both).
    let per_msg = |k: &str| v["speed"][k].as_f64().unwrap();
    assert!(
        per_msg("polls_per_msg") >= 1.0,
        "{}",
        per_msg("polls_per_msg")
    );
    let timers = per_msg("timers_per_msg");
    assert!((0.5..3.0).contains(&timers), "{timers}");
    let targets = v["targets"].as_array().unwrap();
    assert!(targets.iter().any(|t| t["what"]
        .as_str()
        .unwrap()
        .starts_with("ordered p99 / protocol-independent floor")
        && t["measured"].as_f64().unwrap() > 1.9));
}

/// Ten transactions in flight at 20 ms of processing each queue a round message some
/// 180 ms behind the others at every member, past the engine's 200 ms phase bound: with
/// a processing cost no phase bound holds, and the bench must not report the queue as a
/// broken guarantee (it once failed ack_round_progress at 0.45 s here).
#[test]
fn bench_under_a_processing_queue_is_no_violation() {
    let dir = scratch("bench-queue");
    let o = clustersim(
        &dir,
        &[
            "bench",
            "ack-rounds",
            "--rounds",
            "200",
            "--concurrency",
            "10",
            "--service-us",
            "20000",
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert!(
        v["run"]["latency"]["p99"].as_u64().unwrap() > 200_000_000,
        "{v}"
    );
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
fn bench_instructions_without_valgrind_is_a_usage_error_before_the_run() {
    let dir = scratch("bench-no-valgrind");
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    assert_usage_error_env(
        &dir,
        &["bench", "ack-rounds", "--rounds", "5", "--instructions"],
        &[("PATH", empty.to_str().unwrap())],
        "--instructions needs valgrind on PATH",
    );
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
