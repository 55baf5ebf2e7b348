//! MPMC handles: [`Sender`] and [`Receiver`], over the array ring or, at capacity 0, the
//! rendezvous flavor.

use core::fmt;

use core::task::Poll;
use crossbeam_utils::CachePadded;
use std::time::{Duration, Instant};

use core::future::Future;

use super::future::{
    self, ClosedFuture, Permit, RecvDeadline, RecvFuture, ReserveFuture, RxRef, SendDeadline,
    SendFuture, SharedRef, TxRef,
};
use super::zero::{Zero, ZeroReg};
use super::{deadline_after, Attempt, Core, Policy, Rx, Sent, Tx};
use crate::error::{
    BuildError, BuildErrorKind, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError,
};
use crate::loom::sync::Arc;
use crate::loom::{AtomicBool, AtomicUsize, Ordering};
use crate::metrics::{Count, Counters, Metrics, RingFigures};
use crate::ring::mpmc::{Mpmc, Pop, Push};

// One `Flavor` lives in the queue's `Arc`; boxing the ring would add an indirection to
// every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Flavor<T> {
    Array(Mpmc<T>),
    Zero(Zero<T>),
}

pub(crate) struct Shared<T> {
    pub(crate) flavor: Flavor<T>,
    pub(crate) core: Core,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Set by `abort` and by the last receiver's drop: from then on receivers discard
    /// instead of receiving (an item a permit writes after the abort lands behind it).
    aborted: CachePadded<AtomicBool>,
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mpmc")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("policy", &self.core.policy)
            .field("closed", &self.is_closed())
            .finish()
    }
}

pub(crate) fn build<T>(
    capacity: usize,
    policy: Policy,
) -> Result<(Sender<T>, Receiver<T>), BuildError> {
    let flavor = if capacity == 0 {
        if policy == Policy::DropOldest {
            return Err(BuildError::new(BuildErrorKind::DropOldestRendezvous));
        }
        Flavor::Zero(Zero::new())
    } else {
        Flavor::Array(Mpmc::new(capacity)?)
    };
    let shared = Arc::new(Shared {
        flavor,
        core: Core::new(policy, false),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        aborted: CachePadded::new(AtomicBool::new(false)),
    });
    Ok((
        Sender::from_shared(shared.clone()),
        Receiver::from_shared(shared),
    ))
}

impl<T> Shared<T> {
    pub(crate) fn is_closed(&self) -> bool {
        match &self.flavor {
            Flavor::Array(ring) => ring.is_closed(),
            Flavor::Zero(zero) => zero.is_closed(),
        }
    }

