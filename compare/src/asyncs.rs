//! Async cells: the single-item matrix as tasks, on a 2-worker tokio multi-thread runtime
//! (`async[mt2]`) and on a tokio current-thread runtime (`async[st]`, one thread runs
//! every task).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use tokio::runtime::Runtime;

use crate::cell::{flow_label, Cell, Impl, Sizes, CAPS, SHAPES};
use crate::check::{split, value, verify, Flow, Tally};

#[derive(Clone, Copy)]
pub enum Exec {
    /// tokio multi-thread runtime, 2 worker threads.
    Mt2,
    /// tokio current-thread runtime.
    St,
}

impl Exec {
    fn tag(self) -> &'static str {
        match self {
            Exec::Mt2 => "async[mt2]",
            Exec::St => "async[st]",
        }
    }

    fn runtime(self) -> &'static Runtime {
        static MT2: OnceLock<Runtime> = OnceLock::new();
        static ST: OnceLock<Runtime> = OnceLock::new();
        match self {
            Exec::Mt2 => MT2.get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .unwrap()
            }),
            Exec::St => ST.get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
            }),
        }
    }
}

/// An async queue of `u64`.
pub trait AsyncChan: 'static {
    const NAME: &'static str;
    const MANY_TX: bool = true;
    const MANY_RX: bool = true;
    const CAP0: bool = true;
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    fn clone_tx(tx: &Self::Tx) -> Self::Tx;
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    fn send(tx: &mut Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_;
    /// `None` once the queue is closed and drained.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_;
}

/// A cloneable async channel: `$send(v).await -> Result`, `$recv().await -> Result`.
macro_rules! channel {
    ($ty:ident, $name:literal, $tx:ty, $rx:ty, $new:path, $send:ident, $recv:ident $(, $c:ident = $v:literal)*) => {
        struct $ty;
        impl AsyncChan for $ty {
            const NAME: &'static str = $name;
            $(const $c: bool = $v;)*
            type Tx = $tx;
            type Rx = $rx;
            fn new(cap: usize) -> (Self::Tx, Self::Rx) {
                $new(cap)
            }
            fn clone_tx(tx: &Self::Tx) -> Self::Tx {
                tx.clone()
            }
            fn clone_rx(rx: &Self::Rx) -> Self::Rx {
                rx.clone()
            }
            async fn send(tx: &mut Self::Tx, v: u64) {
                assert!(tx.$send(v).await.is_ok(), concat!($name, ": send on a closed queue"));
            }
            async fn recv(rx: &mut Self::Rx) -> Option<u64> {
                rx.$recv().await.ok()
            }
        }
    };
}

type PpTx = pushpull::Sender<u64>;
type PpRx = pushpull::Receiver<u64>;
channel!(
    PpMpmc,
    "pushpull mpmc",
    PpTx,
    PpRx,
    pushpull::mpmc,
    send_async,
    recv_async
);
type KanalTx = kanal::AsyncSender<u64>;
type KanalRx = kanal::AsyncReceiver<u64>;
channel!(
    Kanal,
    "kanal",
    KanalTx,
    KanalRx,
    kanal::bounded_async,
    send,
    recv
);
type FlumeTx = flume::Sender<u64>;
type FlumeRx = flume::Receiver<u64>;
channel!(
    Flume,
    "flume",
    FlumeTx,
    FlumeRx,
    flume::bounded,
    send_async,
    recv_async
);
type AcTx = async_channel::Sender<u64>;
type AcRx = async_channel::Receiver<u64>;
channel!(
    AsyncChannel,
    "async-channel",
    AcTx,
    AcRx,
    async_channel::bounded,
    send,
    recv,
    CAP0 = false
);

struct PpSpsc;
impl AsyncChan for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    const MANY_TX: bool = false;
    const MANY_RX: bool = false;
    const CAP0: bool = false;
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
        assert!(
            tx.send_async(v).await.is_ok(),
            "pushpull spsc: send on a closed queue"
        );
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

struct TokioMpsc;
impl AsyncChan for TokioMpsc {
    const NAME: &'static str = "tokio mpsc";
    const MANY_RX: bool = false;
    const CAP0: bool = false;
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
        assert!(
            tx.send(v).await.is_ok(),
            "tokio mpsc: send on a closed queue"
        );
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

struct Tachyonix;
impl AsyncChan for Tachyonix {
    const NAME: &'static str = "tachyonix";
    const MANY_RX: bool = false;
    const CAP0: bool = false;
    type Tx = tachyonix::Sender<u64>;
    type Rx = tachyonix::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        tachyonix::channel(cap)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("tachyonix has one receiver")
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        assert!(
            tx.send(v).await.is_ok(),
            "tachyonix: send on a closed queue"
        );
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// One checked run; returns the throughput in M items/s, timed from just before the tasks
/// are spawned to the last join.
fn run<C: AsyncChan>(exec: Exec, f: &Flow) -> Vec<f64> {
    let (tx, rx) = C::new(f.cap);
    let txs = split(tx, f.producers, C::clone_tx);
    let rxs = split(rx, f.consumers, C::clone_rx);
    let per = f.per_producer();
    let (secs, tallies) = exec.runtime().block_on(async move {
        let start = Instant::now();
        let producers: Vec<_> = (txs.into_iter().enumerate())
            .map(|(p, mut tx)| {
                tokio::spawn(async move {
                    for i in 0..per {
                        C::send(&mut tx, value(p, i)).await;
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (rxs.into_iter())
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
        (start.elapsed().as_secs_f64(), tallies)
    });
    verify(C::NAME, f, &tallies);
    vec![f.total() as f64 / secs / 1e6]
}

fn entry<C: AsyncChan>(
    exec: Exec,
    label: &str,
    producers: usize,
    consumers: usize,
    cap: usize,
) -> Option<Impl> {
    let fits =
        (producers == 1 || C::MANY_TX) && (consumers == 1 || C::MANY_RX) && (cap > 0 || C::CAP0);
    let label = label.to_string();
    fits.then(|| Impl {
        name: C::NAME,
        run: Box::new(move |items| {
            run::<C>(
                exec,
                &Flow {
                    label: &label,
                    producers,
                    consumers,
                    cap,
                    items,
                },
            )
        }),
    })
}

/// Every shape and capacity of the matrix, on one executor.
pub fn matrix(exec: Exec, sizes: Sizes) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (p, c) in SHAPES {
        for cap in CAPS {
            let label = format!("{} {}", exec.tag(), flow_label(p, c, cap));
            let impls = [
                entry::<PpSpsc>(exec, &label, p, c, cap),
                entry::<PpMpmc>(exec, &label, p, c, cap),
                entry::<Kanal>(exec, &label, p, c, cap),
                entry::<Flume>(exec, &label, p, c, cap),
                entry::<AsyncChannel>(exec, &label, p, c, cap),
                entry::<TokioMpsc>(exec, &label, p, c, cap),
                entry::<Tachyonix>(exec, &label, p, c, cap),
            ]
            .into_iter()
            .flatten()
            .collect();
            cells.push(Cell::throughput(label, sizes.items(cap), impls));
        }
    }
    cells
}
