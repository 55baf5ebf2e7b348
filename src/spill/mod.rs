//! Spill to disk: a queue that does not block, drop or reject when its ring is full, but
//! writes the overflow to an append-only log in a directory you choose, and feeds it back
//! in order (feature `spill`).
//!
//! The fifth answer to "what happens when the queue is full", for bursts that are too large
//! for memory but must not be lost: a consumer that falls behind for minutes (a slow
//! downstream, a restart of the database it writes to) while producers must not wait.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("spill");
//! use pushpull::spill;
//!
//! // A ring of 16 values; what does not fit goes to segment files in `dir`.
//! let (tx, rx, recovery) = spill::Builder::new(&dir, 16).open(spill::Postcard)?;
//! assert!(recovery.is_empty()); // a new directory: nothing to recover
//!
//! for i in 0..1000u32 {
//!     tx.send(i)?; // never waits for the consumer: 16 in the ring, the rest on disk
//! }
//! assert_eq!(tx.spill_metrics().spilled, 984);
//!
//! // The consumer side is an ordinary pushpull Receiver: the values come in order.
//! let received: Vec<u32> = rx.iter().take(1000).collect();
//! assert_eq!(received, (0..1000).collect::<Vec<_>>());
//! tx.finish()?; // close, wait until the log is empty
//! assert_eq!(std::fs::read_dir(&dir)?.count(), 0); // consumed segments are deleted
//! # Ok(()) }
//! ```
//!
//! # When to spill
//!
//! Spill when a backlog must survive being larger than memory, and a producer must keep
//! going: telemetry or audit events from a request path, a log shipper whose collector is
//! down, the input of a batch job that is slower than its source for a while. Do not spill
//! to hide a consumer that is slower than its producer for good: the disk fills as surely
//! as memory would, only later (the budget turns that into a refused send). And it is not
//! a message broker: one directory belongs to one queue of one process, and what is in the
//! ring (memory) is lost if the process dies.
//!
//! # Design
//!
//! The consumer side is an ordinary pushpull [`Receiver`], so blocking, async, batch and
//! iterator receives all work unchanged; it is fed by an MPMC ring of the capacity you
//! choose ([`Block`](crate::Policy::Block) policy). The sending side is a [`SpillSender`]
//! (cloneable):
//!
//! - While the log is empty, a send is a `try_send` into the ring: one atomic flag load
//!   more than a plain pushpull send, no lock, no I/O.
//! - When the ring is full, the send takes the log's mutex, switches the queue to
//!   *spilling*, encodes the value with your [`Codec`] and appends the record to the write
//!   buffer of the current segment. While the queue is spilling, every send appends to the
//!   log, even if the ring has room: that keeps the order.
//! - A *mover* thread, spawned by [`Builder::open`], reads the records in order (from the
//!   segment files, or straight from the write buffer when it has caught up with what was
//!   written, so a short burst need not touch the disk at all), decodes them and sends them
//!   into the ring with a blocking send: the consumer's pace throttles it, nothing else.
//!   When it has moved the last record, it switches the queue back to the fast path, under
//!   the same mutex. A thread, rather than the senders, does this work because the log must
//!   drain when no one sends any more (the consumer still wants the backlog), and because a
//!   send must never wait for the consumer.
//! - Segments are files `NNNNNNNNNNNNNNNNNNNN.seg` (the index, zero-padded), rolled when
//!   the next record would take one past [`segment_size`](Builder::segment_size). A
//!   segment the mover has finished is deleted at once, and when the log empties, the
//!   segment being written is too: an idle spill directory is empty.
//!
//! ## Order
//!
//! Per-producer FIFO: the values one thread sends (through one `SpillSender` or several
//! clones) are received in the order it sent them, whether each went through the ring or
//! the log. Why:
//!
//! 1. A record enters the log only under the mutex, at its end, so the log is in the
//!    order of the appends; the mover moves it in that order into the ring, which is FIFO.
//! 2. Once a thread has appended a value `x`, its next send sees the queue *spilling*
//!    (it observed the flag set under the mutex, and a later read of the flag returns that
//!    write or a later one), so it appends after `x`, unless the flag has been cleared
//!    since. Only the mover clears it, under the mutex, after it has moved *every* record
//!    (`x` included) into the ring; the next send reads that store with `Acquire` (the
//!    mover wrote it with `Release`), so its `try_send` into the ring comes after `x`'s.
//! 3. A value that went into the ring directly was there before the same thread's next
//!    send began, and anything that send does (ring or log, the log's values reaching the
//!    ring only through the mover) lands behind it.
//!
//! Between producers there is no order beyond that: a send racing with the switch to
//! spilling may still put its value in the ring while another thread's value goes to the
//! log (as two racing sends on any queue may land either way round).
//!
//! ## Budget
//!
//! [`budget`](Builder::budget) caps the bytes of the log: segment files on disk plus the
//! write buffer. A segment's bytes are freed when the mover deletes it (or when the log
//! empties), so keep segments well below the budget (the default segment is 8 MiB, or a
//! quarter of the budget if that is less). When a record does not fit:
//!
//! - [`try_send`](SpillSender::try_send) refuses with [`SpillError::Full`], handing the
//!   value back;
//! - [`send`](SpillSender::send) waits until the mover frees space, and
//!   [`send_timeout`](SpillSender::send_timeout) waits at most a given time. A waiting
//!   sender parks its thread after putting its handle in the log's list of waiters, under
//!   the mutex; the mover unparks every waiter whenever it deletes a segment or empties the
//!   log (and so do a close and an abort). The waiter then re-checks under the mutex, so no
//!   wake-up is lost and a spurious one only loops.
//!
//! A send never waits for the *consumer*: only for disk space.
//!
//! ## Closing
//!
//! [`close`](SpillSender::close) (and dropping the last `SpillSender`) is a drain: sends
//! fail from then on, the mover keeps moving until the log is empty, then closes the ring,
//! and the consumer receives everything and then sees `Closed`.
//! [`finish`](SpillSender::finish) closes and waits until the mover is done.
//! [`abort`](SpillSender::abort) discards everything: the ring's values and the log's
//! records (its files are deleted).
//!
//! Closing the *ring* from the receiving side (the receiver's `close`, `abort` or a
//! `Closer`), or dropping every receiver, stops the queue but keeps the log: the mover
//! stops, writes out its buffer and its exact position, and the records not yet moved wait
//! on disk for the next [`open`](Builder::open). So a process that shuts down and wants
//! its backlog back at the next start drops its receivers, then calls `finish`.
//!
//! # Durability
//!
//! Each record carries its length and two CRC-32 checksums (`crc32fast`: one for the
//! length, one for the payload); see the format below. A damaged record is never skipped
//! or guessed at: it is an error that names the segment file and the offset
//! ([`LogError::Corrupt`]).
//!
//! **What survives a crash of the process** (a panic that aborts, `SIGKILL`, the OOM
//! killer): every record that reached the operating system, which is every spilled value
//! except those still in the write buffer ([`write_buffer`](Builder::write_buffer), 64 KiB
//! by default; records reach the OS when it fills, when a segment rolls, on
//! [`flush`](SpillSender::flush) and [`sync`](SpillSender::sync), and when the queue
//! stops with records left). With `write_buffer(0)` every spilled value is written before
//! its send returns.
//! The values in the ring are lost: it is memory, as in every in-memory queue.
//!
//! **fsync**: none by default ([`SyncPolicy::Never`]), so records survive a process crash
//! (the kernel's page cache outlives the process) but not a power loss or a kernel crash.
//! The reason: a spill queue spills when its consumer is behind, which is exactly when the
//! producer must not slow down, and an fsync per record would limit it to what the disk
//! can flush (hundreds to tens of thousands of values per second, against millions); the
//! ring in front of the log is not durable either, so the queue as a whole promises no more
//! than the process's lifetime. [`SyncPolicy::EverySegment`] fsyncs each segment when it
//! is complete (a power loss costs at most the segment being written), and
//! [`SyncPolicy::EveryRecord`] writes and fsyncs each record before its send returns.
//!
//! **Consumed position**: a record counts as consumed when the mover has put it into the
//! ring. The mover keeps its position in a small file, `cursor` (segment, offset,
//! checksum), rewritten after every batch of at most 256 records and, exactly, when the
//! queue stops with records left. After a crash, the records of the batch being moved may
//! be delivered again (at-least-once for those, at most 256), and the values that were in
//! the ring are gone; everything after them is delivered once. A damaged cursor is
//! reported ([`Recovery::cursor_damaged`]) and ignored: delivery then starts at the first
//! segment's beginning, which can only re-deliver.
//!
//! # Recovery
//!
//! Opening a directory that holds segments ([`Builder::open`]) checks every record not yet
//! consumed and delivers them first, in order, before any new value; the [`Recovery`]
//! report says how many there were. A record cut short at the end of the *last* segment
//! (a crash in the middle of a write) is the one damage that is repaired: the file is
//! truncated to the last complete record and the cut is reported in
//! [`Recovery::torn_tail`] (segment, offset, bytes dropped). Anything else, a checksum
//! that fails anywhere or a segment that is not the last ending in the middle of a record,
//! fails the open with [`LogError::Corrupt`]. After a power loss under `SyncPolicy::Never`
//! the last segment may end in garbage rather than in a cut record; that too is reported
//! as `Corrupt`, with the offset up to which the segment is intact (truncate it there with
//! `File::set_len` to keep those records).
//!
//! # Format
//!
//! A segment starts with the 8 bytes `ppspill\x01`, then records back to back: the
//! payload's length (u32, little-endian), the CRC-32 of those 4 bytes, the CRC-32 of the
//! payload, the payload. The cursor file holds the segment index and offset (u64, u64,
//! little-endian) and the CRC-32 of those 16 bytes.

