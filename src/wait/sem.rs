//! A counting gate: permits taken and given back, a line of parties waiting for one, and a
//! close that wakes them all. The one counting primitive beside the queues for what the
//! rings do not count themselves: the admission limit. (The credit gate, `chan::credit`,
//! counts with two counters instead, so that a grant and a send touch different lines.)
//!
//! # The word
//!
//! One atomic word: the permits available, shifted left by one, and the `CLOSED` bit. Taking
//! a permit is a compare-and-swap that lowers the count (so it never goes below zero and
//! never takes from a closed gate); giving permits back adds to it, saturating at the
//! largest count the word holds.
//!
//! # No lost wake-ups
//!
//! As the MPMC ring's lines (see `wait::list`): a party registers (a `SeqCst` store of the
//! line's `waiting` count) and then tries again (a `SeqCst` load of the word first); a party
//! that gives permits back changes the word with a `SeqCst` read-modify-write and then loads
//! `waiting` (`SeqCst`). In the one total order of `SeqCst` operations, either the giver
//! sees the waiter or the waiter's retry sees the permits.
//!
//! # Progress
//!
//! `try_acquire` and `release` are lock-free (a compare-and-swap loop that fails only when
//! another party changed the word); waking takes the line's lock.

use core::fmt;

use super::list::{Registration, WaitList};
use super::Wake;
use crate::loom::{AtomicUsize, Ordering};

const CLOSED: usize = 1;
/// One permit in the word.
const ONE: usize = 2;
/// The most permits the word holds.
const MAX_PERMITS: usize = usize::MAX >> 1;

/// Why a permit was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoPermit {
    /// None available now.
    Empty,
    /// The gate is closed.
    Closed,
}

/// The gate.
pub(crate) struct Semaphore {
    word: AtomicUsize,
    waiters: WaitList,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Semaphore {
    /// A gate holding `permits` (at most [`MAX_PERMITS`]: more are cut to it).
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            word: AtomicUsize::new(permits.min(MAX_PERMITS) * ONE),
            waiters: WaitList::new(),
        }
    }

    /// The permits available now.
    pub(crate) fn available(&self) -> usize {
        // Ordering: Relaxed: a snapshot.
        self.word.load(Ordering::Relaxed) / ONE
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Ordering: SeqCst, in the order of `close`'s read-modify-write.
        self.word.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Takes one permit, if one is available and the gate is open.
    pub(crate) fn try_acquire(&self) -> Result<(), NoPermit> {
        // Ordering: SeqCst: a waiter's retry after its registration (see "No lost
        // wake-ups"); Acquire: a permit given back after the giver's work (its `release`'s
        // Release) is taken after that work.
        let mut word = self.word.load(Ordering::SeqCst);
        loop {
            if word & CLOSED != 0 {
                return Err(NoPermit::Closed);
            }
            if word < ONE {
                return Err(NoPermit::Empty);
            }
            // Ordering: SeqCst, as above.
            match self.word.compare_exchange_weak(
                word,
                word - ONE,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives `n` permits (back), saturating at [`MAX_PERMITS`], and wakes up to `n` waiting
    /// parties.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Ordering: Relaxed: validated by the compare-and-swap.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let permits = (word / ONE).saturating_add(n).min(MAX_PERMITS);
            let new = (permits * ONE) | (word & CLOSED);
            // Ordering: SeqCst: before the load of `waiting` below (see "No lost wake-ups");
            // Release: the work done under the permit happens before its next holder's.
            match self
                .word
                .compare_exchange_weak(word, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        for _ in 0..n {
            if !self.waiters.has_waiters() {
                break;
            }
            self.waiters.notify_one();
        }
    }

    /// Closes the gate: every wait ends, and no permit is taken any more (permits given
    /// back are still counted). Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        // Ordering: SeqCst (and so Release): a party that sees `CLOSED` sees what the closer
        // did before.
        let before = self.word.fetch_or(CLOSED, Ordering::SeqCst);
        self.waiters.notify_all();
        before & CLOSED == 0
    }

    /// Waits for a permit: try; register; re-check (see `chan::poll::wait_until`).
    pub(crate) fn poll_acquire(
        &self,
        reg: &mut Registration,
        wake: &Wake<'_>,
    ) -> core::task::Poll<Result<(), NoPermit>> {
        crate::chan::poll::wait_until(&self.waiters, reg, wake, || match self.try_acquire() {
            Err(NoPermit::Empty) => None,
            done => Some(done),
        })
    }

    /// Leaves the line; a wake-up taken meanwhile goes to the next party.
    pub(crate) fn cancel(&self, reg: &mut Registration) {
        self.waiters.cancel(reg);
    }
}
