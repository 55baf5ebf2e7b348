//! Guide, exercise 2: observe backpressure.
//!
//! A producer pushes 10 values into a queue of capacity 2; the consumer spends 100 ms on
//! each. Every push and pull is logged with the time since the start, and the log shows the
//! producer pausing as soon as the queue is full: from then on it pushes one value each time
//! the consumer takes one, never more than capacity + 1 values ahead of the finished work.
//!
//! Run it with `cargo run --release --example backpressure`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use pushpull::{Metrics, TrySendError};

/// One line of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The producer found the queue full: it now waits to push `value`.
    Full { value: u64 },
    /// `value` is in the queue. `ahead`: values pushed minus values the consumer has
    /// finished, read right after the push returned.
    Pushed { value: u64, ahead: u64 },
    /// The consumer took `value` out of the queue and starts working on it.
    Pulled { value: u64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Since the log was made.
    pub at: Duration,
    pub what: What,
}

/// The log both threads write to, in the order they get its lock.
pub struct Log {
    start: Instant,
    events: Mutex<Vec<Event>>,
}

impl Log {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }

    pub fn record(&self, what: What) {
        let at = self.start.elapsed();
        self.events.lock().unwrap().push(Event { at, what });
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Report {
    pub events: Vec<Event>,
    /// The most values the producer was ever ahead of the consumer's finished work.
    pub max_ahead: u64,
    /// How many pushes found the queue full and had to wait.
    pub waits: u64,
    pub metrics: Metrics,
}

/// Pushes `0..values` through a queue of `capacity` to a consumer that calls `work` on each
/// value, logging every step in `log`.
pub fn observe(
    capacity: usize,
    values: u64,
    log: &Log,
    mut work: impl FnMut(u64) + Send,
) -> Report {
    let (mut tx, mut rx) = pushpull::spsc::<u64>(capacity);
    // Values the consumer has finished working on (written by the consumer only).
    let finished = AtomicU64::new(0);
    let finished = &finished;

    thread::scope(|s| {
        let consumer = s.spawn(move || {
            for value in &mut rx {
                log.record(What::Pulled { value });
                work(value);
                // Counted before the next pull: the producer gets past a full queue only
                // after that pull, so it always sees this count (the bound on `ahead`).
                finished.fetch_add(1, Ordering::SeqCst);
            }
            rx.metrics()
        });

        let (mut max_ahead, mut waits) = (0, 0);
        for value in 0..values {
            // `send` alone would do: it waits while the queue is full. Trying first only lets
            // us log *that* it is about to wait.
            match tx.try_send(value) {
                Ok(()) => {}
                Err(TrySendError::Full(value)) => {
                    log.record(What::Full { value });
                    waits += 1;
                    // The backpressure: this blocks until the consumer makes room.
                    let _ = tx.send(value).expect("the consumer is alive");
                }
                Err(TrySendError::Closed(_)) => panic!("the consumer is alive"),
            }
            let ahead = value + 1 - finished.load(Ordering::SeqCst);
            max_ahead = max_ahead.max(ahead);
            log.record(What::Pushed { value, ahead });
        }
        drop(tx); // the producer closes: the consumer drains the queue, then stops

        let metrics = consumer.join().unwrap();
        Report {
            events: log.events(),
            max_ahead,
            waits,
            metrics,
        }
    })
}

fn main() {
    const CAPACITY: usize = 2;
    const VALUES: u64 = 10;
    const WORK: Duration = Duration::from_millis(100);

    println!("capacity {CAPACITY}, {VALUES} values, the consumer works {WORK:?} on each\n");
    println!("{:>10}  {:29}consumer", "time", "producer");
    let log = Log::new();
    let report = observe(CAPACITY, VALUES, &log, |_| thread::sleep(WORK));
    for Event { at, what } in &report.events {
        let ms = at.as_secs_f64() * 1000.0;
        match what {
            What::Full { value } => println!("{ms:7.1} ms  full: waits to push {value}"),
            What::Pushed { value, ahead } => {
                println!("{ms:7.1} ms  pushed {value} ({ahead} ahead)")
            }
            What::Pulled { value } => println!("{ms:7.1} ms  {:29}pulled {value}", ""),
        }
    }
    println!(
        "\nthe producer waited {} times; it was at most {} values ahead of the finished work \
         (capacity {CAPACITY} + the one in the consumer's hands)",
        report.waits, report.max_ahead
    );
    println!("counters: {}", report.metrics);
}
