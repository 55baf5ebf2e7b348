//! The MPMC flavor: Vyukov's array ring with a line of waiting parties per side, or, at
//! capacity 0, the rendezvous (`zero.rs`). This file holds the one runtime dispatch between
//! the two; everything above it is generic over [`Queue`].
//!
//! # Waking without a fence
//!
//! A send claims its position with a SeqCst compare-and-swap, then loads the receivers'
//! `waiting` count (SeqCst: a plain load on x86); a receiver registers (a SeqCst store of
//! that count) and then re-checks the ring's indices with SeqCst loads. In the one total
//! order of SeqCst operations, either the notifier sees the registration or the receiver's
//! re-check sees the claim (crossbeam-channel's scheme). Receives and waiting senders
//! mirror it. So notifying costs one load when nobody waits.

use core::task::Poll;

use super::poll::{wait_until, Waiters};
use super::zero::{ZeroQueue, ZeroReg};
use super::{Attempt, Queue, Replace, Sent, Side};
use crate::error::{BuildError, RecvError, SendError, TryRecvError, TrySendError};
use crate::loom::{pos64, AtomicUsize, Ordering};
use crate::metrics::Figures;
use crate::ring::mpmc::{Pop, Push, Reserve, Ring};
use crate::wait::list::{Registration, WaitList};
use crate::wait::Wake;

/// The MPMC queue.
pub struct MpmcQueue<T> {
    kind: Kind<T>,
    /// Live `Sender`s and `Receiver`s: when either count reaches zero the queue closes.
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

// One `Kind` lives in the queue's `Arc`; boxing the ring would add an indirection to every
// operation.
#[allow(clippy::large_enum_variant)]
enum Kind<T> {
    Array(ArrayQueue<T>),
    Zero(ZeroQueue<T>),
}

/// The array ring and its two lines.
struct ArrayQueue<T> {
    ring: Ring<T>,
    /// Receivers waiting for an item.
    rx: WaitList,
    /// Senders (and reservations) waiting for room.
    tx: WaitList,
    /// Values discarded by abort (or because every receiver is gone).
    discarded: AtomicUsize,
}

/// A waiting MPMC operation's place: in a ring's line, or in a rendezvous line.
#[derive(Debug, Default)]
pub struct MpmcReg {
    list: Registration,
    zero: ZeroReg,
}

impl Waiters for WaitList {
    type Reg = Registration;

    fn take_notification(&self, reg: &mut Registration) {
        WaitList::take_notification(self, reg);
    }

    fn register(&self, reg: &mut Registration, wake: &Wake<'_>) {
        // The SeqCst store of the `waiting` count in `register` is the barrier (see the
        // module docs).
        WaitList::register(self, reg, wake);
    }

    fn cancel(&self, reg: &mut Registration) {
        WaitList::cancel(self, reg);
    }
}

impl<T> core::fmt::Debug for MpmcQueue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MpmcQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> MpmcQueue<T> {
    /// `drop_oldest`: reservations promise no room, since a send can always make room by
    /// evicting (see `ring::mpmc`).
    pub(crate) fn new(
        capacity: usize,
        drop_oldest: bool,
        exact_high_water: bool,
    ) -> Result<Self, BuildError> {
        let kind = if capacity == 0 {
            Kind::Zero(ZeroQueue::new())
        } else {
            Kind::Array(ArrayQueue {
                ring: Ring::new(capacity, !drop_oldest, exact_high_water)?,
                rx: WaitList::new(),
                tx: WaitList::new(),
                discarded: AtomicUsize::new(0),
            })
        };
        Ok(Self {
            kind,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        })
    }

    /// Live handles: `(senders, receivers)`.
    pub(crate) fn handles(&self) -> (usize, usize) {
        // Ordering: Relaxed: a snapshot.
        (
            self.senders.load(Ordering::Relaxed),
            self.receivers.load(Ordering::Relaxed),
        )
    }
}

impl<T> ArrayQueue<T> {
    /// After a permit's send: wakes a receiver for the value, or, if the ring is closed and
    /// this was the last permit, every receiver (the others report `Closed` once the value
    /// is taken; nothing else would wake them).
    fn notify_reserved_sent(&self) {
        if self.ring.closed_unreserved() {
            self.rx.notify_all();
        } else {
            self.rx.notify_one();
        }
    }

    #[inline(always)]
    fn try_send(&self, value: T, evict: bool) -> Attempt<T> {
        match self.ring.push(value, evict) {
            Push::Pushed => {
                self.rx.notify_one();
                Attempt::Sent(Sent::Queued)
            }
            Push::Evicted(old) => {
                self.rx.notify_one();
                Attempt::Sent(Sent::Evicted(old))
            }
            Push::Full(v) => Attempt::Full(v),
            Push::Closed(v) => Attempt::Closed(v),
        }
    }

