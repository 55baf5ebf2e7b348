//! The pieces of `tests/stress.rs` that are not parties: a seeded random generator, the
//! scenario generator, the payload and the ledger that accounts for every value, the board
//! of what each party is doing, and the watchdog that reads it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pushpull::{Closer, Policy};

// === random numbers ===

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// A generator for a party, independent of how much this one is used later.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

// === operations ===

/// Every call a party makes, for the party menus and the watchdog's board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Idle,
    Duty,
    Finish,
    // Sending.
    TrySend,
    Send,
    SendTimeout,
    SendDeadline,
    SendAsync,
    SendAsyncDeadline,
    SendAsyncCancel,
    Reserve,
    TryReserve,
    ReserveTimeout,
    ReserveAsync,
    ReserveAsyncCancel,
    SinkSend,
    SinkSendCancel,
    SinkHeld,
    Juggle,
    // Receiving.
    TryRecv,
    Recv,
    RecvTimeout,
    RecvDeadline,
    RecvAsync,
    RecvAsyncDeadline,
    RecvAsyncCancel,
    Iter,
    TryIter,
    Drain,
    StreamNext,
    StreamNextCancel,
}

const ALL_OPS: [Op; 31] = [
    Op::Idle,
    Op::Duty,
    Op::Finish,
    Op::TrySend,
    Op::Send,
    Op::SendTimeout,
    Op::SendDeadline,
    Op::SendAsync,
    Op::SendAsyncDeadline,
    Op::SendAsyncCancel,
    Op::Reserve,
    Op::TryReserve,
    Op::ReserveTimeout,
    Op::ReserveAsync,
    Op::ReserveAsyncCancel,
    Op::SinkSend,
    Op::SinkSendCancel,
    Op::SinkHeld,
    Op::Juggle,
    Op::TryRecv,
    Op::Recv,
    Op::RecvTimeout,
    Op::RecvDeadline,
    Op::RecvAsync,
    Op::RecvAsyncDeadline,
    Op::RecvAsyncCancel,
    Op::Iter,
    Op::TryIter,
    Op::Drain,
    Op::StreamNext,
    Op::StreamNextCancel,
];

/// What a sending thread may do (async forms are driven with `block_on`).
pub const SENDER_THREAD_OPS: &[Op] = &[
    Op::TrySend,
    Op::Send,
    Op::SendTimeout,
    Op::SendDeadline,
    Op::SendAsync,
    Op::SendAsyncDeadline,
    Op::SendAsyncCancel,
    Op::Reserve,
    Op::TryReserve,
    Op::ReserveTimeout,
    Op::ReserveAsync,
    Op::ReserveAsyncCancel,
    Op::SinkSend,
    Op::SinkSendCancel,
    Op::SinkHeld,
    Op::Juggle,
];

/// What a sending task may do: nothing that blocks its executor thread.
pub const SENDER_TASK_OPS: &[Op] = &[
    Op::TrySend,
    Op::SendAsync,
    Op::SendAsyncDeadline,
    Op::SendAsyncCancel,
    Op::TryReserve,
    Op::ReserveAsync,
    Op::ReserveAsyncCancel,
    Op::SinkSend,
    Op::SinkSendCancel,
    Op::SinkHeld,
    Op::Juggle,
];

pub const RECEIVER_THREAD_OPS: &[Op] = &[
    Op::TryRecv,
    Op::Recv,
    Op::RecvTimeout,
    Op::RecvDeadline,
    Op::RecvAsync,
    Op::RecvAsyncDeadline,
    Op::RecvAsyncCancel,
    Op::Iter,
    Op::TryIter,
    Op::Drain,
    Op::StreamNext,
    Op::StreamNextCancel,
];

pub const RECEIVER_TASK_OPS: &[Op] = &[
    Op::TryRecv,
    Op::RecvAsync,
    Op::RecvAsyncDeadline,
    Op::RecvAsyncCancel,
    Op::TryIter,
    Op::Drain,
    Op::StreamNext,
    Op::StreamNextCancel,
];

// === scenarios ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Mpmc,
    Spsc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecKind {
    Tokio,
    Smol,
    Futures,
}

/// A party runs on its own thread (blocking calls) or as a task on the round's executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Thread,
    Task,
}

/// Who closes or aborts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Sender(usize),
    Receiver(usize),
    Closer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    Close,
    Abort,
    /// SPSC only: the consumer drops its end (closes, and discards what is queued).
    DropConsumer,
}

