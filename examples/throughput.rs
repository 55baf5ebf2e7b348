//! Exercise 11, benchmarks: how many values per second move through pushpull in the shapes
//! of `compare/` (one value at a time at five capacities, one producer fanning out to a pool
//! of workers, batches of 1, 16 and 256), and what moving them allocates per value (Go's
//! `-benchmem`).
//!
//! Run it with `cargo run --release --example throughput`. Options, in order: the values per
//! cell, a text that keeps only the cells whose label contains it, and the runs per cell,
//! e.g. `cargo run --release --example throughput -- 100000 "single spsc cap=1024" 1`
//! (`THROUGHPUT_N` sets the values per cell too).
//!
//! This is a quick look, not a benchmark: the median of three runs per cell, no warm-up, no
//! waiting for a quiet machine. The referee, against the peer crates, is `compare/` (see
//! `docs/PERFORMANCE.md`).

#[path = "support/counting_alloc.rs"]
pub mod counting_alloc;
#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

use std::fmt;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// The capacities of the single-value cells, as in `compare/`.
pub const CAPACITIES: [usize; 5] = [0, 1, 8, 64, 1024];
/// The batch sizes of the batched cells.
pub const BATCHES: [usize; 3] = [1, 16, 256];
/// The capacity of the fan-out and batched cells.
pub const BIG: usize = 1024;
/// Values per cell unless told otherwise.
pub const DEFAULT_VALUES: u64 = 500_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Spsc,
    Mpmc,
}

/// One cell: who sends, who receives, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One producer thread, one consumer thread, blocking `send` / `recv`.
    Single { flavor: Flavor, capacity: usize },
    /// One producer, `workers` threads receiving from one MPMC queue of [`BIG`].
    FanOut { workers: usize },
    /// One producer, one consumer, a queue of [`BIG`]: `send_batch` of `batch` values at a
    /// time, `recv_many` of up to `batch`.
    Batched { flavor: Flavor, batch: usize },
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |flavor: &Flavor| match flavor {
            Flavor::Spsc => "spsc",
            Flavor::Mpmc => "mpmc",
        };
        match self {
            Shape::Single { flavor, capacity } => {
                write!(f, "single {} cap={capacity}", name(flavor))
            }
            Shape::FanOut { workers } => write!(f, "fan-out 1P/{workers}C cap={BIG}"),
            Shape::Batched { flavor, batch } => write!(f, "batch {} b={batch}", name(flavor)),
        }
    }
}

/// The demonstration's cells, in the order of `compare/`'s tables. An SPSC queue needs a
/// capacity of at least 1 (the rendezvous is MPMC), so `single spsc cap=0` is not there.
pub fn shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    for capacity in CAPACITIES {
        for flavor in [Flavor::Spsc, Flavor::Mpmc] {
            if !(flavor == Flavor::Spsc && capacity == 0) {
                shapes.push(Shape::Single { flavor, capacity });
            }
        }
    }
    let mut workers = vec![1, 2, 4, 8, cores()];
    workers.sort_unstable();
    workers.dedup();
    shapes.extend(workers.into_iter().map(|workers| Shape::FanOut { workers }));
    for batch in BATCHES {
        for flavor in [Flavor::Spsc, Flavor::Mpmc] {
            shapes.push(Shape::Batched { flavor, batch });
        }
    }
    shapes
}

pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// What passed through: how many values, their sum and the sum of their squares (wrapping).
/// A value lost and another duplicated would have to agree on both sums to go unseen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub sum: u64,
    pub sum_sq: u64,
}

impl Tally {
    pub fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        self.sum_sq = self.sum_sq.wrapping_add(v.wrapping_mul(v));
    }

    pub fn merge(self, other: Tally) -> Tally {
        Tally {
            count: self.count + other.count,
            sum: self.sum.wrapping_add(other.sum),
            sum_sq: self.sum_sq.wrapping_add(other.sum_sq),
        }
    }

    /// The tally of `0..n`, what every cell sends.
    pub fn of(n: u64) -> Tally {
        let mut t = Tally::default();
        (0..n).for_each(|v| t.add(v));
        t
    }
}

/// One run of one cell.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub shape: Shape,
    pub values: u64,
    /// What the producer sent, and what the consumers received between them.
    pub sent: Tally,
    pub received: Tally,
    /// From the first thread's start to the last thread's end (each reads its own clock).
    pub elapsed: Duration,
    /// Heap allocations during the transfer only: the queue was built and the threads
    /// started before it (Go's allocs/op is this divided by `values`).
    pub allocations: usize,
    /// The most heap bytes live at once during the transfer, above what was live before it.
    pub peak_bytes: usize,
}

