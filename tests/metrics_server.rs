//! Live metrics (feature `metrics`): `pushpull::prometheus::QueueRegistry` and the example
//! that serves it over HTTP while a pipeline runs (examples/metrics_server.rs).
//!
//! The text is parsed here, by a parser of its own, and compared with `metrics()`; the HTTP
//! requests are written by hand on a `TcpStream`. No assertion depends on timing: scrapes
//! made while the pipeline runs are checked against each other (counters never fall), and
//! the numbers are compared with `metrics()` once the pipeline has stopped.
#![cfg(feature = "metrics")]

#[path = "../examples/metrics_server.rs"]
#[allow(dead_code)]
mod example;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pushpull::prometheus::{QueueRegistry, CONTENT_TYPE};
use pushpull::{Builder, Metrics, Policy};

/// Turns a hang into a failure.
const GENEROUS: Duration = Duration::from_secs(60);

/// A sample name and the field of `Metrics` it reports.
type Family = (&'static str, fn(&Metrics) -> u64);

/// The counter families, as sample names, and the field each one reports.
const COUNTERS: [Family; 11] = [
    ("pushpull_sent_total", |m| m.sent),
    ("pushpull_received_total", |m| m.received),
    ("pushpull_dropped_newest_total", |m| m.dropped_newest),
    ("pushpull_evicted_oldest_total", |m| m.evicted_oldest),
    ("pushpull_rejected_total", |m| m.rejected),
    ("pushpull_discarded_total", |m| m.discarded),
    ("pushpull_send_waits_total", |m| m.send_waits),
    ("pushpull_credit_waits_total", |m| m.credit_waits),
    ("pushpull_credits_granted_total", |m| m.credits_granted),
    ("pushpull_batches_sent_total", |m| m.batches_sent),
    ("pushpull_batches_received_total", |m| m.batches_received),
];

/// The gauge families and their fields (`pushpull_closed` is checked apart).
const GAUGES: [Family; 4] = [
    ("pushpull_len", |m| m.len as u64),
    ("pushpull_capacity", |m| m.capacity as u64),
    ("pushpull_high_water", |m| m.high_water as u64),
    ("pushpull_credits_available", |m| m.credits_available),
];

/// A parsed exposition: each sample's value by (sample name, queue label).
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<(String, String), u64>,
    /// Each family's declared type, by family name.
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn get(&self, sample: &str, queue: &str) -> u64 {
        *self
            .samples
            .get(&(sample.to_string(), queue.to_string()))
            .unwrap_or_else(|| panic!("no sample {sample}{{queue={queue:?}}} in {self:?}"))
    }

    fn queues(&self) -> std::collections::BTreeSet<String> {
        self.samples.keys().map(|(_, q)| q.clone()).collect()
    }
}

/// Parses the OpenMetrics text that the registry writes: `# HELP`, `# TYPE`, samples
/// `name{queue="..."} value`, and `# EOF` last. Panics on anything else.
fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    let body = text
        .strip_suffix("# EOF\n")
        .unwrap_or_else(|| panic!("no # EOF at the end: {text:?}"));
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (_name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            scrape.types.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (name, rest) = line.split_once("{queue=\"").expect("a queue label");
        let (queue, value) = unescape_label(rest);
        let value = value.strip_prefix("} ").expect("} value");
        let value: u64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let family = name.strip_suffix("_total").unwrap_or(name);
        let kind = scrape
            .types
            .get(family)
            .unwrap_or_else(|| panic!("{name} before its TYPE line"));
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "counter samples, and only they, end in _total: {line}"
        );
        let fresh = scrape
            .samples
            .insert((name.to_string(), queue), value)
            .is_none();
        assert!(fresh, "a sample twice: {line}");
    }
    scrape
}

/// Reads an escaped label value up to its closing quote: the value and the rest of the line.
fn unescape_label(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &s[i + 1..]),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                other => panic!("bad escape {other:?} in {s:?}"),
            },
            c => value.push(c),
        }
    }
    panic!("unterminated label value {s:?}")
}

/// Every sample of `queue` equals `m` (and `closed`).
fn assert_reports(scrape: &Scrape, queue: &str, m: &Metrics, closed: bool) {
    for (name, field) in COUNTERS.iter().chain(&GAUGES) {
        assert_eq!(
            scrape.get(name, queue),
            field(m),
            "{name} of {queue:?}: {m:?}"
        );
    }
    assert_eq!(scrape.get("pushpull_closed", queue), u64::from(closed));
}

/// Counters in `later` are at least those in `earlier`, for every queue in both.
fn assert_no_counter_fell(earlier: &Scrape, later: &Scrape) {
    for ((name, queue), &before) in &earlier.samples {
        if !name.ends_with("_total") {
            continue;
        }
        if let Some(&after) = later.samples.get(&(name.clone(), queue.clone())) {
            assert!(
                after >= before,
                "{name}{{queue={queue:?}}} fell from {before} to {after}"
            );
        }
    }
}

