#!/usr/bin/env bash
# Multi-threaded stress test (tests/stress.rs): random mixes of blocking threads and async
# tasks on one queue, every flavor, capacity and policy, closes and aborts from every side,
# cancelled futures and permits; every value accounted for. Runs rounds for a time budget,
# printing each round's seed.
#
#   ci/stress.sh          # 60 seconds
#   ci/stress.sh 600      # 10 minutes
#
# A failing round prints a report with its seed and the command that replays it:
#
#   PUSHPULL_STRESS_SKIP_KNOWN='' PUSHPULL_STRESS_SEED=0x... ci/stress.sh 60
#
# (a replay runs that one scenario over and over for the budget: the seed fixes the
# configuration, not the interleaving). A hang (nothing moved for 10 s) is reported by a
# watchdog with the queue's state and what each party was doing, and exits with status 3.
#
# PUSHPULL_STRESS_SKIP_KNOWN names src bugs already reported and still open, which the test
# then steers around (see KNOWN_BUGS in tests/stress_support/mod.rs). Unset, it defaults to
# KNOWN_OPEN below, so that CI looks for new bugs; set it empty for a strict run:
#
#   PUSHPULL_STRESS_SKIP_KNOWN= ci/stress.sh 60
#
# Take a name off KNOWN_OPEN when its bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

KNOWN_OPEN=""
export PUSHPULL_STRESS_SKIP_KNOWN="${PUSHPULL_STRESS_SKIP_KNOWN-$KNOWN_OPEN}"

secs=${1:-60}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [seconds]" >&2
    exit 2
fi
export PUSHPULL_STRESS_SECS="$secs"

# Build first, so that the budget is spent testing.
# --all-features: the `futures` feature brings the `Sink` and `Stream` calls.
cargo test --release --all-features --test stress --no-run
exec cargo test --release --all-features --test stress -- --ignored --nocapture --test-threads=1
