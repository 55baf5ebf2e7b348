//! Differential fuzz target: one queue (SPSC or MPMC, any policy, capacity 0..=8, sampled or
//! exact high-water mark, with or without a credit gate of 0..=4 starting credits) driven
//! single-threaded by a sequence of operations, every result checked step by step against a
//! model.
//!
//! What is checked after every step:
//!
//! - each result, including the values handed back (`Full`, `Closed`, `Overloaded`,
//!   `Timeout`, `Sent::Evicted`, a permit's failed send, `into_inner`) and the values
//!   received, by id; `abort`'s count (exact where the API returns one);
//! - the exact set of values the library dropped during the step (dropped-newest, aborted,
//!   discarded with the last receiver, a send future dropped with its value), through a drop
//!   log that every payload writes to;
//! - `len`, `is_empty`, `is_closed` and every `Metrics` field, read through a `Closer` kept
//!   aside: the counters exactly (the credit gate's four and the two batch counts included),
//!   the quiescent identity `sent == received + evicted_oldest + discarded + len`, and the
//!   high-water mark: never above the capacity nor the true peak of `len`, never below the
//!   `len` of the snapshot, never decreasing; exactly the true peak with
//!   `Builder::exact_high_water`;
//! - `credits()` on every end in play (`None` without a gate);
//! - no lost wake-up: a pending future that could complete now shares its wait line with a
//!   pending future that was woken since its last poll (an executor polls only woken futures).
//!   For the rendezvous the lines are finer: a waiting send future is woken on its own (its
//!   offer taken, or the close), every waiting reservation is woken whenever one could
//!   complete, and the receive futures in line are woken one per value they could take now
//!   (at least `min(values available, receivers waiting)` of them since their last poll, and
//!   all of them once each would report `Closed`). The futures waiting for credit (sends and
//!   reservations at the credit gate, holding none) have a line of their own, checked the
//!   same way: at least `min(credits available, futures waiting)` of them woken since their
//!   last poll (a grant of `n` wakes up to `n`, a credit given back one), all of them once
//!   the queue is closed.
//!
//! At teardown every value ever made must have been dropped exactly once.
//!
//! # The model
//!
//! A ring (capacity 1..=8) is a `VecDeque` of values plus counts of outstanding permits:
//! all of them (`permits_out`: a close is reported as `Closed` only once the queue is empty
//! and this is 0) and those that hold room (`room_permits`: values + these never exceed the
//! capacity; every SPSC permit, and MPMC permits except under drop-oldest, whose permits
//! reserve nothing and whose sends may evict). A permit's value takes its FIFO place when it
//! is sent; its send fails (value back) only after an abort or the last receiver's drop;
//! dropped, it gives its room back; leaked (`mem::forget`), it holds it forever.
//!
//! SPSC aborts from the producer or a `Closer` are deferred: the queue closes at once, and
//! the consumer discards what is queued (counted) at its next call or its drop.
//!
//! Capacity 0 is the MPMC rendezvous, whose receivers *pull*; the model keeps its lines as
//! `zero.rs` does: receive futures waiting (oldest first; none holds a value, none is
//! claimed), waiting send futures' offers (each holding its value, oldest first), values in
//! transit (sent while a waiting receiver was free, for any receiver to take, oldest first),
//! waiting reservations, and the permits outstanding (each speaks for one waiting receiver:
//! a send or reservation goes ahead only while waiting receivers outnumber permits plus values
//! in transit; else it waits, or is `Full`). Every receive takes from transit first, then
//! (while open) the oldest offer, so values keep the order of their sends, whoever receives
//! them and whatever happened to the receive futures woken for them. `Closed` comes once the
//! queue is closed, nothing is in transit and no permit is outstanding (an abort discards what
//! is in transit, counted as sent and discarded, and fails the permits). `len` is 0; `sent`
//! counts a value when a receiver takes it. (A rendezvous `send_timeout`, `recv_timeout` or
//! `reserve_timeout` whose deadline is due still takes a place in line for an instant, an
//! offer or a registration, before it gives up: the wake-ups that sends to others are extra,
//! and its result is that of the `try_` form.)
//!
//! # Batches
//!
//! `try_send_batch` is a run of the policy-governed sends that do not wait, stopped by the
//! first value that cannot go (it and the rest stay with the caller); `try_recv_batch` is a
//! run of `try_recv`s up to its `max`, except that the SPSC ring (not its drop-oldest one)
//! takes what it sees in one step and does not look again once it has taken some (so, on a
//! closed queue, it reports `Closed` at the next call, not at the end of the batch).
//!
//! A batch counts in `batches_sent` if it sent a value (an eviction included), in
//! `batches_received` if it took one.
//!
//! # Chunks
//!
//! SPSC only (MPMC has none: the operations are skipped), and not on the drop-oldest ring,
//! where every chunk call reports `ChunkError::DropOldest` and does nothing else (the
//! consumer does not even discard after an abort). A write chunk is made like a
//! reservation, as one permit holding `held` units of room: `held = min(max, room)` (`max`
//! 0 asks for 1); with a gate it first takes `min(max, available)` credits (none: `Full`, or
//! `Closed` once closed), holds at most that many slots and gives the other credits back;
//! `Full` without room, `Closed` once closed. Values pushed or filled into it are not queued
//! yet (a push past its capacity comes back, and `fill_from_iter` pulls no value it cannot
//! write). Its commit (or drop) ends the permit: the values written are queued at once (one
//! `batches_sent` if any), and the credits of the slots not written are given back; after an
//! abort or the consumer's drop the commit fails, handing every value back (a drop drops
//! them) and giving back every credit. So a close waits for it as for a permit (the consumer
//! reports `Empty`, not `Closed`, while it is held), and the commit wakes a receiver waiting
//! for a value or for `Closed`. A read chunk gets the oldest `min(max, len)` values (`max` 0
//! asks for 1), or the error `try_recv` would give (`Empty`, or `Closed`, after an abort
//! discarding what is queued); it takes nothing yet: its `get`, `iter` and `as_slices` show
//! the values left in place (`as_slices` split where the buffer wraps, at the slot of
//! position `sent - len` plus those taken), `next` moves the oldest left out, `consume` drops
//! some; its release (or drop) frees the slots of those taken or consumed at once (they are
//! received then, one `batches_received` if any), waking a sender that waits for room; the
//! others stay queued, in front. `_timeout(ZERO)` gives the `try_` result (no credit wait is
//! counted); the blocking forms are called only when they complete at once; the async forms
//! are kept futures like the others: a write-chunk future waits at the gate (the credit
//! line, not counted in `credit_waits`: only sends and reservations are), then holds the
//! credits it took (up to `max`) while it waits for room (the sender's line); a read-chunk
//! future waits in the receive line. A chunk (from any form) is used at once, or kept (it
//! borrows its end, out of play meanwhile) for later operations or the teardown.
//!
//! # The credit gate
//!
//! With `Input::credits`, the queue is built with `Builder::credits(n % 5)`; `Grant` grants
//! on a receiving end (0..=3 credits, or a huge grant that saturates the gate at
//! `usize::MAX / 2`, the count of grants at `usize::MAX`). The model keeps the credits
//! available and granted, the kept futures that hold a credit, and the count of sends and
//! reservations that waited for credit. The gate is taken before the ring, exactly as
//! `credit.rs` does: a send (of any kind, a batch's included) takes a credit, then tries the
//! ring under its policy; the credit is spent if the value went in and given back otherwise
//! (full, dropped, rejected, timed out, closed), and given back by an eviction (an eviction
//! never spends). Out of credit is a full queue under the policy: `try_send` `Full`, `Block`
//! waits, `Reject` `Overloaded` and `DropNewest` dropped (counted), `DropOldest` replaces the
//! oldest queued value (`Sent::Evicted`, counted, no credit spent), or with nothing queued
//! waits. A reservation takes a credit, which its permit holds: spent by the permit's send
//! (given back if that send evicts or fails), given back by its drop, kept for ever by a
//! leak. A send or reservation future polled while out of credit waits at the gate holding
//! nothing (counted once in `credit_waits`); once it takes a credit it holds it while it
//! waits for room (ring) or for a receiver (rendezvous, where the credit is spent when a
//! receiver takes the offer), and gives it back if it ends without sending (closed,
//! cancelled, deadline). A blocking send or reservation with a deadline that is due counts a
//! credit wait when it found no credit (and, for a send, the policy waits for one). The
//! close (or abort, or the last end's drop) closes the gate: everything waiting for credit
//! reports `Closed`; grants after it still count. (On SPSC, `grant` is the consumer's: while a
//! kept receive future or read chunk borrows the consumer, nothing grants.)
//!
//! One thing is deliberately not checked: a `DropOldest` send future that waits for credit
//! with nothing queued (it would replace the oldest value) is woken by grants and the close
//! only, as documented ("with nothing queued, it waits for a credit"), not when a permit's
//! value enters the queue; so the wake-up check does not ask for that wake-up (its poll is
//! still checked: it replaces when polled).
//!
//! # Futures and permits
//!
//! The futures (`send_async`, `recv_async`, their `_deadline` forms with a deadline that the
//! input fires, `reserve_async`, `closed`) are polled once when made; a pending one is kept
//! (up to [`MAX_FUTS`]) and later polled again, fired, dropped or taken back (`into_inner`)
//! by further operations, in any order, or polled in an executor's turn (every kept future
//! woken since its last poll), each poll checked against the model. Permits
//! (`try_reserve`, `reserve`, `reserve_timeout`, `reserve_deadline`, `reserve_async`) are
//! sent, dropped, leaked or kept (up to [`MAX_HELD`]) for later. A kept future or permit
//! borrows its end, which stays alive until it goes (an SPSC end is out of play meanwhile).
//!
//! Blocking calls are only made when the model says they complete at once. SPSC capacity 0
//! and MPMC drop-oldest at capacity 0 check the constructor's error and stop; once per
//! process, the builders' capacity limits are checked (MPMC 2^29 - 1, SPSC drop-oldest
//! 2^29 - 2: one more is refused, before anything is allocated).
//!
//! # Kept inputs
//!
//! Inputs that once crashed, or that pin a contract, are kept in
//! `fuzz/regressions/differential/` (`ci/fuzz.sh` replays them first). They decode through
//! the input types as they are: a change to `Op` or `Input` (even a new variant) changes what
//! every kept input means, so re-create them after one: each is listed, as operations, in
//! `fuzz/regressions/differential.txt`, and `fuzz/encode.py --list` rewrites them all.
//! `PUSHPULL_FUZZ_SKIP_KNOWN` (see [`skip_known`]) steers around bugs already reported;
//! `PUSHPULL_FUZZ_TRACE` prints every step (see [`trace`]).

#![no_main]

use std::cell::{Cell, RefCell};
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
use pushpull::flavor::{self, Flavor as FlavorT};
use pushpull::{
    BatchStop, BuildErrorKind, Builder, ChunkError, ClosedFuture, Closer, Consumer, Metrics,
    Permit, Policy, Producer, ReadChunk, ReadChunkFuture, Receiver, RecvDeadline, RecvError,
    RecvFuture, RecvTimeoutError, ReserveFuture, SendDeadline, SendError, SendFuture,
    SendTimeoutError, Sender, Sent, TryRecvError, TrySendError, WriteChunk, WriteChunkFuture,
};

/// The most permits kept at once.
const MAX_HELD: usize = 8;
/// The most pending futures kept at once.
const MAX_FUTS: usize = 6;

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
    /// Kept, for a later `PermitSend` / `PermitDrop` / `PermitLeak` (or the teardown).
    Keep,
    /// `mem::forget`: its room is gone for the life of the queue.
    Leak,
}

/// Which reservation call.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// `try_reserve`.
    Try,
    /// `reserve`, only when it cannot wait.
    Blocking,
    /// `reserve_timeout(ZERO)`.
    Timeout,
    /// `reserve_deadline(now)`.
    Deadline,
}

/// The deadline of a send or receive future.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// `send_async` / `recv_async`.
    None,
    /// The `_deadline` form with a deadline already due.
    Due,
    /// The `_deadline` form with a deadline that a later `FutFire` makes due.
    Later,
}

/// How a chunk is made (SPSC).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `try_write_chunk` / `try_read_chunk`.
    Try,
    /// `write_chunk_timeout(max, ZERO)` / `read_chunk_timeout(max, ZERO)`.
    Timeout,
    /// `write_chunk` / `read_chunk`, only when the model says it completes at once.
    Blocking,
    /// `write_chunk_async` / `read_chunk_async`, polled once, kept if pending (the chunk it
    /// resolves to then gets the operation's values and end).
    Async,
}

/// How values go into a write chunk.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// `push`, one by one (past the chunk's capacity each comes back).
    Push,
    /// `fill_from_iter` of a lazy iterator (it must pull no value it cannot write).
    Iter,
    /// Half by `push`, the rest by `fill_from_iter`.
    Both,
}

/// What becomes of a chunk at the end of the operation.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `commit` (write) / `release` (read).
    Commit,
    /// Dropped: a write chunk's drop commits (dropping the values if that fails), a read
    /// chunk's releases.
    Drop,
    /// Kept (it borrows its end) for `ChunkWrite` / `ChunkCommit` or `ChunkRead` /
    /// `ChunkRelease`, or the teardown.
    Keep,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    /// The policy-governed `send` (only when it cannot wait).
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
    /// `try_iter().take(n % 10)`.
    TryIter(u8, u8),
    /// `iter()` (by reference) or `into_iter()` (consuming the handle), only when they
    /// cannot wait (they end at `Closed`).
    IterClosed(u8, bool),
    Close(By),
    Abort(By),
    /// len / is_empty / is_full / capacity / policy / is_closed / handle counts.
    Observe(By),
    Metrics(By),
    CloneTx(u8),
    CloneRx(u8),
    DropTx(u8),
    DropRx(u8),
    NewCloser(By),
    DropCloser(u8),
    /// A reservation on a sender, and what becomes of the permit.
    Reserve(u8, How, Use),
    /// `send` on a kept permit (which one: the index modulo how many are kept).
    PermitSend(u8),
    /// Drops a kept permit unused.
    PermitDrop(u8),
    /// Leaks a kept permit (`mem::forget`).
    PermitLeak(u8),
    /// A send future, polled once, kept if pending.
    SendAsync(u8, Deadline),
    /// A receive future, polled once, kept if pending.
    RecvAsync(u8, Deadline),
    /// `reserve_async`, polled once, kept if pending; then the permit's use.
    ReserveAsync(u8, Use),
    /// `closed()` of a handle, polled once, kept if pending.
    ClosedAsync(By),
    /// Polls a kept future again.
    FutPoll(u8),
    /// Makes a kept future's deadline due, then polls it.
    FutFire(u8),
    /// Drops a kept future.
    FutDrop(u8),
    /// A kept send future's `into_inner` (other futures: dropped).
    FutIntoInner(u8),
    /// An executor's turn: polls every kept future woken since its last poll, oldest first.
    FutPollWoken,
    /// `try_send_batch` of `n % 6` new values (each under the policy, as `send` that does
    /// not wait).
    TrySendBatch(u8, u8),
    /// `try_recv_batch` of up to `max % 6` values.
    TryRecvBatch(u8, u8),
    /// `grant` on a receiving end: `n % 4` credits, or (`n` 254, 255) a huge grant (see
    /// [`grant_amount`]).
    Grant(u8, u8),
    /// SPSC: a write chunk of up to `max % 10` slots (0 asks for 1), made as `Via` says;
    /// `n % 10` values written into it as `Fill` says; then `End`. (MPMC: skipped.)
    WriteChunk(u8, u8, Fill, End, Via),
    /// SPSC: `n % 10` more values into the kept write chunk.
    ChunkWrite(u8, Fill),
    /// SPSC: the kept write chunk's `commit` (`false`) or drop (`true`).
    ChunkCommit(bool),
    /// SPSC: a read chunk of up to `max % 10` values (0 asks for 1), made as `Via` says;
    /// `take % 10` values moved out by `next`, then `consume(n % 10)`, its views (`len`,
    /// `get`, `iter`, `as_slices`) checked before and after; then `End`.
    ReadChunk(u8, u8, u8, End, Via),
    /// SPSC: on the kept read chunk, `take % 10` values moved out, then `consume(n % 10)`.
    ChunkRead(u8, u8),
    /// SPSC: the kept read chunk's `release` (`false`) or drop (`true`).
    ChunkRelease(bool),
}

