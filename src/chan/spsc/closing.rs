//! The SPSC closing protocol.
//!
//! # Close is linearizable
//!
//! A send checks `CLOSED` before it pushes, so a send that starts after `close` returned
//! fails. But a send that checked just before a close (from the consumer or a [`Closer`]) can
//! still publish its item after the consumer found the ring empty and closed. So the consumer
//! does not report `Closed` on its own word: it sets `DONE`, pays [`barrier::heavy`], and
//! looks again. The producer reads `DONE` after each push. Either the consumer sees the late
//! item (it clears `DONE` and receives it), or the producer sees `DONE` and takes its item
//! back (`TAKEBACK`, then the ring's `unpush`) and its send fails with `Closed(value)`; if
//! both see each other, a compare-and-swap on the word decides, and the consumer waits for a
//! take-back in progress. From `DONE` on, the consumer never pops again, so no send reports
//! success after the consumer reported `Closed`. Dropping the consumer and
//! [`Consumer::abort`](crate::Consumer::abort) end with the same step, so a send racing them
//! either is discarded (and counted) or fails with its value.
//!
//! After a drain-close, a permit's send is never taken back: the consumer does not report
//! `Closed` while a permit is outstanding (it re-reads the permit count after setting `DONE`
//! and its barrier, and clears `DONE` again if a permit is out; the producer publishes the
//! item before it lowers the count, and a reservation that raced the close sees `DONE` and
//! is undone). So a permit's send (or a write chunk's commit) that sees `DONE` without
//! `ABORTED` lets its item stand: that `DONE` is the consumer's transient step.
//!
//! # Aborting
//!
//! Only the consumer takes items out of an SPSC ring: that keeps its receive free of
//! read-modify-writes. So [`Consumer::abort`](crate::Consumer::abort) discards at once and
//! returns the exact count, while `abort` from the producer or a [`Closer`] sets `ABORTED`
//! and returns no count: the consumer discards at its next call (or when it is dropped),
//! and [`Metrics::discarded`](crate::Metrics::discarded) is exact from then on. The consumer
//! ends an abort (sets `DONE` for good) without waiting for outstanding permits: a permit's
//! send is checked against `DONE` as any send is, so it either lands before the end (and is
//! discarded and counted) or takes its value back and fails with it. An exact
//! abort from the producer would need the consumer to take each item with a
//! read-modify-write (as the drop-oldest ring does): measured in `docs/PERFORMANCE.md`.
//!
//! [`Closer`]: crate::Closer

use super::{
    Recv, Ring, SpscQueue, ABORTED, CLOSED, DONE, PRODUCER_GONE, RX_WAITING, TAKEBACK, TX_WAITING,
};
use crate::chan::{Attempt, Sent};
use crate::loom::{barrier, Backoff, Ordering};

/// Why [`SpscQueue::finish`] did not report `Closed`.
pub(super) enum Finish {
    /// An item appeared: pop it.
    Pop,
    /// A permit is outstanding: report `Empty` (its send or release wakes the consumer).
    Wait,
}

impl<T> SpscQueue<T> {
    /// The post-check of a send into a permit's (or a write chunk's) room: as
    /// [`after_push_slow`](Self::after_push_slow), except that `DONE` without `ABORTED` is
    /// the consumer's transient step of a drain-close, which an outstanding permit holds
    /// back: the consumer, re-reading the permit count after its barrier, clears `DONE` and
    /// waits for us (found by review with a loom model: the send was taken back after a
    /// drain-close). Only an abort ends without waiting for permits.
    #[cold]
    pub(super) fn after_permit_push_slow(&self, s: usize, sent: Sent<T>) -> Attempt<T> {
        if s & DONE != 0 && s & ABORTED == 0 {
            if s & RX_WAITING != 0 && self.clear(RX_WAITING) & RX_WAITING != 0 {
                self.wake_rx();
            }
            return Attempt::Sent(sent);
        }
        self.after_push_slow(s, sent)
    }

    #[cold]
    pub(super) fn after_push_slow(&self, s: usize, sent: Sent<T>) -> Attempt<T> {
        if s & DONE != 0 {
            return match self.take_back(sent) {
                Ok(sent) => Attempt::Sent(sent),
                Err(value) => Attempt::Closed(value),
            };
        }
        if self.clear(RX_WAITING) & RX_WAITING != 0 {
            self.wake_rx();
        }
        Attempt::Sent(sent)
    }

