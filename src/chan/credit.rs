//! The credit gate: consumer-driven flow control, as HTTP/2 and gRPC windows.
//!
//! A queue built with [`Builder::credits`](crate::Builder::credits) starts with that many
//! credits; the consumer grants more ([`Receiver::grant`](crate::Receiver::grant)); each
//! value that enters the queue spends one, and a receive gives none back. So the values in
//! flight (sent, not yet received) never exceed the credits granted minus the values
//! received: the consumer, not the capacity alone, sets how far the producers may run ahead.
//!
//! The gate counts and never stores. It is a [`Semaphore`] beside the queue (as tokio's
//! semaphore sits beside its list), taken before the ring: a send takes a credit, then
//! pushes; a send that cannot complete (the queue is full and the policy does not wait, or
//! closed, or the send is cancelled, or a permit is dropped unused) gives its credit back.
//! A queue built without a gate never reaches this file: the handles carry whether the gate
//! exists, and the fast path tests that flag.
//!
//! Out of credit is handled like a full queue under each policy: `Block` waits (for a
//! credit, then for room); `DropNewest` drops the value; `Reject` rejects it; `DropOldest`
//! puts the value in the place of the oldest queued value, which is evicted and whose
//! credit the new value takes over (and when nothing is queued, it waits for a credit, as
//! a full `DropOldest` queue waits when nothing can be evicted). An eviction never spends a
//! credit: a value evicted to make room in a full queue gives its credit back.
//!
//! # Progress
//!
//! Taking and giving back a credit are lock-free (a compare-and-swap on one word); a party
//! waiting for credit stands in the gate's own line, woken by `grant` and by close.

use core::fmt;
use core::task::Poll;

use crossbeam_utils::CachePadded;

use super::poll::{apply, count_sent, no_timeout, wait_until, SendState, Tx};
use super::{Attempt, Policy, Queue, Replace, Sent};
use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicBool, AtomicUsize, Ordering};
use crate::metrics::Count;
use crate::wait::list::{Registration, WaitList};
use crate::wait::Wake;

/// The most credits available at once; grants beyond are cut.
const MAX_CREDITS: usize = usize::MAX >> 1;
/// A difference `granted - spent` above this is a snapshot in which `spent` looked ahead of
/// an older `granted` (the difference wrapped): the credits available pass `MAX_CREDITS`
/// only by the few given back since a grant filled the gate.
const WRAPPED: usize = MAX_CREDITS + (MAX_CREDITS >> 1);

/// Why no credit was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoCredit {
    /// None available now.
    Empty,
    /// None available, and the queue is closed (no grant can help a send any more).
    Closed,
}

/// A queue's credit gate.
///
/// # The counters
///
/// Two counters that only grow (modulo the word): `granted`, written by grants (the
/// consumer's side), and `spent`, written by the sends (the producers' side); the credits
/// available are `granted - spent`, at most [`MAX_CREDITS`]. Each lives on its own cache
/// line, so a grant and a send touch different lines, as a ring's two indices do. A credit
/// given back (a send that did not complete) lowers `spent`.
///
/// On an SPSC queue the one producer is the only writer of `spent`, and keeps a private copy
/// of `granted` that it refreshes only when that copy says it is out of credit (as the SPSC
/// ring caches the consumer's index): taking a credit is a plain load and store, no
/// read-modify-write. MPMC senders take a credit with a compare-and-swap on `spent` against a
/// fresh load of `granted`.
///
/// # No lost wake-ups
///
/// As the MPMC ring's lines (see `wait::list`): a send out of credit registers (a `SeqCst`
/// store of the line's `waiting` count) and tries again (`SeqCst` loads of `granted`,
/// `spent` and `closed`); a grant raises `granted` with a `SeqCst` read-modify-write, a
/// credit given back by an MPMC sender lowers `spent` the same way, and a close sets
/// `closed` with one, each followed by a `SeqCst` load of `waiting`. In the one total order
/// of `SeqCst` operations, either the notifier sees the waiter or the waiter's retry sees
/// the change. (An SPSC producer gives credits back only to itself: nobody else waits.)
pub(crate) struct Credit {
    /// Credits granted in all, the starting ones included (modulo the word).
    granted: CachePadded<AtomicUsize>,
    /// Credits spent (modulo the word), and the SPSC producer's copy of `granted`.
    spent: CachePadded<(AtomicUsize, UnsafeCell<usize>)>,
    closed: AtomicBool,
    waiters: WaitList,
}

