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
