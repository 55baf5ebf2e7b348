//! Exercise 10 of the guide: a three-stage streaming pipeline (examples/pipeline.rs), threaded
//! and async. The tests drive the example's own functions.

#[path = "../examples/pipeline.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{Exec, GENEROUS};
use example::{counting_alloc, lines, reference, AsyncPipeline, Pipeline, Report, Spawn, Task};

impl Spawn for Exec {
    fn spawn<F>(&self, task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Exec::spawn(self, task)
    }
}

/// Every test takes this first: the allocation counters are process-wide, so the memory
/// tests must not run beside anything else, and the others are short.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    counting_alloc::exclusive()
}

/// Runs `f` on a thread and waits for it at most `GENEROUS`: a hang fails the test.
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()));
    rx.recv_timeout(GENEROUS)
        .unwrap_or_else(|_| panic!("{what} did not end within {GENEROUS:?}"))
}

/// Awaits `f` on `exec`, at most `GENEROUS`.
fn await_within_deadline<T>(exec: &Exec, what: &str, f: impl Future<Output = T>) -> T {
    exec.block_on(async {
        match futures::future::select(Box::pin(f), exec.sleep(GENEROUS)).await {
            futures::future::Either::Left((v, _)) => v,
            futures::future::Either::Right(_) => panic!("{what} did not end within {GENEROUS:?}"),
        }
    })
}

