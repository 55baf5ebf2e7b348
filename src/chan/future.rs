//! The futures of every waiting operation.
//!
//! They depend on no runtime: they only use the `Waker` of the `Context` they are polled
//! with. A deadline is any `Future<Output = ()>` the caller supplies (a runtime's sleep, for
//! example). Every future is `Unpin` and `#[must_use]`, and written once for both flavors
//! (its last type parameter, [`Flavor`], says which queue it borrows).
//!
//! # Cancel contract
//!
//! - A dropped [`RecvFuture`] never loses a value: a value is only taken out of the queue
//!   inside `poll` when it is returned. If the future was woken for a value and is dropped
//!   before it took one, it passes the wake-up on to the next waiting receiver.
//! - A dropped [`SendFuture`] drops its value exactly once, and never sends it twice: the
//!   value is either in the queue (the future returned `Ready`) or still in the future.
//!   [`SendFuture::into_inner`] gives the value back instead. To send without ever handing
//!   the value to a future that might be dropped, reserve room first
//!   ([`reserve_async`](crate::Sender::reserve_async)): the [`Permit`]'s `send` does not
//!   wait.
//! - A dropped [`ReserveFuture`] reserves nothing (and passes on a wake-up it took).
//! - Dropping any of these futures never blocks.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::closer::Closing;
use super::credit::ReserveState;
use super::flavor::{Flavor, Mpmc};
use super::permit::Permit;
use super::poll::{wait_until, Rx, SendState, Tx};
use super::{Queue, Sent};
use crate::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError};
use crate::wait::list::Registration;
use crate::wait::Wake;

type Reg<T, F> = <<F as Flavor>::Queue<T> as Queue<T>>::Reg;

// === impl SendFuture ===

/// The future of `send_async`: sends under the queue's policy, waiting for room under
/// [`Block`](crate::Policy::Block). See the module docs for its cancel contract.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T, F: Flavor = Mpmc> {
    tx: Tx<'a, T, F::Queue<T>>,
    st: SendState<T, Reg<T, F>>,
    done: bool,
    /// Has returned `Pending` (so it may stand in line): the fast first attempt is over.
    waited: bool,
    /// Made from the sending end's borrow: for SPSC, `&'a mut Producer`, which makes this
    /// future the only user of the sending side while it lives.
    _end: PhantomData<&'a mut ()>,
}

// Never pinned structurally: the value moves in and out by `Option::take`.
impl<T, F: Flavor> Unpin for SendFuture<'_, T, F> {}

impl<'a, T, F: Flavor> SendFuture<'a, T, F> {
    /// # Safety
    ///
    /// For SPSC, the future is made from the producer's exclusive borrow for `'a`.
    pub(crate) unsafe fn new(tx: Tx<'a, T, F::Queue<T>>, value: T) -> Self {
        Self {
            tx,
            st: SendState::new(Some(value)),
            done: false,
            waited: false,
            _end: PhantomData,
        }
    }

    /// Leaves the line (passing on a wake-up it took) and returns the value if it has not
    /// been sent. The future is done afterwards.
    #[inline]
    fn withdraw(&mut self) -> Option<T> {
        if core::mem::replace(&mut self.done, true) {
            return None;
        }
        if !self.waited {
            // Never stood in line.
            return self.st.value.take();
        }
        self.leave_line()
    }

    #[cold]
    fn leave_line(&mut self) -> Option<T> {
        // SAFETY: this future is the only user of the sending side (see `new`), and
        // `&mut self` keeps its own calls apart.
        unsafe { self.tx.cancel_send(&mut self.st) };
        self.st.value.take()
    }

    /// Gives the value back if it has not been sent yet (`None` if it has). Leaves the
    /// queue's line, passing on a wake-up the future had taken.
    pub fn into_inner(mut self) -> Option<T> {
        self.withdraw()
    }

    /// The deadline passed: leave the line and make one last attempt.
    fn give_up(&mut self) -> Result<Sent<T>, SendTimeoutError<T>> {
        if core::mem::replace(&mut self.done, true) {
            panic!("SendDeadline polled after completion");
        }
        // SAFETY: as in `withdraw`.
        unsafe { self.tx.give_up_send(&mut self.st) }
    }
}