/// How the queue ends. `Natural`: the senders run out of values and drop their ends. Else
/// `by` closes or aborts once `after` values have moved (sent or received).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Natural,
    Early { kind: EndKind, by: Who, after: u64 },
}

#[derive(Clone, Debug)]
pub struct PartyPlan {
    pub mode: Mode,
    /// Senders: how many values it may make (each send attempt makes a fresh one).
    pub values: usize,
    /// Receivers (MPMC, not the last one): leave after receiving this many.
    pub leave_after: Option<u64>,
    /// Senders: end with `Sink::poll_close` before dropping the end.
    pub sink_close: bool,
    /// The party's menu and a weight per entry (0: never).
    pub menu: Vec<(Op, u32)>,
    pub seed: u64,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub flavor: Flavor,
    pub capacity: usize,
    pub policy: Policy,
    pub exact_high_water: bool,
    pub exec: ExecKind,
    pub senders: Vec<PartyPlan>,
    pub receivers: Vec<PartyPlan>,
    pub ending: Ending,
    /// Receive futures and stream polls may be dropped while pending.
    pub recv_cancels: bool,
    /// The known bugs this scenario was steered around (see [`KNOWN_BUGS`]).
    pub steered: Vec<&'static str>,
}

/// Open src bugs the stress test found, by name, and what steering around one changes.
/// `PUSHPULL_STRESS_SKIP_KNOWN` names those to steer around (`ci/stress.sh` defaults it to
/// its `KNOWN_OPEN` list); the scenario of a seed is generated first and steered after, so a
/// seed names the same configuration either way. Two share their names with the fuzz
/// target's (`skip_known` in fuzz/fuzz_targets/differential.rs): same root causes.
pub const KNOWN_BUGS: &[(&str, &str)] = &[
    (
        "zero-reserver-wakeup",
        "rendezvous: a receiver that starts waiting wakes only the first reservation in \
         line, even one woken before and never polled again (the `Sink::poll_ready` \
         registration a cancelled `SinkExt::send` leaves in the sender): later reservations \
         wait forever beside a waiting receiver. Steered: no Sink send is cancelled while \
         `poll_ready` is pending",
    ),
    (
        "zero-abandoned-stream-poll",
        "rendezvous: a `Stream` poll abandoned while pending leaves its registration in the \
         receiver; a send hands it a value that the receiver's other calls do not see (they \
         report Closed after a drain close) and that is discarded when the receiver is \
         dropped. Steered: no `Stream` poll is abandoned",
    ),
    (
        "zero-lost-claim-order",
        "rendezvous: a permit whose claimed receiver gave up at its deadline, with no other \
         receiver waiting, keeps its value in transit; a later permit's value handed to an \
         already claimed receiver overtakes it (one consumer sees a producer's values out of \
         order). Steered: FIFO is not checked",
    ),
    (
        "drop-oldest-permit-count",
        "MPMC drop-oldest: permits reserve no room but still raise the reservation count in \
         the ring's tail word, whose field holds only `(capacity + 1).next_power_of_two() - 1`; \
         more outstanding reservations wrap it, and receivers report Closed after a drain \
         close while permits are outstanding, whose sends then succeed. Steered: no more \
         reservations outstanding at once than the field holds",
    ),
    (
        "zero-closed-with-permit",
        "rendezvous: a receiver reports Closed after a drain close while a permit still \
         claims another receiver, and the permit's send then succeeds. Steered: the checks \
         that nothing is sent or received after a receiver reported Closed are off",
    ),
];

