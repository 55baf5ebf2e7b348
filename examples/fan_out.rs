//! Exercise 4, a fan-out worker pool: one producer, N workers pulling jobs from one MPMC
//! queue, their results fanned in through a second queue that closes only when every worker
//! is done. Then the rule the pool depends on, broken on purpose: a worker that closes the
//! results queue while the others are still sending.
//!
//! Run it with `cargo run --release --example fan_out`.

use std::thread;

use pushpull::{Metrics, SendError};

/// A job's result, and who computed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub job: u64,
    pub worker: usize,
    pub value: u64,
}

/// The work: the total number of Collatz steps down to 1 from each of the 32 numbers
/// `32 * job + 1 ..= 32 * job + 32`. A few microseconds, uneven from job to job.
pub fn work(job: u64) -> u64 {
    (32 * job + 1..=32 * job + 32)
        .map(|mut n| {
            let mut steps = 0;
            while n != 1 {
                n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
                steps += 1;
            }
            steps
        })
        .sum()
}

/// The aggregate a correct pool must produce, computed on one thread.
pub fn expected_total(jobs: u64) -> u64 {
    (0..jobs).map(work).sum()
}

/// What a run of the pool produced.
#[derive(Debug)]
pub struct PoolReport {
    /// The aggregate: the sum of every result.
    pub total: u64,
    /// For each job, how many results came back for it (1 each in a correct pool).
    pub per_job: Vec<u32>,
    /// How many jobs each worker did.
    pub per_worker: Vec<usize>,
    /// The jobs queue's and the results queue's counters at the end.
    pub jobs: Metrics,
    pub results: Metrics,
}

/// One producer, `workers` workers, one collector (the calling thread).
pub fn run_pool(workers: usize, jobs: u64, capacity: usize) -> PoolReport {
    let (jobs_tx, jobs_rx) = pushpull::mpmc::<u64>(capacity);
    let (results_tx, results_rx) = pushpull::mpmc::<Done>(capacity);

    // A closer reaches the jobs queue's counters at the end without being an end itself.
    let jobs_closer = jobs_tx.closer();

    let producer = thread::spawn(move || {
        for job in 0..jobs {
            let _ = jobs_tx.send(job).expect("the workers are alive");
        }
        // `jobs_tx` is dropped here: the jobs queue closes, and each worker's loop ends once
        // the queue is drained.
    });

    let pool: Vec<_> = (0..workers)
        .map(|worker| {
            // Every worker holds its own clone of both ends.
            let jobs_rx = jobs_rx.clone();
            let results_tx = results_tx.clone();
            thread::spawn(move || {
                let mut done = 0;
                for job in &jobs_rx {
                    let value = work(job);
                    let done_now = Done { job, worker, value };
                    let _ = results_tx
                        .send(done_now)
                        .expect("the results queue is open");
                    done += 1;
                }
                done
                // The worker's `results_tx` is dropped here, and nobody calls `close`: the
                // results queue closes when the LAST sender is gone, that is when the last
                // worker is done, whichever it is, even if it panicked (unwinding drops it).
            })
        })
        .collect();
    // The coordinator's own ends must go, or the fan-in below would wait forever for a
    // sender that never sends (the classic fan-in hang).
    drop((jobs_rx, results_tx));

    // Fan in: the loop ends when the results queue is closed and drained.
    let mut total = 0;
    let mut per_job = vec![0u32; jobs as usize];
    for done in &results_rx {
        total += done.value;
        per_job[done.job as usize] += 1;
    }

    producer.join().unwrap();
    let per_worker = pool.into_iter().map(|w| w.join().unwrap()).collect();
    PoolReport {
        total,
        per_job,
        per_worker,
        jobs: jobs_closer.metrics(),
        results: results_rx.metrics(),
    }
}

/// What happened when one worker closed the results queue.
#[derive(Debug)]
pub struct RogueReport {
    /// Whether the rogue's `close` was the call that closed the queue.
    pub rogue_closed: bool,
    /// The results the collector received before its loop ended.
    pub received: Vec<Done>,
    /// The honest workers' refused sends, as they returned: each carries the value back.
    pub refused: Vec<SendError<Done>>,
    /// The jobs nobody took: discarded with the jobs queue when its last receiver went away
    /// (the jobs queue's `discarded` counter).
    pub unprocessed: u64,
    /// The results queue's counters at the end.
    pub results: Metrics,
}

