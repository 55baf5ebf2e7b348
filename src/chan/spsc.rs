//! The SPSC flavor: one producer, one consumer, plain loads and stores on the fast path.
//!
//! # The state word
//!
//! Beside the ring (`ring::spsc`, or `ring::evict` for the drop-oldest policy) sits one word
//! of flags, on its own cache line, written only when a side starts or stops waiting and when
//! the queue closes:
//!
//! ```text
//!   CLOSED         sends fail (close, abort, either end dropped)
//!   ABORTED        the consumer discards instead of receiving
//!   DONE           the consumer reports `Closed` (see below)
//!   TAKEBACK       the producer is taking its last item back (see below)
//!   RX_WAITING     the consumer is registered in `rx` and about to sleep
//!   TX_WAITING     the producer is registered in `tx` and about to sleep
//!   PRODUCER_GONE  the producer is dropped (no send can race anything any more)
//! ```
//!
//! A send reads the word before it pushes (is the queue closed?) and after (does the
//! consumer wait? has it reported `Closed`?); a receive reads it after it pops (does the
//! producer wait? was the queue aborted?). These reads hit a line that stays in both caches,
//! and the read after the push is ordered after the push by [`barrier::light`]: a compiler
//! fence where the kernel offers `membarrier`. The side about to wait pays [`barrier::heavy`]
//! between setting its flag and re-checking the ring, so a waiter and a notifier always see
//! each other (see `loom::barrier`). No read-modify-write and no fence is on the fast path.
//!
//! # Waiting: the membarrier or the fenced mode
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
//! # Closing is linearizable
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
//! After a drain-close, a permit's send is never taken back: the consumer does not set `DONE`
//! while a permit is outstanding (the producer publishes the item before it lowers the
//! permit count, and a reservation that raced the close sees `DONE` and is undone).
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

use core::task::Poll;

use crossbeam_utils::CachePadded;

use super::poll::{wait_until, Waiters};
use super::{Attempt, Queue, Sent, Side, SlotReg};
use crate::error::{BuildError, RecvError, SendError, TryRecvError, TrySendError};
use crate::loom::cell::UnsafeCell;
use crate::loom::{barrier, fence, pos64, AtomicUsize, Backoff, Ordering};
use crate::metrics::Figures;
use crate::ring::{evict, spsc};
use crate::wait::slot::WakerSlot;
use crate::wait::Wake;

const CLOSED: usize = 1;
const ABORTED: usize = 2;
const DONE: usize = 4;
const TAKEBACK: usize = 8;
const RX_WAITING: usize = 16;
const TX_WAITING: usize = 32;
const PRODUCER_GONE: usize = 64;
/// Both sides fence their post-checks (see "Waiting" in the module docs).
const FENCED: usize = 128;

/// Fenced post-checks a side makes without seeing the other side wait before it turns the
/// fenced mode off. A fence costs this side 10-100 ns (the store buffer drains to a line the
/// other core reads); a `membarrier` costs the waiting side 0.3-11 us. So after about a
/// hundred quiet operations, waits are rare enough that the system call is the cheaper way.
const UNFENCE_AFTER: u32 = 128;

/// The ring: plain, or able to evict (drop-oldest). Chosen at construction; each handle
/// caches which, so the branch is on the handle's own line.
enum Ring<T> {
    Plain(spsc::Ring<T>),
    Evict(evict::Ring<T>),
}

/// What a push into either ring did.
enum Pushed<T> {
    Queued,
    Evicted(T),
    Full(T),
}

/// The SPSC queue.
pub struct SpscQueue<T> {
    ring: Ring<T>,
    /// The flags (see the module docs).
    state: CachePadded<AtomicUsize>,
    /// The consumer's waker, its private flag (it has reported `Closed`: `DONE` is set for
    /// good, so it never pops again), and its count of quiet fenced post-checks.
    rx: CachePadded<(WakerSlot, UnsafeCell<bool>, UnsafeCell<u32>)>,
    /// The producer's waker, the outstanding permits (written by the producer only), and its
    /// count of quiet fenced post-checks.
    tx: CachePadded<(WakerSlot, AtomicUsize, UnsafeCell<u32>)>,
    /// Values discarded (abort, consumer gone).
    discarded: AtomicUsize,
}

