//! [`Builder`] and the two shortcut constructors.

use super::mpmc::MpmcQueue;
use super::spsc::SpscQueue;
use super::{Chan, Consumer, Policy, Producer, Receiver, Sender};
use crate::error::{BuildError, BuildErrorKind};
use crate::loom::sync::Arc;

/// Builds a queue with a capacity, a [`Policy`] and options.
///
/// ```
/// use pushpull::{Builder, Policy, Sent};
///
/// let (tx, rx) = Builder::new(2).policy(Policy::DropOldest).mpmc::<u32>();
/// let _ = tx.send(1).unwrap();
/// let _ = tx.send(2).unwrap();
/// assert_eq!(tx.send(3).unwrap(), Sent::Evicted(1));
/// assert_eq!(rx.try_recv(), Ok(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a builder does nothing until a queue is built"]
pub struct Builder {
    capacity: usize,
    policy: Policy,
    exact_high_water: bool,
    credits: Option<usize>,
}

impl Builder {
    /// A builder for a queue that holds at most `capacity` values, with the
    /// [`Block`](Policy::Block) policy.
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            policy: Policy::Block,
            exact_high_water: false,
            credits: None,
        }
    }

    /// Sets what a send does when the queue is full.
    pub const fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Keeps [`Metrics::high_water`](crate::Metrics::high_water) exact: senders re-read the
    /// receivers' position whenever a send could raise the mark, instead of only when the
    /// queue looks full. This costs a read of a cache line the receivers write, on most
    /// sends while the queue is nearly empty (see `docs/PERFORMANCE.md`); without it the mark
    /// is a sample of the peak, exact once the queue has been full.
    pub const fn exact_high_water(mut self) -> Self {
        self.exact_high_water = true;
        self
    }

    /// Gives the queue a credit gate holding `initial` credits (0 is allowed: nothing flows
    /// until the consumer grants): consumer-driven flow control, as HTTP/2 and gRPC
    /// windows. Each value that enters the queue spends a credit; a receive gives none
    /// back; the consumer grants more with [`Receiver::grant`] or [`Consumer::grant`]. So
    /// the values in flight (sent, not yet received) never exceed the credits granted
    /// minus the values received.
    ///
    /// Out of credit is handled like a full queue under the [`Policy`]: `Block` waits (for a
    /// credit, then for room), `DropNewest` drops the value, `Reject` rejects it, and
    /// `DropOldest` puts the value in the place of the oldest queued value (evicted and
    /// handed back in [`Sent::Evicted`](crate::Sent::Evicted)), whose credit it takes over;
    /// with nothing queued to evict, it waits for a credit. An eviction never spends a
    /// credit. A send that does not complete (cancelled, timed out, refused, closed) and a
    /// [`Permit`](crate::Permit) dropped unused give their credit back; closing the queue
    /// wakes every send waiting for credit. A grant is cut so that at most `usize::MAX / 2`
    /// credits are available (credits given back afterwards are not cut); counts never
    /// overflow.
    ///
    /// ```
    /// use pushpull::{Builder, TrySendError};
    ///
    /// let (tx, rx) = Builder::new(8).credits(2).mpmc::<u32>();
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// // Room in the queue, but no credit: the consumer has not asked for more.
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    /// assert_eq!(rx.recv(), Ok(1));
    /// rx.grant(1);
    /// tx.try_send(3).unwrap();
    /// ```
    ///
    /// A queue built without a gate pays nothing for this feature.
    pub const fn credits(mut self, initial: usize) -> Self {
        self.credits = Some(initial);
        self
    }

    /// Builds an MPMC queue. Capacity 0 makes a rendezvous queue: a send completes only when
    /// a receiver is there for the value (waiting, or taking it).
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
        if self.capacity == 0 && self.policy == Policy::DropOldest {
            return Err(BuildError::new(BuildErrorKind::DropOldestRendezvous));
        }
        crate::loom::barrier::init();
        let queue = MpmcQueue::new(
            self.capacity,
            self.policy == Policy::DropOldest,
            self.exact_high_water,
        )?;
        let chan = Arc::new(Chan::new(queue, self.policy, self.credits));
        Ok((Sender::new(chan.clone()), Receiver::new(chan)))
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
        if self.capacity == 0 {
            return Err(BuildError::new(BuildErrorKind::ZeroCapacity));
        }
        crate::loom::barrier::init();
        let queue = SpscQueue::new(
            self.capacity,
            self.policy == Policy::DropOldest,
            self.exact_high_water,
        )?;
        let chan = Arc::new(Chan::new(queue, self.policy, self.credits));
        Ok((Producer::new(chan.clone()), Consumer::new(chan)))
    }
}

/// An MPMC queue of `capacity` with the [`Block`](Policy::Block) policy. Capacity 0 is a
/// rendezvous.
///
/// ```
/// let (tx, rx) = pushpull::mpmc(8);
/// std::thread::spawn(move || {
///     for i in 0..100 {
///         let _ = tx.send(i).unwrap();
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
///         let _ = tx.send(i).unwrap();
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
