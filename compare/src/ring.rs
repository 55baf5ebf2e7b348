//! Non-blocking cells: two threads spinning on `try_send`/`try_recv` (rtrb's own benchmark
//! shape), and one thread sending and receiving on an uncontended queue.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};

use crate::cell::{Cell, Impl, Metric, Sizes};
use crate::check::{value, verify, Flow, Span, Tally};

/// A queue of `u64` with non-blocking calls.
pub trait TryChan: 'static {
    const NAME: &'static str;
    type Tx: Send;
    type Rx: Send;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    /// Gives the value back when the queue is full.
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64>;
    fn try_recv(rx: &mut Self::Rx) -> Option<u64>;
}

struct PpSpsc;
impl TryChan for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| match e {
            pushpull::TrySendError::Full(v) | pushpull::TrySendError::Closed(v) => v,
        })
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

struct PpMpmc;
impl TryChan for PpMpmc {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| match e {
            pushpull::TrySendError::Full(v) | pushpull::TrySendError::Closed(v) => v,
        })
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

struct Rtrb;
impl TryChan for Rtrb {
    const NAME: &'static str = "rtrb";
    type Tx = rtrb::Producer<u64>;
    type Rx = rtrb::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.push(v).map_err(|rtrb::PushError::Full(v)| v)
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.pop().ok()
    }
}

struct Ringbuf;
impl TryChan for Ringbuf {
    const NAME: &'static str = "ringbuf";
    type Tx = ringbuf::HeapProd<u64>;
    type Rx = ringbuf::HeapCons<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        ringbuf::HeapRb::new(cap).split()
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_push(v)
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_pop()
    }
}

struct ArrayQ;
impl TryChan for ArrayQ {
    const NAME: &'static str = "ArrayQueue";
    type Tx = Arc<ArrayQueue<u64>>;
    type Rx = Arc<ArrayQueue<u64>>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(ArrayQueue::new(cap));
        (q.clone(), q)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.push(v)
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.pop()
    }
}

struct Crossbeam;
impl TryChan for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| e.into_inner())
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

struct Kanal;
impl TryChan for Kanal {
    const NAME: &'static str = "kanal";
    type Tx = kanal::Sender<u64>;
    type Rx = kanal::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        // `Ok(false)`: full (kanal drops the value; a u64 is a copy).
        match tx.try_send(v) {
            Ok(true) => Ok(()),
            _ => Err(v),
        }
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok().flatten()
    }
}

struct Flume;
impl TryChan for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| e.into_inner())
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

/// One producer and one consumer thread, both spinning; the consumer stops after the last
/// value, so a lost value shows as a hang (caught by the watchdog). M items/s.
fn run_spin<C: TryChan>(f: &Flow) -> Vec<f64> {
    let (mut tx, mut rx) = C::new(f.cap);
    let n = f.total();
    let barrier = Barrier::new(2);
    let (span, tally) = thread::scope(|sc| {
        let barrier = &barrier;
        let producer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            for i in 0..n {
                let mut v = value(0, i);
                while let Err(back) = C::try_send(&mut tx, v) {
                    v = back;
                    std::hint::spin_loop();
                }
            }
            (start, Instant::now())
        });
        let consumer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let mut t = Tally::new();
            while t.count < n {
                match C::try_recv(&mut rx) {
                    Some(v) => t.add(v),
                    None => std::hint::spin_loop(),
                }
            }
            let end = Instant::now();
            assert!(
                C::try_recv(&mut rx).is_none(),
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

/// One thread, one queue: send `burst` values, receive them, again, `pairs` values in all.
/// Returns ns per send+receive pair (the per-item check included, alike for all).
fn run_one_thread<C: TryChan>(f: &Flow, burst: u64) -> Vec<f64> {
    let (mut tx, mut rx) = C::new(f.cap);
    let rounds = f.items / burst;
    let mut t = Tally::new();
    let start = Instant::now();
    for r in 0..rounds {
        for i in r * burst..(r + 1) * burst {
            assert!(
                C::try_send(&mut tx, value(0, i)).is_ok(),
                "CHECK FAILED: {}: try_send refused with room",
                C::NAME
            );
        }
        for _ in 0..burst {
            match C::try_recv(&mut rx) {
                Some(v) => t.add(v),
                None => panic!("CHECK FAILED: {}: try_recv found nothing", C::NAME),
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    assert!(
        C::try_recv(&mut rx).is_none(),
        "CHECK FAILED: {}: extra value",
        C::NAME
    );
    let done = Flow {
        items: rounds * burst,
        ..*f
    };
    verify(C::NAME, &done, &[t]);
    vec![ns / (rounds * burst) as f64]
}

#[derive(Clone, Copy)]
enum Kind {
    Spin,
    /// One thread, bursts of this many.
    OneThread(u64),
}

fn entry<C: TryChan>(kind: Kind, label: &str, cap: usize) -> Impl {
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
            match kind {
                Kind::Spin => run_spin::<C>(&f),
                Kind::OneThread(burst) => run_one_thread::<C>(&f, burst),
            }
        }),
    }
}

/// Two threads spinning, at capacity 1024 and 2 (rtrb's shapes).
pub fn spin(sizes: Sizes) -> Vec<Cell> {
    [1024, 2]
        .into_iter()
        .map(|cap| {
            let label = format!("spin SPSC 1P/1C cap={cap}");
            let impls = vec![
                entry::<PpSpsc>(Kind::Spin, &label, cap),
                entry::<PpMpmc>(Kind::Spin, &label, cap),
                entry::<Rtrb>(Kind::Spin, &label, cap),
                entry::<Ringbuf>(Kind::Spin, &label, cap),
                entry::<ArrayQ>(Kind::Spin, &label, cap),
                entry::<Crossbeam>(Kind::Spin, &label, cap),
            ];
            Cell::throughput(label, sizes.of(1_000_000), impls)
        })
        .collect()
}

const NS_PER_PAIR: &[Metric] = &[Metric {
    name: "ns/pair",
    higher_is_better: false,
}];

/// One thread at capacity 1024: alternating (burst of 1) and bursts of 64.
pub fn one_thread(sizes: Sizes) -> Vec<Cell> {
    let cap = 1024;
    [(1, "alternate"), (64, "burst64")]
        .into_iter()
        .map(|(burst, what)| {
            let label = format!("1-thread {what} cap={cap}");
            let kind = Kind::OneThread(burst);
            let impls = vec![
                entry::<PpSpsc>(kind, &label, cap),
                entry::<PpMpmc>(kind, &label, cap),
                entry::<Rtrb>(kind, &label, cap),
                entry::<Ringbuf>(kind, &label, cap),
                entry::<ArrayQ>(kind, &label, cap),
                entry::<Crossbeam>(kind, &label, cap),
                entry::<Kanal>(kind, &label, cap),
                entry::<Flume>(kind, &label, cap),
            ];
            Cell {
                label,
                work: sizes.of(4_000_000),
                unit: "pairs",
                metrics: NS_PER_PAIR,
                impls,
                skipped: None,
            }
        })
        .collect()
}
