//! [`SeedCell`]: mutable state shared by the tasks of one seed, without atomic operations.
//!
//! A seed runs on one OS thread, so the network's inboxes and the channels between a
//! node's tasks never see two threads at once. A `Mutex` still pays two atomic
//! read-modify-writes per lock, and these locks are taken several times for every
//! message. A `SeedCell` is a `RefCell` that remembers the thread that made it and
//! refuses any other, which makes sharing it between threads (`Sync`) harmless: only one
//! thread can ever reach the value.

use std::cell::{RefCell, RefMut};

/// A `RefCell` that only the thread that made it may borrow.
pub struct SeedCell<T> {
    owner: usize,
    cell: RefCell<T>,
}

// SAFETY: the value is reached only through `borrow_mut`, which panics unless the caller
// is the thread that made the cell (thread marks are never reused), so only one thread
// ever touches the value while the cell lives, and the `RefCell` rules out aliasing
// within it. `T: Send` because the thread that drops the cell may be another one; the
// `Arc` that shares the cell orders that drop after every use.
unsafe impl<T: Send> Sync for SeedCell<T> {}

/// A number unique to each thread the process ever ran, never reused (a thread-local's
/// address would be, once its thread exits): 0 until the thread first asks.
#[inline]
fn thread_mark() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    thread_local! {
        static MARK: Cell<usize> = const { Cell::new(0) };
    }
    MARK.with(|m| match m.get() {
        0 => {
            let mark = NEXT.fetch_add(1, Ordering::Relaxed);
            m.set(mark);
            mark
        }
        mark => mark,
    })
}

impl<T> SeedCell<T> {
    pub fn new(value: T) -> Self {
        SeedCell {
            owner: thread_mark(),
            cell: RefCell::new(value),
        }
    }

    /// Borrows the value; panics on another thread than the cell's, or if it is borrowed.
    #[inline]
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        assert!(
            self.owner == thread_mark(),
            "seed state used outside the seed's thread"
        );
        self.cell.borrow_mut()
    }
}

impl<T: Default> Default for SeedCell<T> {
    fn default() -> Self {
        SeedCell::new(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_owning_thread_borrows_and_others_are_refused() {
        let cell = Arc::new(SeedCell::new(1));
        *cell.borrow_mut() += 1;
        assert_eq!(*cell.borrow_mut(), 2);
        let other = cell.clone();
        let r = std::thread::spawn(move || *other.borrow_mut()).join();
        assert!(r.is_err(), "another thread must not reach the value");
        assert_eq!(*cell.borrow_mut(), 2);
    }

    #[test]
    fn a_cell_moved_to_another_thread_stays_refused_there_and_drops_there() {
        // What the `Sync` and `Send` reasoning rests on: moving the cell does not move its
        // owner, and the last `Arc` may be dropped on any thread, after every use.
        let cell = SeedCell::new(vec![1, 2, 3]);
        let refused = std::thread::spawn(move || {
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell.borrow_mut().len()));
            (r.is_err(), cell)
        })
        .join()
        .expect("the thread itself does not panic");
        assert!(
            refused.0,
            "a moved cell must not be borrowed by its new thread"
        );
        assert_eq!(*refused.1.borrow_mut(), vec![1, 2, 3]);
        let shared = Arc::new(refused.1);
        let last = shared.clone();
        drop(shared);
        std::thread::spawn(move || drop(last))
            .join()
            .expect("the last reference drops on another thread");
        // A thread's mark is never 0 and never reused by a later thread.
        let marks: Vec<usize> = (0..4)
            .map(|_| std::thread::spawn(thread_mark).join().unwrap())
            .collect();
        assert!(marks.iter().all(|&m| m != 0 && m != thread_mark()));
        let mut unique = marks.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), marks.len(), "{marks:?}");
    }
}
