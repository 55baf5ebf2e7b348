//! Counters and their snapshot.
//!
//! `sent` and `received` are not counted at all: they follow from the ring indices, which
//! the fast path moves anyway. The other counters change only when a queue is overloaded or
//! closed, so the send and receive fast paths carry no counting read-modify-write.

use core::fmt;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicUsize, Ordering};

/// The counters that change only off the fast path. One cache line, apart from the indices.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    dropped_newest: AtomicUsize,
    evicted_oldest: AtomicUsize,
    rejected: AtomicUsize,
    discarded: CachePadded<AtomicUsize>,
    /// Of `discarded`: values a permit accepted but discarded before they entered the ring
    /// (the queue was aborted or closed since). They count in `sent` too.
    discarded_on_entry: AtomicUsize,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    DroppedNewest,
    EvictedOldest,
    Rejected,
    Discarded,
    /// Discarded before entering the ring: counts in `sent` and `discarded`.
    DiscardedOnEntry,
}

impl Counters {
    #[cold]
    pub(crate) fn add(&self, which: Count, n: usize) {
        let counter = match which {
            Count::DroppedNewest => &self.dropped_newest,
            Count::EvictedOldest => &self.evicted_oldest,
            Count::Rejected => &self.rejected,
            Count::Discarded => &*self.discarded,
            Count::DiscardedOnEntry => {
                // Ordering: Relaxed: a statistic.
                self.discarded.fetch_add(n, Ordering::Relaxed);
                &self.discarded_on_entry
            }
        };
        // Ordering: Relaxed: a statistic; nothing is published through it.
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Builds a snapshot from the counters and the ring's index-derived figures.
    pub(crate) fn snapshot(&self, ring: RingFigures) -> Metrics {
        // Ordering: Relaxed throughout: a snapshot taken while the queue runs.
        let load = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        let evicted_oldest = load(&self.evicted_oldest);
        let on_entry = load(&self.discarded_on_entry);
        let discarded = load(&self.discarded);
        Metrics {
            sent: ring.pushed as u64 + on_entry,
            // Items taken out through the head were received, evicted or discarded (those
            // discarded on entry never went through the head).
            received: (ring.taken as u64 + on_entry).saturating_sub(evicted_oldest + discarded),
            dropped_newest: load(&self.dropped_newest),
            evicted_oldest,
            rejected: load(&self.rejected),
            discarded,
            high_water: ring.high_water,
            len: ring.len,
            capacity: ring.capacity,
        }
    }
}

/// What a ring reports for a snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingFigures {
    pub(crate) pushed: usize,
    pub(crate) taken: usize,
    pub(crate) high_water: usize,
    pub(crate) len: usize,
    pub(crate) capacity: usize,
}

/// A snapshot of a queue's counters, from [`Sender::metrics`](crate::Sender::metrics) and
/// the same method on every handle.
///
/// The snapshot is taken while the queue runs, one counter at a time, so under concurrent
/// use the fields need not add up exactly; when the queue is quiescent they do:
///
/// `sent == received + evicted_oldest + discarded + len`
///
/// Counts are modulo the index range of the queue (2^61 and more items on 64-bit targets).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Values that entered the queue (including, with drop-oldest, those that evicted an
    /// older one). Values dropped-newest or rejected never entered.
    pub sent: u64,
    /// Values handed to a receiver.
    pub received: u64,
    /// Values a full [`DropNewest`](crate::Policy::DropNewest) queue discarded on send.
    pub dropped_newest: u64,
    /// Values a full [`DropOldest`](crate::Policy::DropOldest) queue evicted (and handed
    /// back to the sender).
    pub evicted_oldest: u64,
    /// Sends a full [`Reject`](crate::Policy::Reject) queue refused.
    pub rejected: u64,
    /// Queued values dropped by `abort` or because every receiver was gone.
    pub discarded: u64,
    /// The largest `len` the queue has had (see the ring docs for how it is kept exact).
    pub high_water: usize,
    /// `len` at the snapshot.
    pub len: usize,
    /// The queue's capacity.
    pub capacity: usize,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("sent", &self.sent)
            .field("received", &self.received)
            .field("dropped_newest", &self.dropped_newest)
            .field("evicted_oldest", &self.evicted_oldest)
            .field("rejected", &self.rejected)
            .field("discarded", &self.discarded)
            .field("high_water", &self.high_water)
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} received {} dropped_newest {} evicted_oldest {} rejected {} discarded {} \
             high_water {}/{} len {}",
            self.sent,
            self.received,
            self.dropped_newest,
            self.evicted_oldest,
            self.rejected,
            self.discarded,
            self.high_water,
            self.capacity,
            self.len
        )
    }
}
