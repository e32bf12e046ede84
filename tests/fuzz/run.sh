#!/usr/bin/env bash
# Runs libFuzzer harnesses for a bounded time, each on a copy of its seed corpus
# (the repository's tests/fuzz/corpus/ is never written), and prints one summary
# line per harness, plus a total when there are several.
#
# Usage: tests/fuzz/run.sh SECONDS WORK_DIR HARNESS_BINARY...
# Exits 1 when a harness crashed, leaked, hit UB, timed out or ran out of
# memory; the input that did it stays in WORK_DIR/<harness>/artifacts/.
# FUZZ_RSS_MB (default 2048) and FUZZ_TIMEOUT (seconds per input, default 10)
# bound each run.
set -uo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 SECONDS WORK_DIR HARNESS_BINARY..." >&2
    exit 2
fi
secs=$1
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}

total_execs=0
total_crashes=0
harnesses=0
status=0
for bin in "$@"; do
    name=$(basename "$bin")
    dir="$work/$name"
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    seeds=0
    if [ -d "$here/corpus/$name" ]; then
        cp "$here/corpus/$name"/* "$dir/corpus/"
        seeds=$(find "$here/corpus/$name" -type f | wc -l)
    fi
    args=(-max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout="$timeout"
          -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
    if [ -f "$here/$name.dict" ]; then
        args+=(-dict="$here/$name.dict")
    fi
    start=$SECONDS
    "$bin" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    elapsed=$((SECONDS - start))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(grep -oE '^#[0-9]+' "$dir/log" | tail -n 1 | tr -d '#')
    fi
    execs=${execs:-0}
    last=$(grep -E '^#[0-9]+.* cov: ' "$dir/log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # it died without leaving an input behind
    fi
    corpus=$(find "$dir/corpus" -type f | wc -l)
    echo "$name: $execs inputs in $elapsed s, $crashes crashes, cov ${cov:-?}, ft ${ft:-?}," \
        "corpus $corpus (from $seeds seeds)" | tee "$dir/summary"
    if [ "$crashes" -ne 0 ]; then
        status=1
        echo "---- $name: last lines of $dir/log ----"
        tail -n 60 "$dir/log"
        for a in "$dir"/artifacts/*; do
            [ -f "$a" ] && echo "reproduce: $bin $a"
        done
        echo "----"
    fi
    total_execs=$((total_execs + execs))
    total_crashes=$((total_crashes + crashes))
    harnesses=$((harnesses + 1))
done
if [ "$harnesses" -gt 1 ]; then
    echo "total: $total_execs inputs, $total_crashes crashes in $harnesses harnesses ($secs s each)"
fi
exit "$status"
