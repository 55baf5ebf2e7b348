//! A tour of pushpull: backpressure under each policy, then a blocking pipeline and an async
//! one on a tiny local executor (no runtime).
//!
//! Run it with `cargo run --release --example tour`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::{Builder, Policy, SendError, Sent};

const ITEMS: u64 = 2_000;
const CAPACITY: usize = 16;

fn main() {
    println!(
        "== 1. A fast producer, a slow consumer: what each policy does when the queue is full"
    );
    println!(
        "   ({ITEMS} items, one every ~5us, into a queue of {CAPACITY}; the consumer spends \
         ~20us per item)\n"
    );
    for policy in [
        Policy::Block,
        Policy::DropNewest,
        Policy::DropOldest,
        Policy::Reject,
    ] {
        backpressure(policy);
    }

    println!("\n== 2. A three-stage blocking pipeline with bounded memory");
    blocking_pipeline();

    println!("\n== 3. The same pipeline as async tasks on a 60-line local executor");
    async_pipeline();
}

/// The consumer's work: a short busy wait (sleeping would be too coarse on some systems).
fn work(us: u64) {
    let until = Instant::now() + Duration::from_micros(us);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn backpressure(policy: Policy) {
    let (mut tx, mut rx) = Builder::new(CAPACITY).policy(policy).spsc::<u64>();
    let started = Instant::now();
    let consumer = thread::spawn(move || {
        let mut received = 0u64;
        let mut last = None;
        for v in rx.iter() {
            assert!(last < Some(v), "an spsc queue keeps order");
            last = Some(v);
            received += 1;
            work(20);
        }
        (received, last, rx.metrics())
    });
    let (mut evicted, mut rejected, mut dropped) = (0u64, 0u64, 0u64);
    for i in 0..ITEMS {
        work(5);
        match tx.send(i) {
            Ok(Sent::Queued) => {}
            Ok(Sent::DroppedNewest) => dropped += 1,
            Ok(Sent::Evicted(_old)) => evicted += 1,
            Err(SendError::Overloaded(_value)) => rejected += 1,
            Err(SendError::Closed(_)) => unreachable!("the consumer is alive"),
        }
    }
    let producer_done = started.elapsed();
    drop(tx); // closes the queue: the consumer drains what is left, then stops
    let (received, last, metrics) = consumer.join().unwrap();
    let total = started.elapsed();
    println!(
        "{:<11} producer done in {:>6.1?}, consumer in {:>6.1?}: received {received:>4} \
         (last {:>4}), dropped-newest {dropped:>4}, evicted {evicted:>4}, rejected {rejected:>4}",
        format!("{policy:?}:"),
        producer_done,
        total,
        last.unwrap_or(0),
    );
    println!("            counters: {metrics}");
    // Every value is accounted for, exactly once.
    assert_eq!(received + dropped + evicted + rejected, ITEMS);
}

/// source -> square -> sum, each stage a thread, joined by bounded MPMC queues; two workers
/// in the middle stage (a fan-out worker pool).
fn blocking_pipeline() {
    let (numbers_tx, numbers_rx) = pushpull::mpmc::<u64>(64);
    let (squares_tx, squares_rx) = pushpull::mpmc::<u64>(64);
    let started = Instant::now();

    let source = thread::spawn(move || {
        for i in 0..200_000 {
            let _ = numbers_tx.send(i).unwrap();
        }
        numbers_tx.metrics()
    });
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let input = numbers_rx.clone();
            let output = squares_tx.clone();
            thread::spawn(move || {
                for n in &input {
                    let _ = output.send(n * n % 1_000_003).unwrap();
                }
            })
        })
        .collect();
    drop((numbers_rx, squares_tx));
    let sink = thread::spawn(move || {
        let sum: u64 = squares_rx.iter().sum();
        (sum, squares_rx.metrics())
    });

    let first = source.join().unwrap();
    workers.into_iter().for_each(|w| w.join().unwrap());
    let (sum, second) = sink.join().unwrap();
    let expected: u64 = (0..200_000u64).map(|n| n * n % 1_000_003).sum();
    assert_eq!(sum, expected);
    println!(
        "200000 items through 2 bounded queues in {:.1?}; sum {sum}",
        started.elapsed()
    );
    println!(
        "  queue 1 high-water {} of {}, queue 2 high-water {} of {}: memory stays bounded",
        first.high_water, first.capacity, second.high_water, second.capacity
    );
}

fn async_pipeline() {
    let (numbers_tx, numbers_rx) = pushpull::mpmc::<u64>(8);
    let (squares_tx, mut squares_rx) = Builder::new(8).spsc::<u64>();
    let total = Arc::new(Mutex::new(0u64));
    let started = Instant::now();

    let mut executor = LocalExecutor::default();
    executor.spawn(async move {
        for i in 0..50_000 {
            let _ = numbers_tx.send_async(i).await.unwrap();
        }
    });
    let mut squares_tx = squares_tx;
    executor.spawn(async move {
        while let Ok(n) = numbers_rx.recv_async().await {
            let _ = squares_tx.send_async(n * n % 1_000_003).await.unwrap();
        }
    });
    let sum = total.clone();
    executor.spawn(async move {
        while let Ok(s) = squares_rx.recv_async().await {
            *sum.lock().unwrap() += s;
        }
    });
    let polls = executor.run();

    let expected: u64 = (0..50_000u64).map(|n| n * n % 1_000_003).sum();
    assert_eq!(*total.lock().unwrap(), expected);
    println!(
        "50000 items through 3 tasks on one thread in {:.1?} ({polls} polls); sum {expected}",
        started.elapsed()
    );
}

/// A minimal single-threaded executor: a queue of tasks woken and ready to poll.
#[derive(Default)]
struct LocalExecutor {
    tasks: Vec<Option<Pin<Box<dyn Future<Output = ()>>>>>,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
    thread: thread::Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.id);
        self.thread.unpark();
    }
}

impl LocalExecutor {
    fn spawn(&mut self, task: impl Future<Output = ()> + 'static) {
        self.ready.lock().unwrap().push_back(self.tasks.len());
        self.tasks.push(Some(Box::pin(task)));
    }

    /// Runs every task to completion; returns how many polls that took.
    fn run(&mut self) -> u64 {
        let mut polls = 0;
        let mut live = self.tasks.len();
        while live > 0 {
            let next = self.ready.lock().unwrap().pop_front();
            let Some(id) = next else {
                thread::park(); // a waker (from this thread or another) will unpark us
                continue;
            };
            let Some(task) = self.tasks[id].as_mut() else {
                continue; // woken after it finished
            };
            let waker = Waker::from(Arc::new(TaskWaker {
                id,
                ready: self.ready.clone(),
                thread: thread::current(),
            }));
            polls += 1;
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                self.tasks[id] = None;
                live -= 1;
            }
        }
        polls
    }
}