    /// Sets `TAKEBACK` while `DONE` is set (the consumer then waits for us); `false` if
    /// the consumer cleared `DONE` first (it saw our item and went on receiving).
    pub(super) fn begin_take_back(&self) -> bool {
        let mut s = self.state();
        loop {
            if s & DONE == 0 {
                return false;
            }
            // Ordering: AcqRel: Acquire to see the consumer's `DONE` step; Release so that
            // the consumer, seeing TAKEBACK, waits for us.
            match self
                .state
                .compare_exchange(s, s | TAKEBACK, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// The consumer set `DONE`: take our last item back (undoing its eviction, if it
    /// evicted), unless it was received or the consumer clears `DONE` first. `Ok`: the send
    /// stands.
    pub(super) fn take_back(&self, sent: Sent<T>) -> Result<Sent<T>, T> {
        if !self.begin_take_back() {
            // The consumer saw our item and went on receiving.
            return Ok(sent);
        }
        // The consumer has set DONE and waits while TAKEBACK is set: it pops nothing. If the
        // ring is empty, our item was received before the consumer found it empty.
        let result = if self.ring_len() == 0 {
            Ok(sent)
        } else {
            let evicted = match sent {
                Sent::Evicted(old) => Some(old),
                _ => None,
            };
            // SAFETY: we are the producer (the caller's contract, see `try_send`); the ring
            // is not empty, so its newest item is ours, and the consumer will not read it:
            // it waits while TAKEBACK is set and then, DONE being set, never pops again. A
            // plain ring never evicts, so `evicted` is `None` there.
            Err(unsafe {
                match &self.ring {
                    Ring::Plain(r) => r.unpush(),
                    Ring::Evict(r) => r.unpush(evicted),
                }
            })
        };
        if self.clear(TAKEBACK) & RX_WAITING != 0 {
            self.wake_rx();
        }
        result
    }

    /// # Safety
    ///
    /// The caller is the only consumer.
    #[inline(always)]
    pub(super) unsafe fn done(&self) -> bool {
        self.rx.1.with(|d| {
            // SAFETY: consumer-private (the caller's contract).
            unsafe { *d }
        })
    }

    /// The consumer has reported `Closed` for good: seal the ring (see `ring::spsc`), so
    /// that no pop can see an item the producer may be taking back.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    pub(super) unsafe fn set_done(&self) {
        self.rx.1.with_mut(|d| {
            // SAFETY: consumer-private (the caller's contract).
            unsafe { *d = true }
        });
        // SAFETY: the caller is the only consumer.
        unsafe {
            match &self.ring {
                Ring::Plain(r) => r.seal(),
                Ring::Evict(r) => r.seal(),
            }
        }
    }

    #[cold]
    pub(super) fn after_pop_slow(&self, s: usize, value: T) -> Recv<T> {
        if s & ABORTED != 0 {
            self.count_discard(value);
            // SAFETY: the consumer calls us (see `try_recv`).
            unsafe { self.discard_and_finish() };
            return Recv::Closed;
        }
        if self.clear(TX_WAITING) & TX_WAITING != 0 {
            self.wake_tx();
        }
        Recv::Item(value)
    }

    /// Drops `value`, counting it as discarded (counted first, so a panicking destructor
    /// leaves the counts consistent).
    pub(super) fn count_discard(&self, value: T) {
        // Ordering: Relaxed: a statistic.
        self.discarded.fetch_add(1, Ordering::Relaxed);
        drop(value);
    }

    /// Pops and drops everything queued, counting it. Returns how many.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    pub(super) unsafe fn discard_all(&self) -> usize {
        let mut n = 0;
        // SAFETY: the caller is the only consumer.
        while let Some(v) = unsafe { self.pop() } {
            n += 1;
            self.count_discard(v);
        }
        n
    }

    /// The queue is closed and was seen empty: report `Closed` for good, unless an item or
    /// a permit appears (see the module docs). `discard`: aborting (items that appear are
    /// discarded, not received, and permits do not hold the end back). Returns the number
    /// discarded, or what the caller should do instead: pop again (an item appeared), or
    /// report `Empty` (a permit is outstanding).
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    pub(super) unsafe fn finish(&self, discard: bool) -> Result<usize, Finish> {
        // SAFETY: the caller is the only consumer.
        if unsafe { self.done() } {
            // Reported `Closed` already: `DONE` is set for good, so a send racing us takes
            // its value back. Clearing `DONE` here (to discard an item that appeared) would
            // let such a send stand after `Closed`, its item stuck behind the sealed ring.
            // Found by `close.rs::spsc_sends_racing_close` (the consumer dropped after
            // `Closed` spun here for ever); the loom model is
            // `spsc_consumer_drop_after_closed_races_send`.
            return Ok(0);
        }
        let mut discarded = 0;
        loop {
            if !discard && self.permits() > 0 {
                return Err(Finish::Wait);
            }
            let before = self.set(DONE);
            if before & PRODUCER_GONE == 0 {
                // The producer may be publishing; see the module docs.
                barrier::heavy();
            }
            let mut backoff = Backoff::new();
            loop {
                // Permits first: a permit's item is published before the count drops.
                let permits = self.permits();
                // Aborting, an outstanding permit does not hold the end back: its send, if
                // it comes, sees DONE and takes its value back (see "Aborting").
                if self.ring_len() == 0 && (discard || permits == 0) {
                    // SAFETY: the caller is the only consumer.
                    unsafe { self.set_done() };
                    return Ok(discarded);
                }
                let s = self.state();
                if s & TAKEBACK != 0 {
                    // The producer is taking its item back; it is a few instructions long.
                    backoff.snooze();
                    continue;
                }
                // Ordering: AcqRel, as `set`: it decides against the producer's TAKEBACK.
                if self
                    .state
                    .compare_exchange(s, s & !DONE, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break;
                }
            }
            // DONE is cleared: an item or a permit appeared. (Or an item appeared and was
            // taken back meanwhile, its send failing: the word we cleared was set again as
            // it was, found by the loom model `spsc_closed_is_final_after_late_send`.)
            if !discard {
                if self.ring_len() > 0 {
                    return Err(Finish::Pop);
                }
                if self.permits() > 0 {
                    return Err(Finish::Wait);
                }
                // The item was taken back: look again.
                continue;
            }
            // SAFETY: the caller is the only consumer.
            discarded += unsafe { self.discard_all() };
        }
    }

    /// Aborted: discard everything, then report `Closed` for good.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    pub(super) unsafe fn discard_and_finish(&self) -> usize {
        // SAFETY: the caller is the only consumer.
        let n = unsafe { self.discard_all() };
        // SAFETY: as above; with `discard`, `finish` never asks to pop.
        n + unsafe { self.finish(true) }.unwrap_or(0)
    }

