//! Bounded vs unbounded: a fast producer and a slow consumer, once through an unbounded queue
//! (written below: a `VecDeque` behind a lock) and once through a bounded pushpull queue.
//! Doubling the work doubles the unbounded queue's memory; the bounded one stays flat.
//!
//! Run it with `cargo run --release --example bounded_vs_unbounded`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;

use pushpull::Builder;

#[path = "support/counting_alloc.rs"]
pub mod counting_alloc;
#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Each value carries 1 KiB on the heap, so a backlog shows up in the memory figures.
pub const PAYLOAD_BYTES: usize = 1024;
type Payload = Vec<u8>;

fn main() {
    const SLOWDOWN: usize = 8;
    const CAPACITY: usize = 64;
    println!(
        "A producer offers values of {PAYLOAD_BYTES} bytes; the consumer is {SLOWDOWN} times \
         slower\n(it takes one value per {SLOWDOWN} offered). Peak memory is the most bytes \
         live above the start.\n"
    );
    println!("queue                values  received  max len  peak memory");
    let runs = [10_000, 20_000].map(|values| {
        let u = unbounded(values, SLOWDOWN);
        let b = bounded(values, CAPACITY, SLOWDOWN);
        print_row("unbounded", &u);
        print_row(&format!("bounded ({CAPACITY})"), &b);
        (u, b)
    });
    let [(u1, b1), (u2, b2)] = runs;
    println!(
        "\nTwice the work: the unbounded peak grew {:.2}x, the bounded peak {:.2}x.",
        u2.peak_bytes as f64 / u1.peak_bytes as f64,
        b2.peak_bytes as f64 / b1.peak_bytes as f64,
    );
}

fn print_row(name: &str, r: &Report) {
    println!(
        "{name:<18} {:>8} {:>9} {:>8} {:>8} KiB{}",
        r.values,
        r.received,
        r.max_len,
        r.peak_bytes / 1024,
        if r.in_order { "" } else { "  (out of order!)" },
    );
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Values the producer offered.
    pub values: usize,
    /// Values the consumer received.
    pub received: usize,
    /// Whether they arrived in the order sent.
    pub in_order: bool,
    /// The longest the queue got.
    pub max_len: usize,
    /// The most bytes live at once above what was live at the start (queue, values, threads).
    pub peak_bytes: usize,
}

/// `values` values through the unbounded queue below, the consumer `slowdown` times slower.
pub fn unbounded(values: usize, slowdown: usize) -> Report {
    let ((received, in_order, max_len), peak_bytes) = counting_alloc::peak_during(|| {
        let queue = Unbounded::new();
        let pace = Pace::new(slowdown);
        thread::scope(|s| {
            s.spawn(|| {
                produce(values, &pace, |v| queue.send(v).expect("only we close"));
                queue.close();
            });
            // `send` never waits, so the producer is never stuck: only its progress paces
            // the consumer.
            let (received, in_order) = consume(|n| {
                pace.wait_turn(n, || false);
                queue.recv()
            });
            (received, in_order, queue.max_len())
        })
    });
    Report {
        values,
        received,
        in_order,
        max_len,
        peak_bytes,
    }
}

/// `values` values through a bounded pushpull queue of `capacity` with the default policy,
/// `Block`: a send waits while the queue is full.
pub fn bounded(values: usize, capacity: usize, slowdown: usize) -> Report {
    let ((received, in_order, max_len), peak_bytes) = counting_alloc::peak_during(|| {
        // An exact high-water mark, as the unbounded queue's `max_len`.
        let (mut tx, mut rx) = Builder::new(capacity).exact_high_water().spsc::<Payload>();
        let pace = Pace::new(slowdown);
        thread::scope(|s| {
            s.spawn(|| {
                produce(values, &pace, |v| {
                    let _ = tx.send(v).expect("the consumer outlives the producer");
                });
                drop(tx); // closes the queue: the consumer drains it, then stops
            });
            // A full queue is the one place the producer waits, and then only the consumer
            // can work: it takes its turn at once.
            let (received, in_order) = consume(|n| {
                pace.wait_turn(n, || rx.is_full());
                rx.recv().ok()
            });
            (received, in_order, rx.metrics().high_water)
        })
    });
    Report {
        values,
        received,
        in_order,
        max_len,
        peak_bytes,
    }
}

