//! The client system's checkers on hand-written traces: each accepts a correct history
//! and rejects the broken histories it exists for.

mod common;
use common::{end, unregister, violations};
use protocols::clients::checkers::{
    single_master, ClientStream, DialogueAnswered, ExactlyOnceToClient, NoCrossTalk, ReplicasAgree,
    StackOrder,
};
use protocols::clients::events::{ClientEvent, CmEvent, TaskEvent};
use protocols::clients::manager::{EventId, TaskAddr};
use sim::check::Checker;
use sim::time::SimTime;
use sim::world::NodeEvent;
use sim::Recorded;

const CLIENT_NODE: u64 = 5;

fn ms(t: u64) -> u64 {
    t * 1_000_000
}

fn store(t: u64, node: u64, client: u64, context: u32, seq: u64, event: u64) -> Recorded {
    Recorded::new(
        ms(t),
        node,
        CmEvent::Store {
            client,
            context,
            seq,
            event: EventId(event),
            code: "CLU0101".into(),
        },
    )
}

fn push(t: u64, node: u64, seq: u64, view: u64) -> Recorded {
    Recorded::new(
        ms(t),
        node,
        CmEvent::Push {
            client: 1,
            context: 1,
            seq,
            event: EventId(100 + seq),
            view,
            resend: false,
        },
    )
}

fn client_ev(t: u64, event: ClientEvent) -> Recorded {
    Recorded::new(ms(t), CLIENT_NODE, event)
}

fn deliver(t: u64, seq: u64, event: u64) -> Recorded {
    client_ev(
        t,
        ClientEvent::Deliver {
            client: 1,
            context: 1,
            seq,
            event: EventId(event),
            question: false,
            text: String::new(),
        },
    )
}

/// Client 1 received context 1's `seq` (event `100 + seq`, or `event`) from `master`.
fn receive(t: u64, master: u64, seq: u64, duplicate: bool) -> Recorded {
    receive_as(t, master, seq, 100 + seq, duplicate)
}

fn receive_as(t: u64, master: u64, seq: u64, event: u64, duplicate: bool) -> Recorded {
    client_ev(
        t,
        ClientEvent::Receive {
            client: 1,
            context: 1,
            seq,
            event: EventId(event),
            master: sim::event::NodeId(master),
            duplicate,
        },
    )
}

/// Client 1 told `node` it received context 1 up to `upto` (by a poll, or by its hello).
fn ack(t: u64, node: u64, upto: u64, hello: bool) -> Recorded {
    let e = if hello {
        CmEvent::Resume {
            client: 1,
            context: 1,
            after: upto,
        }
    } else {
        CmEvent::Ack {
            client: 1,
            context: 1,
            upto,
        }
    };
    Recorded::new(ms(t), node, e)
}

fn list(t: u64, seqs: &[u64], asked_ms: u64) -> Recorded {
    client_ev(
        t,
        ClientEvent::List {
            client: 1,
            context: 1,
            seqs: seqs.to_vec(),
            asked: SimTime(ms(asked_ms)),
        },
    )
}

/// Task `task` of the job `2.0.0`.
fn task(task: u64) -> TaskAddr {
    TaskAddr {
        node: 2,
        inc: 0,
        job: 0,
        task,
    }
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
        Recorded::new(
            ms(3),
            0u64,
            CmEvent::Ack {
                client: 1,
                context: 1,
                upto: 1,
            },
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
        Recorded::new(
            ms(3),
            2u64,
            CmEvent::Resume {
                client: 1,
                context: 1,
                after: 1,
            },
        ),
        push(4, 2, 1, 4),
    ];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &resent)[0].contains("again"));

    let swapped = vec![store(1, 0, 1, 1, 1, 101), deliver(2, 1, 999)];
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &swapped)[0].contains("holds event"));
}

/// Master n0 pushes seqs 1 to 3; seq 2 is lost and arrives after 3 on the poll's resend,
/// and seq 3 arrives twice; the client acknowledges to n0, which fails over to n1; the
/// client says hello to n1, which sends only seq 4.
fn failover_history() -> Vec<Recorded> {
    let mut e: Vec<Recorded> = (1..=4).map(|s| store(1, 0, 1, 1, s, 100 + s)).collect();
    e.extend([
        push(1, 0, 1, 3),
        push(1, 0, 2, 3),
        push(1, 0, 3, 3),
        receive(2, 0, 1, false),
        deliver(2, 1, 101),
        receive(3, 0, 3, false),
        receive(3, 0, 3, true),
        ack(4, 0, 1, false),
        push(5, 0, 2, 3),
        receive(6, 0, 2, false),
        deliver(6, 2, 102),
        deliver(6, 3, 103),
        ack(7, 0, 3, false),
        ack(20, 1, 3, true),
        push(20, 1, 4, 5),
        receive(21, 1, 4, false),
        deliver(21, 4, 104),
    ]);
    e
}

#[test]
fn client_stream_accepts_reordered_and_duplicated_copies_across_a_failover() {
    assert_eq!(
        one(ClientStream::default(), &failover_history()),
        Vec::<String>::new()
    );
}

