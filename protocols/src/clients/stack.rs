//! A context's message list, kept as a stack: the newest message on top.
//!
//! Overflow policy: the list holds at most `bound` messages. When a new message arrives at
//! a full list, the oldest message the client has already acknowledged is evicted to make
//! room. If every message in the list is still unacknowledged, the new message is
//! *refused* (the caller reports it to the event's source) rather than silently dropping
//! one the client has not seen: a message the master accepted must reach its client.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A message as stored in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Position in this context's stream, from 1; acknowledgements refer to it.
    pub seq: u64,
    /// The cluster-unique id of the event that produced it (for tracing and checkers).
    pub event_id: u64,
    pub code: String,
    pub severity: super::catalog::Severity,
    pub params: super::catalog::Params,
    /// Set when the catalog formats at store time; `None` when it formats on delivery.
    pub text: Option<String>,
    pub acked: bool,
    /// Set when the message is a dialogue's question.
    pub question: Option<super::manager::Question>,
}

/// Why a push was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The list is full of unacknowledged messages.
    Full { bound: usize },
}

/// The stack. Internally oldest first, so the top is the back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStack {
    bound: usize,
    items: VecDeque<StoredMessage>,
    evicted: u64,
}

impl MessageStack {
    pub fn new(bound: usize) -> Self {
        assert!(bound > 0, "a message list needs room for one message");
        MessageStack {
            bound,
            items: VecDeque::new(),
            evicted: 0,
        }
    }

    pub fn bound(&self) -> usize {
        self.bound
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many acknowledged messages overflow has evicted.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Pushes on top, evicting the oldest acknowledged message if full; returns the
    /// evicted one.
    pub fn push(&mut self, msg: StoredMessage) -> Result<Option<StoredMessage>, PushError> {
        let mut evicted = None;
        if self.items.len() >= self.bound {
            let pos = self
                .items
                .iter()
                .position(|m| m.acked)
                .ok_or(PushError::Full { bound: self.bound })?;
            evicted = self.items.remove(pos);
            self.evicted += 1;
        }
        self.items.push_back(msg);
        Ok(evicted)
    }

    /// The newest message.
    pub fn top(&self) -> Option<&StoredMessage> {
        self.items.back()
    }

    /// Every message, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &StoredMessage> {
        self.items.iter().rev()
    }

    /// Marks every message up to and including `seq` acknowledged; returns how many
    /// changed.
    pub fn ack_upto(&mut self, seq: u64) -> usize {
        let mut n = 0;
        for m in self.items.iter_mut().filter(|m| m.seq <= seq && !m.acked) {
            m.acked = true;
            n += 1;
        }
        n
    }

    /// Removes the message with `seq` wherever it is in the stack.
    pub fn remove(&mut self, seq: u64) -> Option<StoredMessage> {
        let pos = self.items.iter().position(|m| m.seq == seq)?;
        self.items.remove(pos)
    }

    /// Unacknowledged messages with a sequence number above `after`, oldest first: what
    /// must be (re)sent to a client that has acknowledged up to `after`.
    pub fn unacked_after(&self, after: u64) -> impl Iterator<Item = &StoredMessage> {
        self.items.iter().filter(move |m| !m.acked && m.seq > after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::catalog::Severity;

    fn msg(seq: u64) -> StoredMessage {
        StoredMessage {
            seq,
            event_id: 100 + seq,
            code: "CLU0101".into(),
            severity: Severity::Error,
            params: Default::default(),
            text: None,
            acked: false,
            question: None,
        }
    }

    #[test]
    fn newest_is_on_top_and_listing_is_newest_first() {
        let mut s = MessageStack::new(8);
        for seq in 1..=4 {
            s.push(msg(seq)).unwrap();
        }
        assert_eq!(s.top().unwrap().seq, 4);
        let order: Vec<u64> = s.newest_first().map(|m| m.seq).collect();
        assert_eq!(order, vec![4, 3, 2, 1]);
    }

    #[test]
    fn remove_takes_a_message_out_of_the_middle() {
        let mut s = MessageStack::new(8);
        for seq in 1..=3 {
            s.push(msg(seq)).unwrap();
        }
        assert_eq!(s.remove(2).unwrap().seq, 2);
        assert!(s.remove(2).is_none());
        let order: Vec<u64> = s.newest_first().map(|m| m.seq).collect();
        assert_eq!(order, vec![3, 1]);
    }

    #[test]
    fn overflow_evicts_the_oldest_acknowledged_message() {
        let mut s = MessageStack::new(3);
        for seq in 1..=3 {
            s.push(msg(seq)).unwrap();
        }
        assert_eq!(s.ack_upto(2), 2);
        let evicted = s.push(msg(4)).unwrap().unwrap();
        assert_eq!(evicted.seq, 1);
        assert_eq!(s.evicted(), 1);
        let order: Vec<u64> = s.newest_first().map(|m| m.seq).collect();
        assert_eq!(order, vec![4, 3, 2]);
    }

    #[test]
    fn overflow_refuses_rather_than_dropping_an_unseen_message() {
        let mut s = MessageStack::new(2);
        s.push(msg(1)).unwrap();
        s.push(msg(2)).unwrap();
        assert_eq!(s.push(msg(3)), Err(PushError::Full { bound: 2 }));
        assert_eq!(s.len(), 2);
        assert_eq!(s.top().unwrap().seq, 2);
    }

    #[test]
    fn resend_set_is_what_the_client_has_not_acknowledged() {
        let mut s = MessageStack::new(8);
        for seq in 1..=5 {
            s.push(msg(seq)).unwrap();
        }
        s.ack_upto(3);
        let resend: Vec<u64> = s.unacked_after(3).map(|m| m.seq).collect();
        assert_eq!(resend, vec![4, 5]);
    }
}
