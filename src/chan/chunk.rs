//! Zero-copy chunks on SPSC queues (rtrb's model): the producer reserves a run of slots,
//! writes values straight into them and commits, which publishes the run with one store and
//! one post-check; the consumer reads a run of values in place, takes or drops what it
//! wants, and releases their slots with one store.
//!
//! Chunks exist on SPSC queues without [`DropOldest`](crate::Policy::DropOldest) (the
//! evicting producer would need the slots a held chunk pins): on a drop-oldest queue the
//! chunk methods return [`ChunkError::DropOldest`].

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Instant;

use super::credit::{Credit, NoCredit};
use super::poll::wait_until;
use super::spsc::chunk::Committed;
use super::spsc::SpscQueue;
use super::{Chan, SlotReg};
use crate::error::{SendError, TrySendError};
use crate::metrics::{Count, TxCounters};
use crate::wait::list::Registration;
use crate::wait::{self, Wake};

type SpscChan<T> = Chan<T, SpscQueue<T>>;

/// Why no chunk was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// A write chunk: no room (or, with a credit gate, no credit).
    Full,
    /// A read chunk: no value ready.
    Empty,
    /// The queue is closed (a read chunk: closed and drained).
    Closed,
    /// The queue's policy is [`DropOldest`](crate::Policy::DropOldest), which has no chunks.
    DropOldest,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "no room in the queue",
            Self::Empty => "no value in the queue",
            Self::Closed => "the queue is closed",
            Self::DropOldest => "a drop-oldest queue has no chunks",
        })
    }
}

impl std::error::Error for ChunkError {}

// === WriteChunk ===

/// A run of free slots of an SPSC queue, reserved by
/// [`Producer::try_write_chunk`](crate::Producer::try_write_chunk): values pushed into it go
/// straight into the queue's slots, and [`commit`](Self::commit) (or dropping the chunk)
/// publishes exactly the values written, at once.
///
/// While the chunk lives it holds its slots (other sends see less room) and, with a credit
/// gate, one credit per slot; what it does not fill is given back at the commit. A panic
/// while a chunk is held (in the caller's code, or in an iterator it fills from) unwinds
/// through its `Drop`, which commits what was written: nothing is dropped twice or leaked.
///
/// ```
/// let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
/// let mut chunk = tx.try_write_chunk(3).unwrap();
/// assert_eq!(chunk.capacity(), 3);
/// chunk.push(1).unwrap();
/// assert_eq!(chunk.fill_from_iter(10..), 2);
/// assert_eq!(chunk.push(99), Err(99)); // full
/// assert_eq!(chunk.commit(), Ok(3));
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 10, 11]);
/// ```
#[must_use = "a chunk holds room until it is committed or dropped"]
pub struct WriteChunk<'a, T> {
    chan: &'a SpscChan<T>,
    counters: &'a TxCounters,
    gate: Option<&'a Credit>,
    held: usize,
    written: usize,
    /// Committed (by `commit`; `Drop` then does nothing).
    done: bool,
    /// Made from the producer's `&'a mut`: the only user of the sending side.
    _end: PhantomData<&'a mut T>,
}

impl<'a, T> WriteChunk<'a, T> {
    /// Reserves up to `max` slots (at least one), without waiting.
    ///
    /// # Safety
    ///
    /// The caller holds the producer's `&'a mut` for the chunk's life.
    pub(crate) unsafe fn new(
        chan: &'a SpscChan<T>,
        counters: &'a TxCounters,
        gate: Option<&'a Credit>,
        max: usize,
    ) -> Result<Self, ChunkError> {
        let mut wait = ChunkWait::default();
        // SAFETY: forwarded.
        let held = unsafe { wait.try_hold(chan, gate, max)? };
        // SAFETY: forwarded.
        Ok(unsafe { Self::held(chan, counters, gate, held) })
    }

