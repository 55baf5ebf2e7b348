//! Batched cells: one producer and one consumer thread, both spinning (as the `spin`
//! cells), moving values in batches of 1, 16 and 256: pushpull's `try_send_batch` /
//! `try_recv_batch` on both flavors and its SPSC chunks (`try_write_chunk`,
//! `try_read_chunk`) against rtrb's chunks (`write_chunk_uninit`, `read_chunk`). Every value is checked (count, sum, order), as everywhere.

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crate::cell::{Cell, Impl, Sizes};
use crate::check::{value, verify, Flow, Span, Tally};

/// A queue of `u64` that moves values in batches without waiting.
trait BatchChan: 'static {
    const NAME: &'static str;
    type Tx: Send;
    type Rx: Send;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    /// Sends from the front of `buf` what fits now; the rest stays in `buf`.
    fn send_some(tx: &mut Self::Tx, buf: &mut Vec<u64>);
    /// Appends up to `max` values to `out`; returns how many.
    fn recv_some(rx: &mut Self::Rx, out: &mut Vec<u64>, max: usize) -> usize;
}

struct PpSpsc;
impl BatchChan for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn send_some(tx: &mut Self::Tx, buf: &mut Vec<u64>) {
        let _ = tx.try_send_batch(buf);
    }
    fn recv_some(rx: &mut Self::Rx, out: &mut Vec<u64>, max: usize) -> usize {
        rx.try_recv_batch(out, max).unwrap_or(0)
    }
}

/// pushpull's zero-copy chunks (the same model as rtrb's).
struct PpSpscChunks;
impl BatchChan for PpSpscChunks {
    const NAME: &'static str = "pushpull spsc chunks";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn send_some(tx: &mut Self::Tx, buf: &mut Vec<u64>) {
        if let Ok(mut chunk) = tx.try_write_chunk(buf.len()) {
            let k = chunk.capacity();
            let written = chunk.fill_from_iter(buf.drain(..k));
            assert_eq!(written, k);
            chunk.commit().expect("open");
        }
    }
    fn recv_some(rx: &mut Self::Rx, out: &mut Vec<u64>, max: usize) -> usize {
        match rx.try_read_chunk(max) {
            Ok(mut chunk) => {
                let (a, b) = chunk.as_slices();
                out.extend_from_slice(a);
                out.extend_from_slice(b);
                let k = chunk.len();
                chunk.consume(k);
                k
            }
            Err(_) => 0,
        }
    }
}

struct PpMpmc;
impl BatchChan for PpMpmc {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn send_some(tx: &mut Self::Tx, buf: &mut Vec<u64>) {
        let _ = tx.try_send_batch(buf);
    }
    fn recv_some(rx: &mut Self::Rx, out: &mut Vec<u64>, max: usize) -> usize {
        rx.try_recv_batch(out, max).unwrap_or(0)
    }
}

struct RtrbChunks;
impl BatchChan for RtrbChunks {
    const NAME: &'static str = "rtrb chunks";
    type Tx = rtrb::Producer<u64>;
    type Rx = rtrb::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(cap)
    }
    fn send_some(tx: &mut Self::Tx, buf: &mut Vec<u64>) {
        let k = tx.slots().min(buf.len());
        if k > 0 {
            let chunk = tx.write_chunk_uninit(k).expect("slots() said so");
            let written = chunk.fill_from_iter(buf.drain(..k));
            assert_eq!(written, k);
        }
    }
    fn recv_some(rx: &mut Self::Rx, out: &mut Vec<u64>, max: usize) -> usize {
        let k = rx.slots().min(max);
        if k > 0 {
            let chunk = rx.read_chunk(k).expect("slots() said so");
            let (a, b) = chunk.as_slices();
            out.extend_from_slice(a);
            out.extend_from_slice(b);
            chunk.commit_all();
        }
        k
    }
}

/// Moves `f.total()` values in batches of `batch`; M items/s.
fn run<C: BatchChan>(f: &Flow, batch: usize) -> Vec<f64> {
    let (mut tx, mut rx) = C::new(f.cap);
    let n = f.total();
    let barrier = Barrier::new(2);
    let (span, tally) = thread::scope(|sc| {
        let barrier = &barrier;
        let producer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let mut buf = Vec::with_capacity(batch);
            let mut next = 0;
            while next < n {
                while buf.len() < batch && next < n {
                    buf.push(value(0, next));
                    next += 1;
                }
                while !buf.is_empty() {
                    C::send_some(&mut tx, &mut buf);
                    if !buf.is_empty() {
                        std::hint::spin_loop();
                    }
                }
            }
            (start, Instant::now())
        });
        let consumer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let mut t = Tally::new();
            let mut out = Vec::with_capacity(batch);
            while t.count < n {
                if C::recv_some(&mut rx, &mut out, batch) == 0 {
                    std::hint::spin_loop();
                }
                for v in out.drain(..) {
                    t.add(v);
                }
            }
            let end = Instant::now();
            assert_eq!(
                C::recv_some(&mut rx, &mut out, 1),
                0,
                "CHECK FAILED: {}: extra value",
                C::NAME
            );
            (start, end, t)
        });
        let mut span = Span::new();
        let (start, end) = producer.join().unwrap();
        span.add(start, end);
        let (start, end, t) = consumer.join().unwrap();
        span.add(start, end);
        (span, t)
    });
    verify(C::NAME, f, &[tally]);
    vec![n as f64 / span.secs() / 1e6]
}

fn entry<C: BatchChan>(label: &str, cap: usize, batch: usize) -> Impl {
    let label = label.to_string();
    Impl {
        name: C::NAME,
        run: Box::new(move |items| {
            let f = Flow {
                label: &label,
                producers: 1,
                consumers: 1,
                cap,
                items,
            };
            run::<C>(&f, batch)
        }),
    }
}

/// Batches of 1, 16 and 256 through a queue of 1024 (the 1 is the single-value baseline of
/// the same loop).
pub fn matrix(sizes: Sizes) -> Vec<Cell> {
    let cap = 1024;
    [1, 16, 256]
        .into_iter()
        .map(|batch| {
            let label = format!("batch SPSC 1P/1C cap={cap} b={batch}");
            let impls = vec![
                entry::<PpSpsc>(&label, cap, batch),
                entry::<PpSpscChunks>(&label, cap, batch),
                entry::<PpMpmc>(&label, cap, batch),
                entry::<RtrbChunks>(&label, cap, batch),
            ];
            Cell::throughput(label, sizes.of(1_000_000), impls)
        })
        .collect()
}
