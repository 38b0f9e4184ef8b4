#!/usr/bin/env python3
"""Training-step throughput of vae-gpu's default VAE in PyTorch eager, for a side-by-side with
`vae-gpu bench`.

What it measures
----------------
The step that `vae-gpu bench` times, rebuilt in PyTorch (the PyTorch VAE example's model):
encoder 784-400 ReLU, heads 400-20 (mu) and 400-20 (logvar), z = mu + eps * exp(0.5 logvar)
with eps drawn on the device, decoder 20-400 ReLU, 400-784 logits; loss = BCE-with-logits
summed over the pixels + KL, summed over the batch (as vae-gpu, whose gradient scale is 1);
backward; Adam(lr=1e-3), PyTorch's default implementation for the device. Per step: a batch of
rows gathered through a fixed shuffled permutation from the training images (the first 9,000 of
assets/mnist-10k, float32 in [0, 1], resident on the device), forward, loss, backward, update.
The loss is never read back inside the timed loop (vae-gpu's bench never reads it either), so
CPU and GPU are not forced to meet at every step; CUDA is synchronized before each clock read.

Per batch size: `--warmup` untimed steps, then `--repeats` timed runs of `--steps` steps each;
it reports images/s at the median step time and its min-max over the repeats.

Run by hand, never by CI (needs torch and numpy):

    python3 tools/pytorch_step_bench.py [--device cpu|cuda|both] [--batch-sizes 64,128,256,512]
        [--steps 10] [--warmup 3] [--repeats 5] [--threads N] [--json]

tools/compare_pytorch.sh runs it in alternation with `vae-gpu bench`.
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(REPO, "assets", "mnist-10k", "images-idx3-ubyte.gz")
TEST_IMAGES = 1000  # vae-gpu keeps the last 1,000 embedded images as its test set


def load_train_images(path):
    """The IDX3 file's images but the last TEST_IMAGES, as float32 [n, rows*cols] in [0, 1]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX3 image file (magic {magic})")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8, count=count * rows * cols)
    images = pixels.reshape(count, rows * cols)[: count - TEST_IMAGES]
    return images.astype(np.float32) / 255.0


class VAE(nn.Module):
    def __init__(self, dim=784, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def loss_fn(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kl


def bench_device(device, images_np, batch_sizes, steps, warmup, repeats):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(1)
    data = torch.from_numpy(images_np).to(device)
    count = data.shape[0]
    perm = torch.randperm(count, generator=torch.Generator().manual_seed(1)).to(device)
    model = VAE(dim=data.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_counter = 0

    def step(batch):
        nonlocal step_counter
        # Consecutive windows of the permutation, as vae-gpu's bench walks its batches.
        start = (step_counter * batch) % (count - batch + 1)
        step_counter += 1
        x = data.index_select(0, perm[start : start + batch])
        logits, mu, logvar = model(x)
        loss = loss_fn(logits, x, mu, logvar)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    results = []
    for batch in batch_sizes:
        batch = max(1, min(batch, count))
        for _ in range(warmup):
            step(batch)
        times_ms = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = step(batch)
            sync()
            times_ms.append((time.perf_counter() - t0) * 1e3 / steps)
        # One read-back after the timed runs: the training must not have diverged.
        last = loss.item()
        if not np.isfinite(last):
            raise SystemExit(f"{device}: loss is {last} at batch {batch}")
        median_ms = statistics.median(times_ms)
        results.append(
            {
                "device": device.type,
                "batch_size": batch,
                "images_per_second": batch / (median_ms / 1e3),
                "images_per_second_min": batch / (max(times_ms) / 1e3),
                "images_per_second_max": batch / (min(times_ms) / 1e3),
                "step_ms_median": median_ms,
                "step_ms_min": min(times_ms),
                "step_ms_max": max(times_ms),
                "last_loss_per_image": last / batch,
            }
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda", "both"], default="both",
                        help="both: the CPU, and CUDA where torch.cuda.is_available()")
    parser.add_argument("--batch-sizes", default="64,128,256,512")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]

    torch.set_num_threads(args.threads)
    devices = [] if args.device == "cuda" else [torch.device("cpu")]
    if args.device != "cpu":
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        elif args.device == "cuda":
            raise SystemExit("--device cuda: torch.cuda.is_available() is False")

    images = load_train_images(IMAGES)
    results = []
    for device in devices:
        results += bench_device(device, images, batch_sizes, args.steps, max(args.warmup, 0),
                                max(args.repeats, 1))

    report = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"torch {report['torch']}, {report['threads']} threads"
          + (f", CUDA: {report['cuda_device']}" if report["cuda_device"] else ""))
    print(f"{'device':>6} {'batch':>6} {'images/s':>10} {'min-max':>15} {'ms/step':>9}")
    for r in results:
        span = f"{r['images_per_second_min']:.0f}-{r['images_per_second_max']:.0f}"
        print(f"{r['device']:>6} {r['batch_size']:>6} {r['images_per_second']:>10.0f} "
              f"{span:>15} {r['step_ms_median']:>9.2f}")


if __name__ == "__main__":
    sys.exit(main())