impl Scenario {
    /// The scenario of `seed`: always the same for the same seed.
    pub fn generate(seed: u64) -> Scenario {
        let mut r = Rng::new(seed);
        let flavor = if r.chance(55) {
            Flavor::Mpmc
        } else {
            Flavor::Spsc
        };
        let small = r.range(2, 8);
        let larger = r.range(16, 256);
        let capacity = match flavor {
            Flavor::Mpmc => r.pick(&[0, 0, 1, small, larger]),
            Flavor::Spsc => r.pick(&[1, small, larger]),
        };
        let policies: &[Policy] = if capacity == 0 {
            &[Policy::Block, Policy::DropNewest, Policy::Reject]
        } else {
            &[
                Policy::Block,
                Policy::DropNewest,
                Policy::DropOldest,
                Policy::Reject,
            ]
        };
        let policy = r.pick(policies);
        let exec = r.pick(&[ExecKind::Tokio, ExecKind::Smol, ExecKind::Futures]);
        let (n_tx, n_rx) = match flavor {
            Flavor::Mpmc => (r.range(1, 4), r.range(1, 4)),
            Flavor::Spsc => (1, 1),
        };
        let recv_cancels = r.chance(60);
        let total = r.range(200, 3000);
        let mode = |r: &mut Rng| {
            if r.chance(50) {
                Mode::Thread
            } else {
                Mode::Task
            }
        };
        let senders: Vec<PartyPlan> = (0..n_tx)
            .map(|_| {
                let mode = mode(&mut r);
                let ops = match mode {
                    Mode::Thread => SENDER_THREAD_OPS,
                    Mode::Task => SENDER_TASK_OPS,
                };
                PartyPlan {
                    mode,
                    values: total / n_tx,
                    leave_after: None,
                    sink_close: r.chance(20),
                    menu: menu(&mut r, ops, |op| {
                        !(op == Op::Juggle && flavor == Flavor::Spsc)
                    }),
                    seed: r.next_u64(),
                }
            })
            .collect();
        let receivers: Vec<PartyPlan> = (0..n_rx)
            .map(|_| {
                let mode = mode(&mut r);
                let ops = match mode {
                    Mode::Thread => RECEIVER_THREAD_OPS,
                    Mode::Task => RECEIVER_TASK_OPS,
                };
                PartyPlan {
                    mode,
                    values: 0,
                    leave_after: (n_rx > 1 && r.chance(20)).then(|| r.below(total as u64 / 2)),
                    sink_close: false,
                    menu: menu(&mut r, ops, |op| {
                        recv_cancels || !matches!(op, Op::RecvAsyncCancel | Op::StreamNextCancel)
                    }),
                    seed: r.next_u64(),
                }
            })
            .collect();
        let ending = match r.below(100) {
            0..=34 => Ending::Natural,
            x => {
                let kind = match (flavor, x) {
                    (Flavor::Spsc, 90..) => EndKind::DropConsumer,
                    (_, 35..=64) => EndKind::Close,
                    _ => EndKind::Abort,
                };
                let by = match (kind, r.below(3)) {
                    (EndKind::DropConsumer, _) => Who::Receiver(0),
                    (_, 0) => Who::Sender(r.below(n_tx as u64) as usize),
                    (_, 1) => Who::Receiver(r.below(n_rx as u64) as usize),
                    _ => Who::Closer,
                };
                Ending::Early {
                    kind,
                    by,
                    after: r.below(total as u64),
                }
            }
        };
        Scenario {
            seed,
            flavor,
            capacity,
            policy,
            exact_high_water: r.chance(25),
            exec,
            senders,
            receivers,
            ending,
            recv_cancels,
            steered: Vec::new(),
        }
    }

    /// Built without the `futures` feature: no `Sink` or `Stream` calls.
    pub fn without_futures_feature(&mut self) {
        for p in self.senders.iter_mut().chain(&mut self.receivers) {
            p.sink_close = false;
            for (op, w) in &mut p.menu {
                if matches!(
                    op,
                    Op::SinkSend
                        | Op::SinkSendCancel
                        | Op::SinkHeld
                        | Op::StreamNext
                        | Op::StreamNextCancel
                ) {
                    *w = 0;
                }
            }
        }
        self.steered.push("no-futures-feature");
    }

    /// Steers around the known bugs named in `skip` that this scenario could reach.
    pub fn steer(&mut self, skip: &[String]) {
        let skips = |name: &str| skip.iter().any(|s| s == name);
        if skips("zero-reserver-wakeup") && self.capacity == 0 {
            for s in &mut self.senders {
                for (op, w) in &mut s.menu {
                    if matches!(op, Op::SinkSendCancel | Op::SinkHeld) {
                        *w = 0;
                    }
                }
            }
            self.steered.push("zero-reserver-wakeup");
        }
        if skips("zero-abandoned-stream-poll") && self.capacity == 0 {
            for r in &mut self.receivers {
                for (op, w) in &mut r.menu {
                    if *op == Op::StreamNextCancel {
                        *w = 0;
                    }
                }
            }
            self.steered.push("zero-abandoned-stream-poll");
        }
        if skips("zero-lost-claim-order") && self.capacity == 0 {
            self.steered.push("zero-lost-claim-order");
        }
        if skips("drop-oldest-permit-count")
            && self.flavor == Flavor::Mpmc
            && self.policy == Policy::DropOldest
        {
            self.steered.push("drop-oldest-permit-count");
        }
        if skips("zero-closed-with-permit") && self.capacity == 0 {
            self.steered.push("zero-closed-with-permit");
        }
    }

