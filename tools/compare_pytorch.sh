#!/usr/bin/env bash
# Side-by-side training-step speed of `vae-gpu bench` and the same step in PyTorch eager
# (tools/pytorch_step_bench.py), at the same batch sizes, steps and repeats.
#
# The two run in alternation, A B A B ..., for --rounds rounds, never at the same time, so that a
# shared machine's drift hits both sides alike; the ratio vae-gpu / PyTorch is taken within each
# round. Each side's images/s per round is its median over --repeats; the table gives the median
# over the rounds and the min-max of the per-round values.
#
#   tools/compare_pytorch.sh [--batch-sizes 64,128,256,512] [--rounds 3] [--steps 10]
#                            [--repeats 5] [--threads N]
#
# Environment: VAE_GPU (default target/release/vae-gpu), PYTHON (default python3; needs torch and
# numpy), and vae-gpu's own (VAE_GPU_BACKEND, VAE_GPU_ADAPTER, VAE_GPU_MATMUL).
# PyTorch is an optional tool here, never a build or test dependency.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vae="${VAE_GPU:-$root/target/release/vae-gpu}"
py="${PYTHON:-python3}"
batches=64,128,256,512 rounds=3 steps=10 repeats=5 threads=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --batch-sizes) batches="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "compare_pytorch.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "compare_pytorch.sh: torch/numpy not importable by '$py'; get them with: python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy, then rerun with PYTHON=/tmp/torchenv/bin/python3" >&2
    exit 1
fi
if [[ ! -x "$vae" ]]; then
    echo "compare_pytorch.sh: no vae-gpu binary at $vae (cargo build --release, or set VAE_GPU)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
torch_args=(--batch-sizes "$batches" --steps "$steps" --repeats "$repeats" --json)
if [[ -n "$threads" ]]; then torch_args+=(--threads "$threads"); fi

for ((r = 1; r <= rounds; r++)); do
    echo "round $r/$rounds: vae-gpu bench" >&2
    # --kernel-batch 1: the per-kernel breakdown, which bench always runs after the step timings,
    # is not used here; at one row it costs well under a second.
    "$vae" bench --json --batch-sizes "$batches" --steps "$steps" --repeats "$repeats" \
        --kernel-batch 1 >"$tmp/vae.$r.json" 2>"$tmp/vae.log" \
        || { cat "$tmp/vae.log" >&2; exit 1; }
    echo "round $r/$rounds: PyTorch" >&2
    "$py" "$root/tools/pytorch_step_bench.py" "${torch_args[@]}" >"$tmp/torch.$r.json"
done

"$py" - "$tmp" "$rounds" <<'EOF'
import json, statistics, sys

tmp, rounds = sys.argv[1], int(sys.argv[2])
vae = [json.load(open(f"{tmp}/vae.{r}.json")) for r in range(1, rounds + 1)]
torch = [json.load(open(f"{tmp}/torch.{r}.json")) for r in range(1, rounds + 1)]

def per_round(reports, key, pick):
    """{batch: [value of each round]} from each report's entries that `pick` accepts."""
    out = {}
    for rep in reports:
        for e in filter(pick, rep[key]):
            out.setdefault(e["batch_size"], []).append(e["images_per_second"])
    return out

gpu = per_round(vae, "batches", lambda e: True)
cpu = per_round(torch, "results", lambda e: e["device"] == "cpu")
cuda = per_round(torch, "results", lambda e: e["device"] == "cuda")

def cell(values, fmt="{:.0f}"):
    if not values:
        return "-"
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(lo)}-{fmt.format(hi)})"

t = torch[0]
print(f"vae-gpu: {vae[0]['adapter']}, matmul {vae[0]['matmul']}, model {vae[0]['model']}")
print(f"PyTorch: {t['torch']}, {t['threads']} threads" + (f", CUDA {t['cuda_device']}" if t["cuda_device"] else ""))
print(f"{rounds} rounds, {t['steps']} steps x {t['repeats']} repeats per round; "
      "images/s: median of the per-round medians (min-max over rounds)")
head = f"{'batch':>6}  {'vae-gpu':>22}  {'PyTorch CPU':>22}  {'vae-gpu/PyTorch CPU':>20}"
if cuda:
    head += f"  {'PyTorch CUDA':>22}"
print(head)
for batch in sorted(gpu):
    # vae-gpu clamps a batch to its training set; the two sides then name the same size.
    ratios = [g / c for g, c in zip(gpu[batch], cpu.get(batch, []))]
    line = (f"{batch:>6}  {cell(gpu[batch]):>22}  {cell(cpu.get(batch)):>22}  "
            f"{cell(ratios, '{:.2f}'):>20}")
    if cuda:
        line += f"  {cell(cuda.get(batch)):>22}"
    print(line)
EOF
