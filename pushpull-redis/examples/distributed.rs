//! A producer and a pool of worker processes on one machine sharing a stream, with a worker
//! killed on purpose halfway: what it held is delivered again to the others, and the
//! program prints what was redelivered.
//!
//! Run it with (it needs `redis-server` on `PATH`; it starts its own on a free port):
//!
//! ```text
//! cargo run -p pushpull-redis --example distributed -- [--workers N] [--jobs M]
//! ```
//!
//! (defaults: 3 workers, 2000 jobs). Started like that, the program is the coordinator:
//!
//! 1. it starts a real `redis-server`, with the append-only file fsynced before every
//!    reply ([`Durability::AppendAlways`]);
//! 2. it starts N copies of itself as worker processes
//!    (`distributed worker --url URL --name w1 --stream jobs`), each a named consumer of
//!    the stream's group;
//! 3. it produces M jobs with a [`Sender`](pushpull_redis::Sender) under
//!    [`Policy::Block`] with a capacity of 200: when 200 jobs are unacknowledged, the
//!    producer waits for the workers;
//! 4. halfway through, it kills one worker with SIGKILL, as a crash would, at a moment that
//!    worker holds deliveries it has not acknowledged (the job it is processing and the
//!    rest of the batch it took from the server), and asks the server which they are;
//! 5. it waits until every job has been processed and the queue is empty (every delivery
//!    acknowledged), closes the workers' stdin, which tells them to stop, waits for them,
//!    and prints a report.
//!
//! # At least once
//!
//! A worker acknowledges a job after processing it. Until then the job is *pending*:
//! delivered to that worker and to no other. A worker that dies does not lose its pending
//! jobs: once they have been idle for the queue's `claim_idle` (1 s here, 30 s by default)
//! the next receive of any other worker claims them (`XAUTOCLAIM`) and they are delivered
//! again, with `Delivery::deliveries()` counting 2. A busy worker looks for such idle
//! deliveries each time it goes to the server for more, an idle one at least every
//! `claim_idle / 2`: they come back about `claim_idle` after the crash, at most half as
//! long again.
//!
//! A job the killed worker had processed but not yet acknowledged is processed twice. That
//! is what at-least-once delivery means: nothing is lost, but a job may be done again, so
//! real processing must be idempotent (key its effect by the job's id). The report counts
//! such duplicates; most runs have none, because the window between a worker's "done" and
//! its ack is short, but the program does not assume it.
//!
//! Workers tell the coordinator what they did on their stdout, one line per processed job
//! (`done <job id> <deliveries> <stream entry id> <thumbnail>`), written after the job's
//! "effect" and before its ack; the coordinator reads these lines in one thread per worker.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pushpull::Policy;
use pushpull_redis::local::{Durability, RedisServer};
use pushpull_redis::{Builder, SendError, StreamMetrics};
use serde::{Deserialize, Serialize};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "usage: distributed [--workers N] [--jobs M]\n       \
                     distributed worker --url URL --name NAME --stream STREAM";

/// The stream the coordinator uses, and the consumer group of the workers.
const STREAM: &str = "jobs";
const GROUP: &str = "workers";
/// At most this many jobs unacknowledged (delivered or not); the producer waits beyond.
const CAPACITY: u64 = 200;
/// How long a delivery stays with a silent consumer before another one may claim it.
const CLAIM_IDLE: Duration = Duration::from_secs(1);
/// The "work" a job takes.
const WORK: Duration = Duration::from_millis(1);
/// How long the coordinator waits for the whole run before it gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// A job: make a thumbnail of an image. Any serde type goes through the default codec.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    id: u64,
    image: String,
    width: u32,
    height: u32,
}

