//! Exercise 5, a cancellable pipeline: a producer that would push forever, a consumer that
//! has had enough after 10 values, and the ways the consumer's "stop" reaches a producer
//! that is blocked on a full queue: close, abort or a deadline on threads; close, a deadline
//! future or dropping the future in async code. Then the leak, when nothing reaches it.
//!
//! Every value is a `Payload` that records its drop in a ledger, so each run can show that
//! every value created was dropped exactly once.
//!
//! Run it with `cargo run --release --example cancellable`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures::future::{select, Either};
use pushpull::{Producer, SendTimeoutError};

/// How long the example waits for a producer that should exit before it reports a failure
/// instead of hanging.
const GIVE_UP: Duration = Duration::from_secs(20);

// === the drop ledger ===

/// One entry per value ever created: how many times it was dropped (1 when all is well).
#[derive(Debug, Default)]
pub struct Ledger {
    drops: Mutex<Vec<u32>>,
}

impl Ledger {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn drops(&self) -> MutexGuard<'_, Vec<u32>> {
        self.drops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new value, entered in the ledger.
    pub fn make(self: &Arc<Self>) -> Payload {
        let mut drops = self.drops();
        drops.push(0);
        Payload {
            id: drops.len() - 1,
            ledger: self.clone(),
        }
    }

    /// Values created so far.
    pub fn created(&self) -> usize {
        self.drops().len()
    }

    /// Values not dropped exactly once: still alive somewhere (leaked), or dropped twice.
    pub fn not_dropped_once(&self) -> usize {
        self.drops().iter().filter(|&&n| n != 1).count()
    }
}

/// The values the pipeline carries.
#[derive(Debug)]
pub struct Payload {
    pub id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.ledger.drops()[self.id] += 1;
    }
}

// === the producer ===

/// How the producer found out it had to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A send failed with `Closed` and handed back the value it could not send (its id).
    Closed { handed_back: usize },
    /// A send's deadline passed; the value came back the same way.
    TimedOut { handed_back: usize },
    /// Its future was dropped in the middle of a send (async only): the send future dropped
    /// its value.
    Dropped,
}

/// The threaded producer: makes values forever. A failed send is its only way out, so it
/// must never ignore one (`let _ = tx.send(v)` here would make it unstoppable). `patience`:
/// `None` waits as long as the queue stays full; `Some(d)` gives up after waiting `d`.
fn produce(mut tx: Producer<Payload>, ledger: &Arc<Ledger>, patience: Option<Duration>) -> Exit {
    loop {
        let value = ledger.make();
        let sent = match patience {
            None => tx.send(value).map_err(SendTimeoutError::from),
            Some(d) => tx.send_timeout(value, d),
        };
        match sent {
            Ok(_) => {}
            // The value comes back in the error; it is dropped here, once, on return.
            Err(SendTimeoutError::Closed(v)) => return Exit::Closed { handed_back: v.id },
            Err(SendTimeoutError::Timeout(v)) => return Exit::TimedOut { handed_back: v.id },
            Err(SendTimeoutError::Overloaded(_)) => unreachable!("Policy::Block never rejects"),
        }
    }
}

/// The async producer, the same loop; `patience` races each send against a deadline future
/// made by `sleep` (any executor's timer).
async fn produce_async<S, D>(
    mut tx: Producer<Payload>,
    ledger: Arc<Ledger>,
    patience: Option<(Duration, S)>,
) -> Exit
where
    S: Fn(Duration) -> D,
    D: Future<Output = ()> + Unpin,
{
    loop {
        let value = ledger.make();
        let sent = match &patience {
            None => tx.send_async(value).await.map_err(SendTimeoutError::from),
            Some((d, sleep)) => tx.send_async_deadline(value, sleep(*d)).await,
        };
        match sent {
            Ok(_) => {}
            Err(SendTimeoutError::Closed(v)) => return Exit::Closed { handed_back: v.id },
            Err(SendTimeoutError::Timeout(v)) => return Exit::TimedOut { handed_back: v.id },
            Err(SendTimeoutError::Overloaded(_)) => unreachable!("Policy::Block never rejects"),
        }
    }
}

// === cancelling on threads ===

/// What the consumer does once it has had `after` values.
#[derive(Debug, Clone, Copy)]
pub enum Cancel {
    /// `close()`: the producer's send fails with `Closed`; what is queued stays, and the
    /// consumer drains it.
    Close,
    /// `abort()`: the same, and what is queued is dropped at once.
    Abort,
    /// Nothing: it stops reading and keeps its end. The producer's sends carry a deadline
    /// (`send_timeout`), so it gives up once it has waited that long.
    Deadline(Duration),
}

