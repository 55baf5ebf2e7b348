#![cfg(not(loom))]
//! The auto-trait matrix of the public types, checked at compile time with
//! `static_assertions`. Each answer was checked against the source; the comments explain the
//! ones that might surprise.
#![allow(dead_code)]

use std::cell::Cell;
use std::fmt::Debug;
use std::rc::Rc;
use std::sync::MutexGuard;

use static_assertions::{assert_impl_all, assert_not_impl_any};

use pushpull::{
    BuildError, BuildErrorKind, Builder, ClosedFuture, Closer, Consumer, Drain, IntoIter, Iter,
    Metrics, Permit, Policy, Producer, Receiver, RecvDeadline, RecvError, RecvFuture,
    RecvTimeoutError, ReserveFuture, SendDeadline, SendError, SendFuture, SendTimeoutError, Sender,
    Sent, TryIter, TryRecvError, TrySendError,
};

/// `Send` and `Sync`, but not `Debug` (handles must be `Debug` anyway).
struct Opaque;

/// `Send` but not `Sync`.
type SendOnly = Cell<u8>;
/// Neither `Send` nor `Sync`.
type Neither = Rc<u8>;
/// `Sync` but not `Send`.
type SyncOnly = MutexGuard<'static, u8>;

// === the ends and the closer ===

// With `T: Send` every handle is `Send + Sync`. `T: Sync` is not needed: a queue only moves
// values between threads and never hands out a `&T` to another thread (as with
// crossbeam-channel and std's mpsc). So `Sender<Cell<u8>>` is `Sync` even though
// `Cell<u8>` is not, which is sound.
assert_impl_all!(Sender<u8>: Send, Sync, Clone, Debug, Unpin);
assert_impl_all!(Receiver<u8>: Send, Sync, Clone, Debug, Unpin);
assert_impl_all!(Producer<u8>: Send, Sync, Debug, Unpin);
assert_impl_all!(Consumer<u8>: Send, Sync, Debug, Unpin);
assert_impl_all!(Closer: Send, Sync, Clone, Debug, Unpin);

assert_impl_all!(Sender<SendOnly>: Send, Sync);
assert_impl_all!(Receiver<SendOnly>: Send, Sync);
assert_impl_all!(Producer<SendOnly>: Send, Sync);
assert_impl_all!(Consumer<SendOnly>: Send, Sync);

// `Debug` never needs `T: Debug`.
assert_impl_all!(Sender<Opaque>: Debug);
assert_impl_all!(Receiver<Opaque>: Debug);
assert_impl_all!(Producer<Opaque>: Debug);
assert_impl_all!(Consumer<Opaque>: Debug);

