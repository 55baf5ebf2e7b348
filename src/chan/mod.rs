//! The public queues: MPMC [`Sender`]/[`Receiver`] and SPSC [`Producer`]/[`Consumer`], their
//! policy, closing and counters.
//!
//! Each operation that can wait has one poll routine here (`poll_send`, `poll_recv`),
//! written against the [`Tx`]/[`Rx`] traits that both flavors implement, and driven either
//! by a parked thread (blocking methods) or by a future's `Context` (async methods).

/// Methods every end of a queue has: sizes, closing, counters. `$flavor` names the
/// `SharedRef` variant and `Closer` constructor; the doc strings say what each flavor promises.
macro_rules! end_methods {
    (Spsc) => {
        end_methods!(
            Spsc,
            spsc,
            "The number of queued values.\n\nThe other end may change it at any moment, but some \
             answers stay true: seen from the producer, the length can only shrink; seen from the \
             consumer, it can only grow.",
            "Whether no value is queued (see [`len`](Self::len) for what stays true).",
            "Whether the queue holds [`capacity`](Self::capacity) values (see [`len`](Self::len) \
             for what stays true).",
            "The most values the queue holds.",
            "Closes the queue (drain): sends fail from now on, the consumer receives what is \
             queued and then sees `Closed`. Wakes every waiting party. Returns `true` if this call \
             closed the queue."
        );
    };
    (Mpmc) => {
        end_methods!(
            Mpmc,
            mpmc,
            "The number of queued values. Other threads may change it at any moment.",
            "Whether no value is queued. Other threads may change that at any moment.",
            "Whether the queue holds [`capacity`](Self::capacity) values (a rendezvous queue is \
             always full and empty). Other threads may change that at any moment.",
            "The most values the queue holds (0 for a rendezvous queue).",
            "Closes the queue (drain): sends fail from now on, receivers receive what is queued \
             and then see `Closed`. Wakes every waiting party. Returns `true` if this call closed \
             the queue."
        );

        /// Closes the queue and discards (drops) every queued value at once; returns how many
        /// this call discarded (also counted in [`Metrics::discarded`]). Receivers see `Closed`
        /// from now on; waiting senders get their value back in `Closed`.
        pub fn abort(&self) -> usize {
            self.shared.abort()
        }

        /// Whether `self` and `other` are ends of the same queue.
        pub fn same_queue(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.shared, &other.shared)
        }
    };
    ($flavor:ident, $closer:ident, $len:literal, $empty:literal, $full:literal, $cap:literal, $close:literal) => {
        #[doc = $len]
        pub fn len(&self) -> usize {
            self.shared.len()
        }

        #[doc = $empty]
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        #[doc = $full]
        pub fn is_full(&self) -> bool {
            self.len() == self.capacity()
        }

        #[doc = $cap]
        pub fn capacity(&self) -> usize {
            self.shared.capacity()
        }

        /// The policy the queue was built with.
        pub fn policy(&self) -> Policy {
            self.shared.core.policy
        }

        #[doc = $close]
        pub fn close(&self) -> bool {
            self.shared.close()
        }

        /// Whether the queue is closed.
        pub fn is_closed(&self) -> bool {
            self.shared.is_closed()
        }

        /// A handle that can close or abort the queue from anywhere, without being an end:
        /// it does not keep the queue open.
        pub fn closer(&self) -> crate::Closer<T> {
            crate::Closer::$closer(self.shared.clone())
        }

        /// A future that resolves when the queue is closed.
        pub fn closed(&self) -> ClosedFuture<'_, T> {
            ClosedFuture::new(SharedRef::$flavor(&self.shared))
        }

        /// A snapshot of the queue's counters.
        pub fn metrics(&self) -> Metrics {
            self.shared.metrics()
        }
    };
}

#[cfg(feature = "futures")]
pub(crate) mod compat;
pub(crate) mod future;
pub(crate) mod iter;
pub(crate) mod mpmc;
pub(crate) mod spsc;
pub(crate) mod zero;

use core::fmt;
use core::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{BuildError, RecvError, SendError, SendTimeoutError, TryRecvError};
use crate::metrics::{Count, Counters};
use crate::wait::{Registration, WaitList};