/// What a cancelled run did, counted after everything is joined and dropped.
#[derive(Debug)]
pub struct Report {
    /// Values the consumer took before cancelling.
    pub received: usize,
    /// Values it drained after a close.
    pub drained: usize,
    /// What `abort()` returned.
    pub aborted: usize,
    pub exit: Exit,
    /// Values the producer created.
    pub created: usize,
    /// Values the queue dropped (abort, or the consumer dropped with values queued).
    pub discarded: u64,
    /// Values not dropped exactly once (0: nothing leaked, nothing dropped twice).
    pub not_dropped_once: usize,
}

/// Joins `thread` if it finishes before `deadline`; gives it back otherwise.
fn join_by<T>(thread: JoinHandle<T>, deadline: Instant) -> Result<T, JoinHandle<T>> {
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return Err(thread);
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(thread.join().unwrap())
}

/// A producer thread, a consumer on this thread that takes `after` values and then cancels.
pub fn threaded(cancel: Cancel, after: usize, capacity: usize) -> Report {
    let ledger = Ledger::new();
    let (tx, mut rx) = pushpull::spsc::<Payload>(capacity);
    let closer = rx.closer(); // the queue's counters, after both ends are gone
    let patience = match cancel {
        Cancel::Deadline(d) => Some(d),
        Cancel::Close | Cancel::Abort => None,
    };
    let producer = {
        let ledger = ledger.clone();
        thread::spawn(move || produce(tx, &ledger, patience))
    };

    let received = rx.iter().take(after).count(); // each value is dropped at once
    let (mut drained, mut aborted) = (0, 0);
    match cancel {
        Cancel::Close => {
            rx.close(); // wakes the producer if it is blocked in `send`
            drained = rx.iter().count();
        }
        Cancel::Abort => aborted = rx.abort(),
        Cancel::Deadline(_) => {} // keep `rx`, stop reading
    }
    let exit = join_by(producer, Instant::now() + GIVE_UP).expect("the producer did not exit");
    drop(rx);
    Report {
        received,
        drained,
        aborted,
        exit,
        created: ledger.created(),
        discarded: closer.metrics().discarded,
        not_dropped_once: ledger.not_dropped_once(),
    }
}

/// The leak and its release.
#[derive(Debug)]
pub struct LeakReport {
    pub received: usize,
    /// `created()` sampled while the consumer kept its end and read nothing, with whether the
    /// producer thread was still running at that sample.
    pub samples: Vec<(usize, bool)>,
    /// After the supervisor's `close`:
    pub exit: Exit,
    pub created: usize,
    pub discarded: u64,
    pub not_dropped_once: usize,
}

/// The leak: the consumer stops reading after `after` values but keeps its end alive (it is
/// busy elsewhere, or stuck). Nothing closes the queue, and the producer's `send` has no
/// deadline, so it fills the queue and then waits forever, holding one more value. This
/// takes `samples` looks at it, `interval` apart, then a supervisor closes the queue through
/// a `Closer`, which wakes the blocked send.
pub fn leaky(after: usize, capacity: usize, samples: usize, interval: Duration) -> LeakReport {
    let ledger = Ledger::new();
    let (tx, mut rx) = pushpull::spsc::<Payload>(capacity);
    let supervisor = rx.closer();
    let producer = {
        let ledger = ledger.clone();
        thread::spawn(move || produce(tx, &ledger, None))
    };
    let received = rx.iter().take(after).count();

    // The producer fills the queue, makes one more value, and blocks on it.
    let stuck_at = after + capacity + 1;
    let give_up = Instant::now() + GIVE_UP;
    while ledger.created() < stuck_at && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(1));
    }
    let samples = (0..samples)
        .map(|_| {
            thread::sleep(interval);
            (ledger.created(), !producer.is_finished())
        })
        .collect();

    // The fix: a close (or abort) reaches the producer inside its blocked send.
    supervisor.close();
    let exit = join_by(producer, Instant::now() + GIVE_UP).expect("close did not reach it");
    drop(rx);
    LeakReport {
        received,
        samples,
        exit,
        created: ledger.created(),
        discarded: supervisor.metrics().discarded,
        not_dropped_once: ledger.not_dropped_once(),
    }
}

// === cancelling async tasks ===

/// What the async consumer does once it has had `after` values.
#[derive(Debug, Clone, Copy)]
pub enum AsyncCancel {
    /// `close()`: the producer's pending `send_async` resolves to `Closed`.
    Close,
    /// Nothing: it stops reading and keeps its end. The producer races each send against a
    /// deadline future (`send_async_deadline`).
    Deadline(Duration),
    /// It fires a cancel signal; the producer's task races its loop against that signal
    /// (`select`), and drops the loop's future, pending send included, when it fires.
    DropFuture,
}