/// The credits a `Grant` grants: `n % 4`, except 255 (`usize::MAX`: saturates the gate) and
/// 254 (one below the gate's largest count, so that credits given back pass it).
fn grant_amount(n: u8) -> usize {
    match n {
        255 => usize::MAX,
        254 => MAX_CREDITS - 1,
        n => usize::from(n % 4),
    }
}

/// The most credits a gate holds (`wait::sem`'s largest count).
const MAX_CREDITS: usize = usize::MAX >> 1;

#[derive(Arbitrary, Debug)]
struct Input {
    flavor: Flavor,
    policy: PolicyIn,
    capacity: u8,
    /// `Builder::exact_high_water`.
    exact: bool,
    /// `Builder::credits(n % 5)`; `None`: no credit gate.
    credits: Option<u8>,
    ops: Vec<Op>,
    /// Order of the final drops: senders / receivers / the observing closer; bit 3: the
    /// permits still kept send (else bit 4: they leak; else they drop).
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
    /// `try_send`: never waits, never applies the policy.
    Try,
    /// The policy-governed send (`send`, `send_async`).
    Policy,
    /// With a deadline that has passed.
    Timeout,
}

/// What a reservation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResOut {
    /// `Full` (try_reserve) or `Timeout` (with a deadline).
    Full,
    Closed,
}

/// What a permit holds, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermitM {
    /// A ring permit; `room`: it holds a unit of room.
    Ring { room: bool },
    /// A rendezvous permit: it speaks for a waiting receiver (no particular one).
    Zero,
}

/// Who calls `abort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AbortBy {
    Sender,
    Receiver,
    Closer,
}

/// A kept future, in the model (`WChunk`: `write_chunk_async(max)`, `RChunk`:
/// `read_chunk_async(max)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FutKind {
    Send { id: u64 },
    Recv,
    Reserve,
    Closed,
    WChunk { max: usize },
    RChunk { max: usize },
}

#[derive(Debug, Clone, Copy)]
struct FutM {
    fid: u32,
    kind: FutKind,
    /// A `_deadline` future.
    deadline: bool,
}

/// A wait line, for the lost wake-up check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// A `closed()` future: each is woken on its own.
    Closed(u32),
    /// Receive futures.
    Recv,
    /// Ring: send and reservation futures waiting for room.
    Room,
    /// Rendezvous: a send future's offer, woken by the receiver that takes it.
    Offer(u32),
    /// Rendezvous: a reservation future waiting for a receiver (every one is woken).
    Reserve(u32),
    /// Send and reservation futures waiting for credit, holding none (checked by count, see
    /// [`Run::check_credit_line`]).
    Credit,
}

/// The credit gate, in the model. Closed with the queue (`Model::closed`).
#[derive(Debug, Clone)]
struct GateM {
    /// Credits available.
    avail: usize,
    /// Credits granted, the starting ones included, as far as the gate took them (a grant
    /// is cut so that at most `MAX_CREDITS` are available; the cut part is not counted).
    granted: usize,
    /// Sends and reservations that waited for credit.
    waits: u64,
    /// Kept futures holding a credit (taken, not yet spent or given back).
    holders: Vec<u32>,
    /// Kept futures already counted in `waits`.
    counted: Vec<u32>,
    /// Kept write-chunk futures holding credits (taken while they wait for room): how many.
    chunk_held: Vec<(u32, usize)>,
}

#[derive(Debug, Clone)]
struct Model {
    spsc: bool,
    cap: usize,
    policy: Policy,
    exact: bool,
    /// Queued values, oldest first (capacity >= 1).
    queue: VecDeque<u64>,
    /// Outstanding permits (live or leaked) that hold a unit of room.
    room_permits: usize,
    /// Outstanding permits (live or leaked), all of them.
    permits_out: usize,
    closed: bool,
    /// MPMC: aborted (or every receiver gone): receivers see `Closed`, permits' sends fail.
    /// SPSC: the abort flag: the consumer discards at its next call; permits' sends fail.
    aborted: bool,
    /// Live `Sender`s (MPMC) or the producer (SPSC), whether in play or lent.
    senders: usize,
    receivers: usize,
    /// Rendezvous: receive futures waiting (their ids), oldest first.
    zrecv: VecDeque<u32>,
    /// Rendezvous: waiting send futures' offers (future id, value), oldest first.
    offers: VecDeque<(u32, u64)>,
    /// Rendezvous: send futures whose offer a receiver took.
    taken: Vec<u32>,
    /// Rendezvous: values in transit (sent for a free waiting receiver), oldest first.
    transit: VecDeque<u64>,
    /// Rendezvous: reservation futures waiting, oldest first.
    reservers: VecDeque<u32>,
    /// Rendezvous: the last permit went (sent or dropped) after a close (for the steer of
    /// `zero-closed-permit-send-wakeup`).
    z_last_permit_after_close: bool,
    next_id: u64,
    next_fid: u32,
    /// Ids the library is expected to drop during the current step.
    lib_drops: Vec<u64>,
    sent: u64,
    received: u64,
    dropped_newest: u64,
    evicted_oldest: u64,
    rejected: u64,
    discarded: u64,
    /// The true peak of `len`.
    peak: usize,
    /// The high-water mark last read.
    high_water_seen: usize,
    /// The credit gate (`None`: built without one).
    gate: Option<GateM>,
    /// Batch sends (and write-chunk commits) that sent a value.
    batches_sent: u64,
    /// SPSC: a run was published at once (a chunk's commit, a batch send), for the steer of
    /// `spsc-run-high-water-bound`.
    ran: bool,
    /// Batch receives (and read chunks) that took a value.
    batches_received: u64,
}

impl Model {
    fn new(spsc: bool, cap: usize, policy: Policy, exact: bool, credits: Option<usize>) -> Self {
        Self {
            spsc,
            cap,
            policy,
            exact,
            queue: VecDeque::new(),
            room_permits: 0,
            permits_out: 0,
            closed: false,
            aborted: false,
            senders: 1,
            receivers: 1,
            zrecv: VecDeque::new(),
            offers: VecDeque::new(),
            taken: Vec::new(),
            transit: VecDeque::new(),
            reservers: VecDeque::new(),
            z_last_permit_after_close: false,
            next_id: 0,
            next_fid: 0,
            lib_drops: Vec::new(),
            sent: 0,
            received: 0,
            dropped_newest: 0,
            evicted_oldest: 0,
            rejected: 0,
            discarded: 0,
            peak: 0,
            high_water_seen: 0,
            gate: credits.map(|n| GateM {
                avail: n.min(MAX_CREDITS),
                granted: n.min(MAX_CREDITS),
                waits: 0,
                holders: Vec::new(),
                counted: Vec::new(),
                chunk_held: Vec::new(),
            }),
            batches_sent: 0,
            batches_received: 0,
            ran: false,
        }
    }

    // --- the credit gate ---

    /// What `credits()` reports.
    fn credits(&self) -> Option<usize> {
        self.gate.as_ref().map(|g| g.avail)
    }

    /// Takes a credit if one is available (`true` without a gate).
    fn take_credit(&mut self) -> bool {
        match &mut self.gate {
            None => true,
            Some(g) if g.avail > 0 => {
                g.avail -= 1;
                true
            }
            Some(_) => false,
        }
    }

    /// A credit taken for a value that did not go in (or whose eviction freed it) is free
    /// again. Not cut: only grants are (so the credits available may pass `MAX_CREDITS` by
    /// the few that were out when a grant filled the gate).
    fn give_back(&mut self) {
        if let Some(g) = &mut self.gate {
            g.avail += 1;
        }
    }

    fn grant(&mut self, n: usize) {
        if let Some(g) = &mut self.gate {
            let add = n.min(MAX_CREDITS.saturating_sub(g.avail));
            g.granted = g.granted.wrapping_add(add);
            g.avail += add;
        }
    }

    /// Gated, open and out of credit: a send or reservation that waits would wait for credit.
    fn out_of_credit(&self) -> bool {
        !self.closed && self.gate.as_ref().is_some_and(|g| g.avail == 0)
    }

    /// A blocking send or a send future would wait for credit now (out of credit, and the
    /// policy waits: `Block`, or `DropOldest` with nothing queued to replace).
    fn send_waits_for_credit(&self) -> bool {
        self.out_of_credit()
            && match self.policy {
                Policy::Block => true,
                Policy::DropOldest => self.queue.is_empty(),
                _ => false,
            }
    }

    /// Counts a send or reservation that waits for credit (a kept future: once).
    fn count_credit_wait(&mut self, fid: Option<u32>) {
        if let Some(g) = &mut self.gate {
            if let Some(fid) = fid {
                if g.counted.contains(&fid) {
                    return;
                }
                g.counted.push(fid);
            }
            g.waits += 1;
        }
    }

    /// Whether kept future `fid` holds a credit.
    fn holds(&self, fid: u32) -> bool {
        self.gate.as_ref().is_some_and(|g| g.holders.contains(&fid))
    }

    fn hold(&mut self, fid: u32) {
        if let Some(g) = &mut self.gate {
            g.holders.push(fid);
        }
    }

    /// Future `fid` no longer holds a credit (spent or given back by the caller): whether it
    /// held one.
    fn unhold(&mut self, fid: u32) -> bool {
        let Some(g) = &mut self.gate else {
            return false;
        };
        match g.holders.iter().position(|f| *f == fid) {
            Some(p) => {
                g.holders.swap_remove(p);
                true
            }
            None => false,
        }
    }

    /// Future `fid` is over: it is forgotten by the gate.
    fn gate_forget(&mut self, fid: u32) {
        if let Some(g) = &mut self.gate {
            g.counted.retain(|f| *f != fid);
        }
    }

    /// Whether a kept send or reservation future waits at the credit gate (holding none).
    fn at_gate(&self, f: &FutM) -> bool {
        match f.kind {
            FutKind::Send { .. } | FutKind::Reserve => self.gate.is_some() && !self.holds(f.fid),
            FutKind::WChunk { .. } => self.gate.is_some() && self.chunk_credits(f.fid) == 0,
            _ => false,
        }
    }

    /// The credits kept write-chunk future `fid` holds.
    fn chunk_credits(&self, fid: u32) -> usize {
        self.gate.as_ref().map_or(0, |g| {
            g.chunk_held
                .iter()
                .find(|(f, _)| *f == fid)
                .map_or(0, |(_, n)| *n)
        })
    }

    /// Kept write-chunk future `fid` no longer holds credits: how many it held.
    fn chunk_unhold(&mut self, fid: u32) -> usize {
        let Some(g) = &mut self.gate else { return 0 };
        match g.chunk_held.iter().position(|(f, _)| *f == fid) {
            Some(p) => g.chunk_held.swap_remove(p).1,
            None => 0,
        }
    }

