//! Single-producer single-consumer ring.
//!
//! # Algorithm
//!
//! Lamport's ring buffer, with each side keeping a cached copy of the other side's index
//! (as rtrb does): the producer reads the consumer's `head` only when its cached copy says
//! the ring may be full, and the consumer reads the producer's `tail` only when its cached
//! copy says the ring may be empty. `head`, `tail` and each side's private cursor live on
//! four separate cache lines: a side that polls the other's index (while its cached view
//! says full or empty) takes only that index's line, not the line the other side writes at
//! every operation (its cursor). Measured in `docs/PERFORMANCE.md`: with each cursor beside
//! its side's index, two threads spinning on a ring of 1024 moved 0.44x rtrb's items per
//! second; apart, 0.80x. Push and pop are plain loads and stores: no read-modify-write, no
//! fence.
//!
//! Positions are free-running counters (64-bit on targets with 64-bit atomics, `usize`
//! elsewhere), compared with wrapping arithmetic. Position `p` lives in slot `p % capacity`;
//! each side tracks its slot index incrementally, so no division happens on any path.
//!
//! # Invariants
//!
//! - `head <= tail <= head + capacity` (wrapping): the ring holds `tail - head` items, in
//!   positions `head .. tail`, and exactly their slots are initialized.
//! - Only the producer writes `tail` and writes into slots; only the consumer writes `head`
//!   and reads items out of slots.
//! - The producer may *hold* slots back (for permits): pushes see `capacity - held` room.
//!   Holding is bookkeeping of the producer alone.
//!
//! # High-water mark
//!
//! The producer notes the length it sees each time it re-reads `head`. By default that is
//! only when its cached view says the ring is full, so the mark is a sample of the peak that
//! costs nothing per item (it equals the capacity once the producer found the ring full).
//! In *exact* mode the producer also re-reads `head` whenever a push could go past the mark,
//! so the mark follows the true peak; once the mark has reached the queue's usual depth, such
//! re-reads are rare, but while the consumer keeps the ring nearly empty they happen on
//! almost every push (measured in `docs/PERFORMANCE.md`).
//!
//! # Progress
//!
//! Every operation is wait-free.

use crossbeam_utils::CachePadded;

use super::Slot;
use crate::error::BuildError;
use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicPos, AtomicUsize, Ordering, Pos};

/// The largest capacity: positions differ by at most the capacity, far below half the range.
pub(crate) const MAX_CAPACITY: usize = usize::MAX / 4;

/// The producer's line: `tail` (read by the consumer) and the high-water mark.
struct ProducerLine {
    /// Position of the next push. Written only by the producer.
    tail: AtomicPos,
    /// The high-water mark (see the module docs). Raised with `fetch_max`, rarely.
    high_water: AtomicUsize,
}

/// Producer-private: touched only by the producer (and by `Drop`).
struct ProducerCursor {
    /// Same value as `tail`, without an atomic load.
    tail: Pos,
    /// Slot of `tail`.
    slot: usize,
    /// A past value of `head` (so never ahead of the real one).
    cached_head: Pos,
    /// Room for pushes: `capacity - held`.
    limit: Pos,
    /// Re-read `head` when `tail - cached_head >= refresh_at` (`<= limit`).
    refresh_at: Pos,
    /// Slots held back for permits.
    held: usize,
    /// Same value as the shared mark, as far as the producer knows.
    high_water: usize,
    /// Exact high-water mode (see the module docs).
    exact: bool,
}

/// The consumer's line: `head` (read by the producer).
struct ConsumerLine {
    /// Position of the oldest item. Written only by the consumer.
    head: AtomicPos,
}

/// Consumer-private: touched only by the consumer (and by `Drop`).
struct ConsumerCursor {
    /// Same value as `head`.
    head: Pos,
    /// Slot of `head`.
    slot: usize,
    /// A past value of `tail` (so never ahead of the real one).
    cached_tail: Pos,
    /// Sealed (see [`Ring::seal`]): `tail` is not read any more.
    sealed: bool,
}