mod codec;
mod error;
mod log;
mod mover;

use core::fmt;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use codec::{Codec, Postcard, PostcardError};
pub use error::{Corruption, LogError, SpillError};

use crate::chan::{Receiver, Sender};
use crate::error::TrySendError;
use crate::loom::sync::{lock, Arc, Mutex, MutexGuard};
use crate::loom::thread::{current, park, park_timeout, Thread};
use crate::loom::{AtomicBool, Ordering};
use crate::metrics::Metrics;
use log::{header, segment_path, Seg, HEADER, MAGIC};

/// Builds a spill queue: the ring's capacity, the directory, and the log's options.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// use pushpull::spill::{Builder, Postcard, SyncPolicy};
///
/// let (tx, rx, _recovery) = Builder::new(tmp.path().join("events"), 1024)
///     .budget(256 << 20) // at most 256 MiB on disk
///     .segment_size(16 << 20)
///     .sync(SyncPolicy::EverySegment)
///     .open::<String, _>(Postcard)?;
/// tx.send("hello".to_string())?;
/// assert_eq!(rx.recv()?, "hello");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct Builder {
    dir: PathBuf,
    capacity: usize,
    budget: u64,
    segment_size: Option<u64>,
    write_buffer: usize,
    sync: SyncPolicy,
}

