//! The queue on a real redis-server (started per test on a free port): sharing, each
//! policy's mapping, acks, nacks, dead letters, bad input, async handles and the bridges.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use pushpull::Policy;
use pushpull_redis::local::{Durability, RedisServer};
use pushpull_redis::{bridge, Appended, Builder, SendError};

/// Only turns a hang into a failure; nothing waits for it.
const PATIENCE: Duration = Duration::from_secs(20);

// Receivers here take one entry at a time from the server (`batch(1)`) where a test counts
// pending against undelivered entries: a receiver's batch is delivered (pending) as a whole.

fn server() -> RedisServer {
    RedisServer::start(Durability::None).expect("start redis-server (apt-get install redis-server)")
}

fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn consumers_share_a_group_and_every_value_is_processed_once() {
    let server = server();
    let queue = Builder::new(&server.url(), "jobs").unwrap().capacity(64);
    const PRODUCERS: u64 = 2;
    const PER: u64 = 1500;
    const CONSUMERS: usize = 3;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut tx = queue.sender::<u64>().unwrap();
            std::thread::spawn(move || {
                for i in 0..PER {
                    assert!(matches!(tx.send(p * PER + i).unwrap(), Appended::Queued(_)));
                }
            })
        })
        .collect();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    // The consumers stop once all the values are processed between them (not after a quiet
    // spell, which a stalled producer on a loaded machine could cause).
    let processed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = std::time::Instant::now() + PATIENCE;
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let mut rx = queue.receiver::<u64>(&format!("c{c}")).unwrap();
            let (seen, processed) = (seen_tx.clone(), processed.clone());
            std::thread::spawn(move || {
                let mut mine = 0u64;
                while processed.load(std::sync::atomic::Ordering::SeqCst) < PRODUCERS * PER {
                    assert!(std::time::Instant::now() < deadline, "values lost");
                    let Some(d) = rx.recv_timeout(Duration::from_millis(100)).unwrap() else {
                        continue;
                    };
                    assert_eq!(d.deliveries(), 1);
                    seen.send(*d.value()).unwrap();
                    assert!(rx.ack(&d).unwrap());
                    processed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    mine += 1;
                }
                mine
            })
        })
        .collect();
    drop(seen_tx);
    for p in producers {
        p.join().unwrap();
    }
    let per_consumer: Vec<u64> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    let mut count: HashMap<u64, u32> = HashMap::new();
    for v in seen_rx.iter() {
        *count.entry(v).or_default() += 1;
    }
    assert_eq!(count.len() as u64, PRODUCERS * PER, "every value processed");
    assert!(
        count.values().all(|&n| n == 1),
        "no value twice without a failure"
    );
    assert_eq!(per_consumer.iter().sum::<u64>(), PRODUCERS * PER);
    assert!(
        per_consumer.iter().filter(|&&n| n > 0).count() >= 2,
        "shared: {per_consumer:?}"
    );
    let m = queue.sender::<u64>().unwrap().metrics().unwrap();
    assert_eq!(
        (m.sent, m.acked, m.len()),
        (PRODUCERS * PER, PRODUCERS * PER, 0)
    );
    // Acknowledged history is trimmed: the stream does not keep 3000 entries.
    let len: u64 = redis::cmd("XLEN")
        .arg("jobs")
        .query(&mut raw(&server))
        .unwrap();
    assert!(len < 300, "XLEN {len}");
}

#[test]
fn reject_refuses_on_length_and_hands_the_value_back() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(3)
        .policy(Policy::Reject)
        .batch(1);
    let mut tx = queue.sender::<String>().unwrap();
    let mut rx = queue.receiver::<String>("c").unwrap();
    for i in 0..3 {
        tx.send(format!("v{i}")).unwrap();
    }
    match tx.send("v3".to_owned()) {
        Err(SendError::Overloaded(v)) => assert_eq!(v, "v3"),
        other => panic!("{other:?}"),
    }
    // A delivered value still counts until it is acknowledged.
    let d = rx.recv_timeout(PATIENCE).unwrap().unwrap();
    assert!(matches!(
        tx.send("v4".to_owned()),
        Err(SendError::Overloaded(_))
    ));
    rx.ack(&d).unwrap();
    tx.send("v5".to_owned()).unwrap();
    // A batch takes what fits and hands back the rest.
    let mut batch = vec!["a".to_owned(), "b".to_owned()];
    let done = tx.send_batch(&mut batch).unwrap();
    assert_eq!((done.queued, done.rejected), (0, 2));
    assert_eq!(batch, ["a", "b"]);
    let m = tx.metrics().unwrap();
    assert_eq!((m.sent, m.rejected, m.pending, m.undelivered), (4, 4, 0, 3));
    let got: Vec<String> = (0..3).map(|_| rx.recv().unwrap().into_value()).collect();
    assert_eq!(got, ["v1", "v2", "v5"]);
}