/// A plain HTTP/1.1 request: the status, the headers (names in lower case) and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").expect("end of headers");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    assert!(status.starts_with("HTTP/1.1 "), "{status}");
    let code = status[9..12].parse().unwrap();
    let headers: BTreeMap<String, String> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("a header");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    assert!(
        !headers.contains_key("transfer-encoding"),
        "expected a plain body: {headers:?}"
    );
    let length: usize = headers["content-length"].parse().unwrap();
    assert_eq!(length, body.len(), "the whole body arrived");
    (code, headers, body.to_string())
}

/// `GET /metrics`, checked and parsed.
fn scrape(addr: SocketAddr) -> Scrape {
    let (code, headers, body) = request(addr, "GET", "/metrics");
    assert_eq!(code, 200, "{body}");
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    parse(&body)
}

/// Queues of four item types and both flavors, each under another policy and with other
/// counters moving, render exactly what their `metrics()` say.
#[test]
fn a_registry_of_several_queues_renders_their_metrics() {
    let queues = QueueRegistry::new();

    // DropNewest, MPMC of u32: 3 dropped, a batch sent, a batch received.
    let (tx, rx) = Builder::new(2).policy(Policy::DropNewest).mpmc::<u32>();
    queues.register("drop newest", tx.closer());
    let mut batch = vec![1, 2];
    let _ = tx.send_batch(&mut batch);
    for i in 0..3 {
        let _ = tx.send(i).unwrap();
    }
    let mut got = Vec::new();
    assert_eq!(rx.try_recv_batch(&mut got, 1), Ok(1));

    // Reject, SPSC of String: 2 rejected, then closed.
    let (mut log_tx, log_rx) = Builder::new(1).policy(Policy::Reject).spsc::<String>();
    queues.register("reject \"log\"", log_tx.closer());
    for i in 0..3 {
        let _ = log_tx.send(format!("line {i}"));
    }
    assert!(log_rx.close());

    // DropOldest with a credit gate, MPMC of Vec<u8>: evictions, a grant.
    let (bytes_tx, bytes_rx) = Builder::new(2)
        .policy(Policy::DropOldest)
        .credits(3)
        .mpmc::<Vec<u8>>();
    queues.register("drop\\oldest\nwith credit", bytes_tx.closer());
    for i in 0..5 {
        let _ = bytes_tx.send_timeout(vec![i], Duration::from_millis(1));
    }
    bytes_rx.grant(2);
    assert!(bytes_rx.recv().is_ok());

    // Block, SPSC of u64: a send that waited for room, then an abort (discarded).
    let (mut block_tx, block_rx) = Builder::new(2).spsc::<u64>();
    queues.register("block", block_tx.closer());
    for i in 0..3 {
        let _ = block_tx.send_timeout(i, Duration::from_millis(1));
    }
    drop(block_rx); // every receiver gone: what is queued is discarded

    let text = queues.encode();
    let scrape = parse(&text);
    let names = [
        "block",
        "drop newest",
        "drop\\oldest\nwith credit",
        "reject \"log\"",
    ];
    assert_eq!(
        scrape.queues(),
        names.iter().map(|s| s.to_string()).collect()
    );
    for name in names {
        let q = queues.get(name).unwrap();
        assert_reports(&scrape, name, &q.metrics(), q.is_closed());
    }

    // The counters that moved, as this test made them move, so that the comparison above
    // compared something.
    let m = |name: &str| queues.get(name).unwrap().metrics();
    assert_eq!(m("drop newest").dropped_newest, 3);
    assert_eq!(m("drop newest").batches_sent, 1);
    assert_eq!(m("drop newest").batches_received, 1);
    assert_eq!(m("reject \"log\"").rejected, 2);
    assert_eq!(scrape.get("pushpull_closed", "reject \"log\""), 1);
    let credit = m("drop\\oldest\nwith credit");
    assert!(
        credit.evicted_oldest > 0 && credit.credits_granted == 5,
        "{credit:?}"
    );
    assert_eq!(m("block").send_waits, 1);
    assert_eq!(m("block").discarded, 2);

    // Every family is declared once, with its type.
    for (name, _) in &COUNTERS {
        let family = name.strip_suffix("_total").unwrap();
        assert_eq!(scrape.types[family], "counter");
    }
    for (name, _) in &GAUGES {
        assert_eq!(scrape.types[*name], "gauge");
    }
    assert_eq!(scrape.types["pushpull_closed"], "gauge");
    assert_eq!(scrape.types.len(), COUNTERS.len() + GAUGES.len() + 1);
}

