#!/bin/bash
# Runs every fuzz target for a fixed time and prints the executions each made and what it found.
#   tools/fuzz.sh [SECONDS_PER_TARGET]     (default 600)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus grows in
# fuzz/corpus/<target> (ignored by git), starting from fuzz/seeds/<target>; crashing inputs land in
# fuzz/artifacts/<target>: fix the bug, then copy the input to fuzz/regressions/<target>, which
# tests/fuzz_regressions.rs replays in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
# No sanitizer: the code under test is safe Rust, and uninstrumented runs are several times
# faster; debug assertions (overflow checks) stay on.
cargo +nightly fuzz build -O -s none
# The built targets run directly: `cargo fuzz run` would rebuild whenever a source file changed.
bin="${CARGO_TARGET_DIR:-fuzz/target}/x86_64-unknown-linux-gnu/release"
for target in idx checkpoint values; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="fuzz/fuzz-$target.log"
    status=0
    "$bin/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" \
        -print_final_stats=1 -max_len=4096 >"$log" 2>&1 || status=$?
    runs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{s += $2} END {print s + 0}')
    crashes=$(ls "fuzz/artifacts/$target" | wc -l)
    echo "$target: $runs executions in ${seconds} s, exit $status, $crashes input(s) in fuzz/artifacts/$target"
done
