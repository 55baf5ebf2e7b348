//! Sending and receiving in batches.
//!
//! Sending: `try_send_batch` and `send_batch` take values from the front of the caller's
//! `Vec`, applying the queue's policy to each as a single send would, and leave in the `Vec`
//! what they did not send; the returned [`BatchSent`] says what happened to the rest (how
//! many were queued, dropped as newest, which were evicted, and why the batch stopped).
//! `try_send_iter` and `send_iter` do the same from any iterator, pulling one value at a
//! time, and hand back the value that stopped the batch.
//!
//! Receiving: what is ready now (`try_recv_batch`), at least one value and then what is
//! ready (`recv_many`, as tokio's), and *linger*: up to `max` values or until a deadline
//! counted from the call, whichever comes first (`recv_batch_timeout`,
//! `recv_batch_deadline`, `recv_batch_async`).
//!
//! Every received batch goes into the caller's `Vec` (appended; nothing it held is touched),
//! never into memory the queue reuses. The methods return how many values they appended. A
//! batch ends early when the queue is closed and drained: the values that arrived are
//! returned, and the next call reports `Closed`.
//!
//! Each value is sent or taken as a single send or receive does it, so every contract of
//! those holds for each (FIFO, the policies and their counters, linearizable close, a
//! dropped future never loses a value: a batch future dropped midway leaves the values it
//! took in the caller's `Vec`). A value's destructor that panics inside a batch (one dropped
//! under `DropNewest`) unwinds through it: the values sent so far are queued, and the values
//! not yet sent stay in the caller's `Vec`. A batch send takes values from the `Vec` in
//! place: the `Vec` keeps its buffer, so a caller that refills it allocates nothing.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::flavor::{Flavor, Mpmc, Spsc};
use super::future::RecvFuture;
use super::poll::{Rx, Tx};
use super::{deadline_after, Queue, Sent};
use crate::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError};
use crate::metrics::Count;
use crate::{Consumer, Producer, Receiver, Sender};

/// What a batch send did. The values it did not send are still in the caller's `Vec`, in
/// order; [`stopped`](Self::stopped) says why.
#[must_use = "the values not sent are still in the Vec; `evicted` holds values handed back"]
#[non_exhaustive]
pub struct BatchSent<T> {
    /// Values that entered the queue (those that evicted an older one included).
    pub sent: usize,
    /// Values dropped at the door under [`DropNewest`](crate::Policy::DropNewest).
    pub dropped: usize,
    /// Values evicted to make room under [`DropOldest`](crate::Policy::DropOldest), oldest
    /// first, handed back.
    pub evicted: Vec<T>,
    /// Why the batch stopped before the end of the `Vec` (or iterator), if it did.
    pub stopped: Option<BatchStop>,
    /// From an iterator (`try_send_iter`, `send_iter`): the value that stopped the batch,
    /// handed back (the values after it are still in the iterator). Always `None` from a
    /// `Vec`, where that value stays in the `Vec`.
    pub unsent: Option<T>,
}

impl<T> fmt::Debug for BatchSent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSent")
            .field("sent", &self.sent)
            .field("dropped", &self.dropped)
            .field("evicted", &self.evicted.len())
            .field("stopped", &self.stopped)
            .field("unsent", &self.unsent.is_some())
            .finish()
    }
}

/// Why a batch send stopped with values left in the caller's `Vec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchStop {
    /// The queue is full and its policy is [`Block`](crate::Policy::Block) (only
    /// `try_send_batch`, which never waits).
    Full,
    /// The queue is full and its policy is [`Reject`](crate::Policy::Reject): the first
    /// value left in the `Vec` was rejected (and counted).
    Overloaded,
    /// The queue is closed.
    Closed,
}

