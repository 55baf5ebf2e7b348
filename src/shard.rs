//! Per-key sharding: a router over several MPMC queues (feature `shard`).
//!
//! One queue shared by every key has a weakness: a value whose consumer is slow (one
//! tenant's expensive request, one partition that waits on a lock) holds up everything
//! queued behind it, and a full queue makes every producer wait, whatever key it sends.
//! That is *head-of-line blocking*. Sharding splits the queue in `K`: a [`ShardedSender`]
//! sends each value to the shard its key hashes to, so a slow key fills and stalls only its
//! own shard, while the other keys keep flowing through theirs.
//!
//! - **Routing.** A key goes to shard `hasher.hash_one(key) % K` (`hash_one` of
//!   [`BuildHasher`], computed in `u64`); [`ShardedSender::shard_for`] says which. The same key
//!   always goes to the same shard, so **per-key FIFO** holds: values of one key sent by
//!   one thread are received in the order sent (each shard is a FIFO queue).
//! - **Stable across runs.** The default hasher, [`DefaultHashBuilder`], has no random seed:
//!   a key maps to the same shard in every run of the same build. See its docs for what
//!   may change it, and [`Builder::hasher`] to choose another.
//! - **Everything a queue does.** Each shard is an ordinary MPMC queue built from one
//!   [`pushpull::Builder`](crate::Builder): any [`Policy`], capacity, credit gate. Sends have
//!   the same forms, results and errors as [`Sender`]'s (errors hand the value back), and
//!   closing and [`metrics`](ShardedSender::metrics) cover every shard.
//! - **Receiving**, two ways: one consumer per shard
//!   ([`ShardedReceiver::into_receivers`], plain [`Receiver`]s: a slow key then slows only
//!   its own shard's consumer), or one consumer over all shards ([`ShardedReceiver`]'s
//!   `recv`, `try_recv`, `recv_timeout`, `recv_async`), which is fair: it serves the shards
//!   that hold values in turn (see [`ShardedReceiver`]).
//!
//! ```
//! use pushpull::shard;
//!
//! // 4 shards of 64 values each; keys are `str`.
//! let (tx, rx) = shard::Builder::new(4, 64).build::<str, String>();
//! for (user, event) in [("alice", "login"), ("bob", "login"), ("alice", "logout")] {
//!     let _ = tx.send(user, format!("{user}: {event}")).unwrap();
//! }
//! assert_eq!(tx.shard_for("alice"), tx.shard_for("alice")); // always the same shard
//!
//! // One consumer per shard: each gets its keys in order.
//! let alice = tx.shard_for("alice");
//! let receivers = rx.into_receivers();
//! assert_eq!(receivers[alice].recv().unwrap(), "alice: login");
//! ```
//!
//! # Fair merged receiving
//!
//! ```
//! use pushpull::shard;
//!
//! let (tx, rx) = shard::Builder::new(3, 8).build::<u32, u32>();
//! let producer = std::thread::spawn(move || {
//!     for key in 0..100 {
//!         let _ = tx.send(&key, key).unwrap(); // waits while the key's shard is full
//!     }
//!     // dropping the last sender closes every shard
//! });
//! // One consumer over all shards: ends when every shard is closed and drained.
//! let mut got: Vec<u32> = rx.iter().collect();
//! producer.join().unwrap();
//! got.sort_unstable();
//! assert_eq!(got, (0..100).collect::<Vec<_>>());
//! assert_eq!(rx.metrics().total.received, 100);
//! ```

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::hash::{BuildHasher, BuildHasherDefault, Hash};
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::hash_map::DefaultHasher;
use std::time::{Duration, Instant};

use crate::flavor::Mpmc;
use crate::loom::thread::{current, park, park_timeout, Thread};
use crate::loom::{AtomicUsize, Ordering};
use crate::{
    BuildError, Metrics, Policy, Receiver, RecvError, RecvFuture, RecvTimeoutError, SendError,
    SendFuture, SendTimeoutError, Sender, Sent, TryRecvError, TrySendError,
};

