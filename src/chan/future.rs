//! Futures for every waiting operation, and permits.
//!
//! The futures depend on no runtime: they only use the `Waker` of the `Context` they are
//! polled with. A deadline is any `Future<Output = ()>` the caller supplies (a runtime's
//! sleep, for example). Every future is `Unpin` and `#[must_use]`.
//!
//! # Cancel contract
//!
//! - A dropped [`RecvFuture`] never loses a value: a value is only taken out of the queue
//!   inside `poll` when it is returned. If the future was woken for a value and is dropped
//!   before it took one, it passes the wake-up on to the next waiting receiver. (At capacity
//!   0, a value already handed to it goes to the next waiting receiver, or to the next
//!   receive.)
//! - A dropped [`SendFuture`] drops its value exactly once, and never sends it twice: the
//!   value is either in the queue (the future returned `Ready`) or still in the future.
//!   [`SendFuture::into_inner`] gives the value back instead. To send without ever handing
//!   the value to a future that might be dropped, [`reserve`](crate::Sender::reserve_async)
//!   room first: the [`Permit`]'s `send` cannot fail for lack of room.
//! - Dropping any of these futures never blocks.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::mpmc::{self, Flavor};
use super::zero::ZeroReg;
use super::{poll_recv, poll_send, send_once, Consumer, Core, Policy, Producer, Sent};
use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::metrics::Count;
use crate::ring::mpmc::{Reservation, Reserve};
use crate::wait::Registration;

/// A sending end, borrowed by a future or a permit.
pub(crate) enum TxRef<'a, T> {
    Mpmc(&'a mpmc::Shared<T>),
    Spsc(&'a mut Producer<T>),
}

/// A receiving end, borrowed by a future.
pub(crate) enum RxRef<'a, T> {
    Mpmc(&'a mpmc::Shared<T>),
    Spsc(&'a mut Consumer<T>),
}

/// Where a waiting operation stands in line: a [`WaitList`](crate::wait::WaitList) of the
/// ring flavors, or the rendezvous lines.
#[derive(Debug)]
pub(crate) enum Place {
    Ring(Registration),
    Zero(ZeroReg),
}

impl Default for Place {
    fn default() -> Self {
        Self::Ring(Registration::new())
    }
}

#[cfg(feature = "futures")]
impl Place {
    /// The place a receive on `rx` takes.
    pub(crate) fn for_rx<T>(rx: &RxRef<'_, T>) -> Self {
        rx.place()
    }
}

/// Leaves the receive line at `place`, passing on a wake-up (or, at capacity 0, a value)
/// it took.
pub(crate) fn withdraw_recv<T>(rx: &RxRef<'_, T>, place: &mut Place) {
    match (rx, place) {
        (RxRef::Mpmc(shared), Place::Zero(reg)) => match &shared.flavor {
            Flavor::Zero(zero) => zero.cancel_recv(reg),
            Flavor::Array(_) => unreachable!("rendezvous place on a ring"),
        },
        (rx, Place::Ring(reg)) => rx.core().items.cancel(reg),
        (RxRef::Spsc(_), Place::Zero(_)) => unreachable!("rendezvous place on spsc"),
    }
}

impl<T> TxRef<'_, T> {
    fn core(&self) -> &Core {
        match self {
            Self::Mpmc(shared) => &shared.core,
            Self::Spsc(producer) => producer.core_ref(),
        }
    }

    /// The place a waiting send takes: the rendezvous line for a blocking rendezvous send.
    fn place(&self) -> Place {
        match self {
            Self::Mpmc(shared)
                if matches!(shared.flavor, Flavor::Zero(_))
                    && shared.core.policy == Policy::Block =>
            {
                Place::Zero(ZeroReg::default())
            }
            _ => Place::Ring(Registration::new()),
        }
    }
}

impl<T> RxRef<'_, T> {
    fn core(&self) -> &Core {
        match self {
            Self::Mpmc(shared) => &shared.core,
            Self::Spsc(consumer) => consumer.core_ref(),
        }
    }

    fn place(&self) -> Place {
        match self {
            Self::Mpmc(shared) if matches!(shared.flavor, Flavor::Zero(_)) => {
                Place::Zero(ZeroReg::default())
            }
            _ => Place::Ring(Registration::new()),
        }
    }
}

