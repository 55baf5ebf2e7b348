//! Single-producer single-consumer ring.
//!
//! # Algorithm
//!
//! Lamport's ring buffer, with each side keeping a cached copy of the other side's index
//! (as rtrb does): the producer reads the consumer's `head` only when its cached copy says
//! the ring may be full (or may be at a new high-water mark, see below), and the consumer
//! reads the producer's `tail` only when its cached copy says the ring may be empty. `head`
//! and `tail` live on separate cache lines, each next to the private state of the side that
//! writes it.
//!
//! Positions are free-running 64-bit counters (on targets with 64-bit atomics; `usize`
//! elsewhere) in units of [`ONE`] (= 2), so that bit 0 of `head` is free for the [`LOCKED`]
//! flag. Position `p` lives in slot `(p / ONE) % capacity`; each side tracks its slot index
//! incrementally, so no division happens on the fast path. The consumer's slot index is
//! resynchronised from the distance `head` moved since its last pop (evictions move it), which
//! is exact as long as positions do not wrap: 2^62 items with 64-bit positions. (On targets
//! without 64-bit atomics, a drop-oldest queue must not see 2^31 evictions between two
//! receives.)
//!
//! # Invariants
//!
//! - `head <= tail <= head + capacity * ONE` (in wrapping arithmetic): the ring holds
//!   `(tail - head) / ONE` items, in positions `head .. tail`, and their slots are
//!   initialized. Every other slot is uninitialized.
//! - Only the producer writes `tail` and writes into slots.
//! - Without drop-oldest (*exclusive head*), only the consumer writes `head`: it reads the
//!   slot at `head`, then stores `head + ONE` (release). The producer's fast path, and the
//!   consumer's, contain no read-modify-write at all.
//!
//! # Drop-oldest while the consumer pops (*shared head*)
//!
//! With [`Policy::DropOldest`](crate::Policy::DropOldest) the producer must be able to take
//! the oldest item out of a full ring while the consumer may be taking the same item. The
//! two agree through the `head` word alone:
//!
//! ```text
//!   head word:  [ position (multiple of ONE) | LOCKED ]
//!
//!   consumer pop                         producer push on a full ring
//!   ------------                         ----------------------------
//!   w = head.fetch_add(LOCKED)           w = head.load()
//!     (now it owns position w)           if w is LOCKED: wait for the unlock (the
//!   if w == tail: head.store(w); empty     consumer is copying one item out; the ring
//!   read slot(w)                           is no longer full when it is done)
//!   head.store(w + ONE)   (unlock)       else CAS head: w -> w + ONE
//!                                          (now it owns the oldest item, position w,
//!                                           whose slot is the tail's slot)
//!                                        swap the new value into that slot,
//!                                        return the old one, publish tail + ONE
//! ```
//!
//! Invariant: **while `LOCKED` is set, only the consumer changes `head`**, so its unlock is a
//! plain store; and the producer changes `head` only by a compare-and-swap from an unlocked
//! value, so at most one side ever owns a given position. The consumer's lock is a
//! `fetch_add`, which cannot fail: the consumer never waits for the producer. The producer's
//! evicting push waits only while the consumer copies the one item it has locked (and in
//! that case the ring stops being full, so the push then succeeds without evicting). The
//! other policies keep the exclusive protocol: no compare-and-swap, no read-modify-write.
//!
//! # High-water mark
//!
//! The producer keeps the largest `len` it has seen. It refreshes its cached `head` not only
//! when the ring looks full but whenever its cached view says a push could go past the
//! high-water mark (`tail - cached_head >= high_water`). So the mark is exact at no cost on
//! the fast path: once it has grown to the queue's real peak, refreshes happen about once
//! every `high_water` pushes, and once it reaches capacity, exactly as often as any cached
//! ring refreshes.
//!
//! # Progress
//!
//! Push and pop with exclusive head are wait-free. With shared head, pop is wait-free and a
//! push on a full ring may wait for the consumer to finish copying one item.

use core::mem::MaybeUninit;
use core::ptr;

