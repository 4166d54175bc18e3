//! The register crate's own binary, `register-sim`, end to end: the clustersim command line
//! over this crate's catalog. `list` shows its scenarios and planted bug; `sweep` finds the
//! bug and writes an artifact; `replay` reproduces it exactly; `shrink` makes it smaller and
//! the shrunk artifact replays; the gating `sweep --all` leaves the experimental scenario
//! out and passes; and every command it prints names this binary.

use clustersim::json::{ListJson, SweepJson};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn register_sim(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_register-sim"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLUSTERSIM_SEED_TIMEOUT_S")
        .output()
        .expect("run register-sim");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("register-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The one artifact a sweep that stopped at its first failure wrote.
fn only_artifact(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn list_shows_the_crates_own_catalog() {
    let dir = scratch("list");
    let o = register_sim(&dir, &["list", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let list: ListJson = serde_json::from_str(o.stdout.trim()).unwrap();
    let names: Vec<(&str, bool)> = list
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.experimental))
        .collect();
    assert_eq!(names, [("register", false), ("register-fast-reads", true)]);
    assert_eq!(list.scenarios[0].checkers, ["linearizable"]);
    assert!(list
        .mutants
        .iter()
        .any(|m| m.name == register::MUTANT_ACK_ONE && m.scenario == "register"));
    let o = register_sim(&dir, &["list"]);
    assert!(
        o.stdout.contains("[experimental: not in --all]"),
        "{}",
        o.stdout
    );
    // Help names the binary, and the built-in catalog's bench command is not there.
    let o = register_sim(&dir, &["--help"]);
    assert!(o.stdout.contains("Usage: register-sim"), "{}", o.stdout);
    assert!(!o.stdout.contains("bench"), "{}", o.stdout);
}

#[test]
fn sweep_finds_the_planted_bug_and_replay_and_shrink_work_on_it() {
    let dir = scratch("bug");
    let bug = register::MUTANT_ACK_ONE;
    let o = register_sim(
        &dir,
        &["sweep", "register", "--seeds", "0..200", "--mutant", bug],
    );
    assert_eq!(
        o.code, 1,
        "the sweep found nothing:\n{}{}",
        o.stdout, o.stderr
    );
    let fail = o
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL register seed"))
        .unwrap();
    assert!(fail.contains("linearizable violated"), "{fail}");
    assert!(fail.contains("not linearizable"), "{fail}");
    let artifact = only_artifact(&dir.join("artifacts"));
    let rel = artifact.strip_prefix(&dir).unwrap().display().to_string();
    assert!(
        o.stdout
            .contains(&format!("replay: register-sim replay {rel}")),
        "{}",
        o.stdout
    );

    let o = register_sim(&dir, &["replay", &rel, "--out", "trace.txt"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("trace hash matches the artifact's"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("reproduced: linearizable failed again"),
        "{}",
        o.stdout
    );
    let trace = std::fs::read_to_string(dir.join("trace.txt")).unwrap();
    assert!(
        trace.contains("register.write_ok"),
        "the trace has the register's events"
    );

    let o = register_sim(&dir, &["shrink", &rel, "--out", "small.json"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("small.json")).unwrap()).unwrap();
    let faults = |v: &serde_json::Value| v["fault_plan"]["faults"].as_array().unwrap().len();
    assert!(faults(&after) < faults(&before), "{after}");
    assert!(
        o.stdout.contains("replay: register-sim replay small.json"),
        "{}",
        o.stdout
    );
    let o = register_sim(&dir, &["replay", "small.json"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("reproduced: linearizable failed again"),
        "{}",
        o.stdout
    );
}

#[test]
fn the_gating_sweep_passes_and_leaves_the_experimental_scenario_out() {
    let dir = scratch("all");
    let o = register_sim(&dir, &["sweep", "--all", "--seeds", "0..100", "--json"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let sweep: SweepJson = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(sweep.scenarios, ["register"]);
    assert_eq!(sweep.seeds_run, 100);
    let o = register_sim(&dir, &["check-determinism", "--all", "--seeds", "0..10"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // Named, the experimental scenario runs, and its flaw shows: a stale read.
    let o = register_sim(&dir, &["sweep", "register-fast-reads", "--seeds", "0..200"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("FAIL register-fast-reads seed"),
        "{}",
        o.stdout
    );
}
