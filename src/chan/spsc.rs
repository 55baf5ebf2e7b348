//! SPSC handles: [`Producer`] and [`Consumer`].
//!
//! # Closing without read-modify-writes on the fast path
//!
//! The ring's push and pop are plain loads and stores; closing is a flag word beside them,
//! which each send and each receive reads once (a line that is written only when the queue
//! closes, so the read hits the cache).
//!
//! - `close()` from either side or a [`Closer`](crate::Closer) sets `CLOSED`. A send that
//!   read the flag just before the close may still land after it; its item is then received
//!   like any other queued item (receivers drain), unless the consumer has already reported
//!   `Closed`: `Closed` is final, and such a late item is discarded and counted in
//!   [`Metrics::discarded`](crate::Metrics::discarded).
//! - Only the consumer takes items out of an SPSC ring (that is what keeps its receive free
//!   of read-modify-writes), so the consumer does the discarding: [`Consumer::abort`]
//!   discards at once; `abort()` from the producer or a closer sets `ABORTED`, and the
//!   consumer discards everything at its next call (or when it is dropped) and from then on
//!   reports `Closed`. Discarded items are counted in
//!   [`Metrics::discarded`](crate::Metrics::discarded).
//! - Dropping the consumer closes the queue, discards what is queued, then sets
//!   `CONSUMER_GONE`. A send racing with that drop may still land in room that was there
//!   before the drop (never in room the discarding made: the producer reads the state after
//!   it has found room); the producer discards it at its next call (it is then the only
//!   party left that can take items out).

use core::fmt;
use core::future::Future;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::future::{
    self, ClosedFuture, Permit, RecvDeadline, RecvFuture, ReserveFuture, RxRef, SendDeadline,
    SendFuture, SharedRef, TxRef,
};
use super::{deadline_after, Attempt, Core, Policy, Rx, Sent, Tx};
use crate::error::{
    BuildError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use crate::loom::sync::Arc;
use crate::loom::{AtomicUsize, Ordering};
use crate::metrics::{Count, Metrics, RingFigures};
use crate::ring::spsc::{Push, Spsc};

/// The queue is closed: sends fail; receives drain, then report `Closed`.
pub(crate) const CLOSED: usize = 1;
/// `abort` was called: the consumer discards instead of receiving.
pub(crate) const ABORTED: usize = 2;
/// The producer has been dropped.
const PRODUCER_GONE: usize = 4;
/// The consumer has been dropped and has discarded what it could.
const CONSUMER_GONE: usize = 8;

pub(crate) struct Shared<T> {
    ring: Spsc<T>,
    /// `CLOSED | ABORTED | PRODUCER_GONE | CONSUMER_GONE`, only ever set.
    state: CachePadded<AtomicUsize>,
    pub(crate) core: Core,
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spsc")
            .field("len", &self.ring.len())
            .field("capacity", &self.ring.capacity())
            .field("policy", &self.core.policy)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Shared<T> {
    fn state(&self) -> usize {
        // Ordering: Acquire pairs with the Release of `set`: whatever the closing side did
        // before (its last push, its discards) is visible after we see its flag.
        self.state.load(Ordering::Acquire)
    }

    /// Sets `flags`, returns the previous state, and wakes every waiter.
    fn set(&self, flags: usize) -> usize {
        // Ordering: AcqRel: Release publishes what this side did before (see `state`);
        // Acquire lets a side that finds a flag already set see what its setter did.
        let previous = self.state.fetch_or(flags, Ordering::AcqRel);
        self.core.wake_all();
        previous
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state() & CLOSED != 0
    }

    /// Closes (drain). Returns `true` if this call closed the queue.
    pub(crate) fn close(&self) -> bool {
        self.set(CLOSED) & CLOSED == 0
    }

    /// Closes and asks the consumer to discard what is queued (see the module docs).
    pub(crate) fn request_abort(&self) -> usize {
        self.set(CLOSED | ABORTED)
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    pub(crate) fn metrics(&self) -> Metrics {
        self.core.counters.snapshot(RingFigures {
            pushed: self.ring.pushed(),
            taken: self.ring.taken(),
            high_water: self.ring.high_water(),
            len: self.ring.len(),
            capacity: self.ring.capacity(),
        })
    }

    /// Pops and drops everything queued, counting it as discarded.
    ///
    /// # Safety
    ///
    /// The caller is the only thread taking items out of the ring: the consumer, or the
    /// producer after it has seen `CONSUMER_GONE`.
    unsafe fn discard_all(&self) -> usize {
        struct Tally<'a> {
            counters: &'a crate::metrics::Counters,
            n: usize,
        }
        impl Drop for Tally<'_> {
            // Also runs if an item's destructor panics, so what was popped is counted.
            fn drop(&mut self) {
                if self.n > 0 {
                    self.counters.add(Count::Discarded, self.n);
                }
            }
        }
        let mut tally = Tally {
            counters: &self.core.counters,
            n: 0,
        };
        // SAFETY: per our contract, we are the only thread popping.
        while let Some(item) = unsafe { self.ring.pop() } {
            tally.n += 1;
            drop(item);
        }
        tally.n
    }
}

pub(crate) fn build<T>(
    capacity: usize,
    policy: Policy,
) -> Result<(Producer<T>, Consumer<T>), BuildError> {
    let ring = Spsc::new(capacity, policy == Policy::DropOldest)?;
    let shared = Arc::new(Shared {
        ring,
        state: CachePadded::new(AtomicUsize::new(0)),
        core: Core::new(policy, true),
    });
    Ok((
        Producer {
            shared: shared.clone(),
            #[cfg(feature = "futures")]
            sink: Default::default(),
        },
        Consumer {
            shared,
            closed_seen: false,
            #[cfg(feature = "futures")]
            stream: Default::default(),
        },
    ))
}

/// The sending end of an SPSC queue, made by [`spsc`](crate::spsc) or
/// [`Builder::spsc`](crate::Builder::spsc).
///
/// Not `Clone`: there is one producer. Sending takes `&mut self`, so the compiler enforces
/// that; the handle can move to another thread.
///
/// ```compile_fail
/// let (tx, _rx) = pushpull::spsc::<u8>(1);
/// let tx2 = tx.clone(); // one producer only
/// ```
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    #[cfg(feature = "futures")]
    pub(crate) sink: super::compat::SinkState,
}

