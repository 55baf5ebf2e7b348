//! The mover thread: reads the log's records in order, decodes them and sends them into the
//! ring, deletes finished segments, keeps the cursor file, and switches the queue back to
//! the fast path when the log is empty.
//!
//! It holds the log's mutex only for bookkeeping and to copy records out of the write
//! buffer; it reads segment files, decodes and waits for room in the ring without it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};

use super::log::{self, next_record, segment_path, Next, Pos, HEADER, MAGIC};
use super::{unpark_all, Codec, Corruption, Log, LogError, Shared, SyncPolicy};
use crate::loom::sync::{lock, Arc};
use crate::loom::thread::{current, park, Thread};
use crate::loom::Ordering;

/// Records moved per batch: the cursor file is rewritten after each, so at most this many
/// are delivered again after a crash.
pub(crate) const MOVE_BATCH: usize = 256;
/// Bytes read from a segment file at a time (more for a larger record).
const CHUNK: usize = 64 << 10;

/// Starts the mover. `start`: the offset in the first segment where delivery begins.
pub(super) fn spawn<T, C>(shared: Arc<Shared<T, C>>, start: u64) -> io::Result<()>
where
    T: Send + 'static,
    C: Codec<T> + Send + Sync + 'static,
{
    std::thread::Builder::new()
        .name("pushpull-spill".into())
        .spawn(move || {
            let mut mover = Mover {
                shared,
                seg: None,
                first_start: Some(start),
                file: None,
                pos: 0,
                pending: Vec::new(),
                head: 0,
                moved: 0,
                cursor: None,
                cursor_file: None,
                wake: Vec::new(),
            };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| mover.run()));
            if outcome.is_err() {
                mover.stopped(Exit::Failed(LogError::MoverPanicked));
            }
        })?;
    Ok(())
}

struct Mover<T, C> {
    shared: Arc<Shared<T, C>>,
    /// The segment being read.
    seg: Option<u64>,
    /// Where delivery starts in the first segment (the recovered cursor).
    first_start: Option<u64>,
    /// A read handle on the segment's file, and the offset it is positioned at.
    file: Option<(File, u64)>,
    /// The offset in the segment of the next byte to obtain.
    pos: u64,
    /// Obtained bytes; `pending[head..]` are not yet moved and end at `pos`.
    pending: Vec<u8>,
    head: usize,
    /// Records moved since the counts were last updated under the mutex.
    moved: u64,
    /// The position the cursor file holds.
    cursor: Option<Pos>,
    cursor_file: Option<File>,
    /// Threads to unpark once the mutex is released.
    wake: Vec<Thread>,
}

/// Why the mover stops.
enum Exit {
    /// Closed and the log is empty: close the ring.
    Drained,
    /// The ring was closed from the receiving side, or every receiver is gone: keep the log.
    RingClosed,
    /// Aborted: `abort` cleans up.
    Aborted,
    /// A failure: record it, close the ring, keep the log.
    Failed(LogError),
    /// A sender's failure stopped the queue: close the ring, keep the log.
    SenderFailed,
}

/// What to do after a turn under the mutex.
enum Step {
    /// Read this many bytes of the current segment's file, then move.
    Read(usize),
    /// Move the complete records in `pending`.
    Move,
    /// Nothing to move: park until a sender spills, or the queue closes (`mover_idle` is
    /// set, under the mutex).
    Idle,
    Exit(Exit),
}

impl<T, C: Codec<T>> Mover<T, C> {
    fn run(&mut self) {
        let shared = self.shared.clone();
        let mut log = lock(&shared.log);
        log.mover = Some(current());
        loop {
            let step = self
                .turn(&mut log)
                .unwrap_or_else(|e| Step::Exit(Exit::Failed(e)));
            drop(log);
            unpark_all(core::mem::take(&mut self.wake));
            match step {
                Step::Exit(exit) => return self.stopped(exit),
                Step::Idle => {
                    park();
                    log = lock(&shared.log);
                    // (Also after a spurious wake-up: nobody took it.)
                    log.mover_idle = false;
                    continue;
                }
                Step::Read(n) => {
                    if let Err(e) = self.read(n) {
                        return self.stopped(Exit::Failed(e));
                    }
                    if let Err(exit) = self.move_batch() {
                        return self.stopped(exit);
                    }
                }
                Step::Move => {
                    if let Err(exit) = self.move_batch() {
                        return self.stopped(exit);
                    }
                }
            }
            log = lock(&shared.log);
        }
    }

