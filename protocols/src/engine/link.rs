//! Reliable FIFO channels between CEs over the lossy, duplicating, reordering network.
//!
//! Each directed pair of node incarnations is one link: the sender numbers its messages
//! within an epoch and retransmits with exponential backoff until cumulatively ACKed; the
//! receiver delivers in order, buffers what arrives early and drops duplicates. The CE
//! sends the cumulative ACK on the next message or heartbeat back, or alone once it has
//! waited [`ACK_DELAY_NS`]; a duplicate is ACKed at once (its sender is waiting), and a
//! message that arrives ahead of a gap not at all (the ACK has not moved). An epoch
//! (the sender's incarnation in the high bits, a reset counter in the low bits) restarts the
//! numbering when the sender gives up on a peer, so neither side ever waits for a message
//! the other has forgotten.

use std::collections::VecDeque;

/// First retransmission timeout; doubles up to [`MAX_RTO_NS`]. ACKs ride on the data and
/// heartbeats going back or wait at most [`ACK_DELAY_NS`] plus a tick, so the first
/// timeout allows for that.
const INITIAL_RTO_NS: u64 = 150_000_000;
/// How long a receiver may hold a cumulative ACK back, hoping to piggyback it.
pub const ACK_DELAY_NS: u64 = 50_000_000;
pub(crate) const MAX_RTO_NS: u64 = 400_000_000;
/// How many unACKed messages a link resends per tick.
const RESEND_PER_TICK: usize = 32;
/// Messages further ahead than this are dropped (the sender will resend them).
const MAX_EARLY: u64 = 4_096;

struct Unacked<T> {
    seq: u64,
    msg: T,
    sent_ns: u64,
    rto_ns: u64,
}

/// The sending half of a link.
pub struct LinkOut<T> {
    pub epoch: u64,
    next: u64,
    /// In sequence order (numbers are handed out in order and ACKed cumulatively, so a
    /// queue does what a map would, without a node allocation per message).
    unacked: VecDeque<Unacked<T>>,
}

impl<T: Clone> LinkOut<T> {
    pub fn new(my_inc: u64) -> Self {
        LinkOut {
            epoch: my_inc << 32,
            next: 1,
            unacked: VecDeque::new(),
        }
    }

    /// Numbers `msg` and keeps it for retransmission; returns (epoch, seq) to send it with.
    pub fn push(&mut self, msg: T, now_ns: u64) -> (u64, u64) {
        let seq = self.next;
        self.next += 1;
        self.unacked.push_back(Unacked {
            seq,
            msg,
            sent_ns: now_ns,
            rto_ns: INITIAL_RTO_NS,
        });
        (self.epoch, seq)
    }

    /// A cumulative ACK from the receiver.
    pub fn ack(&mut self, epoch: u64, upto: u64) {
        if epoch == self.epoch {
            while self.unacked.front().is_some_and(|u| u.seq <= upto) {
                self.unacked.pop_front();
            }
        }
    }

    /// The messages whose timeout expired, to send again as (epoch, seq, msg).
    #[inline]
    pub fn due(&mut self, now_ns: u64, out: &mut Vec<(u64, u64, T)>) {
        // Every CE tick asks every link, and most hold nothing unACKed: that answer costs
        // no call.
        if !self.unacked.is_empty() {
            self.due_unacked(now_ns, out);
        }
    }

    fn due_unacked(&mut self, now_ns: u64, out: &mut Vec<(u64, u64, T)>) {
        for u in self.unacked.iter_mut() {
            if out.len() >= RESEND_PER_TICK {
                break;
            }
            if now_ns >= u.sent_ns + u.rto_ns {
                u.sent_ns = now_ns;
                u.rto_ns = (u.rto_ns * 2).min(MAX_RTO_NS);
                out.push((self.epoch, u.seq, u.msg.clone()));
            }
        }
    }

    /// When the first unACKed message's timeout expires: the earliest time [`LinkOut::due`]
    /// has something to resend. `None` when nothing is unACKed.
    pub fn next_due_ns(&self) -> Option<u64> {
        self.unacked.iter().map(|u| u.sent_ns + u.rto_ns).min()
    }

