//! The rendezvous (MPMC capacity 0): capacity is exact there too (issue 6 item 11).
//!
//! The old rendezvous counted values handed to a receive future as queued (`len() > 0`),
//! counted a `try_send` as sent before any receiver had the value, and kept the values of
//! receive futures dropped after a hand-off in a list with no bound.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use common::{poll_once, CountingWaker};
use pushpull::TryRecvError;

const fn scaled(big: usize, small: usize) -> usize {
    if cfg!(miri) {
        small
    } else {
        big
    }
}

/// `len()` is 0 at every moment, while senders and receivers of both kinds exchange values.
#[test]
fn a_rendezvous_never_reports_a_length() {
    let n = scaled(20_000, 100);
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        // A closer, not a sender: it must not keep the queue open.
        let (closer, done) = (tx.closer(), done.clone());
        thread::spawn(move || {
            let mut samples = 0u64;
            while !done.load(SeqCst) {
                assert_eq!(closer.len(), 0);
                assert_eq!(closer.metrics().len, 0);
                thread::yield_now();
                samples += 1;
            }
            samples
        })
    };
    let sender = {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..n {
                if i % 2 == 0 {
                    let _ = tx.send(i).unwrap();
                } else {
                    let _ = futures::executor::block_on(tx.send_async(i)).unwrap();
                }
            }
        })
    };
    drop(tx);
    let mut sum = 0;
    for k in 0.. {
        let v = if k % 3 == 0 {
            futures::executor::block_on(rx.recv_async())
        } else {
            rx.recv()
        };
        match v {
            Ok(v) => sum += v,
            Err(_) => break,
        }
        assert_eq!(rx.len(), 0);
    }
    sender.join().unwrap();
    done.store(true, SeqCst);
    assert!(watcher.join().unwrap() > 0);
    assert_eq!(sum, n * (n - 1) / 2);
}

/// A `try_send` to a waiting receive future succeeds, and counts as sent when the receiver
/// takes the value.
#[test]
fn try_send_counts_as_sent_when_a_receiver_has_the_value() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    assert!(tx.try_send(1).is_err(), "nobody waits");
    let (_w, waker) = CountingWaker::new();
    let mut recv = rx.recv_async();
    assert!(poll_once(&mut recv, &waker).is_pending());
    assert_eq!(tx.try_send(2), Ok(()));
    assert_eq!(tx.len(), 0);
    assert_eq!(poll_once(&mut recv, &waker), Poll::Ready(Ok(2)));
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.len), (1, 1, 0));
}

/// Receive futures dropped in a `select!`-style loop after a value was handed to them leave
/// nothing behind that grows: each value goes to the next receive, exactly once.
#[test]
fn dropped_receive_futures_leave_nothing_behind() {
    let rounds = scaled(10_000, 200);
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let (_w, waker) = CountingWaker::new();
    let mut got = Vec::with_capacity(rounds);
    for i in 0..rounds {
        // The loop's receive branch registers, a value is handed to it, and the other
        // branch wins: the future is dropped with the value in it.
        let mut recv = rx.recv_async();
        match poll_once(&mut recv, &waker) {
            Poll::Ready(Ok(v)) => got.push(v),
            Poll::Ready(Err(_)) => unreachable!("open"),
            Poll::Pending => {
                assert_eq!(tx.try_send(i), Ok(()));
                drop(recv);
                // The next receive takes it at once.
                got.push(rx.try_recv().unwrap());
            }
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "nothing left over");
    }
    assert_eq!(got, (0..rounds).collect::<Vec<_>>());
    let m = rx.metrics();
    assert_eq!(
        (m.sent, m.received, m.len),
        (rounds as u64, rounds as u64, 0)
    );
}

