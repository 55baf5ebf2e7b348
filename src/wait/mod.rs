//! Who sleeps and who wakes.
//!
//! Every waiting party is a [`Waker`]: a task's own, or, for a blocked thread, one that
//! unparks that thread. So each operation has one poll routine (in `chan::poll`), written once
//! against a [`Wake`], and two drivers: [`block_on`] parks the thread between polls (after a
//! short spin); a future's `poll` passes its `Context`'s waker. A [`Wake`] says which it is:
//! a parked thread always acts on its wake-up, a future might be forgotten.
//!
//! Waiting is *register, then re-check*, everywhere: a poll routine tries its operation, and
//! if it cannot complete, registers and tries once more before returning `Pending` (a value
//! may have arrived between the attempt and the registration, and its notification would
//! have found nobody registered).
//!
//! - [`slot::WakerSlot`]: one waiting party (an SPSC end), registered and woken lock-free.
//! - [`list::WaitList`]: a line of waiting parties (MPMC), one node per waiting operation.

pub(crate) mod list;
pub(crate) mod sem;
pub(crate) mod slot;

use core::task::{Poll, Waker};
use std::time::Instant;

use std::sync::Arc;

use crate::loom::{AtomicBool, Backoff, Ordering};

/// The party that waits: its waker, and whether it is a parked thread.
///
/// (`pub` in a private module: the flavor trait names it; it is not part of the API.)
#[derive(Debug, Clone, Copy)]
#[allow(unreachable_pub)]
pub struct Wake<'a> {
    pub(crate) waker: &'a Waker,
    /// A parked thread (the blocking driver's waker): it always acts on a wake-up.
    pub(crate) thread: bool,
    /// The caller has just attempted the operation, and it would wait: the poll routine
    /// goes straight to registering (then re-checks).
    pub(crate) tried: bool,
}

impl<'a> Wake<'a> {
    /// A future's waker.
    pub(crate) fn task(waker: &'a Waker) -> Self {
        Self {
            waker,
            thread: false,
            tried: false,
        }
    }

    /// The same, after the caller's own attempt failed (see `tried`).
    pub(crate) fn tried(self, tried: bool) -> Self {
        Self { tried, ..self }
    }
}

/// What wakes a blocked thread: a flag it can spin on before it parks, and its handle.
struct Parker {
    thread: crate::loom::thread::Thread,
    /// Set by every wake-up; cleared by the driver before each poll.
    notified: AtomicBool,
}

impl std::task::Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Ordering: Release, pairs with the Acquire load in `block_on`'s spin: the waking
        // party's change (a value in, room made) is visible to the poll that follows. (The
        // unpark carries the same for a parked thread.)
        self.notified.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// This thread's parker, made once per thread and shared (no allocation per blocking call).
fn parker() -> Arc<Parker> {
    fn make() -> Arc<Parker> {
        Arc::new(Parker {
            thread: crate::loom::thread::current(),
            notified: AtomicBool::new(false),
        })
    }
    // Under loom, loom's own thread-locals: its threads share one OS thread.
    #[cfg(loom)]
    loom::thread_local! {
        static PARKER: Arc<Parker> = make();
    }
    #[cfg(not(loom))]
    std::thread_local! {
        static PARKER: Arc<Parker> = make();
    }
    // During thread-local destruction the cache may be gone: make a fresh one then.
    PARKER.try_with(Arc::clone).unwrap_or_else(|_| make())
}

/// Spins briefly with backoff, calling `attempt` (which must not register), because a
/// park/unpark round trip costs microseconds and the other side is often about to act.
///
/// The budget: a cache line moves between cores in about 30 ns here and a futex wake costs
/// about 250 ns, but a park/unpark round trip costs 4-40 us (and, for a waiting SPSC end,
/// registering costs a `membarrier`, about 11 us while the other side runs). `Backoff` spins
/// 2^0 .. 2^6 pause instructions (about 3 us in all), then yields the thread four times:
/// enough to catch a peer that is in the middle of one operation, short of a park.
#[inline]
pub(crate) fn spin<R>(mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
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

/// [`spin`] when `spin` is true, else nothing.
#[inline]
pub(crate) fn spin_if<R>(spin: bool, attempt: impl FnMut() -> Option<R>) -> Option<R> {
    if spin {
        self::spin(attempt)
    } else {
        None
    }
}

/// Drives a poll routine on the current thread, parking between polls, until it is ready or
/// `deadline` passes; then `give_up` (which must leave the line and say what to hand back).
/// Both get `state`, the operation's own (its value, its place in line). `tried`: the caller
/// has just attempted the operation (see [`Wake::tried`]).
///
/// The routine tries its operation first, so an operation that can complete at once does so
/// even when the deadline has passed already.
pub(crate) fn block_on<S, R>(
    tried: bool,
    deadline: Option<Instant>,
    state: &mut S,
    mut poll: impl FnMut(&mut S, &Wake<'_>) -> Poll<R>,
    give_up: impl FnOnce(&mut S) -> R,
) -> R {
    let parker = parker();
    let waker = Waker::from(Arc::clone(&parker));
    let mut wake = Wake {
        waker: &waker,
        thread: true,
        tried,
    };
    loop {
        // Ordering: Relaxed; a wake-up after this store sets it again (Release, see
        // `Parker::wake_by_ref`), one before it is covered by the poll's own re-check.
        parker.notified.store(false, Ordering::Relaxed);
        if let Poll::Ready(r) = poll(state, &wake) {
            return r;
        }
        wake.tried = false;
        // Registered: the other side is often about to act (a rendezvous partner always is),
        // and a park/unpark round trip costs microseconds, so spin on the wake-up flag a
        // little first. (Not under loom: a spin is only a shortcut to the same poll.)
        #[cfg(not(loom))]
        {
            let mut backoff = Backoff::new();
            // Ordering: Acquire, pairs with the Release store in `Parker::wake_by_ref`.
            while !parker.notified.load(Ordering::Acquire) && !backoff.is_completed() {
                backoff.snooze();
            }
            // Ordering: as above.
            if parker.notified.load(Ordering::Acquire) {
                // Woken while spinning: poll again without parking. (The unpark token this
                // wake-up left makes a later `park` return early once: a spurious wake-up.)
                continue;
            }
        }
        // A spurious unpark (or one left over from an earlier wait) only makes `park` return
        // early; the loop polls again.
        match deadline {
            None => crate::loom::thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return give_up(state);
                }
                crate::loom::thread::park_timeout(deadline - now);
            }
        }
    }
}
