//! The spill queue's errors: [`SpillError`] for a send (it hands the value back), and
//! [`LogError`] for what can go wrong with the log itself.

use core::fmt;
use std::error::Error;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::BuildError;

/// Why a [`SpillSender`](super::SpillSender) did not take a value. Every variant hands the
/// value back ([`into_inner`](Self::into_inner)).
///
/// `Debug` prints the variant without the value (`Full(..)`), so it does not require
/// `T: Debug`.
pub enum SpillError<T> {
    /// The ring is full and the log has used up its disk budget: from
    /// [`try_send`](super::SpillSender::try_send), or from
    /// [`send_timeout`](super::SpillSender::send_timeout) when the budget stayed used up.
    /// Counted in [`SpillMetrics::refused`](super::SpillMetrics::refused).
    Full(T),
    /// The value's record is larger than the whole disk budget (or than 4 GiB, the most a
    /// record's length field holds): it could never be spilled, so no send waits for it.
    TooLarge(T),
    /// The queue is closed: by [`close`](super::SpillSender::close) or
    /// [`abort`](super::SpillSender::abort), because every receiver is gone, or because the
    /// ring was closed from the receiving side. After an I/O error the queue is closed too,
    /// and sends report [`Log`](Self::Log) instead.
    Closed(T),
    /// The codec could not encode the value; nothing was written.
    Encode(T, Box<dyn Error + Send + Sync>),
    /// The log failed (an I/O error); the queue is closed from now on, and the error is also
    /// returned by [`finish`](super::SpillSender::finish). When the failing write was this
    /// send's own (write buffer 0, or [`SyncPolicy::EveryRecord`](super::SyncPolicy)), its
    /// record may have reached the file in part or in full: the next
    /// [`open`](super::Builder::open) reports a torn tail, or delivers the record.
    Log(T, LogError),
}

impl<T> SpillError<T> {
    /// Returns the value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::TooLarge(v) | Self::Closed(v) => v,
            Self::Encode(v, _) | Self::Log(v, _) => v,
        }
    }

    /// Whether this is [`Full`](Self::Full).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether this is [`Closed`](Self::Closed).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for SpillError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::TooLarge(_) => f.write_str("TooLarge(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::Encode(_, e) => f.debug_tuple("Encode").field(&"..").field(e).finish(),
            Self::Log(_, e) => f.debug_tuple("Log").field(&"..").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for SpillError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => {
                f.write_str("spill queue full: the ring is full and the disk budget is used up")
            }
            Self::TooLarge(_) => {
                f.write_str("value too large to spill: its record exceeds the disk budget")
            }
            Self::Closed(_) => f.write_str("sending on a closed spill queue"),
            Self::Encode(_, e) => write!(f, "could not encode the value: {e}"),
            Self::Log(_, e) => write!(f, "the spill log failed: {e}"),
        }
    }
}

impl<T> Error for SpillError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Encode(_, e) => Some(&**e),
            Self::Log(_, e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong with a spill log: on [`open`](super::Builder::open), or while the queue
/// ran (then [`finish`](super::SpillSender::finish) and
/// [`error`](super::SpillSender::error) report it, and sends fail with
/// [`SpillError::Log`]).
///
/// Cloning is cheap (the sources are shared).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LogError {
    /// A file operation failed.
    Io {
        /// The file or directory it was on.
        path: PathBuf,
        /// What the system said.
        source: Arc<io::Error>,
    },
    /// A record (or a segment's header) fails its checks: it is reported, never skipped or
    /// guessed at. The records before `offset` in `segment` are intact.
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// The byte offset of the damaged record (or 0 for the segment's header).
        offset: u64,
        /// What is wrong there.
        kind: Corruption,
    },
    /// A record is intact (its checksum matches) but the codec could not decode it: written
    /// by another type or version? The record stays in the log.
    Decode {
        /// The segment file.
        segment: PathBuf,
        /// The byte offset of the record.
        offset: u64,
        /// The codec's error.
        source: Arc<dyn Error + Send + Sync>,
    },
    /// Another spill queue of this process has the directory open. (Two processes must not
    /// open the same directory either; that is the caller's to arrange: std has no file lock
    /// at this crate's minimum Rust version.)
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// The ring's configuration cannot be built (see [`BuildError`]).
    Build(BuildError),
    /// The mover thread panicked (in the codec's `decode`, or in a value's `Drop`); the queue
    /// is closed, and the records not yet moved are still in the log.
    MoverPanicked,
}

/// What is wrong with a corrupt record; see [`LogError::Corrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Corruption {
    /// The segment does not start with the spill log's header (not a segment, or a format
    /// this version does not read).
    BadMagic,
    /// A record's length does not match its checksum: the header is damaged (or the offset is
    /// not where a record starts).
    Header,
    /// A record's payload does not match its checksum.
    Payload,
    /// A record runs past the end of its segment, and the segment is not the last one (only
    /// the last segment can end in a record cut short by a crash; that one is recovered, see
    /// [`TornTail`](super::TornTail)).
    CutShort,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadMagic => "not a spill segment (bad header)",
            Self::Header => "record length fails its checksum",
            Self::Payload => "record payload fails its checksum",
            Self::CutShort => "record runs past the end of a segment that is not the last",
        })
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Corrupt {
                segment,
                offset,
                kind,
            } => write!(
                f,
                "corrupt spill segment {} at offset {offset}: {kind}",
                segment.display()
            ),
            Self::Decode {
                segment,
                offset,
                source,
            } => write!(
                f,
                "cannot decode the record at offset {offset} of {}: {source}",
                segment.display()
            ),
            Self::InUse { dir } => write!(
                f,
                "spill directory {} is already open in this process",
                dir.display()
            ),
            Self::Build(e) => write!(f, "spill queue: {e}"),
            Self::MoverPanicked => f.write_str("the spill queue's mover thread panicked"),
        }
    }
}

impl Error for LogError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(&**source),
            Self::Decode { source, .. } => Some(&**source),
            Self::Build(e) => Some(e),
            _ => None,
        }
    }
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
