//! Exercise 9 of the push-pull guide: credit-based pull.
//!
//! The consumer decides how far its producers may run ahead. The queue has a credit gate
//! (`Builder::credits(window)`): every value that enters spends a credit, and the consumer
//! grants credits back (`grant`) as it finishes values. So the values sent and not yet
//! processed never exceed `window`, which every producer checks after every send, and a
//! consumer that grants slowly holds its producers back.
//!
//! Run it with `cargo run --release --example credit_pull`.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread;

use pushpull::{Builder, Consumer, Metrics, Producer, Receiver, Sender, TrySendError};

/// The queue's capacity: room for far more than the window. Memory would let the producers
/// run 1024 values ahead; the consumer lets them run `window` ahead.
pub const CAPACITY: usize = 1024;

/// How the consumer gives credit back.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Credits granted at a time, once that many values have been processed (1 ..= window).
    pub step: usize,
    /// Grant only once every producer still running is stalled for credit: the consumer is
    /// the bottleneck, the case credit exists for, with counts that do not depend on the
    /// machine (see `wait_until_all_stalled`). Otherwise it grants as soon as it can.
    pub bottleneck: bool,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: u64,
    pub processed: u64,
    /// The sum of the values processed.
    pub sum: u64,
    /// The most values in flight (sent, not yet processed) a producer saw after a send.
    pub max_in_flight: u64,
    /// Sends that found no credit (`try_send` said `Full`) and had to wait for a grant.
    pub stalls: u64,
    /// The consumer's `grant` calls.
    pub grants: u64,
    /// The queue's counters at the end (`credit_waits`, `credits_granted`, ...).
    pub metrics: Metrics,
}

/// What the producers and the consumer count together.
#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    processed: AtomicU64,
    max_in_flight: AtomicU64,
    stalls: AtomicU64,
    /// Producers waiting for credit now, and producers not finished.
    stalled: AtomicU64,
    running: AtomicU64,
}

impl Counts {
    /// A send succeeded: check the credit contract. Each value sent spent a credit, and the
    /// consumer grants credits back only for values it has processed, so
    /// `sent <= granted <= window + processed`. The consumer counts a value as processed
    /// *before* it grants that credit back, and the gate orders a grant before the sends
    /// that spend it, so the load below sees every count the credits we used depend on.
    fn sent_one(&self, window: usize) {
        let sent = self.sent.fetch_add(1, SeqCst) + 1;
        // (The consumer may count a value before its producer does: never below 0.)
        let in_flight = sent.saturating_sub(self.processed.load(SeqCst));
        assert!(
            in_flight <= window as u64,
            "{in_flight} values in flight with a window of {window}"
        );
        self.max_in_flight.fetch_max(in_flight, SeqCst);
    }
}

/// The sending end of either flavor, as a producer uses it.
trait Push {
    fn try_push(&mut self, value: u64) -> Result<(), TrySendError<u64>>;
    fn push(&mut self, value: u64);
}

impl Push for Producer<u64> {
    fn try_push(&mut self, value: u64) -> Result<(), TrySendError<u64>> {
        self.try_send(value)
    }
    fn push(&mut self, value: u64) {
        let _ = self.send(value).unwrap();
    }
}

impl Push for Sender<u64> {
    fn try_push(&mut self, value: u64) -> Result<(), TrySendError<u64>> {
        self.try_send(value)
    }
    fn push(&mut self, value: u64) {
        let _ = self.send(value).unwrap();
    }
}

/// The receiving end of either flavor, as the consumer uses it.
trait Pull {
    fn pull(&mut self) -> Option<u64>;
    fn give(&self, credits: usize);
}

impl Pull for Consumer<u64> {
    fn pull(&mut self) -> Option<u64> {
        self.recv().ok()
    }
    fn give(&self, credits: usize) {
        self.grant(credits);
    }
}

impl Pull for &Receiver<u64> {
    fn pull(&mut self) -> Option<u64> {
        self.recv().ok()
    }
    fn give(&self, credits: usize) {
        self.grant(credits);
    }
}

/// A producer: sends `values`, counting the sends that had to wait for credit.
fn produce(tx: &mut impl Push, values: Range<u64>, window: usize, counts: &Counts) {
    // Counted out when it returns or panics (a failed check must not leave a bottleneck
    // consumer waiting for it to stall).
    let _running = Running(&counts.running);
    for v in values {
        if let Err(e) = tx.try_push(v) {
            // Out of credit (the queue itself has room for more than the window): stall
            // until the consumer grants.
            counts.stalls.fetch_add(1, SeqCst);
            counts.stalled.fetch_add(1, SeqCst);
            tx.push(e.into_inner());
            counts.stalled.fetch_sub(1, SeqCst);
        }
        counts.sent_one(window);
    }
}

