//! Queues' counters in the Prometheus / OpenMetrics text format (feature `metrics`).
//!
//! A [`QueueRegistry`] holds named queues, each by its [`Closer`] (so queues of any item
//! type, MPMC or SPSC, fit in one registry), and renders every queue's
//! [`metrics()`](Closer::metrics) with [`prometheus-client`](prometheus_client), the
//! Prometheus project's own Rust client. Serve [`encode`](QueueRegistry::encode) on
//! `GET /metrics` with the content type [`CONTENT_TYPE`], or put the queues into a
//! `prometheus_client` registry you already serve, with
//! [`register_into`](QueueRegistry::register_into).
//!
//! ```
//! use pushpull::prometheus::QueueRegistry;
//! use pushpull::{Builder, Policy};
//!
//! let (tx, rx) = Builder::new(2).policy(Policy::DropOldest).mpmc::<u32>();
//! let queues = QueueRegistry::new();
//! queues.register("ingest", tx.closer());
//!
//! for i in 0..3 {
//!     let _ = tx.send(i).unwrap(); // the third send evicts 0
//! }
//! assert_eq!(rx.recv(), Ok(1));
//!
//! let text = queues.encode();
//! assert!(text.contains("pushpull_sent_total{queue=\"ingest\"} 3\n"));
//! assert!(text.contains("pushpull_received_total{queue=\"ingest\"} 1\n"));
//! assert!(text.contains("pushpull_evicted_oldest_total{queue=\"ingest\"} 1\n"));
//! assert!(text.contains("pushpull_len{queue=\"ingest\"} 1\n"));
//! assert!(text.ends_with("# EOF\n"));
//! ```
//!
//! # Metric families
//!
//! Every family has one sample per queue, labelled `queue="NAME"`:
//!
//! | family | type | from [`Metrics`] |
//! | --- | --- | --- |
//! | `pushpull_sent_total` | counter | `sent` |
//! | `pushpull_received_total` | counter | `received` |
//! | `pushpull_dropped_newest_total` | counter | `dropped_newest` |
//! | `pushpull_evicted_oldest_total` | counter | `evicted_oldest` |
//! | `pushpull_rejected_total` | counter | `rejected` |
//! | `pushpull_discarded_total` | counter | `discarded` |
//! | `pushpull_send_waits_total` | counter | `send_waits` |
//! | `pushpull_credit_waits_total` | counter | `credit_waits` |
//! | `pushpull_credits_granted_total` | counter | `credits_granted` |
//! | `pushpull_batches_sent_total` | counter | `batches_sent` |
//! | `pushpull_batches_received_total` | counter | `batches_received` |
//! | `pushpull_len` | gauge | `len` |
//! | `pushpull_capacity` | gauge | `capacity` |
//! | `pushpull_high_water` | gauge | `high_water` |
//! | `pushpull_credits_available` | gauge | `credits_available` |
//! | `pushpull_closed` | gauge | [`Closer::is_closed`]: 1 or 0 |
//!
//! (`credits_spent` is left out: it is `credits_granted - credits_available`, and it falls
//! when a send gives back a credit it took, so it is no counter.)
//!
//! # Counters only go up
//!
//! A counter must never fall while its queue is registered, or Prometheus takes the fall
//! for a restart. A snapshot taken while the queue runs reads its figures one at a time,
//! and `received` is derived (values taken out of the queue minus those evicted or
//! discarded), so two snapshots a moment apart can disagree slightly under
//! [`DropOldest`](crate::Policy::DropOldest). The registry therefore reports, for each
//! queue, the largest value it reported so far whenever a snapshot comes out a little lower,
//! and never reports more values received than sent. A counter that falls by more than
//! 2^31 is not a race but a wrap: `sent` and `received` count modulo the queue's position
//! range (2^51 values and more for MPMC queues up to capacity 1024, 2^33 at the largest
//! capacity, 2^64 for SPSC queues), and credit counters modulo the machine word. A wrap is
//! reported as it is, which Prometheus' `rate()` and `increase()` take for a counter reset.
//! Once a queue is quiescent, the numbers reported equal its [`metrics()`](Closer::metrics)
//! (a `received` held up by a race stays until the true count passes it, by the next
//! values received).
//!
//! # How long a queue stays registered
//!
//! Until [`remove`](QueueRegistry::remove)d (or dropped by
//! [`retain`](QueueRegistry::retain)). A [`Closer`] does not keep a queue open, so when a
//! queue's ends are dropped it closes as usual (`pushpull_closed` becomes 1) and its values
//! are dropped with its last receiver; but the registry's closer keeps the queue's shared
//! state (the ring's slots and the counters) allocated, and its final counters keep being
//! reported, so the last scrape sees them. Remove a queue when you are done with it; to
//! forget every closed queue, `queues.retain(|_, q| !q.is_closed())`.