    /// Forgets every unACKed message and starts a new epoch.
    pub fn reset(&mut self) {
        self.epoch += 1;
        self.next = 1;
        self.unacked.clear();
    }

    pub fn pending(&self) -> usize {
        self.unacked.len()
    }
}

/// The receiving half of a link.
pub struct LinkIn<T> {
    epoch: u64,
    expected: u64,
    /// What arrived ahead of a gap, by position: `early[i]` holds message `expected + 1 +
    /// i`. A window rather than a map: messages arrive a few places out of order, and
    /// delivering the gap's message then takes the ones behind it from the front.
    early: VecDeque<Option<T>>,
}

impl<T> Default for LinkIn<T> {
    fn default() -> Self {
        LinkIn {
            epoch: 0,
            expected: 1,
            early: VecDeque::new(),
        }
    }
}

/// What became of one arriving message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// From an epoch the receiver has moved past: ignored, and not to be ACKed.
    Stale,
    /// It (and perhaps messages buffered behind it) is now deliverable in order.
    Delivered,
    /// It came before a message still in flight and waits for it: the cumulative ACK has
    /// not moved, so it owes the sender nothing.
    Early,
    /// Already received: the sender retransmitted (its ACK was lost or late) or the
    /// network duplicated it. The sender may be waiting: ACK at once.
    Duplicate,
}

impl<T> LinkIn<T> {
    /// Takes one arriving message and appends what is now deliverable in order to `out`.
    pub fn receive(&mut self, epoch: u64, seq: u64, msg: T, out: &mut Vec<T>) -> Arrival {
        if epoch < self.epoch {
            return Arrival::Stale;
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.expected = 1;
            self.early.clear();
        }
        if seq == self.expected {
            out.push(msg);
            self.expected += 1;
            // The window's front is now the new `expected`'s slot: taken whether it holds
            // the message or not, so the rest of the window moves up by one.
            while let Some(Some(m)) = self.early.pop_front() {
                out.push(m);
                self.expected += 1;
            }
            Arrival::Delivered
        } else if seq < self.expected {
            Arrival::Duplicate
        } else {
            let i = (seq - self.expected - 1) as usize;
            if (i as u64) < MAX_EARLY - 1 {
                if self.early.len() <= i {
                    self.early.resize_with(i + 1, || None);
                }
                self.early[i] = Some(msg);
            }
            Arrival::Early
        }
    }