    /// One turn under the mutex: bookkeeping, then what to do next.
    fn turn(&mut self, log: &mut Log) -> Result<Step, LogError> {
        let shared = self.shared.clone();
        loop {
            self.count(log);
            if log.aborted {
                return Ok(Step::Exit(Exit::Aborted));
            }
            if log.failed.is_some() {
                return Ok(Step::Exit(Exit::SenderFailed));
            }
            let Some(front) = log.segs.front().copied() else {
                if log.closed {
                    return Ok(Step::Exit(Exit::Drained));
                }
                // Woken (and `mover_idle` cleared) by the send that spills next, or by a
                // close, abort or failure.
                log.mover_idle = true;
                return Ok(Step::Idle);
            };
            if self.seg != Some(front.index) {
                self.seg = Some(front.index);
                self.pos = self.first_start.take().unwrap_or(MAGIC.len() as u64);
                self.file = None;
                self.pending.clear();
                self.head = 0;
            }
            let done = Pos {
                index: front.index,
                offset: self.done_pos(),
            };
            // Rewritten when it moved (once per batch, and per segment); not created before
            // the first record of a fresh log is moved.
            if self.cursor != Some(done)
                && (self.cursor.is_some() || done.offset > MAGIC.len() as u64)
            {
                log::write_cursor(&shared.config.dir, &mut self.cursor_file, done)?;
                self.cursor = Some(done);
            }
            let next = next_record(&self.pending[self.head..]);
            if matches!(next, Next::Record(_) | Next::Bad(_)) {
                return Ok(Step::Move);
            }
            let end = front.len
                + if front.sealed {
                    0
                } else {
                    log.buf.len() as u64
                };
            if self.pos == end {
                if self.head < self.pending.len() {
                    return Err(LogError::Corrupt {
                        segment: segment_path(&shared.config.dir, front.index),
                        offset: done.offset,
                        kind: Corruption::CutShort,
                    });
                }
                if front.sealed {
                    // Finished: delete it.
                    log::remove(&segment_path(&shared.config.dir, front.index))?;
                    log.segs.pop_front();
                    log.disk_bytes -= front.len;
                    log.counters.segments_deleted += 1;
                } else {
                    // The segment being written is finished too: the log is empty.
                    if log.wfile.take().is_some() {
                        log::remove(&segment_path(&shared.config.dir, front.index))?;
                        log.counters.segments_deleted += 1;
                    }
                    log.buf.clear();
                    log.segs.pop_front();
                    log.disk_bytes = 0;
                }
                if log.segs.is_empty() {
                    debug_assert_eq!(log.disk_bytes, 0);
                    // The cursor goes (also one left by the previous process), and the
                    // queue is back on the fast path.
                    self.cursor_file = None;
                    self.cursor = None;
                    log::remove(&shared.config.dir.join(log::CURSOR))?;
                    // Ordering: Release, under the mutex: every record is in the ring; a
                    // send that reads `false` with Acquire sends after them ("Order").
                    shared.slow.store(log.closed, Ordering::Release);
                }
                self.seg = None;
                self.file = None;
                // Space was freed: wake senders waiting for the budget (after the mutex).
                self.wake.extend(log.wakers());
                continue;
            }
            // Obtain more bytes: at least the rest of a record cut by the last chunk.
            let needed = match next {
                Next::Short(Some(total)) => total - (self.pending.len() - self.head),
                _ => 0,
            };
            let want = needed.max(CHUNK) as u64;
            self.pending.drain(..self.head);
            self.head = 0;
            if self.pos < front.len {
                return Ok(Step::Read(
                    (end.min(front.len) - self.pos).min(want) as usize
                ));
            }
            // Straight from the write buffer.
            let from = (self.pos - front.len) as usize;
            let n = ((end - self.pos).min(want)) as usize;
            self.pending.extend_from_slice(&log.buf[from..from + n]);
            self.pos += n as u64;
        }
    }

    fn done_pos(&self) -> u64 {
        self.pos - (self.pending.len() - self.head) as u64
    }

    /// Adds the records moved since the last turn to the log's counts.
    fn count(&mut self, log: &mut Log) {
        let moved = core::mem::take(&mut self.moved);
        log.pending -= moved;
        log.counters.moved += moved;
    }

