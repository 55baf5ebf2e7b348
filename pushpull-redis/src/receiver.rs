//! Receivers: the consumers of the group, with acks, nacks, redelivery and dead letters.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushpull::spill::{Codec, Postcard};
use redis::Value;

use crate::conn::{AsyncConn, Op, SyncConn};
use crate::sender::{metrics_async, metrics_sync};
use crate::{scripts, Error, Shared, StreamMetrics};

/// A value delivered to this consumer. It stays pending (counted in the queue's length, and
/// held against redelivery) until acknowledged with [`Receiver::ack`]; given back with
/// [`Receiver::nack`], or left unacknowledged for the queue's `claim_idle`, it is delivered
/// again, maybe to another consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<T> {
    id: String,
    value: T,
    deliveries: u64,
}

impl<T> Delivery<T> {
    /// The stream entry's id: unique in the stream, the same at every delivery of the value.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, taking it; ack by id then ([`Receiver::ack_ids`]).
    pub fn into_value(self) -> T {
        self.value
    }

    /// The id and the value.
    pub fn into_parts(self) -> (String, T) {
        (self.id, self.value)
    }

    /// How many times the value has been delivered, this time included: 1 on the first
    /// delivery, more after a dead consumer's claim or a nack.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Whether this is a redelivery (`deliveries() > 1`): the value may have been
    /// processed before.
    pub fn is_redelivery(&self) -> bool {
        self.deliveries > 1
    }
}

/// A value moved to the dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its entry id in the dead-letter stream.
    pub dead_id: String,
    /// Its entry id in the queue's stream.
    pub id: String,
    /// How many times it had been delivered.
    pub deliveries: u64,
    /// Why it is here: too many deliveries, or the codec's error.
    pub error: String,
    /// The encoded value (`None` if the entry had no `v` field).
    pub payload: Option<Vec<u8>>,
}

/// An entry's fields, as name and value pairs.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// An entry as the server delivered it.
struct Raw {
    id: String,
    fields: Fields,
    deliveries: u64,
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn text(v: &Value) -> Result<String, Error> {
    bulk(v)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| Error::reply(format!("expected a string, got {v:?}")))
}

fn int(v: &Value) -> Result<u64, Error> {
    match v {
        Value::Int(n) => Ok((*n).max(0) as u64),
        other => text(other)?
            .parse()
            .map_err(|_| Error::reply(format!("expected a number, got {other:?}"))),
    }
}

fn array(v: &Value) -> Result<&[Value], Error> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(Error::reply(format!("expected an array, got {other:?}"))),
    }
}

fn fields(v: &Value) -> Result<Fields, Error> {
    let flat = match v {
        // An entry deleted since it was delivered has no fields.
        Value::Nil => return Ok(Vec::new()),
        v => array(v)?,
    };
    Ok(flat
        .chunks(2)
        .filter_map(|kv| match kv {
            [k, v] => Some((bulk(k)?.to_vec(), bulk(v)?.to_vec())),
            _ => None,
        })
        .collect())
}

/// `{claim cursor, {{id, fields, deliveries}, ...}, own cursor}` from the receive script.
fn parse_receive(v: &Value, into: &mut VecDeque<Raw>) -> Result<(String, String), Error> {
    let [cursor, entries, own] = array(v)? else {
        return Err(Error::reply("receive: expected {cursor, entries, own}"));
    };
    for e in array(entries)? {
        let [id, f, n] = array(e)? else {
            return Err(Error::reply("receive: expected {id, fields, deliveries}"));
        };
        into.push_back(Raw {
            id: text(id)?,
            fields: fields(f)?,
            deliveries: int(n)?,
        });
    }
    Ok((text(cursor)?, text(own)?))
}

/// XREADGROUP's reply: nil, or `{{stream, {{id, fields}, ...}}}` (RESP2), or a map from
/// the stream to its entries (RESP3).
fn parse_read(v: &Value, into: &mut VecDeque<Raw>) -> Result<(), Error> {
    let streams: Vec<&Value> = match v {
        Value::Nil => return Ok(()),
        Value::Map(pairs) => pairs.iter().map(|(_, entries)| entries).collect(),
        v => array(v)?
            .iter()
            .map(|s| match array(s)? {
                [_, entries] => Ok(entries),
                _ => Err(Error::reply("XREADGROUP: expected {stream, entries}")),
            })
            .collect::<Result<_, _>>()?,
    };
    for entries in streams {
        for e in array(entries)? {
            let [id, f] = array(e)? else {
                return Err(Error::reply("XREADGROUP: expected {id, fields}"));
            };
            into.push_back(Raw {
                id: text(id)?,
                fields: fields(f)?,
                deliveries: 1,
            });
        }
    }
    Ok(())
}

