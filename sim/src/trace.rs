//! The deterministic trace: every event a run records, in order, with its simulated time
//! and node, and the three forms it prints in (text lines, JSON lines, Chrome trace).
//!
//! Protocol code records with [`emit!`](crate::emit). A run installs a recorder on its
//! seed's own OS thread (a thread-local; each seed runs on a thread of its own), which
//! stamps each event with madsim's clock and its index, folds it into the trace hash,
//! shows it to the checkers by reference, and keeps it only when the run keeps events:
//! a sweep pays for hashing and checking, never for rendering.
//!
//! The hash is [`TraceHasher`] over each event's binary encoding (see
//! [`crate::event::event_hash`]), and the trace hash folds the events' hashes
//! in order: a fixed function of the events, independent of the Rust version or the
//! platform, and independent of how a trace prints.
//!
//! A run may also record events of a [`Detail`] level above the protocol's, today the
//! network's ([`crate::net::NetEvent`] at `--detail net`). They are kept beside the trace
//! in [`Trace::detail`], never hashed and never shown to checkers, and they have no index
//! of their own: each prints after the protocol-level event it followed, as `#12.3` in text
//! (the third after event #12) and with `"index": 12, "detail": 3` in JSON lines.

use crate::check::{CheckerSet, Violation};
use crate::event::{event_hash, Event, Text};
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};

pub use crate::event::{EventRef, NodeId, Recorded, TraceHasher};

/// The `node` of events that belong to the world rather than to a node
/// ([`NodeId::WORLD`]'s number).
pub const WORLD_NODE: u64 = u64::MAX;

/// Formats a trace hash the way every command prints it.
pub fn hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

/// How much a run records beyond its protocol-level events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// The protocol-level events only: what the hash covers and the checkers see.
    #[default]
    Protocol,
    /// Also every network send, delivery, drop, duplicate and extra delay
    /// ([`crate::net::NetEvent`]), kept beside the trace: the run, its protocol-level
    /// events and its hash are the same as without them.
    Net,
}

impl Detail {
    pub const NAMES: [&'static str; 2] = ["protocol", "net"];

    pub fn name(self) -> &'static str {
        match self {
            Detail::Protocol => "protocol",
            Detail::Net => "net",
        }
    }

    pub fn parse(s: &str) -> Result<Detail, String> {
        match s {
            "protocol" => Ok(Detail::Protocol),
            "net" => Ok(Detail::Net),
            _ => Err(format!(
                "unknown detail level '{s}' (known: {})",
                Detail::NAMES.join(", ")
            )),
        }
    }
}

/// An event recorded at a detail level above [`Detail::Protocol`]. It has no index of its
/// own: it prints after the protocol-level event it followed, as `#12.3` (the third
/// detail event after event #12).
#[derive(Debug)]
pub struct DetailEvent {
    /// How many protocol-level events were recorded before it.
    pub after: u64,
    pub event: Recorded,
}

/// Everything a run recorded.
#[derive(Debug, Default)]
pub struct Trace {
    /// The events, when the run kept them.
    pub events: Vec<Recorded>,
    /// The detail events, in the order they were recorded, when the run asked for them.
    pub detail: Vec<DetailEvent>,
    /// The hash of each event, always kept (8 bytes an event) so two runs can be compared
    /// to the first differing event without keeping either trace.
    pub event_hashes: Vec<u64>,
    pub hash: u64,
    pub event_count: u64,
}

/// Column widths that align a trace's lines: the widest index and time of the trace, and
/// five columns for the node (`world`).
#[derive(Clone, Copy, Debug, Default)]
struct Columns {
    index: usize,
    time: usize,
    node: usize,
}

/// An event's place as every output prints it: `#12` for protocol event 12, `#12.3` for
/// the third detail event after it.
pub fn event_label(index: u64, sub: Option<u64>) -> String {
    match sub {
        None => format!("#{index}"),
        Some(k) => format!("#{index}.{k}"),
    }
}