/// A queue is rendered from `register` until `remove` (or `retain` drops it), and stays
/// rendered, closed, after its ends are gone; a name registered again replaces the queue.
#[test]
fn queues_come_and_go_by_name() {
    let queues = QueueRegistry::new();
    let (a_tx, a_rx) = pushpull::mpmc::<u8>(4);
    let (mut b_tx, b_rx) = pushpull::spsc::<char>(4);
    assert!(queues.register("a", a_tx.closer()).is_none());
    assert!(queues.register("b", b_tx.closer()).is_none());
    let _ = a_tx.send(1).unwrap();
    let _ = b_tx.send('x').unwrap();
    assert_eq!(queues.len(), 2);

    // Dropped ends: still rendered, closed, final counters.
    drop((a_tx, a_rx));
    let scrape = parse(&queues.encode());
    assert_eq!(scrape.get("pushpull_closed", "a"), 1);
    assert_eq!(scrape.get("pushpull_sent_total", "a"), 1);
    assert_eq!(scrape.get("pushpull_discarded_total", "a"), 1);
    assert_eq!(scrape.get("pushpull_closed", "b"), 0);

    // `retain` forgets the closed one.
    queues.retain(|_, q| !q.is_closed());
    assert_eq!(parse(&queues.encode()).queues(), ["b".to_string()].into());

    // Registering "b" again replaces it, and hands the old one back.
    let (c_tx, _c_rx) = pushpull::mpmc::<String>(8);
    let old = queues.register("b", c_tx.closer()).expect("the old b");
    assert!(old.same_queue(&b_rx.closer()));
    let scrape = parse(&queues.encode());
    assert_eq!(scrape.get("pushpull_capacity", "b"), 8);
    assert_eq!(scrape.get("pushpull_sent_total", "b"), 0);

    assert!(queues.remove("b").unwrap().same_queue(&c_tx.closer()));
    assert!(queues.remove("b").is_none());
    assert!(queues.is_empty());
    assert_eq!(queues.encode(), "# EOF\n");
}

/// The registry inside an application's own `prometheus_client` registry, under its
/// prefix, beside its own metrics.
#[test]
fn queues_render_inside_an_application_registry() {
    use pushpull::prometheus::prometheus_client::encoding::text::encode;
    use pushpull::prometheus::prometheus_client::metrics::gauge::Gauge;
    use pushpull::prometheus::prometheus_client::registry::Registry;

    let mut registry = Registry::default();
    let workers: Gauge = Gauge::default();
    registry.register("workers", "Worker threads", workers.clone());
    let queues = QueueRegistry::new();
    queues.register_into(registry.sub_registry_with_prefix("app"));
    let (tx, _rx) = pushpull::mpmc::<u8>(4);
    queues.register("jobs", tx.closer());
    let _ = tx.send(1).unwrap();
    workers.set(3);

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(text.contains("\nworkers 3\n"), "{text}");
    assert!(
        text.contains("\napp_pushpull_sent_total{queue=\"jobs\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\napp_pushpull_len{queue=\"jobs\"} 1\n"),
        "{text}"
    );
}

/// Scrapes racing two evicting senders and a receiver: no counter ever falls, and once the
/// queue is quiescent the scrape equals `metrics()`. (Raw snapshots do fall here: the
/// registry holds its counters up; see the module docs.)
#[test]
#[cfg_attr(miri, ignore = "threads spinning on a queue: too slow under Miri")]
fn counters_never_fall_while_a_queue_evicts() {
    let queues = QueueRegistry::new();
    let (tx, rx) = Builder::new(4).policy(Policy::DropOldest).mpmc::<u64>();
    queues.register("evicting", tx.closer());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (tx, stop) = (tx.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = tx.send(i);
                i += 1;
            }
        }));
    }
    {
        let stop = stop.clone();
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = rx.try_recv();
            }
            // Drain, so that `received` passes any value a race held it at.
            while rx.try_recv().is_ok() {}
        }));
    }
    drop(tx);

    let deadline = Instant::now() + GENEROUS;
    let mut last = parse(&queues.encode());
    for _ in 0..2000 {
        let now = parse(&queues.encode());
        assert_no_counter_fell(&last, &now);
        last = now;
        assert!(Instant::now() < deadline, "scrapes too slow");
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let now = parse(&queues.encode());
    assert_no_counter_fell(&last, &now);
    let q = queues.get("evicting").unwrap();
    let mut m = q.metrics();
    assert!(m.evicted_oldest > 0, "the senders evicted: {m:?}");
    // A live snapshot may count an eviction in progress as a receive, at most one per
    // evicting sender (`Metrics::received`), and a counter that must never fall keeps such
    // an excess: the final `received` is the truth plus at most two.
    let scraped = now.get("pushpull_received_total", "evicting");
    assert!(
        (m.received..=m.received + 2).contains(&scraped),
        "received {scraped} scraped against {} in metrics(): {m:?}",
        m.received
    );
    m.received = scraped;
    assert_reports(&now, "evicting", &m, q.is_closed());
}

