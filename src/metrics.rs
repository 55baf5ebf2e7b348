//! Counters and their snapshot.
//!
//! `sent` and `received` are not counted at all: they follow from the ring indices, which the
//! fast path moves anyway. The overload counters (dropped, evicted, rejected) change only when
//! a queue is full, and each sending handle has its own (summed in the snapshot), so an
//! overloaded queue does not make its senders contend on one counter. Discards (abort, every
//! receiver gone) are rare and counted once per queue. The fast paths of send and receive
//! carry no counting read-modify-write.

use core::fmt;

use crate::loom::sync::{lock, Arc, Mutex};
use crate::loom::{AtomicUsize, Ordering};

/// One sending handle's overload counters.
#[derive(Debug, Default)]
pub(crate) struct TxCounters {
    dropped_newest: AtomicUsize,
    evicted_oldest: AtomicUsize,
    rejected: AtomicUsize,
    /// Batch sends (`try_send_batch`, `send_batch`) that sent at least one value.
    batches: AtomicUsize,
    /// Sends (and reservations) that waited for credit.
    credit_waits: AtomicUsize,
    /// Sends (and reservations) that waited for room.
    send_waits: AtomicUsize,
}

/// Which overload counter to bump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    DroppedNewest,
    EvictedOldest,
    Rejected,
    Batch,
    CreditWait,
    SendWait,
}

impl TxCounters {
    #[cold]
    pub(crate) fn add(&self, which: Count) {
        let c = match which {
            Count::DroppedNewest => &self.dropped_newest,
            Count::EvictedOldest => &self.evicted_oldest,
            Count::Rejected => &self.rejected,
            Count::Batch => &self.batches,
            Count::CreditWait => &self.credit_waits,
            Count::SendWait => &self.send_waits,
        };
        // Ordering: Relaxed: a statistic. A read-modify-write because a handle may be shared
        // by several threads (`&Sender`), but on this handle's own line.
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> [u64; 6] {
        // Ordering: Relaxed: a snapshot.
        let l = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        [
            l(&self.dropped_newest),
            l(&self.evicted_oldest),
            l(&self.rejected),
            l(&self.batches),
            l(&self.credit_waits),
            l(&self.send_waits),
        ]
    }
}

/// Every sending handle's counters, and those of handles already gone.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Handles>,
    /// Batch receives that took at least one value (one read-modify-write per batch).
    batches_received: AtomicUsize,
}

