//! Guide, exercise 7: the overflow policies under overload (examples/overflow.rs).
//!
//! The overload is certain, not a matter of speed: the example's consumer starts only once
//! the producer has found the queue full, so it happens even when the producer is the slow
//! one. What follows varies from run to run; every assertion holds for any interleaving.

#[path = "../examples/overflow.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use example::Report;
use pushpull::Policy;

const CAPACITY: usize = 8;
const VALUES: u64 = 200;

/// (produce_every, consume_every): unpaced, a slow producer (after the hold-off the consumer
/// keeps up: the overload must come from the hold-off alone), a slow consumer.
const PACES: [(u64, u64); 3] = [(0, 0), (20, 0), (0, 20)];

/// Runs `check` on a few runs of `policy` at each pace.
fn runs(policy: Policy, check: impl Fn(&Report)) {
    for (produce, consume) in PACES {
        for _ in 0..2 {
            let r = example::overload(
                policy,
                CAPACITY,
                VALUES,
                Duration::from_micros(produce),
                Duration::from_micros(consume),
            );
            accounted(&r);
            check(&r);
        }
    }
}

fn increasing(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Each value is either received or reported lost to the producer (dropped, evicted or
/// rejected), exactly once; the queue's counters say the same.
fn accounted(r: &Report) {
    let mut all: Vec<u64> = [&r.received, &r.dropped, &r.evicted, &r.rejected]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..r.sent).collect::<Vec<_>>(), "{r:?}");
    assert!(
        increasing(&r.received),
        "one producer, one consumer: in order"
    );
    let m = r.metrics;
    assert_eq!(m.received, r.received.len() as u64, "{m:?}");
    assert_eq!(m.dropped_newest, r.dropped.len() as u64, "{m:?}");
    assert_eq!(m.evicted_oldest, r.evicted.len() as u64, "{m:?}");
    assert_eq!(m.rejected, r.rejected.len() as u64, "{m:?}");
    // Dropped-newest and rejected values never entered the queue; evicted ones did.
    assert_eq!(m.sent, r.sent - m.dropped_newest - m.rejected, "{m:?}");
    assert_eq!(m.sent, m.received + m.evicted_oldest + m.discarded, "{m:?}");
    assert_eq!((m.discarded, m.len), (0, 0), "{m:?}");
    // The consumer held off until the queue was full.
    assert_eq!(m.high_water, CAPACITY, "{m:?}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn block_stalls_the_producer_and_loses_nothing() {
    runs(Policy::Block, |r| {
        assert_eq!(r.received, (0..VALUES).collect::<Vec<_>>());
        assert!(r.waits >= 1, "the producer waited: {r:?}");
        let m = r.metrics;
        assert_eq!((m.dropped_newest, m.evicted_oldest, m.rejected), (0, 0, 0));
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn drop_newest_drops_the_values_being_sent() {
    runs(Policy::DropNewest, |r| {
        assert!(r.metrics.dropped_newest > 0, "{r:?}");
        assert!(increasing(&r.dropped));
        assert_eq!((r.evicted.len(), r.rejected.len(), r.waits), (0, 0, 0));
        // The first `CAPACITY` values were queued before the consumer started, and the
        // next one was the first dropped.
        let first: Vec<u64> = (0..CAPACITY as u64).collect();
        assert_eq!(r.received[..CAPACITY], first[..]);
        assert_eq!(r.dropped[0], CAPACITY as u64);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn drop_oldest_hands_the_evicted_values_back() {
    runs(Policy::DropOldest, |r| {
        assert!(r.metrics.evicted_oldest > 0, "{r:?}");
        assert_eq!((r.dropped.len(), r.rejected.len(), r.waits), (0, 0, 0));
        // The oldest go first: 0 was evicted to make room for CAPACITY, before the consumer
        // started, and the evictions come out in order.
        assert_eq!(r.evicted[0], 0);
        assert!(increasing(&r.evicted));
        assert!(r.received[0] >= 1);
        // The consumer sees the newest: the last value sent is never evicted.
        assert_eq!(r.received.last(), Some(&(VALUES - 1)));
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn reject_hands_the_value_back_as_overloaded() {
    runs(Policy::Reject, |r| {
        assert!(r.metrics.rejected > 0, "{r:?}");
        assert!(increasing(&r.rejected));
        assert_eq!((r.dropped.len(), r.evicted.len(), r.waits), (0, 0, 0));
        let first: Vec<u64> = (0..CAPACITY as u64).collect();
        assert_eq!(r.received[..CAPACITY], first[..]);
        assert_eq!(r.rejected[0], CAPACITY as u64);
    });
}

/// No overload when everything fits: the consumer starts once the producer is done, and no
/// policy loses or waits.
#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn no_policy_acts_while_there_is_room() {
    for policy in [
        Policy::Block,
        Policy::DropNewest,
        Policy::DropOldest,
        Policy::Reject,
    ] {
        let r = example::overload(policy, 16, 16, Duration::ZERO, Duration::ZERO);
        assert_eq!(r.received, (0..16).collect::<Vec<_>>(), "{policy:?}");
        assert_eq!(r.waits, 0);
        let m = r.metrics;
        assert_eq!((m.dropped_newest, m.evicted_oldest, m.rejected), (0, 0, 0));
    }
}