// === impl SendFuture ===

/// The future of `send_async`: sends under the queue's policy, waiting for room under
/// [`Block`](Policy::Block). See the module docs for its cancel contract.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: TxRef<'a, T>,
    /// The value, until it is sent (or, while a rendezvous send waits in line, in its offer).
    value: Option<T>,
    place: Place,
    done: bool,
}

// Never pinned structurally: the value moves in and out by `Option::take`.
impl<T> Unpin for SendFuture<'_, T> {}

impl<'a, T> SendFuture<'a, T> {
    pub(crate) fn new(tx: TxRef<'a, T>, value: T) -> Self {
        let place = tx.place();
        Self {
            tx,
            value: Some(value),
            place,
            done: false,
        }
    }

    /// Leaves the line (passing on a wake-up it took) and returns the value if it has not
    /// been sent. The future is done afterwards.
    fn withdraw(&mut self) -> Option<T> {
        if self.done {
            return None;
        }
        self.done = true;
        match (&self.tx, &mut self.place) {
            (TxRef::Mpmc(shared), Place::Zero(reg)) => match &shared.flavor {
                Flavor::Zero(zero) => zero.cancel_send(reg).or_else(|| self.value.take()),
                Flavor::Array(_) => unreachable!("rendezvous place on a ring"),
            },
            (tx, Place::Ring(reg)) => {
                tx.core().room.cancel(reg);
                self.value.take()
            }
            (TxRef::Spsc(_), Place::Zero(_)) => unreachable!("rendezvous place on spsc"),
        }
    }

    /// Gives the value back if it has not been sent yet (`None` if it has). Leaves the
    /// queue's line, passing on a wake-up the future had taken.
    pub fn into_inner(mut self) -> Option<T> {
        self.withdraw()
    }

    /// The deadline passed: leave the line and make one last attempt.
    fn give_up(&mut self) -> Result<Sent<T>, SendTimeoutError<T>> {
        let Some(v) = self.withdraw() else {
            // A receiver took the value just before (rendezvous).
            return Ok(Sent::Queued);
        };
        let result = match &mut self.tx {
            TxRef::Mpmc(shared) => send_once(&mut &**shared, v),
            TxRef::Spsc(producer) => send_once(&mut **producer, v),
        };
        match result {
            Ok(done) => done.map_err(Into::into),
            Err(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<Sent<T>, SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "SendFuture polled after completion");
        let result = match (&mut this.tx, &mut this.place) {
            (TxRef::Mpmc(shared), Place::Zero(reg)) => match &shared.flavor {
                Flavor::Zero(zero) => zero
                    .poll_send(&mut this.value, reg, cx.waker())
                    .map(|r| r.map(|()| Sent::Queued).map_err(SendError::Closed)),
                Flavor::Array(_) => unreachable!("rendezvous place on a ring"),
            },
            (TxRef::Mpmc(shared), Place::Ring(reg)) => {
                poll_send(&mut &**shared, &mut this.value, reg, cx.waker())
            }
            (TxRef::Spsc(producer), Place::Ring(reg)) => {
                poll_send(&mut **producer, &mut this.value, reg, cx.waker())
            }
            (TxRef::Spsc(_), Place::Zero(_)) => unreachable!("rendezvous place on spsc"),
        };
        this.done = result.is_ready();
        result
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        // The value (if unsent) drops here, once.
        drop(self.withdraw());
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// === impl RecvFuture ===

/// The future of `recv_async`: the next value, or `Err(RecvError)` once the queue is closed
/// and drained. See the module docs for its cancel contract.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: RxRef<'a, T>,
    place: Place,
    done: bool,
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<'a, T> RecvFuture<'a, T> {
    pub(crate) fn new(rx: RxRef<'a, T>) -> Self {
        let place = rx.place();
        Self {
            rx,
            place,
            done: false,
        }
    }

    /// Leaves the line, passing on a wake-up (or, at capacity 0, a value) it took.
    fn withdraw(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        withdraw_recv(&self.rx, &mut self.place);
    }

    fn give_up(&mut self) -> Result<T, RecvTimeoutError> {
        self.withdraw();
        let result = match &mut self.rx {
            RxRef::Mpmc(shared) => super::Rx::try_pop(&mut &**shared),
            RxRef::Spsc(consumer) => super::Rx::try_pop(&mut **consumer),
        };
        result.map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Closed => RecvTimeoutError::Closed,
        })
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "RecvFuture polled after completion");
        let result = poll_recv_place(&mut this.rx, &mut this.place, cx.waker());
        this.done = result.is_ready();
        result
    }
}

