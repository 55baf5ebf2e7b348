//! The rendezvous flavor: an MPMC queue of capacity 0 (Go's unbuffered channel).
//!
//! A send completes only when a receiver is there for the value. Waiting senders and
//! receivers stand in lines under one mutex (there is no fast path to protect: every
//! hand-off needs a waiting party), and receivers *pull*:
//!
//! - A waiting sender puts an *offer* (its value) in line; a receiver takes the oldest offer,
//!   and the sender's next poll finds it gone: sent. A sender that gives up takes its offer
//!   back.
//! - When receivers are waiting and not all spoken for, a sender does not wait: it puts its
//!   value *in transit* and wakes a receiver to pull it (`try_send` does only this). A
//!   permit (`reserve`) speaks for one waiting receiver, and its send puts the value in
//!   transit the same way.
//! - A receiver takes values in transit first, then offers, so values keep the order of their
//!   sends (FIFO per sender), also when a receive future is dropped or forgotten after it was
//!   woken: it never holds a value (that is why receivers pull rather than being handed
//!   values), and its wake-up is passed on.
//!
//! "Not all spoken for" means: waiting receivers > outstanding permits + values in transit.
//! So values in transit never outnumber the receivers that were waiting (nothing grows when
//! receive futures are dropped in a `select!` loop), and they are not queued values: `len()`
//! is always 0, and `sent` counts a value when a receiver takes it.
//!
//! After a drain-close, receivers still take values in transit (including those of permits
//! that send after the close), and report `Closed` once none is in transit and no permit is
//! outstanding. Waiting senders get their values back.
//!
//! Wakers are woken, and replaced ones and values dropped, outside the lock (a waker is
//! cloned under it, when a party takes its place in line, as tokio's `Notify` does). Progress: every operation takes the
//! mutex briefly; waiting parties park or return `Pending`.

use core::fmt;
use core::task::{Poll, Waker};
use std::collections::VecDeque;

use super::{Attempt, Sent};
use crate::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::loom::sync::{lock, Mutex};
use crate::loom::{AtomicBool, Ordering};
use crate::metrics::Figures;
use crate::wait::Wake;

/// A waiting party's place in one of the lines: its entry's id.
#[derive(Debug, Default)]
pub(crate) struct ZeroReg {
    id: Option<u64>,
}

pub(crate) struct ZeroQueue<T> {
    lines: Mutex<Lines<T>>,
    /// Mirrors `Lines::closed`, for `is_closed` without the lock.
    closed: AtomicBool,
}

struct Lines<T> {
    closed: bool,
    aborted: bool,
    next_id: u64,
    /// Waiting senders' offers, oldest first.
    senders: VecDeque<Offer<T>>,
    /// Values sent to waiting receivers, for them to take, oldest first.
    transit: VecDeque<T>,
    /// Waiting receivers, oldest first.
    receivers: VecDeque<Receiving>,
    /// Reservations waiting for a receiver.
    reservers: VecDeque<(u64, Waker)>,
    /// Outstanding permits: each speaks for one waiting receiver.
    claims: usize,
    /// Values a receiver took (plus values in transit an abort discarded).
    sent: u64,
    /// Values in transit discarded by an abort.
    discarded: u64,
}

struct Offer<T> {
    id: u64,
    value: T,
    waker: Waker,
}

struct Receiving {
    id: u64,
    waker: Waker,
    /// A parked thread (it always acts on a wake-up); else a future (it may be forgotten).
    thread: bool,
    /// Woken for a value since it last polled.
    woken: bool,
}

impl<T> fmt::Debug for ZeroQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = lock(&self.lines);
        f.debug_struct("ZeroQueue")
            .field("closed", &lines.closed)
            .field("waiting_senders", &lines.senders.len())
            .field("waiting_receivers", &lines.receivers.len())
            .field("in_transit", &lines.transit.len())
            .field("permits", &lines.claims)
            .finish()
    }
}

impl<T> Lines<T> {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Waiting receivers not spoken for by a permit or a value in transit.
    fn ready(&self) -> bool {
        self.receivers.len() > self.claims + self.transit.len()
    }

