//! The rendezvous flavor: an MPMC queue of capacity 0 (Go's unbuffered channel).
//!
//! A send completes only when a receiver takes the value. Senders and receivers that wait
//! stand in two lines under one mutex (there is no fast path to protect: every hand-off
//! needs a waiting party); the value moves directly from one party to the other:
//!
//! - a receiver that finds a sender waiting takes the value out of that sender's offer, and
//!   the sender's next poll sees its offer gone: sent;
//! - a sender that finds a receiver waiting hands the value to it (`handed`), and the
//!   receiver's next poll picks it up;
//! - otherwise the party waits in its line (a `try_` operation fails instead).
//!
//! A permit (`reserve`) claims a waiting receiver: the receiver stays waiting until the
//! permit hands it a value, or, if the permit is dropped, goes back to the head of its line.
//!
//! Cancellation: a sender that gives up takes its offer back (if no receiver took it yet).
//! A receiver that gives up after a value was handed to it passes the value to the next
//! waiting receiver or, if none waits, keeps it in `orphans`, which the next receive takes
//! first: a value is never lost. Wakers are woken and values dropped outside the lock.

use core::fmt;
use core::task::{Poll, Waker};
use std::collections::VecDeque;

use crate::error::TryRecvError;
use crate::loom::sync::{lock, Mutex};

use super::Attempt;

pub(crate) struct Zero<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    closed: bool,
    /// Aborted: values handed over but not picked up were discarded; receivers see `Closed`.
    aborted: bool,
    next_id: u64,
    /// Senders waiting with their value, oldest first.
    senders: VecDeque<Offer<T>>,
    /// Receivers waiting for a value, oldest first.
    receivers: VecDeque<Waiting>,
    /// Receivers claimed by a permit (`reserve`), which will hand them a value.
    claimed: Vec<Waiting>,
    /// Values handed to a waiting receiver and not yet picked up, by receiver id.
    handed: Vec<(u64, T)>,
    /// Values whose receiver gave up after the hand-off.
    orphans: VecDeque<T>,
    /// Values that completed a send (taken from an offer, or handed to a receiver).
    sent: usize,
    /// Values that left the queue: picked up by a receiver, or discarded.
    taken: usize,
}

/// A receiver standing in line.
struct Waiting {
    id: u64,
    waker: Waker,
    /// A parked thread's waker: it always acts on a hand-off. A future might be forgotten.
    thread: bool,
}

struct Offer<T> {
    id: u64,
    value: T,
    waker: Waker,
}

/// A waiting party's place in one of the lines.
#[derive(Debug, Default)]
pub(crate) struct ZeroReg {
    id: Option<u64>,
}

impl<T> fmt::Debug for Zero<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("Zero")
            .field("closed", &inner.closed)
            .field("waiting_senders", &inner.senders.len())
            .field("waiting_receivers", &inner.receivers.len())
            .finish()
    }
}

impl<T> Inner<T> {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Hands `value` to the longest-waiting receiver (with `threads_only`, the
    /// longest-waiting parked thread), if any; returns the waker to wake (outside the lock),
    /// or the value back.
    fn hand_to_receiver(&mut self, value: T, threads_only: bool) -> Result<Waker, T> {
        let position = if threads_only {
            self.receivers.iter().position(|w| w.thread)
        } else if self.receivers.is_empty() {
            None
        } else {
            Some(0)
        };
        match position.and_then(|p| self.receivers.remove(p)) {
            Some(w) => {
                self.handed.push((w.id, value));
                Ok(w.waker)
            }
            None => Err(value),
        }
    }

    /// Wakes the first two receivers in line, leaving them there: a waiting sender's offer
    /// is for them to take. Two, because a receive future may be forgotten (see the `wait`
    /// module docs).
    fn wakers_for_offer(&self) -> Vec<Waker> {
        self.receivers
            .iter()
            .take(2)
            .map(|w| w.waker.clone())
            .collect()
    }

    /// Takes a value for a receiver: an orphan first, then a waiting sender's offer (not
    /// once closed: a send completes only when taken, and sends fail once closed).
    /// Returns the value and the sender's waker to wake, if any.
    fn take_value(&mut self) -> Option<(T, Option<Waker>)> {
        if let Some(v) = self.orphans.pop_front() {
            self.taken += 1;
            return Some((v, None));
        }
        if self.closed {
            return None;
        }
        let offer = self.senders.pop_front()?;
        self.sent += 1;
        self.taken += 1;
        Some((offer.value, Some(offer.waker)))
    }

    fn remove_receiver(&mut self, id: u64) -> bool {
        match self.receivers.iter().position(|w| w.id == id) {
            Some(p) => {
                self.receivers.remove(p);
                true
            }
            None => false,
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<T> Zero<T> {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                closed: false,
                aborted: false,
                next_id: 0,
                senders: VecDeque::new(),
                receivers: VecDeque::new(),
                claimed: Vec::new(),
                handed: Vec::new(),
                orphans: VecDeque::new(),
                sent: 0,
                taken: 0,
            }),
        }
    }