#[derive(Debug, Default)]
struct Handles {
    live: Vec<Arc<TxCounters>>,
    retired: [u64; 6],
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Handles::default()),
            batches_received: AtomicUsize::new(0),
        }
    }

    /// A batch receive took values.
    pub(crate) fn count_batch_received(&self) {
        // Ordering: Relaxed: a statistic.
        self.batches_received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counters for a new sending handle.
    pub(crate) fn attach(&self) -> Arc<TxCounters> {
        let c = Arc::new(TxCounters::default());
        lock(&self.inner).live.push(c.clone());
        c
    }

    /// A sending handle is gone: its counts move to the retired totals.
    pub(crate) fn detach(&self, c: &Arc<TxCounters>) {
        let mut h = lock(&self.inner);
        if let Some(p) = h.live.iter().position(|x| Arc::ptr_eq(x, c)) {
            h.live.swap_remove(p);
        }
        for (r, v) in h.retired.iter_mut().zip(c.load()) {
            *r += v;
        }
    }

    fn totals(&self) -> [u64; 6] {
        let h = lock(&self.inner);
        let mut t = h.retired;
        for c in &h.live {
            for (t, v) in t.iter_mut().zip(c.load()) {
                *t += v;
            }
        }
        t
    }

    /// Builds a snapshot from the counters, the queue's index-derived figures (read by
    /// `figures`) and its credit gate's `(granted, available)`.
    ///
    /// `received` is derived: the values that left through the head, less the evicted and
    /// discarded ones. An eviction moves the head first and is counted just after, so the
    /// counters are read after the figures, and the pair is read again (a bounded number of
    /// times) until the counters did not move across a read of the figures. Then `received`
    /// can only count as received the evictions in progress at that instant: at most one
    /// per evicting sender, never fewer than the true count. If the counters never settle
    /// (senders evicting without pause), the same excess bound holds, but evictions
    /// counted between the two reads may make `received` read low; it is kept within
    /// `0..=sent` in every case, and `sent` is then read once more, last, so that it is
    /// never below `evicted_oldest`.
    pub(crate) fn snapshot(
        &self,
        figures: impl Fn() -> Figures,
        credit: Option<(usize, usize)>,
    ) -> Metrics {
        let mut f = figures();
        let mut counts = self.totals();
        let mut settled = false;
        for _ in 0..64 {
            let (f2, again) = (figures(), self.totals());
            f = f2;
            if again == counts {
                settled = true;
                break;
            }
            counts = again;
        }
        if !settled {
            // The last counters were read after the figures: evictions they count may be
            // of values the figures' `pushed` missed (a sender pushed and evicted in
            // between). Every evicted value was pushed before it was counted, so `pushed`
            // read now covers them: `evicted_oldest <= sent` holds in every snapshot.
            f.pushed = figures().pushed;
        }
        let [dropped_newest, evicted_oldest, rejected, batches_sent, credit_waits, send_waits] =
            counts;
        let (credits_granted, credits_available) = credit.unwrap_or((0, 0));
        // `taken` counts every value that left through the head: received, evicted or
        // discarded. Positions count modulo `f.range` (0: the whole u64 range).
        let out = evicted_oldest.wrapping_add(f.discarded);
        let received = match f.range {
            // Below zero: counted evictions not yet seen in the head.
            0 if f.taken < out => 0,
            0 => (f.taken - out).min(f.pushed),
            range => {
                let received = (f.taken % range + range - out % range) % range;
                let sent = f.pushed % range;
                let ahead = (received + range - sent) % range < range / 2;
                if sent < range / 2 && received > sent {
                    // Not wrapped yet: above `sent` by a little (the head read after
                    // pushes the tail figure missed) or below zero (wrapped backwards).
                    if received > range / 2 {
                        0
                    } else {
                        sent
                    }
                } else if ahead {
                    sent
                } else {
                    received
                }
            }
        };
        Metrics {
            sent: f.pushed,
            received,
            dropped_newest,
            evicted_oldest,
            rejected,
            discarded: f.discarded,
            high_water: f.high_water,
            len: f.len,
            capacity: f.capacity,
            batches_sent,
            // Ordering: Relaxed: a statistic.
            batches_received: self.batches_received.load(Ordering::Relaxed) as u64,
            credits_granted: credits_granted as u64,
            credits_spent: credits_granted.wrapping_sub(credits_available) as u64,
            credits_available: credits_available as u64,
            credit_waits,
            send_waits,
        }
    }
}

/// What a flavor reports for a snapshot.
///
/// (`pub` in a private module: the flavor trait names it; it is not part of the API.)
#[derive(Debug, Clone, Copy, Default)]
#[allow(unreachable_pub)]
pub struct Figures {
    /// Values that entered the queue (modulo `range`).
    pub(crate) pushed: u64,
    /// Values that left it through the head: received, evicted or discarded (modulo `range`).
    pub(crate) taken: u64,
    /// Values discarded by abort or because every receiver was gone.
    pub(crate) discarded: u64,
    /// The modulus of `pushed` and `taken` (0: the whole u64 range).
    pub(crate) range: u64,
    pub(crate) high_water: usize,
    pub(crate) len: usize,
    pub(crate) capacity: usize,
}

