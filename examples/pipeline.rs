//! Exercise 10, a three-stage streaming pipeline: read -> parse -> aggregate.
//!
//! The reader turns a lazy generator into lines of text (`"s17,-342"`, some of them garbage),
//! the parser turns lines into records and counts the bad ones, the aggregator sums the
//! records. Each stage runs on its own thread (or task) and owns its OUTPUT queue: the
//! sending end lives only inside the stage, so when the stage ends (done, cancelled or
//! panicking) the queue closes and the next stage drains it and stops. One `Closer` on the
//! first queue cancels everything. Memory is bounded by the queues, not by the input.
//!
//! Run it with `cargo run --release --example pipeline`.

use std::future::Future;
use std::pin::Pin;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pushpull::{Closer, Consumer};

#[path = "support/counting_alloc.rs"]
pub mod counting_alloc;
#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Slots in each of the two queues.
pub const CAPACITY: usize = 1024;

/// What a run did. In a finished run `read == parsed + bad + discarded` and
/// `parsed == aggregated`; a cancelled run keeps both equalities too (see `Pipeline::cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Lines the reader put into the first queue.
    pub read: u64,
    /// Lines the parser turned into records.
    pub parsed: u64,
    /// Lines the parser skipped as malformed.
    pub bad: u64,
    /// Records the aggregator summed: its count.
    pub aggregated: u64,
    /// The sum of the records' values.
    pub sum: i64,
    /// Lines a cancellation threw away from the first queue (0 in a finished run).
    pub discarded: u64,
}

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub key: u32,
    pub value: i64,
}

/// Line `i` of the input: `"s<key>,<value>"`, except that 3 lines in 20 are garbage.
/// Deterministic, and the line lengths do not grow with `i`.
pub fn line(i: u64) -> String {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40; // scrambled, but the same every run
    let (key, value) = (h % 64, (h >> 6) as i64 % 2001 - 1000);
    match i % 20 {
        3 => format!("s{key};{value}"),   // wrong separator
        9 => format!("s{key},{value}kg"), // not a number
        15 => String::new(),              // empty line
        _ => format!("s{key},{value}"),
    }
}

/// `n` lines, made one at a time as the reader asks: no `Vec` of the input ever exists.
/// `lines(u64::MAX)` is, for our purposes, endless.
pub fn lines(n: u64) -> impl Iterator<Item = String> + Send + 'static {
    (0..n).map(line)
}

/// The parser's work: `None` for a malformed line.
pub fn parse(line: &str) -> Option<Record> {
    let (key, value) = line.split_once(',')?;
    Some(Record {
        key: key.strip_prefix('s')?.parse().ok()?,
        value: value.parse().ok()?,
    })
}

/// The reference: a plain single-threaded loop over the same input.
pub fn reference<L: AsRef<str>>(input: impl IntoIterator<Item = L>) -> Report {
    let mut r = Report::default();
    for line in input {
        r.read += 1;
        match parse(line.as_ref()) {
            Some(record) => {
                r.parsed += 1;
                r.aggregated += 1;
                r.sum += record.value;
            }
            None => r.bad += 1,
        }
    }
    r
}

fn report(
    read: u64,
    (parsed, bad): (u64, u64),
    (aggregated, sum): (u64, i64),
    lines: &Closer,
) -> Report {
    // Every stage has ended, so the parser has discarded what an abort left in its queue.
    let discarded = lines.metrics().discarded;
    Report {
        read,
        parsed,
        bad,
        aggregated,
        sum,
        discarded,
    }
}

// ---------------------------------------------------------------------------------------
// Threads

/// Stage 1. It makes its output queue and keeps the sending end inside its thread: when the
/// thread ends, for whatever reason, the end is dropped and the queue closes.
fn spawn_reader<L: Send + 'static>(
    input: impl Iterator<Item = L> + Send + 'static,
    capacity: usize,
) -> (Consumer<L>, JoinHandle<u64>) {
    let (mut out, rx) = pushpull::spsc(capacity);
    let thread = thread::spawn(move || {
        let mut read = 0;
        for line in input {
            // Waits while the queue is full (that is the backpressure that bounds memory);
            // fails only when the queue was aborted: we are cancelled, stop reading.
            if out.send(line).is_err() {
                break;
            }
            read += 1;
        }
        drop(out); // done: the parser drains what is queued, then sees `Closed`
        read
    });
    (rx, thread)
}

