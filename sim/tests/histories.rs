//! The linearizability checker on histories nobody here wrote: Jepsen's etcd logs and
//! key-value histories from the test suite of the Porcupine checker, each with the verdict
//! published checkers agree on (`../shared/histories/`, beside the project's root).

use sim::linearizability::{
    check, parse_jepsen_cas, parse_kv, CasRegister, CheckReport, KvStore, SearchStats,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `shared/histories` in the nearest ancestor of this crate that has one.
fn histories_dir() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/histories"))
        .find(|d| d.is_dir())
}

/// A directory's `VERDICTS`: file name -> linearizable?
fn verdicts(dir: &Path) -> BTreeMap<String, bool> {
    let text = std::fs::read_to_string(dir.join("VERDICTS")).expect("read VERDICTS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once(char::is_whitespace).expect("FILE VERDICT");
            let ok = match verdict.trim() {
                "linearizable" => true,
                "not-linearizable" => false,
                v => panic!("unknown verdict {v:?} in {}", dir.display()),
            };
            (file.to_string(), ok)
        })
        .collect()
}

/// Checks every file of `sub` against its published verdict; returns each file's report.
fn check_dir(
    sub: &str,
    check_file: impl Fn(&str, &str) -> CheckReport,
) -> Vec<(String, CheckReport)> {
    let Some(root) = histories_dir() else {
        eprintln!(
            "\n!!! SKIPPED: no shared/histories directory above {}: the published histories \
             are not checked !!!\n",
            env!("CARGO_MANIFEST_DIR")
        );
        return vec![];
    };
    let dir = root.join(sub);
    let verdicts = verdicts(&dir);
    // Every history in the directory has a verdict, so none goes unchecked.
    for f in std::fs::read_dir(&dir).expect("list histories") {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name != "VERDICTS" {
            assert!(verdicts.contains_key(&name), "{sub}/{name} has no verdict");
        }
    }
    let mut reports = vec![];
    let mut wrong = vec![];
    for (file, linearizable) in &verdicts {
        let text = std::fs::read_to_string(dir.join(file)).expect("read history");
        let r = check_file(file, &text);
        if r.is_linearizable() != *linearizable {
            wrong.push(format!(
                "{sub}/{file}: published {}, checked {}{}",
                verdict(*linearizable),
                verdict(r.is_linearizable()),
                r.explanation()
                    .map(|e| format!(": {}", e.one_line()))
                    .unwrap_or_default()
            ));
        }
        reports.push((file.clone(), r));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    reports
}

fn verdict(linearizable: bool) -> &'static str {
    if linearizable {
        "linearizable"
    } else {
        "not-linearizable"
    }
}

#[test]
fn every_jepsen_etcd_history_gets_its_published_verdict() {
    let reports = check_dir("jepsen-etcd", |file, text| {
        check(
            &CasRegister,
            &parse_jepsen_cas(file, text).unwrap_or_else(|e| panic!("{e}")),
        )
    });
    if reports.is_empty() {
        return;
    }
    assert_eq!(reports.len(), 60);
    let most = reports.iter().max_by_key(|(_, r)| r.stats.steps).unwrap();
    eprintln!(
        "jepsen-etcd: the costliest history is {}: {:?}",
        most.0, most.1.stats
    );
}

#[test]
fn every_kv_history_gets_its_published_verdict() {
    let reports = check_dir("kv", |file, text| {
        check(
            &KvStore,
            &parse_kv(file, text).unwrap_or_else(|e| panic!("{e}")),
        )
    });
    if reports.is_empty() {
        return;
    }
    assert_eq!(reports.len(), 6);
    for (file, r) in &reports {
        eprintln!("kv/{file}: {:?}", r.stats);
    }
    // A bad history is decided about as fast as a good one of the same size, counted in
    // model steps (machine-independent; the wall times are in the project's notes).
    let stats: BTreeMap<&str, &SearchStats> = reports
        .iter()
        .map(|(f, r)| (f.as_str(), &r.stats))
        .collect();
    for n in ["c01", "c10", "c50"] {
        let (ok, bad) = (
            stats[&*format!("{n}-ok.txt")],
            stats[&*format!("{n}-bad.txt")],
        );
        let per_op = |s: &SearchStats| s.steps as f64 / s.operations as f64;
        assert!(
            per_op(bad) <= 3.0 * per_op(ok),
            "{n}: bad {bad:?} against good {ok:?}"
        );
    }
}

#[test]
fn the_explanation_of_a_bad_kv_history_names_its_key_and_lines() {
    let Some(root) = histories_dir() else {
        eprintln!("!!! SKIPPED: no shared/histories directory !!!");
        return;
    };
    let text = std::fs::read_to_string(root.join("kv/c10-bad.txt")).unwrap();
    let r = check(&KvStore, &parse_kv("c10-bad.txt", &text).unwrap());
    let e = r.explanation().expect("c10-bad is not linearizable");
    assert!(e.part.starts_with("key \""), "{e}");
    let line = e.one_line();
    assert!(line.contains("[line "), "{line}");
    // Every operation named is a line of the file that says what the explanation says.
    let lines: Vec<&str> = text.lines().collect();
    let blocked = lines[e.blocked.completed.unwrap() as usize - 1];
    assert!(blocked.contains(":type :ok, :f :get"), "{blocked}");
    assert!(blocked.contains(&format!(
        "{:?}",
        e.part.trim_start_matches("key ").trim_matches('"')
    )));
}