/// Starts the example's server on a free port with `queues`.
fn server(queues: &QueueRegistry) -> example::Server {
    example::Server::start("127.0.0.1:0", queues.clone()).expect("a server on a free port")
}

/// The example's pipeline, shortened (the same shape: a spike from 30% to 50% of the run).
fn short_load() -> example::Load {
    example::Load::over(Duration::from_millis(1500))
}

/// While the example's pipeline runs, `GET /metrics` over HTTP serves parseable text whose
/// counters never fall from one scrape to the next; after it stops, the scrape equals both
/// queues' `metrics()`.
#[test]
#[cfg_attr(miri, ignore = "sockets and threads")]
fn scrapes_over_http_while_the_pipeline_runs() {
    let queues = QueueRegistry::new();
    let server = server(&queues);
    let load = short_load();
    let pipeline = example::start(&load, &queues);

    let deadline = Instant::now() + GENEROUS;
    let mut scrapes = vec![scrape(server.addr())];
    while scrapes.len() < 3 || !pipeline.is_finished() {
        assert!(Instant::now() < deadline, "the pipeline did not end");
        thread::sleep(Duration::from_millis(50));
        let next = scrape(server.addr());
        assert_no_counter_fell(scrapes.last().unwrap(), &next);
        assert_eq!(
            next.queues(),
            ["deliver".to_string(), "ingest".to_string()].into()
        );
        scrapes.push(next);
    }
    let run = pipeline.join();

    let last = scrape(server.addr());
    assert_no_counter_fell(scrapes.last().unwrap(), &last);
    for (name, at_end) in [("ingest", &run.ingest), ("deliver", &run.deliver)] {
        let q = queues.get(name).unwrap();
        assert!(q.is_closed(), "the pipeline closed {name}");
        assert_eq!(&q.metrics(), at_end, "{name} is quiescent");
        assert_reports(&last, name, at_end, true);
    }
    // What the pipeline says it did agrees: everything the producer sent reached the
    // stage, and the consumer got what "deliver" did not evict.
    assert_eq!(run.ingest.received, run.ingest.sent);
    assert_eq!(run.deliver.sent, run.ingest.received);
    assert_eq!(run.deliver.received, run.consumed);
    assert_eq!(
        run.deliver.received + run.deliver.evicted_oldest,
        run.deliver.sent
    );
    server.stop();
}

/// Any other path, or another method, is a 404.
#[test]
#[cfg_attr(miri, ignore = "sockets")]
fn other_requests_are_not_found() {
    let queues = QueueRegistry::new();
    let (tx, _rx) = pushpull::mpmc::<u8>(1);
    queues.register("q", tx.closer());
    let server = server(&queues);
    for (method, path) in [("GET", "/"), ("GET", "/metric"), ("POST", "/metrics")] {
        let (code, _, _) = request(server.addr(), method, path);
        assert_eq!(code, 404, "{method} {path}");
    }
    // A query string is ignored.
    let (code, _, body) = request(server.addr(), "GET", "/metrics?name=q");
    assert_eq!(code, 200);
    assert_eq!(parse(&body).get("pushpull_capacity", "q"), 1);
}

/// `--plot PATH` writes an SVG graph with its lines.
#[test]
#[cfg_attr(miri, ignore = "sockets, threads and files")]
fn plot_writes_an_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spike.svg");
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--duration",
        "1",
        "--plot",
        path.to_str().unwrap(),
    ];
    example::cli(args.iter().map(|s| s.to_string())).expect("a run");
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // Three panels of three, two and two lines, each a polyline through the samples (the
    // axes, ticks and legend marks are polylines of two points).
    let lines = svg
        .split("<polyline")
        .skip(1)
        .filter(|element| {
            let points = element.split("points=\"").nth(1).expect("points");
            let points = &points[..points.find('"').unwrap()];
            points.split_whitespace().count() >= 3
        })
        .count();
    assert_eq!(lines, 7, "{svg}");
    for label in ["offered", "ingest send_waits", "deliver (DropOldest)"] {
        assert!(svg.contains(label), "no {label:?} in the graph");
    }
}

/// Bad arguments are refused with a message, before anything runs.
#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["--duration"][..],
        &["--duration", "0"],
        &["--duration", "soon"],
        &["--verbose"],
    ] {
        let e = example::cli(args.iter().map(|s| s.to_string())).unwrap_err();
        assert!(!e.is_empty());
    }
}
