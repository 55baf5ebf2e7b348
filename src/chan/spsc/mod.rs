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
//! Waiting (the membarrier or the fenced mode) is in `waiting.rs`; the closing protocol
//! (linearizable close, exact abort) in `closing.rs`.

use core::task::Poll;

use crossbeam_utils::CachePadded;

pub(crate) mod chunk;
mod closing;
mod waiting;

use super::poll::{wait_until, Waiters};
use super::{Attempt, Queue, Replace, Sent, Side, SlotReg};
use crate::error::{BuildError, RecvError, SendError, TryRecvError, TrySendError};
use crate::loom::cell::UnsafeCell;
use crate::loom::{barrier, pos64, AtomicUsize, Ordering};
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

    /// After a push: the post-check (see the module docs).
    #[inline(always)]
    fn after_push(&self, sent: Sent<T>) -> Attempt<T> {
        match self.post_check(RX_WAITING | DONE, RX_WAITING, &self.tx.2) {
            None => Attempt::Sent(sent),
            Some(s) => self.after_push_slow(s, sent),
        }
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

    #[inline(always)]
    fn after_pop(&self, value: T) -> Recv<T> {
        match self.post_check(TX_WAITING | ABORTED, TX_WAITING, &self.rx.2) {
            None => Recv::Item(value),
            // Reloaded with Acquire: an abort's discards and flags are visible.
            Some(_) => self.after_pop_slow(self.state(), value),
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

impl<T> Queue<T> for SpscQueue<T> {
    const SINGLE_PRODUCER: bool = true;
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

    unsafe fn send_run(&self, max: usize, take: impl FnMut() -> T) -> Result<usize, Vec<T>> {
        let Some(r) = self.plain() else {
            return Ok(0);
        };
        if max < 2 {
            return Ok(0);
        }
        // SAFETY: the caller is the only producer; the ring is plain.
        let held = unsafe { self.chunk_hold(max) }.unwrap_or(0);
        if held == 0 {
            return Ok(0);
        }
        // SAFETY: as above; the `held` slots of the run are held and not written yet, and
        // `take` does not panic (the trait's contract).
        unsafe { r.write_run(held, take) };
        // SAFETY: as above; the run wrote all of its `held` slots.
        match unsafe { self.chunk_commit(held, held) } {
            chunk::Committed::Sent => Ok(held),
            chunk::Committed::Refused => {
                let values = (0..held)
                    // SAFETY: as above: each written slot is taken back once.
                    .map(|i| unsafe { r.take_ahead(i) })
                    .collect();
                // SAFETY: as above; the slots hold no value any more.
                unsafe { self.chunk_abandon(held) };
                Err(values)
            }
            chunk::Committed::TakenBack(values) => Err(values),
        }
    }

    unsafe fn replace_oldest(&self, value: T) -> Replace<T> {
        let Ring::Evict(r) = &self.ring else {
            // Only drop-oldest queues replace, and they have the evicting ring.
            return Replace::Nothing(value);
        };
        let mut value = value;
        let mut backoff = crate::loom::Backoff::new();
        loop {
            if self.state() & CLOSED != 0 {
                return Replace::Closed(value);
            }
            // SAFETY: the caller is the only producer.
            match unsafe { r.replace(value) } {
                evict::Push::Evicted(old) => {
                    return match self.after_push(Sent::Evicted(old)) {
                        Attempt::Sent(Sent::Evicted(old)) => Replace::Replaced { old, also: None },
                        Attempt::Closed(v) => Replace::Closed(v),
                        _ => unreachable!("the post-check hands back what it was given"),
                    };
                }
                evict::Push::Full(v) => return Replace::Nothing(v),
                evict::Push::Pushed => unreachable!("a replace never pushes without evicting"),
                // The consumer is copying the oldest item out: its unlock is a moment away
                // (unless it was descheduled: then this waits for it, as an MPMC claim
                // waits for a preempted peer).
                evict::Push::Busy(v) => {
                    value = v;
                    backoff.snooze();
                }
            }
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
                    Ok(()) => match self.post_check(RX_WAITING | DONE, RX_WAITING, &self.tx.2) {
                        None => Ok(()),
                        Some(s) => self.after_push_now(s),
                    },
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

    unsafe fn try_recv_many(&self, buf: &mut Vec<T>, max: usize) -> (usize, bool) {
        let Ring::Plain(r) = &self.ring else {
            // SAFETY: forwarded.
            return unsafe { super::recv_each(self, buf, max) };
        };
        if max == 0 {
            return (0, false);
        }
        let start = buf.len();
        // SAFETY: the caller is the only consumer. (Once it has reported `Closed`, the ring
        // is sealed: nothing more is taken.)
        let n = unsafe { r.pop_into(buf, max) };
        if n == 0 {
            // As `try_recv` on an empty ring: the closing protocol decides.
            // SAFETY: as above.
            return match unsafe { self.on_empty() } {
                Recv::Item(v) => {
                    buf.push(v);
                    (1, false)
                }
                Recv::Empty => (0, false),
                Recv::Closed => (0, true),
            };
        }
        // One post-check for the batch (see `after_pop`).
        if self
            .post_check(TX_WAITING | ABORTED, TX_WAITING, &self.rx.2)
            .is_none()
        {
            return (n, false);
        }
        // Reloaded with Acquire: an abort's discards and flags are visible.
        if self.state() & ABORTED != 0 {
            // Aborted meanwhile: what we took is discarded (counted), as `after_pop_slow`
            // does for one value.
            for v in buf.drain(start..) {
                self.count_discard(v);
            }
            // SAFETY: as above.
            unsafe { self.discard_and_finish() };
            return (0, true);
        }
        if self.clear(TX_WAITING) & TX_WAITING != 0 {
            self.wake_tx();
        }
        (n, false)
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
        if self.post_check(DONE, RX_WAITING, &self.tx.2).is_some() {
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
        let checked = match self.post_check(RX_WAITING | DONE, RX_WAITING, &self.tx.2) {
            None => Attempt::Sent(Sent::Queued),
            Some(s) => self.after_permit_push_slow(s, Sent::Queued),
        };
        let result = match checked {
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
