//! Who sleeps and who wakes.
//!
//! A [`WaitList`] holds the parties waiting for one condition of a queue ("an item arrived",
//! "room appeared"). Every waiting party is a [`Waker`]: a task's own, or, for a blocked
//! thread, one that unparks that thread ([`thread_waker`]). So each operation has one poll
//! routine, written once against a `Waker`, and two drivers: [`block_on`] parks the thread
//! between polls; a future's `poll` passes its `Context`'s waker.
//!
//! # No lost wake-ups
//!
//! Waiting is *register, then re-check*: a poll routine tries its operation, and if it
//! cannot complete, registers its waker and tries once more before returning `Pending`. The
//! party that changes the condition does it first, then calls [`WaitList::notify_one`]. Both
//! sides put a `SeqCst` fence between their write and their read:
//!
//! ```text
//!   waiter                              notifier
//!   register (has_waiters = true)       publish (push an item / free a slot)
//!   fence(SeqCst)                       fence(SeqCst)
//!   re-check the queue                  if has_waiters: wake one
//! ```
//!
//! so either the re-check sees the change or the notifier sees the registration. When nobody
//! waits, notifying costs the fence and one load of `has_waiters`, which sits on its own
//! cache line and is written only when parties start or stop waiting.
//!
//! # Passing wake-ups on
//!
//! A notified waiter is removed from the list. If it then gives up (its future is dropped,
//! or its deadline passes) or completes in the same poll that registered it, the wake-up it
//! received may have been meant for an item it did not take, so it passes the wake-up on to
//! the next waiter. A waiter woken for a later poll that completes has used its wake-up.
//!
//! A future can be woken and then neither polled nor dropped (kept, but forgotten): it
//! would hold the wake-up. So waking a future also wakes the next party in line (a parked
//! thread always acts, so waking one is enough), and a waiter that completes after waiting,
//! and sees more items (or room) left, wakes the next waiter (chaining). A forgotten future
//! then never starves the others.

use core::fmt;
use core::task::{Poll, Waker};
use std::collections::VecDeque;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::loom::sync::{lock, Mutex};
use crate::loom::{fence, AtomicBool, Backoff, Ordering};

/// Parties waiting for one condition.
pub(crate) struct WaitList {
    /// `true` while the list is not empty. Read by every notify; written under `inner`'s lock.
    has_waiters: CachePadded<AtomicBool>,
    inner: Mutex<Waiters>,
    /// Only one party can wait here at a time (an SPSC end waits with `&mut self`), so a
    /// new registration replaces any other: those are stale (their future was forgotten with
    /// `mem::forget`) and would otherwise absorb wake-ups.
    single: bool,
}

struct Waiters {
    /// Waiting parties, longest-waiting first: id, waker, and whether the waker is a
    /// parked thread's (a thread always acts on its wake-up; a future may be forgotten).
    entries: VecDeque<(u64, Waker, bool)>,
    next_id: u64,
}

/// One waiting operation's place in a [`WaitList`]. Owned by the operation (a future, or a
/// blocking call's stack frame), which must [`cancel`](WaitList::cancel) it when it gives up.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    id: Option<u64>,
}

impl Registration {
    pub(crate) const fn new() -> Self {
        Self { id: None }
    }

