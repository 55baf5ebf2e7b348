//! The MPMC handles: [`Sender`] and [`Receiver`]. Thin: every method is a line or two over
//! the generic code (`poll.rs`, `future.rs`, `permit.rs`, `iter.rs`).

use core::fmt;
use core::future::Future;
use std::time::{Duration, Instant};

use super::closer::Closer;
use super::flavor::{sealed::Recv, Mpmc};
use super::future::{
    ClosedFuture, RecvDeadline, RecvFuture, ReserveFuture, SendDeadline, SendFuture,
};
use super::iter::{Drain, IntoIter, Iter, TryIter};
use super::mpmc::MpmcQueue;
use super::permit::Permit;
use super::poll::{Rx, Tx};
use super::{deadline_after, Chan, Policy, Queue, Sent, Side};
use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::loom::sync::Arc;
use crate::loom::Ordering;
use crate::metrics::{Metrics, TxCounters};

type MpmcChan<T> = Chan<T, MpmcQueue<T>>;

/// The sending end of an MPMC queue, made by [`mpmc`](crate::mpmc) or
/// [`Builder::mpmc`](crate::Builder::mpmc). Clone it to get more senders; when the last one
/// is dropped the queue closes (receivers drain what is queued, then see `Closed`).
pub struct Sender<T> {
    chan: Arc<MpmcChan<T>>,
    /// This handle's overload counters (summed in `metrics()`).
    counters: Arc<TxCounters>,
    /// The queue's policy, kept here so that a send does not load it from the shared queue.
    policy: Policy,
    /// Whether the queue has a credit gate (kept here for the same reason).
    gated: bool,
    #[cfg(feature = "futures")]
    pub(crate) sink: super::compat::SinkState<Mpmc, T>,
}

/// The receiving end of an MPMC queue. Clone it to get more receivers (each value goes to
/// one of them); when the last one is dropped the queue closes and what is queued is
/// dropped at once (and counted in [`Metrics::discarded`]).
pub struct Receiver<T> {
    chan: Arc<MpmcChan<T>>,
    #[cfg(feature = "futures")]
    pub(crate) stream: <MpmcQueue<T> as Queue<T>>::Reg,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sender").field(&*self.chan).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Receiver").field(&*self.chan).finish()
    }
}

// === impl Sender ===

impl<T> Sender<T> {
    pub(crate) fn new(chan: Arc<MpmcChan<T>>) -> Self {
        Self {
            counters: chan.counters.attach(),
            policy: chan.policy,
            gated: chan.credit.is_some(),
            chan,
            #[cfg(feature = "futures")]
            sink: Default::default(),
        }
    }

