//! Spill to disk (feature `spill`): a burst larger than the ring goes to the log and comes
//! back in order; a restart finds the backlog on disk and delivers it first; a record torn
//! by a crash is cut off and reported. With `--bench`, the log's write throughput against
//! plain buffered file writes of the same bytes.
//!
//! Run it with `cargo run --release --features spill --example spill`, or
//! `cargo run --release --features spill --example spill -- --bench [VALUES] [DIR]`
//! (1,000,000 values by default, in a temporary directory under `DIR`, default the system's;
//! run it on a quiet machine).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::spill::{self, Builder, Codec, Postcard, SpillMetrics};

/// What the demo sends: a small serde struct, encoded by postcard.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub kind: String,
    pub millis: u64,
}

pub fn event(id: u64) -> Event {
    Event {
        id,
        kind: ["click", "view", "purchase"][id as usize % 3].to_string(),
        millis: 1_700_000_000_000 + id * 7,
    }
}

/// What the burst did.
#[derive(Debug)]
pub struct Burst {
    pub sent: u64,
    /// The log's counters when the producer had sent everything (the consumer paused).
    pub at_peak: SpillMetrics,
    /// Segment files at that moment.
    pub segments_at_peak: usize,
    /// Whether every event arrived once, in order.
    pub in_order: bool,
    /// The log's counters at the end.
    pub after: SpillMetrics,
    /// Files left in the directory at the end.
    pub files_after: usize,
}

