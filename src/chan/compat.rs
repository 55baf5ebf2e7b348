//! `futures_core::Stream` for the receiving ends and `futures_sink::Sink` for the sending
//! ends (cargo feature `futures`).
//!
//! A receiving end is a `Stream` of its values, ending when the queue is closed and
//! drained. Dropping the end in the middle of a poll passes on a wake-up it took, as a
//! dropped [`RecvFuture`](crate::RecvFuture) does.
//!
//! A sending end is a `Sink`: `poll_ready` reserves room (as [`Permit`](crate::Permit)
//! does, kept in the end), and `start_send` uses it, so `start_send` never fails for lack of
//! room. With [`DropOldest`](crate::Policy::DropOldest), a value that `start_send` evicts is
//! dropped (it is counted in [`Metrics::evicted_oldest`](crate::Metrics::evicted_oldest));
//! use `send` to get it back. `poll_flush` has nothing to do: values are in the queue as
//! soon as they are sent.
//!
//! `poll_close` disconnects the end, as `futures::channel::mpsc` does: it gives up an unused
//! reservation, and the end stops counting as a sender, so the queue closes (drain) when the
//! last sender is gone (for an SPSC [`Producer`], at once). Later `Sink` calls on it fail with
//! `Closed`; its other methods keep working while the queue is open.

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;

use super::credit::ReserveState;
use super::flavor::{Flavor, Mpmc, Spsc};
use super::poll::Tx;
use super::{Consumer, Producer, Queue, Receiver, Sender};
use crate::error::SendError;
use crate::metrics::Count;
use crate::wait::Wake;

type Reg<T, F> = <<F as Flavor>::Queue<T> as Queue<T>>::Reg;

/// What a sending end keeps for its `Sink` impl.
pub(crate) struct SinkState<F: Flavor, T> {
    st: ReserveState<Reg<T, F>>,
    /// `poll_ready` reserved room that `start_send` has not used yet.
    reserved: bool,
    pub(crate) disconnected: bool,
}

impl<F: Flavor, T> Default for SinkState<F, T> {
    fn default() -> Self {
        Self {
            st: Default::default(),
            reserved: false,
            disconnected: false,
        }
    }
}

impl<F: Flavor, T> core::fmt::Debug for SinkState<F, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SinkState")
            .field("reserved", &self.reserved)
            .field("disconnected", &self.disconnected)
            .finish()
    }
}

/// Gives up the registration and an unused reservation (the end is dropped, or closed).
///
/// The caller holds the end's `&mut` (so, for SPSC, it is the only producer).
pub(crate) fn release_sink<F: Flavor, T>(sink: &mut SinkState<F, T>, tx: Tx<'_, T, F::Queue<T>>) {
    // SAFETY: the caller holds the end exclusively.
    unsafe {
        tx.cancel_reserve(&mut sink.st);
        if core::mem::take(&mut sink.reserved) {
            tx.release_reserved();
        }
    }
}

fn poll_ready<F: Flavor, T>(
    sink: &mut SinkState<F, T>,
    tx: Tx<'_, T, F::Queue<T>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<()>>> {
    if sink.disconnected {
        return Poll::Ready(Err(SendError::Closed(())));
    }
    if sink.reserved {
        return Poll::Ready(Ok(()));
    }
    // SAFETY: the caller holds the end exclusively (`Pin<&mut Self>`).
    match unsafe { tx.poll_reserve(&mut sink.st, &Wake::task(cx.waker())) } {
        Poll::Ready(Ok(())) => {
            sink.reserved = true;
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// `start_send`: into the reserved room; without a reservation (`poll_ready` was not called
/// first, which breaks the `Sink` contract) it sends as `send` would, without waiting, and
/// a value that would have to wait is dropped and counted as rejected.
fn start_send<F: Flavor, T>(
    sink: &mut SinkState<F, T>,
    tx: Tx<'_, T, F::Queue<T>>,
    item: T,
) -> Result<(), SendError<()>> {
    if sink.disconnected {
        return Err(SendError::Closed(()));
    }
    match core::mem::take(&mut sink.reserved) {
        // SAFETY: the caller holds the end exclusively, and a reservation of this queue.
        true => match unsafe { tx.send_reserved(item) } {
            // An evicted value (drop-oldest) is dropped here; it is counted.
            Ok(sent) => {
                drop(sent);
                Ok(())
            }
            Err(_) => Err(SendError::Closed(())),
        },
        // SAFETY: the caller holds the end exclusively.
        false => match unsafe { tx.send_once(item) } {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(SendError::Closed(_))) => Err(SendError::Closed(())),
            Ok(Err(SendError::Overloaded(_))) => Err(SendError::Overloaded(())),
            Err(v) => {
                tx.counters.add(Count::Rejected);
                drop(v);
                Err(SendError::Overloaded(()))
            }
        },
    }
}

impl<T> Sink<T> for Sender<T> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        let r = poll_ready::<Mpmc, T>(&mut sink, this.tx(), cx);
        this.sink = sink;
        r
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        let r = start_send::<Mpmc, T>(&mut sink, this.tx(), item);
        this.sink = sink;
        r
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        release_sink::<Mpmc, T>(&mut sink, this.tx());
        this.sink = sink;
        this.disconnect();
        Poll::Ready(Ok(()))
    }
}

impl<T> Sink<T> for Producer<T> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        let r = poll_ready::<Spsc, T>(&mut sink, this.tx(), cx);
        this.sink = sink;
        r
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        let r = start_send::<Spsc, T>(&mut sink, this.tx(), item);
        this.sink = sink;
        r
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        release_sink::<Spsc, T>(&mut sink, this.tx());
        sink.disconnected = true;
        this.sink = sink;
        // The only sender disconnects: the queue closes (drain).
        this.close();
        Poll::Ready(Ok(()))
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let mut reg = core::mem::take(&mut this.stream);
        // SAFETY: MPMC: any thread may receive.
        let r = unsafe { this.rx().poll_recv(&mut reg, &Wake::task(cx.waker())) };
        this.stream = reg;
        r.map(Result::ok)
    }
}

impl<T> Stream for Consumer<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let mut reg = core::mem::take(&mut this.stream);
        // SAFETY: `&mut self` on the only consumer.
        let r = unsafe { this.rx().poll_recv(&mut reg, &Wake::task(cx.waker())) };
        this.stream = reg;
        r.map(Result::ok)
    }
}
