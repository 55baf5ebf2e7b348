//! The API gaps closed by core v2 (issue 6 item 13): handle counts, `same_queue` on both
//! flavors, `Sink::poll_close` disconnecting one sender, and the type-erased `Closer`.

#[cfg(feature = "futures")]
use std::{
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(feature = "futures")]
use futures::{sink::Sink, task::noop_waker};

#[test]
fn sender_and_receiver_counts() {
    let (tx, rx) = pushpull::mpmc::<u8>(4);
    assert_eq!((tx.sender_count(), tx.receiver_count()), (1, 1));
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    let rx3 = rx.clone();
    assert_eq!((rx.sender_count(), rx.receiver_count()), (2, 3));
    drop((tx2, rx2));
    assert_eq!((rx3.sender_count(), rx3.receiver_count()), (1, 2));
    drop(tx);
    assert_eq!(rx.sender_count(), 0);
    assert!(rx.is_closed());
}

#[test]
fn same_queue_on_both_flavors() {
    let (tx, rx) = pushpull::mpmc::<u8>(4);
    let (other, _orx) = pushpull::mpmc::<u8>(4);
    assert!(tx.same_queue(&tx.clone()));
    assert!(rx.same_queue(&rx.clone()));
    assert!(!tx.same_queue(&other));

    let (p, c) = pushpull::spsc::<u8>(4);
    let (p2, c2) = pushpull::spsc::<u8>(4);
    assert!(p.same_queue(&c) && c.same_queue(&p));
    assert!(!p.same_queue(&c2) && !c.same_queue(&p2));

    // Closers of queues of different item types, in one `Vec`.
    let closers = [tx.closer(), p.closer(), tx.closer()];
    assert!(closers[0].same_queue(&closers[2]));
    assert!(!closers[0].same_queue(&closers[1]));
}

/// `Sink::poll_close` disconnects this sender (as `futures::channel::mpsc`): the queue
/// closes when the last sender is gone, and further `Sink` sends on it fail.
#[test]
#[cfg(feature = "futures")]
fn sink_poll_close_disconnects_one_sender() {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let (tx, rx) = pushpull::mpmc::<u8>(4);
    let mut a = tx.clone();
    let mut b = tx;
    assert_eq!(Pin::new(&mut a).poll_ready(&mut cx), Poll::Ready(Ok(())));
    Pin::new(&mut a).start_send(1).unwrap();
    assert_eq!(Pin::new(&mut a).poll_close(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(rx.sender_count(), 1);
    assert!(!rx.is_closed(), "another sender is alive");
    assert!(Pin::new(&mut a).poll_ready(&mut cx).is_ready());
    assert!(Pin::new(&mut a).start_send(2).is_err(), "disconnected");
    Pin::new(&mut b).start_send(3).unwrap();
    drop(a); // already disconnected: does not count again
    assert!(!rx.is_closed());
    assert_eq!(Pin::new(&mut b).poll_close(&mut cx), Poll::Ready(Ok(())));
    assert!(rx.is_closed(), "the last sender disconnected");
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![1, 3]);
    drop(b);

    // SPSC: the only sender disconnects, the queue closes (drain).
    let (mut p, mut c) = pushpull::spsc::<u8>(2);
    assert_eq!(Pin::new(&mut p).poll_ready(&mut cx), Poll::Ready(Ok(())));
    Pin::new(&mut p).start_send(9).unwrap();
    assert_eq!(Pin::new(&mut p).poll_close(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(c.try_recv(), Ok(9));
    assert!(c.try_recv().is_err());
}

/// A `Sink` reservation is a permit: it holds room until `start_send` uses it, and a value
/// sent meanwhile by another sender takes its place first.
#[test]
#[cfg(feature = "futures")]
fn sink_poll_ready_reserves_room() {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let (tx, rx) = pushpull::mpmc::<u8>(2);
    let mut sink = tx.clone();
    assert_eq!(Pin::new(&mut sink).poll_ready(&mut cx), Poll::Ready(Ok(())));
    tx.try_send(1).unwrap();
    assert!(tx.try_send(2).is_err(), "the second room is the sink's");
    Pin::new(&mut sink).start_send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![1, 3]);
    // An unused reservation is given back when the sink is closed or dropped.
    assert_eq!(Pin::new(&mut sink).poll_ready(&mut cx), Poll::Ready(Ok(())));
    drop(sink);
    tx.try_send(4).unwrap();
    tx.try_send(5).unwrap();
}
