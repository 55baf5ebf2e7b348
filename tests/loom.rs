#![cfg(loom)]
//! Loom models of every atomic protocol, driving the public API.
//!
//! Run with (about two minutes on a 2-core machine, most of it building):
//!
//! ```text
//! CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --profile loom --test loom
//! ```
//!
//! (`-- --nocapture` prints each configuration's number of executions and time.)
//!
//! Each model runs for capacities 1 and 2 (so every model wraps around the ring) and, where
//! the protocol exists in each, for SPSC, MPMC and the rendezvous (see [`run`]). Every model
//! does exact accounting: each value is received, handed back to its sender (in an error or
//! as an evicted value), or dropped by the library and counted, exactly once. Payloads that
//! the library may drop are [`Tok`]s, which record their drops, so a value dropped twice or
//! never is caught (loom itself checks that the queue's `Arc` is freed).
//!
//! Sections 1 to 7 drive the blocking API and the rings; sections 8 to 12 the futures:
//! a future's registration racing the notifier (8), wake-ups passed on by futures that go
//! away or are forgotten (9), close waking futures (10), every future polled once and then
//! dropped (11), and permits (12).
//!
//! Spin loops in the models call `thread::yield_now`, which loom needs to make progress.
//! Blocking calls (`send`, `recv`) park for real: a lost wake-up makes loom report a
//! deadlock. For loom to explore a waiter's registration racing the notifier, the notifier
//! pauses first; see [`Pauses`]. Futures run on [`block_on`] (which parks between polls,
//! so a lost wake-up is a deadlock too) or are polled by hand with a [`Recorder`] waker;
//! a future's poll does not spin, so the notifier's pauses differ ([`Pauses::Poll`]).
//!
//! What loom cannot do here: the MPMC ring may wait for a preempted peer (a pop or a claim
//! spins while another thread finishes copying an item, or finishes giving a permit's
//! position up). With two such waiters, loom lets them yield to each other forever while
//! the peer stays preempted (a switch at a yield costs no preemption), so a model in which
//! two threads can wait on a third never ends. The MPMC models are shaped to avoid that
//! (see [`mpmc_two_producers_one_consumer`] and [`void_permit_races_recv_and_send`]).
//!
//! Under `cfg(loom)` the library caches each loom thread's parking waker (a loom
//! thread-local), so `wait::is_thread_waker` recognises parked threads as in production,
//! and the paths for parked threads (the rendezvous hand-off straight to a parked
//! receiver, `notify_one` waking one thread where it would wake two futures) are explored.
//!
//! How the models were checked to be able to fail: each was run against a scratch copy of
//! the crate with one deliberate defect (named in the model's doc comment), and loom
//! reported it. A model that iterates over configurations stops at the first that fails:
//! the configuration named with a defect is the first that caught it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicBool as StdAtomicBool, AtomicUsize as StdAtomicUsize, Ordering as StdOrdering,
};
use std::sync::{Arc as StdArc, Mutex as StdMutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use loom::thread;
use pushpull::{
    flavor, Builder, ClosedFuture, Closer, Consumer, Metrics, Permit, Policy, Producer, Receiver,
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, Sent, TryRecvError,
    TrySendError,
};

// === harness ===

/// The queue flavors, driven through one interface by the models below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Spsc,
    Mpmc,
    /// MPMC at capacity 0 (always run with capacity 0).
    Rendezvous,
}

const BOTH: &[Flavor] = &[Flavor::Spsc, Flavor::Mpmc];
/// Both flavors, and the rendezvous (capacity 0) for the models of blocking hand-offs.
const ALL: &[Flavor] = &[Flavor::Spsc, Flavor::Mpmc, Flavor::Rendezvous];
const MPMC: &[Flavor] = &[Flavor::Mpmc];

/// One configuration of a model.
#[derive(Debug, Clone, Copy)]
struct Case {
    flavor: Flavor,
    cap: usize,
    /// How many times [`pause`](Case::pause) yields (see [`Pauses`]).
    delay: usize,
}

impl Case {
    /// Gives another thread time to get into a blocking call and park: yields `delay` times.
    fn pause(&self) {
        for _ in 0..self.delay {
            thread::yield_now();
        }
    }
}

/// Which delays a model runs with.
///
/// A blocking call spins first (under loom: a bounded number of `yield_now`) and only then
/// registers and parks. Loom always runs a thread that did not yield before one that did,
/// so a notifier that acts at once always lands during the waiter's spin, and the
/// register/re-check/park protocol, where lost wake-ups hide, is never raced. A notifier
/// that first yields as often as the waiter spins lands right at the waiter's park, and loom
/// then explores its action at every step of the waiter's registration. The number of
/// yields that does that is measured, not assumed: see [`park_window`].
#[derive(Debug, Clone, Copy)]
enum Pauses {
    /// No pause: the models that spin on non-blocking calls.
    None,
    /// No pause, and each delay of the [`park_window`].
    Park,
    /// For a waiter that is a future: no pause (the notifier acts first), and one yield (the
    /// future's whole poll runs first: it tries, registers and re-checks without spinning,
    /// so a single yield of the notifier lets it reach its `Pending`; see [`poll_pauses`]).
    /// Loom's preemptions explore the notifier's action at every step in between.
    Poll,
}

/// Runs `model` under loom for capacities 1 and 2 (the rendezvous: 0), each of `flavors` and
/// each of `pauses`.
///
/// Each configuration's number of executions and time go to stderr (`-- --nocapture`
/// shows them); nothing asserts on time.
fn run<F>(name: &str, flavors: &[Flavor], pauses: Pauses, model: F)
where
    F: Fn(Case) + Sync + Send + Clone + 'static,
{
    run_caps(name, flavors, &[1, 2], pauses, model);
}

/// [`run`] for other capacities than 1 and 2 (see the model for why).
fn run_caps<F>(name: &str, flavors: &[Flavor], caps: &[usize], pauses: Pauses, model: F)
where
    F: Fn(Case) + Sync + Send + Clone + 'static,
{
    for &flavor in flavors {
        let caps = if flavor == Flavor::Rendezvous {
            &[0]
        } else {
            caps
        };
        for &cap in caps {
            for delay in delays(pauses) {
                check(name, Case { flavor, cap, delay }, model.clone());
            }
        }
    }
}

/// Runs `model` for the rendezvous flavor (capacity 0), for each of `pauses`.
fn run_rendezvous<F>(name: &str, pauses: Pauses, model: F)
where
    F: Fn(Case) + Sync + Send + Clone + 'static,
{
    run_caps(name, &[Flavor::Rendezvous], &[0], pauses, model);
}

fn delays(pauses: Pauses) -> Vec<usize> {
    match pauses {
        Pauses::None => vec![0],
        Pauses::Park => std::iter::once(0)
            .chain(park_window().iter().copied())
            .collect(),
        Pauses::Poll => poll_pauses().to_vec(),
    }
}

/// One loom run of `model` for `case`.
fn check<F>(name: &str, case: Case, model: F)
where
    F: Fn(Case) + Sync + Send + 'static,
{
    let executions = StdArc::new(StdAtomicUsize::new(0));
    let count = executions.clone();
    let start = std::time::Instant::now();
    loom::model(move || {
        count.fetch_add(1, StdOrdering::Relaxed);
        model(case)
    });
    eprintln!(
        "{name}: {case:?}: {} executions in {:?}",
        executions.load(StdOrdering::Relaxed),
        start.elapsed()
    );
}

/// The delays (numbers of yields) after which a notifier's action can land either during
/// a waiter's spin or after it, measured once per run under the current loom settings.
///
/// Measured with a waiter whose deadline has passed: `recv_deadline` spins like `recv`,
/// then registers, re-checks and gives up with `Timeout` instead of parking. A delay is in
/// the window if loom finds both outcomes: the value received (the send landed in time) and
/// a timeout (the waiter got past its last check first). Both flavors spin the same way;
/// the window is the union of theirs.
fn park_window() -> &'static [usize] {
    static WINDOW: OnceLock<Vec<usize>> = OnceLock::new();
    WINDOW.get_or_init(|| {
        let window: Vec<usize> = (0..=MAX_DELAY)
            .filter(|&delay| {
                BOTH.iter().any(|&flavor| {
                    both_outcomes(Case {
                        flavor,
                        cap: 1,
                        delay,
                    })
                })
            })
            .collect();
        assert!(
            !window.is_empty(),
            "no delay up to {MAX_DELAY} yields reaches a waiter's park: raise MAX_DELAY"
        );
        eprintln!("park window: {window:?}");
        window
    })
}

/// The longest delay [`park_window`] tries.
const MAX_DELAY: usize = 40;

fn both_outcomes(case: Case) -> bool {
    let seen = StdArc::new(StdMutex::new((false, false)));
    let record = seen.clone();
    loom::model(move || {
        let (mut tx, mut rx) = queue::<usize>(case.flavor, case.cap, Policy::Block);
        let waiter = thread::spawn(move || {
            let r = rx.recv_deadline(Instant::now());
            (r, rx)
        });
        case.pause();
        tx.try_send(7).unwrap();
        let (r, _rx) = waiter.join().unwrap();
        let mut seen = record.lock().unwrap();
        match r {
            Ok(7) => seen.0 = true,
            Err(RecvTimeoutError::Timeout) => seen.1 = true,
            other => panic!("calibration waiter got {other:?}"),
        }
    });
    let seen = *seen.lock().unwrap();
    seen.0 && seen.1
}

/// Measures the park window (and fails if there is none, see [`park_window`]), so that
/// its value shows in the output of a run.
#[test]
fn park_window_is_found() {
    assert!(!park_window().is_empty());
}

/// The delays for a future that waits: `[0, 1]`, checked once per run.
///
/// A future's poll does not spin: it tries, registers, re-checks and returns `Pending` in
/// one go, and [`block_on`] then waits without yielding. So without
/// preemptions, a notifier that does not pause acts before the future's poll, and one that
/// yields once acts after the future is pending; loom's preemptions put the notifier's
/// action at each step of the poll from either start. Checked here with no preemptions
/// (with a receive whose deadline is due, which gives up after its one poll): delay 0 must
/// find the value, delay 1 the timeout. If a poll ever spins (yields) before registering,
/// this fails, and the async models need a window like [`park_window`].
fn poll_pauses() -> &'static [usize] {
    static PAUSES: OnceLock<[usize; 2]> = OnceLock::new();
    PAUSES.get_or_init(|| {
        for (delay, expect_value) in [(0, true), (1, false)] {
            let seen = StdArc::new(StdMutex::new(Vec::new()));
            let record = seen.clone();
            let mut builder = loom::model::Builder::new();
            builder.preemption_bound = Some(0);
            builder.check(move || {
                let (mut tx, mut rx) = queue::<usize>(Flavor::Mpmc, 1, Policy::Block);
                let waiter = thread::spawn(move || {
                    let r = block_on(rx.recv_async_deadline(std::future::ready(())));
                    (r, rx)
                });
                for _ in 0..delay {
                    thread::yield_now();
                }
                tx.try_send(7).unwrap();
                let (r, _rx) = waiter.join().unwrap();
                record.lock().unwrap().push(r);
            });
            let seen = seen.lock().unwrap();
            if expect_value {
                // Some schedule completes the send before the poll. Not every one: a
                // compare-and-swap may fail spuriously under loom, and the send's retry
                // yields (`Backoff::spin`), which lets the poll run in the middle of it.
                assert!(
                    seen.iter().any(|r| *r == Ok(7)),
                    "delay 0: the send never lands before the poll ({seen:?})"
                );
            } else {
                assert!(
                    seen.iter().all(|r| *r == Err(RecvTimeoutError::Timeout)),
                    "delay 1: a future's poll no longer runs in one go ({seen:?})"
                );
            }
        }
        [0, 1]
    })
}

