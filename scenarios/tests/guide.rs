//! Part II of the guide (`docs/guide.md`) teaches with the built-in `kv-register`
//! scenario: the scenarios and planted bugs its `clustersim` commands name must be in the
//! built-in catalog, and it must quote the scenario's state machine and service, clients,
//! events, checker and registration. (Whether each quoted block is the file's code, line
//! for line, is `examples/register/tests/guide.rs`'s check, for both parts.)

use std::path::Path;

fn guide() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/guide.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn word(w: &str) -> &str {
    w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
}

#[test]
fn the_scenarios_and_bugs_the_guide_runs_are_in_the_builtin_catalog() {
    let catalog = scenarios::catalog();
    let mut named = 0;
    let guide = guide();
    let commands = guide
        .lines()
        .filter_map(|l| l.split_once("--bin clustersim -- ").map(|(_, args)| args));
    for args in commands {
        let words: Vec<&str> = args.split_whitespace().collect();
        for pair in words.windows(2) {
            if pair[0] == "--mutant" {
                let bug = word(pair[1]);
                assert!(
                    catalog
                        .scenarios()
                        .any(|s| s.mutants().iter().any(|m| m.name == bug)),
                    "the guide runs --mutant {bug}, which no built-in scenario has"
                );
                named += 1;
            }
            if matches!(pair[0], "run" | "sweep" | "check-determinism") {
                let name = word(pair[1]);
                assert!(
                    catalog.find(name).is_ok(),
                    "the guide runs scenario {name}, which the built-in catalog does not have"
                );
                named += 1;
            }
        }
    }
    assert!(
        named >= 4,
        "the guide runs {named} built-in scenarios and bugs"
    );
}

#[test]
fn part_two_quotes_every_piece_of_the_kv_register() {
    let guide = guide();
    for file in [
        "service.rs",
        "client.rs",
        "events.rs",
        "checker.rs",
        "mod.rs",
    ] {
        let marker = format!("<!-- from scenarios/src/kv_register/{file} -->");
        assert!(
            guide.contains(&marker),
            "the guide quotes nothing of {file}"
        );
    }
}

/// Every trace hash Part II prints after a `clustersim` run or replay of a named seed is
/// that seed's hash today: a change that moves a trace must rerun the guide's transcripts.
#[test]
fn the_trace_hashes_the_guide_prints_are_the_runs_own() {
    clustersim::transcripts::assert_hashes_hold(&guide(), "clustersim", &scenarios::catalog());
}