use crossbeam_utils::CachePadded;

use crate::error::BuildError;
use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicPos, AtomicUsize, Backoff, Ordering, Pos, SignedPos};

/// One position, in the units of `head` and `tail`.
pub(crate) const ONE: Pos = 2;
/// Set in `head` while the consumer copies the item at `head` out (shared-head mode only).
pub(crate) const LOCKED: Pos = 1;

/// The largest capacity: positions differ by at most `capacity * ONE`, which must stay far
/// below half the index range for wrapping comparisons to work.
pub(crate) const MAX_CAPACITY: usize = usize::MAX / 8;

/// The producer's state: `tail` (read by the consumer) beside the producer-private cursor.
struct ProducerLine {
    /// Position of the next push. Written only by the producer.
    tail: AtomicPos,
    /// The largest `len` the producer has seen, for snapshots. Written only by the producer.
    high_water: AtomicUsize,
    cursor: UnsafeCell<ProducerCursor>,
}

/// Producer-private: touched only by the producer (and by `Drop`).
struct ProducerCursor {
    /// Same value as `tail`, without an atomic load.
    tail: Pos,
    /// Slot of `tail`.
    slot: usize,
    /// A past value of `head` (so `<=` the real one), without `LOCKED`.
    cached_head: Pos,
    /// Refresh `cached_head` when `tail - cached_head >= refresh_at` (= `high_water * ONE`).
    refresh_at: Pos,
    /// Same value as the shared `high_water`.
    high_water: usize,
}

/// The consumer's state: `head` (read, and in shared-head mode written, by the producer)
/// beside the consumer-private cursor.
struct ConsumerLine {
    /// Position of the oldest item, plus `LOCKED`.
    head: AtomicPos,
    cursor: UnsafeCell<ConsumerCursor>,
}

/// Consumer-private: touched only by the consumer (and by `Drop`).
struct ConsumerCursor {
    /// The position the consumer last took (with exclusive head: equal to `head`; with
    /// shared head the producer may have moved `head` further since).
    head: Pos,
    /// Slot of `head` above.
    slot: usize,
    /// A past value of `tail` (so `<=` the real one).
    cached_tail: Pos,
}

/// What a push did.
#[derive(Debug)]
pub(crate) enum Push<T> {
    /// The value is in the ring.
    Pushed,
    /// The ring was full; the value is in the ring and this is the oldest item, evicted.
    Evicted(T),
    /// The ring was full; here is the value back.
    Full(T),
    /// `push_if`'s check said no; here is the value back.
    Refused(T),
}

/// The single-producer single-consumer ring.
pub(crate) struct Spsc<T> {
    consumer: CachePadded<ConsumerLine>,
    producer: CachePadded<ProducerLine>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Drop-oldest protocol (see the module docs). Fixed at construction.
    shared_head: bool,
}

// SAFETY: the ring hands each `T` from the producer thread to the consumer thread (or back to
// the producer when evicted), so `T: Send` is needed and enough. Slot and cursor accesses are
// made exclusive by the index protocol described in the module docs; callers of the
// producer/consumer methods promise one thread per side (see their `# Safety` sections).
unsafe impl<T: Send> Send for Spsc<T> {}
// SAFETY: as for `Send`: shared references only reach the slots through the unsafe
// producer/consumer methods, whose contracts keep each side on one thread at a time.
unsafe impl<T: Send> Sync for Spsc<T> {}

/// `a` is strictly ahead of `b` (positions never differ by half the index range).
#[inline(always)]
fn ahead(a: Pos, b: Pos) -> bool {
    (a.wrapping_sub(b) as SignedPos) > 0
}

