//! Memory footprint of each queue kind against the peers: the heap bytes live after
//! building a bounded queue of `u64` (both ends held), and after filling it to capacity,
//! measured by a counting global allocator (its own binary, so the throughput cells run on
//! the plain allocator).
//!
//! Run: `cargo run --release --manifest-path compare/Cargo.toml --bin footprint`.
//! Prints a markdown table: built and full bytes at capacities 1, 64 and 1024, the bytes
//! per slot ((full 1024 - full 64) / 960) and the fixed part (full 64 - 64 x per slot), and
//! the stack size of each end's handle.

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::size_of;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A bounded queue of `u64` that can be built and filled without blocking.
trait Kind {
    const NAME: &'static str;
    type Tx;
    type Rx;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    /// Sends one value without waiting; `false` if it was refused.
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool;
}

/// (built, full) live bytes for a queue of capacity `cap`.
fn measure<K: Kind>(cap: usize) -> (isize, isize) {
    let before = live();
    let (mut tx, rx) = K::new(cap);
    let built = live() - before;
    for v in 0..cap as u64 {
        assert!(
            K::try_send(&mut tx, v),
            "{}: refused below capacity",
            K::NAME
        );
    }
    let full = live() - before;
    drop((tx, rx));
    (built, full)
}

fn row<K: Kind>() -> String {
    let (b1, f1) = measure::<K>(1);
    let (b64, f64_) = measure::<K>(64);
    let (b1024, f1024) = measure::<K>(1024);
    let per_slot = (f1024 - f64_) as f64 / 960.0;
    let fixed = f64_ as f64 - 64.0 * per_slot;
    format!(
        "| {} | {b1} / {f1} | {b64} / {f64_} | {b1024} / {f1024} | {per_slot:.1} | {fixed:.0} | {} + {} |",
        K::NAME,
        size_of::<K::Tx>(),
        size_of::<K::Rx>()
    )
}

struct PpSpsc;
impl Kind for PpSpsc {
    const NAME: &'static str = "pushpull spsc";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::spsc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct PpMpmc;
impl Kind for PpMpmc {
    const NAME: &'static str = "pushpull mpmc";
    type Tx = pushpull::Sender<u64>;
    type Rx = pushpull::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::mpmc(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct PpSpscDropOldest;
impl Kind for PpSpscDropOldest {
    const NAME: &'static str = "pushpull spsc drop-oldest";
    type Tx = pushpull::Producer<u64>;
    type Rx = pushpull::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        pushpull::Builder::new(cap)
            .policy(pushpull::Policy::DropOldest)
            .spsc()
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct Crossbeam;
impl Kind for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct Kanal;
impl Kind for Kanal {
    const NAME: &'static str = "kanal";
    type Tx = kanal::Sender<u64>;
    type Rx = kanal::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        matches!(tx.try_send(v), Ok(true))
    }
}

struct Flume;
impl Kind for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct AsyncChannel;
impl Kind for AsyncChannel {
    const NAME: &'static str = "async-channel";
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct Tokio;
impl Kind for Tokio {
    const NAME: &'static str = "tokio mpsc";
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct Tachyonix;
impl Kind for Tachyonix {
    const NAME: &'static str = "tachyonix";
    type Tx = tachyonix::Sender<u64>;
    type Rx = tachyonix::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        tachyonix::channel(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct StdSync;
impl Kind for StdSync {
    const NAME: &'static str = "std sync_channel";
    type Tx = std::sync::mpsc::SyncSender<u64>;
    type Rx = std::sync::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
}

struct Rtrb;
impl Kind for Rtrb {
    const NAME: &'static str = "rtrb";
    type Tx = rtrb::Producer<u64>;
    type Rx = rtrb::Consumer<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(cap)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.push(v).is_ok()
    }
}

struct Ringbuf;
impl Kind for Ringbuf {
    const NAME: &'static str = "ringbuf";
    type Tx = ringbuf::HeapProd<u64>;
    type Rx = ringbuf::HeapCons<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        use ringbuf::traits::Split as _;
        ringbuf::HeapRb::new(cap).split()
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        use ringbuf::traits::Producer as _;
        tx.try_push(v).is_ok()
    }
}

struct ArrayQ;
impl Kind for ArrayQ {
    const NAME: &'static str = "crossbeam-queue ArrayQueue";
    type Tx = Arc<crossbeam_queue::ArrayQueue<u64>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<u64>>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(cap));
        (q.clone(), q)
    }
    fn try_send(tx: &mut Self::Tx, v: u64) -> bool {
        tx.push(v).is_ok()
    }
}

fn main() {
    println!("Heap bytes live, built / full, for a bounded queue of `u64` (both ends held):\n");
    println!(
        "| queue | cap 1 | cap 64 | cap 1024 | bytes per slot | fixed bytes | handles (stack bytes) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for line in [
        row::<PpSpsc>(),
        row::<PpSpscDropOldest>(),
        row::<PpMpmc>(),
        row::<Crossbeam>(),
        row::<Kanal>(),
        row::<Flume>(),
        row::<AsyncChannel>(),
        row::<Tokio>(),
        row::<Tachyonix>(),
        row::<StdSync>(),
        row::<Rtrb>(),
        row::<Ringbuf>(),
        row::<ArrayQ>(),
    ] {
        println!("{line}");
    }
}
