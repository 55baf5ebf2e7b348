//! Helpers shared by the integration tests (`mod harness;` in each file): one interface over
//! both flavors, so a test can run the same script on an MPMC and an SPSC queue, and payloads
//! that count their drops.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushpull::{
    Builder, Closer, Consumer, Metrics, Policy, Producer, Receiver, RecvError, RecvTimeoutError,
    SendError, SendTimeoutError, Sender, Sent, TryRecvError, TrySendError,
};

/// Every policy, in a fixed order.
pub const POLICIES: [Policy; 4] = [
    Policy::Block,
    Policy::DropNewest,
    Policy::DropOldest,
    Policy::Reject,
];

/// `big` normally, `small` under Miri.
pub const fn scaled(big: usize, small: usize) -> usize {
    if cfg!(miri) {
        small
    } else {
        big
    }
}

/// A deadline far enough away that reaching it means something is wrong (a lost wake-up),
/// never that the machine is slow.
pub const GENEROUS: Duration = Duration::from_secs(60);

/// Which kind of queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Mpmc,
    Spsc,
}

pub const FLAVORS: [Flavor; 2] = [Flavor::Mpmc, Flavor::Spsc];

/// The sending end of either flavor.
pub trait Tx<T>: Send {
    fn try_send(&mut self, v: T) -> Result<(), TrySendError<T>>;
    fn send(&mut self, v: T) -> Result<Sent<T>, SendError<T>>;
    fn send_timeout(&mut self, v: T, timeout: Duration) -> Result<Sent<T>, SendTimeoutError<T>>;
    fn send_deadline(&mut self, v: T, deadline: Instant) -> Result<Sent<T>, SendTimeoutError<T>>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
    fn capacity(&self) -> usize;
    fn policy(&self) -> Policy;
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    /// The exact count where the end can know it (every end but an SPSC producer, which
    /// leaves the discarding to the consumer: `None`).
    fn abort(&mut self) -> Option<usize>;
    fn closer(&self) -> Closer;
    fn metrics(&self) -> Metrics;
}

/// The receiving end of either flavor.
pub trait Rx<T>: Send {
    fn try_recv(&mut self) -> Result<T, TryRecvError>;
    fn recv(&mut self) -> Result<T, RecvError>;
    fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError>;
    fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
    fn capacity(&self) -> usize;
    fn policy(&self) -> Policy;
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn abort(&mut self) -> usize;
    fn closer(&self) -> Closer;
    fn metrics(&self) -> Metrics;
    /// Every value available now (`try_iter`).
    fn take_all(&mut self) -> Vec<T>;
}

macro_rules! common {
    () => {
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn is_empty(&self) -> bool {
            Self::is_empty(self)
        }
        fn is_full(&self) -> bool {
            Self::is_full(self)
        }
        fn capacity(&self) -> usize {
            Self::capacity(self)
        }
        fn policy(&self) -> Policy {
            Self::policy(self)
        }
        fn close(&self) -> bool {
            Self::close(self)
        }
        fn is_closed(&self) -> bool {
            Self::is_closed(self)
        }
        fn closer(&self) -> Closer {
            Self::closer(self)
        }
        fn metrics(&self) -> Metrics {
            Self::metrics(self)
        }
    };
}

macro_rules! impl_tx {
    ($ty:ident, $abort:expr) => {
        impl<T: Send + 'static> Tx<T> for $ty<T> {
            fn abort(&mut self) -> Option<usize> {
                $abort(self)
            }
            fn try_send(&mut self, v: T) -> Result<(), TrySendError<T>> {
                $ty::try_send(self, v)
            }
            fn send(&mut self, v: T) -> Result<Sent<T>, SendError<T>> {
                $ty::send(self, v)
            }
            fn send_timeout(
                &mut self,
                v: T,
                timeout: Duration,
            ) -> Result<Sent<T>, SendTimeoutError<T>> {
                $ty::send_timeout(self, v, timeout)
            }
            fn send_deadline(
                &mut self,
                v: T,
                deadline: Instant,
            ) -> Result<Sent<T>, SendTimeoutError<T>> {
                $ty::send_deadline(self, v, deadline)
            }
            common!();
        }
    };
}

macro_rules! impl_rx {
    ($ty:ident) => {
        impl<T: Send + 'static> Rx<T> for $ty<T> {
            fn abort(&mut self) -> usize {
                $ty::abort(self)
            }
            fn try_recv(&mut self) -> Result<T, TryRecvError> {
                $ty::try_recv(self)
            }
            fn recv(&mut self) -> Result<T, RecvError> {
                $ty::recv(self)
            }
            fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
                $ty::recv_timeout(self, timeout)
            }
            fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
                $ty::recv_deadline(self, deadline)
            }
            fn take_all(&mut self) -> Vec<T> {
                $ty::try_iter(self).collect()
            }
            common!();
        }
    };
}

