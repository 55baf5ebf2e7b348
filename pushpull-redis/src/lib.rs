//! pushpull's producer/consumer vocabulary across processes and machines, on
//! [Redis Streams](https://redis.io/docs/latest/develop/data-types/streams/) consumer groups.
//!
//! One stream and one consumer group make one queue. A [`Sender`] appends values; the
//! [`Receiver`]s of the group share them, each value delivered to one of them; a receiver
//! [`ack`](Receiver::ack)s what it has processed. Redis keeps the data, replicates it and
//! writes it to disk; this crate adds what a queue needs on top: a bound, overflow
//! policies, redelivery of what a dead consumer held, dead letters, and bridges to local
//! pushpull queues. It needs Redis 7.0 or newer (the group's lag, `XAUTOCLAIM`).
//!
//! ```no_run
//! use pushpull::Policy;
//! use pushpull_redis::Builder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Builder::new("redis://127.0.0.1:6379", "jobs")?
//!     .capacity(10_000)
//!     .policy(Policy::Block);
//!
//! // On one machine:
//! let mut tx = queue.sender::<String>()?;
//! tx.send("resize img-1.png".to_string())?;
//!
//! // On another (each consumer of the group has its own name):
//! let mut rx = queue.receiver::<String>("worker-1")?;
//! let job = rx.recv()?;
//! println!("{}", job.value());
//! rx.ack(&job)?; // until this, the job is redelivered if this worker dies
//! # Ok(())
//! # }
//! ```
//!
//! # The queue's length and the policies
//!
//! The length of the queue is what the group has not acknowledged: entries delivered to a
//! consumer and not yet acked (pending) plus entries not yet delivered (the group's lag).
//! A send checks it and appends in one server-side script, so two senders cannot both take
//! the last room. When the length has reached the capacity:
//!
//! | [`pushpull::Policy`] | on a stream |
//! | --- | --- |
//! | `Block` | the send waits until consumers acknowledge, polling the length (1 ms doubling to [`Builder::full_poll`]); [`Sender::send_timeout`] gives up and hands the value back |
//! | `Reject` | the send fails with [`SendError::Overloaded`], handing the value back |
//! | `DropNewest` | the value is not appended: [`Appended::DroppedNewest`] |
//! | `DropOldest` | the oldest *undelivered* entry is evicted (the group moves past it) and the value appended: [`Appended::Evicted`]. An entry a consumer holds is never evicted; when every entry counted is held, nothing can be evicted and the value is dropped instead ([`Appended::DroppedNewest`]) |
//!
//! What a stream cannot do as a local queue does: an evicted value cannot be handed back
//! (it lives on the server, maybe on another machine), so it is counted
//! ([`StreamMetrics::evicted_oldest`]) and its entry stays in the stream's history until
//! trimmed. A waiting send polls instead of being woken. The bound is on the group's
//! unacknowledged entries, not on the stream's length (`MAXLEN` would trim entries that
//! consumers hold); acknowledged history is trimmed with `XTRIM MINID` after acks. Use one
//! group per stream: the trimming follows this group only. Other clients may add entries
//! (a record that does not decode goes to the dead letters); one that trims or deletes
//! undelivered entries loses them, and the queue's count is set right at the next send
//! that finds the queue full.
//!
//! # Delivery is at least once
//!
//! A value is delivered again when its consumer did not acknowledge it in time:
//!
//! - a consumer that dies (or hangs) holds its deliveries until they have been idle for
//!   [`Builder::claim_idle`]; then the next receive of any consumer in the group claims them
//!   (`XAUTOCLAIM`) and they are delivered again, with [`Delivery::deliveries`] counting up;
//! - [`Receiver::nack`] gives a delivery back at once: it is marked as idle since long ago
//!   (`XCLAIM ... IDLE`), so the next receive of any consumer claims it;
//! - after [`Builder::max_deliveries`] deliveries a value goes to the dead-letter stream
//!   (`<stream>:dead`), with its id, delivery count and the reason, instead of being
//!   delivered again; so does a record that does not decode, with the codec's error. A bad
//!   record never stops a consumer. Read them with [`Receiver::dead_letters`].
//!
//! So a value may be processed twice: when a consumer dies after processing and before
//! its ack, or stalls past `claim_idle`, or when a send's reply was lost with the
//! connection and the send was retried (the value is then appended twice). Make processing
//! idempotent: key its effect by something in the value (an order number), or by the
//! entry id, and do it only once:
//!
//! ```no_run
//! # use std::collections::HashSet;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut rx = pushpull_redis::Builder::new("redis://127.0.0.1:6379", "orders")?.receiver::<(u64, u64)>("w")?;
//! # let mut done = HashSet::new();
//! let d = rx.recv()?;
//! let (order, cents) = *d.value();
//! // `done` is where your effects live (a table with a unique key on the order number):
//! // insert-if-absent and the effect commit together, so a redelivery finds it done.
//! if done.insert(order) {
//!     // ... charge `cents` for `order` ...
//!     let _ = cents;
//! }
//! rx.ack(&d)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Durability and restarts
//!
//! Connections come back: a command that fails because the server went away is sent again
//! on a new connection with backoff (5 ms doubling to 500 ms) for up to
//! [`Builder::reconnect_for`]. A receive whose reply was lost with the connection may
//! have delivered entries to this consumer; once reconnected, the receiver takes them back
//! at once (counted as redeliveries). What survives a restart is what Redis persisted. With the
//! append-only file and `appendfsync always`, a send that returned `Ok` is on disk and
//! survives a crash of the server. With `appendfsync everysec` (Redis's default) a clean
//! stop (SIGTERM) loses nothing either, but a SIGKILL or a power cut can lose the last
//! second of writes: appends that were acknowledged to senders, and acks (whose values are
//! then delivered again). Without persistence a restart loses everything.
//!
//! # Values
//!
//! Values are encoded with a [`Codec`], the same trait pushpull's
//! spill queue uses; the default, [`Postcard`], works for every
//! `serde` type. Each entry has one field, `v`, holding the encoding.
//!
//! # Bridges
//!
//! [`bridge::to_stream`] drains a local pushpull queue into a stream with batched appends
//! (one script call per batch); [`bridge::from_stream`] feeds a local queue from a stream,
//! acknowledging each value once the local queue has taken it. A pipeline crosses machines
//! at one stage, and backpressure crosses with it.
//!
//! # On NATS JetStream
//!
//! The same model maps onto JetStream: a stream with a `max_msgs` limit and a work-queue
//! retention policy is the bounded queue (`discard: new` is Reject/DropNewest, `discard:
//! old` is DropOldest, but JetStream may discard a message a consumer holds); a durable
//! pull consumer is the group; `ack`, `nak` (with a delay) and `ack_wait` are ack, nack and
//! `claim_idle`; `max_deliver` with an advisory is the dead-letter rule.
//!
//! # Async
//!
//! [`Builder::sender_async`] and [`Builder::receiver_async`] give the same handles for
//! async code. They use the `redis` crate's tokio connection, so they run on a tokio
//! runtime with its timers enabled (`enable_all`, or `#[tokio::main]`).
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use pushpull::spill::{Codec, Postcard};
use pushpull::Policy;

