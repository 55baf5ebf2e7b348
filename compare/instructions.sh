#!/usr/bin/env bash
# Instructions per value (one send + one receive, one thread, capacity 1024) of pushpull and
# its ring peers, counted by callgrind: the repeatable measure of the uncontended path on a
# noisy machine. Each queue runs twice (N1 and N2 rounds); (count(N2) - count(N1)) / (N2 -
# N1) is the cost per round, without the setup. Run from anywhere:
#
#   compare/instructions.sh
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v valgrind >/dev/null 2>&1; then
    apt-get install -y -q valgrind >/dev/null
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --bin instructions >/dev/null 2>&1
bin="$CARGO_TARGET_DIR/release/instructions"
N1=20000
N2=120000
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
    rm -f "$out"
}
for q in pushpull-spsc pushpull-mpmc rtrb ringbuf arrayqueue crossbeam-channel kanal; do
    a=$(count "$q" "$N1")
    b=$(count "$q" "$N2")
    per=$(( (b - a) * 100 / (N2 - N1) ))
    printf '%-18s %6d.%02d instructions per value\n' "$q" $((per / 100)) $((per % 100))
done
