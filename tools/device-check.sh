#!/usr/bin/env bash
# The real-GPU check (issue 10): on a Linux machine with a GPU and a Vulkan loader, and no Rust
# toolchain, runs what tools/build-device-bundle.sh carried there and writes one log:
#   host and driver probes (nvidia-smi, vulkaninfo --summary, the loader and ICD files),
#   vae-gpu info (every adapter, and the one chosen), the GPU test executables,
#   vae-gpu bench at batch 128 and 1024 (JSON and text; at 128 also one submit per step, and each
#   kernel against the tiled kernels), the 4096^3 matmul of every kernel family and of PyTorch
#   (fp32, TF32 off), and the PyTorch comparison (tools/compare_pytorch.sh) where torch imports;
# then a table of each step's status and wall time. Whole run: under 5 minutes (DEVICE_CHECK_BUDGET).
#
#   tools/device-check.sh [BUNDLE_DIR] [LOG]
#       BUNDLE_DIR  the folder, or the .tar.xz archive of it (unpacked into a temporary folder);
#                   default: the folder above this script's if that is a bundle (the bundle
#                   carries a copy at tools/device-check.sh), else ./device-bundle.tar.xz, else
#                   ./device-bundle
#       LOG         default: ./device-check.log (appended to; also echoed to stdout)
#
# Environment: VK_DRIVER_FILES / VK_ICD_FILENAMES (which Vulkan driver; passed through to
# everything, and logged), VAE_GPU_BACKEND / VAE_GPU_ADAPTER / VAE_GPU_MATMUL (vae-gpu's own),
# NODEVICE_SELECT (default 1: Mesa's device-select layer off), PYTHON (default python3),
# DEVICE_CHECK_BUDGET (seconds for the whole run, default 285), MATMUL_CMD (a command, run in
# the bundle, in place of `vae-gpu bench --matmul-size 4096`).
#
# Exit status: 0 when every step that ran passed, 1 otherwise. Never stops at a failing step.
#
# Through the project's device tool (a GPU machine with PyTorch but no Rust and no Vulkan loader):
# here, `tools/build-device-bundle.sh` and `mkdir -p .gl && (cd .gl && apt-get download libvulkan1
# libglvnd0 libgl1 libegl1 libgles2 libglx0 libopengl0)` (the Vulkan loader, and GL for wgpu's GL
# probe; .gl and the bundle are git-ignored, so the run must carry them); then run, carrying
# [".gl", "device-bundle.tar.xz"]:
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; mkdir -p /work; ln -s $PWD /work/main;
#   export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json HOME=/tmp/home
#   PYTHON=python3; bash tools/device-check.sh device-bundle.tar.xz $OUT/device-check.log
# (the /work/main link lets the PyTorch oracle test find its fixture). On lavapipe the 4096^3
# products and the tiled comparison time out by design, so the exit status there is 1.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -ge 1 ]]; then
    bundle="$1"
elif [[ -x "$here/../vae-gpu" ]]; then
    bundle="$here/.."
elif [[ -f device-bundle.tar.xz ]]; then
    bundle="device-bundle.tar.xz"
else
    bundle="device-bundle"
fi
log="${2:-device-check.log}"
mkdir -p "$(dirname "$log")"
log="$(cd "$(dirname "$log")" && pwd)/$(basename "$log")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
exec > >(tee -a "$log") 2>&1

if [[ -f "$bundle" ]]; then
    # The archive that build-device-bundle.sh wrote: unpacked into a temporary folder.
    archive="$bundle"
    mkdir "$tmp/unpacked"
    tar -C "$tmp/unpacked" -xf "$archive" 2>/dev/null \
        || python3 -m tarfile -e "$archive" "$tmp/unpacked" \
        || { echo "device-check.sh: cannot unpack $archive"; exit 2; }
    bundle="$(dirname "$(find "$tmp/unpacked" -maxdepth 2 -name vae-gpu -type f | head -1)")"
    echo "unpacked $archive into $bundle"
fi
[[ -x "$bundle/vae-gpu" ]] || { echo "device-check.sh: no executable $bundle/vae-gpu (build it with tools/build-device-bundle.sh)"; exit 2; }
bundle="$(cd "$bundle" && pwd)"

export NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
# The GPU tests must fail, not skip, when no adapter is found.
unset VAE_GPU_SKIP_GPU_TESTS
py="${PYTHON:-python3}"
budget="${DEVICE_CHECK_BUDGET:-285}"
start=$SECONDS
deadline=$((start + budget))

names=() statuses=() times=() notes=()
failed=0
reserve=0 # seconds held back for the steps after the current phase