pub mod bridge;
mod conn;
mod error;
pub mod local;
mod receiver;
mod scripts;
mod sender;

pub use error::{Error, SendError};
pub use receiver::{AsyncReceiver, DeadLetter, Delivery, Receiver};
pub use sender::{Appended, AsyncSender, BatchAppended, Sender};

/// Where a queue lives and how it behaves: the stream, the group and the policy. Make the
/// senders and receivers of one queue from builders with the same settings.
#[derive(Clone)]
pub struct Builder<C = Postcard> {
    client: redis::Client,
    stream: String,
    group: String,
    dead: String,
    capacity: u64,
    policy: Policy,
    max_deliveries: u32,
    claim_idle: Duration,
    batch: usize,
    full_poll: Duration,
    reconnect_for: Duration,
    codec: C,
}

impl<C> fmt::Debug for Builder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field(
                "server",
                &self.client.get_connection_info().addr().to_string(),
            )
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("dead_letters", &self.dead)
            .field("capacity", &self.capacity)
            .field("policy", &self.policy)
            .field("max_deliveries", &self.max_deliveries)
            .field("claim_idle", &self.claim_idle)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl Builder<Postcard> {
    /// A queue on the stream `stream` of the server at `url` (`redis://host:port/db`), with
    /// the defaults: group `pushpull`, capacity 1024, [`Policy::Block`], 5 deliveries,
    /// 30 s claim idle time, batches of 16, the [`Postcard`] codec.
    ///
    /// Nothing is contacted until a sender or receiver is made. Fails only if `url` is not
    /// a Redis URL.
    pub fn new(url: &str, stream: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            client,
            stream: stream.to_owned(),
            group: "pushpull".to_owned(),
            dead: format!("{stream}:dead"),
            capacity: 1024,
            policy: Policy::Block,
            max_deliveries: 5,
            claim_idle: Duration::from_secs(30),
            batch: 16,
            full_poll: Duration::from_millis(50),
            reconnect_for: Duration::from_secs(30),
            codec: Postcard,
        })
    }
}

