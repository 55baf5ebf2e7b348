//! Live metrics: a pipeline's queues on `GET /metrics`, through a load spike.
//!
//! A producer offers requests at a steady rate, then ten times that rate for a while, then
//! the steady rate again. They go through two queues:
//!
//! ```text
//! producer -> "ingest" (MPMC, Block) -> stage -> "deliver" (SPSC, DropOldest) -> consumer
//! ```
//!
//! The stage handles at most `stage_rate` values a second and the consumer `consumer_rate`,
//! both below the spike. `ingest` blocks the producer when it is full (backpressure: its
//! `send_waits` counter climbs), `deliver` evicts its oldest values (`evicted_oldest`), and
//! what the consumer gets is capped by its own rate. A `pushpull::prometheus::QueueRegistry`
//! holds both queues, and a small HTTP server (tiny_http, no async runtime) serves it in the
//! OpenMetrics text format while the pipeline runs. Every 100 ms the example also samples
//! both queues' `metrics()`; `--plot PATH` draws the samples as an SVG graph (plotters).
//!
//! Run it with `cargo run --release --features metrics --example metrics_server`, and while
//! it runs, `curl http://127.0.0.1:9898/metrics`. Options:
//!
//! - `--addr HOST:PORT`: where to serve (default `127.0.0.1:9898`; port 0 picks a free one);
//! - `--duration SECS`: the length of the run (default 10; the spike starts at 30% of it and
//!   lasts 20%);
//! - `--plot PATH`: write the graph there after the run (`docs/metrics_spike.svg` is one).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pushpull::prometheus::{QueueRegistry, CONTENT_TYPE};
use pushpull::{Builder, Metrics, Policy};

