#!/usr/bin/env python3
"""Independent PyTorch reference for the VAE: writes tests/fixtures/pytorch_reference.safetensors.

What it does
------------
Builds a small VAE in PyTorch (input 64, hidden 32, latent 6), fixes its initial weights, one batch
of 13 images and the reparameterization noise, and writes PyTorch's numbers into one safetensors
file, so that the Rust tests can hold the project's GPU kernels and CPU reference to a judge that is
not the project itself. The noise comes from a second, independent implementation of the project's
RNG (Philox4x32-10 + Box–Muller), written here in Python and checked against the Random123 known
answers.

Run by hand, never by CI:

    python3 tools/pytorch_reference.py [--out tests/fixtures/pytorch_reference.safetensors]

Needs torch, numpy and safetensors. Rerunning gives the same tensor bytes (float64 on the CPU, one
thread, fixed seeds).

Conventions
-----------
* Parameters use PyTorch's nn.Linear layout, weight [out, in], and the names of the Rust
  checkpoints: encoder.0.{weight,bias} [32,64]/[32], mu.{weight,bias} [6,32]/[6],
  logvar.{weight,bias} [6,32]/[6], decoder.0.{weight,bias} [32,6]/[32],
  decoder.2.{weight,bias} [64,32]/[64].
  encoder = Linear(64,32), ACT; decoder = Linear(6,32), ACT, Linear(32,64); the decoder outputs
  logits. Two variants: ACT = ReLU (prefix `relu.`) and ACT = Tanh (prefix `tanh.`).
* Initial parameters, shared by both variants: torch.manual_seed(1234), then PyTorch's default
  nn.Linear init, modules created in the order encoder, mu, logvar, decoder. Stored as `init.<name>`
  (they are float32 values, stored exactly).
* Everything is computed in float64 (model converted with .double() after init) and stored as
  float32 (little-endian F32).
* Batch: `images` [13, 64] holds the bytes of
  numpy.random.default_rng(2024).integers(0, 256, size=(13, 64)) as float32 (exact integers).
  The model's input is x = byte / 255, computed in float64.
* Noise: Philox4x32-10 with key [seed & 0xffffffff, seed >> 32], seed 7. Element `index` of draw
  (step, stream) uses the block of counter [index >> 2, step, stream, 0], lane = index & 3; the
  uniform pair is words (0, 1) for lanes 0, 1 and words (2, 3) for lanes 2, 3.
  unit(b) = f32((b >> 8) + 1) * f32(2^-24) in (0, 1];
  radius = sqrt(max(-2 log unit(x), 0)), angle = f32(6.2831855) * unit(y);
  eps = radius cos(angle) for even lanes, radius sin(angle) for odd lanes.
  All of it is float32 arithmetic: every operation is rounded to float32; log, sqrt, cos and sin are
  evaluated in float64 on the float32 argument and rounded once to float32 (the correctly rounded
  float32 result, which does not depend on numpy's SIMD float32 kernels of the machine).
  Noise of training step t: eps[r, j] = normal(index = r * 6 + j, step = t, stream = 0), stored as
  `eps.step{t}` [13, 6], t = 0, 1, 2; used in float64 by the model.
* Loss (PyTorch VAE example, summed over the batch):
  h = encoder(x); mu = mu(h); logvar = logvar(h); z = mu + exp(0.5 logvar) * eps;
  logits = decoder(z); recon[r] = sum_j BCE-with-logits(logits[r, j], x[r, j]);
  kl[r] = -0.5 * sum_j (1 + logvar - mu^2 - exp(logvar)); L = sum_r (recon[r] + kl[r]).
* Per variant V:
  `V.recon` [13], `V.kl` [13] at the initial parameters with eps.step0;
  `V.grad.<name>` = dL/d<name> at the same point;
  `V.adam.step{t}.<name>` / `V.adamw.step{t}.<name>` = parameter after minus before optimizer
  step t (t = 0, 1, 2; computed in float64), three steps from the initial parameters on the same
  batch, step t using eps.step{t}, with torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
  and torch.optim.AdamW(same, weight_decay=0.01);
  `V.adam.loss` [3] / `V.adamw.loss` [3] = L before each step's update.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import load_file

INPUT_DIM = 64
HIDDEN = 32
LATENT = 6
BATCH = 13
SEED = 7
STREAM = 0
STEPS = 3
LR = 1e-3
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.01
INIT_SEED = 1234
DATA_SEED = 2024

PARAM_NAMES = [
    "encoder.0.weight",
    "encoder.0.bias",
    "mu.weight",
    "mu.bias",
    "logvar.weight",
    "logvar.bias",
    "decoder.0.weight",
    "decoder.0.bias",
    "decoder.2.weight",
    "decoder.2.bias",
]

# --------------------------------------------------------------------------------------------
# Philox4x32-10 and Box–Muller, an independent second implementation of the project's RNG.
# --------------------------------------------------------------------------------------------

MASK32 = 0xFFFFFFFF
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10

KNOWN_ANSWERS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (
        [0xFFFFFFFF] * 4,
        [0xFFFFFFFF] * 2,
        [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD],
    ),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


def philox4x32_10(counter, key):
    c0, c1, c2, c3 = (w & MASK32 for w in counter)
    k0, k1 = (w & MASK32 for w in key)
    for rnd in range(PHILOX_ROUNDS):
        if rnd > 0:
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> 32) ^ c1 ^ k0,
            p1 & MASK32,
            (p0 >> 32) ^ c3 ^ k1,
            p0 & MASK32,
        )
    return [c0, c1, c2, c3]


def seed_key(seed):
    return [seed & MASK32, (seed >> 32) & MASK32]


F32 = np.float32


def f32_of(value):
    """Rounds a Python float (binary64) to the nearest float32."""
    return F32(value)


def unit_float(bits):
    # (bits >> 8) + 1 <= 2^24 is exact in f32, and so is the product by 2^-24.
    return F32((bits >> 8) + 1) * F32(1.0 / 16777216.0)


TWO_PI_F32 = F32(6.2831855)


def normal(key, index, step, stream):
    """Standard normal float32 for element `index` of draw (step, stream)."""
    bits = philox4x32_10([index >> 2, step, stream, 0], key)
    lane = index & 3
    ux, uy = (bits[0], bits[1]) if lane < 2 else (bits[2], bits[3])
    u_radius = unit_float(ux)
    u_angle = unit_float(uy)
    log_u = f32_of(math.log(float(u_radius)))
    r2 = F32(-2.0) * log_u
    r2 = r2 if r2 > 0 else F32(0.0)
    radius = f32_of(math.sqrt(float(r2)))
    angle = TWO_PI_F32 * u_angle
    if lane & 1 == 0:
        trig = f32_of(math.cos(float(angle)))
    else:
        trig = f32_of(math.sin(float(angle)))
    return F32(radius * trig)


def normal_numpy_f32(key, index, step, stream):
    """The same draw with numpy's own float32 log/sqrt/cos/sin, for the printed comparison only."""
    bits = philox4x32_10([index >> 2, step, stream, 0], key)
    lane = index & 3
    ux, uy = (bits[0], bits[1]) if lane < 2 else (bits[2], bits[3])
    r2 = np.maximum(F32(-2.0) * np.log(unit_float(ux)), F32(0.0))
    radius = np.sqrt(r2)
    angle = TWO_PI_F32 * unit_float(uy)
    trig = np.cos(angle) if lane & 1 == 0 else np.sin(angle)
    return F32(radius * trig)