record() { # NAME STATUS SECONDS NOTE
    names+=("$1") statuses+=("$2") times+=("$3") notes+=("$4")
    case "$2" in FAIL* | TIMEOUT*) failed=1 ;; esac
}

# step NAME CAP_SECONDS COMMAND...: runs COMMAND in the bundle under `timeout`, the lesser of CAP
# and what the budget leaves after `reserve`; output to the log and to $tmp/out.
step() {
    local name="$1" cap="$2"
    shift 2
    local left=$((deadline - SECONDS - reserve))
    local limit=$((cap < left ? cap : left))
    echo
    echo "==== $name  [$(date -u +%H:%M:%S) UTC, limit ${limit}s]"
    echo "\$ $*"
    if ((limit < 3)); then
        echo "skipped: the time budget (${budget}s) is spent"
        record "$name" "SKIP(budget)" 0 ""
        return
    fi
    local t0 rc dt
    t0=$(date +%s.%N)
    (cd "$bundle" && timeout -k 5 "$limit" "$@") 2>&1 | tee "$tmp/out"
    rc=${PIPESTATUS[0]}
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    local status note=""
    if ((rc == 0)); then
        status=ok
    elif ((rc == 124 || rc == 137)); then
        status="TIMEOUT(${limit}s)"
    else
        status="FAIL(rc=$rc)"
    fi
    # libtest's summary line, if any: "test result: ok. 12 passed; 0 failed; ..."
    note=$(grep -E '^test result:' "$tmp/out" | tail -1 | sed -E 's/^test result: //; s/; finished in.*//') || true
    if [[ -z "$note" && "$status" == TIMEOUT* ]]; then
        local passed
        passed=$(grep -cE '^test .* \.\.\. ok$' "$tmp/out")
        ((passed > 0)) && note="cut with $passed tests passed"
    fi
    local bad
    bad=$(grep -E '^test .* \.\.\. FAILED$' "$tmp/out" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | paste -sd, -)
    [[ -n "$bad" ]] && note="$note; FAILED: $bad"
    echo "---- $name: $status in ${dt}s"
    record "$name" "$status" "$dt" "$note"
}

note_only() { # NAME STATUS MESSAGE
    echo
    echo "==== $1"
    echo "$3"
    record "$1" "$2" 0 "$3"
}

echo "######## vae-gpu device check, $(date -u +%Y-%m-%dT%H:%M:%SZ), budget ${budget}s"
echo "bundle: $bundle"
echo "log:    $log"
[[ -f "$bundle/BUNDLE-INFO" ]] && sed -n '1,5p' "$bundle/BUNDLE-INFO"
manifest_dir="$(sed -n 's/^manifest_dir: //p' "$bundle/BUNDLE-INFO" 2>/dev/null)"

# ---- probes (held back for the tests, the bench and PyTorch: 80% of the budget, 228 s of 285)
reserve=$((budget * 80 / 100))
step host 10 bash -c '
    uname -a; (grep -m1 "model name" /proc/cpuinfo; nproc) | tr "\n" " "; echo
    ldd --version 2>&1 | head -1
    echo "VK_DRIVER_FILES=${VK_DRIVER_FILES-<unset>}"
    echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES-<unset>}"
    echo "VK_ADD_DRIVER_FILES=${VK_ADD_DRIVER_FILES-<unset>}"
    env | grep -E "^(VAE_GPU_|NODEVICE_SELECT|WGPU_|CUDA_VISIBLE)" || true
    echo "Vulkan loader: $(ldconfig -p 2>/dev/null | grep -m1 -o "libvulkan.so.1 .*" || echo "libvulkan.so.1 NOT in ldconfig cache")"
    echo "ICD files:"; ls -1 /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ /usr/local/share/vulkan/icd.d/ 2>/dev/null | sed "s/^/  /"
    echo "libraries of vae-gpu:"; ldd ./vae-gpu | sed "s/^/  /"
    ! ldd ./vae-gpu | grep -q "not found"'
if command -v nvidia-smi >/dev/null; then
    step nvidia-smi 15 nvidia-smi
else
    note_only nvidia-smi "n/a" "nvidia-smi: not installed here"
fi
if command -v vulkaninfo >/dev/null; then
    step "vulkaninfo --summary" 15 vulkaninfo --summary
else
    note_only "vulkaninfo --summary" "n/a" "vulkaninfo: not installed here (vae-gpu info below lists what wgpu sees)"
fi
step "vae-gpu info" 30 ./vae-gpu info
adapter="$(grep -m1 '^chosen:' "$tmp/out" | sed 's/^chosen: //')"
echo "ADAPTER CHOSEN: ${adapter:-<none>}"
if [[ "$adapter" == *Cpu* || "$adapter" == *llvmpipe* ]]; then
    echo "WARNING: the chosen adapter is a CPU rasterizer, not the GPU: check the Vulkan ICD (VK_DRIVER_FILES) and libvulkan.so.1"
