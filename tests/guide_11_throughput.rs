//! Guide, exercise 11 (benchmarks): every cell of `examples/throughput.rs` delivers each value
//! exactly once, and moving values allocates nothing per value (only a constant per thread,
//! whatever the number of values). Small sizes; nothing here measures time.

#[path = "../examples/throughput.rs"]
#[allow(dead_code)]
mod example;

use example::{counting_alloc, run, shapes, Report, Shape};

/// Runs `shape` with `n` values and checks that each of `0..n` arrived exactly once.
fn checked(shape: Shape, n: u64) -> Report {
    let r = run(shape, n);
    assert_eq!(r.received.count, n, "{shape}: values received");
    assert!(
        r.exactly_once(),
        "{shape}: sent {:?}, received {:?}, expected {:?}",
        r.sent,
        r.received,
        example::Tally::of(n)
    );
    r
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn single_values_arrive_exactly_once_at_every_capacity() {
    let _only = counting_alloc::exclusive(); // the allocation test counts process-wide
    let cells: Vec<_> = shapes()
        .into_iter()
        .filter(|s| matches!(s, Shape::Single { .. }))
        .collect();
    assert_eq!(cells.len(), 9, "capacities 0, 1, 8, 64, 1024; SPSC from 1");
    for shape in cells {
        checked(shape, 3_001);
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn fan_out_workers_share_every_value_exactly_once() {
    let _only = counting_alloc::exclusive();
    let mut workers = Vec::new();
    for shape in shapes() {
        if let Shape::FanOut { workers: w } = shape {
            workers.push(w);
            checked(shape, 10_000);
        }
    }
    for w in [1, 2, 4, 8, example::cores()] {
        assert!(workers.contains(&w), "no fan-out cell with {w} workers");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn batches_arrive_exactly_once_with_a_partial_last_batch() {
    let _only = counting_alloc::exclusive();
    let mut cells = 0;
    for shape in shapes() {
        if matches!(shape, Shape::Batched { .. }) {
            cells += 1;
            // 5,003 is no multiple of 16 or 256: the last batch is a short one.
            checked(shape, 5_003);
        }
    }
    assert_eq!(cells, 6, "batches of 1, 16 and 256 on both flavors");
}

/// Allocations during the transfer of `n` values: the fewest of two runs (something else in
/// the process, such as the test harness reporting a finished test, may allocate meanwhile).
fn transfer_allocations(shape: Shape, n: u64) -> usize {
    (0..2).map(|_| checked(shape, n).allocations).min().unwrap()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn steady_state_transfer_allocates_nothing_per_value() {
    let _only = counting_alloc::exclusive();
    const N: u64 = 4_000;
    for shape in shapes() {
        let threads = match shape {
            Shape::FanOut { workers } => workers + 1,
            _ => 2,
        };
        // What a thread may allocate once, whatever the number of values: its parker for
        // blocking waits and its nodes in the queue's wait lines. Far below N / 64, so an
        // allocation every 64 values (let alone one per value) would cross it.
        let bound = 8 * threads + 8;
        let at_n = transfer_allocations(shape, N);
        let at_4n = transfer_allocations(shape, 4 * N);
        assert!(
            at_n <= bound && at_4n <= bound,
            "{shape}: {at_n} allocations for {N} values, {at_4n} for {} (bound {bound}): \
             the transfer allocates per value",
            4 * N
        );
    }
}
