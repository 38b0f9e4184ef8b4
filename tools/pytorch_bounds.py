#!/usr/bin/env python3
"""Independent PyTorch check of `vae-gpu eval`: the negative ELBO and the importance-weighted bound.

What it does
------------
Loads a model written by vae-gpu (model.safetensors: nn.Linear layout, weight [out, in]; metadata
input_dim, hidden, latent, activation, binarize, ...), rebuilds encoder and decoder in PyTorch and,
in float64 on the CPU, computes for each test image x (gray levels x = byte / 255):

* the negative ELBO, averaged over S draws z ~ q(z|x) = N(mu, exp(logvar)) (--elbo-samples):
  loss = mean_s BCE(x, decoder_logits(z_s)) + KL, KL = 0.5 sum(mu^2 + exp(logvar) - 1 - logvar),
  BCE summed over the pixels (binary_cross_entropy_with_logits, gray-level targets);
* the importance-weighted bound with k draws (--k):
  iwae = -log (1/k) sum_i exp(log w_i),
  log w_i = -BCE(x, logits(z_i)) + log N(z_i; 0, I) - log N(z_i; mu, exp(logvar)).

It prints the mean over images and the standard error (sample std / sqrt(n)) of both, and the
per-image mean reconstruction term and KL. The test set is the last 1,000 images of the embedded
MNIST-10k (assets/mnist-10k), or the t10k file of a folder given with --data (MNIST or
Fashion-MNIST layout). Models trained on binarized images (binarize static or dynamic) are refused:
the project evaluates those on a binarization drawn with its own RNG, which this script does not
reproduce.

Run by hand, never by CI. Needs torch, numpy and safetensors.

Comparing with `vae-gpu eval`
-----------------------------
Use the same --k, --elbo-samples and --limit (and --data) on both sides:

    vae-gpu eval --checkpoint RUN --k 200 --elbo-samples 50 --limit 300 --json
    python3 tools/pytorch_bounds.py RUN/model.safetensors --k 200 --elbo-samples 50 --limit 300

The draws of z differ, so the numbers are not equal: each side's mean should agree with the other
within a few standard errors of the difference, sqrt(stderr_a^2 + stderr_b^2) (an upper bound; the
per-image spread is shared by both sides, so the real gap from the draws alone is far smaller).
The KL is analytic and should agree to float32 rounding.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED = os.path.join(ROOT, "assets", "mnist-10k", "images-idx3-ubyte.gz")
ACTIVATIONS = {
    "relu": torch.relu,
    "leaky-relu": lambda t: F.leaky_relu(t, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda t: t,
}


def read_idx_images(path):
    """Images of an IDX3 file (gzipped or not) as a uint8 array [n, rows * cols]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x00000803:
        sys.exit(f"{path}: not an IDX3 image file (magic {magic:#010x})")
    pixels = np.frombuffer(data, dtype=np.uint8, count=n * rows * cols, offset=16)
    return pixels.reshape(n, rows * cols)


def test_images(data_dir):
    """The test set as float64 gray levels [n, pixels]."""
    if data_dir is None:
        images = read_idx_images(EMBEDDED)[9000:10000]
    else:
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
            path = os.path.join(data_dir, name)
            if os.path.exists(path):
                break
        else:
            sys.exit(f"{data_dir}: no t10k-images-idx3-ubyte[.gz] in this folder")
        images = read_idx_images(path)
    return torch.from_numpy(images.astype(np.float64) / 255.0)


def load_model(path):
    """(params, meta): float64 tensors by name and the metadata strings."""
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
        params = {k: torch.from_numpy(f.get_tensor(k).astype(np.float64)) for k in f.keys()}
    binarize = meta.get("binarize", "none")
    if binarize != "none":
        sys.exit(f"{path}: trained with binarize={binarize}; this script checks gray-level models "
                 "only (the project evaluates those on a binarization drawn with its own RNG)")
    likelihood = meta.get("likelihood", "bernoulli")
    if likelihood != "bernoulli":
        sys.exit(f"{path}: likelihood={likelihood}; this script knows only the Bernoulli one")
    if meta.get("activation") not in ACTIVATIONS:
        sys.exit(f"{path}: unknown activation {meta.get('activation')!r}")
    return params, meta


