//! Side-by-side comparison of `pushpull` and its peers.
//!
//! The matrix is a list of cells (a scenario: mode, shape, capacity, item type). Each cell
//! runs every implementation that fits it once as a warm-up, then once per repetition, in
//! an order rotated by one from each repetition to the next, so that noise on the machine
//! falls on all of them alike. Every run is checked item by item (count, sum, FIFO per
//! producer). Before a cell, the driver waits for the rest of the machine to be quiet, and
//! flags the cell DISTURBED if other processes were busy while it ran.
//!
//! Run: `cargo run --release --manifest-path compare/Cargo.toml -- [--quick] [--filter TEXT]`.
//! See `compare/README.md`.

mod asyncs;
mod batch;
mod credit;
mod blocking;
mod cell;
mod check;
mod latency;
mod quiet;
mod report;
mod ring;
mod sanity;

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use cell::{Cell, Sizes};
use quiet::{Snap, WaitPolicy};
use report::{CellReport, Row, Stats};

struct Options {
    quick: bool,
    filter: Vec<String>,
    only: Vec<String>,
    reps: usize,
    items: Option<u64>,
    no_wait: bool,
    markdown: bool,
}

const USAGE: &str = "\
usage: compare [--quick] [--filter TEXT]... [--impl TEXT]... [--reps N] [--items N]
               [--no-wait] [--markdown]
  --quick        a tenth of the work, 3 repetitions, at most 3 s of quiet-wait per cell
  --filter TEXT  only the cells whose label contains TEXT (any of them), e.g. 'blocking',
                 'async[st]', 'MPSC', 'cap=64', 'spin', 'fan-out', 'ping-pong', '1-thread';
                 '=LABEL': only the cell labelled exactly LABEL
  --impl TEXT    only the implementations whose name contains TEXT, e.g. 'pushpull', 'rtrb'
  --reps N       repetitions per cell (default 5; quick 3)
  --items N      items (rounds, pairs) per run in every cell
  --no-wait      do not wait for a quiet machine before each cell (still flags DISTURBED)
  --markdown     also print the summary as a markdown table";

fn parse_args() -> Options {
    let mut o = Options {
        quick: false,
        filter: Vec::new(),
        only: Vec::new(),
        reps: 0,
        items: None,
        no_wait: false,
        markdown: false,
    };
    let mut args = std::env::args().skip(1);
    let number = |what: &str, v: Option<String>| -> u64 {
        v.and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what} needs a number (try --help)"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--filter" => o.filter.push(args.next().expect("--filter TEXT")),
            "--impl" => o.only.push(args.next().expect("--impl TEXT")),
            "--reps" => o.reps = number("--reps", args.next()) as usize,
            "--items" => o.items = Some(number("--items", args.next()).max(1)),
            "--no-wait" => o.no_wait = true,
            "--markdown" => o.markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    if o.reps == 0 {
        o.reps = if o.quick { 3 } else { 5 };
    }
    o
}

/// The whole matrix, in running order.
fn matrix(sizes: Sizes) -> Vec<Cell> {
    let mut cells = Vec::new();
    cells.extend(blocking::matrix(sizes));
    cells.extend(asyncs::matrix(asyncs::Exec::Mt2, sizes));
    cells.extend(asyncs::matrix(asyncs::Exec::St, sizes));
    cells.extend(blocking::fan_out(sizes));
    cells.extend(blocking::payload(sizes));
    cells.extend(ring::spin(sizes));
    cells.extend(ring::one_thread(sizes));
    cells.extend(latency::ping_pong(sizes));
    cells.extend(batch::matrix(sizes));
    cells.extend(credit::matrix(sizes));
    cells
}

// === watchdog ===

/// The run in progress, and since when.
static CURRENT: Mutex<Option<(String, Instant)>> = Mutex::new(None);

fn watch(what: Option<String>) {
    *CURRENT.lock().unwrap() = what.map(|w| (w, Instant::now()));
}

/// Ends the program, naming the cell and implementation, if one run takes over `limit`:
/// a lost value or a lost wake-up shows as a hang.
fn start_watchdog(limit: Duration) {
    thread::spawn(move || loop {
        thread::sleep(Duration::from_millis(500));
        if let Some((what, since)) = CURRENT.lock().unwrap().as_ref() {
            if since.elapsed() > limit {
                eprintln!(
                    "WATCHDOG: {what} has run for {:.0?} (limit {limit:?}): probable hang",
                    since.elapsed()
                );
                std::process::exit(3);
            }
        }
    });
}

