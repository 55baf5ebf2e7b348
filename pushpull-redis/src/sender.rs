//! Senders: append values to the stream under the queue's policy.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushpull::spill::{Codec, Postcard};
use redis::Value;

use crate::conn::{AsyncConn, Op, SyncConn};
use crate::{policy_name, scripts, Error, SendError, Shared, StreamMetrics};

/// What a send did with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Appended as the entry with this id.
    Queued(String),
    /// The queue was full (DropOldest): the oldest undelivered entry was evicted, and the
    /// value appended as the entry with this id. The evicted value cannot be handed back
    /// from the server; it is counted in [`StreamMetrics::evicted_oldest`].
    Evicted(String),
    /// The queue was full (DropNewest, or DropOldest with every counted entry held by a
    /// consumer): the value was not appended, and is counted in
    /// [`StreamMetrics::dropped_newest`].
    DroppedNewest,
}

impl Appended {
    /// The entry id, if the value was appended.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Queued(id) | Self::Evicted(id) => Some(id),
            Self::DroppedNewest => None,
        }
    }
}

/// What a batch send did: how many of its values went which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchAppended {
    /// Values appended while there was room.
    pub queued: usize,
    /// Values appended after evicting the oldest undelivered entry (DropOldest).
    pub evicted: usize,
    /// Values not appended because the queue was full (DropNewest).
    pub dropped_newest: usize,
    /// Values refused because the queue was full (Reject): they are still in the batch's
    /// `Vec`, handed back.
    pub rejected: usize,
}

/// Why an append script stopped before the end of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    None,
    Rejected,
    Full,
}

/// One script call's result: an outcome per value handled (with its entry id if they were
/// asked for, else an empty one), and why it stopped.
fn parse_send(v: Value) -> Result<(Vec<Appended>, Stop), Error> {
    let (codes, ids, stop): (String, Vec<String>, String) =
        redis::from_redis_value(v).map_err(Error::reply)?;
    let mut ids = ids.into_iter();
    let outcomes = codes
        .bytes()
        .map(|code| match code {
            b'D' => Appended::DroppedNewest,
            b'E' => Appended::Evicted(ids.next().unwrap_or_default()),
            _ => Appended::Queued(ids.next().unwrap_or_default()),
        })
        .collect();
    let stop = match stop.as_str() {
        "R" => Stop::Rejected,
        "F" => Stop::Full,
        _ => Stop::None,
    };
    Ok((outcomes, stop))
}

impl<C> Shared<C> {
    /// The append of `payloads`; `waited`: whether this send found the queue full before
    /// (it is counted in `send_waits` once).
    fn send_op<'a>(&'a self, payloads: &'a [Vec<u8>], waited: bool) -> Op<'a> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(5 + payloads.len());
        args.push(self.group.as_bytes());
        args.push(self.capacity_text.as_bytes());
        args.push(policy_name(self.policy).as_bytes());
        args.push(if waited { b"1" } else { b"0" });
        // Single sends return the entry id; a batch needs only the counts.
        args.push(if payloads.len() == 1 { b"1" } else { b"0" });
        args.extend(payloads.iter().map(Vec::as_slice));
        Op::Script {
            script: scripts::send(),
            keys: vec![&self.stream, &self.stats],
            args,
        }
    }

    fn encode_all<T>(
        &self,
        values: &[T],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>>
    where
        C: Codec<T>,
    {
        values
            .iter()
            .map(|v| {
                let mut buf = Vec::new();
                self.codec
                    .encode(v, &mut buf)
                    .map(|()| buf)
                    .map_err(Into::into)
            })
            .collect()
    }
}

/// How a Block send paces its length checks while the queue is full: 1 ms, doubling to the
/// builder's `full_poll`, back to 1 ms after progress.
struct Pace {
    next: Duration,
    max: Duration,
    /// Whether the send has found the queue full (and waited) at least once.
    waited: bool,
}

impl Pace {
    fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_millis(1),
            max,
            waited: false,
        }
    }

    /// The pause before the next check, or `None` if the deadline has passed.
    fn wait(&mut self, progressed: bool, deadline: Option<Instant>) -> Option<Duration> {
        self.waited = true;
        if progressed {
            self.next = Duration::from_millis(1);
        }
        let mut wait = self.next;
        self.next = (self.next * 2).min(self.max);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return None;
            }
            wait = wait.min(d - now);
        }
        Some(wait)
    }
}

