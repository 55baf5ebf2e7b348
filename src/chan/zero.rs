//! The rendezvous flavor: an MPMC queue of capacity 0 (Go's unbuffered channel).
//!
//! A send completes only when a receiver has the value. Waiting senders and receivers stand
//! in two lines under one mutex (there is no fast path to protect: every hand-off needs a
//! waiting party), and the value moves directly from one party to the other:
//!
//! - A sender that finds a receiver waiting *hands* it the value (puts it in the receiver's
//!   entry and wakes it): the send is done. `try_send` does only this.
//! - Otherwise a waiting sender puts an *offer* (its value) in line, and a receiver that
//!   comes takes the oldest offer; the sender's next poll finds its offer gone: sent. A
//!   sender that gives up takes its offer back.
//! - A permit (`reserve`) *claims* a waiting receiver: no other send is handed to it, and
//!   the permit's send hands it the value.
//!
//! A receive future can be dropped after a value was handed to it, or while a permit claims
//! it. Then the value goes to the next waiting receiver (or the claim moves to it); if none
//! waits, the value is kept *in transit*, and the next receive takes it before any offer.
//! Values in transit are never more than the receivers that were waiting, and they are not
//! queued values: `len()` is always 0. A receive that gives up at its deadline takes a
//! value already handed to it instead (it is received).
//!
//! `sent` counts a value when a receiver takes it (an abort that discards a value in
//! transit counts it as sent and discarded). Wakers are woken and values dropped outside
//! the lock.
//!
//! Progress: every operation takes the mutex briefly; waiting parties park or return
//! `Pending`.

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
    /// Values whose receiver went away after the hand-off (see the module docs).
    transit: VecDeque<T>,
    /// Waiting receivers, oldest first.
    receivers: VecDeque<Receiving<T>>,
    /// Reservations waiting for a receiver.
    reservers: VecDeque<(u64, Waker)>,
    /// Values a receiver took (plus values in transit an abort discarded).
    sent: u64,
    /// Values in transit or handed, discarded by an abort.
    discarded: u64,
}

struct Offer<T> {
    id: u64,
    value: T,
    waker: Waker,
}

struct Receiving<T> {
    id: u64,
    waker: Waker,
    /// The permit's claim on it, if any.
    claim: Option<u64>,
    /// A value handed to it, not picked up yet.
    handed: Option<T>,
}

impl<T> Receiving<T> {
    fn free(&self) -> bool {
        self.claim.is_none() && self.handed.is_none()
    }
}

impl<T> fmt::Debug for ZeroQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = lock(&self.lines);
        f.debug_struct("ZeroQueue")
            .field("closed", &lines.closed)
            .field("waiting_senders", &lines.senders.len())
            .field("waiting_receivers", &lines.receivers.len())
            .finish()
    }
}