/// Takes values from the front of a `Vec` one at a time without moving the others or
/// giving up its buffer (a batch send's caller refills the same `Vec`): the values not
/// taken stay in the `Vec`, moved to its front, and a value handed back by
/// [`keep`](Front::keep) goes in front of them.
///
/// While it lives, the `Vec`'s length is 0 and it owns positions `next..len` of the buffer;
/// `0..next` have been taken. On drop (at the end, or while a panic unwinds through the
/// batch) it moves what it still owns to the front and gives the `Vec` its length back, so
/// nothing is dropped twice or lost.
struct Front<'v, T> {
    vec: &'v mut Vec<T>,
    len: usize,
    next: usize,
}

impl<'v, T> Front<'v, T> {
    fn new(vec: &'v mut Vec<T>) -> Self {
        let len = vec.len();
        // SAFETY: 0 is within the capacity; the `len` values stay initialized in the buffer
        // and are owned by this guard from now on (see the type's docs).
        unsafe { vec.set_len(0) };
        Self { vec, len, next: 0 }
    }

    /// The next value, moved out.
    fn take(&mut self) -> Option<T> {
        if self.next == self.len {
            return None;
        }
        // SAFETY: `next < len`: the position holds an initialized value this guard owns, and
        // it is read once (`next` moves past it).
        let value = unsafe { core::ptr::read(self.vec.as_ptr().add(self.next)) };
        self.next += 1;
        Some(value)
    }

    /// Puts `value` back in front of the values not taken (the batch stops).
    fn keep(&mut self, value: T) {
        debug_assert!(self.next > 0, "a value was taken");
        self.next -= 1;
        // SAFETY: position `next` was taken (moved out), so it is free to write.
        unsafe { core::ptr::write(self.vec.as_mut_ptr().add(self.next), value) };
    }
}

impl<T> Drop for Front<'_, T> {
    fn drop(&mut self) {
        let rest = self.len - self.next;
        let base = self.vec.as_mut_ptr();
        // SAFETY: positions `next..len` hold the values this guard owns; moved to the front
        // (`copy` allows the overlap), the `Vec` owns them again with its length set to
        // their number; the positions beyond are moved-out copies the `Vec` will not read.
        unsafe {
            core::ptr::copy(base.add(self.next), base, rest);
            self.vec.set_len(rest);
        }
    }
}

/// Where a batch send takes its values from, and where a value that could not go goes back.
trait Source<T> {
    fn take(&mut self) -> Option<T>;
    /// The batch stops: `value`, taken last, was not sent.
    fn keep(&mut self, value: T);
    /// How many values a run may take at once without running the caller's code (0: send
    /// one at a time).
    fn run_len(&self) -> usize {
        0
    }
    /// A run failed: `values`, taken last, go back in front, in order.
    fn keep_run(&mut self, values: Vec<T>) {
        for v in values.into_iter().rev() {
            self.keep(v);
        }
    }
}

impl<T> Source<T> for Front<'_, T> {
    fn take(&mut self) -> Option<T> {
        Front::take(self)
    }
    fn keep(&mut self, value: T) {
        Front::keep(self, value);
    }
    fn run_len(&self) -> usize {
        self.len - self.next
    }
}

/// A caller's iterator; the value that stopped the batch is handed back in the result.
struct FromIter<I: Iterator> {
    iter: I,
    unsent: Option<I::Item>,
}

impl<I: Iterator> Source<I::Item> for FromIter<I> {
    fn take(&mut self) -> Option<I::Item> {
        self.iter.next()
    }
    fn keep(&mut self, value: I::Item) {
        self.unsent = Some(value);
    }
}

impl<'a, T, Q: Queue<T>> Tx<'a, T, Q> {
    /// Sends from the front of `values` (see the module docs); with `wait`, waits for room
    /// under `Block`.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the sending side.
    unsafe fn send_batch(&self, values: &mut Vec<T>, wait: bool) -> BatchSent<T> {
        let mut front = Front::new(values);
        // SAFETY: forwarded.
        unsafe { self.send_from(&mut front, wait) }
    }

    /// Sends the values of `values` in order (see [`Sender::try_send_iter`]).
    ///
    /// # Safety
    ///
    /// As for [`send_batch`](Self::send_batch).
    unsafe fn send_iter<I: IntoIterator<Item = T>>(&self, values: I, wait: bool) -> BatchSent<T> {
        let mut source = FromIter {
            iter: values.into_iter(),
            unsent: None,
        };
        // SAFETY: forwarded.
        let mut out = unsafe { self.send_from(&mut source, wait) };
        out.unsent = source.unsent;
        out
    }

