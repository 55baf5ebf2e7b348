//! Values per second through the bridges, against `redis-benchmark`'s raw `XADD` rate on
//! the same machine and the same server.
//!
//! The program starts its own `redis-server` on a free port, with nothing written to disk
//! ([`Durability::None`]: no append-only file, no snapshots), so the comparison is about the
//! protocol path (scripts, round trips, encoding), not about fsync. Then, over R rounds,
//! interleaved so that a change in the machine's load hits every measurement alike, it
//! measures:
//!
//! - **bridge out**: one thread sends N values (a `Vec<u8>` of `--payload` bytes, encoded
//!   with the default [`Postcard`] codec) into a local `pushpull` MPMC queue of 4096;
//!   [`bridge::to_stream`] drains it into a fresh stream in batches of up to B values (one
//!   script call per batch). The stream's capacity is at least N, so no append waits for
//!   room. Timed from the first local send to the bridge's return.
//! - **end to end**: the same, plus [`bridge::from_stream`] feeding a second local queue
//!   that a consumer thread drains; the stream holds at most 10 000 unacknowledged values
//!   ([`Policy::Block`]), the receiver takes B entries per read. Timed from the first local
//!   send until the consumer has all N values (checked in order, each once).
//! - **XADD, 50 clients**: `redis-benchmark -c 50 -n N -q XADD <key> * v <payload>` on the
//!   same server, the payload as long as the bridge's encoded field, no pipelining.
//! - **XADD, 50 clients, -P B**: the same with B commands pipelined per client.
//!
//! Keys are deleted (`FLUSHALL`) before each measurement. Each round prints a row; then
//! come the median of each column over the rounds, and the ratios of the bridges to the
//! raw `XADD` rates. If `redis-benchmark` is not installed, the `XADD` columns are skipped.
//!
//! Run it with (it needs `redis-server` on `PATH`; `redis-benchmark` too for the
//! comparison):
//!
//! ```text
//! cargo run --release -p pushpull-redis --example bridge_throughput -- [--values N] [--rounds R] [--batch B] [--payload BYTES]
//! ```
//!
//! (defaults: 200 000 values, 3 rounds, batches of 256, 16-byte payloads).
//!
//! The numbers count only from a quiet machine: the producer, the bridges, the consumer,
//! `redis-server` and `redis-benchmark` all share its CPUs, so any other work running at
//! the same time lowers every figure, and not by the same amount. The program prints the
//! load average at its start and end, so a reader can tell whether the machine was quiet.
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::Instant;

use pushpull::spill::{Codec, Postcard};
use pushpull::Policy;
use pushpull_redis::local::{Durability, RedisServer};
use pushpull_redis::{bridge, Builder};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// The local queues' capacity.
const LOCAL_CAPACITY: usize = 4096;
/// The stream's capacity in the end-to-end measurement.
const E2E_CAPACITY: u64 = 10_000;
/// Values sent through the bridge once before the rounds (script loading, allocations).
const WARM_UP: usize = 10_000;

const USAGE: &str =
    "usage: bridge_throughput [--values N] [--rounds R] [--batch B] [--payload BYTES]
  --values N       values per measurement (default 200000)
  --rounds R       interleaved rounds (default 3)
  --batch B        bridge batch, receiver batch and redis-benchmark -P (default 256)
  --payload BYTES  payload bytes per value (default 16)";

struct Args {
    values: usize,
    rounds: usize,
    batch: usize,
    payload: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        values: 200_000,
        rounds: 3,
        batch: 256,
        payload: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let slot = match name.as_str() {
            "--values" => &mut args.values,
            "--rounds" => &mut args.rounds,
            "--batch" => &mut args.batch,
            "--payload" => &mut args.payload,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs a number\n{USAGE}"))?;
        *slot = value
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{name}: not a number: {value:?}\n{USAGE}"))?;
    }
    if args.values == 0 || args.rounds == 0 || args.batch == 0 {
        return Err(format!(
            "--values, --rounds and --batch must be at least 1\n{USAGE}"
        ));
    }
    Ok(args)
}

