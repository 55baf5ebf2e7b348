#![cfg(not(loom))]
//! Multi-threaded stress: random mixes of parties on one queue, looking for the races a
//! single-threaded fuzz target cannot reach.
//!
//! Each round builds one queue from a seed ([`Scenario::generate`]): a flavor and capacity
//! (MPMC 0, 1, small, larger; SPSC 1, small, larger), a policy, an executor (tokio's
//! multi-thread runtime, smol, futures' thread pool), senders and receivers that are each a
//! blocking thread or an async task, each with its own weighted menu of calls (every send,
//! reserve, `Sink`, receive, iterator and `Stream` form, futures dropped while pending,
//! permits held, dropped unused or sent), and an ending: the senders run out, or a sender,
//! a receiver or a [`Closer`] closes or aborts once some number of values have moved (on
//! SPSC also: the consumer drops its end).
//!
//! Checked while running (see [`Party::settle`] and [`Party::got`]): values plus held
//! permits never exceed the capacity; no send starting after a receiver reported `Closed`
//! succeeds (permits included), nor a send or reservation starting after a close returned
//! (permits excepted); no receive starting after a receiver reported `Closed` returns a
//! value; `Closed` never comes before anything closed the queue; each outcome fits the
//! policy; FIFO per producer at each receiver (MPMC without eviction; the rendezvous only
//! without cancelled receives) and total order on SPSC. Checked at the end ([`audit`]):
//! every value dropped exactly once and accounted for exactly once (received, handed back
//! in an error, `into_inner` or `Sent::Evicted`, reported dropped-newest, or dropped by the
//! library and counted: discarded, evicted by a `Sink` send), a send that succeeded is
//! received unless an abort happened, and `metrics()` agrees with what the parties saw.
//! A watchdog fails the run with a dump if nothing makes progress for 10 s.
//!
//! Ignored by default (and skipped under Miri and sanitizers). Run it with
//! `ci/stress.sh SECONDS`, or
//!
//! ```text
//! PUSHPULL_STRESS_SECS=60 cargo test --release --test stress -- --ignored --nocapture
//! ```
//!
//! Every round prints its seed. `PUSHPULL_STRESS_SEED=0x...` replays one scenario over and
//! over for the time budget (the configuration is the seed's; the interleaving is not).
//! `PUSHPULL_STRESS_SKIP_KNOWN` names open src bugs to steer around
//! (`stress_support::KNOWN_BUGS`; `ci/stress.sh` defaults it to its `KNOWN_OPEN` list, and
//! a failure report prints the replay command with the setting in effect).

mod common;
mod stress_support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::Either;
use futures::FutureExt as _;
#[cfg(feature = "futures")]
use futures::{Sink, Stream};
use pushpull::flavor::{self, Flavor as FlavorMarker};
use pushpull::{
    Builder, Closer, Consumer, Drain, Iter, Metrics, Permit, Policy, Producer, Receiver,
    RecvDeadline, RecvError, RecvFuture, RecvTimeoutError, ReserveFuture, SendDeadline, SendError,
    SendFuture, SendTimeoutError, Sender, Sent, TryIter, TryRecvError, TrySendError,
};

use common::Exec;
use stress_support::{
    fate, pick_op, watchdog, Board, EndKind, Ending, ExecKind, Flavor, Ledger, Mode, Op, PartyPlan,
    Rng, Scenario, Val, Who, KNOWN_BUGS,
};

/// A party gives up a round if nothing moved for this long (a hang, or a lost wake-up).
const STALL: Duration = Duration::from_secs(10);

// === the test ===

#[test]
#[ignore = "stress test: run with ci/stress.sh SECONDS"]
fn stress_random_mixes() {
    if cfg!(miri) || sanitized_build() {
        eprintln!("stress: skipped under Miri or a sanitizer");
        return;
    }
    let budget = Duration::from_secs(env_u64("PUSHPULL_STRESS_SECS").unwrap_or(10));
    let replay = env_u64("PUSHPULL_STRESS_SEED");
    let skip = skip_known();
    eprintln!(
        "stress: {budget:?}; steering around known bugs: {}",
        if skip.is_empty() {
            "(none: strict)".to_string()
        } else {
            skip.join(", ")
        }
    );
    let start = Instant::now();
    let mut seeds = Rng::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            ^ u64::from(std::process::id()) << 32,
    );
    let mut totals = Totals::default();
    while totals.rounds == 0 || start.elapsed() < budget {
        let seed = replay.unwrap_or_else(|| seeds.next_u64());
        let mut sc = Scenario::generate(seed);
        if !cfg!(feature = "futures") {
            sc.without_futures_feature();
        }
        sc.steer(&skip);
        eprintln!(
            "round {}: seed {seed:#018x} {}",
            totals.rounds,
            sc.describe()
        );
        match run_round(&sc) {
            Ok(r) => totals.add(&sc, &r),
            Err(report) => panic!("{report}"),
        }
    }
    eprintln!(
        "stress: {} rounds in {:.0?} (mpmc {}, rendezvous {}, spsc {}); {} values sent, {} \
         received, {} evicted, {} dropped-newest, {} rejected, {} discarded",
        totals.rounds,
        start.elapsed(),
        totals.mpmc,
        totals.zero,
        totals.spsc,
        totals.m.sent,
        totals.m.received,
        totals.m.evicted_oldest,
        totals.m.dropped_newest,
        totals.m.rejected,
        totals.m.discarded,
    );
}

fn env_u64(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={s}: not a number")))
}

/// Built with a sanitizer (`ci/tsan.sh` exports `RUSTFLAGS=-Zsanitizer=thread`): far too slow
/// for this test, which is for optimized builds.
fn sanitized_build() -> bool {
    let flags = |f: Option<&str>| f.is_some_and(|f| f.contains("sanitizer"));
    flags(option_env!("RUSTFLAGS")) || flags(std::env::var("RUSTFLAGS").ok().as_deref())
}

/// `PUSHPULL_STRESS_SKIP_KNOWN`: names of known bugs ([`KNOWN_BUGS`]) to steer around.
fn skip_known() -> Vec<String> {
    let names: Vec<String> = std::env::var("PUSHPULL_STRESS_SKIP_KNOWN")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    for n in &names {
        assert!(
            KNOWN_BUGS.iter().any(|(k, _)| k == n),
            "PUSHPULL_STRESS_SKIP_KNOWN: unknown bug name {n:?}"
        );
    }
    names
}

/// The command that runs this seed's scenario again, with the same steering.
fn replay_command(seed: u64) -> String {
    let skip = std::env::var("PUSHPULL_STRESS_SKIP_KNOWN").unwrap_or_default();
    format!("PUSHPULL_STRESS_SKIP_KNOWN='{skip}' PUSHPULL_STRESS_SEED={seed:#018x} ci/stress.sh 60")
}

#[derive(Default)]
struct Totals {
    rounds: u64,
    mpmc: u64,
    zero: u64,
    spsc: u64,
    m: Metrics,
}

impl Totals {
    fn add(&mut self, sc: &Scenario, m: &Metrics) {
        self.rounds += 1;
        match (sc.flavor, sc.capacity) {
            (Flavor::Mpmc, 0) => self.zero += 1,
            (Flavor::Mpmc, _) => self.mpmc += 1,
            (Flavor::Spsc, _) => self.spsc += 1,
        }
        self.m.sent += m.sent;
        self.m.received += m.received;
        self.m.evicted_oldest += m.evicted_oldest;
        self.m.dropped_newest += m.dropped_newest;
        self.m.rejected += m.rejected;
        self.m.discarded += m.discarded;
    }
}

