//! Bounded, lock-free queues with the backpressure you choose.
//!
//! `pushpull` carries values from producers to consumers through a queue of fixed capacity.
//! When the queue is full, a send does what its [`Policy`] says: it waits
//! ([`Block`](Policy::Block), the default), drops the value being sent
//! ([`DropNewest`](Policy::DropNewest)), evicts the oldest queued value
//! ([`DropOldest`](Policy::DropOldest)), or fails with an error that hands the value back
//! ([`Reject`](Policy::Reject)). Every queue works from plain threads and from async code on
//! any executor.
//!
//! Two flavors:
//!
//! - [`mpmc`]: [`Sender`]/[`Receiver`], both `Clone`. Capacity 0 is a rendezvous: a send
//!   completes only when a receiver is there for the value (waiting, or taking it).
//! - [`spsc`]: [`Producer`]/[`Consumer`], one of each, faster: their fast paths are plain
//!   loads and stores.
//!
//! # Hello, queue
//!
//! ```
//! let (tx, rx) = pushpull::mpmc(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..1000 {
//!         let _ = tx.send(i).unwrap(); // waits while the queue is full
//!     }
//!     // dropping the last sender closes the queue
//! });
//! let total: u64 = rx.iter().sum(); // ends when the queue is closed and drained
//! producer.join().unwrap();
//! assert_eq!(total, 499_500);
//! ```
//!
//! # Choosing what happens on overload
//!
//! ```
//! use pushpull::{Builder, Policy, Sent, SendError};
//!
//! let (mut tx, mut rx) = Builder::new(2).policy(Policy::DropOldest).spsc();
//! let _ = tx.send("a").unwrap();
//! let _ = tx.send("b").unwrap();
//! // Full: "a" is evicted and handed back to the sender.
//! assert_eq!(tx.send("c").unwrap(), Sent::Evicted("a"));
//! assert_eq!(rx.try_recv(), Ok("b"));
//!
//! let (tx, _rx) = Builder::new(1).policy(Policy::Reject).mpmc();
//! let _ = tx.send(1).unwrap();
//! assert_eq!(tx.send(2), Err(SendError::Overloaded(2)));
//! assert_eq!(tx.metrics().rejected, 1);
//! ```
//!
//! # Closing: drain or abort
//!
//! [`close`](Sender::close) (from either end, or from a [`Closer`] a supervisor holds) stops
//! sends; receivers still get what is queued, then see `Closed`. [`abort`](Sender::abort)
//! also discards what is queued and says how many values it dropped. Dropping every sender
//! closes the queue; dropping every receiver closes it and drops what is queued. Close is
//! linearizable: a send that succeeded before a close is received, and no send succeeds
//! after a receiver reported `Closed`.
//!
//! ```
//! let (tx, rx) = pushpull::mpmc(8);
//! for i in 0..5 {
//!     let _ = tx.send(i).unwrap();
//! }
//! let supervisor = rx.closer(); // not generic: closers of any queues fit in one Vec
//! assert_eq!(supervisor.abort(), Some(5));
//! assert!(rx.recv().is_err());
//! assert_eq!(tx.metrics().discarded, 5);
//! ```
//!
//! On an SPSC queue only the consumer takes values out (that keeps its receive free of
//! read-modify-writes): [`Consumer::abort`] returns the exact count, while an abort from the
//! producer or a closer returns none and the consumer discards at its next call.
//!
//! # Async, on any executor
//!
//! Every waiting operation has a future that only uses the `Waker` it is polled with:
//! [`send_async`](Sender::send_async), [`recv_async`](Receiver::recv_async),
//! [`reserve_async`](Sender::reserve_async), [`closed`](Sender::closed). A deadline is any
//! future you pass (your runtime's sleep), and a timed-out send gives its value back. With
//! the `futures` feature, receivers are `Stream`s and senders `Sink`s. Each future documents
//! what dropping it does: a dropped receive never loses a value, a dropped send drops its
//! own value once, and a [`Permit`] from `reserve` makes sending cancel-safe.
//!
//! ```
//! # futures::executor::block_on(async {
//! let (tx, rx) = pushpull::mpmc::<u32>(4);
//! let permit = tx.reserve_async().await.unwrap(); // waits for room, holds no value
//! let _ = permit.send(7).unwrap(); // does not wait; fails only if the queue was aborted
//! assert_eq!(rx.recv_async().await, Ok(7));
//! # });
//! ```
//!
//! A [`Permit`] reserves *room*, not a place in line (tokio's semantics): values sent by
//! others meanwhile are received first, and values plus outstanding permits never exceed
//! the capacity.
//!
//! Blocking calls ([`send`](Sender::send), [`recv`](Receiver::recv), `iter`) park the
//! thread: calling them from an async task blocks that executor thread, which is the
//! caller's mistake; use the `_async` forms there.
//!
//! # Progress
//!
//! The fast path (queue neither full nor empty, nobody waiting) takes no lock, makes no
//! system call and allocates nothing.
//!
//! | operation | progress |
//! | --- | --- |
//! | SPSC `try_send` / `try_recv` (any policy but drop-oldest) | wait-free: plain loads and stores, no read-modify-write, no fence (where the kernel offers `membarrier`; a full fence elsewhere) |
//! | SPSC drop-oldest send and receive | wait-free, one or two read-modify-writes; an evicting send is lock-free |
//! | MPMC `try_send` / `try_recv` / evicting send | lock-free claims (Vyukov); may wait for a preempted peer that claimed the neighbouring position and has not finished copying its item |
//! | rendezvous (capacity 0) | takes a short mutex: every hand-off needs a waiting party anyway |
//! | waiting (`send` under `Block`, `recv`, futures) | brief spin with backoff, then register and park or return `Pending`; an SPSC end pays a `membarrier` to register |
//! | closing an SPSC queue from the consumer's side | the consumer pays a `membarrier` once, to be sure no send is in flight |
//!
//! # Memory ordering
//!
//! A queue synchronizes what it carries, as `std::sync::mpsc` and crossbeam-channel do:
//!
//! - **A send happens-before the receive that gets its value**: what the sending thread
//!   wrote before the send (`send`, `try_send`, a permit's `send`, a send future that
//!   completed) is visible to the thread that received the value, on every flavor and
//!   policy, the rendezvous included.
//! - **A receive happens-before the send that takes the room it made** (Go's rule for
//!   buffered channels): on a queue of capacity `C`, the receive of the `k`-th value
//!   happens-before the send of the `k + C`-th value returns (at capacity 0, the send of the
//!   `k`-th value), by `send`, a `try_send` that succeeded or a permit's `send`. So a
//!   producer that counts what the consumer has finished can rely on reading at least the
//!   count that made its room, as exercise 2 of the guide (`docs/GUIDE.md`) does.
//! - **A close or abort happens-before every `Closed` it causes**: what a thread wrote before
//!   it called `close` or `abort` (on any end or a [`Closer`]) is visible to a receiver that
//!   then reports `Closed` and to a sender whose send then fails with `Closed`.
//!
//! Nothing else is ordered: `len`, `is_empty`, `is_closed` and [`metrics`](Sender::metrics)
//! are snapshots that may be stale by the time they return. The guarantees are checked by
//! `tests/ordering.rs` (on real threads, under Miri and ThreadSanitizer as well) and by the
//! loom models `send_happens_before_its_receive`, `receive_happens_before_the_send_into_its_room`
//! and `close_happens_before_closed`.
//!
//! # Credit: the consumer sets the pace
//!
//! A queue built with [`Builder::credits`] has a credit gate (consumer-driven flow control,
//! as HTTP/2 and gRPC windows): each value that enters the queue spends a credit, a receive
//! gives none back, and the consumer grants more with [`Receiver::grant`] (or
//! [`Consumer::grant`]). So the values in flight never exceed the credits granted minus the
//! values received, whatever the capacity; starting at 0 credits, nothing flows until the
//! consumer asks. Out of credit is handled like a full queue under the policy (`Block`
//! waits for a credit, `DropNewest` drops, `Reject` rejects, `DropOldest` replaces the oldest
//! queued value and takes over its credit). A queue built without a gate pays one flag test
//! per send.
//!
//! ```
//! use pushpull::Builder;
//!
//! // Pull-based: the consumer asks for 10 values at a time.
//! let (tx, rx) = Builder::new(64).credits(0).mpmc::<u32>();
//! std::thread::spawn(move || {
//!     for i in 0..100 {
//!         let _ = tx.send(i).unwrap(); // waits while the consumer has not asked
//!     }
//! });
//! let mut total = 0;
//! for _ in 0..10 {
//!     rx.grant(10);
//!     for _ in 0..10 {
//!         total += rx.recv().unwrap();
//!     }
//! }
//! assert_eq!(total, 4950);
//! ```
//!
//! # Admission: a cap on work in flight
//!
//! A queue bounds what waits between two stages; an [`Admission`] bounds everything a
//! service has accepted and not finished, across all its stages. Take an
//! [`AdmissionPermit`] when work comes in ([`try_acquire`](Admission::try_acquire) refuses
//! at once with [`TryAcquireError::Overloaded`] when the limit is reached; `acquire` and its
//! timeout, deadline and async forms wait), carry it with the work, and drop it when the
//! work is done.
//!
//! ```
//! let admission = pushpull::Admission::new(100);
//! let (tx, rx) = pushpull::mpmc(16);
//! match admission.try_acquire() {
//!     Ok(permit) => {
//!         let _ = tx.send(("request", permit)).unwrap(); // the permit travels with it
//!     }
//!     Err(_) => { /* answer 503 */ }
//! }
//! let (_request, permit) = rx.recv().unwrap();
//! drop(permit); // done: its share goes back
//! assert_eq!(admission.in_flight(), 0);
//! ```
//!
//! # Counters
//!
//! Every end has [`metrics`](Sender::metrics): values sent and received, dropped, evicted,
//! rejected and discarded, a high-water mark of the queue's length (a sample by default;
//! exact with [`Builder::exact_high_water`]), batches, and credits granted, spent and
//! waited for. Counting adds no atomic
//! read-modify-write to the fast path: overload counters are per sending handle.

