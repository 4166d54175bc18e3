//! Checks the trace hashes a document's console transcripts print against the runs
//! themselves, so a guide cannot go on showing a run the code no longer makes.
//!
//! A transcript is a fenced `console` block; a command in it is a line
//! `$ cargo run -q -p CRATE --bin BIN -- ARGS`. For `run SCENARIO --seed N [--mutant BUG]`
//! and for `replay artifacts/SCENARIO-N[-BUG].json` (a sweep's artifact names its seed and
//! bug), the `trace-hash:` line that follows in the same block is the hash of that seed's
//! run. Shrunk artifacts and other commands are not checked: their runs are not named by
//! a seed alone.

use sim::{Catalog, RunSpec};

/// One hash a transcript prints for one seed's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashClaim {
    /// The document's line of the `trace-hash:` (1-based).
    pub line: usize,
    pub scenario: String,
    pub seed: u64,
    pub mutant: Option<String>,
    pub hash: String,
}

/// The hashes printed after the commands of `bin` in `markdown`'s console blocks. An
/// artifact name is matched against `scenarios` (names may hold dashes) to split it.
pub fn hash_claims(markdown: &str, bin: &str, scenarios: &[&str]) -> Vec<HashClaim> {
    let prefix = format!("--bin {bin} -- ");
    let mut out = Vec::new();
    let mut in_console = false;
    let mut current: Option<(String, u64, Option<String>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_console = !in_console && trimmed == "```console";
            current = None;
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = trimmed.strip_prefix("$ ") {
            current = cmd
                .split_once(&prefix)
                .and_then(|(_, args)| named_run(args, scenarios));
        } else if let (Some(hash), Some((scenario, seed, mutant))) =
            (trimmed.strip_prefix("trace-hash: "), &current)
        {
            out.push(HashClaim {
                line: i + 1,
                scenario: scenario.clone(),
                seed: *seed,
                mutant: mutant.clone(),
                hash: hash.to_string(),
            });
        }
    }
    out
}

/// The seed run a command's arguments name: `run SCENARIO --seed N [--mutant BUG]`, or
/// `replay artifacts/SCENARIO-N[-BUG].json`.
fn named_run(args: &str, scenarios: &[&str]) -> Option<(String, u64, Option<String>)> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let flag = |name: &str| {
        words
            .windows(2)
            .find(|w| w[0] == name)
            .map(|w| w[1].to_string())
    };
    match *words.first()? {
        "run" => Some((
            words.get(1)?.to_string(),
            flag("--seed")?.parse().ok()?,
            flag("--mutant"),
        )),
        "replay" => {
            let file = words
                .get(1)?
                .strip_prefix("artifacts/")?
                .strip_suffix(".json")?;
            // The longest scenario name the file starts with, then `-SEED`, then the bug.
            let scenario = scenarios
                .iter()
                .filter(|s| file.starts_with(&format!("{s}-")))
                .max_by_key(|s| s.len())?;
            let rest = &file[scenario.len() + 1..];
            let (seed, mutant) = match rest.split_once('-') {
                Some((seed, bug)) => (seed, Some(bug.to_string())),
                None => (rest, None),
            };
            Some((scenario.to_string(), seed.parse().ok()?, mutant))
        }
        _ => None,
    }
}

/// Runs each claim's seed from `catalog` and returns one line per hash that differs (or
/// run that fails to start), naming the document line to rerun.
pub fn check_hash_claims(claims: &[HashClaim], catalog: &Catalog) -> Vec<String> {
    let mut wrong = Vec::new();
    for c in claims {
        let run = catalog.find(&c.scenario).and_then(|s| {
            sim::scenario::run_checked(s.as_ref(), &RunSpec::swarm(c.seed), c.mutant.as_deref())
        });
        match run.map(|r| sim::trace::hash_hex(r.trace.hash)) {
            Ok(hash) if hash == c.hash => {}
            Ok(hash) => wrong.push(format!(
                "line {}: {} seed {}{} prints trace-hash {}, the run's is {hash}",
                c.line,
                c.scenario,
                c.seed,
                c.mutant
                    .as_ref()
                    .map(|m| format!(" --mutant {m}"))
                    .unwrap_or_default(),
                c.hash,
            )),
            Err(e) => wrong.push(format!("line {}: {e}", c.line)),
        }
    }
    wrong
}

/// For a document's test: panics, listing each line to rerun, unless every hash the
/// transcripts of `bin` in `markdown` print is its run's (and at least one is printed, so
/// a renamed binary does not silently check nothing).
pub fn assert_hashes_hold(markdown: &str, bin: &str, catalog: &Catalog) {
    let names: Vec<&str> = catalog.scenarios().map(|s| s.name()).collect();
    let claims = hash_claims(markdown, bin, &names);
    assert!(
        !claims.is_empty(),
        "no trace hash printed after a {bin} command"
    );
    let wrong = check_hash_claims(&claims, catalog);
    assert!(
        wrong.is_empty(),
        "the document is out of date (rerun its commands):\n{}",
        wrong.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_hashes_after_run_and_replay_commands_only() {
        let doc = "\
```console
$ cargo run -q -p x --bin sim-x -- run kv-register --seed 3
verdict: PASS
trace-hash: 00aa
$ cargo run -q -p x --bin sim-x -- replay artifacts/kv-register-386-stale-read.json
trace-hash: 00bb
$ cargo run -q -p x --bin sim-x -- replay artifacts/small.json
trace-hash: 00cc
```

```text
$ cargo run -q -p x --bin sim-x -- run kv-register --seed 4
trace-hash: 00dd
```
";
        let claims = hash_claims(doc, "sim-x", &["kv", "kv-register"]);
        let got: Vec<_> = claims
            .iter()
            .map(|c| {
                (
                    c.scenario.as_str(),
                    c.seed,
                    c.mutant.as_deref(),
                    c.hash.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("kv-register", 3, None, "00aa"),
                ("kv-register", 386, Some("stale-read"), "00bb"),
            ]
        );
        assert_eq!(claims[0].line, 4);
    }
}
