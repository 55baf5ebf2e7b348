//! Errors: what failed, and the value back when a send did not take it.

use std::error::Error as StdError;
use std::fmt;

/// A queue operation failed: the server could not be reached within the builder's
/// `reconnect_for`, refused the command, or answered in a way this crate does not expect.
#[derive(Debug)]
pub struct Error {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Redis(redis::RedisError),
    Reply(String),
}

impl Error {
    pub(crate) fn reply(why: impl fmt::Display) -> Self {
        Self {
            inner: Inner::Reply(why.to_string()),
        }
    }

    /// The Redis client's error, if this is one (not a reply this crate could not read).
    pub fn redis(&self) -> Option<&redis::RedisError> {
        match &self.inner {
            Inner::Redis(e) => Some(e),
            Inner::Reply(_) => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Self {
            inner: Inner::Redis(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Redis(e) => write!(f, "redis: {e}"),
            Inner::Reply(why) => write!(f, "unexpected reply from redis: {why}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner {
            Inner::Redis(e) => Some(e),
            Inner::Reply(_) => None,
        }
    }
}

/// A send that did not append its value; the value is handed back.
pub enum SendError<T> {
    /// The queue was full and its policy is Reject.
    Overloaded(T),
    /// The queue stayed full until the deadline (Block, with `send_timeout`).
    Timeout(T),
    /// The codec could not encode the value.
    Encode(T, Box<dyn StdError + Send + Sync>),
    /// The server failed (see [`Error`]). The value may have been appended if the
    /// connection broke after the server ran the append.
    Failed(T, Error),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Overloaded(v) | Self::Timeout(v) | Self::Encode(v, _) | Self::Failed(v, _) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overloaded(_) => f.write_str("Overloaded(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Encode(_, e) => f.debug_tuple("Encode").field(&"..").field(e).finish(),
            Self::Failed(_, e) => f.debug_tuple("Failed").field(&"..").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overloaded(_) => f.write_str("the stream queue is full (rejected)"),
            Self::Timeout(_) => f.write_str("the stream queue stayed full until the deadline"),
            Self::Encode(_, e) => write!(f, "the value could not be encoded: {e}"),
            Self::Failed(_, e) => write!(f, "the send failed: {e}"),
        }
    }
}

impl<T> StdError for SendError<T> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Encode(_, e) => Some(&**e),
            Self::Failed(_, e) => Some(e),
            _ => None,
        }
    }
}