    /// The chunk of `held` slots (and as many credits) just reserved.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new); the caller holds those slots and credits.
    unsafe fn held(
        chan: &'a SpscChan<T>,
        counters: &'a TxCounters,
        gate: Option<&'a Credit>,
        held: usize,
    ) -> Self {
        Self {
            chan,
            counters,
            gate,
            held,
            written: 0,
            done: false,
            _end: PhantomData,
        }
    }

    /// The slots reserved.
    pub fn capacity(&self) -> usize {
        self.held
    }

    /// The values written so far.
    pub fn len(&self) -> usize {
        self.written
    }

    /// Whether no value has been written yet.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Whether every reserved slot is written.
    pub fn is_full(&self) -> bool {
        self.written == self.held
    }

    /// Writes `value` into the next reserved slot, or hands it back if the chunk is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if self.is_full() {
            return Err(value);
        }
        let r = self.chan.queue.plain().expect("checked at creation");
        // SAFETY: the chunk is the only producer (made from its `&mut`), holds `held` slots
        // and wrote the first `written`: slot `written` is held and free.
        unsafe { r.write_ahead(self.written, value) };
        self.written += 1;
        Ok(())
    }

    /// Writes values from `iter` until the chunk is full or the iterator ends; returns how
    /// many it wrote. It pulls no value it cannot write.
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(&mut self, iter: I) -> usize {
        let start = self.written;
        let mut iter = iter.into_iter();
        while !self.is_full() {
            match iter.next() {
                Some(v) => {
                    if self.push(v).is_err() {
                        unreachable!("not full");
                    }
                }
                None => break,
            }
        }
        self.written - start
    }

    /// Publishes the values written (one store of the queue's position) and gives back the
    /// slots (and credits) not used. Fails only after an abort, or when the consumer has
    /// gone, handing the values back.
    pub fn commit(mut self) -> Result<usize, SendError<Vec<T>>> {
        self.done = true;
        self.finish()
    }

    fn finish(&mut self) -> Result<usize, SendError<Vec<T>>> {
        let (written, held) = (self.written, self.held);
        // SAFETY: the chunk is the only producer; it holds `held` slots and wrote exactly
        // the first `written`.
        let committed = unsafe { self.chan.queue.chunk_commit(written, held) };
        let unsent = match committed {
            Committed::Sent => {
                if let Some(g) = self.gate {
                    // SAFETY: as above.
                    unsafe { g.give_back_run(held - written) };
                }
                if written > 0 {
                    self.counters.add(Count::Batch);
                }
                return Ok(written);
            }
            Committed::Refused => {
                let r = self.chan.queue.plain().expect("checked at creation");
                let values: Vec<T> = (0..written)
                    // SAFETY: as above; each written slot is taken back once.
                    .map(|i| unsafe { r.take_ahead(i) })
                    .collect();
                // SAFETY: as above; the slots hold no value any more.
                unsafe { self.chan.queue.chunk_abandon(held) };
                values
            }
            Committed::TakenBack(values) => values,
        };
        if let Some(g) = self.gate {
            // SAFETY: as above.
            unsafe { g.give_back_run(held) };
        }
        Err(SendError::Closed(unsent))
    }
}

impl<T> Drop for WriteChunk<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            // What was written is committed; if the queue was aborted, it is dropped here.
            drop(self.finish());
        }
    }
}

impl<T> fmt::Debug for WriteChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("capacity", &self.held)
            .field("len", &self.written)
            .finish()
    }
}

/// A write or read chunk's wait: its place in the queue's line, and (a write chunk on a
/// queue with a credit gate) its place in the gate's line and the credits it took.
#[derive(Debug, Default)]
pub(crate) struct ChunkWait {
    slot: SlotReg,
    credit: Registration,
    /// Credits taken and not yet handed to a chunk.
    credits: usize,
}

