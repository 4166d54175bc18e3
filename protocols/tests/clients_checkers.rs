//! The client system's checkers on hand-written traces: each accepts a correct history
//! and rejects the broken histories it exists for.

mod common;
use common::{end, ev, s, u, violations};
use protocols::clients::checkers::{
    single_master, DialogueAnswered, ExactlyOnceToClient, NoCrossTalk, ReplicasAgree, StackOrder,
};
use sim::check::Checker;
use sim::{Recorded, Value};

const CLIENT_NODE: u64 = 5;

fn store(t: u64, node: u64, client: u64, context: u64, seq: u64, event: u64) -> Recorded {
    ev(
        t,
        node,
        "cm",
        "store",
        &[
            ("client", u(client)),
            ("context", u(context)),
            ("seq", u(seq)),
            ("event", u(event)),
            ("code", s("CLU0101")),
        ],
    )
}

fn push(t: u64, node: u64, seq: u64, view: u64) -> Recorded {
    ev(
        t,
        node,
        "cm",
        "push",
        &[
            ("client", u(1)),
            ("context", u(1)),
            ("seq", u(seq)),
            ("event", u(100 + seq)),
            ("view", u(view)),
            ("resend", Value::Bool(false)),
        ],
    )
}

fn client_ev(t: u64, event: &'static str, fields: &[(&'static str, Value)]) -> Recorded {
    let mut f = vec![("client", u(1)), ("context", u(1))];
    f.extend_from_slice(fields);
    ev(t, CLIENT_NODE, "client", event, &f)
}

fn deliver(t: u64, seq: u64, event: u64) -> Recorded {
    client_ev(
        t,
        "deliver",
        &[
            ("seq", u(seq)),
            ("event", u(event)),
            ("question", Value::Bool(false)),
        ],
    )
}

fn list(t: u64, seqs: &str, asked_ms: u64) -> Recorded {
    client_ev(
        t,
        "list",
        &[("seqs", s(seqs)), ("asked_ns", u(asked_ms * 1_000_000))],
    )
}

fn one(c: impl Checker + 'static, events: &[Recorded]) -> Vec<String> {
    violations(Box::new(c), events)
}

#[test]
fn exactly_once_accepts_one_delivery_of_each_stored_message() {
    let e = vec![
        store(1, 0, 1, 1, 1, 101),
        store(1, 1, 1, 1, 1, 101),
        push(1, 0, 1, 3),
        deliver(2, 1, 101),
        ev(
            3,
            0,
            "cm",
            "ack",
            &[("client", u(1)), ("context", u(1)), ("upto", u(1))],
        ),
    ];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &e).is_empty());
}

#[test]
fn exactly_once_rejects_a_second_delivery_a_lost_message_and_a_resend_after_ack() {
    let twice = vec![
        store(1, 0, 1, 1, 1, 101),
        deliver(2, 1, 101),
        deliver(3, 1, 101),
    ];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &twice)[0].contains("twice"));

    let lost = vec![store(1, 0, 1, 1, 1, 101)];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &lost)[0].contains("never reached"));

    let resent = vec![
        store(1, 0, 1, 1, 1, 101),
        deliver(2, 1, 101),
        ev(
            3,
            2,
            "cm",
            "resume",
            &[("client", u(1)), ("context", u(1)), ("after", u(1))],
        ),
        push(4, 2, 1, 4),
    ];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &resent)[0].contains("again"));

    let swapped = vec![store(1, 0, 1, 1, 1, 101), deliver(2, 1, 999)];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &swapped)[0].contains("holds event"));
}

#[test]
fn replicas_agree_rejects_a_replica_that_numbers_an_event_differently() {
    let ok = vec![store(1, 0, 1, 1, 1, 101), store(2, 1, 1, 1, 1, 101)];
    assert!(one(ReplicasAgree::default(), &ok).is_empty());
    let moved = vec![store(1, 0, 1, 1, 1, 101), store(2, 1, 1, 1, 2, 101)];
    assert!(one(ReplicasAgree::default(), &moved)[0].contains("stored event"));
    let reused = vec![store(1, 0, 1, 1, 1, 101), store(2, 1, 1, 1, 1, 102)];
    assert!(one(ReplicasAgree::default(), &reused)[0].contains("where n0 stored"));
}

#[test]
fn no_cross_talk_rejects_a_message_filed_under_another_client() {
    let raise = ev(
        0,
        2,
        "task",
        "raise",
        &[("event", u(101)), ("client", u(1)), ("context", u(1))],
    );
    let ok = vec![raise.clone(), store(1, 0, 1, 1, 1, 101), deliver(2, 1, 101)];
    assert!(one(NoCrossTalk::default(), &ok).is_empty());
    let other = vec![raise, store(1, 0, 2, 1, 1, 101)];
    assert!(one(NoCrossTalk::default(), &other)[0].contains("client 2"));
}