def check_philox():
    for counter, key, expected in KNOWN_ANSWERS:
        got = philox4x32_10(counter, key)
        assert got == expected, (
            f"Philox known answer failed: counter {counter} key {key}: "
            f"got {[hex(w) for w in got]}, want {[hex(w) for w in expected]}"
        )


def training_noise(step, fn=normal):
    key = seed_key(SEED)
    eps = np.empty((BATCH, LATENT), dtype=np.float32)
    for r in range(BATCH):
        for j in range(LATENT):
            eps[r, j] = fn(key, r * LATENT + j, step, STREAM)
    return eps


# --------------------------------------------------------------------------------------------
# Model, loss.
# --------------------------------------------------------------------------------------------


class VAE(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(INPUT_DIM, HIDDEN), act())
        self.mu = nn.Linear(HIDDEN, LATENT)
        self.logvar = nn.Linear(HIDDEN, LATENT)
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, HIDDEN), act(), nn.Linear(HIDDEN, INPUT_DIM)
        )

    def forward(self, x, eps):
        h = self.encoder(x)
        mu = self.mu(h)
        logvar = self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return recon, kl, logits


def initial_state():
    torch.manual_seed(INIT_SEED)
    model = VAE(nn.ReLU)  # activations hold no parameters: the init is the same for both variants
    state = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert list(state) == PARAM_NAMES, list(state)
    return state


def make_model(act, init):
    model = VAE(act).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(init[name].double())
    return model


def as_f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))


