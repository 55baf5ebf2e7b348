#![cfg(not(loom))]
//! Exact drop counts: who drops each value, and when. Also: a value whose destructor panics
//! never causes a double drop, and the other values are still dropped and counted.

mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use harness::{build, DropLog, Tracked, FLAVORS, POLICIES};
use pushpull::{Builder, Policy, SendError, SendTimeoutError, Sent, TrySendError};

#[test]
fn received_values_are_dropped_by_the_receiver() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let log = DropLog::new(6);
            let (mut tx, mut rx) = build::<Tracked>(flavor, 3, policy);
            for round in 0..2 {
                for i in 0..3 {
                    let _ = tx.send(log.item(round * 3 + i)).ok().unwrap();
                }
                assert_eq!(log.total(), round * 3, "queued values are alive");
                for i in 0..3 {
                    let v = rx.recv().ok().unwrap();
                    assert_eq!(v.id, round * 3 + i);
                    assert_eq!(log.count(v.id), 0);
                    drop(v);
                    assert_eq!(log.count(round * 3 + i), 1);
                }
            }
            drop((tx, rx));
            log.assert_all_once();
        }
    }
}

#[test]
fn queued_values_are_dropped_at_teardown() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            for sender_first in [true, false] {
                let ctx = format!("{flavor:?} {policy:?} sender first {sender_first}");
                let log = DropLog::new(5);
                let (mut tx, mut rx) = build::<Tracked>(flavor, 5, policy);
                // Move the ring's head so the queued values wrap around its end.
                let _ = tx.send(log.item(0)).ok().unwrap();
                let _ = tx.send(log.item(1)).ok().unwrap();
                drop(rx.recv().ok().unwrap());
                drop(rx.recv().ok().unwrap());
                for i in 2..5 {
                    let _ = tx.send(log.item(i)).ok().unwrap();
                }
                assert_eq!(log.total(), 2, "{ctx}");
                if sender_first {
                    drop(tx);
                    assert_eq!(log.total(), 2, "drain semantics keep the values: {ctx}");
                    drop(rx);
                } else {
                    drop(rx);
                    // Every receiver gone: dropped at once, while the sender lives.
                    assert_eq!(log.total(), 5, "{ctx}");
                    let m = tx.metrics();
                    assert_eq!(m.discarded, 3, "{ctx}");
                    assert_eq!(m.len, 0, "{ctx}");
                    drop(tx);
                }
                log.assert_all_once();
            }
        }
    }
}

#[test]
fn evicted_values_are_handed_back_not_dropped() {
    for flavor in FLAVORS {
        let log = DropLog::new(6);
        let (mut tx, mut rx) = build::<Tracked>(flavor, 2, Policy::DropOldest);
        let _ = tx.send(log.item(0)).ok().unwrap();
        let _ = tx.send(log.item(1)).ok().unwrap();
        let mut evicted = Vec::new();
        for i in 2..6 {
            match tx.send(log.item(i)) {
                Ok(Sent::Evicted(old)) => {
                    assert_eq!(old.id, i - 2);
                    evicted.push(old);
                }
                _ => panic!("{flavor:?}: expected an eviction"),
            }
        }
        assert_eq!(
            log.total(),
            0,
            "{flavor:?}: the library dropped an evicted value"
        );
        drop(evicted);
        assert_eq!(log.total(), 4);
        assert_eq!(rx.recv().ok().map(|v| v.id), Some(4));
        assert_eq!(rx.recv().ok().map(|v| v.id), Some(5));
        drop((tx, rx));
        log.assert_all_once();
    }
}

#[test]
fn dropped_newest_values_are_dropped_at_send() {
    for flavor in FLAVORS {
        let log = DropLog::new(4);
        let (mut tx, rx) = build::<Tracked>(flavor, 1, Policy::DropNewest);
        let _ = tx.send(log.item(0)).ok().unwrap();
        for i in 1..4 {
            assert!(matches!(tx.send(log.item(i)), Ok(Sent::DroppedNewest)));
            assert_eq!(log.count(i), 1, "{flavor:?}: dropped when send returns");
        }
        assert_eq!(log.count(0), 0);
        assert_eq!(tx.metrics().dropped_newest, 3);
        drop((tx, rx));
        log.assert_all_once();
    }
    // At capacity 0 with nobody waiting, too.
    let log = DropLog::new(1);
    let (tx, _rx) = Builder::new(0).policy(Policy::DropNewest).mpmc::<Tracked>();
    assert!(matches!(tx.send(log.item(0)), Ok(Sent::DroppedNewest)));
    log.assert_all_once();
}

