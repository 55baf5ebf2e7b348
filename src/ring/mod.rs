//! Pure lock-free storage. The rings know nothing of waiting, handles, closing, permits or
//! counting beyond their own indices; `chan` builds the public queues on top of them.
//!
//! - [`spsc::Ring`]: Lamport's single-producer single-consumer ring, plain loads and stores.
//! - [`evict::Ring`]: a single-producer single-consumer ring whose producer can evict the
//!   oldest item while the consumer receives (the drop-oldest policy).
//! - [`mpmc::Ring`]: Vyukov's bounded multi-producer multi-consumer ring.

pub(crate) mod evict;
pub(crate) mod mpmc;
pub(crate) mod spsc;

use core::mem::MaybeUninit;

use crate::error::{BuildError, BuildErrorKind};
use crate::loom::cell::UnsafeCell;

/// A slot that holds an item or nothing; which, the ring's indices say.
pub(crate) type Slot<T> = UnsafeCell<MaybeUninit<T>>;

/// Allocates `count` slots made by `make`, returning an error instead of aborting when the
/// allocator refuses. The size check happens before anything is allocated.
pub(crate) fn alloc_slots<S>(
    capacity: usize,
    count: usize,
    make: impl FnMut(usize) -> S,
) -> Result<Box<[S]>, BuildError> {
    let oom = BuildError::new(BuildErrorKind::OutOfMemory { capacity });
    let bytes = core::mem::size_of::<S>()
        .checked_mul(count)
        .ok_or(oom.clone())?;
    if bytes > isize::MAX as usize {
        return Err(oom);
    }
    let mut slots = Vec::new();
    slots.try_reserve_exact(count).map_err(|_| oom)?;
    slots.extend((0..count).map(make));
    Ok(slots.into_boxed_slice())
}

/// Allocates `count` empty slots for a queue of `capacity`. Outside loom this writes nothing
/// per slot, so a ring of zero-sized items of any capacity is built at once.
pub(crate) fn alloc_uninit_slots<T>(
    capacity: usize,
    count: usize,
) -> Result<Box<[Slot<T>]>, BuildError> {
    #[cfg(loom)]
    {
        alloc_slots(capacity, count, |_| UnsafeCell::new(MaybeUninit::uninit()))
    }
    #[cfg(not(loom))]
    {
        let oom = BuildError::new(BuildErrorKind::OutOfMemory { capacity });
        let bytes = core::mem::size_of::<T>()
            .checked_mul(count)
            .ok_or(oom.clone())?;
        if bytes > isize::MAX as usize {
            return Err(oom);
        }
        let mut slots: Vec<Slot<T>> = Vec::new();
        slots.try_reserve_exact(count).map_err(|_| oom)?;
        // SAFETY: the room is reserved just above, and an `UnsafeCell<MaybeUninit<T>>` (our
        // cell is `repr(transparent)` over core's) needs no initialization: every bit
        // pattern, including uninitialized memory, is a valid value of it.
        unsafe { slots.set_len(count) };
        Ok(slots.into_boxed_slice())
    }
}

/// Checks `capacity <= max` for a ring whose index arithmetic counts up to `max`.
pub(crate) fn check_capacity(capacity: usize, max: usize) -> Result<(), BuildError> {
    if capacity > max {
        return Err(BuildError::new(BuildErrorKind::CapacityOverflow {
            capacity,
            max,
        }));
    }
    Ok(())
}

/// Drops `count` items in consecutive slots of a ring of `len` slots, starting at slot
/// `first`, with `drop_at(slot)`. If one item's destructor panics, the rest are still dropped
/// while unwinding (a second panic aborts, as for `Vec`); no item is ever dropped twice.
pub(crate) fn drop_items(first: usize, count: usize, len: usize, drop_at: &dyn Fn(usize)) {
    struct Rest<'a> {
        next: usize,
        count: usize,
        len: usize,
        drop_at: &'a dyn Fn(usize),
    }
    impl Drop for Rest<'_> {
        fn drop(&mut self) {
            // Runs to completion normally (count is 0 then) or while unwinding from a
            // panicking destructor, in which case it drops what is left.
            if self.count > 0 {
                drop_items(self.next, self.count, self.len, self.drop_at);
            }
        }
    }
    let mut rest = Rest {
        next: first,
        count,
        len,
        drop_at,
    };
    while rest.count > 0 {
        let slot = rest.next;
        rest.next = if slot + 1 == len { 0 } else { slot + 1 };
        rest.count -= 1;
        (rest.drop_at)(slot);
    }
}

/// Moves the item out of `slot`.
///
/// # Safety
///
/// The slot holds an initialized item that the caller owns exclusively, and the caller
/// treats the slot as empty afterwards.
#[inline(always)]
pub(crate) unsafe fn take<T>(slot: &Slot<T>) -> T {
    slot.with(|p| {
        // SAFETY: per the caller's contract.
        unsafe { p.read().assume_init() }
    })
}

/// Writes `value` into `slot`.
///
/// # Safety
///
/// The slot is empty and the caller owns it exclusively until it publishes the write.
#[inline(always)]
pub(crate) unsafe fn put<T>(slot: &Slot<T>, value: T) {
    slot.with_mut(|p| {
        // SAFETY: per the caller's contract.
        unsafe { p.write(MaybeUninit::new(value)) };
    });
}

/// Drops the item in `slot` in place.
///
/// # Safety
///
/// As for [`take`].
#[inline]
pub(crate) unsafe fn drop_in_place<T>(slot: &Slot<T>) {
    slot.with_mut(|p| {
        // SAFETY: per the caller's contract.
        unsafe { core::ptr::drop_in_place((*p).as_mut_ptr()) }
    });
}
