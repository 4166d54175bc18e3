//! Hand-made histories with known verdicts, and the cost of deciding a bad history beside
//! a good one.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// `(client, invoked, completed, input, output)`; `completed: None` is an unknown outcome.
type Row<I, O> = (u64, u64, Option<u64>, I, Option<O>);

fn history<I, O>(rows: Vec<Row<I, O>>) -> History<I, O> {
    History {
        clock: Clock::SimNanos,
        ops: rows
            .into_iter()
            .map(|(client, invoked, completed, input, output)| Operation {
                client,
                invoked,
                input,
                completed: completed.map(|at| Completion {
                    at,
                    output: output.expect("a completed operation has an output"),
                }),
            })
            .collect(),
    }
}

fn write(client: u64, from: u64, to: Option<u64>, v: i64) -> Row<CasInput, CasOutput> {
    (client, from, to, CasInput::Write(v), Some(CasOutput::Ok))
}

fn read(client: u64, from: u64, to: u64, v: Option<i64>) -> Row<CasInput, CasOutput> {
    (
        client,
        from,
        Some(to),
        CasInput::Read,
        Some(CasOutput::Read(v)),
    )
}

fn cas(
    client: u64,
    from: u64,
    to: Option<u64>,
    a: i64,
    b: i64,
    ok: bool,
) -> Row<CasInput, CasOutput> {
    let out = if ok { CasOutput::Ok } else { CasOutput::Failed };
    (
        client,
        from,
        to,
        CasInput::Cas { from: a, to: b },
        Some(out),
    )
}

fn register(rows: Vec<Row<CasInput, CasOutput>>) -> CheckReport {
    check(&CasRegister, &history(rows))
}

#[track_caller]
fn explanation(r: &CheckReport) -> &Explanation {
    r.explanation()
        .unwrap_or_else(|| panic!("expected not linearizable, got {r:?}"))
}

#[test]
fn clock_formats() {
    assert_eq!(Clock::SimNanos.format(12_345_678_901), "12.345678s");
    assert_eq!(Clock::SimNanos.format(5_000), "0.000005s");
    assert_eq!(Clock::SimNanos.format(0), "0.000000s");
    assert_eq!(Clock::LogLine.format(17), "line 17");
}

#[test]
fn empty_and_unknown_only_histories_linearize() {
    assert!(register(vec![]).is_linearizable());
    assert!(register(vec![write(1, 0, None, 3), cas(2, 1, None, 3, 4, true)]).is_linearizable());
}

#[test]
fn sequential_reads_see_the_last_write() {
    assert!(register(vec![
        read(1, 0, 1, None),
        write(1, 2, Some(3), 5),
        read(2, 4, 5, Some(5)),
        write(2, 6, Some(7), 6),
        read(1, 8, 9, Some(6)),
    ])
    .is_linearizable());
}

#[test]
fn concurrent_writes_take_effect_in_either_order_but_one_order() {
    let w = || vec![write(1, 0, Some(10), 1), write(2, 0, Some(10), 2)];
    for v in [1, 2] {
        let mut rows = w();
        rows.push(read(3, 11, 12, Some(v)));
        assert!(register(rows).is_linearizable(), "read {v}");
    }
    // Once both writes completed, the register cannot flip back and forth.
    let mut rows = w();
    rows.extend([read(3, 11, 12, Some(1)), read(3, 13, 14, Some(2))]);
    assert!(!register(rows).is_linearizable());
}

