//! The public queues, written once over an internal flavor trait.
//!
//! A queue is a [`Chan<T, Q>`]: the flavor's storage and wait lines `Q` (SPSC, MPMC, or the
//! MPMC rendezvous), plus what every queue has (its policy, the line of `closed()` futures,
//! the per-handle counters). Each flavor implements [`Queue`]: try to send, try to receive,
//! wait for either, reserve room, close, abort. Everything else is written once, generic over
//! it, the way tokio's `Chan<T, S>` is generic over its semaphore:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `policy.rs` | [`Policy`], [`Sent`] |
//! | `builder.rs` | [`Builder`], [`mpmc`], [`spsc`] |
//! | `flavor.rs` | the public flavor markers ([`flavor::Spsc`], [`flavor::Mpmc`]) |
//! | `poll.rs` | one poll routine per operation, and the blocking driver of each |
//! | `future.rs` | the futures: send, receive, reserve, deadlines, `closed()` |
//! | `permit.rs` | [`Permit`] |
//! | `iter.rs` | the iterators |
//! | `batch.rs` | sending and receiving in batches, and linger |
//! | `closer.rs` | [`Closer`] and the type-erased queue behind it |
//! | `sender.rs`, `producer.rs` | the handles: MPMC [`Sender`]/[`Receiver`], SPSC [`Producer`]/[`Consumer`] |
//! | `spsc/` (`mod.rs`, `waiting.rs`, `closing.rs`), `mpmc.rs`, `zero.rs` | the flavors |
//! | `compat.rs` | `Stream` and `Sink` (feature `futures`) |
//!
//! No code outside the flavor files knows which flavor it runs on; the dispatch is static
//! (generic code is monomorphized per flavor). The one runtime choice is inside the MPMC
//! flavor: an array ring, or the rendezvous at capacity 0 (`mpmc.rs` matches on it).

pub(crate) mod batch;
pub(crate) mod builder;
pub(crate) mod chunk;
pub(crate) mod closer;
#[cfg(feature = "futures")]
pub(crate) mod compat;
pub(crate) mod credit;
pub mod flavor;
pub(crate) mod future;
pub(crate) mod iter;
pub(crate) mod mpmc;
pub(crate) mod permit;
pub(crate) mod policy;
pub(crate) mod poll;
pub(crate) mod producer;
pub(crate) mod sender;
pub(crate) mod spsc;
pub(crate) mod zero;

use core::fmt;
use core::task::Poll;

use crate::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::metrics::{Figures, Registry};
use crate::wait::Wake;

pub use batch::{BatchSent, BatchStop, RecvBatch, RecvMany};
pub use builder::{mpmc, spsc, Builder};
pub use chunk::{ChunkError, ReadChunk, ReadChunkFuture, WriteChunk, WriteChunkFuture};
pub use closer::Closer;
pub use future::{ClosedFuture, RecvDeadline, RecvFuture, ReserveFuture, SendDeadline, SendFuture};
pub use iter::{Drain, IntoIter, Iter, TryIter};
pub use permit::Permit;
pub use policy::{Policy, Sent};
pub use producer::{Consumer, Producer};
pub use sender::{Receiver, Sender};

/// [`Queue::try_recv_many`] one `try_recv` at a time.
///
/// # Safety
///
/// As for [`Queue::try_recv`].
pub(crate) unsafe fn recv_each<T, Q: Queue<T> + ?Sized>(
    q: &Q,
    buf: &mut Vec<T>,
    max: usize,
) -> (usize, bool) {
    let mut taken = 0;
    while taken < max {
        // SAFETY: forwarded.
        match unsafe { q.try_recv() } {
            Ok(v) => {
                buf.push(v);
                taken += 1;
            }
            Err(TryRecvError::Empty) => return (taken, false),
            Err(TryRecvError::Closed) => return (taken, true),
        }
    }
    (taken, false)
}

/// What a send attempt that does not wait did.
///
/// (`pub` in a private module: the flavor trait names it; it is not part of the API.)
#[derive(Debug)]
#[allow(unreachable_pub)]
pub enum Attempt<T> {
    /// Queued (or, with eviction, queued after evicting the oldest: `Sent::Evicted`).
    Sent(Sent<T>),
    /// No room. The policy decides: wait, drop the value, or reject it.
    Full(T),
    Closed(T),
}

/// What [`Queue::replace_oldest`] did. (Unnameable outside, as [`Attempt`].)
#[derive(Debug)]
#[allow(unreachable_pub)]
pub enum Replace<T> {
    /// The value is queued in the oldest value's place; here is that value. `also`: a
    /// second value evicted on the way (MPMC: another sender filled the freed room between
    /// the two steps, so the push evicted again).
    Replaced { old: T, also: Option<T> },
    /// Nothing is queued to evict.
    Nothing(T),
    /// The queue is closed.
    Closed(T),
    /// MPMC: the oldest value was evicted, but the push that followed found the queue
    /// aborted (`closed`; an abort discards what is queued anyway). The evicted value is the
    /// caller's to drop (counted); the credit it held is free again.
    Stranded { old: T, value: T, closed: bool },
}

