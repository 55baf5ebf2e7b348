//! Per-key sharding (`pushpull::shard`): routing, per-key FIFO, policies through the router,
//! blocking and async sends, head-of-line isolation, the merged receiver's fairness, close
//! and metrics over every shard, cancellation; and the accounting of
//! examples/shard_latency.rs.
#![cfg(feature = "shard")]

mod common;

#[path = "../examples/shard_latency.rs"]
#[allow(dead_code)]
mod example;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use common::{poll_once, CountingWaker, Exec, GENEROUS};
use pushpull::shard::{self, DefaultHashBuilder, ShardedReceiver, ShardedSender};
use pushpull::{
    Policy, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sent, TryRecvError,
    TrySendError,
};

/// Routes a `u64` key to shard `key % shards`: the hash is the key itself.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        panic!("Identity hashes u64 keys only");
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ById = BuildHasherDefault<Identity>;

/// `shards` shards of `capacity` under `policy`, key `k` in shard `k % shards`.
fn by_id<T>(
    shards: usize,
    capacity: usize,
    policy: Policy,
) -> (ShardedSender<u64, T, ById>, ShardedReceiver<T>) {
    shard::Builder::new(shards, capacity)
        .policy(policy)
        .hasher(ById::default())
        .build()
}

/// Runs `f` on its own thread and fails, instead of hanging, if it is not done within
/// `GENEROUS`; passes its panic on.
fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    if cfg!(miri) {
        return f(); // no watchdog thread under Miri (its clock is virtual)
    }
    let run = thread::spawn(f);
    let deadline = Instant::now() + GENEROUS;
    while !run.is_finished() {
        assert!(
            Instant::now() < deadline,
            "did not finish: a wait that never ends?"
        );
        thread::sleep(Duration::from_millis(1));
    }
    run.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Waits (generously) until `cond` holds; fails instead of hanging.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + GENEROUS;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn handles_are_send_sync_and_debug() {
    fn send_sync<T: Send + Sync + std::fmt::Debug>() {}
    fn send<T: Send>() {}
    send_sync::<ShardedSender<str, u8>>();
    send_sync::<ShardedSender<String, u8, ById>>();
    send_sync::<ShardedReceiver<u8>>();
    send_sync::<shard::Builder>();
    send_sync::<shard::ShardMetrics>();
    send::<shard::ShardedRecvFuture<'static, u8>>();
    let (tx, rx) = shard::Builder::new(2, 1).build::<str, u8>();
    assert!(format!("{tx:?}").starts_with("ShardedSender"));
    assert!(format!("{rx:?}").starts_with("ShardedReceiver"));
    assert!(format!("{:?}", rx.recv_async()).starts_with("ShardedRecvFuture"));
}

// === Routing ===

/// The documented formula: `hash_one(key) % shards` with std's `DefaultHasher` from
/// `DefaultHasher::new()` (fixed keys). A seeded hasher (`RandomState`) would differ from it,
/// and between two builders of one process.
#[test]
fn default_routing_is_the_documented_fixed_formula() {
    let expected = |key: u64, shards: u64| {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % shards) as usize
    };
    for shards in [1, 2, 3, 7, 16] {
        let (a, _ra) = shard::Builder::new(shards, 1).build::<u64, ()>();
        let (b, _rb) = shard::Builder::new(shards, 1).build::<u64, ()>();
        let mut used = HashSet::new();
        for key in 0..if cfg!(miri) { 60 } else { 500u64 } {
            let s = a.shard_for(&key);
            assert_eq!(
                s,
                expected(key, shards as u64),
                "key {key}, {shards} shards"
            );
            assert_eq!(s, b.shard_for(&key), "two builders disagree on key {key}");
            assert_eq!(
                s,
                a.shard_for(&key),
                "one sender changed its mind on key {key}"
            );
            assert_eq!(
                s,
                DefaultHashBuilder::default().hash_one(key) as usize % shards
            );
            used.insert(s);
        }
        assert_eq!(used.len(), shards, "the keys leave a shard unused");
    }
    // Borrowed forms hash as the key: a `String`-keyed sender routes `&str` the same way.
    let (tx, _rx) = shard::Builder::new(8, 1).build::<String, ()>();
    for key in ["alice", "bob", "carol"] {
        assert_eq!(tx.shard_for(key), tx.shard_for(&key.to_string()));
    }
}