#[test]
fn a_stale_read_is_not_linearizable_and_the_explanation_says_where() {
    let r = register(vec![
        write(1, 0, Some(1_000), 1),
        write(1, 2_000, Some(3_000), 2),
        read(2, 4_000, 5_000, Some(1)),
    ]);
    let e = explanation(&r);
    assert_eq!(e.part, "");
    let prefix: Vec<usize> = e.prefix.iter().map(|o| o.index).collect();
    assert_eq!(prefix, vec![0, 1]);
    assert_eq!(e.state, "2");
    assert_eq!(e.blocked.index, 2);
    assert_eq!(e.blocked.text, "read() -> 1");
    assert!(e.pending.is_empty());
    let line = e.one_line();
    assert!(!line.contains('\n'));
    assert!(
        line.contains("2 of 3 operations linearize up to 0.000005s, leaving the state 2"),
        "{line}"
    );
    assert!(
        line.contains("client 2 read() -> 1 [0.000004s to 0.000005s] cannot take effect"),
        "{line}"
    );
    let text = e.to_string();
    assert!(text.contains("state after the prefix: 2"), "{text}");
}

#[test]
fn an_unknown_write_may_take_effect_late() {
    // Invoked first, seen only much later.
    let rows = vec![
        write(1, 0, None, 1),
        read(2, 10, 11, None),
        read(2, 20, 21, None),
        read(3, 30, 31, Some(1)),
        read(2, 40, 41, Some(1)),
    ];
    assert!(register(rows.clone()).is_linearizable());
    // ... but once seen, it stays.
    let mut rows = rows;
    rows.push(read(3, 50, 51, None));
    let r = register(rows);
    assert_eq!(explanation(&r).blocked.index, 5);
}

#[test]
fn an_unknown_write_may_never_take_effect() {
    assert!(register(vec![
        write(1, 0, Some(1), 7),
        write(2, 2, None, 1),
        read(3, 10, 11, Some(7)),
        read(3, 1_000, 1_001, Some(7)),
    ])
    .is_linearizable());
}

#[test]
fn an_unknown_write_cannot_take_effect_before_its_invocation() {
    let r = register(vec![read(1, 0, 1, Some(1)), write(2, 5, None, 1)]);
    let e = explanation(&r);
    assert_eq!(e.blocked.index, 0);
    assert!(e.prefix.is_empty());
    assert_eq!(e.state, "nil");
    // The unknown write was invoked after the read completed: not a candidate.
    assert!(e.pending.is_empty());
}

#[test]
fn unknown_writes_take_effect_once_each_in_some_order() {
    let rows = |reads: &[i64]| {
        let mut rows = vec![write(1, 0, None, 1), write(2, 1, None, 2)];
        for (i, &v) in reads.iter().enumerate() {
            let t = 10 + 10 * i as u64;
            rows.push(read(3, t, t + 1, Some(v)));
        }
        rows
    };
    assert!(register(rows(&[2, 2, 1])).is_linearizable());
    assert!(register(rows(&[1, 2])).is_linearizable());
    // Each write takes effect at most once.
    assert!(!register(rows(&[1, 2, 1])).is_linearizable());
    assert!(!register(rows(&[2, 1, 2])).is_linearizable());
    // Forty timed-out writes of one value, and a read of a value none wrote: refuting it
    // must not try each of the 2^40 subsets of them (a few steps per write and point).
    let mut rows: Vec<_> = (0..40).map(|c| write(c, c, None, 1)).collect();
    rows.push(read(50, 100, 101, Some(1)));
    rows.push(read(50, 102, 103, Some(3)));
    let r = register(rows);
    assert!(!r.is_linearizable());
    assert!(r.stats.steps < 5_000, "{:?}", r.stats);
}

#[test]
fn ops_at_the_same_instant_count_as_concurrent() {
    assert!(register(vec![write(1, 0, Some(5), 1), read(2, 5, 6, None)]).is_linearizable());
    assert!(!register(vec![write(1, 0, Some(5), 1), read(2, 6, 7, None)]).is_linearizable());
}

