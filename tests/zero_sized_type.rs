#![cfg(not(loom))]
//! Zero-sized values: `()` and a ZST whose `Drop` counts, on both flavors and every policy,
//! across wrap-around, eviction and teardown; and huge capacities, which cost no memory for
//! the values themselves.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;

use harness::{build, scaled, FLAVORS, POLICIES};
use pushpull::{Builder, Policy, SendError, Sent, TryRecvError, TrySendError};

/// Drop counters, one per test (tests run in parallel; each uses its own `ID`).
static DROPS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

/// A zero-sized value that counts its drops in `DROPS[ID]`.
struct Zst<const ID: usize>;

impl<const ID: usize> Drop for Zst<ID> {
    fn drop(&mut self) {
        DROPS[ID].fetch_add(1, SeqCst);
    }
}

fn drops(id: usize) -> usize {
    DROPS[id].load(SeqCst)
}

#[test]
fn unit_every_flavor_and_policy_across_laps() {
    let laps = scaled(100, 5);
    for flavor in FLAVORS {
        for policy in POLICIES {
            for cap in [1, 2, 3] {
                let ctx = format!("{flavor:?} {policy:?} cap {cap}");
                let (mut tx, mut rx) = build::<()>(flavor, cap, policy);
                for lap in 0..laps {
                    let k = 1 + lap % cap;
                    for i in 0..k {
                        assert_eq!(tx.try_send(()), Ok(()), "{ctx}");
                        assert_eq!(rx.len(), i + 1, "{ctx}");
                    }
                    for i in (0..k).rev() {
                        assert_eq!(rx.try_recv(), Ok(()), "{ctx}");
                        assert_eq!(tx.len(), i, "{ctx}");
                    }
                    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");
                }
                // Full, under the policy.
                for _ in 0..cap {
                    let _ = tx.send(()).unwrap();
                }
                assert_eq!(tx.try_send(()), Err(TrySendError::Full(())), "{ctx}");
                match policy {
                    Policy::Block => assert!(tx
                        .send_timeout((), std::time::Duration::from_millis(1))
                        .is_err()),
                    Policy::DropNewest => assert_eq!(tx.send(()), Ok(Sent::DroppedNewest)),
                    Policy::DropOldest => assert_eq!(tx.send(()), Ok(Sent::Evicted(()))),
                    Policy::Reject => assert_eq!(tx.send(()), Err(SendError::Overloaded(()))),
                    _ => unreachable!("a variant added since"),
                }
                assert_eq!(rx.len(), cap, "{ctx}");
                assert_eq!(rx.take_all().len(), cap, "{ctx}");
                let m = tx.metrics();
                harness::assert_identity(&m);
                assert_eq!(m.len, 0);
            }
        }
    }
}

#[test]
fn counted_zst_drops_exactly_once() {
    const ID: usize = 0;
    let mut expected = 0;
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let cap = 3;
            let (mut tx, mut rx) = build::<Zst<ID>>(flavor, cap, policy);
            // Received values drop when the receiver drops them.
            for _ in 0..scaled(20, 5) {
                let _ = tx.send(Zst).unwrap();
                let _ = tx.send(Zst).unwrap();
                let v = rx.try_recv().ok().unwrap();
                assert_eq!(drops(ID), expected, "{ctx}");
                drop(v);
                drop(rx.try_recv().ok().unwrap());
                expected += 2;
                assert_eq!(drops(ID), expected, "{ctx}");
            }
            // Fill, then one more under the policy.
            for _ in 0..cap {
                tx.try_send(Zst).ok().unwrap();
            }
            let err = tx.try_send(Zst).unwrap_err();
            assert_eq!(drops(ID), expected, "handed back, not dropped: {ctx}");
            drop(err);
            expected += 1;
            match policy {
                Policy::Block => {
                    let err = tx
                        .send_timeout(Zst, std::time::Duration::from_millis(1))
                        .unwrap_err();
                    assert_eq!(drops(ID), expected, "{ctx}");
                    drop(err);
                }
                Policy::DropNewest => {
                    // Dropped by the library, at once.
                    assert!(matches!(tx.send(Zst), Ok(Sent::DroppedNewest)));
                }
                Policy::DropOldest => {
                    let evicted = tx.send(Zst).unwrap().evicted().unwrap();
                    assert_eq!(drops(ID), expected, "{ctx}");
                    drop(evicted);
                }
                Policy::Reject => {
                    let err = tx.send(Zst).unwrap_err();
                    assert_eq!(drops(ID), expected, "{ctx}");
                    drop(err);
                }
                _ => unreachable!("a variant added since"),
            }
            expected += 1;
            assert_eq!(drops(ID), expected, "{ctx}");
            // Teardown drops what is queued.
            assert_eq!(rx.len(), cap);
            drop(tx);
            drop(rx);
            expected += cap;
            assert_eq!(drops(ID), expected, "teardown: {ctx}");
        }
    }
}

