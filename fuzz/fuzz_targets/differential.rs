//! Differential fuzz target: one queue (SPSC or MPMC, any policy, capacity 0..=8) driven
//! single-threaded by a sequence of operations, every result checked step by step against a
//! model.
//!
//! What is checked after every step:
//!
//! - each result, including the values handed back (`Full`, `Closed`, `Overloaded`,
//!   `Timeout`, `Sent::Evicted`) and the values received, by id;
//! - the exact set of values the library dropped during the step (dropped-newest, aborted,
//!   discarded with the last receiver), through a drop log that every payload writes to;
//! - `len`, `is_empty`, `is_closed` and every `Metrics` field (including `high_water` and
//!   the quiescent identity `sent == received + evicted_oldest + discarded + len`), read
//!   through a `Closer` kept aside for that.
//!
//! At teardown every value ever made must have been dropped exactly once.
//!
//! # The model
//!
//! A ring (capacity 1..=8) is a list of *positions*, oldest first: a value, a position
//! reserved by an MPMC permit, or a *void* (a permit dropped unused after a later position
//! was claimed). A send finds room when there are fewer positions than the capacity, or when
//! the oldest position is a void (the producer passes over it). A receiver passes over voids,
//! takes the first value, and stops (empty, even when closed) at a reserved position. A
//! permit dropped unused gives its position back if it is the newest and the queue is open
//! (no trace), and leaves a void otherwise. `len` and `sent` count values and reserved
//! positions (a reservation is counted as in flight, as the ring counts claimed positions),
//! never voids; `high_water` is the largest `len` right after a push or a reservation (so it
//! is never below `len`).
//!
//! Capacity 0 is the MPMC rendezvous flavor: the model tracks the one pending future (a
//! send's offer, or a receive waiting in line, claimed by a permit, or handed a value), and
//! the values kept for receivers that gave up (orphans). A waiting (`Block`) send hands its
//! value only to a parked thread, never to a receive future, which pulls offers itself (and
//! this target parks no thread): only `try_send`, the other policies, permits and cancelled
//! receives hand values to a waiting receive future. After `close`, receivers take orphans
//! but no offer; after `abort` (or the last receiver's drop) a value handed over but not
//! picked up and the orphans are discarded, and a permit's send discards its value.
//!
//! SPSC: `Closed` is final for the consumer (a value landing later, from a permit, is
//! discarded and counted at its next call), and once the consumer is gone the producer
//! discards what lands (a permit's value) at its next send, its `abort` or its drop.
//!
//! Permits (`try_reserve`, `reserve_async`) are used at once or kept (up to [`MAX_HELD`]),
//! then sent or dropped by later operations, in any order; a kept permit borrows its end,
//! which stays alive until the permit goes (an SPSC producer is out of play meanwhile).
//!
//! # Futures
//!
//! The futures (`send_async`, `recv_async`, their `_deadline` forms, `reserve_async`,
//! `closed`) are polled by hand with a counting waker. When one is pending, the next one to
//! four operations of the input run while it waits (its handle is taken out of play
//! meanwhile), then the future is polled again: it must be ready exactly when the model
//! says so, and it must have been woken if it can complete. A future still pending is then
//! dropped (or its value taken back with `into_inner`), which must hand back or drop its
//! value once. Send and receive futures can also be dropped without the second poll.
//!
//! Blocking calls are only made when the model says they complete at once (a `Block` send
//! with room or on a closed queue, a `recv` with a value queued or on a closed queue).
//! SPSC capacity 0 and MPMC drop-oldest at capacity 0 check the constructor's error and stop.
//!
//! # Kept inputs
//!
//! Inputs that once crashed are kept in `fuzz/regressions/differential/` (`ci/fuzz.sh`
//! replays them first). They decode through the input types as they are: a change to `Op`
//! or `Input` (even a new variant) changes what every kept input means, so re-create them
//! after one (`fuzz/encode.py` writes an input from a list of operations).
//! `PUSHPULL_FUZZ_SKIP_KNOWN` (see [`skip_known`]) steers around bugs already reported.

#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushpull::{
    BuildErrorKind, Builder, Closer, Consumer, Metrics, Permit, Policy, Producer, Receiver,
    RecvDeadline, RecvError, RecvFuture, RecvTimeoutError, ReserveFuture, SendDeadline, SendError,
    SendFuture, SendTimeoutError, Sender, Sent, TryRecvError, TrySendError,
};

/// The most permits kept at once.
const MAX_HELD: usize = 8;

// === payload ===

thread_local! {
    /// Ids of the payloads dropped, in drop order, for the current input.
    static DROPS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn drops_len() -> usize {
    DROPS.with(|d| d.borrow().len())
}

fn drops_since(mark: usize) -> Vec<u64> {
    DROPS.with(|d| d.borrow()[mark..].to_vec())
}

/// A payload that logs its drop. The box makes AddressSanitizer see a double drop (double
/// free) or a leak as well.
struct Item {
    id: u64,
    _heap: Box<u64>,
}

impl Drop for Item {
    fn drop(&mut self) {
        assert_eq!(*self._heap, self.id, "payload corrupted");
        DROPS.with(|d| d.borrow_mut().push(self.id));
    }
}

// === input ===

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Spsc,
    Mpmc,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyIn {
    Block,
    DropNewest,
    DropOldest,
    Reject,
}

impl PolicyIn {
    fn policy(self) -> Policy {
        match self {
            Self::Block => Policy::Block,
            Self::DropNewest => Policy::DropNewest,
            Self::DropOldest => Policy::DropOldest,
            Self::Reject => Policy::Reject,
        }
    }
}

/// Which handle performs a close/abort/observation.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum By {
    Tx(u8),
    Rx(u8),
    Closer(u8),
}

/// What becomes of a permit once reserved.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `send` at once.
    Send,
    /// Dropped unused at once.
    Drop,
    /// Kept, for a later `PermitSend` / `PermitDrop` (or the teardown).
    Keep,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    /// The policy-governed `send` (under `Block` only when it cannot wait).
    Send(u8),
    TrySend(u8),
    /// `send_timeout(v, ZERO)` or `send_deadline(v, now)`.
    SendTimeout(u8, bool),
    TryRecv(u8),
    /// `recv_timeout(ZERO)` or `recv_deadline(now)`.
    RecvTimeout(u8, bool),
    /// The blocking `recv`, only when it cannot wait.
    Recv(u8),
    Drain(u8),
    /// `try_iter().take(n)`.
    TryIter(u8, u8),
    /// `iter()` (by reference) or `into_iter()` (consuming the handle), only when they
    /// cannot wait (closed, and no reserved position in the way).
    IterClosed(u8, bool),
    Close(By),
    Abort(By),
    /// len / is_empty / is_full / capacity / policy / is_closed from one handle.
    Observe(By),
    Metrics(By),
    CloneTx(u8),
    CloneRx(u8),
    DropTx(u8),
    DropRx(u8),
    NewCloser(By),
    DropCloser(u8),
    /// `try_reserve` on a sender, and what becomes of the permit.
    Reserve(u8, Use),
    /// `send` on a kept permit (which one: the index modulo how many are kept).
    PermitSend(u8),
    /// Drops a kept permit unused.
    PermitDrop(u8),
    /// A send future, polled; mode: 0 `send_async` (dropped if still pending), 1 the same
    /// with `into_inner`, 2 `send_async_deadline` with a due deadline, 3 with a deadline
    /// that never comes (`into_inner`); bit 2 of the mode: a pending future is not polled
    /// again before it goes. The last field: how many of the next operations (1 + n % 4)
    /// run while it is pending.
    AsyncSend(u8, u8, u8),
    /// A receive future, polled; mode % 3: 0 `recv_async`, 1 `recv_async_deadline` with a
    /// due deadline, 2 with a deadline that never comes; mode / 3 odd: a pending future is
    /// dropped without the second poll.
    AsyncRecv(u8, u8, u8),
    /// `reserve_async`, polled, and what becomes of the permit.
    AsyncReserve(u8, Use, u8),
    /// `closed()` of a sender (`false`) or receiver (`true`), polled.
    AsyncClosed(bool, u8, u8),
}

impl Op {
    fn is_async(&self) -> bool {
        matches!(
            self,
            Op::AsyncSend(..) | Op::AsyncRecv(..) | Op::AsyncReserve(..) | Op::AsyncClosed(..)
        )
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    flavor: Flavor,
    policy: PolicyIn,
    capacity: u8,
    ops: Vec<Op>,
    /// Order of the final drops: senders / receivers / the observing closer; bit 3: the
    /// permits still kept send (instead of being dropped) first.
    teardown: u8,
}

// === model ===

/// What an operation did, with ids in place of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOut {
    Queued,
    DroppedNewest,
    Evicted(u64),
    Full(u64),
    Closed(u64),
    Overloaded(u64),
    Timeout(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvOut {
    Item(u64),
    Empty,
    Closed,
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendKind {
    Try,
    Policy,
    Timeout,
}

/// One position of a ring, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Item(u64),
    /// Reserved by the MPMC permit with this id.
    Reserved(u32),
    /// A permit dropped unused after a later position was claimed (or on a closed queue).
    Void,
}

/// The pending receive future at capacity 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZeroRecv {
    /// No receive future waits.
    Idle,
    /// Waiting in the receivers' line.
    Waiting,
    /// Sent out of the line by `close`: its next poll takes an orphan or sees `Closed`.
    Dismissed,
    /// Claimed by the permit with this id, which will hand it a value.
    Claimed(u32),
    /// Handed this value, not yet picked up.
    Handed(u64),
}

/// What a permit holds, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermitM {
    /// A reserved ring position (MPMC, not drop-oldest).
    Ring(u32),
    /// Room checked (SPSC, or MPMC drop-oldest): nothing reserved.
    Free,
    /// A rendezvous receiver claimed.
    Zero(u32),
}

