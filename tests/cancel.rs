#![cfg(not(loom))]
//! The cancel contract of every future, and permits: poll once then drop (nothing lost,
//! nothing duplicated, capacity restored), wake-ups passed on, forgotten waiters not starving
//! the others, `into_inner`, and permits dropped unused.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{drop_counters, drops_of, poll_once, CountingWaker, Exec, Tracked, GENEROUS};
use pushpull::{Builder, Policy, RecvError, SendError, Sent, TryRecvError, TrySendError};

#[test]
fn dropped_pending_recv_loses_nothing() {
    for capacity in [0usize, 1, 4] {
        let drops = drop_counters(2);
        let (tx, rx) = pushpull::mpmc::<Tracked>(capacity);
        let (_w, waker) = CountingWaker::new();
        let mut recv = rx.recv_async();
        assert!(poll_once(&mut recv, &waker).is_pending());
        drop(recv);
        if capacity > 0 {
            tx.try_send(Tracked::new(0, &drops))
                .map_err(|_| ())
                .unwrap();
            assert_eq!(rx.try_recv().map(|t| t.id), Ok(0));
        } else {
            // No receiver waits any more: a rendezvous try_send finds nobody.
            assert!(matches!(
                tx.try_send(Tracked::new(0, &drops)),
                Err(TrySendError::Full(_))
            ));
        }
        assert_eq!(drops_of(&drops)[0], 1, "capacity {capacity}");

        let (mut ptx, mut prx) = pushpull::spsc::<Tracked>(capacity.max(1));
        let mut recv = prx.recv_async();
        assert!(poll_once(&mut recv, &waker).is_pending());
        drop(recv);
        ptx.try_send(Tracked::new(1, &drops))
            .map_err(|_| ())
            .unwrap();
        assert_eq!(prx.try_recv().map(|t| t.id), Ok(1));
        assert_eq!(drops_of(&drops), vec![1, 1]);
    }
}

#[test]
fn dropped_pending_send_drops_its_value_once_and_restores_capacity() {
    let drops = drop_counters(3);
    let (tx, rx) = pushpull::mpmc::<Tracked>(1);
    tx.try_send(Tracked::new(0, &drops))
        .map_err(|_| ())
        .unwrap();
    let (_w, waker) = CountingWaker::new();
    let mut send = tx.send_async(Tracked::new(1, &drops));
    assert!(poll_once(&mut send, &waker).is_pending());
    assert!(poll_once(&mut send, &waker).is_pending());
    drop(send);
    assert_eq!(
        drops_of(&drops),
        vec![0, 1, 0],
        "the unsent value dropped once"
    );
    assert_eq!(tx.len(), 1);
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(0));
    assert!(rx.try_recv().is_err(), "never sent");
    tx.try_send(Tracked::new(2, &drops))
        .map_err(|_| ())
        .unwrap();
    assert_eq!(tx.len(), 1, "capacity restored");
    drop((tx, rx));
    assert_eq!(drops_of(&drops), vec![1, 1, 1]);
    // SPSC and rendezvous.
    let drops = drop_counters(2);
    let (mut tx, mut rx) = pushpull::spsc::<Tracked>(1);
    tx.try_send(Tracked::new(0, &drops))
        .map_err(|_| ())
        .unwrap();
    let (_w, waker) = CountingWaker::new();
    {
        let mut send = tx.send_async(Tracked::new(1, &drops));
        assert!(poll_once(&mut send, &waker).is_pending());
    }
    assert_eq!(drops_of(&drops), vec![0, 1]);
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(0));
    assert!(rx.try_recv().is_err());

    let drops = drop_counters(1);
    let (tx, rx) = pushpull::mpmc::<Tracked>(0);
    {
        let mut send = tx.send_async(Tracked::new(0, &drops));
        assert!(poll_once(&mut send, &waker).is_pending());
    }
    assert_eq!(drops_of(&drops), vec![1]);
    assert!(rx.try_recv().is_err(), "the dropped offer left the line");
}