/// A producer still running, counted in `Counts::running` until dropped.
struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// The consumer: processes every value, and grants `pace.step` credits back each time it
/// has processed that many. Returns the sum of the values and the number of grants.
fn consume(rx: &mut impl Pull, window: usize, pace: Pace, counts: &Counts) -> (u64, u64) {
    assert!(
        (1..=window).contains(&pace.step),
        "grant 1 ..= window at a time"
    );
    let (mut sum, mut grants, mut owed) = (0, 0, 0);
    let mut granted = window as u64; // credits granted so far, the window included
    while let Some(v) = rx.pull() {
        sum += v; // the work
                  // Counted before its credit goes back (see `Counts::sent_one`).
        counts.processed.fetch_add(1, SeqCst);
        owed += 1;
        if owed == pace.step {
            if pace.bottleneck {
                wait_until_all_stalled(granted, counts);
            }
            rx.give(owed);
            granted += owed as u64;
            grants += 1;
            owed = 0;
        }
    }
    (sum, grants)
}

/// Waits until every producer still running is stalled for credit (or none is left): the
/// consumer as the slowest party, without sleeping for a guessed duration.
fn wait_until_all_stalled(granted: u64, counts: &Counts) {
    // `sent` first: once every credit granted is spent by a send that has finished (a
    // producer counts `sent` after leaving `stalled`), no producer can get past its next
    // `try_push` before our next grant. From then on `stalled` can only grow and `running`
    // only shrink, so two equal loads mean they are equal now.
    while !(counts.running.load(SeqCst) == 0
        || (counts.sent.load(SeqCst) == granted
            && counts.stalled.load(SeqCst) == counts.running.load(SeqCst)))
    {
        thread::yield_now();
    }
}

/// One producer and one consumer on an SPSC queue: `values` values through a window of
/// `window` credits.
pub fn spsc(values: u64, window: usize, pace: Pace) -> Report {
    assert!(
        window <= CAPACITY / 2,
        "the queue has room for more than the window"
    );
    let (mut tx, mut rx) = Builder::new(CAPACITY).credits(window).spsc::<u64>();
    let counts = &Counts::default();
    counts.running.store(1, SeqCst);
    let (sum, grants) = thread::scope(|s| {
        // `move`: dropping `tx` at the end closes the queue.
        s.spawn(move || produce(&mut tx, 0..values, window, counts));
        consume(&mut rx, window, pace, counts)
    });
    report(counts, sum, grants, rx.metrics())
}

/// `producers` producers sending `per_producer` values each to one consumer on an MPMC
/// queue: the window is shared by all the producers.
pub fn mpmc(producers: u64, per_producer: u64, window: usize, pace: Pace) -> Report {
    assert!(
        window <= CAPACITY / 2,
        "the queue has room for more than the window"
    );
    let (tx, rx) = Builder::new(CAPACITY).credits(window).mpmc::<u64>();
    let counts = &Counts::default();
    counts.running.store(producers, SeqCst);
    let (sum, grants) = thread::scope(|s| {
        for p in 0..producers {
            let mut tx = tx.clone();
            let values = p * per_producer..(p + 1) * per_producer;
            s.spawn(move || produce(&mut tx, values, window, counts));
        }
        drop(tx); // the last producer to finish closes the queue
        consume(&mut &rx, window, pace, counts)
    });
    report(counts, sum, grants, rx.metrics())
}

fn report(counts: &Counts, sum: u64, grants: u64, metrics: Metrics) -> Report {
    Report {
        sent: counts.sent.load(SeqCst),
        processed: counts.processed.load(SeqCst),
        sum,
        max_in_flight: counts.max_in_flight.load(SeqCst),
        stalls: counts.stalls.load(SeqCst),
        grants,
        metrics,
    }
}

fn main() {
    let window = 16;
    println!(
        "== Credit-based pull: a queue of {CAPACITY}, a window of {window} credits, granted back \
         by the consumer\n"
    );
    println!("flavor  consumer grants        values  grants  max in flight  stalls  credit waits");
    for (flavor, producers) in [("SPSC", 1), ("MPMC 4", 4)] {
        for (bottleneck, step) in [(false, 1), (false, window), (true, 1), (true, window)] {
            let pace = Pace { step, bottleneck };
            // The bottleneck rounds wait for every producer to stall: fewer values.
            let values = if bottleneck { 2_000 } else { 100_000 };
            let r = if producers == 1 {
                spsc(values, window, pace)
            } else {
                mpmc(producers, values / producers, window, pace)
            };
            assert_eq!(r.sum, values * (values - 1) / 2, "every value, once");
            let when = if bottleneck {
                "when stalled"
            } else {
                "at once"
            };
            println!(
                "{flavor:<7} {step:>2} {when:<18} {:>6}  {:>6}  {:>5} of {window:<4}  {:>6}  {:>12}",
                r.processed, r.grants, r.max_in_flight, r.stalls, r.metrics.credit_waits
            );
        }
    }
    println!(
        "\n\"at once\": credits go back as soon as `step` values are processed; \"when stalled\": \
         only once\nevery producer waits for credit (the consumer is the bottleneck). A stall: \
         a `try_send` out of\ncredit; a credit wait: a `send` that then had to wait \
         (`Metrics::credit_waits`)."
    );
}