/// One bridge measurement.
#[derive(Clone, Copy)]
struct Measured {
    /// Values per second.
    rate: f64,
    /// Mean values per batch of `to_stream` (a batch is one script call unless a full
    /// stream made it wait and send the rest again).
    per_append: f64,
}

/// One round's row: the two bridges, and the two `redis-benchmark` runs (requests/s).
struct Row {
    out: Measured,
    e2e: Measured,
    xadd_clients: Option<f64>,
    xadd_pipelined: Option<f64>,
}

/// Value `i`: the payload with `i` (little-endian, as many bytes as fit) at its start, so
/// that the consumer can check order.
fn value(template: &[u8], i: u64) -> Vec<u8> {
    let mut v = template.to_vec();
    let k = v.len().min(8);
    v[..k].copy_from_slice(&i.to_le_bytes()[..k]);
    v
}

/// The index `value` wrote into a payload.
fn index(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let k = v.len().min(8);
    b[..k].copy_from_slice(&v[..k]);
    u64::from_le_bytes(b)
}

/// The mask of the index bits a payload holds.
fn index_mask(payload: usize) -> u64 {
    match payload.min(8) {
        8 => u64::MAX,
        k => (1u64 << (8 * k)) - 1,
    }
}

/// Sends `n` values into the local queue `tx` from a new thread, then closes it (drops
/// it). Returns the thread, which gives back the instant of its first send.
fn produce(
    tx: pushpull::Sender<Vec<u8>>,
    template: Vec<u8>,
    n: usize,
) -> thread::JoinHandle<Result<Instant>> {
    thread::spawn(move || {
        let start = Instant::now();
        for i in 0..n as u64 {
            if tx.send(value(&template, i)).is_err() {
                return Err("the local queue closed under the producer".into());
            }
        }
        Ok(start)
    })
}

fn joined<T>(h: thread::JoinHandle<Result<T>>, what: &str) -> Result<T> {
    h.join()
        .map_err(|_| -> Error { format!("the {what} thread panicked").into() })?
}

/// (a) A local queue drained into a fresh stream by `to_stream`; the stream has room for
/// every value.
fn bridge_out(
    url: &str,
    stream: &str,
    n: usize,
    batch: usize,
    template: &[u8],
) -> Result<Measured> {
    let remote = Builder::new(url, stream)?
        .capacity(n as u64)
        .policy(Policy::Block);
    let mut out = remote.sender::<Vec<u8>>()?;
    let (tx, rx) = pushpull::Builder::new(LOCAL_CAPACITY).mpmc::<Vec<u8>>();
    let shipper = thread::spawn(move || -> Result<_> {
        let report = bridge::to_stream(&rx, &mut out, batch)?;
        Ok((report, Instant::now(), out))
    });
    let producer = produce(tx, template.to_vec(), n);
    // The shipper first: if it fails, its end of the local queue closes and the producer
    // stops too.
    let (report, end, mut out) = joined(shipper, "to_stream")?;
    let start = joined(producer, "producer")?;
    let secs = (end - start).as_secs_f64();
    if report.values != n as u64 || report.lost != 0 {
        return Err(format!("bridge out: {report:?}, expected {n} values and none lost").into());
    }
    let m = out.metrics()?;
    if m.sent != n as u64 {
        return Err(format!(
            "bridge out: the stream counts {} sent, expected {n}",
            m.sent
        )
        .into());
    }
    Ok(Measured {
        rate: n as f64 / secs,
        per_append: report.values as f64 / report.batches.max(1) as f64,
    })
}