    /// Whether this operation stands in line (it has waited at least once).
    pub(crate) fn is_registered(&self) -> bool {
        self.id.is_some()
    }
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            // Ordering: Relaxed: informational.
            .field("has_waiters", &self.has_waiters.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl WaitList {
    pub(crate) fn new() -> Self {
        Self::with_parties(false)
    }

    /// A list where only one party ever waits at a time (see the `single` field).
    pub(crate) fn single() -> Self {
        Self::with_parties(true)
    }

    fn with_parties(single: bool) -> Self {
        Self {
            has_waiters: CachePadded::new(AtomicBool::new(false)),
            inner: Mutex::new(Waiters {
                entries: VecDeque::new(),
                next_id: 0,
            }),
            single,
        }
    }

    /// Registers `waker` for the next notification, or refreshes the waker of a registration
    /// still in the list. The caller must then re-check its condition before sleeping.
    pub(crate) fn register(&self, reg: &mut Registration, waker: &Waker) {
        // Cloned before locking: a waker's clone is executor code.
        let fresh = waker.clone();
        let thread = is_thread_waker(waker);
        let mut replaced = None;
        let mut stale = VecDeque::new();
        {
            let mut inner = lock(&self.inner);
            let existing = reg
                .id
                .and_then(|id| inner.entries.iter_mut().find(|(eid, ..)| *eid == id));
            match existing {
                Some((_, current, _)) => {
                    if !current.will_wake(waker) {
                        replaced = Some(core::mem::replace(current, fresh));
                    }
                }
                None => {
                    if self.single {
                        stale = core::mem::take(&mut inner.entries);
                    }
                    let id = inner.next_id;
                    inner.next_id += 1;
                    inner.entries.push_back((id, fresh, thread));
                    reg.id = Some(id);
                    // Ordering: Relaxed under the lock; the fence below orders it before the
                    // caller's re-check.
                    self.has_waiters.store(true, Ordering::Relaxed);
                }
            }
        }
        // Dropped outside the lock: a waker's drop may run executor code.
        drop(replaced);
        drop(stale);
        // Ordering: pairs with the fence in `notify_one`/`notify_all` (see the module docs).
        fence(Ordering::SeqCst);
    }

    /// Removes the registration, if any. Returns `true` if it had been notified (removed by
    /// a notify) since it was registered.
    pub(crate) fn unregister(&self, reg: &mut Registration) -> bool {
        let Some(id) = reg.id.take() else {
            return false;
        };
        let removed = {
            let mut inner = lock(&self.inner);
            let position = inner.entries.iter().position(|(eid, ..)| *eid == id);
            let removed = position.and_then(|p| inner.entries.remove(p));
            if inner.entries.is_empty() {
                // Ordering: Relaxed under the lock; a stale `true` only costs a notifier the
                // lock.
                self.has_waiters.store(false, Ordering::Relaxed);
            }
            removed
        };
        // A removed entry means we were not notified; its waker drops outside the lock.
        removed.is_none()
    }

    /// At the start of a poll: if the registration was notified since the last poll, forget
    /// it (this poll's attempt uses the wake-up). A registration still waiting is kept, so it
    /// keeps its place in line.
    pub(crate) fn take_notification(&self, reg: &mut Registration) {
        if let Some(id) = reg.id {
            let inner = lock(&self.inner);
            if !inner.entries.iter().any(|(eid, ..)| *eid == id) {
                reg.id = None;
            }
        }
    }

    /// Gives up a registration: if it had been notified, passes the wake-up on.
    pub(crate) fn cancel(&self, reg: &mut Registration) {
        if self.unregister(reg) {
            self.notify_one();
        }
    }

    /// Wakes the longest-waiting party, if any.
    #[inline]
    pub(crate) fn notify_one(&self) {
        // Ordering: pairs with the fence in `register` (see the module docs).
        fence(Ordering::SeqCst);
        // Ordering: Relaxed after the fence.
        if self.has_waiters.load(Ordering::Relaxed) {
            self.notify_one_slow();
        }
    }

    #[cold]
    fn notify_one_slow(&self) {
        let (first, second) = {
            let mut inner = lock(&self.inner);
            let first = inner.entries.pop_front();
            // A future may be woken and then neither polled nor dropped (kept, forgotten):
            // its wake-up would be lost to everyone else. So when the first in line is a
            // future, the next one is woken too (it finds nothing and waits again if the
            // first does act). A parked thread always acts: one wake-up is enough.
            let second = match &first {
                Some((_, _, false)) => inner.entries.pop_front(),
                _ => None,
            };
            if inner.entries.is_empty() {
                // Ordering: Relaxed under the lock.
                self.has_waiters.store(false, Ordering::Relaxed);
            }
            (first, second)
        };
        for (_, waker, _) in first.into_iter().chain(second) {
            waker.wake();
        }
    }

    /// Wakes every waiting party.
    pub(crate) fn notify_all(&self) {
        // Ordering: as in `notify_one`.
        fence(Ordering::SeqCst);
        // Ordering: Relaxed after the fence.
        if !self.has_waiters.load(Ordering::Relaxed) {
            return;
        }
        let entries = {
            let mut inner = lock(&self.inner);
            // Ordering: Relaxed under the lock.
            self.has_waiters.store(false, Ordering::Relaxed);
            core::mem::take(&mut inner.entries)
        };
        for (_, waker, _) in entries {
            waker.wake();
        }
    }
}

/// Whether `waker` is the current thread's parking waker (the blocking driver's).
pub(crate) fn is_thread_waker(waker: &Waker) -> bool {
    waker.will_wake(&crate::loom::thread_waker())
}

/// Spins briefly with backoff, calling `attempt` (which must not register), because a
/// park/unpark round trip costs microseconds and the other side is often about to act.
pub(crate) fn spin<R>(attempt: &mut dyn FnMut() -> Option<R>) -> Option<R> {
    let mut backoff = Backoff::new();
    loop {
        if let Some(r) = attempt() {
            return Some(r);
        }
        if backoff.is_completed() {
            return None;
        }
        backoff.snooze();
    }
}

/// Drives a poll routine on the current thread, parking between polls, until it is ready or
/// `deadline` passes. The routine is called with `Some(waker)` to poll (try, register,
/// re-check), and once with `None` when the deadline has passed: it must then give up its
/// registration and return `Ready` with what to hand back.
///
/// The poll routine tries its operation first, so an operation that can complete at once
/// does so even when the deadline has passed already.
pub(crate) fn block_on<R>(
    deadline: Option<Instant>,
    poll: &mut dyn FnMut(Option<&Waker>) -> Poll<R>,
) -> R {
    let waker = crate::loom::thread_waker();
    loop {
        if let Poll::Ready(r) = poll(Some(&waker)) {
            return r;
        }
        // A spurious unpark (or one left over from an earlier wait) only makes `park` return
        // early; the loop polls again.
        match deadline {
            None => crate::loom::thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    match poll(None) {
                        Poll::Ready(r) => return r,
                        Poll::Pending => unreachable!("giving up always completes"),
                    }
                }
                crate::loom::thread::park_timeout(deadline - now);
            }
        }
    }
}
