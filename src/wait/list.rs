//! Parties waiting for one condition of an MPMC queue ("an item arrived", "room appeared").
//!
//! Each waiting operation owns a [`Registration`] with its own node: the node holds the
//! party's waker and whether it has been notified. The list is a queue of nodes behind a
//! mutex, touched only to enter the line, to be notified and to leave it; a re-poll of a party
//! still in line updates the waker in its node without the lock. Nodes are recycled: one that
//! left the line (notified or withdrawn) goes back to the list's spares under the lock taken
//! for that anyway, and the next registration takes it from there, so waiting allocates only
//! while the number of parties waiting at once grows.
//!
//! # No lost wake-ups
//!
//! A party registers (enters the line, which raises the `waiting` count with a SeqCst store)
//! and then re-checks the queue with SeqCst loads of its indices. A notifier changes the
//! queue with a SeqCst read-modify-write (the ring's claim of `head` or `tail`) and then
//! loads `waiting` (SeqCst). In the single total order of SeqCst operations, either the
//! notifier's load comes after the registration (it sees the waiter) or the waiter's re-check
//! comes after the claim (it sees the change). So notifying costs one load when nobody waits
//! and no fence. (Loom does not model that order for plain `SeqCst` accesses: see
//! [`seq_cst_pair`](crate::loom::seq_cst_pair).)
//!
//! # Forgotten futures
//!
//! A future can be woken and then neither polled nor dropped (kept, but forgotten); it would
//! hold the wake-up. A parked thread always acts on its wake-up, so waking one is enough. When
//! the first in line is a future and none of the futures the previous notify woke is still
//! pending (woken but not yet polled), a notify also wakes the next party as a backup: a
//! forgotten future then never starves the others, and while values flow (the previous
//! notify's future has not run yet) each notify wakes one party. `k` forgotten futures woken
//! by the same notifies can absorb `k` wake-ups. A notified party that gives up without
//! acting (its future is dropped, its deadline passes) passes its wake-up on.

use core::fmt;
use core::task::Waker;
use std::collections::VecDeque;

use crossbeam_utils::CachePadded;

use super::slot::WakerSlot;
use super::Wake;
use crate::loom::sync::{lock, Arc, Mutex};
use crate::loom::{AtomicBool, AtomicUsize, Ordering};

/// One waiting party.
struct Node {
    waker: WakerSlot,
    /// In line (`false` once a notify took it out).
    queued: AtomicBool,
    /// A parked thread's waker (it always acts on a wake-up); else a future's.
    thread: AtomicBool,
}

/// A waiting operation's place in a [`WaitList`]. Owned by the operation (a future, or a
/// blocking call's stack frame), which must [`cancel`](WaitList::cancel) it when it gives up.
#[derive(Default)]
pub(crate) struct Registration {
    node: Option<Arc<Node>>,
    /// The node is in line, or was until a notify took it out that this registration has not
    /// seen yet.
    entered: bool,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("entered", &self.entered)
            .finish()
    }
}

/// Parties waiting for one condition.
pub(crate) struct WaitList {
    /// How many parties are in line. Written under `inner`'s lock, read by every notify.
    waiting: CachePadded<AtomicUsize>,
    inner: Mutex<Line>,
}

struct Line {
    nodes: VecDeque<Arc<Node>>,
    /// Nodes out of use (no waker, not queued, not pending), for the next registrations.
    spare: Vec<Arc<Node>>,
    /// The futures the last `notify_one` woke and that have not acted since (node addresses,
    /// 0 for none): while one is pending, a notify wakes no backup (see the module docs).
    pending: [usize; 2],
}

impl Line {
    fn backup_allowed(&self) -> bool {
        self.pending == [0, 0]
    }
}

