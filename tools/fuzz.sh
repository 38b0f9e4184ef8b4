#!/bin/bash
# Runs every fuzz target for a fixed time and prints the executions each made and what it found.
#   tools/fuzz.sh [SECONDS_PER_TARGET] [JOBS]     (default 600 s, 1 job)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus grows in
# fuzz/corpus/<target> (ignored by git), starting from fuzz/seeds/<target>; crashing inputs land in
# fuzz/artifacts/<target>: fix the bug, then copy the input to fuzz/regressions/<target>, which
# tests/fuzz_regressions.rs replays in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
jobs=${2:-1}
cargo +nightly fuzz build -O
for target in idx checkpoint values; do
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/fuzz-$target.log"
    status=0
    cargo +nightly fuzz run -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -jobs="$jobs" -workers="$jobs" \
        -max_len=4096 >"$log" 2>&1 || status=$?
    runs=$(grep -h "stat::number_of_executed_units" "$log" fuzz-*.log 2>/dev/null |
        awk '{s += $2} END {print s + 0}')
    crashes=$(ls "fuzz/artifacts/$target" 2>/dev/null | wc -l)
    echo "$target: $runs executions in ${seconds} s, exit $status, $crashes input(s) in fuzz/artifacts/$target"
done
