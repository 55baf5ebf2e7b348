//! Connections that come back: a command that fails because the server went away (or is
//! still loading its data after a restart) is sent again on a new connection, with
//! exponential backoff, until the builder's `reconnect_for` budget runs out.
//!
//! A command sent again may have run once already (its reply was lost with the
//! connection): an append may then be stored twice. That is within the at-least-once
//! contract; nothing acknowledged is lost.

use std::io;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, Cmd, Connection, RedisError, RedisResult, Script, Value,
};

/// How much longer than a command's own blocking time its reply may take before the
/// connection counts as lost.
const READ_SLACK: Duration = Duration::from_secs(10);

/// One server-side operation, built again for every attempt.
pub(crate) enum Op<'a> {
    Script {
        script: &'static Script,
        keys: Vec<&'a str>,
        args: Vec<&'a [u8]>,
    },
    Cmd(Cmd),
    /// A script, then a command, in one round trip (a pipeline). The reply is an array of
    /// the two replies; the script's is nil if the server had to load the script first,
    /// the command's is nil if it failed with NOGROUP (the script makes the group).
    ScriptThen {
        script: &'static Script,
        keys: Vec<&'a str>,
        args: Vec<&'a [u8]>,
        then: Cmd,
    },
}

impl Op<'_> {
    fn invocation(
        script: &'static Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> redis::ScriptInvocation<'static> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        inv
    }

    fn pipeline(script: &Script, keys: &[&str], args: &[&[u8]], then: &Cmd) -> redis::Pipeline {
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(script.get_hash()).arg(keys.len()).arg(keys);
        for a in args {
            eval.arg(*a);
        }
        let mut pipe = redis::pipe();
        // Every reply comes back, errors included: the command's result must not be lost
        // because the script failed (its entries are then delivered to this consumer).
        pipe.ignore_errors()
            .add_command(eval)
            .add_command(then.clone());
        pipe
    }

    /// Sorts a pipeline's replies: whether the script must be loaded, and what to return.
    fn after_pipeline(mut replies: Vec<Value>) -> RedisResult<(bool, Value)> {
        let then = match replies.pop() {
            Some(Value::ServerError(e)) if e.code() == "NOGROUP" => Value::Nil,
            Some(Value::ServerError(e)) => return Err(e.into()),
            Some(v) => v,
            None => return Err(io::Error::other("short pipeline reply").into()),
        };
        let (load, first) = match replies.pop() {
            Some(Value::ServerError(e)) if e.code() == "NOSCRIPT" => (true, Value::Nil),
            Some(Value::ServerError(e)) => return Err(e.into()),
            Some(v) => (false, v),
            None => return Err(io::Error::other("short pipeline reply").into()),
        };
        Ok((load, Value::Array(vec![first, then])))
    }

    fn run(&self, con: &mut Connection) -> RedisResult<Value> {
        match self {
            Op::Script { script, keys, args } => Self::invocation(script, keys, args).invoke(con),
            Op::Cmd(cmd) => cmd.query(con),
            Op::ScriptThen {
                script,
                keys,
                args,
                then,
            } => {
                let replies = Self::pipeline(script, keys, args, then).query(con)?;
                let (load, reply) = Self::after_pipeline(replies)?;
                if load {
                    script.load(con)?;
                }
                Ok(reply)
            }
        }
    }

    async fn run_async(&self, con: &mut MultiplexedConnection) -> RedisResult<Value> {
        match self {
            Op::Script { script, keys, args } => {
                Self::invocation(script, keys, args).invoke_async(con).await
            }
            Op::Cmd(cmd) => cmd.query_async(con).await,
            Op::ScriptThen {
                script,
                keys,
                args,
                then,
            } => {
                let replies = Self::pipeline(script, keys, args, then)
                    .query_async(con)
                    .await?;
                let (load, reply) = Self::after_pipeline(replies)?;
                if load {
                    script.load_async(con).await?;
                }
                Ok(reply)
            }
        }
    }
}