/// When the log calls `fsync`; see [`Builder::sync`] and the module docs ("Durability").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Never (the default). Records survive a crash of the process once they have reached
    /// the operating system (see [`Builder::write_buffer`]), but not a power loss or a
    /// kernel crash.
    #[default]
    Never,
    /// `fsync` each segment when it is complete (before the next one is started), and the
    /// directory when a segment file is created; [`SpillSender::sync`] syncs the current
    /// one. A power loss loses at most the records of the segment being written.
    EverySegment,
    /// Write and `fsync` (`fdatasync`) each spilled record before its send returns. A
    /// spilled send that returned `Ok` survives a power loss; each costs a disk flush.
    EveryRecord,
}

/// The default disk budget: 1 GiB.
const DEFAULT_BUDGET: u64 = 1 << 30;
/// The default (largest default) segment size: 8 MiB.
const DEFAULT_SEGMENT: u64 = 8 << 20;
/// The default write buffer: 64 KiB.
const DEFAULT_WRITE_BUFFER: usize = 64 << 10;

impl Builder {
    /// A spill queue whose ring holds `capacity` values, with its log in `dir` (created if
    /// missing; it should be dedicated to this queue). Defaults: a budget of 1 GiB, 8 MiB
    /// segments (a quarter of the budget if that is less), a 64 KiB write buffer,
    /// [`SyncPolicy::Never`].
    pub fn new(dir: impl Into<PathBuf>, capacity: usize) -> Self {
        Self {
            dir: dir.into(),
            capacity,
            budget: DEFAULT_BUDGET,
            segment_size: None,
            write_buffer: DEFAULT_WRITE_BUFFER,
            sync: SyncPolicy::Never,
        }
    }

    /// The most bytes the log may hold: its segment files plus its write buffer. A record
    /// that would take it over the budget is refused by `try_send` and waited for by
    /// `send`. A record larger than the whole budget is refused by both
    /// ([`SpillError::TooLarge`]). Records recovered at open count too: a directory opened
    /// over budget spills nothing until the mover has freed enough.
    pub fn budget(mut self, bytes: u64) -> Self {
        self.budget = bytes;
        self
    }

    /// Starts a new segment when the next record would take the current one past `bytes`
    /// (a record larger than that gets a segment of its own). The budget is freed a whole
    /// segment at a time, so keep this well below the budget.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = Some(bytes);
        self
    }

    /// The write buffer of the segment being written: records are written to the file when
    /// the next one would not fit in it, and in the other cases the module docs list. 0
    /// writes each record before its send returns (one system call per spilled value:
    /// slower, and every spilled value survives a crash of the process).
    pub fn write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// When to `fsync`; see [`SyncPolicy`].
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Opens the directory (recovering the records it holds, which are delivered first),
    /// builds the ring and starts the mover thread.
    ///
    /// Fails with [`LogError::Corrupt`] if a record is damaged (see the module docs,
    /// "Recovery": a torn tail of the last segment is repaired and reported in the
    /// [`Recovery`] instead), [`LogError::InUse`] if a spill queue of this process has the
    /// directory open (until its last `SpillSender` is dropped and its mover has finished),
    /// [`LogError::Build`] if the ring's capacity cannot be built, and [`LogError::Io`].
    pub fn open<T, C>(self, codec: C) -> Result<Opened<T, C>, LogError>
    where
        T: Send + 'static,
        C: Codec<T> + Send + Sync + 'static,
    {
        let (ring, rx) = crate::Builder::new(self.capacity)
            .try_mpmc::<T>()
            .map_err(LogError::Build)?;
        fs::create_dir_all(&self.dir).map_err(|e| LogError::io(&self.dir, e))?;
        let dir = fs::canonicalize(&self.dir).map_err(|e| LogError::io(&self.dir, e))?;
        if !registry::acquire(&dir) {
            return Err(LogError::InUse { dir });
        }
        let recovered = match log::recover(&dir) {
            Ok(r) => r,
            Err(e) => {
                registry::release(&dir);
                return Err(e);
            }
        };
        let config = Config {
            segment_size: self
                .segment_size
                .unwrap_or_else(|| DEFAULT_SEGMENT.min(self.budget / 4)),
            budget: self.budget,
            write_buffer: self.write_buffer,
            sync: self.sync,
            dir,
        };
        let report = recovered.report.clone();
        let state = Log {
            disk_bytes: recovered.segs.iter().map(|s| s.len).sum(),
            segs: recovered.segs,
            next_index: recovered.next_index,
            pending: report.records,
            wfile: None,
            buf: Vec::new(),
            scratch: Vec::new(),
            closed: false,
            aborted: false,
            done: false,
            failed: None,
            senders: 1,
            registered: true,
            mover: None,
            mover_idle: false,
            waiters: Vec::new(),
            next_ticket: 0,
            counters: Counters {
                recovered: report.records,
                ..Counters::default()
            },
        };
        let shared = Arc::new(Shared {
            slow: AtomicBool::new(!state.segs.is_empty()),
            log: Mutex::new(state),
            ring,
            codec,
            config,
        });
        if let Err(e) = mover::spawn(shared.clone(), recovered.start) {
            let dir = shared.config.dir.clone();
            registry::release(&dir);
            return Err(LogError::io(dir, e));
        }
        Ok((SpillSender { shared }, rx, report))
    }
}

