#![cfg(not(loom))]
//! MPMC with 4 producers and 4 consumers: every value received exactly once, and each
//! consumer sees each producer's values in the order they were sent.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;

use harness::{scaled, Tally};
use pushpull::{Builder, Policy, Receiver, SendError, Sender, Sent, TryRecvError, TrySendError};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

/// How each side moves values.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `send` / `recv`.
    Blocking,
    /// `try_send` / `try_recv` in yielding loops.
    Spinning,
    /// `send` under `Reject`, retrying on `Overloaded`; `recv`.
    RejectRetry,
}

/// Runs the 4x4 scenario with `per` values per producer; returns the tally.
fn run(cap: usize, per: usize, mode: Mode) {
    let policy = match mode {
        Mode::RejectRetry => Policy::Reject,
        _ => Policy::Block,
    };
    let (tx, rx) = Builder::new(cap).policy(policy).mpmc::<usize>();
    let total = PRODUCERS * per;
    let tally = Arc::new(Tally::new(total));
    let received = Arc::new(AtomicUsize::new(0));

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx: Receiver<usize> = rx.clone();
            let tally = tally.clone();
            let received = received.clone();
            thread::spawn(move || {
                // Per producer, the last index this consumer saw.
                let mut last: [Option<usize>; PRODUCERS] = [None; PRODUCERS];
                let mut count = 0;
                loop {
                    let v = match mode {
                        Mode::Blocking | Mode::RejectRetry => match rx.recv() {
                            Ok(v) => v,
                            Err(_) => break,
                        },
                        Mode::Spinning => match rx.try_recv() {
                            Ok(v) => v,
                            Err(TryRecvError::Empty) => {
                                if received.load(SeqCst) == total {
                                    break;
                                }
                                thread::yield_now();
                                continue;
                            }
                            Err(TryRecvError::Closed) => break,
                        },
                    };
                    received.fetch_add(1, SeqCst);
                    tally.hit(v);
                    let (p, i) = (v / per, v % per);
                    if let Some(prev) = last[p] {
                        assert!(prev < i, "producer {p}: saw {i} after {prev}");
                    }
                    last[p] = Some(i);
                    count += 1;
                }
                count
            })
        })
        .collect();
    drop(rx);

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx: Sender<usize> = tx.clone();
            thread::spawn(move || {
                for i in 0..per {
                    let v = p * per + i;
                    match mode {
                        Mode::Blocking => assert_eq!(tx.send(v), Ok(Sent::Queued)),
                        Mode::Spinning => {
                            let mut v = v;
                            while let Err(e) = tx.try_send(v) {
                                match e {
                                    TrySendError::Full(back) => v = back,
                                    TrySendError::Closed(_) => panic!("closed"),
                                }
                                thread::yield_now();
                            }
                        }
                        Mode::RejectRetry => {
                            let mut v = v;
                            loop {
                                match tx.send(v) {
                                    Ok(sent) => {
                                        assert_eq!(sent, Sent::Queued);
                                        break;
                                    }
                                    Err(SendError::Overloaded(back)) => v = back,
                                    Err(SendError::Closed(_)) => panic!("closed"),
                                }
                                thread::yield_now();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let closer = tx.closer();
    drop(tx);

    for p in producers {
        p.join().unwrap();
    }
    let counts: Vec<usize> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        total,
        "per consumer: {counts:?}"
    );
    tally.assert_all_once();
    let m = closer.metrics();
    assert_eq!((m.sent, m.received, m.len), (total as u64, total as u64, 0));
    assert_eq!((m.evicted_oldest, m.dropped_newest, m.discarded), (0, 0, 0));
    assert!(m.high_water <= cap);
}

#[test]
fn four_by_four_blocking() {
    run(3, scaled(25_000, 12), Mode::Blocking);
}

#[test]
fn four_by_four_blocking_large_capacity() {
    run(1000, scaled(25_000, 12), Mode::Blocking);
}

#[test]
fn four_by_four_capacity_one() {
    run(1, scaled(5_000, 8), Mode::Blocking);
}

#[test]
fn four_by_four_rendezvous() {
    run(0, scaled(2_500, 5), Mode::Blocking);
}

#[test]
fn four_by_four_spinning() {
    run(2, scaled(10_000, 8), Mode::Spinning);
}

#[test]
fn four_by_four_reject_retry() {
    run(2, scaled(10_000, 8), Mode::RejectRetry);
}

#[test]
fn rendezvous_reject_retry() {
    // At capacity 0 a reject-policy send succeeds only when a receiver is waiting.
    run(0, scaled(1_000, 4), Mode::RejectRetry);
}
