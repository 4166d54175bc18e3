//! Typed trace events: what a run records, how each is hashed, and how checkers read them.
//!
//! An event is a value of a component's event enum, declared with [`trace_events!`]. The
//! recorder hashes it over a stable binary encoding and shows it to the checkers by
//! reference; text, JSON and Chrome forms are rendered from its fields only when a trace is
//! printed. Checkers downcast to their component's enum and match on variants: no field is
//! looked up by name and no text is parsed.
//!
//! # Declaring a component's events
//!
//! One enum per component. Every variant and every field carries a `///` line (the macro
//! refuses an undocumented one: "no rules expected ..."), and each variant names its event
//! (`as "request"`): the trace prints `demo.request`, and checkers' [`Checker::wants`]
//! match on these names. Field types implement [`TraceField`]: integers, `bool`, `f64`,
//! strings (`&'static str`, `String`, `Arc<str>`), `Option`, `Vec`, `BTreeSet`,
//! [`NodeId`], [`SimTime`], [`SimDuration`], and a component's own id types (implement
//! [`TraceField`] for them, see below).
//!
//! ```
//! use sim::event::{EventRef, NodeId, Recorded};
//! use sim::time::SimDuration;
//!
//! sim::trace_events! {
//!     /// Events of a toy ping protocol.
//!     pub enum PingEvent in "ping" {
//!         /// A ping left for `to`.
//!         Sent as "sent" {
//!             /// Sequence number, per sender.
//!             seq: u64,
//!             /// Where it went.
//!             to: NodeId,
//!         },
//!         /// The pong came back.
//!         Answered as "answered" {
//!             /// The ping's sequence number.
//!             seq: u64,
//!             /// Round trip.
//!             rtt: SimDuration,
//!         },
//!         /// The node gave up waiting (a variant may have no fields).
//!         GaveUp as "gave_up",
//!     }
//! }
//!
//! // Emitting (inside a run; outside one the event goes nowhere):
//! sim::emit!(0usize, PingEvent::Sent { seq: 1, to: NodeId(2) });
//!
//! // Reading, in a checker's `on_event(&mut self, ev: &EventRef<'_>)`:
//! fn read(ev: &EventRef<'_>) -> Option<u64> {
//!     match ev.get::<PingEvent>()? {
//!         PingEvent::Sent { seq, to } if *to != ev.node => Some(*seq),
//!         _ => None,
//!     }
//! }
//!
//! // A hand-written trace for a checker test (`sim::check::check_events` runs checkers
//! // over it):
//! let trace = [
//!     Recorded::new(1_000_000, 0usize, PingEvent::Sent { seq: 1, to: NodeId(2) }),
//!     Recorded::new(3_000_000, 0usize, PingEvent::GaveUp),
//! ];
//! assert_eq!(read(&trace[0].view(0)), Some(1));
//! assert_eq!(trace[1].view(1).to_string(), "#1 0.003000s n0 ping.gave_up");
//! assert_eq!(PingEvent::schema().events[1].fields[1].name, "rtt");
//! ```
//!
//! # Emitting
//!
//! `sim::emit!(node, Component::Variant { .. })`, where `node` is a `usize`, `u64` or
//! [`NodeId`] ([`NodeId::WORLD`] for the world's own events). The recorder stamps the
//! simulated time and the event's index.
//!
//! # Reading in a checker
//!
//! A checker's [`on_event`](crate::check::Checker::on_event) gets an [`EventRef`]: `index`, `t_ns`,
//! `node` and the event; `ev.get::<MyEvents>()` is `Some` for its component's events.
//! Routing is by name: a checker names the events it reads in [`Checker::wants`] and sees
//! only those. The world's own events are [`WorldEvent`](crate::world::WorldEvent),
//! [`FaultEvent`](crate::world::FaultEvent), [`NodeEvent`](crate::world::NodeEvent) and
//! [`ProtoEvent`](crate::world::ProtoEvent).
//!
//! # How values print
//!
//! One form for each kind of value, everywhere (trace lines, JSON, verdicts):
//! - a line is `#index time node component.event key=value ...`;
//! - times and durations as seconds with six decimals, `12.345678s` ([`crate::time`]);
//! - nodes as `n3`, the world as `world`;
//! - lists as `[a,b,c]` (`[]` when empty); an absent `Option` leaves its field off the
//!   line (JSON shows `null`);
//! - checker messages use the same forms: `SimTime(t_ns)` for a time, `{}` of a
//!   [`NodeId`] for a node (it already reads `n3`: never write `n{}` around it);
//! - an id as its own type's text, the same in trace fields and in a checker's message:
//!   give an id a type with `Display` and [`TraceField`] (text: its `Display`; JSON: a
//!   string) rather than printing its bits, and write checker messages with that
//!   `Display`, so the verdict's id can be searched for in the trace.
//!   [`trace_field_by_display!`](crate::trace_field_by_display) implements it for such a
//!   type, [`trace_field_by_name!`](crate::trace_field_by_name) for a fieldless enum with
//!   a `name()`; by hand, it reads:
//!
//! ```
//! use sim::event::{TraceField, TraceHasher};
//! use std::fmt;
//!
//! /// A job on a node, printed `node.job`.
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! pub struct JobId { node: u32, job: u32 }
//!
//! impl fmt::Display for JobId {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         write!(f, "{}.{}", self.node, self.job)
//!     }
//! }
//!
//! impl TraceField for JobId {
//!     fn hash_field(&self, h: &mut TraceHasher) {
//!         h.write_u64(u64::from(self.node) << 32 | u64::from(self.job));
//!     }
//!     fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         fmt::Display::fmt(self, f)
//!     }
//!     fn to_json(&self) -> serde_json::Value {
//!         self.to_string().into()
//!     }
//! }
//! ```
//!
//! [`Checker`]: crate::check::Checker
//! [`Checker::wants`]: crate::check::Checker::wants
//! [`trace_events!`]: crate::trace_events
//! [`SimTime`]: crate::time::SimTime
//! [`SimDuration`]: crate::time::SimDuration

