#!/usr/bin/python3
"""Generate golora's PyTorch reference data for AdaLoRA (testdata/adalora/).

Run with Debian's interpreter and python3-torch (torch 1.13):

    /usr/bin/python3 testdata/gen_adalora.py

It reuses gen_reference.py's tiny ViT (the same weights and inputs as
testdata/vit-tiny; that script's outputs are not touched) and re-implements
in plain torch what PEFT's AdaLoRA computes (tuners/adalora/layer.py,
model.py; PEFT-REFERENCE.md section 2):

* SVDLinear.forward: result = base_layer(x) + (dropout(x) @ (A * E).T @ B.T)
  * scaling / (ranknum + 1e-5), with A = lora_A [r, in], E = lora_E [r, 1],
  B = lora_B [out, r], scaling = lora_alpha, ranknum = r (an f32 tensor, so
  ranknum + 1e-5 is rounded to f32).
* AdaLoraModel.forward adds orth_reg_weight * mean over every lora_A and
  lora_B of ||P - I||_F with P = A @ A.T (lora_A) or B.T @ B (lora_B).
* RankAllocator.update_ipt: ipt = |p * grad|, exp_avg_ipt = b1 * exp_avg_ipt +
  (1 - b1) * ipt, exp_avg_unc = b2 * exp_avg_unc + (1 - b2) * |ipt -
  exp_avg_ipt| (f32, as PEFT); mask_to_budget: triplet score = score(E_i) +
  mean_j score(A_ij) + mean_j score(B_ji), with score = exp_avg_ipt *
  exp_avg_unc; threshold = kthvalue(all scores, init_bgt - budget); E_i = 0
  where score <= threshold; rank_pattern[name] = list of kept flags.
  budget_schedule: cubic between tinit and total_step - tfinal.
* save_pretrained with a rank_pattern: keys "base_model.model.<path>.lora_A"
  (no ".weight"), rank_pattern keys "<path>.lora_E" (adapter name stripped)
  and the tensors cut to the kept ranks (resize_state_dict_by_rank_pattern);
  loading cuts the layers to those ranks and keeps ranknum at init_r
  (resize_modules_by_rank_pattern), so the loaded model computes the masked
  model's logits.

* A training run as PEFT's documented loop does it, from the adapter's
  values: for global_step 0..total_step-1: loss = cross-entropy + orth_reg;
  loss.backward(); optimizer.step() (torch.optim.AdamW, float64, constant lr,
  no weight decay, no clipping); update_and_allocate(global_step), which
  updates the sensitivities before total_step - tfinal, masks lora_E on the
  budget schedule (in place, after the step), masks to the target budget and
  resets the sensitivities at total_step - tfinal, and re-applies the final
  rank pattern afterwards. Every mask decision is checked to be at least 1 %
  away from a tie.

Outputs (deterministic; the last line is a sha256 over them):
  adalora/adapter/           unpruned adapter (rank_pattern null), init_r 4
  adalora/adapter-pruned/    the same after one allocation, as PEFT saves it
  adalora/expected.safetensors   logits, losses, gradients, scores, masks
  adalora/schedule.json      budget_schedule(step) for a test schedule
  adalora/train.safetensors  the training run: loss.<step> (cross-entropy +
                             regulariser), final.<param> after the last step,
                             mask.<module> of the final rank pattern,
                             budget.<step>; hyper-parameters in its metadata
"""

import hashlib
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_reference as ref  # noqa: E402  (its main() does not run on import)

OUT = os.path.join(HERE, "adalora")
TARGETS = ["query", "value"]
INIT_R = 4
ALPHA = 8
ORTH = 0.5
BETA1, BETA2 = 0.85, 0.85
# schedule used for the mask decision and schedule.json
SCHED = {"total_step": 10, "tinit": 2, "tfinal": 2, "deltaT": 1, "target_r": 2}
MASK_STEP = 4
LABELS2 = torch.tensor([1, 2, 0], dtype=torch.int64)  # a second batch's labels for a second update_ipt


