//! The SPSC handles: [`Producer`] and [`Consumer`]. Thin: every method is a line or two over
//! the generic code. Their sending and receiving methods take `&mut self`: that is what makes
//! each the only user of its side of the queue, which the SPSC flavor's fast path relies on.

use core::fmt;
use core::future::Future;
use std::time::{Duration, Instant};

use super::chunk::{self, ChunkError, ReadChunk, ReadChunkFuture, WriteChunk, WriteChunkFuture};
use super::closer::Closer;
use super::flavor::{sealed::Recv, Spsc};
use super::future::{
    ClosedFuture, RecvDeadline, RecvFuture, ReserveFuture, SendDeadline, SendFuture,
};
use super::iter::{Drain, IntoIter, Iter, TryIter};
use super::permit::Permit;
use super::poll::{Rx, Tx};
use super::spsc::SpscQueue;
#[cfg(feature = "futures")]
use super::SlotReg;
use super::{deadline_after, Chan, Policy, Queue, Sent, Side};
use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::loom::sync::Arc;
use crate::metrics::{Metrics, TxCounters};

type SpscChan<T> = Chan<T, SpscQueue<T>>;

/// The sending end of an SPSC queue, made by [`spsc`](crate::spsc) or
/// [`Builder::spsc`](crate::Builder::spsc).
///
/// Not `Clone`: there is one producer. Sending takes `&mut self`, so the compiler enforces
/// that; the handle can move to another thread. Dropping it closes the queue (the consumer
/// drains what is queued, then sees `Closed`).
///
/// ```compile_fail
/// let (tx, _rx) = pushpull::spsc::<u8>(1);
/// let tx2 = tx.clone(); // one producer only
/// ```
pub struct Producer<T> {
    chan: Arc<SpscChan<T>>,
    counters: Arc<TxCounters>,
    policy: Policy,
    /// Whether the queue has a credit gate (see `Sender`'s fields).
    gated: bool,
    #[cfg(feature = "futures")]
    pub(crate) sink: super::compat::SinkState<Spsc, T>,
}

/// The receiving end of an SPSC queue. Not `Clone`: there is one consumer. Dropping it
/// closes the queue and drops what is queued (counted in [`Metrics::discarded`]).
///
/// ```compile_fail
/// let (_tx, rx) = pushpull::spsc::<u8>(1);
/// let rx2 = rx.clone(); // one consumer only
/// ```
pub struct Consumer<T> {
    chan: Arc<SpscChan<T>>,
    #[cfg(feature = "futures")]
    pub(crate) stream: SlotReg,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Producer").field(&*self.chan).finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Consumer").field(&*self.chan).finish()
    }
}

// === impl Producer ===

impl<T> Producer<T> {
    pub(crate) fn new(chan: Arc<SpscChan<T>>) -> Self {
        Self {
            counters: chan.counters.attach(),
            policy: chan.policy,
            gated: chan.credit.is_some(),
            chan,
            #[cfg(feature = "futures")]
            sink: Default::default(),
        }
    }

