#![cfg(not(loom))]
//! Receiving in batches: `try_recv_batch`, `recv_many` (blocking and async) and linger
//! (`recv_batch_timeout`, `recv_batch_deadline`, `recv_batch_async`), on both flavors.
//! Waits use generous deadlines so that a lost wake-up fails the test instead of hanging it;
//! no verdict depends on timing, except that a linger whose deadline is due ends.

mod harness;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use harness::{scaled, GENEROUS, POLICIES};
use pushpull::{Policy, RecvError, RecvTimeoutError, SendError, Sent, TryRecvError};

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    Pin::new(f).poll(&mut Context::from_waker(&waker))
}

/// Runs `f` on a thread and fails if it has not finished within `GENEROUS`.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(GENEROUS)
        .unwrap_or_else(|_| panic!("{what}: did not end"))
}

#[test]
fn try_recv_batch_takes_what_is_ready() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    let mut buf = vec![100];
    assert_eq!(rx.try_recv_batch(&mut buf, 4), Err(TryRecvError::Empty));
    assert_eq!(rx.try_recv_batch(&mut buf, 0), Ok(0));
    for i in 0..6 {
        let _ = tx.send(i).unwrap();
    }
    assert_eq!(rx.try_recv_batch(&mut buf, 4), Ok(4));
    assert_eq!(rx.try_recv_batch(&mut buf, 4), Ok(2));
    assert_eq!(buf, [100, 0, 1, 2, 3, 4, 5], "appended, in order");
    drop(tx);
    assert_eq!(rx.try_recv_batch(&mut buf, 4), Err(TryRecvError::Closed));

    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv_batch(&mut buf, 4), Err(TryRecvError::Empty));
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert_eq!(rx.try_recv_batch(&mut buf, 8), Ok(3));
    assert_eq!(rx.try_recv_batch(&mut buf, 8), Err(TryRecvError::Closed));
    assert_eq!(buf, [0, 1, 2]);
}

#[test]
fn recv_many_waits_for_one_then_takes_what_is_ready() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    let producer = thread::spawn(move || {
        for i in 0..20 {
            let _ = tx.send(i).unwrap();
        }
    });
    let mut buf = Vec::new();
    while let Ok(n) = rx.recv_many(&mut buf, 5) {
        assert!((1..=5).contains(&n));
    }
    assert_eq!(rx.recv_many(&mut buf, 5), Err(RecvError));
    producer.join().unwrap();
    assert_eq!(buf, (0..20).collect::<Vec<_>>());
    assert_eq!(rx.recv_many(&mut buf, 0), Ok(0));

    let (mut tx, mut rx) = pushpull::spsc::<u32>(4);
    let producer = thread::spawn(move || {
        for i in 0..20 {
            let _ = tx.send(i).unwrap();
        }
    });
    let mut buf = Vec::new();
    while rx.recv_many(&mut buf, 3).is_ok() {}
    producer.join().unwrap();
    assert_eq!(buf, (0..20).collect::<Vec<_>>());
}

#[test]
fn linger_returns_at_max_without_waiting_for_the_deadline() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    for i in 0..4 {
        let _ = tx.send(i).unwrap();
    }
    let (buf, n) = within("linger with the batch full", move || {
        let mut buf = Vec::new();
        let n = rx.recv_batch_timeout(&mut buf, 4, Duration::from_secs(3600));
        drop(tx);
        (buf, n)
    });
    assert_eq!((buf, n), (vec![0, 1, 2, 3], Ok(4)));
}

#[test]
fn linger_waits_for_more_until_max() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(2);
    let producer = thread::spawn(move || {
        for i in 0..5 {
            let _ = tx.send(i).unwrap();
            thread::yield_now();
        }
        tx
    });
    let mut buf = Vec::new();
    let n = rx.recv_batch_deadline(&mut buf, 5, Instant::now() + GENEROUS);
    assert_eq!(n, Ok(5), "values sent one by one are gathered up to max");
    assert_eq!(buf, [0, 1, 2, 3, 4]);
    drop(producer.join().unwrap());
}

