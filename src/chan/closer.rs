//! [`Closer`]: a handle that closes or aborts a queue from anywhere, whatever its item type.

use core::fmt;

use super::future::ClosedFuture;
use super::{Chan, Queue, Side};
use crate::loom::sync::Arc;
use crate::loom::{AtomicBool, Ordering};
use crate::metrics::Metrics;
use crate::wait::list::WaitList;

/// The flag `closed()` futures wait for, and their line. Set (after the flavor closed) by
/// every path that closes a queue.
#[derive(Debug)]
pub(crate) struct Closing {
    closed: AtomicBool,
    pub(crate) waiters: WaitList,
}

impl Closing {
    pub(crate) fn new() -> Self {
        Self {
            closed: AtomicBool::new(false),
            waiters: WaitList::new(),
        }
    }

    /// The queue is closed: wake every `closed()` future.
    pub(crate) fn set(&self) {
        // Ordering: SeqCst: in one total order with the futures' registrations (a SeqCst
        // store) and their re-check (a SeqCst load), as every wait line (see `wait::list`).
        self.closed.store(true, Ordering::SeqCst);
        self.waiters.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        // Ordering: SeqCst, see `set`.
        self.closed.load(Ordering::SeqCst)
    }
}

/// A queue with its item type erased: what a [`Closer`] (and later a metrics registry or a
/// shard router) can do with any queue.
pub(crate) trait Erased: Send + Sync {
    fn close(&self) -> bool;
    fn abort(&self) -> Option<usize>;
    fn is_closed(&self) -> bool;
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn metrics(&self) -> Metrics;
    fn closing(&self) -> &Closing;
    /// The queue's identity (its allocation).
    fn id(&self) -> *const ();
    fn clone_box(&self) -> Box<dyn Erased>;
}

/// A strong reference to a queue, erased.
struct Handle<T, Q>(Arc<Chan<T, Q>>);

impl<T, Q> Erased for Handle<T, Q>
where
    T: Send + 'static,
    Q: Queue<T> + Send + Sync + 'static,
{
    fn close(&self) -> bool {
        self.0.close()
    }

    fn abort(&self) -> Option<usize> {
        self.0.abort(Side::Other)
    }

    fn is_closed(&self) -> bool {
        self.0.queue.is_closed()
    }

    fn len(&self) -> usize {
        self.0.queue.len()
    }

    fn capacity(&self) -> usize {
        self.0.queue.capacity()
    }

    fn metrics(&self) -> Metrics {
        self.0.metrics()
    }

    fn closing(&self) -> &Closing {
        &self.0.closing
    }

    fn id(&self) -> *const () {
        Arc::as_ptr(&self.0) as *const ()
    }

    fn clone_box(&self) -> Box<dyn Erased> {
        Box::new(Handle(self.0.clone()))
    }
}

/// A handle that closes or aborts a queue from anywhere, for a supervisor: made by the
/// `closer()` method of any end, cloneable, and not an end itself (it does not keep the
/// queue open: the queue closes when its ends are gone, as usual).
///
/// It is not generic over the item type, so closers of different queues fit in one `Vec`:
///
/// ```
/// let (tx, rx) = pushpull::mpmc::<u32>(4);
/// let (mut log_tx, _log_rx) = pushpull::spsc::<String>(4);
/// let closers = vec![tx.closer(), log_tx.closer()];
///
/// let _ = tx.send(1).unwrap();
/// for c in &closers {
///     c.close();
/// }
/// assert!(tx.send(2).is_err());
/// assert!(log_tx.send("late".into()).is_err());
/// assert_eq!(rx.recv(), Ok(1)); // drain
/// assert!(rx.recv().is_err());
/// ```
pub struct Closer {
    queue: Box<dyn Erased>,
}

impl Closer {
    pub(crate) fn new<T, Q>(chan: Arc<Chan<T, Q>>) -> Self
    where
        T: Send + 'static,
        Q: Queue<T> + Send + Sync + 'static,
    {
        Self {
            queue: Box::new(Handle(chan)),
        }
    }

    /// Closes the queue (drain): sends fail from now on, receivers receive what is queued
    /// and then see `Closed`. Wakes every waiting party. Returns `true` if this call closed
    /// the queue.
    pub fn close(&self) -> bool {
        self.queue.close()
    }

    /// Closes the queue and discards every queued value.
    ///
    /// Returns how many this call discarded when it can know at once: always on an MPMC
    /// queue. On an SPSC queue only the consumer takes values out (that keeps its receive
    /// free of read-modify-writes), so the consumer discards them at its next call or when it
    /// is dropped, and this returns `None`; they are counted in
    /// [`Metrics::discarded`](crate::Metrics::discarded) once it has.
    pub fn abort(&self) -> Option<usize> {
        self.queue.abort()
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// The number of queued values.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most values the queue holds.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// A snapshot of the queue's counters.
    pub fn metrics(&self) -> Metrics {
        self.queue.metrics()
    }

    /// A future that resolves when the queue is closed.
    pub fn closed(&self) -> ClosedFuture<'_> {
        ClosedFuture::new(self.queue.closing())
    }

    /// Whether `self` and `other` close the same queue.
    pub fn same_queue(&self, other: &Closer) -> bool {
        self.queue.id() == other.queue.id()
    }
}

impl Clone for Closer {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone_box(),
        }
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