// === one interface over both flavors ===

/// A deadline for the `_deadline` futures and for cancelling: a timer or a countdown.
type Deadline = Pin<Box<dyn Future<Output = ()> + Send>>;

/// `Sink` and `Stream` as supertraits when the `futures` feature is on.
#[cfg(feature = "futures")]
trait MaybeSink: Sink<Val, Error = SendError<()>> {}
#[cfg(feature = "futures")]
impl<T: Sink<Val, Error = SendError<()>>> MaybeSink for T {}
#[cfg(feature = "futures")]
trait MaybeStream: Stream<Item = Val> {}
#[cfg(feature = "futures")]
impl<T: Stream<Item = Val>> MaybeStream for T {}
#[cfg(not(feature = "futures"))]
trait MaybeSink {}
#[cfg(not(feature = "futures"))]
impl<T> MaybeSink for T {}
#[cfg(not(feature = "futures"))]
trait MaybeStream {}
#[cfg(not(feature = "futures"))]
impl<T> MaybeStream for T {}

/// The sending end of either flavor (`Sender` or `Producer`), with every sending call.
trait TxEnd: MaybeSink + Unpin + Send + 'static {
    type F: FlavorMarker;
    fn try_send(&mut self, v: Val) -> Result<(), TrySendError<Val>>;
    fn send(&mut self, v: Val) -> Result<Sent<Val>, SendError<Val>>;
    fn send_timeout(&mut self, v: Val, t: Duration) -> Result<Sent<Val>, SendTimeoutError<Val>>;
    fn send_deadline(&mut self, v: Val, d: Instant) -> Result<Sent<Val>, SendTimeoutError<Val>>;
    fn send_async(&mut self, v: Val) -> SendFuture<'_, Val, Self::F>;
    fn send_async_deadline(
        &mut self,
        v: Val,
        d: Deadline,
    ) -> SendDeadline<'_, Val, Deadline, Self::F>;
    fn reserve(&mut self) -> Result<Permit<'_, Val, Self::F>, SendError<()>>;
    fn try_reserve(&mut self) -> Result<Permit<'_, Val, Self::F>, TrySendError<()>>;
    fn reserve_timeout(
        &mut self,
        t: Duration,
    ) -> Result<Permit<'_, Val, Self::F>, SendTimeoutError<()>>;
    fn reserve_async(&mut self) -> ReserveFuture<'_, Val, Self::F>;
    fn close(&self) -> bool;
    /// The count, where the end returns one (MPMC).
    fn abort(&mut self) -> Option<usize>;
    /// MPMC: the `Sender` (several permits can be held at once through `&Sender`).
    fn as_sender(&self) -> Option<&Sender<Val>>;
}

/// The receiving end of either flavor (`Receiver` or `Consumer`).
trait RxEnd: MaybeStream + Unpin + Send + 'static {
    type F: FlavorMarker;
    fn try_recv(&mut self) -> Result<Val, TryRecvError>;
    fn recv(&mut self) -> Result<Val, RecvError>;
    fn recv_timeout(&mut self, t: Duration) -> Result<Val, RecvTimeoutError>;
    fn recv_deadline(&mut self, d: Instant) -> Result<Val, RecvTimeoutError>;
    fn recv_async(&mut self) -> RecvFuture<'_, Val, Self::F>;
    fn recv_async_deadline(&mut self, d: Deadline) -> RecvDeadline<'_, Val, Deadline, Self::F>;
    fn iter(&mut self) -> Iter<'_, Val, Self::F>;
    fn try_iter(&mut self) -> TryIter<'_, Val, Self::F>;
    fn drain(&mut self) -> Drain<'_, Val, Self::F>;
    fn close(&self) -> bool;
    fn abort(&mut self) -> usize;
}

macro_rules! tx_end {
    ($ty:ident, $flavor:ty, |$s:ident| $abort:expr, $as_sender:expr) => {
        impl TxEnd for $ty<Val> {
            type F = $flavor;
            fn try_send(&mut self, v: Val) -> Result<(), TrySendError<Val>> {
                $ty::try_send(self, v)
            }
            fn send(&mut self, v: Val) -> Result<Sent<Val>, SendError<Val>> {
                $ty::send(self, v)
            }
            fn send_timeout(
                &mut self,
                v: Val,
                t: Duration,
            ) -> Result<Sent<Val>, SendTimeoutError<Val>> {
                $ty::send_timeout(self, v, t)
            }
            fn send_deadline(
                &mut self,
                v: Val,
                d: Instant,
            ) -> Result<Sent<Val>, SendTimeoutError<Val>> {
                $ty::send_deadline(self, v, d)
            }
            fn send_async(&mut self, v: Val) -> SendFuture<'_, Val, Self::F> {
                $ty::send_async(self, v)
            }
            fn send_async_deadline(
                &mut self,
                v: Val,
                d: Deadline,
            ) -> SendDeadline<'_, Val, Deadline, Self::F> {
                $ty::send_async_deadline(self, v, d)
            }
            fn reserve(&mut self) -> Result<Permit<'_, Val, Self::F>, SendError<()>> {
                $ty::reserve(self)
            }
            fn try_reserve(&mut self) -> Result<Permit<'_, Val, Self::F>, TrySendError<()>> {
                $ty::try_reserve(self)
            }
            fn reserve_timeout(
                &mut self,
                t: Duration,
            ) -> Result<Permit<'_, Val, Self::F>, SendTimeoutError<()>> {
                $ty::reserve_timeout(self, t)
            }
            fn reserve_async(&mut self) -> ReserveFuture<'_, Val, Self::F> {
                $ty::reserve_async(self)
            }
            fn close(&self) -> bool {
                $ty::close(self)
            }
            fn abort(&mut self) -> Option<usize> {
                let $s = self;
                $abort
            }
            fn as_sender(&self) -> Option<&Sender<Val>> {
                $as_sender(self)
            }
        }
    };
}

tx_end!(Sender, flavor::Mpmc, |s| Some(Sender::abort(s)), Some);
tx_end!(
    Producer,
    flavor::Spsc,
    |s| {
        Producer::abort(s);
        None
    },
    |_| None
);

macro_rules! rx_end {
    ($ty:ident, $flavor:ty) => {
        impl RxEnd for $ty<Val> {
            type F = $flavor;
            fn try_recv(&mut self) -> Result<Val, TryRecvError> {
                $ty::try_recv(self)
            }
            fn recv(&mut self) -> Result<Val, RecvError> {
                $ty::recv(self)
            }
            fn recv_timeout(&mut self, t: Duration) -> Result<Val, RecvTimeoutError> {
                $ty::recv_timeout(self, t)
            }
            fn recv_deadline(&mut self, d: Instant) -> Result<Val, RecvTimeoutError> {
                $ty::recv_deadline(self, d)
            }
            fn recv_async(&mut self) -> RecvFuture<'_, Val, Self::F> {
                $ty::recv_async(self)
            }
            fn recv_async_deadline(
                &mut self,
                d: Deadline,
            ) -> RecvDeadline<'_, Val, Deadline, Self::F> {
                $ty::recv_async_deadline(self, d)
            }
            fn iter(&mut self) -> Iter<'_, Val, Self::F> {
                $ty::iter(self)
            }
            fn try_iter(&mut self) -> TryIter<'_, Val, Self::F> {
                $ty::try_iter(self)
            }
            fn drain(&mut self) -> Drain<'_, Val, Self::F> {
                $ty::drain(self)
            }
            fn close(&self) -> bool {
                $ty::close(self)
            }
            fn abort(&mut self) -> usize {
                $ty::abort(self)
            }
        }
    };
}

