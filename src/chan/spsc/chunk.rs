//! Chunks on the plain SPSC ring: a run of slots written in place and published with one
//! store of `tail` (and one post-check), or read in place and released with one store of
//! `head`.
//!
//! A write chunk holds its slots as permits do (see `closing.rs`): it raises the permit
//! count while it lives, so a drain-close waits for its commit, and an abort does not (a
//! commit checks `ABORTED` first, and its post-check takes the whole run back if the
//! consumer has reported `Closed` meanwhile: the consumer sees all of a run or none of it,
//! since one store publishes it). The drop-oldest ring has no chunks: its producer would
//! need the slots a chunk pins.

use core::task::Poll;

use super::closing::Finish;
use super::{Ring, SpscQueue, ABORTED, CLOSED, DONE, RX_WAITING, TAKEBACK, TX_WAITING};
use crate::chan::poll::{wait_until, Waiters};
use crate::chan::SlotReg;
use crate::error::{TryRecvError, TrySendError};
use crate::loom::Ordering;
use crate::wait::Wake;

/// What a chunk's commit came to.
pub(crate) enum Committed<T> {
    /// Published.
    Sent,
    /// Aborted before the commit: nothing was published; the caller takes its values back
    /// out of the slots, then gives the slots back ([`SpscQueue::chunk_abandon`]).
    Refused,
    /// Published, then taken back: the consumer had reported `Closed`. Here they are.
    TakenBack(Vec<T>),
}

impl<T> SpscQueue<T> {
    /// The plain ring (chunks are not offered on the drop-oldest ring).
    pub(crate) fn plain(&self) -> Option<&crate::ring::spsc::Ring<T>> {
        match &self.ring {
            Ring::Plain(r) => Some(r),
            Ring::Evict(_) => None,
        }
    }

    /// Holds up to `max` slots (at least one) for a write chunk.
    ///
    /// # Safety
    ///
    /// The caller is the only producer; the queue has the plain ring.
    pub(crate) unsafe fn chunk_hold(&self, max: usize) -> Result<usize, TrySendError<()>> {
        let r = self.plain().expect("chunks are on the plain ring");
        if self.state() & CLOSED != 0 {
            return Err(TrySendError::Closed(()));
        }
        // SAFETY: the caller is the only producer.
        let n = unsafe { r.hold_run(max) };
        if n == 0 {
            return Err(TrySendError::Full(()));
        }
        // One permit for the whole chunk (see `try_reserve`).
        // Ordering: Relaxed load of our own count; Release store, as in `lower_permits`.
        let p = self.tx.1.load(Ordering::Relaxed);
        self.tx.1.store(p + 1, Ordering::Release);
        if self.post_check(DONE, RX_WAITING, &self.tx.2).is_some() {
            // The consumer reported `Closed` meanwhile: undo.
            // SAFETY: the caller is the only producer; nothing was written.
            unsafe { r.publish_ahead(0, n) };
            self.lower_permits();
            return Err(TrySendError::Closed(()));
        }
        Ok(n)
    }

    /// Gives back a chunk's `held` slots without publishing (its values were taken back).
    ///
    /// # Safety
    ///
    /// The caller is the only producer, and holds `held` slots with no value left in them.
    pub(crate) unsafe fn chunk_abandon(&self, held: usize) {
        let r = self.plain().expect("chunks are on the plain ring");
        // SAFETY: forwarded.
        unsafe { r.publish_ahead(0, held) };
        self.lower_permits();
    }

    /// Publishes the first `written` of a chunk's `held` slots.
    ///
    /// # Safety
    ///
    /// The caller is the only producer; its chunk holds `held` slots and wrote exactly the
    /// first `written`.
    pub(crate) unsafe fn chunk_commit(&self, written: usize, held: usize) -> Committed<T> {
        let r = self.plain().expect("chunks are on the plain ring");
        if self.state() & ABORTED != 0 {
            return Committed::Refused;
        }
        // SAFETY: forwarded.
        unsafe { r.publish_ahead(written, held) };
        let mut out = Committed::Sent;
        if written > 0 {
            if let Some(s) = self.post_check(RX_WAITING | DONE, RX_WAITING, &self.tx.2) {
                // `DONE` without `ABORTED`: a drain-close's transient step, which our
                // permit holds back (see `after_permit_push_slow`).
                if s & DONE != 0 && s & ABORTED != 0 {
                    if let Err(values) = self.take_back_run(written) {
                        out = Committed::TakenBack(values);
                    }
                } else if self.clear(RX_WAITING) & RX_WAITING != 0 {
                    self.wake_rx();
                }
            }
        }
        self.lower_permits();
        out
    }