fn parse_dead(v: &Value) -> Result<Vec<DeadLetter>, Error> {
    let mut out = Vec::new();
    for e in array(v)? {
        let [dead_id, f] = array(e)? else {
            return Err(Error::reply("XRANGE: expected {id, fields}"));
        };
        let mut d = DeadLetter {
            dead_id: text(dead_id)?,
            id: String::new(),
            deliveries: 0,
            error: String::new(),
            payload: None,
        };
        for (k, v) in fields(f)? {
            let s = || String::from_utf8_lossy(&v).into_owned();
            match k.as_slice() {
                b"id" => d.id = s(),
                b"deliveries" => d.deliveries = s().parse().unwrap_or(0),
                b"error" => d.error = s(),
                b"v" => d.payload = Some(v),
                _ => {}
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Why a delivered entry could not become a value.
fn decode<T, C: Codec<T>>(codec: &C, raw: &Raw) -> Result<T, String> {
    let payload = raw
        .fields
        .iter()
        .find(|(k, _)| k == b"v")
        .map(|(_, v)| v)
        .ok_or_else(|| "the entry has no `v` field".to_owned())?;
    codec
        .decode(payload)
        .map_err(|e| format!("undecodable: {e}"))
}

/// The receiving state both receivers share: the entries taken from the server but not yet
/// handed out, and where the next claim starts.
struct State {
    consumer: String,
    cursor: String,
    /// Where the next claim of this consumer's own earlier deliveries starts; empty once
    /// they are all taken back.
    own: String,
    /// Where they end: before the first entry this receiver read (entries read later have
    /// later ids), `+` until it has read one.
    own_end: String,
    /// The last entry this receiver read as new (`>`).
    last_read: Option<String>,
    buffer: VecDeque<Raw>,
}

impl State {
    fn new(consumer: &str) -> Self {
        Self {
            consumer: consumer.to_owned(),
            cursor: "0-0".to_owned(),
            own: "-".to_owned(),
            own_end: "+".to_owned(),
            last_read: None,
            buffer: VecDeque::new(),
        }
    }

    fn debug<C>(&self, f: &mut fmt::Formatter<'_>, name: &str, shared: &Shared<C>) -> fmt::Result {
        f.debug_struct(name)
            .field("stream", &shared.stream)
            .field("group", &shared.group)
            .field("consumer", &self.consumer)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }

    /// The next buffered entry as a delivery; or, if it does not decode, it stays first in
    /// the buffer and this returns why (the caller dead-letters it, then pops it).
    fn next<T, C: Codec<T>>(&mut self, codec: &C) -> Option<Result<Delivery<T>, String>> {
        let raw = self.buffer.front()?;
        Some(match decode(codec, raw) {
            Ok(value) => {
                let raw = self.buffer.pop_front().expect("front was Some");
                Ok(Delivery {
                    id: raw.id,
                    value,
                    deliveries: raw.deliveries,
                })
            }
            Err(why) => Err(why),
        })
    }

    /// The dead-letter op for the first buffered entry (which does not decode: `why`).
    fn dead_front<'a, C>(&'a self, shared: &'a Shared<C>, n: &'a str, why: &'a str) -> Op<'a> {
        let raw = self.buffer.front().expect("an entry to dead-letter");
        State::dead_op(shared, raw, n, why)
    }

    /// The claim script and a non-blocking read of new entries, in one round trip.
    fn receive_op<'a, C>(&'a self, shared: &'a Shared<C>, nums: &'a [String; 3]) -> Op<'a> {
        Op::ScriptThen {
            script: scripts::receive(),
            then: self.read_cmd(shared, None),
            keys: shared.keys().to_vec(),
            args: vec![
                shared.group.as_bytes(),
                self.consumer.as_bytes(),
                nums[0].as_bytes(),
                nums[1].as_bytes(),
                nums[2].as_bytes(),
                self.cursor.as_bytes(),
                self.own.as_bytes(),
                self.own_end.as_bytes(),
            ],
        }
    }

    /// The read for new entries, waiting up to `wait` on the server (`None`: not at all).
    fn read_cmd<C>(&self, shared: &Shared<C>, wait: Option<Duration>) -> redis::Cmd {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&shared.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(shared.batch);
        if let Some(wait) = wait {
            cmd.arg("BLOCK").arg(wait.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(&shared.stream).arg(">");
        cmd
    }

    /// Takes in the reply of a blocking read.
    ///
    /// `reconnected`: the connection was lost and made again during the command. A reply
    /// lost with it may have delivered entries to this consumer, after the last entry it
    /// read: the next receives take those back at once (as a consumer started again does),
    /// instead of after `claim_idle`.
    fn take_read(&mut self, read: &Value, reconnected: bool) -> Result<(), Error> {
        let before = self.buffer.len();
        let last_before = self.last_read.take();
        parse_read(read, &mut self.buffer)?;
        let first = self.buffer.get(before).map(|r| r.id.clone());
        self.last_read = match self.buffer.back() {
            Some(last) if self.buffer.len() > before => Some(last.id.clone()),
            _ => last_before.clone(),
        };
        if reconnected {
            self.own = last_before.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
            self.own_end = "+".to_owned();
        }
        if !self.own.is_empty() && self.own_end == "+" {
            if let Some(first) = first {
                self.own_end = format!("({first}");
            }
        }
        Ok(())
    }

    /// Takes in the reply of [`receive_op`](Self::receive_op) (`reconnected`: see
    /// [`take_read`](Self::take_read)).
    fn take(&mut self, reply: &Value, reconnected: bool) -> Result<(), Error> {
        let [claimed, read] = array(reply)? else {
            return Err(Error::reply(
                "receive: expected the claim's and the read's replies",
            ));
        };
        // Nil: the server had to load the claim script; the next receive claims.
        if !matches!(claimed, Value::Nil) {
            (self.cursor, self.own) = parse_receive(claimed, &mut self.buffer)?;
        }
        self.take_read(read, reconnected)
    }

    /// How long one blocking read may wait: until the deadline, but short enough that idle
    /// deliveries are claimed about twice per `claim_idle`.
    fn wait<C>(shared: &Shared<C>, deadline: Option<Instant>) -> Option<Duration> {
        let mut wait =
            (shared.claim_idle / 2).clamp(Duration::from_millis(1), Duration::from_secs(2));
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return None;
            }
            wait = wait.min(d - now);
        }
        Some(wait)
    }

    fn nums<C>(shared: &Shared<C>) -> [String; 3] {
        [
            shared.claim_idle.as_millis().to_string(),
            shared.batch.to_string(),
            shared.max_deliveries.to_string(),
        ]
    }

    fn ack_op<'a, C>(shared: &'a Shared<C>, ids: &'a [&'a str]) -> Op<'a> {
        let mut args: Vec<&[u8]> = vec![shared.group.as_bytes()];
        args.extend(ids.iter().map(|id| id.as_bytes()));
        Op::Script {
            script: scripts::ack(),
            keys: vec![&shared.stream, &shared.stats],
            args,
        }
    }

    fn nack_op<'a, C>(&'a self, shared: &'a Shared<C>, ids: &'a [&'a str]) -> Op<'a> {
        let mut args: Vec<&[u8]> = vec![shared.group.as_bytes(), self.consumer.as_bytes()];
        args.extend(ids.iter().map(|id| id.as_bytes()));
        Op::Script {
            script: scripts::nack(),
            keys: vec![&shared.stream, &shared.stats],
            args,
        }
    }

    fn dead_op<'a, C>(shared: &'a Shared<C>, raw: &'a Raw, n: &'a str, why: &'a str) -> Op<'a> {
        Op::Script {
            script: scripts::dead_letter(),
            keys: shared.keys().to_vec(),
            args: vec![
                shared.group.as_bytes(),
                raw.id.as_bytes(),
                n.as_bytes(),
                why.as_bytes(),
            ],
        }
    }

    fn dead_letters_cmd<C>(shared: &Shared<C>, count: usize) -> redis::Cmd {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(&shared.dead)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(count);
        cmd
    }
}

