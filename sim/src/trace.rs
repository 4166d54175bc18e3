//! The deterministic trace: every event a run emits through `tracing`, in order, with its
//! simulated time, node, component and fields.
//!
//! Protocol code emits with [`emit!`](crate::emit); a per-seed [`Recorder`] (a `tracing`
//! subscriber installed on the seed's own OS thread) stamps each event with madsim's clock,
//! feeds it to the checkers as it happens, and folds it into the trace hash. Keeping the
//! full event list is optional, so a sweep pays only for hashing and checking.
//!
//! The hash is FNV-1a over each event's canonical text line: a fixed function of the
//! trace bytes, independent of the Rust version or the platform.

use crate::check::{CheckerSet, Violation};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The `tracing` target every clustersim event uses; others (madsim's own spans) are off.
pub const TARGET: &str = "clustersim";

/// The `node` value of events that belong to the world rather than to a node.
pub const WORLD_NODE: u64 = u64::MAX;

/// Emits one trace event: `emit!(node, "component", "event", key = value, ...)`.
/// Values may be integers, bools, `&str`, or `%x` / `?x` for Display / Debug.
#[macro_export]
macro_rules! emit {
    ($node:expr, $component:expr, $event:expr $(,)?) => {
        ::tracing::event!(target: "clustersim", ::tracing::Level::INFO,
            node = ($node) as u64, component = $component, ev = $event)
    };
    ($node:expr, $component:expr, $event:expr, $($fields:tt)+) => {
        ::tracing::event!(target: "clustersim", ::tracing::Level::INFO,
            node = ($node) as u64, component = $component, ev = $event, $($fields)+)
    };
}

/// A field value as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

/// One event of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Simulated nanoseconds since the run started.
    pub t_ns: u64,
    /// Node index, or [`WORLD_NODE`].
    pub node: u64,
    pub component: String,
    pub event: String,
    /// Fields in emission order.
    pub fields: Vec<(&'static str, Value)>,
}

impl TraceEvent {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| same_name(k, key))
            .map(|(_, v)| v)
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::U64(v) => Some(*v),
            Value::I64(v) => u64::try_from(*v).ok(),
            Value::Str(s) => s.parse().ok(),
            Value::Bool(_) => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `component.event`, the name checkers match on.
    pub fn is(&self, component: &str, event: &str) -> bool {
        self.component == component && self.event == event
    }

    pub fn node_label(&self) -> String {
        if self.node == WORLD_NODE {
            "world".to_string()
        } else {
            format!("n{}", self.node)
        }
    }

    /// The canonical one-line text form; the trace hash is computed over these lines:
    /// `{us:>10}.{ns:03}us {node:<5} {component}.{event}` and ` {key}={value}` per field.
    /// Every recorded event is written once, so the digits are written by hand rather than
    /// through `fmt` (which cost a tenth of a sweep); the bytes are the same.
    pub fn write_line(&self, out: &mut String) {
        let mut bytes = Vec::with_capacity(128);
        self.write_line_bytes(&mut bytes);
        out.push_str(std::str::from_utf8(&bytes).expect("a trace line is UTF-8"));
    }

    /// [`write_line`](Self::write_line) into bytes: what the recorder hashes.
    pub(crate) fn write_line_bytes(&self, out: &mut Vec<u8>) {
        push_padded(out, self.t_ns / 1_000, 10, b' ');
        out.push(b'.');
        push_padded(out, self.t_ns % 1_000, 3, b'0');
        out.extend_from_slice(b"us ");
        let label_start = out.len();
        if self.node == WORLD_NODE {
            out.extend_from_slice(b"world");
        } else {
            out.push(b'n');
            push_padded(out, self.node, 0, b' ');
        }
        for _ in out.len() - label_start..5 {
            out.push(b' ');
        }
        out.push(b' ');
        out.extend_from_slice(self.component.as_bytes());
        out.push(b'.');
        out.extend_from_slice(self.event.as_bytes());
        for (k, v) in &self.fields {
            out.push(b' ');
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            match v {
                Value::U64(x) => push_padded(out, *x, 0, b' '),
                Value::I64(x) => {
                    if *x < 0 {
                        out.push(b'-');
                    }
                    push_padded(out, x.unsigned_abs(), 0, b' ');
                }
                Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Str(x) => out.extend_from_slice(x.as_bytes()),
            }
        }
        out.push(b'\n');
    }

    pub fn to_json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::to_value(v).expect("plain value")))
            .collect();
        serde_json::json!({
            "t_ns": self.t_ns,
            "node": self.node_label(),
            "component": self.component,
            "event": self.event,
            "fields": fields,
        })
    }
}