impl ChunkWait {
    /// Takes credits (with a gate) and reserves slots, without waiting.
    ///
    /// # Safety
    ///
    /// The caller is the only producer.
    unsafe fn try_hold<T>(
        &mut self,
        chan: &SpscChan<T>,
        gate: Option<&Credit>,
        max: usize,
    ) -> Result<usize, ChunkError> {
        if chan.queue.plain().is_none() {
            return Err(ChunkError::DropOldest);
        }
        let max = max.max(1);
        if let Some(g) = gate {
            if self.credits == 0 {
                // SAFETY: the caller is the only producer.
                self.credits = match unsafe { g.take_run(max) } {
                    Ok(n) => n,
                    Err(NoCredit::Empty) => return Err(ChunkError::Full),
                    Err(NoCredit::Closed) => return Err(ChunkError::Closed),
                };
            }
        }
        let want = if gate.is_some() { self.credits } else { max };
        // SAFETY: as above; the queue has the plain ring (checked).
        let held = unsafe { chan.queue.chunk_hold(want) };
        // SAFETY: as above.
        unsafe { self.settle(gate, held.as_ref().copied().ok()) };
        held.map_err(|e| match e {
            TrySendError::Full(()) => ChunkError::Full,
            TrySendError::Closed(()) => ChunkError::Closed,
        })
    }

    /// After a reservation attempt: the chunk takes `held` credits; the others are given
    /// back (all of them if it failed). A wait for room keeps them.
    ///
    /// # Safety
    ///
    /// The caller is the only producer.
    unsafe fn settle(&mut self, gate: Option<&Credit>, held: Option<usize>) {
        let Some(g) = gate else { return };
        let keep = held.unwrap_or_default();
        // SAFETY: the caller is the only producer.
        unsafe { g.give_back_run(self.credits - keep) };
        self.credits = 0;
    }

    /// One poll of a write chunk that waits: for credit (with a gate), then for room.
    ///
    /// # Safety
    ///
    /// As for [`try_hold`](Self::try_hold).
    unsafe fn poll_hold<T>(
        &mut self,
        chan: &SpscChan<T>,
        gate: Option<&Credit>,
        max: usize,
        wake: &Wake<'_>,
    ) -> Poll<Result<usize, ChunkError>> {
        if chan.queue.plain().is_none() {
            return Poll::Ready(Err(ChunkError::DropOldest));
        }
        let max = max.max(1);
        if let Some(g) = gate {
            if self.credits == 0 {
                let got = wait_until(g.waiters(), &mut self.credit, wake, || {
                    // SAFETY: forwarded.
                    match unsafe { g.take_run(max) } {
                        Ok(n) => Some(Ok(n)),
                        Err(NoCredit::Empty) => None,
                        Err(NoCredit::Closed) => Some(Err(ChunkError::Closed)),
                    }
                });
                match got {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(n)) => self.credits = n,
                }
            }
        }
        let want = if gate.is_some() { self.credits } else { max };
        // SAFETY: forwarded.
        match unsafe { chan.queue.poll_chunk_hold(want, &mut self.slot, wake) } {
            Poll::Pending => Poll::Pending,
            Poll::Ready(held) => {
                // SAFETY: forwarded.
                unsafe { self.settle(gate, held.as_ref().copied().ok()) };
                Poll::Ready(held.map_err(|_| ChunkError::Closed))
            }
        }
    }

    /// A write chunk's wait gives up: leave both lines, give back the credits taken.
    ///
    /// # Safety
    ///
    /// As for [`try_hold`](Self::try_hold).
    unsafe fn cancel_hold<T>(&mut self, chan: &SpscChan<T>, gate: Option<&Credit>) {
        if let Some(g) = gate {
            g.waiters().cancel(&mut self.credit);
        }
        chan.queue.cancel_chunk_hold(&mut self.slot);
        // SAFETY: forwarded.
        unsafe { self.settle(gate, None) };
    }

    /// One poll of a read chunk that waits for a value.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    unsafe fn poll_ready<T>(
        &mut self,
        chan: &SpscChan<T>,
        max: usize,
        wake: &Wake<'_>,
    ) -> Poll<Result<usize, ChunkError>> {
        if chan.queue.plain().is_none() {
            return Poll::Ready(Err(ChunkError::DropOldest));
        }
        // SAFETY: forwarded.
        unsafe {
            chan.queue
                .poll_chunk_ready(max.max(1), &mut self.slot, wake)
        }
        .map(|r| r.map_err(|_| ChunkError::Closed))
    }
}