/// Whether a blocking read failed because the group is gone (the server lost its data):
/// the next receive script makes it again.
fn no_group(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// A blocking consumer of the group: [`recv`](Self::recv) a [`Delivery`], process it,
/// [`ack`](Self::ack) it. Each receiver is one named consumer with its own connection.
pub struct Receiver<T, C = Postcard> {
    conn: SyncConn,
    shared: Arc<Shared<C>>,
    state: State,
    _values: PhantomData<fn() -> T>,
}

impl<T, C> fmt::Debug for Receiver<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.debug(f, "Receiver", &self.shared)
    }
}

impl<T, C: Codec<T>> Receiver<T, C> {
    pub(crate) fn new(conn: SyncConn, shared: Arc<Shared<C>>, consumer: &str) -> Self {
        Self {
            conn,
            shared,
            state: State::new(consumer),
            _values: PhantomData,
        }
    }

    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.state.consumer
    }

    /// Waits for the next delivery: a value another consumer gave back or left idle for
    /// `claim_idle` first, else the next new one. Records that do not decode go to the
    /// dead-letter stream on the way, and are not returned.
    pub fn recv(&mut self) -> Result<Delivery<T>, Error> {
        loop {
            if let Some(d) = self.recv_deadline(None)? {
                return Ok(d);
            }
        }
    }

    /// As [`recv`](Self::recv), but returns `Ok(None)` if nothing came within `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Delivery<T>>, Error> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Option<Delivery<T>>, Error> {
        let nums = State::nums(&self.shared);
        loop {
            while let Some(next) = self.state.next(&self.shared.codec) {
                match next {
                    Ok(delivery) => return Ok(Some(delivery)),
                    Err(why) => {
                        let n = self.state.buffer[0].deliveries.to_string();
                        self.conn.run(
                            &self.state.dead_front(&self.shared, &n, &why),
                            Duration::ZERO,
                        )?;
                        self.state.buffer.pop_front();
                    }
                }
            }
            let op = self.state.receive_op(&self.shared, &nums);
            let reconnects = self.conn.reconnects();
            let reply = self.conn.run(&op, Duration::ZERO)?;
            self.state
                .take(&reply, self.conn.reconnects() != reconnects)?;
            if !self.state.buffer.is_empty() {
                continue;
            }
            let Some(wait) = State::wait(&self.shared, deadline) else {
                return Ok(None);
            };
            let reconnects = self.conn.reconnects();
            match self.conn.run(
                &Op::Cmd(self.state.read_cmd(&self.shared, Some(wait))),
                wait,
            ) {
                Ok(reply) => self
                    .state
                    .take_read(&reply, self.conn.reconnects() != reconnects)?,
                Err(e) if no_group(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Acknowledges a delivery: it is done, and leaves the queue. Returns `false` if it was
    /// no longer pending (acknowledged already, or moved to the dead letters).
    pub fn ack(&mut self, delivery: &Delivery<T>) -> Result<bool, Error> {
        Ok(self.ack_ids(&[delivery.id()])? == 1)
    }

    /// Acknowledges deliveries by id, in one call; returns how many were still pending.
    pub fn ack_ids(&mut self, ids: &[&str]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        int(&self
            .conn
            .run(&State::ack_op(&self.shared, ids), Duration::ZERO)?)
    }

    /// Gives a delivery back for redelivery at once (to any consumer of the group, this one
    /// included), counting a delivery. Returns `false` if this consumer no longer held it
    /// (acknowledged, or claimed by another consumer after `claim_idle`).
    ///
    /// How: the entry is marked as idle since long ago (`XCLAIM ... IDLE`), so the next
    /// receive of any consumer, which claims idle entries before reading new ones, takes
    /// it. A value nacked `max_deliveries` times goes to the dead letters.
    pub fn nack(&mut self, delivery: &Delivery<T>) -> Result<bool, Error> {
        Ok(self.nack_ids(&[delivery.id()])? == 1)
    }

    /// Gives deliveries back by id, in one call; returns how many this consumer held.
    pub fn nack_ids(&mut self, ids: &[&str]) -> Result<u64, Error> {
        let op = self.state.nack_op(&self.shared, ids);
        int(&self.conn.run(&op, Duration::ZERO)?)
    }

    /// Deliveries taken from the server and not yet returned by a receive.
    pub fn buffered(&self) -> usize {
        self.state.buffer.len()
    }

    /// The first `count` entries of the dead-letter stream, oldest first.
    pub fn dead_letters(&mut self, count: usize) -> Result<Vec<DeadLetter>, Error> {
        let cmd = State::dead_letters_cmd(&self.shared, count);
        parse_dead(&self.conn.run(&Op::Cmd(cmd), Duration::ZERO)?)
    }

    /// The queue's figures, as the server has them now.
    pub fn metrics(&mut self) -> Result<StreamMetrics, Error> {
        metrics_sync(&mut self.conn, &self.shared)
    }
}

/// An async consumer of the group (on a tokio runtime): [`Receiver`]'s calls as futures.
///
/// A receive future dropped before it completes loses nothing: entries it took from the
/// server stay in this receiver for the next receive, or, if the reply itself was lost,
/// pending on the server until `claim_idle` brings them back.
pub struct AsyncReceiver<T, C = Postcard> {
    conn: AsyncConn,
    shared: Arc<Shared<C>>,
    state: State,
    _values: PhantomData<fn() -> T>,
}

impl<T, C> fmt::Debug for AsyncReceiver<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.debug(f, "AsyncReceiver", &self.shared)
    }
}