/// What [`Builder::open`] returns: the sending side, the ring's receiver, and what was
/// recovered from the directory.
pub type Opened<T, C = Postcard> = (SpillSender<T, C>, Receiver<T>, Recovery);

/// Opens a spill queue in `dir` whose ring holds `capacity` values, with the default
/// options and the [`Postcard`] codec: `Builder::new(dir, capacity).open(Postcard)`.
pub fn open<T>(dir: impl Into<PathBuf>, capacity: usize) -> Result<Opened<T>, LogError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    Builder::new(dir, capacity).open(Postcard)
}

/// What [`Builder::open`] found in the directory: the records it will deliver first, and
/// what it repaired. Everything it did is here: nothing is skipped silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Complete records not yet consumed, delivered before any new value.
    pub records: u64,
    /// Their bytes on disk (headers included).
    pub bytes: u64,
    /// The segment files that hold them.
    pub segments: usize,
    /// A record cut short at the end of the last segment (a crash in the middle of a
    /// write): the file was truncated to the last complete record.
    pub torn_tail: Option<TornTail>,
    /// Segment files deleted because they held nothing left to deliver: already consumed
    /// before a crash (their deletion had not happened), or empty.
    pub removed_segments: usize,
    /// The cursor file was damaged and was ignored: delivery starts at the beginning of the
    /// first segment, so records moved before the crash may be delivered again.
    pub cursor_damaged: bool,
}

impl Recovery {
    /// Whether there was nothing to recover or repair.
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.is_clean()
    }

    /// Whether nothing had to be repaired (no torn tail, no damaged cursor).
    pub fn is_clean(&self) -> bool {
        self.torn_tail.is_none() && !self.cursor_damaged
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "recovered {} records ({} bytes) in {} segment{}",
            self.records,
            self.bytes,
            self.segments,
            s(self.segments)
        )?;
        if self.removed_segments > 0 {
            write!(
                f,
                "; removed {} segment{} already consumed or empty",
                self.removed_segments,
                s(self.removed_segments)
            )?;
        }
        if let Some(t) = &self.torn_tail {
            write!(f, "; {t}")?;
        }
        if self.cursor_damaged {
            f.write_str("; damaged cursor ignored (records may be delivered again)")?;
        }
        Ok(())
    }
}

/// A record cut short at the end of the last segment, found and cut off by
/// [`Builder::open`]: the signature of a crash in the middle of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the incomplete record began; the file now ends here.
    pub offset: u64,
    /// The bytes cut off.
    pub dropped_bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail: {} bytes cut off {} at offset {}",
            self.dropped_bytes,
            self.segment.display(),
            self.offset
        )
    }
}

/// A snapshot of a spill queue's log counters, from [`SpillSender::spill_metrics`]. The
/// ring's own counters are in [`SpillSender::metrics`] (values that went into the ring,
/// directly or moved from the log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillMetrics {
    /// Values written to the log since the queue was opened.
    pub spilled: u64,
    /// Records found in the directory at open (see [`Recovery`]).
    pub recovered: u64,
    /// Records the mover has put into the ring (updated once per batch).
    pub moved: u64,
    /// Records in the log not yet moved (`recovered + spilled - moved - discarded`).
    pub pending: u64,
    /// Records discarded by [`SpillSender::abort`].
    pub discarded: u64,
    /// Sends refused because the budget was used up ([`SpillError::Full`]).
    pub refused: u64,
    /// Sends that waited for the budget (each counted once).
    pub budget_waits: u64,
    /// Bytes the log holds (segment files and write buffer): what the budget limits.
    pub disk_bytes: u64,
    /// The budget.
    pub budget: u64,
    /// Bytes written to segment files.
    pub bytes_written: u64,
    /// Segment files deleted after the mover finished them.
    pub segments_deleted: u64,
    /// Whether the log holds records (new values then go to the log).
    pub spilling: bool,
}