impl fmt::Debug for Credit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credit")
            .field("available", &self.available())
            .field("granted", &self.granted())
            .finish_non_exhaustive()
    }
}

// SAFETY: the cell (the SPSC producer's copy of `granted`) is touched only by the producer,
// under the SPSC one-producer contract of the sending methods (see `take`); the rest is
// atomics and the wait line.
unsafe impl Sync for Credit {}
// SAFETY: as for `Sync`; a `usize` moves between threads freely.
unsafe impl Send for Credit {}

impl Credit {
    pub(crate) fn new(initial: usize) -> Self {
        let initial = initial.min(MAX_CREDITS);
        Self {
            granted: CachePadded::new(AtomicUsize::new(initial)),
            spent: CachePadded::new((AtomicUsize::new(0), UnsafeCell::new(initial))),
            closed: AtomicBool::new(false),
            waiters: WaitList::new(),
        }
    }

    /// Grants `n` more credits (cut so that at most [`MAX_CREDITS`] are available) and wakes
    /// up to that many parties waiting for one.
    pub(crate) fn grant(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Ordering: Relaxed: validated by the compare-and-swap.
        let mut granted = self.granted.load(Ordering::Relaxed);
        let mut backoff = crate::loom::Backoff::new();
        let added = loop {
            // Ordering: Relaxed: a stale (lower) `spent` only makes the cut earlier.
            let spent = self.spent.0.load(Ordering::Relaxed);
            let available = granted.wrapping_sub(spent);
            if available > WRAPPED {
                // Our `granted` is older than `spent` (another grant, then sends, came in
                // between the two loads; found by review with a loom model): look again.
                // Ordering: Relaxed, as above.
                granted = self.granted.load(Ordering::Relaxed);
                backoff.spin();
                continue;
            }
            // (Above `MAX_CREDITS` by the credits given back since a grant filled the gate:
            // no room.)
            let room = MAX_CREDITS.saturating_sub(available);
            let add = n.min(room);
            if add == 0 {
                return;
            }
            // Ordering: SeqCst: before the load of `waiting` below (see "No lost
            // wake-ups").
            match self.granted.compare_exchange_weak(
                granted,
                granted.wrapping_add(add),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break add,
                Err(actual) => granted = actual,
            }
        };
        for _ in 0..added {
            if !self.waiters.has_waiters() {
                break;
            }
            self.waiters.notify_one();
        }
    }

    /// Takes a credit. `single`: the queue has one producer (SPSC), and the caller is it.
    ///
    /// # Safety
    ///
    /// With `single`, the caller is the only thread using the sending side.
    #[inline]
    pub(crate) unsafe fn take(&self, single: bool) -> Result<(), NoCredit> {
        if single {
            return self.spent.1.with_mut(|cached| {
                // SAFETY: only the one producer touches its copy (the caller's contract).
                let cached = unsafe { &mut *cached };
                // Ordering: Relaxed: our own last store.
                let spent = self.spent.0.load(Ordering::Relaxed);
                if *cached == spent {
                    // Ordering: SeqCst: a waiter's retry (see "No lost wake-ups").
                    *cached = self.granted.load(Ordering::SeqCst);
                    if *cached == spent {
                        return Err(self.empty());
                    }
                }
                // Ordering: Relaxed: the count carries no data (the ring carries the
                // values); grants read it only to cut at the maximum.
                self.spent.0.store(spent.wrapping_add(1), Ordering::Relaxed);
                Ok(())
            });
        }
        // Ordering: SeqCst: a waiter's retry (see "No lost wake-ups").
        let mut spent = self.spent.0.load(Ordering::SeqCst);
        loop {
            // Ordering: SeqCst, as above. Loaded after `spent`, so `granted - spent` does
            // not underflow (`spent` never passes `granted`).
            let granted = self.granted.load(Ordering::SeqCst);
            if granted == spent {
                return Err(self.empty());
            }
            // Ordering: Relaxed suffices for the count (see the SPSC store); SeqCst keeps
            // every access to the counters in the one order the wake-up argument uses.
            match self.spent.0.compare_exchange_weak(
                spent,
                spent.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => spent = actual,
            }
        }
    }

