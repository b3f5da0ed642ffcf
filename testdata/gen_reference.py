#!/usr/bin/python3
"""Generate golora's PyTorch reference data (testdata/).

Run with Debian's interpreter and python3-torch (torch 1.13):

    /usr/bin/python3 testdata/gen_reference.py

Neither transformers, peft nor the safetensors package is needed: this script
re-implements, in plain torch, exactly what they do for the parts golora tests:

* transformers ViTForImageClassification (models/vit/modeling_vit.py):
  Conv2d patch embedding (kernel = stride = patch), [CLS] token prepended,
  position embeddings added; pre-norm layers
      h = h + attention.output.dense(self_attention(layernorm_before(h)))
      h = h + output.dense(act(intermediate.dense(layernorm_after(h))))
  with softmax(Q K^T * head_dim**-0.5) per head; a final vit.layernorm; the
  classifier reads the [CLS] token (sequence_output[:, 0, :]); no pooler
  (ViTModel(add_pooling_layer=False)). Loss: CrossEntropyLoss() (mean over the
  batch) because num_labels > 1 and labels are int64. hidden_act "gelu" is
  the exact erf GELU (ACT2FN["gelu"] -> nn.functional.gelu).
* PEFT LoRA (tuners/lora/layer.py Linear.forward):
      result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling
  scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora.
  Merge: W += scaling * (B @ A). rank_pattern / alpha_pattern are resolved per
  module name with PEFT's utils.other.get_pattern_key: the FIRST key k (in the
  dict's order) with re.match(rf"(.*\\.)?({k})$", module_name) wins, else the
  default r / lora_alpha. The module name is the HF path without the
  "base_model.model." prefix, e.g. "vit.encoder.layer.1.attention.attention.value".
  adapter_config.json is written with json.dumps(sort_keys=True), which sorts
  the nested pattern dicts too, so a loader sees (and must scan) them in sorted
  key order; the dicts here are built in that same order so training-time and
  load-time resolution agree.
* PEFT's save format: adapter_config.json (json.dumps(asdict(config), indent=2,
  sort_keys=True), no trailing newline) and adapter_model.safetensors with keys
  base_model.model.<module>.lora_A.weight [r, in], .lora_B.weight [out, r] and
  the modules_to_save copy stored as base_model.model.classifier.{weight,bias}.

All model math runs in float64 on weights and inputs that are first rounded to
float32 (the stored values), so every stored float32 result is the exact
answer rounded once. The AdamW reference uses the real torch.optim.AdamW in
float32.

Independent checks (printed, the script fails if one does not hold):
* the model forward and every gradient against a second implementation built
  from torch.nn.TransformerEncoderLayer(norm_first=True) + nn.MultiheadAttention
  with a patch embedding done by reshape + matmul instead of conv2d;
* attention computed batched and with an explicit per-(image, head) loop;
* gradients against central finite differences along a random direction;
* LoRA: logits against the merged model, LoRA gradients against the chain rule
  through the merged weight (dA = s B^T dW, dB = s dW A^T), and B = 0 giving
  the base model;
* every written .safetensors file read back with this script's own reader.
"""

import hashlib
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

torch.set_num_threads(1)  # one thread: reductions in a fixed order, byte-identical reruns

# --------------------------------------------------------------------------
# safetensors: a tiny writer and a strict reader
# --------------------------------------------------------------------------

_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.int64: ("I64", "<i8"),
}
_NP_BY_CODE = {code: np.dtype(npdt) for code, npdt in _DTYPES.values()}