    /// Puts `value` in transit and returns the receivers to wake for it: the first one not
    /// yet woken, and, if that one is a future (it may be forgotten), the next as a backup.
    fn send(&mut self, value: T) -> Pair {
        self.transit.push_back(value);
        self.wake_one()
    }

    fn wake_one(&mut self) -> Pair {
        let mut wakers = Pair::default();
        for (r, slot) in self
            .receivers
            .iter_mut()
            .filter(|r| !r.woken)
            .zip(&mut wakers)
        {
            r.woken = true;
            *slot = Some(r.waker.clone());
            if r.thread {
                break;
            }
        }
        wakers
    }

    /// Takes a value for a receiver: one in transit, else the oldest offer (not once closed:
    /// a waiting send fails once the queue closes). Returns the sender's waker, if any.
    fn take(&mut self) -> Option<(T, Option<Waker>)> {
        let taken = match self.transit.pop_front() {
            Some(v) => (v, None),
            None if self.closed => return None,
            None => {
                let offer = self.senders.pop_front()?;
                (offer.value, Some(offer.waker))
            }
        };
        self.sent += 1;
        Some(taken)
    }

    /// Whether a receive could take a value now (see [`take`](Self::take)).
    fn takeable(&self) -> bool {
        !self.transit.is_empty() || (!self.closed && !self.senders.is_empty())
    }

    /// The last permit after a close is gone: once what is in transit is taken, receives
    /// report `Closed`, so every receiver is woken (one takes a value, the others see the
    /// end; a receiver woken for it polls either before the take or after).
    fn end_of_permits(&self) -> bool {
        self.closed && self.claims == 0
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.receivers.iter().position(|r| r.id == id)
    }

    /// Nothing left to receive, and nothing to come: closed, no value in transit, and no
    /// permit outstanding.
    fn drained(&self) -> bool {
        self.closed && self.transit.is_empty() && self.claims == 0
    }

    /// Every reservation waiting for a receiver. All, not one: a reservation may have been
    /// woken before and never polled again (a cancelled `Sink` send leaves its registration
    /// in the sender), and would absorb the wake-up.
    fn reservers_to_wake(&self) -> Vec<Waker> {
        self.reservers.iter().map(|(_, w)| w.clone()).collect()
    }

    /// The reservations to wake after a receive took a value or waits: a receiver not in
    /// line (`try_recv`, a first poll) taking a value in transit leaves a waiting receiver
    /// free, and a receiver that waits may be one nobody was woken for (its place was kept
    /// by a `Stream` it stopped polling for a while).
    fn reservers_if_ready(&self) -> Vec<Waker> {
        if !self.reservers.is_empty() && self.ready() {
            self.reservers_to_wake()
        } else {
            Vec::new()
        }
    }

    fn all_receivers(&self) -> Vec<Waker> {
        self.receivers.iter().map(|r| r.waker.clone()).collect()
    }
}

/// Up to two receivers to wake (no allocation on the hand-off path).
type Pair = [Option<Waker>; 2];

fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

fn wake_pair(wakers: Pair) {
    wake_all(wakers.into_iter().flatten());
}

