#!/usr/bin/python3
"""Generate golora's PyTorch reference data for the LoRA family (DoRA, PiSSA,
OLoRA, gaussian init) on the tiny ViT.

Run with Debian's interpreter and python3-torch (torch 1.13):

    /usr/bin/python3 testdata/gen_family.py

It reuses gen_reference.py's tiny ViT, weights and inputs (that script's
outputs are not touched) and re-implements in plain torch what PEFT computes
(tuners/lora/layer.py, dora.py, variants.py, peft_model.py):

* DoRA (DoraLinearVariant.forward, DoraLinearLayer.forward):
      norm   = ||W + s * B @ A|| per output row, DETACHED
      c      = m / norm            (m = lora_magnitude_vector, trainable)
      x~     = dropout(x) in training with lora_dropout > 0, else x
      base   = y - bias when x~ is x (PR #2122 reuses the base result),
               else F.linear(x~, W)
      y     += (c - 1) * base + c * s * B @ A @ x~
  merge: W' = (m / ||W + s B A||) * (W + s B A), row-wise.
  Stored key: base_model.model.<module>.lora_magnitude_vector (no ".weight").
  The dropout masks are golora's (kernels.DropoutForward with seed
  nn.SeedFor(module, step): SplitMix64, re-implemented below), so both sides
  drop the same elements; torch's own generator could not be matched.
* PiSSA (pissa_init): W = U S V^T (torch.linalg.svd), S_r /= s,
  A = diag(sqrt(S_r)) V_r^T, B = U_r diag(sqrt(S_r)), W <- W - s B A.
* OLoRA (olora_init): Q, R = torch.linalg.qr(W), B = Q[:, :r], A = R[:r],
  W <- W - s B A.
* PiSSA/OLoRA conversion (save_pretrained with
  path_initial_model_for_weight_conversion, subtract_mutated_init): the
  adapter becomes lora_A = [A ; A0], lora_B = [B | -B0] with r and
  lora_alpha doubled and init_lora_weights true; on the ORIGINAL base it
  computes what the trained adapter computes on the residual base.
* gaussian (reset_lora_parameters): A ~ N(0, 1/r), B = 0.

As in gen_reference.py all model math is float64 on float32-rounded values.
The factorisations run in float64 on the f32 weights, and their results are
rounded to f32 once; the residual W - s B A is computed from the rounded
factors and rounded once, as PEFT computes it from its f32 factors.

Independent checks (the script stops on the first failure):
* DoRA logits against the merged weight m * (W + sBA) / ||W + sBA||, and the
  gradients of A, B and m against the chain rule through that merged
  weight with the norm held constant;
* DoRA's dropout branch with an all-keep mask against the no-dropout branch
  (base result recomputed vs. reused);
* DoRA gradients against fourth-order finite differences along a random
  direction, with the norm held at its value (it is detached);
* PiSSA/OLoRA: right after init the logits are the base model's; the PiSSA
  residual's singular values are W's beyond the first r; U S V^T and Q R
  reconstruct W; the converted rank-2r adapter on the original base gives
  the trained adapter's logits on the residual base;
* every file read back with gen_reference.py's strict reader.

Outputs (deterministic; the last line is a sha256 over them):
  dora/            adapter/ (use_dora, trained factors and magnitude, classifier copy), expected.safetensors
  dora-dropout/    the same with lora_dropout 0.25 in training mode at micro-step 3, expected.safetensors
  pissa/, olora/   adapter/ (trained), initial/ (right after init), converted/ (PEFT's conversion),
                   expected.safetensors (logits, loss, grads, the residual weights, logits at init,
                   logits of the converted adapter on the original base)
  lora-gaussian/   adapter/ (init_lora_weights "gaussian"), expected.safetensors
"""

import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_reference as ref  # noqa: E402  (its main() does not run on import)

R, ALPHA = 4, 8
S = ALPHA / R
TARGETS = ["query", "value"]
DROPOUT_P = 0.25
DROPOUT_STEP = 3

# --------------------------------------------------------------------------
# golora's dropout masks (kernels/dropout.go, nn.SeedFor)
# --------------------------------------------------------------------------

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def seed_for(name, step):
    """nn.SeedFor: FNV-1a 64 of the module name, xor step * golden."""
    h = 14695981039346656037
    for b in name.encode():
        h ^= b
        h = (h * 1099511628211) & M64
    return h ^ ((step * GOLDEN) & M64)