/// The single-producer single-consumer ring.
pub(crate) struct Ring<T> {
    consumer: CachePadded<ConsumerLine>,
    producer: CachePadded<ProducerLine>,
    /// Each side's private cursor, on a line of its own: the other side polls `head` or
    /// `tail` (when its cached view says full or empty) without taking the line that this
    /// side writes at every operation.
    consumer_cursor: CachePadded<UnsafeCell<ConsumerCursor>>,
    producer_cursor: CachePadded<UnsafeCell<ProducerCursor>>,
    slots: Box<[Slot<T>]>,
}

// SAFETY: the ring hands each `T` from the producer thread to the consumer thread, so
// `T: Send` is needed and enough. Slot and cursor accesses are made exclusive by the index
// protocol in the module docs; callers of the producer and consumer methods promise one
// thread per side (see their `# Safety` sections).
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`: shared references reach the slots and cursors only through the
// unsafe producer and consumer methods, whose contracts keep each side on one thread.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding exactly `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize, exact_high_water: bool) -> Result<Self, BuildError> {
        debug_assert!(capacity > 0);
        super::check_capacity(capacity, MAX_CAPACITY)?;
        let slots = super::alloc_uninit_slots(capacity, capacity)?;
        let limit = capacity as Pos;
        Ok(Self {
            consumer: CachePadded::new(ConsumerLine {
                head: AtomicPos::new(0),
            }),
            producer: CachePadded::new(ProducerLine {
                tail: AtomicPos::new(0),
                high_water: AtomicUsize::new(0),
            }),
            consumer_cursor: CachePadded::new(UnsafeCell::new(ConsumerCursor {
                head: 0,
                slot: 0,
                cached_tail: 0,
                sealed: false,
            })),
            producer_cursor: CachePadded::new(UnsafeCell::new(ProducerCursor {
                tail: 0,
                slot: 0,
                cached_head: 0,
                limit,
                refresh_at: if exact_high_water { 0 } else { limit },
                held: 0,
                high_water: 0,
                exact: exact_high_water,
            })),
            slots,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline(always)]
    fn slot(&self, index: usize) -> &Slot<T> {
        debug_assert!(index < self.slots.len());
        // SAFETY: slot indices are advanced with `next_slot`, so they stay below the length.
        unsafe { self.slots.get_unchecked(index) }
    }

    #[inline(always)]
    fn next_slot(&self, index: usize) -> usize {
        if index + 1 == self.slots.len() {
            0
        } else {
            index + 1
        }
    }

    // === shared, racy figures ===

    /// The number of items. The producer can only make it grow and the consumer only shrink,
    /// so a snapshot from one side is a bound on what the other side may have done since.
    pub(crate) fn len(&self) -> usize {
        // Ordering: Acquire on `head` first: positions only grow, so reading `head` before
        // `tail` gives a length that was at least true at the later load; it is clamped to
        // the capacity.
        let head = self.consumer.head.load(Ordering::Acquire);
        let tail = self.producer.tail.load(Ordering::Acquire);
        let len = tail.wrapping_sub(head);
        if len > self.capacity() as Pos {
            // Only possible across a wrap of very old snapshots; never in practice.
            self.capacity()
        } else {
            len as usize
        }
    }

    /// The producer's position: items ever pushed (modulo the position range).
    #[inline]
    pub(crate) fn tail(&self) -> Pos {
        // Ordering: Acquire pairs with the producer's Release store: the items before it
        // are written.
        self.producer.tail.load(Ordering::Acquire)
    }

    /// The consumer's position: items ever popped (modulo the position range).
    #[inline]
    pub(crate) fn head(&self) -> Pos {
        // Ordering: Acquire pairs with the consumer's Release store: its reads of the slots
        // before it are done.
        self.consumer.head.load(Ordering::Acquire)
    }

    /// The high-water mark (see the module docs), raised to `also` (a length the caller saw).
    pub(crate) fn high_water(&self, also: usize) -> usize {
        // Ordering: Relaxed: a statistic; `fetch_max` keeps it monotonic.
        let mark = self.producer.high_water.fetch_max(also, Ordering::Relaxed);
        mark.max(also)
    }

    // === producer side ===

    /// Runs `f` on the producer cursor.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls producer-side methods.
    #[inline(always)]
    unsafe fn with_producer<R>(&self, f: impl FnOnce(&mut ProducerCursor) -> R) -> R {
        self.producer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only producer, and only the producer touches its
            // cursor.
            f(unsafe { &mut *cursor })
        })
    }

    /// Pushes `value` if there is room, else hands it back.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls producer-side methods (`push`, `has_room`, `hold`,
    /// `unhold`, `push_held`, `unpush`).
    #[inline]
    pub(crate) unsafe fn push(&self, value: T) -> Result<(), T> {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                if c.tail.wrapping_sub(c.cached_head) >= c.refresh_at && !self.refresh(c, true) {
                    return Err(value);
                }
                self.write_and_publish(c, value);
                Ok(())
            })
        }
    }

    /// Holds one slot back for a permit, if there is room; later pushes see one less room.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn hold(&self) -> bool {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                // A held slot holds no value: the high-water mark notes the length as it is.
                if c.tail.wrapping_sub(c.cached_head) >= c.limit && !self.refresh(c, false) {
                    return false;
                }
                c.held += 1;
                c.limit -= 1;
                c.refresh_at = c.refresh_at.min(c.limit);
                true
            })
        }
    }

    /// Gives back a slot held by [`hold`](Self::hold).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push), and a slot is held.
    pub(crate) unsafe fn unhold(&self) {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                debug_assert!(c.held > 0);
                c.held -= 1;
                c.limit += 1;
                if !c.exact {
                    c.refresh_at = c.limit;
                }
            })
        }
    }

    /// Pushes `value` into a slot held by [`hold`](Self::hold); never full.
    ///
    /// # Safety
    ///
    /// As for [`unhold`](Self::unhold).
    pub(crate) unsafe fn push_held(&self, value: T) {
        // SAFETY: the caller is the only producer and holds a slot.
        unsafe {
            self.unhold();
            let pushed = self.push(value);
            debug_assert!(pushed.is_ok(), "a held slot is room");
            // The held slot guaranteed room: `push` cannot have refused.
            if let Err(value) = pushed {
                drop(value);
            }
        }
    }

    /// Takes back the item pushed last.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); the ring is not empty, and the consumer will not read
    /// the newest item (the caller has made sure it stopped before it).
    pub(crate) unsafe fn unpush(&self) -> T {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                c.slot = if c.slot == 0 {
                    self.capacity() - 1
                } else {
                    c.slot - 1
                };
                c.tail = c.tail.wrapping_sub(1);
                // Ordering: Relaxed: the consumer will not read this position (caller's
                // contract); the store only keeps `len` and `Drop` right.
                self.producer.tail.store(c.tail, Ordering::Relaxed);
                // SAFETY: the newest position holds an item (the ring is not empty) that no
                // one else will read (caller's contract); it is empty from now on.
                super::take(self.slot(c.slot))
            })
        }
    }

    /// Re-reads `head`; returns whether there is room for a push. Notes the length.
    #[cold]
    fn refresh(&self, c: &mut ProducerCursor, pushing: bool) -> bool {
        // Ordering: Acquire pairs with the consumer's Release store of `head` after it read
        // a slot: that read happens before we write the slot again.
        c.cached_head = self.consumer.head.load(Ordering::Acquire);
        let len = c.tail.wrapping_sub(c.cached_head);
        let room = len < c.limit;
        // The length after this push, if it happens (the consumer may take items meanwhile,
        // so it is a bound); a full ring is noted as full.
        let noted = (len + Pos::from(room && pushing)) as usize;
        if noted > c.high_water {
            c.high_water = noted;
            // Ordering: Relaxed: a statistic.
            self.producer.high_water.fetch_max(noted, Ordering::Relaxed);
        }
        c.refresh_at = if c.exact {
            (c.high_water as Pos).min(c.limit)
        } else {
            c.limit
        };
        room
    }

    /// # Safety
    ///
    /// The caller is the producer and the slot at `c.tail` is free.
    #[inline(always)]
    unsafe fn write_and_publish(&self, c: &mut ProducerCursor, value: T) {
        // SAFETY: the slot is free (caller's contract) and the consumer does not read it
        // before we publish `tail` below.
        unsafe { super::put(self.slot(c.slot), value) };
        c.slot = self.next_slot(c.slot);
        c.tail = c.tail.wrapping_add(1);
        // Ordering: Release publishes the slot write; pairs with the consumer's Acquire load
        // of `tail`.
        self.producer.tail.store(c.tail, Ordering::Release);
    }

    // === consumer side ===

    /// Takes the oldest item, if any.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls consumer-side methods (`pop`).
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.consumer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer, and only the consumer touches its
            // cursor.
            let c = unsafe { &mut *cursor };
            if c.head == c.cached_tail {
                if c.sealed {
                    return None;
                }
                // Ordering: Acquire pairs with the producer's Release store of `tail`: its
                // write of the slot happens before our read.
                c.cached_tail = self.producer.tail.load(Ordering::Acquire);
                if c.head == c.cached_tail {
                    return None;
                }
            }
            // SAFETY: `head < tail`, so the slot holds an item, which only we read.
            let value = unsafe { super::take(self.slot(c.slot)) };
            c.slot = self.next_slot(c.slot);
            c.head = c.head.wrapping_add(1);
            // Ordering: Release: our read of the slot happens before the producer, having
            // loaded this value with Acquire, writes the slot again.
            self.consumer.head.store(c.head, Ordering::Release);
            Some(value)
        })
    }
}