/// The sending side of a spill queue: sends go into the ring, or into the log when the ring
/// is full (see the module docs). Clone it for more producers; dropping the last one closes
/// the queue (drain).
///
/// Sending is blocking code (it may write to a file): call it from a thread, or from async
/// code through your runtime's `spawn_blocking`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// use pushpull::spill::{self, SpillError};
///
/// let (tx, rx, _) = spill::Builder::new(tmp.path(), 2)
///     .budget(64) // bytes: room for a few small records
///     .open::<u64, _>(spill::Postcard)?;
/// let mut refused = None;
/// for i in 0..100 {
///     if let Err(SpillError::Full(v)) = tx.try_send(i) {
///         refused = Some(v); // the value comes back
///         break;
///     }
/// }
/// assert!(refused.is_some());
/// assert_eq!(rx.recv()?, 0);
/// # Ok(()) }
/// ```
pub struct SpillSender<T, C = Postcard> {
    shared: Arc<Shared<T, C>>,
}

/// What the senders and the mover share.
struct Shared<T, C> {
    /// The ring's only sender: the fast path's `try_send` and the mover's `send`.
    ring: Sender<T>,
    codec: C,
    /// Sends must take the mutex: the queue is spilling (the log holds records) or closed.
    /// Written only under the mutex; see the module docs ("Order") for the orderings.
    slow: AtomicBool,
    log: Mutex<Log>,
    config: Config,
}

#[derive(Debug)]
struct Config {
    dir: PathBuf,
    budget: u64,
    segment_size: u64,
    write_buffer: usize,
    sync: SyncPolicy,
}

/// The log's state, behind the mutex.
#[derive(Debug)]
struct Log {
    /// Segments not yet deleted, oldest first. The last one is being written if it is not
    /// sealed; its bytes past `len` are in `buf`.
    segs: VecDeque<Seg>,
    /// The file of the segment being written, once its first bytes were written.
    wfile: Option<File>,
    /// The write buffer: complete records (and a new segment's magic) not yet in the file.
    buf: Vec<u8>,
    /// Where a value is encoded before its record is appended.
    scratch: Vec<u8>,
    next_index: u64,
    /// Bytes in the segments and in `buf`.
    disk_bytes: u64,
    /// Records in the log not yet moved into the ring (the mover's in-flight batch
    /// included until it is moved).
    pending: u64,
    /// Sends fail (drain close, abort, ring closed, or a failure).
    closed: bool,
    aborted: bool,
    /// The mover has finished.
    done: bool,
    /// The first I/O error, corruption or decode error: the queue stopped on it.
    failed: Option<LogError>,
    /// Live `SpillSender`s.
    senders: usize,
    /// The directory is still in this process's registry of open spill directories.
    registered: bool,
    mover: Option<Thread>,
    /// The mover is parked, waiting for records (or for the close).
    mover_idle: bool,
    /// Threads waiting for budget or for the mover to finish, with their tickets.
    waiters: Vec<(u64, Thread)>,
    next_ticket: u64,
    counters: Counters,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    spilled: u64,
    recovered: u64,
    moved: u64,
    discarded: u64,
    refused: u64,
    budget_waits: u64,
    bytes_written: u64,
    segments_deleted: u64,
}

/// Why an append did not happen.
enum AppendError {
    Full,
    TooLarge,
    Encode(Box<dyn std::error::Error + Send + Sync>),
    Failed(LogError),
}

/// How long a send may wait for the budget.
#[derive(Clone, Copy)]
enum Wait {
    No,
    Forever,
    Until(Instant),
}

impl Log {
    /// The segment being written, if any.
    fn write_seg(&mut self) -> Option<&mut Seg> {
        self.segs.back_mut().filter(|s| !s.sealed)
    }

    /// Encodes `value` and appends its record to the log.
    fn append<T, C: Codec<T>>(
        &mut self,
        config: &Config,
        codec: &C,
        value: &T,
    ) -> Result<(), AppendError> {
        self.scratch.clear();
        if let Err(e) = codec.encode(value, &mut self.scratch) {
            return Err(AppendError::Encode(Box::new(e)));
        }
        let magic = MAGIC.len() as u64;
        let record = (HEADER + self.scratch.len()) as u64;
        if self.scratch.len() > u32::MAX as usize || magic + record > config.budget {
            return Err(AppendError::TooLarge);
        }
        let buffered = self.buf.len() as u64;
        let roll = match self.write_seg() {
            None => true,
            Some(s) => s.len + buffered > magic && s.len + buffered + record > config.segment_size,
        };
        let needed = record + if roll { magic } else { 0 };
        if self.disk_bytes + needed > config.budget {
            return Err(AppendError::Full);
        }
        if roll {
            self.seal(config).map_err(AppendError::Failed)?;
            self.segs.push_back(Seg {
                index: self.next_index,
                len: 0,
                sealed: false,
            });
            self.next_index += 1;
            self.buf.extend_from_slice(&MAGIC);
            self.disk_bytes += magic;
        } else if !self.buf.is_empty() && self.buf.len() + record as usize > config.write_buffer {
            // Written before this record joins the buffer: if it fails, this value comes
            // back to its sender and is not in the log.
            self.flush(config).map_err(AppendError::Failed)?;
        }
        self.buf.extend_from_slice(&header(&self.scratch));
        self.buf.extend_from_slice(&self.scratch);
        self.disk_bytes += record;
        self.pending += 1;
        self.counters.spilled += 1;
        if config.sync == SyncPolicy::EveryRecord {
            self.sync(config).map_err(AppendError::Failed)?;
        } else if self.buf.len() >= config.write_buffer {
            self.flush(config).map_err(AppendError::Failed)?;
        }
        Ok(())
    }

