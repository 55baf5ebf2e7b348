#!/usr/bin/env bash
# Runs every example of the guide (docs/GUIDE.md), and the tour, in release, failing on the
# first that fails. Their output goes to target/examples-output/NAME.txt.
#
#   ci/examples.sh            # all of them
#   ci/examples.sh overflow   # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- tour minimal backpressure bounded_vs_unbounded fan_out cancellable shutdown \
        overflow batching credit_pull pipeline throughput shard_latency spill metrics_server
fi
# Arguments for examples that take some: the metrics server on a free port, for 3 seconds.
args_of() {
    case "$1" in
        metrics_server) echo "--addr 127.0.0.1:0 --duration 3" ;;
        *) echo "" ;;
    esac
}
# Issue 10's examples need their features (`shard`, `spill`, `metrics`).
cargo build --release --examples --all-features
mkdir -p target/examples-output
for name in "$@"; do
    start=$(date +%s)
    # shellcheck disable=SC2046 # the arguments are words
    if ! timeout --kill-after=10 300 "target/release/examples/$name" $(args_of "$name") \
        >"target/examples-output/$name.txt" 2>&1; then
        echo "example $name failed:" >&2
        tail -n 30 "target/examples-output/$name.txt" >&2
        exit 1
    fi
    echo "example $name: ok in $(($(date +%s) - start))s"
done
