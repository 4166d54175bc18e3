//! The causal slice of a violation: the few events that explain it, small enough to read on
//! one screen.
//!
//! Events happen before the violating event through each node's program order and through
//! message send → delivery edges (the run must have been recorded at
//! [`Detail::Net`](crate::trace::Detail) for the edges). The whole happens-before set is
//! most of the run, so the slice keeps what a reader needs, in this order of priority:
//!
//! 1. the violating event; for a violation judged at the end of the run (a history that
//!    does not linearize), which has no event of its own, also the events at the times
//!    its explanation names (the operation that could not be placed, from invocation to
//!    completion);
//! 2. its message chain (and theirs): the delivery that triggered it (the last delivery
//!    to its node within [`TRIGGER_WINDOW_NS`] before it), that message's send and
//!    duplicate or delay, the event the sender was handling when it sent it, and so on
//!    back, a few hops;
//! 3. the fault windows that overlap the slice, from its earliest event (of the chain or
//!    named in 4) to the violation (their `fault.start` lines), and the crashes and
//!    restarts of the chain's nodes;
//! 4. the earlier events that name an identifier of the violating event (a request, a
//!    round, a member), most recent first.
//!
//! Each line shows the faults active at that moment, so "which fault allowed it" is read
//! off the chain.

use crate::check::Violation;
use crate::event::{EventRef, NodeId};
use crate::fault::FaultPlan;
use crate::net::NetEvent;
use crate::trace::{event_label, write_fields, Trace};
use crate::world::{FaultEvent, NodeEvent, WorldEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// How long before an event a delivery to its node may have triggered it: handling a
/// message takes a few task polls (tens of ns each), never a microsecond.
pub const TRIGGER_WINDOW_NS: u64 = 10_000;

/// How many message hops the chain follows back.
const MAX_HOPS: usize = 4;

/// How many earlier events naming the violation's identifiers the slice shows at most.
const MAX_NAMED: usize = 8;

/// How many events at times an end-of-run violation names the slice starts from at most.
const MAX_ANCHORS: usize = 4;

/// One event of the trace in recording order, protocol-level or detail.
struct Item<'a> {
    ev: EventRef<'a>,
    /// `#12` or `#12.3`.
    label: String,
    /// A protocol-level event (its index is its own), not a detail one.
    protocol: bool,
}

/// The labels (`#12`, `#12.3`) of the events of the causal slice of `violation`, as
/// [`explain`] would print them in at most `max_lines` lines.
pub fn slice(trace: &Trace, violation: &Violation, max_lines: usize) -> BTreeSet<String> {
    let items = items_of(trace);
    let (chosen, _) = select(&items, violation, max_lines);
    chosen.into_iter().map(|i| items[i].label.clone()).collect()
}

fn items_of(trace: &Trace) -> Vec<Item<'_>> {
    trace
        .iter_all()
        .map(|(ev, sub)| Item {
            label: event_label(ev.index, sub),
            protocol: sub.is_none(),
            ev,
        })
        .collect()
}

/// The causal slice of `violation` in `trace`, at most `max_lines` lines (header included).
pub fn explain(trace: &Trace, plan: &FaultPlan, violation: &Violation, max_lines: usize) -> String {
    let items = items_of(trace);
    let (chosen, target) = select(&items, violation, max_lines);
    let header = header_lines(violation, &items[target]);
    render(&items, plan, &chosen, target, &header)
}