impl<T> ZeroQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            lines: Mutex::new(Lines {
                closed: false,
                aborted: false,
                next_id: 0,
                senders: VecDeque::new(),
                transit: VecDeque::new(),
                receivers: VecDeque::new(),
                reservers: VecDeque::new(),
                claims: 0,
                sent: 0,
                discarded: 0,
            }),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Ordering: SeqCst, in the order of `close` and the `closed()` futures' checks.
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn figures(&self) -> Figures {
        let lines = lock(&self.lines);
        Figures {
            pushed: lines.sent,
            taken: lines.sent,
            discarded: lines.discarded,
            range: 0,
            high_water: 0,
            len: 0,
            capacity: 0,
        }
    }

    /// Closes; wakes every waiting party. With `abort`, values in transit are discarded and
    /// permits fail. Returns `(closed by this call, discarded)`.
    pub(crate) fn close(&self, abort: bool) -> (bool, usize) {
        let (first, wakers, dropped) = {
            let mut lines = lock(&self.lines);
            let first = !lines.closed;
            lines.closed = true;
            // Ordering: SeqCst, see `is_closed`.
            self.closed.store(true, Ordering::SeqCst);
            let mut dropped = VecDeque::new();
            if abort {
                lines.aborted = true;
                lines.claims = 0;
                dropped = core::mem::take(&mut lines.transit);
                let n = dropped.len() as u64;
                lines.sent += n;
                lines.discarded += n;
            }
            let mut wakers: Vec<Waker> = lines.senders.iter().map(|o| o.waker.clone()).collect();
            wakers.extend(lines.all_receivers());
            wakers.extend(lines.reservers.drain(..).map(|(_, w)| w));
            (first, wakers, dropped)
        };
        let n = dropped.len();
        drop(dropped);
        wake_all(wakers);
        (first, n)
    }

    pub(crate) fn try_send(&self, value: T) -> Attempt<T> {
        let mut lines = lock(&self.lines);
        if lines.closed {
            return Attempt::Closed(value);
        }
        if !lines.ready() {
            return Attempt::Full(value);
        }
        let wakers = lines.send(value);
        drop(lines);
        wake_pair(wakers);
        Attempt::Sent(Sent::Queued)
    }

    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, T>> {
        let mut lines = lock(&self.lines);
        if let Some(id) = reg.id {
            let Some(p) = lines.senders.iter().position(|o| o.id == id) else {
                // A receiver took our offer.
                reg.id = None;
                return Poll::Ready(Ok(Sent::Queued));
            };
            if lines.closed {
                reg.id = None;
                let offer = lines.senders.remove(p);
                drop(lines);
                return match offer {
                    Some(o) => Poll::Ready(Err(o.value)),
                    None => Poll::Ready(Ok(Sent::Queued)),
                };
            }
            let o = &mut lines.senders[p];
            let old = (!o.waker.will_wake(wake.waker))
                .then(|| core::mem::replace(&mut o.waker, wake.waker.clone()));
            drop(lines);
            drop(old);
            return Poll::Pending;
        }
        let Some(v) = value.take() else {
            return Poll::Pending;
        };
        if lines.closed {
            return Poll::Ready(Err(v));
        }
        if lines.ready() {
            let wakers = lines.send(v);
            drop(lines);
            wake_pair(wakers);
            return Poll::Ready(Ok(Sent::Queued));
        }
        // No receiver free for it: wait in line, for a receiver to take the offer.
        let id = lines.id();
        lines.senders.push_back(Offer {
            id,
            value: v,
            waker: wake.waker.clone(),
        });
        reg.id = Some(id);
        // A receiver waiting for a permit's value, or a forgotten future, may be first in
        // line; wake one to pull the offer.
        let wakers = lines.wake_one();
        drop(lines);
        wake_pair(wakers);
        Poll::Pending
    }

    /// Gives up a waiting send: the value back into `value` if no receiver took it yet.
    pub(crate) fn cancel_send(&self, reg: &mut ZeroReg, value: &mut Option<T>) {
        let Some(id) = reg.id.take() else { return };
        let mut lines = lock(&self.lines);
        if let Some(p) = lines.senders.iter().position(|o| o.id == id) {
            *value = lines.senders.remove(p).map(|o| o.value);
        }
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut lines = lock(&self.lines);
        if lines.aborted {
            return Err(TryRecvError::Closed);
        }
        match lines.take() {
            Some((v, sender)) => {
                let reservers = lines.reservers_if_ready();
                drop(lines);
                if let Some(w) = sender {
                    w.wake();
                }
                wake_all(reservers);
                Ok(v)
            }
            None if lines.drained() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    pub(crate) fn poll_recv(
        &self,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<T, RecvError>> {
        let mut lines = lock(&self.lines);
        let mine = reg.id.and_then(|id| lines.position(id));
        if lines.aborted {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            return Poll::Ready(Err(RecvError));
        }
        if let Some((v, sender)) = lines.take() {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            let reservers = lines.reservers_if_ready();
            drop(lines);
            if let Some(w) = sender {
                w.wake();
            }
            wake_all(reservers);
            return Poll::Ready(Ok(v));
        }
        if lines.drained() {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            return Poll::Ready(Err(RecvError));
        }
        let mut old = None;
        match mine {
            Some(p) => {
                let r = &mut lines.receivers[p];
                r.thread = wake.thread;
                r.woken = false;
                if !r.waker.will_wake(wake.waker) {
                    old = Some(core::mem::replace(&mut r.waker, wake.waker.clone()));
                }
            }
            None => {
                let id = lines.id();
                lines.receivers.push_back(Receiving {
                    id,
                    waker: wake.waker.clone(),
                    thread: wake.thread,
                    woken: false,
                });
                reg.id = Some(id);
            }
        }
        // A reservation may be waiting for this receiver.
        let reservers = lines.reservers_if_ready();
        drop(lines);
        drop(old);
        wake_all(reservers);
        Poll::Pending
    }

    /// Gives up a waiting receive. A wake-up it took for a value in transit is passed on.
    /// (Receivers pull, so nothing was handed to it.)
    pub(crate) fn cancel_recv(&self, reg: &mut ZeroReg) {
        let Some(id) = reg.id.take() else { return };
        let mut lines = lock(&self.lines);
        let Some(p) = lines.position(id) else { return };
        let Some(r) = lines.receivers.remove(p) else {
            return;
        };
        // Woken for a value (in transit, or an offer while open): someone else takes it.
        let next = if r.woken && lines.takeable() {
            lines.wake_one()
        } else {
            Pair::default()
        };
        drop(lines);
        drop(r.waker);
        wake_pair(next);
    }

    pub(crate) fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        let mut lines = lock(&self.lines);
        if lines.closed {
            return Err(TrySendError::Closed(()));
        }
        if !lines.ready() {
            return Err(TrySendError::Full(()));
        }
        lines.claims += 1;
        Ok(())
    }

    pub(crate) fn poll_reserve(
        &self,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        let mut lines = lock(&self.lines);
        if let Some(id) = reg.id.take() {
            if let Some(p) = lines.reservers.iter().position(|(i, _)| *i == id) {
                lines.reservers.remove(p);
            }
        }
        if lines.closed {
            return Poll::Ready(Err(SendError::Closed(())));
        }
        if lines.ready() {
            lines.claims += 1;
            return Poll::Ready(Ok(()));
        }
        let id = lines.id();
        lines.reservers.push_back((id, wake.waker.clone()));
        reg.id = Some(id);
        Poll::Pending
    }

    pub(crate) fn cancel_reserve(&self, reg: &mut ZeroReg) {
        let Some(id) = reg.id.take() else { return };
        let mut lines = lock(&self.lines);
        if let Some(p) = lines.reservers.iter().position(|(i, _)| *i == id) {
            lines.reservers.remove(p);
        }
        // We may have been woken for a ready receiver: pass that on.
        let next = if lines.ready() {
            lines.reservers_to_wake()
        } else {
            Vec::new()
        };
        drop(lines);
        wake_all(next);
    }

    /// A permit's send: the value goes in transit, for the receiver the permit spoke for (or
    /// the next). Fails (value back) only after an abort.
    pub(crate) fn send_reserved(&self, value: T) -> Result<Sent<T>, T> {
        let mut lines = lock(&self.lines);
        if lines.aborted {
            return Err(value);
        }
        lines.claims -= 1;
        if lines.end_of_permits() {
            lines.transit.push_back(value);
            let wakers = lines.all_receivers();
            drop(lines);
            wake_all(wakers);
            return Ok(Sent::Queued);
        }
        let wakers = lines.send(value);
        drop(lines);
        wake_pair(wakers);
        Ok(Sent::Queued)
    }

    /// A permit dropped unused: the receiver it spoke for is free again.
    pub(crate) fn release_reserved(&self) {
        let mut lines = lock(&self.lines);
        if lines.aborted {
            return;
        }
        lines.claims -= 1;
        let mut wakers = lines.reservers_to_wake();
        if lines.end_of_permits() {
            wakers.extend(lines.all_receivers());
        }
        drop(lines);
        wake_all(wakers);
    }
}
