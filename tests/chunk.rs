#![cfg(not(loom))]
//! Zero-copy chunks on SPSC queues: a write chunk publishes exactly what was written, at
//! once; a read chunk reads in place and releases what it took; panics while a chunk is
//! held never drop a value twice or leak one; chunks respect close, abort and the credit
//! gate; a producer and a consumer moving everything in chunks lose and reorder nothing.

mod common;
mod harness;

use std::thread;

use harness::{scaled, DropLog, Tracked};
use pushpull::{Builder, ChunkError, Policy, SendError, TryRecvError};

#[test]
fn a_write_chunk_publishes_exactly_what_was_written() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    tx.try_send(0).unwrap();
    let mut chunk = tx.try_write_chunk(100).unwrap();
    assert_eq!(chunk.capacity(), 7, "all the room there is");
    assert_eq!(chunk.fill_from_iter(1..4), 3);
    assert_eq!(chunk.len(), 3);
    // Nothing is visible before the commit.
    assert_eq!(rx.len(), 1);
    assert_eq!(chunk.commit(), Ok(3));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    // Partial: the unused slots are room again; a dropped chunk commits what it holds.
    let mut chunk = tx.try_write_chunk(8).unwrap();
    chunk.push(10).unwrap();
    drop(chunk);
    assert_eq!(rx.try_recv(), Ok(10));
    let chunk = tx.try_write_chunk(8).unwrap();
    assert_eq!(chunk.capacity(), 8);
    assert_eq!(chunk.commit(), Ok(0));
    // Full.
    for v in 0..8 {
        tx.try_send(v).unwrap();
    }
    assert_eq!(tx.try_write_chunk(1).err(), Some(ChunkError::Full));
    let m = rx.metrics();
    assert_eq!(m.sent, 13);
    assert_eq!(m.batches_sent, 2, "commits that sent values");
}

/// The run wraps around the end of the buffer: slices and indices follow it.
#[test]
fn a_read_chunk_reads_in_place_across_the_wrap() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(4);
    for v in 0..3 {
        tx.try_send(v).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    for v in 3..6 {
        tx.try_send(v).unwrap();
    }
    // Queued: 2 3 4 5, in slots 2 3 0 1.
    let mut chunk = rx.try_read_chunk(10).unwrap();
    assert_eq!(chunk.len(), 4);
    let (a, b) = chunk.as_slices();
    assert_eq!((a, b), (&[2, 3][..], &[4, 5][..]));
    assert_eq!(chunk.get(3), Some(&5));
    assert_eq!(chunk.get(4), None);
    assert_eq!(chunk.next(), Some(2));
    assert_eq!(chunk.iter().copied().collect::<Vec<_>>(), [3, 4, 5]);
    let (a, b) = chunk.as_slices();
    assert_eq!((a, b), (&[3][..], &[4, 5][..]));
    assert_eq!(chunk.consume(1), 1);
    chunk.release();
    // 4 and 5 stay queued; the released slots are room.
    assert_eq!(rx.len(), 2);
    tx.try_send(6).unwrap();
    tx.try_send(7).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 5, 6, 7]);
    assert_eq!(rx.try_read_chunk(1).err(), Some(ChunkError::Empty));
    drop(tx);
    assert_eq!(rx.try_read_chunk(1).err(), Some(ChunkError::Closed));
}

#[test]
fn drop_oldest_queues_have_no_chunks() {
    let (mut tx, mut rx) = Builder::new(4).policy(Policy::DropOldest).spsc::<u32>();
    assert_eq!(tx.try_write_chunk(1).err(), Some(ChunkError::DropOldest));
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_read_chunk(1).err(), Some(ChunkError::DropOldest));
    assert_eq!(
        ChunkError::DropOldest.to_string(),
        "a drop-oldest queue has no chunks"
    );
}

/// A panic in the iterator a write chunk fills from: the chunk's drop commits what was
/// written; every value is dropped exactly once in the end.
#[test]
fn a_panic_while_writing_commits_what_was_written() {
    let log = DropLog::new(6);
    let (mut tx, mut rx) = pushpull::spsc::<Tracked>(8);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut chunk = tx.try_write_chunk(8).unwrap();
        let mut next = 0;
        chunk.fill_from_iter(std::iter::from_fn(|| {
            if next == 4 {
                panic!("the iterator fails");
            }
            next += 1;
            Some(log.item(next - 1))
        }));
    }));
    assert!(unwound.is_err());
    let got: Vec<usize> = rx.try_iter().map(|t| t.id).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    drop((log.item(4), log.item(5)));
    log.assert_all_once();
}