    /// Closes (drain) and wakes every waiter. Returns `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let closed = match &self.flavor {
            Flavor::Array(ring) => ring.close(),
            Flavor::Zero(zero) => zero.close(),
        };
        self.core.wake_all();
        closed
    }

    /// Closes and discards what is queued; returns how many values this call discarded.
    pub(crate) fn abort(&self) -> usize {
        // Ordering: Release: set before the close, so a receiver that finds the queue
        // closed and then this flag (Acquire) knows to discard rather than receive.
        self.aborted.store(true, Ordering::Release);
        self.close();
        self.discard_all()
    }

    /// Whether the queue was aborted (or lost its last receiver).
    pub(crate) fn is_aborted(&self) -> bool {
        // Ordering: Acquire pairs with the Release store in `abort`.
        self.aborted.load(Ordering::Acquire)
    }

    /// Pops and drops everything queued, counting it as discarded. Any thread may do this:
    /// it pops like a receiver.
    pub(crate) fn discard_all(&self) -> usize {
        match &self.flavor {
            Flavor::Array(ring) => {
                struct Tally<'a> {
                    counters: &'a Counters,
                    n: usize,
                }
                impl Drop for Tally<'_> {
                    // Also runs if an item's destructor panics: popped items are counted.
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
                while let Pop::Item(item) = ring.pop() {
                    tally.n += 1;
                    drop(item);
                }
                tally.n
            }
            Flavor::Zero(zero) => {
                let n = zero.abort();
                if n > 0 {
                    self.core.counters.add(Count::Discarded, n);
                }
                n
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.flavor {
            Flavor::Array(ring) => ring.len(),
            Flavor::Zero(zero) => zero.len(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        match &self.flavor {
            Flavor::Array(ring) => ring.capacity(),
            Flavor::Zero(_) => 0,
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let figures = match &self.flavor {
            Flavor::Array(ring) => RingFigures {
                pushed: ring.pushed(),
                taken: ring.taken(),
                high_water: ring.high_water(),
                len: ring.len(),
                capacity: ring.capacity(),
            },
            Flavor::Zero(zero) => {
                let (sent, taken) = zero.counts();
                RingFigures {
                    pushed: sent,
                    taken,
                    high_water: 0,
                    len: zero.len(),
                    capacity: 0,
                }
            }
        };
        self.core.counters.snapshot(figures)
    }
}

impl<T> Tx<T> for &Shared<T> {
    fn core(&self) -> &Core {
        &self.core
    }

    #[inline]
    fn try_push(&mut self, value: T, evict: bool) -> Attempt<T> {
        match &self.flavor {
            Flavor::Array(ring) => match ring.push(value, evict) {
                Push::Pushed => {
                    self.core.items.notify_one();
                    Attempt::Pushed
                }
                Push::Evicted(old) => {
                    self.core.items.notify_one();
                    Attempt::Evicted(old)
                }
                Push::Full(v) => Attempt::Full(v),
                Push::Closed(v) => Attempt::Closed(v),
            },
            Flavor::Zero(zero) => zero.try_send(value),
        }
    }

    fn chain(&self) {
        if let Flavor::Array(ring) = &self.flavor {
            if ring.len() < ring.capacity() {
                self.core.room.notify_one();
            }
        }
    }
}

impl<T> Rx<T> for &Shared<T> {
    fn core(&self) -> &Core {
        &self.core
    }

    #[inline]
    fn try_pop(&mut self) -> Result<T, TryRecvError> {
        match &self.flavor {
            Flavor::Array(_) if self.is_aborted() => {
                // Aborted: whatever a permit wrote since is discarded, not received.
                self.discard_all();
                Err(TryRecvError::Closed)
            }
            Flavor::Array(ring) => match ring.pop() {
                Pop::Item(v) => {
                    self.core.room.notify_one();
                    Ok(v)
                }
                Pop::Empty => Err(TryRecvError::Empty),
                Pop::Closed => Err(TryRecvError::Closed),
            },
            Flavor::Zero(zero) => zero.try_recv(),
        }
    }

    fn chain(&self) {
        if let Flavor::Array(ring) = &self.flavor {
            if ring.len() > 0 {
                self.core.items.notify_one();
            }
        }
    }
}

/// The sending end of an MPMC queue, made by [`mpmc`](crate::mpmc) or
/// [`Builder::mpmc`](crate::Builder::mpmc). Clone it to get more senders; when the last one
/// is dropped the queue closes (receivers drain what is queued, then see `Closed`).
pub struct Sender<T> {
    pub(crate) shared: Arc<Shared<T>>,
    #[cfg(feature = "futures")]
    pub(crate) sink: super::compat::SinkState,
}

/// The receiving end of an MPMC queue. Clone it to get more receivers (each value goes to
/// one of them); when the last one is dropped the queue closes and what is queued is
/// dropped at once.
pub struct Receiver<T> {
    pub(crate) shared: Arc<Shared<T>>,
    #[cfg(feature = "futures")]
    pub(crate) stream: future::Place,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sender").field(&*self.shared).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Receiver").field(&*self.shared).finish()
    }
}

// === impl Sender ===

impl<T> Sender<T> {
    end_methods!(Mpmc);

    /// Sends `value` if there is room now (at capacity 0: if a receiver is waiting); never
    /// waits, whatever the policy.
    ///
    /// ```
    /// use pushpull::TrySendError;
    ///
    /// let (tx, _rx) = pushpull::mpmc(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match (&*self.shared).try_push(value, false) {
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
    /// use pushpull::{Builder, Policy, SendError};
    ///
    /// let (tx, _rx) = Builder::new(1).policy(Policy::Reject).mpmc();
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.send(2), Err(SendError::Overloaded(2)));
    /// ```
    pub fn send(&self, value: T) -> Result<Sent<T>, SendError<T>> {
        match self.send_until(value, None) {
            Ok(sent) => Ok(sent),
            Err(SendTimeoutError::Closed(v)) => Err(SendError::Closed(v)),
            Err(SendTimeoutError::Overloaded(v)) => Err(SendError::Overloaded(v)),
            Err(SendTimeoutError::Timeout(_)) => unreachable!("no deadline"),
        }
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for room. `Duration::MAX`
    /// waits forever.
    pub fn send_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        self.send_until(value, deadline_after(timeout))
    }

    /// Like [`send`](Self::send), waiting for room until `deadline`. A send that can
    /// complete at once does, even if the deadline has passed.
    pub fn send_deadline(
        &self,
        value: T,
        deadline: Instant,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        self.send_until(value, Some(deadline))
    }

    /// Sends `value` under the queue's policy, waiting for room asynchronously under
    /// [`Block`](Policy::Block). Works on any executor. See [`SendFuture`] for what dropping
    /// the future does.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = pushpull::mpmc(1);
    /// tx.send_async(1).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(1));
    /// # });
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(TxRef::Mpmc(&self.shared), value)
    }

    /// Like [`send_async`](Self::send_async), giving up when `deadline` completes: pass any
    /// future, for example your runtime's sleep (pinned, e.g. with `Box::pin`). On timeout
    /// the value comes back in [`SendTimeoutError::Timeout`]. A send that can complete at
    /// once does, even if the deadline is already due.
    pub fn send_async_deadline<D>(&self, value: T, deadline: D) -> SendDeadline<'_, T, D>
    where
        D: Future<Output = ()> + Unpin,
    {
        SendDeadline::new(SendFuture::new(TxRef::Mpmc(&self.shared), value), deadline)
    }

    /// Waits (blocking the thread) until there is room, under any policy, and reserves it:
    /// the [`Permit`]'s `send` then cannot fail for lack of room. Fails only if the queue is
    /// closed. At capacity 0, waits for a receiver and reserves it.
    pub fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        future::reserve_blocking(TxRef::Mpmc(&self.shared))
    }

    /// Reserves room if there is some now; never waits.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        future::try_reserve(TxRef::Mpmc(&self.shared)).map_err(|(_, e)| e)
    }

    /// Waits asynchronously for room and reserves it; see [`reserve`](Self::reserve). This
    /// makes a send cancel-safe: if the future is dropped, no value was handed over.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = pushpull::mpmc(1);
    /// let permit = tx.reserve_async().await.unwrap();
    /// let _ = permit.send(5);
    /// assert_eq!(rx.recv_async().await, Ok(5));
    /// # });
    /// ```
    pub fn reserve_async(&self) -> ReserveFuture<'_, T> {
        ReserveFuture::new(TxRef::Mpmc(&self.shared))
    }

    fn send_until(
        &self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        let shared = &*self.shared;
        match &shared.flavor {
            Flavor::Zero(zero) if shared.core.policy == Policy::Block => {
                zero_send_blocking(zero, value, deadline)
            }
            _ => super::send_blocking(&mut &*shared, value, deadline),
        }
    }
}