#[test]
fn send_future_into_inner_gives_the_value_back() {
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    let (_w, waker) = CountingWaker::new();
    let mut send = tx.send_async(1);
    assert!(poll_once(&mut send, &waker).is_pending());
    assert_eq!(send.into_inner(), Some(1));
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(rx.try_recv().is_err());

    // A send future never polled gives its value back too.
    assert_eq!(tx.send_async(2).into_inner(), Some(2));

    // Rendezvous: the offer leaves the line.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let mut send = tx.send_async(3);
    assert!(poll_once(&mut send, &waker).is_pending());
    assert_eq!(send.into_inner(), Some(3));
    assert!(rx.try_recv().is_err());
    // Taken, then asked: nothing to give back.
    let mut send = tx.send_async(4);
    assert!(poll_once(&mut send, &waker).is_pending());
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(send.into_inner(), None);
}

#[test]
fn dropped_notified_recv_passes_the_wakeup_on() {
    // Ring and rendezvous alike: waking a receive future also wakes the next in line (a
    // future may be forgotten), so with three waiting, one value wakes the first two; both
    // dropped unpolled pass their wake-ups on to the third. (Rendezvous receivers pull: the
    // value waits in transit, no future holds it.)
    for capacity in [0usize, 1, 4] {
        let (tx, rx) = pushpull::mpmc::<u32>(capacity);
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futures: Vec<_> = (0..3).map(|_| rx.recv_async()).collect();
        for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
            assert!(poll_once(f, w).is_pending());
        }
        tx.try_send(5).unwrap();
        let counts = |w: &[(Arc<CountingWaker>, std::task::Waker)]| -> Vec<usize> {
            w.iter().map(|(c, _)| c.count()).collect()
        };
        assert_eq!(counts(&wakers), vec![1, 1, 0], "capacity {capacity}");
        let mut third = futures.pop().unwrap();
        drop(futures); // the two woken ones, never polled again
        assert_eq!(
            counts(&wakers)[2],
            1,
            "capacity {capacity}: the wake-up is passed on"
        );
        assert_eq!(poll_once(&mut third, &wakers[2].1), Poll::Ready(Ok(5)));
    }
    // SPSC: one consumer, so only its own future; dropping it loses nothing.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(1);
    let (_w, waker) = CountingWaker::new();
    {
        let mut r = rx.recv_async();
        assert!(poll_once(&mut r, &waker).is_pending());
        tx.try_send(6).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(6));
}

