#![cfg(not(loom))]
//! The memory-ordering guarantees (crate docs, "Memory ordering"), on real threads:
//!
//! - a send happens-before the receive that gets its value;
//! - a receive happens-before the send that takes the room it made;
//! - a close (or abort) happens-before every `Closed` it causes, on either side.
//!
//! The data written before the send (or the close) lives beside the queue in plain,
//! non-atomic cells, and is read after the receive (or the `Closed`). If the library broke a
//! guarantee, those reads would race the writes: Miri (`ci/miri.sh`) and ThreadSanitizer
//! (`ci/tsan.sh`) report such a data race, and on hardware weaker than x86 the asserts may
//! also see an old value. The loom models `send_happens_before_its_receive`,
//! `receive_happens_before_the_send_into_its_room` and `close_happens_before_closed`
//! (tests/loom.rs) check the same with loom's causality tracking.

mod harness;

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::thread;

use harness::{build, scaled, Flavor, FLAVORS, POLICIES};
use pushpull::{Builder, Policy, TryRecvError, TrySendError};

/// Plain cells shared between threads, ordered only by the queue.
struct Board(Vec<UnsafeCell<u64>>);

// SAFETY: each test writes a cell on one thread and reads it on another only after the
// queue's happens-before edge that the test is about (a send and the receive of its value, a
// close and a `Closed`). If the library broke that guarantee, the access would be a data
// race: exactly what Miri and ThreadSanitizer then report, which is the point of the tests.
unsafe impl Sync for Board {}

impl Board {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Board((0..n).map(|_| UnsafeCell::new(0)).collect()))
    }

    fn write(&self, i: usize, v: u64) {
        // SAFETY: see the `Sync` impl: no other thread touches cell `i` before the edge.
        unsafe { *self.0[i].get() = v }
    }

    fn read(&self, i: usize) -> u64 {
        // SAFETY: see the `Sync` impl: the writer finished before the edge we are after.
        unsafe { *self.0[i].get() }
    }
}