/// "crossbeam-channel 0.5.17, kanal 0.1.1, ..." from the Cargo.lock this was built with.
fn versions() -> String {
    const PEERS: &[&str] = &[
        "crossbeam-channel",
        "crossbeam-queue",
        "kanal",
        "flume",
        "async-channel",
        "tokio",
        "tachyonix",
        "rtrb",
        "ringbuf",
    ];
    let lock = include_str!("../Cargo.lock");
    let mut out = Vec::new();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ") {
            if PEERS.contains(&name) {
                out.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    out.join(", ")
}

fn main() {
    let o = parse_args();
    sanity::check_apis();
    let sizes = Sizes {
        quick: o.quick,
        items: o.items,
    };
    let mut cells = matrix(sizes);
    cells.retain(|c| {
        o.filter.is_empty()
            || o.filter.iter().any(|f| match f.strip_prefix('=') {
                Some(exact) => c.label == exact,
                None => c.label.contains(f.as_str()),
            })
    });
    for c in &mut cells {
        c.impls
            .retain(|im| o.only.is_empty() || o.only.iter().any(|f| im.name.contains(f.as_str())));
    }
    let policy = if o.quick {
        WaitPolicy {
            window: Duration::from_millis(150),
            windows: 1,
            max_wait: Duration::from_secs(3),
        }
    } else {
        WaitPolicy {
            window: Duration::from_millis(200),
            windows: 3,
            max_wait: Duration::from_secs(60),
        }
    };
    start_watchdog(Duration::from_secs(if o.quick { 30 } else { 120 }));

    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "pushpull compare: {} mode, {} repetitions, {} cells, {cores} cores; {}",
        if o.quick { "quick" } else { "full" },
        o.reps,
        cells.len(),
        if o.no_wait {
            "no quiet-wait".to_string()
        } else {
            format!(
                "quiet-wait before each cell: others < {:.0}% of a core for {} x {} ms (at most {} s)",
                quiet::QUIET * 100.0,
                policy.windows,
                policy.window.as_millis(),
                policy.max_wait.as_secs()
            )
        }
    );
    println!("peers: {}", versions());
    println!(
        "per cell: median of the repetitions, min..max, spread = max/min; \
         pp-*/x columns: how much faster pushpull's flavor is than the row (> 1: pushpull faster)"
    );

    let started = Instant::now();
    let mut reports = Vec::new();
    for c in &cells {
        println!("\n== {}", c.label);
        if let Some(why) = c.skipped {
            println!("   skipped: {why}");
            continue;
        }
        if c.impls.is_empty() {
            println!("   skipped: no implementation left (--impl)");
            continue;
        }
        let waited = (!o.no_wait).then(|| quiet::wait_quiet(&policy));
        let cell_start = Instant::now();
        let before = Snap::now();

        // Warm-up, and a first check of each implementation in this cell.
        let warm = (c.work / 10).max(1000).min(c.work);
        for im in &c.impls {
            watch(Some(format!("{} / {} (warm-up)", c.label, im.name)));
            (im.run)(warm);
        }
        let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::new(); c.impls.len()];
        for rep in 0..o.reps {
            for k in 0..c.impls.len() {
                let idx = (k + rep) % c.impls.len();
                let im = &c.impls[idx];
                watch(Some(format!("{} / {} (rep {rep})", c.label, im.name)));
                samples[idx].push((im.run)(c.work));
            }
        }
        watch(None);

        let others = before.zip(Snap::now()).map(|(a, b)| a.others_until(&b));
        let rows = (c.impls.iter().zip(&samples))
            .map(|(im, runs)| Row {
                name: im.name,
                stats: (0..c.metrics.len())
                    .map(|m| Stats::of(&runs.iter().map(|r| r[m]).collect::<Vec<_>>()))
                    .collect(),
            })
            .collect();
        let report = CellReport {
            label: c.label.clone(),
            metrics: c.metrics,
            rows,
            work: format!("{} {} x {} reps", c.work, c.unit, o.reps),
            took: cell_start.elapsed(),
            waited: waited.map(|w| (w.waited, w.quiet, w.others)),
            others: others.map(|x| x.cores),
            disturbed: others.is_some_and(|x| x.disturbed()),
        };
        report::print_cell(&report);
        reports.push(report);
    }

    report::print_summary(&reports);
    if o.markdown {
        report::print_markdown(&reports);
    }
    let disturbed = reports.iter().filter(|r| r.disturbed).count();
    let not_quiet = (reports.iter())
        .filter(|r| r.waited.is_some_and(|w| !w.1))
        .count();
    let waited = (reports.iter())
        .filter_map(|r| r.waited.map(|w| w.0.as_secs_f64()))
        .fold(0.0, |a, b| a + b);
    println!(
        "\n{} cells run; {disturbed} DISTURBED; {not_quiet} started without a quiet machine; \
         {waited:.1} s spent waiting for quiet; total time {:.1} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
}