/// Whether two field names are equal. Checkers look fields up by name on every event
/// they read, and names are a few bytes: comparing lengths, then the bytes inline, is much
/// cheaper than a call to `memcmp` per field tried. The bytes are compared a word at a
/// time (the last word overlapping the one before when the length is not a multiple),
/// as a byte loop was still a visible share of every checked event.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], i: usize| u32::from_ne_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// The two-digit decimal numbers 00..=99, back to back.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes `x` in decimal, right-aligned in `width` (at most 20) with `pad` (`{x:>width$}`
/// or `{x:0width$}`), with one copy into `out`. Two digits per division: every event
/// writes its time and most fields this way.
fn push_padded(out: &mut Vec<u8>, mut x: u64, width: usize, pad: u8) {
    debug_assert!(width <= 20, "a u64 has at most 20 digits");
    let mut buf = [pad; 20];
    let mut i = buf.len();
    while x >= 100 {
        let d = (x % 100) as usize * 2;
        x /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if x >= 10 {
        let d = x as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + x as u8;
    }
    out.extend_from_slice(&buf[i.min(buf.len() - width)..]);
}

/// FNV-1a, 64 bit: the stable hash of trace bytes.
#[derive(Clone, Copy, Debug)]
pub struct StableHash(u64);

impl Default for StableHash {
    fn default() -> Self {
        StableHash(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHash {
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = StableHash::default();
        h.update(bytes);
        h.value()
    }

    /// Folds `bytes` into `self` and returns their hash on their own: one pass for the
    /// trace's running hash and the event's hash.
    fn update_and_hash(&mut self, bytes: &[u8]) -> u64 {
        let mut own = StableHash::default();
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
            own.0 ^= u64::from(*b);
            own.0 = own.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        own.0
    }
}

/// Formats a trace hash the way every command prints it.
pub fn hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

/// Everything a run recorded.
#[derive(Debug, Default)]
pub struct Trace {
    /// The events, when the run kept them.
    pub events: Vec<TraceEvent>,
    /// The hash of each event's line, always kept (8 bytes an event) so two runs can be
    /// compared to the first differing event without keeping either trace.
    pub event_hashes: Vec<u64>,
    pub hash: u64,
    pub event_count: u64,
}

impl Trace {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            e.write_line(&mut s);
        }
        s
    }

    pub fn json_lines(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&e.to_json().to_string());
            s.push('\n');
        }
        s
    }

    /// Chrome Trace Event JSON: one lane (thread) per node, instant events, opens in
    /// Perfetto or chrome://tracing.
    pub fn chrome(&self) -> String {
        let mut lanes: Vec<u64> = self.events.iter().map(|e| e.node).collect();
        lanes.sort_unstable();
        lanes.dedup();
        let mut evs: Vec<serde_json::Value> = lanes
            .iter()
            .map(|&n| {
                let label = if n == WORLD_NODE {
                    "world".to_string()
                } else {
                    format!("n{n}")
                };
                serde_json::json!({"name": "thread_name", "ph": "M", "pid": 1,
                    "tid": lane_tid(n), "args": {"name": label}})
            })
            .collect();
        for e in &self.events {
            let args: serde_json::Map<String, serde_json::Value> = e
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::to_value(v).expect("plain value")))
                .collect();
            evs.push(serde_json::json!({
                "name": format!("{}.{}", e.component, e.event),
                "cat": e.component,
                "ph": "i", "s": "t", "pid": 1, "tid": lane_tid(e.node),
                "ts": e.t_ns as f64 / 1000.0,
                "args": args,
            }));
        }
        serde_json::json!({"traceEvents": evs, "displayTimeUnit": "ms"}).to_string()
    }

    /// The index of the first event whose line differs, if the traces differ.
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
}

fn lane_tid(node: u64) -> u64 {
    if node == WORLD_NODE {
        0
    } else {
        node + 1
    }
}

/// The state a recorder mutates on every event.
pub(crate) struct RecorderState {
    pub keep_events: bool,
    pub trace: Trace,
    pub checkers: CheckerSet,
    hasher: StableHash,
    line: Vec<u8>,
    /// The event being recorded. Unless events are kept, one event's buffers (its
    /// component, name, field list and string values) are reused for the next: recording
    /// then allocates nothing once the run is warm.
    scratch: TraceEvent,
    /// Emptied strings of earlier events' values, for the next string values.
    spare: Vec<String>,
    /// Each call site's checker route (see [`CheckerSet::route`]), by the address of the
    /// call site's metadata. A call site names its component and event with literals, but
    /// the route's names are compared with the event's before the route is used.
    routes: BTreeMap<usize, usize>,
}