// A value that cannot cross threads makes every handle thread-bound.
assert_not_impl_any!(Sender<Neither>: Send, Sync);
assert_not_impl_any!(Receiver<Neither>: Send, Sync);
assert_not_impl_any!(Producer<Neither>: Send, Sync);
assert_not_impl_any!(Consumer<Neither>: Send, Sync);
// A read chunk hands out `&T`: shared between threads only when `T` is `Sync` (found by
// review: it was `Sync` for any `T: Send`, and two threads could share a `&Cell`).
assert_impl_all!(pushpull::ReadChunk<'static, u8>: Send, Sync, Debug);
assert_not_impl_any!(pushpull::ReadChunk<'static, std::cell::Cell<u8>>: Sync);
assert_impl_all!(pushpull::WriteChunk<'static, u8>: Send, Sync, Debug);
// `Sync` without `Send` is not enough either: values move.
assert_not_impl_any!(Sender<SyncOnly>: Send, Sync);
assert_not_impl_any!(Producer<SyncOnly>: Send, Sync);

// One producer and one consumer: the SPSC ends are not `Clone`.
assert_not_impl_any!(Producer<u8>: Clone);
assert_not_impl_any!(Consumer<u8>: Clone);
// Clonable things are not `Copy`.
assert_not_impl_any!(Sender<u8>: Copy);
assert_not_impl_any!(Closer: Copy);

// === iterators ===

// The borrowing iterators hold `&Receiver<T>` or `&mut Consumer<T>`, so they are `Send`
// and `Sync` exactly when the ends are, that is when `T: Send`.
assert_impl_all!(Iter<'static, u8>: Send, Sync, Debug, Iterator<Item = u8>);
assert_impl_all!(TryIter<'static, u8>: Send, Sync, Debug, Iterator<Item = u8>);
assert_impl_all!(Drain<'static, u8>: Send, Sync, Debug, Iterator<Item = u8>);
assert_impl_all!(IntoIter<u8>: Send, Sync, Debug, Iterator<Item = u8>);
assert_impl_all!(Iter<'static, SendOnly>: Send, Sync);
assert_impl_all!(IntoIter<SendOnly>: Send, Sync);
assert_impl_all!(IntoIter<Opaque>: Debug);
assert_not_impl_any!(Iter<'static, Neither>: Send, Sync);
assert_not_impl_any!(TryIter<'static, Neither>: Send, Sync);
assert_not_impl_any!(Drain<'static, Neither>: Send, Sync);
assert_not_impl_any!(IntoIter<Neither>: Send, Sync);

// === futures and permits ===

// Futures must be `Send` for `T: Send` (to be spawned on multi-threaded executors), and
// they are `Unpin` (documented in `chan/future.rs`).
assert_impl_all!(SendFuture<'static, u8>: Send, Unpin, Debug);
assert_impl_all!(RecvFuture<'static, u8>: Send, Unpin, Debug);
assert_impl_all!(ReserveFuture<'static, u8>: Send, Unpin, Debug);
assert_impl_all!(ClosedFuture<'static>: Send, Sync, Unpin, Debug);
assert_impl_all!(Permit<'static, u8>: Send, Debug);
assert_impl_all!(SendDeadline<'static, u8, std::future::Ready<()>>: Send, Unpin);
assert_impl_all!(RecvDeadline<'static, u8, std::future::Ready<()>>: Send, Unpin);
assert_not_impl_any!(SendFuture<'static, Neither>: Send);
assert_not_impl_any!(RecvFuture<'static, Neither>: Send);
assert_not_impl_any!(Permit<'static, Neither>: Send);

// === values ===

// Error types and `Sent` hold a `T` directly, so they are `Send` when `T: Send` and `Sync`
// only when `T: Sync` too: `TrySendError<Cell<u8>>` is `Send` but not `Sync`. (With a
// `T: Send + Sync` payload they are both, and fit `Box<dyn Error + Send + Sync>`.)
assert_impl_all!(TrySendError<u8>: Send, Sync, std::error::Error, Clone, Copy, PartialEq);
assert_impl_all!(SendError<u8>: Send, Sync, std::error::Error, Clone, Copy, PartialEq);
assert_impl_all!(SendTimeoutError<u8>: Send, Sync, std::error::Error, Clone, Copy);
assert_impl_all!(Sent<u8>: Send, Sync, Debug, Clone, Copy, PartialEq);
assert_impl_all!(TrySendError<SendOnly>: Send);
assert_not_impl_any!(TrySendError<SendOnly>: Sync);
assert_impl_all!(SendError<SendOnly>: Send);
assert_not_impl_any!(SendError<SendOnly>: Sync);
assert_impl_all!(SendTimeoutError<SendOnly>: Send);
assert_not_impl_any!(SendTimeoutError<SendOnly>: Sync);
assert_not_impl_any!(TrySendError<Neither>: Send, Sync);
assert_not_impl_any!(Sent<Neither>: Send, Sync);
// `Debug` and `Error` without `T: Debug`.
assert_impl_all!(TrySendError<Opaque>: Debug, std::error::Error);
assert_impl_all!(SendError<Opaque>: Debug, std::error::Error);
assert_impl_all!(SendTimeoutError<Opaque>: Debug, std::error::Error);
assert_impl_all!(Sent<Opaque>: Debug);

// Errors without a payload.
assert_impl_all!(TryRecvError: Send, Sync, Copy, Eq, Debug, std::error::Error);
assert_impl_all!(RecvError: Send, Sync, Copy, Eq, Debug, std::error::Error);
assert_impl_all!(RecvTimeoutError: Send, Sync, Copy, Eq, Debug, std::error::Error);
assert_impl_all!(BuildError: Send, Sync, Clone, Eq, Debug, std::error::Error);
assert_impl_all!(BuildErrorKind: Send, Sync, Copy, Eq, Debug);

// Plain data.
assert_impl_all!(Metrics: Send, Sync, Copy, Clone, Eq, Default, Debug, std::fmt::Display);
assert_impl_all!(Policy: Send, Sync, Copy, Eq, std::hash::Hash, Default, Debug);
assert_impl_all!(Builder: Send, Sync, Copy, Eq, Debug);

/// The compile-time checks above are the test; this keeps `cargo test` listing the file.
#[test]
fn auto_traits_compile() {
    fn send_to_thread<T: Send + 'static>(t: T) -> T {
        std::thread::spawn(move || t).join().unwrap()
    }
    // A `Sync`-less value still crosses threads through the queue.
    let (tx, rx) = pushpull::mpmc::<SendOnly>(1);
    let tx = send_to_thread(tx);
    let _ = tx.send(Cell::new(7)).unwrap();
    let rx = send_to_thread(rx);
    assert_eq!(rx.recv().unwrap().get(), 7);
}