/// Checks the assumption of [`Pauses::Poll`], so that a failure shows on its own.
#[test]
fn poll_pauses_are_checked() {
    assert_eq!(poll_pauses(), &[0, 1]);
}

/// The sending end of either flavor.
enum Tx<T> {
    Spsc(Producer<T>),
    Mpmc(Sender<T>),
}

/// A future of either flavor, boxed: each flavor's futures are distinct types. Boxing
/// changes nothing the models observe (no atomics, and dropping the box drops the future).
type BoxFuture<'a, R> = Pin<Box<dyn Future<Output = R> + 'a>>;

/// A permit of either flavor.
enum AnyPermit<'a, T> {
    Spsc(Permit<'a, T, flavor::Spsc>),
    Mpmc(Permit<'a, T>),
}

impl<T> AnyPermit<'_, T> {
    fn send(self, v: T) -> Result<Sent<T>, SendError<T>> {
        match self {
            AnyPermit::Spsc(p) => p.send(v),
            AnyPermit::Mpmc(p) => p.send(v),
        }
    }
}

/// The receiving end of either flavor.
enum Rx<T> {
    Spsc(Consumer<T>),
    Mpmc(Receiver<T>),
}

fn queue<T>(flavor: Flavor, cap: usize, policy: Policy) -> (Tx<T>, Rx<T>) {
    let builder = Builder::new(cap).policy(policy);
    match flavor {
        Flavor::Spsc => {
            let (tx, rx) = builder.spsc();
            (Tx::Spsc(tx), Rx::Spsc(rx))
        }
        Flavor::Mpmc | Flavor::Rendezvous => {
            let (tx, rx) = builder.mpmc();
            (Tx::Mpmc(tx), Rx::Mpmc(rx))
        }
    }
}

impl<T> Tx<T> {
    fn send(&mut self, v: T) -> Result<Sent<T>, SendError<T>> {
        match self {
            Tx::Spsc(tx) => tx.send(v),
            Tx::Mpmc(tx) => tx.send(v),
        }
    }

    fn try_send(&mut self, v: T) -> Result<(), TrySendError<T>> {
        match self {
            Tx::Spsc(tx) => tx.try_send(v),
            Tx::Mpmc(tx) => tx.try_send(v),
        }
    }

    /// `try_send` until it is not `Full`, yielding between attempts.
    fn send_spinning(&mut self, mut v: T) -> Result<(), TrySendError<T>> {
        loop {
            match self.try_send(v) {
                Err(TrySendError::Full(back)) => {
                    v = back;
                    thread::yield_now();
                }
                done => return done,
            }
        }
    }

    fn send_async(&mut self, v: T) -> BoxFuture<'_, Result<Sent<T>, SendError<T>>> {
        match self {
            Tx::Spsc(tx) => Box::pin(tx.send_async(v)),
            Tx::Mpmc(tx) => Box::pin(tx.send_async(v)),
        }
    }

    fn send_async_deadline<D>(
        &mut self,
        v: T,
        deadline: D,
    ) -> BoxFuture<'_, Result<Sent<T>, SendTimeoutError<T>>>
    where
        D: Future<Output = ()> + Unpin + 'static,
    {
        match self {
            Tx::Spsc(tx) => Box::pin(tx.send_async_deadline(v, deadline)),
            Tx::Mpmc(tx) => Box::pin(tx.send_async_deadline(v, deadline)),
        }
    }

    fn reserve_async(&mut self) -> BoxFuture<'_, Result<AnyPermit<'_, T>, SendError<()>>> {
        match self {
            Tx::Spsc(tx) => Box::pin(async move { tx.reserve_async().await.map(AnyPermit::Spsc) }),
            Tx::Mpmc(tx) => Box::pin(async move { tx.reserve_async().await.map(AnyPermit::Mpmc) }),
        }
    }

    fn try_reserve(&mut self) -> Result<AnyPermit<'_, T>, TrySendError<()>> {
        match self {
            Tx::Spsc(tx) => tx.try_reserve().map(AnyPermit::Spsc),
            Tx::Mpmc(tx) => tx.try_reserve().map(AnyPermit::Mpmc),
        }
    }

    fn closed(&self) -> ClosedFuture<'_> {
        match self {
            Tx::Spsc(tx) => tx.closed(),
            Tx::Mpmc(tx) => tx.closed(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Tx::Spsc(tx) => tx.is_closed(),
            Tx::Mpmc(tx) => tx.is_closed(),
        }
    }

    fn close(&self) -> bool {
        match self {
            Tx::Spsc(tx) => tx.close(),
            Tx::Mpmc(tx) => tx.close(),
        }
    }

    fn closer(&self) -> Closer
    where
        T: Send + 'static,
    {
        match self {
            Tx::Spsc(tx) => tx.closer(),
            Tx::Mpmc(tx) => tx.closer(),
        }
    }
}

impl<T> Rx<T> {
    fn recv(&mut self) -> Result<T, RecvError> {
        match self {
            Rx::Spsc(rx) => rx.recv(),
            Rx::Mpmc(rx) => rx.recv(),
        }
    }

    fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        match self {
            Rx::Spsc(rx) => rx.recv_deadline(deadline),
            Rx::Mpmc(rx) => rx.recv_deadline(deadline),
        }
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self {
            Rx::Spsc(rx) => rx.try_recv(),
            Rx::Mpmc(rx) => rx.try_recv(),
        }
    }

    fn recv_async(&mut self) -> BoxFuture<'_, Result<T, RecvError>> {
        match self {
            Rx::Spsc(rx) => Box::pin(rx.recv_async()),
            Rx::Mpmc(rx) => Box::pin(rx.recv_async()),
        }
    }

    fn recv_async_deadline<D>(&mut self, deadline: D) -> BoxFuture<'_, Result<T, RecvTimeoutError>>
    where
        D: Future<Output = ()> + Unpin + 'static,
    {
        match self {
            Rx::Spsc(rx) => Box::pin(rx.recv_async_deadline(deadline)),
            Rx::Mpmc(rx) => Box::pin(rx.recv_async_deadline(deadline)),
        }
    }

    /// `try_recv` until it is not `Empty`, yielding between attempts.
    fn recv_spinning(&mut self) -> Result<T, TryRecvError> {
        loop {
            match self.try_recv() {
                Err(TryRecvError::Empty) => thread::yield_now(),
                done => return done,
            }
        }
    }

    /// Everything left, until `Closed` (the queue must be closed, or this spins forever).
    fn drain_closed(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Ok(v) = self.recv_spinning() {
            out.push(v);
        }
        out
    }

    fn close(&self) -> bool {
        match self {
            Rx::Spsc(rx) => rx.close(),
            Rx::Mpmc(rx) => rx.close(),
        }
    }

    fn metrics(&self) -> Metrics {
        match self {
            Rx::Spsc(rx) => rx.metrics(),
            Rx::Mpmc(rx) => rx.metrics(),
        }
    }
}

/// A waker for polling futures by hand: counts its wake-ups and unparks the loom thread
/// that made it while that thread waits for one. The library takes it for a future's
/// waker (not a parked thread's).
///
/// The count is the test's bookkeeping (std atomics, see [`Tok`]); the unpark is loom's, so
/// [`wait`](Self::wait) parks for real and a wake-up that never comes is a deadlock. It
/// unparks only a thread parked in [`park_while`](Self::park_while): loom's `unpark` makes
/// any blocked thread runnable, also one blocked in `join` or on a mutex, which loom does
/// not expect (its internal assertion `state.notified` fails), whereas a late or spurious
/// wake-up (which the library may send, for example to a party that already completed) is
/// harmless with std.
#[derive(Clone)]
struct Recorder(StdArc<Wakes>);

struct Wakes {
    count: StdAtomicUsize,
    parked: StdAtomicBool,
    thread: thread::Thread,
}

impl Wake for Wakes {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.count.fetch_add(1, StdOrdering::Relaxed);
        if self.parked.load(StdOrdering::Relaxed) {
            self.thread.unpark();
        }
    }
}

impl Recorder {
    /// A recorder that unparks the current thread.
    fn new() -> Self {
        Recorder(StdArc::new(Wakes {
            count: StdAtomicUsize::new(0),
            parked: StdAtomicBool::new(false),
            thread: thread::current(),
        }))
    }

    fn waker(&self) -> Waker {
        Waker::from(self.0.clone())
    }

    fn count(&self) -> usize {
        self.0.count.load(StdOrdering::Relaxed)
    }

    /// Parks (on the thread that made the recorder) while the count is `seen`.
    ///
    /// No loom operation separates the check of the count from `parked`, nor a wake-up's
    /// increment from its check of `parked`, so loom cannot interleave them: a wake-up
    /// either is seen by the check or unparks the thread.
    fn park_while(&self, seen: usize) {
        while self.count() == seen {
            self.0.parked.store(true, StdOrdering::Relaxed);
            thread::park();
            self.0.parked.store(false, StdOrdering::Relaxed);
        }
    }

    /// Parks until woken at least once.
    fn wait(&self) {
        self.park_while(0);
    }
}

/// Drives `future` to completion on the current loom thread, parking between polls until
/// its waker (a [`Recorder`]) is woken; the library takes it for a future's waker.
/// (`loom::future::block_on` needs loom's `futures` feature, which the crate's loom
/// dependency does not enable; this is the same loop over loom's park/unpark.) A wake-up
/// that never comes leaves the thread parked for good: loom reports a deadlock.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let recorder = Recorder::new();
    let waker = recorder.waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        let seen = recorder.count();
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        recorder.park_while(seen);
    }
}

/// Polls `future` once with `recorder`'s waker.
fn poll_once<F: Future + Unpin>(future: &mut F, recorder: &Recorder) -> Poll<F::Output> {
    let waker = recorder.waker();
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// Which end drives the other side of an async model: a blocking call or a future on
/// [`block_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Blocking,
    Async,
}

/// After a model, with nothing queued any more: the queue holds exactly `cap` values again
/// (no room lost to a reservation, a void position or a stale registration) and nothing
/// else is left in it. At capacity 0: no receiver is left in line (`try_send` is `Full`)
/// and no value is left over (`try_recv` is `Empty`).
fn assert_capacity_restored(tx: &mut Tx<Tok>, rx: &mut Rx<Tok>, cap: usize) {
    let spare = Log::new(cap + 1);
    for i in 0..cap {
        if let Err(e) = tx.try_send(spare.tok(i)) {
            panic!("room {i} of {cap} lost: {e:?}");
        }
    }
    match tx.try_send(spare.tok(cap)) {
        Err(TrySendError::Full(v)) => drop(v),
        other => panic!("room beyond the capacity {cap}: {other:?}"),
    }
    for i in 0..cap {
        assert_eq!(rx.try_recv().map(|t| t.id).ok(), Some(i), "refill {i}");
    }
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(rx.metrics().len, 0);
    spare.assert_each_dropped_once();
}