class Vae:
    def __init__(self, params, meta):
        self.p = params
        self.act = ACTIVATIONS[meta["activation"]]
        hidden = [int(h) for h in meta.get("hidden", "").split(",") if h.strip()]
        self.depth = len(hidden)
        self.input_dim = int(meta["input_dim"])
        self.latent = int(meta["latent"])
        # Check the shapes against the metadata, so that a layout mismatch fails loudly.
        widths = [self.input_dim] + hidden
        for i in range(self.depth):
            self.expect(f"encoder.{2 * i}", widths[i + 1], widths[i])
        self.expect("mu", self.latent, widths[-1])
        self.expect("logvar", self.latent, widths[-1])
        dec = [self.latent] + hidden[::-1] + [self.input_dim]
        for i in range(len(dec) - 1):
            self.expect(f"decoder.{2 * i}", dec[i + 1], dec[i])

    def expect(self, name, out_dim, in_dim):
        w, b = self.p.get(name + ".weight"), self.p.get(name + ".bias")
        if w is None or b is None:
            sys.exit(f"model has no {name}.weight / {name}.bias")
        if tuple(w.shape) != (out_dim, in_dim) or tuple(b.shape) != (out_dim,):
            sys.exit(f"{name}: shape {tuple(w.shape)}/{tuple(b.shape)}, "
                     f"expected ({out_dim}, {in_dim})/({out_dim},)")

    def linear(self, name, t):
        return F.linear(t, self.p[name + ".weight"], self.p[name + ".bias"])

    def encode(self, x):
        h = x
        for i in range(self.depth):
            h = self.act(self.linear(f"encoder.{2 * i}", h))
        return self.linear("mu", h), self.linear("logvar", h)

    def decode(self, z):
        h = z
        for i in range(self.depth):
            h = self.act(self.linear(f"decoder.{2 * i}", h))
        return self.linear(f"decoder.{2 * self.depth}", h)


def recon_per_draw(vae, x, z):
    """BCE(x, logits(z)) summed over pixels, for z [draws, latent] and one image x: [draws]."""
    logits = vae.decode(z)
    target = x.expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)


def bounds_for_image(vae, x, elbo_samples, k, chunk):
    """(loss, reconstruction, kl, iwae) for one image x [pixels]."""
    mu, logvar = vae.encode(x.unsqueeze(0))
    mu, logvar = mu[0], logvar[0]
    std = torch.exp(0.5 * logvar)
    kl = 0.5 * torch.sum(mu * mu + torch.exp(logvar) - 1.0 - logvar)

    recon_sum = 0.0
    for start in range(0, elbo_samples, chunk):
        eps = torch.randn(min(chunk, elbo_samples - start), vae.latent, dtype=torch.float64)
        recon_sum += recon_per_draw(vae, x, mu + std * eps).sum().item()
    recon = recon_sum / elbo_samples

    log_w = []
    for start in range(0, k, chunk):
        eps = torch.randn(min(chunk, k - start), vae.latent, dtype=torch.float64)
        z = mu + std * eps
        # log N(z; 0, I) - log N(z; mu, exp(logvar)); the 2*pi terms cancel.
        log_prior = -0.5 * torch.sum(z * z, dim=1)
        log_q = -0.5 * torch.sum(eps * eps, dim=1) - 0.5 * torch.sum(logvar)
        log_w.append(-recon_per_draw(vae, x, z) + log_prior - log_q)
    log_w = torch.cat(log_w)
    iwae = -(torch.logsumexp(log_w, dim=0) - math.log(k)).item()
    return recon + kl.item(), recon, kl.item(), iwae


def mean_stderr(values):
    v = np.asarray(values, dtype=np.float64)
    stderr = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "stderr": float(stderr)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model.safetensors written by vae-gpu")
    ap.add_argument("--data", help="folder with t10k-images-idx3-ubyte.gz [default: embedded MNIST-10k]")
    ap.add_argument("--k", type=int, default=1000, help="draws per image for the IWAE bound")
    ap.add_argument("--elbo-samples", type=int, default=100, help="draws per image for the ELBO")
    ap.add_argument("--limit", type=int, help="use only the first N test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=500, help="draws per decoder batch (memory bound)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    if args.k < 1 or args.elbo_samples < 1 or args.chunk < 1:
        sys.exit("--k, --elbo-samples and --chunk must be at least 1")

    params, meta = load_model(args.model)
    vae = Vae(params, meta)
    images = test_images(args.data)
    if images.shape[1] != vae.input_dim:
        sys.exit(f"images have {images.shape[1]} pixels, the model expects {vae.input_dim}")
    if args.limit is not None:
        images = images[: args.limit]

    torch.manual_seed(args.seed)
    rows = []
    with torch.no_grad():
        for x in images:
            rows.append(bounds_for_image(vae, x, args.elbo_samples, args.k, args.chunk))
    loss, recon, kl, iwae = zip(*rows)
    report = {
        "images": len(rows),
        "elbo_samples": args.elbo_samples,
        "k": args.k,
        "loss": mean_stderr(loss),
        "reconstruction": mean_stderr(recon)["mean"],
        "kl": mean_stderr(kl)["mean"],
        "iwae_bound": mean_stderr(iwae),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['images']} images, ELBO over {args.elbo_samples} draws, IWAE with k = {args.k}")
    print(f"  negative ELBO  {report['loss']['mean']:10.4f} ± {report['loss']['stderr']:.4f}")
    print(f"    reconstruction {report['reconstruction']:10.4f}")
    print(f"    KL             {report['kl']:10.4f}")
    print(f"  IWAE bound     {report['iwae_bound']['mean']:10.4f} ± {report['iwae_bound']['stderr']:.4f}")


if __name__ == "__main__":
    main()