/// (b) A local queue drained into a stream by `to_stream`, fed from it into a second local
/// queue by `from_stream`, read by a consumer.
fn end_to_end(
    url: &str,
    stream: &str,
    n: usize,
    batch: usize,
    template: &[u8],
) -> Result<Measured> {
    let remote = Builder::new(url, stream)?
        .capacity(E2E_CAPACITY)
        .policy(Policy::Block)
        .batch(batch);
    let mut out = remote.sender::<Vec<u8>>()?;
    let mut input = remote.receiver::<Vec<u8>>("bridge")?;
    let (tx, rx) = pushpull::Builder::new(LOCAL_CAPACITY).mpmc::<Vec<u8>>();
    let (in_tx, in_rx) = pushpull::Builder::new(LOCAL_CAPACITY).mpmc::<Vec<u8>>();
    let shipper = thread::spawn(move || -> Result<_> {
        let report = bridge::to_stream(&rx, &mut out, batch)?;
        Ok(report)
    });
    let feeder = thread::spawn(move || -> Result<_> {
        let report = bridge::from_stream(&mut input, &in_tx)?;
        Ok((report, input))
    });
    let mask = index_mask(template.len());
    let consumer = thread::spawn(move || -> Result<Instant> {
        let mut buf = Vec::with_capacity(batch);
        let mut got = 0u64;
        while got < n as u64 {
            if in_rx.recv_many(&mut buf, batch).is_err() {
                return Err(format!("the local queue closed after {got} of {n} values").into());
            }
            for v in buf.drain(..) {
                if index(&v) != got & mask {
                    return Err(format!("value {got} out of order: {}", index(&v)).into());
                }
                got += 1;
            }
        }
        let end = Instant::now();
        // Stops `from_stream` (within its 100 ms receive timeout).
        in_rx.close();
        Ok(end)
    });
    let producer = produce(tx, template.to_vec(), n);
    // The consumer first: it ends with an error if `from_stream` stops early (its queue
    // closes), and then the producer and `to_stream` may wait forever on full queues; they
    // are left to the process's exit.
    let end = match joined(consumer, "consumer") {
        Ok(end) => end,
        Err(e) if feeder.is_finished() => {
            return Err(match joined(feeder, "from_stream") {
                Err(fe) => format!("from_stream failed: {fe}").into(),
                Ok((fed, _)) => format!("from_stream stopped early ({fed:?}): {e}").into(),
            })
        }
        Err(e) => return Err(e),
    };
    let start = joined(producer, "producer")?;
    let shipped = joined(shipper, "to_stream")?;
    let (fed, mut input) = joined(feeder, "from_stream")?;
    let secs = (end - start).as_secs_f64();
    if shipped.values != n as u64 || shipped.lost != 0 || fed.lost != 0 {
        return Err(format!("end to end: out {shipped:?}, in {fed:?}, expected {n} values").into());
    }
    let m = input.metrics()?;
    if (m.sent, m.acked, m.len()) != (n as u64, n as u64, 0) {
        return Err(
            format!("end to end: stream metrics {m:?}, expected {n} sent and acked").into(),
        );
    }
    Ok(Measured {
        rate: n as f64 / secs,
        per_append: shipped.values as f64 / shipped.batches.max(1) as f64,
    })
}

/// Whether `redis-benchmark` can be run, and its version line.
fn benchmark_version() -> Option<String> {
    let out = Command::new("redis-benchmark")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Some(if text.is_empty() {
        "redis-benchmark".to_owned()
    } else {
        text
    })
}

/// The rate in `redis-benchmark -q` output: its progress lines end in `\r`, its result
/// reads `XADD ...: 123456.78 requests per second, p50=0.407 msec`.
fn parse_rps(output: &str) -> Option<f64> {
    output.rsplit(['\r', '\n']).find_map(|line| {
        let (before, _) = line.split_once("requests per second")?;
        before.split_whitespace().next_back()?.parse::<f64>().ok()
    })
}

