//! Side-by-side throughput of `pushpull` and its peers.
//!
//! Every scenario (a mode, a shape of producers and consumers, a capacity) runs each
//! implementation once per repetition, in an order that rotates from one repetition to the
//! next, so that noise on the machine falls on all of them alike. Each run is checked: the
//! receivers together must have received exactly the number of values sent, with the same
//! sum, and each receiver must see each producer's values in the order they were sent.
//!
//! Run: `cargo run --release --manifest-path compare/Cargo.toml -- [--quick] [--filter TEXT]`.
//! See `compare/README.md`.

use std::future::Future;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

// === values and checks ===

/// Producer `p` sends `p << TAG_SHIFT | i` for `i` in `0..per`.
const TAG_SHIFT: u32 = 40;
const MAX_PRODUCERS: usize = 8;

fn value(p: usize, i: u64) -> u64 {
    ((p as u64) << TAG_SHIFT) | i
}

/// What one receiver saw.
struct Tally {
    count: u64,
    sum: u64,
    /// The next index expected from each producer (at least).
    next: [u64; MAX_PRODUCERS],
    /// Values that came before a value of the same producer sent earlier.
    out_of_order: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            count: 0,
            sum: 0,
            next: [0; MAX_PRODUCERS],
            out_of_order: 0,
        }
    }

    #[inline]
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        let p = (v >> TAG_SHIFT) as usize;
        let i = v & ((1 << TAG_SHIFT) - 1);
        let next = &mut self.next[p % MAX_PRODUCERS];
        if i < *next {
            self.out_of_order += 1;
        }
        *next = i + 1;
    }
}

/// Panics unless the receivers together got every value exactly once (by count and sum).
/// Order violations panic for pushpull (FIFO per producer is its contract) and are
/// reported for peers.
fn verify(name: &str, s: &Spec, tallies: &[Tally]) {
    let per = s.per_producer();
    let mut expected_sum = 0u64;
    for p in 0..s.producers {
        for i in 0..per {
            expected_sum = expected_sum.wrapping_add(value(p, i));
        }
    }
    let expected_count = per * s.producers as u64;
    let count: u64 = tallies.iter().map(|t| t.count).sum();
    let sum = tallies.iter().fold(0u64, |a, t| a.wrapping_add(t.sum));
    let out_of_order: u64 = tallies.iter().map(|t| t.out_of_order).sum();
    assert!(
        count == expected_count && sum == expected_sum,
        "CHECK FAILED: {name} in {}: received {count} values (sum {sum}), \
         sent {expected_count} (sum {expected_sum})",
        s.label()
    );
    if out_of_order != 0 {
        let msg = format!(
            "ORDER: {name} in {}: {out_of_order} values came before an earlier value of \
             the same producer",
            s.label()
        );
        if name.starts_with("pushpull") {
            panic!("CHECK FAILED: {msg}");
        }
        eprintln!("{msg}");
    }
}

// === scenarios ===

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Blocking calls on OS threads.
    Blocking,
    /// Futures on a tokio multi-thread runtime with 2 workers.
    Async,
    /// OS threads spinning on try_send/try_recv (rtrb's own benchmark shape).
    Spin,
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    mode: Mode,
    producers: usize,
    consumers: usize,
    cap: usize,
    items: u64,
}

impl Spec {
    fn per_producer(&self) -> u64 {
        self.items / self.producers as u64
    }

    fn total(&self) -> u64 {
        self.per_producer() * self.producers as u64
    }

    fn shape(&self) -> &'static str {
        match (self.producers, self.consumers) {
            (1, 1) => "SPSC",
            (_, 1) => "MPSC",
            _ => "MPMC",
        }
    }

    fn label(&self) -> String {
        let mode = match self.mode {
            Mode::Blocking => "blocking",
            Mode::Async => "async",
            Mode::Spin => "spin",
        };
        format!(
            "{mode} {} {}P/{}C cap={}",
            self.shape(),
            self.producers,
            self.consumers,
            self.cap
        )
    }
}

type Run = fn(&Spec, &Runtime) -> Duration;

struct Impl {
    name: &'static str,
    run: Run,
}

// === timing ===