/// Waits (at most `GENEROUS`) until `progress` reports `aggregated` records aggregated.
fn wait_until_aggregated(progress: impl Fn() -> (u64, u64), aggregated: u64) {
    let deadline = Instant::now() + GENEROUS;
    while progress().1 < aggregated {
        assert!(Instant::now() < deadline, "the pipeline made no progress");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---- the output equals a plain loop's ----------------------------------------------------

const SMALL: u64 = 10_000;

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn the_input_has_a_known_share_of_bad_lines() {
    let _alone = alone();
    // 3 lines in 20 are garbage, by construction of the generator.
    let r = reference(lines(SMALL));
    assert_eq!(
        (r.read, r.bad, r.parsed),
        (SMALL, SMALL * 3 / 20, SMALL * 17 / 20)
    );
    assert_eq!(r.aggregated, r.parsed);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn threaded_output_equals_the_single_threaded_loop() {
    let _alone = alone();
    let expected = reference(lines(SMALL));
    // A small capacity too, so the stages wait on each other often.
    for capacity in [1, 7, example::CAPACITY] {
        let got = within_deadline("the pipeline", move || {
            Pipeline::start(lines(SMALL), capacity).join()
        });
        assert_eq!(got, expected, "capacity {capacity}");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn async_output_equals_the_single_threaded_loop_on_every_executor() {
    let _alone = alone();
    let expected = reference(lines(SMALL));
    for exec in Exec::all() {
        for capacity in [1, 7, example::CAPACITY] {
            let p = AsyncPipeline::start(&exec, lines(SMALL), capacity);
            let got = await_within_deadline(&exec, "the pipeline", p.join());
            assert_eq!(got, expected, "{} capacity {capacity}", exec.name());
        }
    }
}

// ---- peak memory does not depend on the input's length -----------------------------------

// The property is about the ratio: 4 times the lines, the same peak, with the exercise's
// sizes (1M and 4M lines; a few seconds per flavor in a debug build).
const SHORT: u64 = 1_000_000;
const LONG: u64 = 4 * SHORT;
/// What may differ between two runs: the text of the lines in flight at the peak. The lines
/// queue fills in both runs (its high-water mark is 1024), so that is about 1024 lines of
/// 8 or 16 bytes either way; observed peaks stay within 1 KiB of each other.
const SLACK: usize = 4 * 1024;

/// Peak heap bytes of `run` over `SHORT` and `LONG` lines, and checks the bound.
fn check_peaks(what: &str, run: impl Fn(u64) -> Report) {
    // Warm up: a first short run makes the one-time allocations (of the runtime, of
    // thread-locals), which would otherwise inflate the first measurement and could hide a
    // growth.
    let _ = run(1_000);
    let (short, peak_short) = counting_alloc::peak_during(|| run(SHORT));
    let (long, peak_long) = counting_alloc::peak_during(|| run(LONG));
    assert_eq!((short.read, long.read), (SHORT, LONG), "{what}");
    println!("{what}: peak {peak_short} B for {SHORT} lines, {peak_long} B for {LONG}");
    assert!(
        peak_long <= peak_short + SLACK,
        "{what}: peak grew with the input: {peak_short} B for {SHORT} lines, {peak_long} B for {LONG}"
    );
    // Buffering the input would take at least a `String` per line, without its text: the
    // pipeline must stay under 2% of that.
    for (n, peak) in [(SHORT, peak_short), (LONG, peak_long)] {
        let buffered = n as usize * size_of::<String>();
        assert!(
            peak * 50 < buffered,
            "{what}: peak {peak} B for {n} lines is not far below {buffered} B"
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn threaded_peak_memory_is_independent_of_the_line_count() {
    let _alone = alone();
    if common::sanitized_build() {
        return;
    }
    check_peaks("threads", |n| {
        Pipeline::start(lines(n), example::CAPACITY).join()
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn async_peak_memory_is_independent_of_the_line_count() {
    let _alone = alone();
    if common::sanitized_build() {
        return;
    }
    // One executor is enough here (made outside the measurement): the bound comes from the
    // queues, and the other tests run the tasks on all three.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    check_peaks("tokio", |n| {
        rt.block_on(AsyncPipeline::start(rt.handle(), lines(n), example::CAPACITY).join())
    });
}

// ---- cancelling mid-stream stops every stage and leaks nothing ----------------------------

/// A line that counts how many lines were made and how many dropped.
struct CountedLine {
    text: String,
    ledger: Arc<Ledger>,
}

#[derive(Default)]
struct Ledger {
    created: AtomicU64,
    dropped: AtomicU64,
}

impl AsRef<str> for CountedLine {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Drop for CountedLine {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// An endless input: only a cancellation ends a pipeline that reads it.
fn endless(ledger: &Arc<Ledger>) -> impl Iterator<Item = CountedLine> + Send + 'static {
    let ledger = ledger.clone();
    lines(u64::MAX).map(move |text| {
        ledger.created.fetch_add(1, Ordering::SeqCst);
        CountedLine {
            text,
            ledger: ledger.clone(),
        }
    })
}

/// What a cancelled run must show: every line made was dropped (none leaked in a queue or a
/// stage), and every line read was parsed, skipped or discarded by the abort, and every
/// record made was aggregated.
fn check_cancelled(what: &str, r: &Report, ledger: &Ledger, mid_stream: u64) {
    let (created, dropped) = (
        ledger.created.load(Ordering::SeqCst),
        ledger.dropped.load(Ordering::SeqCst),
    );
    assert_eq!(
        created,
        dropped,
        "{what}: {} lines leaked ({r:?})",
        created - dropped
    );
    assert!(
        r.aggregated >= mid_stream,
        "{what}: cancelled too early? {r:?}"
    );
    assert_eq!(r.read, r.parsed + r.bad + r.discarded, "{what}: {r:?}");
    assert_eq!(r.parsed, r.aggregated, "{what}: {r:?}");
}

const MID_STREAM: u64 = 5_000;

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn threaded_cancel_mid_stream_stops_every_stage() {
    let _alone = alone();
    for capacity in [1, example::CAPACITY] {
        let ledger = Arc::new(Ledger::default());
        let p = Pipeline::start(endless(&ledger), capacity);
        wait_until_aggregated(|| p.progress(), MID_STREAM);
        p.cancel();
        // Joining every thread proves every stage stopped.
        let r = within_deadline("the cancelled pipeline", move || p.join());
        check_cancelled(
            &format!("threads, capacity {capacity}"),
            &r,
            &ledger,
            MID_STREAM,
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn async_cancel_mid_stream_stops_every_task_on_every_executor() {
    let _alone = alone();
    for exec in Exec::all() {
        for capacity in [1, example::CAPACITY] {
            let ledger = Arc::new(Ledger::default());
            let p = AsyncPipeline::start(&exec, endless(&ledger), capacity);
            wait_until_aggregated(|| p.progress(), MID_STREAM);
            p.cancel();
            // `join` resolves when all three tasks have finished.
            let r = await_within_deadline(&exec, "the cancelled pipeline", p.join());
            let what = format!("{}, capacity {capacity}", exec.name());
            check_cancelled(&what, &r, &ledger, MID_STREAM);
        }
    }
}