    pub fn steered(&self, name: &str) -> bool {
        self.steered.contains(&name)
    }

    pub fn total_values(&self) -> usize {
        self.senders.iter().map(|s| s.values).sum()
    }

    /// Whether receivers can check FIFO order per producer: SPSC always (total order, also
    /// under drop-oldest); MPMC without eviction; a rendezvous only if no receive is
    /// cancelled (a value handed to a dropped receive future moves on to another receive,
    /// which may have received a later value meanwhile).
    pub fn fifo(&self) -> bool {
        match self.flavor {
            Flavor::Spsc => true,
            Flavor::Mpmc if self.capacity == 0 => {
                !self.recv_cancels && !self.steered("zero-lost-claim-order")
            }
            Flavor::Mpmc => self.policy != Policy::DropOldest,
        }
    }

    /// One line: what this round runs.
    pub fn describe(&self) -> String {
        let parties = |ps: &[PartyPlan]| {
            ps.iter()
                .map(|p| match p.mode {
                    Mode::Thread => "T",
                    Mode::Task => "A",
                })
                .collect::<String>()
        };
        let ending = match self.ending {
            Ending::Natural => "natural".to_string(),
            Ending::Early { kind, by, after } => format!("{kind:?} by {by:?} after {after}"),
        };
        let steered = if self.steered.is_empty() {
            String::new()
        } else {
            format!(" [steered around {}]", self.steered.join(", "))
        };
        format!(
            "{:?} cap {} {:?}{} on {:?}: tx {} rx {} ({} values{}), end: {}{}",
            self.flavor,
            self.capacity,
            self.policy,
            if self.exact_high_water {
                " exact-hw"
            } else {
                ""
            },
            self.exec,
            parties(&self.senders),
            parties(&self.receivers),
            self.total_values(),
            if self.recv_cancels {
                ", recv cancels"
            } else {
                ""
            },
            ending,
            steered,
        )
    }
}

/// A weighted menu over `ops`: weights 1..=4, one favourite at 12, excluded ops at 0.
fn menu(r: &mut Rng, ops: &[Op], allowed: impl Fn(Op) -> bool) -> Vec<(Op, u32)> {
    let favourite = r.pick(ops);
    ops.iter()
        .map(|&op| {
            let w = if !allowed(op) {
                0
            } else if op == favourite {
                12
            } else {
                1 + r.below(4) as u32
            };
            (op, w)
        })
        .collect()
}

/// Picks from a weighted menu.
pub fn pick_op(r: &mut Rng, menu: &[(Op, u32)]) -> Op {
    let total: u64 = menu.iter().map(|&(_, w)| w as u64).sum();
    let mut x = r.below(total);
    for &(op, w) in menu {
        if x < w as u64 {
            return op;
        }
        x -= w as u64;
    }
    unreachable!("empty menu")
}

// === the payload ===

/// A value: its id (unique in the round, increasing per producer) and its producer. Its
/// drop is counted in the ledger.
pub struct Val {
    pub id: u32,
    pub from: u16,
    ledger: Arc<Ledger>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.ledger.drops[self.id as usize].fetch_add(1, SeqCst);
    }
}

// === the ledger ===

/// What the parties saw happen to a value. Bits, set once each.
pub mod fate {
    /// A send reported success (`Queued` or `Evicted`, a permit's or `Sink`'s send).
    pub const SENT: u8 = 1;
    /// A receiver got it.
    pub const RECEIVED: u8 = 2;
    /// Handed back to its sender in an error (or by `into_inner`).
    pub const RETURNED: u8 = 4;
    /// Handed back to an evicting sender in `Sent::Evicted`.
    pub const EVICTED_BACK: u8 = 8;
    /// Its send reported `Sent::DroppedNewest`.
    pub const DROPPED_NEWEST: u8 = 16;
    /// The party dropped a send future holding it (at capacity 0 a receiver may have taken
    /// it already).
    pub const FUTURE_DROPPED: u8 = 32;
    /// A `Sink` send failed: the library dropped it.
    pub const SINK_LOST: u8 = 64;

    /// The outcomes of which a value has at most one.
    pub const TERMINAL: u8 = RECEIVED | RETURNED | EVICTED_BACK | DROPPED_NEWEST | SINK_LOST;

