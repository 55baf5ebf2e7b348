#![cfg(not(loom))]
//! Metrics for every policy and both flavors: each counter, the quiescent identity
//! `sent == received + evicted_oldest + discarded + len`, and the exact high-water mark.

mod harness;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use harness::{assert_identity, build, build_exact, scaled, Rx, Tx, FLAVORS, POLICIES};
use pushpull::{Builder, Metrics, Policy, SendError, SendTimeoutError, Sent, TrySendError};

/// The counters we expect, compared field by field with a snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Expect {
    sent: u64,
    received: u64,
    dropped_newest: u64,
    evicted_oldest: u64,
    rejected: u64,
    discarded: u64,
    high_water: usize,
    len: usize,
    capacity: usize,
}

impl From<Metrics> for Expect {
    fn from(m: Metrics) -> Self {
        Self {
            sent: m.sent,
            received: m.received,
            dropped_newest: m.dropped_newest,
            evicted_oldest: m.evicted_oldest,
            rejected: m.rejected,
            discarded: m.discarded,
            high_water: m.high_water,
            len: m.len,
            capacity: m.capacity,
        }
    }
}

/// Every handle reports the same, expected snapshot, and it satisfies the identity.
#[track_caller]
fn check<T>(tx: &dyn Tx<T>, rx: &dyn Rx<T>, expect: Expect, ctx: &str) {
    for (who, m) in [("sender", tx.metrics()), ("receiver", rx.metrics())] {
        assert_eq!(Expect::from(m), expect, "{who} snapshot, {ctx}");
        assert_identity(&m);
    }
    assert_eq!(
        Expect::from(tx.closer().metrics()),
        expect,
        "closer snapshot, {ctx}"
    );
}

#[test]
fn fresh_queue() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let (tx, rx) = build::<u8>(flavor, 5, policy);
            let expect = Expect {
                capacity: 5,
                ..Expect::default()
            };
            check(&*tx, &*rx, expect, &format!("{flavor:?} {policy:?}"));
        }
    }
    let (tx, _rx) = pushpull::mpmc::<u8>(0);
    assert_eq!(tx.metrics(), Metrics::default());
}

#[test]
fn each_policy_counts_its_overflow() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let cap = 4;
            let (mut tx, mut rx) = build::<u32>(flavor, cap, policy);
            let mut e = Expect {
                capacity: cap,
                ..Expect::default()
            };
            for i in 0..cap as u32 {
                let _ = tx.send(i).unwrap();
            }
            e.sent = 4;
            e.len = 4;
            e.high_water = 4;
            check(&*tx, &*rx, e, &ctx);

            // try_send on a full queue is not a policy send: it changes nothing.
            assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
            check(&*tx, &*rx, e, &ctx);

            // Three policy sends on the full queue.
            for i in 10..13 {
                match policy {
                    Policy::Block => assert_eq!(
                        tx.send_timeout(i, Duration::from_millis(1)),
                        Err(SendTimeoutError::Timeout(i))
                    ),
                    Policy::DropNewest => assert_eq!(tx.send(i), Ok(Sent::DroppedNewest)),
                    Policy::DropOldest => assert!(matches!(tx.send(i), Ok(Sent::Evicted(_)))),
                    Policy::Reject => assert_eq!(tx.send(i), Err(SendError::Overloaded(i))),
                    _ => unreachable!("a variant added since"),
                }
            }
            match policy {
                Policy::Block => {}
                Policy::DropNewest => e.dropped_newest = 3,
                Policy::DropOldest => {
                    e.evicted_oldest = 3;
                    e.sent += 3;
                }
                Policy::Reject => e.rejected = 3,
                _ => unreachable!("a variant added since"),
            }
            check(&*tx, &*rx, e, &ctx);

            // Receive two.
            rx.recv().unwrap();
            rx.recv().unwrap();
            e.received = 2;
            e.len = 2;
            check(&*tx, &*rx, e, &ctx);

            // Close (drain) changes no counter; abort discards the rest.
            tx.close();
            check(&*tx, &*rx, e, &ctx);
            assert_eq!(rx.abort(), 2);
            e.discarded = 2;
            e.len = 0;
            check(&*tx, &*rx, e, &ctx);

            // Sends after the close are not counted anywhere.
            assert!(tx.send(99).is_err());
            check(&*tx, &*rx, e, &ctx);
        }
    }
}

