#![cfg(not(loom))]
//! Closing (drain) and aborting (discard) from every side, wake-ups of blocked parties, and
//! the drops of the last sender or receiver. Blocking calls use generous deadlines so that a
//! lost wake-up fails the test instead of hanging it; no verdict depends on timing.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use harness::{
    build, let_it_block, scaled, spin_until, DropLog, Flavor, FLAVORS, GENEROUS, POLICIES,
};
use pushpull::{
    Builder, Closer, Policy, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sent,
    TryRecvError, TrySendError,
};

/// Who closes.
#[derive(Debug, Clone, Copy)]
enum Side {
    Sender,
    Receiver,
    Closer,
}

const SIDES: [Side; 3] = [Side::Sender, Side::Receiver, Side::Closer];

#[test]
fn close_from_each_side_then_drain() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            for side in SIDES {
                let ctx = format!("{flavor:?} {policy:?} closed by {side:?}");
                let (mut tx, mut rx) = build::<String>(flavor, 4, policy);
                let closer = tx.closer();
                for s in ["a", "b", "c"] {
                    let _ = tx.send(s.to_string()).unwrap();
                }
                assert!(!tx.is_closed() && !rx.is_closed() && !closer.is_closed());
                let closed = match side {
                    Side::Sender => tx.close(),
                    Side::Receiver => rx.close(),
                    Side::Closer => closer.close(),
                };
                assert!(closed, "{ctx}: the first close returns true");
                assert!(
                    tx.is_closed() && rx.is_closed() && closer.is_closed(),
                    "{ctx}"
                );
                // Every later close, from anywhere, returns false.
                assert!(!tx.close() && !rx.close() && !closer.close(), "{ctx}");
                assert!(!closer.clone().close(), "{ctx}");

                // Sends fail at once with the same value, whatever the policy.
                let v = "late".to_string();
                assert_eq!(tx.try_send(v.clone()), Err(TrySendError::Closed(v.clone())));
                assert_eq!(
                    tx.send(v.clone()),
                    Err(SendError::Closed(v.clone())),
                    "{ctx}"
                );
                assert_eq!(
                    tx.send_timeout(v.clone(), GENEROUS),
                    Err(SendTimeoutError::Closed(v.clone())),
                    "{ctx}"
                );

                // Receivers drain, then see Closed (in every form).
                assert_eq!(rx.len(), 3, "{ctx}");
                assert_eq!(rx.try_recv().as_deref(), Ok("a"), "{ctx}");
                assert_eq!(rx.recv().as_deref(), Ok("b"), "{ctx}");
                assert_eq!(rx.recv_timeout(GENEROUS).as_deref(), Ok("c"), "{ctx}");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{ctx}");
                assert_eq!(rx.recv(), Err(RecvError), "{ctx}");
                assert_eq!(rx.recv_timeout(GENEROUS), Err(RecvTimeoutError::Closed));
                let m = closer.metrics();
                assert_eq!(
                    (m.sent, m.received, m.discarded, m.len),
                    (3, 3, 0, 0),
                    "{ctx}"
                );
            }
        }
    }
}

#[test]
fn rendezvous_close() {
    for policy in [Policy::Block, Policy::DropNewest, Policy::Reject] {
        let (tx, rx) = Builder::new(0).policy(policy).mpmc::<String>();
        assert!(rx.close());
        assert!(!tx.close());
        let v = "x".to_string();
        assert_eq!(tx.try_send(v.clone()), Err(TrySendError::Closed(v.clone())));
        assert_eq!(tx.send(v.clone()), Err(SendError::Closed(v.clone())));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(tx.abort(), 0);
    }
}