/// The per-seed `tracing` subscriber.
#[derive(Clone)]
pub struct Recorder {
    pub(crate) state: Arc<Mutex<RecorderState>>,
}

impl Recorder {
    pub(crate) fn new(keep_events: bool, checkers: CheckerSet) -> Self {
        Recorder {
            state: Arc::new(Mutex::new(RecorderState {
                keep_events,
                trace: Trace::default(),
                checkers,
                hasher: StableHash::default(),
                line: Vec::with_capacity(256),
                scratch: TraceEvent {
                    t_ns: 0,
                    node: WORLD_NODE,
                    component: String::new(),
                    event: String::new(),
                    fields: Vec::new(),
                },
                spare: Vec::new(),
                routes: BTreeMap::new(),
            })),
        }
    }

    /// Finishes the run: end-of-run checks (unless the run was cut short), the final hash.
    pub(crate) fn finish(
        &self,
        end: &crate::check::RunEnd,
        end_checks: bool,
    ) -> (Trace, Vec<Violation>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let index = st.trace.event_count;
        if end_checks {
            st.checkers.finish(index, end);
        }
        st.trace.hash = st.hasher.value();
        let violations = st.checkers.take_violations();
        (std::mem::take(&mut st.trace), violations)
    }
}

impl RecorderState {
    /// Hashes, checks and (if asked) keeps `self.scratch`, the event just recorded.
    fn push(&mut self, callsite: usize) {
        let ev = &self.scratch;
        self.line.clear();
        ev.write_line_bytes(&mut self.line);
        let h = self.hasher.update_and_hash(&self.line);
        self.trace.event_hashes.push(h);
        let index = self.trace.event_count;
        self.trace.event_count += 1;
        let route = match self.routes.get(&callsite) {
            Some(&r) if self.checkers.route_is(r, &ev.component, &ev.event) => r,
            _ => {
                let r = self.checkers.route(&ev.component, &ev.event);
                self.routes.insert(callsite, r);
                r
            }
        };
        self.checkers.observe_route(route, index, ev);
        if self.keep_events {
            let ev = std::mem::replace(
                &mut self.scratch,
                TraceEvent {
                    t_ns: 0,
                    node: WORLD_NODE,
                    component: String::new(),
                    event: String::new(),
                    fields: Vec::new(),
                },
            );
            self.trace.events.push(ev);
        }
    }

    /// Empties `self.scratch` for the next event, keeping its buffers.
    fn clear_scratch(&mut self) {
        let ev = &mut self.scratch;
        ev.component.clear();
        ev.event.clear();
        for (_, v) in ev.fields.drain(..) {
            if let Value::Str(mut s) = v {
                s.clear();
                self.spare.push(s);
            }
        }
    }
}

/// Fills the recorder's scratch event from a `tracing` event.
struct Visitor<'a> {
    node: Option<u64>,
    component_set: bool,
    event_set: bool,
    ev: &'a mut TraceEvent,
    spare: &'a mut Vec<String>,
}

/// Field names [`emit!`](crate::emit) uses itself; an event's own fields must not reuse them.
const RESERVED: [&str; 3] = ["node", "component", "ev"];

impl Visitor<'_> {
    fn push(&mut self, name: &'static str, value: Value) {
        assert!(
            !RESERVED.contains(&name),
            "trace event {}.{} has a field named '{name}', which emit! reserves",
            self.ev.component,
            self.ev.event
        );
        self.ev.fields.push((name, value));
    }

    fn string(&mut self) -> String {
        self.spare.pop().unwrap_or_default()
    }
}

