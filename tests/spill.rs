//! The spill queue (`pushpull::spill`): order and exactly-once delivery through the log, the
//! disk budget, corruption and torn tails, recovery after a real crash (a child process
//! killed mid-write), codecs. Every test works in its own temporary directory and checks
//! that the log cleaned up after itself. Nothing here measures time: counters and
//! barriers, with generous deadlines only to fail instead of hanging.

#![cfg(feature = "spill")]

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::spill::{
    self, Builder, Codec, Corruption, LogError, Postcard, SpillError, SpillSender,
};
use pushpull::{Receiver, RecvTimeoutError};

/// A deadline that only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(30);

/// Values as 8 little-endian bytes: every record is `12 + 8` bytes, so offsets are known.
#[derive(Debug, Clone, Copy)]
struct Le;

#[derive(Debug)]
struct BadLen(usize);

impl std::fmt::Display for BadLen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected 8 bytes, got {}", self.0)
    }
}

impl std::error::Error for BadLen {}

impl Codec<u64> for Le {
    type Error = BadLen;

    fn encode(&self, value: &u64, buf: &mut Vec<u8>) -> Result<(), BadLen> {
        buf.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<u64, BadLen> {
        Ok(u64::from_le_bytes(
            bytes.try_into().map_err(|_| BadLen(bytes.len()))?,
        ))
    }
}

/// Bytes of one `Le` record, and of a segment's header.
const RECORD: u64 = 20;
const MAGIC: u64 = 8;

/// The segment files in `dir`, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every entry in `dir` (to check that it is empty).
fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Receives exactly `n` values (failing instead of hanging).
fn take<T>(rx: &Receiver<T>, n: usize) -> Vec<T> {
    (0..n)
        .map(|i| match rx.recv_timeout(PATIENCE) {
            Ok(v) => v,
            Err(e) => panic!("value {i} of {n}: {e}"),
        })
        .collect()
}

/// Waits until `cond` holds (polling a counter), failing after `PATIENCE`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Stops the queue keeping its log on disk (the receivers go first, so the mover stops
/// without moving more), and waits until the directory is released.
fn stop_keeping_the_log<T, C>(tx: SpillSender<T, C>, rx: Receiver<T>) {
    drop(rx);
    tx.finish().expect("no failure");
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn ten_times_the_capacity_through_a_slow_consumer_arrives_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spill");
    const CAP: usize = 16;
    const N: u64 = 10 * CAP as u64 * 10; // 10x the capacity, ten times over
    let (tx, rx, recovery) = Builder::new(&dir, CAP)
        .segment_size(MAGIC + 10 * RECORD) // ten records a segment: many segments
        .open::<u64, _>(Le)
        .unwrap();
    assert!(recovery.is_empty());

    // The consumer holds off until the producer has spilled half of the values, then
    // receives while the producer sends the rest.
    let go = Arc::new(Barrier::new(2));
    let consumer = {
        let go = go.clone();
        thread::spawn(move || {
            go.wait();
            let got = take(&rx, N as usize);
            (got, rx)
        })
    };
    for i in 0..N / 2 {
        tx.send(i).unwrap();
    }
    let m = tx.spill_metrics();
    assert_eq!(
        m.spilled,
        N / 2 - CAP as u64,
        "the ring took {CAP}, the log the rest"
    );
    assert!(segments(&dir).len() > 1, "the log rolled segments");
    go.wait();
    for i in N / 2..N {
        tx.send(i).unwrap();
    }
    let (got, rx) = consumer.join().unwrap();
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "every value once, in order"
    );

