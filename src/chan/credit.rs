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

use super::poll::{apply, count_sent, no_timeout, wait_until, SendState, Tx};
use super::{Attempt, Policy, Queue, Replace, Sent};
use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::loom::{AtomicUsize, Ordering};
use crate::metrics::Count;
use crate::wait::list::Registration;
use crate::wait::sem::{NoPermit, Semaphore};
use crate::wait::Wake;

/// A queue's credit gate.
pub(crate) struct Credit {
    sem: Semaphore,
    /// Credits granted so far, the starting ones included (saturating).
    granted: AtomicUsize,
}

impl fmt::Debug for Credit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credit")
            .field("available", &self.available())
            .field("granted", &self.granted())
            .finish()
    }
}

impl Credit {
    pub(crate) fn new(initial: usize) -> Self {
        Self {
            sem: Semaphore::new(initial),
            granted: AtomicUsize::new(initial),
        }
    }

    /// Grants `n` more credits (saturating) and wakes up to `n` parties waiting for one.
    pub(crate) fn grant(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Ordering: Relaxed: a statistic (the semaphore's word carries the credits).
        let _ = self
            .granted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
                Some(g.saturating_add(n))
            });
        self.sem.release(n);
    }

    /// A credit taken for a value that did not go in (or whose eviction freed it) is free
    /// again.
    #[inline]
    pub(crate) fn give_back(&self) {
        self.sem.release(1);
    }

    pub(crate) fn available(&self) -> usize {
        self.sem.available()
    }

    pub(crate) fn granted(&self) -> usize {
        // Ordering: Relaxed: a statistic.
        self.granted.load(Ordering::Relaxed)
    }

    /// The queue closed: every party waiting for credit wakes (and finds it closed).
    pub(crate) fn close(&self) {
        self.sem.close();
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
    match g.sem.try_acquire() {
        Ok(()) => {}
        Err(NoPermit::Empty) => return Err(TrySendError::Full(value)),
        Err(NoPermit::Closed) => return Err(TrySendError::Closed(value)),
    }
    // SAFETY: forwarded.
    let r = unsafe { queue.try_send_now(value) };
    if r.is_err() {
        g.give_back();
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
                g.give_back();
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
        match g.sem.try_acquire() {
            Ok(()) => Take::Held(value),
            Err(NoPermit::Closed) => Take::Done(Err(SendError::Closed(value))),
            Err(NoPermit::Empty) => match self.policy {
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
                    g.give_back();
                    drop(also);
                }
                Take::Done(Ok(count_sent(self.counters, Sent::Evicted(old))))
            }
            Replace::Nothing(v) => Take::Wait(v),
            Replace::Closed(v) => Take::Done(Err(SendError::Closed(v))),
            Replace::Stranded { old, value, closed } => {
                self.counters.add(Count::EvictedOldest);
                g.give_back();
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
        match unsafe { self.chan.queue.try_send(value, self.policy == Policy::DropOldest) } {
            Attempt::Sent(sent) => Ok(Ok(self.spent(g, sent))),
            Attempt::Closed(v) => {
                g.give_back();
                Ok(Err(SendError::Closed(v)))
            }
            Attempt::Full(v) => match self.policy {
                Policy::Reject | Policy::DropNewest => {
                    g.give_back();
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
    fn spent(&self, g: &Credit, sent: Sent<T>) -> Sent<T> {
        if let Sent::Evicted(_) = sent {
            g.give_back();
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
            let got = wait_until(g.sem.waiters(), &mut credit.reg, &wake, || {
                match g.sem.try_acquire() {
                    Ok(()) => Some(None),
                    Err(NoPermit::Closed) => Some(Some(Err(SendError::Closed(value.take()?)))),
                    Err(NoPermit::Empty) if replace => {
                        // SAFETY: forwarded.
                        match unsafe { self.replace(g, value.take()?) } {
                            Take::Done(r) => Some(Some(r)),
                            Take::Wait(v) | Take::Held(v) => {
                                *value = Some(v);
                                None
                            }
                        }
                    }
                    Err(NoPermit::Empty) => None,
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
                Poll::Ready(Ok(self.spent(g, sent)))
            }
            Poll::Ready(Err(v)) => {
                st.credit.held = false;
                g.give_back();
                Poll::Ready(Err(SendError::Closed(v)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Leaves both lines; gives back a credit held for a value that did not go in.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_cancel_send(&self, g: &Credit, st: &mut SendState<T, Q::Reg>) {
        g.sem.cancel(&mut st.credit.reg);
        if core::mem::take(&mut st.credit.held) {
            // SAFETY: forwarded.
            unsafe { self.chan.queue.cancel_send(&mut st.reg, &mut st.value) };
            if st.value.is_some() {
                g.give_back();
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
        match g.sem.try_acquire() {
            Ok(()) => {}
            Err(NoPermit::Empty) => return Err(TrySendError::Full(())),
            Err(NoPermit::Closed) => return Err(TrySendError::Closed(())),
        }
        // SAFETY: forwarded.
        let r = unsafe { self.chan.queue.try_reserve() };
        if r.is_err() {
            g.give_back();
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
        credit: &mut CreditWait,
    ) -> Option<Result<(), SendError<()>>> {
        if !credit.held {
            match g.sem.try_acquire() {
                Ok(()) => credit.held = true,
                Err(NoPermit::Empty) => {
                    self.count_wait(credit);
                    return None;
                }
                Err(NoPermit::Closed) => return Some(Err(SendError::Closed(()))),
            }
        }
        // SAFETY: forwarded.
        match unsafe { self.chan.queue.try_reserve() } {
            Ok(()) => {
                // The permit holds the credit now.
                credit.held = false;
                Some(Ok(()))
            }
            Err(TrySendError::Full(())) => None,
            Err(TrySendError::Closed(())) => {
                credit.held = false;
                g.give_back();
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
            match wait_until(g.sem.waiters(), &mut credit.reg, &wake, || {
                match g.sem.try_acquire() {
                    Ok(()) => Some(Ok(())),
                    Err(NoPermit::Closed) => Some(Err(SendError::Closed(()))),
                    Err(NoPermit::Empty) => None,
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
                g.give_back();
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Leaves both lines of a reservation; gives back a credit it held.
    ///
    /// # Safety
    ///
    /// As for [`gated_send_once`](Self::gated_send_once).
    pub(crate) unsafe fn gated_cancel_reserve(&self, g: &Credit, st: &mut ReserveState<Q::Reg>) {
        g.sem.cancel(&mut st.credit.reg);
        if core::mem::take(&mut st.credit.held) {
            // SAFETY: forwarded.
            unsafe { self.chan.queue.cancel_reserve(&mut st.reg) };
            g.give_back();
        }
    }

    /// A permit's value went in (or failed to): settle its credit.
    pub(crate) fn gated_reserved_sent(&self, g: &Credit, sent: Result<Sent<T>, T>) -> Result<Sent<T>, T> {
        match sent {
            Ok(sent) => Ok(self.spent(g, sent)),
            Err(v) => {
                g.give_back();
                Err(v)
            }
        }
    }
}