use core::fmt::{self, Write as _};
use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::loom::sync::{lock, Arc, Mutex};
use crate::{Closer, Metrics};

/// The `prometheus-client` crate this module renders with (0.22), for
/// [`register_into`](QueueRegistry::register_into) and the [`Collector`] implementation.
pub use prometheus_client;

/// The HTTP `Content-Type` of [`QueueRegistry::encode`]'s text: the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A counter family: its name (the text format appends `_total`), help, and field.
struct CounterFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&Metrics) -> u64,
}

/// The counters, `sent` and `received` first (see [`Entry::update`]).
const COUNTERS: [CounterFamily; 11] = [
    CounterFamily {
        name: "pushpull_sent",
        help: "Values that entered the queue: sends that queued or evicted, successful \
               try_sends, permits' sends (modulo the queue's position range).",
        value: |m| m.sent,
    },
    CounterFamily {
        name: "pushpull_received",
        help: "Values handed to a receiver (modulo the queue's position range).",
        value: |m| m.received,
    },
    CounterFamily {
        name: "pushpull_dropped_newest",
        help: "Values a full DropNewest queue dropped on send (a try_send that finds the \
               queue full is not counted).",
        value: |m| m.dropped_newest,
    },
    CounterFamily {
        name: "pushpull_evicted_oldest",
        help: "Queued values a full DropOldest queue evicted to make room.",
        value: |m| m.evicted_oldest,
    },
    CounterFamily {
        name: "pushpull_rejected",
        help: "Sends a full Reject queue refused with Overloaded (a try_send that finds the \
               queue full is not counted).",
        value: |m| m.rejected,
    },
    CounterFamily {
        name: "pushpull_discarded",
        help: "Queued values dropped by abort or because every receiver was gone.",
        value: |m| m.discarded,
    },
    CounterFamily {
        name: "pushpull_send_waits",
        help: "Sends and reservations that found the queue full and waited for room, each \
               counted once however long it waited: under Block, the backpressure the \
               producers felt.",
        value: |m| m.send_waits,
    },
    CounterFamily {
        name: "pushpull_credit_waits",
        help: "Sends and reservations that waited for credit (queues with a credit gate).",
        value: |m| m.credit_waits,
    },
    CounterFamily {
        name: "pushpull_credits_granted",
        help: "Credits granted to the queue's credit gate, the starting credits included \
               (0 without a gate).",
        value: |m| m.credits_granted,
    },
    CounterFamily {
        name: "pushpull_batches_sent",
        help: "Batch sends that sent at least one value.",
        value: |m| m.batches_sent,
    },
    CounterFamily {
        name: "pushpull_batches_received",
        help: "Batch receives that took at least one value.",
        value: |m| m.batches_received,
    },
];

/// A gauge family.
struct GaugeFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&Sample) -> i64,
}

const GAUGES: [GaugeFamily; 5] = [
    GaugeFamily {
        name: "pushpull_len",
        help: "Values queued at the scrape.",
        value: |s| gauge(s.metrics.len as u64),
    },
    GaugeFamily {
        name: "pushpull_capacity",
        help: "The most values the queue holds.",
        value: |s| gauge(s.metrics.capacity as u64),
    },
    GaugeFamily {
        name: "pushpull_high_water",
        help: "The largest queue length seen: a sample of the peak, exact once the queue \
               has been full, or with Builder::exact_high_water.",
        value: |s| gauge(s.metrics.high_water as u64),
    },
    GaugeFamily {
        name: "pushpull_credits_available",
        help: "Credits available now (0 without a credit gate).",
        value: |s| gauge(s.metrics.credits_available),
    },
    GaugeFamily {
        name: "pushpull_closed",
        help: "1 if the queue is closed, else 0.",
        value: |s| i64::from(s.closed),
    },
];

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A fall larger than this is a wrap of the counter, not a race between snapshots.
const WRAP: u64 = 1 << 31;

