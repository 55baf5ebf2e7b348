//! How busy the rest of the machine is: CPU time of the whole machine (`/proc/stat`) minus
//! this process's own (`/proc/self/stat`), in cores (1.0 = one core fully busy).
//!
//! Before each cell the driver waits for a quiet machine; during the cell it measures the
//! others' average use, and flags the cell DISTURBED if it was high.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/stat` and `/proc/<pid>/stat` (`USER_HZ`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Others' use below this (cores) is quiet.
pub const QUIET: f64 = 0.10;
/// Others' average use above this (cores) during a cell flags it DISTURBED...
pub const DISTURBED: f64 = 0.20;
/// ... if they used at least this many ticks (30 ms) in all: the machine's and the
/// process's counters are sampled differently and may disagree by a tick or two, which in
/// a cell of 0.1 s would read as 20% of a core.
const DISTURBED_TICKS: u64 = 3;

/// A reading of the CPU counters.
#[derive(Clone, Copy)]
pub struct Snap {
    at: Instant,
    /// Busy ticks of all CPUs: user, nice, system, irq, softirq, steal (steal: time the
    /// hypervisor gave to other guests, a disturbance too).
    machine: u64,
    /// This process's user + system ticks, all threads.
    own: u64,
}

impl Snap {
    /// `None` where `/proc` is not readable (not Linux): then nothing is waited for or
    /// flagged.
    pub fn now() -> Option<Self> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = (stat.lines().next()?.split_whitespace().skip(1))
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal guest guest_nice
        let machine = [0, 1, 2, 5, 6, 7]
            .iter()
            .map(|&i| cpu.get(i).copied().unwrap_or(0))
            .sum();
        let own_stat = fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may hold spaces: count fields after its ')'.
        let rest = &own_stat[own_stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 (utime, stime) are at 11 and 12 counting from field 3.
        let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            at: Instant::now(),
            machine,
            own,
        })
    }

    /// The others' use from `self` to `later`.
    pub fn others_until(&self, later: &Snap) -> Others {
        let secs = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let machine = later.machine.saturating_sub(self.machine);
        let own = later.own.saturating_sub(self.own);
        let ticks = machine.saturating_sub(own);
        Others {
            cores: ticks as f64 / TICKS_PER_SEC / secs,
            ticks,
        }
    }
}

/// CPU time used by other processes over a span.
#[derive(Clone, Copy)]
pub struct Others {
    /// Average use, in cores.
    pub cores: f64,
    ticks: u64,
}

impl Others {
    pub fn disturbed(&self) -> bool {
        self.cores > DISTURBED && self.ticks >= DISTURBED_TICKS
    }
}

pub struct WaitPolicy {
    /// Length of one measuring window.
    pub window: Duration,
    /// Consecutive quiet windows needed.
    pub windows: u32,
    /// Give up and run anyway after this long.
    pub max_wait: Duration,
}

pub struct Waited {
    pub waited: Duration,
    pub quiet: bool,
    /// The others' use in the last window, in cores.
    pub others: f64,
}

/// Waits until the others used less than [`QUIET`] cores in `policy.windows` consecutive
/// windows, or `policy.max_wait` has passed.
pub fn wait_quiet(policy: &WaitPolicy) -> Waited {
    let start = Instant::now();
    let mut streak = 0;
    let mut others = 0.0;
    let Some(mut prev) = Snap::now() else {
        return Waited {
            waited: Duration::ZERO,
            quiet: true,
            others: 0.0,
        };
    };
    loop {
        thread::sleep(policy.window);
        let Some(now) = Snap::now() else { break };
        others = prev.others_until(&now).cores;
        prev = now;
        streak = if others < QUIET { streak + 1 } else { 0 };
        if streak >= policy.windows {
            break;
        }
        if start.elapsed() >= policy.max_wait {
            return Waited {
                waited: start.elapsed(),
                quiet: false,
                others,
            };
        }
    }
    Waited {
        waited: start.elapsed(),
        quiet: true,
        others,
    }
}