def splitmix_final(z):
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9))
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB))
    return z ^ (z >> np.uint64(31))


def golora_keep_mask(name, step, p, n):
    """Element i is kept iff hi32(splitmix_final(seed + (i+1)*golden)) >= p * 2^32."""
    seed = np.uint64(seed_for(name, step))
    idx = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = seed + idx * np.uint64(GOLDEN)
        h = splitmix_final(z) >> np.uint64(32)
    thr = int(float(np.float32(p)) * 2 ** 32)
    return torch.from_numpy((h >= np.uint64(thr)).astype(np.float64))


def golora_dropout(x, name, step, p):
    """kernels.DropoutForward: x * keep / (1 - p), the scale rounded to f32 as Go computes it."""
    keep = golora_keep_mask(name, step, p, x.numel()).view(x.shape)
    scale = float(np.float32(1) / (np.float32(1) - np.float32(p)))
    return x * keep * scale


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def targets():
    return [n for n in ref.linear_names(ref.CFG) if ref.peft_target_matches(n, TARGETS)]


def short(n):
    return n.replace("vit.encoder.", "").replace("attention.attention.", "")


def adapter_config(**changes):
    cfg = ref.peft_adapter_config(R, ALPHA)
    cfg.update(changes)
    return cfg


def write_adapter(dirname, tensors, cfg):
    ref.write_safetensors(os.path.join(dirname, "adapter_model.safetensors"),
                          {"base_model.model." + k: v.float() for k, v in tensors.items()})
    ref.write_json(os.path.join(dirname, "adapter_config.json"), cfg, trailing_newline=False)


def loss_and_grads(train, x, labels, fwd):
    tp = {k: v.detach().clone().requires_grad_(True) for k, v in train.items()}
    logits = fwd(tp, x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return logits.detach(), loss.detach(), {k: v.grad for k, v in tp.items()}


def fd_check(name, train, x, labels, fwd, grads, seed):
    """Fourth-order central difference of the loss along a random direction vs <grad, direction>."""
    g = torch.Generator().manual_seed(seed)
    d = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in train.items()}
    eps = 1e-4

    def at(t):
        return F.cross_entropy(fwd({k: v + t * d[k] for k, v in train.items()}, x), labels).item()

    with torch.no_grad():
        fd = (8 * (at(eps) - at(-eps)) - (at(2 * eps) - at(-2 * eps))) / (12 * eps)
    an = sum((grads[k] * d[k]).sum().item() for k in train)
    rel = abs(fd - an) / max(1e-12, abs(an))
    ok = rel < 1e-8
    print(f"  check {name + ' finite difference':<58s} rel err {rel:.3e} {'ok' if ok else 'FAIL'}")
    if not ok:
        sys.exit(f"check failed: {name} finite difference ({fd} vs {an})")