    /// Hands `value` to a receiver that is waiting now, if any.
    pub(crate) fn try_send(&self, value: T) -> Attempt<T> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Attempt::Closed(value);
        }
        // `try_send` cannot wait for a receiver to pull, so it hands the value to any
        // receiver; a receive future holds it until it is polled (or dropped: then it goes
        // to the next receiver).
        match inner.hand_to_receiver(value, false) {
            Ok(waker) => {
                inner.sent += 1;
                drop(inner);
                waker.wake();
                Attempt::Pushed
            }
            Err(value) => Attempt::Full(value),
        }
    }

    /// The poll routine of a waiting send. `Err(value)`: the queue closed before a receiver
    /// took the value. `value` is `None` while our offer is in line.
    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        reg: &mut ZeroReg,
        waker: &Waker,
    ) -> Poll<Result<(), T>> {
        // Cloned before locking (a waker's clone is executor code); dropped after unlocking.
        let fresh = waker.clone();
        let mut inner = lock(&self.inner);
        if let Some(id) = reg.id {
            return match inner.senders.iter().position(|o| o.id == id) {
                // A receiver took our offer: sent.
                None => {
                    reg.id = None;
                    Poll::Ready(Ok(()))
                }
                Some(p) if inner.closed => {
                    reg.id = None;
                    let offer = inner.senders.remove(p).expect("position is valid");
                    drop(inner);
                    Poll::Ready(Err(offer.value))
                }
                Some(p) => {
                    let offer = &mut inner.senders[p];
                    if !offer.waker.will_wake(waker) {
                        let old = core::mem::replace(&mut offer.waker, fresh);
                        drop(inner);
                        drop(old);
                    }
                    Poll::Pending
                }
            };
        }
        let v = value.take().expect("send polled after completion");
        if inner.closed {
            return Poll::Ready(Err(v));
        }
        // Hand it straight to a parked thread (it will act); otherwise put the offer in line
        // and wake receive futures to pull it, so a forgotten future cannot sit on it.
        match inner.hand_to_receiver(v, true) {
            Ok(receiver) => {
                inner.sent += 1;
                drop(inner);
                receiver.wake();
                Poll::Ready(Ok(()))
            }
            Err(v) => {
                let id = inner.id();
                inner.senders.push_back(Offer {
                    id,
                    value: v,
                    waker: fresh,
                });
                reg.id = Some(id);
                let receivers = inner.wakers_for_offer();
                drop(inner);
                receivers.into_iter().for_each(Waker::wake);
                Poll::Pending
            }
        }
    }

    /// Gives up a waiting send: the value back if no receiver took it yet.
    pub(crate) fn cancel_send(&self, reg: &mut ZeroReg) -> Option<T> {
        let id = reg.id.take()?;
        let mut inner = lock(&self.inner);
        let p = inner.senders.iter().position(|o| o.id == id)?;
        let offer = inner.senders.remove(p).expect("position is valid");
        drop(inner);
        Some(offer.value)
    }

    /// Takes a value from a waiting sender (or an orphan), if any.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = lock(&self.inner);
        match inner.take_value() {
            Some((v, sender)) => {
                drop(inner);
                wake(sender);
                Ok(v)
            }
            None if inner.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The poll routine of a waiting receive.
    pub(crate) fn poll_recv(&self, reg: &mut ZeroReg, waker: &Waker) -> Poll<Result<T, ()>> {
        // Cloned before locking (a waker's clone is executor code); dropped after unlocking.
        let fresh = waker.clone();
        let thread = crate::wait::is_thread_waker(waker);
        let mut inner = lock(&self.inner);
        if inner.aborted {
            if let Some(id) = reg.id.take() {
                inner.remove_receiver(id);
                if let Some(p) = inner.claimed.iter().position(|w| w.id == id) {
                    inner.claimed.swap_remove(p);
                }
            }
            return Poll::Ready(Err(()));
        }
        if let Some(id) = reg.id {
            if let Some(p) = inner.handed.iter().position(|(rid, _)| *rid == id) {
                reg.id = None;
                let (_, v) = inner.handed.swap_remove(p);
                inner.taken += 1;
                return Poll::Ready(Ok(v));
            }
            if let Some(claimed) = inner.claimed.iter_mut().find(|w| w.id == id) {
                // A permit will hand us a value: keep waiting for it.
                let old = (!claimed.waker.will_wake(waker))
                    .then(|| core::mem::replace(&mut claimed.waker, fresh));
                drop(inner);
                drop(old);
                return Poll::Pending;
            }
        }
        if let Some((v, sender)) = inner.take_value() {
            if let Some(id) = reg.id.take() {
                inner.remove_receiver(id);
            }
            drop(inner);
            wake(sender);
            return Poll::Ready(Ok(v));
        }
        if inner.closed {
            if let Some(id) = reg.id.take() {
                inner.remove_receiver(id);
            }
            return Poll::Ready(Err(()));
        }
        let mut old = None;
        match reg
            .id
            .and_then(|id| inner.receivers.iter_mut().find(|w| w.id == id))
        {
            Some(waiting) => {
                if !waiting.waker.will_wake(waker) {
                    old = Some(core::mem::replace(&mut waiting.waker, fresh));
                }
            }
            None => {
                let id = inner.id();
                inner.receivers.push_back(Waiting {
                    id,
                    waker: fresh,
                    thread,
                });
                reg.id = Some(id);
            }
        }
        drop(inner);
        drop(old);
        Poll::Pending
    }

    /// Gives up a waiting receive. A value already handed to it goes to the next waiting
    /// receiver, or is kept for the next receive.
    pub(crate) fn cancel_recv(&self, reg: &mut ZeroReg) {
        let Some(id) = reg.id.take() else { return };
        let mut inner = lock(&self.inner);
        if inner.remove_receiver(id) {
            return;
        }
        if let Some(p) = inner.claimed.iter().position(|w| w.id == id) {
            // The permit's value will go to the next receiver instead.
            inner.claimed.swap_remove(p);
            return;
        }
        let Some(p) = inner.handed.iter().position(|(rid, _)| *rid == id) else {
            return;
        };
        let (_, v) = inner.handed.swap_remove(p);
        let next = match inner.hand_to_receiver(v, false) {
            Ok(waker) => Some(waker),
            Err(v) => {
                inner.orphans.push_back(v);
                None
            }
        };
        drop(inner);
        wake(next);
    }

    /// Claims the longest-waiting receiver for a permit. `Err(true)`: closed; `Err(false)`:
    /// no receiver waits.
    pub(crate) fn try_claim(&self) -> Result<u64, bool> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Err(true);
        }
        let waiting = inner.receivers.pop_front().ok_or(false)?;
        let id = waiting.id;
        inner.claimed.push(waiting);
        Ok(id)
    }

    /// A permit's send: hands `value` to the receiver it claimed, or, if that receiver gave
    /// up meanwhile, to the next one (or keeps it for the next receive).
    /// Returns the value back if the queue was aborted meanwhile (the caller discards it).
    pub(crate) fn send_claimed(&self, id: u64, value: T) -> Option<T> {
        let mut inner = lock(&self.inner);
        if inner.aborted {
            return Some(value);
        }
        inner.sent += 1;
        let waker = match inner.claimed.iter().position(|w| w.id == id) {
            Some(p) => {
                let waker = inner.claimed.swap_remove(p).waker;
                inner.handed.push((id, value));
                Some(waker)
            }
            None => match inner.hand_to_receiver(value, false) {
                Ok(waker) => Some(waker),
                Err(value) => {
                    inner.orphans.push_back(value);
                    None
                }
            },
        };
        drop(inner);
        wake(waker);
        None
    }

    /// A permit dropped unused: its receiver goes back to the head of the line, and is
    /// woken (the queue may have closed meanwhile, and `close` does not wake claimed
    /// receivers; otherwise it re-polls and waits again).
    pub(crate) fn release_claimed(&self, id: u64) {
        let mut inner = lock(&self.inner);
        let Some(p) = inner.claimed.iter().position(|w| w.id == id) else {
            return;
        };
        let entry = inner.claimed.swap_remove(p);
        let waker = entry.waker.clone();
        inner.receivers.push_front(entry);
        drop(inner);
        waker.wake();
    }

    /// Closes; wakes every waiting party. Returns `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return false;
        }
        inner.closed = true;
        let senders: Vec<Waker> = inner.senders.iter().map(|o| o.waker.clone()).collect();
        let receivers: Vec<Waiting> = inner.receivers.drain(..).collect();
        drop(inner);
        senders.into_iter().for_each(Waker::wake);
        receivers.into_iter().for_each(|w| w.waker.wake());
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.inner).closed
    }

    /// Closes and drops every value sent but not received (handed to a receiver that has
    /// not picked it up, or orphaned); receivers see `Closed` from now on, and waiting
    /// senders get their value back. Returns how many values were dropped.
    pub(crate) fn abort(&self) -> usize {
        let (handed, orphans, claimed) = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            inner.aborted = true;
            let handed = core::mem::take(&mut inner.handed);
            let orphans = core::mem::take(&mut inner.orphans);
            let claimed = core::mem::take(&mut inner.claimed);
            inner.taken += handed.len() + orphans.len();
            (handed, orphans, claimed)
        };
        let n = handed.len() + orphans.len();
        // Dropped and woken outside the lock: receivers claimed by a permit will not get
        // its value now.
        drop(handed);
        drop(orphans);
        claimed.into_iter().for_each(|w| w.waker.wake());
        n
    }

    /// Values sent but not received yet (handed to a receiver, or orphaned).
    pub(crate) fn len(&self) -> usize {
        let inner = lock(&self.inner);
        inner.handed.len() + inner.orphans.len()
    }

    /// `(sent, taken)` for counters.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.sent, inner.taken)
    }
}
