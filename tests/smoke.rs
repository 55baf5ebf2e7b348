#![cfg(not(loom))]
//! Smoke tests: every flavor and policy does the basic things; rendezvous hand-offs between
//! threads; iterators end when they should; deadlines that are already due.

mod harness;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use harness::{build, scaled, spin_until, Flavor, FLAVORS, GENEROUS, POLICIES};
use pushpull::{
    Builder, Policy, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sent, TryRecvError,
    TrySendError,
};

#[test]
fn every_flavor_and_policy() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let (mut tx, mut rx) = build::<i32>(flavor, 1, policy);
            assert_eq!(tx.policy(), policy, "{ctx}");
            assert_eq!(rx.policy(), policy, "{ctx}");
            assert_eq!((tx.capacity(), rx.capacity()), (1, 1), "{ctx}");

            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");
            assert_eq!(tx.try_send(7), Ok(()), "{ctx}");
            assert_eq!(rx.try_recv(), Ok(7), "{ctx}");
            assert_eq!(tx.send(8), Ok(Sent::Queued), "{ctx}");
            assert_eq!(rx.recv(), Ok(8), "{ctx}");

            // Full: try_send never waits whatever the policy; send follows the policy.
            tx.try_send(1).unwrap();
            assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)), "{ctx}");
            match policy {
                Policy::Block => assert_eq!(
                    tx.send_timeout(3, Duration::from_millis(1)),
                    Err(SendTimeoutError::Timeout(3)),
                    "{ctx}"
                ),
                Policy::DropNewest => assert_eq!(tx.send(3), Ok(Sent::DroppedNewest), "{ctx}"),
                Policy::DropOldest => assert_eq!(tx.send(3), Ok(Sent::Evicted(1)), "{ctx}"),
                Policy::Reject => assert_eq!(tx.send(3), Err(SendError::Overloaded(3)), "{ctx}"),
                _ => unreachable!("a variant added since"),
            }
            let head = if policy == Policy::DropOldest { 3 } else { 1 };
            assert_eq!(rx.try_recv(), Ok(head), "{ctx}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");

            // Dropping the only sender closes the queue (drain).
            let _ = tx.send(4).unwrap();
            drop(tx);
            assert!(rx.is_closed(), "{ctx}");
            assert_eq!(rx.recv(), Ok(4), "{ctx}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{ctx}");
            assert_eq!(rx.recv(), Err(RecvError), "{ctx}");
        }
    }
}

#[test]
fn free_constructors_use_block() {
    let (tx, rx) = pushpull::mpmc::<u8>(3);
    assert_eq!((tx.policy(), tx.capacity()), (Policy::Block, 3));
    assert_eq!((rx.policy(), rx.capacity()), (Policy::Block, 3));
    assert!(tx.same_queue(&tx.clone()));
    assert!(rx.same_queue(&rx.clone()));
    let (other, _) = pushpull::mpmc::<u8>(3);
    assert!(!tx.same_queue(&other));

    let (tx, rx) = pushpull::spsc::<u8>(3);
    assert_eq!((tx.policy(), tx.capacity()), (Policy::Block, 3));
    assert_eq!((rx.policy(), rx.capacity()), (Policy::Block, 3));
    assert_eq!(Builder::new(3), Builder::new(3).policy(Policy::Block));
    assert_eq!(Policy::default(), Policy::Block);
}

#[test]
fn sent_helpers() {
    assert!(Sent::<u8>::Queued.is_queued());
    assert!(Sent::Evicted(1).is_queued());
    assert!(!Sent::<u8>::DroppedNewest.is_queued());
    assert_eq!(Sent::Evicted(5).evicted(), Some(5));
    assert_eq!(Sent::<u8>::Queued.evicted(), None);
    assert_eq!(Sent::<u8>::DroppedNewest.evicted(), None);
}

#[test]
fn rendezvous_smoke_per_policy() {
    for policy in [Policy::Block, Policy::DropNewest, Policy::Reject] {
        let (tx, rx) = Builder::new(0).policy(policy).mpmc::<i32>();
        assert_eq!(tx.capacity(), 0);
        // Nobody waits: nothing can be handed over.
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)), "{policy:?}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{policy:?}");
        match policy {
            Policy::Block => assert_eq!(
                tx.send_timeout(2, Duration::from_millis(1)),
                Err(SendTimeoutError::Timeout(2))
            ),
            Policy::DropNewest => assert_eq!(tx.send(2), Ok(Sent::DroppedNewest)),
            Policy::Reject => assert_eq!(tx.send(2), Err(SendError::Overloaded(2))),
            Policy::DropOldest => unreachable!(),
            _ => unreachable!("a variant added since"),
        }
        // Nothing was buffered by any of that.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{policy:?}");
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError));
    }
    assert!(Builder::new(0)
        .policy(Policy::DropOldest)
        .try_mpmc::<i32>()
        .is_err());
}