/// The default hasher of a sharded queue: std's [`DefaultHasher`] (SipHash-1-3 today) made
/// with fixed keys, through [`BuildHasherDefault`].
///
/// Unlike [`std::collections::hash_map::RandomState`], it has no per-process random seed: a
/// key goes to the same shard in every run, and in every process, of the same build. It is
/// **not** promised beyond that: std does not specify `DefaultHasher`'s algorithm, which may
/// change between Rust releases, and many `Hash` impls feed the hasher native-endian,
/// platform-sized integers (`usize`, lengths), so a mapping may also differ between targets.
/// Where the shard of a key must not change across those (it is persisted, or agreed between
/// processes built differently), pass a hasher you control to [`Builder::hasher`], and key
/// types whose `Hash` you control.
pub type DefaultHashBuilder = BuildHasherDefault<DefaultHasher>;

// === Builder ===

/// Builds a sharded queue: `shards` MPMC queues configured alike, a router in front, and a
/// receiver over all of them.
///
/// ```
/// use pushpull::{shard, Policy, SendError};
///
/// // Each shard holds 1 value and rejects when full.
/// let (tx, _rx) = shard::Builder::new(2, 1)
///     .policy(Policy::Reject)
///     .build::<u64, &str>();
/// let _ = tx.send(&7, "first").unwrap();
/// // Key 7's shard is full; a key routed elsewhere still gets in.
/// assert_eq!(tx.send(&7, "second"), Err(SendError::Overloaded("second")));
/// let other = (0..).find(|k| tx.shard_for(k) != tx.shard_for(&7)).unwrap();
/// assert!(tx.send(&other, "third").is_ok());
/// ```
#[must_use = "a builder does nothing until a queue is built"]
#[derive(Clone, Copy)]
pub struct Builder<S = DefaultHashBuilder> {
    shards: usize,
    queue: crate::Builder,
    hasher: S,
}

impl Builder {
    /// A builder for `shards` queues of `capacity_per_shard` values each, with the
    /// [`Block`](Policy::Block) policy and the [`DefaultHashBuilder`].
    ///
    /// # Panics
    ///
    /// If `shards` is 0.
    pub fn new(shards: usize, capacity_per_shard: usize) -> Self {
        Self::from_queue(shards, crate::Builder::new(capacity_per_shard))
    }