/// Stage 2: lines in, records out; counts what it parsed and what it skipped.
fn spawn_parser<L: AsRef<str> + Send + 'static>(
    mut lines: Consumer<L>,
    capacity: usize,
) -> (Consumer<Record>, JoinHandle<(u64, u64)>) {
    let (mut out, rx) = pushpull::spsc(capacity);
    let thread = thread::spawn(move || {
        let (mut parsed, mut bad) = (0, 0);
        // Ends when the reader is done and the queue drained, or at once on an abort.
        for line in lines.iter() {
            let Some(record) = parse(line.as_ref()) else {
                bad += 1;
                continue;
            };
            parsed += 1;
            if out.send(record).is_err() {
                break; // the aggregator is gone: nobody wants our output
            }
        }
        drop(out); // the aggregator drains the records, then stops
        (parsed, bad)
        // `lines` is dropped as the closure returns: had we stopped early, the reader's
        // next send would fail. A stage that ends closes both its queues.
    });
    (rx, thread)
}

/// Stage 3: the sink, with no output queue.
fn spawn_aggregator(mut records: Consumer<Record>) -> JoinHandle<(u64, i64)> {
    thread::spawn(move || {
        let (mut count, mut sum) = (0, 0);
        for record in records.iter() {
            count += 1;
            sum += record.value;
        }
        (count, sum)
    })
}

/// A running threaded pipeline.
pub struct Pipeline {
    lines: Closer,
    records: Closer,
    reader: JoinHandle<u64>,
    parser: JoinHandle<(u64, u64)>,
    aggregator: JoinHandle<(u64, i64)>,
}

impl Pipeline {
    /// Starts the three stages, joined by two queues of `capacity`.
    pub fn start<L: AsRef<str> + Send + 'static>(
        input: impl Iterator<Item = L> + Send + 'static,
        capacity: usize,
    ) -> Self {
        let (lines, reader) = spawn_reader(input, capacity);
        let lines_closer = lines.closer(); // not an end: it does not keep the queue open
        let (records, parser) = spawn_parser(lines, capacity);
        let records_closer = records.closer();
        let aggregator = spawn_aggregator(records);
        Pipeline {
            lines: lines_closer,
            records: records_closer,
            reader,
            parser,
            aggregator,
        }
    }

    /// Cancels the run: aborts the first queue. Upstream, the reader's next send fails and
    /// it stops. Downstream, the parser's next receive discards the queued lines and reports
    /// `Closed`; the parser stops and drops its output, which closes the records queue; the
    /// aggregator drains the records already made, and stops.
    pub fn cancel(&self) {
        let _ = self.lines.abort(); // `None` on an SPSC queue: the parser counts the discards
    }

    /// Lines read and records aggregated so far, from the queues' counters.
    pub fn progress(&self) -> (u64, u64) {
        (self.lines.metrics().sent, self.records.metrics().received)
    }

    /// Waits for every stage to end.
    pub fn join(self) -> Report {
        let read = self.reader.join().expect("reader panicked");
        let parsed = self.parser.join().expect("parser panicked");
        let aggregated = self.aggregator.join().expect("aggregator panicked");
        report(read, parsed, aggregated, &self.lines)
    }
}

// ---------------------------------------------------------------------------------------
// Async: the same stages as tasks. The queues' futures need no runtime, so the pipeline
// only needs something that can spawn.

