//! Guide, exercise 1: the minimal push-pull.
//!
//! A producer thread pushes 0..100 into a bounded queue and closes it; the consumer only
//! iterates and sums (4950). The producer owns the close: `produce` hands back nothing but the
//! receiving end, so the consumer has no way to end the stream early by mistake, and the loop
//! ends exactly when the producer says "no more".
//!
//! Run it with `cargo run --release --example minimal`.

use std::thread;

use pushpull::{Consumer, Metrics};

/// What the consumer saw.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub sum: u64,
    pub count: u64,
    /// Whether the queue was closed when the consumer's loop ended.
    pub closed: bool,
    pub metrics: Metrics,
}

/// Spawns a producer that pushes `0..n` into a queue of `capacity`, and returns only the
/// receiving end.
pub fn produce(n: u64, capacity: usize) -> Consumer<u64> {
    let (mut tx, rx) = pushpull::spsc(capacity);
    thread::spawn(move || {
        for i in 0..n {
            // Waits while the queue is full: the producer runs at most `capacity` values
            // ahead. An error means the consumer is gone: nobody is left to produce for.
            if tx.send(i).is_err() {
                return;
            }
        }
        // The close. Dropping the only producer closes the queue (returning from this closure
        // would do it too; the explicit drop says it out loud). The consumer still receives
        // everything queued, then its loop ends. A producer that must stay alive after its
        // last value calls `tx.close()` instead.
        drop(tx);
    });
    rx
}

/// The consumer: iterate until the producer closes, nothing else.
pub fn consume(mut rx: Consumer<u64>) -> Report {
    let (mut sum, mut count) = (0, 0);
    // Waits for each value; ends once the queue is closed *and* drained.
    for value in &mut rx {
        sum += value;
        count += 1;
    }
    Report {
        sum,
        count,
        closed: rx.is_closed(),
        metrics: rx.metrics(),
    }
}

/// The same consumer in async code: `recv_async` fails (`RecvError`) once the queue is
/// closed and drained. Runs on any executor.
pub async fn consume_async(mut rx: Consumer<u64>) -> Report {
    let (mut sum, mut count) = (0, 0);
    while let Ok(value) = rx.recv_async().await {
        sum += value;
        count += 1;
    }
    Report {
        sum,
        count,
        closed: rx.is_closed(),
        metrics: rx.metrics(),
    }
}

fn main() {
    let report = consume(produce(100, 8));
    println!(
        "blocking: sum {} of {} values; queue closed: {}",
        report.sum, report.count, report.closed
    );
    println!("          counters: {}", report.metrics);

    // Any executor will do; futures' `block_on` is the smallest.
    let report = futures::executor::block_on(consume_async(produce(100, 8)));
    println!(
        "async:    sum {} of {} values; queue closed: {}",
        report.sum, report.count, report.closed
    );
}