fn stamp(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// Every value sent (blocking `send`) is received with the data written before its send
/// visible, on both flavors, every policy, capacities 1 and 4 (values evicted or dropped by
/// the policy are simply not received; their cells are never read).
#[test]
fn send_happens_before_the_receive_of_its_value() {
    let n = scaled(20_000, 40);
    for flavor in FLAVORS {
        for policy in POLICIES {
            for cap in [1, 4] {
                let board = Board::new(n);
                let (mut tx, mut rx) = build::<usize>(flavor, cap, policy);
                let producer = {
                    let board = board.clone();
                    thread::spawn(move || {
                        for i in 0..n {
                            board.write(i, stamp(i));
                            // Whatever the policy did with it, the send returned.
                            let _ = tx.send(i);
                        }
                    })
                };
                let mut last = None;
                while let Ok(i) = rx.recv() {
                    assert_eq!(board.read(i), stamp(i), "{flavor:?} {policy:?} cap {cap}");
                    assert!(last.map_or(true, |l| l < i), "FIFO: {last:?} then {i}");
                    last = Some(i);
                }
                producer.join().unwrap();
                if policy == Policy::Block {
                    assert_eq!(last, Some(n - 1), "{flavor:?} cap {cap}: every value");
                }
            }
        }
    }
}

/// The same through the other sending paths: `try_send` (spinning while full) and a
/// permit's `send`, received with `try_recv` (spinning while empty).
#[test]
fn try_send_and_permit_send_happen_before_their_receives() {
    let n = scaled(20_000, 40);
    for flavor in FLAVORS {
        for permits in [false, true] {
            let board = Board::new(n);
            let builder = Builder::new(2);
            let producer_board = board.clone();
            match flavor {
                Flavor::Mpmc => {
                    let (tx, rx) = builder.mpmc::<usize>();
                    let producer = thread::spawn(move || {
                        for i in 0..n {
                            producer_board.write(i, stamp(i));
                            if permits {
                                let permit = tx.reserve().unwrap();
                                let _ = permit.send(i).unwrap();
                            } else {
                                let mut v = i;
                                while let Err(TrySendError::Full(back)) = tx.try_send(v) {
                                    v = back;
                                    thread::yield_now();
                                }
                            }
                        }
                    });
                    receive_all(n, &board, || rx.try_recv());
                    producer.join().unwrap();
                }
                Flavor::Spsc => {
                    let (mut tx, mut rx) = builder.spsc::<usize>();
                    let producer = thread::spawn(move || {
                        for i in 0..n {
                            producer_board.write(i, stamp(i));
                            if permits {
                                let permit = tx.reserve().unwrap();
                                let _ = permit.send(i).unwrap();
                            } else {
                                let mut v = i;
                                while let Err(TrySendError::Full(back)) = tx.try_send(v) {
                                    v = back;
                                    thread::yield_now();
                                }
                            }
                        }
                    });
                    receive_all(n, &board, || rx.try_recv());
                    producer.join().unwrap();
                }
            }
        }
    }
}

/// Receives `0..n` in order with `try_recv`, checking each value's cell.
fn receive_all(n: usize, board: &Board, mut try_recv: impl FnMut() -> Result<usize, TryRecvError>) {
    let mut next = 0;
    while next < n {
        match try_recv() {
            Ok(i) => {
                assert_eq!(i, next, "FIFO");
                assert_eq!(board.read(i), stamp(i));
                next += 1;
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(TryRecvError::Closed) => panic!("closed before {n} values"),
        }
    }
}

/// The rendezvous (capacity 0): the value is handed over, and the data with it.
#[test]
fn rendezvous_send_happens_before_the_receive_of_its_value() {
    let n = scaled(5_000, 20);
    let board = Board::new(n);
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let producer = {
        let board = board.clone();
        thread::spawn(move || {
            for i in 0..n {
                board.write(i, stamp(i));
                let _ = tx.send(i).unwrap();
            }
        })
    };
    for expected in 0..n {
        let i = rx.recv().unwrap();
        assert_eq!(i, expected);
        assert_eq!(board.read(i), stamp(i));
    }
    producer.join().unwrap();
}

/// Who closes, and how.
#[derive(Debug, Clone, Copy)]
enum End {
    /// A `Closer` on a third thread: `close`.
    CloserClose,
    /// A `Closer` on a third thread: `abort`.
    CloserAbort,
}

/// A close (or abort) on a third thread happens-before the `Closed` it causes at a blocked
/// receiver and at a sender: both read the closer's cell after their `Closed`.
#[test]
fn close_happens_before_the_closed_it_causes() {
    let rounds = scaled(300, 4);
    for flavor in FLAVORS {
        for policy in POLICIES {
            for end in [End::CloserClose, End::CloserAbort] {
                for round in 0..rounds {
                    let board = Board::new(1);
                    let (mut tx, mut rx) = build::<u64>(flavor, 2, policy);
                    let closer = tx.closer();
                    let closing = {
                        let board = board.clone();
                        thread::spawn(move || {
                            board.write(0, stamp(round));
                            match end {
                                End::CloserClose => {
                                    closer.close();
                                }
                                End::CloserAbort => {
                                    let _ = closer.abort();
                                }
                            }
                        })
                    };
                    let sender = {
                        let board = board.clone();
                        thread::spawn(move || loop {
                            match tx.try_send(7) {
                                Err(TrySendError::Closed(_)) => {
                                    assert_eq!(board.read(0), stamp(round));
                                    return;
                                }
                                _ => thread::yield_now(),
                            }
                        })
                    };
                    // Receive until `Closed` (values sent before the close come first).
                    while rx.recv().is_ok() {}
                    assert_eq!(board.read(0), stamp(round), "{flavor:?} {policy:?} {end:?}");
                    closing.join().unwrap();
                    sender.join().unwrap();
                }
            }
        }
    }
}

/// The receiver's own close happens-before the `Closed` its producer's send then gets (the
/// receiving side closing, as a consumer that stops early does).
#[test]
fn receiver_close_happens_before_the_senders_closed() {
    let rounds = scaled(300, 4);
    for flavor in FLAVORS {
        for round in 0..rounds {
            let board = Board::new(1);
            let (mut tx, mut rx) = build::<u64>(flavor, 2, Policy::Block);
            let sender = {
                let board = board.clone();
                thread::spawn(move || loop {
                    match tx.send(7) {
                        Err(_) => {
                            assert_eq!(board.read(0), stamp(round), "{flavor:?}");
                            return;
                        }
                        Ok(_) => thread::yield_now(),
                    }
                })
            };
            board.write(0, stamp(round));
            rx.close();
            while rx.recv().is_ok() {}
            sender.join().unwrap();
        }
    }
}

/// A receive happens-before the send that takes the room it made (Go's rule for buffered
/// channels: the k-th receive is synchronized before the k+C-th send completes). The consumer
/// writes cell `k` before it receives value `k`; once the send of value `k + capacity`
/// returned (blocking `send`, or `try_send` retried while full), the producer reads cell `k`.
/// At capacity 0 the send of value `k` itself needs the receive of `k`.
#[test]
fn receive_happens_before_the_send_that_takes_its_room() {
    let n = scaled(20_000, 40);
    let mut cases: Vec<(Flavor, usize)> = vec![(Flavor::Mpmc, 0)];
    for flavor in FLAVORS {
        cases.extend([(flavor, 1), (flavor, 4)]);
    }
    for (flavor, cap) in cases {
        for blocking in [true, false] {
            if cap == 0 && !blocking {
                continue; // a rendezvous `try_send` needs a receiver already waiting
            }
            let board = Board::new(n);
            let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::Block);
            let producer = {
                let board = board.clone();
                thread::spawn(move || {
                    for i in 0..n {
                        if blocking {
                            let _ = tx.send(i).unwrap();
                        } else {
                            let mut v = i;
                            while let Err(TrySendError::Full(back)) = tx.try_send(v) {
                                v = back;
                                thread::yield_now();
                            }
                        }
                        if let Some(k) = i.checked_sub(cap) {
                            let ctx = format!("{flavor:?} cap {cap} blocking {blocking}");
                            assert_eq!(board.read(k), stamp(k), "{ctx}: value {i}");
                        }
                    }
                })
            };
            for k in 0..n {
                board.write(k, stamp(k));
                assert_eq!(rx.recv(), Ok(k));
            }
            producer.join().unwrap();
        }
    }
}
