//! Pure lock-free storage: the rings know nothing of waiting, handles or counting beyond
//! their own indices. `chan` builds the public queues on top of them.

pub(crate) mod mpmc;
pub(crate) mod spsc;

use crate::error::{BuildError, BuildErrorKind};

/// Allocates `capacity` slots made by `make`, returning an error instead of aborting when the
/// allocator refuses. The size check happens before anything is allocated.
pub(crate) fn alloc_slots<S>(
    capacity: usize,
    make: impl FnMut(usize) -> S,
) -> Result<Box<[S]>, BuildError> {
    let oom = BuildError::new(BuildErrorKind::OutOfMemory { capacity });
    let bytes = core::mem::size_of::<S>()
        .checked_mul(capacity)
        .ok_or(oom.clone())?;
    if bytes > isize::MAX as usize {
        return Err(oom);
    }
    let mut slots = Vec::new();
    slots.try_reserve_exact(capacity).map_err(|_| oom)?;
    slots.extend((0..capacity).map(make));
    Ok(slots.into_boxed_slice())
}

/// Allocates `capacity` uninitialized slots. Outside loom this writes nothing per slot (so a
/// ring of zero-sized items of any capacity is built at once, even without optimizations).
pub(crate) fn alloc_uninit_slots<T>(
    capacity: usize,
) -> Result<Box<[crate::loom::cell::UnsafeCell<core::mem::MaybeUninit<T>>]>, BuildError> {
    #[cfg(loom)]
    {
        alloc_slots(capacity, |_| {
            crate::loom::cell::UnsafeCell::new(core::mem::MaybeUninit::uninit())
        })
    }
    #[cfg(not(loom))]
    {
        let mut slots: Vec<crate::loom::cell::UnsafeCell<core::mem::MaybeUninit<T>>> = Vec::new();
        let oom = BuildError::new(BuildErrorKind::OutOfMemory { capacity });
        let bytes = core::mem::size_of::<T>()
            .checked_mul(capacity)
            .ok_or(oom.clone())?;
        if bytes > isize::MAX as usize {
            return Err(oom);
        }
        slots.try_reserve_exact(capacity).map_err(|_| oom)?;
        // SAFETY: the capacity is reserved just above, and an `UnsafeCell<MaybeUninit<T>>`
        // (our cell is `repr(transparent)` over core's) needs no initialization: every bit
        // pattern, including uninitialized memory, is a valid value of it.
        unsafe { slots.set_len(capacity) };
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

/// Drops `count` items in consecutive slots of a ring of `capacity` slots, starting at slot
/// `first`, with `drop_at(slot)`. If one item's destructor panics, the rest are still dropped
/// while unwinding (a second panic aborts, as for `Vec`); no item is ever dropped twice.
pub(crate) fn drop_items(first: usize, count: usize, capacity: usize, drop_at: &dyn Fn(usize)) {
    struct Rest<'a> {
        next: usize,
        count: usize,
        capacity: usize,
        drop_at: &'a dyn Fn(usize),
    }
    impl Drop for Rest<'_> {
        fn drop(&mut self) {
            // Runs to completion normally (count is 0 then) or while unwinding from a
            // panicking destructor, in which case it drops what is left.
            if self.count > 0 {
                drop_items(self.next, self.count, self.capacity, self.drop_at);
            }
        }
    }
    let mut rest = Rest {
        next: first,
        count,
        capacity,
        drop_at,
    };
    while rest.count > 0 {
        let slot = rest.next;
        rest.next = if slot + 1 == capacity { 0 } else { slot + 1 };
        rest.count -= 1;
        (rest.drop_at)(slot);
    }
}