#[test]
fn refused_values_are_handed_back_not_dropped() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let log = DropLog::new(5);
            let (mut tx, mut rx) = build::<Tracked>(flavor, 1, policy);
            let _ = tx.send(log.item(0)).ok().unwrap();
            // Full.
            let back = match tx.try_send(log.item(1)) {
                Err(TrySendError::Full(v)) => v,
                _ => panic!("{ctx}"),
            };
            assert_eq!((back.id, log.count(1)), (1, 0), "{ctx}");
            drop(back);
            if policy == Policy::Reject {
                let back = match tx.send(log.item(2)) {
                    Err(SendError::Overloaded(v)) => v,
                    _ => panic!("{ctx}"),
                };
                assert_eq!((back.id, log.count(2)), (2, 0), "{ctx}");
                drop(back);
                assert_eq!(tx.metrics().rejected, 1);
            } else if policy == Policy::Block {
                let back = match tx.send_timeout(log.item(2), Duration::from_millis(1)) {
                    Err(SendTimeoutError::Timeout(v)) => v,
                    _ => panic!("{ctx}"),
                };
                assert_eq!((back.id, log.count(2)), (2, 0), "{ctx}");
                drop(back);
            } else {
                drop(log.item(2));
            }
            // Closed.
            tx.close();
            let back = match tx.try_send(log.item(3)) {
                Err(TrySendError::Closed(v)) => v,
                _ => panic!("{ctx}"),
            };
            assert_eq!((back.id, log.count(3)), (3, 0), "{ctx}");
            drop(back);
            let back = match tx.send(log.item(4)) {
                Err(SendError::Closed(v)) => v,
                _ => panic!("{ctx}"),
            };
            assert_eq!((back.id, log.count(4)), (4, 0), "{ctx}");
            drop(back);
            assert_eq!(log.count(0), 0, "{ctx}: still queued");
            drop(rx.recv().ok().unwrap());
            drop((tx, rx));
            log.assert_all_once();
        }
    }
}

#[test]
fn abort_drops_what_it_counts() {
    // MPMC, from each kind of handle.
    for from in 0..3 {
        let log = DropLog::new(4);
        let (tx, rx) = pushpull::mpmc::<Tracked>(8);
        for i in 0..4 {
            let _ = tx.send(log.item(i)).ok().unwrap();
        }
        let n = match from {
            0 => tx.abort(),
            1 => rx.abort(),
            _ => tx.closer().abort().unwrap(),
        };
        assert_eq!(n, 4);
        assert_eq!(log.total(), n, "dropped at once");
        assert_eq!(rx.metrics().discarded, 4);
        assert_eq!(tx.abort(), 0);
        drop((tx, rx));
        log.assert_all_once();
    }
    // SPSC consumer: at once.
    let log = DropLog::new(4);
    let (mut tx, mut rx) = pushpull::spsc::<Tracked>(8);
    for i in 0..4 {
        let _ = tx.send(log.item(i)).ok().unwrap();
    }
    let n = rx.abort();
    assert_eq!((n, log.total()), (4, 4));
    assert_eq!(tx.metrics().discarded, 4);
    drop((tx, rx));
    log.assert_all_once();

    // SPSC producer or closer: deferred to the consumer's next call, or its drop.
    for (from, consumer_drop) in [(0, false), (1, false), (0, true), (1, true)] {
        let log = DropLog::new(3);
        let (mut tx, mut rx) = pushpull::spsc::<Tracked>(8);
        for i in 0..3 {
            let _ = tx.send(log.item(i)).ok().unwrap();
        }
        let n = if from == 0 {
            tx.abort();
            None
        } else {
            rx.closer().abort()
        };
        assert_eq!(n, None, "the consumer does the discarding");
        assert_eq!(log.total(), 0);
        if consumer_drop {
            drop(rx);
        } else {
            assert!(rx.try_recv().is_err());
        }
        assert_eq!(log.total(), 3);
        assert_eq!(tx.metrics().discarded, 3);
        drop(tx);
        log.assert_all_once();
    }
}