def adalora_config(rank_pattern):
    cfg = ref.peft_adapter_config(8, ALPHA)
    cfg.update({"peft_type": "ADALORA", "init_r": INIT_R, "target_r": SCHED["target_r"], "tinit": SCHED["tinit"],
                "tfinal": SCHED["tfinal"], "deltaT": SCHED["deltaT"], "beta1": BETA1, "beta2": BETA2,
                "orth_reg_weight": ORTH, "total_step": SCHED["total_step"], "rank_pattern": rank_pattern})
    return cfg


def ranknum_div(r):
    """ranknum + 1e-5 as PEFT's f32 ranknum parameter holds it."""
    return float(torch.tensor(float(r), dtype=torch.float32) + 1e-5)


def targets():
    return [n for n in ref.linear_names(ref.CFG) if ref.peft_target_matches(n, TARGETS)]


def forward_fn(P, names, ranknum):
    def fwd(tp, x):
        p = dict(P)
        p["classifier.weight"], p["classifier.bias"] = tp["classifier.weight"], tp["classifier.bias"]
        lora = {}
        for n in names:
            A, E, B = tp[n + ".lora_A"], tp[n + ".lora_E"], tp[n + ".lora_B"]
            lora[n] = (A * E, B, ALPHA / ranknum_div(ranknum))
        return ref.vit_forward(p, x, ref.CFG, lora=lora)
    return fwd


def orth_reg(tp, names):
    total, num = 0.0, 0
    for n in names:
        A, B = tp[n + ".lora_A"], tp[n + ".lora_B"]
        for cov in (A @ A.T, B.T @ B):
            total = total + torch.norm(cov - torch.eye(cov.shape[0], dtype=cov.dtype), p="fro")
            num += 1
    return ORTH * total / num


def total_loss_and_grads(tp, x, labels, fwd, names):
    tp = {k: v.detach().clone().requires_grad_(True) for k, v in tp.items()}
    logits = fwd(tp, x)
    ce = F.cross_entropy(logits, labels)
    reg = orth_reg(tp, names)
    (ce + reg).backward()
    return logits.detach(), ce.detach(), reg.detach(), {k: v.grad for k, v in tp.items()}


def budget_schedule(step, init_bgt, target_bgt):
    s = SCHED
    if step <= s["tinit"]:
        return init_bgt, False
    if step > s["total_step"] - s["tfinal"]:
        return target_bgt, True
    mul = 1 - (step - s["tinit"]) / (s["total_step"] - s["tfinal"] - s["tinit"])
    return int((init_bgt - target_bgt) * (mul ** 3) + target_bgt), step % s["deltaT"] == 0


TRAIN_LR = 5e-3


def triplet_scores(avg, unc, names):
    """mask_to_budget's score per singular triplet: E's + mean over A's row + mean over B's column."""
    scores = {}
    for n in names:
        sA = (avg[n + ".lora_A"] * unc[n + ".lora_A"]).mean(dim=1, keepdim=True)
        sB = (avg[n + ".lora_B"] * unc[n + ".lora_B"]).mean(dim=0, keepdim=False).view(-1, 1)
        sE = avg[n + ".lora_E"] * unc[n + ".lora_E"]
        scores[n] = sE.view(-1) + torch.cat([sA, sB], dim=1).sum(dim=1)
    return scores