/// Turns one value's append into the single-send result.
fn single<T>(value: T, r: Result<(Vec<Appended>, Stop), Error>) -> Result<Appended, SendError<T>> {
    match r {
        Err(e) => Err(SendError::Failed(value, e)),
        Ok((mut done, stop)) => match done.pop() {
            Some(a) => Ok(a),
            None if stop == Stop::Rejected => Err(SendError::Overloaded(value)),
            None => Err(SendError::Timeout(value)),
        },
    }
}

fn debug_sender<C>(f: &mut fmt::Formatter<'_>, name: &str, shared: &Shared<C>) -> fmt::Result {
    f.debug_struct(name)
        .field("stream", &shared.stream)
        .field("group", &shared.group)
        .field("capacity", &shared.capacity)
        .field("policy", &shared.policy)
        .finish_non_exhaustive()
}

/// Takes a batch's handled values from the front of `values` and counts what happened.
fn finish_batch<T>(values: &mut Vec<T>, done: &[Appended], stop: Stop) -> BatchAppended {
    values.drain(..done.len());
    let mut t = tally(done);
    if stop == Stop::Rejected {
        t.rejected = values.len();
    }
    t
}

/// Counts a batch's outcomes.
fn tally(done: &[Appended]) -> BatchAppended {
    let mut t = BatchAppended::default();
    for a in done {
        match a {
            Appended::Queued(_) => t.queued += 1,
            Appended::Evicted(_) => t.evicted += 1,
            Appended::DroppedNewest => t.dropped_newest += 1,
        }
    }
    t
}

/// A blocking sender: appends values to the stream under the queue's policy. Make one per
/// thread (it holds its own connection); they may be on any number of machines.
pub struct Sender<T, C = Postcard> {
    conn: SyncConn,
    shared: Arc<Shared<C>>,
    _values: PhantomData<fn(T)>,
}

impl<T, C> fmt::Debug for Sender<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_sender(f, "Sender", &self.shared)
    }
}

impl<T, C: Codec<T>> Sender<T, C> {
    pub(crate) fn new(conn: SyncConn, shared: Arc<Shared<C>>) -> Self {
        Self {
            conn,
            shared,
            _values: PhantomData,
        }
    }

    /// Appends `value`. When the queue is full, what happens is the policy's: Block waits
    /// for room, Reject fails with [`SendError::Overloaded`], DropNewest returns
    /// [`Appended::DroppedNewest`], DropOldest evicts ([`Appended::Evicted`]).
    pub fn send(&mut self, value: T) -> Result<Appended, SendError<T>> {
        self.send_deadline(value, None)
    }

    /// As [`send`](Self::send), but a Block send gives up after `timeout` with
    /// [`SendError::Timeout`], handing the value back.
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<Appended, SendError<T>> {
        self.send_deadline(value, Some(Instant::now() + timeout))
    }