    /// The sending side. Callers hold `&mut self` (or a future or permit made from it)
    /// while they use it: that is the SPSC flavor's one-producer requirement.
    #[inline(always)]
    pub(crate) fn tx(&self) -> Tx<'_, T, SpscQueue<T>> {
        Tx::new(&self.chan, &self.counters, self.policy, self.gated)
    }

    /// Sends `value` if there is room now; never waits and counts nothing, whatever the
    /// policy.
    ///
    /// ```
    /// use pushpull::TrySendError;
    ///
    /// let (mut tx, _rx) = pushpull::spsc(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    #[inline(always)]
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().try_send(value) }
    }

    /// Reserves up to `max` free slots (at least one) for values written in place and
    /// published at once: see [`WriteChunk`]. Never waits: `Full` when there is no room
    /// (or no credit), `Closed` once the queue is closed, and `DropOldest` on a drop-oldest
    /// queue, which has no chunks.
    ///
    /// ```
    /// let (mut tx, mut rx) = pushpull::spsc::<u64>(1024);
    /// let mut chunk = tx.try_write_chunk(256).unwrap();
    /// let n = chunk.fill_from_iter(0..);
    /// assert_eq!(chunk.commit(), Ok(n)); // one publication for all of them
    /// assert_eq!(rx.len(), 256);
    /// ```
    pub fn try_write_chunk(&mut self, max: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        let gate = self.tx().gate;
        // SAFETY: the chunk borrows `&mut self` for its life: it is the only producer.
        unsafe { WriteChunk::new(&self.chan, &self.counters, gate, max) }
    }

    /// Like [`try_write_chunk`](Self::try_write_chunk), waiting (blocking the thread) until
    /// there is room for at least one value (and, with a credit gate, a credit); fails only
    /// with `Closed` or `DropOldest`.
    pub fn write_chunk(&mut self, max: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        let gate = self.tx().gate;
        // SAFETY: as in `try_write_chunk`.
        unsafe { chunk::write_chunk_blocking(&self.chan, &self.counters, gate, max, None) }
    }

    /// Like [`write_chunk`](Self::write_chunk), waiting at most `timeout`: then `Full`.
    pub fn write_chunk_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<WriteChunk<'_, T>, ChunkError> {
        let gate = self.tx().gate;
        let deadline = deadline_after(timeout);
        // SAFETY: as in `try_write_chunk`.
        unsafe { chunk::write_chunk_blocking(&self.chan, &self.counters, gate, max, deadline) }
    }

    /// Like [`write_chunk`](Self::write_chunk), as a future: waits for room (and credit)
    /// without blocking the thread. Dropping the future reserves nothing.
    pub fn write_chunk_async(&mut self, max: usize) -> WriteChunkFuture<'_, T> {
        let gate = self.tx().gate;
        // SAFETY: the future (and then the chunk) borrows `&mut self`.
        unsafe { WriteChunkFuture::new(&self.chan, &self.counters, gate, max) }
    }

    /// Sends `value` under the queue's [`Policy`]: on a full queue, waits (`Block`), drops
    /// it (`DropNewest`), evicts the oldest value (`DropOldest`), or fails with
    /// `Overloaded` (`Reject`). Fails with `Closed` once the queue is closed.
    ///
    /// Blocks the thread under `Block`: do not call it from async code (use
    /// [`send_async`](Self::send_async)).
    ///
    /// ```
    /// use pushpull::{Builder, Policy, Sent};
    ///
    /// let (mut tx, mut rx) = Builder::new(1).policy(Policy::DropNewest).spsc();
    /// assert_eq!(tx.send(1), Ok(Sent::Queued));
    /// assert_eq!(tx.send(2), Ok(Sent::DroppedNewest));
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<Sent<T>, SendError<T>> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send(value) }
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for room. `Duration::MAX` waits
    /// forever.
    pub fn send_timeout(
        &mut self,
        value: T,
        timeout: Duration,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_blocking(value, deadline_after(timeout)) }
    }

    /// Like [`send`](Self::send), waiting for room until `deadline`. A send that can complete
    /// at once does, even if the deadline has passed.
    pub fn send_deadline(
        &mut self,
        value: T,
        deadline: Instant,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_blocking(value, Some(deadline)) }
    }

    /// Sends `value` under the queue's policy, waiting for room asynchronously under
    /// [`Block`](Policy::Block). Works on any executor. See [`SendFuture`] for what dropping
    /// the future does.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = pushpull::spsc(1);
    /// let _ = tx.send_async(1).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(1));
    /// # });
    /// ```
    pub fn send_async(&mut self, value: T) -> SendFuture<'_, T, Spsc> {
        // SAFETY: made from `&mut self`, borrowed for the future's life.
        unsafe { SendFuture::new(self.tx(), value) }
    }

    /// Like [`send_async`](Self::send_async), giving up when `deadline` completes: pass any
    /// future, for example your runtime's sleep (pinned, e.g. with `Box::pin`). On timeout
    /// the value comes back in [`SendTimeoutError::Timeout`]. A send that can complete at
    /// once does, even if the deadline is already due.
    pub fn send_async_deadline<D>(&mut self, value: T, deadline: D) -> SendDeadline<'_, T, D, Spsc>
    where
        D: Future<Output = ()> + Unpin,
    {
        SendDeadline::new(self.send_async(value), deadline)
    }

    /// Waits (blocking the thread) until there is room, under any policy, and reserves it:
    /// the [`Permit`]'s `send` then does not wait. Fails only if the queue is closed.
    pub fn reserve(&mut self) -> Result<Permit<'_, T, Spsc>, SendError<()>> {
        self.reserve_until(None).map_err(|_| SendError::Closed(()))
    }

    /// Like [`reserve`](Self::reserve), waiting at most `timeout`.
    pub fn reserve_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Permit<'_, T, Spsc>, SendTimeoutError<()>> {
        self.reserve_until(deadline_after(timeout))
    }

    /// Like [`reserve`](Self::reserve), waiting until `deadline`.
    pub fn reserve_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<Permit<'_, T, Spsc>, SendTimeoutError<()>> {
        self.reserve_until(Some(deadline))
    }

    fn reserve_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Permit<'_, T, Spsc>, SendTimeoutError<()>> {
        // SAFETY: `&mut self` on the only producer; the permit borrows it.
        unsafe {
            self.tx()
                .reserve_blocking(deadline)
                .map(|()| Permit::new(self.tx()))
        }
    }

    /// Reserves room if there is some now; never waits.
    pub fn try_reserve(&mut self) -> Result<Permit<'_, T, Spsc>, TrySendError<()>> {
        // SAFETY: as in `reserve_until`.
        unsafe { self.tx().try_reserve().map(|()| Permit::new(self.tx())) }
    }

    /// Waits asynchronously for room and reserves it; see [`reserve`](Self::reserve). This
    /// makes a send cancel-safe: if the future is dropped, no value was handed over.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = pushpull::spsc(1);
    /// let permit = tx.reserve_async().await.unwrap();
    /// let _ = permit.send(5).unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(5));
    /// # });
    /// ```
    pub fn reserve_async(&mut self) -> ReserveFuture<'_, T, Spsc> {
        // SAFETY: made from `&mut self`, borrowed for the future's life.
        unsafe { ReserveFuture::new(self.tx()) }
    }

    /// The number of queued values. The consumer may change it at any moment, but seen from
    /// the producer it can only shrink.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is queued (see [`len`](Self::len) for what stays true).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds [`capacity`](Self::capacity) values. If not, it stays so
    /// until this producer sends: only the producer fills the queue.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The most values the queue holds.
    pub fn capacity(&self) -> usize {
        self.chan.queue.capacity()
    }

    /// The policy the queue was built with.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Closes the queue (drain): sends fail from now on, the consumer receives what is
    /// queued and then sees `Closed`. Returns `true` if this call closed the queue.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the queue and has the consumer discard what is queued.
    ///
    /// Returns no count: only the consumer takes values out of an SPSC queue (that keeps its
    /// receive free of read-modify-writes), so it discards them at its next call, or when it
    /// is dropped, and reports `Closed`. They are counted in [`Metrics::discarded`] once it
    /// has; [`Consumer::abort`] discards at once and returns the count.
    pub fn abort(&mut self) {
        self.chan.abort(Side::Sender);
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }

    /// A handle that can close or abort the queue from anywhere, without being an end: it
    /// does not keep the queue open.
    pub fn closer(&self) -> Closer
    where
        T: Send + 'static,
    {
        Closer::new(self.chan.clone())
    }

    /// A future that resolves when the queue is closed.
    pub fn closed(&self) -> ClosedFuture<'_> {
        ClosedFuture::new(&self.chan.closing)
    }

    /// A snapshot of the queue's counters.
    pub fn metrics(&self) -> Metrics {
        self.chan.metrics()
    }

    /// The credits available now, if the queue has a credit gate
    /// ([`Builder::credits`](crate::Builder::credits)); `None` without one.
    pub fn credits(&self) -> Option<usize> {
        self.chan.credits()
    }

    /// Whether `self` and `consumer` are the two ends of the same queue.
    pub fn same_queue(&self, consumer: &Consumer<T>) -> bool {
        Arc::ptr_eq(&self.chan, &consumer.chan)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        {
            let mut sink = core::mem::take(&mut self.sink);
            super::compat::release_sink(&mut sink, self.tx());
        }
        self.chan.counters.detach(&self.counters);
        // The only sender is gone: the queue closes (drain).
        self.chan.queue.producer_gone();
        self.chan.closed_by_drop();
    }
}