impl<T, F: Flavor> Future for SendFuture<'_, T, F> {
    type Output = Result<Sent<T>, SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "SendFuture polled after completion");
        let tried = !this.waited && this.tx.chan.queue.try_first();
        if tried {
            // First poll: the plain attempt, without the wait machinery (most sends
            // complete here). It has not stood in line, so there is nothing to leave.
            if let Some(v) = this.st.value.take() {
                // SAFETY: as in `withdraw`.
                match unsafe { this.tx.send_once(v) } {
                    Ok(done) => {
                        this.done = true;
                        return Poll::Ready(done);
                    }
                    Err(v) => this.st.value = Some(v),
                }
            }
        }
        let wake = Wake::task(cx.waker()).tried(tried);
        // SAFETY: as in `withdraw`.
        let result = unsafe { this.tx.poll_send(&mut this.st, &wake) };
        this.done = result.is_ready();
        this.waited = !this.done;
        result
    }
}

impl<T, F: Flavor> Drop for SendFuture<'_, T, F> {
    #[inline]
    fn drop(&mut self) {
        // The value (if unsent) drops here, once.
        drop(self.withdraw());
    }
}

impl<T, F: Flavor> fmt::Debug for SendFuture<'_, T, F> {
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
pub struct RecvFuture<'a, T, F: Flavor = Mpmc> {
    rx: Rx<'a, T, F::Queue<T>>,
    reg: Reg<T, F>,
    done: bool,
    /// Has returned `Pending` (see `SendFuture::waited`).
    waited: bool,
    /// Made from the receiving end's borrow (`&'a mut Consumer` for SPSC).
    _end: PhantomData<&'a mut ()>,
}

impl<T, F: Flavor> Unpin for RecvFuture<'_, T, F> {}

impl<'a, T, F: Flavor> RecvFuture<'a, T, F> {
    /// # Safety
    ///
    /// For SPSC, the future is made from the consumer's exclusive borrow for `'a`.
    pub(crate) unsafe fn new(rx: Rx<'a, T, F::Queue<T>>) -> Self {
        Self {
            rx,
            reg: Default::default(),
            done: false,
            waited: false,
            _end: PhantomData,
        }
    }

    /// Leaves the line, passing on a wake-up it took.
    #[inline]
    fn withdraw(&mut self) {
        if core::mem::replace(&mut self.done, true) || !self.waited {
            return;
        }
        self.leave_line();
    }

    #[cold]
    fn leave_line(&mut self) {
        // SAFETY: this future is the only user of the receiving side (see `new`). A value
        // handed to it (rendezvous) is passed on to the next receiver, so nothing comes back.
        unsafe { self.rx.chan.queue.cancel_recv(&mut self.reg) };
    }

    pub(crate) fn give_up(&mut self) -> Result<T, RecvTimeoutError> {
        if core::mem::replace(&mut self.done, true) {
            panic!("RecvDeadline polled after completion");
        }
        // SAFETY: as in `withdraw`.
        unsafe { self.rx.give_up_recv(&mut self.reg) }
    }
}

impl<T, F: Flavor> Future for RecvFuture<'_, T, F> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "RecvFuture polled after completion");
        let tried = !this.waited && this.rx.chan.queue.try_first();
        if tried {
            // First poll: the plain attempt (see `SendFuture::poll`).
            // SAFETY: as in `withdraw`.
            match unsafe { this.rx.try_recv() } {
                Ok(v) => {
                    this.done = true;
                    return Poll::Ready(Ok(v));
                }
                Err(TryRecvError::Closed) => {
                    this.done = true;
                    return Poll::Ready(Err(RecvError));
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        let wake = Wake::task(cx.waker()).tried(tried);
        // SAFETY: as in `withdraw`.
        let result = unsafe { this.rx.poll_recv(&mut this.reg, &wake) };
        this.done = result.is_ready();
        this.waited = !this.done;
        result
    }
}

impl<T, F: Flavor> Drop for RecvFuture<'_, T, F> {
    #[inline]
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl<T, F: Flavor> fmt::Debug for RecvFuture<'_, T, F> {
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
pub struct SendDeadline<'a, T, D, F: Flavor = Mpmc> {
    send: SendFuture<'a, T, F>,
    deadline: D,
}