#[test]
fn linger_returns_what_arrived_at_the_deadline_and_times_out_on_none() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    let _ = tx.send(1).unwrap();
    let _ = tx.send(2).unwrap();
    let mut buf = Vec::new();
    let started = Instant::now();
    assert_eq!(
        rx.recv_batch_timeout(&mut buf, 10, Duration::from_millis(20)),
        Ok(2)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "it lingered"
    );
    assert_eq!(buf, [1, 2]);
    assert_eq!(
        rx.recv_batch_timeout(&mut buf, 10, Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    // A deadline already past still takes what is ready.
    let _ = tx.send(3).unwrap();
    assert_eq!(
        rx.recv_batch_deadline(&mut buf, 10, Instant::now() - Duration::from_millis(1)),
        Ok(1)
    );
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn linger_cut_short_by_a_close_returns_the_batch_then_closed() {
    for (flavor, cap) in [("mpmc", 8), ("spsc", 8)] {
        let (out, next) = if flavor == "mpmc" {
            let (tx, rx) = pushpull::mpmc::<u32>(cap);
            for i in 0..3 {
                let _ = tx.send(i).unwrap();
            }
            tx.close();
            within("linger on a closed queue", move || {
                let mut buf = Vec::new();
                let n = rx.recv_batch_timeout(&mut buf, 10, Duration::from_secs(3600));
                let next = rx.recv_batch_timeout(&mut buf, 10, Duration::from_secs(3600));
                ((buf, n), next)
            })
        } else {
            let (mut tx, mut rx) = pushpull::spsc::<u32>(cap);
            for i in 0..3 {
                let _ = tx.send(i).unwrap();
            }
            drop(tx);
            within("linger on a closed queue", move || {
                let mut buf = Vec::new();
                let n = rx.recv_batch_timeout(&mut buf, 10, Duration::from_secs(3600));
                let next = rx.recv_batch_timeout(&mut buf, 10, Duration::from_secs(3600));
                ((buf, n), next)
            })
        };
        assert_eq!(out, (vec![0, 1, 2], Ok(3)), "{flavor}");
        assert_eq!(next, Err(RecvTimeoutError::Closed), "{flavor}");
    }
}

#[test]
fn async_batches() {
    futures::executor::block_on(async {
        let (tx, rx) = pushpull::mpmc::<u32>(8);
        for i in 0..3 {
            let _ = tx.send(i).unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many_async(&mut buf, 2).await, Ok(2));
        assert_eq!(rx.recv_many_async(&mut buf, 2).await, Ok(1));
        // Linger with a deadline that is due at once: what is ready, or Timeout.
        assert_eq!(
            rx.recv_batch_async(&mut buf, 4, std::future::ready(()))
                .await,
            Err(RecvTimeoutError::Timeout)
        );
        let _ = tx.send(3).unwrap();
        assert_eq!(
            rx.recv_batch_async(&mut buf, 4, std::future::ready(()))
                .await,
            Ok(1)
        );
        drop(tx);
        assert_eq!(
            rx.recv_many_async(&mut buf, 2).await,
            Err(RecvTimeoutError::Closed)
        );
        assert_eq!(buf, [0, 1, 2, 3]);
    });
    // SPSC, with the values arriving while the future waits.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(2);
    let producer = thread::spawn(move || {
        for i in 0..6 {
            let _ = tx.send(i).unwrap();
        }
    });
    let mut buf = Vec::new();
    futures::executor::block_on(async {
        let never = std::future::pending::<()>();
        // `pending()` is Unpin: linger until max.
        assert_eq!(rx.recv_batch_async(&mut buf, 6, never).await, Ok(6));
    });
    producer.join().unwrap();
    assert_eq!(buf, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_batch_future_dropped_midway_keeps_what_it_took() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    let _ = tx.send(0).unwrap();
    let _ = tx.send(1).unwrap();
    let mut buf = Vec::new();
    {
        let mut f = rx.recv_batch_async(&mut buf, 5, std::future::pending::<()>());
        assert!(poll(&mut f).is_pending(), "two of five: it lingers");
    }
    assert_eq!(buf, [0, 1]);
    let _ = tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2), "nothing else was taken");
}

/// Every policy, four senders and two receivers taking batches (`recv_many` and linger):
/// every value that entered the queue is received exactly once, except those a send evicted
/// (handed back to it); values dropped or rejected at the door never are.
#[test]
fn batches_receive_each_value_exactly_once_under_concurrency() {
    let per = scaled(2_000, 20);
    for policy in POLICIES {
        let (tx, rx) = pushpull::Builder::new(4).policy(policy).mpmc::<usize>();
        let entered = Arc::new(Mutex::new(HashSet::new()));
        let evicted = Arc::new(Mutex::new(Vec::new()));
        let senders: Vec<_> = (0..4)
            .map(|p| {
                let (tx, entered, evicted) = (tx.clone(), entered.clone(), evicted.clone());
                thread::spawn(move || {
                    for i in 0..per {
                        let id = p * per + i;
                        match tx.send(id) {
                            Ok(Sent::Queued) => {
                                entered.lock().unwrap().insert(id);
                            }
                            Ok(Sent::Evicted(old)) => {
                                entered.lock().unwrap().insert(id);
                                evicted.lock().unwrap().push(old);
                            }
                            Ok(Sent::DroppedNewest) | Err(SendError::Overloaded(_)) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let got = Arc::new(Mutex::new(Vec::new()));
        let batches = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<_> = (0..2)
            .map(|r| {
                let (rx, got, batches) = (rx.clone(), got.clone(), batches.clone());
                thread::spawn(move || {
                    let mut buf = Vec::new();
                    loop {
                        let n = if r == 0 {
                            rx.recv_many(&mut buf, 8).map_err(|_| ())
                        } else {
                            rx.recv_batch_timeout(&mut buf, 8, Duration::from_millis(1))
                                .or_else(|e| match e {
                                    RecvTimeoutError::Timeout => Ok(0),
                                    RecvTimeoutError::Closed => Err(()),
                                })
                        };
                        match n {
                            Ok(0) => {}
                            Ok(_) => {
                                batches.fetch_add(1, SeqCst);
                            }
                            Err(()) => break,
                        }
                    }
                    got.lock().unwrap().extend(buf);
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        for r in receivers {
            r.join().unwrap();
        }
        let got = std::mem::take(&mut *got.lock().unwrap());
        let unique: HashSet<usize> = got.iter().copied().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{policy:?}: a value received twice"
        );
        let mut expect = entered.lock().unwrap().clone();
        for old in evicted.lock().unwrap().iter() {
            assert!(
                expect.remove(old),
                "{policy:?}: evicted {old} never entered"
            );
        }
        assert_eq!(unique, expect, "{policy:?}");
        if policy == Policy::Block {
            assert_eq!(got.len(), 4 * per);
        }
        assert!(batches.load(SeqCst) > 0);
    }
}

// === batch send ===

/// `try_send_batch` on a queue of 3 with five values, under each policy and on both
/// flavors: what was sent, dropped, evicted, and what stays in the caller's `Vec`.
#[test]
fn try_send_batch_applies_the_policy_to_what_does_not_fit() {
    use pushpull::{BatchStop, Builder};
    for spsc in [false, true] {
        for policy in POLICIES {
            let ctx = format!("spsc {spsc} {policy:?}");
            let builder = Builder::new(3).policy(policy);
            let mut values = vec![1, 2, 3, 4, 5];
            let (done, queued, m) = if spsc {
                let (mut tx, mut rx) = builder.spsc::<u32>();
                let done = tx.try_send_batch(&mut values);
                let queued: Vec<u32> = rx.try_iter().collect();
                (done, queued, tx.metrics())
            } else {
                let (tx, rx) = builder.mpmc::<u32>();
                let done = tx.try_send_batch(&mut values);
                let queued: Vec<u32> = rx.try_iter().collect();
                (done, queued, tx.metrics())
            };
            match policy {
                Policy::Block => {
                    assert_eq!(
                        (done.sent, done.stopped),
                        (3, Some(BatchStop::Full)),
                        "{ctx}"
                    );
                    assert_eq!(values, [4, 5], "{ctx}");
                    assert_eq!(queued, [1, 2, 3], "{ctx}");
                }
                Policy::DropNewest => {
                    assert_eq!(
                        (done.sent, done.dropped, done.stopped),
                        (3, 2, None),
                        "{ctx}"
                    );
                    assert!(values.is_empty(), "{ctx}");
                    assert_eq!(queued, [1, 2, 3], "{ctx}");
                    assert_eq!(m.dropped_newest, 2, "{ctx}");
                }
                Policy::DropOldest => {
                    assert_eq!((done.sent, done.stopped), (5, None), "{ctx}");
                    assert_eq!(done.evicted, [1, 2], "{ctx}");
                    assert!(values.is_empty(), "{ctx}");
                    assert_eq!(queued, [3, 4, 5], "{ctx}");
                    assert_eq!(m.evicted_oldest, 2, "{ctx}");
                }
                Policy::Reject => {
                    assert_eq!(
                        (done.sent, done.stopped),
                        (3, Some(BatchStop::Overloaded)),
                        "{ctx}"
                    );
                    assert_eq!(values, [4, 5], "{ctx}");
                    assert_eq!(queued, [1, 2, 3], "{ctx}");
                    assert_eq!(m.rejected, 1, "{ctx}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // Closed: nothing sent, everything stays.
    let (tx, rx) = pushpull::mpmc::<u32>(3);
    rx.close();
    let mut values = vec![1, 2];
    let done = tx.try_send_batch(&mut values);
    assert_eq!((done.sent, done.stopped), (0, Some(BatchStop::Closed)));
    assert_eq!(values, [1, 2]);
    assert!(format!("{done:?}").contains("Closed"));
}

/// `send_batch` waits for room under `Block`: every value goes, in order; a close midway
/// stops it, and the values left are exactly those not sent.
#[test]
fn send_batch_waits_for_room_and_stops_at_a_close() {
    let n = scaled(2_000, 50);
    let (mut tx, mut rx) = pushpull::spsc::<usize>(4);
    let consumer = thread::spawn(move || rx.iter().collect::<Vec<_>>());
    let mut values: Vec<usize> = (0..n).collect();
    let done = tx.send_batch(&mut values);
    assert_eq!((done.sent, done.stopped), (n, None));
    assert!(values.is_empty());
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (0..n).collect::<Vec<_>>());

    let (tx, rx) = pushpull::mpmc::<usize>(4);
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < 10 {
            got.push(rx.recv().unwrap());
        }
        rx.close();
        got.extend(rx.try_iter());
        got
    });
    let mut values: Vec<usize> = (0..n).collect();
    let done = tx.send_batch(&mut values);
    let got = consumer.join().unwrap();
    assert_eq!(done.stopped, Some(pushpull::BatchStop::Closed));
    assert_eq!(done.sent + values.len(), n, "each value sent or left");
    assert_eq!(
        got,
        (0..done.sent).collect::<Vec<_>>(),
        "what was sent was received"
    );
    assert_eq!(values, (done.sent..n).collect::<Vec<_>>());
}

/// A value whose destructor panics, dropped by `DropNewest` inside a batch: the panic
/// unwinds through the batch; the values sent stay queued, and every value is dropped
/// exactly once in the end.
#[test]
fn a_panicking_drop_inside_a_batch_loses_and_duplicates_nothing() {
    let log = harness::DropLog::with_bomb(6, Some(3));
    let (tx, rx) = pushpull::Builder::new(2)
        .policy(Policy::DropNewest)
        .mpmc::<harness::Tracked>();
    let mut values: Vec<_> = (0..6).map(|i| log.item(i)).collect();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = tx.try_send_batch(&mut values);
    }));
    assert!(unwound.is_err(), "value 3's destructor panicked");
    let queued: Vec<usize> = rx.try_iter().map(|t| t.id).collect();
    assert_eq!(queued, [0, 1]);
    drop(values);
    log.assert_all_once();
}

/// `metrics()` counts batches that moved values: sends that sent at least one, receives
/// that took at least one (each value is also counted one by one, as always).
#[test]
fn batches_are_counted() {
    let (tx, rx) = pushpull::mpmc::<u32>(4);
    let mut values = vec![1, 2, 3];
    let _ = tx.try_send_batch(&mut values);
    let _ = tx.try_send_batch(&mut Vec::new()); // nothing sent: not counted
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv_batch(&mut buf, 2), Ok(2));
    assert_eq!(rx.recv_many(&mut buf, 8), Ok(1));
    assert_eq!(rx.try_recv_batch(&mut buf, 2), Err(TryRecvError::Empty)); // not counted
    let m = rx.metrics();
    assert_eq!((m.batches_sent, m.batches_received), (1, 2));
    assert_eq!((m.sent, m.received), (3, 3));
    // Counts survive the sending handle.
    let tx2 = tx.clone();
    let _ = tx2.try_send_batch(&mut vec![4]);
    drop(tx2);
    assert_eq!(tx.metrics().batches_sent, 2);

    let (mut tx, mut rx) = pushpull::spsc::<u32>(4);
    let _ = tx.try_send_batch(&mut vec![1, 2]);
    futures::executor::block_on(async {
        assert_eq!(rx.recv_many_async(&mut buf, 4).await, Ok(2));
    });
    let m = rx.metrics();
    assert_eq!((m.batches_sent, m.batches_received), (1, 1));
}

/// A batch send takes values in place: the caller's `Vec` keeps its buffer (refilling it
/// allocates nothing), whether everything went or some values stayed.
#[test]
fn a_batch_send_keeps_the_callers_buffer() {
    let (tx, rx) = pushpull::mpmc::<u32>(4);
    let mut values: Vec<u32> = Vec::with_capacity(16);
    values.extend(0..3);
    let (ptr, cap) = (values.as_ptr(), values.capacity());
    let done = tx.try_send_batch(&mut values);
    assert_eq!((done.sent, values.len()), (3, 0));
    assert_eq!((values.as_ptr(), values.capacity()), (ptr, cap));
    values.extend(10..14);
    let done = tx.try_send_batch(&mut values);
    assert_eq!(done.sent, 1);
    assert_eq!(values, [11, 12, 13], "the rest, moved to the front");
    assert_eq!((values.as_ptr(), values.capacity()), (ptr, cap));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2, 10]);
}

/// A batch from an iterator: values are pulled one at a time, the one that stops the batch
/// comes back in `unsent`, and the rest stay in the caller's iterator; under every policy,
/// as from a `Vec`.
#[test]
fn try_send_iter_hands_back_the_value_that_stopped_it() {
    use pushpull::BatchStop;
    // Block: full.
    let (tx, rx) = pushpull::mpmc::<u32>(3);
    let mut values = 1..=6;
    let done = tx.try_send_iter(&mut values);
    assert_eq!(
        (done.sent, done.stopped, done.unsent),
        (3, Some(BatchStop::Full), Some(4))
    );
    assert_eq!(values.collect::<Vec<_>>(), [5, 6]);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
    // Reject: the rejected value comes back, counted.
    let (mut tx, mut rx) = pushpull::Builder::new(2)
        .policy(Policy::Reject)
        .spsc::<u32>();
    let done = tx.try_send_iter(vec![1, 2, 3, 4]);
    assert_eq!(
        (done.sent, done.stopped, done.unsent),
        (2, Some(BatchStop::Overloaded), Some(3))
    );
    assert_eq!(rx.metrics().rejected, 1);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    // DropOldest: everything goes, the evicted come back.
    let (tx, rx) = pushpull::Builder::new(2)
        .policy(Policy::DropOldest)
        .mpmc::<u32>();
    let done = tx.try_send_iter(1..=5);
    assert_eq!((done.sent, done.stopped, done.unsent), (5, None, None));
    assert_eq!(done.evicted, [1, 2, 3]);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 5]);
    // Closed: the first value comes back.
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    rx.close();
    let done = tx.try_send_iter(7..9);
    assert_eq!(
        (done.sent, done.stopped, done.unsent),
        (0, Some(BatchStop::Closed), Some(7))
    );
    // A credit gate stops it like a full queue.
    let (tx, rx) = pushpull::Builder::new(8).credits(2).mpmc::<u32>();
    let done = tx.try_send_iter(0..5);
    assert_eq!(
        (done.sent, done.stopped, done.unsent),
        (2, Some(BatchStop::Full), Some(2))
    );
    assert_eq!(rx.metrics().batches_sent, 1);
}

/// `send_iter` waits for room; a panic inside the caller's iterator unwinds through it
/// with every value pulled so far queued, none lost or duplicated.
#[test]
fn send_iter_waits_and_survives_a_panicking_iterator() {
    let n = scaled(2_000, 50);
    let (mut tx, mut rx) = pushpull::spsc::<usize>(4);
    let consumer = thread::spawn(move || rx.iter().collect::<Vec<_>>());
    let done = tx.send_iter(0..n);
    assert_eq!((done.sent, done.stopped, done.unsent), (n, None, None));
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (0..n).collect::<Vec<_>>());

    let log = harness::DropLog::new(8);
    let (tx, rx) = pushpull::mpmc::<harness::Tracked>(8);
    let mut next = 0;
    let values = std::iter::from_fn(|| {
        if next == 5 {
            panic!("the caller's iterator fails");
        }
        next += 1;
        Some(log.item(next - 1))
    });
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = tx.send_iter(values);
    }));
    assert!(unwound.is_err());
    let queued: Vec<usize> = rx.try_iter().map(|t| t.id).collect();
    assert_eq!(queued, [0, 1, 2, 3, 4]);
    for id in 5..8 {
        drop(log.item(id));
    }
    log.assert_all_once();
}
