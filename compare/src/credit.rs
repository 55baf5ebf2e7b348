//! The credit gate's cost: the same blocking flows on pushpull queues with and without a
//! gate (`Builder::credits`). Only pushpull has one, so these cells compare pushpull with
//! itself:
//!
//! - `pushpull spsc` / `pushpull mpmc`: no gate;
//! - `... credit/1`: a window of `cap` credits, the consumer granting one credit per value
//!   it receives (the most grants: one read-modify-write per value on each side);
//! - `... credit/64`: the same window, granted back 64 at a time (as HTTP/2 peers send a
//!   window update once part of the window is used).
//!
//! Every value is checked (count, sum, order), as everywhere.

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crate::cell::{flow_label, Cell, Impl, Sizes};
use crate::check::{split, value, verify, Flow, Span, Tally};

/// How the consumer grants credit back.
#[derive(Clone, Copy)]
enum Grant {
    /// No gate.
    None,
    /// A window of `cap` credits, `n` granted back after every `n` values received.
    Every(usize),
}

fn name(mpmc: bool, g: Grant) -> &'static str {
    match (mpmc, g) {
        (false, Grant::None) => "pushpull spsc",
        (false, Grant::Every(1)) => "pushpull spsc credit/1",
        (false, _) => "pushpull spsc credit/64",
        (true, Grant::None) => "pushpull mpmc",
        (true, Grant::Every(1)) => "pushpull mpmc credit/1",
        (true, _) => "pushpull mpmc credit/64",
    }
}

fn builder(cap: usize, g: Grant) -> pushpull::Builder {
    match g {
        Grant::None => pushpull::Builder::new(cap),
        Grant::Every(_) => pushpull::Builder::new(cap).credits(cap),
    }
}

/// The consumer's side: receive until `n` values, granting back as `g` says.
fn consume(mut recv: impl FnMut() -> Option<u64>, grant: impl Fn(usize), n: u64, g: Grant) -> Tally {
    let mut t = Tally::new();
    let mut owed = 0;
    while t.count < n {
        let v = recv().expect("CHECK FAILED: closed early");
        t.add(v);
        if let Grant::Every(k) = g {
            owed += 1;
            if owed == k {
                grant(k);
                owed = 0;
            }
        }
    }
    t
}

fn run_spsc(f: &Flow, g: Grant) -> Vec<f64> {
    let (mut tx, mut rx) = builder(f.cap, g).spsc::<u64>();
    let n = f.total();
    let barrier = Barrier::new(2);
    let (span, tally) = thread::scope(|sc| {
        let barrier = &barrier;
        let producer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            for i in 0..n {
                let _ = tx.send(value(0, i)).expect("CHECK FAILED: send");
            }
            (start, Instant::now())
        });
        let consumer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let rx = std::cell::RefCell::new(&mut rx);
            let t = consume(
                || rx.borrow_mut().recv().ok(),
                |k| rx.borrow().grant(k),
                n,
                g,
            );
            (start, Instant::now(), t)
        });
        let mut span = Span::new();
        let (s, e) = producer.join().unwrap();
        span.add(s, e);
        let (s, e, t) = consumer.join().unwrap();
        span.add(s, e);
        (span, t)
    });
    verify(name(false, g), f, &[tally]);
    vec![n as f64 / span.secs() / 1e6]
}

fn run_mpmc(f: &Flow, g: Grant) -> Vec<f64> {
    let (tx, rx) = builder(f.cap, g).mpmc::<u64>();
    let per = f.per_producer();
    let n = f.total();
    let barrier = Barrier::new(f.producers + 1);
    let senders = split(tx, f.producers, |t| t.clone());
    let (span, tally) = thread::scope(|sc| {
        let barrier = &barrier;
        let producers: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(p, tx)| {
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per {
                        let _ = tx.send(value(p, i)).expect("CHECK FAILED: send");
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        let rx = &rx;
        let consumer = sc.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let t = consume(|| rx.recv().ok(), |k| rx.grant(k), n, g);
            (start, Instant::now(), t)
        });
        let mut span = Span::new();
        for p in producers {
            let (s, e) = p.join().unwrap();
            span.add(s, e);
        }
        let (s, e, t) = consumer.join().unwrap();
        span.add(s, e);
        (span, t)
    });
    verify(name(true, g), f, &[tally]);
    vec![n as f64 / span.secs() / 1e6]
}

fn entry(label: &str, producers: usize, cap: usize, mpmc: bool, g: Grant) -> Impl {
    let label = label.to_string();
    Impl {
        name: name(mpmc, g),
        run: Box::new(move |items| {
            let f = Flow {
                label: &label,
                producers,
                consumers: 1,
                cap,
                items,
            };
            if mpmc {
                run_mpmc(&f, g)
            } else {
                run_spsc(&f, g)
            }
        }),
    }
}

/// Blocking SPSC 1P/1C and MPSC 4P/1C at capacity 1024, each with and without a gate.
pub fn matrix(sizes: Sizes) -> Vec<Cell> {
    let cap = 1024;
    let grants = [Grant::None, Grant::Every(1), Grant::Every(64)];
    let mut cells = Vec::new();
    let label = format!("credit {}", flow_label(1, 1, cap));
    let mut impls: Vec<Impl> = grants
        .iter()
        .map(|&g| entry(&label, 1, cap, false, g))
        .collect();
    impls.extend(grants.iter().map(|&g| entry(&label, 1, cap, true, g)));
    cells.push(Cell::throughput(label, sizes.items(cap), impls));
    let label = format!("credit {}", flow_label(4, 1, cap));
    let impls = grants
        .iter()
        .map(|&g| entry(&label, 4, cap, true, g))
        .collect();
    cells.push(Cell::throughput(label, sizes.items(cap), impls));
    cells
}