impl<T, C: Codec<T>> AsyncReceiver<T, C> {
    pub(crate) fn new(conn: AsyncConn, shared: Arc<Shared<C>>, consumer: &str) -> Self {
        Self {
            conn,
            shared,
            state: State::new(consumer),
            _values: PhantomData,
        }
    }

    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.state.consumer
    }

    /// [`Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Delivery<T>, Error> {
        loop {
            if let Some(d) = self.recv_deadline(None).await? {
                return Ok(d);
            }
        }
    }

    /// [`Receiver::recv_timeout`].
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Delivery<T>>, Error> {
        self.recv_deadline(Some(Instant::now() + timeout)).await
    }

    async fn recv_deadline(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Delivery<T>>, Error> {
        let nums = State::nums(&self.shared);
        loop {
            // Decoding and dead-lettering happen before the entry leaves the buffer, so a
            // future dropped at an await loses nothing.
            while let Some(next) = self.state.next(&self.shared.codec) {
                match next {
                    Ok(delivery) => return Ok(Some(delivery)),
                    Err(why) => {
                        let n = self.state.buffer[0].deliveries.to_string();
                        let op = self.state.dead_front(&self.shared, &n, &why);
                        self.conn.run(&op, Duration::ZERO).await?;
                        self.state.buffer.pop_front();
                    }
                }
            }
            let op = self.state.receive_op(&self.shared, &nums);
            let reconnects = self.conn.reconnects();
            let reply = self.conn.run(&op, Duration::ZERO).await?;
            self.state
                .take(&reply, self.conn.reconnects() != reconnects)?;
            if !self.state.buffer.is_empty() {
                continue;
            }
            let Some(wait) = State::wait(&self.shared, deadline) else {
                return Ok(None);
            };
            let reconnects = self.conn.reconnects();
            match self
                .conn
                .run(
                    &Op::Cmd(self.state.read_cmd(&self.shared, Some(wait))),
                    wait,
                )
                .await
            {
                Ok(reply) => self
                    .state
                    .take_read(&reply, self.conn.reconnects() != reconnects)?,
                Err(e) if no_group(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`Receiver::ack`].
    pub async fn ack(&mut self, delivery: &Delivery<T>) -> Result<bool, Error> {
        Ok(self.ack_ids(&[delivery.id()]).await? == 1)
    }

    /// [`Receiver::ack_ids`].
    pub async fn ack_ids(&mut self, ids: &[&str]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        int(&self
            .conn
            .run(&State::ack_op(&self.shared, ids), Duration::ZERO)
            .await?)
    }

    /// [`Receiver::nack`].
    pub async fn nack(&mut self, delivery: &Delivery<T>) -> Result<bool, Error> {
        Ok(self.nack_ids(&[delivery.id()]).await? == 1)
    }

    /// [`Receiver::nack_ids`].
    pub async fn nack_ids(&mut self, ids: &[&str]) -> Result<u64, Error> {
        let op = self.state.nack_op(&self.shared, ids);
        int(&self.conn.run(&op, Duration::ZERO).await?)
    }

    /// [`Receiver::buffered`].
    pub fn buffered(&self) -> usize {
        self.state.buffer.len()
    }

    /// [`Receiver::dead_letters`].
    pub async fn dead_letters(&mut self, count: usize) -> Result<Vec<DeadLetter>, Error> {
        let cmd = State::dead_letters_cmd(&self.shared, count);
        parse_dead(&self.conn.run(&Op::Cmd(cmd), Duration::ZERO).await?)
    }

    /// The queue's figures, as the server has them now.
    pub async fn metrics(&mut self) -> Result<StreamMetrics, Error> {
        metrics_async(&mut self.conn, &self.shared).await
    }
}