impl<'a, T, D, F: Flavor> SendDeadline<'a, T, D, F> {
    pub(crate) fn new(send: SendFuture<'a, T, F>, deadline: D) -> Self {
        Self { send, deadline }
    }

    /// Gives the value back if it has not been sent yet.
    pub fn into_inner(self) -> Option<T> {
        self.send.into_inner()
    }
}

impl<T, D: Future<Output = ()> + Unpin, F: Flavor> Future for SendDeadline<'_, T, D, F> {
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

impl<T, D, F: Flavor> fmt::Debug for SendDeadline<'_, T, D, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendDeadline").finish_non_exhaustive()
    }
}

/// A receive with a deadline: `recv_async_deadline`. Resolves to `Timeout` if the deadline
/// future completes first (a value already available is still received).
#[must_use = "futures do nothing unless polled"]
pub struct RecvDeadline<'a, T, D, F: Flavor = Mpmc> {
    recv: RecvFuture<'a, T, F>,
    deadline: D,
}

impl<'a, T, D, F: Flavor> RecvDeadline<'a, T, D, F> {
    pub(crate) fn new(recv: RecvFuture<'a, T, F>, deadline: D) -> Self {
        Self { recv, deadline }
    }
}

impl<T, D: Future<Output = ()> + Unpin, F: Flavor> Future for RecvDeadline<'_, T, D, F> {
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

impl<T, D, F: Flavor> fmt::Debug for RecvDeadline<'_, T, D, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvDeadline").finish_non_exhaustive()
    }
}

// === impl ReserveFuture ===

/// The future of `reserve_async`: waits for room (under any policy), then resolves to a
/// [`Permit`]. Fails only if the queue is closed. Dropping it reserves nothing (and passes
/// on a wake-up it took).
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<'a, T, F: Flavor = Mpmc> {
    tx: Tx<'a, T, F::Queue<T>>,
    st: ReserveState<Reg<T, F>>,
    done: bool,
    _end: PhantomData<&'a mut ()>,
}

impl<T, F: Flavor> Unpin for ReserveFuture<'_, T, F> {}

impl<'a, T, F: Flavor> ReserveFuture<'a, T, F> {
    /// # Safety
    ///
    /// For SPSC, the future is made from the producer's exclusive borrow for `'a`.
    pub(crate) unsafe fn new(tx: Tx<'a, T, F::Queue<T>>) -> Self {
        Self {
            tx,
            st: Default::default(),
            done: false,
            _end: PhantomData,
        }
    }
}

impl<'a, T, F: Flavor> Future for ReserveFuture<'a, T, F> {
    type Output = Result<Permit<'a, T, F>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ReserveFuture polled after completion");
        let wake = Wake::task(cx.waker());
        // SAFETY: this future is the only user of the sending side (see `new`).
        match unsafe { this.tx.poll_reserve(&mut this.st, &wake) } {
            Poll::Ready(r) => {
                this.done = true;
                // SAFETY: as above; the permit takes over the future's borrow.
                Poll::Ready(r.map(|()| unsafe { Permit::new(this.tx) }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, F: Flavor> Drop for ReserveFuture<'_, T, F> {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: as in `poll`.
            unsafe { self.tx.cancel_reserve(&mut self.st) };
        }
    }
}

impl<T, F: Flavor> fmt::Debug for ReserveFuture<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// === impl ClosedFuture ===

/// The future of `closed()`: resolves when the queue is closed (by `close`, `abort`, or the
/// last sender or receiver going away). Not generic: any queue's. Dropping it has no effect
/// on the queue.
#[must_use = "futures do nothing unless polled"]
pub struct ClosedFuture<'a> {
    closing: &'a Closing,
    reg: Registration,
}

impl<'a> ClosedFuture<'a> {
    pub(crate) fn new(closing: &'a Closing) -> Self {
        Self {
            closing,
            reg: Registration::default(),
        }
    }
}

impl Future for ClosedFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let closing = this.closing;
        wait_until(
            &closing.waiters,
            &mut this.reg,
            &Wake::task(cx.waker()),
            || closing.is_set().then_some(()),
        )
    }
}

impl Drop for ClosedFuture<'_> {
    fn drop(&mut self) {
        self.closing.waiters.cancel(&mut self.reg);
    }
}

impl fmt::Debug for ClosedFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosedFuture").finish_non_exhaustive()
    }
}
