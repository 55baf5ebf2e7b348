//! Sharding by key against one shared queue: the latency of the fast keys when one key's
//! values are slow to process (head-of-line blocking).
//!
//! One producer offers values of 64 keys at a fixed rate. Key 0 is slow: its values come in
//! bursts and each takes about 1 ms to process (a sleep, as a slow downstream call would);
//! every other value takes about 2 us (a spin). The same schedule runs through
//!
//! - **shared**: one MPMC queue, drained by a pool of W workers; and
//! - **sharded**: `pushpull::shard` with K shards, one worker per shard (W = K), keys routed
//!   by hash, so each key is processed by one worker, in order.
//!
//! Each value's latency, from the moment it was scheduled to be sent (so a producer that
//! falls behind is charged, not hidden) to the end of its processing, goes into an
//! `hdrhistogram` per group: the slow key, the fast keys that share its shard in the
//! sharded layout ("neighbours"), and the other fast keys. The table gives p50, p99, p99.9
//! and max in microseconds, and how many values were processed after a later value of the
//! same key had finished (per-key order broken).
//!
//! Run it with `cargo run --release --features shard --example shard_latency`. Options:
//! `--seconds S` (per layout, default 6), `--shards K` (and workers, default 4), and
//! `--plot PATH` to write an SVG of latency against percentile (the guide's is
//! `--plot docs/shard_latency.svg`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use pushpull::shard;

/// The slow key.
pub const SLOW_KEY: u32 = 0;

/// What is offered, and what processing costs.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Keys `0..keys`; key [`SLOW_KEY`] is the slow one.
    pub keys: u32,
    /// Values of the fast keys per second, spread evenly in time, keys in turn.
    pub fast_rate: u32,
    /// A burst of `burst` slow-key values, all scheduled at once, every `burst_every`.
    pub burst: u32,
    pub burst_every: Duration,
    /// How long the offer lasts.
    pub duration: Duration,
    /// Processing time of a slow-key value (slept) and of a fast one (spun).
    pub slow_work: Duration,
    pub fast_work: Duration,
    /// Workers of the shared queue; shards (one worker each) of the sharded one.
    pub workers: usize,
    /// Capacity of the shared queue; each shard gets `capacity / workers`.
    pub capacity: usize,
}

impl Workload {
    /// The default run: 10 000 fast values/s over 63 keys, a burst of 20 slow values (about
    /// 20 ms of work) every 100 ms, 4 workers, 4096 places in all.
    pub fn standard(seconds: f64, workers: usize) -> Self {
        Self {
            keys: 64,
            fast_rate: 10_000,
            burst: 20,
            burst_every: Duration::from_millis(100),
            duration: Duration::from_secs_f64(seconds),
            slow_work: Duration::from_millis(1),
            fast_work: Duration::from_micros(2),
            workers,
            capacity: 4096,
        }
    }

    /// The offered values: `(offset from the start, key)`, in time order. Both layouts get
    /// the same one.
    pub fn schedule(&self) -> Vec<(Duration, u32)> {
        let mut out = Vec::new();
        let fast_keys = self.keys - 1;
        let n_fast = (self.duration.as_secs_f64() * f64::from(self.fast_rate)).round() as u64;
        let gap = Duration::from_secs(1) / self.fast_rate;
        let mut next_burst = self.burst_every / 2;
        for i in 0..n_fast {
            let at = gap * i as u32;
            while next_burst <= at {
                out.extend((0..self.burst).map(|_| (next_burst, SLOW_KEY)));
                next_burst += self.burst_every;
            }
            out.push((at, 1 + (i % u64::from(fast_keys)) as u32));
        }
        out
    }
}

/// The two layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One MPMC queue, W workers.
    Shared,
    /// K shards, one worker each.
    Sharded,
}

/// Which latency histogram a value goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The slow key.
    Slow,
    /// Fast keys routed to the slow key's shard (in the sharded layout; the same keys are
    /// reported apart in the shared layout too, for comparison).
    Neighbour,
    /// The other fast keys.
    Fast,
}

pub const GROUPS: [Group; 3] = [Group::Fast, Group::Neighbour, Group::Slow];

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Slow => "slow key",
            Group::Neighbour => "fast keys sharing its shard",
            Group::Fast => "other fast keys",
        }
    }
}