    /// Credits given back at once (a chunk's unused ones); not cut, as [`give_back`].
    fn give_back_n(&mut self, n: usize) {
        if let Some(g) = &mut self.gate {
            g.avail += n;
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

    fn fid(&mut self) -> u32 {
        self.next_fid += 1;
        self.next_fid
    }

    fn zero(&self) -> bool {
        self.cap == 0
    }

    /// What `len()` reports (always 0 for the rendezvous).
    fn len(&self) -> usize {
        self.queue.len()
    }

    fn note_peak(&mut self) {
        self.peak = self.peak.max(self.queue.len());
    }

    fn push(&mut self, id: u64) {
        self.queue.push_back(id);
        self.sent += 1;
        self.note_peak();
    }

    /// The oldest value goes (handed back), `id` goes in.
    fn evict(&mut self, id: u64) -> SendOut {
        let old = self
            .queue
            .pop_front()
            .expect("model: evict from an empty ring");
        self.evicted_oldest += 1;
        self.push(id);
        SendOut::Evicted(old)
    }

    /// Discards what is queued (abort, consumer gone): dropped by the library, counted.
    fn discard_queue(&mut self) -> usize {
        let n = self.queue.len();
        self.lib_drops.extend(self.queue.drain(..));
        self.discarded += n as u64;
        n
    }

    /// Whether a receive that found nothing reports `Closed` rather than `Empty`: closed,
    /// and no permit outstanding (their sends may still land).
    fn closed_and_done(&self) -> bool {
        self.closed && self.permits_out == 0
    }

    // --- rendezvous lines ---

    /// Rendezvous: permits outstanding (an abort fails them all).
    fn z_claims(&self) -> usize {
        if self.aborted {
            0
        } else {
            self.permits_out
        }
    }

    /// Rendezvous: a waiting receiver not spoken for by a permit or a value in transit.
    fn z_ready(&self) -> bool {
        self.zrecv.len() > self.z_claims() + self.transit.len()
    }

    /// Rendezvous: values a receive could take now (in transit; offers while open).
    fn z_available(&self) -> usize {
        self.transit.len() + if self.closed { 0 } else { self.offers.len() }
    }

    /// Rendezvous: every receive reports `Closed` once the values in transit are taken.
    fn z_ending(&self) -> bool {
        self.aborted || (self.closed && self.z_claims() == 0)
    }

    /// Whether the lost wake-up check steers around an open bug for the rendezvous receive
    /// futures now (see [`skip_known`]): they could complete only by an offer
    /// (`zero-dropped-receiver-offer-wakeup`) or by `Closed` after a close that every permit
    /// has sent or been dropped since (`zero-closed-permit-send-wakeup`).
    fn z_recv_steered(&self) -> bool {
        let transit = !self.transit.is_empty();
        (!transit
            && !self.closed
            && !self.offers.is_empty()
            && skip_known("zero-dropped-receiver-offer-wakeup"))
            || (!transit && self.z_closed_by_permit_steered())
    }

    /// `zero-closed-permit-send-wakeup` or `-drop-wakeup` steered, and closed (not aborted)
    /// with no permit, the last having gone after the close.
    fn z_closed_by_permit_steered(&self) -> bool {
        self.z_last_permit_after_close
            && !self.aborted
            && self.z_claims() == 0
            && (skip_known("zero-closed-permit-send-wakeup")
                || skip_known("zero-closed-permit-drop-wakeup"))
    }

    /// [`z_available`](Self::z_available), not counting offers while
    /// `zero-dropped-receiver-offer-wakeup` is steered around.
    fn z_available_steered(&self) -> usize {
        if skip_known("zero-dropped-receiver-offer-wakeup") {
            self.transit.len()
        } else {
            self.z_available()
        }
    }

    /// A value for a receiver: in transit first, else (while open) the oldest offer.
    fn z_take(&mut self) -> Option<u64> {
        let id = match self.transit.pop_front() {
            Some(id) => id,
            None if self.closed => return None,
            None => {
                let (fid, id) = self.offers.pop_front()?;
                self.taken.push(fid);
                id
            }
        };
        self.sent += 1;
        self.received += 1;
        Some(id)
    }

    fn z_remove(&mut self, fid: u32) {
        if let Some(p) = self.zrecv.iter().position(|r| *r == fid) {
            self.zrecv.remove(p);
        }
    }

    /// A poll of receive future `fid`: `None` while it waits (it takes, or keeps, its place
    /// at the back of the line).
    fn z_poll_recv(&mut self, fid: u32) -> Option<RecvOut> {
        let out = match self.try_recv() {
            RecvOut::Empty => {
                if !self.zrecv.contains(&fid) {
                    self.zrecv.push_back(fid);
                }
                return None;
            }
            out => out,
        };
        self.z_remove(fid);
        Some(out)
    }

    /// A poll of send future `fid` (value `id`) under `Block`: `None` while it waits.
    fn z_poll_send(&mut self, fid: u32, id: u64) -> Option<SendOut> {
        if let Some(p) = self.taken.iter().position(|f| *f == fid) {
            self.taken.swap_remove(p);
            return Some(SendOut::Queued);
        }
        if let Some(p) = self.offers.iter().position(|(f, _)| *f == fid) {
            if self.closed {
                self.offers.remove(p);
                return Some(SendOut::Closed(id));
            }
            return None;
        }
        if self.closed {
            return Some(SendOut::Closed(id));
        }
        if self.z_ready() {
            self.transit.push_back(id);
            return Some(SendOut::Queued);
        }
        self.offers.push_back((fid, id));
        None
    }

    // --- sends ---

    /// A send of `kind` through the gate (if any): a credit first, then the ring; `None` if
    /// it would wait (holding no credit).
    fn send(&mut self, id: u64, kind: SendKind) -> Option<SendOut> {
        if self.gate.is_none() || self.closed {
            return self.ring_send(id, kind);
        }
        if !self.take_credit() {
            return self.send_out_of_credit(id, kind);
        }
        let out = self.ring_send(id, kind);
        if out != Some(SendOut::Queued) {
            // Not in (or in by an eviction, which frees the evicted value's credit).
            self.give_back();
        }
        out
    }

    /// A send out of credit: the policy, as on a full queue; `DropOldest` replaces the oldest
    /// queued value (which hands over its credit), or with nothing queued waits.
    fn send_out_of_credit(&mut self, id: u64, kind: SendKind) -> Option<SendOut> {
        Some(match (kind, self.policy) {
            (SendKind::Try, _) => SendOut::Full(id),
            (_, Policy::DropNewest) => {
                self.dropped_newest += 1;
                self.lib_drops.push(id);
                SendOut::DroppedNewest
            }
            (_, Policy::Reject) => {
                self.rejected += 1;
                SendOut::Overloaded(id)
            }
            (_, Policy::DropOldest) if !self.queue.is_empty() => self.evict(id),
            (SendKind::Policy, _) => return None,
            (SendKind::Timeout, _) => SendOut::Timeout(id),
        })
    }

    /// A send of `kind` on the ring (or rendezvous) alone, past the gate; `None` if it would
    /// wait.
    fn ring_send(&mut self, id: u64, kind: SendKind) -> Option<SendOut> {
        if self.closed {
            return Some(SendOut::Closed(id));
        }
        if self.zero() {
            // For a waiting receiver not spoken for: the value goes in transit.
            if self.z_ready() {
                self.transit.push_back(id);
                return Some(SendOut::Queued);
            }
        } else if self.queue.len() + self.room_permits < self.cap {
            self.push(id);
            return Some(SendOut::Queued);
        }
        Some(match (kind, self.policy) {
            (SendKind::Try, _) => SendOut::Full(id),
            (SendKind::Policy, Policy::Block) => return None,
            (SendKind::Timeout, Policy::Block) => SendOut::Timeout(id),
            (_, Policy::DropNewest) => {
                self.dropped_newest += 1;
                self.lib_drops.push(id);
                SendOut::DroppedNewest
            }
            (_, Policy::Reject) => {
                self.rejected += 1;
                SendOut::Overloaded(id)
            }
            (_, Policy::DropOldest) if self.queue.is_empty() => {
                // SPSC with every unit of room held by permits: nothing to evict; waits.
                match kind {
                    SendKind::Policy => return None,
                    _ => SendOut::Timeout(id),
                }
            }
            (_, Policy::DropOldest) => self.evict(id),
            (_, p) => panic!("model: unknown policy {p:?}"),
        })
    }

    /// Whether the blocking `send` would wait.
    fn send_waits(&self) -> bool {
        self.clone().send(u64::MAX, SendKind::Policy).is_none()
    }

    /// A poll of send future `fid` (value `id`): `None` while it waits. With a gate, one
    /// holding no credit takes one first (out of credit: the policy; `Block`, and
    /// `DropOldest` with nothing to replace, wait at the gate), then waits for room (or a
    /// receiver) holding it.
    fn poll_send_fut(&mut self, fid: u32, id: u64) -> Option<SendOut> {
        if self.gate.is_some() && !self.holds(fid) {
            if self.closed || matches!(self.policy, Policy::Reject | Policy::DropNewest) {
                // Never waits.
                let out = self.send(id, SendKind::Policy);
                self.gate_forget(fid);
                return out;
            }
            if !self.take_credit() {
                if self.policy == Policy::DropOldest && !self.queue.is_empty() {
                    self.gate_forget(fid);
                    return Some(self.evict(id));
                }
                self.count_credit_wait(Some(fid));
                return None;
            }
            self.hold(fid);
        }
        let out = if self.zero() && self.policy == Policy::Block {
            self.z_poll_send(fid, id)
        } else {
            self.ring_send(id, SendKind::Policy)
        };
        if out.is_some() {
            if self.unhold(fid) && out != Some(SendOut::Queued) {
                // Closed, or an eviction (which frees the evicted value's credit).
                self.give_back();
            }
            self.gate_forget(fid);
        }
        out
    }

    /// Send future `fid` leaves its line(s): whether the value is still the future's. A
    /// credit it holds is given back, unless a receiver took its offer (spent).
    fn cancel_send_fut(&mut self, fid: u32) -> bool {
        let held = self.unhold(fid);
        self.gate_forget(fid);
        if let Some(p) = self.taken.iter().position(|f| *f == fid) {
            self.taken.swap_remove(p);
            return false;
        }
        if let Some(p) = self.offers.iter().position(|(f, _)| *f == fid) {
            self.offers.remove(p);
        }
        if held {
            self.give_back();
        }
        true
    }

    /// A send future's deadline passed while it waited: it leaves the line and tries once.
    fn give_up_send(&mut self, fid: u32, id: u64) -> SendOut {
        if !self.cancel_send_fut(fid) {
            return SendOut::Queued;
        }
        self.send(id, SendKind::Timeout)
            .expect("a send with a deadline ends")
    }

    // --- receives ---

    /// `try_recv` (and the attempt of every other receive).
    fn try_recv(&mut self) -> RecvOut {
        if self.aborted {
            // SPSC: the consumer discards what a deferred abort left. MPMC: empty already.
            self.discard_queue();
            return RecvOut::Closed;
        }
        if self.zero() {
            if let Some(id) = self.z_take() {
                return RecvOut::Item(id);
            }
        } else if let Some(id) = self.queue.pop_front() {
            self.received += 1;
            return RecvOut::Item(id);
        }
        if self.closed_and_done() {
            RecvOut::Closed
        } else {
            RecvOut::Empty
        }
    }

    /// What `try_recv` would give, without doing it.
    fn peek_recv(&self) -> RecvOut {
        self.clone().try_recv()
    }

    /// Whether receiving until the end stops at `Closed` (so a blocking iterator ends).
    fn drains_to_closed(&self) -> bool {
        let mut m = self.clone();
        loop {
            match m.try_recv() {
                RecvOut::Item(_) => {}
                out => return out == RecvOut::Closed,
            }
        }
    }

    fn poll_recv_fut(&mut self, fid: u32) -> Option<RecvOut> {
        if self.zero() {
            return self.z_poll_recv(fid);
        }
        match self.try_recv() {
            RecvOut::Empty => None,
            out => Some(out),
        }
    }

    /// Receive future `fid` leaves the line (it holds nothing: receivers pull).
    fn cancel_recv_fut(&mut self, fid: u32) {
        self.z_remove(fid);
    }

    /// A receive future's deadline passed while it waited: it leaves the line and tries once.
    fn give_up_recv(&mut self, fid: u32) -> RecvOut {
        self.cancel_recv_fut(fid);
        match self.try_recv() {
            RecvOut::Empty => RecvOut::Timeout,
            out => out,
        }
    }

    // --- permits ---

    /// A reservation that does not wait, through the gate: a credit (out of credit: `Full`),
    /// then room; the permit holds the credit.
    fn reserve(&mut self) -> Result<PermitM, ResOut> {
        if self.gate.is_none() || self.closed {
            return self.ring_reserve();
        }
        if !self.take_credit() {
            return Err(ResOut::Full);
        }
        let r = self.ring_reserve();
        if r.is_err() {
            self.give_back();
        }
        r
    }

    /// A reservation on the ring (or rendezvous) alone, past the gate.
    fn ring_reserve(&mut self) -> Result<PermitM, ResOut> {
        if self.closed {
            return Err(ResOut::Closed);
        }
        let permit = if self.zero() {
            if !self.z_ready() {
                return Err(ResOut::Full);
            }
            PermitM::Zero
        } else if !self.spsc && self.policy == Policy::DropOldest {
            PermitM::Ring { room: false }
        } else if self.queue.len() + self.room_permits < self.cap {
            self.room_permits += 1;
            PermitM::Ring { room: true }
        } else {
            return Err(ResOut::Full);
        };
        self.permits_out += 1;
        self.note_peak();
        Ok(permit)
    }

    fn reserve_waits(&self) -> bool {
        self.clone().reserve() == Err(ResOut::Full)
    }

    /// A poll of reservation future `fid`: `None` while it waits (with a gate: for a credit,
    /// holding none; then for room, holding one, which the permit takes over).
    fn poll_reserve_fut(&mut self, fid: u32) -> Option<Result<PermitM, ()>> {
        if self.gate.is_some() && !self.holds(fid) && !self.closed {
            if !self.take_credit() {
                self.count_credit_wait(Some(fid));
                return None;
            }
            self.hold(fid);
        }
        if self.zero() {
            if let Some(p) = self.reservers.iter().position(|f| *f == fid) {
                self.reservers.remove(p);
            }
        }
        let out = match self.ring_reserve() {
            Ok(p) => Some(Ok(p)),
            Err(ResOut::Closed) => Some(Err(())),
            Err(_) => {
                if self.zero() {
                    self.reservers.push_back(fid);
                }
                None
            }
        };
        if let Some(r) = &out {
            if self.unhold(fid) && r.is_err() {
                self.give_back();
            }
            self.gate_forget(fid);
        }
        out
    }

    fn cancel_reserve_fut(&mut self, fid: u32) {
        if let Some(p) = self.reservers.iter().position(|f| *f == fid) {
            self.reservers.remove(p);
        }
        if self.unhold(fid) {
            self.give_back();
        }
        self.gate_forget(fid);
    }

    /// A permit's `send`: with a gate, its credit is spent if the value went in (given back
    /// if it failed, or if it evicted).
    fn permit_send(&mut self, permit: PermitM, id: u64) -> SendOut {
        let out = self.permit_send_ring(permit, id);
        if out != SendOut::Queued {
            self.give_back();
        }
        out
    }

    fn permit_send_ring(&mut self, permit: PermitM, id: u64) -> SendOut {
        self.permits_out -= 1;
        match permit {
            PermitM::Ring { room } => {
                if room {
                    self.room_permits -= 1;
                }
                if self.aborted {
                    return SendOut::Closed(id);
                }
                if self.queue.len() == self.cap {
                    assert!(!room, "model: a permit's room");
                    return self.evict(id);
                }
                self.push(id);
                SendOut::Queued
            }
            PermitM::Zero => {
                if self.aborted {
                    return SendOut::Closed(id);
                }
                // In transit, for any receiver (also after a close).
                self.transit.push_back(id);
                self.z_note_last_permit();
                SendOut::Queued
            }
        }
    }

    /// A permit dropped unused (its credit given back).
    fn permit_drop(&mut self, permit: PermitM) {
        self.give_back();
        self.permits_out -= 1;
        match permit {
            PermitM::Ring { room } => {
                if room {
                    self.room_permits -= 1;
                }
            }
            // The receiver it spoke for is free again (`z_claims`).
            PermitM::Zero => self.z_note_last_permit(),
        }
    }

    fn z_note_last_permit(&mut self) {
        if self.closed && !self.aborted && self.permits_out == 0 {
            self.z_last_permit_after_close = true;
        }
    }

    // --- futures, uniformly ---

    /// Whether kept future `f` would complete if polled now.
    fn can_complete(&self, f: &FutM) -> bool {
        let mut m = self.clone();
        match f.kind {
            FutKind::Send { id } => m.poll_send_fut(f.fid, id).is_some(),
            FutKind::Recv => m.poll_recv_fut(f.fid).is_some(),
            FutKind::Reserve => m.poll_reserve_fut(f.fid).is_some(),
            FutKind::Closed => m.closed,
            FutKind::WChunk { max } => m.poll_wchunk_fut(f.fid, max).is_some(),
            FutKind::RChunk { max } => m.poll_rchunk_fut(max).is_some(),
        }
    }

    /// The wait line a kept future stands in, for the lost wake-up check: futures woken by
    /// the same notifications share one.
    fn line(&self, f: &FutM) -> Line {
        if self.at_gate(f) {
            return Line::Credit;
        }
        match (f.kind, self.zero()) {
            (FutKind::Closed, _) => Line::Closed(f.fid),
            (FutKind::Recv | FutKind::RChunk { .. }, _) => Line::Recv,
            (FutKind::Send { .. } | FutKind::Reserve | FutKind::WChunk { .. }, false) => Line::Room,
            (FutKind::WChunk { .. }, true) => unreachable!("SPSC has no rendezvous"),
            // A rendezvous offer is woken by the receiver that takes it.
            (FutKind::Send { .. }, true) => Line::Offer(f.fid),
            // Every waiting rendezvous reservation is woken when one could complete.
            (FutKind::Reserve, true) => Line::Reserve(f.fid),
        }
    }

    // --- chunks (SPSC, the plain ring) ---

    /// Units of room free for a send, a reservation or a write chunk.
    fn room(&self) -> usize {
        self.cap - self.queue.len() - self.room_permits
    }

    /// `try_write_chunk(max)`: through the gate (up to `max` credits, at least one; none:
    /// `Full`, or `Closed` once closed), then up to as many slots as credits (or `max`);
    /// the credits not held are given back. The chunk counts as one permit holding its room.
    fn chunk_hold(&mut self, max: usize) -> Result<usize, ChunkError> {
        if self.policy == Policy::DropOldest {
            return Err(ChunkError::DropOldest);
        }
        let max = max.max(1);
        let want = match &mut self.gate {
            None => max,
            Some(g) if g.avail == 0 => {
                return Err(if self.closed {
                    ChunkError::Closed
                } else {
                    ChunkError::Full
                });
            }
            Some(g) => {
                let k = max.min(g.avail);
                g.avail -= k;
                k
            }
        };
        let r = self.chunk_hold_ring(want);
        self.give_back_n(want - r.unwrap_or(0));
        r
    }

    /// A write chunk's slots, up to `want` (the ring alone).
    fn chunk_hold_ring(&mut self, want: usize) -> Result<usize, ChunkError> {
        if self.closed {
            return Err(ChunkError::Closed);
        }
        let held = want.min(self.room());
        if held == 0 {
            return Err(ChunkError::Full);
        }
        self.room_permits += held;
        self.permits_out += 1;
        Ok(held)
    }

    /// Whether `write_chunk` would wait.
    fn write_chunk_waits(&self) -> bool {
        self.clone().chunk_hold(1) == Err(ChunkError::Full)
    }

    /// A poll of write-chunk future `fid`: with a gate, one holding no credit takes up to
    /// `max` (none: it waits at the gate; closed: `Closed`) and holds them while it waits for
    /// room; then it holds as many slots as it can (at most its credits) and gives back the
    /// other credits. Waits taken at the gate are not counted in `credit_waits` (only sends
    /// and reservations are).
    fn poll_wchunk_fut(&mut self, fid: u32, max: usize) -> Option<Result<usize, ChunkError>> {
        if self.policy == Policy::DropOldest {
            return Some(Err(ChunkError::DropOldest));
        }
        let max = max.max(1);
        let want = match &mut self.gate {
            None => max,
            Some(g) => match g.chunk_held.iter().find(|(f, _)| *f == fid) {
                Some((_, n)) => *n,
                None if g.avail == 0 => {
                    return self.closed.then_some(Err(ChunkError::Closed));
                }
                None => {
                    let k = max.min(g.avail);
                    g.avail -= k;
                    g.chunk_held.push((fid, k));
                    k
                }
            },
        };
        let r = self.chunk_hold_ring(want);
        if r == Err(ChunkError::Full) {
            return None;
        }
        self.chunk_unhold(fid);
        self.give_back_n(want - r.unwrap_or(0));
        Some(r)
    }

    /// A write-chunk future dropped: it gives back the credits it holds.
    fn cancel_wchunk_fut(&mut self, fid: u32) {
        let n = self.chunk_unhold(fid);
        self.give_back_n(n);
    }

    /// A write chunk's commit (or drop): the permit and its room go; the values written are
    /// queued at once (the credits of the slots not written given back), or after an abort
    /// (or the consumer's drop) handed back (every credit given back).
    fn chunk_commit(&mut self, held: usize, written: &[u64]) -> Result<usize, Vec<u64>> {
        self.permits_out -= 1;
        self.room_permits -= held;
        if self.aborted {
            self.give_back_n(held);
            return Err(written.to_vec());
        }
        self.queue.extend(written.iter().copied());
        self.sent += written.len() as u64;
        self.ran |= !written.is_empty();
        if !skip_known("spsc-run-high-water") {
            self.note_peak();
        }
        self.give_back_n(held - written.len());
        if !written.is_empty() {
            self.batches_sent += 1;
        }
        Ok(written.len())
    }

    /// `try_read_chunk(max)`: how many values the chunk gets (the oldest, up to `max`, at
    /// least one), as `try_recv` decides between a value, `Empty` and `Closed` (after an
    /// abort the consumer discards what is queued); no value is taken yet.
    fn read_ready(&mut self, max: usize) -> Result<usize, ChunkError> {
        if self.policy == Policy::DropOldest {
            return Err(ChunkError::DropOldest);
        }
        if self.aborted {
            self.discard_queue();
            return Err(ChunkError::Closed);
        }
        if !self.queue.is_empty() {
            return Ok(self.queue.len().min(max.max(1)));
        }
        if self.closed_and_done() {
            Err(ChunkError::Closed)
        } else {
            Err(ChunkError::Empty)
        }
    }

    fn poll_rchunk_fut(&mut self, max: usize) -> Option<Result<usize, ChunkError>> {
        match self.read_ready(max) {
            Err(ChunkError::Empty) => None,
            r => Some(r),
        }
    }

    /// A read chunk released (or dropped) having taken or consumed the first `taken` values:
    /// their slots are free (received now).
    fn chunk_release(&mut self, taken: usize) {
        self.queue.drain(..taken);
        self.received += taken as u64;
        if taken > 0 {
            self.batches_received += 1;
        }
    }

    /// The ring slot of the `i`th queued value (positions count from 0; `head` is what
    /// left the queue, `sent - len`).
    fn slot_of(&self, i: usize) -> usize {
        let head = self.sent - self.queue.len() as u64;
        ((head + i as u64) % self.cap as u64) as usize
    }

    // --- closing ---

    fn close(&mut self) -> bool {
        let was = self.closed;
        self.closed = true;
        // The rendezvous wakes and drops its waiting reservations; offers stay until their
        // senders poll (and get their values back), values in transit are still received.
        self.reservers.clear();
        !was
    }

    /// `abort`; returns the count the call returns (`None`: deferred, SPSC).
    fn abort(&mut self, by: AbortBy) -> Option<usize> {
        self.close();
        self.aborted = true;
        if self.zero() {
            // Values in transit are discarded (counted as sent and discarded); permits fail.
            let dropped: Vec<u64> = self.transit.drain(..).collect();
            let n = dropped.len();
            self.sent += n as u64;
            self.discarded += n as u64;
            self.lib_drops.extend(dropped);
            return Some(n);
        }
        if self.spsc && by != AbortBy::Receiver {
            // The consumer discards at its next call (or its drop).
            return None;
        }
        Some(self.discard_queue())
    }

    fn drop_sender(&mut self) {
        self.senders -= 1;
        if self.senders == 0 {
            self.close();
        }
    }

    fn drop_receiver(&mut self) {
        self.receivers -= 1;
        if self.receivers == 0 {
            self.abort(AbortBy::Receiver);
        }
    }

    fn check_metrics(&mut self, m: &Metrics, what: &str) {
        let expect = (
            self.sent,
            self.received,
            self.dropped_newest,
            self.evicted_oldest,
            self.rejected,
            self.discarded,
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
            m.len,
            m.capacity,
        );
        assert_eq!(
            got, expect,
            "{what}: metrics (sent, received, dropped_newest, evicted_oldest, rejected, \
             discarded, len, capacity) differ from the model; got {m:?}"
        );
        assert_eq!(
            m.sent,
            m.received + m.evicted_oldest + m.discarded + m.len as u64,
            "{what}: quiescent identity broken: {m:?}"
        );
        assert_eq!(
            (m.batches_sent, m.batches_received),
            (self.batches_sent, self.batches_received),
            "{what}: metrics (batches_sent, batches_received) differ from the model; got {m:?}"
        );
        let (granted, avail, waits) = match &self.gate {
            Some(g) => (g.granted as u64, g.avail as u64, g.waits),
            None => (0, 0, 0),
        };
        assert_eq!(
            (
                m.credits_granted,
                m.credits_spent,
                m.credits_available,
                m.credit_waits
            ),
            (granted, granted.wrapping_sub(avail), avail, waits),
            "{what}: metrics (credits_granted, credits_spent, credits_available, credit_waits) \
             differ from the model; got {m:?}"
        );
        let hw = m.high_water;
        assert!(hw <= self.cap, "{what}: high_water {hw} > capacity: {m:?}");
        assert!(hw >= m.len, "{what}: high_water {hw} < len: {m:?}");
        assert!(
            hw >= self.high_water_seen,
            "{what}: high_water fell from {} to {hw}",
            self.high_water_seen
        );
        if skip_known("spsc-run-high-water") {
            // Steered: the model's peak leaves out chunk commits (as the library's mark
            // does); the snapshot notes `len`.
            self.peak = self.peak.max(m.len);
        }
        if self.ran && skip_known("spsc-run-high-water-bound") {
            // Steered: since a run was published, the mark may lie above the peak (the length
            // against a stale `head`); exact, it still must not lie below it.
            assert!(
                !self.exact || hw >= self.peak,
                "{what}: exact high_water {hw} below the peak of len {}",
                self.peak
            );
        } else if self.exact {
            assert_eq!(
                hw, self.peak,
                "{what}: exact high_water differs from the peak of len"
            );
        } else {
            assert!(
                hw <= self.peak,
                "{what}: sampled high_water {hw} above the peak of len {} (a lower bound)",
                self.peak
            );
        }
        self.high_water_seen = hw;
    }
}

// === the queue under test ===

enum Ends {
    Spsc {
        tx: Option<Producer<Item>>,
        rx: Option<Consumer<Item>>,
    },
    Mpmc {
        /// Shared with the futures and permits that borrow them: an end is dropped when
        /// its last `Rc` goes.
        txs: Vec<Rc<Sender<Item>>>,
        rxs: Vec<Rc<Receiver<Item>>>,
    },
}

/// Runs `$body` with `$t` bound to the chosen sender (`&mut Producer` or `&Sender`), giving
/// `Some(result)`, or `None` if no sender is in play.
macro_rules! with_tx {
    ($ends:expr, $i:expr, |$t:ident| $body:expr) => {
        match $ends {
            Ends::Spsc { tx: Some($t), .. } => Some($body),
            Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                let n = txs.len();
                let $t: &Sender<Item> = &txs[usize::from($i) % n];
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
                let $t: &Receiver<Item> = &rxs[usize::from($i) % n];
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
                let $t = &$closers[usize::from(i) % n];
                Some($body)
            }
            By::Closer(_) => None,
        }
    };
}

// === result conversion: values handed back are kept (to be dropped after the step) ===

fn kept(v: Item, keep: &mut Vec<Item>) -> u64 {
    let id = v.id;
    keep.push(v);
    id
}

fn try_send_out(r: Result<(), TrySendError<Item>>, keep: &mut Vec<Item>) -> SendOut {
    match r {
        Ok(()) => SendOut::Queued,
        Err(TrySendError::Full(v)) => SendOut::Full(kept(v, keep)),
        Err(TrySendError::Closed(v)) => SendOut::Closed(kept(v, keep)),
    }
}

fn sent_out(s: Sent<Item>, keep: &mut Vec<Item>) -> SendOut {
    match s {
        Sent::Queued => SendOut::Queued,
        Sent::DroppedNewest => SendOut::DroppedNewest,
        Sent::Evicted(v) => SendOut::Evicted(kept(v, keep)),
    }
}

fn send_out(r: Result<Sent<Item>, SendError<Item>>, keep: &mut Vec<Item>) -> SendOut {
    match r {
        Ok(s) => sent_out(s, keep),
        Err(SendError::Closed(v)) => SendOut::Closed(kept(v, keep)),
        Err(SendError::Overloaded(v)) => SendOut::Overloaded(kept(v, keep)),
    }
}

fn send_timeout_out(
    r: Result<Sent<Item>, SendTimeoutError<Item>>,
    keep: &mut Vec<Item>,
) -> SendOut {
    match r {
        Ok(s) => sent_out(s, keep),
        Err(SendTimeoutError::Timeout(v)) => SendOut::Timeout(kept(v, keep)),
        Err(SendTimeoutError::Closed(v)) => SendOut::Closed(kept(v, keep)),
        Err(SendTimeoutError::Overloaded(v)) => SendOut::Overloaded(kept(v, keep)),
    }
}

fn try_recv_out(r: Result<Item, TryRecvError>, keep: &mut Vec<Item>) -> RecvOut {
    match r {
        Ok(v) => RecvOut::Item(kept(v, keep)),
        Err(TryRecvError::Empty) => RecvOut::Empty,
        Err(TryRecvError::Closed) => RecvOut::Closed,
    }
}

fn recv_out(r: Result<Item, RecvError>, keep: &mut Vec<Item>) -> RecvOut {
    match r {
        Ok(v) => RecvOut::Item(kept(v, keep)),
        Err(RecvError) => RecvOut::Closed,
    }
}

fn recv_timeout_out(r: Result<Item, RecvTimeoutError>, keep: &mut Vec<Item>) -> RecvOut {
    match r {
        Ok(v) => RecvOut::Item(kept(v, keep)),
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

/// What `try_send_batch` of `want` does, per the model: each value as the policy-governed
/// send that does not wait, until one stops the batch (it and the rest stay with the
/// caller). `(sent, dropped, evicted, stopped, left)`.
fn model_send_batch(
    model: &mut Model,
    want: &[u64],
) -> (usize, usize, Vec<u64>, Option<BatchStop>, Vec<u64>) {
    let (mut sent, mut dropped, mut evicted) = (0, 0, Vec::new());
    for (j, &id) in want.iter().enumerate() {
        let stop = if model.send_waits() {
            BatchStop::Full
        } else {
            match model.send(id, SendKind::Policy) {
                Some(SendOut::Queued) => {
                    sent += 1;
                    continue;
                }
                Some(SendOut::Evicted(old)) => {
                    sent += 1;
                    evicted.push(old);
                    continue;
                }
                Some(SendOut::DroppedNewest) => {
                    dropped += 1;
                    continue;
                }
                Some(SendOut::Overloaded(_)) => BatchStop::Overloaded,
                Some(SendOut::Closed(_)) => BatchStop::Closed,
                other => panic!("model: a policy send gave {other:?}"),
            }
        };
        return (sent, dropped, evicted, Some(stop), want[j..].to_vec());
    }
    (sent, dropped, evicted, None, Vec::new())
}

/// What `try_recv_batch(max)` gives, per the model: the values a run of `try_recv`s takes,
/// up to `max`. The SPSC ring (but not its drop-oldest one) takes what it sees in one step
/// and does not look again once it has taken some; the other queues receive one value at a
/// time until none is left.
fn model_recv_batch(model: &mut Model, max: usize) -> (Result<usize, TryRecvError>, Vec<u64>) {
    if max == 0 {
        return (Ok(0), Vec::new());
    }
    let one_step = model.spsc && model.policy != Policy::DropOldest;
    let mut out = Vec::new();
    let mut end = RecvOut::Empty;
    while out.len() < max {
        if one_step && !out.is_empty() && model.len() == 0 {
            break;
        }
        match model.try_recv() {
            RecvOut::Item(id) => out.push(id),
            other => {
                end = other;
                break;
            }
        }
    }
    if out.is_empty() {
        let e = match end {
            RecvOut::Closed => TryRecvError::Closed,
            _ => TryRecvError::Empty,
        };
        (Err(e), out)
    } else {
        (Ok(out.len()), out)
    }
}

// === chunks ===

/// Writes `n` new values into a write chunk of `held` slots that holds `written` (ids), as
/// `fill` says, checking each step: a push past its capacity hands the value back, and
/// `fill_from_iter` writes what fits and pulls nothing more.
#[allow(clippy::too_many_arguments)]
fn write_values(
    model: &mut Model,
    chunk: &mut WriteChunk<'static, Item>,
    held: usize,
    written: &mut Vec<u64>,
    n: usize,
    fill: Fill,
    keep: &mut Vec<Item>,
    label: &str,
) {
    let pushed = match fill {
        Fill::Push => n,
        Fill::Iter => 0,
        Fill::Both => n / 2,
    };
    for _ in 0..pushed {
        let v = model.item();
        let id = v.id;
        match chunk.push(v) {
            Ok(()) => {
                assert!(written.len() < held, "{label}: pushed into a full chunk");
                written.push(id);
            }
            Err(v) => {
                assert_eq!(
                    written.len(),
                    held,
                    "{label}: push refused by a chunk with room"
                );
                assert_eq!(v.id, id, "{label}: push handed back another value");
                keep.push(v);
            }
        }
    }
    let rest = n - pushed;
    if fill != Fill::Push {
        let first = model.next_id;
        let want = rest.min(held - written.len());
        let got = chunk.fill_from_iter((0..rest).map(|_| model.item()));
        let pulled = model.next_id - first;
        assert_eq!(got, want, "{label}: fill_from_iter's count");
        assert_eq!(
            pulled, got as u64,
            "{label}: fill_from_iter pulled a value it did not write"
        );
        written.extend(first..first + pulled);
    }
    assert_eq!(chunk.len(), written.len(), "{label}: write chunk's len");
    assert_eq!(chunk.capacity(), held, "{label}: write chunk's capacity");
    assert_eq!(
        chunk.is_empty(),
        written.is_empty(),
        "{label}: write chunk's is_empty"
    );
    assert_eq!(
        chunk.is_full(),
        written.len() == held,
        "{label}: write chunk's is_full"
    );
}

/// Checks a read chunk's views against the model: the chunk was made with `len` values, the
/// first `taken` of which are gone (the model's queue still holds them, in front).
fn check_read_views(
    model: &Model,
    chunk: &ReadChunk<'static, Item>,
    len: usize,
    taken: usize,
    label: &str,
) {
    let left = len - taken;
    let expect: Vec<u64> = model.queue.iter().skip(taken).take(left).copied().collect();
    assert_eq!(
        expect.len(),
        left,
        "model: a read chunk's values are queued"
    );
    assert_eq!(chunk.len(), left, "{label}: read chunk's len");
    assert_eq!(
        chunk.is_empty(),
        left == 0,
        "{label}: read chunk's is_empty"
    );
    assert_eq!(
        chunk.size_hint(),
        (left, Some(left)),
        "{label}: read chunk's size_hint"
    );
    let seen: Vec<u64> = chunk.iter().map(|v| v.id).collect();
    assert_eq!(seen, expect, "{label}: read chunk's iter");
    for i in 0..=left {
        let got = chunk.get(i).map(|v| v.id);
        assert_eq!(
            got,
            expect.get(i).copied(),
            "{label}: read chunk's get({i})"
        );
    }
    let (a, b) = chunk.as_slices();
    let joined: Vec<u64> = a.iter().chain(b).map(|v| v.id).collect();
    assert_eq!(joined, expect, "{label}: read chunk's as_slices");
    if left > 0 {
        // The first slice runs from the first value's slot to the end of the buffer.
        let first = model.slot_of(taken);
        let a_len = left.min(model.cap - first);
        assert_eq!(
            (a.len(), b.len()),
            (a_len, left - a_len),
            "{label}: read chunk's as_slices split (first value in slot {first})"
        );
    }
}

/// Uses a read chunk made with `len` values, `taken` of them gone: `take` more moved out by
/// `next` (`None` once it is empty), then `consume(consume)`; its views checked before and
/// after.
#[allow(clippy::too_many_arguments)]
fn read_values(
    model: &mut Model,
    chunk: &mut ReadChunk<'static, Item>,
    len: usize,
    taken: &mut usize,
    take: usize,
    consume: usize,
    keep: &mut Vec<Item>,
    label: &str,
) {
    check_read_views(model, chunk, len, *taken, label);
    for _ in 0..take {
        let got = chunk.next();
        let expect = (*taken < len).then(|| model.queue[*taken]);
        assert_eq!(
            got.as_ref().map(|v| v.id),
            expect,
            "{label}: read chunk's next"
        );
        if let Some(v) = got {
            keep.push(v);
            *taken += 1;
        }
    }
    let n = chunk.consume(consume);
    let expect = consume.min(len - *taken);
    assert_eq!(n, expect, "{label}: read chunk's consume");
    // Dropped by the library.
    model
        .lib_drops
        .extend(model.queue.iter().skip(*taken).take(n).copied());
    *taken += n;
    check_read_views(model, chunk, len, *taken, label);
}

// === the run ===

/// With `PUSHPULL_FUZZ_SKIP_KNOWN` set, the target steers around bugs already found and
/// reported, so that a run can look for others meanwhile (`ci/fuzz.sh` sets it to its
/// `KNOWN_OPEN`). Unset, it is strict: the model says what the contracts say. The value
/// names the bugs to avoid, comma-separated (`all` for every one); each has a kept input of
/// the same name in `fuzz/regressions/differential/`, which fails while its bug is open:
///
/// - `zero-closed-permit-send-wakeup`: rendezvous closed while a permit is outstanding and
///   three or more receive futures wait (they polled after the close, so its wake-up is
///   spent). The last permit's send puts its value in transit and wakes the first receiver
///   not yet woken plus one backup (`ZeroQueue::send_reserved` calls `Lines::send`, i.e.
///   `wake_one`), though once that value is taken every other receiver can report `Closed`:
///   the others are never woken (a blocked `recv()` hangs until something else touches the
///   queue). The ring's equivalent (`closed-permit-send-wakeup`) is fixed: there the last
///   permit sent on a closed ring wakes every receiver.
/// - `zero-closed-permit-drop-wakeup`: the same when the last permit is dropped unused while
///   a value of another permit is still in transit: `ZeroQueue::release_reserved` wakes every
///   receiver only if `drained()`, which needs transit empty; so only the two woken for that
///   value hear of it, and the rest never hear `Closed`.
/// - `zero-dropped-receiver-offer-wakeup`: rendezvous, a send future waits with its offer
///   while permits speak for every waiting receiver (no value in transit). The offer wakes
///   the first waiting receive future and a backup; both are dropped (a `select!`), and
///   `ZeroQueue::cancel_recv` passes a woken receiver's wake-up on only while a value is in
///   transit (`r.woken && !lines.transit.is_empty()`), not for an offer. A third receive
///   future, which would take the offer at its next poll, is never woken, and the sender waits
///   with it. (The cancel contract: a receive future woken for a value and dropped before it
///   took one passes the wake-up on.)
///
/// Steered, these three: the lost wake-up check does not count offers as values a
/// rendezvous receive could take, nor `Closed` once the last permit has gone after a close
/// (`Model::z_recv_steered`).
///
/// Fixed, with their kept inputs still checking the fix: `drop-oldest-permit-count`,
/// `zero-closed-with-permit`, `zero-reserver-wakeup`, `closed-permit-send-wakeup`,
/// `spsc-reserve-high-water`, and (fixed by 266f7ff, found by the chunk operations)
/// `spsc-run-high-water`: with `Builder::exact_high_water`, a write chunk's commit (and the
/// run of an SPSC batch send, the same `chunk_commit`) noted nothing in the mark (only
/// `push`'s refresh and a snapshot did); received before a snapshot, the values left the
/// exact mark below the peak by up to the run's length: a write-chunk future woken by a
/// grant commits 3 values in an executor's turn, a receive future woken by the commit takes
/// one, and the mark said 2 for a peak of 3. Its steer (still there) leaves chunk commits out
/// of the model's peak, and lets a snapshot raise it to `len`. Then `spsc-run-high-water-bound`
/// (fixed by 51fabb7): the first fix noted `tail - cached_head`, the producer's stale view of
/// the length (an upper bound; `push` re-reads `head` in `refresh` before noting): exact, a
/// chunk of one, received, then another left a mark of 2 for a peak of 1; sampled
/// (`-sampled`), four such chunks on a queue of 4 a mark of 4. Its steer (still there): once
/// a run was published (`Model::ran`), the mark is not checked against the peak from above
/// (exact: still not below it).
fn skip_known(bug: &str) -> bool {
    static SKIP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let skip = SKIP.get_or_init(|| std::env::var("PUSHPULL_FUZZ_SKIP_KNOWN").unwrap_or_default());
    skip.split(',')
        .any(|s| s.trim() == bug || s.trim() == "all")
}

/// With `PUSHPULL_FUZZ_TRACE` set, every step is printed with the model's state (for reading
/// a kept input: `PUSHPULL_FUZZ_TRACE=1 cargo +nightly fuzz run differential FILE`).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("PUSHPULL_FUZZ_TRACE").is_some())
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

impl Counter {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A deadline the input makes due (`FutFire`).
struct Gate(Rc<Cell<bool>>);

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// What a kept future or permit borrows. The borrow is made `'static` by hand, so the
/// handle must outlive the borrower, which [`Run::unlend`] (after the borrower is gone)
/// sees to.
enum Lend {
    /// One more `Rc` of an MPMC end; the end stays in play.
    Tx(Rc<Sender<Item>>),
    Rx(Rc<Receiver<Item>>),
    /// An SPSC end, boxed, out of play until the borrower goes.
    Producer(*mut Producer<Item>),
    Consumer(*mut Consumer<Item>),
    /// A closer of its own (for `closed()`).
    Closer(Box<Closer>),
}

impl Lend {
    fn sender(&self) -> &'static Sender<Item> {
        match self {
            // SAFETY: the sender lives as long as this `Rc`, which outlives the borrower.
            Lend::Tx(rc) => unsafe { &*Rc::as_ptr(rc) },
            _ => unreachable!("not an MPMC sender"),
        }
    }

    fn receiver(&self) -> &'static Receiver<Item> {
        match self {
            // SAFETY: as in `sender`.
            Lend::Rx(rc) => unsafe { &*Rc::as_ptr(rc) },
            _ => unreachable!("not an MPMC receiver"),
        }
    }

    /// Made once per lend: the one borrower is the only user of the end.
    fn producer(&self) -> &'static mut Producer<Item> {
        match self {
            // SAFETY: the box (from `Box::into_raw`) is reclaimed only after the borrower
            // is gone, and nothing else touches the producer meanwhile.
            Lend::Producer(p) => unsafe { &mut **p },
            _ => unreachable!("not the producer"),
        }
    }

    fn consumer(&self) -> &'static mut Consumer<Item> {
        match self {
            // SAFETY: as in `producer`.
            Lend::Consumer(c) => unsafe { &mut **c },
            _ => unreachable!("not the consumer"),
        }
    }

