//! The guide's exercise 9: credit-based pull, `examples/credit_pull.rs`. The producers
//! assert the window after every send (`Counts::sent_one` in the example), so every run
//! below also checks `sent - processed <= window` on each send.

#[path = "../examples/credit_pull.rs"]
#[allow(dead_code)]
mod example;

use example::{mpmc, spsc, Pace, Report};

/// What every run must show: each value processed once, never more in flight than the
/// window, the credits counted by the gate, and no wait for credit the producers did not
/// see coming (`credit_waits` counts sends that waited; each of those was a stall).
fn check(r: &Report, values: u64, window: usize, pace: Pace) {
    assert_eq!((r.sent, r.processed), (values, values));
    assert_eq!(r.sum, values * (values - 1) / 2, "every value once");
    assert!(r.max_in_flight <= window as u64);
    assert_eq!(r.metrics.sent, values);
    assert_eq!(
        r.metrics.credits_granted,
        window as u64 + r.grants * pace.step as u64,
        "the window, then what the consumer granted"
    );
    assert_eq!(
        r.grants,
        values / pace.step as u64,
        "one grant per step processed"
    );
    assert!(r.metrics.credit_waits <= r.stalls);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn spsc_never_more_in_flight_than_the_window() {
    let (values, window) = (20_000, 8);
    for step in [1, 3, window] {
        let pace = Pace {
            step,
            bottleneck: false,
        };
        check(&spsc(values, window, pace), values, window, pace);
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn mpmc_never_more_in_flight_than_the_window() {
    let (producers, per, window) = (3, 6_000, 8);
    for step in [1, 3, window] {
        let pace = Pace {
            step,
            bottleneck: false,
        };
        check(
            &mpmc(producers, per, window, pace),
            producers * per,
            window,
            pace,
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn spsc_slow_granting_makes_the_producer_stall_more() {
    let (values, window) = (200, 4);
    let run = |step| {
        let pace = Pace {
            step,
            bottleneck: true,
        };
        let r = spsc(values, window, pace);
        check(&r, values, window, pace);
        r.stalls
    };
    // The consumer grants only when the producer is stalled: the producer spends the window,
    // stalls, and from then on stalls once per grant until it has sent everything.
    let (slow, quick) = (run(1), run(window));
    assert_eq!(slow, 196, "(200 - 4) grants of 1");
    assert_eq!(quick, 49, "(200 - 4) / 4 grants of 4");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn mpmc_slow_granting_makes_the_producers_stall_more() {
    let (producers, per, window) = (3, 100, 6);
    let values = producers * per;
    let run = |step| {
        let pace = Pace {
            step,
            bottleneck: true,
        };
        let r = mpmc(producers, per, window, pace);
        check(&r, values, window, pace);
        r
    };
    let (slow, quick) = (run(1), run(window));
    // One credit at a time, granted only when every running producer is stalled: each grant
    // lets one value through, and its producer stalls again unless that was its last value.
    let lower = values - window as u64 - producers;
    assert!(
        slow.stalls >= lower,
        "{} stalls, at least {lower}",
        slow.stalls
    );
    // A stalled producer needs a grant to move: between two grants each producer stalls at
    // most once.
    let upper = producers * (quick.grants + 1);
    assert!(
        quick.stalls <= upper,
        "{} stalls, at most {upper}",
        quick.stalls
    );
    assert!(upper < lower, "the bounds alone order them");
}