/// The value to report for a counter last reported as `last`, now read as `now`.
fn monotone(last: u64, now: u64) -> u64 {
    if now >= last || last - now > WRAP {
        now
    } else {
        last
    }
}

/// One registered queue.
struct Entry {
    queue: Closer,
    /// The counters as last reported, in the order of [`COUNTERS`].
    reported: [u64; COUNTERS.len()],
}

impl Entry {
    fn new(queue: Closer) -> Self {
        Self {
            queue,
            reported: [0; COUNTERS.len()],
        }
    }

    /// Takes a snapshot and works out the counters to report.
    fn update(&mut self) -> Sample {
        let metrics = self.queue.metrics();
        let closed = self.queue.is_closed();
        advance(&mut self.reported, &metrics);
        Sample {
            counters: self.reported,
            metrics,
            closed,
        }
    }
}

/// Moves the counters last reported to those of the snapshot `m`, keeping them from falling
/// (see the module docs).
fn advance(reported: &mut [u64; COUNTERS.len()], m: &Metrics) {
    for (i, family) in COUNTERS.iter().enumerate() {
        let mut now = (family.value)(m);
        // `received` (index 1) is derived from figures read one at a time, and a snapshot
        // racing an eviction can even put it below zero (a huge number). The values
        // received never exceed the values sent (`sent`, index 0, is done first): a larger
        // value is such a race, or `received` before `sent` wrapped; either way the last
        // value stands.
        if i == 1 && now > reported[0] {
            now = reported[1];
        }
        reported[i] = monotone(reported[i], now);
    }
}

/// What one scrape reports for one queue.
struct Sample {
    counters: [u64; COUNTERS.len()],
    metrics: Metrics,
    closed: bool,
}

/// The `queue="NAME"` label, escaped as the text format requires (`\`, `"` and newlines).
struct QueueLabel<'a>(&'a str);

impl EncodeLabelSet for QueueLabel<'_> {
    fn encode(&self, mut encoder: LabelSetEncoder<'_>) -> fmt::Result {
        let mut label = encoder.encode_label();
        let mut key = label.encode_label_key()?;
        key.write_str("queue")?;
        let mut value = key.encode_label_value()?;
        for c in self.0.chars() {
            match c {
                '\\' => value.write_str("\\\\")?,
                '"' => value.write_str("\\\"")?,
                '\n' => value.write_str("\\n")?,
                c => value.write_char(c)?,
            }
        }
        value.finish()
    }
}

/// Named queues whose counters render in the Prometheus / OpenMetrics text format.
///
/// Queues are registered by their [`Closer`] (from the `closer()` method of any end), so a
/// registry holds queues of any item type and flavor. Clones share the same set of queues:
/// keep one clone in the code that builds queues and hand another to the HTTP handler.
///
/// Render it with [`encode`](Self::encode), or add it to a `prometheus_client` registry with
/// [`register_into`](Self::register_into) (it is a [`Collector`]: each scrape of that
/// registry takes a fresh snapshot of every queue). See the [module docs](self) for the
/// metric families, why counters never fall, and how long a queue stays registered.
///
/// ```
/// use pushpull::prometheus::QueueRegistry;
///
/// let (tx, _rx) = pushpull::mpmc::<u64>(8);
/// let (mut log_tx, _log_rx) = pushpull::spsc::<String>(4);
///
/// let queues = QueueRegistry::new();
/// queues.register("jobs", tx.closer());
/// queues.register("log", log_tx.closer());
///
/// let _ = tx.send(7).unwrap();
/// let _ = log_tx.send("started".into()).unwrap();
/// let text = queues.encode();
/// assert!(text.contains("# TYPE pushpull_len gauge\n"));
/// assert!(text.contains("pushpull_len{queue=\"jobs\"} 1\n"));
/// assert!(text.contains("pushpull_capacity{queue=\"log\"} 4\n"));
///
/// let log = queues.remove("log").unwrap();
/// assert!(log.same_queue(&log_tx.closer()));
/// assert!(!queues.encode().contains("queue=\"log\""));
/// ```
#[derive(Clone, Default)]
pub struct QueueRegistry {
    queues: Arc<Mutex<BTreeMap<String, Entry>>>,
}