rx_end!(Receiver, flavor::Mpmc);
rx_end!(Consumer, flavor::Spsc);

// === small futures ===

/// Pending `n` times (waking itself each time), then ready: a deadline counted in polls.
struct Countdown(u64);

impl Future for Countdown {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs `fut` until it completes (`Ok`) or `deadline` does first (`Err`, with the future
/// still pending, to be dropped or emptied by the caller).
async fn race<F: Future + Unpin>(fut: F, deadline: Deadline) -> Result<F::Output, F> {
    match futures::future::select(fut, deadline).await {
        Either::Left((out, _)) => Ok(out),
        Either::Right(((), fut)) => Err(fut),
    }
}

// === parties ===

/// What every party of a round shares.
struct Round {
    sc: Scenario,
    ledger: Arc<Ledger>,
    board: Arc<Board>,
}

/// Why a send handed its value back (or, for `Sink`, dropped it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Full,
    Closed,
    Overloaded,
    Timeout,
    /// `into_inner` after the future was cancelled.
    Withdrawn,
}

/// How a value was sent; decides which outcomes are possible and how the occupancy bound
/// moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "futures"), allow(dead_code))]
enum How {
    /// `try_send` (never evicts, never drops).
    Try,
    /// `send` and its timed and async forms.
    Plain,
    /// A permit's send.
    Permit,
    /// `SinkExt::send` (reserve and send in one poll).
    SinkSend,
    /// `Sink::start_send` into room reserved by an earlier `poll_ready`.
    SinkHeld,
}

/// What became of a value handed to a send.
#[cfg_attr(not(feature = "futures"), allow(dead_code))]
enum Outcome {
    Sent(Sent<Val>),
    Back(Val, Why),
    /// A `Sink` send failed: the value is gone with the error.
    Lost(Why),
    /// The send future was dropped while pending, with the value in it.
    FutureDropped,
    /// `into_inner` found nothing: the value was sent (a rendezvous offer taken).
    Taken,
}

impl From<Result<Sent<Val>, SendError<Val>>> for Outcome {
    fn from(r: Result<Sent<Val>, SendError<Val>>) -> Self {
        match r {
            Ok(s) => Outcome::Sent(s),
            Err(SendError::Closed(v)) => Outcome::Back(v, Why::Closed),
            Err(SendError::Overloaded(v)) => Outcome::Back(v, Why::Overloaded),
        }
    }
}

impl From<Result<Sent<Val>, SendTimeoutError<Val>>> for Outcome {
    fn from(r: Result<Sent<Val>, SendTimeoutError<Val>>) -> Self {
        match r {
            Ok(s) => Outcome::Sent(s),
            Err(SendTimeoutError::Closed(v)) => Outcome::Back(v, Why::Closed),
            Err(SendTimeoutError::Overloaded(v)) => Outcome::Back(v, Why::Overloaded),
            Err(SendTimeoutError::Timeout(v)) => Outcome::Back(v, Why::Timeout),
        }
    }
}

impl From<Result<(), TrySendError<Val>>> for Outcome {
    fn from(r: Result<(), TrySendError<Val>>) -> Self {
        match r {
            Ok(()) => Outcome::Sent(Sent::Queued),
            Err(TrySendError::Full(v)) => Outcome::Back(v, Why::Full),
            Err(TrySendError::Closed(v)) => Outcome::Back(v, Why::Closed),
        }
    }
}

/// Leave to take one reservation (a permit, or a `Sink`'s room) while the number outstanding
/// is capped (steering around `drop-oldest-permit-count`); gives it back when dropped.
struct Token(Option<Arc<Ledger>>);

impl Drop for Token {
    fn drop(&mut self) {
        if let Some(l) = &self.0 {
            l.reservations.fetch_sub(1, SeqCst);
        }
    }
}

/// Shared-flag snapshot taken when a call starts.
#[derive(Debug, Clone, Copy)]
struct Before {
    closed_known: bool,
    closed_seen: bool,
}

/// One sender or receiver: its plan, its random choices, and the bookkeeping every call
/// goes through.
struct Party {
    who: Who,
    slot: usize,
    plan: PartyPlan,
    rng: Rng,
    round: Arc<Round>,
    duty_done: bool,
    /// Senders: values made, calls made, `Closed` results seen.
    made: usize,
    calls: usize,
    closed_results: u32,
    /// Receivers: values received, `Closed` seen, the last id seen from each producer.
    received: u64,
    closed_seen: u32,
    last_from: Vec<Option<u32>>,
}

impl Party {
    fn new(who: Who, slot: usize, plan: PartyPlan, round: Arc<Round>) -> Party {
        Party {
            who,
            slot,
            rng: Rng::new(plan.seed),
            plan,
            duty_done: false,
            made: 0,
            calls: 0,
            closed_results: 0,
            received: 0,
            closed_seen: 0,
            last_from: vec![None; round.sc.senders.len()],
            round,
        }
    }

    fn ledger(&self) -> &Ledger {
        &self.round.ledger
    }

    fn policy(&self) -> Policy {
        self.round.sc.policy
    }

    fn violation(&self, msg: String) {
        self.ledger()
            .violation(format!("{:?} ({:?}): {msg}", self.who, self.plan.mode));
    }

    fn enter(&self, op: Op) {
        self.round.board.enter(self.slot, op);
    }

    fn before(&self) -> Before {
        let l = self.ledger();
        Before {
            closed_known: l.is(&l.closed_known),
            closed_seen: l.is(&l.closed_seen),
        }
    }

    /// Leave for one reservation: `None` while the cap is reached (the call is skipped).
    fn token(&self) -> Option<Token> {
        let sc = &self.round.sc;
        if !sc.steered("drop-oldest-permit-count") {
            return Some(Token(None));
        }
        let limit = (sc.capacity + 1).next_power_of_two() - 1;
        let l = &self.round.ledger;
        let mut n = l.reservations.load(SeqCst);
        while n < limit {
            match l.reservations.compare_exchange(n, n + 1, SeqCst, SeqCst) {
                Ok(_) => return Some(Token(Some(l.clone()))),
                Err(now) => n = now,
            }
        }
        None
    }

    /// A fresh value, while this sender's budget lasts.
    fn value(&mut self) -> Option<Val> {
        if self.made >= self.plan.values {
            return None;
        }
        self.made += 1;
        let Who::Sender(i) = self.who else {
            unreachable!()
        };
        Some(self.round.ledger.value(i))
    }

    fn short(&mut self) -> Duration {
        Duration::from_micros(self.rng.below(3000))
    }

    /// A deadline: a countdown of polls, or a timer of the party's executor.
    fn deadline(&mut self) -> Deadline {
        if self.rng.chance(40) {
            return Box::pin(Countdown(self.rng.below(40)));
        }
        let d = self.short();
        if self.plan.mode == Mode::Task && self.round.sc.exec == ExecKind::Tokio {
            Box::pin(tokio::time::sleep(d))
        } else {
            Box::pin(async move {
                smol::Timer::after(d).await;
            })
        }
    }

    // --- the occupancy bound ---
    //
    // `ledger.occ` is kept at or below (values queued + outstanding permits) at every
    // instant: it goes up only after a value was queued or a permit obtained, and down
    // before anything that may take one out (a receive attempt, an evicting send, a permit
    // used or dropped), coming back up if nothing was taken. So `occ > capacity` proves the
    // queue held more than its capacity. Not kept at capacity 0 (nothing is queued there),
    // and not for MPMC drop-oldest permits (which reserve nothing); meaningless after an
    // abort (what it discards is not subtracted).