    /// The front of a batch that fits now, sent in one step (SPSC: written in place and
    /// published at once; MPMC: a run of positions claimed at once). Returns how many went;
    /// the rest is left to the value-by-value loop, which applies the policy.
    ///
    /// # Safety
    ///
    /// As for [`send_batch`](Self::send_batch).
    unsafe fn send_run(&self, source: &mut impl Source<T>) -> usize {
        let max = source.run_len();
        if max < 2 {
            return 0;
        }
        let credits = match self.gate {
            // SAFETY: forwarded (SPSC: the only producer).
            Some(g) if Q::SINGLE_PRODUCER => match unsafe { g.take_run(max) } {
                Ok(n) => n,
                Err(_) => return 0,
            },
            Some(_) => return 0,
            None => max,
        };
        // SAFETY: forwarded. `take` runs no caller code (`run_len` said so) and is called
        // at most `credits <= run_len` times, so it never fails or panics.
        let sent = unsafe {
            self.chan.queue.send_run(credits, || {
                source.take().expect("a run takes at most `run_len` values")
            })
        };
        let (n, back) = match sent {
            Ok(n) => (n, None),
            Err(values) => (0, Some(values)),
        };
        if let Some(g) = self.gate {
            // SAFETY: forwarded (SPSC: `take_run` succeeded above).
            unsafe { g.give_back_run(credits - n) };
        }
        if let Some(values) = back {
            source.keep_run(values);
        }
        n
    }

    /// # Safety
    ///
    /// As for [`send_batch`](Self::send_batch).
    unsafe fn send_from(&self, source: &mut impl Source<T>, wait: bool) -> BatchSent<T> {
        let mut out = BatchSent {
            sent: 0,
            dropped: 0,
            evicted: Vec::new(),
            stopped: None,
            unsent: None,
        };
        let front = source;
        // SAFETY: forwarded.
        out.sent = unsafe { self.send_run(front) };
        while let Some(value) = front.take() {
            // SAFETY: forwarded.
            let done = match unsafe { self.send_once(value) } {
                Ok(done) => done,
                Err(value) if wait => {
                    // SAFETY: forwarded.
                    unsafe { self.send_blocking(value, None) }.map_err(|e| match e {
                        SendTimeoutError::Closed(v) | SendTimeoutError::Timeout(v) => {
                            SendError::Closed(v)
                        }
                        SendTimeoutError::Overloaded(v) => SendError::Overloaded(v),
                    })
                }
                Err(value) => {
                    front.keep(value);
                    out.stopped = Some(BatchStop::Full);
                    break;
                }
            };
            match done {
                Ok(Sent::Queued) => out.sent += 1,
                Ok(Sent::Evicted(old)) => {
                    out.sent += 1;
                    out.evicted.push(old);
                }
                Ok(Sent::DroppedNewest) => out.dropped += 1,
                Err(SendError::Closed(value)) => {
                    front.keep(value);
                    out.stopped = Some(BatchStop::Closed);
                    break;
                }
                Err(SendError::Overloaded(value)) => {
                    front.keep(value);
                    out.stopped = Some(BatchStop::Overloaded);
                    break;
                }
            }
        }
        if out.sent > 0 {
            self.counters.add(Count::Batch);
        }
        out
    }
}