/// A payload that records its drops in a [`Log`].
///
/// The log uses std atomics, not loom's: it is the test's bookkeeping, not part of the
/// protocol under test, so it must add no interleavings; loom runs all threads of an
/// execution on one OS thread, so these plain atomics see every update in program order.
struct Tok {
    id: usize,
    log: Log,
}

impl Drop for Tok {
    fn drop(&mut self) {
        self.log.0[self.id].fetch_add(1, StdOrdering::Relaxed);
    }
}

/// How many times each `Tok` was dropped, by id.
#[derive(Clone)]
struct Log(StdArc<Vec<StdAtomicUsize>>);

impl Log {
    fn new(n: usize) -> Self {
        Log(StdArc::new(
            (0..n).map(|_| StdAtomicUsize::new(0)).collect(),
        ))
    }

    fn tok(&self, id: usize) -> Tok {
        Tok {
            id,
            log: self.clone(),
        }
    }

    fn drops(&self, id: usize) -> usize {
        self.0[id].load(StdOrdering::Relaxed)
    }

    /// Every value made was dropped exactly once (call when no `Tok` is alive any more).
    fn assert_each_dropped_once(&self) {
        for id in 0..self.0.len() {
            assert_eq!(
                self.drops(id),
                1,
                "value {id} dropped {} times",
                self.drops(id)
            );
        }
    }
}

/// The ids of values the test holds (received or handed back); dropping them is recorded.
fn ids(toks: &[Tok]) -> Vec<usize> {
    toks.iter().map(|t| t.id).collect()
}

/// `parts` are disjoint and together exactly `0..n`.
fn assert_partition(n: usize, parts: &[&[usize]]) {
    let mut seen = HashSet::new();
    for part in parts {
        for &id in *part {
            assert!(id < n, "unknown value {id}");
            assert!(seen.insert(id), "value {id} accounted twice: {parts:?}");
        }
    }
    assert_eq!(seen.len(), n, "values missing: {parts:?}");
}

/// `seq` holds each producer's values in the order it sent them; values are
/// `producer * STRIDE + index`.
const STRIDE: usize = 10;

fn assert_fifo_per_producer(seq: &[usize]) {
    let mut last = std::collections::HashMap::new();
    for &v in seq {
        if let Some(prev) = last.insert(v / STRIDE, v) {
            assert!(prev < v, "out of order: {seq:?}");
        }
    }
}

/// The quiescent identity of the counters.
fn assert_balanced(m: &Metrics) {
    assert_eq!(
        m.sent,
        m.received + m.evicted_oldest + m.discarded + m.len as u64,
        "{m:?}"
    );
}

// === 1. ring push/pop across wrap-around ===

/// Push and pop `cap + 2` values across the wrap-around, with non-blocking calls: the ring's
/// index and slot hand-over protocol alone (SPSC: cached indices; MPMC: stamps).
///
/// Checked to fail with: the SPSC producer's `tail` store made `Relaxed`, or the MPMC
/// consumer's stamp store moved before its read of the slot (loom: causality violation on
/// the slot).
#[test]
fn ring_wraparound() {
    run("ring_wraparound", BOTH, Pauses::None, |case| {
        let Case { flavor, cap, .. } = case;
        let n = cap + 2;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let producer = thread::spawn(move || {
            for i in 0..n {
                tx.send_spinning(i).unwrap();
            }
        });
        let mut got = Vec::new();
        while got.len() < n {
            got.push(rx.recv_spinning().unwrap());
        }
        producer.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        let m = rx.metrics();
        assert_eq!(
            (m.sent, m.received, m.len),
            (n as u64, n as u64, 0),
            "{m:?}"
        );
        assert!(m.high_water >= 1 && m.high_water <= cap, "{m:?}");
    });
}

// === 2. MPMC: two producers, one consumer ===

/// Two producers each send a value (blocking `send`) while one consumer receives them
/// (blocking `recv`); the ring's positions start one short of the wrap-around, so the two
/// claims straddle it. Nothing lost or duplicated; the counters agree.
///
/// Capacity 2 only. With one slot, the second producer's claim (and the consumer's pop)
/// wait for the first producer to finish writing the slot it claimed; Vyukov's queue
/// "may wait for a preempted peer". Loom lets the two waiters yield to each other forever
/// while the writer stays preempted (a switch at a yield costs no preemption), so every
/// model in which two threads can wait on a third preempted mid-write never ends (loom
/// stops it at its branch limit). Such races are covered pairwise below:
/// [`mpmc_two_producers_race_for_room`] (producers) and [`ring_wraparound`] (consumer).
///
/// Checked to fail with: the producers' claim of `tail` a plain store instead of a
/// compare-and-swap (loom: concurrent writes to a slot).
#[test]
fn mpmc_two_producers_one_consumer() {
    run_caps(
        "mpmc_two_producers_one_consumer",
        MPMC,
        &[2],
        Pauses::None,
        |case| {
            let (tx, rx) = Builder::new(case.cap).mpmc::<usize>();
            // Move the positions to the last slot of the first lap.
            for _ in 0..case.cap - 1 {
                tx.try_send(99).unwrap();
                rx.try_recv().unwrap();
            }
            let tx2 = tx.clone();
            let p0 = thread::spawn(move || tx.send(0));
            let p1 = thread::spawn(move || tx2.send(STRIDE));
            let mut got = vec![rx.recv().unwrap(), rx.recv().unwrap()];
            assert_eq!(p0.join().unwrap(), Ok(Sent::Queued));
            assert_eq!(p1.join().unwrap(), Ok(Sent::Queued));
            got.sort_unstable();
            assert_eq!(got, vec![0, STRIDE]);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            let m = rx.metrics();
            let total = case.cap as u64 + 1;
            assert_eq!((m.sent, m.received, m.len), (total, total, 0), "{m:?}");
        },
    );
}

/// Two producers race for the last free slot with `try_send` (the consumer takes nothing
/// meanwhile; see [`mpmc_two_producers_one_consumer`] for why), the positions starting
/// one short of the wrap-around: exactly one wins, the other gets `Full` with its own
/// value back, and the queue holds what it should.
///
/// Checked to fail with: the producers' claim of `tail` a plain store instead of a
/// compare-and-swap (loom: concurrent writes to a slot).
#[test]
fn mpmc_two_producers_race_for_room() {
    run(
        "mpmc_two_producers_race_for_room",
        MPMC,
        Pauses::None,
        |case| {
            let cap = case.cap;
            let (tx, rx) = Builder::new(cap).mpmc::<usize>();
            // Move the positions to the last slot of the first lap, then fill all but one slot.
            for _ in 0..cap - 1 {
                tx.try_send(99).unwrap();
                rx.try_recv().unwrap();
            }
            let prefill: Vec<usize> = (100..100 + cap - 1).collect();
            for &v in &prefill {
                tx.try_send(v).unwrap();
            }
            let tx2 = tx.clone();
            let p0 = thread::spawn(move || tx.try_send(0));
            let p1 = thread::spawn(move || tx2.try_send(STRIDE));
            let (r0, r1) = (p0.join().unwrap(), p1.join().unwrap());
            let winner = match (r0, r1) {
                (Ok(()), Err(TrySendError::Full(STRIDE))) => 0,
                (Err(TrySendError::Full(0)), Ok(())) => STRIDE,
                other => panic!("one must win, the other get its value back: {other:?}"),
            };
            let mut expected = prefill;
            expected.push(winner);
            let mut got = Vec::new();
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            assert_eq!(got, expected);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        },
    );
}

// === 3. drop-oldest racing a pop ===

/// SPSC drop-oldest: the producer evicts (compare-and-swap on `head`) while the consumer
/// pops (the `LOCKED` bit): each value is received or evicted exactly once, in order.
///
/// Checked to fail with: the evicting push not waiting while `head` is `LOCKED` (loom:
/// concurrent read and write of a slot).
#[test]
fn spsc_drop_oldest_races_pop() {
    for cap in [1, 2] {
        loom::model(move || {
            let (mut tx, mut rx) = Builder::new(cap).policy(Policy::DropOldest).spsc::<usize>();
            let n = cap + 1;
            let consumer = thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.try_recv() {
                    got.push(v);
                }
                (got, rx)
            });
            let mut evicted = Vec::new();
            for i in 0..n {
                if let Sent::Evicted(v) = tx.send(i).unwrap() {
                    evicted.push(v);
                }
            }
            let (mut got, mut rx) = consumer.join().unwrap();
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            let mut all: Vec<usize> = got.iter().chain(evicted.iter()).copied().collect();
            all.sort_unstable();
            assert_eq!(
                all,
                (0..n).collect::<Vec<_>>(),
                "got {got:?} evicted {evicted:?}"
            );
            assert!(got.windows(2).all(|w| w[0] < w[1]));
        });
    }
}

/// Drop-oldest on either flavor with payloads that count their drops: the producer sends
/// `cap + 2` values (evicting) while the consumer pops twice. Every value is received,
/// evicted (handed back) or still queued, exactly once; the consumer sees the values in
/// order; the counters agree.
///
/// Checked to fail with: the SPSC evicting push not waiting while `head` is `LOCKED` (the
/// consumer's lock assertion fires); MPMC `evict_into` taking the oldest item without
/// winning its compare-and-swap of `head` (loom: concurrent read and write of a slot).
#[test]
fn drop_oldest_races_pop() {
    run("drop_oldest_races_pop", BOTH, Pauses::None, |case| {
        let Case { flavor, cap, .. } = case;
        let n = cap + 2;
        let log = Log::new(n);
        let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::DropOldest);
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Ok(v) = rx.try_recv() {
                    got.push(v);
                }
            }
            (got, rx)
        });
        let mut evicted = Vec::new();
        for i in 0..n {
            match tx.send(log.tok(i)).unwrap() {
                Sent::Evicted(old) => evicted.push(old),
                Sent::Queued => {}
                Sent::DroppedNewest => panic!("drop-oldest dropped the newest"),
            }
        }
        drop(tx);
        let (mut got, mut rx) = consumer.join().unwrap();
        let received = got.len();
        got.extend(rx.drain_closed());
        let (got_ids, evicted_ids) = (ids(&got), ids(&evicted));
        assert!(
            got.len() - received <= cap,
            "more than capacity queued: {got_ids:?}"
        );
        assert_fifo_per_producer(&got_ids);
        assert_partition(n, &[&got_ids, &evicted_ids]);
        let m = rx.metrics();
        assert_eq!(m.evicted_oldest, evicted.len() as u64, "{m:?}");
        assert_eq!(m.sent, n as u64, "{m:?}");
        assert_balanced(&m);
        assert!(
            (0..n).all(|id| log.drops(id) == 0),
            "the library dropped a value"
        );
        drop((got, evicted, rx));
        log.assert_each_dropped_once();
    });
}

