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
//! queue closed (only ever set in `tail`):
//!
//! ```text
//!   position:  [ lap ........ | MARK | index ]
//!                               ^ mark_bit = (capacity + 1).next_power_of_two()
//!   one_lap = 2 * mark_bit: adding it moves to the same index one lap later
//! ```
//!
//! # Overflow
//!
//! There is one push loop; what happens on a full ring is passed in: hand the value back
//! (`Full`), or *evict*: claim the tail position like any push, then take the previous lap's
//! item out of the same slot by moving `head` past it with a compare-and-swap, which is the
//! claim a consumer makes too, so an item is taken by exactly one side. Claiming the tail
//! first means a concurrent close (which marks `tail`) either stops the push or sees its
//! position, so `discard_all` never misses an evicting push.
//!
//! # Closing
//!
//! `close` sets the mark bit in `tail` with one `fetch_or`. A push checks the mark and its
//! claim is a compare-and-swap on `tail`, so no push claims a position after the close. A
//! pop of a closed ring still returns what is queued, including items whose push claimed a
//! position before the close and is still writing (it waits for their stamp).
//!
//! # Progress
//!
//! Lock-free in the usual sense of Vyukov's queue: a claim retries only when another thread
//! succeeded; but an operation may wait for a preempted peer that claimed the neighbouring
//! position and has not finished copying its item (the stamp is not updated yet).

use core::mem::MaybeUninit;
use core::ptr;

use crossbeam_utils::CachePadded;

use crate::error::BuildError;
use crate::loom::cell::UnsafeCell;
use crate::loom::{fence, AtomicUsize, Backoff, Ordering};

/// The largest capacity: keeps at least eight laps in the position range, so stamps of
/// different laps never alias while a thread holds a position it read.
pub(crate) const MAX_CAPACITY: usize = (usize::MAX >> 5) - 1;