/// One offered value.
#[derive(Debug)]
pub struct Job {
    /// Its place in the schedule (0..n), to check that each is processed once.
    pub id: u32,
    pub key: u32,
    /// When it was scheduled to be sent.
    pub due: Instant,
}

/// What one layout did.
#[derive(Debug)]
pub struct Outcome {
    pub layout: Layout,
    /// Latency in microseconds, per group (indexed as [`GROUPS`]).
    pub latency: [Histogram<u64>; 3],
    /// How many times each scheduled value was processed (1 each when all is well).
    pub processed: Vec<u32>,
    /// Per group (indexed as [`GROUPS`]): values processed after a later value of the same
    /// key had finished (per-key order broken).
    pub out_of_order: [u64; 3],
    /// The queue's counters at the end (summed over the shards).
    pub sent: u64,
    pub received: u64,
    /// How many fast keys share the slow key's shard.
    pub neighbours: u32,
    /// How late the producer's sends were against the schedule, in microseconds.
    pub producer_lag: Histogram<u64>,
}

impl Outcome {
    pub fn histogram(&self, group: Group) -> &Histogram<u64> {
        &self.latency[GROUPS.iter().position(|&g| g == group).unwrap()]
    }
}

/// What a worker keeps: its own histograms and ids, merged at the end.
struct Tally {
    latency: [Histogram<u64>; 3],
    ids: Vec<u32>,
    out_of_order: [u64; 3],
}

impl Tally {
    fn new() -> Self {
        Tally {
            latency: [histogram(), histogram(), histogram()],
            ids: Vec::new(),
            out_of_order: [0; 3],
        }
    }
}

fn histogram() -> Histogram<u64> {
    // 1 us .. 100 s at 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).unwrap()
}

/// Processes one job, records it.
fn process(job: Job, w: &Workload, group_of: &[Group], last_done: &[AtomicU64], t: &mut Tally) {
    if job.key == SLOW_KEY {
        thread::sleep(w.slow_work);
    } else {
        let start = Instant::now();
        while start.elapsed() < w.fast_work {
            std::hint::spin_loop();
        }
    }
    let micros = job.due.elapsed().as_micros().max(1) as u64;
    let g = group_of[job.key as usize];
    let slot = GROUPS.iter().position(|&x| x == g).unwrap();
    t.latency[slot].saturating_record(micros);
    t.ids.push(job.id);
    // Ids grow along the schedule, so for one key a smaller id finishing after a larger one
    // means the key's values were processed out of order.
    let before = last_done[job.key as usize].fetch_max(u64::from(job.id) + 1, Ordering::Relaxed);
    if before > u64::from(job.id) {
        t.out_of_order[slot] += 1;
    }
}