/// Writes an event's fields as a trace line prints them: ` key=value` for each field that
/// is present, in declaration order.
pub fn write_fields(out: &mut dyn fmt::Write, ev: &dyn Event) -> fmt::Result {
    let mut result = Ok(());
    ev.visit_fields(&mut |k, v| {
        if result.is_ok() && !v.is_absent() {
            result = write!(out, " {k}={}", Text(v));
        }
    });
    result
}

/// Writes one event's line: `#index time node component.event key=value ...`, the index
/// and time right-aligned and the node left-aligned in `cols`. A detail event's index is
/// `#i.k`, its place after protocol event `#i`.
fn write_line(
    out: &mut dyn fmt::Write,
    ev: &EventRef<'_>,
    sub: Option<u64>,
    cols: Columns,
) -> fmt::Result {
    let index = event_label(ev.index, sub);
    write!(
        out,
        "{index:>iw$} {:>tw$} {:<nw$} {}.{}",
        ev.time(),
        ev.node,
        ev.component(),
        ev.name(),
        iw = cols.index,
        tw = cols.time,
        nw = cols.node,
    )?;
    write_fields(out, ev.event)
}

impl fmt::Display for EventRef<'_> {
    /// The event's trace line, without alignment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(f, self, None, Columns::default())
    }
}

/// Writes `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a string serializes"));
}

/// The event's fields as a JSON object, in declaration order.
fn push_json_fields(out: &mut String, ev: &dyn Event) {
    out.push('{');
    let mut first = true;
    ev.visit_fields(&mut |k, v| {
        if !first {
            out.push(',');
        }
        first = false;
        push_json_str(out, k);
        out.push(':');
        out.push_str(&v.to_json().to_string());
    });
    out.push('}');
}

impl EventRef<'_> {
    /// The event as one JSON object: index, `t_ns`, the formatted time, node,
    /// `component.event` and the typed fields.
    pub fn to_json_line(&self) -> String {
        self.json_line(None)
    }

    /// [`to_json_line`](Self::to_json_line); a detail event also carries `"detail": k`,
    /// its place after the protocol-level event `index`.
    fn json_line(&self, sub: Option<u64>) -> String {
        let mut s = String::with_capacity(160);
        write!(s, "{{\"index\":{},", self.index).expect("a String takes any text");
        if let Some(k) = sub {
            write!(s, "\"detail\":{k},").expect("a String takes any text");
        }
        write!(
            s,
            "\"t_ns\":{},\"time\":\"{}\",\"node\":\"{}\",\"event\":",
            self.t_ns,
            self.time(),
            self.node
        )
        .expect("a String takes any text");
        push_json_str(&mut s, &format!("{}.{}", self.component(), self.name()));
        s.push_str(",\"fields\":");
        push_json_fields(&mut s, self.event);
        s.push('}');
        s
    }
}