#[test]
fn client_stream_rejects_a_copy_acknowledged_to_another_master_that_the_old_checker_misses() {
    // n1 takes over and pushes seqs 1 to 3 before the hello: the client acknowledged them
    // to n0, drops the copies, and n1 itself was never told.
    let mut e = failover_history();
    let hello = e.len() - 4;
    e.splice(hello..hello, [push(19, 1, 2, 5), receive(19, 1, 2, true)]);
    let v = one(ClientStream::default(), &e);
    assert!(
        v[0].contains("seq 2 reached its client again from n1, which sent it at 0.019000s after the client told n0 at 0.007000s it received everything up to 3"),
        "{v:?}"
    );
    assert!(one(ExactlyOnceToClient::new(5, 1_000), &e).is_empty());
    // A copy n1 sent before anyone learned the client had it is only late, not wrong.
    let mut e = failover_history();
    e.insert(7, push(3, 1, 3, 2));
    e.push(receive(22, 1, 3, true));
    assert_eq!(one(ClientStream::default(), &e), Vec::<String>::new());
}

#[test]
fn client_stream_rejects_a_wrong_duplicate_verdict_a_swapped_event_and_an_early_delivery() {
    let base = vec![store(1, 0, 1, 1, 1, 101), store(1, 0, 1, 1, 2, 102)];
    let with = |extra: &[Recorded]| {
        let mut e = base.clone();
        e.extend_from_slice(extra);
        one(ClientStream::default(), &e)
    };
    let twice = with(&[receive(2, 0, 1, false), receive(3, 0, 1, false)]);
    assert!(
        twice[0].contains("again from n0 and was taken as new"),
        "{twice:?}"
    );
    let dropped = with(&[receive(2, 0, 1, true)]);
    assert!(
        dropped[0].contains("the first time and was dropped"),
        "{dropped:?}"
    );
    let swapped = with(&[receive_as(2, 0, 1, 999, false)]);
    assert!(swapped[0].contains("the slot holds event"), "{swapped:?}");
    let early = with(&[receive(2, 0, 2, false), deliver(2, 2, 102)]);
    assert!(
        early[0].contains("after seq 0: out of the list's order"),
        "{early:?}"
    );
    let unseen = with(&[deliver(2, 1, 101)]);
    assert!(unseen[0].contains("never arrived"), "{unseen:?}");
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
    let raise = Recorded::new(
        0,
        2u64,
        TaskEvent::Raise {
            event: EventId(101),
            client: 1,
            context: 1,
            code: "CLU0101".into(),
            task: task(1),
            question: false,
        },
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
    assert!(with(list(5, &[3, 2, 1], 4)).is_empty());
    assert!(with(list(5, &[1, 2, 3], 4))[0].contains("listed [1,2,3]: not newest first"));
    assert!(with(list(5, &[3, 1], 4))[0].contains("without seq 2"));
    // Seq 3 arrived after the request was made: the answer may predate it.
    assert!(with(list(5, &[2, 1], 3)).is_empty());
    let mut removed = base.clone();
    removed.push(client_ev(
        4,
        ClientEvent::Remove {
            client: 1,
            context: 1,
            seq: 2,
        },
    ));
    removed.push(list(6, &[3, 2, 1], 5));
    assert!(one(StackOrder::default(), &removed)[0].contains("which it removed"));
    let mut evicted = base.clone();
    evicted.push(Recorded::new(
        ms(4),
        0u64,
        CmEvent::Evict {
            client: 1,
            context: 1,
            seq: 1,
        },
    ));
    evicted.push(list(6, &[3, 2], 5));
    assert!(one(StackOrder::default(), &evicted).is_empty());
    let top = |seq: u64| {
        client_ev(
            5,
            ClientEvent::Top {
                client: 1,
                context: 1,
                seq: Some(seq),
                asked: SimTime(ms(4)),
            },
        )
    };
    assert!(with(top(3)).is_empty());
    assert!(with(top(2))[0].contains("newest it holds is 3"));
}

#[test]
fn single_master_rejects_overlapping_service_of_two_nodes() {
    let serve = |t: u64, node: u64, view: u64| {
        Recorded::new(
            ms(t),
            node,
            CmEvent::Serve {
                client: 1,
                what: "polled",
                view,
            },
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
    let ask = Recorded::new(
        ms(1),
        2u64,
        TaskEvent::Ask {
            dialogue: EventId(7),
            task: task(1),
            default: "no".into(),
            deadline: SimTime(ms(10)),
        },
    );
    let stored = store(2, 0, 1, 1, 1, 7);
    let reply = client_ev(
        3,
        ClientEvent::Reply {
            client: 1,
            dialogue: EventId(7),
            reply: "yes".into(),
        },
    );
    let answer = |t: u64, to: TaskAddr, reply: &str, defaulted: bool| {
        Recorded::new(
            ms(t),
            2u64,
            TaskEvent::Answer {
                dialogue: EventId(7),
                task: to,
                reply: reply.into(),
                defaulted,
            },
        )
    };
    let base = vec![ask.clone(), stored.clone(), reply.clone()];
    let run = |extra: Vec<Recorded>| {
        let mut e = base.clone();
        e.extend(extra);
        one(DialogueAnswered::new(5, 1_000), &e)
    };
    assert!(run(vec![answer(4, task(1), "yes", false)]).is_empty());
    assert!(run(vec![answer(11, task(1), "no", true)]).is_empty());
    assert!(run(vec![answer(4, task(2), "yes", false)])[0].contains("reached task 2.0.0/t0.0.2"));
    assert!(run(vec![answer(4, task(1), "no", true)])[0].contains("before its deadline"));
    assert!(run(vec![answer(4, task(1), "maybe", false)])[0].contains("never replied"));
    assert!(run(vec![])[0].contains("never answered"));
    // A task whose job died needs no answer (the engine's `job.unregister`).
    let died = unregister(5, "2.0.0");
    assert!(run(vec![died]).is_empty());
    let crashed = Recorded::new(ms(5), 2u64, NodeEvent::Crash);
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