/// A snapshot of a queue's counters, from [`Sender::metrics`](crate::Sender::metrics) and
/// the same method on every handle and on a [`Closer`](crate::Closer).
///
/// The snapshot is taken while the queue runs, one counter at a time, so under concurrent
/// use the fields need not add up exactly; when the queue is quiescent they do:
///
/// `sent == received + evicted_oldest + discarded + len`
///
/// `sent` and `received` count modulo the queue's position range: 2^51 and more values for
/// MPMC queues up to capacity 1024 (2^33 at the largest capacity), 2^64 for SPSC queues.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Values that entered the queue: sends that returned `Ok(Sent::Queued)` or
    /// `Ok(Sent::Evicted(_))`, successful `try_send`s, and permits' sends. At capacity 0, the
    /// values a receiver took. Values dropped-newest or rejected never entered.
    pub sent: u64,
    /// Values handed to a receiver (by any form of receive, iterator or `Stream`).
    ///
    /// Derived from the receivers' position less the evictions and discards. A snapshot
    /// taken while a [`DropOldest`](crate::Policy::DropOldest) queue evicts may count an
    /// eviction in progress here (at most one per evicting sender); once the queue is quiet
    /// it is exact.
    pub received: u64,
    /// Values a full [`DropNewest`](crate::Policy::DropNewest) queue dropped on send
    /// (`send`, `send_async`, a `Sink` send). A `try_send` that finds the queue full reports
    /// `Full` instead and is not counted.
    pub dropped_newest: u64,
    /// Values a full [`DropOldest`](crate::Policy::DropOldest) queue evicted to make room
    /// (each handed back to its sender in `Sent::Evicted`).
    pub evicted_oldest: u64,
    /// Sends a full [`Reject`](crate::Policy::Reject) queue refused with `Overloaded`
    /// (`send`, `send_async`, a `Sink` send). A `try_send` that finds the queue full reports
    /// `Full` instead and is not counted.
    pub rejected: u64,
    /// Queued values dropped by `abort`, or because every receiver was gone. On an SPSC
    /// queue aborted from the producer or a closer, the consumer discards at its next call:
    /// exact once the consumer has acted.
    pub discarded: u64,
    /// The high-water mark of `len`: the largest queue length a sender computed from a fresh
    /// read of the receivers' position, counting the value it was adding, or that a snapshot
    /// saw. Senders re-read that position only when their cached view says the queue is
    /// full, so this is a sample of the peak that costs nothing per value: it equals
    /// `capacity` once a sender found the queue full, and otherwise may lie below the true
    /// peak. With [`Builder::exact_high_water`](crate::Builder::exact_high_water), senders
    /// re-read whenever a send could raise the mark, so it is the true peak (within one value
    /// when a receive races the send).
    pub high_water: usize,
    /// `len` at the snapshot.
    pub len: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// Batch sends (`try_send_batch`, `send_batch`) that sent at least one value; their
    /// values are counted one by one in the fields above too.
    pub batches_sent: u64,
    /// Batch receives (`try_recv_batch`, `recv_many`, linger) that took at least one value.
    pub batches_received: u64,
    /// Credits granted to a queue with a credit gate ([`Builder::credits`](crate::Builder::credits)),
    /// the starting credits included, as far as the gate took them (a grant beyond the most
    /// credits the gate holds is cut, and the cut part is not counted); 0 without a gate.
    /// Counts modulo 2^64 (modulo the word on a 32-bit target).
    pub credits_granted: u64,
    /// Credits spent: `credits_granted - credits_available`, the credits held by values that
    /// entered the queue (a credit taken by a send still in progress counts here until it is
    /// given back). An eviction spends none.
    pub credits_spent: u64,
    /// Credits available now.
    pub credits_available: u64,
    /// Sends and reservations that waited for credit (each counted once, however long it
    /// waited); sends out of credit that the policy dropped or rejected are counted in
    /// `dropped_newest` or `rejected` instead.
    pub credit_waits: u64,
    /// Sends and reservations that found the queue full under a policy that waits
    /// ([`Block`](crate::Policy::Block), or [`DropOldest`](crate::Policy::DropOldest) with
    /// nothing to evict) and waited for room (spinning or parked): `send`, `send_timeout`,
    /// `send_batch`, `send_async`, `reserve` and their forms, and a `Sink`'s sends. Each is
    /// counted once, however long it waited; a chunk that waits is not counted. At
    /// capacity 0 (a rendezvous) a send waits until a receiver comes, so this counts the
    /// sends that found none waiting. Under `Block` this is the backpressure the producers
    /// felt. A `try_send` never waits and is not counted.
    pub send_waits: u64,
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
            .field("credits_granted", &self.credits_granted)
            .field("credits_spent", &self.credits_spent)
            .field("credits_available", &self.credits_available)
            .field("credit_waits", &self.credit_waits)
            .field("send_waits", &self.send_waits)
            .field("batches_sent", &self.batches_sent)
            .field("batches_received", &self.batches_received)
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
