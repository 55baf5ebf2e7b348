//! The one synchronization facade.
//!
//! Every atomic, cell, fence, spin and park in the crate goes through this module, so that
//! building with `RUSTFLAGS="--cfg loom"` hands all of them to [loom]'s model checker. No
//! other file names `core::sync::atomic` or `loom`.
//!
//! It also holds the crate's one *asymmetric fence pair* ([`barrier`]), which lets the fast
//! path of a queue check for waiters without a full fence.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64 as AtomicPos;
/// Ring positions: 64-bit wherever the target has 64-bit atomics, so that they never wrap in
/// practice; `usize` elsewhere.
#[cfg(all(loom, target_has_atomic = "64"))]
pub(crate) use loom::sync::atomic::AtomicU64 as AtomicPos;
#[cfg(target_has_atomic = "64")]
pub(crate) type Pos = u64;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) use AtomicUsize as AtomicPos;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type Pos = usize;

/// A position as a `u64` (the same type on targets with 64-bit atomics).
#[inline(always)]
#[allow(clippy::unnecessary_cast)]
pub(crate) fn pos64(p: Pos) -> u64 {
    p as u64
}

/// What C++'s single total order of `SeqCst` operations gives a Dekker pair made of `SeqCst`
/// accesses alone (a store, then a load of the other variable, on each side), for loom:
/// loom treats `SeqCst` loads and stores as `AcqRel` (its README, "Unsupported features"),
/// so under loom this is a `fence(SeqCst)`, placed between the two accesses of each side.
/// Outside loom it is nothing: the accesses themselves are `SeqCst`. Used by the MPMC wait
/// lines (`wait::list`), which the `closed()` futures share.
#[inline(always)]
pub(crate) fn seq_cst_pair() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

pub(crate) mod sync {
    #[cfg(loom)]
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    #[cfg(not(loom))]
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    /// Locks `m`, ignoring poisoning: the data behind our mutexes stays consistent across a
    /// panic (no user code runs while they are held: values are dropped, and wakers woken,
    /// cloned or dropped, outside the locks).
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

/// The asymmetric fence pair.
///
/// Several protocols of the crate are *Dekker* pairs: one side writes `A` then reads `B`, the
/// other writes `B` then reads `A`, and at least one of them must see the other's write (a
/// producer publishes an item and then checks whether the consumer waits; the consumer
/// registers as waiting and then checks for items). With plain fences, both sides need a
/// `fence(SeqCst)` between their write and their read, and the fast side pays it per item.
///
/// Here the fast side calls [`light`] and the rare side (the party about to wait, or about
/// to report a queue closed) calls [`heavy`]:
///
/// - On Linux, when the kernel offers `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
///   `light` is only a compiler fence and `heavy` is that system call, which makes every
///   running thread of the process execute a full memory barrier before it returns. Either
///   the fast side's write reached memory before that barrier (and the heavy side's read,
///   after the call, sees it), or the fast side's read comes after the barrier and sees the
///   heavy side's write. It costs the heavy side about 0.3 us when no other thread of the
///   process runs and about 11 us when one does (measured on this project's 2-vCPU VMs).
/// - Where the system call is unavailable (other systems, old kernels, and with
///   `RUSTFLAGS="--cfg pushpull_fenced"`, which CI uses to test this fallback), [`heavy`] is
///   a `fence(SeqCst)` and [`expedited`] says `false`: then `light` alone does not make a
///   pair, and a protocol must put a fence on its fast side too. The SPSC queue does so by
///   starting in its *fenced mode* for good (see `chan::spsc`), so `light` itself never
///   needs to ask which case holds.
/// - Under loom, both are `fence(SeqCst)` (loom cannot model `membarrier`), so the models
///   check the protocols in both of the SPSC queue's modes.
///
/// The choice is made once per process, by [`init`], before the first queue exists, and never
/// changes; every queue operation happens after that choice (a queue reaches other threads
/// only through some synchronization that follows its construction).
pub(crate) mod barrier {
    // Miri cannot run the `membarrier` system call: it takes the fenced fallback.
    #[cfg(all(target_os = "linux", not(loom), not(miri), not(pushpull_fenced)))]
    mod imp {
        use core::sync::atomic::{AtomicU8, Ordering};

        const UNKNOWN: u8 = 0;
        const MEMBARRIER: u8 = 1;
        const FENCED: u8 = 2;

        static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

        // From <linux/membarrier.h>.
        const CMD_QUERY: libc::c_long = 0;
        const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

        fn membarrier(cmd: libc::c_long) -> libc::c_long {
            // SAFETY: `membarrier` takes three integer arguments and touches no memory of
            // ours; any command value is safe to pass (unknown ones fail with EINVAL).
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_long,
                    0 as libc::c_long,
                )
            }
        }

        #[cold]
        pub(crate) fn init() {
            if MODE.load(Ordering::Relaxed) != UNKNOWN {
                return;
            }
            let supported = membarrier(CMD_QUERY);
            let mode = if supported > 0
                && supported & CMD_PRIVATE_EXPEDITED != 0
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
            {
                MEMBARRIER
            } else {
                FENCED
            };
            // Ordering: Relaxed: several threads may race here, and all store the same value
            // (registration is idempotent). A queue built after this call reaches other
            // threads through synchronization that carries this store with it.
            MODE.store(mode, Ordering::Relaxed);
        }

        pub(crate) fn expedited() -> bool {
            // Ordering: Relaxed: set once, before any queue exists (see the module docs).
            MODE.load(Ordering::Relaxed) == MEMBARRIER
        }

        #[inline(always)]
        pub(crate) fn light() {
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
        }

        #[cold]
        pub(crate) fn heavy() {
            if expedited() {
                let r = membarrier(CMD_PRIVATE_EXPEDITED);
                // Registered above, so the command cannot fail; if the kernel ever refused,
                // the fast sides would be unprotected, which is not a state to continue in.
                assert_eq!(r, 0, "pushpull: membarrier failed after registration");
            } else {
                core::sync::atomic::fence(Ordering::SeqCst);
            }
        }
    }

    #[cfg(all(
        not(loom),
        not(all(target_os = "linux", not(miri), not(pushpull_fenced)))
    ))]
    mod imp {
        use core::sync::atomic::{compiler_fence, fence, Ordering};

        pub(crate) fn init() {}

        pub(crate) fn expedited() -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn light() {
            compiler_fence(Ordering::SeqCst);
        }

        #[inline]
        pub(crate) fn heavy() {
            fence(Ordering::SeqCst);
        }
    }

    #[cfg(loom)]
    mod imp {
        use super::super::{fence, Ordering};

        pub(crate) fn init() {}

        /// Under loom the plain mode is modelled with a real fence on both sides.
        pub(crate) fn expedited() -> bool {
            true
        }

        pub(crate) fn light() {
            fence(Ordering::SeqCst);
        }

        pub(crate) fn heavy() {
            fence(Ordering::SeqCst);
        }
    }

    /// Whether [`light`] and [`heavy`] make a pair. If not, the fast side of a protocol must
    /// add its own fence (see the module docs).
    pub(crate) use imp::expedited;
    /// The slow side of a Dekker pair: between its write and its read.
    pub(crate) use imp::heavy;
    /// Chooses the fence pair for this process (idempotent; called by every constructor).
    pub(crate) use imp::init;
    /// The fast side of a Dekker pair: between its write and its read.
    pub(crate) use imp::light;
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
