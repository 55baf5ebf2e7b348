//! Guide, exercise 2 (examples/backpressure.rs): the producer never gets more than
//! capacity + 1 values ahead of the consumer's finished work, and it pauses once the queue
//! is full. Everything is checked on counters and on the log's order, never on durations.

#[path = "../examples/backpressure.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::GENEROUS;
use example::{observe, Event, Log, Report, What};

/// Where `what` is in the log.
fn position(events: &[Event], what: What) -> usize {
    events
        .iter()
        .position(|e| e.what == what)
        .unwrap_or_else(|| panic!("{what:?} is not in the log: {events:#?}"))
}

/// Checks the bound both ways: on the counters (`ahead`, read after each push returned) and
/// on the log's order (push `v` is logged only after pull `v - capacity - 1`).
fn assert_never_more_than_capacity_plus_one_ahead(report: &Report, capacity: u64) {
    let events = &report.events;
    for event in events {
        if let What::Pushed { value, ahead } = event.what {
            assert!(
                ahead <= capacity + 1,
                "push of {value} was {ahead} ahead, capacity {capacity}: {events:#?}"
            );
            if let Some(earlier) = value.checked_sub(capacity + 1) {
                assert!(
                    position(events, What::Pulled { value: earlier })
                        < position(events, event.what),
                    "{value} pushed before {earlier} was pulled, capacity {capacity}: {events:#?}"
                );
            }
        }
    }
    assert!(report.max_ahead <= capacity + 1);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn every_value_is_pushed_and_pulled_once_in_order() {
    let log = Log::new();
    let report = observe(2, 10, &log, |_| thread::sleep(Duration::from_millis(1)));
    let pushed: Vec<u64> = (report.events.iter())
        .filter_map(|e| match e.what {
            What::Pushed { value, .. } => Some(value),
            _ => None,
        })
        .collect();
    let pulled: Vec<u64> = (report.events.iter())
        .filter_map(|e| match e.what {
            What::Pulled { value } => Some(value),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, (0..10).collect::<Vec<_>>());
    assert_eq!(pulled, (0..10).collect::<Vec<_>>());
    let m = report.metrics;
    assert_eq!((m.sent, m.received, m.len), (10, 10, 0));
    // Blocking backpressure loses nothing.
    assert_eq!((m.dropped_newest, m.evicted_oldest, m.rejected), (0, 0, 0));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn producer_is_never_more_than_capacity_plus_one_ahead() {
    // The bound holds whatever the timing: a slow consumer, a fast one, an uneven one.
    for capacity in [1, 2, 3, 4] {
        let slow = observe(capacity, 10, &Log::new(), |_| {
            thread::sleep(Duration::from_millis(1))
        });
        assert_never_more_than_capacity_plus_one_ahead(&slow, capacity as u64);

        let fast = observe(capacity, 300, &Log::new(), |_| {});
        assert_never_more_than_capacity_plus_one_ahead(&fast, capacity as u64);

        let uneven = observe(capacity, 30, &Log::new(), |value| {
            if value % 4 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        });
        assert_never_more_than_capacity_plus_one_ahead(&uneven, capacity as u64);
    }
}

/// Waits until the log shows something `done` says, failing after `GENEROUS`.
fn wait_for(log: &Log, done: impl Fn(&[Event]) -> bool) {
    let deadline = Instant::now() + GENEROUS;
    while !done(&log.events()) {
        assert!(
            Instant::now() < deadline,
            "gave up waiting: {:#?}",
            log.events()
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn producer_pauses_once_the_queue_is_full() {
    for capacity in [1u64, 2, 3] {
        let log = Log::new();
        let first_blocked = capacity + 1;
        // The consumer holds value 0 until the producer has either found the queue full at
        // value `capacity + 1` (values 1..=capacity fill it, 0 is in the consumer's hands) or,
        // if backpressure were broken, pushed it anyway. Ordered by the log, not by a clock.
        let report = observe(capacity as usize, capacity + 4, &log, |value| {
            if value == 0 {
                wait_for(&log, |events| {
                    events.iter().any(|e| {
                        e.what == What::Full { value: first_blocked }
                            || matches!(e.what, What::Pushed { value, .. } if value == first_blocked)
                    })
                });
            }
        });
        let events = &report.events;
        let full = position(
            events,
            What::Full {
                value: first_blocked,
            },
        );
        let pushed = events
            .iter()
            .position(|e| matches!(e.what, What::Pushed { value, .. } if value == first_blocked))
            .unwrap();
        assert!(full < pushed, "capacity {capacity}: {events:#?}");
        // The value before it went in while the consumer had finished nothing (it still
        // holds value 0, waiting for the `Full` logged after this push): the producer was
        // exactly capacity + 1 ahead, so the bound is reached, not just respected.
        let last_free = What::Pushed {
            value: capacity,
            ahead: capacity + 1,
        };
        assert!(
            position(events, last_free) < full,
            "capacity {capacity}: {events:#?}"
        );
        assert_eq!(report.max_ahead, capacity + 1);
        assert!(report.waits >= 1);
        // The sampled high-water mark reaches the capacity once a send found the queue full.
        assert_eq!(report.metrics.high_water, capacity as usize);
        assert_never_more_than_capacity_plus_one_ahead(&report, capacity);
    }
}
