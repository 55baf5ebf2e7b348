//! What every run sends, how every received item is checked, and how a run is timed.

use std::time::Instant;

/// Producer `p` sends `p << TAG_SHIFT | i` for `i` in `0..per_producer`.
const TAG_SHIFT: u32 = 40;
/// The most producers a [`Tally`] follows (the matrix uses at most 4).
const MAX_PRODUCERS: usize = 8;

pub fn value(p: usize, i: u64) -> u64 {
    ((p as u64) << TAG_SHIFT) | i
}

/// What travels through the queues: a `u64`, or a 32-byte payload built from one.
pub trait Item: Send + 'static {
    fn make(v: u64) -> Self;
    /// The `u64` the item was made from. Panics if the item is corrupt.
    fn open(self) -> u64;
}

impl Item for u64 {
    #[inline]
    fn make(v: u64) -> Self {
        v
    }
    #[inline]
    fn open(self) -> u64 {
        self
    }
}

/// The 32-byte payload: four words derived from one value, all four checked on receipt.
pub type Payload32 = [u64; 4];

impl Item for Payload32 {
    #[inline]
    fn make(v: u64) -> Self {
        [
            v,
            !v,
            v.rotate_left(23),
            v.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ]
    }
    #[inline]
    fn open(self) -> u64 {
        let v = self[0];
        assert!(
            self == Self::make(v),
            "CHECK FAILED: corrupt 32-byte item {self:x?}"
        );
        v
    }
}

/// What one receiver saw.
pub struct Tally {
    pub count: u64,
    sum: u64,
    /// The next index expected from each producer (at least).
    next: [u64; MAX_PRODUCERS],
    /// Values that came before a value of the same producer sent earlier.
    out_of_order: u64,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            count: 0,
            sum: 0,
            next: [0; MAX_PRODUCERS],
            out_of_order: 0,
        }
    }

    #[inline]
    pub fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        let p = (v >> TAG_SHIFT) as usize;
        let i = v & ((1 << TAG_SHIFT) - 1);
        let next = &mut self.next[p % MAX_PRODUCERS];
        if i < *next {
            self.out_of_order += 1;
        }
        *next = i + 1;
    }
}

/// One run's traffic: `producers` each send `items / producers` values into a queue of
/// `cap`, `consumers` receive them.
#[derive(Clone, Copy)]
pub struct Flow<'a> {
    /// The cell's label, for messages.
    pub label: &'a str,
    pub producers: usize,
    pub consumers: usize,
    pub cap: usize,
    pub items: u64,
}

impl Flow<'_> {
    pub fn per_producer(&self) -> u64 {
        self.items / self.producers as u64
    }

    pub fn total(&self) -> u64 {
        self.per_producer() * self.producers as u64
    }
}

/// Panics unless the receivers together got every value exactly once (count and sum).
/// Order violations (a producer's values out of order) panic for pushpull, whose contract
/// is FIFO per producer, and are printed for a peer.
pub fn verify(name: &str, f: &Flow, tallies: &[Tally]) {
    let per = f.per_producer();
    let mut expected_sum = 0u64;
    for p in 0..f.producers {
        // Sum of value(p, i) for i in 0..per, without looping over every i.
        let base = value(p, 0).wrapping_mul(per);
        let idx = if per == 0 { 0 } else { per * (per - 1) / 2 };
        expected_sum = expected_sum.wrapping_add(base).wrapping_add(idx);
    }
    let expected_count = f.total();
    let count: u64 = tallies.iter().map(|t| t.count).sum();
    let sum = tallies.iter().fold(0u64, |a, t| a.wrapping_add(t.sum));
    let out_of_order: u64 = tallies.iter().map(|t| t.out_of_order).sum();
    assert!(
        count == expected_count && sum == expected_sum,
        "CHECK FAILED: {name} in {}: received {count} values (sum {sum}), \
         sent {expected_count} (sum {expected_sum})",
        f.label
    );
    if out_of_order != 0 {
        let msg = format!(
            "ORDER: {name} in {}: {out_of_order} values came before an earlier value of \
             the same producer",
            f.label
        );
        if name.starts_with("pushpull") {
            panic!("CHECK FAILED: {msg}");
        }
        eprintln!("{msg}");
    }
}

/// From the first thread's start to the last thread's end. Each thread reads the clock
/// itself, right after the start barrier: the coordinating thread may be descheduled after
/// the barrier (2 cores), and the work could be over before it reads the clock.
pub struct Span {
    start: Option<Instant>,
    end: Option<Instant>,
}

impl Span {
    pub fn new() -> Self {
        Self {
            start: None,
            end: None,
        }
    }

    pub fn add(&mut self, start: Instant, end: Instant) {
        self.start = Some(self.start.map_or(start, |s| s.min(start)));
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    pub fn secs(&self) -> f64 {
        self.end
            .unwrap()
            .duration_since(self.start.unwrap())
            .as_secs_f64()
    }
}

/// `n` handles: `first` and `n - 1` clones of it.
pub fn split<H>(first: H, n: usize, clone: impl Fn(&H) -> H) -> Vec<H> {
    let mut v: Vec<H> = (1..n).map(|_| clone(&first)).collect();
    v.push(first);
    v
}