use crate::time::{SimDuration, SimTime};
use serde::Serialize;
use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

// ------------------------------------------------------------------ node ids

/// Where an event happened: a node's index, or [`NodeId::WORLD`] for the world itself.
/// Prints as `n3`, or `world`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// The world's own events (faults, phases).
    pub const WORLD: NodeId = NodeId(u64::MAX);

    pub fn is_world(self) -> bool {
        self == NodeId::WORLD
    }

    /// The node's index (meaningless for [`NodeId::WORLD`]).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<usize> for NodeId {
    fn from(n: usize) -> NodeId {
        NodeId(n as u64)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_world() {
            f.pad("world")
        } else if f.width().is_none() {
            write!(f, "n{}", self.0)
        } else {
            f.pad(&format!("n{}", self.0))
        }
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What [`emit!`](crate::emit) accepts as the node of an event: a node index (`usize`,
/// `u64`, `u32`, an integer literal) or a [`NodeId`].
pub trait AsNode {
    fn node_id(self) -> NodeId;
}

impl AsNode for NodeId {
    fn node_id(self) -> NodeId {
        self
    }
}

macro_rules! as_node_int {
    ($($t:ty),*) => {$(
        impl AsNode for $t {
            #[inline]
            fn node_id(self) -> NodeId {
                NodeId(self as u64)
            }
        }
    )*};
}
// `i32` is what an unsuffixed literal (`emit!(0, ...)`) falls back to.
as_node_int!(usize, u64, u32, i32);

// ------------------------------------------------------------------ the hash

/// The stable hash of trace events: a word-wise fold over each event's binary encoding.
///
/// Each 64-bit word is mixed in with a folded multiply (the 128-bit product of the state
/// and an odd constant, its halves xored), the mixing step of wyhash and foldhash. Byte
/// strings go in as their length, then their bytes eight at a time (little-endian, the last
/// word zero-padded). Integer arithmetic only: the hash is a fixed function of the events,
/// the same on every platform and Rust version; reference vectors in the tests pin it.
#[derive(Clone, Copy, Debug)]
pub struct TraceHasher {
    state: u64,
}

const HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;
const HASH_MUL: u64 = 0x9e37_79b9_7f4a_7c15;
const HASH_FINISH: u64 = 0xff51_afd7_ed55_8ccd;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher { state: HASH_SEED }
    }
}