/// Who calls `abort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AbortBy {
    Sender,
    Receiver,
    Closer,
}

#[derive(Debug)]
struct Model {
    spsc: bool,
    cap: usize,
    policy: Policy,
    /// Ring positions, oldest first (capacity >= 1).
    queue: VecDeque<Pos>,
    closed: bool,
    /// SPSC: abort requested (`ABORTED`): the consumer discards at its next call. MPMC:
    /// aborted (or every receiver gone): receivers discard instead of receiving.
    aborted: bool,
    /// SPSC: the consumer was dropped.
    consumer_gone: bool,
    /// SPSC: the consumer has reported `Closed` (final: it discards what lands later).
    closed_seen: bool,
    /// Live `Sender`s (MPMC) or the producer (SPSC), whether in play or lent to a permit.
    senders: usize,
    receivers: usize,
    /// Rendezvous: the pending send future's offer, waiting in line.
    offer: Option<u64>,
    /// Rendezvous: the offer was taken by a receiver (the send future completes).
    offer_taken: bool,
    /// Rendezvous: the pending receive future.
    zrecv: ZeroRecv,
    /// Rendezvous: values kept for receivers that gave up after the hand-off.
    orphans: VecDeque<u64>,
    next_id: u64,
    next_permit: u32,
    /// Ids the library is expected to drop during the current step.
    lib_drops: Vec<u64>,
    sent: u64,
    received: u64,
    dropped_newest: u64,
    evicted_oldest: u64,
    rejected: u64,
    discarded: u64,
    high_water: usize,
}

impl Model {
    fn new(spsc: bool, cap: usize, policy: Policy) -> Self {
        Self {
            spsc,
            cap,
            policy,
            queue: VecDeque::new(),
            closed: false,
            aborted: false,
            consumer_gone: false,
            closed_seen: false,
            senders: 1,
            receivers: 1,
            offer: None,
            offer_taken: false,
            zrecv: ZeroRecv::Idle,
            orphans: VecDeque::new(),
            next_id: 0,
            next_permit: 0,
            lib_drops: Vec::new(),
            sent: 0,
            received: 0,
            dropped_newest: 0,
            evicted_oldest: 0,
            rejected: 0,
            discarded: 0,
            high_water: 0,
        }
    }

    fn item(&mut self) -> Item {
        let id = self.next_id;
        self.next_id += 1;
        Item {
            id,
            _heap: Box::new(id),
        }
    }

    /// What `len()` reports: values and reserved positions (not voids), or at capacity 0
    /// the values handed over and not picked up (the pending receive's, and orphans).
    fn len(&self) -> usize {
        if self.cap == 0 {
            self.orphans.len() + usize::from(matches!(self.zrecv, ZeroRecv::Handed(_)))
        } else {
            self.queue.iter().filter(|p| **p != Pos::Void).count()
        }
    }

    fn has_reservation(&self) -> bool {
        self.queue.iter().any(|p| matches!(p, Pos::Reserved(_)))
    }

    /// Whether a push finds room in the ring: fewer positions than the capacity, or a void
    /// at the head of a full ring (the producer passes over it).
    fn ring_has_room(&self) -> bool {
        self.queue.len() < self.cap || self.queue.front() == Some(&Pos::Void)
    }

    /// Whether a send of this kind finds room. At capacity 0: a receive waiting in line,
    /// for a send that hands values to receive futures (`try_send`, or any send under a
    /// policy other than `Block`); a waiting `Block` send only hands its value to a parked
    /// thread, and none is parked here.
    fn has_room(&self, kind: SendKind) -> bool {
        if self.cap == 0 {
            self.zrecv == ZeroRecv::Waiting
                && (kind == SendKind::Try || self.policy != Policy::Block)
        } else {
            self.ring_has_room()
        }
    }

    /// Claims the tail position (there is room), passing over a void at the head of a full
    /// ring.
    fn claim(&mut self, pos: Pos) {
        if self.queue.len() == self.cap {
            let head = self.queue.pop_front();
            assert_eq!(head, Some(Pos::Void), "model: claim on a full ring");
        }
        self.queue.push_back(pos);
    }

    fn push(&mut self, id: u64) {
        self.claim(Pos::Item(id));
        self.sent += 1;
        self.high_water = self.high_water.max(self.len());
    }

    /// A full drop-oldest ring: the oldest value goes (handed back), `id` goes in.
    fn evict(&mut self, id: u64) -> SendOut {
        let Some(Pos::Item(old)) = self.queue.pop_front() else {
            panic!("model: drop-oldest ring holds only values");
        };
        self.evicted_oldest += 1;
        self.push(id);
        self.high_water = self.cap;
        SendOut::Evicted(old)
    }

    /// Drops what a receiver can reach (the ring up to a reserved position; at capacity 0
    /// the value handed over and the orphans), counted as discarded.
    fn discard_all(&mut self) -> usize {
        let mut n = 0;
        if self.cap == 0 {
            if let ZeroRecv::Handed(id) = self.zrecv {
                self.lib_drops.push(id);
                n += 1;
            }
            if matches!(self.zrecv, ZeroRecv::Handed(_) | ZeroRecv::Claimed(_)) {
                // A receiver claimed by a permit is let go (woken): it sees `Closed`.
                self.zrecv = ZeroRecv::Dismissed;
            }
            n += self.orphans.len();
            self.lib_drops.extend(self.orphans.drain(..));
        } else {
            loop {
                match self.queue.front() {
                    Some(Pos::Void) => {
                        self.queue.pop_front();
                    }
                    Some(&Pos::Item(id)) => {
                        self.queue.pop_front();
                        self.lib_drops.push(id);
                        n += 1;
                    }
                    Some(Pos::Reserved(_)) | None => break,
                }
            }
        }
        self.discarded += n as u64;
        n
    }

    fn send(&mut self, id: u64, kind: SendKind) -> SendOut {
        if self.closed {
            if self.spsc && self.consumer_gone {
                // The producer is the one left to take items out.
                self.discard_all();
            }
            return SendOut::Closed(id);
        }
        if self.cap == 0 {
            if self.has_room(kind) {
                // Handed to the waiting receive.
                self.zrecv = ZeroRecv::Handed(id);
                self.sent += 1;
                return SendOut::Queued;
            }
        } else if self.ring_has_room() {
            self.push(id);
            return SendOut::Queued;
        }
        match (kind, self.policy) {
            (SendKind::Try, _) => SendOut::Full(id),
            (SendKind::Policy, Policy::Block) => unreachable!("a blocking send would wait"),
            (SendKind::Timeout, Policy::Block) => SendOut::Timeout(id),
            (_, Policy::DropNewest) => {
                self.dropped_newest += 1;
                self.lib_drops.push(id);
                SendOut::DroppedNewest
            }
            (_, Policy::DropOldest) => self.evict(id),
            (_, Policy::Reject) => {
                self.rejected += 1;
                SendOut::Overloaded(id)
            }
        }
    }

    /// Whether a policy-governed (blocking) send completes at once.
    fn send_completes(&self) -> bool {
        self.closed || self.has_room(SendKind::Policy) || self.policy != Policy::Block
    }

    /// `try_reserve`: on success, the permit's model (its position claimed, or its receiver
    /// claimed).
    fn reserve(&mut self) -> Result<PermitM, TrySendError<()>> {
        if self.closed {
            return Err(TrySendError::Closed(()));
        }
        if self.cap == 0 {
            if self.zrecv != ZeroRecv::Waiting {
                return Err(TrySendError::Full(()));
            }
            let pid = self.next_permit;
            self.next_permit += 1;
            self.zrecv = ZeroRecv::Claimed(pid);
            return Ok(PermitM::Zero(pid));
        }
        if self.policy == Policy::DropOldest {
            return Ok(PermitM::Free);
        }
        if self.spsc {
            return if self.queue.len() < self.cap {
                Ok(PermitM::Free)
            } else {
                Err(TrySendError::Full(()))
            };
        }
        if !self.ring_has_room() {
            return Err(TrySendError::Full(()));
        }
        let pid = self.next_permit;
        self.next_permit += 1;
        self.claim(Pos::Reserved(pid));
        // The ring counts claimed positions as sent until they turn void.
        self.sent += 1;
        // `high_water` is the largest `len` right after a push or a reservation.
        self.high_water = self.high_water.max(self.len());
        Ok(PermitM::Ring(pid))
    }

