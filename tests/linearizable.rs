#![cfg(not(loom))]
//! Linearizability checks in the style of crossbeam-queue's `linearizable` test: threads
//! that each push one value and then pop one must always find something to pop.
//!
//! Why the pop must succeed: every thread alternates push, pop. When a thread's push has
//! taken effect, each thread has done at most one more push than pops, and this one has done
//! exactly one more; so the queue holds at least one value when its pop takes effect
//! (pops of other threads cannot outnumber their own pushes). That argument holds for any
//! capacity as long as nothing leaves the queue except by a pop, that is, without
//! evictions.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;

use harness::{scaled, Tally};
use pushpull::{Builder, Policy, Sent, TryRecvError, TrySendError};

const THREADS: usize = 4;
const COUNT: usize = scaled(25_000, 30);

fn run(threads: usize, body: impl Fn(usize) + Send + Sync + 'static) {
    let body = Arc::new(body);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let body = body.clone();
            thread::spawn(move || body(t))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// `try_send` (spinning until it succeeds) then `try_recv().unwrap()`, for every policy
/// (`try_send` ignores the policy) and for capacities below, at and above the thread count.
#[test]
fn try_send_then_try_recv_always_succeeds() {
    for (cap, policy) in [
        (THREADS, Policy::Block),
        (1, Policy::Block),
        (2, Policy::DropOldest),
        (3, Policy::Reject),
        (2 * THREADS, Policy::DropNewest),
    ] {
        let (tx, rx) = Builder::new(cap).policy(policy).mpmc::<usize>();
        let count = if cap < THREADS { COUNT / 5 } else { COUNT };
        run(THREADS, move |_| {
            for i in 0..count {
                let mut v = i;
                while let Err(e) = tx.try_send(v) {
                    match e {
                        TrySendError::Full(back) => v = back,
                        TrySendError::Closed(_) => panic!("closed"),
                    }
                    thread::yield_now();
                }
                if let Err(e) = rx.try_recv() {
                    panic!("cap {cap} {policy:?}: pop after a push failed: {e:?}");
                }
            }
        });
    }
}

/// With room for every thread, a policy send never meets a full queue: it is always
/// `Queued` (no eviction, drop or rejection), and the pop after it always succeeds.
#[test]
fn policy_send_with_room_for_everyone() {
    for policy in harness::POLICIES {
        for cap in [THREADS, THREADS + 3] {
            let (tx, rx) = Builder::new(cap).policy(policy).mpmc::<usize>();
            let closer = tx.closer();
            run(THREADS, move |_| {
                for i in 0..COUNT / 2 {
                    match tx.send(i) {
                        Ok(Sent::Queued) => {}
                        other => panic!("{policy:?} cap {cap}: {other:?} with room"),
                    }
                    if let Err(e) = rx.try_recv() {
                        panic!("{policy:?} cap {cap}: pop after a push failed: {e:?}");
                    }
                }
            });
            let m = closer.metrics();
            let total = (THREADS * (COUNT / 2)) as u64;
            assert_eq!((m.sent, m.received), (total, total));
            assert_eq!(m.evicted_oldest + m.dropped_newest + m.rejected, 0);
            assert!(m.high_water <= THREADS, "{m:?}");
        }
    }
}

/// Drop-oldest with fewer slots than threads. Here a thread whose send was `Queued` may
/// legitimately find the queue empty: its value can be evicted by another thread's send,
/// and that thread's own pop can take the evicting value (A: queued a; B: evicts a, queues
/// b; B pops b; A pops: empty). So no per-operation promise holds for the pop; what holds:
///
/// - an eviction never hands back the value being sent;
/// - every value is received or evicted exactly once (after a final drain);
/// - the failed pops are exactly the evictions plus what is left at the end
///   (sends add one value, or zero when evicting; each successful pop removes one).
#[test]
fn drop_oldest_with_fewer_slots_than_threads() {
    for cap in [1, 2, 3] {
        let (tx, rx) = Builder::new(cap).policy(Policy::DropOldest).mpmc::<usize>();
        let count = COUNT / 5;
        let tally = Arc::new(Tally::new(THREADS * count));
        let failed = Arc::new(AtomicUsize::new(0));
        let evicted = Arc::new(AtomicUsize::new(0));
        let (t, f, e, tx2, rx2) = (
            tally.clone(),
            failed.clone(),
            evicted.clone(),
            tx.clone(),
            rx.clone(),
        );
        run(THREADS, move |thread| {
            for i in 0..count {
                let v = thread * count + i;
                match tx2.send(v).unwrap() {
                    Sent::Queued => {}
                    Sent::Evicted(old) => {
                        assert_ne!(old, v, "evicted the value being sent");
                        t.hit(old);
                        e.fetch_add(1, SeqCst);
                    }
                    Sent::DroppedNewest => unreachable!(),
                }
                match rx2.try_recv() {
                    Ok(got) => t.hit(got),
                    Err(TryRecvError::Empty) => {
                        f.fetch_add(1, SeqCst);
                    }
                    Err(TryRecvError::Closed) => panic!("closed"),
                }
            }
        });
        let left: Vec<usize> = rx.try_iter().collect();
        for &v in &left {
            tally.hit(v);
        }
        tally.assert_all_once();
        let (failed, evicted) = (failed.load(SeqCst), evicted.load(SeqCst));
        assert_eq!(failed, evicted + left.len(), "cap {cap}");
        let m = tx.metrics();
        assert_eq!(m.evicted_oldest, evicted as u64);
        assert_eq!(m.sent, (THREADS * count) as u64);
        harness::assert_identity(&m);
        assert!(left.len() <= cap);
    }
}