    fn closed(&self) -> ClosedFuture<'static> {
        match self {
            Lend::Tx(_) => self.sender().closed(),
            Lend::Rx(_) => self.receiver().closed(),
            Lend::Producer(_) => self.producer().closed(),
            Lend::Consumer(_) => self.consumer().closed(),
            // SAFETY: the box outlives the future (as for the other ends).
            Lend::Closer(c) => unsafe { &*(&**c as *const Closer) }.closed(),
        }
    }
}

/// A permit of either flavor.
enum AnyPermit {
    M(Permit<'static, Item>),
    S(Permit<'static, Item, flavor::Spsc>),
}

impl AnyPermit {
    fn send(self, v: Item) -> Result<Sent<Item>, SendError<Item>> {
        match self {
            AnyPermit::M(p) => p.send(v),
            AnyPermit::S(p) => p.send(v),
        }
    }

    fn leak(self) {
        match self {
            AnyPermit::M(p) => std::mem::forget(p),
            AnyPermit::S(p) => std::mem::forget(p),
        }
    }
}

fn res_err(e: TrySendError<()>) -> ResOut {
    match e {
        TrySendError::Full(()) => ResOut::Full,
        TrySendError::Closed(()) => ResOut::Closed,
    }
}

fn res_timeout_err(e: SendTimeoutError<()>) -> ResOut {
    match e {
        SendTimeoutError::Timeout(()) => ResOut::Full,
        SendTimeoutError::Closed(()) => ResOut::Closed,
        SendTimeoutError::Overloaded(()) => panic!("a reservation overloaded"),
    }
}

/// A reservation through the lent sender.
fn reserve_via(lend: &Lend, how: How) -> Result<AnyPermit, ResOut> {
    macro_rules! call {
        ($t:expr, $wrap:path) => {
            match how {
                How::Try => $t.try_reserve().map($wrap).map_err(res_err),
                How::Blocking => $t.reserve().map($wrap).map_err(|e| match e {
                    SendError::Closed(()) => ResOut::Closed,
                    SendError::Overloaded(()) => panic!("reserve overloaded"),
                }),
                How::Timeout => $t
                    .reserve_timeout(Duration::ZERO)
                    .map($wrap)
                    .map_err(res_timeout_err),
                How::Deadline => $t
                    .reserve_deadline(Instant::now())
                    .map($wrap)
                    .map_err(res_timeout_err),
            }
        };
    }
    match lend {
        Lend::Tx(_) => call!(lend.sender(), AnyPermit::M),
        Lend::Producer(_) => call!(lend.producer(), AnyPermit::S),
        _ => unreachable!("not a sender"),
    }
}

/// The send futures, seen alike.
trait SendF {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<SendOut>;
    fn give_back(self: Box<Self>) -> Option<Item>;
}

impl<F: FlavorT> SendF for SendFuture<'static, Item, F> {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<SendOut> {
        Pin::new(self).poll(cx).map(|r| send_out(r, keep))
    }
    fn give_back(self: Box<Self>) -> Option<Item> {
        (*self).into_inner()
    }
}

