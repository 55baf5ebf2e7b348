//! The uncontended path of pushpull and its ring peers, for instruction counting with
//! callgrind: `N` rounds of one send then one receive on one thread, exactly as
//! `benches/instructions.rs` does for pushpull alone (no per-item check, so the count is the
//! queue's own). Run twice with different `N` under callgrind; the difference divided by the
//! difference in `N` is the instructions per value:
//!
//! ```text
//! compare/instructions.sh     # every queue, from the repository root
//! ```

use std::hint::black_box;
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "pushpull-spsc".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut sum = 0u64;
    match which.as_str() {
        "pushpull-spsc" => {
            let (mut tx, mut rx) = pushpull::spsc::<u64>(1024);
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "pushpull-mpmc" => {
            let (tx, rx) = pushpull::mpmc::<u64>(1024);
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "rtrb" => {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(1024);
            for i in 0..n {
                tx.push(black_box(i)).unwrap();
                sum += rx.pop().unwrap();
            }
        }
        "ringbuf" => {
            use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
            let (mut tx, mut rx) = ringbuf::HeapRb::<u64>::new(1024).split();
            for i in 0..n {
                tx.try_push(black_box(i)).unwrap();
                sum += rx.try_pop().unwrap();
            }
        }
        "arrayqueue" => {
            let q = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(1024));
            for i in 0..n {
                q.push(black_box(i)).unwrap();
                sum += q.pop().unwrap();
            }
        }
        "crossbeam-channel" => {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "kanal" => {
            let (tx, rx) = kanal::bounded::<u64>(1024);
            for i in 0..n {
                assert!(tx.try_send(black_box(i)).unwrap());
                sum += rx.try_recv().unwrap().unwrap();
            }
        }
        other => panic!("unknown queue {other}"),
    }
    black_box(sum);
}
