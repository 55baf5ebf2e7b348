//! Single-producer single-consumer ring whose producer can evict the oldest item while the
//! consumer receives: the storage of an SPSC queue with the drop-oldest policy.
//!
//! # Algorithm
//!
//! Both positions live in one word, so that an eviction takes the oldest item out and
//! publishes the new one in the same step (seen from the consumer, the length of a full ring
//! never dips during an eviction):
//!
//! ```text
//!   word:  [ tail (HALF bits) | head (HALF - 1 bits) | LOCKED ]
//! ```
//!
//! Positions count modulo `2^(HALF - 1)` (`HALF` is half the word); `tail - head` (wrapping)
//! is the number of items, including one the consumer has locked. The ring has
//! `capacity + 1` slots, one more than it may hold.
//!
//! ```text
//!   consumer pop                          producer push (room: items - locked < limit)
//!   ------------                          --------------------------------------------
//!   w = word.fetch_or(LOCKED)             write slot(tail); word.fetch_add(tail + 1)
//!     (owns position head(w))
//!   read slot(head)                       producer push on a full ring, head not locked
//!   word.fetch_add(1)  (head + 1,         ---------------------------------------------
//!     LOCKED cleared by the carry)        write slot(tail) (the spare slot: free)
//!                                         CAS word: (head, tail) -> (head + 1, tail + 1)
//!                                           then read slot(head): the evicted item
//! ```
//!
//! Invariants:
//! - While `LOCKED` is set, only the consumer changes `head`; the producer changes `head`
//!   only by a compare-and-swap from an unlocked word. So at most one side owns a position.
//! - At most `capacity + 1` positions are in use (counting a locked one), so the slot at
//!   `tail` is free whenever the producer writes it. If the consumer holds the lock on a full
//!   ring with every slot in use (it was descheduled while copying one item out, and the
//!   producer pushed twice meanwhile), a push reports [`Push::Busy`]: the caller waits as for
//!   room, and the consumer's unlock, which makes room, wakes it.
//!
//! The consumer's unlock is a `fetch_add(1)`: the carry out of `LOCKED` advances `head`.
//! Only when `head` is at the top of its range would the carry spill into `tail`; that one
//! unlock in `2^(HALF - 1)` is a compare-and-swap instead.
//!
//! # Progress
//!
//! Pop is wait-free (two read-modify-writes). A push that finds room is wait-free (one); an
//! evicting push is lock-free (its compare-and-swap fails only when the consumer locks or
//! unlocks meanwhile).

use crossbeam_utils::CachePadded;

use super::Slot;
use crate::error::BuildError;
use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicPos, AtomicUsize, Ordering, Pos};

/// Bits in half the word.
const HALF: u32 = Pos::BITS / 2;
/// Positions count modulo `2^(HALF - 1)`.
const POS_MASK: Pos = (1 << (HALF - 1)) - 1;
const LOCKED: Pos = 1;
/// One step of `tail`.
const TAIL_ONE: Pos = 1 << HALF;

/// The largest capacity: distances must stay far below the position range.
pub(crate) const MAX_CAPACITY: usize = (1 << (HALF - 3)) - 2;

#[inline(always)]
fn head_of(w: Pos) -> Pos {
    (w >> 1) & POS_MASK
}

#[inline(always)]
fn tail_of(w: Pos) -> Pos {
    (w >> HALF) & POS_MASK
}

#[inline(always)]
fn pack(head: Pos, tail: Pos) -> Pos {
    ((tail & POS_MASK) << HALF) | ((head & POS_MASK) << 1)
}

/// Positions in use, `tail - head`, including a locked one.
#[inline(always)]
fn used(w: Pos) -> Pos {
    tail_of(w).wrapping_sub(head_of(w)) & POS_MASK
}

/// What a push did.
#[derive(Debug)]
pub(crate) enum Push<T> {
    Pushed,
    /// The ring was full: the value is in, and this is the oldest item, evicted.
    Evicted(T),
    /// No room, and eviction was not asked for (or nothing can be evicted: all the room is
    /// held for permits).
    Full(T),
    /// Full while the consumer copies an item out with every slot in use: wait for its
    /// unlock (see the module docs).
    Busy(T),
}

/// Producer-private state.
struct ProducerCursor {
    /// Items ever pushed and ever evicted (full width: the packed positions wrap early).
    pushed: Pos,
    evicted: Pos,
    /// Slot of `tail`.
    slot: usize,
    /// Room for pushes: `capacity - held`.
    limit: Pos,
    /// Slots held back for permits.
    held: usize,
    /// As far as the producer knows, the high-water mark.
    high_water: usize,
    exact: bool,
}

