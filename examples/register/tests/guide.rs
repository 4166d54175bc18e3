//! The guide "Test your own protocol" (`docs/guide.md`) quotes this crate's code: every
//! fenced block after a `<!-- from PATH -->` line must occur, line for line (each line
//! trimmed), in the file it names, so the guide cannot drift from the code it teaches.
//! The scenarios and planted bugs its `register-sim` commands name must be in this crate's
//! catalog.

use std::path::{Path, PathBuf};

/// The repository root: this crate is `examples/register`.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn guide() -> String {
    let path = repo_root().join("docs/guide.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced block the guide says it quotes from `path`; `line` is its marker's line (1-based).
struct Quote {
    path: String,
    line: usize,
    body: Vec<String>,
}

/// Every `<!-- from PATH -->` marker of the guide with the fenced block right after it. A
/// marker not followed by a fence, or a fence never closed, is an error: a typo must not
/// silently take a block out of the check.
fn quotes(guide: &str) -> Result<Vec<Quote>, String> {
    let lines: Vec<&str> = guide.lines().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let Some(path) = lines[i]
            .trim()
            .strip_prefix("<!-- from ")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let marker = i + 1;
        let fence = lines
            .get(i + 1)
            .map(|l| l.trim_start())
            .filter(|l| l.starts_with("```"))
            .ok_or_else(|| format!("guide line {marker}: no fenced block after the marker"))?;
        let ticks = fence.len() - fence.trim_start_matches('`').len();
        let close = "`".repeat(ticks);
        let end = (i + 2..lines.len())
            .find(|&j| lines[j].trim() == close)
            .ok_or_else(|| format!("guide line {marker}: the fenced block is never closed"))?;
        out.push(Quote {
            path: path.trim().to_string(),
            line: marker,
            body: lines[i + 2..end]
                .iter()
                .map(|l| l.trim().to_string())
                .collect(),
        });
        i = end + 1;
    }
    Ok(out)
}

/// Whether `block` occurs in `file` as consecutive lines, each compared trimmed.
fn occurs_in(block: &[String], file: &str) -> bool {
    let file: Vec<&str> = file.lines().map(str::trim).collect();
    !block.is_empty()
        && file
            .windows(block.len())
            .any(|w| w.iter().zip(block).all(|(a, b)| *a == b.as_str()))
}

#[test]
fn every_quoted_block_is_the_crates_real_code() {
    let quotes = quotes(&guide()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        quotes.len() >= 5,
        "the guide quotes {} blocks from source; it should show the real code of the \
         protocol, shell, events, checker and registration",
        quotes.len()
    );
    let mut stale = vec![];
    for q in &quotes {
        let path = repo_root().join(&q.path);
        let file = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("guide line {}: cannot read {}: {e}", q.line, path.display())
        });
        if !occurs_in(&q.body, &file) {
            stale.push(format!(
                "guide line {}: the block is not in {} as written:\n{}",
                q.line,
                q.path,
                q.body.join("\n")
            ));
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n\n"));
}

#[test]
fn the_scenarios_and_bugs_the_guide_names_are_in_the_catalog() {
    let guide = guide();
    let catalog = register::catalog();
    let mut named = 0;
    let commands = guide.lines().filter(|l| l.contains("register-sim"));
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        for pair in words.windows(2) {
            if pair[0] == "--mutant" {
                let bug = pair[1].trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
                assert!(
                    catalog
                        .scenarios()
                        .any(|s| s.mutants().iter().any(|m| m.name == bug)),
                    "the guide runs --mutant {bug}, which no scenario of the catalog has"
                );
                named += 1;
            }
            if matches!(pair[0], "run" | "sweep" | "check-determinism")
                && pair[1].starts_with("reg")
            {
                let name = pair[1].trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
                assert!(
                    catalog.find(name).is_ok(),
                    "the guide runs scenario {name}, which the catalog does not have"
                );
                named += 1;
            }
        }
    }
    assert!(named > 0, "the guide runs no scenario of this crate");
}

#[test]
fn a_block_that_drifted_from_its_file_is_caught() {
    let guide = "<!-- from f.rs -->\n```rust\nfn a() {\n    1\n}\n```\n";
    let q = quotes(guide).unwrap();
    assert_eq!(q.len(), 1);
    assert!(occurs_in(&q[0].body, "// x\nfn a() {\n  1\n}\n"));
    assert!(!occurs_in(&q[0].body, "fn a() {\n    2\n}\n"));
    assert!(!occurs_in(&q[0].body, "fn a() {\n\n    1\n}\n"));
    assert!(quotes("<!-- from f.rs -->\ntext\n").is_err());
    assert!(quotes("<!-- from f.rs -->\n```rust\nfn a() {}\n").is_err());
}

/// Every trace hash Part I prints after a `register-sim` run or replay of a named seed is
/// that seed's hash today: a change that moves a trace must rerun the guide's transcripts.
#[test]
fn the_trace_hashes_the_guide_prints_are_the_runs_own() {
    clustersim::transcripts::assert_hashes_hold(&guide(), "register-sim", &register::catalog());
}
