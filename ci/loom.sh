#!/usr/bin/env bash
# Loom models of every atomic protocol: tests/loom.rs (through the public API) and the
# ring-level models in the library's unit tests.
#
#   ci/loom.sh                 # all models, LOOM_MAX_PREEMPTIONS=2
#   ci/loom.sh spsc_           # only the models whose name contains "spsc_"
#   LOOM_MAX_PREEMPTIONS=3 ci/loom.sh
#
# Built with the `loom` profile (release optimizations, debug assertions on) into its own
# target directory, so the `--cfg loom` build does not evict the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
exec cargo test --profile loom --target-dir target/loom --lib --test loom -- --test-threads=2 "$@"
