//! Redis restarted during a run: producers and consumers reconnect with backoff, and no
//! value whose append was acknowledged (its `send` returned `Ok`) is lost.
//!
//! The server keeps an append-only file with `appendfsync always`. One test stops it with
//! SIGTERM (a clean stop), the other with SIGKILL (a crash): with `always`, even a crash
//! loses nothing acknowledged. (With `everysec`, a crash may lose the last second of
//! acknowledged appends and acks: see the crate docs.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pushpull_redis::local::{Durability, RedisServer};
use pushpull_redis::{Builder, SendError};

const PRODUCERS: u64 = 2;
const PER: u64 = 1500;
/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

fn run(crash: bool) {
    let mut server = RedisServer::start(Durability::AppendAlways).unwrap();
    let queue = Builder::new(&server.url(), "jobs")
        .unwrap()
        .capacity(500)
        .reconnect_for(Duration::from_secs(30))
        // Far beyond the test's patience: a delivery whose reply was lost with the
        // connection must come back because its receiver takes its own deliveries back
        // after a reconnect (without that, this test lost 16 values in 2 of 12 runs), not
        // because it went idle.
        .claim_idle(Duration::from_secs(600));
    let progress = Arc::new(AtomicU64::new(0));
    // Each producer waits halfway until the server is down, so that the restart falls
    // mid-run however the threads are scheduled.
    let down = Arc::new(AtomicU64::new(0));
    let acked_sends = Arc::new(Mutex::new(Vec::new()));
    let failed_sends = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut tx = queue.sender::<u64>().unwrap();
            let (progress, acked, failed) =
                (progress.clone(), acked_sends.clone(), failed_sends.clone());
            let down = down.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    if i == PER / 2 {
                        while down.load(Ordering::SeqCst) == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    let v = p * PER + i;
                    match tx.send(v) {
                        Ok(_) => acked.lock().unwrap().push(v),
                        // Allowed to be lost: the send did not say it was stored.
                        Err(SendError::Failed(..)) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let received = Arc::new(Mutex::new(HashMap::<u64, u32>::new()));
    let stop = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            let mut rx = queue.receiver::<u64>(&format!("c{c}")).unwrap();
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                while stop.load(Ordering::Relaxed) == 0 {
                    if let Some(d) = rx.recv_timeout(Duration::from_millis(100)).unwrap() {
                        *received.lock().unwrap().entry(*d.value()).or_default() += 1;
                        rx.ack(&d).unwrap();
                    }
                }
            })
        })
        .collect();

    // Restart the server once a third of the values are in.
    let deadline = Instant::now() + PATIENCE;
    while progress.load(Ordering::Relaxed) < PRODUCERS * PER / 3 {
        assert!(Instant::now() < deadline, "no progress before the restart");
        std::thread::sleep(Duration::from_millis(1));
    }
    if crash {
        server.kill();
    } else {
        server.stop().unwrap();
    }
    let at_stop = progress.load(Ordering::Relaxed);
    down.store(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300)); // the clients are retrying meanwhile
    server.start_again().unwrap();

    for p in producers {
        p.join().unwrap();
    }
    let acked = acked_sends.lock().unwrap().clone();
    loop {
        let missing = acked
            .iter()
            .filter(|v| !received.lock().unwrap().contains_key(v))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged values never received"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(1, Ordering::Relaxed);
    for c in consumers {
        c.join().unwrap();
    }
    let received = received.lock().unwrap();
    let duplicates: u64 = received.values().map(|&n| u64::from(n - 1)).sum();
    assert!(at_stop < PRODUCERS * PER, "the restart happened mid-run");
    println!(
        "restart test ({}): {} sends, {} acknowledged, {} failed; the server went down after {} \
         sends; every acknowledged value received; {} distinct values received, {} duplicates",
        if crash { "SIGKILL" } else { "SIGTERM" },
        PRODUCERS * PER,
        acked.len(),
        failed_sends.load(Ordering::Relaxed),
        at_stop,
        received.len(),
        duplicates,
    );
}

#[test]
fn a_restart_with_sigterm_loses_no_acknowledged_value() {
    run(false);
}

#[test]
fn a_crash_under_appendfsync_always_loses_no_acknowledged_value() {
    run(true);
}