/// (c) `redis-benchmark`'s `XADD` rate on the server at `port`, 50 clients, pipelining
/// `pipeline` commands per client if given.
fn xadd_benchmark(
    port: u16,
    key: &str,
    n: usize,
    field_len: usize,
    pipeline: Option<usize>,
) -> Result<f64> {
    let payload = "x".repeat(field_len.max(1));
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", "50", "-n", &n.to_string(), "-q"]);
    if let Some(p) = pipeline {
        cmd.args(["-P", &p.to_string()]);
    }
    cmd.args(["XADD", key, "*", "v", &payload]);
    let out = cmd.stdin(Stdio::null()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {} {}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    parse_rps(&stdout).ok_or_else(|| -> Error {
        format!("no \"requests per second\" in redis-benchmark's output: {stdout:?}").into()
    })
}

fn flush_all(con: &mut redis::Connection) -> Result<()> {
    redis::cmd("FLUSHALL").query::<()>(con)?;
    Ok(())
}

fn server_version(con: &mut redis::Connection) -> String {
    redis::cmd("INFO")
        .arg("server")
        .query::<String>(con)
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("redis_version:")
                    .map(|v| v.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn load_average() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(s) => {
            let three: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("{} (1, 5, 15 min)", three.join(" "))
        }
        Err(e) => format!("unavailable ({e})"),
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cell(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), thousands)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    })
}

fn print_header(batch: usize) {
    println!(
        "{:<8} {:>14} {:>9} {:>14} {:>9} {:>16} {:>18}",
        "round",
        "bridge out",
        "avg batch",
        "end to end",
        "avg batch",
        "XADD 50 clients",
        format!("XADD 50c -P {batch}"),
    );
    println!(
        "{:<8} {:>14} {:>9} {:>14} {:>9} {:>16} {:>18}",
        "", "values/s", "values", "values/s", "values", "requests/s", "requests/s",
    );
}

fn print_row(
    label: &str,
    out: Option<f64>,
    out_b: Option<f64>,
    e2e: Option<f64>,
    e2e_b: Option<f64>,
    c: Option<f64>,
    p: Option<f64>,
) {
    let per = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
    println!(
        "{:<8} {:>14} {:>9} {:>14} {:>9} {:>16} {:>18}",
        label,
        cell(out),
        per(out_b),
        cell(e2e),
        per(e2e_b),
        cell(c),
        cell(p),
    );
}

fn ratio(name: &str, a: Option<f64>, b: Option<f64>) {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => println!("  {name:<42} {:>6.2}", a / b),
        _ => println!("  {name:<42}    n/a"),
    }
}