impl<T> Ring<T> {
    /// Takes up to `max` of the oldest items into `buf`, publishing `head` once for all of
    /// them (a batch receive). Returns how many.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn pop_into(&self, buf: &mut Vec<T>, max: usize) -> usize {
        // SAFETY: forwarded.
        let n = unsafe { self.ready(max) };
        self.consumer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer, and only the consumer touches its
            // cursor.
            let c = unsafe { &mut *cursor };
            // Room first: nothing is taken out of a slot before the `Vec` can hold it.
            buf.reserve(n);
            self.take_into(c, buf, n);
            if n > 0 {
                c.head = c.head.wrapping_add(n as Pos);
                // Ordering: Release: our reads of the slots happen before the producer,
                // having loaded this value with Acquire, writes them again.
                self.consumer.head.store(c.head, Ordering::Release);
            }
            n
        })
    }
}

/// Chunks: a run of slots written or read in place, published once.
impl<T> Ring<T> {
    /// The slot `i` positions after `from`.
    #[inline(always)]
    fn slot_after(&self, from: usize, i: usize) -> usize {
        debug_assert!(i < self.slots.len());
        let n = self.slots.len();
        if from + i >= n {
            from + i - n
        } else {
            from + i
        }
    }

    /// Holds up to `max` slots after `tail` for a write chunk (as [`hold`](Self::hold) does
    /// for one permit); returns how many (0: full).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn hold_run(&self, max: usize) -> usize {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                let mut free = c.limit - c.tail.wrapping_sub(c.cached_head);
                if (free as usize) < max {
                    self.refresh(c, false);
                    free = c.limit - c.tail.wrapping_sub(c.cached_head);
                }
                let n = (free as usize).min(max);
                c.held += n;
                c.limit -= n as Pos;
                c.refresh_at = c.refresh_at.min(c.limit);
                n
            })
        }
    }

    /// Writes `value` into the slot `i` positions after `tail`.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); the slot is held by the caller's chunk (`i` is below
    /// what [`hold_run`](Self::hold_run) returned) and not written yet.
    pub(crate) unsafe fn write_ahead(&self, i: usize, value: T) {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                // SAFETY: a held slot after `tail` is free, and the consumer does not read
                // it before `tail` passes it (caller's contract).
                super::put(self.slot(self.slot_after(c.slot, i)), value);
            })
        }
    }

    /// Writes `n` values from `take` into the first `n` held slots after `tail`, in order
    /// (a batch send's run: one pass, the slot index kept incrementally).
    ///
    /// # Safety
    ///
    /// As for [`write_ahead`](Self::write_ahead), for each of the first `n` held slots;
    /// `take` does not panic.
    pub(crate) unsafe fn write_run(&self, n: usize, mut take: impl FnMut() -> T) {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                let mut slot = c.slot;
                for _ in 0..n {
                    // SAFETY: as in `write_ahead`: held, free, not yet published.
                    super::put(self.slot(slot), take());
                    slot = self.next_slot(slot);
                }
            })
        }
    }

    /// Takes back the value written `i` positions after `tail` (not published).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); that slot was written by
    /// [`write_ahead`](Self::write_ahead) and not published or taken back since.
    pub(crate) unsafe fn take_ahead(&self, i: usize) -> T {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                // SAFETY: the slot holds our unpublished value (caller's contract).
                super::take(self.slot(self.slot_after(c.slot, i)))
            })
        }
    }

    /// Gives back `held` held slots and publishes the first `written` of them (written by
    /// [`write_ahead`](Self::write_ahead)) with one store of `tail`.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); `written <= held`, the caller's chunk holds `held`
    /// slots, and it wrote exactly the first `written`.
    pub(crate) unsafe fn publish_ahead(&self, written: usize, held: usize) {
        debug_assert!(written <= held);
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                c.held -= held;
                c.limit += held as Pos;
                if !c.exact {
                    c.refresh_at = c.limit;
                }
                if written == 0 {
                    return;
                }
                c.slot = self.slot_after(c.slot, written - 1);
                c.slot = self.next_slot(c.slot);
                c.tail = c.tail.wrapping_add(written as Pos);
                // Ordering: Release publishes the slot writes; pairs with the consumer's
                // Acquire load of `tail`.
                self.producer.tail.store(c.tail, Ordering::Release);
                // The high-water mark, as a push notes it: from a fresh read of `head`
                // (the cached one is older, so its length could pass the true peak; found
                // by the fuzz model), when the cached view says the run may have raised
                // the mark (exact mode) or filled the ring.
                if c.tail.wrapping_sub(c.cached_head) >= c.refresh_at {
                    self.refresh(c, false);
                }
            })
        }
    }

    /// How many items (up to `max`) a read chunk can take from `head` now.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn ready(&self, max: usize) -> usize {
        self.consumer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer.
            let c = unsafe { &mut *cursor };
            let mut ready = c.cached_tail.wrapping_sub(c.head) as usize;
            if ready < max && !c.sealed {
                // Ordering: Acquire pairs with the producer's Release store of `tail`: its
                // writes of the slots happen before our reads.
                c.cached_tail = self.producer.tail.load(Ordering::Acquire);
                ready = c.cached_tail.wrapping_sub(c.head) as usize;
            }
            ready.min(max)
        })
    }

    /// The item `i` positions after the consumer's cursor, in place.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop); `i` is below the items ready at the cursor (what
    /// [`ready`](Self::ready) returned, less those taken since); the reference does not
    /// outlive the next consumer-side call.
    pub(crate) unsafe fn peek_at(&self, i: usize) -> *const T {
        self.consumer_cursor.with(|cursor| {
            // SAFETY: the caller is the only consumer.
            let c = unsafe { &*cursor };
            self.slot(self.slot_after(c.slot, i))
                .with(|p| p.cast::<T>())
        })
    }

    /// The slots, and the index of the consumer's cursor's slot, for views of the items
    /// ready there as slices (not under loom, whose cells have no slice layout).
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    #[cfg(not(loom))]
    pub(crate) unsafe fn head_slot(&self) -> (*const T, usize, usize) {
        self.consumer_cursor.with(|cursor| {
            // SAFETY: the caller is the only consumer.
            let slot = unsafe { (*cursor).slot };
            // A `Slot<T>` is an `UnsafeCell<MaybeUninit<T>>` over core's cell
            // (`repr(transparent)` all the way): the slots are laid out as `[T]`.
            (self.slots.as_ptr().cast::<T>(), slot, self.slots.len())
        })
    }

    /// Moves out the item at the consumer's cursor and moves the cursor past it (without
    /// publishing `head`: [`release`](Self::release) does, once for the run). The cursor
    /// moves at once, so nothing reads the item again even if the caller never releases
    /// (a `mem::forget` of a read chunk): the next pop starts after it, and publishes.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop); an item is ready at the cursor (counted in what
    /// [`ready`](Self::ready) returned, and not taken since).
    pub(crate) unsafe fn take_front(&self) -> T {
        self.consumer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer.
            let c = unsafe { &mut *cursor };
            // SAFETY: the slot holds a ready item only we read, once: the cursor moves
            // past it now.
            let value = unsafe { super::take(self.slot(c.slot)) };
            c.slot = self.next_slot(c.slot);
            c.head = c.head.wrapping_add(1);
            value
        })
    }

    /// Publishes `head` at the consumer's cursor (past the items taken by
    /// [`take_front`](Self::take_front)), with one store.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn release(&self) {
        self.consumer_cursor.with(|cursor| {
            // SAFETY: the caller is the only consumer.
            let head = unsafe { (*cursor).head };
            // Ordering: Release: our reads of the slots happen before the producer, having
            // loaded this value with Acquire, writes them again.
            self.consumer.head.store(head, Ordering::Release);
        });
    }
}

