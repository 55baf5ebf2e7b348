//! Guide, exercise 1 (examples/minimal.rs): the sum, the close by the producer, the async
//! variant.

#[path = "../examples/minimal.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::sync::mpsc;
use std::thread;

use common::{Exec, GENEROUS};
use example::{consume, consume_async, produce, Report};

/// Runs `f` on its own thread and waits for it at most `GENEROUS`: a consumer whose loop
/// never ends (a producer that never closes) fails the test instead of hanging it.
fn within_deadline(f: impl FnOnce() -> Report + Send + 'static) -> Report {
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(f());
    });
    done_rx
        .recv_timeout(GENEROUS)
        .expect("the consumer's loop did not end: the producer never closed the queue")
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn sum_is_4950_over_100_values() {
    for capacity in [1, 2, 8, 128] {
        let report = within_deadline(move || consume(produce(100, capacity)));
        assert_eq!(report.sum, 4950, "capacity {capacity}");
        assert_eq!(report.count, 100, "capacity {capacity}");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn iteration_ends_because_the_producer_closed_after_its_last_value() {
    let report = within_deadline(|| consume(produce(100, 4)));
    // The loop ended because the queue is closed (the consumer never closes it) ...
    assert!(report.closed);
    // ... and the close came after the producer's last send: all 100 entered the queue, all
    // 100 were received, nothing was left behind or thrown away.
    let m = report.metrics;
    assert_eq!((m.sent, m.received, m.len, m.discarded), (100, 100, 0, 0));
    assert_eq!(m.capacity, 4);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn an_empty_stream_still_ends() {
    let report = within_deadline(|| consume(produce(0, 4)));
    assert_eq!((report.sum, report.count), (0, 0));
    assert!(report.closed);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn async_variant_on_every_executor() {
    for exec in Exec::all() {
        let name = exec.name();
        let report = within_deadline(move || exec.block_on(consume_async(produce(100, 4))));
        assert_eq!((report.sum, report.count), (4950, 100), "{name}");
        assert!(report.closed, "{name}");
        let m = report.metrics;
        assert_eq!((m.sent, m.received, m.len), (100, 100, 0), "{name}");
    }
}