fi

# ---- GPU tests (held back for the bench and PyTorch: 38%, 108 s of 285)
reserve=$((budget * 38 / 100))
for t in kernel_parity kernel_reflection philox_rng training_parity model_programs bounds large_data pytorch_oracle; do
    exe="tests/$t"
    if [[ ! -x "$bundle/$exe" ]]; then
        note_only "test $t" "n/a" "not in the bundle"
        continue
    fi
    args=()
    case "$t" in
        kernel_reflection)
            # This one test looks for src/kernels/*.rs under the build machine's source tree.
            if [[ ! -d "$manifest_dir/src/kernels" ]]; then
                args+=(--skip kernels_are_named_for_their_files_and_entry_points_are_unique)
            fi ;;
        pytorch_oracle)
            # Reads tests/fixtures/ through the build machine's CARGO_MANIFEST_DIR, compiled in.
            if [[ ! -f "$manifest_dir/tests/fixtures/pytorch_reference.safetensors" ]]; then
                note_only "test $t" "n/a" "skipped: needs $manifest_dir/tests/fixtures/ (the build tree's path, compiled in)"
                continue
            fi ;;
    esac
    step "test $t" 90 "./$exe" "${args[@]}"
done

# ---- bench (held back for PyTorch: 17%, 48 s of 285)
reserve=$((budget * 17 / 100))
step "bench 128,1024 --json" 45 ./vae-gpu bench --batch-sizes 128,1024 --json
step "bench 128,1024 (text)" 45 ./vae-gpu bench --batch-sizes 128,1024
# One submit per step, as before multi-step submits: the ratio to the line above is their gain.
step "bench 128 --steps-per-submit 1" 30 ./vae-gpu bench --batch-sizes 128 --steps 20 --steps-per-submit 1
step "bench 128 --steps 20" 30 ./vae-gpu bench --batch-sizes 128 --steps 20
# Each kernel of the step under one family everywhere, timed in alternation with the kernels
# chosen per product shape: what the per-shape choice gained over each family alone.
step "bench 128 --baseline tiled" 30 ./vae-gpu bench --batch-sizes 128 --baseline tiled --repeats 9
step "bench 128 --baseline subgroup" 30 ./vae-gpu bench --batch-sizes 128 --baseline subgroup --repeats 9
# The choices per shape that the runs above timed and cached.
step "vae-gpu info (after bench)" 15 ./vae-gpu info

# ---- the 4096^3 matmul: every family the adapter runs, three forms (MATMUL_CMD overrides)
step "matmul 4096^3" 60 bash -c "${MATMUL_CMD:-./vae-gpu bench --batch-sizes 128 --repeats 3 --matmul-size 4096}"
# The same products in PyTorch (fp32, TF32 off): what the vendor's library reaches on this GPU.
if [[ -f "$bundle/tools/pytorch_matmul_rate.py" ]] && "$py" -c 'import torch' 2>/dev/null; then
    step "pytorch matmul 4096^3" 30 "$py" tools/pytorch_matmul_rate.py --size 4096 --repeats 5
else
    note_only "pytorch matmul 4096^3" "n/a" "torch does not import, or tools/pytorch_matmul_rate.py is not in the bundle"
fi

# ---- PyTorch
reserve=0
if [[ ! -f "$bundle/tools/compare_pytorch.sh" ]]; then
    note_only "pytorch comparison" "n/a" "tools/compare_pytorch.sh not in the bundle"
elif ! torch_info="$("$py" -c 'import torch, numpy; print("torch", torch.__version__, "cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1)"; then
    note_only "pytorch comparison" "n/a" "not run: '$py' cannot import torch and numpy: $(echo "$torch_info" | tail -1)"
else
    echo
    echo "PyTorch: $torch_info"
    step "pytorch comparison" 120 env VAE_GPU="$bundle/vae-gpu" PYTHON="$py" \
        bash tools/compare_pytorch.sh --batch-sizes 128,1024 --rounds 2 --steps 10 --repeats 3
fi

# ---- summary
echo
echo "######## summary ($(date -u +%H:%M:%S) UTC, $((SECONDS - start))s of ${budget}s)"
echo "adapter: ${adapter:-<none>}"
printf '%-26s %-16s %8s  %s\n' step status seconds note
for i in "${!names[@]}"; do
    printf '%-26s %-16s %8s  %s\n' "${names[$i]}" "${statuses[$i]}" "${times[$i]}" "${notes[$i]}"
done
echo "log: $log"
exit "$failed"