/// One poll of a receive in `place` (shared with the `Stream` impls).
pub(crate) fn poll_recv_place<T>(
    rx: &mut RxRef<'_, T>,
    place: &mut Place,
    waker: &Waker,
) -> Poll<Result<T, RecvError>> {
    match (rx, place) {
        (RxRef::Mpmc(shared), Place::Zero(reg)) => match &shared.flavor {
            Flavor::Zero(zero) => {
                let result = zero
                    .poll_recv(reg, waker)
                    .map(|r| r.map_err(|()| RecvError));
                if result.is_pending() {
                    // A permit may be waiting for a receiver to stand in line.
                    shared.core.room.notify_one();
                }
                result
            }
            Flavor::Array(_) => unreachable!("rendezvous place on a ring"),
        },
        (RxRef::Mpmc(shared), Place::Ring(reg)) => poll_recv(&mut &**shared, reg, waker),
        (RxRef::Spsc(consumer), Place::Ring(reg)) => poll_recv(&mut **consumer, reg, waker),
        (RxRef::Spsc(_), Place::Zero(_)) => unreachable!("rendezvous place on spsc"),
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// === deadlines ===

/// A send with a deadline: `send_async_deadline`. Resolves to `Timeout(value)` if the
/// deadline future completes first (a send that can complete at once still does).
#[must_use = "futures do nothing unless polled"]
pub struct SendDeadline<'a, T, D> {
    send: SendFuture<'a, T>,
    deadline: D,
}

impl<'a, T, D> SendDeadline<'a, T, D> {
    pub(crate) fn new(send: SendFuture<'a, T>, deadline: D) -> Self {
        Self { send, deadline }
    }

    /// Gives the value back if it has not been sent yet.
    pub fn into_inner(self) -> Option<T> {
        self.send.into_inner()
    }
}

impl<T, D: Future<Output = ()> + Unpin> Future for SendDeadline<'_, T, D> {
    type Output = Result<Sent<T>, SendTimeoutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.send).poll(cx) {
            return Poll::Ready(r.map_err(Into::into));
        }
        match Pin::new(&mut this.deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(this.send.give_up()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, D> fmt::Debug for SendDeadline<'_, T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendDeadline").finish_non_exhaustive()
    }
}

/// A receive with a deadline: `recv_async_deadline`. Resolves to `Timeout` if the deadline
/// future completes first (a value already available is still received).
#[must_use = "futures do nothing unless polled"]
pub struct RecvDeadline<'a, T, D> {
    recv: RecvFuture<'a, T>,
    deadline: D,
}

impl<'a, T, D> RecvDeadline<'a, T, D> {
    pub(crate) fn new(recv: RecvFuture<'a, T>, deadline: D) -> Self {
        Self { recv, deadline }
    }
}

impl<T, D: Future<Output = ()> + Unpin> Future for RecvDeadline<'_, T, D> {
    type Output = Result<T, RecvTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.recv).poll(cx) {
            return Poll::Ready(r.map_err(Into::into));
        }
        match Pin::new(&mut this.deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(this.recv.give_up()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, D> fmt::Debug for RecvDeadline<'_, T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvDeadline").finish_non_exhaustive()
    }
}

// === impl Permit ===

/// Room reserved in a queue by `reserve` / `reserve_async`: its [`send`](Self::send)
/// cannot fail for lack of room, and does not wait. Dropping it unused gives the room back.
///
/// The permit holds a place in the queue's order: in an MPMC queue, receivers that reach it
/// wait for it to be used or dropped (even once the queue is closed, since its value will
/// still come). Use it promptly. A permit leaked with `mem::forget` leaves that place
/// reserved for good: receivers stop there (never seeing `Closed`), and `abort` discards only
/// what is before it.
#[must_use = "a permit holds room in the queue until it is used or dropped"]
pub struct Permit<'a, T> {
    kind: PermitKind<'a, T>,
}