#[test]
fn last_receiver_dropped_with_clones_alive_elsewhere() {
    let log = DropLog::new(3);
    let (tx, rx) = pushpull::mpmc::<Tracked>(4);
    let rx2 = rx.clone();
    for i in 0..3 {
        let _ = tx.send(log.item(i)).ok().unwrap();
    }
    drop(rx);
    assert_eq!(log.total(), 0, "a receiver remains");
    assert!(!tx.is_closed());
    drop(rx2);
    assert_eq!(
        log.total(),
        3,
        "the last receiver's drop drops the values at once"
    );
    assert_eq!(tx.metrics().discarded, 3);
    assert!(tx.is_closed());
    drop(tx);
    log.assert_all_once();
}

// === a destructor that panics ===

/// Runs `f`, which must panic (from the bomb's destructor).
fn expect_panic(what: &str, f: impl FnOnce()) {
    let result = catch_unwind(AssertUnwindSafe(f));
    assert!(result.is_err(), "{what}: the bomb's panic did not come out");
}

/// Fills a queue of `cap` with values `0..n` (wrapping around the ring's end) and returns
/// the ends. Value `bomb` panics when dropped.
fn wrapped(
    flavor: harness::Flavor,
    policy: Policy,
    log: &std::sync::Arc<DropLog>,
    n: usize,
) -> harness::Ends<Tracked> {
    let (mut tx, mut rx) = build::<Tracked>(flavor, n, policy);
    // Advance head and tail by 2 with two throwaway values (ids n and n + 1).
    let _ = tx.send(log.item(n)).ok().unwrap();
    let _ = tx.send(log.item(n + 1)).ok().unwrap();
    drop(rx.recv().ok().unwrap());
    drop(rx.recv().ok().unwrap());
    for i in 0..n {
        let _ = tx.send(log.item(i)).ok().unwrap();
    }
    (tx, rx)
}

#[test]
fn panicking_drop_during_abort() {
    for flavor in FLAVORS {
        let n = 6;
        let log = DropLog::with_bomb(n + 2, Some(2));
        let (tx, mut rx) = wrapped(flavor, Policy::Block, &log, n);
        let closer = tx.closer();
        expect_panic("abort", || {
            rx.abort();
        });
        assert!(
            log.doubles().is_empty(),
            "{flavor:?}: double drop {:?}",
            log.doubles()
        );
        assert_eq!(log.count(2), 1);
        // The rest are dropped later (next receive, or teardown), each once.
        drop(tx);
        drop(rx);
        log.assert_all_once();
        // Every queued value was discarded and counted, the bomb included.
        let m = closer.metrics();
        assert_eq!(m.discarded, n as u64, "{flavor:?} {m:?}");
        assert_eq!(m.len, 0);
    }
}

#[test]
fn panicking_drop_when_the_last_receiver_goes() {
    for flavor in FLAVORS {
        for sender_alive in [true, false] {
            let n = 5;
            // Ids: `0..n` queued, `n` and `n + 1` thrown away by `wrapped`, `n + 2` for a
            // send after the panic.
            let ids = if sender_alive { n + 3 } else { n + 2 };
            let log = DropLog::with_bomb(ids, Some(3));
            let (mut tx, rx) = wrapped(flavor, Policy::Block, &log, n);
            if !sender_alive {
                drop(tx);
                // The receiver's drop panics; the unwinding drops the queue itself.
                expect_panic("receiver drop", move || drop(rx));
                log.assert_all_once();
                continue;
            }
            expect_panic("receiver drop", move || drop(rx));
            assert!(
                log.doubles().is_empty(),
                "{flavor:?}: double drop {:?}",
                log.doubles()
            );
            // The queue is closed for the sender; the values left are dropped with it.
            match tx.try_send(log.item(n + 2)) {
                Err(TrySendError::Closed(v)) => drop(v),
                _ => panic!("{flavor:?}: expected Closed"),
            }
            drop(tx);
            log.assert_all_once();
        }
    }
}