fn addr(node: &Arc<Node>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            // Ordering: Relaxed: informational.
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for WaitList {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitList {
    pub(crate) fn new() -> Self {
        Self {
            waiting: CachePadded::new(AtomicUsize::new(0)),
            inner: Mutex::new(Line {
                nodes: VecDeque::new(),
                spare: Vec::new(),
                pending: [0, 0],
            }),
        }
    }

    /// Whether anyone is in line. SeqCst: see the module docs.
    #[inline(always)]
    pub(crate) fn has_waiters(&self) -> bool {
        crate::loom::seq_cst_pair();
        // Ordering: SeqCst, in the total order with the notifier's claim and the waiters'
        // registrations (see the module docs).
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Enters the line (or, still in line, refreshes the waker). The caller must then
    /// re-check its condition before sleeping.
    pub(crate) fn register(&self, reg: &mut Registration, wake: &Wake<'_>) {
        if let Some(node) = &reg.node {
            // A re-poll while still in line: only the waker may have changed. No lock.
            node.waker.register(wake.waker);
            // Ordering: Acquire pairs with a notifier's Release clear; the lock below orders
            // anything else that matters.
            if reg.entered && node.queued.load(Ordering::Acquire) {
                return;
            }
        }
        let mut line = lock(&self.inner);
        let node = match &reg.node {
            Some(node) => node,
            None => {
                let node = line.spare.pop().unwrap_or_else(|| {
                    Arc::new(Node {
                        waker: WakerSlot::new(),
                        queued: AtomicBool::new(false),
                        thread: AtomicBool::new(false),
                    })
                });
                // A fresh or spare node holds no waker. (A waker's clone is executor code,
                // here under the lock, as tokio's `Notify` does.)
                node.waker.register(wake.waker);
                reg.node.insert(node)
            }
        };
        // Ordering: Relaxed: read by notifiers under this lock.
        node.thread.store(wake.thread, Ordering::Relaxed);
        if reg.entered {
            // Notified since: the caller's attempt before this registration used the
            // wake-up; enter again at the back.
            Self::consume(&mut line, node);
        }
        // Ordering: Relaxed under the lock (notifiers clear it under the lock).
        node.queued.store(true, Ordering::Relaxed);
        line.nodes.push_back(node.clone());
        // Ordering: SeqCst: see the module docs (the caller's re-check follows).
        self.waiting.store(line.nodes.len(), Ordering::SeqCst);
        crate::loom::seq_cst_pair();
        reg.entered = true;
    }

    /// At the start of a poll: if the registration was notified, forget that (this poll's
    /// attempt uses the wake-up). One still in line keeps its place.
    pub(crate) fn take_notification(&self, reg: &mut Registration) {
        if !reg.entered {
            return;
        }
        let Some(node) = &reg.node else { return };
        // Ordering: Acquire pairs with the notifier's Release clear.
        if !node.queued.load(Ordering::Acquire) {
            reg.entered = false;
            let mut line = lock(&self.inner);
            Self::consume(&mut line, node);
            // The notifier took the waker: the node is out of use until this party waits
            // again (it takes a spare then).
            Self::recycle(&mut line, reg);
        }
    }

    /// Puts the registration's node, out of line and holding no waker, back with the
    /// spares (under the lock). Keeps at most `SPARES`.
    fn recycle(line: &mut Line, reg: &mut Registration) {
        const SPARES: usize = 64;
        if line.spare.len() < SPARES {
            if let Some(node) = reg.node.take() {
                debug_assert!(node.waker.take().is_none());
                line.spare.push(node);
            }
        }
    }

    /// A notified party was polled (or gave up): it is no longer pending.
    fn consume(line: &mut Line, node: &Arc<Node>) {
        let a = addr(node);
        for p in &mut line.pending {
            if *p == a {
                *p = 0;
            }
        }
    }

    /// Leaves the line. Returns `true` if the registration had been notified and had not
    /// used the wake-up (the caller passes it on, see [`cancel`](Self::cancel)).
    pub(crate) fn unregister(&self, reg: &mut Registration) -> bool {
        if !reg.entered {
            return false;
        }
        reg.entered = false;
        let Some(node) = &reg.node else { return false };
        let mut line = lock(&self.inner);
        // Ordering: Relaxed under the lock: notifiers clear it under the lock.
        let notified = if node.queued.load(Ordering::Relaxed) {
            if let Some(p) = line.nodes.iter().position(|n| Arc::ptr_eq(n, node)) {
                line.nodes.remove(p);
            }
            node.queued.store(false, Ordering::Relaxed);
            // Ordering: Relaxed under the lock; a stale non-zero only costs a notifier the
            // lock.
            self.waiting.store(line.nodes.len(), Ordering::Relaxed);
            false
        } else {
            Self::consume(&mut line, node);
            true
        };
        // Still holding our waker if it was not notified: dropped after unlocking.
        let waker = node.waker.take();
        Self::recycle(&mut line, reg);
        drop(line);
        drop(waker);
        notified
    }

    /// Gives up a registration: if it had been notified, passes the wake-up on.
    pub(crate) fn cancel(&self, reg: &mut Registration) {
        if self.unregister(reg) {
            self.notify_one();
        }
    }

    /// Wakes the longest-waiting party (and a backup, see the module docs), if any.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.has_waiters() {
            self.notify_one_slow();
        }
    }

    #[cold]
    fn notify_one_slow(&self) {
        let mut woken: [Option<Waker>; 2] = [None, None];
        {
            let mut line = lock(&self.inner);
            let backup_allowed = line.backup_allowed();
            let mut pending = [0, 0];
            for (i, w) in woken.iter_mut().enumerate() {
                let Some(node) = line.nodes.pop_front() else {
                    break;
                };
                // Ordering: Release pairs with the owner's Acquire in `take_notification`.
                node.queued.store(false, Ordering::Release);
                *w = node.waker.take();
                // Ordering: Relaxed under the lock.
                let thread = node.thread.load(Ordering::Relaxed);
                if !thread {
                    pending[i] = addr(&node);
                }
                if i == 0 && (thread || !backup_allowed) {
                    break;
                }
            }
            line.pending = pending;
            // Ordering: Relaxed under the lock.
            self.waiting.store(line.nodes.len(), Ordering::Relaxed);
        }
        for w in woken.into_iter().flatten() {
            w.wake();
        }
    }

    /// Wakes every waiting party.
    pub(crate) fn notify_all(&self) {
        if !self.has_waiters() {
            return;
        }
        let wakers: Vec<Waker> = {
            let mut line = lock(&self.inner);
            // Ordering: Relaxed under the lock.
            self.waiting.store(0, Ordering::Relaxed);
            let nodes = core::mem::take(&mut line.nodes);
            line.pending = [0, 0];
            nodes
                .iter()
                .filter_map(|node| {
                    // Ordering: Release, as in `notify_one_slow`.
                    node.queued.store(false, Ordering::Release);
                    // Taken under the lock, as `notify_one_slow` does: once the owner sees
                    // `queued` cleared it may recycle the node (under this lock) for another
                    // registration, whose waker a late take would steal.
                    node.waker.take()
                })
                .collect()
        };
        for w in wakers {
            w.wake();
        }
    }
}