impl<T> Sender<T> {
    /// Sends values from the front of `values` without waiting, each under the queue's
    /// policy as [`send`](Self::send) would (dropped, evicted or rejected when full), and
    /// stops at the first that cannot go (`Full` under `Block`, `Overloaded` under `Reject`,
    /// or `Closed`), leaving it and the rest in `values`.
    ///
    /// ```
    /// use pushpull::BatchStop;
    ///
    /// let (tx, rx) = pushpull::mpmc(3);
    /// let mut values = vec![1, 2, 3, 4, 5];
    /// let done = tx.try_send_batch(&mut values);
    /// assert_eq!((done.sent, done.stopped), (3, Some(BatchStop::Full)));
    /// assert_eq!(values, [4, 5]); // not sent: still yours
    /// # drop(rx);
    /// ```
    pub fn try_send_batch(&self, values: &mut Vec<T>) -> BatchSent<T> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_batch(values, false) }
    }

    /// Sends every value of `values` in order, each as [`send`](Self::send) would (waiting
    /// for room under `Block`); stops only at `Overloaded` (`Reject`) or `Closed`, leaving
    /// that value and the rest in `values`. Blocks the thread.
    pub fn send_batch(&self, values: &mut Vec<T>) -> BatchSent<T> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_batch(values, true) }
    }

    /// Sends the values of `values` in order without waiting, as
    /// [`try_send_batch`](Self::try_send_batch) does, pulling each from the iterator only
    /// when the previous one has gone. The value that stopped the batch comes back in
    /// [`BatchSent::unsent`]; the values after it were never pulled (pass `&mut iter` to keep
    /// them). A panic inside the iterator loses and duplicates nothing: what was sent before
    /// is queued, nothing else was taken.
    ///
    /// ```
    /// use pushpull::BatchStop;
    ///
    /// let (tx, rx) = pushpull::mpmc(3);
    /// let mut values = 1..=5;
    /// let done = tx.try_send_iter(&mut values);
    /// assert_eq!((done.sent, done.stopped), (3, Some(BatchStop::Full)));
    /// assert_eq!(done.unsent, Some(4)); // pulled, not sent: handed back
    /// assert_eq!(values.next(), Some(5)); // never pulled
    /// # drop(rx);
    /// ```
    pub fn try_send_iter<I: IntoIterator<Item = T>>(&self, values: I) -> BatchSent<T> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_iter(values, false) }
    }

    /// Sends the values of `values` in order, each as [`send`](Self::send) would (waiting
    /// for room under `Block`); stops only at `Overloaded` or `Closed`, handing that value
    /// back in [`BatchSent::unsent`]. Blocks the thread.
    pub fn send_iter<I: IntoIterator<Item = T>>(&self, values: I) -> BatchSent<T> {
        // SAFETY: MPMC: any thread may send.
        unsafe { self.tx().send_iter(values, true) }
    }
}

impl<T> Producer<T> {
    /// Sends from the front of `values` without waiting. As [`Sender::try_send_batch`].
    pub fn try_send_batch(&mut self, values: &mut Vec<T>) -> BatchSent<T> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_batch(values, false) }
    }

    /// Sends every value of `values`, waiting for room under `Block`. As
    /// [`Sender::send_batch`].
    pub fn send_batch(&mut self, values: &mut Vec<T>) -> BatchSent<T> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_batch(values, true) }
    }

    /// Sends the values of `values` without waiting. As [`Sender::try_send_iter`].
    pub fn try_send_iter<I: IntoIterator<Item = T>>(&mut self, values: I) -> BatchSent<T> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_iter(values, false) }
    }

    /// Sends the values of `values`, waiting for room under `Block`. As
    /// [`Sender::send_iter`].
    pub fn send_iter<I: IntoIterator<Item = T>>(&mut self, values: I) -> BatchSent<T> {
        // SAFETY: `&mut self` on the only producer.
        unsafe { self.tx().send_iter(values, true) }
    }
}

/// What taking the ready values came to.
struct Ready {
    taken: usize,
    closed: bool,
}

impl<'a, T, Q: Queue<T>> Rx<'a, T, Q> {
    /// Counts a batch that took values.
    fn counted<E>(&self, r: Result<usize, E>) -> Result<usize, E> {
        if matches!(r, Ok(n) if n > 0) {
            self.chan.counters.count_batch_received();
        }
        r
    }