#[test]
fn close_returns_true_exactly_once_across_threads() {
    let rounds = scaled(50, 3);
    for flavor in FLAVORS {
        for _ in 0..rounds {
            let (tx, rx) = build::<u8>(flavor, 2, Policy::Block);
            let closers: Vec<Closer> = (0..4).map(|_| tx.closer()).collect();
            let barrier = Arc::new(Barrier::new(closers.len() + 1));
            let wins = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = closers
                .into_iter()
                .map(|c| {
                    let (barrier, wins) = (barrier.clone(), wins.clone());
                    thread::spawn(move || {
                        barrier.wait();
                        if c.close() {
                            wins.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            barrier.wait();
            if tx.close() {
                wins.fetch_add(1, SeqCst);
            }
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(wins.load(SeqCst), 1, "{flavor:?}");
            assert!(!rx.close());
        }
    }
}

#[test]
fn mpmc_abort_from_each_side() {
    for policy in POLICIES {
        for side in SIDES {
            let ctx = format!("{policy:?} aborted by {side:?}");
            let log = DropLog::new(4);
            let (tx, rx) = Builder::new(4).policy(policy).mpmc::<harness::Tracked>();
            let closer = tx.closer();
            for i in 0..3 {
                let _ = tx.send(log.item(i)).ok().unwrap();
            }
            let n = match side {
                Side::Sender => tx.abort(),
                Side::Receiver => rx.abort(),
                Side::Closer => closer.abort().unwrap(),
            };
            assert_eq!(n, 3, "{ctx}");
            assert_eq!(log.total(), 3, "{ctx}: dropped at once");
            assert!(tx.is_closed() && rx.is_closed(), "{ctx}");
            assert!(!tx.close(), "{ctx}: abort closed it already");
            assert!(rx.try_recv().is_err(), "{ctx}");
            assert!(matches!(tx.send(log.item(3)), Err(SendError::Closed(_))));
            assert_eq!(
                (tx.abort(), closer.abort(), rx.len()),
                (0, Some(0), 0),
                "{ctx}"
            );
            let m = rx.metrics();
            assert_eq!((m.sent, m.received, m.discarded), (3, 0, 3), "{ctx}");
            drop((tx, rx));
            log.assert_all_once();
        }
    }
}

#[test]
fn mpmc_abort_after_close_discards_what_is_left() {
    let (tx, rx) = pushpull::mpmc::<u32>(8);
    for i in 0..5 {
        let _ = tx.send(i).unwrap();
    }
    assert!(tx.close());
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(rx.abort(), 4);
    assert_eq!(rx.recv(), Err(RecvError));
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.discarded, m.len), (5, 1, 4, 0));
}

#[test]
fn spsc_consumer_abort_is_immediate() {
    let log = DropLog::new(5);
    let (mut tx, mut rx) = pushpull::spsc::<harness::Tracked>(8);
    for i in 0..4 {
        let _ = tx.send(log.item(i)).ok().unwrap();
    }
    assert_eq!(rx.abort(), 4);
    assert_eq!(log.total(), 4);
    assert!(tx.is_closed());
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    assert!(matches!(tx.send(log.item(4)), Err(SendError::Closed(_))));
    assert_eq!(rx.abort(), 0);
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.discarded, m.len), (4, 0, 4, 0));
    drop((tx, rx));
    log.assert_all_once();
}

/// `Producer::abort` and `Closer::abort` on an SPSC queue close it and return 0 while the
/// consumer is alive; the consumer discards everything at its next call (receives report
/// `Closed`) or when dropped, and the values are counted as discarded.
#[test]
fn spsc_deferred_abort() {
    // (who aborts, how the consumer next acts)
    for (by_closer, next) in [
        (false, "try_recv"),
        (false, "recv"),
        (false, "recv_timeout"),
        (false, "drop"),
        (true, "try_recv"),
        (true, "drop"),
    ] {
        let ctx = format!("closer {by_closer}, consumer {next}");
        let log = DropLog::new(4);
        let (mut tx, mut rx) = pushpull::spsc::<harness::Tracked>(8);
        for i in 0..3 {
            let _ = tx.send(log.item(i)).ok().unwrap();
        }
        let n = if by_closer {
            rx.closer().abort()
        } else {
            tx.abort();
            None
        };
        assert_eq!(n, None, "{ctx}: the consumer does the discarding");
        assert!(tx.is_closed() && rx.is_closed(), "{ctx}");
        // Nothing is discarded until the consumer acts.
        assert_eq!(log.total(), 0, "{ctx}");
        assert_eq!(tx.metrics().discarded, 0, "{ctx}");
        assert_eq!(rx.len(), 3, "{ctx}");
        // Sends fail at once.
        assert!(matches!(
            tx.try_send(log.item(3)),
            Err(TrySendError::Closed(_))
        ));
        assert_eq!(log.total(), 1, "{ctx}: the refused value was dropped by us");
        match next {
            "try_recv" => assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed)),
            "recv" => assert!(rx.recv().is_err()),
            "recv_timeout" => {
                assert_eq!(
                    rx.recv_timeout(GENEROUS).err(),
                    Some(RecvTimeoutError::Closed)
                )
            }
            _ => drop(rx),
        }
        assert_eq!(log.total(), 4, "{ctx}: discarded at the consumer's call");
        let m = tx.metrics();
        assert_eq!(
            (m.sent, m.received, m.discarded, m.len),
            (3, 0, 3, 0),
            "{ctx}"
        );
        harness::assert_identity(&m);
        // A second abort (the consumer may be gone by now) has nothing left to discard.
        tx.abort();
        assert_eq!(tx.metrics().discarded, 3, "{ctx}");
        log.assert_all_once();
    }
}