#[test]
fn last_receiver_drop_counts_discarded() {
    for flavor in FLAVORS {
        let (mut tx, rx) = build::<u32>(flavor, 4, Policy::Block);
        for i in 0..3 {
            let _ = tx.send(i).unwrap();
        }
        drop(rx);
        let m = tx.metrics();
        assert_eq!(
            (m.sent, m.received, m.discarded, m.len),
            (3, 0, 3, 0),
            "{flavor:?}"
        );
        assert_identity(&m);
    }
}

/// With `exact_high_water`, the high-water mark is the largest `len` ever, exactly.
#[test]
fn high_water_is_exact() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let hw = |tx: &dyn Tx<u32>| tx.metrics().high_water;
            let (mut tx, mut rx) = build_exact::<u32>(flavor, 8, policy);
            for i in 0..5 {
                let _ = tx.send(i).unwrap();
            }
            assert_eq!(hw(&*tx), 5, "push 5 into 8: {ctx}");
            rx.take_all();
            assert_eq!(hw(&*tx), 5, "{ctx}");

            let (mut tx, mut rx) = build_exact::<u32>(flavor, 8, policy);
            for i in 0..3 {
                let _ = tx.send(i).unwrap();
            }
            rx.recv().unwrap();
            let _ = tx.send(3).unwrap();
            let _ = tx.send(4).unwrap();
            assert_eq!(hw(&*tx), 4, "push 3, pop 1, push 2: {ctx}");
            while tx.try_send(0).is_ok() {}
            assert_eq!(hw(&*tx), 8, "fill: {ctx}");
            rx.take_all();
            assert_eq!(hw(&*tx), 8, "after drain: {ctx}");
            assert_eq!(rx.metrics().high_water, 8, "{ctx}");
        }
    }
}

/// Without `exact_high_water`, the mark is a sample of the peak: never above the capacity
/// or the true peak, never below a length a snapshot saw, monotonic, and exactly the
/// capacity once a sender found the queue full. Checked while a producer, a consumer and an
/// observer run concurrently, on both flavors.
#[test]
fn high_water_default_is_a_sample_of_the_peak() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    for flavor in FLAVORS {
        // Single-threaded: never above the true peak (3), at least what a snapshot saw.
        let (mut tx, mut rx) = build::<u32>(flavor, 8, Policy::Block);
        for i in 0..3 {
            let _ = tx.send(i).unwrap();
        }
        let m = tx.metrics();
        assert_eq!(
            (m.len, m.high_water),
            (3, 3),
            "{flavor:?}: a snapshot notes its len"
        );
        rx.take_all();
        assert_eq!(tx.metrics().high_water, 3, "{flavor:?}: monotonic");
        for i in 0..8 {
            let _ = tx.send(i).unwrap();
        }
        assert!(tx.try_send(9).is_err());
        rx.take_all();
        assert_eq!(tx.metrics().high_water, 8, "{flavor:?}: found full");

        // Concurrently.
        let cap = 8;
        let n = scaled(20_000, 200);
        let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::Block);
        let closer = tx.closer();
        let done = Arc::new(AtomicBool::new(false));
        let found_full = Arc::new(AtomicUsize::new(0));
        let producer = {
            let found_full = found_full.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    if let Err(e) = tx.try_send(i) {
                        found_full.fetch_add(1, SeqCst);
                        let _ = tx.send(e.into_inner()).unwrap();
                    }
                }
            })
        };
        let observer = {
            let done = done.clone();
            let closer = closer.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                while !done.load(SeqCst) {
                    let m = closer.metrics();
                    assert!(m.high_water >= m.len, "{m:?}");
                    assert!(m.high_water >= last, "monotonic: {last} then {m:?}");
                    assert!(m.high_water <= m.capacity, "{m:?}");
                    last = m.high_water;
                    std::thread::yield_now();
                }
            })
        };
        let mut got = 0;
        while rx.recv().is_ok() {
            got += 1;
        }
        producer.join().unwrap();
        done.store(true, SeqCst);
        observer.join().unwrap();
        assert_eq!(got, n);
        let m = closer.metrics();
        assert!(m.high_water <= cap, "{flavor:?}: {m:?}");
        if found_full.load(SeqCst) > 0 {
            assert_eq!(m.high_water, cap, "{flavor:?}: a send found it full: {m:?}");
        }
    }
}

