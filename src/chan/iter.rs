//! Iteration over received values, for both flavors.

use core::fmt;

use super::{Consumer, Receiver};

/// A borrowed receiving end of either flavor.
enum RxRef<'a, T> {
    Mpmc(&'a Receiver<T>),
    Spsc(&'a mut Consumer<T>),
}

impl<T> RxRef<'_, T> {
    fn recv(&mut self) -> Option<T> {
        match self {
            Self::Mpmc(rx) => rx.recv().ok(),
            Self::Spsc(rx) => rx.recv().ok(),
        }
    }

    fn try_recv(&mut self) -> Option<T> {
        match self {
            Self::Mpmc(rx) => rx.try_recv().ok(),
            Self::Spsc(rx) => rx.try_recv().ok(),
        }
    }
}

/// A blocking iterator over received values: each `next` waits for a value and the
/// iteration ends when the queue is closed and drained. Made by `iter()` on a
/// [`Receiver`] or [`Consumer`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, T> {
    rx: RxRef<'a, T>,
}

/// A non-blocking iterator: yields the values available without waiting, and ends at the
/// first moment the queue is empty. Made by `try_iter()`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TryIter<'a, T> {
    rx: RxRef<'a, T>,
}

/// A non-blocking iterator over at most the values queued when it was made (`drain()`), so
/// it ends even while senders keep sending.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Drain<'a, T> {
    rx: RxRef<'a, T>,
    remaining: usize,
}

/// A blocking iterator that owns the receiving end (`for v in rx`).
pub struct IntoIter<T> {
    rx: Owned<T>,
}

enum Owned<T> {
    Mpmc(Receiver<T>),
    Spsc(Consumer<T>),
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv()
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let v = self.rx.try_recv();
        if v.is_none() {
            self.remaining = 0;
        }
        v
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match &mut self.rx {
            Owned::Mpmc(rx) => rx.recv().ok(),
            Owned::Spsc(rx) => rx.recv().ok(),
        }
    }
}

macro_rules! debug_iter {
    ($($name:ident),*) => {$(
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_iter!(Iter, TryIter, Drain);

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// A blocking iterator: waits for each value, ends when the queue is closed and
    /// drained. Blocks the thread: not for async code.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            rx: RxRef::Mpmc(self),
        }
    }

    /// A non-blocking iterator over the values available now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter {
            rx: RxRef::Mpmc(self),
        }
    }

    /// A non-blocking iterator over at most the values queued now.
    pub fn drain(&self) -> Drain<'_, T> {
        Drain {
            remaining: self.len(),
            rx: RxRef::Mpmc(self),
        }
    }
}

impl<T> Consumer<T> {
    /// A blocking iterator: waits for each value, ends when the queue is closed and
    /// drained. Blocks the thread: not for async code.
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter {
            rx: RxRef::Spsc(self),
        }
    }

    /// A non-blocking iterator over the values available now.
    pub fn try_iter(&mut self) -> TryIter<'_, T> {
        TryIter {
            rx: RxRef::Spsc(self),
        }
    }

    /// A non-blocking iterator over at most the values queued now.
    pub fn drain(&mut self) -> Drain<'_, T> {
        Drain {
            remaining: self.len(),
            rx: RxRef::Spsc(self),
        }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter {
            rx: Owned::Mpmc(self),
        }
    }
}

impl<'a, T> IntoIterator for &'a mut Consumer<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Consumer<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter {
            rx: Owned::Spsc(self),
        }
    }
}