impl Trace {
    /// The `i`-th event, if the run kept events.
    pub fn get(&self, i: usize) -> Option<EventRef<'_>> {
        self.events.get(i).map(|e| e.view(i as u64))
    }

    /// The kept events in order.
    pub fn iter(&self) -> impl Iterator<Item = EventRef<'_>> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| e.view(i as u64))
    }

    /// The `i`-th event's line, unaligned.
    pub fn line(&self, i: usize) -> Option<String> {
        self.get(i).map(|e| e.to_string())
    }

    fn columns(&self) -> Columns {
        let last = self.events.len().saturating_sub(1);
        let detail = if self.detail.is_empty() {
            0
        } else {
            format!(".{}", self.detail.len()).len()
        };
        Columns {
            index: format!("#{last}").len() + detail,
            time: self
                .events
                .last()
                .map_or(0, |e| crate::time::SimTime(e.t_ns).to_string().len()),
            node: "world".len(),
        }
    }

    /// Every kept event in the order it was recorded, protocol-level and detail events
    /// interleaved: each with its place (`None` for a protocol event, `Some(k)` for the
    /// k-th detail event after the protocol event whose index it carries).
    pub fn iter_all(&self) -> impl Iterator<Item = (EventRef<'_>, Option<u64>)> {
        let mut detail = self.detail.iter().peekable();
        let mut k = 0;
        let mut protocol = self.iter().peekable();
        std::iter::from_fn(move || {
            let next_index = protocol.peek().map_or(u64::MAX, |e| e.index);
            match detail.peek() {
                Some(d) if d.after <= next_index => {
                    let d = detail.next().expect("peeked");
                    k += 1;
                    let index = d.after.saturating_sub(1);
                    Some((d.event.view(index), Some(k)))
                }
                _ => {
                    k = 0;
                    protocol.next().map(|e| (e, None))
                }
            }
        })
    }

    /// One line per event, aligned (with the detail events, if the run recorded any).
    pub fn text(&self) -> String {
        let cols = self.columns();
        let mut s = String::with_capacity((self.events.len() + self.detail.len()) * 80);
        for (e, sub) in self.iter_all() {
            write_line(&mut s, &e, sub, cols).expect("a String takes any text");
            s.push('\n');
        }
        s
    }

    /// One JSON object per line (see [`EventRef::to_json_line`]).
    pub fn json_lines(&self) -> String {
        let mut s = String::new();
        for (e, sub) in self.iter_all() {
            s.push_str(&e.json_line(sub));
            s.push('\n');
        }
        s
    }

    /// Chrome Trace Event JSON (see [`crate::chrome`]), opens in Perfetto or
    /// chrome://tracing.
    pub fn chrome(&self) -> String {
        crate::chrome::render(self, &[])
    }

    /// [`chrome`](Self::chrome) with the run's violations marked at their times.
    pub fn chrome_with(&self, violations: &[Violation]) -> String {
        crate::chrome::render(self, violations)
    }

    /// The index of the first event that differs, if the traces differ.
    pub fn first_divergence(&self, other: &Trace) -> Option<usize> {
        let n = self.event_hashes.len().min(other.event_hashes.len());
        (0..n)
            .find(|&i| self.event_hashes[i] != other.event_hashes[i])
            .or(if self.event_hashes.len() != other.event_hashes.len() {
                Some(n)
            } else {
                None
            })
    }

    /// The per-event hashes and the trace hash of `events`, as a run that recorded them
    /// would have computed them.
    pub fn hashes_of(events: &[Recorded]) -> (Vec<u64>, u64) {
        let mut trace = TraceHasher::new();
        let hashes: Vec<u64> = events
            .iter()
            .map(|e| {
                let h = event_hash(e.t_ns, e.node, &*e.event);
                trace.write_u64(h);
                h
            })
            .collect();
        (hashes, trace.finish())
    }
}

// ------------------------------------------------------------------ the recorder

/// The state a run's recorder mutates on every event.
struct RecorderState {
    keep_events: bool,
    trace: Trace,
    /// Folds the events' hashes into the trace hash.
    hasher: TraceHasher,
    checkers: CheckerSet,
}

thread_local! {
    /// The recorder of the run on this thread, if one is running.
    static RECORDER: RefCell<Option<RecorderState>> = const { RefCell::new(None) };

    /// The detail level of the run recording on this thread, apart from the recorder so
    /// that the network, which asks on every send and delivery, learns that a run records
    /// no detail without borrowing the recorder.
    static DETAIL: Cell<Detail> = const { Cell::new(Detail::Protocol) };
}

impl RecorderState {
    /// Hashes `ev`, numbers it and shows it to the checkers that want it.
    #[inline]
    fn observe<E: Event>(&mut self, node: NodeId, ev: &E) -> u64 {
        let t_ns = crate::clock::now_ns();
        let h = event_hash(t_ns, node, ev);
        self.hasher.write_u64(h);
        self.trace.event_hashes.push(h);
        let index = self.trace.event_count;
        self.trace.event_count += 1;
        let route = self.checkers.route_of(ev);
        self.checkers
            .observe_route(route, &EventRef::of(index, t_ns, node, ev));
        t_ns
    }
}

impl RecorderState {
    /// Keeps an event the run has recorded.
    fn keep(&mut self, t_ns: u64, node: NodeId, event: impl Event) {
        self.trace.events.push(Recorded {
            t_ns,
            node,
            event: Box::new(event),
        });
    }
}