#[test]
fn spsc_producer_abort_after_the_consumer_is_gone() {
    let log = DropLog::new(2);
    let (mut tx, rx) = pushpull::spsc::<harness::Tracked>(4);
    let _ = tx.send(log.item(0)).ok().unwrap();
    let _ = tx.send(log.item(1)).ok().unwrap();
    drop(rx);
    // The consumer's drop already discarded both.
    assert_eq!(log.total(), 2);
    tx.abort();
    assert_eq!(tx.metrics().discarded, 2);
    log.assert_all_once();
}

#[test]
fn spsc_producer_abort_wakes_a_blocked_consumer() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(4);
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let consumer = thread::spawn(move || {
        b.wait();
        let first = rx.recv_timeout(GENEROUS);
        (first, rx)
    });
    barrier.wait();
    let_it_block();
    tx.abort();
    let (first, rx) = consumer.join().unwrap();
    assert_eq!(first, Err(RecvTimeoutError::Closed));
    assert_eq!(rx.metrics().discarded, 0);
}

/// Blocked receivers (several, for MPMC) wake up when the queue is closed from `side`.
#[test]
fn close_wakes_blocked_receivers() {
    for (flavor, cap) in [(Flavor::Mpmc, 2), (Flavor::Mpmc, 0), (Flavor::Spsc, 2)] {
        for side in SIDES {
            let ctx = format!("{flavor:?} cap {cap} closed by {side:?}");
            // `close` is what `side` calls; the receivers block in their threads.
            let (close, threads): (CloseFn, Vec<_>) = match flavor {
                Flavor::Mpmc => {
                    let (tx, rx) = pushpull::mpmc::<u32>(cap);
                    let barrier = Arc::new(Barrier::new(4));
                    let threads = (0..3)
                        .map(|_| {
                            let (rx, b) = (rx.clone(), barrier.clone());
                            thread::spawn(move || {
                                b.wait();
                                rx.recv_timeout(GENEROUS)
                            })
                        })
                        .collect();
                    barrier.wait();
                    let close: CloseFn = match side {
                        // Each closure holds both ends: no end is dropped before the close.
                        Side::Sender => Box::new(move || (&rx, tx.close()).1),
                        Side::Receiver => Box::new(move || (&tx, rx.close()).1),
                        Side::Closer => Box::new(move || (&rx, tx.closer().close()).1),
                    };
                    (close, threads)
                }
                Flavor::Spsc => {
                    let (tx, mut rx) = pushpull::spsc::<u32>(cap);
                    // The consumer is busy in its thread: the receiving side closes through
                    // a closer made from it.
                    let rx_closer = rx.closer();
                    let barrier = Arc::new(Barrier::new(2));
                    let b = barrier.clone();
                    let t = thread::spawn(move || {
                        b.wait();
                        rx.recv_timeout(GENEROUS)
                    });
                    barrier.wait();
                    let close: CloseFn = match side {
                        Side::Sender => Box::new(move || tx.close()),
                        Side::Receiver => Box::new(move || (&tx, rx_closer.close()).1),
                        Side::Closer => Box::new(move || tx.closer().close()),
                    };
                    (close, vec![t])
                }
            };
            let_it_block();
            assert!(close(), "{ctx}");
            for t in threads {
                assert_eq!(t.join().unwrap(), Err(RecvTimeoutError::Closed), "{ctx}");
            }
        }
    }
}