impl TraceHasher {
    pub fn new() -> Self {
        TraceHasher::default()
    }

    #[inline(always)]
    pub fn write_u64(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, HASH_MUL);
    }

    /// The length, then the bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(last));
        }
    }

    pub fn write_str(&mut self, s: &str) {
        self.write_bytes(s.as_bytes());
    }

    pub fn finish(&self) -> u64 {
        folded_multiply(self.state ^ HASH_FINISH, HASH_MUL)
    }
}

/// The tag that opens an event's encoding: FNV-1a over `component.event`, computed at
/// compile time for declared events, so the names weigh one word in the hash.
pub const fn tag(component: &str, name: &str) -> u64 {
    const fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        h
    }
    let h = fnv(0xcbf2_9ce4_8422_2325, component.as_bytes());
    let h = fnv(h, b".");
    fnv(h, name.as_bytes())
}

/// The hash of one event: its time, node and tag, then its fields in order.
#[inline]
pub fn event_hash<E: Event + ?Sized>(t_ns: u64, node: NodeId, ev: &E) -> u64 {
    let mut h = TraceHasher::new();
    h.write_u64(t_ns);
    h.write_u64(node.0);
    h.write_u64(ev.tag());
    ev.hash_fields(&mut h);
    h.finish()
}

// ------------------------------------------------------------------ field values

/// A value an event can carry: its stable binary encoding (into the trace hash), its one
/// text form, and its JSON value.
pub trait TraceField {
    /// Writes the value's encoding. A fixed-size value writes fixed words; a
    /// variable-size one writes its length first.
    fn hash_field(&self, h: &mut TraceHasher);

    /// The value as trace lines and messages print it.
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    fn to_json(&self) -> serde_json::Value;

    /// The value as a number, for the name-based accessors (`ev.u64("key")`).
    fn as_u64(&self) -> Option<u64> {
        None
    }

    fn as_str(&self) -> Option<&str> {
        None
    }

    fn as_bool(&self) -> Option<bool> {
        None
    }

    /// Whether the text form leaves this field off the line (an absent `Option`).
    fn is_absent(&self) -> bool {
        false
    }
}

/// Displays a field through its [`TraceField::fmt_text`].
pub struct Text<'a>(pub &'a dyn TraceField);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_text(f)
    }
}

macro_rules! unsigned_field {
    ($($t:ty),*) => {$(
        impl TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut TraceHasher) {
                h.write_u64(*self as u64);
            }
            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
            fn to_json(&self) -> serde_json::Value {
                (*self as u64).into()
            }
            fn as_u64(&self) -> Option<u64> {
                Some(*self as u64)
            }
        }
    )*};
}
unsigned_field!(u8, u16, u32, u64, usize);

macro_rules! signed_field {
    ($($t:ty),*) => {$(
        impl TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut TraceHasher) {
                h.write_u64(*self as i64 as u64);
            }
            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
            fn to_json(&self) -> serde_json::Value {
                (*self as i64).into()
            }
            fn as_u64(&self) -> Option<u64> {
                u64::try_from(*self).ok()
            }
        }
    )*};
}
signed_field!(i32, i64);

