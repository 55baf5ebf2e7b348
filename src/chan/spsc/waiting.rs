//! SPSC waiting.
//!
//! # The membarrier or the fenced mode
//!
//! The side about to wait sets its flag and re-checks the ring; the other side publishes
//! and then post-checks the flag. That is a Dekker pair (see `loom::barrier`), and it takes
//! one of two forms, switched at run time:
//!
//! - **Plain mode**: the post-check is behind a compiler fence only ([`barrier::light`]),
//!   and the waiter pays [`barrier::heavy`] (`membarrier`, 0.3-11 us) after setting its
//!   flag. Best when waits are rare: nothing at all is paid per item.
//! - **Fenced mode** (`FENCED` set): every post-check is behind a `fence(SeqCst)`, and a
//!   waiter pays only a fence after setting its flag. Best when waits are frequent (an async
//!   consumer that often catches up, a small queue): a system call per wait would cost more
//!   than a fence per item.
//!
//! Where `membarrier` is unavailable ([`barrier::expedited`] is false), the queue starts in
//! the fenced mode and stays in it.
//!
//! A waiter turns the fenced mode on with its flag (one read-modify-write that sets both),
//! and the first wait after that pays the `membarrier`: a post-check that read the state
//! before `FENCED` was visible did not fence. A side that has made [`UNFENCE_AFTER`] fenced
//! post-checks without seeing the other side wait turns the mode off again, by a
//! compare-and-swap that fails if a flag was set meanwhile (that waiter relies on the mode).
//! A waiter that finds the mode off pays the `membarrier` again. Either way a waiter and a
//! notifier always see each other, and the cost is within about twice that of the better
//! mode for the workload (a ski-rental bound).
//!
use super::{SpscQueue, FENCED, RX_WAITING, TX_WAITING};
use crate::chan::poll::Waiters;
use crate::chan::SlotReg;
use crate::loom::cell::UnsafeCell;
use crate::loom::{barrier, fence, AtomicUsize, Ordering};
use crate::wait::slot::WakerSlot;
use crate::wait::Wake;

/// Fenced post-checks a side makes without seeing the other side wait before it turns the
/// fenced mode off. A fence costs this side 10-100 ns (the store buffer drains to a line the
/// other core reads); a `membarrier` costs the waiting side 0.3-11 us. So after about a
/// hundred quiet operations, waits are rare enough that the system call is the cheaper way.
const UNFENCE_AFTER: u32 = 128;

impl<T> SpscQueue<T> {
    /// The post-check after a push or a pop, for a caller that acts only on `flags`: the
    /// state, read after the operation was published (see "Waiting" in the module docs), if
    /// one of `flags` is set in it; `None` (the fast path: one load, one test) if none is.
    /// `waiter`: the other side's flag; `quiet`: this side's count of quiet fenced checks
    /// (private to this side).
    #[inline(always)]
    pub(super) fn post_check(
        &self,
        flags: usize,
        waiter: usize,
        quiet: &UnsafeCell<u32>,
    ) -> Option<usize> {
        barrier::light();
        // Ordering: Relaxed after the barrier (which orders it after our publication, as far
        // as a waiter that paid `barrier::heavy` is concerned).
        let s = self.state.load(Ordering::Relaxed);
        // One test for the usual case: not fenced, and nothing to act on.
        if s & (flags | FENCED) == 0 {
            return None;
        }
        let s = if s & FENCED == 0 {
            s
        } else {
            self.fenced_check(waiter, quiet)
        };
        (s & flags != 0).then_some(s)
    }

    /// The fenced mode's post-check (see `post_check`).
    #[inline(never)]
    fn fenced_check(&self, waiter: usize, quiet: &UnsafeCell<u32>) -> usize {
        // The fenced mode: a full fence between our publication and our read of the state,
        // which pairs with a waiter's fence after it set its flag.
        fence(Ordering::SeqCst);
        // Ordering: Relaxed after the fence.
        let s = self.state.load(Ordering::Relaxed);
        let count = quiet.with_mut(|q| {
            // SAFETY: `quiet` is private to the side that calls us (see the fields).
            let q = unsafe { &mut *q };
            *q = if s & waiter != 0 { 0 } else { *q + 1 };
            *q
        });
        if count >= UNFENCE_AFTER {
            self.unfence(s, quiet);
        }
        s
    }

    /// A side made [`UNFENCE_AFTER`] quiet fenced checks: turn the fenced mode off, unless a
    /// waiter relies on it (or there is no `membarrier`).
    #[cold]
    pub(super) fn unfence(&self, s: usize, quiet: &UnsafeCell<u32>) {
        quiet.with_mut(|q| {
            // SAFETY: as in `fenced_check`.
            unsafe { *q = 0 }
        });
        if s & (RX_WAITING | TX_WAITING) == 0 && barrier::expedited() {
            // Ordering: AcqRel, as every flag change. Fails if a waiter set its flag since:
            // it relies on the fenced mode, which then stays.
            let _ =
                self.state
                    .compare_exchange(s, s & !FENCED, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// One side's waiting party: its waker slot and its flag in the state word.
pub(super) struct WaitSide<'a> {
    slot: &'a WakerSlot,
    state: &'a AtomicUsize,
    flag: usize,
}

impl Waiters for WaitSide<'_> {
    type Reg = SlotReg;

    fn take_notification(&self, _: &mut SlotReg) {}

    fn register(&self, reg: &mut SlotReg, wake: &Wake<'_>) {
        self.slot.register(wake.waker);
        reg.registered = true;
        // Ordering: SeqCst, and the barrier below orders it before the caller's re-check
        // (see "Waiting" in the module docs).
        let before = self.state.fetch_or(self.flag | FENCED, Ordering::SeqCst);
        if before & FENCED == 0 {
            // Turning the fenced mode on: an operation of the other side that read the state
            // before it saw FENCED did not fence, so this wait pays the asymmetric barrier.
            barrier::heavy();
        } else {
            // The other side fences its post-checks: a fence here completes the pair.
            fence(Ordering::SeqCst);
        }
    }

    fn cancel(&self, reg: &mut SlotReg) {
        // Ordering: Relaxed: our own flag is only a hint for the other side's post-check;
        // leaving it set costs the other side one spurious wake.
        if core::mem::take(&mut reg.registered)
            && self.state.load(Ordering::Relaxed) & self.flag != 0
        {
            // Ordering: AcqRel, as every flag change.
            self.state.fetch_and(!self.flag, Ordering::AcqRel);
        }
    }
}

impl<T> SpscQueue<T> {
    pub(super) fn tx_side(&self) -> WaitSide<'_> {
        WaitSide {
            slot: &self.tx.0,
            state: &self.state,
            flag: TX_WAITING,
        }
    }

    pub(super) fn rx_side(&self) -> WaitSide<'_> {
        WaitSide {
            slot: &self.rx.0,
            state: &self.state,
            flag: RX_WAITING,
        }
    }
}
