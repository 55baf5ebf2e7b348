//! What a send does when the queue is full, and what it reports.

use core::fmt;

/// What a send does when the queue is full. Chosen when the queue is built; the same for
/// SPSC and MPMC queues, blocking and async sends.
///
/// Whatever the policy, [`try_send`](crate::Sender::try_send) never waits and reports
/// [`Full`](crate::TrySendError::Full).
///
/// Not exhaustive: a policy may be added. (Spilling to disk when full is a wrapper of its
/// own: `pushpull::spill`, with the `spill` feature.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
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
    /// The send fails at once with [`SendError::Overloaded`](crate::SendError::Overloaded),
    /// handing the value back.
    Reject,
}

/// What a successful send did. A send under the [`Block`](Policy::Block) or
/// [`Reject`](Policy::Reject) policy only ever returns `Queued`.
///
/// Exhaustive, unlike [`Policy`]: whatever policies come, a value is either in the queue
/// (`Queued`, wherever the queue keeps it), dropped, or in the queue with an older value
/// evicted.
#[derive(PartialEq, Eq, Clone, Copy)]
#[must_use = "a send under `DropNewest` or `DropOldest` may have dropped or evicted a value"]
pub enum Sent<T> {
    /// The value is in the queue (at capacity 0: a receiver took it).
    Queued,
    /// The queue was full: the value was dropped, and counted in
    /// [`Metrics::dropped_newest`](crate::Metrics::dropped_newest).
    DroppedNewest,
    /// The queue was full: the value is queued, and the oldest value was evicted to make
    /// room. Here it is (counted in
    /// [`Metrics::evicted_oldest`](crate::Metrics::evicted_oldest)).
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
