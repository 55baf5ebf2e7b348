//! [`Permit`]: room reserved in a queue.

use core::fmt;
use core::marker::PhantomData;

use super::flavor::{Flavor, Mpmc};
use super::poll::Tx;
use super::Sent;
use crate::error::SendError;

/// Room for one value, reserved by `reserve`, `try_reserve` or `reserve_async`.
///
/// A permit reserves *room*, not a place in line (tokio's semantics): its value takes its
/// place in FIFO order when [`send`](Self::send) is called, and values sent meanwhile by
/// others are received before it. Values plus outstanding permits never exceed the
/// capacity: while a permit lives, other sends see one less room.
///
/// - `send` does not wait and cannot fail for lack of room. It fails, handing the value
///   back, only if the queue was aborted (or every receiver is gone) since the reservation.
///   After a drain-[`close`](crate::Sender::close) it still succeeds, and receivers report
///   `Closed` only once every outstanding permit has sent or been dropped.
/// - Dropping a permit unused gives its room back.
/// - A permit leaked with `mem::forget` costs its one unit of room for the life of the
///   queue, and delays `Closed` after a close forever (as with tokio); receivers still
///   receive every value sent after it.
/// - Under [`DropOldest`](crate::Policy::DropOldest), an MPMC queue can always make room
///   by evicting, so its permits reserve nothing and `send` may evict (it returns
///   [`Sent::Evicted`]); an SPSC permit holds room under every policy.
/// - At capacity 0 (rendezvous), a permit speaks for one waiting receiver: other sends see
///   one receiver fewer, and the permit's send puts the value in transit for a waiting
///   receiver to take (if they all gave up meanwhile, the next receive takes it).
///
/// ```
/// let (tx, rx) = pushpull::mpmc::<u32>(1);
/// let permit = tx.reserve().unwrap(); // the one room is now ours
/// assert!(tx.try_send(1).is_err());  // full, for everyone else
/// let _ = permit.send(2).unwrap();
/// assert_eq!(rx.recv(), Ok(2));
/// ```
#[must_use = "a permit holds room in the queue until it is used or dropped"]
pub struct Permit<'a, T, F: Flavor = Mpmc> {
    tx: Tx<'a, T, F::Queue<T>>,
    /// Holds a reservation (until sent).
    armed: bool,
    /// Made from the sending end's borrow (`&'a mut Producer` for SPSC).
    _end: PhantomData<&'a mut ()>,
}

impl<'a, T, F: Flavor> Permit<'a, T, F> {
    /// # Safety
    ///
    /// The caller made a reservation in this queue and hands it to the permit; for SPSC,
    /// the permit is made from the producer's exclusive borrow for `'a`.
    pub(crate) unsafe fn new(tx: Tx<'a, T, F::Queue<T>>) -> Self {
        Self {
            tx,
            armed: true,
            _end: PhantomData,
        }
    }

    /// Sends `value` into the reserved room. Does not wait; fails only after an abort (see
    /// the type's docs), handing the value back in [`SendError::Closed`].
    pub fn send(mut self, value: T) -> Result<Sent<T>, SendError<T>> {
        // A permit is armed until this call (only `Drop` runs after it).
        debug_assert!(self.armed);
        self.armed = false;
        // SAFETY: the permit holds a reservation of this queue, and is the only user of the
        // sending side (see `new`).
        unsafe { self.tx.send_reserved(value) }.map_err(SendError::Closed)
    }
}

impl<T, F: Flavor> Drop for Permit<'_, T, F> {
    fn drop(&mut self) {
        if self.armed {
            // SAFETY: as in `send`.
            unsafe { self.tx.release_reserved() };
        }
    }
}

impl<T, F: Flavor> fmt::Debug for Permit<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}