    pub fn names(bits: u8) -> String {
        let names = [
            "SENT",
            "RECEIVED",
            "RETURNED",
            "EVICTED_BACK",
            "DROPPED_NEWEST",
            "FUTURE_DROPPED",
            "SINK_LOST",
        ];
        let v: Vec<&str> = (0..7)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| names[i])
            .collect();
        if v.is_empty() {
            "nothing".into()
        } else {
            v.join("|")
        }
    }
}

/// The round's accounts: every value's fate and drops, what the parties saw, the flags the
/// contract checks read, and the violations found while running.
pub struct Ledger {
    fate: Vec<AtomicU8>,
    drops: Vec<AtomicU8>,
    next_id: AtomicUsize,
    /// Bumped whenever a value moves, a party obtains a permit, sees `Closed` or ends:
    /// what the watchdog watches.
    pub progress: AtomicU64,
    /// Values sent or received: what the close and abort triggers count.
    pub moved: AtomicU64,
    /// Set *before* anything that can close the queue: a close or abort call, the last
    /// sender's or receiver's drop, `Sink::poll_close`. A `Closed` result before it is wrong.
    pub closing_started: AtomicBool,
    /// Set before an abort call or the consumer's drop (an SPSC ending).
    pub abort_started: AtomicBool,
    /// Set before the last receiver drops its end (once it has seen `Closed`).
    pub receivers_gone: AtomicBool,
    /// Set once a close call returned or any party got a `Closed` result: a send or
    /// reservation (not a permit's send) starting after it must fail.
    pub closed_known: AtomicBool,
    /// Set once a receiver reported `Closed`: no send (permits included) starting after it
    /// may succeed, no receive starting after it may return a value.
    pub closed_seen: AtomicBool,
    /// A lower bound of (queued values + outstanding permits): see `occ` in `stress.rs`.
    pub occ: AtomicIsize,
    pub senders_live: AtomicUsize,
    pub receivers_live: AtomicUsize,
    pub rejected_seen: AtomicU64,
    pub dropped_newest_seen: AtomicU64,
    /// Sum of the counts abort calls returned.
    pub abort_counted: AtomicU64,
    /// `Sink` sends that succeeded on an MPMC drop-oldest queue: each may have evicted (and
    /// dropped) a value.
    pub sink_evicting_ok: AtomicU64,
    /// Reservation calls in progress or permits held, where their number is capped (the
    /// `drop-oldest-permit-count` steering).
    pub reservations: AtomicUsize,
    violations: Mutex<Vec<String>>,
}

impl Ledger {
    pub fn new(values: usize, senders: usize, receivers: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            fate: (0..values).map(|_| AtomicU8::new(0)).collect(),
            drops: (0..values).map(|_| AtomicU8::new(0)).collect(),
            next_id: AtomicUsize::new(0),
            progress: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            closing_started: AtomicBool::new(false),
            abort_started: AtomicBool::new(false),
            receivers_gone: AtomicBool::new(false),
            closed_known: AtomicBool::new(false),
            closed_seen: AtomicBool::new(false),
            occ: AtomicIsize::new(0),
            senders_live: AtomicUsize::new(senders),
            receivers_live: AtomicUsize::new(receivers),
            rejected_seen: AtomicU64::new(0),
            dropped_newest_seen: AtomicU64::new(0),
            abort_counted: AtomicU64::new(0),
            sink_evicting_ok: AtomicU64::new(0),
            reservations: AtomicUsize::new(0),
            violations: Mutex::new(Vec::new()),
        })
    }

    /// A fresh value from producer `from`.
    pub fn value(self: &Arc<Self>, from: usize) -> Val {
        let id = self.next_id.fetch_add(1, SeqCst);
        assert!(id < self.fate.len(), "more values than planned");
        Val {
            id: id as u32,
            from: from as u16,
            ledger: self.clone(),
        }
    }

    pub fn values_made(&self) -> usize {
        self.next_id.load(SeqCst)
    }

    /// Records `bit` for `id`; a second terminal outcome, or the same one twice, is a
    /// violation (a value received twice, received and handed back, ...).
    pub fn mark(&self, id: u32, bit: u8) {
        let before = self.fate[id as usize].fetch_or(bit, SeqCst);
        let clash = if bit & fate::TERMINAL != 0 {
            before & (fate::TERMINAL | bit)
        } else {
            before & bit
        };
        if clash != 0 {
            self.violation(format!(
                "value {id}: {} but already {}",
                fate::names(bit),
                fate::names(before)
            ));
        }
    }

    pub fn fate(&self, id: usize) -> u8 {
        self.fate[id].load(SeqCst)
    }

    pub fn drops(&self, id: usize) -> u8 {
        self.drops[id].load(SeqCst)
    }

    pub fn violation(&self, msg: String) {
        let mut v = self.violations.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < 50 {
            v.push(msg);
        }
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn bump(&self) {
        self.progress.fetch_add(1, SeqCst);
    }

    pub fn flag(&self, flag: &AtomicBool) {
        flag.store(true, SeqCst);
    }

    pub fn is(&self, flag: &AtomicBool) -> bool {
        flag.load(SeqCst)
    }

    /// One line of the flags and counters, for failure reports.
    pub fn summary(&self) -> String {
        format!(
            "values made {}, moved {}, progress {}, closing_started {}, abort_started {}, \
             closed_known {}, closed_seen {}, occ {}, senders_live {}, receivers_live {}, \
             rejected_seen {}, dropped_newest_seen {}, abort_counted {}",
            self.values_made(),
            self.moved.load(SeqCst),
            self.progress.load(SeqCst),
            self.is(&self.closing_started),
            self.is(&self.abort_started),
            self.is(&self.closed_known),
            self.is(&self.closed_seen),
            self.occ.load(SeqCst),
            self.senders_live.load(SeqCst),
            self.receivers_live.load(SeqCst),
            self.rejected_seen.load(SeqCst),
            self.dropped_newest_seen.load(SeqCst),
            self.abort_counted.load(SeqCst),
        )
    }
}

