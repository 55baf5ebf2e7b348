#![cfg(not(loom))]
//! SPSC across two threads: every value, in order, under each policy; blocking and
//! non-blocking loops; and exact accounting of what drop-oldest and drop-newest took away.

mod harness;

use std::thread;

use harness::{scaled, spin_until};
use pushpull::{Builder, Policy, SendError, Sent, TryRecvError, TrySendError};

const N: usize = scaled(100_000, 50);

#[test]
fn block_send_recv_in_order() {
    for cap in [1, 3, 16] {
        let n = if cap == 1 { N / 4 } else { N };
        let (mut tx, mut rx) = pushpull::spsc::<usize>(cap);
        let consumer = thread::spawn(move || {
            for i in 0..n {
                assert_eq!(rx.recv(), Ok(i), "cap {cap}");
            }
            assert!(rx.recv().is_err());
            rx.metrics()
        });
        for i in 0..n {
            assert_eq!(tx.send(i), Ok(Sent::Queued));
        }
        drop(tx);
        let m = consumer.join().unwrap();
        assert_eq!((m.sent, m.received, m.len), (n as u64, n as u64, 0));
        // How full it got depends on scheduling; never beyond capacity, and never 0.
        assert!((1..=cap).contains(&m.high_water), "{m}");
    }
}

#[test]
fn try_send_try_recv_spinning_in_order() {
    for cap in [1, 2, 7] {
        let n = if cap == 1 { N / 4 } else { N };
        let (mut tx, mut rx) = pushpull::spsc::<usize>(cap);
        let consumer = thread::spawn(move || {
            let mut next = 0;
            while next < n {
                match rx.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, next, "cap {cap}");
                        next += 1;
                    }
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Closed) => panic!("closed early"),
                }
            }
            // The producer closes after its last send; nothing more arrives.
            spin_until("close", || match rx.try_recv() {
                Err(TryRecvError::Closed) => Some(()),
                Err(TryRecvError::Empty) => None,
                Ok(v) => panic!("extra value {v}"),
            });
        });
        for i in 0..n {
            let mut v = i;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        assert_eq!(back, i);
                        v = back;
                        thread::yield_now();
                    }
                    Err(TrySendError::Closed(_)) => panic!("closed"),
                }
            }
        }
        drop(tx);
        consumer.join().unwrap();
    }
}

#[test]
fn reject_retrying_loses_nothing() {
    let (mut tx, mut rx) = Builder::new(4).policy(Policy::Reject).spsc::<usize>();
    let consumer = thread::spawn(move || {
        for i in 0..N {
            assert_eq!(rx.recv(), Ok(i));
        }
        rx
    });
    let mut rejected = 0;
    for i in 0..N {
        let mut v = i;
        loop {
            match tx.send(v) {
                Ok(sent) => {
                    assert_eq!(sent, Sent::Queued);
                    break;
                }
                Err(SendError::Overloaded(back)) => {
                    assert_eq!(back, i);
                    v = back;
                    rejected += 1;
                    thread::yield_now();
                }
                Err(SendError::Closed(_)) => panic!("closed"),
            }
        }
    }
    let rx = consumer.join().unwrap();
    let m = rx.metrics();
    assert_eq!(m.rejected, rejected);
    assert_eq!((m.sent, m.received, m.len), (N as u64, N as u64, 0));
    assert_eq!(m.dropped_newest + m.evicted_oldest + m.discarded, 0);
}