impl<T> Spsc<T> {
    /// A ring holding exactly `capacity` items (at least 1). With `shared_head`, the producer
    /// may evict the oldest item ([`push`](Self::push) with `evict`).
    pub(crate) fn new(capacity: usize, shared_head: bool) -> Result<Self, BuildError> {
        if capacity == 0 {
            return Err(BuildError::new(crate::error::BuildErrorKind::ZeroCapacity));
        }
        super::check_capacity(capacity, MAX_CAPACITY)?;
        let slots = super::alloc_uninit_slots(capacity)?;
        Ok(Self {
            consumer: CachePadded::new(ConsumerLine {
                head: AtomicPos::new(0),
                cursor: UnsafeCell::new(ConsumerCursor {
                    head: 0,
                    slot: 0,
                    cached_tail: 0,
                }),
            }),
            producer: CachePadded::new(ProducerLine {
                tail: AtomicPos::new(0),
                high_water: AtomicUsize::new(0),
                cursor: UnsafeCell::new(ProducerCursor {
                    tail: 0,
                    slot: 0,
                    cached_head: 0,
                    refresh_at: 0,
                    high_water: 0,
                }),
            }),
            slots,
            shared_head,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The number of items, read from both indices. Racy: see the handles' docs.
    pub(crate) fn len(&self) -> usize {
        // Ordering: Relaxed is enough for a snapshot that the caller cannot act on atomically.
        // `head` is read first: as both only grow, the result is never below the real length
        // at the time of the later load, and it is clamped to the capacity.
        let head = self.consumer.head.load(Ordering::Relaxed) & !LOCKED;
        let tail = self.producer.tail.load(Ordering::Relaxed);
        let diff = tail.wrapping_sub(head);
        if (diff as SignedPos) < 0 {
            0
        } else {
            (diff / ONE).min(self.capacity() as Pos) as usize
        }
    }

    /// Items ever pushed (modulo the index range), for counters.
    pub(crate) fn pushed(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        (self.producer.tail.load(Ordering::Relaxed) / ONE) as usize
    }

    /// Items ever taken out through `head` (popped or evicted), for counters.
    pub(crate) fn taken(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        (self.consumer.head.load(Ordering::Relaxed) / ONE) as usize
    }

    /// The largest `len` the producer has seen.
    pub(crate) fn high_water(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        self.producer.high_water.load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn slot(&self, index: usize) -> &UnsafeCell<MaybeUninit<T>> {
        debug_assert!(index < self.slots.len());
        // SAFETY: every caller passes a slot index, which is always `< capacity` (slot
        // indices are advanced with `next_slot` and recomputed modulo the capacity).
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

    // === producer side ===

    /// Pushes `value`. On a full ring, returns it back in `Full`, or with `evict` (only in
    /// shared-head mode) evicts the oldest item and returns that in `Evicted`.
    ///
    /// # Safety
    ///
    /// - Only one thread at a time calls producer-side methods (`push`, `producer_len`).
    /// - `evict` is only passed as `true` if the ring was built with `shared_head`.
    #[inline]
    pub(crate) unsafe fn push(&self, value: T, evict: bool) -> Push<T> {
        // SAFETY: the caller guarantees we are the only producer and that `evict` is only
        // set in shared-head mode, which is all `push_if` asks.
        unsafe { self.push_if(value, evict, || true) }
    }

    /// As [`push`](Self::push), but asks `open` once room is known (after any reload of
    /// `head`) and right before the item is committed, and returns `Refused` if it says no.
    ///
    /// The order matters to the channel: room seen in `head` was made by a pop that
    /// happened before the load, so a flag the consumer set before popping (its close when
    /// it is dropped) is seen by `open`. A check made before the room is known could pass,
    /// and the push then land in room the dropped consumer's discarding made.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    pub(crate) unsafe fn push_if(&self, value: T, evict: bool, open: impl Fn() -> bool) -> Push<T> {
        debug_assert!(!evict || self.shared_head);
        self.producer.cursor.with_mut(|cursor| {
            // SAFETY: the caller guarantees we are the only producer, and only the producer
            // touches the producer cursor.
            let cursor = unsafe { &mut *cursor };
            // Past the high-water mark the cached `head` is reloaded, and the length noted.
            let mut new_len = None;
            if cursor.tail.wrapping_sub(cursor.cached_head) >= cursor.refresh_at {
                match self.refresh_head(cursor) {
                    Some(len) => new_len = Some(len),
                    None if !evict => return Push::Full(value),
                    // SAFETY: we are the only producer (caller's contract) in shared-head mode.
                    None => return unsafe { self.push_evicting(cursor, value, open) },
                }
            }
            // Ordering: `open` runs after our Acquire load of `head` (in `reload_head`, now
            // or on an earlier push), which pairs with the consumer's Release store of `head`
            // after a pop; anything the consumer did before that pop, such as closing, is
            // visible to `open`.
            if !open() {
                return Push::Refused(value);
            }
            if let Some(len) = new_len {
                self.note_len(cursor, len);
            }
            // SAFETY: `refresh_head` (now or earlier) established `tail - head < capacity`,
            // so the slot at `tail` is free, and only the producer writes slots.
            unsafe { self.write_and_publish(cursor, value) };
            Push::Pushed
        })
    }

    /// Whether a push would find room now (without evicting). Room found stays: only the
    /// producer fills the ring.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push): only one thread at a time calls producer-side methods.
    pub(crate) unsafe fn has_room(&self) -> bool {
        self.producer.cursor.with_mut(|cursor| {
            // SAFETY: we are the only producer (caller's contract).
            let cursor = unsafe { &mut *cursor };
            cursor.tail.wrapping_sub(cursor.cached_head) < self.capacity() as Pos * ONE
                || self.reload_head(cursor) < self.capacity()
        })
    }

    /// Reloads `head`. If there is room for one more item, returns the length after that
    /// push (for the high-water mark, noted once the push is decided).
    #[cold]
    fn refresh_head(&self, cursor: &mut ProducerCursor) -> Option<usize> {
        let len = self.reload_head(cursor);
        (len < self.capacity()).then_some(len + 1)
    }

    /// Reloads `head` into the cursor; returns the length.
    fn reload_head(&self, cursor: &mut ProducerCursor) -> usize {
        // Ordering: Acquire pairs with the consumer's Release store of `head` after it read a
        // slot: that read happens before we write the slot again.
        let head = self.consumer.head.load(Ordering::Acquire) & !LOCKED;
        cursor.cached_head = head;
        (cursor.tail.wrapping_sub(head) / ONE) as usize
    }

    #[inline]
    fn note_len(&self, cursor: &mut ProducerCursor, len: usize) {
        if len > cursor.high_water {
            cursor.high_water = len;
            cursor.refresh_at = len as Pos * ONE;
            // Ordering: Relaxed: read only by counter snapshots.
            self.producer.high_water.store(len, Ordering::Relaxed);
        }
    }

    /// # Safety
    ///
    /// The caller is the producer and the slot at `cursor.tail` is free.
    #[inline(always)]
    unsafe fn write_and_publish(&self, cursor: &mut ProducerCursor, value: T) {
        self.slot(cursor.slot).with_mut(|slot| {
            // SAFETY: the slot is free (caller's contract) and the consumer does not read it
            // before we publish `tail` below.
            unsafe { slot.write(MaybeUninit::new(value)) }
        });
        cursor.slot = self.next_slot(cursor.slot);
        cursor.tail = cursor.tail.wrapping_add(ONE);
        // Ordering: Release publishes the slot write; pairs with the consumer's Acquire load
        // of `tail`.
        self.producer.tail.store(cursor.tail, Ordering::Release);
    }

    /// The ring looked full: evict the oldest item unless the consumer makes room first.
    ///
    /// # Safety
    ///
    /// The caller is the producer, and the ring is in shared-head mode.
    #[cold]
    unsafe fn push_evicting(
        &self,
        cursor: &mut ProducerCursor,
        value: T,
        open: impl Fn() -> bool,
    ) -> Push<T> {
        let full = self.capacity() as Pos * ONE;
        let mut backoff = Backoff::new();
        // Ordering: Acquire, as in `refresh_head`.
        let mut head = self.consumer.head.load(Ordering::Acquire);
        loop {
            let pos = head & !LOCKED;
            // Asked after every load of `head`, before we commit to a push or an eviction.
            if !open() {
                return Push::Refused(value);
            }
            if cursor.tail.wrapping_sub(pos) < full {
                // The consumer took an item meanwhile: plain push.
                cursor.cached_head = pos;
                self.note_len(cursor, (cursor.tail.wrapping_sub(pos) / ONE) as usize + 1);
                // SAFETY: `tail - head < capacity`, so the tail's slot is free.
                unsafe { self.write_and_publish(cursor, value) };
                return Push::Pushed;
            }
            if head & LOCKED != 0 {
                // The consumer owns the oldest item and is copying it out; when it unlocks,
                // the ring has room. This is the only wait in the ring, one item copy long.
                backoff.snooze();
                // Ordering: Acquire pairs with the consumer's Release unlock.
                head = self.consumer.head.load(Ordering::Acquire);
                continue;
            }
            // Ordering: Acquire on success pairs with the consumer's last Release store of
            // `head` (its read of the slot before `pos` is done). Nothing of ours needs
            // publishing through `head`: the consumer learns of our writes through `tail`.
            match self.consumer.head.compare_exchange_weak(
                head,
                head.wrapping_add(ONE),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // We own position `pos`, the oldest; as the ring is full its slot is
                    // the tail's slot. The consumer will not read it: its next lock lands on
                    // `pos + ONE` or later, and it only reads positions below `tail`.
                    let old = self.slot(cursor.slot).with_mut(|slot| {
                        // SAFETY: the slot holds the item at `pos` (initialized, as
                        // `head <= pos < tail`), which we now own exclusively.
                        unsafe { ptr::replace(slot, MaybeUninit::new(value)).assume_init() }
                    });
                    cursor.cached_head = pos.wrapping_add(ONE);
                    cursor.slot = self.next_slot(cursor.slot);
                    cursor.tail = cursor.tail.wrapping_add(ONE);
                    // Ordering: Release publishes the new value, as in `write_and_publish`.
                    self.producer.tail.store(cursor.tail, Ordering::Release);
                    return Push::Evicted(old);
                }
                Err(actual) => {
                    head = actual;
                    backoff.spin();
                }
            }
        }
    }

    // === consumer side ===

    /// Takes the oldest item, if any.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls consumer-side methods (`pop`).
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.consumer.cursor.with_mut(|cursor| {
            // SAFETY: the caller guarantees we are the only consumer, and only the consumer
            // touches the consumer cursor.
            let cursor = unsafe { &mut *cursor };
            if self.shared_head {
                // SAFETY: we are the only consumer.
                unsafe { self.pop_shared(cursor) }
            } else {
                // SAFETY: we are the only consumer.
                unsafe { self.pop_exclusive(cursor) }
            }
        })
    }

    /// # Safety
    ///
    /// The caller is the consumer, and the ring is in exclusive-head mode.
    #[inline(always)]
    unsafe fn pop_exclusive(&self, cursor: &mut ConsumerCursor) -> Option<T> {
        let head = cursor.head;
        if head == cursor.cached_tail {
            // Ordering: Acquire pairs with the producer's Release store of `tail`: its write
            // of the slot happens before our read.
            cursor.cached_tail = self.producer.tail.load(Ordering::Acquire);
            if head == cursor.cached_tail {
                return None;
            }
        }
        // SAFETY: `head < tail`, so the slot is initialized, and only we read it (exclusive
        // head: the producer never takes items).
        Some(unsafe { self.take_and_advance(cursor) })
    }

    /// Moves the item at `cursor.head` out, then advances `head` past it with a plain
    /// Release store (which, in shared-head mode, also unlocks it).
    ///
    /// # Safety
    ///
    /// The caller is the consumer; `cursor.head < tail`, and the position is the caller's
    /// (exclusive head, or locked by the caller).
    #[inline(always)]
    unsafe fn take_and_advance(&self, cursor: &mut ConsumerCursor) -> T {
        // SAFETY: per the caller's contract, the slot holds an item only we may take.
        let value = unsafe { self.take_slot(cursor.slot) };
        cursor.slot = self.next_slot(cursor.slot);
        cursor.head = cursor.head.wrapping_add(ONE);
        // Ordering: Release: our read of the slot happens before the producer, having
        // loaded this value with Acquire (or CASed it), writes the slot again. In
        // shared-head mode this store also unlocks: while `LOCKED` is set no one else
        // writes `head`.
        self.consumer.head.store(cursor.head, Ordering::Release);
        value
    }

    /// # Safety
    ///
    /// The caller is the consumer, and the ring is in shared-head mode.
    #[inline]
    unsafe fn pop_shared(&self, cursor: &mut ConsumerCursor) -> Option<T> {
        // Look before locking, so that polling an empty ring costs no read-modify-write.
        // Ordering: Relaxed: only the lock below decides; this only skips it.
        let current = self.consumer.head.load(Ordering::Relaxed);
        if !ahead(cursor.cached_tail, current) {
            // Ordering: Acquire, as in `pop_exclusive`.
            cursor.cached_tail = self.producer.tail.load(Ordering::Acquire);
            if !ahead(cursor.cached_tail, current) {
                return None;
            }
        }
        // Lock the oldest item. The producer never changes a locked `head`, so from here
        // until our unlock store, position `head` is ours.
        // Ordering: Acquire, though nothing needs it today: the slots we read are published
        // by the producer's Release store of `tail` (our Acquire loads of it), and the
        // producer's evictions touch only the slot of the position they took from us.
        let head = self.consumer.head.fetch_add(LOCKED, Ordering::Acquire);
        debug_assert_eq!(head & LOCKED, 0, "only the consumer locks");
        if head != cursor.head {
            // The producer evicted items since our last pop: move our slot index along.
            let skipped = (head.wrapping_sub(cursor.head) / ONE % self.capacity() as Pos) as usize;
            cursor.slot = (cursor.slot + skipped) % self.capacity();
            cursor.head = head;
        }
        if !ahead(cursor.cached_tail, head) {
            // Ordering: Acquire, as in `pop_exclusive`.
            cursor.cached_tail = self.producer.tail.load(Ordering::Acquire);
            if !ahead(cursor.cached_tail, head) {
                // Evictions emptied the ring between our look and our lock.
                // Ordering: Release for symmetry with the unlock below; nothing was read.
                self.consumer.head.store(head, Ordering::Release);
                return None;
            }
        }
        debug_assert_eq!(cursor.head, head);
        // SAFETY: `head < tail` so the slot is initialized; we hold the lock on `head`, so
        // the producer cannot evict it, and it does not write the slot before our unlock.
        Some(unsafe { self.take_and_advance(cursor) })
    }

    /// # Safety
    ///
    /// The slot holds an initialized item that the caller owns exclusively.
    #[inline(always)]
    unsafe fn take_slot(&self, index: usize) -> T {
        self.slot(index).with(|slot| {
            // SAFETY: per the caller's contract.
            unsafe { slot.read().assume_init() }
        })
    }
}

impl<T> Drop for Spsc<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the ring. Drop the items in `head .. tail`.
        let capacity = self.capacity();
        let (head, head_slot) = self.consumer.cursor.with(|cursor| {
            // SAFETY: exclusive access through `&mut self`.
            let cursor = unsafe { &*cursor };
            // Ordering: Relaxed: `&mut self` means every other access happened before.
            let head = self.consumer.head.load(Ordering::Relaxed);
            debug_assert_eq!(head & LOCKED, 0);
            let skipped = (head.wrapping_sub(cursor.head) / ONE % capacity as Pos) as usize;
            (head, (cursor.slot + skipped) % capacity)
        });
        // Ordering: Relaxed, as above.
        let tail = self.producer.tail.load(Ordering::Relaxed);
        let count = (tail.wrapping_sub(head) / ONE) as usize;
        super::drop_items(head_slot, count, capacity, &|slot| {
            self.slot(slot).with_mut(|p| {
                // SAFETY: positions `head .. tail` hold initialized items that no one else
                // can reach, and `drop_items` visits each of their slots once.
                unsafe { ptr::drop_in_place((*p).as_mut_ptr()) }
            })
        });
    }
}