#[test]
fn panicking_drop_in_teardown_after_evictions() {
    // Evictions move the ring's head past the consumer's own cursor; teardown must still
    // drop exactly the values left.
    for flavor in FLAVORS {
        let cap = 4;
        let total = 11;
        let log = DropLog::with_bomb(total, Some(8));
        let (mut tx, rx) = build::<Tracked>(flavor, cap, Policy::DropOldest);
        for i in 0..total {
            if let Ok(Sent::Evicted(old)) = tx.send(log.item(i)) {
                drop(old);
            }
        }
        assert_eq!(log.total(), total - cap);
        drop(tx);
        expect_panic("teardown", move || drop(rx));
        log.assert_all_once();
    }
}

#[test]
fn panicking_drop_during_deferred_spsc_abort() {
    let n = 5;
    let log = DropLog::with_bomb(n + 2, Some(1));
    let (mut tx, mut rx) = wrapped(harness::Flavor::Spsc, Policy::Block, &log, n);
    assert_eq!(tx.abort(), None);
    expect_panic("discard at the next receive", || {
        let _ = rx.try_recv();
    });
    assert!(log.doubles().is_empty());
    // The next call finishes the job.
    assert!(rx.try_recv().is_err());
    log.assert_all_once();
    assert_eq!(rx.metrics().discarded, n as u64);
    drop((tx, rx));
    log.assert_all_once();
}

#[test]
fn panicking_drop_of_a_dropped_newest_value() {
    for flavor in FLAVORS {
        let log = DropLog::with_bomb(4, Some(1));
        let (mut tx, mut rx) = build::<Tracked>(flavor, 1, Policy::DropNewest);
        let _ = tx.send(log.item(0)).ok().unwrap();
        expect_panic("drop-newest send", || {
            let _ = tx.send(log.item(1));
        });
        assert_eq!(log.count(1), 1);
        assert_eq!(tx.metrics().dropped_newest, 1);
        // The queue still works.
        assert!(matches!(tx.send(log.item(2)), Ok(Sent::DroppedNewest)));
        assert_eq!(rx.recv().ok().map(|v| v.id), Some(0));
        let _ = tx.send(log.item(3)).ok().unwrap();
        drop((tx, rx));
        log.assert_all_once();
    }
}

/// The one place the library drops an evicted value: `Sink::start_send` under drop-oldest
/// on an MPMC queue (whose permits reserve no room, so the send evicts; the `Sink` API cannot
/// hand the old value back). A panicking destructor there drops nothing twice and leaves the
/// counts consistent. (An SPSC sink's reservation holds room, so it never evicts.)
#[test]
#[cfg(feature = "futures")]
fn panicking_drop_of_a_value_evicted_by_a_sink() {
    use futures::{sink::Sink, task::noop_waker};
    use std::pin::Pin;
    use std::task::Context;
    let log = DropLog::with_bomb(3, Some(0));
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let (mut tx, rx) = Builder::new(1).policy(Policy::DropOldest).mpmc::<Tracked>();
    let _ = tx.send(log.item(0)).ok().unwrap();
    assert!(Pin::new(&mut tx).poll_ready(&mut cx).is_ready());
    expect_panic("sink eviction", || {
        let _ = Pin::new(&mut tx).start_send(log.item(1));
    });
    assert_eq!(log.count(0), 1);
    let m = rx.metrics();
    assert_eq!((m.sent, m.evicted_oldest, m.len), (2, 1, 1), "{m:?}");
    assert_eq!(
        m.sent,
        m.received + m.evicted_oldest + m.discarded + m.len as u64
    );
    // The queue still works.
    assert!(matches!(tx.send(log.item(2)), Ok(Sent::Evicted(_))));
    assert_eq!(rx.recv().ok().map(|v| v.id), Some(2));
    drop((tx, rx));
    log.assert_all_once();
}
