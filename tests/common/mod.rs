//! Helpers shared by the async test files: the same scenario on several executors, a
//! runtime-agnostic sleep, wakers that count, and a drop-counting payload.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An executor the async scenarios run on.
pub enum Exec {
    Tokio(tokio::runtime::Runtime),
    Smol,
    Futures(futures::executor::ThreadPool),
}

impl Exec {
    /// Every executor: tokio's multi-thread runtime, smol, futures' thread pool.
    pub fn all() -> Vec<Exec> {
        vec![
            Exec::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            Exec::Smol,
            Exec::Futures(
                futures::executor::ThreadPool::builder()
                    .pool_size(2)
                    .create()
                    .unwrap(),
            ),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Exec::Tokio(_) => "tokio",
            Exec::Smol => "smol",
            Exec::Futures(_) => "futures",
        }
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        match self {
            Exec::Tokio(rt) => rt.block_on(f),
            Exec::Smol => smol::block_on(f),
            Exec::Futures(_) => futures::executor::block_on(f),
        }
    }

    /// Spawns a task; the returned future is its output.
    pub fn spawn<F>(&self, f: F) -> BoxFuture<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Exec::Tokio(rt) => {
                let handle = rt.spawn(f);
                Box::pin(async move { handle.await.unwrap() })
            }
            Exec::Smol => Box::pin(smol::spawn(f)),
            Exec::Futures(pool) => {
                use futures::task::SpawnExt;
                Box::pin(pool.spawn_with_handle(f).unwrap())
            }
        }
    }

    /// A sleep for this executor, as a deadline (a pinned `Future<Output = ()>`).
    pub fn sleep(&self, d: Duration) -> BoxFuture<()> {
        match self {
            Exec::Tokio(rt) => {
                let _guard = rt.enter();
                Box::pin(tokio::time::sleep(d))
            }
            Exec::Smol => Box::pin(async move {
                smol::Timer::after(d).await;
            }),
            Exec::Futures(_) => thread_sleep(d),
        }
    }
}

/// A sleep that needs no runtime: a thread completes a oneshot.
pub fn thread_sleep(d: Duration) -> BoxFuture<()> {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = tx.send(());
    });
    Box::pin(async move {
        let _ = rx.await;
    })
}

/// A generous deadline for "this must happen" waits: long enough never to fire on a loaded
/// machine when the code is right, short enough to fail a broken test instead of hanging.
pub const GENEROUS: Duration = Duration::from_secs(20);

/// A waker that counts its wake-ups.
#[derive(Default)]
pub struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub fn new() -> (Arc<Self>, Waker) {
        let inner = Arc::new(Self::default());
        let waker = Waker::from(inner.clone());
        (inner, waker)
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `f` once with `waker`.
pub fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// A payload that records its drop in a shared counter per id.
pub struct Tracked {
    pub id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Tracked {
    pub fn new(id: usize, drops: &Arc<Vec<AtomicUsize>>) -> Self {
        Self {
            id,
            drops: drops.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

/// Per-id drop counters for `n` ids.
pub fn drop_counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

pub fn drops_of(counters: &Arc<Vec<AtomicUsize>>) -> Vec<usize> {
    counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// Built with a sanitizer (`ci/tsan.sh` exports `RUSTFLAGS=-Zsanitizer=thread`): heavy tests
/// (millions of values) skip themselves there, as they are ignored under Miri.
pub fn sanitized_build() -> bool {
    let flags = |f: Option<&str>| f.is_some_and(|f| f.contains("sanitizer"));
    flags(option_env!("RUSTFLAGS")) || flags(std::env::var("RUSTFLAGS").ok().as_deref())
}
