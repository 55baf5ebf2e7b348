//! Guide, exercise 3: bounded vs unbounded. The example's runs are paced by the producer's
//! progress, not by a clock (see `Pace` in the example), so the backlog and the memory they
//! report stay within bounds the scheduler cannot move, and these assertions hold on a busy
//! machine.

#[path = "../examples/bounded_vs_unbounded.rs"]
#[allow(dead_code)]
mod example;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use example::{bounded, counting_alloc, unbounded, Unbounded, PAYLOAD_BYTES};

/// The consumer is this many times slower than the producer.
const SLOWDOWN: usize = 8;
/// The smaller run; the larger one offers twice as many values.
const VALUES: usize = 512;
const CAPACITY: usize = 16;
/// Only to fail instead of hanging.
const GENEROUS: Duration = Duration::from_secs(20);

/// Everything a bounded run holds besides its values (the ring of `CAPACITY` `Vec` headers,
/// the queue's shared state, the producer thread's bookkeeping), with room to spare: about
/// 3 KiB are measured.
const OVERHEAD: usize = 16 * 1024;

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn bounded_peak_stays_flat_when_the_work_doubles() {
    let _only_us = counting_alloc::exclusive();
    let once = bounded(VALUES, CAPACITY, SLOWDOWN);
    let twice = bounded(2 * VALUES, CAPACITY, SLOWDOWN);

    for r in [once, twice] {
        // `Block` loses nothing.
        assert_eq!(r.received, r.values, "{r:?}");
        assert!(r.in_order, "{r:?}");
        // The queue never holds more than its capacity, and it did fill: the producer was
        // faster and had to wait.
        assert!(r.max_len <= CAPACITY, "{r:?}");
        assert_eq!(r.max_len, CAPACITY, "{r:?}");
        // Live values: at most `CAPACITY` queued, one being sent, one being checked.
        assert!(
            r.peak_bytes <= (CAPACITY + 2) * PAYLOAD_BYTES + OVERHEAD,
            "{r:?}"
        );
    }
    // Flat: twice the work, the same peak. The two runs differ only in whether, at the worst
    // moment, the consumer still held the value it was checking (one payload), and in what
    // the test harness allocates meanwhile (the counters are process-wide, and starting the
    // next test's thread takes a KiB or two): observed within 2.5 KiB of each other, so 8 KiB
    // of slack, while the unbounded queue grows by hundreds of KiB (see below).
    assert!(
        twice.peak_bytes <= once.peak_bytes + 8 * 1024,
        "once {once:?}, twice {twice:?}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn unbounded_peak_grows_with_the_work() {
    let _only_us = counting_alloc::exclusive();
    let once = unbounded(VALUES, SLOWDOWN);
    let twice = unbounded(2 * VALUES, SLOWDOWN);

    for r in [once, twice] {
        assert_eq!(r.received, r.values, "{r:?}");
        assert!(r.in_order, "{r:?}");
        // When the producer sends its last value, the consumer has taken at most one in
        // `SLOWDOWN` of them: the rest are queued. (At most all of them, of course.)
        assert!(r.max_len >= r.values - r.values / SLOWDOWN, "{r:?}");
        assert!(r.max_len <= r.values, "{r:?}");
        // The backlog is the memory: every queued value holds its payload.
        assert!(r.peak_bytes >= r.max_len * PAYLOAD_BYTES, "{r:?}");
    }
    // Grows: from the bounds above, the longer run's backlog is at least 1.75 times the
    // shorter one's (2 - 2 / SLOWDOWN), so 1.5 holds with margin; its memory is at least
    // 1.75 * 1 KiB per value offered once, while the shorter run's is at most 1 KiB plus the
    // `VecDeque`'s 24-byte slots (up to 48 bytes a value) and a few KiB of threads and
    // state, so 1.5 holds there too.
    assert!(
        twice.max_len * 2 >= once.max_len * 3,
        "once {once:?}, twice {twice:?}"
    );
    assert!(
        twice.peak_bytes * 2 >= once.peak_bytes * 3,
        "once {once:?}, twice {twice:?}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn unbounded_queue_drains_after_close() {
    let _only_us = counting_alloc::exclusive();
    let queue = Arc::new(Unbounded::new());
    // The receiver reports each value, then the end. (A plain thread, and deadlines on the
    // reports, so that a broken queue fails the test instead of hanging it.)
    let (report, reports) = mpsc::channel();
    let receiver = {
        let queue = queue.clone();
        thread::spawn(move || {
            while let Some(v) = queue.recv() {
                report.send(Some(v)).unwrap();
            }
            report.send(None).unwrap();
        })
    };
    // Each time, the receiver waits on an empty queue (the pauses only make that likely, so
    // that a send or a close that forgets to wake it shows): the send must wake it, then the
    // close must end its loop.
    let pause = || thread::sleep(Duration::from_millis(20));
    for v in 1..=3 {
        pause();
        queue.send(v).unwrap();
        assert_eq!(reports.recv_timeout(GENEROUS), Ok(Some(v)));
    }
    pause();
    queue.close();
    assert_eq!(
        reports.recv_timeout(GENEROUS),
        Ok(None),
        "the close wakes the receiver"
    );
    receiver.join().unwrap();
    assert_eq!(
        queue.send(4),
        Err(4),
        "a send after close hands the value back"
    );
    assert_eq!(queue.recv(), None);
    // The receiver took each value before the next was sent.
    assert_eq!(queue.max_len(), 1);
}
