//! The one synchronization facade.
//!
//! Every atomic, cell, spin and park in the crate goes through this module, so that building
//! with `RUSTFLAGS="--cfg loom"` hands all of them to [loom]'s model checker. No other file
//! names `core::sync::atomic` or `loom`.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64 as AtomicPos;
/// Positions of the SPSC ring: 64-bit wherever the target has 64-bit atomics, so that they
/// never wrap in practice (2^62 items); `usize` elsewhere.
#[cfg(all(loom, target_has_atomic = "64"))]
pub(crate) use loom::sync::atomic::AtomicU64 as AtomicPos;
#[cfg(target_has_atomic = "64")]
pub(crate) type Pos = u64;
#[cfg(target_has_atomic = "64")]
pub(crate) type SignedPos = i64;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) use AtomicUsize as AtomicPos;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type Pos = usize;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type SignedPos = isize;

pub(crate) mod sync {
    #[cfg(loom)]
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    #[cfg(not(loom))]
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    /// Locks `m`, ignoring poisoning: the data behind our mutexes stays consistent across a
    /// panic. No user code runs while they are held, except `Waker::clone` of wakers already
    /// stored (executor code; a clone that re-entered the same queue would deadlock). Values
    /// are dropped, and wakers woken, dropped or freshly cloned, outside the locks.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        #[cfg(loom)]
        {
            m.lock().unwrap()
        }
        #[cfg(not(loom))]
        {
            m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}

pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use loom::thread::{current, park, Thread};
    #[cfg(not(loom))]
    pub(crate) use std::thread::{current, park, park_timeout, Thread};

    /// Under loom there is no clock: a timed park is a plain park, and the model only explores
    /// schedules in which someone unparks us (a timeout cannot fire).
    #[cfg(loom)]
    pub(crate) fn park_timeout(_dur: std::time::Duration) {
        park();
    }
}

/// A `Waker` that unparks the current thread, for the blocking driver of `wait`.
///
/// Made once per thread and cloned (no allocation per blocking call).
pub(crate) fn thread_waker() -> core::task::Waker {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    fn make() -> core::task::Waker {
        core::task::Waker::from(std::sync::Arc::new(Unpark(thread::current())))
    }
    // One per thread, so that `will_wake` recognises it (the wait layer treats a parked
    // thread's waker differently from a future's). Under loom, loom's own thread-locals:
    // its threads share one OS thread.
    #[cfg(loom)]
    loom::thread_local! {
        static WAKER: core::task::Waker = make();
    }
    #[cfg(not(loom))]
    std::thread_local! {
        static WAKER: core::task::Waker = make();
    }
    // During thread-local destruction the cache may be gone: make a fresh one then.
    WAKER
        .try_with(core::task::Waker::clone)
        .unwrap_or_else(|_| make())
}

/// `UnsafeCell` with loom's closure-based access, so loom can check every access for races.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use loom::cell::UnsafeCell;

    #[cfg(not(loom))]
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Bounded exponential backoff for spin loops.
///
/// `spin` is for a retry after a lost race (a failed compare-and-swap); `snooze` is for
/// waiting on another thread that is in the middle of a short step (a copy of one item).
/// Under loom every step yields, because loom cannot make progress in a bare spin loop.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: u32,
}

const SPIN_LIMIT: u32 = 6;
const YIELD_LIMIT: u32 = 10;

impl Backoff {
    #[inline]
    pub(crate) const fn new() -> Self {
        Self { step: 0 }
    }

    /// Backs off after a lost race: spins `2^step` times, never yields the thread.
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(loom)]
        {
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            for _ in 0..1u32 << self.step.min(SPIN_LIMIT) {
                core::hint::spin_loop();
            }
        }
        if self.step <= SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// Waits for another thread to finish a short step: spins, then yields the thread.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(loom)]
        {
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            if self.step <= SPIN_LIMIT {
                for _ in 0..1u32 << self.step {
                    core::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        if self.step <= YIELD_LIMIT {
            self.step += 1;
        }
    }

    /// Whether spinning has gone on long enough that the caller should sleep instead.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        self.step > YIELD_LIMIT
    }
}
