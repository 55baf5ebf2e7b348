#!/usr/bin/env bash
# Runs the threaded tests under ThreadSanitizer (nightly, std rebuilt with the sanitizer).
#
#   ci/tsan.sh                 # every integration test target
#   ci/tsan.sh --test mpmc     # one target
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=thread ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=thread"
# allocator_may_return_null: tests/capacity.rs asks for impossible allocations on purpose.
export TSAN_OPTIONS="halt_on_error=1 allocator_may_return_null=1 ${TSAN_OPTIONS:-}"
if [ "$#" -eq 0 ]; then
    set -- --tests --all-features
fi
exec cargo +nightly test -Zbuild-std --target "$target" --target-dir target/tsan "$@"