/// A spawned task, awaited for its output.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Whatever runs tasks: tokio, smol, a thread pool, your own executor.
pub trait Spawn {
    fn spawn<F>(&self, task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

/// A running async pipeline: the same shape as [`Pipeline`].
pub struct AsyncPipeline {
    lines: Closer,
    records: Closer,
    reader: Task<u64>,
    parser: Task<(u64, u64)>,
    aggregator: Task<(u64, i64)>,
}

impl AsyncPipeline {
    /// Spawns the three stages as tasks with `spawner`, joined by two queues of `capacity`.
    /// Each task owns its output queue's sending end, as each thread does above.
    pub fn start<L: AsRef<str> + Send + 'static>(
        spawner: &impl Spawn,
        input: impl Iterator<Item = L> + Send + 'static,
        capacity: usize,
    ) -> Self {
        let (mut out, mut lines) = pushpull::spsc(capacity);
        let lines_closer = lines.closer();
        let reader = spawner.spawn(async move {
            let mut read = 0;
            for line in input {
                // Pending while the queue is full: the task yields its thread, not blocks it.
                if out.send_async(line).await.is_err() {
                    break; // aborted: cancelled
                }
                read += 1;
            }
            drop(out); // closes the lines queue: the parser drains it, then sees `Closed`
            read
        });

        let (mut out, mut records) = pushpull::spsc(capacity);
        let records_closer = records.closer();
        let parser = spawner.spawn(async move {
            let (mut parsed, mut bad) = (0, 0);
            while let Ok(line) = lines.recv_async().await {
                let Some(record) = parse(line.as_ref()) else {
                    bad += 1;
                    continue;
                };
                parsed += 1;
                if out.send_async(record).await.is_err() {
                    break; // the aggregator is gone
                }
            }
            drop(out); // closes the records queue
            (parsed, bad)
        });

        let aggregator = spawner.spawn(async move {
            let (mut count, mut sum) = (0, 0);
            while let Ok(record) = records.recv_async().await {
                count += 1;
                sum += record.value;
            }
            (count, sum)
        });

        AsyncPipeline {
            lines: lines_closer,
            records: records_closer,
            reader,
            parser,
            aggregator,
        }
    }

    /// Cancels the run, exactly as [`Pipeline::cancel`]: the abort wakes the tasks waiting
    /// on the queue, whichever thread they run on.
    pub fn cancel(&self) {
        let _ = self.lines.abort();
    }

    /// Lines read and records aggregated so far.
    pub fn progress(&self) -> (u64, u64) {
        (self.lines.metrics().sent, self.records.metrics().received)
    }

    /// Resolves when every task has ended.
    pub async fn join(self) -> Report {
        let read = self.reader.await;
        let parsed = self.parser.await;
        let aggregated = self.aggregator.await;
        report(read, parsed, aggregated, &self.lines)
    }
}

impl Spawn for tokio::runtime::Handle {
    fn spawn<F>(&self, task: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::runtime::Handle::spawn(self, task);
        Box::pin(async move { handle.await.expect("stage panicked") })
    }
}

// ---------------------------------------------------------------------------------------

/// Waits until `progress` says `lines` lines were read (polled every millisecond).
fn wait_for_lines(progress: impl Fn() -> (u64, u64), lines: u64) {
    while progress().0 < lines {
        thread::sleep(Duration::from_millis(1));
    }
}

fn print(what: &str, r: &Report) {
    println!(
        "{what:<9} read {:>9}  parsed {:>9}  bad {:>7}  aggregated {:>9}  sum {:>10}  discarded {:>4}",
        r.read, r.parsed, r.bad, r.aggregated, r.sum, r.discarded
    );
}

fn main() {
    const N: u64 = 4_000_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // Both versions, with the peak heap of the run (above what was live before it).
    let threads = |n| counting_alloc::peak_during(|| Pipeline::start(lines(n), CAPACITY).join());
    let tasks = |n| {
        counting_alloc::peak_during(|| {
            rt.block_on(AsyncPipeline::start(rt.handle(), lines(n), CAPACITY).join())
        })
    };

    println!("== {N} lines through read -> parse -> aggregate, queues of {CAPACITY}\n");
    let expected = reference(lines(N));
    print("loop:", &expected);
    let (threaded, peak_threads) = threads(N);
    print("threads:", &threaded);
    assert_eq!(threaded, expected);
    let (tasked, peak_tasks) = tasks(N);
    print("tokio:", &tasked);
    assert_eq!(tasked, expected);

    println!("\n== Peak heap while running: the queues are the only buffers\n");
    let ((_, short_threads), (_, short_tasks)) = (threads(N / 4), tasks(N / 4));
    println!(
        "{:>7} lines: threads {short_threads} B, tokio {short_tasks} B",
        N / 4
    );
    println!("{N:>7} lines: threads {peak_threads} B, tokio {peak_tasks} B");
    let slots = CAPACITY * (size_of::<String>() + size_of::<Record>());
    println!(
        "the queues' slots: {CAPACITY} x {} B (a line) + {CAPACITY} x {} B (a record) = {slots} B, \
         plus the text of the lines in flight",
        size_of::<String>(),
        size_of::<Record>(),
    );
    let all_lines: usize = lines(N).map(|l| size_of::<String>() + l.capacity()).sum();
    println!(
        "holding all {N} lines at once instead: {} MiB",
        all_lines >> 20
    );

    println!("\n== Cancelled mid-stream: an endless input, cancelled after 1000000 lines\n");
    let p = Pipeline::start(lines(u64::MAX), CAPACITY);
    wait_for_lines(|| p.progress(), 1_000_000);
    p.cancel();
    let r = p.join();
    print("threads:", &r);
    assert_eq!(
        (r.read, r.parsed),
        (r.parsed + r.bad + r.discarded, r.aggregated)
    );

    let p = AsyncPipeline::start(rt.handle(), lines(u64::MAX), CAPACITY);
    wait_for_lines(|| p.progress(), 1_000_000);
    p.cancel();
    let r = rt.block_on(p.join());
    print("tokio:", &r);
    assert_eq!(
        (r.read, r.parsed),
        (r.parsed + r.bad + r.discarded, r.aggregated)
    );
    println!("\nevery line read was parsed, skipped or discarded; every record was aggregated");
}