impl TraceField for bool {
    #[inline]
    fn hash_field(&self, h: &mut TraceHasher) {
        h.write_u64(u64::from(*self));
    }
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
    fn to_json(&self) -> serde_json::Value {
        (*self).into()
    }
    fn as_bool(&self) -> Option<bool> {
        Some(*self)
    }
}

impl TraceField for f64 {
    fn hash_field(&self, h: &mut TraceHasher) {
        h.write_u64(self.to_bits());
    }
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
    fn to_json(&self) -> serde_json::Value {
        (*self).into()
    }
}

/// The string types all print and hash as their `str`.
macro_rules! str_field {
    ($($t:ty),*) => {$(
        impl TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut TraceHasher) {
                h.write_str(self);
            }
            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self)
            }
            fn to_json(&self) -> serde_json::Value {
                self[..].into()
            }
            fn as_str(&self) -> Option<&str> {
                Some(&self[..])
            }
        }
    )*};
}
str_field!(str, String, Arc<str>);

impl<T: TraceField> TraceField for Option<T> {
    fn hash_field(&self, h: &mut TraceHasher) {
        match self {
            None => h.write_u64(0),
            Some(v) => {
                h.write_u64(1);
                v.hash_field(h);
            }
        }
    }
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str("-"),
            Some(v) => v.fmt_text(f),
        }
    }
    fn to_json(&self) -> serde_json::Value {
        match self {
            None => serde_json::Value::Null,
            Some(v) => v.to_json(),
        }
    }
    fn as_u64(&self) -> Option<u64> {
        self.as_ref()?.as_u64()
    }
    fn as_str(&self) -> Option<&str> {
        self.as_ref()?.as_str()
    }
    fn as_bool(&self) -> Option<bool> {
        self.as_ref()?.as_bool()
    }
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

/// Hashes a list as its length and its items; prints it as `[a,b,c]`.
fn hash_list<'a, T: TraceField + 'a>(
    h: &mut TraceHasher,
    len: usize,
    items: impl Iterator<Item = &'a T>,
) {
    h.write_u64(len as u64);
    for x in items {
        x.hash_field(h);
    }
}

fn fmt_list<'a, T: TraceField + 'a>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = &'a T>,
) -> fmt::Result {
    f.write_str("[")?;
    for (i, x) in items.enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        x.fmt_text(f)?;
    }
    f.write_str("]")
}

/// Lists hash as their length and items, print as `[a,b,c]` and are JSON arrays.
macro_rules! list_field {
    ($($t:ty),*) => {$(
        impl<T: TraceField> TraceField for $t {
            fn hash_field(&self, h: &mut TraceHasher) {
                hash_list(h, self.len(), self.iter());
            }
            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_list(f, self.iter())
            }
            fn to_json(&self) -> serde_json::Value {
                self.iter().map(TraceField::to_json).collect()
            }
        }
    )*};
}
list_field!([T], Vec<T>, BTreeSet<T>);

impl<T: TraceField + ?Sized> TraceField for &'static T {
    fn hash_field(&self, h: &mut TraceHasher) {
        (**self).hash_field(h);
    }
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt_text(f)
    }
    fn to_json(&self) -> serde_json::Value {
        (**self).to_json()
    }
    fn as_u64(&self) -> Option<u64> {
        (**self).as_u64()
    }
    fn as_str(&self) -> Option<&str> {
        (**self).as_str()
    }
    fn as_bool(&self) -> Option<bool> {
        (**self).as_bool()
    }
}

impl TraceField for NodeId {
    #[inline]
    fn hash_field(&self, h: &mut TraceHasher) {
        h.write_u64(self.0);
    }
    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
    fn to_json(&self) -> serde_json::Value {
        self.to_string().into()
    }
    fn as_u64(&self) -> Option<u64> {
        (!self.is_world()).then_some(self.0)
    }
}