impl QueueRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `queue` under `name`, the value of its `queue` label. Any string will do:
    /// quotes, backslashes and newlines are escaped in the text. Returns the queue that was
    /// registered under `name` before, which this one replaces (its counters start afresh,
    /// so a scrape sees a counter reset if the new queue counts less).
    pub fn register(&self, name: impl Into<String>, queue: Closer) -> Option<Closer> {
        lock(&self.queues)
            .insert(name.into(), Entry::new(queue))
            .map(|old| old.queue)
    }

    /// Removes the queue registered under `name`, and returns it. Its samples are no longer
    /// rendered; the registry no longer keeps its shared state alive.
    pub fn remove(&self, name: &str) -> Option<Closer> {
        lock(&self.queues).remove(name).map(|e| e.queue)
    }

    /// The queue registered under `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Closer> {
        lock(&self.queues).get(name).map(|e| e.queue.clone())
    }

    /// Keeps only the queues for which `keep(name, queue)` returns `true`: for example
    /// `retain(|_, q| !q.is_closed())` forgets every closed queue.
    ///
    /// `keep` runs without the registry's lock held, so it may use the registry; a queue
    /// registered under one of the names meanwhile is kept.
    pub fn retain(&self, mut keep: impl FnMut(&str, &Closer) -> bool) {
        let queues: Vec<(String, Closer)> = lock(&self.queues)
            .iter()
            .map(|(name, e)| (name.clone(), e.queue.clone()))
            .collect();
        let doomed: Vec<(String, Closer)> = queues
            .into_iter()
            .filter(|(name, queue)| !keep(name, queue))
            .collect();
        let mut map = lock(&self.queues);
        for (name, queue) in doomed {
            if map.get(&name).is_some_and(|e| e.queue.same_queue(&queue)) {
                map.remove(&name);
            }
        }
    }

    /// The number of registered queues.
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.queues).len()
    }

    /// Whether no queue is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds these queues to a `prometheus_client` registry: each time that registry is
    /// encoded, it renders every queue registered here at that moment (under the
    /// registry's prefix and constant labels, if it has any), beside your own metrics.
    ///
    /// ```
    /// use pushpull::prometheus::prometheus_client::encoding::text::encode;
    /// use pushpull::prometheus::prometheus_client::metrics::counter::Counter;
    /// use pushpull::prometheus::prometheus_client::registry::Registry;
    /// use pushpull::prometheus::QueueRegistry;
    ///
    /// let mut registry = Registry::with_prefix("app");
    /// let requests: Counter = Counter::default();
    /// registry.register("requests", "HTTP requests served", requests.clone());
    ///
    /// let queues = QueueRegistry::new();
    /// queues.register_into(&mut registry);
    /// let (tx, _rx) = pushpull::mpmc::<u32>(4);
    /// queues.register("jobs", tx.closer()); // after `register_into`: still rendered
    /// let _ = tx.send(1).unwrap();
    /// requests.inc();
    ///
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("app_requests_total 1\n"));
    /// assert!(text.contains("app_pushpull_sent_total{queue=\"jobs\"} 1\n"));
    /// ```
    pub fn register_into(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register_collector(Box::new(self.clone()));
    }

    /// The whole exposition in the OpenMetrics text format, ending in `# EOF`: the body of
    /// a `GET /metrics` response, served with the content type [`CONTENT_TYPE`].
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        self.encode_into(&mut text);
        text
    }

    /// As [`encode`](Self::encode), appending to `text` (to reuse its buffer).
    pub fn encode_into(&self, text: &mut String) {
        let mut registry = prometheus_client::registry::Registry::default();
        self.register_into(&mut registry);
        // Writing to a `String` does not fail, and neither does `Collector::encode` but
        // for its writer.
        prometheus_client::encoding::text::encode(text, &registry)
            .expect("a String takes any text");
    }

    /// A snapshot of every queue, in name order.
    fn sample(&self) -> Vec<(String, Sample)> {
        lock(&self.queues)
            .iter_mut()
            .map(|(name, e)| (name.clone(), e.update()))
            .collect()
    }
}