/// The producer: offers `values` values as fast as `send` takes them.
fn produce(values: usize, pace: &Pace, mut send: impl FnMut(Payload)) {
    for i in 0..values {
        pace.offered();
        send(vec![i as u8; PAYLOAD_BYTES]); // tagged with its index, to check the order
    }
    pace.finished();
}

/// The consumer: takes values until the queue ends (`next(n)` returns the `n`-th value, 1 for
/// the first, or `None`). Returns how many it got and whether they came in order.
fn consume(mut next: impl FnMut(usize) -> Option<Payload>) -> (usize, bool) {
    let mut received = 0;
    let mut in_order = true;
    while let Some(value) = next(received + 1) {
        in_order &= value.len() == PAYLOAD_BYTES && value[0] == received as u8;
        received += 1;
    }
    (received, in_order)
}

/// A slow consumer without a clock. Sleeping per value would make the backlog depend on the
/// scheduler; instead the consumer's clock is the producer's progress: it may take its `n`-th
/// value once the producer has offered `slowdown * n` values, has offered them all, or is
/// stuck. So the consumer is at least `slowdown` times slower by construction (slower still
/// if the scheduler favours the producer), and the backlog stays within bounds no scheduler
/// can move: on an idle machine or a busy one, the runs tell the same story.
struct Pace {
    slowdown: usize,
    offered: AtomicUsize,
    finished: AtomicBool,
}

impl Pace {
    fn new(slowdown: usize) -> Self {
        Self {
            slowdown,
            offered: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        }
    }

    fn offered(&self) {
        // Ordering: Relaxed: a count for pacing; the values travel through the queue, whose
        // own synchronization publishes them.
        self.offered.fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// Waits until the consumer may take its `n`-th value; `stuck` tells whether the producer
    /// cannot go on until the consumer takes one.
    fn wait_turn(&self, n: usize, stuck: impl Fn() -> bool) {
        while self.offered.load(Ordering::Relaxed) < self.slowdown * n
            && !self.finished.load(Ordering::Relaxed)
            && !stuck()
        {
            thread::yield_now();
        }
    }
}

/// An unbounded queue as it is usually written: a `VecDeque` behind a lock, and a condition
/// variable for the receiver to wait on. `send` never waits, so nothing ever tells the
/// producer to slow down: a backlog just grows the `VecDeque`.
pub struct Unbounded<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    max_len: usize,
}

impl<T> Unbounded<T> {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                max_len: 0,
            }),
            not_empty: Condvar::new(),
        }
    }

    /// Queues `value`, or hands it back if the queue is closed.
    pub fn send(&self, value: T) -> Result<(), T> {
        let mut state = self.state.lock().unwrap();
        if state.closed {
            return Err(value);
        }
        state.items.push_back(value);
        state.max_len = state.max_len.max(state.items.len());
        drop(state); // the woken receiver should not find the lock still held
        self.not_empty.notify_one();
        Ok(())
    }

    /// The oldest value, waiting for one; `None` once the queue is closed and empty.
    pub fn recv(&self) -> Option<T> {
        let state = self.state.lock().unwrap();
        let mut state = self
            .not_empty
            .wait_while(state, |s| s.items.is_empty() && !s.closed)
            .unwrap();
        state.items.pop_front()
    }

    /// Closes the queue: later sends fail, and receivers get what is queued, then `None`.
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.not_empty.notify_all();
    }

    /// The longest the queue has been.
    pub fn max_len(&self) -> usize {
        self.state.lock().unwrap().max_len
    }
}

impl<T> Default for Unbounded<T> {
    fn default() -> Self {
        Self::new()
    }
}
