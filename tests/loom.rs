#![cfg(loom)]
//! Loom models of the atomic protocols of core v2, driving the public API.
//!
//! Run with `ci/loom.sh` (each model in its own process, two at a time, with
//! `LOOM_MAX_PREEMPTIONS=2`; about 30 s of models on a 2-core machine after the build), or
//! by hand:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --profile loom --target-dir target/loom --test loom -- --nocapture
//! ```
//!
//! (`--nocapture` prints each configuration's number of executions and time.)
//!
//! Each model runs for capacities 1 and 2 (so every model wraps around the ring) and, where
//! the protocol exists in each, for SPSC, MPMC and the rendezvous (see [`run`]). Every model
//! does exact accounting: each value is received, handed back to its sender (in an error or
//! as an evicted value), or dropped by the library and counted, exactly once. Payloads that
//! the library may drop are [`Tok`]s, which record their drops, so a value dropped twice or
//! never is caught (loom itself checks that the queue's `Arc` is freed).
//!
//! Sections 1 to 7 drive the blocking API and the rings; 8 to 11 the futures: a future's
//! registration racing the notifier (8), wake-ups passed on by futures that go away or are
//! forgotten (9), close waking futures (10), every future polled once and then dropped
//! (11). Then the protocols that core v2 changed: permits as room (12), waker slots and
//! wait lines (13), what the consumer of an SPSC drop-oldest queue sees (14), rendezvous
//! receivers that leave (15). The SPSC close protocol (`DONE`/`TAKEBACK`, exact consumer
//! abort) is in section 4, next to the models it made exact, and section 5. Then the
//! memory-ordering guarantees of the crate docs (16), the admission limit's counting gate
//! (17), SPSC batch receives (18), and the credit gate (19): grants racing the sends that
//! spend them, close waking sends that wait for credit, waits for credit polled once and
//! dropped, a send holding a credit cancelled, and drop-oldest replacement out of credit.
//!
//! Spin loops in the models call `thread::yield_now`, which loom needs to make progress.
//! Blocking calls (`send`, `recv`) park for real: a lost wake-up makes loom report a
//! deadlock. For loom to explore a waiter's registration racing the notifier, the notifier
//! pauses first; see [`Pauses`]. Futures run on [`block_on`] (which parks between polls,
//! so a lost wake-up is a deadlock too) or are polled by hand with a [`Recorder`] waker;
//! a future's poll does not spin, so the notifier's pauses differ ([`Pauses::Poll`]).
//!
//! # What loom cannot do here
//!
//! - The MPMC ring may wait for a preempted peer (a pop or a claim spins while another
//!   thread finishes copying an item). With two such waiters, loom lets them yield to each
//!   other forever while the peer stays preempted (a switch at a yield costs no
//!   preemption), so a model in which two threads can wait on a third never ends. The MPMC
//!   models are shaped to avoid that (see [`mpmc_two_producers_one_consumer`]).
//! - Two blocking calls spinning at once (each attempt of `wait::spin` yields under loom)
//!   make loom explore every interleaving of their spins: a rendezvous model with a blocking
//!   sender and a blocking receiver took 1.5 million executions for one configuration. So
//!   the models with more than one waiting party make all but one of them futures.
//!
//! ## Loom and SeqCst
//!
//! Loom models `fence(SeqCst)` but treats `SeqCst` loads and stores as `AcqRel` (its README,
//! "Unsupported features"): a `SeqCst` load may return a value older than the last `SeqCst`
//! store when that older value was stored with a weaker ordering (the initial value
//! included). The MPMC ring's wait lines (`wait::list`) and the `closed()` futures' line
//! (`chan::closer::Closing`) rely on exactly that: the waiter stores the line's `waiting`
//! count (`SeqCst`) and re-checks the queue (`SeqCst` loads); the notifier changes the
//! queue (a `SeqCst` read-modify-write) and loads `waiting` (`SeqCst`), with no fence on
//! either side (v1 had a fence in `notify_one`). That is sound in C++'s model and not in
//! loom's: when a waiter's registration races the notifier, loom finds executions in which
//! both read stale values, and reports a deadlock that cannot happen.
//!
//! So the library gives those pairs, under `cfg(loom)` only, the `fence(SeqCst)` that C++'s
//! order implies (`loom::seq_cst_pair` in the library: after the `SeqCst` store of
//! `WaitList::register`, before the load of `has_waiters`), and loom checks them. Without it,
//! the configurations where a waiter of the MPMC ring, or a `closed()` future, registers
//! while the notifier acts report false deadlocks; they are kept as separate tests (named
//! `*_mpmc_ring`, and the `closed()` future models) so that such a report names them.
//!
//! # How the models were checked to be able to fail
//!
//! Each model added or changed for core v2 says "Checked to fail with (v2, in a scratch
//! copy)": it was run against a copy of the crate with that one deliberate defect, and loom
//! reported it. "Checked to fail with (v1)" notes are the v1 suite's, kept for models whose
//! protocol did not change; they name v1 code and were not re-run. A model that iterates
//! over configurations stops at the first that fails.
//!
//! # Ported from v1, changed or dropped
//!
//! - The close models (section 4, 5) are exact now: the v1 SPSC queue could discard a send
//!   that landed after the consumer reported `Closed`; v2's close is linearizable and the
//!   consumer's drop is an exact abort.
//! - Permits hold room, not a position (section 12): a permit's value comes after values
//!   sent meanwhile; `Permit::send` returns a `Result` (it fails after an abort). v1's
//!   `void_permit_races_recv_and_send` is dropped with the void it raced (see section 12).
//! - `Closer` is not generic and its `abort` returns `Option<usize>` (`None` on SPSC).

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
    flavor, Builder, ChunkError, ClosedFuture, Closer, Consumer, Metrics, Permit, Policy, Producer,
    Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, Sent, TryRecvError,
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

/// The flavors whose wait protocols loom checks without `loom::seq_cst_pair`: the SPSC
/// queue (its waker slots pair with `fence(SeqCst)`) and the rendezvous (its lines are under
/// a mutex). The MPMC ring's configurations of the same models are separate tests, named
/// `*_mpmc_ring`. See "Loom and SeqCst" in the header.
const LOOM_CHECKABLE: &[Flavor] = &[Flavor::Spsc, Flavor::Rendezvous];

/// `flavors` restricted to `only`.
fn keep(flavors: &[Flavor], only: &[Flavor]) -> Vec<Flavor> {
    flavors
        .iter()
        .copied()
        .filter(|f| only.contains(f))
        .collect()
}

/// One configuration of a model.
#[derive(Debug, Clone, Copy)]
struct Case {
    flavor: Flavor,
    cap: usize,
    /// How many times [`pause`](Case::pause) yields (see [`Pauses`]).
    delay: usize,
    /// The least preemption bound to explore with (`LOOM_MAX_PREEMPTIONS` if higher); 0 for
    /// the environment's bound. See [`run_bounded`].
    min_preemptions: usize,
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
    /// No pause, and the first delay of the [`park_window`] only: for the models with three
    /// threads, where each delay costs tens of seconds (loom's preemptions still move the
    /// notifier's action over the waiter's registration from there).
    ParkFirst,
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
                let case = Case {
                    flavor,
                    cap,
                    delay,
                    min_preemptions: 0,
                };
                check(name, case, model.clone());
            }
        }
    }
}