/// The receiving end of an SPSC queue. Not `Clone`: there is one consumer.
///
/// ```compile_fail
/// let (_tx, rx) = pushpull::spsc::<u8>(1);
/// let rx2 = rx.clone(); // one consumer only
/// ```
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// This consumer has reported `Closed`: it keeps doing so (see the module docs).
    closed_seen: bool,
    #[cfg(feature = "futures")]
    pub(crate) stream: future::Place,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Producer").field(&*self.shared).finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Consumer").field(&*self.shared).finish()
    }
}

// === impl Producer ===

impl<T> Producer<T> {
    end_methods!(Spsc);

    /// Sends `value` if there is room now; never waits, whatever the policy.
    ///
    /// ```
    /// use pushpull::TrySendError;
    ///
    /// let (mut tx, _rx) = pushpull::spsc(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        match self.try_push(value, false) {
            Attempt::Pushed => Ok(()),
            Attempt::Full(v) => Err(TrySendError::Full(v)),
            Attempt::Closed(v) => Err(TrySendError::Closed(v)),
            Attempt::Evicted(_) => unreachable!("no eviction without DropOldest"),
        }
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
    pub fn send(&mut self, value: T) -> Result<Sent<T>, SendError<T>> {
        match super::send_blocking(self, value, None) {
            Ok(sent) => Ok(sent),
            Err(SendTimeoutError::Closed(v)) => Err(SendError::Closed(v)),
            Err(SendTimeoutError::Overloaded(v)) => Err(SendError::Overloaded(v)),
            Err(SendTimeoutError::Timeout(_)) => unreachable!("no deadline"),
        }
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for room. `Duration::MAX`
    /// waits forever.
    pub fn send_timeout(
        &mut self,
        value: T,
        timeout: Duration,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        super::send_blocking(self, value, deadline_after(timeout))
    }

    /// Like [`send`](Self::send), waiting for room until `deadline`. A send that can
    /// complete at once does, even if the deadline has passed.
    pub fn send_deadline(
        &mut self,
        value: T,
        deadline: Instant,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        super::send_blocking(self, value, Some(deadline))
    }

    /// Sends `value` under the queue's policy, waiting for room asynchronously under
    /// [`Block`](Policy::Block). Works on any executor. See [`SendFuture`] for what dropping
    /// the future does.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = pushpull::spsc(1);
    /// tx.send_async(1).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(1));
    /// # });
    /// ```
    pub fn send_async(&mut self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(TxRef::Spsc(self), value)
    }

    /// Like [`send_async`](Self::send_async), giving up when `deadline` completes: pass any
    /// future, for example your runtime's sleep (pinned, e.g. with `Box::pin`). On timeout
    /// the value comes back in [`SendTimeoutError::Timeout`]. A send that can complete at
    /// once does, even if the deadline is already due.
    pub fn send_async_deadline<D>(&mut self, value: T, deadline: D) -> SendDeadline<'_, T, D>
    where
        D: Future<Output = ()> + Unpin,
    {
        SendDeadline::new(SendFuture::new(TxRef::Spsc(self), value), deadline)
    }

    /// Waits (blocking the thread) until there is room, under any policy, and reserves it:
    /// the [`Permit`]'s `send` then cannot fail for lack of room. Fails only if the queue is
    /// closed. At capacity 0, waits for a receiver and reserves it.
    pub fn reserve(&mut self) -> Result<Permit<'_, T>, SendError<()>> {
        future::reserve_blocking(TxRef::Spsc(self))
    }

    /// Reserves room if there is some now; never waits.
    pub fn try_reserve(&mut self) -> Result<Permit<'_, T>, TrySendError<()>> {
        future::try_reserve(TxRef::Spsc(self)).map_err(|(_, e)| e)
    }

    /// Waits asynchronously for room and reserves it; see [`reserve`](Self::reserve). This
    /// makes a send cancel-safe: if the future is dropped, no value was handed over.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = pushpull::spsc(1);
    /// let permit = tx.reserve_async().await.unwrap();
    /// let _ = permit.send(5);
    /// assert_eq!(rx.recv_async().await, Ok(5));
    /// # });
    /// ```
    pub fn reserve_async(&mut self) -> ReserveFuture<'_, T> {
        ReserveFuture::new(TxRef::Spsc(self))
    }

    /// Closes the queue and discards what is queued.
    ///
    /// Only the consumer takes items out of an SPSC ring, so while the consumer is alive
    /// the discarding is its job: it happens at the consumer's next call (or when it is
    /// dropped), and this call returns 0. The items discarded are counted in
    /// [`Metrics::discarded`]. Once the consumer is gone, this call discards anything left
    /// itself and returns how many. [`Consumer::abort`] discards at once.
    pub fn abort(&mut self) -> usize {
        let previous = self.shared.request_abort();
        if previous & CONSUMER_GONE != 0 {
            // SAFETY: the consumer is gone (seen with Acquire in `set`), so we are the only
            // thread taking items out, and `&mut self` keeps it that way.
            unsafe { self.shared.discard_all() }
        } else {
            0
        }
    }
}

