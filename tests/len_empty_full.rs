#![cfg(not(loom))]
//! `len`, `is_empty` and `is_full` through fill/drain cycles and many laps, seen from both
//! ends and from a closer.

mod harness;

use std::collections::VecDeque;

use harness::{build, scaled, Rx, Tx, FLAVORS, POLICIES};
use pushpull::{Closer, Policy, Sent};

/// Every view of the length agrees with `expected`.
#[track_caller]
fn check<T>(tx: &dyn Tx<T>, rx: &dyn Rx<T>, closer: &Closer, cap: usize, expected: usize) {
    let ctx = format!("cap {cap}, expected len {expected}");
    assert_eq!(tx.len(), expected, "sender len, {ctx}");
    assert_eq!(rx.len(), expected, "receiver len, {ctx}");
    assert_eq!(closer.len(), expected, "closer len, {ctx}");
    assert_eq!(tx.metrics().len, expected, "metrics len, {ctx}");
    let empty = expected == 0;
    assert_eq!(tx.is_empty(), empty, "{ctx}");
    assert_eq!(rx.is_empty(), empty, "{ctx}");
    assert_eq!(closer.is_empty(), empty, "{ctx}");
    let full = expected == cap;
    assert_eq!(tx.is_full(), full, "{ctx}");
    assert_eq!(rx.is_full(), full, "{ctx}");
}

#[test]
fn fill_and_drain_cycles() {
    let rounds = scaled(60, 3);
    for flavor in FLAVORS {
        for policy in POLICIES {
            for cap in [1, 2, 3, 7, 8] {
                let (mut tx, mut rx) = build::<usize>(flavor, cap, policy);
                let closer = tx.closer();
                let (mut next_in, mut next_out) = (0, 0);
                check(&*tx, &*rx, &closer, cap, 0);
                for round in 0..rounds {
                    // A varying fill level, so positions move around the ring.
                    let k = if round % 3 == 0 {
                        cap
                    } else {
                        1 + (round * 5) % cap
                    };
                    for i in 0..k {
                        tx.try_send(next_in).unwrap();
                        next_in += 1;
                        check(&*tx, &*rx, &closer, cap, i + 1);
                    }
                    for i in (0..k).rev() {
                        assert_eq!(rx.try_recv(), Ok(next_out), "{flavor:?} {policy:?}");
                        next_out += 1;
                        check(&*tx, &*rx, &closer, cap, i);
                    }
                }
            }
        }
    }
}

#[test]
fn partial_levels_across_many_laps() {
    // Keep the queue between `low` and `high` for many laps, so head and tail both wrap
    // while the queue is never empty.
    let steps = scaled(3_000, 25);
    for flavor in FLAVORS {
        for cap in [2, 3, 5, 8] {
            let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::Block);
            let closer = rx.closer();
            let mut model = VecDeque::new();
            let mut next = 0;
            let mut rising = true;
            for _ in 0..steps {
                if rising {
                    tx.try_send(next).unwrap();
                    model.push_back(next);
                    next += 1;
                    rising = model.len() < cap;
                } else {
                    assert_eq!(rx.try_recv().ok(), model.pop_front());
                    rising = model.len() <= 1;
                }
                check(&*tx, &*rx, &closer, cap, model.len());
            }
        }
    }
}

#[test]
fn drop_oldest_stays_full_while_evicting() {
    let laps = scaled(50, 5);
    for flavor in FLAVORS {
        for cap in [1, 2, 3, 7] {
            let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::DropOldest);
            let closer = tx.closer();
            let mut model = VecDeque::new();
            let mut next = 0;
            for lap in 0..laps {
                // Fill, then evict for a while (len stays at cap), then take a few.
                while model.len() < cap {
                    assert_eq!(tx.send(next), Ok(Sent::Queued));
                    model.push_back(next);
                    next += 1;
                }
                for _ in 0..1 + lap % (2 * cap) {
                    let expected = model.pop_front().unwrap();
                    assert_eq!(tx.send(next), Ok(Sent::Evicted(expected)));
                    model.push_back(next);
                    next += 1;
                    check(&*tx, &*rx, &closer, cap, cap);
                }
                for _ in 0..1 + lap % cap {
                    assert_eq!(rx.try_recv().ok(), model.pop_front());
                    check(&*tx, &*rx, &closer, cap, model.len());
                }
            }
        }
    }
}

#[test]
fn rendezvous_is_always_empty_and_full() {
    let (tx, rx) = pushpull::mpmc::<u8>(0);
    for _ in 0..2 {
        assert_eq!((tx.len(), rx.len(), tx.capacity()), (0, 0, 0));
        assert!(tx.is_empty() && rx.is_empty());
        assert!(tx.is_full() && rx.is_full());
        assert!(tx.try_send(1).is_err());
        tx.close();
    }
}

#[test]
fn len_after_close_and_abort() {
    for flavor in FLAVORS {
        let (mut tx, mut rx) = build::<u8>(flavor, 4, Policy::Block);
        let closer = tx.closer();
        let _ = tx.send(1).unwrap();
        let _ = tx.send(2).unwrap();
        tx.close();
        // Closing keeps what is queued.
        check(&*tx, &*rx, &closer, 4, 2);
        assert_eq!(rx.try_recv(), Ok(1));
        check(&*tx, &*rx, &closer, 4, 1);
        assert_eq!(rx.abort(), 1);
        check(&*tx, &*rx, &closer, 4, 0);
    }
}
