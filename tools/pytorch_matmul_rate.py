#!/usr/bin/env python3
"""The fp32 rate of one size^3 matrix product in PyTorch, beside `vae-gpu bench --matmul-size`.

Times C = A @ B, A @ B^T and A^T @ B (vae-gpu's NN, NT and TN forms) in float32 with TF32 off
(so CUDA's tensor cores do not take part: the same arithmetic as vae-gpu's kernels, whose
target is a share of the GPU's fp32 peak), on CUDA when present, else on the CPU. Per form: one
untimed run, then the median of `--repeats` timed runs (CUDA synchronized around each). It puts
vae-gpu's rate next to what the vendor's library reaches on the same device.

Run by hand or by tools/device-check.sh, never by CI (needs torch):

    python3 tools/pytorch_matmul_rate.py [--size 4096] [--repeats 5] [--device cpu|cuda]
"""

import argparse
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    n = args.size
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=generator).to(device)
    b = torch.rand(n, n, generator=generator).to(device)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {device} ({name}), float32, TF32 off")
    print(f"{'form':>6} {'size':>6} {'ms':>10} {'TFLOP/s':>9}")
    for form, product in [
        ("NT", lambda: a @ b.T),
        ("NN", lambda: a @ b),
        ("TN", lambda: a.T @ b),
    ]:
        product()
        times = []
        for _ in range(max(args.repeats, 1)):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            product()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        print(f"{form:>6} {n:>6} {seconds * 1e3:>10.3f} {2 * n**3 / seconds / 1e12:>9.2f}")


if __name__ == "__main__":
    main()