/// The queue, as the coordinator and every worker see it: the same settings everywhere.
fn queue(url: &str, stream: &str) -> Result<Builder> {
    Ok(Builder::new(url, stream)?
        .group(GROUP)
        .capacity(CAPACITY)
        .policy(Policy::Block)
        .claim_idle(CLAIM_IDLE)
        // When the server is gone for good (the coordinator died), fail soon.
        .reconnect_for(Duration::from_secs(5)))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match args.split_first() {
        Some((mode, rest)) if mode == "worker" => worker(rest),
        _ => coordinator(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--flag value` pairs; anything not in `known` is an error.
fn flags(args: &[String], known: &[&str]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if !known.contains(&flag.as_str()) {
            return Err(format!("unexpected argument {flag:?}\n{USAGE}").into());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        out.insert(flag.clone(), value.clone());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The worker process.

/// One consumer of the group: receive, process, report, ack, until told to stop.
fn worker(args: &[String]) -> Result<()> {
    let flags = flags(args, &["--url", "--name", "--stream"])?;
    let arg = |f: &str| {
        flags
            .get(f)
            .ok_or_else(|| format!("worker: {f} is missing"))
    };
    let (url, name, stream) = (arg("--url")?, arg("--name")?, arg("--stream")?);
    let mut rx = queue(url, stream)?.receiver::<Job>(name)?;

    // The coordinator closes our stdin when it wants us to stop (and so does its death).
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stopping.store(true, Ordering::SeqCst);
    });

    let mut out = std::io::stdout().lock();
    loop {
        match rx.recv_timeout(Duration::from_millis(500))? {
            Some(job) => {
                let thumb = thumbnail(job.value());
                // The report is this job's effect. A worker killed between it and the ack
                // has done the job without acknowledging it: the job will be done again.
                let (id, n) = (job.value().id, job.deliveries());
                writeln!(out, "done {id} {n} {} {thumb}", job.id())?;
                rx.ack(&job)?;
            }
            // Idle for the whole wait, and asked to stop: nothing is left for us.
            None if stop.load(Ordering::SeqCst) => return Ok(()),
            None => {}
        }
    }
}

/// Stands in for real work: "makes" the thumbnail and says where it went.
fn thumbnail(job: &Job) -> String {
    thread::sleep(WORK);
    let stem = job.image.trim_end_matches(".jpg");
    format!("{stem}-{}x{}.jpg", job.width, job.height)
}

// ---------------------------------------------------------------------------------------
// The coordinator.

/// A worker's report of one processed job, stamped when the coordinator read it.
#[derive(Debug, Clone)]
struct Done {
    worker: String,
    job: u64,
    deliveries: u64,
    entry: String,
    at: Instant,
}

/// Every report, and the jobs done at least once.
#[derive(Default)]
struct Tally {
    done: Vec<Done>,
    seen: HashSet<u64>,
}

impl Extend<Done> for Tally {
    fn extend<I: IntoIterator<Item = Done>>(&mut self, reports: I) {
        for d in reports {
            self.seen.insert(d.job);
            self.done.push(d);
        }
    }
}

/// What the coordinator did to the worker it killed.
struct Kill {
    worker: String,
    /// The job about to be sent.
    job: u64,
    /// When the signal was sent.
    at: Instant,
    /// The stream entries it held, delivered and unacknowledged, when it died.
    held: Vec<String>,
}

fn coordinator(args: &[String]) -> Result<()> {
    let flags = flags(args, &["--workers", "--jobs"])?;
    let workers: usize = flags.get("--workers").map_or(Ok(3), |v| v.parse())?;
    let jobs: u64 = flags.get("--jobs").map_or(Ok(2000), |v| v.parse())?;
    if workers < 2 || jobs < 2 {
        return Err("need at least 2 workers (one is killed) and 2 jobs".into());
    }
    let started = Instant::now();
    let deadline = started + DEADLINE;

    let server = RedisServer::start(Durability::AppendAlways)?;
    let url = server.url();
    let mut tx = queue(&url, STREAM)?.sender::<Job>()?;
    // A plain connection, to ask the server which deliveries a consumer holds.
    let mut inspect = redis::Client::open(url.as_str())?.get_connection()?;
    println!(
        "redis-server at {url}; stream {STREAM:?}, capacity {CAPACITY}, claim_idle {CLAIM_IDLE:?}"
    );

    let (reports, events) = mpsc::channel();
    let mut pool = Pool::start(workers, &url, reports)?;
    println!("started {workers} workers: {}", pool.names().join(", "));
    let mut tally = Tally::default();

    // Produce. From halfway on, kill the last worker as soon as it holds deliveries it has
    // not acknowledged (under a full queue, that is at once: it holds its whole batch).
    let victim = format!("w{workers}");
    let mut kill = None;
    for id in 0..jobs {
        if kill.is_none()
            && id >= jobs / 2
            && (id + 1 == jobs || !held_by(&mut inspect, &victim)?.is_empty())
        {
            let at = pool.kill(&victim)?;
            let held = held_by(&mut inspect, &victim)?;
            let m = tx.metrics()?;
            println!(
                "job {id} of {jobs}: killed {victim} (SIGKILL); unacknowledged deliveries it \
                 held: {}; the queue: {} pending, {} undelivered",
                held.len(),
                m.pending,
                m.undelivered
            );
            kill = Some(Kill {
                worker: victim.clone(),
                job: id,
                at,
                held,
            });
        }
        let job = Job {
            id,
            image: format!("photos/img-{id:05}.jpg"),
            width: 128,
            height: 128,
        };
        // Block: waits while CAPACITY jobs are unacknowledged.
        let wait = deadline.saturating_duration_since(Instant::now());
        match tx.send_timeout(job, wait) {
            Ok(_) => {}
            Err(SendError::Timeout(job)) => {
                return Err(
                    format!("job {}: the queue stayed full until the deadline", job.id).into(),
                )
            }
            Err(e) => return Err(e.into()),
        }
        tally.extend(events.try_iter());
    }
    let kill = kill.expect("the last job kills at the latest");
    println!(
        "produced {jobs} jobs in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Wait until every job was processed and every delivery acknowledged: a job the
    // killed worker did but never acked is pending until claimed, and will be done again.
    loop {
        if tally.seen.len() as u64 == jobs && tx.metrics()?.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            println!("gave up waiting after {DEADLINE:?}");
            break;
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => tally.extend([d]),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                println!("every worker is gone");
                break;
            }
        }
    }
    for (worker, status) in pool.stop() {
        if worker != kill.worker && !status.success() {
            println!("worker {worker} exited with {status}");
        }
    }
    tally.extend(events.try_iter());
    println!(
        "stopped the workers after {:.2} s\n",
        started.elapsed().as_secs_f64()
    );

    let never = report(jobs, &tally.done, &kill, &tx.metrics()?);
    if never.is_empty() {
        println!("\nevery job was processed at least once");
        Ok(())
    } else {
        Err(format!(
            "{} of {jobs} jobs were never processed: {}",
            never.len(),
            ranges(&never)
        )
        .into())
    }
}

/// The stream entries `consumer` holds: delivered to it, not acknowledged. The group keeps
/// this on the server (`XPENDING <stream> <group> - + <count> <consumer>`).
fn held_by(con: &mut redis::Connection, consumer: &str) -> Result<Vec<String>> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(CAPACITY)
        .arg(consumer)
        .query(con)?;
    Ok(rows.into_iter().map(|(entry, ..)| entry).collect())
}

/// Prints what happened; returns the jobs never processed.
fn report(jobs: u64, done: &[Done], kill: &Kill, m: &StreamMetrics) -> Vec<u64> {
    let row = |label: &str, value: String| println!("{label:<26}{value}");
    let mut runs: BTreeMap<u64, Vec<&Done>> = BTreeMap::new();
    let mut per_worker: BTreeMap<&str, u64> = BTreeMap::new();
    for d in done {
        runs.entry(d.job).or_default().push(d);
        *per_worker.entry(&d.worker).or_default() += 1;
    }
    row("jobs produced", jobs.to_string());
    row(
        "jobs processed",
        format!("{} ({} processings)", runs.len(), done.len()),
    );
    for (worker, n) in &per_worker {
        let killed = if *worker == kill.worker {
            " (then killed)"
        } else {
            ""
        };
        row(&format!("  by {worker}"), format!("{n}{killed}"));
    }

    // Done, then killed before the ack: done again by another worker.
    let twice: Vec<(&u64, &Vec<&Done>)> = runs.iter().filter(|(_, r)| r.len() > 1).collect();
    row("processed more than once", twice.len().to_string());
    for (job, r) in &twice {
        let who: Vec<String> = r
            .iter()
            .map(|d| format!("{} (delivery {})", d.worker, d.deliveries))
            .collect();
        row(&format!("  job {job}"), who.join(", then "));
    }

    println!();
    row(
        &format!("{} killed at job {}", kill.worker, kill.job),
        format!("unacknowledged deliveries it held: {}", kill.held.len()),
    );
    let redelivered: Vec<&Done> = done.iter().filter(|d| d.deliveries > 1).collect();
    row(
        "redelivered",
        match redelivered.iter().map(|d| d.at).min() {
            Some(first) => format!(
                "{} (the first done {:.2} s after the kill)",
                redelivered.len(),
                first.duration_since(kill.at).as_secs_f64()
            ),
            None => "none".to_owned(),
        },
    );
    let mut to: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for d in &redelivered {
        to.entry(&d.worker).or_default().push(d.job);
    }
    for (worker, mut ids) in to {
        ids.sort_unstable();
        row(&format!("  to {worker}"), format!("jobs {}", ranges(&ids)));
    }
    let again: HashSet<&str> = redelivered.iter().map(|d| d.entry.as_str()).collect();
    let missing: Vec<&String> = kill
        .held
        .iter()
        .filter(|e| !again.contains(e.as_str()))
        .collect();
    if !missing.is_empty() {
        row("  held, not redelivered", format!("entries {missing:?}"));
    }

    println!();
    row(
        "queue metrics",
        format!(
            "sent {}, acked {}, redelivered {}, dead-lettered {}",
            m.sent, m.acked, m.redelivered, m.dead_lettered
        ),
    );
    row(
        "",
        format!(
            "pending {}, undelivered {}, send_waits {} (sends that found no room)",
            m.pending, m.undelivered, m.send_waits
        ),
    );
    row(
        "",
        format!(
            "consumers {} ({} stays in the group, holding nothing)",
            m.consumers, kill.worker
        ),
    );
    (0..jobs).filter(|id| !runs.contains_key(id)).collect()
}

/// Sorted ids as `1-3, 7, 9-10`.
fn ranges(ids: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// The worker processes. Dropping the pool kills those still running.
struct Pool {
    workers: Vec<Worker>,
}

struct Worker {
    name: String,
    child: Child,
    /// Closing it tells the worker to stop.
    stdin: Option<ChildStdin>,
    reader: Option<JoinHandle<()>>,
}

impl Pool {
    /// Starts `n` workers, `w1` to `wN`: this same program in worker mode. Their reports go
    /// to `reports`.
    fn start(n: usize, url: &str, reports: mpsc::Sender<Done>) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut pool = Pool {
            workers: Vec::new(),
        };
        for i in 1..=n {
            let name = format!("w{i}");
            let mut child = Command::new(&exe)
                .args(["worker", "--url", url, "--name", &name, "--stream", STREAM])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let stdout = child.stdout.take().expect("stdout is piped");
            let reports = reports.clone();
            let who = name.clone();
            let reader = thread::spawn(move || read_reports(who, stdout, reports));
            pool.workers.push(Worker {
                name,
                stdin: child.stdin.take(),
                child,
                reader: Some(reader),
            });
        }
        Ok(pool)
    }

    fn names(&self) -> Vec<&str> {
        self.workers.iter().map(|w| w.name.as_str()).collect()
    }

    /// Kills `name` with SIGKILL, as a crash would, and waits for it to die. Returns when
    /// the signal was sent.
    fn kill(&mut self, name: &str) -> Result<Instant> {
        let w = self
            .workers
            .iter_mut()
            .find(|w| w.name == name)
            .ok_or_else(|| format!("no worker {name}"))?;
        w.child.kill()?;
        let at = Instant::now();
        w.child.wait()?;
        w.stdin = None;
        Ok(at)
    }

    /// Tells every worker to stop (closes its stdin) and waits for them, and for their
    /// reports; kills any still running after 10 s.
    fn stop(&mut self) -> Vec<(String, ExitStatus)> {
        for w in &mut self.workers {
            w.stdin = None;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exits = Vec::new();
        for w in &mut self.workers {
            let status = loop {
                match w.child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        eprintln!("{} did not stop: killing it", w.name);
                        let _ = w.child.kill();
                        break w.child.wait().ok();
                    }
                    Err(_) => break None,
                }
            };
            if let Some(reader) = w.reader.take() {
                let _ = reader.join();
            }
            if let Some(status) = status {
                exits.push((w.name.clone(), status));
            }
        }
        exits
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Ok(None) = w.child.try_wait() {
                let _ = w.child.kill();
                let _ = w.child.wait();
            }
        }
    }
}

/// Reads a worker's `done <job> <deliveries> <entry> ...` lines; anything else is echoed.
fn read_reports(worker: String, stdout: ChildStdout, reports: mpsc::Sender<Done>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        let parsed = match (words.next(), words.next(), words.next(), words.next()) {
            (Some("done"), Some(job), Some(n), Some(entry)) => job
                .parse()
                .ok()
                .zip(n.parse().ok())
                .map(|(job, deliveries)| Done {
                    worker: worker.clone(),
                    job,
                    deliveries,
                    entry: entry.to_owned(),
                    at: Instant::now(),
                }),
            _ => None,
        };
        match parsed {
            Some(done) => {
                if reports.send(done).is_err() {
                    break;
                }
            }
            None => println!("{worker}: {line}"),
        }
    }
}
