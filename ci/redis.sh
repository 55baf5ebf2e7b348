#!/usr/bin/env bash
# The Redis Streams companion crate, pushpull-redis: lints, docs, its tests and its example.
# The tests start real redis-server processes on free local ports (nothing is mocked), so
# this installs redis-server when it is missing.
#
#   ci/redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    apt-get install -y -q redis-server >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }
fi
redis-server --version
cargo clippy -p pushpull-redis --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p pushpull-redis
# --nocapture: the kill and restart tests print what they saw (redeliveries, duplicates).
cargo test -p pushpull-redis -- --nocapture
cargo run --release -p pushpull-redis --example distributed
