//! Per-cell tables and the final summary (text, and markdown with `--markdown`).

use std::time::Duration;

use crate::cell::Metric;

/// Median, min and max of one implementation's runs on one metric.
#[derive(Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(xs: &[f64]) -> Self {
        let mut v = xs.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    pub fn spread(&self) -> f64 {
        self.max / self.min
    }
}

pub struct Row {
    pub name: &'static str,
    /// One per metric of the cell.
    pub stats: Vec<Stats>,
}

/// What the driver measured around a cell.
pub struct CellReport {
    pub label: String,
    pub metrics: &'static [Metric],
    pub rows: Vec<Row>,
    /// "1000000 items x 5 reps".
    pub work: String,
    pub took: Duration,
    /// How long the quiet-wait took, and whether the machine got quiet (None: --no-wait).
    pub waited: Option<(Duration, bool, f64)>,
    /// The others' average use during the cell, in cores (None: /proc unreadable).
    pub others: Option<f64>,
    pub disturbed: bool,
}

/// How much faster pushpull is than the peer on this metric (> 1: pushpull faster),
/// whichever way the metric goes.
pub fn speed_ratio(m: &Metric, pp: f64, peer: f64) -> f64 {
    if m.higher_is_better {
        pp / peer
    } else {
        peer / pp
    }
}

fn is_pushpull(name: &str) -> bool {
    name.starts_with("pushpull")
}

fn short(name: &str) -> &str {
    match name {
        "pushpull spsc" => "pp-spsc",
        "pushpull mpmc" => "pp-mpmc",
        other => other,
    }
}

/// Three significant-ish digits: 0.123, 12.3, 1234.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn pct(cores: f64) -> String {
    format!("{:.0}%", cores * 100.0)
}

pub fn print_cell(c: &CellReport) {
    let mut head = format!("   {}; took {:.1} s", c.work, c.took.as_secs_f64());
    if let Some((d, quiet, others)) = c.waited {
        head += &format!("; waited {:.1} s for quiet", d.as_secs_f64());
        if !quiet {
            head += &format!(" (gave up: others at {} of a core)", pct(others));
        }
    }
    if let Some(o) = c.others {
        head += &format!("; others during cell {} of a core", pct(o));
    }
    println!("{head}");
    if c.disturbed {
        println!(
            "   ** DISTURBED: other processes used more than {} of a core on average **",
            pct(crate::quiet::DISTURBED)
        );
    }
    let pp: Vec<&Row> = c.rows.iter().filter(|r| is_pushpull(r.name)).collect();
    for (k, m) in c.metrics.iter().enumerate() {
        let mut header = format!(
            "   {:<19} {:>10} {:>17} {:>7}",
            "impl", m.name, "min..max", "spread"
        );
        for p in &pp {
            header += &format!(" {:>10}", format!("{}/x", short(p.name)));
        }
        println!("{header}");
        for r in &c.rows {
            let s = r.stats[k];
            let mut line = format!(
                "   {:<19} {:>10} {:>17} {:>7.2}",
                r.name,
                num(s.median),
                format!("{}..{}", num(s.min), num(s.max)),
                s.spread()
            );
            for p in &pp {
                line += &format!(" {:>10.2}", speed_ratio(m, p.stats[k].median, s.median));
            }
            println!("{line}");
        }
    }
}

/// One summary line: a cell (and metric, when it has several).
struct Line {
    cell: String,
    metric: &'static str,
    pp: Option<(&'static str, f64)>,
    peer: Option<(&'static str, f64)>,
    ratio: Option<f64>,
    note: &'static str,
}

fn lines(cells: &[CellReport]) -> Vec<Line> {
    let mut out = Vec::new();
    for c in cells {
        for (k, m) in c.metrics.iter().enumerate() {
            // The best row by this metric among those `keep` accepts.
            let best = |keep: &dyn Fn(&str) -> bool| {
                (c.rows.iter().filter(|r| keep(r.name)))
                    .map(|r| (r.name, r.stats[k].median))
                    .max_by(|a, b| {
                        let r = speed_ratio(m, a.1, b.1);
                        r.partial_cmp(&1.0).unwrap_or(std::cmp::Ordering::Equal)
                    })
            };
            let pp = best(&|n| is_pushpull(n));
            let peer = best(&|n| !is_pushpull(n));
            out.push(Line {
                cell: c.label.clone(),
                metric: m.name,
                ratio: pp.zip(peer).map(|(p, q)| speed_ratio(m, p.1, q.1)),
                pp,
                peer,
                note: if c.disturbed { "DISTURBED" } else { "" },
            });
        }
    }
    out
}

const SUMMARY_NOTE: &str = "pushpull = its faster flavor; ratio = pushpull speed / best peer's \
                            speed (> 1: pushpull faster; for ns metrics, peer ns / pushpull ns)";

pub fn print_summary(cells: &[CellReport]) {
    let lines = lines(cells);
    let w = lines.iter().map(|l| l.cell.len()).max().unwrap_or(4).max(4);
    println!("\n== summary ({SUMMARY_NOTE})");
    println!(
        "{:<w$}  {:<9}  {:<8} {:>8}  {:<18} {:>8}  {:>6}",
        "cell", "metric", "pushpull", "value", "best peer", "value", "ratio"
    );
    let opt = |x: Option<(&str, f64)>| match x {
        Some((n, v)) => (short(n).to_string(), num(v)),
        None => ("-".into(), "-".into()),
    };
    for l in &lines {
        let (pn, pv) = opt(l.pp);
        let (qn, qv) = opt(l.peer);
        let ratio = l.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        println!(
            "{:<w$}  {:<9}  {:<8} {:>8}  {:<18} {:>8}  {:>6}  {}",
            l.cell, l.metric, pn, pv, qn, qv, ratio, l.note
        );
    }
}

pub fn print_markdown(cells: &[CellReport]) {
    println!("\n== summary, markdown ({SUMMARY_NOTE})\n");
    println!("| cell | metric | pushpull | value | best peer | value | ratio | note |");
    println!("| --- | --- | --- | ---: | --- | ---: | ---: | --- |");
    for l in lines(cells) {
        let (pn, pv) = l.pp.map_or(("-".into(), "-".into()), |(n, v)| {
            (short(n).to_string(), num(v))
        });
        let (qn, qv) = l
            .peer
            .map_or(("-".into(), "-".into()), |(n, v)| (n.to_string(), num(v)));
        let ratio = l.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        let note = if l.note.is_empty() {
            String::new()
        } else {
            format!("**{}**", l.note)
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            l.cell, l.metric, pn, pv, qn, qv, ratio, note
        );
    }
}