    #[inline(always)]
    fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.ring.pop() {
            Pop::Item(v) => {
                self.tx.notify_one();
                Ok(v)
            }
            Pop::Empty => Err(TryRecvError::Empty),
            Pop::Closed => Err(TryRecvError::Closed),
        }
    }

    fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        match self.ring.reserve() {
            Reserve::Reserved => Ok(()),
            Reserve::Full => Err(TrySendError::Full(())),
            Reserve::Closed => Err(TrySendError::Closed(())),
        }
    }

    /// Closes (and, with `abort`, discards what is queued: returns how many).
    fn close(&self, abort: bool) -> (bool, usize) {
        let before = self.ring.close(abort);
        let first = !self.ring.word_is_closed(before);
        let mut n = 0;
        if abort {
            // Everything claimed before the mark is popped (a pop waits for a claimed
            // position's write), so the count is exact. Counted before each drop, so a
            // panicking destructor leaves the counts consistent.
            while let Pop::Item(v) = self.ring.pop() {
                n += 1;
                // Ordering: Relaxed: a statistic.
                self.discarded.fetch_add(1, Ordering::Relaxed);
                drop(v);
            }
        }
        self.rx.notify_all();
        self.tx.notify_all();
        (first, n)
    }
}

impl<T> Queue<T> for MpmcQueue<T> {
    type Reg = MpmcReg;

    #[inline]
    fn try_first(&self) -> bool {
        matches!(self.kind, Kind::Array(_))
    }

    fn capacity(&self) -> usize {
        match &self.kind {
            Kind::Array(a) => a.ring.capacity(),
            Kind::Zero(_) => 0,
        }
    }

    fn len(&self) -> usize {
        match &self.kind {
            Kind::Array(a) => a.ring.len(),
            Kind::Zero(_) => 0,
        }
    }

    fn is_closed(&self) -> bool {
        match &self.kind {
            Kind::Array(a) => a.ring.is_closed(),
            Kind::Zero(z) => z.is_closed(),
        }
    }

    fn figures(&self) -> Figures {
        match &self.kind {
            Kind::Array(a) => {
                let len = a.ring.len();
                Figures {
                    pushed: pos64(a.ring.pushed()),
                    taken: pos64(a.ring.taken()),
                    // Ordering: Relaxed: a statistic.
                    discarded: a.discarded.load(Ordering::Relaxed) as u64,
                    range: pos64(a.ring.positions_range()),
                    high_water: a.ring.high_water(len),
                    len,
                    capacity: a.ring.capacity(),
                }
            }
            Kind::Zero(z) => z.figures(),
        }
    }

    fn close(&self) -> bool {
        match &self.kind {
            Kind::Array(a) => a.close(false).0,
            Kind::Zero(z) => z.close(false).0,
        }
    }

    fn abort(&self, _side: Side) -> Option<usize> {
        Some(match &self.kind {
            Kind::Array(a) => a.close(true).1,
            Kind::Zero(z) => z.close(true).1,
        })
    }

    #[inline(always)]
    unsafe fn try_send(&self, value: T, evict: bool) -> Attempt<T> {
        match &self.kind {
            Kind::Array(a) => a.try_send(value, evict),
            Kind::Zero(z) => z.try_send(value),
        }
    }