    /// A builder for `shards` queues, each built by `queue` (capacity, policy, credit gate
    /// and options, as for one queue), with the [`DefaultHashBuilder`].
    ///
    /// ```
    /// use pushpull::{shard, Builder, Policy};
    ///
    /// let each = Builder::new(16).policy(Policy::DropOldest).exact_high_water();
    /// let (tx, _rx) = shard::Builder::from_queue(8, each).build::<u64, u64>();
    /// assert_eq!(tx.shards(), 8);
    /// assert_eq!(tx.senders()[0].policy(), Policy::DropOldest);
    /// ```
    ///
    /// # Panics
    ///
    /// If `shards` is 0.
    pub fn from_queue(shards: usize, queue: crate::Builder) -> Self {
        assert!(
            shards > 0,
            "pushpull: a sharded queue needs at least one shard"
        );
        Self {
            shards,
            queue,
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<S> Builder<S> {
    /// Sets what a send does when its shard is full (see [`Policy`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.queue = self.queue.policy(policy);
        self
    }

    /// Routes keys with `hasher`: a key goes to shard `hasher.hash_one(key) % shards`.
    ///
    /// ```
    /// use std::hash::{BuildHasherDefault, Hasher};
    ///
    /// /// Routes a `u64` key to shard `key % shards`: the hash is the key itself.
    /// #[derive(Default)]
    /// struct Identity(u64);
    /// impl Hasher for Identity {
    ///     fn finish(&self) -> u64 {
    ///         self.0
    ///     }
    ///     fn write(&mut self, _: &[u8]) {
    ///         unimplemented!("only u64 keys")
    ///     }
    ///     fn write_u64(&mut self, n: u64) {
    ///         self.0 = n;
    ///     }
    /// }
    ///
    /// let (tx, _rx) = pushpull::shard::Builder::new(4, 8)
    ///     .hasher(BuildHasherDefault::<Identity>::default())
    ///     .build::<u64, ()>();
    /// assert_eq!(tx.shard_for(&10), 2);
    /// ```
    pub fn hasher<H: BuildHasher>(self, hasher: H) -> Builder<H> {
        Builder {
            shards: self.shards,
            queue: self.queue,
            hasher,
        }
    }

    /// Builds the shards: a sender that routes values by keys of type `K` (any type that
    /// borrows as the key type you pass, as for `HashMap`), and a receiver over all shards.
    ///
    /// # Panics
    ///
    /// If a shard cannot be built (see [`try_build`](Self::try_build)), with the error's
    /// message.
    #[must_use]
    pub fn build<K: ?Sized, T>(self) -> (ShardedSender<K, T, S>, ShardedReceiver<T>) {
        self.try_build().unwrap_or_else(|e| panic!("pushpull: {e}"))
    }

    /// Builds the shards, or says why they cannot be built: the configuration is
    /// impossible for one queue (see [`Builder::try_mpmc`](crate::Builder::try_mpmc)), or
    /// their memory cannot be had. Nothing stays allocated on error.
    #[allow(clippy::type_complexity)] // the pair `build` returns, in a `Result`
    pub fn try_build<K: ?Sized, T>(
        self,
    ) -> Result<(ShardedSender<K, T, S>, ShardedReceiver<T>), BuildError> {
        let mut senders = Vec::with_capacity(self.shards);
        let mut receivers = Vec::with_capacity(self.shards);
        for _ in 0..self.shards {
            let (tx, rx) = self.queue.try_mpmc()?;
            senders.push(tx);
            receivers.push(rx);
        }
        Ok((
            ShardedSender {
                senders,
                hasher: self.hasher,
                _key: PhantomData,
            },
            ShardedReceiver::new(receivers),
        ))
    }
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("shards", &self.shards)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

// === ShardedSender ===

/// The sending end of a sharded queue: sends each value to the shard its key hashes to.
/// Clone it to get more senders; when the last one is dropped every shard closes.
///
/// Every send has the form, result and error of the same send on a [`Sender`], applied to
/// the key's shard: a full shard does what the [`Policy`] says, and only that shard's
/// senders feel it. For what this type does not forward (reservations, batches, async
/// deadlines), [`sender_for`](Self::sender_for) gives the key's shard's own `Sender`.
///
/// `K` is the key type (it may be unsized, as `str`); methods take any `&Q` that `K`
/// borrows as, as `HashMap` does, so a `ShardedSender<String, _>` takes `&str` keys. `K`
/// borrowed as `Q` must hash the same (the contract of [`Borrow`]).
///
/// ```
/// # futures::executor::block_on(async {
/// use pushpull::shard;
///
/// let (tx, rx) = shard::Builder::new(4, 16).build::<String, u32>();
/// let _ = tx.send("a", 1).unwrap();
/// let _ = tx.send_async("a", 2).await.unwrap();
/// tx.try_send("a", 3).unwrap();
/// let a = &rx.receivers()[tx.shard_for("a")];
/// assert_eq!([a.recv(), a.recv(), a.recv()], [Ok(1), Ok(2), Ok(3)]); // per-key FIFO
/// # });
/// ```
pub struct ShardedSender<K: ?Sized, T, S = DefaultHashBuilder> {
    senders: Vec<Sender<T>>,
    hasher: S,
    /// The key type, for type checking only (`fn` keeps `Send`/`Sync` independent of `K`).
    _key: PhantomData<fn(&K)>,
}

impl<K: ?Sized, T, S: BuildHasher> ShardedSender<K, T, S> {
    /// The shard `key` goes to: `hasher.hash_one(key) % shards`.
    #[must_use]
    pub fn shard_for<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        // The remainder is below `shards`, a `usize`: the cast back is lossless.
        (self.hasher.hash_one(key) % self.senders.len() as u64) as usize
    }

    /// The sender of `key`'s shard: for what this type does not forward.
    ///
    /// ```
    /// use pushpull::shard;
    ///
    /// let (tx, rx) = shard::Builder::new(2, 4).build::<str, u8>();
    /// let permit = tx.sender_for("k").reserve().unwrap(); // room held in "k"'s shard
    /// let _ = permit.send(1).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    #[must_use]
    pub fn sender_for<Q>(&self, key: &Q) -> &Sender<T>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        &self.senders[self.shard_for(key)]
    }

    /// Sends `value` if `key`'s shard has room now; never waits (see
    /// [`Sender::try_send`]).
    pub fn try_send<Q>(&self, key: &Q, value: T) -> Result<(), TrySendError<T>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.sender_for(key).try_send(value)
    }