    fn send_deadline(
        &mut self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<Appended, SendError<T>> {
        let payloads = match self.shared.encode_all(std::slice::from_ref(&value)) {
            Ok(p) => p,
            Err(e) => return Err(SendError::Encode(value, e)),
        };
        let r = self.append(&payloads, deadline);
        single(value, r)
    }

    /// Appends the values of `values` in order, in as few script calls as the queue's room
    /// allows (one when it has room for all). The values handled (appended or dropped) are
    /// taken from the front of `values`; what stays there was not appended: the rest of the
    /// batch after a Reject refusal (counted in [`BatchAppended::rejected`]), or after an
    /// error.
    ///
    /// Every value is encoded first; if one fails, nothing is sent and the error says which.
    pub fn send_batch(&mut self, values: &mut Vec<T>) -> Result<BatchAppended, SendError<()>> {
        let payloads = self
            .shared
            .encode_all(values)
            .map_err(|e| SendError::Encode((), e))?;
        let (done, stop) = self
            .append(&payloads, None)
            .map_err(|e| SendError::Failed((), e))?;
        Ok(finish_batch(values, &done, stop))
    }

    fn append(
        &mut self,
        payloads: &[Vec<u8>],
        deadline: Option<Instant>,
    ) -> Result<(Vec<Appended>, Stop), Error> {
        let mut done = Vec::with_capacity(payloads.len());
        let mut pace = Pace::new(self.shared.full_poll);
        loop {
            let op = self.shared.send_op(&payloads[done.len()..], pace.waited);
            let (outcomes, stop) = parse_send(self.conn.run(&op, Duration::ZERO)?)?;
            let progressed = !outcomes.is_empty();
            done.extend(outcomes);
            if stop != Stop::Full || done.len() == payloads.len() {
                return Ok((done, stop));
            }
            match pace.wait(progressed, deadline) {
                Some(wait) => std::thread::sleep(wait),
                None => return Ok((done, Stop::Full)),
            }
        }
    }

    /// The queue's figures, as the server has them now.
    pub fn metrics(&mut self) -> Result<StreamMetrics, Error> {
        metrics_sync(&mut self.conn, &self.shared)
    }
}

pub(crate) fn metrics_sync<C>(
    conn: &mut SyncConn,
    shared: &Shared<C>,
) -> Result<StreamMetrics, Error> {
    let (length, stats) = shared.metrics_op();
    let length = conn.run(&length, Duration::ZERO)?;
    let stats = conn.run(&stats, Duration::ZERO)?;
    StreamMetrics::parse(length, stats)
}

pub(crate) async fn metrics_async<C>(
    conn: &mut AsyncConn,
    shared: &Shared<C>,
) -> Result<StreamMetrics, Error> {
    let (length, stats) = shared.metrics_op();
    let length = conn.run(&length, Duration::ZERO).await?;
    let stats = conn.run(&stats, Duration::ZERO).await?;
    StreamMetrics::parse(length, stats)
}

/// An async sender (on a tokio runtime): [`Sender`]'s calls as futures. A dropped send
/// future may or may not have appended its value.
pub struct AsyncSender<T, C = Postcard> {
    conn: AsyncConn,
    shared: Arc<Shared<C>>,
    _values: PhantomData<fn(T)>,
}

impl<T, C> fmt::Debug for AsyncSender<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_sender(f, "AsyncSender", &self.shared)
    }
}

impl<T, C: Codec<T>> AsyncSender<T, C> {
    pub(crate) fn new(conn: AsyncConn, shared: Arc<Shared<C>>) -> Self {
        Self {
            conn,
            shared,
            _values: PhantomData,
        }
    }

    /// [`Sender::send`], awaiting room under Block.
    pub async fn send(&mut self, value: T) -> Result<Appended, SendError<T>> {
        self.send_deadline(value, None).await
    }

    /// [`Sender::send_timeout`].
    pub async fn send_timeout(
        &mut self,
        value: T,
        timeout: Duration,
    ) -> Result<Appended, SendError<T>> {
        self.send_deadline(value, Some(Instant::now() + timeout))
            .await
    }

    async fn send_deadline(
        &mut self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<Appended, SendError<T>> {
        let payloads = match self.shared.encode_all(std::slice::from_ref(&value)) {
            Ok(p) => p,
            Err(e) => return Err(SendError::Encode(value, e)),
        };
        let r = self.append(&payloads, deadline).await;
        single(value, r)
    }

    /// [`Sender::send_batch`].
    pub async fn send_batch(
        &mut self,
        values: &mut Vec<T>,
    ) -> Result<BatchAppended, SendError<()>> {
        let payloads = self
            .shared
            .encode_all(values)
            .map_err(|e| SendError::Encode((), e))?;
        let (done, stop) = self
            .append(&payloads, None)
            .await
            .map_err(|e| SendError::Failed((), e))?;
        Ok(finish_batch(values, &done, stop))
    }

    async fn append(
        &mut self,
        payloads: &[Vec<u8>],
        deadline: Option<Instant>,
    ) -> Result<(Vec<Appended>, Stop), Error> {
        let mut done = Vec::with_capacity(payloads.len());
        let mut pace = Pace::new(self.shared.full_poll);
        loop {
            let op = self.shared.send_op(&payloads[done.len()..], pace.waited);
            let (outcomes, stop) = parse_send(self.conn.run(&op, Duration::ZERO).await?)?;
            let progressed = !outcomes.is_empty();
            done.extend(outcomes);
            if stop != Stop::Full || done.len() == payloads.len() {
                return Ok((done, stop));
            }
            match pace.wait(progressed, deadline) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Ok((done, Stop::Full)),
            }
        }
    }

    /// The queue's figures, as the server has them now.
    pub async fn metrics(&mut self) -> Result<StreamMetrics, Error> {
        metrics_async(&mut self.conn, &self.shared).await
    }
}
