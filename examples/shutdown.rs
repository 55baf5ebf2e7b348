//! Exercise 6: drain or abort at shutdown.
//!
//! Jobs are queued when the shutdown comes. A *drain* (`close`) stops new sends but lets the
//! workers finish every job already accepted; an *abort* drops the queued jobs at once and
//! says exactly how many it dropped. Each job records its own drop, so the report can show
//! that no job is lost or dropped twice either way.
//!
//! Run it with `cargo run --release --example shutdown`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use pushpull::Metrics;

/// How the queue is shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `close`: no new jobs, the queued ones are still handed out.
    Drain,
    /// `abort`: the queued jobs are dropped now.
    Abort,
}

/// A job that notes in `drops[id]` when it is dropped (processed or discarded).
pub struct Job {
    pub id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

/// What one shutdown did.
#[derive(Debug)]
pub struct Report {
    pub mode: Mode,
    /// Jobs accepted by the queue (every send succeeded).
    pub pushed: usize,
    /// Jobs still queued when the shutdown came.
    pub queued_at_shutdown: usize,
    /// The ids of the jobs the workers processed, in the order each worker took them
    /// (workers one after the other).
    pub processed: Vec<usize>,
    /// What `abort` returned (0 for a drain).
    pub discarded: usize,
    /// The queue's counters after everything stopped.
    pub metrics: Metrics,
    /// How many times each job was dropped: 1 each, if nothing leaked or was freed twice.
    pub drops: Vec<usize>,
}

fn jobs(n: usize) -> (Arc<Vec<AtomicUsize>>, impl Iterator<Item = Job>) {
    let drops: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let made = drops.clone();
    (
        drops,
        (0..n).map(move |id| Job {
            id,
            drops: made.clone(),
        }),
    )
}

/// The work: here, note which job it was. Dropping the job when done is its "processed".
fn process(job: Job) -> usize {
    job.id
}

fn counts(drops: &[AtomicUsize]) -> Vec<usize> {
    drops.iter().map(|d| d.load(Ordering::Relaxed)).collect()
}

/// SPSC: one worker. The shutdown request reaches it after `before` jobs (in a service it
/// would come from a signal or a control channel; a fixed point makes every run the same).
///
/// Only the consumer takes values out of an SPSC queue, so only [`pushpull::Consumer::abort`]
/// can count at once what it discards (`Producer::abort` and a `Closer` return no count):
/// the worker, which owns the consumer, performs the shutdown.
pub fn spsc(mode: Mode, pushed: usize, before: usize) -> Report {
    assert!(before <= pushed, "the worker waits for `before` jobs");
    let (drops, jobs) = jobs(pushed);
    let (mut tx, mut rx) = pushpull::spsc::<Job>(pushed.max(1));
    for job in jobs {
        // Room for all of them: every job is accepted.
        let _ = tx.send(job).expect("the queue is open and has room");
    }

    let worker = thread::spawn(move || {
        let mut processed = Vec::new();
        for _ in 0..before {
            processed.push(process(rx.recv().expect("jobs are queued")));
        }
        let queued = rx.len();
        let discarded = match mode {
            Mode::Drain => {
                rx.close();
                0
            }
            Mode::Abort => rx.abort(),
        };
        // Drain: the queued jobs still come, then `Closed`. Abort: `Closed` at once.
        while let Ok(job) = rx.recv() {
            processed.push(process(job));
        }
        (processed, queued, discarded)
    });
    let (processed, queued_at_shutdown, discarded) = worker.join().unwrap();
    let metrics = tx.metrics();
    drop(tx);
    Report {
        mode,
        pushed,
        queued_at_shutdown,
        processed,
        discarded,
        metrics,
        drops: counts(&drops),
    }
}

/// MPMC: `workers` workers share the queue; a supervisor holds a [`pushpull::Closer`] and
/// shuts the queue down once each worker has processed `before` jobs (the workers wait at a
/// barrier meanwhile, so that every run has the same jobs queued at that moment). On an
/// MPMC queue any handle's abort, the closer's included, returns the exact count.
pub fn mpmc(mode: Mode, pushed: usize, workers: usize, before: usize) -> Report {
    assert!(workers >= 1 && workers * before <= pushed);
    let (drops, jobs) = jobs(pushed);
    let (tx, rx) = pushpull::mpmc::<Job>(pushed.max(1));
    for job in jobs {
        let _ = tx.send(job).expect("the queue is open and has room");
    }
    let supervisor = rx.closer();
    // Used twice: "everyone has paused" and "the shutdown is done, go on".
    let pause = Arc::new(Barrier::new(workers + 1));

    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (rx, pause) = (rx.clone(), pause.clone());
            thread::spawn(move || {
                let mut processed = Vec::new();
                for _ in 0..before {
                    processed.push(process(rx.recv().expect("jobs are queued")));
                }
                pause.wait();
                pause.wait();
                while let Ok(job) = rx.recv() {
                    processed.push(process(job));
                }
                processed
            })
        })
        .collect();
    drop(rx); // the workers' clones keep the queue open

    pause.wait();
    let queued_at_shutdown = supervisor.len();
    let discarded = match mode {
        Mode::Drain => {
            supervisor.close();
            0
        }
        Mode::Abort => supervisor.abort().expect("an MPMC abort always counts"),
    };
    pause.wait();

    let processed = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let metrics = tx.metrics();
    drop(tx);
    Report {
        mode,
        pushed,
        queued_at_shutdown,
        processed,
        discarded,
        metrics,
        drops: counts(&drops),
    }
}

fn main() {
    println!("20 jobs queued; the shutdown comes after some are processed.\n");
    println!(
        "{:<18} {:>6} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "queue", "mode", "queued", "processed", "discarded", "metrics", "dropped 1x"
    );
    let runs = [
        ("spsc, 1 worker", spsc(Mode::Drain, 20, 5)),
        ("spsc, 1 worker", spsc(Mode::Abort, 20, 5)),
        ("mpmc, 3 workers", mpmc(Mode::Drain, 20, 3, 3)),
        ("mpmc, 3 workers", mpmc(Mode::Abort, 20, 3, 3)),
    ];
    for (queue, r) in &runs {
        println!(
            "{queue:<18} {:>6} {:>7} {:>9} {:>9} {:>9} {:>10}",
            format!("{:?}", r.mode),
            r.queued_at_shutdown,
            r.processed.len(),
            r.discarded,
            r.metrics.discarded,
            r.drops.iter().all(|&d| d == 1),
        );
        // Every accepted job is either processed or counted by the abort, never both.
        assert_eq!(r.processed.len() + r.discarded, r.pushed);
    }
    println!("\n(queued: jobs in the queue at the shutdown; discarded: what abort returned;");
    println!(
        " metrics: Metrics::discarded afterwards; dropped 1x: every job dropped exactly once)"
    );
}