WRITTEN = []  # every file written, for the summary and the read-back check
WRITTEN_TENSORS = {}  # safetensors path -> name -> np.ndarray as written


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (name -> torch.Tensor) in the safetensors layout.

    8-byte little-endian header length N, then N bytes of JSON (sorted keys,
    "__metadata__" included, padded with spaces to a multiple of 8), then the
    raw little-endian data of each tensor, in name order, back to back.
    """
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs = []
    offset = 0
    WRITTEN_TENSORS[path] = {}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        code, npdt = _DTYPES[t.dtype]
        arr = t.numpy().astype(npdt, copy=False)  # t is contiguous; (np.ascontiguousarray would turn shape [] into [1])
        WRITTEN_TENSORS[path][name] = arr.copy()
        data = arr.tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    WRITTEN.append(path)


def read_safetensors(path):
    """Read a safetensors file strictly: returns (metadata, name -> np.ndarray)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 != 0 or 8 + n > len(raw):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = raw[8 + n :]
    out = {}
    spans = []
    for name, info in header.items():
        dt = _NP_BY_CODE[info["dtype"]]
        shape = info["shape"]
        start, end = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= start <= end <= len(data)) or end - start != count * dt.itemsize:
            raise ValueError(f"{path}: {name}: bad offsets {start},{end} for {shape} {info['dtype']}")
        out[name] = np.frombuffer(data[start:end], dtype=dt).reshape(shape)
        spans.append((start, end))
    spans.sort()
    pos = 0
    for start, end in spans:  # the data section is covered exactly, no gaps or overlaps
        if start != pos:
            raise ValueError(f"{path}: data gap or overlap at byte {pos}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return meta, out


def write_json(path, obj, trailing_newline):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(obj, indent=2, sort_keys=True)
    with open(path, "w") as f:
        f.write(text + ("\n" if trailing_newline else ""))
    WRITTEN.append(path)


def f32(t):
    """Round to float32 (the stored value) and return it as float64 for the math."""
    return t.float().double()


def check(name, got, want, tol):
    """Fail unless max|got-want| <= tol * max(1, max|want|)."""
    got = got.detach().double()
    want = want.detach().double()
    err = (got - want).abs().max().item()
    scale = max(1.0, want.abs().max().item())
    ok = err <= tol * scale
    print(f"  check {name:<58s} max err {err:.3e} {'ok' if ok else 'FAIL'}")
    if not ok:
        sys.exit(f"check failed: {name}")


# --------------------------------------------------------------------------
# the tiny ViT: configuration and weights
# --------------------------------------------------------------------------

LABELS = ["cat", "dog", "bird", "fish", "frog"]

CFG = {
    "image_size": 16,
    "patch_size": 4,
    "num_channels": 3,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "qkv_bias": True,
    "num_labels": len(LABELS),
}
BATCH = 3


def hf_config_json(c):
    """config.json as transformers' ViTConfig.save_pretrained writes it (diff-dict, sorted)."""
    return {
        "architectures": ["ViTForImageClassification"],
        "attention_probs_dropout_prob": 0.0,
        "encoder_stride": c["patch_size"],
        "hidden_act": c["hidden_act"],
        "hidden_dropout_prob": 0.0,
        "hidden_size": c["hidden_size"],
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "image_size": c["image_size"],
        "initializer_range": 0.02,
        "intermediate_size": c["intermediate_size"],
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_eps": c["layer_norm_eps"],
        "model_type": "vit",
        "num_attention_heads": c["num_attention_heads"],
        "num_channels": c["num_channels"],
        "num_hidden_layers": c["num_hidden_layers"],
        "patch_size": c["patch_size"],
        "pooler_act": "tanh",
        "pooler_output_size": c["hidden_size"],
        "qkv_bias": c["qkv_bias"],
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
    }


def preprocessor_config_json(c):
    """preprocessor_config.json as ViTImageProcessor.save_pretrained writes it."""
    return {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "ViTImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "resample": 2,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": c["image_size"], "width": c["image_size"]},
    }


def linear_names(c):
    """Every nn.Linear module path of ViTForImageClassification, in model order."""
    names = []
    for i in range(c["num_hidden_layers"]):
        p = f"vit.encoder.layer.{i}."
        names += [p + "attention.attention.query", p + "attention.attention.key", p + "attention.attention.value",
                  p + "attention.output.dense", p + "intermediate.dense", p + "output.dense"]
    return names + ["classifier"]


