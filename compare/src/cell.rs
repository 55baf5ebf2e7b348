//! A cell of the matrix: one scenario, the implementations that run it, and what it measures.

/// What a run reports, and which way is better.
pub struct Metric {
    /// Column heading, with the unit: "M items/s", "ns/pair", "p50 ns".
    pub name: &'static str,
    pub higher_is_better: bool,
}

pub const THROUGHPUT: &[Metric] = &[Metric {
    name: "M items/s",
    higher_is_better: true,
}];

/// One implementation in a cell. `run(work)` does one checked run of `work` items (or
/// rounds, or pairs) and returns one number per metric of the cell.
pub struct Impl {
    pub name: &'static str,
    pub run: Box<dyn Fn(u64) -> Vec<f64>>,
}

pub struct Cell {
    pub label: String,
    /// Items (or rounds, or pairs) per run.
    pub work: u64,
    /// What `work` counts: "items", "rounds", "pairs".
    pub unit: &'static str,
    pub metrics: &'static [Metric],
    pub impls: Vec<Impl>,
    /// Listed but not run, with the reason.
    pub skipped: Option<&'static str>,
}

impl Cell {
    pub fn throughput(label: String, work: u64, impls: Vec<Impl>) -> Self {
        Self {
            label,
            work,
            unit: "items",
            metrics: THROUGHPUT,
            impls,
            skipped: None,
        }
    }
}

/// How much work a run does: the full-run default, cut for `--quick`, or `--items N`.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub quick: bool,
    pub items: Option<u64>,
}

impl Sizes {
    /// `full` in a full run, `quick` with `--quick`, or `--items N`.
    pub fn pick(&self, full: u64, quick: u64) -> u64 {
        self.items.unwrap_or(if self.quick { quick } else { full })
    }

    /// A tenth of the full run's work with `--quick`.
    pub fn of(&self, full: u64) -> u64 {
        self.pick(full, full / 10)
    }

    /// Items per run for a single-item throughput cell. Capacity 0 and 1 hand over one
    /// value at a time (a thread or task woken for each, most of all when 8 threads share
    /// 2 cores), so they move fewer; `--quick` cuts them most.
    pub fn items(&self, cap: usize) -> u64 {
        match cap {
            0 | 1 => self.pick(200_000, 10_000),
            2..=8 => self.pick(1_000_000, 50_000),
            _ => self.pick(1_000_000, 100_000),
        }
    }
}

/// The shapes of the single-item matrix: (producers, consumers).
pub const SHAPES: [(usize, usize); 3] = [(1, 1), (4, 1), (4, 4)];
/// The capacities of the single-item matrix.
pub const CAPS: [usize; 5] = [0, 1, 8, 64, 1024];

/// "SPSC 1P/1C cap=64".
pub fn flow_label(producers: usize, consumers: usize, cap: usize) -> String {
    let shape = match (producers, consumers) {
        (1, 1) => "SPSC",
        (_, 1) => "MPSC",
        (1, _) => "SPMC",
        _ => "MPMC",
    };
    format!("{shape} {producers}P/{consumers}C cap={cap}")
}