/// Blocks for a write chunk (until `deadline`: then `Full`).
///
/// # Safety
///
/// The caller holds the producer's `&'a mut` for the chunk's life.
pub(crate) unsafe fn write_chunk_blocking<'a, T>(
    chan: &'a SpscChan<T>,
    counters: &'a TxCounters,
    gate: Option<&'a Credit>,
    max: usize,
    deadline: Option<Instant>,
) -> Result<WriteChunk<'a, T>, ChunkError> {
    let mut st = ChunkWait::default();
    let held = wait::block_on(
        false,
        deadline,
        &mut st,
        |st, wake| {
            // SAFETY: forwarded.
            unsafe { st.poll_hold(chan, gate, max, wake) }
        },
        |st| {
            // SAFETY: forwarded.
            unsafe {
                st.cancel_hold(chan, gate);
                st.try_hold(chan, gate, max)
            }
        },
    )?;
    // SAFETY: forwarded; the wait handed over `held` slots and credits.
    Ok(unsafe { WriteChunk::held(chan, counters, gate, held) })
}

/// Blocks for a read chunk (until `deadline`: then `Empty`).
///
/// # Safety
///
/// The caller holds the consumer's `&'a mut` for the chunk's life.
pub(crate) unsafe fn read_chunk_blocking<T>(
    chan: &SpscChan<T>,
    max: usize,
    deadline: Option<Instant>,
) -> Result<ReadChunk<'_, T>, ChunkError> {
    let mut st = ChunkWait::default();
    let len = wait::block_on(
        false,
        deadline,
        &mut st,
        |st, wake| {
            // SAFETY: forwarded.
            unsafe { st.poll_ready(chan, max, wake) }
        },
        |st| {
            chan.queue.cancel_chunk_ready(&mut st.slot);
            // SAFETY: forwarded.
            unsafe { ReadChunk::ready(chan, max) }
        },
    )?;
    // SAFETY: forwarded.
    Ok(unsafe { ReadChunk::with_len(chan, len) })
}

/// The future of [`Producer::write_chunk_async`](crate::Producer::write_chunk_async): waits
/// for room (and credit), then resolves to a [`WriteChunk`]. Dropping it reserves nothing
/// (and gives back what it took).
#[must_use = "futures do nothing unless polled"]
pub struct WriteChunkFuture<'a, T> {
    chan: &'a SpscChan<T>,
    counters: &'a TxCounters,
    gate: Option<&'a Credit>,
    max: usize,
    st: ChunkWait,
    done: bool,
    _end: PhantomData<&'a mut ()>,
}

impl<'a, T> WriteChunkFuture<'a, T> {
    /// # Safety
    ///
    /// The caller holds the producer's `&'a mut` for the future's (and the chunk's) life.
    pub(crate) unsafe fn new(
        chan: &'a SpscChan<T>,
        counters: &'a TxCounters,
        gate: Option<&'a Credit>,
        max: usize,
    ) -> Self {
        Self {
            chan,
            counters,
            gate,
            max,
            st: ChunkWait::default(),
            done: false,
            _end: PhantomData,
        }
    }
}

impl<T> Unpin for WriteChunkFuture<'_, T> {}

impl<'a, T> Future for WriteChunkFuture<'a, T> {
    type Output = Result<WriteChunk<'a, T>, ChunkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "WriteChunkFuture polled after completion");
        let wake = Wake::task(cx.waker());
        // SAFETY: the future is the only producer (see `new`).
        let r = unsafe { this.st.poll_hold(this.chan, this.gate, this.max, &wake) };
        r.map(|held| {
            this.done = true;
            // SAFETY: as above; the wait handed over `held` slots and credits.
            held.map(|held| unsafe { WriteChunk::held(this.chan, this.counters, this.gate, held) })
        })
    }
}

impl<T> Drop for WriteChunkFuture<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: as in `poll`.
            unsafe { self.st.cancel_hold(self.chan, self.gate) };
        }
    }
}