impl<T> Ring<T> {
    /// Moves the `n` items from the consumer's cursor onto the end of `buf` (which has room
    /// for them) and moves the cursor's slot past them. Not under loom: two copies of the
    /// contiguous runs of slots into the `Vec`'s spare room, as `Vec::extend_from_slice`
    /// does (a `Slot<T>` is laid out as a `T`).
    #[cfg(not(loom))]
    fn take_into(&self, c: &mut ConsumerCursor, buf: &mut Vec<T>, n: usize) {
        debug_assert!(buf.capacity() - buf.len() >= n);
        let len = self.slots.len();
        let first = n.min(len - c.slot);
        let base = self.slots.as_ptr().cast::<T>();
        // SAFETY: the `n` slots from the cursor hold items only we read, once (the cursor
        // moves past them below); they are `first` slots from `c.slot` and `n - first` from
        // slot 0, each run contiguous and laid out as `[T]`; `buf` has room for `n` more
        // (reserved by the caller), which it owns once its length covers them.
        unsafe {
            let dst = buf.as_mut_ptr().add(buf.len());
            core::ptr::copy_nonoverlapping(base.add(c.slot), dst, first);
            core::ptr::copy_nonoverlapping(base, dst.add(first), n - first);
            buf.set_len(buf.len() + n);
        }
        c.slot = if c.slot + n >= len {
            c.slot + n - len
        } else {
            c.slot + n
        };
    }