    /// Whether a reservation succeeds or fails at once.
    fn reserve_completes(&self) -> bool {
        if self.closed {
            return true;
        }
        if self.cap == 0 {
            return self.zrecv == ZeroRecv::Waiting;
        }
        self.policy == Policy::DropOldest
            || if self.spsc {
                self.queue.len() < self.cap
            } else {
                self.ring_has_room()
            }
    }

    fn reserved_at(&self, pid: u32) -> usize {
        self.queue
            .iter()
            .position(|p| *p == Pos::Reserved(pid))
            .expect("model: a kept permit's position")
    }

    /// A permit's `send`. The room was reserved before any later close, so the value goes
    /// in even if the queue closed since; if it was aborted (or lost its receivers) since,
    /// the value is discarded and counted (having entered: `sent` counts it too).
    fn permit_send(&mut self, permit: PermitM, id: u64) -> SendOut {
        match permit {
            PermitM::Ring(pid) => {
                let k = self.reserved_at(pid);
                self.queue[k] = Pos::Item(id);
                // The reservation already counted in `len` (and so in `high_water`).
                debug_assert!(self.high_water >= self.len());
                let _ = k;
                if self.aborted {
                    self.discard_all();
                }
                SendOut::Queued
            }
            PermitM::Zero(pid) => {
                self.sent += 1;
                if self.aborted {
                    self.discarded += 1;
                    self.lib_drops.push(id);
                    return SendOut::Queued;
                }
                match self.zrecv {
                    ZeroRecv::Claimed(c) if c == pid => self.zrecv = ZeroRecv::Handed(id),
                    // Its receiver gave up: the next one waiting, or the next receive.
                    ZeroRecv::Waiting => self.zrecv = ZeroRecv::Handed(id),
                    _ => self.orphans.push_back(id),
                }
                SendOut::Queued
            }
            PermitM::Free => {
                if !self.spsc && self.closed {
                    // A drop-oldest MPMC permit reserves nothing (its sends never lack
                    // room): closed since, its value is discarded and counted.
                    self.sent += 1;
                    self.discarded += 1;
                    self.lib_drops.push(id);
                    return SendOut::Queued;
                }
                // SPSC closed, aborted or without its consumer since: the value goes in, and
                // the consumer (or, with the consumer gone, the producer) discards it at its
                // next call.
                if self.queue.len() < self.cap {
                    self.push(id);
                    SendOut::Queued
                } else {
                    assert_eq!(self.policy, Policy::DropOldest, "model: a permit's room");
                    self.evict(id)
                }
            }
        }
    }

    /// The known bug (see [`skip_known`]) that sending (`send`) or dropping a permit
    /// would reach now, if any.
    fn permit_known_bug(&self, permit: PermitM, send: bool) -> Option<&'static str> {
        match (permit, send) {
            (PermitM::Zero(_), true) if self.aborted => Some("permit-discard-unsent"),
            (PermitM::Free, true) if !self.spsc && self.closed => Some("permit-discard-unsent"),
            (PermitM::Ring(pid), true)
                if self
                    .queue
                    .iter()
                    .skip(self.reserved_at(pid))
                    .any(|p| *p == Pos::Void) =>
            {
                Some("high-water-void-behind")
            }
            _ => None,
        }
    }

    /// A permit dropped unused.
    fn permit_drop(&mut self, permit: PermitM) {
        match permit {
            PermitM::Ring(pid) => {
                let k = self.reserved_at(pid);
                if k + 1 == self.queue.len() && !self.closed {
                    // The newest position: given back.
                    self.queue.pop_back();
                } else {
                    self.queue[k] = Pos::Void;
                }
                self.sent -= 1;
                if self.aborted {
                    self.discard_all();
                }
            }
            PermitM::Zero(pid) => {
                if self.zrecv == ZeroRecv::Claimed(pid) {
                    // Its receiver goes back to the head of the line.
                    self.zrecv = ZeroRecv::Waiting;
                }
            }
            PermitM::Free => {}
        }
    }

    /// A receiver's non-waiting pop (`try_recv`), or the first poll of a receive.
    fn try_recv(&mut self) -> RecvOut {
        let out = self.try_recv_inner();
        if self.spsc && out == RecvOut::Closed {
            self.closed_seen = true;
        }
        out
    }

    fn try_recv_inner(&mut self) -> RecvOut {
        if self.aborted || self.closed_seen {
            // SPSC: the consumer discards what an abort from the other side left; MPMC: what
            // a permit wrote since.
            if self.cap > 0 {
                self.discard_all();
            }
            return RecvOut::Closed;
        }
        if self.cap == 0 {
            if let Some(id) = self.orphans.pop_front() {
                self.received += 1;
                return RecvOut::Item(id);
            }
            if !self.closed {
                if let Some(id) = self.offer.take() {
                    // The waiting send's offer.
                    self.offer_taken = true;
                    self.sent += 1;
                    self.received += 1;
                    return RecvOut::Item(id);
                }
            }
            return if self.closed {
                RecvOut::Closed
            } else {
                RecvOut::Empty
            };
        }
        loop {
            match self.queue.front() {
                Some(Pos::Void) => {
                    self.queue.pop_front();
                }
                Some(&Pos::Item(id)) => {
                    self.queue.pop_front();
                    self.received += 1;
                    return RecvOut::Item(id);
                }
                // Waits for the permit, even on a closed queue.
                Some(Pos::Reserved(_)) => return RecvOut::Empty,
                None if self.closed => return RecvOut::Closed,
                None => return RecvOut::Empty,
            }
        }
    }

    /// What `try_recv` would give, without doing it.
    fn peek_recv(&self) -> RecvOut {
        if self.aborted || self.closed_seen {
            return RecvOut::Closed;
        }
        if self.cap == 0 {
            if let Some(&id) = self.orphans.front() {
                return RecvOut::Item(id);
            }
            return match self.offer {
                _ if self.closed => RecvOut::Closed,
                Some(id) => RecvOut::Item(id),
                None => RecvOut::Empty,
            };
        }
        match self.queue.iter().find(|p| **p != Pos::Void) {
            Some(&Pos::Item(id)) => RecvOut::Item(id),
            Some(_) => RecvOut::Empty,
            None if self.closed => RecvOut::Closed,
            None => RecvOut::Empty,
        }
    }

    /// Whether a blocking receive completes at once.
    fn recv_completes(&self) -> bool {
        self.peek_recv() != RecvOut::Empty
    }

    /// Whether the pending receive future at capacity 0 can complete now.
    fn zero_recv_ready(&self) -> bool {
        self.aborted
            || match self.zrecv {
                ZeroRecv::Handed(_) => true,
                ZeroRecv::Claimed(_) => false,
                _ => self.peek_recv() != RecvOut::Empty,
            }
    }

    /// A poll of the pending receive future at capacity 0 (after its first poll).
    fn repoll_zero_recv(&mut self) -> RecvOut {
        if self.aborted {
            self.zrecv = ZeroRecv::Idle;
            return RecvOut::Closed;
        }
        match self.zrecv {
            ZeroRecv::Handed(id) => {
                self.zrecv = ZeroRecv::Idle;
                self.received += 1;
                RecvOut::Item(id)
            }
            ZeroRecv::Claimed(_) => RecvOut::Empty,
            _ => match self.try_recv() {
                RecvOut::Empty => RecvOut::Empty,
                done => {
                    self.zrecv = ZeroRecv::Idle;
                    done
                }
            },
        }
    }

    /// The pending receive future at capacity 0 gives up: a value handed to it is kept
    /// for the next receive (no other receive waits).
    fn cancel_zero_recv(&mut self) {
        if let ZeroRecv::Handed(id) = self.zrecv {
            self.orphans.push_back(id);
        }
        self.zrecv = ZeroRecv::Idle;
    }

    /// A poll of the pending send future at capacity 0 (after its first poll): `None` if
    /// it is still pending.
    fn repoll_zero_send(&mut self, id: u64) -> Option<SendOut> {
        if self.offer_taken {
            self.offer_taken = false;
            Some(SendOut::Queued)
        } else if self.closed {
            self.offer = None;
            Some(SendOut::Closed(id))
        } else {
            None
        }
    }

    fn close(&mut self) -> bool {
        let was = self.closed;
        self.closed = true;
        // Rendezvous: closing sends the receivers waiting in line away.
        if self.zrecv == ZeroRecv::Waiting {
            self.zrecv = ZeroRecv::Dismissed;
        }
        !was
    }

    /// `abort`; returns what the call returns.
    fn abort(&mut self, by: AbortBy) -> usize {
        self.close();
        self.aborted = true;
        if !self.spsc || by == AbortBy::Receiver || (by == AbortBy::Sender && self.consumer_gone) {
            self.discard_all()
        } else {
            // SPSC producer / closer: the consumer discards at its next call or its drop.
            0
        }
    }

    fn drop_sender(&mut self) {
        self.senders -= 1;
        if self.senders == 0 {
            self.close();
            if self.spsc && self.consumer_gone {
                // What a permit left behind, discarded by the last party that can.
                self.discard_all();
            }
        }
    }

    fn drop_receiver(&mut self) {
        self.receivers -= 1;
        if self.receivers == 0 {
            self.close();
            if self.spsc {
                self.discard_all();
                self.consumer_gone = true;
            } else {
                self.aborted = true;
                self.discard_all();
            }
        }
    }

    fn check_metrics(&self, m: &Metrics, what: &str) {
        let expect = (
            self.sent,
            self.received,
            self.dropped_newest,
            self.evicted_oldest,
            self.rejected,
            self.discarded,
            self.high_water,
            self.len(),
            self.cap,
        );
        let got = (
            m.sent,
            m.received,
            m.dropped_newest,
            m.evicted_oldest,
            m.rejected,
            m.discarded,
            m.high_water,
            m.len,
            m.capacity,
        );
        assert_eq!(
            got, expect,
            "{what}: metrics (sent, received, dropped_newest, evicted_oldest, rejected, \
             discarded, high_water, len, capacity) differ from the model; got {m:?}"
        );
        assert_eq!(
            m.sent,
            m.received + m.evicted_oldest + m.discarded + m.len as u64,
            "{what}: quiescent identity broken: {m:?}"
        );
        assert!(m.high_water <= m.capacity, "{what}: high_water > capacity");
    }
}
// === the queue under test ===