/// A value handed to a receive future that is then dropped goes to the next waiting
/// receiver, a parked thread included, never lost and never duplicated.
#[test]
fn a_dropped_receiver_passes_its_value_to_the_next() {
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let received = Arc::new(AtomicUsize::new(0));
    let thread_rx = {
        let (rx, received) = (rx.clone(), received.clone());
        thread::spawn(move || {
            let v = rx.recv().unwrap();
            received.fetch_add(1, SeqCst);
            v
        })
    };
    // The future registers first (it is first in line) unless the thread beat it; either
    // way exactly one of them gets the value.
    let (_w, waker) = CountingWaker::new();
    let mut recv = rx.recv_async();
    let first = poll_once(&mut recv, &waker);
    assert!(first.is_pending());
    // Wait until the thread is in line too (it then parks), then hand a value over.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(tx.try_send(7), Ok(()));
    drop(recv);
    assert_eq!(thread_rx.join().unwrap(), 7);
    assert_eq!(received.load(SeqCst), 1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// A permit claims a waiting receiver; if that receiver goes away, the permit's value still
/// reaches the next receive.
#[test]
fn a_permit_survives_its_receiver() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let (_w, waker) = CountingWaker::new();
    let mut r1 = rx.recv_async();
    assert!(poll_once(&mut r1, &waker).is_pending());
    let permit = tx.try_reserve().unwrap();
    assert!(tx.try_send(1).is_err(), "the one receiver is claimed");
    drop(r1);
    let _ = permit.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2), "kept for the next receive");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Found by the fuzz target: after a close, the last permit's send or drop wakes every
/// waiting receiver (one takes the value, the others see `Closed`); waking one plus a backup
/// left a third waiting forever.
#[test]
fn the_last_permit_after_a_close_wakes_every_receiver() {
    for send_last in [true, false] {
        let (tx, rx) = pushpull::mpmc::<u32>(0);
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futures: Vec<_> = (0..3).map(|_| rx.recv_async()).collect();
        for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
            assert!(poll_once(f, w).is_pending());
        }
        let first = tx.try_reserve().unwrap();
        let second = tx.try_reserve().unwrap();
        tx.close();
        // The close woke everyone; they poll, and wait for the permits.
        for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
            assert!(poll_once(f, w).is_pending());
        }
        let before: Vec<usize> = wakers.iter().map(|(c, _)| c.count()).collect();
        assert_eq!(first.send(1), Ok(pushpull::Sent::Queued));
        if send_last {
            assert_eq!(second.send(2), Ok(pushpull::Sent::Queued));
        } else {
            drop(second);
        }
        for (i, (c, _)) in wakers.iter().enumerate() {
            assert!(
                c.count() > before[i],
                "send_last {send_last}: receiver {i} woken"
            );
        }
        let mut got = Vec::new();
        let mut closed = 0;
        for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
            match poll_once(f, w) {
                Poll::Ready(Ok(v)) => got.push(v),
                Poll::Ready(Err(_)) => closed += 1,
                Poll::Pending => {}
            }
        }
        let expected: Vec<u32> = if send_last { vec![1, 2] } else { vec![1] };
        assert_eq!(got, expected, "send_last {send_last}");
        assert_eq!(closed, 3 - expected.len(), "send_last {send_last}");
    }
}

/// Found by the fuzz target: a receive future woken for a waiting sender's offer and dropped
/// passes its wake-up on, so the offer is taken by the next receiver.
#[test]
fn a_dropped_receiver_woken_for_an_offer_passes_it_on() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut futures: Vec<_> = (0..3).map(|_| rx.recv_async()).collect();
    for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
        assert!(poll_once(f, w).is_pending());
    }
    // Three permits speak for the three receivers, so a send waits in line with an offer,
    // waking two receivers to pull it.
    let permits: Vec<_> = (0..3).map(|_| tx.try_reserve().unwrap()).collect();
    let (_sw, send_waker) = CountingWaker::new();
    let mut send = tx.send_async(7);
    assert!(poll_once(&mut send, &send_waker).is_pending());
    assert_eq!(
        wakers.iter().map(|(c, _)| c.count()).collect::<Vec<_>>(),
        vec![1, 1, 0]
    );
    let mut third = futures.pop().unwrap();
    drop(futures); // both woken, never polled again
    assert!(wakers[2].0.count() >= 1, "the wake-up is passed on");
    assert_eq!(poll_once(&mut third, &wakers[2].1), Poll::Ready(Ok(7)));
    drop(permits);
}
