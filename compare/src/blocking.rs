//! Blocking cells: OS threads, blocking `send`/`recv`. The single-item matrix, fan-out,
//! and the 32-byte payload.

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crate::cell::{flow_label, Cell, Impl, Sizes, CAPS, SHAPES};
use crate::check::{split, value, verify, Flow, Item, Payload32, Span, Tally};

/// A queue with blocking calls, for any [`Item`] type.
pub trait Blocking: 'static {
    const NAME: &'static str;
    /// Several senders (clones of the sending end).
    const MANY_TX: bool = true;
    /// Several receivers (clones of the receiving end).
    const MANY_RX: bool = true;
    /// Capacity 0 (rendezvous).
    const CAP0: bool = true;
    type Tx<T: Item>: Send;
    type Rx<T: Item>: Send;
    fn new<T: Item>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>);
    fn clone_tx<T: Item>(tx: &Self::Tx<T>) -> Self::Tx<T>;
    fn clone_rx<T: Item>(rx: &Self::Rx<T>) -> Self::Rx<T>;
    /// Panics if the queue is closed.
    fn send<T: Item>(tx: &mut Self::Tx<T>, v: T);
    /// `None` once the queue is closed (every sender dropped) and drained.
    fn recv<T: Item>(rx: &mut Self::Rx<T>) -> Option<T>;
}

/// Whether `C` can run this shape at this capacity.
pub fn fits<C: Blocking>(producers: usize, consumers: usize, cap: usize) -> bool {
    (producers == 1 || C::MANY_TX) && (consumers == 1 || C::MANY_RX) && (cap > 0 || C::CAP0)
}

/// A cloneable channel whose ends have `send(v) -> Result` and `recv() -> Result`.
macro_rules! channel {
    ($ty:ident, $name:literal, $krate:ident :: $tx:ident / $rx:ident, $new:ident) => {
        pub struct $ty;
        impl Blocking for $ty {
            const NAME: &'static str = $name;
            type Tx<T: Item> = $krate::$tx<T>;
            type Rx<T: Item> = $krate::$rx<T>;
            fn new<T: Item>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
                $krate::$new(cap)
            }
            fn clone_tx<T: Item>(tx: &Self::Tx<T>) -> Self::Tx<T> {
                tx.clone()
            }
            fn clone_rx<T: Item>(rx: &Self::Rx<T>) -> Self::Rx<T> {
                rx.clone()
            }
            fn send<T: Item>(tx: &mut Self::Tx<T>, v: T) {
                assert!(
                    tx.send(v).is_ok(),
                    concat!($name, ": send on a closed queue")
                );
            }
            fn recv<T: Item>(rx: &mut Self::Rx<T>) -> Option<T> {
                rx.recv().ok()
            }
        }
    };
}

channel!(PpMpmc, "pushpull mpmc", pushpull::Sender / Receiver, mpmc);
channel!(
    Crossbeam,
    "crossbeam-channel",
    crossbeam_channel::Sender / Receiver,
    bounded
);
channel!(Kanal, "kanal", kanal::Sender / Receiver, bounded);
channel!(Flume, "flume", flume::Sender / Receiver, bounded);

pub struct PpSpsc;
impl Blocking for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    const MANY_TX: bool = false;
    const MANY_RX: bool = false;
    const CAP0: bool = false;
    type Tx<T: Item> = pushpull::Producer<T>;
    type Rx<T: Item> = pushpull::Consumer<T>;
    fn new<T: Item>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        pushpull::spsc(cap)
    }
    fn clone_tx<T: Item>(_: &Self::Tx<T>) -> Self::Tx<T> {
        unreachable!("spsc has one producer")
    }
    fn clone_rx<T: Item>(_: &Self::Rx<T>) -> Self::Rx<T> {
        unreachable!("spsc has one consumer")
    }
    fn send<T: Item>(tx: &mut Self::Tx<T>, v: T) {
        assert!(tx.send(v).is_ok(), "pushpull spsc: send on a closed queue");
    }
    fn recv<T: Item>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().ok()
    }
}

pub struct StdSync;
impl Blocking for StdSync {
    const NAME: &'static str = "std sync_channel";
    const MANY_RX: bool = false;
    type Tx<T: Item> = std::sync::mpsc::SyncSender<T>;
    type Rx<T: Item> = std::sync::mpsc::Receiver<T>;
    fn new<T: Item>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        std::sync::mpsc::sync_channel(cap)
    }
    fn clone_tx<T: Item>(tx: &Self::Tx<T>) -> Self::Tx<T> {
        tx.clone()
    }
    fn clone_rx<T: Item>(_: &Self::Rx<T>) -> Self::Rx<T> {
        unreachable!("std::sync::mpsc has one receiver")
    }
    fn send<T: Item>(tx: &mut Self::Tx<T>, v: T) {
        assert!(
            tx.send(v).is_ok(),
            "std sync_channel: send on a closed queue"
        );
    }
    fn recv<T: Item>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().ok()
    }
}