enum PermitKind<'a, T> {
    /// A reserved position in an MPMC ring.
    Ring(&'a mpmc::Shared<T>, Option<Reservation>),
    /// Room checked in an SPSC ring (only its producer fills it, so it stays), or a
    /// drop-oldest queue, which always has room.
    Free(TxRef<'a, T>),
    /// A rendezvous receiver claimed for this permit.
    Zero(&'a mpmc::Shared<T>, Option<u64>),
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved room. Under [`DropOldest`](Policy::DropOldest) the
    /// send may still evict an older value (returned in [`Sent::Evicted`]).
    ///
    /// The room was reserved before any later `close`, so the value goes in even if the
    /// queue has closed since (receivers drain it). If the queue was aborted, or lost its
    /// receivers, since, the value is discarded and counted in
    /// [`Metrics::discarded`](crate::Metrics::discarded). (A drop-oldest MPMC queue reserves
    /// nothing, since its sends never lack room: if it closed since, the value is discarded
    /// and counted too.) In every case the result says `Queued` unless a value was evicted.
    pub fn send(mut self, value: T) -> Sent<T> {
        match &mut self.kind {
            PermitKind::Ring(shared, reservation) => {
                let Flavor::Array(ring) = &shared.flavor else {
                    unreachable!("ring permit on a rendezvous queue")
                };
                let reservation = reservation.take().expect("permit used once");
                // SAFETY: the reservation came from this ring and is used once.
                unsafe { ring.fill_reserved(reservation, value) };
                // `notify_one` starts with a SeqCst fence, which the check below relies on:
                // `abort` sets the flag and then (in `close`) fences too, so either it sees
                // our value when it discards, or we see its flag here (store buffering).
                shared.core.items.notify_one();
                if shared.is_aborted() {
                    shared.discard_all();
                }
                Sent::Queued
            }
            PermitKind::Free(TxRef::Spsc(producer)) => match producer.permit_send(value) {
                Ok(sent) => sent,
                Err(_) => unreachable!("the permit holds the only producer: its room stays"),
            },
            PermitKind::Free(TxRef::Mpmc(shared)) => {
                match super::Tx::try_push(&mut &**shared, value, true) {
                    super::Attempt::Pushed => Sent::Queued,
                    super::Attempt::Evicted(old) => {
                        shared.core.counters.add(Count::EvictedOldest, 1);
                        Sent::Evicted(old)
                    }
                    super::Attempt::Closed(v) | super::Attempt::Full(v) => {
                        // A drop-oldest queue closed after the reservation (a drop-oldest
                        // permit reserves nothing, as a drop-oldest send never lacks room):
                        // sent, and discarded.
                        shared.core.counters.add(Count::DiscardedOnEntry, 1);
                        drop(v);
                        Sent::Queued
                    }
                }
            }
            PermitKind::Zero(shared, id) => {
                let Flavor::Zero(zero) = &shared.flavor else {
                    unreachable!("rendezvous permit on a ring")
                };
                if let Some(value) = zero.send_claimed(id.take().expect("permit used once"), value)
                {
                    // Aborted since the reservation: sent, and discarded.
                    shared.core.counters.add(Count::DiscardedOnEntry, 1);
                    drop(value);
                }
                Sent::Queued
            }
        }
    }
}

/// A permit's reservation without the borrow of its end, for a handle to keep between
/// `Sink::poll_ready` and `Sink::start_send`.
#[cfg(feature = "futures")]
#[derive(Debug)]
pub(crate) enum RawPermit {
    Ring(Reservation),
    Free,
    Zero(u64),
}

#[cfg(feature = "futures")]
impl<'a, T> Permit<'a, T> {
    /// Splits the reservation from the borrow, without giving it up.
    pub(crate) fn into_raw(mut self) -> RawPermit {
        let raw = match &mut self.kind {
            PermitKind::Ring(_, r) => RawPermit::Ring(r.take().expect("permit not used")),
            PermitKind::Free(_) => RawPermit::Free,
            PermitKind::Zero(_, id) => RawPermit::Zero(id.take().expect("permit not used")),
        };
        // Its reservation is taken out, so its drop gives nothing up.
        drop(self);
        raw
    }

    /// Rejoins a reservation made by `into_raw` on the same end.
    pub(crate) fn from_raw(raw: RawPermit, tx: TxRef<'a, T>) -> Self {
        let kind = match (raw, tx) {
            (RawPermit::Ring(r), TxRef::Mpmc(shared)) => PermitKind::Ring(shared, Some(r)),
            (RawPermit::Zero(id), TxRef::Mpmc(shared)) => PermitKind::Zero(shared, Some(id)),
            (RawPermit::Free, tx) => PermitKind::Free(tx),
            (_, TxRef::Spsc(_)) => unreachable!("spsc permits are free"),
        };
        Self { kind }
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        match &mut self.kind {
            PermitKind::Ring(shared, reservation) => {
                if let Some(reservation) = reservation.take() {
                    let Flavor::Array(ring) = &shared.flavor else {
                        unreachable!("ring permit on a rendezvous queue")
                    };
                    // SAFETY: the reservation came from this ring and is used once.
                    unsafe { ring.void_reserved(reservation) };
                    // A receiver may be waiting at the reserved position, and a sender for
                    // the room it gives back.
                    shared.core.items.notify_one();
                    shared.core.room.notify_one();
                    if shared.is_aborted() {
                        shared.discard_all();
                    }
                }
            }
            PermitKind::Free(_) => {}
            PermitKind::Zero(shared, id) => {
                if let (Some(id), Flavor::Zero(zero)) = (id.take(), &shared.flavor) {
                    zero.release_claimed(id);
                    // Another permit may be waiting for a receiver.
                    shared.core.room.notify_one();
                }
            }
        }
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// One attempt to reserve room, never waiting.
pub(crate) fn try_reserve<'a, T>(
    tx: TxRef<'a, T>,
) -> Result<Permit<'a, T>, (TxRef<'a, T>, TrySendError<()>)> {
    let drop_oldest = tx.core().policy == Policy::DropOldest;
    match tx {
        TxRef::Mpmc(shared) => match &shared.flavor {
            Flavor::Array(_) if drop_oldest => {
                if shared.is_closed() {
                    Err((tx, TrySendError::Closed(())))
                } else {
                    Ok(Permit {
                        kind: PermitKind::Free(tx),
                    })
                }
            }
            Flavor::Array(ring) => match ring.reserve() {
                Reserve::Reserved(r) => Ok(Permit {
                    kind: PermitKind::Ring(shared, Some(r)),
                }),
                Reserve::Full => Err((tx, TrySendError::Full(()))),
                Reserve::Closed => Err((tx, TrySendError::Closed(()))),
            },
            Flavor::Zero(zero) => match zero.try_claim() {
                Ok(id) => Ok(Permit {
                    kind: PermitKind::Zero(shared, Some(id)),
                }),
                Err(true) => Err((tx, TrySendError::Closed(()))),
                Err(false) => Err((tx, TrySendError::Full(()))),
            },
        },
        TxRef::Spsc(producer) => match producer.permit_room(drop_oldest) {
            Ok(()) => Ok(Permit {
                kind: PermitKind::Free(TxRef::Spsc(producer)),
            }),
            Err(e) => Err((TxRef::Spsc(producer), e)),
        },
    }
}

// === impl ReserveFuture ===

/// The future of `reserve_async`: waits for room (under any policy), then resolves to a
/// [`Permit`]. Fails only if the queue is closed. Dropping it reserves nothing (and passes
/// on a wake-up it took).
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<'a, T> {
    tx: Option<TxRef<'a, T>>,
    reg: Registration,
}

impl<T> Unpin for ReserveFuture<'_, T> {}

impl<'a, T> ReserveFuture<'a, T> {
    pub(crate) fn new(tx: TxRef<'a, T>) -> Self {
        Self {
            tx: Some(tx),
            reg: Registration::new(),
        }
    }
}

/// The poll routine of a waiting reservation: try; register; re-check.
pub(crate) fn poll_reserve<'a, T>(
    slot: &mut Option<TxRef<'a, T>>,
    reg: &mut Registration,
    waker: &Waker,
) -> Poll<Result<Permit<'a, T>, SendError<()>>> {
    let tx = slot.take().expect("reserve polled after completion");
    tx.core().room.take_notification(reg);
    let tx = match try_reserve(tx) {
        Ok(permit) => {
            permit_core(&permit).room.cancel(reg);
            return Poll::Ready(Ok(permit));
        }
        Err((tx, TrySendError::Closed(()))) => {
            tx.core().room.cancel(reg);
            return Poll::Ready(Err(SendError::Closed(())));
        }
        Err((tx, TrySendError::Full(()))) => tx,
    };
    tx.core().room.register(reg, waker);
    // Re-check: room may have appeared between the attempt and the registration.
    match try_reserve(tx) {
        Ok(permit) => {
            permit_core(&permit).room.cancel(reg);
            Poll::Ready(Ok(permit))
        }
        Err((tx, TrySendError::Closed(()))) => {
            tx.core().room.cancel(reg);
            Poll::Ready(Err(SendError::Closed(())))
        }
        Err((tx, TrySendError::Full(()))) => {
            *slot = Some(tx);
            Poll::Pending
        }
    }
}

