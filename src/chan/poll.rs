//! One poll routine per operation, and its two drivers.
//!
//! The ring flavors wait the same way: try; register; re-check ([`wait_until`], over a
//! flavor's [`Waiters`]). The policy is applied in one place ([`apply`]). The blocking
//! drivers spin briefly, then park the thread between polls ([`wait::block_on`]); the
//! futures in `future.rs` poll the same routines with their `Context`'s waker.
//!
//! Every method here is `unsafe` for the SPSC flavor's sake: the caller is the only thread
//! using that side of the queue (it holds the handle's `&mut`, or a future or permit made
//! from it). See [`Queue`].

use core::task::Poll;
use std::time::Instant;

use super::credit::{Credit, CreditWait, ReserveState};
use super::{Attempt, Chan, Policy, Queue, Sent};
use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::metrics::{Count, TxCounters};
use crate::wait::{self, Wake};

/// A line of waiting parties, as the generic wait sees it.
pub(crate) trait Waiters {
    type Reg;
    /// At the start of a poll: a notification received since the last poll is used up by
    /// this poll's attempt.
    fn take_notification(&self, reg: &mut Self::Reg);
    /// Registers `wake` (entering the line, or refreshing the waker), then whatever barrier
    /// the flavor's protocol needs before the caller's re-check.
    fn register(&self, reg: &mut Self::Reg, wake: &Wake<'_>);
    /// Leaves the line; passes on a notification that was not used.
    fn cancel(&self, reg: &mut Self::Reg);
}

/// Try (unless the caller just did: [`Wake::tried`]); register; re-check. `attempt` returns
/// `None` while the operation would wait.
#[inline]
pub(crate) fn wait_until<W: Waiters, R>(
    waiters: &W,
    reg: &mut W::Reg,
    wake: &Wake<'_>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Poll<R> {
    waiters.take_notification(reg);
    if !wake.tried {
        if let Some(r) = attempt() {
            waiters.cancel(reg);
            return Poll::Ready(r);
        }
    }
    waiters.register(reg, wake);
    // Re-check: the queue may have changed between the attempt and the registration, and
    // the notification of that change would then have found nobody registered.
    if let Some(r) = attempt() {
        // A notification that came meanwhile may have been meant for another party.
        waiters.cancel(reg);
        return Poll::Ready(r);
    }
    Poll::Pending
}

/// The handles' `send` once it has to wait, or on a queue with a gate: out of line, one
/// call site (so the fast path keeps its result in registers, and builds no `Tx` in memory).
///
/// # Safety
///
/// As for [`Tx::send_once`].
#[cold]
#[inline(never)]
unsafe fn send_slow<T, Q: Queue<T>>(tx: Tx<'_, T, Q>, value: T) -> Result<Sent<T>, SendError<T>> {
    if let Some(g) = tx.gate {
        // SAFETY: forwarded.
        return unsafe { super::credit::gated_send(tx, g, value) };
    }
    // SAFETY: forwarded.
    unsafe { tx.send_blocking(value, None) }.map_err(no_timeout)
}

/// A blocking send without a deadline ends only at `Closed` or `Overloaded`.
pub(crate) fn no_timeout<T>(e: SendTimeoutError<T>) -> SendError<T> {
    match e {
        SendTimeoutError::Closed(v) | SendTimeoutError::Timeout(v) => SendError::Closed(v),
        SendTimeoutError::Overloaded(v) => SendError::Overloaded(v),
    }
}

/// A send attempt under `policy`: `Err(value)` means full, and the policy is to wait.
#[inline]
pub(crate) fn apply<T>(
    policy: Policy,
    counters: &TxCounters,
    attempt: Attempt<T>,
) -> Result<Result<Sent<T>, SendError<T>>, T> {
    match attempt {
        Attempt::Sent(sent) => Ok(Ok(count_sent(counters, sent))),
        Attempt::Closed(v) => Ok(Err(SendError::Closed(v))),
        Attempt::Full(v) => match policy {
            Policy::Reject => {
                counters.add(Count::Rejected);
                Ok(Err(SendError::Overloaded(v)))
            }
            Policy::DropNewest => {
                counters.add(Count::DroppedNewest);
                drop(v);
                Ok(Ok(Sent::DroppedNewest))
            }
            // Block, and DropOldest when nothing can be evicted (see the rings).
            _ => Err(v),
        },
    }
}

/// Counts an eviction.
#[inline(always)]
pub(crate) fn count_sent<T>(counters: &TxCounters, sent: Sent<T>) -> Sent<T> {
    if let Sent::Evicted(_) = sent {
        counters.add(Count::EvictedOldest);
    }
    sent
}

/// The sending side of a queue as the generic code sees it: the queue, the handle's
/// counters and cached policy.
pub(crate) struct Tx<'a, T, Q> {
    pub(crate) chan: &'a Chan<T, Q>,
    pub(crate) counters: &'a TxCounters,
    pub(crate) policy: Policy,
    /// The queue's credit gate, if it has one (see `credit.rs`).
    pub(crate) gate: Option<&'a Credit>,
}