#[test]
fn drop_newest_drops_the_value_sent() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(2)
        .policy(Policy::DropNewest);
    let mut tx = queue.sender::<u32>().unwrap();
    let mut rx = queue.receiver::<u32>("c").unwrap();
    let outcomes: Vec<Appended> = (0..5).map(|i| tx.send(i).unwrap()).collect();
    assert!(outcomes[..2]
        .iter()
        .all(|a| matches!(a, Appended::Queued(_))));
    assert!(outcomes[2..].iter().all(|a| *a == Appended::DroppedNewest));
    assert_eq!(tx.metrics().unwrap().dropped_newest, 3);
    let got: Vec<u32> = (0..2).map(|_| rx.recv().unwrap().into_value()).collect();
    assert_eq!(got, [0, 1]);
    assert!(rx
        .recv_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
}

#[test]
fn drop_oldest_evicts_the_oldest_undelivered_never_a_held_one() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(3)
        .policy(Policy::DropOldest)
        .batch(1);
    let mut tx = queue.sender::<u32>().unwrap();
    let mut rx = queue.receiver::<u32>("c").unwrap();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    // The consumer holds 0 (delivered, not acked).
    let held = rx.recv().unwrap();
    assert_eq!(*held.value(), 0);
    // Full: each send evicts the oldest undelivered value: 1, then 2, then 3.
    for i in 3..6 {
        assert!(
            matches!(tx.send(i).unwrap(), Appended::Evicted(_)),
            "value {i}"
        );
    }
    let m = tx.metrics().unwrap();
    assert_eq!((m.evicted_oldest, m.pending, m.undelivered), (3, 1, 2));
    let got: Vec<u32> = (0..2).map(|_| rx.recv().unwrap().into_value()).collect();
    assert_eq!(got, [4, 5], "the newest values survive, in order");
    // Every counted value is held now: nothing can be evicted, the new value is dropped.
    assert_eq!(tx.send(6).unwrap(), Appended::DroppedNewest);
    // The held value was never evicted: its ack still counts.
    assert!(rx.ack(&held).unwrap());
    assert!(matches!(tx.send(7).unwrap(), Appended::Queued(_)));
}

#[test]
fn block_waits_for_acks_and_a_deadline_hands_the_value_back() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(2)
        .policy(Policy::Block);
    let mut tx = queue.sender::<u32>().unwrap();
    let mut rx = queue.receiver::<u32>("c").unwrap();
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    match tx.send_timeout(2, Duration::from_millis(100)) {
        Err(SendError::Timeout(v)) => assert_eq!(v, 2),
        other => panic!("{other:?}"),
    }
    // A blocked send completes once the consumer acknowledges.
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let blocked = std::thread::spawn(move || {
        b.wait();
        let r = tx.send_timeout(2, PATIENCE);
        (r.map(|a| a.id().is_some()), tx.metrics().unwrap())
    });
    barrier.wait();
    let d = rx.recv().unwrap();
    // Receiving alone makes no room: the value is still unacknowledged.
    std::thread::sleep(Duration::from_millis(50));
    assert!(!blocked.is_finished());
    rx.ack(&d).unwrap();
    let (sent, m) = blocked.join().unwrap();
    assert!(sent.unwrap());
    assert_eq!(
        m.send_waits, 2,
        "two sends waited (the one that timed out too), each counted once"
    );
    let got: Vec<u32> = (0..2).map(|_| rx.recv().unwrap().into_value()).collect();
    assert_eq!(got, [1, 2]);
}