    fn occ_add(&self, d: isize) {
        let sc = &self.round.sc;
        if sc.capacity == 0 || d == 0 {
            return;
        }
        let l = self.ledger();
        let now = l.occ.fetch_add(d, SeqCst) + d;
        if d > 0 && now > sc.capacity as isize && !l.is(&l.abort_started) {
            self.violation(format!(
                "values + held permits exceed the capacity: at least {now} > {}",
                sc.capacity
            ));
        }
    }

    /// Whether permits hold room (all but MPMC drop-oldest).
    fn permits_hold_room(&self) -> bool {
        !(self.round.sc.flavor == Flavor::Mpmc && self.policy() == Policy::DropOldest)
    }

    /// Whether a send made `how` may evict.
    fn may_evict(&self, how: How) -> bool {
        self.policy() == Policy::DropOldest
            && match how {
                How::Try => false,
                How::Plain => true,
                How::Permit | How::SinkHeld | How::SinkSend => self.round.sc.flavor == Flavor::Mpmc,
            }
    }

    fn uses_held_room(&self, how: How) -> bool {
        matches!(how, How::Permit | How::SinkHeld) && self.permits_hold_room()
    }

    fn occ_before_send(&self, how: How) {
        if self.uses_held_room(how) || self.may_evict(how) {
            self.occ_add(-1);
        }
    }

    fn occ_after_send(&self, how: How, out: &Outcome) {
        let queued = matches!(out, Outcome::Sent(Sent::Queued));
        let d = if self.uses_held_room(how) {
            // The permit's room became the value (or was given up).
            isize::from(queued)
        } else if self.may_evict(how) {
            // `Queued` from a send that reports it: nothing evicted. Otherwise one value
            // may have left.
            if queued && matches!(how, How::Plain | How::Permit) {
                2
            } else {
                1
            }
        } else {
            isize::from(queued)
        };
        self.occ_add(d);
    }

    // --- sending ---

    /// Books the outcome of a send of value `id` that started at `b`, and checks it against
    /// the contract.
    fn settle(&mut self, id: u32, b: Before, how: How, out: Outcome) {
        self.occ_after_send(how, &out);
        let policy = self.policy();
        let round = self.round.clone();
        let (sc, l) = (&round.sc, &*round.ledger);
        match out {
            Outcome::Sent(Sent::DroppedNewest) => {
                l.mark(id, fate::DROPPED_NEWEST);
                l.dropped_newest_seen.fetch_add(1, SeqCst);
                if policy != Policy::DropNewest || how != How::Plain {
                    self.violation(format!(
                        "{how:?} send reported DroppedNewest under {policy:?}"
                    ));
                }
                if b.closed_known {
                    self.violation(format!(
                        "value {id}: DroppedNewest (not Closed) from a {how:?} send that \
                         started after the queue was closed"
                    ));
                }
                return;
            }
            Outcome::Sent(sent) => {
                l.mark(id, fate::SENT);
                if let Sent::Evicted(old) = sent {
                    let spsc_permit = sc.flavor == Flavor::Spsc && how == How::Permit;
                    if policy != Policy::DropOldest || how == How::Try || spsc_permit {
                        self.violation(format!("{how:?} send evicted a value under {policy:?}"));
                    }
                    l.mark(old.id, fate::EVICTED_BACK);
                }
            }
            Outcome::Taken => {
                l.mark(id, fate::SENT);
                if sc.capacity > 0 {
                    self.violation(format!(
                        "value {id}: into_inner of a send future that was pending found it sent"
                    ));
                }
            }
            Outcome::Back(v, why) => {
                assert_eq!(v.id, id);
                l.mark(id, fate::RETURNED);
                self.check_failure(how, why);
                return;
            }
            Outcome::Lost(why) => {
                l.mark(id, fate::SINK_LOST);
                self.check_failure(how, why);
                return;
            }
            Outcome::FutureDropped => {
                l.mark(id, fate::FUTURE_DROPPED);
                return;
            }
        }
        // The value is in the queue.
        l.moved.fetch_add(1, SeqCst);
        l.bump();
        if matches!(how, How::SinkSend | How::SinkHeld) && self.may_evict(how) {
            l.sink_evicting_ok.fetch_add(1, SeqCst);
        }
        if b.closed_seen && !sc.steered("zero-closed-with-permit") {
            self.violation(format!(
                "value {id}: a {how:?} send that started after a receiver reported Closed \
                 succeeded"
            ));
        }
        if b.closed_known && !matches!(how, How::Permit | How::SinkHeld) {
            self.violation(format!(
                "value {id}: a {how:?} send that started after the queue was closed succeeded"
            ));
        }
    }

    /// A failed send or reservation: is the reason possible?
    fn check_failure(&mut self, how: How, why: Why) {
        let policy = self.policy();
        let ok = match why {
            Why::Full => how == How::Try,
            Why::Overloaded => how == How::Plain && policy == Policy::Reject,
            // Sends wait under Block (and, briefly, DropOldest).
            Why::Timeout => {
                how == How::Plain && matches!(policy, Policy::Block | Policy::DropOldest)
            }
            Why::Withdrawn => true,
            Why::Closed => {
                self.saw_closed_result();
                if matches!(how, How::Permit | How::SinkHeld) {
                    // A permit's send fails only after an abort or when every receiver
                    // is gone.
                    let l = self.ledger();
                    l.is(&l.abort_started) || l.is(&l.receivers_gone)
                } else {
                    true
                }
            }
        };
        if why == Why::Overloaded {
            self.ledger().rejected_seen.fetch_add(1, SeqCst);
        }
        if !ok {
            self.violation(format!("{how:?} failed with {why:?} under {policy:?}"));
        }
    }

    /// Any `Closed` result: the queue must have been closed by someone.
    fn saw_closed_result(&mut self) {
        let l = self.ledger();
        if !l.is(&l.closing_started) {
            self.violation("Closed before anything closed the queue".into());
        }
        l.flag(&l.closed_known);
        if matches!(self.who, Who::Sender(_)) {
            self.closed_results += 1;
        }
    }

    /// A reservation (permit, or `Sink::poll_ready`) that started at `b` succeeded.
    fn got_permit(&mut self, b: Before) {
        if b.closed_known {
            self.violation(
                "a reservation that started after the queue was closed succeeded".into(),
            );
        }
        if self.permits_hold_room() {
            self.occ_add(1);
        }
        self.ledger().bump();
    }

    fn reserve_failed(&mut self, why: Why) {
        match why {
            Why::Closed => self.saw_closed_result(),
            Why::Full | Why::Timeout | Why::Withdrawn => {}
            Why::Overloaded => self.violation("a reservation failed with Overloaded".into()),
        }
    }

    /// Uses a permit at once: sends a fresh value through it, or drops it unused.
    fn spend_now<F: FlavorMarker>(&mut self, permit: Permit<'_, Val, F>) {
        let v = if self.rng.chance(15) {
            None
        } else {
            self.value()
        };
        let Some(v) = v else {
            if self.permits_hold_room() {
                self.occ_add(-1);
            }
            drop(permit);
            return;
        };
        let (id, b) = (v.id, self.before());
        self.occ_before_send(How::Permit);
        let out = permit.send(v).into();
        self.settle(id, b, How::Permit, out);
    }