pub use future::{
    ClosedFuture, Permit, RecvDeadline, RecvFuture, ReserveFuture, SendDeadline, SendFuture,
};
pub use iter::{Drain, IntoIter, Iter, TryIter};
pub use mpmc::{Receiver, Sender};
pub use spsc::{Consumer, Producer};

/// What a send does when the queue is full. Chosen when the queue is built; the same for
/// SPSC and MPMC queues, blocking and async sends.
///
/// Whatever the policy, [`try_send`](Sender::try_send) never waits and reports
/// [`Full`](crate::TrySendError::Full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// The send waits (parks the thread, or awaits) until there is room. The default.
    #[default]
    Block,
    /// The value being sent is dropped (and counted); the send returns
    /// [`Sent::DroppedNewest`] at once.
    DropNewest,
    /// The oldest queued value is evicted to make room and handed back in
    /// [`Sent::Evicted`]; this works while receivers are receiving concurrently. Not
    /// available at capacity 0, where nothing is ever queued.
    DropOldest,
    /// The send fails at once with [`SendError::Overloaded`], handing the value back.
    Reject,
}

/// What a successful send did. A send under the [`Block`](Policy::Block) or
/// [`Reject`](Policy::Reject) policy only ever returns `Queued`.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum Sent<T> {
    /// The value is in the queue (at capacity 0: a receiver took it).
    Queued,
    /// The queue was full: the value was dropped, and counted in
    /// [`Metrics::dropped_newest`](crate::Metrics::dropped_newest).
    DroppedNewest,
    /// The queue was full: the value is queued, and the oldest value was evicted to make
    /// room. Here it is.
    Evicted(T),
}

impl<T> Sent<T> {
    /// Whether the value sent is now in the queue (`Queued` or `Evicted`).
    pub fn is_queued(&self) -> bool {
        !matches!(self, Self::DroppedNewest)
    }

    /// The evicted value, if any.
    pub fn evicted(self) -> Option<T> {
        match self {
            Self::Evicted(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> fmt::Debug for Sent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Queued => "Queued",
            Self::DroppedNewest => "DroppedNewest",
            Self::Evicted(_) => "Evicted(..)",
        })
    }
}

/// Builds a queue with a capacity and a [`Policy`].
///
/// ```
/// use pushpull::{Builder, Policy, Sent};
///
/// let (tx, rx) = Builder::new(2).policy(Policy::DropOldest).mpmc::<u32>();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(tx.send(3).unwrap(), Sent::Evicted(1));
/// assert_eq!(rx.try_recv(), Ok(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a builder does nothing until a queue is built"]
pub struct Builder {
    capacity: usize,
    policy: Policy,
}

impl Builder {
    /// A builder for a queue that holds at most `capacity` values, with the
    /// [`Block`](Policy::Block) policy.
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            policy: Policy::Block,
        }
    }

    /// Sets what a send does when the queue is full.
    pub const fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds an MPMC queue. Capacity 0 makes a rendezvous queue: a send completes only when
    /// a receiver takes the value.
    ///
    /// # Panics
    ///
    /// If the configuration is impossible (see [`try_mpmc`](Self::try_mpmc)), with the
    /// error's message, before anything is allocated.
    #[must_use]
    pub fn mpmc<T>(self) -> (Sender<T>, Receiver<T>) {
        self.try_mpmc().unwrap_or_else(|e| panic!("pushpull: {e}"))
    }

    /// Builds an MPMC queue, or says why it cannot: a capacity too large to count or to
    /// allocate, or [`DropOldest`](Policy::DropOldest) at capacity 0.
    pub fn try_mpmc<T>(self) -> Result<(Sender<T>, Receiver<T>), BuildError> {
        mpmc::build(self.capacity, self.policy)
    }

    /// Builds an SPSC queue.
    ///
    /// # Panics
    ///
    /// If the configuration is impossible (see [`try_spsc`](Self::try_spsc)), with the
    /// error's message, before anything is allocated.
    #[must_use]
    pub fn spsc<T>(self) -> (Producer<T>, Consumer<T>) {
        self.try_spsc().unwrap_or_else(|e| panic!("pushpull: {e}"))
    }

    /// Builds an SPSC queue, or says why it cannot: capacity 0, or a capacity too large to
    /// count or to allocate.
    pub fn try_spsc<T>(self) -> Result<(Producer<T>, Consumer<T>), BuildError> {
        spsc::build(self.capacity, self.policy)
    }
}