    /// Appends up to `max` values that are ready now.
    ///
    /// # Safety
    ///
    /// SPSC: the caller is the only thread using the receiving side.
    unsafe fn take_ready(&self, buf: &mut Vec<T>, max: usize) -> Ready {
        // SAFETY: forwarded.
        let (taken, closed) = unsafe { self.chan.queue.try_recv_many(buf, max) };
        Ready { taken, closed }
    }

    /// # Safety
    ///
    /// As for [`take_ready`](Self::take_ready).
    unsafe fn try_recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        if max == 0 {
            return Ok(0);
        }
        // SAFETY: forwarded.
        self.counted(match unsafe { self.take_ready(buf, max) } {
            Ready { taken: 0, closed } => Err(if closed {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            }),
            Ready { taken, .. } => Ok(taken),
        })
    }

    /// The blocking batch: waits for a first value (until `deadline`), then, with `linger`,
    /// for more until `max` or the deadline; without, takes what is ready.
    ///
    /// # Safety
    ///
    /// As for [`take_ready`](Self::take_ready).
    unsafe fn recv_batch_blocking(
        &self,
        buf: &mut Vec<T>,
        max: usize,
        deadline: Option<Instant>,
        linger: bool,
    ) -> Result<usize, RecvTimeoutError> {
        // SAFETY: forwarded.
        self.counted(unsafe { self.recv_batch_inner(buf, max, deadline, linger) })
    }

    /// # Safety
    ///
    /// As for [`take_ready`](Self::take_ready).
    unsafe fn recv_batch_inner(
        &self,
        buf: &mut Vec<T>,
        max: usize,
        deadline: Option<Instant>,
        linger: bool,
    ) -> Result<usize, RecvTimeoutError> {
        let mut n = 0;
        while n < max {
            // SAFETY: forwarded.
            let ready = unsafe { self.take_ready(buf, max - n) };
            n += ready.taken;
            if n == max || (n > 0 && !linger) {
                break;
            }
            if ready.closed {
                return if n > 0 {
                    Ok(n)
                } else {
                    Err(RecvTimeoutError::Closed)
                };
            }
            // SAFETY: forwarded.
            match unsafe { self.recv_blocking(deadline) } {
                Ok(v) => {
                    buf.push(v);
                    n += 1;
                }
                Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
            }
        }
        Ok(n)
    }
}

/// The future of `recv_batch_async` (and, without a deadline, of `recv_many_async`): up to
/// `max` values into the caller's `Vec`. Dropping it midway loses nothing: the values taken
/// so far are in the `Vec`, the rest in the queue.
#[must_use = "futures do nothing unless polled"]
pub struct RecvBatch<'a, T, D, F: Flavor = Mpmc> {
    rx: Rx<'a, T, F::Queue<T>>,
    recv: Option<RecvFuture<'a, T, F>>,
    buf: &'a mut Vec<T>,
    max: usize,
    taken: usize,
    /// Linger until this completes (`None`: no linger, as `recv_many`).
    deadline: Option<D>,
    done: bool,
}

/// The future of `recv_many_async`: at least one value, then what is ready, up to `max`.
pub type RecvMany<'a, T, F = Mpmc> = RecvBatch<'a, T, core::future::Pending<()>, F>;

impl<T, D, F: Flavor> Unpin for RecvBatch<'_, T, D, F> {}

impl<'a, T, D, F: Flavor> RecvBatch<'a, T, D, F> {
    /// # Safety
    ///
    /// For SPSC, made from the consumer's exclusive borrow for `'a`.
    unsafe fn new(
        rx: Rx<'a, T, F::Queue<T>>,
        buf: &'a mut Vec<T>,
        max: usize,
        deadline: Option<D>,
    ) -> Self {
        Self {
            rx,
            recv: None,
            buf,
            max,
            taken: 0,
            deadline,
            done: false,
        }
    }
}

impl<T, D: Future<Output = ()> + Unpin, F: Flavor> Future for RecvBatch<'_, T, D, F> {
    type Output = Result<usize, RecvTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "RecvBatch polled after completion");
        let result = this.poll_batch(cx);
        this.done = result.is_ready();
        result.map(|r| this.rx.counted(r))
    }
}