/// Runs `layout` over `w`'s schedule.
pub fn run(layout: Layout, w: &Workload) -> Outcome {
    let schedule = w.schedule();
    let k = w.workers;
    let (tx, rx) = shard::Builder::new(k, (w.capacity / k).max(1)).build::<u32, Job>();
    // Groups follow the sharded layout's routing (same hasher), in both layouts.
    let slow_shard = tx.shard_for(&SLOW_KEY);
    let group_of: Arc<Vec<Group>> = Arc::new(
        (0..w.keys)
            .map(|key| match key {
                SLOW_KEY => Group::Slow,
                _ if tx.shard_for(&key) == slow_shard => Group::Neighbour,
                _ => Group::Fast,
            })
            .collect(),
    );
    let neighbours = group_of.iter().filter(|&&g| g == Group::Neighbour).count() as u32;
    let last_done: Arc<Vec<AtomicU64>> = Arc::new((0..w.keys).map(|_| AtomicU64::new(0)).collect());

    let spawn_worker = |next: Box<dyn FnMut() -> Option<Job> + Send>| {
        let (w, group_of, last_done) = (w.clone(), group_of.clone(), last_done.clone());
        let mut next = next;
        thread::spawn(move || {
            let mut t = Tally::new();
            while let Some(job) = next() {
                process(job, &w, &group_of, &last_done, &mut t);
            }
            t
        })
    };

    // The producer's send, and the workers, per layout.
    type SendFn = Box<dyn Fn(Job) + Send>;
    type CountsFn = Box<dyn Fn() -> (u64, u64)>;
    let (send, workers, counts): (SendFn, Vec<_>, CountsFn) = match layout {
        Layout::Shared => {
            drop((tx, rx));
            let (tx, rx) = pushpull::mpmc::<Job>(w.capacity);
            let workers = (0..k)
                .map(|_| {
                    let rx = rx.clone();
                    spawn_worker(Box::new(move || rx.recv().ok()))
                })
                .collect();
            let end = rx.closer();
            drop(rx);
            let send: SendFn = Box::new(move |job| {
                let _ = tx.send(job).expect("the workers are alive");
            });
            let counts = Box::new(move || {
                let m = end.metrics();
                (m.sent, m.received)
            });
            (send, workers, counts)
        }
        Layout::Sharded => {
            let receivers = rx.into_receivers();
            let closers: Vec<_> = receivers.iter().map(|r| r.closer()).collect();
            let workers = receivers
                .into_iter()
                .map(|rx| spawn_worker(Box::new(move || rx.recv().ok())))
                .collect();
            let send: SendFn = Box::new(move |job| {
                let key = job.key; // the key is copied out: `job` moves into the send
                let _ = tx.send(&key, job).expect("the workers are alive");
            });
            let counts = Box::new(move || {
                closers
                    .iter()
                    .map(|c| c.metrics())
                    .fold((0, 0), |(s, r), m| (s + m.sent, r + m.received))
            });
            (send, workers, counts)
        }
    };

    let n = schedule.len();
    let producer = thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(5);
        let mut lag = histogram();
        for (id, (offset, key)) in schedule.into_iter().enumerate() {
            let due = start + offset;
            wait_until(due);
            lag.saturating_record(due.elapsed().as_micros() as u64);
            send(Job {
                id: id as u32,
                key,
                due,
            });
        }
        lag
        // `send` (holding the last sender) drops here: the queue closes, the workers drain
        // it and stop.
    });
    let producer_lag = producer.join().unwrap();

    let mut latency = [histogram(), histogram(), histogram()];
    let mut processed = vec![0u32; n];
    let mut out_of_order = [0; 3];
    for worker in workers {
        let t = worker.join().unwrap();
        for (all, mine) in latency.iter_mut().zip(&t.latency) {
            all.add(mine).unwrap();
        }
        for id in t.ids {
            processed[id as usize] += 1;
        }
        for (all, mine) in out_of_order.iter_mut().zip(t.out_of_order) {
            *all += mine;
        }
    }
    let (sent, received) = counts();
    Outcome {
        layout,
        latency,
        processed,
        out_of_order,
        sent,
        received,
        neighbours,
        producer_lag,
    }
}

/// Sleeps until `due`. (A spinning producer would keep one of the machine's cores busy and
/// delay the workers' wake-ups; a sleep may overshoot by tens of microseconds, which the
/// latencies include, the same for both layouts.)
fn wait_until(due: Instant) {
    let now = Instant::now();
    if now < due {
        thread::sleep(due - now);
    }
}

/// The table's quantiles.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")];

/// The table: one row per layout and group.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:<8} {:<28} {:>7} {:>8} {:>8} {:>8} {:>8} {:>12}\n",
        "layout", "values", "count", "p50 us", "p99 us", "p99.9 us", "max us", "out of order"
    );
    for o in outcomes {
        let layout = match o.layout {
            Layout::Shared => "shared",
            Layout::Sharded => "sharded",
        };
        for (i, g) in GROUPS.iter().enumerate() {
            let h = o.histogram(*g);
            let q: Vec<String> = QUANTILES
                .iter()
                .map(|(q, _)| h.value_at_quantile(*q).to_string())
                .collect();
            s += &format!(
                "{:<8} {:<28} {:>7} {:>8} {:>8} {:>8} {:>8} {:>12}\n",
                layout,
                g.name(),
                h.len(),
                q[0],
                q[1],
                q[2],
                h.max(),
                o.out_of_order[i]
            );
        }
    }
    s
}