/// An MPMC queue of `capacity` with the [`Block`](Policy::Block) policy. Capacity 0 is a
/// rendezvous.
///
/// ```
/// let (tx, rx) = pushpull::mpmc(8);
/// std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.send(i).unwrap();
///     }
/// });
/// assert_eq!(rx.iter().sum::<i32>(), 4950);
/// ```
///
/// # Panics
///
/// If `capacity` is too large to count or to allocate; see [`Builder::try_mpmc`].
#[must_use]
pub fn mpmc<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    Builder::new(capacity).mpmc()
}

/// An SPSC queue of `capacity` (at least 1) with the [`Block`](Policy::Block) policy.
///
/// ```
/// let (mut tx, mut rx) = pushpull::spsc(8);
/// std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.send(i).unwrap();
///     }
/// });
/// assert_eq!(rx.iter().sum::<i32>(), 4950);
/// ```
///
/// # Panics
///
/// If `capacity` is 0, or too large to count or to allocate; see [`Builder::try_spsc`].
#[must_use]
pub fn spsc<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    Builder::new(capacity).spsc()
}

// === impl Core ===

/// What every queue shares besides its ring: policy, counters, and who waits for what.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) policy: Policy,
    pub(crate) counters: Counters,
    /// Receivers waiting for an item.
    pub(crate) items: WaitList,
    /// Senders waiting for room.
    pub(crate) room: WaitList,
    /// Parties waiting for the queue to close.
    pub(crate) closing: WaitList,
}

impl Core {
    /// `single_parties`: one receiver and one sender (SPSC), so each of `items` and `room`
    /// has at most one waiter at a time.
    pub(crate) fn new(policy: Policy, single_parties: bool) -> Self {
        let list = if single_parties {
            WaitList::single
        } else {
            WaitList::new
        };
        Self {
            policy,
            counters: Counters::default(),
            items: list(),
            room: list(),
            closing: WaitList::new(),
        }
    }

    /// Wakes every waiter of every kind: the queue closed.
    pub(crate) fn wake_all(&self) {
        self.items.notify_all();
        self.room.notify_all();
        self.closing.notify_all();
    }
}

/// What a non-waiting push attempt did.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    Pushed,
    Evicted(T),
    Full(T),
    Closed(T),
}

/// The sending side of either flavor, as the shared poll routines see it.
pub(crate) trait Tx<T> {
    fn core(&self) -> &Core;
    /// Pushes without waiting (evicting the oldest item if `evict`), and on success
    /// notifies a waiting receiver.
    fn try_push(&mut self, value: T, evict: bool) -> Attempt<T>;

    /// After a send that had waited completes: if other senders may wait and there is room
    /// left, wake the next one (see "chain" in the `wait` module docs).
    fn chain(&self) {}
}

/// The receiving side of either flavor, as the shared poll routines see it.
pub(crate) trait Rx<T> {
    fn core(&self) -> &Core;
    /// Pops without waiting, and on success notifies a waiting sender.
    fn try_pop(&mut self) -> Result<T, TryRecvError>;

    /// After a receive that had waited completes: if other receivers may wait and items are
    /// left, wake the next one (see "chain" in the `wait` module docs).
    fn chain(&self) {}
}

/// One send under the queue's policy, never waiting. `Err(value)` means: full, and the
/// policy is to wait.
pub(crate) fn send_once<T>(
    tx: &mut impl Tx<T>,
    value: T,
) -> Result<Result<Sent<T>, SendError<T>>, T> {
    let policy = tx.core().policy;
    match tx.try_push(value, policy == Policy::DropOldest) {
        Attempt::Pushed => Ok(Ok(Sent::Queued)),
        Attempt::Evicted(old) => {
            tx.core().counters.add(Count::EvictedOldest, 1);
            Ok(Ok(Sent::Evicted(old)))
        }
        Attempt::Closed(v) => Ok(Err(SendError::Closed(v))),
        Attempt::Full(v) => match policy {
            Policy::Block | Policy::DropOldest => Err(v),
            Policy::Reject => {
                tx.core().counters.add(Count::Rejected, 1);
                Ok(Err(SendError::Overloaded(v)))
            }
            Policy::DropNewest => {
                tx.core().counters.add(Count::DroppedNewest, 1);
                drop(v);
                Ok(Ok(Sent::DroppedNewest))
            }
        },
    }
}