    /// Reads `n` bytes of the current segment's file at `pos`, without the mutex.
    fn read(&mut self, n: usize) -> Result<(), LogError> {
        let index = self.seg.expect("reading a segment");
        let path = || segment_path(&self.shared.config.dir, index);
        let (file, at) = match &mut self.file {
            Some((file, at)) => (file, at),
            None => {
                let file = File::open(path()).map_err(|e| LogError::io(path(), e))?;
                let (file, at) = self.file.insert((file, 0));
                (file, at)
            }
        };
        // The handle lags behind `pos` when records were taken from the write buffer
        // since the last read (they reached the file later).
        if *at != self.pos {
            file.seek(SeekFrom::Start(self.pos))
                .map_err(|e| LogError::io(path(), e))?;
            *at = self.pos;
        }
        let start = self.pending.len();
        self.pending.resize(start + n, 0);
        file.read_exact(&mut self.pending[start..])
            .map_err(|e| LogError::io(path(), e))?;
        *at += n as u64;
        self.pos += n as u64;
        Ok(())
    }

    /// Decodes and sends into the ring up to `MOVE_BATCH` complete records of `pending`,
    /// without the mutex (a send waits for the consumer).
    fn move_batch(&mut self) -> Result<(), Exit> {
        let index = self.seg.expect("moving a segment");
        let shared = &*self.shared;
        for _ in 0..MOVE_BATCH {
            let offset = self.done_pos();
            let at = self.head;
            match next_record(&self.pending[at..]) {
                Next::Record(len) => {
                    let payload = &self.pending[at + HEADER..at + HEADER + len];
                    let value = shared.codec.decode(payload).map_err(|e| {
                        Exit::Failed(LogError::Decode {
                            segment: segment_path(&shared.config.dir, index),
                            offset,
                            source: std::sync::Arc::new(e),
                        })
                    })?;
                    if shared.ring.send(value).is_err() {
                        return Err(Exit::RingClosed);
                    }
                    self.head += HEADER + len;
                    self.moved += 1;
                }
                Next::Short(_) => return Ok(()),
                Next::Bad(kind) => {
                    return Err(Exit::Failed(LogError::Corrupt {
                        segment: segment_path(&shared.config.dir, index),
                        offset,
                        kind,
                    }))
                }
            }
        }
        Ok(())
    }

    /// The mover's last turn: settle the counts, close what `exit` says, record the exact
    /// position if the log is kept, wake everyone, and mark it done.
    fn stopped(&mut self, exit: Exit) {
        let shared = self.shared.clone();
        let mut log = lock(&shared.log);
        self.count(&mut log);
        let mut wake = core::mem::take(&mut self.wake);
        // `keep`: the log stays for the next open. `tidy`: its buffer and the exact position
        // are written out first; not after an I/O failure (the file's state is unknown:
        // the next open finds out) nor after a panic.
        let (keep, tidy) = match exit {
            Exit::Drained => {
                shared.ring.close();
                (false, false)
            }
            Exit::Aborted => (false, false),
            Exit::RingClosed => (!log.aborted, !log.aborted),
            Exit::SenderFailed => {
                shared.ring.close();
                (true, false)
            }
            Exit::Failed(e) => {
                let tidy = matches!(e, LogError::Corrupt { .. } | LogError::Decode { .. });
                wake.extend(log.fail(e, &shared.slow));
                shared.ring.close();
                (true, tidy)
            }
        };
        log.closed = true;
        // Ordering: Release, under the mutex (sends fail from now on).
        shared.slow.store(true, Ordering::Release);
        if keep && tidy {
            let result = if shared.config.sync == SyncPolicy::Never {
                log.flush(&shared.config)
            } else {
                log.sync(&shared.config)
            };
            let done = self.seg.map(|index| Pos {
                index,
                offset: self.done_pos(),
            });
            let result = result.and_then(|()| match done {
                Some(pos) if !log.segs.is_empty() => {
                    log::write_cursor(&shared.config.dir, &mut self.cursor_file, pos)
                }
                _ => Ok(()),
            });
            if let Err(e) = result {
                wake.extend(log.fail(e, &shared.slow));
            }
        }
        log.done = true;
        wake.extend(log.wakers());
        shared.release_if_unused(&mut log);
        drop(log);
        unpark_all(wake);
    }
}