/// [`run`] with a preemption bound of at least `min_preemptions`, for the few small models
/// whose target interleaving needs more preemptions than the CI's `LOOM_MAX_PREEMPTIONS=2`
/// (each says which, and what it costs).
fn run_bounded<F>(name: &str, flavors: &[Flavor], pauses: Pauses, min_preemptions: usize, model: F)
where
    F: Fn(Case) + Sync + Send + Clone + 'static,
{
    for &flavor in flavors {
        for cap in [1, 2] {
            for delay in delays(pauses) {
                let case = Case {
                    flavor,
                    cap,
                    delay,
                    min_preemptions,
                };
                check(name, case, model.clone());
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
        Pauses::ParkFirst => vec![0, park_window()[0]],
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
    // The environment's settings (`LOOM_MAX_PREEMPTIONS` and the rest), raised to the
    // model's least preemption bound.
    let mut builder = loom::model::Builder::new();
    if let Some(bound) = &mut builder.preemption_bound {
        // (`None`, unbounded, explores more already.)
        *bound = (*bound).max(case.min_preemptions);
    }
    builder.check(move || {
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
                        min_preemptions: 0,
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

    /// Exact on both flavors.
    fn abort(&mut self) -> usize {
        match self {
            Rx::Spsc(rx) => rx.abort(),
            Rx::Mpmc(rx) => rx.abort(),
        }
    }

    fn closer(&self) -> Closer
    where
        T: Send + 'static,
    {
        match self {
            Rx::Spsc(rx) => rx.closer(),
            Rx::Mpmc(rx) => rx.closer(),
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

/// What a series of sends did: the ids sent with `Ok`, the values handed back evicted
/// (`Ok(Sent::Evicted)`), and the values handed back by failed sends (`Closed(value)`).
struct Sends {
    ok: Vec<usize>,
    back: Vec<Tok>,
    failed: Vec<Tok>,
}

impl Sends {
    /// Once a send failed (the queue is closed), no later one succeeded.
    fn assert_failed_last(&self) {
        let failed = ids(&self.failed);
        assert!(
            failed.iter().all(|f| self.ok.iter().all(|o| o < f)),
            "a send succeeded after one failed: ok {:?}, failed {failed:?}",
            self.ok
        );
    }
}

/// Sends `0..n` with blocking `send`, recording what each did. `Overloaded` and
/// `DroppedNewest` are not expected (the models that use this run `Block` or `DropOldest`).
fn send_all(tx: &mut Tx<Tok>, log: &Log, n: usize) -> Sends {
    let mut out = Sends {
        ok: Vec::new(),
        back: Vec::new(),
        failed: Vec::new(),
    };
    for i in 0..n {
        match tx.send(log.tok(i)) {
            Ok(Sent::Queued) => out.ok.push(i),
            Ok(Sent::Evicted(old)) => {
                assert!(old.id < i, "evicted {} sending {i}", old.id);
                out.ok.push(i);
                out.back.push(old);
            }
            Ok(Sent::DroppedNewest) => panic!("send {i}: dropped newest"),
            Err(SendError::Closed(v)) => {
                assert_eq!(v.id, i, "a failed send hands its own value back");
                out.failed.push(v);
            }
            Err(e) => panic!("send {i}: {e:?}"),
        }
    }
    out
}

// === 1. ring push/pop across wrap-around ===

/// Push and pop `cap + 2` values across the wrap-around, with non-blocking calls: the ring's
/// index and slot hand-over protocol alone (SPSC: cached indices; MPMC: stamps).
///
/// Checked to fail with (v1): the SPSC producer's `tail` store made `Relaxed`, or the MPMC
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
        // The high-water mark is a sample by default (exact only with
        // `Builder::exact_high_water`): it may miss the peak, never exceed the capacity.
        assert!(m.high_water <= cap, "{m:?}");
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
/// Checked to fail with (v1): the producers' claim of `tail` a plain store instead of a
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
/// Checked to fail with (v1): the producers' claim of `tail` a plain store instead of a
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
/// Checked to fail with (v1): the evicting push not waiting while `head` is `LOCKED` (loom:
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
/// Checked to fail with (v1): the SPSC evicting push not waiting while `head` is `LOCKED` (the
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
/// Checked to fail with (v1): `evict_into` leaving the slot's stamp "empty" after swapping the
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

/// One thread closes (a `Closer`) while another sends two values (blocking `send`) and a
/// third receives once (blocking `recv`). Afterwards: every send that returned `Ok` was
/// received (by that `recv` or by the drain after it), in order; every failed send handed
/// its own value back; a send made after the sender saw the queue closed failed; later
/// sends fail with the value back. Nothing is discarded: close is linearizable on both
/// flavors (v2; the v1 SPSC queue could discard a late send, which this model allowed).
///
/// `Pauses::ParkFirst`: three threads; the whole park window costs two and a half minutes
/// (the first delay, about one).
///
/// Checked to fail with (v1): the SPSC producer not checking the closed flag ("send
/// succeeded after close"); MPMC `close` setting the mark with a load and a store instead
/// of `fetch_or` (a claim is lost, and the receiver waits for it forever).
#[test]
fn close_races_send_and_recv() {
    run(
        "close_races_send_and_recv",
        BOTH,
        Pauses::ParkFirst,
        |case| {
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
                        Err(e) => panic!("Block policy: {e:?}"),
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
            let mut received: Vec<usize> = got.into_iter().collect();
            received.extend(rx.drain_closed());
            let m = rx.metrics();
            assert_eq!(m.discarded, 0, "{flavor:?}: a send was discarded: {m:?}");
            assert_eq!(
                received, ok,
                "sent with Ok {ok:?}, failed {failed:?}, {m:?}"
            );
            assert_partition(2, &[&ok, &failed]);
            assert!(
                failed.iter().all(|f| ok.iter().all(|o| o < f)),
                "a send succeeded after one failed: ok {ok:?} failed {failed:?}"
            );
            assert_eq!(tx.try_send(9), Err(TrySendError::Closed(9)));
            assert_eq!(tx.send(9), Err(SendError::Closed(9)));
            assert!(!tx.close() && !rx.close());
            assert_eq!((m.sent, m.len), (ok.len() as u64, 0), "{m:?}");
            assert_eq!(m.received, received.len() as u64, "{m:?}");
            assert_balanced(&m);
        },
    );
}

/// `Closed` is final, and close is linearizable. One thread sends once (`try_send`) while
/// the receiver receives until `Closed` and a third thread closes (a `Closer`): a send that
/// returned `Ok` was received (before `Closed`), nothing is received after `Closed`, and
/// nothing is discarded. MPMC: the send's claim of `tail` and the close's mark are one
/// atomic word. SPSC (v2): the consumer sets `DONE` and looks again before it reports
/// `Closed`, and a send that sees `DONE` takes its item back (`Closed(value)`).
///
/// Checked to fail with (v1): MPMC `close` setting the mark with a load and a store instead
/// of `fetch_or`; the SPSC consumer without its "`Closed` seen" flag.
#[test]
fn closed_is_final() {
    run("closed_is_final", BOTH, Pauses::None, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let closer = tx.closer();
        let sender = thread::spawn(move || tx.try_send(0));
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
        match sent {
            Ok(()) => assert_eq!(got, vec![0], "a send that returned Ok was not received"),
            Err(TrySendError::Closed(0)) => assert!(got.is_empty(), "{got:?}"),
            other => panic!("{other:?}"),
        }
        let m = rx.metrics();
        assert_eq!(m.discarded, 0, "{m:?}");
        assert_eq!((m.sent, m.len), (got.len() as u64, 0), "{m:?}");
        assert_balanced(&m);
    });
}

/// The smallest SPSC schedule in which a send races the consumer's own close (two
/// threads): the producer `try_send`s once while the consumer closes and then tries once.
/// Either the consumer receives the value (and the send returned `Ok`), or it reports
/// `Closed` and the send failed with its value back (`TAKEBACK`, or `CLOSED` seen before
/// the push); never `Ok` and `Closed` together, never a discard. Both rings: the plain one
/// and the drop-oldest one (`unpush` differs).
///
/// In v1 this schedule ended with the value discarded after `Closed` (the model asserted
/// that); the v2 contract is the one above.
///
/// Fails at commits 6bb0b55 and 367d19d (`Block`, capacity 1: the consumer's one
/// `try_recv` returns `Empty` on the closed queue while the send fails with `Closed`): in
/// `SpscQueue::finish` the consumer reads `ring_len() == 1` (the producer's item), the
/// producer then sets `TAKEBACK`, `unpush`es and clears `TAKEBACK`, and the consumer's
/// compare-and-swap that clears `DONE` succeeds (the state word is back to the value it
/// read); `finish` then finds the ring empty and no permit, and returns `Finish::Wait`,
/// which `on_empty` reports as `Empty`, though nothing can come any more (a blocking or
/// async receive re-checks and sees `Closed`; a `try_recv` loop that stops at `Empty` does
/// not). In a scratch copy, looping again in `finish` instead of returning `Wait` when no
/// permit is outstanding makes it pass.
///
/// Checked to fail with (v2, in a scratch copy): `after_push` ignoring `DONE` (the send
/// returns `Ok` for a value never received: "Ok and Closed").
#[test]
fn spsc_closed_is_final_after_late_send() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let name = format!("spsc_closed_is_final_after_late_send/{policy:?}");
        run(&name, &[Flavor::Spsc], Pauses::None, move |case| {
            let (mut tx, mut rx) = Builder::new(case.cap).policy(policy).spsc::<usize>();
            let sender = thread::spawn(move || tx.try_send(0));
            rx.close();
            let first = rx.try_recv();
            let sent = sender.join().unwrap();
            match (&first, &sent) {
                (Ok(0), Ok(())) => {}
                (Err(TryRecvError::Closed), Err(TrySendError::Closed(0))) => {}
                other => panic!("Ok and Closed, or neither: {other:?}"),
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            let m = rx.metrics();
            assert_eq!(m.discarded, 0, "{m:?}");
            assert_eq!((m.sent, m.len), (u64::from(sent.is_ok()), 0), "{m:?}");
            assert_balanced(&m);
        });
    }
}

/// SPSC, the consumer closes: it calls `close()` and then receives until `Closed`
/// (`try_recv`, spinning), while the producer sends `cap + 1` values (blocking `send`).
/// Under `DropOldest` a send into a full queue evicts, so a send can see `DONE` after an
/// eviction and must undo both (`unpush` puts the evicted value back at the head).
///
/// Every value is exactly once: received, handed back evicted (`Ok(Evicted)`), or handed
/// back by a failed send (`Closed(value)`); so every send that returned `Ok` (and was not
/// evicted later) was received before `Closed`. Received in order; failed sends come after
/// every successful one; nothing discarded or dropped by the library; `Closed` stays.
///
/// Runs with a preemption bound of at least 3 (see [`run_bounded`]): with 2, loom does not
/// reach a take-back that undoes an eviction.
///
/// Checked to fail with (v2, in a scratch copy): `take_back` not putting the evicted value
/// back (`DropOldest`: a value lost; caught only with the bound of 3); `after_push` ignoring
/// `DONE` (a value sent with `Ok` never received).
#[test]
fn spsc_consumer_close_races_sends() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let name = format!("spsc_consumer_close_races_sends/{policy:?}");
        // Three preemptions: the eviction's take-back needs the consumer preempted after it
        // found the ring empty (the producer pushes, then evicts), the producer preempted
        // after its eviction (the consumer sets `DONE`), and the consumer preempted again
        // before it looks (the producer sees `DONE` and takes back). About a second.
        run_bounded(&name, &[Flavor::Spsc], Pauses::None, 3, move |case| {
            let cap = case.cap;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(Flavor::Spsc, cap, policy);
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let out = send_all(&mut tx, &log, n);
                    (out, tx)
                })
            };
            assert!(rx.close());
            let got = rx.drain_closed();
            let (out, _tx) = producer.join().unwrap();
            assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
            let got_ids = ids(&got);
            assert!(got_ids.windows(2).all(|w| w[0] < w[1]), "{got_ids:?}");
            out.assert_failed_last();
            assert_partition(n, &[&got_ids, &ids(&out.back), &ids(&out.failed)]);
            assert!(
                (0..n).all(|id| log.drops(id) == 0),
                "the library dropped a value"
            );
            let m = rx.metrics();
            assert_eq!((m.discarded, m.len), (0, 0), "{m:?}");
            assert_eq!(m.received, got.len() as u64, "{m:?}");
            assert_eq!(m.evicted_oldest, out.back.len() as u64, "{m:?}");
            assert_eq!(m.sent, out.ok.len() as u64, "{m:?}");
            assert_balanced(&m);
            drop((got, out, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// SPSC: `abort` through a `Closer` races the producer (blocking sends) and the consumer
/// (one blocking `recv`), with payloads that count their drops. Every value is received,
/// handed back by a failed send, or discarded (and counted in `discarded`), exactly once;
/// the closer's `abort` returns `None` (on SPSC only the consumer takes values out: it
/// discards at its next call); after the abort nothing is received.
///
/// (For MPMC, the same three threads can leave two poppers, the receiver and `abort`,
/// waiting on a sender preempted mid-write, which loom cannot finish exploring; see
/// [`mpmc_two_producers_one_consumer`]. `mpmc_abort_races_*` cover it pairwise.)
///
/// Checked to fail with (v1): the consumer ignoring `ABORTED` in `try_recv` (a value still
/// received after the abort).
#[test]
fn spsc_abort_races_send_and_recv() {
    run(
        "spsc_abort_races_send_and_recv",
        &[Flavor::Spsc],
        // Three threads: the whole park window costs over a minute.
        Pauses::ParkFirst,
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
            assert_eq!(aborted, None, "an SPSC closer's abort returns no count");
            // After the abort nothing more is received, whoever discards.
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
            let received: Vec<Tok> = got.into_iter().collect();
            let m = rx.metrics();
            assert_eq!(m.len, 0, "{m:?}");
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

/// SPSC: `Consumer::abort` races the producer's sends (`cap + 1` blocking sends; under
/// `DropOldest` they evict). The consumer receives once, then aborts. The abort's count is
/// exact (v2): the values it discarded (dropped by the library) are exactly as many as it
/// returned, `metrics().discarded` equals it, and it stays so (no later discard, a racing
/// send either landed before the abort's last look, and was discarded and counted, or
/// failed with its value). Every value: received, evicted back, failed back, or discarded.
///
/// Checked to fail with (v2, in a scratch copy): `discard_and_finish` setting `DONE` without
/// looking again (a send landing after the abort's discard is discarded later, outside the
/// count); `after_push` ignoring `DONE`; (with a bound of 3 only) `take_back` losing the
/// evicted value.
#[test]
fn spsc_consumer_abort_races_send() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let name = format!("spsc_consumer_abort_races_send/{policy:?}");
        run(&name, &[Flavor::Spsc], Pauses::Park, move |case| {
            let cap = case.cap;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(Flavor::Spsc, cap, policy);
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let out = send_all(&mut tx, &log, n);
                    (out, tx)
                })
            };
            case.pause();
            let got: Vec<Tok> = rx.try_recv().into_iter().collect();
            let aborted = rx.abort();
            let discarded: Vec<usize> = (0..n).filter(|&id| log.drops(id) == 1).collect();
            let (out, _tx) = producer.join().unwrap();
            // A send that landed after the abort returned is discarded by this call: it
            // would show up as a late discard.
            assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
            let late: Vec<usize> = (0..n)
                .filter(|&id| log.drops(id) == 1 && !discarded.contains(&id))
                .collect();
            let m = rx.metrics();
            assert_eq!(
                (aborted, late.len()),
                (discarded.len(), 0),
                "abort said {aborted}, discarded {discarded:?}, later {late:?}, {m:?}"
            );
            assert_eq!((m.discarded, m.len), (aborted as u64, 0), "{m:?}");
            out.assert_failed_last();
            assert_partition(
                n,
                &[&ids(&got), &ids(&out.back), &ids(&out.failed), &discarded],
            );
            assert_eq!(m.evicted_oldest, out.back.len() as u64, "{m:?}");
            assert_balanced(&m);
            drop((got, out, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// MPMC: `abort` races a sender (two blocking sends of payloads that count their drops)
/// and a receive made just before it on the aborting thread. `abort`'s count, the values
/// received and the values handed back by failed sends add up to the values sent, each
/// exactly once, and nothing is left after the abort.
///
/// Checked to fail with (v1): `pop` reporting `Empty` at a position claimed but not yet written
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
/// Checked to fail with (v1): `discard_all` not counting what it drops (`discarded` too small).
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
/// At capacity 1 the send finds the queue full. MPMC: it can only fail (the receiver's
/// drop marks the tail word closed before it discards, so the room it makes is never
/// claimed). SPSC (v2): the producer reads the state before it pushes, so its push may land
/// in room the consumer's discard made; the consumer's drop is an exact abort, so such a
/// value is discarded (the drops are checked here, the count in the `_metrics` model and in
/// [`spsc_consumer_drop_races_send`]). v1 asserted "fails" for both.
///
/// Checked to fail with (v1): the SPSC consumer's drop letting the producer discard
/// (`CONSUMER_GONE`) before it has discarded itself (loom: concurrent writes to a slot).
#[test]
fn last_handles_dropped_concurrently() {
    last_handles_dropped_concurrently_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`last_handles_dropped_concurrently`] (see "Loom and
/// SeqCst" in the header).
#[test]
fn last_handles_dropped_concurrently_mpmc_ring() {
    last_handles_dropped_concurrently_on(MPMC);
}

fn last_handles_dropped_concurrently_on(only: &[Flavor]) {
    run(
        "last_handles_dropped_concurrently",
        &keep(BOTH, only),
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
                flavor == Flavor::Spsc || !(cap == 1 && sent),
                "a send to a full queue landed in room made by the receiver's drop"
            );
            log.assert_each_dropped_once();
        },
    );
}

/// As above, under `DropNewest`, with a `Closer` kept to read the final counters: every
/// value is dropped-newest, handed back, or discarded (and counted), and nothing is left in
/// the ring once both ends are gone. v1 let a send that raced the SPSC consumer's drop sit
/// in the ring uncounted; in v2 the consumer's drop is an exact abort.
///
/// Checked to fail with (v1): the SPSC consumer's drop not discarding the queued values
/// ("queued value not dropped with the receiver").
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
            // Dropping the last receiver dropped what was queued at once, and a send that
            // raced it too (it was discarded, or failed).
            assert_eq!(
                log.drops(0),
                1,
                "queued value not dropped with the receiver"
            );
            assert_eq!(
                m.len, 0,
                "{flavor:?}: a value left behind: {m:?} send: {sent:?}"
            );
            drop(closer);
            log.assert_each_dropped_once();
        },
    );
}

/// SPSC: the consumer is dropped (an exact abort, then close) while the producer sends
/// `cap + 1` values (blocking `send`; under `DropOldest` they evict); a `Closer` reads the
/// counters afterwards. Every value is evicted back, failed back, or discarded by the
/// library, exactly once, and `metrics().discarded` counts exactly the discarded ones
/// (v2: a racing send is discarded and counted, or fails with its value; it is never left
/// in the ring uncounted). Nothing is received, nothing left queued.
///
/// Checked to fail with (v2, in a scratch copy): `consumer_gone` discarding without the
/// `finish` protocol (a send landing after the discard is left in the ring: `len` 1);
/// `discard_and_finish` setting `DONE` without looking again; `after_push` ignoring `DONE`.
#[test]
fn spsc_consumer_drop_races_send() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let name = format!("spsc_consumer_drop_races_send/{policy:?}");
        run(&name, &[Flavor::Spsc], Pauses::Park, move |case| {
            let cap = case.cap;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, rx) = queue::<Tok>(Flavor::Spsc, cap, policy);
            let closer = tx.closer();
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let out = send_all(&mut tx, &log, n);
                    (out, tx)
                })
            };
            case.pause();
            drop(rx);
            let (out, tx) = producer.join().unwrap();
            let discarded: Vec<usize> = (0..n).filter(|&id| log.drops(id) == 1).collect();
            let m = closer.metrics();
            assert_eq!(
                (m.discarded, m.len, m.received),
                (discarded.len() as u64, 0, 0),
                "discarded {discarded:?}: {m:?}"
            );
            out.assert_failed_last();
            assert_partition(n, &[&ids(&out.back), &ids(&out.failed), &discarded]);
            assert_balanced(&m);
            drop((out, tx, closer));
            log.assert_each_dropped_once();
        });
    }
}

/// SPSC: the consumer closes, receives until `Closed`, and is then dropped, while the
/// producer sends `cap + 1` values (blocking `send`). After `Closed` the consumer's `DONE`
/// is final: a send that raced the close takes its value back and fails, even when the
/// consumer's drop (an abort) runs during that send. Every value is received, evicted back
/// or failed back, exactly once; nothing is discarded or left queued; the drop ends.
///
/// Fails at commit ffaebb7 (and is how `close.rs::spsc_sends_racing_close` hung CI under
/// the fenced fallback): the dropped consumer's `finish` saw the late item in the ring and
/// cleared `DONE` to discard it, the producer then found `DONE` clear and let its send
/// stand, and the sealed consumer, which pops nothing any more, spun for ever (loom:
/// "exceeded maximum number of branches").
#[test]
fn spsc_consumer_drop_after_closed_races_send() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let name = format!("spsc_consumer_drop_after_closed_races_send/{policy:?}");
        run(&name, &[Flavor::Spsc], Pauses::None, move |case| {
            let cap = case.cap;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(Flavor::Spsc, cap, policy);
            let closer = tx.closer();
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let out = send_all(&mut tx, &log, n);
                    (out, tx)
                })
            };
            assert!(rx.close());
            let got = rx.drain_closed();
            drop(rx);
            let (out, tx) = producer.join().unwrap();
            let got_ids = ids(&got);
            out.assert_failed_last();
            assert_partition(n, &[&got_ids, &ids(&out.back), &ids(&out.failed)]);
            assert!(
                (0..n).all(|id| log.drops(id) == 0),
                "the library dropped a value"
            );
            let m = closer.metrics();
            assert_eq!((m.discarded, m.len), (0, 0), "{m:?}");
            assert_eq!(m.sent, out.ok.len() as u64, "{m:?}");
            assert_balanced(&m);
            drop((got, out, tx, closer));
            log.assert_each_dropped_once();
        });
    }
}

// === 6. blocking hand-off with real parking ===

/// A receiver blocks in `recv` on an empty queue; the other thread pauses (so that loom
/// also explores the receiver parking, see [`Pauses`]), then sends one value. A lost
/// wake-up is a deadlock, which loom reports.
///
/// Checked to fail with (v1): `poll_recv` without its re-check after registering; a rendezvous
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
/// Checked to fail with (v1): `poll_send` without its re-check after registering; the SPSC
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

/// Rendezvous: two senders wait, one blocked in `send`, one a send future on `block_on`;
/// the receiver pauses, then receives twice (futures on `block_on`): each receive must
/// take a sender's value and complete its send, none may be forgotten.
///
/// Only one party is a blocking call (v2): two threads each spinning through a blocking
/// call's `wait::spin` (every attempt takes the rendezvous mutex, every backoff step yields
/// under loom) make loom explore every interleaving of their spins: with one blocking
/// sender and a blocking receiver, 1.5 million executions (three minutes) for delay 0
/// alone. A future's poll does not spin.
///
/// Rendezvous only: on the array ring, both senders' claims wait (spin, unbounded) on a
/// receiver preempted while copying the oldest item out, which loom cannot finish
/// exploring (see [`mpmc_two_producers_one_consumer`]).
///
/// Checked to fail with (v1): the receiver not waking the sender whose value it took (loom:
/// deadlock).
#[test]
fn rendezvous_two_blocked_senders() {
    run_rendezvous("rendezvous_two_blocked_senders", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let tx2 = tx.clone();
        let s0 = thread::spawn(move || tx.send(1));
        let s1 = thread::spawn(move || block_on(tx2.send_async(2)));
        case.pause();
        let mut got = vec![
            block_on(rx.recv_async()).unwrap(),
            block_on(rx.recv_async()).unwrap(),
        ];
        assert_eq!(s0.join().unwrap(), Ok(Sent::Queued));
        assert_eq!(s1.join().unwrap(), Ok(Sent::Queued));
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(rx.recv(), Err(RecvError));
        let m = rx.metrics();
        assert_eq!((m.sent, m.received, m.len), (2, 2, 0), "{m:?}");
    });
}