/// Consumer-private state.
struct ConsumerCursor {
    /// Items ever popped (full width).
    popped: Pos,
    /// The last `head` the consumer knows of; evictions move the real one further.
    head: Pos,
    /// Slot of `head` above.
    slot: usize,
    /// Sealed (see [`Ring::seal`]).
    sealed: bool,
}

/// The drop-oldest SPSC ring.
pub(crate) struct Ring<T> {
    word: CachePadded<AtomicPos>,
    /// The producer's cursor, the high-water mark, and the published `pushed + evicted` and
    /// `evicted` counts (for snapshots).
    producer: CachePadded<(
        UnsafeCell<ProducerCursor>,
        AtomicUsize,
        AtomicPos,
        AtomicPos,
    )>,
    /// The consumer's cursor and its published `popped` count.
    consumer: CachePadded<(UnsafeCell<ConsumerCursor>, AtomicPos)>,
    /// `capacity + 1` slots.
    slots: Box<[Slot<T>]>,
}

// SAFETY: as for the plain SPSC ring: items move between two threads (`T: Send`), and every
// slot and cursor access is made exclusive by the protocol in the module docs and by the
// one-thread-per-side contracts of the unsafe methods.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding exactly `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize, exact_high_water: bool) -> Result<Self, BuildError> {
        debug_assert!(capacity > 0);
        super::check_capacity(capacity, MAX_CAPACITY)?;
        let slots = super::alloc_uninit_slots(capacity, capacity + 1)?;
        Ok(Self {
            word: CachePadded::new(AtomicPos::new(0)),
            producer: CachePadded::new((
                UnsafeCell::new(ProducerCursor {
                    pushed: 0,
                    evicted: 0,
                    slot: 0,
                    limit: capacity as Pos,
                    held: 0,
                    high_water: 0,
                    exact: exact_high_water,
                }),
                AtomicUsize::new(0),
                AtomicPos::new(0),
                AtomicPos::new(0),
            )),
            consumer: CachePadded::new((
                UnsafeCell::new(ConsumerCursor {
                    popped: 0,
                    head: 0,
                    slot: 0,
                    sealed: false,
                }),
                AtomicPos::new(0),
            )),
            slots,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline(always)]
    fn slot(&self, index: usize) -> &Slot<T> {
        debug_assert!(index < self.slots.len());
        // SAFETY: slot indices are advanced with `next_slot` or reduced modulo the length.
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

    #[inline(always)]
    fn load(&self) -> Pos {
        // Ordering: Acquire pairs with the other side's Release read-modify-writes: the
        // producer's publication of a written slot, the consumer's unlock after its read.
        self.word.load(Ordering::Acquire)
    }

    /// The number of items (a locked one, being taken, does not count). Seen from the
    /// consumer it can only grow; seen from the producer only shrink.
    pub(crate) fn len(&self) -> usize {
        let w = self.load();
        let items = used(w).saturating_sub(w & LOCKED);
        (items as usize).min(self.capacity())
    }

    /// Items ever pushed (for snapshots; exact when the ring is quiescent).
    pub(crate) fn pushed(&self) -> Pos {
        // Ordering: Relaxed: a snapshot.
        self.producer.2.load(Ordering::Relaxed)
    }

    /// Items ever taken out through `head`: popped or evicted (for snapshots).
    pub(crate) fn taken(&self) -> Pos {
        // Ordering: Relaxed: a snapshot.
        let popped = self.consumer.1.load(Ordering::Relaxed);
        // Ordering: Relaxed: a snapshot.
        popped.wrapping_add(self.producer.3.load(Ordering::Relaxed))
    }

    /// The high-water mark, raised to `also` (a length the caller saw).
    pub(crate) fn high_water(&self, also: usize) -> usize {
        // Ordering: Relaxed: a statistic.
        self.producer.1.fetch_max(also, Ordering::Relaxed).max(also)
    }

    // === producer side ===

    /// # Safety
    ///
    /// Only one thread at a time calls producer-side methods.
    #[inline(always)]
    unsafe fn with_producer<R>(&self, f: impl FnOnce(&mut ProducerCursor) -> R) -> R {
        self.producer.0.with_mut(|cursor| {
            // SAFETY: the caller is the only producer, the only one to touch its cursor.
            f(unsafe { &mut *cursor })
        })
    }

    fn note(&self, c: &mut ProducerCursor, len: usize) {
        if len > c.high_water {
            c.high_water = len;
            // Ordering: Relaxed: a statistic.
            self.producer.1.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Pushes `value`. On a full ring, with `evict`, evicts the oldest item; else hands the
    /// value back.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls producer-side methods (`push`, `hold`, `unhold`,
    /// `push_held`, `unpush`, `unevict`).
    pub(crate) unsafe fn push(&self, value: T, evict: bool) -> Push<T> {
        // SAFETY: the caller is the only producer.
        unsafe { self.with_producer(|c| self.push_with(c, value, evict, false)) }
    }

    /// Puts `value` in the place of the oldest item, full or not (a credit gate's
    /// drop-oldest send out of credit: the value takes the evicted item's credit):
    /// `Evicted` with the oldest item, `Full` when nothing is queued to evict, `Busy` while
    /// the consumer copies the oldest item out (retry: its unlock is a moment away).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn replace(&self, value: T) -> Push<T> {
        // SAFETY: the caller is the only producer.
        unsafe { self.with_producer(|c| self.push_with(c, value, true, true)) }
    }

    /// `force`: evict even when there is room (see [`replace`](Self::replace)).
    fn push_with(&self, c: &mut ProducerCursor, value: T, evict: bool, force: bool) -> Push<T> {
        let mut w = self.load();
        // The value once it is written into the slot at `tail` (so a retry does not write
        // it again).
        let mut value = Some(value);
        loop {
            let used = used(w);
            let locked = w & LOCKED;
            let items = used.saturating_sub(locked);
            if items < c.limit && !force {
                // Room: `used <= limit <= capacity`, so the slot at `tail` is free.
                if let Some(v) = value.take() {
                    // SAFETY: the slot at `tail` is free and only we write slots.
                    unsafe { super::put(self.slot(c.slot), v) };
                }
                // Ordering: Release publishes the slot write; pairs with the consumer's
                // Acquire `fetch_or`.
                self.word.fetch_add(TAIL_ONE, Ordering::Release);
                c.slot = self.next_slot(c.slot);
                c.pushed = c.pushed.wrapping_add(1);
                // Ordering: Relaxed: a statistic.
                self.producer.2.store(c.pushed, Ordering::Relaxed);
                if c.exact || items + 1 == c.limit {
                    self.note(c, items as usize + 1);
                }
                return Push::Pushed;
            }
            // Full.
            let Some(v) = value.take() else {
                unreachable!("a written value is published by the first branch");
            };
            if !force {
                self.note(c, items as usize);
            }
            if !evict || items == 0 {
                return Push::Full(v);
            }
            if locked != 0 {
                // Full, with every slot in use and the consumer copying the oldest out.
                return Push::Busy(v);
            }
            // Evict: the new value goes into the spare slot at `tail` (free: `used <=
            // limit <= capacity`), then one step takes the oldest and publishes the new.
            // SAFETY: as above.
            unsafe { super::put(self.slot(c.slot), v) };
            let head = head_of(w);
            let next = pack(head.wrapping_add(1), tail_of(w).wrapping_add(1));
            // Ordering: AcqRel: Release publishes the new value (as the push above);
            // Acquire pairs with the consumer's last unlock, after its read of the slot
            // before `head`.
            match self
                .word
                .compare_exchange(w, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let index = self.slot_of(c.slot, used);
                    c.slot = self.next_slot(c.slot);
                    c.pushed = c.pushed.wrapping_add(1);
                    c.evicted = c.evicted.wrapping_add(1);
                    // Ordering: Relaxed: statistics.
                    self.producer.3.store(c.evicted, Ordering::Relaxed);
                    // Ordering: Relaxed: statistics.
                    self.producer.2.store(c.pushed, Ordering::Relaxed);
                    // SAFETY: we moved `head` past the oldest item, unlocked, so it is ours;
                    // the consumer's next lock lands on a later position.
                    let old = unsafe { super::take(self.slot(index)) };
                    return Push::Evicted(old);
                }
                Err(actual) => {
                    // The consumer locked or unlocked meanwhile; our value is written.
                    // SAFETY: we wrote it just above and published nothing; take it back
                    // for the retry to publish (or hand back).
                    value = Some(unsafe { super::take(self.slot(c.slot)) });
                    w = actual;
                }
            }
        }
    }

    /// The slot `back` positions before the slot `from`.
    #[inline]
    fn slot_of(&self, from: usize, back: Pos) -> usize {
        let n = self.slots.len();
        let back = (back % n as Pos) as usize;
        (from + n - back) % n
    }

    /// Holds one slot back for a permit, if there is room.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn hold(&self) -> bool {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                let w = self.load();
                let items = used(w).saturating_sub(w & LOCKED);
                if items >= c.limit {
                    return false;
                }
                c.held += 1;
                c.limit -= 1;
                true
            })
        }
    }

    /// Gives back a held slot.
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
            })
        }
    }

    /// Pushes into a held slot; never full, never evicts.
    ///
    /// # Safety
    ///
    /// As for [`unhold`](Self::unhold).
    pub(crate) unsafe fn push_held(&self, value: T) {
        // SAFETY: the caller is the only producer and holds a slot.
        unsafe {
            self.with_producer(|c| {
                c.held -= 1;
                c.limit += 1;
                match self.push_with(c, value, false, false) {
                    Push::Pushed => {}
                    // A held slot is room: the other outcomes cannot happen.
                    Push::Full(v) | Push::Busy(v) | Push::Evicted(v) => {
                        debug_assert!(false, "a held slot is room");
                        drop(v);
                    }
                }
            })
        }
    }

    /// Takes back the item pushed last; with `evicted`, also undoes that push's eviction by
    /// putting the evicted item back at the head.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); the last push put an item in (and evicted `evicted`, if
    /// given), and the consumer neither reads nor locks until the caller lets it (it has
    /// stopped, see the SPSC queue's close protocol).
    pub(crate) unsafe fn unpush(&self, evicted: Option<T>) -> T {
        // SAFETY: the caller is the only producer.
        unsafe {
            self.with_producer(|c| {
                let w = self.load();
                debug_assert_eq!(w & LOCKED, 0, "the consumer has stopped");
                c.slot = if c.slot == 0 {
                    self.slots.len() - 1
                } else {
                    c.slot - 1
                };
                // SAFETY: the newest position holds our item; the consumer will not read it.
                let value = super::take(self.slot(c.slot));
                let mut head = head_of(w);
                c.pushed = c.pushed.wrapping_sub(1);
                // Ordering: Relaxed: a statistic.
                self.producer.2.store(c.pushed, Ordering::Relaxed);
                if let Some(old) = evicted {
                    c.evicted = c.evicted.wrapping_sub(1);
                    // Ordering: Relaxed: a statistic.
                    self.producer.3.store(c.evicted, Ordering::Relaxed);
                    head = head.wrapping_sub(1);
                    let index = self.slot_of(c.slot, used(w));
                    // SAFETY: the slot before `head` is free (the eviction emptied it and
                    // nothing wrote it since: the producer writes only at `tail`, and at
                    // most `capacity` positions are in use without it).
                    super::put(self.slot(index), old);
                }
                // Ordering: Release publishes the restored slot (the consumer reads it only
                // after it resumes, through an Acquire load of the word).
                self.word
                    .store(pack(head, tail_of(w).wrapping_sub(1)), Ordering::Release);
                value
            })
        }
    }

    // === consumer side ===

    /// Takes the oldest item, if any.
    ///
    /// # Safety
    ///
    /// Only one thread at a time calls consumer-side methods (`pop`).
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let sealed = self.consumer.0.with(|c| {
            // SAFETY: the caller is the only consumer.
            unsafe { (*c).sealed }
        });
        // Look before locking, so that polling an empty ring costs no read-modify-write.
        if sealed || used(self.load()) == 0 {
            return None;
        }
        self.consumer.0.with_mut(|cursor| {
            // SAFETY: the caller is the only consumer, the only one to touch its cursor.
            let c = unsafe { &mut *cursor };
            // Lock the oldest item: from here until the unlock, only we change `head`.
            // Ordering: Acquire pairs with the producer's Release publication of the slot.
            let w = self.word.fetch_or(LOCKED, Ordering::Acquire);
            debug_assert_eq!(w & LOCKED, 0, "only the consumer locks");
            let head = head_of(w);
            if tail_of(w) == head {
                // Only the consumer empties the ring (evictions keep its length), so after our
                // look this is unreachable in practice; unlock without advancing.
                // Ordering: Release, as the unlock below.
                self.word.fetch_and(!LOCKED, Ordering::Release);
                return None;
            }
            if head != c.head {
                // Evictions moved `head` since our last pop: move our slot index along.
                let skipped = head.wrapping_sub(c.head) & POS_MASK;
                let n = self.slots.len() as Pos;
                c.slot = ((c.slot as Pos + skipped % n) % n) as usize;
                c.head = head;
            }
            // SAFETY: `head < tail`, so the slot holds an item, and our lock keeps the
            // producer from evicting it or writing the slot (it is in use).
            let value = unsafe { super::take(self.slot(c.slot)) };
            c.slot = self.next_slot(c.slot);
            c.head = head.wrapping_add(1) & POS_MASK;
            c.popped = c.popped.wrapping_add(1);
            // Ordering: Relaxed: a statistic.
            self.consumer.1.store(c.popped, Ordering::Relaxed);
            if head == POS_MASK {
                // The carry would spill into `tail`: unlock by compare-and-swap.
                let mut w = self.word.load(Ordering::Relaxed);
                loop {
                    let next = pack(c.head, tail_of(w));
                    // Ordering: Release: our read of the slot happens before the producer
                    // reuses it (it loads the word with Acquire).
                    match self.word.compare_exchange_weak(
                        w,
                        next,
                        Ordering::Release,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => w = actual,
                    }
                }
            } else {
                // Ordering: Release, as above. The carry out of LOCKED advances `head`.
                self.word.fetch_add(LOCKED, Ordering::Release);
            }
            Some(value)
        })
    }
}