#[test]
fn values_go_to_their_keys_shard() {
    let (tx, rx) = shard::Builder::new(5, 200).build::<u32, u32>();
    for key in 0..200u32 {
        tx.try_send(&key, key).unwrap();
    }
    for (s, r) in rx.receivers().iter().enumerate() {
        for key in r.try_iter() {
            assert_eq!(tx.shard_for(&key), s, "key {key} found in shard {s}");
        }
    }
    assert!(rx.is_empty());
}

#[test]
fn a_custom_hasher_routes_as_told() {
    let (tx, rx) = by_id::<u64>(4, 8, Policy::Block);
    for key in 0..20u64 {
        assert_eq!(tx.shard_for(&key), (key % 4) as usize);
        tx.try_send(&key, key).unwrap();
    }
    for (s, r) in rx.receivers().iter().enumerate() {
        let got: Vec<u64> = r.try_iter().collect();
        let want: Vec<u64> = (0..20).filter(|k| k % 4 == s as u64).collect();
        assert_eq!(got, want, "shard {s}");
    }
}

#[test]
#[should_panic(expected = "at least one shard")]
fn zero_shards_is_refused() {
    let _ = shard::Builder::new(0, 8);
}

#[test]
fn a_shard_that_cannot_be_built_is_an_error() {
    let r = shard::Builder::new(3, 0)
        .policy(Policy::DropOldest)
        .try_build::<u8, u8>();
    assert_eq!(
        r.unwrap_err().kind(),
        pushpull::BuildErrorKind::DropOldestRendezvous
    );
}

// === Per-key FIFO ===