/// Whether a new connection (or a short wait) may cure the error.
/// Not authentication or parse errors: those stay what they are on a new connection.
pub(crate) fn retryable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("LOADING" | "TRYAGAIN" | "MASTERDOWN"))
}

/// The backoff between attempts: 5 ms doubling to 500 ms.
pub(crate) struct Backoff {
    next: Duration,
    until: Instant,
}

impl Backoff {
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            next: Duration::from_millis(5),
            until: Instant::now() + budget,
        }
    }

    /// How long to wait before the next attempt, or `None` when the budget is spent.
    pub(crate) fn step(&mut self) -> Option<Duration> {
        let now = Instant::now();
        if now >= self.until {
            return None;
        }
        let wait = self.next.min(self.until - now);
        self.next = (self.next * 2).min(Duration::from_millis(500));
        Some(wait)
    }
}

/// A blocking connection that reconnects.
pub(crate) struct SyncConn {
    client: Client,
    con: Option<Connection>,
    /// Connections lost so far (a command retried on a new one).
    reconnects: u64,
    reconnect_for: Duration,
    /// Extra read timeout over a command's own blocking time (XREADGROUP BLOCK).
    read_slack: Duration,
}

impl SyncConn {
    pub(crate) fn connect(client: Client, reconnect_for: Duration) -> RedisResult<Self> {
        let mut c = Self {
            client,
            con: None,
            reconnects: 0,
            reconnect_for,
            read_slack: READ_SLACK,
        };
        c.run(&Op::Cmd(redis::cmd("PING")), Duration::ZERO)?;
        Ok(c)
    }

    /// How many times a command was retried on a new connection so far.
    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Runs `op`, which may block on the server for up to `blocks`.
    pub(crate) fn run(&mut self, op: &Op<'_>, blocks: Duration) -> RedisResult<Value> {
        let mut backoff = Backoff::new(self.reconnect_for);
        loop {
            let result = match self.con.as_mut() {
                Some(con) => con
                    .set_read_timeout(Some(blocks + self.read_slack))
                    .and_then(|()| op.run(con)),
                None => self
                    .client
                    .get_connection_with_timeout(Duration::from_secs(5))
                    .and_then(|con| op.run(self.con.insert(con))),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) => {
                    self.con = None;
                    self.reconnects += 1;
                    match backoff.step() {
                        Some(wait) => std::thread::sleep(wait),
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// An async connection that reconnects.
pub(crate) struct AsyncConn {
    client: Client,
    con: Option<MultiplexedConnection>,
    /// Connections lost so far (a command retried on a new one).
    reconnects: u64,
    reconnect_for: Duration,
}

impl AsyncConn {
    async fn connection(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        if self.con.is_none() {
            // No response timeout of the client's own: `run` sets one per command, from
            // how long the command itself may block on the server (XREADGROUP BLOCK).
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(5)))
                .set_response_timeout(None);
            let con = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("connected just now"))
    }

    pub(crate) async fn connect(client: Client, reconnect_for: Duration) -> RedisResult<Self> {
        let mut c = Self {
            client,
            con: None,
            reconnects: 0,
            reconnect_for,
        };
        c.run(&Op::Cmd(redis::cmd("PING")), Duration::ZERO).await?;
        Ok(c)
    }

    /// How many times a command was retried on a new connection so far.
    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Runs `op`, which may block on the server for up to `blocks`. A reply that takes
    /// 10 s longer than that counts as a lost connection (a half-open socket never errs).
    pub(crate) async fn run(&mut self, op: &Op<'_>, blocks: Duration) -> RedisResult<Value> {
        let mut backoff = Backoff::new(self.reconnect_for);
        let limit = blocks + READ_SLACK;
        loop {
            let result = match self.connection().await {
                Ok(con) => match tokio::time::timeout(limit, op.run_async(con)).await {
                    Ok(r) => r,
                    Err(_) => {
                        Err(io::Error::new(io::ErrorKind::TimedOut, "no reply from redis").into())
                    }
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) => {
                    self.con = None;
                    self.reconnects += 1;
                    match backoff.step() {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
