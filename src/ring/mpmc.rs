//! Bounded multi-producer multi-consumer ring.
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>), in the
//! form crossbeam's `ArrayQueue` gave it: every slot carries a *stamp* that says whether it
//! is ready to be written (stamp = the position that will write it) or read (stamp = that
//! position + 1). Producers claim a position by a compare-and-swap on `tail`, consumers on
//! `head`; the stamp then hands the slot over.
//!
//! A position packs a slot index and a lap count, with one bit between them that marks the
//! ring closed (only ever set in `tail`). The `tail` word also carries, above the position,
//! the number of outstanding *reservations* (room promised to permits) and an `ABORT` bit:
//!
//! ```text
//!   tail word:  [ reserved (R_BITS) | ABORT | lap ..... | MARK | index ]
//!   position:                               [ lap ..... | MARK | index ]
//!                                             MARK = (capacity + 1).next_power_of_two()
//!   one_lap = 2 * MARK: adding it moves to the same index one lap later
//! ```
//!
//! Positions wrap modulo `2^POS_BITS`; stamps hold positions, so they wrap alike.
//!
//! # Room for permits
//!
//! A reservation is a unit of room, not a position: `reserve` raises the count in the `tail`
//! word (if `items + reserved < capacity`), and a reserved send claims the next position and
//! lowers the count in one compare-and-swap. A plain push reads the count from the word it
//! claims with, so the claim validates it: while nothing is reserved (the common case) the
//! push is exactly Vyukov's, with no extra load; while something is, it also reads `head`
//! to keep `items + reserved <= capacity`.
//!
//! # Overflow
//!
//! There is one push loop; what happens on a full ring is passed in: hand the value back, or
//! *evict*: claim the tail position like any push, then take the previous lap's item out of
//! the same slot by moving `head` past it with a compare-and-swap, which is the claim a
//! consumer makes too, so an item is taken by exactly one side. (With the drop-oldest policy,
//! reservations promise no room: a reserved send evicts like any other.)
//!
//! # Closing
//!
//! `close` sets the mark in `tail` with one `fetch_or`. A push checks the mark and its claim is
//! a compare-and-swap on `tail`, so no push claims a position after the close; reserved sends
//! still may (drain), until `abort` sets `ABORT`. A pop of a closed ring returns what is
//! queued, including items whose push claimed a position before the close and is still
//! writing (it waits for their stamp), and reports `Closed` once `head` meets `tail` with no
//! reservation left (or after an abort).
//!
//! # Progress
//!
//! Lock-free in the usual sense of Vyukov's queue: a claim retries only when another thread
//! succeeded; but an operation may wait for a preempted peer that claimed the neighbouring
//! position and has not finished copying its item (the stamp is not updated yet).

use crossbeam_utils::CachePadded;

use super::Slot as Value;
use crate::error::BuildError;
use crate::loom::cell::UnsafeCell;
use crate::loom::{AtomicPos, AtomicUsize, Backoff, Ordering, Pos};

/// The largest capacity: the tail word must hold the reservation count (up to the capacity),
/// the abort bit and a position with at least eight laps.
pub(crate) const MAX_CAPACITY: usize = if Pos::BITS >= 64 {
    (1 << 29) - 1
} else {
    (1 << 13) - 1
};

struct Slot<T> {
    /// Position that may write this slot next (empty), or the writing position + 1 (full).
    stamp: AtomicPos,
    value: Value<T>,
}

/// What a push did.
#[derive(Debug)]
pub(crate) enum Push<T> {
    Pushed,
    /// The ring was full: the value is in, and this is the oldest item, evicted.
    Evicted(T),
    Full(T),
    Closed(T),
}

/// What a reservation attempt did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    Reserved,
    Full,
    Closed,
}

/// What a pop found.
#[derive(Debug)]
pub(crate) enum Pop<T> {
    Item(T),
    Empty,
    /// Closed, empty and no reservation left (or aborted).
    Closed,
}

/// The bounded MPMC ring. All methods take `&self` and may be called from any thread.
pub(crate) struct Ring<T> {
    head: CachePadded<AtomicPos>,
    /// The tail word (see the module docs) and the high-water mark, which pushes raise
    /// right after claiming `tail` (so it costs no extra cache line).
    tail: CachePadded<(AtomicPos, AtomicUsize)>,
    slots: Box<[Slot<T>]>,
    mark_bit: Pos,
    one_lap: Pos,
    /// `2^POS_BITS - 1`: the position part of the tail word.
    pos_mask: Pos,
    /// The abort bit of the tail word.
    abort_bit: Pos,
    /// One reservation in the tail word.
    reserve_one: Pos,
    /// The most reservations the field holds (at least the capacity).
    reserve_max: usize,
    /// Reservations promise room (not with drop-oldest: see the module docs).
    reserve_room: bool,
    /// The bits of the tail word outside an unmarked position: a word without any is open,
    /// with nothing reserved, and is its own position (the push fast path).
    fast_mask: Pos,
    exact_high_water: bool,
}

