#!/usr/bin/env bash
# Loom models of the atomic protocols: tests/loom.rs, through the public API (the library's
# unit tests are built under `--cfg loom` too, and run, but none of them is a loom model).
#
#   ci/loom.sh                     # every model, LOOM_MAX_PREEMPTIONS=2 (on 2 cores: about
#                                  # 35 s to build from cold, 30 to 45 s to run)
#   ci/loom.sh spsc_               # only the models whose name contains "spsc_"
#   ci/loom.sh --include-ignored   # also any model marked #[ignore] (none is today)
#   LOOM_MAX_PREEMPTIONS=3 ci/loom.sh
#
# Built with the `loom` profile (release optimizations, debug assertions on) into its own
# target directory, so the `--cfg loom` build does not evict the normal one.
#
# Each model runs in its own process, two at a time: when a model finds a deadlock, loom
# panics while the model's threads unwind, and the handles they hold touch loom from their
# destructors, which aborts the process; alone, a failing model takes no other with it.
# Prints each model's result and time (its log, with each configuration's executions and
# time, is in target/loom/models/), and fails if any model failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"

filter=""
include_ignored=""
for arg in "$@"; do
    case "$arg" in
        --include-ignored) include_ignored=1 ;;
        -*) echo "ci/loom.sh: unknown option $arg" >&2; exit 2 ;;
        *) filter="$arg" ;;
    esac
done

cargo test --profile loom --target-dir target/loom --lib -q
bin=$(cargo test --profile loom --target-dir target/loom --test loom --no-run \
    --message-format=json | jq -r 'select(.executable != null) | .executable')

names() { "$bin" --list "$@" 2>/dev/null | sed -n 's/: test$//p'; }
if [ -n "$include_ignored" ]; then
    models=$(names)
else
    models=$(comm -23 <(names | sort) <(names --ignored | sort))
fi
models=$(grep -F -- "$filter" <<<"$models" || true)
if [ -z "$models" ]; then
    echo "ci/loom.sh: no model matches '$filter'" >&2
    exit 1
fi

logs=target/loom/models
rm -rf "$logs"
mkdir -p "$logs"
run_one() {
    local name=$1 start end rc=0
    start=$(date +%s.%N)
    "$bin" --exact "$name" --include-ignored --nocapture --test-threads=1 \
        >"$logs/$name.log" 2>&1 || rc=$?
    end=$(date +%s.%N)
    if [ "$rc" -eq 0 ]; then
        printf '%-60s ok     %7.1fs\n' "$name" "$(echo "$end - $start" | bc)"
    else
        printf '%-60s FAILED %7.1fs  (exit %d, log: %s)\n' "$name" \
            "$(echo "$end - $start" | bc)" "$rc" "$logs/$name.log"
        return 1
    fi
}
export -f run_one
export bin logs

start=$(date +%s)
failed=0
# (stderr: bash's own notice of a model process that aborted; the model's log has the rest.)
xargs -P 2 -I{} bash -c 'run_one "$@"' _ {} <<<"$models" 2>/dev/null || failed=1
echo "loom models: $(wc -l <<<"$models") run in $(( $(date +%s) - start ))s," \
    "LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS"
if [ "$failed" -ne 0 ]; then
    echo "loom: some models FAILED (see above; each log ends with loom's report)" >&2
    exit 1
fi
