//! An unbounded channel between the tasks of a node, with the wakeups of tokio's
//! `mpsc::unbounded_channel` and a fraction of its cost; and [`Wakeup`], likewise for
//! tokio's `Notify`.
//!
//! Every message a node handles crosses one or more of these (network receiver to CE, CE
//! to job, job to work thread and back), so their cost is paid several times a message.
//! tokio's channel is built for many threads: a block list, a semaphore and an atomic
//! waker, each with its atomics. Inside madsim a seed runs on one OS thread, so a queue
//! in a [`SeedCell`] (no atomics at all) does the same job.
//!
//! The wakeups must be exactly tokio's, because madsim picks the next task to poll at
//! random among the woken ones: one wakeup more or less changes the seed's schedule and
//! therefore its trace. So, as tokio does: a send wakes the receiver only if the receiver
//! registered its waker by waiting on an empty channel (and the wake consumes that
//! registration); dropping the last sender wakes it the same way; a receive future that
//! is dropped leaves its registration in place; and dropping the receiver makes later
//! sends fail and drops the messages still queued.

use crate::local::SeedCell;
use std::cell::RefMut;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A send to a channel whose receiver is gone; holds the message back.
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver's waker, registered when it found the channel empty.
    waker: Option<Waker>,
    senders: usize,
    receiver_alive: bool,
}

struct Shared<T> {
    state: SeedCell<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> RefMut<'_, State<T>> {
        self.state.borrow_mut()
    }
}

/// Creates a channel: any number of senders, one receiver.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let shared = Arc::new(Shared {
        state: SeedCell::new(State {
            queue: VecDeque::new(),
            waker: None,
            senders: 1,
            receiver_alive: true,
        }),
    });
    (
        UnboundedSender {
            shared: shared.clone(),
        },
        UnboundedReceiver { shared },
    )
}

/// The sending side; clone it for more senders.
pub struct UnboundedSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> UnboundedSender<T> {
    /// Queues `msg` without waiting; fails only when the receiver is gone.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let waker = {
            let mut st = self.shared.lock();
            if !st.receiver_alive {
                return Err(SendError(msg));
            }
            st.queue.push_back(msg);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// How many messages are queued, sent and not yet received.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        UnboundedSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.shared.lock();
            st.senders -= 1;
            if st.senders == 0 {
                st.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnboundedSender")
    }
}

/// The receiving side.
pub struct UnboundedReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> UnboundedReceiver<T> {
    /// The next message, or `None` once every sender is gone and the queue is empty.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// How many messages are queued, sent and not yet received.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`recv`](Self::recv) as a poll, for a task that waits on more than this channel.
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = self.shared.lock();
        if let Some(msg) = st.queue.pop_front() {
            return Poll::Ready(Some(msg));
        }
        if st.senders == 0 {
            return Poll::Ready(None);
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        let (queued, waker) = {
            let mut st = self.shared.lock();
            st.receiver_alive = false;
            (std::mem::take(&mut st.queue), st.waker.take())
        };
        // Dropped outside the lock: a message's drop may itself use the channel.
        drop(queued);
        drop(waker);
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnboundedReceiver")
    }
}

/// The future of [`UnboundedReceiver::recv`].
pub struct Recv<'a, T> {
    rx: &'a mut UnboundedReceiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

/// tokio's `Notify` as the network's receivers use it (`notify_one` and `notified`), with
/// the same wakeups: waiters are woken oldest first; a notification nobody waits for is
/// kept as a permit for the next wait; and a waiter dropped after it was notified but
/// before it saw the notification passes it on (to the next waiter, or as the permit).
/// A node has one receiver, but for a moment after a restart its dead receiver may still
/// be registered beside the new one, so more than one waiter must work.
#[derive(Default)]
pub struct Wakeup {
    state: SeedCell<WakeupState>,
}

#[derive(Default)]
struct WakeupState {
    permit: bool,
    next_id: u64,
    /// Registered waiters, oldest first, with the waker of each one's last poll.
    waiters: VecDeque<(u64, Waker)>,
    /// Waiters that were notified and have not seen it yet.
    notified: Vec<u64>,
}