#[test]
fn rendezvous_blocking_send_to_blocking_recv() {
    let n = scaled(2_000, 20);
    let (tx, rx) = pushpull::mpmc::<usize>(0);
    let sender = thread::spawn(move || {
        for i in 0..n {
            assert_eq!(tx.send(i), Ok(Sent::Queued));
        }
    });
    for i in 0..n {
        assert_eq!(rx.recv(), Ok(i));
    }
    sender.join().unwrap();
    assert_eq!(rx.recv(), Err(RecvError));
    let m = rx.metrics();
    assert_eq!((m.sent, m.received, m.len), (n as u64, n as u64, 0));
}

#[test]
fn rendezvous_try_send_needs_a_waiting_receiver() {
    let (tx, rx) = pushpull::mpmc::<i32>(0);
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let receiver = thread::spawn(move || {
        b.wait();
        (rx.recv_timeout(GENEROUS), rx)
    });
    barrier.wait();
    // Succeeds once the receiver is waiting (it may take a moment to get there).
    let mut value = 42;
    spin_until("a waiting receiver", || match tx.try_send(value) {
        Ok(()) => Some(()),
        Err(TrySendError::Full(v)) => {
            value = v;
            None
        }
        Err(TrySendError::Closed(_)) => panic!("closed"),
    });
    let (got, rx) = receiver.join().unwrap();
    assert_eq!(got, Ok(42));
    // The receiver is no longer waiting: nothing to hand over to.
    assert_eq!(tx.try_send(43), Err(TrySendError::Full(43)));
    drop(rx);
    assert_eq!(tx.try_send(44), Err(TrySendError::Closed(44)));
}

#[test]
fn rendezvous_try_recv_takes_from_a_waiting_sender() {
    let (tx, rx) = pushpull::mpmc::<i32>(0);
    let sender = thread::spawn(move || tx.send_timeout(9, GENEROUS));
    let v = spin_until("a waiting sender", || rx.try_recv().ok());
    assert_eq!(v, 9);
    assert_eq!(sender.join().unwrap(), Ok(Sent::Queued));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn iter_ends_when_closed_and_drained() {
    let n = scaled(1_000, 30);
    for flavor in FLAVORS {
        let (mut tx, mut rx) = build::<usize>(flavor, 4, Policy::Block);
        let sender = thread::spawn(move || {
            for i in 0..n {
                let _ = tx.send(i).unwrap();
            }
        });
        let got: Vec<usize> = std::iter::from_fn(|| rx.recv().ok()).collect();
        sender.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{flavor:?}");
    }

    // The real iterators, on the concrete types.
    let (tx, rx) = pushpull::mpmc::<usize>(4);
    let t = thread::spawn(move || (0..n).for_each(|i| assert_eq!(tx.send(i), Ok(Sent::Queued))));
    assert_eq!(rx.iter().collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
    t.join().unwrap();
    assert_eq!(rx.iter().next(), None);

    let (mut tx, mut rx) = pushpull::spsc::<usize>(4);
    let t = thread::spawn(move || (0..n).for_each(|i| assert_eq!(tx.send(i), Ok(Sent::Queued))));
    assert_eq!(rx.iter().collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
    t.join().unwrap();
    assert_eq!(rx.iter().next(), None);
}

#[test]
fn iter_ends_on_close_from_a_closer() {
    let (tx, rx) = pushpull::mpmc::<i32>(4);
    let _ = tx.send(1).unwrap();
    let _ = tx.send(2).unwrap();
    rx.closer().close();
    // The sender is still alive; the iteration ends anyway.
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1, 2]);

    let (mut tx, mut rx) = pushpull::spsc::<i32>(4);
    let _ = tx.send(1).unwrap();
    tx.closer().close();
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1]);
    drop(tx);
}

#[test]
fn try_iter_stops_at_empty_without_closing() {
    let (tx, rx) = pushpull::mpmc::<i32>(8);
    for i in 0..3 {
        let _ = tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    assert!(!rx.is_closed());
    let _ = tx.send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![3]);

    let (mut tx, mut rx) = pushpull::spsc::<i32>(8);
    for i in 0..3 {
        let _ = tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    let _ = tx.send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![3]);
}