impl<T> Ring<T> {
    /// Seals the consumer side: `pop` returns nothing from now on (the queue's close
    /// protocol, in which the producer may take back an item it publishes later; the ring is
    /// empty when it is sealed).
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    pub(crate) unsafe fn seal(&self) {
        self.consumer.0.with_mut(|c| {
            // SAFETY: the caller is the only consumer.
            unsafe { (*c).sealed = true }
        });
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the ring.
        // Ordering: Relaxed: every other access happened before.
        let w = self.word.load(Ordering::Relaxed);
        debug_assert_eq!(w & LOCKED, 0);
        let (head, slot) = self.consumer.0.with(|c| {
            // SAFETY: exclusive access through `&mut self`.
            let c = unsafe { &*c };
            (c.head, c.slot)
        });
        let skipped = head_of(w).wrapping_sub(head) & POS_MASK;
        let n = self.slots.len();
        let first = (slot + (skipped % n as Pos) as usize) % n;
        super::drop_items(first, used(w) as usize, n, &|index| {
            // SAFETY: the positions `head .. tail` hold items no one else can reach, and
            // `drop_items` visits each of their slots once.
            unsafe { super::drop_in_place(self.slot(index)) }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// An evicting push never waits inside the ring (issue 6 item 12): with the consumer
    /// descheduled while it holds the lock on the oldest item, a push first uses the spare
    /// slot, and the next one reports `Busy` at once, for the caller to wait as for room (a
    /// wait that the consumer's unlock ends, never a yield loop).
    #[test]
    fn a_locked_full_ring_reports_busy_at_once() {
        let ring = Ring::<u32>::new(2, false).unwrap();
        // SAFETY: one thread plays both sides, one at a time, and the slot it reads by hand
        // holds the locked item (position 0, slot 0).
        unsafe {
            assert!(matches!(ring.push(1, true), Push::Pushed));
            assert!(matches!(ring.push(2, true), Push::Pushed));
            // The consumer locks the oldest item (and is "descheduled" before reading it).
            let w = ring.word.fetch_or(LOCKED, Ordering::Acquire);
            assert_eq!(w & LOCKED, 0);
            // The locked item is being received: one room, in the spare slot.
            assert!(matches!(ring.push(3, true), Push::Pushed));
            assert_eq!(ring.len(), 2);
            // Full, every slot in use, oldest locked: Busy, without waiting.
            assert!(matches!(ring.push(4, true), Push::Busy(4)));
            // The consumer resumes: it takes item 1 and unlocks.
            ring.consumer.0.with_mut(|c| {
                let value = super::super::take(ring.slot((*c).slot));
                assert_eq!(value, 1);
                (*c).slot = ring.next_slot((*c).slot);
                (*c).head = 1;
            });
            ring.word.fetch_add(LOCKED, Ordering::Release);
            // Now the push evicts the oldest queued item (2), as drop-oldest says.
            assert!(matches!(ring.push(4, true), Push::Evicted(2)));
            assert_eq!(ring.pop(), Some(3));
            assert_eq!(ring.pop(), Some(4));
            assert_eq!(ring.pop(), None);
        }
    }
}
