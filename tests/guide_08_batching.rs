//! The guide's exercise 8: the batching stage of `examples/batching.rs`.

mod common;
#[path = "../examples/batching.rs"]
#[allow(dead_code)]
mod example;

use std::thread;
use std::time::Duration;

use common::GENEROUS;
use example::{batcher, run, RunReport};
use pushpull::{Builder, RecvTimeoutError};

/// Longer than any test waits: a stage with this linger only sends full batches, and
/// partial ones when its input closes.
const FOREVER: Duration = Duration::from_secs(3600);

/// The shape every run must have: each value in exactly one batch, no batch empty or larger
/// than `size`, each batch its own allocation made for a full batch.
fn check_batches(r: &RunReport, size: usize, values: u64) {
    for b in &r.batches {
        assert!(!b.is_empty(), "an empty batch");
        assert!(b.len() <= size, "a batch of {} (size {size})", b.len());
        assert_eq!(
            b.capacity(),
            size,
            "each batch is a Vec allocated for a full batch"
        );
    }
    // All the batches are alive here: distinct allocations have distinct addresses.
    let mut buffers: Vec<*const u64> = r.batches.iter().map(|b| b.as_ptr()).collect();
    buffers.sort_unstable();
    buffers.dedup();
    assert_eq!(buffers.len(), r.batches.len(), "two batches share a buffer");

    let mut all = r.batches.concat();
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(0..values),
        "not every value exactly once"
    );
    let s = r.stage;
    assert_eq!((s.values, s.batches), (values, r.batches.len() as u64));
    let full = r.batches.iter().filter(|b| b.len() == size).count();
    assert_eq!(s.full, full as u64);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn one_producer_every_value_once_and_in_order() {
    for size in [1, 7, 64] {
        let r = run(1, 3_000, Duration::ZERO, size, Duration::from_millis(1));
        check_batches(&r, size, 3_000);
        // One producer, FIFO queues, one stage: the concatenation is the input itself.
        assert!(r.batches.concat().into_iter().eq(0..3_000));
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn many_producers_every_value_once() {
    let (producers, per) = (3, 2_000);
    let r = run(producers, per, Duration::ZERO, 16, Duration::from_millis(1));
    check_batches(&r, 16, producers * per);
    // Each producer's values keep their order through the stage.
    let all = r.batches.concat();
    for p in 0..producers {
        let mine = all.iter().copied().filter(|v| v / per == p);
        assert!(mine.eq(p * per..(p + 1) * per), "producer {p} reordered");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn a_partial_batch_leaves_at_its_deadline() {
    let size = 16;
    let (tx, input) = Builder::new(64).mpmc::<u64>();
    let (output, mut batches) = Builder::new(4).spsc::<Vec<u64>>();
    let stage = thread::spawn(move || batcher(input, output, size, Duration::from_millis(20)));

    // Fewer values than a batch, and the input stays open: only the deadline can send them.
    let mut next = 0;
    for round in [3, 2] {
        let mut got = Vec::new();
        for v in next..next + round {
            let _ = tx.send(v).unwrap();
        }
        next += round;
        while got.len() < round as usize {
            let batch = batches
                .recv_timeout(GENEROUS)
                .expect("the partial batch never came");
            assert!(batch.len() < size && !batch.is_empty());
            assert_eq!(batch.capacity(), size, "a fresh Vec made for a full batch");
            got.extend(batch);
        }
        assert!(got.into_iter().eq(next - round..next));
        assert!(!tx.is_closed(), "the input was open all along");
    }

    drop(tx);
    assert_eq!(
        batches.recv_timeout(GENEROUS),
        Err(RecvTimeoutError::Closed)
    );
    let report = stage.join().unwrap();
    assert_eq!((report.values, report.full), (5, 0));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn a_full_batch_does_not_wait_for_the_deadline() {
    let size = 8;
    let (tx, input) = Builder::new(64).mpmc::<u64>();
    let (output, mut batches) = Builder::new(4).spsc::<Vec<u64>>();
    let stage = thread::spawn(move || batcher(input, output, size, FOREVER));

    for v in 0..2 * size as u64 {
        let _ = tx.send(v).unwrap();
    }
    // The input stays open and the linger is an hour: only being full sends these.
    for first in [0, size as u64] {
        let batch = batches.recv_timeout(GENEROUS).expect("a full batch waited");
        assert!(batch.into_iter().eq(first..first + size as u64));
    }
    drop(tx);
    assert!(batches.recv_timeout(GENEROUS).is_err());
    assert_eq!(stage.join().unwrap().full, 2);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn closing_the_input_sends_the_last_partial_batch_at_once() {
    let size = 8;
    let (tx, input) = Builder::new(64).mpmc::<u64>();
    let (output, mut batches) = Builder::new(4).spsc::<Vec<u64>>();
    let stage = thread::spawn(move || batcher(input, output, size, FOREVER));

    for v in 0..size as u64 + 3 {
        let _ = tx.send(v).unwrap();
    }
    drop(tx); // the close cuts the hour-long linger short
    let full = batches.recv_timeout(GENEROUS).expect("the full batch");
    let rest = batches.recv_timeout(GENEROUS).expect("the partial batch");
    assert_eq!((full.len(), rest), (size, vec![8, 9, 10]));
    assert_eq!(
        batches.recv_timeout(GENEROUS),
        Err(RecvTimeoutError::Closed)
    );
    let report = stage.join().unwrap();
    assert_eq!((report.values, report.batches, report.full), (11, 2, 1));
}