#[test]
fn counted_zst_abort_and_receiver_drop() {
    const ID: usize = 1;
    let mut expected = 0;
    for flavor in FLAVORS {
        let (mut tx, mut rx) = build::<Zst<ID>>(flavor, 5, Policy::Block);
        for _ in 0..4 {
            let _ = tx.send(Zst).unwrap();
        }
        assert_eq!(rx.abort(), 4);
        expected += 4;
        assert_eq!(drops(ID), expected, "{flavor:?}");
        assert_eq!(tx.metrics().discarded, 4);

        // The last receiver dropped while the sender lives: dropped at once, counted.
        let (mut tx, rx) = build::<Zst<ID>>(flavor, 5, Policy::DropOldest);
        for _ in 0..7 {
            if let Some(old) = tx.send(Zst).unwrap().evicted() {
                drop(old);
                expected += 1;
            }
        }
        assert_eq!(drops(ID), expected);
        drop(rx);
        expected += 5;
        assert_eq!(drops(ID), expected, "{flavor:?}");
        let m = tx.metrics();
        assert_eq!((m.discarded, m.evicted_oldest, m.sent), (5, 2, 7));
        // Sends now fail, handing the value back.
        let err = tx.send(Zst).unwrap_err();
        assert!(matches!(err, SendError::Closed(_)));
        assert_eq!(drops(ID), expected);
        drop(err);
        expected += 1;
        assert_eq!(drops(ID), expected);
    }
}

#[test]
fn counted_zst_across_threads() {
    const ID: usize = 2;
    let n = scaled(20_000, 40);
    for flavor in FLAVORS {
        let before = drops(ID);
        let (mut tx, mut rx) = build::<Zst<ID>>(flavor, 3, Policy::DropOldest);
        let consumer = thread::spawn(move || {
            let mut received = 0;
            while let Ok(v) = rx.recv() {
                drop(v);
                received += 1;
            }
            received
        });
        let mut evicted = 0;
        for _ in 0..n {
            if tx.send(Zst).unwrap().evicted().is_some() {
                evicted += 1;
            }
        }
        let m = tx.metrics();
        drop(tx);
        let received = consumer.join().unwrap();
        assert_eq!(received + evicted, n, "{flavor:?}");
        assert_eq!(drops(ID) - before, n, "{flavor:?}");
        assert_eq!(m.evicted_oldest, evicted as u64);
    }
}

#[test]
fn huge_zst_capacities() {
    // SPSC slots of a ZST take no memory at all.
    let cap = scaled(1 << 20, 1 << 8);
    for policy in POLICIES {
        let (mut tx, mut rx) = Builder::new(cap).policy(policy).spsc::<()>();
        assert_eq!(tx.capacity(), cap);
        for _ in 0..100 {
            tx.try_send(()).unwrap();
        }
        assert_eq!(rx.len(), 100);
        assert_eq!(rx.try_iter().count(), 100);
    }
    // MPMC slots carry a stamp each, so the capacity must be allocatable.
    let cap = scaled(1 << 16, 1 << 6);
    for policy in POLICIES {
        let (tx, rx) = Builder::new(cap).policy(policy).mpmc::<Zst<3>>();
        assert_eq!(tx.capacity(), cap);
        for _ in 0..10 {
            tx.try_send(Zst).ok().unwrap();
        }
        assert_eq!(rx.try_iter().count(), 10);
        assert_eq!(
            drops(3),
            10 * (POLICIES.iter().position(|&p| p == policy).unwrap() + 1)
        );
    }
}

/// A 2^40 capacity for ZSTs must build at once (the values need no memory, and the SPSC
/// ring writes nothing per slot), in a debug build too.
#[test]
fn spsc_zst_capacity_two_to_the_forty() {
    for policy in POLICIES {
        let mut cap = 1usize << 40;
        if policy == Policy::DropOldest {
            // The drop-oldest ring packs both positions in one word: its largest capacity is
            // lower, and anything above is refused before any allocation.
            let err = Builder::new(cap)
                .policy(policy)
                .try_spsc::<Zst<4>>()
                .unwrap_err();
            let pushpull::BuildErrorKind::CapacityOverflow { max, .. } = err.kind() else {
                panic!("{err:?}");
            };
            cap = max;
        }
        let (mut tx, mut rx) = Builder::new(cap).policy(policy).spsc::<Zst<4>>();
        assert_eq!(tx.capacity(), cap);
        assert_eq!(tx.metrics().capacity, cap);
        for _ in 0..1000 {
            tx.try_send(Zst).ok().unwrap();
        }
        assert_eq!(rx.len(), 1000);
        for _ in 0..500 {
            drop(rx.try_recv().ok().unwrap());
        }
        assert_eq!(tx.len(), 500);
        drop((tx, rx));
    }
    assert_eq!(drops(4), 4 * 1000);
}

#[test]
fn rendezvous_of_unit() {
    let n = scaled(500, 10);
    let (tx, rx) = pushpull::mpmc::<()>(0);
    let t = thread::spawn(move || (0..n).for_each(|_| assert_eq!(tx.send(()), Ok(Sent::Queued))));
    assert_eq!(rx.iter().count(), n);
    t.join().unwrap();
    let m = rx.metrics();
    assert_eq!((m.sent, m.received), (n as u64, n as u64));
}