impl<T> fmt::Debug for WriteChunkFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunkFuture")
            .field("max", &self.max)
            .field("done", &self.done)
            .finish()
    }
}

/// The future of [`Consumer::read_chunk_async`](crate::Consumer::read_chunk_async): waits
/// for a value, then resolves to a [`ReadChunk`]. Dropping it takes nothing.
#[must_use = "futures do nothing unless polled"]
pub struct ReadChunkFuture<'a, T> {
    chan: &'a SpscChan<T>,
    max: usize,
    st: ChunkWait,
    done: bool,
    _end: PhantomData<&'a mut ()>,
}

impl<'a, T> ReadChunkFuture<'a, T> {
    /// # Safety
    ///
    /// The caller holds the consumer's `&'a mut` for the future's (and the chunk's) life.
    pub(crate) unsafe fn new(chan: &'a SpscChan<T>, max: usize) -> Self {
        Self {
            chan,
            max,
            st: ChunkWait::default(),
            done: false,
            _end: PhantomData,
        }
    }
}

impl<T> Unpin for ReadChunkFuture<'_, T> {}

impl<'a, T> Future for ReadChunkFuture<'a, T> {
    type Output = Result<ReadChunk<'a, T>, ChunkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ReadChunkFuture polled after completion");
        let wake = Wake::task(cx.waker());
        // SAFETY: the future is the only consumer (see `new`).
        let r = unsafe { this.st.poll_ready(this.chan, this.max, &wake) };
        r.map(|len| {
            this.done = true;
            // SAFETY: as above.
            len.map(|len| unsafe { ReadChunk::with_len(this.chan, len) })
        })
    }
}

impl<T> Drop for ReadChunkFuture<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.chan.queue.cancel_chunk_ready(&mut self.st.slot);
        }
    }
}

impl<T> fmt::Debug for ReadChunkFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunkFuture")
            .field("max", &self.max)
            .field("done", &self.done)
            .finish()
    }
}

// === ReadChunk ===

/// A run of values at the front of an SPSC queue, from
/// [`Consumer::try_read_chunk`](crate::Consumer::try_read_chunk), read in place: look at
/// them ([`get`](Self::get), [`iter`](Self::iter), [`as_slices`](Self::as_slices)), move
/// them out one by one (the chunk is an [`Iterator`]), or drop them
/// ([`consume`](Self::consume)). Dropping the chunk (or [`release`](Self::release)) frees
/// the slots of the values taken or dropped, with one store; the values it did not take stay
/// queued, at the front, in order.
///
/// A panic while a chunk is held (in the caller's code, or in a value's destructor inside
/// `consume`) unwinds through its `Drop`: what was taken is released, nothing is dropped
/// twice or lost.
///
/// ```
/// let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
/// for v in 1..=5 {
///     tx.try_send(v).unwrap();
/// }
/// let mut chunk = rx.try_read_chunk(4).unwrap();
/// assert_eq!(chunk.len(), 4);
/// assert_eq!(chunk.iter().sum::<u32>(), 10); // in place
/// assert_eq!(chunk.next(), Some(1)); // moved out
/// assert_eq!(chunk.consume(2), 2); // 2 and 3 dropped
/// chunk.release(); // 4 stays queued
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 5]);
/// ```
#[must_use = "a chunk does nothing unless its values are taken or consumed"]
pub struct ReadChunk<'a, T> {
    chan: &'a SpscChan<T>,
    /// Values in the chunk when it was made.
    len: usize,
    /// Values taken out or dropped (from the front).
    taken: usize,
    /// Made from the consumer's `&'a mut`: the only user of the receiving side. (`T` in it:
    /// the chunk hands out `&T`, so it is `Sync` only when `T` is.)
    _end: PhantomData<&'a mut T>,
}

impl<'a, T> ReadChunk<'a, T> {
    /// # Safety
    ///
    /// The caller holds the consumer's `&'a mut` for the chunk's life.
    pub(crate) unsafe fn new(chan: &'a SpscChan<T>, max: usize) -> Result<Self, ChunkError> {
        // SAFETY: forwarded.
        let len = unsafe { Self::ready(chan, max)? };
        // SAFETY: forwarded; `ready` found `len` values.
        Ok(unsafe { Self::with_len(chan, len) })
    }