/// Which end calls `abort`. (Unnameable outside, as [`Attempt`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub enum Side {
    Sender,
    Receiver,
    /// A [`Closer`].
    Other,
}

/// What a flavor does. Written for SPSC (`spsc.rs`), MPMC and the rendezvous (`mpmc.rs`,
/// `zero.rs`); everything else is generic over it.
///
/// The sending methods (`try_send`, `poll_send`, `cancel_send`, the reservation methods) and
/// the receiving methods are `unsafe`: an SPSC queue requires that only one thread at a time
/// uses each side. Generic code calls them through a handle's exclusive borrow (`&mut
/// Producer`, `&mut Consumer`, or a future or permit made from one); MPMC flavors have no
/// such requirement.
///
/// This is a public trait in a private module, so that the public flavor markers can name it
/// in their bounds while it stays out of the API.
pub trait Queue<T> {
    /// The queue has one producer (SPSC): sending-side state may be private to it.
    #[doc(hidden)]
    const SINGLE_PRODUCER: bool = false;

    /// One waiting operation's place in line.
    #[doc(hidden)]
    type Reg: Default + fmt::Debug;

    /// Whether an operation that may wait should first try without the wait machinery (a
    /// future's first poll; a blocking call, which also retries so for a while): a ring's
    /// other side frees or fills a slot without knowing who waits. A rendezvous says no:
    /// its poll routines try first anyway, and its other side can only meet a party in
    /// line, so retrying out of line only delays the meeting.
    #[doc(hidden)]
    #[inline]
    fn try_first(&self) -> bool {
        true
    }
    #[doc(hidden)]
    fn capacity(&self) -> usize;
    #[doc(hidden)]
    fn len(&self) -> usize;
    #[doc(hidden)]
    fn is_closed(&self) -> bool;
    /// The index-derived figures of a metrics snapshot.
    #[doc(hidden)]
    fn figures(&self) -> Figures;
    /// Closes (drain) and wakes every waiter. `true` if this call closed the queue.
    #[doc(hidden)]
    fn close(&self) -> bool;
    /// Closes and discards what is queued; the exact count, where `side` can know it at once.
    #[doc(hidden)]
    fn abort(&self, side: Side) -> Option<usize>;

    /// Sends without waiting; on a full queue evicts the oldest value if `evict`.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the sending side.
    #[doc(hidden)]
    unsafe fn try_send(&self, value: T, evict: bool) -> Attempt<T>;
    /// `try_send` as the handles' `try_send` reports it (never evicts). A flavor may
    /// specialize it to keep its fast path's result in registers.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn try_send_now(&self, value: T) -> Result<(), TrySendError<T>> {
        // SAFETY: forwarded.
        match unsafe { self.try_send(value, false) } {
            Attempt::Sent(_) => Ok(()),
            Attempt::Full(v) => Err(TrySendError::Full(v)),
            Attempt::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }
    /// One poll of a send that waits for room: try, register, re-check. `value` is `None`
    /// while the flavor holds it (a rendezvous offer) and after completion. `Err`: closed,
    /// with the value back.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn poll_send(
        &self,
        value: &mut Option<T>,
        evict: bool,
        reg: &mut Self::Reg,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, T>>;
    /// Leaves the line of a waiting send (passing on a wake-up it took); puts the value back
    /// into `value` if the flavor held it and it was not taken.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn cancel_send(&self, reg: &mut Self::Reg, value: &mut Option<T>);

    /// Receives without waiting.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the receiving side.
    #[doc(hidden)]
    unsafe fn try_recv(&self) -> Result<T, TryRecvError>;
    /// Appends up to `max` values that are ready now to `buf`, as that many `try_recv`s
    /// would; returns how many, and whether the queue was found closed and drained. A
    /// flavor may take them in one step (the SPSC ring publishes its position once).
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    #[doc(hidden)]
    unsafe fn try_recv_many(&self, buf: &mut Vec<T>, max: usize) -> (usize, bool) {
        // SAFETY: forwarded.
        unsafe { recv_each(self, buf, max) }
    }
    /// One poll of a receive that waits: try, register, re-check.
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    #[doc(hidden)]
    unsafe fn poll_recv(&self, reg: &mut Self::Reg, wake: &Wake<'_>) -> Poll<Result<T, RecvError>>;
    /// Leaves the line of a waiting receive, passing on a wake-up it took. (No flavor hands
    /// values to a waiting receiver: receivers take them, so leaving never loses one.)
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    #[doc(hidden)]
    unsafe fn cancel_recv(&self, reg: &mut Self::Reg);

    /// A credit-gated drop-oldest send out of credit: puts `value` in the place of the
    /// oldest queued value, whose credit it takes, whether or not the queue is full. Never
    /// waits (beyond a peer's step in progress). Flavors without drop-oldest storage have
    /// nothing to evict.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn replace_oldest(&self, value: T) -> Replace<T> {
        Replace::Nothing(value)
    }