// === impl Consumer ===

impl<T> Consumer<T> {
    pub(crate) fn new(chan: Arc<SpscChan<T>>) -> Self {
        Self {
            chan,
            #[cfg(feature = "futures")]
            stream: Default::default(),
        }
    }

    /// The receiving side; callers hold `&mut self` (see [`Producer::tx`]).
    #[inline(always)]
    pub(crate) fn rx(&self) -> Rx<'_, T, SpscQueue<T>> {
        Rx { chan: &self.chan }
    }

    /// A run of up to `max` values (at least one) ready at the front of the queue, read in
    /// place: see [`ReadChunk`]. Never waits: `Empty` when nothing is ready, `Closed` once
    /// the queue is closed and drained, and `DropOldest` on a drop-oldest queue, which has
    /// no chunks.
    pub fn try_read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, T>, ChunkError> {
        // SAFETY: the chunk borrows `&mut self` for its life: it is the only consumer.
        unsafe { ReadChunk::new(&self.chan, max) }
    }

    /// Like [`try_read_chunk`](Self::try_read_chunk), waiting (blocking the thread) for at
    /// least one value; fails only with `Closed` (closed and drained) or `DropOldest`.
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, T>, ChunkError> {
        // SAFETY: as in `try_read_chunk`.
        unsafe { chunk::read_chunk_blocking(&self.chan, max, None) }
    }

    /// Like [`read_chunk`](Self::read_chunk), waiting at most `timeout`: then `Empty`.
    pub fn read_chunk_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<ReadChunk<'_, T>, ChunkError> {
        let deadline = deadline_after(timeout);
        // SAFETY: as in `try_read_chunk`.
        unsafe { chunk::read_chunk_blocking(&self.chan, max, deadline) }
    }

    /// Like [`read_chunk`](Self::read_chunk), as a future. Dropping it takes nothing.
    pub fn read_chunk_async(&mut self, max: usize) -> ReadChunkFuture<'_, T> {
        // SAFETY: the future (and then the chunk) borrows `&mut self`.
        unsafe { ReadChunkFuture::new(&self.chan, max) }
    }

    /// Receives a value if one is queued now; never waits.
    ///
    /// ```
    /// use pushpull::TryRecvError;
    ///
    /// let (mut tx, mut rx) = pushpull::spsc(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.rx().try_recv() }
    }

    /// Receives a value, waiting until one is queued; fails once the queue is closed and
    /// drained. Blocks the thread: do not call it from async code (use
    /// [`recv_async`](Self::recv_async)).
    #[inline]
    pub fn recv(&mut self) -> Result<T, RecvError> {
        // SAFETY: `&mut self` on the only consumer.
        match unsafe { self.rx().try_recv() } {
            Ok(v) => Ok(v),
            Err(TryRecvError::Closed) => Err(RecvError),
            Err(TryRecvError::Empty) => {
                // SAFETY: as above.
                unsafe { self.rx().recv_blocking(None) }.map_err(|_| RecvError)
            }
        }
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`. `Duration::MAX` waits forever.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.rx().recv_blocking(deadline_after(timeout)) }
    }

    /// Like [`recv`](Self::recv), waiting until `deadline`. A value already queued is
    /// received even if the deadline has passed.
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.rx().recv_blocking(Some(deadline)) }
    }

    /// Receives the next value asynchronously; fails once the queue is closed and drained.
    /// Works on any executor. Dropping the future never loses a value (see [`RecvFuture`]).
    pub fn recv_async(&mut self) -> RecvFuture<'_, T, Spsc> {
        // SAFETY: made from `&mut self`, borrowed for the future's life.
        unsafe { RecvFuture::new(self.rx()) }
    }

    /// Like [`recv_async`](Self::recv_async), giving up with
    /// [`RecvTimeoutError::Timeout`] when `deadline` completes (any future, for example your
    /// runtime's sleep, pinned). A value already available is received even if the deadline
    /// is already due.
    pub fn recv_async_deadline<D>(&mut self, deadline: D) -> RecvDeadline<'_, T, D, Spsc>
    where
        D: Future<Output = ()> + Unpin,
    {
        RecvDeadline::new(self.recv_async(), deadline)
    }

    /// A blocking iterator: waits for each value, ends when the queue is closed and drained.
    /// Blocks the thread: not for async code.
    pub fn iter(&mut self) -> Iter<'_, T, Spsc> {
        // SAFETY: made from `&mut self`, borrowed for the iterator's life.
        unsafe { Iter::new(self.rx()) }
    }

    /// A non-blocking iterator over the values available now.
    pub fn try_iter(&mut self) -> TryIter<'_, T, Spsc> {
        // SAFETY: as for `iter`.
        unsafe { TryIter::new(self.rx()) }
    }

    /// A non-blocking iterator over at most the values queued now.
    pub fn drain(&mut self) -> Drain<'_, T, Spsc> {
        let n = self.len();
        // SAFETY: as for `iter`.
        unsafe { Drain::new(self.rx(), n) }
    }

    /// The number of queued values. The producer may change it at any moment, but seen from
    /// the consumer it can only grow (also under drop-oldest: an eviction takes the oldest
    /// out and puts the newest in in one step).
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is queued. If not, it stays so until this consumer receives.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds [`capacity`](Self::capacity) values (see [`len`](Self::len)).
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The most values the queue holds.
    pub fn capacity(&self) -> usize {
        self.chan.queue.capacity()
    }

    /// The policy the queue was built with.
    pub fn policy(&self) -> Policy {
        self.chan.policy
    }

    /// Closes the queue (drain): sends fail from now on, the consumer receives what is
    /// queued and then sees `Closed`. Returns `true` if this call closed the queue.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the queue and discards (drops) every queued value at once. Returns how many
    /// (also counted in [`Metrics::discarded`]). The consumer reports `Closed` from now on; a
    /// send racing the abort either is discarded (and counted here) or fails with its value.
    ///
    /// ```
    /// let (mut tx, mut rx) = pushpull::spsc(4);
    /// let _ = tx.send(1).unwrap();
    /// let _ = tx.send(2).unwrap();
    /// assert_eq!(rx.abort(), 2);
    /// assert!(rx.try_recv().is_err());
    /// assert!(tx.send(3).is_err());
    /// ```
    pub fn abort(&mut self) -> usize {
        self.chan.abort(Side::Receiver).unwrap_or(0)
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }

    /// A handle that can close or abort the queue from anywhere, without being an end: it
    /// does not keep the queue open.
    pub fn closer(&self) -> Closer
    where
        T: Send + 'static,
    {
        Closer::new(self.chan.clone())
    }

    /// A future that resolves when the queue is closed.
    pub fn closed(&self) -> ClosedFuture<'_> {
        ClosedFuture::new(&self.chan.closing)
    }

    /// A snapshot of the queue's counters.
    pub fn metrics(&self) -> Metrics {
        self.chan.metrics()
    }

    /// The credits available now, if the queue has a credit gate
    /// ([`Builder::credits`](crate::Builder::credits)); `None` without one.
    pub fn credits(&self) -> Option<usize> {
        self.chan.credits()
    }

    /// Grants `n` more credits to a queue with a credit gate
    /// ([`Builder::credits`](crate::Builder::credits)): `n` more values may enter it, and up to
    /// `n` sends waiting for credit wake. A grant is cut so that at most `usize::MAX / 2`
    /// credits are available; counts never overflow. A receive gives no credit back: granting is the
    /// consumer's explicit word. On a queue without a gate this does nothing.
    ///
    /// ```
    /// use pushpull::Builder;
    ///
    /// let (mut tx, mut rx) = Builder::new(16).credits(0).spsc::<u32>();
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..4 {
    ///         let _ = tx.send(i).unwrap(); // waits for each credit
    ///     }
    /// });
    /// for i in 0..4 {
    ///     rx.grant(1); // pull one value at a time
    ///     assert_eq!(rx.recv(), Ok(i));
    /// }
    /// producer.join().unwrap();
    /// ```
    pub fn grant(&self, n: usize) {
        self.chan.grant(n);
    }

    /// Whether `self` and `producer` are the two ends of the same queue.
    pub fn same_queue(&self, producer: &Producer<T>) -> bool {
        Arc::ptr_eq(&self.chan, &producer.chan)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        {
            // SAFETY: `&mut self` on the only consumer.
            unsafe { self.chan.queue.cancel_recv(&mut self.stream) };
        }
        // Every receiver gone: close, and drop what is queued right away.
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.chan.queue.consumer_gone() };
        self.chan.closed_by_drop();
    }
}

impl<T> Recv<T> for Consumer<T> {
    fn recv_next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a mut Consumer<T> {
    type Item = T;
    type IntoIter = Iter<'a, T, Spsc>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> IntoIterator for Consumer<T> {
    type Item = T;
    type IntoIter = IntoIter<T, Spsc>;
    fn into_iter(self) -> Self::IntoIter {
        IntoIter::new(self)
    }
}