/// Rendezvous: two receivers wait, one blocked in `recv`, one a receive future on
/// `block_on`; the sender pauses, then sends two values (futures on `block_on`; see
/// [`rendezvous_two_blocked_senders`] for why only one party blocks): each send must reach
/// a receiver, none may be forgotten.
///
/// Rendezvous only: on the array ring, both receivers' pops can wait on the sender
/// preempted mid-write (see [`mpmc_two_producers_one_consumer`]).
///
/// Checked to fail with (v1): a sender whose offer waits in line not waking the receivers to
/// take it; the sender not waking a parked receiver it hands its value to straight (both:
/// loom reports a deadlock).
#[test]
fn rendezvous_two_blocked_receivers() {
    run_rendezvous("rendezvous_two_blocked_receivers", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let rx2 = rx.clone();
        let r0 = thread::spawn(move || rx.recv());
        let r1 = thread::spawn(move || block_on(rx2.recv_async()));
        case.pause();
        assert_eq!(block_on(tx.send_async(1)), Ok(Sent::Queued));
        assert_eq!(block_on(tx.send_async(2)), Ok(Sent::Queued));
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
/// Checked to fail with (v1): `close` not waking the receivers (MPMC, SPSC and rendezvous: loom
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
/// Checked to fail with (v1): the last MPMC sender's drop not closing; the SPSC close not waking
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
/// Checked to fail with (v1): `close` not waking the senders (MPMC, SPSC and rendezvous: loom
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
/// Checked to fail with (v1): the rendezvous `close` not waking waiting receivers (loom:
/// deadlock).
#[test]
fn rendezvous_close_races_hand_off() {
    run_rendezvous("rendezvous_close_races_hand_off", Pauses::Park, |case| {
        let (tx, rx) = pushpull::mpmc::<usize>(0);
        let closer = tx.closer();
        // The receiver is a future: see `rendezvous_two_blocked_senders`.
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || block_on(rx.recv_async()))
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
/// Checked to fail with (v1): `poll_recv` without its re-check after registering (loom reports
/// a deadlock, first at SPSC capacity 1).
#[test]
fn async_recv_woken_by_send() {
    async_recv_woken_by_send_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`async_recv_woken_by_send`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn async_recv_woken_by_send_mpmc_ring() {
    async_recv_woken_by_send_on(MPMC);
}

fn async_recv_woken_by_send_on(only: &[Flavor]) {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            // On the rings a send into an empty queue never waits: only the rendezvous
            // differs.
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_recv_woken_by_send/{side:?}");
        run(&name, &keep(flavors, only), Pauses::Poll, move |case| {
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
/// Checked to fail with (v1): `poll_send` without its re-check after registering (loom reports
/// a deadlock, first at SPSC capacity 1); the rendezvous send not waking the parked
/// receiver it hands its value to (deadlock).
#[test]
fn async_send_woken_by_recv() {
    async_send_woken_by_recv_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`async_send_woken_by_recv`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn async_send_woken_by_recv_mpmc_ring() {
    async_send_woken_by_recv_on(MPMC);
}

fn async_send_woken_by_recv_on(only: &[Flavor]) {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            // On the rings the first value is queued already: only the rendezvous differs.
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_send_woken_by_recv/{side:?}");
        run(&name, &keep(flavors, only), Pauses::Poll, move |case| {
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
/// Checked to fail with (v1): `poll_reserve` without its re-check after registering (loom
/// reports a deadlock, first at SPSC capacity 1); the blocking rendezvous receive not
/// waking `room` when it stands in line (the defect fixed in commit c78de4e: deadlock).
#[test]
fn async_reserve_woken_by_recv() {
    async_reserve_woken_by_recv_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`async_reserve_woken_by_recv`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn async_reserve_woken_by_recv_mpmc_ring() {
    async_reserve_woken_by_recv_on(MPMC);
}

fn async_reserve_woken_by_recv_on(only: &[Flavor]) {
    for side in [Side::Blocking, Side::Async] {
        let flavors = match side {
            Side::Blocking => ALL,
            Side::Async => &[Flavor::Rendezvous],
        };
        let name = format!("async_reserve_woken_by_recv/{side:?}");
        run(&name, &keep(flavors, only), Pauses::Poll, move |case| {
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
/// (`try_send`); the first future in line is woken for it, and the second as its backup
/// (at capacity 0 the value waits in transit for them to pull it). Both are
/// dropped without being polled again: the third receiver must get the value (no
/// deadlock), exactly once.
///
/// Two futures are dropped, not one, because on the ring the notifier's second wake-up
/// already reaches the second in line: only with two does the third receiver depend on
/// the pass-on of a dropped future.
///
/// Checked to fail with (v2, in a scratch copy): `WaitList::cancel` not passing on a
/// wake-up it took (deadlock); the rendezvous `cancel_recv` not passing on a wake-up it took
/// for a value in transit (deadlock).
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
/// MPMC ring: the first future is polled once by hand and kept until the end; a second
/// receiver waits behind it, a future on `block_on` (`Side::Async`) or a thread blocked in
/// `recv` (`Side::Blocking`); one value is sent with a blocking `send`. The second receiver
/// must get it: the notify wakes the first in line and, the first being a future (and no
/// future woken earlier pending), the next as a backup. SPSC (one consumer): two futures
/// are polled once and leaked with `mem::forget` (the only way to start another receive
/// while one is pending), then the second receiver waits: the stale registrations must
/// not absorb the wake-up (one waker slot: the last registration wins).
///
/// Rendezvous: as on the ring, the send puts its value in transit and wakes the first
/// receiver in line and, the first being a future, the next as a backup; receivers pull, so
/// the forgotten future holds no value.
///
/// Checked to fail with (v2, in a scratch copy): `WaitList::notify_one` never waking a
/// backup (deadlock); the rendezvous `wake_one` never waking a backup (deadlock). (v1: the
/// SPSC wait lists keeping stale registrations.)
#[test]
fn forgotten_recv_future_does_not_starve() {
    for side in [Side::Async, Side::Blocking] {
        let pauses = match side {
            Side::Async => Pauses::Poll,
            Side::Blocking => Pauses::Park,
        };
        let name = format!("forgotten_recv_future_does_not_starve/{side:?}");
        run(&name, ALL, pauses, move |case| {
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
                    let r = match side {
                        Side::Async => block_on(rx2.recv_async()),
                        Side::Blocking => rx2.recv(),
                    };
                    (r.map(|t| t.id), rx2)
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
        });
    }
}

// === 10. close wakes async waiters ===

/// A receive future waits on an empty queue; the other thread closes the queue (from the
/// sending side). The future resolves with `RecvError`.
///
/// Checked to fail with (v1): `Core::wake_all` not waking the receivers (SPSC and MPMC) and
/// the rendezvous `close` not waking them (loom: deadlock); `poll_recv` without its
/// re-check.
#[test]
fn close_wakes_async_receiver() {
    close_wakes_async_receiver_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`close_wakes_async_receiver`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn close_wakes_async_receiver_mpmc_ring() {
    close_wakes_async_receiver_on(MPMC);
}

fn close_wakes_async_receiver_on(only: &[Flavor]) {
    run(
        "close_wakes_async_receiver",
        &keep(ALL, only),
        Pauses::Poll,
        |case| {
            let Case { flavor, cap, .. } = case;
            let (tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
            let receiver = thread::spawn(move || block_on(rx.recv_async()).map(|t| t.id));
            case.pause();
            assert!(tx.close());
            assert_eq!(receiver.join().unwrap(), Err(RecvError));
        },
    );
}

/// A send future waits for room in a full queue (capacity 0: for a receiver); the other
/// thread closes the queue from the receiving side. The future resolves with
/// `Closed(value)`, its own value back; the queued values are still drained, each exactly
/// once.
///
/// Checked to fail with (v1): `Core::wake_all` not waking the senders (SPSC and MPMC) and the
/// rendezvous `close` not waking them (loom: deadlock); `poll_send` without its re-check.
#[test]
fn close_wakes_async_sender() {
    close_wakes_async_sender_on(LOOM_CHECKABLE);
}

/// The MPMC ring's configurations of [`close_wakes_async_sender`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn close_wakes_async_sender_mpmc_ring() {
    close_wakes_async_sender_on(MPMC);
}

fn close_wakes_async_sender_on(only: &[Flavor]) {
    run(
        "close_wakes_async_sender",
        &keep(ALL, only),
        Pauses::Poll,
        |case| {
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
        },
    );
}

/// A `closed()` future waits; the other thread drops the last receiver (which closes the
/// queue). The future resolves.
///
/// Checked to fail with (v1): the `closed()` future's poll without its re-check after
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

/// What the waiting future waits for in [`future_registered_first_is_woken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// `recv_async` on an empty queue; the other thread sends.
    Recv,
    /// `send_async` on a full queue (capacity 0: no receiver); the other thread receives.
    Send,
    /// `reserve_async` on a full queue (capacity 0: no receiver); the other thread
    /// receives (capacity 0: stands in line to receive, and gets the permit's value).
    Reserve,
    /// `closed()`; the other thread closes.
    Closed,
}

/// A future registers first (polled once by hand: pending) and only then is the other
/// thread started, which makes it ready: the future's waker must be woken (loom reports a
/// deadlock otherwise), and its next poll completes. Every flavor and every kind of
/// waiting future, the MPMC ring's lines and the `closed()` line included: unlike the
/// models of sections 8 and 10, the registration does not race the notifier, which is what
/// loom cannot check there (see "Loom and SeqCst" in the header); what this model checks
/// is that the notifier finds a registered party and wakes it.
///
/// Checked to fail with (v2, in a scratch copy): `Closing::set` not waking the `closed()`
/// line (deadlock); the rendezvous permit's send not waking a receiver (`Reserve`,
/// deadlock).
#[test]
fn future_registered_first_is_woken() {
    for waiting in [
        Waiting::Recv,
        Waiting::Send,
        Waiting::Reserve,
        Waiting::Closed,
    ] {
        let name = format!("future_registered_first_is_woken/{waiting:?}");
        run(&name, ALL, Pauses::None, move |case| {
            let Case { flavor, cap, .. } = case;
            let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
            for i in 0..cap {
                if waiting != Waiting::Recv {
                    tx.try_send(i).unwrap();
                }
            }
            let w = Recorder::new();
            match waiting {
                Waiting::Recv => {
                    let mut f = rx.recv_async();
                    assert!(poll_once(&mut f, &w).is_pending());
                    let other = thread::spawn(move || {
                        tx.try_send(7)
                            .expect("room, or (capacity 0) a waiting receiver");
                        tx
                    });
                    w.wait();
                    assert_eq!(poll_once(&mut f, &w), Poll::Ready(Ok(7)));
                    drop(f);
                    drop(other.join().unwrap());
                }
                Waiting::Send => {
                    let mut f = tx.send_async(7);
                    assert!(poll_once(&mut f, &w).is_pending());
                    let other = thread::spawn(move || {
                        let r = rx.try_recv();
                        (r, rx)
                    });
                    w.wait();
                    assert_eq!(poll_once(&mut f, &w), Poll::Ready(Ok(Sent::Queued)));
                    drop(f);
                    let (r, mut rx) = other.join().unwrap();
                    // The ring's oldest value, or (capacity 0) the future's offer.
                    assert_eq!(r, Ok(if cap == 0 { 7 } else { 0 }));
                    let rest = std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>();
                    let expected: Vec<usize> = (1..cap).chain((cap > 0).then_some(7)).collect();
                    assert_eq!(rest, expected);
                }
                Waiting::Reserve => {
                    let mut f = tx.reserve_async();
                    assert!(poll_once(&mut f, &w).is_pending());
                    let other = thread::spawn(move || {
                        let r = if cap == 0 {
                            block_on(rx.recv_async()).map_err(|_| TryRecvError::Closed)
                        } else {
                            rx.try_recv()
                        };
                        (r, rx)
                    });
                    w.wait();
                    let permit = match poll_once(&mut f, &w) {
                        Poll::Ready(Ok(permit)) => permit,
                        other => panic!("woken, then {:?}", other.map(|r| r.is_ok())),
                    };
                    assert!(matches!(permit.send(7), Ok(Sent::Queued)));
                    drop(f);
                    let (r, mut rx) = other.join().unwrap();
                    assert_eq!(r, Ok(if cap == 0 { 7 } else { 0 }));
                    let rest = std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>();
                    let expected: Vec<usize> = (1..cap).chain((cap > 0).then_some(7)).collect();
                    assert_eq!(rest, expected);
                }
                Waiting::Closed => {
                    let closer = rx.closer();
                    let mut f = tx.closed();
                    assert!(poll_once(&mut f, &w).is_pending());
                    let other = thread::spawn(move || assert!(closer.close()));
                    w.wait();
                    assert_eq!(poll_once(&mut f, &w), Poll::Ready(()));
                    other.join().unwrap();
                    assert!(tx.is_closed());
                }
            }
        });
    }
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
/// and puts the value in transit for it). The value is, exactly once: received by the poll,
/// handed back by `try_send`, or received by a `try_recv` afterwards (at capacity 0: a value
/// in transit when the future is dropped stays for the next receive). The queue's room is
/// whole again.
///
/// Checked to fail with (v1): the rendezvous `cancel_recv` not keeping a value handed to the
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
/// Checked to fail with (v1): the rendezvous `cancel_send` leaving the dropped future's offer in
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
/// order, and the room is whole again (no reservation, or permit speaking for a receiver,
/// left behind).
///
/// Checked to fail with (v1): the rendezvous `cancel_recv` dropping a value handed to a
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
/// Checked to fail with (v1): the `closed()` future's poll without its re-check after
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
/// Checked to fail with (v1): the rendezvous `cancel_send` leaving the offer in line when the
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
/// Checked to fail with (v1): the rendezvous `cancel_recv` dropping a value handed to the
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

// === 12. permits: room, not a place in line ===

/// A permit dropped unused gives its room back to a sender blocked in `send` (`Block`).
///
/// MPMC ring: the queue is full with `cap - 1` values and the permit's reservation (a unit
/// of room counted in the tail word); the sender blocks; the permit is dropped (the count
/// goes down and the senders' line is notified). Rendezvous: a receiver blocks in `recv`,
/// the permit claims it; the sender blocks (its offer waits in line, the only receiver
/// being claimed); the permit is dropped (the receiver is free again and must take the
/// offer). The send must complete; every value is received once; the room is whole again.
/// (SPSC: a permit borrows the only producer, so no other send can wait on it.)
///
/// Checked to fail with (v1): the permit's drop not notifying `room` (loom deadlock);
/// the rendezvous `release_claimed` not waking the receiver it puts back in line;
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
            assert_eq!(tx.len(), n - 1, "a permit is not a queued value");
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

// (v1's `void_permit_races_recv_and_send` is gone with its mechanism: a v1 permit reserved
// a *position*, and dropping it after a later claim left a "void" that receivers and
// senders had to pass. A v2 permit reserves room and claims its position only when it
// sends, so there is no void. What that model raced is covered by
// [`permit_drop_wakes_blocked_sender`] (a dropped permit gives its room to a waiting
// sender), [`drain_close_waits_for_permit`] (a receiver waiting on a permit is woken by its
// send or drop) and [`mpmc_reserve_races_send`] (a reservation racing a claim).)

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

/// A permit is used (`send`) or dropped while a `Closer` closes or aborts the queue. At
/// capacity 2 another value is queued as well; a permit holds room, not a place in line, so
/// that value comes first (v1: the permit's position came first).
///
/// - Close (drain): the permit's send still succeeds; its value is received after the
///   queued one, then `Closed`.
/// - Abort: the permit's send either lands before the abort took effect, and is then
///   discarded and counted (MPMC: by the abort itself, which returns the exact count; SPSC:
///   by the consumer's next call, the closer's abort returning `None`), or fails with
///   `Closed(value)`, the value handed back. Nothing is received after the abort.
///
/// Checked to fail with (v2, in a scratch copy): MPMC `push_reserved` ignoring `ABORT` (the
/// permit's value lands after the abort's discard, outside its count).
#[test]
fn permit_races_close_and_abort() {
    for ending in [Ending::Close, Ending::Abort] {
        for used in [PermitUse::Send, PermitUse::Drop] {
            let name = format!("permit_races_close_and_abort/{ending:?}/{used:?}");
            run(&name, BOTH, Pauses::Poll, move |case| {
                let Case { flavor, cap, .. } = case;
                let log = Log::new(2);
                let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
                let later = cap > 1;
                if later {
                    tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
                }
                let closer = {
                    let closer = tx.closer();
                    thread::spawn(move || match ending {
                        Ending::Close => {
                            assert!(closer.close());
                            None
                        }
                        Ending::Abort => closer.abort(),
                    })
                };
                let permit = tx.try_reserve();
                case.pause();
                // `None`: no permit (an abort came first). Else what its send did.
                let sent = match (permit, used) {
                    (Ok(p), PermitUse::Send) => Some(p.send(log.tok(1))),
                    (Ok(p), PermitUse::Drop) => {
                        drop(p);
                        None
                    }
                    (Err(TrySendError::Closed(())), _) => None,
                    (Err(e), _) => panic!("{e:?}"),
                };
                let aborted = closer.join().unwrap();
                let (landed, back) = match sent {
                    Some(Ok(Sent::Queued)) => (true, None),
                    Some(Err(SendError::Closed(v))) => {
                        assert_eq!(ending, Ending::Abort, "a permit's send failed after close");
                        (false, Some(v))
                    }
                    Some(other) => panic!("{other:?}"),
                    None => (false, None),
                };
                // In queue order: the value queued first, then the permit's.
                let mut values = Vec::new();
                if later {
                    values.push(0);
                }
                if landed {
                    values.push(1);
                }
                if ending == Ending::Abort {
                    match flavor {
                        Flavor::Spsc => assert_eq!(aborted, None, "SPSC: no count"),
                        _ => {
                            // Before any receive: the abort discarded everything.
                            assert_eq!(aborted, Some(values.len()), "abort's count");
                            let m = rx.metrics();
                            assert_eq!((m.discarded, m.len), (values.len() as u64, 0), "{m:?}");
                            for &id in &values {
                                assert_eq!(log.drops(id), 1, "value {id} discarded once");
                            }
                        }
                    }
                }
                let got = rx.drain_closed();
                let m = rx.metrics();
                match ending {
                    Ending::Close => {
                        assert_eq!(ids(&got), values, "drained after close");
                        assert_eq!(m.discarded, 0, "{m:?}");
                    }
                    Ending::Abort => {
                        assert!(got.is_empty(), "received after abort: {:?}", ids(&got));
                        assert_eq!(m.discarded, values.len() as u64, "{m:?}");
                    }
                }
                assert_eq!((m.sent, m.len), (values.len() as u64, 0), "{m:?}");
                assert_balanced(&m);
                let made_1 = landed || back.is_some();
                drop((got, back, tx, rx));
                if !later {
                    drop(log.tok(0));
                }
                if !made_1 {
                    drop(log.tok(1));
                }
                log.assert_each_dropped_once();
            });
        }
    }
}

/// MPMC ring, permits as room: `try_reserve` races `try_send` for the last room (`cap - 1`
/// values queued), the permit's holder sending at once; in the `pop` variant a `try_recv`
/// races both. Values plus outstanding permits never exceed the capacity: without the pop
/// exactly one of the two gets the room, with it at most two (the pop freed one). The
/// permit's send never fails and never waits for room (`Ok(Queued)`: a ring overfilled by
/// a permit would make it spin forever, which loom reports). Every value is received
/// once, FIFO per producer.
///
/// Checked to fail with (v2, in a scratch copy): a plain push ignoring the reservation
/// count (`held` taken as 0: both succeed, and the permit's send spins on the full ring:
/// loom's branch limit).
#[test]
fn mpmc_reserve_races_send() {
    for pop in [false, true] {
        let name = format!("mpmc_reserve_races_send/pop={pop}");
        run(&name, MPMC, Pauses::None, move |case| {
            let cap = case.cap;
            let (tx, rx) = Builder::new(cap).mpmc::<usize>();
            let prefill: Vec<usize> = (100..100 + cap - 1).collect();
            for &v in &prefill {
                tx.try_send(v).unwrap();
            }
            let tx2 = tx.clone();
            let reserver = thread::spawn(move || match tx.try_reserve() {
                Ok(permit) => {
                    assert!(matches!(permit.send(0), Ok(Sent::Queued)));
                    true
                }
                Err(TrySendError::Full(())) => false,
                Err(e) => panic!("{e:?}"),
            });
            let sender = thread::spawn(move || match tx2.try_send(STRIDE) {
                Ok(()) => true,
                Err(TrySendError::Full(STRIDE)) => false,
                Err(e) => panic!("{e:?}"),
            });
            let popped: Vec<usize> = if pop {
                rx.try_recv().into_iter().collect()
            } else {
                Vec::new()
            };
            let (reserved, sent) = (reserver.join().unwrap(), sender.join().unwrap());
            let wins = usize::from(reserved) + usize::from(sent);
            if pop {
                assert!(
                    wins >= 1 && wins <= 1 + popped.len(),
                    "{wins} for one room, popped {popped:?}"
                );
            } else {
                assert_eq!(wins, 1, "reserved {reserved}, sent {sent}: one room");
            }
            let mut got = popped;
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            let mut expected = prefill;
            if reserved {
                expected.push(0);
            }
            if sent {
                expected.push(STRIDE);
            }
            let mut sorted = got.clone();
            sorted.sort_unstable();
            expected.sort_unstable();
            assert_eq!(sorted, expected, "got {got:?}");
            assert_fifo_per_producer(&got);
            let m = rx.metrics();
            assert_eq!(m.len, 0, "{m:?}");
            assert_balanced(&m);
        });
    }
}

/// MPMC drop-oldest: permits reserve nothing (a send can always make room by evicting), so
/// `try_reserve` succeeds on a full ring and the permit's send may evict (`Sent::Evicted`).
/// Two variants, two threads each: the permit's send races an evicting `send`
/// (`Race::Send`), or a `try_recv` (`Race::Recv`). Every value is received or evicted
/// (handed back) exactly once, FIFO per producer; the queue never holds more than `cap`.
///
/// (Not all three at once: a claim waiting for an evicting producer that waits for a
/// consumer preempted mid-copy is two threads waiting on a third, which loom cannot finish
/// exploring; see [`mpmc_two_producers_one_consumer`].)
///
/// Checked to fail with (v2, in a scratch copy): `push_reserved` not evicting on a
/// drop-oldest ring (`claim(false, true)`: the permit's send spins on the full ring:
/// loom's branch limit).
#[test]
fn mpmc_drop_oldest_permit_reserves_nothing() {
    for race in [Race::Send, Race::Recv] {
        let name = format!("mpmc_drop_oldest_permit_reserves_nothing/{race:?}");
        run(&name, MPMC, Pauses::None, move |case| {
            let cap = case.cap;
            let (tx, rx) = Builder::new(cap).policy(Policy::DropOldest).mpmc::<usize>();
            let prefill: Vec<usize> = (100..100 + cap).collect();
            for &v in &prefill {
                tx.try_send(v).unwrap();
            }
            let tx2 = tx.clone();
            let reserver = thread::spawn(move || {
                let permit = tx
                    .try_reserve()
                    .expect("a drop-oldest permit needs no room");
                permit.send(0).unwrap().evicted()
            });
            let mut got = Vec::new();
            let mut evicted = Vec::new();
            match race {
                Race::Send => evicted.extend(tx2.send(STRIDE).unwrap().evicted()),
                Race::Recv => got.extend(rx.try_recv()),
            }
            evicted.extend(reserver.join().unwrap());
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
            let mut expected = prefill;
            expected.push(0);
            if race == Race::Send {
                expected.push(STRIDE);
            }
            expected.sort_unstable();
            assert_eq!(all, expected, "got {got:?} evicted {evicted:?}");
            let m = rx.metrics();
            assert_eq!(m.evicted_oldest, evicted.len() as u64, "{m:?}");
            assert_balanced(&m);
        });
    }
}

/// What races the permit's send in [`mpmc_drop_oldest_permit_reserves_nothing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Race {
    Send,
    Recv,
}

/// Who closes in [`drain_close_waits_for_permit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseBy {
    /// The consumer closes, racing the producer's `try_reserve`.
    Consumer,
    /// A `Closer` on the producer's thread, after its reservation.
    Producer,
}

/// A drain-close with a permit outstanding: receivers report `Closed` only once the permit
/// has sent (its value is received, last) or been dropped. The producer reserves (capacity
/// 1 and 2; `cap - 1` values queued), the queue is closed, the producer pauses and then
/// sends through the permit or drops it, while the consumer receives until `Closed`: with
/// blocking `recv` (it waits for the permit, and its send or drop must wake it), or spinning
/// on `try_recv` (no wait line, so loom checks this one on the MPMC ring too). With
/// `CloseBy::Consumer` the consumer's close races the reservation: a reservation that
/// loses gets `Closed` (SPSC: `try_reserve` sees `DONE` and gives its slot back).
///
/// Checked to fail with (v2, in a scratch copy): SPSC `finish` not waiting for permits (the
/// consumer reports `Closed` and the permit's value is lost); SPSC `lower_permits` not
/// waking the consumer (deadlock); MPMC `pop` reporting `Closed` with reservations left
/// (the `try_recv` variant; the blocking one in the `_mpmc_ring` companion).
#[test]
fn drain_close_waits_for_permit() {
    drain_close_waits_for_permit_on(LOOM_CHECKABLE, BOTH);
}

/// The MPMC ring's configurations of [`drain_close_waits_for_permit`] (see "Loom and SeqCst" in the
/// header).
#[test]
fn drain_close_waits_for_permit_mpmc_ring() {
    drain_close_waits_for_permit_on(MPMC, &[]);
}

/// `blocking`: the flavors to run with a blocking consumer; `spinning`: with a consumer
/// that spins on `try_recv` (no wait line: loom checks it on every flavor).
fn drain_close_waits_for_permit_on(blocking: &[Flavor], spinning: &[Flavor]) {
    for (receive, flavors, pauses) in [
        (Side::Blocking, keep(BOTH, blocking), Pauses::Park),
        (Side::Async, keep(BOTH, spinning), Pauses::None),
    ] {
        for close_by in [CloseBy::Consumer, CloseBy::Producer] {
            for used in [PermitUse::Send, PermitUse::Drop] {
                let receive_name = match receive {
                    Side::Blocking => "recv",
                    Side::Async => "try_recv",
                };
                let name =
                    format!("drain_close_waits_for_permit/{receive_name}/{close_by:?}/{used:?}");
                run(&name, &flavors, pauses, move |case| {
                    let Case { flavor, cap, .. } = case;
                    let n = cap - 1;
                    let log = Log::new(cap);
                    let (mut tx, mut rx) = queue::<Tok>(flavor, cap, Policy::Block);
                    for i in 0..n {
                        tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
                    }
                    let closer = tx.closer();
                    let producer = {
                        let log = log.clone();
                        thread::spawn(move || {
                            let permit = tx.try_reserve();
                            if close_by == CloseBy::Producer {
                                assert!(closer.close());
                            }
                            case.pause();
                            let sent = match (permit, used) {
                                (Ok(p), PermitUse::Send) => Some(p.send(log.tok(n))),
                                (Ok(p), PermitUse::Drop) => {
                                    drop(p);
                                    None
                                }
                                (Err(TrySendError::Closed(())), _) => {
                                    assert_eq!(close_by, CloseBy::Consumer, "reserve refused");
                                    None
                                }
                                (Err(e), _) => panic!("{e:?}"),
                            };
                            (sent, tx)
                        })
                    };
                    if close_by == CloseBy::Consumer {
                        assert!(rx.close());
                    }
                    let got = match receive {
                        Side::Blocking => std::iter::from_fn(|| rx.recv().ok()).collect(),
                        Side::Async => rx.drain_closed(),
                    };
                    let (sent, _tx) = producer.join().unwrap();
                    let landed = match sent {
                        Some(Ok(Sent::Queued)) => true,
                        None => false,
                        Some(other) => panic!("a permit's send after a drain-close: {other:?}"),
                    };
                    let expected: Vec<usize> = (0..n + usize::from(landed)).collect();
                    assert_eq!(ids(&got), expected, "Closed before the permit's value");
                    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
                    let m = rx.metrics();
                    assert_eq!((m.discarded, m.len), (0, 0), "{m:?}");
                    assert_eq!(m.sent, expected.len() as u64, "{m:?}");
                    assert_balanced(&m);
                    drop((got, rx));
                    if !landed {
                        drop(log.tok(n));
                    }
                    log.assert_each_dropped_once();
                });
            }
        }
    }
}

/// MPMC ring, capacity 1: a permit is outstanding when the queue is drain-closed, and two
/// receivers wait (they see the queue closed but a reservation left): a thread blocked in
/// `recv` and, behind it, a receive future polled once by hand. The permit's send (or
/// drop) must end both waits: one receiver gets the value, and the other must be woken to
/// see `Closed` (the future: its waker must be woken; loom reports a deadlock if not).
///
/// (Two threads blocked in `recv` would be the plainer model, but both would spin on the
/// permit's claimed position while its writer is preempted, which loom cannot finish
/// exploring; see [`mpmc_two_producers_one_consumer`].)
///
/// Checked to fail with (v2): commit 6bb0b55 itself (`Send`, delay 11: the future is never
/// woken, loom deadlock; also with the SeqCst fence of the header in place, so not a loom
/// artifact): its `MpmcQueue::send_reserved` notified one receiver (`notify_one`) even when
/// its send used the last reservation of a closed ring, so when the first in line was a
/// thread (no backup wake) the receiver behind it was never told that the queue was closed
/// and drained. Passes since 367d19d ("the last permit sent on a closed ring wakes every
/// receiver").
#[test]
fn mpmc_permit_send_after_close_wakes_every_receiver() {
    for used in [PermitUse::Send, PermitUse::Drop] {
        let name = format!("mpmc_permit_send_after_close_wakes_every_receiver/{used:?}");
        run_caps(&name, MPMC, &[1], Pauses::Park, move |case| {
            let log = Log::new(1);
            let (tx, rx) = Builder::new(case.cap).mpmc::<Tok>();
            let permit = tx.try_reserve().expect("room");
            assert!(tx.close());
            let waiter = {
                let rx = rx.clone();
                thread::spawn(move || rx.recv().ok().map(|t| t.id))
            };
            case.pause();
            let w = Recorder::new();
            let mut f = rx.recv_async();
            let polled = poll_once(&mut f, &w);
            match used {
                PermitUse::Send => assert!(matches!(permit.send(log.tok(0)), Ok(Sent::Queued))),
                PermitUse::Drop => drop(permit),
            }
            let mut got: Vec<usize> = waiter.join().unwrap().into_iter().collect();
            let last = match polled {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    w.wait();
                    match poll_once(&mut f, &w) {
                        Poll::Ready(r) => r,
                        Poll::Pending => panic!("woken, and still pending"),
                    }
                }
            };
            got.extend(last.ok().map(|t| t.id));
            drop(f);
            let expected = if used == PermitUse::Send {
                vec![0]
            } else {
                vec![]
            };
            assert_eq!(got, expected);
            let m = rx.metrics();
            assert_eq!((m.len, m.discarded), (0, 0), "{m:?}");
            drop((tx, rx));
            if used == PermitUse::Drop {
                drop(log.tok(0));
            }
            log.assert_each_dropped_once();
        });
    }
}

/// How the consumer ends in [`spsc_consumer_end_races_permit_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConsumerEnd {
    Abort,
    Drop,
}

/// SPSC: a permit's send races the consumer's exact end, `Consumer::abort` or the
/// consumer's drop (`cap - 1` values queued). The producer reserves (refused with `Closed`
/// if the end came first) and sends at once. The contract (`Consumer::abort`'s docs, and
/// the permit's: its send fails only after an abort): the send either fails with its value
/// back, or lands and is discarded and counted by the end: in the number `abort` returns,
/// or (drop) in `metrics().discarded` with nothing left queued.
///
/// Fails at commits 6bb0b55 and 367d19d (`Abort`, capacity 1: `abort` returned 0 for a
/// send that landed; `Drop`, run alone: the value left in the ring, `discarded` 0, `len`
/// 1). `SpscQueue::finish(discard = true)` returns while a permit is outstanding ("a
/// permit's send that raced the abort may still land: later calls discard it"), and
/// `send_reserved` checks `ABORTED` before it pushes; so a permit's send that read the
/// state before the end lands after it: outside `abort`'s count (discarded by the
/// consumer's next call), and after the consumer's drop it stays in the ring, uncounted,
/// until the queue is freed. (`Permit::send` never sees `DONE`: it is never taken back.)
#[test]
fn spsc_consumer_end_races_permit_send() {
    for end in [ConsumerEnd::Abort, ConsumerEnd::Drop] {
        let name = format!("spsc_consumer_end_races_permit_send/{end:?}");
        run(&name, &[Flavor::Spsc], Pauses::Poll, move |case| {
            let cap = case.cap;
            let n = cap - 1;
            let log = Log::new(cap);
            let (mut tx, mut rx) = queue::<Tok>(Flavor::Spsc, cap, Policy::Block);
            for i in 0..n {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let closer = tx.closer();
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let sent = match tx.try_reserve() {
                        Ok(p) => Some(p.send(log.tok(n))),
                        Err(TrySendError::Closed(())) => None,
                        Err(e) => panic!("{e:?}"),
                    };
                    (sent, tx)
                })
            };
            case.pause();
            let aborted = match end {
                ConsumerEnd::Abort => Some(rx.abort()),
                ConsumerEnd::Drop => {
                    drop(rx);
                    None
                }
            };
            let (sent, tx) = producer.join().unwrap();
            let (landed, back) = match sent {
                Some(Ok(Sent::Queued)) => (true, None),
                Some(Err(SendError::Closed(v))) => (false, Some(v)),
                Some(other) => panic!("{other:?}"),
                None => (false, None),
            };
            let discarded = n + usize::from(landed);
            if let Some(aborted) = aborted {
                assert_eq!(
                    aborted, discarded,
                    "Consumer::abort's count (the permit's send landed: {landed})"
                );
            }
            let m = closer.metrics();
            assert_eq!(
                (m.discarded, m.len),
                (discarded as u64, 0),
                "the permit's send landed: {landed}: {m:?}"
            );
            assert_balanced(&m);
            let made = landed || back.is_some();
            drop((back, tx, closer));
            if !made {
                drop(log.tok(n));
            }
            log.assert_each_dropped_once();
        });
    }
}

// === 13. wake-ups: waker slots and wait lines ===

/// A waiting receive future is polled again with a different waker while the other thread
/// sends: the re-registration races the wake. SPSC: the consumer's `WakerSlot` (a wake that
/// finds `REGISTERING` leaves the waker to the registrant, which wakes it itself); MPMC
/// ring: the waker in the future's node, replaced without the lock while a notify takes the
/// node out of line; rendezvous: under the lock. If the second poll is pending, the second
/// waker must be woken (else: loom deadlock); the value is received once.
///
/// Checked to fail with (v2, in a scratch copy): `WakerSlot::register` keeping the old
/// waker instead of the new one (deadlock). Not caught, and not observable through the
/// queues: `register` dropping, instead of waking, the waker it takes back after a wake
/// that found it `REGISTERING` (the re-check after registering sees the value that wake
/// was for).
#[test]
fn waker_reregister_races_wake() {
    run("waker_reregister_races_wake", ALL, Pauses::Poll, |case| {
        let Case { flavor, cap, .. } = case;
        let (mut tx, mut rx) = queue::<usize>(flavor, cap, Policy::Block);
        let (w1, w2) = (Recorder::new(), Recorder::new());
        let mut f = rx.recv_async();
        assert!(poll_once(&mut f, &w1).is_pending());
        let sender = thread::spawn(move || {
            assert_eq!(tx.send(7), Ok(Sent::Queued));
            tx
        });
        case.pause();
        let r = match poll_once(&mut f, &w2) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                w2.wait();
                match poll_once(&mut f, &w2) {
                    Poll::Ready(r) => r,
                    Poll::Pending => panic!("woken, but no value"),
                }
            }
        };
        assert_eq!(r, Ok(7));
        drop(f);
        let _tx = sender.join().unwrap();
        let m = rx.metrics();
        assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
    });
}

/// MPMC ring, the pending-futures rule: two receive futures wait (polled once by hand and
/// then forgotten: kept, never polled again) and a receiver thread blocks in `recv` behind
/// them; two values are sent (`try_send`). The first notify wakes the first future and, as
/// a backup (the first in line is a future, and no future woken by an earlier notify is
/// pending), the second; the second notify finds both still pending, so it wakes only the
/// next in line: the thread. The thread must get a value: two forgotten futures absorb two
/// wake-ups, no more. Everything is received once.
///
/// Checked to fail with (v2, in a scratch copy): `notify_one` never waking a backup (with
/// one wake per notify, the two futures absorb both: deadlock).
#[test]
fn forgotten_futures_absorb_one_wake_each() {
    run_caps(
        "forgotten_futures_absorb_one_wake_each",
        MPMC,
        &[2],
        Pauses::Park,
        |case| {
            let (tx, rx) = Builder::new(case.cap).mpmc::<usize>();
            let (rx1, rx2) = (rx.clone(), rx.clone());
            let (w0, w1) = (Recorder::new(), Recorder::new());
            let mut f0 = rx.recv_async();
            let mut f1 = rx1.recv_async();
            assert!(poll_once(&mut f0, &w0).is_pending());
            assert!(poll_once(&mut f1, &w1).is_pending());
            let waiter = thread::spawn(move || rx2.recv());
            case.pause();
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            let got = waiter
                .join()
                .unwrap()
                .expect("the thread behind two futures");
            assert_eq!(
                (w0.count(), w1.count()),
                (1, 1),
                "the first notify wakes both"
            );
            drop((f0, f1));
            let mut all = vec![got];
            while let Ok(v) = rx.try_recv() {
                all.push(v);
            }
            all.sort_unstable();
            assert_eq!(all, vec![1, 2]);
        },
    );
}

/// MPMC ring, the send side of [`dropped_recv_futures_pass_wake_on`]: the queue is full;
/// two send futures wait (polled once by hand) and a third sender (`send_async` on
/// `block_on`, another thread) waits behind them. One value is received (`try_recv`): the
/// first future is woken (and the second as its backup). Both are dropped without being
/// polled again (their values are dropped with them): the third sender must complete (the
/// dropped futures pass the wake-up on), and its value is received after the queued ones.
///
/// Checked to fail with (v2, in a scratch copy): `WaitList::cancel` not passing on a
/// wake-up it took (deadlock).
#[test]
fn dropped_send_futures_pass_wake_on() {
    run(
        "dropped_send_futures_pass_wake_on",
        MPMC,
        Pauses::Poll,
        |case| {
            let cap = case.cap;
            let log = Log::new(cap + 3);
            let (tx, rx) = Builder::new(cap).mpmc::<Tok>();
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let (tx1, tx2) = (tx.clone(), tx.clone());
            let (w0, w1) = (Recorder::new(), Recorder::new());
            let mut f0 = tx.send_async(log.tok(cap));
            let mut f1 = tx1.send_async(log.tok(cap + 1));
            assert!(poll_once(&mut f0, &w0).is_pending());
            assert!(poll_once(&mut f1, &w1).is_pending());
            let third = {
                let log = log.clone();
                thread::spawn(move || block_on(tx2.send_async(log.tok(cap + 2))).is_ok())
            };
            case.pause();
            let first = rx.try_recv().map(|t| t.id);
            assert_eq!(first, Ok(0));
            assert_eq!(w0.count(), 1, "the first in line is woken");
            drop((f0, f1));
            assert!(third.join().unwrap(), "the third sender");
            assert_eq!(
                (log.drops(cap), log.drops(cap + 1)),
                (1, 1),
                "dropped futures"
            );
            let mut rx = Rx::Mpmc(rx);
            let rest = drain_now(&mut rx);
            let expected: Vec<usize> = (1..cap).chain([cap + 2]).collect();
            assert_eq!(ids(&rest), expected);
            drop(rest);
            let m = rx.metrics();
            assert_eq!(m.len, 0, "{m:?}");
            drop((tx, tx1, rx));
            log.assert_each_dropped_once();
        },
    );
}

// === 14. SPSC drop-oldest: what the consumer sees ===

/// SPSC drop-oldest: the queue starts full (`cap` values); the producer sends two more
/// (each evicts, unless a receive made room) while the consumer, twice, reads `len()`
/// twice and then, if `!is_empty()`, receives. Seen from the consumer the length never
/// decreases between its own receives (an eviction takes the oldest out and publishes the
/// newest in one step), and `!is_empty()` is never followed by `Empty`. Every value is
/// received or evicted back, exactly once, in order. (Full from the start, so that an
/// eviction can fall between two reads of the consumer with two preemptions.)
///
/// Checked to fail with (v2, in a scratch copy): the eviction made in two steps (take the
/// oldest, then publish the newest: `len` dips).
#[test]
fn spsc_drop_oldest_len_never_decreases() {
    run(
        "spsc_drop_oldest_len_never_decreases",
        &[Flavor::Spsc],
        Pauses::None,
        |case| {
            let cap = case.cap;
            let n = cap + 2;
            let (mut tx, mut rx) = Builder::new(cap).policy(Policy::DropOldest).spsc::<usize>();
            for i in 0..cap {
                tx.try_send(i).unwrap();
            }
            let producer = thread::spawn(move || {
                let mut evicted = Vec::new();
                for i in cap..n {
                    evicted.extend(tx.send(i).unwrap().evicted());
                }
                evicted
            });
            let mut got = Vec::new();
            for _ in 0..2 {
                let a = rx.len();
                let b = rx.len();
                assert!(b >= a, "len fell from {a} to {b} without a receive");
                assert!(b <= cap, "len {b} over the capacity");
                if !rx.is_empty() {
                    match rx.try_recv() {
                        Ok(v) => got.push(v),
                        Err(e) => panic!("!is_empty() and then {e:?}"),
                    }
                }
            }
            let evicted = producer.join().unwrap();
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            let mut all: Vec<usize> = got.iter().chain(&evicted).copied().collect();
            all.sort_unstable();
            assert_eq!(
                all,
                (0..n).collect::<Vec<_>>(),
                "got {got:?} evicted {evicted:?}"
            );
            let m = rx.metrics();
            assert_eq!(m.evicted_oldest, evicted.len() as u64, "{m:?}");
            assert_balanced(&m);
        },
    );
}

// === 15. rendezvous: receivers that leave ===

/// Rendezvous: two receive futures stand in line (polled once), a receiver thread waits
/// behind them (`recv_async` on `block_on`), and a sender thread sends one value (blocking
/// `send`: with receivers waiting it puts the value in transit and wakes the first future,
/// and the second as its backup, to pull it). Both futures are dropped concurrently,
/// without another poll: the wake-ups they took for the value are passed on (two futures,
/// so that the thread depends on the pass-on, not on the backup). The thread gets the
/// value; the send completes; `len()` stays 0; `sent` counts once, when a receiver takes
/// the value.
///
/// (The brief's protocol handed the value to the future itself, and its drop passed the
/// value on; since commit 6bb0b55 receivers pull, and what is passed on is the wake-up. The
/// contract checked is the same: the value reaches the receiver that stays.)
///
/// Checked to fail with (v2, in a scratch copy): `cancel_recv` not passing on a wake-up it
/// took for a value in transit (the thread waits forever: deadlock).
#[test]
fn rendezvous_dropped_receive_passes_value_on() {
    run_rendezvous(
        "rendezvous_dropped_receive_passes_value_on",
        Pauses::Poll,
        |case| {
            let log = Log::new(1);
            let (tx, rx) = pushpull::mpmc::<Tok>(0);
            let (rx1, rx2) = (rx.clone(), rx.clone());
            let (w0, w1) = (Recorder::new(), Recorder::new());
            let mut f0 = rx.recv_async();
            let mut f1 = rx1.recv_async();
            assert!(poll_once(&mut f0, &w0).is_pending());
            assert!(poll_once(&mut f1, &w1).is_pending());
            let other = thread::spawn(move || block_on(rx2.recv_async()).map(|t| t.id));
            let sender = {
                let (tx, log) = (tx.clone(), log.clone());
                thread::spawn(move || tx.send(log.tok(0)).is_ok())
            };
            case.pause();
            drop(f0);
            drop(f1);
            assert_eq!(tx.len(), 0, "a rendezvous holds no values");
            assert!(sender.join().unwrap(), "the send completes");
            assert_eq!(other.join().unwrap(), Ok(0));
            assert_eq!(
                log.drops(0),
                1,
                "received once, then dropped by the receiver"
            );
            let m = rx.metrics();
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
            assert_eq!(
                rx.try_recv().err(),
                Some(TryRecvError::Empty),
                "nothing left"
            );
        },
    );
}

/// Rendezvous: a permit speaks for a waiting receiver, and that receiver leaves. A receive
/// future waits in line (polled once), a receiver thread waits too (`recv_async` on
/// `block_on`); another thread reserves (as soon as a receiver waits: the future, or, if it
/// left already, the thread) and sends through the permit, while the future is dropped.
/// The permit's send still succeeds (its value goes in transit), and the receiver that
/// stays gets the value; `len()` stays 0; `sent` counts once.
///
/// (The brief's protocol had a permit *claim* one receiver and move the claim when that
/// receiver left; since commit 6bb0b55 a permit only counts against the waiting receivers,
/// and its value is pulled by whichever receiver comes. Same contract.)
///
/// Checked to fail with (v2, in a scratch copy): the permit's send not waking a receiver
/// for its value in transit (deadlock).
#[test]
fn rendezvous_permit_outlives_its_receiver() {
    run_rendezvous(
        "rendezvous_permit_outlives_its_receiver",
        Pauses::Poll,
        |case| {
            let log = Log::new(1);
            let (tx, rx) = pushpull::mpmc::<Tok>(0);
            let rx2 = rx.clone();
            let w = Recorder::new();
            let mut f = rx.recv_async();
            assert!(poll_once(&mut f, &w).is_pending());
            let other = thread::spawn(move || block_on(rx2.recv_async()).map(|t| t.id));
            let holder = {
                let (tx, log) = (tx.clone(), log.clone());
                thread::spawn(move || {
                    // As soon as a receiver waits (the future, unless it is gone already).
                    let permit = loop {
                        match tx.try_reserve() {
                            Ok(p) => break p,
                            Err(TrySendError::Full(())) => thread::yield_now(),
                            Err(e) => panic!("{e:?}"),
                        }
                    };
                    permit.send(log.tok(0)).is_ok()
                })
            };
            case.pause();
            drop(f);
            assert_eq!(tx.len(), 0, "a rendezvous holds no values");
            assert!(holder.join().unwrap(), "the permit's send");
            assert_eq!(other.join().unwrap(), Ok(0));
            assert_eq!(log.drops(0), 1);
            let m = rx.metrics();
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
            assert_eq!(
                rx.try_recv().err(),
                Some(TryRecvError::Empty),
                "nothing left"
            );
        },
    );
}

// === 16. memory ordering: the guarantees of the crate docs ===

/// Plain cells beside the queue, written before a send (or a close) and read after the
/// receive (or the `Closed`): loom's `UnsafeCell` reports a read that does not happen after
/// the write ("causality violation"), so these models check the happens-before edges of the
/// crate docs' "Memory ordering" (tests/ordering.rs checks them on real threads).
struct Cells(Vec<loom::cell::UnsafeCell<usize>>);

// SAFETY: the models access each cell as the guarantee under test orders them; loom's cell
// checks exactly that and panics otherwise.
unsafe impl Sync for Cells {}
// SAFETY: as for `Sync`; the cells hold plain `usize`s.
unsafe impl Send for Cells {}

impl Cells {
    fn new(n: usize) -> StdArc<Self> {
        StdArc::new(Cells(
            (0..n).map(|_| loom::cell::UnsafeCell::new(0)).collect(),
        ))
    }

    fn write(&self, i: usize, v: usize) {
        // SAFETY: loom checks that no access races this one (the model's subject).
        self.0[i].with_mut(|p| unsafe { *p = v });
    }

    fn read(&self, i: usize) -> usize {
        // SAFETY: as in `write`.
        self.0[i].with(|p| unsafe { *p })
    }
}

/// Sends `value` on a `Block` queue: a blocking `send`, or with `permit` a permit's `send`
/// after a spinning `try_reserve`.
fn send_block<T: std::fmt::Debug>(tx: &mut Tx<T>, value: T, permit: bool) {
    if !permit {
        let _ = tx.send(value).unwrap();
        return;
    }
    loop {
        match tx.try_reserve() {
            Ok(p) => {
                let _ = p.send(value).unwrap();
                return;
            }
            Err(TrySendError::Full(())) => thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// A send happens-before the receive that gets its value: the producer writes cell `i`,
/// then sends `i` (blocking `send`, or a permit's `send` after a spinning `try_reserve`); the
/// consumer receives (blocking `recv`) and reads the cell. `cap + 1` values, so the ring
/// wraps and the producer waits once.
///
/// Checked to fail with (v2, in a scratch copy): the SPSC ring publishing `tail` with a
/// `Relaxed` store (loom: causality violation in `Cells::read`).
#[test]
fn send_happens_before_its_receive() {
    for permit in [false, true] {
        let name = format!("send_happens_before_its_receive/permit={permit}");
        run(&name, ALL, Pauses::None, move |case| {
            let n = case.cap + 1;
            let cells = Cells::new(n);
            let (mut tx, mut rx) = queue::<usize>(case.flavor, case.cap, Policy::Block);
            let producer = {
                let cells = cells.clone();
                thread::spawn(move || {
                    for i in 0..n {
                        cells.write(i, i + 1);
                        send_block(&mut tx, i, permit && case.flavor != Flavor::Rendezvous);
                    }
                    tx
                })
            };
            for expected in 0..n {
                let i = rx.recv().unwrap();
                assert_eq!(i, expected);
                assert_eq!(cells.read(i), i + 1);
            }
            drop(producer.join().unwrap());
        });
    }
}

/// A receive happens-before the send that takes the room it made: the consumer writes cell
/// `k`, then receives value `k` (blocking `recv`); once the send of value `k + cap` returned
/// (blocking `send`, or a permit's `send` after a spinning `try_reserve`), the producer reads
/// cell `k`. At capacity 0 the send of `k` itself needs the receive of `k`. `cap + 1` values.
///
/// Checked to fail with (in a scratch copy): the producer reading the cell of the receive
/// after the one that made its room (loom: causality violation in `Cells::read`).
#[test]
fn receive_happens_before_the_send_into_its_room() {
    for permit in [false, true] {
        let name = format!("receive_happens_before_the_send_into_its_room/permit={permit}");
        run(&name, ALL, Pauses::None, move |case| {
            let n = case.cap + 1;
            let cells = Cells::new(n);
            let (mut tx, mut rx) = queue::<usize>(case.flavor, case.cap, Policy::Block);
            let producer = {
                let cells = cells.clone();
                thread::spawn(move || {
                    for i in 0..n {
                        send_block(&mut tx, i, permit && case.flavor != Flavor::Rendezvous);
                        if let Some(k) = i.checked_sub(case.cap) {
                            assert_eq!(cells.read(k), k + 1);
                        }
                    }
                    tx
                })
            };
            for k in 0..n {
                cells.write(k, k + 1);
                assert_eq!(rx.recv().unwrap(), k);
            }
            drop(producer.join().unwrap());
        });
    }
}

/// A close happens-before the `Closed` it causes: a `Closer` on another thread writes a cell
/// and closes (or aborts); the receiver (blocking `recv` until `Closed`) or the sender
/// (spinning `try_send` until `Closed`) then reads the cell.
///
/// Fails at commit acaa52f (MPMC, `at_sender`, close): the ring's claim read the close mark
/// with a `Relaxed` load and returned `Closed` with no acquire, so the sender's read of the
/// cell raced the closer's write (loom: causality violation in `Cells::read`); fixed by a
/// load of the tail word with `Acquire` on that cold path (`Ring::closed_seen`).
#[test]
fn close_happens_before_closed() {
    for abort in [false, true] {
        for at_sender in [false, true] {
            let name = format!("close_happens_before_closed/abort={abort}/at_sender={at_sender}");
            run(&name, ALL, Pauses::None, move |case| {
                let cells = Cells::new(1);
                let (mut tx, mut rx) = queue::<usize>(case.flavor, case.cap, Policy::Block);
                let closer = tx.closer();
                let closing = {
                    let cells = cells.clone();
                    thread::spawn(move || {
                        cells.write(0, 7);
                        if abort {
                            let _ = closer.abort();
                        } else {
                            closer.close();
                        }
                    })
                };
                if at_sender {
                    loop {
                        match tx.try_send(1) {
                            Err(TrySendError::Closed(_)) => break,
                            Ok(()) | Err(TrySendError::Full(_)) => thread::yield_now(),
                        }
                    }
                } else {
                    while rx.recv().is_ok() {}
                }
                assert_eq!(cells.read(0), 7);
                closing.join().unwrap();
                drop((tx, rx));
            });
        }
    }
}

// === 17. the admission limit (the counting gate) ===

/// Runs an admission model once per delay of `pauses` (see [`Pauses`]).
fn run_gate<F>(name: &str, pauses: Pauses, model: F)
where
    F: Fn(Case) + Sync + Send + Clone + 'static,
{
    for delay in delays(pauses) {
        let case = Case {
            flavor: Flavor::Mpmc,
            cap: 1,
            delay,
            min_preemptions: 0,
        };
        check(name, case, model.clone());
    }
}

/// A thread waits in `acquire` while another holds the one permit of an admission of 1,
/// and the holder gives it back: the waiter gets it (a lost wake-up is a deadlock), and
/// never while the holder still counts itself in.
///
/// Checked to fail with (in a scratch copy): `Semaphore::release` not waking the line
/// (loom: deadlock).
#[test]
fn admission_release_wakes_a_blocked_acquire() {
    run_gate(
        "admission_release_wakes_a_blocked_acquire",
        Pauses::Park,
        |case| {
            let admission = pushpull::Admission::new(1);
            let inside = StdArc::new(StdAtomicUsize::new(0));
            let held = admission.try_acquire().unwrap();
            inside.fetch_add(1, StdOrdering::SeqCst);
            let waiter = {
                let (admission, inside) = (admission.clone(), inside.clone());
                thread::spawn(move || {
                    let permit = admission.acquire().unwrap();
                    assert_eq!(
                        inside.fetch_add(1, StdOrdering::SeqCst),
                        0,
                        "over the limit"
                    );
                    inside.fetch_sub(1, StdOrdering::SeqCst);
                    drop(permit);
                })
            };
            case.pause();
            inside.fetch_sub(1, StdOrdering::SeqCst);
            drop(held);
            waiter.join().unwrap();
            assert_eq!(admission.in_flight(), 0);
        },
    );
}

/// A thread waits in `acquire` on a full admission; another closes it: the wait ends with
/// `Closed` (a lost wake-up is a deadlock), and the permit held across the close gives its
/// share back.
#[test]
fn admission_close_wakes_a_blocked_acquire() {
    run_gate(
        "admission_close_wakes_a_blocked_acquire",
        Pauses::Park,
        |case| {
            let admission = pushpull::Admission::new(1);
            let held = admission.try_acquire().unwrap();
            let waiter = {
                let admission = admission.clone();
                thread::spawn(move || admission.acquire().map(drop))
            };
            case.pause();
            assert!(admission.close());
            assert_eq!(waiter.join().unwrap(), Err(pushpull::AcquireError));
            drop(held);
            assert_eq!(admission.in_flight(), 0);
        },
    );
}

/// Two acquire futures are polled once (they wait in line, ahead of a thread blocked in
/// `acquire`); the held permit is given back, which wakes the first future and, as a
/// backup, the second; then both futures are dropped without being polled again. The
/// wake-ups they took go on, so the blocked thread gets the permit (a lost wake-up is a
/// deadlock).
///
/// Checked to fail with (in a scratch copy): `Semaphore::cancel` leaving the line without
/// passing a wake-up on (loom: deadlock).
#[test]
fn admission_acquire_futures_polled_once_then_dropped() {
    run_gate(
        "admission_acquire_futures_polled_once_then_dropped",
        Pauses::Park,
        |case| {
            let admission = pushpull::Admission::new(1);
            let held = admission.try_acquire().unwrap();
            let recorder = Recorder::new();
            let waker = recorder.waker();
            let mut f1 = admission.acquire_async();
            let mut f2 = admission.acquire_async();
            for f in [&mut f1, &mut f2] {
                assert!(Pin::new(f)
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
            }
            let waiter = {
                let admission = admission.clone();
                thread::spawn(move || admission.acquire().map(drop))
            };
            case.pause();
            drop(held);
            drop(f1);
            drop(f2);
            assert_eq!(waiter.join().unwrap(), Ok(()));
            assert_eq!(admission.in_flight(), 0);
        },
    );
}

// === 18. batch receive on SPSC: one publication of `head` for the batch ===

/// SPSC: the consumer takes values with `try_recv_batch` (up to 2 at a time, spinning while
/// empty) while the producer sends `cap + 1` values (blocking `send`, so it waits once the
/// ring is full): every value is received once, in order, and the producer waiting for
/// room is woken by the batch's one post-check (a lost wake-up is a deadlock).
///
/// Checked to fail with (in a scratch copy): `try_recv_many` without its post-check (the
/// producer stays parked, never woken, while the consumer spins: loom reports "exceeded
/// maximum number of branches").
#[test]
fn spsc_batch_recv_races_sends() {
    run(
        "spsc_batch_recv_races_sends",
        &[Flavor::Spsc],
        Pauses::Park,
        |case| {
            let n = case.cap + 1;
            let (tx, rx) = Builder::new(case.cap).spsc::<usize>();
            let (mut tx, mut rx) = (tx, rx);
            let producer = thread::spawn(move || {
                for i in 0..n {
                    assert_eq!(tx.send(i), Ok(Sent::Queued));
                }
                tx
            });
            case.pause();
            let mut got = Vec::new();
            while got.len() < n {
                match rx.try_recv_batch(&mut got, 2) {
                    Ok(_) => {}
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(got, (0..n).collect::<Vec<_>>());
            drop(producer.join().unwrap());
            assert_eq!(rx.try_recv_batch(&mut got, 2), Err(TryRecvError::Closed));
        },
    );
}

/// SPSC: a `Closer` aborts while the consumer takes a batch and the producer sends: every
/// value is received, handed back by a failed send, or discarded and counted, exactly once
/// (a batch taken as the abort lands is discarded whole, as a single receive's value is).
#[test]
fn spsc_batch_recv_races_abort() {
    run(
        "spsc_batch_recv_races_abort",
        &[Flavor::Spsc],
        Pauses::None,
        |case| {
            let n = 2;
            let log = Log::new(n);
            let (mut tx, mut rx) = queue::<Tok>(Flavor::Spsc, case.cap, Policy::Block);
            let Rx::Spsc(consumer) = &mut rx else {
                unreachable!("SPSC")
            };
            // Both values queued (capacity 2), or one queued and one sent later (capacity 1).
            tx.try_send(log.tok(0)).unwrap();
            let closer = tx.closer();
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let failed = tx.send_spinning(log.tok(1)).err().map(|e| match e {
                        TrySendError::Closed(v) | TrySendError::Full(v) => v,
                    });
                    (failed, tx)
                })
            };
            let aborter = thread::spawn(move || {
                let _ = closer.abort();
                closer
            });
            let mut got = Vec::new();
            let _ = consumer.try_recv_batch(&mut got, 2);
            let (failed, tx) = sender.join().unwrap();
            let closer = aborter.join().unwrap();
            // After the abort, the consumer's next call discards what is left.
            while consumer.try_recv_batch(&mut got, 2).is_ok() {}
            let m = closer.metrics();
            assert_eq!(
                got.len() + usize::from(failed.is_some()) + m.discarded as usize,
                n,
                "received {:?}, {m:?}",
                ids(&got)
            );
            assert_eq!(m.len, 0, "{m:?}");
            drop((got, failed, tx, rx, closer));
            log.assert_each_dropped_once();
        },
    );
}

// === 19. the credit gate ===
//
// A queue built with `Builder::credits` has a counting gate beside it (the admission
// limit's `Semaphore`, section 17): each value that enters spends a credit, the consumer
// grants more, and sends out of credit are handled like sends into a full queue. The
// gate's line of sends waiting for credit is a `WaitList` in both flavors (the SPSC
// queue's own waits use waker slots, its gate does not), so every model of this section
// relies on `loom::seq_cst_pair` (see "Loom and SeqCst"), as section 17 does; they are not
// split by flavor. Each model accounts for the credits exactly: after it, the credits
// available are the credits granted minus the values that entered and were not evicted.

/// A queue of `flavor` under `policy` with a credit gate holding `credits` to start.
fn gated<T>(flavor: Flavor, cap: usize, policy: Policy, credits: usize) -> (Tx<T>, Rx<T>) {
    let builder = Builder::new(cap).policy(policy).credits(credits);
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
    /// The credits available now (the queue has a gate).
    fn credits(&self) -> usize {
        match self {
            Tx::Spsc(tx) => tx.credits(),
            Tx::Mpmc(tx) => tx.credits(),
        }
        .expect("a queue with a credit gate")
    }
}

impl<T> Rx<T> {
    fn grant(&self, n: usize) {
        match self {
            Rx::Spsc(rx) => rx.grant(n),
            Rx::Mpmc(rx) => rx.grant(n),
        }
    }

    /// The credits available now (the queue has a gate).
    fn credits(&self) -> usize {
        match self {
            Rx::Spsc(rx) => rx.credits(),
            Rx::Mpmc(rx) => rx.credits(),
        }
        .expect("a queue with a credit gate")
    }

    fn len(&self) -> usize {
        match self {
            Rx::Spsc(rx) => rx.len(),
            Rx::Mpmc(rx) => rx.len(),
        }
    }
}

/// The credit counters of `m`: `(granted, spent, available)`.
fn credit_counts(m: &Metrics) -> (usize, usize, usize) {
    (
        m.credits_granted as usize,
        m.credits_spent as usize,
        m.credits_available as usize,
    )
}

/// Grant against spend: a producer sends two values with blocking `send` on a queue whose
/// gate starts with `initial` credits (0 or 1), so it waits for credit (and, at capacity 1
/// with one credit to start, holding a credit, for room); the consumer pauses (see
/// [`Pauses`]), then, for each value, grants one credit and receives with blocking `recv`.
/// Every value arrives once, in order; after each receive, the values queued plus those
/// received never exceed the credits granted (the consumer's own count: only it grants);
/// afterwards the credits left are exactly those granted minus the values sent, and the
/// counters agree.
///
/// Checked to fail with (in a scratch copy): `Semaphore::release` not waking the line (the
/// grant never wakes the send waiting for credit: deadlock); `Tx::take_credit` letting a
/// `Block` send out of credit through as if it held one ("queued + received > granted").
#[test]
fn credit_grant_wakes_a_blocked_send() {
    for initial in [0, 1] {
        let name = format!("credit_grant_wakes_a_blocked_send/initial={initial}");
        run(&name, BOTH, Pauses::Park, move |case| {
            const N: usize = 2;
            let Case { flavor, cap, .. } = case;
            let (mut tx, mut rx) = gated::<usize>(flavor, cap, Policy::Block, initial);
            let producer = thread::spawn(move || {
                for i in 0..N {
                    assert_eq!(tx.send(i), Ok(Sent::Queued));
                }
                tx
            });
            case.pause();
            let mut granted = initial;
            for i in 0..N {
                rx.grant(1);
                granted += 1;
                assert_eq!(rx.recv(), Ok(i));
                let (queued, received) = (rx.len(), i + 1);
                assert!(
                    queued + received <= granted,
                    "{queued} queued + {received} received > {granted} granted"
                );
            }
            let tx = producer.join().unwrap();
            assert_eq!(rx.credits(), granted - N);
            let m = rx.metrics();
            assert_eq!(credit_counts(&m), (granted, N, granted - N), "{m:?}");
            assert_eq!(
                (m.sent, m.received, m.len),
                (N as u64, N as u64, 0),
                "{m:?}"
            );
            drop(tx);
            assert_eq!(rx.recv(), Err(RecvError));
        });
    }
}

/// How the consumer ends the queue in [`credit_close_wakes_a_send_waiting_for_credit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreditEnd {
    /// `close` (drain).
    Close,
    /// The consumer's end is dropped (SPSC: `consumer_gone`; MPMC: the last receiver's
    /// drop aborts).
    Drop,
}

/// Close while a producer waits for credit: the gate's one credit is spent by a queued
/// value, and a producer blocks in `send` for another; the consumer pauses, then closes the
/// queue (or drops its end). The send ends with `Closed` and its own value (a lost wake-up
/// is a deadlock); the queued value is drained (close) or dropped by the library (drop),
/// exactly once; the credits stay spent (the failed send held none).
///
/// Checked to fail with (in a scratch copy): `Chan::close` not closing the gate (`Close`:
/// deadlock); `Chan::closed_by_drop` not closing it (SPSC `Drop`: deadlock); `Chan::abort`
/// not closing it (MPMC `Drop`: deadlock).
#[test]
fn credit_close_wakes_a_send_waiting_for_credit() {
    for end in [CreditEnd::Close, CreditEnd::Drop] {
        let name = format!("credit_close_wakes_a_send_waiting_for_credit/{end:?}");
        run(&name, BOTH, Pauses::Park, move |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(2);
            let (mut tx, rx) = gated::<Tok>(flavor, cap, Policy::Block, 1);
            tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
            let sender = {
                let log = log.clone();
                thread::spawn(move || {
                    let r = tx.send(log.tok(1));
                    (r, tx)
                })
            };
            case.pause();
            let rx = match end {
                CreditEnd::Close => {
                    assert!(rx.close());
                    Some(rx)
                }
                CreditEnd::Drop => {
                    drop(rx);
                    None
                }
            };
            let (r, tx) = sender.join().unwrap();
            let back = match r {
                Err(SendError::Closed(v)) => v,
                other => panic!("a send waiting for credit, then the queue closed: {other:?}"),
            };
            assert_eq!(back.id, 1, "its own value back");
            assert_eq!(tx.credits(), 0, "the failed send took no credit");
            match rx {
                Some(mut rx) => {
                    assert_eq!(ids(&rx.drain_closed()), vec![0]);
                    let m = rx.metrics();
                    assert_eq!(credit_counts(&m), (1, 1, 0), "{m:?}");
                }
                None => assert_eq!(log.drops(0), 1, "the dropped end drops what is queued"),
            }
            drop((back, tx));
            log.assert_each_dropped_once();
        });
    }
}

/// Which future a credit model polls by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreditFuture {
    /// `send_async`.
    Send,
    /// `reserve_async`.
    Reserve,
}

/// Poll once, then drop, a wait for credit racing a grant: the gate starts empty and the
/// queue is empty; a thread pauses (see [`Pauses`]), then grants one credit; the producer
/// polls a `send_async` (or `reserve_async`) future once by hand and drops it. The future
/// got the credit (a send: `Queued`, its value received later; a reservation: a permit,
/// dropped unused, which gives the credit back), or it was pending and its drop took
/// nothing (a send's value is dropped with it, once). Then the credit must be there for a
/// second send (blocking `send`, whose wait for credit races the grant: a lost wake-up is a
/// deadlock), unless the first send spent it (then `try_send` finds no credit: `Full`).
/// Afterwards exactly one value entered, and the credits are spent exactly once.
///
/// Checked to fail with (in a scratch copy): `Semaphore::release` not waking the line
/// (`Send`: the second send, waiting for credit, is never woken by the grant: deadlock);
/// `Tx::release_reserved` not giving the permit's credit back (`Reserve`: the second send
/// waits for ever, deadlock).
#[test]
fn credit_wait_polled_once_then_dropped() {
    for fut in [CreditFuture::Send, CreditFuture::Reserve] {
        let name = format!("credit_wait_polled_once_then_dropped/{fut:?}");
        run(&name, BOTH, Pauses::Park, move |case| {
            let Case { flavor, cap, .. } = case;
            let log = Log::new(2);
            let (mut tx, rx) = gated::<Tok>(flavor, cap, Policy::Block, 0);
            let granter = thread::spawn(move || {
                case.pause();
                rx.grant(1);
                rx
            });
            let w = Recorder::new();
            // Whether the future's value entered (spending the credit).
            let first_sent = match fut {
                CreditFuture::Send => {
                    let mut f = tx.send_async(log.tok(0));
                    let polled = poll_once(&mut f, &w);
                    drop(f);
                    match polled {
                        Poll::Ready(Ok(Sent::Queued)) => {
                            assert_eq!(log.drops(0), 0, "sent and dropped");
                            true
                        }
                        Poll::Pending => {
                            assert_eq!(log.drops(0), 1, "a pending send keeps its value");
                            false
                        }
                        other => panic!("{other:?}"),
                    }
                }
                CreditFuture::Reserve => {
                    let mut f = tx.reserve_async();
                    match poll_once(&mut f, &w) {
                        // Dropped unused: the credit goes back.
                        Poll::Ready(Ok(permit)) => drop(permit),
                        Poll::Ready(Err(e)) => panic!("{e:?}"),
                        Poll::Pending => {}
                    }
                    drop(f);
                    // No value of the future's: account for id 0 here.
                    drop(log.tok(0));
                    false
                }
            };
            let second = log.tok(1);
            let second_sent = if first_sent {
                match tx.try_send(second) {
                    Err(TrySendError::Full(v)) => drop(v),
                    other => panic!("the one credit is spent: {other:?}"),
                }
                false
            } else {
                assert!(matches!(tx.send(second), Ok(Sent::Queued)));
                true
            };
            let mut rx = granter.join().unwrap();
            let got = drain_now(&mut rx);
            let expected: Vec<usize> = [(first_sent, 0), (second_sent, 1)]
                .iter()
                .filter(|(sent, _)| *sent)
                .map(|&(_, id)| id)
                .collect();
            assert_eq!(ids(&got), expected);
            assert_eq!(expected.len(), 1, "exactly one value entered");
            assert_eq!(tx.credits(), 0);
            let m = rx.metrics();
            assert_eq!(credit_counts(&m), (1, 1, 0), "{m:?}");
            assert_eq!((m.sent, m.received, m.len), (1, 1, 0), "{m:?}");
            drop((got, tx, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// A `fut` future of `tx`, boxed, that says whether it completed with `Ok`; a send future
/// sends `v` (a reservation drops it at once: it has no value).
fn credit_future(tx: &Sender<Tok>, fut: CreditFuture, v: Tok) -> BoxFuture<'_, bool> {
    match fut {
        CreditFuture::Send => {
            let f = tx.send_async(v);
            Box::pin(async move { f.await.is_ok() })
        }
        CreditFuture::Reserve => {
            drop(v);
            let f = tx.reserve_async();
            Box::pin(async move { f.await.is_ok() })
        }
    }
}

/// MPMC, a wake-up for credit passed on: the gate starts empty; two futures wait for
/// credit (`send_async`, or `reserve_async`; polled once by hand, in the gate's line), and
/// a sender blocks in `send` behind them (another thread). The consumer pauses, then grants
/// one credit, which wakes the first future and, as a backup, the second; both are dropped
/// without another poll. The wake-up they took goes on: the blocked sender gets the credit
/// (a lost wake-up is a deadlock, two futures so that the thread depends on the pass-on,
/// not on the backup); the futures' values are dropped once each; the credit is spent once.
///
/// Checked to fail with (in a scratch copy): `Tx::gated_cancel_send` not leaving the gate's
/// line (`g.sem.cancel` skipped: the wake-up is not passed on, deadlock); the same in
/// `Tx::gated_cancel_reserve` (`Reserve`: deadlock).
#[test]
fn credit_dropped_futures_pass_wake_on() {
    for fut in [CreditFuture::Send, CreditFuture::Reserve] {
        let name = format!("credit_dropped_futures_pass_wake_on/{fut:?}");
        run(&name, MPMC, Pauses::Park, move |case| {
            let log = Log::new(3);
            let (tx, rx) = Builder::new(case.cap).credits(0).mpmc::<Tok>();
            let (tx1, tx2) = (tx.clone(), tx.clone());
            let (w0, w1) = (Recorder::new(), Recorder::new());
            let mut f0 = credit_future(&tx, fut, log.tok(0));
            let mut f1 = credit_future(&tx1, fut, log.tok(1));
            assert!(poll_once(&mut f0, &w0).is_pending());
            assert!(poll_once(&mut f1, &w1).is_pending());
            let third = {
                let log = log.clone();
                thread::spawn(move || tx2.send(log.tok(2)).is_ok())
            };
            case.pause();
            rx.grant(1);
            assert_eq!(w0.count(), 1, "the first in line is woken");
            drop((f0, f1));
            assert!(third.join().unwrap(), "the sender behind the futures");
            if fut == CreditFuture::Send {
                assert_eq!((log.drops(0), log.drops(1)), (1, 1), "dropped futures");
            }
            let mut rx = Rx::Mpmc(rx);
            let got = drain_now(&mut rx);
            assert_eq!(ids(&got), vec![2]);
            let m = rx.metrics();
            assert_eq!(credit_counts(&m), (1, 1, 0), "{m:?}");
            drop((got, tx, tx1, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// A send holding a credit while it waits for room is cancelled, racing a receive: the
/// queue is full (`cap` values) and its gate, after them, holds one credit; a thread
/// receives once (`try_recv`); the producer polls a `send_async` (or `reserve_async`)
/// future once by hand (it takes the last credit, then finds room, or waits for room
/// holding the credit) and drops it (a permit it got sends a value). Afterwards the
/// credits are exact: the credits granted minus the values that entered (all received by
/// then): a pending future's drop gave its credit back, a completed send or a permit's send
/// spent it. Every value is received once, in order, or dropped with the future; the
/// queue's room is whole again.
///
/// Checked to fail with (in a scratch copy): `Tx::gated_cancel_send` not giving a held
/// credit back (`Send`: "credits"); the same in `Tx::gated_cancel_reserve` (`Reserve`).
#[test]
fn credit_held_send_cancelled_races_recv() {
    for fut in [CreditFuture::Send, CreditFuture::Reserve] {
        let name = format!("credit_held_send_cancelled_races_recv/{fut:?}");
        run(&name, BOTH, Pauses::Poll, move |case| {
            let Case { flavor, cap, .. } = case;
            let n = cap + 1;
            let log = Log::new(n);
            let (mut tx, mut rx) = gated::<Tok>(flavor, cap, Policy::Block, n);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            assert_eq!(tx.credits(), 1);
            let receiver = thread::spawn(move || {
                let r = rx.try_recv().ok();
                (r, rx)
            });
            case.pause();
            let w = Recorder::new();
            let sent = match fut {
                CreditFuture::Send => {
                    let mut f = tx.send_async(log.tok(cap));
                    let polled = poll_once(&mut f, &w);
                    drop(f);
                    match polled {
                        Poll::Ready(Ok(Sent::Queued)) => true,
                        Poll::Pending => false,
                        other => panic!("{other:?}"),
                    }
                }
                CreditFuture::Reserve => {
                    let mut f = tx.reserve_async();
                    let permit = match poll_once(&mut f, &w) {
                        Poll::Ready(Ok(permit)) => Some(permit),
                        Poll::Ready(Err(e)) => panic!("{e:?}"),
                        Poll::Pending => None,
                    };
                    drop(f);
                    match permit {
                        Some(permit) => {
                            assert!(matches!(permit.send(log.tok(cap)), Ok(Sent::Queued)));
                            true
                        }
                        None => {
                            // No value of the future's: account for its id here.
                            drop(log.tok(cap));
                            false
                        }
                    }
                }
            };
            if fut == CreditFuture::Send {
                assert_eq!(log.drops(cap), usize::from(!sent), "sent, or dropped once");
            }
            let (first, mut rx) = receiver.join().unwrap();
            let got: Vec<Tok> = first.into_iter().chain(drain_now(&mut rx)).collect();
            let entered = cap + usize::from(sent);
            assert_eq!(ids(&got), (0..entered).collect::<Vec<_>>());
            assert_eq!(tx.credits(), n - entered, "credits");
            let m = rx.metrics();
            assert_eq!(credit_counts(&m), (n, entered, n - entered), "{m:?}");
            assert_eq!(
                (m.sent, m.received, m.len),
                (entered as u64, entered as u64, 0),
                "{m:?}"
            );
            drop(got);
            // Credits for the refill (`cap` values), then the room is checked as usual.
            rx.grant(cap);
            assert_capacity_restored(&mut tx, &mut rx, cap);
            drop((tx, rx));
            log.assert_each_dropped_once();
        });
    }
}

/// `DropOldest` out of credit: the value replaces the oldest queued value (SPSC: the
/// producer's forced eviction, `evict::Ring::replace`; MPMC: a reservation, a pop, then the
/// reserved push, which may evict)
/// and takes over its credit. The queue is full (`cap` values) and their credits were all
/// there were; the producer sends two more with `send`, each replacing the oldest queued
/// value, or, when the consumer took everything first, waiting for credit (and then, with
/// a credit held, evicting from a full queue: that eviction gives the evicted value's
/// credit back). The consumer pauses, receives twice with `try_recv` (racing the
/// replacements: at capacity 2, the replacement finds the oldest value locked by the
/// consumer, or evicts from a queue that is not full), then grants two credits. Every value
/// is received once, in order, or handed back as `Sent::Evicted` once; the credits left are
/// exactly the credits granted (`cap + 2`) minus the values received.
///
/// Checked to fail with (in a scratch copy): `Tx::replace` giving the evicted value's credit
/// back instead of handing it to the new value ("credits"); `Tx::spent` not giving back the
/// credit of a value evicted from a full queue (capacity 1: "credits"); `evict::Ring`'s
/// forced eviction taking the oldest item while the consumer has it locked (SPSC, capacity
/// 2: loom reports the concurrent access to the item's slot).
#[test]
fn credit_drop_oldest_replace_races_recv() {
    run(
        "credit_drop_oldest_replace_races_recv",
        BOTH,
        Pauses::Park,
        |case| {
            let Case { flavor, cap, .. } = case;
            let n = cap + 2;
            let log = Log::new(n);
            let (mut tx, mut rx) = gated::<Tok>(flavor, cap, Policy::DropOldest, cap);
            for i in 0..cap {
                tx.try_send(log.tok(i)).unwrap_or_else(|_| unreachable!());
            }
            let producer = {
                let log = log.clone();
                thread::spawn(move || {
                    let mut evicted = Vec::new();
                    for i in cap..n {
                        match tx.send(log.tok(i)) {
                            Ok(Sent::Queued) => {}
                            Ok(Sent::Evicted(old)) => {
                                assert!(old.id < i, "evicted {} sending {i}", old.id);
                                evicted.push(old);
                            }
                            other => panic!("send {i}: {other:?}"),
                        }
                    }
                    (evicted, tx)
                })
            };
            case.pause();
            let mut got: Vec<Tok> = Vec::new();
            for _ in 0..2 {
                got.extend(rx.try_recv().ok());
            }
            rx.grant(2);
            let (evicted, tx) = producer.join().unwrap();
            got.extend(drain_now(&mut rx));
            let got_ids = ids(&got);
            assert!(got_ids.windows(2).all(|p| p[0] < p[1]), "{got_ids:?}");
            assert_partition(n, &[&got_ids, &ids(&evicted)]);
            assert!((0..n).all(|id| log.drops(id) == 0));
            let granted = cap + 2;
            assert_eq!(tx.credits(), granted - got.len(), "credits");
            let m = rx.metrics();
            assert_eq!(
                credit_counts(&m),
                (granted, got.len(), granted - got.len()),
                "{m:?}"
            );
            assert_eq!(m.evicted_oldest, evicted.len() as u64, "{m:?}");
            assert_eq!(m.received, got.len() as u64, "{m:?}");
            assert_balanced(&m);
            drop((got, evicted, tx, rx));
            log.assert_each_dropped_once();
        },
    );
}

/// `DropOldest` out of credit racing a drain-close: the replaced value is either evicted
/// (handed back, the new one received) or the send fails and the old value is still
/// received. Found a real bug: the MPMC replacement popped the oldest value, then its push
/// found the queue closed and the popped value was lost; now the replacement reserves first
/// (a close then waits for its push). Checked to fail without the reservation.
#[test]
fn credit_drop_oldest_replace_races_close() {
    run_caps(
        "credit_drop_oldest_replace_races_close",
        BOTH,
        &[2],
        Pauses::None,
        |case| {
            let log = Log::new(2);
            let (mut tx, mut rx) = gated::<Tok>(case.flavor, case.cap, Policy::DropOldest, 1);
            tx.try_send(log.tok(0)).unwrap_or_else(|_| unreachable!());
            let closer = tx.closer();
            let c = thread::spawn(move || closer.close());
            let r = tx.send(log.tok(1));
            assert!(c.join().unwrap());
            let got = rx.drain_closed();
            let m = rx.metrics();
            match r {
                Ok(Sent::Evicted(old)) => {
                    assert_eq!(old.id, 0);
                    assert_eq!(ids(&got), vec![1]);
                }
                Err(SendError::Closed(v)) => {
                    assert_eq!(v.id, 1);
                    assert_eq!(
                        ids(&got),
                        vec![0],
                        "sent before the close, not received: {m:?}"
                    );
                }
                other => panic!("{other:?}"),
            }
        },
    );
}

// === 20. chunks on SPSC: a run written in place, published once; read in place ===

/// SPSC: the producer writes `cap + 1` values in write chunks (spinning while full) while
/// the consumer reads them in read chunks, taking one value per chunk or all of them, then
/// a blocking `recv` for the last: every value arrives once, in order; a run is seen all at
/// once or not at all; the consumer parked in `recv` is woken by a commit's one post-check
/// (a lost wake-up is a deadlock).
///
/// Checked to fail with (in a scratch copy): a release that publishes `head` one short
/// (the producer never sees the room: "exceeded maximum number of branches"). (Without the
/// commit's own post-check it still passes: the commit's `lower_permits` wakes the consumer
/// as well.)
#[test]
fn chunk_commit_races_chunk_read() {
    run(
        "chunk_commit_races_chunk_read",
        &[Flavor::Spsc],
        Pauses::Park,
        |case| {
            let n = case.cap + 1;
            let (mut tx, mut rx) = Builder::new(case.cap).spsc::<usize>();
            let producer = thread::spawn(move || {
                let mut next = 0;
                while next < n {
                    let wrote = tx.try_write_chunk(2).map(|mut chunk| {
                        let k = chunk.fill_from_iter(next..n);
                        assert_eq!(chunk.commit(), Ok(k));
                        k
                    });
                    match wrote {
                        Ok(k) => next += k,
                        Err(ChunkError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e:?}"),
                    }
                }
                tx
            });
            case.pause();
            let mut got = Vec::new();
            while got.len() < n - 1 {
                let taken = rx.try_read_chunk(2).map(|mut chunk| {
                    let before = got.len();
                    // Take one, or all but the last value (left for `recv`): what is left
                    // stays queued.
                    let want = if before % 2 == 0 { 1 } else { n - 1 - before };
                    got.extend((&mut chunk).take(want));
                    got.len() - before
                });
                match taken {
                    Ok(_) => {}
                    Err(ChunkError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e:?}"),
                }
            }
            got.push(rx.recv().unwrap());
            assert_eq!(got, (0..n).collect::<Vec<_>>());
            drop(producer.join().unwrap());
            assert!(matches!(rx.try_read_chunk(1), Err(ChunkError::Closed)));
        },
    );
}

/// SPSC: a write chunk held across a `Closer`'s abort or drain-close: after a drain-close
/// its commit lands and the consumer receives the values before it reports `Closed`; after
/// an abort the commit either lands (and the values are discarded, counted) or hands the
/// whole run back; every value exactly once.
#[test]
fn chunk_commit_races_close_and_abort() {
    for abort in [false, true] {
        run(
            if abort {
                "chunk_commit_races_abort"
            } else {
                "chunk_commit_races_close"
            },
            &[Flavor::Spsc],
            Pauses::None,
            move |case| {
                let log = Log::new(2);
                let (tx, rx) = Builder::new(case.cap.max(2)).spsc::<Tok>();
                let (mut tx, mut rx) = (tx, rx);
                let closer = tx.closer();
                let consumer = thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.try_recv() {
                            Ok(t) => got.push(t),
                            Err(TryRecvError::Empty) => thread::yield_now(),
                            Err(TryRecvError::Closed) => break,
                        }
                    }
                    (got, rx.metrics())
                });
                let mut chunk = tx.try_write_chunk(2).unwrap();
                chunk.push(log.tok(0)).unwrap_or_else(|_| unreachable!());
                chunk.push(log.tok(1)).unwrap_or_else(|_| unreachable!());
                let c = thread::spawn(move || {
                    if abort {
                        closer.abort();
                    } else {
                        closer.close();
                    }
                });
                let committed = chunk.commit();
                c.join().unwrap();
                let (got, m) = consumer.join().unwrap();
                match committed {
                    Ok(2) => {
                        if abort {
                            assert_eq!(got.len() as u64 + m.discarded, 2, "{m:?}");
                        } else {
                            assert_eq!(ids(&got), vec![0, 1]);
                        }
                    }
                    Err(SendError::Closed(values)) => {
                        assert!(abort, "a drain-close waits for the chunk");
                        assert!(got.is_empty());
                        assert_eq!(values.iter().map(|t| t.id).collect::<Vec<_>>(), [0, 1]);
                    }
                    other => panic!("{other:?}"),
                }
                drop(got);
                drop(tx);
            },
        );
    }
}

// === 21. batch receive on MPMC: one claim of `head` for a run ===

/// MPMC: a batch receiver (`try_recv_batch`: one claim for the run of ready positions,
/// spinning while empty) races the producer's claims (blocking `send` of `cap + 1`
/// values; with `DropOldest` the last one evicts): every value is received once or handed
/// back as evicted once, in order. (Two parties that both wait on a third never end under
/// loom, see [`mpmc_two_producers_one_consumer`]: the race with a second receiver is
/// [`mpmc_batch_recv_races_recv`].)
///
/// Checked to fail with (in a scratch copy): `pop_into` claiming one position more than
/// it checked (loom: "Causality violation: concurrent read and write accesses", a slot
/// read while the producer writes it).
#[test]
fn mpmc_batch_recv_races_sends() {
    for policy in [Policy::Block, Policy::DropOldest] {
        run(
            "mpmc_batch_recv_races_sends",
            &[Flavor::Mpmc],
            Pauses::Park,
            move |case| {
                let n = case.cap + 1;
                let (tx, rx) = Builder::new(case.cap).policy(policy).mpmc::<usize>();
                let producer = thread::spawn(move || {
                    let mut evicted = Vec::new();
                    for i in 0..n {
                        if let Sent::Evicted(old) = tx.send(i).unwrap() {
                            evicted.push(old);
                        }
                    }
                    evicted
                });
                case.pause();
                let mut got = Vec::new();
                loop {
                    match rx.try_recv_batch(&mut got, 2) {
                        Ok(_) => {}
                        Err(TryRecvError::Empty) => thread::yield_now(),
                        Err(TryRecvError::Closed) => break,
                    }
                }
                let evicted = producer.join().unwrap();
                assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?} in order");
                let mut all: Vec<usize> = got.iter().chain(&evicted).copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "each value once");
            },
        );
    }
}

/// MPMC: a batch receive races a single `try_recv` over a full ring (no producer left):
/// their claims of `head` never overlap; every value is taken once, each receiver's in
/// order. Checked to fail with the same defect as [`mpmc_batch_recv_races_sends`] (the
/// single receive then waits for a value that never comes: "exceeded maximum number of
/// branches").
#[test]
fn mpmc_batch_recv_races_recv() {
    run(
        "mpmc_batch_recv_races_recv",
        &[Flavor::Mpmc],
        Pauses::None,
        |case| {
            let (tx, rx) = Builder::new(case.cap).mpmc::<usize>();
            for i in 0..case.cap {
                tx.try_send(i).unwrap();
            }
            drop(tx);
            let rx2 = rx.clone();
            let single = thread::spawn(move || rx2.try_recv().ok());
            let mut got = Vec::new();
            let _ = rx.try_recv_batch(&mut got, case.cap);
            let one = single.join().unwrap();
            let _ = rx.try_recv_batch(&mut got, case.cap);
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?} in order");
            let mut all: Vec<usize> = got.iter().copied().chain(one).collect();
            all.sort_unstable();
            assert_eq!(all, (0..case.cap).collect::<Vec<_>>(), "each value once");
            assert_eq!(rx.try_recv_batch(&mut got, 1), Err(TryRecvError::Closed));
        },
    );
}

/// MPMC: a batch send claims the run of empty positions from `tail` at once and fills it,
/// racing a receiver (spinning while empty, as the producer spins while full): every value
/// is received once, in order.
///
/// Checked to fail with (in a scratch copy): `push_run` claiming one position more than it
/// checked (loom: "Causality violation: concurrent read and write accesses").
#[test]
fn mpmc_batch_send_races_recv() {
    run(
        "mpmc_batch_send_races_recv",
        &[Flavor::Mpmc],
        Pauses::None,
        |case| {
            let n = case.cap + 2;
            let (tx, rx) = Builder::new(case.cap).mpmc::<usize>();
            let producer = thread::spawn(move || {
                let mut values: Vec<usize> = (0..n).collect();
                while !values.is_empty() {
                    let done = tx.try_send_batch(&mut values);
                    if done.sent == 0 {
                        thread::yield_now();
                    }
                }
            });
            let mut got = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Closed) => break,
                }
            }
            producer.join().unwrap();
            assert_eq!(got, (0..n).collect::<Vec<_>>());
        },
    );
}

/// MPMC: a batch send's run claim races another producer's single send into a ring with
/// room for both: their positions never overlap; the batch's values stay in order.
#[test]
fn mpmc_batch_send_races_send() {
    run_caps(
        "mpmc_batch_send_races_send",
        &[Flavor::Mpmc],
        &[3],
        Pauses::None,
        |case| {
            let (tx, rx) = Builder::new(case.cap).mpmc::<usize>();
            let tx2 = tx.clone();
            let other = thread::spawn(move || tx2.try_send(9).is_ok());
            let mut values = vec![0, 1];
            let done = tx.try_send_batch(&mut values);
            let sent_other = other.join().unwrap();
            assert_eq!(done.sent, 2);
            assert!(sent_other);
            drop(tx);
            let got: Vec<usize> = rx.try_iter().collect();
            assert_eq!(got.len(), 3);
            let ours: Vec<usize> = got.iter().copied().filter(|&v| v != 9).collect();
            assert_eq!(ours, [0, 1]);
        },
    );
}

// === 22. found by review: concurrent grants, permits and chunks across a drain-close ===

/// Two concurrent grants of one credit each, and a send spending the first: found by
/// review, the second grant read `granted` (0), then `spent` (1, after the other grant and
/// the send), found `granted - spent` wrapped, cut the grant to 0 and returned: a credit
/// was lost. Now a grant that sees `spent` ahead of its `granted` reads `granted` again.
#[test]
fn credit_concurrent_grants_lose_nothing() {
    loom::model(|| {
        let (tx, rx) = Builder::new(4).credits(0).mpmc::<u32>();
        let rx2 = rx.clone();
        let g = thread::spawn(move || rx2.grant(1));
        let s = thread::spawn(move || {
            let r = tx.try_send(1).is_ok();
            (tx, r)
        });
        rx.grant(1);
        g.join().unwrap();
        let (_tx, sent) = s.join().unwrap();
        let m = rx.metrics();
        assert_eq!(
            m.credits_granted, 2,
            "a grant was lost: {m:?} (sent: {sent})"
        );
    });
}

/// A write chunk reserved just before a drain-close, committed while the consumer runs
/// its closing step: the commit lands (a drain-close waits for a chunk). Found by review:
/// the consumer's transient `DONE` (set after it read the permit count as 0, cleared when it
/// re-read it) made the commit's post-check take the run back, `Err(Closed)` after a
/// drain-close; a permit's send or a chunk's commit now takes back only after an abort.
#[test]
fn chunk_reserved_before_drain_close_stands() {
    use pushpull::{ChunkError, TryRecvError};
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let (mut tx, mut rx) = Builder::new(2).spsc::<u32>();
        let closer = tx.closer();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Closed) => break,
                }
            }
            got
        });
        let c = thread::spawn(move || closer.close());
        let r = match tx.try_write_chunk(1) {
            Ok(mut chunk) => {
                chunk.push(7).unwrap();
                Some(chunk.commit())
            }
            Err(ChunkError::Closed) => None,
            Err(e) => panic!("{e:?}"),
        };
        c.join().unwrap();
        let got = consumer.join().unwrap();
        if let Some(r) = r {
            assert_eq!(
                r,
                Ok(1),
                "drain-close after the chunk was reserved (got {got:?})"
            );
            assert_eq!(got, vec![7]);
        }
        drop(tx);
    });
}

/// The same with a permit: reserved before a drain-close, its send must succeed.
#[test]
fn permit_reserved_before_drain_close_stands() {
    use pushpull::TryRecvError;
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let (mut tx, mut rx) = Builder::new(2).spsc::<u32>();
        let closer = tx.closer();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Closed) => break,
                }
            }
            got
        });
        let c = thread::spawn(move || closer.close());
        let r = match tx.try_reserve() {
            Ok(permit) => Some(permit.send(7).map_err(|e| format!("{e:?}"))),
            Err(_) => None,
        };
        c.join().unwrap();
        let got = consumer.join().unwrap();
        if let Some(r) = r {
            assert!(
                r.is_ok(),
                "permit send failed after a drain-close: {r:?} (got {got:?})"
            );
            assert_eq!(got, vec![7]);
        }
        drop(tx);
    });
}