    /// Sends `value` to `key`'s shard under the policy (see [`Sender::send`]): on a full
    /// shard, waits, drops, evicts or rejects; fails with `Closed` once the shard is
    /// closed. Blocks the thread under `Block`: in async code, use
    /// [`send_async`](Self::send_async).
    pub fn send<Q>(&self, key: &Q, value: T) -> Result<Sent<T>, SendError<T>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.sender_for(key).send(value)
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for room in `key`'s shard.
    pub fn send_timeout<Q>(
        &self,
        key: &Q,
        value: T,
        timeout: Duration,
    ) -> Result<Sent<T>, SendTimeoutError<T>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.sender_for(key).send_timeout(value, timeout)
    }

    /// Like [`send`](Self::send), waiting for room in `key`'s shard until `deadline`.
    pub fn send_deadline<Q>(
        &self,
        key: &Q,
        value: T,
        deadline: Instant,
    ) -> Result<Sent<T>, SendTimeoutError<T>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.sender_for(key).send_deadline(value, deadline)
    }

    /// Sends `value` to `key`'s shard under the policy, waiting for room asynchronously;
    /// works on any executor. The future is that shard's [`SendFuture`], with its cancel
    /// contract (a dropped future drops its value once, and never sends it twice).
    pub fn send_async<Q>(&self, key: &Q, value: T) -> SendFuture<'_, T, Mpmc>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.sender_for(key).send_async(value)
    }

    /// The hasher that routes keys.
    pub fn hasher(&self) -> &S {
        &self.hasher
    }
}

impl<K: ?Sized, T, S> ShardedSender<K, T, S> {
    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.senders.len()
    }

    /// Every shard's sender, in shard order.
    pub fn senders(&self) -> &[Sender<T>] {
        &self.senders
    }

    /// Closes every shard (drain): sends fail with `Closed` from now on, receivers receive
    /// what is queued and then see `Closed`. Returns `true` if this call closed at least one
    /// shard.
    pub fn close(&self) -> bool {
        close_all(self.senders.iter().map(Sender::close))
    }

    /// Closes every shard and discards what is queued in them; returns how many values (the
    /// sum of [`Sender::abort`] over the shards).
    pub fn abort(&self) -> usize {
        self.senders.iter().map(Sender::abort).sum()
    }

    /// Whether every shard is closed.
    pub fn is_closed(&self) -> bool {
        self.senders.iter().all(Sender::is_closed)
    }

    /// The number of values queued in all shards. Other threads may change it at any moment.
    pub fn len(&self) -> usize {
        self.senders.iter().map(Sender::len).sum()
    }

    /// Whether no shard holds a value. Other threads may change that at any moment.
    pub fn is_empty(&self) -> bool {
        self.senders.iter().all(Sender::is_empty)
    }

    /// A snapshot of every shard's counters and their sum.
    pub fn metrics(&self) -> ShardMetrics {
        ShardMetrics::new(self.senders.iter().map(Sender::metrics).collect())
    }
}

fn close_all(closed: impl Iterator<Item = bool>) -> bool {
    // Not `any`: it would stop at the first shard this call closed.
    closed.fold(false, |any, closed| any | closed)
}

impl<K: ?Sized, T, S: Clone> Clone for ShardedSender<K, T, S> {
    fn clone(&self) -> Self {
        Self {
            senders: self.senders.clone(),
            hasher: self.hasher.clone(),
            _key: PhantomData,
        }
    }
}

impl<K: ?Sized, T, S> fmt::Debug for ShardedSender<K, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedSender")
            .field("shards", &self.senders)
            .finish_non_exhaustive()
    }
}

// === ShardedReceiver ===