// === the board and the watchdog ===

/// What each party is doing now, for the watchdog's dump.
pub struct Board {
    start: Instant,
    slots: Vec<Slot>,
}

struct Slot {
    name: String,
    op: AtomicUsize,
    since_ms: AtomicU64,
    done: AtomicBool,
}

impl Board {
    pub fn new(names: Vec<String>) -> Arc<Board> {
        Arc::new(Board {
            start: Instant::now(),
            slots: names
                .into_iter()
                .map(|name| Slot {
                    name,
                    op: AtomicUsize::new(0),
                    since_ms: AtomicU64::new(0),
                    done: AtomicBool::new(false),
                })
                .collect(),
        })
    }

    pub fn enter(&self, slot: usize, op: Op) {
        let s = &self.slots[slot];
        s.since_ms
            .store(self.start.elapsed().as_millis() as u64, SeqCst);
        s.op.store(ALL_OPS.iter().position(|&o| o == op).unwrap(), SeqCst);
    }

    pub fn done(&self, slot: usize) {
        self.enter(slot, Op::Idle);
        self.slots[slot].done.store(true, SeqCst);
    }

    pub fn render(&self) -> String {
        let now = self.start.elapsed().as_millis() as u64;
        let mut out = String::new();
        for s in &self.slots {
            if s.done.load(SeqCst) {
                let _ = writeln!(out, "  {}: finished", s.name);
            } else {
                let _ = writeln!(
                    out,
                    "  {}: in {:?} for {} ms",
                    s.name,
                    ALL_OPS[s.op.load(SeqCst)],
                    now.saturating_sub(s.since_ms.load(SeqCst))
                );
            }
        }
        out
    }
}

/// Watches a round: if nothing makes progress for `stall`, prints the queue's state, the
/// ledger, what every party is doing and how to replay, then exits the process (a hung
/// round cannot be unwound).
pub fn watchdog(
    stop: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
    board: Arc<Board>,
    closer: Closer,
    header: String,
    stall: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("stress-watchdog".into())
        .spawn(move || {
            let mut last = u64::MAX;
            let mut since = Instant::now();
            while !stop.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                let now = ledger.progress.load(SeqCst);
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() >= stall {
                    let dump = format!(
                        "\n=== STALL: no party made progress for {:?}\n{header}\n\
                         queue: {closer:?} closed {} len {}\nmetrics: {:?}\nledger: {}\n\
                         parties:\n{}",
                        stall,
                        closer.is_closed(),
                        closer.len(),
                        closer.metrics(),
                        ledger.summary(),
                        board.render(),
                    );
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(dump.as_bytes());
                    let _ = err.flush();
                    std::process::exit(3);
                }
            }
        })
        .unwrap()
}
