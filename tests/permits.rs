//! Permits reserve room, not a position in line (tokio's semantics): issue 6 item 6.
//!
//! Each test here failed on the code before core v2, where a permit claimed a position in
//! the ring: receivers stopped at it, a forgotten one wedged them, and after a close an SPSC
//! consumer reported `Closed` while a permit could still send.

mod common;
mod harness;

use std::task::Poll;
use std::time::Duration;

use common::{poll_once, CountingWaker};
use harness::POLICIES;
use pushpull::{Builder, Policy, SendError, Sent, TryRecvError, TrySendError};

/// Values plus outstanding permits never exceed the capacity, for every flavor and policy
/// (except MPMC drop-oldest, whose permits reserve nothing: a send can always evict).
#[test]
fn values_plus_permits_never_exceed_the_capacity() {
    for policy in POLICIES {
        for cap in [1usize, 2, 5] {
            // MPMC
            let (tx, rx) = Builder::new(cap).policy(policy).mpmc::<usize>();
            let permits: Vec<_> = (0..cap - 1).map(|_| tx.try_reserve().unwrap()).collect();
            assert_eq!(
                tx.try_send(0),
                Ok(()),
                "{policy:?} cap {cap}: one room left"
            );
            if policy == Policy::DropOldest {
                // Nothing reserved: a send evicts the oldest.
                assert!(tx.try_reserve().is_ok());
            } else {
                assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
                assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
                // A policy send sees the same room.
                match policy {
                    Policy::Reject => assert_eq!(tx.send(2), Err(SendError::Overloaded(2))),
                    Policy::DropNewest => assert_eq!(tx.send(2), Ok(Sent::DroppedNewest)),
                    Policy::Block => assert!(tx.send_timeout(2, Duration::from_millis(1)).is_err()),
                    _ => unreachable!("a variant added since"),
                }
            }
            for (i, p) in permits.into_iter().enumerate() {
                assert!(p.send(10 + i).unwrap().is_queued());
            }
            assert!(rx.len() <= cap);
            assert_eq!(rx.try_recv(), Ok(0), "sent before the permits' values");

            // SPSC: a permit borrows the producer, so check through `try_reserve` alone.
            let (mut tx, mut rx) = Builder::new(cap).policy(policy).spsc::<usize>();
            for i in 0..cap - 1 {
                let _ = tx.send(i).unwrap();
            }
            let permit = tx.try_reserve().unwrap();
            let _ = permit.send(99).unwrap();
            assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
            assert_eq!(rx.len(), cap);
            let _ = rx.try_recv();
        }
    }
}

/// A value sent after a reservation is received before the permit's value; an outstanding
/// permit never stops receivers.
#[test]
fn the_value_takes_its_place_when_the_permit_sends() {
    let (tx, rx) = pushpull::mpmc::<u32>(4);
    let permit = tx.try_reserve().unwrap();
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1), "the permit holds no place in line");
    tx.try_send(2).unwrap();
    let _ = permit.send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![2, 3]);
}

/// A permit leaked with `mem::forget` costs its one unit of room for good, never stops
/// receivers, and delays `Closed` after a close forever (documented, as tokio). The old code
/// left a reserved position that wedged MPMC receivers.
#[test]
fn a_leaked_permit_costs_one_room_and_blocks_no_receiver() {
    let cap = 3;
    let (tx, rx) = pushpull::mpmc::<u32>(cap);
    std::mem::forget(tx.try_reserve().unwrap());
    for round in 0..10 {
        tx.try_send(round).unwrap();
        tx.try_send(round + 100).unwrap();
        assert!(tx.try_send(7).is_err(), "one room is gone for good");
        assert_eq!(rx.try_recv(), Ok(round), "receivers are never stopped");
        assert_eq!(rx.try_recv(), Ok(round + 100));
    }
    tx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "Closed is delayed");

    let (mut tx, mut rx) = pushpull::spsc::<u32>(cap);
    std::mem::forget(tx.try_reserve().unwrap());
    for round in 0..10 {
        tx.try_send(round).unwrap();
        tx.try_send(round + 100).unwrap();
        assert!(tx.try_send(7).is_err(), "one room is gone for good");
        assert_eq!(rx.try_recv(), Ok(round));
        assert_eq!(rx.try_recv(), Ok(round + 100));
    }
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "Closed is delayed");
}

/// After a drain-close, receivers report `Closed` only once every outstanding permit has
/// sent or been dropped, and the permit's value is received. On SPSC the old code reported
/// `Closed` at once and then discarded the permit's value (issue 6 item 8a).
#[test]
fn close_waits_for_outstanding_permits() {
    // MPMC, sent.
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    let permit = tx.try_reserve().unwrap();
    tx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(permit.send(1), Ok(Sent::Queued));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    // MPMC, dropped: a receiver waiting for it is woken and sees `Closed`.
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    let permit = tx.try_reserve().unwrap();
    tx.close();
    let (w, waker) = CountingWaker::new();
    let mut r = rx.recv_async();
    assert!(poll_once(&mut r, &waker).is_pending());
    drop(permit);
    assert!(w.count() >= 1);
    assert!(matches!(poll_once(&mut r, &waker), Poll::Ready(Err(_))));

    // SPSC, sent (closed from the consumer: the permit borrows the producer).
    let (mut tx, mut rx) = pushpull::spsc::<u32>(2);
    let permit = tx.reserve().unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(permit.send(1), Ok(Sent::Queued));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert!(tx.try_send(2).is_err());
    // SPSC, dropped.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(2);
    let permit = tx.reserve().unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(permit);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    let m = rx.metrics();
    assert_eq!((m.sent, m.received, m.discarded), (0, 0, 0));
}