#[test]
fn a_failed_cas_says_the_register_did_not_hold_from() {
    let w = || write(1, 0, Some(1), 1);
    // The register holds 1: a cas from 1 must succeed.
    assert!(!register(vec![w(), cas(2, 2, Some(3), 1, 2, false)]).is_linearizable());
    assert!(register(vec![
        w(),
        cas(2, 2, Some(3), 3, 4, false),
        read(1, 4, 5, Some(1))
    ])
    .is_linearizable());
    assert!(register(vec![
        w(),
        cas(2, 2, Some(3), 1, 2, true),
        read(1, 4, 5, Some(2))
    ])
    .is_linearizable());
    // A successful cas from a value the register never held.
    assert!(!register(vec![w(), cas(2, 2, Some(3), 0, 2, true)]).is_linearizable());
    // A failed cas leaves the register as it was.
    assert!(!register(vec![
        w(),
        cas(2, 2, Some(3), 3, 4, false),
        read(1, 4, 5, Some(4))
    ])
    .is_linearizable());
    // A failed cas from nil's neighbour: nil is not 0.
    assert!(register(vec![cas(1, 0, Some(1), 0, 1, false), read(1, 2, 3, None)]).is_linearizable());
    // Concurrent with a write that moves the register off 1, a cas from 1 may fail.
    assert!(register(vec![
        w(),
        write(3, 2, Some(6), 5),
        cas(2, 3, Some(4), 1, 2, false),
        read(1, 7, 8, Some(5)),
    ])
    .is_linearizable());
}

#[test]
fn an_unknown_cas_may_or_may_not_take_effect() {
    let rows = |v| {
        vec![
            write(1, 0, Some(1), 1),
            cas(2, 2, None, 1, 2, true),
            read(1, 5, 6, Some(v)),
            read(1, 7, 8, Some(v)),
        ]
    };
    assert!(register(rows(1)).is_linearizable());
    assert!(register(rows(2)).is_linearizable());
    assert!(!register(rows(3)).is_linearizable());
}

#[test]
fn the_furthest_blocked_operation_is_named_with_what_was_pending() {
    // w2 must precede the first read and follow the second: no order fits the third.
    let r = register(vec![
        write(1, 0, Some(1), 0),
        write(2, 2, Some(10), 1),
        write(3, 2, Some(10), 2),
        read(4, 3, 4, Some(2)),
        read(5, 5, 6, Some(1)),
        read(4, 7, 8, Some(2)),
    ]);
    let e = explanation(&r);
    assert_eq!(e.blocked.index, 5, "{e}");
    assert_eq!(e.prefix.len(), 5, "{e}");
    assert!(e.pending.is_empty(), "{e}");
    // A read of a value never written, concurrent with writes: they are what was pending.
    let r = register(vec![
        write(1, 0, Some(1), 1),
        read(2, 2, 10, Some(3)),
        write(3, 3, Some(20), 2),
        write(4, 4, None, 4),
        write(1, 11, Some(12), 5),
    ]);
    let e = explanation(&r);
    assert_eq!(e.blocked.index, 1, "{e}");
    let prefix: Vec<usize> = e.prefix.iter().map(|o| o.index).collect();
    assert_eq!(prefix, vec![0], "{e}");
    let pending: Vec<usize> = e.pending.iter().map(|o| o.index).collect();
    assert_eq!(pending, vec![2, 3], "{e}");
    let line = e.one_line();
    assert!(
        line.contains(
            "whichever of the 2 operations pending with it go first: \
             client 3 write(2) -> ok [0.000000s to 0.000000s]; \
             client 4 write(4) -> ? [0.000000s to never (outcome unknown)]"
        ),
        "{line}"
    );
}

fn get(client: u64, from: u64, to: u64, k: &str, v: &str) -> Row<KvInput, KvOutput> {
    let input = KvInput::Get { key: k.into() };
    (
        client,
        from,
        Some(to),
        input,
        Some(KvOutput::Value(v.into())),
    )
}

fn append(client: u64, from: u64, to: Option<u64>, k: &str, v: &str) -> Row<KvInput, KvOutput> {
    let input = KvInput::Append {
        key: k.into(),
        value: v.into(),
    };
    (client, from, to, input, Some(KvOutput::Ok))
}