/// MPMC drop-oldest with two producers evicting while a consumer pops: per-producer order
/// of what the consumer sees, every value received or evicted exactly once.
///
/// Checked to fail with: `evict_into` leaving the slot's stamp "empty" after swapping the
/// new value in (the value is never received: the consumer's drain waits forever and loom
/// stops it). (Taking the oldest without winning the compare-and-swap of `head` is not
/// reached with three threads under two preemptions; [`drop_oldest_races_pop`] catches it.)
#[test]
fn mpmc_drop_oldest_two_producers_race_pop() {
    run(
        "mpmc_drop_oldest_two_producers_race_pop",
        MPMC,
        Pauses::None,
        |case| {
            let cap = case.cap;
            let (tx, rx) = Builder::new(cap).policy(Policy::DropOldest).mpmc::<usize>();
            let tx2 = tx.clone();
            let p0 = thread::spawn(move || {
                let mut evicted = Vec::new();
                for i in 0..2 {
                    evicted.extend(tx.send(i).unwrap().evicted());
                }
                evicted
            });
            let p1 = thread::spawn(move || tx2.send(STRIDE).unwrap().evicted());
            let mut got = Vec::new();
            if let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            let mut evicted = p0.join().unwrap();
            evicted.extend(p1.join().unwrap());
            let received = got.len();
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            assert!(
                got.len() - received <= cap,
                "more than capacity queued: {got:?}"
            );
            assert_fifo_per_producer(&got);
            let mut all: Vec<usize> = got.iter().chain(&evicted).copied().collect();
            all.sort_unstable();
            assert_eq!(all, vec![0, 1, STRIDE], "got {got:?} evicted {evicted:?}");
            let m = rx.metrics();
            assert_eq!(m.evicted_oldest, evicted.len() as u64, "{m:?}");
            assert_balanced(&m);
        },
    );
}

// === 4. close and abort racing send and receive ===

/// One thread closes while another sends two values (blocking `send`) and a third receives
/// once (blocking `recv`). Afterwards: every value sent with `Ok` is received or still
/// drainable (in order), every failed send handed its own value back, a send made after the
/// sender saw the queue closed failed, and a send after the close fails with the value back.
/// The one exception, SPSC only: a send that read the state just before the close and
/// landed after the receiver had reported `Closed` is discarded and counted (see
/// [`closed_is_final`]).
///
/// Checked to fail with: the SPSC producer not checking the closed flag ("send succeeded
/// after close"); MPMC `close` setting the mark with a load and a store instead of
/// `fetch_or` (a claim is lost, and the receiver waits for it forever).
#[test]
fn close_races_send_and_recv() {
    run("close_races_send_and_recv", BOTH, Pauses::Park, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let closer = tx.closer();
        let sender = thread::spawn(move || {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            for i in 0..2 {
                let closed_before = tx.is_closed();
                match tx.send(i) {
                    Ok(Sent::Queued) => {
                        assert!(!closed_before, "send succeeded after close");
                        ok.push(i);
                    }
                    Ok(other) => panic!("Block policy returned {other:?}"),
                    Err(SendError::Closed(v)) => {
                        assert_eq!(v, i);
                        failed.push(v);
                    }
                    Err(SendError::Overloaded(_)) => panic!("Block policy overloaded"),
                }
            }
            (ok, failed, tx)
        });
        let receiver = thread::spawn(move || {
            let got = rx.recv().ok();
            (got, rx)
        });
        case.pause();
        assert!(closer.close());
        let (ok, failed, mut tx) = sender.join().unwrap();
        let (got, mut rx) = receiver.join().unwrap();
        let saw_closed = got.is_none();
        let mut received: Vec<usize> = got.into_iter().collect();
        received.extend(rx.drain_closed());
        let m = rx.metrics();
        let discarded = m.discarded as usize;
        assert!(
            discarded == 0 || (flavor == Flavor::Spsc && saw_closed),
            "{m:?}"
        );
        assert_eq!(
            received[..],
            ok[..ok.len() - discarded],
            "sent with Ok {ok:?}, failed {failed:?}, {m:?}"
        );
        assert_partition(2, &[&ok, &failed]);
        assert_eq!(tx.try_send(9), Err(TrySendError::Closed(9)));
        assert_eq!(tx.send(9), Err(SendError::Closed(9)));
        assert!(!tx.close() && !rx.close());
        assert_eq!((m.sent, m.len), (ok.len() as u64, 0), "{m:?}");
        assert_eq!(m.received, received.len() as u64, "{m:?}");
        assert_balanced(&m);
    });
}

/// `Closed` is final. One thread sends once (`try_send`) while the receiver receives until
/// `Closed` and a third thread closes: after the receiver's `Closed`, nothing is received.
/// MPMC: the send's claim of `tail` and the close's mark are one atomic word, so a value
/// sent with `Ok` is received. SPSC: a send that read the state just before the close may
/// land after the consumer reported `Closed`; it is then discarded and counted (see the
/// `chan::spsc` docs), so `received + discarded == sent with Ok`.
///
/// Checked to fail with: MPMC `close` setting the mark with a load and a store instead of
/// `fetch_or`; the SPSC consumer without its "`Closed` seen" flag (the code before it was
/// added): a value received after `Closed`.
#[test]
fn closed_is_final() {
    run("closed_is_final", BOTH, Pauses::None, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let closer = tx.closer();
        let sender = thread::spawn(move || tx.try_send(0).is_ok());
        let receiver = thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_spinning() {
                got.push(v);
            }
            (got, rx)
        });
        closer.close();
        let sent = sender.join().unwrap();
        let (got, mut rx) = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "received {got:?}");
        let m = rx.metrics();
        if flavor == Flavor::Mpmc {
            assert_eq!(m.discarded, 0, "{m:?}");
        }
        assert_eq!(got.len() + m.discarded as usize, usize::from(sent), "{m:?}");
        assert!(got.iter().all(|&v| v == 0), "{got:?}");
        assert_eq!((m.sent, m.len), (u64::from(sent), 0), "{m:?}");
        assert_balanced(&m);
    });
}

/// The smallest SPSC schedule where a send lands after the consumer reported `Closed`
/// (two threads):
///
/// 1. producer `try_send`: loads the state: open;
/// 2. consumer: `close()`, then `try_recv`: closed and empty: `Err(Closed)`;
/// 3. producer: pushes; `try_send` returns `Ok(())`;
/// 4. consumer: `try_recv` must still say `Closed` (and discard the value, counted).
///
/// Checked to fail with: the consumer without its "`Closed` seen" flag (step 4 returns
/// `Ok(0)`).
#[test]
fn spsc_closed_is_final_after_late_send() {
    run(
        "spsc_closed_is_final_after_late_send",
        &[Flavor::Spsc],
        Pauses::None,
        |case| {
            let (mut tx, mut rx) = Builder::new(case.cap).spsc::<usize>();
            let sender = thread::spawn(move || tx.try_send(0).is_ok());
            rx.close();
            let first = rx.try_recv();
            let sent = sender.join().unwrap();
            let m = if first == Err(TryRecvError::Closed) {
                assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "sent: {sent}");
                let m = rx.metrics();
                assert_eq!(m.discarded, u64::from(sent), "{m:?}");
                m
            } else {
                assert_eq!(first, Ok(0));
                rx.metrics()
            };
            assert_eq!((m.sent, m.len), (u64::from(sent), 0), "{m:?}");
            assert_balanced(&m);
        },
    );
}

/// SPSC: `abort` (through a `Closer`) races the producer and the consumer, with payloads
/// that count their drops. Every value is received, handed back by a failed send, or
/// discarded (and counted in `discarded`), exactly once; the closer's `abort` returns 0 and
/// leaves the discarding to the consumer's next call; after the abort nothing is received.
///
/// (For MPMC, the same three threads can leave two poppers, the receiver and `abort`,
/// waiting on a sender preempted mid-write, which loom cannot finish exploring; see
/// [`mpmc_two_producers_one_consumer`]. `mpmc_abort_races_*` cover it pairwise.)
///
/// Checked to fail with: the consumer ignoring `ABORTED` in `try_recv` (a value still
/// received after the abort).
#[test]
fn spsc_abort_races_send_and_recv() {
    run(
        "spsc_abort_races_send_and_recv",
        &[Flavor::Spsc],
        Pauses::Park,
        |case| {
            let Case { flavor, cap, .. } = case;
            let n = 2;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let closer = tx.closer();
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let mut failed = Vec::new();
                    for i in 0..n {
                        if let Err(e) = tx.send(log.tok(i)) {
                            assert!(matches!(e, SendError::Closed(_)));
                            let v = e.into_inner();
                            assert_eq!(v.id, i);
                            failed.push(v);
                        }
                    }
                    (failed, tx)
                })
            };
            let receiver = thread::spawn(move || {
                let got = rx.recv().ok();
                (got, rx)
            });
            case.pause();
            let aborted = closer.abort();
            let (failed, tx) = sender.join().unwrap();
            let (got, mut rx) = receiver.join().unwrap();
            // After the abort nothing more is received, whoever discards.
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
            let received: Vec<Tok> = got.into_iter().collect();
            let m = rx.metrics();
            assert_eq!(m.len, 0, "{m:?}");
            assert_eq!(
                aborted, None,
                "an SPSC closer's abort leaves discarding to the consumer"
            );
            assert_eq!(
                received.len() + failed.len() + m.discarded as usize,
                n,
                "received {:?}, failed {:?}, {m:?}",
                ids(&received),
                ids(&failed)
            );
            assert_balanced(&m);
            // The discarded values were dropped already: exactly those not held by the test.
            let held: HashSet<usize> = ids(&received).into_iter().chain(ids(&failed)).collect();
            for id in 0..n {
                assert_eq!(
                    log.drops(id),
                    usize::from(!held.contains(&id)),
                    "value {id}"
                );
            }
            drop((received, failed, tx, rx, closer));
            log.assert_each_dropped_once();
        },
    );
}

/// MPMC: `abort` races a sender (two blocking sends of payloads that count their drops)
/// and a receive made just before it on the aborting thread. `abort`'s count, the values
/// received and the values handed back by failed sends add up to the values sent, each
/// exactly once, and nothing is left after the abort.
///
/// Checked to fail with: `pop` reporting `Empty` at a position claimed but not yet written
/// instead of waiting for it (`abort` leaves a value behind), or `discard_all` not counting
/// what it drops.
#[test]
fn mpmc_abort_races_send() {
    run("mpmc_abort_races_send", MPMC, Pauses::Park, |case| {
        let n = 2;
        let log = Log::new(n);
        let (tx, rx) = Builder::new(case.cap).mpmc::<Tok>();
        let sender = {
            let log = log.clone();
            thread::spawn(move || {
                let mut failed = Vec::new();
                for i in 0..n {
                    match tx.send(log.tok(i)) {
                        Ok(sent) => assert!(matches!(sent, Sent::Queued)),
                        Err(SendError::Closed(v)) => {
                            assert_eq!(v.id, i);
                            failed.push(v);
                        }
                        Err(SendError::Overloaded(_)) => panic!("Block policy overloaded"),
                    }
                }
                failed
            })
        };
        case.pause();
        let received: Vec<Tok> = rx.try_recv().into_iter().collect();
        let aborted = rx.abort();
        let failed = sender.join().unwrap();
        assert_eq!(
            received.len() + aborted + failed.len(),
            n,
            "abort said {aborted}"
        );
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
        let m = rx.metrics();
        assert_eq!((m.discarded, m.len), (aborted as u64, 0), "{m:?}");
        assert_balanced(&m);
        let held: HashSet<usize> = ids(&received).into_iter().chain(ids(&failed)).collect();
        for id in 0..n {
            assert_eq!(
                log.drops(id),
                usize::from(!held.contains(&id)),
                "value {id}"
            );
        }
        drop((received, failed, rx));
        log.assert_each_dropped_once();
    });
}