/// The receiving end of a sharded queue: one consumer over all shards, or, taken apart with
/// [`into_receivers`](Self::into_receivers), one [`Receiver`] per shard.
///
/// **Fairness.** Each receive looks at the shards in turn, starting after the shard the
/// previous receive through this handle took a value from, and takes the first value it
/// finds (a blocking or async receive that waits does the same when it wakes). So shards
/// that hold values are served round robin. For receives through one handle, one at a time:
/// a shard that holds values is served within [`shards`](Self::shards) receives, however
/// busy the others are, and while it holds values every other shard gives at most one value
/// between two of its own. Clones start from the same place and then turn on their own;
/// concurrent receives through one handle only make each other's starting points less
/// exact. Values of one shard come in that shard's order, so per-key FIFO holds for a
/// single consumer.
///
/// A receive reports `Closed` only when every shard is closed and drained.
///
/// ```
/// use pushpull::shard;
///
/// let (tx, rx) = shard::Builder::new(2, 8).build::<u32, &str>();
/// let a = 0;
/// let b = (1..).find(|k| tx.shard_for(k) != tx.shard_for(&a)).unwrap(); // the other shard
/// for _ in 0..3 {
///     let _ = tx.send(&a, "a").unwrap();
///     let _ = tx.send(&b, "b").unwrap();
/// }
/// let got: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
/// // Both shards hold values: they take turns.
/// assert!(got == ["a", "b", "a", "b"] || got == ["b", "a", "b", "a"]);
/// ```
pub struct ShardedReceiver<T> {
    receivers: Vec<Receiver<T>>,
    /// The shard the next receive looks at first.
    next: AtomicUsize,
}

impl<T> ShardedReceiver<T> {
    fn new(receivers: Vec<Receiver<T>>) -> Self {
        Self {
            receivers,
            next: AtomicUsize::new(0),
        }
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.receivers.len()
    }

    /// Every shard's receiver, in shard order (a receive on one of them takes from that
    /// shard only).
    pub fn receivers(&self) -> &[Receiver<T>] {
        &self.receivers
    }

    /// One receiver per shard, in shard order: for one consumer per shard.
    #[must_use]
    pub fn into_receivers(self) -> Vec<Receiver<T>> {
        self.receivers
    }

    /// Where the next scan starts.
    fn start(&self) -> usize {
        // Ordering: Relaxed: only where a scan starts; no data is published through it.
        self.next.load(Ordering::Relaxed) % self.receivers.len()
    }

    /// A value was taken from `shard`: the next scan starts after it.
    fn served(&self, shard: usize) {
        // Ordering: Relaxed: as in `start`. Concurrent receivers through one handle may
        // overwrite each other's choice; each still scans every shard.
        self.next
            .store((shard + 1) % self.receivers.len(), Ordering::Relaxed);
    }

    /// One pass over the shards, in turn from `start()`: the first value found, `Closed` if
    /// every shard is closed and drained, `Empty` otherwise.
    fn sweep(&self) -> Result<T, TryRecvError> {
        let k = self.receivers.len();
        let start = self.start();
        let mut open = false;
        for i in 0..k {
            let s = (start + i) % k;
            match self.receivers[s].try_recv() {
                Ok(v) => {
                    self.served(s);
                    return Ok(v);
                }
                Err(TryRecvError::Empty) => open = true,
                // Closed and drained stays so: nothing enters a closed queue.
                Err(TryRecvError::Closed) => {}
            }
        }
        if open {
            Err(TryRecvError::Empty)
        } else {
            Err(TryRecvError::Closed)
        }
    }