impl<F: FlavorT> SendF for SendDeadline<'static, Item, Gate, F> {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<SendOut> {
        Pin::new(self).poll(cx).map(|r| send_timeout_out(r, keep))
    }
    fn give_back(self: Box<Self>) -> Option<Item> {
        (*self).into_inner()
    }
}

/// The receive futures, seen alike.
trait RecvF {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<RecvOut>;
}

impl<F: FlavorT> RecvF for RecvFuture<'static, Item, F> {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<RecvOut> {
        Pin::new(self).poll(cx).map(|r| recv_out(r, keep))
    }
}

impl<F: FlavorT> RecvF for RecvDeadline<'static, Item, Gate, F> {
    fn poll_out(&mut self, cx: &mut Context<'_>, keep: &mut Vec<Item>) -> Poll<RecvOut> {
        Pin::new(self).poll(cx).map(|r| recv_timeout_out(r, keep))
    }
}

/// The reservation futures of both flavors.
trait ReserveF {
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<AnyPermit, SendError<()>>>;
}

impl ReserveF for ReserveFuture<'static, Item, flavor::Mpmc> {
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<AnyPermit, SendError<()>>> {
        Pin::new(self).poll(cx).map(|r| r.map(AnyPermit::M))
    }
}

impl ReserveF for ReserveFuture<'static, Item, flavor::Spsc> {
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<AnyPermit, SendError<()>>> {
        Pin::new(self).poll(cx).map(|r| r.map(AnyPermit::S))
    }
}