/// MPMC: `abort` races a receiver that receives until `Closed` (blocking `recv`) from a
/// full queue: the receiver and `abort` pop concurrently. Each value is received or
/// discarded exactly once; `abort` counts what it discarded; the receiver ends with
/// `Closed`.
///
/// Checked to fail with: `discard_all` not counting what it drops (`discarded` too small).
#[test]
fn mpmc_abort_races_recv() {
    run("mpmc_abort_races_recv", MPMC, Pauses::Park, |case| {
        let cap = case.cap;
        let log = Log::new(cap);
        let (tx, rx) = Builder::new(cap).mpmc::<Tok>();
        for i in 0..cap {
            tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
        }
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv() {
                    got.push(v);
                }
                got
            })
        };
        case.pause();
        let aborted = tx.abort();
        let got = receiver.join().unwrap();
        let m = rx.metrics();
        assert_eq!(got.len() + m.discarded as usize, cap, "{m:?}");
        assert!(aborted as u64 <= m.discarded, "abort said {aborted}: {m:?}");
        assert_eq!(m.len, 0, "{m:?}");
        assert_balanced(&m);
        let got_ids = ids(&got);
        assert!(got_ids.windows(2).all(|w| w[0] < w[1]), "{got_ids:?}");
        for id in 0..cap {
            assert_eq!(
                log.drops(id),
                usize::from(!got_ids.contains(&id)),
                "value {id}"
            );
        }
        drop((got, tx, rx));
        log.assert_each_dropped_once();
    });
}

// === 5. last handles dropped concurrently ===

/// The last sender and the last receiver are dropped on two threads while a value is
/// queued and the sender's thread sends one more first. Every value is dropped exactly
/// once, and loom checks that the queue itself is freed.
///
/// At capacity 1 the send finds the queue full, so it can only fail: room made by the
/// receiver's drop discarding the queued value must not take a send that saw the queue
/// open before the drop.
///
/// Checked to fail with: the SPSC consumer's drop letting the producer discard
/// (`CONSUMER_GONE`) before it has discarded itself (loom: concurrent writes to a slot);
/// the SPSC producer reading the state before it reloads `head` (the send is queued).
#[test]
fn last_handles_dropped_concurrently() {
    run(
        "last_handles_dropped_concurrently",
        BOTH,
        Pauses::Park,
        |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(2);
            let (mut tx, rx) = queue::<Tok>(flavor, cap, Policy::Block);
            tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    // Queued (cap 2), or handed back (closed; at cap 1 the send blocks until
                    // the receiver's drop wakes it): in each case dropped once by someone.
                    let sent = tx.send(log.tok(1)).is_ok();
                    drop(tx);
                    sent
                })
            };
            let receiver = thread::spawn(move || {
                case.pause();
                drop(rx);
            });
            let sent = sender.join().unwrap();
            receiver.join().unwrap();
            assert!(
                !(cap == 1 && sent),
                "a send to a full queue landed in room made by the receiver's drop"
            );
            log.assert_each_dropped_once();
        },
    );
}

/// As above, with a `Closer` kept to read the final counters: `sent` equals what was
/// discarded plus what is still in the ring (a send that raced the receiver's drop), and
/// dropping the closer frees the rest.
///
/// Checked to fail with: the SPSC consumer's drop not discarding the queued values ("queued
/// value not dropped with the receiver").
#[test]
fn last_handles_dropped_concurrently_metrics() {
    run(
        "last_handles_dropped_concurrently_metrics",
        BOTH,
        Pauses::None,
        |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(2);
            let (mut tx, rx) = queue::<Tok>(flavor, cap, Policy::DropNewest);
            let closer = tx.closer();
            tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    tx.send(log.tok(1))
                        .map(|_| ())
                        .map_err(|e| e.into_inner().id)
                })
            };
            let receiver = thread::spawn(move || drop(rx));
            let sent = sender.join().unwrap();
            receiver.join().unwrap();
            let m = closer.metrics();
            assert_eq!(m.received, 0, "{m:?}");
            assert_balanced(&m);
            let sent_count = 1 + u64::from(sent.is_ok()) - m.dropped_newest;
            assert_eq!(m.sent, sent_count, "{m:?} send: {sent:?}");
            // Dropped so far: the discarded, the dropped-newest, the handed back.
            let dropped: usize = (0..2).map(|id| log.drops(id)).sum();
            assert_eq!(
                dropped as u64,
                m.discarded + m.dropped_newest + u64::from(sent.is_err()),
                "{m:?}"
            );
            // Dropping the last receiver dropped what was queued at once. Only on SPSC may
            // a send that raced the consumer's drop still sit in the ring (its producer is
            // gone before it could discard it); the ring's own drop takes it below.
            assert_eq!(
                log.drops(0),
                1,
                "queued value not dropped with the receiver"
            );
            let max_left = usize::from(flavor == Flavor::Spsc && sent.is_ok());
            assert!(m.len <= max_left, "{m:?} send: {sent:?}");
            drop(closer);
            log.assert_each_dropped_once();
        },
    );
}

// === 6. blocking hand-off with real parking ===

/// A receiver blocks in `recv` on an empty queue; the other thread pauses (so that loom
/// also explores the receiver parking, see [`Pauses`]), then sends one value. A lost
/// wake-up is a deadlock, which loom reports.
///
/// Checked to fail with: `poll_recv` without its re-check after registering; a rendezvous
/// sender whose offer waits in line not waking the receivers; the rendezvous sender not
/// waking the parked receiver it hands its value to (all: loom reports a deadlock). Not
/// caught: removing the `SeqCst` fence of `notify_one` (loom's `SeqCst` fence is stronger
/// than the C++ one).
#[test]
fn blocking_recv_woken_by_send() {
    run("blocking_recv_woken_by_send", ALL, Pauses::Park, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let receiver = thread::spawn(move || {
            let r = rx.recv();
            (r, rx)
        });
        case.pause();
        assert_eq!(tx.send(7), Ok(Sent::Queued));
        let (r, rx) = receiver.join().unwrap();
        assert_eq!(r, Ok(7));
        let m = rx.metrics();
        assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
    });
}

/// A sender blocks in `send` on a full queue (`Block`); the other thread pauses, then
/// receives everything with blocking `recv`.
///
/// Checked to fail with: `poll_send` without its re-check after registering; the SPSC
/// consumer not notifying `room` after a pop; the rendezvous receiver not waking the sender
/// whose value it took (loom: deadlock).
#[test]
fn blocking_send_woken_by_recv() {
    run("blocking_send_woken_by_recv", ALL, Pauses::Park, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        for i in 0..cap {
            tx.try_send(i).unwrap();
        }
        let sender = thread::spawn(move || {
            let r = tx.send(cap);
            (r, tx)
        });
        case.pause();
        for i in 0..=cap {
            assert_eq!(rx.recv(), Ok(i));
        }
        let (r, tx) = sender.join().unwrap();
        assert_eq!(r, Ok(Sent::Queued));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError));
        let m = rx.metrics();
        let n = cap as u64 + 1;
        assert_eq!((m.sent, m.received, m.len), (n, n, 0), "{m:?}");
    });
}

/// Rendezvous: two senders block; the receiver pauses, then receives twice (blocking):
/// each receive must take a sender's value and complete its send, none may be forgotten.
///
/// Rendezvous only: on the array ring, both senders' claims wait (spin, unbounded) on a
/// receiver preempted while copying the oldest item out, which loom cannot finish
/// exploring (see [`mpmc_two_producers_one_consumer`]).
///
/// Checked to fail with: the receiver not waking the sender whose value it took (loom:
/// deadlock).
#[test]
fn rendezvous_two_blocked_senders() {
    run_rendezvous("rendezvous_two_blocked_senders", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let tx2 = tx.clone();
        let s0 = thread::spawn(move || tx.send(1));
        let s1 = thread::spawn(move || tx2.send(2));
        case.pause();
        let mut got = vec![rx.recv().unwrap(), rx.recv().unwrap()];
        assert_eq!(s0.join().unwrap(), Ok(Sent::Queued));
        assert_eq!(s1.join().unwrap(), Ok(Sent::Queued));
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(rx.recv(), Err(RecvError));
        let m = rx.metrics();
        assert_eq!((m.sent, m.received, m.len), (2, 2, 0), "{m:?}");
    });
}

/// Rendezvous: two receivers block; the sender pauses, then sends two values (blocking):
/// each send must reach a receiver, none may be forgotten.
///
/// Rendezvous only: on the array ring, both receivers' pops can wait on the sender
/// preempted mid-write (see [`mpmc_two_producers_one_consumer`]).
///
/// Checked to fail with: a sender whose offer waits in line not waking the receivers to
/// take it; the sender not waking a parked receiver it hands its value to straight (both:
/// loom reports a deadlock).
#[test]
fn rendezvous_two_blocked_receivers() {
    run_rendezvous("rendezvous_two_blocked_receivers", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let rx2 = rx.clone();
        let r0 = thread::spawn(move || rx.recv());
        let r1 = thread::spawn(move || rx2.recv());
        case.pause();
        assert_eq!(tx.send(1), Ok(Sent::Queued));
        assert_eq!(tx.send(2), Ok(Sent::Queued));
        let mut got = vec![r0.join().unwrap().unwrap(), r1.join().unwrap().unwrap()];
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        let m = tx.metrics();
        assert_eq!((m.sent, m.received, m.len), (2, 2, 0), "{m:?}");
    });
}

// === 7. close wakes blocked parties ===

