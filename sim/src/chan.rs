//! An unbounded channel between the tasks of a node, with the wakeups of tokio's
//! `mpsc::unbounded_channel` and a fraction of its cost.
//!
//! Every message a node handles crosses one or more of these (network receiver to CE, CE
//! to job, job to work thread and back), so their cost is paid several times a message.
//! tokio's channel is built for many threads: a block list, a semaphore and an atomic
//! waker, each with its atomics. Inside madsim a seed runs on one OS thread, so a queue
//! under an uncontended lock does the same job.
//!
//! The wakeups must be exactly tokio's, because madsim picks the next task to poll at
//! random among the woken ones: one wakeup more or less changes the seed's schedule and
//! therefore its trace. So, as tokio does: a send wakes the receiver only if the receiver
//! registered its waker by waiting on an empty channel (and the wake consumes that
//! registration); dropping the last sender wakes it the same way; a receive future that
//! is dropped leaves its registration in place; and dropping the receiver makes later
//! sends fail and drops the messages still queued.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
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
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock is held leaves the queue consistent (every operation
        // completes its change before it can panic), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a channel: any number of senders, one receiver.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
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

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
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

    #[test]
    fn sends_fail_once_the_receiver_is_gone() {
        let (tx, rx) = unbounded_channel();
        tx.send(1).unwrap();
        drop(rx);
        assert!(tx.send(2).is_err());
    }
}
