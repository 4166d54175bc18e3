//! README's commands, exactly as written: every `clustersim` line of its `sh` blocks runs,
//! in order, in one directory, with `clustersim` on the PATH as README's set-up line puts
//! it there, and exits with the code its comment gives (`# exit N`; 0 when it says none).
//! The `cargo` lines (the two commands, the set-up) are what `.ci/run` runs, word for word.
//! README's exit-code table is the one `--help` prints, and the JSON examples of
//! `docs/cli-json.md` have the shapes the commands print.

use std::path::{Path, PathBuf};
use std::process::Command;

/// README's set-up line, which this test stands in for by putting the binary that the
/// test build made (the same profile and features) on the PATH.
const INSTALL: &str = "cargo install --path scenarios --debug --locked";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// The lines of README's ```sh blocks, each split into the command and its comment.
fn sh_lines(readme: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh || line.trim().is_empty() {
            continue;
        }
        let (cmd, comment) = match line.find(" #") {
            Some(i) => (&line[..i], line[i + 2..].trim()),
            None => (line, ""),
        };
        out.push((cmd.trim().to_string(), comment.to_string()));
    }
    out
}

/// The exit code a comment promises: `exit N` anywhere in it, else 0.
fn expected_exit(comment: &str) -> i32 {
    comment
        .split_once("exit ")
        .and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn readme_commands_run_as_written() {
    let readme = readme();
    let lines = sh_lines(&readme);
    assert!(lines.len() >= 15, "README's sh blocks: {lines:?}");
    let ci = std::fs::read_to_string(workspace().join(".ci/run")).unwrap();
    let mut cargo_lines = vec![];
    let mut clustersim_lines = vec![];
    for (cmd, comment) in &lines {
        if cmd.starts_with("cargo ") {
            cargo_lines.push(cmd.clone());
        } else {
            assert!(
                cmd.starts_with("clustersim "),
                "README has a command this test does not know how to run: {cmd}"
            );
            clustersim_lines.push((cmd.clone(), expected_exit(comment)));
        }
    }
    // The two commands and the set-up, each run by CI exactly as README gives it.
    assert_eq!(
        cargo_lines,
        [
            "cargo run -p scenarios --bin clustersim -- sweep --all --seeds 0..1000",
            "cargo nextest run --workspace",
            INSTALL
        ]
    );
    for cmd in &cargo_lines {
        assert!(
            ci.lines().any(|l| l.trim() == cmd.as_str()),
            ".ci/run does not run README's command `{cmd}` as written"
        );
    }

    // The set-up: `clustersim` on the PATH.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = tmp.join("readme-bin");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_clustersim"), bin.join("clustersim")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tmp.join("readme-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    for (cmd, want) in &clustersim_lines {
        let t0 = std::time::Instant::now();
        let out = Command::new("sh")
            .args(["-c", cmd])
            .current_dir(&dir)
            .env("PATH", &path)
            .env_remove("CLUSTERSIM_SEED_TIMEOUT_S")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(*want),
            "`{cmd}` should exit {want}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "`{cmd}`:\n{stderr}");
        eprintln!("{:6.1}s  exit {want}  {cmd}", t0.elapsed().as_secs_f64());
    }
    // What README says the walkthrough leaves behind is there.
    for f in [
        "artifacts/demo-1-demo-double-answer.json",
        "artifacts/demo-1-demo-double-answer.shrunk.json",
        "artifacts/demo-62-demo-busy-hang.json",
        "bench-out/report.md",
        "t.jsonl",
    ] {
        assert!(dir.join(f).exists(), "README's commands did not write {f}");
    }
}

#[test]
fn readme_shows_the_exit_codes_that_help_prints() {
    let readme = readme();
    assert!(
        readme.contains(scenarios::cli::EXIT_CODES),
        "README's exit-code table differs from scenarios::cli::EXIT_CODES"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_clustersim"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains(scenarios::cli::EXIT_CODES));
}

#[test]
fn readme_comments_give_exit_codes() {
    assert_eq!(expected_exit("exit 4: seeds 62 and 63 time out"), 4);
    assert_eq!(expected_exit("scenarios and planted bugs"), 0);
    assert_eq!(expected_exit("exit 130"), 130);
    let lines = sh_lines("```sh\nclustersim a   # exit 1: x\n```\n```text\nnot sh\n```\n");
    assert_eq!(
        lines,
        [("clustersim a".to_string(), "exit 1: x".to_string())]
    );
}

#[test]
fn the_json_examples_in_the_docs_have_the_documented_shapes() {
    use scenarios::cli::json::{ListJson, SweepJson, JSON_VERSION};
    let doc = std::fs::read_to_string(workspace().join("docs/cli-json.md")).unwrap();
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => b.push_str(l),
            _ => {}
        }
    }
    assert_eq!(
        blocks.len(),
        4,
        "the list example, two sweep examples and a bench report"
    );
    // Each example parses into its type, which refuses unknown fields and needs every
    // field, and the type writes it back unchanged.
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(text: &str) -> T {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let t: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(serde_json::to_value(&t).unwrap(), v);
        t
    }
    let list: ListJson = round_trip(&blocks[0]);
    assert_eq!(list.version, JSON_VERSION);
    for b in &blocks[1..3] {
        let s: SweepJson = round_trip(b);
        assert_eq!(s.version, JSON_VERSION);
    }
    let bench: benches::report::Report = round_trip(&blocks[3]);
    assert_eq!(bench.version, benches::report::REPORT_VERSION);
    // Every field of the report is in the document's table.
    for key in serde_json::to_value(&bench)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "{key} is not described"
        );
    }
    // Every field of the sweep's type is in the document's table.
    let sweep: serde_json::Value = serde_json::from_str(&blocks[1]).unwrap();
    for key in sweep.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "{key} is not described"
        );
    }
}