impl_tx!(Sender, |s: &mut Sender<T>| Some(Sender::abort(s)));
impl_tx!(Producer, |s: &mut Producer<T>| {
    Producer::abort(s);
    None
});
impl_rx!(Receiver);
impl_rx!(Consumer);

pub type Ends<T> = (Box<dyn Tx<T>>, Box<dyn Rx<T>>);

/// Builds a queue of `flavor`, `capacity` and `policy` behind the common interface.
pub fn build<T: Send + 'static>(flavor: Flavor, capacity: usize, policy: Policy) -> Ends<T> {
    build_with(flavor, Builder::new(capacity).policy(policy))
}

/// As [`build`], with the exact high-water mark (`Builder::exact_high_water`).
pub fn build_exact<T: Send + 'static>(flavor: Flavor, capacity: usize, policy: Policy) -> Ends<T> {
    build_with(
        flavor,
        Builder::new(capacity).policy(policy).exact_high_water(),
    )
}

/// Builds a queue of `flavor` from `builder` behind the common interface.
pub fn build_with<T: Send + 'static>(flavor: Flavor, builder: Builder) -> Ends<T> {
    match flavor {
        Flavor::Mpmc => {
            let (tx, rx) = builder.mpmc::<T>();
            (Box::new(tx), Box::new(rx))
        }
        Flavor::Spsc => {
            let (tx, rx) = builder.spsc::<T>();
            (Box::new(tx), Box::new(rx))
        }
    }
}

/// `sent == received + evicted_oldest + discarded + len`, for a quiescent queue.
#[track_caller]
pub fn assert_identity(m: &Metrics) {
    assert_eq!(
        m.sent,
        m.received + m.evicted_oldest + m.discarded + m.len as u64,
        "quiescent identity broken: {m:?}"
    );
}

/// Drop counts per value id, shared by the values ([`Tracked`]) of one test.
#[derive(Debug)]
pub struct DropLog {
    counts: Vec<AtomicUsize>,
    /// A value whose destructor panics (the first time it runs), if any.
    bomb: Option<usize>,
}

impl DropLog {
    pub fn new(n: usize) -> Arc<Self> {
        Self::with_bomb(n, None)
    }

    /// A log whose value `bomb` panics when dropped.
    pub fn with_bomb(n: usize, bomb: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            counts: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            bomb,
        })
    }

    pub fn item(self: &Arc<Self>, id: usize) -> Tracked {
        assert!(id < self.counts.len());
        Tracked {
            id,
            log: self.clone(),
        }
    }

    pub fn count(&self, id: usize) -> usize {
        self.counts[id].load(SeqCst)
    }

    pub fn total(&self) -> usize {
        self.counts.iter().map(|c| c.load(SeqCst)).sum()
    }

    /// Ids dropped more than once.
    pub fn doubles(&self) -> Vec<usize> {
        (0..self.counts.len())
            .filter(|&i| self.count(i) > 1)
            .collect()
    }

    /// Asserts every value was dropped exactly once.
    #[track_caller]
    pub fn assert_all_once(&self) {
        let wrong: Vec<(usize, usize)> = (0..self.counts.len())
            .map(|i| (i, self.count(i)))
            .filter(|&(_, c)| c != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "(id, drops) not dropped exactly once: {wrong:?}"
        );
    }
}

/// A value that records its drops in a [`DropLog`]. Not `Debug`, not `Clone`.
pub struct Tracked {
    pub id: usize,
    log: Arc<DropLog>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let previous = self.log.counts[self.id].fetch_add(1, SeqCst);
        if self.log.bomb == Some(self.id) && previous == 0 && !std::thread::panicking() {
            panic!("boom: value {} panics in drop", self.id);
        }
    }
}

/// Counts per value id (each value seen exactly once, etc.).
pub struct Tally(Vec<AtomicUsize>);

impl Tally {
    pub fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    pub fn hit(&self, id: usize) {
        self.0[id].fetch_add(1, SeqCst);
    }

    pub fn get(&self, id: usize) -> usize {
        self.0[id].load(SeqCst)
    }

    /// Asserts every id was hit exactly once.
    #[track_caller]
    pub fn assert_all_once(&self) {
        let wrong: Vec<(usize, usize)> = (0..self.0.len())
            .map(|i| (i, self.get(i)))
            .filter(|&(_, c)| c != 1)
            .take(20)
            .collect();
        assert!(
            wrong.is_empty(),
            "(id, count) not seen exactly once: {wrong:?}"
        );
    }
}

/// Spins (yielding) until `f` returns `Some`, panicking after [`GENEROUS`].
#[track_caller]
pub fn spin_until<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + GENEROUS;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::yield_now();
    }
}

/// A short pause that makes it likely (not certain) that another thread has gone to sleep
/// in a blocking call. Tests never depend on it for their verdict.
pub fn let_it_block() {
    std::thread::sleep(Duration::from_millis(if cfg!(miri) { 5 } else { 30 }));
}