def gen_training(train0, x, labels, names):
    """PEFT's AdaLoRA training loop for total_step steps; returns the tensors of train.safetensors."""
    print("adalora training run:")
    fwd = forward_fn(ref.init_vit(ref.CFG, seed=1), names, INIT_R)
    params = {k: torch.nn.Parameter(v.clone()) for k, v in train0.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=TRAIN_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    init_bgt, target_bgt = INIT_R * len(names), SCHED["target_r"] * len(names)
    avg, unc = {}, {}
    rank_pattern = None
    out = {}
    end = SCHED["total_step"] - SCHED["tfinal"]
    for step in range(SCHED["total_step"]):
        opt.zero_grad()
        logits = fwd(params, x)
        loss = F.cross_entropy(logits, labels) + orth_reg(params, names)
        loss.backward()
        out[f"loss.{step}"] = loss.detach().float().reshape([])
        opt.step()
        with torch.no_grad():
            mask_now = False
            if step < end:  # update_ipt
                for n in names:
                    for f in ("lora_A", "lora_E", "lora_B"):
                        k = f"{n}.{f}"
                        ipt = (params[k] * params[k].grad).abs()
                        if k not in avg:
                            avg[k], unc[k] = torch.zeros_like(ipt), torch.zeros_like(ipt)
                        avg[k] = BETA1 * avg[k] + (1 - BETA1) * ipt
                        unc[k] = BETA2 * unc[k] + (1 - BETA2) * (ipt - avg[k]).abs()
                budget, mask_now = budget_schedule(step, init_bgt, target_bgt)
            elif step == end:
                budget, mask_now = target_bgt, True
            if mask_now:
                sc = triplet_scores(avg, unc, names)
                allsc = torch.cat([sc[n] for n in names])
                k = init_bgt - budget
                srt = sorted(allsc.tolist())
                thr = srt[k - 1] if k > 0 else -math.inf
                if k > 0:
                    if torch.kthvalue(allsc, k=k)[0].item() != thr:
                        sys.exit("kthvalue differs from sorting")
                    gap = (srt[k] - srt[k - 1]) / max(abs(srt[k - 1]), 1e-30)
                    print(f"  step {step}: budget {budget}, mask {k} of {init_bgt}, relative gap {gap:.3f}")
                    if gap < 1e-2:
                        sys.exit(f"step {step}: the mask decision is too close to a tie to be a stable test")
                rank_pattern = {n: ~(sc[n] <= thr) for n in names}
                out[f"budget.{step}"] = torch.tensor(float(budget), dtype=torch.float32).reshape([])
            if step == end:
                avg, unc = {}, {}  # reset_ipt
            if rank_pattern is not None and (mask_now or step > end):
                for n in names:
                    params[n + ".lora_E"].masked_fill_(~rank_pattern[n].view(-1, 1), 0.0)
    kept = {short: int(rank_pattern[n].sum()) for short, n in zip(["q0", "v0", "q1", "v1"], names)}
    print(f"  final kept ranks {kept}, losses {[round(out[f'loss.{s}'].item(), 4) for s in range(SCHED['total_step'])]}")
    if sum(kept.values()) != target_bgt:
        sys.exit("the final allocation does not meet the target budget")
    for k, p in params.items():
        out["final." + k] = p.detach().float()
    for n in names:
        out["mask." + n] = rank_pattern[n].float()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    P = ref.init_vit(ref.CFG, seed=1)
    x, labels = ref.make_inputs(ref.CFG, seed=2)
    names = targets()
    H = ref.CFG["hidden_size"]
    g = torch.Generator().manual_seed(500)
    train = {}
    for n in names:  # random non-zero factors (PEFT's init would set E = 0)
        train[n + ".lora_A"] = ref.f32(0.3 * torch.randn([INIT_R, H], generator=g, dtype=torch.float64))
        train[n + ".lora_E"] = ref.f32(0.5 * torch.randn([INIT_R, 1], generator=g, dtype=torch.float64))
        train[n + ".lora_B"] = ref.f32(0.3 * torch.randn([H, INIT_R], generator=g, dtype=torch.float64))
    for k in ("classifier.weight", "classifier.bias"):
        train[k] = ref.f32(P[k] + 0.1 * torch.randn(P[k].shape, generator=g, dtype=torch.float64))

    print("adalora:")
    fwd = forward_fn(P, names, INIT_R)
    logits, ce, reg, grads = total_loss_and_grads(train, x, labels, fwd, names)

    # --- independent checks -------------------------------------------
    s = ALPHA / ranknum_div(INIT_R)
    merged = dict(P)
    merged["classifier.weight"], merged["classifier.bias"] = train["classifier.weight"], train["classifier.bias"]
    for n in names:
        merged[n + ".weight"] = P[n + ".weight"] + s * (train[n + ".lora_B"] @ (train[n + ".lora_A"] * train[n + ".lora_E"]))
    with torch.no_grad():
        ref.check("logits vs merged W + s B (A*E)", ref.vit_forward(merged, x, ref.CFG), logits, 1e-12)
        merged32 = {k: (ref.f32(v) if k.endswith(".weight") else v) for k, v in merged.items()}
        logits_merged = ref.vit_forward(merged32, x, ref.CFG)
    # orth-reg gradient in closed form: 2 C A / ||C|| and 2 B C / ||C||, times weight / count
    num = 2 * len(names)
    tpr = {k: v.clone().requires_grad_(True) for k, v in train.items()}
    orth_reg(tpr, names).backward()
    for n in names:
        A, B = train[n + ".lora_A"], train[n + ".lora_B"]
        CA = A @ A.T - torch.eye(INIT_R, dtype=A.dtype)
        CB = B.T @ B - torch.eye(INIT_R, dtype=B.dtype)
        ref.check(f"{n[12:]} orth grad A closed form", tpr[n + ".lora_A"].grad, ORTH / num * 2 * CA @ A / CA.norm(), 1e-12)
        ref.check(f"{n[12:]} orth grad B closed form", tpr[n + ".lora_B"].grad, ORTH / num * 2 * B @ CB / CB.norm(), 1e-12)
    # finite differences of the total loss along a random direction
    d = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in train.items()}
    eps = 1e-4

    def tot(t):
        tp = {k: v + t * d[k] for k, v in train.items()}
        return (F.cross_entropy(fwd(tp, x), labels) + orth_reg(tp, names)).item()

    with torch.no_grad():
        fd = (8 * (tot(eps) - tot(-eps)) - (tot(2 * eps) - tot(-2 * eps))) / (12 * eps)
    an = sum((grads[k] * d[k]).sum().item() for k in train)
    rel = abs(fd - an) / abs(an)
    print(f"  check {'total loss finite difference':<58s} rel err {rel:.3e} {'ok' if rel < 1e-8 else 'FAIL'}")
    if rel >= 1e-8:
        sys.exit("finite difference check failed")

    # --- rank allocation: two update_ipt calls, then one mask --------------
    _, _, _, grads2 = total_loss_and_grads(train, x, LABELS2, fwd, names)
    f32 = {k: v.float() for k, v in train.items() if k.startswith("vit.")}
    avg = {k: torch.zeros_like(v) for k, v in f32.items()}
    unc = {k: torch.zeros_like(v) for k, v in f32.items()}
    for gr in (grads, grads2):
        for k, p in f32.items():
            ipt = (p * gr[k].float()).abs()
            avg[k] = BETA1 * avg[k] + (1 - BETA1) * ipt
            unc[k] = BETA2 * unc[k] + (1 - BETA2) * (ipt - avg[k]).abs()
    scores = {}
    for n in names:
        sA = (avg[n + ".lora_A"] * unc[n + ".lora_A"]).mean(dim=1, keepdim=True)
        sB = (avg[n + ".lora_B"] * unc[n + ".lora_B"]).mean(dim=0, keepdim=False).view(-1, 1)
        sE = avg[n + ".lora_E"] * unc[n + ".lora_E"]
        scores[n] = sE.view(-1) + torch.cat([sA, sB], dim=1).sum(dim=1)
    init_bgt, target_bgt = INIT_R * len(names), SCHED["target_r"] * len(names)
    budget, mask_ind = budget_schedule(MASK_STEP, init_bgt, target_bgt)
    assert mask_ind
    allsc = torch.cat([scores[n] for n in names])
    k = init_bgt - budget
    thr = torch.kthvalue(allsc, k=k)[0].item()
    srt = sorted(allsc.tolist())
    if abs(srt[k - 1] - thr) != 0:
        sys.exit("kthvalue differs from sorting")
    gap = (srt[k] - srt[k - 1]) / max(abs(srt[k - 1]), 1e-30)
    print(f"  budget {budget} of {init_bgt} at step {MASK_STEP}: mask {k}, threshold {thr:.4e}, relative gap to the next {gap:.3f}")
    if gap < 1e-2:
        sys.exit("the mask decision is too close to a tie to be a stable test")
    rank_pattern = {}
    masked = dict(train)
    for n in names:
        keep = ~(scores[n] <= thr)
        rank_pattern[n + ".lora_E"] = keep.tolist()
        masked[n + ".lora_E"] = train[n + ".lora_E"] * keep.double().view(-1, 1)
    with torch.no_grad():
        logits_masked = fwd(masked, x)
    # the pruned adapter: kept ranks only, ranknum still INIT_R
    pruned = {}
    for n in names:
        keep = torch.tensor(rank_pattern[n + ".lora_E"])
        pruned[n + ".lora_A"] = masked[n + ".lora_A"][keep]
        pruned[n + ".lora_E"] = masked[n + ".lora_E"][keep]
        pruned[n + ".lora_B"] = masked[n + ".lora_B"][:, keep]
    pruned["classifier.weight"], pruned["classifier.bias"] = train["classifier.weight"], train["classifier.bias"]
    with torch.no_grad():
        ref.check("pruned (ranknum kept) vs masked logits", fwd(pruned, x), logits_masked, 1e-12)
    kept = {n: sum(rank_pattern[n + ".lora_E"]) for n in names}
    print(f"  kept ranks {kept}")

    # --- write -----------------------------------------------------------
    ref.write_safetensors(os.path.join(OUT, "adapter", "adapter_model.safetensors"),
                          {"base_model.model." + k: v.float() for k, v in train.items()})
    ref.write_json(os.path.join(OUT, "adapter", "adapter_config.json"), adalora_config(None), trailing_newline=False)
    ref.write_safetensors(os.path.join(OUT, "adapter-pruned", "adapter_model.safetensors"),
                          {"base_model.model." + k: v.float() for k, v in pruned.items()})
    ref.write_json(os.path.join(OUT, "adapter-pruned", "adapter_config.json"), adalora_config(rank_pattern),
                   trailing_newline=False)
    exp = {"pixel_values": x.float(), "labels": labels, "labels2": LABELS2, "logits": logits.float(),
           "loss_ce": ce.float(), "orth_reg": reg.float(), "logits_merged": logits_merged.float(),
           "logits_masked": logits_masked.float()}
    for kk, v in grads.items():
        exp["grad." + kk] = v.float()
    for n in names:
        exp["score." + n] = scores[n].float()
        exp["mask." + n] = torch.tensor(rank_pattern[n + ".lora_E"], dtype=torch.float32)
        for f in ("lora_A", "lora_E", "lora_B"):
            exp[f"exp_avg_ipt.{n}.{f}"] = avg[f"{n}.{f}"]
            exp[f"exp_avg_unc.{n}.{f}"] = unc[f"{n}.{f}"]
    ref.write_safetensors(os.path.join(OUT, "expected.safetensors"), exp,
                          metadata={"format": "pt", "budget": str(budget), "mask_step": str(MASK_STEP)})
    meta = {"format": "pt", "lr": repr(TRAIN_LR), "betas": "[0.9, 0.999]", "eps": "1e-08", "weight_decay": "0.0",
            "schedule": "constant", "max_grad_norm": "none", "labels": "[3, 0, 4]", "config": json.dumps(SCHED)}
    ref.write_safetensors(os.path.join(OUT, "train.safetensors"), gen_training(train, x, labels, names), metadata=meta)
    sched = {"config": SCHED, "init_bgt": init_bgt, "target_bgt": target_bgt,
             "steps": [[st, *budget_schedule(st, init_bgt, target_bgt)] for st in range(SCHED["total_step"] + 2)]}
    ref.write_json(os.path.join(OUT, "schedule.json"), sched, trailing_newline=True)
    print(f"  logits[0] {[round(v, 5) for v in logits[0].tolist()]}  ce {ce.item():.6f}  orth {reg.item():.6f}")

    h = hashlib.sha256()
    for path in sorted(ref.WRITTEN):
        ref.read_safetensors(path) if path.endswith(".safetensors") else json.load(open(path))
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, HERE).encode() + b"\0" + f.read())
    print(f"{len(ref.WRITTEN)} files, sha256 of all: {h.hexdigest()}")


if __name__ == "__main__":
    main()