#[test]
fn nack_redelivers_at_once_and_max_deliveries_dead_letters() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .max_deliveries(3)
        .batch(1);
    let mut tx = queue.sender::<String>().unwrap();
    let mut a = queue.receiver::<String>("a").unwrap();
    let mut b = queue.receiver::<String>("b").unwrap();
    tx.send("poison".to_owned()).unwrap();
    tx.send("fine".to_owned()).unwrap();
    let d1 = a.recv().unwrap();
    assert_eq!((d1.value().as_str(), d1.deliveries()), ("poison", 1));
    assert!(a.nack(&d1).unwrap());
    // Another consumer gets it back first, before new values (the default claim idle time
    // is 30 s: only the nack makes this immediate).
    let d2 = b.recv_timeout(PATIENCE).unwrap().unwrap();
    assert_eq!(
        (d2.value().as_str(), d2.deliveries(), d2.id()),
        ("poison", 2, d1.id())
    );
    assert!(!a.nack(&d1).unwrap(), "a no longer holds it");
    assert!(b.nack(&d2).unwrap());
    let d3 = a.recv().unwrap();
    assert_eq!(d3.deliveries(), 3);
    assert!(a.nack(&d3).unwrap());
    // b took "fine" with its last claim (a receive claims, then reads new entries, in one
    // round trip).
    let next = b.recv().unwrap();
    assert_eq!(next.value(), "fine");
    // Its next receive claims the poison again: the fourth delivery would exceed 3, so it
    // goes to the dead letters instead, and nothing is left to receive.
    assert!(b
        .recv_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
    let dead = b.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id.as_str(), dead[0].deliveries), (d1.id(), 4));
    assert!(dead[0].error.contains("4 times"), "{}", dead[0].error);
    let m = b.metrics().unwrap();
    assert_eq!(
        (m.nacked, m.dead_lettered, m.redelivered, m.pending),
        (3, 1, 2, 1)
    );
}

#[test]
fn an_undecodable_record_goes_to_the_dead_letters_and_the_consumer_goes_on() {
    let server = server();
    let queue = Builder::new(&server.url(), "q").unwrap();
    let mut tx = queue.sender::<(u32, String)>().unwrap();
    let mut rx = queue.receiver::<(u32, String)>("c").unwrap();
    tx.send((1, "one".to_owned())).unwrap();
    let mut con = raw(&server);
    // A record from another writer: bytes that are not a postcard (u32, String)...
    let _: String = redis::cmd("XADD")
        .arg("q")
        .arg("*")
        .arg("v")
        .arg(&[0xff_u8, 0xff, 0xff, 0xff, 0xff, 0xff][..])
        .query(&mut con)
        .unwrap();
    // ...and one without the `v` field.
    let _: String = redis::cmd("XADD")
        .arg("q")
        .arg("*")
        .arg("other")
        .arg("x")
        .query(&mut con)
        .unwrap();
    tx.send((2, "two".to_owned())).unwrap();
    let got: Vec<u32> = (0..2)
        .map(|_| {
            let d = rx.recv_timeout(PATIENCE).unwrap().unwrap();
            rx.ack(&d).unwrap();
            d.into_value().0
        })
        .collect();
    assert_eq!(got, [1, 2]);
    let dead = rx.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead[0].error.starts_with("undecodable"),
        "{}",
        dead[0].error
    );
    assert_eq!(dead[0].payload.as_deref(), Some(&[0xff_u8; 6][..]));
    assert!(dead[1].error.contains("no `v` field"), "{}", dead[1].error);
    let m = rx.metrics().unwrap();
    assert_eq!((m.undecodable, m.dead_lettered, m.len()), (2, 2, 0));
}

#[test]
fn async_handles_on_tokio() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(8)
        .batch(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut tx = queue.sender_async::<u64>().await.unwrap();
        let mut rx = queue.receiver_async::<u64>("c").await.unwrap();
        let producer = tokio::spawn(async move {
            for i in 0..200 {
                tx.send(i).await.unwrap();
            }
            tx
        });
        let mut sum = 0;
        for _ in 0..200 {
            let d = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .unwrap()
                .unwrap();
            sum += *d.value();
            assert!(rx.ack(&d).await.unwrap());
        }
        let mut tx = producer.await.unwrap();
        assert_eq!(sum, 199 * 200 / 2);
        assert!(rx
            .recv_timeout(Duration::from_millis(50))
            .await
            .unwrap()
            .is_none());
        // Block under async: a full queue waits, a deadline hands the value back.
        let mut batch: Vec<u64> = (0..8).collect();
        assert_eq!(tx.send_batch(&mut batch).await.unwrap().queued, 8);
        match tx.send_timeout(99, Duration::from_millis(50)).await {
            Err(SendError::Timeout(99)) => {}
            other => panic!("{other:?}"),
        }
        let d = rx.recv().await.unwrap();
        assert!(rx.nack(&d).await.unwrap());
        let again = rx.recv().await.unwrap();
        assert_eq!((again.id(), again.deliveries()), (d.id(), 2));
        let m = tx.metrics().await.unwrap();
        // Pending: the redelivered value, and the next one, which the receive that claimed
        // it also read (a receive claims, then reads new entries, in one round trip).
        assert_eq!((m.sent, m.pending, m.undelivered), (208, 2, 6));
    });
}