    /// Receives a value if some shard holds one now; never waits. `Closed` only when every
    /// shard is closed and drained.
    ///
    /// ```
    /// use pushpull::{shard, TryRecvError};
    ///
    /// let (tx, rx) = shard::Builder::new(4, 4).build::<u8, u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// let _ = tx.send(&1, 10).unwrap();
    /// drop(tx); // the last sender: every shard closes
    /// assert_eq!(rx.try_recv(), Ok(10));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.sweep()
    }

    /// Receives a value from any shard, waiting until one holds one; fails once every shard
    /// is closed and drained. Blocks the thread: in async code, use
    /// [`recv_async`](Self::recv_async).
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`. `Duration::MAX` waits forever.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// Like [`recv`](Self::recv), waiting until `deadline`. A value already queued is
    /// received even if the deadline has passed.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        match self.sweep() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
            Err(TryRecvError::Empty) => {}
        }
        let mut future = self.recv_async();
        match block_on(&mut future, deadline) {
            Some(result) => result.map_err(RecvTimeoutError::from),
            None => {
                // Timed out. Dropping the future leaves every shard's line (a wake-up it
                // took passes on); then one last look, as the core's deadlines do.
                drop(future);
                self.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Closed => RecvTimeoutError::Closed,
                })
            }
        }
    }

    /// Receives the next value from any shard asynchronously; fails once every shard is
    /// closed and drained. Works on any executor. Dropping the future never loses a value
    /// (see [`ShardedRecvFuture`]); for a deadline, race it with your runtime's timer.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use pushpull::shard;
    ///
    /// let (tx, rx) = shard::Builder::new(4, 4).build::<u8, &str>();
    /// let _ = tx.send_async(&3, "hello").await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok("hello"));
    /// # });
    /// ```
    pub fn recv_async(&self) -> ShardedRecvFuture<'_, T> {
        ShardedRecvFuture {
            rx: self,
            waiting: Vec::new(),
            done: false,
        }
    }

    /// A blocking iterator over the values of all shards (fair, as `recv`): ends when every
    /// shard is closed and drained. Blocks the thread: not for async code.
    pub fn iter(&self) -> ShardedIter<'_, T> {
        ShardedIter { rx: self }
    }

    /// Closes every shard (drain): sends fail from now on, receivers receive what is queued
    /// and then see `Closed`. Returns `true` if this call closed at least one shard.
    pub fn close(&self) -> bool {
        close_all(self.receivers.iter().map(Receiver::close))
    }

    /// Closes every shard and discards what is queued in them; returns how many values.
    pub fn abort(&self) -> usize {
        self.receivers.iter().map(Receiver::abort).sum()
    }

    /// Whether every shard is closed.
    pub fn is_closed(&self) -> bool {
        self.receivers.iter().all(Receiver::is_closed)
    }

    /// The number of values queued in all shards. Other threads may change it at any moment.
    pub fn len(&self) -> usize {
        self.receivers.iter().map(Receiver::len).sum()
    }

    /// Whether no shard holds a value. Other threads may change that at any moment.
    pub fn is_empty(&self) -> bool {
        self.receivers.iter().all(Receiver::is_empty)
    }

    /// A snapshot of every shard's counters and their sum.
    pub fn metrics(&self) -> ShardMetrics {
        ShardMetrics::new(self.receivers.iter().map(Receiver::metrics).collect())
    }
}

impl<T> Clone for ShardedReceiver<T> {
    fn clone(&self) -> Self {
        Self {
            receivers: self.receivers.clone(),
            next: AtomicUsize::new(self.start()),
        }
    }
}

impl<T> fmt::Debug for ShardedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedReceiver")
            .field("shards", &self.receivers)
            .field("next", &self.start())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a ShardedReceiver<T> {
    type Item = T;
    type IntoIter = ShardedIter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The blocking iterator of [`ShardedReceiver::iter`].
#[must_use = "iterators do nothing unless consumed"]
pub struct ShardedIter<'a, T> {
    rx: &'a ShardedReceiver<T>,
}

impl<T> Iterator for ShardedIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> fmt::Debug for ShardedIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedIter").finish_non_exhaustive()
    }
}

// === ShardedRecvFuture ===

/// The future of [`ShardedReceiver::recv_async`]: the next value from any shard, or
/// `Err(RecvError)` once every shard is closed and drained.
///
/// Its first poll looks at the shards in turn (as `try_recv`); if all are empty, it waits
/// on every open shard at once, through one [`RecvFuture`] per shard, and takes the first
/// value that comes, looking in turn again. Dropping it never loses a value and never
/// blocks: a value is only taken out of a shard when it is returned, and a shard's receive
/// future that was woken and is dropped unused passes the wake-up on to that shard's next
/// waiting receiver (the [`RecvFuture`] contract). Waiting costs one allocation (the
/// per-shard futures); a receive that finds a value does not allocate.
#[must_use = "futures do nothing unless polled"]
pub struct ShardedRecvFuture<'a, T> {
    rx: &'a ShardedReceiver<T>,
    /// Each shard's receive future, once this future waits (empty until then); `None` for
    /// a shard that reported closed and drained.
    waiting: Vec<Option<RecvFuture<'a, T, Mpmc>>>,
    done: bool,
}