/// The pool with one deliberately wrong worker: worker 0 does one job, sends its result and
/// then closes the results queue, as if it were the last one. The honest workers stop at
/// their first refused send (a closed queue means nobody will take their results) and hand
/// the refused value back to the caller.
///
/// To make the run repeatable, the rogue finishes before the honest workers start; in a
/// real pool it would close at a random moment and a random number of sends would fail.
pub fn run_with_rogue(workers: usize, jobs: u64) -> RogueReport {
    assert!(workers >= 1 && jobs >= workers as u64);
    let (jobs_tx, jobs_rx) = pushpull::mpmc::<u64>(jobs as usize);
    for job in 0..jobs {
        let _ = jobs_tx.send(job).unwrap(); // all queued up front: the queue holds them
    }
    // A closer keeps the queue's counters within reach without being an end.
    let jobs_closer = jobs_tx.closer();
    drop(jobs_tx);
    let (results_tx, results_rx) = pushpull::mpmc::<Done>(jobs as usize);

    let rogue = {
        let (jobs_rx, results_tx) = (jobs_rx.clone(), results_tx.clone());
        thread::spawn(move || {
            let job = jobs_rx.recv().unwrap();
            let mine = Done {
                job,
                worker: 0,
                value: work(job),
            };
            let _ = results_tx.send(mine).unwrap();
            // THE BUG: "I am done, so the results are done." The others are not.
            results_tx.close()
        })
    };
    let rogue_closed = rogue.join().unwrap();

    let honest: Vec<_> = (1..workers)
        .map(|worker| {
            let (jobs_rx, results_tx) = (jobs_rx.clone(), results_tx.clone());
            thread::spawn(move || {
                for job in &jobs_rx {
                    let done = Done {
                        job,
                        worker,
                        value: work(job),
                    };
                    match results_tx.send(done) {
                        Ok(_) => {}
                        // Go would panic here ("send on closed channel"). pushpull returns
                        // the value; the worker decides: here it stops and reports it.
                        Err(refused) => return Some(refused),
                    }
                }
                None
            })
        })
        .collect();
    drop((jobs_rx, results_tx));

    // The collector's loop ends as soon as the queue is drained: it sees the rogue's
    // close, not the end of the work, and believes it has everything.
    let received: Vec<Done> = results_rx.iter().collect();
    let refused: Vec<_> = honest
        .into_iter()
        .filter_map(|w| w.join().unwrap())
        .collect();
    RogueReport {
        rogue_closed,
        received,
        refused,
        // Every worker has dropped its jobs receiver: what was still queued was discarded.
        unprocessed: jobs_closer.metrics().discarded,
        results: results_rx.metrics(),
    }
}

fn main() {
    const JOBS: u64 = 100_000;
    println!("== A pool of N workers: {JOBS} jobs, queues of 64, results fanned in\n");
    let expected = expected_total(JOBS);
    for workers in [1, 4, 16] {
        let r = run_pool(workers, JOBS, 64);
        let once = r.per_job.iter().all(|&n| n == 1);
        let (least, most) = (
            r.per_worker.iter().min().unwrap(),
            r.per_worker.iter().max().unwrap(),
        );
        println!(
            "N = {workers:>2}: total {} (expected {expected}), every job exactly once: {once}, \
             jobs per worker {least}..{most}",
            r.total
        );
        println!("        results queue: {}", counts(&r.results));
        assert_eq!(r.total, expected);
        assert!(once);
    }

    println!(
        "\n== The same pool with a worker that closes the results queue (4 workers, 1000 jobs)\n"
    );
    let r = run_with_rogue(4, 1000);
    println!("rogue's close() returned {}", r.rogue_closed);
    println!(
        "the collector stopped after {} result(s) and thinks it is done",
        r.received.len()
    );
    for e in &r.refused {
        let kind = match e {
            SendError::Closed(_) => "Closed",
            SendError::Overloaded(_) => "Overloaded",
        };
        let back = e.into_inner(); // `Done` is `Copy`, so is the error
        println!(
            "worker {} got Err({kind}) back from send, holding its result for job {} ({})",
            back.worker, back.job, e
        );
    }
    println!(
        "{} jobs never processed (discarded with the jobs queue)",
        r.unprocessed
    );
    println!("results queue: {}", counts(&r.results));
    println!("  (a send refused by a closed queue is counted nowhere: it never entered)");
}

/// The counters this exercise is about (the full `Display` also shows a sampled high-water
/// mark and the capacity).
fn counts(m: &Metrics) -> String {
    format!(
        "sent {}, received {}, rejected {}, dropped {}, discarded {}",
        m.sent, m.received, m.rejected, m.dropped_newest, m.discarded
    )
}