#[test]
fn bridges_carry_a_local_pipeline_across_the_stream() {
    let server = server();
    let remote = Builder::new(&server.url(), "lines").unwrap().capacity(100);
    const N: u64 = 5000;
    // Out: a local queue drained into the stream in batches.
    let (local_tx, local_rx) = pushpull::Builder::new(64).mpmc::<u64>();
    let mut out = remote.sender::<u64>().unwrap();
    let shipper = std::thread::spawn(move || bridge::to_stream(&local_rx, &mut out, 32));
    // In: the stream fed into another local queue.
    let (in_tx, in_rx) = pushpull::Builder::new(16).mpmc::<u64>();
    let mut input = remote.receiver::<u64>("bridge").unwrap();
    let feeder =
        std::thread::spawn(move || bridge::from_stream(&mut input, &in_tx).map(|r| (r, input)));
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            let _ = local_tx.send(i).unwrap();
        }
    });
    let got: Vec<u64> = in_rx.iter().take(N as usize).collect();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "in order, each once");
    producer.join().unwrap();
    let shipped = shipper.join().unwrap().unwrap();
    assert_eq!((shipped.values, shipped.lost), (N, 0));
    assert!(shipped.batches < N, "batched: {} appends", shipped.batches);
    in_rx.close();
    let (fed, mut input) = feeder.join().unwrap().unwrap();
    assert_eq!(fed.lost, 0);
    assert_eq!(fed.values, N);
    let m = input.metrics().unwrap();
    assert_eq!((m.sent, m.acked, m.len()), (N, N, 0));
}

#[test]
fn a_consumer_started_again_under_its_name_takes_its_deliveries_back_at_once() {
    let server = server();
    // The default claim idle time is 30 s: only taking back its own makes this immediate.
    let queue = Builder::new(&server.url(), "q").unwrap().batch(2);
    let mut tx = queue.sender::<u32>().unwrap();
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    let mut first = queue.receiver::<u32>("worker-1").unwrap();
    let d = first.recv().unwrap();
    assert_eq!(*d.value(), 0);
    drop(first); // a crash: 0 and 1 (its batch) are pending to worker-1
    let mut again = queue.receiver::<u32>("worker-1").unwrap();
    let got: Vec<(u32, u64)> = (0..4)
        .map(|_| {
            let d = again.recv_timeout(PATIENCE).unwrap().unwrap();
            again.ack(&d).unwrap();
            (*d.value(), d.deliveries())
        })
        .collect();
    assert_eq!(got, [(0, 2), (1, 2), (2, 1), (3, 1)]);
    assert!(again.metrics().unwrap().is_empty());
}

/// The group's lag as Redis reports it (`None`: Redis cannot tell, and sends must count).
fn redis_lag(server: &RedisServer, stream: &str) -> Option<i64> {
    let groups: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(&mut raw(server))
        .unwrap();
    match groups[0].get("lag") {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    }
}

#[test]
fn drop_oldest_keeps_the_groups_lag_exact() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(3)
        .policy(Policy::DropOldest)
        .batch(1);
    let mut tx = queue.sender::<u32>().unwrap();
    let mut rx = queue.receiver::<u32>("c").unwrap();
    // Overflow before anything was read, then read one, then overflow again.
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(redis_lag(&server, "q"), Some(3));
    assert_eq!(rx.recv().unwrap().into_value(), 2);
    assert_eq!(redis_lag(&server, "q"), Some(2));
    for i in 5..8 {
        tx.send(i).unwrap();
    }
    assert_eq!(redis_lag(&server, "q"), Some(2));
    let m = tx.metrics().unwrap();
    assert_eq!((m.evicted_oldest, m.pending, m.undelivered), (5, 1, 2));
    let got: Vec<u32> = (0..2).map(|_| rx.recv().unwrap().into_value()).collect();
    assert_eq!(got, [6, 7]);
}