/// A receiver blocked on an empty queue is woken by a close from the sending side and
/// sees `Closed`.
///
/// Checked to fail with: `close` not waking the receivers (MPMC, SPSC and rendezvous: loom
/// reports a deadlock).
#[test]
fn close_wakes_blocked_receiver() {
    run("close_wakes_blocked_receiver", ALL, Pauses::Park, |case| {
        let Case { flavor, cap, .. } = case;
        let (tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let receiver = thread::spawn(move || rx.recv());
        case.pause();
        assert!(tx.close());
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

/// A receiver blocked on an empty queue is woken when the last sender is dropped.
///
/// Checked to fail with: the last MPMC sender's drop not closing; the SPSC close not waking
/// waiters (loom: deadlock).
#[test]
fn last_sender_drop_wakes_blocked_receiver() {
    run(
        "last_sender_drop_wakes_blocked_receiver",
        ALL,
        Pauses::Park,
        |case| {
            let Case { flavor, cap, .. } = case;
            let (tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
            let receiver = thread::spawn(move || rx.recv());
            case.pause();
            drop(tx);
            assert_eq!(receiver.join().unwrap(), Err(RecvError));
        },
    );
}

/// A sender blocked on a full queue is woken by a close from the receiving side and gets
/// its value back; the queued values are still drained.
///
/// Checked to fail with: `close` not waking the senders (MPMC, SPSC and rendezvous: loom
/// reports a deadlock).
#[test]
fn close_wakes_blocked_sender() {
    run("close_wakes_blocked_sender", ALL, Pauses::Park, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        for i in 0..cap {
            tx.try_send(i).unwrap();
        }
        let sender = thread::spawn(move || tx.send(cap));
        case.pause();
        assert!(rx.close());
        assert_eq!(sender.join().unwrap(), Err(SendError::Closed(cap)));
        assert_eq!(rx.drain_closed(), (0..cap).collect::<Vec<_>>());
    });
}

/// Rendezvous: a close races a sender and a receiver that block to meet each other: either
/// they met (the value went through) or both fail.
///
/// Checked to fail with: the rendezvous `close` not waking waiting receivers (loom:
/// deadlock).
#[test]
fn rendezvous_close_races_hand_off() {
    run_rendezvous("rendezvous_close_races_hand_off", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let closer = tx.closer();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };
        let sender = thread::spawn(move || tx.send(7));
        case.pause();
        closer.close();
        let sent = sender.join().unwrap();
        let got = receiver.join().unwrap();
        match sent {
            Ok(Sent::Queued) => assert_eq!(got, Ok(7)),
            Err(SendError::Closed(7)) => assert_eq!(got, Err(RecvError)),
            other => panic!("send returned {other:?}"),
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

// === 8. async: a future's registration racing the notifier ===

/// A receive future (`recv_async` on [`block_on`]) waits on an empty queue while
/// the other thread sends one value: blocking `send`, and at capacity 0 also a send future
/// (a rendezvous send future offers its value and wakes receive futures to pull it). A lost
/// wake-up leaves the receiver waiting forever, which loom reports as a deadlock. Payloads
/// count their drops: the value is received once, never dropped by the library.
///
/// Checked to fail with: `poll_recv` without its re-check after registering (loom reports
/// a deadlock, first at SPSC capacity 1).
#[test]
fn async_recv_woken_by_send() {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            // On the rings a send into an empty queue never waits: only the rendezvous
            // differs.
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_recv_woken_by_send/{side:?}");
        run(&name, flavors, Pauses::Poll, move |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(1);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let receiver = thread::spawn(move || {
                let r = block_on(rx.recv_async());
                (r, rx)
            });
            case.pause();
            let sent = match side {
                Side::Blocking => tx.send(log.tok(0)),
                Side::Async => block_on(tx.send_async(log.tok(0))),
            };
            assert!(matches!(sent, Ok(Sent::Queued)), "{sent:?}");
            let (r, rx) = receiver.join().unwrap();
            let got = r.expect("the receive future must get the value");
            assert_eq!((got.id, log.drops(0)), (0, 0));
            let m = rx.metrics();
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
            drop((got, tx, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// A send future (`send_async` on `block_on`) waits for room in a full queue (capacity 0:
/// for a receiver) while the other thread receives once: blocking `recv`, and at capacity 0
/// also a receive future. The send must complete; then everything is drained in order,
/// each value exactly once.
///
/// Checked to fail with: `poll_send` without its re-check after registering (loom reports
/// a deadlock, first at SPSC capacity 1); the rendezvous send not waking the parked
/// receiver it hands its value to (deadlock).
#[test]
fn async_send_woken_by_recv() {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            // On the rings the first value is queued already: only the rendezvous differs.
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_send_woken_by_recv/{side:?}");
        run(&name, flavors, Pauses::Poll, move |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(cap + 1);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let r = block_on(tx.send_async(log.tok(cap)));
                    (r, tx)
                })
            };
            case.pause();
            let first = match side {
                Side::Blocking => rx.recv(),
                Side::Async => block_on(rx.recv_async()),
            };
            let (sent, tx) = sender.join().unwrap();
            assert!(matches!(sent, Ok(Sent::Queued)), "{sent:?}");
            drop(tx);
            let mut got: Vec<Tok> = first.into_iter().collect();
            got.extend(rx.drain_closed());
            assert_eq!(ids(&got), (0..=cap).collect::<Vec<_>>());
            assert!((0..=cap).all(|id| log.drops(id) == 0));
            let m = rx.metrics();
            let n = cap as u64 + 1;
            assert_eq!((m.sent, m.received, m.len), (n, n, 0), "{m:?}");
            drop((got, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// A reserve future (`reserve_async` on [`block_on`]) waits for room in a full queue
/// (capacity 0: for a receiver to stand in line) while the other thread receives once:
/// blocking `recv`, and at capacity 0 also a receive future (each kind of rendezvous
/// receiver must wake a waiting reservation when it stands in line). The reservation must
/// complete; its permit's value is then received, after the queued ones, each once.
///
/// Checked to fail with: `poll_reserve` without its re-check after registering (loom
/// reports a deadlock, first at SPSC capacity 1); the blocking rendezvous receive not
/// waking `room` when it stands in line (the defect fixed in commit c78de4e: deadlock).
#[test]
fn async_reserve_woken_by_recv() {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_reserve_woken_by_recv/{side:?}");
        run(&name, flavors, Pauses::Poll, move |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(cap + 1);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let permit = block_on(tx.reserve_async());
                    let sent = permit.map(|p| p.send(log.tok(cap)));
                    assert!(matches!(sent, Ok(Ok(Sent::Queued))), "{sent:?}");
                    tx
                })
            };
            case.pause();
            let first = match side {
                Side::Blocking => rx.recv(),
                Side::Async => block_on(rx.recv_async()),
            };
            let tx = sender.join().unwrap();
            drop(tx);
            let mut got: Vec<Tok> = first.into_iter().collect();
            got.extend(rx.drain_closed());
            assert_eq!(ids(&got), (0..=cap).collect::<Vec<_>>());
            assert!((0..=cap).all(|id| log.drops(id) == 0));
            let m = rx.metrics();
            let n = cap as u64 + 1;
            assert_eq!((m.sent, m.received, m.len), (n, n, 0), "{m:?}");
            drop((got, rx));
            log.assert_each_dropped_once();
        });
    }
}

// === 9. async: a woken future that goes away passes its wake-up on ===

/// MPMC and rendezvous: two receive futures wait, polled once by hand; a third receiver
/// (`recv_async` on `block_on`, on another thread) comes after them. One value is sent
/// (`try_send`); the first future in line is woken for it (on the ring: both, since waking
/// a future also wakes the next; at capacity 0 the value is handed to the first). Both are
/// dropped without being polled again: the third receiver must get the value (no
/// deadlock), exactly once.
///
/// Two futures are dropped, not one, because on the ring the notifier's second wake-up
/// already reaches the second in line: only with two does the third receiver depend on
/// the pass-on of a dropped future.
///
/// Checked to fail with: `WaitList::cancel` not passing on a wake-up it took (ring: loom
/// reports a deadlock); the rendezvous `cancel_recv` not handing a value handed to the
/// dropped future on to the next waiting receiver (keeping it for the next receive, or
/// dropping it: deadlock, the third receiver is never woken); `poll_recv` without its
/// re-check.
#[test]
fn dropped_recv_futures_pass_wake_on() {
    run(
        "dropped_recv_futures_pass_wake_on",
        &[Flavor::Mpmc, Flavor::Rendezvous],
        Pauses::Poll,
        |case| {
            let log = Log::new(1);
            let (tx, rx) = Builder::new(case.cap).mpmc::<Tok>();
            let (rx1, rx2) = (rx.clone(), rx.clone());
            let (w0, w1) = (Recorder::new(), Recorder::new());
            let mut f0 = rx.recv_async();
            let mut f1 = rx1.recv_async();
            assert!(poll_once(&mut f0, &w0).is_pending());
            assert!(poll_once(&mut f1, &w1).is_pending());
            let third = thread::spawn(move || block_on(rx2.recv_async()).map(|t| t.id));
            case.pause();
            tx.try_send(log.tok(0))
                .unwrap_or_else(|e| panic!("a receiver waits: {e:?}"));
            assert_eq!(w0.count(), 1, "the first in line is woken");
            drop(f0);
            drop(f1);
            assert_eq!(third.join().unwrap(), Ok(0));
            assert_eq!(
                log.drops(0),
                1,
                "received, then dropped by the third receiver"
            );
            let m = rx.metrics();
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
        },
    );
}

/// A receive future that is woken and then neither polled nor dropped (kept, forgotten)
/// must not starve the receiver behind it.
///
/// MPMC and rendezvous: the first future is polled once by hand and kept until the end; a
/// second receiver (`recv_async` on `block_on`, another thread) waits behind it; one value
/// is sent with a blocking `send` (at capacity 0 a send future's offer waits in line for
/// receive futures to pull it). The second receiver must get it. SPSC (one consumer): two
/// futures are polled once and leaked with `mem::forget` (the only way to start another
/// receive while one is pending), then the second receiver waits: the stale registrations
/// must not absorb the wake-up.
///
/// Checked to fail with: `notify_one` waking only the first in line (ring: loom reports a
/// deadlock); the rendezvous offer waking only the first receiver in line (deadlock);
/// the SPSC wait lists keeping stale registrations (`single` off: deadlock).
#[test]
fn forgotten_recv_future_does_not_starve() {
    run(
        "forgotten_recv_future_does_not_starve",
        ALL,
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(1);
            let (mut tx, rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let (kept, rx2, w) = match rx {
                Rx::Mpmc(rx) => {
                    let rx2 = Rx::Mpmc(rx.clone());
                    (Some(rx), rx2, Recorder::new())
                }
                Rx::Spsc(mut rx) => {
                    let w = Recorder::new();
                    for _ in 0..2 {
                        let mut f = rx.recv_async();
                        assert!(poll_once(&mut f, &w).is_pending());
                        std::mem::forget(f);
                    }
                    (None, Rx::Spsc(rx), w)
                }
            };
            let mut f = kept.as_ref().map(Receiver::recv_async);
            if let Some(f) = &mut f {
                assert!(poll_once(f, &w).is_pending());
            }
            let second = {
                let mut rx2 = rx2;
                thread::spawn(move || {
                    let r = block_on(rx2.recv_async()).map(|t| t.id);
                    (r, rx2)
                })
            };
            case.pause();
            assert!(matches!(tx.send(log.tok(0)), Ok(Sent::Queued)));
            let (r, rx2) = second.join().unwrap();
            assert_eq!(r, Ok(0));
            assert_eq!(log.drops(0), 1);
            drop(f);
            let m = rx2.metrics();
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
        },
    );
}

// === 10. close wakes async waiters ===

/// A receive future waits on an empty queue; the other thread closes the queue (from the
/// sending side). The future resolves with `RecvError`.
///
/// Checked to fail with: `Core::wake_all` not waking the receivers (SPSC and MPMC) and
/// the rendezvous `close` not waking them (loom: deadlock); `poll_recv` without its
/// re-check.
#[test]
fn close_wakes_async_receiver() {
    run("close_wakes_async_receiver", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let (tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
        let receiver = thread::spawn(move || block_on(rx.recv_async()).map(|t| t.id));
        case.pause();
        assert!(tx.close());
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

/// A send future waits for room in a full queue (capacity 0: for a receiver); the other
/// thread closes the queue from the receiving side. The future resolves with
/// `Closed(value)`, its own value back; the queued values are still drained, each exactly
/// once.
///
/// Checked to fail with: `Core::wake_all` not waking the senders (SPSC and MPMC) and the
/// rendezvous `close` not waking them (loom: deadlock); `poll_send` without its re-check.
#[test]
fn close_wakes_async_sender() {
    run("close_wakes_async_sender", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let log = Log::new(cap + 1);
        let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
        for i in 0..cap {
            tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
        }
        let sender = {
            let log = log.clone();
            thread::spawn(move || block_on(tx.send_async(log.tok(cap))))
        };
        case.pause();
        assert!(rx.close());
        let back = match sender.join().unwrap() {
            Err(SendError::Closed(v)) => v,
            other => panic!("the send future must fail with its value: {other:?}"),
        };
        assert_eq!((back.id, log.drops(cap)), (cap, 0));
        let got = rx.drain_closed();
        assert_eq!(ids(&got), (0..cap).collect::<Vec<_>>());
        let m = rx.metrics();
        assert_eq!(
            (m.sent, m.received, m.len),
            (cap as u64, cap as u64, 0),
            "{m:?}"
        );
        drop((back, got, rx));
        log.assert_each_dropped_once();
    });
}

/// A `closed()` future waits; the other thread drops the last receiver (which closes the
/// queue). The future resolves.
///
/// Checked to fail with: the `closed()` future's poll without its re-check after
/// registering; `Core::wake_all` not waking the `closing` list (loom: deadlock).
#[test]
fn close_wakes_closed_future() {
    run("close_wakes_closed_future", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let (tx, rx) = queue::<Tok>(flavor, cap, Policy::Block);
        let waiter = thread::spawn(move || {
            block_on(tx.closed());
            tx.is_closed()
        });
        case.pause();
        drop(rx);
        assert!(waiter.join().unwrap());
    });
}

// === 11. poll once, then drop ===

/// Ends a model: the queue holds nothing more (drained with `try_recv`), and is whole again.
fn drain_now(rx: &mut Rx<Tok>) -> Vec<Tok> {
    let mut out = Vec::new();
    while let Ok(v) = rx.try_recv() {
        out.push(v);
    }
    out
}

/// A receive future is polled once (by hand) and dropped while the other thread sends one
/// value with `try_send` (at capacity 0 it succeeds only while the future stands in line,
/// and then hands the value to it). The value is, exactly once: received by the poll, handed
/// back by `try_send`, or received by a `try_recv` afterwards (at capacity 0: a value handed
/// to the dropped future is kept for the next receive). The queue's room is whole again.
///
/// Checked to fail with: the rendezvous `cancel_recv` not keeping a value handed to the
/// dropped future (the value is dropped by the library, never received).
#[test]
fn recv_future_polled_once_then_dropped() {
    run(
        "recv_future_polled_once_then_dropped",
        ALL,
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(1);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let r = match tx.try_send(log.tok(0)) {
                        Ok(()) => None,
                        Err(TrySendError::Full(v)) => Some(v),
                        Err(TrySendError::Closed(_)) => panic!("closed"),
                    };
                    (r, tx)
                })
            };
            case.pause();
            let w = Recorder::new();
            let mut f = rx.recv_async();
            let polled = match poll_once(&mut f, &w) {
                Poll::Ready(Ok(v)) => Some(v),
                Poll::Ready(Err(e)) => panic!("{e:?}"),
                Poll::Pending => None,
            };
            drop(f);
            let (back, mut tx) = sender.join().unwrap();
            let later = drain_now(&mut rx);
            assert!(
                flavor == Flavor::Rendezvous || back.is_none(),
                "room was free"
            );
            let held: Vec<Tok> = polled.into_iter().chain(back).chain(later).collect();
            assert_eq!(ids(&held), vec![0], "the value, exactly once");
            assert_eq!(log.drops(0), 0);
            drop(held);
            let m = rx.metrics();
            assert_eq!(m.len, 0, "{m:?}");
            assert_eq!(m.sent, m.received, "{m:?}");
            assert_balanced(&m);
            assert_capacity_restored(&mut tx, &mut rx, cap);
            drop((tx, rx));
            log.assert_each_dropped_once();
        },
    );
}

/// A send future is polled once (by hand) on a full queue (capacity 0: no receiver waits)
/// and dropped while the other thread receives once with `try_recv` (which makes room, or at
/// capacity 0 takes the future's offer if it is in line). The future's value is, exactly
/// once: queued (and received in order), taken by the receiver, or dropped with the future,
/// never both sent and dropped. The queue's room is whole again.
///
/// Checked to fail with: the rendezvous `cancel_send` leaving the dropped future's offer in
/// line ("an offer outlived its send future"); the send future's drop leaking its unsent
/// value ("a pending ring send keeps its value").
#[test]
fn send_future_polled_once_then_dropped() {
    run(
        "send_future_polled_once_then_dropped",
        ALL,
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let receiver = thread::spawn(move || {
                let r = rx.try_recv().ok();
                (r, rx)
            });
            case.pause();
            let w = Recorder::new();
            let mut f = tx.send_async(log.tok(cap));
            let polled = poll_once(&mut f, &w);
            drop(f);
            let dropped = log.drops(cap) == 1;
            match polled {
                Poll::Ready(Ok(Sent::Queued)) => assert!(!dropped, "sent and dropped"),
                Poll::Pending => assert!(
                    dropped || flavor == Flavor::Rendezvous,
                    "a pending ring send keeps its value"
                ),
                other => panic!("{other:?}"),
            }
            let (first, mut rx) = receiver.join().unwrap();
            let rest = drain_now(&mut rx);
            if flavor == Flavor::Rendezvous {
                // The dropped future's offer is gone: taken before the drop, or withdrawn.
                assert!(rest.is_empty(), "an offer outlived its send future");
            }
            let got: Vec<Tok> = first.into_iter().chain(rest).collect();
            let got_ids = ids(&got);
            assert!(got_ids.windows(2).all(|p| p[0] < p[1]), "{got_ids:?}");
            let dropped_ids: Vec<usize> = if dropped { vec![cap] } else { vec![] };
            assert_partition(n, &[&got_ids, &dropped_ids]);
            assert!((0..cap).all(|id| log.drops(id) == 0));
            let m = rx.metrics();
            assert_eq!(m.sent, (n - dropped_ids.len()) as u64, "{m:?}");
            assert_eq!((m.received, m.len), (got.len() as u64, 0), "{m:?}");
            drop(got);
            assert_capacity_restored(&mut tx, &mut rx, cap);
            drop((tx, rx));
            log.assert_each_dropped_once();
        },
    );
}

/// A reserve future is polled once (by hand) on a full queue (capacity 0: it needs a waiting
/// receiver) while the other thread makes room with one `try_recv` (capacity 0: stands in
/// line briefly with `recv_deadline(now)`). If the poll got a permit, a value is sent
/// through it; otherwise the future is dropped. Every value is received exactly once, in
/// order, and the room is whole again (no reservation or claimed receiver left behind).
///
/// Checked to fail with: the rendezvous `cancel_recv` dropping a value handed to a
/// receiver that gave up (here the claimed receiver, whose deadline passed before the
/// permit's value reached it): the value is never received.
#[test]
fn reserve_future_polled_once_then_dropped() {
    run(
        "reserve_future_polled_once_then_dropped",
        ALL,
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(cap + 1);
            let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let other = thread::spawn(move || {
                let r = if flavor == Flavor::Rendezvous {
                    rx.recv_deadline(Instant::now()).ok()
                } else {
                    rx.try_recv().ok()
                };
                (r, rx)
            });
            case.pause();
            let w = Recorder::new();
            let reserved = {
                let mut f = tx.reserve_async();
                match poll_once(&mut f, &w) {
                    Poll::Ready(Ok(permit)) => {
                        drop(f);
                        assert!(matches!(permit.send(log.tok(cap)), Ok(Sent::Queued)));
                        true
                    }
                    Poll::Ready(Err(e)) => panic!("{e:?}"),
                    Poll::Pending => false,
                }
            };
            let (first, mut rx) = other.join().unwrap();
            let got: Vec<Tok> = first.into_iter().chain(drain_now(&mut rx)).collect();
            let got_ids = ids(&got);
            let n = cap + usize::from(reserved);
            assert_eq!(got_ids, (0..n).collect::<Vec<_>>());
            assert!((0..n).all(|id| log.drops(id) == 0));
            let m = rx.metrics();
            assert_eq!(
                (m.sent, m.received, m.len),
                (n as u64, n as u64, 0),
                "{m:?}"
            );
            drop(got);
            assert_capacity_restored(&mut tx, &mut rx, cap);
            drop((tx, rx));
            if !reserved {
                drop(log.tok(cap));
            }
            log.assert_each_dropped_once();
        },
    );
}

/// A `closed()` future is polled once (by hand) while the other thread closes the queue
/// (through a `Closer`). If the poll was pending, the close must wake it (loom reports a
/// deadlock otherwise); the future is then dropped without another poll.
///
/// Checked to fail with: the `closed()` future's poll without its re-check after
/// registering; `Core::wake_all` not waking the `closing` list (loom: deadlock).
#[test]
fn closed_future_polled_once_then_dropped() {
    run(
        "closed_future_polled_once_then_dropped",
        ALL,
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let (tx, _rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let closer = tx.closer();
            let other = thread::spawn(move || closer.close());
            case.pause();
            let w = Recorder::new();
            let mut f = tx.closed();
            if poll_once(&mut f, &w).is_pending() {
                w.wait();
            }
            drop(f);
            assert!(other.join().unwrap());
            assert!(tx.is_closed());
        },
    );
}

/// `send_async_deadline` with a deadline that is already due, on a full queue (capacity 0:
/// no receiver waits), polled once while the other thread receives once with `try_recv`:
/// the poll tries, registers, re-checks, then gives up (leaves the line, one last try). It
/// resolves to `Queued` (the value is received exactly once) or `Timeout` with its own
/// value back (never received). The room is whole again.
///
/// Checked to fail with: the rendezvous `cancel_send` leaving the offer in line when the
/// deadline gives up ("an offer outlived its send future": the send said `Queued` for a
/// value no receiver had taken).
#[test]
fn send_deadline_polled_once() {
    run("send_deadline_polled_once", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let n = cap + 1;
        let log = Log::new(n);
        let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
        for i in 0..cap {
            tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
        }
        let receiver = thread::spawn(move || {
            let r = rx.try_recv().ok();
            (r, rx)
        });
        case.pause();
        let w = Recorder::new();
        let mut f = tx.send_async_deadline(log.tok(cap), std::future::ready(()));
        let back = match poll_once(&mut f, &w) {
            Poll::Ready(Ok(Sent::Queued)) => None,
            Poll::Ready(Err(SendTimeoutError::Timeout(v))) => Some(v),
            other => panic!("a due deadline resolves the first poll: {other:?}"),
        };
        drop(f);
        let (first, mut rx) = receiver.join().unwrap();
        let rest = drain_now(&mut rx);
        if flavor == Flavor::Rendezvous {
            // The future's offer is gone: taken before it gave up, or withdrawn.
            assert!(rest.is_empty(), "an offer outlived its send future");
        }
        let got: Vec<Tok> = first.into_iter().chain(rest).collect();
        let got_ids = ids(&got);
        assert!(got_ids.windows(2).all(|p| p[0] < p[1]), "{got_ids:?}");
        let back_ids: Vec<usize> = back.iter().map(|t| t.id).collect();
        assert_partition(n, &[&got_ids, &back_ids]);
        assert!((0..n).all(|id| log.drops(id) == 0));
        let m = rx.metrics();
        assert_eq!(m.sent, (n - back_ids.len()) as u64, "{m:?}");
        assert_eq!((m.received, m.len), (got.len() as u64, 0), "{m:?}");
        drop((got, back));
        assert_capacity_restored(&mut tx, &mut rx, cap);
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `recv_async_deadline` with a deadline that is already due, on an empty queue, polled
/// once while the other thread sends one value with `try_send` (capacity 0: it succeeds
/// only while the future stands in line). The poll resolves to the value or `Timeout`; the
/// value is, exactly once: received by the poll, handed back by `try_send`, or received
/// by a `try_recv` afterwards. The room is whole again.
///
/// Checked to fail with: the rendezvous `cancel_recv` dropping a value handed to the
/// future when no other receiver waits (the value is lost: "the value, exactly once").
#[test]
fn recv_deadline_polled_once() {
    run("recv_deadline_polled_once", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let log = Log::new(1);
        let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
        let sender = {
            let log = log.clone();
            thread::spawn(move || {
                let r = match tx.try_send(log.tok(0)) {
                    Ok(()) => None,
                    Err(TrySendError::Full(v)) => Some(v),
                    Err(TrySendError::Closed(_)) => panic!("closed"),
                };
                (r, tx)
            })
        };
        case.pause();
        let w = Recorder::new();
        let mut f = rx.recv_async_deadline(std::future::ready(()));
        let polled = match poll_once(&mut f, &w) {
            Poll::Ready(Ok(v)) => Some(v),
            Poll::Ready(Err(RecvTimeoutError::Timeout)) => None,
            Poll::Ready(Err(e)) => panic!("{e:?}"),
            Poll::Pending => panic!("a due deadline resolves the first poll"),
        };
        drop(f);
        let (back, mut tx) = sender.join().unwrap();
        let later = drain_now(&mut rx);
        assert!(
            flavor == Flavor::Rendezvous || back.is_none(),
            "room was free"
        );
        let held: Vec<Tok> = polled.into_iter().chain(back).chain(later).collect();
        assert_eq!(ids(&held), vec![0], "the value, exactly once");
        assert_eq!(log.drops(0), 0);
        drop(held);
        let m = rx.metrics();
        assert_eq!((m.len, m.sent), (0, m.received), "{m:?}");
        assert_capacity_restored(&mut tx, &mut rx, cap);
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

// === 12. permits ===

/// A permit dropped unused gives its room back to a sender blocked in `send` (`Block`).
///
/// MPMC ring: the queue is full with `cap - 1` values and the permit's reservation; the
/// sender blocks; the permit is dropped (the tail moves back: nothing was claimed after it).
/// Rendezvous: a receiver blocks in `recv`, the permit claims it; the sender blocks (its
/// offer waits in line, the only receiver being claimed); the permit is dropped (the
/// receiver goes back to the head of its line and must take the offer). The send must
/// complete; every value is received once; the room is whole again. (SPSC: a permit
/// borrows the only producer, so no other send can wait on it.)
///
/// Checked to fail with: the permit's drop not notifying `room` (ring, caught at the park
/// window's delays only: loom deadlock); the rendezvous `release_claimed` not waking the
/// receiver it puts back in line (the defect fixed in commit c78de4e: deadlock);
/// `poll_send` without its re-check; the rendezvous send not waking the parked receiver it
/// hands its value to.
#[test]
fn permit_drop_wakes_blocked_sender() {
    run(
        "permit_drop_wakes_blocked_sender",
        &[Flavor::Mpmc, Flavor::Rendezvous],
        Pauses::Park,
        |case| {
            let cap = case.cap;
            let n = cap.max(1);
            let log = Log::new(n);
            let (tx, rx) = Builder::new(cap).mpmc::<Tok>();
            for i in 0..n - 1 {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let receiver = (cap == 0).then(|| {
                let rx = rx.clone();
                thread::spawn(move || rx.recv().map(|t| t.id))
            });
            let permit = loop {
                match tx.try_reserve() {
                    Ok(permit) => break permit,
                    // At capacity 0: until the receiver stands in line.
                    Err(TrySendError::Full(())) if cap == 0 => thread::yield_now(),
                    Err(e) => panic!("{e:?}"),
                }
            };
            let sender = {
                let (tx, log) = (tx.clone(), log.clone());
                thread::spawn(move || tx.send(log.tok(n - 1)))
            };
            case.pause();
            drop(permit);
            assert!(matches!(sender.join().unwrap(), Ok(Sent::Queued)));
            let (mut tx, mut rx) = (Tx::Mpmc(tx), Rx::Mpmc(rx));
            let mut got = Vec::new();
            if let Some(receiver) = receiver {
                got.push(receiver.join().unwrap().unwrap());
            }
            let rest = drain_now(&mut rx);
            got.extend(ids(&rest));
            assert_eq!(got, (0..n).collect::<Vec<_>>());
            let m = rx.metrics();
            assert_eq!(
                (m.sent, m.received, m.len),
                (n as u64, n as u64, 0),
                "{m:?}"
            );
            drop(rest);
            assert_capacity_restored(&mut tx, &mut rx, cap);
            drop((tx, rx));
            log.assert_each_dropped_once();
        },
    );
}

/// Who races the drop of a permit in [`void_permit_races_recv_and_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VoidRace {
    /// A receiver blocked in `recv` (it waits at the reserved position); the permit is
    /// dropped concurrently.
    Receiver,
    /// A sender blocked in `send` (the queue is full); the permit is dropped concurrently.
    Sender,
    /// The permit is dropped first; then a receiver (`recv`) and a sender (`send`) race to
    /// pass the void.
    Both,
}

/// MPMC capacity 2: a permit reserves the first position and a later send claims the
/// second, so dropping the permit leaves a void (the tail cannot move back past the later
/// claim), which a receiver or a sender passes over. Three races (see [`VoidRace`]): the
/// drop against a blocked receiver, against a blocked sender, and (void already there) a
/// receiver against a sender. The receiver gets the later value, the sender completes,
/// every value is received exactly once, and the room is whole again (the void passed).
///
/// Capacity 2 only: at capacity 1 nothing can be claimed after a permit. The drop does
/// not race the receiver and the sender at once: `void_reserved` first marks the slot
/// empty for the reserved position and only then (its compare-and-swap of the tail having
/// failed) marks it void, and in between both the receiver's pop and the sender's claim
/// wait for it (a "write in progress"); with two threads waiting on a third preempted
/// there, loom lets the two yield to each other forever (see
/// [`mpmc_two_producers_one_consumer`]).
///
/// Checked to fail with: the permit's drop not notifying `items` (`Receiver`) or `room`
/// (`Sender`), both caught at the park window's delays only; `pop` reporting `Empty` at a
/// void (`Receiver`); a claim not passing a void at the head (`Sender`); `poll_recv` or
/// `poll_send` without its re-check (all: loom reports a deadlock).
#[test]
fn void_permit_races_recv_and_send() {
    for race in [VoidRace::Receiver, VoidRace::Sender, VoidRace::Both] {
        let pauses = match race {
            VoidRace::Both => Pauses::None,
            _ => Pauses::Park,
        };
        let name = format!("void_permit_races_recv_and_send/{race:?}");
        run_caps(&name, MPMC, &[2], pauses, move |case| {
            let log = Log::new(2);
            let (tx, rx) = Builder::new(case.cap).mpmc::<Tok>();
            let mut permit = Some(tx.try_reserve().expect("room"));
            tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
            if race == VoidRace::Both {
                drop(permit.take());
            }
            let receiver = (race != VoidRace::Sender).then(|| {
                let rx = rx.clone();
                thread::spawn(move || rx.recv())
            });
            let sender = (race != VoidRace::Receiver).then(|| {
                let (tx, log) = (tx.clone(), log.clone());
                thread::spawn(move || tx.send(log.tok(1)))
            });
            case.pause();
            drop(permit);
            let mut got = Vec::new();
            if let Some(receiver) = receiver {
                got.push(receiver.join().unwrap().expect("a value is queued"));
            }
            if let Some(sender) = sender {
                assert!(matches!(sender.join().unwrap(), Ok(Sent::Queued)));
            }
            let (mut tx, mut rx) = (Tx::Mpmc(tx), Rx::Mpmc(rx));
            got.extend(drain_now(&mut rx));
            let n = 1 + usize::from(race != VoidRace::Receiver);
            assert_eq!(ids(&got), (0..n).collect::<Vec<_>>());
            assert!((0..n).all(|id| log.drops(id) == 0));
            let m = rx.metrics();
            assert_eq!(
                (m.sent, m.received, m.len),
                (n as u64, n as u64, 0),
                "{m:?}"
            );
            drop(got);
            assert_capacity_restored(&mut tx, &mut rx, case.cap);
            drop((tx, rx));
            if n == 1 {
                drop(log.tok(1));
            }
            log.assert_each_dropped_once();
        });
    }
}

/// How the queue ends in [`permit_races_close_and_abort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Close,
    Abort,
}

/// What the permit's holder does in [`permit_races_close_and_abort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermitUse {
    Send,
    Drop,
}

/// MPMC ring: a permit is used (`send`) or dropped while another thread closes or aborts
/// the queue. At capacity 2 a later send claims the next position first (so a dropped
/// permit leaves a void); at capacity 1 the permit is alone (its drop would move the tail
/// back, unless the close's mark got there first). The reserved room outlives a close: a
/// permit's value still goes in and is drained, in order, then `Closed`. After an abort,
/// every value (the later one, and the permit's, whenever it lands) is discarded exactly
/// once and counted, and nothing is received.
///
/// Checked to fail with: `Permit::send` not discarding after an abort, the permit's drop
/// not discarding after an abort (a value left queued, uncounted); `Permit::send` reading
/// the aborted flag before `notify_one`'s `SeqCst` fence (the store-buffering race its
/// comment describes: the abort's discard misses the value and the send misses the flag);
/// `pop` reporting `Empty` at a void (`Close`/`Drop`: the drain never ends).
#[test]
fn permit_races_close_and_abort() {
    for ending in [Ending::Close, Ending::Abort] {
        for used in [PermitUse::Send, PermitUse::Drop] {
            let name = format!("permit_races_close_and_abort/{ending:?}/{used:?}");
            run(&name, MPMC, Pauses::Poll, move |case| {
                let cap = case.cap;
                let log = Log::new(2);
                let (tx, rx) = Builder::new(cap).mpmc::<Tok>();
                let permit = tx.try_reserve().expect("room");
                let later = cap > 1;
                if later {
                    tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
                }
                let closer = {
                    let closer = tx.closer();
                    thread::spawn(move || match ending {
                        Ending::Close => assert!(closer.close()),
                        Ending::Abort => drop(closer.abort()),
                    })
                };
                case.pause();
                match used {
                    PermitUse::Send => assert!(matches!(permit.send(log.tok(1)), Ok(Sent::Queued))),
                    PermitUse::Drop => drop(permit),
                }
                closer.join().unwrap();
                let mut rx = Rx::Mpmc(rx);
                // In queue order: the permit holds the earlier position.
                let mut values = Vec::new();
                if used == PermitUse::Send {
                    values.push(1);
                }
                if later {
                    values.push(0);
                }
                if ending == Ending::Abort {
                    // Before any receive (a receive after an abort discards what it finds):
                    // the abort and the permit between them discarded everything.
                    let m = rx.metrics();
                    assert_eq!((m.discarded, m.len), (values.len() as u64, 0), "{m:?}");
                    for &id in &values {
                        assert_eq!(log.drops(id), 1, "value {id} discarded once");
                    }
                }
                let got = rx.drain_closed();
                let m = rx.metrics();
                match ending {
                    Ending::Close => {
                        assert_eq!(ids(&got), values);
                        assert_eq!(m.discarded, 0, "{m:?}");
                    }
                    Ending::Abort => {
                        assert!(got.is_empty(), "received after abort: {:?}", ids(&got));
                        assert_eq!(m.discarded, values.len() as u64, "{m:?}");
                    }
                }
                assert_eq!(m.sent, values.len() as u64, "{m:?}");
                assert_eq!(m.len, 0, "{m:?}");
                assert_balanced(&m);
                drop((got, tx, rx));
                for id in 0..2 {
                    if !values.contains(&id) {
                        drop(log.tok(id));
                    }
                }
                log.assert_each_dropped_once();
            });
        }
    }
}
