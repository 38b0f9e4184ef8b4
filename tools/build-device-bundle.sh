#!/usr/bin/env bash
# Builds what tools/device-check.sh runs on a GPU machine that has no Rust toolchain: the release
# `vae-gpu` binary and the GPU test executables, stripped (unstripped test binaries are ~50 MB
# each), plus the PyTorch comparison scripts and the data they read.
#
#   tools/build-device-bundle.sh [BUNDLE_DIR]        (default: device-bundle/ in the repository)
#
# Run it on a machine like CI's (same or older glibc than the GPU machine). Environment:
# CARGO (default cargo), CARGO_TARGET_DIR (as cargo reads it), STRIP (default strip).
#
# Bundle layout (the relative paths that tools/compare_pytorch.sh and tools/pytorch_step_bench.py
# expect, so the bundle is also their "repository root"):
#   vae-gpu                         the binary
#   tests/<name>                    one libtest executable per GPU test file
#   tools/device-check.sh, tools/compare_pytorch.sh, tools/pytorch_step_bench.py,
#   tools/pytorch_matmul_rate.py
#   assets/mnist-10k/               read at run time by pytorch_step_bench.py only (the binaries
#                                   have the data and font compiled in)
#   BUNDLE-INFO                     the commit, the build's manifest dir, glibc needed, sizes
# and the same folder as BUNDLE_DIR.tar.xz (~8 MB against the folder's ~70 MB): carry that one;
# tools/device-check.sh takes either.
#
# Left out: tests that drive the binary through a path compiled in (CARGO_BIN_EXE_vae-gpu:
# cli_*, interruption, hostile_checkpoints; the last two also need signals and ulimits), and the
# CPU-only ones (gradient_check, fuzz_regressions, the library's unit tests). pytorch_oracle is
# carried, but reads tests/fixtures/ through the build machine's CARGO_MANIFEST_DIR, compiled in;
# device-check.sh runs it only where that path exists.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${1:-$root/device-bundle}"
cargo="${CARGO:-cargo}"
strip_tool="${STRIP:-strip}"
tests=(kernel_parity kernel_reflection philox_rng training_parity model_programs bounds large_data
    pytorch_oracle)

command -v "$cargo" >/dev/null || { echo "build-device-bundle.sh: no $cargo" >&2; exit 1; }
command -v "$strip_tool" >/dev/null || strip_tool="objcopy --strip-all"
command -v xz >/dev/null || { echo "build-device-bundle.sh: needs xz" >&2; exit 1; }
command -v python3 >/dev/null || { echo "build-device-bundle.sh: needs python3 (JSON)" >&2; exit 1; }

cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== cargo build --release" >&2
"$cargo" build --release --bin vae-gpu --message-format=json-render-diagnostics >"$tmp/build.json"
test_args=()
for t in "${tests[@]}"; do test_args+=(--test "$t"); done
echo "== cargo test --release --no-run (${tests[*]})" >&2
"$cargo" test --release --no-run "${test_args[@]}" \
    --message-format=json-render-diagnostics >"$tmp/test.json"

# The executables cargo reports: {kind:name -> path}.
python3 - "$tmp/build.json" "$tmp/test.json" >"$tmp/exes" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        kind = msg["target"]["kind"][0]
        print(f'{kind}\t{msg["target"]["name"]}\t{msg["executable"]}')
EOF

exe_of() { awk -F'\t' -v k="$1" -v n="$2" '$1 == k && $2 == n { print $3 }' "$tmp/exes" | tail -1; }

rm -rf "$bundle"
mkdir -p "$bundle/tests" "$bundle/tools" "$bundle/assets"
bundle="$(cd "$bundle" && pwd)"

copy_stripped() { # SRC DEST
    cp "$1" "$2"
    # shellcheck disable=SC2086
    $strip_tool "$2"
    chmod 755 "$2"
}

bin="$(exe_of bin vae-gpu)"
[[ -n "$bin" && -x "$bin" ]] || { echo "build-device-bundle.sh: cargo named no vae-gpu binary" >&2; exit 1; }
copy_stripped "$bin" "$bundle/vae-gpu"
for t in "${tests[@]}"; do
    exe="$(exe_of test "$t")"
    [[ -n "$exe" && -x "$exe" ]] || { echo "build-device-bundle.sh: no executable for test $t" >&2; exit 1; }
    copy_stripped "$exe" "$bundle/tests/$t"
done

for f in tools/device-check.sh tools/compare_pytorch.sh tools/pytorch_step_bench.py tools/pytorch_matmul_rate.py; do
    if [[ -f "$f" ]]; then cp "$f" "$bundle/$f"; fi
done
# pytorch_step_bench.py reads <root>/assets/mnist-10k/images-idx3-ubyte.gz; nothing else reads
# assets/ at run time.
if [[ -f tools/pytorch_step_bench.py ]]; then cp -r assets/mnist-10k "$bundle/assets/"; fi

glibc="$(objdump -T "$bundle/vae-gpu" "$bundle"/tests/* 2>/dev/null \
    | grep -o 'GLIBC_[0-9.]*' | sort -u -V | tail -1 || true)"
{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "manifest_dir: $root"
    echo "needs: ${glibc:-GLIBC ?} or newer; libvulkan.so.1 and a Vulkan driver at run time (loaded by wgpu)"
    echo "files:"
    (cd "$bundle" && find . -type f ! -name BUNDLE-INFO -printf '%s\t%p\n' | sort -k2)
} >"$bundle/BUNDLE-INFO"

total="$(du -sb "$bundle" | cut -f1)"
echo "== bundle $bundle" >&2
(cd "$bundle" && du -ah --apparent-size . | sort -k2) >&2
echo "folder: $total bytes ($((total / 1024 / 1024)) MiB); needs ${glibc:-?}" >&2

# The stripped binaries share most of their code (wgpu, naga, the library), which xz's 64 MiB
# window finds across files: the archive is a fraction of the folder, and it is what travels.
archive="$bundle.tar.xz"
tar -C "$(dirname "$bundle")" -cf - "$(basename "$bundle")" | xz -9 -T1 >"$archive"
size="$(stat -c %s "$archive")"
echo "archive: $archive, $size bytes ($((size / 1024 / 1024)) MiB)" >&2
limit=$((40 * 1024 * 1024))
if ((size > limit)); then
    echo "build-device-bundle.sh: the archive is over $((limit / 1024 / 1024)) MiB (the device transfer takes 64 MiB in all)" >&2
    exit 1
fi