    /// Uses a permit, maybe after holding it for a few polls.
    async fn spend<F: FlavorMarker>(&mut self, permit: Permit<'_, Val, F>) {
        if self.rng.chance(30) {
            Countdown(self.rng.below(5)).await;
        }
        self.spend_now(permit);
    }

    /// One sending call.
    async fn send_op<E: TxEnd>(&mut self, end: &mut E, op: Op) {
        self.calls += 1;
        match op {
            Op::Juggle => {
                if let Some(tx) = end.as_sender() {
                    self.juggle(tx);
                }
                return;
            }
            Op::Reserve
            | Op::TryReserve
            | Op::ReserveTimeout
            | Op::ReserveAsync
            | Op::ReserveAsyncCancel => {
                let Some(_token) = self.token() else { return };
                let b = self.before();
                let r = match op {
                    Op::Reserve => end.reserve().map_err(|_| Why::Closed),
                    Op::TryReserve => end.try_reserve().map_err(|e| match e {
                        TrySendError::Full(()) => Why::Full,
                        TrySendError::Closed(()) => Why::Closed,
                    }),
                    Op::ReserveTimeout => {
                        let t = self.short();
                        end.reserve_timeout(t).map_err(|e| match e {
                            SendTimeoutError::Timeout(()) => Why::Timeout,
                            SendTimeoutError::Closed(()) => Why::Closed,
                            SendTimeoutError::Overloaded(()) => Why::Overloaded,
                        })
                    }
                    Op::ReserveAsync => end.reserve_async().await.map_err(|_| Why::Closed),
                    _ => {
                        let d = self.deadline();
                        match race(end.reserve_async(), d).await {
                            Ok(r) => r.map_err(|_| Why::Closed),
                            Err(_cancelled) => Err(Why::Withdrawn),
                        }
                    }
                };
                match r {
                    Ok(permit) => {
                        self.got_permit(b);
                        self.spend(permit).await;
                    }
                    Err(why) => self.reserve_failed(why),
                }
                return;
            }
            Op::SinkHeld => return self.sink_held(end).await,
            _ => {}
        }
        // The calls that take a value. (`Sink` sends reserve room first.)
        let sink = matches!(op, Op::SinkSend | Op::SinkSendCancel);
        let Some(_token) = (if sink {
            self.token()
        } else {
            Some(Token(None))
        }) else {
            return;
        };
        let Some(v) = self.value() else { return };
        let (id, b) = (v.id, self.before());
        let how = match op {
            Op::TrySend => How::Try,
            Op::SinkSend | Op::SinkSendCancel => How::SinkSend,
            _ => How::Plain,
        };
        self.occ_before_send(how);
        let out = match op {
            Op::TrySend => end.try_send(v).into(),
            Op::Send => end.send(v).into(),
            Op::SendTimeout => {
                let t = self.short();
                end.send_timeout(v, t).into()
            }
            Op::SendDeadline => {
                let t = self.short();
                end.send_deadline(v, Instant::now() + t).into()
            }
            Op::SendAsync => end.send_async(v).await.into(),
            Op::SendAsyncDeadline => {
                let d = self.deadline();
                end.send_async_deadline(v, d).await.into()
            }
            Op::SendAsyncCancel => {
                let d = self.deadline();
                match race(end.send_async(v), d).await {
                    Ok(r) => r.into(),
                    Err(fut) if self.rng.chance(50) => match fut.into_inner() {
                        Some(v) => Outcome::Back(v, Why::Withdrawn),
                        None => Outcome::Taken,
                    },
                    Err(fut) => {
                        drop(fut);
                        Outcome::FutureDropped
                    }
                }
            }
            Op::SinkSend => self.sink_send(end, v, false).await,
            Op::SinkSendCancel => self.sink_send(end, v, true).await,
            other => unreachable!("{other:?} is not a send"),
        };
        self.settle(id, b, how, out);
    }

