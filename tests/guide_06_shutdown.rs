//! Guide, exercise 6: drain vs abort shutdown (examples/shutdown.rs), on SPSC and MPMC.

#[path = "../examples/shutdown.rs"]
#[allow(dead_code)]
mod example;

use example::{Mode, Report};

/// (jobs pushed, jobs each worker processes before the shutdown): values queued at the
/// shutdown in all but the last, which has none left (an abort then discards nothing).
const SPSC_CASES: [(usize, usize); 4] = [(20, 5), (7, 0), (64, 63), (10, 10)];
/// (jobs pushed, workers, jobs each worker processes before the shutdown).
const MPMC_CASES: [(usize, usize, usize); 4] = [(20, 3, 3), (9, 2, 0), (40, 4, 9), (12, 3, 4)];

/// What both modes guarantee: each accepted job is processed or discarded, never both, and
/// dropped exactly once; the counters agree.
fn accounted(r: &Report, before: usize) {
    let mut ids = r.processed.clone();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), r.processed.len(), "a job processed twice: {r:?}");
    assert_eq!(r.queued_at_shutdown, r.pushed - before, "{r:?}");
    assert_eq!(r.processed.len() + r.discarded, r.pushed, "{r:?}");
    assert_eq!(r.metrics.discarded, r.discarded as u64, "{r:?}");
    assert_eq!(r.metrics.sent, r.pushed as u64, "{r:?}");
    assert_eq!(r.metrics.received, r.processed.len() as u64, "{r:?}");
    assert_eq!(
        r.drops,
        vec![1; r.pushed],
        "each job dropped exactly once: {r:?}"
    );
}

fn drained(r: Report, before: usize) {
    accounted(&r, before);
    assert_eq!(r.discarded, 0);
    let mut ids = r.processed;
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..r.pushed).collect::<Vec<_>>(),
        "drain processes 100%"
    );
}

fn aborted(r: Report, before: usize) {
    accounted(&r, before);
    assert_eq!(
        r.processed.len(),
        before,
        "nothing processed after the abort"
    );
    // The count abort returned is exactly the jobs nobody processed.
    let never = (0..r.pushed).filter(|id| !r.processed.contains(id)).count();
    assert_eq!(r.discarded, never);
    assert_eq!(r.discarded, r.queued_at_shutdown);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn spsc_drain_processes_every_queued_job() {
    for (pushed, before) in SPSC_CASES {
        let r = example::spsc(Mode::Drain, pushed, before);
        // One worker, one queue: in order, too.
        assert_eq!(r.processed, (0..pushed).collect::<Vec<_>>());
        drained(r, before);
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn spsc_abort_reports_exactly_what_it_discarded() {
    for (pushed, before) in SPSC_CASES {
        aborted(example::spsc(Mode::Abort, pushed, before), before);
    }
    // With jobs queued, abort processes fewer.
    let r = example::spsc(Mode::Abort, 20, 5);
    assert_eq!((r.processed.len(), r.discarded), (5, 15));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn mpmc_drain_processes_every_queued_job() {
    for (pushed, workers, before) in MPMC_CASES {
        drained(
            example::mpmc(Mode::Drain, pushed, workers, before),
            workers * before,
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn mpmc_abort_reports_exactly_what_it_discarded() {
    for (pushed, workers, before) in MPMC_CASES {
        aborted(
            example::mpmc(Mode::Abort, pushed, workers, before),
            workers * before,
        );
    }
    let r = example::mpmc(Mode::Abort, 20, 3, 3);
    assert_eq!((r.processed.len(), r.discarded), (9, 11));
}

/// Why the SPSC example aborts from the worker: an abort from the producer's side (or a
/// closer) cannot count, as the consumer takes values out; the count shows in
/// `Metrics::discarded` once the consumer has acted.
#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn spsc_abort_elsewhere_counts_once_the_consumer_acts() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    for i in 0..5 {
        let _ = tx.send(i).unwrap();
    }
    assert_eq!(tx.closer().abort(), None);
    assert_eq!(rx.try_recv(), Err(pushpull::TryRecvError::Closed));
    assert_eq!(tx.metrics().discarded, 5);

    // The consumer's own abort returns the count at once.
    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    for i in 0..5 {
        let _ = tx.send(i).unwrap();
    }
    assert_eq!(rx.abort(), 5);
    assert_eq!(tx.metrics().discarded, 5);
}