impl<T> Lines<T> {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Hands `value` to the longest-waiting free receiver; returns its waker (to wake
    /// outside the lock), or the value back.
    fn hand(&mut self, value: T) -> Result<Waker, T> {
        match self.receivers.iter_mut().find(|r| r.free()) {
            Some(r) => {
                r.handed = Some(value);
                Ok(r.waker.clone())
            }
            None => Err(value),
        }
    }

    /// Hands `value` on, or keeps it in transit.
    fn pass_on(&mut self, value: T) -> Option<Waker> {
        match self.hand(value) {
            Ok(w) => Some(w),
            Err(value) => {
                self.transit.push_back(value);
                None
            }
        }
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

    fn position(&self, id: u64) -> Option<usize> {
        self.receivers.iter().position(|r| r.id == id)
    }

    /// Moves `claim` to the longest-waiting free receiver, if any (else the permit's send
    /// finds no receiver and keeps its value in transit).
    fn move_claim(&mut self, claim: u64) -> Option<Waker> {
        let r = self.receivers.iter_mut().find(|r| r.free())?;
        r.claim = Some(claim);
        Some(r.waker.clone())
    }

    /// A reservation waiting for a receiver, to wake (one became free).
    fn reserver(&self) -> Option<Waker> {
        self.reservers.front().map(|(_, w)| w.clone())
    }
}

fn wake_opt(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
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

    /// Closes; wakes every waiting party. With `abort`, values handed or in transit are
    /// discarded. Returns `(closed by this call, discarded)`.
    pub(crate) fn close(&self, abort: bool) -> (bool, usize) {
        let (first, wakers, dropped) = {
            let mut lines = lock(&self.lines);
            let first = !lines.closed;
            lines.closed = true;
            // Ordering: SeqCst, see `is_closed`.
            self.closed.store(true, Ordering::SeqCst);
            let mut dropped = Vec::new();
            if abort {
                lines.aborted = true;
                dropped.extend(lines.transit.drain(..));
                for r in lines.receivers.iter_mut() {
                    r.claim = None;
                    dropped.extend(r.handed.take());
                }
                let n = dropped.len() as u64;
                lines.sent += n;
                lines.discarded += n;
            }
            let mut wakers: Vec<Waker> = lines.senders.iter().map(|o| o.waker.clone()).collect();
            wakers.extend(lines.receivers.iter().map(|r| r.waker.clone()));
            wakers.extend(lines.reservers.drain(..).map(|(_, w)| w));
            (first, wakers, dropped)
        };
        let n = dropped.len();
        drop(dropped);
        wakers.into_iter().for_each(Waker::wake);
        (first, n)
    }

    pub(crate) fn try_send(&self, value: T) -> Attempt<T> {
        let mut lines = lock(&self.lines);
        if lines.closed {
            return Attempt::Closed(value);
        }
        match lines.hand(value) {
            Ok(waker) => {
                drop(lines);
                waker.wake();
                Attempt::Sent(Sent::Queued)
            }
            Err(value) => Attempt::Full(value),
        }
    }

    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<Sent<T>, T>> {
        // Cloned before locking (a waker's clone is executor code); dropped after unlocking.
        let fresh = wake.waker.clone();
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
            let old =
                (!o.waker.will_wake(wake.waker)).then(|| core::mem::replace(&mut o.waker, fresh));
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
        match lines.hand(v) {
            Ok(receiver) => {
                drop(lines);
                receiver.wake();
                Poll::Ready(Ok(Sent::Queued))
            }
            Err(v) => {
                // Nobody waits to receive (else we would have handed it): wait in line.
                let id = lines.id();
                lines.senders.push_back(Offer {
                    id,
                    value: v,
                    waker: fresh,
                });
                reg.id = Some(id);
                Poll::Pending
            }
        }
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
                drop(lines);
                wake_opt(sender);
                Ok(v)
            }
            None if lines.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    pub(crate) fn poll_recv(
        &self,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<T, RecvError>> {
        let fresh = wake.waker.clone();
        let mut lines = lock(&self.lines);
        let mine = reg.id.and_then(|id| lines.position(id));
        if lines.aborted {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            return Poll::Ready(Err(RecvError));
        }
        if let Some(p) = mine {
            if let Some(v) = lines.receivers[p].handed.take() {
                lines.receivers.remove(p);
                lines.sent += 1;
                reg.id = None;
                return Poll::Ready(Ok(v));
            }
            if lines.receivers[p].claim.is_some() {
                // A permit will hand us a value: keep waiting for it.
                let r = &mut lines.receivers[p];
                let old = (!r.waker.will_wake(wake.waker))
                    .then(|| core::mem::replace(&mut r.waker, fresh));
                drop(lines);
                drop(old);
                return Poll::Pending;
            }
        }
        if let Some((v, sender)) = lines.take() {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            drop(lines);
            wake_opt(sender);
            return Poll::Ready(Ok(v));
        }
        if lines.closed {
            if let Some(p) = mine {
                lines.receivers.remove(p);
            }
            reg.id = None;
            return Poll::Ready(Err(RecvError));
        }
        let mut old = None;
        let mut reserver = None;
        match mine {
            Some(p) => {
                let r = &mut lines.receivers[p];
                if !r.waker.will_wake(wake.waker) {
                    old = Some(core::mem::replace(&mut r.waker, fresh));
                }
            }
            None => {
                let id = lines.id();
                lines.receivers.push_back(Receiving {
                    id,
                    waker: fresh,
                    claim: None,
                    handed: None,
                });
                reg.id = Some(id);
                // A reservation may wait for a receiver.
                reserver = lines.reserver();
            }
        }
        drop(lines);
        drop(old);
        wake_opt(reserver);
        Poll::Pending
    }

    /// Gives up a waiting receive. A value handed to it is returned with `take` (received),
    /// else passed on; a claim on it moves to the next receiver.
    pub(crate) fn cancel_recv(&self, reg: &mut ZeroReg, take: bool) -> Option<T> {
        let id = reg.id.take()?;
        let mut lines = lock(&self.lines);
        let p = lines.position(id)?;
        let r = lines.receivers.remove(p)?;
        let mut next = None;
        let mut received = None;
        if let Some(claim) = r.claim {
            next = lines.move_claim(claim);
        }
        if let Some(v) = r.handed {
            if take {
                lines.sent += 1;
                received = Some(v);
            } else {
                next = lines.pass_on(v);
            }
        }
        drop(lines);
        drop(r.waker);
        wake_opt(next);
        received
    }

    pub(crate) fn try_reserve(&self) -> Result<u64, TrySendError<()>> {
        let mut lines = lock(&self.lines);
        if lines.closed {
            return Err(TrySendError::Closed(()));
        }
        let claim = lines.id();
        match lines.receivers.iter_mut().find(|r| r.free()) {
            Some(r) => {
                r.claim = Some(claim);
                Ok(claim)
            }
            None => Err(TrySendError::Full(())),
        }
    }

    pub(crate) fn poll_reserve(
        &self,
        reg: &mut ZeroReg,
        wake: &Wake<'_>,
    ) -> Poll<Result<u64, SendError<()>>> {
        let fresh = wake.waker.clone();
        let mut lines = lock(&self.lines);
        if let Some(id) = reg.id.take() {
            if let Some(p) = lines.reservers.iter().position(|(i, _)| *i == id) {
                lines.reservers.remove(p);
            }
        }
        if lines.closed {
            return Poll::Ready(Err(SendError::Closed(())));
        }
        let claim = lines.id();
        if let Some(r) = lines.receivers.iter_mut().find(|r| r.free()) {
            r.claim = Some(claim);
            return Poll::Ready(Ok(claim));
        }
        lines.reservers.push_back((claim, fresh));
        reg.id = Some(claim);
        Poll::Pending
    }

    pub(crate) fn cancel_reserve(&self, reg: &mut ZeroReg) {
        let Some(id) = reg.id.take() else { return };
        let mut lines = lock(&self.lines);
        let was_first = lines.reservers.front().is_some_and(|(i, _)| *i == id);
        if let Some(p) = lines.reservers.iter().position(|(i, _)| *i == id) {
            lines.reservers.remove(p);
        }
        // We may have been woken for a free receiver: pass that on.
        let next = (was_first && lines.receivers.iter().any(Receiving::free))
            .then(|| lines.reserver())
            .flatten();
        drop(lines);
        wake_opt(next);
    }

    /// A permit's send: hands `value` to the receiver its claim is on, or, if that receiver
    /// went away with no other to take the claim, keeps it in transit. Fails (value back)
    /// only after an abort.
    pub(crate) fn send_reserved(&self, claim: u64, value: T) -> Result<Sent<T>, T> {
        let mut lines = lock(&self.lines);
        if lines.aborted {
            return Err(value);
        }
        let waker = match lines.receivers.iter_mut().find(|r| r.claim == Some(claim)) {
            Some(r) => {
                r.claim = None;
                r.handed = Some(value);
                Some(r.waker.clone())
            }
            None => lines.pass_on(value),
        };
        drop(lines);
        wake_opt(waker);
        Ok(Sent::Queued)
    }

    /// A permit dropped unused: its receiver is free again (and is woken: the queue may have
    /// closed meanwhile).
    pub(crate) fn release_reserved(&self, claim: u64) {
        let mut lines = lock(&self.lines);
        let waker = lines
            .receivers
            .iter_mut()
            .find(|r| r.claim == Some(claim))
            .map(|r| {
                r.claim = None;
                r.waker.clone()
            });
        // Another reservation may take this receiver.
        let next = waker.as_ref().and_then(|_| lines.reserver());
        drop(lines);
        wake_opt(waker);
        wake_opt(next);
    }
}