fn permit_core<'p, T>(permit: &'p Permit<'_, T>) -> &'p Core {
    match &permit.kind {
        PermitKind::Ring(shared, _) | PermitKind::Zero(shared, _) => &shared.core,
        PermitKind::Free(tx) => tx.core(),
    }
}

impl<'a, T> Future for ReserveFuture<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_reserve(&mut this.tx, &mut this.reg, cx.waker())
    }
}

impl<T> Drop for ReserveFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(tx) = &self.tx {
            tx.core().room.cancel(&mut self.reg);
        }
    }
}

impl<T> fmt::Debug for ReserveFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveFuture").finish_non_exhaustive()
    }
}

// === impl ClosedFuture ===

/// A queue, borrowed by a [`ClosedFuture`].
pub(crate) enum SharedRef<'a, T> {
    Mpmc(&'a mpmc::Shared<T>),
    Spsc(&'a super::spsc::Shared<T>),
}

impl<T> SharedRef<'_, T> {
    fn core(&self) -> &Core {
        match self {
            Self::Mpmc(s) => &s.core,
            Self::Spsc(s) => &s.core,
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Self::Mpmc(s) => s.is_closed(),
            Self::Spsc(s) => s.is_closed(),
        }
    }
}

/// The future of `closed()`: resolves when the queue is closed (by `close`, `abort`, or the
/// last sender or receiver going away). Dropping it has no effect on the queue.
#[must_use = "futures do nothing unless polled"]
pub struct ClosedFuture<'a, T> {
    queue: SharedRef<'a, T>,
    reg: Registration,
}