    /// MPMC: holds up to three permits at once while sending other values, with calls that
    /// never wait long; then sends or drops what it still holds.
    fn juggle(&mut self, tx: &Sender<Val>) {
        let thread = self.plan.mode == Mode::Thread;
        let mut held: Vec<(Permit<'_, Val>, Token)> = Vec::new();
        for _ in 0..self.rng.range(2, 8) {
            match self.rng.below(5) {
                0 | 1 if held.len() < 3 => {
                    let Some(token) = self.token() else { continue };
                    let b = self.before();
                    let r = if thread && self.rng.chance(50) {
                        let t = Duration::from_micros(self.rng.below(1000));
                        tx.reserve_timeout(t).map_err(|e| match e {
                            SendTimeoutError::Closed(()) => Why::Closed,
                            _ => Why::Timeout,
                        })
                    } else {
                        tx.try_reserve().map_err(|e| match e {
                            TrySendError::Closed(()) => Why::Closed,
                            TrySendError::Full(()) => Why::Full,
                        })
                    };
                    match r {
                        Ok(p) => {
                            self.got_permit(b);
                            held.push((p, token));
                        }
                        Err(why) => self.reserve_failed(why),
                    }
                }
                2 | 3 => {
                    let Some(v) = self.value() else { continue };
                    let (id, b) = (v.id, self.before());
                    let (how, out) = if thread && self.rng.chance(50) {
                        self.occ_before_send(How::Plain);
                        let t = Duration::from_micros(self.rng.below(1000));
                        (How::Plain, tx.send_timeout(v, t).into())
                    } else {
                        (How::Try, tx.try_send(v).into())
                    };
                    self.settle(id, b, how, out);
                }
                _ => {
                    if !held.is_empty() {
                        let i = self.rng.below(held.len() as u64) as usize;
                        let (p, _token) = held.swap_remove(i);
                        self.spend_now(p);
                    }
                }
            }
        }
        for (p, _token) in held {
            self.spend_now(p);
        }
    }

    /// The close or abort this party was given, if it is due.
    fn duty_due(&self, now: bool) -> Option<EndKind> {
        match self.round.sc.ending {
            Ending::Early { kind, by, after }
                if by == self.who
                    && !self.duty_done
                    && (now || self.ledger().moved.load(SeqCst) >= after) =>
            {
                Some(kind)
            }
            _ => None,
        }
    }

    fn tx_duty<E: TxEnd>(&mut self, end: &mut E, now: bool) {
        let Some(kind) = self.duty_due(now) else {
            return;
        };
        self.duty_done = true;
        self.enter(Op::Duty);
        let l = &*self.round.ledger;
        l.flag(&l.closing_started);
        match kind {
            EndKind::Close => {
                end.close();
                l.flag(&l.closed_known);
            }
            EndKind::Abort => {
                l.flag(&l.abort_started);
                if let Some(n) = end.abort() {
                    l.abort_counted.fetch_add(n as u64, SeqCst);
                }
            }
            EndKind::DropConsumer => unreachable!("only the consumer drops itself"),
        }
        l.bump();
    }

    // --- receiving ---

    /// A receive that started at `b` returned `v`.
    fn got(&mut self, v: Val, b: Before) {
        let l = &*self.round.ledger;
        l.mark(v.id, fate::RECEIVED);
        l.moved.fetch_add(1, SeqCst);
        l.bump();
        self.received += 1;
        if b.closed_seen && !self.round.sc.steered("zero-closed-with-permit") {
            self.violation(format!(
                "value {}: received by a receive that started after a receiver reported Closed",
                v.id
            ));
        }
        if self.round.sc.fifo() {
            let last = self.last_from[v.from as usize].replace(v.id);
            if let Some(prev) = last.filter(|&prev| v.id <= prev) {
                self.violation(format!(
                    "FIFO: value {} of sender {} received after value {prev}",
                    v.id, v.from
                ));
            }
        }
    }

    /// A receive attempt found nothing (empty, timeout, cancelled).
    fn nothing(&mut self) {
        self.occ_add(1);
    }

    /// A receive reported `Closed`.
    fn closed(&mut self) {
        self.occ_add(1);
        self.saw_closed_result();
        let l = self.ledger();
        l.flag(&l.closed_seen);
        l.bump();
        self.closed_seen += 1;
    }

    fn recv_result<E>(&mut self, r: Result<Val, E>, b: Before, closed: impl Fn(&E) -> bool) {
        match r {
            Ok(v) => self.got(v, b),
            Err(e) if closed(&e) => self.closed(),
            Err(_) => self.nothing(),
        }
    }

    /// Up to `n` values from an iterator. Only the blocking iterator's end (`blocking`) means
    /// closed and drained.
    fn pull(&mut self, mut it: impl Iterator<Item = Val>, n: usize, blocking: bool) {
        for _ in 0..n {
            let b = self.before();
            self.occ_add(-1);
            match it.next() {
                Some(v) => self.got(v, b),
                None if blocking => return self.closed(),
                None => return self.nothing(),
            }
        }
    }

    /// One receiving call (or a few, for the iterators).
    async fn recv_op<E: RxEnd>(&mut self, end: &mut E, op: Op) {
        let timeout_closed = |e: &RecvTimeoutError| *e == RecvTimeoutError::Closed;
        match op {
            Op::Iter | Op::TryIter | Op::Drain => {
                let n = self.rng.range(1, 64);
                match op {
                    Op::Iter => self.pull(end.iter(), n, true),
                    Op::TryIter => self.pull(end.try_iter(), n, false),
                    _ => self.pull(end.drain(), n, false),
                }
                return;
            }
            _ => {}
        }
        let b = self.before();
        self.occ_add(-1);
        match op {
            Op::TryRecv => {
                let r = end.try_recv();
                self.recv_result(r, b, |e| *e == TryRecvError::Closed);
            }
            Op::Recv => {
                let r = end.recv();
                self.recv_result(r, b, |_| true);
            }
            Op::RecvTimeout => {
                let t = self.short();
                let r = end.recv_timeout(t);
                self.recv_result(r, b, timeout_closed);
            }
            Op::RecvDeadline => {
                let t = self.short();
                let r = end.recv_deadline(Instant::now() + t);
                self.recv_result(r, b, timeout_closed);
            }
            Op::RecvAsync => {
                let r = end.recv_async().await;
                self.recv_result(r, b, |_| true);
            }
            Op::RecvAsyncDeadline => {
                let d = self.deadline();
                let r = end.recv_async_deadline(d).await;
                self.recv_result(r, b, timeout_closed);
            }
            Op::RecvAsyncCancel => {
                let d = self.deadline();
                match race(end.recv_async(), d).await {
                    Ok(r) => self.recv_result(r, b, |_| true),
                    Err(fut) => {
                        drop(fut);
                        self.nothing();
                    }
                }
            }
            Op::StreamNext => self.stream_next(end, b, false).await,
            Op::StreamNextCancel => self.stream_next(end, b, true).await,
            other => unreachable!("{other:?} is not a receive"),
        }
    }

    /// Returns `true` if the party must stop now (it dropped the consumer).
    fn rx_duty<E: RxEnd>(&mut self, end: &mut E) -> bool {
        let Some(kind) = self.duty_due(false) else {
            return false;
        };
        self.duty_done = true;
        self.enter(Op::Duty);
        let l = &*self.round.ledger;
        l.flag(&l.closing_started);
        l.bump();
        match kind {
            EndKind::Close => {
                end.close();
                l.flag(&l.closed_known);
                false
            }
            EndKind::Abort => {
                l.flag(&l.abort_started);
                let n = end.abort();
                l.abort_counted.fetch_add(n as u64, SeqCst);
                false
            }
            EndKind::DropConsumer => {
                l.flag(&l.abort_started);
                true
            }
        }
    }
}

/// `Sink` and `Stream` (feature `futures`). Without the feature the scenarios never pick
/// these calls (see `Scenario::steer`).
#[cfg(feature = "futures")]
impl Party {
    /// `Sink::poll_ready` (maybe cancelled), then `start_send` into the room it reserved.
    async fn sink_held<E: TxEnd>(&mut self, end: &mut E) {
        if self.made >= self.plan.values {
            return;
        }
        let Some(_token) = self.token() else { return };
        let b = self.before();
        let d = self.deadline();
        let ready = race(
            futures::future::poll_fn(|cx| <E as Sink<Val>>::poll_ready(Pin::new(&mut *end), cx)),
            d,
        )
        .await;
        match ready {
            Ok(Ok(())) => {
                self.got_permit(b);
                if self.rng.chance(30) {
                    Countdown(self.rng.below(5)).await;
                }
                let v = self.value().expect("checked above");
                let (id, b) = (v.id, self.before());
                self.occ_before_send(How::SinkHeld);
                let out = match <E as Sink<Val>>::start_send(Pin::new(&mut *end), v) {
                    Ok(()) => Outcome::Sent(Sent::Queued),
                    Err(_) => Outcome::Lost(Why::Closed),
                };
                self.settle(id, b, How::SinkHeld, out);
            }
            Ok(Err(_)) => self.reserve_failed(Why::Closed),
            Err(_cancelled) => {}
        }
    }

    /// `SinkExt::send`, maybe cancelled.
    async fn sink_send<E: TxEnd>(&mut self, end: &mut E, v: Val, cancel: bool) -> Outcome {
        if !cancel {
            return match futures::SinkExt::send(end, v).await {
                Ok(()) => Outcome::Sent(Sent::Queued),
                Err(_) => Outcome::Lost(Why::Closed),
            };
        }
        let d = self.deadline();
        match race(futures::SinkExt::send(end, v), d).await {
            Ok(Ok(())) => Outcome::Sent(Sent::Queued),
            Ok(Err(_)) => Outcome::Lost(Why::Closed),
            Err(fut) => {
                drop(fut);
                Outcome::FutureDropped
            }
        }
    }

    async fn sink_close<E: TxEnd>(&mut self, end: &mut E) {
        if let Err(e) = futures::SinkExt::close(end).await {
            self.violation(format!("Sink::poll_close failed: {e:?}"));
        }
    }