/// A value's destructor panics inside `consume`: the chunk's drop releases what was taken
/// (the panicking value included); nothing is dropped twice, the rest stays queued.
#[test]
fn a_panic_while_consuming_drops_nothing_twice() {
    let log = DropLog::with_bomb(5, Some(1));
    let (mut tx, mut rx) = pushpull::spsc::<Tracked>(8);
    for id in 0..5 {
        tx.try_send(log.item(id)).map_err(|_| ()).unwrap();
    }
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut chunk = rx.try_read_chunk(8).unwrap();
        chunk.consume(3);
    }));
    assert!(unwound.is_err());
    assert_eq!(log.count(0), 1);
    assert_eq!(log.count(1), 1);
    let rest: Vec<usize> = rx.try_iter().map(|t| t.id).collect();
    assert_eq!(rest, [2, 3, 4]);
    log.assert_all_once();
}

/// A write chunk reserved before a drain-close commits after it (as a permit does), and the
/// consumer reports `Closed` only after the commit; after an abort the commit fails and
/// hands the values back.
#[test]
fn chunks_and_closing() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    let closer = tx.closer();
    let mut chunk = tx.try_write_chunk(4).unwrap();
    chunk.push(1).unwrap();
    closer.close();
    // The consumer waits for the chunk (held like a permit), it does not report `Closed`.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    chunk.push(2).unwrap();
    assert_eq!(chunk.commit(), Ok(2));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(tx.try_write_chunk(1).err(), Some(ChunkError::Closed));

    let (mut tx, mut rx) = pushpull::spsc::<u32>(8);
    let closer = tx.closer();
    let mut chunk = tx.try_write_chunk(4).unwrap();
    chunk.fill_from_iter([7, 8]);
    assert_eq!(closer.abort(), None);
    assert_eq!(chunk.commit(), Err(SendError::Closed(vec![7, 8])));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    // The consumer gone: the same.
    let (mut tx, rx) = pushpull::spsc::<u32>(8);
    let mut chunk = tx.try_write_chunk(4).unwrap();
    chunk.push(9).unwrap();
    drop(rx);
    assert_eq!(chunk.commit(), Err(SendError::Closed(vec![9])));
}

/// With a credit gate, a write chunk holds no more slots than there are credits, and gives
/// back the credits it did not use.
#[test]
fn write_chunks_spend_credits() {
    let (mut tx, rx) = Builder::new(8).credits(3).spsc::<u32>();
    let mut chunk = tx.try_write_chunk(8).unwrap();
    assert_eq!(chunk.capacity(), 3);
    chunk.push(1).unwrap();
    assert_eq!(chunk.commit(), Ok(1));
    assert_eq!(rx.credits(), Some(2));
    let mut chunk = tx.try_write_chunk(8).unwrap();
    chunk.fill_from_iter(2..);
    assert_eq!(chunk.commit(), Ok(2));
    assert_eq!(tx.try_write_chunk(1).err(), Some(ChunkError::Full));
    rx.grant(1);
    assert_eq!(tx.try_write_chunk(8).map(|c| c.capacity()), Ok(1));
    let m = rx.metrics();
    assert_eq!(m.credits_spent, 3);
}

/// A producer writing only chunks and a consumer reading only chunks (of varied sizes),
/// against a blocked peer now and then: every value arrives once, in order.
#[test]
#[cfg_attr(miri, ignore)]
fn chunks_end_to_end() {
    let n = scaled(200_000, 2_000) as u64;
    let (mut tx, mut rx) = pushpull::spsc::<u64>(64);
    let producer = thread::spawn(move || {
        let mut next = 0u64;
        let mut size = 1;
        while next < n {
            let wrote = tx.try_write_chunk(size).map(|mut chunk| {
                let k = chunk.fill_from_iter(next..n) as u64;
                chunk.commit().unwrap();
                k
            });
            match wrote {
                Ok(k) => next += k,
                Err(ChunkError::Full) => {
                    // Now and then wait the blocking way, so the consumer's release wakes us.
                    let _ = tx.send(next).unwrap();
                    next += 1;
                }
                Err(e) => panic!("{e}"),
            }
            size = size % 37 + 1;
        }
    });
    let mut expect = 0u64;
    let mut size = 5;
    while expect < n {
        let read = rx.try_read_chunk(size).map(|chunk| {
            let mut k = 0;
            for v in chunk {
                assert_eq!(v, expect + k);
                k += 1;
            }
            k
        });
        match read {
            Ok(k) => expect += k,
            Err(ChunkError::Empty) => {
                assert_eq!(rx.recv(), Ok(expect));
                expect += 1;
            }
            Err(e) => panic!("{e}"),
        }
        size = size % 29 + 1;
    }
    producer.join().unwrap();
    assert_eq!(rx.try_read_chunk(1).err(), Some(ChunkError::Closed));
}