impl<T> Producer<T> {
    pub(crate) fn core_ref(&self) -> &Core {
        &self.shared.core
    }

    /// For a permit: is there room (a drop-oldest queue always has room)?
    pub(crate) fn permit_room(&mut self, drop_oldest: bool) -> Result<(), TrySendError<()>> {
        // Room first, then the state, as in `try_push`.
        // SAFETY: `&mut self` on the only producer.
        let room = drop_oldest || unsafe { self.shared.ring.has_room() };
        if self.shared.state() & CLOSED != 0 {
            Err(TrySendError::Closed(()))
        } else if room {
            Ok(())
        } else {
            Err(TrySendError::Full(()))
        }
    }

    /// A reserved send: room was found when the permit was made, and only the producer
    /// fills the ring. `Err` only if the producer filled it since, which a `Permit` (holding
    /// `&mut self`) rules out, but a `Sink` user calling `try_send` between `poll_ready` and
    /// `start_send` does not.
    pub(crate) fn permit_send(&mut self, value: T) -> Result<Sent<T>, T> {
        let evict = self.shared.core.policy == Policy::DropOldest;
        // SAFETY: `&mut self` on the only producer; `evict` only under DropOldest.
        match unsafe { self.shared.ring.push(value, evict) } {
            Push::Pushed => {
                self.shared.core.items.notify_one();
                Ok(Sent::Queued)
            }
            Push::Evicted(old) => {
                self.shared.core.counters.add(Count::EvictedOldest, 1);
                self.shared.core.items.notify_one();
                Ok(Sent::Evicted(old))
            }
            Push::Full(v) | Push::Refused(v) => Err(v),
        }
    }
}

