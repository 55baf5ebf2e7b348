//! Exercise 8 of the push-pull guide: a batching stage.
//!
//! Single values come in on one queue; batches of at most `size` values go out on another. A
//! batch leaves as soon as it is full, or `max_delay` after its first value arrived (linger),
//! or when the input closes: a quiet stream never strands a partial batch, and a busy one
//! fills its batches.
//!
//! Run it with `cargo run --release --example batching`.

use std::thread;
use std::time::{Duration, Instant};

use pushpull::{Builder, Producer, Receiver};

/// What a batching stage did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageReport {
    /// Values read from the input.
    pub values: u64,
    /// Batches sent downstream.
    pub batches: u64,
    /// Batches that left full (`size` values); the others left at their deadline or at the
    /// close of the input.
    pub full: u64,
}

/// The stage: reads single values from `input` and sends them on to `output` in batches of
/// at most `size`, each sent as soon as it is full or `max_delay` after its first value
/// arrived. Returns when the input is closed and drained (or nobody takes batches any more);
/// dropping `output` then closes the output queue.
pub fn batcher<T>(
    input: Receiver<T>,
    mut output: Producer<Vec<T>>,
    size: usize,
    max_delay: Duration,
) -> StageReport {
    assert!(size > 0, "a batch holds at least one value");
    let mut report = StageReport::default();
    // Wait as long as it takes for a batch's first value: an idle stage sleeps, and never
    // sends an empty batch or wakes up every `max_delay` for nothing.
    while let Ok(first) = input.recv() {
        // A new Vec for every batch, with room for a full one (no regrowth while it fills).
        // It is moved into the output queue below: from then on the consumer owns it, and
        // this stage could not touch it again if it tried (see the guide's compile_fail).
        let mut batch = Vec::with_capacity(size);
        batch.push(first);
        // Linger: up to `size - 1` more values, waiting at most `max_delay` counted from now,
        // when the first value arrived. What came is in `batch` whatever the result: an
        // error only says why it is partial (`Timeout`: nothing more came in time;
        // `Closed`: the input ended), and a partial batch goes all the same.
        let _ = input.recv_batch_timeout(&mut batch, size - 1, max_delay);

        report.values += batch.len() as u64;
        report.batches += 1;
        report.full += u64::from(batch.len() == size);
        // A full output queue makes this wait, so the input fills up and its producers
        // wait in turn: backpressure reaches the source, batches or not.
        if output.send(batch).is_err() {
            break; // the consumer is gone
        }
    }
    report
}

/// What one run of [`run`] produced.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub stage: StageReport,
    /// The batches, in the order the consumer received them.
    pub batches: Vec<Vec<u64>>,
    /// How long values waited from their send to the receipt of their batch: the median
    /// and the longest.
    pub median_wait: Duration,
    pub longest_wait: Duration,
}

/// `producers` threads send `per_producer` values each (producer `p` sends
/// `p * per_producer ..`), pausing `gap` between sends, into a batching stage; the calling
/// thread receives the batches.
pub fn run(
    producers: u64,
    per_producer: u64,
    gap: Duration,
    size: usize,
    max_delay: Duration,
) -> RunReport {
    let (input_tx, input_rx) = Builder::new(1024).mpmc::<u64>();
    let (output_tx, mut output_rx) = Builder::new(16).spsc::<Vec<u64>>();
    let stage = thread::spawn(move || batcher(input_rx, output_tx, size, max_delay));
    let senders: Vec<_> = (0..producers)
        .map(|p| {
            let tx = input_tx.clone();
            thread::spawn(move || {
                let values = p * per_producer..(p + 1) * per_producer;
                // When each value was sent, to measure how long it waited for its batch.
                let mut sent_at = Vec::with_capacity(per_producer as usize);
                for v in values {
                    sent_at.push(Instant::now());
                    let _ = tx.send(v).unwrap();
                    if !gap.is_zero() {
                        thread::sleep(gap);
                    }
                }
                sent_at
            })
        })
        .collect();
    drop(input_tx); // the last producer to finish closes the input

    let mut received = Vec::new();
    while let Ok(batch) = output_rx.recv() {
        received.push((Instant::now(), batch));
    }
    let stage = stage.join().unwrap();
    let sent_at: Vec<Instant> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    // How long each value waited, from its send to the receipt of its batch.
    let mut waits: Vec<Duration> = received
        .iter()
        .flat_map(|(at, batch)| batch.iter().map(|&v| *at - sent_at[v as usize]))
        .collect();
    waits.sort_unstable();
    RunReport {
        stage,
        batches: received.into_iter().map(|(_, batch)| batch).collect(),
        median_wait: waits.get(waits.len() / 2).copied().unwrap_or_default(),
        longest_wait: waits.last().copied().unwrap_or_default(),
    }
}

fn main() {
    let (size, max_delay) = (64, Duration::from_millis(2));
    println!("== A batching stage: batches of at most {size}, a partial batch waits at most {max_delay:?}\n");
    for (label, producers, per_producer, gap) in [
        ("burst: 4 producers, no pause", 4, 25_000, Duration::ZERO),
        (
            "steady: 1 producer, a value every 100us",
            1,
            2_000,
            Duration::from_micros(100),
        ),
        (
            "trickle: 1 producer, a value every 5ms",
            1,
            20,
            Duration::from_millis(5),
        ),
    ] {
        let r = run(producers, per_producer, gap, size, max_delay);
        let s = r.stage;
        println!("{label}");
        println!(
            "  {} values in {} batches: {} full, {} partial (mean {:.1} values a batch)",
            s.values,
            s.batches,
            s.full,
            s.batches - s.full,
            s.values as f64 / s.batches as f64
        );
        println!(
            "  from send to receipt of its batch, a value waited {:.1?} (median), {:.1?} at most",
            r.median_wait, r.longest_wait
        );
        // Every value in exactly one batch, none larger than `size`, none empty.
        let mut all: Vec<u64> = r.batches.concat();
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..producers * per_producer));
        assert!(r.batches.iter().all(|b| (1..=size).contains(&b.len())));
    }
}
