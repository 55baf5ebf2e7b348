//! Ping-pong: two threads, two queues of capacity 1, one value bouncing between them with
//! blocking `send`/`recv`. Each round trip is timed on its own; a run reports the 50th and
//! 99th percentile.

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crate::blocking::{fits, Blocking, Crossbeam, Flume, Kanal, PpMpmc, PpSpsc, StdSync};
use crate::cell::{Cell, Impl, Metric, Sizes};
use crate::check::{value, verify, Flow, Tally};

const PERCENTILES: &[Metric] = &[
    Metric {
        name: "p50 ns",
        higher_is_better: false,
    },
    Metric {
        name: "p99 ns",
        higher_is_better: false,
    },
];

const CAP: usize = 1;

/// One checked run of `rounds` round trips; returns [p50, p99] in ns.
fn run<C: Blocking>(label: &str, rounds: u64) -> Vec<f64> {
    let (mut ping_tx, mut ping_rx) = C::new::<u64>(CAP);
    let (mut pong_tx, mut pong_rx) = C::new::<u64>(CAP);
    let barrier = Barrier::new(2);
    let mut rtt = Vec::with_capacity(rounds as usize);
    let (back, echoed) = thread::scope(|sc| {
        let barrier = &barrier;
        let echo = sc.spawn(move || {
            barrier.wait();
            let mut t = Tally::new();
            while let Some(v) = C::recv(&mut ping_rx) {
                t.add(v);
                C::send(&mut pong_tx, v);
            }
            t // dropping pong_tx closes the pong queue
        });
        barrier.wait();
        let mut back = Tally::new();
        for i in 0..rounds {
            let start = Instant::now();
            C::send(&mut ping_tx, value(0, i));
            let v = C::recv(&mut pong_rx);
            rtt.push(start.elapsed().as_nanos() as u64);
            match v {
                Some(v) => back.add(v),
                None => panic!("CHECK FAILED: {}: pong queue closed early", C::NAME),
            }
        }
        drop(ping_tx);
        assert!(
            C::recv(&mut pong_rx).is_none(),
            "CHECK FAILED: {}: extra value",
            C::NAME
        );
        (back, echo.join().unwrap())
    });
    let f = Flow {
        label,
        producers: 1,
        consumers: 1,
        cap: CAP,
        items: rounds,
    };
    verify(C::NAME, &f, &[echoed]);
    verify(C::NAME, &f, &[back]);
    rtt.sort_unstable();
    let at = |q: f64| rtt[((rtt.len() - 1) as f64 * q).round() as usize] as f64;
    vec![at(0.50), at(0.99)]
}

fn entry<C: Blocking>(label: &str) -> Option<Impl> {
    let label = label.to_string();
    fits::<C>(1, 1, CAP).then(|| Impl {
        name: C::NAME,
        run: Box::new(move |rounds| run::<C>(&label, rounds)),
    })
}

pub fn ping_pong(sizes: Sizes) -> Vec<Cell> {
    let label = format!("blocking ping-pong RTT cap={CAP}");
    let impls = [
        entry::<PpSpsc>(&label),
        entry::<PpMpmc>(&label),
        entry::<Crossbeam>(&label),
        entry::<Kanal>(&label),
        entry::<Flume>(&label),
        entry::<StdSync>(&label),
    ]
    .into_iter()
    .flatten()
    .collect();
    vec![Cell {
        label,
        work: sizes.pick(100_000, 5_000),
        unit: "rounds",
        metrics: PERCENTILES,
        impls,
        skipped: None,
    }]
}