def expected(x, labels, logits, loss, grads, **extra):
    exp = {"pixel_values": x.float(), "labels": labels, "logits": logits.float(), "loss": loss.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    for k, v in extra.items():
        exp[k] = v.float()
    return exp


# --------------------------------------------------------------------------
# DoRA
# --------------------------------------------------------------------------


def dora_adapter(W, b, A, B, m, s, norm=None, dropout=None):
    """PEFT's DoRA on a Linear whose base output is y = x W^T + b. norm, if given, replaces ||W + sBA||."""
    def f(x, y):
        if norm is None:
            wn = (W + s * (B @ A)).norm(dim=1).detach()
        else:
            wn = norm
        c = (m / wn).view(1, -1)
        if dropout is None:
            xd, base = x, y - b
        else:
            xd = dropout(x)
            base = F.linear(xd, W)
        return y + (c - 1) * base + c * F.linear(F.linear(xd, A), B) * s
    return f


def gen_dora(dirname, P, x, labels, seed, dropout_p=0.0):
    out = os.path.join(HERE, dirname)
    print(f"{dirname}:")
    names = targets()
    H = ref.CFG["hidden_size"]
    g = torch.Generator().manual_seed(seed)
    train = {}
    for n in names:  # "trained": random factors, a magnitude away from the norm
        train[n + ".lora_A.weight"] = ref.f32(0.2 * torch.randn([R, H], generator=g, dtype=torch.float64))
        train[n + ".lora_B.weight"] = ref.f32(0.2 * torch.randn([H, R], generator=g, dtype=torch.float64))
        w0 = (P[n + ".weight"] + S * train[n + ".lora_B.weight"] @ train[n + ".lora_A.weight"]).norm(dim=1)
        train[n + ".lora_magnitude_vector"] = ref.f32(w0 * (1 + 0.3 * torch.randn([H], generator=g, dtype=torch.float64)))
    for k in ("classifier.weight", "classifier.bias"):
        train[k] = ref.f32(P[k] + 0.1 * torch.randn(P[k].shape, generator=g, dtype=torch.float64))

    def make_fwd(norms=None, mask_all_keep=False, training=True):
        def fwd(tp, xx):
            p = dict(P)
            p["classifier.weight"], p["classifier.bias"] = tp["classifier.weight"], tp["classifier.bias"]
            ad = {}
            for n in names:
                drop = None
                if dropout_p > 0 and training:
                    if mask_all_keep:
                        drop = lambda t: t  # noqa: E731
                    else:
                        drop = (lambda name: lambda t: golora_dropout(t, name, DROPOUT_STEP, dropout_p))(n)
                ad[n] = dora_adapter(P[n + ".weight"], P[n + ".bias"], tp[n + ".lora_A.weight"], tp[n + ".lora_B.weight"],
                                     tp[n + ".lora_magnitude_vector"], S, None if norms is None else norms[n], drop)
            return ref.vit_forward(p, xx, ref.CFG, adapters=ad)
        return fwd

    fwd = make_fwd()
    logits, loss, grads = loss_and_grads(train, x, labels, fwd)
    norms = {n: (P[n + ".weight"] + S * train[n + ".lora_B.weight"] @ train[n + ".lora_A.weight"]).norm(dim=1)
             for n in names}

    # merged: W' = m * (W + sBA) / ||W + sBA|| (rows); bias unchanged
    def merged_params(tp):
        mp = dict(P)
        mp["classifier.weight"], mp["classifier.bias"] = tp["classifier.weight"], tp["classifier.bias"]
        for n in names:
            wp = P[n + ".weight"] + S * tp[n + ".lora_B.weight"] @ tp[n + ".lora_A.weight"]
            mp[n + ".weight"] = (tp[n + ".lora_magnitude_vector"] / norms[n]).view(-1, 1) * wp
        return mp

    with torch.no_grad():
        logits_eval = make_fwd(training=False)(train, x)
        merged32 = {k: (ref.f32(v) if k.endswith(".weight") else v) for k, v in merged_params(train).items()}
        logits_merged = ref.vit_forward(merged32, x, ref.CFG)

    # --- independent checks -------------------------------------------
    with torch.no_grad():
        ref.check("eval logits vs merged m (W + sBA) / ||W + sBA||", ref.vit_forward(merged_params(train), x, ref.CFG),
                  logits_eval, 1e-12)
        ref.check("logits_merged (f32 merged weights) vs eval logits", logits_merged, logits_eval, 1e-5)
    if dropout_p == 0:
        # gradients by the chain rule through the merged weight, norm constant
        mp = {k: v.clone().requires_grad_(True) for k, v in merged_params(train).items()}
        F.cross_entropy(ref.vit_forward(mp, x, ref.CFG), labels).backward()
        for n in names:
            A, B, m = train[n + ".lora_A.weight"], train[n + ".lora_B.weight"], train[n + ".lora_magnitude_vector"]
            dWp = mp[n + ".weight"].grad  # gradient w.r.t. the merged weight
            wp = P[n + ".weight"] + S * B @ A
            c = (m / norms[n]).view(-1, 1)
            ref.check(f"{short(n)} dm vs sum(dW' * (W + sBA)) / norm", grads[n + ".lora_magnitude_vector"],
                      (dWp * wp).sum(dim=1) / norms[n], 1e-11)
            ref.check(f"{short(n)} dB vs s (c dW') A^T", grads[n + ".lora_B.weight"], S * (c * dWp) @ A.T, 1e-11)
            ref.check(f"{short(n)} dA vs s B^T (c dW')", grads[n + ".lora_A.weight"], S * B.T @ (c * dWp), 1e-11)
    else:
        with torch.no_grad():
            ref.check("dropout branch, all-keep mask vs no-dropout branch",
                      make_fwd(mask_all_keep=True)(train, x), logits_eval, 1e-12)
        tokens = (ref.CFG["image_size"] // ref.CFG["patch_size"]) ** 2 + 1
        dropped = sum(1 - golora_keep_mask(n, DROPOUT_STEP, dropout_p, x.shape[0] * tokens * H).mean().item()
                      for n in names) / len(names)
        print(f"  golora masks drop {dropped:.3f} of the elements (p = {dropout_p})")
        if abs(dropped - dropout_p) > 0.05:
            sys.exit("dropout masks do not drop at rate p")
    fd_check(dirname + " (norm held constant)", train, x, labels, make_fwd(norms=norms), grads, seed + 1)
    diff = (logits - ref.vit_forward(P, x, ref.CFG)).abs().max().item()
    print(f"  adapter moves the logits by up to {diff:.3f}")

    write_adapter(os.path.join(out, "adapter"), train, adapter_config(use_dora=True, lora_dropout=dropout_p))
    ref.write_safetensors(os.path.join(out, "expected.safetensors"),
                          expected(x, labels, logits, loss, grads, logits_eval=logits_eval, logits_merged=logits_merged),
                          metadata={"format": "pt", "step": str(DROPOUT_STEP), "training": "true"})
    print(f"  logits[0] {[round(v, 5) for v in logits[0].tolist()]}  loss {loss.item():.6f}")


# --------------------------------------------------------------------------
# PiSSA and OLoRA
# --------------------------------------------------------------------------


def pissa_factors(W):
    U, Sv, Vh = torch.linalg.svd(W, full_matrices=False)
    recon = U @ torch.diag(Sv) @ Vh
    ref.check("  svd reconstructs W", recon, W, 1e-13)
    Sr = Sv[:R] / S
    return torch.diag(Sr.sqrt()) @ Vh[:R], U[:, :R] @ torch.diag(Sr.sqrt()), Sv


def olora_factors(W):
    Q, Rm = torch.linalg.qr(W)
    ref.check("  qr reconstructs W", Q @ Rm, W, 1e-13)
    return Rm[:R], Q[:, :R], None


def gen_mutating(dirname, init, P, x, labels, base_logits, seed):
    out = os.path.join(HERE, dirname)
    print(f"{dirname}:")
    names = targets()
    factor = pissa_factors if init == "pissa" else olora_factors
    Pres = dict(P)
    initial = {}
    for n in names:
        W = P[n + ".weight"]
        A, B, Sv = factor(W)
        A32, B32 = ref.f32(A), ref.f32(B)
        initial[n + ".lora_A.weight"], initial[n + ".lora_B.weight"] = A32, B32
        Pres[n + ".weight"] = ref.f32(W - S * B32 @ A32)
        if Sv is not None:
            rs = torch.linalg.svdvals(W - S * B @ A)
            ref.check(f"{short(n)} residual's singular values are W's beyond r", rs[: len(Sv) - R], Sv[R:], 1e-12)

    def make_fwd(base):
        def fwd(tp, xx):
            lora = {n: (tp[n + ".lora_A.weight"], tp[n + ".lora_B.weight"], S) for n in names}
            return ref.vit_forward(base, xx, ref.CFG, lora=lora)
        return fwd

    with torch.no_grad():
        logits_init = make_fwd(Pres)(initial, x)
    ref.check("right after init: base logits (residual + s B A = W)", logits_init, base_logits, 1e-5)

    g = torch.Generator().manual_seed(seed)
    train = {k: ref.f32(v + 0.05 * torch.randn(v.shape, generator=g, dtype=torch.float64)) for k, v in initial.items()}
    fwd = make_fwd(Pres)
    logits, loss, grads = loss_and_grads(train, x, labels, fwd)
    fd_check(dirname, train, x, labels, fwd, grads, seed + 1)

    # PEFT's conversion to a rank-2r LoRA for the original base
    conv = {}
    for n in names:
        conv[n + ".lora_A.weight"] = torch.cat([train[n + ".lora_A.weight"], initial[n + ".lora_A.weight"]], dim=0)
        conv[n + ".lora_B.weight"] = torch.cat([train[n + ".lora_B.weight"], -initial[n + ".lora_B.weight"]], dim=1)
    with torch.no_grad():
        lora2 = {n: (conv[n + ".lora_A.weight"], conv[n + ".lora_B.weight"], (2 * ALPHA) / (2 * R)) for n in names}
        logits_converted = ref.vit_forward(P, x, ref.CFG, lora=lora2)
    ref.check("converted adapter on the original base vs trained on the residual", logits_converted, logits, 1e-5)
    diff = (logits - base_logits).abs().max().item()
    print(f"  training moved the logits by up to {diff:.3f}")
    if diff < 0.05:
        sys.exit("the trained adapter barely changes the logits")

    cfg = adapter_config(init_lora_weights=init, modules_to_save=None)
    write_adapter(os.path.join(out, "adapter"), train, cfg)
    write_adapter(os.path.join(out, "initial"), initial, cfg)
    write_adapter(os.path.join(out, "converted"), conv, adapter_config(init_lora_weights=True, modules_to_save=None,
                                                                     r=2 * R, lora_alpha=2 * ALPHA))
    residual = {"residual." + n + ".weight": Pres[n + ".weight"] for n in names}
    ref.write_safetensors(os.path.join(out, "expected.safetensors"),
                          expected(x, labels, logits, loss, grads, logits_init=logits_init,
                                   logits_converted=logits_converted, **residual))
    print(f"  logits[0] {[round(v, 5) for v in logits[0].tolist()]}  loss {loss.item():.6f}")


# --------------------------------------------------------------------------
# gaussian init
# --------------------------------------------------------------------------


def gen_gaussian(P, x, labels, seed):
    out = os.path.join(HERE, "lora-gaussian")
    print("lora-gaussian:")
    names = targets()
    H = ref.CFG["hidden_size"]
    g = torch.Generator().manual_seed(seed)
    train = {}
    for n in names:  # A as reset_lora_parameters("gaussian") draws it; B after some training
        train[n + ".lora_A.weight"] = ref.f32(torch.randn([R, H], generator=g, dtype=torch.float64) / R)
        train[n + ".lora_B.weight"] = ref.f32(0.1 * torch.randn([H, R], generator=g, dtype=torch.float64))
    std = torch.cat([train[n + ".lora_A.weight"].flatten() for n in names]).std().item()
    print(f"  A's standard deviation {std:.4f} (1/r = {1 / R})")
    fwd = lambda tp, xx: ref.vit_forward(P, xx, ref.CFG, lora={n: (tp[n + ".lora_A.weight"], tp[n + ".lora_B.weight"], S) for n in names})  # noqa: E731
    logits, loss, grads = loss_and_grads(train, x, labels, fwd)
    fd_check("lora-gaussian", train, x, labels, fwd, grads, seed + 1)
    write_adapter(os.path.join(out, "adapter"), train, adapter_config(init_lora_weights="gaussian", modules_to_save=None))
    ref.write_safetensors(os.path.join(out, "expected.safetensors"), expected(x, labels, logits, loss, grads))


def main():
    P = ref.init_vit(ref.CFG, seed=1)
    x, labels = ref.make_inputs(ref.CFG, seed=2)
    with torch.no_grad():
        base_logits = ref.vit_forward(P, x, ref.CFG)
    gen_dora("dora", P, x, labels, seed=600)
    gen_dora("dora-dropout", P, x, labels, seed=700, dropout_p=DROPOUT_P)
    gen_mutating("pissa", "pissa", P, x, labels, base_logits, seed=800)
    gen_mutating("olora", "olora", P, x, labels, base_logits, seed=900)
    gen_gaussian(P, x, labels, seed=1000)

    h = hashlib.sha256()
    for path in sorted(ref.WRITTEN):
        if path.endswith(".safetensors"):
            _, back = ref.read_safetensors(path)
            src = ref.WRITTEN_TENSORS[path]
            if set(back) != set(src) or any(not np.array_equal(back[k], src[k]) for k in src):
                sys.exit(f"{path}: read-back differs")
        else:
            json.load(open(path))
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, HERE).encode() + b"\0" + f.read())
    print(f"{len(ref.WRITTEN)} files, sha256 of all: {h.hexdigest()}")


if __name__ == "__main__":
    main()