/// The poll routine of a waiting send: try; register; re-check. `value` holds the value
/// while the send waits and is `None` once the send is done.
pub(crate) fn poll_send<T>(
    tx: &mut impl Tx<T>,
    value: &mut Option<T>,
    reg: &mut Registration,
    waker: &Waker,
) -> Poll<Result<Sent<T>, SendError<T>>> {
    let waited = reg.is_registered();
    // A notification received since the last poll is used up by this attempt.
    tx.core().room.take_notification(reg);
    let v = value.take().expect("send polled after completion");
    let v = match send_once(tx, v) {
        Ok(done) => {
            tx.core().room.cancel(reg);
            if waited {
                tx.chain();
            }
            return Poll::Ready(done);
        }
        Err(v) => v,
    };
    tx.core().room.register(reg, waker);
    // Re-check: a receiver may have made room between the attempt and the registration,
    // and its notification would then have found nobody registered.
    match send_once(tx, v) {
        Ok(done) => {
            tx.core().room.cancel(reg);
            Poll::Ready(done)
        }
        Err(v) => {
            *value = Some(v);
            Poll::Pending
        }
    }
}

/// The poll routine of a waiting receive: try; register; re-check.
pub(crate) fn poll_recv<T>(
    rx: &mut impl Rx<T>,
    reg: &mut Registration,
    waker: &Waker,
) -> Poll<Result<T, RecvError>> {
    let waited = reg.is_registered();
    rx.core().items.take_notification(reg);
    match rx.try_pop() {
        Ok(v) => {
            rx.core().items.cancel(reg);
            if waited {
                rx.chain();
            }
            return Poll::Ready(Ok(v));
        }
        Err(TryRecvError::Closed) => {
            rx.core().items.cancel(reg);
            return Poll::Ready(Err(RecvError));
        }
        Err(TryRecvError::Empty) => {}
    }
    rx.core().items.register(reg, waker);
    // Re-check: an item may have been pushed between the attempt and the registration.
    match rx.try_pop() {
        Ok(v) => {
            rx.core().items.cancel(reg);
            Poll::Ready(Ok(v))
        }
        Err(TryRecvError::Closed) => {
            rx.core().items.cancel(reg);
            Poll::Ready(Err(RecvError))
        }
        Err(TryRecvError::Empty) => Poll::Pending,
    }
}

/// Blocking send with an optional deadline.
pub(crate) fn send_blocking<T>(
    tx: &mut impl Tx<T>,
    value: T,
    deadline: Option<Instant>,
) -> Result<Sent<T>, SendTimeoutError<T>> {
    let mut slot = Some(value);
    let spun = crate::wait::spin(&mut || {
        let v = slot.take().expect("value present while spinning");
        match send_once(tx, v) {
            Ok(done) => Some(done),
            Err(v) => {
                slot = Some(v);
                None
            }
        }
    });
    if let Some(done) = spun {
        return done.map_err(Into::into);
    }
    let mut reg = Registration::new();
    crate::wait::block_on(deadline, &mut |waker| match waker {
        Some(waker) => poll_send(tx, &mut slot, &mut reg, waker).map(|r| r.map_err(Into::into)),
        None => {
            // The deadline passed: give up our place (passing on a wake-up we took), then
            // hand the value back.
            tx.core().room.cancel(&mut reg);
            let v = slot.take().expect("value present until the send completes");
            Poll::Ready(match send_once(tx, v) {
                Ok(done) => done.map_err(Into::into),
                Err(v) => Err(SendTimeoutError::Timeout(v)),
            })
        }
    })
}