    /// A batch send's run: sends up to `max` values, taken with `take` (called once per
    /// value sent, and never panicking), in one step where the flavor can (SPSC: one
    /// publication of `tail`; MPMC: one claim of a run of positions). Returns how many went
    /// (0: this flavor or this moment sends one value at a time); `Err` hands back the values
    /// taken when the SPSC queue was aborted or its consumer reported `Closed` meanwhile.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn send_run(&self, max: usize, take: impl FnMut() -> T) -> Result<usize, Vec<T>> {
        let _ = (max, take);
        Ok(0)
    }

    /// Reserves room for one value without waiting.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn try_reserve(&self) -> Result<(), TrySendError<()>>;
    /// One poll of a reservation that waits for room.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn poll_reserve(
        &self,
        reg: &mut Self::Reg,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>>;
    /// Leaves the line of a waiting reservation.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send).
    #[doc(hidden)]
    unsafe fn cancel_reserve(&self, reg: &mut Self::Reg);
    /// Sends into reserved room. Fails (handing the value back) only once the queue is
    /// aborted or every receiver is gone.
    ///
    /// # Safety
    ///
    /// As for [`try_send`](Self::try_send); the caller holds a reservation of this queue,
    /// which this call uses up.
    #[doc(hidden)]
    unsafe fn send_reserved(&self, value: T) -> Result<Sent<T>, T>;
    /// Gives reserved room back.
    ///
    /// # Safety
    ///
    /// As for [`send_reserved`](Self::send_reserved).
    #[doc(hidden)]
    unsafe fn release_reserved(&self);
}

/// A queue: the flavor's storage and wait lines, and what every queue shares.
pub(crate) struct Chan<T, Q> {
    pub(crate) queue: Q,
    pub(crate) policy: Policy,
    /// `closed()` futures, and the flag they wait for (see [`closer::Closing`]).
    pub(crate) closing: closer::Closing,
    /// The sending handles' counters and the shared ones.
    pub(crate) counters: Registry,
    /// The credit gate, for a queue built with one.
    pub(crate) credit: Option<credit::Credit>,
    _item: core::marker::PhantomData<fn(T) -> T>,
}

impl<T, Q: Queue<T>> Chan<T, Q> {
    pub(crate) fn new(queue: Q, policy: Policy, credits: Option<usize>) -> Self {
        Self {
            queue,
            policy,
            closing: closer::Closing::new(),
            counters: Registry::new(),
            credit: credits.map(credit::Credit::new),
            _item: core::marker::PhantomData,
        }
    }

    /// Closes (drain); wakes every waiter, `closed()` futures included.
    pub(crate) fn close(&self) -> bool {
        let closed = self.queue.close();
        self.close_gate();
        self.closing.set();
        closed
    }

    /// The queue has closed another way (an SPSC end dropped): the gate closes and
    /// `closed()` futures wake.
    pub(crate) fn closed_by_drop(&self) {
        self.close_gate();
        self.closing.set();
    }

    /// After the queue closed: parties waiting for credit wake and find it closed.
    fn close_gate(&self) {
        if let Some(g) = &self.credit {
            g.close();
        }
    }

    /// Grants credits, if the queue has a gate (see [`credit`]).
    pub(crate) fn grant(&self, n: usize) {
        if let Some(g) = &self.credit {
            g.grant(n);
        }
    }

    /// The credits available, if the queue has a gate.
    pub(crate) fn credits(&self) -> Option<usize> {
        self.credit.as_ref().map(credit::Credit::available)
    }

    /// Closes and discards (see [`Queue::abort`]); wakes every waiter.
    pub(crate) fn abort(&self, side: Side) -> Option<usize> {
        let n = self.queue.abort(side);
        self.close_gate();
        self.closing.set();
        n
    }

    pub(crate) fn metrics(&self) -> crate::Metrics {
        self.counters.snapshot(
            || self.queue.figures(),
            self.credit.as_ref().map(|g| (g.granted(), g.available())),
        )
    }
}

impl<T, Q: Queue<T>> fmt::Debug for Chan<T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.queue.len())
            .field("capacity", &self.queue.capacity())
            .field("policy", &self.policy)
            .field("closed", &self.queue.is_closed())
            .finish()
    }
}

/// `now + timeout`, or no deadline if that overflows (`Duration::MAX` waits forever).
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

/// The unused-wait registration for flavors whose one waiting party per side lives in the
/// queue (SPSC): whether this operation has registered.
#[derive(Debug, Default)]
pub struct SlotReg {
    pub(crate) registered: bool,
}