/// From the first thread's start to the last thread's end. Each thread reads the clock
/// itself, right after the start barrier: the coordinating thread may be descheduled after
/// the barrier (2 cores), and the work could be over before it reads the clock.
struct Span {
    start: Option<Instant>,
    end: Option<Instant>,
}

impl Span {
    fn new() -> Self {
        Self {
            start: None,
            end: None,
        }
    }

    fn add(&mut self, start: Instant, end: Instant) {
        self.start = Some(self.start.map_or(start, |s| s.min(start)));
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    fn elapsed(&self) -> Duration {
        self.end.unwrap().duration_since(self.start.unwrap())
    }
}

// === blocking runner ===

trait BlockingChan {
    const NAME: &'static str;
    type Tx: Send;
    type Rx: Send;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    fn clone_tx(tx: &Self::Tx) -> Self::Tx;
    /// Only called for implementations registered for several consumers.
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    fn send(tx: &mut Self::Tx, v: u64);
    /// `None` once the queue is closed and drained.
    fn recv(rx: &mut Self::Rx) -> Option<u64>;
}

fn split<H>(first: H, n: usize, clone: impl Fn(&H) -> H) -> Vec<H> {
    let mut v: Vec<H> = (1..n).map(|_| clone(&first)).collect();
    v.push(first);
    v
}

fn run_blocking<C: BlockingChan>(s: &Spec, _rt: &Runtime) -> Duration {
    let (tx, rx) = C::new(s.cap);
    let txs = split(tx, s.producers, C::clone_tx);
    let rxs = split(rx, s.consumers, C::clone_rx);
    let per = s.per_producer();
    let barrier = Barrier::new(s.producers + s.consumers + 1);
    let (elapsed, tallies) = thread::scope(|sc| {
        let barrier = &barrier;
        let producers: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, mut tx)| {
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per {
                        C::send(&mut tx, value(p, i));
                    }
                    // Dropping the last sender closes the queue.
                    drop(tx);
                    (start, Instant::now())
                })
            })
            .collect();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut t = Tally::new();
                    while let Some(v) = C::recv(&mut rx) {
                        t.add(v);
                    }
                    (start, Instant::now(), t)
                })
            })
            .collect();
        barrier.wait();
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
        (span.elapsed(), tallies)
    });
    verify(C::NAME, s, &tallies);
    elapsed
}