/// The HTTP server: `GET /metrics` renders the registry, anything else is a 404.
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` (port 0: any free port) and serves `queues` from a thread of its
    /// own until stopped.
    pub fn start(addr: &str, queues: QueueRegistry) -> Result<Server, String> {
        let http = tiny_http::Server::http(addr).map_err(|e| format!("listen on {addr}: {e}"))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("{addr} is not an IP address"))?;
        let http = Arc::new(http);
        let thread = {
            let http = http.clone();
            thread::spawn(move || {
                // Ends when `stop` unblocks the server.
                for request in http.incoming_requests() {
                    let path = request.url().split('?').next().unwrap_or("");
                    let get = *request.method() == tiny_http::Method::Get;
                    let response = if get && path == "/metrics" {
                        let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                            .expect("a valid header");
                        tiny_http::Response::from_string(queues.encode()).with_header(header)
                    } else {
                        tiny_http::Response::from_string("not found\n").with_status_code(404)
                    };
                    // A client that hung up is no concern of the server's.
                    let _ = request.respond(response);
                }
            })
        };
        Ok(Server {
            http,
            addr,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server's thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.http.unblock();
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The shape of a run. Rates are values per second.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// How long the producer offers values.
    pub duration: Duration,
    /// The offered rate outside the spike.
    pub base_rate: f64,
    /// The offered rate during the spike is `base_rate * spike_factor`.
    pub spike_factor: f64,
    /// When the spike starts, and how long it lasts.
    pub spike_from: Duration,
    pub spike_for: Duration,
    /// The most values the stage, and the consumer, handle a second.
    pub stage_rate: f64,
    pub consumer_rate: f64,
    /// The capacity of each queue.
    pub capacity: usize,
    /// How often the queues are sampled.
    pub sample_every: Duration,
}

impl Load {
    /// The example's load over `duration`: 1000 values/s, a 10x spike from 30% to 50% of the
    /// run, a stage good for 6000/s and a consumer good for 3000/s, queues of 512.
    pub fn over(duration: Duration) -> Load {
        Load {
            duration,
            base_rate: 1000.0,
            spike_factor: 10.0,
            spike_from: duration.mul_f64(0.3),
            spike_for: duration.mul_f64(0.2),
            stage_rate: 6000.0,
            consumer_rate: 3000.0,
            capacity: 512,
            sample_every: Duration::from_millis(100),
        }
    }

    /// The offered rate at `t` seconds into the run.
    pub fn rate_at(&self, t: f64) -> f64 {
        let (from, to) = (
            self.spike_from.as_secs_f64(),
            (self.spike_from + self.spike_for).as_secs_f64(),
        );
        if (from..to).contains(&t) {
            self.base_rate * self.spike_factor
        } else {
            self.base_rate
        }
    }

    /// The values offered in the first `t` seconds (the integral of `rate_at`).
    pub fn offered_by(&self, t: f64) -> u64 {
        let t = t.clamp(0.0, self.duration.as_secs_f64());
        let from = self.spike_from.as_secs_f64();
        let spike = (t - from).clamp(0.0, self.spike_for.as_secs_f64());
        (self.base_rate * (t - spike) + self.base_rate * self.spike_factor * spike) as u64
    }
}

/// Holds a thread to a rate: each value costs `1 / rate` seconds of its time. Idle time is
/// not saved up for later, as for a server that cannot work ahead.
struct Pace {
    cost: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate: f64) -> Pace {
        Pace {
            cost: Duration::from_secs_f64(1.0 / rate),
            next: Instant::now(),
        }
    }

    /// Spends one value's cost: sleeps once the thread is 2 ms ahead of its rate (sleeps
    /// shorter than that are too coarse to pace by).
    fn spend(&mut self) {
        let now = Instant::now();
        if self.next + Duration::from_millis(1) < now {
            self.next = now; // was idle
        }
        self.next += self.cost;
        if self.next > now + Duration::from_millis(2) {
            thread::sleep(self.next - now);
        }
    }
}

/// Both queues' counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the start.
    pub at: f64,
    /// Values offered by then (by the load's schedule; the producer may lag behind it).
    pub offered: u64,
    pub ingest: Metrics,
    pub deliver: Metrics,
}

/// What a whole run did.
#[derive(Debug, Clone)]
pub struct Run {
    pub samples: Vec<Sample>,
    /// Values the consumer handled.
    pub consumed: u64,
    /// Both queues' counters once every thread is done.
    pub ingest: Metrics,
    pub deliver: Metrics,
}

/// A pipeline running in the background.
#[derive(Debug)]
pub struct Pipeline {
    threads: Vec<JoinHandle<()>>,
    consumer: JoinHandle<u64>,
    sampler: JoinHandle<Vec<Sample>>,
    ingest: pushpull::Closer,
    deliver: pushpull::Closer,
}

/// Starts the pipeline under `load`, with its two queues registered in `queues` as
/// `"ingest"` and `"deliver"`.
pub fn start(load: &Load, queues: &QueueRegistry) -> Pipeline {
    let load = *load;
    let (ingest_tx, ingest_rx) = Builder::new(load.capacity)
        .policy(Policy::Block)
        .mpmc::<u64>();
    let (mut deliver_tx, mut deliver_rx) = Builder::new(load.capacity)
        .policy(Policy::DropOldest)
        .spsc::<(u64, Instant)>();
    let (ingest, deliver) = (ingest_tx.closer(), deliver_tx.closer());
    queues.register("ingest", ingest.clone());
    queues.register("deliver", deliver.clone());
    let started = Instant::now();

    // Sends value `n` once the schedule has offered `n + 1`; behind schedule (blocked by a
    // full queue), it sends the backlog as fast as the queue takes it.
    let producer = thread::spawn(move || {
        let mut n = 0;
        loop {
            let t = started.elapsed().as_secs_f64();
            if t >= load.duration.as_secs_f64() {
                break;
            }
            while n < load.offered_by(t) {
                if ingest_tx.send(n).is_err() {
                    return;
                }
                n += 1;
            }
            thread::sleep(Duration::from_millis(1));
        }
        // Dropping `ingest_tx` closes "ingest": the stage drains it and stops.
    });
    let stage = thread::spawn(move || {
        let mut pace = Pace::new(load.stage_rate);
        for n in ingest_rx.iter() {
            pace.spend();
            // Under DropOldest a send on a full queue evicts (handed back here, and
            // counted); it fails only if the consumer is gone.
            if deliver_tx.send((n, Instant::now())).is_err() {
                break;
            }
        }
    });
    let consumer = thread::spawn(move || {
        let mut pace = Pace::new(load.consumer_rate);
        let mut consumed = 0;
        for _value in deliver_rx.iter() {
            pace.spend();
            consumed += 1;
        }
        consumed
    });
    let sampler = {
        let (ingest, deliver) = (ingest.clone(), deliver.clone());
        thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = started;
            loop {
                let at = started.elapsed().as_secs_f64();
                let sample = Sample {
                    at,
                    offered: load.offered_by(at),
                    ingest: ingest.metrics(),
                    deliver: deliver.metrics(),
                };
                samples.push(sample);
                // Done when both queues are closed and drained: every thread has finished
                // with them.
                if deliver.is_closed() && deliver.is_empty() && ingest.is_closed() {
                    return samples;
                }
                next += load.sample_every;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };
    Pipeline {
        threads: vec![producer, stage],
        consumer,
        sampler,
        ingest,
        deliver,
    }
}

impl Pipeline {
    /// Whether every thread of the pipeline is done.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
            && self.consumer.is_finished()
            && self.sampler.is_finished()
    }

    /// Waits for the run to end.
    pub fn join(self) -> Run {
        for t in self.threads {
            t.join().expect("a pipeline thread panicked");
        }
        let consumed = self.consumer.join().expect("the consumer panicked");
        let samples = self.sampler.join().expect("the sampler panicked");
        Run {
            samples,
            consumed,
            ingest: self.ingest.metrics(),
            deliver: self.deliver.metrics(),
        }
    }
}

/// A sample's rates against the one before it: (offered, accepted by "ingest", received
/// from "deliver"), in values per second.
pub fn rates(before: &Sample, s: &Sample) -> (f64, f64, f64) {
    let dt = (s.at - before.at).max(1e-9);
    let per_s = |a: u64, b: u64| b.wrapping_sub(a) as f64 / dt;
    (
        per_s(before.offered, s.offered),
        per_s(before.ingest.sent, s.ingest.sent),
        per_s(before.deliver.received, s.deliver.received),
    )
}

/// One line of a graph: its legend and its points.
type Line = (&'static str, plotters::style::RGBColor, Vec<(f64, f64)>);

/// Draws one panel of the graph: `lines` over `0..end` seconds, from 0 to `top`.
fn panel<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    end: f64,
    top: f64,
    lines: Vec<Line>,
    legend_at: plotters::prelude::SeriesLabelPosition,
) -> Result<(), plotters::prelude::DrawingAreaErrorKind<DB::ErrorType>> {
    use plotters::prelude::*;

    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (label, color, points) in lines {
        let style = color.stroke_width(2);
        let points = points.into_iter().map(|(t, v)| (t, v.min(top)));
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// Draws the run as an SVG: throughput, queue depths, and the overload counters, over time.
///
/// Plotters' SVG backend writes text as SVG `<text>` elements, which the viewer renders with
/// its own fonts: no font library is needed here (plotters' `ttf` feature is off).
pub fn plot(run: &Run, load: &Load, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;

    let err = |e: DrawingAreaErrorKind<std::io::Error>| format!("plot {}: {e}", path.display());
    let s = &run.samples;
    let end = s.last().map_or(1.0, |s| s.at).max(1e-3);
    let (blue, orange, green) = (
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
    );
    let over_time = |f: &dyn Fn(&Sample) -> f64| s.iter().map(|x| (x.at, f(x))).collect();
    let rate = |f: &dyn Fn((f64, f64, f64)) -> f64| {
        s.windows(2)
            .map(|w| (w[1].at, f(rates(&w[0], &w[1]))))
            .collect()
    };
    let lost = |m: &Metrics| (m.dropped_newest + m.evicted_oldest + m.rejected) as f64;
    let most = s
        .iter()
        .map(|x| lost(&x.deliver).max(x.ingest.send_waits as f64))
        .fold(1.0, f64::max);

    let root = SVGBackend::new(path, (960, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    panel(
        &panels[0],
        "throughput (values/s)",
        end,
        load.base_rate * load.spike_factor * 1.1,
        vec![
            ("offered", blue, rate(&|r| r.0)),
            ("accepted by ingest", orange, rate(&|r| r.1)),
            ("received from deliver", green, rate(&|r| r.2)),
        ],
        SeriesLabelPosition::UpperRight,
    )
    .map_err(err)?;
    panel(
        &panels[1],
        "queue depth (len)",
        end,
        load.capacity as f64 * 1.1,
        vec![
            (
                "ingest (Block)",
                orange,
                over_time(&|x| x.ingest.len as f64),
            ),
            (
                "deliver (DropOldest)",
                green,
                over_time(&|x| x.deliver.len as f64),
            ),
        ],
        SeriesLabelPosition::UpperRight,
    )
    .map_err(err)?;
    panel(
        &panels[2],
        "overload counters (cumulative, as scraped)",
        end,
        most * 1.1,
        vec![
            (
                "ingest send_waits",
                orange,
                over_time(&|x| x.ingest.send_waits as f64),
            ),
            (
                "deliver dropped + evicted + rejected",
                green,
                over_time(&|x| lost(&x.deliver)),
            ),
        ],
        SeriesLabelPosition::UpperLeft,
    )
    .map_err(err)?;
    root.present().map_err(err)
}

/// `GET path` from `addr` over HTTP/1.1: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let io = |e: std::io::Error| format!("GET {path}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no end of headers"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: bad status line"))?;
    Ok((status, body.to_string()))
}

/// The example's command line: `[--addr HOST:PORT] [--duration SECS] [--plot PATH]`.
pub fn cli(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    let (mut addr, mut secs, mut plot_to) = ("127.0.0.1:9898".to_string(), 10.0, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?,
            "--duration" => {
                secs = value()?
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or("--duration: a number of seconds above 0")?
            }
            "--plot" => plot_to = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {arg}; usage: metrics_server [--addr HOST:PORT] \
                     [--duration SECS] [--plot PATH]"
                ))
            }
        }
    }

    let queues = QueueRegistry::new();
    let server = Server::start(&addr, queues.clone())?;
    let load = Load::over(Duration::from_secs_f64(secs));
    println!(
        "serving http://{}/metrics for {secs} s: {} values/s offered, {}x from {:.1} s to {:.1} s; \
         the stage handles {}/s, the consumer {}/s; queues of {}",
        server.addr(),
        load.base_rate,
        load.spike_factor,
        load.spike_from.as_secs_f64(),
        (load.spike_from + load.spike_for).as_secs_f64(),
        load.stage_rate,
        load.consumer_rate,
        load.capacity
    );
    let run = start(&load, &queues).join();

    println!(
        "\n{:>5} {:>8} {:>8} {:>8} {:>7} {:>7} {:>10} {:>8}",
        "t (s)", "offered", "accepted", "received", "ingest", "deliver", "send_waits", "evicted"
    );
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>7} {:>7} {:>10} {:>8}",
        "", "/s", "/s", "/s", "len", "len", "(ingest)", "(deliver)"
    );
    // One row per half second: rates over the half second before it.
    let every = (0.5 / load.sample_every.as_secs_f64()).round().max(1.0) as usize;
    let s = &run.samples;
    for i in (every..s.len()).step_by(every) {
        let (offered, accepted, received) = rates(&s[i - every], &s[i]);
        println!(
            "{:>5.1} {:>8.0} {:>8.0} {:>8.0} {:>7} {:>7} {:>10} {:>8}",
            s[i].at,
            offered,
            accepted,
            received,
            s[i].ingest.len,
            s[i].deliver.len,
            s[i].ingest.send_waits,
            s[i].deliver.evicted_oldest
        );
    }
    println!(
        "\nthe consumer handled {} values; ingest: {}; deliver: {}",
        run.consumed, run.ingest, run.deliver
    );

    // The last scrape, over HTTP like Prometheus', without the HELP and TYPE lines.
    let (status, body) = http_get(server.addr(), "/metrics")?;
    println!("\nGET /metrics after the run: {status}");
    for line in body.lines().filter(|l| !l.starts_with("# ")) {
        println!("  {line}");
    }
    server.stop();

    if let Some(path) = plot_to {
        plot(&run, &load, Path::new(&path))?;
        println!("\nwrote {path}");
    }
    Ok(())
}

fn main() {
    if let Err(e) = cli(std::env::args().skip(1)) {
        eprintln!("metrics_server: {e}");
        std::process::exit(2);
    }
}