#[test]
fn kv_keys_are_checked_apart_and_the_failing_key_is_named() {
    let rows = vec![
        append(1, 0, Some(10), "a", "x"),
        append(2, 0, Some(10), "b", "y"),
        get(3, 11, 12, "a", "x"),
        get(3, 13, 14, "b", "y"),
        append(1, 15, Some(16), "b", "z"),
        get(2, 17, 18, "b", "y"),
    ];
    let r = check(&KvStore, &history(rows));
    let e = explanation(&r);
    assert_eq!(e.part, "key \"b\"");
    assert_eq!(e.part_operations, 4);
    assert_eq!(e.state, "\"yz\"");
    assert_eq!(e.blocked.text, "get(\"b\") -> \"y\"");
    assert_eq!((r.stats.parts, r.stats.parts_decided), (2, 2));
    assert!(e.one_line().starts_with("key \"b\": not linearizable"));
}

fn kv_cas(
    client: u64,
    from: u64,
    to: Option<u64>,
    k: &str,
    expect: &str,
    new: &str,
    out: Option<KvOutput>,
) -> Row<KvInput, KvOutput> {
    let input = KvInput::Cas {
        key: k.into(),
        from: expect.into(),
        to: new.into(),
    };
    (client, from, to, input, out)
}

#[test]
fn kv_cas_takes_effect_only_from_the_value_it_names() {
    // Two compare-and-sets from the same value, concurrent: one may succeed, not both.
    let one_wins = vec![
        kv_cas(1, 0, Some(5), "k", "", "a", Some(KvOutput::Ok)),
        kv_cas(2, 1, Some(6), "k", "", "b", Some(KvOutput::Failed)),
        get(3, 7, 8, "k", "a"),
    ];
    assert!(check(&KvStore, &history(one_wins.clone())).is_linearizable());
    let mut both = one_wins.clone();
    both[1].4 = Some(KvOutput::Ok);
    let r = check(&KvStore, &history(both));
    assert!(explanation(&r).one_line().contains("cas(\"k\", \"\", "));
    // A failed compare-and-set is a read that the key did not hold `from`.
    let failed_on_match = vec![kv_cas(1, 0, Some(1), "k", "", "a", Some(KvOutput::Failed))];
    assert!(!check(&KvStore, &history(failed_on_match)).is_linearizable());
    // One of unknown outcome may or may not take effect.
    let unknown = vec![
        kv_cas(1, 0, None, "k", "", "a", None),
        get(2, 1, 2, "k", ""),
        get(2, 3, 4, "k", "a"),
    ];
    assert!(check(&KvStore, &history(unknown)).is_linearizable());
}

#[test]
fn kv_put_and_unknown_append() {
    let rows = vec![
        (
            1,
            0,
            Some(1),
            KvInput::Put {
                key: "k".into(),
                value: "p".into(),
            },
            Some(KvOutput::Ok),
        ),
        append(2, 2, None, "k", "q"),
        get(3, 10, 11, "k", "p"),
        get(3, 12, 13, "k", "pq"),
    ];
    assert!(check(&KvStore, &history(rows.clone())).is_linearizable());
    let mut bad = rows;
    bad.push(get(3, 14, 15, "k", "p"));
    assert!(!check(&KvStore, &history(bad)).is_linearizable());
}

#[test]
fn recorder_builds_the_history_and_explains_on_one_line() {
    let mut h = HistoryRecorder::new(Clock::SimNanos);
    let w = h.invoke(1, 1_000_000_000, CasInput::Write(1));
    let rejected = h.invoke(2, 1_100_000_000, CasInput::Write(9));
    h.complete(w, 1_200_000_000, CasOutput::Ok);
    h.fail(rejected);
    h.invoke(3, 1_300_000_000, CasInput::Cas { from: 1, to: 2 });
    let r = h.invoke(2, 2_000_000_000, CasInput::Read);
    h.complete(r, 2_500_000_000, CasOutput::Read(Some(2)));
    assert_eq!(h.len(), 3);
    assert!(h.check(&CasRegister).is_ok());
    let r = h.invoke(2, 3_000_000_000, CasInput::Read);
    h.complete(r, 3_000_500_000, CasOutput::Read(Some(9)));
    let err = h.check(&CasRegister).unwrap_err();
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.contains("client 2 read() -> 9 [3.000000s to 3.000500s] cannot take effect"),
        "{err}"
    );
}