impl WakeupState {
    /// Notifies the oldest waiter (returning its waker to wake), or keeps a permit.
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiters.pop_front() {
            Some((id, waker)) => {
                self.notified.push(id);
                Some(waker)
            }
            None => {
                self.permit = true;
                None
            }
        }
    }

    /// Whether waiter `id` was notified; forgets that it was.
    fn take_notified(&mut self, id: u64) -> bool {
        match self.notified.iter().position(|&n| n == id) {
            Some(i) => {
                self.notified.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

impl Wakeup {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> RefMut<'_, WakeupState> {
        self.state.borrow_mut()
    }

    /// Wakes the oldest waiter, or keeps a permit if none is waiting.
    pub fn notify_one(&self) {
        let waker = self.lock().notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits for a notification (or takes the permit).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            wakeup: self,
            state: NotifiedState::Init,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NotifiedState {
    Init,
    Waiting(u64),
    Done,
}

/// The future of [`Wakeup::notified`].
pub struct Notified<'a> {
    wakeup: &'a Wakeup,
    state: NotifiedState,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.wakeup.lock();
        match self.state {
            NotifiedState::Init => {
                if st.permit {
                    st.permit = false;
                    drop(st);
                    self.state = NotifiedState::Done;
                    return Poll::Ready(());
                }
                let id = st.next_id;
                st.next_id += 1;
                st.waiters.push_back((id, cx.waker().clone()));
                drop(st);
                self.state = NotifiedState::Waiting(id);
                Poll::Pending
            }
            NotifiedState::Waiting(id) => {
                if st.take_notified(id) {
                    drop(st);
                    self.state = NotifiedState::Done;
                    return Poll::Ready(());
                }
                if let Some((_, w)) = st.waiters.iter_mut().find(|(i, _)| *i == id) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
                Poll::Pending
            }
            NotifiedState::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let NotifiedState::Waiting(id) = self.state else {
            return;
        };
        let (forwarded, removed) = {
            let mut st = self.wakeup.lock();
            if st.take_notified(id) {
                // Notified but never saw it: the notification goes on.
                (st.notify_one(), None)
            } else {
                let removed = st
                    .waiters
                    .iter()
                    .position(|(i, _)| *i == id)
                    .and_then(|i| st.waiters.remove(i));
                (None, removed)
            }
        };
        drop(removed);
        if let Some(w) = forwarded {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T>(rx: &mut UnboundedReceiver<T>, waker: &Waker) -> Poll<Option<T>> {
        let mut cx = Context::from_waker(waker);
        let mut fut = rx.recv();
        Pin::new(&mut fut).poll(&mut cx)
    }

    #[test]
    fn a_send_wakes_only_a_receiver_that_waited() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let (tx, mut rx) = unbounded_channel();
        tx.send(1).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "nobody waited");
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut rx, &waker), Poll::Pending);
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake per wait");
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Some(2)));
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Some(3)));
        assert_eq!(poll(&mut rx, &waker), Poll::Pending);
        let tx2 = tx.clone();
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a sender is left");
        drop(tx2);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "the last sender wakes");
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(None));
    }

    fn poll_notified(n: &mut Pin<&mut Notified<'_>>, waker: &Waker) -> Poll<()> {
        n.as_mut().poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_wakeup_keeps_a_permit_and_hands_back_an_unseen_notification() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let w = Wakeup::new();
        // Nobody waits: a permit, taken by the next wait at once.
        w.notify_one();
        let mut n = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut n, &waker), Poll::Ready(()));
        // A waiter is woken once; a second notification becomes a permit.
        let mut n = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut n, &waker), Poll::Pending);
        w.notify_one();
        w.notify_one();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_notified(&mut n, &waker), Poll::Ready(()));
        let mut n = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut n, &waker), Poll::Ready(()));
        // A waiter dropped unnotified leaves nothing; dropped notified, a permit.
        {
            let mut n = std::pin::pin!(w.notified());
            assert_eq!(poll_notified(&mut n, &waker), Poll::Pending);
        }
        {
            let mut n = std::pin::pin!(w.notified());
            assert_eq!(poll_notified(&mut n, &waker), Poll::Pending);
            w.notify_one();
        }
        let mut n = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut n, &waker), Poll::Ready(()));
        let mut n = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut n, &waker), Poll::Pending);
    }

    #[test]
    fn the_oldest_waiter_is_woken_and_an_unseen_notification_moves_on() {
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let w = Wakeup::new();
        let mut old = Box::pin(w.notified());
        let mut new = std::pin::pin!(w.notified());
        assert_eq!(poll_notified(&mut old.as_mut(), &wa), Poll::Pending);
        assert_eq!(poll_notified(&mut new, &wb), Poll::Pending);
        w.notify_one();
        assert_eq!(a.0.load(Ordering::SeqCst), 1, "the oldest waiter first");
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
        // The old waiter dies without looking: the newer one gets the notification.
        drop(old);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_notified(&mut new, &wb), Poll::Ready(()));
    }

    #[test]
    fn sends_fail_once_the_receiver_is_gone() {
        let (tx, rx) = unbounded_channel();
        tx.send(1).unwrap();
        drop(rx);
        assert!(tx.send(2).is_err());
    }
}