/// The slice's items, and the violating event's position.
fn select(items: &[Item<'_>], violation: &Violation, max_lines: usize) -> (BTreeSet<usize>, usize) {
    // The position of the violating event among all items (an end-of-run violation is
    // judged after the last event).
    let found = items
        .iter()
        .position(|it| it.protocol && it.ev.index == violation.event_index);
    let target = found.unwrap_or(items.len().saturating_sub(1));
    // A violation at the end of the run (judged after the last event, or at the world's
    // end event) has no event of its own to follow back; the events at the times its
    // explanation names (an operation's invocation and completion) stand in for it.
    let at_end = found.is_none()
        || matches!(
            items[target].ev.get::<WorldEvent>(),
            Some(WorldEvent::End { .. })
        );
    let mut roots = vec![target];
    if at_end {
        roots.extend(anchors(items, &violation.explanation));
    }

    let mut sends: BTreeMap<u64, usize> = BTreeMap::new();
    let mut extras: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        match it.ev.get::<NetEvent>() {
            Some(NetEvent::Send { msg, .. }) => {
                sends.insert(msg.0, i);
            }
            Some(NetEvent::Duplicate { msg }) | Some(NetEvent::Delay { msg, .. }) => {
                extras.entry(msg.0).or_default().push(i);
            }
            _ => {}
        }
    }

    // Priority 1 and 2: the violating event (or the events standing in for it) and its
    // message chain.
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    for &root in &roots {
        chosen.insert(root);
        follow_chain(items, root, &sends, &extras, &mut chosen);
    }
    let chain = chosen.clone();

    // Priority 4: earlier events naming an identifier of the violating event or of the
    // violation's explanation, most recent first.
    let mut ids = identifiers(&items[target].ev);
    ids.extend(
        violation
            .explanation
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '\''))
            .filter(|w| id_like(w))
            .map(str::to_string),
    );
    let named: Vec<usize> = (0..target)
        .rev()
        .filter(|&i| items[i].ev.get::<NetEvent>().is_none())
        .filter(|&i| identifiers(&items[i].ev).iter().any(|v| ids.contains(v)))
        .take(MAX_NAMED)
        .collect();

    // Priority 3: the fault windows over the slice, and the lives of its nodes.
    // The slice reaches back to its earliest event, named ones included: a fault that
    // ended before the message chain began may still be what let an earlier step happen.
    let from_ns = chain
        .iter()
        .chain(&named)
        .map(|&i| items[i].ev.t_ns)
        .min()
        .unwrap_or(0);
    let to_ns = items[target].ev.t_ns;
    let nodes: BTreeSet<NodeId> = chain.iter().map(|&i| items[i].ev.node).collect();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut context: Vec<usize> = vec![];
    for (i, it) in items.iter().enumerate().take(target + 1) {
        match it.ev.get::<FaultEvent>() {
            Some(FaultEvent::Start { fault, .. }) => {
                open.insert(*fault, i);
            }
            Some(FaultEvent::End { fault, .. }) => {
                if let Some(s) = open.remove(fault) {
                    if it.ev.t_ns >= from_ns {
                        context.push(s);
                    }
                }
            }
            Some(FaultEvent::HealAll) => {
                for (_, s) in std::mem::take(&mut open) {
                    if it.ev.t_ns >= from_ns {
                        context.push(s);
                    }
                }
            }
            _ => {}
        }
        if it.ev.get::<NodeEvent>().is_some() && nodes.contains(&it.ev.node) && it.ev.t_ns <= to_ns
        {
            context.push(i);
        }
    }
    context.extend(open.values().copied());

    let room = max_lines.saturating_sub(header_lines(violation, &items[target]).len() + 1);
    for i in context.into_iter().chain(named) {
        if chosen.len() >= room {
            break;
        }
        chosen.insert(i);
    }
    while chosen.len() > room {
        // Only the chain can be over the room: keep the violating event and what is
        // nearest to it.
        let first = *chosen.iter().next().expect("not empty");
        chosen.remove(&first);
    }

    (chosen, target)
}

