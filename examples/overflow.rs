//! Exercise 7: what each overflow policy does when a fast producer meets a slow consumer.
//!
//! - `Block`: the producer waits for room; nothing is lost.
//! - `DropNewest`: the value being sent is dropped, and the send says so.
//! - `DropOldest`: the oldest queued value is evicted and handed back to the producer; the
//!   consumer sees the newest values.
//! - `Reject`: the send fails with `Overloaded`, handing the value back.
//!
//! Every value ends up either received or reported lost to the producer, and each policy's
//! counter in `metrics()` agrees with what the producer was told.
//!
//! Run it with `cargo run --release --example overflow`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pushpull::{Builder, Metrics, Policy, SendError, Sent};

/// What one run did, from both ends.
#[derive(Debug)]
pub struct Report {
    pub policy: Policy,
    /// Values the producer sent (`0..sent`, in order).
    pub sent: u64,
    /// What the consumer received, in order.
    pub received: Vec<u64>,
    /// Values whose send returned `Sent::DroppedNewest`.
    pub dropped: Vec<u64>,
    /// Values handed back in `Sent::Evicted`.
    pub evicted: Vec<u64>,
    /// Values handed back in `SendError::Overloaded`.
    pub rejected: Vec<u64>,
    /// Sends that found the queue full and stood in line for room (`Block` only): the
    /// queue's `metrics().send_waits`.
    pub waits: u64,
    /// The queue's counters once both ends are done.
    pub metrics: Metrics,
}

/// Busy-waits for `d`: the demo's stand-in for work (sleeps are too coarse for microseconds).
fn work(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Sends `0..values` into an SPSC queue of `capacity` under `policy`, one every
/// `produce_every`, while the consumer spends `consume_every` on each value.
///
/// To make the overload certain rather than a matter of speed, the consumer holds off until
/// the producer has found the queue full once: by then it has tried to send `capacity + 1`
/// values with none taken out, whatever the machine's speed.
pub fn overload(
    policy: Policy,
    capacity: usize,
    values: u64,
    produce_every: Duration,
    consume_every: Duration,
) -> Report {
    let (mut tx, mut rx) = Builder::new(capacity).policy(policy).spsc::<u64>();
    let overloaded = Arc::new(AtomicBool::new(false));

    let producer = {
        let overloaded = overloaded.clone();
        thread::spawn(move || {
            let (mut dropped, mut evicted, mut rejected) = (vec![], vec![], vec![]);
            for v in 0..values {
                work(produce_every);
                let sent = tx.send(v);
                match sent {
                    Ok(Sent::Queued) => continue,
                    Ok(Sent::DroppedNewest) => dropped.push(v),
                    Ok(Sent::Evicted(old)) => evicted.push(old),
                    Err(SendError::Overloaded(back)) => rejected.push(back),
                    Err(SendError::Closed(_)) => unreachable!("the consumer is alive"),
                }
                overloaded.store(true, Ordering::Release);
            }
            // Returning drops `tx`, which closes the queue: the consumer drains it, then stops.
            (dropped, evicted, rejected)
        })
    };

    // Hold off until the queue has overflowed: a send lost a value (the flag), or a `Block`
    // send stands in line for room (`metrics().send_waits`); or the producer is done without
    // that. The limit only turns a broken policy (one that waits when it should not) into a
    // panic instead of a hang.
    let limit = Instant::now() + Duration::from_secs(20);
    while !overloaded.load(Ordering::Acquire)
        && rx.metrics().send_waits == 0
        && !producer.is_finished()
    {
        assert!(
            Instant::now() < limit,
            "the producer is stuck before the overflow"
        );
        thread::yield_now();
    }
    let mut received = Vec::new();
    for v in rx.iter() {
        received.push(v);
        work(consume_every);
    }
    let (dropped, evicted, rejected) = producer.join().unwrap();
    let metrics = rx.metrics();
    Report {
        policy,
        sent: values,
        received,
        dropped,
        evicted,
        rejected,
        waits: metrics.send_waits,
        metrics,
    }
}

fn main() {
    let (capacity, values) = (16, 1_000);
    let (produce, consume) = (Duration::from_micros(10), Duration::from_micros(40));
    println!(
        "{values} values into an SPSC queue of {capacity}, one every {produce:?}; the consumer \
         spends {consume:?} on each\nand starts only once the queue has overflowed.\n"
    );
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>14} {:>13}",
        "policy", "received", "dropped", "evicted", "rejected", "producer waits", "first..last"
    );
    for policy in [
        Policy::Block,
        Policy::DropNewest,
        Policy::DropOldest,
        Policy::Reject,
    ] {
        let r = overload(policy, capacity, values, produce, consume);
        let m = r.metrics;
        println!(
            "{:<11} {:>8} {:>8} {:>8} {:>8} {:>14} {:>13}",
            format!("{policy:?}"),
            m.received,
            m.dropped_newest,
            m.evicted_oldest,
            m.rejected,
            r.waits,
            format!("{}..{}", r.received[0], r.received[r.received.len() - 1]),
        );
        // What the producer was told and what the queue counted agree...
        assert_eq!(m.dropped_newest, r.dropped.len() as u64);
        assert_eq!(m.evicted_oldest, r.evicted.len() as u64);
        assert_eq!(m.rejected, r.rejected.len() as u64);
        // ... and every value is accounted for, exactly once.
        let lost = r.dropped.len() + r.evicted.len() + r.rejected.len();
        assert_eq!(r.received.len() + lost, values as usize);
    }
    println!("\n(dropped, evicted, rejected: the queue's metrics(), equal to what the sends");
    println!(" reported; producer waits: send_waits, the Block sends that stood in line for room)");
}