impl Collector for QueueRegistry {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // Snapshots first, the lock released before anything is written.
        let samples = self.sample();
        if samples.is_empty() {
            return Ok(());
        }
        for (i, family) in COUNTERS.iter().enumerate() {
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, MetricType::Counter)?;
            for (name, s) in &samples {
                let label = QueueLabel(name);
                ConstCounter::new(s.counters[i]).encode(metric.encode_family(&label)?)?;
            }
        }
        for family in &GAUGES {
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, MetricType::Gauge)?;
            for (name, s) in &samples {
                let label = QueueLabel(name);
                ConstGauge::new((family.value)(s)).encode(metric.encode_family(&label)?)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for QueueRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queues = lock(&self.queues);
        f.debug_map()
            .entries(queues.iter().map(|(name, e)| (name, &e.queue)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_holds_small_falls_and_passes_wraps() {
        assert_eq!(monotone(0, 5), 5);
        assert_eq!(monotone(5, 5), 5);
        assert_eq!(monotone(10, 7), 10, "a race: held");
        assert_eq!(
            monotone(WRAP + 10, 10),
            WRAP + 10,
            "a fall of exactly WRAP is still a race"
        );
        let before_wrap = (1 << 51) - 3;
        assert_eq!(monotone(before_wrap, 2), 2, "a wrap: passed on");
        assert_eq!(monotone(u64::MAX, 0), 0);
    }

    fn snapshot(sent: u64, received: u64, evicted_oldest: u64) -> Metrics {
        Metrics {
            sent,
            received,
            evicted_oldest,
            ..Metrics::default()
        }
    }

    #[test]
    fn counters_do_not_fall_and_received_stays_within_sent() {
        let mut r = [0; COUNTERS.len()];
        advance(&mut r, &snapshot(10, 6, 2));
        assert_eq!(r[..4], [10, 6, 0, 2]);
        // A snapshot racing an eviction: `received` a little low, then below zero.
        advance(&mut r, &snapshot(11, 5, 3));
        assert_eq!(r[..4], [11, 6, 0, 3]);
        advance(&mut r, &snapshot(12, u64::MAX - 1, 4));
        assert_eq!(r[..4], [12, 6, 0, 4]);
        // ... or modulo an MPMC queue's range.
        advance(&mut r, &snapshot(12, (1 << 51) - 1, 4));
        assert_eq!(r[..4], [12, 6, 0, 4]);
        advance(&mut r, &snapshot(13, 9, 4));
        assert_eq!(r[..4], [13, 9, 0, 4]);
        // `sent` wraps (modulo 2^51): reported as it is, a counter reset.
        let mut r = [0; COUNTERS.len()];
        advance(&mut r, &snapshot((1 << 51) - 2, (1 << 51) - 4, 0));
        advance(&mut r, &snapshot(3, (1 << 51) - 1, 0));
        assert_eq!(
            r[..2],
            [3, (1 << 51) - 4],
            "received waits for its own wrap"
        );
        advance(&mut r, &snapshot(4, 1, 0));
        assert_eq!(r[..2], [4, 1]);
    }

    #[test]
    fn label_values_are_escaped() {
        let (tx, _rx) = crate::mpmc::<u8>(1);
        let queues = QueueRegistry::new();
        queues.register("a\"b\\c\nd", tx.closer());
        let text = queues.encode();
        assert!(
            text.contains("pushpull_len{queue=\"a\\\"b\\\\c\\nd\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_registry_renders_only_eof() {
        assert_eq!(QueueRegistry::new().encode(), "# EOF\n");
    }
}
