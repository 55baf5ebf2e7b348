#![cfg(loom)]
//! Loom models of every atomic protocol, driving the public API.

use loom::thread;
use pushpull::{Builder, Policy, Sent};

#[test]
fn spsc_drop_oldest_races_pop() {
    for cap in [1, 2] {
        loom::model(move || {
            let (mut tx, mut rx) = Builder::new(cap).policy(Policy::DropOldest).spsc::<usize>();
            let n = cap + 1;
            let consumer = thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.try_recv() {
                    got.push(v);
                }
                (got, rx)
            });
            let mut evicted = Vec::new();
            for i in 0..n {
                if let Sent::Evicted(v) = tx.send(i).unwrap() {
                    evicted.push(v);
                }
            }
            let (mut got, mut rx) = consumer.join().unwrap();
            while let Ok(v) = rx.try_recv() {
                got.push(v);
            }
            let mut all: Vec<usize> = got.iter().chain(evicted.iter()).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "got {got:?} evicted {evicted:?}");
            assert!(got.windows(2).all(|w| w[0] < w[1]));
        });
    }
}