#[test]
fn drain_takes_at_most_what_was_queued() {
    // MPMC: values sent while draining are left for later.
    let (tx, rx) = pushpull::mpmc::<i32>(8);
    for i in 0..5 {
        let _ = tx.send(i).unwrap();
    }
    let mut drain = rx.drain();
    assert_eq!(drain.size_hint(), (0, Some(5)));
    assert_eq!(drain.next(), Some(0));
    let _ = tx.send(100).unwrap();
    let _ = tx.send(101).unwrap();
    assert_eq!(drain.collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![100, 101]);
    assert_eq!(rx.drain().next(), None);

    // SPSC: same.
    let (mut tx, mut rx) = pushpull::spsc::<i32>(8);
    for i in 0..5 {
        let _ = tx.send(i).unwrap();
    }
    let mut drain = rx.drain();
    assert_eq!(drain.size_hint(), (0, Some(5)));
    assert_eq!(drain.next(), Some(0));
    let _ = tx.send(100).unwrap();
    assert_eq!(drain.collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(rx.try_recv(), Ok(100));

    // A drain ends early (and for good) if the queue runs dry under it.
    let (tx, rx) = pushpull::mpmc::<i32>(8);
    let rx2 = rx.clone();
    let _ = tx.send(1).unwrap();
    let _ = tx.send(2).unwrap();
    let mut drain = rx.drain();
    assert_eq!(rx2.try_recv(), Ok(1));
    assert_eq!(rx2.try_recv(), Ok(2));
    assert_eq!(drain.next(), None);
    let _ = tx.send(3).unwrap();
    assert_eq!(drain.next(), None);
}

#[test]
fn into_iter_forms() {
    // Owned receiver.
    let (tx, rx) = pushpull::mpmc::<i32>(4);
    let _ = tx.send(1).unwrap();
    let _ = tx.send(2).unwrap();
    drop(tx);
    let mut got = Vec::new();
    for v in rx {
        got.push(v);
    }
    assert_eq!(got, vec![1, 2]);

    // Borrowed receiver.
    let (tx, rx) = pushpull::mpmc::<i32>(4);
    let _ = tx.send(3).unwrap();
    drop(tx);
    let mut got = Vec::new();
    for v in &rx {
        got.push(v);
    }
    assert_eq!(got, vec![3]);

    // Owned consumer, fed by a thread.
    let n = scaled(500, 20);
    let (mut tx, rx) = pushpull::spsc::<usize>(2);
    let t = thread::spawn(move || (0..n).for_each(|i| assert_eq!(tx.send(i), Ok(Sent::Queued))));
    assert_eq!(
        rx.into_iter().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    t.join().unwrap();

    // Mutably borrowed consumer.
    let (mut tx, mut rx) = pushpull::spsc::<i32>(4);
    let _ = tx.send(4).unwrap();
    let _ = tx.send(5).unwrap();
    drop(tx);
    let mut got = Vec::new();
    for v in &mut rx {
        got.push(v);
    }
    assert_eq!(got, vec![4, 5]);
}

#[test]
fn due_deadlines_still_complete_what_can_complete() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            let ctx = format!("{flavor:?} {policy:?}");
            let (mut tx, mut rx) = build::<i32>(flavor, 2, policy);
            let past = Instant::now();
            assert_eq!(tx.send_deadline(1, past), Ok(Sent::Queued), "{ctx}");
            assert_eq!(
                tx.send_timeout(2, Duration::ZERO),
                Ok(Sent::Queued),
                "{ctx}"
            );
            assert_eq!(rx.recv_deadline(past), Ok(1), "{ctx}");
            assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(2), "{ctx}");
            assert_eq!(
                rx.recv_timeout(Duration::ZERO),
                Err(RecvTimeoutError::Timeout),
                "{ctx}"
            );
            // `Duration::MAX` must not panic (no deadline overflow).
            assert_eq!(tx.send_timeout(3, Duration::MAX), Ok(Sent::Queued), "{ctx}");
            assert_eq!(rx.recv_timeout(Duration::MAX), Ok(3), "{ctx}");
            // Closed wins over a due deadline.
            tx.close();
            assert_eq!(
                tx.send_deadline(4, past),
                Err(SendTimeoutError::Closed(4)),
                "{ctx}"
            );
            assert_eq!(
                rx.recv_deadline(past),
                Err(RecvTimeoutError::Closed),
                "{ctx}"
            );
        }
    }
}

#[test]
fn spsc_ends_move_to_other_threads() {
    let n = scaled(1_000, 20);
    let (mut tx, mut rx) = build::<usize>(Flavor::Spsc, 3, Policy::Block);
    let consumer = thread::spawn(move || (0..n).map(|_| rx.recv().unwrap()).sum::<usize>());
    let producer =
        thread::spawn(move || (0..n).for_each(|i| assert_eq!(tx.send(i), Ok(Sent::Queued))));
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), n * (n - 1) / 2);
}
