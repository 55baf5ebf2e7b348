#!/usr/bin/env bash
# Runs the unit and integration tests under Miri (sizes scale down with cfg!(miri)).
#
#   ci/miri.sh                 # every test target
#   ci/miri.sh --test spsc     # one target
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add miri rust-src --toolchain nightly
fi
export MIRIFLAGS="-Zmiri-strict-provenance ${MIRIFLAGS:-}"
if [ "$#" -eq 0 ]; then
    set -- --lib --tests --all-features
fi
exec cargo +nightly miri test --target-dir target/miri "$@"