/// The waiting forms: a blocked `write_chunk` wakes when a read chunk releases room, a
/// blocked `read_chunk` when a write chunk commits; deadlines end them with `Full` and
/// `Empty`; a close ends them with `Closed`.
#[test]
#[cfg_attr(miri, ignore)]
fn blocking_chunks_wait_and_wake() {
    let (mut tx, mut rx) = pushpull::spsc::<u32>(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(
        tx.write_chunk_timeout(1, std::time::Duration::from_millis(10))
            .err(),
        Some(ChunkError::Full)
    );
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match rx.read_chunk(2) {
                Ok(chunk) => got.extend(chunk),
                Err(ChunkError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        got
    });
    for v in 3..50 {
        let mut chunk = tx.write_chunk(1).unwrap();
        chunk.push(v).unwrap();
        chunk.commit().unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (1..50).collect::<Vec<_>>());

    let (tx, mut rx) = pushpull::spsc::<u32>(2);
    assert_eq!(
        rx.read_chunk_timeout(1, std::time::Duration::from_millis(10))
            .err(),
        Some(ChunkError::Empty)
    );
    let t = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(10));
        drop(tx);
    });
    assert_eq!(rx.read_chunk(1).err(), Some(ChunkError::Closed));
    t.join().unwrap();

    // A credit gate: the blocked writer waits for the grant.
    let (mut tx, mut rx) = Builder::new(8).credits(0).spsc::<u32>();
    let producer = thread::spawn(move || {
        let mut chunk = tx.write_chunk(8).unwrap();
        let k = chunk.capacity();
        chunk.fill_from_iter(0..);
        chunk.commit().unwrap();
        k
    });
    rx.grant(3);
    assert_eq!(producer.join().unwrap(), 3);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
}

/// Async chunks on every executor; a chunk future dropped while it waits takes nothing and
/// gives its credits back.
#[test]
#[cfg_attr(miri, ignore)]
fn async_chunks() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};
    const N: u64 = 5_000;
    for exec in common::Exec::all() {
        let (mut tx, mut rx) = pushpull::spsc::<u64>(16);
        let producer = exec.spawn(async move {
            let mut next = 0;
            while next < N {
                let mut chunk = tx.write_chunk_async(7).await.unwrap();
                next += chunk.fill_from_iter(next..N) as u64;
                chunk.commit().unwrap();
            }
        });
        let consumer = exec.spawn(async move {
            let mut got = Vec::new();
            loop {
                match rx.read_chunk_async(5).await {
                    Ok(chunk) => got.extend(chunk),
                    Err(ChunkError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            got
        });
        let got = exec.block_on(async move {
            producer.await;
            consumer.await
        });
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "{}", exec.name());
    }
    // Dropped while waiting: for room (holding credits), and for a value.
    let (mut tx, mut rx) = Builder::new(2).credits(10).spsc::<u32>();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut fut = pin!(tx.write_chunk_async(4));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(
        rx.credits(),
        Some(8),
        "the waiting chunk's credits came back"
    );
    assert_eq!(rx.try_iter().count(), 2);
    {
        let mut fut = pin!(rx.read_chunk_async(4));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(tx.try_write_chunk(4).map(|c| c.capacity()), Ok(2));
}

/// Found by review: a forgotten read chunk (`mem::forget` is safe code) must not leave the
/// values it moved out or dropped queued: the consumer's cursor moves with each value taken,
/// so the next receive starts after them (before the fix: a double free, and a use after
/// free under Miri).
#[test]
fn a_forgotten_read_chunk_hands_nothing_out_twice() {
    let (mut tx, mut rx) = pushpull::spsc::<Box<u32>>(4);
    for v in 0..4 {
        tx.try_send(Box::new(v)).unwrap();
    }
    let mut chunk = rx.try_read_chunk(4).unwrap();
    assert_eq!(chunk.next().as_deref(), Some(&0));
    assert_eq!(chunk.consume(1), 1);
    assert_eq!(chunk.get(0).map(|b| **b), Some(2));
    std::mem::forget(chunk);
    assert_eq!(rx.try_recv().as_deref(), Ok(&2));
    // The producer sees the room of all three once the consumer's next call published it.
    for v in 4..7 {
        tx.try_send(Box::new(v)).unwrap();
    }
    assert_eq!(rx.try_iter().map(|b| *b).collect::<Vec<_>>(), [3, 4, 5, 6]);
}

/// Found by review: the exact high-water mark notes a run published at once (a chunk's
/// commit, an SPSC batch send), as it notes a push.
#[test]
fn exact_high_water_sees_chunks_and_batches() {
    let (mut tx, mut rx) = Builder::new(8).exact_high_water().spsc::<u32>();
    let mut chunk = tx.try_write_chunk(8).unwrap();
    chunk.fill_from_iter(0..5);
    chunk.commit().unwrap();
    assert_eq!(rx.metrics().high_water, 5);
    assert_eq!(rx.try_iter().count(), 5);
    let mut values: Vec<u32> = (0..8).collect();
    let _ = tx.try_send_batch(&mut values);
    assert_eq!(rx.metrics().high_water, 8);
}