#[test]
fn dropped_notified_send_passes_the_wakeup_on() {
    let (tx, rx) = pushpull::mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut sends: Vec<_> = (1..=3).map(|i| tx.send_async(i)).collect();
    for (f, (_, w)) in sends.iter_mut().zip(&wakers) {
        assert!(poll_once(f, w).is_pending());
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(
        (
            wakers[0].0.count(),
            wakers[1].0.count(),
            wakers[2].0.count()
        ),
        (1, 1, 0)
    );
    let mut third = sends.pop().unwrap();
    drop(sends);
    assert_eq!(wakers[2].0.count(), 1, "room's wake-up passed on");
    assert_eq!(
        poll_once(&mut third, &wakers[2].1),
        Poll::Ready(Ok(Sent::Queued))
    );
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
#[cfg_attr(miri, ignore)]
fn forgotten_receiver_does_not_starve_the_others() {
    for ex in Exec::all() {
        let (tx, rx) = pushpull::mpmc::<u32>(4);
        // A future polled once and then kept, never polled again: first in line.
        let (_w, waker) = CountingWaker::new();
        let mut forgotten = rx.recv_async();
        assert!(poll_once(&mut forgotten, &waker).is_pending());
        let received = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                let received = received.clone();
                ex.spawn(async move {
                    while rx.recv_async().await.is_ok() {
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let items = 200;
        ex.block_on(async {
            for i in 0..items {
                let _ = tx.send_async(i).await.unwrap();
            }
        });
        // Without closing: the workers must get every value although the forgotten future
        // holds a wake-up.
        let until = Instant::now() + GENEROUS;
        while received.load(Ordering::SeqCst) < items as usize {
            assert!(Instant::now() < until, "{}: workers starved", ex.name());
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(forgotten);
        drop(tx);
        ex.block_on(async {
            for w in workers {
                w.await;
            }
        });
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn forgotten_sender_does_not_starve_the_others() {
    for ex in Exec::all() {
        let (tx, rx) = pushpull::mpmc::<u32>(1);
        tx.try_send(u32::MAX).unwrap();
        let (_w, waker) = CountingWaker::new();
        let mut forgotten = tx.send_async(u32::MAX - 1);
        assert!(poll_once(&mut forgotten, &waker).is_pending());
        let per = 100u32;
        let senders: Vec<_> = (0..2)
            .map(|s| {
                let tx = tx.clone();
                ex.spawn(async move {
                    for i in 0..per {
                        let _ = tx.send_async(s * per + i).await.unwrap();
                    }
                })
            })
            .collect();
        let got = ex.block_on(async {
            let mut got = 0;
            // The queued value, then the two senders' values, within a generous deadline.
            while got < 2 * per + 1 {
                match rx.recv_async_deadline(ex.sleep(GENEROUS)).await {
                    Ok(_) => got += 1,
                    Err(e) => panic!("{}: senders starved: {e:?}", ex.name()),
                }
            }
            got
        });
        assert_eq!(got, 2 * per + 1);
        ex.block_on(async {
            for s in senders {
                s.await;
            }
        });
        assert_eq!(forgotten.into_inner(), Some(u32::MAX - 1));
    }
}

#[test]
fn poll_once_then_drop_every_future_type() {
    let (_w, waker) = CountingWaker::new();
    let drops = drop_counters(4);
    let (tx, rx) = pushpull::mpmc::<Tracked>(1);
    tx.try_send(Tracked::new(0, &drops))
        .map_err(|_| ())
        .unwrap();

    // SendDeadline: pending, dropped: its value dropped once, nothing sent.
    let mut never = std::future::pending::<()>();
    {
        let mut s = tx.send_async_deadline(Tracked::new(1, &drops), &mut never);
        assert!(poll_once(&mut s, &waker).is_pending());
    }
    assert_eq!(drops_of(&drops)[1], 1);
    // ReserveFuture on a full queue: pending, dropped: reserves nothing.
    {
        let mut r = tx.reserve_async();
        assert!(poll_once(&mut r, &waker).is_pending());
    }
    // ClosedFuture: pending, dropped: no effect.
    {
        let mut c = tx.closed();
        assert!(poll_once(&mut c, &waker).is_pending());
    }
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(0));
    // RecvDeadline: pending, dropped: then a value sent is still received.
    {
        let mut r = rx.recv_async_deadline(&mut never);
        assert!(poll_once(&mut r, &waker).is_pending());
    }
    // Capacity restored after every drop: exactly one value fits.
    tx.try_send(Tracked::new(2, &drops))
        .map_err(|_| ())
        .unwrap();
    assert!(matches!(
        tx.try_send(Tracked::new(3, &drops)),
        Err(TrySendError::Full(_))
    ));
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(2));
    assert!(rx.try_recv().is_err());
    assert_eq!(drops_of(&drops), vec![1, 1, 1, 1]);
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.len), (2, 2, 0));
}

#[test]
fn permit_dropped_unused_restores_room() {
    // A permit holds room, not a place in line: dropping it gives the room back.
    let (tx, rx) = Builder::new(1).policy(Policy::Reject).mpmc::<u32>();
    let permit = tx.try_reserve().unwrap();
    assert_eq!(
        tx.send(1),
        Err(SendError::Overloaded(1)),
        "the room is the permit's"
    );
    drop(permit);
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(tx.send(2), Err(SendError::Overloaded(2)));
    assert_eq!(rx.try_recv(), Ok(1));
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.rejected), (1, 1, 2));

    // An outstanding permit never stops receivers: a value sent after it is received at
    // once, and dropping the permit then restores exactly the capacity.
    let (tx, rx) = pushpull::mpmc::<u32>(3);
    let permit = tx.try_reserve().unwrap();
    tx.try_send(10).unwrap();
    let (_w, waker) = CountingWaker::new();
    let mut r = rx.recv_async();
    assert_eq!(poll_once(&mut r, &waker), Poll::Ready(Ok(10)));
    tx.try_send(11).unwrap();
    tx.try_send(12).unwrap();
    assert!(
        tx.try_send(13).is_err(),
        "two values and a permit fill three"
    );
    drop(permit);
    tx.try_send(13).unwrap();
    assert!(tx.try_send(14).is_err(), "exactly the capacity again");
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![11, 12, 13]);
    let m = tx.metrics();
    assert_eq!(m.sent, m.received + m.len as u64);

    // SPSC: the same.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(1);
    drop(tx.try_reserve().unwrap());
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn permits_send_without_room_failures() {
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    let p1 = tx.try_reserve().unwrap();
    let p2 = tx.try_reserve().unwrap();
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    assert!(tx.try_send(9).is_err(), "the room is reserved");
    // A value takes its place in line when its permit sends.
    assert_eq!(p2.send(2), Ok(Sent::Queued));
    assert_eq!(rx.try_recv(), Ok(2));
    // Closed meanwhile: a reserved send still goes in, receivers drain it, and report
    // `Closed` only once every permit has sent or been dropped.
    tx.close();
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "a permit is outstanding"
    );
    assert_eq!(p1.send(1), Ok(Sent::Queued));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert!(tx.try_reserve().is_err());

    // Aborted meanwhile: the send fails and hands the value back.
    let (tx, rx) = pushpull::mpmc::<u32>(2);
    let p = tx.try_reserve().unwrap();
    tx.try_send(1).unwrap();
    assert_eq!(rx.abort(), 1);
    assert_eq!(p.send(0), Err(SendError::Closed(0)));
    assert!(rx.try_recv().is_err());
    let m = tx.metrics();
    assert_eq!((m.sent, m.discarded), (1, 1));

    // Drop-oldest: a permit never waits, and its send may evict.
    let (tx, rx) = Builder::new(1).policy(Policy::DropOldest).mpmc::<u32>();
    tx.try_send(1).unwrap();
    let p = tx.try_reserve().unwrap();
    assert_eq!(p.send(2), Ok(Sent::Evicted(1)));
    assert_eq!(rx.try_recv(), Ok(2));

    // SPSC permits.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(1);
    let p = tx.reserve().unwrap();
    let _ = p.send(3);
    assert!(tx.try_reserve().is_err());
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn rendezvous_permits() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    let (_w, waker) = CountingWaker::new();
    let mut r = rx.recv_async();
    assert!(poll_once(&mut r, &waker).is_pending());
    let p = tx.try_reserve().unwrap();
    assert!(
        tx.try_send(1).is_err(),
        "the receiver is claimed by the permit"
    );
    let _ = p.send(2);
    assert_eq!(poll_once(&mut r, &waker), Poll::Ready(Ok(2)));
    // Dropped unused: the receiver goes back in line.
    let mut r = rx.recv_async();
    assert!(poll_once(&mut r, &waker).is_pending());
    drop(tx.try_reserve().unwrap());
    assert_eq!(tx.try_send(3), Ok(()));
    assert_eq!(poll_once(&mut r, &waker), Poll::Ready(Ok(3)));
    // The receiver gives up after being claimed: the permit's value goes to the next one.
    let mut r1 = rx.recv_async();
    assert!(poll_once(&mut r1, &waker).is_pending());
    let p = tx.try_reserve().unwrap();
    drop(r1);
    let _ = p.send(4);
    assert_eq!(rx.try_recv(), Ok(4), "kept for the next receive");
}

#[test]
fn rendezvous_value_handed_to_a_dropped_receiver_is_not_lost() {
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let (_w, waker) = CountingWaker::new();
    let mut r1 = rx.recv_async();
    let mut r2 = rx.recv_async();
    assert!(poll_once(&mut r1, &waker).is_pending());
    assert!(poll_once(&mut r2, &waker).is_pending());
    tx.try_send(1).unwrap(); // handed to r1
    drop(r1);
    assert_eq!(poll_once(&mut r2, &waker), Poll::Ready(Ok(1)));
    // Nobody else waits: kept for the next receive.
    let mut r3 = rx.recv_async();
    assert!(poll_once(&mut r3, &waker).is_pending());
    tx.try_send(2).unwrap();
    drop(r3);
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn rendezvous_close_and_abort() {
    let (_w, waker) = CountingWaker::new();
    // close: a waiting sender gets its value back.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let mut s = tx.send_async(1);
    assert!(poll_once(&mut s, &waker).is_pending());
    rx.close();
    assert!(rx.try_recv().is_err());
    assert_eq!(
        poll_once(&mut s, &waker),
        Poll::Ready(Err(SendError::Closed(1)))
    );
    // abort: a value handed to a waiting receiver is discarded.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let mut r = rx.recv_async();
    assert!(poll_once(&mut r, &waker).is_pending());
    tx.try_send(8).unwrap();
    assert_eq!(tx.abort(), 1);
    assert_eq!(poll_once(&mut r, &waker), Poll::Ready(Err(RecvError)));
    let m = tx.metrics();
    assert_eq!((m.sent, m.received, m.discarded), (1, 0, 1));
}

#[test]
#[cfg_attr(miri, ignore)] // real blocking with generous deadlines
fn rendezvous_reserve_is_woken_by_a_blocking_receiver() {
    // Found by review: only the async receive path woke a waiting `reserve`.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let sender = std::thread::spawn(move || {
        let permit = tx.reserve().unwrap();
        let _ = permit.send(5);
    });
    assert_eq!(rx.recv_timeout(GENEROUS), Ok(5));
    sender.join().unwrap();
}

