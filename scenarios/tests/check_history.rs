//! `clustersim check-history` end to end: verdicts and exit codes on hand-made histories of
//! both formats and on the published ones, the JSON object, and one-line errors for bad
//! input.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary: (exit code, stdout, stderr).
fn clustersim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clustersim"))
        .args(args)
        .output()
        .expect("run clustersim");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().expect("an exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Writes `text` to a fresh file named `name` in this test binary's scratch directory.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-history");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn jepsen(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("INFO  jepsen.util - {}\n", l.replace(' ', "\t")))
        .collect()
}

/// A write of 1, then a read of 1 and a read that a timed-out write of 2 may explain.
const CAS_OK: &[&str] = &[
    "0 :invoke :write 1",
    "0 :ok :write 1",
    "1 :invoke :write 2",
    "1 :info :write :timed-out",
    "0 :invoke :read nil",
    "0 :ok :read 1",
    "0 :invoke :read nil",
    "0 :ok :read 2",
];

#[test]
fn a_linearizable_jepsen_log_exits_0() {
    let path = file("cas-ok.log", &jepsen(CAS_OK));
    let (code, out, err) = clustersim(&[
        "check-history",
        "--model",
        "cas-register",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(4 operations, 1 part, model cas-register)"),
        "{out}"
    );
    assert!(out.contains("verdict: linearizable\n"), "{out}");
    assert!(!out.contains("reproduce"), "{out}");
}

#[test]
fn a_stale_read_in_a_jepsen_log_exits_1_with_the_explanation() {
    let mut lines = CAS_OK.to_vec();
    lines.extend(["0 :invoke :read nil", "0 :ok :read 1"]);
    let path = file("cas-bad.log", &jepsen(&lines));
    let p = path.to_str().unwrap();
    let (code, out, err) = clustersim(&["check-history", "--model", "cas-register", p]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("verdict: NOT linearizable\n"), "{out}");
    assert!(out.contains("state after the prefix: 2\n"), "{out}");
    assert!(
        out.contains(
            "cannot be placed before it completes: client 0 read() -> 1 [line 9 to line 10]"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "reproduce: clustersim check-history --model cas-register {p}\n"
        )),
        "{out}"
    );
}

#[test]
fn json_is_alone_on_stdout_and_versioned() {
    let kv = "{:process 0, :type :invoke, :f :put, :key \"k\", :value \"a\"}\n\
              {:process 0, :type :ok, :f :put, :key \"k\", :value \"a\"}\n\
              {:process 1, :type :invoke, :f :get, :key \"j\", :value nil}\n\
              {:process 1, :type :ok, :f :get, :key \"j\", :value \"\"}\n\
              {:process 1, :type :invoke, :f :get, :key \"k\", :value nil}\n\
              {:process 1, :type :ok, :f :get, :key \"k\", :value \"b\"}\n";
    let path = file("kv-bad.txt", kv);
    let (code, out, err) = clustersim(&[
        "check-history",
        "--model",
        "kv",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON object");
    assert_eq!(v["version"], 1);
    assert_eq!(v["model"], "kv");
    assert_eq!(v["verdict"], "not-linearizable");
    assert_eq!(
        (v["operations"].as_u64(), v["parts"].as_u64()),
        (Some(3), Some(2))
    );
    let e = &v["explanation"];
    assert_eq!(e["part"], "key \"k\"");
    assert_eq!(e["clock"], "log_line");
    assert_eq!(e["state"], "\"a\"");
    assert_eq!(e["blocked"]["text"], "get(\"k\") -> \"b\"");
    assert_eq!(e["blocked"]["invoked"], 5);
    assert_eq!(e["blocked"]["completed"], 6);
    assert_eq!(e["prefix"][0]["text"], "put(\"k\", \"a\") -> ok");
    assert!(e["summary"]
        .as_str()
        .unwrap()
        .starts_with("key \"k\": not linearizable"));

    let ok = file("kv-ok.txt", &kv.replace("\"b\"}", "\"a\"}"));
    let (code, out, _) = clustersim(&[
        "check-history",
        "--model",
        "kv",
        "--json",
        ok.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "linearizable");
    assert!(v["explanation"].is_null());
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let malformed = file(
        "malformed.log",
        &jepsen(&["0 :invoke :read nil", "0 :ok :read x"]),
    );
    let m = malformed.to_str().unwrap().to_string();
    let kv_as_jepsen = file(
        "kv.txt",
        "{:process 0, :type :invoke, :f :get, :key \"k\"}\n",
    );
    let k = kv_as_jepsen.to_str().unwrap().to_string();
    let not_utf8 = file("binary.log", "");
    std::fs::write(&not_utf8, [b'a', 0xff, b'\n']).unwrap();
    let b = not_utf8.to_str().unwrap().to_string();
    let dir = malformed.parent().unwrap().to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--model", "cas-register", &m],
            format!("{m}:2: expected nil or an integer, not 'x'"),
        ),
        (
            vec!["--model", "cas-register", "--json", &m],
            format!("{m}:2: expected nil or an integer"),
        ),
        (
            vec!["--model", "kv", &m],
            format!("{m}:1: expected '{{' at column 1, found 'I'"),
        ),
        (
            vec!["--model", "cas-register", &k],
            format!("{k}: no operations found"),
        ),
        (
            vec!["--model", "kv", "/no/such/history"],
            "cannot read /no/such/history".into(),
        ),
        (vec!["--model", "kv", &dir], format!("cannot read {dir}")),
        (
            vec!["--model", "kv", &b],
            format!("{b} is not UTF-8 text (byte 1 is not)"),
        ),
        (
            vec!["--model", "register", &m],
            "invalid value 'register' for '--model <MODEL>'".into(),
        ),
        (vec![&m], "--model <MODEL>".into()),
    ];
    for (args, want) in cases {
        let mut full = vec!["check-history"];
        full.extend(&args);
        let (code, out, err) = clustersim(&full);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        let err = err.trim_end();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains(&want),
            "{args:?}: {err:?} does not say {want:?}"
        );
    }
}

#[test]
fn the_published_histories_get_their_verdicts_through_the_binary() {
    let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/histories"))
        .find(|d| d.is_dir())
    else {
        eprintln!("!!! SKIPPED: no shared/histories directory above the project !!!");
        return;
    };
    for (model, file, code) in [
        ("kv", "kv/c50-ok.txt", 0),
        ("kv", "kv/c50-bad.txt", 1),
        ("cas-register", "jepsen-etcd/etcd_002.log", 0),
        ("cas-register", "jepsen-etcd/etcd_000.log", 1),
    ] {
        let path = root.join(file);
        let (got, out, err) =
            clustersim(&["check-history", "--model", model, path.to_str().unwrap()]);
        assert_eq!(got, code, "{file}: {out}{err}");
    }
}
