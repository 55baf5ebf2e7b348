//! An admission limit: a cap on the work in flight across a whole pipeline.
//!
//! A queue bounds what waits *between* two stages; an [`Admission`] bounds everything a
//! system has accepted and not yet finished, across all its stages, so that an overloaded
//! service refuses new work at the door ([`TryAcquireError::Overloaded`], its HTTP 503)
//! instead of letting every queue fill up. Take a permit when work enters, carry it with the
//! work through the pipeline, and drop it when the work is done: the permit is `Send`, owns
//! its share of the limit, and gives it back on drop.
//!
//! It is built on the crate's counting gate (`wait::sem`): taking and giving back a permit
//! is one compare-and-swap on one word; waiting parties wait in the same line as a queue's,
//! blocking or async, with the same deadline forms, and [`close`](Admission::close) wakes
//! them all.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{AcquireError, AcquireTimeoutError, TryAcquireError};
use crate::loom::{AtomicUsize, Ordering};
use crate::wait::list::Registration;
use crate::wait::sem::{NoPermit, Semaphore};
use crate::wait::{self, Wake};

/// What an [`Admission`] shares with its clones and permits.
#[derive(Debug)]
struct Inner {
    gate: Semaphore,
    limit: usize,
    /// Refusals of `try_acquire` (Overloaded).
    refused: AtomicUsize,
}

impl Inner {
    fn try_acquire(&self) -> Result<(), TryAcquireError> {
        match self.gate.try_acquire() {
            Ok(()) => Ok(()),
            Err(NoPermit::Closed) => Err(TryAcquireError::Closed),
            Err(NoPermit::Empty) => {
                // Ordering: Relaxed: a statistic (on the refusal path only).
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(TryAcquireError::Overloaded)
            }
        }
    }
}

/// A cap on work in flight: at most `limit` [`AdmissionPermit`]s exist at once.
///
/// Cloning gives another handle to the same limit. Permits outlive the handles: each holds
/// its share until it is dropped.
///
/// ```
/// use pushpull::{Admission, TryAcquireError};
///
/// let admission = Admission::new(2);
/// let a = admission.try_acquire().unwrap();
/// let b = admission.try_acquire().unwrap();
/// // Full: the third request is refused at once (answer it with a 503).
/// assert_eq!(admission.try_acquire().unwrap_err(), TryAcquireError::Overloaded);
/// drop(a); // the work is done: its share goes back
/// let c = admission.try_acquire().unwrap();
/// assert_eq!(admission.in_flight(), 2);
/// assert_eq!(admission.metrics().refused, 1);
/// # drop((b, c));
/// ```
///
/// Waiting instead of refusing, with a deadline:
///
/// ```
/// use std::time::Duration;
/// use pushpull::{AcquireTimeoutError, Admission};
///
/// let admission = Admission::new(1);
/// let held = admission.acquire().unwrap();
/// let waiter = {
///     let admission = admission.clone();
///     std::thread::spawn(move || admission.acquire_timeout(Duration::from_secs(60)).map(drop))
/// };
/// drop(held); // wakes the waiter, which takes the permit
/// assert_eq!(waiter.join().unwrap(), Ok(()));
/// admission.close();
/// assert_eq!(
///     admission.acquire_timeout(Duration::from_millis(1)).unwrap_err(),
///     AcquireTimeoutError::Closed
/// );
/// ```
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("limit", &self.inner.limit)
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Admission {
    /// An admission of `limit` permits (0 admits nothing until closed: every acquire waits
    /// or is refused). A limit above `usize::MAX / 2` is cut to it.
    pub fn new(limit: usize) -> Self {
        let gate = Semaphore::new(limit);
        let limit = gate.available();
        Self {
            inner: Arc::new(Inner {
                gate,
                limit,
                refused: AtomicUsize::new(0),
            }),
        }
    }

    /// Takes a permit if one is free, else refuses at once: `Overloaded` (counted in
    /// [`metrics`](Self::metrics)) or `Closed`. Never waits.
    pub fn try_acquire(&self) -> Result<AdmissionPermit, TryAcquireError> {
        self.inner.try_acquire()?;
        Ok(self.permit())
    }

    /// Takes a permit, waiting (spinning briefly, then parking the thread) while all are
    /// taken. `Err` once the admission is closed. A blocking call made inside an async task
    /// blocks that executor thread: use [`acquire_async`](Self::acquire_async) there.
    pub fn acquire(&self) -> Result<AdmissionPermit, AcquireError> {
        self.acquire_blocking(None).map_err(|_| AcquireError)
    }

    /// [`acquire`](Self::acquire), giving up after `timeout` (a permit free at once is
    /// taken even with a zero timeout; `Duration::MAX` waits for ever).
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<AdmissionPermit, AcquireTimeoutError> {
        self.acquire_blocking(Instant::now().checked_add(timeout))
    }

    /// [`acquire`](Self::acquire), giving up at `deadline` (a permit free at once is taken
    /// even if the deadline has passed).
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<AdmissionPermit, AcquireTimeoutError> {
        self.acquire_blocking(Some(deadline))
    }

    /// Takes a permit, waiting asynchronously while all are taken; runs on any executor.
    /// Dropping the future takes nothing (and passes on a wake-up it took).
    pub fn acquire_async(&self) -> AcquireFuture<'_> {
        AcquireFuture {
            admission: self,
            reg: Registration::default(),
            done: false,
        }
    }

    /// [`acquire_async`](Self::acquire_async), giving up with `Timeout` when `deadline` (any
    /// future: a runtime's sleep, for example) completes first.
    pub fn acquire_async_deadline<D>(&self, deadline: D) -> AcquireDeadline<'_, D>
    where
        D: Future<Output = ()> + Unpin,
    {
        AcquireDeadline {
            acquire: self.acquire_async(),
            deadline,
        }
    }

    /// Closes the admission: no permit is given any more, and every waiting acquire ends
    /// with `Closed`. Permits held stay valid until dropped. Returns whether this call
    /// closed it.
    pub fn close(&self) -> bool {
        self.inner.gate.close()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.gate.is_closed()
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Permits held now (a snapshot).
    pub fn in_flight(&self) -> usize {
        self.inner.limit - self.inner.gate.available().min(self.inner.limit)
    }

    /// The figures: limit, permits held, refusals.
    pub fn metrics(&self) -> AdmissionMetrics {
        AdmissionMetrics {
            limit: self.inner.limit,
            in_flight: self.in_flight(),
            // Ordering: Relaxed: a statistic.
            refused: self.inner.refused.load(Ordering::Relaxed) as u64,
            closed: self.is_closed(),
        }
    }

    fn permit(&self) -> AdmissionPermit {
        AdmissionPermit {
            inner: Arc::clone(&self.inner),
        }
    }

    fn acquire_blocking(
        &self,
        deadline: Option<Instant>,
    ) -> Result<AdmissionPermit, AcquireTimeoutError> {
        let gate = &self.inner.gate;
        let attempt = || match gate.try_acquire() {
            Err(NoPermit::Empty) => None,
            Err(NoPermit::Closed) => Some(Err(AcquireTimeoutError::Closed)),
            Ok(()) => Some(Ok(())),
        };
        let done = match wait::spin(attempt) {
            Some(done) => done,
            None => {
                let mut reg = Registration::default();
                wait::block_on(
                    true,
                    deadline,
                    &mut reg,
                    |reg, wake| {
                        gate.poll_acquire(reg, wake)
                            .map(|r| r.map_err(|_| AcquireTimeoutError::Closed))
                    },
                    |reg| {
                        gate.cancel(reg);
                        match gate.try_acquire() {
                            Ok(()) => Ok(()),
                            Err(NoPermit::Empty) => Err(AcquireTimeoutError::Timeout),
                            Err(NoPermit::Closed) => Err(AcquireTimeoutError::Closed),
                        }
                    },
                )
            }
        };
        done.map(|()| self.permit())
    }
}