fn render(
    items: &[Item<'_>],
    plan: &FaultPlan,
    chosen: &BTreeSet<usize>,
    target: usize,
    header: &[String],
) -> String {
    let active = active_faults(items, plan);
    let mut out = String::new();
    for h in header {
        out.push_str(h);
        out.push('\n');
    }
    let lw = chosen
        .iter()
        .map(|&i| items[i].label.len())
        .max()
        .unwrap_or(2);
    let tw = items[target].ev.time().to_string().len();
    writeln!(
        out,
        " {:>lw$} {:>tw$} {:<5} {:<44} active faults",
        "#", "time", "node", "event"
    )
    .expect("a String takes any text");
    for &i in chosen {
        let it = &items[i];
        let mark = if i == target { ">" } else { " " };
        let mut event = format!("{}.{}", it.ev.component(), it.ev.name());
        write_fields(&mut event, it.ev.event).expect("a String takes any text");
        let faults = &active[i];
        writeln!(
            out,
            "{mark}{:>lw$} {:>tw$} {:<5} {:<44} {}",
            it.label,
            it.ev.time().to_string(),
            it.ev.node.to_string(),
            event,
            if faults.is_empty() {
                "-".to_string()
            } else {
                faults.join("; ")
            },
        )
        .expect("a String takes any text");
    }
    out
}

/// The sentence at the top: the checker, what it holds, what it saw, where.
fn header_lines(v: &Violation, target: &Item<'_>) -> Vec<String> {
    // An end-of-run check names the event count, one past the last event: its slice ends
    // at the last event.
    let at = if target.protocol && target.ev.index == v.event_index {
        target.label.clone()
    } else {
        format!(
            "the end of the run (event #{}, after {})",
            v.event_index, target.label
        )
    };
    vec![format!(
        "{} violated at {} ({}): {}",
        v.checker,
        at,
        crate::time::SimTime(v.t_ns),
        v.explanation
    )]
}

/// Follows the message chain back from the event at `at`: the delivery that triggered it,
/// that message's send (with its duplicates and delays), the event the sender was
/// handling, and so on back, [`MAX_HOPS`] hops at most.
fn follow_chain(
    items: &[Item<'_>],
    mut at: usize,
    sends: &BTreeMap<u64, usize>,
    extras: &BTreeMap<u64, Vec<usize>>,
    chosen: &mut BTreeSet<usize>,
) {
    for _ in 0..MAX_HOPS {
        let Some(deliver) = trigger(items, at) else {
            break;
        };
        chosen.insert(deliver);
        let Some(NetEvent::Deliver { msg, .. }) = items[deliver].ev.get::<NetEvent>() else {
            break;
        };
        let Some(&send) = sends.get(&msg.0) else {
            break;
        };
        chosen.insert(send);
        chosen.extend(extras.get(&msg.0).into_iter().flatten().copied());
        // What the sender was doing when it sent: its last protocol event at that moment,
        // or, when it sent on a timer or relayed a message, the send itself.
        at = match cause_of_send(items, send) {
            Some(cause) => {
                chosen.insert(cause);
                cause
            }
            None => send,
        };
    }
}

/// The protocol events at the simulated times an explanation names (`11.900059s`, as
/// every time prints, to the microsecond), in the order it names them, at most
/// [`MAX_ANCHORS`]: what an end-of-run violation is about (an operation that could not be
/// placed, from its invocation to its completion).
fn anchors(items: &[Item<'_>], explanation: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for word in explanation.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | ';'))
    {
        let Some(us) = parse_micros(word) else {
            continue;
        };
        for (i, it) in items.iter().enumerate() {
            if it.protocol && it.ev.t_ns / 1_000 == us && !out.contains(&i) {
                out.push(i);
            }
        }
        if out.len() >= MAX_ANCHORS {
            break;
        }
    }
    out.truncate(MAX_ANCHORS);
    out
}

/// `11.900059s` as microseconds; `None` for anything else.
fn parse_micros(word: &str) -> Option<u64> {
    let (secs, frac) = word.strip_suffix('s')?.split_once('.')?;
    if frac.len() != 6 || secs.is_empty() {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let frac: u64 = frac.parse().ok()?;
    Some(secs * 1_000_000 + frac)
}

/// The delivery that triggered the event at `at`: the last delivery to its node at most
/// [`TRIGGER_WINDOW_NS`] before it.
fn trigger(items: &[Item<'_>], at: usize) -> Option<usize> {
    let node = items[at].ev.node;
    let t = items[at].ev.t_ns;
    for i in (0..at).rev() {
        let it = &items[i];
        if t.saturating_sub(it.ev.t_ns) > TRIGGER_WINDOW_NS {
            return None;
        }
        if it.ev.node == node && matches!(it.ev.get::<NetEvent>(), Some(NetEvent::Deliver { .. })) {
            return Some(i);
        }
    }
    None
}

/// The protocol event the sender was handling when it sent the message at `send`: its
/// last protocol event at most [`TRIGGER_WINDOW_NS`] before.
fn cause_of_send(items: &[Item<'_>], send: usize) -> Option<usize> {
    let node = items[send].ev.node;
    let t = items[send].ev.t_ns;
    for i in (0..send).rev() {
        let it = &items[i];
        if t.saturating_sub(it.ev.t_ns) > TRIGGER_WINDOW_NS {
            return None;
        }
        if it.ev.node == node && it.ev.get::<NetEvent>().is_none() {
            return Some(i);
        }
    }
    None
}

/// The identifier-like field values of an event: ids, rounds, members (text with a `.`,
/// `/` or `:` in it), never plain numbers, times or nodes.
fn identifiers(ev: &EventRef<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    ev.visit_fields(&mut |_, v| {
        if v.as_u64().is_some() || v.as_bool().is_some() {
            return;
        }
        let text = crate::event::Text(v).to_string();
        if id_like(&text) {
            out.insert(text);
        }
    });
    out
}

/// Whether a field's text looks like an identifier: `4.0.119`, `1/38`, never a time
/// (`1.5s`), a list or a sentence.
fn id_like(text: &str) -> bool {
    text.contains(['.', '/', ':'])
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_digit())
        && !text.contains(['[', ' ', ','])
        && text.len() <= 40
}

/// For each item, the faults whose windows hold it: `#2 duplication p=0.21`.
fn active_faults(items: &[Item<'_>], plan: &FaultPlan) -> Vec<Vec<String>> {
    let label = |fault: u64| {
        let what = plan
            .faults
            .get(fault as usize)
            .map(|f| {
                let s = f.to_string();
                // `{at} {what}`: the time is in the line already.
                s.split_once(' ').map_or(s.clone(), |(_, w)| w.to_string())
            })
            .unwrap_or_default();
        format!("#{fault} {what}")
    };
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    items
        .iter()
        .map(|it| {
            match it.ev.get::<FaultEvent>() {
                Some(FaultEvent::Start { fault, .. }) => {
                    open.insert(*fault, label(*fault));
                }
                Some(FaultEvent::End { fault, .. }) => {
                    open.remove(fault);
                }
                Some(FaultEvent::HealAll) => open.clear(),
                _ => {}
            }
            open.values().cloned().collect()
        })
        .collect()
}
