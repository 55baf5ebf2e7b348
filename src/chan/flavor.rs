//! Which kind of queue a future, permit or iterator belongs to.
//!
//! The futures, permits and iterators are written once for both kinds of queue; their last
//! type parameter says which one they borrow: [`Mpmc`] (a [`Sender`](crate::Sender) or
//! [`Receiver`](crate::Receiver), the default) or [`Spsc`] (a
//! [`Producer`](crate::Producer) or [`Consumer`](crate::Consumer)). You only name it when you
//! store one of these in a struct field:
//!
//! ```
//! use pushpull::{flavor, Consumer, RecvFuture};
//!
//! struct Pending<'a> {
//!     next: RecvFuture<'a, u64, flavor::Spsc>,
//! }
//!
//! let (_tx, mut rx): (_, Consumer<u64>) = pushpull::spsc(4);
//! let _pending = Pending { next: rx.recv_async() };
//! ```

use super::mpmc::MpmcQueue;
use super::spsc::SpscQueue;
use super::Queue;

/// A kind of queue: [`Spsc`] or [`Mpmc`]. Sealed: implemented only by those two.
pub trait Flavor: sealed::Sealed + Sized + 'static {
    /// The queue's storage and wait lines (internal).
    #[doc(hidden)]
    type Queue<T>: Queue<T>;
    /// The receiving handle (internal: for `IntoIter`).
    #[doc(hidden)]
    type Receiver<T>: sealed::Recv<T>;
}

/// The single-producer single-consumer queue: [`Producer`](crate::Producer) and
/// [`Consumer`](crate::Consumer). A marker type; it has no values.
#[derive(Debug)]
pub enum Spsc {}

/// The multi-producer multi-consumer queue: [`Sender`](crate::Sender) and
/// [`Receiver`](crate::Receiver). A marker type; it has no values.
#[derive(Debug)]
pub enum Mpmc {}

impl Flavor for Spsc {
    type Queue<T> = SpscQueue<T>;
    type Receiver<T> = super::Consumer<T>;
}

impl Flavor for Mpmc {
    type Queue<T> = MpmcQueue<T>;
    type Receiver<T> = super::Receiver<T>;
}

pub(crate) mod sealed {
    /// Only this crate implements [`Flavor`](super::Flavor).
    pub trait Sealed {}
    impl Sealed for super::Spsc {}
    impl Sealed for super::Mpmc {}

    /// A receiving handle that an owning iterator can receive from.
    pub trait Recv<T> {
        /// The next value, waiting for it; `None` once the queue is closed and drained.
        fn recv_next(&mut self) -> Option<T>;
    }
}