/// Writes an SVG of latency (log scale) against percentile (in "nines": 90, 99, 99.9, ...),
/// one line per layout and group. Text is SVG `<text>` (plotters without its `ttf` feature
/// estimates label sizes; the viewer's fonts draw them).
pub fn plot(outcomes: &[Outcome], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    const NINES: f64 = 4.0; // up to p99.99
    let points = |h: &hdrhistogram::Histogram<u64>| -> Vec<(f64, f64)> {
        // From p50 (x = log10 2) up.
        (6..=80)
            .map(|i| {
                let x = NINES * f64::from(i) / 80.0;
                let q = 1.0 - 10f64.powf(-x);
                (x, h.value_at_quantile(q).max(1) as f64)
            })
            .collect()
    };
    let top = outcomes
        .iter()
        .flat_map(|o| o.latency.iter().map(|h| h.max()))
        .max()
        .unwrap_or(1)
        .max(10) as f64
        * 2.0;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency by percentile: one shared queue vs sharded by key (one slow key)",
            ("sans-serif", 20),
        )
        .margin(12)
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..NINES, (1f64..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (us, log scale)")
        .x_labels(5)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("{p}%")
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for o in outcomes {
        for g in GROUPS {
            let color = match (o.layout, g) {
                (Layout::Shared, Group::Fast) => RGBColor(200, 30, 30),
                (Layout::Shared, Group::Neighbour) => RGBColor(240, 140, 120),
                (Layout::Shared, Group::Slow) => RGBColor(120, 0, 0),
                (Layout::Sharded, Group::Fast) => RGBColor(30, 80, 200),
                (Layout::Sharded, Group::Neighbour) => RGBColor(110, 170, 240),
                (Layout::Sharded, Group::Slow) => RGBColor(0, 20, 100),
            };
            let style = ShapeStyle::from(&color).stroke_width(if g == Group::Slow { 1 } else { 2 });
            let label = format!(
                "{}: {}",
                match o.layout {
                    Layout::Shared => "shared",
                    Layout::Sharded => "sharded",
                },
                g.name()
            );
            chart
                .draw_series(LineSeries::new(points(o.histogram(g)), style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    // The producer's own lag behind its schedule (sharded run): a floor under every tail.
    if let Some(o) = outcomes.iter().find(|o| o.layout == Layout::Sharded) {
        let style = ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1);
        chart
            .draw_series(LineSeries::new(points(&o.producer_lag), style))?
            .label("producer's lag behind its schedule (sharded run)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let mut seconds = 6.0;
    let mut shards = 4;
    let mut plot_to = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => seconds = value().parse().expect("--seconds: a number"),
            "--shards" => shards = value().parse().expect("--shards: a number"),
            "--plot" => plot_to = Some(value()),
            other => panic!("unknown option {other} (--seconds S, --shards K, --plot PATH)"),
        }
    }
    let w = Workload::standard(seconds, shards);
    let slow_share = f64::from(w.burst) * w.slow_work.as_secs_f64() / w.burst_every.as_secs_f64();
    println!(
        "{} keys; fast keys: {} values/s in all, ~{:?} of work each; slow key {SLOW_KEY}: a \
         burst of {} values every {:?}, ~{:?} each ({:.0}% of one worker); {seconds} s per \
         layout; {} workers (shared) = {} shards (sharded), {} places in all",
        w.keys,
        w.fast_rate,
        w.fast_work,
        w.burst,
        w.burst_every,
        w.slow_work,
        100.0 * slow_share,
        w.workers,
        w.workers,
        w.capacity
    );
    let outcomes: Vec<Outcome> = [Layout::Shared, Layout::Sharded]
        .into_iter()
        .map(|layout| run(layout, &w))
        .collect();
    for o in &outcomes {
        assert!(
            o.processed.iter().all(|&c| c == 1),
            "{:?}: a value was lost or processed twice",
            o.layout
        );
        assert_eq!(
            (o.sent, o.received),
            (o.processed.len() as u64, o.processed.len() as u64)
        );
    }
    let lag = |o: &Outcome| {
        let h = &o.producer_lag;
        format!(
            "p99 {} us, p99.9 {} us, max {} us",
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        )
    };
    println!(
        "{} fast keys share the slow key's shard; latency runs from the scheduled send to the \
         end of processing; the producer's lag behind its schedule: shared {}, sharded {}\n",
        outcomes[0].neighbours,
        lag(&outcomes[0]),
        lag(&outcomes[1])
    );
    print!("{}", table(&outcomes));
    if let Some(path) = plot_to {
        plot(&outcomes, &path).expect("writing the plot");
        println!("\nplot written to {path}");
    }
}