def run_variant(prefix, act, init, x, eps_steps, out):
    # Loss parts and gradients at the initial parameters with eps.step0.
    model = make_model(act, init)
    recon, kl, logits = model(x, eps_steps[0])
    manual = (
        logits.clamp(min=0) - x * logits + torch.log1p(torch.exp(-logits.abs()))
    ).sum(1)
    assert torch.allclose(recon, manual, rtol=1e-13, atol=1e-12)
    loss = (recon + kl).sum()
    loss.backward()
    out[f"{prefix}.recon"] = as_f32(recon)
    out[f"{prefix}.kl"] = as_f32(kl)
    grads = {}
    for name, p in model.named_parameters():
        grads[name] = p.grad.detach().clone()
        out[f"{prefix}.grad.{name}"] = as_f32(p.grad)
    print(
        f"{prefix}: L = {loss.item():.9f}  sum recon = {recon.sum().item():.9f}  "
        f"sum kl = {kl.sum().item():.9f}"
    )

    # Three optimizer steps from the initial parameters, step t using eps.step{t}.
    for opt_name in ("adam", "adamw"):
        model = make_model(act, init)
        params = list(model.parameters())
        if opt_name == "adam":
            opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=ADAM_EPS, foreach=False)
        else:
            opt = torch.optim.AdamW(
                params, lr=LR, betas=BETAS, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY, foreach=False
            )
        losses = []
        for t in range(STEPS):
            opt.zero_grad(set_to_none=True)
            recon, kl, _ = model(x, eps_steps[t])
            loss = (recon + kl).sum()
            losses.append(loss.item())
            loss.backward()
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            opt.step()
            for n, p in model.named_parameters():
                delta = p.detach() - before[n]
                out[f"{prefix}.{opt_name}.step{t}.{n}"] = as_f32(delta)
                if t == 0:
                    # First step: m_hat = g, v_hat = g^2, so the Adam part is -lr g / (|g| + eps).
                    g = grads[n]
                    want = -LR * g / (g.abs() + ADAM_EPS)
                    if opt_name == "adamw":
                        want = want - LR * WEIGHT_DECAY * init[n].double()
                    assert torch.allclose(delta, want, rtol=1e-9, atol=1e-15), (prefix, opt_name, n)
        out[f"{prefix}.{opt_name}.loss"] = np.asarray(losses, dtype="<f4")
        print(f"{prefix}.{opt_name}.loss = {[f'{v:.9f}' for v in losses]}")

    # First Adam update of each parameter: |delta| ~ lr wherever the gradient is not ~0.
    for n in PARAM_NAMES:
        d = np.abs(out[f"{prefix}.adam.step0.{n}"])
        zero = int((grads[n] == 0).sum())
        print(
            f"  {prefix}.adam.step0.{n:17s} |d| max {d.max():.6e} median {np.median(d):.6e} "
            f"min {d.min():.3e}  zero grads {zero}/{d.size}"
        )


def write_safetensors(path, tensors, metadata):
    """Writes a safetensors file with a canonical layout, so that a rerun gives the same bytes.

    safetensors' own writer keeps the metadata in a hash map, whose order changes from run to run;
    here the header lists the metadata first, then the tensors in name order, with their data in
    the same order, and the header is padded with spaces to a multiple of 8 bytes. The result is
    read back with safetensors' loader and compared.
    """
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = array.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in blobs:
            f.write(data)

    back = load_file(path)
    assert sorted(back) == sorted(tensors)
    for name, array in tensors.items():
        assert back[name].dtype == np.float32 and back[name].shape == array.shape, name
        assert back[name].tobytes() == array.tobytes(), name
    with safe_open(path, framework="numpy") as f:
        assert f.metadata() == metadata


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        default=os.path.join(repo_root, "tests", "fixtures", "pytorch_reference.safetensors"),
        help="where to write the fixture (default: tests/fixtures/pytorch_reference.safetensors)",
    )
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    check_philox()

    out = {}
    init = initial_state()
    for n in PARAM_NAMES:
        out[f"init.{n}"] = as_f32(init[n])

    images = np.random.default_rng(DATA_SEED).integers(0, 256, size=(BATCH, INPUT_DIM))
    out["images"] = images.astype("<f4")
    x = torch.from_numpy(images.astype(np.float64) / 255.0)

    eps_np = [training_noise(t) for t in range(STEPS)]
    for t, e in enumerate(eps_np):
        out[f"eps.step{t}"] = e.astype("<f4")
        alt = training_noise(t, normal_numpy_f32)
        ulps = np.abs(e.view(np.int32).astype(np.int64) - alt.view(np.int32).astype(np.int64))
        print(
            f"eps.step{t}: max |eps| {np.abs(e).max():.6f}  mean {e.mean():+.6f}  "
            f"std {e.std():.6f}  (vs numpy float32 libm: max {ulps.max()} ulp)"
        )
    eps_steps = [torch.from_numpy(e.astype(np.float64)) for e in eps_np]

    run_variant("relu", nn.ReLU, init, x, eps_steps, out)
    run_variant("tanh", nn.Tanh, init, x, eps_steps, out)

    metadata = {
        "seed": str(SEED),
        "lr": "0.001",
        "weight_decay": "0.01",
        "batch": str(BATCH),
        "input_dim": str(INPUT_DIM),
        "hidden": str(HIDDEN),
        "latent": str(LATENT),
        "stream": str(STREAM),
        "dtype": "float64 computed, stored float32",
        "generator": f"tools/pytorch_reference.py (torch {torch.__version__})",
        "torch_version": torch.__version__,
    }
    for k, v in out.items():
        assert v.dtype == np.dtype("<f4"), k
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_safetensors(args.out, out, metadata)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {len(out)} tensors, {size} bytes")
    assert size < 1 << 20


if __name__ == "__main__":
    sys.exit(main())