impl<T> Future for ShardedRecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ShardedRecvFuture polled after completion");
        let rx = this.rx;
        let k = rx.receivers.len();
        if this.waiting.is_empty() {
            // First poll: the plain look, which allocates nothing.
            match rx.sweep() {
                Ok(v) => {
                    this.done = true;
                    return Poll::Ready(Ok(v));
                }
                Err(TryRecvError::Closed) => {
                    this.done = true;
                    return Poll::Ready(Err(RecvError));
                }
                Err(TryRecvError::Empty) => {}
            }
            // Every shard was empty or closed: wait on each (a closed one reports so at
            // its first poll below and is let go).
            this.waiting = rx.receivers.iter().map(|r| Some(r.recv_async())).collect();
        }
        let start = rx.start();
        let mut open = false;
        for i in 0..k {
            let s = (start + i) % k;
            let Some(future) = this.waiting[s].as_mut() else {
                continue;
            };
            match Pin::new(future).poll(cx) {
                Poll::Ready(Ok(v)) => {
                    this.waiting[s] = None;
                    rx.served(s);
                    this.done = true;
                    // Leave the other shards' lines now rather than when dropped.
                    this.waiting.clear();
                    return Poll::Ready(Ok(v));
                }
                Poll::Ready(Err(RecvError)) => this.waiting[s] = None,
                Poll::Pending => open = true,
            }
        }
        if open {
            Poll::Pending
        } else {
            this.done = true;
            Poll::Ready(Err(RecvError))
        }
    }
}

impl<T> fmt::Debug for ShardedRecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedRecvFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Runs `future` on this thread, parking between polls, until it completes (`Some`) or
/// `deadline` passes (`None`). The waker unparks this thread; a spurious unpark only costs a
/// poll.
fn block_on<F: Future + Unpin>(future: &mut F, deadline: Option<Instant>) -> Option<F::Output> {
    // `std::task::Wake` needs std's `Arc`: this one only carries the waker.
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = Pin::new(&mut *future).poll(&mut cx) {
            return Some(out);
        }
        match deadline {
            None => park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                park_timeout(deadline - now);
            }
        }
    }
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

// === ShardMetrics ===

/// The counters of a sharded queue: each shard's [`Metrics`] and their sum.
///
/// In `total`, every count is the sum over the shards, `capacity` included (the most values
/// all shards hold together); `high_water` is the sum of the shards' marks, an upper bound
/// of the peak of the values queued in all shards at once (the shards need not peak
/// together). When the queue is quiescent, `total` satisfies the same identity as one
/// queue's snapshot: `sent == received + evicted_oldest + discarded + len`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ShardMetrics {
    /// Each shard's snapshot, in shard order.
    pub per_shard: Vec<Metrics>,
    /// Their sum.
    pub total: Metrics,
}

impl ShardMetrics {
    fn new(per_shard: Vec<Metrics>) -> Self {
        let total = per_shard.iter().fold(Metrics::default(), add);
        Self { per_shard, total }
    }
}

impl fmt::Display for ShardMetrics {
    /// The total, then `(K shards)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} shards)", self.total, self.per_shard.len())
    }
}

/// The field-wise sum. Destructured in full, so that a field added to `Metrics` does not
/// compile until it is summed here.
fn add(a: Metrics, b: &Metrics) -> Metrics {
    let Metrics {
        sent,
        received,
        dropped_newest,
        evicted_oldest,
        rejected,
        discarded,
        high_water,
        len,
        capacity,
        batches_sent,
        batches_received,
        credits_granted,
        credits_spent,
        credits_available,
        credit_waits,
        send_waits,
    } = *b;
    Metrics {
        sent: a.sent.wrapping_add(sent),
        received: a.received.wrapping_add(received),
        dropped_newest: a.dropped_newest.wrapping_add(dropped_newest),
        evicted_oldest: a.evicted_oldest.wrapping_add(evicted_oldest),
        rejected: a.rejected.wrapping_add(rejected),
        discarded: a.discarded.wrapping_add(discarded),
        high_water: a.high_water.saturating_add(high_water),
        len: a.len.saturating_add(len),
        capacity: a.capacity.saturating_add(capacity),
        batches_sent: a.batches_sent.wrapping_add(batches_sent),
        batches_received: a.batches_received.wrapping_add(batches_received),
        credits_granted: a.credits_granted.wrapping_add(credits_granted),
        credits_spent: a.credits_spent.wrapping_add(credits_spent),
        credits_available: a.credits_available.wrapping_add(credits_available),
        credit_waits: a.credit_waits.wrapping_add(credit_waits),
        send_waits: a.send_waits.wrapping_add(send_waits),
    }
}