/// One checked run; returns the throughput in M items/s. The threads start together on a
/// barrier; consumers stop when the last producer is dropped and the queue is drained.
fn run<C: Blocking, T: Item>(f: &Flow) -> Vec<f64> {
    let (tx, rx) = C::new::<T>(f.cap);
    let txs = split(tx, f.producers, C::clone_tx);
    let rxs = split(rx, f.consumers, C::clone_rx);
    let per = f.per_producer();
    let barrier = Barrier::new(f.producers + f.consumers);
    let (span, tallies) = thread::scope(|sc| {
        let barrier = &barrier;
        let producers: Vec<_> = (txs.into_iter().enumerate())
            .map(|(p, mut tx)| {
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per {
                        C::send(&mut tx, T::make(value(p, i)));
                    }
                    drop(tx); // the last sender dropped closes the queue
                    (start, Instant::now())
                })
            })
            .collect();
        let consumers: Vec<_> = (rxs.into_iter())
            .map(|mut rx| {
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut t = Tally::new();
                    while let Some(v) = C::recv(&mut rx) {
                        t.add(v.open());
                    }
                    (start, Instant::now(), t)
                })
            })
            .collect();
        let mut span = Span::new();
        for h in producers {
            let (start, end) = h.join().unwrap();
            span.add(start, end);
        }
        let mut tallies = Vec::new();
        for h in consumers {
            let (start, end, t) = h.join().unwrap();
            span.add(start, end);
            tallies.push(t);
        }
        (span, tallies)
    });
    verify(C::NAME, f, &tallies);
    vec![f.total() as f64 / span.secs() / 1e6]
}

/// `C` in this cell, if it fits the shape and capacity.
fn entry<C: Blocking, T: Item>(
    label: &str,
    producers: usize,
    consumers: usize,
    cap: usize,
) -> Option<Impl> {
    let label = label.to_string();
    fits::<C>(producers, consumers, cap).then(|| Impl {
        name: C::NAME,
        run: Box::new(move |items| {
            run::<C, T>(&Flow {
                label: &label,
                producers,
                consumers,
                cap,
                items,
            })
        }),
    })
}

/// Every blocking implementation that fits.
fn all<T: Item>(label: &str, producers: usize, consumers: usize, cap: usize) -> Vec<Impl> {
    [
        entry::<PpSpsc, T>(label, producers, consumers, cap),
        entry::<PpMpmc, T>(label, producers, consumers, cap),
        entry::<Crossbeam, T>(label, producers, consumers, cap),
        entry::<Kanal, T>(label, producers, consumers, cap),
        entry::<Flume, T>(label, producers, consumers, cap),
        entry::<StdSync, T>(label, producers, consumers, cap),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Single `u64` items, every shape and capacity of the matrix.
pub fn matrix(sizes: Sizes) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (p, c) in SHAPES {
        for cap in CAPS {
            let label = format!("blocking {}", flow_label(p, c, cap));
            let impls = all::<u64>(&label, p, c, cap);
            cells.push(Cell::throughput(label, sizes.items(cap), impls));
        }
    }
    cells
}

/// The capacity of the fan-out and 32-byte payload cells.
const WIDE_CAP: usize = 1024;

/// One producer, `n` workers on one MPMC queue, for n in 1, 2, 4, 8 and the number of
/// cores (deduplicated). Only MPMC queues run, even at 1 worker.
pub fn fan_out(sizes: Sizes) -> Vec<Cell> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let mut workers = vec![1, 2, 4, 8, cores];
    workers.sort_unstable();
    workers.dedup();
    let cap = WIDE_CAP;
    workers
        .into_iter()
        .map(|n| {
            let mut label = format!("blocking fan-out 1P/{n}C cap={cap}");
            if n == cores {
                label += " (=cores)";
            }
            let impls = [
                entry::<PpMpmc, u64>(&label, 1, n, cap),
                entry::<Crossbeam, u64>(&label, 1, n, cap),
                entry::<Kanal, u64>(&label, 1, n, cap),
                entry::<Flume, u64>(&label, 1, n, cap),
            ]
            .into_iter()
            .flatten()
            .collect();
            Cell::throughput(label, sizes.items(cap), impls)
        })
        .collect()
}

/// 32-byte items (`[u64; 4]`, all four words checked), SPSC and MPMC 4x4.
pub fn payload(sizes: Sizes) -> Vec<Cell> {
    [(1, 1), (4, 4)]
        .into_iter()
        .map(|(p, c)| {
            let label = format!("blocking 32B {}", flow_label(p, c, WIDE_CAP));
            let impls = all::<Payload32>(&label, p, c, WIDE_CAP);
            Cell::throughput(label, sizes.items(WIDE_CAP), impls)
        })
        .collect()
}