#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    rust_2018_idioms,
    unreachable_pub,
    clippy::incompatible_msrv
)]

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// So are the guide's, its `compile_fail` block included.
#[cfg(doctest)]
#[doc = include_str!("../docs/GUIDE.md")]
struct GuideDoctests;

mod admission;
mod chan;
mod error;
mod loom;
mod metrics;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod prometheus;
mod ring;
#[cfg(feature = "shard")]
#[cfg_attr(docsrs, doc(cfg(feature = "shard")))]
pub mod shard;
#[cfg(feature = "spill")]
#[cfg_attr(docsrs, doc(cfg(feature = "spill")))]
pub mod spill;
mod wait;

pub use admission::{AcquireDeadline, AcquireFuture, Admission, AdmissionMetrics, AdmissionPermit};
pub use chan::flavor;
pub use chan::{
    mpmc, spsc, BatchSent, BatchStop, Builder, ChunkError, ClosedFuture, Closer, Consumer, Drain,
    IntoIter, Iter, Permit, Policy, Producer, ReadChunk, ReadChunkFuture, Receiver, RecvBatch,
    RecvDeadline, RecvFuture, RecvMany, ReserveFuture, SendDeadline, SendFuture, Sender, Sent,
    TryIter, WriteChunk, WriteChunkFuture,
};
pub use error::{
    AcquireError, AcquireTimeoutError, BuildError, BuildErrorKind, RecvError, RecvTimeoutError,
    SendError, SendTimeoutError, TryAcquireError, TryRecvError, TrySendError,
};
pub use metrics::Metrics;