#[test]
fn stack_order_checks_order_completeness_removal_and_top() {
    let base = vec![deliver(1, 1, 101), deliver(2, 2, 102), deliver(3, 3, 103)];
    let with = |extra: Recorded| {
        let mut e = base.clone();
        e.push(extra);
        one(StackOrder::default(), &e)
    };
    assert!(with(list(5, "3,2,1", 4)).is_empty());
    assert!(with(list(5, "1,2,3", 4))[0].contains("not newest first"));
    assert!(with(list(5, "3,1", 4))[0].contains("without seq 2"));
    // Seq 3 arrived after the request was made: the answer may predate it.
    assert!(with(list(5, "2,1", 3)).is_empty());
    let mut removed = base.clone();
    removed.push(client_ev(4, "remove", &[("seq", u(2))]));
    removed.push(list(6, "3,2,1", 5));
    assert!(one(StackOrder::default(), &removed)[0].contains("which it removed"));
    let mut evicted = base.clone();
    evicted.push(ev(
        4,
        0,
        "cm",
        "evict",
        &[("client", u(1)), ("context", u(1)), ("seq", u(1))],
    ));
    evicted.push(list(6, "3,2", 5));
    assert!(one(StackOrder::default(), &evicted).is_empty());
    let top = |seq: u64| client_ev(5, "top", &[("seq", u(seq)), ("asked_ns", u(4_000_000))]);
    assert!(with(top(3)).is_empty());
    assert!(with(top(2))[0].contains("newest it holds is 3"));
}

#[test]
fn single_master_rejects_overlapping_service_of_two_nodes() {
    let serve = |t: u64, node: u64, view: u64| {
        ev(
            t,
            node,
            "cm",
            "serve",
            &[("client", u(1)), ("what", s("polled")), ("view", u(view))],
        )
    };
    let handover = vec![
        serve(1, 0, 3),
        serve(2, 0, 3),
        serve(5, 1, 4),
        serve(6, 1, 4),
    ];
    assert!(one(single_master(), &handover).is_empty());
    let back = vec![serve(1, 0, 3), serve(5, 1, 4), serve(9, 0, 5)];
    assert!(one(single_master(), &back).is_empty());
    let overlap = vec![serve(1, 0, 3), serve(5, 1, 4), serve(6, 0, 3)];
    assert!(one(single_master(), &overlap)[0].contains("while n1"));
}

#[test]
fn dialogue_answered_checks_who_gets_the_answer_and_what_it_is() {
    let ask = ev(
        1,
        2,
        "task",
        "ask",
        &[
            ("dialogue", u(7)),
            ("task", s("2.0.0/t1")),
            ("default", s("no")),
            ("deadline_ns", u(10_000_000)),
        ],
    );
    let stored = store(2, 0, 1, 1, 1, 7);
    let reply = client_ev(3, "reply", &[("dialogue", u(7)), ("reply", s("yes"))]);
    let answer = |t: u64, task: &str, reply: &str, defaulted: bool| {
        ev(
            t,
            2,
            "task",
            "answer",
            &[
                ("dialogue", u(7)),
                ("task", s(task)),
                ("reply", s(reply)),
                ("defaulted", Value::Bool(defaulted)),
            ],
        )
    };
    let base = vec![ask.clone(), stored.clone(), reply.clone()];
    let run = |extra: Vec<Recorded>| {
        let mut e = base.clone();
        e.extend(extra);
        one(DialogueAnswered::new(5, 1_000), &e)
    };
    assert!(run(vec![answer(4, "2.0.0/t1", "yes", false)]).is_empty());
    assert!(run(vec![answer(11, "2.0.0/t1", "no", true)]).is_empty());
    assert!(run(vec![answer(4, "2.0.0/t2", "yes", false)])[0].contains("reached task 2.0.0/t2"));
    assert!(run(vec![answer(4, "2.0.0/t1", "no", true)])[0].contains("before its deadline"));
    assert!(run(vec![answer(4, "2.0.0/t1", "maybe", false)])[0].contains("never replied"));
    assert!(run(vec![])[0].contains("never answered"));
    // A task whose job died needs no answer.
    let died = ev(
        5,
        2,
        "job",
        "unregister",
        &[("member", s("2.0.0")), ("why", s("panic"))],
    );
    assert!(run(vec![died]).is_empty());
    let crashed = ev(5, 2, "node", "crash", &[]);
    assert!(run(vec![crashed]).is_empty());
}

#[test]
fn without_a_live_majority_nothing_is_owed() {
    let lost = vec![store(1, 0, 1, 1, 1, 101)];
    let mut minority = end();
    minority.live_nodes = vec![0, 2, 5, 6, 7];
    let v = sim::check::check_events(
        vec![Box::new(ExactlyOnceToClient::new(5, 1_000))],
        &lost,
        &minority,
    );
    assert!(v.is_empty(), "{v:?}");
    assert!(!one(ExactlyOnceToClient::new(5, 1_000), &lost).is_empty());
}