/// Times print as seconds (`1.250000s`) and are JSON numbers of nanoseconds.
macro_rules! time_field {
    ($($t:ty),*) => {$(
        impl TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut TraceHasher) {
                h.write_u64(self.0);
            }
            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                crate::time::write_secs(f, self.0)
            }
            fn to_json(&self) -> serde_json::Value {
                self.0.into()
            }
            fn as_u64(&self) -> Option<u64> {
                Some(self.0)
            }
        }
    )*};
}
time_field!(SimTime, SimDuration);

/// Implements [`TraceField`] for fieldless enums that have a `name()`: each prints (and is
/// a JSON string) as its name, and hashes as its discriminant (so reordering the variants
/// changes trace hashes, as changing the events would).
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// pub enum Reason { Left, NodeDown }
///
/// impl Reason {
///     pub fn name(self) -> &'static str {
///         match self {
///             Reason::Left => "Left",
///             Reason::NodeDown => "NodeDown",
///         }
///     }
/// }
///
/// sim::trace_field_by_name!(Reason);
/// ```
#[macro_export]
macro_rules! trace_field_by_name {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::event::TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut $crate::event::TraceHasher) {
                h.write_u64(*self as u64);
            }
            fn fmt_text(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
            fn to_json(&self) -> ::serde_json::Value {
                self.name().into()
            }
            fn as_str(&self) -> Option<&str> {
                Some(self.name())
            }
        }
    )+};
}

/// Implements [`TraceField`] for an id type that prints with its `Display`: its text is
/// its `Display`, its JSON a string of it, and its encoding the words given, e.g.
/// `sim::trace_field_by_display!(RequestId => |id| [id.0]);` or, for an id of several
/// parts, `|m| [m.node as u64, m.job]`.
#[macro_export]
macro_rules! trace_field_by_display {
    ($t:ty => |$v:ident| [$($word:expr),+ $(,)?]) => {
        impl $crate::event::TraceField for $t {
            #[inline]
            fn hash_field(&self, h: &mut $crate::event::TraceHasher) {
                let $v = self;
                $(h.write_u64($word);)+
            }
            fn fmt_text(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
            fn to_json(&self) -> ::serde_json::Value {
                self.to_string().into()
            }
        }
    };
}

// ------------------------------------------------------------------ events

/// One component's event: a variant of an enum declared with
/// [`trace_events!`](crate::trace_events).
pub trait Event: Any + Send + Sync + fmt::Debug {
    /// The component, e.g. `demo`: the part of the name before the dot.
    fn component(&self) -> &'static str;

    /// The event's own name, e.g. `request`.
    fn name(&self) -> &'static str;

    /// The event's index among its component's events (its variant's position).
    fn kind(&self) -> usize;

    /// The word that stands for the component and name in the hash ([`tag`]).
    fn tag(&self) -> u64;

    /// Writes the fields' encodings, in declaration order.
    fn hash_fields(&self, h: &mut TraceHasher);

    /// Calls `visit` with each field's name and value, in declaration order.
    fn visit_fields<'a>(&'a self, visit: &mut dyn FnMut(&'static str, &'a dyn TraceField));

    /// The field named `key`. For tests and printing; checkers match on variants instead.
    fn field(&self, key: &str) -> Option<&dyn TraceField> {
        let mut found = None;
        self.visit_fields(&mut |k, v| {
            if found.is_none() && k == key {
                found = Some(v);
            }
        });
        found
    }

    /// The recorder's cache slot of this event's component (see [`Slot`]); `None` makes
    /// the recorder route the event by its names.
    fn slot(&self) -> Option<usize>;

    /// The component and the name at once (one dynamic call for both).
    fn names(&self) -> (&'static str, &'static str) {
        (self.component(), self.name())
    }

    fn as_any(&self) -> &dyn Any;

    fn clone_event(&self) -> Box<dyn Event>;

    fn eq_event(&self, other: &dyn Event) -> bool;
}

