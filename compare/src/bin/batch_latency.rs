//! The latency cost of batching: how long a value waits between its send and the moment
//! the consumer has it, when the consumer takes values one at a time, in batches of what is
//! ready, or lingers for a batch.
//!
//! One producer thread sends a value every `GAP` (spinning on the clock, so the rate is
//! steady and low: the queue is mostly empty, the case where a linger waits); the value is
//! its send time. The consumer thread receives with each strategy in turn and records, for
//! every value, receipt time minus send time. Printed: p50, p99 and max in microseconds, and
//! the consumer's calls per value.
//!
//! Run: `cargo run --release --manifest-path compare/Cargo.toml --bin batch_latency`
//! (on a quiet machine: it measures time).

use std::thread;
use std::time::{Duration, Instant};

const GAP: Duration = Duration::from_micros(20);
const N: usize = 20_000;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn run(name: &str, recv: impl Fn(&pushpull::Receiver<u64>, &mut Vec<u64>) -> bool) {
    let origin = Instant::now();
    let (tx, rx) = pushpull::mpmc::<u64>(1024);
    let producer = thread::spawn(move || {
        let mut next = Instant::now();
        for _ in 0..N {
            while Instant::now() < next {
                std::hint::spin_loop();
            }
            let _ = tx.send(origin.elapsed().as_nanos() as u64).unwrap();
            next += GAP;
        }
    });
    let mut lat = Vec::with_capacity(N);
    let mut calls = 0u64;
    let mut buf = Vec::with_capacity(256);
    while lat.len() < N {
        calls += 1;
        if !recv(&rx, &mut buf) {
            break;
        }
        let now = origin.elapsed().as_nanos() as u64;
        for sent in buf.drain(..) {
            lat.push(now.saturating_sub(sent));
        }
    }
    producer.join().unwrap();
    assert_eq!(lat.len(), N, "CHECK FAILED: {name} lost values");
    lat.sort_unstable();
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {:.2} |",
        percentile(&lat, 0.5) as f64 / 1e3,
        percentile(&lat, 0.99) as f64 / 1e3,
        *lat.last().unwrap() as f64 / 1e3,
        calls as f64 / N as f64
    );
}

fn main() {
    println!(
        "{N} values, one every {} us, MPMC queue of 1024 (u64)\n",
        GAP.as_micros()
    );
    println!("| consumer | p50 us | p99 us | max us | calls per value |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    run("recv (one at a time)", |rx, buf| match rx.recv() {
        Ok(v) => {
            buf.push(v);
            true
        }
        Err(_) => false,
    });
    run("recv_many(64)", |rx, buf| rx.recv_many(buf, 64).is_ok());
    for linger in [100u64, 1000] {
        let name = format!("recv_batch_timeout(64, {linger} us)");
        run(&name, move |rx, buf| {
            !matches!(
                rx.recv_batch_timeout(buf, 64, Duration::from_micros(linger)),
                Err(pushpull::RecvTimeoutError::Closed)
            )
        });
    }
}