impl<T> Tx<T> for Producer<T> {
    fn core(&self) -> &Core {
        &self.shared.core
    }

    #[inline]
    fn try_push(&mut self, value: T, evict: bool) -> Attempt<T> {
        let shared = &*self.shared;
        // The state is read once room is known, not before: see `Spsc::push_if`. Read first,
        // a dropped consumer's discarding could make room for a send that saw it open.
        let open = || shared.state() & CLOSED == 0;
        // SAFETY: `&mut self` on the only `Producer` makes us the only producer thread;
        // `evict` is only set under DropOldest, for which the ring was built with a shared head.
        match unsafe { shared.ring.push_if(value, evict, open) } {
            Push::Pushed => {
                shared.core.items.notify_one();
                Attempt::Pushed
            }
            Push::Evicted(old) => {
                shared.core.items.notify_one();
                Attempt::Evicted(old)
            }
            Push::Full(v) if open() => Attempt::Full(v),
            Push::Full(v) | Push::Refused(v) => {
                if shared.state() & CONSUMER_GONE != 0 {
                    // SAFETY: the consumer is gone (seen with Acquire), so we are the only
                    // thread taking items out. Discards what a permit, or a send racing with
                    // the consumer's drop, left behind.
                    unsafe { shared.discard_all() };
                }
                Attempt::Closed(v)
            }
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        {
            let mut sink = core::mem::take(&mut self.sink);
            super::compat::release_sink(&mut sink, TxRef::Spsc(self));
        }
        // Every sender gone: the queue closes (drain).
        let previous = self.shared.set(CLOSED | PRODUCER_GONE);
        if previous & CONSUMER_GONE != 0 {
            // The consumer is gone: what a send racing its drop (or a permit) left behind is
            // discarded and counted here, rather than dropped uncounted with the ring.
            // SAFETY: the consumer is gone (seen with Acquire in `set`); we are the only
            // thread taking items out.
            unsafe { self.shared.discard_all() };
        }
    }
}

// === impl Consumer ===

impl<T> Consumer<T> {
    end_methods!(Spsc);

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
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.try_pop()
    }

