#![cfg(not(loom))]
//! Async sends and receives on three executors (tokio multi-thread, smol, futures' thread
//! pool): smoke, conservation over futures and over `Stream`/`Sink`, rendezvous, mixed
//! blocking/async parties, close wake-ups, `closed()`, and deadlines.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{poll_once, thread_sleep, CountingWaker, Exec, GENEROUS};
#[cfg(feature = "futures")]
use futures::{SinkExt, StreamExt};
use pushpull::{Builder, Policy, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sent};

const POLICIES: [Policy; 4] = [
    Policy::Block,
    Policy::DropNewest,
    Policy::DropOldest,
    Policy::Reject,
];

fn n(full: usize) -> usize {
    if cfg!(miri) {
        20
    } else {
        full
    }
}

#[test]
#[cfg_attr(miri, ignore)] // tokio and smol need system calls Miri does not model
fn smoke_every_executor_flavor_policy() {
    for ex in Exec::all() {
        for policy in POLICIES {
            ex.block_on(async {
                let (tx, rx) = Builder::new(2).policy(policy).mpmc::<u32>();
                assert_eq!(tx.send_async(1).await, Ok(Sent::Queued));
                assert_eq!(rx.recv_async().await, Ok(1));
                let (mut tx, mut rx) = Builder::new(2).policy(policy).spsc::<u32>();
                assert_eq!(tx.send_async(2).await, Ok(Sent::Queued));
                assert_eq!(rx.recv_async().await, Ok(2));
                drop(tx);
                assert_eq!(rx.recv_async().await, Err(RecvError));
            });
        }
        // Policies on a full queue, async.
        ex.block_on(async {
            let (tx, rx) = Builder::new(1).policy(Policy::DropOldest).mpmc::<u32>();
            let _ = tx.send_async(1).await.unwrap();
            assert_eq!(tx.send_async(2).await, Ok(Sent::Evicted(1)));
            let (tx2, _rx2) = Builder::new(1).policy(Policy::Reject).mpmc::<u32>();
            let _ = tx2.send_async(1).await.unwrap();
            assert_eq!(tx2.send_async(2).await, Err(SendError::Overloaded(2)));
            let (mut tx3, _rx3) = Builder::new(1).policy(Policy::DropNewest).spsc::<u32>();
            let _ = tx3.send_async(1).await.unwrap();
            assert_eq!(tx3.send_async(2).await, Ok(Sent::DroppedNewest));
            assert_eq!(tx3.metrics().dropped_newest, 1);
            assert_eq!(rx.recv_async().await, Ok(2));
        });
    }
}

/// 4 producer tasks x 4 consumer tasks over futures: every value received exactly once.
fn mpmc_4x4(ex: &Exec, capacity: usize, per_producer: usize, use_stream: bool) {
    let total = 4 * per_producer;
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
    ex.block_on(async {
        let (tx, rx) = pushpull::mpmc::<usize>(capacity);
        let mut tasks = Vec::new();
        for p in 0..4 {
            let mut tx = tx.clone();
            tasks.push(ex.spawn(async move {
                if use_stream && p % 2 == 0 {
                    // Half the producers go through `Sink`.
                    #[cfg(feature = "futures")]
                    for i in 0..per_producer {
                        SinkExt::send(&mut tx, p * per_producer + i).await.unwrap();
                    }
                } else {
                    for i in 0..per_producer {
                        let _ = tx.send_async(p * per_producer + i).await.unwrap();
                    }
                }
                0
            }));
        }
        drop(tx);
        for _ in 0..4 {
            let mut rx = rx.clone();
            let seen = seen.clone();
            tasks.push(ex.spawn(async move {
                let mut count = 0;
                let mut last = [None::<usize>; 4];
                loop {
                    #[cfg(feature = "futures")]
                    let next = if use_stream {
                        Some(rx.next().await)
                    } else {
                        None
                    };
                    #[cfg(not(feature = "futures"))]
                    let next: Option<Option<usize>> = None;
                    let v = if let Some(next) = next {
                        match next {
                            Some(v) => v,
                            None => break,
                        }
                    } else {
                        match rx.recv_async().await {
                            Ok(v) => v,
                            Err(RecvError) => break,
                        }
                    };
                    // FIFO per producer, as seen by one consumer.
                    let producer = v / per_producer;
                    assert!(last[producer] < Some(v), "per-producer order");
                    last[producer] = Some(v);
                    seen[v].fetch_add(1, Ordering::SeqCst);
                    count += 1;
                }
                count
            }));
        }
        drop(rx);
        let mut received = 0;
        for t in tasks {
            received += t.await;
        }
        assert_eq!(received, total);
    });
    for (v, c) in seen.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "value {v} on {}", ex.name());
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_4x4_conservation_over_futures() {
    for ex in Exec::all() {
        for capacity in [0, 1, 16] {
            mpmc_4x4(&ex, capacity, n(2_000), false);
        }
    }
}