    /// Takes up to `max` credits at once (a write chunk's); at least one.
    ///
    /// # Safety
    ///
    /// The queue has one producer (SPSC), and the caller is it.
    pub(crate) unsafe fn take_run(&self, max: usize) -> Result<usize, NoCredit> {
        self.spent.1.with_mut(|cached| {
            // SAFETY: only the one producer touches its copy (the caller's contract).
            let cached = unsafe { &mut *cached };
            // Ordering: Relaxed: our own last store (see `take`).
            let spent = self.spent.0.load(Ordering::Relaxed);
            let mut available = cached.wrapping_sub(spent);
            if available < max {
                // Ordering: SeqCst, as in `take`.
                *cached = self.granted.load(Ordering::SeqCst);
                available = cached.wrapping_sub(spent);
            }
            if available == 0 {
                return Err(self.empty());
            }
            let n = available.min(max);
            // Ordering: Relaxed, as in `take`.
            self.spent.0.store(spent.wrapping_add(n), Ordering::Relaxed);
            Ok(n)
        })
    }

    /// Gives back `n` credits taken by [`take_run`](Self::take_run) and not spent.
    ///
    /// # Safety
    ///
    /// As for [`take_run`](Self::take_run).
    pub(crate) unsafe fn give_back_run(&self, n: usize) {
        // Ordering: Relaxed: our own last store (see `give_back`).
        let spent = self.spent.0.load(Ordering::Relaxed);
        self.spent.0.store(spent.wrapping_sub(n), Ordering::Relaxed);
    }

    #[cold]
    fn empty(&self) -> NoCredit {
        // Ordering: SeqCst: pairs with `close` (see "No lost wake-ups").
        if self.closed.load(Ordering::SeqCst) {
            NoCredit::Closed
        } else {
            NoCredit::Empty
        }
    }

    /// A credit taken for a value that did not go in (or whose eviction freed it) is free
    /// again.
    ///
    /// # Safety
    ///
    /// As for [`take`](Self::take).
    #[inline]
    pub(crate) unsafe fn give_back(&self, single: bool) {
        if single {
            // Ordering: Relaxed: our own last store (see `take`). Nobody else waits for an
            // SPSC queue's credit.
            let spent = self.spent.0.load(Ordering::Relaxed);
            self.spent.0.store(spent.wrapping_sub(1), Ordering::Relaxed);
            return;
        }
        // Ordering: SeqCst: before the load of `waiting` (see "No lost wake-ups").
        self.spent.0.fetch_sub(1, Ordering::SeqCst);
        self.waiters.notify_one();
    }

    pub(crate) fn available(&self) -> usize {
        // Ordering: Acquire on `spent` first, then `granted`: `granted` only grows, so a
        // later load of it is at least what was granted when `spent` was read. Relaxed
        // stores of `spent` (SPSC) can still make `spent` look ahead of an old `granted`:
        // that snapshot is retried, and a racing one reads as 0.
        for _ in 0..4 {
            let spent = self.spent.0.load(Ordering::Acquire);
            let available = self.granted.load(Ordering::Acquire).wrapping_sub(spent);
            // At most `MAX_CREDITS` plus the few credits out in sends; a wrapped
            // difference is near the top of the word.
            if available <= WRAPPED {
                return available;
            }
        }
        0
    }

    /// Credits granted in all (modulo the word).
    pub(crate) fn granted(&self) -> usize {
        // Ordering: Relaxed: a statistic.
        self.granted.load(Ordering::Relaxed)
    }

    /// The line of parties waiting for credit.
    pub(crate) fn waiters(&self) -> &WaitList {
        &self.waiters
    }