    /// Under loom: item by item, through loom's cells.
    #[cfg(loom)]
    fn take_into(&self, c: &mut ConsumerCursor, buf: &mut Vec<T>, n: usize) {
        for _ in 0..n {
            // SAFETY: `head + i < tail`: the slot holds an item, which only we read, once
            // (the cursor moves past it).
            let value = unsafe { super::take(self.slot(c.slot)) };
            c.slot = self.next_slot(c.slot);
            buf.push(value);
        }
    }
}

impl<T> Ring<T> {
    /// Seals the consumer side: from now on `pop` returns only items the consumer already
    /// knows of, and never reads `tail` again (the queue's close protocol, in which the
    /// producer may take back an item it publishes later).
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn seal(&self) {
        self.consumer_cursor.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer.
            unsafe { (*cursor).sealed = true }
        });
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the ring. Drop the items in `head .. tail`.
        let (head, slot) = self.consumer_cursor.with(|c| {
            // SAFETY: exclusive access through `&mut self`.
            let c = unsafe { &*c };
            (c.head, c.slot)
        });
        // Ordering: Relaxed: `&mut self` means every other access happened before.
        let tail = self.producer.tail.load(Ordering::Relaxed);
        let count = tail.wrapping_sub(head) as usize;
        super::drop_items(slot, count, self.capacity(), &|index| {
            // SAFETY: positions `head .. tail` hold items no one else can reach, and
            // `drop_items` visits each of their slots once.
            unsafe { super::drop_in_place(self.slot(index)) }
        });
    }
}