def init_vit(c, seed):
    """Random, non-trivial HF-named weights (float32 values held in float64).

    Linear/conv weights N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm weights
    1 + N(0, 0.1^2) and biases N(0, 0.1^2), so every path changes the output.
    """
    g = torch.Generator().manual_seed(seed)
    H, C, p, I, K = c["hidden_size"], c["num_channels"], c["patch_size"], c["intermediate_size"], c["num_labels"]
    T = (c["image_size"] // p) ** 2

    def normal(shape, std, mean=0.0):
        return f32(mean + std * torch.randn(shape, generator=g, dtype=torch.float64))

    P = {}
    P["vit.embeddings.cls_token"] = normal([1, 1, H], 0.5)
    P["vit.embeddings.position_embeddings"] = normal([1, T + 1, H], 0.2)
    P["vit.embeddings.patch_embeddings.projection.weight"] = normal([H, C, p, p], 1 / math.sqrt(C * p * p))
    P["vit.embeddings.patch_embeddings.projection.bias"] = normal([H], 0.1)

    def ln(name):
        P[name + ".weight"] = normal([H], 0.1, 1.0)
        P[name + ".bias"] = normal([H], 0.1)

    def lin(name, out_f, in_f):
        P[name + ".weight"] = normal([out_f, in_f], 1 / math.sqrt(in_f))
        P[name + ".bias"] = normal([out_f], 0.1)

    for i in range(c["num_hidden_layers"]):
        p_ = f"vit.encoder.layer.{i}."
        ln(p_ + "layernorm_before")
        for m in ("query", "key", "value"):
            lin(p_ + "attention.attention." + m, H, H)
        lin(p_ + "attention.output.dense", H, H)
        ln(p_ + "layernorm_after")
        lin(p_ + "intermediate.dense", I, H)
        lin(p_ + "output.dense", H, I)
    ln("vit.layernorm")
    lin("classifier", K, H)
    return P


# --------------------------------------------------------------------------
# the forward pass, HF semantics (float64)
# --------------------------------------------------------------------------


def attention_batched(q, k, v):
    """eager_attention_forward: softmax(Q K^T * d**-0.5) V, all heads at once. q,k,v: [B, nh, T, d]."""
    d = q.shape[-1]
    w = torch.matmul(q, k.transpose(-1, -2)) * d ** -0.5
    w = F.softmax(w, dim=-1)
    return torch.matmul(w, v)


def attention_loop(q, k, v):
    """The same attention written out one (image, head, query token) at a time."""
    B, nh, T, d = q.shape
    out = torch.empty_like(q)
    for b in range(B):
        for h in range(nh):
            for i in range(T):
                s = (q[b, h, i].unsqueeze(0) * k[b, h]).sum(-1) / math.sqrt(d)
                e = torch.exp(s - s.max())
                out[b, h, i] = (e.unsqueeze(1) * v[b, h]).sum(0) / e.sum()
    return out


def vit_forward(P, pixel_values, c, lora=None, attention=attention_batched, adapters=None):
    """ViTForImageClassification forward; returns logits [B, num_labels].

    lora maps a module path to (A [r, in], B [out, r], scaling); the LoRA term
    is added to that Linear's output exactly as PEFT's lora.Linear does.
    adapters maps a module path to a function (x, y) -> y that replaces that
    Linear's output y = x W^T + b (other LoRA variants: gen_family.py).
    """
    lora = lora or {}
    adapters = adapters or {}
    H, nh, p = c["hidden_size"], c["num_attention_heads"], c["patch_size"]
    eps = c["layer_norm_eps"]
    hd = H // nh

    def linear(x, name):
        y = F.linear(x, P[name + ".weight"], P[name + ".bias"])
        if name in lora:
            A, Bm, s = lora[name]
            y = y + F.linear(F.linear(x, A), Bm) * s
        if name in adapters:
            y = adapters[name](x, y)
        return y

    def layernorm(x, name):
        return F.layer_norm(x, (H,), P[name + ".weight"], P[name + ".bias"], eps)

    def heads(x):  # transpose_for_scores: [B, T, H] -> [B, nh, T, hd]
        return x.view(x.shape[0], x.shape[1], nh, hd).permute(0, 2, 1, 3)

    B = pixel_values.shape[0]
    emb = F.conv2d(pixel_values, P["vit.embeddings.patch_embeddings.projection.weight"],
                   P["vit.embeddings.patch_embeddings.projection.bias"], stride=p)
    emb = emb.flatten(2).transpose(1, 2)  # [B, T, H], patches in row-major order
    cls = P["vit.embeddings.cls_token"].expand(B, -1, -1)
    h = torch.cat((cls, emb), dim=1) + P["vit.embeddings.position_embeddings"]
    for i in range(c["num_hidden_layers"]):
        pre = f"vit.encoder.layer.{i}."
        x = layernorm(h, pre + "layernorm_before")
        q = heads(linear(x, pre + "attention.attention.query"))
        k = heads(linear(x, pre + "attention.attention.key"))
        v = heads(linear(x, pre + "attention.attention.value"))
        ctx = attention(q, k, v).transpose(1, 2).reshape(B, -1, H)
        h = linear(ctx, pre + "attention.output.dense") + h
        x = layernorm(h, pre + "layernorm_after")
        x = F.gelu(linear(x, pre + "intermediate.dense"))
        h = linear(x, pre + "output.dense") + h
    h = layernorm(h, "vit.layernorm")
    return linear(h[:, 0, :], "classifier")


def vit_forward_nn(P, pixel_values, c):
    """An independent ViT built from torch.nn modules; returns (logits, hf_key -> nn.Parameter).

    A ViT layer is exactly nn.TransformerEncoderLayer(norm_first=True, gelu):
    norm1/norm2 = layernorm_before/after, in_proj = [query; key; value],
    out_proj = attention.output.dense, linear1/linear2 = intermediate/output.
    The patch embedding is a reshape + matmul instead of a convolution.
    """
    H, nh, p, I = c["hidden_size"], c["num_attention_heads"], c["patch_size"], c["intermediate_size"]
    B, C, Hi, Wi = pixel_values.shape
    leaf = {k: torch.nn.Parameter(v.clone()) for k, v in P.items() if "attention.attention" not in k}
    w = leaf["vit.embeddings.patch_embeddings.projection.weight"]
    patches = pixel_values.reshape(B, C, Hi // p, p, Wi // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)
    emb = patches @ w.reshape(H, -1).t() + leaf["vit.embeddings.patch_embeddings.projection.bias"]
    cls = leaf["vit.embeddings.cls_token"].expand(B, -1, -1)
    h = torch.cat((cls, emb), dim=1) + leaf["vit.embeddings.position_embeddings"]
    layers = []
    for i in range(c["num_hidden_layers"]):
        pre = f"vit.encoder.layer.{i}."
        layer = torch.nn.TransformerEncoderLayer(H, nh, dim_feedforward=I, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=c["layer_norm_eps"], batch_first=True,
                                                 norm_first=True).double().train()
        sa = layer.self_attn
        sa.in_proj_weight = torch.nn.Parameter(torch.cat([P[pre + f"attention.attention.{m}.weight"]
                                                          for m in ("query", "key", "value")]))
        sa.in_proj_bias = torch.nn.Parameter(torch.cat([P[pre + f"attention.attention.{m}.bias"]
                                                        for m in ("query", "key", "value")]))
        sa.out_proj.weight = leaf[pre + "attention.output.dense.weight"]
        sa.out_proj.bias = leaf[pre + "attention.output.dense.bias"]
        layer.norm1.weight, layer.norm1.bias = leaf[pre + "layernorm_before.weight"], leaf[pre + "layernorm_before.bias"]
        layer.norm2.weight, layer.norm2.bias = leaf[pre + "layernorm_after.weight"], leaf[pre + "layernorm_after.bias"]
        layer.linear1.weight, layer.linear1.bias = leaf[pre + "intermediate.dense.weight"], leaf[pre + "intermediate.dense.bias"]
        layer.linear2.weight, layer.linear2.bias = leaf[pre + "output.dense.weight"], leaf[pre + "output.dense.bias"]
        h = layer(h)
        layers.append(layer)
    h = F.layer_norm(h, (H,), leaf["vit.layernorm.weight"], leaf["vit.layernorm.bias"], c["layer_norm_eps"])
    logits = h[:, 0, :] @ leaf["classifier.weight"].t() + leaf["classifier.bias"]
    return logits, leaf, layers


def nn_grads(leaf, layers, c):
    """Gradients of vit_forward_nn's parameters under HF keys (in_proj split back into q, k, v)."""
    H = c["hidden_size"]
    g = {k: v.grad for k, v in leaf.items()}
    for i, layer in enumerate(layers):
        pre = f"vit.encoder.layer.{i}.attention.attention."
        for j, m in enumerate(("query", "key", "value")):
            g[pre + m + ".weight"] = layer.self_attn.in_proj_weight.grad[j * H:(j + 1) * H]
            g[pre + m + ".bias"] = layer.self_attn.in_proj_bias.grad[j * H:(j + 1) * H]
    return g


def loss_and_grads(params, pixel_values, labels, forward):
    """Mean cross-entropy and its gradients w.r.t. params (dict of leaf tensors) and pixel_values."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    x = pixel_values.detach().clone().requires_grad_(True)
    logits = forward(params, x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return logits.detach(), loss.detach(), {k: v.grad for k, v in params.items()}, x.grad


def finite_difference_check(name, params, pixel_values, labels, forward, grads, grad_x, seed):
    """Fourth-order central difference of the loss along one random direction vs <grad, direction>."""
    g = torch.Generator().manual_seed(seed)
    d = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in params.items()}
    dx = torch.randn(pixel_values.shape, generator=g, dtype=torch.float64) if grad_x is not None else None
    eps = 1e-4

    def loss_at(t):
        p = {k: v + t * d[k] for k, v in params.items()}
        x = pixel_values + t * dx if dx is not None else pixel_values
        return F.cross_entropy(forward(p, x), labels).item()

    with torch.no_grad():
        fd = (8 * (loss_at(eps) - loss_at(-eps)) - (loss_at(2 * eps) - loss_at(-2 * eps))) / (12 * eps)
    an = sum((grads[k] * d[k]).sum().item() for k in params)
    if dx is not None:
        an += (grad_x * dx).sum().item()
    rel = abs(fd - an) / max(1e-12, abs(an))
    ok = rel < 1e-8
    print(f"  check {name + ' finite difference':<58s} rel err {rel:.3e} {'ok' if ok else 'FAIL'}")
    if not ok:
        sys.exit(f"check failed: {name} finite difference ({fd} vs {an})")


def make_inputs(c, seed):
    g = torch.Generator().manual_seed(seed)
    s = c["image_size"]
    # in [-1, 1], what ViTImageProcessor yields with mean = std = 0.5
    pixel_values = f32(2 * torch.rand([BATCH, c["num_channels"], s, s], generator=g, dtype=torch.float64) - 1)
    labels = torch.tensor([3, 0, 4], dtype=torch.int64)
    return pixel_values, labels


# --------------------------------------------------------------------------
# 1. testdata/vit-tiny
# --------------------------------------------------------------------------


def gen_vit_tiny(P, pixel_values, labels):
    c = CFG
    out = os.path.join(HERE, "vit-tiny")
    print("vit-tiny:")
    write_json(os.path.join(out, "config.json"), hf_config_json(c), trailing_newline=True)
    write_json(os.path.join(out, "preprocessor_config.json"), preprocessor_config_json(c), trailing_newline=True)
    write_safetensors(os.path.join(out, "model.safetensors"), {k: v.float() for k, v in P.items()})

    fwd = lambda p, x: vit_forward(p, x, c)
    logits, loss, grads, grad_x = loss_and_grads(P, pixel_values, labels, fwd)

    # independent checks
    with torch.no_grad():
        check("attention loop vs batched (logits)",
              vit_forward(P, pixel_values, c, attention=attention_loop), logits, 1e-12)
    x = pixel_values.clone().requires_grad_(True)
    nn_logits, leaf, layers = vit_forward_nn(P, x, c)
    nn_loss = F.cross_entropy(nn_logits, labels)
    nn_loss.backward()
    check("logits vs nn.TransformerEncoderLayer model", nn_logits, logits, 1e-12)
    manual_ce = -(torch.log_softmax(logits, -1)[torch.arange(BATCH), labels]).mean()
    check("loss vs manual mean log-softmax", manual_ce, loss, 1e-12)
    g_nn = nn_grads(leaf, layers, c)
    worst = max(((grads[k] - g_nn[k]).abs().max().item() / max(1.0, g_nn[k].abs().max().item()), k) for k in P)
    print(f"  check {'all %d param grads vs nn model' % len(P):<58s}"
          f" max err {worst[0]:.3e} {'ok' if worst[0] < 1e-11 else 'FAIL'}")
    if worst[0] >= 1e-11:
        sys.exit("check failed: grads vs nn model")
    check("grad.pixel_values vs nn model", x.grad, grad_x, 1e-11)
    finite_difference_check("vit-tiny", P, pixel_values, labels, fwd, grads, grad_x, seed=11)

    exp = {"pixel_values": pixel_values.float(), "labels": labels, "logits": logits.float(),
           "loss": loss.float(), "grad.pixel_values": grad_x.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  logits[0] {[round(v, 5) for v in logits[0].tolist()]}  loss {loss.item():.6f}")
    return logits


# --------------------------------------------------------------------------
# 3. testdata/lora*: PEFT LoRA on the tiny ViT
# --------------------------------------------------------------------------


def peft_target_matches(module_name, target_modules):
    """check_target_module_exists for a list: exact name or a '.'-separated suffix."""
    return any(module_name == t or module_name.endswith("." + t) for t in target_modules)


def get_pattern_key(pattern_keys, key_to_match):
    """PEFT utils.other.get_pattern_key: first key whose regex matches the end of the name at a '.' boundary."""
    for key in pattern_keys:
        if re.match(rf"(.*\.)?({key})$", key_to_match):
            return key
    return key_to_match


def peft_adapter_config(r, alpha, use_rslora=False, rank_pattern=None, alpha_pattern=None):
    """Every LoraConfig field as PEFT 0.20 saves it (see /work/shared/PEFT-REFERENCE.md 1b)."""
    return {
        "alora_invocation_tokens": None,
        "alpha_pattern": alpha_pattern or {},
        "arrow_config": None,
        "auto_mapping": {"base_model_class": "ViTForImageClassification",
                         "parent_library": "transformers.models.vit.modeling_vit"},
        "base_model_name_or_path": "vit-tiny",
        "bias": "none",
        "corda_config": None,
        "ensure_weight_tying": False,
        "eva_config": None,
        "exclude_modules": None,
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "kasa_config": None,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": alpha,
        "lora_bias": False,
        "lora_dropout": 0.0,
        "lora_ga_config": None,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": ["classifier"],
        "monteclora_config": None,
        "peft_type": "LORA",
        "peft_version": "0.20.0",
        "qalora_group_size": 16,
        "r": r,
        "rank_pattern": rank_pattern or {},
        "revision": None,
        "target_modules": ["query", "value"],
        "target_parameters": None,
        "task_type": None,
        "trainable_token_indices": None,
        "use_bdlora": None,
        "use_dora": False,
        "use_qalora": False,
        "use_rslora": use_rslora,
        "velora_config": None,
    }


def resolve_lora(c, cfg):
    """Per target module: (r, alpha, scaling), resolved as PEFT's LoraModel._create_and_replace does."""
    out = {}
    for name in linear_names(c):
        if not peft_target_matches(name, cfg["target_modules"]):
            continue
        r = cfg["rank_pattern"].get(get_pattern_key(cfg["rank_pattern"].keys(), name), cfg["r"])
        alpha = cfg["alpha_pattern"].get(get_pattern_key(cfg["alpha_pattern"].keys(), name), cfg["lora_alpha"])
        s = alpha / math.sqrt(r) if cfg["use_rslora"] else alpha / r
        out[name] = (r, alpha, s)
    return out


def gen_lora(dirname, P, pixel_values, labels, base_logits, cfg, seed):
    c = CFG
    H = c["hidden_size"]
    out = os.path.join(HERE, dirname)
    print(f"{dirname}:")
    targets = resolve_lora(c, cfg)
    for name, (r, alpha, s) in targets.items():
        print(f"  {name:<45s} r={r} alpha={alpha} scaling={s:g}")

    g = torch.Generator().manual_seed(seed)
    train = {}  # trainable tensors, named as in the adapter file without "base_model.model."
    for name, (r, _, _) in targets.items():
        train[name + ".lora_A.weight"] = f32(0.2 * torch.randn([r, H], generator=g, dtype=torch.float64))
        train[name + ".lora_B.weight"] = f32(0.2 * torch.randn([H, r], generator=g, dtype=torch.float64))
    # modules_to_save: PEFT trains a copy of the classifier; this copy differs from the base's.
    for k in ("classifier.weight", "classifier.bias"):
        train[k] = f32(P[k] + 0.1 * torch.randn(P[k].shape, generator=g, dtype=torch.float64))

    def fwd(tp, x):
        p = dict(P)
        p["classifier.weight"], p["classifier.bias"] = tp["classifier.weight"], tp["classifier.bias"]
        lora = {n: (tp[n + ".lora_A.weight"], tp[n + ".lora_B.weight"], s) for n, (_, _, s) in targets.items()}
        return vit_forward(p, x, c, lora=lora)

    logits, loss, grads, _ = loss_and_grads(train, pixel_values, labels, fwd)

    # merged: W + s*B@A computed in float64, rounded to float32 as a merged checkpoint stores it
    merged = dict(P)
    merged["classifier.weight"], merged["classifier.bias"] = train["classifier.weight"], train["classifier.bias"]
    exact = dict(merged)
    for n, (_, _, s) in targets.items():
        w = P[n + ".weight"] + s * (train[n + ".lora_B.weight"] @ train[n + ".lora_A.weight"])
        exact[n + ".weight"] = w
        merged[n + ".weight"] = f32(w)
    with torch.no_grad():
        logits_merged = vit_forward(merged, pixel_values, c)

    # independent checks
    x = pixel_values.clone()
    nn_logits, leaf, layers = vit_forward_nn(exact, x, c)
    F.cross_entropy(nn_logits, labels).backward()
    check("logits vs merged nn.TransformerEncoderLayer model", nn_logits, logits, 1e-12)
    g_nn = nn_grads(leaf, layers, c)
    for n, (_, _, s) in targets.items():
        A, Bm, dW = train[n + ".lora_A.weight"], train[n + ".lora_B.weight"], g_nn[n + ".weight"]
        short = n.replace("vit.encoder.", "").replace("attention.attention.", "")
        check(f"{short}.lora_A grad vs s*B^T dW", grads[n + ".lora_A.weight"], s * Bm.t() @ dW, 1e-11)
        check(f"{short}.lora_B grad vs s*dW A^T", grads[n + ".lora_B.weight"], s * dW @ A.t(), 1e-11)
    check("classifier copy grads vs nn model",
          torch.cat([grads["classifier.weight"].flatten(), grads["classifier.bias"]]),
          torch.cat([g_nn["classifier.weight"].flatten(), g_nn["classifier.bias"]]), 1e-11)
    check("logits_merged (f32 merged weights) vs logits", logits_merged, logits, 1e-5)
    zero_b = {k: (torch.zeros_like(v) if ".lora_B." in k else v) for k, v in train.items()}
    zero_b["classifier.weight"], zero_b["classifier.bias"] = P["classifier.weight"], P["classifier.bias"]
    with torch.no_grad():
        check("B = 0 and base classifier gives the base logits", fwd(zero_b, pixel_values), base_logits, 1e-14)
    diff = (logits - base_logits).abs().max().item()
    print(f"  adapter moves the logits by up to {diff:.3f} (must be far from 0)")
    if diff < 0.1:
        sys.exit("adapter barely changes the logits")
    finite_difference_check(dirname, train, pixel_values, labels, fwd, grads, None, seed=seed + 1)

    adapter = {"base_model.model." + k: v.float() for k, v in train.items()}
    write_safetensors(os.path.join(out, "adapter", "adapter_model.safetensors"), adapter)
    write_json(os.path.join(out, "adapter", "adapter_config.json"),
               peft_adapter_config(cfg["r"], cfg["lora_alpha"], cfg["use_rslora"], cfg["rank_pattern"],
                                   cfg["alpha_pattern"]),
               trailing_newline=False)
    exp = {"pixel_values": pixel_values.float(), "labels": labels, "logits": logits.float(), "loss": loss.float(),
           "logits_merged": logits_merged.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  logits[0] {[round(v, 5) for v in logits[0].tolist()]}  loss {loss.item():.6f}")


def lora_cfg(r=4, lora_alpha=8, use_rslora=False, rank_pattern=None, alpha_pattern=None):
    return {"r": r, "lora_alpha": lora_alpha, "use_rslora": use_rslora, "target_modules": ["query", "value"],
            "rank_pattern": rank_pattern or {}, "alpha_pattern": alpha_pattern or {}}


# rank_pattern / alpha_pattern for testdata/lora-rank-pattern. Keys are in sorted
# order (the order adapter_config.json stores them in). What each key tests:
#   "layer.1.attention.attention.value": 2   a dotted suffix; listed before
#                                             "value", so it wins for layer 1
#   "layer\\.0\\.attention\\.attention\\.query": 5  a real regex (escaped dots)
#   "value": 3                                the rest of the value modules
#   alpha "alue": 100                         must match NOTHING: the key has to
#                                             start at a '.' boundary
#   alpha "query": 16                         every query module
RANK_PATTERN = {"layer.1.attention.attention.value": 2, "layer\\.0\\.attention\\.attention\\.query": 5, "value": 3}
ALPHA_PATTERN = {"alue": 100, "query": 16}
EXPECTED_PATTERN_RESOLUTION = {  # (r, alpha) per module, worked out by hand from the rules above
    "vit.encoder.layer.0.attention.attention.query": (5, 16),
    "vit.encoder.layer.0.attention.attention.value": (3, 8),
    "vit.encoder.layer.1.attention.attention.query": (4, 16),
    "vit.encoder.layer.1.attention.attention.value": (2, 8),
}


# --------------------------------------------------------------------------
# 4. testdata/adamw: the real torch.optim.AdamW, float32
# --------------------------------------------------------------------------

ADAMW_RUNS = {
    "expected": {"lr": [1e-2] * 5, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
    # no weight decay, other betas/eps, and the learning rate changed before every step (0 included)
    "schedule": {"lr": [1e-2, 3e-2, 5e-3, 0.0, 2e-3], "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0},
}


def gen_adamw():
    out = os.path.join(HERE, "adamw")
    print("adamw:")
    g = torch.Generator().manual_seed(4)
    param0 = torch.randn(7, generator=g, dtype=torch.float32)
    steps = len(ADAMW_RUNS["expected"]["lr"])
    # mixed magnitudes; the last element's gradient is always 0 (update = weight decay only, denominator = eps)
    scale = torch.tensor([1.0, 0.01, 10.0, 1e-4, 0.5, 3.0, 0.0])
    grads = [torch.randn(7, generator=g, dtype=torch.float32) * scale for _ in range(steps)]
    for run, hp in ADAMW_RUNS.items():
        p = torch.nn.Parameter(param0.clone())
        opt = torch.optim.AdamW([p], lr=hp["lr"][0], betas=tuple(hp["betas"]), eps=hp["eps"],
                                weight_decay=hp["weight_decay"], amsgrad=False)
        t = {"param0": param0.clone()}
        for s in range(1, steps + 1):
            for group in opt.param_groups:
                group["lr"] = hp["lr"][s - 1]
            p.grad = grads[s - 1].clone()
            opt.step()
            st = opt.state[p]
            t[f"grad.{s}"] = grads[s - 1].clone()
            t[f"param.{s}"] = p.detach().clone()
            t[f"exp_avg.{s}"] = st["exp_avg"].clone()
            t[f"exp_avg_sq.{s}"] = st["exp_avg_sq"].clone()
        # independent check: the update rule in float64 from the same inputs
        pd = param0.double()
        m = torch.zeros(7, dtype=torch.float64)
        v = torch.zeros(7, dtype=torch.float64)
        b1, b2 = hp["betas"]
        for s in range(1, steps + 1):
            lr, gr = hp["lr"][s - 1], grads[s - 1].double()
            pd = pd * (1 - lr * hp["weight_decay"])
            m = b1 * m + (1 - b1) * gr
            v = b2 * v + (1 - b2) * gr * gr
            pd = pd - lr / (1 - b1 ** s) * m / (v.sqrt() / math.sqrt(1 - b2 ** s) + hp["eps"])
        check(f"{run}: torch AdamW vs float64 formula", t[f"param.{steps}"], pd, 1e-6)
        meta = {"format": "pt", "lr": json.dumps(hp["lr"]), "betas": json.dumps(hp["betas"]),
                "eps": repr(hp["eps"]), "weight_decay": repr(hp["weight_decay"]), "amsgrad": "false"}
        write_safetensors(os.path.join(out, run + ".safetensors"), t, metadata=meta)
    write_json(os.path.join(out, "config.json"), ADAMW_RUNS, trailing_newline=True)


# --------------------------------------------------------------------------


def readback():
    """Read every file back (safetensors with read_safetensors, bit-for-bit against what was written)."""
    print("read-back:")
    for path in WRITTEN:
        if not path.endswith(".safetensors"):
            json.load(open(path))
            continue
        meta, t = read_safetensors(path)
        if meta is None or meta.get("format") != "pt":
            sys.exit(f"{path}: metadata {meta}")
        if not all(np.isfinite(a).all() for a in t.values() if a.dtype.kind == "f"):
            sys.exit(f"{path}: non-finite values")
        src = WRITTEN_TENSORS[path]
        bad = sorted(set(src) ^ set(t)) + [k for k in src if k in t and not (
            t[k].dtype == src[k].dtype and t[k].shape == src[k].shape and np.array_equal(t[k], src[k]))]
        if bad:
            sys.exit(f"{path}: read-back differs from what was written: {bad[:5]}")
        print(f"  {os.path.relpath(path, HERE):<45s} {len(t):3d} tensors {os.path.getsize(path):7d} bytes")
    # cross-file consistency the Go tests rely on
    _, model = read_safetensors(os.path.join(HERE, "vit-tiny", "model.safetensors"))
    _, exp = read_safetensors(os.path.join(HERE, "vit-tiny", "expected.safetensors"))
    if set("grad." + k for k in model) | {"grad.pixel_values"} != {k for k in exp if k.startswith("grad.")}:
        sys.exit("vit-tiny: grad keys do not match model keys")
    for d in ("lora", "lora-rslora", "lora-rank-pattern"):
        _, ad = read_safetensors(os.path.join(HERE, d, "adapter", "adapter_model.safetensors"))
        _, ex = read_safetensors(os.path.join(HERE, d, "expected.safetensors"))
        want = {"grad." + k[len("base_model.model."):] for k in ad}
        if want != {k for k in ex if k.startswith("grad.")}:
            sys.exit(f"{d}: grad keys do not match adapter keys")
        if np.array_equal(ad["base_model.model.classifier.weight"], model["classifier.weight"]):
            sys.exit(f"{d}: classifier copy equals the base classifier")
        if ex["loss"].shape != () or ex["labels"].dtype != np.int64:
            sys.exit(f"{d}: loss must be a scalar and labels int64")


def main():
    for d in ("vit-tiny", "lora", "lora-rslora", "lora-rank-pattern", "adamw"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
    P = init_vit(CFG, seed=1)
    pixel_values, labels = make_inputs(CFG, seed=2)
    base_logits = gen_vit_tiny(P, pixel_values, labels)

    gen_lora("lora", P, pixel_values, labels, base_logits, lora_cfg(), seed=100)
    gen_lora("lora-rslora", P, pixel_values, labels, base_logits, lora_cfg(use_rslora=True), seed=200)
    rp = lora_cfg(rank_pattern=RANK_PATTERN, alpha_pattern=ALPHA_PATTERN)
    got = {n: (r, a) for n, (r, a, _) in resolve_lora(CFG, rp).items()}
    if got != EXPECTED_PATTERN_RESOLUTION:
        sys.exit(f"rank/alpha pattern resolution {got} != {EXPECTED_PATTERN_RESOLUTION}")
    if list(RANK_PATTERN) != sorted(RANK_PATTERN) or list(ALPHA_PATTERN) != sorted(ALPHA_PATTERN):
        sys.exit("pattern dicts must be in sorted (saved) order")
    gen_lora("lora-rank-pattern", P, pixel_values, labels, base_logits, rp, seed=300)

    gen_adamw()
    readback()

    total = 0
    h = hashlib.sha256()
    for path in sorted(WRITTEN):
        total += os.path.getsize(path)
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, HERE).encode() + b"\0" + f.read())
    print(f"{len(WRITTEN)} files, {total} bytes, sha256 of all: {h.hexdigest()}")


if __name__ == "__main__":
    main()
