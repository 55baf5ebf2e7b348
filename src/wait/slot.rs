//! A slot for one waiting party's waker, registered and woken without a lock.
//!
//! The algorithm is `AtomicWaker`'s (futures / atomic-waker / tokio): a small state word
//! decides who may touch the waker cell.
//!
//! ```text
//!   IDLE         nobody touches the cell
//!   REGISTERING  the registrant writes the cell
//!   WAKING       a waker takes the waker out of the cell
//! ```
//!
//! - `register` moves `IDLE -> REGISTERING`, stores the waker, and moves back to `IDLE`. If
//!   a `wake` came meanwhile (it found `REGISTERING` and added `WAKING`), the registrant
//!   takes the waker back out and wakes it itself, so the wake-up is not lost.
//! - `wake` adds `WAKING`; if the state was `IDLE`, it takes the waker, clears `WAKING` and
//!   wakes it (outside the cell). If a registration or another wake was in progress, that
//!   party handles it.
//!
//! Only one party registers at a time (the caller guarantees it: an SPSC end waits with
//! `&mut self`); any thread may wake.

use core::task::Waker;

use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicUsize, Ordering};

const IDLE: usize = 0;
const REGISTERING: usize = 1;
const WAKING: usize = 2;

/// One waiting party's waker.
pub(crate) struct WakerSlot {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only touched by the party that moved the state out of IDLE (see the
// module docs), so no two threads access it at once; `Waker` is `Send + Sync`.
unsafe impl Send for WakerSlot {}
// SAFETY: as for `Send`.
unsafe impl Sync for WakerSlot {}

impl core::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakerSlot").finish_non_exhaustive()
    }
}

impl WakerSlot {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(IDLE),
            waker: UnsafeCell::new(None),
        }
    }

    /// Stores `waker` to be woken by the next [`wake`](Self::wake). Only one thread at a time
    /// may register (the caller's contract; not unsafe, since a violation only loses a
    /// wake-up: the state machine keeps the cell exclusive either way).
    pub(crate) fn register(&self, waker: &Waker) {
        // Ordering: Acquire pairs with the Release that ended the last registration or wake:
        // their access to the cell happens before ours.
        match self
            .state
            .compare_exchange(IDLE, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => {
                // Cloned (and the old one dropped) outside the cell only where needed: a
                // waker that will wake the same task is kept.
                let old = self.waker.with_mut(|cell| {
                    // SAFETY: REGISTERING gives us the cell (see the module docs).
                    let cell = unsafe { &mut *cell };
                    match cell {
                        Some(current) if current.will_wake(waker) => None,
                        _ => cell.replace(waker.clone()),
                    }
                });
                // Ordering: AcqRel: Release hands the cell over with our write; Acquire (on
                // failure) lets us see a concurrent waker's state change.
                match self.state.compare_exchange(
                    REGISTERING,
                    IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => drop(old),
                    Err(_) => {
                        // A wake came while we registered: it left the waker to us.
                        let taken = self.waker.with_mut(|cell| {
                            // SAFETY: still ours: the waker saw REGISTERING and backed off.
                            unsafe { (*cell).take() }
                        });
                        // Ordering: Release hands the (now empty) cell back.
                        self.state.store(IDLE, Ordering::Release);
                        drop(old);
                        if let Some(w) = taken {
                            w.wake();
                        }
                    }
                }
            }
            Err(_) => {
                // A wake is in progress: it is for us, and may already have taken the old
                // waker. Wake this one so the registrant polls again.
                waker.wake_by_ref();
            }
        }
    }

    /// Wakes the registered waker, if any (it is removed: one registration, one wake).
    pub(crate) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Removes the registered waker, if no registration or wake is in progress.
    pub(crate) fn take(&self) -> Option<Waker> {
        // Ordering: AcqRel: Acquire pairs with the registrant's Release (its write of the
        // cell); Release orders our flag before whatever follows.
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            IDLE => {
                let w = self.waker.with_mut(|cell| {
                    // SAFETY: we moved IDLE -> WAKING: the cell is ours.
                    unsafe { (*cell).take() }
                });
                // Ordering: Release hands the cell back.
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            // REGISTERING: the registrant sees WAKING and wakes itself. WAKING: another
            // wake is taking it.
            _ => None,
        }
    }
}