impl<T, D: Future<Output = ()> + Unpin, F: Flavor> RecvBatch<'_, T, D, F> {
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, RecvTimeoutError>> {
        let this = self;
        let linger = this.deadline.is_some();
        let done = |n: usize, e: RecvTimeoutError| Poll::Ready(if n > 0 { Ok(n) } else { Err(e) });
        while this.taken < this.max {
            if this.recv.is_none() {
                // SAFETY: this future is the only user of the receiving side (see `new`),
                // and no receive future of its own is alive here.
                let ready = unsafe { this.rx.take_ready(this.buf, this.max - this.taken) };
                this.taken += ready.taken;
                if this.taken == this.max || (this.taken > 0 && !linger) {
                    break;
                }
                if ready.closed {
                    return done(this.taken, RecvTimeoutError::Closed);
                }
                // SAFETY: as above; the receive future is the one user while it lives.
                this.recv = Some(unsafe { RecvFuture::new(this.rx) });
            }
            let recv = this.recv.as_mut().expect("made above");
            match Pin::new(recv).poll(cx) {
                Poll::Ready(Ok(v)) => {
                    this.recv = None;
                    this.buf.push(v);
                    this.taken += 1;
                }
                Poll::Ready(Err(RecvError)) => {
                    this.recv = None;
                    return done(this.taken, RecvTimeoutError::Closed);
                }
                Poll::Pending => {
                    let Some(deadline) = this.deadline.as_mut() else {
                        return Poll::Pending;
                    };
                    if Pin::new(deadline).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The deadline: leave the line, with one last attempt.
                    let mut recv = this.recv.take().expect("polled above");
                    match recv.give_up() {
                        Ok(v) => {
                            this.buf.push(v);
                            this.taken += 1;
                            // SAFETY: as above (the receive future is done).
                            let ready =
                                unsafe { this.rx.take_ready(this.buf, this.max - this.taken) };
                            this.taken += ready.taken;
                            return Poll::Ready(Ok(this.taken));
                        }
                        Err(e) => return done(this.taken, e),
                    }
                }
            }
        }
        Poll::Ready(Ok(this.taken))
    }
}

impl<T, D, F: Flavor> fmt::Debug for RecvBatch<'_, T, D, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBatch")
            .field("max", &self.max)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Appends to `buf` up to `max` values that are queued now; never waits. Returns how
    /// many (at least one), `Empty` if none is ready, `Closed` once the queue is closed and
    /// drained. `max == 0` returns `Ok(0)`.
    ///
    /// ```
    /// let (tx, rx) = pushpull::mpmc(8);
    /// for i in 0..5 {
    ///     let _ = tx.send(i).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.try_recv_batch(&mut batch, 3), Ok(3));
    /// assert_eq!(rx.try_recv_batch(&mut batch, 3), Ok(2));
    /// assert_eq!(batch, [0, 1, 2, 3, 4]);
    /// ```
    pub fn try_recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { self.rx().try_recv_batch(buf, max) }
    }

    /// Waits for at least one value, then appends to `buf` what is ready, up to `max` (as
    /// tokio's `recv_many`). `Err` once the queue is closed and drained; `max == 0` returns
    /// `Ok(0)`. Blocks the thread: use [`recv_many_async`](Self::recv_many_async) in async
    /// code.
    pub fn recv_many(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { self.rx().recv_batch_blocking(buf, max, None, false) }.map_err(|_| RecvError)
    }

    /// Linger: appends to `buf` up to `max` values, waiting for more until `linger` has
    /// passed (counted from the call), whichever comes first. Returns how many arrived,
    /// `Timeout` if none did, `Closed` once the queue is closed and drained (a batch that
    /// the close cut short is returned first).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = pushpull::mpmc(8);
    /// let _ = tx.send(1).unwrap();
    /// let mut batch = Vec::new();
    /// // One value is there; the batch waits up to 5 ms for three more, then returns it.
    /// assert_eq!(rx.recv_batch_timeout(&mut batch, 4, Duration::from_millis(5)), Ok(1));
    /// assert_eq!(batch, [1]);
    /// ```
    pub fn recv_batch_timeout(
        &self,
        buf: &mut Vec<T>,
        max: usize,
        linger: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe {
            self.rx()
                .recv_batch_blocking(buf, max, deadline_after(linger), true)
        }
    }

    /// Linger until `deadline`: as [`recv_batch_timeout`](Self::recv_batch_timeout).
    pub fn recv_batch_deadline(
        &self,
        buf: &mut Vec<T>,
        max: usize,
        deadline: Instant,
    ) -> Result<usize, RecvTimeoutError> {
        // SAFETY: MPMC: any thread may receive.
        unsafe {
            self.rx()
                .recv_batch_blocking(buf, max, Some(deadline), true)
        }
    }

    /// [`recv_many`](Self::recv_many), asynchronously, on any executor. Its error is
    /// `RecvTimeoutError::Closed` (it has no deadline).
    pub fn recv_many_async<'a>(&'a self, buf: &'a mut Vec<T>, max: usize) -> RecvMany<'a, T, Mpmc> {
        // SAFETY: MPMC: any thread may receive.
        unsafe { RecvBatch::new(self.rx(), buf, max, None) }
    }

    /// Linger, asynchronously: up to `max` values, or until `deadline` (any future: your
    /// runtime's sleep, for example) completes, whichever comes first.
    pub fn recv_batch_async<'a, D>(
        &'a self,
        buf: &'a mut Vec<T>,
        max: usize,
        deadline: D,
    ) -> RecvBatch<'a, T, D, Mpmc>
    where
        D: Future<Output = ()> + Unpin,
    {
        // SAFETY: MPMC: any thread may receive.
        unsafe { RecvBatch::new(self.rx(), buf, max, Some(deadline)) }
    }
}

