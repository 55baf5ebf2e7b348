//! `futures_core::Stream` for the receiving ends and `futures_sink::Sink` for the sending
//! ends (cargo feature `futures`).
//!
//! A receiving end is a `Stream` of its values, ending when the queue is closed and
//! drained. Dropping the end in the middle of a poll passes on a wake-up it took, as a
//! dropped [`RecvFuture`](crate::RecvFuture) does.
//!
//! A sending end is a `Sink`: `poll_ready` reserves room (a [`Permit`](crate::Permit), kept
//! in the end), and `start_send` uses it, so `start_send` never fails for lack of room. With
//! [`DropOldest`](crate::Policy::DropOldest), a value that `start_send` evicts is dropped
//! (it is counted in [`Metrics::evicted_oldest`](crate::Metrics::evicted_oldest)); use
//! `send` to get it back. `poll_flush` and `poll_close` have nothing to do (values are in
//! the queue as soon as they are sent; dropping the last sender is what closes it) and only
//! give up a reservation that was not used.

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;

use super::future::{self, Permit, RawPermit, RxRef, TxRef};
use super::{send_once, Consumer, Producer, Receiver, Sender};
use crate::error::SendError;
use crate::metrics::Count;
use crate::wait::Registration;

/// What a sending end keeps for its `Sink` impl.
#[derive(Debug, Default)]
pub(crate) struct SinkState {
    reg: Registration,
    permit: Option<RawPermit>,
}

/// Gives up the registration and an unused reservation (the end is dropped, or flushed).
pub(crate) fn release_sink<T>(sink: &mut SinkState, tx: TxRef<'_, T>) {
    let core_room = match &tx {
        TxRef::Mpmc(shared) => &shared.core.room,
        TxRef::Spsc(producer) => &producer.core_ref().room,
    };
    core_room.cancel(&mut sink.reg);
    if let Some(raw) = sink.permit.take() {
        drop(Permit::from_raw(raw, tx));
    }
}

fn poll_ready<T>(
    sink: &mut SinkState,
    tx: TxRef<'_, T>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<()>>> {
    if sink.permit.is_some() {
        return Poll::Ready(Ok(()));
    }
    let mut slot = Some(tx);
    match future::poll_reserve(&mut slot, &mut sink.reg, cx.waker()) {
        Poll::Ready(Ok(permit)) => {
            sink.permit = Some(permit.into_raw());
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// `start_send` without a reservation (`poll_ready` was not called first, which breaks the
/// `Sink` contract): sends as `send` would, without waiting; if the queue is full under
/// `Block`, the value is dropped and counted as rejected.
fn send_unreserved<T>(tx: &mut impl super::Tx<T>, item: T) -> Result<(), SendError<()>> {
    match send_once(tx, item) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(SendError::Closed(_))) => Err(SendError::Closed(())),
        Ok(Err(SendError::Overloaded(_))) => Err(SendError::Overloaded(())),
        Err(v) => {
            tx.core().counters.add(Count::Rejected, 1);
            drop(v);
            Err(SendError::Overloaded(()))
        }
    }
}

impl<T> Sink<T> for Sender<T> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        poll_ready(&mut this.sink, TxRef::Mpmc(&this.shared), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        match this.sink.permit.take() {
            Some(raw) => {
                // An evicted value (drop-oldest) is dropped here; it is counted.
                drop(Permit::from_raw(raw, TxRef::Mpmc(&this.shared)).send(item));
                Ok(())
            }
            None => send_unreserved(&mut &*this.shared, item),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        release_sink(&mut this.sink, TxRef::Mpmc(&this.shared));
        Poll::Ready(Ok(()))
    }
}

impl<T> Sink<T> for Producer<T> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        let result = poll_ready(&mut sink, TxRef::Spsc(this), cx);
        this.sink = sink;
        result
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        match this.sink.permit.take() {
            Some(_free) => match this.permit_send(item) {
                Ok(sent) => {
                    // An evicted value (drop-oldest) is dropped here; it is counted.
                    drop(sent);
                    Ok(())
                }
                // The room was used by a `try_send` between `poll_ready` and now.
                Err(item) => send_unreserved(this, item),
            },
            None => send_unreserved(this, item),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let mut sink = core::mem::take(&mut this.sink);
        release_sink(&mut sink, TxRef::Spsc(this));
        Poll::Ready(Ok(()))
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        future::poll_recv_place(&mut RxRef::Mpmc(&this.shared), &mut this.stream, cx.waker())
            .map(Result::ok)
    }
}

impl<T> Stream for Consumer<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let mut place = core::mem::take(&mut this.stream);
        let result = future::poll_recv_place(&mut RxRef::Spsc(this), &mut place, cx.waker());
        this.stream = place;
        result.map(Result::ok)
    }
}