/// The async pipeline on any executor: `spawn` runs the producer as a task and returns a
/// future of its output; `sleep` makes deadline futures. The consumer is this future.
pub async fn async_pipeline<Sp, H, S, D>(
    cancel: AsyncCancel,
    after: usize,
    capacity: usize,
    spawn: Sp,
    sleep: S,
) -> Report
where
    Sp: FnOnce(Pin<Box<dyn Future<Output = Exit> + Send>>) -> H,
    H: Future<Output = Exit>,
    S: Fn(Duration) -> D + Send + 'static,
    D: Future<Output = ()> + Unpin + Send + 'static,
{
    let ledger = Ledger::new();
    let (tx, mut rx) = pushpull::spsc::<Payload>(capacity);
    let closer = rx.closer();
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let producer = {
        let ledger = ledger.clone();
        spawn(match cancel {
            AsyncCancel::Close => Box::pin(produce_async::<S, D>(tx, ledger, None)),
            AsyncCancel::Deadline(d) => Box::pin(produce_async(tx, ledger, Some((d, sleep)))),
            AsyncCancel::DropFuture => Box::pin(async move {
                let work = Box::pin(produce_async::<S, D>(tx, ledger, None));
                match select(work, stopped).await {
                    Either::Left((exit, _)) => exit,
                    // `select` hands back the unfinished loop; dropping it drops the
                    // pending send future, which drops the value it held.
                    Either::Right((_, work)) => {
                        drop(work);
                        Exit::Dropped
                    }
                }
            }),
        })
    };

    let mut received = 0;
    while received < after && rx.recv_async().await.is_ok() {
        received += 1;
    }
    let mut drained = 0;
    match cancel {
        AsyncCancel::Close => {
            rx.close();
            while rx.recv_async().await.is_ok() {
                drained += 1;
            }
        }
        AsyncCancel::Deadline(_) => {}
        AsyncCancel::DropFuture => {
            let _ = stop.send(());
        }
    }
    let exit = producer.await; // `rx` is still alive: only the cancellation ends the task
    drop(rx);
    Report {
        received,
        drained,
        aborted: 0,
        exit,
        created: ledger.created(),
        discarded: closer.metrics().discarded,
        not_dropped_once: ledger.not_dropped_once(),
    }
}

fn smol_sleep(d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        smol::Timer::after(d).await;
    })
}

fn print(how: &str, r: &Report) {
    println!(
        "{how:<32} received {:>2}, drained {}, exit {:<30} created {:>2}, discarded {}, \
         not dropped exactly once: {}",
        r.received,
        r.drained,
        format!("{:?}", r.exit),
        r.created,
        r.discarded,
        r.not_dropped_once
    );
}

fn main() {
    const AFTER: usize = 10;
    const CAPACITY: usize = 4;
    let patience = Duration::from_millis(100);
    println!("== A producer that pushes forever into a queue of {CAPACITY}; cancelled after {AFTER} values\n");
    println!("-- threads");
    print("close():", &threaded(Cancel::Close, AFTER, CAPACITY));
    let r = threaded(Cancel::Abort, AFTER, CAPACITY);
    print(&format!("abort() (returned {}):", r.aborted), &r);
    print(
        "send_timeout, 100 ms:",
        &threaded(Cancel::Deadline(patience), AFTER, CAPACITY),
    );

    println!("\n-- async tasks (smol)");
    for (how, cancel) in [
        ("close():", AsyncCancel::Close),
        (
            "send_async_deadline, 100 ms:",
            AsyncCancel::Deadline(patience),
        ),
        ("dropping the producer's future:", AsyncCancel::DropFuture),
    ] {
        let r = smol::block_on(async_pipeline(
            cancel,
            AFTER,
            CAPACITY,
            smol::spawn,
            smol_sleep,
        ));
        print(how, &r);
    }

    println!("\n-- the leak: the consumer stops reading but keeps its end, nothing has a deadline");
    let r = leaky(AFTER, CAPACITY, 5, Duration::from_millis(50));
    for (i, (created, alive)) in r.samples.iter().enumerate() {
        println!(
            "  t+{:>3} ms: created {created}, producer thread running: {alive}",
            50 * (i + 1)
        );
    }
    println!(
        "  stuck: {} received, {CAPACITY} queued, 1 in the producer's hands",
        r.received
    );
    println!(
        "  a supervisor's Closer::close() releases it: exit {:?}, created {}, discarded {}, \
         not dropped exactly once: {}",
        r.exit, r.created, r.discarded, r.not_dropped_once
    );
}