enum Ends {
    Spsc {
        tx: Option<Producer<Item>>,
        rx: Option<Consumer<Item>>,
    },
    Mpmc {
        /// Shared with the permits that borrow them: a sender is dropped when its last
        /// `Rc` goes.
        txs: Vec<Rc<Sender<Item>>>,
        rxs: Vec<Receiver<Item>>,
    },
}

/// Runs `$body` with `$t` bound to the chosen sender (`&mut Producer` or `&mut Rc<Sender>`),
/// giving `Some(result)`, or `None` if no sender is left.
macro_rules! with_tx {
    ($ends:expr, $i:expr, |$t:ident| $body:expr) => {
        match $ends {
            Ends::Spsc { tx: Some($t), .. } => Some($body),
            Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                let n = txs.len();
                let $t = &mut txs[usize::from($i) % n];
                Some($body)
            }
            _ => None,
        }
    };
}

/// As `with_tx!`, for receivers.
macro_rules! with_rx {
    ($ends:expr, $i:expr, |$t:ident| $body:expr) => {
        match $ends {
            Ends::Spsc { rx: Some($t), .. } => Some($body),
            Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                let n = rxs.len();
                let $t = &mut rxs[usize::from($i) % n];
                Some($body)
            }
            _ => None,
        }
    };
}

/// As `with_tx!`, for any handle that has the common methods: sender, receiver or closer.
macro_rules! with_any {
    ($ends:expr, $closers:expr, $by:expr, |$t:ident| $body:expr) => {
        match $by {
            By::Tx(i) => with_tx!($ends, i, |$t| $body),
            By::Rx(i) => with_rx!($ends, i, |$t| $body),
            By::Closer(i) if !$closers.is_empty() => {
                let n = $closers.len();
                let $t = &mut $closers[usize::from(i) % n];
                Some($body)
            }
            By::Closer(_) => None,
        }
    };
}

// === result conversion: values handed back are kept (to be dropped after the step) ===

fn try_send_out(r: Result<(), TrySendError<Item>>, keep: &mut Vec<Item>) -> SendOut {
    match r {
        Ok(()) => SendOut::Queued,
        Err(TrySendError::Full(v)) => {
            let id = v.id;
            keep.push(v);
            SendOut::Full(id)
        }
        Err(TrySendError::Closed(v)) => {
            let id = v.id;
            keep.push(v);
            SendOut::Closed(id)
        }
    }
}

fn sent_out(s: Sent<Item>, keep: &mut Vec<Item>) -> SendOut {
    match s {
        Sent::Queued => SendOut::Queued,
        Sent::DroppedNewest => SendOut::DroppedNewest,
        Sent::Evicted(v) => {
            let id = v.id;
            keep.push(v);
            SendOut::Evicted(id)
        }
    }
}

fn send_out(r: Result<Sent<Item>, SendError<Item>>, keep: &mut Vec<Item>) -> SendOut {
    match r {
        Ok(s) => sent_out(s, keep),
        Err(SendError::Closed(v)) => {
            let id = v.id;
            keep.push(v);
            SendOut::Closed(id)
        }
        Err(SendError::Overloaded(v)) => {
            let id = v.id;
            keep.push(v);
            SendOut::Overloaded(id)
        }
    }
}

fn send_timeout_out(
    r: Result<Sent<Item>, SendTimeoutError<Item>>,
    keep: &mut Vec<Item>,
) -> SendOut {
    match r {
        Ok(s) => sent_out(s, keep),
        Err(e) => {
            let out = match &e {
                SendTimeoutError::Timeout(v) => SendOut::Timeout(v.id),
                SendTimeoutError::Closed(v) => SendOut::Closed(v.id),
                SendTimeoutError::Overloaded(v) => SendOut::Overloaded(v.id),
            };
            keep.push(e.into_inner());
            out
        }
    }
}

fn try_recv_out(r: Result<Item, TryRecvError>, keep: &mut Vec<Item>) -> RecvOut {
    match r {
        Ok(v) => {
            let id = v.id;
            keep.push(v);
            RecvOut::Item(id)
        }
        Err(TryRecvError::Empty) => RecvOut::Empty,
        Err(TryRecvError::Closed) => RecvOut::Closed,
    }
}

fn recv_timeout_out(r: Result<Item, RecvTimeoutError>, keep: &mut Vec<Item>) -> RecvOut {
    match r {
        Ok(v) => {
            let id = v.id;
            keep.push(v);
            RecvOut::Item(id)
        }
        Err(RecvTimeoutError::Timeout) => RecvOut::Timeout,
        Err(RecvTimeoutError::Closed) => RecvOut::Closed,
    }
}

fn ids(items: &[Item]) -> Vec<u64> {
    items.iter().map(|v| v.id).collect()
}

/// The model's pops for an iterator that calls `try_recv` up to `limit` times and stops at
/// the first failure.
fn model_pops(model: &mut Model, limit: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..limit {
        match model.try_recv() {
            RecvOut::Item(id) => out.push(id),
            _ => break,
        }
    }
    out
}

// === the run ===

/// With `PUSHPULL_FUZZ_SKIP_KNOWN` set, the target avoids the operations that reach bugs
/// already found and reported, so that a run can look for others meanwhile. By default it
/// is strict: the model says what the contracts say. The value names the bugs to avoid,
/// comma-separated (`all` for every one):
///
/// - `permit-discard-unsent`: a rendezvous permit's send after an abort, and an MPMC
///   drop-oldest permit's send after a close or an abort, count the discarded value in
///   `discarded` but not in `sent` (the quiescent identity breaks). Skipped: those sends.
/// - `high-water-void-behind`: a permit's send at a position with a void behind it leaves
///   `high_water` short (it subtracts every void, not those ahead): `high_water` can be
///   below `len`. Skipped: such a send.
///
/// A kept permit whose send is skipped stays kept; at the teardown it is dropped instead.
fn skip_known(bug: &str) -> bool {
    static SKIP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let skip = SKIP.get_or_init(|| std::env::var("PUSHPULL_FUZZ_SKIP_KNOWN").unwrap_or_default());
    skip.split(',')
        .any(|s| s.trim() == bug || s.trim() == "all")
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A sending end taken out of play while one of its futures is pending.
enum TxH {
    P(Producer<Item>),
    S(Rc<Sender<Item>>),
}

/// A receiving end taken out of play while one of its futures is pending.
enum RxH {
    C(Consumer<Item>),
    R(Receiver<Item>),
}

/// A sending end lent to a permit (or to the reservation future that makes one) that may
/// be kept across operations: the permit's borrow is made `'static` by hand, so the end
/// must outlive the permit, which [`Held`] and [`Run::unlend`] see to.
enum Lent {
    /// One more `Rc` of an MPMC sender; the sender stays in play.
    Mpmc(Rc<Sender<Item>>),
    /// The SPSC producer, boxed, out of play until the permit goes.
    Spsc(*mut Producer<Item>),
}

impl Lent {
    fn try_reserve(&self) -> Result<Permit<'static, Item>, TrySendError<()>> {
        match self {
            // SAFETY: the sender lives as long as this `Rc`, which outlives the permit.
            Lent::Mpmc(rc) => unsafe { &*Rc::as_ptr(rc) }.try_reserve(),
            // SAFETY: the box (from `Box::into_raw`) is reclaimed only after the permit is
            // gone, and nothing else touches the producer meanwhile.
            Lent::Spsc(p) => unsafe { &mut **p }.try_reserve(),
        }
    }

    fn reserve_async(&self) -> ReserveFuture<'static, Item> {
        match self {
            // SAFETY: as in `try_reserve`; the future and its permit go before the `Rc`.
            Lent::Mpmc(rc) => unsafe { &*Rc::as_ptr(rc) }.reserve_async(),
            // SAFETY: as in `try_reserve`.
            Lent::Spsc(p) => unsafe { &mut **p }.reserve_async(),
        }
    }
}