    /// The cumulative ACK of everything received so far: (epoch, upto). `upto` is 0
    /// before the first in-order message, which ACKs nothing.
    pub fn cumulative(&self) -> (u64, u64) {
        (self.epoch, self.expected - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_once_and_acks_cumulatively() {
        let mut out_link = LinkOut::new(0);
        let mut in_link = LinkIn::default();
        let a = out_link.push("a", 0);
        let b = out_link.push("b", 0);
        let c = out_link.push("c", 0);
        let mut got = vec![];
        assert_eq!(in_link.receive(c.0, c.1, "c", &mut got), Arrival::Early);
        assert_eq!(in_link.cumulative(), (0, 0));
        assert_eq!(in_link.receive(a.0, a.1, "a", &mut got), Arrival::Delivered);
        assert_eq!(in_link.cumulative(), (0, 1));
        assert_eq!(in_link.receive(a.0, a.1, "a", &mut got), Arrival::Duplicate);
        assert_eq!(in_link.receive(c.0, c.1, "c", &mut got), Arrival::Early);
        assert_eq!(in_link.receive(b.0, b.1, "b", &mut got), Arrival::Delivered);
        assert_eq!(in_link.cumulative(), (0, 3));
        assert_eq!(got, vec!["a", "b", "c"]);
        out_link.ack(0, 3);
        assert_eq!(out_link.pending(), 0);
    }

    #[test]
    fn a_new_epoch_restarts_numbering() {
        let mut out_link = LinkOut::new(1);
        let mut in_link = LinkIn::default();
        let mut got = vec![];
        let (e, s) = out_link.push(1, 0);
        in_link.receive(e, s, 1, &mut got);
        out_link.push(2, 0);
        out_link.reset();
        let (e2, s2) = out_link.push(3, 0);
        assert_eq!(s2, 1);
        in_link.receive(e2, s2, 3, &mut got);
        assert_eq!(got, vec![1, 3]);
        // A late copy from the old epoch is ignored.
        assert_eq!(in_link.receive(e, 2, 2, &mut got), Arrival::Stale);
    }

    /// The receiving half against the plainest model of it (a map of what came early),
    /// on arrivals reordered, duplicated and far ahead, across epochs: the same arrivals,
    /// the same deliveries in the same order, the same cumulative ACK.
    #[test]
    fn the_early_window_receives_as_a_map_of_early_messages_would() {
        use rand::{Rng, SeedableRng};
        use std::collections::BTreeMap;

        #[derive(Default)]
        struct Model {
            epoch: u64,
            expected: u64,
            early: BTreeMap<u64, u64>,
        }
        impl Model {
            fn receive(&mut self, epoch: u64, seq: u64, out: &mut Vec<u64>) -> Arrival {
                if epoch < self.epoch {
                    return Arrival::Stale;
                }
                if epoch > self.epoch || self.expected == 0 {
                    self.epoch = epoch;
                    self.expected = 1;
                    self.early.clear();
                }
                if seq == self.expected {
                    out.push(seq);
                    self.expected += 1;
                    while let Some(m) = self.early.remove(&self.expected) {
                        out.push(m);
                        self.expected += 1;
                    }
                    Arrival::Delivered
                } else if seq < self.expected {
                    Arrival::Duplicate
                } else {
                    if seq - self.expected < MAX_EARLY {
                        self.early.insert(seq, seq);
                    }
                    Arrival::Early
                }
            }
        }

        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let mut link = LinkIn::default();
            let mut model = Model::default();
            let (mut got, mut want) = (vec![], vec![]);
            let mut epoch = 0;
            let mut sent = 0u64;
            for _ in 0..600 {
                match rng.gen_range(0..100) {
                    0 => {
                        epoch += 1;
                        sent = 0;
                    }
                    1 => {
                        // Far ahead (at the window's edge, just inside or just past it),
                        // then the gap before it in order: kept, it is delivered behind
                        // the gap; dropped, the cumulative ACK stops short of it.
                        let from = link.cumulative().1 + 1;
                        let far = from + MAX_EARLY - 2 + rng.gen_range(0..3);
                        for seq in std::iter::once(far).chain(from..far) {
                            assert_eq!(
                                link.receive(epoch, seq, seq, &mut got),
                                model.receive(epoch, seq, &mut want)
                            );
                        }
                        sent = far;
                    }
                    _ => {
                        sent += u64::from(rng.gen_bool(0.5));
                        // Mostly near the newest message, now and then an old epoch's.
                        let seq = sent.saturating_sub(rng.gen_range(0..8)).max(1);
                        let e = if epoch > 0 && rng.gen_bool(0.02) {
                            epoch - 1
                        } else {
                            epoch
                        };
                        assert_eq!(
                            link.receive(e, seq, seq, &mut got),
                            model.receive(e, seq, &mut want)
                        );
                    }
                }
                assert_eq!(got, want);
                assert_eq!(link.cumulative(), (model.epoch, model.expected.max(1) - 1));
            }
        }
    }

    #[test]
    fn retransmits_with_backoff() {
        let mut l = LinkOut::new(0);
        l.push("x", 0);
        let mut due = vec![];
        l.due(INITIAL_RTO_NS - 1, &mut due);
        assert!(due.is_empty());
        l.due(INITIAL_RTO_NS, &mut due);
        assert_eq!(due.len(), 1);
        due.clear();
        l.due(2 * INITIAL_RTO_NS, &mut due);
        assert!(due.is_empty(), "the timeout doubled");
    }
}