impl<C> Builder<C> {
    /// The consumer group (default `pushpull`). Made, reading from the stream's start, by
    /// the first sender or receiver that finds it missing.
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_owned();
        self
    }

    /// The most values the group may have unacknowledged, delivered or not (default 1024).
    ///
    /// # Panics
    /// If `capacity` is 0: a stream has no rendezvous.
    pub fn capacity(mut self, capacity: u64) -> Self {
        assert!(
            capacity > 0,
            "a stream queue needs a capacity of at least 1"
        );
        self.capacity = capacity;
        self
    }

    /// What a send does when the queue is full (default [`Policy::Block`]); see the crate
    /// docs for what each means on a stream.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How many times a value is delivered before it goes to the dead-letter stream instead
    /// (default 5; at least 1).
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// How long a delivery may stay unacknowledged before another consumer may claim it
    /// (default 30 s). Longer than your slowest processing of one receive batch, or values
    /// are processed twice while their first consumer is still at work; shorter means a
    /// dead consumer's values come back sooner.
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle.max(Duration::from_millis(1));
        self
    }

    /// How many entries a receiver takes from the server at once (default 16): up to this
    /// many deliveries to redo, and up to this many new entries, in one round trip. They are
    /// delivered to this consumer (pending) from then on, so they count towards
    /// `claim_idle` while waiting in the receiver, and a crash of this consumer holds them
    /// until then.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// The longest pause between two length checks of a send waiting for room (Block),
    /// default 50 ms.
    pub fn full_poll(mut self, poll: Duration) -> Self {
        self.full_poll = poll.max(Duration::from_millis(1));
        self
    }

    /// How long a command keeps trying to reconnect before it fails (default 30 s).
    pub fn reconnect_for(mut self, budget: Duration) -> Self {
        self.reconnect_for = budget;
        self
    }

    /// The dead-letter stream (default `<stream>:dead`).
    pub fn dead_letter_stream(mut self, stream: &str) -> Self {
        self.dead = stream.to_owned();
        self
    }

    /// The codec values are encoded with (default [`Postcard`]).
    pub fn codec<D>(self, codec: D) -> Builder<D> {
        Builder {
            client: self.client,
            stream: self.stream,
            group: self.group,
            dead: self.dead,
            capacity: self.capacity,
            policy: self.policy,
            max_deliveries: self.max_deliveries,
            claim_idle: self.claim_idle,
            batch: self.batch,
            full_poll: self.full_poll,
            reconnect_for: self.reconnect_for,
            codec,
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The consumer group's name.
    pub fn group_name(&self) -> &str {
        &self.group
    }

    fn shared(&self) -> Arc<Shared<C>>
    where
        C: Clone,
    {
        Arc::new(Shared {
            stream: self.stream.clone(),
            stats: format!("{}:stats", self.stream),
            dead: self.dead.clone(),
            group: self.group.clone(),
            capacity: self.capacity,
            capacity_text: self.capacity.to_string(),
            policy: self.policy,
            max_deliveries: self.max_deliveries,
            claim_idle: self.claim_idle,
            batch: self.batch,
            full_poll: self.full_poll,
            codec: self.codec.clone(),
        })
    }

    /// A blocking sender. Connects (and fails if the server cannot be reached within
    /// [`reconnect_for`](Self::reconnect_for)).
    pub fn sender<T>(&self) -> Result<Sender<T, C>, Error>
    where
        C: Codec<T> + Clone,
    {
        let conn = conn::SyncConn::connect(self.client.clone(), self.reconnect_for)?;
        Ok(Sender::new(conn, self.shared()))
    }

    /// An async sender (on a tokio runtime).
    pub async fn sender_async<T>(&self) -> Result<AsyncSender<T, C>, Error>
    where
        C: Codec<T> + Clone,
    {
        let conn = conn::AsyncConn::connect(self.client.clone(), self.reconnect_for).await?;
        Ok(AsyncSender::new(conn, self.shared()))
    }

    /// A blocking receiver, the group's consumer `consumer`. Each consumer of a group needs
    /// its own name; a consumer made again under a dead one's name gets its deliveries back
    /// at once.
    pub fn receiver<T>(&self, consumer: &str) -> Result<Receiver<T, C>, Error>
    where
        C: Codec<T> + Clone,
    {
        let conn = conn::SyncConn::connect(self.client.clone(), self.reconnect_for)?;
        Ok(Receiver::new(conn, self.shared(), consumer))
    }

    /// An async receiver (on a tokio runtime), the group's consumer `consumer`.
    pub async fn receiver_async<T>(&self, consumer: &str) -> Result<AsyncReceiver<T, C>, Error>
    where
        C: Codec<T> + Clone,
    {
        let conn = conn::AsyncConn::connect(self.client.clone(), self.reconnect_for).await?;
        Ok(AsyncReceiver::new(conn, self.shared(), consumer))
    }
}

/// What every handle of a queue knows.
#[derive(Debug)]
pub(crate) struct Shared<C> {
    pub(crate) stream: String,
    pub(crate) stats: String,
    pub(crate) dead: String,
    pub(crate) group: String,
    pub(crate) capacity: u64,
    /// The capacity as a script argument.
    pub(crate) capacity_text: String,
    pub(crate) policy: Policy,
    pub(crate) max_deliveries: u32,
    pub(crate) claim_idle: Duration,
    pub(crate) batch: usize,
    pub(crate) full_poll: Duration,
    pub(crate) codec: C,
}

impl<C> Shared<C> {
    pub(crate) fn keys(&self) -> [&str; 3] {
        [&self.stream, &self.stats, &self.dead]
    }

    fn metrics_op(&self) -> (conn::Op<'_>, conn::Op<'_>) {
        let mut hgetall = redis::cmd("HGETALL");
        hgetall.arg(&self.stats);
        (
            conn::Op::Script {
                script: scripts::length(),
                keys: vec![&self.stream],
                args: vec![self.group.as_bytes(), self.capacity_text.as_bytes()],
            },
            conn::Op::Cmd(hgetall),
        )
    }
}

/// A queue's figures, kept on the server for all its senders and receivers together
/// (`<stream>:stats`, a hash), plus its present length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamMetrics {
    /// Values appended.
    pub sent: u64,
    /// Values not appended because the queue was full (DropNewest, and DropOldest with
    /// nothing it could evict).
    pub dropped_newest: u64,
    /// Undelivered entries evicted by DropOldest sends.
    pub evicted_oldest: u64,
    /// Values refused by Reject sends.
    pub rejected: u64,
    /// Sends (or batches) that found the queue full and waited for room (Block), each
    /// counted once however long it waited: the backpressure the producers felt.
    pub send_waits: u64,
    /// Deliveries acknowledged.
    pub acked: u64,
    /// Deliveries given back with `nack`.
    pub nacked: u64,
    /// Deliveries made again after a claim (a dead consumer's values, or nacked ones).
    pub redelivered: u64,
    /// Values moved to the dead-letter stream (too many deliveries, or undecodable).
    pub dead_lettered: u64,
    /// Of those, records that did not decode.
    pub undecodable: u64,
    /// Entries delivered to a consumer and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet delivered.
    pub undelivered: u64,
    /// Consumers the group knows (dead ones too, until deleted).
    pub consumers: u64,
}