/// Blocked senders (several, for MPMC) get their value back in `Closed` when the queue is
/// closed from `side`; what was queued before stays there to drain.
#[test]
fn close_wakes_blocked_senders() {
    for (flavor, cap) in [(Flavor::Mpmc, 1), (Flavor::Mpmc, 0), (Flavor::Spsc, 1)] {
        for side in SIDES {
            let ctx = format!("{flavor:?} cap {cap} closed by {side:?}");
            let (close, mut rx, threads): (CloseFn, RxBox, Vec<_>) = match flavor {
                Flavor::Mpmc => {
                    let (tx, rx) = pushpull::mpmc::<u32>(cap);
                    if cap > 0 {
                        let _ = tx.send(100).unwrap();
                    }
                    let barrier = Arc::new(Barrier::new(4));
                    let threads = (0..3)
                        .map(|i| {
                            let (tx, b) = (tx.clone(), barrier.clone());
                            thread::spawn(move || {
                                b.wait();
                                (i, tx.send_timeout(i, GENEROUS))
                            })
                        })
                        .collect();
                    barrier.wait();
                    let rx2 = rx.clone();
                    let close: CloseFn = match side {
                        Side::Sender => Box::new(move || tx.close()),
                        Side::Receiver => Box::new(move || (&tx, rx2.close()).1),
                        Side::Closer => Box::new(move || (&tx, tx.closer().close()).1),
                    };
                    (close, Box::new(rx), threads)
                }
                Flavor::Spsc => {
                    let (mut tx, rx) = pushpull::spsc::<u32>(cap);
                    let _ = tx.send(100).unwrap();
                    // The producer is busy in its thread: the sending side closes
                    // through a closer made from it.
                    let tx_closer = tx.closer();
                    let barrier = Arc::new(Barrier::new(2));
                    let b = barrier.clone();
                    let t = thread::spawn(move || {
                        b.wait();
                        (0, tx.send_timeout(0, GENEROUS))
                    });
                    barrier.wait();
                    let rx_closer = rx.closer();
                    let close: CloseFn = match side {
                        Side::Sender => Box::new(move || tx_closer.close()),
                        Side::Receiver => Box::new(move || rx_closer.close()),
                        Side::Closer => Box::new(move || rx_closer.clone().close()),
                    };
                    (close, Box::new(rx), vec![t])
                }
            };
            let_it_block();
            assert!(close(), "{ctx}");
            for t in threads {
                let (i, result) = t.join().unwrap();
                assert_eq!(result, Err(SendTimeoutError::Closed(i)), "{ctx}");
            }
            if cap > 0 {
                assert_eq!(rx.try_recv(), Ok(100), "{ctx}");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{ctx}");
        }
    }
}

#[test]
fn mpmc_abort_wakes_blocked_senders_with_their_values() {
    for cap in [0, 1] {
        let (tx, rx) = pushpull::mpmc::<u32>(cap);
        if cap > 0 {
            let _ = tx.send(100).unwrap();
        }
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (tx, b) = (tx.clone(), barrier.clone());
                thread::spawn(move || {
                    b.wait();
                    tx.send_timeout(i, GENEROUS)
                })
            })
            .collect();
        barrier.wait();
        let_it_block();
        assert_eq!(rx.abort(), cap);
        let mut results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort_by_key(|r| r.err().map(SendTimeoutError::into_inner));
        assert_eq!(
            results,
            vec![
                Err(SendTimeoutError::Closed(0)),
                Err(SendTimeoutError::Closed(1))
            ],
            "cap {cap}"
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn dropping_the_last_sender_wakes_receivers() {
    for flavor in FLAVORS {
        let (tx, mut rx) = build::<u32>(flavor, 2, Policy::Block);
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let t = thread::spawn(move || {
            b.wait();
            rx.recv_timeout(GENEROUS)
        });
        barrier.wait();
        let_it_block();
        drop(tx);
        assert_eq!(
            t.join().unwrap(),
            Err(RecvTimeoutError::Closed),
            "{flavor:?}"
        );
    }
    // Rendezvous.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let t = thread::spawn(move || rx.recv_timeout(GENEROUS));
    let_it_block();
    drop(tx);
    assert_eq!(t.join().unwrap(), Err(RecvTimeoutError::Closed));
}

#[test]
fn dropping_the_last_receiver_wakes_senders() {
    for flavor in FLAVORS {
        let (mut tx, rx) = build::<u32>(flavor, 1, Policy::Block);
        let _ = tx.send(1).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let t = thread::spawn(move || {
            b.wait();
            tx.send_timeout(2, GENEROUS)
        });
        barrier.wait();
        let_it_block();
        let closer = rx.closer();
        drop(rx);
        assert_eq!(
            t.join().unwrap(),
            Err(SendTimeoutError::Closed(2)),
            "{flavor:?}"
        );
        assert_eq!(closer.metrics().discarded, 1, "{flavor:?}");
    }
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let t = thread::spawn(move || tx.send_timeout(5, GENEROUS));
    let_it_block();
    drop(rx);
    assert_eq!(t.join().unwrap(), Err(SendTimeoutError::Closed(5)));
}

#[test]
fn only_the_last_sender_closes() {
    let (tx, rx) = pushpull::mpmc::<u32>(4);
    let tx2 = tx.clone();
    let _ = tx.send(1).unwrap();
    drop(tx);
    assert!(!rx.is_closed());
    let _ = tx2.send(2).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(rx.metrics().discarded, 0);
}

#[test]
fn only_the_last_receiver_closes() {
    let (tx, rx) = pushpull::mpmc::<u32>(4);
    let rx2 = rx.clone();
    let _ = tx.send(1).unwrap();
    drop(rx);
    assert!(!tx.is_closed());
    assert_eq!(tx.send(2), Ok(Sent::Queued));
    assert_eq!(rx2.recv(), Ok(1));
    drop(rx2);
    assert!(tx.is_closed());
    assert_eq!(tx.send(3), Err(SendError::Closed(3)));
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.discarded, m.len), (2, 1, 1, 0));
}