/// A kept permit and the end it borrows.
struct Held {
    permit: Option<Permit<'static, Item>>,
    lent: Option<Lent>,
    model: PermitM,
}

impl Drop for Held {
    /// Only reached with the parts still in place on a panic: the permit goes first.
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Some(Lent::Spsc(p)) = self.lent.take() {
            // SAFETY: from `Box::into_raw`, not reclaimed yet; the permit is gone.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Drops one `Rc` of an MPMC sender: the sender itself when it is the last.
fn release_tx(model: &mut Model, rc: Rc<Sender<Item>>) {
    if let Some(tx) = Rc::into_inner(rc) {
        drop(tx);
        model.drop_sender();
    }
}

/// The send futures, seen alike.
trait SendFut: Future + Unpin {
    fn out(r: Self::Output, keep: &mut Vec<Item>) -> SendOut;
    fn give_back(self) -> Option<Item>;
}

impl SendFut for SendFuture<'_, Item> {
    fn out(r: Self::Output, keep: &mut Vec<Item>) -> SendOut {
        send_out(r, keep)
    }
    fn give_back(self) -> Option<Item> {
        self.into_inner()
    }
}

impl<D: Future<Output = ()> + Unpin> SendFut for SendDeadline<'_, Item, D> {
    fn out(r: Self::Output, keep: &mut Vec<Item>) -> SendOut {
        send_timeout_out(r, keep)
    }
    fn give_back(self) -> Option<Item> {
        self.into_inner()
    }
}

/// The receive futures, seen alike.
trait RecvFut: Future + Unpin {
    fn out(r: Self::Output, keep: &mut Vec<Item>) -> RecvOut;
}

impl RecvFut for RecvFuture<'_, Item> {
    fn out(r: Result<Item, RecvError>, keep: &mut Vec<Item>) -> RecvOut {
        match r {
            Ok(v) => {
                let id = v.id;
                keep.push(v);
                RecvOut::Item(id)
            }
            Err(RecvError) => RecvOut::Closed,
        }
    }
}

impl<D: Future<Output = ()> + Unpin> RecvFut for RecvDeadline<'_, Item, D> {
    fn out(r: Self::Output, keep: &mut Vec<Item>) -> RecvOut {
        recv_timeout_out(r, keep)
    }
}

fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

struct Run {
    model: Model,
    ends: Ends,
    closers: Vec<Closer<Item>>,
    /// Kept aside to read `len` and `metrics` after every step (a closer is not an end).
    observer: Option<Closer<Item>>,
    /// Permits kept across operations, oldest first.
    permits: Vec<Held>,
    step: usize,
}

impl Run {
    /// Checks the library's drops during the step against the model, drops what the step
    /// handed back and checks that too, then checks the queue's state.
    fn finish_step(&mut self, mark: usize, keep: Vec<Item>, what: &dyn std::fmt::Debug) {
        let mut lib = drops_since(mark);
        let mut expect = std::mem::take(&mut self.model.lib_drops);
        lib.sort_unstable();
        expect.sort_unstable();
        assert_eq!(
            lib, expect,
            "step {} {what:?}: ids dropped by the library differ from the model",
            self.step
        );
        let mark = drops_len();
        let mut handed = ids(&keep);
        drop(keep);
        let mut dropped = drops_since(mark);
        handed.sort_unstable();
        dropped.sort_unstable();
        assert_eq!(dropped, handed, "step {}: handed-back values", self.step);
        self.check_state(what);
        self.step += 1;
    }