    /// How many values a read chunk of up to `max` gets now.
    ///
    /// # Safety
    ///
    /// The caller is the only consumer.
    unsafe fn ready(chan: &SpscChan<T>, max: usize) -> Result<usize, ChunkError> {
        if chan.queue.plain().is_none() {
            return Err(ChunkError::DropOldest);
        }
        // SAFETY: the caller is the only consumer; the queue has the plain ring.
        unsafe { chan.queue.chunk_ready(max.max(1)) }.map_err(|e| match e {
            crate::TryRecvError::Empty => ChunkError::Empty,
            crate::TryRecvError::Closed => ChunkError::Closed,
        })
    }

    /// The chunk of the `len` values [`ready`](Self::ready) found.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new); `len` values are ready at the front.
    unsafe fn with_len(chan: &'a SpscChan<T>, len: usize) -> Self {
        Self {
            chan,
            len,
            taken: 0,
            _end: PhantomData,
        }
    }

    /// The values left in the chunk (not taken or consumed).
    pub fn len(&self) -> usize {
        self.len - self.taken
    }

    /// Whether every value of the chunk was taken or consumed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th value left in the chunk, in place.
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len() {
            return None;
        }
        let r = self.chan.queue.plain().expect("checked at creation");
        // SAFETY: the chunk is the only consumer; position `i` after the cursor is in its
        // run and holds a value not taken; the reference lives no longer than `&self`, and
        // only `&mut self` moves the cursor or releases (a forgotten chunk releases nothing,
        // and the consumer's next call needs the `&mut` the chunk borrowed).
        Some(unsafe { &*r.peek_at(i) })
    }

    /// The values left in the chunk, in place, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The values left in the chunk, in place, as two slices (the run may wrap around the
    /// end of the queue's buffer; the second slice is then its start).
    #[cfg(not(loom))]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let r = self.chan.queue.plain().expect("checked at creation");
        // SAFETY: as in `get`: the chunk is the only consumer, and the slots of the values
        // left hold initialized values that stay put while `&self` lives.
        unsafe {
            let (base, first, slots) = r.head_slot();
            let n = self.len();
            let a = n.min(slots - first);
            (
                core::slice::from_raw_parts(base.add(first), a),
                core::slice::from_raw_parts(base, n - a),
            )
        }
    }

    /// Drops the next `n` values (or all that are left); returns how many it dropped.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.len());
        for _ in 0..n {
            let r = self.chan.queue.plain().expect("checked at creation");
            // SAFETY: as in `next`.
            let value = unsafe { r.take_front() };
            // Counted before the drop: a panicking destructor leaves the chunk consistent
            // (its drop releases this slot too).
            self.taken += 1;
            drop(value);
        }
        n
    }

    /// Frees the slots of the values taken or consumed; the others stay queued. (The same
    /// as dropping the chunk.)
    pub fn release(self) {}
}

impl<T> Iterator for ReadChunk<'_, T> {
    type Item = T;

    /// Moves the next value out of the chunk.
    fn next(&mut self) -> Option<T> {
        if self.taken == self.len {
            return None;
        }
        let r = self.chan.queue.plain().expect("checked at creation");
        // SAFETY: the chunk is the only consumer (made from its `&mut`), and a value of its
        // run is ready at the cursor: `take_front` moves the cursor past it at once, so no
        // one reads it again, even if the chunk is forgotten.
        let value = unsafe { r.take_front() };
        self.taken += 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<T> ExactSizeIterator for ReadChunk<'_, T> {}

impl<T> Drop for ReadChunk<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the chunk is the only consumer, and took out the first `taken` values.
        unsafe { self.chan.queue.chunk_release(self.taken) };
        if self.taken > 0 {
            self.chan.counters.count_batch_received();
        }
    }
}

impl<T> fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk")
            .field("len", &self.len())
            .finish()
    }
}