#[test]
#[cfg_attr(miri, ignore)]
fn rendezvous_permit_dropped_after_close_wakes_its_receiver() {
    // Found by review: `close` does not wake a receiver claimed by a permit, and dropping the
    // permit put it back in line asleep.
    let (tx, rx) = pushpull::mpmc::<u32>(0);
    let receiver = std::thread::spawn(move || rx.recv_timeout(GENEROUS));
    let permit = loop {
        match tx.try_reserve() {
            Ok(p) => break p,
            Err(_) => std::thread::yield_now(), // until the receiver stands in line
        }
    };
    tx.close();
    drop(permit);
    assert_eq!(
        receiver.join().unwrap(),
        Err(pushpull::RecvTimeoutError::Closed)
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn spsc_forgotten_send_futures_do_not_starve_a_blocked_send() {
    // Found by review: two forgotten futures absorbed both wake-ups meant for the producer.
    let (mut tx, rx) = pushpull::spsc::<u32>(1);
    tx.try_send(0).unwrap();
    let (_w, waker) = CountingWaker::new();
    for v in [1, 2] {
        let mut send = tx.send_async(v);
        assert!(poll_once(&mut send, &waker).is_pending());
        std::mem::forget(send);
    }
    let mut rx = rx;
    let sender = std::thread::spawn(move || tx.send_timeout(3, GENEROUS));
    std::thread::sleep(Duration::from_millis(20)); // likely parked by now; not required
    assert_eq!(rx.recv_timeout(GENEROUS), Ok(0));
    assert_eq!(sender.join().unwrap(), Ok(Sent::Queued));
    assert_eq!(rx.recv_timeout(GENEROUS), Ok(3));
}