    fn check_state(&self, what: &dyn std::fmt::Debug) {
        let Some(obs) = &self.observer else { return };
        let label = format!("step {} {what:?}", self.step);
        assert_eq!(obs.len(), self.model.len(), "{label}: len");
        assert_eq!(obs.is_empty(), self.model.len() == 0, "{label}: is_empty");
        assert_eq!(obs.is_closed(), self.model.closed, "{label}: is_closed");
        self.model.check_metrics(&obs.metrics(), &label);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Reserve(i, use_) => return self.reserve(i, use_, op),
            Op::PermitSend(k) | Op::PermitDrop(k) => {
                if self.permits.is_empty() {
                    return;
                }
                let k = usize::from(k) % self.permits.len();
                let send = matches!(op, Op::PermitSend(_));
                if let Some(bug) = self.model.permit_known_bug(self.permits[k].model, send) {
                    if skip_known(bug) {
                        return;
                    }
                }
                let mark = drops_len();
                let mut keep = Vec::new();
                let label = format!("step {}: {op:?}", self.step);
                self.resolve_permit(k, send, &mut keep, &label);
                self.finish_step(mark, keep, &op);
                return;
            }
            _ => {}
        }
        let mark = drops_len();
        let mut keep: Vec<Item> = Vec::new();
        let model = &mut self.model;
        let ends = &mut self.ends;
        let closers = &mut self.closers;
        match op {
            Op::Send(i) => {
                if !model.send_completes() {
                    return;
                }
                let r = with_tx!(ends, i, |t| {
                    let v = model.item();
                    let id = v.id;
                    let got = send_out(t.send(v), &mut keep);
                    (got, model.send(id, SendKind::Policy))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(got, expect, "step {}: {op:?}", self.step);
                }
            }
            Op::TrySend(i) => {
                let r = with_tx!(ends, i, |t| {
                    let v = model.item();
                    let id = v.id;
                    let got = try_send_out(t.try_send(v), &mut keep);
                    (got, model.send(id, SendKind::Try))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(got, expect, "step {}: {op:?}", self.step);
                }
            }
            Op::SendTimeout(i, deadline) => {
                let r = with_tx!(ends, i, |t| {
                    let v = model.item();
                    let id = v.id;
                    let r = if deadline {
                        t.send_deadline(v, Instant::now())
                    } else {
                        t.send_timeout(v, Duration::ZERO)
                    };
                    let got = send_timeout_out(r, &mut keep);
                    (got, model.send(id, SendKind::Timeout))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(got, expect, "step {}: {op:?}", self.step);
                }
            }
            Op::TryRecv(i) => {
                if let Some(got) = with_rx!(ends, i, |r| try_recv_out(r.try_recv(), &mut keep)) {
                    assert_eq!(got, model.try_recv(), "step {}: {op:?}", self.step);
                }
            }
            Op::RecvTimeout(i, deadline) => {
                let got = with_rx!(ends, i, |r| {
                    let res = if deadline {
                        r.recv_deadline(Instant::now())
                    } else {
                        r.recv_timeout(Duration::ZERO)
                    };
                    recv_timeout_out(res, &mut keep)
                });
                if let Some(got) = got {
                    let expect = match model.try_recv() {
                        RecvOut::Empty => RecvOut::Timeout,
                        other => other,
                    };
                    assert_eq!(got, expect, "step {}: {op:?}", self.step);
                }
            }
            Op::Recv(i) => {
                if !model.recv_completes() {
                    return;
                }
                let got = with_rx!(ends, i, |r| match r.recv() {
                    Ok(v) => {
                        let id = v.id;
                        keep.push(v);
                        RecvOut::Item(id)
                    }
                    Err(_) => RecvOut::Closed,
                });
                if let Some(got) = got {
                    let expect = model.try_recv();
                    assert_eq!(got, expect, "step {}: {op:?}", self.step);
                }
            }
            Op::Drain(i) => {
                if let Some(items) = with_rx!(ends, i, |r| r.drain().collect::<Vec<_>>()) {
                    let len = model.len();
                    let expect = model_pops(model, len);
                    assert_eq!(ids(&items), expect, "step {}: {op:?}", self.step);
                    keep.extend(items);
                }
            }
            Op::TryIter(i, n) => {
                let n = usize::from(n % 10);
                if let Some(items) = with_rx!(ends, i, |r| r.try_iter().take(n).collect::<Vec<_>>())
                {
                    let expect = model_pops(model, n);
                    assert_eq!(ids(&items), expect, "step {}: {op:?}", self.step);
                    keep.extend(items);
                }
            }
            Op::IterClosed(i, by_value) => {
                // The iterators block: only when every receive completes, down to `Closed`.
                if !model.closed || (model.has_reservation() && !model.aborted) {
                    return;
                }
                let items = if by_value {
                    // Consumes the handle: a receiver drop follows the iteration.
                    let items = match ends {
                        Ends::Spsc { rx, .. } => rx.take().map(|r| r.into_iter().collect()),
                        Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                            let n = rxs.len();
                            Some(rxs.swap_remove(usize::from(i) % n).into_iter().collect())
                        }
                        Ends::Mpmc { .. } => None,
                    };
                    items.map(|items: Vec<Item>| {
                        let expect = model_pops(model, usize::MAX);
                        model.drop_receiver();
                        (items, expect)
                    })
                } else {
                    with_rx!(ends, i, |r| r.iter().collect::<Vec<_>>())
                        .map(|items| (items, model_pops(model, usize::MAX)))
                };
                if let Some((items, expect)) = items {
                    assert_eq!(ids(&items), expect, "step {}: {op:?}", self.step);
                    keep.extend(items);
                }
            }
            Op::Close(by) => {
                if let Some(got) = with_any!(ends, closers, by, |h| h.close()) {
                    assert_eq!(got, model.close(), "step {}: {op:?}", self.step);
                }
            }
            Op::Abort(by) => {
                let got = match (by, &mut *ends) {
                    (By::Rx(_), Ends::Spsc { rx: Some(r), .. }) => {
                        Some((r.abort(), AbortBy::Receiver))
                    }
                    (By::Tx(_), Ends::Spsc { tx: Some(t), .. }) => {
                        Some((t.abort(), AbortBy::Sender))
                    }
                    (By::Tx(_) | By::Rx(_), Ends::Spsc { .. }) => None,
                    (By::Tx(i), Ends::Mpmc { txs, .. }) if !txs.is_empty() => {
                        let n = txs.len();
                        Some((txs[usize::from(i) % n].abort(), AbortBy::Sender))
                    }
                    (By::Rx(i), Ends::Mpmc { rxs, .. }) if !rxs.is_empty() => {
                        let n = rxs.len();
                        Some((rxs[usize::from(i) % n].abort(), AbortBy::Receiver))
                    }
                    (By::Tx(_) | By::Rx(_), Ends::Mpmc { .. }) => None,
                    (By::Closer(i), _) if !closers.is_empty() => {
                        let n = closers.len();
                        Some((closers[usize::from(i) % n].abort(), AbortBy::Closer))
                    }
                    (By::Closer(_), _) => None,
                };
                if let Some((got, by)) = got {
                    assert_eq!(got, model.abort(by), "step {}: {op:?}", self.step);
                }
            }
            Op::Observe(by) => {
                let len = model.len();
                let closed = model.closed;
                let label = format!("step {}: {op:?}", self.step);
                let _ = with_any!(ends, closers, by, |h| {
                    assert_eq!(h.len(), len, "{label}: len");
                    assert_eq!(h.is_empty(), len == 0, "{label}: is_empty");
                    assert_eq!(h.is_closed(), closed, "{label}: is_closed");
                });
                let (cap, policy) = (model.cap, model.policy);
                let _ = with_tx!(ends, 0u8, |h| {
                    assert_eq!(h.is_full(), len == cap, "{label}: is_full");
                    assert_eq!(h.capacity(), cap, "{label}: capacity");
                    assert_eq!(h.policy(), policy, "{label}: policy");
                });
                let _ = with_rx!(ends, 0u8, |h| {
                    assert_eq!(h.is_full(), len == cap, "{label}: is_full");
                    assert_eq!(h.capacity(), cap, "{label}: capacity");
                    assert_eq!(h.policy(), policy, "{label}: policy");
                });
            }
            Op::Metrics(by) => {
                if let Some(m) = with_any!(ends, closers, by, |h| h.metrics()) {
                    model.check_metrics(&m, &format!("step {}: {op:?}", self.step));
                }
            }
            Op::CloneTx(i) => {
                if let Ends::Mpmc { txs, .. } = ends {
                    if !txs.is_empty() {
                        let t = Sender::clone(&txs[usize::from(i) % txs.len()]);
                        assert!(t.same_queue(&txs[0]));
                        txs.push(Rc::new(t));
                        model.senders += 1;
                    }
                }
            }
            Op::CloneRx(i) => {
                if let Ends::Mpmc { rxs, .. } = ends {
                    if !rxs.is_empty() {
                        let r = rxs[usize::from(i) % rxs.len()].clone();
                        assert!(r.same_queue(&rxs[0]));
                        rxs.push(r);
                        model.receivers += 1;
                    }
                }
            }
            Op::DropTx(i) => match ends {
                Ends::Spsc { tx, .. } => {
                    if tx.take().map(drop).is_some() {
                        model.drop_sender();
                    }
                }
                Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                    let n = txs.len();
                    // A sender a kept permit borrows stays alive until the permit goes.
                    release_tx(model, txs.swap_remove(usize::from(i) % n));
                }
                Ends::Mpmc { .. } => {}
            },
            Op::DropRx(i) => {
                let dropped = match ends {
                    Ends::Spsc { rx, .. } => rx.take().map(drop).is_some(),
                    Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                        let n = rxs.len();
                        drop(rxs.swap_remove(usize::from(i) % n));
                        true
                    }
                    Ends::Mpmc { .. } => false,
                };
                if dropped {
                    model.drop_receiver();
                }
            }
            Op::NewCloser(by) => {
                if closers.len() < 4 {
                    let c = match by {
                        By::Tx(i) => with_tx!(ends, i, |h| h.closer()),
                        By::Rx(i) => with_rx!(ends, i, |h| h.closer()),
                        By::Closer(i) if !closers.is_empty() => {
                            Some(closers[usize::from(i) % closers.len()].clone())
                        }
                        By::Closer(_) => None,
                    };
                    closers.extend(c);
                }
            }
            Op::DropCloser(i) => {
                if !closers.is_empty() {
                    let n = closers.len();
                    drop(closers.swap_remove(usize::from(i) % n));
                }
            }
            Op::Reserve(..) | Op::PermitSend(_) | Op::PermitDrop(_) => unreachable!(),
            // Driven by `apply_async`; not run while another future is pending.
            Op::AsyncSend(..) | Op::AsyncRecv(..) | Op::AsyncReserve(..) | Op::AsyncClosed(..) => {
                return;
            }
        }
        self.finish_step(mark, keep, &op);
    }

    /// Lends sender `i` to a permit that may be kept.
    fn lend_tx(&mut self, i: u8) -> Option<Lent> {
        match &mut self.ends {
            Ends::Spsc { tx, .. } => tx.take().map(|p| Lent::Spsc(Box::into_raw(Box::new(p)))),
            Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                let n = txs.len();
                Some(Lent::Mpmc(txs[usize::from(i) % n].clone()))
            }
            Ends::Mpmc { .. } => None,
        }
    }

    /// Takes back a lent sender, once its permit is gone.
    fn unlend(&mut self, lent: Lent) {
        match (lent, &mut self.ends) {
            (Lent::Mpmc(rc), _) => release_tx(&mut self.model, rc),
            (Lent::Spsc(p), Ends::Spsc { tx, .. }) => {
                // SAFETY: from `Box::into_raw` in `lend_tx`; its permit is gone.
                let p = unsafe { Box::from_raw(p) };
                assert!(tx.is_none(), "one producer");
                *tx = Some(*p);
            }
            (Lent::Spsc(_), Ends::Mpmc { .. }) => unreachable!("handle of the other flavor"),
        }
    }

    /// Sends, drops or keeps a permit just made; `model` is what the model reserved.
    fn use_permit(
        &mut self,
        permit: Permit<'static, Item>,
        model: PermitM,
        lent: Lent,
        use_: Use,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        match use_ {
            Use::Keep if self.permits.len() < MAX_HELD => self.permits.push(Held {
                permit: Some(permit),
                lent: Some(lent),
                model,
            }),
            Use::Send => {
                let v = self.model.item();
                let id = v.id;
                let got = sent_out(permit.send(v), keep);
                let want = self.model.permit_send(model, id);
                assert_eq!(got, want, "{label}: permit send");
                self.unlend(lent);
            }
            Use::Drop | Use::Keep => {
                drop(permit);
                self.model.permit_drop(model);
                self.unlend(lent);
            }
        }
    }

    /// Sends or drops kept permit `k`.
    fn resolve_permit(&mut self, k: usize, send: bool, keep: &mut Vec<Item>, label: &str) {
        let mut held = self.permits.remove(k);
        let permit = held.permit.take().expect("a kept permit");
        let lent = held.lent.take().expect("its end");
        let model = held.model;
        drop(held);
        let use_ = if send { Use::Send } else { Use::Drop };
        self.use_permit(permit, model, lent, use_, keep, label);
    }

    /// `try_reserve`, then the permit is sent, dropped or kept.
    fn reserve(&mut self, i: u8, use_: Use, op: Op) {
        let Some(lent) = self.lend_tx(i) else { return };
        let label = format!("step {}: {op:?}", self.step);
        let mark = drops_len();
        let mut keep = Vec::new();
        match lent.try_reserve() {
            Ok(permit) => {
                let model = match self.model.reserve() {
                    Ok(model) => model,
                    Err(e) => panic!("{label}: try_reserve succeeded; the model says {e:?}"),
                };
                self.use_permit(permit, model, lent, use_, &mut keep, &label);
            }
            Err(e) => {
                assert_eq!(
                    Err(e),
                    self.model.reserve().map(|_| ()),
                    "{label}: try_reserve"
                );
                self.unlend(lent);
            }
        }
        self.finish_step(mark, keep, &op);
    }

    fn take_tx(&mut self, i: u8) -> Option<TxH> {
        match &mut self.ends {
            Ends::Spsc { tx, .. } => tx.take().map(TxH::P),
            Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                let n = txs.len();
                Some(TxH::S(txs.swap_remove(usize::from(i) % n)))
            }
            Ends::Mpmc { .. } => None,
        }
    }

    fn put_tx(&mut self, h: TxH) {
        match (&mut self.ends, h) {
            (Ends::Spsc { tx, .. }, TxH::P(p)) => *tx = Some(p),
            (Ends::Mpmc { txs, .. }, TxH::S(s)) => txs.push(s),
            _ => unreachable!("handle of the other flavor"),
        }
    }

    fn take_rx(&mut self, i: u8) -> Option<RxH> {
        match &mut self.ends {
            Ends::Spsc { rx, .. } => rx.take().map(RxH::C),
            Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                let n = rxs.len();
                Some(RxH::R(rxs.swap_remove(usize::from(i) % n)))
            }
            Ends::Mpmc { .. } => None,
        }
    }

    fn put_rx(&mut self, h: RxH) {
        match (&mut self.ends, h) {
            (Ends::Spsc { rx, .. }, RxH::C(c)) => *rx = Some(c),
            (Ends::Mpmc { rxs, .. }, RxH::R(r)) => rxs.push(r),
            _ => unreachable!("handle of the other flavor"),
        }
    }

    /// Runs the next `1 + n % 4` operations of the input while a future is pending (those of
    /// other futures are skipped); returns whether the future was woken meanwhile.
    fn meanwhile(&mut self, n: u8, next: &mut dyn Iterator<Item = Op>, counter: &Counter) -> bool {
        let before = counter.0.load(Ordering::Relaxed);
        for op in next.take(1 + usize::from(n % 4)) {
            if !op.is_async() {
                self.apply(op);
            }
        }
        counter.0.load(Ordering::Relaxed) != before
    }

    fn apply_async(&mut self, op: Op, next: &mut dyn Iterator<Item = Op>) {
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(counter.clone());
        match op {
            Op::AsyncSend(i, mode, n) => {
                let Some(mut h) = self.take_tx(i) else { return };
                let v = self.model.item();
                let (fut_id, label) = (v.id, format!("step {}: {op:?}", self.step));
                let repoll = mode & 4 == 0;
                match mode % 4 {
                    2 => {
                        let mut fut = match &mut h {
                            TxH::P(p) => p.send_async_deadline(v, std::future::ready(())),
                            TxH::S(s) => s.send_async_deadline(v, std::future::ready(())),
                        };
                        let mark = drops_len();
                        let mut keep = Vec::new();
                        let Poll::Ready(r) = poll_once(&mut fut, &waker) else {
                            panic!("{label}: pending with its deadline due");
                        };
                        drop(fut);
                        let got = send_timeout_out(r, &mut keep);
                        let expect = self.model.send(fut_id, SendKind::Timeout);
                        assert_eq!(got, expect, "{label}");
                        self.finish_step(mark, keep, &op);
                    }
                    3 => {
                        let fut = match &mut h {
                            TxH::P(p) => p.send_async_deadline(v, std::future::pending()),
                            TxH::S(s) => s.send_async_deadline(v, std::future::pending()),
                        };
                        let how = (true, repoll);
                        self.drive_send(fut, fut_id, how, op, n, next, &waker, &counter);
                    }
                    m => {
                        let fut = match &mut h {
                            TxH::P(p) => p.send_async(v),
                            TxH::S(s) => s.send_async(v),
                        };
                        let how = (m == 1, repoll);
                        self.drive_send(fut, fut_id, how, op, n, next, &waker, &counter);
                    }
                }
                self.put_tx(h);
            }
            Op::AsyncRecv(i, mode, n) => {
                let Some(mut h) = self.take_rx(i) else { return };
                let repoll = (mode / 3) % 2 == 0;
                match mode % 3 {
                    1 => {
                        let mut fut = match &mut h {
                            RxH::C(c) => c.recv_async_deadline(std::future::ready(())),
                            RxH::R(r) => r.recv_async_deadline(std::future::ready(())),
                        };
                        let mark = drops_len();
                        let mut keep = Vec::new();
                        let Poll::Ready(r) = poll_once(&mut fut, &waker) else {
                            panic!("step {}: {op:?}: pending with its deadline due", self.step);
                        };
                        drop(fut);
                        let got = recv_timeout_out(r, &mut keep);
                        let expect = match self.model.try_recv() {
                            RecvOut::Empty => RecvOut::Timeout,
                            other => other,
                        };
                        assert_eq!(got, expect, "step {}: {op:?}", self.step);
                        self.finish_step(mark, keep, &op);
                    }
                    2 => {
                        let fut = match &mut h {
                            RxH::C(c) => c.recv_async_deadline(std::future::pending()),
                            RxH::R(r) => r.recv_async_deadline(std::future::pending()),
                        };
                        self.drive_recv(fut, repoll, op, n, next, &waker, &counter);
                    }
                    _ => {
                        let fut = match &mut h {
                            RxH::C(c) => c.recv_async(),
                            RxH::R(r) => r.recv_async(),
                        };
                        self.drive_recv(fut, repoll, op, n, next, &waker, &counter);
                    }
                }
                self.put_rx(h);
            }
            Op::AsyncReserve(i, use_, n) => {
                let Some(lent) = self.lend_tx(i) else { return };
                let label = format!("step {}: {op:?}", self.step);
                let mut mark = drops_len();
                let mut keep = Vec::new();
                let mut fut = lent.reserve_async();
                let mut polled = poll_once(&mut fut, &waker);
                assert_eq!(
                    polled.is_ready(),
                    self.model.reserve_completes(),
                    "{label}: first poll ready"
                );
                if polled.is_pending() {
                    self.finish_step(mark, Vec::new(), &op);
                    let woken = self.meanwhile(n, next, &counter);
                    mark = drops_len();
                    let ready = self.model.reserve_completes();
                    assert!(woken || !ready, "{label}: room appeared but no wake-up");
                    polled = poll_once(&mut fut, &waker);
                    assert_eq!(polled.is_ready(), ready, "{label}: second poll ready");
                }
                drop(fut);
                match polled {
                    Poll::Ready(Ok(permit)) => {
                        let model = match self.model.reserve() {
                            Ok(model) => model,
                            Err(e) => panic!("{label}: reserved; the model says {e:?}"),
                        };
                        self.use_permit(permit, model, lent, use_, &mut keep, &label);
                    }
                    Poll::Ready(Err(SendError::Closed(()))) => {
                        assert!(
                            self.model.closed,
                            "{label}: reserve failed on an open queue"
                        );
                        self.unlend(lent);
                    }
                    Poll::Ready(Err(SendError::Overloaded(()))) => {
                        panic!("{label}: reserve overloaded")
                    }
                    Poll::Pending => self.unlend(lent),
                }
                self.finish_step(mark, keep, &op);
            }
            Op::AsyncClosed(rx_side, i, n) => {
                let label = format!("step {}: {op:?}", self.step);
                let (tx, rx) = if rx_side {
                    (None, self.take_rx(i))
                } else {
                    (self.take_tx(i), None)
                };
                {
                    let mut fut = match (&tx, &rx) {
                        (Some(TxH::P(p)), _) => p.closed(),
                        (Some(TxH::S(s)), _) => s.closed(),
                        (_, Some(RxH::C(c))) => c.closed(),
                        (_, Some(RxH::R(r))) => r.closed(),
                        (None, None) => return,
                    };
                    let ready = poll_once(&mut fut, &waker).is_ready();
                    assert_eq!(ready, self.model.closed, "{label}: first poll");
                    if !ready {
                        let woken = self.meanwhile(n, next, &counter);
                        let closed = self.model.closed;
                        assert!(woken || !closed, "{label}: closed without a wake-up");
                        let ready = poll_once(&mut fut, &waker).is_ready();
                        assert_eq!(ready, closed, "{label}: second poll");
                    }
                }
                tx.into_iter().for_each(|h| self.put_tx(h));
                rx.into_iter().for_each(|h| self.put_rx(h));
            }
            _ => unreachable!("not a future's operation"),
        }
    }

    /// Polls a (policy-governed) send future; if it is pending, runs the next operations
    /// and polls again (unless `how.1` is false); then takes the value back (`into_inner`,
    /// if `how.0`) or drops the future.
    #[allow(clippy::too_many_arguments)]
    fn drive_send<F: SendFut>(
        &mut self,
        mut fut: F,
        id: u64,
        (into_inner, repoll): (bool, bool),
        op: Op,
        n: u8,
        next: &mut dyn Iterator<Item = Op>,
        waker: &Waker,
        counter: &Counter,
    ) {
        let label = format!("step {}: {op:?}", self.step);
        let mark = drops_len();
        let mut keep = Vec::new();
        if self.model.send_completes() {
            let Poll::Ready(r) = poll_once(&mut fut, waker) else {
                panic!("{label}: pending, but the send can complete");
            };
            let got = F::out(r, &mut keep);
            assert_eq!(got, self.model.send(id, SendKind::Policy), "{label}");
            drop(fut);
            self.finish_step(mark, keep, &op);
            return;
        }
        assert!(
            poll_once(&mut fut, waker).is_pending(),
            "{label}: ready, but the send must wait"
        );
        let zero = self.model.cap == 0;
        if zero {
            // Rendezvous: the value waits in line as an offer.
            self.model.offer = Some(id);
        }
        self.finish_step(mark, Vec::new(), &op);
        let woken = self.meanwhile(n, next, counter);
        let mark = drops_len();
        let ready = if zero {
            self.model.offer_taken || self.model.closed
        } else {
            self.model.send_completes()
        };
        assert!(
            woken || !ready,
            "{label}: the send can complete but was not woken"
        );
        let mut pending = true;
        if repoll {
            let expect = if zero {
                self.model.repoll_zero_send(id)
            } else if ready {
                Some(self.model.send(id, SendKind::Policy))
            } else {
                None
            };
            match poll_once(&mut fut, waker) {
                Poll::Ready(r) => {
                    let got = F::out(r, &mut keep);
                    assert_eq!(Some(got), expect, "{label}: second poll");
                    pending = false;
                }
                Poll::Pending => assert_eq!(expect, None, "{label}: second poll pending"),
            }
        }
        if pending {
            // Cancel: the value comes back, or drops with the future, unless a receiver
            // took the offer meanwhile (rendezvous, not polled again): then it was sent.
            let sent = std::mem::take(&mut self.model.offer_taken);
            self.model.offer = None;
            if into_inner {
                let v = fut.give_back();
                let expect = (!sent).then_some(id);
                assert_eq!(v.as_ref().map(|v| v.id), expect, "{label}: into_inner");
                keep.extend(v);
            } else {
                drop(fut);
                if !sent {
                    self.model.lib_drops.push(id);
                }
            }
        } else {
            drop(fut);
        }
        self.finish_step(mark, keep, &op);
    }

    /// Polls a receive future; if it is pending, runs the next operations and polls again
    /// (unless `repoll` is false), then drops it.
    #[allow(clippy::too_many_arguments)]
    fn drive_recv<F: RecvFut>(
        &mut self,
        mut fut: F,
        repoll: bool,
        op: Op,
        n: u8,
        next: &mut dyn Iterator<Item = Op>,
        waker: &Waker,
        counter: &Counter,
    ) {
        let label = format!("step {}: {op:?}", self.step);
        let mark = drops_len();
        let mut keep = Vec::new();
        let expect = self.model.try_recv();
        match poll_once(&mut fut, waker) {
            Poll::Ready(r) => {
                let got = F::out(r, &mut keep);
                assert_ne!(expect, RecvOut::Empty, "{label}: ready on an empty queue");
                assert_eq!(got, expect, "{label}");
                drop(fut);
                self.finish_step(mark, keep, &op);
                return;
            }
            Poll::Pending => {
                assert_eq!(expect, RecvOut::Empty, "{label}: pending");
            }
        }
        let zero = self.model.cap == 0;
        if zero {
            // Rendezvous: the receive waits in line for a sender to hand it a value.
            self.model.zrecv = ZeroRecv::Waiting;
        }
        self.finish_step(mark, Vec::new(), &op);
        let woken = self.meanwhile(n, next, counter);
        let mark = drops_len();
        let ready = if zero {
            self.model.zero_recv_ready()
        } else {
            self.model.recv_completes()
        };
        assert!(
            woken || !ready,
            "{label}: the receive can complete but was not woken"
        );
        let mut pending = true;
        if repoll {
            let expect = if zero {
                self.model.repoll_zero_recv()
            } else {
                self.model.try_recv()
            };
            match poll_once(&mut fut, waker) {
                Poll::Ready(r) => {
                    let got = F::out(r, &mut keep);
                    assert_eq!(got, expect, "{label}: second poll");
                    pending = false;
                }
                Poll::Pending => assert_eq!(expect, RecvOut::Empty, "{label}: second poll pending"),
            }
        }
        if pending && zero {
            // Leaves the line; a value handed to it is kept for the next receive.
            self.model.cancel_zero_recv();
        }
        drop(fut);
        self.finish_step(mark, keep, &op);
    }

    /// Drops whatever is left, in the order the input chose, checking each drop.
    fn teardown(mut self, order: u8) {
        // Kept permits first (they borrow their senders): sent with bit 3, else dropped.
        while !self.permits.is_empty() {
            let mark = drops_len();
            let mut keep = Vec::new();
            let mut send = order & 8 != 0;
            if let Some(bug) = self.model.permit_known_bug(self.permits[0].model, send) {
                send = !skip_known(bug);
            }
            self.resolve_permit(0, send, &mut keep, "teardown");
            self.finish_step(mark, keep, &"teardown: permit");
        }
        // 0: senders, receivers, closers; 1: receivers, senders, closers; 2: closers first;
        // 3: closers between. Bit 2: the observing closer goes with the other closers.
        let parts: [u8; 3] = match order % 4 {
            0 => [0, 1, 2],
            1 => [1, 0, 2],
            2 => [2, 0, 1],
            _ => [1, 2, 0],
        };
        for part in parts {
            let mark = drops_len();
            match part {
                0 => match &mut self.ends {
                    Ends::Spsc { tx, .. } => {
                        if tx.take().is_some() {
                            self.model.drop_sender();
                        }
                    }
                    Ends::Mpmc { txs, .. } => {
                        for rc in std::mem::take(txs) {
                            release_tx(&mut self.model, rc);
                        }
                    }
                },
                1 => {
                    let n = match &mut self.ends {
                        Ends::Spsc { rx, .. } => usize::from(rx.take().is_some()),
                        Ends::Mpmc { rxs, .. } => rxs.drain(..).count(),
                    };
                    for _ in 0..n {
                        self.model.drop_receiver();
                    }
                }
                _ => {
                    self.closers.clear();
                    // With bit 2 of `order`, the observer goes too, so that the last end's
                    // drop also frees the ring (with it kept, checks go on through it).
                    if order & 4 != 0 {
                        self.observer = None;
                    }
                }
            }
            self.finish_step(mark, Vec::new(), &"teardown");
        }
        if let Some(obs) = &self.observer {
            // Both ends are gone: the queue is closed and empty.
            assert!(obs.is_closed(), "teardown: closed with every end gone");
            assert_eq!(obs.len(), 0, "teardown: empty with the receivers gone");
            assert_eq!(obs.abort(), 0, "teardown: abort on an empty queue");
        }
        let mark = drops_len();
        drop(self.observer.take());
        assert_eq!(drops_since(mark), Vec::<u64>::new(), "teardown: ring drop");
        // Every value made was dropped exactly once.
        let mut all = DROPS.with(|d| d.borrow().clone());
        all.sort_unstable();
        let made: Vec<u64> = (0..self.model.next_id).collect();
        assert_eq!(all, made, "every value dropped exactly once");
    }
}