impl Visit for Visitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "node" && self.node.is_none() {
            self.node = Some(value);
        } else {
            self.push(field.name(), Value::U64(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::I64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "component" if !self.component_set => {
                self.component_set = true;
                self.ev.component.push_str(value);
            }
            "ev" if !self.event_set => {
                self.event_set = true;
                self.ev.event.push_str(value);
            }
            name => {
                let mut s = self.string();
                s.push_str(value);
                self.push(name, Value::Str(s));
            }
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut s = self.string();
        fmt::Write::write_fmt(&mut s, format_args!("{value:?}")).expect("a String takes any text");
        self.push(field.name(), Value::Str(s));
    }
}

impl Subscriber for Recorder {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.target() == TARGET && meta.is_event() {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == TARGET && meta.is_event()
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Spans are never enabled (see `enabled`); tracing still wants an id.
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let t_ns = crate::clock::now_ns();
        // A poisoned lock means an earlier event panicked (a reserved field name): the run
        // is failing already, and its end must still be reported.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        st.clear_scratch();
        let mut v = Visitor {
            node: None,
            component_set: false,
            event_set: false,
            ev: &mut st.scratch,
            spare: &mut st.spare,
        };
        event.record(&mut v);
        let node = v.node.unwrap_or(WORLD_NODE);
        st.scratch.t_ns = t_ns;
        st.scratch.node = node;
        let callsite = event.metadata() as *const Metadata<'static> as usize;
        st.push(callsite);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {

    #[test]
    #[should_panic(expected = "has a field named 'node', which emit! reserves")]
    fn a_field_named_like_the_events_own_node_is_refused() {
        let mut ev = TraceEvent {
            t_ns: 0,
            node: 1,
            component: "client".into(),
            event: "welcome".into(),
            fields: Vec::new(),
        };
        let mut spare = Vec::new();
        let mut v = Visitor {
            node: Some(1),
            component_set: true,
            event_set: true,
            ev: &mut ev,
            spare: &mut spare,
        };
        v.push("node", Value::U64(0));
    }

    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors: the hash must never depend on the toolchain.
        assert_eq!(StableHash::of(b""), 0xcbf29ce484222325);
        assert_eq!(StableHash::of(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(StableHash::of(b"foobar"), 0x85944171f73967e8);
    }

    /// The line as `fmt` writes it: what `write_line` must match byte for byte.
    fn reference_line(ev: &TraceEvent) -> String {
        let mut out = format!(
            "{:>10}.{:03}us {:<5} {}.{}",
            ev.t_ns / 1_000,
            ev.t_ns % 1_000,
            ev.node_label(),
            ev.component,
            ev.event
        );
        for (k, v) in &ev.fields {
            out.push_str(&format!(" {k}={v}"));
        }
        out.push('\n');
        out
    }

    #[test]
    fn the_hand_written_line_is_the_formatted_line() {
        let times = [0, 7, 999, 1_000, 1_234_567, 9_999_999_999_999, u64::MAX];
        let nodes = [0, 9, 10, 999, 1_000, 123_456, WORLD_NODE];
        let fields = vec![
            ("a", Value::U64(0)),
            ("b", Value::U64(u64::MAX)),
            ("c", Value::I64(-42)),
            ("d", Value::I64(i64::MIN)),
            ("e", Value::I64(7)),
            ("f", Value::Bool(true)),
            ("g", Value::Bool(false)),
            ("h", Value::Str("1.0.2@3,x y".into())),
            ("i", Value::Str(String::new())),
        ];
        for t_ns in times {
            for node in nodes {
                let ev = TraceEvent {
                    t_ns,
                    node,
                    component: "ce".into(),
                    event: "install".into(),
                    fields: fields.clone(),
                };
                let mut line = String::new();
                ev.write_line(&mut line);
                assert_eq!(line, reference_line(&ev));
            }
        }
    }

    #[test]
    fn padded_digits_are_the_formatted_digits() {
        let mut values: Vec<u64> = (0..1_100).collect();
        for p in 1..20 {
            let t = 10u64.pow(p);
            values.extend([t - 1, t, t + 1, t.saturating_mul(3).saturating_add(7)]);
        }
        values.push(u64::MAX);
        for x in values {
            for width in [0, 3, 10, 20] {
                let mut out = Vec::new();
                push_padded(&mut out, x, width, b' ');
                push_padded(&mut out, x, width, b'0');
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("{x:>width$}{x:0width$}")
                );
            }
        }
    }

    #[test]
    fn names_compare_equal_exactly_when_their_bytes_do() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "abc",
            "abd",
            "view",
            "vieW",
            "fifo",
            "member",
            "members",
            "sender",
            "latency_ns",
            "latency_nt",
            "xatency_ns",
            "since_ns",
            "since_nx",
            "sixteen_bytes_ab",
            "sixteen_bytes_ac",
            "seventeen_bytes_x",
            "seventeen_bytes_y",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_name(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn one_pass_gives_both_hashes() {
        let mut running = StableHash::default();
        running.update(b"abc");
        let own = running.update_and_hash(b"foobar");
        assert_eq!(own, StableHash::of(b"foobar"));
        assert_eq!(running.value(), StableHash::of(b"abcfoobar"));
    }

    #[test]
    fn line_format_is_stable() {
        let ev = TraceEvent {
            t_ns: 1_234_567,
            node: 3,
            component: "demo".into(),
            event: "request".into(),
            fields: vec![("id", Value::U64(7)), ("to", Value::Str("n1".into()))],
        };
        let mut s = String::new();
        ev.write_line(&mut s);
        assert_eq!(s, "      1234.567us n3    demo.request id=7 to=n1\n");
    }
}