enum Fut {
    Send(Box<dyn SendF>),
    Recv(Box<dyn RecvF>),
    Reserve(Box<dyn ReserveF>, Use),
    Closed(ClosedFuture<'static>),
    WChunk(WriteChunkFuture<'static, Item>, WPlan),
    RChunk(ReadChunkFuture<'static, Item>, RPlan),
}

/// What a write chunk gets once made: `n` values, written as `fill` says, then `end`.
#[derive(Debug, Clone, Copy)]
struct WPlan {
    n: usize,
    fill: Fill,
    end: End,
}

/// What a read chunk does once made: `take` values moved out, `consume` dropped, then `end`.
#[derive(Debug, Clone, Copy)]
struct RPlan {
    take: usize,
    consume: usize,
    end: End,
}

/// A kept write chunk, the producer it borrows, the slots it holds and the values written.
struct KeptW {
    chunk: Option<WriteChunk<'static, Item>>,
    lend: Option<Lend>,
    held: usize,
    written: Vec<u64>,
}

/// A kept read chunk, the consumer it borrows, its length when made and the values taken or
/// consumed (the first `taken` of the model's queue).
struct KeptR {
    chunk: Option<ReadChunk<'static, Item>>,
    lend: Option<Lend>,
    len: usize,
    taken: usize,
}

/// A kept future: the future, the end it borrows, its deadline and its waker.
struct Pending {
    fut: Option<Fut>,
    lend: Option<Lend>,
    gate: Rc<Cell<bool>>,
    counter: Arc<Counter>,
    waker: Waker,
    /// The wake-up count at its last poll.
    seen: usize,
    m: FutM,
}

impl Pending {
    fn woken(&self) -> bool {
        self.counter.get() != self.seen
    }
}

/// A kept permit and the end it borrows.
struct Held {
    permit: Option<AnyPermit>,
    lend: Option<Lend>,
    m: PermitM,
}

/// Drops one `Rc` of an MPMC sender: the sender itself when it is the last.
fn release_tx(model: &mut Model, rc: Rc<Sender<Item>>) {
    if let Some(tx) = Rc::into_inner(rc) {
        drop(tx);
        model.drop_sender();
    }
}

/// As `release_tx`, for receivers.
fn release_rx(model: &mut Model, rc: Rc<Receiver<Item>>) {
    if let Some(rx) = Rc::into_inner(rc) {
        drop(rx);
        model.drop_receiver();
    }
}

/// What a poll of a kept future came to.
enum Polled {
    Pending,
    Done,
    /// A reservation completed: the permit, its model, and what becomes of it.
    Permit(AnyPermit, PermitM, Use),
    /// A write-chunk future completed: the chunk, its slots, and what it gets.
    WChunk(WriteChunk<'static, Item>, usize, WPlan),
    /// A read-chunk future completed: the chunk, its length, and what it does.
    RChunk(ReadChunk<'static, Item>, usize, RPlan),
}

struct Run {
    model: Model,
    ends: Ends,
    closers: Vec<Closer>,
    /// Kept aside to read `len` and `metrics` after every step (a closer is not an end).
    observer: Option<Closer>,
    /// Permits kept across operations, oldest first.
    permits: Vec<Held>,
    /// Pending futures kept across operations, oldest first.
    futs: Vec<Pending>,
    /// A write chunk kept across operations (it borrows the producer: at most one).
    wchunk: Option<KeptW>,
    /// A read chunk kept across operations (it borrows the consumer: at most one).
    rchunk: Option<KeptR>,
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
        if trace() {
            let m = &self.model;
            eprintln!(
                "step {} {what:?}: library dropped {lib:?}, handed back {:?}; len {} closed {} \
                 aborted {} permits {}/{} room; kept futures {:?}{}{}",
                self.step,
                ids(&keep),
                m.len(),
                m.closed,
                m.aborted,
                m.permits_out,
                m.room_permits,
                self.futs
                    .iter()
                    .map(|f| (f.m.fid, f.m.kind, if f.woken() { "woken" } else { "-" }))
                    .collect::<Vec<_>>(),
                if m.zero() {
                    format!(
                        "; receivers {:?} offers {:?} transit {:?} reservers {:?} taken {:?}",
                        m.zrecv, m.offers, m.transit, m.reservers, m.taken
                    )
                } else {
                    format!("; queue {:?}", m.queue)
                },
                match &m.gate {
                    Some(g) => format!(
                        "; credits {} (granted {}), held by {:?} and chunk futures {:?}, waits {}",
                        g.avail, g.granted, g.holders, g.chunk_held, g.waits
                    ),
                    None => String::new(),
                },
            );
            if let Some(w) = &self.wchunk {
                eprintln!(
                    "    write chunk kept: {} slots, wrote {:?}",
                    w.held, w.written
                );
            }
            if let Some(r) = &self.rchunk {
                eprintln!("    read chunk kept: {} values, {} taken", r.len, r.taken);
            }
        }
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

    fn check_state(&mut self, what: &dyn std::fmt::Debug) {
        let label = format!("step {} {what:?}", self.step);
        if let Some(obs) = &self.observer {
            assert_eq!(obs.len(), self.model.len(), "{label}: len");
            assert_eq!(obs.is_empty(), self.model.len() == 0, "{label}: is_empty");
            assert_eq!(obs.is_closed(), self.model.closed, "{label}: is_closed");
            assert_eq!(obs.capacity(), self.model.cap, "{label}: capacity");
            let m = obs.metrics();
            self.model.check_metrics(&m, &label);
        }
        let credits = self.model.credits();
        match &self.ends {
            Ends::Spsc { tx, rx } => {
                if let Some(t) = tx {
                    assert_eq!(t.credits(), credits, "{label}: producer's credits()");
                }
                if let Some(r) = rx {
                    assert_eq!(r.credits(), credits, "{label}: consumer's credits()");
                }
            }
            Ends::Mpmc { txs, rxs } => {
                for t in txs {
                    assert_eq!(t.credits(), credits, "{label}: sender's credits()");
                }
                for r in rxs {
                    assert_eq!(r.credits(), credits, "{label}: receiver's credits()");
                }
            }
        }
        // No lost wake-up: in each wait line, if a kept future could complete, one of the
        // line's futures was woken since its last poll.
        for f in &self.futs {
            if !self.model.can_complete(&f.m) {
                continue;
            }
            let line = self.model.line(&f.m);
            if line == Line::Credit {
                // Checked by count below.
                continue;
            }
            if line == Line::Recv && self.model.zero() && self.model.z_recv_steered() {
                continue;
            }
            let woken = self
                .futs
                .iter()
                .any(|g| self.model.line(&g.m) == line && g.woken());
            assert!(
                woken,
                "{label}: lost wake-up: kept future {:?} can complete, but no future of its \
                 line was woken since its last poll (kept: {:?})",
                f.m,
                self.futs
                    .iter()
                    .map(|g| (g.m, g.woken()))
                    .collect::<Vec<_>>()
            );
        }
        if self.model.zero() {
            self.check_zero_receivers(&label);
        }
        self.check_credit_line(&label);
    }

    /// The credit line: of the kept futures waiting at the gate (holding no credit), at
    /// least one per credit available was woken since its last poll, up to all of them; all
    /// of them once the queue is closed. (A grant of `n` wakes up to `n` parties in line, a
    /// credit given back one, the close all; a woken future dropped passes its wake-up on.
    /// An executor polls only woken futures, so a shortfall is a credit nobody comes for.)
    fn check_credit_line(&self, label: &str) {
        let m = &self.model;
        let Some(g) = &m.gate else { return };
        let waiting: Vec<&Pending> = self.futs.iter().filter(|f| m.at_gate(&f.m)).collect();
        let n = waiting.len();
        let need = if m.closed { n } else { g.avail.min(n) };
        let woken = waiting.iter().filter(|f| f.woken()).count();
        assert!(
            woken >= need,
            "{label}: lost wake-up: {} credit(s) available{}, {n} future(s) waiting for credit \
             of which {woken} woken since their last poll; {need} should be (kept: {:?})",
            g.avail,
            if m.closed { " (closed)" } else { "" },
            self.futs
                .iter()
                .map(|f| (f.m, f.woken()))
                .collect::<Vec<_>>()
        );
    }

    /// The rendezvous receive line, more closely: the kept receive futures are the waiting
    /// receivers, and one of them was woken (since its last poll) for each value a receive
    /// could take now, up to all of them; all of them once each would report `Closed` after
    /// the values in transit. (Each value in transit or offer wakes the first receiver not
    /// woken yet, plus the next as a backup for a future; a woken future dropped passes its
    /// wake-up on; a close, an abort and the last permit's drop after a close wake them all.
    /// An executor polls only woken futures, so a shortfall is a receiver left waiting with
    /// a value there for it, or a `Closed` nobody hears of.)
    fn check_zero_receivers(&self, label: &str) {
        let m = &self.model;
        let recv: Vec<&Pending> = self
            .futs
            .iter()
            .filter(|f| f.m.kind == FutKind::Recv)
            .collect();
        let mut kept: Vec<u32> = recv.iter().map(|f| f.m.fid).collect();
        let mut line: Vec<u32> = m.zrecv.iter().copied().collect();
        kept.sort_unstable();
        line.sort_unstable();
        assert_eq!(
            kept, line,
            "{label}: model: the kept receive futures are the line"
        );
        let n = recv.len();
        let need = if m.z_ending() && !m.z_closed_by_permit_steered() {
            n
        } else {
            m.z_available_steered().min(n)
        };
        let woken = recv.iter().filter(|f| f.woken()).count();
        assert!(
            woken >= need,
            "{label}: lost wake-up: {} value(s) in transit, {} offer(s){}, {} permit(s), {n} \
             receive future(s) waiting of which {woken} woken since their last poll; {need} \
             should be (kept: {:?})",
            m.transit.len(),
            m.offers.len(),
            if m.closed { " (closed)" } else { "" },
            m.z_claims(),
            self.futs
                .iter()
                .map(|g| (g.m, g.woken()))
                .collect::<Vec<_>>()
        );
    }

    fn apply(&mut self, op: Op) {
        let mark = drops_len();
        let mut keep: Vec<Item> = Vec::new();
        let label = format!("step {}: {op:?}", self.step);
        self.apply_op(op, &mut keep, &label);
        self.finish_step(mark, keep, &op);
    }

    fn apply_op(&mut self, op: Op, keep: &mut Vec<Item>, label: &str) {
        let model = &mut self.model;
        let ends = &mut self.ends;
        let closers = &mut self.closers;
        match op {
            Op::Send(i) => {
                if model.send_waits() {
                    return;
                }
                let r = with_tx!(ends, i, |t| {
                    let v = model.item();
                    let id = v.id;
                    let got = send_out(t.send(v), keep);
                    (got, model.send(id, SendKind::Policy))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(Some(got), expect, "{label}");
                }
            }
            Op::TrySend(i) => {
                let r = with_tx!(ends, i, |t| {
                    let v = model.item();
                    let id = v.id;
                    let got = try_send_out(t.try_send(v), keep);
                    (got, model.send(id, SendKind::Try))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(Some(got), expect, "{label}");
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
                    let got = send_timeout_out(r, keep);
                    // It waited (for an instant) if it found no credit and the policy waits.
                    if model.send_waits_for_credit() {
                        model.count_credit_wait(None);
                    }
                    (got, model.send(id, SendKind::Timeout))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(Some(got), expect, "{label}");
                }
            }
            Op::TrySendBatch(i, n) => {
                let n = usize::from(n % 6);
                let r = with_tx!(ends, i, |t| {
                    let mut values: Vec<Item> = (0..n).map(|_| model.item()).collect();
                    let want = ids(&values);
                    let done = t.try_send_batch(&mut values);
                    let got = (
                        done.sent,
                        done.dropped,
                        ids(&done.evicted),
                        done.stopped,
                        ids(&values),
                    );
                    keep.extend(done.evicted);
                    keep.extend(values);
                    (got, model_send_batch(model, &want))
                });
                if let Some((got, expect)) = r {
                    assert_eq!(got, expect, "{label}");
                    if expect.0 > 0 {
                        model.batches_sent += 1;
                        model.ran |= model.spsc;
                    }
                }
            }
            Op::TryRecvBatch(i, max) => {
                let max = usize::from(max % 6);
                let r = with_rx!(ends, i, |r| {
                    let mut buf = Vec::new();
                    let res = r.try_recv_batch(&mut buf, max);
                    (res, buf)
                });
                if let Some((res, items)) = r {
                    let got = (res, ids(&items));
                    keep.extend(items);
                    let expect = model_recv_batch(model, max);
                    if matches!(expect.0, Ok(n) if n > 0) {
                        model.batches_received += 1;
                    }
                    assert_eq!(got, expect, "{label}");
                }
            }
            Op::TryRecv(i) => {
                if let Some(got) = with_rx!(ends, i, |r| try_recv_out(r.try_recv(), keep)) {
                    assert_eq!(got, model.try_recv(), "{label}");
                }
            }
            Op::RecvTimeout(i, deadline) => {
                let got = with_rx!(ends, i, |r| {
                    let res = if deadline {
                        r.recv_deadline(Instant::now())
                    } else {
                        r.recv_timeout(Duration::ZERO)
                    };
                    recv_timeout_out(res, keep)
                });
                if let Some(got) = got {
                    let expect = match model.try_recv() {
                        RecvOut::Empty => RecvOut::Timeout,
                        other => other,
                    };
                    assert_eq!(got, expect, "{label}");
                }
            }
            Op::Recv(i) => {
                if model.peek_recv() == RecvOut::Empty {
                    return;
                }
                if let Some(got) = with_rx!(ends, i, |r| recv_out(r.recv(), keep)) {
                    assert_eq!(got, model.try_recv(), "{label}");
                }
            }
            Op::Drain(i) => {
                if let Some(items) = with_rx!(ends, i, |r| r.drain().collect::<Vec<_>>()) {
                    let len = model.len();
                    let expect = model_pops(model, len);
                    assert_eq!(ids(&items), expect, "{label}");
                    keep.extend(items);
                }
            }
            Op::TryIter(i, n) => {
                let n = usize::from(n % 10);
                if let Some(items) = with_rx!(ends, i, |r| r.try_iter().take(n).collect::<Vec<_>>())
                {
                    let expect = model_pops(model, n);
                    assert_eq!(ids(&items), expect, "{label}");
                    keep.extend(items);
                }
            }
            Op::IterClosed(i, by_value) => {
                // The iterators block: only when receiving ends at `Closed`.
                if !model.drains_to_closed() {
                    return;
                }
                let items: Option<(Vec<Item>, bool)> = if by_value {
                    // Consumes the handle: a receiver drop follows the iteration.
                    match ends {
                        Ends::Spsc { rx, .. } => rx.take().map(|r| (r.into_iter().collect(), true)),
                        Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                            let n = rxs.len();
                            let rc = rxs.swap_remove(usize::from(i) % n);
                            match Rc::try_unwrap(rc) {
                                Ok(r) => Some((r.into_iter().collect(), true)),
                                // A kept future borrows it: by reference instead.
                                Err(rc) => {
                                    let items = rc.iter().collect();
                                    rxs.push(rc);
                                    Some((items, false))
                                }
                            }
                        }
                        Ends::Mpmc { .. } => None,
                    }
                } else {
                    with_rx!(ends, i, |r| (r.iter().collect::<Vec<_>>(), false))
                };
                if let Some((items, consumed)) = items {
                    let expect = model_pops(model, usize::MAX);
                    if consumed {
                        model.drop_receiver();
                    }
                    assert_eq!(ids(&items), expect, "{label}");
                    keep.extend(items);
                }
            }
            Op::Close(by) => {
                if let Some(got) = with_any!(ends, closers, by, |h| h.close()) {
                    assert_eq!(got, model.close(), "{label}");
                }
            }
            Op::Abort(by) => {
                let got: Option<(Option<usize>, AbortBy)> = match (by, &mut *ends) {
                    (By::Rx(_), Ends::Spsc { rx: Some(r), .. }) => {
                        Some((Some(r.abort()), AbortBy::Receiver))
                    }
                    (By::Tx(_), Ends::Spsc { tx: Some(t), .. }) => {
                        // Deferred: returns nothing.
                        let () = t.abort();
                        Some((None, AbortBy::Sender))
                    }
                    (By::Tx(_) | By::Rx(_), Ends::Spsc { .. }) => None,
                    (By::Tx(i), Ends::Mpmc { txs, .. }) if !txs.is_empty() => {
                        let n = txs.len();
                        Some((Some(txs[usize::from(i) % n].abort()), AbortBy::Sender))
                    }
                    (By::Rx(i), Ends::Mpmc { rxs, .. }) if !rxs.is_empty() => {
                        let n = rxs.len();
                        Some((Some(rxs[usize::from(i) % n].abort()), AbortBy::Receiver))
                    }
                    (By::Tx(_) | By::Rx(_), Ends::Mpmc { .. }) => None,
                    (By::Closer(i), _) if !closers.is_empty() => {
                        let n = closers.len();
                        Some((closers[usize::from(i) % n].abort(), AbortBy::Closer))
                    }
                    (By::Closer(_), _) => None,
                };
                if let Some((got, by)) = got {
                    assert_eq!(got, model.abort(by), "{label}: abort's count");
                }
            }
            Op::Observe(by) => {
                let len = model.len();
                let (cap, policy, closed) = (model.cap, model.policy, model.closed);
                let _ = with_any!(ends, closers, by, |h| {
                    assert_eq!(h.len(), len, "{label}: len");
                    assert_eq!(h.is_empty(), len == 0, "{label}: is_empty");
                    assert_eq!(h.is_closed(), closed, "{label}: is_closed");
                    assert_eq!(h.capacity(), cap, "{label}: capacity");
                });
                let _ = with_tx!(ends, 0u8, |h| {
                    assert_eq!(h.is_full(), len == cap, "{label}: is_full");
                    assert_eq!(h.policy(), policy, "{label}: policy");
                });
                let _ = with_rx!(ends, 0u8, |h| {
                    assert_eq!(h.is_full(), len == cap, "{label}: is_full");
                    assert_eq!(h.policy(), policy, "{label}: policy");
                });
                match ends {
                    Ends::Mpmc { txs, rxs } => {
                        let counts = (model.senders, model.receivers);
                        for t in txs.iter() {
                            assert_eq!((t.sender_count(), t.receiver_count()), counts, "{label}");
                            assert!(t.same_queue(&txs[0]));
                        }
                        for r in rxs.iter() {
                            assert_eq!((r.sender_count(), r.receiver_count()), counts, "{label}");
                            assert!(r.same_queue(&rxs[0]));
                        }
                    }
                    Ends::Spsc {
                        tx: Some(t),
                        rx: Some(r),
                    } => {
                        assert!(t.same_queue(r) && r.same_queue(t), "{label}: same_queue");
                    }
                    Ends::Spsc { .. } => {}
                }
                if let Some(obs) = &self.observer {
                    for c in closers.iter() {
                        assert!(c.same_queue(obs), "{label}: closer same_queue");
                    }
                }
            }
            Op::Metrics(by) => {
                if let Some(m) = with_any!(ends, closers, by, |h| h.metrics()) {
                    model.check_metrics(&m, label);
                }
            }
            Op::Grant(i, n) => {
                let n = grant_amount(n);
                if with_rx!(ends, i, |r| r.grant(n)).is_some() {
                    model.grant(n);
                }
            }
            Op::CloneTx(i) => {
                if let Ends::Mpmc { txs, .. } = ends {
                    if !txs.is_empty() && txs.len() < 8 {
                        let t = Sender::clone(&txs[usize::from(i) % txs.len()]);
                        txs.push(Rc::new(t));
                        model.senders += 1;
                    }
                }
            }
            Op::CloneRx(i) => {
                if let Ends::Mpmc { rxs, .. } = ends {
                    if !rxs.is_empty() && rxs.len() < 8 {
                        let r = Receiver::clone(&rxs[usize::from(i) % rxs.len()]);
                        rxs.push(Rc::new(r));
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
                    // A sender a kept future or permit borrows stays alive until it goes.
                    release_tx(model, txs.swap_remove(usize::from(i) % n));
                }
                Ends::Mpmc { .. } => {}
            },
            Op::DropRx(i) => match ends {
                Ends::Spsc { rx, .. } => {
                    if rx.take().map(drop).is_some() {
                        model.drop_receiver();
                    }
                }
                Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                    let n = rxs.len();
                    release_rx(model, rxs.swap_remove(usize::from(i) % n));
                }
                Ends::Mpmc { .. } => {}
            },
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
            Op::Reserve(i, how, use_) => self.reserve(i, how, use_, keep, label),
            Op::PermitSend(k) | Op::PermitDrop(k) | Op::PermitLeak(k) => {
                if self.permits.is_empty() {
                    return;
                }
                let k = usize::from(k) % self.permits.len();
                let use_ = match op {
                    Op::PermitSend(_) => Use::Send,
                    Op::PermitDrop(_) => Use::Drop,
                    _ => Use::Leak,
                };
                self.resolve_permit(k, use_, keep, label);
            }
            Op::SendAsync(i, deadline) => self.send_async(i, deadline, keep, label),
            Op::RecvAsync(i, deadline) => self.recv_async(i, deadline, keep, label),
            Op::ReserveAsync(i, use_) => {
                let Some(lend) = self.lend_tx(i) else { return };
                let fut: Box<dyn ReserveF> = match &lend {
                    Lend::Tx(_) => Box::new(lend.sender().reserve_async()),
                    Lend::Producer(_) => Box::new(lend.producer().reserve_async()),
                    _ => unreachable!(),
                };
                let fid = self.model.fid();
                let m = FutM {
                    fid,
                    kind: FutKind::Reserve,
                    deadline: false,
                };
                self.start(Fut::Reserve(fut, use_), lend, false, m, keep, label);
            }
            Op::ClosedAsync(by) => {
                let Some(lend) = self.lend_by(by) else { return };
                let fut = lend.closed();
                let fid = self.model.fid();
                let m = FutM {
                    fid,
                    kind: FutKind::Closed,
                    deadline: false,
                };
                self.start(Fut::Closed(fut), lend, false, m, keep, label);
            }
            Op::FutPoll(k) | Op::FutFire(k) => {
                if self.futs.is_empty() {
                    return;
                }
                let k = usize::from(k) % self.futs.len();
                let mut p = self.futs.remove(k);
                if matches!(op, Op::FutFire(_)) {
                    p.gate.set(true);
                }
                match self.poll_kept(&mut p, keep, label) {
                    Polled::Pending => self.futs.insert(k, p),
                    polled => self.retire(p, polled, keep, label),
                }
            }
            Op::FutPollWoken => {
                let mut k = 0;
                while k < self.futs.len() {
                    if !self.futs[k].woken() {
                        k += 1;
                        continue;
                    }
                    let mut p = self.futs.remove(k);
                    match self.poll_kept(&mut p, keep, label) {
                        Polled::Pending => {
                            self.futs.insert(k, p);
                            k += 1;
                        }
                        polled => self.retire(p, polled, keep, label),
                    }
                }
            }
            Op::WriteChunk(max, n, fill, end, via) => {
                let plan = WPlan {
                    n: usize::from(n % 10),
                    fill,
                    end,
                };
                self.write_chunk(usize::from(max % 10), plan, via, keep, label);
            }
            Op::ChunkWrite(n, fill) => {
                if let Some(mut w) = self.wchunk.take() {
                    let chunk = w.chunk.as_mut().expect("a kept chunk");
                    write_values(
                        &mut self.model,
                        chunk,
                        w.held,
                        &mut w.written,
                        usize::from(n % 10),
                        fill,
                        keep,
                        label,
                    );
                    self.wchunk = Some(w);
                }
            }
            Op::ChunkCommit(drop) => {
                if self.wchunk.is_some() {
                    self.end_wchunk(drop, keep, label);
                }
            }
            Op::ReadChunk(max, take, consume, end, via) => {
                let plan = RPlan {
                    take: usize::from(take % 10),
                    consume: usize::from(consume % 10),
                    end,
                };
                self.read_chunk(usize::from(max % 10), plan, via, keep, label);
            }
            Op::ChunkRead(take, consume) => {
                if let Some(mut r) = self.rchunk.take() {
                    let chunk = r.chunk.as_mut().expect("a kept chunk");
                    read_values(
                        &mut self.model,
                        chunk,
                        r.len,
                        &mut r.taken,
                        usize::from(take % 10),
                        usize::from(consume % 10),
                        keep,
                        label,
                    );
                    self.rchunk = Some(r);
                }
            }
            Op::ChunkRelease(drop) => {
                if self.rchunk.is_some() {
                    self.end_rchunk(drop, label);
                }
            }
            Op::FutDrop(k) | Op::FutIntoInner(k) => {
                if self.futs.is_empty() {
                    return;
                }
                let k = usize::from(k) % self.futs.len();
                let p = self.futs.remove(k);
                self.cancel(p, matches!(op, Op::FutIntoInner(_)), keep, label);
            }
        }
    }

    /// Lends sender `i` to a future or permit that may be kept.
    fn lend_tx(&mut self, i: u8) -> Option<Lend> {
        match &mut self.ends {
            Ends::Spsc { tx, .. } => tx
                .take()
                .map(|p| Lend::Producer(Box::into_raw(Box::new(p)))),
            Ends::Mpmc { txs, .. } if !txs.is_empty() => {
                let n = txs.len();
                Some(Lend::Tx(txs[usize::from(i) % n].clone()))
            }
            Ends::Mpmc { .. } => None,
        }
    }

    fn lend_rx(&mut self, i: u8) -> Option<Lend> {
        match &mut self.ends {
            Ends::Spsc { rx, .. } => rx
                .take()
                .map(|c| Lend::Consumer(Box::into_raw(Box::new(c)))),
            Ends::Mpmc { rxs, .. } if !rxs.is_empty() => {
                let n = rxs.len();
                Some(Lend::Rx(rxs[usize::from(i) % n].clone()))
            }
            Ends::Mpmc { .. } => None,
        }
    }

    fn lend_by(&mut self, by: By) -> Option<Lend> {
        match by {
            By::Tx(i) => self.lend_tx(i),
            By::Rx(i) => self.lend_rx(i),
            By::Closer(i) if !self.closers.is_empty() => {
                let n = self.closers.len();
                Some(Lend::Closer(Box::new(
                    self.closers[usize::from(i) % n].clone(),
                )))
            }
            By::Closer(_) => None,
        }
    }

    /// Takes back a lent end, once its borrower is gone.
    fn unlend(&mut self, lend: Lend) {
        match (lend, &mut self.ends) {
            (Lend::Tx(rc), _) => release_tx(&mut self.model, rc),
            (Lend::Rx(rc), _) => release_rx(&mut self.model, rc),
            (Lend::Producer(p), Ends::Spsc { tx, .. }) => {
                // SAFETY: from `Box::into_raw` in `lend_tx`; its borrower is gone.
                let p = unsafe { Box::from_raw(p) };
                assert!(tx.is_none(), "one producer");
                *tx = Some(*p);
            }
            (Lend::Consumer(c), Ends::Spsc { rx, .. }) => {
                // SAFETY: from `Box::into_raw` in `lend_rx`; its borrower is gone.
                let c = unsafe { Box::from_raw(c) };
                assert!(rx.is_none(), "one consumer");
                *rx = Some(*c);
            }
            (Lend::Closer(c), _) => drop(c),
            (Lend::Producer(_) | Lend::Consumer(_), Ends::Mpmc { .. }) => {
                unreachable!("handle of the other flavor")
            }
        }
    }

    /// Sends, drops, leaks or keeps a permit just made; `m` is what the model reserved.
    fn use_permit(
        &mut self,
        permit: AnyPermit,
        m: PermitM,
        lend: Lend,
        use_: Use,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        match use_ {
            Use::Keep if self.permits.len() < MAX_HELD => self.permits.push(Held {
                permit: Some(permit),
                lend: Some(lend),
                m,
            }),
            Use::Send => {
                let v = self.model.item();
                let id = v.id;
                let got = send_out(permit.send(v), keep);
                let want = self.model.permit_send(m, id);
                assert_eq!(got, want, "{label}: permit send");
                self.unlend(lend);
            }
            Use::Leak => {
                // Its room (or rendezvous claim) stays taken for good.
                permit.leak();
                self.unlend(lend);
            }
            Use::Drop | Use::Keep => {
                drop(permit);
                self.model.permit_drop(m);
                self.unlend(lend);
            }
        }
    }

    /// Sends, drops or leaks kept permit `k`.
    fn resolve_permit(&mut self, k: usize, use_: Use, keep: &mut Vec<Item>, label: &str) {
        let mut held = self.permits.remove(k);
        let permit = held.permit.take().expect("a kept permit");
        let lend = held.lend.take().expect("its end");
        self.use_permit(permit, held.m, lend, use_, keep, label);
    }

    /// A reservation that does not wait (or a blocking one that the model says completes),
    /// then the permit's use.
    fn reserve(&mut self, i: u8, how: How, use_: Use, keep: &mut Vec<Item>, label: &str) {
        if how == How::Blocking && self.model.reserve_waits() {
            return;
        }
        let Some(lend) = self.lend_tx(i) else { return };
        let got = reserve_via(&lend, how);
        // With a deadline it waited (for an instant) if it found no credit.
        if matches!(how, How::Timeout | How::Deadline) && self.model.out_of_credit() {
            self.model.count_credit_wait(None);
        }
        match (got, self.model.reserve()) {
            (Ok(permit), Ok(m)) => self.use_permit(permit, m, lend, use_, keep, label),
            (Err(got), Err(expect)) => {
                assert_eq!(got, expect, "{label}: reservation");
                self.unlend(lend);
            }
            (Ok(_), Err(e)) => panic!("{label}: reserved; the model says {e:?}"),
            (Err(e), Ok(m)) => panic!("{label}: {e:?}; the model reserved {m:?}"),
        }
    }

    /// A write chunk (SPSC), made as `via` says, then filled and ended as `plan` says.
    fn write_chunk(
        &mut self,
        max: usize,
        plan: WPlan,
        via: Via,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        if !self.model.spsc || (via == Via::Blocking && self.model.write_chunk_waits()) {
            return;
        }
        let Some(lend) = self.lend_tx(0) else { return };
        let got = match via {
            Via::Try => lend.producer().try_write_chunk(max),
            Via::Timeout => lend.producer().write_chunk_timeout(max, Duration::ZERO),
            Via::Blocking => lend.producer().write_chunk(max),
            Via::Async => {
                let fut = lend.producer().write_chunk_async(max);
                let fid = self.model.fid();
                let m = FutM {
                    fid,
                    kind: FutKind::WChunk { max },
                    deadline: false,
                };
                self.start(Fut::WChunk(fut, plan), lend, false, m, keep, label);
                return;
            }
        };
        // `_timeout(ZERO)` gives up as `try_` does (`Full`), and counts no credit wait.
        match (got, self.model.chunk_hold(max)) {
            (Ok(chunk), Ok(held)) => self.use_wchunk(chunk, held, lend, plan, keep, label),
            (Err(e), Err(x)) => {
                assert_eq!(e, x, "{label}: write chunk");
                self.unlend(lend);
            }
            (got, expect) => panic!(
                "{label}: write chunk {:?}; the model says {expect:?}",
                got.map(|c| c.capacity())
            ),
        }
    }

    /// A write chunk just made (`held` slots, per the model): its values, then its end.
    fn use_wchunk(
        &mut self,
        mut chunk: WriteChunk<'static, Item>,
        held: usize,
        lend: Lend,
        plan: WPlan,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        assert_eq!(chunk.capacity(), held, "{label}: write chunk's capacity");
        let mut written = Vec::new();
        write_values(
            &mut self.model,
            &mut chunk,
            held,
            &mut written,
            plan.n,
            plan.fill,
            keep,
            label,
        );
        self.wchunk = Some(KeptW {
            chunk: Some(chunk),
            lend: Some(lend),
            held,
            written,
        });
        match plan.end {
            End::Commit => self.end_wchunk(false, keep, label),
            End::Drop => self.end_wchunk(true, keep, label),
            End::Keep => {}
        }
    }

    /// Commits (or drops) the kept write chunk.
    fn end_wchunk(&mut self, drop_it: bool, keep: &mut Vec<Item>, label: &str) {
        let mut w = self.wchunk.take().expect("a kept write chunk");
        let chunk = w.chunk.take().expect("a kept chunk");
        let expect = self.model.chunk_commit(w.held, &w.written);
        if drop_it {
            drop(chunk);
            if let Err(ids) = expect {
                // The commit failed: the values are dropped with the chunk.
                self.model.lib_drops.extend(ids);
            }
        } else {
            let got = match chunk.commit() {
                Ok(n) => Ok(n),
                Err(SendError::Closed(values)) => {
                    let got = ids(&values);
                    keep.extend(values);
                    Err(got)
                }
                Err(SendError::Overloaded(values)) => {
                    keep.extend(values);
                    panic!("{label}: a chunk's commit overloaded");
                }
            };
            assert_eq!(got, expect, "{label}: write chunk's commit");
        }
        self.unlend(w.lend.take().expect("its end"));
    }

    /// A read chunk (SPSC), made as `via` says, then used and ended as `plan` says.
    fn read_chunk(&mut self, max: usize, plan: RPlan, via: Via, keep: &mut Vec<Item>, label: &str) {
        if !self.model.spsc
            || (via == Via::Blocking
                && self.model.clone().read_ready(max) == Err(ChunkError::Empty))
        {
            return;
        }
        let Some(lend) = self.lend_rx(0) else { return };
        let got = match via {
            Via::Try => lend.consumer().try_read_chunk(max),
            Via::Timeout => lend.consumer().read_chunk_timeout(max, Duration::ZERO),
            Via::Blocking => lend.consumer().read_chunk(max),
            Via::Async => {
                let fut = lend.consumer().read_chunk_async(max);
                let fid = self.model.fid();
                let m = FutM {
                    fid,
                    kind: FutKind::RChunk { max },
                    deadline: false,
                };
                self.start(Fut::RChunk(fut, plan), lend, false, m, keep, label);
                return;
            }
        };
        match (got, self.model.read_ready(max)) {
            (Ok(chunk), Ok(len)) => self.use_rchunk(chunk, len, lend, plan, keep, label),
            (Err(e), Err(x)) => {
                assert_eq!(e, x, "{label}: read chunk");
                self.unlend(lend);
            }
            (got, expect) => panic!(
                "{label}: read chunk {:?}; the model says {expect:?}",
                got.map(|c| c.len())
            ),
        }
    }

    /// A read chunk just made (`len` values, per the model): its use, then its end.
    fn use_rchunk(
        &mut self,
        mut chunk: ReadChunk<'static, Item>,
        len: usize,
        lend: Lend,
        plan: RPlan,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        let mut taken = 0;
        read_values(
            &mut self.model,
            &mut chunk,
            len,
            &mut taken,
            plan.take,
            plan.consume,
            keep,
            label,
        );
        self.rchunk = Some(KeptR {
            chunk: Some(chunk),
            lend: Some(lend),
            len,
            taken,
        });
        match plan.end {
            End::Commit => self.end_rchunk(false, label),
            End::Drop => self.end_rchunk(true, label),
            End::Keep => {}
        }
    }

    /// Releases (or drops) the kept read chunk.
    fn end_rchunk(&mut self, drop_it: bool, label: &str) {
        let mut r = self.rchunk.take().expect("a kept read chunk");
        let chunk = r.chunk.take().expect("a kept chunk");
        check_read_views(&self.model, &chunk, r.len, r.taken, label);
        if drop_it {
            drop(chunk);
        } else {
            chunk.release();
        }
        self.model.chunk_release(r.taken);
        self.unlend(r.lend.take().expect("its end"));
    }

    fn send_async(&mut self, i: u8, deadline: Deadline, keep: &mut Vec<Item>, label: &str) {
        let Some(lend) = self.lend_tx(i) else { return };
        let v = self.model.item();
        let id = v.id;
        let due = deadline == Deadline::Due;
        let gate = Rc::new(Cell::new(due));
        let fut: Box<dyn SendF> = match (&lend, deadline) {
            (Lend::Tx(_), Deadline::None) => Box::new(lend.sender().send_async(v)),
            (Lend::Tx(_), _) => Box::new(lend.sender().send_async_deadline(v, Gate(gate.clone()))),
            (Lend::Producer(_), Deadline::None) => Box::new(lend.producer().send_async(v)),
            (Lend::Producer(_), _) => {
                Box::new(lend.producer().send_async_deadline(v, Gate(gate.clone())))
            }
            _ => unreachable!("not a sender"),
        };
        let fid = self.model.fid();
        let m = FutM {
            fid,
            kind: FutKind::Send { id },
            deadline: deadline != Deadline::None,
        };
        self.start_with(Fut::Send(fut), lend, gate, m, keep, label);
    }

    fn recv_async(&mut self, i: u8, deadline: Deadline, keep: &mut Vec<Item>, label: &str) {
        let Some(lend) = self.lend_rx(i) else { return };
        let gate = Rc::new(Cell::new(deadline == Deadline::Due));
        let fut: Box<dyn RecvF> = match (&lend, deadline) {
            (Lend::Rx(_), Deadline::None) => Box::new(lend.receiver().recv_async()),
            (Lend::Rx(_), _) => Box::new(lend.receiver().recv_async_deadline(Gate(gate.clone()))),
            (Lend::Consumer(_), Deadline::None) => Box::new(lend.consumer().recv_async()),
            (Lend::Consumer(_), _) => {
                Box::new(lend.consumer().recv_async_deadline(Gate(gate.clone())))
            }
            _ => unreachable!("not a receiver"),
        };
        let fid = self.model.fid();
        let m = FutM {
            fid,
            kind: FutKind::Recv,
            deadline: deadline != Deadline::None,
        };
        self.start_with(Fut::Recv(fut), lend, gate, m, keep, label);
    }

    fn start(
        &mut self,
        fut: Fut,
        lend: Lend,
        due: bool,
        m: FutM,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        self.start_with(fut, lend, Rc::new(Cell::new(due)), m, keep, label);
    }

    /// Polls a new future once; keeps it if it is pending (or drops it, if too many are).
    fn start_with(
        &mut self,
        fut: Fut,
        lend: Lend,
        gate: Rc<Cell<bool>>,
        m: FutM,
        keep: &mut Vec<Item>,
        label: &str,
    ) {
        let counter = Arc::new(Counter::default());
        let mut p = Pending {
            fut: Some(fut),
            lend: Some(lend),
            gate,
            waker: Waker::from(counter.clone()),
            counter,
            seen: 0,
            m,
        };
        match self.poll_kept(&mut p, keep, label) {
            Polled::Pending if self.futs.len() < MAX_FUTS => self.futs.push(p),
            Polled::Pending => self.cancel(p, false, keep, label),
            polled => self.retire(p, polled, keep, label),
        }
    }

    /// Polls a kept future (firing its deadline if its gate is open), checked against the
    /// model.
    fn poll_kept(&mut self, p: &mut Pending, keep: &mut Vec<Item>, label: &str) -> Polled {
        let due = p.gate.get();
        let m = p.m;
        p.seen = p.counter.get();
        let mut cx = Context::from_waker(&p.waker);
        let model = &mut self.model;
        match p.fut.as_mut().expect("a kept future") {
            Fut::Send(f) => {
                let FutKind::Send { id } = m.kind else {
                    unreachable!()
                };
                let got = f.poll_out(&mut cx, keep);
                let mut expect = model.poll_send_fut(m.fid, id);
                if expect.is_none() && m.deadline && due {
                    expect = Some(model.give_up_send(m.fid, id));
                }
                match (got, expect) {
                    (Poll::Pending, None) => Polled::Pending,
                    (Poll::Ready(got), Some(expect)) => {
                        assert_eq!(got, expect, "{label}: send future {m:?}");
                        Polled::Done
                    }
                    (got, expect) => {
                        panic!(
                            "{label}: send future {m:?} polled {got:?}; the model says {expect:?}"
                        )
                    }
                }
            }
            Fut::Recv(f) => {
                let got = f.poll_out(&mut cx, keep);
                let mut expect = model.poll_recv_fut(m.fid);
                if expect.is_none() && m.deadline && due {
                    expect = Some(model.give_up_recv(m.fid));
                }
                match (got, expect) {
                    (Poll::Pending, None) => Polled::Pending,
                    (Poll::Ready(got), Some(expect)) => {
                        assert_eq!(got, expect, "{label}: receive future {m:?}");
                        Polled::Done
                    }
                    (got, expect) => panic!(
                        "{label}: receive future {m:?} polled {got:?}; the model says {expect:?}"
                    ),
                }
            }
            Fut::Reserve(f, use_) => {
                let got = f.poll_out(&mut cx);
                match (got, model.poll_reserve_fut(m.fid)) {
                    (Poll::Pending, None) => Polled::Pending,
                    (Poll::Ready(Ok(permit)), Some(Ok(pm))) => Polled::Permit(permit, pm, *use_),
                    (Poll::Ready(Err(SendError::Closed(()))), Some(Err(()))) => Polled::Done,
                    (got, expect) => panic!(
                        "{label}: reservation future {m:?} polled {:?}; the model says {expect:?}",
                        got.map(|r| r.map(|_| "permit"))
                    ),
                }
            }
            Fut::Closed(f) => {
                let ready = Pin::new(f).poll(&mut cx).is_ready();
                assert_eq!(ready, model.closed, "{label}: closed() future ready");
                if ready {
                    Polled::Done
                } else {
                    Polled::Pending
                }
            }
            Fut::WChunk(f, plan) => {
                let FutKind::WChunk { max } = m.kind else {
                    unreachable!()
                };
                let got = Pin::new(f).poll(&mut cx);
                match (got, model.poll_wchunk_fut(m.fid, max)) {
                    (Poll::Pending, None) => Polled::Pending,
                    (Poll::Ready(Ok(chunk)), Some(Ok(held))) => Polled::WChunk(chunk, held, *plan),
                    (Poll::Ready(Err(e)), Some(Err(x))) => {
                        assert_eq!(e, x, "{label}: write-chunk future {m:?}");
                        Polled::Done
                    }
                    (got, expect) => panic!(
                        "{label}: write-chunk future {m:?} polled {:?}; the model says {expect:?}",
                        got.map(|r| r.map(|c| c.capacity()))
                    ),
                }
            }
            Fut::RChunk(f, plan) => {
                let FutKind::RChunk { max } = m.kind else {
                    unreachable!()
                };
                let got = Pin::new(f).poll(&mut cx);
                match (got, model.poll_rchunk_fut(max)) {
                    (Poll::Pending, None) => Polled::Pending,
                    (Poll::Ready(Ok(chunk)), Some(Ok(len))) => Polled::RChunk(chunk, len, *plan),
                    (Poll::Ready(Err(e)), Some(Err(x))) => {
                        assert_eq!(e, x, "{label}: read-chunk future {m:?}");
                        Polled::Done
                    }
                    (got, expect) => panic!(
                        "{label}: read-chunk future {m:?} polled {:?}; the model says {expect:?}",
                        got.map(|r| r.map(|c| c.len()))
                    ),
                }
            }
        }
    }

    /// A future that completed: it goes; a permit it made is used.
    fn retire(&mut self, mut p: Pending, polled: Polled, keep: &mut Vec<Item>, label: &str) {
        drop(p.fut.take());
        let lend = p.lend.take().expect("its end");
        match polled {
            Polled::Permit(permit, m, use_) => self.use_permit(permit, m, lend, use_, keep, label),
            Polled::WChunk(chunk, held, plan) => {
                self.use_wchunk(chunk, held, lend, plan, keep, label)
            }
            Polled::RChunk(chunk, len, plan) => {
                self.use_rchunk(chunk, len, lend, plan, keep, label)
            }
            _ => self.unlend(lend),
        }
    }

    /// Drops a kept future (or, for a send future, takes its value back with `into_inner`).
    fn cancel(&mut self, mut p: Pending, into_inner: bool, keep: &mut Vec<Item>, label: &str) {
        let m = p.m;
        match p.fut.take().expect("a kept future") {
            Fut::Send(f) => {
                let FutKind::Send { id } = m.kind else {
                    unreachable!()
                };
                // The value comes back unless a receiver took it (rendezvous offer).
                let ours = self.model.cancel_send_fut(m.fid);
                if into_inner {
                    let v = f.give_back();
                    let expect = ours.then_some(id);
                    assert_eq!(v.as_ref().map(|v| v.id), expect, "{label}: into_inner");
                    keep.extend(v);
                } else {
                    drop(f);
                    if ours {
                        self.model.lib_drops.push(id);
                    }
                }
            }
            Fut::Recv(f) => {
                drop(f);
                self.model.cancel_recv_fut(m.fid);
            }
            Fut::Reserve(f, _) => {
                drop(f);
                self.model.cancel_reserve_fut(m.fid);
            }
            Fut::Closed(f) => drop(f),
            Fut::WChunk(f, _) => {
                drop(f);
                self.model.cancel_wchunk_fut(m.fid);
            }
            Fut::RChunk(f, _) => drop(f),
        }
        let lend = p.lend.take().expect("its end");
        self.unlend(lend);
    }

    /// Drops whatever is left, in the order the input chose, checking each drop.
    fn teardown(mut self, order: u8) {
        // Kept futures first (they borrow ends), oldest first.
        while !self.futs.is_empty() {
            let mark = drops_len();
            let mut keep = Vec::new();
            let p = self.futs.remove(0);
            self.cancel(p, false, &mut keep, "teardown");
            self.finish_step(mark, keep, &"teardown: future");
        }
        // Then kept chunks: committed or released with bit 5, else dropped.
        let explicit = order & 32 != 0;
        if self.wchunk.is_some() {
            let mark = drops_len();
            let mut keep = Vec::new();
            self.end_wchunk(!explicit, &mut keep, "teardown");
            self.finish_step(mark, keep, &"teardown: write chunk");
        }
        if self.rchunk.is_some() {
            let mark = drops_len();
            self.end_rchunk(!explicit, "teardown");
            self.finish_step(mark, Vec::new(), &"teardown: read chunk");
        }
        // Then kept permits: sent with bit 3, else leaked with bit 4, else dropped.
        let use_ = if order & 8 != 0 {
            Use::Send
        } else if order & 16 != 0 {
            Use::Leak
        } else {
            Use::Drop
        };
        while !self.permits.is_empty() {
            let mark = drops_len();
            let mut keep = Vec::new();
            self.resolve_permit(0, use_, &mut keep, "teardown");
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
                1 => match &mut self.ends {
                    Ends::Spsc { rx, .. } => {
                        if rx.take().is_some() {
                            self.model.drop_receiver();
                        }
                    }
                    Ends::Mpmc { rxs, .. } => {
                        for rc in std::mem::take(rxs) {
                            release_rx(&mut self.model, rc);
                        }
                    }
                },
                _ => {
                    self.closers.clear();
                    // With bit 2 of `order`, the observer goes too, so that the last end's
                    // drop also frees the queue (with it kept, checks go on through it).
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
            let expect = (!self.model.spsc).then_some(0);
            assert_eq!(obs.abort(), expect, "teardown: abort on an empty queue");
        }
        let mark = drops_len();
        drop(self.observer.take());
        assert_eq!(drops_since(mark), Vec::<u64>::new(), "teardown: queue drop");
        // Every value made was dropped exactly once.
        let mut all = DROPS.with(|d| d.borrow().clone());
        all.sort_unstable();
        let made: Vec<u64> = (0..self.model.next_id).collect();
        assert_eq!(all, made, "every value dropped exactly once");
    }
}

/// The capacity limits, checked once (the builders refuse before allocating).
fn check_limits() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if usize::BITS < 64 {
            return;
        }
        let mpmc_max = (1usize << 29) - 1;
        for policy in [Policy::Block, Policy::DropOldest] {
            let e = Builder::new(mpmc_max + 1)
                .policy(policy)
                .try_mpmc::<Item>()
                .expect_err("over the MPMC limit");
            assert_eq!(
                e.kind(),
                BuildErrorKind::CapacityOverflow {
                    capacity: mpmc_max + 1,
                    max: mpmc_max
                }
            );
        }
        let evict_max = (1usize << 29) - 2;
        let e = Builder::new(evict_max + 1)
            .policy(Policy::DropOldest)
            .try_spsc::<Item>()
            .expect_err("over the SPSC drop-oldest limit");
        assert_eq!(
            e.kind(),
            BuildErrorKind::CapacityOverflow {
                capacity: evict_max + 1,
                max: evict_max
            }
        );
    });
}

fn run(input: Input) {
    check_limits();
    DROPS.with(|d| d.borrow_mut().clear());
    let cap = usize::from(input.capacity % 9);
    let policy = input.policy.policy();
    let mut builder = Builder::new(cap).policy(policy);
    if input.exact {
        builder = builder.exact_high_water();
    }
    let credits = input.credits.map(|n| usize::from(n % 5));
    if let Some(n) = credits {
        builder = builder.credits(n);
    }
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
                rxs: vec![Rc::new(rx)],
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
        model: Model::new(spsc, cap, policy, input.exact, credits),
        ends,
        closers,
        observer: Some(observer),
        permits: Vec::new(),
        futs: Vec::new(),
        wchunk: None,
        rchunk: None,
        step: 0,
    };
    run.check_state(&"built");
    for op in input.ops.into_iter().take(256) {
        run.apply(op);
    }
    run.teardown(input.teardown);
}

fuzz_target!(|input: Input| run(input));