struct PpMpmc;
impl BlockingChan for PpMpmc {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct PpSpsc;
impl BlockingChan for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn clone_tx(_: &Self::Tx) -> Self::Tx {
        unreachable!("spsc has one producer")
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("spsc has one consumer")
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Crossbeam;
impl BlockingChan for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Kanal;
impl BlockingChan for Kanal {
    const NAME: &'static str = "kanal";
    type Tx = kanal::Sender<u64>;
    type Rx = kanal::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Flume;
impl BlockingChan for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct StdSync;
impl BlockingChan for StdSync {
    const NAME: &'static str = "std sync_channel";
    type Tx = std::sync::mpsc::SyncSender<u64>;
    type Rx = std::sync::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("std::sync::mpsc has one receiver")
    }
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// rtrb has no blocking calls: both ends spin. The consumer stops once the producer is
/// gone and the ring is drained.
struct RtrbSpin;
impl BlockingChan for RtrbSpin {
    const NAME: &'static str = "rtrb (spin)";
    type Tx = rtrb::Producer<u64>;
    type Rx = rtrb::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(cap)
    }
    fn clone_tx(_: &Self::Tx) -> Self::Tx {
        unreachable!("rtrb has one producer")
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("rtrb has one consumer")
    }
    fn send(tx: &mut Self::Tx, mut v: u64) {
        while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
            v = back;
            std::hint::spin_loop();
        }
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        loop {
            if let Ok(v) = rx.pop() {
                return Some(v);
            }
            if rx.is_abandoned() {
                // The producer may have pushed between the pop and the check.
                return rx.pop().ok();
            }
            std::hint::spin_loop();
        }
    }
}

// === async runner ===

trait AsyncChan: 'static {
    const NAME: &'static str;
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    fn clone_tx(tx: &Self::Tx) -> Self::Tx;
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    fn send(tx: &mut Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_;
}

fn run_async<C: AsyncChan>(s: &Spec, rt: &Runtime) -> Duration {
    let (tx, rx) = C::new(s.cap);
    let txs = split(tx, s.producers, C::clone_tx);
    let rxs = split(rx, s.consumers, C::clone_rx);
    let per = s.per_producer();
    let (elapsed, tallies) = rt.block_on(async move {
        let start = Instant::now();
        let producers: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, mut tx)| {
                tokio::spawn(async move {
                    for i in 0..per {
                        C::send(&mut tx, value(p, i)).await;
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                tokio::spawn(async move {
                    let mut t = Tally::new();
                    while let Some(v) = C::recv(&mut rx).await {
                        t.add(v);
                    }
                    t
                })
            })
            .collect();
        for h in producers {
            h.await.unwrap();
        }
        let mut tallies = Vec::new();
        for h in consumers {
            tallies.push(h.await.unwrap());
        }
        (start.elapsed(), tallies)
    });
    verify(C::NAME, s, &tallies);
    elapsed
}

struct PpMpmcAsync;
impl AsyncChan for PpMpmcAsync {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

struct PpSpscAsync;
impl AsyncChan for PpSpscAsync {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn clone_tx(_: &Self::Tx) -> Self::Tx {
        unreachable!("spsc has one producer")
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("spsc has one consumer")
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

struct KanalAsync;
impl AsyncChan for KanalAsync {
    const NAME: &'static str = "kanal";
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

struct FlumeAsync;
impl AsyncChan for FlumeAsync {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

struct AsyncChannel;
impl AsyncChan for AsyncChannel {
    const NAME: &'static str = "async-channel";
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

struct TokioMpsc;
impl AsyncChan for TokioMpsc {
    const NAME: &'static str = "tokio mpsc";
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("tokio mpsc has one receiver")
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap();
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

// === spin runner (rtrb's two-thread benchmark shape) ===

trait SpinChan {
    const NAME: &'static str;
    type Tx: Send;
    type Rx: Send;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    /// Gives the value back when the queue is full.
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64>;
    fn try_recv(rx: &mut Self::Rx) -> Option<u64>;
}

/// One producer and one consumer, both spinning; the consumer stops after the last value,
/// so a lost value shows up as a hang (caught by the watchdog).
fn run_spin<C: SpinChan>(s: &Spec, _rt: &Runtime) -> Duration {
    assert_eq!((s.producers, s.consumers), (1, 1));
    let (mut tx, mut rx) = C::new(s.cap);
    let n = s.total();
    let barrier = Barrier::new(3);
    let (elapsed, tally) = thread::scope(|sc| {
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
            // Nothing may be left over.
            let end = Instant::now();
            assert!(C::try_recv(&mut rx).is_none(), "{}: extra value", C::NAME);
            (start, end, t)
        });
        barrier.wait();
        let mut span = Span::new();
        let (start, end) = producer.join().unwrap();
        span.add(start, end);
        let (start, end, t) = consumer.join().unwrap();
        span.add(start, end);
        (span.elapsed(), t)
    });
    verify(C::NAME, s, &[tally]);
    elapsed
}

struct PpSpscSpin;
impl SpinChan for PpSpscSpin {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| e.into_inner())
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

struct PpMpmcSpin;
impl SpinChan for PpMpmcSpin {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> Result<(), u64> {
        tx.try_send(v).map_err(|e| e.into_inner())
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

struct RtrbTry;
impl SpinChan for RtrbTry {
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

struct CrossbeamTry;
impl SpinChan for CrossbeamTry {
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

// === sanity checks of each API, before any timing ===

/// Capacity 2: two values fit, the third is refused, they come out in order, then empty.
/// Capacity 0 (where supported): a send without a waiting receiver is refused.
fn sanity() {
    fn ring(name: &str, push: &mut dyn FnMut(u64) -> bool, pop: &mut dyn FnMut() -> Option<u64>) {
        assert_eq!(pop(), None, "{name}: not empty at start");
        assert!(push(1) && push(2), "{name}: refused a value with room");
        assert!(!push(3), "{name}: took a value when full");
        assert_eq!((pop(), pop(), pop()), (Some(1), Some(2), None), "{name}");
    }
    {
        let (mut p, mut c) = pushpull::spsc::<u64>(2);
        ring("pushpull spsc", &mut |v| p.try_send(v).is_ok(), &mut || {
            c.try_recv().ok()
        });
    }
    {
        let (tx, rx) = pushpull::mpmc::<u64>(2);
        ring(
            "pushpull mpmc",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = pushpull::mpmc::<u64>(0);
        assert!(
            tx.try_send(1).is_err(),
            "pushpull rendezvous without receiver"
        );
    }
    {
        let (mut p, mut c) = rtrb::RingBuffer::<u64>::new(2);
        ring("rtrb", &mut |v| p.push(v).is_ok(), &mut || c.pop().ok());
    }
    {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(2);
        ring(
            "crossbeam-channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = crossbeam_channel::bounded::<u64>(0);
        assert!(tx.try_send(1).is_err(), "crossbeam rendezvous");
    }
    {
        let (tx, rx) = kanal::bounded::<u64>(2);
        ring("kanal", &mut |v| tx.try_send(v).unwrap(), &mut || {
            rx.try_recv().unwrap()
        });
        let (tx, _rx) = kanal::bounded::<u64>(0);
        assert!(!tx.try_send(1).unwrap(), "kanal rendezvous");
        let (tx, rx) = kanal::bounded_async::<u64>(2);
        ring("kanal async", &mut |v| tx.try_send(v).unwrap(), &mut || {
            rx.try_recv().unwrap()
        });
    }
    {
        let (tx, rx) = flume::bounded::<u64>(2);
        ring("flume", &mut |v| tx.try_send(v).is_ok(), &mut || {
            rx.try_recv().ok()
        });
        let (tx, _rx) = flume::bounded::<u64>(0);
        assert!(tx.try_send(1).is_err(), "flume rendezvous");
    }
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(2);
        ring(
            "std sync_channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = std::sync::mpsc::sync_channel::<u64>(0);
        assert!(tx.try_send(1).is_err(), "std rendezvous");
    }
    {
        let (tx, rx) = async_channel::bounded::<u64>(2);
        ring(
            "async-channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
    }
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(2);
        ring("tokio mpsc", &mut |v| tx.try_send(v).is_ok(), &mut || {
            rx.try_recv().ok()
        });
    }
}

// === which implementations run where ===

fn impls_for(s: &Spec) -> Vec<Impl> {
    let spsc = s.producers == 1 && s.consumers == 1;
    let single_consumer = s.consumers == 1;
    let cap0 = s.cap == 0;
    let mut v = Vec::new();
    let mut add = |ok: bool, name: &'static str, run: Run| {
        if ok {
            v.push(Impl { name, run });
        }
    };
    match s.mode {
        Mode::Blocking => {
            add(spsc && !cap0, PpSpsc::NAME, run_blocking::<PpSpsc>);
            add(true, PpMpmc::NAME, run_blocking::<PpMpmc>);
            add(true, Crossbeam::NAME, run_blocking::<Crossbeam>);
            add(true, Kanal::NAME, run_blocking::<Kanal>);
            add(true, Flume::NAME, run_blocking::<Flume>);
            add(single_consumer, StdSync::NAME, run_blocking::<StdSync>);
            add(spsc && !cap0, RtrbSpin::NAME, run_blocking::<RtrbSpin>);
        }
        Mode::Async => {
            add(spsc && !cap0, PpSpscAsync::NAME, run_async::<PpSpscAsync>);
            add(true, PpMpmcAsync::NAME, run_async::<PpMpmcAsync>);
            add(true, KanalAsync::NAME, run_async::<KanalAsync>);
            add(true, FlumeAsync::NAME, run_async::<FlumeAsync>);
            add(!cap0, AsyncChannel::NAME, run_async::<AsyncChannel>);
            add(
                single_consumer && !cap0,
                TokioMpsc::NAME,
                run_async::<TokioMpsc>,
            );
        }
        Mode::Spin => {
            add(true, PpSpscSpin::NAME, run_spin::<PpSpscSpin>);
            add(true, PpMpmcSpin::NAME, run_spin::<PpMpmcSpin>);
            add(true, RtrbTry::NAME, run_spin::<RtrbTry>);
            add(true, CrossbeamTry::NAME, run_spin::<CrossbeamTry>);
        }
    }
    v
}

// === watchdog ===

static CURRENT: Mutex<Option<(String, Instant)>> = Mutex::new(None);

fn watch(label: String) {
    *CURRENT.lock().unwrap() = Some((label, Instant::now()));
}

fn start_watchdog(limit: Duration) {
    thread::spawn(move || loop {
        thread::sleep(Duration::from_millis(500));
        if let Some((label, since)) = CURRENT.lock().unwrap().as_ref() {
            if since.elapsed() > limit {
                eprintln!(
                    "WATCHDOG: {label} has run for {:?} (limit {limit:?}): probable hang",
                    since.elapsed()
                );
                std::process::exit(3);
            }
        }
    });
}

// === driver ===

struct Options {
    quick: bool,
    filter: Vec<String>,
    only: Vec<String>,
    reps: usize,
    items: Option<u64>,
}

fn parse_args() -> Options {
    let mut o = Options {
        quick: false,
        filter: Vec::new(),
        only: Vec::new(),
        reps: 0,
        items: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--filter" => o.filter.push(args.next().expect("--filter TEXT")),
            "--impl" => o.only.push(args.next().expect("--impl TEXT")),
            "--reps" => o.reps = args.next().and_then(|s| s.parse().ok()).expect("--reps N"),
            "--items" => {
                o.items = Some(args.next().and_then(|s| s.parse().ok()).expect("--items N"))
            }
            "-h" | "--help" => {
                println!(
                    "usage: compare [--quick] [--filter TEXT]... [--impl TEXT]... [--reps N] \
                     [--items N]\n\
                     --filter keeps the scenarios whose label contains TEXT (any of them),\n\
                     e.g. 'blocking', 'async MPSC', 'cap=64', 'spin'.\n\
                     --impl keeps the implementations whose name contains TEXT,\n\
                     e.g. 'pushpull', 'rtrb', 'kanal'.\n\
                     --reps sets the repetitions (default 5, quick 3);\n\
                     --items sets the items per run of every scenario."
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    if o.reps == 0 {
        o.reps = if o.quick { 3 } else { 5 };
    }
    o
}

/// Items per run. Capacity 0 and 1 hand over one value at a time and are far slower
/// (most so when 8 threads share 2 cores), so they move fewer items.
fn items_for(o: &Options, cap: usize) -> u64 {
    if let Some(n) = o.items {
        return n;
    }
    let full = if cap <= 1 { 200_000 } else { 1_000_000 };
    if o.quick {
        full / 10
    } else {
        full
    }
}

fn scenarios(o: &Options) -> Vec<Spec> {
    let shapes = [(1, 1), (4, 1), (4, 4)];
    let caps = [0, 1, 64, 1024];
    let mut v = Vec::new();
    for mode in [Mode::Blocking, Mode::Async] {
        for (producers, consumers) in shapes {
            for cap in caps {
                v.push(Spec {
                    mode,
                    producers,
                    consumers,
                    cap,
                    items: items_for(o, cap),
                });
            }
        }
    }
    for cap in [1024, 2] {
        v.push(Spec {
            mode: Mode::Spin,
            producers: 1,
            consumers: 1,
            cap,
            items: items_for(o, 1024),
        });
    }
    v.retain(|s| o.filter.is_empty() || o.filter.iter().any(|f| s.label().contains(f.as_str())));
    v
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

struct Row {
    name: &'static str,
    median: f64,
    min: f64,
    max: f64,
}

fn main() {
    let o = parse_args();
    sanity();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    start_watchdog(Duration::from_secs(if o.quick { 30 } else { 120 }));
    let scenarios = scenarios(&o);
    let started = Instant::now();
    println!(
        "pushpull compare: {} mode, {} repetitions, {} scenarios; throughput in M items/s \
         (median, min..max); ratio = pushpull / peer (> 1: pushpull faster)",
        if o.quick { "quick" } else { "full" },
        o.reps,
        scenarios.len()
    );
    let mut summary: Vec<(String, Vec<Row>)> = Vec::new();
    for s in &scenarios {
        let scenario_start = Instant::now();
        let mut impls = impls_for(s);
        impls.retain(|im| o.only.is_empty() || o.only.iter().any(|f| im.name.contains(f.as_str())));
        if impls.is_empty() {
            continue;
        }
        // Warm-up (also a first check of each implementation on this scenario).
        let warm = Spec {
            items: (s.items / 10).max(1000),
            ..*s
        };
        for im in &impls {
            watch(format!("{} / {} (warm-up)", warm.label(), im.name));
            (im.run)(&warm, &rt);
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
        for rep in 0..o.reps {
            for k in 0..impls.len() {
                let idx = (k + rep) % impls.len();
                let im = &impls[idx];
                watch(format!("{} / {} (rep {rep})", s.label(), im.name));
                let d = (im.run)(s, &rt);
                rates[idx].push(s.total() as f64 / d.as_secs_f64() / 1e6);
            }
        }
        *CURRENT.lock().unwrap() = None;
        let rows: Vec<Row> = impls
            .iter()
            .zip(rates.iter_mut())
            .map(|(im, r)| Row {
                name: im.name,
                median: median(r),
                min: r.iter().cloned().fold(f64::INFINITY, f64::min),
                max: r.iter().cloned().fold(0.0, f64::max),
            })
            .collect();
        print_scenario(s, &rows, scenario_start.elapsed());
        summary.push((s.label(), rows));
    }
    print_summary(&summary);
    println!("\ntotal time {:.1} s", started.elapsed().as_secs_f64());
}

fn pushpull_rows(rows: &[Row]) -> Vec<&Row> {
    rows.iter()
        .filter(|r| r.name.starts_with("pushpull"))
        .collect()
}

fn print_scenario(s: &Spec, rows: &[Row], took: Duration) {
    println!(
        "\n== {} ({} items; scenario took {:.1} s)",
        s.label(),
        s.total(),
        took.as_secs_f64()
    );
    let pp = pushpull_rows(rows);
    let mut header = format!("{:<20} {:>9} {:>17}", "impl", "M/s", "min..max");
    for p in &pp {
        header += &format!(" {:>11}", format!("{}/x", short(p.name)));
    }
    println!("{header}");
    for r in rows {
        let mut line = format!(
            "{:<20} {:>9.2} {:>17}",
            r.name,
            r.median,
            format!("{:.2}..{:.2}", r.min, r.max)
        );
        for p in &pp {
            line += &format!(" {:>11}", format!("{:.2}", p.median / r.median));
        }
        println!("{line}");
    }
}

fn short(name: &str) -> &str {
    match name {
        "pushpull spsc" => "pp-spsc",
        "pushpull mpmc" => "pp-mpmc",
        other => other,
    }
}

/// One line per scenario and pushpull flavor: the ratio pushpull / peer for each peer.
fn print_summary(summary: &[(String, Vec<Row>)]) {
    let mut peers: Vec<&'static str> = Vec::new();
    for (_, rows) in summary {
        for r in rows {
            if !r.name.starts_with("pushpull") && !peers.contains(&abbrev(r.name)) {
                peers.push(abbrev(r.name));
            }
        }
    }
    println!("\n== summary: pushpull / peer (median throughput ratio; > 1 = pushpull faster)");
    let mut header = format!("{:<36} {:>8}", "scenario [pushpull flavor]", "pp M/s");
    for p in &peers {
        header += &format!(" {:>11}", p);
    }
    println!("{header}");
    for (label, rows) in summary {
        for pp in pushpull_rows(rows) {
            let mut line = format!(
                "{:<36} {:>8.2}",
                format!("{label} [{}]", short(pp.name)),
                pp.median
            );
            for p in &peers {
                match rows.iter().find(|r| abbrev(r.name) == *p) {
                    Some(r) => line += &format!(" {:>11.2}", pp.median / r.median),
                    None => line += &format!(" {:>11}", "-"),
                }
            }
            println!("{line}");
        }
    }
}

/// The summary's column for a peer (rtrb spins in every mode, so one column).
fn abbrev(name: &'static str) -> &'static str {
    match name {
        "crossbeam-channel" => "crossbeam",
        "std sync_channel" => "std",
        "async-channel" => "async-chan",
        "rtrb (spin)" => "rtrb",
        other => other,
    }
}
