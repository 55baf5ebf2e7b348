//! Iteration over received values, written once for both flavors.

use core::fmt;
use core::marker::PhantomData;

use super::flavor::{sealed::Recv, Flavor, Mpmc};
use super::poll::Rx;

/// A blocking iterator over received values: each `next` waits for a value, and the
/// iteration ends when the queue is closed and drained. Made by `iter()` on a
/// [`Receiver`](crate::Receiver) or [`Consumer`](crate::Consumer). Blocks the thread: not
/// for async code.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, T, F: Flavor = Mpmc> {
    rx: Rx<'a, T, F::Queue<T>>,
    _end: PhantomData<&'a mut ()>,
}

/// A non-blocking iterator: yields the values available without waiting, and ends at the
/// first moment the queue is empty. Made by `try_iter()`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TryIter<'a, T, F: Flavor = Mpmc> {
    rx: Rx<'a, T, F::Queue<T>>,
    _end: PhantomData<&'a mut ()>,
}

/// A non-blocking iterator over at most the values queued when it was made (`drain()`), so
/// it ends even while senders keep sending.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Drain<'a, T, F: Flavor = Mpmc> {
    rx: Rx<'a, T, F::Queue<T>>,
    remaining: usize,
    _end: PhantomData<&'a mut ()>,
}

/// A blocking iterator that owns the receiving end (`for v in rx`).
pub struct IntoIter<T, F: Flavor = Mpmc> {
    rx: F::Receiver<T>,
}

impl<'a, T, F: Flavor> Iter<'a, T, F> {
    /// # Safety
    ///
    /// For SPSC, made from the consumer's exclusive borrow for `'a`.
    pub(crate) unsafe fn new(rx: Rx<'a, T, F::Queue<T>>) -> Self {
        Self {
            rx,
            _end: PhantomData,
        }
    }
}

impl<'a, T, F: Flavor> TryIter<'a, T, F> {
    /// # Safety
    ///
    /// As for [`Iter::new`].
    pub(crate) unsafe fn new(rx: Rx<'a, T, F::Queue<T>>) -> Self {
        Self {
            rx,
            _end: PhantomData,
        }
    }
}

impl<'a, T, F: Flavor> Drain<'a, T, F> {
    /// # Safety
    ///
    /// As for [`Iter::new`].
    pub(crate) unsafe fn new(rx: Rx<'a, T, F::Queue<T>>, remaining: usize) -> Self {
        Self {
            rx,
            remaining,
            _end: PhantomData,
        }
    }
}

impl<T, F: Flavor> IntoIter<T, F> {
    pub(crate) fn new(rx: F::Receiver<T>) -> Self {
        Self { rx }
    }
}

impl<T, F: Flavor> Iterator for Iter<'_, T, F> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        // SAFETY: the iterator is the only user of the receiving side (see `new`).
        unsafe { self.rx.recv_blocking(None) }.ok()
    }
}

impl<T, F: Flavor> Iterator for TryIter<'_, T, F> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        // SAFETY: as for `Iter`.
        unsafe { self.rx.try_recv() }.ok()
    }
}

impl<T, F: Flavor> Iterator for Drain<'_, T, F> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // SAFETY: as for `Iter`.
        let v = unsafe { self.rx.try_recv() }.ok();
        if v.is_none() {
            self.remaining = 0;
        }
        v
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl<T, F: Flavor> Iterator for IntoIter<T, F> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv_next()
    }
}

impl<T, F: Flavor> fmt::Debug for Iter<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl<T, F: Flavor> fmt::Debug for TryIter<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

impl<T, F: Flavor> fmt::Debug for Drain<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<T, F: Flavor> fmt::Debug for IntoIter<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}