    /// `StreamExt::next`, maybe cancelled (the registration stays in the end).
    async fn stream_next<E: RxEnd>(&mut self, end: &mut E, b: Before, cancel: bool) {
        if !cancel {
            let r = futures::StreamExt::next(end).await.ok_or(RecvError);
            return self.recv_result(r, b, |_| true);
        }
        let d = self.deadline();
        match race(futures::StreamExt::next(end), d).await {
            Ok(r) => self.recv_result(r.ok_or(RecvError), b, |_| true),
            Err(fut) => {
                drop(fut);
                self.nothing();
            }
        }
    }
}

#[cfg(not(feature = "futures"))]
impl Party {
    async fn sink_held<E: TxEnd>(&mut self, _: &mut E) {
        unreachable!("no Sink without the futures feature")
    }
    async fn sink_send<E: TxEnd>(&mut self, _: &mut E, _: Val, _: bool) -> Outcome {
        unreachable!("no Sink without the futures feature")
    }
    async fn sink_close<E: TxEnd>(&mut self, _: &mut E) {}
    async fn stream_next<E: RxEnd>(&mut self, _: &mut E, _: Before, _: bool) {
        unreachable!("no Stream without the futures feature")
    }
}

/// A sender: sends until its values run out or the queue has said `Closed` a few times,
/// then drops its end (after `Sink::poll_close`, if planned).
async fn sender<E: TxEnd>(mut end: E, mut p: Party) {
    let max_calls = p.plan.values * 4;
    while p.made < p.plan.values && p.closed_results < 3 && p.calls < max_calls {
        p.tx_duty(&mut end, false);
        let op = pick_op(&mut p.rng, &p.plan.menu);
        p.enter(op);
        p.send_op(&mut end, op).await;
        p.enter(Op::Idle);
        if p.plan.mode == Mode::Task && p.rng.chance(10) {
            Countdown(1).await;
        }
    }
    p.tx_duty(&mut end, true);
    p.enter(Op::Finish);
    let l = p.round.ledger.clone();
    if l.senders_live.fetch_sub(1, SeqCst) == 1 {
        l.flag(&l.closing_started);
    }
    if p.plan.sink_close {
        p.sink_close(&mut end).await;
    }
    drop(end);
    p.round.board.done(p.slot);
    l.bump();
}

/// A receiver: receives until it has seen `Closed` (and then tries again a few times), or
/// leaves early (MPMC, never the last one), or drops the consumer (SPSC ending).
async fn receiver<E: RxEnd>(mut end: E, mut p: Party) {
    let extra_after_closed = p.rng.below(3) as u32;
    let l = p.round.ledger.clone();
    loop {
        if p.rx_duty(&mut end) {
            // The consumer drops its end: closes the queue and discards what is queued.
            l.receivers_live.fetch_sub(1, SeqCst);
            break;
        }
        if p.closed_seen > extra_after_closed {
            if l.receivers_live.fetch_sub(1, SeqCst) == 1 {
                l.flag(&l.closing_started);
                l.flag(&l.receivers_gone);
            }
            break;
        }
        if p.plan.leave_after.is_some_and(|n| p.received >= n) && leave(&l) {
            break;
        }
        let op = pick_op(&mut p.rng, &p.plan.menu);
        p.enter(op);
        p.recv_op(&mut end, op).await;
        p.enter(Op::Idle);
        if p.plan.mode == Mode::Task && p.rng.chance(10) {
            Countdown(1).await;
        }
    }
    p.enter(Op::Finish);
    drop(end);
    p.round.board.done(p.slot);
    l.bump();
}

/// A receiver leaves early, unless it is the last one.
fn leave(l: &Ledger) -> bool {
    let mut n = l.receivers_live.load(SeqCst);
    while n > 1 {
        match l.receivers_live.compare_exchange(n, n - 1, SeqCst, SeqCst) {
            Ok(_) => return true,
            Err(now) => n = now,
        }
    }
    false
}

/// The round's supervisor: closes or aborts through a `Closer` when planned, and meanwhile
/// reads `len()` and `metrics()` concurrently with the parties.
fn supervisor(closer: Closer, round: Arc<Round>, stop: Arc<AtomicBool>) {
    let sc = &round.sc;
    let l = &*round.ledger;
    let mut rng = Rng::new(sc.seed ^ 0x5eed);
    let mut duty = match sc.ending {
        Ending::Early {
            kind,
            by: Who::Closer,
            after,
        } => Some((kind, after)),
        _ => None,
    };
    while !stop.load(SeqCst) {
        if let Some((kind, after)) = duty {
            if l.moved.load(SeqCst) >= after {
                duty = None;
                l.flag(&l.closing_started);
                match kind {
                    EndKind::Close => {
                        closer.close();
                        l.flag(&l.closed_known);
                    }
                    _ => {
                        l.flag(&l.abort_started);
                        match (sc.flavor, closer.abort()) {
                            (Flavor::Mpmc, Some(n)) => {
                                l.abort_counted.fetch_add(n as u64, SeqCst);
                            }
                            (Flavor::Spsc, None) => {}
                            (f, r) => l.violation(format!("Closer::abort on {f:?} returned {r:?}")),
                        }
                    }
                }
                l.bump();
            }
        }
        let len = closer.len();
        let m = closer.metrics();
        if len > sc.capacity || m.len > sc.capacity || m.capacity != sc.capacity {
            l.violation(format!("closer: len {len}, metrics {m:?}"));
        }
        if sc.capacity > 0 && m.high_water > sc.capacity {
            l.violation(format!("closer: high water above the capacity: {m:?}"));
        }
        std::thread::sleep(Duration::from_micros(rng.below(2000)));
    }
}

// === a round ===

enum Joiner {
    Thread(String, std::thread::JoinHandle<()>),
    Task(String, common::BoxFuture<Result<(), String>>),
}

fn spawn_party<Fut>(exec: &Exec, mode: Mode, name: String, fut: Fut) -> Joiner
where
    Fut: Future<Output = ()> + Send + 'static,
{
    match mode {
        Mode::Thread => {
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || futures::executor::block_on(fut))
                .unwrap();
            Joiner::Thread(name, handle)
        }
        Mode::Task => {
            let task = AssertUnwindSafe(fut)
                .catch_unwind()
                .map(|r| r.map_err(|e| panic_message(&*e)));
            Joiner::Task(name, exec.spawn(task))
        }
    }
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

fn make_exec(kind: ExecKind) -> Exec {
    match kind {
        ExecKind::Tokio => Exec::Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ),
        ExecKind::Smol => Exec::Smol,
        ExecKind::Futures => Exec::Futures(
            futures::executor::ThreadPool::builder()
                .pool_size(2)
                .create()
                .unwrap(),
        ),
    }
}

/// Runs one scenario to the end; `Err` is the failure report.
fn run_round(sc: &Scenario) -> Result<Metrics, String> {
    let (n_tx, n_rx) = (sc.senders.len(), sc.receivers.len());
    let ledger = Ledger::new(sc.total_values(), n_tx, n_rx);
    let names: Vec<String> = (0..n_tx)
        .map(|i| format!("sender {i} ({:?})", sc.senders[i].mode))
        .chain((0..n_rx).map(|i| format!("receiver {i} ({:?})", sc.receivers[i].mode)))
        .collect();
    let board = Board::new(names.clone());
    let round = Arc::new(Round {
        sc: sc.clone(),
        ledger: ledger.clone(),
        board: board.clone(),
    });
    let exec = make_exec(sc.exec);
    let mut builder = Builder::new(sc.capacity).policy(sc.policy);
    if sc.exact_high_water {
        builder = builder.exact_high_water();
    }
    let header = format!(
        "seed {:#018x}: {}\nreplay: {}",
        sc.seed,
        sc.describe(),
        replay_command(sc.seed)
    );

    let tx_party = |i: usize| Party::new(Who::Sender(i), i, sc.senders[i].clone(), round.clone());
    let rx_party = |i: usize| {
        Party::new(
            Who::Receiver(i),
            n_tx + i,
            sc.receivers[i].clone(),
            round.clone(),
        )
    };
    let mut joiners = Vec::new();
    let closer = match sc.flavor {
        Flavor::Mpmc => {
            let (tx, rx) = builder.mpmc::<Val>();
            let closer = tx.closer();
            let txs: Vec<Sender<Val>> = (0..n_tx).map(|_| tx.clone()).collect();
            let rxs: Vec<Receiver<Val>> = (0..n_rx).map(|_| rx.clone()).collect();
            drop((tx, rx));
            for (i, end) in txs.into_iter().enumerate() {
                let fut = sender(end, tx_party(i));
                joiners.push(spawn_party(
                    &exec,
                    sc.senders[i].mode,
                    names[i].clone(),
                    fut,
                ));
            }
            for (i, end) in rxs.into_iter().enumerate() {
                let fut = receiver(end, rx_party(i));
                let name = names[n_tx + i].clone();
                joiners.push(spawn_party(&exec, sc.receivers[i].mode, name, fut));
            }
            closer
        }
        Flavor::Spsc => {
            let (tx, rx) = builder.spsc::<Val>();
            let closer = tx.closer();
            let fut = sender(tx, tx_party(0));
            joiners.push(spawn_party(
                &exec,
                sc.senders[0].mode,
                names[0].clone(),
                fut,
            ));
            let fut = receiver(rx, rx_party(0));
            joiners.push(spawn_party(
                &exec,
                sc.receivers[0].mode,
                names[1].clone(),
                fut,
            ));
            closer
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let dog = watchdog(
        stop.clone(),
        ledger.clone(),
        board,
        closer.clone(),
        header.clone(),
        STALL,
    );
    let sup = {
        let (closer, round, stop) = (closer.clone(), round.clone(), stop.clone());
        std::thread::spawn(move || supervisor(closer, round, stop))
    };

    for j in joiners {
        let (name, r) = match j {
            Joiner::Thread(name, h) => (name, h.join().map_err(|e| panic_message(&*e))),
            Joiner::Task(name, f) => (name, exec.block_on(f)),
        };
        if let Err(msg) = r {
            ledger.violation(format!("{name} panicked: {msg}"));
        }
    }
    stop.store(true, SeqCst);
    sup.join().unwrap();
    dog.join().unwrap();
    let m = closer.metrics();
    let queue = format!("{closer:?}");
    drop(round);
    drop(closer);
    drop(exec);

    let mut problems = ledger.violations();
    problems.extend(audit(sc, &ledger, &m));
    if problems.is_empty() {
        return Ok(m);
    }
    Err(format!(
        "stress round failed\n{header}\nqueue: {queue}\nmetrics: {m:?}\nledger: {}\n\
         problems:\n  {}",
        ledger.summary(),
        problems.join("\n  ")
    ))
}

/// The end-of-round accounts: every value's fate and drops, and `metrics()` against what
/// the parties saw. Runs after every end and closer is dropped.
fn audit(sc: &Scenario, l: &Ledger, m: &Metrics) -> Vec<String> {
    use fate::*;
    let mut p = Vec::new();
    let mut bad_values = 0;
    let (mut sent, mut received, mut evicted_back, mut dropped_newest) = (0u64, 0u64, 0u64, 0u64);
    // Sent but neither received nor handed back: discarded, or evicted by a `Sink` send.
    let mut lost_after_send = 0u64;
    // In a send future that was dropped, and not received.
    let mut future_dropped = 0u64;
    for id in 0..l.values_made() {
        let (f, drops) = (l.fate(id), l.drops(id));
        let mut wrong = |what: &str| {
            bad_values += 1;
            if bad_values <= 20 {
                p.push(format!(
                    "value {id} ({}, dropped {drops}x): {what}",
                    names(f)
                ));
            }
        };
        if drops != 1 {
            wrong("not dropped exactly once");
        }
        if f == 0 {
            wrong("never accounted for");
        }
        if f & SENT != 0 && f & (RETURNED | DROPPED_NEWEST | SINK_LOST | FUTURE_DROPPED) != 0 {
            wrong("reported sent and not sent");
        }
        let taken = f & (RECEIVED | EVICTED_BACK) != 0;
        if taken && f & SENT == 0 && !(sc.capacity == 0 && f & FUTURE_DROPPED != 0) {
            wrong("came out of the queue, but its send did not report success");
        }
        if sc.capacity > 0 && f & FUTURE_DROPPED != 0 && taken {
            wrong("came out of the queue, but its send future was dropped while pending");
        }
        sent += u64::from(f & SENT != 0);
        received += u64::from(f & RECEIVED != 0);
        evicted_back += u64::from(f & EVICTED_BACK != 0);
        dropped_newest += u64::from(f & DROPPED_NEWEST != 0);
        lost_after_send += u64::from(f & SENT != 0 && !taken);
        future_dropped += u64::from(f & FUTURE_DROPPED != 0 && !taken);
    }
    if bad_values > 20 {
        p.push(format!("... {bad_values} values wrong in all"));
    }
    let mut check = |ok: bool, what: String| {
        if !ok {
            p.push(what);
        }
    };
    check(m.len == 0, format!("len {} after every end is gone", m.len));
    check(
        m.sent == m.received + m.evicted_oldest + m.discarded + m.len as u64,
        "quiescent identity sent == received + evicted_oldest + discarded + len broken".into(),
    );
    check(
        m.received == received,
        format!(
            "metrics.received {} but receivers got {received}",
            m.received
        ),
    );
    check(
        m.dropped_newest == dropped_newest && dropped_newest == l.dropped_newest_seen.load(SeqCst),
        format!(
            "metrics.dropped_newest {} but senders saw {dropped_newest}",
            m.dropped_newest
        ),
    );
    let rejected_seen = l.rejected_seen.load(SeqCst);
    check(
        m.rejected == rejected_seen,
        format!(
            "metrics.rejected {} but senders saw {rejected_seen}",
            m.rejected
        ),
    );
    // Evictions not handed back were made by `Sink` sends (which drop what they evict).
    let sink_evictions = m.evicted_oldest.saturating_sub(evicted_back);
    check(
        m.evicted_oldest >= evicted_back && sink_evictions <= l.sink_evicting_ok.load(SeqCst),
        format!(
            "metrics.evicted_oldest {} but {evicted_back} handed back and {} Sink sends that \
             may evict",
            m.evicted_oldest,
            l.sink_evicting_ok.load(SeqCst)
        ),
    );
    if sc.capacity > 0 {
        check(
            m.sent == sent,
            format!("metrics.sent {} but senders saw {sent} succeed", m.sent),
        );
        check(
            lost_after_send == m.discarded + sink_evictions,
            format!(
                "{lost_after_send} values sent and never received nor handed back, but \
                 {} discarded and {sink_evictions} evicted by Sink sends",
                m.discarded
            ),
        );
    } else {
        // A rendezvous counts a value as sent when a receiver takes it; a value taken from
        // a send future that was then dropped may have been discarded in transit.
        check(
            lost_after_send <= m.discarded && m.discarded <= lost_after_send + future_dropped,
            format!(
                "{lost_after_send} values sent and never received, {future_dropped} in dropped \
                 send futures, but {} discarded",
                m.discarded
            ),
        );
    }
    let aborted = l.is(&l.abort_started);
    if !aborted {
        check(
            m.discarded == 0 && lost_after_send == sink_evictions,
            format!(
                "no abort, yet {lost_after_send} values whose send succeeded were never received \
                 ({} discarded, {sink_evictions} evicted by Sink sends)",
                m.discarded
            ),
        );
    }
    let counted = l.abort_counted.load(SeqCst);
    match sc.flavor {
        // Every MPMC abort returns its count, and receivers drop their ends only once the
        // queue is closed and drained.
        Flavor::Mpmc => check(
            m.discarded == counted,
            format!(
                "aborts returned {counted} but metrics.discarded is {}",
                m.discarded
            ),
        ),
        Flavor::Spsc => check(
            m.discarded >= counted,
            format!(
                "aborts returned {counted} but metrics.discarded is {}",
                m.discarded
            ),
        ),
    }
    if sc.capacity > 0 {
        check(
            m.high_water <= sc.capacity,
            format!("high water {} above capacity", m.high_water),
        );
    }
    p
}