impl Report {
    /// Every value of `0..values` arrived, exactly once.
    pub fn exactly_once(&self) -> bool {
        self.sent == Tally::of(self.values) && self.received == self.sent
    }

    pub fn items_per_sec(&self) -> f64 {
        self.values as f64 / self.elapsed.as_secs_f64()
    }
}

/// A thread's work in a cell; it returns the tally of what it sent or received.
type Party = Box<dyn FnOnce() -> Tally + Send>;

/// Moves the values `0..n` through a fresh queue in the given shape.
pub fn run(shape: Shape, n: u64) -> Report {
    match shape {
        Shape::Single {
            flavor: Flavor::Spsc,
            capacity,
        } => {
            let (mut tx, mut rx) = pushpull::spsc(capacity);
            let producer = one_by_one(n, move |v| {
                let _ = tx.send(v).expect("the consumer is alive");
            });
            transfer(
                shape,
                n,
                producer,
                vec![until_closed(move || rx.recv().ok())],
            )
        }
        Shape::Single {
            flavor: Flavor::Mpmc,
            capacity,
        } => {
            let (tx, rx) = pushpull::mpmc(capacity);
            let producer = one_by_one(n, move |v| {
                let _ = tx.send(v).expect("the consumer is alive");
            });
            transfer(
                shape,
                n,
                producer,
                vec![until_closed(move || rx.recv().ok())],
            )
        }
        Shape::FanOut { workers } => {
            let (tx, rx) = pushpull::mpmc(BIG);
            let producer = one_by_one(n, move |v| {
                let _ = tx.send(v).expect("the workers are alive");
            });
            let workers = (0..workers)
                .map(|_| {
                    let rx = rx.clone();
                    until_closed(move || rx.recv().ok())
                })
                .collect();
            drop(rx);
            transfer(shape, n, producer, workers)
        }
        Shape::Batched {
            flavor: Flavor::Spsc,
            batch,
        } => {
            let (mut tx, mut rx) = pushpull::spsc(BIG);
            let producer = in_batches(n, batch, move |buf| {
                let _ = tx.send_batch(buf); // under Block it sends all, or stops at Closed
                assert!(buf.is_empty(), "the consumer is alive");
            });
            let consumer = batches_until_closed(batch, move |buf| rx.recv_many(buf, batch).is_ok());
            transfer(shape, n, producer, vec![consumer])
        }
        Shape::Batched {
            flavor: Flavor::Mpmc,
            batch,
        } => {
            let (tx, rx) = pushpull::mpmc(BIG);
            let producer = in_batches(n, batch, move |buf| {
                let _ = tx.send_batch(buf);
                assert!(buf.is_empty(), "the consumer is alive");
            });
            let consumer = batches_until_closed(batch, move |buf| rx.recv_many(buf, batch).is_ok());
            transfer(shape, n, producer, vec![consumer])
        }
    }
}

/// Sends `0..n` one value at a time. The sending handle lives in `send`: it is dropped, and
/// the queue closed, when the party ends.
fn one_by_one(n: u64, mut send: impl FnMut(u64) + Send + 'static) -> Party {
    Box::new(move || {
        let mut sent = Tally::default();
        for v in 0..n {
            send(v);
            sent.add(v);
        }
        sent
    })
}

/// Receives one value at a time until the queue is closed and drained.
fn until_closed(mut recv: impl FnMut() -> Option<u64> + Send + 'static) -> Party {
    Box::new(move || {
        let mut received = Tally::default();
        while let Some(v) = recv() {
            received.add(v);
        }
        received
    })
}

/// Sends `0..n` in batches of `batch`, refilling one `Vec` allocated here, before the
/// transfer: a batch send leaves the `Vec` its buffer, so the transfer allocates nothing.
fn in_batches(n: u64, batch: usize, mut send: impl FnMut(&mut Vec<u64>) + Send + 'static) -> Party {
    let mut buf = Vec::with_capacity(batch);
    Box::new(move || {
        let mut sent = Tally::default();
        let mut next = 0;
        while next < n {
            let end = n.min(next + batch as u64);
            buf.extend(next..end);
            (next..end).for_each(|v| sent.add(v));
            next = end;
            send(&mut buf);
        }
        sent
    })
}