/// A producer sends `n` events into a ring of `capacity` while the consumer is paused (a
/// stalled downstream); then the consumer catches up.
pub fn burst(dir: &Path, n: u64, capacity: usize) -> Burst {
    let (tx, rx, _) = Builder::new(dir, capacity)
        .segment_size(256 << 10)
        .open::<Event, _>(Postcard)
        .expect("open");
    let paused = Arc::new(Barrier::new(2));
    let consumer = {
        let paused = paused.clone();
        thread::spawn(move || {
            paused.wait(); // the downstream is back
            let mut next = 0;
            let mut in_order = true;
            for e in rx.iter() {
                in_order &= e == event(next);
                next += 1;
            }
            in_order && next == n
        })
    };
    for id in 0..n {
        tx.send(event(id)).expect("the budget is large enough");
    }
    let at_peak = tx.spill_metrics();
    let segments_at_peak = count_files(dir);
    paused.wait();
    let after_tx = tx.clone();
    tx.finish().expect("no failure"); // close (drain) and wait until the log is empty
    let in_order = consumer.join().unwrap();
    let after = after_tx.spill_metrics();
    Burst {
        sent: n,
        at_peak,
        segments_at_peak,
        in_order,
        after,
        files_after: count_files(dir),
    }
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// What a restart found.
#[derive(Debug)]
pub struct Restart {
    /// Events the first run's consumer handled before the process stopped.
    pub handled: u64,
    pub recovery: spill::Recovery,
    /// The ids the second run delivered, in order.
    pub delivered: Vec<u64>,
}

/// Run 1 sends `n` events into a ring of 8, its consumer handles `handled` of them, and the
/// process "stops" (the receiver goes away: the mover stops and keeps the log). Run 2
/// opens the same directory: the backlog comes first, then run 2's own events.
pub fn restart(dir: &Path, n: u64, handled: u64) -> Restart {
    {
        let (tx, rx, _) = spill::open::<Event>(dir, 8).expect("open");
        for id in 0..n {
            tx.send(event(id)).unwrap();
        }
        for _ in 0..handled {
            rx.recv().unwrap();
        }
        while !rx.is_full() {
            thread::yield_now(); // the mover refills the ring
        }
        drop(rx); // the 8 events in the ring are lost with it: memory
        tx.finish().expect("no failure");
    }
    let (tx, rx, recovery) = spill::open::<Event>(dir, 8).expect("reopen");
    tx.send(event(1_000_000)).unwrap(); // a new event: after the backlog
    drop(tx);
    let delivered = rx.iter().map(|e| e.id).collect();
    Restart {
        handled,
        recovery,
        delivered,
    }
}

/// Spills `n` events, stops keeping the log, tears the last record (as a crash in the
/// middle of a write would), and reopens.
pub fn torn(dir: &Path, n: u64) -> (spill::Recovery, Vec<u64>) {
    {
        let (tx, rx, _) = spill::open::<Event>(dir, 1).expect("open");
        for id in 0..n {
            tx.send(event(id)).unwrap();
        }
        drop(rx);
        tx.finish().unwrap();
    }
    let seg = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let (tx, rx, recovery) = spill::open::<Event>(dir, 1).expect("reopen");
    drop(tx);
    (recovery, rx.iter().map(|e| e.id).collect())
}

fn demo() {
    let tmp = tempfile::tempdir().unwrap();

    println!("1. A burst: 100,000 events into a ring of 1,024 while the consumer is paused\n");
    let b = burst(&tmp.path().join("burst"), 100_000, 1024);
    let p = &b.at_peak;
    println!(
        "   at the peak: {} spilled, {} segment files, {} bytes on disk ({} per event)",
        p.spilled,
        b.segments_at_peak,
        p.disk_bytes,
        p.disk_bytes / p.spilled
    );
    println!(
        "   then the consumer caught up: every event once and in order: {}",
        b.in_order
    );
    println!(
        "   moved from the log {}, segments deleted {}, files left {}\n",
        b.after.moved, b.after.segments_deleted, b.files_after
    );

    println!("2. A restart: run 1 sends 1,000, handles 100 and stops; run 2 opens the directory\n");
    let r = restart(&tmp.path().join("restart"), 1_000, 100);
    println!("   {}", r.recovery);
    let d = &r.delivered;
    println!(
        "   run 2 delivered {} events: ids {}..={}, then {} (its own)",
        d.len(),
        d[0],
        d[d.len() - 2],
        d[d.len() - 1]
    );
    println!("   (ids 100..=107 were in run 1's ring, memory, when it stopped)\n");

    println!("3. A crash in the middle of a write: the last record is cut short\n");
    let (recovery, ids) = torn(&tmp.path().join("torn"), 50);
    println!(
        "   {}",
        recovery
            .to_string()
            .replace(tmp.path().to_str().unwrap(), "$TMP")
    );
    println!(
        "   delivered ids {}..={}: every complete record, nothing misread",
        ids[0],
        ids[ids.len() - 1]
    );
}

// === --bench ===

/// Bytes, moved into the log by reference count: the benchmark measures the log, not the
/// making of values.
struct Raw;

impl Codec<Arc<[u8]>> for Raw {
    type Error = std::convert::Infallible;

    fn encode(&self, value: &Arc<[u8]>, buf: &mut Vec<u8>) -> Result<(), Self::Error> {
        buf.extend_from_slice(value);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Arc<[u8]>, Self::Error> {
        Ok(bytes.into())
    }
}

/// 193 payloads of 64 to 256 bytes; value `i` is `pool[i % 193]`.
fn pool() -> Vec<Arc<[u8]>> {
    (0..193u32)
        .map(|k| (0..64 + k).map(|b| (b * 31 + k) as u8).collect())
        .collect()
}

/// A sensor reading for the postcard row: no heap, about 140 bytes encoded.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy)]
struct Reading {
    id: u64,
    millis: u64,
    sensor: u32,
    values: [f32; 32],
}

fn reading(i: u64) -> Reading {
    Reading {
        id: i,
        millis: 1_700_000_000_000 + i,
        sensor: (i % 1000) as u32,
        values: [i as f32; 32],
    }
}

struct Timed {
    secs: f64,
    bytes: u64,
}

/// Sends `n` values through a spill queue whose ring is full (no consumer yet): every value
/// goes to the log. Then drains it, timed separately.
fn spill_run<T, C>(dir: &Path, n: u64, codec: C, value: impl Fn(u64) -> T) -> (Timed, Timed)
where
    T: Send + 'static,
    C: Codec<T> + Send + Sync + 'static,
{
    let (tx, rx, _) = Builder::new(dir, 1024)
        .budget(u64::MAX)
        .segment_size(64 << 20)
        .open(codec)
        .expect("open");
    for i in 0..1024 {
        tx.send(value(i)).unwrap(); // fills the ring: not timed
    }
    let start = Instant::now();
    for i in 1024..n {
        tx.send(value(i)).unwrap();
    }
    tx.flush().unwrap();
    let send = Timed {
        secs: start.elapsed().as_secs_f64(),
        bytes: tx.spill_metrics().bytes_written,
    };
    let start = Instant::now();
    let consumer = thread::spawn(move || rx.iter().count());
    tx.finish().unwrap();
    assert_eq!(consumer.join().unwrap() as u64, n);
    let drain = Timed {
        secs: start.elapsed().as_secs_f64(),
        bytes: send.bytes,
    };
    (send, drain)
}

/// The same bytes, as a length and the encoding, through a `BufWriter<File>` with the same
/// 64 KiB buffer; no checksum, no lock, no ring.
fn plain_run(path: &Path, n: u64, mut encode: impl FnMut(u64, &mut Vec<u8>)) -> Timed {
    let mut out = BufWriter::with_capacity(64 << 10, File::create(path).unwrap());
    let mut scratch = Vec::new();
    let mut bytes = 0;
    let start = Instant::now();
    for i in 1024..n {
        scratch.clear();
        encode(i, &mut scratch);
        out.write_all(&(scratch.len() as u32).to_le_bytes())
            .unwrap();
        out.write_all(&scratch).unwrap();
        bytes += 4 + scratch.len() as u64;
    }
    out.flush().unwrap();
    let t = Timed {
        secs: start.elapsed().as_secs_f64(),
        bytes,
    };
    drop(out);
    fs::remove_file(path).unwrap();
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(n: u64, base: Option<&Path>) {
    let tmp = match base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .unwrap();
    println!(
        "{} values forced through the log (the ring of 1024 is full), median of 3 runs,",
        n - 1024
    );
    println!(
        "spill and plain alternating; MB/s counts the bytes each writes. Directory: {}\n",
        tmp.path().display()
    );
    println!("{:<34} {:>12} {:>9} {:>9}", "", "values/s", "MB/s", "ratio");

    let pool = pool();
    let raw = |i: u64| pool[(i % 193) as usize].clone();
    row(
        tmp.path(),
        n,
        "bytes 64-256 (raw codec)",
        |d| spill_run(d, n, Raw, raw),
        |p| plain_run(p, n, |i, buf| buf.extend_from_slice(&raw(i))),
    );
    row(
        tmp.path(),
        n,
        "Reading ~140 B (postcard)",
        |d| spill_run(d, n, Postcard, reading),
        |p| {
            plain_run(p, n, |i, buf| {
                Codec::<Reading>::encode(&Postcard, &reading(i), buf).unwrap()
            })
        },
    );
}

/// Three runs of each, alternating; prints the medians.
fn row(
    tmp: &Path,
    n: u64,
    label: &str,
    spill_fn: impl Fn(&Path) -> (Timed, Timed),
    plain_fn: impl Fn(&Path) -> Timed,
) {
    let values = (n - 1024) as f64;
    let (mut send, mut drain, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let (mut spill_mb, mut plain_mb) = (0.0, 0.0);
    for run in 0..3 {
        let (s, d) = spill_fn(&tmp.join(format!("spill{run}")));
        send.push(values / s.secs);
        drain.push(values / d.secs);
        spill_mb = s.bytes as f64 / 1e6;
        let p = plain_fn(&tmp.join("plain"));
        plain.push(values / p.secs);
        plain_mb = p.bytes as f64 / 1e6;
        thread::sleep(Duration::from_millis(200));
    }
    let (s, d, p) = (median(send), median(drain), median(plain));
    let mbs = |rate: f64, mb: f64| rate / values * mb;
    println!("{label}");
    println!(
        "  {:<32} {:>12.0} {:>9.0} {:>9}",
        "plain BufWriter<File>",
        p,
        mbs(p, plain_mb),
        "1.00"
    );
    println!(
        "  {:<32} {:>12.0} {:>9.0} {:>9.2}",
        "spill: send into the log",
        s,
        mbs(s, spill_mb),
        s / p
    );
    println!(
        "  {:<32} {:>12.0} {:>9.0} {:>9}",
        "spill: drain log -> ring -> recv",
        d,
        mbs(d, spill_mb),
        ""
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--bench") {
        let n = args
            .get(1)
            .map_or(1_000_000, |s| s.parse().expect("a number of values"));
        bench(n.max(2048), args.get(2).map(Path::new));
    } else {
        demo();
    }
}