/// One unit of an [`Admission`]'s limit, held until dropped. `Send` and `Sync`: carry it
/// with the work it admitted.
#[must_use = "dropping the permit gives its share back at once"]
pub struct AdmissionPermit {
    inner: Arc<Inner>,
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        self.inner.gate.release(1);
    }
}

impl fmt::Debug for AdmissionPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionPermit").finish_non_exhaustive()
    }
}

/// An [`Admission`]'s figures (a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionMetrics {
    /// The limit.
    pub limit: usize,
    /// Permits held when the snapshot was taken.
    pub in_flight: usize,
    /// `try_acquire` calls refused with `Overloaded` (waiting acquires are never refused:
    /// they wait, or time out).
    pub refused: u64,
    /// Whether the admission is closed.
    pub closed: bool,
}

/// The future of [`Admission::acquire_async`].
#[must_use = "futures do nothing unless polled"]
pub struct AcquireFuture<'a> {
    admission: &'a Admission,
    reg: Registration,
    done: bool,
}

impl Future for AcquireFuture<'_> {
    type Output = Result<AdmissionPermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "AcquireFuture polled after completion");
        let gate = &this.admission.inner.gate;
        match gate.poll_acquire(&mut this.reg, &Wake::task(cx.waker())) {
            Poll::Ready(r) => {
                this.done = true;
                Poll::Ready(match r {
                    Ok(()) => Ok(this.admission.permit()),
                    Err(_) => Err(AcquireError),
                })
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for AcquireFuture<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.admission.inner.gate.cancel(&mut self.reg);
        }
    }
}

impl fmt::Debug for AcquireFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The future of [`Admission::acquire_async_deadline`].
#[must_use = "futures do nothing unless polled"]
pub struct AcquireDeadline<'a, D> {
    acquire: AcquireFuture<'a>,
    deadline: D,
}

impl<D: Future<Output = ()> + Unpin> Future for AcquireDeadline<'_, D> {
    type Output = Result<AdmissionPermit, AcquireTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.acquire).poll(cx) {
            return Poll::Ready(r.map_err(Into::into));
        }
        match Pin::new(&mut this.deadline).poll(cx) {
            Poll::Ready(()) => {
                // Leave the line, then one last attempt.
                let acquire = &mut this.acquire;
                acquire.done = true;
                let admission = acquire.admission;
                admission.inner.gate.cancel(&mut acquire.reg);
                Poll::Ready(match admission.inner.gate.try_acquire() {
                    Ok(()) => Ok(admission.permit()),
                    Err(NoPermit::Empty) => Err(AcquireTimeoutError::Timeout),
                    Err(NoPermit::Closed) => Err(AcquireTimeoutError::Closed),
                })
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<D> fmt::Debug for AcquireDeadline<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireDeadline").finish_non_exhaustive()
    }
}
