//! Guide, exercise 4: the fan-out worker pool of examples/fan_out.rs.

#[path = "../examples/fan_out.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::GENEROUS;
use example::{expected_total, run_pool, run_with_rogue, work};
use pushpull::SendError;

/// Runs `f` on its own thread; fails (instead of hanging) if it is not done within
/// `GENEROUS` (a pool whose results queue never closes would wait forever), and passes its
/// panic on.
fn within_generous<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let run = thread::spawn(f);
    let deadline = Instant::now() + GENEROUS;
    while !run.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the run did not finish: the results queue never closed?"
        );
        thread::sleep(Duration::from_millis(1));
    }
    run.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn aggregate_is_right_and_each_job_done_once_for_1_4_16_workers() {
    const JOBS: u64 = 3_000;
    let expected = expected_total(JOBS);
    for workers in [1, 4, 16] {
        let r = within_generous(move || run_pool(workers, JOBS, 8));
        assert_eq!(r.total, expected, "aggregate with {workers} workers");
        assert_eq!(r.per_job.len(), JOBS as usize);
        let wrong: Vec<_> = (0..JOBS as usize).filter(|&j| r.per_job[j] != 1).collect();
        assert!(
            wrong.is_empty(),
            "{workers} workers: jobs not processed exactly once: {wrong:?}"
        );
        assert_eq!(r.per_worker.len(), workers);
        assert_eq!(r.per_worker.iter().sum::<usize>(), JOBS as usize);
        // Nothing refused, dropped or left behind on either queue.
        for m in [r.jobs, r.results] {
            assert_eq!((m.sent, m.received), (JOBS, JOBS), "{workers} workers: {m}");
            assert_eq!(
                (m.rejected, m.dropped_newest, m.discarded, m.len),
                (0, 0, 0, 0)
            );
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn a_worker_that_closes_the_results_queue_makes_the_others_sends_fail_with_their_value() {
    const WORKERS: usize = 4;
    const JOBS: u64 = 100;
    let r = within_generous(|| run_with_rogue(WORKERS, JOBS));

    assert!(r.rogue_closed, "the rogue's close is the one that closed");
    // The collector got the rogue's one result and then saw the queue closed.
    assert_eq!(r.received.len(), 1);
    let rogue_job = r.received[0].job;
    assert_eq!(r.received[0].worker, 0);

    // Each honest worker's first send failed: no panic, a `SendError::Closed` carrying the
    // exact result it tried to send.
    assert_eq!(r.refused.len(), WORKERS - 1);
    let mut workers = HashSet::new();
    let mut jobs = HashSet::new();
    for e in &r.refused {
        assert!(matches!(e, SendError::Closed(_)), "refused with {e:?}");
        assert_eq!(e.to_string(), "sending on a closed queue");
        let back = e.into_inner();
        assert_eq!(
            back.value,
            work(back.job),
            "the value handed back is the result"
        );
        assert!((1..WORKERS).contains(&back.worker));
        workers.insert(back.worker);
        jobs.insert(back.job);
    }
    assert_eq!(workers.len(), WORKERS - 1, "one refusal per honest worker");
    assert_eq!(jobs.len(), WORKERS - 1, "distinct jobs");
    assert!(!jobs.contains(&rogue_job));

    // Every job is accounted for exactly once: received, handed back, or never taken.
    assert_eq!(r.unprocessed, JOBS - WORKERS as u64);

    // The refused sends are counted nowhere: they never entered the queue, and `rejected`
    // counts only the Reject policy's overloads. The workers must count them themselves.
    let m = r.results;
    assert_eq!((m.sent, m.received), (1, 1), "{m}");
    assert_eq!(
        (m.rejected, m.dropped_newest, m.discarded),
        (0, 0, 0),
        "{m}"
    );
}