/// Blocking receive with an optional deadline.
pub(crate) fn recv_blocking<T>(
    rx: &mut impl Rx<T>,
    deadline: Option<Instant>,
) -> Result<T, crate::RecvTimeoutError> {
    use crate::RecvTimeoutError as E;
    let spun = crate::wait::spin(&mut || match rx.try_pop() {
        Ok(v) => Some(Ok(v)),
        Err(TryRecvError::Closed) => Some(Err(E::Closed)),
        Err(TryRecvError::Empty) => None,
    });
    if let Some(done) = spun {
        return done;
    }
    let mut reg = Registration::new();
    crate::wait::block_on(deadline, &mut |waker| match waker {
        Some(waker) => poll_recv(rx, &mut reg, waker).map(|r| r.map_err(Into::into)),
        None => {
            rx.core().items.cancel(&mut reg);
            Poll::Ready(match rx.try_pop() {
                Ok(v) => Ok(v),
                Err(TryRecvError::Closed) => Err(E::Closed),
                Err(TryRecvError::Empty) => Err(E::Timeout),
            })
        }
    })
}

// === impl Closer ===

/// A handle that closes or aborts a queue from anywhere, for a supervisor: made by the
/// `closer()` method of any end, cloneable, and not an end itself (it does not keep the
/// queue open, and the queue closes when its ends are gone as usual).
///
/// ```
/// let (tx, rx) = pushpull::mpmc(4);
/// let closer = tx.closer();
/// tx.send(1).unwrap();
/// closer.close();
/// assert!(tx.send(2).is_err());
/// assert_eq!(rx.recv(), Ok(1)); // drain
/// assert!(rx.recv().is_err());
/// ```
pub struct Closer<T> {
    inner: CloserInner<T>,
}

enum CloserInner<T> {
    Spsc(crate::loom::sync::Arc<spsc::Shared<T>>),
    Mpmc(crate::loom::sync::Arc<mpmc::Shared<T>>),
}

impl<T> Closer<T> {
    pub(crate) fn spsc(shared: crate::loom::sync::Arc<spsc::Shared<T>>) -> Self {
        Self {
            inner: CloserInner::Spsc(shared),
        }
    }

    pub(crate) fn mpmc(shared: crate::loom::sync::Arc<mpmc::Shared<T>>) -> Self {
        Self {
            inner: CloserInner::Mpmc(shared),
        }
    }

    /// Closes the queue (drain): sends fail from now on, receivers receive what is queued
    /// and then see `Closed`. Wakes every waiting party. Returns `true` if this call closed
    /// the queue.
    pub fn close(&self) -> bool {
        match &self.inner {
            CloserInner::Spsc(s) => s.close(),
            CloserInner::Mpmc(s) => s.close(),
        }
    }

    /// Closes the queue and discards every queued value; returns how many this call
    /// discarded.
    ///
    /// On an MPMC queue the values are dropped at once. On an SPSC queue only the consumer
    /// takes values out (that keeps its receive free of read-modify-writes), so the consumer
    /// discards them at its next call or when it is dropped, and this returns 0; see
    /// [`Producer::abort`]. Either way they are counted in
    /// [`Metrics::discarded`](crate::Metrics::discarded) and no receiver gets them.
    pub fn abort(&self) -> usize {
        match &self.inner {
            CloserInner::Spsc(s) => {
                s.request_abort();
                0
            }
            CloserInner::Mpmc(s) => s.abort(),
        }
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            CloserInner::Spsc(s) => s.is_closed(),
            CloserInner::Mpmc(s) => s.is_closed(),
        }
    }

    /// The number of queued values.
    pub fn len(&self) -> usize {
        match &self.inner {
            CloserInner::Spsc(s) => s.len(),
            CloserInner::Mpmc(s) => s.len(),
        }
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the queue's counters.
    pub fn metrics(&self) -> crate::Metrics {
        match &self.inner {
            CloserInner::Spsc(s) => s.metrics(),
            CloserInner::Mpmc(s) => s.metrics(),
        }
    }
}

impl<T> Clone for Closer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: match &self.inner {
                CloserInner::Spsc(s) => CloserInner::Spsc(s.clone()),
                CloserInner::Mpmc(s) => CloserInner::Mpmc(s.clone()),
            },
        }
    }
}

impl<T> fmt::Debug for Closer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            CloserInner::Spsc(s) => f.debug_tuple("Closer").field(&**s).finish(),
            CloserInner::Mpmc(s) => f.debug_tuple("Closer").field(&**s).finish(),
        }
    }
}

/// `now + timeout`, or no deadline if that overflows (`Duration::MAX` waits forever).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