/// Receives batches into one `Vec` (allocated here) until `recv` says the queue is closed
/// and drained.
fn batches_until_closed(
    batch: usize,
    mut recv: impl FnMut(&mut Vec<u64>) -> bool + Send + 'static,
) -> Party {
    let mut buf = Vec::with_capacity(batch);
    Box::new(move || {
        let mut received = Tally::default();
        while recv(&mut buf) {
            buf.drain(..).for_each(|v| received.add(v));
        }
        received
    })
}

/// Runs the producer and the consumers on their own threads and measures the transfer
/// alone. The threads are spawned first (which allocates) and wait at `ready`; the counter
/// is read while they wait, before `go` lets them run, and again once each has passed `end`.
/// Each thread reads the clock itself: the time is from the first start to the last end (the
/// thread that releases them may well be the last to be scheduled).
fn transfer(shape: Shape, n: u64, producer: Party, consumers: Vec<Party>) -> Report {
    let parties = consumers.len() + 2; // the producer, the consumers and this thread
    let (ready, go, end) = (
        Barrier::new(parties),
        Barrier::new(parties),
        Barrier::new(parties),
    );
    thread::scope(|s| {
        let spawn = |work: Party| {
            let (ready, go, end) = (&ready, &go, &end);
            s.spawn(move || {
                ready.wait();
                go.wait();
                let started = Instant::now();
                let tally = work(); // drops the party's queue handle when it returns
                let ended = Instant::now();
                end.wait();
                (tally, started, ended)
            })
        };
        let producer = spawn(producer);
        let consumers: Vec<_> = consumers.into_iter().map(spawn).collect();

        ready.wait();
        let (allocations, live) = (counting_alloc::allocations(), counting_alloc::live());
        counting_alloc::reset_peak();
        go.wait();
        end.wait();
        let allocations = counting_alloc::allocations() - allocations;
        let peak_bytes = counting_alloc::peak().saturating_sub(live);

        let (sent, mut first, mut last) = producer.join().expect("the producer panicked");
        let mut received = Tally::default();
        for consumer in consumers {
            let (tally, started, ended) = consumer.join().expect("a consumer panicked");
            received = received.merge(tally);
            (first, last) = (first.min(started), last.max(ended));
        }
        Report {
            shape,
            values: n,
            sent,
            received,
            elapsed: last - first,
            allocations,
            peak_bytes,
        }
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let values = args
        .next()
        .or_else(|| std::env::var("THROUGHPUT_N").ok())
        .map_or(DEFAULT_VALUES, |a| {
            a.parse().expect("values per cell: a number")
        });
    let only = args.next().unwrap_or_default();
    let reps: usize = args
        .next()
        .map_or(3, |a| a.parse().expect("runs per cell: a number"));

    println!(
        "{values} values per cell (a fifth at capacity 0 and 1, as in compare/), median of \
         {reps} runs; {} cores; no single spsc cap=0 (a rendezvous is MPMC)",
        cores()
    );
    println!(
        "{:<24} {:>9} {:>15} {:>8} {:>7} {:>11}",
        "cell", "M items/s", "min..max", "ns/value", "allocs", "peak +bytes"
    );
    for shape in shapes() {
        let label = shape.to_string();
        if !label.contains(&only) {
            continue;
        }
        // One value per hand-off is slow: capacity 0 and 1 get a fifth of the values.
        let values = match shape {
            Shape::Single { capacity, .. } if capacity <= 1 => (values / 5).max(1),
            _ => values,
        };
        let mut runs: Vec<Report> = (0..reps.max(1)).map(|_| run(shape, values)).collect();
        assert!(
            runs.iter().all(Report::exactly_once),
            "{label}: values lost or duplicated"
        );
        runs.sort_by_key(|r| r.elapsed);
        let (fastest, slowest, r) = (runs[0], runs[runs.len() - 1], runs[runs.len() / 2]);
        let cores = match shape {
            Shape::FanOut { workers } if workers == cores() => " (=cores)",
            _ => "",
        };
        println!(
            "{label:<24} {:>9.2} {:>15} {:>8.1} {:>7} {:>11}{cores}",
            r.items_per_sec() / 1e6,
            format!(
                "{:.2}..{:.2}",
                slowest.items_per_sec() / 1e6,
                fastest.items_per_sec() / 1e6
            ),
            r.elapsed.as_nanos() as f64 / values as f64,
            r.allocations,
            r.peak_bytes,
        );
    }
    println!(
        "(allocs and peak +bytes: the median run's whole transfer, after the queue and the \
         threads were set up; not per value)"
    );
}