#[test]
#[cfg(feature = "futures")]
#[cfg_attr(miri, ignore)]
fn mpmc_4x4_conservation_over_stream_and_sink() {
    for ex in Exec::all() {
        for capacity in [0, 1, 16] {
            mpmc_4x4(&ex, capacity, n(2_000), true);
        }
    }
}

#[test]
fn mpmc_4x4_conservation_on_futures_block_on() {
    // The futures executor alone (Miri runs this one).
    let ex = Exec::Futures(
        futures::executor::ThreadPool::builder()
            .pool_size(2)
            .create()
            .unwrap(),
    );
    mpmc_4x4(&ex, 2, n(500), false);
}

#[test]
#[cfg(feature = "futures")]
#[cfg_attr(miri, ignore)]
fn spsc_in_order_over_futures_stream_and_sink() {
    for ex in Exec::all() {
        for capacity in [1, 64] {
            let items = n(20_000);
            ex.block_on(async {
                let (mut tx, mut rx) = pushpull::spsc::<usize>(capacity);
                let producer = ex.spawn(async move {
                    for i in 0..items / 2 {
                        let _ = tx.send_async(i).await.unwrap();
                    }
                    for i in items / 2..items {
                        SinkExt::send(&mut tx, i).await.unwrap();
                    }
                });
                let consumer = ex.spawn(async move {
                    let mut expected = 0;
                    while expected < items / 2 {
                        assert_eq!(rx.recv_async().await, Ok(expected));
                        expected += 1;
                    }
                    while let Some(v) = rx.next().await {
                        assert_eq!(v, expected);
                        expected += 1;
                    }
                    expected
                });
                producer.await;
                assert_eq!(consumer.await, items);
            });
        }
    }
}

#[test]
fn rendezvous_send_completes_only_when_taken() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let (_w, waker) = CountingWaker::new();
    let mut send = tx.send_async(7);
    assert!(poll_once(&mut send, &waker).is_pending());
    assert!(poll_once(&mut send, &waker).is_pending(), "no receiver yet");
    assert_eq!(
        rx.try_recv(),
        Ok(7),
        "a receiver takes it from the waiting sender"
    );
    assert_eq!(
        poll_once(&mut send, &waker),
        std::task::Poll::Ready(Ok(Sent::Queued))
    );
    // try_send to a rendezvous with nobody waiting is Full.
    assert!(tx.try_send(1).is_err());
    // A receiver waiting (async) takes a try_send.
    let (_w2, waker2) = CountingWaker::new();
    let mut recv = rx.recv_async();
    assert!(poll_once(&mut recv, &waker2).is_pending());
    assert_eq!(tx.try_send(8), Ok(()));
    assert_eq!(poll_once(&mut recv, &waker2), std::task::Poll::Ready(Ok(8)));
}