/// `PRODUCERS` threads each send `PER_KEY` values of every key (as `(producer, key, seq)`),
/// interleaving keys, into small shards (so sends wait); each key's values from each
/// producer must arrive in order, each exactly once.
fn fifo_run(merged: bool) {
    const PRODUCERS: u32 = 3;
    const KEYS: u32 = 40;
    const PER_KEY: u32 = 25;
    let (tx, rx) = shard::Builder::new(4, 4).build::<u32, (u32, u32, u32)>();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..PER_KEY {
                    for key in 0..KEYS {
                        let _ = tx.send(&key, (p, key, seq)).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let seen: Vec<Vec<(u32, u32, u32)>> = if merged {
        // Per-key order holds per consumer: one consumer over all shards.
        vec![rx.iter().collect()]
    } else {
        rx.into_receivers()
            .into_iter()
            .map(|r| thread::spawn(move || r.iter().collect::<Vec<_>>()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect()
    };
    for p in producers {
        p.join().unwrap();
    }
    let mut next = vec![vec![0u32; KEYS as usize]; PRODUCERS as usize];
    let mut total = 0;
    for consumer in &seen {
        for &(p, key, seq) in consumer {
            assert_eq!(
                seq, next[p as usize][key as usize],
                "key {key} from producer {p}: out of order"
            );
            next[p as usize][key as usize] += 1;
            total += 1;
        }
    }
    assert_eq!(total, PRODUCERS * KEYS * PER_KEY);
}

#[test]
#[cfg_attr(miri, ignore = "threads: several producers and consumers")]
fn per_key_fifo_with_one_consumer_per_shard() {
    within(|| fifo_run(false));
}

#[test]
#[cfg_attr(miri, ignore = "threads: several producers and a merged consumer")]
fn per_key_fifo_with_one_merged_consumer() {
    within(|| fifo_run(true));
}

// === Policies, through the router ===

#[test]
fn every_policy_acts_on_the_full_shard_only() {
    within(policies_scenario); // a policy that waits by mistake would hang
}

fn policies_scenario() {
    // Key 0 -> shard 0 (filled to capacity 1), key 1 -> shard 1 (empty).
    for policy in [
        Policy::Block,
        Policy::DropNewest,
        Policy::DropOldest,
        Policy::Reject,
    ] {
        let (tx, rx) = by_id::<&str>(2, 1, policy);
        let _ = tx.send(&0, "first").unwrap();
        assert_eq!(tx.try_send(&0, "try"), Err(TrySendError::Full("try")));
        match policy {
            Policy::Block => assert_eq!(
                tx.send_timeout(&0, "late", Duration::from_millis(1)),
                Err(SendTimeoutError::Timeout("late"))
            ),
            Policy::DropNewest => assert_eq!(tx.send(&0, "x").unwrap(), Sent::DroppedNewest),
            Policy::DropOldest => assert_eq!(tx.send(&0, "x").unwrap(), Sent::Evicted("first")),
            Policy::Reject => assert_eq!(tx.send(&0, "x"), Err(SendError::Overloaded("x"))),
            _ => unreachable!(),
        }
        // The other shard is not affected.
        assert_eq!(
            tx.send_timeout(&1, "other", GENEROUS).unwrap(),
            Sent::Queued
        );
        assert_eq!(rx.receivers()[1].try_recv(), Ok("other"));
        let m = tx.metrics();
        let full = m.per_shard[0];
        let other = m.per_shard[1];
        assert_eq!(
            (full.dropped_newest, full.evicted_oldest, full.rejected),
            match policy {
                Policy::DropNewest => (1, 0, 0),
                Policy::DropOldest => (0, 1, 0),
                Policy::Reject => (0, 0, 1),
                _ => (0, 0, 0),
            },
            "{policy:?}"
        );
        assert_eq!((other.sent, other.received), (1, 1), "{policy:?}");
        assert_eq!(
            other.dropped_newest + other.evicted_oldest + other.rejected,
            0
        );
        assert_eq!(m.total.rejected, full.rejected);
        assert!(tx.senders().iter().all(|s| s.policy() == policy));
    }
}

#[test]
fn a_queue_builder_configures_every_shard() {
    let each = pushpull::Builder::new(3).policy(Policy::Reject).credits(1);
    let (tx, rx) = shard::Builder::from_queue(2, each)
        .hasher(ById::default())
        .build::<u64, u8>();
    for s in tx.senders() {
        assert_eq!(
            (s.capacity(), s.policy(), s.credits()),
            (3, Policy::Reject, Some(1))
        );
    }
    // One credit per shard: the second value of a shard is out of credit, rejected.
    let _ = tx.send(&0, 1).unwrap();
    assert_eq!(tx.send(&0, 2), Err(SendError::Overloaded(2)));
    let _ = tx.send(&1, 3).unwrap();
    rx.receivers()[0].grant(1);
    let _ = tx.send(&0, 2).unwrap();
    assert_eq!(rx.metrics().total.credits_granted, 3);
}

// === Blocking and async sends ===

#[test]
#[cfg_attr(miri, ignore = "threads")]
fn a_blocked_send_waits_for_its_own_shard_only() {
    let (tx, rx) = by_id::<u32>(2, 1, Policy::Block);
    let tx = Arc::new(tx);
    let _ = tx.send(&0, 0).unwrap(); // shard 0 full
    let blocked = thread::spawn({
        let tx = tx.clone();
        move || tx.send(&0, 1).map(|_| ())
    });
    eventually("the send into the full shard waits", || {
        tx.metrics().per_shard[0].send_waits == 1
    });
    // Meanwhile shard 1 takes values and gives them back, any number of times.
    for i in 0..10 {
        let _ = tx.send_timeout(&1, 100 + i, GENEROUS).unwrap();
        assert_eq!(rx.receivers()[1].recv_timeout(GENEROUS), Ok(100 + i));
    }
    assert!(!blocked.is_finished());
    assert_eq!(rx.receivers()[0].recv(), Ok(0)); // room in shard 0
    within(move || blocked.join().unwrap()).unwrap();
    assert_eq!(rx.receivers()[0].recv(), Ok(1));
}

#[test]
#[cfg_attr(miri, ignore = "executors and threads")]
fn async_sends_and_merged_async_receives_on_every_executor() {
    within(async_scenario);
}

fn async_scenario() {
    const KEYS: u64 = 16;
    const PER_KEY: u64 = 30;
    for exec in Exec::all() {
        let (tx, rx) = shard::Builder::new(3, 2).build::<u64, (u64, u64)>();
        let tx = Arc::new(tx);
        let senders: Vec<_> = (0..2u64)
            .map(|half| {
                let tx = tx.clone();
                exec.spawn(async move {
                    for seq in 0..PER_KEY {
                        for key in (half * KEYS / 2)..((half + 1) * KEYS / 2) {
                            let _ = tx.send_async(&key, (key, seq)).await.unwrap();
                        }
                    }
                })
            })
            .collect();
        // A blocking sender on a plain thread, into the same shards.
        let blocking = thread::spawn({
            let tx = tx.clone();
            move || {
                for seq in 0..PER_KEY {
                    let _ = tx.send(&KEYS, (KEYS, seq)).unwrap();
                }
            }
        });
        drop(tx);
        let rx = Arc::new(rx);
        let consumer = exec.spawn({
            let rx = rx.clone();
            async move {
                let mut next = vec![0u64; KEYS as usize + 1];
                let mut n = 0;
                while let Ok((key, seq)) = rx.recv_async().await {
                    assert_eq!(seq, next[key as usize], "key {key} out of order");
                    next[key as usize] += 1;
                    n += 1;
                }
                n
            }
        });
        exec.block_on(async {
            for s in senders {
                s.await;
            }
        });
        blocking.join().unwrap();
        let n = exec.block_on(consumer);
        assert_eq!(n, (KEYS + 1) * PER_KEY, "{}", exec.name());
        assert!(rx.is_closed(), "{}", exec.name());
    }
}

// === Head-of-line blocking ===

/// One shard's consumer holds off (its shard fills, and a producer of its key waits); the
/// other keys' values still reach their consumers, counted, while it holds off.
#[test]
#[cfg_attr(miri, ignore = "threads")]
fn a_stalled_consumer_does_not_hold_up_other_keys() {
    const OTHERS: u64 = 500;
    let (tx, rx) = by_id::<u64>(4, 2, Policy::Block);
    let tx = Arc::new(tx);
    let mut receivers = rx.into_receivers().into_iter();
    let stalled = receivers.next().unwrap(); // shard 0: keys 0, 4, 8, ...
    let received = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = receivers
        .map(|r| {
            let received = received.clone();
            thread::spawn(move || {
                for _ in &r {
                    received.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // The hot key's producer: fills shard 0 and waits there.
    let hot = thread::spawn({
        let tx = tx.clone();
        move || {
            for i in 0..10 {
                let _ = tx.send(&0, i).unwrap();
            }
        }
    });
    eventually("the hot producer waits on its full shard", || {
        tx.metrics().per_shard[0].send_waits >= 1
    });
    // The other keys: every value gets through while shard 0's consumer holds off.
    for i in 0..OTHERS {
        let key = 1 + i % 3 + 4 * (i % 7); // never a multiple of 4
        let _ = tx.send_timeout(&key, i, GENEROUS).unwrap();
    }
    eventually("the other keys' values are received", || {
        received.load(Ordering::SeqCst) == OTHERS as usize
    });
    assert!(!hot.is_finished(), "shard 0 took more than its capacity");
    assert_eq!(tx.metrics().per_shard[0].received, 0);
    // The stalled consumer resumes: the hot key drains too.
    let drained = thread::spawn(move || stalled.iter().count());
    within(move || hot.join().unwrap());
    drop(tx);
    assert_eq!(within(move || drained.join().unwrap()), 10);
    for c in consumers {
        within(move || c.join().unwrap());
    }
}

// === The merged receiver ===

#[test]
fn merged_receives_take_turns_over_full_shards() {
    const K: u64 = 4;
    let (tx, rx) = by_id::<u64>(K as usize, 8, Policy::Block);
    for i in 0..8 {
        for key in 0..K {
            tx.try_send(&key, key * 100 + i).unwrap();
        }
    }
    let shard_of = |v: u64| v / 100;
    let got: Vec<u64> = (0..32).map(|_| rx.try_recv().unwrap()).collect();
    for (n, window) in got.chunks(K as usize).enumerate() {
        let shards: HashSet<u64> = window.iter().map(|&v| shard_of(v)).collect();
        assert_eq!(shards.len(), K as usize, "receives {n}: {window:?}");
    }
    // Each shard's values in its order.
    for key in 0..K {
        let mine: Vec<u64> = got
            .iter()
            .copied()
            .filter(|&v| shard_of(v) == key)
            .collect();
        assert_eq!(mine, (0..8).map(|i| key * 100 + i).collect::<Vec<_>>());
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Two busy shards alternate exactly; a shard that gets one value while another holds many
/// is served within K receives, however many values the busy one holds.
#[test]
fn no_shard_is_starved() {
    let (tx, rx) = by_id::<u64>(4, 64, Policy::Block);
    for i in 0..10 {
        tx.try_send(&1, 100 + i).unwrap();
        tx.try_send(&3, 300 + i).unwrap();
    }
    let got: Vec<u64> = (0..20).map(|_| rx.try_recv().unwrap() / 100).collect();
    let alternating = got.windows(2).all(|w| w[0] != w[1]);
    assert!(alternating, "{got:?}");

    // Shard 0 busy; one value arrives in shard 2 after each receive.
    for i in 0..60 {
        tx.try_send(&0, i).unwrap();
    }
    let mut since = Vec::new();
    for round in 0..10 {
        tx.try_send(&2, 1000 + round).unwrap();
        let mut n = 0;
        loop {
            n += 1;
            if rx.try_recv().unwrap() >= 1000 {
                break;
            }
            assert!(n <= 4, "round {round}: shard 2 waited {n} receives");
        }
        since.push(n);
    }
    assert!(since.iter().all(|&n| n <= 2), "{since:?}");
}

#[test]
fn the_merged_receiver_reports_closed_only_when_every_shard_is_closed_and_drained() {
    let (tx, rx) = by_id::<u64>(3, 4, Policy::Block);
    tx.try_send(&1, 1).unwrap();
    // Shards 0 and 1 closed (1 still holds a value), shard 2 open and empty.
    rx.receivers()[0].close();
    rx.receivers()[1].close();
    assert!(!rx.is_closed() && !tx.is_closed());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    tx.try_send(&2, 2).unwrap();
    rx.receivers()[2].close();
    assert!(rx.is_closed() && tx.is_closed());
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Closed)
    );
    assert_eq!(futures::executor::block_on(rx.recv_async()), Err(RecvError));
}

#[test]
#[cfg_attr(miri, ignore = "threads")]
fn a_blocked_merged_receive_wakes_for_any_shard() {
    within(wake_for_any_shard_scenario);
}

fn wake_for_any_shard_scenario() {
    for shard in 0..3u64 {
        let (tx, rx) = by_id::<u64>(3, 2, Policy::Block);
        let barrier = Arc::new(Barrier::new(2));
        let waiter = thread::spawn({
            let barrier = barrier.clone();
            move || {
                barrier.wait();
                // Timeouts longer than the watchdog's: a lost wake-up fails the test
                // (the last look after a timeout would otherwise find the value).
                let long = 2 * GENEROUS;
                (rx.recv_timeout(long), rx.recv(), rx.recv_timeout(long))
            }
        });
        barrier.wait();
        // Let the waiter park first (if it has not yet, it finds the values by its first
        // look: the test is then weaker, never wrong).
        thread::sleep(Duration::from_millis(20));
        let _ = tx.send(&shard, shard).unwrap();
        let _ = tx.send(&((shard + 1) % 3), 10).unwrap();
        drop(tx); // every shard closes
        let (a, b, c) = waiter.join().unwrap();
        let mut got = [a.unwrap(), b.unwrap()];
        got.sort_unstable();
        assert_eq!(got, [shard, 10]);
        assert_eq!(c, Err(RecvTimeoutError::Closed));
    }
}

/// A waiting merged receive future is woken by a value in any shard, and takes it.
#[test]
fn a_waiting_merged_receive_is_woken_by_any_shard() {
    let (tx, rx) = by_id::<u64>(3, 2, Policy::Block);
    for shard in [2, 0, 1, 1] {
        let (count, waker) = CountingWaker::new();
        let mut waiting = rx.recv_async();
        assert!(poll_once(&mut waiting, &waker).is_pending());
        assert!(
            poll_once(&mut waiting, &waker).is_pending(),
            "a re-poll waits too"
        );
        tx.try_send(&shard, shard).unwrap();
        assert!(count.count() >= 1, "not woken by shard {shard}");
        assert_eq!(poll_once(&mut waiting, &waker), Poll::Ready(Ok(shard)));
    }
    // And by the last shard closing.
    let (count, waker) = CountingWaker::new();
    let mut waiting = rx.recv_async();
    assert!(poll_once(&mut waiting, &waker).is_pending());
    rx.receivers()[0].close();
    rx.receivers()[2].close();
    assert!(
        poll_once(&mut waiting, &waker).is_pending(),
        "shard 1 is open"
    );
    let before = count.count();
    tx.close();
    assert!(count.count() > before, "not woken by the close");
    assert_eq!(poll_once(&mut waiting, &waker), Poll::Ready(Err(RecvError)));
}

/// A merged receive future that waits is registered on every shard; dropped after a value
/// came (and woke it), it loses nothing: the value is still there for the next receive.
#[test]
fn a_dropped_merged_receive_loses_nothing() {
    let (tx, rx) = by_id::<u64>(3, 2, Policy::Block);
    let (count, waker) = CountingWaker::new();
    let mut waiting = rx.recv_async();
    assert!(poll_once(&mut waiting, &waker).is_pending());
    tx.try_send(&2, 7).unwrap();
    assert!(count.count() >= 1, "the waiting future was not woken");
    drop(waiting);
    assert_eq!(rx.try_recv(), Ok(7));

    // Woken, polled to completion: takes exactly one value, the others stay.
    let mut waiting = rx.recv_async();
    assert!(poll_once(&mut waiting, &waker).is_pending());
    tx.try_send(&1, 8).unwrap();
    tx.try_send(&0, 9).unwrap();
    let Poll::Ready(Ok(first)) = poll_once(&mut waiting, &waker) else {
        panic!("a value was there");
    };
    drop(waiting);
    let second = rx.try_recv().unwrap();
    let mut both = [first, second];
    both.sort_unstable();
    assert_eq!(both, [8, 9]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Two merged receivers wait; the first to wait is woken by a value, then dropped without
/// taking it: the wake-up passes on, and the other one (blocked on a thread) gets it.
#[test]
#[cfg_attr(miri, ignore = "threads and a sleep")]
fn a_dropped_merged_receive_passes_its_wake_up_on() {
    let (tx, rx) = by_id::<u64>(2, 2, Policy::Block);
    let (_count, waker) = CountingWaker::new();
    let mut first = rx.recv_async();
    assert!(poll_once(&mut first, &waker).is_pending());
    let other = rx.clone();
    // A timeout beyond the watchdog's: a lost wake-up fails the test (the last look after
    // a timeout would otherwise find the value).
    let blocked = thread::spawn(move || other.recv_timeout(2 * GENEROUS));
    // Let the thread stand in line behind `first` (if it does not get there in time, it
    // finds the value by its own look: the test is then weaker, never wrong).
    thread::sleep(Duration::from_millis(20));
    tx.try_send(&1, 5).unwrap();
    drop(first);
    assert_eq!(within(move || blocked.join().unwrap()), Ok(5));
}

#[test]
#[cfg_attr(miri, ignore = "threads")]
fn rendezvous_shards_hand_over_through_the_merged_receiver() {
    within(rendezvous_scenario);
}

fn rendezvous_scenario() {
    let (tx, rx) = by_id::<u64>(3, 0, Policy::Block);
    let tx = Arc::new(tx);
    let senders: Vec<_> = (0..3u64)
        .map(|key| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..20 {
                    let _ = tx.send(&key, key * 100 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut got: Vec<u64> = rx.iter().collect();
    for s in senders {
        s.join().unwrap();
    }
    got.sort_unstable();
    let want: Vec<u64> = (0..3)
        .flat_map(|k| (0..20).map(move |i| k * 100 + i))
        .collect();
    assert_eq!(got, want);
}

// === Close and metrics ===

#[test]
fn close_and_metrics_cover_every_shard() {
    let (tx, rx) = shard::Builder::new(4, 20).build::<u32, u32>();
    for key in 0..20u32 {
        tx.try_send(&key, key).unwrap();
    }
    for _ in 0..5 {
        let _ = rx.try_recv().unwrap();
    }
    let m = tx.metrics();
    assert_eq!(m.per_shard.len(), 4);
    let sum = |f: fn(&pushpull::Metrics) -> u64| m.per_shard.iter().map(f).sum::<u64>();
    assert_eq!((m.total.sent, m.total.received), (20, 5));
    assert_eq!(m.total.sent, sum(|m| m.sent));
    assert_eq!(m.total.received, sum(|m| m.received));
    assert_eq!(m.total.len, 15);
    assert_eq!(m.total.capacity, 80);
    assert_eq!(
        m.total.high_water,
        m.per_shard.iter().map(|m| m.high_water).sum()
    );
    assert_eq!(m, rx.metrics());
    assert_eq!((tx.len(), rx.len()), (15, 15));
    assert!(format!("{m}").ends_with("(4 shards)"));

    assert!(tx.close());
    assert!(!tx.close() && !rx.close(), "already closed");
    assert!(tx.is_closed() && rx.is_closed());
    assert!(rx.receivers().iter().all(|r| r.is_closed()));
    // Every send fails with Closed and hands the value back, in every form.
    for key in 0..8u32 {
        assert_eq!(tx.send(&key, 1), Err(SendError::Closed(1)));
        assert_eq!(tx.try_send(&key, 2), Err(TrySendError::Closed(2)));
        assert_eq!(
            tx.send_timeout(&key, 3, Duration::from_secs(1)),
            Err(SendTimeoutError::Closed(3))
        );
        assert_eq!(
            futures::executor::block_on(tx.send_async(&key, 4)),
            Err(SendError::Closed(4))
        );
    }
    // The merged receiver drains, then reports Closed.
    let mut rest: Vec<u32> = rx.iter().collect();
    rest.sort_unstable();
    assert_eq!(rest.len(), 15);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    let m = rx.metrics();
    assert_eq!((m.total.sent, m.total.received, m.total.len), (20, 20, 0));
}

#[test]
fn abort_and_dropping_the_ends_cover_every_shard() {
    let (tx, rx) = shard::Builder::new(3, 12).build::<u32, u32>();
    for key in 0..12u32 {
        tx.try_send(&key, key).unwrap();
    }
    let tx2 = tx.clone();
    assert_eq!(rx.abort(), 12);
    assert_eq!(tx.metrics().total.discarded, 12);
    assert_eq!(tx2.try_send(&0, 0), Err(TrySendError::Closed(0)));

    // Dropping every sender closes every shard.
    let (tx, rx) = shard::Builder::new(3, 8).build::<u32, u32>();
    let tx2 = tx.clone();
    let _ = tx.send(&9, 9).unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "a clone still sends");
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.recv(), Ok(9));
    assert_eq!(rx.recv(), Err(RecvError));

    // Dropping the receiver (all its per-shard receivers) closes every shard too.
    let (tx, rx) = shard::Builder::new(3, 8).build::<u32, u32>();
    drop(rx.into_receivers());
    assert!(tx.is_closed());
    assert_eq!(tx.send(&1, 1), Err(SendError::Closed(1)));
}

// === examples/shard_latency.rs ===

/// The example's accounting on a small run of both layouts: every scheduled value processed
/// exactly once, counted by the queues and by the histograms; the sharded layout keeps
/// per-key order. (No latency is asserted.)
#[test]
#[cfg_attr(miri, ignore = "guide demonstration: threads and sleeps")]
fn the_latency_example_processes_every_value_once() {
    use example::{run, Group, Layout, Workload, GROUPS};
    let w = Workload {
        keys: 12,
        fast_rate: 2_000,
        burst: 5,
        burst_every: Duration::from_millis(50),
        duration: Duration::from_millis(200),
        slow_work: Duration::from_micros(200),
        fast_work: Duration::from_micros(1),
        workers: 3,
        capacity: 60,
    };
    let schedule = w.schedule();
    let slow = schedule
        .iter()
        .filter(|(_, k)| *k == example::SLOW_KEY)
        .count();
    assert_eq!(slow, 4 * 5, "bursts at 25, 75, 125 and 175 ms");
    assert_eq!(schedule.len(), 400 + slow);
    assert!(
        schedule.windows(2).all(|p| p[0].0 <= p[1].0),
        "in time order"
    );
    for layout in [Layout::Shared, Layout::Sharded] {
        let o = within({
            let w = w.clone();
            move || run(layout, &w)
        });
        let n = schedule.len() as u64;
        assert!(
            o.processed.iter().all(|&c| c == 1),
            "{layout:?}: {:?}",
            o.processed
        );
        assert_eq!((o.sent, o.received), (n, n), "{layout:?}");
        let recorded: u64 = GROUPS.iter().map(|&g| o.histogram(g).len()).sum();
        assert_eq!(recorded, n, "{layout:?}");
        assert_eq!(o.histogram(Group::Slow).len(), slow as u64);
        assert_eq!(o.producer_lag.len(), n);
        if layout == Layout::Sharded {
            assert_eq!(
                o.out_of_order, [0; 3],
                "one worker per shard keeps per-key order"
            );
        }
    }
    let table = example::table(&[run(Layout::Sharded, &w)]);
    assert_eq!(table.lines().count(), 1 + GROUPS.len());
}