#[test]
fn high_water_across_many_laps() {
    // Oscillate between 0 and 3 in a queue of 8 for many laps, then between 0 and 1, then
    // go up to 5 once: the mark follows the maximum exactly, never the positions.
    let laps = scaled(200, 10);
    for flavor in FLAVORS {
        let (mut tx, mut rx) = build_exact::<usize>(flavor, 8, Policy::Block);
        for _ in 0..laps {
            for i in 0..3 {
                let _ = tx.send(i).unwrap();
            }
            assert_eq!(rx.take_all().len(), 3);
        }
        assert_eq!(tx.metrics().high_water, 3, "{flavor:?}");
        for _ in 0..laps {
            let _ = tx.send(0).unwrap();
            rx.recv().unwrap();
        }
        assert_eq!(tx.metrics().high_water, 3, "{flavor:?}");
        // Up to 4 by a staircase: push 2, pop 1, push 2, pop 1, push 1 -> 3, then 4.
        let _ = tx.send(0).unwrap();
        let _ = tx.send(0).unwrap();
        rx.recv().unwrap();
        let _ = tx.send(0).unwrap();
        let _ = tx.send(0).unwrap();
        assert_eq!(tx.metrics().high_water, 3, "{flavor:?}");
        let _ = tx.send(0).unwrap();
        assert_eq!(tx.metrics().high_water, 4, "{flavor:?}");
        rx.recv().unwrap();
        let _ = tx.send(0).unwrap();
        assert_eq!(tx.metrics().high_water, 4, "{flavor:?}");
        let _ = tx.send(0).unwrap();
        assert_eq!(tx.metrics().high_water, 5, "{flavor:?}");
    }
}

/// A deterministic pseudo-random sequence of operations, checked against a `VecDeque`
/// model after every step: results, length and every counter.
#[test]
fn model_check_every_policy() {
    let steps = scaled(4_000, 50);
    for flavor in FLAVORS {
        for policy in POLICIES {
            for cap in [1, 2, 3, 5] {
                let ctx = format!("{flavor:?} {policy:?} cap {cap}");
                let (mut tx, mut rx) = build_exact::<u64>(flavor, cap, policy);
                let mut model: VecDeque<u64> = VecDeque::new();
                let mut e = Expect {
                    capacity: cap,
                    ..Expect::default()
                };
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ cap as u64;
                for step in 0..steps as u64 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let full = model.len() == cap;
                    match seed % 5 {
                        // try_send
                        0 => {
                            let r = tx.try_send(step);
                            if full {
                                assert_eq!(r, Err(TrySendError::Full(step)), "{ctx}");
                            } else {
                                assert_eq!(r, Ok(()), "{ctx}");
                                model.push_back(step);
                                e.sent += 1;
                            }
                        }
                        // policy send (never waiting: a full Block queue times out at once)
                        1 | 2 => {
                            let r = tx.send_timeout(step, Duration::ZERO);
                            if !full {
                                assert_eq!(r, Ok(Sent::Queued), "{ctx}");
                                model.push_back(step);
                                e.sent += 1;
                            } else {
                                match policy {
                                    Policy::Block => {
                                        assert_eq!(r, Err(SendTimeoutError::Timeout(step)))
                                    }
                                    Policy::DropNewest => {
                                        assert_eq!(r, Ok(Sent::DroppedNewest));
                                        e.dropped_newest += 1;
                                    }
                                    Policy::DropOldest => {
                                        let old = model.pop_front().unwrap();
                                        assert_eq!(r, Ok(Sent::Evicted(old)), "{ctx}");
                                        model.push_back(step);
                                        e.sent += 1;
                                        e.evicted_oldest += 1;
                                    }
                                    Policy::Reject => {
                                        assert_eq!(r, Err(SendTimeoutError::Overloaded(step)));
                                        e.rejected += 1;
                                    }
                                    _ => unreachable!("a variant added since"),
                                }
                            }
                        }
                        // receive
                        _ => {
                            let r = rx.try_recv().ok();
                            assert_eq!(r, model.pop_front(), "{ctx}");
                            if r.is_some() {
                                e.received += 1;
                            }
                        }
                    }
                    e.len = model.len();
                    e.high_water = e.high_water.max(model.len());
                    if step % 7 == 0 || cfg!(miri) {
                        check(&*tx, &*rx, e, &format!("{ctx} step {step}"));
                    } else {
                        assert_eq!(tx.len(), model.len(), "{ctx}");
                    }
                }
                check(&*tx, &*rx, e, &ctx);
            }
        }
    }
}