    /// Writes the write buffer to the segment's file (creating it on its first bytes).
    fn flush(&mut self, config: &Config) -> Result<(), LogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let index = self
            .write_seg()
            .expect("buffered bytes belong to the write segment")
            .index;
        let path = segment_path(&config.dir, index);
        if self.wfile.is_none() {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| LogError::io(&path, e))?;
            self.wfile = Some(file);
            if config.sync != SyncPolicy::Never {
                log::sync_dir(&config.dir)?;
            }
        }
        let file = self.wfile.as_mut().expect("opened above");
        file.write_all(&self.buf)
            .map_err(|e| LogError::io(&path, e))?;
        let written = self.buf.len() as u64;
        self.buf.clear();
        self.counters.bytes_written += written;
        self.write_seg().expect("still there").len += written;
        Ok(())
    }

    /// Flushes, then `fsync`s the segment being written.
    fn sync(&mut self, config: &Config) -> Result<(), LogError> {
        self.flush(config)?;
        if let (Some(file), Some(seg)) = (&self.wfile, self.segs.back()) {
            file.sync_data()
                .map_err(|e| LogError::io(segment_path(&config.dir, seg.index), e))?;
        }
        Ok(())
    }

    /// Completes the segment being written, if any: flushed, synced under
    /// `EverySegment` and `EveryRecord`, sealed.
    fn seal(&mut self, config: &Config) -> Result<(), LogError> {
        if self.write_seg().is_none() {
            return Ok(());
        }
        if config.sync == SyncPolicy::Never {
            self.flush(config)?;
        } else {
            self.sync(config)?;
        }
        self.wfile = None;
        self.write_seg().expect("checked above").sealed = true;
        Ok(())
    }

    /// Records the first failure and closes the queue. Returns who to wake.
    fn fail(&mut self, error: LogError, slow: &AtomicBool) -> Vec<Thread> {
        if self.failed.is_none() {
            self.failed = Some(error);
        }
        self.closed = true;
        // Ordering: see `Shared::slow`; written under the mutex.
        slow.store(true, Ordering::Release);
        self.wakers()
    }

    /// Every waiting sender, and the mover if it is parked: the state changed. Unpark them
    /// after releasing the mutex.
    fn wakers(&mut self) -> Vec<Thread> {
        let mut wake: Vec<Thread> = self.waiters.drain(..).map(|(_, t)| t).collect();
        if core::mem::take(&mut self.mover_idle) {
            wake.extend(self.mover.clone());
        }
        wake
    }

    /// Parks the calling thread until woken or `deadline`; returns the re-taken guard and
    /// whether the deadline passed. The caller re-checks its condition.
    fn wait<'a>(
        mut guard: MutexGuard<'a, Log>,
        mutex: &'a Mutex<Log>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, Log>, bool) {
        let ticket = guard.next_ticket;
        guard.next_ticket += 1;
        guard.waiters.push((ticket, current()));
        drop(guard);
        let mut timed_out = false;
        match deadline {
            None => park(),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => park_timeout(left),
                _ => timed_out = true,
            },
        }
        let mut guard = lock(mutex);
        guard.waiters.retain(|(t, _)| *t != ticket);
        (guard, timed_out)
    }

    fn metrics(&self, budget: u64) -> SpillMetrics {
        let c = self.counters;
        SpillMetrics {
            spilled: c.spilled,
            recovered: c.recovered,
            moved: c.moved,
            pending: self.pending,
            discarded: c.discarded,
            refused: c.refused,
            budget_waits: c.budget_waits,
            disk_bytes: self.disk_bytes,
            budget,
            bytes_written: c.bytes_written,
            segments_deleted: c.segments_deleted,
            spilling: !self.segs.is_empty(),
        }
    }
}

fn unpark_all(threads: Vec<Thread>) {
    for t in threads {
        t.unpark();
    }
}

impl<T, C> Shared<T, C> {
    /// Closes the queue (drain) with the mutex held: sends fail from now on; the ring closes
    /// now if the log is empty, else when the mover has emptied it. Returns whether this
    /// call closed it, and who to wake.
    fn close_locked(&self, log: &mut Log) -> (bool, Vec<Thread>) {
        if log.closed {
            return (false, Vec::new());
        }
        log.closed = true;
        // Ordering: Release, written under the mutex; see the module docs ("Order"). A send
        // that happens after this close reads `true` and finds `closed` under the mutex.
        self.slow.store(true, Ordering::Release);
        if log.segs.is_empty() {
            self.ring.close();
        }
        (true, log.wakers())
    }

    /// Waits until the mover has finished.
    fn wait_done(&self) {
        let mut log = lock(&self.log);
        while !log.done {
            log = Log::wait(log, &self.log, None).0;
        }
    }