    /// The ring looked empty.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    #[cold]
    pub(super) unsafe fn on_empty(&self) -> Recv<T> {
        // SAFETY: the caller is the only consumer.
        if unsafe { self.done() } {
            return Recv::Closed;
        }
        let s = self.state();
        if s & ABORTED != 0 {
            // SAFETY: the caller is the only consumer.
            unsafe { self.discard_and_finish() };
            return Recv::Closed;
        }
        if s & CLOSED == 0 {
            return Recv::Empty;
        }
        // Closed since (or before) our look: an item pushed before the close may have been
        // published after our look; `finish` looks again.
        // SAFETY: the caller is the only consumer.
        match unsafe { self.finish(false) } {
            Ok(_) => Recv::Closed,
            Err(Finish::Wait) => Recv::Empty,
            // SAFETY: the caller is the only consumer.
            Err(Finish::Pop) => match unsafe { self.pop() } {
                Some(v) => self.after_pop(v),
                None => Recv::Empty,
            },
        }
    }

    /// Releases a permit (its item, if any, is published already).
    pub(super) fn lower_permits(&self) {
        // Ordering: Relaxed load of our own count (only the producer writes it); Release
        // store: the permit's published item is visible to whoever sees the lower count.
        let n = self.tx.1.load(Ordering::Relaxed);
        self.tx.1.store(n - 1, Ordering::Release);
        if self
            .post_check(RX_WAITING, RX_WAITING, &self.tx.2)
            .is_some()
            && self.clear(RX_WAITING) & RX_WAITING != 0
        {
            // The consumer may wait for the last permit to report `Closed`.
            self.wake_rx();
        }
    }

    /// The producer is dropped: close (drain), and no send can race anything from now on.
    pub(crate) fn producer_gone(&self) {
        self.set(CLOSED | PRODUCER_GONE);
        self.wake_all();
    }

    /// The consumer is dropped: abort (its exact protocol) and wake the producer.
    ///
    /// # Safety
    ///
    /// The caller is the consumer.
    pub(crate) unsafe fn consumer_gone(&self) {
        self.set(CLOSED | ABORTED);
        // SAFETY: the caller is the consumer.
        unsafe { self.discard_and_finish() };
        self.wake_all();
    }
}