#[test]
fn rendezvous_counters() {
    // Nobody waiting: drop-newest and reject count; nothing is ever queued.
    let (tx, _rx) = Builder::new(0).policy(Policy::DropNewest).mpmc::<u32>();
    assert_eq!(tx.send(1), Ok(Sent::DroppedNewest));
    let m = tx.metrics();
    assert_eq!(
        (m.sent, m.dropped_newest, m.high_water, m.capacity),
        (0, 1, 0, 0)
    );

    let (tx, _rx) = Builder::new(0).policy(Policy::Reject).mpmc::<u32>();
    assert_eq!(tx.send(1), Err(SendError::Overloaded(1)));
    assert_eq!(tx.metrics().rejected, 1);

    // Hand-offs count as sent and received.
    let n = scaled(200, 5);
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let t = thread::spawn(move || (0..n).for_each(|i| assert_eq!(tx.send(i), Ok(Sent::Queued))));
    assert_eq!(rx.iter().count(), n);
    t.join().unwrap();
    let m = rx.metrics();
    assert_eq!(
        (m.sent, m.received, m.len, m.high_water),
        (n as u64, n as u64, 0, 0)
    );
    assert_identity(&m);
}

#[test]
fn identity_after_concurrent_drop_oldest() {
    for flavor in FLAVORS {
        let n = scaled(20_000, 40);
        let (mut tx, mut rx) = build::<usize>(flavor, 3, Policy::DropOldest);
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        // Receives while the producer runs, then stops, leaving what is queued.
        let consumer = thread::spawn(move || {
            let mut count = 0u64;
            while !d.load(SeqCst) {
                match rx.try_recv() {
                    Ok(_) => count += 1,
                    Err(_) => thread::yield_now(),
                }
            }
            (count, rx)
        });
        let mut evicted = 0;
        for i in 0..n {
            if tx.send(i).unwrap().evicted().is_some() {
                evicted += 1;
            }
        }
        done.store(true, SeqCst);
        let (received, rx) = consumer.join().unwrap();
        // Quiescent now: the identity holds exactly.
        let m = tx.metrics();
        assert_identity(&m);
        assert_eq!(m.sent, n as u64, "{flavor:?}");
        assert_eq!(
            (m.received, m.evicted_oldest),
            (received, evicted),
            "{flavor:?}"
        );
        assert_eq!(m.len, rx.len());
        // An eviction means the queue was full at some point.
        assert!(m.high_water <= 3);
        if evicted > 0 {
            assert_eq!(m.high_water, 3);
        }
        drop(rx);
        let m = tx.metrics();
        assert_eq!(
            m.discarded as usize,
            n - received as usize - evicted as usize
        );
        assert_identity(&m);
    }
}

#[test]
fn metrics_formatting() {
    let (tx, rx) = pushpull::Builder::new(4).exact_high_water().mpmc::<u8>();
    let _ = tx.send(1).unwrap();
    let _ = tx.send(2).unwrap();
    rx.recv().unwrap();
    let m = tx.metrics();
    let debug = format!("{m:?}");
    for field in [
        "sent: 2",
        "received: 1",
        "dropped_newest: 0",
        "evicted_oldest: 0",
        "rejected: 0",
        "discarded: 0",
        "high_water: 2",
        "len: 1",
        "capacity: 4",
    ] {
        assert!(debug.contains(field), "{field} missing from {debug}");
    }
    let display = m.to_string();
    assert!(display.contains("sent 2"), "{display}");
    assert!(display.contains("received 1"), "{display}");
    // Metrics is a plain value.
    let copy = m;
    assert_eq!(copy, m);
    assert_ne!(copy, Metrics::default());
}