    /// Receives a value, waiting until one is queued; fails once the queue is closed and
    /// drained. Blocks the thread: do not call it from async code (use
    /// [`recv_async`](Self::recv_async)).
    pub fn recv(&mut self) -> Result<T, RecvError> {
        super::recv_blocking(self, None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`. `Duration::MAX` waits forever.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        super::recv_blocking(self, deadline_after(timeout))
    }

    /// Like [`recv`](Self::recv), waiting until `deadline`. A value already queued is
    /// received even if the deadline has passed.
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        super::recv_blocking(self, Some(deadline))
    }

    /// Receives the next value asynchronously; fails once the queue is closed and drained.
    /// Works on any executor. Dropping the future never loses a value (see [`RecvFuture`]).
    pub fn recv_async(&mut self) -> RecvFuture<'_, T> {
        RecvFuture::new(RxRef::Spsc(self))
    }

    /// Like [`recv_async`](Self::recv_async), giving up with
    /// [`RecvTimeoutError::Timeout`] when `deadline` completes (any future, for example your
    /// runtime's sleep, pinned). A value already available is received even if the
    /// deadline is already due.
    pub fn recv_async_deadline<D>(&mut self, deadline: D) -> RecvDeadline<'_, T, D>
    where
        D: Future<Output = ()> + Unpin,
    {
        RecvDeadline::new(RecvFuture::new(RxRef::Spsc(self)), deadline)
    }

    /// Closes the queue and discards (drops) every queued value at once. Returns how many.
    /// The consumer reports `Closed` from now on; discarded values are counted in
    /// [`Metrics::discarded`].
    ///
    /// ```
    /// let (mut tx, mut rx) = pushpull::spsc(4);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.abort(), 2);
    /// assert!(rx.try_recv().is_err());
    /// assert!(tx.send(3).is_err());
    /// ```
    pub fn abort(&mut self) -> usize {
        self.shared.request_abort();
        // SAFETY: `&mut self` on the only consumer: we are the only thread popping.
        unsafe { self.shared.discard_all() }
    }
}

impl<T> Consumer<T> {
    pub(crate) fn core_ref(&self) -> &Core {
        &self.shared.core
    }
}

impl<T> Rx<T> for Consumer<T> {
    fn core(&self) -> &Core {
        &self.shared.core
    }

    #[inline]
    fn try_pop(&mut self) -> Result<T, TryRecvError> {
        let result = self.try_pop_inner();
        if let Err(TryRecvError::Closed) = result {
            self.closed_seen = true;
        }
        result
    }
}

impl<T> Consumer<T> {
    #[inline]
    fn try_pop_inner(&mut self) -> Result<T, TryRecvError> {
        if self.closed_seen {
            // `Closed` is final. A send that read the state just before the close may still
            // have landed since: it is discarded (and counted), not received after `Closed`.
            // SAFETY: `&mut self` on the only consumer.
            unsafe { self.shared.discard_all() };
            return Err(TryRecvError::Closed);
        }
        let shared = &*self.shared;
        let state = shared.state();
        if state & ABORTED != 0 {
            // SAFETY: `&mut self` on the only consumer.
            unsafe { shared.discard_all() };
            return Err(TryRecvError::Closed);
        }
        // SAFETY: `&mut self` on the only consumer: we are the only thread popping.
        if let Some(v) = unsafe { shared.ring.pop() } {
            shared.core.room.notify_one();
            return Ok(v);
        }
        if state & CLOSED != 0 {
            // Closed before our pop (Acquire): everything pushed before the close was seen.
            return Err(TryRecvError::Closed);
        }
        let state = shared.state();
        if state & CLOSED == 0 {
            return Err(TryRecvError::Empty);
        }
        if state & ABORTED != 0 {
            // SAFETY: as above.
            unsafe { shared.discard_all() };
            return Err(TryRecvError::Closed);
        }
        // Closed since our pop: a value pushed before the close is visible now.
        // SAFETY: as above.
        match unsafe { shared.ring.pop() } {
            Some(v) => {
                shared.core.room.notify_one();
                Ok(v)
            }
            None => Err(TryRecvError::Closed),
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        {
            let mut stream = core::mem::take(&mut self.stream);
            future::withdraw_recv(&RxRef::Spsc(self), &mut stream);
        }
        // Every receiver gone: close, and drop what is queued right away.
        self.shared.set(CLOSED);
        // SAFETY: we are the consumer, and `CONSUMER_GONE` (which lets the producer pop)
        // is only set after this.
        unsafe { self.shared.discard_all() };
        self.shared.set(CONSUMER_GONE);
    }
}
