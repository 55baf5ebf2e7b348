//! Error types. Every error of a send hands the value back.
//!
//! `Debug` prints the variant without the value (`Full(..)`), so it does not require
//! `T: Debug`; `Display` is a lowercase sentence without the value.

use core::fmt;

/// Implements `Debug` (value elided), `Display` and `std::error::Error` for an error enum
/// whose every variant carries the unsent value, plus `into_inner`.
macro_rules! value_error {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $msg:literal,)+ }) => {
        $(#[$meta])*
        #[derive(PartialEq, Eq, Clone, Copy)]
        pub enum $name<T> {
            $($(#[$vmeta])* $variant(T),)+
        }

        impl<T> $name<T> {
            /// Returns the value that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    $(Self::$variant(value) => value,)+
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)+
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str($msg),)+
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

value_error! {
    /// Why [`try_send`](crate::Sender::try_send) did not queue the value. It never waits,
    /// whatever the queue's [`Policy`](crate::Policy).
    TrySendError {
        /// The queue is full (at capacity 0: no receiver is waiting to take the value).
        Full => "sending on a full queue",
        /// The queue is closed.
        Closed => "sending on a closed queue",
    }
}

value_error! {
    /// Why [`send`](crate::Sender::send) did not queue the value.
    SendError {
        /// The queue is closed.
        Closed => "sending on a closed queue",
        /// The queue is full and its policy is [`Reject`](crate::Policy::Reject).
        Overloaded => "queue overloaded: send rejected",
    }
}

value_error! {
    /// Why a send with a deadline did not queue the value.
    SendTimeoutError {
        /// The deadline passed while the queue stayed full.
        Timeout => "timed out waiting for room in the queue",
        /// The queue is closed.
        Closed => "sending on a closed queue",
        /// The queue is full and its policy is [`Reject`](crate::Policy::Reject).
        Overloaded => "queue overloaded: send rejected",
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        match err {
            SendError::Closed(v) => Self::Closed(v),
            SendError::Overloaded(v) => Self::Overloaded(v),
        }
    }
}

impl<T> From<TrySendError<T>> for SendTimeoutError<T> {
    /// `Full` becomes `Timeout`: the queue was still full when the wait ended.
    fn from(err: TrySendError<T>) -> Self {
        match err {
            TrySendError::Full(v) => Self::Timeout(v),
            TrySendError::Closed(v) => Self::Closed(v),
        }
    }
}

/// Why [`try_recv`](crate::Receiver::try_recv) returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// The queue is empty (at capacity 0: no sender is waiting).
    Empty,
    /// The queue is closed and has nothing left to receive.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "receiving on an empty queue",
            Self::Closed => "receiving on a closed and empty queue",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// A blocking or async receive found the queue closed with nothing left to receive.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and empty queue")
    }
}

impl std::error::Error for RecvError {}

/// Why a receive with a deadline returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// The deadline passed while the queue stayed empty.
    Timeout,
    /// The queue is closed and has nothing left to receive.
    Closed,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out waiting for a value",
            Self::Closed => "receiving on a closed and empty queue",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        Self::Closed
    }
}

/// A queue configuration that cannot be built. Returned by the `try_` constructors before
/// anything is allocated; the other constructors panic with the same message.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct BuildError {
    kind: BuildErrorKind,
}

/// What was wrong with the configuration.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// An SPSC queue needs room for at least one item.
    ZeroCapacity,
    /// The capacity is larger than the queue's index arithmetic can count.
    CapacityOverflow {
        /// The requested capacity.
        capacity: usize,
        /// The largest capacity this queue accepts.
        max: usize,
    },
    /// [`DropOldest`](crate::Policy::DropOldest) on a rendezvous queue (capacity 0), which
    /// never holds a value to evict.
    DropOldestRendezvous,
    /// The slots for this capacity do not fit in memory (their size overflows `isize`, or
    /// the allocator refused them).
    OutOfMemory {
        /// The requested capacity.
        capacity: usize,
    },
}

impl BuildError {
    pub(crate) const fn new(kind: BuildErrorKind) -> Self {
        Self { kind }
    }

    /// What was wrong.
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BuildErrorKind::ZeroCapacity => {
                f.write_str("an spsc queue needs a capacity of at least 1")
            }
            BuildErrorKind::CapacityOverflow { capacity, max } => write!(
                f,
                "capacity {capacity} is too large: this queue holds at most {max} items"
            ),
            BuildErrorKind::DropOldestRendezvous => f.write_str(
                "drop-oldest needs a capacity of at least 1: a rendezvous queue holds nothing to evict",
            ),
            BuildErrorKind::OutOfMemory { capacity } => {
                write!(f, "the slots for capacity {capacity} do not fit in memory")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`Admission::try_acquire`](crate::Admission::try_acquire) gave no permit.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryAcquireError {
    /// Every permit is taken: the work is over its limit (the library's HTTP 503). Counted
    /// in [`AdmissionMetrics::refused`](crate::AdmissionMetrics::refused).
    Overloaded,
    /// The admission is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Overloaded => "admission overloaded: every permit is taken",
            Self::Closed => "admission closed",
        })
    }
}

impl std::error::Error for TryAcquireError {}

/// A waiting [`Admission::acquire`](crate::Admission::acquire) found the admission closed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct AcquireError;

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("admission closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why an acquire with a deadline gave no permit.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum AcquireTimeoutError {
    /// The deadline passed while every permit stayed taken.
    Timeout,
    /// The admission is closed.
    Closed,
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out waiting for an admission permit",
            Self::Closed => "admission closed",
        })
    }
}

impl std::error::Error for AcquireTimeoutError {}

impl From<AcquireError> for AcquireTimeoutError {
    fn from(_: AcquireError) -> Self {
        Self::Closed
    }
}