/// A single send just before a chunk, racing a `Closer`'s abort: the run taken back is the
/// newest `k` items, with the earlier item still in the ring (found by review: a debug
/// assertion said the ring held only the run, and its panic left `TAKEBACK` set). Every
/// value is received, discarded (counted) or handed back, once.
#[test]
fn chunk_taken_back_after_an_earlier_item() {
    use pushpull::{ChunkError, TryRecvError};
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let (mut tx, mut rx) = Builder::new(2).spsc::<u32>();
        let closer = tx.closer();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Closed) => break,
                }
            }
            (got, rx.metrics())
        });
        let c = thread::spawn(move || closer.abort());
        let mut back = 0;
        let mut tried = 0;
        tried += 1;
        if tx.try_send(1).is_err() {
            back += 1;
        }
        match tx.try_write_chunk(1) {
            Ok(mut chunk) => {
                tried += 1;
                chunk.push(7).unwrap();
                if let Err(pushpull::SendError::Closed(v)) = chunk.commit() {
                    back += v.len();
                }
            }
            Err(ChunkError::Closed) => {}
            Err(e) => panic!("{e:?}"),
        }
        c.join().unwrap();
        drop(tx);
        let (got, m) = consumer.join().unwrap();
        assert_eq!(
            got.len() + m.discarded as usize + back,
            tried,
            "{got:?} {m:?}"
        );
    });
}