    /// Takes the directory out of the registry once no sender and no mover use it.
    fn release_if_unused(&self, log: &mut Log) {
        if log.registered && log.done && log.senders == 0 {
            log.registered = false;
            registry::release(&self.config.dir);
        }
    }
}

impl<T, C: Codec<T>> SpillSender<T, C> {
    /// Sends `value`: into the ring if the queue is not spilling and the ring has room,
    /// else into the log, waiting for disk space if the budget is used up (never for the
    /// consumer). Fails if the queue is closed, the value cannot be encoded, or the log
    /// failed; the value comes back in every error.
    ///
    /// The codec's `encode` runs with the log's mutex held: it must not use this queue. If
    /// it panics, the panic reaches the caller and the queue is unaffected.
    pub fn send(&self, value: T) -> Result<(), SpillError<T>> {
        self.send_inner(value, Wait::Forever)
    }

    /// Like [`send`](Self::send), but refuses with [`SpillError::Full`] at once when the
    /// record does not fit in the budget.
    pub fn try_send(&self, value: T) -> Result<(), SpillError<T>> {
        self.send_inner(value, Wait::No)
    }

    /// Like [`send`](Self::send), waiting at most `timeout` for disk space; then
    /// [`SpillError::Full`].
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SpillError<T>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.send_inner(value, Wait::Until(deadline)),
            None => self.send_inner(value, Wait::Forever),
        }
    }

    fn send_inner(&self, mut value: T, wait: Wait) -> Result<(), SpillError<T>> {
        let shared = &*self.shared;
        // Ordering: Acquire pairs with the mover's Release store of `false` (it has moved
        // every record, this thread's included, into the ring); see "Order".
        if !shared.slow.load(Ordering::Acquire) {
            match shared.ring.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(SpillError::Closed(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
        }
        let mut log = lock(&shared.log);
        let mut waited = false;
        loop {
            if log.closed || shared.ring.is_closed() {
                return Err(match &log.failed {
                    Some(e) => SpillError::Log(value, e.clone()),
                    None => SpillError::Closed(value),
                });
            }
            if log.segs.is_empty() {
                // Not spilling: the ring still comes first.
                match shared.ring.try_send(value) {
                    Ok(()) => return Ok(()),
                    Err(TrySendError::Closed(v)) => return Err(SpillError::Closed(v)),
                    Err(TrySendError::Full(v)) => value = v,
                }
            }
            let was_empty = log.segs.is_empty();
            match log.append(&shared.config, &shared.codec, &value) {
                Ok(()) => {
                    if was_empty {
                        // Ordering: Release, under the mutex: the switch to spilling.
                        shared.slow.store(true, Ordering::Release);
                    }
                    let wake = if log.mover_idle {
                        log.wakers()
                    } else {
                        Vec::new()
                    };
                    drop(log);
                    unpark_all(wake);
                    return Ok(());
                }
                Err(AppendError::Full) => {
                    let deadline = match wait {
                        Wait::No => {
                            log.counters.refused += 1;
                            return Err(SpillError::Full(value));
                        }
                        Wait::Forever => None,
                        Wait::Until(d) => Some(d),
                    };
                    if !waited {
                        waited = true;
                        log.counters.budget_waits += 1;
                    }
                    let (l, timed_out) = Log::wait(log, &shared.log, deadline);
                    log = l;
                    if timed_out {
                        log.counters.refused += 1;
                        return Err(SpillError::Full(value));
                    }
                }
                Err(AppendError::TooLarge) => return Err(SpillError::TooLarge(value)),
                Err(AppendError::Encode(e)) => return Err(SpillError::Encode(value, e)),
                Err(AppendError::Failed(e)) => {
                    let wake = log.fail(e.clone(), &shared.slow);
                    drop(log);
                    unpark_all(wake);
                    return Err(SpillError::Log(value, e));
                }
            }
        }
    }
}

impl<T, C> SpillSender<T, C> {
    /// Closes the queue (drain): sends fail from now on; the mover moves what the log holds
    /// into the ring, then closes the ring, so the consumer receives every value and then
    /// sees `Closed`. Returns `true` if this call closed the queue.
    pub fn close(&self) -> bool {
        let mut log = lock(&self.shared.log);
        let (closed, wake) = self.shared.close_locked(&mut log);
        drop(log);
        unpark_all(wake);
        closed
    }

    /// Closes the queue and discards everything: the values in the ring and the records in
    /// the log (its files are deleted). Waits for the mover to stop; returns how many values
    /// were discarded (counted in the ring's [`Metrics::discarded`] and in
    /// [`SpillMetrics::discarded`]).
    pub fn abort(&self) -> usize {
        let shared = &*self.shared;
        let mut log = lock(&shared.log);
        if log.aborted {
            return 0;
        }
        log.aborted = true;
        log.closed = true;
        // Ordering: as in `close_locked`.
        shared.slow.store(true, Ordering::Release);
        let wake = log.wakers();
        drop(log);
        unpark_all(wake);
        // The mover's pending push fails now, and it stops.
        let in_ring = shared.ring.abort();
        shared.wait_done();
        let mut log = lock(&shared.log);
        let mut error = None;
        for seg in core::mem::take(&mut log.segs) {
            if let Err(e) = log::remove(&segment_path(&shared.config.dir, seg.index)) {
                error.get_or_insert(e);
            }
        }
        if let Err(e) = log::remove(&shared.config.dir.join(log::CURSOR)) {
            error.get_or_insert(e);
        }
        log.wfile = None;
        log.buf.clear();
        log.disk_bytes = 0;
        let in_log = core::mem::take(&mut log.pending);
        log.counters.discarded += in_log;
        if let Some(e) = error {
            log.failed.get_or_insert(e);
        }
        let wake = log.wakers();
        drop(log);
        unpark_all(wake);
        in_ring + in_log as usize
    }

    /// Closes the queue (drain), waits until the mover has finished, and reports the first
    /// failure, if any. The mover finishes when the log is empty (every value is in the
    /// ring: this waits for the consumer to make room for the backlog), or when the ring
    /// was closed from the receiving side or every receiver is gone (the records left stay
    /// on disk for the next [`open`](Builder::open)).
    pub fn finish(self) -> Result<(), LogError> {
        self.close();
        self.shared.wait_done();
        let failed = lock(&self.shared.log).failed.clone();
        drop(self);
        failed.map_or(Ok(()), Err)
    }

    /// Writes the write buffer to the segment file: the records spilled so far survive a
    /// crash of the process from now on.
    pub fn flush(&self) -> Result<(), LogError> {
        self.with_log(|log, config| log.flush(config))
    }

    /// Flushes, then `fsync`s the segment being written: the records spilled so far
    /// survive a power loss from now on (the segments completed before it are synced under
    /// [`SyncPolicy::EverySegment`] and `EveryRecord`; under `Never` call this on a quiet
    /// queue to sync them all, or use `EverySegment`).
    pub fn sync(&self) -> Result<(), LogError> {
        self.with_log(|log, config| {
            log.sync(config)?;
            log::sync_dir(&config.dir)
        })
    }

    fn with_log(
        &self,
        f: impl FnOnce(&mut Log, &Config) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        let shared = &*self.shared;
        let mut log = lock(&shared.log);
        if let Some(e) = &log.failed {
            return Err(e.clone());
        }
        if log.aborted {
            return Ok(());
        }
        match f(&mut log, &shared.config) {
            Ok(()) => Ok(()),
            Err(e) => {
                let wake = log.fail(e.clone(), &shared.slow);
                drop(log);
                unpark_all(wake);
                Err(e)
            }
        }
    }

    /// The failure the queue stopped on, if any.
    pub fn error(&self) -> Option<LogError> {
        lock(&self.shared.log).failed.clone()
    }

    /// Whether the queue is closed (sends fail).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.log).closed || self.shared.ring.is_closed()
    }

    /// Whether the log holds records (new values go to the log).
    pub fn is_spilling(&self) -> bool {
        !lock(&self.shared.log).segs.is_empty()
    }

    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// The spill directory (canonical path).
    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// The ring's counters (values that entered the ring, directly or from the log).
    pub fn metrics(&self) -> Metrics {
        self.shared.ring.metrics()
    }

    /// The log's counters.
    pub fn spill_metrics(&self) -> SpillMetrics {
        lock(&self.shared.log).metrics(self.shared.config.budget)
    }
}