/// A blocking rendezvous send: wait in line until a receiver takes the value.
fn zero_send_blocking<T>(
    zero: &Zero<T>,
    value: T,
    deadline: Option<Instant>,
) -> Result<Sent<T>, SendTimeoutError<T>> {
    let mut slot = Some(value);
    let mut reg = ZeroReg::default();
    crate::wait::block_on(deadline, &mut |waker| match waker {
        Some(waker) => zero
            .poll_send(&mut slot, &mut reg, waker)
            .map(|r| r.map(|()| Sent::Queued).map_err(SendTimeoutError::Closed)),
        None => Poll::Ready(match zero.cancel_send(&mut reg) {
            // Still in line: the deadline passed before a receiver came.
            Some(v) => Err(SendTimeoutError::Timeout(v)),
            // A receiver took it just now.
            None => Ok(Sent::Queued),
        }),
    })
}

impl<T> Sender<T> {
    fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Self {
            shared,
            #[cfg(feature = "futures")]
            sink: Default::default(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Ordering: Relaxed: a new handle from an existing one keeps the count above zero.
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self::from_shared(self.shared.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        super::compat::release_sink(&mut self.sink, TxRef::Mpmc(&self.shared));
        // Ordering: AcqRel: the last sender's close happens after every other sender's
        // drop (their sends are before the close).
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

// === impl Receiver ===

impl<T> Receiver<T> {
    end_methods!(Mpmc);

    /// Receives a value if one is queued now (at capacity 0: if a sender is waiting);
    /// never waits.
    ///
    /// ```
    /// use pushpull::TryRecvError;
    ///
    /// let (tx, rx) = pushpull::mpmc(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        (&*self.shared).try_pop()
    }

    /// Receives a value, waiting until one is queued; fails once the queue is closed and
    /// drained. Blocks the thread: do not call it from async code (use
    /// [`recv_async`](Self::recv_async)).
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`. `Duration::MAX` waits forever.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Like [`recv`](Self::recv), waiting until `deadline`. A value already available is
    /// received even if the deadline has passed.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    /// Receives the next value asynchronously; fails once the queue is closed and drained.
    /// Works on any executor. Dropping the future never loses a value (see [`RecvFuture`]).
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(RxRef::Mpmc(&self.shared))
    }

    /// Like [`recv_async`](Self::recv_async), giving up with
    /// [`RecvTimeoutError::Timeout`] when `deadline` completes (any future, for example your
    /// runtime's sleep, pinned). A value already available is received even if the
    /// deadline is already due.
    pub fn recv_async_deadline<D>(&self, deadline: D) -> RecvDeadline<'_, T, D>
    where
        D: Future<Output = ()> + Unpin,
    {
        RecvDeadline::new(RecvFuture::new(RxRef::Mpmc(&self.shared)), deadline)
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let shared = &*self.shared;
        match &shared.flavor {
            Flavor::Zero(zero) => zero_recv_blocking(zero, &shared.core, deadline),
            Flavor::Array(_) => super::recv_blocking(&mut &*shared, deadline),
        }
    }
}

/// A blocking rendezvous receive: wait in line until a sender hands a value over.
fn zero_recv_blocking<T>(
    zero: &Zero<T>,
    core: &Core,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    let mut reg = ZeroReg::default();
    crate::wait::block_on(deadline, &mut |waker| match waker {
        Some(waker) => {
            let result = zero
                .poll_recv(&mut reg, waker)
                .map(|r| r.map_err(|()| RecvTimeoutError::Closed));
            if result.is_pending() {
                // A sender waiting in `reserve` waits for a receiver to stand in line.
                core.room.notify_one();
            }
            result
        }
        None => {
            // Give up our place; a value handed to us meanwhile is kept for the next receive,
            // which is the attempt below.
            zero.cancel_recv(&mut reg);
            Poll::Ready(match zero.try_recv() {
                Ok(v) => Ok(v),
                Err(TryRecvError::Closed) => Err(RecvTimeoutError::Closed),
                Err(TryRecvError::Empty) => Err(RecvTimeoutError::Timeout),
            })
        }
    })
}

impl<T> Receiver<T> {
    fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Self {
            #[cfg(feature = "futures")]
            stream: future::Place::for_rx(&RxRef::Mpmc(&shared)),
            shared,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // Ordering: Relaxed, as for `Sender::clone`.
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Self::from_shared(self.shared.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        future::withdraw_recv(&RxRef::Mpmc(&self.shared), &mut self.stream);
        // Ordering: AcqRel, as for `Sender::drop`.
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Every receiver gone: close, and drop what is queued right away.
            self.shared.abort();
        }
    }
}
