//! The uncontended paths, for instruction counting with callgrind (`ci/instructions.sh`).
//!
//! Runs `N` rounds of one `try_send` then one `try_recv` on one thread (no waiting, no
//! contention), on the queue named by the first argument. Run under
//! `valgrind --tool=callgrind` twice with different `N`; the difference divided by the
//! difference in `N` is the instructions per value (send + receive), free of setup costs.
//!
//! ```text
//! cargo bench --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-* spsc 100000
//! ```
//!
//! Not a criterion bench (`harness = false`, no timing): instruction counts are what stays
//! repeatable on a noisy machine.

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "spsc".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut sum = 0u64;
    match which.as_str() {
        "spsc" => {
            let (mut tx, mut rx) = pushpull::spsc::<u64>(1024);
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "spsc-drop-oldest" => {
            let (mut tx, mut rx) = pushpull::Builder::new(1024)
                .policy(pushpull::Policy::DropOldest)
                .spsc::<u64>();
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "mpmc" => {
            let (tx, rx) = pushpull::mpmc::<u64>(1024);
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "spsc-exact-hw" => {
            // The opt-in exact high-water mark (`Builder::exact_high_water`).
            let (mut tx, mut rx) = pushpull::Builder::new(1024)
                .exact_high_water()
                .spsc::<u64>();
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "mpmc-exact-hw" => {
            let (tx, rx) = pushpull::Builder::new(1024)
                .exact_high_water()
                .mpmc::<u64>();
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
            }
        }
        "spsc-send" => {
            // The policy send (`send`), which never waits here.
            let (mut tx, mut rx) = pushpull::spsc::<u64>(1024);
            for i in 0..n {
                let _ = tx.send(black_box(i)).unwrap();
                sum += rx.recv().unwrap();
            }
        }
        "mpmc-send" => {
            let (tx, rx) = pushpull::mpmc::<u64>(1024);
            for i in 0..n {
                let _ = tx.send(black_box(i)).unwrap();
                sum += rx.recv().unwrap();
            }
        }
        "spsc-credit" => {
            // A credit gate, the consumer granting back one credit per value.
            let (mut tx, mut rx) = pushpull::Builder::new(1024).credits(1024).spsc::<u64>();
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
                rx.grant(1);
            }
        }
        "mpmc-credit" => {
            let (tx, rx) = pushpull::Builder::new(1024).credits(1024).mpmc::<u64>();
            for i in 0..n {
                tx.try_send(black_box(i)).unwrap();
                sum += rx.try_recv().unwrap();
                rx.grant(1);
            }
        }
        other => {
            panic!(
                "unknown queue {other:?}: spsc, spsc-drop-oldest, mpmc, spsc-exact-hw, \
                 mpmc-exact-hw, spsc-send, mpmc-send, spsc-credit, mpmc-credit"
            )
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
    black_box(sum);
}