    /// The queue closed: every party waiting for credit wakes (and finds it closed).
    pub(crate) fn close(&self) {
        // Ordering: SeqCst: before the load of `waiting` in `notify_all` (see "No lost
        // wake-ups").
        self.closed.store(true, Ordering::SeqCst);
        self.waiters.notify_all();
    }
}

/// [`try_send`](Tx::try_send) through the gate: `Full` when out of credit too. (A free
/// function of the queue alone, so that the fast path of a queue without a gate passes only
/// what is already in registers to this cold call.)
///
/// # Safety
///
/// SPSC: the caller is the only thread using the sending side.
#[cold]
#[inline(never)]
pub(crate) unsafe fn gated_try_send<T, Q: Queue<T>>(
    queue: &Q,
    g: &Credit,
    value: T,
) -> Result<(), TrySendError<T>> {
    // SAFETY: forwarded (the caller's sending-side contract).
    match unsafe { g.take(Q::SINGLE_PRODUCER) } {
        Ok(()) => {}
        Err(NoCredit::Empty) => return Err(TrySendError::Full(value)),
        Err(NoCredit::Closed) => return Err(TrySendError::Closed(value)),
    }
    // SAFETY: forwarded.
    let r = unsafe { queue.try_send_now(value) };
    if r.is_err() {
        // SAFETY: forwarded (the caller's sending-side contract).
        unsafe { g.give_back(Q::SINGLE_PRODUCER) };
    }
    r
}

/// The handles' `send` on a queue with a gate (see [`Tx::send`]).
///
/// # Safety
///
/// SPSC: the caller is the only thread using the sending side.
pub(crate) unsafe fn gated_send<T, Q: Queue<T>>(
    tx: Tx<'_, T, Q>,
    g: &Credit,
    value: T,
) -> Result<Sent<T>, SendError<T>> {
    // SAFETY: forwarded.
    match unsafe { tx.gated_send_once(g, value) } {
        Ok(done) => done,
        // SAFETY: forwarded.
        Err(value) => unsafe { tx.send_blocking(value, None) }.map_err(no_timeout),
    }
}

/// A send's or reservation's standing with the gate.
#[derive(Debug, Default)]
pub(crate) struct CreditWait {
    /// Holds a credit (taken, not yet spent or given back).
    held: bool,
    /// Has been counted as a send that waited for credit.
    counted: bool,
    /// Its place in the gate's line.
    reg: Registration,
}

/// A reservation's state while it waits: its place in the queue's line and at the gate.
#[derive(Debug, Default)]
pub(crate) struct ReserveState<R> {
    pub(crate) reg: R,
    pub(crate) credit: CreditWait,
    /// Has been counted as waiting for room (`Metrics::send_waits`).
    pub(crate) waited: bool,
}

/// What taking a credit for a value did.
enum Take<T> {
    /// A credit is held for the value.
    Held(T),
    /// The send is over (the policy dropped, rejected, or replaced; or the queue closed).
    Done(Result<Sent<T>, SendError<T>>),
    /// No credit, and the policy waits for one.
    Wait(T),
}