    /// [`take_back`](Self::take_back) for a run of `k` items published at once: the consumer
    /// saw all of them (the ring is empty: the commit stands) or none (the newest `k` items
    /// are the run: they come back; older ones, sent before it, stay).
    fn take_back_run(&self, k: usize) -> Result<(), Vec<T>> {
        if !self.begin_take_back() {
            return Ok(());
        }
        let result = if self.ring_len() == 0 {
            Ok(())
        } else {
            // The run is all or nothing (one store published it); items sent before it may
            // be there too, and stay: the newest `k` are the run.
            debug_assert!(self.ring_len() >= k, "the run is all or nothing");
            let r = self.plain().expect("chunks are on the plain ring");
            let mut values: Vec<T> = (0..k)
                // SAFETY: we are the producer; the newest `k` items are our run, which the
                // consumer will not read (it waits while TAKEBACK is set, then never pops).
                .map(|_| unsafe { r.unpush() })
                .collect();
            values.reverse();
            Err(values)
        };
        if self.clear(TAKEBACK) & RX_WAITING != 0 {
            self.wake_rx();
        }
        result
    }

    /// How many values (up to `max`, at least one) a read chunk can take now.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer; the queue has the plain ring.
    pub(crate) unsafe fn chunk_ready(&self, max: usize) -> Result<usize, TryRecvError> {
        let r = self.plain().expect("chunks are on the plain ring");
        loop {
            // SAFETY: the caller is the only consumer.
            let n = unsafe { r.ready(max) };
            // SAFETY: as above.
            if unsafe { self.done() } {
                return Err(TryRecvError::Closed);
            }
            let s = self.state();
            if s & ABORTED != 0 {
                // SAFETY: as above.
                unsafe { self.discard_and_finish() };
                return Err(TryRecvError::Closed);
            }
            if n > 0 {
                return Ok(n);
            }
            if s & CLOSED == 0 {
                return Err(TryRecvError::Empty);
            }
            // Closed and empty: the closing protocol decides (see `on_empty`).
            // SAFETY: as above.
            match unsafe { self.finish(false) } {
                Ok(_) => return Err(TryRecvError::Closed),
                Err(Finish::Wait) => return Err(TryRecvError::Empty),
                // An item appeared: look again.
                Err(Finish::Pop) => {}
            }
        }
    }

    /// A read chunk took `n` values out (moving the consumer's cursor): publish `head` with
    /// one store and wake a producer waiting for room.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    pub(crate) unsafe fn chunk_release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let r = self.plain().expect("chunks are on the plain ring");
        // SAFETY: forwarded.
        unsafe { r.release() };
        if self
            .post_check(TX_WAITING, TX_WAITING, &self.rx.2)
            .is_some()
            && self.clear(TX_WAITING) & TX_WAITING != 0
        {
            self.wake_tx();
        }
    }
}

/// Waiting for a chunk: as a reservation waits for room, and a receive for a value.
impl<T> SpscQueue<T> {
    /// One poll of a write chunk that waits for room: try, register, re-check.
    ///
    /// # Safety
    ///
    /// As for [`chunk_hold`](Self::chunk_hold).
    pub(crate) unsafe fn poll_chunk_hold(
        &self,
        max: usize,
        reg: &mut SlotReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<usize, TrySendError<()>>> {
        wait_until(&self.tx_side(), reg, wake, || {
            // SAFETY: forwarded.
            match unsafe { self.chunk_hold(max) } {
                Err(TrySendError::Full(())) => None,
                done => Some(done),
            }
        })
    }

    /// Leaves the producer's line.
    pub(crate) fn cancel_chunk_hold(&self, reg: &mut SlotReg) {
        self.tx_side().cancel(reg);
    }

    /// One poll of a read chunk that waits for a value.
    ///
    /// # Safety
    ///
    /// As for [`chunk_ready`](Self::chunk_ready).
    pub(crate) unsafe fn poll_chunk_ready(
        &self,
        max: usize,
        reg: &mut SlotReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<usize, TryRecvError>> {
        wait_until(&self.rx_side(), reg, wake, || {
            // SAFETY: forwarded.
            match unsafe { self.chunk_ready(max) } {
                Err(TryRecvError::Empty) => None,
                done => Some(done),
            }
        })
    }

    /// Leaves the consumer's line.
    pub(crate) fn cancel_chunk_ready(&self, reg: &mut SlotReg) {
        self.rx_side().cancel(reg);
    }
}