    let metrics = tx.spill_metrics();
    tx.finish().unwrap();
    assert_eq!(rx.recv(), Err(pushpull::RecvError), "drained, then closed");
    assert!(metrics.spilled >= N / 2 - CAP as u64);
    assert!(
        metrics.segments_deleted > 0,
        "consumed segments are deleted"
    );
    assert!(entries(&dir).is_empty(), "left behind: {:?}", entries(&dir));
    let path = tmp.path().to_path_buf();
    tmp.close().unwrap();
    assert!(!path.exists());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn several_producers_each_keep_their_order() {
    let tmp = tempfile::tempdir().unwrap();
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 2_000;
    let (tx, rx, _) = Builder::new(tmp.path(), 8)
        .segment_size(4096)
        .open::<(u64, u64), _>(Postcard)
        .unwrap();
    // Every producer sends its first half before the consumer starts: the log is used.
    let half = Arc::new(Barrier::new(PRODUCERS as usize + 1));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (tx, half) = (tx.clone(), half.clone());
            thread::spawn(move || {
                for i in 0..EACH {
                    if i == EACH / 2 {
                        half.wait();
                    }
                    tx.send((p, i)).unwrap();
                }
            })
        })
        .collect();
    half.wait();
    assert!(tx.spill_metrics().spilled > 0);
    let got = take(&rx, (PRODUCERS * EACH) as usize);
    for p in producers {
        p.join().unwrap();
    }
    let mut next = [0; PRODUCERS as usize];
    for (p, i) in got {
        assert_eq!(i, next[p as usize], "producer {p}: out of order or lost");
        next[p as usize] += 1;
    }
    assert_eq!(next, [EACH; PRODUCERS as usize]);
    tx.finish().unwrap();
    assert!(entries(tmp.path()).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn the_mover_keeps_its_place_between_the_files_and_the_write_buffer() {
    // The mover takes records from the segment file, or straight from the write buffer
    // once it has caught up with the file; a flush then puts those bytes in the file
    // behind it. One thread alternates bursts of sends (with or without a flush) and of
    // receives, of pseudo-random sizes, so the mover keeps switching between the two.
    let tmp = tempfile::tempdir().unwrap();
    const N: u64 = 20_000;
    let (tx, rx, _) = Builder::new(tmp.path(), 2)
        .segment_size(MAGIC + 500 * RECORD)
        .open::<u64, _>(Le)
        .unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let (mut sent, mut received) = (0, 0);
    while received < N {
        let burst = random(60).min(N - sent);
        for _ in 0..burst {
            tx.send(sent).unwrap();
            sent += 1;
        }
        if random(2) == 0 {
            tx.flush().unwrap();
        }
        for v in take(&rx, random(70).min(sent - received) as usize) {
            assert_eq!(v, received, "out of order, lost or repeated");
            received += 1;
        }
    }
    let m = tx.spill_metrics();
    tx.finish().unwrap();
    assert!(m.spilled > N / 2, "{m:?}");
    assert!(entries(tmp.path()).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn an_exhausted_budget_hands_the_value_back() {
    let tmp = tempfile::tempdir().unwrap();
    // A segment header and 5 records.
    let budget = MAGIC + 5 * RECORD;
    let (tx, rx, _) = Builder::new(tmp.path(), 2)
        .budget(budget)
        .segment_size(budget) // (the default, a quarter of the budget, holds one record)
        .open::<u64, _>(Le)
        .unwrap();
    let mut sent = 0;
    let refused = loop {
        assert!(sent < 100, "the budget never refused");
        match tx.try_send(sent) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert!(refused.is_full(), "{refused:?}");
    assert_eq!(refused.into_inner(), 7, "the refused value comes back");
    assert_eq!(sent, 7, "2 in the ring, 5 in the log");
    let m = tx.spill_metrics();
    assert_eq!((m.refused, m.disk_bytes, m.pending), (1, budget, 5));
    // A record larger than the whole budget is refused for good, even by `send`.
    let (big_tx, _big_rx, _) = Builder::new(tmp.path().join("small"), 1)
        .budget(MAGIC + RECORD - 1)
        .open::<u64, _>(Le)
        .unwrap();
    big_tx.try_send(0).unwrap(); // the ring
    assert!(matches!(big_tx.send(1), Err(SpillError::TooLarge(1))));

    // Nothing accepted was lost.
    assert_eq!(take(&rx, 7), (0..7).collect::<Vec<_>>());
    eventually("the log empties", || !tx.is_spilling());
    tx.try_send(7).unwrap();
    assert_eq!(take(&rx, 1), [7]);
    tx.finish().unwrap();
    big_tx.abort();
    drop(big_tx);
    assert!(segments(tmp.path()).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_blocking_send_waits_for_the_budget_then_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    // Two segments of two records each fit in the budget.
    let (tx, rx, _) = Builder::new(tmp.path(), 1)
        .budget(2 * (MAGIC + 2 * RECORD))
        .segment_size(MAGIC + 2 * RECORD)
        .open::<u64, _>(Le)
        .unwrap();
    let mut sent = 0;
    while sent < 100 && tx.try_send(sent).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 5, "1 in the ring, 4 in the log");
    let blocked = {
        let tx = tx.clone();
        thread::spawn(move || tx.send(5))
    };
    eventually("the send waits for the budget", || {
        tx.spill_metrics().budget_waits == 1
    });
    assert!(!blocked.is_finished());
    // The consumer makes room: the ring's value, then the first segment's two records;
    // the mover deletes that segment, which frees its bytes and wakes the sender.
    assert_eq!(take(&rx, 3), [0, 1, 2]);
    eventually("the waiting send is woken", || blocked.is_finished());
    blocked.join().unwrap().expect("the send went through");
    assert_eq!(take(&rx, 3), [3, 4, 5]);
    sent = 6;
    let m = tx.spill_metrics();
    assert_eq!(
        (m.budget_waits, m.refused),
        (1, 1),
        "the probing try_send was refused"
    );

    // A timed send that cannot get room gives up with the value.
    while sent < 100 && tx.try_send(sent).is_ok() {
        sent += 1;
    }
    let err = tx.send_timeout(99, Duration::from_millis(1)).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner(), 99);
    tx.close(); // drain: the rest still comes
    let rest: Vec<u64> = rx.iter().collect();
    assert_eq!(rest, (6..sent).collect::<Vec<_>>());
    tx.finish().unwrap();
    assert!(entries(tmp.path()).is_empty());
}

/// Spills `n` `Le` values past a ring of 1 and stops keeping the log; returns the one
/// segment's path. The values in the log are `1..n`.
fn one_segment_of(dir: &Path, n: u64) -> PathBuf {
    let (tx, rx, _) = Builder::new(dir, 1).open::<u64, _>(Le).unwrap();
    for i in 0..n {
        tx.send(i).unwrap();
    }
    stop_keeping_the_log(tx, rx);
    let segs = segments(dir);
    assert_eq!(segs.len(), 1);
    assert_eq!(
        fs::metadata(&segs[0]).unwrap().len(),
        MAGIC + (n - 1) * RECORD
    );
    segs[0].clone()
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_corrupted_segment_is_reported_with_its_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let seg = one_segment_of(dir, 11);
    let third = MAGIC + 3 * RECORD;

    // A payload byte of the fourth record in the log.
    flip_byte(&seg, third + 12 + 2);
    match Builder::new(dir, 1).open::<u64, _>(Le) {
        Err(LogError::Corrupt {
            segment,
            offset,
            kind,
        }) => {
            assert_eq!(segment, fs::canonicalize(&seg).unwrap());
            assert_eq!(offset, third);
            assert_eq!(kind, Corruption::Payload);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    flip_byte(&seg, third + 12 + 2); // repaired

    // A length byte: caught by the length's own checksum, not trusted.
    flip_byte(&seg, third);
    match Builder::new(dir, 1).open::<u64, _>(Le) {
        Err(LogError::Corrupt { offset, kind, .. }) => {
            assert_eq!((offset, kind), (third, Corruption::Header));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    flip_byte(&seg, third);

    // The last record of a segment that is not the last one, cut short.
    let later = dir.join("00000000000000000999.seg");
    fs::copy(&seg, &later).unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    match Builder::new(dir, 1).open::<u64, _>(Le) {
        Err(LogError::Corrupt { offset, kind, .. }) => {
            assert_eq!((offset, kind), (len - RECORD, Corruption::CutShort));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing was changed by the failed opens.
    assert_eq!(fs::metadata(&seg).unwrap().len(), len - 3);
    assert_eq!(fs::metadata(&later).unwrap().len(), len);
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_torn_tail_is_cut_and_reported_and_the_complete_records_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let seg = one_segment_of(dir, 11); // values 1..11 in the log
    let len = fs::metadata(&seg).unwrap().len();
    // A crash in the middle of writing the last record.
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let (tx, rx, recovery) = Builder::new(dir, 4).open::<u64, _>(Le).unwrap();
    assert_eq!(recovery.records, 9, "{recovery}");
    let torn = recovery.torn_tail.clone().expect("the cut is reported");
    assert_eq!(torn.segment, fs::canonicalize(&seg).unwrap());
    assert_eq!(torn.offset, len - RECORD);
    assert_eq!(torn.dropped_bytes, RECORD - 5);
    assert_eq!(
        fs::metadata(&seg).unwrap().len(),
        torn.offset,
        "the file was cut"
    );
    assert!(!recovery.is_clean());
    assert!(recovery.to_string().contains("torn tail"), "{recovery}");

    // The recovered records come first, then new values.
    tx.send(100).unwrap();
    let mut expected: Vec<u64> = (1..10).collect();
    expected.push(100);
    assert_eq!(take(&rx, 10), expected);
    tx.finish().unwrap();
    assert!(entries(dir).is_empty(), "{:?}", entries(dir));
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn records_left_when_the_receiver_goes_are_delivered_by_the_next_open_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (tx, rx, _) = Builder::new(dir, 4)
        .segment_size(MAGIC + 16 * RECORD)
        .open::<u64, _>(Le)
        .unwrap();
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    // The consumer takes 30 and leaves; 4 more were in the ring (lost with it, as memory).
    assert_eq!(take(&rx, 30), (0..30).collect::<Vec<_>>());
    eventually("the mover fills the ring again", || rx.is_full());
    stop_keeping_the_log(tx, rx);

    let (tx, rx, recovery) = Builder::new(dir, 4).open::<u64, _>(Le).unwrap();
    assert!(recovery.is_clean(), "{recovery}");
    assert_eq!(recovery.records, 66, "{recovery}");
    drop(tx); // close: the recovered backlog drains, then the queue ends
    let rest: Vec<u64> = rx.iter().collect();
    assert_eq!(rest, (34..100).collect::<Vec<_>>());
    eventually("the mover is done", || entries(dir).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_record_the_codec_cannot_decode_stops_the_queue_and_stays_in_the_log() {
    /// `Le`, except that it cannot read 13 back.
    struct NoThirteen;
    impl Codec<u64> for NoThirteen {
        type Error = BadLen;
        fn encode(&self, value: &u64, buf: &mut Vec<u8>) -> Result<(), BadLen> {
            Le.encode(value, buf)
        }
        fn decode(&self, bytes: &[u8]) -> Result<u64, BadLen> {
            match Le.decode(bytes)? {
                13 => Err(BadLen(13)),
                v => Ok(v),
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (tx, rx, _) = Builder::new(dir, 2).open(NoThirteen).unwrap();
    for i in 0..30 {
        tx.send(i).unwrap(); // 0 and 1 in the ring, 2..30 in the log
    }
    let seg = fs::canonicalize(dir)
        .unwrap()
        .join("00000000000000000000.seg");
    let other = tx.clone();
    // `finish` waits for the mover, which stops at 13: it must be woken then.
    let finishing = thread::spawn(move || tx.finish());
    eventually("finish closed the queue", || other.is_closed());
    let received: Vec<u64> = rx.iter().collect(); // what came before 13, then the end
    assert_eq!(received, (0..13).collect::<Vec<_>>());
    eventually("finish returns", || finishing.is_finished());
    match finishing.join().unwrap() {
        Err(LogError::Decode {
            segment, offset, ..
        }) => {
            assert_eq!(segment, seg);
            assert_eq!(offset, MAGIC + 11 * RECORD, "13 is the log's 12th record");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(matches!(other.error(), Some(LogError::Decode { .. })));
    match other.send(99) {
        Err(SpillError::Log(99, LogError::Decode { .. })) => {}
        other => panic!("expected the failure, got {other:?}"),
    }
    drop(other);
    // The record is still in the log, first in line: a codec that can read it gets it.
    let (tx, rx, recovery) = Builder::new(dir, 2).open(Le).unwrap();
    assert_eq!(recovery.records, 17, "{recovery}");
    drop(tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), (13..30).collect::<Vec<_>>());
    eventually("the mover is done", || entries(dir).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn abort_discards_the_ring_and_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx, _) = Builder::new(tmp.path(), 4).open::<u64, _>(Le).unwrap();
    for i in 0..50 {
        tx.send(i).unwrap();
    }
    tx.flush().unwrap();
    assert!(!segments(tmp.path()).is_empty());
    assert_eq!(tx.abort(), 50);
    assert_eq!(tx.abort(), 0);
    assert!(rx.recv().is_err());
    assert!(tx.send(50).unwrap_err().is_closed());
    let m = tx.spill_metrics();
    assert_eq!((m.pending, m.discarded, m.spilled), (0, 46, 46));
    assert_eq!(tx.metrics().discarded, 4);
    tx.finish().unwrap();
    assert!(entries(tmp.path()).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_directory_is_open_once_per_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx, _) = spill::open::<u32>(tmp.path(), 4).unwrap();
    match spill::open::<u32>(tmp.path(), 4) {
        Err(LogError::InUse { .. }) => {}
        other => panic!("expected InUse, got {:?}", other.map(|_| ())),
    }
    let clone = tx.clone();
    tx.finish().unwrap();
    assert!(matches!(
        spill::open::<u32>(tmp.path(), 4),
        Err(LogError::InUse { .. })
    ));
    drop(clone);
    drop(rx);
    spill::open::<u32>(tmp.path(), 4).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_custom_codec_and_postcard_round_trip_through_the_log() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
    struct Event {
        id: u64,
        name: String,
        tags: Vec<(String, i32)>,
        payload: Option<Vec<u8>>,
    }
    let event = |id: u64| Event {
        id,
        name: format!("event {id}"),
        tags: vec![("k".repeat(id as usize % 5), -(id as i32))],
        payload: (id % 3 == 0).then(|| vec![id as u8; id as usize % 300]),
    };
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx, _) = spill::open::<Event>(tmp.path().join("p"), 2).unwrap();
    for id in 0..200 {
        tx.send(event(id)).unwrap();
    }
    assert_eq!(tx.spill_metrics().spilled, 198);
    assert_eq!(take(&rx, 200), (0..200).map(event).collect::<Vec<_>>());
    tx.finish().unwrap();

    let (tx, rx, _) = Builder::new(tmp.path().join("le"), 1)
        .open::<u64, _>(Le)
        .unwrap();
    let values = [0, 1, u64::MAX, 1 << 40, 7];
    for v in values {
        tx.send(v).unwrap();
    }
    tx.flush().unwrap();
    let seg = &segments(&tmp.path().join("le"))[0];
    let bytes = fs::read(seg).unwrap();
    // The second value is the log's first record: its payload is the codec's 8 bytes.
    assert_eq!(
        &bytes[(MAGIC + 12) as usize..(MAGIC + RECORD) as usize],
        &1u64.to_le_bytes()
    );
    assert_eq!(take(&rx, 5), values);
    tx.finish().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn an_encode_error_hands_the_value_back_and_writes_nothing() {
    /// Refuses odd values.
    struct EvenOnly;
    #[derive(Debug)]
    struct Odd(u64);
    impl std::fmt::Display for Odd {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} is odd", self.0)
        }
    }
    impl std::error::Error for Odd {}
    impl Codec<u64> for EvenOnly {
        type Error = Odd;
        fn encode(&self, value: &u64, buf: &mut Vec<u8>) -> Result<(), Odd> {
            buf.extend_from_slice(&value.to_le_bytes()[..4]); // appended, then refused
            assert_ne!(*value, 6, "the codec panics on 6");
            if value % 2 == 1 {
                return Err(Odd(*value));
            }
            buf.extend_from_slice(&value.to_le_bytes()[4..]);
            Ok(())
        }
        fn decode(&self, bytes: &[u8]) -> Result<u64, Odd> {
            Le.decode(bytes).map_err(|_| Odd(0))
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx, _) = Builder::new(tmp.path(), 1).open(EvenOnly).unwrap();
    tx.send(0).unwrap(); // the ring: no encoding
    tx.send(2).unwrap(); // the log
    match tx.send(3) {
        Err(SpillError::Encode(v, e)) => {
            assert_eq!(v, 3);
            assert_eq!(e.to_string(), "3 is odd");
        }
        other => panic!("expected Encode, got {other:?}"),
    }
    tx.send(4).unwrap();
    // A panicking codec: the panic reaches the sender, the queue goes on.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.send(6)));
    assert!(panicked.is_err());
    tx.send(8).unwrap();
    let m = tx.spill_metrics();
    assert_eq!((m.spilled, m.pending), (3, 3));
    assert_eq!(
        take(&rx, 4),
        [0, 2, 4, 8],
        "the refused values left no trace"
    );
    tx.finish().unwrap();
}

// === A real crash: a child process killed in the middle of spilling ===

/// Set (to a directory) in the child process: `crash_child` then spills until killed.
const CHILD_ENV: &str = "PUSHPULL_SPILL_CRASH_CHILD";
const CHILD_CAP: usize = 4;
/// Values the child's consumer receives before it stops receiving.
const CHILD_RECEIVES: u64 = 730;
/// Values the child sends before its consumer starts.
const CHILD_BACKLOG: u64 = 3_000;
/// Values the child must have written (flushed) before the parent kills it.
const CHILD_WRITES: u64 = 5_000;

/// The child's values: 8 bytes of the number, then its low byte repeated. From 2,000 on,
/// every 50th is 128 KiB, so that some writes are long enough for the kill to land in the
/// middle of one; before, all are small, so that the mover moves full batches out of one
/// read (the values the consumer gets are among these).
fn crash_value(i: u64) -> Vec<u8> {
    let len = if i >= 2_000 && i % 50 == 49 {
        128 << 10
    } else {
        8 + (i % 97) as usize
    };
    let mut v = vec![i as u8; len];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// The bytes themselves (a codec needs no framing: the log keeps each record's length).
struct Raw;

impl Codec<Vec<u8>> for Raw {
    type Error = std::convert::Infallible;

    fn encode(&self, value: &Vec<u8>, buf: &mut Vec<u8>) -> Result<(), Self::Error> {
        buf.extend_from_slice(value);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, Self::Error> {
        Ok(bytes.to_vec())
    }
}

/// Writes `n` to `path` atomically (a rename).
fn progress(path: &Path, n: u64) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, n.to_string()).unwrap();
    fs::rename(&tmp, path).unwrap();
}

fn read_progress(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The child's work (a no-op in a normal test run): a queue whose consumer holds off until
/// `CHILD_BACKLOG` values were sent (so the log's first segment holds them), receives
/// `CHILD_RECEIVES` values and then stops; and a producer that spills forever, flushing
/// every 64 values and then reporting how many it has written.
#[test]
fn crash_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    let (tx, rx, _) = Builder::new(root.join("log"), CHILD_CAP).open(Raw).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let received = root.join("received");
    {
        let sent = sent.clone();
        thread::spawn(move || {
            while sent.load(Ordering::Relaxed) < CHILD_BACKLOG {
                thread::yield_now();
            }
            for i in 0..CHILD_RECEIVES {
                assert!(rx.recv().unwrap() == crash_value(i));
            }
            progress(&received, CHILD_RECEIVES);
            // Holds the receiver, never receives again: the mover blocks on the full ring.
            loop {
                thread::park();
            }
        });
    }
    let written = root.join("written");
    for i in 0.. {
        tx.send(crash_value(i)).unwrap();
        sent.store(i + 1, Ordering::Relaxed);
        if i % 64 == 63 {
            tx.flush().unwrap();
            progress(&written, i + 1);
        }
    }
}

/// Kills the child if the test fails before it does.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns a process")]
fn a_killed_process_leaves_every_complete_record_recoverable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killer(child);
    let deadline = Instant::now() + PATIENCE;
    while read_progress(&root.join("written")) < CHILD_WRITES
        || read_progress(&root.join("received")) < CHILD_RECEIVES
    {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the child exited: {status}");
        }
        assert!(Instant::now() < deadline, "the child made no progress");
        thread::sleep(Duration::from_millis(2));
    }
    let written = read_progress(&root.join("written"));
    child.0.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush
    child.0.wait().unwrap();

    let log = root.join("log");
    let (tx, rx, recovery) = Builder::new(&log, 16).open(Raw).unwrap();
    assert!(!recovery.cursor_damaged, "{recovery}");
    if let Some(torn) = &recovery.torn_tail {
        // Reported, and cut: the segment now ends where the incomplete record began.
        assert_eq!(
            fs::metadata(&torn.segment).unwrap().len(),
            torn.offset,
            "{recovery}"
        );
    }
    drop(tx);
    let got: Vec<Vec<u8>> = rx.iter().collect();
    assert_eq!(got.len() as u64, recovery.records, "{recovery}");
    let number = |v: &[u8]| u64::from_le_bytes(v[..8].try_into().unwrap());
    let first = number(got.first().expect("records recovered"));
    for (k, value) in got.iter().enumerate() {
        let i = first + k as u64;
        assert_eq!(number(value), i, "in order, none missing");
        assert!(*value == crash_value(i), "record {i} misread");
    }
    let last = first + got.len() as u64 - 1;
    assert!(
        last + 1 >= written,
        "every flushed record: {written} flushed, last {last}"
    );
    // Consumed = moved into the ring. The child received CHILD_RECEIVES values (the log's
    // first segment still holds them: it began at value CHILD_CAP) and the ring held
    // CHILD_CAP more: those never moved are all here, and at most one batch of the moved
    // ones comes again (the cursor is rewritten after each batch).
    let unmoved = CHILD_RECEIVES + CHILD_CAP as u64;
    assert!(
        first <= unmoved,
        "lost records: first recovered {first}, {recovery}"
    );
    assert!(
        first + 256 > CHILD_RECEIVES,
        "more than a batch re-delivered: first {first}"
    );
    eventually("the mover is done", || entries(&log).is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "threads and files")]
fn a_closed_queue_drains_the_log_then_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx, _) = Builder::new(tmp.path(), 3).open::<u64, _>(Le).unwrap();
    for i in 0..40 {
        tx.send(i).unwrap();
    }
    assert!(tx.close());
    assert!(!tx.close());
    assert!(tx.send(40).unwrap_err().is_closed());
    let got: Vec<u64> = rx.iter().collect();
    assert_eq!(got, (0..40).collect::<Vec<_>>());
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Closed)
    );
    tx.finish().unwrap();
    assert!(entries(tmp.path()).is_empty());
}