impl<T, C> Clone for SpillSender<T, C> {
    fn clone(&self) -> Self {
        lock(&self.shared.log).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T, C> Drop for SpillSender<T, C> {
    fn drop(&mut self) {
        let mut log = lock(&self.shared.log);
        log.senders -= 1;
        if log.senders > 0 {
            return;
        }
        let (_, wake) = self.shared.close_locked(&mut log);
        self.shared.release_if_unused(&mut log);
        drop(log);
        unpark_all(wake);
    }
}

impl<T, C> fmt::Debug for SpillSender<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = lock(&self.shared.log);
        f.debug_struct("SpillSender")
            .field("dir", &self.shared.config.dir)
            .field("spilling", &!log.segs.is_empty())
            .field("pending", &log.pending)
            .field("closed", &log.closed)
            .finish()
    }
}

/// The spill directories this process has open: a second open of one would interleave two
/// logs in the same files.
#[cfg(not(loom))]
mod registry {
    use std::path::{Path, PathBuf};

    use crate::loom::sync::{lock, Mutex};

    static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Registers `dir`; `false` if it is registered already.
    pub(super) fn acquire(dir: &Path) -> bool {
        let mut open = lock(&OPEN);
        if open.iter().any(|d| d == dir) {
            return false;
        }
        open.push(dir.to_path_buf());
        true
    }

    pub(super) fn release(dir: &Path) {
        lock(&OPEN).retain(|d| d != dir);
    }
}

/// Under loom there is no process-wide state (loom's mutex cannot be a static); the spill
/// queue does file I/O and is not modelled.
#[cfg(loom)]
mod registry {
    use std::path::Path;

    pub(super) fn acquire(_dir: &Path) -> bool {
        true
    }

    pub(super) fn release(_dir: &Path) {}
}