#[test]
fn a_stream_trimmed_by_another_client_does_not_wedge_the_queue() {
    for policy in [Policy::Block, Policy::DropOldest] {
        let server = server();
        let queue = Builder::new(&server.url(), "q")
            .unwrap()
            .capacity(4)
            .policy(policy)
            .batch(1);
        let mut tx = queue.sender::<u32>().unwrap();
        let mut rx = queue.receiver::<u32>("c").unwrap();
        for i in 0..4 {
            tx.send(i).unwrap();
        }
        let d = rx.recv().unwrap();
        rx.ack(&d).unwrap();
        // Another client trims the stream to its last entry: two undelivered entries go,
        // and Redis still counts them in the lag.
        let _: u64 = redis::cmd("XTRIM")
            .arg("q")
            .arg("MAXLEN")
            .arg(1)
            .query(&mut raw(&server))
            .unwrap();
        assert!(
            redis_lag(&server, "q") != Some(1),
            "the lag is wrong in Redis"
        );
        // The queue holds one value: a send finds room (the lag is set right).
        let sent = tx.send_timeout(4, PATIENCE).unwrap();
        let sent_again = tx.send_timeout(5, PATIENCE).unwrap();
        assert!(
            matches!(sent_again, Appended::Queued(_)),
            "{policy:?}: {sent_again:?}"
        );
        assert!(matches!(sent, Appended::Queued(_)), "{policy:?}: {sent:?}");
        assert_eq!(tx.metrics().unwrap().len(), 3, "{policy:?}");
        let got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap().into_value()).collect();
        assert_eq!(got, [3, 4, 5], "{policy:?}");
    }
}

#[test]
fn ten_thousand_acks_in_one_call() {
    let server = server();
    let queue = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(20_000)
        .batch(1000);
    let mut tx = queue.sender::<u32>().unwrap();
    let mut batch: Vec<u32> = (0..10_000).collect();
    assert_eq!(tx.send_batch(&mut batch).unwrap().queued, 10_000);
    let mut rx = queue.receiver::<u32>("c").unwrap();
    let ids: Vec<String> = (0..10_000)
        .map(|_| rx.recv().unwrap().id().to_owned())
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(rx.ack_ids(&ids).unwrap(), 10_000);
    assert!(rx.metrics().unwrap().is_empty());
}

#[test]
fn backpressure_crosses_the_bridge() {
    let server = server();
    let remote = Builder::new(&server.url(), "q")
        .unwrap()
        .capacity(10)
        .policy(Policy::Block)
        .batch(4);
    // The receiving machine's local queue holds 2, and nobody reads it yet.
    let (in_tx, in_rx) = pushpull::Builder::new(2).mpmc::<u32>();
    let mut input = remote.receiver::<u32>("bridge").unwrap();
    let feeder = std::thread::spawn(move || bridge::from_stream(&mut input, &in_tx));
    let mut tx = remote.sender::<u32>().unwrap();
    // The local queue fills, the bridge stops acknowledging, the group's length reaches the
    // capacity, and the remote sender has to wait: its bounded send gives the value back.
    // A timeout while the bridge is merely slow (a loaded machine) is retried with the same
    // value until both queues are seen full.
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut sent = 0;
    let (refused, m) = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the queues never filled"
        );
        match tx.send_timeout(sent, Duration::from_millis(300)) {
            Ok(_) => sent += 1,
            Err(SendError::Timeout(v)) => {
                let m = tx.metrics().unwrap();
                if m.len() == 10 && in_rx.len() == 2 {
                    break (v, m);
                }
            }
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100, "the sender never felt the backpressure");
    };
    assert_eq!(refused, sent);
    assert_eq!(m.len(), 10, "{m:?}");
    // Acknowledged values are at most the 2 in the local queue; every other value sent is
    // still counted in the stream's length.
    assert!(sent <= 2 + 10, "sent {sent}");
    // A reader on the receiving side drains it all, in order.
    let got: Vec<u32> = in_rx.iter().take(sent as usize).collect();
    assert_eq!(got, (0..sent).collect::<Vec<_>>());
    in_rx.close();
    let report = feeder.join().unwrap().unwrap();
    assert_eq!(report.lost, 0);
    assert!(tx.metrics().unwrap().is_empty());
}