impl<'a, T, Q> Tx<'a, T, Q> {
    /// The sending side of `chan` for a handle with these counters and cached policy;
    /// `gated`: the handle's cached word that the queue has a credit gate (so the fast path
    /// tests a flag the handle holds, not the queue's memory).
    #[inline(always)]
    pub(crate) fn new(
        chan: &'a Chan<T, Q>,
        counters: &'a TxCounters,
        policy: Policy,
        gated: bool,
    ) -> Self {
        Self {
            chan,
            counters,
            policy,
            gate: if gated { chan.credit.as_ref() } else { None },
        }
    }
}

impl<T, Q> Clone for Tx<'_, T, Q> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, Q> Copy for Tx<'_, T, Q> {}

/// A send's state while it waits: its value (`None` while a rendezvous holds it in an offer)
/// and its place in line.
pub(crate) struct SendState<T, R> {
    pub(crate) value: Option<T>,
    pub(crate) reg: R,
    /// Its standing with the credit gate (unused without one).
    pub(crate) credit: CreditWait,
    /// Has been counted as a send that waited for room (`Metrics::send_waits`).
    pub(crate) waited: bool,
}

impl<T, R: Default> SendState<T, R> {
    pub(crate) fn new(value: Option<T>) -> Self {
        Self {
            value,
            reg: R::default(),
            credit: CreditWait::default(),
            waited: false,
        }
    }
}

impl<'a, T, Q: Queue<T>> Tx<'a, T, Q> {
    #[inline(always)]
    fn evict(&self) -> bool {
        self.policy == Policy::DropOldest
    }