impl dyn Event {
    /// The event as its component's enum, if it is one of `E`'s.
    #[inline]
    pub fn get<E: Event>(&self) -> Option<&E> {
        self.as_any().downcast_ref::<E>()
    }

    /// Whether the event is named `component.event`.
    #[inline]
    pub fn is(&self, component: &str, event: &str) -> bool {
        let (c, e) = self.names();
        c == component && e == event
    }
}

// ------------------------------------------------------------------ schemas

/// A process-wide number for a component, given on first use: the
/// recorder keeps each run's checker routes in a table indexed by it, so routing a
/// recorded event compares no strings once the run is warm. Numbers depend on the order
/// components are first seen, so they index caches only and never reach a trace.
pub struct Slot(AtomicUsize);

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

impl Slot {
    const UNSET: usize = usize::MAX;

    pub const fn new() -> Slot {
        Slot(AtomicUsize::new(Slot::UNSET))
    }

    #[inline]
    pub fn get(&self) -> usize {
        match self.0.load(Ordering::Relaxed) {
            Slot::UNSET => self.assign(),
            s => s,
        }
    }

    #[cold]
    fn assign(&self) -> usize {
        let mine = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        match self
            .0
            .compare_exchange(Slot::UNSET, mine, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => mine,
            Err(theirs) => theirs,
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::new()
    }
}

/// A component's events as declared: names, fields and docs, for generated documentation
/// and listings.
pub struct ComponentSchema {
    pub component: &'static str,
    pub doc: &'static str,
    pub events: &'static [EventSchema],
    pub slot: Slot,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct EventSchema {
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [FieldSchema],
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct FieldSchema {
    pub name: &'static str,
    pub doc: &'static str,
    /// The field's Rust type, as written in the declaration.
    pub ty: &'static str,
}

impl fmt::Debug for ComponentSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentSchema")
            .field("component", &self.component)
            .field("events", &self.events)
            .finish()
    }
}

/// Declares one component's trace events as a documented enum, with its [`Event`] impl
/// and its schema (`MyEvents::schema()`). See the [module docs](crate::event).
///
/// ```
/// sim::trace_events! {
///     /// Events of a cache.
///     pub enum CacheEvent in "cache" {
///         /// A lookup found its key.
///         Hit as "hit" {
///             /// The key looked up.
///             key: u64,
///         },
///         /// The cache was emptied.
///         Flush as "flush",
///     }
/// }
/// let ev = CacheEvent::Hit { key: 3 };
/// assert_eq!(sim::event::Event::name(&ev), "hit");
/// ```
#[macro_export]
macro_rules! trace_events {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $Enum:ident in $component:literal {
            $(
                $(#[doc = $vdoc:literal])+
                $Variant:ident as $name:literal $({
                    $(
                        $(#[doc = $fdoc:literal])+
                        $field:ident : $fty:ty
                    ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, PartialEq)]
        $vis enum $Enum {
            $(
                $(#[doc = $vdoc])+
                $Variant $({
                    $(
                        $(#[doc = $fdoc])+
                        $field: $fty
                    ),*
                })?
            ),*
        }

        const _: () = {
            #[allow(non_camel_case_types, dead_code, clippy::enum_variant_names)]
            enum Kind {
                $($Variant),*
            }

            static SCHEMA: $crate::event::ComponentSchema = $crate::event::ComponentSchema {
                component: $component,
                doc: concat!($($doc, "\n"),*),
                events: &[$(
                    $crate::event::EventSchema {
                        name: $name,
                        doc: concat!($($vdoc, "\n"),+),
                        fields: &[$($(
                            $crate::event::FieldSchema {
                                name: stringify!($field),
                                doc: concat!($($fdoc, "\n"),+),
                                ty: stringify!($fty),
                            }
                        ),*)?],
                    }
                ),*],
                slot: $crate::event::Slot::new(),
            };

            impl $Enum {
                /// This component's events: names, fields and docs.
                #[allow(dead_code)]
                pub fn schema() -> &'static $crate::event::ComponentSchema {
                    &SCHEMA
                }
            }

            impl $crate::event::Event for $Enum {
                #[inline]
                fn component(&self) -> &'static str {
                    $component
                }

                #[inline]
                fn name(&self) -> &'static str {
                    match self {
                        $(Self::$Variant { .. } => $name),*
                    }
                }

                #[inline]
                fn kind(&self) -> usize {
                    match self {
                        $(Self::$Variant { .. } => Kind::$Variant as usize),*
                    }
                }

                #[inline]
                fn tag(&self) -> u64 {
                    match self {
                        $(Self::$Variant { .. } => {
                            const TAG: u64 = $crate::event::tag($component, $name);
                            TAG
                        })*
                    }
                }

                #[inline]
                #[allow(unused_variables)]
                fn hash_fields(&self, __h: &mut $crate::event::TraceHasher) {
                    match self {
                        $(Self::$Variant { $($($field),*)? } => {
                            $($($crate::event::TraceField::hash_field($field, __h);)*)?
                        })*
                    }
                }

                #[allow(unused_variables)]
                fn visit_fields<'a>(
                    &'a self,
                    __visit: &mut dyn FnMut(&'static str, &'a dyn $crate::event::TraceField),
                ) {
                    match self {
                        $(Self::$Variant { $($($field),*)? } => {
                            $($(__visit(stringify!($field), $field);)*)?
                        })*
                    }
                }

                #[inline]
                fn slot(&self) -> Option<usize> {
                    Some(SCHEMA.slot.get())
                }

                fn as_any(&self) -> &dyn ::std::any::Any {
                    self
                }

                fn clone_event(&self) -> Box<dyn $crate::event::Event> {
                    Box::new(self.clone())
                }

                fn eq_event(&self, other: &dyn $crate::event::Event) -> bool {
                    other.as_any().downcast_ref::<Self>() == Some(self)
                }
            }
        };
    };
}

// ------------------------------------------------------------------ views

/// An event as a checker sees it: where it sits in the trace, when and where it happened,
/// and the event itself (the [`Event`] methods and accessors are reachable through it).
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    /// Its position in the trace, from 0: the `#index` of trace lines and verdicts.
    pub index: u64,
    /// Simulated nanoseconds since the run started.
    pub t_ns: u64,
    pub node: NodeId,
    pub event: &'a dyn Event,
}

impl<'a> EventRef<'a> {
    pub fn new(index: u64, t_ns: u64, node: NodeId, event: &'a dyn Event) -> EventRef<'a> {
        EventRef {
            index,
            t_ns,
            node,
            event,
        }
    }

    /// [`EventRef::new`] for an event whose type is known.
    #[inline]
    pub(crate) fn of<E: Event>(index: u64, t_ns: u64, node: NodeId, event: &'a E) -> Self {
        EventRef::new(index, t_ns, node, event)
    }

    pub fn time(&self) -> SimTime {
        SimTime(self.t_ns)
    }

    /// Whether the event is named `component.event`.
    #[inline]
    pub fn is(&self, component: &str, event: &str) -> bool {
        self.event.is(component, event)
    }
}

impl fmt::Debug for EventRef<'_> {
    /// The event's trace line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::ops::Deref for EventRef<'_> {
    type Target = dyn Event;

    fn deref(&self) -> &(dyn Event + 'static) {
        self.event
    }
}

/// An event as a trace keeps it: its time, node and the event itself. Its index is its
/// position in the trace. Built by hand, it makes a trace for a checker test.
#[derive(Debug)]
pub struct Recorded {
    pub t_ns: u64,
    pub node: NodeId,
    pub event: Box<dyn Event>,
}

impl Recorded {
    pub fn new(t_ns: u64, node: impl AsNode, event: impl Event) -> Recorded {
        Recorded {
            t_ns,
            node: node.node_id(),
            event: Box::new(event),
        }
    }

    /// The event as the `index`-th of a trace.
    pub fn view(&self, index: u64) -> EventRef<'_> {
        EventRef::new(index, self.t_ns, self.node, &*self.event)
    }
}

impl std::ops::Deref for Recorded {
    type Target = dyn Event;

