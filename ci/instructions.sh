#!/usr/bin/env bash
# Instructions per value on the uncontended paths (one try_send + one try_recv on one thread),
# counted by callgrind: repeatable on a noisy machine, unlike time. Fails when a path costs
# more than 10% over the baseline committed in ci/instructions.baseline.
#
#   ci/instructions.sh            # check against the baseline
#   ci/instructions.sh --update   # write the current counts as the new baseline
#
# Each path runs twice (N1 and N2 rounds); (instructions(N2) - instructions(N1)) / (N2 - N1)
# is the cost per round, without the setup.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
    apt-get install -y -q valgrind >/dev/null
fi
cargo bench --bench instructions --no-run >/dev/null 2>&1
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "benches/instructions not built" >&2; exit 1; }

N1=20000
N2=120000
paths="spsc mpmc spsc-drop-oldest spsc-exact-hw mpmc-exact-hw spsc-send mpmc-send spsc-credit mpmc-credit"
baseline=ci/instructions.baseline
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
    rm -f "$out"
}
report=""
failed=0
for p in $paths; do
    a=$(count "$p" "$N1")
    b=$(count "$p" "$N2")
    per=$(( (b - a) * 100 / (N2 - N1) ))   # hundredths of an instruction
    printf '%-18s %6d.%02d instructions per value\n' "$p" $((per / 100)) $((per % 100))
    report+="$p $per"$'\n'
    if [ "${1:-}" != "--update" ] && [ -f "$baseline" ]; then
        base=$(awk -v p="$p" '$1 == p { print $2 }' "$baseline")
        if [ -n "$base" ] && [ "$per" -gt $((base * 110 / 100)) ]; then
            echo "  REGRESSION: $p costs $per/100, more than 10% over the baseline $base/100" >&2
            failed=1
        fi
    fi
done
if [ "${1:-}" = "--update" ]; then
    {
        echo "# instructions per value x100 (ci/instructions.sh --update); path value"
        printf '%s' "$report"
    } >"$baseline"
    echo "baseline written to $baseline"
fi
exit "$failed"