#[test]
fn a_closer_does_not_keep_the_queue_open() {
    for flavor in FLAVORS {
        let (mut tx, mut rx) = build::<u32>(flavor, 4, Policy::Block);
        let closer = tx.closer();
        let _ = tx.send(7).unwrap();
        drop(tx);
        assert!(closer.is_closed(), "{flavor:?}");
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(rx.recv(), Err(RecvError));
        drop(rx);
        // The closer outlives both ends.
        assert!(closer.is_closed());
        assert!(!closer.close());
        assert!(matches!(closer.abort(), None | Some(0)), "{flavor:?}");
        assert_eq!(closer.len(), 0);
        assert!(closer.is_empty());
        let m = closer.metrics();
        assert_eq!((m.sent, m.received), (1, 1));
    }
}

type SendFn = Box<dyn FnMut(usize) -> Result<Sent<usize>, SendError<usize>> + Send>;
type RecvFn = Box<dyn FnMut() -> Option<usize> + Send>;
type CloseFn = Box<dyn Fn() -> bool>;
type RxBox = Box<dyn harness::Rx<u32>>;

/// Producer `p`'s `i`-th value.
const fn value(p: usize, i: usize) -> usize {
    (p << 40) | i
}

/// Sends race a close. Each producer sends `0, 1, 2, ...` until it meets `Closed` (which
/// must hand back the value it tried), so the close always lands mid-stream. The one
/// consumer drains until `Closed`; per producer it must receive exactly the values whose
/// send returned `Queued`, in order: nothing lost, nothing after the close, nothing
/// discarded (close is linearizable: a send that returned `Queued` is received).
fn sends_racing_close(flavor: Flavor) {
    let (senders, mut recv, closer): (Vec<SendFn>, RecvFn, Closer) = match flavor {
        Flavor::Mpmc => {
            let (tx, rx) = pushpull::mpmc::<usize>(3);
            let senders = (0..3)
                .map(|_| {
                    let tx = tx.clone();
                    Box::new(move |v| tx.send(v)) as SendFn
                })
                .collect();
            let closer = tx.closer();
            (senders, Box::new(move || rx.recv().ok()), closer)
        }
        Flavor::Spsc => {
            let (mut tx, mut rx) = pushpull::spsc::<usize>(3);
            let closer = tx.closer();
            let sender = Box::new(move |v| tx.send(v)) as SendFn;
            (vec![sender], Box::new(move || rx.recv().ok()), closer)
        }
    };
    let producers = senders.len();
    let receiver = thread::spawn(move || {
        let mut got = vec![Vec::new(); producers];
        while let Some(v) = recv() {
            got[v >> 40].push(v & ((1 << 40) - 1));
        }
        got
    });
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(p, mut send)| {
            thread::spawn(move || {
                for i in 0.. {
                    match send(value(p, i)) {
                        Ok(sent) => assert_eq!(sent, Sent::Queued),
                        Err(SendError::Closed(back)) => {
                            assert_eq!(back, value(p, i));
                            // Every later send fails too.
                            assert_eq!(send(7), Err(SendError::Closed(7)));
                            return i;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                unreachable!()
            })
        })
        .collect();
    spin_until("some traffic", || {
        (closer.metrics().received > 5).then_some(())
    });
    assert!(closer.close());
    let sent: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let got = receiver.join().unwrap();
    let m = closer.metrics();
    for p in 0..producers {
        let expected: Vec<usize> = (0..sent[p]).collect();
        if got[p] != expected {
            let missing: Vec<usize> = expected
                .iter()
                .filter(|v| !got[p].contains(v))
                .copied()
                .collect();
            panic!(
                "{flavor:?} producer {p}: {} sends returned Queued, {} values received, \
                 missing {missing:?}; {m}",
                sent[p],
                got[p].len()
            );
        }
    }
    assert_eq!((m.discarded, m.len), (0, 0), "{flavor:?}");
    assert_eq!(m.sent, m.received, "{flavor:?}");
}

#[test]
fn mpmc_sends_racing_close() {
    for _ in 0..scaled(5, 1) {
        sends_racing_close(Flavor::Mpmc);
    }
}

/// SPSC: a send that read the queue open just before the close and published after the
/// consumer found it empty is either received or takes its value back (the `DONE` step in
/// `chan::spsc`); the old code discarded it (found as a new user would, issue 6 item 8b).
#[test]
fn spsc_sends_racing_close() {
    for _ in 0..scaled(300, 2) {
        sends_racing_close(Flavor::Spsc);
    }
}