    /// One send under the policy, never waiting. `Err(value)`: full, and the policy waits.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the sending side.
    #[inline(always)]
    pub(crate) unsafe fn send_once(&self, value: T) -> Result<Result<Sent<T>, SendError<T>>, T> {
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            return unsafe { self.gated_send_once(g, value) };
        }
        // SAFETY: forwarded.
        unsafe { self.send_once_ungated(value) }
    }

    /// The handles' `send`: one attempt, then (if the policy waits) the blocking send. A
    /// queue with a gate goes to one cold call, so that the fast path of one without passes
    /// its result in registers.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    #[inline(always)]
    pub(crate) unsafe fn send(&self, value: T) -> Result<Sent<T>, SendError<T>> {
        let value = if self.gate.is_none() {
            // SAFETY: forwarded.
            match unsafe { self.send_once_ungated(value) } {
                Ok(done) => return done,
                Err(value) => value,
            }
        } else {
            value
        };
        // SAFETY: forwarded.
        unsafe { send_slow(*self, value) }
    }

    /// [`send_once`](Self::send_once) on a queue without a gate.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    #[inline(always)]
    unsafe fn send_once_ungated(&self, value: T) -> Result<Result<Sent<T>, SendError<T>>, T> {
        // SAFETY: forwarded.
        let attempt = unsafe { self.chan.queue.try_send(value, self.evict()) };
        apply(self.policy, self.counters, attempt)
    }

    /// `try_send`: never waits, whatever the policy, and counts nothing.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    #[inline(always)]
    pub(crate) unsafe fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            return unsafe { super::credit::gated_try_send(&self.chan.queue, g, value) };
        }
        // SAFETY: forwarded.
        unsafe { self.chan.queue.try_send_now(value) }
    }

    /// One poll of a send: under `Block` (and `DropOldest`) it waits for room; under the
    /// other policies it completes at once.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn poll_send(
        &self,
        st: &mut SendState<T, Q::Reg>,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, SendError<T>>> {
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            return unsafe { self.gated_poll_send(g, st, wake) };
        }
        if matches!(self.policy, Policy::Reject | Policy::DropNewest) {
            if let Some(v) = st.value.take() {
                // SAFETY: forwarded.
                match unsafe { self.send_once(v) } {
                    Ok(done) => return Poll::Ready(done),
                    // These policies never wait; `apply` never returns `Err` for them.
                    Err(v) => st.value = Some(v),
                }
            }
        }
        // SAFETY: forwarded.
        match unsafe {
            self.chan
                .queue
                .poll_send(&mut st.value, self.evict(), &mut st.reg, wake)
        } {
            Poll::Ready(Ok(sent)) => Poll::Ready(Ok(count_sent(self.counters, sent))),
            Poll::Ready(Err(v)) => Poll::Ready(Err(SendError::Closed(v))),
            Poll::Pending => {
                self.count_send_wait(&mut st.waited);
                Poll::Pending
            }
        }
    }

    /// Counts a send (or reservation) that stands in line for room, once.
    #[inline]
    pub(crate) fn count_send_wait(&self, waited: &mut bool) {
        if !core::mem::replace(waited, true) {
            self.counters.add(Count::SendWait);
        }
    }

    /// Leaves the line(s) of a waiting send (passing on a wake-up it took, giving back a
    /// credit it held); puts the value back into `st.value` if a rendezvous held it and it
    /// was not taken.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn cancel_send(&self, st: &mut SendState<T, Q::Reg>) {
        match self.gate {
            // SAFETY: forwarded.
            Some(g) => unsafe { self.gated_cancel_send(g, st) },
            // SAFETY: forwarded.
            None => unsafe { self.chan.queue.cancel_send(&mut st.reg, &mut st.value) },
        }
    }

    /// Gives up a waiting send: leaves the line, then makes one last attempt. `Timeout`
    /// hands the value back; a rendezvous offer taken meanwhile counts as sent.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn give_up_send(
        &self,
        st: &mut SendState<T, Q::Reg>,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            return unsafe { self.gated_give_up_send(g, st) };
        }
        // SAFETY: forwarded.
        unsafe { self.chan.queue.cancel_send(&mut st.reg, &mut st.value) };
        let Some(v) = st.value.take() else {
            // A receiver took the value from the offer just before.
            return Ok(Sent::Queued);
        };
        // SAFETY: forwarded.
        match unsafe { self.send_once(v) } {
            Ok(done) => done.map_err(Into::into),
            Err(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }

    /// Blocking send with an optional deadline: spin, then park.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn send_blocking(
        &self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<Sent<T>, SendTimeoutError<T>> {
        let mut st = SendState::new(Some(value));
        let spun = wait::spin_if(self.chan.queue.try_first(), || {
            if let Some(g) = self.gate {
                // SAFETY: forwarded.
                return unsafe { self.gated_attempt(g, &mut st) };
            }
            let v = st.value.take()?;
            // SAFETY: forwarded.
            match unsafe { self.send_once(v) } {
                Ok(done) => Some(done),
                Err(v) => {
                    st.value = Some(v);
                    self.count_send_wait(&mut st.waited);
                    None
                }
            }
        });
        if let Some(done) = spun {
            return done.map_err(Into::into);
        }
        wait::block_on(
            self.chan.queue.try_first(),
            deadline,
            &mut st,
            |st, wake| {
                // SAFETY: forwarded.
                unsafe { self.poll_send(st, wake) }.map(|r| r.map_err(Into::into))
            },
            |st| {
                // SAFETY: forwarded.
                unsafe { self.give_up_send(st) }
            },
        )
    }

    /// Reserves room (and, with a gate, a credit) without waiting.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    #[inline]
    pub(crate) unsafe fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            return unsafe { self.gated_try_reserve(g) };
        }
        // SAFETY: forwarded.
        unsafe { self.chan.queue.try_reserve() }
    }

    /// One poll of a reservation that waits (for a credit, then for room).
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn poll_reserve(
        &self,
        st: &mut ReserveState<Q::Reg>,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        match self.gate {
            // SAFETY: forwarded.
            Some(g) => unsafe { self.gated_poll_reserve(g, st, wake) },
            // SAFETY: forwarded.
            None => match unsafe { self.chan.queue.poll_reserve(&mut st.reg, wake) } {
                Poll::Pending => {
                    self.count_send_wait(&mut st.waited);
                    Poll::Pending
                }
                done => done,
            },
        }
    }

    /// Leaves the line(s) of a waiting reservation.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn cancel_reserve(&self, st: &mut ReserveState<Q::Reg>) {
        match self.gate {
            // SAFETY: forwarded.
            Some(g) => unsafe { self.gated_cancel_reserve(g, st) },
            // SAFETY: forwarded.
            None => unsafe { self.chan.queue.cancel_reserve(&mut st.reg) },
        }
    }

    /// Sends into reserved room (see [`Queue::send_reserved`]), settling the credit.
    ///
    /// # Safety
    ///
    /// As for [`Queue::send_reserved`].
    pub(crate) unsafe fn send_reserved(&self, value: T) -> Result<Sent<T>, T> {
        // SAFETY: forwarded.
        let sent = unsafe { self.chan.queue.send_reserved(value) };
        match self.gate {
            // SAFETY: forwarded.
            Some(g) => unsafe { self.gated_reserved_sent(g, sent) },
            None => sent.map(|sent| count_sent(self.counters, sent)),
        }
    }

    /// Gives reserved room (and its credit) back.
    ///
    /// # Safety
    ///
    /// As for [`Queue::release_reserved`].
    pub(crate) unsafe fn release_reserved(&self) {
        // SAFETY: forwarded.
        unsafe { self.chan.queue.release_reserved() };
        if let Some(g) = self.gate {
            // SAFETY: forwarded.
            unsafe { g.give_back(Q::SINGLE_PRODUCER) };
        }
    }

    /// Blocking reservation with an optional deadline: spin, then park.
    ///
    /// # Safety
    ///
    /// As for [`send_once`](Self::send_once).
    pub(crate) unsafe fn reserve_blocking(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<()>> {
        let mut st = ReserveState::<Q::Reg>::default();
        let spun = wait::spin_if(self.chan.queue.try_first(), || {
            if let Some(g) = self.gate {
                // SAFETY: forwarded.
                return unsafe { self.gated_reserve_attempt(g, &mut st) };
            }
            // SAFETY: forwarded.
            match unsafe { self.chan.queue.try_reserve() } {
                Err(TrySendError::Full(())) => {
                    self.count_send_wait(&mut st.waited);
                    None
                }
                done => Some(done.map_err(|_| SendError::Closed(()))),
            }
        });
        if let Some(done) = spun {
            return done.map_err(Into::into);
        }
        wait::block_on(
            self.chan.queue.try_first(),
            deadline,
            &mut st,
            |st, wake| {
                // SAFETY: forwarded.
                unsafe { self.poll_reserve(st, wake) }.map(|r| r.map_err(Into::into))
            },
            |st| {
                // SAFETY: forwarded.
                unsafe {
                    self.cancel_reserve(st);
                    self.try_reserve().map_err(Into::into)
                }
            },
        )
    }
}