impl<T> Consumer<T> {
    /// Appends to `buf` up to `max` values that are queued now; never waits. As
    /// [`Receiver::try_recv_batch`].
    pub fn try_recv_batch(&mut self, buf: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.rx().try_recv_batch(buf, max) }
    }

    /// Waits for at least one value, then appends what is ready, up to `max`. As
    /// [`Receiver::recv_many`].
    pub fn recv_many(&mut self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe { self.rx().recv_batch_blocking(buf, max, None, false) }.map_err(|_| RecvError)
    }

    /// Linger for `linger`: as [`Receiver::recv_batch_timeout`].
    pub fn recv_batch_timeout(
        &mut self,
        buf: &mut Vec<T>,
        max: usize,
        linger: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe {
            self.rx()
                .recv_batch_blocking(buf, max, deadline_after(linger), true)
        }
    }

    /// Linger until `deadline`: as [`Receiver::recv_batch_timeout`].
    pub fn recv_batch_deadline(
        &mut self,
        buf: &mut Vec<T>,
        max: usize,
        deadline: Instant,
    ) -> Result<usize, RecvTimeoutError> {
        // SAFETY: `&mut self` on the only consumer.
        unsafe {
            self.rx()
                .recv_batch_blocking(buf, max, Some(deadline), true)
        }
    }

    /// [`recv_many`](Self::recv_many), asynchronously. As [`Receiver::recv_many_async`].
    pub fn recv_many_async<'a>(
        &'a mut self,
        buf: &'a mut Vec<T>,
        max: usize,
    ) -> RecvMany<'a, T, Spsc> {
        // SAFETY: made from `&mut self`, borrowed for the future's life.
        unsafe { RecvBatch::new(self.rx(), buf, max, None) }
    }

    /// Linger, asynchronously. As [`Receiver::recv_batch_async`].
    pub fn recv_batch_async<'a, D>(
        &'a mut self,
        buf: &'a mut Vec<T>,
        max: usize,
        deadline: D,
    ) -> RecvBatch<'a, T, D, Spsc>
    where
        D: Future<Output = ()> + Unpin,
    {
        // SAFETY: made from `&mut self`, borrowed for the future's life.
        unsafe { RecvBatch::new(self.rx(), buf, max, Some(deadline)) }
    }
}