impl<T> Unpin for ClosedFuture<'_, T> {}

impl<'a, T> ClosedFuture<'a, T> {
    pub(crate) fn new(queue: SharedRef<'a, T>) -> Self {
        Self {
            queue,
            reg: Registration::new(),
        }
    }
}

impl<T> Future for ClosedFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let core = this.queue.core();
        core.closing.take_notification(&mut this.reg);
        if this.queue.is_closed() {
            core.closing.cancel(&mut this.reg);
            return Poll::Ready(());
        }
        core.closing.register(&mut this.reg, cx.waker());
        // Re-check: the queue may have closed between the check and the registration.
        if this.queue.is_closed() {
            core.closing.cancel(&mut this.reg);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<T> Drop for ClosedFuture<'_, T> {
    fn drop(&mut self) {
        self.queue.core().closing.cancel(&mut self.reg);
    }
}

impl<T> fmt::Debug for ClosedFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosedFuture").finish_non_exhaustive()
    }
}

/// Blocking reservation: spin briefly, then park until there is room.
pub(crate) fn reserve_blocking<'a, T>(tx: TxRef<'a, T>) -> Result<Permit<'a, T>, SendError<()>> {
    let mut slot = Some(tx);
    let spun = crate::wait::spin(&mut || {
        let tx = slot.take().expect("sender present while spinning");
        match try_reserve(tx) {
            Ok(permit) => Some(Ok(permit)),
            Err((_, TrySendError::Closed(()))) => Some(Err(SendError::Closed(()))),
            Err((tx, TrySendError::Full(()))) => {
                slot = Some(tx);
                None
            }
        }
    });
    if let Some(done) = spun {
        return done;
    }
    let mut reg = Registration::new();
    crate::wait::block_on(None, &mut |waker| match waker {
        Some(waker) => poll_reserve(&mut slot, &mut reg, waker),
        None => unreachable!("no deadline"),
    })
}