#[test]
#[cfg_attr(miri, ignore)]
fn mixed_blocking_and_async_parties() {
    for ex in Exec::all() {
        for capacity in [0usize, 1, 8] {
            let items = n(2_000) as u64;
            // Blocking sender thread, async receiver task.
            let (tx, rx) = pushpull::mpmc::<u64>(capacity);
            let sender = std::thread::spawn(move || {
                for i in 0..items {
                    let _ = tx.send(i).unwrap();
                }
            });
            let sum = ex.block_on(async {
                let mut sum = 0;
                while let Ok(v) = rx.recv_async().await {
                    sum += v;
                }
                sum
            });
            sender.join().unwrap();
            assert_eq!(sum, items * (items - 1) / 2);
            // Async sender task, blocking receiver thread.
            let (tx, rx) = pushpull::mpmc::<u64>(capacity);
            let receiver = std::thread::spawn(move || rx.iter().sum::<u64>());
            ex.block_on(async {
                for i in 0..items {
                    let _ = tx.send_async(i).await.unwrap();
                }
            });
            drop(tx);
            assert_eq!(receiver.join().unwrap(), items * (items - 1) / 2);
            // The same, SPSC.
            if capacity > 0 {
                let (mut tx, mut rx) = pushpull::spsc::<u64>(capacity);
                let receiver = std::thread::spawn(move || {
                    let mut expected = 0;
                    while let Ok(v) = rx.recv() {
                        assert_eq!(v, expected);
                        expected += 1;
                    }
                    expected
                });
                ex.block_on(async {
                    for i in 0..items {
                        let _ = tx.send_async(i).await.unwrap();
                    }
                });
                drop(tx);
                assert_eq!(receiver.join().unwrap(), items);
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn close_wakes_async_senders_and_receivers() {
    for ex in Exec::all() {
        // Receivers waiting on an empty queue.
        ex.block_on(async {
            let (tx, rx) = pushpull::mpmc::<u32>(4);
            let waiting = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    let waiting = waiting.clone();
                    ex.spawn(async move {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        rx.recv_async().await
                    })
                })
                .collect();
            while waiting.load(Ordering::SeqCst) < 3 {
                thread_sleep(Duration::from_millis(1)).await;
            }
            let closer = tx.closer();
            closer.close();
            for t in tasks {
                assert_eq!(t.await, Err(RecvError));
            }
        });
        // Senders waiting on a full queue get their value back.
        ex.block_on(async {
            let (tx, rx) = pushpull::mpmc::<u32>(1);
            let _ = tx.send_async(0).await.unwrap();
            let tasks: Vec<_> = (1..4)
                .map(|i| {
                    let tx = tx.clone();
                    ex.spawn(async move { tx.send_async(i).await })
                })
                .collect();
            thread_sleep(Duration::from_millis(20)).await;
            assert_eq!(rx.abort(), 1);
            let mut back: Vec<u32> = Vec::new();
            for t in tasks {
                match t.await {
                    Err(SendError::Closed(v)) => back.push(v),
                    other => panic!("expected Closed, got {other:?}"),
                }
            }
            back.sort_unstable();
            assert_eq!(back, vec![1, 2, 3]);
        });
        // SPSC: a waiting consumer and a waiting producer.
        ex.block_on(async {
            let (tx, mut rx) = pushpull::spsc::<u32>(1);
            let closer = tx.closer();
            let consumer = ex.spawn(async move { rx.recv_async().await });
            thread_sleep(Duration::from_millis(10)).await;
            assert!(closer.close());
            assert_eq!(consumer.await, Err(RecvError));
            drop(tx);
            let (mut tx, rx) = pushpull::spsc::<u32>(1);
            tx.try_send(1).unwrap();
            let closer = rx.closer();
            let producer = ex.spawn(async move { tx.send_async(2).await });
            thread_sleep(Duration::from_millis(10)).await;
            closer.close();
            assert_eq!(producer.await, Err(SendError::Closed(2)));
            drop(rx);
        });
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn closed_futures_resolve() {
    for ex in Exec::all() {
        ex.block_on(async {
            let (tx, rx) = pushpull::mpmc::<u32>(1);
            let watcher = {
                let rx = rx.clone();
                ex.spawn(async move {
                    rx.closed().await;
                    rx.is_closed()
                })
            };
            thread_sleep(Duration::from_millis(5)).await;
            drop(tx); // last sender: closes
            assert!(watcher.await);
            rx.closed().await; // already closed: ready at once

            let (mut tx, rx) = pushpull::spsc::<u32>(1);
            let watcher = ex.spawn(async move {
                rx.closed().await;
                rx.is_closed()
            });
            thread_sleep(Duration::from_millis(5)).await;
            let _ = tx.send_async(1).await.unwrap();
            assert!(!tx.is_closed());
            drop(tx); // the producer goes: the queue closes, the watcher wakes
            assert!(watcher.await);
        });
    }
}

#[test]
fn async_deadlines_already_due_still_succeed_when_ready() {
    futures::executor::block_on(async {
        let (tx, rx) = pushpull::mpmc::<u32>(1);
        // Room: a due deadline does not stop a send that can complete.
        assert_eq!(
            tx.send_async_deadline(1, std::future::ready(())).await,
            Ok(Sent::Queued)
        );
        // Full: the due deadline gives the value back.
        assert_eq!(
            tx.send_async_deadline(2, std::future::ready(())).await,
            Err(SendTimeoutError::Timeout(2))
        );
        // A value is there: received despite the due deadline.
        assert_eq!(rx.recv_async_deadline(std::future::ready(())).await, Ok(1));
        assert_eq!(
            rx.recv_async_deadline(std::future::ready(())).await,
            Err(RecvTimeoutError::Timeout)
        );
        drop(tx);
        assert_eq!(
            rx.recv_async_deadline(std::future::ready(())).await,
            Err(RecvTimeoutError::Closed)
        );

        let (mut tx, mut rx) = pushpull::spsc::<u32>(1);
        assert!(tx
            .send_async_deadline(1, std::future::ready(()))
            .await
            .is_ok());
        assert_eq!(
            tx.send_async_deadline(2, std::future::ready(())).await,
            Err(SendTimeoutError::Timeout(2))
        );
        assert_eq!(rx.recv_async_deadline(std::future::ready(())).await, Ok(1));
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn async_deadlines_on_every_executor() {
    for ex in Exec::all() {
        ex.block_on(async {
            let (tx, rx) = pushpull::mpmc::<u32>(1);
            // Nothing comes: times out.
            assert_eq!(
                rx.recv_async_deadline(ex.sleep(Duration::from_millis(20)))
                    .await,
                Err(RecvTimeoutError::Timeout)
            );
            // A value comes before a generous deadline.
            let sender = {
                let tx = tx.clone();
                ex.spawn(async move {
                    thread_sleep(Duration::from_millis(5)).await;
                    let _ = tx.send_async(3).await.unwrap();
                })
            };
            assert_eq!(rx.recv_async_deadline(ex.sleep(GENEROUS)).await, Ok(3));
            sender.await;
            // A full queue times out and gives the value back.
            let _ = tx.send_async(4).await.unwrap();
            assert_eq!(
                tx.send_async_deadline(5, ex.sleep(Duration::from_millis(20)))
                    .await,
                Err(SendTimeoutError::Timeout(5))
            );
            assert_eq!(rx.try_recv(), Ok(4));
            // Rendezvous: times out without a receiver, value back.
            let (tx0, _rx0) = pushpull::mpmc::<u32>(0);
            assert_eq!(
                tx0.send_async_deadline(6, ex.sleep(Duration::from_millis(20)))
                    .await,
                Err(SendTimeoutError::Timeout(6))
            );
        });
    }
}

#[test]
fn blocking_deadlines_already_passed_and_duration_max() {
    let past = Instant::now() - Duration::from_millis(1);
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    assert_eq!(tx.send_deadline(1, past), Ok(Sent::Queued));
    assert_eq!(tx.send_deadline(2, past), Err(SendTimeoutError::Timeout(2)));
    assert_eq!(rx.recv_deadline(past), Ok(1));
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    assert_eq!(tx.send_timeout(3, Duration::MAX), Ok(Sent::Queued));
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(3));
    assert_eq!(tx.send_timeout(4, Duration::ZERO), Ok(Sent::Queued));
    assert_eq!(
        tx.send_timeout(5, Duration::ZERO),
        Err(SendTimeoutError::Timeout(5))
    );

    let (mut tx, mut rx) = pushpull::spsc::<u32>(1);
    assert_eq!(tx.send_deadline(1, past), Ok(Sent::Queued));
    assert_eq!(tx.send_deadline(2, past), Err(SendTimeoutError::Timeout(2)));
    assert_eq!(rx.recv_deadline(past), Ok(1));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(tx.send_timeout(3, Duration::MAX), Ok(Sent::Queued));
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(3));

    // Rendezvous with a passed deadline and nobody there.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    assert_eq!(tx.send_deadline(1, past), Err(SendTimeoutError::Timeout(1)));
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
}

#[test]
#[cfg_attr(miri, ignore)]
fn rendezvous_blocking_timeouts_with_a_party_present() {
    // A receiver blocked with a generous timeout gets a value sent with a passed deadline.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let receiver = std::thread::spawn(move || rx.recv_timeout(GENEROUS));
    let past = Instant::now() - Duration::from_millis(1);
    let mut sent = false;
    let until = Instant::now() + GENEROUS;
    while !sent && Instant::now() < until {
        match tx.send_deadline(9, past) {
            Ok(_) => sent = true,
            Err(SendTimeoutError::Timeout(_)) => std::thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(sent);
    assert_eq!(receiver.join().unwrap(), Ok(9));
}