fn run(input: Input) {
    DROPS.with(|d| d.borrow_mut().clear());
    let cap = usize::from(input.capacity % 9);
    let policy = input.policy.policy();
    let builder = Builder::new(cap).policy(policy);
    let spsc = input.flavor == Flavor::Spsc;
    let ends = if spsc {
        match builder.try_spsc::<Item>() {
            Ok((tx, rx)) => Ends::Spsc {
                tx: Some(tx),
                rx: Some(rx),
            },
            Err(e) => {
                assert_eq!(cap, 0);
                assert_eq!(e.kind(), BuildErrorKind::ZeroCapacity);
                return;
            }
        }
    } else {
        match builder.try_mpmc::<Item>() {
            Ok((tx, rx)) => Ends::Mpmc {
                txs: vec![Rc::new(tx)],
                rxs: vec![rx],
            },
            Err(e) => {
                assert_eq!((cap, policy), (0, Policy::DropOldest));
                assert_eq!(e.kind(), BuildErrorKind::DropOldestRendezvous);
                return;
            }
        }
    };
    let observer = match &ends {
        Ends::Spsc { tx: Some(tx), .. } => tx.closer(),
        Ends::Mpmc { rxs, .. } => rxs[0].closer(),
        Ends::Spsc { .. } => unreachable!(),
    };
    let closers = vec![observer.clone()];
    let mut run = Run {
        model: Model::new(spsc, cap, policy),
        ends,
        closers,
        observer: Some(observer),
        permits: Vec::new(),
        step: 0,
    };
    run.check_state(&"built");
    let mut ops = input.ops.into_iter().take(256);
    while let Some(op) = ops.next() {
        if op.is_async() {
            run.apply_async(op, &mut ops);
        } else {
            run.apply(op);
        }
    }
    run.teardown(input.teardown);
}

fuzz_target!(|input: Input| run(input));
