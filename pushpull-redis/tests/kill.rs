//! A consumer killed mid-flight: it runs as a child process (this test binary again, running
//! `child_consumer`), takes values, processes some, and is SIGKILLed while it holds
//! unacknowledged ones. Those must come back to another consumer; nothing is lost, and the
//! only duplicates are values the dead consumer processed without acknowledging.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pushpull_redis::local::{Durability, RedisServer};
use pushpull_redis::Builder;

const N: u64 = 300;
/// Values the child processes and acknowledges before it starts holding.
const ACKED_FIRST: usize = 40;
/// Values the child processes (and reports) without acknowledging, then is killed.
const HELD: usize = 6;
/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(30);

fn queue(url: &str) -> Builder {
    Builder::new(url, "jobs")
        .unwrap()
        .capacity(N)
        .batch(8)
        .claim_idle(Duration::from_millis(500))
}

/// The child: runs only when the parent sets `PUSHPULL_REDIS_CHILD_URL`.
#[test]
#[ignore = "runs as the child process of a_killed_consumers_values_are_redelivered"]
fn child_consumer() {
    let Ok(url) = std::env::var("PUSHPULL_REDIS_CHILD_URL") else {
        return;
    };
    let mut rx = queue(&url).receiver::<u64>("victim").unwrap();
    let mut out = std::io::stdout().lock();
    for _ in 0..ACKED_FIRST {
        let d = rx.recv().unwrap();
        writeln!(out, "processed {} {}", d.value(), d.id()).unwrap();
        rx.ack(&d).unwrap();
    }
    for _ in 0..HELD {
        let d = rx.recv().unwrap();
        writeln!(out, "processed {} {}", d.value(), d.id()).unwrap();
    }
    writeln!(out, "holding").unwrap();
    out.flush().unwrap();
    drop(out);
    std::thread::sleep(PATIENCE * 2);
}

#[test]
fn a_killed_consumers_values_are_redelivered() {
    let server = RedisServer::start(Durability::None).unwrap();
    let queue = queue(&server.url());
    let mut tx = queue.sender::<u64>().unwrap();
    for v in 0..N {
        tx.send(v).unwrap();
    }

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_consumer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PUSHPULL_REDIS_CHILD_URL", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut by_child: Vec<(u64, String)> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print its own words on the same line first ("test child_consumer ...").
        if line.ends_with("holding") {
            break;
        }
        if let Some(at) = line.find("processed ") {
            let (v, id) = line[at + "processed ".len()..].split_once(' ').unwrap();
            by_child.push((v.parse().unwrap(), id.to_owned()));
        }
    }
    assert_eq!(
        by_child.len(),
        ACKED_FIRST + HELD,
        "the child ran as planned"
    );
    child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    child.wait().unwrap();

    // What the dead consumer held, as the server sees it: the values it processed without an
    // ack, and the rest of its last batch, taken from the server but never returned.
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg("jobs")
        .arg("pushpull")
        .arg("-")
        .arg("+")
        .arg(100)
        .arg("victim")
        .query(&mut con)
        .unwrap();
    let held: BTreeSet<String> = pending.into_iter().map(|(id, ..)| id).collect();
    let processed_unacked: BTreeSet<String> = by_child[ACKED_FIRST..]
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    assert!(
        processed_unacked.is_subset(&held),
        "the held values are pending to the victim"
    );

    // Another consumer takes over.
    let mut rx = queue.receiver::<u64>("survivor").unwrap();
    let mut by_survivor: HashMap<u64, (String, u64)> = HashMap::new();
    let mut first_redelivery = None;
    let deadline = Instant::now() + PATIENCE;
    let mut done: BTreeSet<u64> = by_child.iter().map(|(v, _)| *v).collect();
    let mut seen_ids: BTreeSet<String> = BTreeSet::new();
    while done.len() < N as usize || !held.is_subset(&seen_ids) {
        assert!(
            Instant::now() < deadline,
            "lost values: {} of {N} processed, {} of {} held ones back",
            done.len(),
            held.intersection(&seen_ids).count(),
            held.len()
        );
        let Some(d) = rx.recv_timeout(Duration::from_millis(200)).unwrap() else {
            continue;
        };
        if d.is_redelivery() && first_redelivery.is_none() {
            first_redelivery = Some(killed_at.elapsed());
        }
        done.insert(*d.value());
        seen_ids.insert(d.id().to_owned());
        by_survivor.insert(*d.value(), (d.id().to_owned(), d.deliveries()));
        rx.ack(&d).unwrap();
    }
    assert!(
        rx.recv_timeout(Duration::from_millis(700))
            .unwrap()
            .is_none(),
        "nothing more"
    );

    // Every held value came back to the survivor as a redelivery.
    let redelivered: BTreeSet<String> = by_survivor
        .values()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        redelivered, held,
        "exactly the held values were redelivered"
    );
    // Duplicates: values processed by both. Only the ones the victim processed without an
    // acknowledgement may be among them.
    let duplicates: BTreeSet<String> = by_child
        .iter()
        .filter(|(v, _)| by_survivor.contains_key(v))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        duplicates, processed_unacked,
        "duplicates are the processed-but-unacked values"
    );
    let m = rx.metrics().unwrap();
    assert_eq!((m.len(), m.acked), (0, N), "every value acknowledged once");
    assert_eq!(m.redelivered, held.len() as u64);
    println!(
        "kill test: {N} values; the killed consumer processed {} ({} acked), held {} \
         (pending on the server); the survivor processed {}, of them {} redelivered; \
         duplicates {}; first redelivery {:?} after the kill (claim_idle 500 ms)",
        by_child.len(),
        ACKED_FIRST,
        held.len(),
        by_survivor.len(),
        redelivered.len(),
        duplicates.len(),
        first_redelivery.unwrap(),
    );
}