fn with_recorder(f: impl FnOnce(&mut RecorderState)) {
    RECORDER.with(|cell| {
        let mut guard = cell.try_borrow_mut().expect(
            "an event was emitted while another was being recorded: checkers must not emit",
        );
        if let Some(st) = guard.as_mut() {
            f(st);
        }
    });
}

/// Records a typed event (what `emit!(node, event)` expands to). `make` runs only when a
/// run is recording on this thread.
#[doc(hidden)]
#[inline]
pub fn record<E: Event>(node: NodeId, make: impl FnOnce() -> E) {
    with_recorder(|st| {
        let ev = make();
        let t_ns = st.observe(node, &ev);
        if st.keep_events {
            st.keep(t_ns, node, ev);
        }
    });
}

/// Records an event of a detail level above [`Detail::Protocol`] (see [`Detail`]): kept
/// beside the trace when the run asked for that level, never hashed, never shown to the
/// checkers. `make` runs only then.
#[inline]
pub fn record_detail<E: Event>(node: NodeId, make: impl FnOnce() -> E) {
    if DETAIL.with(Cell::get) != Detail::Net {
        return;
    }
    with_recorder(|st| {
        let t_ns = crate::clock::now_ns();
        st.trace.detail.push(DetailEvent {
            after: st.trace.event_count,
            event: Recorded {
                t_ns,
                node,
                event: Box::new(make()),
            },
        });
    });
}

/// A run's recorder, installed on the calling thread until it is finished or dropped.
pub(crate) struct Recording {
    /// The recorder lives in a thread-local of the thread that started it.
    _on_this_thread: std::marker::PhantomData<*const ()>,
}

impl Recording {
    /// Installs a recorder on this thread. One run at a time per thread.
    pub(crate) fn start(keep_events: bool, detail: Detail, checkers: CheckerSet) -> Recording {
        RECORDER.with(|cell| {
            let mut slot = cell.borrow_mut();
            assert!(
                slot.is_none(),
                "a run is already recording on this thread: one run per thread at a time"
            );
            *slot = Some(RecorderState {
                keep_events,
                trace: Trace::default(),
                hasher: TraceHasher::new(),
                checkers,
            });
        });
        DETAIL.with(|d| d.set(detail));
        Recording {
            _on_this_thread: std::marker::PhantomData,
        }
    }