impl StreamMetrics {
    /// The queue's length: what the group has not acknowledged.
    pub fn len(&self) -> u64 {
        self.pending + self.undelivered
    }

    /// Whether nothing is unacknowledged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn parse(length: redis::Value, stats: redis::Value) -> Result<Self, Error> {
        let len: Vec<i64> = redis::from_redis_value(length).map_err(Error::reply)?;
        let stats: std::collections::HashMap<String, u64> =
            redis::from_redis_value(stats).map_err(Error::reply)?;
        let get = |k: &str| stats.get(k).copied().unwrap_or(0);
        let at = |i: usize| len.get(i).copied().unwrap_or(0).max(0) as u64;
        Ok(Self {
            sent: get("sent"),
            dropped_newest: get("dropped_newest"),
            evicted_oldest: get("evicted_oldest"),
            rejected: get("rejected"),
            send_waits: get("send_waits"),
            acked: get("acked"),
            nacked: get("nacked"),
            redelivered: get("redelivered"),
            dead_lettered: get("dead_lettered"),
            undecodable: get("undecodable"),
            pending: at(0),
            undelivered: at(1),
            consumers: at(2),
        })
    }
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Block => "block",
        Policy::DropNewest => "drop-newest",
        Policy::DropOldest => "drop-oldest",
        Policy::Reject => "reject",
        // `Policy` may grow; an unknown one behaves as Block (waits, loses nothing).
        #[allow(unreachable_patterns)]
        _ => "block",
    }
}
