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
// is the thread that made the cell: two threads never hold borrows at once, and the
// `RefCell` rules out aliasing within that thread. `T: Send` because a thread that later
// gets the same thread mark (its creator having exited), or drops the cell, takes the
// value over.
unsafe impl<T: Send> Sync for SeedCell<T> {}

/// A number unique to each live thread: the address of a thread-local.
#[inline]
fn thread_mark() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| m as *const u8 as usize)
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
}