struct Slot<T> {
    /// Position that may write this slot next (empty), or the writing position + 1 (full).
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The producers' line: `tail`, and the high-water bookkeeping that producers update right
/// after their claim of `tail` (so it costs no extra cache line).
struct TailLine {
    tail: AtomicUsize,
    /// Largest `len` seen by a push.
    high_water: AtomicUsize,
    /// A past value of `head`.
    head_hint: AtomicUsize,
    /// Reservations given up (void positions), for counters.
    voided: AtomicUsize,
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

/// A claimed tail position awaiting its value (see [`Mpmc::reserve`]).
#[derive(Debug)]
pub(crate) struct Reservation(usize);

/// What a reservation attempt did.
#[derive(Debug)]
pub(crate) enum Reserve {
    Reserved(Reservation),
    Full,
    Closed,
}

enum Claim<'a, T> {
    /// Position claimed; its slot is empty.
    Free(usize, &'a Slot<T>),
    /// Position claimed on a full ring; its slot still holds the oldest item.
    Evict(usize, &'a Slot<T>),
    Full,
    Closed,
}

/// What a pop found.
#[derive(Debug)]
pub(crate) enum Pop<T> {
    Item(T),
    Empty,
    /// Closed and empty.
    Closed,
}

/// The bounded MPMC ring. All methods take `&self` and may be called from any thread.
pub(crate) struct Mpmc<T> {
    head: CachePadded<AtomicUsize>,
    /// Void positions passed over by consumers, for counters. Only touched when a permit
    /// was dropped without sending.
    skipped: CachePadded<AtomicUsize>,
    tail: CachePadded<TailLine>,
    slots: Box<[Slot<T>]>,
    mark_bit: usize,
    one_lap: usize,
}

// SAFETY: items move between threads through the ring, so `T: Send` is needed and enough;
// every slot access is made exclusive by the stamp protocol in the module docs.
unsafe impl<T: Send> Send for Mpmc<T> {}
// SAFETY: as for `Send`: all shared access goes through the claim/stamp protocol.
unsafe impl<T: Send> Sync for Mpmc<T> {}

impl<T> Mpmc<T> {
    /// A ring holding exactly `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize) -> Result<Self, BuildError> {
        debug_assert!(capacity > 0, "capacity 0 is the rendezvous flavor");
        super::check_capacity(capacity, MAX_CAPACITY)?;
        let mark_bit = (capacity + 1).next_power_of_two();
        let slots = super::alloc_slots(capacity, |i| Slot {
            stamp: AtomicUsize::new(i),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        })?;
        Ok(Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(TailLine {
                tail: AtomicUsize::new(0),
                high_water: AtomicUsize::new(0),
                head_hint: AtomicUsize::new(0),
                voided: AtomicUsize::new(0),
            }),
            skipped: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mark_bit,
            one_lap: mark_bit * 2,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline(always)]
    fn slot(&self, position: usize) -> &Slot<T> {
        let index = position & (self.mark_bit - 1);
        debug_assert!(index < self.slots.len());
        // SAFETY: positions only ever hold indices below the capacity (`next` wraps the
        // index to 0 at the capacity), and the mark bit is masked off.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The position after `position` (which carries no mark).
    #[inline(always)]
    fn next(&self, position: usize) -> usize {
        let index = position & (self.mark_bit - 1);
        if index + 1 < self.capacity() {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The number of positions from `from` to `to` (neither marked), negative if `to` is
    /// behind. Exact across the wrap of the index range: `one_lap` divides it.
    #[inline(always)]
    fn distance(&self, from: usize, to: usize) -> isize {
        let lap_mask = !(self.one_lap - 1);
        let index_mask = self.mark_bit - 1;
        let laps = ((to & lap_mask).wrapping_sub(from & lap_mask) as isize) / self.one_lap as isize;
        laps.wrapping_mul(self.capacity() as isize)
            .wrapping_add((to & index_mask) as isize)
            .wrapping_sub((from & index_mask) as isize)
    }

    /// A position as a count of positions since the start, for counters only: it wraps at
    /// a modulus that is not a power of two (after 2^61 and more items on 64-bit targets, but
    /// about 10^9 on 32-bit ones); lengths use [`distance`](Self::distance).
    #[inline(always)]
    fn seq(&self, position: usize) -> usize {
        let lap = position / self.one_lap;
        lap.wrapping_mul(self.capacity())
            .wrapping_add(position & (self.mark_bit - 1))
    }

    /// Claims the tail position for a push or a reservation. With `evict`, a full ring is
    /// claimed anyway (`Evict`), to take the oldest item out of the claimed slot.
    fn claim(&self, evict: bool) -> Claim<'_, T> {
        let mut backoff = Backoff::new();
        // Ordering: Relaxed: the compare-and-swap below validates it.
        let mut tail = self.tail.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.mark_bit != 0 {
                return Claim::Closed;
            }
            let slot = self.slot(tail);
            let prev = tail.wrapping_sub(self.one_lap);
            // Ordering: Acquire pairs with the Release stamp store of the consumer that
            // emptied this slot: its read happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot is empty for our lap: claim the position.
                // Ordering: SeqCst on success keeps the claim in one total order with the
                // claims of `head` and the SeqCst fences of the full/empty checks (the slot
                // itself is handed over through the stamp).
                match self.tail.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Claim::Free(tail, slot),
                    Err(actual) => {
                        tail = actual;
                        backoff.spin();
                    }
                }
            } else if stamp == prev.wrapping_add(1)
                || stamp == prev.wrapping_add(1) | self.mark_bit
                || stamp == prev | self.mark_bit
            {
                // The slot still holds the previous lap's item (or its reservation or void
                // mark): the ring may be full.
                // Ordering: the fence orders our stamp load before the head load, pairing
                // with the SeqCst claims of `head` (as in crossbeam).
                fence(Ordering::SeqCst);
                // Ordering: Relaxed after the fence.
                let head = self.head.load(Ordering::Relaxed);
                if head == prev && stamp == prev.wrapping_add(1) | self.mark_bit {
                    // The oldest position is void (a dropped permit): pass over it, as a
                    // consumer would, and then the slot is ours to claim.
                    // Ordering: as for a consumer's claim of `head`.
                    if self
                        .head
                        .compare_exchange(
                            prev,
                            self.next(prev),
                            Ordering::SeqCst,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        // Ordering: Relaxed: a statistic.
                        self.skipped.fetch_add(1, Ordering::Relaxed);
                        // Ordering: Release, as a consumer's stamp store after its read.
                        slot.stamp.store(tail, Ordering::Release);
                    }
                    continue;
                }
                if head == prev {
                    // Drop-oldest queues make no reservations, so with `evict` the oldest
                    // is a plain item.
                    if !evict || stamp != prev.wrapping_add(1) {
                        return Claim::Full;
                    }
                    // Ordering: as for the claim above.
                    match self.tail.tail.compare_exchange_weak(
                        tail,
                        self.next(tail),
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Claim::Evict(tail, slot),
                        Err(actual) => {
                            tail = actual;
                            backoff.spin();
                            continue;
                        }
                    }
                }
                // A consumer claimed that item and is copying it out.
                backoff.spin();
                // Ordering: Relaxed, revalidated by the loop.
                tail = self.tail.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed this position and has not written yet, or our
                // `tail` is stale.
                backoff.snooze();
                // Ordering: Relaxed, revalidated by the loop.
                tail = self.tail.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pushes `value`. On a full ring, hands it back in `Full`, or with `evict` evicts the
    /// oldest item and returns that in `Evicted`.
    pub(crate) fn push(&self, value: T, evict: bool) -> Push<T> {
        match self.claim(evict) {
            Claim::Free(tail, slot) => {
                // SAFETY: we claimed `tail` and its slot is empty (stamp == tail).
                unsafe { self.fill(slot, tail, value) };
                self.note_push(tail);
                Push::Pushed
            }
            Claim::Evict(tail, slot) => self.evict_into(slot, tail, value),
            Claim::Full => Push::Full(value),
            Claim::Closed => Push::Closed(value),
        }
    }

    /// Claims the tail position without writing it, for a permit: receivers stop at it
    /// (report empty) until [`fill_reserved`](Self::fill_reserved) or
    /// [`void_reserved`](Self::void_reserved). Never evicts.
    pub(crate) fn reserve(&self) -> Reserve {
        match self.claim(false) {
            Claim::Free(tail, slot) => {
                // Ordering: Release for symmetry with `fill`; consumers only compare it.
                slot.stamp.store(tail | self.mark_bit, Ordering::Release);
                // A reservation counts in `len`, so in the high-water mark too.
                self.note_push(tail);
                Reserve::Reserved(Reservation(tail))
            }
            Claim::Evict(..) => unreachable!("claim(false) never evicts"),
            Claim::Full => Reserve::Full,
            Claim::Closed => Reserve::Closed,
        }
    }

    /// Writes the value of a reservation.
    ///
    /// # Safety
    ///
    /// `reservation` came from this ring's [`reserve`](Self::reserve) and is used once.
    pub(crate) unsafe fn fill_reserved(&self, reservation: Reservation, value: T) {
        let tail = reservation.0;
        // SAFETY: the reservation claimed `tail`; no one else writes its slot, and consumers
        // do not read it while the stamp carries the reservation mark.
        unsafe { self.fill(self.slot(tail), tail, value) };
        self.note_push(tail);
    }

    /// Gives a reservation up. If no position was claimed after it, the tail moves back
    /// and the position is free again; otherwise it is marked void, and the first receiver
    /// (or producer, when it is the oldest) to reach it passes over it. Until then a void
    /// position takes up one place of the capacity (it is not counted in `len`).
    ///
    /// # Safety
    ///
    /// `reservation` came from this ring's [`reserve`](Self::reserve) and is used once.
    pub(crate) unsafe fn void_reserved(&self, reservation: Reservation) {
        let tail = reservation.0;
        let slot = self.slot(tail);
        // Mark the slot empty for our position *before* moving `tail` back: a producer can
        // claim `tail` again only after our CAS below, and must then find the slot empty.
        // (Storing it after the CAS would let a producer claim and fill the slot in between,
        // and our late store would then hide its value.) Meanwhile the slot looks empty
        // with `tail` past it, which consumers read as a write in progress and wait.
        // Ordering: Release, as a consumer's stamp store.
        slot.stamp.store(tail, Ordering::Release);
        // Ordering: SeqCst, as every claim of `tail`; fails if anyone claimed after us or
        // the ring was closed (the mark is set), and then we leave a void.
        if self
            .tail
            .tail
            .compare_exchange(self.next(tail), tail, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        // Ordering: Relaxed: a statistic, read with the indices by snapshots.
        self.tail.voided.fetch_add(1, Ordering::Relaxed);
        // Ordering: Release, as in `fill` (no value to publish; passers-by only compare it).
        slot.stamp
            .store(tail.wrapping_add(1) | self.mark_bit, Ordering::Release);
    }

    /// We claimed position `tail` on a full ring; its slot still holds the item of position
    /// `tail - one_lap`, the oldest. Take it out by moving `head` past it, unless a consumer
    /// takes it first (then wait for the slot to empty and fill it normally).
    #[cold]
    fn evict_into(&self, slot: &Slot<T>, tail: usize, value: T) -> Push<T> {
        let oldest = tail.wrapping_sub(self.one_lap);
        // Ordering: Acquire on success: the oldest item's write was published by its stamp,
        // which our caller loaded with Acquire; SeqCst keeps this claim in the same total
        // order as consumers' claims of `head`.
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
                // SAFETY: we own both the oldest item (our claim of `head`) and the
                // position `tail` (our claim of `tail`); they share this slot.
                unsafe { ptr::replace(p, MaybeUninit::new(value)).assume_init() }
            });
            // Ordering: Release publishes the new value to the consumer of `tail`.
            slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
            self.note_evict();
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
        self.note_push(tail);
        Push::Pushed
    }

    /// # Safety
    ///
    /// The caller claimed position `tail` and the slot's stamp is `tail` (empty).
    #[inline(always)]
    unsafe fn fill(&self, slot: &Slot<T>, tail: usize, value: T) {
        slot.value.with_mut(|p| {
            // SAFETY: per the caller's contract the slot is empty and ours.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        // Ordering: Release publishes the value; pairs with the consumer's Acquire stamp load.
        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
    }

    /// High-water bookkeeping after a push at `tail`: reads `head` only when a stale view of
    /// it says the length may have passed the mark.
    #[inline(always)]
    fn note_push(&self, tail: usize) {
        // Ordering: Relaxed: bookkeeping for snapshots; both live on the line we just wrote.
        let hint = self.tail.head_hint.load(Ordering::Relaxed);
        let high = self.tail.high_water.load(Ordering::Relaxed);
        // The length after our push is at most this (the hint is a past `head`).
        if self.distance(hint, tail) + 1 > high as isize {
            self.note_push_slow(tail);
        }
    }

    #[cold]
    fn note_push_slow(&self, _tail: usize) {
        // Ordering: Relaxed: a snapshot of `head` for bookkeeping; a stale hint is still a
        // past `head`.
        self.tail
            .head_hint
            .store(self.head.load(Ordering::Relaxed), Ordering::Relaxed);
        // The high-water mark is the largest `len` right after a push or a reservation: the
        // length only grows there, so the mark never falls below `len`.
        // Ordering: Relaxed: a statistic.
        self.tail
            .high_water
            .fetch_max(self.len(), Ordering::Relaxed);
    }

    #[cold]
    fn note_evict(&self) {
        // Ordering: Relaxed: a statistic. An eviction means the ring was full.
        self.tail
            .high_water
            .fetch_max(self.capacity(), Ordering::Relaxed);
    }

    /// Takes the oldest item.
    pub(crate) fn pop(&self) -> Pop<T> {
        let mut backoff = Backoff::new();
        // Ordering: Relaxed: the compare-and-swap below validates it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // Ordering: Acquire pairs with the producer's Release stamp store: its write of
            // the value happens before our read.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head.wrapping_add(1) {
                // Ordering: SeqCst claim, in one total order with evictions and the fences of
                // the full/empty checks.
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.with(|p| {
                            // SAFETY: the stamp says the slot holds position `head`'s item,
                            // and our claim of `head` makes it ours alone.
                            unsafe { p.read().assume_init() }
                        });
                        // Ordering: Release: our read happens before the next lap's producer
                        // (which loads the stamp with Acquire) writes the slot.
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Pop::Item(value);
                    }
                    Err(actual) => {
                        head = actual;
                        backoff.spin();
                    }
                }
            } else if stamp == head.wrapping_add(1) | self.mark_bit {
                // A void position (a permit dropped without sending): pass over it.
                // Ordering: as for an item's claim.
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // Ordering: Relaxed: a statistic.
                        self.skipped.fetch_add(1, Ordering::Relaxed);
                        // Ordering: Release, as after reading an item.
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        head = self.next(head);
                    }
                    Err(actual) => {
                        head = actual;
                        backoff.spin();
                    }
                }
            } else if stamp == head | self.mark_bit {
                // Reserved by a permit that has not sent yet: nothing to take until it does
                // (it notifies receivers then), even if the ring is closed.
                return Pop::Empty;
            } else if stamp == head {
                // The slot is empty for this lap: the ring may be empty.
                // Ordering: as in `push`'s full check.
                fence(Ordering::SeqCst);
                // Ordering: Relaxed after the fence.
                let tail = self.tail.tail.load(Ordering::Relaxed);
                if tail & !self.mark_bit == head {
                    return if tail & self.mark_bit != 0 {
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

    /// Marks the ring closed. Returns `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        // Ordering: SeqCst: in the same total order as the claims of `tail`, so a push either
        // claimed before the mark (and is queued) or sees it.
        let previous = self.tail.tail.fetch_or(self.mark_bit, Ordering::SeqCst);
        previous & self.mark_bit == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Ordering: SeqCst: pairs with `close`.
        self.tail.tail.load(Ordering::SeqCst) & self.mark_bit != 0
    }

    /// The number of items: claimed positions, less void ones not yet passed over, clamped
    /// to the capacity.
    pub(crate) fn len(&self) -> usize {
        self.positions().saturating_sub(self.unpassed_voids())
    }

    /// Void positions not yet passed over (racy, like the length).
    fn unpassed_voids(&self) -> usize {
        // Ordering: Relaxed: void positions only exist after a permit was dropped unused;
        // this adjustment is as racy as the length itself.
        let void = self
            .tail
            .voided
            .load(Ordering::Relaxed)
            .wrapping_sub(self.skipped.load(Ordering::Relaxed));
        if (void as isize) < 0 {
            0
        } else {
            void
        }
    }

    /// Claimed positions between `head` and `tail`, clamped to the capacity.
    fn positions(&self) -> usize {
        loop {
            // Ordering: SeqCst loads of both ends, retried until `tail` did not move, give a
            // length that was true at one moment (as crossbeam does).
            let tail = self.tail.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.tail.load(Ordering::SeqCst) == tail {
                let len = self.distance(head, tail & !self.mark_bit);
                return if len < 0 {
                    0
                } else {
                    (len as usize).min(self.capacity())
                };
            }
        }
    }

    /// Items ever pushed (modulo the index range): claimed positions, less void ones.
    pub(crate) fn pushed(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        let tail = self.tail.tail.load(Ordering::Relaxed) & !self.mark_bit;
        // Ordering: Relaxed: a counter snapshot.
        let voided = self.tail.voided.load(Ordering::Relaxed);
        self.seq(tail).wrapping_sub(voided)
    }

    /// Items ever taken through `head` (pops and evictions): positions passed, less void
    /// ones.
    pub(crate) fn taken(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        let head = self.head.load(Ordering::Relaxed);
        // Ordering: Relaxed: a counter snapshot.
        let skipped = self.skipped.load(Ordering::Relaxed);
        self.seq(head).wrapping_sub(skipped)
    }

    pub(crate) fn high_water(&self) -> usize {
        // Ordering: Relaxed: a counter snapshot.
        self.tail.high_water.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Mpmc<T> {
    fn drop(&mut self) {
        // `&mut self`: every other access happened before. No push is mid-write (its thread
        // would hold a reference), so `head .. tail` are exactly the full slots.
        // Ordering: Relaxed, for that reason.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.tail.load(Ordering::Relaxed) & !self.mark_bit;
        let count = self.distance(head, tail);
        debug_assert!((0..=self.capacity() as isize).contains(&count));
        let count = count as usize;
        super::drop_items(
            head & (self.mark_bit - 1),
            count,
            self.capacity(),
            &|index| {
                let slot = &self.slots[index];
                // Ordering: Relaxed, as above. Positions in `head .. tail` are items, void,
                // or reserved by a permit that was forgotten (`mem::forget`): only slots
                // without the mark hold a value.
                if slot.stamp.load(Ordering::Relaxed) & self.mark_bit != 0 {
                    return;
                }
                slot.value.with_mut(|p| {
                    // SAFETY: slots of positions `head .. tail` without the mark hold
                    // initialized items that no one else can reach; `drop_items` visits
                    // each once.
                    unsafe { ptr::drop_in_place((*p).as_mut_ptr()) }
                })
            },
        );
    }
}

/// Ring-level models of the reservation protocol (run by `ci/loom.sh`).
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    /// Walks `head .. tail`: every position is an item or a void; returns the items.
    fn items(ring: &Mpmc<usize>) -> usize {
        let tail = ring.tail.tail.load(Ordering::Relaxed) & !ring.mark_bit;
        let mut pos = ring.head.load(Ordering::Relaxed);
        let mut items = 0;
        while pos != tail {
            let stamp = ring.slot(pos).stamp.load(Ordering::Relaxed);
            assert!(
                stamp == pos + 1 || stamp == (pos + 1) | ring.mark_bit,
                "position {pos}: stamp {stamp} is neither an item nor a void"
            );
            items += usize::from(stamp == pos + 1);
            pos = ring.next(pos);
        }
        items
    }

    /// A push racing a reservation given up by moving the tail back: the pushed value must
    /// never be hidden by the retraction's stamp store (found by review: storing the empty
    /// stamp after the CAS stranded the value).
    #[test]
    fn push_races_retracted_reservation() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let ring = Arc::new(Mpmc::<usize>::new(2).unwrap());
            let pusher = {
                let ring = ring.clone();
                loom::thread::spawn(move || assert!(matches!(ring.push(7, false), Push::Pushed)))
            };
            if let Reserve::Reserved(r) = ring.reserve() {
                // SAFETY: from this ring, used once.
                unsafe { ring.void_reserved(r) };
            }
            pusher.join().unwrap();
            assert_eq!(items(&ring), 1);
            assert!(matches!(ring.pop(), Pop::Item(7)));
            assert!(matches!(ring.pop(), Pop::Empty));
        });
    }

    /// Two reservations given up (one retracted, one void, in either order) racing a push.
    #[test]
    fn push_races_two_given_up_reservations() {
        for capacity in [3usize, 4] {
            let mut builder = loom::model::Builder::new();
            builder.preemption_bound = Some(2);
            builder.check(move || {
                let ring = Arc::new(Mpmc::<usize>::new(capacity).unwrap());
                let reservers: Vec<_> = (0..2)
                    .map(|_| {
                        let ring = ring.clone();
                        loom::thread::spawn(move || {
                            if let Reserve::Reserved(r) = ring.reserve() {
                                // SAFETY: from this ring, used once.
                                unsafe { ring.void_reserved(r) };
                            }
                        })
                    })
                    .collect();
                assert!(matches!(ring.push(7, false), Push::Pushed));
                reservers.into_iter().for_each(|t| t.join().unwrap());
                assert_eq!(items(&ring), 1);
            });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as Counter;
    use std::sync::Arc;

    struct Counted(Arc<Counter>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Positions straddling the wrap of the index range (a long-running 32-bit process gets
    /// there after about 2^32 * capacity / one_lap items): `len` and `Drop` must measure
    /// distances across it (found by review: `seq` differences were garbage there, and
    /// `Drop` dropped slots twice).
    #[test]
    fn positions_wrap() {
        let ring = Mpmc::<Counted>::new(3).unwrap();
        let last_lap = 0usize.wrapping_sub(ring.one_lap);
        ring.head.store(last_lap, Ordering::Relaxed);
        ring.tail.tail.store(last_lap, Ordering::Relaxed);
        ring.tail.head_hint.store(last_lap, Ordering::Relaxed);
        for (i, slot) in ring.slots.iter().enumerate() {
            slot.stamp.store(last_lap + i, Ordering::Relaxed);
        }
        let drops = Arc::new(Counter::new(0));
        for _ in 0..3 {
            assert!(matches!(
                ring.push(Counted(drops.clone()), false),
                Push::Pushed
            ));
        }
        assert!(matches!(ring.pop(), Pop::Item(_)));
        assert!(matches!(
            ring.push(Counted(drops.clone()), false),
            Push::Pushed
        ));
        assert_eq!(ring.len(), 3, "two before the wrap, one after");
        assert_eq!(ring.high_water(), 3);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(ring);
        assert_eq!(drops.load(Ordering::SeqCst), 4, "each item dropped once");
    }
}