/// Runs a drop-oldest or drop-newest producer against a concurrent consumer and returns
/// (received, handed back / dropped by the producer, metrics at the end).
fn lossy_run(policy: Policy, cap: usize) -> (Vec<usize>, Vec<usize>, pushpull::Metrics) {
    let (mut tx, mut rx) = Builder::new(cap).policy(policy).spsc::<usize>();
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        (got, rx)
    });
    let mut lost = Vec::new();
    for i in 0..N {
        match tx.send(i) {
            Ok(Sent::Queued) => {}
            Ok(Sent::Evicted(old)) => {
                assert_eq!(policy, Policy::DropOldest);
                assert!(old < i, "evicted {old} while sending {i}");
                lost.push(old);
            }
            Ok(Sent::DroppedNewest) => {
                assert_eq!(policy, Policy::DropNewest);
                lost.push(i);
            }
            Err(e) => panic!("send {i}: {e}"),
        }
        if i % 64 == 0 {
            // Let the consumer run sometimes, so that sends both overflow and don't.
            thread::yield_now();
        }
    }
    drop(tx);
    let (got, rx) = consumer.join().unwrap();
    (got, lost, rx.metrics())
}

/// Checks a lossy run: the consumer saw a strictly increasing subsequence; what it saw and
/// what was lost partition `0..N` exactly.
fn check_partition(got: &[usize], lost: &[usize]) {
    assert!(got.windows(2).all(|w| w[0] < w[1]), "received out of order");
    assert!(lost.windows(2).all(|w| w[0] < w[1]), "lost out of order");
    let mut all: Vec<usize> = got.iter().chain(lost).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all.len(),
        N,
        "received {} + lost {} != {N}",
        got.len(),
        lost.len()
    );
    assert!(
        all.iter().enumerate().all(|(i, &v)| i == v),
        "not every value exactly once"
    );
}

#[test]
fn drop_oldest_conserves_and_orders() {
    for cap in [1, 2, 5] {
        let (got, evicted, m) = lossy_run(Policy::DropOldest, cap);
        check_partition(&got, &evicted);
        assert_eq!(m.sent, N as u64, "every drop-oldest send enters the queue");
        assert_eq!(m.evicted_oldest, evicted.len() as u64);
        assert_eq!(m.received, got.len() as u64);
        assert_eq!(
            (m.dropped_newest, m.rejected, m.discarded, m.len),
            (0, 0, 0, 0)
        );
        harness::assert_identity(&m);
        // The last value is never evicted: nothing was sent after it.
        assert_eq!(got.last(), Some(&(N - 1)));
    }
}

#[test]
fn drop_newest_conserves_and_orders() {
    for cap in [1, 2, 5] {
        let (got, dropped, m) = lossy_run(Policy::DropNewest, cap);
        check_partition(&got, &dropped);
        assert_eq!(m.dropped_newest, dropped.len() as u64);
        assert_eq!(m.sent, (N - dropped.len()) as u64);
        assert_eq!(m.received, got.len() as u64);
        assert_eq!(
            (m.evicted_oldest, m.rejected, m.discarded, m.len),
            (0, 0, 0, 0)
        );
        harness::assert_identity(&m);
        // The first value always gets in: the queue starts empty.
        assert_eq!(got.first(), Some(&0));
    }
}

#[test]
fn drop_oldest_with_a_slow_start_consumer() {
    // The consumer starts late: many evictions happen with the consumer's cursor far
    // behind `head`, then it catches up across several laps.
    let cap = 3;
    let (mut tx, mut rx) = Builder::new(cap).policy(Policy::DropOldest).spsc::<usize>();
    let n = scaled(10_000, 40);
    let mut evicted = Vec::new();
    for i in 0..n / 2 {
        if let Some(old) = tx.send(i).unwrap().evicted() {
            evicted.push(old);
        }
    }
    assert_eq!(evicted.len(), n / 2 - cap);
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        got
    });
    for i in n / 2..n {
        if let Some(old) = tx.send(i).unwrap().evicted() {
            evicted.push(old);
        }
    }
    drop(tx);
    let got = consumer.join().unwrap();
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<usize> = got.iter().chain(&evicted).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    // Everything older than the newest `cap` of the first half was gone before the
    // consumer started.
    assert!(
        got[0] >= n / 2 - cap,
        "received {} after it was evicted",
        got[0]
    );
}