/// The last permit's send on a closed ring wakes every waiting receiver: one takes the
/// value, the others then see `Closed` (found by the fuzz target: only one was woken, the
/// other stayed parked).
#[test]
fn the_last_permit_sent_after_a_close_wakes_every_receiver() {
    for capacity in [1usize, 4] {
        let (tx, rx) = pushpull::mpmc::<u32>(capacity);
        let permit = tx.try_reserve().unwrap();
        tx.close();
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futures: Vec<_> = (0..3).map(|_| rx.recv_async()).collect();
        for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
            assert!(poll_once(f, w).is_pending());
        }
        assert_eq!(permit.send(7), Ok(Sent::Queued));
        for (i, (w, _)) in wakers.iter().enumerate() {
            assert!(w.count() >= 1, "capacity {capacity}: receiver {i} woken");
        }
        let results: Vec<_> = futures
            .iter_mut()
            .zip(&wakers)
            .map(|(f, (_, w))| poll_once(f, w))
            .collect();
        assert_eq!(results[0], Poll::Ready(Ok(7)), "capacity {capacity}");
        assert!(
            results[1..]
                .iter()
                .all(|r| matches!(r, Poll::Ready(Err(_)))),
            "capacity {capacity}: {results:?}"
        );
    }
    // The same with threads blocked in `recv`.
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    let permit = tx.try_reserve().unwrap();
    tx.close();
    let waiting = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (rx, waiting) = (rx.clone(), waiting.clone());
            std::thread::spawn(move || {
                waiting.wait();
                rx.recv_timeout(Duration::from_secs(30))
            })
        })
        .collect();
    waiting.wait();
    // Let both park (a late one finds the result at once, which is fine too).
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(permit.send(7), Ok(Sent::Queued));
    let mut results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    results.sort_by_key(Result::is_err);
    assert_eq!(
        results,
        vec![Ok(7), Err(pushpull::RecvTimeoutError::Closed)],
        "nobody waits out the deadline"
    );
}

/// A reservation is not a value: it does not raise the high-water mark (found by the fuzz
/// target: SPSC noted the length plus one when it reserved).
#[test]
fn a_reservation_does_not_raise_the_high_water_mark() {
    for exact in [false, true] {
        let mut b = Builder::new(2);
        if exact {
            b = b.exact_high_water();
        }
        let (mut tx, mut rx) = b.spsc::<u32>();
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        tx.try_send(2).unwrap();
        let permit = tx.try_reserve().unwrap();
        assert!(
            rx.metrics().high_water <= 1,
            "exact {exact}: {:?}",
            rx.metrics()
        );
        drop(permit);
        let (tx, rx) = b.mpmc::<u32>();
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        tx.try_send(2).unwrap();
        let permit = tx.try_reserve().unwrap();
        assert!(
            rx.metrics().high_water <= 1,
            "exact {exact}: {:?}",
            rx.metrics()
        );
        drop(permit);
    }
}

/// After an abort a permit's send fails and hands its value back (`Permit::send` is
/// fallible); the same when every receiver is gone.
#[test]
fn a_permit_send_after_abort_hands_the_value_back() {
    let (tx, rx) = pushpull::mpmc::<String>(2);
    let permit = tx.try_reserve().unwrap();
    assert_eq!(tx.abort(), 0);
    assert_eq!(
        permit.send("kept".into()),
        Err(SendError::Closed("kept".into()))
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, rx) = pushpull::mpmc::<String>(2);
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    assert!(matches!(permit.send("x".into()), Err(SendError::Closed(v)) if v == "x"));

    let (mut tx, mut rx) = pushpull::spsc::<String>(2);
    let permit = tx.try_reserve().unwrap();
    assert_eq!(rx.abort(), 0);
    assert!(matches!(permit.send("y".into()), Err(SendError::Closed(v)) if v == "y"));
    assert_eq!(tx.metrics().sent, 0);

    let (mut tx, rx) = pushpull::spsc::<String>(2);
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    assert!(matches!(permit.send("z".into()), Err(SendError::Closed(v)) if v == "z"));
}

/// `reserve_timeout` / `reserve_deadline` wait for room and give up at the deadline; a
/// reservation that can complete at once does, even past its deadline.
#[test]
fn reserve_with_a_deadline() {
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    let p = tx.reserve_deadline(std::time::Instant::now()).unwrap();
    assert!(matches!(
        tx.reserve_timeout(Duration::from_millis(5)),
        Err(pushpull::SendTimeoutError::Timeout(()))
    ));
    drop(p);
    let _ = tx.reserve_timeout(Duration::MAX).unwrap().send(1).unwrap();
    assert_eq!(rx.recv(), Ok(1));
    tx.close();
    assert!(matches!(
        tx.reserve_timeout(Duration::from_millis(5)),
        Err(pushpull::SendTimeoutError::Closed(()))
    ));

    let (mut tx, _rx) = pushpull::spsc::<u32>(1);
    tx.try_send(0).unwrap();
    assert!(matches!(
        tx.reserve_timeout(Duration::from_millis(5)),
        Err(pushpull::SendTimeoutError::Timeout(()))
    ));
}

/// A blocked reservation is woken by room, and a dropped permit gives its room to a waiting
/// sender.
#[test]
fn a_dropped_permit_wakes_a_waiting_sender() {
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    let permit = tx.try_reserve().unwrap();
    let tx2 = tx.clone();
    let sender = std::thread::spawn(move || tx2.send_timeout(5, harness::GENEROUS));
    harness::let_it_block();
    drop(permit);
    assert_eq!(sender.join().unwrap(), Ok(Sent::Queued));
    assert_eq!(rx.recv(), Ok(5));
}