/// `send_waits`: a send (future or blocking call) or a reservation that stands in line for
/// room is counted once, however often it is polled; sends that complete at once, and the
/// policies that never wait, are not counted.
#[test]
fn send_waits_counts_each_waiting_send_once() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());

    // A send future on a full queue: pending twice, counted once.
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    {
        let mut send = pin!(tx.send_async(1));
        assert!(send.as_mut().poll(&mut cx).is_pending());
        assert!(send.as_mut().poll(&mut cx).is_pending());
        assert_eq!(tx.metrics().send_waits, 1);
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(Sent::Queued)));
    }
    // A send with room, and a reservation that waits (SPSC this time).
    let (mut ptx, mut prx) = pushpull::spsc::<u32>(1);
    let _ = ptx.send(7).unwrap();
    assert_eq!(
        ptx.metrics().send_waits,
        0,
        "a send with room does not wait"
    );
    {
        let mut reserve = pin!(ptx.reserve_async());
        assert!(reserve.as_mut().poll(&mut cx).is_pending());
        assert_eq!(prx.try_recv(), Ok(7));
        assert!(matches!(reserve.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    }
    assert_eq!(prx.metrics().send_waits, 1);

    // A blocking send on a full queue parks (its spin cannot find room): counted once the
    // sender stands in line, seen here before the receive lets it through.
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    let sender = {
        let tx = tx.clone();
        thread::spawn(move || tx.send(1))
    };
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while rx.metrics().send_waits == 0 {
        assert!(
            std::time::Instant::now() < until,
            "the blocked send was not counted"
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(sender.join().unwrap(), Ok(Sent::Queued));
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(tx.metrics().send_waits, 1);

    // A blocking send that gives up on its deadline waited too.
    let (tx, _rx) = pushpull::mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    assert!(matches!(
        tx.send_timeout(1, Duration::from_millis(1)),
        Err(SendTimeoutError::Timeout(1))
    ));
    assert_eq!(tx.metrics().send_waits, 1);

    // Policies that never wait are never counted.
    for policy in [Policy::DropNewest, Policy::DropOldest, Policy::Reject] {
        let (tx, _rx) = Builder::new(1).policy(policy).mpmc::<u32>();
        for i in 0..3 {
            let _ = tx.send(i);
            let mut send = pin!(tx.send_async(10 + i));
            assert!(send.as_mut().poll(&mut cx).is_ready(), "{policy:?}");
        }
        assert_eq!(tx.metrics().send_waits, 0, "{policy:?}");
    }
}

/// Snapshots taken while a drop-oldest queue evicts: `received` is derived from the head
/// less the evictions, which are counted just after they move the head, so a snapshot that
/// read them in the wrong order (or a moment apart without checking) could report `received`
/// below zero (a huge number) or above `sent`. Every snapshot must keep
/// `received <= sent`, and once the queue is quiet the identity holds exactly.
#[test]
#[cfg_attr(miri, ignore = "a million snapshots against spinning threads")]
fn snapshots_while_evicting_stay_consistent() {
    let snapshots = 1_000_000;
    for flavor in FLAVORS {
        let (tx, rx) = build::<u64>(flavor, 4, Policy::DropOldest);
        let stop = Arc::new(AtomicBool::new(false));
        let closer = rx.closer();
        let producer = {
            let stop = stop.clone();
            let mut tx = tx;
            thread::spawn(move || {
                let mut i = 0;
                while !stop.load(SeqCst) {
                    let _ = tx.send(i);
                    i += 1;
                }
                tx
            })
        };
        let consumer = {
            let stop = stop.clone();
            let mut rx = rx;
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let _ = rx.try_recv();
                }
                rx
            })
        };
        for _ in 0..snapshots {
            let m = closer.metrics();
            assert!(m.received <= m.sent, "{flavor:?}: {m:?}");
            assert!(
                m.evicted_oldest <= m.sent,
                "{flavor:?}: evicted beyond sent: {m:?}"
            );
        }
        stop.store(true, SeqCst);
        let (_tx, _rx) = (producer.join().unwrap(), consumer.join().unwrap());
        assert_identity(&closer.metrics());
    }
}