/// The receiving side of a queue as the generic code sees it.
pub(crate) struct Rx<'a, T, Q> {
    pub(crate) chan: &'a Chan<T, Q>,
}

impl<T, Q> Clone for Rx<'_, T, Q> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, Q> Copy for Rx<'_, T, Q> {}

impl<'a, T, Q: Queue<T>> Rx<'a, T, Q> {
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the receiving side.
    #[inline(always)]
    pub(crate) unsafe fn try_recv(&self) -> Result<T, TryRecvError> {
        // SAFETY: forwarded.
        unsafe { self.chan.queue.try_recv() }
    }

    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    #[inline]
    pub(crate) unsafe fn poll_recv(
        &self,
        reg: &mut Q::Reg,
        wake: &Wake<'_>,
    ) -> Poll<Result<T, RecvError>> {
        // SAFETY: forwarded.
        unsafe { self.chan.queue.poll_recv(reg, wake) }
    }

    /// Gives up a waiting receive: leaves the line, then makes one last attempt.
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    pub(crate) unsafe fn give_up_recv(&self, reg: &mut Q::Reg) -> Result<T, RecvTimeoutError> {
        // SAFETY: forwarded.
        unsafe { self.chan.queue.cancel_recv(reg) };
        // SAFETY: forwarded.
        unsafe { self.try_recv() }.map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Closed => RecvTimeoutError::Closed,
        })
    }

    /// Blocking receive with an optional deadline: spin, then park.
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv).
    pub(crate) unsafe fn recv_blocking(
        &self,
        deadline: Option<Instant>,
    ) -> Result<T, RecvTimeoutError> {
        let spun = wait::spin_if(self.chan.queue.try_first(), || {
            // SAFETY: forwarded (as for every call below).
            match unsafe { self.try_recv() } {
                Err(TryRecvError::Empty) => None,
                done => Some(done),
            }
        });
        if let Some(done) = spun {
            return done.map_err(|_| RecvTimeoutError::Closed);
        }
        let mut reg = Q::Reg::default();
        wait::block_on(
            self.chan.queue.try_first(),
            deadline,
            &mut reg,
            |reg, wake| {
                // SAFETY: forwarded.
                unsafe { self.poll_recv(reg, wake) }.map(|r| r.map_err(Into::into))
            },
            |reg| {
                // SAFETY: forwarded.
                unsafe { self.give_up_recv(reg) }
            },
        )
    }
}