    #[inline(always)]
    pub(crate) fn tx(&self) -> Tx<'_, T, MpmcQueue<T>> {
        Tx::new(&self.chan, &self.counters, self.policy, self.gated)
    }

    /// Sends `value` if there is room now (at capacity 0: if a receiver is waiting); never
    /// waits and counts nothing, whatever the policy.
    ///
    /// ```
    /// use pushpull::TrySendError;
    ///
    /// let (tx, _rx) = pushpull::mpmc(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    #[inline(always)]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().try_send(value) }
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
    /// let _ = tx.send(1).unwrap();
    /// assert_eq!(tx.send(2), Err(SendError::Overloaded(2)));
    /// ```
    #[inline(always)]
    pub fn send(&self, value: T) -> Result<Sent<T>, SendError<T>> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send(value) }
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for room. `Duration::MAX`
    /// waits forever.
    pub fn send_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_blocking(value, deadline_after(timeout)) }
    }

    /// Like [`send`](Self::send), waiting for room until `deadline`. A send that can complete
    /// at once does, even if the deadline has passed.
    pub fn send_deadline(
        &self,
        value: T,
        deadline: Instant,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_blocking(value, Some(deadline)) }
    }

    /// Sends `value` under the queue's policy, waiting for room asynchronously under
    /// [`Block`](Policy::Block). Works on any executor. See [`SendFuture`] for what dropping
    /// the future does.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = pushpull::mpmc(1);
    /// let _ = tx.send_async(1).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(1));
    /// # });
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may send.
        unsafe { SendFuture::new(self.tx(), value) }
    }

    /// Like [`send_async`](Self::send_async), giving up when `deadline` completes: pass any
    /// future, for example your runtime's sleep (pinned, e.g. with `Box::pin`). On timeout
    /// the value comes back in [`SendTimeoutError::Timeout`]. A send that can complete at
    /// once does, even if the deadline is already due.
    pub fn send_async_deadline<D>(&self, value: T, deadline: D) -> SendDeadline<'_, T, D, Mpmc>
    where
        D: Future<Output = ()> + Unpin,
    {
        SendDeadline::new(self.send_async(value), deadline)
    }

    /// Waits (blocking the thread) until there is room, under any policy, and reserves it:
    /// the [`Permit`]'s `send` then does not wait. Fails only if the queue is closed. At
    /// capacity 0, waits for a waiting receiver and speaks for it (see [`Permit`]).
    pub fn reserve(&self) -> Result<Permit<'_, T, Mpmc>, SendError<()>> {
        self.reserve_until(None).map_err(|e| match e {
            SendTimeoutError::Closed(()) | SendTimeoutError::Overloaded(()) => {
                SendError::Closed(())
            }
            SendTimeoutError::Timeout(()) => SendError::Closed(()),
        })
    }

    /// Like [`reserve`](Self::reserve), waiting at most `timeout`.
    pub fn reserve_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Permit<'_, T, Mpmc>, SendTimeoutError<()>> {
        self.reserve_until(deadline_after(timeout))
    }

    /// Like [`reserve`](Self::reserve), waiting until `deadline`.
    pub fn reserve_deadline(
        &self,
        deadline: Instant,
    ) -> Result<Permit<'_, T, Mpmc>, SendTimeoutError<()>> {
        self.reserve_until(Some(deadline))
    }

    fn reserve_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Permit<'_, T, Mpmc>, SendTimeoutError<()>> {
        // SAFETY: MPMC: any thread may reserve; the permit borrows `self`.
        unsafe {
            self.tx().reserve_blocking(deadline)?;
            Ok(Permit::new(self.tx()))
        }
    }

    /// Reserves room if there is some now; never waits.
    pub fn try_reserve(&self) -> Result<Permit<'_, T, Mpmc>, TrySendError<()>> {
        // SAFETY: as in `reserve_until`.
        unsafe {
            self.tx().try_reserve()?;
            Ok(Permit::new(self.tx()))
        }
    }

    /// Waits asynchronously for room and reserves it; see [`reserve`](Self::reserve). This
    /// makes a send cancel-safe: if the future is dropped, no value was handed over.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = pushpull::mpmc(1);
    /// let permit = tx.reserve_async().await.unwrap();
    /// let _ = permit.send(5).unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(5));
    /// # });
    /// ```
    pub fn reserve_async(&self) -> ReserveFuture<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may reserve.
        unsafe { ReserveFuture::new(self.tx()) }
    }

    /// The number of queued values. Other threads may change it at any moment.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is queued. Other threads may change that at any moment.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds [`capacity`](Self::capacity) values (a rendezvous queue is
    /// always full). Other threads may change that at any moment.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The most values the queue holds (0 for a rendezvous queue).
    pub fn capacity(&self) -> usize {
        self.chan.queue.capacity()
    }

    /// The policy the queue was built with.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Closes the queue (drain): sends fail from now on, receivers receive what is queued
    /// (and what outstanding permits send) and then see `Closed`. Wakes every waiting
    /// party. Returns `true` if this call closed the queue.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the queue and discards (drops) every queued value at once; returns how many
    /// (also counted in [`Metrics::discarded`]). Receivers see `Closed` from now on; waiting
    /// senders get their value back in `Closed`, and outstanding permits' sends fail.
    pub fn abort(&self) -> usize {
        self.chan.abort(Side::Sender).unwrap_or(0)
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

    /// Whether `self` and `other` are ends of the same queue.
    pub fn same_queue(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// The number of live senders of the queue.
    pub fn sender_count(&self) -> usize {
        self.chan.queue.handles().0
    }

    /// The number of live receivers of the queue.
    pub fn receiver_count(&self) -> usize {
        self.chan.queue.handles().1
    }

    /// This sender stops counting as one (the queue closes when the last sender is gone).
    /// Returns `false` if it had already. Used by `Sink::poll_close`.
    #[cfg(feature = "futures")]
    pub(crate) fn disconnect(&mut self) -> bool {
        if core::mem::replace(&mut self.sink.disconnected, true) {
            return false;
        }
        self.release_sender();
        true
    }

    fn release_sender(&self) {
        // Ordering: AcqRel: the last sender's close happens after every other sender's
        // drop (their sends are before the close).
        if self.chan.queue.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Ordering: Relaxed: a new handle from an existing one keeps the count above zero.
        self.chan.queue.senders.fetch_add(1, Ordering::Relaxed);
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.counters.detach(&self.counters);
        #[cfg(feature = "futures")]
        {
            let mut sink = core::mem::take(&mut self.sink);
            super::compat::release_sink(&mut sink, self.tx());
            if sink.disconnected {
                // `poll_close` released this sender already.
                return;
            }
        }
        self.release_sender();
    }
}

// === impl Receiver ===

impl<T> Receiver<T> {
    pub(crate) fn new(chan: Arc<MpmcChan<T>>) -> Self {
        Self {
            chan,
            #[cfg(feature = "futures")]
            stream: Default::default(),
        }
    }

    #[inline(always)]
    pub(crate) fn rx(&self) -> Rx<'_, T, MpmcQueue<T>> {
        Rx { chan: &self.chan }
    }

    /// Receives a value if one is queued now (at capacity 0: if a sender is waiting); never
    /// waits.
    ///
    /// ```
    /// use pushpull::TryRecvError;
    ///
    /// let (tx, rx) = pushpull::mpmc(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// let _ = tx.send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { self.rx().try_recv() }
    }

    /// Receives a value, waiting until one is queued; fails once the queue is closed and
    /// drained. Blocks the thread: do not call it from async code (use
    /// [`recv_async`](Self::recv_async)).
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        // SAFETY: MPMC: any thread may receive.
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
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { self.rx().recv_blocking(deadline_after(timeout)) }
    }

    /// Like [`recv`](Self::recv), waiting until `deadline`. A value already available is
    /// received even if the deadline has passed.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { self.rx().recv_blocking(Some(deadline)) }
    }

    /// Receives the next value asynchronously; fails once the queue is closed and drained.
    /// Works on any executor. Dropping the future never loses a value (see [`RecvFuture`]).
    pub fn recv_async(&self) -> RecvFuture<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { RecvFuture::new(self.rx()) }
    }

    /// Like [`recv_async`](Self::recv_async), giving up with
    /// [`RecvTimeoutError::Timeout`] when `deadline` completes (any future, for example your
    /// runtime's sleep, pinned). A value already available is received even if the deadline
    /// is already due.
    pub fn recv_async_deadline<D>(&self, deadline: D) -> RecvDeadline<'_, T, D, Mpmc>
    where
        D: Future<Output = ()> + Unpin,
    {
        RecvDeadline::new(self.recv_async(), deadline)
    }

    /// A blocking iterator: waits for each value, ends when the queue is closed and drained.
    /// Blocks the thread: not for async code.
    pub fn iter(&self) -> Iter<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { Iter::new(self.rx()) }
    }

    /// A non-blocking iterator over the values available now.
    pub fn try_iter(&self) -> TryIter<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { TryIter::new(self.rx()) }
    }

    /// A non-blocking iterator over at most the values queued now.
    pub fn drain(&self) -> Drain<'_, T, Mpmc> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { Drain::new(self.rx(), self.len()) }
    }

    /// The number of queued values. Other threads may change it at any moment.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is queued. Other threads may change that at any moment.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds [`capacity`](Self::capacity) values (a rendezvous queue is
    /// always full). Other threads may change that at any moment.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The most values the queue holds (0 for a rendezvous queue).
    pub fn capacity(&self) -> usize {
        self.chan.queue.capacity()
    }

    /// The policy the queue was built with.
    pub fn policy(&self) -> Policy {
        self.chan.policy
    }

    /// Closes the queue (drain): sends fail from now on, receivers receive what is queued
    /// (and what outstanding permits send) and then see `Closed`. Wakes every waiting
    /// party. Returns `true` if this call closed the queue.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the queue and discards (drops) every queued value at once; returns how many
    /// (also counted in [`Metrics::discarded`]). Receivers see `Closed` from now on.
    ///
    /// ```
    /// let (tx, rx) = pushpull::mpmc(8);
    /// for i in 0..5 {
    ///     let _ = tx.send(i).unwrap();
    /// }
    /// assert_eq!(rx.abort(), 5);
    /// assert!(rx.recv().is_err());
    /// assert_eq!(tx.metrics().discarded, 5);
    /// ```
    pub fn abort(&self) -> usize {
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
    /// let (tx, rx) = Builder::new(16).credits(0).mpmc::<u32>();
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

    /// Whether `self` and `other` are ends of the same queue.
    pub fn same_queue(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// The number of live senders of the queue.
    pub fn sender_count(&self) -> usize {
        self.chan.queue.handles().0
    }

    /// The number of live receivers of the queue.
    pub fn receiver_count(&self) -> usize {
        self.chan.queue.handles().1
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // Ordering: Relaxed, as for `Sender::clone`.
        self.chan.queue.receivers.fetch_add(1, Ordering::Relaxed);
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        {
            // SAFETY: MPMC: any thread may receive. A `Stream` registration is a future's:
            // never handed a value.
            unsafe { self.chan.queue.cancel_recv(&mut self.stream) };
        }
        // Ordering: AcqRel, as for `Sender::drop`.
        if self.chan.queue.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Every receiver gone: close, and drop what is queued right away.
            self.chan.abort(Side::Receiver);
        }
    }
}

impl<T> Recv<T> for Receiver<T> {
    fn recv_next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T, Mpmc>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T, Mpmc>;
    fn into_iter(self) -> Self::IntoIter {
        IntoIter::new(self)
    }
}