/// A history of `clients` clients against a real (atomic) key-value store on `keys` keys:
/// each operation takes effect at a random instant between its invocation and its
/// completion, so the history is linearizable by construction.
fn atomic_kv_history(
    seed: u64,
    clients: u64,
    keys: usize,
    ops_per_client: usize,
) -> History<KvInput, KvOutput> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (effect instant, client, invoked, completed, input)
    let mut planned = Vec::new();
    for c in 0..clients {
        let mut t = rng.gen_range(0..1_000u64);
        for n in 0..ops_per_client {
            let key: std::sync::Arc<str> = format!("{}", rng.gen_range(0..keys)).into();
            let input = match rng.gen_range(0..10) {
                0..=4 => KvInput::Get { key },
                5 => KvInput::Put {
                    key,
                    value: format!("p{c}.{n} ").into(),
                },
                _ => KvInput::Append {
                    key,
                    value: format!("a{c}.{n} ").into(),
                },
            };
            let effect = t + rng.gen_range(1..2_000);
            let done = effect + rng.gen_range(1..2_000);
            planned.push((effect, c, t, done, input));
            t = done + rng.gen_range(1..500);
        }
    }
    planned.sort_by_key(|p| (p.0, p.1));
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    let ops = planned
        .into_iter()
        .map(|(_, client, invoked, done, input)| {
            let value = store.entry(input.key().to_string()).or_default();
            let output = match &input {
                KvInput::Get { .. } => KvOutput::Value(value.as_str().into()),
                KvInput::Put { value: v, .. } => {
                    *value = v.to_string();
                    KvOutput::Ok
                }
                KvInput::Append { value: v, .. } => {
                    value.push_str(v);
                    KvOutput::Ok
                }
                KvInput::Cas { from, to, .. } if **value == **from => {
                    *value = to.to_string();
                    KvOutput::Ok
                }
                KvInput::Cas { .. } => KvOutput::Failed,
            };
            Operation {
                client,
                invoked,
                input,
                completed: Some(Completion { at: done, output }),
            }
        })
        .collect();
    History {
        clock: Clock::SimNanos,
        ops,
    }
}

#[test]
fn bad_history_costs_about_as_much_as_a_good_one() {
    for seed in 0..3 {
        let good = atomic_kv_history(seed, 16, 4, 40);
        let ok = check(&KvStore, &good);
        assert!(ok.is_linearizable(), "seed {seed}: {:?}", ok.explanation());
        // Plant a read of a value the key never held late in the history, where refuting
        // it means refuting every interleaving of what came before it on its key.
        let gets: Vec<usize> = (0..good.ops.len())
            .filter(|&i| matches!(good.ops[i].input, KvInput::Get { .. }))
            .collect();
        let i = gets[gets.len() * 3 / 4];
        let mut bad = good.clone();
        let out = &mut bad.ops[i].completed.as_mut().unwrap().output;
        if let KvOutput::Value(v) = out {
            *v = format!("{v}never appended ").into();
        }
        let no = check(&KvStore, &bad);
        let e = no
            .explanation()
            .unwrap_or_else(|| panic!("seed {seed}: a phantom read accepted"));
        assert_eq!(e.blocked.index, i, "seed {seed}: {e}");
        // Work in model steps, a machine-independent measure of time: the bad history may
        // cost a few times the good one (its part is searched to the end), not orders more.
        assert!(
            no.stats.steps <= 4 * ok.stats.steps,
            "seed {seed}: bad {:?} against good {:?}",
            no.stats,
            ok.stats
        );
        eprintln!(
            "seed {seed}: good {:?}\n        bad {:?}",
            ok.stats, no.stats
        );
    }
}