// SAFETY: the consumer-private flag in `rx.1` is only touched by the consumer (the unsafe
// receiving methods' contract); everything else is atomics, the rings (Send + Sync for
// `T: Send`) and waker slots.
unsafe impl<T: Send> Sync for SpscQueue<T> {}
// SAFETY: as for `Sync`.
unsafe impl<T: Send> Send for SpscQueue<T> {}

impl<T> core::fmt::Debug for SpscQueue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpscQueue")
            .field("len", &self.ring_len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> SpscQueue<T> {
    pub(crate) fn new(
        capacity: usize,
        evict: bool,
        exact_high_water: bool,
    ) -> Result<Self, BuildError> {
        let ring = if evict {
            Ring::Evict(evict::Ring::new(capacity, exact_high_water)?)
        } else {
            Ring::Plain(spsc::Ring::new(capacity, exact_high_water)?)
        };
        Ok(Self {
            ring,
            // Without `membarrier`, the fenced mode for good (see "Waiting" above).
            state: CachePadded::new(AtomicUsize::new(if barrier::expedited() {
                0
            } else {
                FENCED
            })),
            rx: CachePadded::new((WakerSlot::new(), UnsafeCell::new(false), UnsafeCell::new(0))),
            tx: CachePadded::new((WakerSlot::new(), AtomicUsize::new(0), UnsafeCell::new(0))),
            discarded: AtomicUsize::new(0),
        })
    }

    #[inline(always)]
    fn state(&self) -> usize {
        // Ordering: Acquire pairs with the Release of the read-modify-writes that set flags:
        // what the setter did before (its last push, its discards) is visible.
        self.state.load(Ordering::Acquire)
    }

    /// Sets `flags`; returns the state before.
    fn set(&self, flags: usize) -> usize {
        // Ordering: AcqRel (see `state`).
        self.state.fetch_or(flags, Ordering::AcqRel)
    }

    fn clear(&self, flags: usize) -> usize {
        // Ordering: AcqRel (see `state`).
        self.state.fetch_and(!flags, Ordering::AcqRel)
    }

    fn wake_rx(&self) {
        self.rx.0.wake();
    }

    fn wake_tx(&self) {
        self.tx.0.wake();
    }

    fn wake_all(&self) {
        self.wake_rx();
        self.wake_tx();
    }

    fn ring_len(&self) -> usize {
        match &self.ring {
            Ring::Plain(r) => r.len(),
            Ring::Evict(r) => r.len(),
        }
    }

    fn permits(&self) -> usize {
        // Ordering: Acquire pairs with the producer's Release store after it published a
        // permit's item (see the module docs).
        self.tx.1.load(Ordering::Acquire)
    }

    // === producer side ===

    /// # Safety
    ///
    /// The caller is the only producer.
    #[inline(always)]
    unsafe fn push(&self, value: T, evict: bool) -> Pushed<T> {
        match &self.ring {
            Ring::Plain(r) => {
                // SAFETY: the caller is the only producer.
                match unsafe { r.push(value) } {
                    Ok(()) => Pushed::Queued,
                    Err(v) => Pushed::Full(v),
                }
            }
            // SAFETY: the caller is the only producer.
            Ring::Evict(r) => match unsafe { r.push(value, evict) } {
                evict::Push::Pushed => Pushed::Queued,
                evict::Push::Evicted(old) => Pushed::Evicted(old),
                // Busy: the consumer is copying an item out of a full ring with every slot
                // in use; its unlock makes room and wakes a waiting producer.
                evict::Push::Full(v) | evict::Push::Busy(v) => Pushed::Full(v),
            },
        }
    }

    /// The plain ring's receive, inline; the drop-oldest ring's out of line.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    #[inline(always)]
    unsafe fn recv_now(&self) -> Recv<T> {
        match &self.ring {
            // SAFETY: the caller is the only consumer. (Once it has reported `Closed`, the
            // ring is sealed: `pop` returns nothing.)
            Ring::Plain(r) => match unsafe { r.pop() } {
                Some(v) => self.after_pop(v),
                // SAFETY: as above.
                None => unsafe { self.on_empty() },
            },
            // SAFETY: as above.
            Ring::Evict(_) => unsafe { self.try_recv_evict() },
        }
    }

    /// `try_send` on the drop-oldest ring (out of line: the plain ring's path stays small).
    ///
    /// # Safety
    ///
    /// The caller is the only producer, and the queue is open (checked just before).
    #[inline(never)]
    unsafe fn try_send_evict(&self, value: T, evict: bool) -> Attempt<T> {
        // SAFETY: forwarded.
        match unsafe { self.push(value, evict) } {
            Pushed::Queued => self.after_push(Sent::Queued),
            Pushed::Evicted(old) => self.after_push(Sent::Evicted(old)),
            Pushed::Full(v) => Attempt::Full(v),
        }
    }

    /// `try_send_now` on the drop-oldest ring (out of line, as `try_send_evict`).
    ///
    /// # Safety
    ///
    /// The caller is the only producer.
    #[inline(never)]
    unsafe fn try_send_now_evict(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.state() & CLOSED != 0 {
            return Err(TrySendError::Closed(value));
        }
        // SAFETY: forwarded.
        match unsafe { self.try_send_evict(value, false) } {
            Attempt::Sent(_) => Ok(()),
            Attempt::Full(v) => Err(TrySendError::Full(v)),
            Attempt::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// The slow post-check of `try_send_now` (a waiter, or the consumer's `DONE`).
    #[cold]
    fn after_push_now(&self, s: usize) -> Result<(), TrySendError<T>> {
        match self.after_push_slow(s, Sent::Queued) {
            Attempt::Sent(_) => Ok(()),
            Attempt::Full(v) => Err(TrySendError::Full(v)),
            Attempt::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// `try_recv` on the drop-oldest ring (out of line, as `try_send_evict`).
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    #[inline(never)]
    unsafe fn try_recv_evict(&self) -> Recv<T> {
        // SAFETY: forwarded.
        match unsafe { self.pop() } {
            Some(v) => self.after_pop(v),
            // SAFETY: forwarded.
            None => unsafe { self.on_empty() },
        }
    }

    /// The post-check after a push or a pop: the state, read after the operation was
    /// published (see "Waiting" in the module docs). `waiter`: the other side's flag;
    /// `quiet`: this side's count of quiet fenced checks (private to this side).
    #[inline(always)]
    fn post_check(&self, waiter: usize, quiet: &UnsafeCell<u32>) -> usize {
        barrier::light();
        // Ordering: Relaxed after the barrier (which orders it after our publication, as far
        // as a waiter that paid `barrier::heavy` is concerned).
        let s = self.state.load(Ordering::Relaxed);
        if s & FENCED == 0 {
            return s;
        }
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
    fn unfence(&self, s: usize, quiet: &UnsafeCell<u32>) {
        quiet.with_mut(|q| {
            // SAFETY: as in `post_check`.
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

    /// After a push: the post-check (see the module docs).
    #[inline(always)]
    fn after_push(&self, sent: Sent<T>) -> Attempt<T> {
        let s = self.post_check(RX_WAITING, &self.tx.2);
        if s & (RX_WAITING | DONE) == 0 {
            return Attempt::Sent(sent);
        }
        self.after_push_slow(s, sent)
    }

    #[cold]
    fn after_push_slow(&self, s: usize, sent: Sent<T>) -> Attempt<T> {
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

    /// The consumer set `DONE`: take our last item back (undoing its eviction, if it
    /// evicted), unless it was received or the consumer clears `DONE` first. `Ok`: the send
    /// stands.
    fn take_back(&self, sent: Sent<T>) -> Result<Sent<T>, T> {
        let mut s = self.state();
        loop {
            if s & DONE == 0 {
                // The consumer saw our item and went on receiving.
                return Ok(sent);
            }
            // Ordering: AcqRel: Acquire to see the consumer's `DONE` step; Release so that
            // the consumer, seeing TAKEBACK, waits for us.
            match self
                .state
                .compare_exchange(s, s | TAKEBACK, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
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

    /// A send refused because the queue is closed.
    #[cold]
    fn refused(&self, value: T) -> Attempt<T> {
        Attempt::Closed(value)
    }

    // === consumer side ===

    /// # Safety
    ///
    /// The caller is the only consumer.
    #[inline(always)]
    unsafe fn pop(&self) -> Option<T> {
        match &self.ring {
            // SAFETY: the caller is the only consumer.
            Ring::Plain(r) => unsafe { r.pop() },
            // SAFETY: the caller is the only consumer.
            Ring::Evict(r) => unsafe { r.pop() },
        }
    }

    /// # Safety
    ///
    /// The caller is the only consumer.
    #[inline(always)]
    unsafe fn done(&self) -> bool {
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
    unsafe fn set_done(&self) {
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
    fn after_pop_slow(&self, s: usize, value: T) -> Recv<T> {
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
    fn count_discard(&self, value: T) {
        // Ordering: Relaxed: a statistic.
        self.discarded.fetch_add(1, Ordering::Relaxed);
        drop(value);
    }

    /// Pops and drops everything queued, counting it. Returns how many.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    unsafe fn discard_all(&self) -> usize {
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
    unsafe fn finish(&self, discard: bool) -> Result<usize, Finish> {
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
    unsafe fn discard_and_finish(&self) -> usize {
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
    unsafe fn on_empty(&self) -> Recv<T> {
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

    #[inline(always)]
    fn after_pop(&self, value: T) -> Recv<T> {
        let s = self.post_check(TX_WAITING, &self.rx.2);
        if s & (TX_WAITING | ABORTED) == 0 {
            return Recv::Item(value);
        }
        // Reloaded with Acquire: an abort's discards and flags are visible.
        self.after_pop_slow(self.state(), value)
    }

    /// Releases a permit (its item, if any, is published already).
    fn lower_permits(&self) {
        // Ordering: Relaxed load of our own count (only the producer writes it); Release
        // store: the permit's published item is visible to whoever sees the lower count.
        let n = self.tx.1.load(Ordering::Relaxed);
        self.tx.1.store(n - 1, Ordering::Release);
        let s = self.post_check(RX_WAITING, &self.tx.2);
        if s & RX_WAITING != 0 && self.clear(RX_WAITING) & RX_WAITING != 0 {
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

/// One side's waiting party: its waker slot and its flag in the state word.
struct WaitSide<'a> {
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
    fn tx_side(&self) -> WaitSide<'_> {
        WaitSide {
            slot: &self.tx.0,
            state: &self.state,
            flag: TX_WAITING,
        }
    }

    fn rx_side(&self) -> WaitSide<'_> {
        WaitSide {
            slot: &self.rx.0,
            state: &self.state,
            flag: RX_WAITING,
        }
    }
}

/// A receive's outcome inside the flavor: unlike `Result<T, TryRecvError>`, its layout is a
/// tag and the value, which the out-of-line paths return in registers, so the fast path
/// that merges with them keeps its result out of memory.
enum Recv<T> {
    Item(T),
    Empty,
    Closed,
}

impl<T> Recv<T> {
    #[inline(always)]
    fn into_result(self) -> Result<T, TryRecvError> {
        match self {
            Recv::Item(v) => Ok(v),
            Recv::Empty => Err(TryRecvError::Empty),
            Recv::Closed => Err(TryRecvError::Closed),
        }
    }
}

/// Why [`SpscQueue::finish`] did not report `Closed`.
enum Finish {
    /// An item appeared: pop it.
    Pop,
    /// A permit is outstanding: report `Empty` (its send or release wakes the consumer).
    Wait,
}

impl<T> Queue<T> for SpscQueue<T> {
    type Reg = SlotReg;

    fn capacity(&self) -> usize {
        match &self.ring {
            Ring::Plain(r) => r.capacity(),
            Ring::Evict(r) => r.capacity(),
        }
    }

    fn len(&self) -> usize {
        self.ring_len()
    }

    fn is_closed(&self) -> bool {
        // Ordering: SeqCst, in the order of `close`'s read-modify-write and of the `closed()`
        // futures' registrations.
        self.state.load(Ordering::SeqCst) & CLOSED != 0
    }

    fn figures(&self) -> Figures {
        let len = self.ring_len();
        let (pushed, taken, high_water) = match &self.ring {
            Ring::Plain(r) => (pos64(r.tail()), pos64(r.head()), r.high_water(len)),
            Ring::Evict(r) => (pos64(r.pushed()), pos64(r.taken()), r.high_water(len)),
        };
        Figures {
            pushed,
            taken,
            // Ordering: Relaxed: a statistic.
            discarded: self.discarded.load(Ordering::Relaxed) as u64,
            range: 0,
            high_water,
            len,
            capacity: self.capacity(),
        }
    }

    fn close(&self) -> bool {
        let before = self.set(CLOSED);
        self.wake_all();
        before & CLOSED == 0
    }

    fn abort(&self, side: Side) -> Option<usize> {
        self.set(CLOSED | ABORTED);
        self.wake_all();
        match side {
            // SAFETY: `Side::Receiver` is only passed by the consumer (through its `&mut`).
            Side::Receiver => Some(unsafe { self.discard_and_finish() }),
            // Only the consumer takes items out: it discards at its next call.
            Side::Sender | Side::Other => None,
        }
    }

    #[inline(always)]
    unsafe fn try_send(&self, value: T, evict: bool) -> Attempt<T> {
        if self.state() & CLOSED != 0 {
            return self.refused(value);
        }
        match &self.ring {
            // SAFETY: the caller is the only producer.
            Ring::Plain(r) => match unsafe { r.push(value) } {
                Ok(()) => self.after_push(Sent::Queued),
                Err(v) => Attempt::Full(v),
            },
            // SAFETY: as above.
            Ring::Evict(_) => unsafe { self.try_send_evict(value, evict) },
        }
    }

    #[inline(always)]
    unsafe fn try_send_now(&self, value: T) -> Result<(), TrySendError<T>> {
        match &self.ring {
            Ring::Plain(r) => {
                if self.state() & CLOSED != 0 {
                    return Err(TrySendError::Closed(value));
                }
                // SAFETY: the caller is the only producer.
                match unsafe { r.push(value) } {
                    Ok(()) => {
                        let s = self.post_check(RX_WAITING, &self.tx.2);
                        if s & (RX_WAITING | DONE) == 0 {
                            Ok(())
                        } else {
                            self.after_push_now(s)
                        }
                    }
                    Err(v) => Err(TrySendError::Full(v)),
                }
            }
            // SAFETY: as above.
            Ring::Evict(_) => unsafe { self.try_send_now_evict(value) },
        }
    }

    unsafe fn poll_send(
        &self,
        value: &mut Option<T>,
        evict: bool,
        reg: &mut SlotReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, T>> {
        wait_until(&self.tx_side(), reg, wake, || {
            // SAFETY: the caller is the only producer.
            match unsafe { self.try_send(value.take()?, evict) } {
                Attempt::Sent(sent) => Some(Ok(sent)),
                Attempt::Closed(v) => Some(Err(v)),
                Attempt::Full(v) => {
                    *value = Some(v);
                    None
                }
            }
        })
    }

    unsafe fn cancel_send(&self, reg: &mut SlotReg, _value: &mut Option<T>) {
        self.tx_side().cancel(reg);
    }

    #[inline(always)]
    unsafe fn try_recv(&self) -> Result<T, TryRecvError> {
        // SAFETY: forwarded.
        unsafe { self.recv_now() }.into_result()
    }

    unsafe fn poll_recv(&self, reg: &mut SlotReg, wake: &Wake<'_>) -> Poll<Result<T, RecvError>> {
        wait_until(&self.rx_side(), reg, wake, || {
            // SAFETY: the caller is the only consumer.
            match unsafe { self.try_recv() } {
                Ok(v) => Some(Ok(v)),
                Err(TryRecvError::Closed) => Some(Err(RecvError)),
                Err(TryRecvError::Empty) => None,
            }
        })
    }

    unsafe fn cancel_recv(&self, reg: &mut SlotReg) {
        self.rx_side().cancel(reg);
    }

    unsafe fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        if self.state() & CLOSED != 0 {
            return Err(TrySendError::Closed(()));
        }
        // SAFETY: the caller is the only producer.
        let held = unsafe {
            match &self.ring {
                Ring::Plain(r) => r.hold(),
                Ring::Evict(r) => r.hold(),
            }
        };
        if !held {
            return Err(TrySendError::Full(()));
        }
        // Ordering: Relaxed load of our own count; Release store, as in `lower_permits`.
        let n = self.tx.1.load(Ordering::Relaxed);
        self.tx.1.store(n + 1, Ordering::Release);
        // The consumer's DONE (set before its heavy barrier and its read of the count) or
        // our count is seen.
        if self.post_check(RX_WAITING, &self.tx.2) & DONE != 0 {
            // The consumer reported `Closed` (the queue was closed meanwhile): undo.
            // SAFETY: the caller is the only producer, and holds the slot just held.
            unsafe { self.release_reserved() };
            return Err(TrySendError::Closed(()));
        }
        Ok(())
    }

    unsafe fn poll_reserve(
        &self,
        reg: &mut SlotReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        wait_until(&self.tx_side(), reg, wake, || {
            // SAFETY: the caller is the only producer.
            match unsafe { self.try_reserve() } {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Closed(())) => Some(Err(SendError::Closed(()))),
                Err(TrySendError::Full(())) => None,
            }
        })
    }

    unsafe fn cancel_reserve(&self, reg: &mut SlotReg) {
        self.tx_side().cancel(reg);
    }

    unsafe fn send_reserved(&self, value: T) -> Result<Sent<T>, T> {
        if self.state() & ABORTED != 0 {
            // SAFETY: the caller is the only producer and holds a slot.
            unsafe { self.release_reserved() };
            return Err(value);
        }
        // SAFETY: the caller is the only producer and holds a slot.
        unsafe {
            match &self.ring {
                Ring::Plain(r) => r.push_held(value),
                Ring::Evict(r) => r.push_held(value),
            }
        }
        // The post-check of every send: the consumer may have ended meanwhile (an abort
        // does not wait for permits), and then we take the value back (see "Aborting").
        let result = match self.after_push(Sent::Queued) {
            Attempt::Sent(sent) => Ok(sent),
            Attempt::Closed(v) | Attempt::Full(v) => Err(v),
        };
        // Published (or taken back); now lower the count (the consumer reads the count
        // first).
        self.lower_permits();
        result
    }

    unsafe fn release_reserved(&self) {
        // SAFETY: the caller is the only producer and holds a slot.
        unsafe {
            match &self.ring {
                Ring::Plain(r) => r.unhold(),
                Ring::Evict(r) => r.unhold(),
            }
        }
        self.lower_permits();
        // Room appeared for the producer itself (a `Sink` that gave up its reservation).
    }
}