// SAFETY: items move between threads through the ring, so `T: Send` is needed and enough;
// every slot access is made exclusive by the stamp protocol in the module docs.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`: all shared access goes through the claim/stamp protocol.
unsafe impl<T: Send> Sync for Ring<T> {}

/// How a claim of `tail` went.
enum Claim<'a, T> {
    /// Position claimed; its slot is empty.
    Free(Pos, &'a Slot<T>),
    /// Position claimed on a full ring; its slot still holds the oldest item.
    Evict(Pos, &'a Slot<T>),
    Full,
    Closed,
}

impl<T> Ring<T> {
    /// A send or reservation read the close mark with a `Relaxed` load (or a failed
    /// compare-and-swap): this load makes the caller synchronize with `close`'s
    /// read-modify-write, so the close happens-before the `Closed` the caller reports (the
    /// crate docs' "Memory ordering"; loom model `close_happens_before_closed`). Off the
    /// fast path. (An `Acquire` fence would do in the memory model, but ThreadSanitizer
    /// does not model fences and reported the read of `tests/ordering.rs` as a race.)
    #[cold]
    fn closed_seen(&self) {
        // Ordering: Acquire: reads the close's `fetch_or` or a later value of the tail word,
        // all written by read-modify-writes, so in the close's release sequence.
        let _ = self.tail.0.load(Ordering::Acquire);
    }

    /// A ring holding exactly `capacity` items (at least 1). `reserve_room`: reservations
    /// promise room (every policy but drop-oldest).
    pub(crate) fn new(
        capacity: usize,
        reserve_room: bool,
        exact_high_water: bool,
    ) -> Result<Self, BuildError> {
        debug_assert!(capacity > 0, "capacity 0 is the rendezvous flavor");
        super::check_capacity(capacity, MAX_CAPACITY)?;
        let mark_bit = (capacity as Pos + 1).next_power_of_two();
        // Reservations count up to the capacity, which is below `mark_bit`.
        // Reservations: up to the capacity when they hold room (so below `mark_bit`);
        // without room (drop-oldest) they are bounded only by the field, so give it at
        // least 20 bits where the position can spare them (the position keeps its index,
        // mark and at least 3 lap bits).
        let index_bits = mark_bit.trailing_zeros();
        let r_bits = if reserve_room {
            index_bits
        } else {
            index_bits.max(20).min(Pos::BITS - 1 - (index_bits + 4))
        };
        let pos_bits = Pos::BITS - r_bits - 1;
        let slots = super::alloc_slots(capacity, capacity, |i| Slot {
            stamp: AtomicPos::new(i as Pos),
            value: UnsafeCell::new(core::mem::MaybeUninit::uninit()),
        })?;
        Ok(Self {
            head: CachePadded::new(AtomicPos::new(0)),
            tail: CachePadded::new((AtomicPos::new(0), AtomicUsize::new(0))),
            slots,
            mark_bit,
            one_lap: mark_bit * 2,
            pos_mask: (1 << pos_bits) - 1,
            abort_bit: 1 << pos_bits,
            reserve_one: 1 << (pos_bits + 1),
            reserve_max: (1usize << r_bits) - 1,
            fast_mask: !((1 << pos_bits) - 1) | mark_bit,
            reserve_room,
            exact_high_water,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline(always)]
    fn slot(&self, position: Pos) -> &Slot<T> {
        let index = (position & (self.mark_bit - 1)) as usize;
        debug_assert!(index < self.slots.len());
        // SAFETY: positions only ever hold indices below the capacity (`next` wraps the
        // index to 0 at the capacity), and the mark bit is masked off.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// [`slot`](Self::slot) and [`next`](Self::next) of `position` (which carries no mark),
    /// with the index computed once: the fast paths need both.
    #[inline(always)]
    fn slot_and_next(&self, position: Pos) -> (&Slot<T>, Pos) {
        let index = position & (self.mark_bit - 1);
        debug_assert!((index as usize) < self.slots.len());
        // SAFETY: as in `slot`.
        let slot = unsafe { self.slots.get_unchecked(index as usize) };
        let next = if index + 1 < self.capacity() as Pos {
            position + 1
        } else {
            ((position & !(self.one_lap - 1)).wrapping_add(self.one_lap)) & self.pos_mask
        };
        (slot, next)
    }

    /// The position after `position` (which carries no mark).
    #[inline(always)]
    fn next(&self, position: Pos) -> Pos {
        let index = position & (self.mark_bit - 1);
        if index + 1 < self.capacity() as Pos {
            position + 1
        } else {
            ((position & !(self.one_lap - 1)).wrapping_add(self.one_lap)) & self.pos_mask
        }
    }

    /// `position - one_lap`, modulo the position range.
    #[inline(always)]
    fn prev_lap(&self, position: Pos) -> Pos {
        position.wrapping_sub(self.one_lap) & self.pos_mask
    }

    /// The number of positions from `from` to `to` (neither marked), negative if `to` is
    /// behind. Exact across the wrap of the position range: `one_lap` divides it.
    #[inline(always)]
    fn distance(&self, from: Pos, to: Pos) -> isize {
        let lap_mask = !(self.one_lap - 1);
        let index_mask = self.mark_bit - 1;
        let half = (self.pos_mask >> 1) + 1;
        let mut laps = (to & lap_mask).wrapping_sub(from & lap_mask) & self.pos_mask;
        let negative = laps >= half;
        if negative {
            laps = (self.pos_mask + 1 - laps) & self.pos_mask;
        }
        let laps = (laps / self.one_lap) as isize;
        let laps = if negative { -laps } else { laps };
        laps * self.capacity() as isize + (to & index_mask) as isize - (from & index_mask) as isize
    }

    /// A position as a count of positions since the start, modulo `positions_range()`: for
    /// counters only.
    #[inline(always)]
    fn seq(&self, position: Pos) -> Pos {
        let lap = (position & self.pos_mask) / self.one_lap;
        lap * self.capacity() as Pos + (position & (self.mark_bit - 1))
    }

    /// The modulus of [`pushed`](Self::pushed) and [`taken`](Self::taken).
    pub(crate) fn positions_range(&self) -> Pos {
        ((self.pos_mask + 1) / self.one_lap) * self.capacity() as Pos
    }

    #[inline(always)]
    fn reserved_of(&self, word: Pos) -> usize {
        (word >> self.reserve_one.trailing_zeros()) as usize
    }

    #[inline(always)]
    fn position_of(&self, word: Pos) -> Pos {
        word & self.pos_mask & !self.mark_bit
    }

    /// The tail word with `position` (unmarked) in place of its position, keeping the mark,
    /// `ABORT` and the reservations.
    #[inline(always)]
    fn with_position(&self, word: Pos, position: Pos) -> Pos {
        (word & !(self.pos_mask & !self.mark_bit)) | position
    }

    /// Claims the tail position. `reserved`: for a reserved send, which lowers the
    /// reservation count in the same step and ignores the close mark (not `ABORT`).
    fn claim(&self, evict: bool, reserved: bool) -> Claim<'_, T> {
        let mut backoff = Backoff::new();
        // Ordering: Relaxed: the compare-and-swap below validates it.
        let mut word = self.tail.0.load(Ordering::Relaxed);
        loop {
            if word & self.abort_bit != 0 || (!reserved && word & self.mark_bit != 0) {
                self.closed_seen();
                return Claim::Closed;
            }
            let tail = self.position_of(word);
            let next_word = {
                let w = self.with_position(word, self.next(tail));
                if reserved {
                    w - self.reserve_one
                } else {
                    w
                }
            };
            let slot = self.slot(tail);
            let prev = self.prev_lap(tail);
            // Ordering: Acquire pairs with the Release stamp store of the consumer that
            // emptied this slot: its read happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot is empty for our lap. Unless reservations hold the remaining
                // room (then check it against `head`), claim the position.
                let held = if reserved || !self.reserve_room {
                    0
                } else {
                    self.reserved_of(word)
                };
                if held > 0 {
                    // Ordering: SeqCst, in the total order of claims (a stale `head` only
                    // underestimates the room).
                    let head = self.head.load(Ordering::SeqCst);
                    let items = self.distance(head, tail).max(0) as usize;
                    if items + held >= self.capacity() {
                        // (Only without drop-oldest, so never an eviction.)
                        self.note(items);
                        return Claim::Full;
                    }
                }
                // Ordering: SeqCst on success keeps the claim in one total order with the
                // claims of `head`, the SeqCst loads of waiters' re-checks and the
                // notifiers' loads of the waiter flags (see `wait`): a waiter that
                // registered before our claim is seen by our notify, else it sees our claim.
                match self.tail.0.compare_exchange_weak(
                    word,
                    next_word,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Claim::Free(tail, slot),
                    Err(actual) => {
                        word = actual;
                        backoff.spin();
                    }
                }
            } else if stamp == prev.wrapping_add(1) {
                // The slot still holds the previous lap's item: the ring may be full.
                // Ordering: SeqCst load, after the stamp load: pairs with the SeqCst claims
                // of `head` (as crossbeam's fence does).
                let head = self.head.load(Ordering::SeqCst);
                if head == prev {
                    // Full. (A reserved send never gets here while reservations hold room:
                    // its room keeps the ring below capacity.)
                    self.note(self.capacity());
                    if evict {
                        // Ordering: as for the claim above.
                        match self.tail.0.compare_exchange_weak(
                            word,
                            next_word,
                            Ordering::SeqCst,
                            Ordering::Relaxed,
                        ) {
                            Ok(_) => return Claim::Evict(tail, slot),
                            Err(actual) => {
                                word = actual;
                                backoff.spin();
                                continue;
                            }
                        }
                    }
                    if !reserved {
                        return Claim::Full;
                    }
                }
                // A consumer claimed that item and is copying it out.
                backoff.snooze();
                // Ordering: Relaxed, revalidated by the loop.
                word = self.tail.0.load(Ordering::Relaxed);
            } else {
                // Another producer claimed this position and has not written yet, or our
                // word is stale.
                backoff.snooze();
                // Ordering: Relaxed, revalidated by the loop.
                word = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Pushes `value`. On a full ring, hands it back in `Full`, or with `evict` evicts the
    /// oldest item and returns that in `Evicted`.
    #[inline]
    pub(crate) fn push(&self, value: T, evict: bool) -> Push<T> {
        // The fast path: open, nothing reserved (the word is a bare position, unmarked), the
        // slot empty for our lap, and no other producer in the way.
        // Ordering: Relaxed: the compare-and-swap validates it.
        let word = self.tail.0.load(Ordering::Relaxed);
        if word & self.fast_mask == 0 {
            let (slot, next) = self.slot_and_next(word);
            // Ordering: Acquire, as in `claim`.
            if slot.stamp.load(Ordering::Acquire) == word
                && self
                    .tail
                    .0
                    // Ordering: SeqCst, as in `claim`.
                    .compare_exchange_weak(word, next, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: we claimed `word` (a bare position) and its slot is empty.
                unsafe { self.fill(slot, word, value) };
                if self.exact_high_water {
                    self.note_exact(word);
                }
                return Push::Pushed;
            }
        }
        self.push_slow(value, evict)
    }

    #[inline(never)]
    fn push_slow(&self, value: T, evict: bool) -> Push<T> {
        let claim = self.claim(evict, false);
        self.complete(claim, value)
    }

    /// Claims the run of up to `max` positions from `tail` whose slots are empty for their
    /// lap with one compare-and-swap, and fills them in order with values from `take`
    /// (called exactly once per position claimed). Returns how many; 0 unless the ring is
    /// open with nothing reserved and the slot at `tail` is empty (the caller then takes the
    /// one-value path). `take` must not panic: a claimed position must be filled.
    ///
    /// The run is checked before the claim: a slot empty for its lap at a position at or
    /// after `tail` stays empty until a claim of `tail` passes it.
    pub(crate) fn push_run(&self, max: usize, mut take: impl FnMut() -> T) -> usize {
        let mut backoff = Backoff::new();
        loop {
            // Ordering: Relaxed: the compare-and-swap validates it.
            let word = self.tail.0.load(Ordering::Relaxed);
            if word & self.fast_mask != 0 {
                return 0;
            }
            let mut end = word;
            let mut n = 0;
            while n < max {
                let (slot, next) = self.slot_and_next(end);
                // Ordering: Acquire, as in `claim`.
                if slot.stamp.load(Ordering::Acquire) != end {
                    break;
                }
                n += 1;
                end = next;
            }
            if n == 0 {
                return 0;
            }
            // Ordering: SeqCst, as in `claim`.
            if self
                .tail
                .0
                .compare_exchange_weak(word, end, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                backoff.spin();
                continue;
            }
            let mut position = word;
            let mut last = word;
            for _ in 0..n {
                let (slot, next) = self.slot_and_next(position);
                // SAFETY: we claimed the run, and its slots were empty for their lap.
                unsafe { self.fill(slot, position, take()) };
                last = position;
                position = next;
            }
            if self.exact_high_water {
                self.note_exact(last);
            }
            return n;
        }
    }

    /// Completes a push with what its claim found.
    #[inline(always)]
    fn complete(&self, claim: Claim<'_, T>, value: T) -> Push<T> {
        match claim {
            Claim::Free(tail, slot) => {
                // SAFETY: we claimed `tail` and its slot is empty (stamp == tail).
                unsafe { self.fill(slot, tail, value) };
                if self.exact_high_water {
                    self.note_exact(tail);
                }
                Push::Pushed
            }
            Claim::Evict(tail, slot) => self.evict_into(slot, tail, value),
            Claim::Full => Push::Full(value),
            Claim::Closed => Push::Closed(value),
        }
    }

    /// Reserves one unit of room (see the module docs). Never waits.
    pub(crate) fn reserve(&self) -> Reserve {
        let mut backoff = Backoff::new();
        // Ordering: Relaxed: validated by the compare-and-swap.
        let mut word = self.tail.0.load(Ordering::Relaxed);
        loop {
            if word & (self.mark_bit | self.abort_bit) != 0 {
                self.closed_seen();
                return Reserve::Closed;
            }
            if self.reserve_room {
                // Ordering: SeqCst, in the total order of claims; a stale `head` only
                // underestimates the room.
                let head = self.head.load(Ordering::SeqCst);
                let items = self.distance(head, self.position_of(word)).max(0) as usize;
                if items + self.reserved_of(word) >= self.capacity() {
                    return Reserve::Full;
                }
            } else if self.reserved_of(word) >= self.reserve_max {
                // Drop-oldest: a million permits outstanding fill the count (found by the
                // stress test: two permits at capacity 1 wrapped a count sized for the
                // capacity into the `ABORT` bit).
                return Reserve::Full;
            }
            // Ordering: SeqCst, as every change of the tail word.
            match self.tail.0.compare_exchange_weak(
                word,
                word + self.reserve_one,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Reserve::Reserved,
                Err(actual) => {
                    word = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// Sends into reserved room (lowering the count). `Closed` only after an abort; a
    /// drop-oldest ring may evict.
    pub(crate) fn push_reserved(&self, value: T) -> Push<T> {
        let claim = self.claim(!self.reserve_room, true);
        debug_assert!(
            !matches!(claim, Claim::Full),
            "a reserved send is never refused for room"
        );
        self.complete(claim, value)
    }

    /// Gives one reservation back. Returns the tail word after it.
    pub(crate) fn release_reserved(&self) -> Pos {
        // Ordering: SeqCst, as every change of the tail word.
        let word = self.tail.0.fetch_sub(self.reserve_one, Ordering::SeqCst);
        debug_assert!(self.reserved_of(word) > 0);
        word - self.reserve_one
    }

    /// We claimed position `tail` on a full ring; its slot still holds the item of position
    /// `tail - one_lap`, the oldest. Take it out by moving `head` past it, unless a consumer
    /// takes it first (then wait for the slot to empty and fill it normally).
    #[cold]
    fn evict_into(&self, slot: &Slot<T>, tail: Pos, value: T) -> Push<T> {
        let oldest = self.prev_lap(tail);
        // Ordering: SeqCst keeps this claim in the same total order as consumers' claims of
        // `head`; the oldest item's write was published by its stamp, which our claim loaded
        // with Acquire.
        if self
            .head
            .compare_exchange(
                oldest,
                self.next(oldest),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            let old = slot.value.with_mut(|p| {
                // SAFETY: we own both the oldest item (our claim of `head`) and the position
                // `tail` (our claim of `tail`); they share this slot.
                unsafe { core::ptr::replace(p, core::mem::MaybeUninit::new(value)).assume_init() }
            });
            // Ordering: Release publishes the new value to the consumer of `tail`.
            slot.stamp
                .store(tail.wrapping_add(1) & self.pos_mask, Ordering::Release);
            return Push::Evicted(old);
        }
        // A consumer claimed the oldest item; it stamps the slot `tail` when it is done.
        let mut backoff = Backoff::new();
        // Ordering: Acquire pairs with that consumer's Release stamp store.
        while slot.stamp.load(Ordering::Acquire) != tail {
            backoff.snooze();
        }
        // SAFETY: we claimed `tail` and the slot is now empty for it.
        unsafe { self.fill(slot, tail, value) };
        Push::Pushed
    }

    /// # Safety
    ///
    /// The caller claimed position `tail` and the slot's stamp is `tail` (empty).
    #[inline(always)]
    unsafe fn fill(&self, slot: &Slot<T>, tail: Pos, value: T) {
        // SAFETY: per the caller's contract the slot is empty and ours.
        unsafe { super::put(&slot.value, value) };
        // Ordering: Release publishes the value; pairs with the consumer's Acquire stamp load.
        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Raises the high-water mark to `items` (cold: only where a push found the ring full or
    /// had to read `head` anyway).
    #[cold]
    fn note(&self, items: usize) {
        // A load first: a full ring is noted on every refused push, and the mark rarely
        // moves, so mostly no read-modify-write.
        // Ordering: Relaxed: a statistic.
        if self.tail.1.load(Ordering::Relaxed) < items {
            // Ordering: Relaxed: a statistic.
            self.tail.1.fetch_max(items, Ordering::Relaxed);
        }
    }

    /// Exact mode: after a push at `tail`, reads `head` if the mark may be passed.
    fn note_exact(&self, tail: Pos) {
        // Ordering: Relaxed: a statistic.
        let mark = self.tail.1.load(Ordering::Relaxed);
        // Ordering: Relaxed: a statistic; a stale `head` overestimates by the pops since.
        let head = self.head.load(Ordering::Relaxed);
        let len = (self.distance(head, tail) + 1).clamp(0, self.capacity() as isize) as usize;
        if len > mark {
            self.note(len);
        }
    }

    /// Takes the oldest item.
    #[inline]
    pub(crate) fn pop(&self) -> Pop<T> {
        // The fast path: the slot at `head` is full for this lap, and no other consumer in
        // the way.
        // Ordering: Relaxed: the compare-and-swap validates it.
        let head = self.head.load(Ordering::Relaxed);
        let (slot, next) = self.slot_and_next(head);
        // Ordering: Acquire pairs with the producer's Release stamp store (see below).
        if slot.stamp.load(Ordering::Acquire) == head.wrapping_add(1)
            && self
                .head
                // Ordering: SeqCst, as below.
                .compare_exchange_weak(head, next, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: as below: the stamp says the slot holds `head`'s item, now ours.
            let value = unsafe { super::take(&slot.value) };
            // Ordering: Release, as below.
            slot.stamp.store(
                head.wrapping_add(self.one_lap) & self.pos_mask,
                Ordering::Release,
            );
            return Pop::Item(value);
        }
        self.pop_slow()
    }

    #[inline(never)]
    fn pop_slow(&self) -> Pop<T> {
        let mut backoff = Backoff::new();
        // Ordering: Relaxed: the compare-and-swap below validates it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // Ordering: Acquire pairs with the producer's Release stamp store: its write of
            // the value happens before our read.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head.wrapping_add(1) {
                // Ordering: SeqCst claim, in one total order with evictions, the claims of
                // `tail` and the waiters' re-checks (see `claim`).
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp says the slot holds position `head`'s item, and
                        // our claim of `head` makes it ours alone.
                        let value = unsafe { super::take(&slot.value) };
                        // Ordering: Release: our read happens before the next lap's producer
                        // (which loads the stamp with Acquire) writes the slot.
                        slot.stamp.store(
                            head.wrapping_add(self.one_lap) & self.pos_mask,
                            Ordering::Release,
                        );
                        return Pop::Item(value);
                    }
                    Err(actual) => {
                        head = actual;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // The slot is empty for this lap: the ring may be empty.
                // Ordering: SeqCst load after the stamp load, pairing with the SeqCst claims
                // of `tail` (as crossbeam's fence does).
                let word = self.tail.0.load(Ordering::SeqCst);
                if self.position_of(word) == head {
                    let closed = word & self.mark_bit != 0;
                    let done = word & self.abort_bit != 0 || self.reserved_of(word) == 0;
                    return if closed && done {
                        Pop::Closed
                    } else {
                        Pop::Empty
                    };
                }
                // A producer claimed `head` and is writing it.
                backoff.spin();
                // Ordering: Relaxed, revalidated by the loop.
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Our `head` is stale (another consumer took it), or a consumer of the
                // previous lap has not finished.
                backoff.snooze();
                // Ordering: Relaxed, revalidated by the loop.
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes up to `max` of the oldest items into `buf` with one claim of `head` (a batch
    /// receive): the run of positions from `head` whose slots hold this lap's items is
    /// claimed at once. Returns how many; 0 when the slot at `head` is not ready (the caller
    /// then takes the one-item path, which tells empty from closed).
    ///
    /// The run is checked before the claim: a slot full for this lap at a position at or
    /// after `head` stays full until a claim of `head` passes it, so if the claim succeeds
    /// (no one moved `head` since it was read), every slot of the run is ours.
    pub(crate) fn pop_into(&self, buf: &mut Vec<T>, max: usize) -> usize {
        let mut backoff = Backoff::new();
        loop {
            // Ordering: Relaxed: the compare-and-swap below validates it.
            let head = self.head.load(Ordering::Relaxed);
            let mut end = head;
            let mut n = 0;
            while n < max {
                let (slot, next) = self.slot_and_next(end);
                // Ordering: Acquire pairs with the producer's Release stamp store: its write
                // of the value happens before our read.
                if slot.stamp.load(Ordering::Acquire) != end.wrapping_add(1) {
                    break;
                }
                n += 1;
                end = next;
            }
            if n == 0 {
                return 0;
            }
            // Ordering: SeqCst claim, as in `pop_slow`.
            if self
                .head
                .compare_exchange_weak(head, end, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                backoff.spin();
                continue;
            }
            // Room first: nothing is taken out of a slot before the `Vec` can hold it.
            buf.reserve(n);
            let mut position = head;
            for _ in 0..n {
                let (slot, next) = self.slot_and_next(position);
                // SAFETY: the stamp said the slot holds position `position`'s item, and our
                // claim of the run makes it ours alone.
                let value = unsafe { super::take(&slot.value) };
                // Ordering: Release, as in `pop_slow`.
                slot.stamp.store(
                    position.wrapping_add(self.one_lap) & self.pos_mask,
                    Ordering::Release,
                );
                buf.push(value);
                position = next;
            }
            return n;
        }
    }

    /// Marks the ring closed (and, with `abort`, aborted). Returns the tail word before.
    pub(crate) fn close(&self, abort: bool) -> Pos {
        let bits = self.mark_bit | if abort { self.abort_bit } else { 0 };
        // Ordering: SeqCst: in the same total order as the claims of `tail`, so a push either
        // claimed before the mark (and is queued) or sees it.
        self.tail.0.fetch_or(bits, Ordering::SeqCst)
    }

    /// Whether the tail word `word` (from `close` or `release_reserved`) is closed.
    pub(crate) fn word_is_closed(&self, word: Pos) -> bool {
        word & self.mark_bit != 0
    }

    /// Whether the tail word `word` has no reservation left.
    pub(crate) fn word_unreserved(&self, word: Pos) -> bool {
        self.reserved_of(word) == 0
    }

    /// Whether the ring is closed with no reservation left: receivers that wait for a
    /// permit's value then report `Closed` once the ring is empty.
    pub(crate) fn closed_unreserved(&self) -> bool {
        // Ordering: SeqCst, in the total order of the tail word's changes: of a closing
        // ring's last two reservations to go, the one that goes second sees the count 0.
        let word = self.tail.0.load(Ordering::SeqCst);
        self.word_is_closed(word) && self.word_unreserved(word)
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Ordering: SeqCst: pairs with `close`.
        self.tail.0.load(Ordering::SeqCst) & self.mark_bit != 0
    }

    /// The number of items: claimed positions between `head` and `tail`, clamped to the
    /// capacity (a claimed position counts as soon as its push claimed it).
    pub(crate) fn len(&self) -> usize {
        loop {
            // Ordering: SeqCst loads of both ends, retried until `tail` did not move, give a
            // length that was true at one moment (as crossbeam does).
            let tail = self.tail.0.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // Ordering: as above.
            if self.tail.0.load(Ordering::SeqCst) == tail {
                let len = self.distance(head, self.position_of(tail));
                return len.clamp(0, self.capacity() as isize) as usize;
            }
        }
    }

    /// Items ever pushed, modulo [`positions_range`](Self::positions_range).
    pub(crate) fn pushed(&self) -> Pos {
        // Ordering: Relaxed: a counter snapshot.
        self.seq(self.position_of(self.tail.0.load(Ordering::Relaxed)))
    }

    /// Items ever taken through `head` (pops and evictions), modulo the same range.
    pub(crate) fn taken(&self) -> Pos {
        // Ordering: Relaxed: a counter snapshot.
        self.seq(self.head.load(Ordering::Relaxed))
    }

    /// The high-water mark, raised to `also` (a length the caller saw).
    pub(crate) fn high_water(&self, also: usize) -> usize {
        // Ordering: Relaxed: a statistic.
        self.tail.1.fetch_max(also, Ordering::Relaxed).max(also)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: every other access happened before; no push is mid-write (its
        // thread would hold a reference), so `head .. tail` are exactly the full slots.
        // Ordering: Relaxed, for that reason.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.position_of(self.tail.0.load(Ordering::Relaxed));
        let count = self.distance(head, tail);
        debug_assert!((0..=self.capacity() as isize).contains(&count));
        super::drop_items(
            (head & (self.mark_bit - 1)) as usize,
            count.max(0) as usize,
            self.capacity(),
            &|index| {
                // SAFETY: slots of positions `head .. tail` hold items that no one else can
                // reach; `drop_items` visits each once.
                unsafe { super::drop_in_place(&self.slots[index].value) }
            },
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Positions straddling the wrap of the position range: `len`, `distance` and `Drop`
    /// must measure across it.
    #[test]
    fn positions_wrap() {
        use std::sync::atomic::AtomicUsize as Counter;
        use std::sync::Arc;
        struct Counted(Arc<Counter>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let ring = Ring::<Counted>::new(3, true, false).unwrap();
        let last_lap = ring.pos_mask + 1 - ring.one_lap;
        ring.head.store(last_lap, Ordering::Relaxed);
        ring.tail.0.store(last_lap, Ordering::Relaxed);
        for (i, slot) in ring.slots.iter().enumerate() {
            slot.stamp.store(last_lap + i as Pos, Ordering::Relaxed);
        }
        let drops = Arc::new(Counter::new(0));
        for _ in 0..3 {
            assert!(matches!(
                ring.push(Counted(drops.clone()), false),
                Push::Pushed
            ));
        }
        assert!(matches!(
            ring.push(Counted(drops.clone()), false),
            Push::Full(_)
        ));
        assert!(matches!(ring.pop(), Pop::Item(_)));
        assert!(matches!(
            ring.push(Counted(drops.clone()), false),
            Push::Pushed
        ));
        assert_eq!(ring.len(), 3, "two before the wrap, one after");
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 2);
        drop(ring);
        assert_eq!(
            drops.load(std::sync::atomic::Ordering::SeqCst),
            5,
            "each dropped once"
        );
    }

    /// Drop-oldest reservations promise no room, so more of them than the capacity can be
    /// outstanding: the count must not spill into the `ABORT` bit or the position.
    #[test]
    fn drop_oldest_reservations_beyond_the_capacity() {
        let ring = Ring::<u32>::new(1, false, false).unwrap();
        for _ in 0..1000 {
            assert_eq!(ring.reserve(), Reserve::Reserved);
        }
        assert!(!ring.is_closed());
        assert!(matches!(ring.push(1, true), Push::Pushed));
        ring.close(false);
        assert!(matches!(ring.pop(), Pop::Item(1)));
        assert!(matches!(ring.pop(), Pop::Empty), "permits are outstanding");
        for i in 0..1000 {
            assert!(matches!(
                ring.push_reserved(i),
                Push::Pushed | Push::Evicted(_)
            ));
        }
        assert!(matches!(ring.pop(), Pop::Item(999)));
        assert!(matches!(ring.pop(), Pop::Closed));
    }

    #[test]
    fn reservations_hold_room() {
        let ring = Ring::<u32>::new(2, true, false).unwrap();
        assert_eq!(ring.reserve(), Reserve::Reserved);
        assert!(matches!(ring.push(1, false), Push::Pushed));
        assert!(matches!(ring.push(2, false), Push::Full(2)));
        assert_eq!(ring.reserve(), Reserve::Full);
        assert!(matches!(ring.push_reserved(3), Push::Pushed));
        assert!(matches!(ring.pop(), Pop::Item(1)));
        assert!(matches!(ring.pop(), Pop::Item(3)));
        // Reserved, then closed: pops report Empty until the reservation is used.
        assert_eq!(ring.reserve(), Reserve::Reserved);
        ring.close(false);
        assert!(matches!(ring.pop(), Pop::Empty));
        assert!(matches!(ring.push_reserved(4), Push::Pushed));
        assert!(matches!(ring.pop(), Pop::Item(4)));
        assert!(matches!(ring.pop(), Pop::Closed));
    }
}
