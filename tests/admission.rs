#![cfg(not(loom))]
//! The admission limit: never more permits out than the limit, refusals counted, permits
//! given back on drop, waiting (blocking and async, with deadlines) woken by a release or a
//! close, and futures that go away passing their wake-up on. Waits use generous deadlines so
//! that a lost wake-up fails the test instead of hanging it; no verdict depends on timing.

mod harness;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use harness::{let_it_block, scaled, GENEROUS};
use pushpull::{AcquireError, AcquireTimeoutError, Admission, TryAcquireError};

/// Counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn in_flight_never_exceeds_the_limit_under_four_threads() {
    let limit = 3;
    let rounds = scaled(2_000, 20);
    let admission = Admission::new(limit);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (admission, in_flight, peak, refused, start) = (
                admission.clone(),
                in_flight.clone(),
                peak.clone(),
                refused.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                for i in 0..rounds {
                    // Half the workers wait for a permit, half try and count refusals.
                    let permit = if w % 2 == 0 {
                        admission.acquire_timeout(GENEROUS).unwrap()
                    } else {
                        match admission.try_acquire() {
                            Ok(p) => p,
                            Err(TryAcquireError::Overloaded) => {
                                refused.fetch_add(1, SeqCst);
                                continue;
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    };
                    let now = in_flight.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    if i % 3 == 0 {
                        thread::yield_now();
                    }
                    in_flight.fetch_sub(1, SeqCst);
                    drop(permit);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(peak.load(SeqCst) <= limit, "peak {}", peak.load(SeqCst));
    assert!(peak.load(SeqCst) >= 1);
    let m = admission.metrics();
    assert_eq!(m.in_flight, 0);
    assert_eq!(m.refused, refused.load(SeqCst) as u64);
    assert_eq!(admission.in_flight(), 0);
}

#[test]
fn try_acquire_refuses_at_the_limit_and_counts() {
    let admission = Admission::new(2);
    assert_eq!(admission.limit(), 2);
    let a = admission.try_acquire().unwrap();
    let b = admission.try_acquire().unwrap();
    assert_eq!(admission.in_flight(), 2);
    for _ in 0..3 {
        assert_eq!(
            admission.try_acquire().unwrap_err(),
            TryAcquireError::Overloaded
        );
    }
    drop(a);
    assert_eq!(admission.in_flight(), 1);
    let c = admission.try_acquire().unwrap();
    let m = admission.metrics();
    assert_eq!(
        (m.limit, m.in_flight, m.refused, m.closed),
        (2, 2, 3, false)
    );
    // A permit outlives the handles it came from.
    drop(admission.clone());
    let other = admission.clone();
    drop(admission);
    drop((b, c));
    assert_eq!(other.in_flight(), 0);
}

#[test]
fn a_zero_limit_admits_nothing_until_closed() {
    let admission = Admission::new(0);
    assert_eq!(
        admission.try_acquire().unwrap_err(),
        TryAcquireError::Overloaded
    );
    assert_eq!(
        admission.acquire_timeout(Duration::ZERO).unwrap_err(),
        AcquireTimeoutError::Timeout
    );
    assert!(admission.close());
    assert!(!admission.close(), "closed once");
    assert_eq!(
        admission.try_acquire().unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(admission.acquire().unwrap_err(), AcquireError);
}

#[test]
fn a_dropped_permit_wakes_a_blocked_acquire() {
    let admission = Admission::new(1);
    let held = admission.acquire().unwrap();
    let waiter = {
        let admission = admission.clone();
        thread::spawn(move || admission.acquire_timeout(GENEROUS).map(drop))
    };
    let_it_block();
    drop(held);
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert_eq!(admission.in_flight(), 0);
}

#[test]
fn close_wakes_blocking_and_async_waiters() {
    let admission = Admission::new(1);
    let held = admission.acquire().unwrap();
    let blocking = {
        let admission = admission.clone();
        thread::spawn(move || admission.acquire_timeout(GENEROUS).map(drop))
    };
    let asynchronous = {
        let admission = admission.clone();
        thread::spawn(move || futures::executor::block_on(admission.acquire_async()).map(drop))
    };
    let_it_block();
    assert!(admission.close());
    assert_eq!(blocking.join().unwrap(), Err(AcquireTimeoutError::Closed));
    assert_eq!(asynchronous.join().unwrap(), Err(AcquireError));
    // A permit held across the close stays valid, and gives its share back.
    assert_eq!(admission.in_flight(), 1);
    drop(held);
    assert_eq!(admission.in_flight(), 0);
    assert!(admission.metrics().closed);
}

#[test]
fn deadlines() {
    let admission = Admission::new(1);
    // Free: taken even with a zero timeout or a deadline in the past; `Duration::MAX` is
    // not an overflow.
    drop(admission.acquire_timeout(Duration::ZERO).unwrap());
    drop(
        admission
            .acquire_deadline(Instant::now() - Duration::from_millis(5))
            .unwrap(),
    );
    drop(admission.acquire_timeout(Duration::MAX).unwrap());
    let held = admission.try_acquire().unwrap();
    let started = Instant::now();
    assert_eq!(
        admission
            .acquire_timeout(Duration::from_millis(20))
            .unwrap_err(),
        AcquireTimeoutError::Timeout
    );
    assert!(started.elapsed() >= Duration::from_millis(20));
    // The async deadline: any future; one that is ready at once ends the wait.
    let mut f = admission.acquire_async_deadline(std::future::ready(()));
    let waker = Waker::from(Arc::new(Count::default()));
    assert!(matches!(
        poll(&mut f, &waker),
        Poll::Ready(Err(AcquireTimeoutError::Timeout))
    ));
    drop(f);
    drop(held);
    // A permit free at once is taken even when the deadline is ready.
    let mut f = admission.acquire_async_deadline(std::future::ready(()));
    assert!(matches!(poll(&mut f, &waker), Poll::Ready(Ok(_))));
    drop(f);
    assert_eq!(admission.in_flight(), 0);
}

#[test]
fn async_acquire_is_woken_by_a_release_and_a_dropped_future_passes_its_wake_up_on() {
    let admission = Admission::new(1);
    let held = admission.try_acquire().unwrap();
    let (c1, c2) = (Arc::new(Count::default()), Arc::new(Count::default()));
    let (w1, w2) = (Waker::from(c1.clone()), Waker::from(c2.clone()));
    let mut f1 = admission.acquire_async();
    let mut f2 = admission.acquire_async();
    assert!(poll(&mut f1, &w1).is_pending());
    assert!(poll(&mut f2, &w2).is_pending());
    drop(held);
    // The first in line is woken (the second too, as a backup: a future woken and then
    // forgotten must not starve the others).
    assert_eq!(c1.0.load(SeqCst), 1);
    // The first goes away without polling (passing its wake-up on): the second, woken,
    // gets the permit.
    drop(f1);
    assert!(c2.0.load(SeqCst) >= 1);
    match poll(&mut f2, &w2) {
        Poll::Ready(Ok(p)) => drop(p),
        other => panic!("{other:?}"),
    }
    assert_eq!(admission.in_flight(), 0);
}

#[test]
#[cfg_attr(miri, ignore)] // tokio needs system calls Miri does not model
fn async_acquire_on_real_executors() {
    let limit = 2;
    let tasks = 8;
    let per = scaled(200, 5);
    let admission = Admission::new(limit);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (admission, in_flight, peak) =
                    (admission.clone(), in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    for _ in 0..per {
                        let permit = admission.acquire_async().await.unwrap();
                        let now = in_flight.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        tokio::task::yield_now().await;
                        in_flight.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(peak.load(SeqCst) <= limit);
    assert_eq!(admission.in_flight(), 0);
}

#[test]
fn debug_and_display() {
    let admission = Admission::new(1);
    let p = admission.try_acquire().unwrap();
    assert!(format!("{admission:?}").contains("in_flight: 1"));
    assert!(format!("{p:?}").contains("AdmissionPermit"));
    assert_eq!(
        TryAcquireError::Overloaded.to_string(),
        "admission overloaded: every permit is taken"
    );
    assert_eq!(AcquireError.to_string(), "admission closed");
    assert_eq!(
        AcquireTimeoutError::Timeout.to_string(),
        "timed out waiting for an admission permit"
    );
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Admission>();
    assert_send_sync::<pushpull::AdmissionPermit>();
}