    /// Finishes the run: end-of-run checks (unless the run was cut short), the final hash.
    pub(crate) fn finish(
        self,
        end: &crate::check::RunEnd,
        end_checks: bool,
    ) -> (Trace, Vec<Violation>) {
        let mut st = RECORDER
            .with(|cell| cell.borrow_mut().take())
            .expect("the run's recorder is installed until it finishes");
        if end_checks {
            st.checkers.finish(st.trace.event_count, end);
        }
        st.trace.hash = st.hasher.finish();
        let violations = st.checkers.take_violations();
        (st.trace, violations)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // Also when the run is abandoned by a panic: the next run on this thread starts
        // with no recorder.
        let _ = RECORDER.try_with(|cell| {
            if let Ok(mut slot) = cell.try_borrow_mut() {
                slot.take();
            }
        });
        let _ = DETAIL.try_with(|d| d.set(Detail::Protocol));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    crate::trace_events! {
        /// A request/reply component, for pinning the encoding.
        enum Rr in "rr" {
            /// A request left.
            Request as "request" {
                /// Its id.
                id: u64,
                /// Its server.
                to: NodeId,
            },
            /// The answer came.
            Answered as "answered" {
                /// Its id.
                id: u64,
                /// How long it took.
                latency: SimDuration,
                /// Who else heard.
                also: Vec<NodeId>,
                /// A note.
                note: Option<String>,
            },
            /// Nothing to say.
            Idle as "idle",
        }
    }

    fn sample() -> Vec<Recorded> {
        vec![
            Recorded::new(0, NodeId::WORLD, Rr::Idle),
            Recorded::new(
                1_234_567,
                3usize,
                Rr::Request {
                    id: 7,
                    to: NodeId(1),
                },
            ),
            Recorded::new(
                9_876_543_210,
                1usize,
                Rr::Answered {
                    id: 7,
                    latency: SimDuration(2_500_000),
                    also: vec![NodeId(0), NodeId(4)],
                    note: Some("fine".into()),
                },
            ),
        ]
    }

    /// The trace hash is pinned over the encoding: these values may never change, on any
    /// platform or toolchain (changing the encoding moves every trace hash).
    #[test]
    fn event_hashes_match_their_reference_vectors() {
        let (hashes, hash) = Trace::hashes_of(&sample());
        let want: [u64; 3] = [0x379695d36f57848d, 0xf421ed4b0290e721, 0x6cbf22c5853c29c5];
        assert_eq!(hashes, want, "{hashes:#018x?}");
        assert_eq!(hash, 0x3cb8d74ebdd5242f, "{hash:#018x}");
    }

    #[test]
    fn the_hash_sees_every_part_of_an_event() {
        let base = Recorded::new(
            5,
            1usize,
            Rr::Request {
                id: 7,
                to: NodeId(1),
            },
        );
        let h = |r: &Recorded| event_hash(r.t_ns, r.node, &*r.event);
        let variants = [
            Recorded::new(
                6,
                1usize,
                Rr::Request {
                    id: 7,
                    to: NodeId(1),
                },
            ),
            Recorded::new(
                5,
                2usize,
                Rr::Request {
                    id: 7,
                    to: NodeId(1),
                },
            ),
            Recorded::new(
                5,
                1usize,
                Rr::Request {
                    id: 8,
                    to: NodeId(1),
                },
            ),
            Recorded::new(
                5,
                1usize,
                Rr::Request {
                    id: 7,
                    to: NodeId(2),
                },
            ),
            Recorded::new(5, 1usize, Rr::Idle),
        ];
        for v in &variants {
            assert_ne!(h(v), h(&base), "{v:?}");
        }
    }

    #[test]
    fn lines_print_index_time_node_name_and_fields() {
        let events = sample();
        let trace = Trace {
            events,
            ..Trace::default()
        };
        let text = trace.text();
        let want = "\
#0 0.000000s world rr.idle
#1 0.001234s n3    rr.request id=7 to=n1
#2 9.876543s n1    rr.answered id=7 latency=0.002500s also=[n0,n4] note=fine
";
        assert_eq!(text, want);
        assert_eq!(
            trace.line(1).unwrap(),
            "#1 0.001234s n3 rr.request id=7 to=n1"
        );
        let json: serde_json::Value =
            serde_json::from_str(trace.json_lines().lines().nth(2).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "index": 2, "t_ns": 9_876_543_210u64, "time": "9.876543s", "node": "n1",
                "event": "rr.answered",
                "fields": {"id": 7, "latency": 2_500_000, "also": ["n0", "n4"], "note": "fine"},
            })
        );
    }

    #[test]
    fn a_typed_event_reads_as_its_enum() {
        let events = sample();
        let request = events[1].view(1);
        assert!(request.is("rr", "request"));
        assert_eq!(
            request.get::<Rr>(),
            Some(&Rr::Request {
                id: 7,
                to: NodeId(1)
            })
        );
        assert_eq!(
            request.field("to").map(|f| Text(f).to_string()),
            Some("n1".to_string())
        );
    }

    #[test]
    fn the_schema_lists_events_fields_and_docs() {
        let s = Rr::schema();
        assert_eq!(s.component, "rr");
        let names: Vec<&str> = s.events.iter().map(|e| e.name).collect();
        assert_eq!(names, ["request", "answered", "idle"]);
        let answered = &s.events[1];
        assert_eq!(answered.doc.trim(), "The answer came.");
        let fields: Vec<(&str, &str)> = answered.fields.iter().map(|f| (f.name, f.ty)).collect();
        assert_eq!(
            fields,
            [
                ("id", "u64"),
                ("latency", "SimDuration"),
                ("also", "Vec<NodeId>"),
                ("note", "Option<String>")
            ]
        );
        assert_eq!(answered.fields[1].doc.trim(), "How long it took.");
        assert!(s.events[2].fields.is_empty());
    }
}