fn run(args: &Args) -> Result<()> {
    let template: Vec<u8> = (0..args.payload).map(|i| b'a' + (i % 26) as u8).collect();
    let mut encoded = Vec::new();
    Codec::<Vec<u8>>::encode(&Postcard, &template, &mut encoded)?;
    let field_len = encoded.len();

    let server = RedisServer::start(Durability::None)
        .map_err(|e| -> Error { format!("cannot start redis-server: {e}").into() })?;
    let url = server.url();
    let mut con = redis::Client::open(url.as_str())?.get_connection()?;
    let bench = benchmark_version();
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());

    println!(
        "bridge_throughput: {} values of {} bytes per measurement, batches of {}, {} round(s)",
        args.values, args.payload, args.batch, args.rounds
    );
    println!(
        "server: redis-server {} on 127.0.0.1:{}, nothing written to disk (no append-only \
         file, no snapshots): this compares protocol paths, not fsync",
        server_version(&mut con),
        server.port()
    );
    println!(
        "entries: one field `v` of {field_len} bytes (a {}-byte Vec<u8>, postcard); \
         redis-benchmark writes the same field at the same length",
        args.payload
    );
    println!(
        "bridges: local queues of {LOCAL_CAPACITY}; bridge out into a stream of capacity {}; \
         end to end through a stream of capacity {E2E_CAPACITY} (Block), receiver batch {}",
        args.values, args.batch
    );
    match &bench {
        Some(v) => println!(
            "comparison: {v}, 50 clients, without and with -P {}",
            args.batch
        ),
        None => println!(
            "comparison: redis-benchmark is not installed (it comes with redis-server's \
             package, or redis-tools); skipping the XADD columns"
        ),
    }
    println!(
        "machine: {cpus} CPUs; load average at start: {}",
        load_average()
    );
    println!("(numbers count only from a quiet machine: everything here shares its CPUs)");
    println!();

    // Warm-up: loads the scripts into the server, grows the allocators.
    flush_all(&mut con)?;
    bridge_out(
        &url,
        "warm-up",
        args.values.min(WARM_UP),
        args.batch,
        &template,
    )?;
    flush_all(&mut con)?;

    print_header(args.batch);
    let mut rows = Vec::with_capacity(args.rounds);
    for r in 1..=args.rounds {
        flush_all(&mut con)?;
        let out = bridge_out(
            &url,
            &format!("out:r{r}"),
            args.values,
            args.batch,
            &template,
        )?;
        flush_all(&mut con)?;
        let e2e = end_to_end(
            &url,
            &format!("e2e:r{r}"),
            args.values,
            args.batch,
            &template,
        )?;
        let (mut xadd_clients, mut xadd_pipelined) = (None, None);
        if bench.is_some() {
            flush_all(&mut con)?;
            xadd_clients = Some(xadd_benchmark(
                server.port(),
                &format!("xadd:r{r}"),
                args.values,
                field_len,
                None,
            )?);
            flush_all(&mut con)?;
            xadd_pipelined = Some(xadd_benchmark(
                server.port(),
                &format!("xadd-p:r{r}"),
                args.values,
                field_len,
                Some(args.batch),
            )?);
        }
        flush_all(&mut con)?;
        print_row(
            &r.to_string(),
            Some(out.rate),
            Some(out.per_append),
            Some(e2e.rate),
            Some(e2e.per_append),
            xadd_clients,
            xadd_pipelined,
        );
        rows.push(Row {
            out,
            e2e,
            xadd_clients,
            xadd_pipelined,
        });
    }

    let col = |f: &dyn Fn(&Row) -> Option<f64>| median(rows.iter().filter_map(f).collect());
    let out = col(&|r| Some(r.out.rate));
    let out_b = col(&|r| Some(r.out.per_append));
    let e2e = col(&|r| Some(r.e2e.rate));
    let e2e_b = col(&|r| Some(r.e2e.per_append));
    let clients = col(&|r| r.xadd_clients);
    let pipelined = col(&|r| r.xadd_pipelined);
    print_row("median", out, out_b, e2e, e2e_b, clients, pipelined);
    println!();
    println!("ratios of the medians:");
    ratio(
        &format!("bridge out / XADD 50 clients -P {}", args.batch),
        out,
        pipelined,
    );
    ratio("bridge out / XADD 50 clients", out, clients);
    ratio(
        &format!("end to end / XADD 50 clients -P {}", args.batch),
        e2e,
        pipelined,
    );
    println!();
    println!("load average at end: {}", load_average());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            let help = std::env::args().any(|a| a == "-h" || a == "--help");
            return if help {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rate_after_the_progress_lines() {
        let out = "XADD k * v x: rps=0.0 (overall: -nan) avg_msec=-nan (overall: -nan)\r\
                   XADD k * v x: rps=60633.5 (overall: 60633.5) avg_msec=0.474\r\
                   XADD k * v x: 50761.42 requests per second, p50=0.407 msec\n";
        assert_eq!(parse_rps(out), Some(50761.42));
        assert_eq!(parse_rps("XADD k * v x: rps=1.0\r"), None);
    }

    #[test]
    fn formats_and_medians() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn values_carry_their_index() {
        let t = vec![b'a'; 16];
        assert_eq!(index(&value(&t, 123_456)), 123_456);
        let short = vec![b'a'; 2];
        assert_eq!(index(&value(&short, 70_000)), 70_000 & index_mask(2));
        assert_eq!(index_mask(0), 0);
    }
}
