//! Criterion benches of pushpull alone (regressions and profiles). Peer comparisons live in
//! `compare/`.
//!
//! Cross-thread benches time `iters` batches with `iter_custom`: threads are spawned once
//! per sample, meet at a barrier, then move `BATCH * iters` items.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushpull::{Builder, Policy};

const BATCH: u64 = 10_000;

/// One thread, no contention: the cost of a push and a pop.
fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.throughput(Throughput::Elements(1));
    let (mut p, mut q) = pushpull::spsc::<u64>(1024);
    group.bench_function("spsc try_send+try_recv", |b| {
        b.iter(|| {
            p.try_send(black_box(1)).unwrap();
            black_box(q.try_recv().unwrap());
        })
    });
    let (tx, rx) = pushpull::mpmc::<u64>(1024);
    group.bench_function("mpmc try_send+try_recv", |b| {
        b.iter(|| {
            tx.try_send(black_box(1)).unwrap();
            black_box(rx.try_recv().unwrap());
        })
    });
    let (mut p, mut q) = Builder::new(1024).policy(Policy::DropOldest).spsc::<u64>();
    group.bench_function("spsc drop-oldest send+try_recv", |b| {
        b.iter(|| {
            let _ = p.send(black_box(1)).unwrap();
            black_box(q.try_recv().unwrap());
        })
    });
    let (mut p, _q) = Builder::new(16).policy(Policy::DropOldest).spsc::<u64>();
    for i in 0..16 {
        p.try_send(i).unwrap();
    }
    group.bench_function("spsc evicting send (full)", |b| {
        b.iter(|| black_box(p.send(black_box(1)).unwrap()))
    });
    group.finish();
}

/// Times `iters * BATCH` items from one producer thread to one consumer thread.
fn spsc_cross(iters: u64, builder: Builder, blocking: bool) -> Duration {
    let (mut tx, mut rx) = builder.spsc::<u64>();
    let n = iters * BATCH;
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for i in 0..n {
                if blocking {
                    let _ = tx.send(i).unwrap();
                } else {
                    let mut v = i;
                    while let Err(e) = tx.try_send(v) {
                        v = e.into_inner();
                        std::hint::spin_loop();
                    }
                }
            }
        });
        barrier.wait();
        let start = Instant::now();
        let mut sum = 0u64;
        for _ in 0..n {
            sum += if blocking {
                rx.recv().unwrap()
            } else {
                loop {
                    if let Ok(v) = rx.try_recv() {
                        break v;
                    }
                    std::hint::spin_loop();
                }
            };
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        elapsed
    })
}

/// Times `iters * BATCH` items through an MPMC queue with `p` producers and `c` consumers.
fn mpmc_cross(iters: u64, builder: Builder, p: u64, c: u64) -> Duration {
    let (tx, rx) = builder.mpmc::<u64>();
    let per = iters * BATCH / p;
    let barrier = Barrier::new((p + c + 1) as usize);
    thread::scope(|s| {
        for _ in 0..p {
            let tx = tx.clone();
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..per {
                    let _ = tx.send(i).unwrap();
                }
            });
        }
        drop(tx);
        let handles: Vec<_> = (0..c)
            .map(|_| {
                let rx = rx.clone();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    rx.iter().sum::<u64>()
                })
            })
            .collect();
        drop(rx);
        barrier.wait();
        let start = Instant::now();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let elapsed = start.elapsed();
        assert_eq!(sum, p * per * (per - 1) / 2);
        elapsed
    })
}

fn cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_thread");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    for cap in [1usize, 64, 1024] {
        group.bench_with_input(BenchmarkId::new("spsc try (spin)", cap), &cap, |b, &cap| {
            b.iter_custom(|iters| spsc_cross(iters, Builder::new(cap), false))
        });
        group.bench_with_input(BenchmarkId::new("spsc blocking", cap), &cap, |b, &cap| {
            b.iter_custom(|iters| spsc_cross(iters, Builder::new(cap), true))
        });
        group.bench_with_input(
            BenchmarkId::new("mpmc 1x1 blocking", cap),
            &cap,
            |b, &cap| b.iter_custom(|iters| mpmc_cross(iters, Builder::new(cap), 1, 1)),
        );
        group.bench_with_input(
            BenchmarkId::new("mpmc 4x4 blocking", cap),
            &cap,
            |b, &cap| b.iter_custom(|iters| mpmc_cross(iters, Builder::new(cap), 4, 4)),
        );
    }
    group.bench_function(BenchmarkId::new("mpmc 1x1 blocking", 0), |b| {
        b.iter_custom(|iters| mpmc_cross(iters, Builder::new(0), 1, 1))
    });
    group.finish();
}

/// What the options cost, side by side in one run (docs/PERFORMANCE.md): the exact
/// high-water mark against the sampled one, and a consumer that takes each item with a
/// read-modify-write (the drop-oldest ring's consumer does; an exact SPSC abort from the
/// producer would need it on every ring) against the plain ring's plain loads and stores.
fn costs(c: &mut Criterion) {
    let mut group = c.benchmark_group("costs");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    let cap = 1024;
    let sampled = Builder::new(cap);
    let exact = Builder::new(cap).exact_high_water();
    let rmw = Builder::new(cap).policy(Policy::DropOldest);
    for (name, builder) in [
        ("spsc spin, sampled high-water", sampled),
        ("spsc spin, exact high-water", exact),
        ("spsc spin, consumer RMW per item (drop-oldest ring)", rmw),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| spsc_cross(iters, builder, false))
        });
    }
    for (name, builder) in [
        ("mpmc 1x1 blocking, sampled high-water", sampled),
        ("mpmc 1x1 blocking, exact high-water", exact),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| mpmc_cross(iters, builder, 1, 1))
        });
    }
    group.finish();
}

criterion_group!(benches, uncontended, cross_thread, costs);
criterion_main!(benches);