impl<T, Q: Queue<T>> Tx<'_, T, Q> {
    /// [`send_once`](Tx::send_once) through the gate. `Err(value)`: the policy waits; no
    /// credit is held.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the sending side.
    // Cold and out of line: the fast path of a queue without a gate only tests a flag.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn gated_send_once(
        &self,
        g: &Credit,
        value: T,
    ) -> Result<Result<Sent<T>, SendError<T>>, T> {
        // SAFETY: forwarded (as for every call below).
        match unsafe { self.take_credit(g, value) } {
            Take::Done(r) => Ok(r),
            Take::Wait(v) => Err(v),
            // SAFETY: forwarded.
            Take::Held(v) => unsafe { self.send_held(g, v) }.map_err(|v| {
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                v
            }),
        }
    }

    /// Takes a credit for `value`, or applies the policy to a send out of credit.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    unsafe fn take_credit(&self, g: &Credit, value: T) -> Take<T> {
        // SAFETY: forwarded (the caller's sending-side contract).
        match unsafe { g.take(Q::SINGLE_PRODUCER) } {
            Ok(()) => Take::Held(value),
            Err(NoCredit::Closed) => Take::Done(Err(SendError::Closed(value))),
            Err(NoCredit::Empty) => match self.policy {
                Policy::Reject => {
                    self.counters.add(Count::Rejected);
                    Take::Done(Err(SendError::Overloaded(value)))
                }
                Policy::DropNewest => {
                    self.counters.add(Count::DroppedNewest);
                    drop(value);
                    Take::Done(Ok(Sent::DroppedNewest))
                }
                // SAFETY: forwarded.
                Policy::DropOldest => unsafe { self.replace(g, value) },
                _ => Take::Wait(value),
            },
        }
    }

    /// Out of credit under `DropOldest`: the value takes the oldest queued value's place
    /// and credit.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    unsafe fn replace(&self, g: &Credit, value: T) -> Take<T> {
        // SAFETY: forwarded.
        match unsafe { self.chan.queue.replace_oldest(value) } {
            Replace::Replaced { old, also } => {
                if let Some(also) = also {
                    // A second eviction (see `Replace`): its credit is free again. Counted
                    // before the drop, so a panicking destructor leaves the counts right.
                    self.counters.add(Count::EvictedOldest);
                    // SAFETY: forwarded (the caller's sending-side contract).
                    unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                    drop(also);
                }
                Take::Done(Ok(count_sent(self.counters, Sent::Evicted(old))))
            }
            Replace::Nothing(v) => Take::Wait(v),
            Replace::Closed(v) => Take::Done(Err(SendError::Closed(v))),
            Replace::Stranded { old, value, closed } => {
                self.counters.add(Count::EvictedOldest);
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                drop(old);
                if closed {
                    Take::Done(Err(SendError::Closed(value)))
                } else {
                    Take::Wait(value)
                }
            }
        }
    }

    /// Holding a credit for `value`: one attempt at the queue under the policy. `Err`: full,
    /// the policy waits, and the credit is still held. Otherwise the credit is spent (the
    /// value went in), or given back.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    unsafe fn send_held(&self, g: &Credit, value: T) -> Result<Result<Sent<T>, SendError<T>>, T> {
        // SAFETY: forwarded.
        match unsafe {
            self.chan
                .queue
                .try_send(value, self.policy == Policy::DropOldest)
        } {
            // SAFETY: forwarded.
            Attempt::Sent(sent) => Ok(Ok(unsafe { self.spent(g, sent) })),
            Attempt::Closed(v) => {
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                Ok(Err(SendError::Closed(v)))
            }
            Attempt::Full(v) => match self.policy {
                Policy::Reject | Policy::DropNewest => {
                    // SAFETY: forwarded (the caller's sending-side contract).
                    unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                    apply(self.policy, self.counters, Attempt::Full(v))
                }
                _ => Err(v),
            },
        }
    }

    /// Counts a send (or reservation) that waits for credit, once.
    #[cold]
    fn count_wait(&self, credit: &mut CreditWait) {
        if !core::mem::replace(&mut credit.counted, true) {
            self.counters.add(Count::CreditWait);
        }
    }

    /// The value went in with a credit: an eviction frees the evicted value's credit.
    #[inline]
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    unsafe fn spent(&self, g: &Credit, sent: Sent<T>) -> Sent<T> {
        if let Sent::Evicted(_) = sent {
            // SAFETY: forwarded (the caller's sending-side contract).
            unsafe { g.give_back(Q::SINGLE_PRODUCER) };
        }
        count_sent(self.counters, sent)
    }

    /// One step of a send that may wait, without standing in any line (a spin).
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_attempt(
        &self,
        g: &Credit,
        st: &mut SendState<T, Q::Reg>,
    ) -> Option<Result<Sent<T>, SendError<T>>> {
        let mut value = st.value.take()?;
        if !st.credit.held {
            // SAFETY: forwarded.
            match unsafe { self.take_credit(g, value) } {
                Take::Done(r) => return Some(r),
                Take::Wait(v) => {
                    st.value = Some(v);
                    self.count_wait(&mut st.credit);
                    return None;
                }
                Take::Held(v) => {
                    st.credit.held = true;
                    value = v;
                }
            }
        }
        // SAFETY: forwarded.
        match unsafe { self.send_held(g, value) } {
            Ok(r) => {
                st.credit.held = false;
                Some(r)
            }
            Err(v) => {
                st.value = Some(v);
                self.count_send_wait(&mut st.waited);
                None
            }
        }
    }

    /// One poll of a send through the gate: wait for a credit (or, under `DropOldest`, for
    /// a value to replace), then for room.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_poll_send(
        &self,
        g: &Credit,
        st: &mut SendState<T, Q::Reg>,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, SendError<T>>> {
        // The caller's attempt may have given its credit back: try everything again.
        let wake = wake.tried(false);
        if matches!(self.policy, Policy::Reject | Policy::DropNewest) {
            if let Some(v) = st.value.take() {
                // SAFETY: forwarded.
                match unsafe { self.gated_send_once(g, v) } {
                    Ok(done) => return Poll::Ready(done),
                    // These policies never wait.
                    Err(v) => st.value = Some(v),
                }
            }
        }
        if !st.credit.held {
            let replace = self.policy == Policy::DropOldest;
            let SendState { value, credit, .. } = st;
            let got = wait_until(g.waiters(), &mut credit.reg, &wake, || {
                // SAFETY: forwarded (the caller's sending-side contract).
                match unsafe { g.take(Q::SINGLE_PRODUCER) } {
                    Ok(()) => Some(None),
                    Err(NoCredit::Closed) => Some(Some(Err(SendError::Closed(value.take()?)))),
                    Err(NoCredit::Empty) if replace => {
                        // SAFETY: forwarded.
                        match unsafe { self.replace(g, value.take()?) } {
                            Take::Done(r) => Some(Some(r)),
                            Take::Wait(v) | Take::Held(v) => {
                                *value = Some(v);
                                None
                            }
                        }
                    }
                    Err(NoCredit::Empty) => None,
                }
            });
            match got {
                Poll::Pending => {
                    self.count_wait(credit);
                    return Poll::Pending;
                }
                Poll::Ready(Some(done)) => return Poll::Ready(done),
                Poll::Ready(None) => credit.held = true,
            }
        }
        // Holding a credit: wait for room as a send without a gate does.
        // SAFETY: forwarded.
        match unsafe {
            self.chan.queue.poll_send(
                &mut st.value,
                self.policy == Policy::DropOldest,
                &mut st.reg,
                &wake,
            )
        } {
            Poll::Ready(Ok(sent)) => {
                st.credit.held = false;
                // SAFETY: forwarded.
                Poll::Ready(Ok(unsafe { self.spent(g, sent) }))
            }
            Poll::Ready(Err(v)) => {
                st.credit.held = false;
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                Poll::Ready(Err(SendError::Closed(v)))
            }
            Poll::Pending => {
                self.count_send_wait(&mut st.waited);
                Poll::Pending
            }
        }
    }

    /// Leaves both lines; gives back a credit held for a value that did not go in.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_cancel_send(&self, g: &Credit, st: &mut SendState<T, Q::Reg>) {
        g.waiters().cancel(&mut st.credit.reg);
        if core::mem::take(&mut st.credit.held) {
            // SAFETY: forwarded.
            unsafe { self.chan.queue.cancel_send(&mut st.reg, &mut st.value) };
            if st.value.is_some() {
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
            }
            // Else a receiver took the value from a rendezvous offer: the credit is spent.
        }
    }

    /// A waiting send gives up: leave the lines, then one last attempt.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_give_up_send(
        &self,
        g: &Credit,
        st: &mut SendState<T, Q::Reg>,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        // SAFETY: forwarded.
        unsafe { self.gated_cancel_send(g, st) };
        let Some(v) = st.value.take() else {
            return Ok(Sent::Queued);
        };
        // SAFETY: forwarded.
        match unsafe { self.gated_send_once(g, v) } {
            Ok(done) => done.map_err(Into::into),
            Err(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }

    // === reservations ===

    /// Takes a credit and reserves room, or neither.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_try_reserve(&self, g: &Credit) -> Result<(), TrySendError<()>> {
        // SAFETY: forwarded (the caller's sending-side contract).
        match unsafe { g.take(Q::SINGLE_PRODUCER) } {
            Ok(()) => {}
            Err(NoCredit::Empty) => return Err(TrySendError::Full(())),
            Err(NoCredit::Closed) => return Err(TrySendError::Closed(())),
        }
        // SAFETY: forwarded.
        let r = unsafe { self.chan.queue.try_reserve() };
        if r.is_err() {
            // SAFETY: forwarded (the caller's sending-side contract).
            unsafe { g.give_back(Q::SINGLE_PRODUCER) };
        }
        r
    }

    /// One step of a reservation that may wait, without standing in line (a spin).
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_reserve_attempt(
        &self,
        g: &Credit,
        st: &mut ReserveState<Q::Reg>,
    ) -> Option<Result<(), SendError<()>>> {
        let credit = &mut st.credit;
        if !credit.held {
            // SAFETY: forwarded (the caller's sending-side contract).
            match unsafe { g.take(Q::SINGLE_PRODUCER) } {
                Ok(()) => credit.held = true,
                Err(NoCredit::Empty) => {
                    self.count_wait(credit);
                    return None;
                }
                Err(NoCredit::Closed) => return Some(Err(SendError::Closed(()))),
            }
        }
        // SAFETY: forwarded.
        match unsafe { self.chan.queue.try_reserve() } {
            Ok(()) => {
                // The permit holds the credit now.
                credit.held = false;
                Some(Ok(()))
            }
            Err(TrySendError::Full(())) => {
                self.count_send_wait(&mut st.waited);
                None
            }
            Err(TrySendError::Closed(())) => {
                credit.held = false;
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                Some(Err(SendError::Closed(())))
            }
        }
    }

    /// One poll of a reservation through the gate: a credit, then room.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_poll_reserve(
        &self,
        g: &Credit,
        st: &mut ReserveState<Q::Reg>,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        let wake = wake.tried(false);
        if !st.credit.held {
            let credit = &mut st.credit;
            match wait_until(g.waiters(), &mut credit.reg, &wake, || {
                // SAFETY: forwarded (the caller's sending-side contract).
                match unsafe { g.take(Q::SINGLE_PRODUCER) } {
                    Ok(()) => Some(Ok(())),
                    Err(NoCredit::Closed) => Some(Err(SendError::Closed(()))),
                    Err(NoCredit::Empty) => None,
                }
            }) {
                Poll::Pending => {
                    self.count_wait(credit);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => credit.held = true,
            }
        }
        // SAFETY: forwarded.
        match unsafe { self.chan.queue.poll_reserve(&mut st.reg, &wake) } {
            Poll::Ready(Ok(())) => {
                // The permit holds the credit now.
                st.credit.held = false;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                st.credit.held = false;
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                self.count_send_wait(&mut st.waited);
                Poll::Pending
            }
        }
    }

    /// Leaves both lines of a reservation; gives back a credit it held.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_cancel_reserve(&self, g: &Credit, st: &mut ReserveState<Q::Reg>) {
        g.waiters().cancel(&mut st.credit.reg);
        if core::mem::take(&mut st.credit.held) {
            // SAFETY: forwarded.
            unsafe { self.chan.queue.cancel_reserve(&mut st.reg) };
            // SAFETY: forwarded (the caller's sending-side contract).
            unsafe { g.give_back(Q::SINGLE_PRODUCER) };
        }
    }

    /// A permit's value went in (or failed to): settle its credit.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_reserved_sent(
        &self,
        g: &Credit,
        sent: Result<Sent<T>, T>,
    ) -> Result<Sent<T>, T> {
        match sent {
            // SAFETY: forwarded.
            Ok(sent) => Ok(unsafe { self.spent(g, sent) }),
            Err(v) => {
                // SAFETY: forwarded (the caller's sending-side contract).
                unsafe { g.give_back(Q::SINGLE_PRODUCER) };
                Err(v)
            }
        }
    }
}
