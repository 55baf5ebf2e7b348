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
}

impl Builder {
    /// A builder for a queue that holds at most `capacity` values, with the
    /// [`Block`](Policy::Block) policy.
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            policy: Policy::Block,
            exact_high_water: false,
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
        let chan = Arc::new(Chan::new(queue, self.policy));
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
        let chan = Arc::new(Chan::new(queue, self.policy));
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