    unsafe fn poll_send(
        &self,
        value: &mut Option<T>,
        evict: bool,
        reg: &mut MpmcReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, T>> {
        match &self.kind {
            Kind::Array(a) => wait_until(&a.tx, &mut reg.list, wake, || {
                match a.try_send(value.take()?, evict) {
                    Attempt::Sent(sent) => Some(Ok(sent)),
                    Attempt::Closed(v) => Some(Err(v)),
                    Attempt::Full(v) => {
                        *value = Some(v);
                        None
                    }
                }
            }),
            Kind::Zero(z) => z.poll_send(value, &mut reg.zero, wake),
        }
    }

    unsafe fn cancel_send(&self, reg: &mut MpmcReg, value: &mut Option<T>) {
        match &self.kind {
            Kind::Array(a) => a.tx.cancel(&mut reg.list),
            Kind::Zero(z) => z.cancel_send(&mut reg.zero, value),
        }
    }

    #[inline(always)]
    unsafe fn try_recv(&self) -> Result<T, TryRecvError> {
        match &self.kind {
            Kind::Array(a) => a.try_recv(),
            Kind::Zero(z) => z.try_recv(),
        }
    }

    unsafe fn send_run(&self, max: usize, take: impl FnMut() -> T) -> Result<usize, Vec<T>> {
        let Kind::Array(a) = &self.kind else {
            return Ok(0);
        };
        if max < 2 {
            return Ok(0);
        }
        let n = a.ring.push_run(max, take);
        // A value for each of up to `n` receivers.
        for _ in 0..n {
            if !a.rx.has_waiters() {
                break;
            }
            a.rx.notify_one();
        }
        Ok(n)
    }

    unsafe fn try_recv_many(&self, buf: &mut Vec<T>, max: usize) -> (usize, bool) {
        if let Kind::Array(a) = &self.kind {
            let n = a.ring.pop_into(buf, max);
            if n > 0 {
                // Room for `n` senders.
                for _ in 0..n {
                    if !a.tx.has_waiters() {
                        break;
                    }
                    a.tx.notify_one();
                }
                return (n, false);
            }
        }
        // The one-item path tells empty from closed (and serves the rendezvous).
        // SAFETY: MPMC: any thread may receive.
        unsafe { super::recv_each(self, buf, max) }
    }

    unsafe fn poll_recv(&self, reg: &mut MpmcReg, wake: &Wake<'_>) -> Poll<Result<T, RecvError>> {
        match &self.kind {
            Kind::Array(a) => wait_until(&a.rx, &mut reg.list, wake, || match a.try_recv() {
                Ok(v) => Some(Ok(v)),
                Err(TryRecvError::Closed) => Some(Err(RecvError)),
                Err(TryRecvError::Empty) => None,
            }),
            Kind::Zero(z) => z.poll_recv(&mut reg.zero, wake),
        }
    }

    unsafe fn cancel_recv(&self, reg: &mut MpmcReg) {
        match &self.kind {
            Kind::Array(a) => a.rx.cancel(&mut reg.list),
            Kind::Zero(z) => z.cancel_recv(&mut reg.zero),
        }
    }

    unsafe fn replace_oldest(&self, value: T) -> Replace<T> {
        let Kind::Array(a) = &self.kind else {
            // A rendezvous queues nothing.
            return Replace::Nothing(value);
        };
        // Three steps: reserve (as a permit does: a drain-close that lands meanwhile then
        // waits for our push, so the value we take out is replaced, not lost), take the
        // oldest value (as a receive would), push into the reservation (evicting again if
        // another sender filled the freed room meanwhile; a drop-oldest ring's reservations
        // hold no room).
        match a.ring.reserve() {
            Reserve::Reserved => {}
            Reserve::Closed => return Replace::Closed(value),
            // Drop-oldest rings refuse only past a million outstanding reservations.
            Reserve::Full => return Replace::Nothing(value),
        }
        let old = match a.ring.pop() {
            Pop::Item(old) => old,
            Pop::Empty | Pop::Closed => {
                // SAFETY: we hold the reservation made above.
                unsafe { self.release_reserved() };
                return Replace::Nothing(value);
            }
        };
        match a.ring.push_reserved(value) {
            Push::Pushed => {
                a.notify_reserved_sent();
                Replace::Replaced { old, also: None }
            }
            Push::Evicted(also) => {
                a.notify_reserved_sent();
                Replace::Replaced {
                    old,
                    also: Some(also),
                }
            }
            // Only after an abort, which discards everything anyway.
            Push::Full(value) | Push::Closed(value) => Replace::Stranded {
                old,
                value,
                closed: true,
            },
        }
    }

    unsafe fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        match &self.kind {
            Kind::Array(a) => a.try_reserve(),
            Kind::Zero(z) => z.try_reserve(),
        }
    }

    unsafe fn poll_reserve(
        &self,
        reg: &mut MpmcReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        match &self.kind {
            Kind::Array(a) => wait_until(&a.tx, &mut reg.list, wake, || match a.try_reserve() {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Closed(())) => Some(Err(SendError::Closed(()))),
                Err(TrySendError::Full(())) => None,
            }),
            Kind::Zero(z) => z.poll_reserve(&mut reg.zero, wake),
        }
    }

    unsafe fn cancel_reserve(&self, reg: &mut MpmcReg) {
        match &self.kind {
            Kind::Array(a) => a.tx.cancel(&mut reg.list),
            Kind::Zero(z) => z.cancel_reserve(&mut reg.zero),
        }
    }

    unsafe fn send_reserved(&self, value: T) -> Result<Sent<T>, T> {
        match &self.kind {
            Kind::Array(a) => match a.ring.push_reserved(value) {
                Push::Pushed => {
                    a.notify_reserved_sent();
                    Ok(Sent::Queued)
                }
                Push::Evicted(old) => {
                    a.notify_reserved_sent();
                    Ok(Sent::Evicted(old))
                }
                Push::Closed(v) | Push::Full(v) => Err(v),
            },
            Kind::Zero(z) => z.send_reserved(value),
        }
    }

    unsafe fn release_reserved(&self) {
        match &self.kind {
            Kind::Array(a) => {
                let word = a.ring.release_reserved();
                if a.ring.word_is_closed(word) && a.ring.word_unreserved(word) {
                    // Receivers waiting for the last permit now see `Closed`.
                    a.rx.notify_all();
                } else {
                    a.tx.notify_one();
                }
            }
            Kind::Zero(z) => z.release_reserved(),
        }
    }
}