    fn deref(&self) -> &(dyn Event + 'static) {
        &*self.event
    }
}

impl Clone for Recorded {
    fn clone(&self) -> Self {
        Recorded {
            t_ns: self.t_ns,
            node: self.node,
            event: self.event.clone_event(),
        }
    }
}

impl PartialEq for Recorded {
    fn eq(&self, other: &Self) -> bool {
        self.t_ns == other.t_ns && self.node == other.node && self.event.eq_event(&*other.event)
    }
}

/// Records one trace event: `emit!(node, Component::Variant { .. })` (see the
/// [`event`](crate::event) module). Outside a run (a unit test calling protocol code)
/// nothing is recorded and the event is not built.
#[macro_export]
macro_rules! emit {
    ($node:expr, $event:expr $(,)?) => {
        $crate::trace::record($crate::event::AsNode::node_id($node), || $event)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64, the published function [`tag`] applies to `component.event`.
    fn fnv1a(bytes: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    #[test]
    fn tags_are_fnv1a_of_the_dotted_name() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
        assert_eq!(tag("demo", "request"), fnv1a(b"demo.request"));
        assert_eq!(tag("", ""), fnv1a(b"."));
        assert_ne!(tag("a", "b.c"), tag("a.b", "c.d"));
    }

    /// The hash is pinned: these values may never change, on any platform or toolchain.
    /// (A change to the hash function changes every trace hash and golden snapshot.)
    #[test]
    fn the_hasher_matches_its_reference_vectors() {
        let of = |f: &dyn Fn(&mut TraceHasher)| {
            let mut h = TraceHasher::new();
            f(&mut h);
            h.finish()
        };
        let got = [
            of(&|_| {}),
            of(&|h| h.write_u64(0)),
            of(&|h| h.write_u64(1)),
            of(&|h| h.write_u64(u64::MAX)),
            of(&|h| {
                h.write_u64(1);
                h.write_u64(2);
            }),
            of(&|h| {
                h.write_u64(2);
                h.write_u64(1);
            }),
            of(&|h| h.write_str("")),
            of(&|h| h.write_str("a")),
            of(&|h| h.write_str("12345678")),
            of(&|h| h.write_str("123456789")),
        ];
        let want: [u64; 10] = [
            0xc8fd58d5b359672d,
            0xa9d0ba719d51de60,
            0xd7e657cc1e377556,
            0x64a106bdfd28dd91,
            0x58532ef35fd71230,
            0xe1e41085f8978f16,
            0xa9d0ba719d51de60,
            0x5a2b647574dfaeff,
            0xc7c64e17267113f7,
            0xf1b3526350f47eca,
        ];
        assert_eq!(got, want, "{got:#018x?}");
    }

    #[test]
    fn strings_are_length_prefixed_and_zero_padded() {
        let words = |f: &dyn Fn(&mut TraceHasher)| {
            let mut h = TraceHasher::new();
            f(&mut h);
            h.finish()
        };
        // "ab" is its length, then one word with the bytes little-endian.
        let by_hand = words(&|h| {
            h.write_u64(2);
            h.write_u64(u64::from_le_bytes(*b"ab\0\0\0\0\0\0"));
        });
        assert_eq!(words(&|h| h.write_str("ab")), by_hand);
        // A string and the same bytes split differently hash apart.
        let ab_c = words(&|h| {
            h.write_str("ab");
            h.write_str("c");
        });
        let a_bc = words(&|h| {
            h.write_str("a");
            h.write_str("bc");
        });
        assert_ne!(ab_c, a_bc);
    }
}
