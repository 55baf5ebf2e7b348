//! Guide, exercise 5: the cancellable pipeline of examples/cancellable.rs.

#[path = "../examples/cancellable.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::future::Future;
use std::pin::{pin, Pin};
use std::thread;
use std::time::{Duration, Instant};

use common::{Exec, GENEROUS};
use example::{async_pipeline, leaky, threaded, AsyncCancel, Cancel, Exit, Report};
use futures::future::{select, Either};

const AFTER: usize = 10;
const CAPACITY: usize = 4;
/// The producers' patience in the deadline variants: part of the mechanism, not a timing
/// assertion. Generous, so that a consumer descheduled on a busy machine is not mistaken for
/// one that stopped reading.
const PATIENCE: Duration = Duration::from_millis(300);

/// Runs `f` on its own thread; fails (instead of hanging) if it is not done within
/// `GENEROUS`, and passes its panic on.
fn within_generous<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let run = thread::spawn(f);
    let deadline = Instant::now() + GENEROUS;
    while !run.is_finished() {
        assert!(Instant::now() < deadline, "the run did not finish");
        thread::sleep(Duration::from_millis(1));
    }
    run.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// What every cancelled run must show: the consumer got its values, the producer exited
/// holding exactly one unsent value (the last created), and every value was dropped once.
fn exited_without_leak(what: &str, r: &Report) {
    assert_eq!(r.received, AFTER, "{what}: {r:?}");
    assert_eq!(
        r.not_dropped_once, 0,
        "{what}: a value leaked or was dropped twice: {r:?}"
    );
    match r.exit {
        Exit::Closed { handed_back } | Exit::TimedOut { handed_back } => {
            assert_eq!(handed_back, r.created - 1, "{what}: {r:?}")
        }
        Exit::Dropped => {}
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn threaded_producer_exits_on_close_abort_or_deadline_and_leaks_nothing() {
    let r = within_generous(|| threaded(Cancel::Close, AFTER, CAPACITY));
    exited_without_leak("close", &r);
    assert!(matches!(r.exit, Exit::Closed { .. }), "{r:?}");
    // Drain-close: what was queued went to the consumer, nothing was discarded.
    assert_eq!(r.created, r.received + r.drained + 1, "{r:?}");
    assert_eq!(r.discarded, 0);

    let r = within_generous(|| threaded(Cancel::Abort, AFTER, CAPACITY));
    exited_without_leak("abort", &r);
    assert!(matches!(r.exit, Exit::Closed { .. }), "{r:?}");
    assert_eq!(r.created, r.received + r.discarded as usize + 1, "{r:?}");
    assert_eq!(
        r.aborted as u64, r.discarded,
        "abort's count is exact: {r:?}"
    );

    let r = within_generous(|| threaded(Cancel::Deadline(PATIENCE), AFTER, CAPACITY));
    exited_without_leak("deadline", &r);
    assert!(matches!(r.exit, Exit::TimedOut { .. }), "{r:?}");
    // It filled the queue, then timed out on one more: the queued ones went with the consumer.
    assert_eq!(r.created, AFTER + CAPACITY + 1, "{r:?}");
    assert_eq!(r.discarded, CAPACITY as u64);
}

/// A deadline-future maker for `exec`, callable from its tasks.
fn sleeper(exec: &Exec) -> fn(Duration) -> common::BoxFuture<()> {
    match exec {
        Exec::Tokio(_) => |d| Box::pin(tokio::time::sleep(d)),
        Exec::Smol => |d| {
            Box::pin(async move {
                smol::Timer::after(d).await;
            })
        },
        Exec::Futures(_) => common::thread_sleep,
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn async_producer_exits_on_close_deadline_or_drop_on_every_executor_and_leaks_nothing() {
    for exec in Exec::all() {
        for cancel in [
            AsyncCancel::Close,
            AsyncCancel::Deadline(PATIENCE),
            AsyncCancel::DropFuture,
        ] {
            let what = format!("{} {cancel:?}", exec.name());
            let run = async_pipeline(
                cancel,
                AFTER,
                CAPACITY,
                |task: Pin<Box<dyn Future<Output = Exit> + Send>>| exec.spawn(task),
                sleeper(&exec),
            );
            let r = exec.block_on(async {
                match select(pin!(run), exec.sleep(GENEROUS)).await {
                    Either::Left((r, _)) => r,
                    Either::Right(_) => panic!("{what}: the producer task did not exit"),
                }
            });
            exited_without_leak(&what, &r);
            match cancel {
                AsyncCancel::Close => {
                    assert!(matches!(r.exit, Exit::Closed { .. }), "{what}: {r:?}");
                    assert_eq!(r.created, r.received + r.drained + 1, "{what}: {r:?}");
                    assert_eq!(r.discarded, 0, "{what}");
                }
                AsyncCancel::Deadline(_) => {
                    assert!(matches!(r.exit, Exit::TimedOut { .. }), "{what}: {r:?}");
                    assert_eq!(r.created, AFTER + CAPACITY + 1, "{what}: {r:?}");
                    assert_eq!(r.discarded, CAPACITY as u64, "{what}");
                }
                AsyncCancel::DropFuture => {
                    assert_eq!(r.exit, Exit::Dropped, "{what}");
                    // One value was inside the dropped send future: it was dropped with it
                    // (`not_dropped_once == 0` above), the queued ones with the consumer.
                    assert_eq!(
                        r.created,
                        r.received + r.discarded as usize + 1,
                        "{what}: {r:?}"
                    );
                }
            }
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "guide demonstration: threads and sleeps; the core's unsafe code is covered by the other suites"
)]
fn producer_stays_blocked_while_the_consumer_keeps_its_end_until_a_close_reaches_it() {
    let r = within_generous(|| leaky(AFTER, CAPACITY, 3, Duration::from_millis(20)));
    assert_eq!(r.received, AFTER);
    // While the consumer reads nothing and keeps its end, the producer is alive and makes
    // nothing: the queue is full and it holds one more value, blocked in `send`.
    let stuck = AFTER + CAPACITY + 1;
    assert_eq!(r.samples, vec![(stuck, true); 3], "{r:?}");
    // The supervisor's close reached it inside that send, which handed the value back.
    assert_eq!(
        r.exit,
        Exit::Closed {
            handed_back: stuck - 1
        }
    );
    assert_eq!(r.created, stuck);
    assert_eq!(r.discarded, CAPACITY as u64);
    assert_eq!(r.not_dropped_once, 0, "{r:?}");
}
